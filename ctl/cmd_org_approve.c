/*
 * cmd_org_approve.c: certgate org approve|reject, and what org show tells
 * the operator before deciding.
 *
 * A registration reserves nothing: its domains and admins wait in the
 * pending organisation's record. At approval they are taken, and the
 * conflicts with other organisations are shown: a domain another
 * organisation holds, an address that is another organisation's admin, a
 * contact who is another organisation's. With conflicts the operator must
 * say --despite-conflicts: a held domain is then challenged (its postmaster's
 * answer moves it), a conflicting admin is left out. An admin outside the
 * organisation's domains is held for certgate admin approve.
 * Never: moves a domain or an admin away from another organisation.
 */
#include "ctl.h"
#include "common.h"
#include "policy.h"

#include <stdio.h>
#include <string.h>

/* ---- conflicts and competing registrations ---- */

typedef struct {
	const CgOrg *org;
	GPtrArray *lines;
} Scan;

static gboolean
names_domain(const CgOrg *o, const char *domain)
{
	return o->pending_domains != NULL &&
	       g_strv_contains((const char *const *)o->pending_domains, domain);
}

static gboolean
same_contact(gconstpointer rec, gpointer data)
{
	const CgOrg *o = rec;
	Scan *sc = data;

	if (strcmp(o->id, sc->org->id) != 0 &&
	    (o->status == CG_ORG_ACTIVE || o->status == CG_ORG_SUSPENDED) &&
	    g_ascii_strcasecmp(o->contact, sc->org->contact) == 0)
		g_ptr_array_add(sc->lines, g_strdup_printf("contact %s: the contact of organisation %s",
		                                           o->contact, o->id));
	return TRUE;
}

gboolean
ctl_org_conflicts(CgStore *s, CgTxn *txn, const CgOrg *org, GPtrArray *lines, GError **error)
{
	Scan sc = {org, lines};
	guint i;

	for (i = 0; org->pending_domains != NULL && org->pending_domains[i] != NULL; i++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(CgDomain) d = cg_store_domain_get(s, txn, org->pending_domains[i], &err);

		if (d == NULL && !cg_error_absent(&err, error))
			return FALSE;
		if (d != NULL && strcmp(d->org_id, org->id) != 0)
			g_ptr_array_add(lines, g_strdup_printf("%s: held by organisation %s (%s)",
			                                       d->domain, d->org_id,
			                                       cg_domain_status_name(d->status)));
	}
	for (i = 0; org->pending_admins != NULL && org->pending_admins[i] != NULL; i++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(CgAdmin) a = cg_store_admin_get(s, txn, org->pending_admins[i], &err);

		if (a == NULL && !cg_error_absent(&err, error))
			return FALSE;
		if (a != NULL && strcmp(a->org_id, org->id) != 0 && a->status != CG_ADMIN_REMOVED)
			g_ptr_array_add(lines, g_strdup_printf("%s: an admin of organisation %s",
			                                       a->address, a->org_id));
	}
	return cg_store_foreach(s, txn, CG_REC_ORG, same_contact, &sc, error);
}

static gboolean
competing(gconstpointer rec, gpointer data)
{
	const CgOrg *o = rec;
	Scan *sc = data;
	g_autoptr(GString) why = g_string_new(NULL);
	guint i;

	if (strcmp(o->id, sc->org->id) == 0 || o->status != CG_ORG_PENDING)
		return TRUE;
	if (g_ascii_strcasecmp(o->contact, sc->org->contact) == 0)
		g_string_append_printf(why, "contact %s", o->contact);
	for (i = 0; sc->org->pending_domains && sc->org->pending_domains[i]; i++)
		if (names_domain(o, sc->org->pending_domains[i]))
			g_string_append_printf(why, "%sdomain %s", why->len ? ", " : "",
			                       sc->org->pending_domains[i]);
	if (why->len > 0)
		g_ptr_array_add(sc->lines,
		                g_strdup_printf("competing registration: organisation %s (%s): %s",
		                                o->id, o->name, why->str));
	return TRUE;
}

void
ctl_org_pending_show(CtlCtx *ctx, CgStore *s, const CgOrg *org, GString *out)
{
	g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) err = NULL;
	Scan sc = {org, lines};
	guint i;

	(void)ctx;
	if (org->status != CG_ORG_PENDING)
		return;
	g_string_append(out, "asked for (taken at approval):\n");
	for (i = 0; org->pending_domains != NULL && org->pending_domains[i] != NULL; i++)
		g_string_append_printf(out, "  domain %s\n", org->pending_domains[i]);
	for (i = 0; org->pending_admins != NULL && org->pending_admins[i] != NULL; i++)
		g_string_append_printf(out, "  admin  %s %s\n", org->pending_admins[i],
		                       org->pending_departments[i]);
	if (!ctl_org_conflicts(s, NULL, org, lines, &err) ||
	    !cg_store_foreach(s, NULL, CG_REC_ORG, competing, &sc, &err)) {
		g_string_append_printf(out, "  (cannot check for conflicts: %s)\n", err->message);
		return;
	}
	g_string_append(out, lines->len ? "conflicts:\n" : "conflicts: none\n");
	for (i = 0; i < lines->len; i++)
		g_string_append_printf(out, "  %s\n", (char *)lines->pdata[i]);
}

/* ---- approve, reject ---- */

typedef struct {
	const char *id;
	const char *reason; /* NULL: approve */
	gboolean despite;   /* --despite-conflicts */
	const char *actor;
	gint64 now;
	const char *challenge; /* a new domain's: DomainMethod's */
	CtlVerified verified;  /* --source, --reference, --extract */
	gint64 reuse;          /* OrgReuse */
	gboolean renewed;      /* an active organisation approved again */
	guint n_admins, n_held, n_domains;
	GPtrArray *conflicts;
} Decide;

typedef struct {
	GPtrArray *keys;
	gboolean domains;
} Collect;

/* Records of the organisation itself that are pending: the ones just taken,
 * and any from before registrations reserved nothing. */
static gboolean
collect(gconstpointer rec, gpointer data)
{
	Collect *c = data;

	if (c->domains) {
		const CgDomain *d = rec;

		if (d->status == CG_DOMAIN_PENDING)
			g_ptr_array_add(c->keys, g_strdup(d->domain));
	} else {
		const CgAdmin *a = rec;

		if (a->status == CG_ADMIN_PENDING)
			g_ptr_array_add(c->keys, g_strdup(a->address));
	}
	return TRUE;
}

static gboolean
challenge(CgTxn *txn, const char *domain, const CgOrg *org, const char *local, GError **error)
{
	g_autofree char *cj = g_strdup_printf("%s|%s|%s", domain, org->id,
	                                      local && *local ? local : "postmaster");

	return cg_store_job_append(txn, CG_JOB_CHALLENGE, cj, error);
}

/* The domains asked for: a new one recorded pending, each challenged (one
 * held elsewhere stays there until its postmaster answers). */
static gboolean
take_domains(CgStore *s, CgTxn *txn, const CgOrg *org, Decide *a, GError **error)
{
	g_autoptr(GPtrArray) legacy = g_ptr_array_new_with_free_func(g_free);
	Collect cd = {legacy, TRUE};
	guint i;

	for (i = 0; org->pending_domains != NULL && org->pending_domains[i] != NULL; i++) {
		const char *name = org->pending_domains[i];
		/* The letter's Method for it, else DomainMethod's way. */
		const char *method = org->pending_methods && i < g_strv_length(org->pending_methods)
		                         ? org->pending_methods[i]
		                         : "";
		const char *local = *method ? cg_policy_default_challenge(method) : a->challenge;
		g_autoptr(GError) err = NULL;
		g_autoptr(CgDomain) old = cg_store_domain_get(s, txn, name, &err);
		CgDomain d = {0};

		if (old == NULL && !cg_error_absent(&err, error))
			return FALSE;
		if (old == NULL) {
			/* Recorded pending: challenged with the others below. */
			d.domain = (char *)name;
			d.org_id = org->id;
			d.status = CG_DOMAIN_PENDING;
			d.method = d.rule_version = d.evidence = d.previous_org = "";
			d.local_part = (char *)local;
			if (!cg_store_domain_put(txn, &d, error))
				return FALSE;
		} else if (strcmp(old->org_id, org->id) != 0) {
			/* Another organisation's: a dispute challenge. */
			if (!challenge(txn, name, org, local, error))
				return FALSE;
			a->n_domains++;
		}
	}
	if (!cg_store_foreach_by(s, txn, CG_INDEX_DOMAIN_BY_ORG, org->id, collect, &cd, error))
		return FALSE;
	for (i = 0; i < legacy->len; i++) {
		g_autoptr(CgDomain) d = cg_store_domain_get(s, txn, legacy->pdata[i], error);

		if (d == NULL || !challenge(txn, d->domain, org, d->local_part, error))
			return FALSE;
		a->n_domains++;
	}
	return TRUE;
}

/* addr's domain, or a parent of it, is one the organisation asked for or holds. */
static gboolean
within(CgStore *s, CgTxn *txn, const CgOrg *org, const char *addr, gboolean *in, GError **error)
{
	const char *d;

	*in = FALSE;
	for (d = cg_addr_domain(addr); d && strchr(d, '.') && !*in; d = strchr(d, '.') + 1) {
		g_autoptr(GError) err = NULL;
		g_autoptr(CgDomain) rec = cg_store_domain_get(s, txn, d, &err);

		if (rec == NULL && !cg_error_absent(&err, error))
			return FALSE;
		*in = names_domain(org, d) || (rec != NULL && strcmp(rec->org_id, org->id) == 0);
	}
	return TRUE;
}

/* The admins asked for: active within the organisation's domains, held
 * for certgate admin approve outside them; another organisation's admin is
 * left out. */
static gboolean
take_admins(CgStore *s, CgTxn *txn, const CgOrg *org, Decide *a, GError **error)
{
	g_autoptr(GPtrArray) legacy = g_ptr_array_new_with_free_func(g_free);
	Collect ca = {legacy, FALSE};
	guint i;

	for (i = 0; org->pending_admins != NULL && org->pending_admins[i] != NULL; i++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(CgAdmin) old = cg_store_admin_get(s, txn, org->pending_admins[i], &err);
		CgAdmin ad = {0};
		gboolean inside;

		if (old == NULL && !cg_error_absent(&err, error))
			return FALSE;
		if (old != NULL && strcmp(old->org_id, org->id) != 0 &&
		    old->status != CG_ADMIN_REMOVED)
			continue;
		if (!within(s, txn, org, org->pending_admins[i], &inside, error))
			return FALSE;
		ad.address = org->pending_admins[i];
		ad.org_id = org->id;
		ad.department = org->pending_departments[i];
		ad.status = inside ? CG_ADMIN_ACTIVE : CG_ADMIN_HELD;
		ad.appointed_by = org->created_by;
		ad.appointed_at = a->now;
		if (!cg_store_admin_put(txn, &ad, error))
			return FALSE;
		if (inside)
			a->n_admins++;
		else
			a->n_held++;
	}
	if (!cg_store_foreach_by(s, txn, CG_INDEX_ADMIN_BY_ORG, org->id, collect, &ca, error))
		return FALSE;
	for (i = 0; i < legacy->len; i++) {
		g_autoptr(CgAdmin) ad = cg_store_admin_get(s, txn, legacy->pdata[i], error);

		if (ad == NULL)
			return FALSE;
		ad->status = CG_ADMIN_ACTIVE;
		if (!cg_store_admin_put(txn, ad, error))
			return FALSE;
		a->n_admins++;
	}
	return TRUE;
}

static gboolean
approve(CgStore *s, CgTxn *txn, CgOrg *org, Decide *a, GError **error)
{
	g_autoptr(GString) list = g_string_new(NULL);
	guint i;

	g_ptr_array_set_size(a->conflicts, 0);
	if (!ctl_org_conflicts(s, txn, org, a->conflicts, error))
		return FALSE;
	for (i = 0; i < a->conflicts->len; i++)
		g_string_append_printf(list, "%s%s", i ? "; " : "", (char *)a->conflicts->pdata[i]);
	if (a->conflicts->len > 0 && !a->despite) {
		g_set_error(error, CG_ERROR, CG_ERROR_EXISTS,
		            "organisation %s has %u conflicts with other organisations: %s. Look at "
		            "them (certgate org show %s); approve with --despite-conflicts (a held "
		            "domain is challenged and moves only when its postmaster answers; a "
		            "conflicting admin is left out) or reject it",
		            org->id, a->conflicts->len, list->str, org->id);
		return FALSE;
	}
	a->n_admins = a->n_held = a->n_domains = 0;
	if (!take_domains(s, txn, org, a, error) || !take_admins(s, txn, org, a, error))
		return FALSE;
	org->status = CG_ORG_ACTIVE;
	org->validated_at = a->now;
	g_free(org->approved_by);
	org->approved_by = g_strdup(a->actor);
	ctl_verified_set(&a->verified, org);
	g_clear_pointer(&org->pending_domains, g_strfreev);
	g_clear_pointer(&org->pending_methods, g_strfreev);
	g_clear_pointer(&org->pending_admins, g_strfreev);
	g_clear_pointer(&org->pending_departments, g_strfreev);
	return TRUE;
}

static gboolean
decide_txn(CgTxn *txn, gpointer data, GError **error)
{
	Decide *a = data;
	CgStore *s = cg_txn_store(txn);
	g_autoptr(CgOrg) org = cg_store_org_get(s, txn, a->id, error);
	g_autofree char *job = NULL, *detail = NULL;

	if (org == NULL)
		return FALSE;
	if (org->status == CG_ORG_ACTIVE && a->reason == NULL) {
		/* Approved again, on its contact's confirm-organisation letter:
		 * its validation runs for another OrgReuse. */
		g_autofree char *until = cg_time_iso(a->now + a->reuse);

		if (org->confirm_request == NULL) {
			g_set_error(
			    error, CG_ERROR, CG_ERROR_EXISTS,
			    "organisation %s is active and no confirm-organisation letter of "
			    "its contact waits: it is approved again only on one",
			    org->id);
			return FALSE;
		}
		detail = g_strdup_printf("approved again on %s's confirm-organisation letter %s: "
		                         "validation until %s%s",
		                         org->contact, org->confirm_request, until,
		                         a->verified.text ? a->verified.text : "");
		org->validated_at = a->now;
		g_free(org->approved_by);
		org->approved_by = g_strdup(a->actor);
		g_clear_pointer(&org->confirm_request, g_free);
		org->confirm_asked_at = 0;
		ctl_verified_set(&a->verified, org);
		a->renewed = TRUE;
		job = g_strdup_printf("org.renewed|%s", org->id);
		return cg_store_org_put(txn, org, error) &&
		       cg_store_job_append(txn, CG_JOB_NOTIFY, job, error) &&
		       cg_store_audit_append(txn, a->now, a->actor, "org.revalidate", org->id,
		                             detail, error);
	}
	if (org->status != CG_ORG_PENDING) {
		g_set_error(error, CG_ERROR, CG_ERROR_EXISTS, "organisation %s is %s, not pending",
		            org->id, cg_org_status_name(org->status));
		return FALSE;
	}
	if (a->reason != NULL) {
		org->status = CG_ORG_REJECTED;
		g_free(org->reason);
		org->reason = g_strdup(a->reason);
		detail = g_strdup_printf("rejected: %s", a->reason);
	} else {
		if (!approve(s, txn, org, a, error))
			return FALSE;
		detail = g_strdup_printf("approved: %u admins active, %u held for the operator, %u "
		                         "domains challenged%s%s",
		                         a->n_admins, a->n_held, a->n_domains,
		                         a->conflicts->len ? ", despite conflicts" : "",
		                         a->verified.text ? a->verified.text : "");
	}
	job = g_strdup_printf("%s|%s", a->reason ? "org.rejected" : "org.approved", org->id);
	return cg_store_org_put(txn, org, error) &&
	       cg_store_job_append(txn, CG_JOB_NOTIFY, job, error) &&
	       cg_store_audit_append(txn, a->now, a->actor,
	                             a->reason ? "org.reject" : "org.approve", org->id, detail,
	                             error);
}

static int
decide(CtlCtx *ctx, int argc, char **argv, gboolean approving)
{
	g_autofree char *reason = NULL;
	gboolean despite = FALSE;
	GOptionEntry reject_entries[] = {
	    {"reason", 0, 0, G_OPTION_ARG_STRING, &reason, "why (told to the contact)", "TEXT"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autofree char *source = NULL, *reference = NULL, *extract = NULL;
	GOptionEntry approve_entries[] = {
	    {"despite-conflicts", 0, 0, G_OPTION_ARG_NONE, &despite,
	     "approve although other organisations hold some of what it asks for", NULL},
	    CTL_VERIFIED_ENTRIES(source, reference, extract),
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GPtrArray) conflicts = g_ptr_array_new_with_free_func(g_free);
	Decide d = {0};
	guint i;

	if (!ctl_parse(ctx, "ID",
	               approving ? "Approve a pending organisation (after checking its register): "
	                           "its admins become active and its domains are challenged. An "
	                           "active one is approved again on its contact's "
	                           "confirm-organisation letter: its validation runs for another "
	                           "OrgReuse."
	                         : "Reject a pending organisation; the contact is told why.",
	               approving ? approve_entries : reject_entries, &argc, &argv))
		return 2;
	if (argc != 2)
		return ctl_fail(ctx, 2, "needs the organisation ID");
	if (!approving && (reason == NULL || !cg_text_is_clean(reason, -1, 500) || !*reason))
		return ctl_fail(ctx, 2, "--reason is needed: printable text, at most 500 bytes");
	d.id = argv[1];
	d.reason = approving ? NULL : reason;
	d.despite = despite;
	d.actor = ctx->actor;
	d.now = ctx->now;
	d.challenge = cg_policy_default_challenge(ctx->conf->domain_method);
	d.conflicts = conflicts;
	d.reuse = ctx->conf->org_reuse;
	if (approving && !ctl_verified_read(ctx, source, reference, extract, &d.verified))
		return 2;
	if (ctl_transact(ctx, decide_txn, &d, "no such organisation") != 0)
		return 1;
	ctl_verified_clear(&d.verified);
	if (!approving) {
		printf("organisation %s rejected\n", d.id);
		return 0;
	}
	if (d.renewed) {
		g_autofree char *until = cg_time_iso(ctx->now + ctx->conf->org_reuse);

		printf("organisation %s approved again: its validation runs until %s\n", d.id,
		       until);
		return 0;
	}
	printf("organisation %s approved: %u admins active, %u held for certgate admin approve, %u "
	       "domain challenges queued\n",
	       d.id, d.n_admins, d.n_held, d.n_domains);
	for (i = 0; i < conflicts->len; i++)
		printf("  despite: %s\n", (char *)conflicts->pdata[i]);
	return 0;
}

int
ctl_org_approve(CtlCtx *ctx, int argc, char **argv)
{
	return decide(ctx, argc, argv, TRUE);
}

int
ctl_org_reject(CtlCtx *ctx, int argc, char **argv)
{
	return decide(ctx, argc, argv, FALSE);
}
