/*
 * main.c: certgate, the operator's command.
 *
 *   certgate [-c FILE] GROUP VERB [options] [args]
 *
 * Finds the command in one table, loads the configuration, runs it. The
 * configuration file is -c, else $CERTGATE_CONF, else /etc/certgate/certgate.conf.
 * Never: reads mail; holds the CA key longer than one command.
 */
#include "ctl.h"
#include "common.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const CtlCommand commands[] = {
    {"config", "check", "", "check the configuration file and exit", ctl_config_check, FALSE},
    {"config", "show", "[-n]", "print the effective configuration", ctl_config_show, TRUE},
    {"db", "check", "", "check that every stored record decodes and indexes agree", ctl_db_check,
     TRUE},
    {"db", "backup", "DIR", "hot backup of the database environment into DIR", ctl_db_backup, TRUE},
    {"audit", "verify", "", "verify the audit log's hash chain", ctl_audit_verify, TRUE},
    {"audit", "show", "[--last N]", "print audit log entries", ctl_audit_show, TRUE},
};

static void
usage(FILE *f)
{
	gsize i;

	fprintf(f, "usage: certgate [-c FILE] [--json] GROUP VERB [options] [args]\n\n"
	           "commands:\n");
	for (i = 0; i < G_N_ELEMENTS(commands); i++) {
		g_autofree char *cmd = g_strdup_printf("%s %s %s", commands[i].group,
		                                       commands[i].verb, commands[i].args);

		fprintf(f, "  %-34s %s\n", cmd, commands[i].summary);
	}
	fprintf(f, "\n'certgate GROUP VERB --help' describes one command.\n");
}

static const CtlCommand *
find_command(const char *group, const char *verb)
{
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(commands); i++)
		if (strcmp(commands[i].group, group) == 0 && strcmp(commands[i].verb, verb) == 0)
			return &commands[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	CtlCtx ctx = {0};
	const CtlCommand *cmd;
	g_autofree char *prog = NULL;
	int i = 1, status;

	setlocale(LC_ALL, "");
	/* Files it creates in the shared database (new log files, say) must stay
	 * writable by the daemons' group. */
	umask(007);
	ctx.conf_path = g_getenv("CERTGATE_CONF");
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			ctx.conf_path = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0) {
			ctx.json = TRUE;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
			printf("certgate %s\n", CERTGATE_VERSION);
			return 0;
		} else {
			fprintf(stderr, "certgate: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (ctx.conf_path == NULL)
		ctx.conf_path = "/etc/certgate/certgate.conf";
	if (argc - i < 2) {
		usage(stderr);
		return 2;
	}
	cmd = find_command(argv[i], argv[i + 1]);
	if (cmd == NULL) {
		g_autofree char *g = cg_text_safe(argv[i], -1, 40),
		                *v = cg_text_safe(argv[i + 1], -1, 40);

		fprintf(stderr, "certgate: no command '%s %s'\n", g, v);
		usage(stderr);
		return 2;
	}
	prog = g_strdup_printf("certgate %s %s", cmd->group, cmd->verb);
	ctx.prog = prog;
	if (cmd->needs_conf) {
		g_autoptr(GError) err = NULL;

		ctx.conf = cg_conf_load(ctx.conf_path, &err);
		if (ctx.conf == NULL) {
			fprintf(stderr, "%s\n", err->message);
			return 1;
		}
	}
	/* The handler sees "GROUP VERB" as one argv[0]. */
	argv[i + 1] = prog;
	status = cmd->func(&ctx, argc - i - 1, argv + i + 1);
	cg_store_close(ctx.store);
	cg_conf_unref(ctx.conf);
	return status;
}
