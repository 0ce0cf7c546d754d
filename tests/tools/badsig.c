/*
 * badsig.c: a faulty signer, for tests (LD_PRELOAD). X509_sign() and
 * X509_sign_ctx() sign as usual, then, for a certificate whose subject
 * names $CG_BADSIG_SUBJECT, flip one bit of the signature: what a failing HSM or a fault in the
 * signing computation would hand back. The issuer must never let such a
 * certificate out (its post-issuance check verifies every signature).
 * With $CG_SLOWSIG_MS set, every signature first sleeps that long: a slow
 * HSM, which makes the issuer's batches reach their time limit.
 * With $CG_BADBUILD_SUBJECT set, X509_set_version() makes a certificate
 * whose subject names it version 1 instead: a fault in building it, which
 * the pre-issuance lint must catch before anything is signed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/x509.h>

typedef int (*SignFn)(X509 *, EVP_PKEY *, const EVP_MD *);
typedef int (*SignCtxFn)(X509 *, EVP_MD_CTX *);
typedef int (*VersionFn)(X509 *, long);

/* The functions wrapped, found when the library is loaded: before the
 * issuer starts its threads, which sign at once. */
static SignFn real_sign;
static SignCtxFn real_sign_ctx;
static VersionFn real_set_version;

__attribute__((constructor)) static void
find_real(void)
{
	real_sign = (SignFn)dlsym(RTLD_NEXT, "X509_sign");
	real_sign_ctx = (SignCtxFn)dlsym(RTLD_NEXT, "X509_sign_ctx");
	real_set_version = (VersionFn)dlsym(RTLD_NEXT, "X509_set_version");
}

static void
slow_down(void)
{
	const char *slow = getenv("CG_SLOWSIG_MS");

	if (slow != NULL && atoi(slow) > 0) {
		struct timespec ts = {atoi(slow) / 1000, (atoi(slow) % 1000) * 1000000L};

		nanosleep(&ts, NULL);
	}
}

/* Whether x's subject names the value of the variable `var`. */
static int
is_the_one(X509 *x, const char *var)
{
	const char *want = getenv(var);
	char subject[512];

	if (want == NULL || *want == '\0')
		return 0;
	X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
	return strstr(subject, want) != NULL;
}

/* rc, having flipped a bit of x's signature if its subject is the one. */
static int
spoil(X509 *x, int rc)
{
	const ASN1_BIT_STRING *sig = NULL;

	if (rc <= 0 || !is_the_one(x, "CG_BADSIG_SUBJECT"))
		return rc;
	X509_get0_signature(&sig, NULL, x);
	if (sig != NULL && ASN1_STRING_length(sig) > 8)
		((unsigned char *)ASN1_STRING_get0_data(sig))[ASN1_STRING_length(sig) - 3] ^= 0x01;
	return rc;
}

int
X509_sign(X509 *x, EVP_PKEY *pkey, const EVP_MD *md)
{
	slow_down();
	return spoil(x, real_sign(x, pkey, md));
}

/* The issuer signs its certificates with a copy of a context set up once
 * for its key (cg_ca_sign). */
int
X509_sign_ctx(X509 *x, EVP_MD_CTX *ctx)
{
	slow_down();
	return spoil(x, real_sign_ctx(x, ctx));
}

int
X509_set_version(X509 *x, long version)
{
	if (is_the_one(x, "CG_BADBUILD_SUBJECT"))
		version = X509_VERSION_1;
	return real_set_version(x, version);
}
