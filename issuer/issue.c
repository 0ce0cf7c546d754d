/*
 * issue.c: issuing one request item, and queueing operator requests.
 *
 * The issuer trusts nothing the milter (or the operator command) decided: at
 * the moment of signing it gathers the facts from the current store and the
 * CSR (organisation, requesting admin, the mailbox's domain, the key's other
 * certificates), lets policy decide (cg_policy_issue), then checks CAA. A
 * refusal settles the item as rejected with its reason; only a temporary
 * failure (store, DNS) makes it wait.
 */
#include "issuer-int.h"
#include "daemon.h"

#include <string.h>
#include <syslog.h>

/* A certificate of the batch signed beside it (cg_ca_issue_later): its
 * record, every field but its DER, put in the batch's transaction once the
 * certificate is signed (cg_issuer_put_signed), between two jobs. Until
 * then, the batch's later jobs find its key here (gather_key). */
typedef struct {
	CgCert *c;
	CgSigned *s;
	gboolean put;
} Pending;

/* What the store and the CSR say, for cg_policy_issue(). */
typedef struct {
	CgIssueFacts f;
	CgDomain *domain;
	CgCsr *csr;
	char *csr_error;
	GPtrArray *certified_for; /* mailboxes already certified for the key */
	char *certified_serial;
	char **renews;
} Gathered;

static void
gathered_clear(Gathered *g)
{
	cg_domain_free(g->domain);
	cg_csr_free(g->csr);
	g_free(g->csr_error);
	if (g->certified_for != NULL)
		g_ptr_array_unref(g->certified_for);
	g_free(g->certified_serial);
	g_strfreev(g->renews);
}

typedef struct {
	const char *mailbox;
	gint64 now;
	char **renews; /* serials the request asked to renew */
	GPtrArray *others;
	gboolean compromised;
	char *serial; /* a certificate of the key for this mailbox: a revoked
	               * one first, else a valid one not asked to renew */
	gboolean valid, asked;
} KeyUse;

static gboolean
collect_key_use(gconstpointer rec, gpointer data)
{
	const CgCert *c = rec;
	KeyUse *u = data;

	gboolean valid = c->status == CG_CERT_VALID && c->not_after > u->now;
	gboolean asked = u->renews != NULL && g_strv_contains((const char *const *)u->renews, c->serial);

	if (c->status == CG_CERT_REVOKED && c->reason == 1)
		u->compromised = TRUE;
	if (!cg_addr_equal(c->mailbox, u->mailbox)) {
		g_ptr_array_add(u->others, g_strdup(c->mailbox));
		return TRUE;
	}
	/* An expired one, not revoked, does not stand in the way. */
	if (!valid && c->status != CG_CERT_REVOKED)
		return TRUE;
	if (u->serial == NULL || (u->valid && (!valid || !asked))) {
		g_free(u->serial);
		u->serial = g_strdup(c->serial);
		u->valid = valid;
		u->asked = asked;
	}
	return TRUE;
}

/* The facts of mailbox's domain, borrowed from *rec (the record, or NULL
 * when there is none; the caller frees it). FALSE only for a store error. */
static gboolean
domain_facts(CgStore *store, const CgConf *conf, CgTxn *txn, const char *mailbox, CgDomain **rec,
             CgDomainFacts *f, GError **error)
{
	g_autoptr(GError) err = NULL;
	const char *name = cg_addr_domain(mailbox);
	CgDomain *d = *rec = cg_store_domain_get(store, txn, name, &err);

	*f = (CgDomainFacts){name,
	                     d != NULL,
	                     d ? d->org_id : NULL,
	                     d && d->status == CG_DOMAIN_VALIDATED,
	                     d ? cg_domain_status_name(d->status) : NULL,
	                     d ? d->expires_at : 0,
	                     d ? d->method : "",
	                     cg_conf_public_trust(conf)};
	return d != NULL || cg_error_absent(&err, error);
}

/* The item's key: which other mailboxes hold it, was it compromised, was
 * it certified for this mailbox before (and is that asked to be renewed). */
static gboolean
gather_key(CgIssuer *iss, CgTxn *txn, const char *mailbox, const char *renews, gint64 now,
           Gathered *g, GError **error)
{
	g_autofree char *spki = cg_hex(g->csr->spki_sha256, 32);
	KeyUse u = {0};
	gsize n_own;
	guint i;

	g->renews = g_strsplit_set(renews ? renews : "", ", ", -1);
	u.mailbox = mailbox;
	u.now = now;
	u.renews = g->renews;
	u.others = g->certified_for = g_ptr_array_new_with_free_func(g_free);
	if (!cg_store_foreach_by(iss->store, txn, CG_INDEX_CERT_BY_SPKI, spki, collect_key_use, &u,
	                         error)) {
		g_free(u.serial);
		return FALSE;
	}
	/* And the batch's certificates not yet put. */
	for (i = 0; i < iss->pending->len; i++) {
		const Pending *p = g_ptr_array_index(iss->pending, i);

		if (memcmp(p->c->spki_sha256, g->csr->spki_sha256, 32) == 0)
			collect_key_use(p->c, &u);
	}
	g->certified_serial = u.serial;
	g->f.key.certified_serial = u.serial;
	g->f.key.certified_valid = u.valid;
	g->f.key.renewal_asked = u.asked;
	g_ptr_array_add(u.others, NULL);
	g->f.key.mailbox = mailbox;
	g->f.key.ca_keys = cg_ca_own_keys(iss->ca, &n_own);
	g->f.key.n_ca_keys = n_own;
	g->f.key.compromised = u.compromised;
	g->f.key.certified_for = (char **)u.others->pdata;
	g->f.key.spki_sha256 = g->csr->spki_sha256;
	return TRUE;
}

/* The item's CSR in g (or why not in g->csr_error): the verifier's
 * verdict and its parse when the batch handed it over beforehand (waited
 * for here, before anything is decided), else parsed and verified here. */
static void
gather_csr(CgIssuer *iss, const CgItem *item, Gathered *g)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *what = cg_item_name(item->request_id, item->index);
	const guint8 *der = g_bytes_get_data(item->csr, NULL);
	gsize len = g_bytes_get_size(item->csr);

	if (cg_verifier_csr_take(iss->verifier, what, item->csr, &g->csr, &g->csr_error))
		return;
	if ((g->csr = cg_csr_parse(der, len, &err)) == NULL)
		g->csr_error = g_strdup(err->message);
}

/* Every fact the re-checks need, read in txn. FALSE only for a store error. */
static gboolean
gather(CgIssuer *iss, CgTxn *txn, const CgRequest *req, const CgItem *item, const CgOrg *org,
       gint64 now, Gathered *g, GError **error)
{
	g_autoptr(GError) err = NULL;
	CgIssueFacts *f = &g->f;

	f->org_id = org->id;
	f->org_active = org->status == CG_ORG_ACTIVE;
	f->org_status = cg_org_status_name(org->status);
	f->org_validated_at = org->validated_at;
	f->org_reuse = iss->conf->org_reuse;
	f->org_country = org->country;
	f->by_admin = req->kind == CG_REQUEST_ENROLL;
	f->requester = req->requester;
	if (f->by_admin) {
		g_autoptr(CgAdmin) a = cg_store_admin_get(iss->store, txn, req->requester, &err);

		if (a == NULL && !cg_error_absent(&err, error))
			return FALSE;
		f->requester_active =
		    a != NULL && a->status == CG_ADMIN_ACTIVE && strcmp(a->org_id, org->id) == 0;
	}
	f->mailbox = item->mailbox;
	if (!domain_facts(iss->store, iss->conf, txn, item->mailbox, &g->domain, &f->domain, error))
		return FALSE;
	f->validity_days = req->validity_days;
	f->max_validity = (guint)iss->conf->max_validity;
	if (!cg_profile_parse(req->profile, &f->profile))
		f->profile = CG_PROFILE_ORGANIZATION;
	f->given_name = item->given_name;
	f->surname = item->surname;
	f->country = item->country;
	gather_csr(iss, item, g);
	if (g->csr == NULL)
		return TRUE;
	f->csr = g->csr;
	return gather_key(iss, txn, item->mailbox, req->renews, now, g, error);
}

/* The re-checks: the facts gathered, policy's decision, then CAA (DNS).
 * FALSE only for a store or DNS error (the job waits); otherwise TRUE, with
 * *refusal set when the item must be refused. */
static gboolean
recheck(CgIssuer *iss, CgTxn *txn, const CgRequest *req, const CgItem *item, const CgOrg *org,
        gint64 now, Gathered *g, char **refusal, char **caa, GError **error)
{
	g_autoptr(GError) err = NULL;

	if (!gather(iss, txn, req, item, org, now, g, error))
		return FALSE;
	g->f.csr_error = g->csr_error;
	if ((*refusal = cg_policy_issue(&g->f, now)) != NULL)
		return TRUE;
	if (cg_caa_check(iss->conf, cg_addr_domain(item->mailbox), caa, &err))
		return TRUE;
	if (g_error_matches(err, CG_ERROR, CG_ERROR_DNS_TEMP)) {
		g_propagate_error(error, g_steal_pointer(&err));
		return FALSE;
	}
	*refusal = g_strdup(err->message);
	return TRUE;
}

static gboolean
has_field(const char *fields, const char *f)
{
	g_auto(GStrv) v = g_strsplit_set(fields ? fields : "", ", ", -1);
	char **p;

	for (p = v; *p; p++)
		if (g_ascii_strcasecmp(*p, f) == 0)
			return TRUE;
	return FALSE;
}

static void
fill_request(CgIssuer *iss, const CgRequest *req, const CgItem *item, const CgOrg *org, CgCsr *csr,
             gint64 now, CgCertRequest *r)
{
	memset(r, 0, sizeof(*r));
	if (!cg_profile_parse(req->profile, &r->profile))
		r->profile = CG_PROFILE_ORGANIZATION;
	r->multipurpose = g_strcmp0(iss->conf->certificate_profile, "multipurpose") == 0;
	r->mailbox = item->mailbox;
	r->org_name = org->name;
	r->org_identifier = org->org_identifier;
	r->country = org->country;
	r->state = org->state;
	r->locality = org->locality;
	r->given_name = item->given_name;
	r->surname = item->surname;
	r->field_email = has_field(req->fields, "E");
	r->field_locality = has_field(req->fields, "L");
	r->field_state = has_field(req->fields, "ST");
	r->validity_days = req->validity_days;
	r->max_validity_days = (guint)iss->conf->max_validity;
	r->not_before = now;
	r->ca_cert = cg_ca_cert(iss->ca);
	r->crl_url = iss->conf->crl_url;
	r->ca_issuers_url = iss->conf->ca_issuers_url;
	r->subject_key = csr->key;
	r->subject_spki = csr->spki;
}

/* One more item of req (as read in txn) settled; DONE when it was the
 * last. */
static gboolean
settle(CgTxn *txn, CgRequest *req, GError **error)
{
	req->n_settled++;
	if (req->n_settled >= req->n_items && req->status == CG_REQUEST_RECEIVED) {
		req->status = CG_REQUEST_DONE;
		/* An enrolment by mail is answered by one report. */
		if (req->kind == CG_REQUEST_ENROLL &&
		    !cg_store_job_append(txn, CG_JOB_REPORT, req->id, error))
			return FALSE;
	}
	return cg_store_request_put(txn, req, error);
}

gboolean
cg_request_settle(CgIssuer *iss, CgTxn *txn, const char *request_id, GError **error)
{
	g_autoptr(CgRequest) req = cg_store_request_get(iss->store, txn, request_id, error);

	return req != NULL && settle(txn, req, error);
}

/* Settles an item as refused for `reason`; audited as `action`. */
gboolean
cg_item_refuse(CgIssuer *iss, CgTxn *txn, CgItem *item, const char *reason, const char *action,
               gint64 now, GError **error)
{
	g_autofree char *obj = cg_item_name(item->request_id, item->index);
	g_autofree char *detail = g_strdup_printf("%s: %s", item->mailbox, reason);

	cg_log(LOG_NOTICE, "request %s: %s refused (%s): %s", obj, item->mailbox, action, reason);
	g_free(item->reason);
	item->reason = g_strdup(reason);
	item->status = CG_ITEM_REJECTED;
	return cg_store_item_put(txn, item, error) &&
	       cg_request_settle(iss, txn, item->request_id, error) &&
	       cg_store_audit_append(txn, now, "issuer", action, obj, detail, error);
}

void
cg_pending_free(gpointer p)
{
	Pending *x = p;

	cg_cert_free(x->c);
	cg_signed_unref(x->s);
	g_free(x);
}

gboolean
cg_issuer_put_signed(CgIssuer *iss, CgTxn *txn, gboolean all, GError **error)
{
	guint i;

	for (i = 0; i < iss->pending->len; i++) {
		Pending *p = g_ptr_array_index(iss->pending, i);
		GBytes *der = cg_signed_der(p->s);

		if (p->put)
			continue;
		if (der == NULL) {
			if (!all)
				continue;
			g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL,
			            "certificate %s: not signed", p->c->serial);
			return FALSE;
		}
		p->c->der = g_bytes_ref(der);
		if (!cg_store_cert_add(txn, p->c, error))
			return FALSE;
		p->put = TRUE;
	}
	return TRUE;
}

/* The record of the certificate signed for item: put in txn (der), or
 * kept in the batch until its certificate is signed (s, taken). */
static gboolean
store_cert(CgIssuer *iss, CgTxn *txn, GBytes *der, CgSigned *s, const CgItem *item,
           const CgRequest *req, const CgCertRequest *r, const CgCsr *csr, gint64 now,
           char **serial, gint64 *not_after, GError **error)
{
	CgCert c = {0};
	Pending *p;

	*serial = cg_hex(r->serial, 16);
	c.serial = *serial;
	c.der = der;
	c.org_id = req->org_id;
	c.mailbox = item->mailbox;
	memcpy(c.spki_sha256, csr->spki_sha256, 32);
	c.not_before = now;
	c.not_after = *not_after = cg_cert_request_end(r);
	c.status = CG_CERT_VALID;
	c.request_id = item->request_id;
	c.item = item->index;
	c.profile = (char *)cg_profile_name(r->profile);
	if (s == NULL)
		return cg_store_cert_add(txn, &c, error);
	p = g_new0(Pending, 1);
	p->c = g_memdup2(&c, sizeof(c));
	p->c->serial = g_strdup(c.serial);
	p->c->org_id = g_strdup(c.org_id);
	p->c->mailbox = g_strdup(c.mailbox);
	p->c->request_id = g_strdup(c.request_id);
	p->c->profile = g_strdup(c.profile);
	p->s = s;
	g_ptr_array_add(iss->pending, p);
	return TRUE;
}

gboolean
cg_issuer_issue(CgIssuer *iss, CgTxn *txn, const char *job_id, gint64 now, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(job_id, "#", 2);
	g_autoptr(CgItem) item = NULL;
	g_autoptr(CgRequest) req = NULL;
	g_autoptr(CgOrg) org = NULL;
	g_autoptr(GError) err = NULL;
	g_autofree char *serial = NULL, *detail = NULL;
	g_autofree char *refusal = NULL;
	g_autofree char *caa = NULL;
	CgCertRequest r;
	gint64 not_after = 0;
	Gathered g = {0};
	GBytes *der = NULL;
	CgSigned *s = NULL;
	gboolean ok = FALSE;

	if (parts[1] == NULL) {
		cg_log(LOG_ERR, "issue job %s: not REQUEST#ITEM; dropped", job_id);
		return TRUE;
	}
	item = cg_store_item_get(iss->store, txn, parts[0], (guint32)atoi(parts[1]), &err);
	if (item == NULL) {
		if (!cg_error_absent(&err, error))
			return FALSE;
		cg_log(LOG_ERR, "issue job %s: no such item; dropped", job_id);
		return TRUE;
	}
	if (item->status != CG_ITEM_QUEUED)
		return TRUE; /* settled already: issued exactly once */
	if ((req = cg_store_request_get(iss->store, txn, item->request_id, error)) == NULL ||
	    (org = cg_store_org_get(iss->store, txn, req->org_id, error)) == NULL)
		return FALSE;
	if (!recheck(iss, txn, req, item, org, now, &g, &refusal, &caa, error))
		goto done;
	if (refusal != NULL) {
		ok = cg_item_refuse(iss, txn, item, refusal, "cert.refuse", now, error);
		goto done;
	}
	fill_request(iss, req, item, org, g.csr, now, &r);
	/* An issuing CA certificate that has ended: the job waits (here, not
	 * on a verification thread) until the operator renews it. */
	if (!cg_cert_request_ca_current(&r, error))
		goto done;
	/* Signed beside the batch when a verification thread can: the
	 * record waits for the signature (store_cert). */
	if (iss->later != NULL && cg_ca_signs_beside(iss->ca))
		s = cg_ca_issue_later(iss->ca, &r, iss->later, &err);
	else
		der = cg_ca_issue(iss->ca, &r, iss->later, &err);
	if (der == NULL && s == NULL) {
		if (!g_error_matches(err, CG_ERROR, CG_ERROR_NOT_AUTHORISED)) {
			g_propagate_error(error, g_steal_pointer(&err));
			goto done;
		}
		ok = cg_item_refuse(iss, txn, item, err->message, "cert.refuse", now, error);
		goto done;
	}
	ok = store_cert(iss, txn, der, s, item, req, &r, g.csr, now, &serial, &not_after, error);
	g_bytes_unref(der); /* NULL when signed beside the batch */
	if (!ok)
		goto done;
	item->status = CG_ITEM_ISSUED;
	g_free(item->serial);
	item->serial = g_strdup(serial);
	{
		/* Cut to the issuing CA's end: said where the operator and the
		 * admin look (the log, the audit, the report's validity). */
		g_autofree char *cut = NULL;

		if (not_after < now + (gint64)r.validity_days * 86400 - 1) {
			g_autofree char *end = cg_time_iso(not_after);

			cut = g_strdup_printf(", valid to %s, the issuing CA's end (not %u days)",
			                      end, r.validity_days);
		}
		detail = g_strdup_printf(
		    "%s for %s, organisation %s, request %s, profile %s, key %s, "
		    "%s%s",
		    serial, item->mailbox, org->id, job_id, req->profile, g.csr->key_desc,
		    caa != NULL ? caa : "CAA not checked", cut != NULL ? cut : "");
	}
	ok = cg_store_item_put(txn, item, error) &&
	     cg_issuer_schedule_reminders(iss, txn, serial, not_after, now, error) &&
	     cg_issuer_mark_renewed(iss, txn, req->renews, req->org_id, item->mailbox, serial,
	                            error) &&
	     settle(txn, req, error) &&
	     (req->kind == CG_REQUEST_ENROLL && !iss->conf->deliver_to_subject
	          ? TRUE
	          : cg_store_job_append(txn, CG_JOB_DELIVER, serial, error)) &&
	     cg_store_audit_append(txn, now, "issuer", "cert.issue", serial, detail, error);
	if (ok)
		cg_issuer_told(iss, LOG_INFO, g_strdup_printf("issued %s", detail));
done:
	gathered_clear(&g);
	return ok;
}

/* ---- operator requests ---- */

typedef struct {
	const CgOperatorIssue *op;
	const CgConf *conf;
	GBytes *der;
	const CgOrg *org;
	gint64 now;
	char *request_id;
} Queue;

static gboolean
queue_txn(CgTxn *txn, gpointer data, GError **error)
{
	Queue *q = data;
	CgRequest req = {0};
	CgItem item = {0};
	guint64 n = 0;
	g_autofree char *job = NULL, *detail = NULL;

	if (!cg_store_next_id(txn, "request", &n, error))
		return FALSE;
	g_free(q->request_id);
	q->request_id = g_strdup_printf("R%" G_GUINT64_FORMAT, n);
	req.id = q->request_id;
	req.kind = CG_REQUEST_OPERATOR;
	req.org_id = q->org->id;
	req.requester = (char *)q->op->actor;
	req.status = CG_REQUEST_RECEIVED;
	req.created = q->now;
	req.profile = (char *)cg_profile_name(q->op->profile);
	req.validity_days =
	    q->op->validity_days ? q->op->validity_days : (guint32)q->conf->default_validity;
	req.fields = (char *)(q->op->fields ? q->op->fields : "");
	req.format = "pem";
	req.n_items = 1;
	item.request_id = q->request_id;
	item.index = 1;
	item.mailbox = (char *)q->op->mailbox;
	item.given_name = (char *)(q->op->given_name ? q->op->given_name : "");
	item.surname = (char *)(q->op->surname ? q->op->surname : "");
	item.country = q->org->country;
	item.csr = q->der;
	item.status = CG_ITEM_QUEUED;
	job = cg_item_name(q->request_id, 1);
	detail = g_strdup_printf("%s for %s, organisation %s, profile %s", job, q->op->mailbox,
	                         q->org->id, req.profile);
	return cg_store_request_put(txn, &req, error) && cg_store_item_put(txn, &item, error) &&
	       cg_store_job_append(txn, CG_JOB_ISSUE, job, error) &&
	       cg_store_audit_append(txn, q->now, q->op->actor, "request.operator", job, detail,
	                             error);
}

char *
cg_issuer_queue_operator(CgStore *store, const CgConf *conf, const CgOperatorIssue *op, gint64 now,
                         GError **error)
{
	g_autoptr(CgOrg) org = cg_store_org_get(store, NULL, op->org_id, error);
	g_autoptr(CgCsr) csr = NULL;
	g_autoptr(CgDomain) rec = NULL;
	g_autofree char *why = NULL;
	CgDomainFacts d;
	Queue q = {op, conf, NULL, NULL, now, NULL};

	if (org == NULL)
		return NULL;
	if ((why = cg_policy_org_usable(org->id, org->status == CG_ORG_ACTIVE,
	                                cg_org_status_name(org->status), org->validated_at,
	                                conf->org_reuse, now)) != NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED, "%s", why);
		return NULL;
	}
	if (!domain_facts(store, conf, NULL, op->mailbox, &rec, &d, error))
		return NULL;
	if ((why = cg_policy_domain_usable(&d, org->id, now)) != NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED, "%s", why);
		return NULL;
	}
	csr = cg_csr_parse(g_bytes_get_data(op->csr, NULL), g_bytes_get_size(op->csr), error);
	if (csr == NULL)
		return NULL;
	if (csr->mailbox != NULL && !cg_addr_equal(csr->mailbox, op->mailbox)) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED, "the CSR names %s, not %s",
		            csr->mailbox, op->mailbox);
		return NULL;
	}
	if (!cg_policy_check_key(csr->key, NULL, error))
		return NULL;
	if (op->profile == CG_PROFILE_SPONSOR &&
	    (op->given_name == NULL || op->surname == NULL || !*op->given_name || !*op->surname)) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "the sponsor profile needs --given-name and --surname");
		return NULL;
	}
	if (op->validity_days > (guint)conf->max_validity) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "validity of %u days is above MaxValidity %" G_GINT64_FORMAT,
		            op->validity_days, conf->max_validity);
		return NULL;
	}
	/* Stored as DER, whatever form it came in. */
	q.der = g_bytes_ref(csr->der);
	q.org = org;
	if (!cg_store_transact(store, queue_txn, &q, error)) {
		g_bytes_unref(q.der);
		g_free(q.request_id);
		return NULL;
	}
	g_bytes_unref(q.der);
	return q.request_id;
}
