/*
 * dns.c: the DNS the issuer decides on (CAA), looked up through libunbound
 * with DNSSEC validation (S/MIME BR 4.2.2.1.1) from DnssecTrustAnchor
 * (default the IANA root's, Debian's dns-root-data).
 *
 * Queries go to the resolvers of /etc/resolv.conf (which must pass DNSSEC
 * records through: a validating or DNSSEC-aware resolver; with none listed
 * libunbound resolves from the root itself), and every answer is validated
 * here, whatever the resolver says. An answer is then:
 *   secure     validated from the trust anchor;
 *   insecure   proven unsigned (a delegation without DS): recorded as such;
 *   bogus      validation failed (a forged or broken answer): the lookup
 *              fails for good (CG_ERROR_NOT_AUTHORISED), nothing is issued
 *              on it;
 * and a lookup that gets no answer (SERVFAIL, timeout) fails temporarily
 * (CG_ERROR_DNS_TEMP): the request waits. With DnssecTrustAnchor none
 * nothing is validated and every answer is "not validated".
 *
 * One libunbound context per process, shared by the issuer's threads (its
 * cache too); made again when the trust anchor's path changes (a reload).
 * Never: trusts the resolver's AD bit.
 */
#include "issuer-int.h"

#include <string.h>
#include <unbound.h>

#define CLASS_IN 1

static GMutex ctx_lock;
static struct ub_ctx *ctx;
static char *ctx_anchor;

const char *
cg_dnssec_name(CgDnssec s)
{
	switch (s) {
	case CG_DNSSEC_SECURE:
		return "secure";
	case CG_DNSSEC_INSECURE:
		return "insecure";
	default:
		return "not validated";
	}
}

static gboolean
anchor_none(const char *anchor)
{
	return anchor == NULL || *anchor == '\0' || strcmp(anchor, "none") == 0;
}

/* The process's context for anchor (made on first use); NULL with error. */
static struct ub_ctx *
context(const char *anchor, GError **error)
{
	struct ub_ctx *c;
	int rc;

	g_mutex_lock(&ctx_lock);
	if (ctx != NULL && g_strcmp0(ctx_anchor, anchor) == 0) {
		c = ctx;
		g_mutex_unlock(&ctx_lock);
		return c;
	}
	if ((c = ub_ctx_create()) == NULL) {
		g_mutex_unlock(&ctx_lock);
		g_set_error_literal(error, CG_ERROR, CG_ERROR_DNS_TEMP,
		                    "DNS resolver (libunbound) cannot be made");
		return NULL;
	}
	/* A resolver on loopback (systemd-resolved, a local unbound, the
	 * tests' servers) is the common case, not an error. */
	if ((rc = ub_ctx_set_option(c, "do-not-query-localhost:", "no")) != 0 ||
	    (rc = ub_ctx_resolvconf(c, NULL)) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_DNS_TEMP,
		            "DNS resolver: /etc/resolv.conf: %s", ub_strerror(rc));
		goto fail;
	}
	if (!anchor_none(anchor) && (rc = ub_ctx_add_ta_file(c, anchor)) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_DNS_TEMP,
		            "DnssecTrustAnchor %s cannot be read: %s", anchor, ub_strerror(rc));
		goto fail;
	}
	/* The one a reload replaced is kept: a thread may still resolve in it
	 * (one context per distinct anchor; reloads are rare). */
	ctx = c;
	g_free(ctx_anchor);
	ctx_anchor = g_strdup(anchor);
	g_mutex_unlock(&ctx_lock);
	return c;
fail:
	g_mutex_unlock(&ctx_lock);
	ub_ctx_delete(c);
	return NULL;
}

GPtrArray *
cg_dns_lookup(const CgConf *conf, const char *name, int type, CgDnssec *sec, GError **error)
{
	const char *anchor = conf->dnssec_trust_anchor;
	struct ub_ctx *c = context(anchor, error);
	struct ub_result *r = NULL;
	GPtrArray *rdata;
	int rc, i;

	*sec = CG_DNSSEC_OFF;
	if (c == NULL)
		return NULL;
	if ((rc = ub_resolve(c, name, type, CLASS_IN, &r)) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_DNS_TEMP, "DNS lookup of %s failed: %s", name,
		            ub_strerror(rc));
		return NULL;
	}
	if (r->bogus) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "the DNS answer for %s fails DNSSEC validation (bogus: %s); nothing is "
		            "issued on it",
		            name, r->why_bogus ? r->why_bogus : "no reason given");
		ub_resolve_free(r);
		return NULL;
	}
	/* NOERROR (with or without data) and NXDOMAIN are answers; the rest
	 * (SERVFAIL, REFUSED, a timeout) is not. */
	if (r->rcode != 0 && !r->nxdomain) {
		g_set_error(error, CG_ERROR, CG_ERROR_DNS_TEMP,
		            "DNS lookup of %s failed temporarily (rcode %d)", name, r->rcode);
		ub_resolve_free(r);
		return NULL;
	}
	if (!anchor_none(anchor))
		*sec = r->secure ? CG_DNSSEC_SECURE : CG_DNSSEC_INSECURE;
	rdata = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	for (i = 0; r->havedata && r->data[i] != NULL; i++)
		g_ptr_array_add(rdata, g_bytes_new(r->data[i], (gsize)r->len[i]));
	ub_resolve_free(r);
	return rdata;
}

GPtrArray *
cg_dns_lookup_corroborated(const CgConf *conf, const char *name, int type, CgDnssec *sec,
                           char **said, GError **error)
{
	GPtrArray *rdata = cg_dns_lookup(conf, name, type, sec, error);

	*said = NULL;
	if (rdata == NULL)
		return NULL;
	if (!cg_perspective_corroborate(conf, name, type, rdata, said, error)) {
		g_ptr_array_unref(rdata);
		return NULL;
	}
	return rdata;
}
