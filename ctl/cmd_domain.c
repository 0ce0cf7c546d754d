/*
 * cmd_domain.c: certgate domain add|list|challenge. Every change is one
 * transaction with its audit entry.
 */
#include "ctl.h"
#include "common.h"
#include "policy.h"

#include <stdio.h>
#include <string.h>

typedef struct {
	const char *domain;
	const char *org_id;
	const char *local;
	gboolean validated;
	const char *actor;
	gint64 now;
	gint64 reuse;
	gboolean challenge_queued;
} DomainAdd;

static gboolean
domain_add_txn(CgTxn *txn, gpointer data, GError **error)
{
	DomainAdd *a = data;
	CgStore *s = cg_txn_store(txn);
	g_autoptr(GError) err = NULL;
	g_autoptr(CgOrg) org = cg_store_org_get(s, txn, a->org_id, error);
	g_autoptr(CgDomain) old = NULL;
	CgDomain d = {0};
	g_autofree char *detail = NULL;

	if (org == NULL)
		return FALSE;
	old = cg_store_domain_get(s, txn, a->domain, &err);
	if (old == NULL && !cg_error_absent(&err, error))
		return FALSE;
	if (old != NULL && strcmp(old->org_id, a->org_id) != 0 && a->validated) {
		g_set_error(
		    error, CG_ERROR, CG_ERROR_EXISTS,
		    "%s belongs to organisation %s; it moves to another only when its "
		    "postmaster answers a challenge (certgate domain add without --validated)",
		    a->domain, old->org_id);
		return FALSE;
	}
	d.domain = (char *)a->domain;
	d.org_id = (char *)a->org_id;
	d.local_part = (char *)a->local;
	d.previous_org = old && strcmp(old->org_id, a->org_id) != 0 ? old->org_id : "";
	a->challenge_queued = !a->validated;
	if (a->validated) {
		d.status = CG_DOMAIN_VALIDATED;
		d.validated_at = a->now;
		d.expires_at = a->now + a->reuse;
		d.method = CG_METHOD_OPERATOR;
		d.rule_version = "operator attestation";
		{
			g_autofree char *until = cg_time_iso(d.expires_at);

			detail = g_strdup_printf("operator attestation for organisation %s, valid "
			                         "until %s",
			                         a->org_id, until);
		}
	} else if (old != NULL && strcmp(old->org_id, a->org_id) != 0) {
		/* Another organisation's domain: it stays theirs until our challenge is
		 * answered (dispute); only the challenge is queued. */
		detail = g_strdup_printf("challenge for organisation %s (held by %s)", a->org_id,
		                         old->org_id);
		g_autofree char *job = g_strdup_printf("%s|%s|%s", a->domain, a->org_id, a->local);

		return cg_store_job_append(txn, CG_JOB_CHALLENGE, job, error) &&
		       cg_store_audit_append(txn, a->now, a->actor, "domain.challenge", a->domain,
		                             detail, error);
	} else {
		d.status = old ? old->status : CG_DOMAIN_PENDING;
		d.validated_at = old ? old->validated_at : 0;
		d.expires_at = old ? old->expires_at : 0;
		d.method = old ? old->method : "";
		d.rule_version = old ? old->rule_version : "";
		d.evidence = old ? old->evidence : "";
		d.challenged_at = old ? old->challenged_at : 0;
		detail = strcmp(a->local, CG_DNS_CHALLENGE) == 0
		             ? g_strdup_printf("added to organisation %s; DNS-change challenge "
		                               "(TXT %s.%s) to its contact",
		                               a->org_id, CG_DNS_CHALLENGE_LABEL, a->domain)
		             : g_strdup_printf("added to organisation %s; challenge to %s@%s",
		                               a->org_id, a->local, a->domain);
	}
	if (!cg_store_domain_put(txn, &d, error) ||
	    !cg_store_audit_append(txn, a->now, a->actor,
	                           a->validated ? "domain.validate" : "domain.add", a->domain,
	                           detail, error))
		return FALSE;
	if (!a->validated) {
		g_autofree char *job = g_strdup_printf("%s|%s|%s", a->domain, a->org_id, a->local);

		return cg_store_job_append(txn, CG_JOB_CHALLENGE, job, error);
	}
	return TRUE;
}

int
ctl_domain_add(CtlCtx *ctx, int argc, char **argv)
{
	g_autofree char *org = NULL;
	g_autofree char *address = NULL, *method = NULL;
	gboolean validated = FALSE, dns;
	GOptionEntry entries[] = {
	    {"org", 0, 0, G_OPTION_ARG_STRING, &org, "the organisation", "ID"},
	    {"method", 0, 0, G_OPTION_ARG_STRING, &method,
	     "how to challenge: postmaster (mail, TLS BR 3.2.2.4.4) or dns (a TXT record, "
	     "3.2.2.4.7); default DomainMethod",
	     "METHOD"},
	    {"address", 0, 0, G_OPTION_ARG_STRING, &address,
	     "local part to challenge: postmaster (default), hostmaster, webmaster, admin, "
	     "administrator",
	     "LOCAL"},
	    {"validated", 0, 0, G_OPTION_ARG_NONE, &validated,
	     "the operator attests control of the domain: no challenge", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GError) err = NULL;
	g_autofree char *domain = NULL, *local = NULL, *why = NULL;
	DomainAdd a = {0};

	if (!ctl_parse(ctx, "DOMAIN",
	               "Add a domain to an organisation; challenge its postmaster "
	               "unless --validated.",
	               entries, &argc, &argv))
		return 2;
	if (argc != 2 || org == NULL)
		return ctl_fail(ctx, 2, "needs DOMAIN and --org ID");
	if ((domain = cg_domain_normalise(argv[1], &err)) == NULL)
		return ctl_fail(ctx, 2, "%s", err->message);
	if (method != NULL && strcmp(method, "dns") != 0 && strcmp(method, "postmaster") != 0)
		return ctl_fail(ctx, 2, "--method must be postmaster or dns");
	if (method != NULL && validated)
		return ctl_fail(ctx, 2, "--method is how to challenge: not with --validated");
	if (method == NULL)
		method = g_strdup(address != NULL ? "postmaster" : ctx->conf->domain_method);
	dns = !validated && strcmp(method, "dns") == 0;
	if (dns && address != NULL)
		return ctl_fail(ctx, 2,
		                "--address names a postmaster-style mailbox: not with the dns "
		                "method");
	why = cg_policy_domain_method(validated ? CG_METHOD_OPERATOR
	                              : dns     ? CG_METHOD_DNS
	                                        : CG_METHOD_EMAIL,
	                              cg_conf_public_trust(ctx->conf), ctx->now);
	if (why != NULL)
		return ctl_fail(ctx, 2, "%s%s", why,
		                !validated && !dns ? "; use --method dns" : "");
	local = g_ascii_strdown(dns ? CG_DNS_CHALLENGE : address ? address : "postmaster", -1);
	if (!dns && !cg_policy_postmaster_local(local))
		return ctl_fail(ctx, 2,
		                "--address must be admin, administrator, webmaster, "
		                "hostmaster or postmaster (TLS BR 3.2.2.4.4)");
	a.domain = domain;
	a.org_id = org;
	a.local = local;
	a.validated = validated;
	a.actor = ctx->actor;
	a.now = ctx->now;
	a.reuse = ctx->conf->domain_reuse;
	if (ctl_transact(ctx, domain_add_txn, &a, "no such organisation") != 0)
		return 1;
	if (validated)
		printf("domain %s validated for organisation %s (operator attestation)\n", domain,
		       org);
	else if (dns)
		printf("domain %s added to organisation %s; its contact is mailed the TXT record "
		       "to publish at %s.%s\n",
		       domain, org, CG_DNS_CHALLENGE_LABEL, domain);
	else
		printf("domain %s added to organisation %s; a challenge goes to %s@%s\n", domain,
		       org, local, domain);
	return 0;
}

typedef struct {
	const char *domain;
	const char *actor;
	gint64 now;
	gint64 lifetime;   /* 0: ChallengeLifetime */
	const char *local; /* NULL: the domain's; else its new one (--method) */
} Challenge;

static gboolean
challenge_txn(CgTxn *txn, gpointer data, GError **error)
{
	Challenge *c = data;
	g_autoptr(CgDomain) d = cg_store_domain_get(cg_txn_store(txn), txn, c->domain, error);
	g_autofree char *job = NULL;

	if (d == NULL)
		return FALSE;
	if (c->local != NULL && strcmp(c->local, d->local_part) != 0) {
		/* The method chosen: the domain's renewals use it too. */
		g_free(d->local_part);
		d->local_part = g_strdup(c->local);
		if (!cg_store_domain_put(txn, d, error))
			return FALSE;
	}
	job = g_strdup_printf("%s|%s|%s", d->domain, d->org_id,
	                      *d->local_part ? d->local_part : "postmaster");
	if (c->lifetime > 0) {
		g_autofree char *plain = job;

		job = g_strdup_printf("%s|%" G_GINT64_FORMAT, plain, c->lifetime);
	}
	return cg_store_job_append(txn, CG_JOB_CHALLENGE, job, error) &&
	       cg_store_audit_append(txn, c->now, c->actor, "domain.challenge", d->domain,
	                             "challenge queued by the operator", error);
}

int
ctl_domain_challenge(CtlCtx *ctx, int argc, char **argv)
{
	g_autofree char *lifetime = NULL, *method = NULL;
	GOptionEntry entries[] = {{"lifetime", 0, 0, G_OPTION_ARG_STRING, &lifetime,
	                           "how long the token is valid (at most ChallengeLifetime)",
	                           "DURATION"},
	                          {"method", 0, 0, G_OPTION_ARG_STRING, &method,
	                           "postmaster or dns: from now on the domain's method", "METHOD"},
	                          {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GError) err = NULL;
	g_autofree char *domain = NULL, *why = NULL;
	g_autoptr(CgDomain) d = NULL;
	gboolean dns;
	Challenge c = {0};

	if ((domain = ctl_parse_domain(
	         ctx,
	         "Send a new challenge for a domain (to its postmaster, or its DNS-change "
	         "record to its organisation's contact); earlier tokens stay valid until "
	         "used or expired.",
	         entries, argc, argv)) == NULL)
		return 2;
	if (method != NULL && strcmp(method, "dns") != 0 && strcmp(method, "postmaster") != 0)
		return ctl_fail(ctx, 2, "--method must be postmaster or dns");
	if (method == NULL) {
		CgStore *s = ctl_store(ctx);

		if (s == NULL)
			return 1;
		d = cg_store_domain_get(s, NULL, domain, &err);
		if (d == NULL && !cg_error_absent(&err, NULL))
			return ctl_fail(ctx, 1, "%s", err->message);
		dns = d != NULL && strcmp(d->local_part, CG_DNS_CHALLENGE) == 0;
	} else {
		dns = strcmp(method, "dns") == 0;
		c.local = dns ? CG_DNS_CHALLENGE : "postmaster";
	}
	why = cg_policy_domain_method(dns ? CG_METHOD_DNS : CG_METHOD_EMAIL,
	                              cg_conf_public_trust(ctx->conf), ctx->now);
	if (why != NULL)
		return ctl_fail(ctx, 2, "%s%s", why, dns ? "" : "; use --method dns");
	if (lifetime != NULL && (!cg_conf_parse_duration(lifetime, &c.lifetime) || c.lifetime < 1 ||
	                         c.lifetime > ctx->conf->challenge_lifetime))
		return ctl_fail(
		    ctx, 2,
		    "--lifetime must be a duration from 1s to ChallengeLifetime (%" G_GINT64_FORMAT
		    " s)",
		    ctx->conf->challenge_lifetime);
	c.domain = domain;
	c.actor = ctx->actor;
	c.now = ctx->now;
	if (ctl_transact(ctx, challenge_txn, &c, "no such domain: add it first") != 0)
		return 1;
	printf("challenge for %s queued\n", domain);
	return 0;
}

typedef struct {
	const char *domain;
	gint64 now;
	GArray *hashes; /* guint8[32] of its pending DNS-change challenges */
} Check;

static gboolean
pending_dns(gconstpointer rec, gpointer data)
{
	const CgChallenge *c = rec;
	Check *k = data;

	if (c->kind == CG_CHALLENGE_DNS && c->state == CG_CHALLENGE_STATE_PENDING &&
	    c->expires > k->now && strcmp(c->target, k->domain) == 0)
		g_array_append_vals(k->hashes, c->token_hash, 32);
	return TRUE;
}

static gboolean
check_txn(CgTxn *txn, gpointer data, GError **error)
{
	Check *k = data;
	guint i;

	for (i = 0; i < k->hashes->len / 32; i++)
		if (!cg_store_job_dnscheck_now(txn, k->domain,
		                               &g_array_index(k->hashes, guint8, i * 32), error))
			return FALSE;
	return TRUE;
}

int
ctl_domain_check(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *domain = NULL;
	g_autoptr(GArray) hashes = g_array_new(FALSE, FALSE, 1);
	Check k = {0};
	CgStore *s;

	if ((domain = ctl_parse_domain(
	         ctx,
	         "Have the issuer look for the domain's DNS-change record (TXT "
	         "_certgate-challenge.DOMAIN) now, for each of its pending challenges.",
	         NULL, argc, argv)) == NULL)
		return 2;
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	k.domain = domain;
	k.now = ctx->now;
	k.hashes = hashes;
	if (!cg_store_foreach(s, NULL, CG_REC_CHALLENGE, pending_dns, &k, &err))
		return ctl_fail(ctx, 1, "%s", err->message);
	if (hashes->len == 0)
		return ctl_fail(ctx, 1, "%s has no pending DNS-change challenge", domain);
	if (ctl_transact(ctx, check_txn, &k, NULL) != 0)
		return 1;
	printf("%s: %u check%s queued\n", domain, hashes->len / 32, hashes->len == 32 ? "" : "s");
	return 0;
}

gboolean
ctl_domain_row(gconstpointer rec, gpointer data)
{
	const CgDomain *d = rec;
	CtlList *l = data;
	g_autofree char *va = d->validated_at ? cg_time_iso(d->validated_at) : g_strdup("-");
	g_autofree char *ex = d->expires_at ? cg_time_iso(d->expires_at) : g_strdup("-");
	/* A validation is unusable from its expiry on, whatever the record says. */
	CgDomainStatus st = d->status == CG_DOMAIN_VALIDATED && d->expires_at <= ctl_now()
	                        ? CG_DOMAIN_EXPIRED
	                        : d->status;

	g_autofree char *shown = cg_domain_to_unicode(d->domain);
	gboolean idn = strcmp(shown, d->domain) != 0;
	/* The method's standing: refused by the trust model, or discouraged. */
	g_autofree char *refused =
	    st == CG_DOMAIN_VALIDATED
	        ? cg_policy_domain_method(d->method, cg_conf_public_trust(l->ctx->conf), ctl_now())
	        : NULL;
	const char *warning = refused ? refused
	                      : st == CG_DOMAIN_VALIDATED
	                          ? cg_policy_domain_method_warning(d->method, ctl_now())
	                          : NULL;

	if (l->filter != NULL && strcmp(d->org_id, l->filter) != 0)
		return TRUE;
	if (l->ctx->json) {
		ctl_list_sep(l);
		g_string_append(l->out, "{\"domain\":");
		ctl_json_str(l->out, d->domain);
		g_string_append(l->out, ",\"org\":");
		ctl_json_str(l->out, d->org_id);
		g_string_append(l->out, ",\"status\":");
		ctl_json_str(l->out, cg_domain_status_name(st));
		g_string_append(l->out, ",\"validated\":");
		ctl_json_str(l->out, va);
		g_string_append(l->out, ",\"expires\":");
		ctl_json_str(l->out, ex);
		g_string_append(l->out, ",\"method\":");
		ctl_json_str(l->out, d->method);
		g_string_append(l->out, ",\"unicode\":");
		ctl_json_str(l->out, shown);
		g_string_append(l->out, ",\"refused\":");
		g_string_append(l->out, refused ? "true" : "false");
		g_string_append(l->out, ",\"warning\":");
		ctl_json_str(l->out, warning ? warning : "");
		g_string_append(l->out, "}");
	} else {
		g_string_append_printf(l->out, "%-30s %-6s %-10s %-21s %-21s %s%s%s%s%s%s\n",
		                       d->domain, d->org_id, cg_domain_status_name(st), va, ex,
		                       *d->method ? d->method : "-", idn ? " (" : "",
		                       idn ? shown : "", idn ? ")" : "",
		                       warning ? (refused ? "  REFUSED: " : "  warning: ") : "",
		                       warning ? warning : "");
		l->n++;
	}
	return TRUE;
}

int
ctl_domain_list(CtlCtx *ctx, int argc, char **argv)
{
	g_autofree char *h = g_strdup_printf("%-30s %-6s %-10s %-21s %-21s %s\n", "DOMAIN", "ORG",
	                                     "STATUS", "VALIDATED", "EXPIRES", "METHOD");

	return ctl_list(ctx, argc, argv, CG_REC_DOMAIN, ctl_domain_row,
	                   "List domains with their validation state and expiry.", h, TRUE);
}
