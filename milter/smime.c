/*
 * smime.c: S/MIME signatures on letters (and later on enrolments and
 * revocations), verified with OpenSSL CMS over the exact bytes mailparse
 * extracted.
 *
 * In order, each with its own text:
 *   not signed / more than one signer
 *   unsupported algorithm     SHA-1 or MD5 digests, RSA under 2048 bits
 *   bad signature             the signature does not verify over the content
 *   untrusted                 the signer does not chain to the trust anchors
 *                             (intermediates from the message), or lacks
 *                             emailProtection (when it has an EKU)
 *   expired                   the signer is not valid now or was not at the
 *                             signing time
 *   revoked                   certgate issued the signer and revoked it
 *   signer does not match     neither a SAN rfc822Name nor the subject
 *                             emailAddress is the From address (local part
 *                             exact, domain case-insensitive)
 */
#include "milter.h"
#include "common.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

static gboolean bad(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean
bad(GError **error, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *m = NULL;

	va_start(ap, fmt);
	m = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(error, CG_ERROR, CG_ERROR_BAD_SIGNATURE, "%s", m);
	ERR_clear_error();
	return FALSE;
}

/* Local part exact, domain case-insensitive. */
static gboolean
same_address(const char *a, const char *b)
{
	const char *at_a = strrchr(a, '@'), *at_b = strrchr(b, '@');

	if (at_a == NULL || at_b == NULL || at_a - a != at_b - b)
		return FALSE;
	return strncmp(a, b, (gsize)(at_a - a)) == 0 && g_ascii_strcasecmp(at_a, at_b) == 0;
}

/* TRUE when a SAN rfc822Name or the subject emailAddress of x is addr;
 * *names gets the certificate's addresses for the error text. */
static gboolean
names_address(X509 *x, const char *addr, GString *names)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	X509_NAME *subj = X509_get_subject_name(x);
	gboolean found = FALSE;
	int i;

	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *s;
		int len;

		if (g->type != GEN_EMAIL)
			continue;
		s = ASN1_STRING_get0_data(g->d.rfc822Name);
		len = ASN1_STRING_length(g->d.rfc822Name);
		if (len <= 0 || memchr(s, '\0', (size_t)len) != NULL)
			continue;
		{
			g_autofree char *v = g_strndup((const char *)s, (gsize)len);

			g_string_append_printf(names, "%s%s", names->len ? ", " : "", v);
			found = found || same_address(v, addr);
		}
	}
	GENERAL_NAMES_free(gens);
	for (i = -1; (i = X509_NAME_get_index_by_NID(subj, NID_pkcs9_emailAddress, i)) >= 0;) {
		ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
		int len = ASN1_STRING_length(d);
		const unsigned char *s = ASN1_STRING_get0_data(d);

		if (len <= 0 || memchr(s, '\0', (size_t)len) != NULL)
			continue;
		{
			g_autofree char *v = g_strndup((const char *)s, (gsize)len);

			g_string_append_printf(names, "%s%s", names->len ? ", " : "", v);
			found = found || same_address(v, addr);
		}
	}
	return found;
}

/* The signingTime attribute, or 0. */
static gint64
signing_time(CMS_SignerInfo *si)
{
	int i = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	X509_ATTRIBUTE *a = i >= 0 ? CMS_signed_get_attr(si, i) : NULL;
	ASN1_TYPE *v = a ? X509_ATTRIBUTE_get0_type(a, 0) : NULL;

	if (v == NULL)
		return 0;
	if (v->type == V_ASN1_UTCTIME || v->type == V_ASN1_GENERALIZEDTIME)
		return cg_asn1_time_unix((const ASN1_TIME *)v->value.asn1_string);
	return 0;
}

static gboolean
check_algorithms(CMS_SignerInfo *si, X509 *signer, GError **error)
{
	X509_ALGOR *dig = NULL, *sig = NULL;
	EVP_PKEY *pk = NULL;
	int nid;

	CMS_SignerInfo_get0_algs(si, &pk, NULL, &dig, &sig);
	nid = dig ? OBJ_obj2nid(dig->algorithm) : NID_undef;
	if (nid != NID_sha256 && nid != NID_sha384 && nid != NID_sha512)
		return bad(error, "unsupported algorithm: digest %s; sign with SHA-256 or better",
		           nid == NID_undef ? "unknown" : OBJ_nid2sn(nid));
	pk = X509_get0_pubkey(signer);
	if (pk == NULL)
		return bad(error, "unsupported algorithm: the signer's key cannot be read");
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA && EVP_PKEY_get_bits(pk) < 2048)
		return bad(error, "unsupported algorithm: RSA key of %d bits; at least 2048 needed",
		           EVP_PKEY_get_bits(pk));
	return TRUE;
}

/* A store of the certificates and CRLs a PEM file holds, as
 * X509_STORE_load_file takes them; NULL when it holds none. */
static gpointer
parse_anchors(BIO *in)
{
	STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(in, NULL, NULL, NULL);
	X509_STORE *st = infos != NULL ? X509_STORE_new() : NULL;
	int i, n = 0;

	for (i = 0; st != NULL && i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *x = sk_X509_INFO_value(infos, i);

		if ((x->x509 != NULL && X509_STORE_add_cert(st, x->x509) != 1) ||
		    (x->crl != NULL && X509_STORE_add_crl(st, x->crl) != 1))
			g_clear_pointer(&st, X509_STORE_free);
		else
			n += (x->x509 != NULL) + (x->crl != NULL);
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	if (n == 0)
		g_clear_pointer(&st, X509_STORE_free);
	return st;
}

/* The trust anchors in path, read for every message (a change applies to
 * the next one) and parsed again only when its bytes changed (parsed.c). */
static X509_STORE *
load_anchors(const char *path, GError **error)
{
	g_autofree char *pem = NULL;
	gsize len = 0;
	X509_STORE *st = NULL;

	if (g_file_get_contents(path, &pem, &len, NULL))
		st = cg_parsed_get(CG_PARSED_ANCHORS, path, pem, len, parse_anchors);
	if (st == NULL)
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "cannot load the trust anchors %s",
		            path);
	return st;
}

/* Chains signer to the anchors at time t, intermediates from certs. */
static int
chain_error(X509_STORE *anchors, X509 *signer, STACK_OF(X509) * certs, gint64 t)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int err = X509_V_ERR_UNSPECIFIED;

	if (ctx != NULL && X509_STORE_CTX_init(ctx, anchors, signer, certs) == 1) {
		X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);

		X509_VERIFY_PARAM_set_time(p, (time_t)t);
		X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SMIME_SIGN);
		err = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
	}
	X509_STORE_CTX_free(ctx);
	return err;
}

static gboolean
revoked_by_us(CgStore *store, X509 *x)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	g_autofree char *lower = hex ? g_ascii_strdown(hex, -1) : NULL;
	g_autoptr(CgCert) c = NULL;
	unsigned char *der = NULL;
	int len;
	gboolean r = FALSE;

	BN_free(bn);
	OPENSSL_free(hex);
	if (store == NULL || lower == NULL)
		return FALSE;
	/* Serials are stored as 32 hex digits. */
	while (strlen(lower) < 32) {
		char *p = g_strconcat("0", lower, NULL);

		g_free(lower);
		lower = p;
	}
	c = cg_store_cert_get(store, NULL, lower, NULL);
	if (c == NULL || c->status != CG_CERT_REVOKED)
		return FALSE;
	len = i2d_X509(x, &der);
	r = len > 0 && (gsize)len == g_bytes_get_size(c->der) &&
	    memcmp(der, g_bytes_get_data(c->der, NULL), (size_t)len) == 0;
	OPENSSL_free(der);
	return r;
}

void
cg_smime_result_clear(CgSmimeResult *out)
{
	if (out->content != NULL)
		g_bytes_unref(out->content);
	if (out->signer != NULL)
		g_bytes_unref(out->signer);
	memset(out, 0, sizeof(*out));
}

gboolean
cg_smime_verify(const CgMail *mail, const char *anchors_path, CgStore *store, gint64 now,
                CgSmimeResult *result, GError **error)
{
	g_autoptr(GError) err = NULL;
	const guint8 *p;
	gsize len;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) * sis;
	STACK_OF(X509) *certs = NULL, *signers = NULL;
	X509_STORE *anchors = NULL;
	BIO *in = NULL, *out = NULL;
	X509 *signer;
	gint64 st;
	int e;
	gboolean ok = FALSE;

	if (mail->smime.kind == CG_SMIME_NONE || mail->smime.signature == NULL)
		return bad(error, "the message is not S/MIME-signed; sign it with your S/MIME "
		                  "certificate");
	p = g_bytes_get_data(mail->smime.signature, &len);
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (cms == NULL || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		bad(error, "bad signature: the S/MIME part is not CMS signed-data");
		goto out;
	}
	sis = CMS_get0_SignerInfos(cms);
	if (sis == NULL || sk_CMS_SignerInfo_num(sis) != 1) {
		bad(error, "bad signature: %d signers; a letter has exactly one",
		    sis ? sk_CMS_SignerInfo_num(sis) : 0);
		goto out;
	}
	certs = CMS_get1_certs(cms);
	if (mail->smime.kind == CG_SMIME_DETACHED) {
		/*
		 * Behind a buffer filter, not a bare memory BIO: OpenSSL 3.0's
		 * CMS_verify copies a memory BIO into one of its own and leaks
		 * that copy when the signature names a digest it cannot set up.
		 */
		in = BIO_push(BIO_new(BIO_f_buffer()),
		              BIO_new_mem_buf(g_bytes_get_data(mail->smime.signed_content, NULL),
		                              (int)g_bytes_get_size(mail->smime.signed_content)));
	}
	/* What CMS_verify reads is the content: kept from an opaque signature
	 * only (a detached one's is the signed part, already held; OpenSSL
	 * reads it into a null sink). */
	if (mail->smime.kind != CG_SMIME_DETACHED)
		out = BIO_new(BIO_s_mem());
	/* The signature alone first (no chain): is the content what was signed? */
	if (CMS_verify(cms, certs, NULL, in, out, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
		bad(error, "bad signature: it does not verify over the signed content (changed in "
		           "transit?)");
		goto out;
	}
	signers = CMS_get0_signers(cms);
	signer = signers ? sk_X509_value(signers, 0) : NULL;
	if (signer == NULL) {
		bad(error, "bad signature: the signer's certificate is not in the message");
		goto out;
	}
	if (!check_algorithms(sk_CMS_SignerInfo_value(sis, 0), signer, error))
		goto out;
	if ((anchors = load_anchors(anchors_path, error)) == NULL)
		goto out;
	e = chain_error(anchors, signer, certs, now);
	if (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID) {
		bad(error, "signer certificate expired or not yet valid (%s)",
		    X509_verify_cert_error_string(e));
		goto out;
	}
	if (e != X509_V_OK) {
		bad(error, "untrusted signer: %s", X509_verify_cert_error_string(e));
		goto out;
	}
	st = signing_time(sk_CMS_SignerInfo_value(sis, 0));
	if (st != 0 && (st < cg_asn1_time_unix(X509_get0_notBefore(signer)) ||
	                st > cg_asn1_time_unix(X509_get0_notAfter(signer)))) {
		bad(error, "signer certificate expired: it was not valid at the signing time");
		goto out;
	}
	if (revoked_by_us(store, signer)) {
		bad(error, "signer certificate revoked");
		goto out;
	}
	{
		g_autoptr(GString) names = g_string_new(NULL);

		if (!names_address(signer, mail->from, names)) {
			bad(error,
			    "signer does not match From: the certificate is for %s, the mail is "
			    "from %s",
			    names->len ? names->str : "no address", mail->from);
			goto out;
		}
	}
	if (result != NULL) {
		unsigned char *der = NULL;
		int n = i2d_X509(signer, &der);

		memset(result, 0, sizeof(*result));
		if (mail->smime.kind == CG_SMIME_DETACHED) {
			result->content = g_bytes_ref(mail->smime.signed_content);
		} else {
			char *data;
			long clen = BIO_get_mem_data(out, &data);

			result->content = g_bytes_new(data, (gsize)MAX(clen, 0));
		}
		result->signer = g_bytes_new(der, (gsize)MAX(n, 0));
		result->signing_time = st;
		OPENSSL_free(der);
	}
	ok = TRUE;
out:
	(void)err;
	sk_X509_free(signers);
	sk_X509_pop_free(certs, X509_free);
	X509_STORE_free(anchors);
	BIO_free_all(in);
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return ok;
}
