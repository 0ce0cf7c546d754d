/*
 * test_decisions.c: policy's decisions on facts the callers gather: may an
 * organisation use a domain, EnrollAuth, the sponsor profile, the issuer's
 * re-checks in order, the subject of each profile, CAA issuemail.
 */
#include "testutil.h"
#include "common.h"
#include "policy.h"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <string.h>

#define NOW ((gint64)1800000000)

static CgDomainFacts
domain(const char *holder, gboolean validated, gint64 expires)
{
	CgDomainFacts f = {"example.org",
	                   holder != NULL,
	                   holder,
	                   validated,
	                   validated ? "validated" : "pending",
	                   expires,
	                   validated ? CG_METHOD_EMAIL : "",
	                   FALSE};

	return f;
}

static void
assert_reason(char *why, const char *needle)
{
	if (needle == NULL) {
		if (why != NULL)
			fail_msg("refused: %s", why);
		return;
	}
	if (why == NULL)
		fail_msg("not refused; expected \"%s\"", needle);
	if (strstr(why, needle) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", why, needle);
	g_free(why);
}

static void
test_domain_usable(void **state)
{
	CgDomainFacts f;

	(void)state;
	f = domain(NULL, FALSE, 0);
	assert_reason(cg_policy_domain_usable(&f, "1", NOW),
	              "example.org is not a domain of this organisation");
	/* Another organisation's domain: the same words, nothing about them. */
	f = domain("2", TRUE, NOW + 10);
	assert_reason(cg_policy_domain_usable(&f, "1", NOW),
	              "example.org is not a domain of this organisation");
	f = domain("1", FALSE, 0);
	assert_reason(cg_policy_domain_usable(&f, "1", NOW), "example.org is not validated (pending)");
	f = domain("1", TRUE, NOW);
	assert_reason(cg_policy_domain_usable(&f, "1", NOW), "the validation of example.org has expired");
	f = domain("1", TRUE, NOW + 1);
	assert_reason(cg_policy_domain_usable(&f, "1", NOW), NULL);
}

/* TrustModel public: no operator attestation; the e-mail method (TLS BR
 * 3.2.2.4.4) not from 2028-03-15. TrustModel private: both, always. */
static void
test_domain_method(void **state)
{
	CgDomainFacts f = domain("1", TRUE, CG_EMAIL_METHOD_SUNSET + 400 * 86400);

	(void)state;
	f.public_trust = TRUE;
	assert_reason(cg_policy_domain_usable(&f, "1", CG_EMAIL_METHOD_SUNSET - 1), NULL);
	assert_reason(cg_policy_domain_usable(&f, "1", CG_EMAIL_METHOD_SUNSET),
	              "the validation of example.org may not be relied on: the e-mail method "
	              "(TLS BR 3.2.2.4.4) may not validate domains for publicly trusted "
	              "certificates from 2028-03-15");
	f.method = CG_METHOD_OPERATOR;
	assert_reason(cg_policy_domain_usable(&f, "1", NOW),
	              "operator attestation (certgate domain add --validated) is not a domain "
	              "validation method under TrustModel public");
	f.public_trust = FALSE;
	assert_reason(cg_policy_domain_usable(&f, "1", NOW), NULL);
	f.method = CG_METHOD_EMAIL;
	assert_reason(cg_policy_domain_usable(&f, "1", CG_EMAIL_METHOD_SUNSET + 1), NULL);
	/* The warning: from 2026-03-15, for the e-mail method only. */
	assert_null(
	    cg_policy_domain_method_warning(CG_METHOD_EMAIL, CG_EMAIL_METHOD_DISCOURAGED - 1));
	assert_non_null(
	    strstr(cg_policy_domain_method_warning(CG_METHOD_EMAIL, CG_EMAIL_METHOD_DISCOURAGED),
	           "SHOULD NOT be used since 2026-03-15"));
	assert_non_null(
	    strstr(cg_policy_domain_method_warning(CG_METHOD_EMAIL, CG_EMAIL_METHOD_SUNSET),
	           "MUST NOT be used for publicly trusted certificates since "
	           "2028-03-15"));
	assert_null(cg_policy_domain_method_warning(CG_METHOD_OPERATOR, CG_EMAIL_METHOD_SUNSET));
}

/* An organisation's validation is reused for OrgReuse (825 days at most):
 * from then on it issues and renews nothing, with the reason. */
static void
test_org_reuse(void **state)
{
	const gint64 reuse = 825 * 86400;

	(void)state;
	assert_reason(cg_policy_org_usable("1", TRUE, "active", NOW - reuse + 1, reuse, NOW), NULL);
	assert_reason(cg_policy_org_usable("1", TRUE, "active", NOW - reuse, reuse, NOW),
	              "the validation of organisation 1 ended on");
	assert_reason(cg_policy_org_usable("1", TRUE, "active", NOW - reuse, reuse, NOW),
	              "Request: confirm-organisation");
	assert_reason(cg_policy_org_usable("1", FALSE, "suspended", NOW, reuse, NOW),
	              "organisation 1 is suspended");
}

static void
test_enroll_auth(void **state)
{
	GError *err = NULL;

	(void)state;
	assert_int_equal(cg_policy_enroll_auth_mode("signed-or-confirm"),
	                 CG_ENROLL_AUTH_SIGNED_OR_CONFIRM);
	assert_int_equal(cg_policy_enroll_auth_mode("signed"), CG_ENROLL_AUTH_SIGNED);
	assert_int_equal(cg_policy_enroll_auth_mode("confirm"), CG_ENROLL_AUTH_CONFIRM);
	assert_int_equal(cg_policy_enroll_auth_mode("any"), -1);
	assert_int_equal(cg_policy_enroll_auth(CG_ENROLL_AUTH_SIGNED_OR_CONFIRM, TRUE, &err),
	                 CG_ENROLL_PROCEED);
	assert_int_equal(cg_policy_enroll_auth(CG_ENROLL_AUTH_SIGNED_OR_CONFIRM, FALSE, &err),
	                 CG_ENROLL_HOLD);
	assert_int_equal(cg_policy_enroll_auth(CG_ENROLL_AUTH_SIGNED, TRUE, &err),
	                 CG_ENROLL_PROCEED);
	assert_int_equal(cg_policy_enroll_auth(CG_ENROLL_AUTH_CONFIRM, TRUE, &err), CG_ENROLL_HOLD);
	assert_int_equal(cg_policy_enroll_auth(CG_ENROLL_AUTH_CONFIRM, FALSE, &err),
	                 CG_ENROLL_HOLD);
	assert_null(err);
	assert_int_equal(cg_policy_enroll_auth(CG_ENROLL_AUTH_SIGNED, FALSE, &err),
	                 CG_ENROLL_REFUSE);
	assert_error(err, CG_ERROR_BAD_SIGNATURE, "must be S/MIME-signed");
	g_clear_error(&err);
}

static void
test_sponsor(void **state)
{
	(void)state;
	assert_reason(cg_policy_sponsor(CG_PROFILE_ORGANIZATION, NULL, NULL, "GB", "PL"), NULL);
	assert_reason(cg_policy_sponsor(CG_PROFILE_SPONSOR, "Anna", "", "PL", "PL"),
	              "needs First Name and Last Name");
	assert_reason(cg_policy_sponsor(CG_PROFILE_SPONSOR, "Anna", "Nowak", "GB", "PL"),
	              "Country GB is not the organisation's (PL)");
	assert_reason(cg_policy_sponsor(CG_PROFILE_SPONSOR, "Anna", "Nowak", "pl", "PL"), NULL);
	assert_reason(cg_policy_sponsor(CG_PROFILE_SPONSOR, "Anna", "Nowak", "", "PL"), NULL);
}

/* Facts that pass every re-check, with the CSR in csr. */
static CgIssueFacts
good(const CgCsr *csr)
{
	static char *none[] = {NULL};
	CgIssueFacts f = {0};

	f.org_id = "1";
	f.org_active = TRUE;
	f.org_status = "active";
	f.org_validated_at = NOW - 800 * 86400;
	f.org_reuse = 825 * 86400;
	f.org_country = "PL";
	f.by_admin = TRUE;
	f.requester = "anna@example.org";
	f.requester_active = TRUE;
	f.mailbox = "p256@example.org";
	f.domain = domain("1", TRUE, NOW + 100);
	f.validity_days = 365;
	f.max_validity = 825;
	f.csr = csr;
	f.key.mailbox = f.mailbox;
	f.key.certified_for = none;
	f.profile = CG_PROFILE_ORGANIZATION;
	return f;
}

static void
test_issue(void **state)
{
	g_autofree char *path = cg_test_data("csr/p256.der");
	g_autofree char *der = NULL;
	gsize len = 0;
	g_autoptr(CgCsr) csr = NULL;
	char *others[] = {"ola@example.org", NULL};
	CgIssueFacts f;

	(void)state;
	assert_true(g_file_get_contents(path, &der, &len, NULL));
	csr = cg_csr_parse((const guint8 *)der, len, NULL);
	assert_non_null(csr);
	f = good(csr);
	assert_reason(cg_policy_issue(&f, NOW), NULL);
	/* Each re-check alone, in the order the issuer reports them. */
	f = good(csr), f.org_active = FALSE, f.org_status = "suspended";
	assert_reason(cg_policy_issue(&f, NOW), "organisation 1 is suspended");
	f = good(csr), f.org_validated_at = NOW - f.org_reuse;
	assert_reason(cg_policy_issue(&f, NOW), "the validation of organisation 1 ended on");
	f = good(csr), f.requester_active = FALSE;
	assert_reason(cg_policy_issue(&f, NOW), "anna@example.org is no longer an active admin");
	f = good(csr), f.requester_active = FALSE, f.by_admin = FALSE; /* operator request */
	assert_reason(cg_policy_issue(&f, NOW), NULL);
	f = good(csr), f.domain = domain("1", TRUE, NOW);
	assert_reason(cg_policy_issue(&f, NOW), "the validation of example.org has expired");
	f = good(csr), f.validity_days = 826;
	assert_reason(cg_policy_issue(&f, NOW), "validity of 826 days is above MaxValidity 825");
	f = good(csr), f.validity_days = 0;
	assert_reason(cg_policy_issue(&f, NOW), "validity of 0 days");
	f = good(NULL), f.csr_error = "CSR: bad self-signature";
	assert_reason(cg_policy_issue(&f, NOW), "CSR: bad self-signature");
	f = good(csr), f.mailbox = f.key.mailbox = "jan@example.org";
	assert_reason(cg_policy_issue(&f, NOW), "the CSR names p256@example.org, not jan@example.org");
	f = good(csr), f.key.certified_for = others;
	assert_reason(cg_policy_issue(&f, NOW), "already certified for another mailbox");
	f = good(csr), f.key.compromised = TRUE;
	assert_reason(cg_policy_issue(&f, NOW), "compromise");
	f = good(csr), f.profile = CG_PROFILE_SPONSOR;
	assert_reason(cg_policy_issue(&f, NOW), "needs First Name and Last Name");
	f = good(csr), f.profile = CG_PROFILE_SPONSOR, f.given_name = "Jan", f.surname = "Lis";
	assert_reason(cg_policy_issue(&f, NOW), NULL);
}

/* A CSR of a new key of that type and curve, parsed. */
static CgCsr *
csr_of_new_key(const char *curve)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	X509_REQ *req = X509_REQ_new();
	unsigned char *der = NULL;
	int len;
	CgCsr *csr;

	assert_non_null(key);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	len = i2d_X509_REQ(req, &der);
	assert_true(len > 0);
	csr = cg_csr_parse(der, (gsize)len, NULL);
	assert_non_null(csr);
	OPENSSL_free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return csr;
}

/* The key's shape checked ahead (the issuer's verifier thread): the job's
 * check leaves it out then, keeps every rule that needs the store's facts,
 * and a key that failed ahead is refused with its reason. */
static void
test_key_checked_ahead(void **state)
{
	g_autoptr(CgCsr) good_csr = csr_of_new_key("P-256");
	g_autoptr(CgCsr) bad_csr = csr_of_new_key("P-224");
	CgIssueFacts f;

	(void)state;
	g_free(good_csr->mailbox), good_csr->mailbox = NULL;
	g_free(bad_csr->mailbox), bad_csr->mailbox = NULL;
	assert_false(good_csr->key_checked); /* a parse alone checks no shape */
	cg_csr_check_key(good_csr);
	assert_true(good_csr->key_checked);
	f = good(good_csr);
	assert_reason(cg_policy_issue(&f, NOW), NULL);
	f = good(good_csr), f.key.compromised = TRUE;
	assert_reason(cg_policy_issue(&f, NOW), "compromise");

	cg_csr_check_key(bad_csr);
	assert_false(bad_csr->key_checked);
	f = good(bad_csr);
	assert_reason(cg_policy_issue(&f, NOW), "EC curve secp224r1; accepted are");
	/* The mark is what the job trusts: set, the shape is not looked at
	 * again (which is why only cg_csr_check_key sets it). */
	bad_csr->key_checked = TRUE;
	assert_reason(cg_policy_issue(&f, NOW), NULL);
}

static CgRenewalFacts
renewable(void)
{
	CgRenewalFacts f = {0};

	f.serial = "0a1b";
	f.cert_found = TRUE;
	f.renewed_by = "";
	f.not_after = NOW + 30 * 86400;
	f.org_id = "1";
	f.org_active = TRUE;
	f.org_status = "active";
	f.org_validated_at = NOW - 800 * 86400;
	f.org_reuse = 825 * 86400;
	f.domain = domain("1", TRUE, NOW + 86400);
	f.answerer = "anna@example.org";
	f.answerer_admin = TRUE;
	f.needs_admin = TRUE;
	f.requester_admin = TRUE;
	return f;
}

/* Each failing check alone, refused with its reason; only the
 * organisation's own lapsed domain asks for a new challenge. */
static void
test_renewal(void **state)
{
	CgRenewalFacts f;
	gboolean again = TRUE;

	(void)state;
	f = renewable();
	assert_reason(cg_policy_renewal(&f, NOW, &again), NULL);
	assert_false(again);
	f = renewable(), f.cert_found = FALSE;
	assert_reason(cg_policy_renewal(&f, NOW, &again), "certificate 0a1b is not known");
	f = renewable(), f.revoked = TRUE, f.revoked_at = NOW - 86400;
	assert_reason(cg_policy_renewal(&f, NOW, &again), "was revoked on");
	f = renewable(), f.renewed_by = "ff00";
	assert_reason(cg_policy_renewal(&f, NOW, &again), "renewed already (by ff00)");
	f = renewable(), f.not_after = NOW;
	assert_reason(cg_policy_renewal(&f, NOW, &again), "expired on");
	f = renewable(), f.org_active = FALSE, f.org_status = "suspended";
	assert_reason(cg_policy_renewal(&f, NOW, &again), "organisation 1 is suspended");
	f = renewable(), f.domain = domain("1", TRUE, NOW - 1);
	assert_reason(cg_policy_renewal(&f, NOW, &again),
	              "the validation of example.org has expired; the domain must be challenged "
	              "again; a new challenge goes to the domain's postmaster");
	assert_true(again);
	f = renewable(), f.domain = domain("2", TRUE, NOW + 86400);
	assert_reason(cg_policy_renewal(&f, NOW, &again), "example.org is not a domain of this");
	assert_false(again);
	f = renewable(), f.answerer_admin = FALSE;
	assert_reason(cg_policy_renewal(&f, NOW, &again),
	              "anna@example.org is no longer an admin of organisation 1");
	f = renewable(), f.answerer = "jan@example.org", f.answered_by_subject = TRUE;
	f.answerer_admin = FALSE;
	assert_reason(cg_policy_renewal(&f, NOW, &again), NULL);
	f.requester_admin = FALSE;
	assert_reason(cg_policy_renewal(&f, NOW, &again), "no active admin of organisation 1");
	f.needs_admin = FALSE; /* the operator issued it */
	assert_reason(cg_policy_renewal(&f, NOW, &again), NULL);
	f = renewable(), f.same_key = TRUE;
	assert_reason(cg_policy_renewal(&f, NOW, &again), "a renewal takes a new key");
}

static void
test_subject(void **state)
{
	CgSubjectFacts f = {CG_PROFILE_ORGANIZATION, "jan@example.org", "Example", "NTRPL-1", "PL",
	                    "mazowieckie", "Warszawa", "Jan", "Lis", FALSE, TRUE, FALSE};
	static const int org[] = {NID_countryName, NID_localityName, NID_organizationName,
	                          NID_organizationIdentifier, NID_commonName};
	static const int sponsor[] = {NID_countryName,  NID_organizationName,
	                              NID_organizationIdentifier, NID_givenName,
	                              NID_surname,      NID_commonName,
	                              NID_pkcs9_emailAddress};
	g_autofree char *long_box = g_strdup_printf("%s@example.org", "abcdefghij"
	                                                             "abcdefghijabcdefghij"
	                                                             "abcdefghijabcdefghij"
	                                                             "abcdefghij");
	CgSubject s;
	guint i;

	(void)state;
	cg_policy_subject(&f, &s);
	assert_int_equal(s.n, G_N_ELEMENTS(org));
	for (i = 0; i < s.n; i++)
		assert_int_equal(s.attr[i].nid, org[i]);
	assert_string_equal(s.attr[4].value, "jan@example.org");
	cg_subject_clear(&s);
	f.profile = CG_PROFILE_SPONSOR;
	f.field_locality = FALSE;
	f.field_email = TRUE;
	cg_policy_subject(&f, &s);
	assert_int_equal(s.n, G_N_ELEMENTS(sponsor));
	for (i = 0; i < s.n; i++)
		assert_int_equal(s.attr[i].nid, sponsor[i]);
	assert_string_equal(s.common_name, "Jan Lis");
	cg_subject_clear(&s);
	/* commonName is at most 64 bytes: a longer mailbox is named by the organisation. */
	f.profile = CG_PROFILE_ORGANIZATION;
	f.mailbox = long_box;
	{
		g_autofree char *cn = cg_policy_common_name(&f);

		assert_string_equal(cn, "Example");
	}
	f.profile = CG_PROFILE_MAILBOX;
	cg_policy_subject(&f, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.attr[0].nid, NID_commonName);
	cg_subject_clear(&s);
}

static CgCaaProp *
prop(const char *tag, const char *value, gboolean critical)
{
	CgCaaProp *p = g_new0(CgCaaProp, 1);

	p->tag = g_strdup(tag);
	p->value = g_strdup(value);
	p->critical = critical;
	return p;
}

static gboolean
caa(char **ids, CgCaaProp *a, CgCaaProp *b)
{
	g_autoptr(GPtrArray) props = g_ptr_array_new_with_free_func(cg_caa_prop_free);

	if (a)
		g_ptr_array_add(props, a);
	if (b)
		g_ptr_array_add(props, b);
	return cg_policy_caa_decide(props, ids, "example.org", NULL);
}

static void
test_caa(void **state)
{
	char *ids[] = {"ca.example.net", NULL};

	(void)state;
	assert_true(caa(ids, prop("issuemail", "ca.example.net", FALSE), NULL));
	assert_true(caa(ids, prop("issuemail", "CA.Example.NET; account=1", FALSE), NULL));
	assert_true(caa(ids, prop("issuemail", "other.example", FALSE),
	                prop("issuemail", "ca.example.net", FALSE)));
	assert_false(caa(ids, prop("issuemail", "other.example", FALSE), NULL));
	assert_false(caa(ids, prop("issuemail", ";", FALSE), NULL));
	assert_false(caa(ids, prop("issuemail", "ca.example.net\x01", FALSE), NULL));
	/* issue/issuewild do not restrict S/MIME. */
	assert_true(caa(ids, prop("issue", "letsencrypt.org", FALSE), NULL));
	assert_true(
	    caa(ids, prop("issue", ";", FALSE), prop("iodef", "mailto:x@example.org", FALSE)));
	/* An unknown critical property forbids. */
	assert_false(caa(ids, prop("tbs", "x", TRUE), NULL));
	assert_true(caa(ids, prop("tbs", "x", FALSE), NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_domain_usable), cmocka_unit_test(test_domain_method),
	    cmocka_unit_test(test_org_reuse),     cmocka_unit_test(test_enroll_auth),
	    cmocka_unit_test(test_renewal),       cmocka_unit_test(test_sponsor),
	    cmocka_unit_test(test_issue),         cmocka_unit_test(test_key_checked_ahead),
	    cmocka_unit_test(test_subject),       cmocka_unit_test(test_caa),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
