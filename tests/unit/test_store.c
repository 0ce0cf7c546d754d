/*
 * test_store.c: the Berkeley DB store: records of every kind, corruption,
 * indexes, evidence and backup, a missing home, reopening after a crash.
 */
#include "storefx.h"
#include "common.h"

#include <db.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static CgOrg
sample_org(const char *id)
{
	CgOrg o = {0};

	o.id = (char *)id;
	o.name = "Example Sp. z o.o.";
	o.org_identifier = "NTRPL-0000123456";
	o.country = "PL";
	o.state = "mazowieckie";
	o.locality = "Warszawa";
	o.contact = "ceo@example.pl";
	o.status = CG_ORG_ACTIVE;
	o.created_at = 1795290780;
	o.created_by = "operator:test";
	return o;
}

/* An enrolment request of one item, a year's validity. */
static CgRequest
sample_request(const char *id)
{
	CgRequest r = {0};

	r.id = (char *)id;
	r.kind = CG_REQUEST_ENROLL;
	r.n_items = 1;
	r.validity_days = 365;
	return r;
}

static void
put_org(CgStore *s, const CgOrg *o)
{
	g_autoptr(GError) err = NULL;
	CgTxn *t = cg_store_begin(s, &err);

	assert_non_null(t);
	assert_true(cg_store_org_put(t, o, &err));
	assert_true(cg_store_commit(t, &err));
}

/* Every process checkpoints in its maintenance thread: a milter alone
 * (no issuer) wrote log that nothing checkpointed, so no log file was ever
 * removed and a recovery replayed all of it. */
static void
test_maintenance_checkpoint(void **state)
{
	Fx *fx = *state;
	CgOrg o = sample_org("1");
	guint64 before = cg_store_debug_last_checkpoint(fx->s);
	gint64 until;

	put_org(fx->s, &o); /* a fresh environment: no checkpoint yet (0) */
	/* Not before its interval (a minute by default). */
	g_usleep(1500 * 1000);
	assert_true(cg_store_debug_last_checkpoint(fx->s) == before);
	cg_store_set_checkpoint_interval(fx->s, 1);
	until = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (cg_store_debug_last_checkpoint(fx->s) == before && g_get_monotonic_time() < until)
		g_usleep(100 * 1000);
	assert_true(cg_store_debug_last_checkpoint(fx->s) > before);
}

static void
random_bytes(guint8 *b, gsize n)
{
	gsize i;

	for (i = 0; i < n; i++)
		b[i] = (guint8)g_random_int_range(0, 256);
}

/* n certificates of mailbox in one transaction, serials 0001 up, keys random. */
static void
add_certs(CgStore *s, guint n, const char *mailbox)
{
	g_autoptr(GError) err = NULL;
	CgTxn *t = cg_store_begin(s, &err);
	guint k;

	assert_non_null(t);
	for (k = 1; k <= n; k++) {
		g_autofree char *serial = g_strdup_printf("%04x", k);
		CgCert c = {0};
		guint8 der[] = {0x30, 0x00};

		c.serial = serial;
		c.der = g_bytes_new_static(der, sizeof(der));
		c.mailbox = (char *)mailbox;
		c.org_id = "1";
		random_bytes(c.spki_sha256, 32);
		assert_true(cg_store_cert_add(t, &c, &err));
		g_bytes_unref(c.der);
	}
	assert_true(cg_store_commit(t, &err));
}

/* The last process to close the environment checkpoints it: the next open
 * (alone, so it recovers) replays no log, and reads no page doing so. */
static void
test_close_checkpoint(void **state)
{
	Fx *fx = *state;
	g_autofree char *db = g_build_filename(fx->dir, "db", NULL);
	g_autofree char *ev = g_build_filename(fx->dir, "evidence", NULL);
	g_autoptr(GError) err = NULL;

	add_certs(fx->s, 2000, "close@example.pl");
	cg_store_close(fx->s);
	fx->s = cg_store_open(db, ev, CG_STORE_DEFAULT, &err);
	assert_non_null(fx->s);
	/* The open reads the index's meta page; recovery without the close's
	 * checkpoint read 35 of them. */
	assert_true(cg_store_debug_pages_read(fx->s, "certs_by_spki") <= 1);
}

static void
test_org_round_trip(void **state)
{
	Fx *fx = *state;
	CgOrg o = sample_org("1");
	g_autoptr(GError) err = NULL;
	g_autoptr(CgOrg) got = NULL;
	g_autoptr(CgOrg) none = NULL;
	CgTxn *t;

	put_org(fx->s, &o);
	got = cg_store_org_get(fx->s, NULL, "1", &err);
	assert_non_null(got);
	assert_string_equal(got->name, o.name);
	assert_string_equal(got->org_identifier, o.org_identifier);
	assert_string_equal(got->locality, "Warszawa");
	assert_int_equal(got->status, CG_ORG_ACTIVE);
	assert_int_equal(got->created_at, o.created_at);
	assert_string_equal(got->approved_by, ""); /* NULL stored as "" */
	none = cg_store_org_get(fx->s, NULL, "2", &err);
	assert_null(none);
	assert_error(err, CG_ERROR_NOT_FOUND, "orgs");
	g_clear_error(&err);
	/* An aborted transaction leaves nothing behind. */
	t = cg_store_begin(fx->s, &err);
	o.id = "3";
	assert_true(cg_store_org_put(t, &o, &err));
	cg_store_abort(t);
	none = cg_store_org_get(fx->s, NULL, "3", &err);
	assert_null(none);
	assert_error(err, CG_ERROR_NOT_FOUND, NULL);
	g_clear_error(&err);
	/* Delete. */
	t = cg_store_begin(fx->s, &err);
	assert_true(cg_store_org_del(t, "1", &err));
	assert_false(cg_store_org_del(t, "1", &err));
	assert_error(err, CG_ERROR_NOT_FOUND, NULL);
	g_clear_error(&err);
	assert_true(cg_store_commit(t, &err));
}

static void
test_every_kind(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	CgDomain d = {0};
	CgAdmin a = {0};
	CgChallenge c = {0};
	CgRequest r = {0};
	CgItem it = {0};
	CgCert cert = {0};
	guint8 der[] = {0x30, 0x03, 0x02, 0x01, 0x05};
	CgTxn *t = cg_store_begin(fx->s, &err);
	g_autoptr(CgDomain) d2 = NULL;
	g_autoptr(CgAdmin) a2 = NULL;
	g_autoptr(CgChallenge) c2 = NULL;
	g_autoptr(CgRequest) r2 = NULL;
	g_autoptr(CgItem) i2 = NULL;
	g_autoptr(CgCert) cert2 = NULL;

	d.domain = "example.pl";
	d.org_id = "1";
	d.status = CG_DOMAIN_VALIDATED;
	d.expires_at = 2000000000;
	d.method = "email-postmaster";
	a.address = "jan@example.pl";
	a.org_id = "1";
	a.department = "IT";
	a.status = CG_ADMIN_ACTIVE;
	memset(c.token_hash, 0xab, 32);
	c.kind = CG_CHALLENGE_DOMAIN;
	c.target = "example.pl";
	c.address = "postmaster@example.pl";
	c.expires = 1795377180;
	r.id = "R1";
	r.kind = CG_REQUEST_ENROLL;
	r.n_items = 2;
	r.validity_days = 365;
	it.request_id = "R1";
	it.index = 2;
	it.mailbox = "anna@example.pl";
	it.csr = g_bytes_new_static(der, sizeof(der));
	cert.serial = "0a1b";
	cert.der = g_bytes_new_static(der, sizeof(der));
	cert.mailbox = "anna@example.pl";
	cert.org_id = "1";
	memset(cert.spki_sha256, 0x11, 32);
	cert.reason = 1;

	assert_true(cg_store_domain_put(t, &d, &err));
	assert_true(cg_store_admin_put(t, &a, &err));
	assert_true(cg_store_challenge_put(t, &c, &err));
	assert_true(cg_store_request_put(t, &r, &err));
	assert_true(cg_store_item_put(t, &it, &err));
	assert_true(cg_store_cert_add(t, &cert, &err));
	/* Serials are unique forever. */
	assert_false(cg_store_cert_add(t, &cert, &err));
	assert_error(err, CG_ERROR_EXISTS, NULL);
	g_clear_error(&err);
	assert_true(cg_store_commit(t, &err));

	d2 = cg_store_domain_get(fx->s, NULL, "example.pl", &err);
	a2 = cg_store_admin_get(fx->s, NULL, "jan@example.pl", &err);
	c2 = cg_store_challenge_get(fx->s, NULL, c.token_hash, &err);
	r2 = cg_store_request_get(fx->s, NULL, "R1", &err);
	i2 = cg_store_item_get(fx->s, NULL, "R1", 2, &err);
	cert2 = cg_store_cert_get(fx->s, NULL, "0a1b", &err);
	assert_non_null(d2);
	assert_int_equal(d2->status, CG_DOMAIN_VALIDATED);
	assert_int_equal(d2->expires_at, 2000000000);
	assert_non_null(a2);
	assert_string_equal(a2->department, "IT");
	assert_non_null(c2);
	assert_string_equal(c2->address, "postmaster@example.pl");
	assert_int_equal(c2->kind, CG_CHALLENGE_DOMAIN);
	assert_non_null(r2);
	assert_int_equal(r2->n_items, 2);
	assert_int_equal(r2->validity_days, 365);
	assert_non_null(i2);
	assert_string_equal(i2->mailbox, "anna@example.pl");
	assert_int_equal(g_bytes_get_size(i2->csr), sizeof(der));
	assert_non_null(cert2);
	assert_memory_equal(g_bytes_get_data(cert2->der, NULL), der, sizeof(der));
	assert_int_equal(cert2->spki_sha256[31], 0x11);
	assert_int_equal(cert2->reason, 1);
	g_bytes_unref(it.csr);
	g_bytes_unref(cert.der);
}

typedef struct {
	GPtrArray *keys;
} Collect;

static gboolean
collect_org(gconstpointer rec, gpointer data)
{
	g_ptr_array_add(((Collect *)data)->keys, g_strdup(((const CgOrg *)rec)->id));
	return TRUE;
}

static gboolean
collect_cert(gconstpointer rec, gpointer data)
{
	g_ptr_array_add(((Collect *)data)->keys, g_strdup(((const CgCert *)rec)->serial));
	return TRUE;
}

static gboolean
collect_item(gconstpointer rec, gpointer data)
{
	g_ptr_array_add(((Collect *)data)->keys,
	                g_strdup_printf("%u", ((const CgItem *)rec)->index));
	return TRUE;
}

static void
add_cert(CgTxn *t, const char *serial, const char *mailbox, const char *org, guint8 spki)
{
	CgCert c = {0};
	guint8 der[] = {0x30, 0x00};

	c.serial = (char *)serial;
	c.mailbox = (char *)mailbox;
	c.org_id = (char *)org;
	c.der = g_bytes_new_static(der, 2);
	memset(c.spki_sha256, spki, 32);
	assert_true(cg_store_cert_add(t, &c, NULL));
	g_bytes_unref(c.der);
}

static void
test_listings_and_indexes(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	Collect col = {g_ptr_array_new_with_free_func(g_free)};
	CgOrg o = sample_org("a");
	CgTxn *t;
	g_autofree char *spki = NULL;
	guint8 h[32];
	guint i;

	put_org(fx->s, &o);
	o.id = "b";
	put_org(fx->s, &o);
	assert_true(cg_store_foreach(fx->s, NULL, CG_REC_ORG, collect_org, &col, &err));
	assert_int_equal(col.keys->len, 2);
	assert_string_equal(g_ptr_array_index(col.keys, 0), "a");
	assert_string_equal(g_ptr_array_index(col.keys, 1), "b");

	t = cg_store_begin(fx->s, &err);
	add_cert(t, "01", "x@example.pl", "a", 1);
	add_cert(t, "02", "y@example.pl", "a", 2);
	add_cert(t, "03", "x@example.pl", "b", 3);
	for (i = 1; i <= 3; i++) {
		CgItem it = {0};

		it.request_id = i == 3 ? "R10" : "R1";
		it.index = i;
		assert_true(cg_store_item_put(t, &it, &err));
	}
	assert_true(cg_store_commit(t, &err));

	g_ptr_array_set_size(col.keys, 0);
	assert_true(cg_store_foreach_by(fx->s, NULL, CG_INDEX_CERT_BY_MAILBOX, "x@example.pl",
	                                collect_cert, &col, &err));
	assert_int_equal(col.keys->len, 2);
	g_ptr_array_set_size(col.keys, 0);
	assert_true(
	    cg_store_foreach_by(fx->s, NULL, CG_INDEX_CERT_BY_ORG, "a", collect_cert, &col, &err));
	assert_int_equal(col.keys->len, 2);
	g_ptr_array_set_size(col.keys, 0);
	memset(h, 3, 32);
	spki = cg_hex(h, 32);
	assert_true(cg_store_foreach_by(fx->s, NULL, CG_INDEX_CERT_BY_SPKI, spki, collect_cert,
	                                &col, &err));
	assert_int_equal(col.keys->len, 1);
	assert_string_equal(g_ptr_array_index(col.keys, 0), "03");
	g_ptr_array_set_size(col.keys, 0);
	assert_true(cg_store_foreach_by(fx->s, NULL, CG_INDEX_CERT_BY_MAILBOX, "nobody@example.pl",
	                                collect_cert, &col, &err));
	assert_int_equal(col.keys->len, 0);
	/* Items of R1 only, not those of R10 (key prefix includes the NUL). */
	assert_true(cg_store_foreach_by(fx->s, NULL, CG_INDEX_ITEM_BY_REQUEST, "R1", collect_item,
	                                &col, &err));
	assert_int_equal(col.keys->len, 2);
	assert_string_equal(g_ptr_array_index(col.keys, 1), "2");
	/* A revocation updates the record and its indexes stay consistent. */
	{
		g_autoptr(CgCert) c = cg_store_cert_get(fx->s, NULL, "02", &err);
		g_autoptr(GString) report = g_string_new(NULL);

		t = cg_store_begin(fx->s, &err);
		c->status = CG_CERT_REVOKED;
		c->reason = 1;
		assert_true(cg_store_cert_update(t, c, &err));
		assert_true(cg_store_commit(t, &err));
		assert_true(cg_store_check(fx->s, report, &err));
		assert_non_null(strstr(report->str, "certs: 3 records"));
	}
	g_ptr_array_unref(col.keys);
}

static void
test_corrupt_records(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) report = g_string_new(NULL);
	const guint8 garbage[] = {0xff, 0x00, 0x13, 0x37, 0x99};
	CgOrg *o;
	/* A well-formed envelope of an unknown version: (uv) = (7, <"x">). */
	g_autoptr(GVariant) v7 =
	    g_variant_ref_sink(g_variant_new("(uv)", (guint32)7, g_variant_new_string("x")));
	g_autoptr(GVariant) wrongtype =
	    g_variant_ref_sink(g_variant_new("(uv)", (guint32)1, g_variant_new("(ss)", "a", "b")));
	/* Right type, status byte out of range. */
	g_autoptr(GVariant) badstatus = g_variant_ref_sink(
	    g_variant_new("(uv)", (guint32)1,
	                  g_variant_new("(sssssssyxxsss)", "d", "", "", "", "", "", "", (guint8)9,
	                                (gint64)0, (gint64)0, "", "", "")));

	assert_true(cg_store_debug_put_raw(fx->s, "orgs", "g", 1, garbage, sizeof(garbage), &err));
	o = cg_store_org_get(fx->s, NULL, "g", &err);
	assert_null(o);
	assert_error(err, CG_ERROR_CORRUPT, NULL);
	g_clear_error(&err);

	assert_true(cg_store_debug_put_raw(fx->s, "orgs", "v", 1, g_variant_get_data(v7),
	                                   g_variant_get_size(v7), &err));
	o = cg_store_org_get(fx->s, NULL, "v", &err);
	assert_null(o);
	assert_error(err, CG_ERROR_CORRUPT, "unknown record version 7");
	g_clear_error(&err);

	assert_true(cg_store_debug_put_raw(fx->s, "orgs", "t", 1, g_variant_get_data(wrongtype),
	                                   g_variant_get_size(wrongtype), &err));
	o = cg_store_org_get(fx->s, NULL, "t", &err);
	assert_null(o);
	assert_error(err, CG_ERROR_CORRUPT, "expected (sssssssyxxsss)");
	g_clear_error(&err);

	assert_true(cg_store_debug_put_raw(fx->s, "orgs", "d", 1, g_variant_get_data(badstatus),
	                                   g_variant_get_size(badstatus), &err));
	o = cg_store_org_get(fx->s, NULL, "d", &err);
	assert_null(o);
	assert_error(err, CG_ERROR_CORRUPT, "out of range");
	g_clear_error(&err);

	/* Listing stops with an error, not a crash; db check names each record. */
	assert_false(cg_store_foreach(fx->s, NULL, CG_REC_ORG, collect_org, NULL, &err));
	assert_error(err, CG_ERROR_CORRUPT, NULL);
	g_clear_error(&err);
	assert_false(cg_store_check(fx->s, report, &err));
	assert_error(err, CG_ERROR_CORRUPT, "4 problems");
	assert_non_null(strstr(report->str, "orgs: record g:"));
	assert_non_null(strstr(report->str, "orgs: record v: unknown record version 7"));
}

/* A record read again from the same bytes is decoded from what its first
 * read gave (envelope.c keeps a few per thread): each read is a record of
 * its own, bytes that differ in one character read as themselves, and
 * bytes that fail the check fail it whatever was read before. */
static void
test_read_again(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	char *doms[] = {"a.example", "b.example", NULL};
	CgOrg put = sample_org("m");
	CgTxn *t;
	CgOrg *a, *b, *c;
	g_autoptr(GVariant) v = NULL;
	g_autofree guint8 *bytes = NULL;
	gsize n, i;

	put.pending_domains = doms;
	t = cg_store_begin(fx->s, &err);
	assert_true(cg_store_org_put(t, &put, &err));
	assert_true(cg_store_commit(t, &err));
	a = cg_store_org_get(fx->s, NULL, "m", &err);
	b = cg_store_org_get(fx->s, NULL, "m", &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a != b && a->name != b->name && a->pending_domains != b->pending_domains);
	cg_org_free(a);
	assert_string_equal(b->name, put.name);
	assert_string_equal(b->pending_domains[1], "b.example");
	assert_null(b->pending_domains[2]);
	cg_org_free(b);

	/* The same record with one character of its name changed. */
	v = g_variant_ref_sink(
	    g_variant_new("(uv)", (guint32)1,
	                  g_variant_new("(sssssssyxxsss)", "n", "Old Ltd", "NTRGB-1", "GB", "", "",
	                                "ceo@old.example", (guint8)CG_ORG_ACTIVE, (gint64)1,
	                                (gint64)2, "op", "op", "")));
	n = g_variant_get_size(v);
	bytes = g_memdup2(g_variant_get_data(v), n);
	assert_true(cg_store_debug_put_raw(fx->s, "orgs", "n", 1, bytes, n, &err));
	a = cg_store_org_get(fx->s, NULL, "n", &err);
	assert_non_null(a);
	assert_string_equal(a->name, "Old Ltd");
	cg_org_free(a);
	for (i = 0; i + 7 <= n && memcmp(bytes + i, "Old Ltd", 7) != 0; i++)
		;
	assert_true(i + 7 <= n);
	bytes[i + 2] = 'c';
	assert_true(cg_store_debug_put_raw(fx->s, "orgs", "n", 1, bytes, n, &err));
	c = cg_store_org_get(fx->s, NULL, "n", &err);
	assert_non_null(c);
	assert_string_equal(c->name, "Olc Ltd");
	cg_org_free(c);
	/* One byte short: not well-formed, after two good reads of it. */
	assert_true(cg_store_debug_put_raw(fx->s, "orgs", "n", 1, bytes, n - 1, &err));
	assert_null(cg_store_org_get(fx->s, NULL, "n", &err));
	assert_error(err, CG_ERROR_CORRUPT, NULL);
	g_clear_error(&err);
	/* The name's terminating NUL made a letter: the string is not one. */
	bytes[i + 7] = 'x';
	assert_true(cg_store_debug_put_raw(fx->s, "orgs", "n", 1, bytes, n, &err));
	assert_null(cg_store_org_get(fx->s, NULL, "n", &err));
	assert_error(err, CG_ERROR_CORRUPT, "not well-formed");
}

/* A version 1 record (an older certgate's) reads, its newer fields empty;
 * version 2 carries optional fields by name, ignores unknown names and
 * refuses a known one of the wrong type. */
static void
test_record_versions(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariant) v1 = g_variant_ref_sink(
	    g_variant_new("(uv)", (guint32)1,
	                  g_variant_new("(sssssssyxxsss)", "1", "Old Ltd", "NTRGB-1", "GB", "", "",
	                                "ceo@old.example", (guint8)CG_ORG_ACTIVE, (gint64)1,
	                                (gint64)2, "op", "op", "")));
	g_autoptr(GVariant) v2bad = NULL;
	g_autoptr(GVariant) v2new = NULL;
	GVariantBuilder extras;
	CgOrg *o;
	char *doms[] = {"a.example", "b.example", NULL}, *adms[] = {"x@a.example", NULL};
	char *depts[] = {"IT", NULL};
	CgOrg put = sample_org("3");

	assert_true(cg_store_debug_put_raw(fx->s, "orgs", "1", 1, g_variant_get_data(v1),
	                                   g_variant_get_size(v1), &err));
	o = cg_store_org_get(fx->s, NULL, "1", &err);
	assert_non_null(o);
	assert_string_equal(o->name, "Old Ltd");
	assert_null(o->pending_domains);
	assert_null(o->pending_admins);
	cg_org_free(o);

	g_variant_builder_init(&extras, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&extras, "{sv}", "pending_domains", g_variant_new_string("x"));
	v2bad = g_variant_ref_sink(g_variant_new(
	    "(uv)", (guint32)2,
	    g_variant_new("(sssssssyxxsssa{sv})", "2", "N", "NTRGB-1", "GB", "", "", "c@x.example",
	                  (guint8)0, (gint64)1, (gint64)2, "", "", "", &extras)));
	assert_true(cg_store_debug_put_raw(fx->s, "orgs", "2", 1, g_variant_get_data(v2bad),
	                                   g_variant_get_size(v2bad), &err));
	assert_null(cg_store_org_get(fx->s, NULL, "2", &err));
	assert_error(err, CG_ERROR_CORRUPT, "out of range");
	g_clear_error(&err);

	g_variant_builder_init(&extras, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&extras, "{sv}", "from_the_future", g_variant_new_uint32(1));
	v2new = g_variant_ref_sink(g_variant_new(
	    "(uv)", (guint32)2,
	    g_variant_new("(sssssssyxxsssa{sv})", "4", "Newer", "NTRGB-1", "GB", "", "",
	                  "c@x.example", (guint8)0, (gint64)1, (gint64)2, "", "", "", &extras)));
	assert_true(cg_store_debug_put_raw(fx->s, "orgs", "4", 1, g_variant_get_data(v2new),
	                                   g_variant_get_size(v2new), &err));
	o = cg_store_org_get(fx->s, NULL, "4", &err);
	assert_non_null(o);
	assert_string_equal(o->name, "Newer");
	cg_org_free(o);

	put.pending_domains = doms;
	put.pending_admins = adms;
	put.pending_departments = depts;
	put_org(fx->s, &put);
	o = cg_store_org_get(fx->s, NULL, "3", &err);
	assert_non_null(o);
	assert_int_equal(g_strv_length(o->pending_domains), 2);
	assert_string_equal(o->pending_domains[1], "b.example");
	assert_string_equal(o->pending_admins[0], "x@a.example");
	assert_string_equal(o->pending_departments[0], "IT");
	assert_null(o->pending_admins[1]);
	cg_org_free(o);
}

/* The CSR hint the issuer hands its verifier ahead: the CSR of a queued
 * item, version 1 or 2; nothing for another status, an absent item, bytes
 * that are not an item, or an envelope of an unknown version. */
static void
test_item_csr_hint(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	static const guint8 der[] = {0x30, 0x03, 0x02, 0x01, 0x05};
	static const guint8 raw_key[] = {'R', '9', 0, 0, 0, 0, 1};
	const guint8 garbage[] = {0xff, 0x00, 0x13, 0x37, 0x99};
	CgItem it = {0};
	CgTxn *t = cg_store_begin(fx->s, &err);
	g_autoptr(GBytes) hint = NULL, v1hint = NULL;
	g_autoptr(GVariant) v1 = g_variant_ref_sink(g_variant_new(
	    "(uv)", (guint32)1,
	    g_variant_new("(susssss@ayyss)", "R9", 1, "a@example.pl", "", "", "", "",
	                  g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, der, sizeof(der), 1),
	                  (guint8)CG_ITEM_QUEUED, "", "")));
	g_autoptr(GVariant) v7 =
	    g_variant_ref_sink(g_variant_new("(uv)", (guint32)7, g_variant_new("(ss)", "a", "b")));

	it.request_id = "R1";
	it.index = 1;
	it.mailbox = "anna@example.pl";
	it.csr = g_bytes_new_static(der, sizeof(der));
	it.status = CG_ITEM_QUEUED;
	assert_true(cg_store_item_put(t, &it, &err));
	it.index = 2;
	it.status = CG_ITEM_ISSUED;
	assert_true(cg_store_item_put(t, &it, &err));
	assert_true(cg_store_commit(t, &err));
	g_bytes_unref(it.csr);

	hint = cg_store_item_csr_hint(fx->s, NULL, "R1", 1);
	assert_non_null(hint);
	assert_int_equal(g_bytes_get_size(hint), sizeof(der));
	assert_memory_equal(g_bytes_get_data(hint, NULL), der, sizeof(der));
	assert_null(cg_store_item_csr_hint(fx->s, NULL, "R1", 2)); /* issued */
	assert_null(cg_store_item_csr_hint(fx->s, NULL, "R1", 3)); /* absent */

	assert_true(cg_store_debug_put_raw(fx->s, "items", raw_key, sizeof(raw_key),
	                                   g_variant_get_data(v1), g_variant_get_size(v1), &err));
	v1hint = cg_store_item_csr_hint(fx->s, NULL, "R9", 1);
	assert_non_null(v1hint);
	assert_memory_equal(g_bytes_get_data(v1hint, NULL), der, sizeof(der));
	assert_true(cg_store_debug_put_raw(fx->s, "items", raw_key, sizeof(raw_key), garbage,
	                                   sizeof(garbage), &err));
	assert_null(cg_store_item_csr_hint(fx->s, NULL, "R9", 1));
	assert_true(cg_store_debug_put_raw(fx->s, "items", raw_key, sizeof(raw_key),
	                                   g_variant_get_data(v7), g_variant_get_size(v7), &err));
	assert_null(cg_store_item_csr_hint(fx->s, NULL, "R9", 1));
}

static void
test_evidence_and_backup(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	g_autofree char *id = NULL, *id2 = NULL, *path = NULL, *data = NULL;
	g_autofree char *bk = g_build_filename(fx->dir, "backup", NULL);
	g_autofree char *bk2 = g_build_filename(fx->dir, "backup2", NULL);
	CgOrg o = sample_org("42");
	CgStore *copy;
	gsize len;

	id = cg_store_evidence_put(fx->s, "raw message", 11, &err);
	assert_non_null(id);
	assert_int_equal(strlen(id), 64);
	id2 = cg_store_evidence_put(fx->s, "raw message", 11, &err);
	assert_string_equal(id, id2);
	path = cg_store_evidence_path(fx->s, id);
	assert_true(g_file_get_contents(path, &data, &len, NULL));
	assert_int_equal(len, 11);

	put_org(fx->s, &o);
	{
		CgTxn *t = cg_store_begin(fx->s, &err);

		assert_true(cg_store_audit_append(t, 5, "a", "b", "c", "d", &err));
		assert_true(cg_store_commit(t, &err));
	}
	assert_true(cg_store_backup(fx->s, bk, &err));
	/* A second backup into a non-empty directory is refused. */
	assert_false(cg_store_backup(fx->s, bk, &err));
	assert_error(err, CG_ERROR_USAGE, "not empty");
	g_clear_error(&err);
	/* The copy opens as an environment of its own, with the data. */
	copy = cg_store_open(bk, bk2, CG_STORE_DEFAULT, &err);
	assert_non_null(copy);
	{
		g_autoptr(CgOrg) got = cg_store_org_get(copy, NULL, "42", &err);
		guint64 count, broken;
		guint8 head[32];

		assert_non_null(got);
		assert_string_equal(got->name, o.name);
		assert_true(cg_store_audit_verify(copy, &count, &broken, head, &err));
		assert_int_equal(count, 1);
	}
	cg_store_close(copy);
}

static void
test_missing_home(void **state)
{
	g_autoptr(GError) err = NULL;
	CgStore *s = cg_store_open("/nonexistent/certgate/db", NULL, CG_STORE_READONLY_CHECK, &err);

	(void)state;
	assert_null(s);
	assert_error(err, CG_ERROR_NOT_FOUND, "no database environment");
}

static void
test_reopen_after_crash(void **state)
{
	Fx *fx = *state;
	g_autofree char *db = g_build_filename(fx->dir, "db", NULL);
	g_autofree char *ev = g_build_filename(fx->dir, "evidence", NULL);
	g_autofree char *tool = cg_test_tool("cg-storetool");
	char *argv[] = {tool, "die", db, ev, "survivor", NULL};
	g_autoptr(GError) err = NULL;
	GPid pid;
	int status;
	CgTxn *t;
	CgOrg o = sample_org("survivor");

	/* Another process takes a write lock in a transaction and is killed. This
	 * one, still running, must not stay blocked on that lock: failchk frees it. */
	assert_true(
	    g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &err));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	t = cg_store_begin(fx->s, &err);
	o.name = "written after the crash";
	assert_true(cg_store_org_put(t, &o, &err));
	assert_true(cg_store_commit(t, &err));
	{
		g_autoptr(CgOrg) got = cg_store_org_get(fx->s, NULL, "survivor", &err);

		assert_string_equal(got->name, "written after the crash");
	}
}

/* Worker threads come and go (libmilter's do): each reads without a
 * transaction (the cursors BDB caches in the handle keep the locker of the
 * thread that made them) and exits. The maintenance thread's failchk must
 * not take them for dead threads of this process: freeing their lockers
 * panicked the environment (found by the milter's races test under ASan). */
static gpointer
short_lived_reader(gpointer data)
{
	CgStore *s = data;
	g_autoptr(GError) err = NULL;
	guint8 digest[32] = {1};
	int i;

	for (i = 0; i < 20; i++) {
		g_autoptr(CgOrg) o = cg_store_org_get(s, NULL, "busy", NULL);
		CgTxn *t;

		g_free(cg_store_seen_get(s, NULL, digest, "enroll", &err));
		g_clear_error(&err);
		assert_non_null(o);
		/* and a write, as an intake commits */
		digest[1] = (guint8)g_random_int();
		digest[2] = (guint8)i;
		if ((t = cg_store_begin(s, &err)) == NULL)
			continue;
		if (cg_store_seen_put(t, digest, "enroll", "R1", 1, &err))
			cg_store_commit(t, NULL);
		else
			cg_store_abort(t);
		g_clear_error(&err);
	}
	return NULL;
}

static gint db_complaints;

static void
count_db_complaints(const gchar *domain, GLogLevelFlags level, const gchar *message,
                    gpointer data)
{
	(void)domain, (void)level, (void)data;
	if (strstr(message, "berkeley db") != NULL) {
		g_atomic_int_inc(&db_complaints);
		fprintf(stderr, "%s\n", message);
	}
}

static void
test_threads_come_and_go(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	CgOrg o = sample_org("busy");
	CgTxn *t = cg_store_begin(fx->s, &err);
	GLogFunc was = g_log_set_default_handler(count_db_complaints, NULL);
	int round, i;

	assert_true(cg_store_org_put(t, &o, &err));
	assert_true(cg_store_commit(t, &err));
	for (round = 0; round < 4; round++) {
		GThread *th[16];

		for (i = 0; i < 16; i++)
			th[i] = g_thread_new("reader", short_lived_reader, fx->s);
		for (i = 0; i < 16; i++)
			g_thread_join(th[i]);
		/* failchk now (the maintenance thread's runs every 5 s). */
		cg_store_failchk(fx->s);
		assert_false(cg_store_panicked(fx->s));
	}
	t = cg_store_begin(fx->s, &err);
	assert_non_null(t);
	o.name = "still writable";
	assert_true(cg_store_org_put(t, &o, &err));
	assert_true(cg_store_commit(t, &err));
	assert_false(cg_store_panicked(fx->s));
	/* failchk found nothing to free: no thread of this process is dead. */
	g_log_set_default_handler(was, NULL);
	assert_int_equal(g_atomic_int_get(&db_complaints), 0);
}

typedef struct {
	CgStore *s;
	CgTxn *t;
	guint n;
	guint most_locks;
} ReadAll;

/* Each item read again by its key in the walk's transaction, as a report
 * reads each item's certificate. */
static gboolean
read_again(gconstpointer rec, gpointer data)
{
	const CgItem *it = rec;
	ReadAll *r = data;
	g_autoptr(GError) err = NULL;
	g_autoptr(CgItem) again = cg_store_item_get(r->s, r->t, it->request_id, it->index, &err);
	guint locks = cg_store_debug_nlocks(r->s);

	assert_non_null(again);
	r->n++;
	if (locks > r->most_locks)
		r->most_locks = locks;
	return TRUE;
}

/* Degree 2 reads (cg_store_txn_read_committed): a walk over 3,000 items of
 * 600 bytes, each read again, holds a handful of locks at a time; the
 * same walk with locks to the commit holds one for each page it read. */
static void
test_read_committed(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	static const guint8 pad[600];
	CgTxn *t = cg_store_begin(fx->s, &err);
	ReadAll r = {fx->s, NULL, 0, 0};
	guint i, base;

	for (i = 1; i <= 3000; i++) {
		CgItem it = {0};

		it.request_id = "RB";
		it.index = i;
		it.mailbox = "bulk@example.pl";
		it.csr = g_bytes_new_static(pad, sizeof(pad));
		assert_true(cg_store_item_put(t, &it, &err));
		g_bytes_unref(it.csr);
	}
	assert_true(cg_store_commit(t, &err));

	/* The handles' own locks, held all along. */
	base = cg_store_debug_nlocks(fx->s);
	r.t = cg_store_begin(fx->s, &err);
	assert_false(cg_store_txn_read_committed(r.t, TRUE));
	assert_true(cg_store_foreach_by(fx->s, r.t, CG_INDEX_ITEM_BY_REQUEST, "RB", read_again, &r,
	                                &err));
	assert_true(cg_store_txn_read_committed(r.t, FALSE));
	assert_int_equal(r.n, 3000);
	assert_true(r.most_locks < base + 5);
	cg_store_abort(r.t);

	r.t = cg_store_begin(fx->s, &err);
	r.n = r.most_locks = 0;
	assert_true(cg_store_foreach_by(fx->s, r.t, CG_INDEX_ITEM_BY_REQUEST, "RB", read_again, &r,
	                                &err));
	assert_int_equal(r.n, 3000);
	assert_true(r.most_locks > base + 300);
	cg_store_abort(r.t);
}

/* Two writers as the issuer and the milter are: an issue job reads its
 * request, then appends to the audit log; an enrolment numbers its request
 * (meta), adds it (the same page of requests), then appends. */
typedef struct {
	CgStore *s;
	gboolean ordered; /* each takes the log's tail first */
	GMutex lock;
	GCond cond;
	gboolean job_has_read;
	GError *job_err, *enrol_err;
} Writers;

static void
writer_done(CgTxn *t, gboolean ok, GError **err)
{
	if (ok && cg_store_commit(t, err))
		return;
	if (ok)
		return; /* the commit failed: err says why, t is gone */
	cg_store_abort(t);
}

static gpointer
issue_job(gpointer data)
{
	Writers *w = data;
	g_autoptr(CgRequest) r = NULL;
	CgTxn *t = cg_store_begin(w->s, &w->job_err);
	gboolean ok;

	ok = (!w->ordered || cg_store_audit_lock(t, &w->job_err)) &&
	     (r = cg_store_request_get(w->s, t, "R1", &w->job_err)) != NULL;
	g_mutex_lock(&w->lock);
	w->job_has_read = TRUE;
	g_cond_signal(&w->cond);
	g_mutex_unlock(&w->lock);
	/* The enrolment meanwhile goes as far as it can. */
	g_usleep(300 * 1000);
	ok = ok && cg_store_audit_append(t, 1795290780, "issuer", "cert.issue", "R1#1", "-",
	                                 &w->job_err);
	writer_done(t, ok, &w->job_err);
	return NULL;
}

static gpointer
enrolment(gpointer data)
{
	Writers *w = data;
	CgRequest r = sample_request("R2");
	CgTxn *t;
	guint64 n = 0;
	gboolean ok;

	g_mutex_lock(&w->lock);
	while (!w->job_has_read)
		g_cond_wait(&w->cond, &w->lock);
	g_mutex_unlock(&w->lock);
	t = cg_store_begin(w->s, &w->enrol_err);
	ok = (!w->ordered || cg_store_audit_lock(t, &w->enrol_err)) &&
	     cg_store_next_id(t, "request", &n, &w->enrol_err) &&
	     cg_store_request_put(t, &r, &w->enrol_err) &&
	     cg_store_audit_append(t, 1795290780, "anna@example.pl", "enroll.request", "R2", "-",
	                           &w->enrol_err);
	writer_done(t, ok, &w->enrol_err);
	return NULL;
}

static void
run_writers(Writers *w)
{
	GThread *a, *b;

	w->job_has_read = FALSE;
	g_clear_error(&w->job_err);
	g_clear_error(&w->enrol_err);
	a = g_thread_new("issue-job", issue_job, w);
	b = g_thread_new("enrolment", enrolment, w);
	g_thread_join(a);
	g_thread_join(b);
}

/* cg_store_audit_lock: taken first by both, the log's tail orders the two
 * writers, which both commit; taken by each only when it appends, the same
 * two deadlock and one of them is undone. */
static void
test_audit_lock_orders_writers(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	Writers w = {0};
	CgRequest r = sample_request("R1");
	CgTxn *t = cg_store_begin(fx->s, &err);
	guint64 count = 0, broken = 0;
	guint8 head[32];

	assert_true(cg_store_request_put(t, &r, &err));
	assert_true(cg_store_audit_append(t, 1795290780, "test", "setup", "R1", "-", &err));
	assert_true(cg_store_commit(t, &err));
	w.s = fx->s;
	g_mutex_init(&w.lock);
	g_cond_init(&w.cond);

	run_writers(&w);
	assert_true(g_error_matches(w.job_err, CG_ERROR, CG_ERROR_DEADLOCK) !=
	            g_error_matches(w.enrol_err, CG_ERROR, CG_ERROR_DEADLOCK));

	w.ordered = TRUE;
	run_writers(&w);
	assert_null(w.job_err);
	assert_null(w.enrol_err);
	assert_true(cg_store_audit_verify(fx->s, &count, &broken, head, &err));
	/* The setup's entry, the survivor of the first run, both of the second. */
	assert_int_equal(count, 4);
	g_clear_error(&w.job_err);
	g_clear_error(&w.enrol_err);
	g_mutex_clear(&w.lock);
	g_cond_clear(&w.cond);
}

static gboolean
count_visit(gconstpointer rec, gpointer data)
{
	(void)rec;
	(*(guint *)data)++;
	return TRUE;
}

/* Key-reuse lookups on a warmed index read no page from the disk; an index
 * larger than half the cache is not read ahead. */
static void
test_warm(void **state)
{
	Fx *fx = *state;
	g_autofree char *db = g_build_filename(fx->dir, "db", NULL);
	g_autofree char *ev = g_build_filename(fx->dir, "evidence", NULL);
	g_autofree char *small = g_build_filename(fx->dir, "small", NULL);
	g_autofree char *small_ev = g_build_filename(fx->dir, "small-ev", NULL);
	g_autofree char *small_conf = g_build_filename(small, "DB_CONFIG", NULL);
	g_autoptr(GError) err = NULL;
	CgStore *s2 = NULL;
	guint64 pages, before;
	struct stat st;
	guint i;

	for (i = 0; i < 2; i++) {
		CgStore *s = i == 0 ? fx->s : NULL;
		if (i == 1) {
			/* A cache of 256 KB: the index of 5,000 keys is more than
			 * half of it. */
			assert_int_equal(g_mkdir_with_parents(small, 0700), 0);
			assert_true(g_file_set_contents(small_conf, "set_cachesize 0 262144 1\n",
			                                -1, NULL));
			s = s2 = cg_store_open(small, small_ev, CG_STORE_DEFAULT, &err);
			assert_non_null(s);
		}
		add_certs(s, 5000, "warm@example.pl");
	}

	/* Opened again, the first process: recovered, its cache empty (the
	 * checkpoint leaves the recovery no page to read). */
	assert_true(cg_store_checkpoint(fx->s, &err));
	cg_store_close(fx->s);
	fx->s = cg_store_open(db, ev, CG_STORE_DEFAULT, &err);
	assert_non_null(fx->s);
	g_autofree char *file = g_build_filename(db, "certs_by_spki", NULL);
	assert_int_equal(stat(file, &st), 0);
	before = cg_store_debug_pages_read(fx->s, "certs_by_spki");
	assert_true(cg_store_warm(fx->s, CG_INDEX_CERT_BY_SPKI, &pages, &err));
	assert_int_equal(pages, (guint64)st.st_size / 4096);
	assert_true(pages > 20);
	assert_true(cg_store_debug_pages_read(fx->s, "certs_by_spki") >= before + pages - 1);
	before = cg_store_debug_pages_read(fx->s, "certs_by_spki");
	for (i = 0; i < 500; i++) {
		guint8 key[32];
		g_autofree char *hex = NULL;
		guint n = 0;

		random_bytes(key, sizeof(key));
		hex = cg_hex(key, sizeof(key));
		assert_true(cg_store_foreach_by(fx->s, NULL, CG_INDEX_CERT_BY_SPKI, hex,
		                                count_visit, &n, &err));
		assert_int_equal(n, 0);
	}
	assert_int_equal(cg_store_debug_pages_read(fx->s, "certs_by_spki"), before);

	assert_true(cg_store_warm(s2, CG_INDEX_CERT_BY_SPKI, &pages, &err));
	assert_int_equal(pages, 0);
	cg_store_close(s2);
}

static long
resident_kb(void)
{
	g_autofree char *status = NULL;
	const char *p;

	if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL) ||
	    (p = strstr(status, "VmRSS:")) == NULL)
		return -1;
	return strtol(p + 6, NULL, 10);
}

/* The process that makes the shared regions gives them their disk space
 * (as made; a region Berkeley DB grows later grows as it makes it) without
 * reading or writing their pages: its resident set grows by less than
 * three quarters of the regions' size (with DB_REGION_INIT, it wrote every
 * page, and grew by more than their size). */
static void
test_regions(void **state)
{
	Fx *fx = *state;
	g_autofree char *db = g_build_filename(fx->dir, "fresh", NULL);
	g_autofree char *ev = g_build_filename(fx->dir, "fresh-evidence", NULL);
	g_autoptr(GDir) dir = NULL;
	const char *name;
	guint64 regions = 0, allocated = 0;
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		g_autoptr(GError) err = NULL;
		long before = resident_kb();
		CgStore *s = cg_store_open(db, ev, CG_STORE_DEFAULT, &err);
		long grew = resident_kb() - before;

		/* The exit status: how many MB it grew by. */
		(void)s;
		_exit(s == NULL || before < 0 ? 255 : (int)MIN(grew / 1024, 254));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_true(WEXITSTATUS(status) < 255);
	dir = g_dir_open(db, 0, NULL);
	assert_non_null(dir);
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *path = g_build_filename(db, name, NULL);
		struct stat st;

		if (!g_str_has_prefix(name, "__db.0"))
			continue;
		assert_int_equal(stat(path, &st), 0);
		regions += (guint64)st.st_size;
		allocated += (guint64)st.st_blocks * 512;
	}
	assert_true(regions > 16 * 1024 * 1024);
	assert_true(allocated >= regions / 10 * 9);
	/* Measured: 11 MB (the lock table's entries, made ready); 20 MB with
	 * DB_REGION_INIT. */
	assert_true((guint64)WEXITSTATUS(status) * 1024 * 1024 < regions / 4 * 3);
}

/* The handle of the other process's join below: its close, on a panicked
 * environment, does not free it either. */
static DB_ENV *marker;

/* An environment another process marked panicked: a transaction fails, the
 * store says it needs recovery, and its close does not lose the handle
 * Berkeley DB's close leaves (the sanitizer build fails on a leak: the
 * daemons close their store so when they stop on a panic). Last: a panic is
 * the process's state. */
static void
test_close_panicked(void **state)
{
	Fx *fx = *state;
	g_autofree char *db = g_build_filename(fx->dir, "db", NULL);
	g_autoptr(GError) err = NULL;

	assert_false(cg_store_panicked(fx->s));
	assert_int_equal(db_env_create(&marker, 0), 0);
	assert_int_equal(marker->open(marker, db, DB_JOINENV | DB_THREAD, 0), 0);
	assert_int_equal(marker->set_flags(marker, DB_PANIC_ENVIRONMENT, 1), 0);
	assert_null(cg_store_begin(fx->s, &err));
	assert_non_null(err);
	assert_true(cg_store_panicked(fx->s));
	/* cg_storefx_teardown closes the store. */
}

/* ---- the index of revoked certificates (schema 2) ---- */

static gboolean
collect_revoked(gconstpointer rec, gpointer data)
{
	const CgCert *c = rec;

	g_assert_true(c->status == CG_CERT_REVOKED);
	g_ptr_array_add(data, g_strdup(c->serial));
	return TRUE;
}

/* The serials foreach_revoked lists from not_after on, joined by ",". */
static char *
revoked_from(CgStore *s, gint64 not_after)
{
	g_autoptr(GPtrArray) serials = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) err = NULL;

	assert_true(cg_store_foreach_revoked(s, NULL, not_after, collect_revoked, serials, &err));
	g_ptr_array_add(serials, NULL);
	return g_strjoinv(",", (char **)serials->pdata);
}

/* Six certificates, notAfter 1000 (serial 01) to 6000 (06); 02, 04, 05
 * and 06 revoked. */
static void
put_revocations(CgStore *s)
{
	g_autoptr(GError) err = NULL;
	CgTxn *t = cg_store_begin(s, &err);
	guint i;

	for (i = 1; i <= 6; i++) {
		CgCert c = {0};
		guint8 der[] = {0x30, 0x00};
		g_autofree char *serial = g_strdup_printf("%02u", i);

		c.serial = serial;
		c.mailbox = "x@example.pl";
		c.org_id = "a";
		c.der = g_bytes_new_static(der, 2);
		c.not_after = i * 1000;
		memset(c.spki_sha256, (int)i, 32);
		assert_true(cg_store_cert_add(t, &c, &err));
		g_bytes_unref(c.der);
	}
	assert_true(cg_store_commit(t, &err));
	/* Revoked in another order than notAfter's. */
	t = cg_store_begin(s, &err);
	assert_true(cg_store_cert_revoke(t, "05", 1, "keyCompromise", "operator:test", 10, &err));
	assert_true(cg_store_cert_revoke(t, "02", 4, "superseded", "operator:test", 11, &err));
	assert_true(
	    cg_store_cert_revoke(t, "06", 3, "affiliationChanged", "operator:test", 12, &err));
	assert_true(
	    cg_store_cert_revoke(t, "04", 5, "cessationOfOperation", "operator:test", 13, &err));
	assert_true(cg_store_commit(t, &err));
}

/* Three requests: R1 and R3 held, R2 received. */
static void
put_held_requests(CgStore *s)
{
	g_autoptr(GError) err = NULL;
	CgTxn *t = cg_store_begin(s, &err);
	guint i;

	for (i = 1; i <= 3; i++) {
		g_autofree char *id = g_strdup_printf("R%u", i);
		CgRequest r = sample_request(id);

		r.status = i == 2 ? CG_REQUEST_RECEIVED : CG_REQUEST_HELD;
		r.created = 100 * i;
		assert_true(cg_store_request_put(t, &r, &err));
	}
	assert_true(cg_store_commit(t, &err));
}

static guint64
held(CgStore *s)
{
	g_autoptr(GError) err = NULL;
	guint64 n = 0;

	assert_true(cg_store_requests_held(s, &n, &err));
	return n;
}

static void
test_revoked_index(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) report = g_string_new(NULL);
	g_autofree char *all = NULL, *live = NULL, *none = NULL, *after = NULL;

	put_revocations(fx->s);
	all = revoked_from(fx->s, 0);
	assert_string_equal(all, "02,04,05,06"); /* by notAfter */
	live = revoked_from(fx->s, 4001);
	assert_string_equal(live, "05,06");
	none = revoked_from(fx->s, 6001);
	assert_string_equal(none, "");
	/* A revocation undone in the record (as a restore of an older copy
	 * of it would) leaves the index with it. */
	{
		g_autoptr(CgCert) c = cg_store_cert_get(fx->s, NULL, "05", &err);
		CgTxn *t = cg_store_begin(fx->s, &err);

		c->status = CG_CERT_VALID;
		assert_true(cg_store_cert_update(t, c, &err));
		assert_true(cg_store_commit(t, &err));
	}
	after = revoked_from(fx->s, 0);
	assert_string_equal(after, "02,04,06");
	assert_true(cg_store_check(fx->s, report, &err));

	/* The figures from the keys: at 3500, 01 and 03 expired, 05 valid,
	 * 02, 04 and 06 revoked. */
	{
		CgCertCounts n;
		g_autoptr(GPtrArray) soon = g_ptr_array_new_with_free_func(g_free);
		Collect col = {soon};

		assert_true(cg_store_cert_counts(fx->s, 3500, &n, &err));
		assert_int_equal(n.expired, 2);
		assert_int_equal(n.valid, 1);
		assert_int_equal(n.revoked, 3);
		assert_true(cg_store_cert_counts(fx->s, 0, &n, &err));
		assert_int_equal(n.expired, 0);
		assert_int_equal(n.valid, 3);
		assert_true(cg_store_cert_counts(fx->s, 6000, &n, &err));
		assert_int_equal(n.expired, 3);
		assert_int_equal(n.valid, 0);
		/* notAfter from 3501 to 5000, both ends in */
		assert_true(
		    cg_store_foreach_expiring(fx->s, NULL, 3501, 5000, collect_cert, &col, &err));
		assert_int_equal(soon->len, 2);
		assert_string_equal(g_ptr_array_index(soon, 0), "04");
		assert_string_equal(g_ptr_array_index(soon, 1), "05");
	}
	/* Held requests: counted from their index, which follows their status. */
	put_held_requests(fx->s);
	assert_int_equal(held(fx->s), 2);
	{
		g_autoptr(CgRequest) r = cg_store_request_get(fx->s, NULL, "R3", &err);
		CgTxn *t = cg_store_begin(fx->s, &err);

		r->status = CG_REQUEST_DONE;
		assert_true(cg_store_request_put(t, r, &err));
		assert_true(cg_store_commit(t, &err));
	}
	assert_int_equal(held(fx->s), 1);
	g_string_truncate(report, 0);
	assert_true(cg_store_check(fx->s, report, &err));
}

/* The store's environment joined with a raw Berkeley DB handle, the store
 * closed (recovered: nothing else has it open). */
static DB_ENV *
raw_env(Fx *fx)
{
	g_autofree char *db = g_build_filename(fx->dir, "db", NULL);
	DB_ENV *env = NULL;

	cg_store_close(fx->s);
	fx->s = NULL;
	assert_int_equal(db_env_create(&env, 0), 0);
	assert_int_equal(env->open(env, db,
	                           DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_INIT_TXN |
	                               DB_RECOVER | DB_CREATE,
	                           0),
	                 0);
	return env;
}

/* Closes it, and removes its regions: the next process makes them as the
 * store does. */
static void
raw_env_close(Fx *fx, DB_ENV *env)
{
	g_autofree char *db = g_build_filename(fx->dir, "db", NULL);

	assert_int_equal(env->close(env, 0), 0);
	assert_int_equal(db_env_create(&env, 0), 0);
	assert_int_equal(env->remove(env, db, DB_FORCE), 0);
}

/* Makes the store at fx a version 1 store, as certgate left it before it indexed revoked
 * certificates: no certs_revoked, certs_by_expiry or requests_held, schema 1 in meta. With
 * a raw Berkeley DB handle, the store closed. */
static void
make_version_1(Fx *fx)
{
	guint32 one = GUINT32_TO_BE(1);
	DBT k = {0}, d = {0};
	DB_ENV *env = raw_env(fx);
	DB *meta = NULL;

	assert_int_equal(env->dbremove(env, NULL, "certs_revoked", NULL, DB_AUTO_COMMIT), 0);
	assert_int_equal(env->dbremove(env, NULL, "certs_by_expiry", NULL, DB_AUTO_COMMIT), 0);
	assert_int_equal(env->dbremove(env, NULL, "requests_held", NULL, DB_AUTO_COMMIT), 0);
	assert_int_equal(db_create(&meta, env, 0), 0);
	meta->set_flags(meta, DB_CHKSUM);
	assert_int_equal(meta->open(meta, NULL, "meta", NULL, DB_BTREE, DB_AUTO_COMMIT, 0), 0);
	k.data = "schema";
	k.size = 6;
	d.data = &one;
	d.size = sizeof(one);
	assert_int_equal(meta->put(meta, NULL, &k, &d, DB_AUTO_COMMIT), 0);
	meta->close(meta, 0);
	raw_env_close(fx, env);
}

/* Holds the store's lock file shared, as a certgate process that has the
 * store open does; the child's pid. */
static pid_t
hold_lock(Fx *fx)
{
	g_autofree char *path = g_build_filename(fx->dir, "db", "lock", "certgate.lock", NULL);
	int ready[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct flock l = {.l_type = F_RDLCK, .l_whence = SEEK_SET};
		int fd = open(path, O_RDWR);

		if (fd < 0 || fcntl(fd, F_SETLK, &l) != 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

static void
test_schema_upgrade(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) report = g_string_new(NULL);
	g_autofree char *db = g_build_filename(fx->dir, "db", NULL);
	g_autofree char *ev = g_build_filename(fx->dir, "evidence", NULL);
	g_autofree char *index = g_build_filename(db, "certs_revoked", NULL);
	g_autofree char *listed = NULL;
	CgStore *s;
	pid_t holder;
	int status;

	put_revocations(fx->s);
	put_held_requests(fx->s);
	make_version_1(fx);
	assert_false(g_file_test(index, G_FILE_TEST_EXISTS));

	/* Another process has it open (an older certgate): no upgrade, and
	 * no use of it either (its CRL would miss every revocation). */
	holder = hold_lock(fx);
	s = cg_store_open(db, ev, CG_STORE_DEFAULT, &err);
	kill(holder, SIGTERM);
	waitpid(holder, &status, 0);
	assert_null(s);
	assert_non_null(err);
	assert_int_equal(err->code, CG_ERROR_CORRUPT);
	assert_non_null(strstr(err->message, "schema version 1"));
	g_clear_error(&err);

	/* Opened alone: upgraded, every revoked certificate indexed. */
	fx->s = cg_store_open(db, ev, CG_STORE_DEFAULT, &err);
	assert_non_null(fx->s);
	listed = revoked_from(fx->s, 0);
	assert_string_equal(listed, "02,04,05,06");
	assert_int_equal(held(fx->s), 2);
	{
		CgCertCounts n;

		assert_true(cg_store_cert_counts(fx->s, 3500, &n, &err));
		assert_int_equal(n.expired, 2); /* 01, 03 */
		assert_int_equal(n.valid, 0);
		assert_int_equal(n.revoked, 4);
	}
	assert_true(cg_store_check(fx->s, report, &err));
	assert_non_null(strstr(report->str, "certs: 6 records"));
	/* Version 2 is kept: opened again, nothing is redone or lost. */
	cg_store_close(fx->s);
	fx->s = cg_store_open(db, ev, CG_STORE_DEFAULT, &err);
	assert_non_null(fx->s);
	g_free(listed);
	listed = revoked_from(fx->s, 2500);
	assert_string_equal(listed, "04,05,06");
}

/* cg_store_check finds an index of revoked certificates that lost an entry
 * (and so a CRL that would miss it). */
static void
test_revoked_index_checked(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) report = g_string_new(NULL);
	g_autofree char *db = g_build_filename(fx->dir, "db", NULL);
	g_autofree char *ev = g_build_filename(fx->dir, "evidence", NULL);
	guint64 be = GUINT64_TO_BE(2000);
	DBT k = {0};
	DB_ENV *env;
	DB *idx = NULL;

	put_revocations(fx->s);
	env = raw_env(fx);
	assert_int_equal(db_create(&idx, env, 0), 0);
	idx->set_flags(idx, DB_CHKSUM | DB_DUPSORT);
	assert_int_equal(idx->open(idx, NULL, "certs_revoked", NULL, DB_BTREE, DB_AUTO_COMMIT, 0),
	                 0);
	k.data = &be; /* 02's entry */
	k.size = sizeof(be);
	assert_int_equal(idx->del(idx, NULL, &k, DB_AUTO_COMMIT), 0);
	idx->close(idx, 0);
	raw_env_close(fx, env);

	fx->s = cg_store_open(db, ev, CG_STORE_DEFAULT, &err);
	assert_non_null(fx->s);
	assert_false(cg_store_check(fx->s, report, &err));
	assert_non_null(strstr(report->str, "certs_revoked: 3 entries for 4 revoked certificates"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_org_round_trip, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_every_kind, cg_storefx_setup, cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_listings_and_indexes, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_records, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_record_versions, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_read_again, cg_storefx_setup, cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_item_csr_hint, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_evidence_and_backup, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test(test_missing_home),
	    cmocka_unit_test_setup_teardown(test_reopen_after_crash, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_threads_come_and_go, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_audit_lock_orders_writers, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_read_committed, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_warm, cg_storefx_setup, cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_regions, cg_storefx_setup, cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_maintenance_checkpoint, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_close_checkpoint, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_close_panicked, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_revoked_index, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_schema_upgrade, cg_storefx_setup,
	                                    cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_revoked_index_checked, cg_storefx_setup,
	                                    cg_storefx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
