/*
 * report.c: the one report an enrolment by mail gets when its last item is
 * settled: a CSV (row, mailbox, status, serial, reason; formulas
 * neutralised) and the certificates as .pem and .p7c (above 50, one .p7c
 * bundle of all of them), and smimea.zone: an SMIMEA record (RFC 8162) for
 * each certificate, for the organisation's DNS. A list of 100,000 is
 * reported in bounded memory: the CSV and the records go to files as the
 * items are read, and the bundle is written certificate by certificate as
 * the mail is composed (in a file too).
 * Never: writes a cell a spreadsheet would run.
 */
#include "issuer-int.h"

#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

typedef struct {
	CgIssuer *iss;
	CgTxn *txn;
	const CgRequest *req;
	FILE *csv;        /* the CSV, row by row (a file: never all in memory) */
	FILE *smimea;     /* the SMIMEA records, likewise */
	GPtrArray *certs; /* X509* issued, in row order, while at most BUNDLE_ABOVE */
	GPtrArray *names; /* their mailboxes, for people (U-labels) */
	const char *renews; /* the request's, "" when none */
	GString *renewals;  /* a line for each certificate that renews one */
	guint issued, refused;
	gsize der_total; /* the DER of every certificate issued */
	GError *error;
} Report;

#define BUNDLE_ABOVE 50

/* Every item of the request, and the certificates visit reads: each read
 * holds its lock only while it reads (the items are settled, their
 * certificates issued), or a list of 100,000 rows overflowed the lock
 * table (50,000) and its report was never sent. */
static gboolean
read_items(Report *r, CgStoreVisit visit, gpointer data, GError **error)
{
	gboolean was = cg_store_txn_read_committed(r->txn, TRUE);
	gboolean ok = cg_store_foreach_by(r->iss->store, r->txn, CG_INDEX_ITEM_BY_REQUEST,
	                                  r->req->id, visit, data, error);

	cg_store_txn_read_committed(r->txn, was);
	return ok;
}

/* "Certificate NEW for MAILBOX renews OLD, valid until DATE." for each old
 * certificate this item's renewed. */
static gboolean
renewal_line(Report *r, const CgItem *it)
{
	g_auto(GStrv) old = g_strsplit_set(r->renews, ", ", -1);
	char **p;

	for (p = old; *p != NULL; p++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(CgCert) c = **p ? cg_store_cert_get(r->iss->store, r->txn, *p, &err) : NULL;
		g_autofree char *until = NULL, *shown = NULL;

		if (c == NULL) {
			if (err != NULL && !cg_error_absent(&err, &r->error))
				return FALSE;
			continue;
		}
		if (g_strcmp0(c->renewed_by, it->serial) != 0)
			continue;
		until = cg_time_iso(c->not_after);
		shown = cg_addr_to_unicode(c->mailbox);
		g_string_append_printf(r->renewals,
		                       "Certificate %s for %s renews %s, which stays valid\nuntil "
		                       "%s.\n",
		                       it->serial, shown, c->serial, until);
	}
	return TRUE;
}

/* The first pass: a CSV row per item, the counts, the certificates' size
 * (and the certificates themselves while they are few). */
static gboolean
report_row(gconstpointer rec, gpointer data)
{
	const CgItem *it = rec;
	Report *r = data;
	g_autofree char *row = g_strdup_printf("%u", it->index);
	g_autofree char *shown = cg_addr_to_unicode(it->mailbox);
	const char *status = it->status == CG_ITEM_ISSUED ? "issued" : "refused";
	g_autoptr(GString) line = g_string_new(NULL);

	cg_csv_cell(line, row, FALSE);
	cg_csv_cell(line, shown, FALSE);
	cg_csv_cell(line, status, FALSE);
	cg_csv_cell(line, it->serial ? it->serial : "", FALSE);
	cg_csv_cell(line, it->reason ? it->reason : "", TRUE);
	fwrite(line->str, 1, line->len, r->csv);
	if (it->status == CG_ITEM_ISSUED) {
		g_autoptr(CgCert) c =
		    cg_store_cert_get(r->iss->store, r->txn, it->serial, &r->error);
		X509 *x;

		if (c == NULL)
			return FALSE;
		if (*r->renews && !renewal_line(r, it))
			return FALSE;
		{
			g_autofree char *rr = cg_smimea_record(c->mailbox, c->der);

			if (rr != NULL)
				fputs(rr, r->smimea);
		}
		r->issued++;
		r->der_total += g_bytes_get_size(c->der);
		if (r->issued > BUNDLE_ABOVE) {
			/* One bundle, written as the mail is composed. */
			g_ptr_array_set_size(r->certs, 0);
			g_ptr_array_set_size(r->names, 0);
			return TRUE;
		}
		if ((x = cg_x509_read(g_bytes_get_data(c->der, NULL), g_bytes_get_size(c->der))) !=
		    NULL) {
			g_ptr_array_add(r->certs, x);
			g_ptr_array_add(r->names, g_steal_pointer(&shown));
		}
	} else {
		r->refused++;
	}
	return TRUE;
}

static void
x509_free(gpointer p)
{
	X509_free(p);
}

/* Adds an attachment, taking data. */
static void
add_part(GPtrArray *parts, const char *name, const char *type, GBytes *data)
{
	g_ptr_array_add(parts, cg_out_part_new(name, type, data));
	g_bytes_unref(data);
}

/* A part written from one of the report's files (data: the FILE). */
static gboolean
stream_file(CgB64Out *out, gpointer data, GError **error)
{
	FILE *f = data;
	char buf[65536];
	size_t n;

	rewind(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		cg_b64_out_write(out, buf, n);
	if (ferror(f)) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "cannot read the report's file back");
		return FALSE;
	}
	return TRUE;
}

/* ---- the bundle: a certs-only PKCS#7 (RFC 2315 SignedData, no signers)
 * written certificate by certificate, its lengths known from the first
 * pass. ---- */

static void
der_len(GByteArray *a, gsize n)
{
	guint8 b[9];
	guint k = 0, i;

	if (n < 128) {
		b[0] = (guint8)n;
		g_byte_array_append(a, b, 1);
		return;
	}
	while (n >> (8 * k) && k < 8)
		k++;
	b[0] = (guint8)(0x80 | k);
	for (i = 0; i < k; i++)
		b[1 + i] = (guint8)(n >> (8 * (k - 1 - i)));
	g_byte_array_append(a, b, k + 1);
}

static gsize
der_len_size(gsize n)
{
	gsize k = 0;

	if (n < 128)
		return 1;
	while (n >> (8 * k) && k < 8)
		k++;
	return 1 + k;
}

/* Everything before the certificates, for certs_len bytes of them. */
static GByteArray *
p7c_head(gsize certs_len)
{
	static const guint8 oid_signed[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
	                                    0xf7, 0x0d, 0x01, 0x07, 0x02};
	/* version 1, no digest algorithms, contentInfo { data } */
	static const guint8 sd_pre[] = {0x02, 0x01, 0x01, 0x31, 0x00, 0x30, 0x0b, 0x06, 0x09,
	                                0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
	gsize certs = 1 + der_len_size(certs_len) + certs_len;
	gsize sd_content = sizeof(sd_pre) + certs + 2; /* + signerInfos SET {} */
	gsize sd = 1 + der_len_size(sd_content) + sd_content;
	gsize explicit = 1 + der_len_size(sd) + sd;
	GByteArray *a = g_byte_array_new();
	guint8 tag;

	tag = 0x30;
	g_byte_array_append(a, &tag, 1);
	der_len(a, sizeof(oid_signed) + explicit);
	g_byte_array_append(a, oid_signed, sizeof(oid_signed));
	tag = 0xa0;
	g_byte_array_append(a, &tag, 1);
	der_len(a, sd);
	tag = 0x30;
	g_byte_array_append(a, &tag, 1);
	der_len(a, sd_content);
	g_byte_array_append(a, sd_pre, sizeof(sd_pre));
	tag = 0xa0; /* certificates [0] IMPLICIT */
	g_byte_array_append(a, &tag, 1);
	der_len(a, certs_len);
	return a;
}

typedef struct {
	Report *r;
	CgB64Out *out;
	gsize written;
} Bundle;

static gboolean
bundle_cert(gconstpointer rec, gpointer data)
{
	const CgItem *it = rec;
	Bundle *b = data;
	g_autoptr(CgCert) c = NULL;

	if (it->status != CG_ITEM_ISSUED)
		return TRUE;
	if ((c = cg_store_cert_get(b->r->iss->store, b->r->txn, it->serial, &b->r->error)) == NULL)
		return FALSE;
	cg_b64_out_write(b->out, g_bytes_get_data(c->der, NULL), g_bytes_get_size(c->der));
	b->written += g_bytes_get_size(c->der);
	return TRUE;
}

static gboolean
stream_bundle(CgB64Out *out, gpointer data, GError **error)
{
	static const guint8 no_signers[] = {0x31, 0x00};
	Report *r = data;
	STACK_OF(X509) *chain = cg_ca_chain(r->iss->ca);
	g_autoptr(GPtrArray) chain_der = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	g_autoptr(GByteArray) head = NULL;
	gsize chain_len = 0;
	Bundle b = {r, out, 0};
	int i;

	for (i = 0; i < sk_X509_num(chain); i++) {
		unsigned char *der = NULL;
		int len = i2d_X509(sk_X509_value(chain, i), &der);

		if (len <= 0) {
			g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "cannot encode the chain");
			return FALSE;
		}
		g_ptr_array_add(chain_der, g_bytes_new(der, (gsize)len));
		OPENSSL_free(der);
		chain_len += (gsize)len;
	}
	head = p7c_head(r->der_total + chain_len);
	cg_b64_out_write(out, head->data, head->len);
	if (!read_items(r, bundle_cert, &b, error))
		return FALSE;
	if (r->error != NULL) {
		g_propagate_error(error, r->error);
		r->error = NULL;
		return FALSE;
	}
	if (b.written != r->der_total) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL,
		            "the request's certificates changed while its report was written");
		return FALSE;
	}
	for (i = 0; i < (int)chain_der->len; i++) {
		GBytes *d = chain_der->pdata[i];

		cg_b64_out_write(out, g_bytes_get_data(d, NULL), g_bytes_get_size(d));
	}
	cg_b64_out_write(out, no_signers, sizeof(no_signers));
	return TRUE;
}

gboolean
cg_issuer_run_report(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
           GError **error)
{
	g_autoptr(CgRequest) req = cg_store_request_get(iss->store, txn, job->id, error);
	g_autoptr(GPtrArray) certs = g_ptr_array_new_with_free_func(x509_free);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(cg_out_part_free);
	g_autofree char *subject = NULL, *text = NULL, *detail = NULL, *name = NULL;
	STACK_OF(X509) *chain = cg_ca_chain(iss->ca);
	g_autoptr(GString) renewals = g_string_new(NULL);
	Report r = {iss, txn, NULL, NULL, NULL, certs, names, "", renewals, 0, 0, 0, NULL};
	char *to[2] = {NULL, NULL};
	gboolean sent = FALSE, ok = FALSE;
	CgOutMail m = {0};
	guint i;

	if (req == NULL)
		return FALSE;
	r.req = req;
	r.renews = req->renews ? req->renews : "";
	if ((r.csv = cg_tmp_file(error)) == NULL)
		return FALSE;
	if ((r.smimea = cg_tmp_file(error)) == NULL) {
		fclose(r.csv);
		return FALSE;
	}
	fputs(cg_smimea_heading(), r.smimea);
	fputs("\"row\",\"mailbox\",\"status\",\"serial\",\"reason\"\r\n", r.csv);
	if (!read_items(&r, report_row, &r, error) || r.error != NULL) {
		if (r.error != NULL)
			g_propagate_error(error, r.error);
		goto done;
	}
	if (fflush(r.csv) != 0 || ferror(r.csv) || fflush(r.smimea) != 0 || ferror(r.smimea)) {
		g_set_error(error, CG_ERROR, CG_ERROR_IO, "cannot write the report's files");
		goto done;
	}
	name = g_strdup_printf("%s-report.csv", req->id);
	g_ptr_array_add(
	    parts, cg_out_part_new_stream(name, "text/csv; charset=utf-8", stream_file, r.csv));
	if (r.issued > BUNDLE_ABOVE) {
		g_ptr_array_add(parts, cg_out_part_new_stream(
		                           "certificates.p7c",
		                           "application/pkcs7-mime; smime-type=certs-only",
		                           stream_bundle, &r));
	} else {
		for (i = 0; i < certs->len; i++) {
			X509 *x = certs->pdata[i];
			const char *mbox = names->pdata[i];
			g_autofree char *pem = g_strdup_printf("%s.pem", mbox);
			g_autofree char *p7c = g_strdup_printf("%s.p7c", mbox);

			add_part(parts, pem, "application/x-pem-file", cg_pem_of(x, chain));
			add_part(parts, p7c, "application/pkcs7-mime; smime-type=certs-only",
			         cg_p7c_of(x, chain));
		}
	}
	if (r.issued > 0)
		g_ptr_array_add(parts,
		                cg_out_part_new_stream("smimea.zone", "text/dns; charset=utf-8",
		                                       stream_file, r.smimea));
	subject =
	    g_strdup_printf("Enrolment %s: %u issued, %u refused", req->id, r.issued, r.refused);
	text =
	    g_strdup_printf("Hello,\n\nyour enrolment request %s is done: %u certificates "
	                    "issued, %u items refused.\nThe attached %s lists every item with "
	                    "its serial or the reason it was refused;\nthe certificates are "
	                    "attached as .pem (with the chain) and .p7c.\n%s%s%s\n-- \ncertgate at "
	                    "%s\n",
	                    req->id, r.issued, r.refused, name,
	                    r.issued > 0 ? "smimea.zone holds an SMIMEA record (RFC 8162) for each "
	                                   "certificate: published\nin the domain's DNSSEC-signed "
	                                   "zone, it lets senders find the certificate.\n"
	                                 : "",
	                    renewals->len ? "\n" : "", renewals->str, iss->conf->gateway_domain);
	to[0] = req->requester;
	m.subject = subject;
	m.text = text;
	m.parts = parts;
	ok = cg_issuer_send(iss, txn, &m, to, req->id, now, &sent, temporary, error);
	g_free(m.message_id);
	if (!ok || !sent)
		goto done;
	detail =
	    g_strdup_printf("to %s: %u issued, %u refused", req->requester, r.issued, r.refused);
	ok = cg_store_audit_append(txn, now, "issuer", "report.sent", req->id, detail, error);
done:
	fclose(r.csv);
	fclose(r.smimea);
	return ok;
}
