/*
 * idn.c: mailbox and domain syntax, internationalised.
 *
 * Domains go through libidn2 (IDNA2008 with the UTS #46 mapping,
 * non-transitional) so that U-labels and A-labels compare equal; a label
 * that mixes scripts (UTS #39's highly restrictive profile) or is written
 * wholly in Cyrillic or Greek letters that pass for Latin ones is refused,
 * with the reason. Mailboxes are RFC 5321 dot-atoms whose local part may be
 * UTF-8 (RFC 6531), kept in Unicode NFC; their domain is the A-label form.
 * Never: trusts a length it was not given; touches the network.
 */
#include "common.h"

#include <string.h>
#include <idn2.h>

static gboolean
label_is_ldh(const char *l, gsize n)
{
	gsize i;

	if (n == 0 || n > 63 || l[0] == '-' || l[n - 1] == '-')
		return FALSE;
	for (i = 0; i < n; i++) {
		char c = l[i];

		if (!g_ascii_isalnum(c) && c != '-')
			return FALSE;
	}
	return TRUE;
}

/* Cyrillic and Greek letters a reader takes for Latin ones (UTS #39
 * confusables, lower case after the UTS #46 mapping). */
static const gunichar latin_lookalikes[] = {
    0x0430, 0x0432, 0x0435, 0x043a, 0x043c, 0x043d, 0x043e, 0x0440, 0x0441, 0x0442,
    0x0443, 0x0445, 0x0455, 0x0456, 0x0458, 0x0461, 0x04bb, 0x04cf, 0x0501, 0x051b,
    0x051d, 0x03b1, 0x03b9, 0x03ba, 0x03bd, 0x03bf, 0x03c1, 0x03c4, 0x03c5, 0x03c7,
};

static gboolean
lookalike(gunichar c)
{
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(latin_lookalikes); i++)
		if (latin_lookalikes[i] == c)
			return TRUE;
	return FALSE;
}

/* The scripts a label's letters may mix (UTS #39 highly restrictive): one
 * script, or Latin with Han and the Japanese kana, Han and Bopomofo, or Han
 * and Hangul. */
static gboolean
scripts_allowed(guint32 set)
{
#define S(x) (1u << (x))
	static const guint32 ok[] = {
	    S(0) | S(1) | S(2) | S(3), /* Latin, Han, Hiragana, Katakana */
	    S(0) | S(1) | S(4),        /* Latin, Han, Bopomofo */
	    S(0) | S(1) | S(5),        /* Latin, Han, Hangul */
	};
#undef S
	gsize i;

	if ((set & (set - 1)) == 0)
		return TRUE; /* none or one script */
	for (i = 0; i < G_N_ELEMENTS(ok); i++)
		if ((set & ~ok[i]) == 0)
			return TRUE;
	return FALSE;
}

/* Bit of a script for scripts_allowed(); 6 and up: scripts that mix with none. */
static guint
script_bit(GUnicodeScript s)
{
	switch (s) {
	case G_UNICODE_SCRIPT_LATIN:
		return 0;
	case G_UNICODE_SCRIPT_HAN:
		return 1;
	case G_UNICODE_SCRIPT_HIRAGANA:
		return 2;
	case G_UNICODE_SCRIPT_KATAKANA:
		return 3;
	case G_UNICODE_SCRIPT_BOPOMOFO:
		return 4;
	case G_UNICODE_SCRIPT_HANGUL:
		return 5;
	case G_UNICODE_SCRIPT_CYRILLIC:
		return 6;
	case G_UNICODE_SCRIPT_GREEK:
		return 7;
	default:
		return 8 + (guint)s % 24;
	}
}

static const char *
script_name(GUnicodeScript s)
{
	switch (s) {
	case G_UNICODE_SCRIPT_LATIN:
		return "Latin";
	case G_UNICODE_SCRIPT_HAN:
		return "Han";
	case G_UNICODE_SCRIPT_HIRAGANA:
		return "Hiragana";
	case G_UNICODE_SCRIPT_KATAKANA:
		return "Katakana";
	case G_UNICODE_SCRIPT_BOPOMOFO:
		return "Bopomofo";
	case G_UNICODE_SCRIPT_HANGUL:
		return "Hangul";
	case G_UNICODE_SCRIPT_CYRILLIC:
		return "Cyrillic";
	case G_UNICODE_SCRIPT_GREEK:
		return "Greek";
	case G_UNICODE_SCRIPT_ARABIC:
		return "Arabic";
	case G_UNICODE_SCRIPT_HEBREW:
		return "Hebrew";
	case G_UNICODE_SCRIPT_ARMENIAN:
		return "Armenian";
	case G_UNICODE_SCRIPT_GEORGIAN:
		return "Georgian";
	case G_UNICODE_SCRIPT_THAI:
		return "Thai";
	case G_UNICODE_SCRIPT_DEVANAGARI:
		return "Devanagari";
	default:
		return NULL;
	}
}

/* Appends the name of script s to names unless it is there ("Latin and Cyrillic"). */
static void
add_script_name(GString *names, GUnicodeScript s)
{
	const char *n = script_name(s);
	char code[5] = {0};
	guint32 iso;

	if (n == NULL) {
		iso = g_unicode_script_to_iso15924(s);
		code[0] = (char)(iso >> 24), code[1] = (char)(iso >> 16);
		code[2] = (char)(iso >> 8), code[3] = (char)iso;
		n = code;
	}
	if (strstr(names->str, n) != NULL)
		return;
	if (names->len > 0)
		g_string_append(names, " and ");
	g_string_append(names, n);
}

/* Why the U-label l (n bytes; its A-label a, an bytes) is refused, or NULL.
 * The reason names the label in both forms (an SMTP reply shows only the
 * ASCII one) and the scripts. Caller frees. */
static char *
label_refusal(const char *l, gsize n, const char *a, gsize an)
{
	g_autoptr(GString) names = g_string_new(NULL);
	const char *p, *end = l + n;
	guint32 set = 0;
	gboolean all_lookalike = TRUE, any_letter = FALSE;

	for (p = l; p < end; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		GUnicodeScript s = g_unichar_get_script(c);

		if (s == G_UNICODE_SCRIPT_COMMON || s == G_UNICODE_SCRIPT_INHERITED)
			continue;
		set |= 1u << script_bit(s);
		add_script_name(names, s);
		any_letter = TRUE;
		if (!lookalike(c))
			all_lookalike = FALSE;
	}
	if (!scripts_allowed(set))
		return g_strdup_printf("the label %.*s (%.*s) mixes scripts, %s (UTS #39); write "
		                       "it in one",
		                       (int)n, l, (int)an, a, names->str);
	if (any_letter && all_lookalike && (set & ((1u << 6) | (1u << 7))))
		return g_strdup_printf("the label %.*s (%.*s) is written in %s letters that look "
		                       "Latin but are not (a confusable of a Latin name)",
		                       (int)n, l, (int)an, a, names->str);
	return NULL;
}

char *
cg_domain_to_unicode(const char *alabel)
{
	char *u = NULL;

	if (alabel == NULL)
		return g_strdup("");
	if (strstr(alabel, "xn--") == NULL ||
	    idn2_to_unicode_8z8z(alabel, &u, 0) != IDN2_OK || u == NULL) {
		idn2_free(u);
		return g_strdup(alabel);
	}
	{
		char *out = g_strdup(u);

		idn2_free(u);
		return out;
	}
}

char *
cg_domain_display(const char *alabel)
{
	g_autofree char *u = cg_domain_to_unicode(alabel);

	if (alabel == NULL || strcmp(u, alabel) == 0)
		return g_steal_pointer(&u);
	return g_strdup_printf("%s (%s)", u, alabel);
}

/* Mixed scripts and Latin look-alikes, label by label of the A-label form. */
static gboolean
check_scripts(const char *alabel, GError **error)
{
	g_autofree char *u = cg_domain_to_unicode(alabel);
	const char *p, *dot, *a = alabel, *adot;

	if (strcmp(u, alabel) == 0)
		return TRUE; /* all ASCII */
	for (p = u;; p = dot + 1, a = adot + 1) {
		g_autofree char *why = NULL;

		/* The U- and A-label forms have the same labels, in order. */
		dot = strchr(p, '.');
		adot = strchr(a, '.');
		why = label_refusal(p, dot ? (gsize)(dot - p) : strlen(p), a,
		                    adot ? (gsize)(adot - a) : strlen(a));
		if (why != NULL) {
			g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "%s", why);
			return FALSE;
		}
		if (dot == NULL || adot == NULL)
			return TRUE;
	}
}

char *
cg_domain_normalise(const char *in, GError **error)
{
	g_autofree char *copy = NULL;
	g_autofree char *lower = NULL;
	char *alabel = NULL;
	gsize n;
	int rc, labels = 0;
	const char *p, *dot;

	if (in == NULL || !cg_text_is_clean(in, -1, 300)) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "domain has bad characters");
		return NULL;
	}
	copy = g_strstrip(g_strdup(in));
	n = strlen(copy);
	if (n > 0 && copy[n - 1] == '.')
		copy[--n] = '\0';
	if (n == 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "domain is empty");
		return NULL;
	}
	rc = idn2_lookup_u8((const uint8_t *)copy, (uint8_t **)&alabel,
	                    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "domain is not valid IDNA: %s",
		            idn2_strerror(rc));
		return NULL;
	}
	lower = g_ascii_strdown(alabel, -1);
	idn2_free(alabel);
	if (strlen(lower) > 253) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "domain is longer than 253 bytes");
		return NULL;
	}
	for (p = lower;; p = dot + 1) {
		dot = strchr(p, '.');
		if (!label_is_ldh(p, dot ? (gsize)(dot - p) : strlen(p))) {
			g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
			            "domain has an empty or invalid label");
			return NULL;
		}
		labels++;
		if (dot == NULL)
			break;
	}
	if (labels < 2) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "domain needs at least two labels");
		return NULL;
	}
	if (!check_scripts(lower, error))
		return NULL;
	return g_steal_pointer(&lower);
}

/* RFC 5322 atext, and RFC 6531's UTF8-non-ascii. */
static gboolean
is_atext(gunichar c)
{
	if (c >= 0x80)
		return TRUE; /* clean text (no controls) was checked before */
	return g_ascii_isalnum((char)c) || (c != 0 && strchr("!#$&'*+-/=?^_`{|}~", (int)c) != NULL);
}

static gboolean
local_is_dot_atom(const char *l, gsize n)
{
	const char *p, *end = l + n;

	if (n == 0 || n > 64 || l[0] == '.' || l[n - 1] == '.')
		return FALSE;
	for (p = l; p < end; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (c == '.') {
			if (p + 1 < end && p[1] == '.')
				return FALSE;
		} else if (!is_atext(c)) {
			return FALSE;
		}
	}
	return TRUE;
}

char *
cg_addr_normalise(const char *in, GError **error)
{
	g_autofree char *copy = NULL, *domain = NULL, *local = NULL;
	g_autoptr(GError) derr = NULL;
	char *s, *at;
	gsize n;

	if (in == NULL || !cg_text_is_clean(in, -1, 512)) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "address has bad characters");
		return NULL;
	}
	copy = g_strstrip(g_strdup(in));
	s = copy;
	n = strlen(s);
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s[n - 1] = '\0';
		s++;
		n -= 2;
	}
	at = strrchr(s, '@');
	if (at == NULL || at == s) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "address needs local@domain");
		return NULL;
	}
	*at = '\0';
	/* A UTF-8 local part in its one normal form (NFC), so that two ways of
	 * writing "é" are one mailbox. */
	local = g_utf8_normalize(s, -1, G_NORMALIZE_NFC);
	if (local == NULL || !local_is_dot_atom(local, strlen(local))) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "address local part is not a plain dot-atom of at most 64 bytes");
		return NULL;
	}
	domain = cg_domain_normalise(at + 1, &derr);
	if (domain == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "address: %s", derr->message);
		return NULL;
	}
	if (strlen(local) + 1 + strlen(domain) > 254) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "address is longer than 254 bytes");
		return NULL;
	}
	return g_strconcat(local, "@", domain, NULL);
}

gboolean
cg_addr_is_ascii(const char *addr)
{
	const char *p;

	for (p = addr; *p; p++)
		if ((unsigned char)*p >= 0x80)
			return FALSE;
	return TRUE;
}

char *
cg_addr_to_unicode(const char *addr)
{
	const char *at = strrchr(addr, '@');
	g_autofree char *d = NULL;

	if (at == NULL)
		return g_strdup(addr);
	d = cg_domain_to_unicode(at + 1);
	return g_strdup_printf("%.*s@%s", (int)(at - addr), addr, d);
}

const char *
cg_addr_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : addr + strlen(addr);
}

gboolean
cg_addr_equal(const char *a, const char *b)
{
	const char *da = strrchr(a, '@'), *db = strrchr(b, '@');

	if (da == NULL || db == NULL || da - a != db - b)
		return FALSE;
	return memcmp(a, b, (gsize)(da - a)) == 0 && g_ascii_strcasecmp(da, db) == 0;
}
