/*
 * test_milter.c: the milter's tables: which handler serves which gateway
 * address, and the one table from error code to SMTP reply (DESIGN.md 6).
 */
#include "testutil.h"
#include "common.h"
#include "milter.h"

#include <string.h>

static void
test_kinds(void **state)
{
	static const char text[] = "GatewayDomain ca.example.net\n"
	                           "RevokeAddress stop@ca.example.net\n";
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) c = cg_conf_load_data("t.conf", NULL, text, sizeof(text) - 1, &err);

	(void)state;
	assert_non_null(c);
	assert_int_equal(cg_handler_kind_of(c, "Enroll@CA.example.net"), CG_GW_ENROLL);
	assert_int_equal(cg_handler_kind_of(c, "request@ca.example.net"), CG_GW_LETTER);
	assert_int_equal(cg_handler_kind_of(c, "challenge@ca.example.net"), CG_GW_CHALLENGE);
	assert_int_equal(cg_handler_kind_of(c, "stop@ca.example.net"), CG_GW_REVOKE);
	assert_int_equal(cg_handler_kind_of(c, "revoke@ca.example.net"), CG_GW_NONE);
	assert_int_equal(cg_handler_kind_of(c, "other@ca.example.net"), CG_GW_NONE);
	assert_int_equal(cg_handler_kind_of(c, NULL), CG_GW_NONE);
	assert_string_equal(cg_handler_name(CG_GW_ENROLL), "enroll");
	assert_string_equal(cg_handler_name(CG_GW_NONE), "none");
	assert_ptr_equal(cg_handler_for(CG_GW_REVOKE), &cg_revoke_handler);
	assert_null(cg_handler_for(CG_GW_NONE));
}

static void
expect(int code, CgVerdict v, const char *rcode, const char *xcode, const char *text)
{
	g_autoptr(GError) err = g_error_new(CG_ERROR, code, "what\r\nwent 100%% wrong");
	CgReply r;

	cg_reply_from_error(err, "Q1", &r);
	assert_int_equal(r.verdict, v);
	assert_string_equal(r.rcode, rcode);
	assert_string_equal(r.xcode, xcode);
	if (strstr(r.text, text) == NULL)
		fail_msg("reply \"%s\" lacks \"%s\"", r.text, text);
}

static void
test_replies(void **state)
{
	(void)state;
	/* The text is made safe: no control characters, no '%'. */
	expect(CG_ERROR_MALFORMED, CG_MV_REJECT, "554", "5.6.0", "certgate: what??went 100? wrong");
	expect(CG_ERROR_TOO_LARGE, CG_MV_REJECT, "552", "5.3.4", "what");
	expect(CG_ERROR_NOT_AUTHORISED, CG_MV_REJECT, "550", "5.7.1", "what");
	expect(CG_ERROR_BAD_SIGNATURE, CG_MV_REJECT, "550", "5.7.5", "what");
	expect(CG_ERROR_SPF_FAIL, CG_MV_REJECT, "550", "5.7.23", "what");
	expect(CG_ERROR_DKIM_FAIL, CG_MV_REJECT, "550", "5.7.20", "what");
	expect(CG_ERROR_DMARC_FAIL, CG_MV_REJECT, "550", "5.7.1", "what");
	expect(CG_ERROR_BAD_TOKEN, CG_MV_REJECT, "550", "5.7.1", "what");
	expect(CG_ERROR_DNS_TEMP, CG_MV_TEMPFAIL, "451", "4.4.3", "what");
	expect(CG_ERROR_RCPT_LATER, CG_MV_TEMPFAIL, "452", "4.5.3", "what");
	/* Internal errors are not told to the sender. */
	expect(CG_ERROR_INTERNAL, CG_MV_TEMPFAIL, "451", "4.3.0", "retry later (queue id Q1)");
	expect(CG_ERROR_IO, CG_MV_TEMPFAIL, "451", "4.3.0", "retry later (queue id Q1)");
	expect(CG_ERROR_DUPLICATE, CG_MV_TEMPFAIL, "451", "4.3.0", "retry later");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kinds),
	    cmocka_unit_test(test_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
