/*
 * session.c: one SMTP connection and its current message, as the milter
 * callbacks see them, without libmilter (the process is process.c's).
 *
 * A message with no gateway recipient is let through at DATA, before any
 * header or body is sent to the milter. A gateway message is collected
 * (headers in memory, the body in a spool) and handed whole to the gateway
 * at end of message. Only one gateway address per message: a second,
 * different one is deferred (452 4.5.3) so that the client retries it in a
 * message of its own, and nothing is lost.
 */
#include "milter.h"
#include "common.h"

#include <string.h>
#include <syslog.h>

#define SPILL_THRESHOLD (256 * 1024)

typedef struct {
	char *name;
	char *value; /* with its leading space and folding, line ends CRLF */
} Header;

typedef struct {
	char *sender;     /* normalised, "" for the null sender */
	char *sender_raw; /* as given, brackets removed */
	GPtrArray *rcpts; /* every recipient, as given */
	GPtrArray *gw;    /* gateway recipients, as given (for delrcpt) */
	char *gw_addr;    /* the gateway address, normalised */
	CgGatewayKind kind;
	gboolean others;    /* some recipient is not a gateway address */
	gboolean oversize;  /* its header fields passed MaxMessageSize */
	GPtrArray *headers; /* Header* */
	gsize size;         /* header and body bytes so far */
	CgSpool spool;
	char *queue_id;
	gint64 started;
} Msg;

struct CgSession {
	CgMilter *m;
	CgConf *conf;
	char *client_ip;
	char *client_host;
	char *helo;
	Msg *msg;
};

/* ---- messages ---- */

static void
header_free(gpointer p)
{
	Header *h = p;

	g_free(h->name);
	g_free(h->value);
	g_free(h);
}

static void
msg_free(Msg *g)
{
	if (g == NULL)
		return;
	g_free(g->sender);
	g_free(g->sender_raw);
	g_ptr_array_unref(g->rcpts);
	g_ptr_array_unref(g->gw);
	g_free(g->gw_addr);
	g_ptr_array_unref(g->headers);
	cg_spool_clear(&g->spool);
	g_free(g->queue_id);
	g_free(g);
}

static Msg *
msg_new(CgSession *s)
{
	Msg *g = g_new0(Msg, 1);

	g->rcpts = g_ptr_array_new_with_free_func(g_free);
	g->gw = g_ptr_array_new_with_free_func(g_free);
	g->headers = g_ptr_array_new_with_free_func(header_free);
	cg_spool_init(&g->spool, s->conf->temp_dir, SPILL_THRESHOLD);
	g->started = g_get_monotonic_time();
	return g;
}

static char *
strip_brackets(const char *a)
{
	g_autofree char *t = g_strstrip(g_strdup(a ? a : ""));
	gsize n = strlen(t);

	if (n >= 2 && t[0] == '<' && t[n - 1] == '>')
		return g_strndup(t + 1, n - 2);
	return g_steal_pointer(&t);
}

/* ---- the connection ---- */

CgSession *
cg_session_new(CgMilter *m, const char *client_ip, const char *client_host)
{
	CgSession *s = g_new0(CgSession, 1);

	s->m = m;
	s->conf = cg_conf_holder_get(m->conf);
	s->client_ip = g_strdup(client_ip ? client_ip : "unknown");
	s->client_host = g_strdup(client_host ? client_host : "unknown");
	return s;
}

void
cg_session_free(CgSession *s)
{
	if (s == NULL)
		return;
	msg_free(s->msg);
	cg_conf_unref(s->conf);
	g_free(s->client_ip);
	g_free(s->client_host);
	g_free(s->helo);
	g_free(s);
}

CgVerdict
cg_session_helo(CgSession *s, const char *helo, CgReply *r)
{
	(void)r;
	g_free(s->helo);
	s->helo = g_strdup(helo ? helo : "");
	return CG_MV_CONTINUE;
}

CgVerdict
cg_session_mail(CgSession *s, const char *sender, CgReply *r)
{
	Msg *g;

	(void)r;
	msg_free(s->msg);
	/* A configuration reloaded since the connection began applies from the
	 * next message on. */
	cg_conf_unref(s->conf);
	s->conf = cg_conf_holder_get(s->m->conf);
	g = s->msg = msg_new(s);
	g->sender_raw = strip_brackets(sender);
	g->sender = *g->sender_raw ? cg_addr_normalise(g->sender_raw, NULL) : g_strdup("");
	if (g->sender == NULL)
		g->sender = g_strdup(g->sender_raw);
	return CG_MV_CONTINUE;
}

/* A gateway recipient while this site is a replication client: deferred at
 * once (451 4.3.2), before the message is sent. */
static gboolean
master_here(CgSession *s, CgReply *r)
{
	g_autoptr(GError) err = NULL;
	CgStore *store = cg_milter_store(s->m, &err);

	if (store == NULL || cg_store_writable(store, &err))
		return TRUE; /* no store: the message is deferred at its end */
	cg_reply_from_error(err, NULL, r);
	return FALSE;
}

CgVerdict
cg_session_rcpt(CgSession *s, const char *rcpt, CgReply *r)
{
	g_autofree char *bare = strip_brackets(rcpt);
	g_autofree char *norm = cg_addr_normalise(bare, NULL);
	CgGatewayKind kind = norm ? cg_handler_kind_of(s->conf, norm) : CG_GW_NONE;
	Msg *g = s->msg;

	if (g == NULL)
		g = s->msg = msg_new(s);
	if (kind == CG_GW_NONE) {
		g->others = TRUE;
		g_ptr_array_add(g->rcpts, g_strdup(rcpt));
		return CG_MV_CONTINUE;
	}
	if (!master_here(s, r))
		return r->verdict;
	if (g->kind != CG_GW_NONE && g_ascii_strcasecmp(g->gw_addr, norm) != 0) {
		g_autoptr(GError) err = g_error_new(
		    CG_ERROR, CG_ERROR_RCPT_LATER,
		    "one gateway address per message: %s will be retried in a message of its own",
		    norm);

		cg_reply_from_error(err, NULL, r);
		return r->verdict;
	}
	if (g->kind == CG_GW_NONE) {
		g->kind = kind;
		g->gw_addr = g_steal_pointer(&norm);
	}
	g_ptr_array_add(g->rcpts, g_strdup(rcpt));
	g_ptr_array_add(g->gw, g_strdup(rcpt));
	return CG_MV_CONTINUE;
}

CgVerdict
cg_session_data(CgSession *s, CgReply *r)
{
	(void)r;
	g_atomic_int_inc(&s->m->n_messages);
	if (s->msg == NULL || s->msg->kind == CG_GW_NONE)
		return CG_MV_ACCEPT;
	g_atomic_int_inc(&s->m->n_gateway);
	return CG_MV_CONTINUE;
}

static CgVerdict
too_large(CgSession *s, CgReply *r)
{
	g_autoptr(GError) err =
	    g_error_new(CG_ERROR, CG_ERROR_TOO_LARGE,
	                "message is larger than %" G_GINT64_FORMAT " bytes, the limit for %s",
	                s->conf->max_message_size, s->msg->gw_addr);

	cg_reply_from_error(err, s->msg->queue_id, r);
	return r->verdict;
}

/* Bare LF becomes CRLF: the form the message has on the wire. */
static char *
crlf(const char *v)
{
	GString *out = g_string_sized_new(strlen(v) + 8);
	const char *p;

	for (p = v; *p; p++) {
		if (*p == '\n' && (p == v || p[-1] != '\r'))
			g_string_append_c(out, '\r');
		g_string_append_c(out, *p);
	}
	return g_string_free(out, FALSE);
}

CgVerdict
cg_session_header(CgSession *s, const char *name, const char *value, CgReply *r)
{
	Msg *g = s->msg;
	Header *h;

	(void)r;
	if (g == NULL || g->kind == CG_GW_NONE)
		return CG_MV_ACCEPT;
	if (g->oversize)
		return CG_MV_CONTINUE;
	h = g_new0(Header, 1);
	h->name = g_strdup(name);
	h->value = crlf(value ? value : "");
	g->size += strlen(h->name) + strlen(h->value) + 3;
	g_ptr_array_add(g->headers, h);
	/* Header fields get no answer (the MTA sends them all without
	 * waiting): one past the limit makes the message refused at the next
	 * step that answers, its first body chunk or its end, and the rest
	 * are not kept. */
	if ((gint64)g->size > s->conf->max_message_size)
		g->oversize = TRUE;
	return CG_MV_CONTINUE;
}

CgVerdict
cg_session_eoh(CgSession *s, const char *queue_id, CgReply *r)
{
	(void)r;
	if (s->msg == NULL || s->msg->kind == CG_GW_NONE)
		return CG_MV_ACCEPT;
	if (queue_id != NULL && s->msg->queue_id == NULL)
		s->msg->queue_id = g_strdup(queue_id);
	return CG_MV_CONTINUE;
}

CgVerdict
cg_session_body(CgSession *s, const void *chunk, gsize len, CgReply *r)
{
	g_autoptr(GError) err = NULL;
	Msg *g = s->msg;

	if (g == NULL || g->kind == CG_GW_NONE)
		return CG_MV_ACCEPT;
	if (g->oversize || (gint64)(g->size + len) > s->conf->max_message_size)
		return too_large(s, r);
	if (!cg_spool_append(&g->spool, chunk, len, &err)) {
		cg_log(LOG_ERR, "queue %s: %s", g->queue_id ? g->queue_id : "?", err->message);
		cg_reply_from_error(err, g->queue_id, r);
		return r->verdict;
	}
	g->size += len;
	return CG_MV_CONTINUE;
}

/* Headers other MTAs add on the way, and that our own MTA adds, differ
 * between two deliveries of the same message: the digest leaves them out. */
static gboolean
is_trace_header(const char *name)
{
	return g_ascii_strcasecmp(name, "Received") == 0 ||
	       g_ascii_strcasecmp(name, "Return-Path") == 0 ||
	       g_ascii_strcasecmp(name, "X-Original-To") == 0 ||
	       g_ascii_strcasecmp(name, "Delivered-To") == 0;
}

/* The raw message (as on the wire) and its digest. */
static GBytes *
assemble(Msg *g, guint8 digest[32], GError **error)
{
	g_autoptr(GString) head = g_string_new(NULL);
	CgSha256 *md = cg_sha256_begin();
	GBytes *raw;
	gsize len;
	const guint8 *data;
	guint i;

	for (i = 0; i < g->headers->len; i++) {
		const Header *h = g_ptr_array_index(g->headers, i);
		gsize at = head->len;

		g_string_append_printf(head, "%s:%s\r\n", h->name, h->value);
		if (!is_trace_header(h->name))
			cg_sha256_update(md, head->str + at, head->len - at);
	}
	g_string_append(head, "\r\n");
	cg_sha256_update(md, "\r\n", 2);
	if ((raw = cg_spool_take(&g->spool, head->str, head->len, error)) == NULL) {
		cg_sha256_end(md, digest);
		return NULL;
	}
	data = g_bytes_get_data(raw, &len);
	cg_sha256_update(md, data + head->len, len - head->len);
	cg_sha256_end(md, digest);
	return raw;
}

static void
log_outcome(CgSession *s, const CgGateway *gw, const CgReply *r)
{
	Msg *g = s->msg;
	g_autofree char *from = cg_text_safe(g->sender, -1, 200);
	gint64 ms = (g_get_monotonic_time() - g->started) / 1000;

	cg_log(r->verdict == CG_MV_TEMPFAIL ? LOG_WARNING : LOG_INFO,
	       "queue=%s client=%s from=<%s> to=<%s> kind=%s verdict=%s%s%s%s%s%s request=%s "
	       "ms=%" G_GINT64_FORMAT "%s%s",
	       g->queue_id ? g->queue_id : "-", s->client_ip, from, g->gw_addr,
	       cg_handler_name(g->kind), cg_reply_verdict_name(r->verdict),
	       *r->rcode ? " reply=\"" : "", r->rcode, *r->rcode ? " " : "", r->xcode,
	       *r->rcode ? "\"" : "", gw && gw->request_id ? gw->request_id : "-", ms,
	       gw && gw->summary ? " " : "", gw && gw->summary ? gw->summary : "");
	if (*r->text)
		cg_log(LOG_INFO, "queue=%s reason=\"%s\"", g->queue_id ? g->queue_id : "-",
		       r->text);
	if (gw != NULL && gw->trace != NULL && gw->trace->len > 0 && cg_log_enabled(LOG_DEBUG))
		cg_log(LOG_DEBUG, "queue=%s trace: %s", g->queue_id ? g->queue_id : "-",
		       gw->trace->str);
}

static void
count(CgMilter *m, CgVerdict v)
{
	if (v == CG_MV_ACCEPT || v == CG_MV_DISCARD)
		g_atomic_int_inc(&m->n_accepted);
	else if (v == CG_MV_REJECT)
		g_atomic_int_inc(&m->n_rejected);
	else if (v == CG_MV_TEMPFAIL)
		g_atomic_int_inc(&m->n_tempfail);
}

static void
fill_envelope(CgSession *s, CgEnvelope *env)
{
	Msg *g = s->msg;
	GPtrArray *rc = g_ptr_array_new();
	guint i;

	env->client_ip = g_strdup(s->client_ip);
	env->helo = g_strdup(s->helo ? s->helo : "");
	env->mail_from = g_strdup(g->sender);
	env->queue_id = g_strdup(g->queue_id ? g->queue_id : "");
	for (i = 0; i < g->rcpts->len; i++)
		g_ptr_array_add(rc, strip_brackets(g_ptr_array_index(g->rcpts, i)));
	g_ptr_array_add(rc, NULL);
	env->rcpts = (char **)g_ptr_array_free(rc, FALSE);
}

void
cg_session_eom(CgSession *s, const char *queue_id, CgEomResult *out)
{
	CgGateway gw = {0};
	g_autoptr(GError) err = NULL;
	Msg *g = s->msg;

	memset(out, 0, sizeof(*out));
	out->effects = g_string_new(NULL);
	if (g == NULL || g->kind == CG_GW_NONE) {
		out->reply.verdict = CG_MV_ACCEPT;
		return;
	}
	if (queue_id != NULL && g->queue_id == NULL)
		g->queue_id = g_strdup(queue_id);
	gw.m = s->m;
	gw.conf = s->conf;
	gw.kind = g->kind;
	gw.rcpt = g->gw_addr;
	gw.queue_id = g->queue_id;
	gw.effects = out->effects;
	fill_envelope(s, &gw.envelope);
	if (g->oversize)
		too_large(s, &out->reply);
	else if ((gw.raw = assemble(g, gw.digest, &err)) == NULL) {
		cg_log(LOG_ERR, "queue %s: %s", g->queue_id ? g->queue_id : "-", err->message);
		cg_reply_from_error(err, g->queue_id, &out->reply);
	} else {
		cg_gateway_process(&gw, &out->reply);
	}
	if (out->reply.verdict == CG_MV_ACCEPT) {
		if (g_strcmp0(s->conf->after_accept, "deliver") != 0) {
			g_ptr_array_add(g->gw, NULL);
			out->delrcpt = g_strdupv((char **)g->gw->pdata);
			g_ptr_array_remove_index(g->gw, g->gw->len - 1);
			if (!g->others)
				out->reply.verdict = CG_MV_DISCARD;
		}
	}
	count(s->m, out->reply.verdict);
	log_outcome(s, &gw, &out->reply);
	cg_gateway_clear(&gw);
	msg_free(s->msg);
	s->msg = NULL;
}

void
cg_session_eom_clear(CgEomResult *out)
{
	g_strfreev(out->delrcpt);
	out->delrcpt = NULL;
	if (out->effects != NULL)
		g_string_free(out->effects, TRUE);
	out->effects = NULL;
}

void
cg_session_abort(CgSession *s)
{
	if (s == NULL)
		return;
	msg_free(s->msg);
	s->msg = NULL;
}
