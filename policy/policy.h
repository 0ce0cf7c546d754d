/*
 * policy: pure decisions. Facts in (plain values and structs defined here),
 * verdict out. No I/O, no clock (the time is always an argument).
 *
 *   cg_policy_country_valid()        ISO 3166-1 alpha-2
 *   cg_policy_org_identifier()       organizationIdentifier syntax (S/MIME BR
 *                                    7.1.4.2.2 d, appendix A)
 *   cg_policy_identifier_country()   the country an identifier names
 *   cg_policy_postmaster_local()     the five TLS BR 3.2.2.4.4 local parts
 *   cg_csr_parse()                   a PKCS#10 request (PEM or DER), its
 *                                    self-signature checked (proof of possession)
 *   cg_policy_check_key()            subscriber key policy (S/MIME BR 6.1.5,
 *                                    6.1.1.3): types and sizes, small factors,
 *                                    ROCA, CA keys, compromised and reused keys
 *   cg_spki_sha256()                 SHA-256 of a key's SubjectPublicKeyInfo
 *   cg_token_from_subject/_text()    the token of a challenge reply
 *   cg_policy_reply_check()          may this reply answer that challenge
 *   cg_policy_reply_auth()           does it pass ReplyAuth (SPF/DKIM/DMARC)
 *   cg_letter_parse()                the Key: value grammar of request letters
 *   cg_policy_signed_age()           is a signed mail fresh (SignedMailMaxAge)
 *   cg_policy_domain_usable()        may an organisation certify mailboxes at a domain
 *   cg_policy_renewal()              may an answer to an expiry reminder renew
 *   cg_policy_enroll_auth()          EnrollAuth: proceed, hold or refuse enrolment mail
 *   cg_policy_sponsor()              the sponsor profile's names and country
 *   cg_policy_issue()                the issuer's re-checks before it signs
 *   cg_policy_caa_decide()           CAA issuemail on the relevant RRset
 *   cg_policy_subject()              a certificate's subject, attribute by attribute
 *
 * Never: touches the network, the disk, the store or the clock.
 */
#ifndef CG_POLICY_H
#define CG_POLICY_H

#include <glib.h>

G_BEGIN_DECLS

/* TRUE for an assigned ISO 3166-1 alpha-2 code (upper case). */
gboolean cg_policy_country_valid(const char *cc);

/* Checks "SSSCC[+SUB]-REFERENCE": scheme NTR, VAT, PSD, LEI, GOV or INT;
 * CC an ISO 3166-1 code (XG for LEI and INT; VAT also allows EL and XI);
 * SUB an ISO 3166-2 subdivision suffix (1-3 alphanumerics, NTR and GOV only);
 * REFERENCE 1-64 of [A-Za-z0-9./:-] (LEI: 20 alphanumerics).
 * CG_ERROR_MALFORMED naming the part that is wrong. */
gboolean cg_policy_org_identifier(const char *id, GError **error);

/* The ISO 3166-1 country the identifier stands for ("GR" for a VAT "EL",
 * "GB" for "XI"), or NULL for XG (global schemes). Caller frees. */
char *cg_policy_identifier_country(const char *id);

/* admin, administrator, webmaster, hostmaster, postmaster (case-insensitive). */
gboolean cg_policy_postmaster_local(const char *local);

/* ---- CSRs and keys (OpenSSL types, opaque here) ---- */

typedef struct evp_pkey_st CgPkey;    /* EVP_PKEY */

typedef struct X509_pubkey_st CgX509Pubkey;  /* X509_PUBKEY */
typedef struct X509_algor_st CgX509Algor;    /* X509_ALGOR */
typedef struct x509_st CgX509;               /* X509 */

/* A certificate read from DER for what it says (names, extensions, the
 * SubjectPublicKeyInfo's fields, its signature), its subject key left
 * undecoded: OpenSSL 3.0 builds a decoder chain for every key it decodes,
 * about 1.2 M instructions, ten times the rest of the parse. The object
 * lives in a library context without algorithms: X509_verify() with the
 * issuer's key works (the key's provider does the work), but it has no
 * subject key (X509_get0_pubkey is NULL) and no fingerprint (X509_cmp is
 * never equal), so it is not for chain building or printing. NULL unless
 * it parses to exactly len bytes. */
CgX509 *cg_x509_read(const guint8 *der, gsize len);
typedef struct asn1_string_st CgAsn1BitString; /* ASN1_BIT_STRING */
typedef struct asn1_string_st CgAsn1Time;      /* ASN1_TIME */
/* A time (UTCTime or GeneralizedTime) in seconds since the epoch; 0 when
 * absent or unreadable. */
gint64 cg_asn1_time_unix(const CgAsn1Time *t);

typedef struct {
	GBytes *der;         /* the request as DER */
	CgPkey *key;         /* its public key */
	CgX509Pubkey *spki;  /* the key's SubjectPublicKeyInfo, canonical */
	guint8 spki_sha256[32]; /* SHA-256 of spki's DER */
	char *mailbox;  /* the one mailbox the CSR names (SAN or emailAddress), or NULL */
	char *key_desc; /* "RSA 2048", "EC P-256", "Ed25519" */
	gboolean key_checked; /* cg_csr_check_key passed */
} CgCsr;

/* PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER. Checks the
 * syntax and the self-signature. CG_ERROR_MALFORMED with a reason otherwise.
 * Subject fields and extensions asked for are read only for the mailbox:
 * certgate never copies them into a certificate. */
CgCsr *cg_csr_parse(const guint8 *data, gsize len, GError **error);
void cg_csr_free(CgCsr *csr);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgCsr, cg_csr_free)

/* The key a SubjectPublicKeyInfo holds, and *canonical, the same key in the
 * one encoding the S/MIME BR (7.1.3.1) allow in a certificate: rsaEncryption
 * with NULL parameters and a DER RSAPublicKey; id-ecPublicKey with a named
 * curve and an uncompressed point; Ed25519/Ed448 with no parameters. RSA, EC
 * and EdDSA keys are made directly from their fields; other types go through
 * OpenSSL's decoders (the policy refuses them later, by name). NULL with
 * CG_ERROR_MALFORMED when the key cannot be read. */
CgPkey *cg_spki_key(const CgX509Algor *alg, const CgAsn1BitString *bits, CgX509Pubkey **canonical,
                    GError **error);

/* "RSA 2048", "EC P-256", "Ed25519", or the type's name. Caller frees. */
char *cg_policy_key_desc(CgPkey *key);
gboolean cg_spki_sha256(CgPkey *key, guint8 out[32]);

typedef struct {
	const char *mailbox;         /* the mailbox the certificate is for */
	const guint8 (*ca_keys)[32]; /* SPKI hashes of certgate's own keys */
	gsize n_ca_keys;
	gboolean compromised; /* a certificate with this key was revoked
	                       * for keyCompromise */
	char **certified_for; /* mailboxes already holding a certificate
	                       * for this key (NULL-terminated, may be NULL) */
	const guint8 *spki_sha256; /* the key's SPKI digest when known, or NULL */
	/* A certificate of this key for this very mailbox (NULL: none); valid
	 * when neither revoked nor expired; renewal_asked when the request
	 * names it ("Renew: SERIAL"). Only a renewal asked for of a valid one
	 * certifies the same key for the same mailbox again. */
	const char *certified_serial;
	gboolean certified_valid;
	gboolean renewal_asked;
} CgKeyFacts;

/* Type, size, curve, exponent, small factors, ROCA: what a key is, without
 * facts from the store and without the (costlier) EC point check. */
gboolean cg_policy_check_key_shape(CgPkey *key, GError **error);

/* CG_ERROR_NOT_AUTHORISED saying which rule the key breaks. */
gboolean cg_policy_check_key(CgPkey *key, const CgKeyFacts *facts, GError **error);

/* The part of cg_policy_check_key that needs no facts (the key's shape,
 * its EC point included), run ahead on a CSR by the thread that parsed it
 * (the issuer's verifier): csr->key_checked when it passes. */
void cg_csr_check_key(CgCsr *csr);
/* cg_policy_check_key of a CSR's key, its shape left out when checked
 * ahead; a key that failed there is checked again, for the reason. */
gboolean cg_policy_check_csr_key(const CgCsr *csr, const CgKeyFacts *facts, GError **error);

/* ---- request letters (letter.c) ---- */

typedef enum {
	CG_LETTER_REGISTER = 1,
	CG_LETTER_ADD_ADMIN,
	CG_LETTER_REMOVE_ADMIN,
	CG_LETTER_ADD_DOMAIN,
	CG_LETTER_REMOVE_DOMAIN,
	CG_LETTER_UPDATE,
	CG_LETTER_CONFIRM, /* confirm-organisation: the contact confirms its
	                    * details before OrgReuse ends */
} CgLetterKind;

typedef struct {
	char *address;    /* normalised */
	char *department; /* "" when none */
} CgLetterAdmin;

typedef struct {
	CgLetterKind kind;
	/* NULL when not given */
	char *organisation, *registration, *country, *state, *locality, *contact;
	GPtrArray *domains; /* char*, lower-case A-labels */
	/* char*, parallel to domains: how each is challenged ("Domain: NAME;
	 * Method: dns|postmaster"), "" for DomainMethod's way */
	GPtrArray *domain_methods;
	GPtrArray *admins; /* CgLetterAdmin* */
} CgLetter;

/* Parses the text of a letter: CG_ERROR_MALFORMED naming the line. */
CgLetter *cg_letter_parse(const char *text, GError **error);
void cg_letter_free(CgLetter *l);
const char *cg_letter_kind_name(CgLetterKind k);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgLetter, cg_letter_free)

/* ---- revocation reasons (revocation.c) ---- */

/* The RFC 5280 code of an allowed reason name (keyCompromise,
 * affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn;
 * case-insensitive), or -1. */
int cg_crl_reason_parse(const char *name);
const char *cg_crl_reason_name(int code);

/* ---- CSV (csv.c) ---- */

/* RFC 4180 records of data (UTF-8, optional BOM, CRLF or LF): a GPtrArray of
 * rows, each a GPtrArray of char* cells; blank lines skipped; at most
 * max_rows records after the first. CG_ERROR_MALFORMED naming the line. */
GPtrArray *cg_csv_parse(const char *data, gsize len, guint max_rows, GError **error);
/* The same records one at a time, as they are read: func gets each row (its
 * cells, char*, which it may steal, leaving NULL; the row is emptied after
 * the call) and the line it ends on. A list of 100,000 rows is never held
 * as cells. A FALSE from func ends the parse with func's error. */
typedef gboolean (*CgCsvRowFunc)(GPtrArray *row, guint line, gpointer user, GError **error);
gboolean cg_csv_foreach(const char *data, gsize len, guint max_rows, CgCsvRowFunc func,
                        gpointer user, GError **error);

/* ---- challenge replies (token.c) ---- */

#define CG_TOKEN_LEN 32 /* 24 random bytes, base64url without padding */

/* 32 characters of the base64url alphabet. */
gboolean cg_token_valid(const char *t);
/* The token of "ACME: <token>" after reply prefixes (Re:, RE :, AW:, SV:,
 * Odp:, R:, RIF:, Antw:, VS:, TR:, Re[2]:, ..., repeated and mixed),
 * whitespace inside dropped; NULL when the subject holds none. *forwarded
 * (may be NULL): a forward prefix (Fwd:, WG:, ...) came before it. */
char *cg_token_from_subject(const char *subject, gboolean *forwarded);
/* The token between -----BEGIN ACME RESPONSE----- and -----END ACME
 * RESPONSE----- lines of the text's own (unquoted) lines, whitespace
 * dropped; NULL when none. */
char *cg_token_from_text(const char *text);
/* A token in the quoted lines (">") only: the quoted challenge's
 * "ACME: <token>" or a quoted response block. NULL when none. */
char *cg_token_quoted(const char *text);

typedef struct {
	/* the challenge the token named (found FALSE: no such token) */
	gboolean found;
	gboolean used;
	gint64 expires;
	const char *address;    /* the address challenged */
	const char *message_id; /* of the challenge mail */
	/* the reply */
	const char *from; /* the one From address, normalised */
	guint n_from;     /* From, Sender-less: header fields counted */
	const char *mail_from;      /* envelope sender, "" for the null sender */
	const char *auto_submitted; /* raw value or NULL */
	gboolean autoreply_header;  /* X-Autoreply, X-Autorespond, or Precedence
	                             * bulk/junk/auto_reply/list */
	const char *in_reply_to;    /* first msg-id or NULL */
	gint64 now;
} CgReplyFacts;

/* Every check of a reply that needs no DNS, cheapest first.
 * CG_ERROR_BAD_TOKEN (unknown, used, expired), CG_ERROR_NOT_AUTHORISED
 * (wrong From, automatic reply, not in reply to the challenge mail),
 * CG_ERROR_MALFORMED (several From fields). */
gboolean cg_policy_reply_check(const CgReplyFacts *f, GError **error);

typedef enum {
	CG_AUTH_NONE = 0,
	CG_AUTH_PASS,
	CG_AUTH_FAIL,
	CG_AUTH_SOFTFAIL,
	CG_AUTH_NEUTRAL,
	CG_AUTH_TEMPERROR,
	CG_AUTH_PERMERROR,
} CgAuthResult;

const char *cg_auth_result_name(CgAuthResult r);

typedef enum {
	CG_REPLY_AUTH_DMARC = 0,
	CG_REPLY_AUTH_SPF,
	CG_REPLY_AUTH_DKIM,
} CgReplyAuthMode;

/* "dmarc", "spf", "dkim"; -1 for anything else. */
int cg_reply_auth_mode(const char *name);

typedef struct {
	char *domain; /* d= */
	CgAuthResult result;
	gboolean aligned; /* d= aligned with the From domain */
	char *why;        /* for the log when not a pass; may be NULL */
} CgDkimFact;

typedef struct {
	const char *from_domain;
	const char *client_ip;
	CgAuthResult spf;
	const char *spf_domain; /* the domain SPF checked (MAIL FROM's or HELO) */
	gboolean spf_aligned;
	CgDkimFact *dkim; /* n_dkim of them */
	guint n_dkim;
	CgAuthResult dmarc_record; /* NONE, PASS (found), TEMPERROR */
	const char *dmarc_policy;  /* p= of the record, or NULL */
	gboolean strict;           /* aligned means the From domain itself */
} CgAuthFacts;

/* The ReplyAuth decision: pass when aligned SPF passes or an aligned DKIM
 * signature verifies (dmarc), or that one method (spf, dkim). A temporary
 * DNS error on the path that could have passed gives CG_ERROR_DNS_TEMP
 * (defer), never a pass. Refusals: CG_ERROR_SPF_FAIL, CG_ERROR_DKIM_FAIL,
 * CG_ERROR_DMARC_FAIL, with what failed in the message. */
gboolean cg_policy_reply_auth(CgReplyAuthMode mode, const CgAuthFacts *f, GError **error);

/* ---- profiles and subjects (subject.c) ---- */

typedef enum {
	CG_PROFILE_ORGANIZATION = 0, /* 2.23.140.1.5.2.x */
	CG_PROFILE_SPONSOR,          /* 2.23.140.1.5.3.x */
	CG_PROFILE_MAILBOX,          /* 2.23.140.1.5.1.x: the gateway's own */
} CgProfile;

const char *cg_profile_name(CgProfile p);
/* "organization" (or "organisation"), "sponsor". */
gboolean cg_profile_parse(const char *name, CgProfile *out);
/* The CA/B Forum reserved policy OID of the profile, strict or multipurpose. */
const char *cg_profile_policy_oid(CgProfile p, gboolean multipurpose);

typedef struct {
	CgProfile profile;
	const char *mailbox;
	const char *org_name, *org_identifier, *country, *state, *locality;
	const char *given_name, *surname; /* sponsor */
	gboolean field_email, field_locality, field_state; /* optional fields asked for */
} CgSubjectFacts;

typedef struct {
	struct {
		int nid;           /* OpenSSL NID of the attribute */
		const char *value; /* borrowed from the facts, or common_name */
		gsize max;         /* its upper bound in bytes (S/MIME BR 7.1.4.2) */
	} attr[10];
	guint n;
	char *common_name;
} CgSubject;

/* organization: CN the mailbox (the organisation's name when the mailbox is
 * over 64 bytes); sponsor: "Given Surname"; mailbox: the mailbox. Caller frees. */
char *cg_policy_common_name(const CgSubjectFacts *f);
/* The subject's attributes in order: C, ST, L, O, organizationIdentifier
 * (organisation profiles), givenName and surname (sponsor), CN, emailAddress.
 * Clear out with cg_subject_clear(). */
void cg_policy_subject(const CgSubjectFacts *f, CgSubject *out);
void cg_subject_clear(CgSubject *s);

/* ---- CAA (caa.c) ---- */

typedef struct {
	gboolean critical;
	char *tag;
	char *value;
} CgCaaProp;
void cg_caa_prop_free(gpointer p);
/* The decision on the relevant RRset (props of CgCaaProp*) for the CA's
 * identities; where names the owner name in the refusal
 * (CG_ERROR_NOT_AUTHORISED). */
gboolean cg_policy_caa_decide(GPtrArray *props, char **identities, const char *where,
                              GError **error);

/* ---- signed mail (signed.c) ---- */

/* How far a signing time may be ahead of the CA's clock. */
#define CG_SIGNED_SKEW (15 * 60)

/* A signed mail is taken while fresh: CG_ERROR_BAD_SIGNATURE, saying which,
 * when signing_time is 0 (none), more than max_age before now, or more than
 * CG_SIGNED_SKEW after it. */
gboolean cg_policy_signed_age(gint64 signing_time, gint64 now, gint64 max_age, GError **error);

/* ---- enrolment and issuance (enrol.c) ---- */

typedef struct {
	const char *domain;  /* the mailbox's domain */
	gboolean registered; /* a domain record exists */
	const char *holder;  /* the organisation holding it */
	gboolean validated;  /* its status is validated */
	const char *status;  /* the status's name, for the reason */
	gint64 expires_at;
	const char *method;    /* how it was validated: CG_METHOD_*, "" */
	gboolean public_trust; /* TrustModel public */
} CgDomainFacts;

/* NULL when org_id may certify mailboxes at the domain at now; else why not.
 * Caller frees. */
char *cg_policy_domain_usable(const CgDomainFacts *f, const char *org_id, gint64 now);

/* Domain validation methods, as recorded. */
#define CG_METHOD_EMAIL    "email-postmaster" /* TLS BR 3.2.2.4.4 */
#define CG_METHOD_OPERATOR "operator"         /* certgate domain add --validated */
#define CG_METHOD_DNS      "dns-change"       /* TLS BR 3.2.2.4.7 */
/* Where a challenge's job and a domain record name a postmaster-style local
 * part, this stands for the DNS-change method instead (no local part
 * begins with "_" in TLS BR 3.2.2.4.4). */
#define CG_DNS_CHALLENGE "_dns"
/* The record the DNS-change method looks for: TXT at LABEL.DOMAIN. */
#define CG_DNS_CHALLENGE_LABEL "_certgate-challenge"
/* The challenge to make for a new domain under DomainMethod (its value):
 * CG_DNS_CHALLENGE or "postmaster". */
const char *cg_policy_default_challenge(const char *domain_method);
/* TLS BR ballot SC-090: the constructed-address e-mail method SHOULD NOT be
 * used from 2026-03-15 and MUST NOT from 2028-03-15 (publicly trusted). */
#define CG_EMAIL_METHOD_DISCOURAGED ((gint64)1773532800) /* 2026-03-15T00:00:00Z */
#define CG_EMAIL_METHOD_SUNSET      ((gint64)1836691200) /* 2028-03-15T00:00:00Z */

/* Why method may not validate a domain (or be relied on) at now, or NULL:
 * under TrustModel public, never operator attestation, and the e-mail
 * method not from its sunset. Caller frees. */
char *cg_policy_domain_method(const char *method, gboolean public_trust, gint64 now);
/* What to tell the operator about a validation by method at now (the
 * e-mail method from 2026-03-15), or NULL. A static string. */
const char *cg_policy_domain_method_warning(const char *method, gint64 now);

/* An answer to an expiry reminder, with a CSR (renewal.c). */
typedef struct {
	const char *serial; /* of the certificate to renew */
	gboolean cert_found;
	gboolean revoked;
	gint64 revoked_at;
	const char *renewed_by; /* "" while not renewed */
	gint64 not_after;
	const char *org_id;
	gboolean org_active;
	const char *org_status;
	gint64 org_validated_at;
	gint64 org_reuse;
	CgDomainFacts domain;          /* of the certificate's mailbox */
	const char *answerer;          /* the From of the answer */
	gboolean answered_by_subject;  /* the certificate's own mailbox answered */
	gboolean answerer_admin;       /* the answerer is an active admin of org_id */
	gboolean needs_admin;          /* enrolled by an admin (not by the operator):
	                                * the renewal is an admin's request too */
	gboolean requester_admin;      /* the enrolling admin still is one */
	gboolean same_key;             /* the CSR has the old certificate's key */
} CgRenewalFacts;

/* NULL when the answer renews the certificate; else why not (caller
 * frees), with *rechallenge when a new challenge of the organisation's own
 * domain would start it again. */
char *cg_policy_renewal(const CgRenewalFacts *f, gint64 now, gboolean *rechallenge);

typedef enum {
	CG_ENROLL_AUTH_SIGNED_OR_CONFIRM = 0,
	CG_ENROLL_AUTH_SIGNED,
	CG_ENROLL_AUTH_CONFIRM,
} CgEnrollAuthMode;

typedef enum {
	CG_ENROLL_PROCEED = 0, /* signed by the admin: items queued at once */
	CG_ENROLL_HOLD,        /* held until the admin answers a confirmation */
	CG_ENROLL_REFUSE,
} CgEnrollVerdict;

/* "signed-or-confirm", "signed", "confirm"; -1 for anything else. */
int cg_policy_enroll_auth_mode(const char *name);
/* is_signed: the mail carries an S/MIME signature (verified separately).
 * CG_ENROLL_REFUSE sets CG_ERROR_BAD_SIGNATURE. */
CgEnrollVerdict cg_policy_enroll_auth(CgEnrollAuthMode mode, gboolean is_signed, GError **error);

/* NULL unless the sponsor profile lacks a name or names another country than
 * the organisation's. Caller frees. */
char *cg_policy_sponsor(CgProfile profile, const char *given, const char *surname,
                        const char *country, const char *org_country);

/* Why an organisation may have no certificate issued now, or NULL: it is not
 * active, or its validation (validated_at) is older than reuse (OrgReuse;
 * S/MIME BR: 825 days at most). Caller frees. */
char *cg_policy_org_usable(const char *id, gboolean active, const char *status, gint64 validated_at,
                           gint64 reuse, gint64 now);

typedef struct {
	const char *org_id;
	gboolean org_active;
	const char *org_status; /* its name, for the reason */
	gint64 org_validated_at;
	gint64 org_reuse; /* OrgReuse */
	const char *org_country;
	gboolean by_admin;         /* an enrolment by mail: its admin must still be one */
	const char *requester;
	gboolean requester_active; /* an active admin of org_id */
	const char *mailbox;
	CgDomainFacts domain; /* of the mailbox */
	guint validity_days, max_validity;
	const CgCsr *csr;       /* parsed, or NULL */
	const char *csr_error;  /* why it does not parse */
	CgKeyFacts key;         /* what the store knows of its key */
	CgProfile profile;
	const char *given_name, *surname, *country;
} CgIssueFacts;

/* NULL when the item may be issued at now; else the reason it is refused
 * (the issuer's re-checks, in order). Caller frees. */
char *cg_policy_issue(const CgIssueFacts *f, gint64 now);

G_END_DECLS

#endif
