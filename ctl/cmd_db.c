/*
 * cmd_db.c: certgate db check|backup|restore: the database environment as a
 * whole.
 */
#include "ctl.h"
#include "common.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>

int
ctl_db_check(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GString) report = g_string_new(NULL);
	g_autoptr(GError) err = NULL;
	CgStore *s;
	gboolean ok;

	if (!ctl_parse(ctx, "", "Decode every record; check indexes, jobs and the audit chain.",
	               NULL, &argc, &argv))
		return 2;
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	ok = cg_store_check(s, report, &err);
	fputs(report->str, stdout);
	if (!ok)
		return ctl_fail(ctx, 1, "%s", err->message);
	printf("database is consistent\n");
	return 0;
}

int
ctl_db_backup(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	CgStore *s;

	if (!ctl_parse(ctx, "DIR",
	               "Hot backup of the database environment into DIR (new or empty).", NULL,
	               &argc, &argv))
		return 2;
	if (argc != 2)
		return ctl_fail(ctx, 2, "needs one argument: the backup directory");
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	if (!cg_store_backup(s, argv[1], &err))
		return ctl_fail(ctx, 1, "%s", err->message);
	printf("backup written to %s (evidence files stay in %s)\n", argv[1],
	       ctx->conf->evidence_dir);
	return 0;
}

/* ---- restore ---- */

typedef struct {
	X509 *ca;
	EVP_PKEY *ca_key;
	guint seen;
	char *foreign; /* the first certificate this CA did not sign */
} ForeignCheck;

/* The first certificates of the backup must be this CA's (its name as
 * issuer, its signature): a backup of another CA is refused. */
static gboolean
check_issuer(gconstpointer rec, gpointer data)
{
	const CgCert *c = rec;
	ForeignCheck *f = data;
	gsize len;
	const unsigned char *p = g_bytes_get_data(c->der, &len);
	X509 *x = d2i_X509(NULL, &p, (long)len);

	if (x == NULL || X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(f->ca)) != 0 ||
	    X509_verify(x, f->ca_key) != 1)
		f->foreign = g_strdup(c->serial);
	X509_free(x);
	return f->foreign == NULL && ++f->seen < 100;
}

static X509 *
load_ca_cert(const char *path, GError **error)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	if (x == NULL)
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "CACertificate %s: no certificate",
		            path);
	return x;
}

/* Opens the staged copy and checks it as db check and audit verify do, and
 * that it is this CA's. */
static gboolean
check_staged(CtlCtx *ctx, const char *backup, const char *staged, GError **error)
{
	g_autoptr(GString) report = g_string_new(NULL);
	g_autoptr(GError) err = NULL;
	ForeignCheck f = {0};
	guint64 count = 0, broken = 0;
	guint8 head[32];
	CgStore *s = NULL;
	gboolean ok = FALSE;

	if ((s = cg_store_open(staged, ctx->conf->evidence_dir, CG_STORE_DEFAULT, &err)) == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "%s: does not open as a certgate "
		            "database: %s", backup, err->message);
		return FALSE;
	}
	if (!cg_store_check(s, report, &err)) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "%s: db check fails: %s\n%s", backup,
		            err->message, report->str);
	} else if (!cg_store_audit_verify(s, &count, &broken, head, &err)) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT,
		            "%s: the audit chain breaks at entry %" G_GUINT64_FORMAT ": %s", backup,
		            broken, err->message);
	} else if ((f.ca = load_ca_cert(ctx->conf->ca_certificate, error)) != NULL) {
		f.ca_key = X509_get0_pubkey(f.ca);
		if (!cg_store_foreach(s, NULL, CG_REC_CERT, check_issuer, &f, error))
			;
		else if (f.foreign != NULL)
			g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT,
			            "%s: a backup of another CA (certificate %s was not issued by %s)",
			            backup, f.foreign, ctx->conf->ca_certificate);
		else
			ok = TRUE;
		if (ok)
			printf("%s: database is consistent, audit chain of %" G_GUINT64_FORMAT
			       " entries intact, %u certificates checked against the CA\n",
			       backup, count, f.seen);
	}
	X509_free(f.ca);
	g_free(f.foreign);
	cg_store_close(s);
	return ok;
}

int
ctl_db_restore(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *staged = NULL;
	g_autofree char *aside = NULL;
	g_autofree char *meta = NULL;
	gboolean replace = FALSE;
	GOptionEntry entries[] = {
	    {"replace", 0, 0, G_OPTION_ARG_NONE, &replace,
	     "DbHome holds a database: keep it aside (DbHome.before-restore-TIME) and restore",
	     NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	const char *home = ctx->conf->db_home;

	if (!ctl_parse(ctx, "DIR",
	               "Restore a backup made by db backup into DbHome, with the daemons stopped; "
	               "the copy is checked (db check, audit verify, this CA's certificates) "
	               "before it replaces anything.",
	               entries, &argc, &argv))
		return 2;
	if (argc != 2)
		return ctl_fail(ctx, 2, "needs one argument: the backup directory");
	meta = g_build_filename(home, "meta", NULL);
	if (!cg_store_restore_is_backup(argv[1], &err) || !cg_store_restore_idle(home, &err))
		return ctl_fail(ctx, 1, "%s", err->message);
	if (!cg_store_restore_verify(argv[1], &err))
		return ctl_fail(ctx, 1, "%s; nothing was changed", err->message);
	if (g_file_test(meta, G_FILE_TEST_EXISTS) && !replace)
		return ctl_fail(ctx, 1, "%s holds a database: restore with --replace to keep it "
		                        "aside as %s.before-restore-TIME",
		                home, home);
	if ((staged = cg_store_restore_stage(argv[1], home, ctx->conf->evidence_dir, &err)) ==
	    NULL)
		return ctl_fail(ctx, 1, "%s", err->message);
	if (!check_staged(ctx, argv[1], staged, &err)) {
		cg_store_restore_discard(staged);
		return ctl_fail(ctx, 1, "%s; nothing was changed", err->message);
	}
	/* Nobody may have started meanwhile. */
	if (!cg_store_restore_idle(home, &err) ||
	    !cg_store_restore_swap(staged, home, ctl_now(), &aside, &err)) {
		cg_store_restore_discard(staged);
		return ctl_fail(ctx, 1, "%s", err->message);
	}
	printf("restored %s into %s%s%s\n", argv[1], home, aside ? "; the database before is in "
	                                                           : "",
	       aside ? aside : "");
	return 0;
}
