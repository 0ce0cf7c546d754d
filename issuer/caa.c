/*
 * caa.c: CAA issuemail (RFC 9495, RFC 8659; S/MIME BR 4.2.2.1).
 *
 * Before issuing for a mailbox, the CAA RRset is looked up at the mailbox's
 * domain and then each parent in turn, up to (not including) the root; the
 * first non-empty RRset is the relevant one, and policy decides on it
 * (cg_policy_caa_decide). A temporary DNS failure is CG_ERROR_DNS_TEMP: the
 * request waits, it is never issued on a guess. Results are cached for a
 * minute per domain. What permitted an issuance is said in its log line and
 * audit entry, not only what refused one.
 */
#include "issuer-int.h"

#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <string.h>

#define CAA_TYPE      257
#define CACHE_SECONDS 60

typedef CgCaaProp Prop;

/* CAA properties at name: NULL with error on a temporary failure; an empty
 * array when there are none (NXDOMAIN or no data). */
static GPtrArray *
lookup(res_state rs, const char *name, GError **error)
{
	GPtrArray *props = g_ptr_array_new_with_free_func(cg_caa_prop_free);
	unsigned char ans[8192];
	ns_msg msg;
	int n, i;

	n = res_nquery(rs, name, ns_c_in, CAA_TYPE, ans, sizeof(ans));
	if (n < 0) {
		if (rs->res_h_errno == HOST_NOT_FOUND || rs->res_h_errno == NO_DATA)
			return props;
		g_set_error(error, CG_ERROR, CG_ERROR_DNS_TEMP,
		            "CAA lookup for %s failed temporarily", name);
		g_ptr_array_unref(props);
		return NULL;
	}
	if (ns_initparse(ans, n, &msg) < 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_DNS_TEMP, "CAA answer for %s is unreadable",
		            name);
		g_ptr_array_unref(props);
		return NULL;
	}
	for (i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		ns_rr rr;
		const unsigned char *d;
		int len, taglen;
		Prop *p;

		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0 || ns_rr_type(rr) != CAA_TYPE)
			continue;
		d = ns_rr_rdata(rr);
		len = ns_rr_rdlen(rr);
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
		p->tag = g_strndup((const char *)d + 2, (gsize)taglen);
		p->value = g_strndup((const char *)d + 2 + taglen, (gsize)(len - 2 - taglen));
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
cg_caa_check(const char *domain, char **identities, char **found, GError **error)
{
	g_autofree char *ids = g_strjoinv(",", identities);
	g_autofree char *key = g_strconcat(domain, "|", ids, NULL);
	gint64 now = g_get_monotonic_time() / G_USEC_PER_SEC;
	struct __res_state rs;
	const char *name;
	gboolean allowed = TRUE;
	g_autofree char *permit = NULL;
	g_autoptr(GError) err = NULL;
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

	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_DNS_TEMP, "resolver initialisation failed");
		return FALSE;
	}
	for (name = domain; name != NULL && *name;
	     name = strchr(name, '.') ? strchr(name, '.') + 1 : NULL) {
		g_autoptr(GPtrArray) props = lookup(&rs, name, &err);

		if (props == NULL) {
			res_nclose(&rs);
			g_propagate_error(error, g_steal_pointer(&err));
			return FALSE; /* temporary: not cached */
		}
		if (props->len > 0) {
			allowed = cg_policy_caa_decide(props, identities, name, &err);
			permit = g_strdup_printf("CAA at %s permits this CA", name);
			break;
		}
	}
	res_nclose(&rs);
	if (permit == NULL)
		permit = g_strdup_printf("no CAA record at %s or a parent", domain);
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
