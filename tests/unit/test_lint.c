/*
 * test_lint.c: the pre-issuance linter. Every rule of the profile table is
 * broken in turn, on a fresh good certificate, and the linter must say so.
 */
#include "profilefx.h"

#include <string.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

typedef void (*Mutate)(Fx *fx, X509 *x, CgCertRequest *r);

static void
replace_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	if (i >= 0)
		X509_EXTENSION_free(X509_delete_ext(x, i));
	if (value != NULL)
		assert_true(cg_x509_add_ext(x, issuer, nid, value, NULL));
}

static void
add_name(X509 *x, int nid, const char *v)
{
	X509_NAME_add_entry_by_NID(X509_get_subject_name(x), nid, MBSTRING_UTF8,
	                           (const unsigned char *)v, -1, -1, 0);
}

static void
del_name(X509 *x, int nid)
{
	X509_NAME *n = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(n, nid, -1);

	X509_NAME_ENTRY_free(X509_NAME_delete_entry(n, i));
}

static void
m_ou(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	add_name(x, NID_organizationalUnitName, "IT");
}
static void
m_street(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	add_name(x, NID_streetAddress, "Długa 5");
}
static void
m_dup_cn(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	add_name(x, NID_commonName, "anna@example.org");
}
static void
m_org(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	del_name(x, NID_organizationName);
	add_name(x, NID_organizationName, "Other Ltd");
}
static void
m_no_org(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	del_name(x, NID_organizationName);
}
static void
m_no_orgid(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	del_name(x, NID_organizationIdentifier);
}
static void
m_country(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	del_name(x, NID_countryName);
	add_name(x, NID_countryName, "DE");
	r->country = "DE";
}
static void
m_l_no_c(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	del_name(x, NID_countryName);
	add_name(x, NID_localityName, "Warszawa");
}
static void
m_given_in_org(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	add_name(x, NID_givenName, "Anna");
}
static void
m_email_other(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	add_name(x, NID_pkcs9_emailAddress, "boss@example.org");
}
static void
m_cn_other(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	del_name(x, NID_commonName);
	add_name(x, NID_commonName, "www.example.org");
}
static void
m_no_san(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_subject_alt_name, NULL);
}
static void
m_san_dns(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_subject_alt_name,
	            "email:anna@example.org,DNS:example.org");
}
/* The SAN replaced by one SmtpUTF8Mailbox of value v (UTF-8). */
static void
san_utf8(X509 *x, const char *v)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_UTF8STRING *s = ASN1_UTF8STRING_new();
	ASN1_TYPE *t = ASN1_TYPE_new();

	ASN1_STRING_set(s, v, -1);
	ASN1_TYPE_set(t, V_ASN1_UTF8STRING, s);
	GENERAL_NAME_set0_othername(gn, OBJ_nid2obj(NID_id_on_SmtpUTF8Mailbox), t);
	sk_GENERAL_NAME_push(gens, gn);
	X509_EXTENSION_free(X509_delete_ext(x, X509_get_ext_by_NID(x, NID_subject_alt_name, -1)));
	X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND);
	GENERAL_NAMES_free(gens);
}

static void
m_san_utf8_ascii(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f, (void)r;
	/* An SmtpUTF8Mailbox for an ASCII mailbox: rfc822Name is for it. */
	san_utf8(x, "anna@example.org");
}
static void
m_san_utf8_other(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f, (void)r;
	san_utf8(x, "j\xc3\xbcrgen@example.org");
}
static void
m_san_other(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_subject_alt_name, "email:boss@example.org");
}
static void
m_san_critical(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_subject_alt_name, "critical,email:anna@example.org");
}
static void
m_ku_noncrit(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_key_usage, "digitalSignature,keyAgreement");
}
static void
m_ku_certsign(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_key_usage, "critical,digitalSignature,keyCertSign");
}
static void
m_ku_rsa_bits(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_key_usage,
	            "critical,digitalSignature,keyEncipherment");
}
static void
m_no_ku(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_key_usage, NULL);
}
static void
m_eku_server(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_ext_key_usage, "emailProtection,serverAuth");
}
static void
m_eku_client_only(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_ext_key_usage, "clientAuth");
}
static void
m_eku_multi_server(Fx *f, X509 *x, CgCertRequest *r)
{
	r->multipurpose = TRUE;
	replace_ext(x, cg_ca_cert(f->ca), NID_certificate_policies, NULL);
	{
		const char *p[] = {"2.23.140.1.5.2.2", NULL};
		cg_x509_add_policies(x, p, NULL);
	}
	replace_ext(x, cg_ca_cert(f->ca), NID_ext_key_usage, "emailProtection,serverAuth");
}
static void
m_policy_wrong(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_certificate_policies, NULL);
	{
		const char *p[] = {"2.23.140.1.5.3.3", NULL};
		cg_x509_add_policies(x, p, NULL);
	}
}
static void
m_policy_two(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_certificate_policies, NULL);
	{
		const char *p[] = {"2.23.140.1.5.2.3", "2.23.140.1.5.2.2", NULL};
		cg_x509_add_policies(x, p, NULL);
	}
}
static void
m_no_policy(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_certificate_policies, NULL);
}
static void
m_crl_https(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_crl_distribution_points,
	            "URI:https://ca.example.net/x.crl");
}
static void
m_crl_ldap(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_crl_distribution_points,
	            "URI:http://ca.example.net/x.crl,URI:ldap://ca.example.net/cn=x");
}
static CRL_DIST_POINTS *
get_dps(X509 *x)
{
	CRL_DIST_POINTS *d = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);

	assert_non_null(d);
	return d;
}
static void
put_dps(X509 *x, CRL_DIST_POINTS *d, int crit)
{
	assert_int_equal(
	    X509_add1_ext_i2d(x, NID_crl_distribution_points, d, crit, X509V3_ADD_REPLACE), 1);
	sk_DIST_POINT_pop_free(d, DIST_POINT_free);
}
static void
m_crl_critical(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f, (void)r;
	put_dps(x, get_dps(x), 1);
}
static void
m_crl_reasons(Fx *f, X509 *x, CgCertRequest *r)
{
	CRL_DIST_POINTS *d = get_dps(x);
	DIST_POINT *dp = sk_DIST_POINT_value(d, 0);

	(void)f, (void)r;
	dp->reasons = ASN1_BIT_STRING_new();
	ASN1_BIT_STRING_set_bit(dp->reasons, 1, 1); /* keyCompromise */
	put_dps(x, d, 0);
}
static void
m_crl_issuer(Fx *f, X509 *x, CgCertRequest *r)
{
	CRL_DIST_POINTS *d = get_dps(x);
	DIST_POINT *dp = sk_DIST_POINT_value(d, 0);

	(void)f, (void)r;
	dp->CRLissuer = GENERAL_NAMES_new();
	sk_GENERAL_NAME_push(dp->CRLissuer, GENERAL_NAME_dup(sk_GENERAL_NAME_value(
	                                        dp->distpoint->name.fullname, 0)));
	put_dps(x, d, 0);
}
static void
m_crl_relative(Fx *f, X509 *x, CgCertRequest *r)
{
	CRL_DIST_POINTS *d = get_dps(x);
	DIST_POINT_NAME *n = sk_DIST_POINT_value(d, 0)->distpoint;

	(void)f, (void)r;
	GENERAL_NAMES_free(n->name.fullname);
	n->type = 1;
	n->name.relativename = sk_X509_NAME_ENTRY_new_null();
	sk_X509_NAME_ENTRY_push(n->name.relativename,
	                        X509_NAME_ENTRY_create_by_NID(NULL, NID_commonName, MBSTRING_ASC,
	                                                      (const unsigned char *)"crl", -1));
	put_dps(x, d, 0);
}
static void
m_policy_any(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_certificate_policies, NULL);
	{
		const char *p[] = {"2.23.140.1.5.2.3", "2.5.29.32.0", NULL};
		cg_x509_add_policies(x, p, NULL);
	}
}
static void
m_no_crl(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_crl_distribution_points, NULL);
}
static void
m_aia_ocsp_only(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_info_access, "OCSP;URI:http://ocsp.example.net");
}
static void
m_aia_https(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_info_access,
	            "caIssuers;URI:https://ca.example.net/ca.cer");
}
static void
m_aki_issuer(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_authority_key_identifier,
	            "keyid:always,issuer:always");
}
static void
m_no_ski(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_subject_key_identifier, NULL);
}
static void
m_bc_ca(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_basic_constraints, "critical,CA:TRUE");
}
static void
m_extra_ext(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	replace_ext(x, cg_ca_cert(f->ca), NID_netscape_comment, "hello");
}
static void
m_validity(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(1795290780 + 826 * 86400L));
}
/* An issuing CA certificate that ends before the certificate does (the
 * copy is freed with the cases). */
static X509 *short_ca;
static void
m_ca_ends_first(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)x;
	short_ca = X509_dup(cg_ca_cert(f->ca));
	ASN1_TIME_set(X509_getm_notAfter(short_ca), (time_t)(r->not_before + 100 * 86400L));
	r->ca_cert = short_ca;
}
static void
m_validity_max(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)x;
	r->max_validity_days = 365;
}
static void
m_serial_short(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 12345);
}
static void
m_serial_neg(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	ASN1_INTEGER_set(X509_get_serialNumber(x), -42);
}
static void
m_issuer(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	X509_NAME *n = X509_NAME_new();
	X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	                           (const unsigned char *)"Someone Else", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_NAME_free(n);
}
static void
m_version(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)f;
	(void)r;
	X509_set_version(x, X509_VERSION_1);
}
static void
m_weak_key(Fx *f, X509 *x, CgCertRequest *r)
{
	X509_set_pubkey(x, f->weak);
	r->subject_key = f->weak;
}

static void
m_other_key(Fx *f, X509 *x, CgCertRequest *r)
{
	(void)r;
	X509_set_pubkey(x, f->rsa);
}

/* The certificate's key, in an encoding the BR do not allow; asked for in
 * that encoding, so only the encoding rule can object. */
static void
set_spki(X509 *x, CgCertRequest *r, int ptype, const unsigned char *bits, int len)
{
	unsigned char *copy = OPENSSL_memdup(bits, (size_t)len);
	ASN1_OBJECT *alg = NULL;
	void *pval = NULL;

	X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL, X509_get_X509_PUBKEY(x));
	if (ptype == V_ASN1_OBJECT)
		pval = OBJ_nid2obj(NID_X9_62_prime256v1);
	assert_int_equal(
	    X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_dup(alg), ptype, pval, copy, len),
	    1);
	r->subject_spki = X509_get_X509_PUBKEY(x);
}

static void
m_rsa_no_null(Fx *f, X509 *x, CgCertRequest *r)
{
	const unsigned char *pk = NULL;
	int len = 0;

	X509_set_pubkey(x, f->rsa);
	r->subject_key = f->rsa;
	X509_PUBKEY_get0_param(NULL, &pk, &len, NULL, X509_get_X509_PUBKEY(x));
	set_spki(x, r, V_ASN1_UNDEF, pk, len);
}

static void
m_ec_compressed(Fx *f, X509 *x, CgCertRequest *r)
{
	const unsigned char *pk = NULL;
	unsigned char c[33];
	int len = 0;

	(void)f;
	X509_PUBKEY_get0_param(NULL, &pk, &len, NULL, X509_get_X509_PUBKEY(x));
	assert_int_equal(len, 65);
	c[0] = (unsigned char)(0x02 | (pk[64] & 1));
	memcpy(c + 1, pk + 1, 32);
	set_spki(x, r, V_ASN1_OBJECT, c, 33);
}

static void
test_mutations(void **state)
{
	static const struct {
		const char *name;
		Mutate m;
		const char *finding;
	} cases[] = {
	    {"OU", m_ou, "organizationalUnitName is not allowed"},
	    {"street", m_street, "streetAddress is not allowed"},
	    {"dup CN", m_dup_cn, "commonName appears more than once"},
	    {"other O", m_org, "organizationName \"Other Ltd\" is not the validated value"},
	    {"no O", m_no_org, "organizationName is required"},
	    {"no orgId", m_no_orgid, "organizationIdentifier is required"},
	    {"C vs identifier", m_country,
	     "countryName DE differs from the organizationIdentifier's PL"},
	    {"L without C", m_l_no_c, "countryName is required with"},
	    {"GN in org", m_given_in_org, "givenName is not allowed in the organization profile"},
	    {"other E", m_email_other,
	     "emailAddress \"boss@example.org\" is not the validated value"},
	    {"other CN", m_cn_other, "commonName \"www.example.org\" is none of the values"},
	    {"no SAN", m_no_san, "subjectAltName: required"},
	    {"SAN DNS", m_san_dns, "only rfc822Name and SmtpUTF8Mailbox entries"},
	    {"SAN SmtpUTF8Mailbox for ASCII", m_san_utf8_ascii, "has an ASCII local part"},
	    {"SAN other SmtpUTF8Mailbox", m_san_utf8_other,
	     "j\xc3\xbcrgen@example.org is not the validated mailbox"},
	    {"SAN other", m_san_other, "boss@example.org is not the validated mailbox"},
	    {"SAN critical", m_san_critical, "subjectAltName must not be critical"},
	    {"KU not critical", m_ku_noncrit, "keyUsage: must be critical"},
	    {"KU keyCertSign", m_ku_certsign, "not fitted"},
	    {"KU RSA bits on EC", m_ku_rsa_bits, "not fitted to the id-ecPublicKey key"},
	    {"no KU", m_no_ku, "keyUsage: required"},
	    {"EKU serverAuth", m_eku_server, "only emailProtection in a strict profile"},
	    {"EKU clientAuth only", m_eku_client_only, "emailProtection is required"},
	    {"EKU multipurpose serverAuth", m_eku_multi_server, "serverAuth is never allowed"},
	    {"policy of sponsor", m_policy_wrong,
	     "2.23.140.1.5.3.3 is not the organization profile's"},
	    {"two policies", m_policy_two, "exactly one CA/B Forum S/MIME OID"},
	    {"no policy", m_no_policy, "certificatePolicies: required"},
	    {"CRL https", m_crl_https, "only http:// URIs are allowed"},
	    {"CRL ldap", m_crl_ldap, "only http:// URIs are allowed"},
	    {"no CRL", m_no_crl, "cRLDistributionPoints: required"},
	    {"CRL critical", m_crl_critical,
	     "extension crlDistributionPoints must not be critical"},
	    {"CRL reasons", m_crl_reasons, "reasons must be absent"},
	    {"CRL cRLIssuer", m_crl_issuer, "cRLIssuer must be absent"},
	    {"CRL relative name", m_crl_relative, "each distributionPoint must be a fullName"},
	    {"anyPolicy", m_policy_any, "anyPolicy is not allowed"},
	    {"AIA OCSP only", m_aia_ocsp_only, "needs a caIssuers"},
	    {"AIA https", m_aia_https, "only http:// URIs"},
	    {"AKI issuer", m_aki_issuer, "keyIdentifier only"},
	    {"no SKI", m_no_ski, "subjectKeyIdentifier: required"},
	    {"cA true", m_bc_ca, "cA must be false"},
	    {"extra extension", m_extra_ext, "extension nsComment is not allowed"},
	    {"826 days", m_validity, "more than 825 days"},
	    {"above MaxValidity", m_validity_max, "more than 365 days"},
	    {"after the CA's end", m_ca_ends_first,
	     "validity: notAfter is after the issuing CA certificate's"},
	    {"short serial", m_serial_short, "fewer than 64 bits"},
	    {"negative serial", m_serial_neg, "must be positive"},
	    {"issuer name", m_issuer, "not byte-identical"},
	    {"v1", m_version, "must be v3"},
	    {"weak key", m_weak_key, "RSA key of 1024 bits"},
	    {"other key", m_other_key, "subjectPublicKeyInfo: not the requested key"},
	    {"RSA without NULL", m_rsa_no_null, "algorithm identifier is not one the S/MIME BR"},
	    {"EC compressed", m_ec_compressed, "the EC point must be uncompressed"},
	};
	Fx *fx = *state;
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		CgCertRequest r;
		g_autoptr(GError) err = NULL;
		g_autofree char *f = NULL;
		X509 *x;

		cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, fx->ec);
		x = cg_cert_build(&r, &err);
		assert_non_null(x);
		cases[i].m(fx, x, &r);
		f = cg_profilefx_lint(x, &r);
		if (f == NULL || strstr(f, cases[i].finding) == NULL) {
			print_error("%s: want \"%s\", got: %s\n", cases[i].name, cases[i].finding,
			            f ? f : "(no finding)");
			fail();
		}
		X509_free(x);
		g_clear_pointer(&short_ca, X509_free);
	}
}

static GBytes *
der_of(X509 *x)
{
	unsigned char *enc = NULL;
	int len = i2d_X509(x, &enc);
	GBytes *der;

	assert_true(len > 0);
	der = g_bytes_new(enc, (gsize)len);
	OPENSSL_free(enc);
	return der;
}

/* After signing: the certificate as issued is linted again, with its
 * signature algorithm and signature. */
static void
test_signed(void **state)
{
	Fx *fx = *state;
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	static const struct {
		const char *name;
		const char *md; /* NULL: the CA's proper digest */
		gboolean other_key;
		const char *finding; /* NULL: none */
	} cases[] = {
	    {"proper", NULL, FALSE, NULL},
	    {"SHA-1", "SHA1", FALSE, "signatureAlgorithm: ecdsa-with-SHA1"},
	    {"SHA-512 on P-256", "SHA512", FALSE, "is not ecdsa-with-SHA256"},
	    {"another key", NULL, TRUE, "does not verify under the issuing CA's key"},
	};
	CgVerifier *v = cg_verifier_new(2);
	gsize i;

	assert_non_null(other);
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GPtrArray) findings = g_ptr_array_new_with_free_func(g_free);
		g_autoptr(GError) err = NULL;
		EVP_PKEY *key = cases[i].other_key ? other : cg_ca_key(fx->ca);
		CgCertRequest r;
		gboolean clean;
		GBytes *der;
		X509 *x;

		cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, fx->ec);
		x = cg_cert_build(&r, &err);
		assert_non_null(x);
		if (cases[i].md == NULL)
			assert_true(cg_sign_cert(x, key, NULL));
		else
			assert_true(X509_sign(x, key, EVP_get_digestbyname(cases[i].md)) > 0);
		der = der_of(x);
		clean = cg_cert_lint_signed(der, &r, findings);
		/* The same certificate linted on the verifier's thread: the
		 * same verdict, the first finding in the wait's failure. */
		{
			g_autofree char *why = NULL;

			cg_verifier_cert(v, der, &r, cases[i].name);
			assert_int_equal(cg_verifier_wait(v, &why), clean);
			if (!clean)
				assert_non_null(strstr(why, findings->pdata[0]));
			if (cases[i].finding != NULL)
				assert_non_null(strstr(why, cases[i].finding));
		}
		g_bytes_unref(der);
		if (cases[i].finding == NULL) {
			if (!clean)
				print_error("%s: %s\n", cases[i].name, (char *)findings->pdata[0]);
			assert_true(clean);
		} else {
			guint j;
			gboolean seen = FALSE;

			for (j = 0; j < findings->len; j++)
				seen = seen || strstr(findings->pdata[j], cases[i].finding) != NULL;
			if (!seen)
				print_error("%s: want \"%s\", got %u findings%s%s\n", cases[i].name,
				            cases[i].finding, findings->len,
				            findings->len ? ": " : "",
				            findings->len ? (char *)findings->pdata[0] : "");
			assert_true(seen);
		}
		X509_free(x);
	}
	cg_verifier_free(v);
	EVP_PKEY_free(other);
}

/* The verifier lints a copy of the request: with the key as a CSR encodes
 * it (subject_spki, read from DER), every certificate passes there as it
 * does in line. (A copy by X509_PUBKEY_dup encoded a key whose last bit is
 * zero otherwise, and the lint found it not the requested key: half of
 * all keys.) */
static void
test_verifier_spki(void **state)
{
	Fx *fx = *state;
	CgVerifier *v = cg_verifier_new(2);
	int i;

	for (i = 0; i < 16; i++) {
		g_autoptr(GPtrArray) findings = g_ptr_array_new_with_free_func(g_free);
		g_autoptr(GError) err = NULL;
		g_autofree char *why = NULL;
		EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		unsigned char *enc = NULL;
		const unsigned char *p;
		X509_PUBKEY *spki;
		CgCertRequest r;
		GBytes *der;
		X509 *x;
		int len;

		assert_non_null(key);
		assert_true((len = i2d_PUBKEY(key, &enc)) > 0);
		p = enc;
		assert_non_null(spki = d2i_X509_PUBKEY(NULL, &p, len));
		OPENSSL_free(enc);
		cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, key);
		r.subject_spki = spki;
		assert_non_null(x = cg_cert_build(&r, &err));
		assert_true(cg_sign_cert(x, cg_ca_key(fx->ca), NULL));
		der = der_of(x);
		assert_true(cg_cert_lint_signed(der, &r, findings));
		cg_verifier_cert(v, der, &r, "spki");
		if (!cg_verifier_wait(v, &why)) {
			print_error("key %d: %s\n", i, why);
			fail();
		}
		g_bytes_unref(der);
		X509_free(x);
		X509_PUBKEY_free(spki);
		EVP_PKEY_free(key);
	}
	cg_verifier_free(v);
}

/* CSRs' self-signatures verified on the verifier's threads, each verdict
 * taken by its name: a CSR altered after it was signed fails there, its
 * original passes; a verdict is only for the very bytes verified, taken
 * once, and dropped by the wait if nobody took it. */
static void
test_verifier_csr(void **state)
{
	Fx *fx = *state;
	CgVerifier *v = cg_verifier_new(2);
	X509_REQ *req = X509_REQ_new();
	unsigned char *enc = NULL;
	g_autoptr(GBytes) good = NULL, bad = NULL;
	char *why = NULL;
	CgCsr *csr = NULL;
	guint8 *flipped;
	int len, i;

	assert_true(X509_REQ_set_pubkey(req, fx->ec));
	assert_true(X509_REQ_sign(req, fx->ec, EVP_sha256()) > 0);
	assert_true((len = i2d_X509_REQ(req, &enc)) > 0);
	good = g_bytes_new(enc, (gsize)len);
	flipped = g_memdup2(enc, (gsize)len);
	flipped[len - 1] ^= 1;
	bad = g_bytes_new_take(flipped, (gsize)len);
	OPENSSL_free(enc);
	X509_REQ_free(req);
	for (i = 0; i < 20; i++) {
		g_autofree char *what = g_strdup_printf("R1#%d", i);

		cg_verifier_csr(v, i == 13 ? bad : good, what);
	}
	for (i = 19; i >= 0; i--) {
		g_autofree char *what = g_strdup_printf("R1#%d", i);

		if (i == 7) /* other bytes than those verified: no verdict */
			assert_false(cg_verifier_csr_take(v, what, bad, &csr, &why));
		else
			assert_true(
			    cg_verifier_csr_take(v, what, i == 13 ? bad : good, &csr, &why));
		if (i == 13) {
			assert_non_null(strstr(why, "CSR self-signature does not verify"));
			assert_null(csr);
		} else if (i != 7) {
			/* The CSR as the verifier read it, for the job. */
			assert_null(why);
			assert_non_null(csr);
			assert_true(g_bytes_equal(csr->der, good));
		} else {
			assert_null(why);
			assert_null(csr);
		}
		g_free(why);
		why = NULL;
		g_clear_pointer(&csr, cg_csr_free);
		/* Taken once. */
		assert_false(cg_verifier_csr_take(v, what, good, &csr, &why));
		assert_null(csr);
	}
	/* A name handed over twice before it is taken keeps its first
	 * verdict: the bytes of the first, not those of the second. */
	cg_verifier_csr(v, good, "R3#1");
	cg_verifier_csr(v, bad, "R3#1");
	assert_true(cg_verifier_csr_take(v, "R3#1", good, &csr, &why));
	assert_null(why);
	assert_true(g_bytes_equal(csr->der, good));
	g_clear_pointer(&csr, cg_csr_free);
	/* Certificates' verdicts are the wait's; a CSR's never fails it, and
	 * one not taken is dropped. */
	cg_verifier_csr(v, bad, "R2#1");
	assert_true(cg_verifier_wait(v, NULL));
	assert_false(cg_verifier_csr_take(v, "R2#1", bad, &csr, &why));
	cg_verifier_free(v);
}

/* Certificates built, linted and signed on the verifier's threads
 * (cg_ca_issue_later), the caller taking tasks as the batch's thread does:
 * each comes out signed by the CA with the serial chosen when it was handed
 * over, and none before its task is done. A request the pre-issuance lint
 * refuses fails the wait, and its certificate is never signed. */
static void
test_verifier_sign(void **state)
{
	Fx *fx = *state;
	CgVerifier *v = cg_verifier_new(2);
	CgSigned *s[24], *refused;
	guint8 serials[24][16];
	g_autofree char *why = NULL;
	CgCertRequest r;
	int i;

	assert_true(cg_ca_signs_beside(fx->ca));
	for (i = 0; i < 24; i++) {
		cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, fx->ec);
		assert_non_null(s[i] = cg_ca_issue_later(fx->ca, &r, v, NULL));
		memcpy(serials[i], r.serial, 16);
		assert_int_not_equal(serials[i][0], 0); /* chosen here, positive */
		if (i % 3 == 0)
			cg_verifier_run_one(v);
	}
	while (cg_verifier_run_one(v))
		;
	assert_int_equal(cg_verifier_queued(v), 0);
	assert_true(cg_verifier_wait(v, NULL));
	for (i = 0; i < 24; i++) {
		GBytes *der = cg_signed_der(s[i]);
		const ASN1_INTEGER *sn;
		guint8 got[16];
		BIGNUM *bn;
		X509 *x;

		assert_non_null(der);
		x = cg_x509_read(g_bytes_get_data(der, NULL), g_bytes_get_size(der));
		assert_non_null(x);
		assert_int_equal(X509_verify(x, cg_ca_key(fx->ca)), 1);
		sn = X509_get0_serialNumber(x);
		assert_non_null(bn = ASN1_INTEGER_to_BN(sn, NULL));
		assert_int_equal(BN_bn2binpad(bn, got, 16), 16);
		assert_memory_equal(got, serials[i], 16);
		BN_free(bn);
		X509_free(x);
		cg_signed_unref(s[i]);
	}
	cg_profilefx_request(fx, &r, CG_PROFILE_ORGANIZATION, fx->weak);
	assert_non_null(refused = cg_ca_issue_later(fx->ca, &r, v, NULL));
	assert_false(cg_verifier_wait(v, &why));
	assert_non_null(strstr(why, "pre-issuance lint refused the certificate"));
	assert_non_null(strstr(why, "RSA key of 1024 bits"));
	assert_null(cg_signed_der(refused));
	cg_signed_unref(refused);
	cg_verifier_free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mutations),     cmocka_unit_test(test_signed),
	    cmocka_unit_test(test_verifier_csr),  cmocka_unit_test(test_verifier_spki),
	    cmocka_unit_test(test_verifier_sign),
	};

	return cmocka_run_group_tests(tests, cg_profilefx_setup, cg_profilefx_teardown);
}
