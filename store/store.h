/*
 * store: certgate's state in one transactional Berkeley DB environment.
 *
 *   cg_store_open/close()       the environment at DbHome (created when absent,
 *                               recovered when a process died) and every database
 *   cg_store_begin/commit/abort a transaction; cg_store_transact() runs a function
 *                               in one and retries it when it loses a deadlock
 *   cg_store_<kind>_get/put/del typed records (orgs, domains, admins, challenges,
 *                               requests, items, certs), GVariant-encoded and versioned
 *   cg_store_foreach[_by]()     listings, by primary key or by a secondary index
 *   cg_store_job_*()            the job queue (append; consume with wait; defer)
 *   cg_store_seen_*()           the idempotency table
 *   cg_store_audit_*()          the hash-chained audit log (append in the caller's
 *                               transaction; verify the chain)
 *   cg_store_evidence_put()     raw messages kept as evidence, named by SHA-256
 *   cg_store_check/backup()     every record decodes; hot backup
 *
 * Every record read is validated (normal form, known version, expected type): a
 * corrupt record is CG_ERROR_CORRUPT, never a crash. Disk full and I/O errors
 * are CG_ERROR_IO; a lost deadlock is CG_ERROR_DEADLOCK (cg_store_transact
 * retries it). Records returned to the caller are the caller's to free.
 * Thread-safe: one CgStore serves every thread of a process.
 * Never: parses mail, signs, or decides policy.
 */
#ifndef CG_STORE_H
#define CG_STORE_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct CgStore CgStore;
typedef struct CgTxn CgTxn;

/* ---- environment and transactions ---- */

typedef enum {
	CG_STORE_DEFAULT = 0,
	CG_STORE_READONLY_CHECK = 1 << 0, /* fail if the environment does not exist */
	CG_STORE_REPLICATE = 1 << 1,      /* replicated: this process starts the
	                                   * replication manager (the daemons) */
	CG_STORE_WAIT = 1 << 2, /* replicated: a client without the database yet
	                         * waits up to a minute for the master's copy */
} CgStoreFlags;

CgStore *cg_store_open(const char *db_home, const char *evidence_dir, CgStoreFlags flags,
                       GError **error);

/* ---- replication (repl.c): Berkeley DB's Replication Manager ---- */

typedef enum {
	CG_REPL_ACK_ALL,
	CG_REPL_ACK_QUORUM,
	CG_REPL_ACK_ONE,
	CG_REPL_ACK_NONE,
} CgReplAck;

typedef struct {
	const char *local;        /* this site's HOST:PORT; NULL or "": one host */
	const char *const *peers; /* the other sites' HOST:PORT, NULL-terminated */
	int priority;             /* 0: never master */
	CgReplAck ack;
	guint ack_timeout_ms;
	gboolean create_group; /* this site's database starts the group */
} CgStoreRepl;

/* TRUE when replication rolled back what this process had open (a client
 * following a new master): close the store and open it again (no recovery
 * needed). cg_store_panicked is TRUE then too. */
gboolean cg_store_needs_reopen(CgStore *s);

/* cg_store_open with replication (repl NULL or repl->local empty: one host). */
CgStore *cg_store_open_repl(const char *db_home, const char *evidence_dir, CgStoreFlags flags,
                            const CgStoreRepl *repl, GError **error);
/* CG_REPL_ACK_* from its ReplicationAck name; -1 when unknown. */
int cg_repl_ack_from_name(const char *name);

typedef enum {
	CG_ROLE_ALONE,  /* not replicated */
	CG_ROLE_MASTER, /* replicated, this site is the master */
	CG_ROLE_CLIENT, /* replicated, a client (or not yet decided) */
} CgStoreRole;

CgStoreRole cg_store_role(CgStore *s);
const char *cg_store_role_name(CgStoreRole role);
/* TRUE when this site may take writes (alone or master); otherwise
 * CG_ERROR_NOT_MASTER. */
gboolean cg_store_writable(CgStore *s, GError **error);
/* On the master: records the time in meta "repl:beat", a small write whose
 * acknowledgement shows the replicas are with us (CG_ERROR_NOT_ACKED when
 * not) and whose age on a client is how far behind it is. */
gboolean cg_store_repl_beat(CgStore *s, gint64 now, GError **error);
typedef struct {
	char *address; /* HOST:PORT */
	gboolean local, connected, master;
	gboolean stranger; /* not named in this site's configuration */
} CgReplSite;

typedef struct {
	CgStoreRole role;
	char *local;  /* this site */
	char *master; /* "" when no master is known */
	GArray *sites; /* CgReplSite, this site first */
	guint32 log_file, log_offset;   /* the next log record here */
	guint32 perm_file, perm_offset; /* master: acknowledged up to */
	guint64 perm_failed;            /* master: commits not acknowledged */
	gint64 beat;                    /* the master's last beat seen here */
	gboolean startup_done;          /* client: caught up with a master */
} CgReplStatus;

/* This site's view of the group. */
gboolean cg_store_repl_status(CgStore *s, CgReplStatus *out, GError **error);
void cg_repl_status_clear(CgReplStatus *st);
/* Removes a site (HOST:PORT, not this one) from the group's membership: a
 * host taken out of service, or a site that tried to join by mistake. Asks
 * the master through this site's replication process, which must run. */
gboolean cg_store_repl_remove(CgStore *s, const char *address, GError **error);
void cg_store_close(CgStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgStore, cg_store_close)

CgTxn *cg_store_begin(CgStore *store, GError **error);
/* The store a transaction belongs to (borrowed). */
CgStore *cg_txn_store(CgTxn *txn);

/* A transaction nested in parent: aborting it undoes only its own work;
 * committing it hands its work to the parent. */
CgTxn *cg_store_begin_child(CgTxn *parent, GError **error);
/* Commits (durably: the log is flushed) and frees txn, whatever the outcome. */
gboolean cg_store_commit(CgTxn *txn, GError **error);
/* Aborts and frees txn; NULL is allowed. */
void cg_store_abort(CgTxn *txn);
/* While on, reads in txn hold each record's lock only while they read it
 * (degree 2 isolation) instead of to the commit: for a job that reads more
 * records than the lock table holds (the report of a 100,000-row list), of
 * records that no longer change. Returns the setting before. */
gboolean cg_store_txn_read_committed(CgTxn *txn, gboolean on);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgTxn, cg_store_abort)

/* Runs fn in a fresh transaction and commits. When fn or the commit fails with
 * CG_ERROR_DEADLOCK the transaction is aborted and fn runs again (with back-off,
 * up to 20 times): fn must have no effect outside the transaction that it does
 * not redo or undo itself. */
typedef gboolean (*CgTxnFunc)(CgTxn *txn, gpointer data, GError **error);
gboolean cg_store_transact(CgStore *store, CgTxnFunc fn, gpointer data, GError **error);

/* Unique increasing counters ("org", "request"): returns the next value. */
gboolean cg_store_next_id(CgTxn *txn, const char *counter, guint64 *out, GError **error);
/* A named value of the store's own bookkeeping (a sweep's progress, the next
 * digest): NULL with CG_ERROR_NOT_FOUND when never set. */
char *cg_store_meta_get(CgStore *s, CgTxn *txn, const char *name, GError **error);
gboolean cg_store_meta_put(CgTxn *txn, const char *name, const char *value, GError **error);

/* TRUE once Berkeley DB has panicked: the process should exit so that the
 * next start runs recovery. */
gboolean cg_store_panicked(CgStore *store);

/* Frees what dead processes left in the environment (locks, transactions).
 * The store's maintenance thread runs it every 5 s; complaints are logged
 * ("berkeley db failchk: ..."). */
void cg_store_failchk(CgStore *store);

/* Flushes the log and checkpoints; removes log files no longer needed. */
gboolean cg_store_checkpoint(CgStore *store, GError **error);

/* How often the store's maintenance thread checkpoints, in seconds
 * (CG_STORE_CHECKPOINT_S unless set): every process that opens the store
 * does, so that the log is trimmed and a recovery short whichever of the
 * daemons runs (a milter alone, its issuer stopped, wrote log that nothing
 * checkpointed). */
#define CG_STORE_CHECKPOINT_S 60
void cg_store_set_checkpoint_interval(CgStore *store, guint seconds);

/* ---- records ---- */

typedef enum {
	CG_ORG_PENDING = 0,
	CG_ORG_ACTIVE,
	CG_ORG_SUSPENDED,
	CG_ORG_REJECTED,
} CgOrgStatus;

typedef struct {
	char *id;
	char *name;
	char *org_identifier; /* e.g. NTRPL-0000123456 */
	char *country;        /* ISO 3166 alpha-2 */
	char *state;          /* "" when none */
	char *locality;       /* "" when none */
	char *contact;        /* the executive's address */
	CgOrgStatus status;
	gint64 created_at;
	gint64 validated_at; /* 0 until approved */
	char *approved_by;
	char *created_by; /* request id of the letter, or "operator:NAME" */
	char *reason;     /* why rejected or suspended */
	/* What a registration asked for, held in the record until approval so
	 * that a pending organisation reserves no domain and no admin address:
	 * domains (A-labels) and admins with their departments (parallel
	 * arrays). NULL-terminated, or NULL when none. */
	char **pending_domains;
	char **pending_methods; /* parallel to pending_domains: "dns",
	                         * "postmaster" or "" (DomainMethod), or NULL */
	char **pending_admins;
	char **pending_departments;
	/* Its validation's evidence (certgate org add/approve --source,
	 * --reference, --extract): the register, the entry, the SHA-256 of the
	 * extract the operator checked. NULL when not given. */
	char *verified_source;
	char *verified_reference;
	char *verified_extract;
	/* The contact's confirm-organisation letter (its request id) waiting
	 * for the operator's re-approval, or NULL; when the contact was last
	 * asked for one (0: never). */
	char *confirm_request;
	gint64 confirm_asked_at;
} CgOrg;

typedef enum {
	CG_DOMAIN_PENDING = 0,
	CG_DOMAIN_VALIDATED,
	CG_DOMAIN_EXPIRED,
	CG_DOMAIN_DISPUTED,
} CgDomainStatus;

typedef struct {
	char *domain; /* lower-case A-label: the key */
	char *org_id;
	CgDomainStatus status;
	gint64 validated_at;
	gint64 expires_at;
	char *method;       /* e.g. "email-postmaster", "operator" */
	char *rule_version; /* e.g. "TLS BR 2.2.6 3.2.2.4.4" */
	char *evidence;     /* evidence id (SHA-256 hex) or "" */
	char *local_part;   /* postmaster-style local part to challenge */
	char *previous_org; /* org it moved from in a dispute, or "" */
	gint64 challenged_at; /* last challenge mail sent, 0 = never */
} CgDomain;

typedef enum {
	CG_ADMIN_PENDING = 0, /* active once its organisation is approved */
	CG_ADMIN_ACTIVE,
	CG_ADMIN_REMOVED,
	CG_ADMIN_HELD, /* outside the organisation's domains: waits for the
	                * operator (certgate admin approve) */
} CgAdminStatus;

typedef struct {
	char *address; /* the key */
	char *org_id;
	char *department;
	CgAdminStatus status;
	char *appointed_by;
	gint64 appointed_at;
} CgAdmin;

typedef enum {
	CG_CHALLENGE_DOMAIN = 1,
	CG_CHALLENGE_CONFIRM,
	CG_CHALLENGE_INVITE,
	CG_CHALLENGE_RENEW, /* an expiry reminder: answered with a CSR, it renews
	                     * the certificate (target: its serial) */
	CG_CHALLENGE_DNS,   /* DNS change (TLS BR 3.2.2.4.7): the hash is of the
	                     * value to publish; target: the domain */
} CgChallengeKind;

typedef enum {
	CG_CHALLENGE_STATE_PENDING = 0,
	CG_CHALLENGE_STATE_USED,
	CG_CHALLENGE_STATE_EXPIRED,
} CgChallengeState;

typedef struct {
	guint8 token_hash[32]; /* SHA-256 of the token: the key */
	CgChallengeKind kind;
	char *target;  /* domain or address */
	char *address; /* the address mailed */
	char *org_id;
	char *request_id; /* "" for domain challenges */
	guint32 item;
	gint64 created;
	gint64 expires;
	CgChallengeState state;
	char *message_id; /* of the challenge mail, "" until sent */
} CgChallenge;

typedef enum {
	CG_REQUEST_LETTER = 1,
	CG_REQUEST_ENROLL,
	CG_REQUEST_REVOKE,
	CG_REQUEST_OPERATOR,
	CG_REQUEST_STATUS, /* an admin's "Request: status": no items, a CSV back */
} CgRequestKind;

typedef enum {
	CG_REQUEST_RECEIVED = 0, /* accepted, items queued */
	CG_REQUEST_HELD,         /* waiting for the admin's confirmation */
	CG_REQUEST_DONE,         /* every item settled */
	CG_REQUEST_REJECTED,
} CgRequestStatus;

typedef struct {
	char *id;
	CgRequestKind kind;
	char *org_id;
	char *requester; /* admin or contact address, or "operator:NAME" */
	char *digest;    /* SHA-256 hex of the source message, or "" */
	CgRequestStatus status;
	gint64 created;
	char *profile; /* "organization" | "sponsor" */
	guint32 validity_days;
	char *fields; /* "E,L,ST" subset */
	char *format; /* "pem" | "der" */
	guint32 n_items;
	guint32 n_settled; /* items issued or rejected so far */
	char *reason;
	char *evidence; /* evidence id or "" */
	char *renews;   /* serials the admin asked to renew with the same key
	                 * ("Renew:"), comma-separated; "" when none */
} CgRequest;

typedef enum {
	CG_ITEM_QUEUED = 0,
	CG_ITEM_ISSUED,
	CG_ITEM_REJECTED,
	CG_ITEM_INVITED,
	CG_ITEM_HELD,
} CgItemStatus;

/* One row of a request: kept in its own record so that a 10,000-row request
 * is not rewritten for every certificate issued. Key: request id + index. */
typedef struct {
	char *request_id;
	guint32 index; /* 1-based row */
	char *mailbox;
	char *given_name;
	char *surname;
	char *country;
	char *department;
	GBytes *csr; /* DER, or empty */
	CgItemStatus status;
	char *reason;
	char *serial;
} CgItem;

typedef enum {
	CG_CERT_VALID = 0,
	CG_CERT_REVOKED,
} CgCertStatus;

typedef struct {
	char *serial; /* lower-case hex: the key */
	GBytes *der;
	char *org_id;
	char *mailbox;
	guint8 spki_sha256[32];
	gint64 not_before;
	gint64 not_after;
	CgCertStatus status;
	gint64 revoked_at;
	guint8 reason; /* RFC 5280 CRLReason, 0 when none */
	char *request_id;
	guint32 item;
	char *profile;
	char *renewed_by; /* the serial of the certificate that renewed this
	                   * one, "" while none has (no more reminders then) */
	gint64 reminded;  /* the stage (seconds before not-after) of the last
	                   * expiry reminder mailed, 0 = none yet */
} CgCert;

void cg_org_free(CgOrg *o);
void cg_domain_free(CgDomain *d);
void cg_admin_free(CgAdmin *a);
void cg_challenge_free(CgChallenge *c);
void cg_request_free(CgRequest *r);
void cg_item_free(CgItem *i);
void cg_cert_free(CgCert *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgOrg, cg_org_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgDomain, cg_domain_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgAdmin, cg_admin_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgChallenge, cg_challenge_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgRequest, cg_request_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgItem, cg_item_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgCert, cg_cert_free)

const char *cg_org_status_name(CgOrgStatus s);
const char *cg_domain_status_name(CgDomainStatus s);
const char *cg_admin_status_name(CgAdminStatus s);
const char *cg_item_status_name(CgItemStatus s);
const char *cg_request_status_name(CgRequestStatus s);
/* A certificate's state at now: "valid", "expired" or "revoked". */
const char *cg_cert_state_name(const CgCert *c, gint64 now);

/* get: NULL with CG_ERROR_NOT_FOUND when absent. put: insert or replace.
 * del: CG_ERROR_NOT_FOUND when absent. txn may be NULL for a single
 * read-committed read outside any transaction. */
CgOrg *cg_store_org_get(CgStore *s, CgTxn *txn, const char *id, GError **error);
gboolean cg_store_org_put(CgTxn *txn, const CgOrg *o, GError **error);
gboolean cg_store_org_del(CgTxn *txn, const char *id, GError **error);
CgDomain *cg_store_domain_get(CgStore *s, CgTxn *txn, const char *domain, GError **error);
gboolean cg_store_domain_put(CgTxn *txn, const CgDomain *d, GError **error);
/* Fills *d as the record of domain validated for org_id at now by method
 * (rule_version, evidence id), until now + reuse, from the domain's record
 * before (old, or NULL): every string is borrowed from the arguments.
 * local_part is the challenge that validated it (a postmaster-style local
 * part, or CG_DNS_CHALLENGE), which the domain's renewals use again.
 * Returns TRUE when the domain moves here from another organisation. */
gboolean cg_domain_fill_validated(CgDomain *d, const CgDomain *old, const char *domain,
                                  const char *org_id, const char *method, const char *rule_version,
                                  const char *evidence, const char *local_part, gint64 now,
                                  gint64 reuse);
gboolean cg_store_domain_del(CgTxn *txn, const char *domain, GError **error);
CgAdmin *cg_store_admin_get(CgStore *s, CgTxn *txn, const char *address, GError **error);
gboolean cg_store_admin_put(CgTxn *txn, const CgAdmin *a, GError **error);
gboolean cg_store_admin_del(CgTxn *txn, const char *address, GError **error);
CgChallenge *cg_store_challenge_get(CgStore *s, CgTxn *txn, const guint8 hash[32], GError **error);
gboolean cg_store_challenge_put(CgTxn *txn, const CgChallenge *c, GError **error);
CgRequest *cg_store_request_get(CgStore *s, CgTxn *txn, const char *id, GError **error);
gboolean cg_store_request_put(CgTxn *txn, const CgRequest *r, GError **error);
CgItem *cg_store_item_get(CgStore *s, CgTxn *txn, const char *request_id, guint32 index,
                          GError **error);
gboolean cg_store_item_put(CgTxn *txn, const CgItem *i, GError **error);
/* The CSR of a queued item, read without decoding the record or checking
 * its form (reading it in full took 6.5% of the issuer's batch thread,
 * sampled; the hint 1.7%): a hint for work done ahead, whose user compares it byte for byte
 * with the item it then reads in full (the issuer's verifier). NULL when
 * the item is absent, not queued, or cannot be read. */
GBytes *cg_store_item_csr_hint(CgStore *s, CgTxn *txn, const char *request_id, guint32 index);
/* "REQUEST#INDEX": an item's name in its jobs, audit entries and logs. */
char *cg_item_name(const char *request_id, guint32 index);
CgCert *cg_store_cert_get(CgStore *s, CgTxn *txn, const char *serial, GError **error);
/* Insert only: CG_ERROR_EXISTS if the serial is taken. */
gboolean cg_store_cert_add(CgTxn *txn, const CgCert *c, GError **error);
/* Replace an existing certificate record (revocation). */
/* Revokes serial (reason: RFC 5280 code, reason_name for the audit entry),
 * queues the CRL rewrite and audits it, in txn. CG_ERROR_EXISTS when it is
 * revoked already, CG_ERROR_NOT_FOUND when there is no such certificate. */
gboolean cg_store_cert_revoke(CgTxn *txn, const char *serial, int reason, const char *reason_name,
                              const char *actor, gint64 now, GError **error);
gboolean cg_store_cert_update(CgTxn *txn, const CgCert *c, GError **error);

/* Listings. The record passed to visit is borrowed for the call; visit returns
 * FALSE to stop. With txn NULL each record is read committed. */
typedef enum {
	CG_REC_ORG = 0,
	CG_REC_DOMAIN,
	CG_REC_ADMIN,
	CG_REC_CHALLENGE,
	CG_REC_REQUEST,
	CG_REC_ITEM,
	CG_REC_CERT,
	CG_REC_N_KINDS
} CgRecordKind;

typedef enum {
	CG_INDEX_DOMAIN_BY_ORG = 0,
	CG_INDEX_ADMIN_BY_ORG,
	CG_INDEX_CERT_BY_MAILBOX,
	CG_INDEX_CERT_BY_ORG,
	CG_INDEX_CERT_BY_SPKI, /* key: 64 hex characters */
	CG_INDEX_ITEM_BY_REQUEST,
	CG_INDEX_N
} CgIndex;

typedef gboolean (*CgStoreVisit)(gconstpointer record, gpointer data);
gboolean cg_store_foreach(CgStore *s, CgTxn *txn, CgRecordKind kind, CgStoreVisit visit,
                          gpointer data, GError **error);
gboolean cg_store_foreach_by(CgStore *s, CgTxn *txn, CgIndex index, const char *key,
                             CgStoreVisit visit, gpointer data, GError **error);
/* Reads an index's pages into the cache, if it fits in half of it. */
gboolean cg_store_warm(CgStore *s, CgIndex index, guint64 *pages, GError **error);
/* The certificates by status, from the indexes' keys (no record read):
 * revoked; expired (notAfter <= now, not revoked); valid (the others). */
typedef struct {
	guint64 valid, expired, revoked;
} CgCertCounts;
gboolean cg_store_cert_counts(CgStore *s, gint64 now, CgCertCounts *out, GError **error);
/* Requests held for their admin's confirmation. */
gboolean cg_store_requests_held(CgStore *s, guint64 *n, GError **error);
/* Certificates with notAfter from `from` to `to`, in notAfter order. */
gboolean cg_store_foreach_expiring(CgStore *s, CgTxn *txn, gint64 from, gint64 to,
                                   CgStoreVisit visit, gpointer data, GError **error);
/* Revoked certificates with notAfter >= not_after, in notAfter order. */
gboolean cg_store_foreach_revoked(CgStore *s, CgTxn *txn, gint64 not_after, CgStoreVisit visit,
                                  gpointer data, GError **error);

/* ---- job queue ---- */

typedef enum {
	CG_JOB_CHALLENGE = 1,
	CG_JOB_ISSUE,
	CG_JOB_DELIVER,
	CG_JOB_REPORT,
	CG_JOB_INVITE,
	CG_JOB_CRL,
	CG_JOB_NOTIFY,
	CG_JOB_CONFIRM,
	CG_JOB_REMIND,   /* "SERIAL|SECONDS": the expiry reminder that many
	                  * seconds before not-after */
	CG_JOB_STATUS,   /* request id: the status CSV to the admin */
	CG_JOB_DIGEST,   /* "YYYY-MM-DD": the operator's daily digest */
	CG_JOB_DNSCHECK, /* "DOMAIN|HASH|N": look for a DNS-change value; N the
	                  * attempt (another is scheduled with back-off), or
	                  * "now" (asked for: no follow-up) */
	CG_JOB_EXPAND,   /* "REQUEST|INDEX": queue the jobs of a large list's
	                  * items from INDEX on, CG_LIST_EXPAND_CHUNK at a time */
	CG_JOB_KIND_MAX = CG_JOB_EXPAND
} CgJobKind;

/* A list with more items to queue than CG_LIST_EXPAND_AT has one expand job
 * instead of a job per item: the queue locks each record a transaction
 * appends until it commits, and the environment's lock table holds 50,000.
 * The issuer queues the items' jobs CG_LIST_EXPAND_CHUNK per transaction. */
#define CG_LIST_EXPAND_AT    1000
#define CG_LIST_EXPAND_CHUNK 1000

/* Room for "domain|org|local" with a 253-character domain. */
#define CG_JOB_ID_MAX 300

typedef struct {
	CgJobKind kind;
	guint16 attempts;
	gint64 due; /* earliest run time; 0 = now */
	char id[CG_JOB_ID_MAX + 1];
} CgJob;

const char *cg_job_kind_name(CgJobKind kind);
/* The job of item REQUEST#INDEX: its invitation (a row without a CSR), or
 * its issue. */
gboolean cg_store_item_job_append(CgTxn *txn, const char *request_id, guint32 index,
                                  gboolean invite, GError **error);
/* A list's expand job: its items' jobs from INDEX on (CG_JOB_EXPAND). */
gboolean cg_store_expand_job_append(CgTxn *txn, const char *request_id, guint32 from,
                                    GError **error);

gboolean cg_store_job_append(CgTxn *txn, CgJobKind kind, const char *id, GError **error);
/* Waits up to timeout_ms, in no transaction (so that no writer waits for
 * it), until a job is in the queue: TRUE when one is (another consumer may
 * still take it first), FALSE when none came. Woken at once by a commit of
 * any process (inotify on the environment's directory). */
gboolean cg_store_job_wait(CgStore *s, guint timeout_ms);
/* Takes the oldest job, waiting up to timeout_ms for one to arrive (from any
 * process), in txn. CG_ERROR_TIMEOUT when none came. The job is gone once txn
 * commits. */
gboolean cg_store_job_consume(CgTxn *txn, guint timeout_ms, CgJob *out, GError **error);
/* Keeps job (attempts incremented) aside until due. */
gboolean cg_store_job_defer(CgTxn *txn, const CgJob *job, gint64 due, GError **error);
/* A new job, kept aside until due (a reminder, the next digest). */
/* A dnscheck job for the DNS-change challenge of domain whose value hashes
 * to hash, to run at once and only once. */
gboolean cg_store_job_dnscheck_now(CgTxn *txn, const char *domain, const guint8 hash[32],
                                   GError **error);
gboolean cg_store_job_schedule(CgTxn *txn, CgJobKind kind, const char *id, gint64 due,
                               GError **error);
/* Moves deferred jobs due at or before now back into the queue; *next_due is
 * the earliest remaining due time or 0. Returns how many moved, -1 on error. */
gint cg_store_job_release(CgStore *s, gint64 now, gint64 *next_due, GError **error);
/* Moves the deferred retries (jobs that failed before) back into the queue
 * now; jobs scheduled for later (reminders, the digest) keep their time.
 * How many moved, -1 on error. */
gint cg_store_job_flush(CgStore *s, GError **error);
/* Calls fn for every job, those in the queue (due 0) first, then those
 * aside in due order; fn returns FALSE to stop. Committed state only. */
typedef gboolean (*CgJobFunc)(const CgJob *job, gpointer data);
gboolean cg_store_job_list(CgStore *s, CgJobFunc fn, gpointer data, GError **error);
/* Jobs waiting in the queue and aside. */
gboolean cg_store_job_count(CgStore *s, guint64 *queued, guint64 *deferred, GError **error);

/* ---- idempotency ---- */

/* Seen records are per (digest, scope): the scope is the handler that took
 * the intake ("letter", "enroll", ...), so that a message deferred at one
 * gateway address takes effect at it when retried (NULL: no scope).
 * get: the request id the digest led to in that scope; NULL with
 * CG_ERROR_NOT_FOUND if unseen (a record from before scopes counts). */
char *cg_store_seen_get(CgStore *s, CgTxn *txn, const guint8 digest[32], const char *scope,
                        GError **error);
/* CG_ERROR_DUPLICATE if (digest, scope) is already there. */
gboolean cg_store_seen_put(CgTxn *txn, const guint8 digest[32], const char *scope,
                           const char *request_id, gint64 when, GError **error);

/* ---- audit log ---- */

typedef struct {
	guint64 seq;
	gint64 time;
	char *actor;
	char *action;
	char *object;
	char *detail;
	guint8 prev[32];
} CgAuditEntry;

void cg_audit_entry_free(CgAuditEntry *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgAuditEntry, cg_audit_entry_free)

/* Appends one entry chained to the last (it takes a write lock on the log's
 * tail, held to the end of the transaction). */
gboolean cg_store_audit_append(CgTxn *txn, gint64 when, const char *actor, const char *action,
                               const char *object, const char *detail, GError **error);
/* Takes that lock now: the first lock of a transaction that will append. Every
 * writer appends, so a writer that took other locks first could hold one that
 * the tail's holder waits for while it waits for the tail (the milter's
 * enrolment, which numbers its request in meta and adds it to requests, and an
 * issue job, which reads its request and then appends: a deadlock each time
 * the two overlapped). Taken first, the tail orders such writers instead. */
gboolean cg_store_audit_lock(CgTxn *txn, GError **error);
/* Walks the whole chain. TRUE when intact; *count entries, *head the hash of
 * the last. FALSE with CG_ERROR_CORRUPT and *broken_at the first bad sequence
 * number when broken. */
gboolean cg_store_audit_verify(CgStore *s, guint64 *count, guint64 *broken_at, guint8 head[32],
                               GError **error);
/* Entries in order; visit gets a borrowed CgAuditEntry. */
gboolean cg_store_audit_foreach(CgStore *s, CgStoreVisit visit, gpointer data, GError **error);
/* The entries from the newest back to the first one older than since (the
 * chain unchecked: cg_store_audit_verify does that); visit returns FALSE to
 * stop. Committed state only. */
gboolean cg_store_audit_since(CgStore *s, gint64 since, CgStoreVisit visit, gpointer data,
                              GError **error);

/* ---- evidence, check, backup ---- */

/* Writes data durably to EvidenceDir/<sha256 hex>.eml (idempotent) and returns
 * the hex id. Caller frees. */
char *cg_store_evidence_put(CgStore *s, const void *data, gsize len, GError **error);
char *cg_store_evidence_path(CgStore *s, const char *id);

/* Decodes every record of every database and checks every secondary index
 * against its primary. Appends one line per database and one per problem. */
gboolean cg_store_check(CgStore *s, GString *report, GError **error);

/* Hot backup into target (created; must be absent or empty), then recovers it
 * so that it opens as an environment on its own. */
gboolean cg_store_backup(CgStore *s, const char *target, GError **error);

/* Restore (restore.c), in the order the CLI calls them: the backup holds
 * certgate's databases; nobody uses db_home; the backup copied into
 * db_home.restore (returned; owner, group and mode those of db_home, or of
 * like when db_home is gone; the caller opens and checks it, discards it
 * when it does not check); then swapped in, a db_home that held anything
 * kept as db_home.before-restore-TIME (*aside, NULL when there was none). */
gboolean cg_store_restore_is_backup(const char *backup, GError **error);
gboolean cg_store_restore_idle(const char *db_home, GError **error);
char *cg_store_restore_stage(const char *backup, const char *db_home, const char *like,
                             GError **error);
void cg_store_restore_discard(const char *staged);
/* Every database file in dir verified page by page, checksums included. */
gboolean cg_store_restore_verify(const char *dir, GError **error);
gboolean cg_store_restore_swap(const char *staged, const char *db_home, gint64 now, char **aside,
                               GError **error);

/* For tests and tools: write raw bytes under a key of a named database
 * ("orgs", "audit", ...), bypassing encoding. */
gboolean cg_store_debug_put_raw(CgStore *s, const char *db, const void *key, gsize klen,
                                const void *data, gsize dlen, GError **error);
gboolean cg_store_debug_get_raw(CgStore *s, const char *db, const void *key, gsize klen,
                                GBytes **data, GError **error);
/* For tests: delete key (every key when NULL) of a named primary btree. */
gboolean cg_store_debug_del_raw(CgStore *s, const char *db, const void *key, gsize klen,
                                GError **error);
/* For tests: the locks held in the environment now. */
guint cg_store_debug_nlocks(CgStore *s);
/* For tests: a write lock on the audit log's head (in meta), held to the end
 * of txn, without touching the log's tail. */
gboolean cg_store_debug_lock_head(CgTxn *txn, GError **error);
/* For tests: the pages of a named database read into the cache from its
 * file since the environment was made. */
guint64 cg_store_debug_pages_read(CgStore *s, const char *db);
/* For tests: the log position of the environment's last checkpoint
 * (file << 32 | offset), 0 if it cannot be read. */
guint64 cg_store_debug_last_checkpoint(CgStore *s);

G_END_DECLS

#endif
