/*
 * keys.c: the configuration keys: name, type, default (where "%d" stands for
 * GatewayDomain), whether required, the CgConf member, the range. The
 * meaning of each is in certgate.conf(5).
 */
#include "conf-int.h"

#include <stddef.h>

#define F(m) offsetof(CgConf, m)

const Key cg_conf_keys[] = {
    {"Socket", T_SOCKET, "unix:/run/certgate/milter.sock", FALSE, F(socket), 0, 0, NULL},
    {"SocketMode", T_MODE, "0660", FALSE, F(socket_mode), 0, 0777, NULL},
    {"SocketGroup", T_STRING, "", FALSE, F(socket_group), 0, 0, NULL},
    {"AllowInetSocket", T_BOOL, "no", FALSE, F(allow_inet_socket), 0, 0, NULL},
    {"UserID", T_STRING, "certgate", FALSE, F(user_id), 0, 0, NULL},
    {"PidFile", T_PATH, "/run/certgate/certgate-milter.pid", FALSE, F(pid_file), 0, 0, NULL},
    {"MaxMessageSize", T_SIZE, "10M", FALSE, F(max_message_size), 1024, (gint64)1 << 30, NULL},
    {"AfterAccept", T_ENUM, "discard", FALSE, F(after_accept), 0, 0, "discard|deliver"},
    {"TempDir", T_PATH, "/var/lib/certgate/tmp", FALSE, F(temp_dir), 0, 0, NULL},
    {"IssuerUserID", T_STRING, "certgate-ca", FALSE, F(issuer_user_id), 0, 0, NULL},
    {"IssuerPidFile", T_PATH, "/run/certgate/certgate-issuer.pid", FALSE, F(issuer_pid_file), 0, 0,
     NULL},
    {"Sendmail", T_LIST, "/usr/sbin/sendmail", FALSE, F(sendmail), 1, 16, NULL},
    {"SmtpSubmit", T_SOCKET, NULL, FALSE, F(smtp_submit), 0, 0, NULL},
    {"DbHome", T_PATH, "/var/lib/certgate/db", FALSE, F(db_home), 0, 0, NULL},
    {"ReplicationLocal", T_STRING, "", FALSE, F(repl_local), 0, 0, NULL},
    {"ReplicationPeer", T_LIST, NULL, FALSE, F(repl_peers), 1, 8, "repeatable"},
    {"ReplicationPriority", T_INT, "100", FALSE, F(repl_priority), 0, 1000, NULL},
    {"ReplicationAck", T_ENUM, "quorum", FALSE, F(repl_ack), 0, 0, "all|quorum|one|none"},
    {"ReplicationAckTimeout", T_DURATION, "2s", FALSE, F(repl_ack_timeout), 1, 60, NULL},
    {"ReplicationCreateGroup", T_BOOL, "no", FALSE, F(repl_create_group), 0, 0, NULL},
    {"EvidenceDir", T_PATH, "/var/lib/certgate/evidence", FALSE, F(evidence_dir), 0, 0, NULL},
    {"GatewayDomain", T_DOMAIN, NULL, TRUE, F(gateway_domain), 0, 0, NULL},
    {"LetterAddress", T_ADDRESS, "request@%d", FALSE, F(letter_address), 0, 0, NULL},
    {"EnrollAddress", T_ADDRESS, "enroll@%d", FALSE, F(enroll_address), 0, 0, NULL},
    {"ChallengeAddress", T_ADDRESS, "challenge@%d", FALSE, F(challenge_address), 0, 0, NULL},
    {"RevokeAddress", T_ADDRESS, "revoke@%d", FALSE, F(revoke_address), 0, 0, NULL},
    {"SenderAddress", T_ADDRESS, "certgate@%d", FALSE, F(sender_address), 0, 0, NULL},
    {"BounceAddress", T_ADDRESS, "bounces@%d", FALSE, F(bounce_address), 0, 0, NULL},
    /* SBR/TLS BR limits: postmaster-style challenges at most 30 days,
     * mailbox-control random values at most 24 hours, domain reuse 398 days. */
    {"ChallengeLifetime", T_DURATION, "24h", FALSE, F(challenge_lifetime), MIN_, 30 * D_, NULL},
    {"InviteLifetime", T_DURATION, "24h", FALSE, F(invite_lifetime), MIN_, 24 * H_, NULL},
    {"DomainReuse", T_DURATION, "398d", FALSE, F(domain_reuse), H_, 398 * D_, NULL},
    {"DomainRenewal", T_DURATION, "30d", FALSE, F(domain_renewal), 0, 397 * D_, NULL},
    /* SBR 3.2.3 / 4.2.1: an organisation's validation is reused for 825
     * days at most; its contact is asked to confirm OrgRenewal before. */
    {"OrgReuse", T_DURATION, "825d", FALSE, F(org_reuse), D_, 825 * D_, NULL},
    {"OrgRenewal", T_DURATION, "60d", FALSE, F(org_renewal), 0, 824 * D_, NULL},
    /* A signed mail (letter, enrolment, revocation) is taken this long
     * after its signingTime. */
    {"SignedMailMaxAge", T_DURATION, "7d", FALSE, F(signed_mail_max_age), H_, 30 * D_, NULL},
    /* private: the CA's own trust; public: the rules for publicly trusted
     * certificates enforced (certgate.conf(5), VALIDATION). */
    {"TrustModel", T_ENUM, "private", FALSE, F(trust_model), 0, 0, "private|public"},
    /* How a new domain is challenged: its postmaster (TLS BR 3.2.2.4.4) or
     * a DNS change (3.2.2.4.7). */
    {"DomainMethod", T_ENUM, "postmaster", FALSE, F(domain_method), 0, 0, "postmaster|dns"},
    {"ChallengeAlignment", T_ENUM, "strict", FALSE, F(challenge_alignment), 0, 0, "strict|relaxed"},
    {"ReplyAuth", T_ENUM, "dmarc", FALSE, F(reply_auth), 0, 0, "dmarc|spf|dkim"},
    {"EnrollAuth", T_ENUM, "signed-or-confirm", FALSE, F(enroll_auth), 0, 0,
     "signed-or-confirm|signed|confirm"},
    {"LetterTrustAnchors", T_PATH, "/etc/certgate/letter-anchors.pem", FALSE,
     F(letter_trust_anchors), 0, 0, NULL},
    {"AdminTrustAnchors", T_PATH, "/etc/certgate/admin-anchors.pem", FALSE, F(admin_trust_anchors),
     0, 0, NULL},
    /* DNSSEC validation of CAA lookups (S/MIME BR 4.2.2.1.1): a file of DS
     * or DNSKEY records, or none. */
    {"DnssecTrustAnchor", T_STRING, "/usr/share/dns/root.key", FALSE, F(dnssec_trust_anchor), 0, 0,
     NULL},
    /* Multi-perspective corroboration (S/MIME BR 4.2.2.2): remote
     * certgate-perspective daemons; how many must agree (0: all but one);
     * the CA their certificates come from. */
    {"Perspective", T_LIST, NULL, FALSE, F(perspectives), 1, 16, "repeatable"},
    {"PerspectiveQuorum", T_INT, "0", FALSE, F(perspective_quorum), 0, 16, NULL},
    {"PerspectiveCA", T_PATH, "/etc/certgate/perspective-ca.pem", FALSE, F(perspective_ca), 0, 0,
     NULL},
    {"CaaIdentities", T_LIST, "%d", FALSE, F(caa_identities), 1, 16, NULL},
    {"MaxBulkRows", T_INT, "10000", FALSE, F(max_bulk_rows), 1, 100000, NULL},
    {"CACertificate", T_PATH, "/etc/certgate/ca/issuing-ca.pem", FALSE, F(ca_certificate), 0, 0,
     NULL},
    {"CAChain", T_PATH, "/etc/certgate/ca/chain.pem", FALSE, F(ca_chain), 0, 0, NULL},
    {"CAKey", T_KEYREF, "/etc/certgate/ca/issuing-ca.key", FALSE, F(ca_key), 0, 0, NULL},
    {"PKCS11Module", T_PATH, "", FALSE, F(pkcs11_module), 0, 0, NULL},
    {"PKCS11PinFile", T_PATH, "", FALSE, F(pkcs11_pin_file), 0, 0, NULL},
    {"GatewayCertificate", T_PATH, "/etc/certgate/ca/gateway.pem", FALSE, F(gateway_certificate), 0,
     0, NULL},
    {"GatewayKey", T_PATH, "/etc/certgate/ca/gateway.key", FALSE, F(gateway_key), 0, 0, NULL},
    /* Mail encrypted to the gateway: a certificate apart from the signing
     * one; its key readable by the milter's user alone. The one it replaced
     * (PATH.previous) still decrypts for the overlap. */
    {"GatewayEncryptionCertificate", T_PATH, "/etc/certgate/ca/gateway-enc.pem", FALSE,
     F(gateway_enc_certificate), 0, 0, NULL},
    {"GatewayEncryptionKey", T_PATH, "/etc/certgate/ca/gateway-enc.key", FALSE, F(gateway_enc_key),
     0, 0, NULL},
    {"GatewayEncryptionOverlap", T_DURATION, "90d", FALSE, F(gateway_enc_overlap), 0, 825 * D_,
     NULL},
    {"CertificateProfile", T_ENUM, "strict", FALSE, F(certificate_profile), 0, 0,
     "strict|multipurpose"},
    {"DefaultValidity", T_INT, "730", FALSE, F(default_validity), 1, 825, NULL},
    {"MaxValidity", T_INT, "825", FALSE, F(max_validity), 1, 825, NULL},
    {"DeliverToSubject", T_BOOL, "no", FALSE, F(deliver_to_subject), 0, 0, NULL},
    {"CrlPath", T_PATH, "/var/lib/certgate/crl/issuing-ca.crl", FALSE, F(crl_path), 0, 0, NULL},
    {"CrlUrl", T_URL, "http://%d/crl/issuing-ca.crl", FALSE, F(crl_url), 0, 0, NULL},
    {"CaIssuersUrl", T_URL, "http://%d/ca/issuing-ca.cer", FALSE, F(ca_issuers_url), 0, 0, NULL},
    /* SBR 4.9.7: a CRL at least every 7 days, nextUpdate at most 10 days on. */
    {"CrlInterval", T_DURATION, "1d", FALSE, F(crl_interval), MIN_, 7 * D_, NULL},
    {"CrlNextUpdate", T_DURATION, "7d", FALSE, F(crl_next_update), H_, 10 * D_, NULL},
    /* Expiry reminders to the enrolling admin (and the subject with
     * DeliverToSubject), each stage once; the operator's daily digest. */
    {"ExpiryReminders", T_LIST, "45d,30d,15d,1d", FALSE, F(expiry_reminders), 1, 8, NULL},
    {"OperatorAddress", T_STRING, "", FALSE, F(operator_address), 0, 0, NULL},
    {"DigestTime", T_STRING, "06:00", FALSE, F(digest_time), 0, 0, NULL},
    {"DiskSpaceWarning", T_SIZE, "1G", FALSE, F(disk_space_warning), 0, (gint64)1 << 50, NULL},
    {"LogFacility", T_ENUM, "mail", FALSE, F(log_facility), 0, 0,
     "mail|daemon|user|local0|local1|local2|local3|local4|local5|local6|local7"},
    {"LogLevel", T_ENUM, "info", FALSE, F(log_level), 0, 0, "err|warning|notice|info|debug"},
};

const gsize cg_conf_n_keys = G_N_ELEMENTS(cg_conf_keys);
G_STATIC_ASSERT(G_N_ELEMENTS(cg_conf_keys) <= sizeof(((CgConf *)0)->set));
G_STATIC_ASSERT(G_N_ELEMENTS(cg_conf_keys) <= CG_CONF_MAX_KEYS);
