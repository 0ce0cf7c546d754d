/*
 * outmail.c: mail certgate sends.
 *
 * The signed entity is written byte by byte (CRLF line ends, 7-bit: the text
 * quoted-printable, attachments base64), signed as it is, and sent as it is,
 * so that no re-serialisation can change what the signature covers and no MTA
 * needs to re-encode it. Every message carries Auto-Submitted:
 * auto-generated and is S/MIME-signed by the gateway certificate
 * (multipart/signed, SHA-256), with the issuing CA certificate included.
 * Submission runs the configured sendmail argv directly (never a shell).
 * cg_issuer_send() composes and submits one mail per recipient for every
 * flow (in a batch, up to eight sendmail(1) at once beside it, each waited
 * for before the batch commits: cg_issuer_mail_settle); cg_pem_of() and
 * cg_p7c_of() make the certificate attachments.
 * Never: sends a message other than the bytes that were signed.
 */
#include "issuer-int.h"
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <gio/gio.h>
#include <openssl/cms.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#define EX_TEMPFAIL 75

void
cg_out_part_free(gpointer p)
{
	CgOutPart *x = p;

	if (x == NULL)
		return;
	g_free(x->filename);
	g_free(x->content_type);
	if (x->data != NULL)
		g_bytes_unref(x->data);
	g_free(x);
}

CgOutPart *
cg_out_part_new(const char *filename, const char *type, GBytes *data)
{
	CgOutPart *p = g_new0(CgOutPart, 1);

	p->filename = g_strdup(filename);
	p->content_type = g_strdup(type);
	p->data = g_bytes_ref(data);
	return p;
}

CgOutPart *
cg_out_part_new_stream(const char *filename, const char *type, CgOutStream stream,
                       gpointer stream_data)
{
	CgOutPart *p = g_new0(CgOutPart, 1);

	p->filename = g_strdup(filename);
	p->content_type = g_strdup(type);
	p->stream = stream;
	p->stream_data = stream_data;
	return p;
}

/* A file for composing, unlinked from the start: in TMPDIR (the units'
 * private /tmp). */
FILE *
cg_tmp_file(GError **error)
{
	const char *dir = g_get_tmp_dir();
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	FILE *f;

	if (fd < 0) {
		g_autofree char *path = g_build_filename(dir, "certgate-mail-XXXXXX", NULL);

		if ((fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600)) >= 0)
			unlink(path);
	}
	if (fd < 0 || (f = fdopen(fd, "w+")) == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "cannot make a file in %s: %s", dir,
		            g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	return f;
}

/* ---- base64 as it comes: 57 bytes to a 76-character line ---- */

struct CgB64Out {
	FILE *f;
	guint8 buf[57];
	gsize n;
};

static void
b64_line(FILE *f, const guint8 *data, gsize len)
{
	char line[80]; /* 57 bytes make 76 characters */
	gint state = 0, save = 0;
	gsize o = g_base64_encode_step(data, len, FALSE, line, &state, &save);

	o += g_base64_encode_close(FALSE, line + o, &state, &save);
	line[o++] = '\r';
	line[o++] = '\n';
	fwrite(line, 1, o, f);
}

void
cg_b64_out_write(CgB64Out *out, const void *data, gsize len)
{
	const guint8 *p = data;

	while (len > 0) {
		gsize take = MIN(len, sizeof(out->buf) - out->n);

		memcpy(out->buf + out->n, p, take);
		out->n += take;
		p += take;
		len -= take;
		if (out->n == sizeof(out->buf)) {
			b64_line(out->f, out->buf, out->n);
			out->n = 0;
		}
	}
}

static void
b64_out_end(CgB64Out *out)
{
	if (out->n > 0)
		b64_line(out->f, out->buf, out->n);
	out->n = 0;
}

/* Quoted-printable (RFC 2045 6.7), CRLF hard line breaks, lines <= 76. */
static void
qp_encode(GString *out, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	gsize col = 0;
	const unsigned char *p;

	for (p = (const unsigned char *)text; *p; p++) {
		gboolean eol = p[0] == '\n' || (p[0] == '\r' && p[1] == '\n');
		gboolean before_eol =
		    p[1] == '\n' || p[1] == '\0' || (p[1] == '\r' && p[2] == '\n');
		gboolean literal;
		gsize need;

		if (eol) {
			if (*p == '\r')
				p++;
			g_string_append(out, "\r\n");
			col = 0;
			continue;
		}
		literal = (*p >= 33 && *p <= 126 && *p != '=') ||
		          ((*p == ' ' || *p == '\t') && !before_eol);
		need = literal ? 1 : 3;
		if (col + need > 75) {
			g_string_append(out, "=\r\n");
			col = 0;
		}
		if (literal) {
			g_string_append_c(out, (char)*p);
		} else {
			g_string_append_c(out, '=');
			g_string_append_c(out, hex[*p >> 4]);
			g_string_append_c(out, hex[*p & 15]);
		}
		col += need;
	}
}

static void
b64_bytes(FILE *f, GBytes *data)
{
	CgB64Out o = {f, {0}, 0};
	gsize len;
	const void *p = g_bytes_get_data(data, &len);

	cg_b64_out_write(&o, p, len);
	b64_out_end(&o);
}

static char *
boundary(const char *prefix)
{
	guint8 r[12];
	g_autofree char *h = NULL;

	cg_random_bytes(r, sizeof(r), NULL);
	h = cg_hex(r, sizeof(r));
	return g_strdup_printf("=_%s_%s", prefix, h);
}

/* The part that is signed: text, or multipart/mixed of text and attachments. */
/* " NAME=\"VALUE\"" for an ASCII value; else RFC 2231's " NAME*=UTF-8''..."
 * (a mailbox with a UTF-8 local part names its certificate file). */
static void
mime_param(GString *out, const char *name, const char *value)
{
	const char *p;

	for (p = value; *p; p++)
		if ((unsigned char)*p >= 0x80 || *p == '"' || *p == '\\' || *p < 0x20)
			break;
	if (*p == '\0') {
		g_string_append_printf(out, " %s=\"%s\"", name, value);
		return;
	}
	g_string_append_printf(out, " %s*=UTF-8''", name);
	for (p = value; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (g_ascii_isalnum(c) || strchr("!#$&+-.^_`|~", c) != NULL)
			g_string_append_c(out, (char)c);
		else
			g_string_append_printf(out, "%%%02X", c);
	}
}

static void
put(FILE *f, const GString *s)
{
	fwrite(s->str, 1, s->len, f);
}

/* The signed entity, into f. */
static gboolean
entity(FILE *f, const CgOutMail *m, GError **error)
{
	g_autoptr(GString) e = g_string_new(NULL);
	g_autofree char *b = NULL;
	guint i;

	if (m->parts == NULL || m->parts->len == 0) {
		g_string_append(e, "Content-Type: text/plain; charset=utf-8\r\n"
		                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		qp_encode(e, m->text);
		put(f, e);
		return TRUE;
	}
	b = boundary("mixed");
	g_string_append_printf(e, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", b);
	g_string_append_printf(e,
	                       "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	                       "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
	                       b);
	qp_encode(e, m->text);
	for (i = 0; i < m->parts->len; i++) {
		const CgOutPart *p = g_ptr_array_index(m->parts, i);

		g_string_append_printf(e, "\r\n--%s\r\nContent-Type: %s;", b, p->content_type);
		mime_param(e, "name", p->filename);
		g_string_append(e, "\r\nContent-Transfer-Encoding: base64\r\n"
		                   "Content-Disposition: attachment;");
		mime_param(e, "filename", p->filename);
		g_string_append(e, "\r\n\r\n");
		put(f, e);
		g_string_truncate(e, 0);
		if (p->stream != NULL) {
			CgB64Out o = {f, {0}, 0};

			if (!p->stream(&o, p->stream_data, error))
				return FALSE;
			b64_out_end(&o);
		} else {
			b64_bytes(f, p->data);
		}
	}
	g_string_append_printf(e, "\r\n--%s--\r\n", b);
	put(f, e);
	return TRUE;
}

/* SMIMEEncryptionKeyPreference (RFC 8551 2.5.3) naming enc by issuer and
 * serial: [0] IMPLICIT IssuerAndSerialNumber, the SEQUENCE's tag replaced. */
static gboolean
add_key_preference(CMS_SignerInfo *si, X509 *enc)
{
	unsigned char *name = NULL, *serial = NULL;
	int nlen = i2d_X509_NAME(X509_get_issuer_name(enc), &name);
	int slen = i2d_ASN1_INTEGER(X509_get_serialNumber(enc), &serial);
	g_autoptr(GByteArray) der = g_byte_array_new();
	ASN1_STRING *value = ASN1_STRING_new();
	gsize body = (gsize)MAX(nlen, 0) + (gsize)MAX(slen, 0);
	guint8 hdr[4] = {0xa0, 0, 0, 0};
	guint hlen;
	gboolean ok;

	if (body < 128) {
		hdr[1] = (guint8)body;
		hlen = 2;
	} else if (body < 256) {
		hdr[1] = 0x81, hdr[2] = (guint8)body;
		hlen = 3;
	} else {
		hdr[1] = 0x82, hdr[2] = (guint8)(body >> 8), hdr[3] = (guint8)body;
		hlen = 4;
	}
	g_byte_array_append(der, hdr, hlen);
	g_byte_array_append(der, name, (guint)MAX(nlen, 0));
	g_byte_array_append(der, serial, (guint)MAX(slen, 0));
	ok = nlen > 0 && slen > 0 && value != NULL && body < 65536 &&
	     ASN1_STRING_set(value, der->data, (int)der->len) == 1 &&
	     CMS_signed_add1_attr_by_NID(si, NID_id_smime_aa_encrypKeyPref, V_ASN1_SEQUENCE,
	                                 value, -1) == 1;
	ASN1_STRING_free(value);
	OPENSSL_free(name);
	OPENSSL_free(serial);
	return ok;
}

/* The detached signature of the entity in file f, read from its start. */
static GBytes *
cms_sign(CgCa *ca, FILE *f, GError **error)
{
	BIO *in = BIO_new_fp(f, BIO_NOCLOSE), *out = BIO_new(BIO_s_mem());
	STACK_OF(X509) *extra = sk_X509_new_null();
	X509 *enc = cg_ca_gateway_enc_cert(ca);
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si = NULL;
	GBytes *der = NULL;
	char *p;
	long len;

	/* The issuing CA for the chain; the encryption certificate, with a
	 * signed attribute naming it (SMIMECapabilities comes by default), so
	 * that mail clients know where to encrypt to. */
	sk_X509_push(extra, cg_ca_cert(ca));
	if (enc != NULL)
		sk_X509_push(extra, enc);
	rewind(f);
	cms = CMS_sign(NULL, NULL, extra, in, CMS_DETACHED | CMS_BINARY | CMS_PARTIAL);
	if (cms != NULL)
		si = CMS_add1_signer(cms, cg_ca_gateway_cert(ca), cg_ca_gateway_key(ca), EVP_sha256(),
		                     CMS_BINARY | CMS_PARTIAL);
	if (si != NULL && (enc == NULL || add_key_preference(si, enc)) &&
	    CMS_final(cms, in, NULL, CMS_DETACHED | CMS_BINARY) == 1 &&
	    i2d_CMS_bio(out, cms) == 1) {
		len = BIO_get_mem_data(out, &p);
		der = g_bytes_new(p, (gsize)len);
	} else {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "S/MIME signing failed: %s",
		            cg_openssl_error());
	}
	CMS_ContentInfo_free(cms);
	sk_X509_free(extra);
	BIO_free(in);
	BIO_free(out);
	return der;
}

/* A header value: as is when printable ASCII, else RFC 2047 encoded words. */
static void
header_text(GString *out, const char *name, const char *value)
{
	const char *p = value;
	gboolean plain = cg_text_is_clean(value, -1, 900);
	const char *q;

	for (q = value; plain && *q; q++)
		plain = (unsigned char)*q < 0x80;
	g_string_append_printf(out, "%s: ", name);
	if (plain) {
		g_string_append(out, value);
		g_string_append(out, "\r\n");
		return;
	}
	while (*p) {
		const char *end = p;
		g_autofree char *b64 = NULL;

		while (*end && end - p < 45)
			end = g_utf8_next_char(end);
		b64 = g_base64_encode((const guchar *)p, (gsize)(end - p));
		g_string_append_printf(out, "%s=?UTF-8?B?%s?=", p == value ? "" : "\r\n ", b64);
		p = end;
	}
	g_string_append(out, "\r\n");
}

static char *
rfc5322_date(gint64 t)
{
	static const char *days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
	static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t);

	return g_strdup_printf(
	    "%s, %02d %s %04d %02d:%02d:%02d +0000", days[g_date_time_get_day_of_week(dt) - 1],
	    g_date_time_get_day_of_month(dt), months[g_date_time_get_month(dt) - 1],
	    g_date_time_get_year(dt), g_date_time_get_hour(dt), g_date_time_get_minute(dt),
	    g_date_time_get_second(dt));
}

/* Copies the rest of from to to. */
static void
copy_file(FILE *from, FILE *to)
{
	char buf[65536];
	size_t n;

	while ((n = fread(buf, 1, sizeof(buf), from)) > 0)
		fwrite(buf, 1, n, to);
}

int
cg_outmail_compose(CgCa *ca, const CgConf *conf, CgOutMail *m, gint64 now, GError **error)
{
	g_autoptr(GBytes) sig = NULL;
	g_autofree char *b = boundary("signed");
	g_autofree char *date = rfc5322_date(now);
	g_autoptr(GString) msg = g_string_sized_new(4096);
	FILE *content = NULL, *out = NULL;
	guint8 id[16];
	g_autofree char *idhex = NULL;
	int fd = -1;

	if (!cg_random_bytes(id, sizeof(id), error) || (content = cg_tmp_file(error)) == NULL)
		return -1;
	if (!entity(content, m, error))
		goto done;
	if (fflush(content) != 0 || ferror(content)) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "cannot write the mail: %s",
		            g_strerror(errno));
		goto done;
	}
	if ((sig = cms_sign(ca, content, error)) == NULL || (out = cg_tmp_file(error)) == NULL)
		goto done;
	idhex = cg_hex(id, sizeof(id));
	g_free(m->message_id);
	m->message_id = g_strdup_printf("%s@%s", idhex, conf->gateway_domain);
	/* An address with a UTF-8 local part makes the mail SMTPUTF8 anyway: its
	 * To: shows the domain in U-labels (RFC 6532). Other addresses keep the
	 * A-label, so the mail needs no SMTPUTF8 on the way. */
	if (cg_addr_is_ascii(m->to)) {
		g_string_append_printf(msg, "From: certgate <%s>\r\nTo: <%s>\r\n",
		                       conf->sender_address, m->to);
	} else {
		g_autofree char *shown = cg_addr_to_unicode(m->to);

		g_string_append_printf(msg, "From: certgate <%s>\r\nTo: <%s>\r\n",
		                       conf->sender_address, shown);
	}
	header_text(msg, "Subject", m->subject);
	g_string_append_printf(msg, "Date: %s\r\nMessage-ID: <%s>\r\n", date, m->message_id);
	if (m->in_reply_to != NULL)
		g_string_append_printf(msg, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n",
		                       m->in_reply_to, m->in_reply_to);
	if (m->reply_to != NULL)
		g_string_append_printf(msg, "Reply-To: <%s>\r\n", m->reply_to);
	if (m->extra_header != NULL && g_str_has_prefix(m->extra_header, "Auto-Submitted:"))
		g_string_append_printf(msg, "%s\r\n", m->extra_header);
	else
		g_string_append(msg, "Auto-Submitted: auto-generated\r\n");
	if (m->extra_header != NULL && !g_str_has_prefix(m->extra_header, "Auto-Submitted:"))
		g_string_append_printf(msg, "%s\r\n", m->extra_header);
	g_string_append_printf(
	    msg,
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";"
	    "\r\n\tmicalg=sha-256; boundary=\"%s\"\r\n\r\n"
	    "This is an S/MIME signed message.\r\n--%s\r\n",
	    b, b);
	put(out, msg);
	rewind(content);
	copy_file(content, out);
	g_string_printf(msg,
	                "\r\n--%s\r\nContent-Type: application/pkcs7-signature; "
	                "name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\n"
	                "Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n",
	                b);
	put(out, msg);
	b64_bytes(out, sig);
	g_string_printf(msg, "\r\n--%s--\r\n", b);
	put(out, msg);
	if (ferror(content) || fflush(out) != 0 || ferror(out) ||
	    (fd = dup(fileno(out))) < 0 || lseek(fd, 0, SEEK_SET) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "cannot write the mail: %s",
		            g_strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
done:
	fclose(content);
	if (out != NULL)
		fclose(out);
	return fd;
}

/* What the MTA said, at most 300 characters, made safe. outfd is the file
 * its output went to. */
static char *
mta_said(int outfd)
{
	char buf[1024];
	ssize_t n = pread(outfd, buf, sizeof(buf), 0);

	while (n > 0 && g_ascii_isspace(buf[n - 1]))
		n--;
	return cg_text_safe(buf, n > 0 ? n : 0, 300);
}

/* Starts the MTA with posix_spawn, which clones without copying the
 * issuer's page tables: a fork (GSubprocess's) and the copy-on-write faults
 * after it were about half of the issuer's time a delivery (perf). The
 * message on its stdin, its stdout and stderr to out, nothing else open,
 * every signal at its default and none blocked (the issuer blocks those
 * its signal thread takes). */
static int
spawn_mta(char **argv, int msgfd, int out, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int in = msgfd, rc;

	/* Neither may sit on 0-2, where the other's dup2 would land first. */
	if (in < 3 && (in = fcntl(msgfd, F_DUPFD_CLOEXEC, 3)) < 0)
		return errno;
	if (out < 3 && (out = fcntl(out, F_DUPFD_CLOEXEC, 3)) < 0) {
		rc = errno;
		if (in != msgfd)
			close(in);
		return rc;
	}
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_adddup2(&fa, in, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out, STDERR_FILENO);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(pid, argv[0], &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (in != msgfd)
		close(in);
	return rc;
}

/* A sendmail(1) under way: its process, the memory file its words go to,
 * and its name (for messages). */
typedef struct {
	pid_t pid;
	int outfd;
	char *mta;
} MtaRun;

/* Starts Sendmail argv for rcpt with msgfd on its stdin: CG_SEND_OK when
 * it runs (run set), else why not (a temporary failure). */
static CgSendResult
mta_start(const CgConf *conf, const char *rcpt, int msgfd, MtaRun *run, GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	char **a;
	int rc;

	for (a = conf->sendmail; a && *a; a++)
		g_ptr_array_add(argv, *a);
	g_ptr_array_add(argv, "-i");
	g_ptr_array_add(argv, "-f");
	g_ptr_array_add(argv, conf->bounce_address);
	g_ptr_array_add(argv, "--");
	g_ptr_array_add(argv, (char *)rcpt);
	g_ptr_array_add(argv, NULL);
	/* Its output goes to a memory file, not a pipe: an MTA that refuses before
	 * reading the message still has its say, whenever it exits. */
	run->outfd = memfd_create("certgate-sendmail", MFD_CLOEXEC);
	if (run->outfd < 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "memfd_create: %s", g_strerror(errno));
		return CG_SEND_TEMPORARY;
	}
	if (lseek(msgfd, 0, SEEK_SET) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "lseek: %s", g_strerror(errno));
		close(run->outfd);
		return CG_SEND_TEMPORARY;
	}
	if ((rc = spawn_mta((char **)argv->pdata, msgfd, run->outfd, &run->pid)) != 0) {
		/* No MTA to hand the mail to: retry later. */
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "cannot run %s: %s", conf->sendmail[0],
		            g_strerror(rc));
		close(run->outfd);
		return CG_SEND_TEMPORARY;
	}
	run->mta = g_strdup(conf->sendmail[0]);
	return CG_SEND_OK;
}

/* Waits for the sendmail that run started: its exit status says what
 * happened to the mail. */
static CgSendResult
mta_end(MtaRun *run, GError **error)
{
	g_autofree char *said = NULL;
	g_autofree char *mta = g_steal_pointer(&run->mta);
	int status;

	while (waitpid(run->pid, &status, 0) < 0) {
		if (errno != EINTR) {
			g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s: waitpid: %s", mta,
			            g_strerror(errno));
			close(run->outfd);
			return CG_SEND_TEMPORARY;
		}
	}
	said = mta_said(run->outfd);
	close(run->outfd);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return CG_SEND_OK;
	if (WIFEXITED(status))
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s exited with status %d: %s", mta,
		            WEXITSTATUS(status), said);
	else
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "%s was killed by signal %d: %s", mta,
		            WTERMSIG(status), said);
	if (!WIFEXITED(status) || WEXITSTATUS(status) == EX_TEMPFAIL)
		return CG_SEND_TEMPORARY;
	return CG_SEND_PERMANENT;
}

CgSendResult
cg_outmail_submit(const CgConf *conf, const char *rcpt, int msgfd, GError **error)
{
	MtaRun run;
	CgSendResult r;

	if (conf->smtp_submit != NULL)
		return cg_smtp_submit(conf, rcpt, msgfd, error);
	/* The message is a file: the MTA reads what it wants of it. */
	if ((r = mta_start(conf, rcpt, msgfd, &run, error)) != CG_SEND_OK)
		return r;
	return mta_end(&run, error);
}

/* ---- mail handed over beside the batch ---- */

/* How many sendmail(1) may run at once for one batch: each is a process
 * start and a queue file, mostly the MTA's own CPU and disk. */
#define MAIL_AT_ONCE 8

/* A mail a job handed to sendmail(1) without waiting for it. */
typedef struct {
	MtaRun run;
	char *key;   /* "kind|id|recipient", remembered once it went */
	char *job;   /* "kind|id" */
	char *about; /* what the job is about, for the log */
	char *rcpt;
} Aside;

static void
remember_sent(CgIssuer *iss, char *key, char *job)
{
	CgSent *s = g_new0(CgSent, 1);

	s->job = job;
	s->batch = iss->batch;
	g_hash_table_insert(iss->sent, key, s);
}

/* Waits for a mail set aside: when it went, it is remembered as sent (a
 * run of its job after this batch, committed or not, sends it no more);
 * when it did not, the batch will not commit (the first such is kept). */
static void
aside_end(CgIssuer *iss, Aside *a)
{
	g_autoptr(GError) err = NULL;

	if (mta_end(&a->run, &err) == CG_SEND_OK) {
		remember_sent(iss, g_steal_pointer(&a->key), g_steal_pointer(&a->job));
	} else if (iss->aside_failed == NULL) {
		iss->aside_failed =
		    g_strdup_printf("%s: mail to %s: %s", a->about, a->rcpt, err->message);
	}
	g_free(a->key);
	g_free(a->job);
	g_free(a->about);
	g_free(a->rcpt);
	g_free(a);
}

/* Hands msgfd to sendmail(1) for rcpt without waiting for it (at most
 * MAIL_AT_ONCE at a time, and after every mail to rcpt handed over before:
 * one recipient's mail reaches the MTA in the order it was sent):
 * CG_SEND_OK when it runs (*key taken), else the reason it could not start. */
static CgSendResult
mail_aside(CgIssuer *iss, const char *rcpt, int msgfd, char **key, const char *about,
           GError **error)
{
	guint i, wait = 0; /* how many of the oldest to wait for */
	Aside *a;

	if (iss->aside->len >= MAIL_AT_ONCE)
		wait = iss->aside->len - MAIL_AT_ONCE + 1;
	for (i = 0; i < iss->aside->len; i++) {
		a = g_ptr_array_index(iss->aside, i);
		if (g_ascii_strcasecmp(a->rcpt, rcpt) == 0)
			wait = MAX(wait, i + 1);
	}
	while (wait-- > 0)
		aside_end(iss, g_ptr_array_steal_index(iss->aside, 0));
	a = g_new0(Aside, 1);
	if (mta_start(iss->conf, rcpt, msgfd, &a->run, error) != CG_SEND_OK) {
		g_free(a);
		return CG_SEND_TEMPORARY;
	}
	a->key = g_steal_pointer(key);
	a->job = cg_job_tag(iss->job);
	a->about = g_strdup(about);
	a->rcpt = g_strdup(rcpt);
	g_ptr_array_add(iss->aside, a);
	return CG_SEND_OK;
}

gboolean
cg_issuer_mail_settle(CgIssuer *iss, char **failed)
{
	while (iss->aside->len > 0)
		aside_end(iss, g_ptr_array_steal_index(iss->aside, 0));
	*failed = g_steal_pointer(&iss->aside_failed);
	return *failed == NULL;
}

/* ---- helpers for the flows ---- */

/* A CSV cell, quoted, its line ends made spaces, and a leading character a
 * spreadsheet may take for the start of a formula (= + - @, and tab, CR or
 * LF before one) neutralised with a quote mark, so that none runs it. */
void
cg_csv_cell(GString *out, const char *v, gboolean last)
{
	const char *p;

	g_string_append_c(out, '"');
	if (*v != '\0' && strchr("=+-@\t\r\n", *v) != NULL)
		g_string_append_c(out, '\'');
	for (p = v; *p; p++) {
		if (*p == '"')
			g_string_append_c(out, '"');
		g_string_append_c(out, *p == '\r' || *p == '\n' ? ' ' : *p);
	}
	g_string_append(out, last ? "\"\r\n" : "\",");
}

GBytes *
cg_pem_of(X509 *cert, STACK_OF(X509) * chain)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long len;
	GBytes *out;
	int i;

	PEM_write_bio_X509(b, cert);
	for (i = 0; i < sk_X509_num(chain); i++)
		PEM_write_bio_X509(b, sk_X509_value(chain, i));
	len = BIO_get_mem_data(b, &p);
	out = g_bytes_new(p, (gsize)len);
	BIO_free(b);
	return out;
}

char *
cg_x509_name_text(const X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long len;
	char *out;

	/* RFC 2253 escapes, but multibyte characters as UTF-8, not \XX. */
	X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	len = BIO_get_mem_data(b, &p);
	out = g_strndup(p, (gsize)len);
	BIO_free(b);
	return out;
}

/* A certs-only PKCS#7 (.p7c): the certificate and its chain. */
GBytes *
cg_p7c_of(X509 *cert, STACK_OF(X509) * chain)
{
	PKCS7 *p7 = PKCS7_new();
	unsigned char *der = NULL;
	GBytes *out = NULL;
	int i, len = 0;
	gboolean ok;

	/* The certificates are referenced, not copied. */
	ok = PKCS7_set_type(p7, NID_pkcs7_signed) == 1 &&
	     PKCS7_content_new(p7, NID_pkcs7_data) == 1 && PKCS7_add_certificate(p7, cert) == 1;
	for (i = 0; ok && i < sk_X509_num(chain); i++)
		ok = PKCS7_add_certificate(p7, sk_X509_value(chain, i)) == 1;
	if (ok)
		len = i2d_PKCS7(p7, &der);
	if (len > 0)
		out = g_bytes_new(der, (gsize)len);
	OPENSSL_free(der);
	PKCS7_free(p7);
	return out;
}

gboolean
cg_issuer_send(CgIssuer *iss, CgTxn *txn, CgOutMail *m, char **to, const char *about, gint64 now,
               gboolean *sent, gboolean *temporary, GError **error)
{
	char **t;

	*sent = FALSE;
	for (t = to; *t; t++) {
		g_autoptr(GError) err = NULL;
		g_autofree char *what = NULL;
		g_autofree char *key = NULL;
		CgSendResult r;
		int msg;

		/* This job's mail to *t went out in a run whose transaction did
		 * not commit (a lost deadlock, a failed commit): not again. */
		if (iss->job != NULL) {
			CgSent *was;

			key = g_strdup_printf("%d|%s|%s", iss->job->kind, iss->job->id, *t);
			was = g_hash_table_lookup(iss->sent, key);
			if (was != NULL && was->batch < iss->batch) {
				cg_log(LOG_NOTICE,
				       "%s: mail to %s went out before its transaction was "
				       "undone; not sent again",
				       about, *t);
				continue;
			}
		}
		m->to = *t;
		if ((msg = cg_outmail_compose(iss->ca, iss->conf, m, now, error)) < 0)
			return FALSE;
		/* In a batch, sendmail(1) runs beside it: the batch commits only
		 * if every mail went (cg_issuer_mail_settle). */
		if (key != NULL && iss->mail_aside && iss->conf->smtp_submit == NULL)
			r = mail_aside(iss, *t, msg, &key, about, &err);
		else
			r = cg_outmail_submit(iss->conf, *t, msg, &err);
		close(msg);
		if (r == CG_SEND_OK) {
			if (key != NULL)
				remember_sent(iss, g_steal_pointer(&key), cg_job_tag(iss->job));
			continue;
		}
		if (r == CG_SEND_TEMPORARY) {
			*temporary = TRUE;
			g_propagate_error(error, g_steal_pointer(&err));
			return FALSE;
		}
		/* Refused for good: trying again cannot help. The operator hears
		 * of it; the job is done. */
		what = g_strdup_printf("%s to %s: %s", m->subject, *t, err->message);
		cg_log(LOG_ERR, "%s: mail refused for good: %s", about, what);
		return cg_store_audit_append(txn, now, "issuer", "mail.failed", about, what, error);
	}
	*sent = TRUE;
	return TRUE;
}
