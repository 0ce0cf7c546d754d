/*
 * html.c: the text of an HTML-only mail, for the checks that read a body's
 * text (a challenge answer's ACME RESPONSE block, an enrolment's
 * directives). Tags are dropped (script and style with their content),
 * block ends become line ends, the common entities and numeric references
 * are decoded, and the content of a <blockquote> (the quoted mail a client
 * replies to) is marked as quoted, "> " on each line, as a text client would.
 * Never: follows a link or loads anything; keeps any markup.
 */
#include "mailparse-int.h"

#include <string.h>

typedef struct {
	GString *out;
	int quote;           /* blockquote depth */
	gboolean line_start; /* at the start of an output line */
} Html;

static void
put(Html *h, const char *s, gsize n)
{
	gsize i;

	for (i = 0; i < n; i++) {
		if (h->line_start && s[i] != '\n') {
			int q;

			for (q = 0; q < h->quote; q++)
				g_string_append(h->out, "> ");
			h->line_start = FALSE;
		}
		g_string_append_c(h->out, s[i]);
		if (s[i] == '\n')
			h->line_start = TRUE;
	}
}

static void
newline(Html *h)
{
	if (!h->line_start)
		put(h, "\n", 1);
}

/* The tag's name at p (after '<' and an optional '/'), lower case. */
static char *
tag_name(const char *p, const char *end)
{
	const char *s = p;

	while (s < end && (g_ascii_isalnum(*s)))
		s++;
	return g_ascii_strdown(p, s - p);
}

static gboolean
is_block(const char *name)
{
	static const char *const blocks[] = {"br", "p", "div", "tr", "li", "h1", "h2", "h3",
	                                     "h4", "h5", "h6", "pre", "table", "blockquote"};
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(blocks); i++)
		if (strcmp(name, blocks[i]) == 0)
			return TRUE;
	return FALSE;
}

/* An entity at p ('&'); its length in *n; the UTF-8 of what it stands for
 * appended to h. FALSE when it is none we know (then '&' is text). */
static gboolean
entity(Html *h, const char *p, const char *end, gsize *n)
{
	static const struct {
		const char *name, *text;
	} named[] = {{"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"},
	             {"nbsp", " "}};
	const char *semi = memchr(p, ';', MIN((gsize)(end - p), 12));
	gsize i;

	if (semi == NULL)
		return FALSE;
	*n = (gsize)(semi - p) + 1;
	if (p[1] == '#') {
		gunichar c = p[2] == 'x' || p[2] == 'X' ? (gunichar)g_ascii_strtoull(p + 3, NULL, 16)
		                                        : (gunichar)g_ascii_strtoull(p + 2, NULL, 10);
		char buf[6];
		int len;

		if (c == 0 || !g_unichar_validate(c))
			return FALSE;
		len = g_unichar_to_utf8(c, buf);
		put(h, buf, (gsize)len);
		return TRUE;
	}
	for (i = 0; i < G_N_ELEMENTS(named); i++)
		if ((gsize)(semi - p - 1) == strlen(named[i].name) &&
		    g_ascii_strncasecmp(p + 1, named[i].name, strlen(named[i].name)) == 0) {
			put(h, named[i].text, strlen(named[i].text));
			return TRUE;
		}
	return FALSE;
}

/* Past the end of an element whose content is dropped (</script>). */
static const char *
skip_content(const char *p, const char *end, const char *name)
{
	g_autofree char *close = g_strdup_printf("</%s", name);
	gsize n = strlen(close);

	for (; p + n <= end; p++)
		if (g_ascii_strncasecmp(p, close, n) == 0) {
			const char *gt = memchr(p, '>', (gsize)(end - p));

			return gt ? gt + 1 : end;
		}
	return end;
}

char *
cg_mail_html_to_text(const char *html, gsize len)
{
	Html h;
	const char *p, *end;

	if (len == 0) /* an empty part's bytes may be NULL: no arithmetic on them */
		return g_strdup("");
	h = (Html){g_string_sized_new(len / 2), 0, TRUE};
	p = html;
	end = html + len;

	while (p < end) {
		if (*p == '<') {
			const char *gt = memchr(p, '>', (gsize)(end - p));
			gboolean closing = p + 1 < end && p[1] == '/';
			g_autofree char *name = NULL;

			if (gt == NULL)
				break;
			name = tag_name(p + 1 + closing, gt);
			if (!closing && (strcmp(name, "script") == 0 || strcmp(name, "style") == 0)) {
				p = skip_content(gt + 1, end, name);
				continue;
			}
			if (is_block(name))
				newline(&h);
			if (strcmp(name, "blockquote") == 0)
				h.quote = MAX(0, h.quote + (closing ? -1 : 1));
			p = gt + 1;
		} else if (*p == '&') {
			gsize n = 1;

			if (!entity(&h, p, end, &n))
				put(&h, p, 1), n = 1;
			p += n;
		} else if (*p == '\r' || *p == '\n' || *p == '\t') {
			put(&h, " ", 1); /* HTML line ends are blanks */
			p++;
		} else {
			if (*p != '\0')
				put(&h, p, 1);
			p++;
		}
	}
	/* The bytes are the sender's: whatever they claim, the text downstream
	 * is valid UTF-8 (an invalid sequence becomes U+FFFD). */
	{
		char *text = g_utf8_make_valid(h.out->str, (gssize)h.out->len);

		g_string_free(h.out, TRUE);
		return text;
	}
}
