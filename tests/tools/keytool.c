/*
 * keytool.c: cg-keytool, test helper for the key policy.
 *
 *   cg-keytool check CSR            parse the CSR and apply the key policy;
 *                                   prints "ok KEY" or "error CODE: message"
 *   cg-keytool smallfactor OUT.pem  a 2048-bit RSA key whose modulus is 3*q
 *   cg-keytool roca OUT.pem         a 2048-bit RSA key with the ROCA structure:
 *                                   p, q = k*M + (65537^a mod M), M the product
 *                                   of the primes up to 701, as the vulnerable
 *                                   library made them (CVE-2017-15361)
 * The keys are valid RSA keys (they sign), so the openssl CLI can make CSRs
 * with them.
 */
#include "policy.h"
#include "common.h"

#include <stdio.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

static EVP_PKEY *
rsa_from(const BIGNUM *p, const BIGNUM *q)
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *n = BN_new(), *e = BN_new(), *d = BN_new(), *p1 = BN_new(), *q1 = BN_new(),
	       *phi = BN_new(), *dp = BN_new(), *dq = BN_new(), *qi = BN_new();
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params;
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *key = NULL;

	BN_set_word(e, 65537);
	BN_mul(n, p, q, ctx);
	BN_sub(p1, p, BN_value_one());
	BN_sub(q1, q, BN_value_one());
	BN_mul(phi, p1, q1, ctx);
	if (BN_mod_inverse(d, e, phi, ctx) == NULL)
		return NULL;
	BN_mod(dp, d, p1, ctx);
	BN_mod(dq, d, q1, ctx);
	BN_mod_inverse(qi, q, p, ctx);
	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n);
	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, e);
	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_D, d);
	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_FACTOR1, p);
	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_FACTOR2, q);
	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp);
	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq);
	OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi);
	params = OSSL_PARAM_BLD_to_param(b);
	if (EVP_PKEY_fromdata_init(pc) != 1 ||
	    EVP_PKEY_fromdata(pc, &key, EVP_PKEY_KEYPAIR, params) != 1)
		key = NULL;
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(pc);
	BN_free(n);
	BN_free(e);
	BN_free(d);
	BN_free(p1);
	BN_free(q1);
	BN_free(phi);
	BN_free(dp);
	BN_free(dq);
	BN_free(qi);
	BN_CTX_free(ctx);
	return key;
}

static EVP_PKEY *
small_factor(void)
{
	BIGNUM *p = BN_new(), *q = BN_new();
	EVP_PKEY *k;

	BN_set_word(p, 3);
	/* q in [2^2046, 2^2046 + 2^2044): 3*q has exactly 2048 bits. (OpenSSL's
	 * prime generator sets the two top bits, which would make 2049.) */
	do {
		BN_rand(q, 2047, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD);
		BN_clear_bit(q, 2045);
		BN_clear_bit(q, 2044);
	} while (BN_check_prime(q, NULL, NULL) != 1);
	k = rsa_from(q, p);
	BN_free(p);
	BN_free(q);
	return k;
}

/* A 1024-bit prime k*M + (65537^a mod M). */
static BIGNUM *
roca_prime(const BIGNUM *M, BN_CTX *ctx)
{
	BIGNUM *g = BN_new(), *a = BN_new(), *r = BN_new(), *k = BN_new(), *p = BN_new();

	BN_set_word(g, 65537);
	for (;;) {
		BN_rand(a, 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
		BN_mod_exp(r, g, a, M, ctx);
		BN_rand(k, 1024 - BN_num_bits(M), BN_RAND_TOP_TWO, BN_RAND_BOTTOM_ANY);
		BN_mul(p, k, M, ctx);
		BN_add(p, p, r);
		if (BN_num_bits(p) == 1024 && BN_check_prime(p, ctx, NULL) == 1)
			break;
	}
	BN_free(g);
	BN_free(a);
	BN_free(r);
	BN_free(k);
	return p;
}

static EVP_PKEY *
roca(void)
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *M = BN_new(), *p, *q;
	EVP_PKEY *key;
	unsigned n, d;

	BN_one(M);
	for (n = 2; n <= 701; n++) {
		for (d = 2; d * d <= n && n % d != 0; d++)
			;
		if (d * d > n)
			BN_mul_word(M, n);
	}
	p = roca_prime(M, ctx);
	q = roca_prime(M, ctx);
	key = rsa_from(p, q);
	BN_free(p);
	BN_free(q);
	BN_free(M);
	BN_CTX_free(ctx);
	return key;
}

static int
write_key(const char *path, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");
	int ok = f && k && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;

	if (f)
		fclose(f);
	EVP_PKEY_free(k);
	return ok ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "check") == 0) {
		g_autofree char *data = NULL;
		g_autoptr(GError) err = NULL;
		g_autoptr(CgCsr) csr = NULL;
		gsize len;

		if (!g_file_get_contents(argv[2], &data, &len, &err)) {
			printf("error: %s\n", err->message);
			return 1;
		}
		csr = cg_csr_parse((const guint8 *)data, len, &err);
		if (csr == NULL || !cg_policy_check_key(csr->key, NULL, &err)) {
			printf("error %d: %s\n", err->code, err->message);
			return 0;
		}
		printf("ok %s%s%s\n", csr->key_desc, csr->mailbox ? " " : "",
		       csr->mailbox ? csr->mailbox : "");
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "spki") == 0) {
		g_autofree char *data = NULL, *hex = NULL;
		g_autoptr(GError) err = NULL;
		g_autoptr(CgCsr) csr = NULL;
		gsize len;

		if (!g_file_get_contents(argv[2], &data, &len, &err) ||
		    (csr = cg_csr_parse((const guint8 *)data, len, &err)) == NULL) {
			printf("error: %s\n", err->message);
			return 1;
		}
		hex = cg_hex(csr->spki_sha256, 32);
		printf("%s\n", hex);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "smallfactor") == 0)
		return write_key(argv[2], small_factor());
	if (argc == 3 && strcmp(argv[1], "roca") == 0)
		return write_key(argv[2], roca());
	fprintf(stderr, "usage: cg-keytool check CSR | spki CSR | smallfactor OUT | roca OUT\n");
	return 2;
}
