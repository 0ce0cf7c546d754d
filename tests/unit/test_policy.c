/*
 * test_policy.c: organisation identity rules.
 */
#include "testutil.h"
#include "common.h"
#include "policy.h"

static void
test_countries(void **state)
{
	(void)state;
	assert_true(cg_policy_country_valid("PL"));
	assert_true(cg_policy_country_valid("US"));
	assert_true(cg_policy_country_valid("ZW"));
	assert_false(cg_policy_country_valid("pl"));
	assert_false(cg_policy_country_valid("XX"));
	assert_false(cg_policy_country_valid("UK")); /* GB is the code */
	assert_false(cg_policy_country_valid("EL")); /* only as a VAT prefix */
	assert_false(cg_policy_country_valid("P"));
	assert_false(cg_policy_country_valid("POL"));
	assert_false(cg_policy_country_valid(NULL));
}

static void
test_identifiers_good(void **state)
{
	const char *good[] = {"NTRPL-0000123456",
	                      "NTRUS+CA-12345678",
	                      "VATDE-123456789",
	                      "VATEL-123456789",
	                      "VATXI-123456789",
	                      "PSDBE-NBB-1234.567.890",
	                      "LEIXG-529900T8BM49AURSDO55",
	                      "GOVUS+DC-1",
	                      "INTXG-WHO"};
	gsize i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(good); i++) {
		g_autoptr(GError) err = NULL;

		if (!cg_policy_org_identifier(good[i], &err))
			print_error("%s: %s\n", good[i], err->message);
		assert_true(cg_policy_org_identifier(good[i], NULL));
	}
}

static void
test_identifiers_bad(void **state)
{
	struct {
		const char *id, *why;
	} bad[] = {
	    {"ABCPL-123", "scheme must be"},
	    {"NTRXX-123", "country code"},
	    {"NTRpl-123", "country code"},
	    {"NTRPL123456", "'-'"},
	    {"NTRPL_123456", "'-'"},
	    {"NTRPL-", "must look like"},
	    {"NTRPL-12 34", "registration reference"},
	    {"NTRPL-12%34", "registration reference"},
	    {"LEIPL-529900T8BM49AURSDO55", "XG"},
	    {"LEIXG-529900T8BM49", "20 letters"},
	    {"INTPL-WHO", "XG"},
	    {"VATPL+MZ-123", "only NTR and GOV"},
	    {"NTRUS+CALI-123", "1 to 3"},
	    {"NTRUS+-123", "1 to 3"},
	    {"NTREL-123456", "country code"},
	};
	gsize i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) err = NULL;

		if (cg_policy_org_identifier(bad[i].id, &err))
			print_error("accepted: %s\n", bad[i].id);
		assert_error(err, CG_ERROR_MALFORMED, bad[i].why);
	}
	assert_false(cg_policy_org_identifier(NULL, NULL));
}

static void
test_identifier_country(void **state)
{
	g_autofree char *pl = cg_policy_identifier_country("NTRPL-1");
	g_autofree char *gr = cg_policy_identifier_country("VATEL-1");
	g_autofree char *gb = cg_policy_identifier_country("VATXI-1");
	g_autofree char *xg = cg_policy_identifier_country("LEIXG-529900T8BM49AURSDO55");

	(void)state;
	assert_string_equal(pl, "PL");
	assert_string_equal(gr, "GR");
	assert_string_equal(gb, "GB");
	assert_null(xg);
}

static void
test_postmaster_locals(void **state)
{
	(void)state;
	assert_true(cg_policy_postmaster_local("postmaster"));
	assert_true(cg_policy_postmaster_local("Hostmaster"));
	assert_true(cg_policy_postmaster_local("admin"));
	assert_true(cg_policy_postmaster_local("administrator"));
	assert_true(cg_policy_postmaster_local("webmaster"));
	assert_false(cg_policy_postmaster_local("root"));
	assert_false(cg_policy_postmaster_local("postmaster2"));
	assert_false(cg_policy_postmaster_local("ceo"));
	assert_false(cg_policy_postmaster_local(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_countries),         cmocka_unit_test(test_identifiers_good),
	    cmocka_unit_test(test_identifiers_bad),   cmocka_unit_test(test_identifier_country),
	    cmocka_unit_test(test_postmaster_locals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
