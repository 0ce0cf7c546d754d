/*
 * queue.c: the job queue and the seen (idempotency) table.
 *
 * Jobs live in a DB_QUEUE of fixed-length records, consumed in order; a
 * consumer waits for one outside any transaction (cg_store_job_wait), woken
 * by the environment's writes. A job that
 * must wait (back-off after a temporary failure) moves to jobs_later, keyed by
 * its due time, and comes back when due. Consuming is transactional: a job is
 * gone only when the consumer's transaction commits, so a consumer that dies
 * mid-job leaves the job in the queue.
 */
#include "store-int.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define JOB_VERSION    1

G_STATIC_ASSERT(1 + 1 + 2 + 4 + 8 + CG_JOB_ID_MAX + 1 <= CG_JOB_RECORD_LEN);

const char *
cg_job_kind_name(CgJobKind kind)
{
	static const char *n[] = {"?",      "challenge", "issue",   "deliver", "report",
	                          "invite", "crl",       "notify",  "confirm", "remind",
	                          "status", "digest",    "dnscheck", "expand"};

	return (guint)kind < G_N_ELEMENTS(n) ? n[kind] : "?";
}

static void
job_pack(const CgJob *j, guint8 out[CG_JOB_RECORD_LEN])
{
	guint16 att = GUINT16_TO_BE(j->attempts);
	guint64 due = GUINT64_TO_BE((guint64)j->due);

	memset(out, 0, CG_JOB_RECORD_LEN);
	out[0] = JOB_VERSION;
	out[1] = (guint8)j->kind;
	memcpy(out + 2, &att, 2);
	memcpy(out + 8, &due, 8);
	memcpy(out + 16, j->id, strnlen(j->id, CG_JOB_ID_MAX));
}

static gboolean
job_unpack(const guint8 *in, gsize len, CgJob *j, GError **error)
{
	guint16 att;
	guint64 due;

	if (len != CG_JOB_RECORD_LEN || in[0] != JOB_VERSION || in[1] < CG_JOB_CHALLENGE ||
	    in[1] > CG_JOB_KIND_MAX || in[16 + CG_JOB_ID_MAX] != '\0') {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "job record is corrupt");
		return FALSE;
	}
	memset(j, 0, sizeof(*j));
	j->kind = in[1];
	memcpy(&att, in + 2, 2);
	memcpy(&due, in + 8, 8);
	j->attempts = GUINT16_FROM_BE(att);
	j->due = (gint64)GUINT64_FROM_BE(due);
	memcpy(j->id, in + 16, CG_JOB_ID_MAX);
	return TRUE;
}

static gboolean
queue_put(CgTxn *txn, const CgJob *j, GError **error)
{
	DB *q = txn->store->db[DBI_JOBS];
	guint8 rec[CG_JOB_RECORD_LEN];
	db_recno_t recno;
	DBT k = {0}, d = {0};
	int rc;

	job_pack(j, rec);
	k.data = &recno;
	k.ulen = sizeof(recno);
	k.flags = DB_DBT_USERMEM;
	d.data = rec;
	d.size = sizeof(rec);
	rc = q->put(q, txn->txn, &k, &d, DB_APPEND);
	return rc == 0 ? TRUE : cg_db_fail(rc, "jobs", error);
}

/* A new job of kind for id into *j; FALSE for a bad kind or id. */
static gboolean
job_new(CgJobKind kind, const char *id, CgJob *j, GError **error)
{
	memset(j, 0, sizeof(*j));
	if (kind < CG_JOB_CHALLENGE || kind > CG_JOB_KIND_MAX || id == NULL ||
	    strlen(id) > CG_JOB_ID_MAX) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "bad job (%d, %s)", kind,
		            id ? id : "(null)");
		return FALSE;
	}
	j->kind = kind;
	g_strlcpy(j->id, id, sizeof(j->id));
	return TRUE;
}

gboolean
cg_store_job_append(CgTxn *txn, CgJobKind kind, const char *id, GError **error)
{
	CgJob j;

	return job_new(kind, id, &j, error) && queue_put(txn, &j, error);
}

gboolean
cg_store_item_job_append(CgTxn *txn, const char *request_id, guint32 index, gboolean invite,
                         GError **error)
{
	g_autofree char *id = cg_item_name(request_id, index);

	return cg_store_job_append(txn, invite ? CG_JOB_INVITE : CG_JOB_ISSUE, id, error);
}

gboolean
cg_store_expand_job_append(CgTxn *txn, const char *request_id, guint32 from, GError **error)
{
	g_autofree char *id = g_strdup_printf("%s|%u", request_id, from);

	return cg_store_job_append(txn, CG_JOB_EXPAND, id, error);
}

/* The queue's wait: an inotify watch on the environment's directory. Every
 * commit, whichever process makes it, writes the log there with write(2),
 * so a job another process appends ends the wait at once; the queue is
 * still looked at every 100 ms at least. -1 when there is none (polled
 * every 10 ms). */
static int
wake_fd(CgStore *s)
{
	if (!s->wake_tried) {
		s->wake_tried = TRUE;
		s->wake_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (s->wake_fd >= 0 &&
		    inotify_add_watch(s->wake_fd, s->home, IN_MODIFY | IN_CREATE) < 0) {
			close(s->wake_fd);
			s->wake_fd = -1;
		}
	}
	return s->wake_fd;
}

/* Until something is written in the environment (or until, or 100 ms):
 * TRUE when something was. */
static gboolean
wait_for_writes(CgStore *s, gint64 until)
{
	int fd = wake_fd(s);
	gint64 left = (until - g_get_monotonic_time()) / 1000;
	struct pollfd p = {fd, POLLIN, 0};
	char events[4096];

	if (fd < 0) {
		g_usleep(10 * 1000);
		return FALSE;
	}
	if (poll(&p, 1, (int)CLAMP(left, 0, 100)) <= 0)
		return FALSE;
	while (read(fd, events, sizeof(events)) > 0)
		; /* what was written does not matter: the queue is read again */
	return TRUE;
}

/* k and d for reading one queue record into recno and rec. */
static void
record_dbts(DBT *k, DBT *d, db_recno_t *recno, guint8 rec[CG_JOB_RECORD_LEN])
{
	memset(k, 0, sizeof(*k));
	memset(d, 0, sizeof(*d));
	k->data = recno;
	k->ulen = sizeof(*recno);
	k->flags = DB_DBT_USERMEM;
	d->data = rec;
	d->ulen = CG_JOB_RECORD_LEN;
	d->flags = DB_DBT_USERMEM;
}

/* Whether a committed job is at the queue's head: taken in a transaction
 * that never waits for a lock (a job still being appended is not there
 * yet; its commit wakes the wait again) and is undone at once, so that no
 * lock is held past the call. */
static gboolean
job_ready(CgStore *s)
{
	DB *q = s->db[DBI_JOBS];
	guint8 rec[CG_JOB_RECORD_LEN];
	db_recno_t recno;
	DB_TXN *t = NULL;
	DBT k, d;
	int rc;

	record_dbts(&k, &d, &recno, rec);
	if (s->env->txn_begin(s->env, NULL, &t, DB_TXN_NOWAIT) != 0)
		return TRUE; /* let the consumer find out */
	rc = q->get(q, t, &k, &d, DB_CONSUME);
	t->abort(t);
	return rc == 0;
}

/* A commit wakes the wait when it writes its log record, before it has
 * flushed the log and let go of its locks: the job it appends is not yet
 * there for a look. After a write the queue is looked at again after 1, 2,
 * 4, 8 and 16 ms before the wait goes back to waiting for the next write
 * (or 100 ms): a job appended by a commit that woke the wait is taken as
 * soon as the commit is done, not up to 100 ms later. */
#define LOOK_AGAIN_MAX_MS 16

gboolean
cg_store_job_wait(CgStore *s, guint timeout_ms)
{
	gint64 until = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	guint again = 0; /* ms before the next look after a write */

	wake_fd(s); /* watching before the first look: no write is missed */
	for (;;) {
		if (job_ready(s))
			return TRUE;
		if (g_get_monotonic_time() >= until)
			return FALSE;
		if (again > 0 && again <= LOOK_AGAIN_MAX_MS) {
			g_usleep(again * 1000);
			again *= 2;
		} else {
			again = wait_for_writes(s, until) ? 1 : 0;
		}
	}
}

gboolean
cg_store_job_consume(CgTxn *txn, guint timeout_ms, CgJob *out, GError **error)
{
	DB *q = txn->store->db[DBI_JOBS];
	guint8 rec[CG_JOB_RECORD_LEN];
	db_recno_t recno;
	DBT k, d;
	int rc;

	record_dbts(&k, &d, &recno, rec);
	/* No DB_CONSUME_WAIT: its wait was seen going on past its lock timeout
	 * for good (no lock_detect expired it), first in a replicated
	 * environment, then in a lone one after a job was deferred: the issuer
	 * then neither took up its deferred job nor stopped on TERM (seen in
	 * tests/flow/dnssec.sh). The queue is read again whenever the
	 * environment is written (wait_for_writes), in the same transaction. */
	if (timeout_ms > 0) {
		gint64 until = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

		wake_fd(txn->store); /* watching before the first look: no write is missed */
		while ((rc = q->get(q, txn->txn, &k, &d, DB_CONSUME)) == DB_NOTFOUND &&
		       g_get_monotonic_time() < until)
			wait_for_writes(txn->store, until);
	} else {
		rc = q->get(q, txn->txn, &k, &d, DB_CONSUME);
	}
	if (rc == DB_NOTFOUND || rc == DB_KEYEMPTY || rc == DB_LOCK_NOTGRANTED ||
	    (rc == DB_LOCK_DEADLOCK && timeout_ms > 0)) {
		/* An empty wait ends as a lock timeout; the transaction must be
		 * aborted either way. */
		g_set_error(error, CG_ERROR, CG_ERROR_TIMEOUT, "no job");
		return FALSE;
	}
	if (rc != 0)
		return cg_db_fail(rc, "jobs", error);
	return job_unpack(rec, d.size, out, error);
}

static gboolean
put_aside(CgTxn *txn, const CgJob *job, gint64 due, GError **error)
{
	DB *later = txn->store->db[DBI_JOBS_LATER];
	guint8 key[16], rec[CG_JOB_RECORD_LEN];
	guint64 be = GUINT64_TO_BE((guint64)due);
	CgJob j = *job;
	DBT k = {0}, d = {0};
	int rc;

	j.due = due;
	job_pack(&j, rec);
	memcpy(key, &be, 8);
	if (!cg_random_bytes(key + 8, 8, error))
		return FALSE;
	k.data = key;
	k.size = sizeof(key);
	d.data = rec;
	d.size = sizeof(rec);
	rc = later->put(later, txn->txn, &k, &d, DB_NOOVERWRITE);
	return rc == 0 ? TRUE : cg_db_fail(rc, "jobs_later", error);
}

gboolean
cg_store_job_defer(CgTxn *txn, const CgJob *job, gint64 due, GError **error)
{
	CgJob j = *job;

	j.attempts = (guint16)MIN((guint)j.attempts + 1, G_MAXUINT16);
	return put_aside(txn, &j, due, error);
}

gboolean
cg_store_job_dnscheck_now(CgTxn *txn, const char *domain, const guint8 hash[32], GError **error)
{
	g_autofree char *hex = cg_hex(hash, 32);
	g_autofree char *id = g_strdup_printf("%s|%s|now", domain, hex);

	return cg_store_job_append(txn, CG_JOB_DNSCHECK, id, error);
}

gboolean
cg_store_job_schedule(CgTxn *txn, CgJobKind kind, const char *id, gint64 due, GError **error)
{
	CgJob j;

	return job_new(kind, id, &j, error) && put_aside(txn, &j, due, error);
}

/* The next job record of a cursor on jobs or jobs_later, into kbuf/dbuf. */
static int
job_next(DBC *c, guint8 kbuf[16], guint8 dbuf[CG_JOB_RECORD_LEN], guint32 flags, guint32 *dlen)
{
	DBT k = {0}, d = {0};
	int rc;

	k.data = kbuf;
	k.ulen = 16;
	k.flags = DB_DBT_USERMEM;
	d.data = dbuf;
	d.ulen = CG_JOB_RECORD_LEN;
	d.flags = DB_DBT_USERMEM;
	rc = c->get(c, &k, &d, DB_NEXT | flags);
	*dlen = d.size;
	return rc;
}

static gboolean
release_due(CgTxn *txn, gint64 now, gint *moved, gint64 *next_due, GError **error)
{
	DB *later = txn->store->db[DBI_JOBS_LATER];
	DBC *c = NULL;
	gboolean ok = TRUE;
	int rc;

	*moved = 0;
	*next_due = 0;
	rc = later->cursor(later, txn->txn, &c, 0);
	if (rc != 0)
		return cg_db_fail(rc, "jobs_later", error);
	for (;;) {
		guint8 kbuf[16], dbuf[CG_JOB_RECORD_LEN];
		guint32 dlen = 0;
		guint64 due;
		CgJob j;

		rc = job_next(c, kbuf, dbuf, DB_RMW, &dlen);
		if (rc == DB_NOTFOUND)
			break;
		if (rc != 0) {
			ok = cg_db_fail(rc, "jobs_later", error);
			break;
		}
		memcpy(&due, kbuf, 8);
		if ((gint64)GUINT64_FROM_BE(due) > now) {
			*next_due = (gint64)GUINT64_FROM_BE(due);
			break;
		}
		if (!job_unpack(dbuf, dlen, &j, error) || !queue_put(txn, &j, error)) {
			ok = FALSE;
			break;
		}
		if ((rc = c->del(c, 0)) != 0) {
			ok = cg_db_fail(rc, "jobs_later", error);
			break;
		}
		(*moved)++;
	}
	c->close(c);
	return ok;
}

typedef struct {
	gint64 now;
	gint moved;
	gint64 next_due;
} Release;

static gboolean
release_txn(CgTxn *txn, gpointer data, GError **error)
{
	Release *r = data;

	return release_due(txn, r->now, &r->moved, &r->next_due, error);
}

gint
cg_store_job_release(CgStore *s, gint64 now, gint64 *next_due, GError **error)
{
	Release r = {now, 0, 0};

	if (!cg_store_transact(s, release_txn, &r, error))
		return -1;
	if (next_due != NULL)
		*next_due = r.next_due;
	return r.moved;
}

typedef struct {
	GArray *keys; /* 16-byte keys of the retries, in due order */
	guint from, to;
	gint moved;
} Flush;

static gboolean
flush_txn(CgTxn *txn, gpointer data, GError **error)
{
	Flush *f = data;
	DB *later = txn->store->db[DBI_JOBS_LATER];
	guint i;

	f->moved = 0;
	for (i = f->from; i < f->to; i++) {
		guint8 *key = &g_array_index(f->keys, guint8, i * 16), rec[CG_JOB_RECORD_LEN];
		DBT k = {0}, d = {0};
		CgJob j;
		int rc;

		k.data = key;
		k.size = 16;
		d.data = rec;
		d.ulen = sizeof(rec);
		d.flags = DB_DBT_USERMEM;
		rc = later->get(later, txn->txn, &k, &d, DB_RMW);
		if (rc == DB_NOTFOUND)
			continue; /* the issuer released it meanwhile */
		if (rc != 0)
			return cg_db_fail(rc, "jobs_later", error);
		if (!job_unpack(rec, d.size, &j, error) || !queue_put(txn, &j, error))
			return FALSE;
		if ((rc = later->del(later, txn->txn, &k, 0)) != 0)
			return cg_db_fail(rc, "jobs_later", error);
		f->moved++;
	}
	return TRUE;
}

gint
cg_store_job_flush(CgStore *s, GError **error)
{
	g_autoptr(GArray) keys = g_array_new(FALSE, FALSE, 1);
	DB *later = s->db[DBI_JOBS_LATER];
	DBC *c = NULL;
	gint moved = 0;
	guint n, i;
	int rc;

	/* Which are retries, read without locks; then moved in batches, each
	 * looked up again in its transaction. */
	rc = later->cursor(later, NULL, &c, DB_READ_COMMITTED);
	if (rc != 0) {
		cg_db_fail(rc, "jobs_later", error);
		return -1;
	}
	for (;;) {
		guint8 kbuf[16], dbuf[CG_JOB_RECORD_LEN];
		guint32 dlen = 0;
		guint16 att;

		rc = job_next(c, kbuf, dbuf, 0, &dlen);
		if (rc == DB_NOTFOUND)
			break;
		if (rc != 0) {
			c->close(c);
			cg_db_fail(rc, "jobs_later", error);
			return -1;
		}
		memcpy(&att, dbuf + 2, 2);
		if (dlen == CG_JOB_RECORD_LEN && GUINT16_FROM_BE(att) > 0)
			g_array_append_vals(keys, kbuf, 16);
	}
	c->close(c);
	n = keys->len / 16;
	for (i = 0; i < n; i += 500) {
		Flush f = {keys, i, MIN(i + 500, n), 0};

		if (!cg_store_transact(s, flush_txn, &f, error))
			return -1;
		moved += f.moved;
	}
	return moved;
}

static gboolean
list_db(CgStore *s, int dbi, const char *name, CgJobFunc fn, gpointer data, gboolean *more,
        GError **error)
{
	DB *db = s->db[dbi];
	DBC *c = NULL;
	gboolean ok = TRUE;
	int rc;

	if ((rc = db->cursor(db, NULL, &c, DB_READ_COMMITTED)) != 0)
		return cg_db_fail(rc, name, error);
	while (*more) {
		guint8 kbuf[16], dbuf[CG_JOB_RECORD_LEN];
		guint32 dlen = 0;
		CgJob j;

		rc = job_next(c, kbuf, dbuf, 0, &dlen);
		if (rc == DB_NOTFOUND)
			break;
		if (rc != 0) {
			ok = cg_db_fail(rc, name, error);
			break;
		}
		if (!job_unpack(dbuf, dlen, &j, error)) {
			ok = FALSE;
			break;
		}
		*more = fn(&j, data);
	}
	c->close(c);
	return ok;
}

gboolean
cg_store_job_list(CgStore *s, CgJobFunc fn, gpointer data, GError **error)
{
	gboolean more = TRUE;

	return list_db(s, DBI_JOBS, "jobs", fn, data, &more, error) &&
	       list_db(s, DBI_JOBS_LATER, "jobs_later", fn, data, &more, error);
}

gboolean
cg_store_job_count(CgStore *s, guint64 *queued, guint64 *deferred, GError **error)
{
	DB_QUEUE_STAT *qs = NULL;
	DB_BTREE_STAT *bs = NULL;
	int rc;

	rc = s->db[DBI_JOBS]->stat(s->db[DBI_JOBS], NULL, &qs, 0);
	if (rc != 0)
		return cg_db_fail(rc, "jobs", error);
	*queued = qs->qs_nkeys;
	free(qs);
	rc = s->db[DBI_JOBS_LATER]->stat(s->db[DBI_JOBS_LATER], NULL, &bs, 0);
	if (rc != 0)
		return cg_db_fail(rc, "jobs_later", error);
	*deferred = bs->bt_nkeys;
	free(bs);
	return TRUE;
}

/* ---- seen ---- */

#define SEEN_VERSION 1
#define SEEN_T       "(sx)"

/* The key: the digest, then the scope (the gateway address's handler), so
 * that one message taken at one address is still new at another. Records
 * written before seen was scoped are the digest alone; a lookup finds them
 * too, so that an upgrade never turns a duplicate into a new request. */
static void
seen_key(const guint8 digest[32], const char *scope, GByteArray *k)
{
	g_byte_array_append(k, digest, 32);
	if (scope != NULL)
		g_byte_array_append(k, (const guint8 *)scope, (guint)strlen(scope));
}

static char *
seen_lookup(DB *db, CgTxn *txn, const GByteArray *key, GError **error)
{
	g_autoptr(GVariant) body = NULL;
	DBT k = {0}, d = {0};
	char *id = NULL;
	gint64 when;
	int rc;

	k.data = key->data;
	k.size = key->len;
	d.flags = DB_DBT_MALLOC;
	rc = db->get(db, cg_txn_raw(txn), &k, &d, 0);
	if (rc != 0) {
		cg_db_fail(rc, "seen", error);
		return NULL;
	}
	body = cg_envelope_open(d.data, d.size, SEEN_VERSION, SEEN_T, error);
	free(d.data);
	if (body == NULL)
		return NULL;
	g_variant_get(body, SEEN_T, &id, &when);
	return id;
}

char *
cg_store_seen_get(CgStore *s, CgTxn *txn, const guint8 digest[32], const char *scope,
                  GError **error)
{
	g_autoptr(GByteArray) k = g_byte_array_new();
	g_autoptr(GError) err = NULL;
	char *id;

	seen_key(digest, scope, k);
	if ((id = seen_lookup(s->db[DBI_SEEN], txn, k, &err)) != NULL || scope == NULL ||
	    !g_error_matches(err, CG_ERROR, CG_ERROR_NOT_FOUND)) {
		if (id == NULL)
			g_propagate_error(error, g_steal_pointer(&err));
		return id;
	}
	g_byte_array_set_size(k, 32);
	return seen_lookup(s->db[DBI_SEEN], txn, k, error);
}

gboolean
cg_store_seen_put(CgTxn *txn, const guint8 digest[32], const char *scope, const char *request_id,
                  gint64 when, GError **error)
{
	DB *db = txn->store->db[DBI_SEEN];
	g_autoptr(GBytes) val =
	    cg_envelope_pack(SEEN_VERSION, g_variant_new(SEEN_T, request_id, when));
	g_autoptr(GByteArray) key = g_byte_array_new();
	DBT k = {0}, d = {0};
	gsize len;
	int rc;

	seen_key(digest, scope, key);
	k.data = key->data;
	k.size = key->len;
	d.data = (void *)g_bytes_get_data(val, &len);
	d.size = (u_int32_t)len;
	rc = db->put(db, txn->txn, &k, &d, DB_NOOVERWRITE);
	if (rc == DB_KEYEXIST) {
		g_set_error(error, CG_ERROR, CG_ERROR_DUPLICATE, "seen: committed before");
		return FALSE;
	}
	return rc == 0 ? TRUE : cg_db_fail(rc, "seen", error);
}
