/*
 * jobs.c: the queue consumer, and the one table from job kind to flow.
 *
 * Jobs are consumed in a parent transaction, each job's effects in a child
 * of its own; up to BATCH_JOBS jobs (or BATCH_US of work) share the parent,
 * so that one log flush makes many durable (group commit). A job and its
 * effects commit together, so a job is done exactly once however the
 * process dies. On a temporary failure (the MTA, DNS) the job's child is
 * aborted, undoing every effect of it, and the parent moves the job aside
 * with back-off. A job that loses a deadlock goes back to the queue and the
 * jobs before it commit (their mail is sent: running them again would send
 * it twice); when that too fails, every job of the batch is still in the
 * queue and runs again.
 * Never: runs a flow's work outside its job's transaction (the CRL file,
 * written from committed state after the commit, is the one exception).
 */
#include "issuer-int.h"
#include "daemon.h"

#include <string.h>
#include <syslog.h>

#define MAX_BACKOFF      (3600)
#define GIVE_UP_ATTEMPTS 60

/* At most this many threads verify signatures beside the batch. */
#define MAX_VERIFY_THREADS 4

typedef struct {
	int priority;
	char *line;
} Told;

static void
sent_free(gpointer p)
{
	CgSent *s = p;

	g_free(s->job);
	g_free(s);
}

static void
told_free(gpointer p)
{
	Told *t = p;

	g_free(t->line);
	g_free(t);
}

CgIssuer *
cg_issuer_new(const CgConf *conf, CgStore *store, CgCa *ca)
{
	CgIssuer *iss = g_new0(CgIssuer, 1);
	guint cpus = g_get_num_processors();

	iss->conf = cg_conf_ref((CgConf *)conf);
	iss->store = store;
	iss->ca = ca;
	/* One core goes on with the batch, the others verify. */
	if (ca != NULL && cpus > 1)
		iss->verifier = cg_verifier_new(MIN(cpus - 1, MAX_VERIFY_THREADS));
	iss->told = g_ptr_array_new_with_free_func(told_free);
	iss->sent = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, sent_free);
	iss->committed = g_ptr_array_new_with_free_func(g_free);
	iss->aside = g_ptr_array_new();
	iss->pending = g_ptr_array_new_with_free_func(cg_pending_free);
	return iss;
}

void
cg_issuer_free(CgIssuer *iss)
{
	if (iss == NULL)
		return;
	cg_verifier_free(iss->verifier);
	g_ptr_array_unref(iss->told);
	g_hash_table_unref(iss->sent);
	g_ptr_array_unref(iss->committed);
	g_ptr_array_unref(iss->aside); /* empty: every batch settles its mail */
	g_ptr_array_unref(iss->pending);
	cg_conf_unref(iss->conf);
	g_free(iss);
}

void
cg_issuer_told(CgIssuer *iss, int priority, char *line)
{
	Told *t = g_new0(Told, 1);

	t->priority = priority;
	t->line = line;
	g_ptr_array_add(iss->told, t);
}

static gboolean
was_committed(gpointer key, gpointer value, gpointer data)
{
	const CgSent *s = value;
	GPtrArray *committed = data;
	guint i;

	(void)key;
	for (i = 0; i < committed->len; i++)
		if (strcmp(g_ptr_array_index(committed, i), s->job) == 0)
			return TRUE;
	return FALSE;
}

/* The batch committed (tell) or did not: what its jobs told is logged or
 * forgotten, the mail of its jobs no longer remembered or kept in mind for
 * their next run; nothing handed to the verifier is still running. */
static void
batch_end(CgIssuer *iss, gboolean tell)
{
	g_autofree char *failed = NULL;
	guint i;

	/* Mail under way is waited for: what went is remembered as sent. */
	cg_issuer_mail_settle(iss, &failed);
	iss->mail_aside = FALSE;
	if (tell && iss->committed->len > 0 && g_hash_table_size(iss->sent) > 0)
		g_hash_table_foreach_remove(iss->sent, was_committed, iss->committed);
	g_ptr_array_set_size(iss->committed, 0);

	cg_verifier_wait(iss->verifier, NULL);
	iss->later = NULL;
	g_ptr_array_set_size(iss->pending, 0);
	for (i = 0; tell && i < iss->told->len; i++) {
		Told *t = g_ptr_array_index(iss->told, i);

		cg_log(t->priority, "%s", t->line);
	}
	g_ptr_array_set_size(iss->told, 0);
}

void
cg_issuer_set_conf(CgIssuer *iss, const CgConf *conf)
{
	CgConf *old = iss->conf;

	iss->conf = cg_conf_ref((CgConf *)conf);
	cg_conf_unref(old);
}

gboolean
cg_job_malformed(const CgJob *job, GError **error)
{
	g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "%s job %s: malformed id",
	            cg_job_kind_name(job->kind), job->id);
	return FALSE;
}

static gboolean
run_issue(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
          GError **error)
{
	(void)temporary;
	return cg_issuer_issue(iss, txn, job->id, now, error);
}

static gboolean
run_deliver(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
            GError **error)
{
	return cg_issuer_deliver(iss, txn, job->id, now, temporary, error);
}

/* The CRL is written after the job's commit, from committed state. */
static gboolean
run_crl(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
        GError **error)
{
	(void)iss, (void)txn, (void)job, (void)now, (void)temporary, (void)error;
	return TRUE;
}

typedef gboolean (*JobFunc)(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                            gboolean *temporary, GError **error);

static const JobFunc flows[CG_JOB_KIND_MAX + 1] = {
    [CG_JOB_CHALLENGE] = cg_issuer_run_challenge,
    [CG_JOB_ISSUE] = run_issue,
    [CG_JOB_DELIVER] = run_deliver,
    [CG_JOB_REPORT] = cg_issuer_run_report,
    [CG_JOB_INVITE] = cg_issuer_run_invite,
    [CG_JOB_CRL] = run_crl,
    [CG_JOB_NOTIFY] = cg_issuer_run_notify,
    [CG_JOB_CONFIRM] = cg_issuer_run_confirm,
    [CG_JOB_REMIND] = cg_issuer_run_remind,
    [CG_JOB_STATUS] = cg_issuer_run_status,
    [CG_JOB_DIGEST] = cg_issuer_run_digest,
    [CG_JOB_DNSCHECK] = cg_issuer_run_dnscheck,
    [CG_JOB_EXPAND] = cg_issuer_run_expand,
};

static gboolean
run(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary, GError **error)
{
	if ((guint)job->kind > CG_JOB_KIND_MAX || flows[job->kind] == NULL) {
		/* A kind this issuer does not know (from a newer version): kept
		 * aside with back-off rather than lost. */
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "job kind %d is unknown",
		            (int)job->kind);
		return FALSE;
	}
	return flows[job->kind](iss, txn, job, now, temporary, error);
}

/* ---- the loop ---- */

static gboolean
write_crl(CgIssuer *iss, gint64 now, GError **error)
{
	guint64 number = 0;

	if (!cg_crl_write(iss->ca, iss->store, iss->conf, now, &number, error))
		return FALSE;
	cg_log(LOG_INFO, "CRL %" G_GUINT64_FORMAT " written to %s", number, iss->conf->crl_path);
	iss->next_crl = now + iss->conf->crl_interval;
	return TRUE;
}

static gint64
backoff(guint attempts)
{
	return MIN((gint64)30 << MIN(attempts, 10u), (gint64)MAX_BACKOFF);
}

/* How many jobs one transaction takes, and for how long at most: one log
 * flush for the lot (group commit), each job still all-or-nothing in a
 * child transaction of its own. */
#define BATCH_JOBS 64
#define BATCH_US   (50 * 1000)

typedef enum { RAN, RETRY_BATCH, FAILED } Outcome;

char *
cg_job_tag(const CgJob *job)
{
	return g_strdup_printf("%d|%s", job->kind, job->id);
}

/* Which jobs may not follow the jobs already in the batch:
 * - a job that tells the world something (every kind but issue and CRL
 *   sends mail, before its transaction commits) never follows an issue or
 *   CRL job: what it tells must be durable first. A delivery that ran in the
 *   transaction that issued its certificate mailed a certificate that a
 *   crash then took from the record (and the job issued another under a new
 *   serial); with replication, what it tells must also have been
 *   acknowledged by the replicas. Mail jobs may share a batch: none queues
 *   another to run at once (reminders are scheduled for later);
 * - a job that reads the whole store outside its transaction (the digest's
 *   counts, read committed so that no writer waits for them) follows
 *   nothing: it would wait for the locks of the batch's uncommitted writes,
 *   held by its own parent. */
static gboolean
sends_mail(CgJobKind kind)
{
	return kind != CG_JOB_ISSUE && kind != CG_JOB_CRL && kind != CG_JOB_DNSCHECK;
}

static gboolean
must_wait(CgJobKind kind, gboolean batch_makes)
{
	return kind == CG_JOB_DIGEST || (sends_mail(kind) && batch_makes);
}

/* One job in a child of txn: done, or set aside for a retry (deferred or
 * given up, in txn); RETRY_BATCH when the whole transaction must go (a lost
 * deadlock: every job of it is still in the queue). */
static Outcome
step_one(CgIssuer *iss, CgTxn *txn, CgJob *job, gboolean *crl, GError **error)
{
	g_autoptr(GError) err = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	gboolean temporary = FALSE;
	guint pending = iss->pending->len;
	CgTxn *child;

	if ((child = cg_store_begin_child(txn, error)) == NULL)
		return FAILED;
	iss->job = job;
	if (run(iss, child, job, now, &temporary, &err) && cg_store_commit(child, &err)) {
		iss->job = NULL;
		if (job->kind == CG_JOB_CRL)
			*crl = TRUE;
		if (sends_mail(job->kind))
			g_ptr_array_add(iss->committed, cg_job_tag(job));
		return RAN;
	}
	iss->job = NULL;
	cg_store_abort(child);
	g_ptr_array_set_size(iss->pending, pending); /* what it signed is not put */
	if (g_error_matches(err, CG_ERROR, CG_ERROR_DEADLOCK)) {
		cg_log(LOG_INFO, "%s job %s: %s; its batch runs again", cg_job_kind_name(job->kind),
		       job->id, err->message);
		return RETRY_BATCH;
	}
	if (job->attempts >= GIVE_UP_ATTEMPTS) {
		cg_log(LOG_ERR, "%s job %s failed %u times; given up: %s",
		       cg_job_kind_name(job->kind), job->id, job->attempts, err->message);
		return cg_store_audit_append(txn, now, "issuer", "job.abandoned", job->id,
		                             err->message, error)
		           ? RAN
		           : FAILED;
	}
	cg_log(temporary ? LOG_WARNING : LOG_ERR, "%s job %s: %s; retry in %" G_GINT64_FORMAT " s",
	       cg_job_kind_name(job->kind), job->id, err->message, backoff(job->attempts));
	return cg_store_job_defer(txn, job, now + backoff(job->attempts), error) ? RAN : FAILED;
}

/* How many jobs ahead of the one running have their CSRs with the
 * verifier: enough to keep it busy. A job whose CSR it has runs in the
 * batch even past BATCH_US, so that no CSR is verified twice. */
#define VERIFY_AHEAD 2

/* How many tasks may wait for the verification threads before the batch
 * runs them itself: the signing keeps up with the batch, which therefore
 * reaches its time limit (BATCH_US) with the signatures in it made. */
#define QUEUED_MAX 6

/* Hands the CSR of an issue job to the verifier before it runs (read in
 * txn, which keeps it as read until it ends). An item it cannot read here
 * is read and verified by its job, in line. */
static void
hand_over_csr(CgIssuer *iss, CgTxn *txn, const CgJob *job)
{
	g_auto(GStrv) parts = NULL;
	g_autoptr(GBytes) csr = NULL;
	g_autofree char *what = NULL;
	guint32 index;

	if (job->kind != CG_JOB_ISSUE)
		return;
	parts = g_strsplit(job->id, "#", 2);
	if (parts[1] == NULL ||
	    (csr = cg_store_item_csr_hint(iss->store, txn, parts[0],
	                                  index = (guint32)atoi(parts[1]))) == NULL)
		return;
	what = cg_item_name(parts[0], index);
	cg_verifier_csr(iss->verifier, csr, what);
}

/* A batch's jobs, taken from the queue as the batch reaches them. */
typedef struct {
	CgJob jobs[BATCH_JOBS];
	guint taken;
	gboolean makes; /* it has an issue or CRL job (must_wait) */
	gboolean ended; /* nothing more joins it */
} Batch;

/* Takes jobs from the queue into b, in txn, without waiting (the caller
 * waited, outside it), until b holds upto jobs (at most BATCH_JOBS) or the
 * batch ends: the queue is empty, a job must wait for the batch's commit
 * (must_wait: it goes back to the queue's tail and starts the next), or
 * the first is a digest (which follows nothing, and nothing follows).
 * A job is taken only when the batch is about to run it or hand its CSR to
 * the verifier, and every job taken runs: one that did not, back at the
 * queue's tail, waited behind everything queued meanwhile (in a list of
 * thousands, behind the delivery of every other certificate).
 * FALSE when txn must go (*idle: the queue was empty). */
static gboolean
take_jobs(CgTxn *txn, Batch *b, guint upto, gboolean *idle, GError **error)
{
	g_autoptr(GError) err = NULL;

	while (!b->ended && b->taken < MIN(upto, BATCH_JOBS)) {
		CgJob *job = &b->jobs[b->taken];

		if (!cg_store_job_consume(txn, 0, job, &err)) {
			if (g_error_matches(err, CG_ERROR, CG_ERROR_TIMEOUT) && b->taken > 0) {
				b->ended = TRUE; /* the queue is empty: this is the batch */
				break;
			}
			*idle = g_error_matches(err, CG_ERROR, CG_ERROR_TIMEOUT);
			if (!*idle && !g_error_matches(err, CG_ERROR, CG_ERROR_DEADLOCK))
				g_propagate_error(error, g_steal_pointer(&err));
			return FALSE;
		}
		if (b->taken > 0 && must_wait(job->kind, b->makes)) {
			/* Back to the queue: it starts the next transaction. */
			if (!cg_store_job_append(txn, job->kind, job->id, &err)) {
				if (!g_error_matches(err, CG_ERROR, CG_ERROR_DEADLOCK))
					g_propagate_error(error, g_steal_pointer(&err));
				return FALSE;
			}
			b->ended = TRUE;
			break;
		}
		if (!sends_mail(job->kind) || job->kind == CG_JOB_DIGEST)
			b->makes = TRUE; /* issue, CRL: what mail tells of */
		b->ended = job->kind == CG_JOB_DIGEST;
		b->taken++;
	}
	return TRUE;
}

/* The batch of n jobs undone for a certificate that failed its checks or a
 * mail that did not go (failed), or for its signed certificates' records
 * (err): it runs again with each check or mail (each) in line; after a
 * lost deadlock, as it was. */
static void
undo(CgIssuer *iss, CgTxn *txn, guint n, const char *failed, const GError *err, const char *each)
{
	cg_store_abort(txn);
	batch_end(iss, FALSE);
	if (failed == NULL && g_error_matches(err, CG_ERROR, CG_ERROR_DEADLOCK)) {
		cg_log(LOG_INFO, "%u jobs: %s; their batch runs again", n, err->message);
		return;
	}
	cg_log(LOG_WARNING, "%s; the batch of %u jobs runs again, %s in line",
	       failed != NULL ? failed : err->message, n, each);
	iss->in_line = TRUE;
}

gboolean
cg_issuer_step(CgIssuer *iss, guint wait_ms, gboolean *idle, GError **error)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *failed = NULL;
	gint64 start, now;
	gboolean crl = FALSE;
	Batch b = {.taken = 0};
	guint n = 0, i, handed = 0;
	gboolean ahead;
	CgTxn *txn;

	*idle = FALSE;
	iss->batch++;
	/* The wait is outside the transaction: one held open while the queue
	 * is empty made a writer of the queue wait until it ended. */
	if (wait_ms > 0 && !cg_store_job_wait(iss->store, wait_ms)) {
		*idle = TRUE;
		return TRUE;
	}
	if ((txn = cg_store_begin(iss->store, error)) == NULL)
		return FALSE;
	if (!take_jobs(txn, &b, 1, idle, &err)) {
		cg_store_abort(txn);
		if (*idle && wait_ms > 0)
			g_usleep(10 * 1000); /* seen, but another took it: no busy loop */
		if (err == NULL)
			return TRUE; /* idle, or a lost deadlock: try again */
		g_propagate_error(error, g_steal_pointer(&err));
		return FALSE;
	}
	/* The audit log's tail before anything else (cg_store_audit_lock): the
	 * milter's transactions take it first too, so the two wait for each
	 * other instead of deadlocking. Not for a digest, which reads the log
	 * outside this transaction (and is a batch of its own). */
	if (b.jobs[0].kind != CG_JOB_DIGEST && !cg_store_audit_lock(txn, &err)) {
		cg_store_abort(txn);
		if (g_error_matches(err, CG_ERROR, CG_ERROR_DEADLOCK))
			return TRUE; /* every job is still in the queue */
		g_propagate_error(error, g_steal_pointer(&err));
		return FALSE;
	}
	/* Signed certificates are checked beside the batch unless it runs
	 * again for one that failed, and so are the CSRs of the jobs
	 * VERIFY_AHEAD ahead of the one running. (The mail of a batch that
	 * runs again is not sent again: cg_issuer_send.) */
	ahead = iss->verifier != NULL && !iss->in_line;
	iss->later = ahead ? iss->verifier : NULL;
	iss->mail_aside = !iss->in_line;
	start = g_get_monotonic_time();
	for (i = 0;; i++) {
		gboolean in_time = i == 0 || g_get_monotonic_time() - start < BATCH_US;
		gboolean no_idle;
		CgJob *job;
		Outcome o;

		/* Once the batch has run BATCH_US, it takes no more jobs; the
		 * jobs it took (with the verifier, some of them) still run. */
		if (in_time &&
		    !take_jobs(txn, &b, i + 1 + (ahead ? VERIFY_AHEAD : 0), &no_idle, &err)) {
			cg_store_abort(txn);
			batch_end(iss, FALSE);
			if (err == NULL)
				return TRUE; /* a lost deadlock: every job is in the queue */
			g_propagate_error(error, g_steal_pointer(&err));
			return FALSE;
		}
		if (i >= b.taken)
			break;
		job = &b.jobs[i];
		for (; ahead && handed < b.taken; handed++)
			hand_over_csr(iss, txn, &b.jobs[handed]);
		while (cg_verifier_queued(iss->verifier) > QUEUED_MAX)
			cg_verifier_run_one(iss->verifier);
		if (!cg_issuer_put_signed(iss, txn, FALSE, &err)) {
			undo(iss, txn, n, NULL, err, "each check");
			return TRUE;
		}
		o = step_one(iss, txn, job, &crl, &err);
		if (o == RETRY_BATCH && n > 0) {
			/* Keep the jobs done (their mail is sent): this one and
			 * the rest go back to the queue's tail, the batch commits. */
			g_clear_error(&err);
			for (; i < b.taken && o == RETRY_BATCH; i++)
				if (!cg_store_job_append(txn, b.jobs[i].kind, b.jobs[i].id, &err))
					o = FAILED;
			if (o == RETRY_BATCH)
				break;
		}
		if (o != RAN) {
			cg_store_abort(txn);
			batch_end(iss, FALSE);
			if (o == RETRY_BATCH)
				return TRUE;
			cg_log(LOG_ERR, "%s job %s: %s", cg_job_kind_name(job->kind), job->id,
			       err ? err->message : "failed");
			return TRUE;
		}
		n++;
	}
	/* The rest of the signing, with the verification threads, each
	 * certificate put once signed; then every check waited for. */
	while (err == NULL && cg_verifier_run_one(iss->verifier))
		cg_issuer_put_signed(iss, txn, FALSE, &err);
	if (err != NULL || !cg_verifier_wait(iss->verifier, &failed) ||
	    !cg_issuer_put_signed(iss, txn, TRUE, &err)) {
		undo(iss, txn, n, failed, err, "each check");
		return TRUE;
	}
	if (!cg_issuer_mail_settle(iss, &failed)) {
		undo(iss, txn, n, failed, NULL, "each mail");
		return TRUE;
	}
	if (!cg_store_commit(txn, &err)) {
		if (g_error_matches(err, CG_ERROR, CG_ERROR_NOT_ACKED)) {
			/* Done here, durable; what follows waits for the replicas. */
			batch_end(iss, TRUE);
			cg_log(LOG_WARNING,
			       "%u jobs committed, not yet acknowledged by the "
			       "replicas: waiting before anything more is mailed",
			       n);
			iss->unacked = TRUE;
			return TRUE;
		}
		batch_end(iss, FALSE);
		cg_log(LOG_WARNING, "%u jobs: commit failed, they will run again: %s", n,
		       err->message);
		return TRUE;
	}
	batch_end(iss, TRUE);
	iss->in_line = FALSE;
	cg_log(LOG_DEBUG, "batch of %u jobs (first: %s %s) committed in %.1f ms", n,
	       cg_job_kind_name(b.jobs[0].kind), b.jobs[0].id,
	       (g_get_monotonic_time() - start) / 1000.0);
	now = g_get_real_time() / G_USEC_PER_SEC;
	if (crl && !write_crl(iss, now, &err))
		cg_log(LOG_ERR, "CRL: %s", err->message);
	return TRUE;
}

static gboolean
files_noted_txn(CgTxn *txn, gpointer data, GError **error)
{
	CgIssuer *iss = data;

	return cg_ca_files_note(txn, iss->conf, "certgate-issuer", TRUE,
	                        g_get_real_time() / G_USEC_PER_SEC, error);
}

/* When this site starts taking jobs (its issuer starts or reloads, or it
 * becomes the master): its CA files against the notes of the verbs that
 * wrote them, each difference logged. A database from before the notes
 * gets this site's files as its first. */
static void
check_ca_files(CgIssuer *iss)
{
	g_autoptr(GPtrArray) w = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) err = NULL;
	guint i;

	iss->files_checked = TRUE;
	if (!cg_store_transact(iss->store, files_noted_txn, iss, &err)) {
		cg_log(LOG_WARNING, "noting the CA's files: %s", err->message);
		g_clear_error(&err);
	}
	if (!cg_ca_files_check(iss->store, iss->conf, w, &err)) {
		cg_log(LOG_WARNING, "checking the CA's files: %s", err->message);
		return;
	}
	for (i = 0; i < w->len; i++)
		cg_log(LOG_WARNING, "%s", (const char *)w->pdata[i]);
}

/* How often the master beats (cg_store_repl_beat). */
#define BEAT_INTERVAL 5

gboolean
cg_issuer_may_work(CgIssuer *iss, guint wait_ms, gboolean *idle)
{
	g_autoptr(GError) err = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	CgStoreRole role = cg_store_role(iss->store);

	if (role != iss->role) {
		if (role == CG_ROLE_MASTER)
			cg_log(LOG_NOTICE, "this site is the CA's master: the issuer takes jobs");
		else if (role == CG_ROLE_CLIENT)
			cg_log(LOG_NOTICE, "this site is a replication client: the issuer waits");
		iss->role = role;
		iss->next_beat = 0;
		iss->files_checked = FALSE;
	}
	if (role != CG_ROLE_CLIENT && !iss->files_checked)
		check_ca_files(iss);
	if (role == CG_ROLE_ALONE)
		return TRUE;
	if (role == CG_ROLE_MASTER && (iss->unacked || now >= iss->next_beat)) {
		if (cg_store_repl_beat(iss->store, now, &err)) {
			if (iss->unacked)
				cg_log(LOG_NOTICE,
				       "the replicas acknowledge again: the issuer goes on");
			iss->unacked = FALSE;
		} else if (!iss->unacked || !g_error_matches(err, CG_ERROR, CG_ERROR_NOT_ACKED)) {
			cg_log(LOG_WARNING, "replication beat: %s", err->message);
		}
		iss->next_beat = now + BEAT_INTERVAL;
		if (err != NULL && g_error_matches(err, CG_ERROR, CG_ERROR_NOT_ACKED))
			iss->unacked = TRUE;
	}
	if (role == CG_ROLE_MASTER && !iss->unacked)
		return TRUE;
	*idle = TRUE;
	if (iss->unacked)
		iss->next_beat = 0; /* try again after the wait */
	g_usleep((gulong)wait_ms * 1000);
	return FALSE;
}

void
cg_issuer_tick(CgIssuer *iss, gint64 now)
{
	g_autoptr(GError) err = NULL;

	if (!iss->reminders_ready) {
		if (cg_issuer_reminders_backfill(iss, now, &err) < 0) {
			cg_log(LOG_ERR, "expiry reminders for older certificates: %s",
			       err->message);
			g_clear_error(&err);
		} else {
			iss->reminders_ready = TRUE;
		}
	}
	if (now >= iss->next_release) {
		gint64 next = 0;

		if (cg_store_job_release(iss->store, now, &next, &err) < 0) {
			cg_log(LOG_ERR, "releasing deferred jobs: %s", err->message);
			g_clear_error(&err);
		}
		iss->next_release = now + 1;
	}
	if (now >= iss->next_crl && !write_crl(iss, now, &err)) {
		cg_log(LOG_ERR, "CRL: %s", err->message);
		g_clear_error(&err);
		iss->next_crl = now + 60;
	}
	if (now >= iss->next_renewal) {
		if (cg_issuer_renewals(iss, now, &err) < 0) {
			cg_log(LOG_ERR, "domain renewals: %s", err->message);
			g_clear_error(&err);
		}
		if (cg_issuer_org_renewals(iss, now, &err) < 0) {
			cg_log(LOG_ERR, "organisation renewals: %s", err->message);
			g_clear_error(&err);
		}
		iss->next_renewal = now + 3600;
	}
	cg_issuer_digest_tick(iss, now);
}
