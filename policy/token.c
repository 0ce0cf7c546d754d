/*
 * token.c: finding the token of a challenge reply.
 *
 * A challenge mail's Subject is "ACME: <token>" (RFC 8823 shape). The reply
 * carries it back in its Subject, after any reply prefixes in the languages
 * of mail clients ("Re:", "RE :", "AW:", "SV:", "Odp:", "R:", "RIF:",
 * "Antw:", "VS:", "TR:", "Ynt:", "回复：", repeated and mixed), RFC
 * 2047-decoded by mailparse, possibly folded with spaces in the token; or in
 * the text, between -----BEGIN ACME RESPONSE----- and -----END ACME
 * RESPONSE----- lines, possibly wrapped. Whitespace is dropped before
 * matching. A token is 32 base64url characters (24 random bytes). A
 * forwarded challenge ("Fwd:", "WG:", ...) is no answer, and a token only in
 * the quoted copy of the challenge (lines starting with ">") does not count:
 * the callers say so.
 */
#include "policy.h"
#include "common.h"

#include <string.h>

gboolean
cg_token_valid(const char *t)
{
	gsize i;

	if (t == NULL || strlen(t) != CG_TOKEN_LEN)
		return FALSE;
	for (i = 0; i < CG_TOKEN_LEN; i++)
		if (!g_ascii_isalnum(t[i]) && t[i] != '-' && t[i] != '_')
			return FALSE;
	return TRUE;
}

/* s with every whitespace character removed. */
static char *
squeeze(const char *s, gsize len)
{
	GString *out = g_string_sized_new(len);
	gsize i;

	for (i = 0; i < len; i++)
		if (!g_ascii_isspace(s[i]))
			g_string_append_c(out, s[i]);
	return g_string_free(out, FALSE);
}

/* Reply prefixes: English, German (AW), Scandinavian (SV), Finnish (VS),
 * Dutch (Antw), Polish (Odp), Italian (R, RIF), French (REF, TR as French
 * Outlook writes replies), Turkish (YNT), Hungarian (VÁ), Greek (ΑΠ),
 * Russian (Отв), Chinese. Forward prefixes: English, German (WG), Dutch
 * (Doorst), Spanish (RV), Portuguese (ENC), Polish (PD), Italian (I),
 * Swedish (VB). Compared without ASCII case. */
static const char *const reply_prefixes[] = {
    "re",       "aw",       "sv",       "vs",       "antw",     "odp",
    "ref",      "rif",      "r",        "tr",       "ynt",      "v\xc3\xa1",
    "v\xc3\x81", "\xce\x91\xce\xa0", "\xce\x91\xcf\x80", "\xd0\x9e\xd1\x82\xd0\xb2",
    "\xe5\x9b\x9e\xe5\xa4\x8d", "\xe7\xad\x94\xe5\xa4\x8d",
};
static const char *const forward_prefixes[] = {"fwd", "fw", "wg", "doorst", "rv", "enc", "pd", "i", "vb",
                                               "\xe8\xbd\xac\xe5\x8f\x91"};

/* s past a colon (":", or the full-width "：") and the blanks after it, or
 * NULL when s is not at one. */
static const char *
past_colon(const char *s)
{
	while (*s == ' ')
		s++; /* "RE :" */
	if (*s == ':')
		s++;
	else if (strncmp(s, "\xef\xbc\x9a", 3) == 0)
		s += 3;
	else
		return NULL;
	while (g_ascii_isspace(*s))
		s++;
	return s;
}

/* s past one prefix of the list ("Re:", "Re[2]:", "RE :"), or NULL. */
static const char *
skip_one(const char *s, const char *const *list, gsize n_list)
{
	gsize i, n;

	for (i = 0; i < n_list; i++) {
		const char *p;

		n = strlen(list[i]);
		if (g_ascii_strncasecmp(s, list[i], n) != 0)
			continue;
		p = s + n;
		if (*p == '[') { /* "Re[2]:" */
			while (g_ascii_isdigit(*++p))
				;
			if (*p != ']')
				continue;
			p++;
		}
		if ((p = past_colon(p)) != NULL)
			return p;
	}
	return NULL;
}

char *
cg_token_from_subject(const char *subject, gboolean *forwarded)
{
	const char *s = subject, *next;
	char *t;

	if (forwarded != NULL)
		*forwarded = FALSE;
	if (s == NULL)
		return NULL;
	while (g_ascii_isspace(*s))
		s++;
	for (;;) {
		if ((next = skip_one(s, reply_prefixes, G_N_ELEMENTS(reply_prefixes))) != NULL) {
			s = next;
		} else if ((next = skip_one(s, forward_prefixes, G_N_ELEMENTS(forward_prefixes))) !=
		           NULL) {
			s = next;
			if (forwarded != NULL)
				*forwarded = TRUE;
		} else {
			break;
		}
	}
	if (g_ascii_strncasecmp(s, "ACME:", 5) != 0)
		return NULL;
	t = squeeze(s + 5, strlen(s + 5));
	if (!cg_token_valid(t)) {
		g_free(t);
		return NULL;
	}
	return t;
}

/* The text's lines that are (quoted TRUE) or are not quoted (">"), the
 * quote marks removed. */
static char *
lines_of(const char *text, gboolean quoted)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	GString *out = g_string_new(NULL);
	char **l;

	for (l = lines; *l; l++) {
		const char *p = *l;

		while (*p == ' ')
			p++;
		if ((*p == '>') != quoted)
			continue;
		while (*p == '>' || *p == ' ')
			p++;
		g_string_append(out, p);
		g_string_append_c(out, '\n');
	}
	return g_string_free(out, FALSE);
}

static char *
response_block(const char *text)
{
	static const char begin[] = "-----BEGIN ACME RESPONSE-----";
	static const char end[] = "-----END ACME RESPONSE-----";
	const char *b, *e, *start;
	char *t;

	if (text == NULL || (b = strstr(text, begin)) == NULL)
		return NULL;
	start = b + strlen(begin);
	if ((e = strstr(start, end)) == NULL)
		return NULL;
	t = squeeze(start, (gsize)(e - start));
	if (!cg_token_valid(t)) {
		g_free(t);
		return NULL;
	}
	return t;
}

char *
cg_token_from_text(const char *text)
{
	g_autofree char *own = text ? lines_of(text, FALSE) : NULL;

	return response_block(own);
}

char *
cg_token_quoted(const char *text)
{
	g_autofree char *quoted = text ? lines_of(text, TRUE) : NULL;
	g_auto(GStrv) lines = NULL;
	char *t;
	char **l;

	if (quoted == NULL)
		return NULL;
	if ((t = response_block(quoted)) != NULL)
		return t;
	/* The quoted challenge's "ACME: <token>" line, or its Subject. */
	lines = g_strsplit(quoted, "\n", -1);
	for (l = lines; *l; l++) {
		const char *a = strstr(*l, "ACME:");

		if (a != NULL && (t = cg_token_from_subject(a, NULL)) != NULL)
			return t;
	}
	return NULL;
}

/* ---- may this reply answer that challenge ---- */

/* The keyword of an Auto-Submitted value: up to ';' or blank, lower case. */
static char *
auto_keyword(const char *v)
{
	gsize n = 0;

	while (g_ascii_isspace(*v))
		v++;
	while (v[n] && v[n] != ';' && !g_ascii_isspace(v[n]) && v[n] != '(')
		n++;
	return g_ascii_strdown(v, (gssize)n);
}

gboolean
cg_policy_reply_check(const CgReplyFacts *f, GError **error)
{
	if (!f->found) {
		g_set_error(error, CG_ERROR, CG_ERROR_BAD_TOKEN,
		            "no pending challenge has this token; reply to the challenge mail "
		            "itself and keep its subject");
		return FALSE;
	}
	if (f->used) {
		g_set_error(error, CG_ERROR, CG_ERROR_BAD_TOKEN,
		            "this challenge token has already been used; ask for a new challenge");
		return FALSE;
	}
	if (f->now >= f->expires) {
		g_autofree char *when = cg_time_iso(f->expires);

		g_set_error(error, CG_ERROR, CG_ERROR_BAD_TOKEN,
		            "this challenge token expired at %s; ask for a new challenge", when);
		return FALSE;
	}
	if (f->n_from != 1 || f->from == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "a challenge reply must have exactly one From address");
		return FALSE;
	}
	if (g_ascii_strcasecmp(f->from, f->address) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "the reply is from %s but the challenge went to %s; reply from %s",
		            f->from, f->address, f->address);
		return FALSE;
	}
	if (f->auto_submitted != NULL) {
		g_autofree char *k = auto_keyword(f->auto_submitted);

		/* "no" is a person; "auto-generated" may be an ACME client
		 * (RFC 8823); a responder says "auto-replied" (RFC 3834). */
		if (strcmp(k, "no") != 0 && strcmp(k, "auto-generated") != 0) {
			g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
			            "an automatic reply (Auto-Submitted: %s) cannot answer a "
			            "challenge; the postmaster must reply",
			            *k ? k : "?");
			return FALSE;
		}
	}
	if (f->autoreply_header) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "an automatic reply (X-Autoreply, X-Autorespond or Precedence) cannot "
		            "answer a challenge; the postmaster must reply");
		return FALSE;
	}
	if (f->in_reply_to != NULL && f->message_id != NULL && *f->message_id &&
	    strcmp(f->in_reply_to, f->message_id) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "In-Reply-To names another mail, not the challenge; reply to the "
		            "challenge mail itself");
		return FALSE;
	}
	return TRUE;
}

/* ---- ReplyAuth ---- */

const char *
cg_auth_result_name(CgAuthResult r)
{
	static const char *n[] = {"none",    "pass",      "fail",     "softfail",
	                          "neutral", "temperror", "permerror"};

	return (guint)r < G_N_ELEMENTS(n) ? n[r] : "?";
}

int
cg_reply_auth_mode(const char *name)
{
	if (g_strcmp0(name, "dmarc") == 0)
		return CG_REPLY_AUTH_DMARC;
	if (g_strcmp0(name, "spf") == 0)
		return CG_REPLY_AUTH_SPF;
	if (g_strcmp0(name, "dkim") == 0)
		return CG_REPLY_AUTH_DKIM;
	return -1;
}

static gboolean
spf_passes(const CgAuthFacts *f)
{
	return f->spf == CG_AUTH_PASS && f->spf_aligned;
}

/* The first aligned signature with result r, or NULL. */
static const CgDkimFact *
dkim_aligned(const CgAuthFacts *f, CgAuthResult r)
{
	guint i;

	for (i = 0; i < f->n_dkim; i++)
		if (f->dkim[i].aligned && f->dkim[i].result == r)
			return &f->dkim[i];
	return NULL;
}

static gboolean
dkim_fail(const CgAuthFacts *f, GError **error)
{
	const CgDkimFact *bad = dkim_aligned(f, CG_AUTH_FAIL);

	if (bad == NULL)
		bad = dkim_aligned(f, CG_AUTH_PERMERROR);
	if (bad != NULL)
		g_set_error(error, CG_ERROR, CG_ERROR_DKIM_FAIL,
		            "DKIM signature of d=%s does not verify (%s); send the reply "
		            "unchanged from your domain's mail server",
		            bad->domain, bad->why ? bad->why : cg_auth_result_name(bad->result));
	else if (f->n_dkim > 0)
		g_set_error(error, CG_ERROR, CG_ERROR_DKIM_FAIL,
		            "no DKIM signature aligned with %s (d=%s); sign the reply as %s",
		            f->from_domain, f->dkim[0].domain, f->from_domain);
	else
		g_set_error(error, CG_ERROR, CG_ERROR_DKIM_FAIL,
		            "no DKIM signature for %s; sign the reply as %s", f->from_domain,
		            f->from_domain);
	return FALSE;
}

static gboolean
spf_fail(const CgAuthFacts *f, GError **error)
{
	if (f->spf == CG_AUTH_PASS)
		g_set_error(error, CG_ERROR, CG_ERROR_SPF_FAIL,
		            "SPF passes for %s, which is not aligned with %s; reply from %s's "
		            "mail server with a MAIL FROM at %s",
		            f->spf_domain, f->from_domain, f->from_domain, f->from_domain);
	else
		g_set_error(error, CG_ERROR, CG_ERROR_SPF_FAIL,
		            "SPF %s for %s from %s; reply from your domain's mail server",
		            cg_auth_result_name(f->spf), f->spf_domain ? f->spf_domain : "-",
		            f->client_ip ? f->client_ip : "-");
	return FALSE;
}

static gboolean
temp(const char *what, GError **error)
{
	g_set_error(error, CG_ERROR, CG_ERROR_DNS_TEMP,
	            "temporary DNS failure checking %s; please retry later", what);
	return FALSE;
}

gboolean
cg_policy_reply_auth(CgReplyAuthMode mode, const CgAuthFacts *f, GError **error)
{
	gboolean spf_temp = f->spf == CG_AUTH_TEMPERROR;
	gboolean dkim_temp = dkim_aligned(f, CG_AUTH_TEMPERROR) != NULL;

	switch (mode) {
	case CG_REPLY_AUTH_SPF:
		if (spf_passes(f))
			return TRUE;
		return spf_temp ? temp("SPF", error) : spf_fail(f, error);
	case CG_REPLY_AUTH_DKIM:
		if (dkim_aligned(f, CG_AUTH_PASS) != NULL)
			return TRUE;
		return dkim_temp ? temp("DKIM", error) : dkim_fail(f, error);
	case CG_REPLY_AUTH_DMARC:
	default:
		/* Alignment depends on the DMARC record (adkim, aspf): unknown
		 * while it cannot be read. */
		if (f->dmarc_record == CG_AUTH_TEMPERROR)
			return temp("DMARC", error);
		if (spf_passes(f) || dkim_aligned(f, CG_AUTH_PASS) != NULL)
			return TRUE;
		if (spf_temp || dkim_temp)
			return temp(spf_temp ? "SPF" : "DKIM", error);
		/* An SPF fail speaks of the From domain only when aligned. */
		if (f->spf == CG_AUTH_FAIL && f->spf_aligned &&
		    dkim_aligned(f, CG_AUTH_FAIL) == NULL &&
		    dkim_aligned(f, CG_AUTH_PERMERROR) == NULL)
			return spf_fail(f, error);
		if (dkim_aligned(f, CG_AUTH_FAIL) != NULL || dkim_aligned(f, CG_AUTH_PERMERROR))
			return dkim_fail(f, error);
		g_set_error(error, CG_ERROR, CG_ERROR_DMARC_FAIL,
		            "DMARC fails for %s: SPF %s for %s%s, no verified DKIM signature "
		            "%s; reply from your domain's mail server",
		            f->from_domain, cg_auth_result_name(f->spf),
		            f->spf_domain ? f->spf_domain : "-",
		            f->spf_aligned ? ""
		            : f->strict    ? " (not the domain itself)"
		                           : " (not aligned)",
		            f->strict ? "of the domain itself" : "aligned with it");
		return FALSE;
	}
}
