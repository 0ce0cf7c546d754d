/*
 * notify.c: notices (DESIGN.md 5.1, 5.2, 5.5), one job each:
 *   "letter|REQUEST"                  what a letter did, to its sender
 *   "org.approved|ID", "org.rejected|ID"  the operator's decision, to the contact
 *   "org.renewed|ID"   approved again on its contact's confirm-organisation letter
 *   "org.confirm|ID"   its validation ends within OrgRenewal: the contact is asked
 *                      for a confirm-organisation letter
 *   "revoked|SERIAL|ADDR"             a revocation by mail, to its sender
 *   "domain.validated|DOMAIN|ORG", "domain.moved|DOMAIN|ORG"  to the contact
 * Never: changes a record; a notice only tells.
 */
#include "issuer-int.h"

#include <string.h>

/* Mails text to one address; audits notice.sent about `about`. */
static gboolean
notice(CgIssuer *iss, CgTxn *txn, const char *to_addr, const char *subject, const char *text,
       const char *in_reply_to, const char *about, const char *what, gint64 now,
       gboolean *temporary, GError **error)
{
	char *to[2] = {(char *)to_addr, NULL};
	gboolean sent = FALSE;
	CgOutMail m = {0};
	g_autofree char *detail = NULL;
	gboolean ok;

	m.subject = subject;
	m.text = text;
	m.in_reply_to = in_reply_to;
	ok = cg_issuer_send(iss, txn, &m, to, about, now, &sent, temporary, error);
	g_free(m.message_id);
	if (!ok || !sent)
		return ok;
	detail = g_strdup_printf("%s to %s", what, to_addr);
	return cg_store_audit_append(txn, now, "issuer", "notice.sent", about, detail, error);
}

/* "letter|REQUEST": what a letter did, to its sender. */
static gboolean
notify_letter(CgIssuer *iss, CgTxn *txn, const char *rid, gint64 now, gboolean *temporary,
              GError **error)
{
	g_autoptr(CgRequest) r = cg_store_request_get(iss->store, txn, rid, error);
	g_autofree char *text = NULL, *subject = NULL;

	if (r == NULL)
		return FALSE;
	subject = g_strdup_printf("Your letter to the CA: request %s", r->id);
	text = g_strdup_printf("Hello,\n\nyour signed letter was received and applied as request "
	                       "%s:\n\n%s\n-- \ncertgate at %s\n",
	                       r->id, r->reason, iss->conf->gateway_domain);
	return notice(iss, txn, r->requester, subject, text, NULL, r->id, "letter reply", now,
	              temporary, error);
}

/* "org.approved|ID" / "org.rejected|ID": the operator's decision, to the contact. */
static gboolean
notify_org(CgIssuer *iss, CgTxn *txn, const char *what, const char *id, gint64 now,
           gboolean *temporary, GError **error)
{
	g_autoptr(CgOrg) org = cg_store_org_get(iss->store, txn, id, error);
	g_autofree char *text = NULL, *subject = NULL;
	gboolean approved = strcmp(what, "org.approved") == 0;

	if (org == NULL)
		return FALSE;
	if (strcmp(what, "org.confirm") == 0 || strcmp(what, "org.renewed") == 0) {
		g_autofree char *until = cg_time_iso(org->validated_at + iss->conf->org_reuse);

		subject = g_strdup_printf(strcmp(what, "org.confirm") == 0
		                              ? "Organisation %s: please confirm it by %s"
		                              : "Organisation %s approved again, until %s",
		                          org->name, until);
		text =
		    strcmp(what, "org.confirm") == 0
		        ? g_strdup_printf(
		              "Hello,\n\nthe CA's validation of %s (%s) as organisation %s "
		              "ends on\n%s. From then on it issues no certificate for it.\n\n"
		              "To keep it, send the CA's request address an S/MIME-signed "
		              "letter with\nthe line\n\n    Request: confirm-organisation\n\n"
		              "(first an update-organisation letter, if its details changed). "
		              "The CA\nthen checks the register again and approves it for "
		              "another period.\n\n-- \ncertgate at %s\n",
		              org->name, org->org_identifier, org->id, until,
		              iss->conf->gateway_domain)
		        : g_strdup_printf("Hello,\n\nthe CA has approved %s (%s) again, as "
		                          "organisation %s: its validation\nruns until %s.\n\n-- "
		                          "\ncertgate at %s\n",
		                          org->name, org->org_identifier, org->id, until,
		                          iss->conf->gateway_domain);
		return notice(iss, txn, org->contact, subject, text, NULL, org->id, what, now,
		              temporary, error);
	}
	subject =
	    g_strdup_printf("Organisation %s %s", org->name, approved ? "approved" : "rejected");
	if (approved)
		text = g_strdup_printf("Hello,\n\nthe CA has approved %s (%s) as organisation "
		                       "%s.\nEach of its domains' "
		                       "postmasters now gets a challenge; admins may "
		                       "enrol\naddresses at a domain once "
		                       "its postmaster has answered.\n\n-- \ncertgate at %s\n",
		                       org->name, org->org_identifier, org->id,
		                       iss->conf->gateway_domain);
	else
		text = g_strdup_printf("Hello,\n\nthe CA has not approved %s (%s): %s\n\n-- "
		                       "\ncertgate at %s\n",
		                       org->name, org->org_identifier, org->reason,
		                       iss->conf->gateway_domain);
	return notice(iss, txn, org->contact, subject, text, NULL, org->id, what, now, temporary,
	              error);
}

/* "revoked|SERIAL|ADDR": the revocation by mail, confirmed to its sender. */
static gboolean
notify_revoked(CgIssuer *iss, CgTxn *txn, const char *serial, const char *to, gint64 now,
               gboolean *temporary, GError **error)
{
	g_autoptr(CgCert) c = cg_store_cert_get(iss->store, txn, serial, error);
	g_autofree char *subject = NULL, *text = NULL, *when = NULL, *shown = NULL;

	if (c == NULL)
		return FALSE;
	when = cg_time_iso(c->revoked_at);
	shown = cg_addr_to_unicode(c->mailbox);
	subject = g_strdup_printf("Certificate %s revoked", serial);
	text = g_strdup_printf("Hello,\n\nthe certificate %s for %s was revoked at %s (%s).\n"
	                       "The CRL%s%s lists it.%s\n\n-- \ncertgate at %s\n",
	                       serial, shown, when, cg_crl_reason_name(c->reason),
	                       *iss->conf->crl_url ? " at " : "", iss->conf->crl_url,
	                       c->reason == 1 ? " Its key will never be certified again." : "",
	                       iss->conf->gateway_domain);
	return notice(iss, txn, to, subject, text, NULL, serial, "revocation reply", now, temporary,
	              error);
}

static gboolean
notify_domain(CgIssuer *iss, CgTxn *txn, const CgJob *job, char **f, gint64 now,
              gboolean *temporary, GError **error)
{
	g_autoptr(CgOrg) org = NULL;
	g_autoptr(CgDomain) d = NULL;
	g_autofree char *subject = NULL, *text = NULL, *until = NULL, *detail = NULL;
	g_autofree char *shown = NULL, *u_domain = NULL;

	if (g_strv_length(f) != 3)
		return cg_job_malformed(job, error);
	if ((org = cg_store_org_get(iss->store, txn, f[2], error)) == NULL ||
	    (d = cg_store_domain_get(iss->store, txn, f[1], error)) == NULL)
		return FALSE;
	until = cg_time_iso(d->expires_at);
	shown = cg_domain_display(d->domain);
	u_domain = cg_domain_to_unicode(d->domain);
	if (strcmp(f[0], "domain.validated") == 0) {
		subject = g_strdup_printf("Domain %s validated", u_domain);
		text = g_strdup_printf(
		    "Hello,\n\nthe postmaster of %s has confirmed the challenge: the domain is\n"
		    "validated for %s until %s.\nAdmins of the organisation may now enrol "
		    "addresses at %s.\n\n-- \ncertgate at %s\n",
		    shown, org->name, until, u_domain, iss->conf->gateway_domain);
	} else if (strcmp(f[0], "domain.moved") == 0) {
		subject = g_strdup_printf("Domain %s moved to another organisation", u_domain);
		text = g_strdup_printf(
		    "Hello,\n\nthe postmaster of %s has answered a challenge for another\n"
		    "organisation: the domain no longer belongs to %s, and certificates\n"
		    "for addresses at %s are no longer issued to it.\n"
		    "If this is wrong, contact the certificate authority.\n\n-- \ncertgate at %s\n",
		    shown, org->name, u_domain, iss->conf->gateway_domain);
	} else {
		return cg_job_malformed(job, error);
	}
	detail = g_strdup_printf("%s (organisation %s)", f[0], org->id);
	return notice(iss, txn, org->contact, subject, text, NULL, d->domain, detail, now,
	              temporary, error);
}

gboolean
cg_issuer_run_notify(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
           GError **error)
{
	g_auto(GStrv) f = g_strsplit(job->id, "|", -1);

	if (g_strv_length(f) == 3 && strcmp(f[0], "revoked") == 0)
		return notify_revoked(iss, txn, f[1], f[2], now, temporary, error);
	if (g_strv_length(f) == 2 && strcmp(f[0], "letter") == 0)
		return notify_letter(iss, txn, f[1], now, temporary, error);
	if (g_strv_length(f) == 2 &&
	    (strcmp(f[0], "org.approved") == 0 || strcmp(f[0], "org.rejected") == 0 ||
	     strcmp(f[0], "org.confirm") == 0 || strcmp(f[0], "org.renewed") == 0))
		return notify_org(iss, txn, f[0], f[1], now, temporary, error);
	return notify_domain(iss, txn, job, f, now, temporary, error);
}
