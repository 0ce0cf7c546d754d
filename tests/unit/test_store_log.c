/*
 * test_store_log.c: the store's logs and counters: the hash-chained audit
 * log, the job queue, the seen table, counters, deadlock retry.
 */
#include "storefx.h"
#include "common.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void
test_audit_chain(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	guint64 count = 0, broken = 0;
	guint8 head[32], head2[32], intact[32];
	guint64 key;
	g_autoptr(GBytes) raw = NULL;
	GByteArray *tampered;
	guint i;

	assert_true(cg_store_audit_verify(fx->s, &count, &broken, head, &err));
	assert_int_equal(count, 0);
	for (i = 0; i < 5; i++) {
		CgTxn *t = cg_store_begin(fx->s, &err);
		g_autofree char *obj = g_strdup_printf("org:%u", i);

		assert_true(cg_store_audit_append(t, 1795290780 + i, "operator:test", "org.add",
		                                  obj, "detail with\nnewline", &err));
		assert_true(cg_store_commit(t, &err));
	}
	assert_true(cg_store_audit_verify(fx->s, &count, &broken, head, &err));
	assert_int_equal(count, 5);
	/* An aborted append leaves the chain as it was. */
	{
		CgTxn *t = cg_store_begin(fx->s, &err);

		assert_true(cg_store_audit_append(t, 1, "x", "y", "z", "", &err));
		cg_store_abort(t);
		assert_true(cg_store_audit_verify(fx->s, &count, &broken, head2, &err));
		assert_int_equal(count, 5);
		assert_memory_equal(head, head2, 32);
	}
	memcpy(intact, head, 32);
	/* Change one byte of entry 3: the chain breaks exactly there. */
	key = GUINT64_TO_BE(3);
	assert_true(cg_store_debug_get_raw(fx->s, "audit", &key, 8, &raw, &err));
	tampered = g_byte_array_new();
	g_byte_array_append(tampered, g_bytes_get_data(raw, NULL), (guint)g_bytes_get_size(raw));
	tampered->data[20] ^= 0x01;
	assert_true(
	    cg_store_debug_put_raw(fx->s, "audit", &key, 8, tampered->data, tampered->len, &err));
	assert_false(cg_store_audit_verify(fx->s, &count, &broken, head, &err));
	/* Entry 3 itself may still decode; entry 4's link then no longer matches. */
	assert_true(broken == 3 || broken == 4);
	assert_error(err, CG_ERROR_CORRUPT, "audit chain broken at entry");
	g_clear_error(&err);
	/* Put it back: intact again. */
	assert_true(cg_store_debug_put_raw(fx->s, "audit", &key, 8, g_bytes_get_data(raw, NULL),
	                                   g_bytes_get_size(raw), &err));
	assert_true(cg_store_audit_verify(fx->s, &count, &broken, head2, &err));
	assert_memory_equal(intact, head2, 32);
	g_byte_array_unref(tampered);
}

static void
test_audit_cut_tail(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	guint64 count = 0, broken = 0, key;
	guint8 head[32];
	g_autoptr(GBytes) raw = NULL;
	guint i;

	for (i = 0; i < 3; i++) {
		CgTxn *t = cg_store_begin(fx->s, &err);

		assert_true(cg_store_audit_append(t, 1, "a", "b", "c", "d", &err));
		assert_true(cg_store_commit(t, &err));
	}
	/* Replace entry 3 with a copy of entry 2 re-keyed: the seq inside no
	 * longer matches, and a missing tail would not match the head either. */
	key = GUINT64_TO_BE(2);
	assert_true(cg_store_debug_get_raw(fx->s, "audit", &key, 8, &raw, &err));
	key = GUINT64_TO_BE(3);
	assert_true(cg_store_debug_put_raw(fx->s, "audit", &key, 8, g_bytes_get_data(raw, NULL),
	                                   g_bytes_get_size(raw), &err));
	assert_false(cg_store_audit_verify(fx->s, &count, &broken, head, &err));
	assert_int_equal(broken, 3);
}

static void
test_jobs(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	CgJob j;
	CgTxn *t = cg_store_begin(fx->s, &err);
	guint64 q = 0, d = 0;
	gint64 next = 0;
	char longid[CG_JOB_ID_MAX + 2];

	assert_true(cg_store_job_append(t, CG_JOB_ISSUE, "R1#1", &err));
	assert_true(cg_store_job_append(t, CG_JOB_DELIVER, "R1#2", &err));
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_false(cg_store_job_append(t, CG_JOB_ISSUE, longid, &err));
	g_clear_error(&err);
	assert_true(cg_store_commit(t, &err));
	assert_true(cg_store_job_count(fx->s, &q, &d, &err));
	assert_int_equal(q, 2);

	/* A consumer that aborts leaves the job for the next one. */
	t = cg_store_begin(fx->s, &err);
	assert_true(cg_store_job_consume(t, 0, &j, &err));
	assert_int_equal(j.kind, CG_JOB_ISSUE);
	cg_store_abort(t);
	t = cg_store_begin(fx->s, &err);
	assert_true(cg_store_job_consume(t, 0, &j, &err));
	assert_int_equal(j.kind, CG_JOB_ISSUE);
	assert_string_equal(j.id, "R1#1");
	/* Defer it: out of the queue until due. */
	assert_true(cg_store_job_defer(t, &j, 1000, &err));
	assert_true(cg_store_commit(t, &err));

	t = cg_store_begin(fx->s, &err);
	assert_true(cg_store_job_consume(t, 0, &j, &err));
	assert_string_equal(j.id, "R1#2");
	assert_true(cg_store_commit(t, &err));

	/* Empty: an immediate consume and a waiting one both report a timeout. */
	t = cg_store_begin(fx->s, &err);
	assert_false(cg_store_job_consume(t, 0, &j, &err));
	assert_error(err, CG_ERROR_TIMEOUT, NULL);
	g_clear_error(&err);
	cg_store_abort(t);
	t = cg_store_begin(fx->s, &err);
	assert_false(cg_store_job_consume(t, 300, &j, &err));
	assert_error(err, CG_ERROR_TIMEOUT, NULL);
	g_clear_error(&err);
	cg_store_abort(t);

	assert_true(cg_store_job_count(fx->s, &q, &d, &err));
	assert_int_equal(q, 0);
	assert_int_equal(d, 1);
	assert_int_equal(cg_store_job_release(fx->s, 999, &next, &err), 0);
	assert_int_equal(next, 1000);
	assert_int_equal(cg_store_job_release(fx->s, 1000, &next, &err), 1);
	assert_int_equal(next, 0);
	t = cg_store_begin(fx->s, &err);
	assert_true(cg_store_job_consume(t, 0, &j, &err));
	assert_string_equal(j.id, "R1#1");
	assert_int_equal(j.attempts, 1);
	assert_int_equal(j.due, 1000);
	assert_true(cg_store_commit(t, &err));

	/* Flush: a retry (deferred after a failure) is due now; a job
	 * scheduled for later (a reminder) keeps its time. */
	t = cg_store_begin(fx->s, &err);
	assert_true(cg_store_job_defer(t, &j, G_MAXINT64 / 2, &err));
	assert_true(cg_store_job_schedule(t, CG_JOB_REMIND, "0a1b|86400", 5000, &err));
	assert_true(cg_store_commit(t, &err));
	assert_int_equal(cg_store_job_flush(fx->s, &err), 1);
	assert_true(cg_store_job_count(fx->s, &q, &d, &err));
	assert_int_equal(q, 1);
	assert_int_equal(d, 1);
	assert_int_equal(cg_store_job_release(fx->s, 4999, &next, &err), 0);
	assert_int_equal(next, 5000);
	assert_int_equal(cg_store_job_release(fx->s, 5000, &next, &err), 1);
	t = cg_store_begin(fx->s, &err);
	assert_true(cg_store_job_consume(t, 0, &j, &err));
	assert_string_equal(j.id, "R1#1");
	assert_true(cg_store_job_consume(t, 0, &j, &err));
	assert_int_equal(j.kind, CG_JOB_REMIND);
	assert_int_equal(j.attempts, 0);
	assert_true(cg_store_commit(t, &err));
}

static void
test_job_wakes_waiting_consumer(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	g_autofree char *db = g_build_filename(fx->dir, "db", NULL);
	g_autofree char *ev = g_build_filename(fx->dir, "evidence", NULL);
	g_autofree char *tool = cg_test_tool("cg-storetool");
	char *argv[] = {tool, "job", db, ev, "now", "200", NULL};
	CgTxn *t;
	CgJob j;
	GPid pid;
	int status;
	gint64 start;

	/* Another process appends while this one waits on an empty queue. */
	assert_true(
	    g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &err));
	start = g_get_monotonic_time();
	t = cg_store_begin(fx->s, &err);
	assert_true(cg_store_job_consume(t, 5000, &j, &err));
	assert_true(cg_store_commit(t, &err));
	assert_string_equal(j.id, "now");
	assert_int_equal(j.kind, CG_JOB_CRL);
	/* It came well before the 5 s timeout. */
	assert_true(g_get_monotonic_time() - start < 4 * G_USEC_PER_SEC);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_seen_and_counters(void **state)
{
	Fx *fx = *state;
	g_autoptr(GError) err = NULL;
	guint8 dg[32];
	g_autofree char *id = NULL;
	char *none;
	guint64 a = 0, b = 0, c = 0;
	CgTxn *t;

	cg_sha256("message", 7, dg);
	none = cg_store_seen_get(fx->s, NULL, dg, "enroll", &err);
	assert_null(none);
	assert_error(err, CG_ERROR_NOT_FOUND, NULL);
	g_clear_error(&err);
	t = cg_store_begin(fx->s, &err);
	assert_true(cg_store_seen_put(t, dg, "enroll", "R7", 1795290780, &err));
	assert_false(cg_store_seen_put(t, dg, "enroll", "R8", 1795290781, &err));
	assert_error(err, CG_ERROR_DUPLICATE, NULL);
	g_clear_error(&err);
	/* The same digest in another scope is another record. */
	assert_true(cg_store_seen_put(t, dg, "revoke", "R9", 1795290781, &err));
	assert_true(cg_store_next_id(t, "org", &a, &err));
	assert_true(cg_store_next_id(t, "org", &b, &err));
	assert_true(cg_store_next_id(t, "request", &c, &err));
	assert_true(cg_store_commit(t, &err));
	id = cg_store_seen_get(fx->s, NULL, dg, "enroll", &err);
	assert_string_equal(id, "R7");
	g_free(id);
	id = cg_store_seen_get(fx->s, NULL, dg, "revoke", &err);
	assert_string_equal(id, "R9");
	g_free(id);
	none = cg_store_seen_get(fx->s, NULL, dg, "letter", &err);
	assert_null(none);
	assert_error(err, CG_ERROR_NOT_FOUND, NULL);
	g_clear_error(&err);
	/* A record from before scopes (the digest alone) is found in any. */
	cg_sha256("older", 5, dg);
	t = cg_store_begin(fx->s, &err);
	assert_true(cg_store_seen_put(t, dg, NULL, "R1", 1795290780, &err));
	assert_true(cg_store_commit(t, &err));
	id = cg_store_seen_get(fx->s, NULL, dg, "letter", &err);
	assert_string_equal(id, "R1");
	assert_int_equal(a, 1);
	assert_int_equal(b, 2);
	assert_int_equal(c, 1);
}

typedef struct {
	CgStore *s;
	int rounds;
} Racer;

static gboolean
bump(CgTxn *txn, gpointer data, GError **error)
{
	guint64 v;

	(void)data;
	/* Two counters in opposite orders from two threads: deadlocks happen
	 * and are retried inside cg_store_transact. */
	if (GPOINTER_TO_INT(data) == 0)
		return cg_store_next_id(txn, "left", &v, error) &&
		       cg_store_next_id(txn, "right", &v, error);
	return cg_store_next_id(txn, "right", &v, error) &&
	       cg_store_next_id(txn, "left", &v, error);
}

static gpointer
race(gpointer data)
{
	Racer *r = data;
	int i, ok = 0;

	for (i = 0; i < r->rounds; i++)
		ok += cg_store_transact(r->s, bump, GINT_TO_POINTER(r->rounds % 2), NULL);
	return GINT_TO_POINTER(ok);
}

static void
test_deadlock_retry(void **state)
{
	Fx *fx = *state;
	Racer r1 = {fx->s, 200}, r2 = {fx->s, 201};
	GThread *t1 = g_thread_new("r1", race, &r1), *t2 = g_thread_new("r2", race, &r2);
	int ok1 = GPOINTER_TO_INT(g_thread_join(t1)), ok2 = GPOINTER_TO_INT(g_thread_join(t2));
	g_autoptr(GError) err = NULL;
	guint64 v;
	CgTxn *t;

	assert_int_equal(ok1, 200);
	assert_int_equal(ok2, 201);
	t = cg_store_begin(fx->s, &err);
	assert_true(cg_store_next_id(t, "left", &v, &err));
	assert_int_equal(v, 402);
	cg_store_abort(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_audit_chain, cg_storefx_setup, cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_audit_cut_tail, cg_storefx_setup, cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_jobs, cg_storefx_setup, cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_job_wakes_waiting_consumer, cg_storefx_setup, cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_seen_and_counters, cg_storefx_setup, cg_storefx_teardown),
	    cmocka_unit_test_setup_teardown(test_deadlock_retry, cg_storefx_setup, cg_storefx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
