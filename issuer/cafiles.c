/*
 * cafiles.c: the CA's public files, alike on every CA host.
 *
 * The issuing CA's certificate, the chain, the gateway's two certificates
 * and the root CRL are files of each host, not records of the database: a
 * replicated CA holds a copy of them on each CA host, and a ca verb run on
 * one host (ca init, renew-issuing, gateway-renew, gateway-rekey, root-crl)
 * changes that host's only. So the verb notes each file's SHA-256 in the
 * database (meta "cafile:NAME" = "HEX WHEN HOST ACTION"), which replicates,
 * and every host compares its own files with the notes: `certgate stats`
 * and the digest warn, and the issuer logs it when its site becomes the
 * master (after a failover is when a stale copy starts to matter: a
 * certificate chained to the old issuing certificate, a letter encrypted to
 * a gateway key this host does not have).
 *
 * The issuing CA's CRL is each host's own (its issuer writes it), and keys
 * are compared through their certificates (each daemon refuses a key that
 * does not match its certificate).
 */
#include "issuer-int.h"

#include <string.h>
#include <unistd.h>

typedef struct {
	const char *name; /* the note's name, after "cafile:" */
	const char *what; /* for people */
	char *path;
} CaFile;

/* The files, in a fixed order; n set to their number. Free with files_free. */
static CaFile *
files_of(const CgConf *conf, gsize *n)
{
	CaFile *f = g_new0(CaFile, 5);

	f[0] =
	    (CaFile){"issuing-ca", "the issuing CA's certificate", g_strdup(conf->ca_certificate)};
	f[1] = (CaFile){"chain", "the CA chain", g_strdup(conf->ca_chain)};
	f[2] = (CaFile){"gateway", "the gateway's signing certificate",
	                g_strdup(conf->gateway_certificate)};
	f[3] = (CaFile){"gateway-enc", "the gateway's encryption certificate",
	                g_strdup(conf->gateway_enc_certificate)};
	f[4] = (CaFile){"root-crl", "the root CRL", cg_ca_root_crl_path(conf)};
	*n = 5;
	return f;
}

static void
files_free(CaFile *f, gsize n)
{
	gsize i;

	for (i = 0; i < n; i++)
		g_free(f[i].path);
	g_free(f);
}

/* The SHA-256 of the file at path, in hex; NULL when it cannot be read. */
static char *
file_sha256(const char *path)
{
	g_autofree char *data = NULL;
	gsize len = 0;
	guint8 md[CG_SHA256_LEN];

	if (path == NULL || !g_file_get_contents(path, &data, &len, NULL))
		return NULL;
	cg_sha256(data, len, md);
	return cg_hex(md, sizeof(md));
}

/* The note of a file, split: hex, when, host, action. NULL when there is
 * none (a database from before the notes) or it cannot be read. */
static char **
note_get(CgStore *s, CgTxn *txn, const char *name, GError **error)
{
	g_autofree char *key = g_strconcat("cafile:", name, NULL);
	g_autoptr(GError) err = NULL;
	g_autofree char *v = cg_store_meta_get(s, txn, key, &err);
	char **parts;

	if (v == NULL) {
		if (!g_error_matches(err, CG_ERROR, CG_ERROR_NOT_FOUND))
			g_propagate_error(error, g_steal_pointer(&err));
		return NULL;
	}
	parts = g_strsplit(v, " ", 4);
	if (g_strv_length(parts) != 4) {
		g_strfreev(parts);
		return NULL;
	}
	return parts;
}

gboolean
cg_ca_files_note(CgTxn *txn, const CgConf *conf, const char *action, gboolean if_absent, gint64 now,
                 GError **error)
{
	CgStore *s = cg_txn_store(txn);
	char host[256] = "";
	gsize n, i;
	CaFile *f = files_of(conf, &n);
	gboolean ok = TRUE;

	if (gethostname(host, sizeof(host) - 1) != 0 || *host == '\0')
		g_strlcpy(host, "?", sizeof(host));
	/* Spaces separate the note's fields: none in the host's name. */
	g_strdelimit(host, " ", '_');
	for (i = 0; i < n && ok; i++) {
		g_autofree char *hex = file_sha256(f[i].path);
		g_autofree char *key = g_strconcat("cafile:", f[i].name, NULL);
		g_autofree char *value = NULL;
		g_auto(GStrv) note = NULL;
		GError *err = NULL;

		if (hex == NULL) /* not here (a CA without a root CRL of ours) */
			continue;
		note = note_get(s, txn, f[i].name, &err);
		if (err != NULL) {
			g_propagate_error(error, err);
			ok = FALSE;
			break;
		}
		if (note != NULL && (if_absent || strcmp(note[0], hex) == 0))
			continue;
		value = g_strdup_printf("%s %" G_GINT64_FORMAT " %s %s", hex, now, host, action);
		ok = cg_store_meta_put(txn, key, value, error);
	}
	files_free(f, n);
	return ok;
}

gboolean
cg_ca_files_check(CgStore *s, const CgConf *conf, GPtrArray *warnings, GError **error)
{
	gsize n, i;
	CaFile *f = files_of(conf, &n);
	gboolean ok = TRUE;

	for (i = 0; i < n; i++) {
		g_auto(GStrv) note = NULL;
		g_autofree char *hex = NULL;
		g_autofree char *when = NULL;
		g_autofree char *by = NULL;
		GError *err = NULL;

		note = note_get(s, NULL, f[i].name, &err);
		if (err != NULL) {
			g_propagate_error(error, err);
			ok = FALSE;
			break;
		}
		if (note == NULL)
			continue;
		hex = file_sha256(f[i].path);
		if (hex != NULL && strcmp(hex, note[0]) == 0)
			continue;
		when = cg_time_iso(g_ascii_strtoll(note[1], NULL, 10));
		/* "ca renew-issuing": a verb of the command; else a daemon's name. */
		by = g_str_has_prefix(note[3], "ca ")
		         ? g_strdup_printf("`certgate %s` left", note[3])
		         : g_strdup_printf("%s found", note[3]);
		g_ptr_array_add(warnings,
		                g_strdup_printf("%s %s %s the one %s on %s at %s: copy it from "
		                                "there and reload the daemons (kill -HUP)",
		                                f[i].what, f[i].path,
		                                hex == NULL ? "cannot be read here; it should be"
		                                            : "here is not",
		                                by, note[2], when));
	}
	files_free(f, n);
	return ok;
}
