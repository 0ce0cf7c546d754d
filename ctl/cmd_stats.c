/*
 * cmd_stats.c: the operator's view, the figures of the daily digest.
 *
 *   certgate stats [--json|--prometheus]
 *       organisations, held requests, certificates, the last 24 hours
 *       (issued, refused with the commonest reasons, revoked), domains,
 *       jobs, and warnings about the CA itself. --prometheus writes the text
 *       format of node_exporter's textfile collector.
 */
#include "ctl.h"
#include "issuer.h"

#include <stdio.h>

int
ctl_stats(CtlCtx *ctx, int argc, char **argv)
{
	gboolean json = FALSE, prometheus = FALSE;
	GOptionEntry entries[] = {
	    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "as JSON", NULL},
	    {"prometheus", 0, 0, G_OPTION_ARG_NONE, &prometheus,
	     "in the Prometheus text format (node_exporter's textfile collector)", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GError) err = NULL;
	g_autoptr(CgStats) st = NULL;
	g_autofree char *out = NULL;
	CgStore *s;

	if (!ctl_parse(ctx, "",
	               "What the database holds, the last 24 hours, and warnings about the CA "
	               "(the daily digest's figures).",
	               entries, &argc, &argv))
		return 2;
	if (argc > 1)
		return ctl_fail(ctx, 2, "takes no arguments");
	if ((json || ctx->json) && prometheus)
		return ctl_fail(ctx, 2, "--json or --prometheus, not both");
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	if ((st = cg_stats_gather(ctx->conf, s, ctl_now(), &err)) == NULL)
		return ctl_fail(ctx, 1, "%s", err->message);
	out = prometheus       ? cg_stats_prometheus(st)
	      : json || ctx->json ? cg_stats_json(st)
	                          : cg_stats_text(st, ctx->conf->gateway_domain);
	fputs(out, stdout);
	return 0;
}
