/*
 * perspective-main.c: certgate-perspective, a remote network perspective
 * for multi-perspective corroboration (S/MIME BR 4.2.2.2). It runs in
 * another network than the CA, answers "resolve NAME TYPE" over TLS 1.3
 * with its own resolver (libunbound, DNSSEC-validated from its trust
 * anchor, the nameservers of its /etc/resolv.conf), and nothing else:
 *
 *   certgate-perspective --listen HOST:PORT --cert FILE --key FILE
 *       --client-ca FILE --client-cert FILE [--trust-anchor FILE|none]
 *
 * Only the gateway may ask: a client certificate is required, must chain
 * to --client-ca and must be the one in --client-cert (the gateway
 * certificate, pinned). Each connection is one query, on a thread of its
 * own, with 5 s I/O timeouts. The protocol is in perspective.c.
 * Never: answers anyone else; keeps state between queries (but
 * libunbound's cache).
 */
#include "issuer-int.h"

#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_QUERY 600

typedef struct {
	SSL_CTX *ctx;
	X509 *pinned;
	CgConf conf; /* dnssec_trust_anchor only */
} Server;

typedef struct {
	Server *srv;
	int fd;
} Conn;

/* The query's name: a DNS name of letters, digits, '-', '_' and dots. */
static gboolean
name_ok(const char *n)
{
	gsize len = strlen(n);
	const char *p;

	if (len == 0 || len > 253)
		return FALSE;
	for (p = n; *p; p++)
		if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
			return FALSE;
	return TRUE;
}

static void
reply(SSL *ssl, const char *s)
{
	(void)SSL_write(ssl, s, (int)strlen(s));
}

static gpointer
serve(gpointer data)
{
	Conn *c = data;
	SSL *ssl = SSL_new(c->srv->ctx);
	X509 *peer = NULL;
	char q[MAX_QUERY + 1];
	char name[MAX_QUERY + 1];
	int n = 0, type = 0, k;

	SSL_set_fd(ssl, c->fd);
	if (SSL_accept(ssl) != 1)
		goto out;
	peer = SSL_get1_peer_certificate(ssl);
	if (peer == NULL || X509_cmp(peer, c->srv->pinned) != 0) {
		g_autofree char *who = peer ? cg_x509_name_text(X509_get_subject_name(peer)) : NULL;

		fprintf(stderr,
		        "certgate-perspective: refused a client that is not the gateway (%s)\n",
		        who ? who : "no certificate");
		reply(ssl, "fail this client is not the gateway\n");
		goto out;
	}
	while (n < MAX_QUERY && (k = SSL_read(ssl, q + n, MAX_QUERY - n)) > 0) {
		n += k;
		if (memchr(q, '\n', (size_t)n) != NULL)
			break;
	}
	q[n] = '\0';
	if (sscanf(q, "resolve %600s %d", name, &type) != 2 || !name_ok(name) || type < 1 ||
	    type > 65535) {
		reply(ssl, "fail malformed query\n");
		goto out;
	}
	{
		g_autoptr(GError) err = NULL;
		CgDnssec sec;
		g_autoptr(GPtrArray) rdata = cg_dns_lookup(&c->srv->conf, name, type, &sec, &err);
		g_autoptr(GString) out = g_string_new(NULL);
		guint i;

		if (rdata == NULL) {
			g_string_printf(out, "%s %s\n",
			                g_error_matches(err, CG_ERROR, CG_ERROR_DNS_TEMP) ? "fail"
			                                                                  : "bogus",
			                err->message);
		} else {
			g_string_printf(out, "answer %s %u\n",
			                sec == CG_DNSSEC_SECURE     ? "secure"
			                : sec == CG_DNSSEC_INSECURE ? "insecure"
			                                            : "off",
			                rdata->len);
			for (i = 0; i < rdata->len; i++) {
				gsize len;
				const guint8 *d = g_bytes_get_data(rdata->pdata[i], &len);
				g_autofree char *hex = cg_hex(d, len);

				g_string_append_printf(out, "%s\n", hex);
			}
		}
		reply(ssl, out->str);
	}
out:
	X509_free(peer);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(c->fd);
	ERR_clear_error();
	g_free(c);
	return NULL;
}

static X509 *
read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f != NULL)
		fclose(f);
	return x;
}

static int
listen_on(const char *hostport)
{
	g_autofree char *host = NULL, *port = NULL;
	struct addrinfo hints = {0}, *res = NULL;
	guint portno;
	int fd, one = 1;

	if (!cg_host_port_split(hostport, &host, &portno))
		return -1;
	port = g_strdup_printf("%u", portno);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
	if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	                bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 64) != 0)) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int
main(int argc, char **argv)
{
	g_autofree char *listen_at = NULL, *cert = NULL, *key = NULL, *client_ca = NULL;
	g_autofree char *client_cert = NULL, *anchor = NULL;
	GOptionEntry entries[] = {
	    {"listen", 0, 0, G_OPTION_ARG_STRING, &listen_at, "address to listen on", "HOST:PORT"},
	    {"cert", 0, 0, G_OPTION_ARG_FILENAME, &cert, "this perspective's certificate (PEM)",
	     "FILE"},
	    {"key", 0, 0, G_OPTION_ARG_FILENAME, &key, "its key", "FILE"},
	    {"client-ca", 0, 0, G_OPTION_ARG_FILENAME, &client_ca,
	     "CA certificates the gateway's certificate chains to", "FILE"},
	    {"client-cert", 0, 0, G_OPTION_ARG_FILENAME, &client_cert,
	     "the gateway's certificate: the only client answered", "FILE"},
	    {"trust-anchor", 0, 0, G_OPTION_ARG_STRING, &anchor,
	     "DNSSEC trust anchor (default the root's), or none", "FILE"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GOptionContext) oc =
	    g_option_context_new("- a remote DNS perspective for certgate");
	g_autoptr(GError) err = NULL;
	Server srv = {0};
	int lfd;

	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &err)) {
		fprintf(stderr, "certgate-perspective: %s\n", err->message);
		return 2;
	}
	if (!listen_at || !cert || !key || !client_ca || !client_cert) {
		fprintf(stderr, "certgate-perspective: --listen, --cert, --key, --client-ca and "
		                "--client-cert are needed\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	srv.conf.dnssec_trust_anchor = anchor ? anchor : (char *)"/usr/share/dns/root.key";
	srv.ctx = SSL_CTX_new(TLS_server_method());
	srv.pinned = read_cert(client_cert);
	if (srv.ctx == NULL || srv.pinned == NULL ||
	    !SSL_CTX_set_min_proto_version(srv.ctx, TLS1_3_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(srv.ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(srv.ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(srv.ctx, client_ca, NULL) != 1) {
		fprintf(stderr,
		        "certgate-perspective: the certificates or the key cannot be used\n");
		return 1;
	}
	/* The gateway's certificate is an S/MIME one (no clientAuth): any
	 * purpose, but only that certificate (pinned above). */
	X509_VERIFY_PARAM_set_purpose(SSL_CTX_get0_param(srv.ctx), X509_PURPOSE_ANY);
	SSL_CTX_set_verify(srv.ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	if ((lfd = listen_on(listen_at)) < 0) {
		fprintf(stderr, "certgate-perspective: cannot listen on %s: %s\n", listen_at,
		        g_strerror(errno));
		return 1;
	}
	fprintf(stderr, "certgate-perspective: listening on %s\n", listen_at);
	for (;;) {
		struct timeval tv = {5, 0};
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		Conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "certgate-perspective: accept: %s\n", g_strerror(errno));
			return 1;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		c = g_new0(Conn, 1);
		c->srv = &srv;
		c->fd = fd;
		g_thread_unref(g_thread_new("query", serve, c));
	}
}
