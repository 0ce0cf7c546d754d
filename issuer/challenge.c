/*
 * challenge.c: challenges the issuer mails (DESIGN.md 5.2, 5.3).
 *
 *   challenge  "domain|org|local[|lifetime]": a domain challenge, RFC 8823
 *              shaped, to local@domain, Reply-To ChallengeAddress
 *   confirm    "REQUEST": a held enrolment's confirmation to its admin
 *   renewal    cg_issuer_renewals(): challenges queued DomainRenewal before a
 *              validation expires, once per validation
 * Every token is 24 bytes from the CSPRNG, base64url; only its SHA-256 is
 * stored. The mail is S/MIME-signed like all outbound mail.
 * Never: keeps a token in clear once the mail is handed to the MTA.
 */
#include "issuer-int.h"
#include "daemon.h"

#include <string.h>
#include <syslog.h>

#define TOKEN_BYTES 24

GString *
cg_issuer_challenge_opening(const CgConf *conf, const CgOrg *org, const char *domain)
{
	g_autofree char *shown = cg_domain_display(domain);
	g_autofree char *u_domain = cg_domain_to_unicode(domain);
	GString *t = g_string_new(NULL);

	g_string_append_printf(t,
	                       "Hello,\n\n"
	                       "the certificate authority at %s has been asked to confirm that "
	                       "the\norganisation\n\n"
	                       "    %s (%s)\n\n"
	                       "controls the mail domain %s. When you confirm, this organisation "
	                       "may\nobtain S/MIME certificates for addresses at %s.\n\n",
	                       conf->gateway_domain, org->name, org->org_identifier, shown,
	                       u_domain);
	return t;
}

static char *
challenge_text(const CgConf *conf, const CgOrg *org, const char *domain, const char *address,
               const char *token, gint64 expires, gboolean dispute)
{
	g_autofree char *until = cg_time_iso(expires);
	g_autofree char *u_domain = cg_domain_to_unicode(domain);
	g_autofree char *u_address = cg_addr_to_unicode(address);
	GString *t = cg_issuer_challenge_opening(conf, org, domain);

	g_string_append_printf(
	    t,
	    "To confirm, reply to this mail from %s and keep its subject line as\n"
	    "it is:\n\n"
	    "    ACME: %s\n\n"
	    "What you write in the reply does not matter. The reply must leave\n"
	    "through the mail servers of %s (SPF or DKIM are checked). This request\n"
	    "is valid until %s and can be used once.\n\n",
	    u_address, token, u_domain, until);
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
char *
cg_issuer_new_token(GError **error)
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
gboolean
cg_issuer_mail_token(CgIssuer *iss, CgTxn *txn, CgChallenge *c, const char *token, const char *text,
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

gboolean
cg_issuer_run_challenge(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
              GError **error)
{
	g_auto(GStrv) f = g_strsplit(job->id, "|", -1);
	g_autoptr(GError) err = NULL;
	g_autoptr(CgOrg) org = NULL;
	g_autoptr(CgDomain) d = NULL;
	g_autofree char *token = NULL, *address = NULL, *text = NULL;
	g_autofree char *detail = NULL, *until = NULL, *why = NULL;
	gint64 lifetime = iss->conf->challenge_lifetime;
	gboolean sent = FALSE, dispute, dns;
	CgChallenge c = {0};

	if (g_strv_length(f) < 3 || g_strv_length(f) > 4)
		return cg_job_malformed(job, error);
	dns = strcmp(f[2], CG_DNS_CHALLENGE) == 0;
	if (!dns && !cg_policy_postmaster_local(f[2]))
		return cg_job_malformed(job, error);
	if (f[3] != NULL) {
		gint64 want = g_ascii_strtoll(f[3], NULL, 10);

		if (want >= 1 && want < lifetime)
			lifetime = want;
	}
	/* None is sent by a method the trust model forbids (recorded; the job
	 * is done). */
	why = cg_policy_domain_method(dns ? CG_METHOD_DNS : CG_METHOD_EMAIL,
	                              cg_conf_public_trust(iss->conf), now);
	if (why != NULL) {
		cg_log(LOG_WARNING, "challenge for %s not sent: %s", f[0], why);
		return cg_store_audit_append(txn, now, "issuer", "challenge.refused", f[0], why,
		                             error);
	}
	if ((org = cg_store_org_get(iss->store, txn, f[1], error)) == NULL)
		return FALSE;
	d = cg_store_domain_get(iss->store, txn, f[0], &err);
	if (d == NULL && !cg_error_absent(&err, error))
		return FALSE;
	dispute = d != NULL && strcmp(d->org_id, org->id) != 0;
	if (dns) {
		if (!cg_issuer_dns_challenge(iss, txn, org, f[0], dispute, lifetime, now, &sent,
		                             temporary, error))
			return FALSE;
		address = g_strdup_printf("%s (DNS change, TXT %s.%s)", org->contact,
		                          CG_DNS_CHALLENGE_LABEL, f[0]);
		goto sent;
	}
	if ((token = cg_issuer_new_token(error)) == NULL)
		return FALSE;
	address = g_strdup_printf("%s@%s", f[2], f[0]);
	text = challenge_text(iss->conf, org, f[0], address, token, now + lifetime, dispute);
	c.kind = CG_CHALLENGE_DOMAIN;
	c.target = f[0];
	c.address = address;
	c.org_id = org->id;
	c.request_id = "";
	c.expires = now + lifetime;
	if (!cg_issuer_mail_token(iss, txn, &c, token, text, f[0], now, &sent, temporary, error))
		return FALSE;
sent:
	if (!sent) /* refused for good: recorded by cg_issuer_send */
		return TRUE;
	if (d != NULL && !dispute) {
		d->challenged_at = now;
		if (!cg_store_domain_put(txn, d, error))
			return FALSE;
	}
	until = cg_time_iso(now + lifetime);
	detail = g_strdup_printf("to %s for organisation %s%s, valid until %s", address, org->id,
	                         dispute ? " (dispute)" : "", until);
	cg_issuer_told(iss, LOG_INFO, g_strdup_printf("challenge for %s sent %s", f[0], detail));
	return cg_store_audit_append(txn, now, "issuer", "challenge.sent", f[0], detail, error);
}

/* A held enrolment: a confirmation challenge to the admin who sent it. */
gboolean
cg_issuer_run_confirm(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
            GError **error)
{
	g_autoptr(CgRequest) req = cg_store_request_get(iss->store, txn, job->id, error);
	g_autofree char *token = NULL, *text = NULL, *until = NULL, *sent_at = NULL;
	g_autofree char *detail = NULL, *items = NULL;
	/* A random value proving control of a mailbox lives at most 24 hours
	 * (S/MIME BR 3.2.2.2). */
	gint64 lifetime = MIN(iss->conf->challenge_lifetime, 24 * 3600);
	gboolean sent = FALSE;
	CgChallenge c = {0};

	if (req == NULL)
		return FALSE;
	if (req->status != CG_REQUEST_HELD)
		return TRUE;
	if ((token = cg_issuer_new_token(error)) == NULL)
		return FALSE;
	until = cg_time_iso(now + lifetime);
	sent_at = cg_time_iso(req->created);
	items = req->kind == CG_REQUEST_STATUS ? g_strdup("")
	                                       : g_strdup_printf(", %u items", req->n_items);
	text = g_strdup_printf(
	    "Hello,\n\nthe certificate authority at %s received %s from\n"
	    "%s at %s: request %s%s. It was not signed, so it is\n"
	    "held until you confirm that you sent it.\n\n"
	    "To confirm, reply to this mail and keep its subject line as it is:\n\n"
	    "    ACME: %s\n\n"
	    "This confirmation is valid until %s and can be used once. If you did not\n"
	    "send the request, do not reply: nothing will be issued.\n\n-- \ncertgate at %s\n",
	    iss->conf->gateway_domain,
	    req->kind == CG_REQUEST_STATUS ? "a request for the status of its certificates"
	                                   : "an enrolment request",
	    req->requester, sent_at, req->id, items, token, until, iss->conf->gateway_domain);
	c.kind = CG_CHALLENGE_CONFIRM;
	c.target = req->id;
	c.address = req->requester;
	c.org_id = req->org_id;
	c.request_id = req->id;
	c.expires = now + lifetime;
	if (!cg_issuer_mail_token(iss, txn, &c, token, text, req->id, now, &sent, temporary, error))
		return FALSE;
	if (!sent)
		return TRUE;
	detail = g_strdup_printf("confirmation of %s to %s, valid until %s", req->id,
	                         req->requester, until);
	return cg_store_audit_append(txn, now, "issuer", "challenge.sent", req->id, detail, error);
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

/* ---- organisations: OrgReuse ---- */

typedef struct {
	gint64 now, reuse, window;
	GPtrArray *due; /* ids */
} OrgRenewals;

static gboolean
org_due(const CgOrg *o, gint64 now, gint64 reuse, gint64 window)
{
	gint64 ends = o->validated_at + reuse;

	/* Active, within the window, and not asked since this validation. */
	return o->status == CG_ORG_ACTIVE && o->validated_at > 0 && ends - now <= window &&
	       o->confirm_request == NULL && o->confirm_asked_at < o->validated_at;
}

static gboolean
org_renewal_due(gconstpointer rec, gpointer data)
{
	OrgRenewals *r = data;

	if (org_due(rec, r->now, r->reuse, r->window))
		g_ptr_array_add(r->due, g_strdup(((const CgOrg *)rec)->id));
	return TRUE;
}

static gboolean
ask_org(CgTxn *txn, gpointer data, GError **error)
{
	const char *id = ((gpointer *)data)[0];
	const OrgRenewals *r = ((gpointer *)data)[1];
	g_autoptr(CgOrg) o = cg_store_org_get(cg_txn_store(txn), txn, id, error);
	g_autofree char *job = NULL, *until = NULL, *detail = NULL;

	if (o == NULL)
		return FALSE;
	if (!org_due(o, r->now, r->reuse, r->window))
		return TRUE; /* answered or asked meanwhile */
	o->confirm_asked_at = r->now;
	job = g_strdup_printf("org.confirm|%s", o->id);
	until = cg_time_iso(o->validated_at + r->reuse);
	detail = g_strdup_printf("validation ends %s: %s asked for a confirm-organisation letter",
	                         until, o->contact);
	return cg_store_org_put(txn, o, error) &&
	       cg_store_job_append(txn, CG_JOB_NOTIFY, job, error) &&
	       cg_store_audit_append(txn, r->now, "issuer", "org.confirm-asked", o->id, detail,
	                             error);
}

gint
cg_issuer_org_renewals(CgIssuer *iss, gint64 now, GError **error)
{
	g_autoptr(GPtrArray) due = g_ptr_array_new_with_free_func(g_free);
	OrgRenewals r = {now, iss->conf->org_reuse, iss->conf->org_renewal, due};
	guint i;

	if (!cg_store_foreach(iss->store, NULL, CG_REC_ORG, org_renewal_due, &r, error))
		return -1;
	for (i = 0; i < due->len; i++) {
		gpointer args[2] = {due->pdata[i], &r};

		if (!cg_store_transact(iss->store, ask_org, args, error))
			return -1;
		cg_log(LOG_INFO,
		       "organisation %s: validation ends soon; its contact is asked to "
		       "confirm it",
		       (char *)due->pdata[i]);
	}
	return (gint)due->len;
}
