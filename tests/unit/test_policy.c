/*
 * test_policy.c: organisation identity rules; challenge reply tokens and checks;
 * the ReplyAuth decision.
 */
#include "testutil.h"
#include "common.h"
#include "policy.h"

#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

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

/* ---- CSV ---- */

static char *
csv_cell(GPtrArray *rows, guint r, guint c)
{
	GPtrArray *row = rows->pdata[r];

	return c < row->len ? row->pdata[c] : NULL;
}

static void
test_csv(void **state)
{
	static const char good[] = "\xEF\xBB\xBF"
	                           "First Name,Last Name,Email\r\n"
	                           "Anna,\"Nowak, Jr.\",anna@example.org\r\n"
	                           "\r\n"
	                           "\"Jan\"\"ek\",\"two\nlines\",jan@example.org\n"
	                           "Ola,,ola@example.org";
	GError *err = NULL;
	GPtrArray *rows = cg_csv_parse(good, sizeof(good) - 1, 10, &err);

	(void)state;
	assert_non_null(rows);
	assert_int_equal(rows->len, 4);
	assert_string_equal(csv_cell(rows, 0, 0), "First Name"); /* BOM skipped */
	assert_string_equal(csv_cell(rows, 1, 1), "Nowak, Jr.");
	assert_string_equal(csv_cell(rows, 2, 0), "Jan\"ek");
	assert_string_equal(csv_cell(rows, 2, 1), "two\nlines");
	assert_string_equal(csv_cell(rows, 3, 1), "");
	assert_string_equal(csv_cell(rows, 3, 2), "ola@example.org");
	g_ptr_array_unref(rows);

#define BAD(text, rows_max, needle)                                                                \
	do {                                                                                       \
		assert_null(cg_csv_parse(text, sizeof(text) - 1, rows_max, &err));                 \
		assert_error(err, CG_ERROR_MALFORMED, needle);                                     \
		g_clear_error(&err);                                                               \
	} while (0)
	BAD("a,b\nc\"d\",e\n", 10, "line 2: a quote inside an unquoted cell");
	BAD("a,b\n\"c\"d,e\n", 10, "line 2: text after a closing quote");
	BAD("a,b\n\"c,d\n", 10, "is not closed");
	BAD("a,b\nc\rd,e\n", 10, "carriage return");
	BAD("h\n1\n2\n3\n", 2, "more than 2 rows");
	BAD("a,\xff\n", 10, "not UTF-8");
#undef BAD
	rows = cg_csv_parse("h\n1\n2\n", 6, 2, &err);
	assert_non_null(rows); /* the header and exactly max_rows */
	assert_int_equal(rows->len, 3);
	g_ptr_array_unref(rows);
}

/* cg_csv_foreach: each row as it is read, with the line it ends on; a
 * row's cells may be taken; the callback's FALSE ends the parse. */
typedef struct {
	GString *seen;
	guint stop_at;
	guint calls;
	char *taken;
} RowLog;

static gboolean
log_row(GPtrArray *row, guint line, gpointer data, GError **error)
{
	RowLog *l = data;
	guint i;

	l->calls++;
	g_string_append_printf(l->seen, "%u:", line);
	for (i = 0; i < row->len; i++)
		g_string_append_printf(l->seen, "%s%s", i ? "|" : "", (char *)row->pdata[i]);
	g_string_append_c(l->seen, ';');
	if (l->calls == 2) {
		g_free(l->taken);
		l->taken = g_steal_pointer(&row->pdata[0]); /* the row's cell, now ours */
	}
	if (l->calls == l->stop_at) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED, "stopped at row %u",
		            l->calls);
		return FALSE;
	}
	return TRUE;
}

/* For the next parse: nothing seen, stopping at row stop_at (0: never). */
static void
log_again(RowLog *l, guint stop_at)
{
	g_string_truncate(l->seen, 0);
	l->calls = 0;
	l->stop_at = stop_at;
}

static void
test_csv_foreach(void **state)
{
	static const char text[] = "h1,h2\r\nAnna,\"two\nlines\"\r\n\r\nJan,x\nOla,y";
	RowLog l = {g_string_new(NULL), 0, 0, NULL};
	GError *err = NULL;

	(void)state;
	assert_true(cg_csv_foreach(text, sizeof(text) - 1, 10, log_row, &l, &err));
	assert_string_equal(l.seen->str, "1:h1|h2;3:Anna|two\nlines;5:Jan|x;6:Ola|y;");
	assert_string_equal(l.taken, "Anna");
	/* The callback's refusal ends the parse with its error: no row after. */
	log_again(&l, 2);
	assert_false(cg_csv_foreach(text, sizeof(text) - 1, 10, log_row, &l, &err));
	assert_error(err, CG_ERROR_NOT_AUTHORISED, "stopped at row 2");
	g_clear_error(&err);
	assert_int_equal(l.calls, 2);
	/* Too many rows: the rows before the limit were given, then the error. */
	log_again(&l, 0);
	assert_false(cg_csv_foreach(text, sizeof(text) - 1, 2, log_row, &l, &err));
	assert_error(err, CG_ERROR_MALFORMED, "more than 2 rows");
	g_clear_error(&err);
	assert_int_equal(l.calls, 3);
	/* No bytes at all (an empty attachment's are NULL): no rows. */
	log_again(&l, 0);
	assert_true(cg_csv_foreach(NULL, 0, 10, log_row, &l, &err));
	assert_int_equal(l.calls, 0);
	g_free(l.taken);
	g_string_free(l.seen, TRUE);
}

/* ---- tokens ---- */

#define TOK "AbCdEfGhIjKlMnOpQrStUvWxYz012-_9"

static void
test_token_subject(void **state)
{
	static const struct {
		const char *subject;
		const char *want; /* NULL: no token */
	} cases[] = {
	    {"ACME: " TOK, TOK},
	    {"Re: ACME: " TOK, TOK},
	    {"RE: ACME: " TOK, TOK},
	    {"AW: ACME: " TOK, TOK},
	    {"SV: Re: ACME: " TOK, TOK},
	    {"Re[2]: ACME: " TOK, TOK},
	    {"Odp: ACME: " TOK, TOK},
	    /* the prefixes of the languages of our users' clients, repeated, mixed */
	    {"RE : ACME: " TOK, TOK},
	    {"R: RIF: Antw: ACME: " TOK, TOK},
	    {"VS: TR: Re: AW: ACME: " TOK, TOK},
	    {"YNT: ACME: " TOK, TOK},
	    {"V\xc3\x81: ACME: " TOK, TOK},
	    {"\xce\x91\xce\xa0: ACME: " TOK, TOK},
	    {"\xe5\x9b\x9e\xe5\xa4\x8d\xef\xbc\x9a ACME: " TOK, TOK},
	    {"  re:   acme:  " TOK "  ", TOK},
	    /* folded or broken by a mail client: whitespace inside dropped */
	    {"Re: ACME: AbCdEfGhIjKlMnOp QrStUvWxYz012-_9", TOK},
	    {"Re: ACME: AbCdEfGhIjKlMnOp\r\n QrStUvWxYz012-_9", TOK},
	    {"Re: ACME: AbCdEfGhIjKlMnOp\tQrStUvWxYz012-_9", TOK},
	    /* not tokens */
	    {"", NULL},
	    {"Re: " TOK, NULL},                               /* no "ACME:" */
	    {"ACME: " TOK "x", NULL},                         /* 33 characters */
	    {"ACME: AbCdEfGhIjKlMnOpQrStUvWxYz012-_", NULL},  /* 31 */
	    {"ACME: AbCdEfGhIjKlMnOpQrStUvWxYz012+/9", NULL}, /* base64, not base64url */
	    {"ACME: AbCdEfGhIjKlMnOpQrStUvWxYz012-_=", NULL}, /* padding */
	    {"Re[2: ACME: " TOK, NULL},
	    {"Hello ACME: " TOK, NULL},
	};
	gsize i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		gboolean fwd = FALSE;
		g_autofree char *t = cg_token_from_subject(cases[i].subject, &fwd);

		if (g_strcmp0(t, cases[i].want) != 0)
			fail_msg("subject \"%s\": got %s, want %s", cases[i].subject,
			         t ? t : "none", cases[i].want ? cases[i].want : "none");
	}
	assert_null(cg_token_from_subject(NULL, NULL));
	/* Forwards: the token is found, and said to be forwarded. */
	{
		const char *fwds[] = {"Fwd: ACME: " TOK, "FW: Re: ACME: " TOK, "WG: ACME: " TOK,
		                      "Re: Fwd: ACME: " TOK};
		gsize k;

		for (k = 0; k < G_N_ELEMENTS(fwds); k++) {
			gboolean fwd = FALSE;
			g_autofree char *t = cg_token_from_subject(fwds[k], &fwd);

			assert_string_equal(t, TOK);
			if (!fwd)
				fail_msg("\"%s\" not taken for a forward", fwds[k]);
		}
	}
}

static void
test_token_text(void **state)
{
	g_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

	(void)state;
	a = cg_token_from_text("Hello\r\n-----BEGIN ACME RESPONSE-----\r\n" TOK
	                       "\r\n-----END ACME RESPONSE-----\r\n");
	assert_string_equal(a, TOK);
	/* wrapped over lines */
	b = cg_token_from_text("-----BEGIN ACME RESPONSE-----\nAbCdEfGhIjKlMnOp\n"
	                       "QrStUvWxYz012-_9\n-----END ACME RESPONSE-----");
	assert_string_equal(b, TOK);
	c = cg_token_from_text("-----BEGIN ACME RESPONSE-----\n" TOK "\n"); /* no end */
	assert_null(c);
	d = cg_token_from_text("-----BEGIN ACME RESPONSE-----\n" TOK "zz\n-----END ACME "
	                       "RESPONSE-----");
	assert_null(d);
	/* A quoted block is not the reply's own; cg_token_quoted finds it, and
	 * the quoted challenge's "ACME: <token>" line. */
	{
		const char *q = "Yes.\n\nOn Monday the CA wrote:\n> -----BEGIN ACME RESPONSE-----\n> " TOK
		                "\n> -----END ACME RESPONSE-----\n";
		const char *q2 = "Fine.\n> To confirm, reply:\n>\n>     ACME: " TOK "\n";
		g_autofree char *own = cg_token_from_text(q), *quoted = cg_token_quoted(q);
		g_autofree char *quoted2 = cg_token_quoted(q2), *none = cg_token_quoted("no quote\n");

		assert_null(own);
		assert_string_equal(quoted, TOK);
		assert_string_equal(quoted2, TOK);
		assert_null(none);
	}
	assert_null(cg_token_from_text("ACME: " TOK));
	assert_true(cg_token_valid(TOK));
	assert_false(cg_token_valid(TOK "A"));
}

/* ---- reply checks: a good reply, then each check failing alone ---- */

static CgReplyFacts
good_reply(void)
{
	CgReplyFacts f = {0};

	f.found = TRUE;
	f.expires = 2000;
	f.address = "postmaster@example.org";
	f.message_id = "abc@ca.example.net";
	f.from = "postmaster@example.org";
	f.n_from = 1;
	f.mail_from = "postmaster@example.org";
	f.in_reply_to = "abc@ca.example.net";
	f.now = 1000;
	return f;
}

static void
test_reply_checks(void **state)
{
	CgReplyFacts f;
	GError *err = NULL;

	(void)state;
	f = good_reply();
	assert_true(cg_policy_reply_check(&f, &err));
	f.in_reply_to = NULL; /* In-Reply-To is optional */
	f.auto_submitted = "no";
	assert_true(cg_policy_reply_check(&f, &err));
	f.auto_submitted = "auto-generated; type=acme"; /* an ACME client */
	f.from = "POSTMASTER@example.org";
	assert_true(cg_policy_reply_check(&f, &err));

#define REFUSED(field, value, code, needle)                                                        \
	do {                                                                                       \
		f = good_reply();                                                                  \
		f.field = value;                                                                   \
		assert_false(cg_policy_reply_check(&f, &err));                                     \
		assert_error(err, code, needle);                                                   \
		g_clear_error(&err);                                                               \
	} while (0)
	REFUSED(found, FALSE, CG_ERROR_BAD_TOKEN, "no pending challenge");
	REFUSED(used, TRUE, CG_ERROR_BAD_TOKEN, "already been used");
	REFUSED(now, 2000, CG_ERROR_BAD_TOKEN, "expired at 1970-01-01");
	REFUSED(n_from, 2, CG_ERROR_MALFORMED, "exactly one From");
	REFUSED(n_from, 0, CG_ERROR_MALFORMED, "exactly one From");
	REFUSED(from, "hostmaster@example.org", CG_ERROR_NOT_AUTHORISED,
	        "the challenge went to postmaster@example.org");
	REFUSED(from, "postmaster@example.org.evil.example", CG_ERROR_NOT_AUTHORISED,
	        "reply from postmaster@example.org");
	REFUSED(auto_submitted, "auto-replied", CG_ERROR_NOT_AUTHORISED,
	        "Auto-Submitted: auto-replied");
	REFUSED(auto_submitted, " Auto-Replied (vacation)", CG_ERROR_NOT_AUTHORISED,
	        "Auto-Submitted: auto-replied");
	REFUSED(auto_submitted, "auto-notified", CG_ERROR_NOT_AUTHORISED, "automatic reply");
	REFUSED(autoreply_header, TRUE, CG_ERROR_NOT_AUTHORISED, "X-Autoreply");
	REFUSED(in_reply_to, "other@ca.example.net", CG_ERROR_NOT_AUTHORISED, "In-Reply-To");
#undef REFUSED
}

/* ---- ReplyAuth ---- */

static CgAuthFacts
facts(CgAuthResult spf, gboolean spf_aligned, CgDkimFact *dkim, guint n)
{
	CgAuthFacts f = {0};

	f.from_domain = "example.org";
	f.client_ip = "127.0.0.66";
	f.spf = spf;
	f.spf_domain = spf_aligned ? "example.org" : "evil.example";
	f.spf_aligned = spf_aligned;
	f.dkim = dkim;
	f.n_dkim = n;
	f.dmarc_record = CG_AUTH_PASS;
	return f;
}

static void
test_reply_auth(void **state)
{
	CgDkimFact good = {"example.org", CG_AUTH_PASS, TRUE, NULL};
	CgDkimFact unaligned = {"evil.example", CG_AUTH_PASS, FALSE, NULL};
	CgDkimFact broken = {"example.org", CG_AUTH_FAIL, TRUE, "body changed"};
	CgDkimFact dkim_temp = {"example.org", CG_AUTH_TEMPERROR, TRUE, NULL};
	CgAuthFacts f;
	GError *err = NULL;

	(void)state;
	/* dmarc: aligned SPF pass, or aligned DKIM pass */
	f = facts(CG_AUTH_PASS, TRUE, NULL, 0);
	assert_true(cg_policy_reply_auth(CG_REPLY_AUTH_DMARC, &f, &err));
	f = facts(CG_AUTH_FAIL, FALSE, &good, 1);
	assert_true(cg_policy_reply_auth(CG_REPLY_AUTH_DMARC, &f, &err));
	/* SPF fail and nothing else: 5.7.23 naming the domain and address */
	f = facts(CG_AUTH_FAIL, TRUE, NULL, 0);
	assert_false(cg_policy_reply_auth(CG_REPLY_AUTH_DMARC, &f, &err));
	assert_error(err, CG_ERROR_SPF_FAIL, "SPF fail for example.org from 127.0.0.66");
	g_clear_error(&err);
	/* SPF fails for the attacker's own (unaligned) domain: DMARC, not SPF */
	f = facts(CG_AUTH_FAIL, FALSE, NULL, 0);
	assert_false(cg_policy_reply_auth(CG_REPLY_AUTH_DMARC, &f, &err));
	assert_error(err, CG_ERROR_DMARC_FAIL, "SPF fail for evil.example (not aligned)");
	g_clear_error(&err);
	/* SPF passes for another domain, DKIM for another domain: DMARC fails */
	f = facts(CG_AUTH_PASS, FALSE, &unaligned, 1);
	assert_false(cg_policy_reply_auth(CG_REPLY_AUTH_DMARC, &f, &err));
	assert_error(err, CG_ERROR_DMARC_FAIL, "not aligned");
	g_clear_error(&err);
	/* an aligned signature that does not verify: 5.7.20 */
	f = facts(CG_AUTH_SOFTFAIL, TRUE, &broken, 1);
	assert_false(cg_policy_reply_auth(CG_REPLY_AUTH_DMARC, &f, &err));
	assert_error(err, CG_ERROR_DKIM_FAIL, "body changed");
	g_clear_error(&err);
	/* temporary errors defer, never pass */
	f = facts(CG_AUTH_TEMPERROR, TRUE, NULL, 0);
	assert_false(cg_policy_reply_auth(CG_REPLY_AUTH_DMARC, &f, &err));
	assert_error(err, CG_ERROR_DNS_TEMP, "SPF");
	g_clear_error(&err);
	f = facts(CG_AUTH_NONE, FALSE, &dkim_temp, 1);
	assert_false(cg_policy_reply_auth(CG_REPLY_AUTH_DMARC, &f, &err));
	assert_error(err, CG_ERROR_DNS_TEMP, "DKIM");
	g_clear_error(&err);
	f = facts(CG_AUTH_PASS, TRUE, NULL, 0);
	f.dmarc_record = CG_AUTH_TEMPERROR;
	assert_false(cg_policy_reply_auth(CG_REPLY_AUTH_DMARC, &f, &err));
	assert_error(err, CG_ERROR_DNS_TEMP, "DMARC");
	g_clear_error(&err);
	/* spf alone: DKIM does not help */
	f = facts(CG_AUTH_SOFTFAIL, TRUE, &good, 1);
	assert_false(cg_policy_reply_auth(CG_REPLY_AUTH_SPF, &f, &err));
	assert_error(err, CG_ERROR_SPF_FAIL, "SPF softfail");
	g_clear_error(&err);
	f = facts(CG_AUTH_PASS, TRUE, NULL, 0);
	assert_true(cg_policy_reply_auth(CG_REPLY_AUTH_SPF, &f, &err));
	/* dkim alone: SPF does not help */
	f = facts(CG_AUTH_PASS, TRUE, NULL, 0);
	assert_false(cg_policy_reply_auth(CG_REPLY_AUTH_DKIM, &f, &err));
	assert_error(err, CG_ERROR_DKIM_FAIL, "no DKIM signature for example.org");
	g_clear_error(&err);
	f = facts(CG_AUTH_PASS, TRUE, &unaligned, 1);
	assert_false(cg_policy_reply_auth(CG_REPLY_AUTH_DKIM, &f, &err));
	assert_error(err, CG_ERROR_DKIM_FAIL, "no DKIM signature aligned");
	g_clear_error(&err);
	f = facts(CG_AUTH_FAIL, FALSE, &good, 1);
	assert_true(cg_policy_reply_auth(CG_REPLY_AUTH_DKIM, &f, &err));
	assert_int_equal(cg_reply_auth_mode("dmarc"), CG_REPLY_AUTH_DMARC);
	assert_int_equal(cg_reply_auth_mode("dkim"), CG_REPLY_AUTH_DKIM);
	assert_int_equal(cg_reply_auth_mode("none"), -1);
}

/* A certificate of key, signed by signer, as DER (caller frees). */
static unsigned char *
make_cert(EVP_PKEY *key, EVP_PKEY *signer, int *len)
{
	X509 *x = X509_new();
	unsigned char *der = NULL;

	assert_non_null(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
	                           (const unsigned char *)"anna@example.org", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	*len = i2d_X509(x, &der);
	assert_true(*len > 0);
	X509_free(x);
	return der;
}

/* cg_x509_read: what the certificate says, without decoding its key, and a
 * signature check that still means something (an EC and an RSA signer). */
static void
test_x509_read(void **state)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *signers[2] = {EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"),
	                        EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)};
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	gsize i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(signers); i++) {
		int len, n;
		unsigned char *der = make_cert(key, signers[i], &len), *again = NULL;
		g_autofree guint8 *longer = g_malloc(len + 1);
		const ASN1_OBJECT *alg = NULL;
		char cn[64];
		X509 *x = cg_x509_read(der, (gsize)len);

		assert_non_null(x);
		assert_null(X509_get0_pubkey(x)); /* never decoded */
		assert_int_equal(X509_PUBKEY_get0_param((ASN1_OBJECT **)&alg, NULL, NULL, NULL,
		                                        X509_get_X509_PUBKEY(x)),
		                 1);
		assert_int_equal(OBJ_obj2nid(alg), NID_X9_62_id_ecPublicKey);
		assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
		                                      sizeof(cn)) > 0);
		assert_string_equal(cn, "anna@example.org");
		n = i2d_X509(x, &again);
		assert_int_equal(n, len);
		assert_memory_equal(again, der, len);
		OPENSSL_free(again);
		assert_int_equal(X509_verify(x, signers[i]), 1);
		assert_int_not_equal(X509_verify(x, other), 1);
		X509_free(x);

		/* A signature changed in its last byte does not verify. */
		der[len - 1] ^= 1;
		x = cg_x509_read(der, (gsize)len);
		assert_non_null(x);
		assert_int_not_equal(X509_verify(x, signers[i]), 1);
		X509_free(x);
		der[len - 1] ^= 1;

		/* Exactly the DER: nothing after it, nothing missing. */
		memcpy(longer, der, len);
		longer[len] = 0;
		assert_null(cg_x509_read(longer, (gsize)len + 1));
		assert_null(cg_x509_read(der, (gsize)len - 1));
		assert_null(cg_x509_read(der, 0));
		OPENSSL_free(der);
		EVP_PKEY_free(signers[i]);
	}
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

/* A key with an empty value ("Admin:" and nothing after it) is a clear
 * error on its line, and nothing else: no library assertion on the way
 * (GLib's criticals and warnings are made fatal here). */
static void
test_letter_empty_values(void **state)
{
	static const char *const keys[] = {"Request", "Organisation", "Registration",
	                                   "Country", "State",        "Locality",
	                                   "Contact", "Domain",       "Admin"};
	GLogLevelFlags before =
	    g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
	gsize i;

	(void)state;
	for (i = 0; i < G_N_ELEMENTS(keys); i++) {
		g_autoptr(GError) err = NULL;
		g_autofree char *text = g_strdup_printf("Request: add-admin\n%s:\n", keys[i]);
		g_autofree char *on_line = g_strdup_printf("letter line 2: %s", keys[i]);
		g_autoptr(CgLetter) l = cg_letter_parse(text, &err);

		assert_null(l);
		assert_non_null(err);
		if (i == 0) /* Request given twice */
			continue;
		if (!g_str_has_prefix(err->message, on_line))
			fail_msg("%s: %s", keys[i], err->message);
	}
	{
		g_autoptr(GError) err = NULL;
		g_autoptr(CgLetter) l =
		    cg_letter_parse("Request: add-admin\nAdmin: ;Sales\n", &err);

		assert_null(l);
		assert_string_equal(err->message, "letter line 2: Admin: no address");
	}
	g_log_set_always_fatal(before);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_countries),           cmocka_unit_test(test_identifiers_good),
	    cmocka_unit_test(test_identifiers_bad),     cmocka_unit_test(test_identifier_country),
	    cmocka_unit_test(test_postmaster_locals),   cmocka_unit_test(test_token_subject),
	    cmocka_unit_test(test_token_text),          cmocka_unit_test(test_reply_checks),
	    cmocka_unit_test(test_reply_auth),          cmocka_unit_test(test_csv),
	    cmocka_unit_test(test_csv_foreach),         cmocka_unit_test(test_x509_read),
	    cmocka_unit_test(test_letter_empty_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
