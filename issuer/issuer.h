/*
 * issuer: the CA side of certgate (the cgissuer library; main.c is the
 * certgate-issuer daemon around it, and the certgate command uses it too).
 *
 *   cg_ca_*         CA material: the issuing CA certificate, chain and key (a
 *                   PEM file readable by its owner alone, or a PKCS#11 token),
 *                   the gateway's mail-signing certificate and key; CA set-up
 *   cg_cert_build() the to-be-signed certificate of a profile, built from
 *                   validated data only (never copied from the CSR)
 *   cg_cert_lint()  the TBS certificate checked against the profile, rule by
 *                   rule (S/MIME BR 7.1, STANDARDS.md); any finding stops signing
 *   cg_ca_issue()   build, lint, sign
 *   cg_crl_*()      the CRL, written atomically
 *   cg_caa_check()  RFC 9495 issuemail, climbing from the mailbox's domain
 *   cg_outmail_*()  outbound mail: composed with GMime, S/MIME-signed by the
 *                   gateway certificate, submitted with the Sendmail argv
 *   cg_issuer_*()   the job queue consumer: one transaction per job
 *
 * Never: reads mail from outside; trusts a request it did not re-check.
 */
#ifndef CG_ISSUER_H
#define CG_ISSUER_H

#include "conf.h"
#include "policy.h"
#include "store.h"

#include <glib.h>
#include <openssl/x509.h>

G_BEGIN_DECLS

/* ---- CA material ---- */

typedef struct CgCa CgCa;

/* Loads CACertificate, CAChain, CAKey, GatewayCertificate and GatewayKey. A
 * key file must be a regular file owned by the caller and not readable by
 * group or others (checked on the opened descriptor). */
CgCa *cg_ca_load(const CgConf *conf, GError **error);
void cg_ca_free(CgCa *ca);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgCa, cg_ca_free)

X509 *cg_ca_cert(CgCa *ca);             /* borrowed */
STACK_OF(X509) * cg_ca_chain(CgCa *ca); /* issuing CA first, then the root; borrowed */
X509 *cg_ca_gateway_cert(CgCa *ca);     /* borrowed */
/* The gateway's encryption certificate (borrowed), NULL when the file is
 * absent (mail then goes out without one). */
X509 *cg_ca_gateway_enc_cert(CgCa *ca);
EVP_PKEY *cg_ca_gateway_key(CgCa *ca);  /* borrowed */
const char *cg_ca_key_location(CgCa *ca);
/* SHA-256 of the SPKI of every key certgate holds (issuing, root, gateway). */
const guint8 (*cg_ca_own_keys(CgCa *ca, gsize *n))[32];
/* Signs data-structure helpers use: borrowed. */
EVP_PKEY *cg_ca_key(CgCa *ca);
/* Signs x with the CA's key, as cg_sign_cert does. */
gboolean cg_ca_sign(CgCa *ca, X509 *x, GError **error);

typedef struct {
	gboolean root_rsa;       /* root CA key RSA 4096 instead of P-384 */
	int issuing_rsa_bits;    /* 0: EC (issuing_curve); 4096: RSA */
	const char *issuing_curve; /* "P-256" (NULL: the default) or "P-384" */
	gboolean pkcs11;         /* issuing key on the PKCS#11 token of CAKey */
	const char *org;         /* the CA's organisation name */
	const char *country;     /* optional ISO 3166 code */
	gboolean force;          /* overwrite existing files */
	const char *issuer_user; /* owner of the issuing and gateway keys */
	gint64 now;
} CgCaInit;

/* Creates the root CA, the issuing CA, the gateway's signing and encryption
 * certificates, writes them and their keys (0600), the chain, and the root
 * CRL. Prints what it did to out. */
gboolean cg_ca_init(const CgConf *conf, const CgCaInit *opts, GString *out, GError **error);
/* The root CRL's path: root-ca.crl beside CrlPath, where ca init wrote it. */
char *cg_ca_root_crl_path(const CgConf *conf);
/* The CA's public files (the issuing CA's certificate, the chain, the
 * gateway's two certificates, the root CRL), noted in the database by the
 * verb that wrote them (action, "ca renew-issuing") with their SHA-256, the
 * time and this host (meta "cafile:NAME"), so that each host of a
 * replicated CA can tell whether its copies are the current ones. A file
 * not here is not noted; if_absent notes only the files that have no note
 * yet (a database from before the notes). cafiles.c */
gboolean cg_ca_files_note(CgTxn *txn, const CgConf *conf, const char *action, gboolean if_absent,
                          gint64 now, GError **error);
/* A warning in warnings for each noted file this host does not hold as
 * noted (differs, or cannot be read). FALSE and error only when the
 * database cannot be read. */
gboolean cg_ca_files_check(CgStore *s, const CgConf *conf, GPtrArray *warnings, GError **error);
/* The root CRL's nextUpdate: 0 when there is no such file, -1 when it
 * cannot be read. */
gint64 cg_ca_root_crl_next(const CgConf *conf);
/* The root CRL made again with the root's key (the file root_key; it must
 * be the key of CAChain's last certificate), good for 365 days: its
 * entries kept, its CRL number the next. Prints what it did to out. */
gboolean cg_ca_root_crl(const CgConf *conf, const char *root_key, gint64 now, GString *out,
                        GError **error);
/* The issuing CA's certificate made again by the root (root_key as above)
 * for the same key, subject and extensions, valid for days from now (to
 * the root's end at the most); CACertificate and CAChain rewritten, those
 * before kept as PATH.previous. Prints what it did to out. */
gboolean cg_ca_renew_issuing(const CgConf *conf, const char *root_key, guint days, gint64 now,
                             GString *out, GError **error);
/* A new gateway encryption certificate and key; the current pair is kept as
 * PATH.previous (the milter decrypts with it for GatewayEncryptionOverlap).
 * Prints what it did to out. */
gboolean cg_ca_gateway_rekey(const CgConf *conf, CgCa *ca, gint64 now, GString *out,
                             GError **error);
/* A new mail-signing key and certificate for SenderAddress (the issuer
 * signs its mail with it and presents it to the perspectives), 730 days;
 * the current pair kept as PATH.previous. Prints what it did to out. */
gboolean cg_ca_gateway_renew(const CgConf *conf, CgCa *ca, gint64 now, GString *out,
                             GError **error);

/* ---- profiles ---- */

/* CgProfile and the subject naming are policy's (policy.h). */

/* What a certificate is signed for. verify.c's request_copy copies every
 * pointer in it for the verification threads: a new one must go there. */
typedef struct {
	CgProfile profile;
	gboolean multipurpose; /* CertificateProfile multipurpose */
	const char *mailbox;
	const char *const *more_mailboxes; /* more validated mailboxes for the SAN
	                                    * (the gateway's encryption certificate) */
	gboolean encipher_only; /* keyUsage keyEncipherment alone (an RSA key that
	                         * only receives encrypted mail) */
	const char *org_name;
	const char *org_identifier;
	const char *country;
	const char *state; /* NULL or "" when absent */
	const char *locality;
	const char *given_name; /* sponsor only */
	const char *surname;
	gboolean field_email;    /* subject emailAddress */
	gboolean field_locality; /* subject L */
	gboolean field_state;    /* subject ST */
	guint validity_days;
	guint max_validity_days;
	gint64 not_before;
	const char *crl_url;
	const char *ca_issuers_url;
	X509 *ca_cert;             /* the issuer */
	EVP_PKEY *subject_key;
	X509_PUBKEY *subject_spki; /* the key as the CSR encodes it (borrowed), or NULL */
	guint8 serial[16]; /* filled by cg_cert_build when all zero */
} CgCertRequest;

/* The certificate's notAfter: validity_days from not_before, or the issuing
 * CA certificate's own notAfter when that comes first (a certificate never
 * outlives its issuer). */
gint64 cg_cert_request_end(const CgCertRequest *r);
/* FALSE, with CG_ERROR_INTERNAL saying when, when the issuing CA's
 * certificate has ended by r's not_before: nothing is issued under it. */
gboolean cg_cert_request_ca_current(const CgCertRequest *r, GError **error);
/* The to-be-signed certificate. CG_ERROR_NOT_AUTHORISED when the request
 * itself breaks the profile (e.g. validity above 825 days); CG_ERROR_INTERNAL
 * when the issuing CA's certificate has ended. */
X509 *cg_cert_build(CgCertRequest *r, GError **error);
/* from's SubjectPublicKeyInfo set in to as it is encoded (algorithm,
 * parameters, key bytes copied; the key not decoded). FALSE when it
 * cannot be. */
gboolean cg_spki_copy_into(X509_PUBKEY *to, X509_PUBKEY *from);
/* Every finding is appended to findings (one line each); TRUE when none. */
gboolean cg_cert_lint(X509 *tbs, const CgCertRequest *r, GPtrArray *findings);
/* The signed certificate, as issued: its DER read back and linted again
 * (cg_cert_lint), its signature algorithm one the S/MIME BR (7.1.3.2) allow
 * for the CA key (ECDSA with SHA-256 for P-256, SHA-384 for P-384, no
 * parameters; RSA PKCS#1 v1.5 with SHA-256/384/512 and NULL parameters, or
 * RSASSA-PSS), the same in the certificate and its TBS part, and the
 * signature verifying under the CA key. TRUE when no finding. */
gboolean cg_cert_lint_signed(GBytes *der, const CgCertRequest *r, GPtrArray *findings);
/* The lint's findings as one line: "WHAT: finding; finding" (findings is
 * NULL-terminated on the way). */
char *cg_lint_refusal(const char *what, GPtrArray *findings);
/* Signatures verified and signed certificates linted on other threads
 * while a batch of jobs goes on (verify.c): NULL for none (threads 0), when
 * each check is made in line. */
typedef struct CgVerifier CgVerifier;
CgVerifier *cg_verifier_new(guint threads);
void cg_verifier_free(CgVerifier *v);
/* Each takes its own reference to der (and a copy of r); what names it. A
 * CSR is parsed and verified in full (cg_csr_parse), its verdict taken by
 * cg_verifier_csr_take; a signed certificate passes cg_cert_lint_signed
 * against r, or fails the next cg_verifier_wait. */
void cg_verifier_csr(CgVerifier *v, GBytes *der, const char *what);
void cg_verifier_cert(CgVerifier *v, GBytes *der, const CgCertRequest *r, const char *what);
/* The verdict on the CSR handed over as what, waited for: TRUE when there
 * is one for these very bytes (der), with *csr the CSR as cg_csr_parse read
 * it when it parsed and verified, else *why what cg_csr_parse said (the
 * caller frees either); FALSE when there is none (the caller verifies in
 * line). */
gboolean cg_verifier_csr_take(CgVerifier *v, const char *what, GBytes *der, CgCsr **csr,
                              char **why);
/* A certificate signed beside the batch (cg_ca_issue_later): its DER once
 * signed and linted (NULL before, or when it failed). */
typedef struct CgSigned CgSigned;
GBytes *cg_signed_der(CgSigned *s);
void cg_signed_unref(CgSigned *s);
/* The certificate for r (a copy of it taken, its serial chosen) made
 * (cg_ca_make) and passed by cg_cert_lint_signed; or the next
 * cg_verifier_wait fails. */
CgSigned *cg_verifier_sign(CgVerifier *v, CgCa *ca, const CgCertRequest *r, const char *what);
/* How many tasks are queued, not yet taken by a thread. */
guint cg_verifier_queued(CgVerifier *v);
/* Runs a task still queued on the caller's thread: FALSE when none was. */
gboolean cg_verifier_run_one(CgVerifier *v);
/* Waits for every check handed over since the last wait: TRUE when
 * every certificate passed, else FALSE with the first failure in *failure
 * (if given). Verdicts on CSRs not taken are dropped. */
gboolean cg_verifier_wait(CgVerifier *v, char **failure);
/* Build, lint, sign with the issuing CA key, lint the result: the
 * certificate's DER. With `later`, the result's lint (with its signature's
 * verification) is handed to it (the caller waits for it before the
 * certificate counts); without, it is made here. */
GBytes *cg_ca_issue(CgCa *ca, CgCertRequest *r, CgVerifier *later, GError **error);
/* The certificate for r built, passed by the pre-issuance lint
 * (cg_cert_lint), signed with ca's key: its DER, not yet linted as signed.
 * Its serial is drawn unless r has one. */
GBytes *cg_ca_make(CgCa *ca, CgCertRequest *r, GError **error);
/* Whether ca's key can sign beside the batch: a key in memory (one on a
 * token signs in line, through its engine). */
gboolean cg_ca_signs_beside(const CgCa *ca);
/* cg_ca_issue handed to `later` whole, r's serial chosen here: the caller
 * waits for it (cg_verifier_wait) before it takes the DER (cg_signed_der).
 * NULL only when no serial could be drawn. */
CgSigned *cg_ca_issue_later(CgCa *ca, CgCertRequest *r, CgVerifier *later, GError **error);
/* Signs any certificate or CRL with the given key and its proper digest. */
gboolean cg_sign_cert(X509 *x, EVP_PKEY *key, GError **error);

/* ---- CRL ---- */

/* Writes a CRL of every revoked, unexpired certificate to CrlPath (via a
 * temporary file and rename); *number is its CRL number. */
gboolean cg_crl_write(CgCa *ca, CgStore *store, const CgConf *conf, gint64 now, guint64 *number,
                      GError **error);
/* ---- CAA (RFC 9495) ---- */

/* dns.c: DNS lookups the issuer decides on, DNSSEC-validated. */
typedef enum {
	CG_DNSSEC_OFF = 0,  /* DnssecTrustAnchor none: not validated */
	CG_DNSSEC_SECURE,   /* validated from the trust anchor */
	CG_DNSSEC_INSECURE, /* proven unsigned */
} CgDnssec;
const char *cg_dnssec_name(CgDnssec s);
/* The rdata (GBytes) of the type records at name, empty for NXDOMAIN or no
 * data, with the answer's DNSSEC status in *sec. NULL with
 * CG_ERROR_DNS_TEMP when no answer came (wait and try again), or with
 * CG_ERROR_NOT_AUTHORISED when the answer is bogus (never rely on it). */
GPtrArray *cg_dns_lookup(const CgConf *conf, const char *name, int type, CgDnssec *sec,
                         GError **error);
/* TRUE when no issuemail property forbids issuing for domain, with *found
 * (when not NULL; caller frees) saying what permitted it, for the log and the
 * audit: "CAA at NAME permits this CA" or "no CAA record at DOMAIN or a
 * parent"; CG_ERROR_DNS_TEMP on a temporary DNS failure,
 * CG_ERROR_NOT_AUTHORISED when CAA forbids. */
gboolean cg_caa_check(const CgConf *conf, const char *domain, char **found, GError **error);

/* ---- outbound mail ---- */

/* An attachment written as the mail is composed, for one too big to hold:
 * the function writes its bytes through cg_b64_out_write() (base64 in
 * 76-character lines), and may be called once for each recipient. */
typedef struct CgB64Out CgB64Out;
typedef gboolean (*CgOutStream)(CgB64Out *out, gpointer data, GError **error);
void cg_b64_out_write(CgB64Out *out, const void *data, gsize len);

typedef struct {
	char *filename;
	char *content_type;
	GBytes *data;       /* the bytes, or NULL for: */
	CgOutStream stream; /* ... bytes written when the mail is composed */
	gpointer stream_data;
} CgOutPart;

typedef struct {
	const char *to;
	const char *subject;
	const char *text;         /* UTF-8 body */
	GPtrArray *parts;         /* CgOutPart*, attachments; may be NULL */
	const char *in_reply_to;  /* optional */
	const char *reply_to;     /* optional */
	const char *extra_header; /* optional "Name: value" */
	char *message_id;         /* set by compose */
} CgOutMail;

void cg_out_part_free(gpointer part);
CgOutPart *cg_out_part_new(const char *filename, const char *type, GBytes *data);
CgOutPart *cg_out_part_new_stream(const char *filename, const char *type, CgOutStream stream,
                                  gpointer stream_data);

/* The whole message, S/MIME-signed (multipart/signed, SHA-256) by the
 * gateway certificate, with Auto-Submitted: auto-generated; composed in a
 * file (unlinked, in TMPDIR), never whole in memory. Returns the file's
 * descriptor at offset 0 (the caller closes it), or -1. */
int cg_outmail_compose(CgCa *ca, const CgConf *conf, CgOutMail *m, gint64 now, GError **error);

typedef enum {
	CG_SEND_OK = 0,
	CG_SEND_TEMPORARY, /* retry later (exit 75, or no MTA) */
	CG_SEND_PERMANENT,
} CgSendResult;

/* Runs Sendmail argv + "-i -f BounceAddress -- rcpt" with the message file
 * msgfd (from its start) on stdin. */
CgSendResult cg_outmail_submit(const CgConf *conf, const char *rcpt, int msgfd, GError **error);
/* The same through an SMTP server (SmtpSubmit; submit.c). */
CgSendResult cg_smtp_submit(const CgConf *conf, const char *rcpt, int msgfd, GError **error);

/* ---- the queue consumer ---- */

typedef struct CgIssuer CgIssuer;

CgIssuer *cg_issuer_new(const CgConf *conf, CgStore *store, CgCa *ca);
void cg_issuer_free(CgIssuer *iss);
/* Takes and runs the jobs queued, waiting up to wait_ms for the first: up
 * to 64 of them (or 50 ms of work) in one transaction, each job's effects
 * in a child of it; *idle when none came. Returns FALSE only when the store
 * failed in a way the caller should stop for. */
gboolean cg_issuer_step(CgIssuer *iss, guint wait_ms, gboolean *idle, GError **error);
/* Replicated: FALSE (after waiting up to wait_ms, idle set) while this site
 * is a client, or while its last commit waits for the replicas'
 * acknowledgement; the master's beat every few seconds. TRUE alone. */
gboolean cg_issuer_may_work(CgIssuer *iss, guint wait_ms, gboolean *idle);
/* Timed work: deferred jobs due, the periodic CRL. */
void cg_issuer_tick(CgIssuer *iss, gint64 now);
void cg_issuer_set_conf(CgIssuer *iss, const CgConf *conf);

/* Queues an issue request made by the operator (certgate cert issue); the
 * same checks as mail intake. Returns the request id. */
typedef struct {
	const char *org_id;
	const char *mailbox;
	GBytes *csr;
	CgProfile profile;
	const char *given_name;
	const char *surname;
	guint validity_days;
	const char *fields; /* "E,L,ST" subset, may be NULL */
	const char *actor;
} CgOperatorIssue;

char *cg_issuer_queue_operator(CgStore *store, const CgConf *conf, const CgOperatorIssue *op,
                               gint64 now, GError **error);

/* ---- the operator's view (stats.c) ---- */

typedef struct {
	char *reason; /* its particulars made placeholders */
	guint n;
} CgReasonCount;

typedef struct {
	gint64 now;
	guint orgs_active, orgs_pending, orgs_other;
	GPtrArray *pending_orgs; /* "ID NAME (IDENTIFIER)", at most 20 */
	guint requests_held;
	guint certs_valid, certs_expired, certs_revoked;
	guint certs_expiring; /* valid, not renewed, within 30 days */
	guint domains_validated, domains_pending, domains_lapsed, domains_expiring;
	/* validated (not lapsed) by the e-mail method (TLS BR 3.2.2.4.4), by
	 * operator attestation */
	guint domains_email, domains_operator;
	GPtrArray *orgs_ending; /* active organisations whose validation ends
	                         * within OrgRenewal, or ended (char*) */
	gint64 org_reuse, org_renewal;
	GPtrArray *expiring_domains; /* "DOMAIN (organisation ID, DATE)", at most 20 */
	guint64 jobs_queued, jobs_deferred;
	/* the last 24 hours, from the audit log */
	guint issued, refused, revoked, reminded, renewals;
	GHashTable *reasons;    /* refusal class -> count */
	GPtrArray *top_reasons; /* CgReasonCount*, the five commonest */
	/* the CA itself */
	gint64 ca_not_after;  /* 0 when its certificate cannot be read */
	gint64 root_crl_next; /* the root CRL's nextUpdate; 0 when there is none */
	gint64 gw_not_after;  /* the gateway's signing certificate's end; 0: unread */
	gint64 enc_not_after; /* its encryption certificate's; 0: none */
	gint64 crl_age;       /* seconds, -1 when there is no CRL */
	guint64 disk_free;    /* bytes under DbHome */
	GPtrArray *warnings;  /* one line each */
} CgStats;

/* Every figure, from committed state. */
CgStats *cg_stats_gather(const CgConf *conf, CgStore *store, gint64 now, GError **error);
void cg_stats_free(CgStats *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgStats, cg_stats_free)
/* For people (the digest's body, `certgate stats`), JSON, and the
 * Prometheus text format (node_exporter's textfile collector). Caller frees. */
char *cg_stats_text(const CgStats *s, const char *gateway_domain);
char *cg_stats_json(const CgStats *s);
char *cg_stats_prometheus(const CgStats *s);

G_END_DECLS

#endif
