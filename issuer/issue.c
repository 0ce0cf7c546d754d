/*
 * issue.c: issuing one request item, and queueing operator requests.
 *
 * The issuer trusts nothing the milter (or the operator command) decided: at
 * the moment of signing it re-checks the item against the current store and
 * policy: organisation active, requesting admin active, the mailbox's domain
 * validated for this organisation and not expired, CSR self-signature, key
 * policy (with the CA's own keys, compromised keys and keys certified for
 * other mailboxes), CAA, profile constraints. A refusal settles the item as
 * rejected with its reason; only a temporary failure (DNS) makes it wait.
 */
#include "issuer-int.h"
#include "daemon.h"

#include <string.h>
#include <syslog.h>

typedef struct {
	CgCsr *csr;
	char *refusal; /* set: refuse the item for this reason */
} Check;

static gboolean refuse(Check *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean
refuse(Check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_free(c->refusal);
	c->refusal = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	return TRUE;
}

typedef struct {
	const char *mailbox;
	GPtrArray *others; /* mailboxes certified for the key */
	gboolean compromised;
} KeyUse;

static gboolean
collect_key_use(gconstpointer rec, gpointer data)
{
	const CgCert *c = rec;
	KeyUse *u = data;

	if (c->status == CG_CERT_REVOKED && c->reason == 1)
		u->compromised = TRUE;
	if (!cg_addr_equal(c->mailbox, u->mailbox))
		g_ptr_array_add(u->others, g_strdup(c->mailbox));
	return TRUE;
}

/* Key policy with the facts the store knows about the key. */
static gboolean
check_key(CgStore *store, CgTxn *txn, const guint8 (*own)[32], gsize n_own, const CgCsr *csr,
          const char *mailbox, GError **error)
{
	g_autofree char *spki = cg_hex(csr->spki_sha256, 32);
	KeyUse u = {mailbox, g_ptr_array_new_with_free_func(g_free), FALSE};
	CgKeyFacts f = {0};
	gboolean ok;

	if (!cg_store_foreach_by(store, txn, CG_INDEX_CERT_BY_SPKI, spki, collect_key_use, &u,
	                         error)) {
		g_ptr_array_unref(u.others);
		return FALSE;
	}
	g_ptr_array_add(u.others, NULL);
	f.mailbox = mailbox;
	f.ca_keys = own;
	f.n_ca_keys = n_own;
	f.compromised = u.compromised;
	f.certified_for = (char **)u.others->pdata;
	f.spki_sha256 = csr->spki_sha256;
	ok = cg_policy_check_key(csr->key, &f, error);
	g_ptr_array_unref(u.others);
	return ok;
}

/* The mailbox's domain: validated for org_id and not expired at now. */
gboolean
cg_domain_usable(CgStore *store, CgTxn *txn, const char *mailbox, const char *org_id, gint64 now,
                 char **why, GError **error)
{
	g_autoptr(GError) err = NULL;
	const char *domain = cg_addr_domain(mailbox);
	g_autoptr(CgDomain) d = cg_store_domain_get(store, txn, domain, &err);

	if (d == NULL) {
		if (!cg_error_absent(&err, error))
			return FALSE;
		*why = g_strdup_printf("the domain %s is not registered for this organisation",
		                       domain);
		return TRUE;
	}
	if (strcmp(d->org_id, org_id) != 0)
		*why = g_strdup_printf("the domain %s belongs to another organisation", domain);
	else if (d->status != CG_DOMAIN_VALIDATED)
		*why = g_strdup_printf("the domain %s is not validated (%s)", domain,
		                       cg_domain_status_name(d->status));
	else if (d->expires_at <= now)
		*why = g_strdup_printf("the validation of %s expired; it must be challenged again",
		                       domain);
	return TRUE;
}

/* Every re-check. FALSE only for a store or DNS error (the job waits);
 * otherwise TRUE, with c->refusal set when the item must be refused. */
static gboolean
recheck(CgIssuer *iss, CgTxn *txn, const CgRequest *req, const CgItem *item, const CgOrg *org,
        gint64 now, Check *c, GError **error)
{
	g_autoptr(GError) err = NULL;
	char *why = NULL;
	gsize n_own;
	const guint8(*own)[32] = cg_ca_own_keys(iss->ca, &n_own);

	if (org->status != CG_ORG_ACTIVE)
		return refuse(c, "organisation %s is %s", org->id, cg_org_status_name(org->status));
	if (req->kind == CG_REQUEST_ENROLL) {
		g_autoptr(CgAdmin) a = cg_store_admin_get(iss->store, txn, req->requester, &err);

		if (a == NULL && !cg_error_absent(&err, error))
			return FALSE;
		if (a == NULL || a->status != CG_ADMIN_ACTIVE || strcmp(a->org_id, org->id) != 0)
			return refuse(c, "%s is no longer an active admin of organisation %s",
			              req->requester, org->id);
	}
	if (!cg_domain_usable(iss->store, txn, item->mailbox, org->id, now, &why, error))
		return FALSE;
	if (why != NULL) {
		refuse(c, "%s", why);
		g_free(why);
		return TRUE;
	}
	if (req->validity_days == 0 || req->validity_days > (guint32)iss->conf->max_validity)
		return refuse(c, "validity of %u days is above MaxValidity %" G_GINT64_FORMAT,
		              req->validity_days, iss->conf->max_validity);
	c->csr = cg_csr_parse(g_bytes_get_data(item->csr, NULL), g_bytes_get_size(item->csr), &err);
	if (c->csr == NULL)
		return refuse(c, "%s", err->message);
	if (c->csr->mailbox != NULL && !cg_addr_equal(c->csr->mailbox, item->mailbox))
		return refuse(c, "the CSR names %s, not %s", c->csr->mailbox, item->mailbox);
	if (!check_key(iss->store, txn, own, n_own, c->csr, item->mailbox, &err)) {
		if (!g_error_matches(err, CG_ERROR, CG_ERROR_NOT_AUTHORISED)) {
			g_propagate_error(error, g_steal_pointer(&err));
			return FALSE;
		}
		return refuse(c, "%s", err->message);
	}
	if (g_strcmp0(req->profile, "sponsor") == 0) {
		if (*item->given_name == '\0' || *item->surname == '\0')
			return refuse(c, "the sponsor profile needs a first and last name");
		if (*item->country != '\0' && g_ascii_strcasecmp(item->country, org->country) != 0)
			return refuse(c, "country %s is not the organisation's %s", item->country,
			              org->country);
	}
	if (!cg_caa_check(cg_addr_domain(item->mailbox), iss->conf->caa_identities, &err)) {
		if (g_error_matches(err, CG_ERROR, CG_ERROR_DNS_TEMP)) {
			g_propagate_error(error, g_steal_pointer(&err));
			return FALSE;
		}
		return refuse(c, "%s", err->message);
	}
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
	r->crl_url = iss->conf->crl_url;
	r->ca_issuers_url = iss->conf->ca_issuers_url;
	r->subject_key = csr->key;
	r->subject_spki = csr->spki;
}

/* One more item of the request settled; DONE when it was the last. */
gboolean
cg_request_settle(CgIssuer *iss, CgTxn *txn, const char *request_id, GError **error)
{
	g_autoptr(CgRequest) req = cg_store_request_get(iss->store, txn, request_id, error);

	if (req == NULL)
		return FALSE;
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

/* Settles an item as refused for `reason`; audited as `action`. */
gboolean
cg_item_refuse(CgIssuer *iss, CgTxn *txn, CgItem *item, const char *reason, const char *action,
               gint64 now, GError **error)
{
	g_autofree char *obj = g_strdup_printf("%s#%u", item->request_id, item->index);
	g_autofree char *detail = g_strdup_printf("%s: %s", item->mailbox, reason);

	cg_log(LOG_NOTICE, "request %s: %s refused (%s): %s", obj, item->mailbox, action, reason);
	g_free(item->reason);
	item->reason = g_strdup(reason);
	item->status = CG_ITEM_REJECTED;
	return cg_store_item_put(txn, item, error) &&
	       cg_request_settle(iss, txn, item->request_id, error) &&
	       cg_store_audit_append(txn, now, "issuer", action, obj, detail, error);
}

static gboolean
store_cert(CgIssuer *iss, CgTxn *txn, X509 *x, const CgItem *item, const CgRequest *req,
           const CgCertRequest *r, const CgCsr *csr, gint64 now, char **serial, GError **error)
{
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	CgCert c = {0};
	gboolean ok;

	if (len <= 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "cannot encode the certificate");
		return FALSE;
	}
	*serial = cg_hex(r->serial, 16);
	c.serial = *serial;
	c.der = g_bytes_new(der, (gsize)len);
	c.org_id = req->org_id;
	c.mailbox = item->mailbox;
	memcpy(c.spki_sha256, csr->spki_sha256, 32);
	c.not_before = now;
	c.not_after = now + (gint64)r->validity_days * 86400 - 1;
	c.status = CG_CERT_VALID;
	c.request_id = item->request_id;
	c.item = item->index;
	c.profile = (char *)cg_profile_name(r->profile);
	ok = cg_store_cert_add(txn, &c, error);
	g_bytes_unref(c.der);
	OPENSSL_free(der);
	(void)iss;
	return ok;
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
	CgCertRequest r;
	Check c = {0};
	X509 *x;
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
	if (!recheck(iss, txn, req, item, org, now, &c, error))
		goto done;
	if (c.refusal != NULL) {
		ok = cg_item_refuse(iss, txn, item, c.refusal, "cert.refuse", now, error);
		goto done;
	}
	fill_request(iss, req, item, org, c.csr, now, &r);
	x = cg_ca_issue(iss->ca, &r, &err);
	if (x == NULL) {
		if (!g_error_matches(err, CG_ERROR, CG_ERROR_NOT_AUTHORISED)) {
			g_propagate_error(error, g_steal_pointer(&err));
			goto done;
		}
		ok = cg_item_refuse(iss, txn, item, err->message, "cert.refuse", now, error);
		goto done;
	}
	ok = store_cert(iss, txn, x, item, req, &r, c.csr, now, &serial, error);
	X509_free(x);
	if (!ok)
		goto done;
	item->status = CG_ITEM_ISSUED;
	g_free(item->serial);
	item->serial = g_strdup(serial);
	detail =
	    g_strdup_printf("%s for %s, organisation %s, request %s, profile %s, key %s", serial,
	                    item->mailbox, org->id, job_id, req->profile, c.csr->key_desc);
	ok = cg_store_item_put(txn, item, error) &&
	     cg_request_settle(iss, txn, item->request_id, error) &&
	     (req->kind == CG_REQUEST_ENROLL && !iss->conf->deliver_to_subject
	          ? TRUE
	          : cg_store_job_append(txn, CG_JOB_DELIVER, serial, error)) &&
	     cg_store_audit_append(txn, now, "issuer", "cert.issue", serial, detail, error);
	if (ok)
		cg_log(LOG_INFO, "issued %s", detail);
done:
	cg_csr_free(c.csr);
	g_free(c.refusal);
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
	job = g_strdup_printf("%s#1", q->request_id);
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
	g_autofree char *why = NULL;
	Queue q = {op, conf, NULL, NULL, now, NULL};

	if (org == NULL)
		return NULL;
	if (org->status != CG_ORG_ACTIVE) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED, "organisation %s is %s",
		            org->id, cg_org_status_name(org->status));
		return NULL;
	}
	if (!cg_domain_usable(store, NULL, op->mailbox, org->id, now, &why, error))
		return NULL;
	if (why != NULL) {
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
