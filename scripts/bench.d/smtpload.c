/*
 * smtpload.c: an SMTP load generator that, unlike smtp-source, carries on
 * when a message is refused. Built by scripts/bench only.
 *   smtpload -s SESSIONS -m MESSAGES -f FROM -t TO -F FILE HOST:PORT
 * Each message on a new connection (like smtp-source without -d). Prints
 * "messages N seconds S rate R 2xx A 4xx B 5xx C".
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *from, *to, *host;
static int port, total;
static char *msg;
static size_t msglen;
static int next_msg, counts[6];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Reads one (possibly multi-line) reply; returns its first digit, 0 on error. */
static int
reply(FILE *in)
{
	char line[1024];

	do {
		if (fgets(line, sizeof(line), in) == NULL)
			return 0;
	} while (strlen(line) > 3 && line[3] == '-');
	return line[0] - '0';
}

static int
one(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), r;
	FILE *in, *out;

	inet_pton(AF_INET, host, &sa.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	in = fdopen(fd, "r");
	out = fdopen(dup(fd), "w");
	r = reply(in);
	if (r == 2) {
		fprintf(out, "EHLO load.example.org\r\n");
		fflush(out);
		r = reply(in);
	}
	if (r == 2) {
		fprintf(out, "MAIL FROM:<%s>\r\n", from);
		fflush(out);
		r = reply(in);
	}
	if (r == 2) {
		fprintf(out, "RCPT TO:<%s>\r\n", to);
		fflush(out);
		r = reply(in);
	}
	if (r == 2) {
		fprintf(out, "DATA\r\n");
		fflush(out);
		r = reply(in);
	}
	if (r == 3) {
		fwrite(msg, 1, msglen, out);
		fprintf(out, ".\r\n");
		fflush(out);
		r = reply(in);
	}
	fprintf(out, "QUIT\r\n");
	fflush(out);
	reply(in);
	fclose(out);
	fclose(in);
	return r;
}

static void *
session(void *arg)
{
	(void)arg;
	for (;;) {
		int r;

		pthread_mutex_lock(&lock);
		if (next_msg >= total) {
			pthread_mutex_unlock(&lock);
			return NULL;
		}
		next_msg++;
		pthread_mutex_unlock(&lock);
		r = one();
		pthread_mutex_lock(&lock);
		counts[r >= 0 && r <= 5 ? r : 0]++;
		pthread_mutex_unlock(&lock);
	}
}

/* The file with CRLF line ends and dot-stuffing. */
static void
load(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	size_t cap = 1 << 16;

	if (f == NULL) {
		perror(path);
		exit(1);
	}
	msg = malloc(cap);
	msglen = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strcspn(line, "\r\n");

		if (msglen + n + 4 > cap)
			msg = realloc(msg, cap *= 2);
		if (line[0] == '.')
			msg[msglen++] = '.';
		memcpy(msg + msglen, line, n);
		msglen += n;
		msg[msglen++] = '\r';
		msg[msglen++] = '\n';
	}
	fclose(f);
}

int
main(int argc, char **argv)
{
	int sessions = 10, c, i;
	pthread_t *t;
	struct timespec a, b;
	double secs;
	char *colon;

	while ((c = getopt(argc, argv, "s:m:f:t:F:")) != -1) {
		switch (c) {
		case 's': sessions = atoi(optarg); break;
		case 'm': total = atoi(optarg); break;
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'F': load(optarg); break;
		default: return 2;
		}
	}
	if (optind != argc - 1 || from == NULL || to == NULL || msg == NULL || total <= 0)
		return 2;
	host = argv[optind];
	colon = strchr(argv[optind], ':');
	if (colon == NULL)
		return 2;
	*colon = '\0';
	port = atoi(colon + 1);
	t = calloc((size_t)sessions, sizeof(*t));
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < sessions; i++)
		pthread_create(&t[i], NULL, session, NULL);
	for (i = 0; i < sessions; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("messages %d seconds %.3f rate %.1f 2xx %d 4xx %d 5xx %d failed %d\n", total, secs,
	       total / secs, counts[2], counts[4], counts[5], counts[0]);
	return 0;
}
