/*
 * cainit.c: certgate ca init: a root CA, an issuing CA for S/MIME, and the
 * gateway's own mail-signing certificate.
 *
 *   root      P-384 (or RSA 4096), 20 years; basicConstraints critical CA:TRUE;
 *             keyUsage critical keyCertSign, cRLSign; SKI
 *   issuing   P-256 (or P-384, or RSA 4096: a new issuing CA's RSA key is
 *             4096 bits), 10 years; CA:TRUE, pathlen 0;
 *             keyUsage critical keyCertSign, cRLSign; EKU emailProtection;
 *             the S/MIME BR policy OIDs; CRL DP and AIA caIssuers of the root
 *             over http; SKI; AKI keyid
 *   gateway   the mailbox-validated strict profile for SenderAddress
 *   gateway encryption  RSA 3072, keyEncipherment, every gateway address
 *             (gwenc.c); its key the milter's
 *
 * Names chain byte for byte: every certificate's issuer is the DER of its
 * issuer's subject. Keys are written 0600: the issuing and gateway keys owned
 * by IssuerUserID, the root key by root (move it offline; it is only needed
 * to re-issue the issuing CA or the root CRL: certgate ca renew-issuing and
 * ca root-crl, caroot.c).
 */
#include "issuer-int.h"
#include "daemon.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#define YEAR (365 * 86400 + 86400 / 4)

static EVP_PKEY *
keygen(gboolean rsa, int bits, const char *curve, GError **error)
{
	EVP_PKEY *k = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits)
	                  : EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);

	if (k == NULL)
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "key generation: %s",
		            cg_openssl_error());
	return k;
}

static X509_NAME *
ca_name(const CgCaInit *o, const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	if (o->country != NULL && *o->country != '\0')
		X509_NAME_add_entry_by_NID(n, NID_countryName, MBSTRING_UTF8,
		                           (const unsigned char *)o->country, -1, -1, 0);
	X509_NAME_add_entry_by_NID(n, NID_organizationName, MBSTRING_UTF8,
	                           (const unsigned char *)o->org, -1, -1, 0);
	X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn, -1,
	                           -1, 0);
	return n;
}

gboolean
cg_random_serial(X509 *x, GError **error)
{
	guint8 s[16];
	BIGNUM *bn;
	ASN1_INTEGER *ai;
	gboolean ok;

	if (!cg_random_bytes(s, sizeof(s), error))
		return FALSE;
	s[0] = (guint8)((s[0] & 0x7f) | 0x01);
	bn = BN_bin2bn(s, sizeof(s), NULL);
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	ok = ai != NULL && X509_set_serialNumber(x, ai) == 1;
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	return ok;
}

/* A CA certificate for subject/key, issued by issuer (NULL: self-signed). */
static X509 *
ca_cert(X509_NAME *subject, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, gint64 now,
        gint64 lifetime, const char *const *exts, const char *const *policies, GError **error)
{
	X509 *x = X509_new();
	gboolean ok;
	gsize i;

	ok = X509_set_version(x, X509_VERSION_3) == 1 && cg_random_serial(x, error) &&
	     X509_set_subject_name(x, subject) == 1 &&
	     X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) == 1 &&
	     X509_set_pubkey(x, key) == 1 &&
	     ASN1_TIME_set(X509_getm_notBefore(x), (time_t)now) != NULL &&
	     ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(now + lifetime - 1)) != NULL;
	for (i = 0; ok && exts[i] != NULL; i += 2)
		ok = cg_x509_add_ext(x, issuer ? issuer : x, OBJ_sn2nid(exts[i]), exts[i + 1],
		                     error);
	if (ok && policies != NULL)
		ok = cg_x509_add_policies(x, policies, error);
	ok = ok && cg_sign_cert(x, issuer_key, error);
	if (!ok) {
		if (error != NULL && *error == NULL)
			g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "CA certificate: %s",
			            cg_openssl_error());
		X509_free(x);
		return NULL;
	}
	return x;
}

/* dirname(url) + "/" + file: the root's URLs beside the issuing CA's. */
static char *
sibling_url(const char *url, const char *file)
{
	const char *slash = strrchr(url, '/');

	return g_strdup_printf("%.*s/%s", (int)(slash - url), url, file);
}

static gboolean
refuse_existing(const char *const *paths, gboolean force, GError **error)
{
	gsize i;

	for (i = 0; paths[i] != NULL && !force; i++)
		if (g_file_test(paths[i], G_FILE_TEST_EXISTS)) {
			g_set_error(error, CG_ERROR, CG_ERROR_EXISTS,
			            "%s exists; a CA is already set up (--force replaces it)",
			            paths[i]);
			return FALSE;
		}
	return TRUE;
}

typedef struct {
	EVP_PKEY *root_key, *key, *gw_key, *enc_key;
	X509 *root, *issuing, *gw, *enc;
	void *engine;
} Made;

static void
made_clear(Made *m)
{
	EVP_PKEY_free(m->root_key);
	EVP_PKEY_free(m->key);
	EVP_PKEY_free(m->gw_key);
	EVP_PKEY_free(m->enc_key);
	X509_free(m->root);
	X509_free(m->issuing);
	X509_free(m->gw);
	X509_free(m->enc);
	if (m->engine)
		cg_pkcs11_release(m->engine);
}

static gboolean
make_root(const CgConf *conf, const CgCaInit *o, Made *m, GError **error)
{
	static const char *const exts[] = {"basicConstraints",
	                                   "critical,CA:TRUE",
	                                   "keyUsage",
	                                   "critical,keyCertSign,cRLSign",
	                                   "subjectKeyIdentifier",
	                                   "hash",
	                                   NULL};
	g_autofree char *cn = g_strdup_printf("%s Root CA (%s)", o->org, conf->gateway_domain);
	X509_NAME *n = ca_name(o, cn);

	m->root_key = keygen(o->root_rsa, 4096, "P-384", error);
	if (m->root_key != NULL)
		m->root = ca_cert(n, m->root_key, NULL, m->root_key, o->now, 20 * YEAR, exts, NULL,
		                  error);
	X509_NAME_free(n);
	return m->root != NULL;
}

static gboolean
make_issuing(const CgConf *conf, const CgCaInit *o, Made *m, GError **error)
{
	g_autofree char *cn =
	    g_strdup_printf("%s S/MIME Issuing CA (%s)", o->org, conf->gateway_domain);
	g_autofree char *cdp = NULL, *aia = NULL;
	g_autofree char *root_crl_url = sibling_url(conf->crl_url, "root-ca.crl");
	g_autofree char *root_cer_url = sibling_url(conf->ca_issuers_url, "root-ca.cer");
	const char *exts[] = {"basicConstraints",
	                      "critical,CA:TRUE,pathlen:0",
	                      "keyUsage",
	                      "critical,keyCertSign,cRLSign",
	                      "extendedKeyUsage",
	                      "emailProtection",
	                      "crlDistributionPoints",
	                      NULL,
	                      "authorityInfoAccess",
	                      NULL,
	                      "subjectKeyIdentifier",
	                      "hash",
	                      "authorityKeyIdentifier",
	                      "keyid:always",
	                      NULL};
	static const char *const policies[] = {"2.23.140.1.5.1.3", "2.23.140.1.5.2.2",
	                                       "2.23.140.1.5.2.3", "2.23.140.1.5.3.2",
	                                       "2.23.140.1.5.3.3", NULL};
	X509_NAME *n;

	cdp = g_strdup_printf("URI:%s", root_crl_url);
	aia = g_strdup_printf("caIssuers;URI:%s", root_cer_url);
	exts[7] = cdp;
	exts[9] = aia;
	if (o->pkcs11) {
		g_autofree char *type =
		    o->issuing_rsa_bits ? g_strdup_printf("rsa:%d", o->issuing_rsa_bits)
		    : g_strcmp0(o->issuing_curve, "P-384") == 0 ? g_strdup("EC:secp384r1")
		                                                : g_strdup("EC:prime256v1");

		if (!cg_pkcs11_generate(conf, type, error) ||
		    (m->key = cg_pkcs11_load_key(conf, &m->engine, error)) == NULL)
			return FALSE;
	} else {
		m->key = keygen(o->issuing_rsa_bits != 0, o->issuing_rsa_bits,
		                o->issuing_curve != NULL ? o->issuing_curve : "P-256", error);
		if (m->key == NULL)
			return FALSE;
	}
	n = ca_name(o, cn);
	m->issuing =
	    ca_cert(n, m->key, m->root, m->root_key, o->now, 10 * YEAR, exts, policies, error);
	X509_NAME_free(n);
	return m->issuing != NULL;
}

static gboolean
make_gateway(const CgConf *conf, const CgCaInit *o, Made *m, GError **error)
{
	return cg_ca_make_gateway_sign(conf, m->issuing, m->key, o->now, &m->gw, &m->gw_key, error);
}

static void
describe(GString *out, const char *what, X509 *x, const char *path)
{
	char *subj = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
	unsigned char md[32];
	unsigned int n = 0;
	g_autofree char *fp = NULL;
	g_autofree char *desc = cg_policy_key_desc(X509_get0_pubkey(x));

	X509_digest(x, EVP_sha256(), md, &n);
	fp = cg_hex(md, n);
	g_string_append_printf(out, "%-8s %s\n         key %s, SHA-256 %s\n         %s\n", what,
	                       subj, desc, fp, path);
	OPENSSL_free(subj);
}

gboolean
cg_ca_init(const CgConf *conf, const CgCaInit *o, GString *out, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(conf->ca_certificate);
	g_autofree char *root_pem = g_build_filename(dir, "root-ca.pem", NULL);
	g_autofree char *root_key = g_build_filename(dir, "root-ca.key", NULL);
	g_autofree char *crldir = g_path_get_dirname(conf->crl_path);
	g_autofree char *root_crl = g_build_filename(crldir, "root-ca.crl", NULL);
	const char *paths[] = {conf->ca_certificate,
	                       conf->ca_chain,
	                       conf->gateway_certificate,
	                       conf->gateway_key,
	                       conf->gateway_enc_certificate,
	                       conf->gateway_enc_key,
	                       root_pem,
	                       root_key,
	                       o->pkcs11 ? NULL : conf->ca_key,
	                       NULL};
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	Made m = {0};
	gboolean ok = FALSE;
	X509 *chain[2];
	g_autoptr(GBytes) crl = NULL;

	if (o->pkcs11 != g_str_has_prefix(conf->ca_key, "pkcs11:")) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG,
		            o->pkcs11 ? "--pkcs11 needs CAKey to be a pkcs11: URI"
		                      : "CAKey is a pkcs11: URI: use --pkcs11");
		return FALSE;
	}
	if (!refuse_existing(paths, o->force, error))
		return FALSE;
	if (geteuid() == 0 && o->issuer_user != NULL &&
	    !cg_daemon_lookup_user(o->issuer_user, &uid, &gid, error))
		return FALSE;
	/* Certificates are public; keys are 0600 inside. The issuer rewrites the
	 * CRL, so the CRL directory is its own. */
	if (g_mkdir_with_parents(dir, 0755) != 0 || chmod(dir, 0755) != 0 ||
	    g_mkdir_with_parents(crldir, 0755) != 0 || chmod(crldir, 0755) != 0 ||
	    (uid != (uid_t)-1 && chown(crldir, uid, gid) != 0)) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s or %s: %s", dir, crldir,
		            g_strerror(errno));
		return FALSE;
	}
	if (!make_root(conf, o, &m, error) || !make_issuing(conf, o, &m, error) ||
	    !make_gateway(conf, o, &m, error) ||
	    !cg_ca_make_gateway_enc(conf, m.issuing, m.key, o->now, &m.enc, &m.enc_key, error))
		goto done;
	chain[0] = m.issuing;
	chain[1] = m.root;
	crl = cg_crl_build(m.root, m.root_key, NULL, 1, o->now, o->now + 365 * 86400, error);
	if (crl == NULL || !cg_pem_write_certs(root_pem, &m.root, 1, error) ||
	    !cg_pem_write_key(root_key, m.root_key, 0, 0, error) ||
	    !cg_pem_write_certs(conf->ca_certificate, &m.issuing, 1, error) ||
	    !cg_pem_write_certs(conf->ca_chain, chain, 2, error) ||
	    !cg_pem_write_certs(conf->gateway_certificate, &m.gw, 1, error) ||
	    !cg_pem_write_key(conf->gateway_key, m.gw_key, uid, gid, error) ||
	    (!o->pkcs11 && !cg_pem_write_key(conf->ca_key, m.key, uid, gid, error)) ||
	    !cg_ca_write_gateway_enc(conf, m.enc, m.enc_key, error) ||
	    !cg_file_write_atomic(root_crl, crl, 0644, error))
		goto done;
	describe(out, "root", m.root, root_pem);
	describe(out, "issuing", m.issuing, conf->ca_certificate);
	describe(out, "gateway", m.gw, conf->gateway_certificate);
	describe(out, "encrypt", m.enc, conf->gateway_enc_certificate);
	g_string_append_printf(out,
	                       "issuing key: %s\nroot key: %s (keep it offline)\nroot CRL: %s\n",
	                       conf->ca_key, root_key, root_crl);
	ok = TRUE;
done:
	made_clear(&m);
	return ok;
}
