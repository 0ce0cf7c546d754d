/*
 * text.c: error domain, safe text, times.
 *
 * Everything here judges untrusted bytes; nothing here trusts a length it was
 * not given. (Mailboxes and domains: idn.c.)
 */
#include "common.h"

#include <string.h>

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

char *
cg_time_iso(gint64 t)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t);

	if (dt == NULL)
		return g_strdup("invalid-time");
	return g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
}

gboolean
cg_host_port_split(const char *s, char **host, guint *port)
{
	const char *colon = strrchr(s, ':');
	const char *start = s, *stop;
	char *end = NULL;
	long p;

	if (colon == NULL || colon[1] == '\0')
		return FALSE;
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535)
		return FALSE;
	stop = colon;
	if (s[0] == '[') {
		if (colon[-1] != ']')
			return FALSE;
		start = s + 1;
		stop = colon - 1;
	}
	if (stop <= start)
		return FALSE;
	if (host != NULL)
		*host = g_strndup(start, (gsize)(stop - start));
	if (port != NULL)
		*port = (guint)p;
	return TRUE;
}
