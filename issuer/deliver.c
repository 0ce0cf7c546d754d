/*
 * deliver.c: a certificate mailed to its subject (an operator request, or
 * DeliverToSubject): a short summary, the certificate and its chain (PEM, or
 * DER .cer), a .p7c bundle that mail clients import, and its SMIMEA record
 * (RFC 8162) for the domain's DNS.
 * Never: sends a key; only certificates.
 */
#include "issuer-int.h"
#include "daemon.h"

#include <string.h>
#include <syslog.h>

static char *
delivery_text(const CgCert *c, X509 *x, const CgRequest *req, const CgOrg *org)
{
	g_autofree char *nb = cg_time_iso(c->not_before), *na = cg_time_iso(c->not_after);
	g_autofree char *subj = cg_x509_name_text(X509_get_subject_name(x));
	g_autofree char *shown = cg_addr_to_unicode(c->mailbox);
	char *text =
	    g_strdup_printf("Your S/MIME certificate has been issued.\n\n"
	                    "  Mailbox:       %s\n"
	                    "  Organisation:  %s (%s)\n"
	                    "  Subject:       %s\n"
	                    "  Serial:        %s\n"
	                    "  Valid:         %s to %s\n"
	                    "  Profile:       %s\n"
	                    "  Request:       %s#%u\n\n"
	                    "Attached are the certificate with its chain (PEM or DER) and a .p7c\n"
	                    "bundle that mail clients import. Install the certificate in the mail\n"
	                    "client or on the smartcard that holds its private key.\n"
	                    "smimea.zone holds its SMIMEA record (RFC 8162): published in the\n"
	                    "domain's DNSSEC-signed zone, it lets senders find the certificate.\n\n"
	                    "To revoke it, send a signed mail with \"Serial: %s\" and\n"
	                    "\"Reason: keyCompromise\" (or superseded, affiliationChanged,\n"
	                    "cessationOfOperation) to the gateway's revocation address.\n",
	                    shown, org->name, org->org_identifier, subj, c->serial, nb, na,
	                    c->profile, c->request_id, c->item, c->serial);

	(void)req;
	return text;
}

gboolean
cg_issuer_deliver(CgIssuer *iss, CgTxn *txn, const char *serial, gint64 now, gboolean *temporary,
                  GError **error)
{
	g_autoptr(CgCert) c = cg_store_cert_get(iss->store, txn, serial, error);
	g_autoptr(CgRequest) req = NULL;
	g_autoptr(CgOrg) org = NULL;
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(cg_out_part_free);
	g_autoptr(GPtrArray) to = g_ptr_array_new();
	g_autoptr(GBytes) p7c = NULL, body = NULL;
	g_autofree char *text = NULL, *subject = NULL, *fname = NULL, *p7name = NULL;
	g_autofree char *shown = NULL;
	X509 *x;
	gboolean der, ok, sent = FALSE;
	CgOutMail m = {0};

	if (c == NULL ||
	    (req = cg_store_request_get(iss->store, txn, c->request_id, error)) == NULL ||
	    (org = cg_store_org_get(iss->store, txn, c->org_id, error)) == NULL)
		return FALSE;
	if (req->kind == CG_REQUEST_ENROLL && !iss->conf->deliver_to_subject)
		return TRUE; /* queued before a reload turned DeliverToSubject off */
	x = cg_x509_read(g_bytes_get_data(c->der, NULL), g_bytes_get_size(c->der));
	if (x == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "certificate %s does not decode",
		            serial);
		return FALSE;
	}
	der = g_strcmp0(req->format, "der") == 0;
	body = der ? g_bytes_ref(c->der) : cg_pem_of(x, cg_ca_chain(iss->ca));
	p7c = cg_p7c_of(x, cg_ca_chain(iss->ca));
	shown = cg_addr_to_unicode(c->mailbox);
	fname = g_strdup_printf("%s.%s", shown, der ? "cer" : "pem");
	p7name = g_strdup_printf("%s.p7c", shown);
	g_ptr_array_add(
	    parts,
	    cg_out_part_new(fname, der ? "application/pkix-cert" : "application/x-pem-file", body));
	g_ptr_array_add(
	    parts, cg_out_part_new(p7name, "application/pkcs7-mime; smime-type=certs-only", p7c));
	{
		g_autofree char *rr = cg_smimea_record(c->mailbox, c->der);

		if (rr != NULL) {
			char *zone = g_strconcat(cg_smimea_heading(), rr, NULL);
			g_autoptr(GBytes) b = g_bytes_new_take(zone, strlen(zone));

			g_ptr_array_add(
			    parts, cg_out_part_new("smimea.zone", "text/dns; charset=utf-8", b));
		}
	}
	text = delivery_text(c, x, req, org);
	X509_free(x);
	subject = g_strdup_printf("Your S/MIME certificate for %s (serial %s)", shown, serial);
	/* The subject (an operator request, or DeliverToSubject): the admin
	 * of an enrolment gets every certificate in the request's report. */
	g_ptr_array_add(to, c->mailbox);
	g_ptr_array_add(to, NULL);
	m.subject = subject;
	m.text = text;
	m.parts = parts;
	ok = cg_issuer_send(iss, txn, &m, (char **)to->pdata, serial, now, &sent, temporary, error);
	g_free(m.message_id);
	if (!ok || !sent)
		return ok;
	{
		g_autofree char *who = g_strjoinv(", ", (char **)to->pdata);

		cg_issuer_told(iss, LOG_INFO, g_strdup_printf("delivered %s to %s", serial, who));
		return cg_store_audit_append(txn, now, "issuer", "cert.deliver", serial, who,
		                             error);
	}
}
