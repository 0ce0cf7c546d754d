/*
 * cmd_audit.c: certgate audit verify|show: the hash-chained audit log.
 */
#include "ctl.h"
#include "common.h"

#include <stdio.h>

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
