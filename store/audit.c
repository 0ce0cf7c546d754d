/*
 * audit.c: the hash-chained audit log.
 *
 * Entry n holds SHA-256 of entry n-1's stored bytes (32 zero bytes for entry
 * 1), so changing, removing or reordering any entry breaks every link after
 * it. meta:"audit-head" holds the last sequence number and its hash, written
 * in the same transaction, so that a cut-off tail is noticed too. Appending
 * reads the tail with a write lock: concurrent appenders queue up and the
 * chain stays linear.
 */
#include "store-int.h"

#include <stdlib.h>
#include <string.h>

#define AUDIT_VERSION 1
#define AUDIT_T       "(txssssay)"
#define AUDIT_F       "(txssss@ay)"
#define MAX_FIELD     4096

static const char head_key[] = "audit-head";

void
cg_audit_entry_free(CgAuditEntry *e)
{
	if (e == NULL)
		return;
	g_free(e->actor);
	g_free(e->action);
	g_free(e->object);
	g_free(e->detail);
	g_free(e);
}

static CgAuditEntry *
entry_decode(const void *data, gsize len, GError **error)
{
	g_autoptr(GVariant) body = cg_envelope_open(data, len, AUDIT_VERSION, AUDIT_T, error);
	g_autoptr(GVariant) prev = NULL;
	CgAuditEntry *e;
	const guint8 *p;
	gsize n;

	if (body == NULL)
		return NULL;
	e = g_new0(CgAuditEntry, 1);
	g_variant_get(body, AUDIT_F, &e->seq, &e->time, &e->actor, &e->action, &e->object,
	              &e->detail, &prev);
	p = g_variant_get_fixed_array(prev, &n, 1);
	if (n != 32) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "audit entry has a bad link");
		cg_audit_entry_free(e);
		return NULL;
	}
	memcpy(e->prev, p, 32);
	return e;
}

static char *
clip(const char *s)
{
	return cg_text_safe(s ? s : "", -1, MAX_FIELD);
}

gboolean
cg_store_audit_append(CgTxn *txn, gint64 when, const char *actor, const char *action,
                      const char *object, const char *detail, GError **error)
{
	DB *db = txn->store->db[DBI_AUDIT], *meta = txn->store->db[DBI_META];
	g_autofree char *a = clip(actor), *ac = clip(action), *o = clip(object), *dt = clip(detail);
	guint8 prev[32] = {0}, head[40];
	guint64 seq = 0, be;
	g_autoptr(GBytes) val = NULL;
	DBC *c = NULL;
	DBT k = {0}, d = {0};
	gsize len;
	int rc;

	rc = db->cursor(db, txn->txn, &c, 0);
	if (rc != 0)
		return cg_db_fail(rc, "audit", error);
	k.flags = DB_DBT_MALLOC;
	d.flags = DB_DBT_MALLOC;
	rc = c->get(c, &k, &d, DB_LAST | DB_RMW);
	c->close(c);
	if (rc == 0) {
		if (k.size == 8) {
			memcpy(&be, k.data, 8);
			seq = GUINT64_FROM_BE(be);
		}
		cg_sha256(d.data, d.size, prev);
		free(k.data);
		free(d.data);
		if (seq == 0) {
			g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "audit log tail is corrupt");
			return FALSE;
		}
	} else if (rc != DB_NOTFOUND) {
		return cg_db_fail(rc, "audit", error);
	}
	seq++;
	val = cg_envelope_pack(AUDIT_VERSION, g_variant_new(AUDIT_F, seq, when, a, ac, o, dt,
	                                                    g_variant_new_fixed_array(
	                                                        G_VARIANT_TYPE_BYTE, prev, 32, 1)));
	be = GUINT64_TO_BE(seq);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = &be;
	k.size = 8;
	d.data = (void *)g_bytes_get_data(val, &len);
	d.size = (u_int32_t)len;
	rc = db->put(db, txn->txn, &k, &d, DB_NOOVERWRITE);
	if (rc != 0)
		return cg_db_fail(rc, "audit", error);
	memcpy(head, &be, 8);
	cg_sha256(d.data, d.size, head + 8);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)head_key;
	k.size = sizeof(head_key) - 1;
	d.data = head;
	d.size = sizeof(head);
	rc = meta->put(meta, txn->txn, &k, &d, 0);
	return rc == 0 ? TRUE : cg_db_fail(rc, "meta", error);
}

gboolean
cg_store_audit_lock(CgTxn *txn, GError **error)
{
	DB *db = txn->store->db[DBI_AUDIT];
	DBC *c = NULL;
	DBT k = {0}, d = {0};
	int rc;

	if ((rc = db->cursor(db, txn->txn, &c, 0)) != 0)
		return cg_db_fail(rc, "audit", error);
	/* Only the lock is wanted, not the entry: nothing is copied. */
	k.flags = d.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
	rc = c->get(c, &k, &d, DB_LAST | DB_RMW);
	c->close(c);
	return rc == 0 || rc == DB_NOTFOUND ? TRUE : cg_db_fail(rc, "audit", error);
}

gboolean
cg_store_debug_lock_head(CgTxn *txn, GError **error)
{
	DB *meta = txn->store->db[DBI_META];
	DBT k = {0}, d = {0};
	int rc;

	k.data = (void *)head_key;
	k.size = sizeof(head_key) - 1;
	d.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
	rc = meta->get(meta, txn->txn, &k, &d, DB_RMW);
	return rc == 0 || rc == DB_NOTFOUND ? TRUE : cg_db_fail(rc, "meta", error);
}

static gboolean
read_head(CgStore *s, guint64 *seq, guint8 hash[32], GError **error)
{
	DB *meta = s->db[DBI_META];
	guint8 head[40];
	guint64 be;
	DBT k = {0}, d = {0};
	int rc;

	k.data = (void *)head_key;
	k.size = sizeof(head_key) - 1;
	d.data = head;
	d.ulen = sizeof(head);
	d.flags = DB_DBT_USERMEM;
	rc = meta->get(meta, NULL, &k, &d, 0);
	if (rc == DB_NOTFOUND) {
		*seq = 0;
		memset(hash, 0, 32);
		return TRUE;
	}
	if (rc != 0 || d.size != sizeof(head))
		return rc != 0 ? cg_db_fail(rc, "meta", error)
		               : (g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT,
		                              "audit head is corrupt"),
		                  FALSE);
	memcpy(&be, head, 8);
	*seq = GUINT64_FROM_BE(be);
	memcpy(hash, head + 8, 32);
	return TRUE;
}

typedef struct {
	CgStoreVisit visit;
	gpointer data;
} Walk;

/* Walks every entry in key order, checking each link. */
static gboolean
walk_chain(CgStore *s, guint64 *count, guint64 *broken_at, guint8 last[32], const Walk *w,
           GError **error)
{
	DB *db = s->db[DBI_AUDIT];
	DBC *c = NULL;
	guint64 expect = 1;
	gboolean ok = TRUE;
	int rc;

	memset(last, 0, 32);
	*broken_at = 0;
	rc = db->cursor(db, NULL, &c, DB_READ_COMMITTED);
	if (rc != 0)
		return cg_db_fail(rc, "audit", error);
	for (;; expect++) {
		g_autoptr(CgAuditEntry) e = NULL;
		g_autoptr(GError) err = NULL;
		DBT k = {0}, d = {0};
		guint64 be = 0;

		k.flags = DB_DBT_MALLOC;
		d.flags = DB_DBT_MALLOC;
		rc = c->get(c, &k, &d, DB_NEXT);
		if (rc == DB_NOTFOUND)
			break;
		if (rc != 0) {
			ok = cg_db_fail(rc, "audit", error);
			break;
		}
		if (k.size == 8)
			memcpy(&be, k.data, 8);
		e = entry_decode(d.data, d.size, &err);
		if (e == NULL || k.size != 8 || GUINT64_FROM_BE(be) != expect || e->seq != expect ||
		    !cg_memeq_ct(e->prev, last, 32)) {
			g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT,
			            "audit chain broken at entry %" G_GUINT64_FORMAT "%s%s", expect,
			            err ? ": " : "", err ? err->message : "");
			*broken_at = expect;
			ok = FALSE;
		} else {
			cg_sha256(d.data, d.size, last);
			if (w != NULL && !w->visit(e, w->data))
				ok = FALSE;
		}
		free(k.data);
		free(d.data);
		if (!ok)
			break;
	}
	c->close(c);
	*count = expect - 1;
	return ok;
}

gboolean
cg_store_audit_verify(CgStore *s, guint64 *count, guint64 *broken_at, guint8 head[32],
                      GError **error)
{
	guint64 head_seq;
	guint8 head_hash[32];

	if (!walk_chain(s, count, broken_at, head, NULL, error))
		return FALSE;
	if (!read_head(s, &head_seq, head_hash, error))
		return FALSE;
	if (head_seq != *count || !cg_memeq_ct(head_hash, head, 32)) {
		*broken_at = MIN(head_seq, *count) + 1;
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT,
		            "audit chain ends at entry %" G_GUINT64_FORMAT
		            " but its recorded head is entry %" G_GUINT64_FORMAT,
		            *count, head_seq);
		return FALSE;
	}
	return TRUE;
}

gboolean
cg_store_audit_foreach(CgStore *s, CgStoreVisit visit, gpointer data, GError **error)
{
	Walk w = {visit, data};
	guint64 count, broken;
	guint8 last[32];
	g_autoptr(GError) err = NULL;

	if (walk_chain(s, &count, &broken, last, &w, &err))
		return TRUE;
	/* A visit that asked to stop is not an error. */
	if (err == NULL)
		return TRUE;
	g_propagate_error(error, g_steal_pointer(&err));
	return FALSE;
}

gboolean
cg_store_audit_since(CgStore *s, gint64 since, CgStoreVisit visit, gpointer data,
                     GError **error)
{
	DB *db = s->db[DBI_AUDIT];
	DBC *c = NULL;
	gboolean ok = TRUE;
	int rc;

	rc = db->cursor(db, NULL, &c, DB_READ_COMMITTED);
	if (rc != 0)
		return cg_db_fail(rc, "audit", error);
	for (rc = 0;;) {
		g_autoptr(CgAuditEntry) e = NULL;
		DBT k = {0}, d = {0};

		k.flags = DB_DBT_MALLOC;
		d.flags = DB_DBT_MALLOC;
		rc = c->get(c, &k, &d, DB_PREV);
		if (rc == DB_NOTFOUND)
			break;
		if (rc != 0) {
			ok = cg_db_fail(rc, "audit", error);
			break;
		}
		e = entry_decode(d.data, d.size, error);
		free(k.data);
		free(d.data);
		if (e == NULL) {
			ok = FALSE;
			break;
		}
		/* Entries are appended in time order but for transactions that
		 * overlapped (each stamps its own start): the walk ends at the
		 * first entry five minutes older than since. */
		if (e->time < since - 300)
			break;
		if (e->time >= since && !visit(e, data))
			break;
	}
	c->close(c);
	return ok;
}

gboolean
cg_audit_check_all(CgStore *s, GString *report)
{
	g_autoptr(GError) err = NULL;
	guint64 count = 0, broken = 0;
	guint8 head[32];
	g_autofree char *hex = NULL;

	if (!cg_store_audit_verify(s, &count, &broken, head, &err)) {
		g_string_append_printf(report, "audit: %s\n", err->message);
		return FALSE;
	}
	hex = cg_hex(head, 32);
	g_string_append_printf(
	    report, "audit: %" G_GUINT64_FORMAT " entries, chain intact, head %s\n", count, hex);
	return TRUE;
}
