/*
 * csr.c: PKCS#10 certificate requests.
 *
 * A CSR is untrusted input: its size is capped, DER must be exact (no bytes
 * after the structure), and the self-signature must verify, which proves that
 * the sender holds the private key. Only the public key and the mailbox the
 * CSR names are taken from it.
 */
#include "policy.h"
#include "common.h"

#include <string.h>
#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define MAX_CSR (64 * 1024)

void
cg_csr_free(CgCsr *c)
{
	if (c == NULL)
		return;
	g_bytes_unref(c->der);
	EVP_PKEY_free(c->key);
	X509_PUBKEY_free(c->spki);
	g_free(c->mailbox);
	g_free(c->key_desc);
	g_free(c);
}

gboolean
cg_spki_sha256(CgPkey *key, guint8 out[32])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(key, &der);

	if (n <= 0)
		return FALSE;
	cg_sha256(der, (gsize)n, out);
	OPENSSL_free(der);
	return TRUE;
}

char *
cg_policy_key_desc(CgPkey *key)
{
	char group[64] = "";
	size_t glen = 0;

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		return g_strdup_printf("RSA %d", EVP_PKEY_get_bits(key));
	case EVP_PKEY_RSA_PSS:
		return g_strdup_printf("RSA-PSS %d", EVP_PKEY_get_bits(key));
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &glen) != 1)
			return g_strdup("EC (unknown curve)");
		if (strcmp(group, "prime256v1") == 0)
			return g_strdup("EC P-256");
		if (strcmp(group, "secp384r1") == 0)
			return g_strdup("EC P-384");
		if (strcmp(group, "secp521r1") == 0)
			return g_strdup("EC P-521");
		return g_strdup_printf("EC %s", group);
	case EVP_PKEY_ED25519:
		return g_strdup("Ed25519");
	case EVP_PKEY_ED448:
		return g_strdup("Ed448");
	default:
		return g_strdup(OBJ_nid2sn(EVP_PKEY_get_base_id(key)));
	}
}

/*
 * The request, decoded with templates of our own rather than X509_REQ: an
 * X509_REQ decodes its public key through OpenSSL 3.0's decoder framework,
 * which builds a decoder context for every key (a quarter of the issuer's
 * time per certificate). Here the SubjectPublicKeyInfo stays two plain
 * fields, and the key is made from them directly (keys.c's spki_key()).
 * CertificationRequestInfo keeps its original encoding, so the signature is
 * checked over the bytes the requester signed.
 */
typedef struct {
	X509_ALGOR *algor;
	ASN1_BIT_STRING *public_key;
} CG_SPKI;

typedef struct {
	ASN1_ENCODING enc;
	ASN1_INTEGER *version;
	X509_NAME *subject;
	CG_SPKI *spki;
	STACK_OF(X509_ATTRIBUTE) * attributes;
} CG_CSR_INFO;

typedef struct {
	CG_CSR_INFO *info;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *signature;
} CG_CSR;

/* clang-format off */
ASN1_SEQUENCE(CG_SPKI) = {
	ASN1_SIMPLE(CG_SPKI, algor, X509_ALGOR),
	ASN1_SIMPLE(CG_SPKI, public_key, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(CG_SPKI)

/* attributes is OPTIONAL as in OpenSSL's X509_REQ_INFO: some requesters
 * leave out an empty set, against PKCS#10. */
ASN1_SEQUENCE_enc(CG_CSR_INFO, enc, 0) = {
	ASN1_SIMPLE(CG_CSR_INFO, version, ASN1_INTEGER),
	ASN1_SIMPLE(CG_CSR_INFO, subject, X509_NAME),
	ASN1_SIMPLE(CG_CSR_INFO, spki, CG_SPKI),
	ASN1_IMP_SET_OF_OPT(CG_CSR_INFO, attributes, X509_ATTRIBUTE, 0)
} static_ASN1_SEQUENCE_END_ref(CG_CSR_INFO, CG_CSR_INFO)

ASN1_SEQUENCE(CG_CSR) = {
	ASN1_SIMPLE(CG_CSR, info, CG_CSR_INFO),
	ASN1_SIMPLE(CG_CSR, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(CG_CSR, signature, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(CG_CSR)
    /* clang-format on */

    static void csr_asn1_free(CG_CSR * c)
{
	ASN1_item_free((ASN1_VALUE *)c, ASN1_ITEM_rptr(CG_CSR));
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CG_CSR, csr_asn1_free)

static gboolean
malformed(GError **error, const char *what)
{
	g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "%s", what);
	return FALSE;
}

/* PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER, to DER
 * and the decoded structure. */
static CG_CSR *
decode(const guint8 *data, gsize len, GBytes **der, GError **error)
{
	unsigned char *pem_der = NULL;
	const unsigned char *p, *start;
	long n = 0;
	gsize i = 0;
	CG_CSR *c;

	while (i < len && g_ascii_isspace(data[i]))
		i++;
	if (len - i >= 10 && memcmp(data + i, "-----BEGIN", 10) == 0) {
		BIO *b = BIO_new_mem_buf(data, (int)len);

		if (b == NULL || PEM_bytes_read_bio(&pem_der, &n, NULL, PEM_STRING_X509_REQ, b,
		                                    NULL, NULL) != 1) {
			BIO_free(b);
			malformed(error, "not a PKCS#10 certificate request (PEM or DER)");
			return NULL;
		}
		BIO_free(b);
		start = pem_der;
	} else {
		start = data;
		n = (long)len;
	}
	p = start;
	c = (CG_CSR *)ASN1_item_d2i(NULL, &p, n, ASN1_ITEM_rptr(CG_CSR));
	if (c == NULL) {
		OPENSSL_free(pem_der);
		malformed(error, "not a PKCS#10 certificate request (PEM or DER)");
		return NULL;
	}
	if (p != start + n) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "CSR has %ld bytes after its DER structure", (long)(start + n - p));
		csr_asn1_free(c);
		OPENSSL_free(pem_der);
		return NULL;
	}
	*der = g_bytes_new(start, (gsize)n);
	OPENSSL_free(pem_der);
	return c;
}

/* The requested extensions, or NULL with *bad when there is more than one
 * extensionRequest attribute or it does not decode. Caller frees. */
static STACK_OF(X509_EXTENSION) * requested_extensions(CG_CSR_INFO *info, gboolean *bad)
{
	static const int nids[] = {NID_ext_req, NID_ms_ext_req};
	STACK_OF(X509_EXTENSION) *exts = NULL;
	gsize k;

	*bad = FALSE;
	for (k = 0; k < G_N_ELEMENTS(nids); k++) {
		int i = -1;

		while ((i = X509at_get_attr_by_NID(info->attributes, nids[k], i)) >= 0) {
			X509_ATTRIBUTE *a = X509at_get_attr(info->attributes, i);
			ASN1_TYPE *t = X509_ATTRIBUTE_get0_type(a, 0);

			if (exts != NULL || X509_ATTRIBUTE_count(a) != 1 || t == NULL ||
			    t->type != V_ASN1_SEQUENCE ||
			    (exts = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(X509_EXTENSIONS),
			                                      t)) == NULL) {
				sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
				*bad = TRUE;
				return NULL;
			}
		}
	}
	return exts;
}

static void
add_mailbox(GPtrArray *seen, const char *raw, gsize len)
{
	g_autofree char *copy = g_strndup(raw, len);
	char *norm;
	guint i;

	if (strlen(copy) != len)
		return; /* an embedded NUL: not a mailbox */
	norm = cg_addr_normalise(copy, NULL);
	if (norm == NULL) {
		g_ptr_array_add(seen, g_strdup("(invalid)"));
		return;
	}
	for (i = 0; i < seen->len; i++)
		if (cg_addr_equal(g_ptr_array_index(seen, i), norm)) {
			g_free(norm);
			return;
		}
	g_ptr_array_add(seen, norm);
}

/* An otherName SmtpUTF8Mailbox (RFC 9598): a UTF8String; other otherNames
 * name no mailbox. One that is not a UTF8String is an invalid mailbox. */
static void
add_utf8_mailbox(GPtrArray *seen, const OTHERNAME *on)
{
	if (OBJ_obj2nid(on->type_id) != NID_id_on_SmtpUTF8Mailbox)
		return;
	if (on->value == NULL || on->value->type != V_ASN1_UTF8STRING ||
	    !g_utf8_validate((const char *)ASN1_STRING_get0_data(on->value->value.utf8string),
	                     ASN1_STRING_length(on->value->value.utf8string), NULL)) {
		g_ptr_array_add(seen, g_strdup("(invalid)"));
		return;
	}
	add_mailbox(seen, (const char *)ASN1_STRING_get0_data(on->value->value.utf8string),
	            (gsize)ASN1_STRING_length(on->value->value.utf8string));
}

/* Every mailbox the CSR names: SAN rfc822Name and SmtpUTF8Mailbox, and
 * subject emailAddress.
 * FALSE when its extensions cannot be read or name two SANs (which
 * X509V3_get_d2i would quietly treat as none). */
static gboolean
collect_mailboxes(CG_CSR_INFO *info, GPtrArray *seen, GError **error)
{
	STACK_OF(X509_EXTENSION) * exts;
	GENERAL_NAMES *names = NULL;
	gboolean bad;
	int i = -1, j;

	while ((i = X509_NAME_get_index_by_NID(info->subject, NID_pkcs9_emailAddress, i)) >= 0) {
		ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(info->subject, i));

		add_mailbox(seen, (const char *)ASN1_STRING_get0_data(s),
		            (gsize)ASN1_STRING_length(s));
	}
	exts = requested_extensions(info, &bad);
	if (bad)
		return malformed(error, "CSR extension request cannot be read");
	for (j = 0; j < sk_X509_EXTENSION_num(exts); j++) {
		X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, j);

		if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) != NID_subject_alt_name)
			continue;
		if (names != NULL || (names = X509V3_EXT_d2i(e)) == NULL) {
			GENERAL_NAMES_free(names);
			sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
			return malformed(error, names ? "CSR asks for two subjectAltName extensions"
			                              : "CSR subjectAltName cannot be read");
		}
	}
	for (j = 0; names != NULL && j < sk_GENERAL_NAME_num(names); j++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, j);

		if (gn->type == GEN_EMAIL)
			add_mailbox(seen, (const char *)ASN1_STRING_get0_data(gn->d.rfc822Name),
			            (gsize)ASN1_STRING_length(gn->d.rfc822Name));
		else if (gn->type == GEN_OTHERNAME)
			add_utf8_mailbox(seen, gn->d.otherName);
	}
	GENERAL_NAMES_free(names);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return TRUE;
}

static CgCsr *
parse(const guint8 *data, gsize len, GError **error)
{
	g_autoptr(GPtrArray) mailboxes = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(CG_CSR) req = NULL;
	g_autoptr(GBytes) der = NULL;
	X509_PUBKEY *spki = NULL;
	EVP_PKEY *key;
	CgCsr *c;

	if (len == 0 || len > MAX_CSR) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "CSR is empty or larger than %d bytes", MAX_CSR);
		return NULL;
	}
	if ((req = decode(data, len, &der, error)) == NULL)
		return NULL;
	if (ASN1_INTEGER_get(req->info->version) != 0) {
		malformed(error, "CSR version is not 1 (the only one PKCS#10 defines)");
		return NULL;
	}
	key = cg_spki_key(req->info->spki->algor, req->info->spki->public_key, &spki, error);
	if (key == NULL)
		return NULL;
	if (ASN1_item_verify_ex(ASN1_ITEM_rptr(CG_CSR_INFO), req->sig_alg, req->signature,
	                        req->info, NULL, key, NULL, NULL) != 1) {
		ERR_clear_error();
		EVP_PKEY_free(key);
		X509_PUBKEY_free(spki);
		malformed(error,
		          "CSR self-signature does not verify (no proof of possession of the key)");
		return NULL;
	}
	if (!collect_mailboxes(req->info, mailboxes, error)) {
		EVP_PKEY_free(key);
		X509_PUBKEY_free(spki);
		return NULL;
	}
	if (mailboxes->len > 1 ||
	    (mailboxes->len == 1 && strcmp(g_ptr_array_index(mailboxes, 0), "(invalid)") == 0)) {
		if (mailboxes->len > 1)
			g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
			            "CSR names %u different mailboxes; one certificate is for one "
			            "mailbox",
			            mailboxes->len);
		else
			malformed(error, "CSR names an invalid mailbox");
		EVP_PKEY_free(key);
		X509_PUBKEY_free(spki);
		return NULL;
	}
	c = g_new0(CgCsr, 1);
	c->der = g_steal_pointer(&der);
	c->key = key;
	c->spki = spki;
	{
		unsigned char *enc = NULL;
		int n = i2d_X509_PUBKEY(spki, &enc);

		if (n > 0)
			cg_sha256(enc, (gsize)n, c->spki_sha256);
		OPENSSL_free(enc);
	}
	c->key_desc = cg_policy_key_desc(key);
	if (mailboxes->len == 1)
		c->mailbox = g_strdup(g_ptr_array_index(mailboxes, 0));
	return c;
}

CgCsr *
cg_csr_parse(const guint8 *data, gsize len, GError **error)
{
	return parse(data, len, error);
}
