/*
 * main.c: certgate-issuer, the daemon that holds the CA key.
 *
 * Start-up: flags and configuration; syslog (stderr with -f); detach; drop
 * root for IssuerUserID; pid file; signals; the database; the CA material.
 * Then it takes jobs from the queue one by one, each in one transaction.
 * SIGUSR1 or SIGHUP reload the configuration and the CA material (a bad
 * file keeps what runs); SIGTERM and SIGINT finish the job in hand and exit.
 */
#include "issuer.h"
#include "daemon.h"
#include "common.h"

#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <openssl/opensslv.h>

static struct {
	char *conf;
	gboolean check, foreground, version, drain;
} opt;

static GOptionEntry entries[] = {
    {"config", 'c', 0, G_OPTION_ARG_FILENAME, &opt.conf,
     "configuration file (default /etc/certgate/certgate.conf)", "FILE"},
    {"check", 'n', 0, G_OPTION_ARG_NONE, &opt.check, "check the configuration and exit", NULL},
    {"foreground", 'f', 0, G_OPTION_ARG_NONE, &opt.foreground,
     "stay in the foreground, log to stderr", NULL},
    {"version", 'V', 0, G_OPTION_ARG_NONE, &opt.version, "print versions and exit", NULL},
    {"drain", 0, 0, G_OPTION_ARG_NONE, &opt.drain, "run the jobs queued now, then exit (no daemon)",
     NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL}};

static volatile gint stop_requested, reload_requested;

static void
on_signal(int sig, gpointer data)
{
	(void)data;
	if (sig == SIGUSR1 || sig == SIGHUP)
		g_atomic_int_set(&reload_requested, 1);
	else
		g_atomic_int_set(&stop_requested, 1);
}

static void
reload(CgConfHolder *holder, const char *path, CgIssuer *iss, CgCa **ca)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) conf = NULL;
	CgCa *fresh;

	if (!cg_conf_holder_reload(holder, path, &err)) {
		cg_log(LOG_ERR, "reload refused, keeping the running configuration: %s",
		       err->message);
		return;
	}
	conf = cg_conf_holder_get(holder);
	if (iss == NULL) /* a tie-breaker: no CA */
		return;
	fresh = cg_ca_load(conf, &err);
	if (fresh == NULL) {
		cg_log(LOG_ERR, "reload: keeping the running CA material: %s", err->message);
		cg_issuer_set_conf(iss, conf);
		return;
	}
	cg_issuer_free(iss);
	cg_ca_free(*ca);
	*ca = fresh;
	cg_log(LOG_NOTICE, "configuration and CA material reloaded");
}

/* A replication site of priority 0 never becomes master: it holds a copy
 * and votes, and needs no CA key (none is loaded). */
static gboolean
tie_breaker(const CgConf *conf)
{
	return conf->repl_local != NULL && *conf->repl_local != '\0' && conf->repl_priority == 0;
}

/* The tie-breaker's loop: the replication process of its site, nothing
 * more; it opens the databases again when replication rolls them back. */
static int
keep_replica(CgStore *store)
{
	cg_log(LOG_NOTICE, "certgate-issuer %s running as a replication tie-breaker "
	                   "(ReplicationPriority 0): holds a copy, never master, no CA key",
	       CERTGATE_VERSION);
	while (!g_atomic_int_get(&stop_requested)) {
		g_usleep(200 * 1000);
		if (cg_store_panicked(store) && !cg_store_needs_reopen(store)) {
			cg_log(LOG_CRIT, "the database needs recovery: stopping");
			return 75;
		}
		if (cg_store_needs_reopen(store)) {
			/* Handles only: the replication manager keeps running in
			 * this environment handle; the service manager restarts us
			 * for fresh ones. */
			cg_log(LOG_NOTICE, "replication rolled back this site's open databases: "
			                   "restarting");
			return 75;
		}
	}
	return 0;
}

/* Every CSR's key is looked up in the key-reuse index: its pages are read
 * into the cache once, now, rather than one by one by the first thousands
 * of issue jobs (a database recovered at our start has an empty cache). */
static void
warm_key_index(CgStore *store)
{
	g_autoptr(GError) err = NULL;
	gint64 t0 = g_get_monotonic_time();
	guint64 pages;

	if (!cg_store_warm(store, CG_INDEX_CERT_BY_SPKI, &pages, &err))
		cg_log(LOG_WARNING, "key-reuse index: %s", err->message);
	else if (pages == 0)
		cg_log(LOG_INFO, "key-reuse index: larger than half the cache, not read ahead");
	else
		cg_log(LOG_INFO, "key-reuse index: %" G_GUINT64_FORMAT " pages read in %.0f ms",
		       pages, (g_get_monotonic_time() - t0) / 1000.0);
}

static int
run(CgConfHolder *holder, const char *path)
{
	static const int handled[] = {SIGUSR1, SIGHUP, SIGTERM, SIGINT, 0};
	g_autoptr(CgConf) conf = cg_conf_holder_get(holder);
	g_autoptr(GError) err = NULL;
	CgStore *store = NULL;
	CgCa *ca = NULL;
	CgIssuer *iss = NULL;
	int rc = 1;

	if (!opt.foreground && !opt.drain && !cg_daemon_detach(&err))
		goto out;
	if (!cg_daemon_drop_privileges(conf->issuer_user_id, &err))
		goto out;
	umask(007);
	if (!opt.drain && *conf->issuer_pid_file != '\0' &&
	    !cg_daemon_pidfile_write(conf->issuer_pid_file, &err))
		goto out;
	if (!cg_daemon_signal_thread(handled, on_signal, NULL, &err))
		goto out;
	/* A replication client that has not received the database yet waits
	 * for it (cg_store_open_repl waits a minute at a time). */
	while ((store = cg_open_store(conf, CG_STORE_REPLICATE | CG_STORE_WAIT, &err)) == NULL &&
	       g_error_matches(err, CG_ERROR, CG_ERROR_NOT_MASTER) && !opt.drain &&
	       !g_atomic_int_get(&stop_requested)) {
		cg_log(LOG_NOTICE, "%s", err->message);
		g_clear_error(&err);
		g_usleep(G_USEC_PER_SEC);
	}
	if (store == NULL)
		goto out;
	if (tie_breaker(conf)) {
		rc = keep_replica(store);
		goto out;
	}
	if ((ca = cg_ca_load(conf, &err)) == NULL)
		goto out;
	iss = cg_issuer_new(conf, store, ca);
	warm_key_index(store);
	cg_log(LOG_NOTICE, "certgate-issuer %s running: issuing CA key %s", CERTGATE_VERSION,
	       cg_ca_key_location(ca));
	rc = 0;
	while (!g_atomic_int_get(&stop_requested)) {
		gboolean idle = FALSE;

		if (g_atomic_int_compare_and_exchange(&reload_requested, 1, 0)) {
			CgCa *before = ca;
			g_autoptr(CgConf) c = NULL;

			reload(holder, path, iss, &ca);
			c = cg_conf_holder_get(holder);
			if (ca != before)
				iss = cg_issuer_new(c, store, ca);
		}
		if (!cg_issuer_may_work(iss, opt.drain ? 0 : 1000, &idle)) {
			if (opt.drain)
				break;
			continue;
		}
		cg_issuer_tick(iss, g_get_real_time() / G_USEC_PER_SEC);
		if (!cg_issuer_step(iss, opt.drain ? 0 : 1000, &idle, &err)) {
			cg_log(LOG_ERR, "job queue: %s", err->message);
			g_clear_error(&err);
			g_usleep(G_USEC_PER_SEC);
		}
		if (cg_store_needs_reopen(store)) {
			g_autoptr(CgConf) c = cg_conf_holder_get(holder);

			/* Replication rolled back what we had open: open it again. */
			cg_log(LOG_NOTICE, "replication rolled back this site's open databases: "
			                   "opening them again");
			cg_issuer_free(iss);
			iss = NULL;
			cg_store_close(store);
			while ((store = cg_open_store(c, CG_STORE_REPLICATE | CG_STORE_WAIT, &err)) ==
			           NULL &&
			       !g_atomic_int_get(&stop_requested)) {
				cg_log(LOG_NOTICE, "%s", err->message);
				g_clear_error(&err);
				g_usleep(G_USEC_PER_SEC);
			}
			if (store == NULL) {
				rc = 75;
				break;
			}
			iss = cg_issuer_new(c, store, ca);
			continue;
		}
		if (cg_store_panicked(store)) {
			cg_log(LOG_CRIT, "the database needs recovery: stopping");
			rc = 75;
			break;
		}
		if (opt.drain && idle)
			break;
	}
	cg_log(LOG_NOTICE, "certgate-issuer stopping");
out:
	if (err != NULL) {
		cg_log(LOG_ERR, "%s", err->message);
		if (opt.foreground || opt.drain)
			fprintf(stderr, "certgate-issuer: %s\n", err->message);
	}
	cg_issuer_free(iss);
	cg_ca_free(ca);
	cg_store_close(store);
	if (!opt.drain && *conf->issuer_pid_file != '\0')
		cg_daemon_pidfile_remove(conf->issuer_pid_file);
	return rc;
}

int
main(int argc, char **argv)
{
	g_autoptr(GOptionContext) oc = NULL;
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) conf = NULL;
	CgConfHolder *holder;
	int rc;

	closefrom(3);
	/* A sendmail that exits before reading all of a message must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	oc = g_option_context_new("");
	g_option_context_set_summary(oc, "The certgate issuer: takes jobs from the queue, signs "
	                                 "certificates and CRLs, sends mail.");
	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &err) || argc > 1) {
		fprintf(stderr, "certgate-issuer: %s\n",
		        err ? err->message : "unexpected argument");
		return 2;
	}
	if (opt.version) {
		printf("certgate-issuer %s (%s)\n", CERTGATE_VERSION, OPENSSL_VERSION_TEXT);
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
	cg_log_open("certgate-issuer", cg_conf_log_facility(conf), cg_conf_log_level(conf),
	            opt.foreground || opt.drain);
	holder = cg_conf_holder_new(conf);
	rc = run(holder, opt.conf);
	cg_conf_holder_free(holder);
	return rc;
}
