/*
 * benchtool.c: cg-benchtool, helpers for scripts/bench.
 *
 *   cg-benchtool queue CONF ORG DOMAIN N
 *       makes N P-256 keys and CSRs in-process and queues N operator issue
 *       requests (bench1@DOMAIN ...) through the same path as certgate cert
 *       issue; prints the time it took. A DOMAIN with "%d" in it is a
 *       pattern: request i goes to its own domain (d%d.example: d1.example,
 *       d2.example ...)
 *   cg-benchtool csv PREFIX DOMAIN N
 *       writes an enrolment CSV of N rows (PREFIX1@DOMAIN ...), each with a
 *       fresh P-256 CSR as base64 DER, on standard output
 *   cg-benchtool load CONF ORG DOMAIN N REVOKED
 *       preloads N issued certificates for organisation ORG (load1@DOMAIN
 *       ...), the first REVOKED of them revoked, as the issuer leaves them:
 *       an operator request with its item (and CSR), the certificate record
 *       (a real certificate's DER of the usual size, its own serial and
 *       key hash), its expiry reminders and the audit entries; 2,000 to a
 *       transaction; prints
 *       the time it took
 *   cg-benchtool probe CONF ORG DOMAIN REPS LISTORG
 *       the per-request costs a growing database must keep flat, each on
 *       one line: queueing an operator request for ORG (durable; REPS of
 *       them, the median and the 99th percentile), a key-reuse lookup
 *       (a key's certificates, 10 x REPS random keys, mean), and listing
 *       the certificates of organisation LISTORG through its index (the
 *       best of 3); REPS at least 1
 */
#include "issuer.h"
#include "daemon.h"
#include "common.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
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

/* A certificate of the usual size (P-256 key, the profile's extensions),
 * self-signed: its bytes stand for every preloaded certificate. */
static GBytes *
make_cert_der(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	unsigned char *der = NULL;
	GBytes *out = NULL;
	int len;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 0x5eed);
	X509_NAME_add_entry_by_txt(n, "C", MBSTRING_UTF8, (const unsigned char *)"PL", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
	                           (const unsigned char *)"Bench Growth Sp. z o.o.", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	                           (const unsigned char *)"load1@example.org", -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	if ((len = i2d_X509(x, &der)) > 0)
		out = g_bytes_new(der, (gsize)len);
	OPENSSL_free(der);
	X509_NAME_free(n);
	X509_free(x);
	EVP_PKEY_free(k);
	return out;
}

static int
load(CgStore *s, const CgConf *conf, const char *org, const char *domain, int n, int revoked)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) der = make_cert_der();
	g_autoptr(GBytes) csr = make_csr();
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	/* Every certificate is valid for a year from now (below): the
	 * issuer's first reminder stage. */
	gint64 first_stage = cg_conf_reminder_next(conf, G_MAXINT64, now + 365 * 86400 - 1, now);
	CgTxn *txn = NULL;
	int i;

	for (i = 1; i <= n; i++) {
		g_autofree char *mb = g_strdup_printf("load%d@%s", i, domain);
		g_autofree char *rid = NULL, *job = NULL;
		guint8 rnd[16];
		g_autofree char *serial = NULL;
		CgRequest req = {0};
		CgItem item = {0};
		CgCert c = {0};
		guint64 id = 0;

		if (txn == NULL && (txn = cg_store_begin(s, &err)) == NULL)
			break;
		if (!cg_store_next_id(txn, "request", &id, &err))
			break;
		rid = g_strdup_printf("R%" G_GUINT64_FORMAT, id);
		job = g_strdup_printf("%s#1", rid);
		RAND_bytes(rnd, sizeof(rnd));
		rnd[0] &= 0x7f;
		serial = cg_hex(rnd, sizeof(rnd));
		req.id = rid;
		req.kind = CG_REQUEST_OPERATOR;
		req.org_id = (char *)org;
		req.requester = "operator:bench";
		req.digest = "";
		req.status = CG_REQUEST_DONE;
		req.created = now;
		req.profile = "organization";
		req.validity_days = 365;
		req.fields = "";
		req.format = "pem";
		req.n_items = req.n_settled = 1;
		item.request_id = rid;
		item.index = 1;
		item.mailbox = mb;
		item.given_name = item.surname = "";
		item.country = "PL";
		item.csr = csr;
		item.status = CG_ITEM_ISSUED;
		item.serial = serial;
		c.serial = serial;
		c.der = der;
		c.org_id = (char *)org;
		c.mailbox = mb;
		RAND_bytes(c.spki_sha256, sizeof(c.spki_sha256));
		c.not_before = now;
		c.not_after = now + 365 * 86400 - 1;
		c.status = i <= revoked ? CG_CERT_REVOKED : CG_CERT_VALID;
		c.revoked_at = i <= revoked ? now : 0;
		c.reason = i <= revoked ? 4 : 0; /* superseded */
		c.request_id = rid;
		c.item = 1;
		c.profile = "organization";
		c.renewed_by = "";
		if (!cg_store_request_put(txn, &req, &err) || !cg_store_item_put(txn, &item, &err) ||
		    !cg_store_cert_add(txn, &c, &err) ||
		    !cg_store_audit_append(txn, now, "operator:bench", "request.operator", job, mb,
		                           &err) ||
		    !cg_store_audit_append(txn, now, "issuer", "cert.issue", serial, mb, &err))
			break;
		/* Its first reminder, as the issuer schedules it (the largest
		 * stage; each stage's job schedules the next); the issuer's
		 * one-time backfill has nothing to do then. */
		if (first_stage > 0) {
			g_autofree char *rid2 =
			    g_strdup_printf("%s|%" G_GINT64_FORMAT, serial, first_stage);

			cg_store_job_schedule(txn, CG_JOB_REMIND, rid2, c.not_after - first_stage,
			                      &err);
		}
		if (err != NULL || (i == 1 && !cg_store_meta_put(txn, "reminders-backfill", "done", &err)))
			break;
		if (i % 2000 == 0 || i == n) {
			if (!cg_store_commit(txn, &err))
				break;
			txn = NULL;
		}
	}
	if (err != NULL) {
		if (txn != NULL)
			cg_store_abort(txn);
		fprintf(stderr, "load: %s\n", err->message);
		return 1;
	}
	/* As the issuer does each minute: the next process to open the
	 * environment does not recover the whole load from the log. */
	if (!cg_store_checkpoint(s, &err)) {
		fprintf(stderr, "load: %s\n", err->message);
		return 1;
	}
	return 0;
}

static double
since_us(gint64 t0)
{
	return (double)(g_get_monotonic_time() - t0);
}

static gboolean
count_visit(gconstpointer rec, gpointer data)
{
	(void)rec;
	(*(guint *)data)++;
	return TRUE;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
probe(CgStore *s, const CgConf *conf, const char *org, const char *domain, int reps,
      const char *list_org)
{
	g_autoptr(GError) err = NULL;
	double best = 0;
	g_autofree double *intake = g_new(double, reps);
	gint64 t0;
	guint listed = 0;
	guint64 pages;
	int i;

	for (i = 1; i <= reps; i++) {
		g_autofree char *mb = g_strdup_printf("probe%d@%s", i, domain);
		g_autoptr(GBytes) csr = make_csr();
		g_autofree char *id = NULL;
		CgOperatorIssue op = {0};

		op.org_id = org;
		op.mailbox = mb;
		op.csr = csr;
		op.profile = CG_PROFILE_ORGANIZATION;
		op.actor = "operator:bench";
		t0 = g_get_monotonic_time(); /* the key and CSR are not the request's cost */
		id = cg_issuer_queue_operator(s, conf, &op, g_get_real_time() / G_USEC_PER_SEC, &err);
		intake[i - 1] = since_us(t0);
		if (id == NULL) {
			fprintf(stderr, "probe: %s\n", err->message);
			return 1;
		}
	}
	/* The median and the 99th percentile: a mean carried the odd commit
	 * that waited behind the disk's write-back of the load. */
	qsort(intake, (gsize)reps, sizeof(double), cmp_double);
	printf("intake_us %.1f\nintake_p99_us %.1f\n", intake[(reps - 1) / 2],
	       intake[(reps * 99 + 99) / 100 - 1]);
	/* The issuer reads the index into the cache when it starts. */
	if (!cg_store_warm(s, CG_INDEX_CERT_BY_SPKI, &pages, &err)) {
		fprintf(stderr, "probe: %s\n", err->message);
		return 1;
	}
	printf("warmed_pages %" G_GUINT64_FORMAT "\n", pages);
	t0 = g_get_monotonic_time();
	for (i = 0; i < 10 * reps; i++) {
		guint8 key[32];
		g_autofree char *hex = NULL;
		guint n = 0;

		RAND_bytes(key, sizeof(key));
		hex = cg_hex(key, sizeof(key));
		if (!cg_store_foreach_by(s, NULL, CG_INDEX_CERT_BY_SPKI, hex, count_visit, &n, &err)) {
			fprintf(stderr, "probe: %s\n", err->message);
			return 1;
		}
	}
	printf("reuse_us %.2f\n", since_us(t0) / (10.0 * reps));
	for (i = 0; i < 3; i++) {
		guint n = 0;

		t0 = g_get_monotonic_time();
		if (!cg_store_foreach_by(s, NULL, CG_INDEX_CERT_BY_ORG, list_org, count_visit, &n,
		                         &err)) {
			fprintf(stderr, "probe: %s\n", err->message);
			return 1;
		}
		if (i == 0 || since_us(t0) < best)
			best = since_us(t0);
		listed = n;
	}
	printf("list_ms %.2f\nlisted %u\n", best / 1000, listed);
	return 0;
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
	if ((argc != 6 || strcmp(argv[1], "queue") != 0) &&
	    (argc != 7 || strcmp(argv[1], "load") != 0) &&
	    (argc != 7 || strcmp(argv[1], "probe") != 0)) {
		fprintf(stderr, "usage: cg-benchtool queue CONF ORG DOMAIN N | csv PREFIX DOMAIN N | "
		                "load CONF ORG DOMAIN N REVOKED | probe CONF ORG DOMAIN REPS LISTORG\n");
		return 2;
	}
	/* The daemons share the database through group certgate. */
	umask(007);
	n = atoi(argv[5]);
	if (strcmp(argv[1], "probe") == 0 && n < 1) {
		fprintf(stderr, "probe: REPS must be at least 1\n");
		return 2;
	}
	if ((conf = cg_conf_load(argv[2], &err)) == NULL ||
	    (s = cg_open_store(conf, CG_STORE_DEFAULT, &err)) ==
	        NULL) {
		fprintf(stderr, "%s\n", err->message);
		return 1;
	}
	if (strcmp(argv[1], "probe") == 0) {
		int rc = probe(s, conf, argv[3], argv[4], n, argv[6]);

		cg_store_close(s);
		return rc;
	}
	t0 = g_get_monotonic_time();
	if (strcmp(argv[1], "load") == 0) {
		int rc = load(s, conf, argv[3], argv[4], n, atoi(argv[6]));

		printf("loaded %d in %.3f s\n", n, (double)(g_get_monotonic_time() - t0) / 1e6);
		cg_store_close(s);
		return rc;
	}
	for (i = 1; i <= n; i++) {
		const char *pat = strstr(argv[4], "%d");
		g_autofree char *dom =
		    pat != NULL
		        ? g_strdup_printf("%.*s%d%s", (int)(pat - argv[4]), argv[4], i, pat + 2)
		        : g_strdup(argv[4]);
		g_autofree char *mb = g_strdup_printf("bench%d@%s", i, dom);
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
