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
	X509_REQ_free(c->req);
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

static X509_REQ *
decode(const guint8 *data, gsize len, GError **error)
{
	X509_REQ *req = NULL;
	gsize i = 0;

	while (i < len && g_ascii_isspace(data[i]))
		i++;
	if (len - i >= 10 && memcmp(data + i, "-----BEGIN", 10) == 0) {
		BIO *b = BIO_new_mem_buf(data, (int)len);

		req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
	} else {
		const unsigned char *p = data;

		req = d2i_X509_REQ(NULL, &p, (long)len);
		if (req != NULL && p != data + len) {
			X509_REQ_free(req);
			g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
			            "CSR has %zu bytes after its DER structure",
			            (size_t)(data + len - p));
			return NULL;
		}
	}
	if (req == NULL)
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "not a PKCS#10 certificate request (PEM or DER)");
	return req;
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

/* Every mailbox the CSR names: SAN rfc822Name and subject emailAddress. */
static void
collect_mailboxes(X509_REQ *req, GPtrArray *seen)
{
	X509_NAME *subj = X509_REQ_get_subject_name(req);
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	int i = -1;

	while ((i = X509_NAME_get_index_by_NID(subj, NID_pkcs9_emailAddress, i)) >= 0) {
		ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));

		add_mailbox(seen, (const char *)ASN1_STRING_get0_data(s),
		            (gsize)ASN1_STRING_length(s));
	}
	if (exts != NULL) {
		GENERAL_NAMES *names = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
		int j;

		for (j = 0; names != NULL && j < sk_GENERAL_NAME_num(names); j++) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, j);

			if (gn->type == GEN_EMAIL)
				add_mailbox(seen,
				            (const char *)ASN1_STRING_get0_data(gn->d.rfc822Name),
				            (gsize)ASN1_STRING_length(gn->d.rfc822Name));
		}
		GENERAL_NAMES_free(names);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
}

CgCsr *
cg_csr_parse(const guint8 *data, gsize len, GError **error)
{
	g_autoptr(GPtrArray) mailboxes = g_ptr_array_new_with_free_func(g_free);
	CgCsr *c;
	X509_REQ *req;
	EVP_PKEY *key;

	if (len == 0 || len > MAX_CSR) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "CSR is empty or larger than %d bytes", MAX_CSR);
		return NULL;
	}
	if ((req = decode(data, len, error)) == NULL)
		return NULL;
	key = X509_REQ_get0_pubkey(req);
	if (key == NULL) {
		X509_REQ_free(req);
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "CSR public key cannot be read");
		return NULL;
	}
	if (X509_REQ_verify(req, key) != 1) {
		X509_REQ_free(req);
		g_set_error(
		    error, CG_ERROR, CG_ERROR_MALFORMED,
		    "CSR self-signature does not verify (no proof of possession of the key)");
		return NULL;
	}
	collect_mailboxes(req, mailboxes);
	if (mailboxes->len > 1) {
		X509_REQ_free(req);
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "CSR names %u different mailboxes; one certificate is for one mailbox",
		            mailboxes->len);
		return NULL;
	}
	if (mailboxes->len == 1 && strcmp(g_ptr_array_index(mailboxes, 0), "(invalid)") == 0) {
		X509_REQ_free(req);
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "CSR names an invalid mailbox");
		return NULL;
	}
	c = g_new0(CgCsr, 1);
	c->req = req;
	c->key = key;
	{
		/* The SPKI exactly as the CSR encodes it: re-encoding the key through
		 * OpenSSL's encoder would cost ten times as much. */
		unsigned char *der = NULL;
		int n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &der);

		if (n > 0)
			cg_sha256(der, (gsize)n, c->spki_sha256);
		OPENSSL_free(der);
	}
	c->key_desc = cg_policy_key_desc(key);
	if (mailboxes->len == 1)
		c->mailbox = g_strdup(g_ptr_array_index(mailboxes, 0));
	return c;
}
