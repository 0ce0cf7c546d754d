/*
 * parsed.c: what the milter's key, certificate and trust-anchor files parse
 * to, kept by path and the SHA-256 of the bytes they were parsed from.
 *
 * The files are read for every message that needs them, so that a change
 * (a rekey, new anchors) applies to the next message; parsing is what is
 * saved. OpenSSL 3.0 reads a PEM private key or certificate through its
 * decoders (an RSA-3072 key, then its Montgomery values and blinding at
 * its first use: about a millisecond), and the same bytes give the same
 * object, so bytes that hash as before give the object made then. Only the
 * digest of a file is kept, never its bytes. The objects are only read
 * once made (OpenSSL's keys, certificates and stores may be used by several
 * threads at once); each caller gets a reference of its own.
 */
#include "milter.h"
#include "common.h"

#include <string.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

typedef struct {
	CgParsedKind kind;
	guint8 digest[CG_SHA256_LEN];
	gpointer obj;
} Parsed;

static GMutex lock;
static GHashTable *kept; /* "kind:path" -> Parsed */

static gboolean
obj_ref(CgParsedKind kind, gpointer obj)
{
	switch (kind) {
	case CG_PARSED_KEY:
		return EVP_PKEY_up_ref(obj) == 1;
	case CG_PARSED_CERT:
		return X509_up_ref(obj) == 1;
	case CG_PARSED_ANCHORS:
		return X509_STORE_up_ref(obj) == 1;
	}
	return FALSE;
}

static void
obj_free(CgParsedKind kind, gpointer obj)
{
	switch (kind) {
	case CG_PARSED_KEY:
		EVP_PKEY_free(obj);
		break;
	case CG_PARSED_CERT:
		X509_free(obj);
		break;
	case CG_PARSED_ANCHORS:
		X509_STORE_free(obj);
		break;
	}
}

static void
parsed_free(gpointer p)
{
	Parsed *x = p;

	obj_free(x->kind, x->obj);
	g_free(x);
}

/* What path's bytes (digest) parsed to before, a new reference; or NULL. */
static gpointer
parsed_find(CgParsedKind kind, const char *path, const guint8 *digest)
{
	g_autofree char *name = g_strdup_printf("%d:%s", (int)kind, path);
	gpointer obj = NULL;
	Parsed *x;

	g_mutex_lock(&lock);
	x = kept != NULL ? g_hash_table_lookup(kept, name) : NULL;
	if (x != NULL && memcmp(x->digest, digest, CG_SHA256_LEN) == 0 && obj_ref(kind, x->obj))
		obj = x->obj;
	g_mutex_unlock(&lock);
	return obj;
}

/* obj kept for path's bytes (digest), with a reference of its own. */
static void
parsed_keep(CgParsedKind kind, const char *path, const guint8 *digest, gpointer obj)
{
	Parsed *x;

	if (!obj_ref(kind, obj))
		return;
	x = g_new0(Parsed, 1);
	x->kind = kind;
	memcpy(x->digest, digest, CG_SHA256_LEN);
	x->obj = obj;
	g_mutex_lock(&lock);
	if (kept == NULL)
		kept = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, parsed_free);
	g_hash_table_replace(kept, g_strdup_printf("%d:%s", (int)kind, path), x);
	g_mutex_unlock(&lock);
}

gpointer
cg_parsed_get(CgParsedKind kind, const char *path, const void *bytes, gsize len,
              gpointer (*parse)(BIO *in))
{
	guint8 digest[CG_SHA256_LEN];
	gpointer obj;
	BIO *b;

	if (len > G_MAXINT)
		return NULL;
	cg_sha256(bytes, len, digest);
	if ((obj = parsed_find(kind, path, digest)) != NULL)
		return obj;
	if ((b = BIO_new_mem_buf(bytes, (int)len)) != NULL)
		obj = parse(b);
	BIO_free(b);
	ERR_clear_error();
	if (obj != NULL)
		parsed_keep(kind, path, digest, obj);
	return obj;
}
