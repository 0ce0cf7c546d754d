/*
 * perspective-main.c: certgate-perspective, a remote network perspective
 * for multi-perspective corroboration (S/MIME BR 4.2.2.2). It runs in
 * another network than the CA, answers "resolve NAME TYPE" over TLS 1.3
 * with its own resolver (libunbound, DNSSEC-validated from its trust
 * anchor, the nameservers of its /etc/resolv.conf), and nothing else:
 *
 *   certgate-perspective --listen HOST:PORT --cert FILE --key FILE
 *       --client-ca FILE --client-cert FILE [--trust-anchor FILE|none]
 *       [--max-queries N] [--max-per-address N] [--timeout SECONDS]
 *
 * Only the gateway may ask: a client certificate is required, must chain
 * to --client-ca and must be the one in --client-cert (the gateway
 * certificate, pinned). Each connection is one query, on a thread of its
 * own. It listens on a network anyone may reach, so what a connection
 * may take is bounded before it has said who it is: so many at once, so
 * many from one address (a connection past either is closed at once), and
 * each its --timeout from accept to answer (the main thread shuts down
 * those past it: a client that trickles bytes cannot hold a thread). A
 * stop (SIGTERM, SIGINT) accepts nothing more and answers the queries at
 * work. A reload (SIGUSR1 or SIGHUP) reads the certificates, the key and
 * the pinned certificate again (a renewal): connections accepted from then
 * on use them, those at work keep what they began with; files that cannot
 * be used leave the ones before in use. The protocol is in perspective.c.
 * Never: answers anyone else; keeps state between queries (but
 * libunbound's cache); exits because a thread or descriptor could not be
 * had.
 */
#include "issuer-int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_QUERY 600
#define IO_TIMEOUT_S 5 /* a read or write, within the query's own time */
#define STOP_GRACE_S 5 /* at a stop, past the last query's time */
#define TELL_EVERY_S 60

/* What --cert, --key, --client-ca and --client-cert name. */
typedef struct {
	const char *cert, *key, *client_ca, *client_cert;
} Files;

typedef struct {
	/* Made from the files at the start and at each reload, by the main
	 * thread alone (which reads them for each connection it accepts). */
	SSL_CTX *ctx;
	X509 *pinned;
	CgConf conf; /* dnssec_trust_anchor only */
	/* The connections being served (Conn *), under lock; done is
	 * signalled when one ends. */
	GMutex lock;
	GCond done;
	GPtrArray *conns;
	guint max_queries, max_per_address;
	gint64 timeout_us;
} Server;

typedef struct {
	Server *srv;
	int fd;
	SSL *ssl;        /* from the context of its accept */
	X509 *pinned;    /* the gateway's certificate then (a reference) */
	char addr[64];   /* for the log */
	guint8 from[9];  /* 4 and an IPv4 address, or 6 and an IPv6 /64 */
	gint64 deadline; /* monotonic */
	gboolean cut;    /* shut down at its deadline */
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

/* c leaves the registry, then its socket is closed: the main thread shuts
 * down only sockets it finds there, so never one closed already (whose
 * number may have been given to another). */
static void
conn_end(Conn *c)
{
	Server *srv = c->srv;

	g_mutex_lock(&srv->lock);
	g_ptr_array_remove_fast(srv->conns, c);
	g_cond_broadcast(&srv->done);
	g_mutex_unlock(&srv->lock);
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		ERR_clear_error();
	}
	X509_free(c->pinned);
	close(c->fd);
	g_free(c);
}

static gpointer
serve(gpointer data)
{
	Conn *c = data;
	SSL *ssl = c->ssl;
	X509 *peer = NULL;
	char q[MAX_QUERY + 1];
	char name[MAX_QUERY + 1];
	int n = 0, type = 0, k;

	if (SSL_accept(ssl) != 1)
		goto out;
	/* The query is read before anything is answered, a refused client's
	 * too: closed with its query unread, the connection would be reset and
	 * the refusal lost with it (the gateway, asking with a renewed
	 * certificate, then tries the one before). */
	while (n < MAX_QUERY && (k = SSL_read(ssl, q + n, MAX_QUERY - n)) > 0) {
		n += k;
		if (memchr(q, '\n', (size_t)n) != NULL)
			break;
	}
	q[n] = '\0';
	peer = SSL_get1_peer_certificate(ssl);
	if (peer == NULL || X509_cmp(peer, c->pinned) != 0) {
		g_autofree char *who = peer ? cg_x509_name_text(X509_get_subject_name(peer)) : NULL;

		fprintf(stderr,
		        "certgate-perspective: refused a client that is not the gateway (%s)\n",
		        who ? who : "no certificate");
		reply(ssl, "fail this client is not the gateway\n");
		goto out;
	}
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
	/* The thread's TLS work ends here, and with it what OpenSSL keeps for
	 * the thread (its random generators, freed otherwise when the thread
	 * exits): before the connection leaves the registry, so that a stop,
	 * which waits for the registry, ends no process with a thread that
	 * still holds them. */
	SSL_shutdown(ssl);
	SSL_free(ssl);
	c->ssl = NULL;
	ERR_clear_error();
	OPENSSL_thread_stop();
	conn_end(c);
	return NULL;
}

/* Connections past their deadline are shut down: their thread's read or
 * write fails and it ends (a lookup in libunbound is not interrupted; its
 * answer then goes nowhere). -> the next deadline, G_MAXINT64 if none. */
static gint64
cut_late(Server *srv)
{
	gint64 now = g_get_monotonic_time(), next = G_MAXINT64;
	guint i;

	g_mutex_lock(&srv->lock);
	for (i = 0; i < srv->conns->len; i++) {
		Conn *c = srv->conns->pdata[i];

		if (c->cut)
			continue;
		if (now >= c->deadline) {
			c->cut = TRUE;
			(void)shutdown(c->fd, SHUT_RDWR);
			fprintf(stderr,
			        "certgate-perspective: a connection from %s took more than "
			        "%" G_GINT64_FORMAT " s: cut\n",
			        c->addr, srv->timeout_us / G_USEC_PER_SEC);
		} else
			next = MIN(next, c->deadline);
	}
	g_mutex_unlock(&srv->lock);
	return next;
}

/* The limits a connection may be refused for (their options' names), and
 * how many each refused, told at most once a minute each. */
enum { ADMITTED, MAX_QUERIES, MAX_PER_ADDRESS, N_LIMITS };
static const char *const limit_name[N_LIMITS] = {NULL, "--max-queries", "--max-per-address"};
typedef struct {
	guint64 count;
	gint64 next_told;
} Refused;

/* Where a connection comes from, for --max-per-address: its IPv4 address
 * (also when mapped into IPv6), or the /64 of its IPv6 address (one host's
 * network: an IPv6 host may use any address of it). */
static void
source(const struct sockaddr_storage *sa, guint8 from[9])
{
	memset(from, 0, 9);
	if (sa->ss_family == AF_INET) {
		from[0] = 4;
		memcpy(from + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		from[0] = IN6_IS_ADDR_V4MAPPED(a) ? 4 : 6;
		memcpy(from + 1, a->s6_addr + (from[0] == 4 ? 12 : 0), from[0] == 4 ? 4 : 8);
	}
}

/* c is registered (ADMITTED) when fewer than max_queries are served and
 * fewer than max_per_address from its address; else the limit reached. */
static int
admit(Server *srv, Conn *c)
{
	int limit = ADMITTED;
	guint i, same = 0;

	g_mutex_lock(&srv->lock);
	for (i = 0; i < srv->conns->len; i++)
		same += memcmp(((Conn *)srv->conns->pdata[i])->from, c->from, sizeof(c->from)) == 0;
	if (srv->conns->len >= srv->max_queries)
		limit = MAX_QUERIES;
	else if (same >= srv->max_per_address)
		limit = MAX_PER_ADDRESS;
	else
		g_ptr_array_add(srv->conns, c);
	g_mutex_unlock(&srv->lock);
	return limit;
}

/* One connection taken from the listening socket and given a thread, or
 * closed at once when a limit is reached (before any TLS: a client that
 * is not the gateway costs nothing more). */
static void
accept_one(Server *srv, int lfd, Refused refused[N_LIMITS])
{
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	struct timeval tv = {MIN(IO_TIMEOUT_S, srv->timeout_us / G_USEC_PER_SEC), 0};
	g_autoptr(GError) err = NULL;
	int limit;
	GThread *t;
	Conn *c;
	int fd = accept4(lfd, (struct sockaddr *)&sa, &salen, SOCK_CLOEXEC);

	if (fd < 0) {
		/* Out of descriptors or memory for a moment: the connection
		 * waits in the backlog; try again shortly. */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			fprintf(stderr, "certgate-perspective: accept: %s\n", g_strerror(errno));
			g_usleep(100 * 1000);
		}
		return;
	}
	c = g_new0(Conn, 1);
	c->srv = srv;
	c->fd = fd;
	c->deadline = g_get_monotonic_time() + srv->timeout_us;
	if (getnameinfo((struct sockaddr *)&sa, salen, c->addr, sizeof(c->addr), NULL, 0,
	                NI_NUMERICHOST) != 0)
		g_strlcpy(c->addr, "?", sizeof(c->addr));
	source(&sa, c->from);
	if ((limit = admit(srv, c)) != ADMITTED) {
		Refused *r = &refused[limit];
		gint64 now = g_get_monotonic_time();

		r->count++;
		if (now >= r->next_told) {
			fprintf(stderr,
			        "certgate-perspective: refused a connection from %s: %s reached "
			        "(%" G_GUINT64_FORMAT " refused for it since the last such line)\n",
			        c->addr, limit_name[limit], r->count);
			r->count = 0;
			r->next_told = now + TELL_EVERY_S * G_USEC_PER_SEC;
		}
		close(fd);
		g_free(c);
		return;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if ((c->ssl = SSL_new(srv->ctx)) == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		fprintf(stderr, "certgate-perspective: a connection from %s refused: no TLS\n",
		        c->addr);
		ERR_clear_error();
		conn_end(c);
		return;
	}
	X509_up_ref(srv->pinned);
	c->pinned = srv->pinned;
	if ((t = g_thread_try_new("query", serve, c, &err)) == NULL) {
		fprintf(stderr, "certgate-perspective: a connection from %s refused: %s\n", c->addr,
		        err->message);
		conn_end(c);
		return;
	}
	g_thread_unref(t);
}

/* SIGTERM or SIGINT: nothing more is accepted, the queries being served
 * are answered (each within its own time), then the process ends. */
static int
stop(Server *srv, int lfd)
{
	gint64 end = g_get_monotonic_time() + srv->timeout_us + STOP_GRACE_S * G_USEC_PER_SEC;
	guint left;

	close(lfd);
	g_mutex_lock(&srv->lock);
	left = srv->conns->len;
	g_mutex_unlock(&srv->lock);
	fprintf(stderr, "certgate-perspective: stopping: %u queries at work\n", left);
	for (;;) {
		gint64 next = cut_late(srv);

		g_mutex_lock(&srv->lock);
		if ((left = srv->conns->len) > 0 && g_get_monotonic_time() < end)
			(void)g_cond_wait_until(&srv->done, &srv->lock, MIN(next, end));
		g_mutex_unlock(&srv->lock);
		if (left == 0 || g_get_monotonic_time() >= end)
			break;
	}
	if (left > 0) {
		fprintf(stderr, "certgate-perspective: stopped: %u queries unanswered\n", left);
		return 1;
	}
	fprintf(stderr, "certgate-perspective: stopped\n");
	return 0;
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

/* The TLS context and the pinned certificate made from the files into
 * srv, replacing those before (connections at work hold references to
 * theirs). -> FALSE, srv unchanged, when the files cannot be used. */
static gboolean
load_files(Server *srv, const Files *f)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509 *pinned = read_cert(f->client_cert);

	if (ctx == NULL || pinned == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, f->client_ca, NULL) != 1) {
		SSL_CTX_free(ctx);
		X509_free(pinned);
		ERR_clear_error();
		return FALSE;
	}
	/* The gateway's certificate is an S/MIME one (no clientAuth): any
	 * purpose, but only that certificate (pinned). */
	X509_VERIFY_PARAM_set_purpose(SSL_CTX_get0_param(ctx), X509_PURPOSE_ANY);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_free(srv->ctx);
	X509_free(srv->pinned);
	srv->ctx = ctx;
	srv->pinned = pinned;
	return TRUE;
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
	gint max_queries = 64, max_per_address = 8, timeout_s = 10;
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
	    {"max-queries", 0, 0, G_OPTION_ARG_INT, &max_queries,
	     "connections served at once (default 64)", "N"},
	    {"max-per-address", 0, 0, G_OPTION_ARG_INT, &max_per_address,
	     "of them from one address (default 8)", "N"},
	    {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s,
	     "a connection's whole time, handshake to answer (default 10)", "SECONDS"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GOptionContext) oc =
	    g_option_context_new("- a remote DNS perspective for certgate");
	g_autoptr(GError) err = NULL;
	Server srv = {0};
	Files files;
	Refused refused[N_LIMITS] = {{0, 0}};
	sigset_t stops;
	int lfd, sfd;

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
	if (max_queries < 1 || max_per_address < 1 || timeout_s < 1 || timeout_s > 3600) {
		fprintf(stderr, "certgate-perspective: --max-queries and --max-per-address must be "
		                "at least 1, --timeout from 1 to 3600 s\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	/* A stop or a reload is read from a descriptor by the main loop;
	 * every thread, made later, inherits the mask. */
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGHUP);
	sigaddset(&stops, SIGUSR1);
	if (pthread_sigmask(SIG_BLOCK, &stops, NULL) != 0 ||
	    (sfd = signalfd(-1, &stops, SFD_CLOEXEC)) < 0) {
		fprintf(stderr, "certgate-perspective: signals: %s\n", g_strerror(errno));
		return 1;
	}
	g_mutex_init(&srv.lock);
	g_cond_init(&srv.done);
	srv.conns = g_ptr_array_new();
	srv.max_queries = (guint)max_queries;
	srv.max_per_address = (guint)max_per_address;
	srv.timeout_us = (gint64)timeout_s * G_USEC_PER_SEC;
	srv.conf.dnssec_trust_anchor = anchor ? anchor : (char *)"/usr/share/dns/root.key";
	files = (Files){cert, key, client_ca, client_cert};
	if (!load_files(&srv, &files)) {
		fprintf(stderr,
		        "certgate-perspective: the certificates or the key cannot be used\n");
		return 1;
	}
	if ((lfd = listen_on(listen_at)) < 0) {
		fprintf(stderr, "certgate-perspective: cannot listen on %s: %s\n", listen_at,
		        g_strerror(errno));
		return 1;
	}
	fprintf(stderr, "certgate-perspective: listening on %s\n", listen_at);
	for (;;) {
		struct pollfd p[2] = {{lfd, POLLIN, 0}, {sfd, POLLIN, 0}};
		gint64 next = cut_late(&srv), now = g_get_monotonic_time();
		int wait = next == G_MAXINT64 ? -1 : (int)MAX(1, (next - now + 999) / 1000);

		if (poll(p, 2, wait) < 0 && errno != EINTR) {
			fprintf(stderr, "certgate-perspective: poll: %s\n", g_strerror(errno));
			return 1;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
				continue;
			if (si.ssi_signo != SIGHUP && si.ssi_signo != SIGUSR1)
				break;
			fprintf(stderr,
			        load_files(&srv, &files)
			            ? "certgate-perspective: reloaded the certificates and "
			              "the key\n"
			            : "certgate-perspective: reload: the certificates or the "
			              "key cannot be used; those before stay in use\n");
			continue;
		}
		if (p[0].revents & POLLIN)
			accept_one(&srv, lfd, refused);
	}
	if (stop(&srv, lfd) != 0)
		return 1; /* threads still use srv */
	close(sfd);
	g_ptr_array_free(srv.conns, TRUE);
	X509_free(srv.pinned);
	SSL_CTX_free(srv.ctx);
	return 0;
}
