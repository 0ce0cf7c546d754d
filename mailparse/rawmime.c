/*
 * rawmime.c: finds S/MIME parts by walking the raw bytes.
 *
 * A detached signature covers the first part of a multipart/signed exactly as
 * transmitted. Re-serialising a parsed MIME tree can change those bytes
 * (folding, header case, line ends), so this walker never re-serialises: it
 * finds header/body splits and boundary delimiter lines in the original bytes
 * and returns byte ranges (RFC 2046 5.1.1: the line break before a delimiter
 * belongs to the delimiter). Content-Type values are parsed by GMime.
 * Limits: nesting depth and part count, as for the main parser.
 */
#include "mailparse-int.h"

#include <string.h>
#include <openssl/cms.h>
#include <openssl/objects.h>

typedef struct {
	const guint8 *p;
	gsize len;
} Range;

/* Offset of the body (after the blank line ending the headers), or -1. */
static gssize
header_end(Range r)
{
	gsize i;

	if (r.len > 0 && r.p[0] == '\n')
		return 1;
	if (r.len > 1 && r.p[0] == '\r' && r.p[1] == '\n')
		return 2;
	for (i = 0; i + 1 < r.len; i++) {
		if (r.p[i] != '\n')
			continue;
		if (r.p[i + 1] == '\n')
			return (gssize)(i + 2);
		if (i + 2 < r.len && r.p[i + 1] == '\r' && r.p[i + 2] == '\n')
			return (gssize)(i + 3);
	}
	return -1;
}

/* The unfolded value of the first header named name in the header block. */
static char *
find_header(Range hdr, const char *name)
{
	gsize nlen = strlen(name), i = 0;

	while (i < hdr.len) {
		gsize start = i, end;

		/* One field: this line plus continuation lines. */
		for (end = i; end < hdr.len; end++)
			if (hdr.p[end] == '\n' && (end + 1 >= hdr.len || (hdr.p[end + 1] != ' ' &&
			                                                  hdr.p[end + 1] != '\t')))
				break;
		if (end - start > nlen &&
		    g_ascii_strncasecmp((const char *)hdr.p + start, name, nlen) == 0) {
			gsize j = start + nlen;

			while (j < end && (hdr.p[j] == ' ' || hdr.p[j] == '\t'))
				j++;
			if (j < end && hdr.p[j] == ':') {
				GString *v = g_string_sized_new(end - j);
				gsize k;

				for (k = j + 1; k < end; k++)
					if (hdr.p[k] != '\r' && hdr.p[k] != '\n')
						g_string_append_c(v, (char)hdr.p[k]);
				return g_strstrip(g_string_free(v, FALSE));
			}
		}
		i = end + 1;
	}
	return NULL;
}

/* Is the line at p (up to eol) a delimiter "--boundary" or "--boundary--"? */
static int
delimiter_kind(const guint8 *p, gsize n, const char *b, gsize blen)
{
	gsize i;

	if (n < blen + 2 || p[0] != '-' || p[1] != '-' || memcmp(p + 2, b, blen) != 0)
		return 0;
	i = blen + 2;
	if (n >= i + 2 && p[i] == '-' && p[i + 1] == '-') {
		i += 2;
		while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
			i++;
		return i == n ? 2 : 0;
	}
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
		i++;
	return i == n ? 1 : 0;
}

/* Splits a multipart body into its parts' ranges. FALSE when no closing
 * delimiter is found (truncated) or there is no part. */
static gboolean
split_parts(Range body, const char *boundary, GArray *parts)
{
	gsize blen = strlen(boundary), i = 0;
	gssize part_start = -1;

	while (i <= body.len) {
		const guint8 *nl = memchr(body.p + i, '\n', body.len - i);
		gsize eol = nl ? (gsize)(nl - body.p) : body.len;
		int kind = delimiter_kind(body.p + i, eol - i, boundary, blen);

		if (kind != 0) {
			if (part_start >= 0) {
				/* The line break before the delimiter is not content. */
				gsize end = i;
				Range r;

				if (end > (gsize)part_start && body.p[end - 1] == '\n')
					end--;
				if (end > (gsize)part_start && body.p[end - 1] == '\r')
					end--;
				r.p = body.p + part_start;
				r.len = end - (gsize)part_start;
				g_array_append_val(parts, r);
			}
			if (kind == 2)
				return parts->len > 0;
			part_start = (gssize)(nl ? eol + 1 : body.len);
		}
		if (nl == NULL)
			break;
		i = eol + 1;
	}
	return FALSE;
}

/* CRLF canonical form: every bare LF becomes CRLF. Content already in that
 * form (mail from the MTA is) is not copied: the result is a slice of raw,
 * which r lies in. */
static GBytes *
canonical_crlf(GBytes *raw, Range r)
{
	const guint8 *nl = r.len ? memchr(r.p, '\n', r.len) : NULL, *end = r.p + r.len;
	GByteArray *out;
	gsize i;

	/* The first bare LF, if any. */
	while (nl != NULL && nl > r.p && nl[-1] == '\r')
		nl = nl + 1 < end ? memchr(nl + 1, '\n', (gsize)(end - nl - 1)) : NULL;
	if (nl == NULL) {
		const guint8 *base = g_bytes_get_data(raw, NULL);

		return g_bytes_new_from_bytes(raw, (gsize)(r.p - base), r.len);
	}
	out = g_byte_array_sized_new((guint)(r.len + r.len / 32 + 2));
	for (i = 0; i < r.len; i++) {
		if (r.p[i] == '\n' && (i == 0 || r.p[i - 1] != '\r'))
			g_byte_array_append(out, (const guint8 *)"\r", 1);
		g_byte_array_append(out, r.p + i, 1);
	}
	return g_byte_array_free_to_bytes(out);
}

static GBytes *
decode_body(Range entity)
{
	gssize h = header_end(entity);
	g_autofree char *cte = NULL;
	Range hdr, body;

	if (h < 0)
		return NULL;
	hdr.p = entity.p;
	hdr.len = (gsize)h;
	body.p = entity.p + h;
	body.len = entity.len - (gsize)h;
	cte = find_header(hdr, "Content-Transfer-Encoding");
	if (cte != NULL && g_ascii_strcasecmp(cte, "base64") == 0) {
		g_autoptr(GString) t = g_string_sized_new(body.len);
		gsize i, n = 0;
		guchar *der;

		for (i = 0; i < body.len; i++) {
			char c = (char)body.p[i];

			if (g_ascii_isalnum(c) || c == '+' || c == '/' || c == '=')
				g_string_append_c(t, c);
			else if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
				return NULL;
		}
		if (t->len == 0 || t->len % 4 != 0)
			return NULL;
		der = g_base64_decode(t->str, &n);
		return g_bytes_new_take(der, n);
	}
	return g_bytes_new(body.p, body.len);
}

/* The NID of a CMS ContentInfo's contentType, NID_undef when it is none. */
static int
cms_type(GBytes *der)
{
	const unsigned char *p;
	CMS_ContentInfo *cms;
	int nid = NID_undef;

	if (der == NULL)
		return NID_undef;
	p = g_bytes_get_data(der, NULL);
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)g_bytes_get_size(der));
	if (cms != NULL)
		nid = OBJ_obj2nid(CMS_get0_type(cms));
	CMS_ContentInfo_free(cms);
	return nid;
}

GBytes *
cg_mail_entity_enveloped(GBytes *entity)
{
	Range e;
	gssize h;
	g_autofree char *ct_text = NULL;
	g_autoptr(GMimeContentType) ct = NULL;
	GBytes *der;
	int nid;

	cg_mail_init();
	e.p = g_bytes_get_data(entity, &e.len);
	if ((h = header_end(e)) < 0)
		return NULL;
	e.len = (gsize)h;
	ct_text = find_header(e, "Content-Type");
	if (ct_text == NULL || (ct = g_mime_content_type_parse(NULL, ct_text)) == NULL ||
	    (!g_mime_content_type_is_type(ct, "application", "pkcs7-mime") &&
	     !g_mime_content_type_is_type(ct, "application", "x-pkcs7-mime")))
		return NULL;
	e.p = g_bytes_get_data(entity, &e.len);
	der = decode_body(e);
	nid = cms_type(der);
	if (nid == NID_pkcs7_enveloped || nid == NID_id_smime_ct_authEnvelopedData)
		return der;
	if (der != NULL)
		g_bytes_unref(der);
	return NULL;
}

/* A MIME header field of the top level, which a new body replaces. */
static gboolean
is_mime_field(const guint8 *p, gsize n)
{
	return (n >= 12 && g_ascii_strncasecmp((const char *)p, "MIME-Version", 12) == 0) ||
	       (n >= 8 && g_ascii_strncasecmp((const char *)p, "Content-", 8) == 0);
}

GBytes *
cg_mail_replace_body(GBytes *raw, GBytes *entity)
{
	Range r;
	gssize h;
	GByteArray *out;
	gsize i = 0;

	r.p = g_bytes_get_data(raw, &r.len);
	h = header_end(r);
	out = g_byte_array_sized_new((guint)(r.len + g_bytes_get_size(entity)));
	while (h > 0 && i < (gsize)h) {
		gsize end;

		/* One field: its line and continuation lines. */
		for (end = i; end < (gsize)h; end++)
			if (r.p[end] == '\n' && (end + 1 >= (gsize)h || (r.p[end + 1] != ' ' &&
			                                                 r.p[end + 1] != '\t')))
				break;
		end = MIN(end + 1, (gsize)h);
		if (r.p[i] != '\r' && r.p[i] != '\n' && !is_mime_field(r.p + i, end - i))
			g_byte_array_append(out, r.p + i, (guint)(end - i));
		i = end;
	}
	g_byte_array_append(out, g_bytes_get_data(entity, NULL), (guint)g_bytes_get_size(entity));
	return g_byte_array_free_to_bytes(out);
}

typedef struct {
	const CgMailLimits *limits;
	guint parts;
	CgSmime *out;
	GError **error;
	GBytes *raw; /* the message every Range lies in */
} Walk;

static gboolean
walk_entity(Walk *w, Range e, guint depth)
{
	g_autofree char *ct_text = NULL;
	g_autoptr(GMimeContentType) ct = NULL;
	g_autoptr(GArray) parts = NULL;
	gssize h = header_end(e);
	const char *boundary;
	Range hdr, body;
	guint i;

	if (++w->parts > w->limits->max_parts || depth > w->limits->max_depth || h < 0)
		return TRUE; /* the main parser reports these; nothing signed here */
	hdr.p = e.p;
	hdr.len = (gsize)h;
	body.p = e.p + h;
	body.len = e.len - (gsize)h;
	ct_text = find_header(hdr, "Content-Type");
	if (ct_text == NULL)
		return TRUE;
	ct = g_mime_content_type_parse(NULL, ct_text);
	if (ct == NULL)
		return TRUE;
	if (g_ascii_strcasecmp(g_mime_content_type_get_media_type(ct), "multipart") != 0) {
		g_autoptr(GBytes) der = NULL;
		int nid;

		if (!g_mime_content_type_is_type(ct, "application", "pkcs7-mime") &&
		    !g_mime_content_type_is_type(ct, "application", "x-pkcs7-mime"))
			return TRUE;
		/* What the CMS says it is, whatever smime-type claims (or omits). */
		der = decode_body(e);
		nid = cms_type(der);
		if (nid == NID_pkcs7_signed) {
			w->out->kind = CG_SMIME_OPAQUE;
		} else if (depth == 0 && (nid == NID_pkcs7_enveloped ||
		                          nid == NID_id_smime_ct_authEnvelopedData)) {
			w->out->kind = CG_SMIME_ENVELOPED;
		} else {
			const char *st = g_mime_content_type_get_parameter(ct, "smime-type");
			gboolean enc = st != NULL && (g_ascii_strcasecmp(st, "enveloped-data") == 0 ||
			                              g_ascii_strcasecmp(st, "authEnveloped-data") == 0);

			/* Unreadable CMS: what it claims to be, so that the verifier
			 * or the decryptor says it is damaged; a part neither signed
			 * nor encrypted is an attachment. */
			if (enc && depth == 0)
				w->out->kind = CG_SMIME_ENVELOPED;
			else if (st == NULL || g_ascii_strcasecmp(st, "signed-data") == 0)
				w->out->kind = CG_SMIME_OPAQUE;
			else
				return TRUE;
		}
		w->out->signature = g_steal_pointer(&der);
		return FALSE; /* found: stop */
	}
	boundary = g_mime_content_type_get_parameter(ct, "boundary");
	if (boundary == NULL || *boundary == '\0' || strlen(boundary) > 70)
		return TRUE;
	parts = g_array_new(FALSE, FALSE, sizeof(Range));
	if (!split_parts(body, boundary, parts))
		return TRUE;
	if (g_mime_content_type_is_type(ct, "multipart", "signed")) {
		const char *micalg = g_mime_content_type_get_parameter(ct, "micalg");

		if (parts->len != 2) {
			g_set_error(w->error, CG_ERROR, CG_ERROR_MALFORMED,
			            "multipart/signed has %u parts, not 2", parts->len);
			return FALSE;
		}
		w->out->kind = CG_SMIME_DETACHED;
		w->out->signed_content = canonical_crlf(w->raw, g_array_index(parts, Range, 0));
		w->out->signature = decode_body(g_array_index(parts, Range, 1));
		w->out->micalg = micalg ? g_ascii_strdown(micalg, -1) : NULL;
		return FALSE;
	}
	for (i = 0; i < parts->len; i++)
		if (!walk_entity(w, g_array_index(parts, Range, i), depth + 1))
			return FALSE;
	return TRUE;
}

gboolean
cg_mail_find_smime(GBytes *raw, const CgMailLimits *limits, CgSmime *out, GError **error)
{
	Walk w = {limits, 0, out, error, raw};
	Range r;

	r.p = g_bytes_get_data(raw, &r.len);
	memset(out, 0, sizeof(*out));
	walk_entity(&w, r, 0);
	if (error != NULL && *error != NULL)
		return FALSE;
	if (out->kind != CG_SMIME_NONE &&
	    (out->signature == NULL || g_bytes_get_size(out->signature) == 0)) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "S/MIME signature part is empty or not decodable");
		return FALSE;
	}
	return TRUE;
}
