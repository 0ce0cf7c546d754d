/*
 * profilefx.c: see profilefx.h.
 */
#include "profilefx.h"

#include <string.h>

int
cg_profilefx_setup(void **state)
{
	Fx *fx = g_new0(Fx, 1);
	g_autoptr(GError) err = NULL;
	g_autofree char *text = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	CgCaInit o = {0};

	fx->dir = cg_test_tmpdir("profile");
	text = g_strdup_printf("GatewayDomain ca.example.net\nCACertificate %s/issuing.pem\n"
	                       "CAChain %s/chain.pem\nCAKey %s/issuing.key\n"
	                       "GatewayCertificate %s/gw.pem\nGatewayKey %s/gw.key\n"
	                       "GatewayEncryptionCertificate %s/enc.pem\n"
	                       "GatewayEncryptionKey %s/enc.key\nCrlPath %s/crl/ca.crl\n",
	                       fx->dir, fx->dir, fx->dir, fx->dir, fx->dir, fx->dir, fx->dir,
	                       fx->dir);
	fx->conf = cg_conf_load_data("t.conf", fx->dir, text, strlen(text), &err);
	assert_non_null(fx->conf);
	o.org = "Test CA";
	o.now = 1795290780;
	if (!cg_ca_init(fx->conf, &o, out, &err))
		print_error("ca init: %s\n", err->message);
	fx->ca = cg_ca_load(fx->conf, &err);
	if (fx->ca == NULL)
		print_error("ca load: %s\n", err->message);
	assert_non_null(fx->ca);
	fx->ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	fx->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	fx->ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	fx->weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	*state = fx;
	return 0;
}

int
cg_profilefx_teardown(void **state)
{
	Fx *fx = *state;

	cg_ca_free(fx->ca);
	cg_conf_unref(fx->conf);
	EVP_PKEY_free(fx->ec);
	EVP_PKEY_free(fx->rsa);
	EVP_PKEY_free(fx->ed);
	EVP_PKEY_free(fx->weak);
	cg_test_rmtree(fx->dir);
	g_free(fx->dir);
	g_free(fx);
	return 0;
}

void
cg_profilefx_request(Fx *fx, CgCertRequest *r, CgProfile p, EVP_PKEY *key)
{
	memset(r, 0, sizeof(*r));
	r->profile = p;
	r->mailbox = "anna@example.org";
	r->org_name = "Example Sp. z o.o.";
	r->org_identifier = "NTRPL-0000123456";
	r->country = "PL";
	r->state = "mazowieckie";
	r->locality = "Warszawa";
	r->given_name = "Anna";
	r->surname = "Nowak";
	r->validity_days = 730;
	r->max_validity_days = 825;
	r->not_before = 1795290780;
	r->crl_url = "http://ca.example.net/crl/issuing-ca.crl";
	r->ca_issuers_url = "http://ca.example.net/ca/issuing-ca.cer";
	r->ca_cert = cg_ca_cert(fx->ca);
	r->subject_key = key;
}

char *
cg_profilefx_lint(X509 *x, const CgCertRequest *r)
{
	g_autoptr(GPtrArray) f = g_ptr_array_new_with_free_func(g_free);

	if (cg_cert_lint(x, r, f))
		return NULL;
	g_ptr_array_add(f, NULL);
	return g_strjoinv("; ", (char **)f->pdata);
}
