/*
 * spki.c: a public key from the two fields of its SubjectPublicKeyInfo, and
 * the one encoding of that key a certificate may carry.
 *
 * Canonical encodings close a gap: the checks that compare keys (one of the
 * CA's own, revoked for key compromise, certified for another mailbox) compare
 * SPKI digests, so the same key sent in another encoding (a compressed EC
 * point, RSA parameters left out) must not look like a new key.
 */
#include "policy.h"
#include "common.h"

#include <limits.h>
#include <string.h>
#include <time.h>
#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

typedef struct {
	ASN1_INTEGER *n;
	ASN1_INTEGER *e;
} CG_RSA_PUB;

/* clang-format off */
ASN1_SEQUENCE(CG_RSA_PUB) = {
	ASN1_SIMPLE(CG_RSA_PUB, n, ASN1_INTEGER),
	ASN1_SIMPLE(CG_RSA_PUB, e, ASN1_INTEGER)
} static_ASN1_SEQUENCE_END(CG_RSA_PUB)
                            /* clang-format on */

                            static EVP_PKEY
                            * unreadable(GError * *error, const char *why)
{
	ERR_clear_error();
	g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "CSR public key cannot be read: %s", why);
	return NULL;
}

/* An X509_PUBKEY holding algorithm obj with ptype/pval, and a copy of bits.
 * Takes obj and pval, also when it fails. */
static X509_PUBKEY *
pubkey_of(ASN1_OBJECT *obj, int ptype, void *pval, const unsigned char *bits, gsize len)
{
	X509_PUBKEY *pk = X509_PUBKEY_new();
	unsigned char *copy = OPENSSL_memdup(bits, len);

	if (pk == NULL || copy == NULL || obj == NULL ||
	    X509_PUBKEY_set0_param(pk, obj, ptype, pval, copy, (int)len) != 1) {
		X509_PUBKEY_free(pk);
		OPENSSL_free(copy);
		ASN1_OBJECT_free(obj);
		if (ptype == V_ASN1_OBJECT)
			ASN1_OBJECT_free(pval);
		else if (pval != NULL)
			ASN1_STRING_free(pval);
		return NULL;
	}
	return pk;
}

static EVP_PKEY *
from_params(const char *type, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *key = NULL;

	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		key = NULL;
	EVP_PKEY_CTX_free(ctx);
	return key;
}

static EVP_PKEY *
rsa_key(int ptype, const unsigned char *p, gsize len, X509_PUBKEY **canonical, GError **error)
{
	const unsigned char *q = p;
	CG_RSA_PUB *r;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *n = NULL, *e = NULL;
	unsigned char *der = NULL;
	EVP_PKEY *key = NULL;
	int dlen;

	if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
		return unreadable(error, "rsaEncryption parameters must be NULL");
	r = (CG_RSA_PUB *)ASN1_item_d2i(NULL, &q, (long)len, ASN1_ITEM_rptr(CG_RSA_PUB));
	if (r == NULL || q != p + len) {
		ASN1_item_free((ASN1_VALUE *)r, ASN1_ITEM_rptr(CG_RSA_PUB));
		return unreadable(error, "not an RSAPublicKey");
	}
	if (ASN1_STRING_type(r->n) != V_ASN1_INTEGER || ASN1_STRING_type(r->e) != V_ASN1_INTEGER) {
		ASN1_item_free((ASN1_VALUE *)r, ASN1_ITEM_rptr(CG_RSA_PUB));
		return unreadable(error, "negative RSA modulus or exponent");
	}
	n = ASN1_INTEGER_to_BN(r->n, NULL);
	e = ASN1_INTEGER_to_BN(r->e, NULL);
	/* DER again: a BER length in the request must not make a new key. */
	dlen = ASN1_item_i2d((ASN1_VALUE *)r, &der, ASN1_ITEM_rptr(CG_RSA_PUB));
	ASN1_item_free((ASN1_VALUE *)r, ASN1_ITEM_rptr(CG_RSA_PUB));
	if (n != NULL && e != NULL && dlen > 0 && (bld = OSSL_PARAM_BLD_new()) != NULL &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1 &&
	    (params = OSSL_PARAM_BLD_to_param(bld)) != NULL)
		key = from_params("RSA", params);
	if (key != NULL && (*canonical = pubkey_of(OBJ_nid2obj(NID_rsaEncryption), V_ASN1_NULL,
	                                           NULL, der, (gsize)dlen)) == NULL) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	OPENSSL_free(der);
	return key != NULL ? key : unreadable(error, "not a usable RSA key");
}

/* The curves a template is kept for: those a certificate may carry. */
static const int template_curves[] = {NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1};

/* A key holding only curve's parameters, made once per curve and kept: a
 * key built from it (ec_point_key) shares its group instead of building
 * the group again from its name, which was most of reading an EC key.
 * NULL for another curve, or if it cannot be made. */
static EVP_PKEY *
curve_template(int curve)
{
	static gsize once[G_N_ELEMENTS(template_curves)];
	static EVP_PKEY *keys[G_N_ELEMENTS(template_curves)];
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(template_curves) && template_curves[i] != curve; i++)
		;
	if (i == G_N_ELEMENTS(template_curves))
		return NULL;
	if (g_once_init_enter(&once[i])) {
		OSSL_PARAM params[2];
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);

		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
		                                             (char *)OBJ_nid2sn(curve), 0);
		params[1] = OSSL_PARAM_construct_end();
		if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
		    EVP_PKEY_fromdata(ctx, &keys[i], EVP_PKEY_KEY_PARAMETERS, params) != 1)
			keys[i] = NULL;
		EVP_PKEY_CTX_free(ctx);
		ERR_clear_error();
		g_once_init_leave(&once[i], 1);
	}
	return keys[i];
}

/* The key at point p (uncompressed) of curve: from the curve's template,
 * else from the curve's name. The point is decoded and checked to be on
 * the curve either way (EC_POINT_oct2point). NULL if it is not a point. */
static EVP_PKEY *
ec_point_key(int curve, const char *name, const unsigned char *p, gsize len)
{
	EVP_PKEY *tpl = curve_template(curve), *key;
	OSSL_PARAM params[3];

	if (tpl != NULL) {
		key = EVP_PKEY_new();
		if (key == NULL || EVP_PKEY_copy_parameters(key, tpl) != 1 ||
		    EVP_PKEY_set1_encoded_public_key(key, p, len) != 1) {
			EVP_PKEY_free(key);
			return NULL;
		}
		return key;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)name, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)p, len);
	params[2] = OSSL_PARAM_construct_end();
	return from_params("EC", params);
}

static EVP_PKEY *
ec_key(int ptype, const void *pval, const unsigned char *p, gsize len, X509_PUBKEY **canonical,
       GError **error)
{
	int curve;
	const char *name;
	EVP_PKEY *key;

	if (ptype != V_ASN1_OBJECT)
		return unreadable(error, "EC keys must name their curve");
	curve = OBJ_obj2nid(pval);
	if (curve == NID_undef || (name = OBJ_nid2sn(curve)) == NULL)
		return unreadable(error, "unknown EC curve");
	/* 0x04: uncompressed. Its length is then checked by the import. */
	if (len == 0 || p[0] != 0x04)
		return unreadable(error, "the EC point must be uncompressed (RFC 5480)");
	if ((key = ec_point_key(curve, name, p, len)) == NULL)
		return unreadable(error, "not a point of its curve");
	*canonical = pubkey_of(OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
	                       OBJ_nid2obj(curve), p, len);
	if (*canonical == NULL) {
		EVP_PKEY_free(key);
		return unreadable(error, "out of memory");
	}
	return key;
}

static EVP_PKEY *
eddsa_key(int nid, int ptype, const unsigned char *p, gsize len, X509_PUBKEY **canonical,
          GError **error)
{
	EVP_PKEY *key;

	if (ptype != V_ASN1_UNDEF)
		return unreadable(error, "EdDSA keys take no parameters");
	key = EVP_PKEY_new_raw_public_key_ex(NULL, nid == NID_ED25519 ? "ED25519" : "ED448", NULL,
	                                     p, len);
	if (key == NULL)
		return unreadable(error, "wrong EdDSA key length");
	if ((*canonical = pubkey_of(OBJ_nid2obj(nid), V_ASN1_UNDEF, NULL, p, len)) == NULL) {
		EVP_PKEY_free(key);
		return unreadable(error, "out of memory");
	}
	return key;
}

/* Any other type, through OpenSSL's decoders: the policy names and refuses
 * it. *canonical is the SPKI as it came. */
static EVP_PKEY *
other_key(const ASN1_OBJECT *obj, int ptype, const void *pval, const unsigned char *p, gsize len,
          X509_PUBKEY **canonical, GError **error)
{
	X509_PUBKEY *pk = NULL;
	unsigned char *der = NULL;
	const unsigned char *q;
	EVP_PKEY *key = NULL;
	void *param = NULL;
	int n;

	/* A parameter is an object, NULL/absent, or a string of some type; not
	 * BOOLEAN (its value is no pointer) nor EOC (which X509_ALGOR_set0 would
	 * not take). */
	if (ptype == V_ASN1_BOOLEAN || ptype == V_ASN1_EOC)
		return unreadable(error, "unknown or malformed key");
	if (ptype == V_ASN1_OBJECT)
		param = OBJ_dup(pval);
	else if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL)
		param = ASN1_STRING_dup(pval);
	pk = pubkey_of(OBJ_dup(obj), ptype, param, p, len);
	if (pk != NULL && (n = i2d_X509_PUBKEY(pk, &der)) > 0) {
		q = der;
		key = d2i_PUBKEY(NULL, &q, n);
	}
	OPENSSL_free(der);
	if (key == NULL) {
		X509_PUBKEY_free(pk);
		return unreadable(error, "unknown or malformed key");
	}
	*canonical = pk;
	return key;
}

CgPkey *
cg_spki_key(const CgX509Algor *alg, const CgAsn1BitString *bits, CgX509Pubkey **canonical,
            GError **error)
{
	const ASN1_OBJECT *obj = NULL;
	const void *pval = NULL;
	int ptype = V_ASN1_UNDEF, nid;
	const unsigned char *p = ASN1_STRING_get0_data(bits);
	gsize len = (gsize)ASN1_STRING_length(bits);

	*canonical = NULL;
	/* A key is whole octets: no unused bits at the end. */
	if ((bits->flags & ASN1_STRING_FLAG_BITS_LEFT) && (bits->flags & 0x07) != 0)
		return unreadable(error, "the key's BIT STRING has unused bits");
	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	nid = OBJ_obj2nid(obj);
	switch (nid) {
	case NID_rsaEncryption:
		return rsa_key(ptype, p, len, canonical, error);
	case NID_X9_62_id_ecPublicKey:
		return ec_key(ptype, pval, p, len, canonical, error);
	case NID_ED25519:
	case NID_ED448:
		return eddsa_key(nid, ptype, p, len, canonical, error);
	default:
		return other_key(obj, ptype, pval, p, len, canonical, error);
	}
}

/* A library context with the null provider only: no decoders to try. */
static OSSL_LIB_CTX *
without_algorithms(void)
{
	static gsize once;
	static OSSL_LIB_CTX *ctx;

	if (g_once_init_enter(&once)) {
		OSSL_LIB_CTX *c = OSSL_LIB_CTX_new();

		if (c != NULL && OSSL_PROVIDER_load(c, "null") == NULL) {
			OSSL_LIB_CTX_free(c);
			c = NULL;
		}
		ctx = c;
		g_once_init_leave(&once, 1);
	}
	return ctx;
}

gint64
cg_asn1_time_unix(const CgAsn1Time *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (gint64)timegm(&tm);
}

CgX509 *
cg_x509_read(const guint8 *der, gsize len)
{
	OSSL_LIB_CTX *ctx = without_algorithms();
	const unsigned char *p = der;
	X509 *x = NULL;

	if (len > LONG_MAX || (ctx != NULL && (x = X509_new_ex(ctx, NULL)) == NULL))
		return NULL;
	/* On failure d2i frees the object it was given. */
	if (d2i_X509(&x, &p, (long)len) == NULL || p != der + len) {
		X509_free(x);
		x = NULL;
	}
	ERR_clear_error(); /* the SHA-1 fingerprint, not made without algorithms */
	return x;
}
