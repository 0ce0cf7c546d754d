/*
 * benchtool.c: cg-benchtool, helpers for scripts/bench.
 *
 *   cg-benchtool queue CONF ORG DOMAIN N
 *       makes N P-256 keys and CSRs in-process and queues N operator issue
 *       requests (bench1@DOMAIN ...) through the same path as certgate cert
 *       issue; prints the time it took
 *   cg-benchtool csv PREFIX DOMAIN N
 *       writes an enrolment CSV of N rows (PREFIX1@DOMAIN ...), each with a
 *       fresh P-256 CSR as base64 DER, on standard output
 */
#include "issuer.h"
#include "common.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

static GBytes *
make_csr(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	unsigned char *der = NULL;
	GBytes *out = NULL;
	int len;

	X509_REQ_set_pubkey(req, k);
	if (X509_REQ_sign(req, k, EVP_sha256()) > 0 && (len = i2d_X509_REQ(req, &der)) > 0)
		out = g_bytes_new(der, (gsize)len);
	OPENSSL_free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	return out;
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) conf = NULL;
	CgStore *s;
	gint64 t0;
	int i, n;

	if (argc == 5 && strcmp(argv[1], "csv") == 0) {
		n = atoi(argv[4]);
		printf("First Name,Last Name,Email,Country,CSR\r\n");
		for (i = 1; i <= n; i++) {
			g_autoptr(GBytes) csr = make_csr();
			g_autofree char *b64 =
			    g_base64_encode(g_bytes_get_data(csr, NULL), g_bytes_get_size(csr));

			printf("Person,Number%d,%s%d@%s,PL,%s\r\n", i, argv[2], i, argv[3], b64);
		}
		return 0;
	}
	if (argc != 6 || strcmp(argv[1], "queue") != 0) {
		fprintf(stderr,
		        "usage: cg-benchtool queue CONF ORG DOMAIN N | csv PREFIX DOMAIN N\n");
		return 2;
	}
	/* The daemons share the database through group certgate. */
	umask(007);
	n = atoi(argv[5]);
	if ((conf = cg_conf_load(argv[2], &err)) == NULL ||
	    (s = cg_store_open(conf->db_home, conf->evidence_dir, CG_STORE_DEFAULT, &err)) ==
	        NULL) {
		fprintf(stderr, "%s\n", err->message);
		return 1;
	}
	t0 = g_get_monotonic_time();
	for (i = 1; i <= n; i++) {
		g_autofree char *mb = g_strdup_printf("bench%d@%s", i, argv[4]);
		g_autoptr(GBytes) csr = make_csr();
		CgOperatorIssue op = {0};
		g_autofree char *id = NULL;

		op.org_id = argv[3];
		op.mailbox = mb;
		op.csr = csr;
		op.profile = CG_PROFILE_ORGANIZATION;
		op.actor = "operator:bench";
		id = cg_issuer_queue_operator(s, conf, &op, g_get_real_time() / G_USEC_PER_SEC,
		                              &err);
		if (id == NULL) {
			fprintf(stderr, "request %d: %s\n", i, err->message);
			cg_store_close(s);
			return 1;
		}
	}
	printf("queued %d in %.3f s\n", n, (double)(g_get_monotonic_time() - t0) / 1e6);
	cg_store_close(s);
	return 0;
}
