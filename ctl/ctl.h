/*
 * ctl.h: the certgate command's own parts. ctl.c holds what they share; each
 * noun has its file (cmd_org.c, cmd_domain.c, cmd_admin.c, cmd_cert.c,
 * cmd_ca.c, cmd_queue.c, cmd_db.c, cmd_audit.c, cmd_config.c).
 * Never: included outside ctl/.
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
	char *actor;      /* "operator:NAME" (SUDO_USER when set) for the audit log */
	gint64 now;       /* when the command started */
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
/* The store, for a command that changes records: NULL (said) on a
 * replication client, where records change on the master only. */
CgStore *ctl_store_writable(CtlCtx *ctx);
/* Parses options for a command; prints usage problems; FALSE on error. The
 * remaining positional arguments stay in argc/argv (argv[0] is the command). */
gboolean ctl_parse(CtlCtx *ctx, const char *args, const char *summary, GOptionEntry *entries,
                   int *argc, char ***argv);
/* ctl_parse for a command of one argument, a domain: the domain normalised
 * (caller frees), or NULL when the command line is wrong (said; exit 2). */
char *ctl_parse_domain(CtlCtx *ctx, const char *summary, GOptionEntry *entries, int argc,
                       char **argv);
/* "certgate GROUP VERB: message" on stderr; returns status. */
int ctl_fail(CtlCtx *ctx, int status, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Runs fn in one transaction of the store (opened if need be). 0 when it
 * committed; else tells why and returns 1: not_found (when not NULL) for
 * CG_ERROR_NOT_FOUND, the error's own message for anything else. */
int ctl_transact(CtlCtx *ctx, CgTxnFunc fn, gpointer data, const char *not_found);

/* JSON output helpers: strings escaped per RFC 8259. */
void ctl_json_str(GString *out, const char *s);

/* "operator:NAME" (SUDO_USER when set) for the audit log. Caller frees. */
char *ctl_actor(void);
gint64 ctl_now(void);

/* How the operator verified an organisation (org add/approve --source,
 * --reference, --extract FILE): kept in its record and audited. */
typedef struct {
	char *source, *reference, *extract; /* extract: SHA-256 hex of the file */
	char *text; /* "; verified in SOURCE, entry REF, extract sha256 X", or NULL */
} CtlVerified;
#define CTL_VERIFIED_ENTRIES(s, r, e)                                                              \
	{                                                                                          \
	    "source",  0, 0, G_OPTION_ARG_STRING, &(s), "the register checked (e.g. KRS)",         \
	    "REGISTER"},                                                                           \
	    {"reference", 0, 0, G_OPTION_ARG_STRING, &(r), "the entry in it", "REF"},              \
	{                                                                                          \
		"extract", 0, 0, G_OPTION_ARG_FILENAME, &(e),                                      \
		    "the register extract checked (its SHA-256 is kept)", "FILE"                   \
	}
/* FALSE (reported) when a value is not clean text or FILE cannot be read. */
gboolean ctl_verified_read(CtlCtx *ctx, const char *source, const char *reference,
                           const char *extract_file, CtlVerified *v);
/* Into the record's fields (those given). */
void ctl_verified_set(const CtlVerified *v, CgOrg *o);
void ctl_verified_clear(CtlVerified *v);

/* A listing: a table with a header line, or a JSON array (--json). */
typedef struct {
	CtlCtx *ctx;
	GString *out;
	guint n;
	const char *filter; /* org id, or NULL */
} CtlList;
/* Before a JSON element: "[" or ","; counts it. */
void ctl_list_sep(CtlList *l);
/* The end of a JSON array ("[]" when empty). */
void ctl_list_end(CtlList *l);
/* A listing reads without a transaction, and the lock detector may pick it
 * to end a deadlock with a daemon's writes: TRUE (the error cleared) when it
 * should start again, up to 10 times. */
gboolean ctl_list_again(GError **err, int *tries);
/* certgate GROUP list [--org ID] (the option with by_org): every record of
 * kind through visit (a visit taking a CtlList), after header (text). */
int ctl_list(CtlCtx *ctx, int argc, char **argv, CgRecordKind kind, CgStoreVisit visit,
             const char *summary, const char *header, gboolean by_org);
/* One row of a listing (visits taking a CtlList): used by org show too. */
gboolean ctl_domain_row(gconstpointer rec, gpointer list);
gboolean ctl_admin_row(gconstpointer rec, gpointer list);
void ctl_org_history(CtlCtx *ctx, CgStore *s, const char *org_id, GString *out);
/* A pending organisation's conflicts with others (cmd_org_approve.c): a
 * domain another holds, another's admin, another's contact; one line each. */
gboolean ctl_org_conflicts(CgStore *s, CgTxn *txn, const CgOrg *org, GPtrArray *lines,
                           GError **error);
/* For org show: what a pending organisation asked for, its conflicts and
 * the competing registrations. */
void ctl_org_pending_show(CtlCtx *ctx, CgStore *s, const CgOrg *org, GString *out);

int ctl_config_check(CtlCtx *ctx, int argc, char **argv);
int ctl_config_show(CtlCtx *ctx, int argc, char **argv);
int ctl_db_check(CtlCtx *ctx, int argc, char **argv);
int ctl_db_backup(CtlCtx *ctx, int argc, char **argv);
int ctl_db_restore(CtlCtx *ctx, int argc, char **argv);
int ctl_audit_verify(CtlCtx *ctx, int argc, char **argv);
int ctl_audit_show(CtlCtx *ctx, int argc, char **argv);
int ctl_ca_init(CtlCtx *ctx, int argc, char **argv);
int ctl_ca_show(CtlCtx *ctx, int argc, char **argv);
int ctl_ca_gateway_rekey(CtlCtx *ctx, int argc, char **argv);
int ctl_ca_gateway_renew(CtlCtx *ctx, int argc, char **argv);
int ctl_ca_root_crl(CtlCtx *ctx, int argc, char **argv);
int ctl_ca_renew_issuing(CtlCtx *ctx, int argc, char **argv);
int ctl_ca_note_files(CtlCtx *ctx, int argc, char **argv);
int ctl_crl(CtlCtx *ctx, int argc, char **argv);
int ctl_org_add(CtlCtx *ctx, int argc, char **argv);
int ctl_org_list(CtlCtx *ctx, int argc, char **argv);
int ctl_org_show(CtlCtx *ctx, int argc, char **argv);
int ctl_org_approve(CtlCtx *ctx, int argc, char **argv);
int ctl_org_reject(CtlCtx *ctx, int argc, char **argv);
int ctl_domain_add(CtlCtx *ctx, int argc, char **argv);
int ctl_domain_list(CtlCtx *ctx, int argc, char **argv);
int ctl_domain_challenge(CtlCtx *ctx, int argc, char **argv);
int ctl_domain_check(CtlCtx *ctx, int argc, char **argv);
int ctl_domain_preflight(CtlCtx *ctx, int argc, char **argv);
int ctl_admin_add(CtlCtx *ctx, int argc, char **argv);
int ctl_admin_list(CtlCtx *ctx, int argc, char **argv);
int ctl_admin_approve(CtlCtx *ctx, int argc, char **argv);
int ctl_cert_issue(CtlCtx *ctx, int argc, char **argv);
int ctl_cert_list(CtlCtx *ctx, int argc, char **argv);
int ctl_cert_show(CtlCtx *ctx, int argc, char **argv);
int ctl_cert_revoke(CtlCtx *ctx, int argc, char **argv);
int ctl_queue_show(CtlCtx *ctx, int argc, char **argv);
int ctl_queue_flush(CtlCtx *ctx, int argc, char **argv);
int ctl_stats(CtlCtx *ctx, int argc, char **argv);
int ctl_repl_status(CtlCtx *ctx, int argc, char **argv);
int ctl_repl_remove(CtlCtx *ctx, int argc, char **argv);

#endif
