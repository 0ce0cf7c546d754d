/*
 * ca.c: the CA material certgate-issuer holds, and PEM file helpers.
 *
 * A key file is opened first and judged on the descriptor (no race between a
 * check by path and the open): a regular file, not readable or writable by
 * group or others, owned by the process (root may read a key it does not
 * own). Key bytes are wiped from memory once parsed.
 */
#include "issuer-int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define MAX_PEM (256 * 1024)

const char *
cg_openssl_error(void)
{
	static __thread char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "no OpenSSL error recorded";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static guint8 *
read_fd(int fd, gsize *len, GError **error)
{
	guint8 *buf = g_malloc(MAX_PEM + 1);
	gsize n = 0;

	for (;;) {
		ssize_t r = read(fd, buf + n, MAX_PEM + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			g_set_error(error, CG_ERROR, CG_ERROR_IO, "read: %s", g_strerror(errno));
			OPENSSL_cleanse(buf, n);
			g_free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (gsize)r;
		if (n > MAX_PEM) {
			g_set_error(error, CG_ERROR, CG_ERROR_IO, "file is larger than %d bytes",
			            MAX_PEM);
			OPENSSL_cleanse(buf, n);
			g_free(buf);
			return NULL;
		}
	}
	*len = n;
	return buf;
}

EVP_PKEY *
cg_key_file_load(const char *path, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	guint8 *buf;
	gsize len = 0;
	BIO *b;
	EVP_PKEY *key;

	if (fd < 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", path, g_strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		g_set_error(
		    error, CG_ERROR, CG_ERROR_IO,
		    "%s: key file has mode %04o; it must not be readable by group or others "
		    "(chmod 600)",
		    path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return NULL;
	}
	if (st.st_uid != geteuid() && geteuid() != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: key file is not owned by this user",
		            path);
		close(fd);
		return NULL;
	}
	buf = read_fd(fd, &len, error);
	close(fd);
	if (buf == NULL)
		return NULL;
	b = BIO_new_mem_buf(buf, (int)len);
	key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	OPENSSL_cleanse(buf, len);
	g_free(buf);
	if (key == NULL)
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: not a PEM private key: %s", path,
		            cg_openssl_error());
	return key;
}

X509 *
cg_cert_file_load(const char *path, GError **error)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	if (x == NULL)
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: not a PEM certificate: %s", path,
		            cg_openssl_error());
	return x;
}

STACK_OF(X509) * cg_chain_file_load(const char *path, GError **error)
{
	BIO *b = BIO_new_file(path, "r");
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;

	if (b == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", path, cg_openssl_error());
		sk_X509_free(sk);
		return NULL;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		sk_X509_push(sk, x);
	ERR_clear_error();
	BIO_free(b);
	if (sk_X509_num(sk) == 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: no certificate", path);
		sk_X509_free(sk);
		return NULL;
	}
	return sk;
}

static gboolean
write_file(const char *path, const void *data, gsize len, int mode, uid_t uid, gid_t gid,
           GError **error)
{
	g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	gboolean ok;

	if (fd < 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", tmp, g_strerror(errno));
		return FALSE;
	}
	ok =
	    fchmod(fd, (mode_t)mode) == 0 && write(fd, data, len) == (ssize_t)len && fsync(fd) == 0;
	if (ok && uid != (uid_t)-1 && geteuid() == 0)
		ok = fchown(fd, uid, gid) == 0;
	if (close(fd) != 0)
		ok = FALSE;
	if (!ok || rename(tmp, path) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", path, g_strerror(errno));
		unlink(tmp);
		return FALSE;
	}
	return TRUE;
}

gboolean
cg_file_keep_previous(const char *path, GError **error)
{
	g_autofree char *prev = g_strconcat(path, ".previous", NULL);

	if (unlink(prev) != 0 && errno != ENOENT) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", prev, g_strerror(errno));
		return FALSE;
	}
	/* A second name for the file as it is (its mode and owner with it):
	 * path itself stays in place until its replacement is renamed over it.
	 * Where there are no hard links, the file moves. */
	if (link(path, prev) == 0 || errno == ENOENT)
		return TRUE;
	if (rename(path, prev) != 0 && errno != ENOENT) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: %s", path, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

gboolean
cg_pem_write_key(const char *path, EVP_PKEY *key, uid_t uid, gid_t gid, GError **error)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;
	gboolean ok;

	if (PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(b);
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "%s", cg_openssl_error());
		return FALSE;
	}
	len = BIO_get_mem_data(b, &data);
	ok = write_file(path, data, (gsize)len, 0600, uid, gid, error);
	OPENSSL_cleanse(data, (size_t)len);
	BIO_free(b);
	return ok;
}

gboolean
cg_pem_write_certs(const char *path, X509 **certs, gsize n, GError **error)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;
	gsize i;
	gboolean ok = TRUE;

	for (i = 0; i < n && ok; i++)
		ok = PEM_write_bio_X509(b, certs[i]) == 1;
	len = BIO_get_mem_data(b, &data);
	ok = ok && write_file(path, data, (gsize)len, 0644, (uid_t)-1, (gid_t)-1, error);
	BIO_free(b);
	return ok;
}

static void
add_own(CgCa *ca, EVP_PKEY *k)
{
	if (k == NULL)
		return;
	ca->own = g_realloc_n(ca->own, ca->n_own + 1, sizeof(*ca->own));
	if (cg_spki_sha256(k, ca->own[ca->n_own]))
		ca->n_own++;
}

/* A signing context for key with its digest (cg_sign_md), for
 * cg_ca_sign to copy: setting one up (finding the digest and the signature
 * in the providers, a context for the key) was a quarter of signing a
 * certificate. NULL for a key on a token (its engine's contexts are not
 * copied) or an EdDSA key (no digest), and if it cannot be set up: those
 * are signed with X509_sign. */
static EVP_MD_CTX *
sign_context(EVP_PKEY *key, gboolean on_token)
{
	const EVP_MD *md = cg_sign_md(key);
	EVP_MD_CTX *ctx;

	if (on_token || md == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
		return NULL;
	if (EVP_DigestSignInit(ctx, NULL, md, NULL, key) != 1) {
		EVP_MD_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	return ctx;
}

/* CACertificate is a CA's, CAChain begins with it and it verifies to the
 * chain's last certificate, taken as the anchor whether it is a root or not
 * (signatures and names; not the time: after its end the issuer still runs
 * and issues nothing). Certificates signed under
 * anything else would reach their subjects with a chain that does not
 * lead to the root. */
static gboolean
chain_fits(CgCa *ca, const CgConf *conf, GError **error)
{
	X509 *root = sk_X509_value(ca->chain, sk_X509_num(ca->chain) - 1);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *between = sk_X509_new_null();
	gboolean ok = FALSE;
	int i;

	if (X509_check_ca(ca->cert) != 1) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG,
		            "CACertificate %s is not a CA's certificate (basicConstraints CA:TRUE, "
		            "keyUsage keyCertSign)",
		            conf->ca_certificate);
		goto out;
	}
	if (X509_cmp(sk_X509_value(ca->chain, 0), ca->cert) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG,
		            "CAChain %s does not begin with CACertificate %s", conf->ca_chain,
		            conf->ca_certificate);
		goto out;
	}
	for (i = 1; i + 1 < sk_X509_num(ca->chain); i++)
		sk_X509_push(between, sk_X509_value(ca->chain, i));
	if (store == NULL || ctx == NULL || between == NULL ||
	    X509_STORE_add_cert(store, root) != 1 ||
	    X509_STORE_CTX_init(ctx, store, ca->cert, between) != 1) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "%s", cg_openssl_error());
		goto out;
	}
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_PARTIAL_CHAIN);
	if (sk_X509_num(ca->chain) > 1 && X509_verify_cert(ctx) != 1) {
		g_set_error(
		    error, CG_ERROR, CG_ERROR_CONFIG,
		    "CACertificate %s does not verify to the last certificate of CAChain %s: "
		    "%s",
		    conf->ca_certificate, conf->ca_chain,
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	ok = TRUE;
out:
	sk_X509_free(between);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return ok;
}

CgCa *
cg_ca_load(const CgConf *conf, GError **error)
{
	CgCa *ca = g_new0(CgCa, 1);

	g_mutex_init(&ca->sign_lock);
	g_mutex_init(&ca->exts_lock);
	ca->exts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	                                 (GDestroyNotify)X509_EXTENSION_free);
	ca->key_location = g_strdup(conf->ca_key);
	if ((ca->cert = cg_cert_file_load(conf->ca_certificate, error)) == NULL ||
	    (ca->chain = cg_chain_file_load(conf->ca_chain, error)) == NULL)
		goto fail;
	if (g_str_has_prefix(conf->ca_key, "pkcs11:"))
		ca->key = cg_pkcs11_load_key(conf, &ca->engine, error);
	else
		ca->key = cg_key_file_load(conf->ca_key, error);
	if (ca->key == NULL)
		goto fail;
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "CAKey %s does not match %s",
		            conf->ca_key, conf->ca_certificate);
		goto fail;
	}
	if (!chain_fits(ca, conf, error))
		goto fail;
	if ((ca->gw_cert = cg_cert_file_load(conf->gateway_certificate, error)) == NULL ||
	    (ca->gw_key = cg_key_file_load(conf->gateway_key, error)) == NULL)
		goto fail;
	if (X509_check_private_key(ca->gw_cert, ca->gw_key) != 1) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "GatewayKey does not match %s",
		            conf->gateway_certificate);
		goto fail;
	}
	ca->sign_ctx = sign_context(ca->key, ca->engine != NULL);
	add_own(ca, X509_get0_pubkey(ca->cert));
	add_own(ca, X509_get0_pubkey(sk_X509_value(ca->chain, sk_X509_num(ca->chain) - 1)));
	add_own(ca, X509_get0_pubkey(ca->gw_cert));
	/* Optional: without it mail goes out without an encryption certificate. */
	if (g_file_test(conf->gateway_enc_certificate, G_FILE_TEST_EXISTS)) {
		if ((ca->enc_cert = cg_cert_file_load(conf->gateway_enc_certificate, error)) == NULL)
			goto fail;
		add_own(ca, X509_get0_pubkey(ca->enc_cert));
	}
	return ca;
fail:
	cg_ca_free(ca);
	return NULL;
}

void
cg_ca_free(CgCa *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->cert);
	sk_X509_pop_free(ca->chain, X509_free);
	EVP_MD_CTX_free(ca->sign_ctx);
	EVP_PKEY_free(ca->key);
	if (ca->engine != NULL)
		cg_pkcs11_release(ca->engine);
	X509_free(ca->gw_cert);
	EVP_PKEY_free(ca->gw_key);
	X509_free(ca->enc_cert);
	g_free(ca->key_location);
	g_free(ca->own);
	g_hash_table_unref(ca->exts);
	g_mutex_clear(&ca->sign_lock);
	g_mutex_clear(&ca->exts_lock);
	g_free(ca);
}

X509 *
cg_ca_cert(CgCa *ca)
{
	return ca->cert;
}

STACK_OF(X509) * cg_ca_chain(CgCa *ca)
{
	return ca->chain;
}

X509 *
cg_ca_gateway_cert(CgCa *ca)
{
	return ca->gw_cert;
}

X509 *
cg_ca_gateway_enc_cert(CgCa *ca)
{
	return ca->enc_cert;
}

EVP_PKEY *
cg_ca_gateway_key(CgCa *ca)
{
	return ca->gw_key;
}

EVP_PKEY *
cg_ca_key(CgCa *ca)
{
	return ca->key;
}

gboolean
cg_ca_sign(CgCa *ca, X509 *x, GError **error)
{
	EVP_MD_CTX *ctx;
	gboolean ok;

	if (ca->sign_ctx == NULL)
		return cg_sign_cert(x, ca->key, error);
	/* A copy for each certificate: X509_sign_ctx finishes the context it
	 * is given. The copy holds no nonce: each signature draws its own. */
	ctx = EVP_MD_CTX_new();
	g_mutex_lock(&ca->sign_lock);
	ok = ctx != NULL && EVP_MD_CTX_copy_ex(ctx, ca->sign_ctx) == 1;
	g_mutex_unlock(&ca->sign_lock);
	ok = ok && X509_sign_ctx(x, ctx) > 0;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "signing failed: %s",
		            cg_openssl_error());
	return ok;
}

const char *
cg_ca_key_location(CgCa *ca)
{
	return ca->key_location;
}

const guint8 (*cg_ca_own_keys(CgCa *ca, gsize *n))[32]
{
	*n = ca->n_own;
	return (const guint8(*)[32])ca->own;
}
