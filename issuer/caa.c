/*
 * caa.c: CAA issuemail (RFC 9495, RFC 8659; S/MIME BR 4.2.2.1).
 *
 * Before issuing for a mailbox, the CAA RRset is looked up at the mailbox's
 * domain and then each parent in turn, up to (not including) the root; the
 * first non-empty RRset is the relevant one, and policy decides on it
 * (cg_policy_caa_decide). The lookups are DNSSEC-validated (dns.c): a bogus
 * answer refuses, and the weakest status met on the way (secure, insecure,
 * not validated) is said with the decision. A temporary DNS failure is
 * CG_ERROR_DNS_TEMP: the request waits, it is never issued on a guess.
 * Results are cached for a minute per domain. What permitted an issuance is
 * said in its log line and audit entry, not only what refused one.
 */
#include "issuer-int.h"

#include <string.h>

#define CAA_TYPE      257
#define CACHE_SECONDS 60

typedef CgCaaProp Prop;

/* CAA properties at name: NULL with error when the lookup failed
 * (temporarily, or for good on a bogus answer); an empty array when there
 * are none (NXDOMAIN or no data). */
static GPtrArray *
lookup(const CgConf *conf, const char *name, CgDnssec *sec, char **said, GError **error)
{
	g_autoptr(GPtrArray) rdata =
	    cg_dns_lookup_corroborated(conf, name, CAA_TYPE, sec, said, error);
	GPtrArray *props;
	guint i;

	if (rdata == NULL) {
		if (error != NULL && *error != NULL && (*error)->domain == CG_ERROR &&
		    (*error)->code == CG_ERROR_DNS_TEMP)
			g_prefix_error(error, "CAA lookup: ");
		return NULL;
	}
	props = g_ptr_array_new_with_free_func(cg_caa_prop_free);
	for (i = 0; i < rdata->len; i++) {
		gsize len;
		const guint8 *d = g_bytes_get_data(rdata->pdata[i], &len);
		gsize taglen;
		Prop *p;

		if (len < 2 || (taglen = d[1]) < 1 || taglen > 15 || 2 + taglen > len) {
			/* A malformed record is a property no CA may satisfy. */
			p = g_new0(Prop, 1);
			p->tag = g_strdup("issuemail");
			p->value = g_strdup("\x01malformed");
			g_ptr_array_add(props, p);
			continue;
		}
		p = g_new0(Prop, 1);
		p->critical = (d[0] & 0x80) != 0;
		p->tag = g_strndup((const char *)d + 2, taglen);
		p->value = g_strndup((const char *)d + 2 + taglen, len - 2 - taglen);
		g_ptr_array_add(props, p);
	}
	return props;
}

typedef struct {
	gint64 expires;
	gboolean allowed;
	char *why;
} Cached;

static GMutex cache_lock;
static GHashTable *cache;

static void
cached_free(gpointer p)
{
	Cached *c = p;

	g_free(c->why);
	g_free(c);
}

gboolean
cg_caa_check(const CgConf *conf, const char *domain, char **found, GError **error)
{
	g_autofree char *ids = g_strjoinv(",", conf->caa_identities);
	g_autofree char *key = g_strconcat(domain, "|", ids, "|", conf->dnssec_trust_anchor, NULL);
	gint64 now = g_get_monotonic_time() / G_USEC_PER_SEC;
	const char *name;
	gboolean allowed = TRUE;
	g_autofree char *permit = NULL, *corroborated = NULL;
	g_autoptr(GError) err = NULL;
	/* The weakest status met on the way: what the decision rests on. */
	CgDnssec weakest = CG_DNSSEC_SECURE;
	Cached *c;

	g_mutex_lock(&cache_lock);
	if (cache == NULL)
		cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, cached_free);
	c = g_hash_table_lookup(cache, key);
	if (c != NULL && c->expires > now) {
		allowed = c->allowed;
		if (!allowed)
			g_set_error_literal(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED, c->why);
		else if (found != NULL)
			*found = g_strdup(c->why);
		g_mutex_unlock(&cache_lock);
		return allowed;
	}
	g_mutex_unlock(&cache_lock);

	for (name = domain; name != NULL && *name;
	     name = strchr(name, '.') ? strchr(name, '.') + 1 : NULL) {
		CgDnssec sec;
		g_autofree char *said = NULL;
		g_autoptr(GPtrArray) props = lookup(conf, name, &sec, &said, &err);

		if (props == NULL) {
			if (g_error_matches(err, CG_ERROR, CG_ERROR_DNS_TEMP)) {
				g_propagate_error(error, g_steal_pointer(&err));
				return FALSE; /* temporary: not cached */
			}
			allowed = FALSE; /* bogus: refused, cached like a refusal */
			break;
		}
		if (sec == CG_DNSSEC_OFF ||
		    (sec == CG_DNSSEC_INSECURE && weakest == CG_DNSSEC_SECURE))
			weakest = sec;
		if (said != NULL) {
			g_free(corroborated);
			corroborated = g_strdup_printf("; %s", said);
		}
		if (props->len > 0) {
			allowed = cg_policy_caa_decide(props, conf->caa_identities, name, &err);
			permit = g_strdup_printf("CAA at %s permits this CA (DNSSEC: %s%s)", name,
			                         cg_dnssec_name(weakest),
			                         corroborated ? corroborated : "");
			break;
		}
	}
	if (permit == NULL && allowed)
		permit = g_strdup_printf("no CAA record at %s or a parent (DNSSEC: %s%s)", domain,
		                         cg_dnssec_name(weakest), corroborated ? corroborated : "");
	if (!allowed && err != NULL && weakest != CG_DNSSEC_SECURE &&
	    !strstr(err->message, "DNSSEC"))
		g_prefix_error(&err, "(DNSSEC: %s) ", cg_dnssec_name(weakest));
	c = g_new0(Cached, 1);
	c->expires = now + CACHE_SECONDS;
	c->allowed = allowed;
	c->why = g_strdup(allowed ? permit : err->message);
	if (allowed && found != NULL)
		*found = g_steal_pointer(&permit);
	g_mutex_lock(&cache_lock);
	g_hash_table_replace(cache, g_strdup(key), c);
	g_mutex_unlock(&cache_lock);
	if (!allowed)
		g_propagate_error(error, g_steal_pointer(&err));
	return allowed;
}
