/*
 * text.c: error domain, safe text, mailbox and domain syntax.
 *
 * Everything here judges untrusted bytes; nothing here trusts a length it was
 * not given. Domains go through libidn2 so that U-labels and A-labels compare
 * equal and confusable forms are refused by IDNA2008.
 */
#include "common.h"

#include <string.h>
#include <idn2.h>

GQuark
cg_error_quark(void)
{
	return g_quark_from_static_string("certgate-error");
}

gboolean
cg_error_absent(GError **err, GError **error)
{
	if (g_error_matches(*err, CG_ERROR, CG_ERROR_NOT_FOUND)) {
		g_clear_error(err);
		return TRUE;
	}
	g_propagate_error(error, g_steal_pointer(err));
	return FALSE;
}

char *
cg_text_safe(const char *s, gssize len, gsize max)
{
	GString *out;
	gsize n, i;

	if (s == NULL)
		return g_strdup("");
	n = len < 0 ? strlen(s) : (gsize)len;
	out = g_string_sized_new(MIN(n, max) + 4);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (out->len >= max) {
			if (max >= 3)
				g_string_truncate(out, max - 3);
			g_string_append(out, "...");
			break;
		}
		if (c < 0x20 || c > 0x7e || c == '%')
			c = '?';
		g_string_append_c(out, (char)c);
	}
	return g_string_free(out, FALSE);
}

gboolean
cg_text_is_clean(const char *s, gssize len, gsize max)
{
	const char *p, *end;
	gsize n;

	if (s == NULL)
		return FALSE;
	n = len < 0 ? strlen(s) : (gsize)len;
	if (n > max || !g_utf8_validate(s, (gssize)n, NULL))
		return FALSE;
	end = s + n;
	for (p = s; p < end; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
			return FALSE;
		/* Bidi overrides and line/paragraph separators hide what a line says. */
		if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0x2028 ||
		    c == 0x2029)
			return FALSE;
	}
	return TRUE;
}

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

char *
cg_domain_normalise(const char *in, GError **error)
{
	g_autofree char *copy = NULL;
	char *alabel = NULL, *lower;
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
		g_free(lower);
		return NULL;
	}
	for (p = lower;; p = dot + 1) {
		dot = strchr(p, '.');
		if (!label_is_ldh(p, dot ? (gsize)(dot - p) : strlen(p))) {
			g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
			            "domain has an empty or invalid label");
			g_free(lower);
			return NULL;
		}
		labels++;
		if (dot == NULL)
			break;
	}
	if (labels < 2) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "domain needs at least two labels");
		g_free(lower);
		return NULL;
	}
	return lower;
}

/* RFC 5322 atext, ASCII only. */
static gboolean
is_atext(char c)
{
	return g_ascii_isalnum(c) || (c != '\0' && strchr("!#$&'*+-/=?^_`{|}~", c) != NULL);
}

static gboolean
local_is_dot_atom(const char *l, gsize n)
{
	gsize i;

	if (n == 0 || n > 64 || l[0] == '.' || l[n - 1] == '.')
		return FALSE;
	for (i = 0; i < n; i++) {
		if (l[i] == '.') {
			if (l[i + 1] == '.')
				return FALSE;
		} else if (!is_atext(l[i])) {
			return FALSE;
		}
	}
	return TRUE;
}

char *
cg_addr_normalise(const char *in, GError **error)
{
	g_autofree char *copy = NULL;
	g_autofree char *domain = NULL;
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
	if (!local_is_dot_atom(s, (gsize)(at - s))) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "address local part is not a plain dot-atom");
		return NULL;
	}
	domain = cg_domain_normalise(at + 1, &derr);
	if (domain == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "address %s", derr->message);
		return NULL;
	}
	*at = '\0';
	if (strlen(s) + 1 + strlen(domain) > 254) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "address is longer than 254 bytes");
		return NULL;
	}
	return g_strconcat(s, "@", domain, NULL);
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

char *
cg_time_iso(gint64 t)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t);

	if (dt == NULL)
		return g_strdup("invalid-time");
	return g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
}
