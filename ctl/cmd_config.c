/*
 * cmd_config.c: certgate config check|show.
 */
#include "ctl.h"
#include "common.h"

#include <stdio.h>

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
