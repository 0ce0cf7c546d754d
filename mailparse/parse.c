/*
 * parse.c: GMime's parse of one message, copied into the plain CgMail model.
 *
 * GMime is lenient by design; certgate is not. The parser's warnings that
 * mean "this structure is ambiguous or broken" (a multipart with no boundary
 * or no closing delimiter, conflicting headers or parameters, overflowing
 * nesting) make the message malformed, so that two readers can never see two
 * different messages in the same bytes.
 */
#include "mailparse-int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void
cg_mail_limits_default(CgMailLimits *l)
{
	l->max_size = 10 * 1024 * 1024;
	l->max_headers = 500;
	l->max_header_len = 16 * 1024;
	l->max_depth = 8;
	l->max_parts = 1000;
}

void
cg_mail_init(void)
{
	static gsize done = 0;

	/* g_once_init_enter, not g_once: cmake/tsan-glib.h tells
	 * ThreadSanitizer that a later caller is ordered after the first;
	 * g_once's fast path is not annotated. */
	if (g_once_init_enter(&done)) {
		g_mime_init();
		/* The bytes stream's class is made here, once, before any parse:
		 * made by the first g_object_new, one thread wrote its parent
		 * class while another's finalize read it, ordered only by GLib's
		 * own type lock, which ThreadSanitizer does not see
		 * (milter_races). The reference is kept for good. */
		g_type_class_ref(cg_bytes_stream_get_type());
		g_once_init_leave(&done, 1);
	}
}

typedef struct {
	CgMailLimits limits;
	char *problem; /* first fatal parser warning */
	guint parts;
} Ctx;

static void
on_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer data)
{
	Ctx *ctx = data;
	g_autofree char *safe = cg_text_safe(item, -1, 40);
	const char *what;

	switch (code) {
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
		what = "a multipart has no boundary parameter";
		break;
	case GMIME_WARN_TRUNCATED_MESSAGE:
		what = "the message is truncated (a multipart has no closing boundary)";
		break;
	case GMIME_WARN_MALFORMED_MULTIPART:
		what = "a multipart holds no parts";
		break;
	case GMIME_WARN_MALFORMED_MESSAGE:
		what = "the message structure is malformed";
		break;
	case GMIME_CRIT_NESTING_OVERFLOW:
		what = "MIME nesting is too deep";
		break;
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
		what = "a MIME part has neither headers nor content";
		break;
	case GMIME_CRIT_INVALID_HEADER_NAME:
		what = "a header field name is invalid";
		break;
	case GMIME_CRIT_CONFLICTING_HEADER:
		what = "a header field that may appear once appears twice";
		break;
	case GMIME_CRIT_CONFLICTING_PARAMETER:
		what = "a header parameter appears twice with different values";
		break;
	default:
		return;
	}
	if (ctx->problem != NULL)
		return;
	if (offset >= 0)
		ctx->problem = g_strdup_printf("%s%s%s%s (offset %" G_GINT64_FORMAT ")", what,
		                               *safe ? " [" : "", safe, *safe ? "]" : "", offset);
	else
		ctx->problem =
		    g_strdup_printf("%s%s%s%s", what, *safe ? " [" : "", safe, *safe ? "]" : "");
}

/* Header count and length limits for one entity's header block. */
static gboolean
check_headers(Ctx *ctx, GMimeObject *obj, GError **error)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(obj);
	int i, n = g_mime_header_list_get_count(list);

	if (n > (int)ctx->limits.max_headers) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "more than %u header fields in one part", ctx->limits.max_headers);
		return FALSE;
	}
	for (i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
		const char *raw = g_mime_header_get_raw_value(h);

		if (raw != NULL && strlen(raw) > ctx->limits.max_header_len) {
			g_autofree char *name = cg_text_safe(g_mime_header_get_name(h), -1, 40);

			g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
			            "header %s is longer than %" G_GSIZE_FORMAT " bytes", name,
			            ctx->limits.max_header_len);
			return FALSE;
		}
	}
	return TRUE;
}

/* What an object writes (a part's decoded content, a message's bytes),
 * taken from the memory stream it was written to rather than copied. */
static GBytes *
written_bytes(GMimeDataWrapper *content, GMimeObject *obj)
{
	GByteArray *arr = g_byte_array_new();
	GMimeStream *mem = g_mime_stream_mem_new_with_byte_array(arr);

	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	if (content != NULL)
		g_mime_data_wrapper_write_to_stream(content, mem);
	else if (obj != NULL)
		g_mime_object_write_to_stream(obj, NULL, mem);
	g_object_unref(mem); /* not the owner: arr stays */
	return g_byte_array_free_to_bytes(arr);
}

static GBytes *
part_bytes(GMimePart *part)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);

	return w == NULL ? g_bytes_new(NULL, 0) : written_bytes(w, NULL);
}

static char *
part_text(GMimePart *part)
{
	char *t = NULL, *clean;
	g_autoptr(GString) s = NULL;
	const char *p;

	if (GMIME_IS_TEXT_PART(part))
		t = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
	if (t == NULL)
		return g_strdup("");
	clean = g_utf8_make_valid(t, -1);
	g_free(t);
	/* One line-end convention for everything downstream. */
	s = g_string_sized_new(strlen(clean));
	for (p = clean; *p; p++)
		if (!(p[0] == '\r' && p[1] == '\n'))
			g_string_append_c(s, *p);
	g_free(clean);
	return g_strdup(s->str);
}

static void
attachment_free(gpointer p)
{
	CgAttachment *a = p;

	g_free(a->content_type);
	g_free(a->filename);
	if (a->data != NULL)
		g_bytes_unref(a->data);
	g_free(a);
}

static gboolean
is_smime_signature(GMimeContentType *ct)
{
	const char *st;

	if (g_mime_content_type_is_type(ct, "application", "pkcs7-signature") ||
	    g_mime_content_type_is_type(ct, "application", "x-pkcs7-signature"))
		return TRUE;
	if (!g_mime_content_type_is_type(ct, "application", "pkcs7-mime") &&
	    !g_mime_content_type_is_type(ct, "application", "x-pkcs7-mime"))
		return FALSE;
	st = g_mime_content_type_get_parameter(ct, "smime-type");
	return st == NULL || g_ascii_strcasecmp(st, "signed-data") == 0;
}

static gboolean walk(Ctx *ctx, GMimeObject *obj, guint depth, CgMailBody *body, gboolean *have_text,
                     GError **error);

static gboolean
walk_multipart(Ctx *ctx, GMimeMultipart *mp, GMimeContentType *ct, guint depth, CgMailBody *body,
               gboolean *have_text, GError **error)
{
	int i, n = g_mime_multipart_get_count(mp);

	if (g_mime_content_type_is_type(ct, "multipart", "signed"))
		/* The content only; the signature is in the S/MIME model. */
		return n < 1 || walk(ctx, g_mime_multipart_get_part(mp, 0), depth + 1, body,
		                     have_text, error);
	if (g_mime_content_type_is_type(ct, "multipart", "alternative")) {
		/* Prefer text/plain; otherwise the first alternative. */
		for (i = 0; i < n; i++) {
			GMimeObject *c = g_mime_multipart_get_part(mp, i);

			if (g_mime_content_type_is_type(g_mime_object_get_content_type(c), "text",
			                                "plain"))
				return walk(ctx, c, depth + 1, body, have_text, error);
		}
		return n < 1 || walk(ctx, g_mime_multipart_get_part(mp, 0), depth + 1, body,
		                     have_text, error);
	}
	for (i = 0; i < n; i++)
		if (!walk(ctx, g_mime_multipart_get_part(mp, i), depth + 1, body, have_text, error))
			return FALSE;
	return TRUE;
}

static gboolean
walk(Ctx *ctx, GMimeObject *obj, guint depth, CgMailBody *body, gboolean *have_text, GError **error)
{
	GMimeContentType *ct;
	CgAttachment *a;

	if (obj == NULL)
		return TRUE;
	if (depth > ctx->limits.max_depth) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "MIME nesting deeper than %u",
		            ctx->limits.max_depth);
		return FALSE;
	}
	if (++ctx->parts > ctx->limits.max_parts) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "more than %u MIME parts",
		            ctx->limits.max_parts);
		return FALSE;
	}
	if (!check_headers(ctx, obj, error))
		return FALSE;
	ct = g_mime_object_get_content_type(obj);
	if (GMIME_IS_MULTIPART(obj))
		return walk_multipart(ctx, GMIME_MULTIPART(obj), ct, depth, body, have_text, error);
	a = g_new0(CgAttachment, 1);
	{
		g_autofree char *mt = g_mime_content_type_get_mime_type(ct); /* caller frees */

		a->content_type = g_ascii_strdown(mt, -1);
	}
	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

		a->data =
		    inner != NULL ? written_bytes(NULL, GMIME_OBJECT(inner)) : g_bytes_new(NULL, 0);
		g_ptr_array_add(body->attachments, a);
		return TRUE;
	}
	if (!GMIME_IS_PART(obj)) {
		attachment_free(a);
		return TRUE;
	}
	{
		GMimePart *part = GMIME_PART(obj);
		const char *fn = g_mime_part_get_filename(part);
		const char *disp = g_mime_object_get_disposition(obj);
		gboolean attached =
		    fn != NULL || (disp && g_ascii_strcasecmp(disp, "attachment") == 0);

		if (fn != NULL)
			a->filename = g_utf8_make_valid(fn, -1);
		if (g_mime_content_type_is_type(ct, "text", "plain") && !attached && !*have_text) {
			g_free(body->text);
			body->text = part_text(part);
			*have_text = TRUE;
			attachment_free(a);
			return TRUE;
		}
		if (is_smime_signature(ct)) {
			/* In the S/MIME part of the model, not an attachment. */
			attachment_free(a);
			return TRUE;
		}
		a->data = part_bytes(part);
	}
	g_ptr_array_add(body->attachments, a);
	return TRUE;
}

/* An HTML-only body: its text, from the first text/html part that is not a
 * named attachment. */
static gboolean
html_fallback(CgMailBody *body, gboolean have_text)
{
	guint i;

	for (i = 0; !have_text && i < body->attachments->len; i++) {
		const CgAttachment *a = body->attachments->pdata[i];
		gsize n;
		const char *d;

		if (strcmp(a->content_type, "text/html") != 0 || a->filename != NULL || a->data == NULL)
			continue;
		d = g_bytes_get_data(a->data, &n);
		g_free(body->text);
		body->text = cg_mail_html_to_text(d, n);
		break;
	}
	return TRUE;
}

static void
body_init(CgMailBody *body)
{
	body->text = g_strdup("");
	body->attachments = g_ptr_array_new_with_free_func(attachment_free);
}

void
cg_mail_body_clear(CgMailBody *body)
{
	g_clear_pointer(&body->text, g_free);
	g_clear_pointer(&body->attachments, g_ptr_array_unref);
}

static GMimeParserOptions *
options_for(Ctx *ctx)
{
	GMimeParserOptions *o = g_mime_parser_options_new();

	g_mime_parser_options_set_warning_callback(o, on_warning, ctx);
	return o;
}

static gboolean
size_ok(const CgMailLimits *l, gsize size, GError **error)
{
	if (size <= l->max_size)
		return TRUE;
	g_set_error(error, CG_ERROR, CG_ERROR_TOO_LARGE,
	            "message is larger than %" G_GSIZE_FORMAT " bytes", l->max_size);
	return FALSE;
}

gboolean
cg_mail_parse_entity(GBytes *entity, const CgMailLimits *limits, CgMailBody *body, GError **error)
{
	Ctx ctx = {0};
	g_autoptr(GMimeStream) st = NULL;
	g_autoptr(GMimeParser) p = NULL;
	g_autoptr(GMimeParserOptions) opts = NULL;
	g_autoptr(GMimeObject) obj = NULL;
	gboolean have_text = FALSE;
	gsize len = g_bytes_get_size(entity);

	cg_mail_init();
	if (limits != NULL)
		ctx.limits = *limits;
	else
		cg_mail_limits_default(&ctx.limits);
	body_init(body);
	if (!size_ok(&ctx.limits, len, error))
		return FALSE;
	st = cg_mail_stream_new(entity);
	p = g_mime_parser_new_with_stream(st);
	opts = options_for(&ctx);
	obj = g_mime_parser_construct_part(p, opts);
	if (obj == NULL || ctx.problem != NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "MIME: %s",
		            ctx.problem ? ctx.problem : "no MIME entity");
		g_free(ctx.problem);
		return FALSE;
	}
	return walk(&ctx, obj, 0, body, &have_text, error) && html_fallback(body, have_text);
}

GMimeMessage *
cg_mail_construct_message(GMimeStream *st, const CgMailLimits *limits, char **problem)
{
	Ctx ctx = {0};
	g_autoptr(GMimeParser) p = g_mime_parser_new_with_stream(st);
	g_autoptr(GMimeParserOptions) opts = options_for(&ctx);
	GMimeMessage *msg;

	ctx.limits = *limits;
	g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(p, opts);
	*problem = ctx.problem;
	return msg;
}

gboolean
cg_mail_walk_message(GMimeMessage *msg, const CgMailLimits *limits, CgMailBody *body,
                     GError **error)
{
	Ctx ctx = {0};
	gboolean have_text = FALSE;

	ctx.limits = *limits;
	body_init(body);
	if (!check_headers(&ctx, GMIME_OBJECT(msg), error))
		return FALSE;
	return walk(&ctx, g_mime_message_get_mime_part(msg), 0, body, &have_text, error) &&
	       html_fallback(body, have_text);
}
