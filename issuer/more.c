/*
 * more.c: domain challenges and notices (DESIGN.md 5.2).
 *
 *   challenge  "domain|org|local[|lifetime]": a new token (24 bytes from the
 *              CSPRNG, base64url), only its SHA-256 stored; the RFC 8823
 *              shaped mail to local@domain, Reply-To ChallengeAddress,
 *              S/MIME-signed like all outbound mail
 *   notify     a notice: "domain.validated|domain|org" and "domain.moved|domain|org"
 *              to the contact, "letter|REQUEST" to a letter's sender (what it
 *              did), "org.approved|ID" and "org.rejected|ID" to the contact
 *   renewal    cg_issuer_renewals(): challenges queued DomainRenewal before a
 *              validation expires, once per validation
 * Other job kinds belong to flows not built yet: logged and dropped.
 */
#include "issuer-int.h"
#include "daemon.h"

#include <openssl/x509v3.h>
#include <string.h>
#include <syslog.h>

#define TOKEN_BYTES 24

static gboolean
bad_job(const CgJob *job, GError **error)
{
	g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "%s job %s: malformed id",
	            cg_job_kind_name(job->kind), job->id);
	return FALSE;
}

static char *
challenge_text(const CgConf *conf, const CgOrg *org, const char *domain, const char *address,
               const char *token, gint64 expires, gboolean dispute)
{
	g_autofree char *until = cg_time_iso(expires);
	GString *t = g_string_new(NULL);

	g_string_append_printf(
	    t,
	    "Hello,\n\n"
	    "the certificate authority at %s has been asked to confirm that the\n"
	    "organisation\n\n"
	    "    %s (%s)\n\n"
	    "controls the mail domain %s. When you confirm, this organisation may\n"
	    "obtain S/MIME certificates for addresses at %s.\n\n"
	    "To confirm, reply to this mail from %s and keep its subject line as\n"
	    "it is:\n\n"
	    "    ACME: %s\n\n"
	    "What you write in the reply does not matter. The reply must leave\n"
	    "through the mail servers of %s (SPF or DKIM are checked). This request\n"
	    "is valid until %s and can be used once.\n\n",
	    conf->gateway_domain, org->name, org->org_identifier, domain, domain, address, token,
	    domain, until);
	if (dispute)
		g_string_append_printf(t,
		                       "The domain is at present registered to another "
		                       "organisation; your reply moves it to\n%s, and the other "
		                       "organisation will be told.\n\n",
		                       org->name);
	g_string_append_printf(t,
	                       "If you did not expect this mail or do not agree, do not reply: "
	                       "nothing will\nhappen.\n\n-- \ncertgate at %s\n",
	                       conf->gateway_domain);
	return g_string_free(t, FALSE);
}

/* A fresh token: 24 bytes from the CSPRNG, base64url (32 characters). */
static char *
new_token(GError **error)
{
	guint8 raw[TOKEN_BYTES];
	char *t;

	if (!cg_random_bytes(raw, sizeof(raw), error))
		return NULL;
	t = cg_base64url(raw, sizeof(raw));
	memset(raw, 0, sizeof(raw));
	return t;
}

/* Mails the RFC 8823-shaped message carrying token to c->address and stores
 * c (its hash and the mail's Message-ID; c's other fields set by the
 * caller). *sent FALSE when the MTA refused for good (recorded). */
static gboolean
mail_token(CgIssuer *iss, CgTxn *txn, CgChallenge *c, const char *token, const char *text,
           const char *about, gint64 now, gboolean *sent, gboolean *temporary, GError **error)
{
	g_autofree char *subject = g_strdup_printf("ACME: %s", token);
	char *to[2] = {c->address, NULL};
	CgOutMail m = {0};
	gboolean ok;

	m.subject = subject;
	m.text = text;
	m.reply_to = iss->conf->challenge_address;
	m.extra_header = "Auto-Submitted: auto-generated; type=acme";
	ok = cg_issuer_send(iss, txn, &m, to, about, now, sent, temporary, error);
	if (ok && *sent) {
		cg_sha256(token, strlen(token), c->token_hash);
		c->created = now;
		c->state = CG_CHALLENGE_STATE_PENDING;
		c->message_id = m.message_id;
		ok = cg_store_challenge_put(txn, c, error);
		c->message_id = NULL;
	}
	g_free(m.message_id);
	return ok;
}

static gboolean
run_challenge(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
              GError **error)
{
	g_auto(GStrv) f = g_strsplit(job->id, "|", -1);
	g_autoptr(GError) err = NULL;
	g_autoptr(CgOrg) org = NULL;
	g_autoptr(CgDomain) d = NULL;
	g_autofree char *token = NULL, *address = NULL, *text = NULL;
	g_autofree char *detail = NULL, *until = NULL;
	gint64 lifetime = iss->conf->challenge_lifetime;
	gboolean sent = FALSE, dispute;
	CgChallenge c = {0};

	if (g_strv_length(f) < 3 || g_strv_length(f) > 4 || !cg_policy_postmaster_local(f[2]))
		return bad_job(job, error);
	if (f[3] != NULL) {
		gint64 want = g_ascii_strtoll(f[3], NULL, 10);

		if (want >= 1 && want < lifetime)
			lifetime = want;
	}
	if ((org = cg_store_org_get(iss->store, txn, f[1], error)) == NULL)
		return FALSE;
	d = cg_store_domain_get(iss->store, txn, f[0], &err);
	if (d == NULL && !cg_error_absent(&err, error))
		return FALSE;
	dispute = d != NULL && strcmp(d->org_id, org->id) != 0;
	if ((token = new_token(error)) == NULL)
		return FALSE;
	address = g_strdup_printf("%s@%s", f[2], f[0]);
	text = challenge_text(iss->conf, org, f[0], address, token, now + lifetime, dispute);
	c.kind = CG_CHALLENGE_DOMAIN;
	c.target = f[0];
	c.address = address;
	c.org_id = org->id;
	c.request_id = "";
	c.expires = now + lifetime;
	if (!mail_token(iss, txn, &c, token, text, f[0], now, &sent, temporary, error))
		return FALSE;
	if (!sent) /* refused for good: recorded by cg_issuer_send */
		return TRUE;
	if (d != NULL && !dispute) {
		d->challenged_at = now;
		if (!cg_store_domain_put(txn, d, error))
			return FALSE;
	}
	until = cg_time_iso(c.expires);
	detail = g_strdup_printf("to %s for organisation %s%s, valid until %s", address, org->id,
	                         dispute ? " (dispute)" : "", until);
	cg_log(LOG_INFO, "challenge for %s sent %s", f[0], detail);
	return cg_store_audit_append(txn, now, "issuer", "challenge.sent", f[0], detail, error);
}

/* A held enrolment: a confirmation challenge to the admin who sent it. */
static gboolean
run_confirm(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
            GError **error)
{
	g_autoptr(CgRequest) req = cg_store_request_get(iss->store, txn, job->id, error);
	g_autofree char *token = NULL, *text = NULL, *until = NULL, *sent_at = NULL;
	g_autofree char *detail = NULL;
	/* A random value proving control of a mailbox lives at most 24 hours
	 * (S/MIME BR 3.2.2.2). */
	gint64 lifetime = MIN(iss->conf->challenge_lifetime, 24 * 3600);
	gboolean sent = FALSE;
	CgChallenge c = {0};

	if (req == NULL)
		return FALSE;
	if (req->status != CG_REQUEST_HELD)
		return TRUE;
	if ((token = new_token(error)) == NULL)
		return FALSE;
	until = cg_time_iso(now + lifetime);
	sent_at = cg_time_iso(req->created);
	text = g_strdup_printf(
	    "Hello,\n\nthe certificate authority at %s received an enrolment request from\n"
	    "%s at %s: request %s, %u items. It was not signed, so it is\n"
	    "held until you confirm that you sent it.\n\n"
	    "To confirm, reply to this mail and keep its subject line as it is:\n\n"
	    "    ACME: %s\n\n"
	    "This confirmation is valid until %s and can be used once. If you did not\n"
	    "send the request, do not reply: nothing will be issued.\n\n-- \ncertgate at %s\n",
	    iss->conf->gateway_domain, req->requester, sent_at, req->id, req->n_items, token, until,
	    iss->conf->gateway_domain);
	c.kind = CG_CHALLENGE_CONFIRM;
	c.target = req->id;
	c.address = req->requester;
	c.org_id = req->org_id;
	c.request_id = req->id;
	c.expires = now + lifetime;
	if (!mail_token(iss, txn, &c, token, text, req->id, now, &sent, temporary, error))
		return FALSE;
	if (!sent)
		return TRUE;
	detail = g_strdup_printf("confirmation of %s to %s, valid until %s", req->id,
	                         req->requester, until);
	return cg_store_audit_append(txn, now, "issuer", "challenge.sent", req->id, detail, error);
}

/* "R#i": invites the mailbox of a CSV row without a CSR to answer with one;
 * "R#i|expire|T" (deferred to T, the invitation's expiry): an unanswered
 * invitation settles as refused. Run early (certgate queue flush), it waits
 * again until T. */
static gboolean
run_invite(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
           GError **error)
{
	g_auto(GStrv) f = g_strsplit(job->id, "|", 3);
	g_auto(GStrv) ri = g_strsplit(f[0], "#", 2);
	g_autoptr(CgItem) it = NULL;
	g_autoptr(CgRequest) req = NULL;
	g_autoptr(CgOrg) org = NULL;
	g_autofree char *token = NULL, *text = NULL, *until = NULL, *detail = NULL, *later = NULL;
	gint64 lifetime = iss->conf->invite_lifetime;
	gboolean sent = FALSE;
	CgChallenge c = {0};
	CgJob expire = {0};

	if (ri[1] == NULL)
		return bad_job(job, error);
	if ((it = cg_store_item_get(iss->store, txn, ri[0],
	                            (guint32)g_ascii_strtoull(ri[1], NULL, 10), error)) == NULL)
		return FALSE;
	if (it->status != CG_ITEM_INVITED)
		return TRUE; /* answered (or settled) already */
	if (f[1] != NULL) {
		gint64 at = f[2] ? g_ascii_strtoll(f[2], NULL, 10) : 0;

		if (now < at)
			return cg_store_job_defer(txn, job, at, error);
		return cg_item_refuse(iss, txn, it, "the invitation was not answered in time",
		                      "invite.expire", now, error);
	}
	if ((req = cg_store_request_get(iss->store, txn, ri[0], error)) == NULL ||
	    (org = cg_store_org_get(iss->store, txn, req->org_id, error)) == NULL)
		return FALSE;
	if ((token = new_token(error)) == NULL)
		return FALSE;
	until = cg_time_iso(now + lifetime);
	text = g_strdup_printf(
	    "Hello,\n\n%s, an admin of %s, has asked the certificate authority at\n%s for an "
	    "S/MIME certificate for your address %s.\n\n"
	    "To get it, make a certificate signing request (CSR) for this address, on\n"
	    "your smartcard or with your mail program, and reply to this mail with the\n"
	    "CSR attached (or pasted), keeping the subject line as it is:\n\n"
	    "    ACME: %s\n\n"
	    "Your private key never leaves you. This invitation is valid until %s.\n"
	    "If you did not expect it, do not reply.\n\n-- \ncertgate at %s\n",
	    req->requester, org->name, iss->conf->gateway_domain, it->mailbox, token, until,
	    iss->conf->gateway_domain);
	c.kind = CG_CHALLENGE_INVITE;
	c.target = f[0];
	c.address = it->mailbox;
	c.org_id = org->id;
	c.request_id = req->id;
	c.item = it->index;
	c.expires = now + lifetime;
	if (!mail_token(iss, txn, &c, token, text, f[0], now, &sent, temporary, error))
		return FALSE;
	later = g_strdup_printf("%s|expire|%" G_GINT64_FORMAT, f[0], c.expires + 1);
	expire.kind = CG_JOB_INVITE;
	g_strlcpy(expire.id, later, sizeof(expire.id));
	if (!sent) {
		/* Refused for good by the MTA: the row settles as refused now. */
		return cg_item_refuse(iss, txn, it, "the invitation could not be delivered",
		                      "invite.undeliverable", now, error);
	}
	detail =
	    g_strdup_printf("invitation to %s for %s, valid until %s", it->mailbox, f[0], until);
	return cg_store_job_defer(txn, &expire, c.expires + 1, error) &&
	       cg_store_audit_append(txn, now, "issuer", "challenge.sent", f[0], detail, error);
}

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
	g_autofree char *subject = NULL, *text = NULL, *when = NULL;

	if (c == NULL)
		return FALSE;
	when = cg_time_iso(c->revoked_at);
	subject = g_strdup_printf("Certificate %s revoked", serial);
	text = g_strdup_printf("Hello,\n\nthe certificate %s for %s was revoked at %s (%s).\n"
	                       "The CRL%s%s lists it.%s\n\n-- \ncertgate at %s\n",
	                       serial, c->mailbox, when, cg_crl_reason_name(c->reason),
	                       *iss->conf->crl_url ? " at " : "", iss->conf->crl_url,
	                       c->reason == 1 ? " Its key will never be certified again." : "",
	                       iss->conf->gateway_domain);
	return notice(iss, txn, to, subject, text, NULL, serial, "revocation reply", now, temporary,
	              error);
}

static gboolean notify_domain(CgIssuer *iss, CgTxn *txn, const CgJob *job, char **f, gint64 now,
                              gboolean *temporary, GError **error);

static gboolean
run_notify(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
           GError **error)
{
	g_auto(GStrv) f = g_strsplit(job->id, "|", -1);

	if (g_strv_length(f) == 3 && strcmp(f[0], "revoked") == 0)
		return notify_revoked(iss, txn, f[1], f[2], now, temporary, error);
	if (g_strv_length(f) == 2 && strcmp(f[0], "letter") == 0)
		return notify_letter(iss, txn, f[1], now, temporary, error);
	if (g_strv_length(f) == 2 &&
	    (strcmp(f[0], "org.approved") == 0 || strcmp(f[0], "org.rejected") == 0))
		return notify_org(iss, txn, f[0], f[1], now, temporary, error);
	return notify_domain(iss, txn, job, f, now, temporary, error);
}

static gboolean
notify_domain(CgIssuer *iss, CgTxn *txn, const CgJob *job, char **f, gint64 now,
              gboolean *temporary, GError **error)
{
	g_autoptr(CgOrg) org = NULL;
	g_autoptr(CgDomain) d = NULL;
	g_autofree char *subject = NULL, *text = NULL, *until = NULL, *detail = NULL;

	if (g_strv_length(f) != 3)
		return bad_job(job, error);
	if ((org = cg_store_org_get(iss->store, txn, f[2], error)) == NULL ||
	    (d = cg_store_domain_get(iss->store, txn, f[1], error)) == NULL)
		return FALSE;
	until = cg_time_iso(d->expires_at);
	if (strcmp(f[0], "domain.validated") == 0) {
		subject = g_strdup_printf("Domain %s validated", d->domain);
		text = g_strdup_printf(
		    "Hello,\n\nthe postmaster of %s has confirmed the challenge: the domain is\n"
		    "validated for %s until %s.\nAdmins of the organisation may now enrol "
		    "addresses at %s.\n\n-- \ncertgate at %s\n",
		    d->domain, org->name, until, d->domain, iss->conf->gateway_domain);
	} else if (strcmp(f[0], "domain.moved") == 0) {
		subject = g_strdup_printf("Domain %s moved to another organisation", d->domain);
		text = g_strdup_printf(
		    "Hello,\n\nthe postmaster of %s has answered a challenge for another\n"
		    "organisation: the domain no longer belongs to %s, and certificates\n"
		    "for addresses at %s are no longer issued to it.\n"
		    "If this is wrong, contact the certificate authority.\n\n-- \ncertgate at %s\n",
		    d->domain, org->name, d->domain, iss->conf->gateway_domain);
	} else {
		return bad_job(job, error);
	}
	detail = g_strdup_printf("%s (organisation %s)", f[0], org->id);
	return notice(iss, txn, org->contact, subject, text, NULL, d->domain, detail, now,
	              temporary, error);
}

/* ---- enrolment reports ---- */

/* A CSV cell: quoted when needed, and a leading = + - @ neutralised so
 * that no spreadsheet runs it. */
static void
csv_cell(GString *out, const char *v, gboolean last)
{
	const char *p;

	g_string_append_c(out, '"');
	if (*v == '=' || *v == '+' || *v == '-' || *v == '@')
		g_string_append_c(out, '\'');
	for (p = v; *p; p++) {
		if (*p == '"')
			g_string_append_c(out, '"');
		g_string_append_c(out, *p == '\r' || *p == '\n' ? ' ' : *p);
	}
	g_string_append(out, last ? "\"\r\n" : "\",");
}

typedef struct {
	CgIssuer *iss;
	CgTxn *txn;
	GString *csv;
	GPtrArray *certs; /* X509* issued, in row order */
	guint issued, refused;
	GError *error;
} Report;

static gboolean
report_row(gconstpointer rec, gpointer data)
{
	const CgItem *it = rec;
	Report *r = data;
	g_autofree char *row = g_strdup_printf("%u", it->index);
	const char *status = it->status == CG_ITEM_ISSUED ? "issued" : "refused";

	csv_cell(r->csv, row, FALSE);
	csv_cell(r->csv, it->mailbox, FALSE);
	csv_cell(r->csv, status, FALSE);
	csv_cell(r->csv, it->serial ? it->serial : "", FALSE);
	csv_cell(r->csv, it->reason ? it->reason : "", TRUE);
	if (it->status == CG_ITEM_ISSUED) {
		g_autoptr(CgCert) c =
		    cg_store_cert_get(r->iss->store, r->txn, it->serial, &r->error);
		const unsigned char *p;
		X509 *x;

		if (c == NULL)
			return FALSE;
		p = g_bytes_get_data(c->der, NULL);
		if ((x = d2i_X509(NULL, &p, (long)g_bytes_get_size(c->der))) != NULL)
			g_ptr_array_add(r->certs, x);
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

static gboolean
run_report(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
           GError **error)
{
	g_autoptr(CgRequest) req = cg_store_request_get(iss->store, txn, job->id, error);
	g_autoptr(GPtrArray) certs = g_ptr_array_new_with_free_func(x509_free);
	g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(cg_out_part_free);
	g_autoptr(GString) csv =
	    g_string_new("\"row\",\"mailbox\",\"status\",\"serial\",\"reason\"\r\n");
	g_autofree char *subject = NULL, *text = NULL, *detail = NULL, *name = NULL;
	STACK_OF(X509) *chain = cg_ca_chain(iss->ca);
	Report r = {iss, txn, csv, certs, 0, 0, NULL};
	char *to[2] = {NULL, NULL};
	gboolean sent = FALSE, ok;
	CgOutMail m = {0};
	guint i;

	if (req == NULL)
		return FALSE;
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
			GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
			GENERAL_NAME *g = san ? sk_GENERAL_NAME_value(san, 0) : NULL;
			g_autofree char *mbox =
			    g && g->type == GEN_EMAIL
			        ? g_strndup((const char *)ASN1_STRING_get0_data(g->d.rfc822Name),
			                    (gsize)ASN1_STRING_length(g->d.rfc822Name))
			        : g_strdup_printf("certificate-%u", i + 1);
			g_autofree char *pem = g_strdup_printf("%s.pem", mbox);
			g_autofree char *p7c = g_strdup_printf("%s.p7c", mbox);

			GENERAL_NAMES_free(san);
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
	                    "attached as .pem (with the chain) and .p7c.\n\n-- \ncertgate at %s\n",
	                    req->id, r.issued, r.refused, name, iss->conf->gateway_domain);
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

gboolean
cg_issuer_run_more(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
                   GError **error)
{
	switch (job->kind) {
	case CG_JOB_CHALLENGE:
		return run_challenge(iss, txn, job, now, temporary, error);
	case CG_JOB_NOTIFY:
		return run_notify(iss, txn, job, now, temporary, error);
	case CG_JOB_REPORT:
		return run_report(iss, txn, job, now, temporary, error);
	case CG_JOB_CONFIRM:
		return run_confirm(iss, txn, job, now, temporary, error);
	case CG_JOB_INVITE:
		return run_invite(iss, txn, job, now, temporary, error);
	default:
		cg_log(LOG_ERR,
		       "%s job %s: this kind of job is not handled by this issuer; dropped",
		       cg_job_kind_name(job->kind), job->id);
		return TRUE;
	}
}

/* ---- renewals ---- */

typedef struct {
	gint64 now, window;
	GPtrArray *due; /* CgDomain* to challenge again */
} Renewals;

static gboolean
renewal_due(gconstpointer rec, gpointer data)
{
	const CgDomain *d = rec;
	Renewals *r = data;

	/* Validated, expiring within the window, and not challenged since
	 * the window opened. */
	if (d->status == CG_DOMAIN_VALIDATED && d->expires_at > 0 &&
	    d->expires_at - r->now <= r->window && d->challenged_at < d->expires_at - r->window)
		g_ptr_array_add(r->due, g_strdup(d->domain));
	return TRUE;
}

static gboolean
renew_one(CgTxn *txn, gpointer data, GError **error)
{
	const char *name = ((gpointer *)data)[0];
	const Renewals *r = ((gpointer *)data)[1];
	g_autoptr(CgDomain) d = cg_store_domain_get(cg_txn_store(txn), txn, name, error);
	g_autofree char *job = NULL, *until = NULL, *detail = NULL;

	if (d == NULL)
		return FALSE;
	if (d->challenged_at >= d->expires_at - r->window)
		return TRUE; /* queued meanwhile */
	d->challenged_at = r->now;
	job = g_strdup_printf("%s|%s|%s", d->domain, d->org_id,
	                      *d->local_part ? d->local_part : "postmaster");
	until = cg_time_iso(d->expires_at);
	detail = g_strdup_printf("validation expires %s: challenge queued", until);
	return cg_store_domain_put(txn, d, error) &&
	       cg_store_job_append(txn, CG_JOB_CHALLENGE, job, error) &&
	       cg_store_audit_append(txn, r->now, "issuer", "domain.renew", d->domain, detail,
	                             error);
}

gint
cg_issuer_renewals(CgIssuer *iss, gint64 now, GError **error)
{
	g_autoptr(GPtrArray) due = g_ptr_array_new_with_free_func(g_free);
	Renewals r = {now, iss->conf->domain_renewal, due};
	guint i;

	if (!cg_store_foreach(iss->store, NULL, CG_REC_DOMAIN, renewal_due, &r, error))
		return -1;
	for (i = 0; i < due->len; i++) {
		gpointer args[2] = {due->pdata[i], &r};

		if (!cg_store_transact(iss->store, renew_one, args, error))
			return -1;
		cg_log(LOG_INFO, "domain %s: validation expires soon; challenge queued",
		       (char *)due->pdata[i]);
	}
	return (gint)due->len;
}
