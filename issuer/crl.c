/*
 * crl.c: certificate revocation lists (S/MIME BR 4.9, 7.2).
 *
 * v2 CRL, signed with the issuing CA key; CRL number and AKI (keyid)
 * extensions; reasonCode non-critical and never "unspecified" (omitted
 * instead) nor certificateHold; nextUpdate at most 10 days after thisUpdate
 * (CrlNextUpdate). Revoked certificates are listed until they expire, read
 * through the store's index of revoked certificates (certs_revoked, by
 * notAfter): a CRL costs the revoked certificates, not all of them.
 * Written atomically: a temporary file, fsync, rename, fsync of the directory.
 */
#include "issuer-int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>

typedef struct {
	char *serial;
	gint64 when;
	int reason;
} Entry;

static void
entry_free(gpointer p)
{
	Entry *e = p;

	g_free(e->serial);
	g_free(e);
}

static gboolean
add_entry(X509_CRL *crl, const Entry *e, GError **error)
{
	X509_REVOKED *rv = X509_REVOKED_new();
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)e->when);
	gboolean ok;

	ok = BN_hex2bn(&bn, e->serial) > 0 && (ai = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
	     X509_REVOKED_set_serialNumber(rv, ai) == 1 && t != NULL &&
	     X509_REVOKED_set_revocationDate(rv, t) == 1;
	if (ok && e->reason > 0) {
		ASN1_ENUMERATED *r = ASN1_ENUMERATED_new();

		ok = ASN1_ENUMERATED_set(r, e->reason) == 1 &&
		     X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, r, 0, 0) == 1;
		ASN1_ENUMERATED_free(r);
	}
	ok = ok && X509_CRL_add0_revoked(crl, rv) == 1;
	if (!ok) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "CRL entry %s: %s", e->serial,
		            cg_openssl_error());
		X509_REVOKED_free(rv);
	}
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	ASN1_TIME_free(t);
	return ok;
}

/* A signed CRL as DER. */
GBytes *
cg_crl_build(X509 *issuer, EVP_PKEY *key, GPtrArray *entries, guint64 number, gint64 now,
             gint64 next, GError **error)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t1 = ASN1_TIME_set(NULL, (time_t)now), *t2 = ASN1_TIME_set(NULL, (time_t)next);
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	X509V3_CTX ctx;
	X509_EXTENSION *aki;
	unsigned char *der = NULL;
	GBytes *out = NULL;
	int len;
	guint i;
	gboolean ok;

	ok = X509_CRL_set_version(crl, X509_CRL_VERSION_2) == 1 &&
	     X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) == 1 &&
	     X509_CRL_set1_lastUpdate(crl, t1) == 1 && X509_CRL_set1_nextUpdate(crl, t2) == 1 &&
	     ASN1_INTEGER_set_uint64(num, number) == 1 &&
	     X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) == 1;
	if (ok) {
		X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
		aki =
		    X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
		ok = aki != NULL && X509_CRL_add_ext(crl, aki, -1) == 1;
		X509_EXTENSION_free(aki);
	}
	for (i = 0; ok && entries != NULL && i < entries->len; i++)
		ok = add_entry(crl, g_ptr_array_index(entries, i), error);
	if (ok) {
		X509_CRL_sort(crl);
		ok = X509_CRL_sign(crl, key, cg_sign_md(key)) > 0;
	}
	if (ok && (len = i2d_X509_CRL(crl, &der)) > 0) {
		out = g_bytes_new(der, (gsize)len);
		OPENSSL_free(der);
	}
	if (out == NULL && (error == NULL || *error == NULL))
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "CRL: %s", cg_openssl_error());
	ASN1_TIME_free(t1);
	ASN1_TIME_free(t2);
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	return out;
}

char *
cg_serial_hex(const ASN1_INTEGER *serial)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	char *out = g_ascii_strdown(hex ? hex : "0", -1);

	OPENSSL_free(hex);
	BN_free(bn);
	return out;
}

GBytes *
cg_crl_renew(X509 *issuer, EVP_PKEY *key, GBytes *old_der, gint64 now, gint64 next, guint64 *number,
             GError **error)
{
	g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func(entry_free);
	X509_CRL *old = NULL;
	guint64 n = 0;

	if (old_der != NULL) {
		const unsigned char *p = g_bytes_get_data(old_der, NULL);
		STACK_OF(X509_REVOKED) * rv;
		ASN1_INTEGER *num;
		int i;

		old = d2i_X509_CRL(NULL, &p, (long)g_bytes_get_size(old_der));
		num = old ? X509_CRL_get_ext_d2i(old, NID_crl_number, NULL, NULL) : NULL;
		if (old == NULL || num == NULL || ASN1_INTEGER_get_uint64(&n, num) != 1 ||
		    X509_NAME_cmp(X509_CRL_get_issuer(old), X509_get_subject_name(issuer)) != 0) {
			g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT,
			            "the CRL there is not one of this issuer with a CRL number");
			ASN1_INTEGER_free(num);
			X509_CRL_free(old);
			return NULL;
		}
		ASN1_INTEGER_free(num);
		rv = X509_CRL_get_REVOKED(old);
		for (i = 0; i < sk_X509_REVOKED_num(rv); i++) {
			X509_REVOKED *r = sk_X509_REVOKED_value(rv, i);
			ASN1_ENUMERATED *why =
			    X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
			Entry *e = g_new0(Entry, 1);

			e->serial = cg_serial_hex(X509_REVOKED_get0_serialNumber(r));
			e->when = cg_asn1_time_unix(X509_REVOKED_get0_revocationDate(r));
			e->reason = why ? (int)ASN1_ENUMERATED_get(why) : 0;
			g_ptr_array_add(entries, e);
			ASN1_ENUMERATED_free(why);
		}
		X509_CRL_free(old);
	}
	*number = n + 1;
	return cg_crl_build(issuer, key, entries, *number, now, next, error);
}

gboolean
cg_file_write_atomic(const char *path, GBytes *data, int mode, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *tmp = g_strconcat(path, ".new", NULL);
	gsize len;
	const char *p = g_bytes_get_data(data, &len);
	int fd, dfd;
	gboolean ok;

	g_mkdir_with_parents(dir, 0755);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", tmp, g_strerror(errno));
		return FALSE;
	}
	ok = fchmod(fd, (mode_t)mode) == 0 && write(fd, p, len) == (ssize_t)len && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", path, g_strerror(errno));
		unlink(tmp);
		return FALSE;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return TRUE;
}

typedef struct {
	GPtrArray *entries;
	gint64 now;
} Collect;

static gboolean
collect_revoked(gconstpointer rec, gpointer data)
{
	const CgCert *c = rec;
	Collect *col = data;
	Entry *e;

	if (c->status != CG_CERT_REVOKED || c->not_after < col->now)
		return TRUE;
	e = g_new0(Entry, 1);
	e->serial = g_strdup(c->serial);
	e->when = c->revoked_at;
	e->reason = c->reason == 6 ? 0 : c->reason;
	g_ptr_array_add(col->entries, e);
	return TRUE;
}

static gboolean
next_crl_number(CgTxn *txn, gpointer data, GError **error)
{
	return cg_store_next_id(txn, "crl", data, error);
}

gboolean
cg_crl_write(CgCa *ca, CgStore *store, const CgConf *conf, gint64 now, guint64 *number,
             GError **error)
{
	g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func(entry_free);
	Collect col = {entries, now};
	g_autoptr(GBytes) der = NULL;
	guint64 n = 0;

	if (!cg_store_foreach_revoked(store, NULL, now, collect_revoked, &col, error))
		return FALSE;
	if (!cg_store_transact(store, next_crl_number, &n, error))
		return FALSE;
	der = cg_crl_build(ca->cert, ca->key, entries, n, now, now + conf->crl_next_update, error);
	if (der == NULL || !cg_file_write_atomic(conf->crl_path, der, 0644, error))
		return FALSE;
	if (number != NULL)
		*number = n;
	return TRUE;
}
