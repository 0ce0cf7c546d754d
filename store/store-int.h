/*
 * store-int.h: what the store's own files share.
 * Never: included outside store/.
 */
#ifndef CG_STORE_INT_H
#define CG_STORE_INT_H

#include "store.h"
#include "common.h"

#include <db.h>

/* Job records in the DB_QUEUE have a fixed length: version, kind, attempts,
 * due time, then the id (see queue.c). */
#define CG_JOB_RECORD_LEN 320

enum {
	DBI_META = 0,
	DBI_ORGS,
	DBI_DOMAINS,
	DBI_ADMINS,
	DBI_CHALLENGES,
	DBI_REQUESTS,
	DBI_ITEMS,
	DBI_CERTS,
	DBI_SEEN,
	DBI_JOBS,
	DBI_JOBS_LATER,
	DBI_AUDIT,
	/* secondary indexes */
	DBI_DOMAIN_BY_ORG,
	DBI_ADMIN_BY_ORG,
	DBI_CERT_BY_MAILBOX,
	DBI_CERT_BY_ORG,
	DBI_CERT_BY_SPKI,
	DBI_CERT_REVOKED,   /* revoked certificates by notAfter (schema 2) */
	DBI_CERT_BY_EXPIRY, /* every certificate by notAfter (schema 2) */
	DBI_REQUEST_HELD,   /* held requests by creation (schema 2) */
	DBI_N
};

struct CgStore {
	DB_ENV *env;
	gboolean env_open; /* env->open succeeded */
	DB *db[DBI_N];
	/* The indexes keyed by a time, again, unassociated: read in bulk
	 * (DB_MULTIPLE_KEY), which a secondary handle does not allow. */
	DB *bulk[DBI_N];
	char *home;
	char *evidence_dir;
	int lock_fd;
	GThread *maint;
	GThread *watchdog;
	gboolean watchdog_stop;
	gint maint_busy; /* monotonic second the maintenance thread entered the library, or 0 */
	gint checkpoint_s; /* cg_store_set_checkpoint_interval */
	GMutex maint_lock;
	GCond maint_cond;
	gboolean stopping;
	/* replication (repl.c) */
	gboolean replicated;
	char *repl_local;
	char **repl_peers; /* ReplicationPeer: the sites this one knows of */
	gboolean repl_create_group;
	gboolean repl_process; /* CG_STORE_REPLICATE */
	gboolean repl_listener; /* this process holds the site's connections */
	char *repl_published;   /* what cg_repl_publish last wrote */
	/* The role cg_store_role found, kept ROLE_CACHE_US: under role_lock,
	 * which the replication manager's event thread takes too. */
	GMutex role_lock;
	gint64 role_checked; /* monotonic time of the cached role */
	gint role_cached;    /* the role found (MASTER or CLIENT); 0 or -1: none */
	guint role_gen;      /* counts cg_repl_role_forget */
	/* the job queue's wait (queue.c) */
	int wake_fd; /* inotify on home, -1 for none; valid when wake_tried */
	gboolean wake_tried;
};

struct CgTxn {
	CgStore *store;
	DB_TXN *txn;
	gboolean read_committed; /* cg_store_txn_read_committed */
};

typedef struct {
	const char *name;
	DBTYPE type;
	gboolean dupsort; /* secondary index */
} DbSpec;

extern const DbSpec cg_db_specs[DBI_N];

/* Sets error from a Berkeley DB return code; always returns FALSE. */
gboolean cg_db_fail(int rc, const char *what, GError **error);

DB_TXN *cg_txn_raw(CgTxn *txn);

/* codec.c: how each record kind is stored */
typedef struct {
	int dbi;
	const char *type; /* of the version 1 body */
	GVariant *(*encode)(gconstpointer);
	gpointer (*decode)(GVariant *);
	void (*key)(gconstpointer, GByteArray *);
	GDestroyNotify free;
	/* Optional fields (version 2), both NULL when the record has none;
	 * extras_in returns FALSE when one is out of range. */
	void (*extras_out)(gconstpointer, GVariantDict *);
	gboolean (*extras_in)(gpointer, GVariantDict *);
} CgCodec;
extern const CgCodec cg_codecs[CG_REC_N_KINDS];
void cg_item_key(const char *request_id, guint32 index, GByteArray *key);
GBytes *cg_item_csr_hint(const void *data, gsize len);
/* envelope.c: records through their codec, in the versioned envelope */
GBytes *cg_record_encode(CgRecordKind kind, gconstpointer rec);
void cg_record_key(CgRecordKind kind, gconstpointer rec, GByteArray *key);
gpointer cg_record_decode(CgRecordKind kind, const void *data, gsize len, GError **error);
/* The body of a stored record, its envelope's version known and the body
 * of that version's type (a version 2 body is the version 1 tuple's
 * members, then an a{sv}); with check, its bytes in normal form first.
 * NULL (CG_ERROR_CORRUPT) otherwise. */
GVariant *cg_record_body(CgRecordKind kind, GBytes *bytes, gboolean check, guint32 *version,
                         GError **error);
/* The same for a value certgate has just written (index callbacks): no
 * normal-form walk. NULL when it does not decode. */
gpointer cg_record_decode_own(CgRecordKind kind, const void *data, gsize len);
void cg_record_free(CgRecordKind kind, gpointer rec);
int cg_record_dbi(CgRecordKind kind);
/* GVariant envelope (version, body) shared by records, seen and audit. */
GBytes *cg_envelope_pack(guint32 version, GVariant *body);
GVariant *cg_envelope_open(const void *data, gsize len, guint32 version, const char *type,
                           GError **error);
/* records.c: secondary-key callbacks for DB->associate. */
int cg_index_domain_org(DB *sec, const DBT *key, const DBT *data, DBT *result);
int cg_index_admin_org(DB *sec, const DBT *key, const DBT *data, DBT *result);
int cg_index_cert_mailbox(DB *sec, const DBT *key, const DBT *data, DBT *result);
int cg_index_cert_org(DB *sec, const DBT *key, const DBT *data, DBT *result);
int cg_index_cert_spki(DB *sec, const DBT *key, const DBT *data, DBT *result);
int cg_index_cert_revoked(DB *sec, const DBT *key, const DBT *data, DBT *result);
int cg_index_cert_expiry(DB *sec, const DBT *key, const DBT *data, DBT *result);
int cg_index_request_held(DB *sec, const DBT *key, const DBT *data, DBT *result);
/* Whether rec belongs in dbi, an index keyed by a time, and at what time. */
gboolean cg_index_time_of(int dbi, gconstpointer rec, gint64 *t);

/* maint.c: sets a CG_ERROR_IO error "path: strerror(err)"; returns FALSE. */
gboolean cg_io_fail(const char *path, int err, GError **error);
/* env.c: replication rolled back this process's handles: restart. */
void cg_store_mark_dead(void);
/* repl.c */
/* Before the environment opens. process: this process runs the replication
 * manager (CG_STORE_REPLICATE): it sets the site's policies and tells of
 * connections. */
void cg_repl_configure(CgStore *s, const CgStoreRepl *repl, gboolean process);
/* Once it is open: this site and its peers. */
gboolean cg_repl_name_sites(CgStore *s, const CgStoreRepl *repl, GError **error);
gboolean cg_repl_start(CgStore *s, GError **error);
void cg_repl_event(CgStore *s, u_int32_t event, void *info);
void cg_repl_role_forget(CgStore *s);
void cg_repl_share_files(CgStore *s);
void cg_repl_quiesce(CgStore *s);
gboolean cg_repl_listener_alive(CgStore *s);
void cg_repl_publish(CgStore *s);
/* Clears / reads this thread's "the last commit was not acknowledged". */
void cg_repl_commit_begin(void);
gboolean cg_repl_commit_acked(void);
/* The process's replicated store (one per process), for cg_db_fail. */
extern CgStore *cg_repl_store;

/* audit.c */
gboolean cg_audit_check_all(CgStore *s, GString *report);

#endif
