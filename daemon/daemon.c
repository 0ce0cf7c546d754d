/*
 * daemon.c: logging, detaching, privileges, pid file, signals, reload.
 */
#include "daemon.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static gboolean log_stderr;
static volatile gint log_level = LOG_INFO;
static const char *log_ident = "certgate";
static GMutex log_lock;

/* GLib's messages (the store's: Berkeley DB's errors, replication events,
 * the watchdog; a library's warnings) go where certgate's own lines go, in
 * the same form and under the same LogLevel, made safe like any text. GLib's own handler wrote them
 * to stderr, which a detached daemon has on /dev/null. */
static void
glib_to_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
	int prio = (level & G_LOG_LEVEL_ERROR)      ? LOG_ERR
	           : (level & G_LOG_LEVEL_CRITICAL) ? LOG_CRIT
	           : (level & G_LOG_LEVEL_WARNING)  ? LOG_WARNING
	           : (level & G_LOG_LEVEL_MESSAGE)  ? LOG_NOTICE
	           : (level & G_LOG_LEVEL_INFO)     ? LOG_INFO
	                                            : LOG_DEBUG;

	g_autofree char *safe = NULL;

	(void)data;
	if (!cg_log_enabled(prio))
		return;
	/* A library's message may quote what it parsed (mail, for GMime). */
	safe = cg_text_safe(message, -1, 2000);
	if (domain != NULL)
		cg_log(prio, "%s: %s", domain, safe);
	else
		cg_log(prio, "%s", safe);
}

void
cg_log_open(const char *ident, int facility, int level, gboolean to_stderr)
{
	log_ident = ident;
	log_stderr = to_stderr;
	g_atomic_int_set(&log_level, level);
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
	g_log_set_default_handler(glib_to_log, NULL);
}

void
cg_log_set_level(int level)
{
	g_atomic_int_set(&log_level, level);
}

gboolean
cg_log_enabled(int prio)
{
	return prio <= g_atomic_int_get(&log_level);
}

void
cg_log(int prio, const char *fmt, ...)
{
	static const char *names[] = {"emerg",   "alert",  "crit", "error",
	                              "warning", "notice", "info", "debug"};
	va_list ap;

	if (!cg_log_enabled(prio))
		return;
	va_start(ap, fmt);
	if (log_stderr) {
		g_autofree char *msg = g_strdup_vprintf(fmt, ap);
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		g_mutex_lock(&log_lock);
		fprintf(stderr, "%s.%03ldZ %s[%d]: %s: %s\n", when, ts.tv_nsec / 1000000, log_ident,
		        (int)getpid(), names[prio & 7], msg);
		fflush(stderr);
		g_mutex_unlock(&log_lock);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
}

gboolean
cg_daemon_detach(GError **error)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "fork: %s", g_strerror(errno));
		return FALSE;
	}
	if (pid > 0)
		_exit(0);
	setsid();
	if (chdir("/") != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "chdir /: %s", g_strerror(errno));
		return FALSE;
	}
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return TRUE;
}

gboolean
cg_daemon_lookup_user(const char *spec, uid_t *uid, gid_t *gid, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(spec, ":", 2);
	struct passwd *pw = getpwnam(parts[0]);

	if (pw == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "no such user: %s", parts[0]);
		return FALSE;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (parts[1] != NULL) {
		struct group *gr = getgrnam(parts[1]);

		if (gr == NULL) {
			g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "no such group: %s",
			            parts[1]);
			return FALSE;
		}
		*gid = gr->gr_gid;
	}
	return TRUE;
}

gboolean
cg_daemon_drop_privileges(const char *spec, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(spec, ":", 2);
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return TRUE;
	if (!cg_daemon_lookup_user(spec, &uid, &gid, error))
		return FALSE;
	if (uid == 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG,
		            "UserID %s is root: certgate does not run as root", spec);
		return FALSE;
	}
	if (initgroups(parts[0], gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "cannot become %s: %s", spec,
		            g_strerror(errno));
		return FALSE;
	}
	if (setuid(0) == 0 || geteuid() == 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "could regain root after the drop");
		return FALSE;
	}
	return TRUE;
}

gboolean
cg_daemon_pidfile_write(const char *path, GError **error)
{
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	g_autofree char *dir = g_path_get_dirname(path);
	char buf[32];
	int fd, n;

	g_mkdir_with_parents(dir, 0755);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", path, g_strerror(errno));
		return FALSE;
	}
	if (fcntl(fd, F_SETLK, &l) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_EXISTS, "%s: another instance is running",
		            path);
		close(fd);
		return FALSE;
	}
	n = g_snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || write(fd, buf, (size_t)n) != n) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", path, g_strerror(errno));
		close(fd);
		return FALSE;
	}
	/* fd stays open: the lock lasts as long as the process. */
	return TRUE;
}

void
cg_daemon_pidfile_remove(const char *path)
{
	if (path != NULL && *path != '\0')
		unlink(path);
}

typedef struct {
	sigset_t set;
	CgSignalFunc fn;
	gpointer data;
} SignalThread;

static gpointer
signal_loop(gpointer p)
{
	SignalThread *st = p;

	for (;;) {
		int sig = 0;

		if (sigwait(&st->set, &sig) != 0)
			continue;
		st->fn(sig, st->data);
	}
	return NULL;
}

gboolean
cg_daemon_signal_thread(const int *handled, CgSignalFunc fn, gpointer data, GError **error)
{
	SignalThread *st = g_new0(SignalThread, 1);
	sigset_t block;
	const int *s;

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &block, NULL) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "cannot block signals");
		g_free(st);
		return FALSE;
	}
	sigemptyset(&st->set);
	for (s = handled; *s != 0; s++)
		sigaddset(&st->set, *s);
	st->fn = fn;
	st->data = data;
	g_thread_unref(g_thread_new("cg-signals", signal_loop, st));
	return TRUE;
}

struct CgConfHolder {
	GMutex lock;
	CgConf *conf;
};

CgConfHolder *
cg_conf_holder_new(CgConf *conf)
{
	CgConfHolder *h = g_new0(CgConfHolder, 1);

	g_mutex_init(&h->lock);
	h->conf = cg_conf_ref(conf);
	return h;
}

CgConf *
cg_conf_holder_get(CgConfHolder *h)
{
	CgConf *c;

	g_mutex_lock(&h->lock);
	c = cg_conf_ref(h->conf);
	g_mutex_unlock(&h->lock);
	return c;
}

static void
note_restart_only(const CgConf *old, const CgConf *new)
{
	const struct {
		const char *name, *a, *b;
	} keys[] = {
	    {"Socket", old->socket, new->socket},
	    {"UserID", old->user_id, new->user_id},
	    {"IssuerUserID", old->issuer_user_id, new->issuer_user_id},
	    {"DbHome", old->db_home, new->db_home},
	    {"EvidenceDir", old->evidence_dir, new->evidence_dir},
	    {"PidFile", old->pid_file, new->pid_file},
	    {"LogFacility", old->log_facility, new->log_facility},
	};
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(keys); i++)
		if (g_strcmp0(keys[i].a, keys[i].b) != 0)
			cg_log(LOG_WARNING,
			       "reload: %s changed; it takes effect at the next restart",
			       keys[i].name);
}

gboolean
cg_conf_holder_reload(CgConfHolder *h, const char *path, GError **error)
{
	CgConf *fresh = cg_conf_load(path, error);
	CgConf *old;

	if (fresh == NULL)
		return FALSE;
	g_mutex_lock(&h->lock);
	old = h->conf;
	h->conf = fresh;
	g_mutex_unlock(&h->lock);
	note_restart_only(old, fresh);
	cg_log_set_level(cg_conf_log_level(fresh));
	cg_conf_unref(old);
	return TRUE;
}

void
cg_conf_holder_free(CgConfHolder *h)
{
	if (h == NULL)
		return;
	cg_conf_unref(h->conf);
	g_mutex_clear(&h->lock);
	g_free(h);
}
