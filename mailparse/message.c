/*
 * message.c: the top-level message: envelope, headers, From, the model's
 * lifetime, and a stable dump for golden-file tests.
 */
#include "mailparse-int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static void
header_free(gpointer p)
{
	CgHeader *h = p;

	g_free(h->name);
	g_free(h->raw_value);
	g_free(h);
}

void
cg_envelope_clear(CgEnvelope *env)
{
	g_clear_pointer(&env->client_ip, g_free);
	g_clear_pointer(&env->helo, g_free);
	g_clear_pointer(&env->mail_from, g_free);
	g_clear_pointer(&env->rcpts, g_strfreev);
	g_clear_pointer(&env->queue_id, g_free);
}

void
cg_mail_free(CgMail *m)
{
	if (m == NULL)
		return;
	cg_envelope_clear(&m->envelope);
	if (m->raw != NULL)
		g_bytes_unref(m->raw);
	if (m->headers != NULL)
		g_ptr_array_unref(m->headers);
	g_free(m->from);
	g_free(m->from_display);
	g_strfreev(m->to);
	g_strfreev(m->cc);
	g_strfreev(m->reply_to);
	g_free(m->subject);
	g_free(m->message_id);
	g_free(m->in_reply_to);
	g_free(m->references);
	g_free(m->auto_submitted);
	g_strfreev(m->dkim_signatures);
	cg_mail_body_clear(&m->body);
	if (m->smime.signed_content != NULL)
		g_bytes_unref(m->smime.signed_content);
	if (m->smime.signature != NULL)
		g_bytes_unref(m->smime.signature);
	g_free(m->smime.micalg);
	g_free(m);
}

const char *
cg_mail_header(const CgMail *m, const char *name)
{
	guint i;

	for (i = 0; i < m->headers->len; i++) {
		const CgHeader *h = g_ptr_array_index(m->headers, i);

		if (g_ascii_strcasecmp(h->name, name) == 0)
			return h->raw_value;
	}
	return NULL;
}

static char *
unfolded(const char *raw)
{
	return g_strstrip(g_mime_utils_header_unfold(raw ? raw : ""));
}

/* The addr-spec as written: inside the last <...>, else the whole value less
 * any (comment). GMime repairs some broken addresses (it reads
 * "<a@b.example@c.example>" as a@b.example); certgate refuses what it would
 * have to repair, so that it never sees a different sender than the MTA or
 * the DMARC evaluation do. */
static char *
written_addr_spec(const char *value)
{
	const char *lt = strrchr(value, '<');
	GString *out = g_string_new(NULL);
	const char *p;
	int depth = 0;

	if (lt != NULL) {
		const char *gt = strchr(lt, '>');

		g_string_append_len(out, lt + 1, gt ? gt - lt - 1 : (gssize)strlen(lt + 1));
		return g_strstrip(g_string_free(out, FALSE));
	}
	for (p = value; *p; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth == 0)
			g_string_append_c(out, *p);
	}
	return g_strstrip(g_string_free(out, FALSE));
}

/* The one From mailbox. RFC 5322 allows a list; certgate needs one person. */
static gboolean
parse_from(CgMail *m, GError **error)
{
	g_autoptr(InternetAddressList) list = NULL;
	g_autofree char *value = NULL;
	InternetAddress *ia;
	g_autoptr(GError) err = NULL;
	guint i, count = 0;

	for (i = 0; i < m->headers->len; i++) {
		const CgHeader *h = g_ptr_array_index(m->headers, i);

		if (g_ascii_strcasecmp(h->name, "From") == 0) {
			count++;
			if (value == NULL)
				value = unfolded(h->raw_value);
		}
	}
	if (count != 1) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            count == 0 ? "message has no From: field"
		                       : "message has more than one From: field");
		return FALSE;
	}
	list = internet_address_list_parse(NULL, value);
	if (list == NULL || internet_address_list_length(list) != 1 ||
	    !INTERNET_ADDRESS_IS_MAILBOX(internet_address_list_get_address(list, 0))) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "From: must hold exactly one mailbox");
		return FALSE;
	}
	ia = internet_address_list_get_address(list, 0);
	m->from = cg_addr_normalise(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)),
	                            &err);
	if (m->from == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "From: %s", err->message);
		return FALSE;
	}
	{
		g_autofree char *spec = written_addr_spec(value);
		g_autofree char *norm = cg_addr_normalise(spec, NULL);

		if (norm == NULL || !cg_addr_equal(norm, m->from)) {
			g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
			            "From: is not a plain mailbox address");
			return FALSE;
		}
	}
	m->from_display = g_utf8_make_valid(
	    internet_address_get_name(ia) ? internet_address_get_name(ia) : "", -1);
	return TRUE;
}

static void
collect_addresses(InternetAddressList *list, GPtrArray *out)
{
	int i, n = list ? internet_address_list_length(list) : 0;

	for (i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(list, i);

		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			collect_addresses(
			    internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), out);
		} else if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			char *a = cg_addr_normalise(
			    internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)), NULL);

			if (a != NULL)
				g_ptr_array_add(out, a);
		}
	}
}

static char **
addresses(GMimeMessage *msg, GMimeAddressType type)
{
	GPtrArray *out = g_ptr_array_new();

	collect_addresses(g_mime_message_get_addresses(msg, type), out);
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

static char *
clean_or_null(const char *s, gsize max)
{
	g_autofree char *u = NULL;

	if (s == NULL)
		return NULL;
	u = unfolded(s);
	return cg_text_is_clean(u, -1, max) ? g_steal_pointer(&u) : NULL;
}

static void
copy_envelope(CgEnvelope *dst, const CgEnvelope *src)
{
	if (src == NULL)
		return;
	dst->client_ip = g_strdup(src->client_ip);
	dst->helo = g_strdup(src->helo);
	dst->mail_from = g_strdup(src->mail_from);
	dst->rcpts = g_strdupv(src->rcpts);
	dst->queue_id = g_strdup(src->queue_id);
}

static void
copy_headers(CgMail *m, GMimeObject *obj)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(obj);
	GPtrArray *dkim = g_ptr_array_new();
	int i, n = g_mime_header_list_get_count(list);

	for (i = 0; i < n; i++) {
		GMimeHeader *gh = g_mime_header_list_get_header_at(list, i);
		CgHeader *h = g_new0(CgHeader, 1);
		const char *raw = g_mime_header_get_raw_value(gh);

		h->name = g_strdup(g_mime_header_get_name(gh));
		h->raw_value = g_strdup(raw ? raw : "");
		g_strchomp(h->raw_value);
		g_ptr_array_add(m->headers, h);
		if (g_ascii_strcasecmp(h->name, "DKIM-Signature") == 0)
			g_ptr_array_add(dkim, g_strdup(h->raw_value));
	}
	g_ptr_array_add(dkim, NULL);
	m->dkim_signatures = (char **)g_ptr_array_free(dkim, FALSE);
}

static void
copy_fields(CgMail *m, GMimeMessage *msg)
{
	/* Decoded here, not by GMime: it joins adjacent B words before
	 * decoding, which loses a word after one with padding. */
	const char *subj = cg_mail_header(m, "Subject");
	const char *irt = cg_mail_header(m, "In-Reply-To");
	GDateTime *date = g_mime_message_get_date(msg);
	char *id;

	m->to = addresses(msg, GMIME_ADDRESS_TYPE_TO);
	m->cc = addresses(msg, GMIME_ADDRESS_TYPE_CC);
	m->reply_to = addresses(msg, GMIME_ADDRESS_TYPE_REPLY_TO);
	m->subject = cg_mail_decode_words(subj);
	m->message_id = clean_or_null(g_mime_message_get_message_id(msg), 998);
	if (irt != NULL && (id = g_mime_utils_decode_message_id(irt)) != NULL) {
		m->in_reply_to = clean_or_null(id, 998);
		g_free(id);
	}
	m->references = clean_or_null(cg_mail_header(m, "References"), 16 * 1024);
	m->auto_submitted = clean_or_null(cg_mail_header(m, "Auto-Submitted"), 998);
	m->date = date ? g_date_time_to_unix(date) : 0;
}

CgMail *
cg_mail_parse(GBytes *raw, const CgEnvelope *envelope, const CgMailLimits *limits, GError **error)
{
	CgMailLimits l;
	g_autoptr(CgMail) m = g_new0(CgMail, 1);
	g_autoptr(GMimeStream) st = NULL;
	g_autoptr(GMimeMessage) msg = NULL;
	g_autofree char *problem = NULL;
	gsize len = g_bytes_get_size(raw);

	cg_mail_init();
	if (limits != NULL)
		l = *limits;
	else
		cg_mail_limits_default(&l);
	m->raw = g_bytes_ref(raw);
	m->headers = g_ptr_array_new_with_free_func(header_free);
	copy_envelope(&m->envelope, envelope);
	if (len > l.max_size) {
		g_set_error(error, CG_ERROR, CG_ERROR_TOO_LARGE,
		            "message is larger than %" G_GSIZE_FORMAT " bytes", l.max_size);
		return NULL;
	}
	st = cg_mail_stream_new(raw);
	msg = cg_mail_construct_message(st, &l, &problem);
	if (msg == NULL || problem != NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "MIME: %s",
		            problem ? problem : "not a message");
		return NULL;
	}
	copy_headers(m, GMIME_OBJECT(msg));
	if (!parse_from(m, error))
		return NULL;
	copy_fields(m, msg);
	if (!cg_mail_walk_message(msg, &l, &m->body, error))
		return NULL;
	if (!cg_mail_find_smime(raw, &l, &m->smime, error))
		return NULL;
	return g_steal_pointer(&m);
}

CgMail *
cg_mail_parse_fd(int fd, const CgEnvelope *envelope, const CgMailLimits *limits, GError **error)
{
	CgMailLimits l;
	g_autoptr(GByteArray) buf = g_byte_array_new();
	g_autoptr(GBytes) raw = NULL;
	guint8 chunk[65536];

	if (limits != NULL)
		l = *limits;
	else
		cg_mail_limits_default(&l);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_set_error(error, CG_ERROR, CG_ERROR_IO, "read: %s", g_strerror(errno));
			return NULL;
		}
		if (n == 0)
			break;
		g_byte_array_append(buf, chunk, (guint)n);
		if (buf->len > l.max_size) {
			g_set_error(error, CG_ERROR, CG_ERROR_TOO_LARGE,
			            "message is larger than %" G_GSIZE_FORMAT " bytes", l.max_size);
			return NULL;
		}
	}
	raw = g_byte_array_free_to_bytes(g_steal_pointer(&buf));
	return cg_mail_parse(raw, envelope, &l, error);
}

/* Text for the dump: printable UTF-8 kept, control characters escaped. */
static void
dump_str(GString *out, const char *s)
{
	const char *p;

	if (s == NULL) {
		g_string_append(out, "(none)");
		return;
	}
	for (p = s; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
			g_string_append_printf(out, "\\x%02x", c);
		else
			g_string_append_unichar(out, c);
	}
}

static void
dump_list(GString *out, const char *label, char **v)
{
	g_string_append_printf(out, "%s:", label);
	for (; v && *v; v++) {
		g_string_append_c(out, ' ');
		dump_str(out, *v);
	}
	g_string_append_c(out, '\n');
}

static void
dump_field(GString *out, const char *label, const char *v)
{
	g_string_append_printf(out, "%s: ", label);
	dump_str(out, v);
	g_string_append_c(out, '\n');
}

static void
dump_bytes_digest(GString *out, GBytes *b)
{
	guint8 d[32];
	gsize n = 0;
	const void *p = b ? g_bytes_get_data(b, &n) : NULL;
	g_autofree char *hex = NULL;

	cg_sha256(p ? p : "", n, d);
	hex = cg_hex(d, 8);
	g_string_append_printf(out, "%" G_GSIZE_FORMAT " bytes sha256:%s", n, hex);
}

void
cg_mail_dump(const CgMail *m, GString *out)
{
	static const char *kinds[] = {"none", "detached", "opaque", "enveloped"};
	g_auto(GStrv) lines = NULL;
	char **l;
	guint i;

	dump_field(out, "from", m->from);
	dump_field(out, "from-display", m->from_display);
	dump_list(out, "to", m->to);
	dump_list(out, "cc", m->cc);
	dump_list(out, "reply-to", m->reply_to);
	dump_field(out, "subject", m->subject);
	dump_field(out, "message-id", m->message_id);
	dump_field(out, "in-reply-to", m->in_reply_to);
	dump_field(out, "auto-submitted", m->auto_submitted);
	if (m->date != 0) {
		g_autofree char *d = cg_time_iso(m->date);

		dump_field(out, "date", d);
	} else {
		dump_field(out, "date", NULL);
	}
	g_string_append_printf(out, "headers: %u\n", m->headers->len);
	g_string_append_printf(out, "dkim-signatures: %u\n",
	                       m->dkim_signatures ? g_strv_length(m->dkim_signatures) : 0);
	g_string_append_printf(out, "smime: %s", kinds[m->smime.kind]);
	if (m->smime.kind == CG_SMIME_DETACHED) {
		g_string_append(out, " signed=");
		dump_bytes_digest(out, m->smime.signed_content);
		g_string_append_printf(out, " micalg=%s", m->smime.micalg ? m->smime.micalg : "-");
	}
	if (m->smime.kind != CG_SMIME_NONE) {
		g_string_append(out, " signature=");
		dump_bytes_digest(out, m->smime.signature);
	}
	g_string_append_c(out, '\n');
	lines = g_strsplit(m->body.text ? m->body.text : "", "\n", -1);
	g_string_append_printf(out, "text: %u lines\n", g_strv_length(lines));
	for (l = lines; *l; l++) {
		g_string_append(out, "| ");
		dump_str(out, *l);
		g_string_append_c(out, '\n');
	}
	for (i = 0; m->body.attachments && i < m->body.attachments->len; i++) {
		const CgAttachment *a = g_ptr_array_index(m->body.attachments, i);

		g_string_append_printf(out, "attachment: %s name=", a->content_type);
		dump_str(out, a->filename);
		g_string_append_c(out, ' ');
		dump_bytes_digest(out, a->data);
		g_string_append_c(out, '\n');
	}
}
