/*
 * restore.c: a backup (cg_store_backup) back into DbHome.
 *
 *   1. the backup holds certgate's databases (else: not a backup of ours)
 *   2. nothing uses DbHome (its lock file is free: the daemons are stopped)
 *   3. the backup is copied into DbHome.restore beside DbHome, with DbHome's
 *      owner, group and modes; the caller opens and checks that copy
 *   4. only then is it swapped in: a DbHome that held a database is kept
 *      as DbHome.before-restore-TIME, never deleted
 */
#include "store-int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Berkeley DB's region files and our lock directory are made afresh. */
static gboolean
copied(const char *name)
{
	return !g_str_has_prefix(name, "__db.") && strcmp(name, "lock") != 0 &&
	       strcmp(name, "certgate.lock") != 0;
}

static gboolean
copy_file(const char *from, const char *to, const struct stat *owner, GError **error)
{
	char buf[1 << 16];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	if (in < 0)
		return cg_io_fail(from, errno, error);
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
	if (out < 0) {
		close(in);
		return cg_io_fail(to, errno, error);
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		const char *p = buf;

		while (n > 0) {
			ssize_t w = write(out, p, (size_t)n);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				int e = errno;

				close(in), close(out);
				return cg_io_fail(to, w < 0 ? e : ENOSPC, error);
			}
			p += w;
			n -= w;
		}
	}
	if (n < 0 || fsync(out) != 0) {
		int e = errno;

		close(in), close(out);
		return cg_io_fail(n < 0 ? from : to, e, error);
	}
	close(in);
	/* As root: DbHome's owner. Otherwise the file is ours already. */
	if (fchown(out, owner->st_uid, owner->st_gid) != 0 && geteuid() == 0) {
		int e = errno;

		close(out);
		return cg_io_fail(to, e, error);
	}
	close(out);
	return TRUE;
}

gboolean
cg_store_restore_is_backup(const char *backup, GError **error)
{
	g_autofree char *meta = g_build_filename(backup, "meta", NULL);

	if (!g_file_test(backup, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_FOUND, "%s: no such directory", backup);
		return FALSE;
	}
	if (!g_file_test(meta, G_FILE_TEST_IS_REGULAR)) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT,
		            "%s: not a certgate backup (it has no meta database)", backup);
		return FALSE;
	}
	return TRUE;
}

/* FALSE (saying so) when a process holds DbHome's lock file, of this
 * version or an older one. */
gboolean
cg_store_restore_idle(const char *db_home, GError **error)
{
	const char *const locks[] = {"lock/certgate.lock", "certgate.lock"};
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(locks); i++) {
		g_autofree char *path = g_build_filename(db_home, locks[i], NULL);
		struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		int fd = open(path, O_RDWR | O_CLOEXEC);

		if (fd < 0)
			continue;
		if (fcntl(fd, F_SETLK, &l) != 0) {
			close(fd);
			g_set_error(error, CG_ERROR, CG_ERROR_USAGE,
			            "%s is in use by running certgate processes: stop the milter "
			            "and the issuer first",
			            db_home);
			return FALSE;
		}
		close(fd);
	}
	return TRUE;
}

char *
cg_store_restore_stage(const char *backup, const char *db_home, const char *like,
                       GError **error)
{
	g_autofree char *staged = g_strconcat(db_home, ".restore", NULL);
	g_autofree char *parent = g_path_get_dirname(db_home);
	g_autoptr(GDir) dir = NULL;
	struct stat owner;
	const char *name;

	/* DbHome's owner, group and mode; when it is gone (a disk replaced),
	 * like's (EvidenceDir: the same users share it), else its parent's. */
	if (stat(db_home, &owner) != 0 && (like == NULL || stat(like, &owner) != 0) &&
	    stat(parent, &owner) != 0) {
		cg_io_fail(parent, errno, error);
		return NULL;
	}
	if (g_file_test(staged, G_FILE_TEST_EXISTS)) {
		g_set_error(error, CG_ERROR, CG_ERROR_USAGE,
		            "%s exists (left by an interrupted restore?): remove it first", staged);
		return NULL;
	}
	if (mkdir(staged, 0770) != 0) {
		cg_io_fail(staged, errno, error);
		return NULL;
	}
	if ((chown(staged, owner.st_uid, owner.st_gid) != 0 && geteuid() == 0) ||
	    chmod(staged, (owner.st_mode & 07777) | 0770) != 0) {
		cg_io_fail(staged, errno, error);
		cg_store_restore_discard(staged);
		return NULL;
	}
	if ((dir = g_dir_open(backup, 0, NULL)) == NULL) {
		cg_io_fail(backup, errno, error);
		return NULL;
	}
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *from = g_build_filename(backup, name, NULL);
		g_autofree char *to = g_build_filename(staged, name, NULL);

		if (!copied(name) || !g_file_test(from, G_FILE_TEST_IS_REGULAR))
			continue;
		if (!copy_file(from, to, &owner, error))
			return NULL;
	}
	return g_steal_pointer(&staged);
}

void
cg_store_restore_discard(const char *staged)
{
	g_autoptr(GDir) dir = g_dir_open(staged, 0, NULL);
	const char *name;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *path = g_build_filename(staged, name, NULL);

		if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
			cg_store_restore_discard(path);
			continue;
		}
		(void)unlink(path);
	}
	(void)rmdir(staged);
}

gboolean
cg_store_restore_swap(const char *staged, const char *db_home, gint64 now, char **aside,
                      GError **error)
{
	*aside = NULL;
	if (g_file_test(db_home, G_FILE_TEST_IS_DIR) && rmdir(db_home) != 0) {
		/* Not empty: kept. */
		g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(now);
		g_autofree char *stamp = g_date_time_format(t, "%Y%m%dT%H%M%SZ");

		*aside = g_strdup_printf("%s.before-restore-%s", db_home, stamp);
		if (rename(db_home, *aside) != 0) {
			cg_io_fail(db_home, errno, error);
			g_clear_pointer(aside, g_free);
			return FALSE;
		}
	}
	if (rename(staged, db_home) != 0)
		return cg_io_fail(staged, errno, error);
	return TRUE;
}

/* Every database file of dir verified page by page (DB->verify, checksums
 * included) before anything opens it: a damaged file is reported by name
 * instead of panicking the environment that would open it. */
gboolean
cg_store_restore_verify(const char *dir, GError **error)
{
	gsize i;

	for (i = 0; i < DBI_N; i++) {
		g_autofree char *path = g_build_filename(dir, cg_db_specs[i].name, NULL);
		DB *db = NULL;
		int rc;

		if (!g_file_test(path, G_FILE_TEST_EXISTS))
			continue; /* an index made on first open */
		if ((rc = db_create(&db, NULL, 0)) != 0)
			return cg_db_fail(rc, path, error);
		db->set_errcall(db, NULL);
		/* verify frees the handle whatever it finds */
		rc = db->verify(db, path, NULL, NULL, 0);
		if (rc != 0) {
			g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "%s: damaged (%s)", path,
			            db_strerror(rc));
			return FALSE;
		}
	}
	return TRUE;
}
