/*
 * test_conf.c: the configuration parser, its key table and its errors.
 */
#include "testutil.h"
#include "common.h"
#include "conf.h"

#include <string.h>

static CgConf *
load(const char *text, GError **err)
{
	return cg_conf_load_data("t.conf", "/etc/certgate", text, strlen(text), err);
}

/* Loads text, expects failure, and checks the message holds needle. */
static void
expect_bad(const char *text, const char *needle)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) c = load(text, &err);

	if (c != NULL)
		print_error("accepted:\n%s\n", text);
	assert_null(c);
	assert_error(err, CG_ERROR_CONFIG, needle);
}

static void
test_minimal_defaults(void **state)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) c = load("GatewayDomain ca.example.net\n", &err);

	(void)state;
	assert_non_null(c);
	assert_string_equal(c->gateway_domain, "ca.example.net");
	assert_string_equal(c->letter_address, "request@ca.example.net");
	assert_string_equal(c->enroll_address, "enroll@ca.example.net");
	assert_string_equal(c->challenge_address, "challenge@ca.example.net");
	assert_string_equal(c->revoke_address, "revoke@ca.example.net");
	assert_string_equal(c->crl_url, "http://ca.example.net/crl/issuing-ca.crl");
	assert_int_equal(c->challenge_lifetime, 24 * 3600);
	assert_int_equal(c->domain_reuse, 398 * 86400);
	assert_int_equal(c->max_message_size, 10 * 1024 * 1024);
	assert_int_equal(c->socket_mode, 0660);
	assert_int_equal(c->default_validity, 730);
	assert_int_equal(c->max_validity, 825);
	assert_int_equal(c->max_bulk_rows, 10000);
	assert_string_equal(c->reply_auth, "dmarc");
	assert_string_equal(c->enroll_auth, "signed-or-confirm");
	assert_string_equal(c->after_accept, "discard");
	assert_false(c->deliver_to_subject);
	assert_string_equal(c->sendmail[0], "/usr/sbin/sendmail");
	assert_null(c->sendmail[1]);
	assert_string_equal(c->caa_identities[0], "ca.example.net");
}

static void
test_values(void **state)
{
	const char *text = "# a comment\n"
	                   "gatewaydomain   CA.Example.NET.  # trailing comment\n"
	                   "MAXMESSAGESIZE 512K\n"
	                   "ChallengeLifetime 2d\n"
	                   "InviteLifetime 90m\n"
	                   "DeliverToSubject yes\n"
	                   "DbHome db\n"
	                   "CAKey pkcs11:token=ca;object=key#x\n"
	                   "Sendmail /usr/sbin/sendmail -oi -odq\r\n"
	                   "EnrollAddress <Certs@Bücher.example>\n"
	                   "SocketMode 0600\n"
	                   "LogLevel debug\n";
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) c = load(text, &err);

	(void)state;
	if (c == NULL)
		print_error("%s\n", err->message);
	assert_non_null(c);
	assert_string_equal(c->gateway_domain, "ca.example.net");
	assert_int_equal(c->max_message_size, 512 * 1024);
	assert_int_equal(c->challenge_lifetime, 2 * 86400);
	assert_int_equal(c->invite_lifetime, 90 * 60);
	assert_true(c->deliver_to_subject);
	/* Relative paths are taken from the file's directory. */
	assert_string_equal(c->db_home, "/etc/certgate/db");
	/* '#' inside a value is not a comment. */
	assert_string_equal(c->ca_key, "pkcs11:token=ca;object=key#x");
	assert_string_equal(c->sendmail[2], "-odq");
	assert_string_equal(c->enroll_address, "Certs@xn--bcher-kva.example");
	assert_int_equal(c->socket_mode, 0600);
	assert_int_equal(cg_conf_log_level(c), 7);
}

static void
test_each_error_names_line_and_key(void **state)
{
	(void)state;
	expect_bad("Socket unix:/x\n", "GatewayDomain: required key is missing");
	expect_bad("GatewayDomain ca.example.net\nNoSuchKey 1\n",
	           "t.conf:2: NoSuchKey: unknown key");
	expect_bad("GatewayDomain ca.example.net\nDbHome /a\ndbhome /b\n",
	           "t.conf:3: DbHome: duplicate key (first set at line 2)");
	expect_bad("GatewayDomain ca.example.net\nDbHome\n", "t.conf:2: DbHome: missing value");
	expect_bad("GatewayDomain nodots\n", "t.conf:1: GatewayDomain");
	expect_bad("GatewayDomain ca.example.net\nMaxBulkRows many\n",
	           "t.conf:2: MaxBulkRows: \"many\" is not a valid number");
	expect_bad("GatewayDomain ca.example.net\nMaxBulkRows 0\n", "out of range");
	/* A list is taken in one transaction: its locks must fit the table. */
	expect_bad("GatewayDomain ca.example.net\nMaxBulkRows 100001\n", "out of range");
	expect_bad("GatewayDomain ca.example.net\nMaxMessageSize 10X\n", "not a valid size");
	expect_bad("GatewayDomain ca.example.net\nMaxMessageSize 99999999999999999999\n",
	           "not a valid size");
	expect_bad("GatewayDomain ca.example.net\nChallengeLifetime 24\n",
	           "out of range (1m to 30d)");
	expect_bad("GatewayDomain ca.example.net\nChallengeLifetime 31d\n", "out of range");
	expect_bad("GatewayDomain ca.example.net\nInviteLifetime 25h\n", "out of range");
	expect_bad("GatewayDomain ca.example.net\nDomainReuse 399d\n", "out of range");
	expect_bad("GatewayDomain ca.example.net\nChallengeLifetime soon\n",
	           "not a valid duration");
	expect_bad("GatewayDomain ca.example.net\nDeliverToSubject maybe\n", "is not yes or no");
	expect_bad("GatewayDomain ca.example.net\nReplyAuth none\n",
	           "is not one of dmarc|spf|dkim");
	expect_bad("GatewayDomain ca.example.net\nLetterAddress not-an-address\n",
	           "t.conf:2: LetterAddress");
	expect_bad("GatewayDomain ca.example.net\nCrlUrl https://ca.example.net/x.crl\n",
	           "must be an http:// URL");
	expect_bad("GatewayDomain ca.example.net\nSocket tcp:25\n", "socket must be");
	expect_bad("GatewayDomain ca.example.net\nSocket inet:99999@127.0.0.1\n", "inet:PORT@HOST");
	expect_bad("GatewayDomain ca.example.net\nMaxValidity 826\n", "out of range");
	expect_bad("GatewayDomain ca.example.net\nSocketMode 0999\n", "octal mode");
	expect_bad("GatewayDomain ca.example.net\nUserID bad\x01value\n", "control characters");
	expect_bad("GatewayDomain ca.example.net\nSendmail\ta b c d e f g h i j k l m n o p q\n",
	           "needs 1 to 16 items");
}

static void
test_cross_checks(void **state)
{
	(void)state;
	expect_bad("GatewayDomain ca.example.net\nDefaultValidity 800\nMaxValidity 700\n",
	           "above MaxValidity");
	expect_bad("GatewayDomain ca.example.net\nCrlInterval 7d\nCrlNextUpdate 7d\n",
	           "longer than CrlInterval");
	expect_bad("GatewayDomain ca.example.net\nEnrollAddress request@ca.example.net\n",
	           "EnrollAddress: is the same address as LetterAddress");
	expect_bad("GatewayDomain ca.example.net\nSocket inet:8891@192.0.2.1\n",
	           "needs AllowInetSocket yes");
	expect_bad("GatewayDomain ca.example.net\nDomainReuse 30d\nDomainRenewal 30d\n",
	           "shorter than DomainReuse");
	expect_bad("GatewayDomain ca.example.net\nExpiryReminders 30d, 30d\n", "\"30d\" is given twice");
	expect_bad("GatewayDomain ca.example.net\nExpiryReminders 30m\n",
	           "not a duration from 1h to 825d");
	expect_bad("GatewayDomain ca.example.net\nExpiryReminders soon\n", "(or say none)");
	expect_bad("GatewayDomain ca.example.net\nOperatorAddress ops\n",
	           "OperatorAddress: \"ops\": address needs local@domain");
	expect_bad("GatewayDomain ca.example.net\nDigestTime 24:00\n", "not a time HH:MM (UTC)");
	expect_bad("GatewayDomain ca.example.net\nDigestTime 6:00\n", "not a time HH:MM (UTC)");
	/* One host is one perspective, whatever its port or its name's case. */
	expect_bad("GatewayDomain ca.example.net\nPerspective p1.example:8853\n"
	           "Perspective P1.Example:8854\n",
	           "Perspective: \"P1.Example:8854\" is on the host of \"p1.example:8853\"");
	expect_bad("GatewayDomain ca.example.net\nPerspective [2001:db8::7]:8853\n"
	           "Perspective 192.0.2.7:8853\nPerspective [2001:db8::7]:9953\n",
	           "\"[2001:db8::7]:9953\" is on the host of \"[2001:db8::7]:8853\"");
	{
		g_autoptr(GError) err = NULL;
		g_autoptr(CgConf) c =
		    load("GatewayDomain ca.example.net\nPerspective p1.example:8853\n"
		         "Perspective p2.example:8853\n",
		         &err);

		assert_non_null(c);
		assert_int_equal(g_strv_length(c->perspectives), 2);
	}
}

/* ExpiryReminders longest first, and the next stage; "none"; the next
 * DigestTime. */
static void
test_lifecycle_keys(void **state)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) c = load("GatewayDomain ca.example.net\n", &err);
	g_autoptr(CgConf) d = load("GatewayDomain ca.example.net\nExpiryReminders 1d 60d, 12h\n"
	                           "DigestTime 23:30\nOperatorAddress Ops@CA.Example.NET\n",
	                           &err);
	g_autoptr(CgConf) none = load("GatewayDomain ca.example.net\nExpiryReminders none\n", &err);
	gint64 st[8];
	/* 2026-12-03 10:00:00 UTC */
	const gint64 t = 1796292000;

	(void)state;
	assert_int_equal(cg_conf_reminders(c, st), 4);
	assert_int_equal(st[0], 45 * 86400);
	assert_int_equal(st[3], 86400);
	assert_int_equal(cg_conf_reminders(d, st), 3);
	assert_int_equal(st[0], 60 * 86400);
	assert_int_equal(st[1], 86400);
	assert_int_equal(st[2], 12 * 3600);
	assert_int_equal(cg_conf_reminders(none, st), 0);
	/* The chain of stages for a certificate that expires at t + 100 days
	 * (defaults 45d 30d 15d 1d): the first still ahead, then each below. */
	assert_int_equal(cg_conf_reminder_next(c, G_MAXINT64, t + 100 * 86400, t), 45 * 86400);
	assert_int_equal(cg_conf_reminder_next(c, 45 * 86400, t + 100 * 86400, t), 30 * 86400);
	assert_int_equal(cg_conf_reminder_next(c, 86400, t + 100 * 86400, t), 0);
	/* 40 days left: 45d has passed; 30 days left exactly: 30d is not after t. */
	assert_int_equal(cg_conf_reminder_next(c, G_MAXINT64, t + 40 * 86400, t), 30 * 86400);
	assert_int_equal(cg_conf_reminder_next(c, G_MAXINT64, t + 30 * 86400, t), 15 * 86400);
	assert_int_equal(cg_conf_reminder_next(d, 86400, t + 100 * 86400, t), 12 * 3600);
	assert_int_equal(cg_conf_reminder_next(none, G_MAXINT64, t + 100 * 86400, t), 0);
	assert_string_equal(c->operator_address, "");
	assert_string_equal(d->operator_address, "Ops@ca.example.net");
	assert_int_equal(cg_conf_next_digest(c, t), t + 20 * 3600); /* 06:00 tomorrow */
	assert_int_equal(cg_conf_next_digest(d, t), t + 13 * 3600 + 1800); /* 23:30 today */
	assert_int_equal(cg_conf_next_digest(d, t + 13 * 3600 + 1800), t + 37 * 3600 + 1800);
}

static void
test_inet_allowed(void **state)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) c =
	    load("GatewayDomain ca.example.net\nSocket inet:8891@192.0.2.1\nAllowInetSocket yes\n",
	         &err);

	(void)state;
	assert_non_null(c);
}

/* Socket and SmtpSubmit name a unix socket three ways; the path is what
 * follows the prefix. */
static void
test_socket_path(void **state)
{
	(void)state;
	assert_string_equal(cg_conf_socket_path("unix:/run/a.sock"), "/run/a.sock");
	assert_string_equal(cg_conf_socket_path("local:/run/b.sock"), "/run/b.sock");
	assert_string_equal(cg_conf_socket_path("/run/c.sock"), "/run/c.sock");
	assert_string_equal(cg_conf_socket_path("unix:relative"), "relative");
	assert_null(cg_conf_socket_path("inet:25@127.0.0.1"));
	assert_null(cg_conf_socket_path("inet6:25@::1"));
	assert_null(cg_conf_socket_path("run/d.sock"));
	assert_null(cg_conf_socket_path(""));
}

static void
test_all_problems_reported(void **state)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) c =
	    load("Foo 1\nGatewayDomain ca.example.net\nBar 2\nMaxBulkRows x\n", &err);
	g_auto(GStrv) lines = NULL;

	(void)state;
	assert_null(c);
	lines = g_strsplit(err->message, "\n", -1);
	assert_int_equal(g_strv_length(lines), 3);
	assert_non_null(strstr(lines[0], "t.conf:1: Foo"));
	assert_non_null(strstr(lines[1], "t.conf:3: Bar"));
	assert_non_null(strstr(lines[2], "t.conf:4: MaxBulkRows"));
}

static void
test_dump_round_trip(void **state)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) c = load("GatewayDomain ca.example.net\nChallengeLifetime 36h\n"
	                           "MaxMessageSize 3M\nSendmail /bin/true -x\n",
	                           &err);
	g_autoptr(GString) all = g_string_new(NULL), set = g_string_new(NULL),
	                   again = g_string_new(NULL);
	g_autoptr(CgConf) c2 = NULL;

	(void)state;
	assert_non_null(c);
	cg_conf_dump(c, TRUE, set);
	/* Only the keys given, in table order, as the file would write them. */
	assert_string_equal(set->str, "MaxMessageSize 3M\nSendmail /bin/true -x\n"
	                              "GatewayDomain ca.example.net\nChallengeLifetime 36h\n");
	assert_non_null(strstr(set->str, "ChallengeLifetime 36h\n"));
	assert_non_null(strstr(set->str, "MaxMessageSize 3M\n"));
	assert_null(strstr(set->str, "DbHome"));
	/* The full dump is itself a valid file meaning the same thing. */
	cg_conf_dump(c, FALSE, all);
	{
		/* Empty values (SocketGroup, PKCS11Module...) cannot be written back. */
		g_auto(GStrv) lines = g_strsplit(all->str, "\n", -1);
		g_autoptr(GString) text = g_string_new(NULL);
		char **l;

		for (l = lines; *l; l++)
			if (**l && (*l)[strlen(*l) - 1] != ' ')
				g_string_append_printf(text, "%s\n", *l);
		c2 = load(text->str, &err);
	}
	assert_non_null(c2);
	cg_conf_dump(c2, FALSE, again);
	assert_string_equal(all->str, again->str);
}

static void
test_load_file(void **state)
{
	g_autofree char *sample = NULL;
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) c = NULL;
	g_autoptr(CgConf) missing = NULL;
	const char *src = g_getenv("CG_SRC");

	(void)state;
	sample = g_build_filename(src ? src : ".", "conf", "certgate.conf", NULL);
	c = cg_conf_load(sample, &err);
	if (c == NULL)
		print_error("%s\n", err->message);
	assert_non_null(c);
	assert_string_equal(c->path, sample);
	missing = cg_conf_load("/nonexistent/certgate.conf", &err);
	assert_null(missing);
}

static void
test_refcount(void **state)
{
	CgConf *c = load("GatewayDomain ca.example.net\n", NULL);

	(void)state;
	assert_non_null(c);
	assert_ptr_equal(cg_conf_ref(c), c);
	cg_conf_unref(c);
	assert_string_equal(c->gateway_domain, "ca.example.net");
	cg_conf_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal_defaults),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_each_error_names_line_and_key),
	    cmocka_unit_test(test_cross_checks), cmocka_unit_test(test_lifecycle_keys),
	    cmocka_unit_test(test_inet_allowed),
	    cmocka_unit_test(test_socket_path),
	    cmocka_unit_test(test_all_problems_reported),
	    cmocka_unit_test(test_dump_round_trip),
	    cmocka_unit_test(test_load_file),
	    cmocka_unit_test(test_refcount),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
