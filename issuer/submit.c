/*
 * submit.c: outbound mail handed to an SMTP server (SmtpSubmit) instead of
 * the MTA's sendmail(1).
 *
 * One connection per mail: EHLO, MAIL FROM, RCPT TO, DATA, the message (its
 * lines ended with CRLF, a leading dot doubled), QUIT. What the server says
 * decides, as sendmail's exit status does: 2xx sent, 5xx refused for good,
 * anything else (4xx, no connection, a timeout, a reply that is not SMTP)
 * try again later. A mail whose envelope or header has UTF-8 is sent with
 * SMTPUTF8 (RFC 6531), and refused for good by a server without it.
 */
#include "issuer-int.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define SMTP_TIMEOUT_S 60

typedef struct {
	GSocketConnection *conn;
	GDataInputStream *in;
	GOutputStream *out;
	GString *said; /* the last reply, every line */
	gboolean utf8, mime8;
} Smtp;

/* Reads one reply; its code, or 0 when the server said nothing SMTP. */
static int
reply(Smtp *c, GError **error)
{
	int code = 0;

	g_string_truncate(c->said, 0);
	for (;;) {
		gsize len = 0;
		g_autofree char *line = g_data_input_stream_read_line(c->in, &len, NULL, error);

		if (line == NULL) {
			if (error != NULL && *error == NULL)
				g_set_error(error, CG_ERROR, CG_ERROR_IO, "connection closed");
			return 0;
		}
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len < 3 || !g_ascii_isdigit(line[0]) || !g_ascii_isdigit(line[1]) ||
		    !g_ascii_isdigit(line[2]) || (len > 3 && line[3] != ' ' && line[3] != '-') ||
		    (code != 0 && code != atoi(line))) {
			g_autofree char *safe = cg_text_safe(line, len, 100);

			g_set_error(error, CG_ERROR, CG_ERROR_IO, "not an SMTP reply: %s", safe);
			return 0;
		}
		code = atoi(line);
		if (c->said->len > 0)
			g_string_append(c->said, " / ");
		g_string_append_len(c->said, line, len);
		if (len == 3 || line[3] == ' ')
			return code;
	}
}

static gboolean
say(Smtp *c, const char *text, gsize len, GError **error)
{
	return g_output_stream_write_all(c->out, text, len, NULL, NULL, error);
}

/* Sends a command and reads its reply. */
static int command(Smtp *c, GError **error, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static int
command(Smtp *c, GError **error, const char *fmt, ...)
{
	g_autofree char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	line = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	/* The line and its CRLF in one write: apart, the server waits for the
	 * CRLF while Nagle's algorithm holds it back until the line's delayed
	 * ACK (40 ms each command, some 180 ms a mail on loopback). */
	{
		g_autofree char *full = g_strconcat(line, "\r\n", NULL);

		if (!say(c, full, strlen(full), error))
			return 0;
	}
	return reply(c, error);
}

static gboolean
has_8bit(const char *s, gsize n)
{
	gsize i;

	for (i = 0; i < n; i++)
		if ((guchar)s[i] >= 0x80)
			return TRUE;
	return FALSE;
}

/* Whether the message's header has bytes outside ASCII. */
static gboolean
header_8bit(int fd)
{
	char buf[8192];
	gsize at = 0;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), (off_t)at)) > 0) {
		const char *end = g_strstr_len(buf, n, "\n\n");
		const char *crlf = g_strstr_len(buf, n, "\r\n\r\n");

		if (crlf != NULL && (end == NULL || crlf < end))
			end = crlf;
		if (has_8bit(buf, end != NULL ? (gsize)(end - buf) : (gsize)n))
			return TRUE;
		if (end != NULL)
			return FALSE;
		at += (gsize)n;
	}
	return FALSE;
}

/* The message as DATA: each line ended with CRLF, a leading dot doubled,
 * then the lone dot. */
static gboolean
send_data(Smtp *c, int fd, GError **error)
{
	g_autoptr(GString) out = g_string_sized_new(65536 + 1024);
	char buf[65536];
	gboolean line_start = TRUE;
	off_t at = 0;
	ssize_t n, i;

	while ((n = pread(fd, buf, sizeof(buf), at)) > 0) {
		at += n;
		for (i = 0; i < n; i++) {
			char ch = buf[i];

			if (line_start && ch == '.')
				g_string_append_c(out, '.');
			line_start = FALSE;
			if (ch == '\r')
				continue; /* each line gets its CRLF at its LF */
			if (ch == '\n') {
				g_string_append(out, "\r\n");
				line_start = TRUE;
				continue;
			}
			g_string_append_c(out, ch);
		}
		if (!say(c, out->str, out->len, error))
			return FALSE;
		g_string_truncate(out, 0);
	}
	if (n < 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "reading the mail: %s",
		            g_strerror(errno));
		return FALSE;
	}
	if (!line_start)
		g_string_append(out, "\r\n");
	g_string_append(out, ".\r\n");
	return say(c, out->str, out->len, error);
}

static GSocketConnectable *
connectable(const char *spec)
{
	const char *path = cg_conf_socket_path(spec), *at;

	if (path != NULL)
		return G_SOCKET_CONNECTABLE(g_unix_socket_address_new(path));
	at = strchr(spec, '@');
	return g_network_address_new(at + 1, (guint16)atoi(strchr(spec, ':') + 1));
}

/* What one step's reply means; FALSE when the conversation ends here. */
static gboolean
step_ok(Smtp *c, int code, int want, const char *what, CgSendResult *r, GError **error)
{
	g_autofree char *safe = NULL;

	if (code == want || (want == 250 && code == 251))
		return TRUE;
	if (code == 0) {
		g_prefix_error(error, "SMTP %s: ", what);
		*r = CG_SEND_TEMPORARY;
		return FALSE;
	}
	safe = cg_text_safe(c->said->str, (gssize)c->said->len, 300);
	g_set_error(error, CG_ERROR, CG_ERROR_IO, "SMTP %s: %s", what, safe);
	*r = code >= 500 && code < 600 ? CG_SEND_PERMANENT : CG_SEND_TEMPORARY;
	return FALSE;
}

CgSendResult
cg_smtp_submit(const CgConf *conf, const char *rcpt, int msgfd, GError **error)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnectable) where = connectable(conf->smtp_submit);
	g_autoptr(GError) err = NULL;
	CgSendResult r = CG_SEND_TEMPORARY;
	gboolean utf8 = !cg_addr_is_ascii(rcpt) || !cg_addr_is_ascii(conf->bounce_address) ||
	                header_8bit(msgfd);
	Smtp c = {0};
	int code;

	g_socket_client_set_timeout(client, SMTP_TIMEOUT_S);
	c.conn = g_socket_client_connect(client, where, NULL, &err);
	if (c.conn == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "SMTP %s: %s", conf->smtp_submit,
		            err->message);
		return CG_SEND_TEMPORARY;
	}
	c.in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(c.conn)));
	g_data_input_stream_set_newline_type(c.in, G_DATA_STREAM_NEWLINE_TYPE_LF);
	c.out = g_io_stream_get_output_stream(G_IO_STREAM(c.conn));
	c.said = g_string_new(NULL);

	if (!step_ok(&c, reply(&c, error), 220, "greeting", &r, error))
		goto done;
	code = command(&c, error, "EHLO %s", conf->gateway_domain);
	if (!step_ok(&c, code, 250, "EHLO", &r, error))
		goto done;
	c.utf8 = strstr(c.said->str, "250-SMTPUTF8") != NULL ||
	         strstr(c.said->str, "250 SMTPUTF8") != NULL;
	c.mime8 = strstr(c.said->str, "250-8BITMIME") != NULL ||
	          strstr(c.said->str, "250 8BITMIME") != NULL;
	if (utf8 && !c.utf8) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO,
		            "SMTP %s does not take SMTPUTF8, which this mail needs",
		            conf->smtp_submit);
		r = CG_SEND_PERMANENT;
		goto done;
	}
	code = command(&c, error, "MAIL FROM:<%s>%s%s", conf->bounce_address,
	               c.mime8 ? " BODY=8BITMIME" : "", utf8 ? " SMTPUTF8" : "");
	if (!step_ok(&c, code, 250, "MAIL FROM", &r, error))
		goto done;
	if (!step_ok(&c, command(&c, error, "RCPT TO:<%s>", rcpt), 250, "RCPT TO", &r, error))
		goto done;
	if (!step_ok(&c, command(&c, error, "DATA"), 354, "DATA", &r, error))
		goto done;
	if (!send_data(&c, msgfd, error)) {
		g_prefix_error(error, "SMTP DATA: ");
		r = CG_SEND_TEMPORARY;
		goto done;
	}
	if (!step_ok(&c, reply(&c, error), 250, "end of DATA", &r, error))
		goto done;
	r = CG_SEND_OK;
	(void)command(&c, NULL, "QUIT");
done:
	g_io_stream_close(G_IO_STREAM(c.conn), NULL, NULL);
	g_object_unref(c.in);
	g_object_unref(c.conn);
	g_string_free(c.said, TRUE);
	return r;
}
