/*
 * caroot.c: the root CA's own work, done with its key, which is kept
 * offline and named on the command line:
 *   - the root CRL made again (S/MIME BR 4.9.7: a CRL of the root's
 *     certificates at least every twelve months; the one `ca init` wrote is
 *     good for 365 days), its entries kept and its number the next;
 *   - the issuing CA's certificate made again for the same key, subject and
 *     extensions (a certificate never outlives it, so it is renewed before
 *     its end), the certificate and chain it replaces kept as .previous.
 * The root is the last certificate of CAChain. Never: touches the issuing
 * CA's key, which need not be readable here (it may be on a token).
 */
#include "issuer-int.h"

#include <errno.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#define DAY 86400
/* The root CRL's life: 365 days, as `ca init` makes it (at most twelve
 * months, S/MIME BR 4.9.7). */
#define ROOT_CRL_DAYS 365

char *
cg_ca_root_crl_path(const CgConf *conf)
{
	g_autofree char *dir = g_path_get_dirname(conf->crl_path);

	return g_build_filename(dir, "root-ca.crl", NULL);
}

gint64
cg_ca_root_crl_next(const CgConf *conf)
{
	g_autofree char *path = cg_ca_root_crl_path(conf);
	g_autofree char *data = NULL;
	const unsigned char *p;
	X509_CRL *crl;
	gsize len = 0;
	gint64 next;

	if (!g_file_get_contents(path, &data, &len, NULL))
		return 0;
	p = (const unsigned char *)data;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	next = crl ? cg_asn1_time_unix(X509_CRL_get0_nextUpdate(crl)) : 0;
	X509_CRL_free(crl);
	ERR_clear_error();
	return next > 0 ? next : -1;
}

/* The chain of conf and the root key at root_key, which must be the key of
 * the chain's last certificate. */
static gboolean
load_root(const CgConf *conf, const char *root_key, STACK_OF(X509) * *chain, EVP_PKEY **key,
          GError **error)
{
	*key = NULL;
	if ((*chain = cg_chain_file_load(conf->ca_chain, error)) == NULL)
		return FALSE;
	if ((*key = cg_key_file_load(root_key, error)) == NULL)
		return FALSE;
	if (X509_check_private_key(sk_X509_value(*chain, sk_X509_num(*chain) - 1), *key) != 1) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG,
		            "%s is not the key of the root, the last certificate of CAChain %s",
		            root_key, conf->ca_chain);
		ERR_clear_error();
		return FALSE;
	}
	return TRUE;
}

gboolean
cg_ca_root_crl(const CgConf *conf, const char *root_key, gint64 now, GString *out, GError **error)
{
	g_autofree char *path = cg_ca_root_crl_path(conf);
	g_autofree char *old_data = NULL, *until = NULL;
	g_autoptr(GBytes) old = NULL, crl = NULL;
	g_autoptr(GError) err = NULL;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	gsize len = 0;
	guint64 number = 0;
	gboolean ok = FALSE;

	if (!load_root(conf, root_key, &chain, &key, error))
		goto out;
	if (g_file_get_contents(path, &old_data, &len, &err))
		old = g_bytes_new_take(g_steal_pointer(&old_data), len);
	else if (!g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s", err->message);
		goto out;
	}
	crl = cg_crl_renew(sk_X509_value(chain, sk_X509_num(chain) - 1), key, old, now,
	                   now + ROOT_CRL_DAYS * DAY, &number, error);
	if (crl == NULL) {
		g_prefix_error(error, "%s: ", path);
		goto out;
	}
	if (!cg_file_write_atomic(path, crl, 0644, error))
		goto out;
	until = cg_time_iso(now + ROOT_CRL_DAYS * DAY);
	g_string_append_printf(out,
	                       "root CRL %" G_GUINT64_FORMAT " written to %s, next update %s\n",
	                       number, path, until);
	ok = TRUE;
out:
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	return ok;
}

gboolean
cg_ca_renew_issuing(const CgConf *conf, const char *root_key, guint days, gint64 now, GString *out,
                    GError **error)
{
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	X509 *cur = NULL, *x = NULL, *root;
	g_autofree char *was = NULL, *until = NULL, *serial = NULL;
	g_autofree X509 **certs = NULL;
	gint64 end, root_end;
	gboolean ok = FALSE;
	int i, n;

	if (days < 1 || days > 10 * 366) {
		g_set_error(error, CG_ERROR, CG_ERROR_USAGE, "--days takes 1 to 3660");
		return FALSE;
	}
	if (!load_root(conf, root_key, &chain, &key, error) ||
	    (cur = cg_cert_file_load(conf->ca_certificate, error)) == NULL)
		goto out;
	root = sk_X509_value(chain, sk_X509_num(chain) - 1);
	if (X509_cmp(sk_X509_value(chain, 0), cur) != 0 || sk_X509_num(chain) < 2 ||
	    X509_verify(cur, X509_get0_pubkey(root)) != 1) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG,
		            "CACertificate %s is not the first of CAChain %s, signed by its root",
		            conf->ca_certificate, conf->ca_chain);
		ERR_clear_error();
		goto out;
	}
	/* The same key, subject and extensions; a new serial and validity, to
	 * the root's end at the most. */
	root_end = cg_asn1_time_unix(X509_get0_notAfter(root));
	end = MIN(now + (gint64)days * DAY - 1, root_end);
	if (end <= now) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "the root certificate has ended");
		goto out;
	}
	if ((x = X509_dup(cur)) == NULL || !cg_random_serial(x, error) ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)now) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)end) == NULL ||
	    !cg_sign_cert(x, key, error) || X509_verify(x, X509_get0_pubkey(root)) != 1) {
		if (error != NULL && *error == NULL)
			g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "the new certificate: %s",
			            cg_openssl_error());
		goto out;
	}
	n = sk_X509_num(chain);
	certs = g_new0(X509 *, n);
	certs[0] = x;
	for (i = 1; i < n; i++)
		certs[i] = sk_X509_value(chain, i);
	if (!cg_file_keep_previous(conf->ca_certificate, error) ||
	    !cg_file_keep_previous(conf->ca_chain, error) ||
	    !cg_pem_write_certs(conf->ca_certificate, &x, 1, error) ||
	    !cg_pem_write_certs(conf->ca_chain, certs, (gsize)n, error))
		goto out;
	serial = cg_serial_hex(X509_get0_serialNumber(x));
	was = cg_time_iso(cg_asn1_time_unix(X509_get0_notAfter(cur)));
	until = cg_time_iso(end);
	g_string_append_printf(out,
	                       "issuing CA certificate made again: serial %s, the same key and "
	                       "subject, valid to %s (was %s)%s\n"
	                       "written to %s and %s (those before kept as .previous)\n"
	                       "reload certgate-issuer to issue under it, and publish it at %s\n",
	                       serial, until, was, end == root_end ? ", the root's end" : "",
	                       conf->ca_certificate, conf->ca_chain, conf->ca_issuers_url);
	ok = TRUE;
out:
	X509_free(x);
	X509_free(cur);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	return ok;
}
