/*
 * rfc2047.c: encoded-words in unstructured header fields (the Subject).
 *
 * Each encoded-word is decoded on its own (B with its own padding, Q), and
 * the bytes of adjacent words in one charset are joined before they are
 * converted, so that a word split inside a multibyte character, as some
 * clients split them, still decodes; blanks between adjacent encoded-words
 * are dropped (RFC 2047 6.2). Text outside encoded-words is kept as it is
 * (UTF-8, RFC 6532). Undecodable words stay as written.
 * Never: fails; the worst outcome is the raw text, made valid UTF-8.
 */
#include "mailparse-int.h"

#include <string.h>

typedef struct {
	GString *out;
	GByteArray *run; /* decoded bytes of adjacent words in charset run_cs */
	char *run_cs;
} Dec;

static void
flush(Dec *d)
{
	g_autofree char *u = NULL;

	if (d->run->len == 0)
		return;
	u = g_convert((const char *)d->run->data, d->run->len, "UTF-8", d->run_cs, NULL, NULL,
	              NULL);
	if (u == NULL) /* an unknown charset: the bytes, made valid */
		u = g_utf8_make_valid((const char *)d->run->data, d->run->len);
	g_string_append(d->out, u);
	g_byte_array_set_size(d->run, 0);
}

static gboolean
decode_q(const char *p, gsize n, GByteArray *out)
{
	gsize i;

	for (i = 0; i < n; i++) {
		guint8 c = (guint8)p[i];

		if (c == '_') {
			c = ' ';
		} else if (c == '=') {
			int hi, lo;

			if (i + 2 >= n)
				return FALSE;
			hi = g_ascii_xdigit_value(p[i + 1]);
			lo = g_ascii_xdigit_value(p[i + 2]);
			if (hi < 0 || lo < 0)
				return FALSE;
			c = (guint8)(hi * 16 + lo);
			i += 2;
		}
		g_byte_array_append(out, &c, 1);
	}
	return TRUE;
}

static gboolean
decode_b(const char *p, gsize n, GByteArray *out)
{
	g_autofree char *t = g_strndup(p, n);
	g_autofree guchar *bin = NULL;
	gsize len = 0, i;

	for (i = 0; i < n; i++)
		if (!g_ascii_isalnum(t[i]) && t[i] != '+' && t[i] != '/' && t[i] != '=')
			return FALSE;
	bin = g_base64_decode(t, &len);
	g_byte_array_append(out, bin, (guint)len);
	return TRUE;
}

/* An encoded-word at p: "=?charset?E?text?=". Its length in *n. */
static gboolean
word(Dec *d, const char *p, gsize *n)
{
	const char *cs = p + 2, *q1, *q2, *end;
	g_autofree char *charset = NULL;
	g_autoptr(GByteArray) bytes = g_byte_array_new();
	char *star;
	gboolean ok;

	if ((q1 = strchr(cs, '?')) == NULL || q1[1] == '\0' || q1[2] != '?')
		return FALSE;
	q2 = q1 + 3;
	if ((end = strstr(q2, "?=")) == NULL || memchr(cs, ' ', (gsize)(end - cs)) != NULL)
		return FALSE;
	charset = g_ascii_strdown(cs, q1 - cs);
	if ((star = strchr(charset, '*')) != NULL) /* RFC 2231 language */
		*star = '\0';
	ok = g_ascii_toupper(q1[1]) == 'B' ? decode_b(q2, (gsize)(end - q2), bytes)
	     : g_ascii_toupper(q1[1]) == 'Q' ? decode_q(q2, (gsize)(end - q2), bytes)
	                                      : FALSE;
	if (!ok)
		return FALSE;
	if (d->run_cs == NULL || strcmp(d->run_cs, charset) != 0) {
		flush(d);
		g_free(d->run_cs);
		d->run_cs = g_steal_pointer(&charset);
	}
	g_byte_array_append(d->run, bytes->data, bytes->len);
	*n = (gsize)(end + 2 - p);
	return TRUE;
}

char *
cg_mail_decode_words(const char *raw)
{
	Dec d = {g_string_new(NULL), g_byte_array_new(), NULL};
	g_autofree char *unfolded = g_strdup(raw ? raw : "");
	const char *p = unfolded;
	char *c, *e;

	/* Unfold: the line ends go, the blanks after them stay (RFC 5322 2.2.3). */
	for (c = unfolded, e = unfolded; *e; e++)
		if (*e != '\r' && *e != '\n')
			*c++ = *e;
	*c = '\0';
	while (*p) {
		gsize n = 0;

		if (p[0] == '=' && p[1] == '?' && word(&d, p, &n)) {
			const char *next = p + n, *q = next;

			/* Blanks between two encoded-words are not text. */
			while (*q == ' ' || *q == '\t')
				q++;
			p = q[0] == '=' && q[1] == '?' ? q : next;
			continue;
		}
		flush(&d);
		g_string_append_c(d.out, *p++);
	}
	flush(&d);
	g_byte_array_unref(d.run);
	g_free(d.run_cs);
	{
		char *out = g_utf8_make_valid(d.out->str, (gssize)d.out->len);

		g_string_free(d.out, TRUE);
		return g_strstrip(out);
	}
}
