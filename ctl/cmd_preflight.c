/*
 * cmd_preflight.c: certgate domain preflight DOMAIN: before an organisation
 * applies, is its domain ready for this CA? Looked up as the issuer looks
 * (libunbound, DNSSEC-validated from DnssecTrustAnchor):
 *   DNSSEC  the status of the domain's SOA answer (secure, insecure, not
 *           validated; bogus is a failure);
 *   CAA     what the issuer would decide (cg_caa_check);
 *   MX      the domain's mail exchangers (without one, no challenge or
 *           certificate mail reaches it);
 *   record  whether an organisation holds it here, and its state.
 * Exit status 0 when nothing stands in the way, 1 when something does.
 * Never: changes anything.
 */
#include "ctl.h"
#include "common.h"
#include "issuer.h"
#include "policy.h"

#include <stdio.h>
#include <string.h>

#define SOA_TYPE 6
#define MX_TYPE  15

/* An MX rdata (preference, uncompressed name) as "PREF NAME.". */
static char *
mx_text(GBytes *rdata)
{
	gsize len, i = 2;
	const guint8 *d = g_bytes_get_data(rdata, &len);
	GString *s;

	if (len < 3)
		return NULL;
	s = g_string_new(NULL);
	g_string_append_printf(s, "%u ", (unsigned)(d[0] << 8 | d[1]));
	while (i < len && d[i] != 0) {
		gsize n = d[i++];

		if (n > 63 || i + n > len) {
			g_string_free(s, TRUE);
			return NULL;
		}
		g_string_append_len(s, (const char *)d + i, (gssize)n);
		g_string_append_c(s, '.');
		i += n;
	}
	if (s->len == 4 && d[2] == 0)
		g_string_append_c(s, '.');
	return g_string_free(s, FALSE);
}

static void
line(CtlCtx *ctx, GString *json, const char *what, const char *state, const char *detail)
{
	if (ctx->json) {
		g_string_append_printf(json, "%s\"%s\":{\"state\":", json->len > 1 ? "," : "",
		                       what);
		ctl_json_str(json, state);
		g_string_append(json, ",\"detail\":");
		ctl_json_str(json, detail);
		g_string_append(json, "}");
	} else {
		printf("%-8s %-14s %s\n", what, state, detail);
	}
}

int
ctl_domain_preflight(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *domain = NULL, *found = NULL;
	g_autoptr(GPtrArray) soa = NULL, mx = NULL;
	g_autoptr(GString) json = g_string_new("{");
	g_autoptr(CgDomain) rec = NULL;
	CgDnssec sec = CG_DNSSEC_OFF;
	CgStore *s;
	int bad = 0;
	guint i;

	if ((domain = ctl_parse_domain(
	         ctx,
	         "Before an organisation applies: the domain's DNSSEC status, what CAA "
	         "says of this CA, its MX records and whether it is registered here. Exit "
	         "status 1 when something stands in the way.",
	         NULL, argc, argv)) == NULL)
		return 2;
	if (!ctx->json)
		printf("domain   %s\n", domain);

	soa = cg_dns_lookup(ctx->conf, domain, SOA_TYPE, &sec, &err);
	if (soa == NULL) {
		line(ctx, json, "dnssec",
		     g_error_matches(err, CG_ERROR, CG_ERROR_DNS_TEMP) ? "no answer" : "bogus",
		     err->message);
		bad = 1;
		g_clear_error(&err);
	} else {
		line(ctx, json, "dnssec", cg_dnssec_name(sec),
		     sec == CG_DNSSEC_SECURE     ? "its answers validate from the trust anchor"
		     : sec == CG_DNSSEC_INSECURE ? "unsigned (no DS at its parent): answers are "
		                                   "taken, recorded as insecure"
		                                 : "DnssecTrustAnchor none: answers are not "
		                                   "validated");
	}

	if (cg_caa_check(ctx->conf, domain, &found, &err)) {
		line(ctx, json, "caa", "permits", found);
	} else {
		line(ctx, json, "caa",
		     g_error_matches(err, CG_ERROR, CG_ERROR_DNS_TEMP) ? "no answer" : "forbids",
		     err->message);
		bad = 1;
		g_clear_error(&err);
	}

	mx = cg_dns_lookup(ctx->conf, domain, MX_TYPE, &sec, &err);
	if (mx == NULL) {
		line(ctx, json, "mx", "no answer", err->message);
		bad = 1;
		g_clear_error(&err);
	} else if (mx->len == 0) {
		line(ctx, json, "mx", "none",
		     "no MX record: challenges and certificates cannot be mailed to the domain");
		bad = 1;
	} else {
		g_autoptr(GString) all = g_string_new(NULL);

		for (i = 0; i < mx->len; i++) {
			g_autofree char *t = mx_text(mx->pdata[i]);

			g_string_append_printf(all, "%s%s", all->len ? ", " : "",
			                       t ? t : "(unreadable)");
		}
		g_string_append_printf(all, " (DNSSEC %s)", cg_dnssec_name(sec));
		line(ctx, json, "mx", "present", all->str);
	}

	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	rec = cg_store_domain_get(s, NULL, domain, &err);
	if (rec == NULL && !cg_error_absent(&err, NULL))
		return ctl_fail(ctx, 1, "%s", err->message);
	if (rec == NULL) {
		line(ctx, json, "record", "not registered", "no organisation holds it here");
	} else {
		g_autofree char *until = rec->expires_at ? cg_time_iso(rec->expires_at) : NULL;
		g_autofree char *d =
		    g_strdup_printf("organisation %s, %s%s%s%s%s", rec->org_id,
		                    cg_domain_status_name(rec->status), *rec->method ? " by " : "",
		                    rec->method, until ? " until " : "", until ? until : "");

		line(ctx, json, "record", "registered", d);
	}
	if (ctx->json) {
		g_string_append_printf(json, ",\"ready\":%s}\n", bad ? "false" : "true");
		fputs(json->str, stdout);
	} else {
		printf("%-8s %s\n", "verdict",
		       bad ? "not ready: see above" : "ready: nothing stands in the way");
	}
	return bad;
}
