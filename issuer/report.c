/*
 * report.c: the one report an enrolment by mail gets when its last item is
 * settled: a CSV (row, mailbox, status, serial, reason; formulas
 * neutralised) and the certificates as .pem and .p7c (above 50, one .p7c
 * bundle of all of them).
 * Never: writes a cell a spreadsheet would run.
 */
#include "issuer-int.h"

#include <openssl/x509v3.h>
#include <string.h>

typedef struct {
	CgIssuer *iss;
	CgTxn *txn;
	GString *csv;
	GPtrArray *certs; /* X509* issued, in row order */
	GPtrArray *names; /* their mailboxes, for people (U-labels) */
	const char *renews; /* the request's, "" when none */
	GString *renewals;  /* a line for each certificate that renews one */
	guint issued, refused;
	GError *error;
} Report;

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

static gboolean
report_row(gconstpointer rec, gpointer data)
{
	const CgItem *it = rec;
	Report *r = data;
	g_autofree char *row = g_strdup_printf("%u", it->index);
	g_autofree char *shown = cg_addr_to_unicode(it->mailbox);
	const char *status = it->status == CG_ITEM_ISSUED ? "issued" : "refused";

	cg_csv_cell(r->csv, row, FALSE);
	cg_csv_cell(r->csv, shown, FALSE);
	cg_csv_cell(r->csv, status, FALSE);
	cg_csv_cell(r->csv, it->serial ? it->serial : "", FALSE);
	cg_csv_cell(r->csv, it->reason ? it->reason : "", TRUE);
	if (it->status == CG_ITEM_ISSUED) {
		g_autoptr(CgCert) c =
		    cg_store_cert_get(r->iss->store, r->txn, it->serial, &r->error);
		const unsigned char *p;
		X509 *x;

		if (c == NULL)
			return FALSE;
		p = g_bytes_get_data(c->der, NULL);
		if (*r->renews && !renewal_line(r, it))
			return FALSE;
		if ((x = d2i_X509(NULL, &p, (long)g_bytes_get_size(c->der))) != NULL) {
			g_ptr_array_add(r->certs, x);
			g_ptr_array_add(r->names, g_steal_pointer(&shown));
		}
		r->issued++;
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

#define BUNDLE_ABOVE 50

/* Adds an attachment, taking data. */
static void
add_part(GPtrArray *parts, const char *name, const char *type, GBytes *data)
{
	g_ptr_array_add(parts, cg_out_part_new(name, type, data));
	g_bytes_unref(data);
}

gboolean
cg_issuer_run_report(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
           GError **error)
{
	g_autoptr(CgRequest) req = cg_store_request_get(iss->store, txn, job->id, error);
	g_autoptr(GPtrArray) certs = g_ptr_array_new_with_free_func(x509_free);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(cg_out_part_free);
	g_autoptr(GString) csv =
	    g_string_new("\"row\",\"mailbox\",\"status\",\"serial\",\"reason\"\r\n");
	g_autofree char *subject = NULL, *text = NULL, *detail = NULL, *name = NULL;
	STACK_OF(X509) *chain = cg_ca_chain(iss->ca);
	g_autoptr(GString) renewals = g_string_new(NULL);
	Report r = {iss, txn, csv, certs, names, "", renewals, 0, 0, NULL};
	char *to[2] = {NULL, NULL};
	gboolean sent = FALSE, ok;
	CgOutMail m = {0};
	guint i;

	if (req == NULL)
		return FALSE;
	r.renews = req->renews ? req->renews : "";
	if (!cg_store_foreach_by(iss->store, txn, CG_INDEX_ITEM_BY_REQUEST, req->id, report_row, &r,
	                         error) ||
	    r.error != NULL) {
		if (r.error != NULL)
			g_propagate_error(error, r.error);
		return FALSE;
	}
	name = g_strdup_printf("%s-report.csv", req->id);
	add_part(parts, name, "text/csv; charset=utf-8", g_bytes_new(csv->str, csv->len));
	if (certs->len > BUNDLE_ABOVE) {
		STACK_OF(X509) *rest = sk_X509_new_null();

		for (i = 1; i < certs->len; i++)
			sk_X509_push(rest, certs->pdata[i]);
		for (i = 0; i < (guint)sk_X509_num(chain); i++)
			sk_X509_push(rest, sk_X509_value(chain, i));
		add_part(parts, "certificates.p7c", "application/pkcs7-mime; smime-type=certs-only",
		         cg_p7c_of(certs->pdata[0], rest));
		sk_X509_free(rest);
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
	subject =
	    g_strdup_printf("Enrolment %s: %u issued, %u refused", req->id, r.issued, r.refused);
	text =
	    g_strdup_printf("Hello,\n\nyour enrolment request %s is done: %u certificates "
	                    "issued, %u items refused.\nThe attached %s lists every item with "
	                    "its serial or the reason it was refused;\nthe certificates are "
	                    "attached as .pem (with the chain) and .p7c.\n%s%s\n-- \ncertgate at "
	                    "%s\n",
	                    req->id, r.issued, r.refused, name, renewals->len ? "\n" : "",
	                    renewals->str, iss->conf->gateway_domain);
	to[0] = req->requester;
	m.subject = subject;
	m.text = text;
	m.parts = parts;
	ok = cg_issuer_send(iss, txn, &m, to, req->id, now, &sent, temporary, error);
	g_free(m.message_id);
	if (!ok || !sent)
		return ok;
	detail =
	    g_strdup_printf("to %s: %u issued, %u refused", req->requester, r.issued, r.refused);
	return cg_store_audit_append(txn, now, "issuer", "report.sent", req->id, detail, error);
}
