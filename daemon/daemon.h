/*
 * daemon: what certgate-milter and certgate-issuer share as daemons.
 *
 *   cg_log_open(), cg_log()       syslog (or stderr in the foreground), with
 *                                 a level threshold; untrusted text must be
 *                                 made safe (cg_text_safe) by the caller.
 *                                 GLib's messages (g_message: the store's)
 *                                 are logged the same way from then on
 *   cg_daemon_detach()            fork into the background, new session
 *   cg_daemon_drop_privileges()   setgroups/setgid/setuid to "user[:group]";
 *                                 refuses to go on as root
 *   cg_daemon_pidfile_*()         a locked pid file
 *   cg_daemon_signal_thread()     SIGUSR1 (reload) and SIGTERM/SIGINT handled
 *                                 in one thread; call before other threads
 *   cg_daemon_reload_conf()       parse a fresh config; keep the old on error
 *
 * Never: reads mail or touches the store.
 */
#ifndef CG_DAEMON_H
#define CG_DAEMON_H

#include "conf.h"

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* opendb.c: the store as conf describes it (replication included). */
typedef struct CgStore CgStore;
CgStore *cg_open_store(const CgConf *conf, int flags, GError **error);

void cg_log_open(const char *ident, int facility, int level, gboolean to_stderr);
void cg_log_set_level(int level);
void cg_log(int prio, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
gboolean cg_log_enabled(int prio);

/* Fork; the parent exits 0 once the child runs. FALSE on error. */
gboolean cg_daemon_detach(GError **error);

/* Resolves "user[:group]". */
gboolean cg_daemon_lookup_user(const char *spec, uid_t *uid, gid_t *gid, GError **error);
/* As root: become spec's user. Not root: nothing to do (TRUE). FALSE (and the
 * process must exit) when the drop fails or root could be regained. */
gboolean cg_daemon_drop_privileges(const char *spec, GError **error);

/* Creates and locks path with our pid; CG_ERROR_EXISTS when another live
 * process holds it. The fd stays open (and locked) until exit. */
gboolean cg_daemon_pidfile_write(const char *path, GError **error);
void cg_daemon_pidfile_remove(const char *path);

typedef void (*CgSignalFunc)(int signo, gpointer data);
/* Blocks SIGUSR1, SIGTERM, SIGINT and SIGHUP in the calling thread (so in
 * every thread created after) and starts a thread that calls fn for each of
 * the signals in handled (a 0-terminated list). */
gboolean cg_daemon_signal_thread(const int *handled, CgSignalFunc fn, gpointer data,
                                 GError **error);

/* A shared, swappable configuration: readers take a reference. */
typedef struct CgConfHolder CgConfHolder;
CgConfHolder *cg_conf_holder_new(CgConf *conf);
CgConf *cg_conf_holder_get(CgConfHolder *h); /* caller unrefs */
/* Loads path; on success swaps it in and returns TRUE. On failure the old
 * configuration stays and error says why. Keys that need a restart to take
 * effect are logged. */
gboolean cg_conf_holder_reload(CgConfHolder *h, const char *path, GError **error);
void cg_conf_holder_free(CgConfHolder *h);

G_END_DECLS

#endif
