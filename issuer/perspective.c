/*
 * perspective.c: multi-perspective corroboration (S/MIME BR 4.2.2.2, MPIC).
 * A DNS answer the issuer decides on is asked again of the remote
 * perspectives (Perspective HOST:PORT, certgate-perspective(8) in other
 * networks) and relied on only when PerspectiveQuorum of them answered the
 * same records.
 *
 * The protocol, one query per TLS 1.3 connection, both sides authenticated
 * (the issuer with GatewayCertificate/GatewayKey, pinned by the
 * perspective; the perspective with a certificate from PerspectiveCA that
 * names the host of its Perspective line):
 *     -> "resolve NAME TYPE\n"
 *     <- "answer STATUS N\n" and N lines of rdata in hex   (STATUS: secure,
 *        insecure, off)
 *     <- "bogus MESSAGE\n" | "fail MESSAGE\n"
 * Never: relies on a perspective's answer alone; waits more than a few
 * seconds on one.
 */
#include "issuer-int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define IO_TIMEOUT_S 5
#define CONNECT_MS   3000
#define MAX_REPLY    (256 * 1024)

/* A TCP connection to host:port within CONNECT_MS, with I/O timeouts; -1
 * (errno set) when it cannot be made. */
static int
tcp_connect(const char *hostport)
{
	g_autofree char *host = NULL, *port = NULL;
	struct addrinfo hints = {0}, *res = NULL, *ai;
	struct timeval tv = {IO_TIMEOUT_S, 0};
	guint portno;
	int fd = -1;

	if (!cg_host_port_split(hostport, &host, &portno)) {
		errno = EINVAL;
		return -1;
	}
	port = g_strdup_printf("%u", portno);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct pollfd p;
		int err = 0;
		socklen_t len = sizeof(err);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
			goto next;
		p.fd = fd;
		p.events = POLLOUT;
		if (poll(&p, 1, CONNECT_MS) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
			errno = err ? err : ETIMEDOUT;
			goto next;
		}
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		break;
next:
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static SSL_CTX *
client_ctx(const char *cert, const char *key, const char *ca, GError **error)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	if (c == NULL || !SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(c, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(c, ca, NULL) != 1) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG,
		            "perspectives: the gateway certificate %s, its key or PerspectiveCA %s "
		            "cannot be used",
		            cert, ca);
		SSL_CTX_free(c);
		ERR_clear_error();
		return NULL;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	return c;
}

/* A client context, made again only when the files it was made from
 * change (a reload naming others, a gateway rekey): a CAA climb asks the
 * perspectives at every step, and each context reads and parses three
 * files. One for the gateway's pair, one for the pair before it. */
typedef struct {
	GMutex lock;
	SSL_CTX *made;
	char *from;
} CtxCache;
static CtxCache current_ctx, previous_ctx;

/* The names of the files a context is made from, and their identity and
 * change times. */
static char *
files_seen(const char *const files[3])
{
	GString *out = g_string_new(NULL);
	guint i;

	for (i = 0; i < 3; i++) {
		struct stat st = {0};

		(void)stat(files[i] ? files[i] : "", &st);
		g_string_append_printf(out, "%s|%ju|%ju|%jd|%ld.%09ld\n", files[i] ? files[i] : "",
		                       (uintmax_t)st.st_dev, (uintmax_t)st.st_ino,
		                       (intmax_t)st.st_size, (long)st.st_mtim.tv_sec,
		                       (long)st.st_mtim.tv_nsec);
	}
	return g_string_free(out, FALSE);
}

/* A reference to the context for those files (SSL_CTX_free when done). */
static SSL_CTX *
cached(CtxCache *cc, const char *const files[3], GError **error)
{
	g_autofree char *seen = files_seen(files);
	SSL_CTX *c;

	g_mutex_lock(&cc->lock);
	if (cc->made != NULL && strcmp(cc->from, seen) == 0) {
		SSL_CTX_up_ref(cc->made);
		c = cc->made;
		g_mutex_unlock(&cc->lock);
		return c;
	}
	g_mutex_unlock(&cc->lock);
	if ((c = client_ctx(files[0], files[1], files[2], error)) == NULL)
		return NULL;
	g_mutex_lock(&cc->lock);
	SSL_CTX_free(cc->made); /* the holders of the old one keep their reference */
	cc->made = c;
	SSL_CTX_up_ref(c);
	g_free(cc->from);
	cc->from = g_steal_pointer(&seen);
	g_mutex_unlock(&cc->lock);
	return c;
}

static SSL_CTX *
context(const CgConf *conf, GError **error)
{
	const char *files[3] = {conf->gateway_certificate, conf->gateway_key, conf->perspective_ca};

	return cached(&current_ctx, files, error);
}

/* The gateway's pair before the current one (PATH.previous, kept by
 * certgate ca gateway-renew) while its certificate has not ended: a
 * perspective that still pins it is asked with it, so that a renewal
 * waits for no perspective. NULL when there is none. */
static SSL_CTX *
previous_context(const CgConf *conf, gint64 now)
{
	g_autofree char *cert = g_strconcat(conf->gateway_certificate, ".previous", NULL);
	g_autofree char *key = g_strconcat(conf->gateway_key, ".previous", NULL);
	const char *files[3] = {cert, key, conf->perspective_ca};
	SSL_CTX *c;
	X509 *x;

	if (!g_file_test(cert, G_FILE_TEST_EXISTS) ||
	    (c = cached(&previous_ctx, files, NULL)) == NULL)
		return NULL;
	x = SSL_CTX_get0_certificate(c);
	if (x == NULL || cg_asn1_time_unix(X509_get0_notAfter(x)) <= now) {
		SSL_CTX_free(c);
		return NULL;
	}
	return c;
}

/* The perspective's certificate must name the host its Perspective line
 * names (an IP address in iPAddress, a DNS name in dNSName), as any TLS
 * client checks: a chain to PerspectiveCA alone would let the key of one
 * perspective answer for all of them, and the quorum would count one
 * network position several times. */
static void
expect_name(SSL *ssl, const char *hostport)
{
	g_autofree char *host = NULL;
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

	if (!cg_host_port_split(hostport, &host, NULL)) /* the configuration's check */
		return;
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1)
		return;
	(void)SSL_set_tlsext_host_name(ssl, host);
	(void)SSL_set1_host(ssl, host);
}

/* One perspective's answer. */
static CgPerspectiveAnswer
ask(SSL_CTX *c, const char *hostport, const char *name, int type, GPtrArray **rdata, char **why)
{
	SSL *ssl = NULL;
	int fd = tcp_connect(hostport);
	g_autofree char *q = g_strdup_printf("resolve %s %d\n", name, type);
	GString *in = g_string_new(NULL);
	char buf[4096];
	CgPerspectiveAnswer a = CG_PERSPECTIVE_DOWN;
	g_auto(GStrv) lines = NULL;
	guint n = 0, i;
	int k;

	*rdata = NULL;
	if (fd < 0) {
		*why = g_strdup_printf("%s: %s", hostport, g_strerror(errno));
		goto out;
	}
	ssl = SSL_new(c);
	SSL_set_fd(ssl, fd);
	expect_name(ssl, hostport);
	if (SSL_connect(ssl) != 1) {
		long vr = SSL_get_verify_result(ssl);
		const char *reason = ERR_reason_error_string(ERR_peek_last_error());

		*why = g_strdup_printf("%s: TLS handshake failed (%s)", hostport,
		                       vr != X509_V_OK  ? X509_verify_cert_error_string(vr)
		                       : reason != NULL ? reason
		                                        : "no reason");
		goto out;
	}
	if (SSL_write(ssl, q, (int)strlen(q)) <= 0) {
		*why = g_strdup_printf("%s: cannot send the query", hostport);
		goto out;
	}
	while (in->len < MAX_REPLY && (k = SSL_read(ssl, buf, sizeof(buf))) > 0)
		g_string_append_len(in, buf, k);
	/* Nothing at all (closed at once): one empty line, not an empty
	 * vector, which g_strsplit gives for "". */
	lines = g_strsplit(in->len > 0 ? in->str : "\n", "\n", -1);
	if (g_str_has_prefix(lines[0], "answer ") && sscanf(lines[0], "answer %*s %u", &n) == 1 &&
	    n <= 1000 && g_strv_length(lines) > n) {
		*rdata = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
		for (i = 1; i <= n; i++) {
			gsize len = strlen(lines[i]) / 2;
			guint8 *d = g_malloc(len + 1);

			if (strlen(lines[i]) % 2 != 0 || !cg_hex_decode(lines[i], d, len)) {
				g_free(d);
				g_clear_pointer(rdata, g_ptr_array_unref);
				*why = g_strdup_printf("%s: an unreadable answer", hostport);
				goto out;
			}
			g_ptr_array_add(*rdata, g_bytes_new_take(d, len));
		}
		a = CG_PERSPECTIVE_ANSWER;
	} else if (g_str_has_prefix(lines[0], "bogus ")) {
		a = CG_PERSPECTIVE_BOGUS;
		*why = g_strdup_printf("%s: %s", hostport, lines[0] + 6);
	} else {
		*why = g_strdup_printf("%s: %s", hostport,
		                       g_str_has_prefix(lines[0], "fail ") ? lines[0] + 5
		                                                           : "no answer");
	}
out:
	if (ssl != NULL) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
	ERR_clear_error();
	g_string_free(in, TRUE);
	return a;
}

/* One perspective asked on a thread of its own: they are asked at once, so
 * that a slow or silent one costs its own timeout, not the sum of them. */
typedef struct {
	SSL_CTX *ctx, *prev; /* prev: the gateway's pair before, or NULL */
	const char *hostport, *name;
	int type;
	CgPerspectiveAnswer answer;
	GPtrArray *rdata;
	char *why;
	GThread *thread;
} Asking;

static gpointer
ask_thread(gpointer data)
{
	Asking *a = data;

	a->answer = ask(a->ctx, a->hostport, a->name, a->type, &a->rdata, &a->why);
	/* A perspective that pins the gateway's certificate before a renewal
	 * is asked with that one. */
	if (a->answer == CG_PERSPECTIVE_DOWN && a->prev != NULL && a->why != NULL &&
	    strstr(a->why, ": this client is not the gateway") != NULL) {
		g_clear_pointer(&a->why, g_free);
		a->answer = ask(a->prev, a->hostport, a->name, a->type, &a->rdata, &a->why);
	}
	return NULL;
}

static gint
bytes_cmp(gconstpointer a, gconstpointer b)
{
	GBytes *x = *(GBytes *const *)a, *y = *(GBytes *const *)b;

	return g_bytes_compare(x, y);
}

gboolean
cg_perspective_same(GPtrArray *a, GPtrArray *b)
{
	/* Borrowed pointers, sorted: no free function (a copy would take the
	 * originals' and unref what it does not own). */
	g_autoptr(GPtrArray) x = g_ptr_array_sized_new(a->len);
	g_autoptr(GPtrArray) y = g_ptr_array_sized_new(b->len);
	guint i;

	if (a->len != b->len)
		return FALSE;
	for (i = 0; i < a->len; i++) {
		g_ptr_array_add(x, a->pdata[i]);
		g_ptr_array_add(y, b->pdata[i]);
	}
	g_ptr_array_sort(x, bytes_cmp);
	g_ptr_array_sort(y, bytes_cmp);
	for (i = 0; i < x->len; i++)
		if (!g_bytes_equal(x->pdata[i], y->pdata[i]))
			return FALSE;
	return TRUE;
}

guint
cg_perspective_quorum(const CgConf *conf)
{
	guint n = conf->perspectives ? g_strv_length(conf->perspectives) : 0;

	if (conf->perspective_quorum > 0)
		return (guint)conf->perspective_quorum;
	return n > 1 ? n - 1 : n; /* S/MIME BR 4.2.2.2: one may differ */
}

gboolean
cg_perspective_corroborate(const CgConf *conf, const char *name, int type, GPtrArray *primary,
                           char **said, GError **error)
{
	guint n = conf->perspectives ? g_strv_length(conf->perspectives) : 0;
	guint quorum = cg_perspective_quorum(conf), agree = 0, down = 0, i;
	g_autoptr(GString) notes = g_string_new(NULL);
	g_autofree Asking *asked = NULL;
	SSL_CTX *c, *prev;

	*said = NULL;
	if (n == 0)
		return TRUE;
	if ((c = context(conf, error)) == NULL)
		return FALSE;
	prev = previous_context(conf, g_get_real_time() / G_USEC_PER_SEC);
	asked = g_new0(Asking, n);
	for (i = 0; i < n; i++) {
		asked[i] = (Asking){.ctx = c,
		                    .prev = prev,
		                    .hostport = conf->perspectives[i],
		                    .name = name,
		                    .type = type,
		                    .answer = CG_PERSPECTIVE_DOWN};
		asked[i].thread = g_thread_try_new("cg-perspective", ask_thread, &asked[i], NULL);
		if (asked[i].thread == NULL) /* no thread to be had: asked here */
			ask_thread(&asked[i]);
	}
	for (i = 0; i < n; i++) {
		Asking *a = &asked[i];

		if (a->thread != NULL)
			g_thread_join(a->thread);
		if (a->answer == CG_PERSPECTIVE_ANSWER && cg_perspective_same(primary, a->rdata)) {
			agree++;
		} else if (a->answer == CG_PERSPECTIVE_DOWN) {
			down++;
			g_string_append_printf(notes, "; no answer from %s", a->why);
		} else {
			g_string_append_printf(notes, "; %s answered otherwise%s%s", a->hostport,
			                       a->why ? ": " : "", a->why ? a->why : "");
		}
		if (a->rdata != NULL)
			g_ptr_array_unref(a->rdata);
		g_free(a->why);
	}
	SSL_CTX_free(c);
	SSL_CTX_free(prev);
	if (agree >= quorum) {
		*said = g_strdup_printf("corroborated by %u of %u perspectives%s", agree, n,
		                        notes->str);
		return TRUE;
	}
	/* Not enough agree: wait when the missing ones could still make the
	 * quorum, else the answer is not relied on. */
	g_set_error(error, CG_ERROR,
	            agree + down >= quorum ? CG_ERROR_DNS_TEMP : CG_ERROR_NOT_AUTHORISED,
	            "the DNS answer for %s is not corroborated: %u of %u perspectives agree, %u "
	            "needed (S/MIME BR 4.2.2.2)%s",
	            name, agree, n, quorum, notes->str);
	return FALSE;
}
