/*
 * test_profile.c: certificate profiles: each profile built from validated
 * data lints clean and signs; requests that break a profile are refused;
 * the CRL.
 */
#include "profilefx.h"

#include <string.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

/* cg_ca_issue's certificate, as an object. */
static X509 *
issue(CgCa *ca, CgCertRequest *r, GError **error)
{
	g_autoptr(GBytes) der = cg_ca_issue(ca, r, NULL, error);
	const unsigned char *p;

	if (der == NULL)
		return NULL;
	p = g_bytes_get_data(der, NULL);
	return d2i_X509(NULL, &p, (long)g_bytes_get_size(der));
}

static char *
subject_text(X509 *x)
{
	char *s = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
	char *out = g_strdup(s);

	OPENSSL_free(s);
	return out;
}

static void
test_organization(void **state)
{
	Fx *fx = *state;
	CgCertRequest r;
	g_autoptr(GError) err = NULL;
	g_autofree char *subj = NULL, *subj2 = NULL, *f = NULL;
	X509 *x;

	cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, fx->ec);
	x = cg_cert_build(&r, &err);
	assert_non_null(x);
	f = cg_profilefx_lint(x, &r);
	if (f)
		print_error("%s\n", f);
	assert_null(f);
	subj = subject_text(x);
	/* O, organizationIdentifier, C and CN always; ST, L, E only when asked. */
	assert_string_equal(subj,
	                    "/C=PL/O=Example Sp. z o.o./organizationIdentifier=NTRPL-0000123456"
	                    "/CN=anna@example.org");
	X509_free(x);
	r.field_email = r.field_locality = r.field_state = TRUE;
	memset(r.serial, 0, 16);
	x = cg_cert_build(&r, &err);
	subj2 = subject_text(x);
	assert_string_equal(subj2, "/C=PL/ST=mazowieckie/L=Warszawa/O=Example Sp. z o.o./"
	                           "organizationIdentifier=NTRPL-0000123456/CN=anna@example.org/"
	                           "emailAddress=anna@example.org");
	assert_null(cg_profilefx_lint(x, &r));
	X509_free(x);
	/* Signed by the issuing CA; verifies with its key. */
	memset(r.serial, 0, 16);
	x = issue(fx->ca, &r, &err);
	assert_non_null(x);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(cg_ca_cert(fx->ca))), 1);
	X509_free(x);
}

/* Every extension of a's, in order, is b's byte for byte. */
static void
assert_same_extensions(X509 *a, X509 *b)
{
	int i, n = X509_get_ext_count(a);

	assert_int_equal(n, X509_get_ext_count(b));
	for (i = 0; i < n; i++) {
		unsigned char *da = NULL, *db = NULL;
		int la = i2d_X509_EXTENSION(X509_get_ext(a, i), &da);
		int lb = i2d_X509_EXTENSION(X509_get_ext(b, i), &db);

		assert_true(la > 0);
		assert_int_equal(la, lb);
		assert_memory_equal(da, db, (size_t)la);
		OPENSSL_free(da);
		OPENSSL_free(db);
	}
}

/* cg_ca_issue makes the extensions that depend on the issuer alone once
 * per CA: each certificate it signs has the extensions cg_cert_build makes
 * afresh, for every key type, key usage and URL, the second time too. */
static void
test_extension_cache(void **state)
{
	Fx *fx = *state;
	EVP_PKEY *keys[] = {fx->ec, fx->rsa, fx->ed, fx->ec, fx->rsa, fx->rsa};
	const char *crl[] = {NULL, NULL, NULL, "http://ca.example.net/other.crl", NULL, NULL};
	gsize i;
	int round;

	for (round = 0; round < 2; round++) {
		for (i = 0; i < G_N_ELEMENTS(keys); i++) {
			g_autoptr(GError) err = NULL;
			CgCertRequest r;
			X509 *fresh, *signed_;

			cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, keys[i]);
			if (crl[i] != NULL)
				r.crl_url = crl[i];
			r.multipurpose = i == 4;
			r.encipher_only = i == 5;
			fresh = cg_cert_build(&r, &err);
			assert_non_null(fresh);
			signed_ = issue(fx->ca, &r, &err);
			if (signed_ == NULL)
				print_error("request %zu: %s\n", i, err->message);
			assert_non_null(signed_);
			assert_same_extensions(signed_, fresh);
			X509_free(fresh);
			X509_free(signed_);
		}
	}
	/* Made once each: four key usages (EC, RSA, Ed25519, RSA encipher
	 * only), two extended, two CRL URLs, the AIA and the AKI. */
	assert_non_null(fx->ca->exts);
	assert_int_equal(g_hash_table_size(fx->ca->exts), 10);
}

/* A CA of its own in a new directory under fx's, its issuing key P-384
 * (curve) or RSA (rsa_bits). */
static CgCa *
other_ca(Fx *fx, const char *name, const char *curve, int rsa_bits, CgConf **conf)
{
	g_autofree char *d = g_build_filename(fx->dir, name, NULL);
	g_autofree char *text = NULL;
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	CgCaInit o = {0};
	CgCa *ca;

	g_mkdir_with_parents(d, 0700);
	text = g_strdup_printf("GatewayDomain ca.example.net\nCACertificate %s/issuing.pem\n"
	                       "CAChain %s/chain.pem\nCAKey %s/issuing.key\n"
	                       "GatewayCertificate %s/gw.pem\nGatewayKey %s/gw.key\n"
	                       "GatewayEncryptionCertificate %s/enc.pem\n"
	                       "GatewayEncryptionKey %s/enc.key\nCrlPath %s/crl/ca.crl\n",
	                       d, d, d, d, d, d, d, d);
	*conf = cg_conf_load_data("t.conf", d, text, strlen(text), &err);
	assert_non_null(*conf);
	o.org = "Test CA";
	o.now = 1795290780;
	o.issuing_curve = curve;
	o.issuing_rsa_bits = rsa_bits;
	if (!cg_ca_init(*conf, &o, out, &err))
		print_error("ca init: %s\n", err->message);
	ca = cg_ca_load(*conf, &err);
	if (ca == NULL)
		print_error("ca load: %s\n", err->message);
	assert_non_null(ca);
	return ca;
}

/* What ca signs with a copy of its signing context (cg_ca_sign), the same
 * request twice: the TBS and signature algorithm X509_sign gives, two
 * signatures that differ (each draws its own nonce, or for RSA the same),
 * both verifying with the CA's key. */
static void
check_signing(Fx *fx, CgCa *ca, gboolean randomised)
{
	CgCertRequest r;
	g_autoptr(GError) err = NULL;
	X509 *a, *b, *ref;
	const ASN1_BIT_STRING *sa, *sb;
	const X509_ALGOR *aa, *ar;
	unsigned char *ta = NULL, *tb = NULL, *tr = NULL;
	int la, lb, lr;

	assert_non_null(ca->sign_ctx);
	cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, fx->ec);
	a = issue(ca, &r, &err);
	b = issue(ca, &r, &err);
	if (a == NULL || b == NULL)
		print_error("issue: %s\n", err->message);
	ref = cg_cert_build(&r, &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(ref);
	assert_true(cg_sign_cert(ref, cg_ca_key(ca), &err));
	la = i2d_re_X509_tbs(a, &ta);
	lb = i2d_re_X509_tbs(b, &tb);
	lr = i2d_re_X509_tbs(ref, &tr);
	assert_true(la > 0);
	assert_int_equal(la, lb);
	assert_int_equal(la, lr);
	assert_memory_equal(ta, tb, (size_t)la);
	assert_memory_equal(ta, tr, (size_t)la);
	X509_get0_signature(&sa, &aa, a);
	X509_get0_signature(&sb, NULL, b);
	X509_get0_signature(NULL, &ar, ref);
	assert_int_equal(X509_ALGOR_cmp(aa, ar), 0);
	assert_int_equal(ASN1_STRING_cmp(sa, sb) != 0, randomised);
	assert_int_equal(X509_verify(a, X509_get0_pubkey(cg_ca_cert(ca))), 1);
	assert_int_equal(X509_verify(b, X509_get0_pubkey(cg_ca_cert(ca))), 1);
	OPENSSL_free(ta);
	OPENSSL_free(tb);
	OPENSSL_free(tr);
	X509_free(a);
	X509_free(b);
	X509_free(ref);
}

/* Certificates are signed by a copy of a context set up once for the CA
 * key: checked for issuing keys on P-256 (the fixture's), P-384 (SHA-384)
 * and RSA 4096 (PKCS#1 v1.5, deterministic). */
static void
test_sign_context(void **state)
{
	Fx *fx = *state;
	CgConf *c384 = NULL, *crsa = NULL;
	CgCa *p384, *rsa;

	check_signing(fx, fx->ca, TRUE);
	p384 = other_ca(fx, "p384", "P-384", 0, &c384);
	check_signing(fx, p384, TRUE);
	rsa = other_ca(fx, "rsa", NULL, 4096, &crsa);
	check_signing(fx, rsa, FALSE);
	cg_ca_free(p384);
	cg_ca_free(rsa);
	cg_conf_unref(c384);
	cg_conf_unref(crsa);
}

/* Internationalised mailboxes: an IDN domain is certified as A-labels in an
 * rfc822Name; a UTF-8 local part gets an otherName SmtpUTF8Mailbox (RFC 9598,
 * domain in U-labels) and no emailAddress (an IA5String). */
static void
test_international(void **state)
{
	Fx *fx = *state;
	CgCertRequest r;
	g_autoptr(GError) err = NULL;
	GENERAL_NAMES *san;
	GENERAL_NAME *gn;
	X509 *x;

	cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, fx->ec);
	r.mailbox = "anna@xn--bcher-kva.example";
	r.field_email = TRUE;
	x = cg_cert_build(&r, &err);
	assert_non_null(x);
	assert_null(cg_profilefx_lint(x, &r));
	san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	gn = sk_GENERAL_NAME_value(san, 0);
	assert_int_equal(gn->type, GEN_EMAIL);
	assert_string_equal((const char *)ASN1_STRING_get0_data(gn->d.rfc822Name),
	                    "anna@xn--bcher-kva.example");
	GENERAL_NAMES_free(san);
	X509_free(x);

	cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, fx->ec);
	r.mailbox = "j\xc3\xbcrgen@xn--bcher-kva.example";
	r.field_email = TRUE;
	x = cg_cert_build(&r, &err);
	assert_non_null(x);
	{
		g_autofree char *f = cg_profilefx_lint(x, &r);

		if (f != NULL)
			fail_msg("lint: %s", f);
	}
	san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_int_equal(sk_GENERAL_NAME_num(san), 1);
	gn = sk_GENERAL_NAME_value(san, 0);
	assert_int_equal(gn->type, GEN_OTHERNAME);
	assert_int_equal(OBJ_obj2nid(gn->d.otherName->type_id), NID_id_on_SmtpUTF8Mailbox);
	assert_string_equal(
	    (const char *)ASN1_STRING_get0_data(gn->d.otherName->value->value.utf8string),
	    "j\xc3\xbcrgen@b\xc3\xbc" "cher.example");
	GENERAL_NAMES_free(san);
	assert_int_equal(X509_NAME_get_index_by_NID(X509_get_subject_name(x), NID_pkcs9_emailAddress, -1),
	                 -1);
	X509_free(x);
}

static void
test_sponsor_and_keys(void **state)
{
	Fx *fx = *state;
	EVP_PKEY *keys[] = {fx->ec, fx->rsa, fx->ed};
	CgCertRequest r;
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(keys); i++) {
		g_autoptr(GError) err = NULL;
		g_autofree char *subj = NULL;
		int crit = -1;
		X509 *x;
		ASN1_BIT_STRING *ku;

		cg_profilefx_request(fx, &r, CG_PROFILE_SPONSOR, keys[i]);
		x = issue(fx->ca, &r, &err);
		assert_non_null(x);
		subj = subject_text(x);
		assert_non_null(strstr(subj, "/GN=Anna/SN=Nowak/CN=Anna Nowak"));
		ku = X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
		assert_int_equal(crit, 1);
		/* keyUsage fitted: RSA keyEncipherment, EC keyAgreement, EdDSA neither. */
		assert_int_equal(ASN1_BIT_STRING_get_bit(ku, 0), 1);
		assert_int_equal(ASN1_BIT_STRING_get_bit(ku, 2), keys[i] == fx->rsa);
		assert_int_equal(ASN1_BIT_STRING_get_bit(ku, 4), keys[i] == fx->ec);
		ASN1_BIT_STRING_free(ku);
		X509_free(x);
	}
}

static void
test_refusals(void **state)
{
	Fx *fx = *state;
	CgCertRequest r;
	X509 *x;

	cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, fx->ec);
	r.validity_days = 826;
	r.max_validity_days = 1000;
	{
		g_autoptr(GError) err = NULL;

		x = cg_cert_build(&r, &err);
		assert_null(x);
		assert_error(err, CG_ERROR_NOT_AUTHORISED, "validity of 826 days; the most is 825");
	}
	cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, fx->ec);
	r.validity_days = 400;
	r.max_validity_days = 365;
	{
		g_autoptr(GError) err = NULL;

		assert_null(cg_cert_build(&r, &err));
		assert_error(err, CG_ERROR_NOT_AUTHORISED, "the most is 365");
	}
	cg_profilefx_request(fx, &r, CG_PROFILE_SPONSOR, fx->ec);
	r.surname = "";
	{
		g_autoptr(GError) err = NULL;

		assert_null(cg_cert_build(&r, &err));
		assert_error(err, CG_ERROR_NOT_AUTHORISED, "given name and surname");
	}
	cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, fx->ec);
	r.org_name = "Evil\nCorp";
	{
		g_autoptr(GError) err = NULL;

		assert_null(cg_cert_build(&r, &err));
		assert_error(err, CG_ERROR_NOT_AUTHORISED, "control characters");
	}
	cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, fx->ec);
	r.org_identifier = "";
	{
		g_autoptr(GError) err = NULL;

		assert_null(cg_cert_build(&r, &err));
		assert_error(err, CG_ERROR_NOT_AUTHORISED, "lacks a name, identifier or country");
	}
}

/* A certificate never outlives its issuing CA: its notAfter is cut to the
 * CA certificate's, and under a CA certificate that has ended nothing is
 * built. */
static void
test_ca_end(void **state)
{
	Fx *fx = *state;
	X509 *ca = X509_dup(cg_ca_cert(fx->ca));
	g_autofree char *f = NULL;
	CgCertRequest r;
	X509 *x;

	assert_non_null(ca);
	cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, fx->ec);
	assert_int_equal(cg_cert_request_end(&r), r.not_before + 730 * 86400 - 1);
	ASN1_TIME_set(X509_getm_notAfter(ca), (time_t)(r.not_before + 100 * 86400));
	r.ca_cert = ca;
	assert_int_equal(cg_cert_request_end(&r), r.not_before + 100 * 86400);
	x = cg_cert_build(&r, NULL);
	assert_non_null(x);
	assert_int_equal(cg_asn1_time_unix(X509_get0_notAfter(x)), r.not_before + 100 * 86400);
	f = cg_profilefx_lint(x, &r);
	if (f != NULL)
		print_error("cut to the CA's end: %s\n", f);
	assert_null(f);
	X509_free(x);
	ASN1_TIME_set(X509_getm_notAfter(ca), (time_t)r.not_before);
	{
		g_autoptr(GError) err = NULL;

		assert_null(cg_cert_build(&r, &err));
		assert_error(err, CG_ERROR_INTERNAL, "the issuing CA's certificate ended at");
	}
	X509_free(ca);
}

static void
test_crl(void **state)
{
	Fx *fx = *state;
	g_autoptr(GPtrArray) none = g_ptr_array_new();
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) der = cg_crl_build(cg_ca_cert(fx->ca), cg_ca_key(fx->ca), none, 7,
	                                     1795290780, 1795290780 + 7 * 86400, &err);
	const unsigned char *p;
	X509_CRL *crl;
	ASN1_INTEGER *num;
	int crit = -1;

	assert_non_null(der);
	p = g_bytes_get_data(der, NULL);
	crl = d2i_X509_CRL(NULL, &p, (long)g_bytes_get_size(der));
	assert_non_null(crl);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(cg_ca_cert(fx->ca))), 1);
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	assert_int_equal(ASN1_INTEGER_get(num), 7);
	assert_int_equal(crit, 0);
	assert_true(X509_CRL_get_ext_by_NID(crl, NID_authority_key_identifier, -1) >= 0);
	assert_int_equal(cg_crl_reason_parse("keyCompromise"), 1);
	assert_int_equal(cg_crl_reason_parse("unspecified"), -1);
	assert_int_equal(cg_crl_reason_parse("certificateHold"), -1);
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
}

/* The cells of the reports and status lists mailed back as CSV: quoted,
 * and nothing a spreadsheet would run (OWASP's list: = + - @, tab and CR). */
static void
test_csv_cell(void **state)
{
	static const char *const cases[][2] = {
	    {"plain", "\"plain\","},    {"say \"hi\"", "\"say \"\"hi\"\"\","},
	    {"=1+1", "\"'=1+1\","},     {"+1", "\"'+1\","},
	    {"-1", "\"'-1\","},         {"@SUM(A1)", "\"'@SUM(A1)\","},
	    {"\t=1+1", "\"'\t=1+1\","}, {"\r=1+1", "\"' =1+1\","},
	    {"a\r\nb", "\"a  b\","},    {"", "\"\","},
	};
	guint i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GString) out = g_string_new(NULL);

		cg_csv_cell(out, cases[i][0], FALSE);
		assert_string_equal(out->str, cases[i][1]);
	}
	{
		g_autoptr(GString) out = g_string_new(NULL);

		cg_csv_cell(out, "end", TRUE);
		assert_string_equal(out->str, "\"end\"\r\n");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_organization),  cmocka_unit_test(test_extension_cache),
	    cmocka_unit_test(test_international), cmocka_unit_test(test_sponsor_and_keys),
	    cmocka_unit_test(test_refusals),      cmocka_unit_test(test_ca_end),
	    cmocka_unit_test(test_crl),           cmocka_unit_test(test_sign_context),
	    cmocka_unit_test(test_csv_cell),
	};

	return cmocka_run_group_tests(tests, cg_profilefx_setup, cg_profilefx_teardown);
}
