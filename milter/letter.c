/*
 * letter.c: signed request letters (DESIGN.md 5.1), the handler of
 * LetterAddress.
 *
 * check: the S/MIME signature (LetterTrustAnchors; the signer names the
 *   From address), the signed content parsed as a MIME entity, its text
 *   parsed by the letter grammar; for a registration the From must be the
 *   Contact.
 * apply (one transaction; a letter whose signed content was taken before,
 *   in another envelope, is refused by the gateway):
 *   register-organisation creates a pending organisation that reserves
 *   nothing: its domains and admins wait in its record until the operator
 *   approves it (certgate org approve, which shows the conflicts). The
 *   changes come only from the current contact of an active organisation
 *   and apply at once; an admin outside the organisation's domains waits
 *   for the operator (certgate admin approve). Each letter becomes a
 *   request record (what was done, for the reply mail the issuer sends)
 *   and an audit entry.
 */
#include "milter.h"
#include "common.h"
#include "policy.h"

#include <string.h>

typedef struct {
	CgLetter *letter;
	char *content_hex; /* the signed content's digest, for the audit log */
} State;

static void
state_free(gpointer p)
{
	State *st = p;

	cg_letter_free(st->letter);
	g_free(st->content_hex);
	g_free(st);
}

static gboolean
letter_check(CgGateway *g, GError **error)
{
	CgMailBody body = {0};
	State *st = g_new0(State, 1);
	gboolean ok;

	g->state = st;
	if (!cg_gateway_signed_body(g, g->conf->letter_trust_anchors, NULL, &body, error))
		return FALSE;
	st->content_hex = cg_hex(g->signed_digest, 32);
	st->letter = cg_letter_parse(body.text, error);
	ok = st->letter != NULL;
	cg_mail_body_clear(&body);
	if (!ok)
		return FALSE;
	cg_gateway_trace(g, "letter %s from %s", cg_letter_kind_name(st->letter->kind), g->mail->from);
	if (st->letter->kind == CG_LETTER_REGISTER &&
	    g_ascii_strcasecmp(st->letter->contact, g->mail->from) != 0) {
		g_set_error(
		    error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		    "a registration must come from its Contact (%s), signed by the contact; "
		    "this one is from %s",
		    st->letter->contact, g->mail->from);
		return FALSE;
	}
	return TRUE;
}

/* ---- apply ---- */

typedef struct {
	const char *contact;
	GPtrArray *orgs;    /* ids of active or suspended organisations it is the contact of */
	char *pending;      /* a pending one's id */
} ByContact;

static gboolean
by_contact(gconstpointer rec, gpointer data)
{
	const CgOrg *o = rec;
	ByContact *b = data;

	if (g_ascii_strcasecmp(o->contact, b->contact) != 0)
		return TRUE;
	if (o->status == CG_ORG_ACTIVE || o->status == CG_ORG_SUSPENDED)
		g_ptr_array_add(b->orgs, g_strdup(o->id));
	else if (o->status == CG_ORG_PENDING && b->pending == NULL)
		b->pending = g_strdup(o->id);
	return TRUE;
}

/* The organisation whose current contact sent the letter. */
static CgOrg *
sender_org(CgGateway *g, CgTxn *txn, GError **error)
{
	g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
	ByContact b = {g->mail->from, ids, NULL};
	g_autofree char *pending = NULL;

	if (!cg_store_foreach(g->store, txn, CG_REC_ORG, by_contact, &b, error))
		return NULL;
	pending = b.pending;
	/* A pending organisation (a registration, or one whose identity
	 * changed) takes no changes until the operator approves it. */
	if (ids->len == 0 && pending != NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "organisation %s is pending: the CA approves it first; send changes "
		            "once it is approved",
		            pending);
		return NULL;
	}
	if (ids->len == 0) {
		g_set_error(
		    error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		    "%s is not the contact of any organisation; only the contact may change "
		    "an organisation",
		    g->mail->from);
		return NULL;
	}
	if (ids->len > 1) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "%s is the contact of %u organisations; ask the CA to change them",
		            g->mail->from, ids->len);
		return NULL;
	}
	return cg_store_org_get(g->store, txn, ids->pdata[0], error);
}

static gboolean
challenge_job(CgTxn *txn, const char *domain, const char *org, const char *local, GError **error)
{
	g_autofree char *id =
	    g_strdup_printf("%s|%s|%s", domain, org, *local ? local : "postmaster");

	return cg_store_job_append(txn, CG_JOB_CHALLENGE, id, error);
}

/* add-domain (an active organisation): a new domain is recorded pending
 * and challenged; one held by another organisation stays theirs until its
 * postmaster answers a challenge (dispute). */
static gboolean
add_domains(CgGateway *g, CgTxn *txn, const CgOrg *org, GPtrArray *domains, GPtrArray *methods,
            GString *done, GError **error)
{
	guint i;

	for (i = 0; i < domains->len; i++) {
		const char *name = domains->pdata[i];
		const char *method = methods->pdata[i];
		const char *local =
		    cg_policy_default_challenge(*method ? method : g->conf->domain_method);
		gboolean dns = strcmp(local, CG_DNS_CHALLENGE) == 0;
		g_autoptr(GError) err = NULL;
		g_autoptr(CgDomain) old = cg_store_domain_get(g->store, txn, name, &err);
		g_autofree char *how =
		    dns ? g_strdup_printf("the TXT record to publish at %s.%s goes "
		                          "to the organisation's contact",
		                          CG_DNS_CHALLENGE_LABEL, name)
		        : g_strdup_printf("a challenge goes to postmaster@%s", name);
		CgDomain d = {0};

		if (old == NULL && !cg_error_absent(&err, error))
			return FALSE;
		if (old != NULL && strcmp(old->org_id, org->id) == 0) {
			g_string_append_printf(done, "- %s: already registered (%s)\n", name,
			                       cg_domain_status_name(old->status));
			continue;
		}
		if (!challenge_job(txn, name, org->id, local, error))
			return FALSE;
		if (old != NULL) {
			g_string_append_printf(done,
			                       "- %s: registered to another organisation; %s, and "
			                       "validating it moves it\n",
			                       name, how);
			continue;
		}
		d.domain = (char *)name;
		d.org_id = org->id;
		d.status = CG_DOMAIN_PENDING;
		d.method = d.rule_version = d.evidence = d.previous_org = "";
		d.local_part = (char *)local;
		if (!cg_store_domain_put(txn, &d, error))
			return FALSE;
		g_string_append_printf(done, "- %s: added; %s\n", name, how);
	}
	return TRUE;
}

/* TRUE when addr's domain, or a parent of it, is a domain of org. */
static gboolean
in_org_domains(CgStore *store, CgTxn *txn, const char *org_id, const char *addr, gboolean *in,
               GError **error)
{
	const char *d;

	*in = FALSE;
	for (d = cg_addr_domain(addr); d != NULL && strchr(d, '.') != NULL && !*in;
	     d = strchr(d, '.') + 1) {
		g_autoptr(GError) err = NULL;
		g_autoptr(CgDomain) rec = cg_store_domain_get(store, txn, d, &err);

		if (rec == NULL && !cg_error_absent(&err, error))
			return FALSE;
		*in = rec != NULL && strcmp(rec->org_id, org_id) == 0;
	}
	return TRUE;
}

/* add-admin (an active organisation): an address within the
 * organisation's domains is appointed at once; one outside them waits for
 * the operator (certgate admin approve), who sees whom the contact names. */
static gboolean
add_admins(CgGateway *g, CgTxn *txn, const CgOrg *org, GPtrArray *admins, GString *done,
           GError **error)
{
	guint i;

	for (i = 0; i < admins->len; i++) {
		const CgLetterAdmin *la = admins->pdata[i];
		g_autoptr(GError) err = NULL;
		g_autoptr(CgAdmin) old = cg_store_admin_get(g->store, txn, la->address, &err);
		CgAdmin a = {0};
		gboolean inside;

		if (old == NULL && !cg_error_absent(&err, error))
			return FALSE;
		if (old != NULL && strcmp(old->org_id, org->id) != 0 &&
		    old->status != CG_ADMIN_REMOVED) {
			g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
			            "%s is an admin of another organisation", la->address);
			return FALSE;
		}
		if (!in_org_domains(g->store, txn, org->id, la->address, &inside, error))
			return FALSE;
		a.address = la->address;
		a.org_id = org->id;
		a.department = la->department;
		a.status = inside ? CG_ADMIN_ACTIVE : CG_ADMIN_HELD;
		a.appointed_by = g->mail->from;
		a.appointed_at = g_get_real_time() / G_USEC_PER_SEC;
		if (!cg_store_admin_put(txn, &a, error))
			return FALSE;
		g_string_append_printf(done, "- admin %s%s%s: %s\n", la->address,
		                       *la->department ? ", " : "", la->department,
		                       inside ? "active"
		                              : "outside the organisation's domains: active once "
		                                "the CA approves it");
	}
	return TRUE;
}

/* A registration reserves nothing: what it asks for waits in the pending
 * organisation's record until the operator approves it (certgate org
 * approve shows the conflicts with other organisations). */
static void
register_asks(CgOrg *org, const CgLetter *l, GString *done)
{
	GPtrArray *d = g_ptr_array_new(), *a = g_ptr_array_new(), *dep = g_ptr_array_new();
	GPtrArray *m = g_ptr_array_new();
	guint i;

	for (i = 0; i < l->domains->len; i++) {
		g_ptr_array_add(d, g_strdup(l->domains->pdata[i]));
		g_ptr_array_add(m, g_strdup(l->domain_methods->pdata[i]));
		g_string_append_printf(done, "- %s: challenged once the organisation is approved\n",
		                       (char *)l->domains->pdata[i]);
	}
	for (i = 0; i < l->admins->len; i++) {
		const CgLetterAdmin *la = l->admins->pdata[i];

		g_ptr_array_add(a, g_strdup(la->address));
		g_ptr_array_add(dep, g_strdup(la->department));
		g_string_append_printf(done, "- admin %s%s%s: active once the organisation is approved\n",
		                       la->address, *la->department ? ", " : "", la->department);
	}
	g_ptr_array_add(d, NULL);
	g_ptr_array_add(m, NULL);
	g_ptr_array_add(a, NULL);
	g_ptr_array_add(dep, NULL);
	org->pending_domains = (char **)g_ptr_array_free(d, FALSE);
	org->pending_methods = (char **)g_ptr_array_free(m, FALSE);
	org->pending_admins = (char **)g_ptr_array_free(a, FALSE);
	org->pending_departments = (char **)g_ptr_array_free(dep, FALSE);
}

static gboolean
remove_admins(CgGateway *g, CgTxn *txn, const CgOrg *org, GPtrArray *admins, GString *done,
              GError **error)
{
	guint i;

	for (i = 0; i < admins->len; i++) {
		const CgLetterAdmin *la = admins->pdata[i];
		g_autoptr(GError) err = NULL;
		g_autoptr(CgAdmin) a = cg_store_admin_get(g->store, txn, la->address, &err);

		if (a == NULL && !cg_error_absent(&err, error))
			return FALSE;
		if (a == NULL || strcmp(a->org_id, org->id) != 0 || a->status == CG_ADMIN_REMOVED) {
			g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
			            "%s is not an admin of %s", la->address, org->name);
			return FALSE;
		}
		a->status = CG_ADMIN_REMOVED;
		if (!cg_store_admin_put(txn, a, error))
			return FALSE;
		g_string_append_printf(done, "- admin %s removed: may no longer enrol\n",
		                       la->address);
	}
	return TRUE;
}

static gboolean
remove_domains(CgGateway *g, CgTxn *txn, const CgOrg *org, GPtrArray *domains, GString *done,
               GError **error)
{
	guint i;

	for (i = 0; i < domains->len; i++) {
		const char *name = domains->pdata[i];
		g_autoptr(GError) err = NULL;
		g_autoptr(CgDomain) d = cg_store_domain_get(g->store, txn, name, &err);

		if (d == NULL && !cg_error_absent(&err, error))
			return FALSE;
		if (d == NULL || strcmp(d->org_id, org->id) != 0) {
			g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
			            "%s is not a domain of %s", name, org->name);
			return FALSE;
		}
		if (!cg_store_domain_del(txn, name, error))
			return FALSE;
		g_string_append_printf(done, "- %s removed: no more certificates for it\n", name);
	}
	return TRUE;
}

static gboolean
update_org(CgOrg *org, const CgLetter *l, GString *done, GError **error)
{
	gboolean identity = FALSE;

#define CHANGE(field, value, is_identity)                                                          \
	do {                                                                                       \
		if ((value) != NULL && strcmp(org->field, (value)) != 0) {                         \
			g_string_append_printf(done, "- %s: %s -> %s\n", #field, org->field,       \
			                       (value));                                           \
			g_free(org->field);                                                        \
			org->field = g_strdup(value);                                              \
			identity = identity || (is_identity);                                      \
		}                                                                                  \
	} while (0)
	CHANGE(name, l->organisation, TRUE);
	CHANGE(org_identifier, l->registration, TRUE);
	CHANGE(country, l->country, TRUE);
	CHANGE(state, l->state, FALSE);
	CHANGE(locality, l->locality, FALSE);
	CHANGE(contact, l->contact, FALSE);
#undef CHANGE
	{
		g_autofree char *cc = cg_policy_identifier_country(org->org_identifier);

		if (cc != NULL && strcmp(cc, org->country) != 0) {
			g_set_error(
			    error, CG_ERROR, CG_ERROR_MALFORMED,
			    "letter: Country %s does not match the Registration's country %s",
			    org->country, cc);
			return FALSE;
		}
	}
	if (done->len == 0)
		g_string_append(done, "- nothing changed\n");
	if (identity && org->status == CG_ORG_ACTIVE) {
		org->status = CG_ORG_PENDING;
		g_string_append(done, "- the name or registration changed: the organisation is "
		                      "pending again until the CA approves it\n");
	}
	return TRUE;
}

static gboolean
letter_apply(CgGateway *g, CgTxn *txn, GError **error)
{
	State *st = g->state;
	const CgLetter *l = st->letter;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autoptr(GString) done = g_string_new(NULL);
	g_autoptr(CgOrg) org = NULL;
	g_autofree char *rid = NULL, *job = NULL, *detail = NULL;
	CgRequest req = {0};
	guint64 n = 0;

	if (!cg_store_next_id(txn, "request", &n, error))
		return FALSE;
	rid = g_strdup_printf("R%" G_GUINT64_FORMAT, n);

	if (l->kind == CG_LETTER_REGISTER) {
		guint64 o = 0;

		if (!cg_store_next_id(txn, "org", &o, error))
			return FALSE;
		org = g_new0(CgOrg, 1);
		org->id = g_strdup_printf("%" G_GUINT64_FORMAT, o);
		org->name = g_strdup(l->organisation);
		org->org_identifier = g_strdup(l->registration);
		org->country = g_strdup(l->country);
		org->state = g_strdup(l->state ? l->state : "");
		org->locality = g_strdup(l->locality ? l->locality : "");
		org->contact = g_strdup(l->contact);
		org->status = CG_ORG_PENDING;
		org->created_at = now;
		org->approved_by = g_strdup("");
		org->created_by = g_strdup(rid);
		org->reason = g_strdup("");
		g_string_append_printf(done,
		                       "Organisation %s (%s, %s) registered as number %s. It is "
		                       "pending: the CA checks the register and approves it; then "
		                       "each domain's postmaster gets a challenge.\n",
		                       org->name, org->org_identifier, org->country, org->id);
		register_asks(org, l, done);
		if (!cg_store_org_put(txn, org, error))
			return FALSE;
	} else {
		if ((org = sender_org(g, txn, error)) == NULL)
			return FALSE;
		if (org->status == CG_ORG_SUSPENDED) {
			g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
			            "organisation %s is suspended", org->id);
			return FALSE;
		}
		g_string_append_printf(done, "%s for %s (organisation %s):\n",
		                       cg_letter_kind_name(l->kind), org->name, org->id);
		switch (l->kind) {
		case CG_LETTER_ADD_ADMIN:
			if (!add_admins(g, txn, org, l->admins, done, error))
				return FALSE;
			break;
		case CG_LETTER_REMOVE_ADMIN:
			if (!remove_admins(g, txn, org, l->admins, done, error))
				return FALSE;
			break;
		case CG_LETTER_ADD_DOMAIN:
			if (!add_domains(g, txn, org, l->domains, l->domain_methods, done, error))
				return FALSE;
			break;
		case CG_LETTER_REMOVE_DOMAIN:
			if (!remove_domains(g, txn, org, l->domains, done, error))
				return FALSE;
			break;
		case CG_LETTER_CONFIRM:
			if (org->status != CG_ORG_ACTIVE) {
				g_set_error(
				    error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
				    "organisation %s is %s: there is no validation to confirm",
				    org->id, cg_org_status_name(org->status));
				return FALSE;
			}
			g_free(org->confirm_request);
			org->confirm_request = g_strdup(rid);
			if (!cg_store_org_put(txn, org, error))
				return FALSE;
			g_string_append(done,
			                "- confirmed by its contact: the CA checks the register "
			                "again and approves it for another period\n");
			break;
		case CG_LETTER_UPDATE: {
			g_autoptr(GString) changes = g_string_new(NULL);

			if (!update_org(org, l, changes, error) ||
			    !cg_store_org_put(txn, org, error))
				return FALSE;
			g_string_append(done, changes->str);
			break;
		}
		default:
			break;
		}
	}
	req.id = rid;
	req.kind = CG_REQUEST_LETTER;
	req.org_id = org->id;
	req.requester = g->mail->from;
	req.digest = st->content_hex;
	req.status = CG_REQUEST_DONE;
	req.created = now;
	req.profile = req.fields = req.format = "";
	req.reason = done->str;
	req.evidence = g->evidence_id;
	job = g_strdup_printf("letter|%s", rid);
	detail = g_strdup_printf("%s by %s for organisation %s, signed content %s, evidence %s",
	                         cg_letter_kind_name(l->kind), g->mail->from, org->id,
	                         st->content_hex, g->evidence_id);
	if (!cg_store_request_put(txn, &req, error) ||
	    !cg_store_job_append(txn, CG_JOB_NOTIFY, job, error) ||
	    !cg_store_audit_append(txn, now, g->mail->from,
	                           l->kind == CG_LETTER_REGISTER ? "org.register" : "org.change",
	                           org->id, detail, error))
		return FALSE;
	g->request_id = g_steal_pointer(&rid);
	g->summary =
	    g_strdup_printf("%s for organisation %s", cg_letter_kind_name(l->kind), org->id);
	return TRUE;
}

const CgHandler cg_letter_handler = {CG_GW_LETTER, "letter",     "letter",
                                     letter_check, letter_apply, state_free};
