/*
 * renew.c: answers to expiry reminders (issuer/remind.c), taken by the
 * challenge handler once the token, the reply's facts and its
 * authentication passed. The answer carries a CSR; the certificate is
 * renewed for the same mailbox, organisation and profile, every check made
 * again (policy/renewal.c). A request of one item goes to the issuer, which
 * checks once more before it signs, records the renewal on the old
 * certificate and reports to the admin, naming both serials.
 *
 * check: the CSR, and the facts as they stand (no transaction). When the
 *   organisation's own domain has lapsed, a new challenge is queued (in a
 *   transaction of its own, at most once per ChallengeLifetime) and the
 *   answer refused, saying so: answering again after the postmaster does
 *   renews.
 * apply: the facts again in the transaction (another answer may have
 *   renewed it meanwhile), then the request, its item and the issue job.
 * Never: revokes the old certificate; it stays valid until it expires.
 */
#include "milter.h"
#include "common.h"
#include "policy.h"

#include <string.h>

struct CgRenewal {
	GBytes *csr;        /* DER */
	guint8 spki[32];    /* the CSR's key */
	char *requester;    /* who the request is in the name of */
	CgRequestKind kind; /* of the request that made the certificate */
};

void
cg_renewal_free(CgRenewal *r)
{
	if (r == NULL)
		return;
	if (r->csr != NULL)
		g_bytes_unref(r->csr);
	g_free(r->requester);
	g_free(r);
}

CgCsr *
cg_answer_csr(const CgMail *mail, const char *mailbox, const char *what, GError **error)
{
	g_autoptr(CgCsr) csr = NULL;
	const guint8 *data = NULL;
	gsize len = 0;
	guint i;

	for (i = 0; i < mail->body.attachments->len && data == NULL; i++) {
		const CgAttachment *a = mail->body.attachments->pdata[i];

		if (cg_enroll_is_csr_part(a))
			data = g_bytes_get_data(a->data, &len);
	}
	if (data == NULL)
		data = (const guint8 *)cg_enroll_pem_csr_next(mail->body.text, &len);
	if (data == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "the answer to %s must carry a CSR (attached, or pasted as PEM)", what);
		return NULL;
	}
	if ((csr = cg_csr_parse(data, len, error)) == NULL)
		return NULL;
	if (csr->mailbox != NULL && !cg_addr_equal(csr->mailbox, mailbox)) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "the CSR names %s, but %s is for %s", csr->mailbox, what, mailbox);
		return NULL;
	}
	if (!cg_policy_check_key_shape(csr->key, error))
		return NULL;
	return g_steal_pointer(&csr);
}

/* Every fact of the renewal, read in txn (NULL: committed state). The
 * records read are handed back for the caller's later use. */
typedef struct {
	CgRenewalFacts f;
	CgCert *cert;
	CgOrg *org;
	CgDomain *domain;
	CgRequest *origin; /* the request that made the certificate, or NULL */
} Facts;

static void
facts_clear(Facts *x)
{
	cg_cert_free(x->cert);
	cg_org_free(x->org);
	cg_domain_free(x->domain);
	cg_request_free(x->origin);
}

static gboolean
active_admin(CgStore *store, CgTxn *txn, const char *address, const char *org_id,
             gboolean *active, GError **error)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgAdmin) a = cg_store_admin_get(store, txn, address, &err);

	*active = a != NULL && a->status == CG_ADMIN_ACTIVE && strcmp(a->org_id, org_id) == 0;
	return a != NULL || cg_error_absent(&err, error);
}

static gboolean
gather(CgStore *store, const CgConf *conf, CgTxn *txn, const CgChallenge *c, const char *answerer,
       const guint8 spki[32], Facts *x, GError **error)
{
	g_autoptr(GError) err = NULL;
	CgRenewalFacts *f = &x->f;

	memset(x, 0, sizeof(*x));
	f->serial = c->target;
	f->answerer = answerer;
	if ((x->cert = cg_store_cert_get(store, txn, c->target, &err)) == NULL)
		return cg_error_absent(&err, error);
	f->cert_found = TRUE;
	f->revoked = x->cert->status == CG_CERT_REVOKED;
	f->revoked_at = x->cert->revoked_at;
	f->renewed_by = x->cert->renewed_by;
	f->not_after = x->cert->not_after;
	f->org_id = x->cert->org_id;
	f->same_key = spki != NULL && cg_memeq_ct(spki, x->cert->spki_sha256, 32);
	f->answered_by_subject = cg_addr_equal(answerer, x->cert->mailbox);
	if ((x->org = cg_store_org_get(store, txn, x->cert->org_id, error)) == NULL)
		return FALSE;
	f->org_active = x->org->status == CG_ORG_ACTIVE;
	f->org_status = cg_org_status_name(x->org->status);
	f->org_validated_at = x->org->validated_at;
	f->org_reuse = conf->org_reuse;
	f->domain.domain = cg_addr_domain(x->cert->mailbox);
	x->domain = cg_store_domain_get(store, txn, f->domain.domain, &err);
	if (x->domain == NULL && !cg_error_absent(&err, error))
		return FALSE;
	if (x->domain != NULL) {
		f->domain.registered = TRUE;
		f->domain.holder = x->domain->org_id;
		f->domain.validated = x->domain->status == CG_DOMAIN_VALIDATED;
		f->domain.status = cg_domain_status_name(x->domain->status);
		f->domain.expires_at = x->domain->expires_at;
		f->domain.method = x->domain->method;
	}
	f->domain.public_trust = cg_conf_public_trust(conf);
	if (!active_admin(store, txn, answerer, f->org_id, &f->answerer_admin, error))
		return FALSE;
	x->origin = cg_store_request_get(store, txn, x->cert->request_id, &err);
	if (x->origin == NULL && !cg_error_absent(&err, error))
		return FALSE;
	f->needs_admin = x->origin != NULL && x->origin->kind == CG_REQUEST_ENROLL;
	return !f->needs_admin || active_admin(store, txn, x->origin->requester, f->org_id,
	                                       &f->requester_admin, error);
}

static gboolean
rechallenge_txn(CgTxn *txn, gpointer data, GError **error)
{
	const char **a = data; /* domain, org, local part, "now" as text, lifetime */
	gint64 now = g_ascii_strtoll(a[3], NULL, 10), lifetime = g_ascii_strtoll(a[4], NULL, 10);
	g_autoptr(GError) err = NULL;
	g_autoptr(CgDomain) d = NULL;
	g_autofree char *job = NULL;

	/* The audit log's tail first (cg_store_audit_lock), before the domain. */
	if (!cg_store_audit_lock(txn, error))
		return FALSE;
	if ((d = cg_store_domain_get(cg_txn_store(txn), txn, a[0], &err)) == NULL)
		return cg_error_absent(&err, error);
	/* One challenge per ChallengeLifetime, however often the answer comes. */
	if (d->challenged_at > 0 && d->challenged_at + lifetime > now)
		return TRUE;
	d->challenged_at = now;
	job = g_strdup_printf("%s|%s|%s", d->domain, a[1], a[2]);
	return cg_store_domain_put(txn, d, error) &&
	       cg_store_job_append(txn, CG_JOB_CHALLENGE, job, error) &&
	       cg_store_audit_append(txn, now, "milter", "domain.challenge", d->domain,
	                             "its validation lapsed and a renewal waits for it", error);
}

static void
rechallenge(CgGateway *g, const Facts *x, gint64 now)
{
	g_autofree char *at = g_strdup_printf("%" G_GINT64_FORMAT, now);
	g_autofree char *life = g_strdup_printf("%" G_GINT64_FORMAT, g->conf->challenge_lifetime);
	const char *args[] = {x->domain->domain, x->org->id,
	                      *x->domain->local_part ? x->domain->local_part : "postmaster", at,
	                      life};
	g_autoptr(GError) err = NULL;

	/* Best effort: the answer is refused either way, and says why. */
	if (!cg_store_transact(g->store, rechallenge_txn, args, &err))
		cg_gateway_trace(g, "could not queue a challenge for %s: %s", x->domain->domain,
		                 err->message);
}

gboolean
cg_renewal_check(CgGateway *g, const CgChallenge *c, CgRenewal **out, GError **error)
{
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autoptr(CgCsr) csr = NULL;
	g_autofree char *why = NULL;
	gboolean again = FALSE;
	Facts x;
	CgRenewal *r;

	if (!gather(g->store, g->conf, NULL, c, g->mail->from, NULL, &x, error)) {
		facts_clear(&x);
		return FALSE;
	}
	if (x.cert != NULL)
		csr = cg_answer_csr(g->mail, x.cert->mailbox, "a reminder", error);
	if (x.cert != NULL && csr == NULL) {
		facts_clear(&x);
		return FALSE;
	}
	x.f.same_key = csr != NULL && cg_memeq_ct(csr->spki_sha256, x.cert->spki_sha256, 32);
	why = cg_policy_renewal(&x.f, now, &again);
	if (why != NULL) {
		if (again)
			rechallenge(g, &x, now);
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED, "%s", why);
		facts_clear(&x);
		return FALSE;
	}
	r = g_new0(CgRenewal, 1);
	r->csr = g_bytes_ref(csr->der);
	memcpy(r->spki, csr->spki_sha256, 32);
	r->kind = x.origin != NULL ? x.origin->kind : CG_REQUEST_OPERATOR;
	/* The request is the enrolling admin's while one; else the answering
	 * admin's; the operator's for what the operator issued. */
	r->requester = g_strdup(!x.f.needs_admin   ? (x.origin ? x.origin->requester : "operator")
	                        : x.f.requester_admin ? x.origin->requester
	                                              : g->mail->from);
	*out = r;
	facts_clear(&x);
	return TRUE;
}

gboolean
cg_renewal_apply(CgGateway *g, CgTxn *txn, const CgChallenge *c, const CgRenewal *r,
                 const char *auth, GError **error)
{
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autofree char *why = NULL, *rid = NULL, *detail = NULL;
	g_autoptr(GError) err = NULL;
	g_autoptr(CgItem) old = NULL;
	CgRequest req = {0};
	CgItem item = {0};
	gboolean again = FALSE;
	guint64 n = 0;
	Facts x;
	gboolean ok;

	if (!gather(g->store, g->conf, txn, c, g->mail->from, r->spki, &x, error)) {
		facts_clear(&x);
		return FALSE;
	}
	if ((why = cg_policy_renewal(&x.f, now, &again)) != NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED, "%s", why);
		facts_clear(&x);
		return FALSE;
	}
	old = cg_store_item_get(g->store, txn, x.cert->request_id, x.cert->item, &err);
	if (old == NULL && !cg_error_absent(&err, error)) {
		facts_clear(&x);
		return FALSE;
	}
	ok = cg_store_next_id(txn, "request", &n, error);
	rid = g_strdup_printf("R%" G_GUINT64_FORMAT, n);
	req.id = rid;
	req.kind = r->kind;
	req.org_id = x.cert->org_id;
	req.requester = r->requester;
	req.digest = "";
	req.status = CG_REQUEST_RECEIVED;
	req.created = now;
	req.profile = x.cert->profile;
	req.validity_days = (guint32)g->conf->default_validity;
	req.fields = x.origin ? x.origin->fields : "";
	req.format = x.origin ? x.origin->format : "pem";
	req.n_items = 1;
	req.reason = "";
	req.evidence = g->evidence_id;
	req.renews = x.cert->serial;
	item.request_id = rid;
	item.index = 1;
	item.mailbox = x.cert->mailbox;
	item.given_name = old ? old->given_name : "";
	item.surname = old ? old->surname : "";
	item.country = old ? old->country : x.org->country;
	item.department = old ? old->department : "";
	item.csr = r->csr;
	item.status = CG_ITEM_QUEUED;
	item.reason = "";
	item.serial = "";
	detail = g_strdup_printf("renewal of %s for %s, answered by %s; %s, Message-ID <%s>",
	                         x.cert->serial, x.cert->mailbox, g->mail->from, auth,
	                         g->mail->message_id ? g->mail->message_id : "-");
	ok = ok && cg_store_request_put(txn, &req, error) && cg_store_item_put(txn, &item, error) &&
	     cg_store_item_job_append(txn, rid, 1, FALSE, error) &&
	     cg_store_audit_append(txn, now, g->mail->from, "cert.renew", x.cert->serial, detail,
	                           error);
	if (ok) {
		g->request_id = g_strdup(rid);
		g->summary = g_strdup_printf("request %s renews %s: queued for issue", rid,
		                             x.cert->serial);
	}
	facts_clear(&x);
	return ok;
}
