/*
 * cmd_repl.c: certgate repl status: this site's view of the replication
 * group (its role, the master, each site and whether it is connected, how
 * far this site is behind, whether its copies of the CA's files are the
 * current ones).
 */
#include "ctl.h"
#include "common.h"
#include "issuer.h"

#include <stdio.h>

/* What status_json and status_text say of the CA's files: those not
 * current (none: NULL), or why they were not compared (NULL: they were). */
typedef struct {
	GPtrArray *not_current;
	char *unknown;
} Files;

static void
status_json(const CgReplStatus *st, gint64 now, const Files *f, GString *out)
{
	guint i;

	g_string_append(out, "{\"role\": ");
	ctl_json_str(out, cg_store_role_name(st->role));
	g_string_append(out, ", \"site\": ");
	ctl_json_str(out, st->local);
	g_string_append(out, ", \"master\": ");
	ctl_json_str(out, st->master);
	g_string_append_printf(out, ", \"log\": \"%u/%u\"", st->log_file, st->log_offset);
	if (st->role == CG_ROLE_MASTER)
		g_string_append_printf(out, ", \"acknowledged\": \"%u/%u\", \"not_acknowledged\": %"
		                       G_GUINT64_FORMAT, st->perm_file, st->perm_offset,
		                       st->perm_failed);
	else
		g_string_append_printf(out, ", \"caught_up\": %s",
		                       st->startup_done ? "true" : "false");
	if (st->beat > 0)
		g_string_append_printf(out, ", \"master_beat_age\": %" G_GINT64_FORMAT,
		                       MAX(now - st->beat, 0));
	g_string_append(out, ", \"sites\": [");
	for (i = 0; i < st->sites->len; i++) {
		const CgReplSite *s = &g_array_index(st->sites, CgReplSite, i);

		g_string_append(out, i ? ", {\"address\": " : "{\"address\": ");
		ctl_json_str(out, s->address);
		g_string_append_printf(out,
		                       ", \"this\": %s, \"connected\": %s, \"master\": %s, "
		                       "\"configured\": %s}",
		                       s->local ? "true" : "false", s->connected ? "true" : "false",
		                       s->master ? "true" : "false",
		                       s->stranger ? "false" : "true");
	}
	g_string_append(out, "]");
	if (f->not_current != NULL) {
		g_string_append(out, ", \"ca_files_not_current\": [");
		for (i = 0; i < f->not_current->len; i++) {
			g_string_append(out, i ? ", " : "");
			ctl_json_str(out, f->not_current->pdata[i]);
		}
		g_string_append(out, "]");
	} else if (f->unknown != NULL) {
		g_string_append(out, ", \"ca_files_not_compared\": ");
		ctl_json_str(out, f->unknown);
	}
	g_string_append(out, "}\n");
}

static void
status_text(const CgReplStatus *st, gint64 now, const Files *f, GString *out)
{
	guint i;

	g_string_append_printf(out, "this site: %s, %s\n", st->local, cg_store_role_name(st->role));
	g_string_append_printf(out, "master:    %s\n", *st->master ? st->master : "(none known)");
	g_string_append_printf(out, "log:       %u/%u", st->log_file, st->log_offset);
	if (st->role == CG_ROLE_MASTER)
		g_string_append_printf(out, ", acknowledged to %u/%u, %" G_GUINT64_FORMAT
		                       " commits not acknowledged in time since start\n",
		                       st->perm_file, st->perm_offset, st->perm_failed);
	else
		g_string_append_printf(out, ", %s\n",
		                       st->startup_done ? "caught up with the master"
		                                        : "not caught up with a master");
	if (st->beat > 0)
		g_string_append_printf(out, "behind:    the master's last beat here is %" G_GINT64_FORMAT
		                       " s old\n", MAX(now - st->beat, 0));
	for (i = 0; i < st->sites->len; i++) {
		const CgReplSite *s = &g_array_index(st->sites, CgReplSite, i);

		g_string_append_printf(out, "site %-22s %s%s%s\n", s->address,
		                       s->local       ? "this site"
		                       : s->connected ? "connected"
		                                      : "NOT CONNECTED",
		                       s->master ? ", master" : "",
		                       s->stranger ? ", NOT NAMED IN ReplicationPeer HERE" : "");
	}
	if (f->unknown != NULL)
		g_string_append_printf(out, "CA files:  not compared: %s\n", f->unknown);
	else if (f->not_current->len == 0)
		g_string_append(out, "CA files:  the current ones\n");
	for (i = 0; f->not_current != NULL && i < f->not_current->len; i++)
		g_string_append_printf(out, "CA files:  %s\n",
		                       (const char *)f->not_current->pdata[i]);
}

/* The CA's files against their notes (cafiles.c). Never fails the status,
 * which matters most while a site catches up: its database is read only
 * once it has (a client's reads wait or fail while it synchronises). */
static void
files_compare(CgStore *s, const CgConf *conf, const CgReplStatus *st, Files *f)
{
	g_autoptr(GError) err = NULL;

	if (conf->repl_priority == 0) {
		f->unknown = g_strdup("a tie-breaker holds none");
		return;
	}
	if (st->role != CG_ROLE_MASTER && !st->startup_done) {
		f->unknown = g_strdup("once this site has caught up");
		return;
	}
	f->not_current = g_ptr_array_new_with_free_func(g_free);
	if (!cg_ca_files_check(s, conf, f->not_current, &err)) {
		g_clear_pointer(&f->not_current, g_ptr_array_unref);
		f->unknown = g_strdup(err->message);
	}
}

int
ctl_repl_remove(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	CgStore *s;

	if (!ctl_parse(ctx, "HOST:PORT",
	               "Remove a site from the replication group (a host taken out of service, "
	               "or a site that tried to join by mistake).",
	               NULL, &argc, &argv))
		return 2;
	if (argc != 2)
		return ctl_fail(ctx, 2, "which site? certgate repl remove HOST:PORT");
	if (ctx->conf->repl_local == NULL || *ctx->conf->repl_local == '\0')
		return ctl_fail(ctx, 1, "replication is not configured (ReplicationLocal): one host");
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	if (!cg_store_repl_remove(s, argv[1], &err))
		return ctl_fail(ctx, g_error_matches(err, CG_ERROR, CG_ERROR_USAGE) ? 2 : 1, "%s",
		                err->message);
	printf("site %s removed from the group\n", argv[1]);
	return 0;
}

int
ctl_repl_status(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(GError) err = NULL;
	gboolean json = FALSE;
	GOptionEntry entries[] = {
	    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "as JSON", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	Files files = {NULL, NULL};
	CgReplStatus st;
	CgStore *s;

	if (!ctl_parse(ctx, "",
	               "This site's role, the master, each site and how far behind; whether this "
	               "site's CA files are the current ones.",
	               entries, &argc, &argv))
		return 2;
	if (ctx->conf->repl_local == NULL || *ctx->conf->repl_local == '\0')
		return ctl_fail(ctx, 1, "replication is not configured (ReplicationLocal): one host");
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	if (!cg_store_repl_status(s, &st, &err))
		return ctl_fail(ctx, 1, "%s", err->message);
	files_compare(s, ctx->conf, &st, &files);
	if (json || ctx->json)
		status_json(&st, ctl_now(), &files, out);
	else
		status_text(&st, ctl_now(), &files, out);
	if (files.not_current != NULL)
		g_ptr_array_unref(files.not_current);
	g_free(files.unknown);
	cg_repl_status_clear(&st);
	fputs(out->str, stdout);
	return 0;
}
