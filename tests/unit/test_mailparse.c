/*
 * test_mailparse.c: the mail model.
 *
 * Golden files: every tests/data/mail/NAME.eml is parsed and its dump (or
 * "error: CODE: message") compared with NAME.out. CG_UPDATE_GOLDEN=1 rewrites
 * the .out files (review the diff before committing them).
 */
#include "testutil.h"
#include "common.h"
#include "mailparse.h"
#include "mailparse-int.h"

#include <stdio.h>
#include <string.h>

static char *
render(const char *path)
{
	g_autofree char *data = NULL;
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) raw = NULL;
	g_autoptr(CgMail) m = NULL;
	GString *out = g_string_new(NULL);
	const char *rcpts[] = {"enroll@ca.example.net", NULL};
	CgEnvelope env = {"127.0.0.1", "mail.example.org", "jan@example.org", (char **)rcpts,
	                  "4XyZ1"};
	gsize len;

	assert_true(g_file_get_contents(path, &data, &len, NULL));
	raw = g_bytes_new(data, len);
	m = cg_mail_parse(raw, &env, NULL, &err);
	if (m == NULL) {
		g_string_append_printf(out, "error: %d: %s\n", err->code, err->message);
		return g_string_free(out, FALSE);
	}
	assert_string_equal(m->envelope.client_ip, "127.0.0.1");
	assert_string_equal(m->envelope.rcpts[0], "enroll@ca.example.net");
	cg_mail_dump(m, out);
	return g_string_free(out, FALSE);
}

static void
test_golden(void **state)
{
	g_autofree char *dir = cg_test_data("mail");
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;
	guint n = 0, failed = 0;
	gboolean update = g_getenv("CG_UPDATE_GOLDEN") != NULL;

	(void)state;
	assert_non_null(d);
	while ((name = g_dir_read_name(d)) != NULL) {
		g_autofree char *path = NULL, *outpath = NULL, *got = NULL, *want = NULL;
		g_autofree char *stem = NULL;

		if (!g_str_has_suffix(name, ".eml"))
			continue;
		stem = g_strndup(name, strlen(name) - 4);
		path = g_build_filename(dir, name, NULL);
		outpath = g_strdup_printf("%s/%s.out", dir, stem);
		got = render(path);
		n++;
		if (update) {
			assert_true(g_file_set_contents(outpath, got, -1, NULL));
			continue;
		}
		if (!g_file_get_contents(outpath, &want, NULL, NULL)) {
			print_error("%s: no golden file %s\n", name, outpath);
			failed++;
		} else if (strcmp(got, want) != 0) {
			print_error("%s: dump differs from %s.out\n--- want\n%s--- got\n%s", name,
			            stem, want, got);
			failed++;
		}
	}
	assert_true(n >= 19);
	assert_int_equal(failed, 0);
}

/* LF and CRLF storage are the same message. */
static void
test_crlf_equals_lf(void **state)
{
	g_autofree char *a = cg_test_data("mail/simple.eml");
	g_autofree char *b = cg_test_data("mail/simple-crlf.eml");
	g_autofree char *ra = render(a), *rb = render(b);

	(void)state;
	assert_string_equal(ra, rb);
}

static CgMail *
parse_text(const char *text, const CgMailLimits *l, GError **err)
{
	g_autoptr(GBytes) raw = g_bytes_new(text, strlen(text));

	return cg_mail_parse(raw, NULL, l, err);
}

static void
test_limits(void **state)
{
	CgMailLimits l;
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) many = g_string_new("From: a@example.org\n");
	g_autoptr(GString) parts = g_string_new(NULL);
	CgMail *m;
	guint i;

	(void)state;
	cg_mail_limits_default(&l);
	l.max_size = 100;
	m = parse_text("From: a@example.org\nSubject: x\n\n"
	               "0123456789012345678901234567890123456789012345678901234567890123456789\n",
	               &l, &err);
	assert_null(m);
	assert_error(err, CG_ERROR_TOO_LARGE, "larger than 100 bytes");
	g_clear_error(&err);

	cg_mail_limits_default(&l);
	l.max_headers = 10;
	for (i = 0; i < 11; i++)
		g_string_append_printf(many, "X-H%u: v\n", i);
	g_string_append(many, "\nbody\n");
	m = parse_text(many->str, &l, &err);
	assert_null(m);
	assert_error(err, CG_ERROR_MALFORMED, "more than 10 header fields");
	g_clear_error(&err);

	cg_mail_limits_default(&l);
	l.max_parts = 5;
	g_string_append(parts, "From: a@example.org\nMIME-Version: 1.0\n"
	                       "Content-Type: multipart/mixed; boundary=p\n\n");
	for (i = 0; i < 6; i++)
		g_string_append(parts, "--p\nContent-Type: text/plain\n\nx\n");
	g_string_append(parts, "--p--\n");
	m = parse_text(parts->str, &l, &err);
	assert_null(m);
	assert_error(err, CG_ERROR_MALFORMED, "more than 5 MIME parts");
	g_clear_error(&err);
	/* The same message within the default limits parses. */
	m = parse_text(parts->str, NULL, &err);
	assert_non_null(m);
	assert_int_equal(m->body.attachments->len, 5);
	cg_mail_free(m);
}

static void
test_garbage_does_not_crash(void **state)
{
	const char *inputs[] = {
	    "",
	    "\n",
	    "\r\n\r\n",
	    ":",
	    "From:",
	    "From: \n\n",
	    "Content-Type: multipart/signed; boundary=\"\"\n\n--\n",
	    ("From: a@example.org\nContent-Type: multipart/signed; boundary=s\n\n--s\n"
	     "\n--s\n--s--\n")};
	gsize i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(inputs); i++) {
		g_autoptr(GError) err = NULL;
		CgMail *m = parse_text(inputs[i], NULL, &err);

		/* None of these has one valid From and sane MIME. */
		assert_null(m);
		assert_non_null(err);
	}
}

/* Found by fuzz_mail: an HTML-only body with bytes that are not UTF-8 (and
 * a NUL) gave a text that readers walking UTF-8 ran past the end of. */
static void
test_html_bytes_made_valid(void **state)
{
	const char *mail = "From: jan@example.org\nSubject: html\nMIME-Version: 1.0\n"
	                   "Content-Type: text/html; charset=utf-8\n"
	                   "Content-Transfer-Encoding: 8bit\n\n"
	                   "<p>ok \xc3\x28 and \xe2\x82 end</p>\n<p>a\0b \xf0\x9f</p>";
	g_autoptr(GBytes) raw = g_bytes_new(mail, strlen(mail) + 1 + strlen(strchr(mail, 0) + 1));
	g_autoptr(GError) err = NULL;
	g_autoptr(CgMail) m = cg_mail_parse(raw, NULL, NULL, &err);

	(void)state;
	assert_non_null(m);
	assert_true(g_utf8_validate(m->body.text, -1, NULL));
	assert_non_null(strstr(m->body.text, "ok \xef\xbf\xbd("));
	assert_non_null(strstr(m->body.text, "ab"));
}

static void
test_fd_and_entity(void **state)
{
	g_autofree char *path = cg_test_data("mail/nested.eml");
	g_autoptr(GError) err = NULL;
	g_autoptr(CgMail) m = NULL;
	CgMailBody body = {0};
	g_autoptr(GBytes) ent = NULL;
	FILE *f = fopen(path, "r");
	const char *entity =
	    "Content-Type: multipart/mixed; boundary=e\n\n--e\n"
	    "Content-Type: text/plain; charset=utf-8\n\nRequest: add-admin\n"
	    "--e\nContent-Type: application/pkcs10\nContent-Disposition: attachment;"
	    " filename=x.csr\n\nCSR\n--e--\n";

	(void)state;
	assert_non_null(f);
	m = cg_mail_parse_fd(fileno(f), NULL, NULL, &err);
	fclose(f);
	assert_non_null(m);
	assert_string_equal(m->from, "jan@example.org");
	assert_int_equal(m->body.attachments->len, 3);

	ent = g_bytes_new_static(entity, strlen(entity));
	assert_true(cg_mail_parse_entity(ent, NULL, &body, &err));
	/* The line break before a delimiter belongs to the delimiter (RFC 2046). */
	assert_string_equal(body.text, "Request: add-admin");
	assert_int_equal(body.attachments->len, 1);
	assert_string_equal(((CgAttachment *)g_ptr_array_index(body.attachments, 0))->filename,
	                    "x.csr");
	cg_mail_body_clear(&body);
}

/* The first part of a multipart/signed, as signed: CRLF line ends. Mail
 * already in CRLF (as the MTA hands it over) is not copied: the part is a
 * slice of the message, which a 10 MB enrolment would otherwise hold twice. */
/* The stream the parser reads: windows on the caller's bytes, read-only,
 * bounded as GMime's own streams are (positions in the whole). */
static void
test_bytes_stream(void **state)
{
	g_autoptr(GBytes) bytes = g_bytes_new_static("0123456789", 10);
	g_autoptr(GMimeStream) st = NULL, sub = NULL, subsub = NULL;
	char buf[16];

	(void)state;
	cg_mail_init();
	st = cg_mail_stream_new(bytes);
	assert_int_equal(g_mime_stream_length(st), 10);
	assert_int_equal(g_mime_stream_read(st, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "0123456789", 10);
	assert_true(g_mime_stream_eos(st));
	assert_int_equal(g_mime_stream_read(st, buf, sizeof(buf)), 0);
	assert_int_equal(g_mime_stream_seek(st, 3, GMIME_STREAM_SEEK_SET), 3);
	assert_int_equal(g_mime_stream_read(st, buf, 4), 4);
	assert_memory_equal(buf, "3456", 4);
	assert_int_equal(g_mime_stream_tell(st), 7);
	assert_int_equal(g_mime_stream_seek(st, -2, GMIME_STREAM_SEEK_END), 8);
	assert_int_equal(g_mime_stream_seek(st, 11, GMIME_STREAM_SEEK_SET), -1); /* past the end */
	assert_int_equal(g_mime_stream_write(st, "x", 1), -1);                   /* read-only */
	/* A window: [2, 6) */
	sub = g_mime_stream_substream(st, 2, 6);
	assert_int_equal(g_mime_stream_length(sub), 4);
	assert_int_equal(g_mime_stream_read(sub, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "2345", 4);
	assert_true(g_mime_stream_eos(sub));
	assert_int_equal(g_mime_stream_seek(sub, 1, GMIME_STREAM_SEEK_SET), -1); /* before it */
	assert_int_equal(g_mime_stream_seek(sub, 7, GMIME_STREAM_SEEK_SET), -1); /* after it */
	assert_int_equal(g_mime_stream_reset(sub), 0);
	assert_int_equal(g_mime_stream_tell(sub), 2);
	assert_int_equal(g_mime_stream_seek(sub, -1, GMIME_STREAM_SEEK_END), 5);
	assert_int_equal(g_mime_stream_read(sub, buf, sizeof(buf)), 1);
	assert_memory_equal(buf, "5", 1);
	/* A window in a window; a bound past the bytes ends at them. */
	subsub = g_mime_stream_substream(sub, 3, 5);
	assert_int_equal(g_mime_stream_read(subsub, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "34", 2);
	g_clear_object(&subsub);
	subsub = g_mime_stream_substream(st, 8, 20);
	assert_int_equal(g_mime_stream_length(subsub), 2);
	assert_int_equal(g_mime_stream_read(subsub, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "89", 2);
	g_clear_object(&subsub);
	subsub = g_mime_stream_substream(st, 12, 20); /* wholly past the bytes */
	assert_int_equal(g_mime_stream_length(subsub), 0);
	assert_true(g_mime_stream_eos(subsub));
	assert_true(g_mime_stream_read(subsub, buf, sizeof(buf)) <= 0);
	/* The windows keep the bytes: the first stream may go before them. */
	g_clear_object(&st);
	g_clear_pointer(&bytes, g_bytes_unref);
	assert_int_equal(g_mime_stream_reset(sub), 0);
	assert_int_equal(g_mime_stream_read(sub, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "2345", 4);
}

static void
test_signed_content(void **state)
{
	static const char *const forms[] = {"\r\n", "\n", "mixed"};
	const char *want = "Content-Type: text/plain\r\n\r\nPlease issue.\r\nTwo lines.";
	gsize f;

	(void)state;
	for (f = 0; f < G_N_ELEMENTS(forms); f++) {
		const char *nl = strcmp(forms[f], "mixed") == 0 ? "\r\n" : forms[f];
		/* "mixed": CRLF but for one bare LF inside the signed part */
		const char *inner = strcmp(forms[f], "mixed") == 0 ? "\n" : nl;
		g_autofree char *text = g_strdup_printf(
		    "From: a@example.org%sMIME-Version: 1.0%sContent-Type: multipart/signed; "
		    "protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"b\"%s%s"
		    "--b%sContent-Type: text/plain%s%sPlease issue.%sTwo lines.%s"
		    "--b%sContent-Type: application/pkcs7-signature%sContent-Transfer-Encoding: "
		    "base64%s%sAAEC%s--b--%s",
		    nl, nl, nl, nl, nl, nl, nl, inner, nl, nl, nl, nl, nl, nl, nl);
		g_autoptr(GBytes) raw = g_bytes_new(text, strlen(text));
		g_autoptr(GError) err = NULL;
		g_autoptr(CgMail) m = cg_mail_parse(raw, NULL, NULL, &err);
		const guint8 *base = g_bytes_get_data(m ? m->raw : raw, NULL), *got;
		gsize len;

		assert_non_null(m);
		assert_int_equal(m->smime.kind, CG_SMIME_DETACHED);
		got = g_bytes_get_data(m->smime.signed_content, &len);
		assert_int_equal(len, strlen(want));
		assert_memory_equal(got, want, len);
		if (f == 0)
			assert_true(got >= base && got + len <= base + strlen(text)); /* a slice */
		else
			assert_false(got >= base && got < base + strlen(text)); /* a copy */
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden),         cmocka_unit_test(test_crlf_equals_lf),
	    cmocka_unit_test(test_limits),         cmocka_unit_test(test_garbage_does_not_crash),
	    cmocka_unit_test(test_fd_and_entity),  cmocka_unit_test(test_html_bytes_made_valid),
	    cmocka_unit_test(test_signed_content), cmocka_unit_test(test_bytes_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
