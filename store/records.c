/*
 * records.c: reading, writing and listing typed records.
 *
 * Reads inside a transaction take a write lock (DB_RMW): every reader in
 * certgate reads in order to update, and taking the write lock at once avoids
 * the read-then-upgrade deadlock between two such transactions.
 */
#include "store-int.h"

#include <stdlib.h>
#include <string.h>

#define S(x) ((x) != NULL ? (x) : "")

/* The stored bytes of a record into d (malloc'd: the caller frees
 * d->data), read as txn reads: BDB's return code. */
static int
rec_get_raw(CgStore *s, CgTxn *txn, CgRecordKind kind, const void *key, gsize klen, DBT *d)
{
	DB *db = s->db[cg_record_dbi(kind)];
	DBT k = {0};

	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	memset(d, 0, sizeof(*d));
	d->flags = DB_DBT_MALLOC;
	return db->get(db, cg_txn_raw(txn), &k, d,
	               txn == NULL           ? 0
	               : txn->read_committed ? DB_READ_COMMITTED
	                                     : DB_RMW);
}

static gpointer
rec_get(CgStore *s, CgTxn *txn, CgRecordKind kind, const void *key, gsize klen, GError **error)
{
	DBT d;
	gpointer rec;
	int rc = rec_get_raw(s, txn, kind, key, klen, &d);

	if (rc != 0) {
		cg_db_fail(rc, cg_db_specs[cg_record_dbi(kind)].name, error);
		return NULL;
	}
	rec = cg_record_decode(kind, d.data, d.size, error);
	free(d.data);
	return rec;
}

/* The record a put in this thread is writing, decoded: the secondary index
 * callbacks BDB calls during that put get these very bytes, and take the
 * fields from here instead of decoding the record once per index. */
static __thread struct {
	const void *data;
	u_int32_t size;
	CgRecordKind kind;
	gconstpointer rec;
} putting;

static gboolean
rec_put(CgTxn *txn, CgRecordKind kind, gconstpointer rec, u_int32_t flags, GError **error)
{
	int dbi = cg_record_dbi(kind);
	DB *db = txn->store->db[dbi];
	g_autoptr(GByteArray) key = g_byte_array_new();
	g_autoptr(GBytes) val = cg_record_encode(kind, rec);
	DBT k = {0}, d = {0};
	gsize vlen;
	int rc;

	cg_record_key(kind, rec, key);
	k.data = key->data;
	k.size = key->len;
	d.data = (void *)g_bytes_get_data(val, &vlen);
	d.size = (u_int32_t)vlen;
	putting.data = d.data;
	putting.size = d.size;
	putting.kind = kind;
	putting.rec = rec;
	rc = db->put(db, txn->txn, &k, &d, flags);
	putting.data = NULL;
	putting.rec = NULL;
	return rc == 0 ? TRUE : cg_db_fail(rc, cg_db_specs[dbi].name, error);
}

static gboolean
rec_del(CgTxn *txn, CgRecordKind kind, const void *key, gsize klen, GError **error)
{
	DB *db = txn->store->db[cg_record_dbi(kind)];
	DBT k = {0};
	int rc;

	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	rc = db->del(db, txn->txn, &k, 0);
	return rc == 0 ? TRUE : cg_db_fail(rc, cg_db_specs[cg_record_dbi(kind)].name, error);
}

CgOrg *
cg_store_org_get(CgStore *s, CgTxn *txn, const char *id, GError **error)
{
	return rec_get(s, txn, CG_REC_ORG, id, strlen(id), error);
}

gboolean
cg_store_org_put(CgTxn *txn, const CgOrg *o, GError **error)
{
	return rec_put(txn, CG_REC_ORG, o, 0, error);
}

gboolean
cg_store_org_del(CgTxn *txn, const char *id, GError **error)
{
	return rec_del(txn, CG_REC_ORG, id, strlen(id), error);
}

CgDomain *
cg_store_domain_get(CgStore *s, CgTxn *txn, const char *domain, GError **error)
{
	return rec_get(s, txn, CG_REC_DOMAIN, domain, strlen(domain), error);
}

gboolean
cg_store_domain_put(CgTxn *txn, const CgDomain *d, GError **error)
{
	return rec_put(txn, CG_REC_DOMAIN, d, 0, error);
}

gboolean
cg_domain_fill_validated(CgDomain *d, const CgDomain *old, const char *domain, const char *org_id,
                         const char *method, const char *rule_version, const char *evidence,
                         const char *local_part, gint64 now, gint64 reuse)
{
	gboolean moved = old != NULL && strcmp(old->org_id, org_id) != 0;

	*d = (CgDomain){0};
	d->domain = (char *)domain;
	d->org_id = (char *)org_id;
	d->status = CG_DOMAIN_VALIDATED;
	d->validated_at = now;
	d->expires_at = now + reuse;
	d->method = (char *)method;
	d->rule_version = (char *)rule_version;
	d->evidence = (char *)evidence;
	d->local_part = (char *)local_part;
	d->previous_org = moved ? old->org_id : old ? old->previous_org : (char *)"";
	d->challenged_at = old ? old->challenged_at : 0;
	return moved;
}

gboolean
cg_store_domain_del(CgTxn *txn, const char *domain, GError **error)
{
	return rec_del(txn, CG_REC_DOMAIN, domain, strlen(domain), error);
}

CgAdmin *
cg_store_admin_get(CgStore *s, CgTxn *txn, const char *address, GError **error)
{
	return rec_get(s, txn, CG_REC_ADMIN, address, strlen(address), error);
}

gboolean
cg_store_admin_put(CgTxn *txn, const CgAdmin *a, GError **error)
{
	return rec_put(txn, CG_REC_ADMIN, a, 0, error);
}

gboolean
cg_store_admin_del(CgTxn *txn, const char *address, GError **error)
{
	return rec_del(txn, CG_REC_ADMIN, address, strlen(address), error);
}

CgChallenge *
cg_store_challenge_get(CgStore *s, CgTxn *txn, const guint8 hash[32], GError **error)
{
	return rec_get(s, txn, CG_REC_CHALLENGE, hash, 32, error);
}

gboolean
cg_store_challenge_put(CgTxn *txn, const CgChallenge *c, GError **error)
{
	return rec_put(txn, CG_REC_CHALLENGE, c, 0, error);
}

CgRequest *
cg_store_request_get(CgStore *s, CgTxn *txn, const char *id, GError **error)
{
	return rec_get(s, txn, CG_REC_REQUEST, id, strlen(id), error);
}

gboolean
cg_store_request_put(CgTxn *txn, const CgRequest *r, GError **error)
{
	return rec_put(txn, CG_REC_REQUEST, r, 0, error);
}

CgItem *
cg_store_item_get(CgStore *s, CgTxn *txn, const char *request_id, guint32 index, GError **error)
{
	g_autoptr(GByteArray) k = g_byte_array_new();

	cg_item_key(request_id, index, k);
	return rec_get(s, txn, CG_REC_ITEM, k->data, k->len, error);
}

GBytes *
cg_store_item_csr_hint(CgStore *s, CgTxn *txn, const char *request_id, guint32 index)
{
	g_autoptr(GByteArray) k = g_byte_array_new();
	DBT d;
	GBytes *csr;

	cg_item_key(request_id, index, k);
	if (rec_get_raw(s, txn, CG_REC_ITEM, k->data, k->len, &d) != 0)
		return NULL;
	csr = cg_item_csr_hint(d.data, d.size);
	free(d.data);
	return csr;
}

gboolean
cg_store_item_put(CgTxn *txn, const CgItem *i, GError **error)
{
	return rec_put(txn, CG_REC_ITEM, i, 0, error);
}

char *
cg_item_name(const char *request_id, guint32 index)
{
	return g_strdup_printf("%s#%u", request_id, index);
}

CgCert *
cg_store_cert_get(CgStore *s, CgTxn *txn, const char *serial, GError **error)
{
	return rec_get(s, txn, CG_REC_CERT, serial, strlen(serial), error);
}

gboolean
cg_store_cert_add(CgTxn *txn, const CgCert *c, GError **error)
{
	return rec_put(txn, CG_REC_CERT, c, DB_NOOVERWRITE, error);
}

gboolean
cg_store_cert_update(CgTxn *txn, const CgCert *c, GError **error)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgCert) old = cg_store_cert_get(txn->store, txn, c->serial, &err);

	if (old == NULL) {
		g_propagate_error(error, g_steal_pointer(&err));
		return FALSE;
	}
	return rec_put(txn, CG_REC_CERT, c, 0, error);
}

/* ---- listings ---- */

static gboolean
visit_raw(CgRecordKind kind, const DBT *d, CgStoreVisit visit, gpointer data, gboolean *stop,
          GError **error)
{
	gpointer rec = cg_record_decode(kind, d->data, d->size, error);

	if (rec == NULL)
		return FALSE;
	*stop = !visit(rec, data);
	cg_record_free(kind, rec);
	return TRUE;
}

/* Walks a cursor from (start, op) on, while keep(key) holds. */
static gboolean
walk(DBC *c, CgRecordKind kind, DBT *k, u_int32_t first_op, u_int32_t next_op,
     gboolean (*keep)(const DBT *, gconstpointer), gconstpointer arg, gboolean secondary,
     CgStoreVisit visit, gpointer data, GError **error)
{
	u_int32_t op = first_op;
	gboolean ok = TRUE, stop = FALSE;

	for (;;) {
		DBT d = {0}, pk = {0};
		int rc;

		d.flags = DB_DBT_REALLOC;
		pk.flags = DB_DBT_REALLOC;
		rc = secondary ? c->pget(c, k, &pk, &d, op) : c->get(c, k, &d, op);
		free(pk.data);
		if (rc == DB_NOTFOUND) {
			free(d.data);
			break;
		}
		if (rc != 0) {
			free(d.data);
			ok = cg_db_fail(rc, "cursor", error);
			break;
		}
		op = next_op;
		if (keep != NULL && !keep(k, arg)) {
			free(d.data);
			break;
		}
		ok = visit_raw(kind, &d, visit, data, &stop, error);
		free(d.data);
		if (!ok || stop)
			break;
	}
	return ok;
}

gboolean
cg_store_foreach(CgStore *s, CgTxn *txn, CgRecordKind kind, CgStoreVisit visit, gpointer data,
                 GError **error)
{
	DB *db = s->db[cg_record_dbi(kind)];
	DBC *c = NULL;
	DBT k = {0};
	gboolean ok;
	int rc;

	rc = db->cursor(db, cg_txn_raw(txn), &c, txn ? 0 : DB_READ_COMMITTED);
	if (rc != 0)
		return cg_db_fail(rc, "cursor", error);
	k.flags = DB_DBT_REALLOC;
	ok = walk(c, kind, &k, DB_FIRST, DB_NEXT, NULL, NULL, FALSE, visit, data, error);
	free(k.data);
	c->close(c);
	return ok;
}

static gboolean
has_prefix(const DBT *k, gconstpointer arg)
{
	const GByteArray *prefix = arg;

	return k->size >= prefix->len && memcmp(k->data, prefix->data, prefix->len) == 0;
}

/* A time key (8 bytes, big-endian) not past the one in arg. */
static gboolean
not_after_limit(const DBT *k, gconstpointer arg)
{
	return k->size == sizeof(guint64) && memcmp(k->data, arg, sizeof(guint64)) <= 0;
}

/* Each index: its database, and the kind of the records it leads to. */
static const struct {
	int dbi;
	CgRecordKind kind;
} idx[CG_INDEX_N] = {
    [CG_INDEX_DOMAIN_BY_ORG] = {DBI_DOMAIN_BY_ORG, CG_REC_DOMAIN},
    [CG_INDEX_ADMIN_BY_ORG] = {DBI_ADMIN_BY_ORG, CG_REC_ADMIN},
    [CG_INDEX_CERT_BY_MAILBOX] = {DBI_CERT_BY_MAILBOX, CG_REC_CERT},
    [CG_INDEX_CERT_BY_ORG] = {DBI_CERT_BY_ORG, CG_REC_CERT},
    [CG_INDEX_CERT_BY_SPKI] = {DBI_CERT_BY_SPKI, CG_REC_CERT},
    [CG_INDEX_ITEM_BY_REQUEST] = {DBI_ITEMS, CG_REC_ITEM},
};

gboolean
cg_store_foreach_by(CgStore *s, CgTxn *txn, CgIndex index, const char *key, CgStoreVisit visit,
                    gpointer data, GError **error)
{
	g_autoptr(GByteArray) kb = g_byte_array_new();
	gboolean secondary = index != CG_INDEX_ITEM_BY_REQUEST;
	DB *db = s->db[idx[index].dbi];
	DBC *c = NULL;
	DBT k = {0};
	gboolean ok;
	int rc;

	if (index == CG_INDEX_CERT_BY_SPKI) {
		guint8 h[32];

		if (!cg_hex_decode(key, h, sizeof(h))) {
			g_set_error(error, CG_ERROR, CG_ERROR_USAGE, "SPKI hash must be 64 hex");
			return FALSE;
		}
		g_byte_array_append(kb, h, sizeof(h));
	} else {
		/* Items: every key that starts with "request id\0". */
		g_byte_array_append(kb, (const guint8 *)key, strlen(key) + !secondary);
	}
	rc = db->cursor(db, cg_txn_raw(txn), &c,
	                txn == NULL || txn->read_committed ? DB_READ_COMMITTED : 0);
	if (rc != 0)
		return cg_db_fail(rc, "cursor", error);
	k.data = g_memdup2(kb->data, kb->len);
	k.size = kb->len;
	k.flags = DB_DBT_REALLOC;
	if (secondary)
		ok = walk(c, idx[index].kind, &k, DB_SET, DB_NEXT_DUP, NULL, NULL, TRUE, visit,
		          data, error);
	else
		ok = walk(c, idx[index].kind, &k, DB_SET_RANGE, DB_NEXT, has_prefix, kb, FALSE,
		          visit, data, error);
	/* DB_DBT_REALLOC: the library may have replaced k.data with its own. */
	if (k.data != NULL)
		free(k.data);
	c->close(c);
	return ok;
}

/* Reads every page of an index into the shared cache, unless the index is
 * more than half the cache (it would only push out other pages). Pages are
 * read through the cache, without a transaction and without locks: a page
 * being written is waited for, never changed. A process that looks the
 * index up for most requests calls this once, when it starts, so that its
 * lookups do not each wait for a page from the disk. *pages: how many were
 * read (0: the index is too large for the cache). */
gboolean
cg_store_warm(CgStore *s, CgIndex index, guint64 *pages, GError **error)
{
	DB *db = s->db[idx[index].dbi];
	DB_MPOOLFILE *mpf = db->get_mpf(db);
	u_int32_t gb = 0, b = 0, pagesize = 0;
	db_pgno_t last = 0, pg;
	int ncache = 0, rc;

	*pages = 0;
	if ((rc = s->env->get_cachesize(s->env, &gb, &b, &ncache)) != 0 ||
	    (rc = db->get_pagesize(db, &pagesize)) != 0 ||
	    (rc = mpf->get_last_pgno(mpf, &last)) != 0)
		return cg_db_fail(rc, "warm", error);
	if (((guint64)last + 1) * pagesize > ((guint64)gb * 1024 * 1024 * 1024 + b) / 2)
		return TRUE;
	for (pg = 0; pg <= last; pg++) {
		void *page;

		if ((rc = mpf->get(mpf, &pg, NULL, 0, &page)) != 0)
			return cg_db_fail(rc, "warm", error);
		if ((rc = mpf->put(mpf, page, DB_PRIORITY_UNCHANGED, 0)) != 0)
			return cg_db_fail(rc, "warm", error);
		(*pages)++;
	}
	return TRUE;
}

/* ---- secondary keys ---- */

/* The record in data: the one being put (not to be freed), or decoded. */
static gconstpointer
index_record(CgRecordKind kind, const DBT *data, gpointer *decoded)
{
	*decoded = NULL;
	if (putting.rec != NULL && putting.data == data->data && putting.size == data->size &&
	    putting.kind == kind)
		return putting.rec;
	return *decoded = cg_record_decode_own(kind, data->data, data->size);
}

static int
index_string(CgRecordKind kind, const DBT *data, DBT *result,
             const char *(*field)(gconstpointer rec))
{
	gpointer decoded;
	gconstpointer rec = index_record(kind, data, &decoded);
	const char *v;

	if (rec == NULL)
		return DB_DONOTINDEX;
	v = field(rec);
	memset(result, 0, sizeof(*result));
	result->size = (u_int32_t)strlen(v);
	result->data = malloc(result->size ? result->size : 1);
	memcpy(result->data, v, result->size);
	result->flags = DB_DBT_APPMALLOC;
	if (decoded != NULL)
		cg_record_free(kind, decoded);
	return 0;
}

static const char *
domain_org(gconstpointer r)
{
	return S(((const CgDomain *)r)->org_id);
}

static const char *
admin_org(gconstpointer r)
{
	return S(((const CgAdmin *)r)->org_id);
}

static const char *
cert_mailbox(gconstpointer r)
{
	return S(((const CgCert *)r)->mailbox);
}

static const char *
cert_org(gconstpointer r)
{
	return S(((const CgCert *)r)->org_id);
}

int
cg_index_domain_org(DB *sec, const DBT *key, const DBT *data, DBT *result)
{
	(void)sec;
	(void)key;
	return index_string(CG_REC_DOMAIN, data, result, domain_org);
}

int
cg_index_admin_org(DB *sec, const DBT *key, const DBT *data, DBT *result)
{
	(void)sec;
	(void)key;
	return index_string(CG_REC_ADMIN, data, result, admin_org);
}

int
cg_index_cert_mailbox(DB *sec, const DBT *key, const DBT *data, DBT *result)
{
	(void)sec;
	(void)key;
	return index_string(CG_REC_CERT, data, result, cert_mailbox);
}

int
cg_index_cert_org(DB *sec, const DBT *key, const DBT *data, DBT *result)
{
	(void)sec;
	(void)key;
	return index_string(CG_REC_CERT, data, result, cert_org);
}

int
cg_index_cert_spki(DB *sec, const DBT *key, const DBT *data, DBT *result)
{
	gpointer decoded;
	const CgCert *c = index_record(CG_REC_CERT, data, &decoded);

	(void)sec;
	(void)key;
	if (c == NULL)
		return DB_DONOTINDEX;
	memset(result, 0, sizeof(*result));
	result->size = 32;
	result->data = malloc(32);
	memcpy(result->data, c->spki_sha256, 32);
	result->flags = DB_DBT_APPMALLOC;
	if (decoded != NULL)
		cg_cert_free(decoded);
	return 0;
}

/* The key of an index keyed by a time: 8 bytes, big-endian, so that the
 * keys sort by time. */
static int
time_result(DBT *result, gint64 t)
{
	guint64 be = GUINT64_TO_BE((guint64)MAX(t, 0));

	memset(result, 0, sizeof(*result));
	result->size = sizeof(be);
	result->data = malloc(sizeof(be));
	memcpy(result->data, &be, sizeof(be));
	result->flags = DB_DBT_APPMALLOC;
	return 0;
}

/* The indexes keyed by a time: whether rec belongs in index dbi, and at
 * what time. certs_revoked: a revoked certificate's notAfter;
 * certs_by_expiry: every certificate's notAfter; requests_held: a held
 * request's creation. The keys the callbacks below give, and what
 * cg_store_check expects of each entry. */
gboolean
cg_index_time_of(int dbi, gconstpointer rec, gint64 *t)
{
	const CgCert *c = rec;
	const CgRequest *r = rec;

	switch (dbi) {
	case DBI_CERT_REVOKED:
		*t = c->not_after;
		return c->status == CG_CERT_REVOKED;
	case DBI_CERT_BY_EXPIRY:
		*t = c->not_after;
		return TRUE;
	case DBI_REQUEST_HELD:
		*t = r->created;
		return r->status == CG_REQUEST_HELD;
	default:
		return FALSE;
	}
}

static int
index_time(int dbi, CgRecordKind kind, const DBT *data, DBT *result)
{
	gpointer decoded;
	gconstpointer rec = index_record(kind, data, &decoded);
	gint64 t = 0;
	int rc =
	    rec != NULL && cg_index_time_of(dbi, rec, &t) ? time_result(result, t) : DB_DONOTINDEX;

	if (decoded != NULL)
		cg_record_free(kind, decoded);
	return rc;
}

int
cg_index_cert_revoked(DB *sec, const DBT *key, const DBT *data, DBT *result)
{
	(void)sec;
	(void)key;
	return index_time(DBI_CERT_REVOKED, CG_REC_CERT, data, result);
}

int
cg_index_cert_expiry(DB *sec, const DBT *key, const DBT *data, DBT *result)
{
	(void)sec;
	(void)key;
	return index_time(DBI_CERT_BY_EXPIRY, CG_REC_CERT, data, result);
}

int
cg_index_request_held(DB *sec, const DBT *key, const DBT *data, DBT *result)
{
	(void)sec;
	(void)key;
	return index_time(DBI_REQUEST_HELD, CG_REC_REQUEST, data, result);
}

/* The entries of an index keyed by a time (8 bytes, big-endian): all of
 * them, and those at `split` or before, counted from the keys alone in one
 * walk, read in bulk (DB_MULTIPLE_KEY: a call per buffer of entries, not
 * per entry). */
#define COUNT_BUFFER (256 * 1024)

static gboolean
count_times(CgStore *s, int dbi, gint64 split, guint64 *upto, guint64 *all, GError **error)
{
	DB *db = s->bulk[dbi];
	g_autofree guint8 *buf = g_malloc(COUNT_BUFFER);
	u_int32_t op = DB_FIRST;
	DBC *c = NULL;
	int rc;

	*upto = *all = 0;
	if ((rc = db->cursor(db, NULL, &c, DB_READ_COMMITTED)) != 0)
		return cg_db_fail(rc, "cursor", error);
	for (;;) {
		guint64 first = 0;
		DBT k = {.data = &first, .ulen = sizeof(first), .flags = DB_DBT_USERMEM};
		DBT d = {.data = buf, .ulen = COUNT_BUFFER, .flags = DB_DBT_USERMEM};
		void *p;

		rc = c->get(c, &k, &d, op | DB_MULTIPLE_KEY);
		op = DB_NEXT;
		if (rc == DB_NOTFOUND)
			break;
		if (rc != 0) {
			c->close(c);
			return cg_db_fail(rc, "cursor", error);
		}
		DB_MULTIPLE_INIT(p, &d);
		for (;;) {
			void *kd, *dd;
			u_int32_t kl, dl;
			guint64 t = 0;

			DB_MULTIPLE_KEY_NEXT(p, &d, kd, kl, dd, dl);
			(void)dd;
			(void)dl;
			if (p == NULL)
				break;
			memcpy(&t, kd, MIN(kl, sizeof(t)));
			(*all)++;
			if (kl == sizeof(t) && GUINT64_FROM_BE(t) <= (guint64)MAX(split, 0))
				(*upto)++;
		}
	}
	c->close(c);
	return TRUE;
}

gboolean
cg_store_cert_counts(CgStore *s, gint64 now, CgCertCounts *out, GError **error)
{
	guint64 revoked_past = 0, past = 0, all = 0;

	memset(out, 0, sizeof(*out));
	/* Revoked: every entry of certs_revoked. Expired: notAfter <= now, not
	 * revoked. Valid: the rest. */
	if (!count_times(s, DBI_CERT_REVOKED, now, &revoked_past, &out->revoked, error) ||
	    !count_times(s, DBI_CERT_BY_EXPIRY, now, &past, &all, error))
		return FALSE;
	out->expired = past - MIN(revoked_past, past);
	out->valid = all - past - MIN(out->revoked - revoked_past, all - past);
	return TRUE;
}

gboolean
cg_store_requests_held(CgStore *s, guint64 *n, GError **error)
{
	guint64 upto;

	return count_times(s, DBI_REQUEST_HELD, G_MAXINT64, &upto, n, error);
}

/* The records of an index keyed by a time, from `from` to `to` (both
 * included), in time order. */
static gboolean
walk_times(CgStore *s, CgTxn *txn, int dbi, gint64 from, gint64 to, CgStoreVisit visit,
           gpointer data, GError **error)
{
	DB *db = s->db[dbi];
	guint64 be = GUINT64_TO_BE((guint64)MAX(from, 0));
	guint64 last = GUINT64_TO_BE((guint64)MAX(to, 0));
	DBC *c = NULL;
	DBT k = {0};
	gboolean ok;
	int rc;

	rc = db->cursor(db, cg_txn_raw(txn), &c,
	                txn == NULL || txn->read_committed ? DB_READ_COMMITTED : 0);
	if (rc != 0)
		return cg_db_fail(rc, "cursor", error);
	k.data = g_memdup2(&be, sizeof(be));
	k.size = sizeof(be);
	k.flags = DB_DBT_REALLOC;
	ok = walk(c, CG_REC_CERT, &k, DB_SET_RANGE, DB_NEXT, not_after_limit, &last, TRUE, visit,
	          data, error);
	if (k.data != NULL)
		free(k.data);
	c->close(c);
	return ok;
}

/* The certificates whose notAfter is from `from` to `to`, in notAfter
 * order, through certs_by_expiry. */
gboolean
cg_store_foreach_expiring(CgStore *s, CgTxn *txn, gint64 from, gint64 to, CgStoreVisit visit,
                          gpointer data, GError **error)
{
	return walk_times(s, txn, DBI_CERT_BY_EXPIRY, from, to, visit, data, error);
}

/* The revoked certificates whose notAfter is not before not_after, through
 * certs_revoked: what a CRL lists, without reading the others. */
gboolean
cg_store_foreach_revoked(CgStore *s, CgTxn *txn, gint64 not_after, CgStoreVisit visit,
                         gpointer data, GError **error)
{
	return walk_times(s, txn, DBI_CERT_REVOKED, not_after, G_MAXINT64, visit, data, error);
}

gboolean
cg_store_cert_revoke(CgTxn *txn, const char *serial, int reason, const char *reason_name,
                     const char *actor, gint64 now, GError **error)
{
	g_autoptr(CgCert) c = cg_store_cert_get(cg_txn_store(txn), txn, serial, error);
	g_autofree char *detail = NULL;

	if (c == NULL)
		return FALSE;
	if (c->status == CG_CERT_REVOKED) {
		g_set_error(error, CG_ERROR, CG_ERROR_EXISTS, "%s is already revoked", serial);
		return FALSE;
	}
	c->status = CG_CERT_REVOKED;
	c->revoked_at = now;
	c->reason = (guint8)reason;
	detail = g_strdup_printf("%s, %s", c->mailbox, reason_name);
	return cg_store_cert_update(txn, c, error) &&
	       cg_store_job_append(txn, CG_JOB_CRL, "revocation", error) &&
	       cg_store_audit_append(txn, now, actor, "cert.revoke", serial, detail, error);
}

/* ---- names ---- */

const char *
cg_org_status_name(CgOrgStatus s)
{
	static const char *n[] = {"pending", "active", "suspended", "rejected"};

	return (guint)s < G_N_ELEMENTS(n) ? n[s] : "?";
}

const char *
cg_domain_status_name(CgDomainStatus s)
{
	static const char *n[] = {"pending", "validated", "expired", "disputed"};

	return (guint)s < G_N_ELEMENTS(n) ? n[s] : "?";
}

const char *
cg_admin_status_name(CgAdminStatus s)
{
	static const char *n[] = {"pending", "active", "removed", "held"};

	return (guint)s < G_N_ELEMENTS(n) ? n[s] : "?";
}

const char *
cg_item_status_name(CgItemStatus s)
{
	static const char *n[] = {"queued", "issued", "rejected", "invited", "held"};

	return (guint)s < G_N_ELEMENTS(n) ? n[s] : "?";
}

const char *
cg_request_status_name(CgRequestStatus s)
{
	static const char *n[] = {"received", "held", "done", "rejected"};

	return (guint)s < G_N_ELEMENTS(n) ? n[s] : "?";
}

const char *
cg_cert_state_name(const CgCert *c, gint64 now)
{
	return c->status == CG_CERT_REVOKED ? "revoked" : c->not_after <= now ? "expired" : "valid";
}
