/*
 * ctl.h: the certgate command's own parts (never included outside ctl/).
 *
 * Each command is a row of one table: group, verb, one-line summary, handler.
 * A handler parses its own options (GOption, so --help comes for free), does
 * its work, prints results on stdout and problems on stderr, and returns the
 * exit status: 0 done, 1 failed or found a problem, 2 bad usage.
 */
#ifndef CG_CTL_H
#define CG_CTL_H

#include "conf.h"
#include "store.h"

typedef struct {
	const char *conf_path;
	CgConf *conf;   /* loaded before the handler runs (except config check) */
	CgStore *store; /* opened on first use by ctl_store() */
	gboolean json;
	const char *prog; /* "certgate GROUP VERB" for messages */
} CtlCtx;

typedef int (*CtlFunc)(CtlCtx *ctx, int argc, char **argv);

typedef struct {
	const char *group;
	const char *verb;
	const char *args; /* synopsis of the arguments */
	const char *summary;
	CtlFunc func;
	gboolean needs_conf;
} CtlCommand;

/* Opens the store of ctx->conf, or prints why not and returns NULL. */
CgStore *ctl_store(CtlCtx *ctx);
/* Parses options for a command; prints usage problems; FALSE on error. The
 * remaining positional arguments stay in argc/argv (argv[0] is the command). */
gboolean ctl_parse(CtlCtx *ctx, const char *args, const char *summary, GOptionEntry *entries,
                   int *argc, char ***argv);
/* "certgate GROUP VERB: message" on stderr; returns status. */
int ctl_fail(CtlCtx *ctx, int status, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* JSON output helpers: strings escaped per RFC 8259. */
void ctl_json_str(GString *out, const char *s);

/* "operator:NAME" (SUDO_USER when set) for the audit log. Caller frees. */
char *ctl_actor(void);
gint64 ctl_now(void);
void ctl_org_history(CtlCtx *ctx, CgStore *s, const char *org_id, GString *out);

int ctl_config_check(CtlCtx *ctx, int argc, char **argv);
int ctl_config_show(CtlCtx *ctx, int argc, char **argv);
int ctl_db_check(CtlCtx *ctx, int argc, char **argv);
int ctl_db_backup(CtlCtx *ctx, int argc, char **argv);
int ctl_audit_verify(CtlCtx *ctx, int argc, char **argv);
int ctl_audit_show(CtlCtx *ctx, int argc, char **argv);
int ctl_ca_init(CtlCtx *ctx, int argc, char **argv);
int ctl_ca_show(CtlCtx *ctx, int argc, char **argv);
int ctl_crl(CtlCtx *ctx, int argc, char **argv);
int ctl_org_add(CtlCtx *ctx, int argc, char **argv);
int ctl_org_list(CtlCtx *ctx, int argc, char **argv);
int ctl_org_show(CtlCtx *ctx, int argc, char **argv);
int ctl_org_approve(CtlCtx *ctx, int argc, char **argv);
int ctl_org_reject(CtlCtx *ctx, int argc, char **argv);
int ctl_domain_add(CtlCtx *ctx, int argc, char **argv);
int ctl_domain_list(CtlCtx *ctx, int argc, char **argv);
int ctl_domain_challenge(CtlCtx *ctx, int argc, char **argv);
int ctl_admin_add(CtlCtx *ctx, int argc, char **argv);
int ctl_admin_list(CtlCtx *ctx, int argc, char **argv);
int ctl_cert_issue(CtlCtx *ctx, int argc, char **argv);
int ctl_cert_list(CtlCtx *ctx, int argc, char **argv);
int ctl_cert_show(CtlCtx *ctx, int argc, char **argv);
int ctl_cert_revoke(CtlCtx *ctx, int argc, char **argv);
int ctl_queue_show(CtlCtx *ctx, int argc, char **argv);
int ctl_queue_flush(CtlCtx *ctx, int argc, char **argv);

#endif
