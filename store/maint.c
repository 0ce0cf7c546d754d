/*
 * maint.c: evidence files, consistency check, hot backup.
 *
 * Evidence is content-addressed: a file is written under a temporary name,
 * fsync'ed, renamed to its SHA-256 and the directory fsync'ed, before the
 * transaction that refers to it commits. A crash in between leaves at worst an
 * unreferenced file, never a reference to a missing one.
 */
#include "store-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

gboolean
cg_io_fail(const char *path, int err, GError **error)
{
	g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", path, g_strerror(err));
	return FALSE;
}

static gboolean
write_all(int fd, const guint8 *p, gsize len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		p += n;
		len -= (gsize)n;
	}
	return TRUE;
}

static gboolean
fsync_dir(const char *dir, GError **error)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	gboolean ok;

	if (fd < 0)
		return cg_io_fail(dir, errno, error);
	ok = fsync(fd) == 0;
	if (!ok)
		cg_io_fail(dir, errno, error);
	close(fd);
	return ok;
}

char *
cg_store_evidence_path(CgStore *s, const char *id)
{
	g_autofree char *name = g_strconcat(id, ".eml", NULL);

	return g_build_filename(s->evidence_dir, name, NULL);
}

char *
cg_store_evidence_put(CgStore *s, const void *data, gsize len, GError **error)
{
	guint8 digest[32];
	g_autofree char *id = NULL, *path = NULL, *tmp = NULL;
	int fd, err;

	cg_sha256(data, len, digest);
	id = cg_hex(digest, 32);
	path = cg_store_evidence_path(s, id);
	if (g_file_test(path, G_FILE_TEST_EXISTS))
		return g_steal_pointer(&id);
	tmp = g_build_filename(s->evidence_dir, ".tmp-XXXXXX", NULL);
	fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0640);
	if (fd < 0) {
		cg_io_fail(s->evidence_dir, errno, error);
		return NULL;
	}
	if (!write_all(fd, data, len) || fsync(fd) != 0) {
		err = errno ? errno : EIO;
		close(fd);
		unlink(tmp);
		cg_io_fail(tmp, err, error);
		return NULL;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		err = errno;
		unlink(tmp);
		cg_io_fail(path, err, error);
		return NULL;
	}
	if (!fsync_dir(s->evidence_dir, error))
		return NULL;
	return g_steal_pointer(&id);
}

/* ---- check ---- */

static const struct {
	int dbi;
	CgRecordKind kind;
} record_dbs[] = {
    {DBI_ORGS, CG_REC_ORG},         {DBI_DOMAINS, CG_REC_DOMAIN},
    {DBI_ADMINS, CG_REC_ADMIN},     {DBI_CHALLENGES, CG_REC_CHALLENGE},
    {DBI_REQUESTS, CG_REC_REQUEST}, {DBI_ITEMS, CG_REC_ITEM},
    {DBI_CERTS, CG_REC_CERT},
};

static char *
key_text(const DBT *k)
{
	if (cg_text_is_clean(k->data, k->size, 200))
		return g_strndup(k->data, k->size);
	return cg_hex(k->data, MIN(k->size, 40));
}

/* The index that holds some of a primary's records only. */
static int
partial_index(int primary)
{
	return primary == DBI_CERTS      ? DBI_CERT_REVOKED
	       : primary == DBI_REQUESTS ? DBI_REQUEST_HELD
	                                 : -1;
}

/* Decodes every value of db with decode; returns the count, -1 on DB error.
 * *partial (certs, requests): counts the records that belong in its partial
 * index (partial_index). An entry of an index keyed by a time must be at
 * its record's time, for a record that belongs there. */
static gint64
check_db(CgStore *s, int dbi, CgRecordKind kind, gboolean secondary, GString *report,
         guint *problems, gint64 *partial)
{
	gboolean timed =
	    dbi == DBI_CERT_REVOKED || dbi == DBI_CERT_BY_EXPIRY || dbi == DBI_REQUEST_HELD;
	DB *db = s->db[dbi];
	DBC *c = NULL;
	gint64 n = 0;
	int rc;

	if ((rc = db->cursor(db, NULL, &c, DB_READ_COMMITTED)) != 0)
		return -1;
	for (;;) {
		DBT k = {0}, d = {0}, pk = {0};
		g_autoptr(GError) err = NULL;

		k.flags = d.flags = pk.flags = DB_DBT_MALLOC;
		rc = secondary ? c->pget(c, &k, &pk, &d, DB_NEXT) : c->get(c, &k, &d, DB_NEXT);
		if (rc == DB_NOTFOUND)
			break;
		if (rc != 0) {
			g_autofree char *kt = key_text(&k);

			g_string_append_printf(report, "%s: entry %s: %s\n", cg_db_specs[dbi].name,
			                       k.data ? kt : "?", db_strerror(rc));
			(*problems)++;
			free(k.data);
			if (rc != DB_SECONDARY_BAD)
				break;
			continue;
		}
		if (!secondary || timed) {
			gpointer rec = cg_record_decode(kind, d.data, d.size, &err);
			gint64 t = 0;

			if (rec == NULL && !secondary) {
				g_autofree char *kt = key_text(&k);

				g_string_append_printf(report, "%s: record %s: %s\n",
				                       cg_db_specs[dbi].name, kt, err->message);
				(*problems)++;
			}
			if (rec != NULL && !secondary && partial != NULL &&
			    cg_index_time_of(partial_index(dbi), rec, &t))
				(*partial)++;
			if (rec != NULL && secondary &&
			    (!cg_index_time_of(dbi, rec, &t) || k.size != 8 ||
			     GUINT64_FROM_BE(*(guint64 *)k.data) != (guint64)MAX(t, 0))) {
				g_autofree char *kt = key_text(&pk);

				g_string_append_printf(
				    report, "%s: entry for %s, which does not belong there\n",
				    cg_db_specs[dbi].name, kt);
				(*problems)++;
			}
			cg_record_free(kind, rec);
		}
		n++;
		free(k.data);
		free(d.data);
		free(pk.data);
	}
	c->close(c);
	return n;
}

gboolean
cg_store_check(CgStore *s, GString *report, GError **error)
{
	static const struct {
		int dbi, primary;
		CgRecordKind kind;
	} indexes[] = {
	    {DBI_DOMAIN_BY_ORG, DBI_DOMAINS, CG_REC_DOMAIN},
	    {DBI_ADMIN_BY_ORG, DBI_ADMINS, CG_REC_ADMIN},
	    {DBI_CERT_BY_MAILBOX, DBI_CERTS, CG_REC_CERT},
	    {DBI_CERT_BY_ORG, DBI_CERTS, CG_REC_CERT},
	    {DBI_CERT_BY_SPKI, DBI_CERTS, CG_REC_CERT},
	    {DBI_CERT_BY_EXPIRY, DBI_CERTS, CG_REC_CERT},
	    {DBI_CERT_REVOKED, DBI_CERTS, CG_REC_CERT},
	    {DBI_REQUEST_HELD, DBI_REQUESTS, CG_REC_REQUEST},
	};
	gint64 counts[DBI_N] = {0}, partial[DBI_N] = {0};
	guint problems = 0;
	guint64 queued = 0, deferred = 0;
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(record_dbs); i++) {
		int dbi = record_dbs[i].dbi;

		counts[dbi] =
		    check_db(s, dbi, record_dbs[i].kind, FALSE, report, &problems, &partial[dbi]);
		g_string_append_printf(report, "%s: %" G_GINT64_FORMAT " records\n",
		                       cg_db_specs[dbi].name, counts[dbi]);
	}
	for (i = 0; i < G_N_ELEMENTS(indexes); i++) {
		gint64 n =
		    check_db(s, indexes[i].dbi, indexes[i].kind, TRUE, report, &problems, NULL);
		/* Every record has an entry; in a partial index, every record that
		 * belongs there (revoked certificates, held requests). */
		gboolean part = partial_index(indexes[i].primary) == indexes[i].dbi;
		gint64 want = part ? partial[indexes[i].primary] : counts[indexes[i].primary];

		if (n != want) {
			g_string_append_printf(
			    report,
			    "%s: %" G_GINT64_FORMAT " entries for %" G_GINT64_FORMAT " %s\n",
			    cg_db_specs[indexes[i].dbi].name, n, want,
			    !part                                ? "records"
			    : indexes[i].dbi == DBI_CERT_REVOKED ? "revoked certificates"
			                                         : "held requests");
			problems++;
		}
	}
	if (cg_store_job_count(s, &queued, &deferred, NULL))
		g_string_append_printf(
		    report, "jobs: %" G_GUINT64_FORMAT " queued, %" G_GUINT64_FORMAT " deferred\n",
		    queued, deferred);
	if (!cg_audit_check_all(s, report))
		problems++;
	if (problems > 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "%u problem%s found", problems,
		            problems == 1 ? "" : "s");
		return FALSE;
	}
	return TRUE;
}

/* ---- backup ---- */

static gboolean
dir_is_empty_or_absent(const char *path)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);

	if (d == NULL)
		return !g_file_test(path, G_FILE_TEST_EXISTS);
	return g_dir_read_name(d) == NULL;
}

gboolean
cg_store_backup(CgStore *s, const char *target, GError **error)
{
	DB_ENV *env = NULL;
	int rc;

	if (!dir_is_empty_or_absent(target)) {
		g_set_error(error, CG_ERROR, CG_ERROR_USAGE, "%s: exists and is not empty", target);
		return FALSE;
	}
	if (!cg_store_checkpoint(s, error))
		return FALSE;
	rc = s->env->backup(s->env, target, DB_CREATE | DB_BACKUP_SINGLE_DIR);
	if (rc != 0)
		return cg_db_fail(rc, "backup", error);
	/* Like db_hotbackup: catastrophic recovery in the copy, so that it is
	 * consistent and opens on its own. */
	if ((rc = db_env_create(&env, 0)) != 0)
		return cg_db_fail(rc, "backup", error);
	rc = env->open(env, target,
	               DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_INIT_TXN |
	                   DB_RECOVER_FATAL | DB_PRIVATE,
	               0660);
	env->close(env, 0);
	if (rc != 0)
		return cg_db_fail(rc, "backup recovery", error);
	return TRUE;
}
