/*
 * cmd_queue.c: the job queue, as postqueue shows and flushes Postfix's.
 *
 *   certgate queue show     every job: kind, id, attempts, when it is due
 *   certgate queue flush    deferred retries are due now (the issuer takes them);
 *                           scheduled jobs (reminders) keep their time
 */
#include "ctl.h"
#include "common.h"

#include <stdio.h>

typedef struct {
	CtlCtx *ctx;
	GString *out;
	guint n;
} QueueList;

static gboolean
list_job(const CgJob *j, gpointer data)
{
	QueueList *l = data;
	g_autofree char *due = j->due ? cg_time_iso(j->due) : g_strdup("now");

	if (l->ctx->json) {
		g_string_append(l->out, l->n == 0 ? "[\n" : ",\n");
		g_string_append(l->out, "{\"kind\":");
		ctl_json_str(l->out, cg_job_kind_name(j->kind));
		g_string_append(l->out, ",\"id\":");
		ctl_json_str(l->out, j->id);
		g_string_append_printf(l->out, ",\"attempts\":%u,\"due\":", j->attempts);
		ctl_json_str(l->out, due);
		g_string_append(l->out, "}");
	} else {
		g_string_append_printf(l->out, "%-10s %-8u %-21s %s\n", cg_job_kind_name(j->kind),
		                       j->attempts, due, j->id);
	}
	l->n++;
	return TRUE;
}

int
ctl_queue_show(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	QueueList l = {ctx, out, 0};
	CgStore *s;

	if (!ctl_parse(ctx, "", "Show the issuer's jobs: queued ones first, then deferred ones.",
	               NULL, &argc, &argv))
		return 2;
	if (argc > 1)
		return ctl_fail(ctx, 2, "takes no arguments");
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	if (!ctx->json)
		g_string_append_printf(out, "%-10s %-8s %-21s %s\n", "KIND", "ATTEMPTS", "DUE",
		                       "ID");
	if (!cg_store_job_list(s, list_job, &l, &err))
		return ctl_fail(ctx, 1, "%s", err->message);
	if (ctx->json)
		g_string_append(out, l.n == 0 ? "[]\n" : "\n]\n");
	else
		g_string_append_printf(out, "%u job%s\n", l.n, l.n == 1 ? "" : "s");
	fputs(out->str, stdout);
	return 0;
}

int
ctl_queue_flush(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	CgStore *s;
	gint moved;

	if (!ctl_parse(ctx, "",
	               "Make every deferred retry due now; the issuer takes them at once. Jobs "
	               "scheduled for later (expiry reminders) keep their time.",
	               NULL, &argc, &argv))
		return 2;
	if (argc > 1)
		return ctl_fail(ctx, 2, "takes no arguments");
	if ((s = ctl_store_writable(ctx)) == NULL)
		return 1;
	if ((moved = cg_store_job_flush(s, &err)) < 0)
		return ctl_fail(ctx, 1, "%s", err->message);
	printf("%d deferred job%s queued\n", moved, moved == 1 ? "" : "s");
	return 0;
}
