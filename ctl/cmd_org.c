/*
 * cmd_org.c: organisations as the org assurer manages them: certgate org
 * add|list|show|approve|reject. Every change is one transaction with its
 * audit entry.
 */
#include "ctl.h"
#include "common.h"
#include "policy.h"

#include <stdio.h>
#include <string.h>

typedef struct {
	CgOrg org;
	const char *actor;
	const char *verified; /* "; verified: ..." or NULL */
} OrgAdd;

static gboolean
org_add_txn(CgTxn *txn, gpointer data, GError **error)
{
	OrgAdd *a = data;
	guint64 n = 0;
	g_autofree char *detail = NULL;

	if (!cg_store_next_id(txn, "org", &n, error))
		return FALSE;
	g_free(a->org.id);
	a->org.id = g_strdup_printf("%" G_GUINT64_FORMAT, n);
	detail = g_strdup_printf("%s, %s, %s, contact %s (operator-verified, active)%s",
	                         a->org.name, a->org.org_identifier, a->org.country, a->org.contact,
	                         a->verified ? a->verified : "");
	return cg_store_org_put(txn, &a->org, error) &&
	       cg_store_audit_append(txn, a->org.created_at, a->actor, "org.add", a->org.id, detail,
	                             error);
}

int
ctl_org_add(CtlCtx *ctx, int argc, char **argv)
{
	g_autofree char *name = NULL;
	g_autofree char *reg = NULL;
	g_autofree char *country = NULL;
	g_autofree char *state = NULL;
	g_autofree char *locality = NULL;
	g_autofree char *contact = NULL;
	g_autofree char *source = NULL, *reference = NULL, *extract = NULL;
	CtlVerified v = {0};
	GOptionEntry entries[] = {
	    {"name", 0, 0, G_OPTION_ARG_STRING, &name, "legal name", "NAME"},
	    {"registration", 0, 0, G_OPTION_ARG_STRING, &reg,
	     "organizationIdentifier, e.g. NTRPL-0000123456", "ID"},
	    {"country", 0, 0, G_OPTION_ARG_STRING, &country, "ISO 3166 country", "CC"},
	    {"state", 0, 0, G_OPTION_ARG_STRING, &state, "state or province", "S"},
	    {"locality", 0, 0, G_OPTION_ARG_STRING, &locality, "locality", "L"},
	    {"contact", 0, 0, G_OPTION_ARG_STRING, &contact, "the executive's address", "ADDR"},
	    CTL_VERIFIED_ENTRIES(source, reference, extract),
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GError) err = NULL;
	g_autofree char *idc = NULL, *addr = NULL;
	OrgAdd a = {0};

	if (!ctl_parse(ctx, "", "Add an organisation the operator has verified (active at once).",
	               entries, &argc, &argv))
		return 2;
	if (name == NULL || reg == NULL || country == NULL || contact == NULL)
		return ctl_fail(ctx, 2,
		                "--name, --registration, --country and --contact are needed");
	if (!cg_text_is_clean(name, -1, 64))
		return ctl_fail(ctx, 2, "--name must be clean text of at most 64 bytes");
	if (!cg_policy_org_identifier(reg, &err))
		return ctl_fail(ctx, 2, "%s", err->message);
	if (!cg_policy_country_valid(country))
		return ctl_fail(ctx, 2, "--country %s is not an ISO 3166-1 alpha-2 code", country);
	idc = cg_policy_identifier_country(reg);
	if (idc != NULL && strcmp(idc, country) != 0)
		return ctl_fail(ctx, 2, "--country %s differs from the identifier's country %s",
		                country, idc);
	if ((state && !cg_text_is_clean(state, -1, 128)) ||
	    (locality && !cg_text_is_clean(locality, -1, 128)))
		return ctl_fail(ctx, 2,
		                "--state and --locality must be clean text of at most 128 bytes");
	if ((addr = cg_addr_normalise(contact, &err)) == NULL)
		return ctl_fail(ctx, 2, "--contact: %s", err->message);
	a.actor = ctx->actor;
	a.org.name = name;
	a.org.org_identifier = reg;
	a.org.country = country;
	a.org.state = state ? state : "";
	a.org.locality = locality ? locality : "";
	a.org.contact = addr;
	a.org.status = CG_ORG_ACTIVE;
	a.org.created_at = a.org.validated_at = ctx->now;
	a.org.approved_by = a.org.created_by = ctx->actor;
	if (!ctl_verified_read(ctx, source, reference, extract, &v))
		return 2;
	a.org.verified_source = v.source;
	a.org.verified_reference = v.reference;
	a.org.verified_extract = v.extract;
	a.verified = v.text;
	if (ctl_transact(ctx, org_add_txn, &a, NULL) != 0) {
		ctl_verified_clear(&v);
		return 1;
	}
	ctl_verified_clear(&v);
	if (ctx->json)
		printf("{\"id\":\"%s\",\"status\":\"active\"}\n", a.org.id);
	else
		printf("organisation %s added: %s (%s), active\n", a.org.id, name, reg);
	g_free(a.org.id);
	return 0;
}

static gboolean
list_org(gconstpointer rec, gpointer data)
{
	const CgOrg *o = rec;
	CtlList *l = data;

	if (l->ctx->json) {
		ctl_list_sep(l);
		g_string_append(l->out, "{\"id\":");
		ctl_json_str(l->out, o->id);
		g_string_append(l->out, ",\"status\":");
		ctl_json_str(l->out, cg_org_status_name(o->status));
		g_string_append(l->out, ",\"name\":");
		ctl_json_str(l->out, o->name);
		g_string_append(l->out, ",\"organizationIdentifier\":");
		ctl_json_str(l->out, o->org_identifier);
		g_string_append(l->out, ",\"country\":");
		ctl_json_str(l->out, o->country);
		g_string_append(l->out, ",\"contact\":");
		ctl_json_str(l->out, o->contact);
		g_string_append(l->out, "}");
	} else {
		g_string_append_printf(l->out, "%-6s %-10s %-20s %-3s %-30s %s\n", o->id,
		                       cg_org_status_name(o->status), o->org_identifier, o->country,
		                       o->contact, o->name);
		l->n++;
	}
	return TRUE;
}

int
ctl_org_list(CtlCtx *ctx, int argc, char **argv)
{
	g_autofree char *h = g_strdup_printf("%-6s %-10s %-20s %-3s %-30s %s\n", "ID", "STATUS",
	                                     "IDENTIFIER", "C", "CONTACT", "NAME");

	return ctl_list(ctx, argc, argv, CG_REC_ORG, list_org, "List organisations.", h, FALSE);
}

int
ctl_org_show(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgOrg) o = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	g_autofree char *created = NULL, *validated = NULL, *ends = NULL;
	CtlList l = {ctx, out, 0, NULL};
	CgStore *s;

	if (!ctl_parse(ctx, "ID", "Show an organisation, its domains, admins and history.", NULL,
	               &argc, &argv))
		return 2;
	if (argc != 2)
		return ctl_fail(ctx, 2, "needs one argument: the organisation id");
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	if ((o = cg_store_org_get(s, NULL, argv[1], &err)) == NULL)
		return ctl_fail(ctx, 1, "no organisation %s", argv[1]);
	created = cg_time_iso(o->created_at);
	validated = o->validated_at ? cg_time_iso(o->validated_at) : g_strdup("-");
	if (o->validated_at) {
		g_autofree char *t = cg_time_iso(o->validated_at + ctx->conf->org_reuse);

		ends = g_strdup_printf(
		    "  validation  %s until %s (OrgReuse)\n",
		    o->validated_at + ctx->conf->org_reuse > ctx->now ? "valid" : "ENDED", t);
	}
	g_string_append_printf(
	    out,
	    "organisation %s: %s\n  status      %s%s%s\n  identifier  %s\n"
	    "  country     %s\n  state       %s\n  locality    %s\n  contact     %s\n"
	    "  created     %s by %s\n  approved    %s by %s\n",
	    o->id, o->name, cg_org_status_name(o->status), *o->reason ? ": " : "", o->reason,
	    o->org_identifier, o->country, *o->state ? o->state : "-",
	    *o->locality ? o->locality : "-", o->contact, created, o->created_by, validated,
	    *o->approved_by ? o->approved_by : "-");
	if (ends != NULL)
		g_string_append(out, ends);
	if (o->verified_source || o->verified_reference || o->verified_extract)
		g_string_append_printf(out, "  verified    %s%s%s%s%s\n",
		                       o->verified_source ? o->verified_source : "-",
		                       o->verified_reference ? ", entry " : "",
		                       o->verified_reference ? o->verified_reference : "",
		                       o->verified_extract ? ", extract sha256 " : "",
		                       o->verified_extract ? o->verified_extract : "");
	if (o->confirm_request)
		g_string_append_printf(out,
		                       "  confirmed   by its contact's letter %s: approve it again "
		                       "(certgate org approve %s)\n",
		                       o->confirm_request, o->id);
	ctl_org_pending_show(ctx, s, o, out);
	g_string_append(out, "domains:\n");
	if (!cg_store_foreach_by(s, NULL, CG_INDEX_DOMAIN_BY_ORG, o->id, ctl_domain_row, &l, &err))
		return ctl_fail(ctx, 1, "%s", err->message);
	g_string_append(out, "admins:\n");
	if (!cg_store_foreach_by(s, NULL, CG_INDEX_ADMIN_BY_ORG, o->id, ctl_admin_row, &l, &err))
		return ctl_fail(ctx, 1, "%s", err->message);
	ctl_org_history(ctx, s, o->id, out);
	fputs(out->str, stdout);
	return 0;
}

typedef struct {
	const char *org_id;
	GString *out;
} History;

static gboolean
history_entry(gconstpointer rec, gpointer data)
{
	const CgAuditEntry *e = rec;
	History *h = data;
	g_autofree char *t = NULL;

	if (strcmp(e->object, h->org_id) != 0)
		return TRUE;
	t = cg_time_iso(e->time);
	g_string_append_printf(h->out, "  %s  %-22s %-24s %s\n", t, e->action, e->actor, e->detail);
	return TRUE;
}

void
ctl_org_history(CtlCtx *ctx, CgStore *s, const char *org_id, GString *out)
{
	History h = {org_id, out};
	g_autoptr(GError) err = NULL;

	g_string_append(out, "history:\n");
	if (!cg_store_audit_foreach(s, history_entry, &h, &err))
		g_string_append_printf(out, "  (audit log unreadable: %s)\n", err->message);
	(void)ctx;
}
