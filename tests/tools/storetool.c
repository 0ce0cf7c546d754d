/*
 * storetool.c: cg-storetool, a test helper that drives the store.
 *
 *   cg-storetool fill DBHOME EVIDENCE FILLER
 *                                       opens the store, then fills the file
 *                                       system with FILLER (2 MiB left), then
 *                                       commits 4 KiB org records, one per
 *                                       transaction, until one fails; prints
 *                                       "committed N" and "error CODE: message",
 *                                       then tries 8 MiB of evidence
 *   cg-storetool count DBHOME EVIDENCE [FILLER]
 *                                       prints the number of orgs; with
 *                                       FILLER, after filling the file
 *                                       system with it (1 MiB left)
 *   cg-storetool orgs DBHOME EVIDENCE N      puts N orgs of 4 KiB each, and
 *                                       checkpoints
 *   cg-storetool audit DBHOME EVIDENCE N     appends N audit entries
 *   cg-storetool tamper DBHOME EVIDENCE SEQ  flips one byte of audit entry SEQ
 *   cg-storetool corrupt DBHOME EVIDENCE KEY [DB]
 *                                       writes garbage as record KEY of DB
 *                                       (orgs, domains, ...; default orgs)
 *   cg-storetool evidence DBHOME EVIDENCE BYTES
 *                                       stores BYTES of evidence; prints the error
 *   cg-storetool job DBHOME EVIDENCE ID [DELAY_MS]
 *                                       after DELAY_MS, appends a crl job ID
 *   cg-storetool die DBHOME EVIDENCE KEY
 *                                       writes org KEY in a transaction and
 *                                       kills itself before committing
 *   cg-storetool domain-age DBHOME EVIDENCE DOMAIN SECONDS
 *                                       moves the domain's times (validated,
 *                                       expires, challenged) SECONDS back, as
 *                                       if that much time had passed
 *   cg-storetool csr-flip DBHOME EVIDENCE REQUEST INDEX
 *                                       flips the last byte of the CSR of
 *                                       item REQUEST#INDEX (its signature)
 *   cg-storetool hold-head DBHOME EVIDENCE MS|FILE [SERIAL]
 *                                       locks the audit log's head for MS
 *                                       milliseconds, or until FILE exists
 *   cg-storetool panic DBHOME           joins the environment and marks it
 *                                       panicked (DB_PANIC_ENVIRONMENT), as a
 *                                       process that failed inside Berkeley
 *                                       DB does: every process in it then gets
 *                                       DB_RUNRECOVERY until one recovers it
 *   cg-storetool downgrade DBHOME       makes it a version 1 store (no index
 *                                       of revoked certificates), as an older
 *                                       certgate left it; nothing may have it
 *                                       open
 * (Test processes run this tool instead of forking: a child forked from a
 * threaded process may inherit a lock another thread held.)
 */
#include <signal.h>
#include "store.h"
#include "common.h"

#include <db.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static gboolean
count_one(gconstpointer rec, gpointer data)
{
	(void)rec;
	(*(guint *)data)++;
	return TRUE;
}

/* Without the store's open: it would recover the environment when no
 * other process holds it, and joins only what another process made. */
static DB_ENV *panicked_env;

static int
panic_env(const char *home)
{
	DB_ENV *env = NULL;
	int rc = db_env_create(&env, 0);

	if (rc == 0)
		rc = env->open(env, home, DB_JOINENV | DB_THREAD, 0);
	if (rc == 0)
		rc = env->set_flags(env, DB_PANIC_ENVIRONMENT, 1);
	if (rc != 0)
		printf("error: %s\n", db_strerror(rc));
	/* Not closed: the close of a panicked environment returns before it
	 * frees the handle. Kept here, it is still reachable at exit. */
	panicked_env = env;
	return rc != 0;
}

/* Makes DBHOME a version 1 store, as certgate left it before it indexed
 * revoked certificates: no certs_revoked, certs_by_expiry or requests_held,
 * schema 1 in meta. Without the
 * store's open (which would upgrade it); nothing else may have it open. */
static int
downgrade(const char *home)
{
	guint32 one = GUINT32_TO_BE(1);
	DBT k = {.data = "schema", .size = 6}, d = {.data = &one, .size = sizeof(one)};
	DB_ENV *env = NULL;
	DB *meta = NULL;
	int rc = db_env_create(&env, 0);

	if (rc == 0)
		rc = env->open(env, home,
		               DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
		                   DB_INIT_TXN | DB_RECOVER | DB_PRIVATE,
		               0);
	if (rc == 0)
		rc = env->dbremove(env, NULL, "certs_revoked", NULL, DB_AUTO_COMMIT);
	if (rc == 0)
		rc = env->dbremove(env, NULL, "certs_by_expiry", NULL, DB_AUTO_COMMIT);
	if (rc == 0)
		rc = env->dbremove(env, NULL, "requests_held", NULL, DB_AUTO_COMMIT);
	if (rc == 0 && (rc = db_create(&meta, env, 0)) == 0) {
		meta->set_flags(meta, DB_CHKSUM);
		rc = meta->open(meta, NULL, "meta", NULL, DB_BTREE, DB_AUTO_COMMIT, 0);
		if (rc == 0)
			rc = meta->put(meta, NULL, &k, &d, DB_AUTO_COMMIT);
		meta->close(meta, 0);
	}
	if (env != NULL && rc == 0)
		rc = env->txn_checkpoint(env, 0, 0, DB_FORCE);
	if (env != NULL)
		env->close(env, 0);
	if (rc != 0)
		printf("error: %s\n", db_strerror(rc));
	return rc != 0;
}

/* Waits for what: a number of milliseconds, or until the file of that name
 * exists (a minute at most). */
static void
hold(const char *what)
{
	int i;

	if (g_ascii_isdigit(*what)) {
		g_usleep((gulong)g_ascii_strtoull(what, NULL, 10) * 1000);
		return;
	}
	for (i = 0; i < 1200 && !g_file_test(what, G_FILE_TEST_EXISTS); i++)
		g_usleep(50 * 1000);
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	CgStore *s;
	int rc = 0;

	if (argc == 3 && strcmp(argv[1], "panic") == 0)
		return panic_env(argv[2]);
	if (argc == 3 && strcmp(argv[1], "downgrade") == 0)
		return downgrade(argv[2]);
	if (argc < 4) {
		fprintf(stderr,
		        "usage: cg-storetool fill|count|evidence DBHOME EVIDENCE [BYTES]\n");
		return 2;
	}
	umask(007);
	s = cg_store_open(argv[2], argv[3], CG_STORE_DEFAULT, &err);
	if (s == NULL) {
		printf("error %d: %s\n", err->code, err->message);
		return 1;
	}
	if (strcmp(argv[1], "fill") == 0 && argc == 5) {
		g_autofree char *big = g_strnfill(4096, 'x');
		struct statvfs st;
		int fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		guint n;

		if (fd < 0 || statvfs(argv[4], &st) != 0 ||
		    posix_fallocate(fd, 0, (off_t)(st.f_bavail * st.f_frsize) - 2 * 1024 * 1024) !=
		        0) {
			printf("cannot fill the file system\n");
			return 1;
		}
		close(fd);

		for (n = 0;; n++) {
			CgOrg o = {0};
			g_autofree char *id = g_strdup_printf("%08u", n);
			CgTxn *t = cg_store_begin(s, &err);

			o.id = id;
			o.name = big;
			if (t == NULL || !cg_store_org_put(t, &o, &err)) {
				cg_store_abort(t);
				break;
			}
			if (!cg_store_commit(t, &err))
				break;
		}
		printf("committed %u\nerror %d: %s\n", n, err->code, err->message);
		g_clear_error(&err);
		/* Evidence on the same full disk. */
		{
			g_autofree char *data = g_malloc0(8 * 1024 * 1024);
			g_autofree char *id = cg_store_evidence_put(s, data, 8 * 1024 * 1024, &err);

			if (id == NULL)
				printf("evidence error %d: %s\n", err->code, err->message);
			else
				printf("evidence stored %s\n", id);
		}
	} else if (strcmp(argv[1], "orgs") == 0 && argc == 5) {
		g_autofree char *big = g_strnfill(4096, 'x');
		guint n = (guint)atoi(argv[4]), i;
		CgTxn *t = NULL;

		for (i = 0; i < n && rc == 0; i++) {
			CgOrg o = {0};
			g_autofree char *id = g_strdup_printf("orgs-%08u", i);

			o.id = id;
			o.name = big;
			if ((t == NULL && (t = cg_store_begin(s, &err)) == NULL) ||
			    !cg_store_org_put(t, &o, &err) ||
			    ((i % 100 == 99 || i == n - 1) &&
			     !cg_store_commit(g_steal_pointer(&t), &err))) {
				printf("error %d: %s\n", err->code, err->message);
				rc = 1;
			}
		}
		cg_store_abort(t);
		/* Checkpointed: the next open recovers little (recovery would
		 * read the pages into a cache the size of the records). */
		if (rc == 0 && !cg_store_checkpoint(s, &err)) {
			printf("error %d: %s\n", err->code, err->message);
			rc = 1;
		}
	} else if (strcmp(argv[1], "count") == 0) {
		guint n = 0;

		/* With FILLER: the file system filled first (1 MiB left), so
		 * that the cache grows on a full disk as it reads the pages. */
		if (argc == 5) {
			struct statvfs st;
			int fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0600);

			if (fd < 0 || statvfs(argv[4], &st) != 0 ||
			    posix_fallocate(
			        fd, 0, (off_t)(st.f_bavail * st.f_frsize) - 1024 * 1024) != 0) {
				printf("cannot fill the file system\n");
				return 1;
			}
			close(fd);
		}
		if (!cg_store_foreach(s, NULL, CG_REC_ORG, count_one, &n, &err)) {
			printf("error %d: %s\n", err->code, err->message);
			rc = 1;
		} else {
			printf("%u\n", n);
		}
	} else if (strcmp(argv[1], "audit") == 0 && argc == 5) {
		guint n = (guint)atoi(argv[4]), i;

		for (i = 0; i < n && rc == 0; i++) {
			CgTxn *t = cg_store_begin(s, &err);
			g_autofree char *obj = g_strdup_printf("org:%u", i);

			if (!cg_store_audit_append(t, 1795290780 + i, "operator:test", "org.add",
			                           obj, "test entry", &err) ||
			    !cg_store_commit(t, &err))
				rc = 1;
		}
	} else if (strcmp(argv[1], "tamper") == 0 && argc == 5) {
		guint64 key = GUINT64_TO_BE(g_ascii_strtoull(argv[4], NULL, 10));
		g_autoptr(GBytes) raw = NULL;
		g_autofree guint8 *copy = NULL;
		gsize len;

		if (!cg_store_debug_get_raw(s, "audit", &key, 8, &raw, &err)) {
			printf("error %d: %s\n", err->code, err->message);
			rc = 1;
		} else {
			const void *p = g_bytes_get_data(raw, &len);

			copy = g_memdup2(p, len);
			copy[len / 2] ^= 0x20;
			rc = !cg_store_debug_put_raw(s, "audit", &key, 8, copy, len, &err);
		}
	} else if (strcmp(argv[1], "corrupt") == 0 && (argc == 5 || argc == 6)) {
		rc = !cg_store_debug_put_raw(s, argc == 6 ? argv[5] : "orgs", argv[4],
		                             strlen(argv[4]), "\x01garbage", 8, &err);
	} else if (strcmp(argv[1], "job") == 0 && (argc == 5 || argc == 6)) {
		CgTxn *t;

		if (argc == 6)
			g_usleep((gulong)g_ascii_strtoull(argv[5], NULL, 10) * 1000);
		t = cg_store_begin(s, &err);
		rc = t == NULL || !cg_store_job_append(t, CG_JOB_CRL, argv[4], &err) ||
		     !cg_store_commit(t, &err);
	} else if (strcmp(argv[1], "older") == 0 && argc == 4) {
		/* As a database from before expiry reminders: none scheduled,
		 * none backfilled. */
		rc = !cg_store_debug_del_raw(s, "jobs_later", NULL, 0, &err) ||
		     !cg_store_debug_del_raw(s, "meta", "value:reminders-backfill",
		                             strlen("value:reminders-backfill"), &err);
	} else if (strcmp(argv[1], "deliver") == 0 && argc == 5) {
		/* Queues the delivery of certificate argv[4] (again). */
		CgTxn *t = cg_store_begin(s, &err);

		rc = t == NULL || !cg_store_job_append(t, CG_JOB_DELIVER, argv[4], &err) ||
		     !cg_store_commit(t, &err);
	} else if (strcmp(argv[1], "hold-head") == 0 && (argc == 5 || argc == 6)) {
		/* Locks the audit log's head (in meta) and holds its transaction
		 * open for argv[4] ms (or until the file argv[4] exists), then
		 * undoes it: a writer of the audit log
		 * (which takes the log's tail first, then records the new head)
		 * waits for the head, and loses its wait after the environment's
		 * lock timeout. With argv[5], queues the delivery of that
		 * certificate meanwhile (another transaction). */
		CgTxn *t = cg_store_begin(s, &err), *q = NULL;
		if (t == NULL || !cg_store_debug_lock_head(t, &err) ||
		    (argc == 6 && ((q = cg_store_begin(s, &err)) == NULL ||
		                   !cg_store_job_append(q, CG_JOB_DELIVER, argv[5], &err) ||
		                   !cg_store_commit(q, &err)))) {
			printf("error %d: %s\n", err->code, err->message);
			rc = 1;
		} else {
			printf("holding\n");
			fflush(stdout);
			hold(argv[4]);
			cg_store_abort(t);
		}
	} else if (strcmp(argv[1], "die") == 0 && argc == 5) {
		CgTxn *t = cg_store_begin(s, &err);
		CgOrg o = {0};

		o.id = argv[4];
		o.name = "killed before commit";
		o.org_identifier = "NTRPL-1";
		o.country = "PL";
		o.contact = "ceo@example.org";
		if (t == NULL || !cg_store_org_put(t, &o, &err))
			return 3;
		kill(getpid(), SIGKILL);
		return 4;
	} else if (strcmp(argv[1], "domain-age") == 0 && argc == 6) {
		CgTxn *t = cg_store_begin(s, &err);
		g_autoptr(CgDomain) d = t ? cg_store_domain_get(s, t, argv[4], &err) : NULL;
		gint64 back = g_ascii_strtoll(argv[5], NULL, 10);

		if (d != NULL) {
			d->validated_at -= back;
			d->expires_at -= back;
			d->challenged_at -= back;
		}
		if (d == NULL || !cg_store_domain_put(t, d, &err)) {
			if (t != NULL)
				cg_store_abort(t);
			rc = 1;
		} else {
			rc = !cg_store_commit(t, &err);
		}
	} else if (strcmp(argv[1], "csr-flip") == 0 && argc == 6) {
		CgTxn *t = cg_store_begin(s, &err);
		g_autoptr(CgItem) it =
		    t ? cg_store_item_get(s, t, argv[4], (guint32)atoi(argv[5]), &err) : NULL;

		if (it != NULL) {
			gsize n;
			guint8 *der = g_bytes_unref_to_data(it->csr, &n);

			der[n - 1] ^= 1;
			it->csr = g_bytes_new_take(der, n);
		}
		if (it == NULL || !cg_store_item_put(t, it, &err)) {
			if (t != NULL)
				cg_store_abort(t);
			rc = 1;
		} else {
			rc = !cg_store_commit(t, &err);
		}
	} else if (strcmp(argv[1], "evidence") == 0 && argc == 5) {
		gsize len = (gsize)g_ascii_strtoull(argv[4], NULL, 10);
		g_autofree char *data = g_malloc0(len);
		g_autofree char *id = cg_store_evidence_put(s, data, len, &err);

		if (id == NULL)
			printf("error %d: %s\n", err->code, err->message);
		else
			printf("stored %s\n", id);
	} else {
		rc = 2;
	}
	cg_store_close(s);
	return rc;
}
