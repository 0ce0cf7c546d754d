/*
 * verify.c: signing and signature verifications on the other cores.
 *
 * Of an issue job's work, the certificate itself (built, linted, signed,
 * read back and linted again, its signature verified) and the CSR's
 * self-signature are the larger part, and they depend on nothing in the
 * store. The issuer hands them to threads of its own:
 *
 * - a CSR before its job runs: the batch reads the CSRs of the issue jobs
 *   a few places ahead of the one running and hands them over, and each
 *   job takes its CSR's verdict, and the CSR as parsed (waiting for it if
 *   need be), before it decides anything. Nothing is signed for a CSR whose
 *   self-signature has not verified;
 * - a certificate, once its job decided to issue it (TASK_SIGN, for a CA
 *   key in memory): built for the request, its pre-issuance lint, signed,
 *   and its whole post-issuance lint (cg_cert_lint_signed: the DER read
 *   back, linted against what was asked for, its signature verified). The
 *   job goes on with its serial (chosen before) and keeps its record for
 *   later (issue.c): the batch puts it once signed, and commits only after
 *   every verdict (cg_verifier_wait). For a key on a token the batch signs
 *   in line and hands over the signed certificate's lint alone (TASK_CERT).
 *   Nothing of a batch with a certificate that failed is committed; the
 *   batch runs again with each step made in line (its mail is not sent
 *   again), where that job fails in the ordinary way.
 *
 * The batch's own thread takes tasks too: the CSRs queued while it waits
 * for one, some of the rest while too many wait (QUEUED_MAX, jobs.c), and
 * whatever is left at the batch's end. On two cores the two threads then
 * share the work instead of one waiting for the other.
 *
 * Each task owns what it reads: the DER (a reference to immutable bytes),
 * parsed again on the worker, and for a certificate a copy of the request
 * (its strings copied, references to its keys and the CA certificate,
 * which nothing changes) and the certificate it builds. What they share
 * with the CA (its signing context, copied for each signature, and its
 * extensions made once) is locked (CgCa).
 */
#include "issuer-int.h"
#include "daemon.h"

#include <openssl/err.h>
#include <syslog.h>

typedef enum { TASK_CSR, TASK_CERT, TASK_SIGN } TaskKind;

typedef struct {
	GBytes *der;
	gboolean done;
	char *why;  /* NULL: verified */
	CgCsr *csr; /* verified: the CSR as parsed, for its job */
} Verdict;

/* A certificate signed beside the batch: its DER once signed and linted. */
struct CgSigned {
	GBytes *der; /* set once by its task, read by the batch meanwhile */
};

typedef struct {
	TaskKind kind;
	GBytes *der;        /* TASK_CSR, TASK_CERT: what is checked */
	CgCertRequest *req; /* TASK_CERT, TASK_SIGN: what it was signed for (request_copy) */
	char *what;         /* for the verdict: the item or the serial */
	Verdict *verdict;   /* TASK_CSR: where it goes */
	CgCa *ca;           /* TASK_SIGN: whose key signs it */
	CgSigned *out;      /* TASK_SIGN: where its DER goes */
} Task;

/* The tasks wait in two queues: CSRs first (a job waits for its CSR's
 * verdict before it decides anything), then signatures and certificates
 * (waited for only at the batch's end). The threads take from the queues,
 * and so does the batch's own thread while it waits: for a CSR, it verifies
 * the CSRs still queued itself; at the batch's end, whatever is queued. A
 * batch whose own work ends first then does the rest of the signing with
 * them. */
struct CgVerifier {
	GThread **threads;
	guint n_threads;
	GMutex lock;
	GCond queued; /* a task queued, or stopping */
	GCond done;   /* a task done */
	GQueue csr_tasks, other_tasks;
	gboolean stopping;
	guint pending;    /* queued or running */
	char *failure;    /* the first certificate's failure since the last wait */
	GHashTable *csrs; /* what -> Verdict, until taken or the wait */
};

static void
verdict_free(gpointer p)
{
	Verdict *v = p;

	g_bytes_unref(v->der);
	g_free(v->why);
	cg_csr_free(v->csr);
	g_free(v);
}

/* A copy of an SPKI that encodes as it does (cg_spki_copy_into). Not
 * X509_PUBKEY_dup, whose copy of the key's BIT STRING (OpenSSL 3.0) drops
 * its count of unused bits, so that a key ending in a zero bit encodes
 * differently (the lint then finds it not the requested key). NULL if it
 * cannot be copied: the lint then refuses the certificate and its batch
 * runs again, checked in line. */
static X509_PUBKEY *
spki_copy(X509_PUBKEY *k)
{
	X509_PUBKEY *c = X509_PUBKEY_new();

	if (c != NULL && !cg_spki_copy_into(c, k)) {
		X509_PUBKEY_free(c);
		return NULL;
	}
	return c;
}

/* A copy of r that owns what it points to: its strings, references to
 * its keys and CA certificate, its own SubjectPublicKeyInfo. */
static CgCertRequest *
request_copy(const CgCertRequest *r)
{
	CgCertRequest *c = g_memdup2(r, sizeof(*r));

	c->mailbox = g_strdup(r->mailbox);
	c->more_mailboxes = (const char *const *)g_strdupv((char **)r->more_mailboxes);
	c->org_name = g_strdup(r->org_name);
	c->org_identifier = g_strdup(r->org_identifier);
	c->country = g_strdup(r->country);
	c->state = g_strdup(r->state);
	c->locality = g_strdup(r->locality);
	c->given_name = g_strdup(r->given_name);
	c->surname = g_strdup(r->surname);
	c->crl_url = g_strdup(r->crl_url);
	c->ca_issuers_url = g_strdup(r->ca_issuers_url);
	if (c->ca_cert != NULL)
		X509_up_ref(c->ca_cert);
	if (c->subject_key != NULL)
		EVP_PKEY_up_ref(c->subject_key);
	c->subject_spki = r->subject_spki != NULL ? spki_copy(r->subject_spki) : NULL;
	return c;
}

static void
request_free(CgCertRequest *c)
{
	if (c == NULL)
		return;
	g_free((char *)c->mailbox);
	g_strfreev((char **)c->more_mailboxes);
	g_free((char *)c->org_name);
	g_free((char *)c->org_identifier);
	g_free((char *)c->country);
	g_free((char *)c->state);
	g_free((char *)c->locality);
	g_free((char *)c->given_name);
	g_free((char *)c->surname);
	g_free((char *)c->crl_url);
	g_free((char *)c->ca_issuers_url);
	X509_free(c->ca_cert);
	EVP_PKEY_free(c->subject_key);
	X509_PUBKEY_free(c->subject_spki);
	g_free(c);
}

static void
signed_clear(gpointer p)
{
	CgSigned *s = p;

	g_bytes_unref(s->der);
}

void
cg_signed_unref(CgSigned *s)
{
	if (s != NULL)
		g_atomic_rc_box_release_full(s, signed_clear);
}

GBytes *
cg_signed_der(CgSigned *s)
{
	/* Set once by its task (run), read by the batch meanwhile. */
	return g_atomic_pointer_get(&s->der);
}

static void
task_free(Task *t)
{
	g_bytes_unref(t->der);
	request_free(t->req);
	g_free(t->what);
	cg_signed_unref(t->out);
	g_free(t);
}

/* NULL when the CSR's self-signature verifies (and *csr, as parsed by
 * cg_csr_parse), or the certificate, signed here for TASK_SIGN (its DER
 * in *der), passes its post-issuance lint; else why not. */
static char *
verdict(Task *t, CgCsr **csr, GBytes **der)
{
	gsize len;
	const guint8 *data;
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) findings = NULL;
	g_autofree char *what = NULL;

	if (t->kind == TASK_CSR) {
		data = g_bytes_get_data(t->der, &len);
		if ((*csr = cg_csr_parse(data, len, &err)) == NULL)
			return g_strdup(err->message);
		cg_csr_check_key(*csr); /* its shape, for the job's cg_policy_issue */
		return NULL;
	}
	if (t->kind == TASK_SIGN && (*der = cg_ca_make(t->ca, t->req, &err)) == NULL) {
		ERR_clear_error();
		return g_strdup_printf("%s: %s", t->what, err->message);
	}
	findings = g_ptr_array_new_with_free_func(g_free);
	if (cg_cert_lint_signed(t->kind == TASK_SIGN ? *der : t->der, t->req, findings))
		return NULL;
	g_clear_pointer(der, g_bytes_unref);
	ERR_clear_error();
	what = g_strdup_printf("%s: post-issuance lint refused the signed certificate", t->what);
	return cg_lint_refusal(what, findings);
}

/* The next task, CSRs first (only CSRs when csrs_only); NULL when none
 * waits. With v->lock held. */
static Task *
next_task(CgVerifier *v, gboolean csrs_only)
{
	Task *t = g_queue_pop_head(&v->csr_tasks);

	if (t == NULL && !csrs_only)
		t = g_queue_pop_head(&v->other_tasks);
	return t;
}

/* Runs t, taken from a queue, with v->lock held (released meanwhile). */
static void
run(CgVerifier *v, Task *t)
{
	CgCsr *csr = NULL;
	GBytes *der = NULL;
	char *why;

	g_mutex_unlock(&v->lock);
	why = verdict(t, &csr, &der);
	g_mutex_lock(&v->lock);
	if (t->kind == TASK_CSR) {
		if (t->verdict != NULL) {
			t->verdict->why = g_steal_pointer(&why);
			t->verdict->csr = g_steal_pointer(&csr);
			t->verdict->done = TRUE;
		}
	} else if (why != NULL && v->failure == NULL) {
		v->failure = g_steal_pointer(&why);
	} else if (t->kind == TASK_SIGN && why == NULL) {
		g_atomic_pointer_set(&t->out->der, g_steal_pointer(&der));
	}
	v->pending--;
	g_cond_broadcast(&v->done);
	g_mutex_unlock(&v->lock);
	task_free(t);
	g_free(why);
	g_bytes_unref(der);
	cg_csr_free(csr);
	g_mutex_lock(&v->lock);
}

static gpointer
worker(gpointer data)
{
	CgVerifier *v = data;
	Task *t;

	g_mutex_lock(&v->lock);
	while (!v->stopping) {
		if ((t = next_task(v, FALSE)) != NULL)
			run(v, t);
		else
			g_cond_wait(&v->queued, &v->lock);
	}
	g_mutex_unlock(&v->lock);
	return NULL;
}

CgVerifier *
cg_verifier_new(guint threads)
{
	CgVerifier *v;
	guint i;

	if (threads == 0)
		return NULL;
	v = g_new0(CgVerifier, 1);
	g_mutex_init(&v->lock);
	g_cond_init(&v->queued);
	g_cond_init(&v->done);
	g_queue_init(&v->csr_tasks);
	g_queue_init(&v->other_tasks);
	v->csrs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, verdict_free);
	v->threads = g_new0(GThread *, threads);
	for (i = 0; i < threads; i++) {
		g_autoptr(GError) err = NULL;
		g_autofree char *name = g_strdup_printf("cg-verify-%u", i);

		if ((v->threads[v->n_threads] = g_thread_try_new(name, worker, v, &err)) != NULL)
			v->n_threads++;
		else
			cg_log(LOG_WARNING, "a verification thread: %s", err->message);
	}
	if (v->n_threads == 0) {
		cg_log(LOG_WARNING, "no verification threads: signatures are verified in line");
		cg_verifier_free(v);
		return NULL;
	}
	return v;
}

void
cg_verifier_free(CgVerifier *v)
{
	guint i;

	if (v == NULL)
		return;
	cg_verifier_wait(v, NULL);
	g_mutex_lock(&v->lock);
	v->stopping = TRUE;
	g_cond_broadcast(&v->queued);
	g_mutex_unlock(&v->lock);
	for (i = 0; i < v->n_threads; i++)
		g_thread_join(v->threads[i]);
	g_free(v->threads);
	g_hash_table_unref(v->csrs);
	g_free(v->failure);
	g_mutex_clear(&v->lock);
	g_cond_clear(&v->queued);
	g_cond_clear(&v->done);
	g_free(v);
}

static void
push(CgVerifier *v, Task *t)
{
	g_mutex_lock(&v->lock);
	v->pending++;
	/* A name already waiting for its verdict keeps it (replacing it would
	 * free what its task writes to); this task's verdict goes nowhere. */
	if (t->kind == TASK_CSR && !g_hash_table_contains(v->csrs, t->what)) {
		t->verdict = g_new0(Verdict, 1);
		t->verdict->der = g_bytes_ref(t->der);
		g_hash_table_insert(v->csrs, g_strdup(t->what), t->verdict);
	}
	g_queue_push_tail(t->kind == TASK_CSR ? &v->csr_tasks : &v->other_tasks, t);
	g_cond_signal(&v->queued);
	g_mutex_unlock(&v->lock);
}

void
cg_verifier_csr(CgVerifier *v, GBytes *der, const char *what)
{
	Task *t = g_new0(Task, 1);

	t->kind = TASK_CSR;
	t->der = g_bytes_ref(der);
	t->what = g_strdup(what);
	push(v, t);
}

gboolean
cg_verifier_csr_take(CgVerifier *v, const char *what, GBytes *der, CgCsr **csr, char **why)
{
	Verdict *got;
	gpointer key = NULL;
	gboolean same;
	Task *t;

	*why = NULL;
	*csr = NULL;
	if (v == NULL)
		return FALSE;
	g_mutex_lock(&v->lock);
	if ((got = g_hash_table_lookup(v->csrs, what)) == NULL) {
		g_mutex_unlock(&v->lock);
		return FALSE;
	}
	/* Not verified yet: the CSRs still queued (this one among them, or
	 * one a job ahead will want) are verified here meanwhile. */
	while (!got->done) {
		if ((t = next_task(v, TRUE)) != NULL)
			run(v, t);
		else
			g_cond_wait(&v->done, &v->lock);
	}
	g_hash_table_steal_extended(v->csrs, what, &key, NULL);
	g_mutex_unlock(&v->lock);
	g_free(key);
	same = g_bytes_equal(got->der, der);
	if (same) {
		*why = g_steal_pointer(&got->why);
		*csr = g_steal_pointer(&got->csr);
	}
	verdict_free(got);
	return same;
}

void
cg_verifier_cert(CgVerifier *v, GBytes *der, const CgCertRequest *r, const char *what)
{
	Task *t = g_new0(Task, 1);

	t->kind = TASK_CERT;
	t->der = g_bytes_ref(der);
	t->req = request_copy(r);
	t->what = g_strdup(what);
	push(v, t);
}

CgSigned *
cg_verifier_sign(CgVerifier *v, CgCa *ca, const CgCertRequest *r, const char *what)
{
	Task *t = g_new0(Task, 1);
	CgSigned *s = g_atomic_rc_box_new0(CgSigned);

	t->kind = TASK_SIGN;
	t->ca = ca;
	t->req = request_copy(r);
	t->what = g_strdup(what);
	t->out = g_atomic_rc_box_acquire(s);
	push(v, t);
	return s;
}

guint
cg_verifier_queued(CgVerifier *v)
{
	guint n;

	if (v == NULL)
		return 0;
	g_mutex_lock(&v->lock);
	n = v->csr_tasks.length + v->other_tasks.length;
	g_mutex_unlock(&v->lock);
	return n;
}

gboolean
cg_verifier_run_one(CgVerifier *v)
{
	Task *t;

	if (v == NULL)
		return FALSE;
	g_mutex_lock(&v->lock);
	if ((t = next_task(v, FALSE)) != NULL)
		run(v, t);
	g_mutex_unlock(&v->lock);
	return t != NULL;
}

gboolean
cg_verifier_wait(CgVerifier *v, char **failure)
{
	char *why;
	Task *t;

	if (v == NULL)
		return TRUE;
	g_mutex_lock(&v->lock);
	while (v->pending > 0) {
		if ((t = next_task(v, FALSE)) != NULL)
			run(v, t);
		else
			g_cond_wait(&v->done, &v->lock);
	}
	why = g_steal_pointer(&v->failure);
	g_hash_table_remove_all(v->csrs); /* verdicts no job took */
	g_mutex_unlock(&v->lock);
	if (why == NULL)
		return TRUE;
	if (failure != NULL)
		*failure = why;
	else
		g_free(why);
	return FALSE;
}
