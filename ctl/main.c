/*
 * main.c: certgate, the operator's command.
 *
 *   certgate [-c FILE] [--json] GROUP [VERB] [options] [args]
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

/* clang-format off */
static const CtlCommand commands[] = {
	{"config", "check", "", "check the configuration file and exit", ctl_config_check, FALSE},
	{"config", "show", "[-n]", "print the effective configuration", ctl_config_show, TRUE},
	{"db", "check", "", "every record decodes, indexes agree, audit chain intact", ctl_db_check, TRUE},
	{"db", "backup", "DIR", "hot backup of the database environment into DIR", ctl_db_backup, TRUE},
	{"db", "restore", "DIR [--replace]", "restore a backup into DbHome (daemons stopped), checked first", ctl_db_restore, TRUE},
	{"audit", "verify", "", "verify the audit log's hash chain", ctl_audit_verify, TRUE},
	{"audit", "show", "[--last N]", "print audit log entries", ctl_audit_show, TRUE},
	{"ca", "init", "[--pkcs11] [--issuing-rsa BITS] [--org NAME]", "create the root CA, issuing CA and gateway certificate", ctl_ca_init, TRUE},
	{"ca", "show", "", "print the CA chain and where the key is", ctl_ca_show, TRUE},
	{"ca", "gateway-rekey", "", "a new gateway encryption certificate (the old one decrypts for GatewayEncryptionOverlap)", ctl_ca_gateway_rekey, TRUE},
	{"ca", "gateway-renew", "", "a new mail-signing key and certificate for the gateway", ctl_ca_gateway_renew, TRUE},
	{"ca", "root-crl", "--root-key FILE", "make the root CRL again (at least every twelve months)", ctl_ca_root_crl, TRUE},
	{"ca", "renew-issuing", "--root-key FILE [--days N]", "make the issuing CA's certificate again for the same key", ctl_ca_renew_issuing, TRUE},
	{"ca", "note-files", "", "note this host's CA files as the current ones (put in place by hand)", ctl_ca_note_files, TRUE},
	{"crl", "", "", "write a new CRL now", ctl_crl, TRUE},
	{"org", "add", "--name N --registration ID --country CC --contact ADDR", "add an organisation the operator verified", ctl_org_add, TRUE},
	{"org", "list", "", "list organisations", ctl_org_list, TRUE},
	{"org", "show", "ID", "an organisation, its domains, admins and history", ctl_org_show, TRUE},
	{"org", "approve", "ID [--despite-conflicts]", "approve a pending organisation: admins active, domains challenged", ctl_org_approve, TRUE},
	{"org", "reject", "ID --reason TEXT", "reject a pending organisation", ctl_org_reject, TRUE},
	{"domain", "add", "DOMAIN --org ID [--validated] [--method postmaster|dns] [--address LOCAL]", "add a domain; challenge it unless --validated", ctl_domain_add, TRUE},
	{"domain", "list", "[--org ID]", "domains with validation state and expiry", ctl_domain_list, TRUE},
	{"domain", "challenge", "[--lifetime DUR] [--method postmaster|dns] DOMAIN", "send a new challenge for the domain", ctl_domain_challenge, TRUE},
	{"domain", "check", "DOMAIN", "look for the domain's DNS-change record now", ctl_domain_check, TRUE},
	{"domain", "preflight", "DOMAIN", "DNSSEC, CAA and MX of a domain before it applies", ctl_domain_preflight, TRUE},
	{"admin", "add", "ADDR --org ID [--department D]", "appoint an admin", ctl_admin_add, TRUE},
	{"admin", "list", "[--org ID]", "list admins", ctl_admin_list, TRUE},
	{"admin", "approve", "ADDR", "appoint a held admin (outside the organisation's domains)", ctl_admin_approve, TRUE},
	{"cert", "issue", "--org ID --mailbox ADDR --csr FILE [--wait]", "issue through the queue, with every check", ctl_cert_issue, TRUE},
	{"cert", "list", "[--org ID|--mailbox ADDR]", "list certificates", ctl_cert_list, TRUE},
	{"cert", "show", "SERIAL [--pem|--der]", "show a certificate", ctl_cert_show, TRUE},
	{"cert", "revoke", "SERIAL --reason R", "revoke a certificate; the CRL follows", ctl_cert_revoke, TRUE},
	{"queue", "show", "", "the issuer's jobs, queued and deferred", ctl_queue_show, TRUE},
	{"queue", "flush", "", "make deferred jobs due now", ctl_queue_flush, TRUE},
	{"repl", "status", "[--json]", "this site's replication role, the master, each site and how far behind", ctl_repl_status, TRUE},
	{"repl", "remove", "HOST:PORT", "remove a site from the replication group", ctl_repl_remove, TRUE},
	{"stats", "", "[--json|--prometheus]", "the figures of the daily digest: records, the last 24 hours, warnings", ctl_stats, TRUE},
};
/* clang-format on */

static void
usage(FILE *f)
{
	gsize i;

	fprintf(f, "usage: certgate [-c FILE] [--json] GROUP [VERB] [options] [args]\n\n"
	           "commands:\n");
	for (i = 0; i < G_N_ELEMENTS(commands); i++) {
		const CtlCommand *c = &commands[i];

		fprintf(f, "  %s%s%s%s%s\n        %s\n", c->group, *c->verb ? " " : "", c->verb,
		        *c->args ? " " : "", c->args, c->summary);
	}
	fprintf(f, "\n'certgate GROUP VERB --help' describes one command.\n");
}

/* The command named by argv[0] (and argv[1] when the group has verbs);
 * *used is how many words named it. */
static const CtlCommand *
find_command(int argc, char **argv, int *used)
{
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (strcmp(commands[i].group, argv[0]) != 0)
			continue;
		if (*commands[i].verb == '\0') {
			*used = 1;
			return &commands[i];
		}
		if (argc >= 2 && strcmp(commands[i].verb, argv[1]) == 0) {
			*used = 2;
			return &commands[i];
		}
	}
	return NULL;
}

/* --help among a command's words: the handler prints it, with no config. */
static gboolean
help_asked(int argc, char **argv)
{
	int i;

	for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "-?") == 0)
			return TRUE;
	return FALSE;
}

/* GLib's messages (the store's: Berkeley DB's errors, a schema upgrade,
 * replication events) as the command's own lines on stderr: "certgate:
 * TEXT", "certgate: warning: TEXT"; info and debug are not shown. */
static void
glib_to_stderr(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
	g_autofree char *safe = NULL;

	(void)domain;
	(void)data;
	if (!(level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING |
	               G_LOG_LEVEL_MESSAGE)))
		return;
	safe = cg_text_safe(message, -1, 2000);
	fprintf(stderr, "certgate: %s%s\n", (level & G_LOG_LEVEL_MESSAGE) ? "" : "warning: ",
	        safe);
}

int
main(int argc, char **argv)
{
	CtlCtx ctx = {0};
	const CtlCommand *cmd;
	g_autofree char *prog = NULL;
	int i = 1, used = 0, status;

	setlocale(LC_ALL, "");
	g_log_set_default_handler(glib_to_stderr, NULL);
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
			g_autofree char *o = cg_text_safe(argv[i], -1, 40);

			fprintf(stderr, "certgate: unknown option %s\n", o);
			usage(stderr);
			return 2;
		}
	}
	if (ctx.conf_path == NULL)
		ctx.conf_path = "/etc/certgate/certgate.conf";
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = find_command(argc - i, argv + i, &used);
	if (cmd == NULL) {
		g_autofree char *g = cg_text_safe(argv[i], -1, 40);
		g_autofree char *v = cg_text_safe(i + 1 < argc ? argv[i + 1] : "", -1, 40);

		fprintf(stderr, "certgate: no command '%s %s'\n", g, v);
		usage(stderr);
		return 2;
	}
	prog = *cmd->verb ? g_strdup_printf("certgate %s %s", cmd->group, cmd->verb)
	                  : g_strdup_printf("certgate %s", cmd->group);
	ctx.prog = prog;
	if (cmd->needs_conf && !help_asked(argc - i, argv + i)) {
		g_autoptr(GError) err = NULL;

		ctx.conf = cg_conf_load(ctx.conf_path, &err);
		if (ctx.conf == NULL) {
			fprintf(stderr, "%s\n", err->message);
			return 1;
		}
	}
	ctx.actor = ctl_actor();
	ctx.now = ctl_now();
	/* The handler sees the command's words as one argv[0]. */
	i += used - 1;
	argv[i] = prog;
	status = cmd->func(&ctx, argc - i, argv + i);
	cg_store_close(ctx.store);
	cg_conf_unref(ctx.conf);
	g_free(ctx.actor);
	return status;
}
