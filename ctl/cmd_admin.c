/*
 * cmd_admin.c: certgate admin add|list. Every change is one transaction
 * with its audit entry.
 */
#include "ctl.h"
#include "common.h"

#include <stdio.h>
#include <string.h>

typedef struct {
	CgAdmin a;
	const char *actor;
	gint64 now;
} AdminAdd;

static gboolean
admin_add_txn(CgTxn *txn, gpointer data, GError **error)
{
	AdminAdd *a = data;
	g_autoptr(CgOrg) org = cg_store_org_get(cg_txn_store(txn), txn, a->a.org_id, error);
	g_autofree char *detail = NULL;

	if (org == NULL)
		return FALSE;
	a->a.status = org->status == CG_ORG_ACTIVE ? CG_ADMIN_ACTIVE : CG_ADMIN_PENDING;
	detail = g_strdup_printf("admin of organisation %s, department %s, %s", org->id,
	                         *a->a.department ? a->a.department : "-",
	                         cg_admin_status_name(a->a.status));
	return cg_store_admin_put(txn, &a->a, error) &&
	       cg_store_audit_append(txn, a->now, a->actor, "admin.add", a->a.address, detail,
	                             error);
}

int
ctl_admin_add(CtlCtx *ctx, int argc, char **argv)
{
	g_autofree char *org = NULL;
	g_autofree char *dept = NULL;
	GOptionEntry entries[] = {
	    {"org", 0, 0, G_OPTION_ARG_STRING, &org, "the organisation", "ID"},
	    {"department", 0, 0, G_OPTION_ARG_STRING, &dept, "department", "D"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GError) err = NULL;
	g_autofree char *addr = NULL;
	AdminAdd a = {0};

	if (!ctl_parse(ctx, "ADDR", "Appoint an admin who may enrol mailboxes of the organisation.",
	               entries, &argc, &argv))
		return 2;
	if (argc != 2 || org == NULL)
		return ctl_fail(ctx, 2, "needs ADDR and --org ID");
	if ((addr = cg_addr_normalise(argv[1], &err)) == NULL)
		return ctl_fail(ctx, 2, "%s", err->message);
	if (dept != NULL && !cg_text_is_clean(dept, -1, 64))
		return ctl_fail(ctx, 2, "--department must be clean text of at most 64 bytes");
	a.a.address = addr;
	a.a.org_id = org;
	a.a.department = dept ? dept : "";
	a.actor = a.a.appointed_by = ctx->actor;
	a.now = a.a.appointed_at = ctx->now;
	if (ctl_transact(ctx, admin_add_txn, &a, "no such organisation") != 0)
		return 1;
	printf("admin %s of organisation %s: %s\n", addr, org, cg_admin_status_name(a.a.status));
	return 0;
}

gboolean
ctl_admin_row(gconstpointer rec, gpointer data)
{
	const CgAdmin *a = rec;
	CtlList *l = data;

	if (l->filter != NULL && strcmp(a->org_id, l->filter) != 0)
		return TRUE;
	if (l->ctx->json) {
		ctl_list_sep(l);
		g_string_append(l->out, "{\"address\":");
		ctl_json_str(l->out, a->address);
		g_string_append(l->out, ",\"org\":");
		ctl_json_str(l->out, a->org_id);
		g_string_append(l->out, ",\"status\":");
		ctl_json_str(l->out, cg_admin_status_name(a->status));
		g_string_append(l->out, ",\"department\":");
		ctl_json_str(l->out, a->department);
		g_string_append(l->out, "}");
	} else {
		g_string_append_printf(l->out, "%-36s %-6s %-8s %s\n", a->address, a->org_id,
		                       cg_admin_status_name(a->status), a->department);
		l->n++;
	}
	return TRUE;
}

int
ctl_admin_list(CtlCtx *ctx, int argc, char **argv)
{
	g_autofree char *h =
	    g_strdup_printf("%-36s %-6s %-8s %s\n", "ADDRESS", "ORG", "STATUS", "DEPARTMENT");

	return ctl_list(ctx, argc, argv, CG_REC_ADMIN, ctl_admin_row, "List admins.", h, TRUE);
}

typedef struct {
	const char *address;
	const char *actor;
	gint64 now;
	char *org_id;
} AdminApprove;

static gboolean
admin_approve_txn(CgTxn *txn, gpointer data, GError **error)
{
	AdminApprove *a = data;
	g_autoptr(CgAdmin) ad = cg_store_admin_get(cg_txn_store(txn), txn, a->address, error);
	g_autofree char *detail = NULL;

	if (ad == NULL)
		return FALSE;
	if (ad->status != CG_ADMIN_HELD) {
		g_set_error(error, CG_ERROR, CG_ERROR_EXISTS, "%s is %s, not held", ad->address,
		            cg_admin_status_name(ad->status));
		return FALSE;
	}
	ad->status = CG_ADMIN_ACTIVE;
	g_free(a->org_id);
	a->org_id = g_strdup(ad->org_id);
	detail = g_strdup_printf("admin of organisation %s outside its domains, appointed by %s: "
	                         "approved",
	                         ad->org_id, ad->appointed_by);
	return cg_store_admin_put(txn, ad, error) &&
	       cg_store_audit_append(txn, a->now, a->actor, "admin.approve", ad->address, detail,
	                             error);
}

int
ctl_admin_approve(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *addr = NULL;
	AdminApprove a = {0};
	int rc;

	if (!ctl_parse(ctx, "ADDR",
	               "Appoint a held admin: one an organisation's contact named outside the "
	               "organisation's domains.",
	               NULL, &argc, &argv))
		return 2;
	if (argc != 2)
		return ctl_fail(ctx, 2, "needs ADDR");
	if ((addr = cg_addr_normalise(argv[1], &err)) == NULL)
		return ctl_fail(ctx, 2, "%s", err->message);
	a.address = addr;
	a.actor = ctx->actor;
	a.now = ctx->now;
	rc = ctl_transact(ctx, admin_approve_txn, &a, "no such admin");
	if (rc == 0)
		printf("admin %s of organisation %s: active\n", addr, a.org_id);
	g_free(a.org_id);
	return rc;
}
