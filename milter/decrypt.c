/*
 * decrypt.c: mail encrypted to the gateway (S/MIME enveloped-data, or
 * authEnveloped-data with AES-GCM, RFC 5083), decrypted with
 * GatewayEncryptionKey, and with the previous key (PATH.previous) while the
 * current certificate is younger than GatewayEncryptionOverlap.
 *
 *   cg_decrypt_cms()      CMS DER -> the plain MIME entity, at most max bytes
 *                         (a larger one, or compressed content, is refused
 *                         while it is written: never buffered whole)
 *   cg_decrypt_message()  an encrypted message -> the message with its body
 *                         decrypted, parsed again
 * Errors: CG_ERROR_NOT_DECRYPTABLE (encrypted to another certificate, which
 * it names; or damaged), CG_ERROR_MALFORMED (not CMS), CG_ERROR_TOO_LARGE,
 * CG_ERROR_INTERNAL (the key file is there but unreadable: defer).
 * Keys are read from their files at each use, so that a rekey applies at
 * once; a key file must be owned by this process's user and private to it.
 * What a file's bytes parse to is used again while the file holds the same
 * bytes (parsed.c): about a millisecond of each message for an RSA-3072 key.
 * Never: writes decrypted content anywhere but memory.
 */
#include "milter.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* ---- a write-only BIO that refuses to grow beyond a limit ---- */

typedef struct {
	GByteArray *data;
	gsize max;
	gboolean exceeded;
} Sink;

static int
sink_write(BIO *b, const char *in, int n)
{
	Sink *s = BIO_get_data(b);

	if (n < 0 || s->data->len + (gsize)n > s->max) {
		s->exceeded = TRUE;
		return -1;
	}
	g_byte_array_append(s->data, (const guint8 *)in, (guint)n);
	return n;
}

static long
sink_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b, (void)num, (void)ptr;
	return cmd == BIO_CTRL_FLUSH || cmd == BIO_CTRL_PENDING ? 1 : 0;
}

static BIO *
sink_new(Sink *s)
{
	static BIO_METHOD *m;
	static GMutex lock;
	BIO *b;

	g_mutex_lock(&lock);
	if (m == NULL) {
		m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "certgate bounded sink");
		BIO_meth_set_write(m, sink_write);
		BIO_meth_set_ctrl(m, sink_ctrl);
	}
	g_mutex_unlock(&lock);
	if ((b = BIO_new(m)) != NULL) {
		BIO_set_data(b, s);
		BIO_set_init(b, 1);
	}
	return b;
}

/* ---- the keys ---- */

typedef struct {
	X509 *cert;
	EVP_PKEY *key;
} Pair;

static void
pair_clear(Pair *p)
{
	X509_free(p->cert);
	EVP_PKEY_free(p->key);
	memset(p, 0, sizeof(*p));
}

/* A key or certificate file is a few kilobytes; more is not one. */
#define PEM_MAX (256 * 1024)

/* The bytes of the open file fd (at most PEM_MAX), or NULL; size, the
 * file's size when opened, sizes the buffer so that it is not moved (and
 * a copy left behind) while it is filled. */
static GByteArray *
read_all(int fd, off_t size)
{
	GByteArray *b = g_byte_array_sized_new((guint)CLAMP(size, 0, PEM_MAX) + 1);
	guint8 buf[4096];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || b->len + (gsize)n > PEM_MAX) {
			OPENSSL_cleanse(b->data, b->len);
			g_byte_array_unref(b);
			OPENSSL_cleanse(buf, sizeof(buf));
			return NULL;
		}
		g_byte_array_append(b, buf, (guint)n);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return b;
}

static gpointer
parse_key(BIO *in)
{
	return PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
}

static gpointer
parse_cert(BIO *in)
{
	return PEM_read_bio_X509(in, NULL, NULL, NULL);
}

/* The key in path: a regular file of this process's user, private to it.
 * NULL with *absent when there is no such file. */
static EVP_PKEY *
key_load(const char *path, gboolean *absent, GError **error)
{
	struct stat st;
	EVP_PKEY *k = NULL;
	GByteArray *bytes;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	*absent = fd < 0 && errno == ENOENT;
	if (fd < 0) {
		if (!*absent)
			g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "GatewayEncryptionKey %s: %s",
			            path, g_strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL,
		            "GatewayEncryptionKey %s must be a file of this user, readable by it alone",
		            path);
		close(fd);
		return NULL;
	}
	bytes = read_all(fd, st.st_size);
	close(fd);
	if (bytes == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL,
		            "GatewayEncryptionKey %s: unreadable", path);
		return NULL;
	}
	k = cg_parsed_get(CG_PARSED_KEY, path, bytes->data, bytes->len, parse_key);
	OPENSSL_cleanse(bytes->data, bytes->len);
	g_byte_array_unref(bytes);
	if (k == NULL)
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "GatewayEncryptionKey %s: no key", path);
	ERR_clear_error();
	return k;
}

static X509 *
cert_load(const char *path)
{
	g_autofree char *pem = NULL;
	gsize len = 0;

	if (!g_file_get_contents(path, &pem, &len, NULL) || len > PEM_MAX)
		return NULL;
	return cg_parsed_get(CG_PARSED_CERT, path, pem, len, parse_cert);
}

/* The current pair, and the previous one while within the overlap. FALSE
 * only when a key file is there but cannot be used. */
static gboolean
load_pairs(const CgConf *conf, gint64 now, Pair pairs[2], guint *n, GError **error)
{
	g_autofree char *pc = g_strconcat(conf->gateway_enc_certificate, ".previous", NULL);
	g_autofree char *pk = g_strconcat(conf->gateway_enc_key, ".previous", NULL);
	gboolean absent;

	*n = 0;
	pairs[0].key = key_load(conf->gateway_enc_key, &absent, error);
	if (pairs[0].key == NULL)
		return absent;
	if ((pairs[0].cert = cert_load(conf->gateway_enc_certificate)) == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "GatewayEncryptionCertificate %s: none",
		            conf->gateway_enc_certificate);
		pair_clear(&pairs[0]);
		return FALSE;
	}
	*n = 1;
	/* The previous key decrypts while the current certificate is younger
	 * than the overlap: mail encrypted by clients that have not seen the
	 * new one yet. */
	if (cg_asn1_time_unix(X509_get0_notBefore(pairs[0].cert)) + conf->gateway_enc_overlap <=
	    now)
		return TRUE;
	pairs[1].key = key_load(pk, &absent, error);
	if (pairs[1].key == NULL)
		return absent;
	if ((pairs[1].cert = cert_load(pc)) == NULL) {
		pair_clear(&pairs[1]);
		return TRUE;
	}
	*n = 2;
	return TRUE;
}

/* "issuer CN=..., serial 0x..." of each key-transport recipient. */
static char *
recipients(CMS_ContentInfo *cms)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	GString *out = g_string_new(NULL);
	int i;

	for (i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		ASN1_OCTET_STRING *keyid = NULL;
		X509_NAME *issuer = NULL;
		ASN1_INTEGER *sno = NULL;

		if (out->len > 0)
			g_string_append(out, "; ");
		if (CMS_RecipientInfo_type(ri) != CMS_RECIPINFO_TRANS ||
		    CMS_RecipientInfo_ktri_get0_signer_id(ri, &keyid, &issuer, &sno) != 1) {
			g_string_append(out, "a recipient of another kind");
		} else if (issuer != NULL && sno != NULL) {
			char *n = X509_NAME_oneline(issuer, NULL, 0);
			BIGNUM *bn = ASN1_INTEGER_to_BN(sno, NULL);
			char *hex = bn ? BN_bn2hex(bn) : NULL;
			g_autofree char *safe = cg_text_safe(n, -1, 120);

			g_string_append_printf(out, "issuer %s, serial %s", safe, hex ? hex : "?");
			OPENSSL_free(n);
			OPENSSL_free(hex);
			BN_free(bn);
		} else {
			g_string_append(out, "a subject key identifier");
		}
	}
	ERR_clear_error();
	return g_string_free(out, FALSE);
}

static char *
serial_of(X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	char *out = g_strdup(hex ? hex : "?");

	OPENSSL_free(hex);
	BN_free(bn);
	return out;
}

static gboolean
not_ours(CMS_ContentInfo *cms, const Pair *current, guint n, GError **error)
{
	g_autofree char *who = recipients(cms);
	g_autofree char *ours = n > 0 ? serial_of(current->cert) : NULL;

	if (n == 0)
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_DECRYPTABLE,
		            "the message is encrypted, and this gateway takes no encrypted mail; "
		            "send it unencrypted");
	else
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_DECRYPTABLE,
		            "the message is encrypted to a certificate that is not the gateway's (%s); "
		            "send it unencrypted or encrypt it to the gateway's certificate (serial "
		            "%s, sent with every mail from the CA)",
		            who, ours);
	return FALSE;
}

GBytes *
cg_decrypt_cms(const CgConf *conf, GBytes *der, gsize max, gint64 now, GError **error)
{
	const unsigned char *p = g_bytes_get_data(der, NULL);
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)g_bytes_get_size(der));
	Pair pairs[2] = {{0}};
	Sink sink = {g_byte_array_new(), max, FALSE};
	GBytes *out = NULL;
	guint n = 0, i;
	int type = cms ? OBJ_obj2nid(CMS_get0_type(cms)) : NID_undef;

	if (type != NID_pkcs7_enveloped && type != NID_id_smime_ct_authEnvelopedData) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "the encrypted part is not CMS enveloped-data (damaged or truncated?)");
		goto done;
	}
	if (!load_pairs(conf, now, pairs, &n, error))
		goto done;
	for (i = 0; i < n && out == NULL; i++) {
		BIO *b;
		int ok;

		/* The recipient for this certificate only: no trying of the
		 * key against every recipient (and so no padding oracle). */
		if (CMS_decrypt_set1_pkey_and_peer(cms, pairs[i].key, pairs[i].cert, NULL) != 1) {
			ERR_clear_error();
			continue;
		}
		g_byte_array_set_size(sink.data, 0);
		b = sink_new(&sink);
		ok = b != NULL && CMS_decrypt(cms, NULL, NULL, NULL, b, CMS_BINARY) == 1;
		BIO_free(b);
		ERR_clear_error();
		if (sink.exceeded) {
			g_set_error(error, CG_ERROR, CG_ERROR_TOO_LARGE,
			            "the decrypted message is larger than %" G_GSIZE_FORMAT " bytes",
			            max);
			goto done;
		}
		if (!ok) {
			g_set_error(error, CG_ERROR, CG_ERROR_NOT_DECRYPTABLE,
			            "the message could not be decrypted (damaged in transit?); send it "
			            "again");
			goto done;
		}
		out = g_byte_array_free_to_bytes(sink.data); /* taken, not copied */
		sink.data = g_byte_array_new();
	}
	if (out == NULL && (error == NULL || *error == NULL))
		not_ours(cms, &pairs[0], n, error);
done:
	for (i = 0; i < G_N_ELEMENTS(pairs); i++)
		pair_clear(&pairs[i]);
	g_byte_array_unref(sink.data);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return out;
}

/* The decrypted entity is taken as a message body: not encrypted again, not
 * compressed (RFC 3274: a small file that would expand without bound). */
static gboolean
plain_acceptable(GBytes *plain, GError **error)
{
	gsize len;
	const char *p = g_bytes_get_data(plain, &len);
	const char *end;
	gsize hlen;
	g_autoptr(GBytes) nested = NULL;

	/* An empty content (its bytes are then NULL): nothing to take. */
	if (len == 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "the encrypted message is empty; encrypt the signed message itself");
		return FALSE;
	}
	end = g_strstr_len(p, (gssize)len, "\r\n\r\n");
	hlen = end ? (gsize)(end - p) : MIN(len, 4096);
	nested = cg_mail_entity_enveloped(plain);
	if (nested != NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "the message is encrypted twice; encrypt it once");
		return FALSE;
	}
	if (g_strstr_len(p, (gssize)hlen, "compressed-data") != NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "compressed content is not taken; send it uncompressed");
		return FALSE;
	}
	return TRUE;
}

CgMail *
cg_decrypt_message(const CgConf *conf, const CgMail *mail, gint64 now, GBytes **decrypted,
                   GError **error)
{
	g_autoptr(GBytes) plain = NULL, raw = NULL;
	CgMailLimits limits;
	CgMail *inner;

	plain = cg_decrypt_cms(conf, mail->smime.signature, (gsize)conf->max_message_size, now,
	                       error);
	if (plain == NULL)
		return NULL;
	if (!plain_acceptable(plain, error))
		return NULL;
	raw = cg_mail_replace_body(mail->raw, plain);
	cg_mail_limits_default(&limits);
	limits.max_size = (gsize)conf->max_message_size;
	if ((inner = cg_mail_parse(raw, &mail->envelope, &limits, error)) == NULL)
		return NULL;
	if (decrypted != NULL)
		*decrypted = g_bytes_ref(raw);
	/* The bytes as received stay the message's: DKIM signed those. */
	g_bytes_unref(inner->raw);
	inner->raw = g_bytes_ref(mail->raw);
	return inner;
}
