/*
 * cmd_db.c: certgate db check|backup: the database environment as a whole.
 */
#include "ctl.h"
#include "common.h"

#include <stdio.h>

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
