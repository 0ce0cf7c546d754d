/*
 * cmd_db.c: configuration, database and audit commands, and the helpers
 * every command shares.
 */
#include "ctl.h"
#include "common.h"

#include <stdio.h>
#include <string.h>

int
ctl_fail(CtlCtx *ctx, int status, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", ctx->prog, msg);
	return status;
}

CgStore *
ctl_store(CtlCtx *ctx)
{
	g_autoptr(GError) err = NULL;

	if (ctx->store != NULL)
		return ctx->store;
	ctx->store =
	    cg_store_open(ctx->conf->db_home, ctx->conf->evidence_dir, CG_STORE_DEFAULT, &err);
	if (ctx->store == NULL)
		ctl_fail(ctx, 1, "cannot open the database: %s", err->message);
	return ctx->store;
}

gboolean
ctl_parse(CtlCtx *ctx, const char *args, const char *summary, GOptionEntry *entries, int *argc,
          char ***argv)
{
	g_autoptr(GOptionContext) oc = g_option_context_new(args);
	g_autoptr(GError) err = NULL;
	static GOptionEntry none[] = {{NULL, 0, 0, 0, NULL, NULL, NULL}};

	g_option_context_set_summary(oc, summary);
	g_option_context_add_main_entries(oc, entries ? entries : none, NULL);
	g_option_context_set_strict_posix(oc, FALSE);
	if (!g_option_context_parse(oc, argc, argv, &err)) {
		ctl_fail(ctx, 2, "%s", err->message);
		return FALSE;
	}
	return TRUE;
}

void
ctl_json_str(GString *out, const char *s)
{
	const unsigned char *p;

	g_string_append_c(out, '"');
	for (p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_printf(out, "\\%c", *p);
		else if (*p < 0x20)
			g_string_append_printf(out, "\\u%04x", *p);
		else
			g_string_append_c(out, (char)*p);
	}
	g_string_append_c(out, '"');
}

int
ctl_config_check(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) conf = NULL;

	if (!ctl_parse(ctx, "", "Check the configuration file; exit 0 when it is good.", NULL,
	               &argc, &argv))
		return 2;
	conf = cg_conf_load(ctx->conf_path, &err);
	if (conf == NULL) {
		fprintf(stderr, "%s\n", err->message);
		return 1;
	}
	printf("%s: configuration is good\n", ctx->conf_path);
	return 0;
}

int
ctl_config_show(CtlCtx *ctx, int argc, char **argv)
{
	gboolean only_set = FALSE;
	GOptionEntry entries[] = {
	    {"set", 'n', 0, G_OPTION_ARG_NONE, &only_set, "only the keys the file sets", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GString) out = g_string_new(NULL);

	if (!ctl_parse(ctx, "", "Print the effective configuration, like postconf.", entries, &argc,
	               &argv))
		return 2;
	cg_conf_dump(ctx->conf, only_set, out);
	fputs(out->str, stdout);
	return 0;
}

int
ctl_db_check(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GString) report = g_string_new(NULL);
	g_autoptr(GError) err = NULL;
	CgStore *s;
	gboolean ok;

	if (!ctl_parse(ctx, "", "Decode every record; check indexes, jobs and the audit chain.",
	               NULL, &argc, &argv))
		return 2;
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	ok = cg_store_check(s, report, &err);
	fputs(report->str, stdout);
	if (!ok)
		return ctl_fail(ctx, 1, "%s", err->message);
	printf("database is consistent\n");
	return 0;
}

int
ctl_db_backup(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	CgStore *s;

	if (!ctl_parse(ctx, "DIR",
	               "Hot backup of the database environment into DIR (new or empty).", NULL,
	               &argc, &argv))
		return 2;
	if (argc != 2)
		return ctl_fail(ctx, 2, "needs one argument: the backup directory");
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	if (!cg_store_backup(s, argv[1], &err))
		return ctl_fail(ctx, 1, "%s", err->message);
	printf("backup written to %s (evidence files stay in %s)\n", argv[1],
	       ctx->conf->evidence_dir);
	return 0;
}

int
ctl_audit_verify(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	guint64 count = 0, broken = 0;
	guint8 head[32];
	g_autofree char *hex = NULL;
	CgStore *s;

	if (!ctl_parse(ctx, "", "Verify the audit log's hash chain from the first entry.", NULL,
	               &argc, &argv))
		return 2;
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	if (!cg_store_audit_verify(s, &count, &broken, head, &err)) {
		if (broken > 0)
			printf("broken at %" G_GUINT64_FORMAT "\n", broken);
		return ctl_fail(ctx, 1, "%s", err->message);
	}
	hex = cg_hex(head, 32);
	printf("audit log intact: %" G_GUINT64_FORMAT " entries, head %s\n", count, hex);
	return 0;
}

typedef struct {
	CtlCtx *ctx;
	guint64 from;
	GString *out;
	gboolean first;
} ShowCtx;

static gboolean
show_entry(gconstpointer rec, gpointer data)
{
	const CgAuditEntry *e = rec;
	ShowCtx *sc = data;
	g_autofree char *t = NULL;

	if (e->seq < sc->from)
		return TRUE;
	t = cg_time_iso(e->time);
	if (sc->ctx->json) {
		g_string_append(sc->out, sc->first ? "[\n" : ",\n");
		g_string_append_printf(sc->out, "{\"seq\":%" G_GUINT64_FORMAT ",\"time\":", e->seq);
		ctl_json_str(sc->out, t);
		g_string_append(sc->out, ",\"actor\":");
		ctl_json_str(sc->out, e->actor);
		g_string_append(sc->out, ",\"action\":");
		ctl_json_str(sc->out, e->action);
		g_string_append(sc->out, ",\"object\":");
		ctl_json_str(sc->out, e->object);
		g_string_append(sc->out, ",\"detail\":");
		ctl_json_str(sc->out, e->detail);
		g_string_append(sc->out, "}");
	} else {
		g_string_append_printf(sc->out, "%6" G_GUINT64_FORMAT "  %s  %-20s %-22s %s  %s\n",
		                       e->seq, t, e->actor, e->action, e->object, e->detail);
	}
	sc->first = FALSE;
	return TRUE;
}

int
ctl_audit_show(CtlCtx *ctx, int argc, char **argv)
{
	gint last = 0;
	GOptionEntry entries[] = {
	    {"last", 0, 0, G_OPTION_ARG_INT, &last, "only the last N entries", "N"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	ShowCtx sc = {ctx, 0, out, TRUE};
	guint64 count = 0, broken = 0;
	guint8 head[32];
	CgStore *s;

	if (!ctl_parse(ctx, "", "Print audit log entries, oldest first.", entries, &argc, &argv))
		return 2;
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	if (last > 0 && cg_store_audit_verify(s, &count, &broken, head, NULL) &&
	    count > (guint64)last)
		sc.from = count - (guint64)last + 1;
	if (!cg_store_audit_foreach(s, show_entry, &sc, &err))
		return ctl_fail(ctx, 1, "%s", err->message);
	if (ctx->json)
		g_string_append(out, sc.first ? "[]\n" : "\n]\n");
	fputs(out->str, stdout);
	return 0;
}
