/*
 * milter.h: certgate-milter's parts (the cgmilter library; main.c is the
 * daemon around it). Each file exports under its own name:
 *
 *   cg_milter_*()    process.c: the process (configuration holder, store,
 *                    reply authentication, counters)
 *   cg_session_*()   session.c: one SMTP connection and its current message,
 *                    free of libmilter: the daemon's adapter (adapter.c) and
 *                    the test mode (testmode.c) drive the same code
 *   cg_reply_*()     reply.c: the one table from error code to SMTP reply
 *   cg_spool_*()     spool.c: a message body in memory, spilled to a file
 *   cg_handler_*()   handlers.c: the gateway addresses and their handlers
 *   cg_gateway_*()   gateway.c: a complete gateway message: parse, check,
 *                    commit, decide the reply
 *   cg_replyauth_*() replyauth.c: SPF, DKIM and DMARC facts from DNS
 *   cg_smime_*()     smime.c: S/MIME signatures
 *   cg_parsed_*()    parsed.c: key, certificate and anchor files parsed
 *                    before, by their bytes' SHA-256
 *   cg_enroll_*()    enroll.c: CSRs in mail (also read by challenge.c)
 *   the handlers     letter.c, enroll.c, challenge.c, revoke.c
 *
 * Never: signs anything, sends mail, or holds a CA key.
 */
#ifndef CG_MILTER_H
#define CG_MILTER_H

#include "conf.h"
#include "daemon.h"
#include "mailparse.h"
#include "policy.h"
#include "store.h"

#include <glib.h>
#include <openssl/types.h>

G_BEGIN_DECLS

/* The gateway addresses (handlers.c maps them to CgConf's addresses). */
typedef enum {
	CG_GW_NONE = 0,
	CG_GW_LETTER,
	CG_GW_ENROLL,
	CG_GW_CHALLENGE,
	CG_GW_REVOKE,
} CgGatewayKind;

/* ---- replies ---- */

typedef enum {
	CG_MV_CONTINUE = 0,
	CG_MV_ACCEPT,   /* stop looking at this message, let it through */
	CG_MV_REJECT,   /* 5xx */
	CG_MV_TEMPFAIL, /* 4xx */
	CG_MV_DISCARD,  /* 250 to the client, message dropped (its effects committed) */
} CgVerdict;

typedef struct {
	CgVerdict verdict;
	char rcode[4];  /* "550"; empty for continue/accept/discard */
	char xcode[12]; /* "5.7.1" */
	char text[512]; /* "certgate: ..." made safe: printable ASCII, no '%' */
} CgReply;

/* The reply for err (the reply table of DESIGN.md section 6). Internal errors
 * are not echoed to the sender: the text says to retry and names queue_id. */
void cg_reply_from_error(const GError *err, const char *queue_id, CgReply *out);
const char *cg_reply_verdict_name(CgVerdict v);

/* ---- body spool ---- */

typedef struct {
	GByteArray *mem;
	int fd; /* -1 while in memory */
	gsize size;
	gsize threshold;
	char *dir;
} CgSpool;

void cg_spool_init(CgSpool *s, const char *dir, gsize threshold);
gboolean cg_spool_append(CgSpool *s, const void *data, gsize len, GError **error);
/* head_len bytes of head, then the whole content, in one buffer of their
 * size; the spool is emptied. */
GBytes *cg_spool_take(CgSpool *s, const void *head, gsize head_len, GError **error);
void cg_spool_clear(CgSpool *s);

/* ---- the process ---- */

typedef struct {
	CgConfHolder *conf;
	char *conf_path;
	GMutex store_lock;
	CgStore *store;        /* NULL while the store cannot be opened */
	gint64 store_retry_at; /* monotonic time of the next open attempt */
	/* counters */
	gint n_messages, n_gateway, n_accepted, n_rejected, n_tempfail;
	struct CgReplyAuth *auth; /* reply authentication, made on first use */
} CgMilter;

CgMilter *cg_milter_new(CgConf *conf, const char *conf_path);
void cg_milter_free(CgMilter *m);
/* The store, opened on first use and reopened after a failure (at most once
 * a second); NULL with an error when unavailable. Borrowed. */
CgStore *cg_milter_store(CgMilter *m, GError **error);
/* Closes the store (the daemon's stop, once no callback is at work). */
void cg_milter_close_store(CgMilter *m);

/* ---- reply authentication (replyauth.c) ---- */

typedef struct CgReplyAuth CgReplyAuth;

/* SPF and DMARC through the system resolver, DKIM keys from DNS. */
CgReplyAuth *cg_replyauth_new(GError **error);
/* Offline, for tests and fuzzing: zone is "name", "TXT"|"A", "value" triples
 * (value "TRY_AGAIN": a temporary DNS error), NULL-terminated; DKIM keys from
 * dkim_keys ("selector._domainkey.domain key-record" lines) when not NULL.
 * (libopendkim judges x= by the clock, whatever DKIM_OPTS_FIXEDTIME says.) */
CgReplyAuth *cg_replyauth_new_offline(const char *const *zone, const char *dkim_keys, GError **error);
void cg_replyauth_free(CgReplyAuth *a);
/* The ReplyAuth decision on mail (see cg_policy_reply_auth), with what was
 * found in *summary ("spf=pass (...) dkim=... dmarc=..."), set either way.
 * token_in_subject: signatures must cover the Subject; else the token is in
 * the body and a signature with l= does not count. strict: the SPF domain
 * or a DKIM d= must be the From domain itself (ChallengeAlignment strict);
 * else alignment is DMARC's (relaxed unless the record says adkim/aspf=s). */
gboolean cg_replyauth_check(CgReplyAuth *a, const CgMail *mail, gboolean token_in_subject,
                            int mode, gboolean strict, char **summary, GError **error);
/* How many DKIM keys this process has decoded, and how many times it used
 * a key decoded before instead of decoding its bytes again. */
void cg_replyauth_key_counts(guint64 *decoded, guint64 *reused);
/* Feeds a raw message (CRLF) to a libopendkim handle (DKIM *), signing or
 * verifying: header fields one by one, the body, the end. A DKIM_STAT. */
int cg_replyauth_dkim_feed(void *dkim, GBytes *raw);
/* The milter's CgReplyAuth, made on first use; NULL with an error if it cannot be. */
CgReplyAuth *cg_milter_auth(CgMilter *m, GError **error);

/* ---- S/MIME (smime.c) ---- */

typedef struct {
	GBytes *content;     /* the signed content, a MIME entity */
	GBytes *signer;      /* the signer's certificate, DER */
	gint64 signing_time; /* its signingTime attribute; 0 when it has none */
} CgSmimeResult;

/* Verifies the message's S/MIME signature against the anchors file at time
 * now: one signer, SHA-256 or better, RSA >= 2048, a valid signature over
 * the exact signed bytes, a chain to the anchors for S/MIME signing, valid
 * now and at the signing time, not revoked by certgate (store may be NULL),
 * naming the From address. CG_ERROR_BAD_SIGNATURE saying which failed
 * (CG_ERROR_INTERNAL when the anchors cannot be read). result (may be
 * NULL): what was signed, by whom, when; clear it with cg_smime_result_clear(). */
gboolean cg_smime_verify(const CgMail *mail, const char *anchors_path, CgStore *store, gint64 now,
                         CgSmimeResult *result, GError **error);
void cg_smime_result_clear(CgSmimeResult *result);

/* ---- files parsed before (parsed.c) ---- */

/* What bytes, just read from the key, certificate or trust-anchor file at
 * path, parse to: parse (reading a memory BIO of them) runs only when the
 * file's bytes are not those it parsed last (compared by SHA-256). A new
 * reference, or NULL when parse gave nothing. */
typedef enum { CG_PARSED_KEY, CG_PARSED_CERT, CG_PARSED_ANCHORS } CgParsedKind;
gpointer cg_parsed_get(CgParsedKind kind, const char *path, const void *bytes, gsize len,
                       gpointer (*parse)(BIO *in));

/* ---- mail encrypted to the gateway (decrypt.c) ---- */

/* The MIME entity CMS enveloped-data (or authEnveloped-data) der holds,
 * decrypted with GatewayEncryptionKey (or the previous key within
 * GatewayEncryptionOverlap); at most max bytes, refused while it is written
 * when larger. CG_ERROR_NOT_DECRYPTABLE naming the certificates it is
 * encrypted to, CG_ERROR_MALFORMED, CG_ERROR_TOO_LARGE; CG_ERROR_INTERNAL
 * when the key is there but cannot be read. Caller frees. */
GBytes *cg_decrypt_cms(const CgConf *conf, GBytes *der, gsize max, gint64 now, GError **error);
/* An encrypted message (smime.kind CG_SMIME_ENVELOPED) with its body
 * decrypted, parsed again (its raw stays the bytes as received: DKIM signed
 * those); *decrypted (may be NULL): the decrypted message's bytes. Caller
 * frees. */
CgMail *cg_decrypt_message(const CgConf *conf, const CgMail *mail, gint64 now, GBytes **decrypted,
                           GError **error);

/* ---- one connection ---- */

typedef struct CgSession CgSession;

CgSession *cg_session_new(CgMilter *m, const char *client_ip, const char *client_host);
void cg_session_free(CgSession *s);
CgVerdict cg_session_helo(CgSession *s, const char *helo, CgReply *r);
CgVerdict cg_session_mail(CgSession *s, const char *sender, CgReply *r);
CgVerdict cg_session_rcpt(CgSession *s, const char *rcpt, CgReply *r);
/* After the last RCPT: CG_MV_ACCEPT when no recipient is a gateway address. */
CgVerdict cg_session_data(CgSession *s, CgReply *r);
CgVerdict cg_session_header(CgSession *s, const char *name, const char *value, CgReply *r);
CgVerdict cg_session_eoh(CgSession *s, const char *queue_id, CgReply *r);
CgVerdict cg_session_body(CgSession *s, const void *chunk, gsize len, CgReply *r);

typedef struct {
	CgReply reply;
	char **delrcpt;   /* gateway recipients to remove (NULL-terminated) */
	GString *effects; /* one "effect: ..." line each, for the test mode */
} CgEomResult;

void cg_session_eom(CgSession *s, const char *queue_id, CgEomResult *out);
void cg_session_eom_clear(CgEomResult *out);
/* The message ends without EOM (client quit, or a reject earlier). */
void cg_session_abort(CgSession *s);

/* ---- gateway processing ---- */

typedef struct {
	CgMilter *m;
	CgConf *conf;
	CgStore *store;
	CgGatewayKind kind;
	const char *rcpt;
	const char *queue_id;
	CgEnvelope envelope;
	GBytes *raw;
	guint8 digest[32]; /* of the message, trace headers left out */
	/* Signed mail (set by cg_gateway_signed): the digest of the handler's
	 * name and the signed content, recorded as seen with the message's. */
	gboolean is_signed;
	guint8 signed_digest[32];
	GBytes *decrypted; /* an encrypted message: its decrypted bytes (the evidence) */
	CgMail *mail;     /* parsed */
	char *request_id; /* set by apply */
	char *evidence_id;
	char *summary; /* one line for the log and the test mode */
	GString *effects;
	GString *trace; /* decision trace (LogLevel debug) */
	gpointer state; /* the handler's own, freed by its free_state */
} CgGateway;

typedef struct {
	CgGatewayKind kind;
	const char *name; /* also the scope of its seen records */
	const char *noun; /* "letter", "enrolment", ... for replies */
	/* Checks that need no transaction (parsing, signatures, DNS). */
	gboolean (*check)(CgGateway *g, GError **error);
	/* The effects, in the caller's transaction; may still refuse. Must set
	 * g->request_id and g->summary. May run more than once (deadlock retry). */
	gboolean (*apply)(CgGateway *g, CgTxn *txn, GError **error);
	void (*free_state)(gpointer state);
} CgHandler;

/* The handlers (letter.c, enroll.c, challenge.c, revoke.c). */
extern const CgHandler cg_challenge_handler;
extern const CgHandler cg_letter_handler;
extern const CgHandler cg_enroll_handler;
extern const CgHandler cg_revoke_handler;

/* CSRs in mail (enroll.c): an attachment that is one (application/pkcs10,
 * .csr, .p10, .req, .pem); the next PEM CSR block at or after p, its length
 * in *len (NULL when none; p may be NULL). */
gboolean cg_enroll_is_csr_part(const CgAttachment *a);
const char *cg_enroll_pem_csr_next(const char *p, gsize *len);

/* Answers to expiry reminders (renew.c), for the challenge handler. */
typedef struct CgRenewal CgRenewal;
void cg_renewal_free(CgRenewal *r);
/* The CSR an answer carries (attached or pasted), for mailbox; refused when
 * it names another or its key has a bad shape. what: "an invitation". */
CgCsr *cg_answer_csr(const CgMail *mail, const char *mailbox, const char *what, GError **error);
/* Before the transaction: the CSR and every check of policy/renewal.c
 * (queueing a new challenge when the organisation's domain lapsed). */
gboolean cg_renewal_check(CgGateway *g, const CgChallenge *c, CgRenewal **out, GError **error);
/* In it: the checks again, then the request, its item and the issue job. */
gboolean cg_renewal_apply(CgGateway *g, CgTxn *txn, const CgChallenge *c, const CgRenewal *r,
                          const char *auth, GError **error);

/* Which gateway address rcpt (normalised) is; CG_GW_NONE when none. */
CgGatewayKind cg_handler_kind_of(const CgConf *conf, const char *rcpt);
/* "letter", "enroll", ... for logs; "none". */
const char *cg_handler_name(CgGatewayKind kind);
/* The handler for a gateway address kind; NULL for CG_GW_NONE. */
const CgHandler *cg_handler_for(CgGatewayKind kind);

/* Processes one complete gateway message; fills reply (verdict accept means
 * the effects are committed). */
void cg_gateway_process(CgGateway *g, CgReply *reply);
void cg_gateway_clear(CgGateway *g);

/* For a handler's check of signed mail: the S/MIME signature against the
 * anchors (cg_smime_verify), its signing time (SignedMailMaxAge), and its
 * signed content not taken at this address before (a replay in a new
 * envelope is refused, CG_ERROR_NOT_AUTHORISED; the commit checks again).
 * result as for cg_smime_verify. */
gboolean cg_gateway_signed(CgGateway *g, const char *anchors, CgSmimeResult *result, GError **error);
/* cg_gateway_signed, then the signed content parsed into body (the caller
 * clears it; result may be NULL). The attachments of the whole message's
 * parse are let go first: a signed mail is read only from the bytes that
 * were verified, and a list's decoded attachment is not held twice. */
gboolean cg_gateway_signed_body(CgGateway *g, const char *anchors, CgSmimeResult *result,
                                CgMailBody *body, GError **error);
/* The parser's limits for this gateway mail and whatever is inside it: the
 * defaults, with MaxMessageSize as the size limit. */
void cg_gateway_limits(const CgGateway *g, CgMailLimits *limits);

/* Appends a formatted line to g->trace when debugging is on. */
void cg_gateway_trace(CgGateway *g, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* ---- the daemon (adapter.c) ---- */

struct smfiDesc;
/* Fills desc with libmilter callbacks that drive m's sessions. */
void cg_adapter_install(CgMilter *m, struct smfiDesc *desc);
/* Stops the callbacks: from now on each defers its message. Returns how
 * many are at work. */
guint cg_adapter_stop(void);
/* Waits (at most timeout_us) for the callbacks at work to finish; returns
 * how many still are. */
guint cg_adapter_wait(gint64 timeout_us);

/* ---- test mode ---- */

typedef struct {
	const char *data; /* the message (read by the caller, before dropping root) */
	gsize len;
	const char *client_ip;
	const char *helo;
	const char *mail_from;
	char **rcpts;
} CgTestMode;

/* Runs a message through the callbacks; prints the verdict line and the
 * effects on stdout. Returns the process exit status. */
int cg_testmode_run(CgMilter *m, const CgTestMode *t);

G_END_DECLS

#endif
