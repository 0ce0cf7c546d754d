/*
 * dnschallenge.c: domain validation by DNS change (TLS BR 3.2.2.4.7, the
 * method S/MIME BR 3.2.2.1 keeps when the e-mail method ends).
 *
 * The challenge job (a domain whose challenge is CG_DNS_CHALLENGE) makes a
 * random value (24 bytes from the CSPRNG, base64url: 192 bits, the BR ask
 * for 112 at least), stores only its SHA-256 (a challenge record of kind
 * CG_CHALLENGE_DNS, valid for ChallengeLifetime) and mails the
 * organisation's contact, S/MIME-signed, the record to publish:
 *
 *     _certgate-challenge.DOMAIN. IN TXT "VALUE"
 *
 * A dnscheck job then looks for it, DNSSEC-validated (dns.c), a minute
 * later and again with back-off (doubling, at most an hour apart) until
 * the value is found or the challenge expires; a reply to the mail (keeping
 * its subject) or `certgate domain check` asks for a look at once. A TXT
 * record that holds the value (a CNAME on the way is followed, and its
 * target recorded) validates the domain: method dns-change, both rules'
 * versions, and the evidence (the name asked, every TXT string found, the
 * canonical name, the DNSSEC status, the time and the attempt) kept as an
 * evidence file and in the audit entry. A bogus answer counts as not found
 * (and is logged): nothing is validated on it.
 * Never: stores the value itself; validates on an answer that failed DNSSEC.
 */
#include "issuer-int.h"
#include "daemon.h"

#include <string.h>
#include <syslog.h>

#define TXT_TYPE       16
#define FIRST_CHECK    60
#define MAX_CHECK_WAIT 3600
#define RULE_VERSION   "S/MIME BR 1.0.16 3.2.2.1; TLS BR 2.2.6 3.2.2.4.7"

static char *
instruction(const CgConf *conf, const CgOrg *org, const char *domain, const char *value,
            gint64 expires, gboolean dispute)
{
	g_autofree char *until = cg_time_iso(expires);
	GString *t = cg_issuer_challenge_opening(conf, org, domain);

	g_string_append_printf(
	    t,
	    "To confirm, publish this record in the domain's DNS (a CNAME at that\n"
	    "name pointing to a TXT record elsewhere does as well):\n\n"
	    "    %s.%s. IN TXT \"%s\"\n\n"
	    "until %s. The CA looks for it a minute from now and then again, less\n"
	    "often as time passes; to have it looked for at once, reply to this mail\n"
	    "and keep its subject line. Once the domain is validated you may remove\n"
	    "the record.\n\n",
	    CG_DNS_CHALLENGE_LABEL, domain, value, until);
	if (dispute)
		g_string_append_printf(t,
		                       "The domain is at present registered to another "
		                       "organisation; validating it moves it to\n%s, and the other "
		                       "organisation will be told.\n\n",
		                       org->name);
	g_string_append_printf(t,
	                       "If you did not expect this mail, do not publish anything: nothing "
	                       "will happen.\n\n-- \ncertgate at %s\n",
	                       conf->gateway_domain);
	return g_string_free(t, FALSE);
}

static gboolean
schedule_check(CgTxn *txn, const char *domain, const guint8 hash[32], const char *attempt,
               gint64 due, GError **error)
{
	g_autofree char *hex = cg_hex(hash, 32);
	g_autofree char *id = g_strdup_printf("%s|%s|%s", domain, hex, attempt);

	return cg_store_job_schedule(txn, CG_JOB_DNSCHECK, id, due, error);
}

gboolean
cg_issuer_dns_challenge(CgIssuer *iss, CgTxn *txn, const CgOrg *org, const char *domain,
                        gboolean dispute, gint64 lifetime, gint64 now, gboolean *sent,
                        gboolean *temporary, GError **error)
{
	g_autofree char *value = NULL, *text = NULL;
	CgChallenge c = {0};

	*sent = FALSE;
	if ((value = cg_issuer_new_token(error)) == NULL)
		return FALSE;
	text = instruction(iss->conf, org, domain, value, now + lifetime, dispute);
	c.kind = CG_CHALLENGE_DNS;
	c.target = (char *)domain;
	c.address = org->contact;
	c.org_id = org->id;
	c.request_id = "";
	c.expires = now + lifetime;
	if (!cg_issuer_mail_token(iss, txn, &c, value, text, domain, now, sent, temporary, error))
		return FALSE;
	if (!*sent)
		return TRUE;
	return schedule_check(txn, domain, c.token_hash, "1", now + FIRST_CHECK, error);
}

/* The TXT strings of one record, concatenated (RFC 1035 3.3.14: a record's
 * text is its strings one after another); NULL when the rdata is broken. */
static char *
txt_text(GBytes *rdata)
{
	gsize len, i = 0;
	const guint8 *d = g_bytes_get_data(rdata, &len);
	GString *s = g_string_new(NULL);

	while (i < len) {
		gsize n = d[i++];

		if (i + n > len) {
			g_string_free(s, TRUE);
			return NULL;
		}
		g_string_append_len(s, (const char *)d + i, (gssize)n);
		i += n;
	}
	return g_string_free(s, FALSE);
}

/* The domain validated by c, with the evidence of the lookup. */
static gboolean
validate(CgIssuer *iss, CgTxn *txn, CgChallenge *c, const char *evidence_text, gint64 now,
         GError **error)
{
	CgStore *store = cg_txn_store(txn);
	g_autoptr(GError) err = NULL;
	g_autoptr(CgDomain) old = cg_store_domain_get(store, txn, c->target, &err);
	g_autofree char *evidence = NULL, *until = NULL, *detail = NULL, *note = NULL;
	g_autofree char *moved_note = NULL;
	CgDomain d;
	gboolean moved;

	if (old == NULL && !cg_error_absent(&err, error))
		return FALSE;
	evidence = cg_store_evidence_put(store, evidence_text, strlen(evidence_text), error);
	if (evidence == NULL)
		return FALSE;
	moved = cg_domain_fill_validated(&d, old, c->target, c->org_id, CG_METHOD_DNS, RULE_VERSION,
	                                 evidence, CG_DNS_CHALLENGE, now, iss->conf->domain_reuse);
	c->state = CG_CHALLENGE_STATE_USED;
	note = g_strdup_printf("domain.validated|%s|%s", d.domain, d.org_id);
	if (!cg_store_domain_put(txn, &d, error) || !cg_store_challenge_put(txn, c, error) ||
	    !cg_store_job_append(txn, CG_JOB_NOTIFY, note, error))
		return FALSE;
	if (moved) {
		moved_note = g_strdup_printf("domain.moved|%s|%s", d.domain, old->org_id);
		if (!cg_store_job_append(txn, CG_JOB_NOTIFY, moved_note, error))
			return FALSE;
	}
	until = cg_time_iso(d.expires_at);
	detail = g_strdup_printf("%s (%s) for organisation %s%s%s, valid until %s; %s; evidence %s",
	                         CG_METHOD_DNS, RULE_VERSION, d.org_id,
	                         moved ? ", moved from organisation " : "",
	                         moved ? old->org_id : "", until, evidence_text, evidence);
	g_strdelimit(detail, "\n", ' ');
	cg_log(LOG_INFO, "domain %s validated by DNS change for organisation %s", d.domain,
	       d.org_id);
	return cg_store_audit_append(txn, now, "issuer", moved ? "domain.move" : "domain.validate",
	                             d.domain, detail, error);
}

gboolean
cg_issuer_run_dnscheck(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
                       GError **error)
{
	g_auto(GStrv) f = g_strsplit(job->id, "|", -1);
	g_autoptr(GError) err = NULL;
	g_autoptr(CgChallenge) c = NULL;
	g_autoptr(GPtrArray) rdata = NULL;
	g_autofree char *name = NULL, *said = NULL;
	g_autoptr(GString) found = NULL;
	guint8 hash[32];
	gboolean match = FALSE, follow;
	CgDnssec sec = CG_DNSSEC_OFF;
	guint64 attempt = 0;
	guint i;

	(void)temporary;
	if (g_strv_length(f) != 3 || strlen(f[1]) != 64 || !cg_hex_decode(f[1], hash, sizeof(hash)))
		return cg_job_malformed(job, error);
	follow = strcmp(f[2], "now") != 0;
	if (follow && !g_ascii_string_to_unsigned(f[2], 10, 1, 1000, &attempt, NULL))
		return cg_job_malformed(job, error);
	c = cg_store_challenge_get(iss->store, txn, hash, &err);
	if (c == NULL)
		return cg_error_absent(&err, error);
	if (c->kind != CG_CHALLENGE_DNS || c->state != CG_CHALLENGE_STATE_PENDING)
		return TRUE; /* validated, or expired, meanwhile */
	if (now >= c->expires) {
		g_autofree char *until = cg_time_iso(c->expires);
		g_autofree char *detail = NULL;

		if (!follow)
			return TRUE; /* the chain records the expiry */
		c->state = CG_CHALLENGE_STATE_EXPIRED;
		detail = g_strdup_printf("DNS-change value for organisation %s not found at %s.%s "
		                         "by %s (%" G_GUINT64_FORMAT " checks)",
		                         c->org_id, CG_DNS_CHALLENGE_LABEL, c->target, until,
		                         attempt - 1);
		cg_log(LOG_NOTICE, "domain %s: %s", c->target, detail);
		return cg_store_challenge_put(txn, c, error) &&
		       cg_store_audit_append(txn, now, "issuer", "challenge.expired", c->target,
		                             detail, error);
	}
	name = g_strdup_printf("%s.%s", CG_DNS_CHALLENGE_LABEL, c->target);
	rdata = cg_dns_lookup_corroborated(iss->conf, name, TXT_TYPE, &sec, &said, &err);
	found = g_string_new(NULL);
	if (rdata == NULL) {
		if (g_error_matches(err, CG_ERROR, CG_ERROR_DNS_TEMP) && !follow) {
			g_propagate_error(error, g_steal_pointer(&err));
			return FALSE;
		}
		/* Bogus, or no answer in the chain: not found this time. */
		cg_log(LOG_WARNING, "domain %s: DNS-change check %s: %s", c->target, f[2],
		       err->message);
	} else {
		for (i = 0; i < rdata->len; i++) {
			g_autofree char *text = txt_text(rdata->pdata[i]);
			guint8 h[32];

			if (text == NULL)
				continue;
			g_string_append_printf(found, "%s\"%s\"", found->len ? ", " : "", text);
			cg_sha256(text, strlen(text), h);
			if (cg_memeq_ct(h, c->token_hash, 32))
				match = TRUE;
		}
	}
	if (match) {
		g_autofree char *when = cg_time_iso(now);
		g_autofree char *ev = g_strdup_printf("DNS change (TLS BR 3.2.2.4.7): TXT %s, "
		                                      "DNSSEC %s, found %s, at %s, check %s%s%s",
		                                      name, cg_dnssec_name(sec), found->str, when,
		                                      f[2], said ? ", " : "", said ? said : "");

		return validate(iss, txn, c, ev, now, error);
	}
	cg_log(LOG_INFO, "domain %s: DNS-change value not at %s yet (check %s: %s)", c->target,
	       name, f[2], found->len ? found->str : "no TXT record");
	if (!follow)
		return TRUE;
	{
		gint64 wait = MIN((gint64)FIRST_CHECK << MIN(attempt, 6u), (gint64)MAX_CHECK_WAIT);
		g_autofree char *next = g_strdup_printf("%" G_GUINT64_FORMAT, attempt + 1);

		return schedule_check(txn, c->target, c->token_hash, next,
		                      MIN(now + wait, c->expires), error);
	}
}
