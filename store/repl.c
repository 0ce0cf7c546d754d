/*
 * repl.c: replication with Berkeley DB's Replication Manager.
 *
 * Every site holds the whole environment; one is the master and takes
 * writes, the clients apply its log. Elections pick the master (a site of
 * ReplicationPriority 0 votes but never wins); with two sites a lone one
 * cannot win (2SITE_STRICT), so that a cut link never makes two masters: a
 * pair fails over automatically only with a third site as tie-breaker.
 *
 * The daemons (CG_STORE_REPLICATE) start the Replication Manager: the first
 * process of a site to start it listens for the group, the others share the
 * environment as its subordinates. A commit on the master waits for the
 * acknowledgements ReplicationAck asks for, up to ReplicationAckTimeout;
 * Berkeley DB then reports DB_EVENT_REP_PERM_FAILED in the committing
 * thread, and the commit, though durable here, fails with
 * CG_ERROR_NOT_ACKED: the caller defers, and a retry finds the intake seen.
 * A client answers writes with CG_ERROR_NOT_MASTER. A client that must roll
 * back to follow a new master invalidates every open database handle
 * (DB_REP_HANDLE_DEAD): the store is then marked as needing a restart.
 */
#include "store-int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* How often the master says it is alive, how long a client waits for that
 * before calling an election, how soon a lost connection is tried again:
 * a dead master is replaced in seconds. */
#define HEARTBEAT_SEND_US    (1000 * 1000)
#define HEARTBEAT_MONITOR_US (4 * 1000 * 1000)
#define CONNECTION_RETRY_US  (2 * 1000 * 1000)
#define ELECTION_RETRY_US    (3 * 1000 * 1000)
#define ELECTION_TIMEOUT_US  (2 * 1000 * 1000)
/* The role is asked of Berkeley DB at most this often per process. */
#define ROLE_CACHE_US (100 * 1000)

CgStore *cg_repl_store;

static __thread gboolean perm_failed;

static const char *const ack_names[] = {"all", "quorum", "one", "none"};

int
cg_repl_ack_from_name(const char *name)
{
	gsize i;

	for (i = 0; name != NULL && i < G_N_ELEMENTS(ack_names); i++)
		if (strcmp(name, ack_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
cg_store_role_name(CgStoreRole role)
{
	switch (role) {
	case CG_ROLE_ALONE:
		return "alone";
	case CG_ROLE_MASTER:
		return "master";
	default:
		return "client";
	}
}

static gboolean
add_site(CgStore *s, const char *address, u_int32_t which, GError **error)
{
	g_autofree char *host = NULL;
	DB_SITE *site = NULL;
	guint port;
	int rc;

	if (!cg_host_port_split(address, &host, &port)) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG,
		            "replication site \"%s\": not HOST:PORT", address);
		return FALSE;
	}
	rc = s->env->repmgr_site(s->env, host, port, &site, 0);
	if (rc == 0)
		rc = site->set_config(site, which, 1);
	/* Set or cleared: the region may hold the flag from the group's
	 * first start. */
	if (rc == 0 && which == DB_LOCAL_SITE)
		rc = site->set_config(site, DB_GROUP_CREATOR, s->repl_create_group ? 1 : 0);
	if (site != NULL)
		site->close(site);
	if (rc != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "replication site %s: %s", address,
		            db_strerror(rc));
		return FALSE;
	}
	return TRUE;
}

/* Which peers this site is connected to is known only to the process that
 * holds its connections (the listener), not to a command that opens the
 * environment: the listener keeps it in DbHome/lock/repl-connections (its
 * pid, then one "host:port" per connected peer), refreshed by its
 * maintenance thread from its own view (Berkeley DB's connection events come
 * per connection, and two sites may hold two). */
static char *
connections_path(CgStore *s)
{
	return g_build_filename(s->home, "lock", "repl-connections", NULL);
}

static char *site_address(const char *host, u_int port);

void
cg_repl_publish(CgStore *s)
{
	g_autoptr(GString) out = NULL;
	g_autofree char *path = NULL;
	g_autoptr(GError) err = NULL;
	DB_REPMGR_SITE *list = NULL;
	u_int count = 0, i;

	if (!s->repl_listener)
		return;
	if (s->env->repmgr_site_list(s->env, &count, &list) != 0)
		return;
	out = g_string_new(NULL);
	g_string_append_printf(out, "pid %ld\n", (long)getpid());
	for (i = 0; i < count; i++)
		if (list[i].status == DB_REPMGR_CONNECTED) {
			g_autofree char *peer = site_address(list[i].host, list[i].port);

			g_string_append_printf(out, "%s\n", peer);
		}
	free(list);
	if (s->repl_published != NULL && strcmp(s->repl_published, out->str) == 0)
		return;
	path = connections_path(s);
	if (!g_file_set_contents(path, out->str, (gssize)out->len, &err)) {
		/* The site's other processes then take it for one without a
		 * replication process: they defer gateway mail. */
		g_warning("replication: %s", err->message);
		return;
	}
	(void)chmod(path, 0644);
	g_free(s->repl_published);
	s->repl_published = g_string_free(g_steal_pointer(&out), FALSE);
}

/* The pid of the site's listener from its file, if that process lives. */
static gboolean
listener_pid_alive(const char *text)
{
	long pid;

	if (!g_str_has_prefix(text, "pid "))
		return FALSE;
	pid = strtol(text + 4, NULL, 10);
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* Whether the site's replication process (the listener) runs: only it holds
 * the connections that carry a commit to the replicas. A process killed
 * while it was the master leaves the environment's region saying "master";
 * a command or a subordinate daemon that took that for the truth would
 * commit what no replica ever sees, and the site's rejoin would roll it back
 * (seen in tests/ha/failover.sh before this check). */
gboolean
cg_repl_listener_alive(CgStore *s)
{
	g_autofree char *path = NULL;
	g_autofree char *text = NULL;

	if (!s->replicated || s->repl_listener)
		return TRUE;
	path = connections_path(s);
	return g_file_get_contents(path, &text, NULL, NULL) && listener_pid_alive(text);
}

/* The peers the listener says it is connected to, or NULL when no listener
 * runs (then this site is connected to none). */
static GHashTable *
read_connections(CgStore *s)
{
	g_autofree char *path = connections_path(s);
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	GHashTable *set;
	guint i;

	if (!g_file_get_contents(path, &text, NULL, NULL) || !listener_pid_alive(text))
		return NULL;
	set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	lines = g_strsplit(text, "\n", -1);
	for (i = 1; lines[i] != NULL; i++)
		if (lines[i][0] != '\0')
			g_hash_table_add(set, g_strdup(lines[i]));
	return set;
}

void
cg_repl_configure(CgStore *s, const CgStoreRepl *repl, gboolean process)
{
	static const int policies[] = {
	    [CG_REPL_ACK_ALL] = DB_REPMGR_ACKS_ALL,
	    [CG_REPL_ACK_QUORUM] = DB_REPMGR_ACKS_QUORUM,
	    [CG_REPL_ACK_ONE] = DB_REPMGR_ACKS_ONE,
	    [CG_REPL_ACK_NONE] = DB_REPMGR_ACKS_NONE,
	};
	DB_ENV *env = s->env;

	s->replicated = TRUE;
	s->repl_process = process;
	s->repl_local = g_strdup(repl->local);
	s->repl_peers = g_strdupv((char **)repl->peers);
	/* Only at the group's first start: a creator that restarts with its
	 * flag would make itself master beside the one elected meanwhile. */
	{
		g_autofree char *sys = g_build_filename(s->home, "__db.rep.system", NULL);

		s->repl_create_group = repl->create_group && !g_file_test(sys, G_FILE_TEST_EXISTS);
	}
	env->rep_set_priority(env, (u_int32_t)repl->priority);
	env->repmgr_set_ack_policy(env, policies[repl->ack]);
	env->rep_set_timeout(env, DB_REP_ACK_TIMEOUT, repl->ack_timeout_ms * 1000);
	env->rep_set_timeout(env, DB_REP_HEARTBEAT_SEND, HEARTBEAT_SEND_US);
	env->rep_set_timeout(env, DB_REP_HEARTBEAT_MONITOR, HEARTBEAT_MONITOR_US);
	env->rep_set_timeout(env, DB_REP_CONNECTION_RETRY, CONNECTION_RETRY_US);
	env->rep_set_timeout(env, DB_REP_ELECTION_RETRY, ELECTION_RETRY_US);
	env->rep_set_timeout(env, DB_REP_ELECTION_TIMEOUT, ELECTION_TIMEOUT_US);
	/* A master's checkpoint otherwise sleeps 30 s before its record, to
	 * let clients flush: the issuer checkpoints every minute in its loop,
	 * and stood still half the time. Our clients keep up (their
	 * acknowledgements say so). */
	env->rep_set_timeout(env, DB_REP_CHECKPOINT_DELAY, 0);
	/* Log records go to the clients in bulk messages, not one message per
	 * record: a batch of issue jobs writes over a thousand. */
	env->rep_set_config(env, DB_REP_CONF_BULK, 1);
	env->rep_set_config(env, DB_REPMGR_CONF_2SITE_STRICT, 1);
	/* On again after a listener that stopped turned them off (quiesce). */
	if (process)
		env->rep_set_config(env, DB_REPMGR_CONF_ELECTIONS, 1);
	/* A site that holds no database takes its master's whole copy. One
	 * that holds one is never overwritten so: a peer of another CA (or a
	 * master whose log this site's does not continue) makes the join fail,
	 * said in the log, rather than replace this CA's records. Such a site
	 * is set up again from an empty DbHome (after a backup). */
	if (process) {
		g_autofree char *meta = g_build_filename(s->home, "meta", NULL);

		env->rep_set_config(env, DB_REP_CONF_AUTOINIT,
		                    !g_file_test(meta, G_FILE_TEST_EXISTS));
	}
	g_atomic_pointer_set(&cg_repl_store, s);
}

/* The sites are named once the environment is open, in its region. Berkeley
 * DB 5.3 frees a handle's list of sites only when a replicated environment
 * closes (__repmgr_close): named before an open that failed (a panicked
 * environment answers DB_RUNRECOVERY), the list was never freed. */
gboolean
cg_repl_name_sites(CgStore *s, const CgStoreRepl *repl, GError **error)
{
	const char *const *p;

	if (!add_site(s, repl->local, DB_LOCAL_SITE, error))
		return FALSE;
	for (p = repl->peers; p != NULL && *p != NULL; p++)
		if (!add_site(s, *p, DB_BOOTSTRAP_HELPER, error))
			return FALSE;
	return TRUE;
}

gboolean
cg_repl_start(CgStore *s, GError **error)
{
	int rc = s->env->repmgr_start(s->env, 3, DB_REP_ELECTION);

	/* DB_REP_IGNORE: another process of this site listens already. */
	if (rc == DB_REP_UNAVAIL) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_MASTER,
		            "replication site %s cannot join its group yet: no peer answers as "
		            "the master",
		            s->repl_local);
		return FALSE;
	}
	if (rc != 0 && rc != DB_REP_IGNORE)
		return cg_db_fail(rc, "replication manager", error);
	s->repl_listener = rc == 0;
	cg_repl_publish(s);
	return TRUE;
}

/* Before the listener closes its environment: no election may be running.
 * Berkeley DB 5.3 joins its election thread on close, but a site closed in
 * the middle of an election crashed in it (a SEGV in __rep_elect_int, seen
 * once under ASan on a lone site that called election after election).
 * Elections are turned off (the region's setting: the next listener turns
 * them on again as it starts) and a running one is let finish; it ends
 * within its timeout. */
void
cg_repl_quiesce(CgStore *s)
{
	gint64 deadline = g_get_monotonic_time() + 2 * (ELECTION_TIMEOUT_US + G_USEC_PER_SEC);

	(void)s->env->rep_set_config(s->env, DB_REPMGR_CONF_ELECTIONS, 0);
	for (;;) {
		DB_REP_STAT *st = NULL;
		gboolean electing;

		if (s->env->rep_stat(s->env, &st, 0) != 0)
			break;
		electing = st->st_election_status != 0;
		free(st);
		if (!electing || g_get_monotonic_time() > deadline)
			break;
		g_usleep(50 * 1000);
	}
	{
		g_autofree char *path = connections_path(s);

		(void)unlink(path);
	}
	g_clear_pointer(&s->repl_published, g_free);
}

/* Berkeley DB makes the files replication creates 0600 whatever the
 * environment's mode: its own (__db.rep.gen, .egen, .diag*) and the files a
 * client creates as it applies its master's log, such as a new extent of the
 * job queue (__dbq.jobs.N). Three users share the environment (the milter's,
 * the issuer's, root's): a milter that could not write an extent its issuer
 * had made deferred every request once its site became master (seen in
 * tests/ha/mx_failover.sh). The owner of each file opens it to the group, as
 * the environment's other files are, twice a second. */
void
cg_repl_share_files(CgStore *s)
{
	g_autoptr(GDir) dir = g_dir_open(s->home, 0, NULL);
	const char *name;

	if (dir == NULL || !s->replicated)
		return;
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *path = NULL;
		struct stat st;

		path = g_build_filename(s->home, name, NULL);
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		    (st.st_mode & 0060) != 0060)
			(void)chmod(path, (st.st_mode & 0777) | 0060);
	}
}

/* "host:port" of a site by its environment id (a heap string), or NULL. */
static char *
site_of(CgStore *s, int eid)
{
	DB_SITE *site = NULL;
	const char *host = NULL;
	u_int port = 0;
	char *out = NULL;

	if (s->env->repmgr_site_by_eid(s->env, eid, &site) != 0)
		return NULL;
	if (site->get_address(site, &host, &port) == 0 && host != NULL)
		out = site_address(host, port);
	site->close(site);
	return out;
}

/* Connection trouble is told once a minute per site, not at every retry;
 * a connection made starts it afresh. The replication manager's threads
 * (the connector's, the one that reads) tell of it. */
static gint64 told[64];
static GMutex told_lock;

static gboolean
tell_connection(int eid)
{
	gint64 now = g_get_monotonic_time();
	guint i = (guint)eid % G_N_ELEMENTS(told);
	gboolean tell;

	g_mutex_lock(&told_lock);
	if ((tell = told[i] == 0 || now - told[i] >= 60 * G_USEC_PER_SEC))
		told[i] = now;
	g_mutex_unlock(&told_lock);
	return tell;
}

static void
connection_made(int eid)
{
	g_mutex_lock(&told_lock);
	told[(guint)eid % G_N_ELEMENTS(told)] = 0;
	g_mutex_unlock(&told_lock);
}

/* Whether address is this site or one of its ReplicationPeer lines. */
static gboolean
configured(CgStore *s, const char *address)
{
	char **p;

	if (s->repl_local != NULL && g_ascii_strcasecmp(address, s->repl_local) == 0)
		return TRUE;
	for (p = s->repl_peers; p != NULL && *p != NULL; p++)
		if (g_ascii_strcasecmp(address, *p) == 0)
			return TRUE;
	return FALSE;
}

void
cg_repl_event(CgStore *s, u_int32_t event, void *info)
{
	/* Only the daemons tell of the group; a command's own connections
	 * come and go with it. */
	if (!s->repl_process && event != DB_EVENT_REP_PERM_FAILED)
		return;
	switch (event) {
	case DB_EVENT_REP_CONNECT_TRY_FAILED: {
		const DB_REPMGR_CONN_ERR *e = info;
		g_autofree char *peer = e != NULL ? site_of(s, e->eid) : NULL;

		if (e != NULL && tell_connection(e->eid))
			g_warning("replication: cannot reach peer %s: %s",
			          peer ? peer : "(unknown)", db_strerror(e->error));
		return;
	}
	case DB_EVENT_REP_CONNECT_BROKEN: {
		const DB_REPMGR_CONN_ERR *e = info;
		g_autofree char *peer = e != NULL ? site_of(s, e->eid) : NULL;

		g_warning("replication: connection to %s lost", peer ? peer : "a peer");
		break;
	}
	case DB_EVENT_REP_CONNECT_ESTD: {
		const int *eid = info;
		g_autofree char *peer = eid != NULL ? site_of(s, *eid) : NULL;

		if (eid != NULL)
			connection_made(*eid);
		g_message("replication: connected to %s", peer ? peer : "a peer");
		break;
	}
	case DB_EVENT_REP_PERM_FAILED:
		perm_failed = TRUE; /* in the committing thread */
		break;
	case DB_EVENT_REP_MASTER:
		g_message("replication: this site (%s) is the master now", s->repl_local);
		break;
	case DB_EVENT_REP_CLIENT:
		g_message("replication: this site (%s) is a client", s->repl_local);
		break;
	case DB_EVENT_REP_NEWMASTER:
		g_message("replication: a new master was elected");
		break;
	case DB_EVENT_REP_DUPMASTER:
		g_warning("replication: two masters met; this site steps down");
		break;
	case DB_EVENT_REP_JOIN_FAILURE:
		g_warning("replication: this site could not join the group: its database does "
		          "not continue the master's (a peer of another CA, or this site fell too "
		          "far behind); it is not overwritten. To set it up again, move DbHome "
		          "aside and start with an empty one");
		break;
	case DB_EVENT_REP_SITE_ADDED: {
		/* Berkeley DB lets any site that reaches the port join (the
		 * link has no authentication: certgate.conf(5), REPLICATION);
		 * one that is not named here is told of loudly. */
		const int *eid = info;
		g_autofree char *site = eid != NULL ? site_of(s, *eid) : NULL;

		if (site != NULL && !configured(s, site))
			g_warning("replication: site %s joined the group and is not named in "
			          "ReplicationPeer here: if it is not one of the CA's, remove it "
			          "(certgate repl remove %s) and keep the replication port from "
			          "whoever reached it",
			          site, site);
		else
			g_message("replication: site %s joined the group",
			          site ? site : "(unknown)");
		break;
	}
	case DB_EVENT_REP_LOCAL_SITE_REMOVED:
		g_warning("replication: this site was removed from the group");
		break;
	case DB_EVENT_REP_ELECTION_FAILED:
		g_warning("replication: an election found no master (not enough sites)");
		break;
	default:
		return;
	}
	cg_repl_role_forget(s);
}

/* The role cached is no longer to be trusted; nor is one being found now
 * (cg_store_role keeps what it found only if nothing was forgotten
 * meanwhile: else a rep_stat made before a change of master, kept after
 * the event that told of it, would be believed for ROLE_CACHE_US). */
void
cg_repl_role_forget(CgStore *s)
{
	g_mutex_lock(&s->role_lock);
	s->role_cached = -1;
	s->role_gen++;
	g_mutex_unlock(&s->role_lock);
}

void
cg_repl_commit_begin(void)
{
	perm_failed = FALSE;
}

gboolean
cg_repl_commit_acked(void)
{
	return !perm_failed;
}

CgStoreRole
cg_store_role(CgStore *s)
{
	gint64 now = g_get_monotonic_time();
	DB_REP_STAT *st = NULL;
	gint64 checked;
	gint role;
	guint gen;

	if (s == NULL || !s->replicated)
		return CG_ROLE_ALONE;
	g_mutex_lock(&s->role_lock);
	role = s->role_cached;
	checked = s->role_checked;
	gen = s->role_gen;
	g_mutex_unlock(&s->role_lock);
	if (role > 0 && now - checked < ROLE_CACHE_US)
		return (CgStoreRole)role;
	role = CG_ROLE_CLIENT;
	if (s->env->rep_stat(s->env, &st, 0) == 0) {
		if ((st->st_status & DB_REP_MASTER) && cg_repl_listener_alive(s))
			role = CG_ROLE_MASTER;
		free(st);
	}
	g_mutex_lock(&s->role_lock);
	if (s->role_gen == gen) {
		s->role_cached = role;
		s->role_checked = now;
	}
	g_mutex_unlock(&s->role_lock);
	return (CgStoreRole)role;
}

gboolean
cg_store_writable(CgStore *s, GError **error)
{
	if (cg_store_role(s) == CG_ROLE_CLIENT) {
		g_set_error_literal(error, CG_ERROR, CG_ERROR_NOT_MASTER,
		                    "this host is not the CA's master now; the message will be "
		                    "retried");
		return FALSE;
	}
	return TRUE;
}

static gboolean
beat_txn(CgTxn *txn, gpointer data, GError **error)
{
	g_autofree char *v = g_strdup_printf("%" G_GINT64_FORMAT, *(gint64 *)data);

	return cg_store_meta_put(txn, "repl:beat", v, error);
}

gboolean
cg_store_repl_beat(CgStore *s, gint64 now, GError **error)
{
	if (!cg_store_writable(s, error))
		return FALSE;
	return cg_store_transact(s, beat_txn, &now, error);
}

static char *
site_address(const char *host, u_int port)
{
	return strchr(host, ':') != NULL ? g_strdup_printf("[%s]:%u", host, port)
	                                 : g_strdup_printf("%s:%u", host, port);
}

static void
clear_site(gpointer p)
{
	g_free(((CgReplSite *)p)->address);
}

gboolean
cg_store_repl_status(CgStore *s, CgReplStatus *out, GError **error)
{
	DB_REPMGR_SITE *list = NULL;
	DB_REP_STAT *st = NULL;
	u_int count = 0, i;
	CgReplSite me = {0};
	g_autofree char *beat = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	out->sites = g_array_new(FALSE, TRUE, sizeof(CgReplSite));
	g_array_set_clear_func(out->sites, clear_site);
	out->role = cg_store_role(s);
	out->local = g_strdup(s->repl_local ? s->repl_local : "");
	out->master = g_strdup("");
	if (!s->replicated)
		return TRUE;
	if ((rc = s->env->rep_stat(s->env, &st, 0)) != 0)
		return cg_db_fail(rc, "replication statistics", error);
	out->log_file = st->st_next_lsn.file;
	out->log_offset = st->st_next_lsn.offset;
	out->perm_file = st->st_max_perm_lsn.file;
	out->perm_offset = st->st_max_perm_lsn.offset;
	out->startup_done = st->st_startup_complete != 0;
	me.address = g_strdup(out->local);
	me.local = TRUE;
	me.connected = TRUE;
	me.master = out->role == CG_ROLE_MASTER;
	g_array_append_val(out->sites, me);
	if (me.master) {
		g_free(out->master);
		out->master = g_strdup(out->local);
	}
	if ((rc = s->env->repmgr_site_list(s->env, &count, &list)) == 0) {
		g_autoptr(GHashTable) up = s->repl_listener ? NULL : read_connections(s);

		for (i = 0; i < count; i++) {
			CgReplSite site = {0};

			site.address = site_address(list[i].host, list[i].port);
			site.stranger = !configured(s, site.address);
			/* A command sees the listener's connections; the listener
			 * its own. */
			site.connected = s->repl_listener ? list[i].status == DB_REPMGR_CONNECTED
			                                  : up != NULL &&
			                                        g_hash_table_contains(up, site.address);
			site.master = (db_ssize_t)list[i].eid == st->st_master &&
			              out->role != CG_ROLE_MASTER;
			if (site.master) {
				g_free(out->master);
				out->master = g_strdup(site.address);
			}
			g_array_append_val(out->sites, site);
		}
		free(list);
	}
	free(st);
	{
		DB_REPMGR_STAT *ms = NULL;

		if (s->env->repmgr_stat(s->env, &ms, 0) == 0) {
			out->perm_failed = ms->st_perm_failed;
			free(ms);
		}
	}
	beat = cg_store_meta_get(s, NULL, "repl:beat", NULL);
	out->beat = beat != NULL ? g_ascii_strtoll(beat, NULL, 10) : 0;
	return TRUE;
}

void
cg_repl_status_clear(CgReplStatus *st)
{
	g_free(st->local);
	g_free(st->master);
	if (st->sites != NULL)
		g_array_unref(st->sites);
	memset(st, 0, sizeof(*st));
}

/* Berkeley DB 5.3's Replication Manager connects to its peers with a
 * blocking connect() on a thread of its own, in every process that commits
 * (the daemons and the commands), and joins that thread when the
 * environment closes. To a peer that drops packets (a cut link, a firewall)
 * the kernel retries the SYN for over two minutes: every command on the
 * master then hung that long at its end, and a daemon's stop as long (seen in
 * tests/ha/split.sh). The library offers no connect timeout, so this
 * process's connect() gives TCP stream sockets a short SYN retry count
 * (three SYNs, about 7 s; the Replication Manager retries the connection
 * every CONNECTION_RETRY_US anyway) unless one is set, then connects
 * as libc would. Nothing else in certgate's processes connects over TCP
 * but DNS over TCP, for which 7 s is plenty. */
int
connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	int type = 0, syncnt = 0;
	socklen_t tl = sizeof(type), sl = sizeof(syncnt);

	if (addr != NULL && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) &&
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM &&
	    getsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &syncnt, &sl) == 0 && syncnt > 2) {
		int want = 2;

		(void)setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &want, sizeof(want));
	}
	return (int)syscall(SYS_connect, fd, addr, len);
}

gboolean
cg_store_repl_remove(CgStore *s, const char *address, GError **error)
{
	g_autofree char *host = NULL;
	DB_SITE *site = NULL;
	guint port;
	int rc;

	if (!s->replicated) {
		g_set_error_literal(error, CG_ERROR, CG_ERROR_CONFIG, "replication is not configured");
		return FALSE;
	}
	if (!cg_host_port_split(address, &host, &port)) {
		g_set_error(error, CG_ERROR, CG_ERROR_USAGE, "\"%s\" is not HOST:PORT", address);
		return FALSE;
	}
	if (s->repl_local != NULL && g_ascii_strcasecmp(address, s->repl_local) == 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_USAGE,
		            "%s is this site: remove it from another site of the group", address);
		return FALSE;
	}
	/* The request travels through the Replication Manager: this command
	 * joins the site's running replication process as its subordinate (it
	 * must not become the site's listener itself). */
	if (!cg_repl_listener_alive(s)) {
		g_set_error_literal(error, CG_ERROR, CG_ERROR_NOT_MASTER,
		                    "this site's replication process (its issuer or milter) is not "
		                    "running");
		return FALSE;
	}
	rc = s->env->repmgr_start(s->env, 0, DB_REP_CLIENT);
	if (rc != 0 && rc != DB_REP_IGNORE)
		return cg_db_fail(rc, "replication manager", error);
	rc = s->env->repmgr_site(s->env, host, port, &site, 0);
	if (rc == 0) {
		/* remove() frees the handle, whatever it returns. */
		rc = site->remove(site);
		site = NULL;
	}
	if (site != NULL)
		site->close(site);
	if (rc != 0) {
		g_set_error(error, CG_ERROR, rc == DB_REP_UNAVAIL ? CG_ERROR_NOT_MASTER : CG_ERROR_INTERNAL,
		            "removing %s: %s", address, db_strerror(rc));
		return FALSE;
	}
	return TRUE;
}
