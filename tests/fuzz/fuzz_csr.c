/*
 * fuzz_csr.c: libFuzzer target for the CSR decoder, checked against OpenSSL's
 * own. certgate decodes requests with templates of its own (policy/csr.c)
 * and makes keys from SPKI fields itself (policy/spki.c). The input is tried
 * as both:
 *   - a CSR: whatever cg_csr_parse accepts, d2i_X509_REQ must accept too,
 *     the self-signature must verify there, and the key must be the same;
 *   - a SubjectPublicKeyInfo: whatever key cg_spki_key makes, d2i_PUBKEY
 *     must make the same, and its canonical encoding must decode to it.
 * Stricter is allowed (a compressed point, a second SAN); looser is a
 * finding. Random bytes seldom carry a valid signature, so the second half
 * is where the key code gets its exercise.
 */
#include "policy.h"

#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <openssl/err.h>
#include <openssl/x509.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
as_spki(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	X509_PUBKEY *in = d2i_X509_PUBKEY(NULL, &p, (long)size);
	X509_PUBKEY *canon = NULL;
	X509_ALGOR *alg = NULL;
	const unsigned char *pk = NULL;
	unsigned char *der = NULL;
	EVP_PKEY *ours, *theirs, *again;
	int pklen = 0, n;
	g_autoptr(GError) err = NULL;

	if (in == NULL || X509_PUBKEY_get0_param(NULL, &pk, &pklen, &alg, in) != 1) {
		X509_PUBKEY_free(in);
		return;
	}
	{
		/* The key's bits as a BIT STRING, as the CSR decoder hands them. */
		ASN1_BIT_STRING *bits = ASN1_BIT_STRING_new();

		ASN1_BIT_STRING_set(bits, (unsigned char *)pk, pklen);
		ours = cg_spki_key(alg, bits, &canon, &err);
		ASN1_BIT_STRING_free(bits);
	}
	if (ours != NULL) {
		theirs = X509_PUBKEY_get0(in);
		if (theirs == NULL || EVP_PKEY_eq(ours, theirs) != 1)
			abort(); /* a key OpenSSL reads otherwise, or not at all */
		n = i2d_X509_PUBKEY(canon, &der);
		p = der;
		again = n > 0 ? d2i_PUBKEY(NULL, &p, n) : NULL;
		if (again == NULL || EVP_PKEY_eq(ours, again) != 1)
			abort(); /* the canonical form is another key */
		EVP_PKEY_free(again);
		OPENSSL_free(der);
		EVP_PKEY_free(ours);
		X509_PUBKEY_free(canon);
	} else if (err == NULL || canon != NULL) {
		abort();
	}
	X509_PUBKEY_free(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgCsr) csr = cg_csr_parse(data, size, &err);
	const unsigned char *p;
	X509_REQ *req;
	EVP_PKEY *theirs;

	as_spki(data, size);
	if (csr == NULL) {
		if (err == NULL || err->message == NULL || *err->message == '\0')
			abort();
		ERR_clear_error();
		return 0;
	}
	p = g_bytes_get_data(csr->der, NULL);
	req = d2i_X509_REQ(NULL, &p, (long)g_bytes_get_size(csr->der));
	if (req == NULL)
		abort(); /* accepted what OpenSSL cannot decode */
	theirs = X509_REQ_get0_pubkey(req);
	if (theirs == NULL || X509_REQ_verify(req, theirs) != 1)
		abort(); /* accepted a signature OpenSSL does not */
	if (EVP_PKEY_eq(csr->key, theirs) != 1)
		abort(); /* a different key */
	X509_REQ_free(req);
	ERR_clear_error();
	return 0;
}
