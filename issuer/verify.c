/*
 * verify.c: signature verifications on the other cores.
 *
 * Of an issue job's work, the two signature verifications are the largest
 * part (the CSR's self-signature and the signed certificate's, each an
 * ECDSA verification for a P-256 key), and they depend on nothing in the
 * store. The issuer hands them to threads of its own:
 *
 * - a CSR before its job runs: the batch reads the CSRs of the issue jobs
 *   a few places ahead of the one running and hands them over, and each
 *   job takes its CSR's verdict, and the CSR as parsed (waiting for it if
 *   need be), before it decides anything. Nothing is signed for a CSR whose
 *   self-signature has not verified;
 * - a signed certificate after signing, with the whole post-issuance lint
 *   (cg_cert_lint_signed: the DER read back, linted against what was asked
 *   for, its signature verified): the batch waits for every verdict before
 *   it commits (cg_verifier_wait). Nothing of a batch with a certificate
 *   that failed is committed; the batch runs again with each check made in
 *   line (its mail is not sent again), where that job fails in the
 *   ordinary way.
 *
 * Each task owns what it reads: the DER (a reference to immutable bytes),
 * parsed again on the worker, and for a certificate a copy of the request
 * it was signed for (its strings copied, references to its keys and the CA
 * certificate, which nothing changes). The workers share no mutable
 * OpenSSL object with the job that goes on meanwhile.
 */
#include "issuer-int.h"
#include "daemon.h"

#include <openssl/err.h>
#include <syslog.h>

typedef enum { TASK_CSR, TASK_CERT } TaskKind;

typedef struct {
	GBytes *der;
	gboolean done;
	char *why;  /* NULL: verified */
	CgCsr *csr; /* verified: the CSR as parsed, for its job */
} Verdict;

typedef struct {
	TaskKind kind;
	GBytes *der;
	CgCertRequest *req; /* TASK_CERT: what it was signed for (request_copy) */
	char *what;       /* for the verdict: the item or the serial */
	Verdict *verdict; /* TASK_CSR: where it goes */
} Task;

struct CgVerifier {
	GThreadPool *pool;
	GMutex lock;
	GCond done;
	guint pending;
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
task_free(Task *t)
{
	g_bytes_unref(t->der);
	request_free(t->req);
	g_free(t->what);
	g_free(t);
}

/* NULL when the CSR's self-signature verifies (and *csr, as parsed by
 * cg_csr_parse), or the signed certificate passes its post-issuance lint;
 * else why not. */
static char *
verdict(const Task *t, CgCsr **csr)
{
	gsize len;
	const guint8 *der = g_bytes_get_data(t->der, &len);
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) findings = NULL;
	g_autofree char *all = NULL;

	if (t->kind == TASK_CSR) {
		if ((*csr = cg_csr_parse(der, len, &err)) == NULL)
			return g_strdup(err->message);
		cg_csr_check_key(*csr); /* its shape, for the job's cg_policy_issue */
		return NULL;
	}
	findings = g_ptr_array_new_with_free_func(g_free);
	if (cg_cert_lint_signed(t->der, t->req, findings))
		return NULL;
	ERR_clear_error();
	g_ptr_array_add(findings, NULL);
	all = g_strjoinv("; ", (char **)findings->pdata);
	return g_strdup_printf("%s: post-issuance lint refused the signed certificate: %s", t->what,
	                       all);
}

static void
work(gpointer data, gpointer user_data)
{
	Task *t = data;
	CgVerifier *v = user_data;
	CgCsr *csr = NULL;
	char *why = verdict(t, &csr);

	g_mutex_lock(&v->lock);
	if (t->kind == TASK_CSR) {
		if (t->verdict != NULL) {
			t->verdict->why = g_steal_pointer(&why);
			t->verdict->csr = g_steal_pointer(&csr);
			t->verdict->done = TRUE;
		}
	} else if (why != NULL && v->failure == NULL) {
		v->failure = g_steal_pointer(&why);
	}
	v->pending--;
	g_cond_broadcast(&v->done);
	g_mutex_unlock(&v->lock);
	task_free(t);
	g_free(why);
	cg_csr_free(csr);
}

CgVerifier *
cg_verifier_new(guint threads)
{
	CgVerifier *v;
	g_autoptr(GError) err = NULL;

	if (threads == 0)
		return NULL;
	v = g_new0(CgVerifier, 1);
	g_mutex_init(&v->lock);
	g_cond_init(&v->done);
	v->csrs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, verdict_free);
	v->pool = g_thread_pool_new(work, v, (gint)threads, TRUE, &err);
	if (v->pool == NULL) {
		cg_log(LOG_WARNING, "no verification threads (%s): signatures are verified in line",
		       err->message);
		g_hash_table_unref(v->csrs);
		g_mutex_clear(&v->lock);
		g_cond_clear(&v->done);
		g_free(v);
		return NULL;
	}
	return v;
}

void
cg_verifier_free(CgVerifier *v)
{
	if (v == NULL)
		return;
	g_thread_pool_free(v->pool, FALSE, TRUE);
	g_hash_table_unref(v->csrs);
	g_free(v->failure);
	g_mutex_clear(&v->lock);
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
	g_mutex_unlock(&v->lock);
	/* An exclusive pool made its threads at once: pushing cannot fail. */
	g_thread_pool_push(v->pool, t, NULL);
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

	*why = NULL;
	*csr = NULL;
	if (v == NULL)
		return FALSE;
	g_mutex_lock(&v->lock);
	if ((got = g_hash_table_lookup(v->csrs, what)) == NULL) {
		g_mutex_unlock(&v->lock);
		return FALSE;
	}
	while (!got->done)
		g_cond_wait(&v->done, &v->lock);
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

gboolean
cg_verifier_wait(CgVerifier *v, char **failure)
{
	char *why;

	if (v == NULL)
		return TRUE;
	g_mutex_lock(&v->lock);
	while (v->pending > 0)
		g_cond_wait(&v->done, &v->lock);
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
