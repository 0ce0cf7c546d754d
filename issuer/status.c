/*
 * status.c: an admin's "Request: status" answered, one job each:
 *   status  REQUEST: to the admin who asked, two CSV attachments: the
 *           organisation's certificates (serial, mailbox, profile,
 *           not-after, status, days left; the columns of
 *           `certgate cert list --json`) and its domains with their
 *           validation's expiry.
 * Never: tells one organisation about another's records.
 */
#include "issuer-int.h"
#include "daemon.h"

#include <string.h>
#include <syslog.h>

typedef struct {
	GString *csv;
	gint64 now;
	guint n;
} Rows;

static gboolean
cert_row(gconstpointer rec, gpointer data)
{
	const CgCert *c = rec;
	Rows *r = data;
	g_autofree char *na = cg_time_iso(c->not_after), *shown = cg_addr_to_unicode(c->mailbox);
	g_autofree char *left = g_strdup_printf(
	    "%" G_GINT64_FORMAT, c->not_after > r->now ? (c->not_after - r->now) / 86400 : 0);

	cg_csv_cell(r->csv, c->serial, FALSE);
	cg_csv_cell(r->csv, shown, FALSE);
	cg_csv_cell(r->csv, c->profile, FALSE);
	cg_csv_cell(r->csv, na, FALSE);
	cg_csv_cell(r->csv, cg_cert_state_name(c, r->now), FALSE);
	cg_csv_cell(r->csv, left, FALSE);
	cg_csv_cell(r->csv, c->renewed_by ? c->renewed_by : "", TRUE);
	r->n++;
	return TRUE;
}

static gboolean
domain_row(gconstpointer rec, gpointer data)
{
	const CgDomain *d = rec;
	Rows *r = data;
	g_autofree char *ex = d->expires_at ? cg_time_iso(d->expires_at) : g_strdup("");
	g_autofree char *shown = cg_domain_to_unicode(d->domain);
	gboolean lapsed = d->status == CG_DOMAIN_VALIDATED && d->expires_at <= r->now;

	cg_csv_cell(r->csv, shown, FALSE);
	cg_csv_cell(r->csv, lapsed ? "expired" : cg_domain_status_name(d->status), FALSE);
	cg_csv_cell(r->csv, ex, TRUE);
	r->n++;
	return TRUE;
}

gboolean
cg_issuer_run_status(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                     gboolean *temporary, GError **error)
{
	g_autoptr(CgRequest) req = cg_store_request_get(iss->store, txn, job->id, error);
	g_autoptr(CgOrg) org = NULL;
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(cg_out_part_free);
	g_autoptr(GString) certs = g_string_new(
	    "\"serial\",\"mailbox\",\"profile\",\"notAfter\",\"status\",\"daysLeft\",\"renewedBy\"\r\n");
	g_autoptr(GString) domains = g_string_new("\"domain\",\"status\",\"expires\"\r\n");
	g_autofree char *subject = NULL, *text = NULL, *detail = NULL, *when = NULL;
	Rows c = {certs, now, 0}, d = {domains, now, 0};
	char *to[2] = {NULL, NULL};
	CgOutMail m = {0};
	gboolean sent = FALSE, ok, was;

	if (req == NULL)
		return FALSE;
	if (req->kind != CG_REQUEST_STATUS || req->status != CG_REQUEST_RECEIVED)
		return TRUE; /* answered before, or not a status request */
	if ((org = cg_store_org_get(iss->store, txn, req->org_id, error)) == NULL)
		return FALSE;
	/* A snapshot taken page by page, each read holding its lock only while
	 * it reads: an organisation's certificates may be more than the lock
	 * table holds. */
	was = cg_store_txn_read_committed(txn, TRUE);
	ok = cg_store_foreach_by(iss->store, txn, CG_INDEX_CERT_BY_ORG, org->id, cert_row, &c,
	                         error) &&
	     cg_store_foreach_by(iss->store, txn, CG_INDEX_DOMAIN_BY_ORG, org->id, domain_row, &d,
	                         error);
	cg_store_txn_read_committed(txn, was);
	if (!ok)
		return FALSE;
	g_ptr_array_add(parts, cg_out_part_new("certificates.csv", "text/csv; charset=utf-8",
	                                       g_bytes_new(certs->str, certs->len)));
	g_ptr_array_add(parts, cg_out_part_new("domains.csv", "text/csv; charset=utf-8",
	                                       g_bytes_new(domains->str, domains->len)));
	when = cg_time_iso(now);
	subject = g_strdup_printf("Status of %s: %u certificates, %u domains", org->name, c.n, d.n);
	text = g_strdup_printf("Hello,\n\nas asked in request %s, the state of %s (%s) at %s:\n\n"
	                       "  certificates.csv  every certificate: serial, mailbox, profile,\n"
	                       "                    not-after, status, days left, renewed by\n"
	                       "  domains.csv       every domain with its validation's expiry\n\n"
	                       "-- \ncertgate at %s\n",
	                       req->id, org->name, org->org_identifier, when,
	                       iss->conf->gateway_domain);
	to[0] = req->requester;
	m.subject = subject;
	m.text = text;
	m.parts = parts;
	ok = cg_issuer_send(iss, txn, &m, to, req->id, now, &sent, temporary, error);
	g_free(m.message_id);
	if (!ok)
		return FALSE;
	req->status = CG_REQUEST_DONE;
	detail = g_strdup_printf("%u certificates, %u domains, to %s%s", c.n, d.n, req->requester,
	                         sent ? "" : " (refused by the MTA)");
	cg_issuer_told(iss, LOG_INFO,
	               g_strdup_printf("status of organisation %s: %s", org->id, detail));
	return cg_store_request_put(txn, req, error) &&
	       cg_store_audit_append(txn, now, "issuer", "status.sent", req->id, detail, error);
}
