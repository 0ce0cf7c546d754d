/*
 * crypto.c: digests, encodings, randomness and constant-time comparison,
 * all on OpenSSL so that every module draws from one CSPRNG.
 */
#include "common.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* SHA-256 as fetched from the default provider, once: EVP_sha256() makes
 * OpenSSL 3.0 fetch it again for every digest (its method store, under a
 * lock), about two thirds of a short digest's cost. NULL if the fetch
 * failed (then EVP_sha256() is used, as before). */
static const EVP_MD *
sha256_md(void)
{
	static gsize once;
	static EVP_MD *md;

	if (g_once_init_enter(&once)) {
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
		g_once_init_leave(&once, 1);
	}
	return md != NULL ? md : EVP_sha256();
}

void
cg_sha256(const void *data, gsize len, guint8 out[CG_SHA256_LEN])
{
	unsigned int n = CG_SHA256_LEN;

	/* EVP_Digest with SHA-256 cannot fail for in-memory input short of OOM,
	 * in which case the zeroed output never matches a stored digest. */
	memset(out, 0, CG_SHA256_LEN);
	EVP_Digest(data, len, out, &n, sha256_md(), NULL);
}

struct CgSha256 {
	EVP_MD_CTX *md;
};

CgSha256 *
cg_sha256_begin(void)
{
	CgSha256 *h = g_new0(CgSha256, 1);

	h->md = EVP_MD_CTX_new();
	if (h->md != NULL && EVP_DigestInit_ex(h->md, sha256_md(), NULL) != 1)
		g_clear_pointer(&h->md, EVP_MD_CTX_free);
	return h;
}

void
cg_sha256_update(CgSha256 *h, const void *data, gsize len)
{
	if (h->md != NULL && EVP_DigestUpdate(h->md, data, len) != 1)
		g_clear_pointer(&h->md, EVP_MD_CTX_free);
}

void
cg_sha256_end(CgSha256 *h, guint8 out[CG_SHA256_LEN])
{
	unsigned int n = CG_SHA256_LEN;

	/* As for cg_sha256: a failure (out of memory) leaves zeroes, which
	 * never match a stored digest. */
	memset(out, 0, CG_SHA256_LEN);
	if (h->md != NULL && EVP_DigestFinal_ex(h->md, out, &n) != 1)
		memset(out, 0, CG_SHA256_LEN);
	EVP_MD_CTX_free(h->md);
	g_free(h);
}

char *
cg_hex(const guint8 *data, gsize len)
{
	static const char digits[] = "0123456789abcdef";
	char *out = g_malloc(len * 2 + 1);
	gsize i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 0xf];
	}
	out[len * 2] = '\0';
	return out;
}

gboolean
cg_hex_decode(const char *hex, guint8 *out, gsize outlen)
{
	gsize i;

	if (hex == NULL || strlen(hex) != outlen * 2)
		return FALSE;
	for (i = 0; i < outlen; i++) {
		int hi = g_ascii_xdigit_value(hex[2 * i]);
		int lo = g_ascii_xdigit_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return FALSE;
		out[i] = (guint8)(hi << 4 | lo);
	}
	return TRUE;
}

char *
cg_base64url(const guint8 *data, gsize len)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	GString *out = g_string_sized_new(len * 4 / 3 + 4);
	gsize i;

	for (i = 0; i + 2 < len; i += 3) {
		guint32 v = (guint32)data[i] << 16 | (guint32)data[i + 1] << 8 | data[i + 2];

		g_string_append_c(out, alphabet[v >> 18 & 63]);
		g_string_append_c(out, alphabet[v >> 12 & 63]);
		g_string_append_c(out, alphabet[v >> 6 & 63]);
		g_string_append_c(out, alphabet[v & 63]);
	}
	if (len - i == 1) {
		guint32 v = (guint32)data[i] << 16;

		g_string_append_c(out, alphabet[v >> 18 & 63]);
		g_string_append_c(out, alphabet[v >> 12 & 63]);
	} else if (len - i == 2) {
		guint32 v = (guint32)data[i] << 16 | (guint32)data[i + 1] << 8;

		g_string_append_c(out, alphabet[v >> 18 & 63]);
		g_string_append_c(out, alphabet[v >> 12 & 63]);
		g_string_append_c(out, alphabet[v >> 6 & 63]);
	}
	return g_string_free(out, FALSE);
}

gboolean
cg_random_bytes(guint8 *out, gsize len, GError **error)
{
	if (len > G_MAXINT || RAND_bytes(out, (int)len) != 1) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "CSPRNG failed");
		return FALSE;
	}
	return TRUE;
}

gboolean
cg_memeq_ct(const void *a, const void *b, gsize len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
