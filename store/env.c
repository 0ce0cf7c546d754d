/*
 * env.c: the Berkeley DB environment, its databases, transactions.
 *
 * Three programs share one environment. Who runs recovery is decided by a
 * lock file: a process that can lock DbHome/lock/certgate.lock exclusively is
 * alone, runs normal recovery, then downgrades to a shared lock that it holds
 * until it exits. A process that dies while others run does not force a full
 * recovery (DB_REGISTER would, and every survivor would then fail with
 * DB_RUNRECOVERY): the survivors' maintenance thread runs DB_ENV->failchk,
 * which aborts the dead process's transactions and frees its locks, and
 * expires lock waits that ran past their timeout.
 * A real panic (DB_RUNRECOVERY) marks the store panicked; the daemons then
 * exit so that the next start recovers.
 */
#include "store-int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The databases' layout. 2: certs_revoked, the index of revoked
 * certificates the CRL is built from, and certs_by_expiry and
 * requests_held, which the figures are counted from (a version 1 store is
 * brought to 2 by the first process to open it: schema_upgrade). */
#define SCHEMA_VERSION  2
#define LOCK_TIMEOUT_US (10 * 1000 * 1000)
#define CACHE_BYTES     (32 * 1024 * 1024)

const DbSpec cg_db_specs[DBI_N] = {
    [DBI_META] = {"meta", DB_BTREE, FALSE},
    [DBI_ORGS] = {"orgs", DB_BTREE, FALSE},
    [DBI_DOMAINS] = {"domains", DB_BTREE, FALSE},
    [DBI_ADMINS] = {"admins", DB_BTREE, FALSE},
    [DBI_CHALLENGES] = {"challenges", DB_BTREE, FALSE},
    [DBI_REQUESTS] = {"requests", DB_BTREE, FALSE},
    [DBI_ITEMS] = {"items", DB_BTREE, FALSE},
    [DBI_CERTS] = {"certs", DB_BTREE, FALSE},
    [DBI_SEEN] = {"seen", DB_BTREE, FALSE},
    [DBI_JOBS] = {"jobs", DB_QUEUE, FALSE},
    [DBI_JOBS_LATER] = {"jobs_later", DB_BTREE, FALSE},
    [DBI_AUDIT] = {"audit", DB_BTREE, FALSE},
    [DBI_DOMAIN_BY_ORG] = {"domains_by_org", DB_BTREE, TRUE},
    [DBI_ADMIN_BY_ORG] = {"admins_by_org", DB_BTREE, TRUE},
    [DBI_CERT_BY_MAILBOX] = {"certs_by_mailbox", DB_BTREE, TRUE},
    [DBI_CERT_BY_ORG] = {"certs_by_org", DB_BTREE, TRUE},
    [DBI_CERT_BY_SPKI] = {"certs_by_spki", DB_BTREE, TRUE},
    [DBI_CERT_REVOKED] = {"certs_revoked", DB_BTREE, TRUE},
    [DBI_CERT_BY_EXPIRY] = {"certs_by_expiry", DB_BTREE, TRUE},
    [DBI_REQUEST_HELD] = {"requests_held", DB_BTREE, TRUE},
};

static const struct {
	int primary, secondary;
	int (*callback)(DB *, const DBT *, const DBT *, DBT *);
} associations[] = {
    {DBI_DOMAINS, DBI_DOMAIN_BY_ORG, cg_index_domain_org},
    {DBI_ADMINS, DBI_ADMIN_BY_ORG, cg_index_admin_org},
    {DBI_CERTS, DBI_CERT_BY_MAILBOX, cg_index_cert_mailbox},
    {DBI_CERTS, DBI_CERT_BY_ORG, cg_index_cert_org},
    {DBI_CERTS, DBI_CERT_BY_SPKI, cg_index_cert_spki},
    {DBI_CERTS, DBI_CERT_REVOKED, cg_index_cert_revoked},
    {DBI_CERTS, DBI_CERT_BY_EXPIRY, cg_index_cert_expiry},
    {DBI_REQUESTS, DBI_REQUEST_HELD, cg_index_request_held},
};

/* The indexes version 2 added: associations[ADDED_IN_2] on (revoked
 * certificates, certificates by notAfter, held requests, in that order). */
#define ADDED_IN_2 5

gboolean
cg_db_fail(int rc, const char *what, GError **error)
{
	CgErrorCode code;

	switch (rc) {
	case DB_NOTFOUND:
	case DB_KEYEMPTY:
		code = CG_ERROR_NOT_FOUND;
		break;
	case DB_KEYEXIST:
		code = CG_ERROR_EXISTS;
		break;
	case DB_LOCK_DEADLOCK:
	case DB_LOCK_NOTGRANTED:
		code = CG_ERROR_DEADLOCK;
		break;
	case EACCES: {
		/* A replication client refuses writes so. */
		CgStore *rs = g_atomic_pointer_get(&cg_repl_store);

		if (rs != NULL && cg_store_role(rs) == CG_ROLE_CLIENT) {
			g_set_error_literal(error, CG_ERROR, CG_ERROR_NOT_MASTER,
			                    "this host is not the CA's master now; the message will "
			                    "be retried");
			return FALSE;
		}
		code = CG_ERROR_IO;
		break;
	}
	case DB_REP_HANDLE_DEAD:
		/* Replication rolled back what this process had open: only a
		 * restart opens it again. */
		cg_store_mark_dead();
		code = CG_ERROR_INTERNAL;
		break;
	case ENOSPC:
	case EIO:
	case EROFS:
	case EPERM:
	case EDQUOT:
	case EFBIG:
		code = CG_ERROR_IO;
		break;
	default:
		code = CG_ERROR_INTERNAL;
		break;
	}
	g_set_error(error, CG_ERROR, code, "%s: %s", what, db_strerror(rc));
	return FALSE;
}

/* ---- who is alive (for failchk) ---- */

/* failchk frees what dead processes left behind. A thread of this process
 * counts as alive even when it has exited: worker threads come and go (the
 * MTA's sessions), and BDB keeps their lockers on after they exit (cached
 * cursors), so taking an exited thread for a dead one freed lockers still
 * in use and panicked the environment under load. A thread that died inside
 * the library takes its process with it anyway. */
static volatile gint self_pid; /* set when a store is opened (another store's
                               * maintenance thread may be in failchk): failchk
                               * asks for every locker, and getpid() is a
                               * system call */

static int
is_alive(DB_ENV *env, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	(void)env, (void)tid, (void)flags;
	if (pid == (pid_t)g_atomic_int_get(&self_pid))
		return 1;
	return kill(pid, 0) == 0 || errno == EPERM;
}

static void
on_db_error(const DB_ENV *env, const char *prefix, const char *msg)
{
	(void)env;
	(void)prefix;
	g_warning("berkeley db: %s", msg);
}

static volatile gint panicked;
/* The handles of panicked environments (cg_store_close). */
static GSList *panicked_handles;
static volatile gint handles_dead; /* replication invalidated our handles */

void
cg_store_mark_dead(void)
{
	if (g_atomic_int_compare_and_exchange(&handles_dead, 0, 1))
		g_message("berkeley db: replication rolled back this site's open databases: "
		          "they must be opened again");
}

gboolean
cg_store_needs_reopen(CgStore *s)
{
	(void)s;
	return g_atomic_int_get(&handles_dead) != 0 && g_atomic_int_get(&panicked) == 0;
}

static void
on_db_event(DB_ENV *env, u_int32_t event, void *info)
{
	if (event == DB_EVENT_PANIC)
		g_atomic_int_set(&panicked, 1);
	else if (env->app_private != NULL)
		cg_repl_event(env->app_private, event, info);
}

gboolean
cg_store_panicked(CgStore *s)
{
	(void)s;
	return g_atomic_int_get(&panicked) != 0 || g_atomic_int_get(&handles_dead) != 0;
}

void
cg_store_failchk(CgStore *s)
{
	int rc = s->env->failchk(s->env, 0);

	if (rc == DB_RUNRECOVERY)
		g_atomic_int_set(&panicked, 1);
	if (rc != 0 && rc != EBUSY)
		g_warning("berkeley db failchk: %s", db_strerror(rc));
}

/* The watchdog: its own thread, which never calls Berkeley DB. A process
 * killed while it held one of the environment's mutexes leaves every thread
 * that waits on that mutex waiting for ever (Berkeley DB 5.3's failchk marks
 * the panic, it wakes no waiter), and such a process would hold its share of
 * the lock file for ever: no process could recover the environment. The
 * daemons stop on a panic (the next start recovers); a process that did not
 * stop within PANIC_GRACE of one, or whose maintenance thread has waited in
 * the library for STUCK_LIMIT (its calls take milliseconds), exits with
 * EX_TEMPFAIL, so that the service manager restarts it and the next start
 * recovers. */
#define PANIC_GRACE_S 15
#define STUCK_LIMIT_S 30

static gint
now_s(void)
{
	return (gint)(g_get_monotonic_time() / G_USEC_PER_SEC) + 1;
}

static gpointer
watchdog(gpointer data)
{
	CgStore *s = data;
	gint panic_since = 0;

	g_mutex_lock(&s->maint_lock);
	while (!s->watchdog_stop) {
		gint busy, now;

		g_cond_wait_until(&s->maint_cond, &s->maint_lock,
		                  g_get_monotonic_time() + G_USEC_PER_SEC);
		if (s->watchdog_stop)
			break;
		now = now_s();
		if (g_atomic_int_get(&panicked) != 0 && panic_since == 0)
			panic_since = now;
		busy = g_atomic_int_get(&s->maint_busy);
		if (panic_since != 0 && now - panic_since >= PANIC_GRACE_S) {
			g_warning(
			    "berkeley db: the environment needs recovery and this process did "
			    "not stop within %d s (a thread waits on a lock a dead process "
			    "held); exiting so that the next start recovers",
			    PANIC_GRACE_S);
			_exit(75); /* EX_TEMPFAIL */
		}
		if (busy != 0 && now - busy >= STUCK_LIMIT_S) {
			g_warning("berkeley db: %s has waited %d s in the library (a process "
			          "died holding one of the environment's mutexes); exiting so "
			          "that the next start recovers",
			          s->maint != NULL ? "the maintenance thread"
			                           : "opening the environment",
			          now - busy);
			_exit(75); /* EX_TEMPFAIL */
		}
	}
	g_mutex_unlock(&s->maint_lock);
	return NULL;
}

/* The maintenance thread's checkpoint: Berkeley DB skips it when another
 * process of the environment made one within the last minute (min), so
 * the daemons side by side make about one a minute between them; under a
 * minute (the tests' interval), every time. On a replication client it is
 * nothing (the master's checkpoints come with its log). */
static void
checkpoint_logged(CgStore *s, u_int32_t min)
{
	int rc = s->env->txn_checkpoint(s->env, 0, min, 0);

	if (rc != 0)
		g_warning("berkeley db checkpoint: %s", db_strerror(rc));
}

static void
maintenance_checkpoint(CgStore *s)
{
	gint every = g_atomic_int_get(&s->checkpoint_s);

	checkpoint_logged(s, every >= 60 ? (u_int32_t)every / 60 : 0);
}

void
cg_store_set_checkpoint_interval(CgStore *s, guint seconds)
{
	g_atomic_int_set(&s->checkpoint_s, (gint)MAX(seconds, 1));
}

static gpointer
maintenance(gpointer data)
{
	CgStore *s = data;
	guint round = 0;
	gint64 checkpointed = g_get_monotonic_time();

	g_mutex_lock(&s->maint_lock);
	while (!s->stopping) {
		gint64 until = g_get_monotonic_time() + 500 * G_TIME_SPAN_MILLISECOND;
		int rejected = 0;

		g_cond_wait_until(&s->maint_cond, &s->maint_lock, until);
		if (s->stopping)
			break;
		g_mutex_unlock(&s->maint_lock);
		/* Expired lock requests every half second; what a dead process
		 * left behind every 5 s (failchk visits every locker and thread
		 * slot: run twice a second it kept a core a third busy); a
		 * checkpoint every checkpoint_s. */
		g_atomic_int_set(&s->maint_busy, now_s());
		if (round++ % 10 == 0)
			cg_store_failchk(s);
		cg_repl_share_files(s);
		s->env->lock_detect(s->env, 0, DB_LOCK_EXPIRE, &rejected);
		if (s->repl_listener)
			cg_repl_publish(s);
		if (g_get_monotonic_time() - checkpointed >=
		    g_atomic_int_get(&s->checkpoint_s) * G_USEC_PER_SEC) {
			maintenance_checkpoint(s);
			checkpointed = g_get_monotonic_time();
		}
		g_atomic_int_set(&s->maint_busy, 0);
		g_mutex_lock(&s->maint_lock);
	}
	g_mutex_unlock(&s->maint_lock);
	return NULL;
}

/* 1 when this process is the only one using the environment, 0 when others
 * are (a shared lock is then held), -1 on error. */
/* The lock file lives in a directory of its own: Berkeley DB's replication
 * takes every plain file in DbHome for a database of the environment (a
 * client's initialisation from its master failed on DbHome/certgate.lock,
 * where versions before 0.2 kept it: that file is removed once no process
 * holds it). */
static gboolean
retire_old_lock(CgStore *s, GError **error)
{
	g_autofree char *old = g_build_filename(s->home, "certgate.lock", NULL);
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd = open(old, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return TRUE;
	if (fcntl(fd, F_SETLK, &l) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO,
		            "%s: held by a certgate of an older version: stop it first", old);
		close(fd);
		return FALSE;
	}
	(void)unlink(old);
	close(fd);
	return TRUE;
}

static int
take_lock_file(CgStore *s, GError **error)
{
	g_autofree char *dir = g_build_filename(s->home, "lock", NULL);
	g_autofree char *path = g_build_filename(dir, "certgate.lock", NULL);
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

	if (g_mkdir_with_parents(dir, 0770) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", dir, g_strerror(errno));
		return -1;
	}

	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
	if (s->lock_fd < 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", path, g_strerror(errno));
		return -1;
	}
	if (fcntl(s->lock_fd, F_SETLK, &l) == 0)
		return retire_old_lock(s, error) ? 1 : -1;
	l.l_type = F_RDLCK;
	while (fcntl(s->lock_fd, F_SETLKW, &l) != 0) {
		if (errno != EINTR) {
			g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", path,
			            g_strerror(errno));
			return -1;
		}
	}
	/* The process it waited for (one opening the environment alone, which
	 * holds the lock whole until its databases are open) may have gone:
	 * alone now, this one opens it alone, recovering it (and upgrading its
	 * databases). Without this, an issuer that waited for a command of a
	 * replicated site never upgraded a version 1 store. */
	l.l_type = F_WRLCK;
	if (fcntl(s->lock_fd, F_SETLK, &l) == 0)
		return retire_old_lock(s, error) ? 1 : -1;
	return 0;
}

/* How much of each region file this process maps (Berkeley DB maps a
 * region at its largest and grows the file into the mapping as the region
 * grows: the cache does, page by page as it fills), from /proc/self/maps:
 * path -> bytes. */
static GHashTable *
region_maps(void)
{
	GHashTable *maps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autofree char *text = NULL;
	char **lines, **l;

	if (!g_file_get_contents("/proc/self/maps", &text, NULL, NULL))
		return maps;
	lines = g_strsplit(text, "\n", -1);
	for (l = lines; *l != NULL; l++) {
		unsigned long long from, to;
		int path_at = -1;

		if (sscanf(*l, "%llx-%llx %*s %*s %*s %*s %n", &from, &to, &path_at) >= 2 &&
		    path_at > 0 && (*l)[path_at] == '/') {
			const char *path = *l + path_at;
			gsize had = GPOINTER_TO_SIZE(g_hash_table_lookup(maps, path));

			g_hash_table_insert(maps, g_strdup(path),
			                    GSIZE_TO_POINTER(had + (to - from)));
		}
	}
	g_strfreev(lines);
	return maps;
}

/* The shared regions are files mapped into memory, made sparse. The process
 * that makes them gives them their disk space, without touching their pages
 * (DB_REGION_INIT wrote every page in that process, which then held the whole
 * of the regions in its resident set), so that a disk that fills later gives
 * ENOSPC on the log, never a SIGBUS on a region page first touched. The
 * space reserved is the whole mapping, past the file's end (FALLOC_FL_KEEP_SIZE):
 * the cache's region starts small and grows into its mapping as pages are
 * read, and a page it grew into on a full disk was a SIGBUS in a put. */
static gboolean
reserve_regions(const char *db_home, GError **error)
{
	g_autoptr(GDir) dir = g_dir_open(db_home, 0, NULL);
	g_autoptr(GHashTable) maps = region_maps();
	const char *name;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *path = NULL;
		struct stat st;
		gsize mapped;
		int fd, rc;

		if (!g_str_has_prefix(name, "__db.") ||
		    strspn(name + 5, "0123456789") != strlen(name + 5) || name[5] == '\0')
			continue;
		path = g_build_filename(db_home, name, NULL);
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
			return cg_io_fail(path, errno, error);
		if (fstat(fd, &st) != 0) {
			rc = errno;
		} else {
			g_autofree char *real = realpath(path, NULL);

			mapped = GPOINTER_TO_SIZE(g_hash_table_lookup(maps, real ? real : path));
			rc = posix_fallocate(fd, 0, st.st_size);
			if (rc == 0 && mapped > (gsize)st.st_size &&
			    fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)mapped) != 0)
				rc = errno;
			/* A file system that cannot reserve past the end (NFS,
			 * some others): as before, the files' first sizes only. */
			if (rc == EOPNOTSUPP || rc == ENOSYS) {
				static gsize told;

				if (g_once_init_enter(&told)) {
					g_warning("%s: the file system cannot reserve the regions' "
					          "growth: a full disk can crash certgate as the "
					          "cache grows",
					          db_home);
					g_once_init_leave(&told, 1);
				}
				rc = 0;
			}
		}
		close(fd);
		if (rc != 0)
			return cg_io_fail(path, rc, error);
	}
	return TRUE;
}

static const char schema_key[] = "schema";

/* meta's key of the schema version, in k */
static DBT *
schema_dbt(DBT *k)
{
	memset(k, 0, sizeof(*k));
	k->data = (void *)schema_key;
	k->size = sizeof(schema_key) - 1;
	return k;
}

/* The schema version in meta: 0 when there is none (a new store, or a
 * replica that has not received it), -1 on error. */
static gint64
schema_read(CgStore *s, GError **error)
{
	guint32 have = 0;
	DBT k, d = {.data = &have, .ulen = sizeof(have), .flags = DB_DBT_USERMEM};
	DB *meta = s->db[DBI_META];
	int rc = meta->get(meta, NULL, schema_dbt(&k), &d, 0);

	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != 0) {
		cg_db_fail(rc, "meta", error);
		return -1;
	}
	if (d.size != sizeof(have)) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "%s: the schema version is damaged",
		            s->home);
		return -1;
	}
	return GUINT32_FROM_BE(have);
}

static gboolean
schema_write(CgStore *s, guint32 version, u_int32_t flags, GError **error)
{
	guint32 v = GUINT32_TO_BE(version);
	DBT k, d = {.data = &v, .size = sizeof(v)};
	DB *meta = s->db[DBI_META];
	int rc = meta->put(meta, NULL, schema_dbt(&k), &d, DB_AUTO_COMMIT | flags);

	return rc == 0 || rc == DB_KEYEXIST ? TRUE : cg_db_fail(rc, "meta", error);
}

/* Version 1 to 2: the indexes it added filled from their records, before
 * they are associated (a secondary takes no put of its own once it is).
 * Only the process that opened the environment alone runs it (the others
 * wait on the lock file), so nothing writes meanwhile. Each index is
 * emptied first (a run that died half-way left part of it), filled in
 * transactions of a thousand entries each, not flushed one by one: the
 * schema's own commit, flushed, makes them durable with it, and until that
 * commit the store is version 1 and the next process to open it alone
 * starts again. */
#define UPGRADE_CHUNK 1000

/* Fills the added indexes of primary in one pass over its records;
 * made[i]: the entries of associations[ADDED_IN_2 + i]. */
static gboolean
fill_indexes(CgStore *s, int primary, guint64 *records, guint64 *made, GError **error)
{
	DB *db = s->db[primary];
	DB_TXN *t = NULL;
	DBC *c = NULL;
	guint64 puts = 0;
	gboolean ok = TRUE;
	int rc;

	if ((rc = db->cursor(db, NULL, &c, 0)) != 0)
		return cg_db_fail(rc, cg_db_specs[primary].name, error);
	for (;;) {
		DBT k = {0}, d = {0};
		gsize i;

		k.flags = DB_DBT_REALLOC;
		d.flags = DB_DBT_REALLOC;
		rc = c->get(c, &k, &d, DB_NEXT);
		if (rc == 0)
			(*records)++;
		for (i = ADDED_IN_2; rc == 0 && i < G_N_ELEMENTS(associations); i++) {
			DB *idx = s->db[associations[i].secondary];
			DBT sk = {0};

			if (associations[i].primary != primary)
				continue;
			rc = associations[i].callback(idx, &k, &d, &sk);
			if (rc == DB_DONOTINDEX) {
				rc = 0;
				continue;
			}
			if (rc == 0 && t == NULL)
				rc = s->env->txn_begin(s->env, NULL, &t, DB_TXN_NOSYNC);
			if (rc == 0)
				rc = idx->put(idx, t, &sk, &k, 0);
			if (sk.flags & DB_DBT_APPMALLOC)
				free(sk.data);
			if (rc == 0)
				made[i - ADDED_IN_2]++;
			if (rc == 0 && ++puts % UPGRADE_CHUNK == 0) {
				rc = t->commit(t, 0);
				t = NULL;
			}
		}
		free(k.data);
		free(d.data);
		if (rc == DB_NOTFOUND)
			break;
		if (rc != 0) {
			ok = cg_db_fail(rc, cg_db_specs[primary].name, error);
			break;
		}
	}
	c->close(c);
	if (t != NULL && (rc = ok ? t->commit(t, 0) : t->abort(t)) != 0 && ok)
		ok = cg_db_fail(rc, cg_db_specs[primary].name, error);
	return ok;
}

static gboolean
schema_upgrade(CgStore *s, GError **error)
{
	guint64 made[G_N_ELEMENTS(associations) - ADDED_IN_2] = {0};
	guint64 certs = 0, requests = 0;
	u_int32_t discarded = 0;
	gsize i;
	int rc;

	g_message("%s: schema version 1 to %d: indexing the certificates and the held requests",
	          s->home, SCHEMA_VERSION);
	for (i = ADDED_IN_2; i < G_N_ELEMENTS(associations); i++) {
		DB *idx = s->db[associations[i].secondary];

		if ((rc = idx->truncate(idx, NULL, &discarded, DB_AUTO_COMMIT)) != 0)
			return cg_db_fail(rc, cg_db_specs[associations[i].secondary].name, error);
	}
	if (!fill_indexes(s, DBI_CERTS, &certs, made, error) ||
	    !fill_indexes(s, DBI_REQUESTS, &requests, made, error) ||
	    !schema_write(s, SCHEMA_VERSION, 0, error))
		return FALSE;
	g_message("%s: schema version %d: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
	          " certificates revoked, %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
	          " requests held",
	          s->home, SCHEMA_VERSION, made[0], certs, made[2], requests);
	return TRUE;
}

/* Opens every database (creating what is missing when create), brings a
 * version 1 store to this version when upgrade (this process opened the
 * environment alone, and may write), and associates the indexes. */
static gboolean
open_databases(CgStore *s, gboolean create, gboolean upgrade, GError **error)
{
	gsize i;
	int rc;

	for (i = 0; i < DBI_N; i++) {
		const DbSpec *spec = &cg_db_specs[i];
		DB *db;

		if ((rc = db_create(&db, s->env, 0)) != 0)
			return cg_db_fail(rc, spec->name, error);
		s->db[i] = db;
		if (spec->type == DB_QUEUE) {
			db->set_re_len(db, CG_JOB_RECORD_LEN);
			db->set_q_extentsize(db, 1024);
		} else {
			db->set_flags(db, DB_CHKSUM | (spec->dupsort ? DB_DUPSORT : 0));
		}
		rc = db->open(db, NULL, spec->name, NULL, spec->type,
		              (create ? DB_CREATE : 0) | DB_AUTO_COMMIT | DB_THREAD, 0660);
		if (rc == ENOENT && !create) {
			g_set_error(error, CG_ERROR, CG_ERROR_NOT_MASTER,
			            "%s: this replication site has not received the database from "
			            "the master yet",
			            s->home);
			return FALSE;
		}
		if (rc != 0)
			return cg_db_fail(rc, spec->name, error);
		/* An index's pages are few and each is read by many requests:
		 * the cache keeps them before the records' own pages. */
		if (spec->dupsort)
			db->get_mpf(db)->set_priority(db->get_mpf(db), DB_PRIORITY_HIGH);
	}
	if (upgrade) {
		gint64 have = schema_read(s, error);

		if (have < 0 || (have == 1 && !schema_upgrade(s, error)))
			return FALSE;
	}
	for (i = 0; i < G_N_ELEMENTS(associations); i++) {
		DB *primary = s->db[associations[i].primary];

		rc = primary->associate(primary, NULL, s->db[associations[i].secondary],
		                        associations[i].callback, DB_AUTO_COMMIT);
		if (rc != 0)
			return cg_db_fail(rc, cg_db_specs[associations[i].secondary].name, error);
	}
	for (i = ADDED_IN_2; i < G_N_ELEMENTS(associations); i++) {
		int dbi = associations[i].secondary;
		DB *db;

		if ((rc = db_create(&db, s->env, 0)) != 0)
			return cg_db_fail(rc, cg_db_specs[dbi].name, error);
		s->bulk[dbi] = db;
		db->set_flags(db, DB_CHKSUM | DB_DUPSORT);
		rc = db->open(db, NULL, cg_db_specs[dbi].name, NULL, DB_BTREE,
		              DB_RDONLY | DB_THREAD, 0);
		if (rc != 0)
			return cg_db_fail(rc, cg_db_specs[dbi].name, error);
	}
	return TRUE;
}

/* Every handle of open_databases, secondaries before their primaries. */
static void
close_databases(CgStore *s)
{
	int i;

	for (i = DBI_N - 1; i >= 0; i--) {
		if (s->bulk[i] != NULL)
			s->bulk[i]->close(s->bulk[i], 0);
		s->bulk[i] = NULL;
	}
	for (i = DBI_N - 1; i >= 0; i--) {
		if (s->db[i] != NULL)
			s->db[i]->close(s->db[i], 0);
		s->db[i] = NULL;
	}
}

static gboolean
check_schema(CgStore *s, GError **error)
{
	gint64 have = schema_read(s, error);

	if (have < 0)
		return FALSE;
	if (have == 0 && cg_store_role(s) == CG_ROLE_CLIENT)
		return TRUE; /* the master writes it */
	if (have == 0)
		return schema_write(s, SCHEMA_VERSION, DB_NOOVERWRITE, error);
	if (have == 1 && cg_store_role(s) == CG_ROLE_CLIENT) {
		/* The master brings it to 2 (and sends the index): wait. */
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_MASTER,
		            "%s: schema version 1: waiting for the master to bring it to %d",
		            s->home, SCHEMA_VERSION);
		return FALSE;
	}
	if (have == 1) {
		/* Upgraded only by a process that opens it alone (and, when
		 * replicated, by the master): here another holds it. */
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT,
		            "%s: schema version 1, of an older certgate; the first certgate "
		            "process to open it alone brings it to %d: stop every certgate "
		            "process that uses it (and upgrade the replication master first)",
		            s->home, SCHEMA_VERSION);
		return FALSE;
	}
	if (have != SCHEMA_VERSION) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT,
		            "%s: schema version %" G_GINT64_FORMAT ", this certgate knows %u",
		            s->home, have, SCHEMA_VERSION);
		return FALSE;
	}
	return TRUE;
}

static gboolean
ensure_dir(const char *path, int mode, GError **error)
{
	if (g_mkdir_with_parents(path, mode) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", path, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

/* A replicated site opens its databases once it knows what it is: a master
 * creates what is missing, a client waits (CG_STORE_WAIT, up to a minute)
 * until the master's copy has arrived. */
static gboolean
open_replicated(CgStore *s, CgStoreFlags flags, gboolean first, GError **error)
{
	gint64 until = g_get_monotonic_time() + (flags & CG_STORE_WAIT ? 60 : 10) * G_USEC_PER_SEC;

	for (;;) {
		g_autoptr(GError) err = NULL;
		gboolean master = cg_store_role(s) == CG_ROLE_MASTER;
		gint busy;

		if (open_databases(s, master, master && first, &err) && check_schema(s, &err))
			return TRUE;
		close_databases(s);
		/* A client applying its master's log kills readers in its way. */
		if (!((g_error_matches(err, CG_ERROR, CG_ERROR_NOT_MASTER) &&
		       (flags & CG_STORE_WAIT)) ||
		      g_error_matches(err, CG_ERROR, CG_ERROR_DEADLOCK)) ||
		    g_get_monotonic_time() >= until) {
			g_propagate_error(error, g_steal_pointer(&err));
			return FALSE;
		}
		busy = g_atomic_int_get(&s->maint_busy);
		g_atomic_int_set(&s->maint_busy, 0);
		g_usleep(200 * 1000);
		g_atomic_int_set(&s->maint_busy, busy != 0 ? now_s() : 0);
		cg_repl_role_forget(s);
	}
}

CgStore *
cg_store_open(const char *db_home, const char *evidence_dir, CgStoreFlags flags, GError **error)
{
	return cg_store_open_repl(db_home, evidence_dir, flags, NULL, error);
}

CgStore *
cg_store_open_repl(const char *db_home, const char *evidence_dir, CgStoreFlags flags,
                   const CgStoreRepl *repl, GError **error)
{
	CgStore *s = g_new0(CgStore, 1);
	gboolean replicated = repl != NULL && repl->local != NULL && *repl->local != '\0';
	int first, rc;

	s->lock_fd = -1;
	s->home = g_strdup(db_home);
	s->evidence_dir = g_strdup(evidence_dir ? evidence_dir : db_home);
	g_mutex_init(&s->maint_lock);
	g_cond_init(&s->maint_cond);
	g_mutex_init(&s->role_lock);
	s->checkpoint_s = CG_STORE_CHECKPOINT_S;
	if ((flags & CG_STORE_READONLY_CHECK) && !g_file_test(db_home, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_FOUND, "%s: no database environment",
		            db_home);
		goto fail;
	}
	if (!ensure_dir(db_home, 0770, error))
		goto fail;
	g_atomic_int_set(&self_pid, (gint)getpid());
	g_atomic_int_set(&handles_dead, 0); /* a fresh open has live handles */
	first = take_lock_file(s, error);
	if (first < 0)
		goto fail;
	/* Joining an environment in use can wait on a mutex a dead process
	 * held: the watchdog watches the open too (a recovery, made alone,
	 * takes as long as it takes). */
	s->watchdog = g_thread_new("cg-store-watchdog", watchdog, s);
	if (!first)
		g_atomic_int_set(&s->maint_busy, now_s());
	if ((rc = db_env_create(&s->env, 0)) != 0) {
		cg_db_fail(rc, "db_env_create", error);
		goto fail;
	}
	s->env->set_errcall(s->env, on_db_error);
	s->env->set_event_notify(s->env, on_db_event);
	s->env->set_lk_detect(s->env, DB_LOCK_DEFAULT);
	s->env->set_lk_max_locks(s->env, 50000);
	s->env->set_lk_max_objects(s->env, 50000);
	s->env->set_lk_max_lockers(s->env, 10000);
	/* A cache of 32 MB: Berkeley DB adds a quarter to one asked for under
	 * 500 MB (for its own use of it), so four fifths are asked for. */
	s->env->set_cachesize(s->env, 0, CACHE_BYTES / 5 * 4, 1);
	s->env->set_lg_bsize(s->env, 2 * 1024 * 1024);
	s->env->set_lg_max(s->env, 16 * 1024 * 1024);
	s->env->set_timeout(s->env, LOCK_TIMEOUT_US, DB_SET_LOCK_TIMEOUT);
	s->env->set_thread_count(s->env, 1024);
	s->env->set_isalive(s->env, is_alive);
	s->env->log_set_config(s->env, DB_LOG_AUTO_REMOVE, 1);
	s->env->app_private = s;
	if (replicated)
		cg_repl_configure(s, repl, (flags & CG_STORE_REPLICATE) != 0);
	rc = s->env->open(s->env, db_home,
	                  DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_INIT_TXN |
	                      DB_THREAD | (replicated ? DB_INIT_REP : 0) |
	                      (first ? DB_RECOVER : 0),
	                  0660);
	if (rc != 0) {
		cg_db_fail(rc, db_home, error);
		goto fail;
	}
	s->env_open = TRUE;
	if (first && !reserve_regions(db_home, error))
		goto fail;
	if (!first) {
		rc = s->env->failchk(s->env, 0);
		if (rc != 0 && rc != EBUSY) {
			cg_db_fail(rc, "failchk", error);
			goto fail;
		}
	}
	if (replicated && !cg_repl_name_sites(s, repl, error))
		goto fail;
	cg_repl_share_files(s);
	if (replicated && (flags & CG_STORE_REPLICATE) && !cg_repl_start(s, error))
		goto fail;
	if (!(replicated ? open_replicated(s, flags, first, error)
	                 : open_databases(s, TRUE, first, error) && check_schema(s, error)))
		goto fail;
	g_atomic_int_set(&s->maint_busy, 0);
	if (first) {
		struct flock l = {.l_type = F_RDLCK, .l_whence = SEEK_SET};

		if (fcntl(s->lock_fd, F_SETLK, &l) != 0) {
			g_set_error(error, CG_ERROR, CG_ERROR_IO, "lock file: %s",
			            g_strerror(errno));
			goto fail;
		}
	}
	if (!ensure_dir(s->evidence_dir, 0750, error))
		goto fail;
	s->maint = g_thread_new("cg-store-maint", maintenance, s);
	return s;
fail:
	cg_store_close(s);
	return NULL;
}

/* The last process to close the environment checkpoints it, so that the
 * next one to open it (alone: it recovers) replays no log: a command run
 * after a drain of the queue took seconds recovering it. Alone is when the
 * lock file can be had whole; held so, no process joins meanwhile (one
 * that comes waits, then opens alone). Not after a panic. */
static void
checkpoint_if_alone(CgStore *s)
{
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

	if (s->env_open && s->lock_fd >= 0 && !cg_store_panicked(s) &&
	    fcntl(s->lock_fd, F_SETLK, &l) == 0)
		checkpoint_logged(s, 0);
}

void
cg_store_close(CgStore *s)
{
	if (s == NULL)
		return;
	if (s->maint != NULL) {
		g_mutex_lock(&s->maint_lock);
		s->stopping = TRUE;
		g_cond_broadcast(&s->maint_cond);
		g_mutex_unlock(&s->maint_lock);
		g_thread_join(s->maint);
	}
	if (s->repl_listener)
		cg_repl_quiesce(s);
	checkpoint_if_alone(s);
	close_databases(s);
	/* Berkeley DB's close of a panicked environment closes its files and
	 * returns DB_RUNRECOVERY before it frees the handle: the handle is
	 * kept, reachable, rather than lost (the process is stopping; the next
	 * start recovers). */
	if (s->env != NULL && s->env->close(s->env, 0) == DB_RUNRECOVERY)
		panicked_handles = g_slist_prepend(panicked_handles, s->env);
	if (s->watchdog != NULL) {
		g_mutex_lock(&s->maint_lock);
		s->watchdog_stop = TRUE;
		g_cond_broadcast(&s->maint_cond);
		g_mutex_unlock(&s->maint_lock);
		g_thread_join(s->watchdog);
	}
	g_atomic_pointer_compare_and_exchange(&cg_repl_store, s, NULL);
	g_free(s->repl_local);
	g_strfreev(s->repl_peers);
	g_free(s->repl_published);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	if (s->wake_tried && s->wake_fd >= 0)
		close(s->wake_fd);
	g_mutex_clear(&s->maint_lock);
	g_cond_clear(&s->maint_cond);
	g_mutex_clear(&s->role_lock);
	g_free(s->home);
	g_free(s->evidence_dir);
	g_free(s);
}

/* ---- transactions ---- */

CgTxn *
cg_store_begin(CgStore *s, GError **error)
{
	DB_TXN *t = NULL;
	CgTxn *txn;
	int rc;

	rc = s->env->txn_begin(s->env, NULL, &t, 0);
	if (rc != 0) {
		cg_db_fail(rc, "begin", error);
		return NULL;
	}
	txn = g_new0(CgTxn, 1);
	txn->store = s;
	txn->txn = t;
	return txn;
}

CgTxn *
cg_store_begin_child(CgTxn *parent, GError **error)
{
	CgStore *s = parent->store;
	DB_TXN *t = NULL;
	CgTxn *txn;
	int rc;

	rc = s->env->txn_begin(s->env, parent->txn, &t, 0);
	if (rc != 0) {
		cg_db_fail(rc, "begin", error);
		return NULL;
	}
	txn = g_new0(CgTxn, 1);
	txn->store = s;
	txn->txn = t;
	return txn;
}

gboolean
cg_store_commit(CgTxn *txn, GError **error)
{
	CgStore *s = txn->store;
	gboolean replicated = s->replicated;
	int rc;

	if (replicated)
		cg_repl_commit_begin();
	rc = txn->txn->commit(txn->txn, 0);
	g_free(txn);
	if (rc != 0)
		return cg_db_fail(rc, "commit", error);
	/* Acknowledged by the replicas, through the site's replication
	 * process (a commit made when none runs reached no replica). */
	if (replicated && !(cg_repl_commit_acked() && cg_repl_listener_alive(s))) {
		/* Durable here; a retry of the same intake finds it seen. */
		g_set_error_literal(error, CG_ERROR, CG_ERROR_NOT_ACKED,
		                    "the CA's replicas did not acknowledge in time; the message "
		                    "will be retried");
		return FALSE;
	}
	return TRUE;
}

void
cg_store_abort(CgTxn *txn)
{
	if (txn == NULL)
		return;
	txn->txn->abort(txn->txn);
	g_free(txn);
}

gboolean
cg_store_txn_read_committed(CgTxn *txn, gboolean on)
{
	gboolean was = txn->read_committed;

	txn->read_committed = on;
	return was;
}

CgStore *
cg_txn_store(CgTxn *txn)
{
	return txn->store;
}

DB_TXN *
cg_txn_raw(CgTxn *txn)
{
	return txn ? txn->txn : NULL;
}

gboolean
cg_store_transact(CgStore *s, CgTxnFunc fn, gpointer data, GError **error)
{
	guint attempt;

	for (attempt = 0;; attempt++) {
		g_autoptr(GError) err = NULL;
		CgTxn *txn = cg_store_begin(s, &err);

		if (txn != NULL) {
			if (fn(txn, data, &err))
				(void)cg_store_commit(txn, &err);
			else
				cg_store_abort(txn);
			if (err == NULL)
				return TRUE;
		}
		if (!g_error_matches(err, CG_ERROR, CG_ERROR_DEADLOCK) || attempt >= 20) {
			g_propagate_error(error, g_steal_pointer(&err));
			return FALSE;
		}
		/* Back off a little, more each time, with jitter. */
		g_usleep((gulong)g_random_int_range(1, 1000) * MIN(1u << attempt, 64u));
	}
}

gboolean
cg_store_next_id(CgTxn *txn, const char *counter, guint64 *out, GError **error)
{
	g_autofree char *key = g_strconcat("counter:", counter, NULL);
	DB *meta = txn->store->db[DBI_META];
	guint64 v = 0, be;
	DBT k = {0}, d = {0};
	int rc;

	k.data = key;
	k.size = (u_int32_t)strlen(key);
	d.data = &be;
	d.ulen = sizeof(be);
	d.flags = DB_DBT_USERMEM;
	rc = meta->get(meta, txn->txn, &k, &d, DB_RMW);
	if (rc == 0 && d.size == sizeof(be))
		v = GUINT64_FROM_BE(be);
	else if (rc != 0 && rc != DB_NOTFOUND)
		return cg_db_fail(rc, "meta", error);
	v++;
	be = GUINT64_TO_BE(v);
	d.size = sizeof(be);
	rc = meta->put(meta, txn->txn, &k, &d, 0);
	if (rc != 0)
		return cg_db_fail(rc, "meta", error);
	*out = v;
	return TRUE;
}

char *
cg_store_meta_get(CgStore *s, CgTxn *txn, const char *name, GError **error)
{
	g_autofree char *key = g_strconcat("value:", name, NULL);
	DB *meta = s->db[DBI_META];
	DBT k = {0}, d = {0};
	char *v;
	int rc;

	k.data = key;
	k.size = (u_int32_t)strlen(key);
	d.flags = DB_DBT_MALLOC;
	rc = meta->get(meta, cg_txn_raw(txn), &k, &d, 0);
	if (rc != 0) {
		cg_db_fail(rc, "meta", error);
		return NULL;
	}
	v = g_strndup(d.data, d.size);
	free(d.data);
	return v;
}

gboolean
cg_store_meta_put(CgTxn *txn, const char *name, const char *value, GError **error)
{
	g_autofree char *key = g_strconcat("value:", name, NULL);
	DB *meta = txn->store->db[DBI_META];
	DBT k = {0}, d = {0};
	int rc;

	k.data = key;
	k.size = (u_int32_t)strlen(key);
	d.data = (void *)value;
	d.size = (u_int32_t)strlen(value);
	rc = meta->put(meta, txn->txn, &k, &d, 0);
	return rc == 0 ? TRUE : cg_db_fail(rc, "meta", error);
}

gboolean
cg_store_checkpoint(CgStore *s, GError **error)
{
	int rc = s->env->txn_checkpoint(s->env, 0, 0, 0);

	return rc == 0 ? TRUE : cg_db_fail(rc, "checkpoint", error);
}

static int
dbi_by_name(const char *name)
{
	int i;

	for (i = 0; i < DBI_N; i++)
		if (strcmp(cg_db_specs[i].name, name) == 0)
			return i;
	return -1;
}

guint
cg_store_debug_nlocks(CgStore *s)
{
	DB_LOCK_STAT *st = NULL;
	guint n;

	if (s->env->lock_stat(s->env, &st, 0) != 0)
		return G_MAXUINT;
	n = st->st_nlocks;
	free(st);
	return n;
}

guint64
cg_store_debug_pages_read(CgStore *s, const char *db)
{
	DB_MPOOL_FSTAT **fsp = NULL, **f;
	DB_MPOOL_STAT *gsp = NULL;
	guint64 n = G_MAXUINT64;

	if (s->env->memp_stat(s->env, &gsp, &fsp, 0) != 0)
		return n;
	for (f = fsp; f != NULL && *f != NULL; f++)
		if (strcmp((*f)->file_name, db) == 0)
			n = (*f)->st_page_in;
	free(fsp);
	free(gsp);
	return n;
}

guint64
cg_store_debug_last_checkpoint(CgStore *s)
{
	DB_TXN_STAT *st = NULL;
	guint64 at;

	if (s->env->txn_stat(s->env, &st, 0) != 0)
		return 0;
	at = (guint64)st->st_last_ckp.file << 32 | st->st_last_ckp.offset;
	free(st);
	return at;
}

gboolean
cg_store_debug_put_raw(CgStore *s, const char *db, const void *key, gsize klen, const void *data,
                       gsize dlen, GError **error)
{
	int i = dbi_by_name(db), rc;
	DBT k = {0}, d = {0};

	if (i < 0 || cg_db_specs[i].dupsort || cg_db_specs[i].type == DB_QUEUE) {
		g_set_error(error, CG_ERROR, CG_ERROR_USAGE, "%s: not a primary btree", db);
		return FALSE;
	}
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	d.data = (void *)data;
	d.size = (u_int32_t)dlen;
	rc = s->db[i]->put(s->db[i], NULL, &k, &d, DB_AUTO_COMMIT);
	return rc == 0 ? TRUE : cg_db_fail(rc, db, error);
}

gboolean
cg_store_debug_del_raw(CgStore *s, const char *db, const void *key, gsize klen, GError **error)
{
	int i = dbi_by_name(db), rc;
	u_int32_t n = 0;
	DBT k = {0};

	if (i < 0 || cg_db_specs[i].dupsort || cg_db_specs[i].type == DB_QUEUE) {
		g_set_error(error, CG_ERROR, CG_ERROR_USAGE, "%s: not a primary btree", db);
		return FALSE;
	}
	if (key == NULL) {
		rc = s->db[i]->truncate(s->db[i], NULL, &n, DB_AUTO_COMMIT);
	} else {
		k.data = (void *)key;
		k.size = (u_int32_t)klen;
		rc = s->db[i]->del(s->db[i], NULL, &k, DB_AUTO_COMMIT);
	}
	return rc == 0 ? TRUE : cg_db_fail(rc, db, error);
}

gboolean
cg_store_debug_get_raw(CgStore *s, const char *db, const void *key, gsize klen, GBytes **data,
                       GError **error)
{
	int i = dbi_by_name(db), rc;
	DBT k = {0}, d = {0};

	if (i < 0 || cg_db_specs[i].type == DB_QUEUE) {
		g_set_error(error, CG_ERROR, CG_ERROR_USAGE, "%s: not a btree", db);
		return FALSE;
	}
	k.data = (void *)key;
	k.size = (u_int32_t)klen;
	d.flags = DB_DBT_MALLOC;
	rc = s->db[i]->get(s->db[i], NULL, &k, &d, 0);
	if (rc != 0)
		return cg_db_fail(rc, db, error);
	*data = g_bytes_new(d.data, d.size);
	free(d.data);
	return TRUE;
}
