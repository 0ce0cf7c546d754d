/*
 * profilefx.h: a fresh CA (cg_ca_init) and subscriber keys in a temporary
 * directory, for the issuer's cmocka tests; a good request; the linter's
 * findings as one string.
 */
#ifndef CG_PROFILEFX_H
#define CG_PROFILEFX_H

#include "testutil.h"
#include "common.h"
#include "conf.h"
#include "issuer-int.h"

typedef struct {
	char *dir;
	CgConf *conf;
	CgCa *ca;
	EVP_PKEY *ec, *rsa, *ed, *weak;
} Fx;

int cg_profilefx_setup(void **state);
int cg_profilefx_teardown(void **state);
/* A good request of profile p for key, issued by fx's CA. */
void cg_profilefx_request(Fx *fx, CgCertRequest *r, CgProfile p, EVP_PKEY *key);
/* Every finding of the linter, "; "-joined; NULL when none. Caller frees. */
char *cg_profilefx_lint(X509 *x, const CgCertRequest *r);

#endif
