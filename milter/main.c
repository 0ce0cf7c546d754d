/*
 * main.c: certgate-milter, the daemon.
 *
 * Start-up order: flags and configuration; syslog (stderr with -f); the user
 * to run as; the socket (a stale unix socket is removed only when nothing
 * answers on it); mode and group of the socket so that the MTA can connect;
 * detach; drop root; pid file; the database; a signal thread for SIGUSR1
 * (reload: a bad file keeps the old configuration); smfi_main.
 * libmilter owns SIGHUP, SIGTERM and SIGINT (it stops cleanly on them).
 */
#include "milter.h"
#include "common.h"

#include <db.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>
#include <gmime/gmime.h>
#include <libmilter/mfapi.h>
#include <openssl/opensslv.h>

static struct {
	char *conf;
	gboolean check, foreground, version;
	char *test_file, *client_ip, *helo, *mail_from;
	char **rcpts;
} opt;

static GOptionEntry entries[] = {
    {"config", 'c', 0, G_OPTION_ARG_FILENAME, &opt.conf,
     "configuration file (default /etc/certgate/certgate.conf)", "FILE"},
    {"check", 'n', 0, G_OPTION_ARG_NONE, &opt.check, "check the configuration and exit", NULL},
    {"foreground", 'f', 0, G_OPTION_ARG_NONE, &opt.foreground,
     "stay in the foreground, log to stderr", NULL},
    {"version", 'V', 0, G_OPTION_ARG_NONE, &opt.version, "print versions and exit", NULL},
    {"test", 't', 0, G_OPTION_ARG_FILENAME, &opt.test_file,
     "run a message file through the callbacks and print the verdict", "FILE.eml"},
    /* The test mode's envelope is taken as bytes, as the MTA would pass it:
     * SMTPUTF8 addresses are UTF-8 whatever the locale (the callbacks check
     * them as they check the MTA's). */
    {"client-ip", 0, 0, G_OPTION_ARG_STRING, &opt.client_ip, "test mode: client address", "IP"},
    {"helo", 0, 0, G_OPTION_ARG_FILENAME, &opt.helo, "test mode: HELO name", "NAME"},
    {"mail-from", 0, 0, G_OPTION_ARG_FILENAME, &opt.mail_from, "test mode: MAIL FROM", "ADDR"},
    {"rcpt", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &opt.rcpts, "test mode: a recipient (repeat)",
     "ADDR"},
    {NULL, 0, 0, 0, NULL, NULL, NULL}};

static CgMilter *the_milter;

static void
print_versions(void)
{
	unsigned int maj = 0, min = 0, pl = 0;

	smfi_version(&maj, &min, &pl);
	printf("certgate-milter %s\n", CERTGATE_VERSION);
	printf("  libmilter %u.%u.%u, %s, GMime %u.%u.%u, %s\n", maj, min, pl, OPENSSL_VERSION_TEXT,
	       gmime_major_version, gmime_minor_version, gmime_micro_version,
	       db_version(NULL, NULL, NULL));
}

/* How long a stop waits for the messages at work: a callback may wait for
 * a lock (10 s at most) or for DNS answers. Within systemd's 90 s. */
#define STOP_WAIT_US (60 * G_USEC_PER_SEC)

static const char *
unix_path(const char *sock)
{
	if (g_str_has_prefix(sock, "unix:"))
		return sock + 5;
	if (g_str_has_prefix(sock, "local:"))
		return sock + 6;
	if (sock[0] == '/')
		return sock;
	return NULL;
}

/* Removes a unix socket left by a dead milter; refuses when one answers. */
static gboolean
clean_stale_socket(const char *path, GError **error)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, rc, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "socket path too long: %s", path);
		return FALSE;
	}
	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "socket: %s", g_strerror(errno));
		return FALSE;
	}
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	err = errno;
	close(fd);
	if (rc == 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_EXISTS,
		            "%s: another milter is listening there", path);
		return FALSE;
	}
	if (err == ECONNREFUSED && unlink(path) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "cannot remove stale socket %s: %s", path,
		            g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static gboolean
open_socket(const CgConf *conf, struct smfiDesc *desc, GError **error)
{
	const char *path = unix_path(conf->socket);
	g_autofree char *conn = NULL;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	if (geteuid() == 0 && !cg_daemon_lookup_user(conf->user_id, &uid, &gid, error))
		return FALSE;
	if (path != NULL) {
		g_autofree char *dir = g_path_get_dirname(path);

		if (g_mkdir_with_parents(dir, 0755) == 0 && geteuid() == 0 &&
		    chown(dir, uid, gid) != 0)
			cg_log(LOG_WARNING, "chown %s: %s", dir, g_strerror(errno));
		if (!clean_stale_socket(path, error))
			return FALSE;
		conn = g_strconcat("unix:", path, NULL);
	} else {
		conn = g_strdup(conf->socket);
	}
	if (smfi_register(*desc) != MI_SUCCESS || smfi_setconn(conn) != MI_SUCCESS ||
	    smfi_setbacklog(128) != MI_SUCCESS || smfi_settimeout(600) != MI_SUCCESS ||
	    smfi_opensocket(FALSE) != MI_SUCCESS) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "cannot listen on %s", conn);
		return FALSE;
	}
	if (path != NULL) {
		if (*conf->socket_group != '\0') {
			struct group *gr = getgrnam(conf->socket_group);

			if (gr == NULL) {
				g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "no such group: %s",
				            conf->socket_group);
				return FALSE;
			}
			gid = gr->gr_gid;
		}
		if (chmod(path, (mode_t)conf->socket_mode) != 0 ||
		    (geteuid() == 0 && chown(path, uid, gid) != 0)) {
			g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", path,
			            g_strerror(errno));
			return FALSE;
		}
	}
	return TRUE;
}

static void
on_signal(int sig, gpointer data)
{
	CgMilter *m = data;
	g_autoptr(GError) err = NULL;

	if (sig != SIGUSR1)
		return;
	if (cg_conf_holder_reload(m->conf, m->conf_path, &err))
		cg_log(LOG_NOTICE, "configuration %s reloaded", m->conf_path);
	else
		cg_log(LOG_ERR, "reload refused, keeping the running configuration: %s",
		       err->message);
}

static int
run_daemon(CgMilter *m, CgConf *conf)
{
	static const int handled[] = {SIGUSR1, 0};
	struct smfiDesc desc;
	g_autoptr(GError) err = NULL;
	gboolean panicked;
	guint busy;
	int rc;

	cg_adapter_install(m, &desc);
	if (!open_socket(conf, &desc, &err)) {
		cg_log(LOG_ERR, "%s", err->message);
		fprintf(stderr, "certgate-milter: %s\n", err->message);
		return 1;
	}
	if (!opt.foreground && !cg_daemon_detach(&err)) {
		cg_log(LOG_ERR, "%s", err->message);
		return 1;
	}
	if (!cg_daemon_drop_privileges(conf->user_id, &err)) {
		cg_log(LOG_ERR, "%s", err->message);
		fprintf(stderr, "certgate-milter: %s\n", err->message);
		return 1;
	}
	umask(007);
	if (*conf->pid_file != '\0' && !cg_daemon_pidfile_write(conf->pid_file, &err)) {
		cg_log(LOG_ERR, "%s", err->message);
		fprintf(stderr, "certgate-milter: %s\n", err->message);
		return 1;
	}
	/* Before any other thread exists, so that every thread has the
	 * signals blocked and only the signal thread receives them. */
	if (!cg_daemon_signal_thread(handled, on_signal, m, &err)) {
		cg_log(LOG_ERR, "%s", err->message);
		return 1;
	}
	/* Gateway mail is deferred while the database cannot be opened; other
	 * mail keeps flowing. */
	cg_milter_store(m, NULL);
	cg_log(LOG_NOTICE, "certgate-milter %s listening on %s", CERTGATE_VERSION, conf->socket);
	rc = smfi_main();
	/* libmilter stopped listening; its sessions go on in their threads.
	 * A message at work (its transaction, a DNS answer it waits for)
	 * finishes and is answered before the database closes; what comes
	 * after is deferred. */
	busy = cg_adapter_stop();
	cg_log(LOG_NOTICE, "certgate-milter stopping: %u messages at work", busy);
	busy = cg_adapter_wait(STOP_WAIT_US);
	cg_log(LOG_NOTICE,
	       "certgate-milter stopped: %d messages, %d to the gateway (%d accepted, "
	       "%d rejected, %d deferred)",
	       g_atomic_int_get(&m->n_messages), g_atomic_int_get(&m->n_gateway),
	       g_atomic_int_get(&m->n_accepted), g_atomic_int_get(&m->n_rejected),
	       g_atomic_int_get(&m->n_tempfail));
	if (*conf->pid_file != '\0')
		cg_daemon_pidfile_remove(conf->pid_file);
	if (busy > 0) {
		/* Their threads still use the database: it stays open, and the
		 * next start recovers it. */
		cg_log(LOG_ERR,
		       "%u messages still at work after %d s: exiting without closing the database",
		       busy, (int)(STOP_WAIT_US / G_USEC_PER_SEC));
		return 1;
	}
	/* Stopped for the database (recovery, or handles replication rolled
	 * back): a failure, so that the service manager starts us again. */
	panicked = m->store != NULL && cg_store_panicked(m->store);
	cg_milter_close_store(m);
	if (panicked)
		return 75;
	return rc == MI_SUCCESS ? 0 : 1;
}

int
main(int argc, char **argv)
{
	g_autoptr(GOptionContext) oc = NULL;
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) conf = NULL;
	int rc;

	/* Descriptors inherited from whoever started us (a test harness's
	 * pipes, say) must not be kept open for the daemon's lifetime. */
	closefrom(3);
	signal(SIGPIPE, SIG_IGN);
	oc = g_option_context_new("");
	g_option_context_set_summary(oc, "The certgate milter: reads mail to the gateway "
	                                 "addresses and commits its decisions.");
	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &err) || argc > 1) {
		fprintf(stderr, "certgate-milter: %s\n",
		        err ? err->message : "unexpected argument");
		return 2;
	}
	if (opt.version) {
		print_versions();
		return 0;
	}
	if (opt.conf == NULL)
		opt.conf = g_strdup(g_getenv("CERTGATE_CONF") ? g_getenv("CERTGATE_CONF")
		                                              : "/etc/certgate/certgate.conf");
	conf = cg_conf_load(opt.conf, &err);
	if (conf == NULL) {
		fprintf(stderr, "%s\n", err->message);
		return 1;
	}
	if (opt.check)
		return 0;
	the_milter = cg_milter_new(conf, opt.conf);
	if (opt.test_file != NULL) {
		CgTestMode t = {
		    NULL,          0,        opt.client_ip ? opt.client_ip : "127.0.0.1", opt.helo,
		    opt.mail_from, opt.rcpts};
		g_autofree char *msg = NULL;

		cg_log_open("certgate-milter", LOG_MAIL, cg_conf_log_level(conf), TRUE);
		if (opt.rcpts == NULL) {
			fprintf(stderr, "certgate-milter: -t needs at least one --rcpt\n");
			return 2;
		}
		/* The message is read first (it may be readable by root only);
		 * then, as the daemon, root is dropped: run as root, the test
		 * would leave root-owned database files the daemons cannot open. */
		if (!g_file_get_contents(opt.test_file, &msg, &t.len, &err)) {
			fprintf(stderr, "certgate-milter: %s\n", err->message);
			return 1;
		}
		t.data = msg;
		umask(007); /* the database is shared by group, as the daemon's */
		if (!cg_daemon_drop_privileges(conf->user_id, &err)) {
			fprintf(stderr, "certgate-milter: %s\n", err->message);
			return 1;
		}
		rc = cg_testmode_run(the_milter, &t);
		cg_milter_free(the_milter);
		return rc;
	}
	cg_log_open("certgate-milter", cg_conf_log_facility(conf), cg_conf_log_level(conf),
	            opt.foreground);
	/* The milter is not freed: sessions libmilter left open, and the
	 * signal thread, may still reach it until the process ends. */
	return run_daemon(the_milter, conf);
}
