/*
 * test_common.c: safe text, addresses, domains, encodings.
 */
#include "testutil.h"
#include "common.h"
#include "daemon.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static void
test_text_safe(void **state)
{
	g_autofree char *a = cg_text_safe("ok text", -1, 100);
	g_autofree char *b = cg_text_safe("bad\r\n%s\x01\xc3\xa9", -1, 100);
	g_autofree char *c = cg_text_safe("0123456789abcdef", -1, 10);
	g_autofree char *d = cg_text_safe(NULL, -1, 10);
	g_autofree char *e = cg_text_safe("a\0b", 3, 10);

	(void)state;
	assert_string_equal(a, "ok text");
	/* No control characters, no '%', no 8-bit bytes in replies or logs. */
	assert_string_equal(b, "bad???s???");
	assert_int_equal(strlen(c), 10);
	assert_string_equal(c, "0123456...");
	assert_string_equal(d, "");
	assert_string_equal(e, "a?b");
}

static void
test_text_clean(void **state)
{
	(void)state;
	assert_true(cg_text_is_clean("Kraków, ul. Długa 5", -1, 100));
	assert_false(cg_text_is_clean("line\nbreak", -1, 100));
	assert_false(cg_text_is_clean("tab\there", -1, 100));
	assert_false(cg_text_is_clean("del\x7f", -1, 100));
	assert_false(cg_text_is_clean("c1 \xc2\x85", -1, 100));       /* NEL */
	assert_false(cg_text_is_clean("bidi \xe2\x80\xae", -1, 100)); /* RLO */
	assert_false(cg_text_is_clean("\xff\xfe", -1, 100));          /* not UTF-8 */
	assert_false(cg_text_is_clean("toolong", -1, 3));
	assert_false(cg_text_is_clean("a\0b", 3, 10));
	assert_false(cg_text_is_clean(NULL, -1, 10));
}

static void
test_host_port(void **state)
{
	g_autofree char *h1 = NULL, *h2 = NULL;
	guint port = 0;

	(void)state;
	assert_true(cg_host_port_split("ca1.example.net:6000", &h1, &port));
	assert_string_equal(h1, "ca1.example.net");
	assert_int_equal(port, 6000);
	assert_true(cg_host_port_split("[2001:db8::1]:65535", &h2, &port));
	assert_string_equal(h2, "2001:db8::1");
	assert_int_equal(port, 65535);
	assert_true(cg_host_port_split("127.0.0.1:1", NULL, NULL));
	assert_false(cg_host_port_split("ca1.example.net", NULL, NULL));
	assert_false(cg_host_port_split(":6000", NULL, NULL));
	assert_false(cg_host_port_split("host:", NULL, NULL));
	assert_false(cg_host_port_split("host:0", NULL, NULL));
	assert_false(cg_host_port_split("host:65536", NULL, NULL));
	assert_false(cg_host_port_split("host:60x", NULL, NULL));
	assert_false(cg_host_port_split("[]:6000", NULL, NULL));
	assert_false(cg_host_port_split("[2001:db8::1:6000", NULL, NULL));
}

static void
test_domain(void **state)
{
	struct {
		const char *in, *out;
	} good[] = {
	    {"Example.ORG", "example.org"},
	    {"example.org.", "example.org"},
	    {"bücher.example", "xn--bcher-kva.example"},
	    {"XN--BCHER-KVA.example", "xn--bcher-kva.example"},
	    {"a-b.c-d.example.com", "a-b.c-d.example.com"},
	};
	const char *bad[] = {
	    "",
	    "localhost",
	    "-a.example",
	    "a-.example",
	    "a..example",
	    "a_b.example",
	    "exa mple.org",
	    "a.example\n",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example"};
	gsize i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(good); i++) {
		g_autoptr(GError) err = NULL;
		g_autofree char *d = cg_domain_normalise(good[i].in, &err);

		assert_non_null(d);
		assert_string_equal(d, good[i].out);
	}
	for (i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) err = NULL;
		g_autofree char *d = cg_domain_normalise(bad[i], &err);

		assert_null(d);
		assert_error(err, CG_ERROR_MALFORMED, "domain");
	}
}

static void
test_addr(void **state)
{
	struct {
		const char *in, *out;
	} good[] = {
	    {"Jan.Kowalski@Example.PL", "Jan.Kowalski@example.pl"},
	    {"<postmaster@example.org>", "postmaster@example.org"},
	    {"  a+tag@bücher.example ", "a+tag@xn--bcher-kva.example"},
	    {"o'brien@example.ie", "o'brien@example.ie"},
	    /* RFC 6531 local parts, in NFC: a decomposed é is the composed one. */
	    {"pel\xc3\xa9@example.org", "pel\xc3\xa9@example.org"},
	    {"pele\xcc\x81@example.org", "pel\xc3\xa9@example.org"},
	    {"j\xc3\xbcrgen@B\xc3\xbc" "cher.example", "j\xc3\xbcrgen@xn--bcher-kva.example"},
	};
	const char *bad[] = {"",
	                     "noat",
	                     "@example.org",
	                     "a@",
	                     "a..b@example.org",
	                     ".a@example.org",
	                     "a.@example.org",
	                     "\"quoted\"@example.org",
	                     "a b@example.org",
	                     "a@b@example.org",
	                     "a@localhost",
	                     "a\r\nBcc: x@y.org@example.org",
	                     "postmaster@example.org <evil@attacker.example>"};
	gsize i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(good); i++) {
		g_autoptr(GError) err = NULL;
		g_autofree char *a = cg_addr_normalise(good[i].in, &err);

		assert_non_null(a);
		assert_string_equal(a, good[i].out);
	}
	for (i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) err = NULL;
		g_autofree char *a = cg_addr_normalise(bad[i], &err);

		if (a != NULL)
			print_error("accepted: %s\n", bad[i]);
		assert_null(a);
		assert_error(err, CG_ERROR_MALFORMED, "address");
	}
	assert_string_equal(cg_addr_domain("a@example.org"), "example.org");
	assert_true(cg_addr_equal("Jan@example.org", "Jan@EXAMPLE.org"));
	assert_false(cg_addr_equal("Jan@example.org", "jan@example.org"));
	assert_false(cg_addr_equal("jan@example.org", "jan@example.com"));
	assert_true(cg_addr_is_ascii("jan@xn--bcher-kva.example"));
	assert_false(cg_addr_is_ascii("j\xc3\xbcrgen@example.org"));
	{
		g_autofree char *u = cg_addr_to_unicode("j\xc3\xbcrgen@xn--bcher-kva.example");

		assert_string_equal(u, "j\xc3\xbcrgen@b\xc3\xbc" "cher.example");
	}
}

/* Labels that mix scripts, or Cyrillic and Greek posing as Latin, are
 * refused with the reason; names written in one script are not. */
static void
test_confusables(void **state)
{
	const char *good[] = {
	    "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.example", /* пример */
	    "\xe6\x97\xa5\xe6\x9c\xac\xe3\x81\xae" ".example",             /* 日本の: Han, Hiragana */
	    "\xce\xb5\xce\xbb\xce\xbb\xce\xac\xce\xb4\xce\xb1" ".example", /* ελλάδα */
	    "b\xc3\xbc" "cher.example",
	};
	const struct {
		const char *in, *why;
	} bad[] = {
	    /* pаypal with a Cyrillic а */
	    {"p\xd0\xb0ypal.example", "(xn--pypal-4ve) mixes scripts, Latin and Cyrillic"},
	    /* раура: Cyrillic letters only, every one a look-alike of a Latin one */
	    {"\xd1\x80\xd0\xb0\xd1\x83\xd1\x80\xd0\xb0" ".example", "in Cyrillic letters that look Latin"},
	    /* Greek omicron and nu: οννο */
	    {"\xce\xbf\xce\xbd\xce\xbd\xce\xbf" ".example", "in Greek letters that look Latin"},
	};
	gsize i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(good); i++) {
		g_autoptr(GError) err = NULL;
		g_autofree char *d = cg_domain_normalise(good[i], &err);

		if (d == NULL)
			fail_msg("%s refused: %s", good[i], err->message);
		assert_true(g_str_has_prefix(d, "xn--"));
	}
	for (i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) err = NULL;
		g_autofree char *d = cg_domain_normalise(bad[i].in, &err);

		assert_null(d);
		assert_error(err, CG_ERROR_MALFORMED, bad[i].why);
	}
	{
		g_autofree char *u = cg_domain_to_unicode("xn--bcher-kva.example");

		assert_string_equal(u, "b\xc3\xbc" "cher.example");
	}
	{
		g_autofree char *d = cg_domain_display("xn--bcher-kva.example");
		g_autofree char *plain = cg_domain_display("example.org");

		assert_string_equal(d, "b\xc3\xbc" "cher.example (xn--bcher-kva.example)");
		assert_string_equal(plain, "example.org");
	}
}

static void
test_encodings(void **state)
{
	/* RFC 4648 test vectors, base64url without padding. */
	struct {
		const char *in, *out;
	} b64[] = {{"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
	           {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
	const guint8 urlsafe[] = {0xfb, 0xff, 0xbf};
	guint8 d[32], back[3];
	g_autofree char *hex = NULL, *u = NULL, *h3 = NULL;
	gsize i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(b64); i++) {
		g_autofree char *e = cg_base64url((const guint8 *)b64[i].in, strlen(b64[i].in));

		assert_string_equal(e, b64[i].out);
	}
	u = cg_base64url(urlsafe, 3);
	assert_string_equal(u, "-_-_");
	cg_sha256("abc", 3, d);
	hex = cg_hex(d, 32);
	assert_string_equal(hex,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_true(cg_hex_decode("fbffbf", back, 3));
	assert_memory_equal(back, urlsafe, 3);
	assert_false(cg_hex_decode("fbffb", back, 3));
	assert_false(cg_hex_decode("fbffbg", back, 3));
	h3 = cg_hex(back, 3);
	assert_string_equal(h3, "fbffbf");
	assert_true(cg_memeq_ct("same", "same", 4));
	assert_false(cg_memeq_ct("same", "sane", 4));
}

static void
test_random(void **state)
{
	guint8 a[24], b[24];
	g_autofree char *ta = NULL;

	(void)state;
	assert_true(cg_random_bytes(a, sizeof(a), NULL));
	assert_true(cg_random_bytes(b, sizeof(b), NULL));
	assert_memory_not_equal(a, b, sizeof(a));
	/* 24 bytes of token are 32 base64url characters: the challenge format. */
	ta = cg_base64url(a, sizeof(a));
	assert_int_equal(strlen(ta), 32);
}

static void
test_time(void **state)
{
	g_autofree char *t = cg_time_iso(1795290780);

	(void)state;
	assert_string_equal(t, "2026-11-21T19:53:00Z");
}

/* GLib's messages (the store logs with g_message) reach certgate's log in
 * its form and under its level, not GLib's stderr (a detached daemon's
 * /dev/null). */
static void
test_glib_logged(void **state)
{
	g_autofree char *dir = cg_test_tmpdir("log");
	g_autofree char *path = g_build_filename(dir, "stderr", NULL);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), saved = dup(2);
	g_autofree char *out = NULL, *notice = NULL, *warning = NULL;

	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	assert_int_equal(dup2(fd, 2), 2);
	cg_log_open("cg-test", LOG_DAEMON, LOG_INFO, TRUE);
	g_message("replication: a line of the store's");
	g_log("GMime", G_LOG_LEVEL_WARNING, "a library's warning\r\nForged: line");
	g_log(NULL, G_LOG_LEVEL_DEBUG, "below the level");
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	g_log_set_default_handler(g_log_default_handler, NULL);
	close(saved);
	close(fd);
	assert_true(g_file_get_contents(path, &out, NULL, NULL));
	unlink(path);
	rmdir(dir);
	notice = g_strdup_printf("Z cg-test[%d]: notice: replication: a line of the store's\n",
	                         (int)getpid());
	warning = g_strdup_printf(
	    "Z cg-test[%d]: warning: GMime: a library's warning??Forged: line\n", (int)getpid());
	assert_non_null(strstr(out, notice));
	assert_non_null(strstr(out, warning));
	assert_null(strstr(out, "below the level"));
	assert_null(strstr(out, "Message"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_safe), cmocka_unit_test(test_text_clean),
	    cmocka_unit_test(test_host_port), cmocka_unit_test(test_domain),
	    cmocka_unit_test(test_addr),      cmocka_unit_test(test_confusables),
	    cmocka_unit_test(test_encodings), cmocka_unit_test(test_random),
	    cmocka_unit_test(test_time),      cmocka_unit_test(test_glib_logged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
