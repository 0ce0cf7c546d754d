/*
 * jobs.c: the queue consumer.
 *
 * One job, one transaction: the job is consumed in a parent transaction and
 * its effects run in a child. On success both commit together, so a job is
 * done exactly once however the process dies. On a temporary failure (the
 * MTA, DNS) the child is aborted, undoing every effect, and the parent moves
 * the job aside with back-off, in the same commit. A lost deadlock aborts
 * both: the job is still first in the queue and runs again.
 */
#include "issuer-int.h"
#include "daemon.h"

#include <string.h>
#include <syslog.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#define MAX_BACKOFF      (3600)
#define GIVE_UP_ATTEMPTS 60

CgIssuer *
cg_issuer_new(const CgConf *conf, CgStore *store, CgCa *ca)
{
	CgIssuer *iss = g_new0(CgIssuer, 1);

	iss->conf = cg_conf_ref((CgConf *)conf);
	iss->store = store;
	iss->ca = ca;
	return iss;
}

void
cg_issuer_free(CgIssuer *iss)
{
	if (iss == NULL)
		return;
	cg_conf_unref(iss->conf);
	g_free(iss);
}

void
cg_issuer_set_conf(CgIssuer *iss, const CgConf *conf)
{
	CgConf *old = iss->conf;

	iss->conf = cg_conf_ref((CgConf *)conf);
	cg_conf_unref(old);
}

/* ---- delivery ---- */

GBytes *
cg_pem_of(X509 *cert, STACK_OF(X509) * chain)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long len;
	GBytes *out;
	int i;

	PEM_write_bio_X509(b, cert);
	for (i = 0; i < sk_X509_num(chain); i++)
		PEM_write_bio_X509(b, sk_X509_value(chain, i));
	len = BIO_get_mem_data(b, &p);
	out = g_bytes_new(p, (gsize)len);
	BIO_free(b);
	return out;
}

/* A certs-only PKCS#7 (.p7c): the certificate and its chain. */
GBytes *
cg_p7c_of(X509 *cert, STACK_OF(X509) * chain)
{
	PKCS7 *p7 = PKCS7_new();
	unsigned char *der = NULL;
	GBytes *out = NULL;
	int i, len = 0;
	gboolean ok;

	/* The certificates are referenced, not copied. */
	ok = PKCS7_set_type(p7, NID_pkcs7_signed) == 1 &&
	     PKCS7_content_new(p7, NID_pkcs7_data) == 1 && PKCS7_add_certificate(p7, cert) == 1;
	for (i = 0; ok && i < sk_X509_num(chain); i++)
		ok = PKCS7_add_certificate(p7, sk_X509_value(chain, i)) == 1;
	if (ok)
		len = i2d_PKCS7(p7, &der);
	if (len > 0)
		out = g_bytes_new(der, (gsize)len);
	OPENSSL_free(der);
	PKCS7_free(p7);
	return out;
}

static char *
delivery_text(const CgCert *c, X509 *x, const CgRequest *req, const CgOrg *org)
{
	g_autofree char *nb = cg_time_iso(c->not_before), *na = cg_time_iso(c->not_after);
	char *subj = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
	char *text =
	    g_strdup_printf("Your S/MIME certificate has been issued.\n\n"
	                    "  Mailbox:       %s\n"
	                    "  Organisation:  %s (%s)\n"
	                    "  Subject:       %s\n"
	                    "  Serial:        %s\n"
	                    "  Valid:         %s to %s\n"
	                    "  Profile:       %s\n"
	                    "  Request:       %s#%u\n\n"
	                    "Attached are the certificate with its chain (PEM or DER) and a .p7c\n"
	                    "bundle that mail clients import. Install the certificate in the mail\n"
	                    "client or on the smartcard that holds its private key.\n\n"
	                    "To revoke it, send a signed mail with \"Serial: %s\" and\n"
	                    "\"Reason: keyCompromise\" (or superseded, affiliationChanged,\n"
	                    "cessationOfOperation) to the gateway's revocation address.\n",
	                    c->mailbox, org->name, org->org_identifier, subj ? subj : "", c->serial,
	                    nb, na, c->profile, c->request_id, c->item, c->serial);

	OPENSSL_free(subj);
	(void)req;
	return text;
}

gboolean
cg_issuer_send(CgIssuer *iss, CgTxn *txn, CgOutMail *m, char **to, const char *about, gint64 now,
               gboolean *sent, gboolean *temporary, GError **error)
{
	char **t;

	*sent = FALSE;
	for (t = to; *t; t++) {
		g_autoptr(GBytes) msg = NULL;
		g_autoptr(GError) err = NULL;
		g_autofree char *what = NULL;
		CgSendResult r;

		m->to = *t;
		if ((msg = cg_outmail_compose(iss->ca, iss->conf, m, now, error)) == NULL)
			return FALSE;
		r = cg_outmail_submit(iss->conf, *t, msg, &err);
		if (r == CG_SEND_OK)
			continue;
		if (r == CG_SEND_TEMPORARY) {
			*temporary = TRUE;
			g_propagate_error(error, g_steal_pointer(&err));
			return FALSE;
		}
		/* Refused for good: trying again cannot help. The operator hears
		 * of it; the job is done. */
		what = g_strdup_printf("%s to %s: %s", m->subject, *t, err->message);
		cg_log(LOG_ERR, "%s: mail refused for good: %s", about, what);
		return cg_store_audit_append(txn, now, "issuer", "mail.failed", about, what, error);
	}
	*sent = TRUE;
	return TRUE;
}

gboolean
cg_issuer_deliver(CgIssuer *iss, CgTxn *txn, const char *serial, gint64 now, gboolean *temporary,
                  GError **error)
{
	g_autoptr(CgCert) c = cg_store_cert_get(iss->store, txn, serial, error);
	g_autoptr(CgRequest) req = NULL;
	g_autoptr(CgOrg) org = NULL;
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(cg_out_part_free);
	g_autoptr(GPtrArray) to = g_ptr_array_new();
	g_autoptr(GBytes) p7c = NULL, body = NULL;
	g_autofree char *text = NULL, *subject = NULL, *fname = NULL, *p7name = NULL;
	const unsigned char *p;
	X509 *x;
	gboolean der, ok, sent = FALSE;
	CgOutMail m = {0};

	if (c == NULL ||
	    (req = cg_store_request_get(iss->store, txn, c->request_id, error)) == NULL ||
	    (org = cg_store_org_get(iss->store, txn, c->org_id, error)) == NULL)
		return FALSE;
	if (req->kind == CG_REQUEST_ENROLL && !iss->conf->deliver_to_subject)
		return TRUE; /* queued before a reload turned DeliverToSubject off */
	p = g_bytes_get_data(c->der, NULL);
	x = d2i_X509(NULL, &p, (long)g_bytes_get_size(c->der));
	if (x == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "certificate %s does not decode",
		            serial);
		return FALSE;
	}
	der = g_strcmp0(req->format, "der") == 0;
	body = der ? g_bytes_ref(c->der) : cg_pem_of(x, cg_ca_chain(iss->ca));
	p7c = cg_p7c_of(x, cg_ca_chain(iss->ca));
	fname = g_strdup_printf("%s.%s", c->mailbox, der ? "cer" : "pem");
	p7name = g_strdup_printf("%s.p7c", c->mailbox);
	g_ptr_array_add(
	    parts,
	    cg_out_part_new(fname, der ? "application/pkix-cert" : "application/x-pem-file", body));
	g_ptr_array_add(
	    parts, cg_out_part_new(p7name, "application/pkcs7-mime; smime-type=certs-only", p7c));
	text = delivery_text(c, x, req, org);
	X509_free(x);
	subject = g_strdup_printf("Your S/MIME certificate for %s (serial %s)", c->mailbox, serial);
	/* The subject (an operator request, or DeliverToSubject): the admin
	 * of an enrolment gets every certificate in the request's report. */
	g_ptr_array_add(to, c->mailbox);
	g_ptr_array_add(to, NULL);
	m.subject = subject;
	m.text = text;
	m.parts = parts;
	ok = cg_issuer_send(iss, txn, &m, (char **)to->pdata, serial, now, &sent, temporary, error);
	g_free(m.message_id);
	if (!ok || !sent)
		return ok;
	{
		g_autofree char *who = g_strjoinv(", ", (char **)to->pdata);

		cg_log(LOG_INFO, "delivered %s to %s", serial, who);
		return cg_store_audit_append(txn, now, "issuer", "cert.deliver", serial, who,
		                             error);
	}
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

static gboolean
run(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary, GError **error)
{
	switch (job->kind) {
	case CG_JOB_ISSUE:
		return cg_issuer_issue(iss, txn, job->id, now, error);
	case CG_JOB_DELIVER:
		return cg_issuer_deliver(iss, txn, job->id, now, temporary, error);
	case CG_JOB_CRL:
		/* Outside the job's transaction: the CRL reads committed state. */
		return TRUE;
	default:
		return cg_issuer_run_more(iss, txn, job, now, temporary, error);
	}
}

static gint64
backoff(guint attempts)
{
	return MIN((gint64)30 << MIN(attempts, 10u), (gint64)MAX_BACKOFF);
}

gboolean
cg_issuer_step(CgIssuer *iss, guint wait_ms, gboolean *idle, GError **error)
{
	g_autoptr(GError) err = NULL;
	gint64 now;
	gboolean temporary = FALSE;
	CgTxn *txn, *child;
	CgJob job;

	*idle = FALSE;
	if ((txn = cg_store_begin(iss->store, error)) == NULL)
		return FALSE;
	if (!cg_store_job_consume(txn, wait_ms, &job, &err)) {
		cg_store_abort(txn);
		*idle = g_error_matches(err, CG_ERROR, CG_ERROR_TIMEOUT);
		if (*idle || g_error_matches(err, CG_ERROR, CG_ERROR_DEADLOCK))
			return TRUE;
		g_propagate_error(error, g_steal_pointer(&err));
		return FALSE;
	}
	now = g_get_real_time() / G_USEC_PER_SEC;
	if ((child = cg_store_begin_child(txn, &err)) == NULL) {
		cg_store_abort(txn);
		g_propagate_error(error, g_steal_pointer(&err));
		return FALSE;
	}
	if (run(iss, child, &job, now, &temporary, &err) && cg_store_commit(child, &err)) {
		child = NULL;
		if (!cg_store_commit(txn, &err)) {
			cg_log(LOG_WARNING, "%s job %s: commit failed, will run again: %s",
			       cg_job_kind_name(job.kind), job.id, err->message);
			return TRUE;
		}
		if (job.kind == CG_JOB_CRL && !write_crl(iss, now, &err))
			cg_log(LOG_ERR, "CRL: %s", err->message);
		return TRUE;
	}
	cg_store_abort(child);
	if (g_error_matches(err, CG_ERROR, CG_ERROR_DEADLOCK)) {
		cg_store_abort(txn);
		return TRUE;
	}
	if (job.attempts >= GIVE_UP_ATTEMPTS) {
		cg_log(LOG_ERR, "%s job %s failed %u times; given up: %s",
		       cg_job_kind_name(job.kind), job.id, job.attempts, err->message);
		cg_store_audit_append(txn, now, "issuer", "job.abandoned", job.id, err->message,
		                      NULL);
		cg_store_commit(txn, NULL);
		return TRUE;
	}
	cg_log(temporary ? LOG_WARNING : LOG_ERR, "%s job %s: %s; retry in %" G_GINT64_FORMAT " s",
	       cg_job_kind_name(job.kind), job.id, err->message, backoff(job.attempts));
	g_clear_error(&err);
	if (!cg_store_job_defer(txn, &job, now + backoff(job.attempts), &err)) {
		cg_store_abort(txn);
		cg_log(LOG_ERR, "cannot defer %s: %s", job.id, err->message);
		return TRUE;
	}
	if (!cg_store_commit(txn, &err))
		cg_log(LOG_ERR, "cannot defer %s: %s", job.id, err->message);
	return TRUE;
}

void
cg_issuer_tick(CgIssuer *iss, gint64 now)
{
	g_autoptr(GError) err = NULL;

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
		iss->next_crl = now + 60;
	}
	if (now >= iss->next_renewal) {
		if (cg_issuer_renewals(iss, now, &err) < 0) {
			cg_log(LOG_ERR, "domain renewals: %s", err->message);
			g_clear_error(&err);
		}
		iss->next_renewal = now + 3600;
	}
	if (now >= iss->next_checkpoint) {
		cg_store_checkpoint(iss->store, NULL);
		iss->next_checkpoint = now + 60;
	}
}
