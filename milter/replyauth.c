/*
 * replyauth.c: the facts ReplyAuth decides on, gathered from DNS.
 *
 *   SPF    libspf2 for the MAIL FROM domain (HELO for the null sender) and
 *          the client address
 *   DKIM   libopendkim, every signature of the message as received
 *   DMARC  the _dmarc record of the From domain (else of its organisational
 *          domain) for adkim/aspf; organisational domains from the public
 *          suffix list (libpsl)
 * The decision itself is policy's (cg_policy_reply_auth); this file only
 * finds out. One CgReplyAuth serves every thread: libspf2's resolver layer keeps
 * per-thread resolver state, and libopendkim's DKIM_LIB is shared by design.
 */
#include "milter.h"
#include "common.h"
#include "policy.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
#include <spf2/spf.h>
#include <spf2/spf_dns_zone.h>
#include <spf2/spf_dns_cache.h>
#include <stdbool.h>
#include <opendkim/dkim.h>
#include <libpsl.h>
#include <string.h>
#include <dlfcn.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* ---- DNS for libopendkim ----
 * libopendkim's stock resolver shares one resolver state among threads
 * behind a mutex: one slow answer stalls every message's key lookup (seen
 * under load as milter timeouts in Postfix). These give each thread its own
 * state, and hand back the whole answer (NXDOMAIN included), so that a
 * missing key is told apart from a DNS failure. No lock is held while a
 * query is out. */

typedef struct {
	int status; /* DKIM_DNS_* */
	size_t len;
} DnsQuery;

static void
res_state_free(gpointer p)
{
	res_nclose(p);
	g_free(p);
}

static GPrivate thread_res = G_PRIVATE_INIT(res_state_free);

static res_state
my_res(void)
{
	res_state r = g_private_get(&thread_res);

	if (r == NULL) {
		r = g_new0(struct __res_state, 1);
		if (res_ninit(r) != 0) {
			g_free(r);
			return NULL;
		}
		g_private_set(&thread_res, r);
	}
	return r;
}

/* Answers with records are kept for their smallest TTL, shared by every
 * thread, as SPF and DMARC answers are (cg_replyauth_new): a challenge
 * reply's key was asked for again for every message, a round trip to the
 * resolver each time. A TTL of 0, an answer without records (NXDOMAIN,
 * no data) and a failure are not kept: they are asked again. At most
 * KEPT_MAX answers; when full, the expired go, or else all. */
#define KEPT_MAX 1024

typedef struct {
	guint8 *data;
	gsize len;
	gint64 expires; /* monotonic seconds */
} Kept;

static GMutex kept_lock;
static GHashTable *kept; /* "TYPE name" (lower case) -> Kept */

static void
kept_free(gpointer p)
{
	Kept *k = p;

	g_free(k->data);
	g_free(k);
}

static gboolean
kept_expired(gpointer key, gpointer value, gpointer now)
{
	(void)key;
	return ((Kept *)value)->expires <= *(gint64 *)now;
}

/* The smallest TTL of the answer's records; 0 for an answer with none, an
 * error code or an answer that does not parse. */
static guint32
answer_ttl(const unsigned char *ans, int len)
{
	ns_msg msg;
	ns_rr rr;
	guint32 ttl = 0;
	int i, n;

	if (ns_initparse(ans, len, &msg) < 0 || ns_msg_getflag(msg, ns_f_rcode) != ns_r_noerror ||
	    ns_msg_getflag(msg, ns_f_tc))
		return 0;
	n = ns_msg_count(msg, ns_s_an);
	for (i = 0; i < n; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return 0;
		if (i == 0 || ns_rr_ttl(rr) < ttl)
			ttl = ns_rr_ttl(rr);
	}
	return ttl;
}

/* The kept answer to key into buf (its length), or -1. */
static int
kept_answer(const char *key, unsigned char *buf, size_t buflen)
{
	gint64 now = g_get_monotonic_time() / G_USEC_PER_SEC;
	Kept *k;
	int got = -1;

	g_mutex_lock(&kept_lock);
	k = kept != NULL ? g_hash_table_lookup(kept, key) : NULL;
	if (k != NULL && k->expires > now && k->len <= buflen) {
		memcpy(buf, k->data, k->len);
		got = (int)k->len;
	}
	g_mutex_unlock(&kept_lock);
	return got;
}

static void
keep_answer(const char *key, const unsigned char *ans, int len)
{
	guint32 ttl = answer_ttl(ans, len);
	gint64 now = g_get_monotonic_time() / G_USEC_PER_SEC;
	Kept *k;

	if (ttl == 0)
		return;
	k = g_new0(Kept, 1);
	k->data = g_memdup2(ans, (gsize)len);
	k->len = (gsize)len;
	k->expires = now + ttl;
	g_mutex_lock(&kept_lock);
	if (kept == NULL)
		kept = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, kept_free);
	if (g_hash_table_size(kept) >= KEPT_MAX &&
	    g_hash_table_foreach_remove(kept, kept_expired, &now) == 0)
		g_hash_table_remove_all(kept);
	g_hash_table_replace(kept, g_strdup(key), k);
	g_mutex_unlock(&kept_lock);
}

static int
dns_start(void *srv, int type, unsigned char *query, unsigned char *buf, size_t buflen, void **qh)
{
	DnsQuery *q = g_new0(DnsQuery, 1);
	g_autofree char *name = g_ascii_strdown((const char *)query, -1);
	g_autofree char *key = g_strdup_printf("%d %s", type, name);
	res_state r;
	unsigned char req[NS_PACKETSZ];
	int n = -1, got;

	(void)srv;
	*qh = q;
	if ((got = kept_answer(key, buf, buflen)) < 0 && (r = my_res()) != NULL) {
		n = res_nmkquery(r, ns_o_query, (const char *)query, ns_c_in, type, NULL, 0, NULL,
		                 req, sizeof(req));
		if (n > 0)
			got = res_nsend(r, req, n, buf, (int)MIN(buflen, (size_t)G_MAXINT));
		if (got > 0 && (size_t)got <= buflen)
			keep_answer(key, buf, got);
	}
	q->status = got < 0 ? DKIM_DNS_ERROR : DKIM_DNS_SUCCESS;
	q->len = got < 0 ? 0 : (size_t)got;
	return 0;
}

static int
dns_wait(void *srv, void *qh, struct timeval *to, size_t *bytes, int *error, int *dnssec)
{
	DnsQuery *q = qh;

	(void)srv;
	(void)to;
	*bytes = q->len;
	if (error != NULL)
		*error = 0;
	if (dnssec != NULL)
		*dnssec = DKIM_DNSSEC_UNKNOWN;
	return q->status;
}

static int
dns_cancel(void *srv, void *qh)
{
	(void)srv;
	g_free(qh);
	return 0;
}

/* ---- DKIM keys decoded once ----
 * libopendkim decodes the key of every signature it verifies: it hands the
 * record's p= bytes, in a memory BIO, to d2i_PUBKEY_bio, and OpenSSL 3.0
 * sets up its decoders afresh for each key. On challenge replies that was a
 * quarter of the milter's time, with as much again for the new key's first
 * use (its Montgomery values, its RSA form). This definition takes
 * libopendkim's calls (a program's own symbols come before a library's):
 * bytes already decoded get the same key again, a new reference to an
 * immutable key that any thread may verify with. The bytes are the whole
 * key, so the same bytes are the same key: nothing about its record (its
 * TTL, revocation by an empty p=) is kept here; dns_start decides what is
 * asked for again. Other BIOs, bytes not seen before, and a caller that
 * passes a key to fill go to OpenSSL's own. At most KEYS_MAX keys; when
 * full, all go. */
#define KEYS_MAX 256

typedef EVP_PKEY *(*D2iPubkeyBio)(BIO *, EVP_PKEY **);

static GMutex keys_lock;
static GHashTable *keys; /* GBytes (the DER) -> EVP_PKEY */
static guint64 keys_decoded, keys_reused;

static D2iPubkeyBio
real_d2i_pubkey_bio(void)
{
	static gsize once;
	static D2iPubkeyBio real;

	if (g_once_init_enter(&once)) {
		real = (D2iPubkeyBio)dlsym(RTLD_NEXT, "d2i_PUBKEY_bio");
		g_once_init_leave(&once, 1);
	}
	return real;
}

/* The length of the DER object at the start of p[0..n), 0 if there is none. */
static gsize
der_length(const guint8 *p, long n)
{
	const unsigned char *q = p;
	long len = 0;
	int tag, xclass;

	if (n <= 0 || (ASN1_get_object(&q, &len, &tag, &xclass, n) & 0x80) != 0 ||
	    len > n - (q - p))
		return 0;
	return (gsize)(q - p) + (gsize)len;
}

EVP_PKEY *
d2i_PUBKEY_bio(BIO *bp, EVP_PKEY **out)
{
	D2iPubkeyBio real = real_d2i_pubkey_bio();
	g_autoptr(GBytes) der = NULL;
	char *data = NULL;
	long n;
	gsize len;
	EVP_PKEY *k;

	if (real == NULL)
		return NULL;
	if (out != NULL || bp == NULL || BIO_method_type(bp) != BIO_TYPE_MEM ||
	    (n = BIO_get_mem_data(bp, &data)) <= 0 ||
	    (len = der_length((const guint8 *)data, n)) == 0)
		return real(bp, out);
	der = g_bytes_new(data, len);
	g_mutex_lock(&keys_lock);
	k = keys != NULL ? g_hash_table_lookup(keys, der) : NULL;
	if (k != NULL) {
		EVP_PKEY_up_ref(k);
		keys_reused++;
	}
	g_mutex_unlock(&keys_lock);
	if (k != NULL) {
		/* The BIO is left as the decoder would leave it: past the key. */
		char skip[256];
		gsize done = 0;
		int r;

		while (done < len &&
		       (r = BIO_read(bp, skip, (int)MIN(sizeof(skip), len - done))) > 0)
			done += (gsize)r;
		return k;
	}
	if ((k = real(bp, NULL)) == NULL || BIO_get_mem_data(bp, NULL) != n - (long)len)
		return k;
	g_mutex_lock(&keys_lock);
	if (keys == NULL)
		keys = g_hash_table_new_full(g_bytes_hash, g_bytes_equal,
		                             (GDestroyNotify)g_bytes_unref,
		                             (GDestroyNotify)EVP_PKEY_free);
	if (g_hash_table_size(keys) >= KEYS_MAX)
		g_hash_table_remove_all(keys);
	if (!g_hash_table_contains(keys, der)) {
		EVP_PKEY_up_ref(k);
		g_hash_table_insert(keys, g_bytes_ref(der), k);
	}
	keys_decoded++;
	g_mutex_unlock(&keys_lock);
	return k;
}

void
cg_replyauth_key_counts(guint64 *decoded, guint64 *reused)
{
	g_mutex_lock(&keys_lock);
	*decoded = keys_decoded;
	*reused = keys_reused;
	g_mutex_unlock(&keys_lock);
}

struct CgReplyAuth {
	SPF_server_t *spf;
	SPF_dns_server_t *zone; /* offline: ours to free after the server */
	DKIM_LIB *dkim;
	psl_ctx_t *psl;
	gboolean psl_owned;
};

static CgReplyAuth *
auth_new(SPF_server_t *spf, const char *dkim_keys, GError **error)
{
	CgReplyAuth *a = g_new0(CgReplyAuth, 1);
	unsigned int timeout = 5;

	a->spf = spf;
	a->dkim = dkim_init(NULL, NULL);
	if (a->spf == NULL || a->dkim == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL,
		            "cannot set up SPF and DKIM verification");
		cg_replyauth_free(a);
		return NULL;
	}
	dkim_options(a->dkim, DKIM_OP_SETOPT, DKIM_OPTS_TIMEOUT, &timeout, sizeof(timeout));
	if (dkim_keys == NULL) {
		dkim_dns_set_query_start(a->dkim, dns_start);
		dkim_dns_set_query_waitreply(a->dkim, dns_wait);
		dkim_dns_set_query_cancel(a->dkim, dns_cancel);
	} else {
		dkim_query_t q = DKIM_QUERY_FILE;

		dkim_options(a->dkim, DKIM_OP_SETOPT, DKIM_OPTS_QUERYMETHOD, &q, sizeof(q));
		dkim_options(a->dkim, DKIM_OP_SETOPT, DKIM_OPTS_QUERYINFO, (void *)dkim_keys,
		             strlen(dkim_keys));
	}
	/* The system's list (package publicsuffix) when present: newer than
	 * the one built into libpsl. */
	a->psl = psl_latest(NULL);
	a->psl_owned = a->psl != NULL;
	if (a->psl == NULL)
		a->psl = (psl_ctx_t *)psl_builtin();
	return a;
}

/* SPF and DMARC answers are cached for as long as their TTL says, shared
 * by every thread, in libspf2's cache layer (its floors, 30 seconds to 30
 * minutes by default, set to none: a record's own TTL decides). A zone
 * served with TTL 0 is asked every time. DKIM keys are kept the same way
 * by dns_start, not by libopendkim's query cache: that opens its database
 * on first use without a lock, and two threads verifying at once each made
 * one (LeakSanitizer, in milter_races). */
CgReplyAuth *
cg_replyauth_new(GError **error)
{
	CgReplyAuth *a = auth_new(SPF_server_new(SPF_DNS_CACHE, 0), NULL, error);

	if (a == NULL)
		return NULL;
	SPF_dns_cache_set_ttl(a->spf->resolver, 0, 0, 0, 0);
	SPF_dns_set_conserve_cache(a->spf->resolver, 0);
	return a;
}

CgReplyAuth *
cg_replyauth_new_offline(const char *const *zone, const char *dkim_keys, GError **error)
{
	SPF_dns_server_t *dns = SPF_dns_zone_new(NULL, "certgate-test", 0);
	const char *const *z;

	if (dns == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "cannot make a DNS zone");
		return NULL;
	}
	/* zone: "name TYPE value" triples, value "TRY_AGAIN" for a temporary error. */
	for (z = zone; z && z[0] && z[1] && z[2]; z += 3) {
		ns_type t = strcmp(z[1], "A") == 0 ? ns_t_a : ns_t_txt;
		gboolean again = strcmp(z[2], "TRY_AGAIN") == 0;

		SPF_dns_zone_add_str(dns, z[0], t, again ? TRY_AGAIN : NETDB_SUCCESS,
		                     again ? NULL : z[2]);
	}
	{
		CgReplyAuth *a = auth_new(SPF_server_new_dns(dns, 0), dkim_keys, error);

		if (a == NULL)
			SPF_dns_free(dns);
		else
			a->zone = dns;
		return a;
	}
}

void
cg_replyauth_free(CgReplyAuth *a)
{
	if (a == NULL)
		return;
	if (a->spf != NULL)
		SPF_server_free(a->spf);
	if (a->zone != NULL)
		SPF_dns_free(a->zone);
	if (a->dkim != NULL)
		dkim_close(a->dkim);
	if (a->psl_owned)
		psl_free(a->psl);
	g_free(a);
}

/* ---- organisational domains and alignment ---- */

static const char *
org_domain(CgReplyAuth *a, const char *d)
{
	const char *r = psl_registrable_domain(a->psl, d);

	return r != NULL ? r : d;
}

static gboolean
aligned(CgReplyAuth *a, const char *d1, const char *d2, gboolean strict)
{
	if (d1 == NULL || d2 == NULL)
		return FALSE;
	if (strict)
		return g_ascii_strcasecmp(d1, d2) == 0;
	return g_ascii_strcasecmp(org_domain(a, d1), org_domain(a, d2)) == 0;
}

/* ---- DMARC record ---- */

typedef struct {
	CgAuthResult found; /* NONE, PASS, TEMPERROR */
	char *p;
	gboolean adkim_strict, aspf_strict;
} Dmarc;

/* The value of tag in a "k=v; k=v" record, or NULL. */
static char *
dmarc_tag(const char *rec, const char *tag)
{
	g_auto(GStrv) parts = g_strsplit(rec, ";", -1);
	gsize i;

	for (i = 0; parts[i]; i++) {
		char *eq = strchr(parts[i], '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		if (g_ascii_strcasecmp(g_strstrip(parts[i]), tag) == 0)
			return g_ascii_strdown(g_strstrip(eq + 1), -1);
	}
	return NULL;
}

/* Looks _dmarc.domain up: 1 found (into out), 0 none, -1 temporary error. */
static int
dmarc_lookup(CgReplyAuth *a, const char *domain, Dmarc *out)
{
	g_autofree char *name = g_strdup_printf("_dmarc.%s", domain);
	SPF_dns_rr_t *rr = SPF_dns_lookup(a->spf->resolver, name, ns_t_txt, FALSE);
	int found = 0, i;

	if (rr == NULL)
		return -1;
	if (rr->herrno == TRY_AGAIN) {
		SPF_dns_rr_free(rr);
		return -1;
	}
	for (i = 0; rr->herrno == NETDB_SUCCESS && i < rr->num_rr && !found; i++) {
		const char *txt = rr->rr[i]->txt;
		g_autofree char *adkim = NULL, *aspf = NULL;

		if (g_ascii_strncasecmp(txt, "v=DMARC1", 8) != 0 ||
		    (txt[8] != ';' && txt[8] != ' ' && txt[8] != '\0'))
			continue;
		found = 1;
		out->p = dmarc_tag(txt, "p");
		adkim = dmarc_tag(txt, "adkim");
		aspf = dmarc_tag(txt, "aspf");
		out->adkim_strict = g_strcmp0(adkim, "s") == 0;
		out->aspf_strict = g_strcmp0(aspf, "s") == 0;
	}
	SPF_dns_rr_free(rr);
	return found;
}

static void
dmarc_find(CgReplyAuth *a, const char *from_domain, Dmarc *out)
{
	const char *org = org_domain(a, from_domain);
	int r = dmarc_lookup(a, from_domain, out);

	if (r == 0 && g_ascii_strcasecmp(org, from_domain) != 0)
		r = dmarc_lookup(a, org, out);
	out->found = r < 0 ? CG_AUTH_TEMPERROR : r > 0 ? CG_AUTH_PASS : CG_AUTH_NONE;
}

/* ---- SPF ---- */

static CgAuthResult
spf_check(CgReplyAuth *a, const CgEnvelope *env, char **domain, char **why)
{
	SPF_request_t *req = SPF_request_new(a->spf);
	SPF_response_t *resp = NULL;
	SPF_record_t *rec = NULL;
	SPF_result_t result = SPF_RESULT_PERMERROR;
	SPF_errcode_t err;
	const char *helo = env->helo && *env->helo ? env->helo : "unknown";
	g_autofree char *identity = NULL;
	CgAuthResult r;

	if (env->mail_from && *env->mail_from) {
		identity = g_strdup(env->mail_from);
		*domain = g_strdup(cg_addr_domain(env->mail_from));
	} else {
		identity = g_strdup_printf("postmaster@%s", helo);
		*domain = g_strdup(helo);
	}
	if (req == NULL)
		return CG_AUTH_TEMPERROR;
	if ((SPF_request_set_ipv4_str(req, env->client_ip) != SPF_E_SUCCESS &&
	     SPF_request_set_ipv6_str(req, env->client_ip) != SPF_E_SUCCESS) ||
	    SPF_request_set_helo_dom(req, helo) != SPF_E_SUCCESS ||
	    SPF_request_set_env_from(req, identity) != SPF_E_SUCCESS) {
		*why = g_strdup("the client address or the sender cannot be checked");
		SPF_request_free(req);
		return CG_AUTH_PERMERROR;
	}
	/* SPF_request_query_mailfrom() without its first step: it passes
	 * every loopback client ("localhost always gets a free ride"), which
	 * would let any local process answer for any domain. */
	resp = SPF_response_new(req);
	req->cur_dom = req->env_from_dp;
	err = resp ? SPF_server_get_record(a->spf, req, resp, &rec) : SPF_E_NO_MEMORY;
	if (err == SPF_E_SUCCESS && rec != NULL) {
		resp->spf_record_exp = rec; /* as the library's own entry point does */
		err = SPF_record_interpret(rec, req, resp, 0);
		resp->spf_record_exp = NULL;
	} else
		result = err == SPF_E_DNS_ERROR || err == SPF_E_NO_MEMORY ? SPF_RESULT_TEMPERROR
		         : err == SPF_E_NOT_SPF                           ? SPF_RESULT_NONE
		                                                          : SPF_RESULT_PERMERROR;
	if (rec != NULL) {
		result = SPF_response_result(resp);
		SPF_record_free(rec);
	}
	switch (result) {
	case SPF_RESULT_PASS:
		r = CG_AUTH_PASS;
		break;
	case SPF_RESULT_FAIL:
		r = CG_AUTH_FAIL;
		break;
	case SPF_RESULT_SOFTFAIL:
		r = CG_AUTH_SOFTFAIL;
		break;
	case SPF_RESULT_NEUTRAL:
		r = CG_AUTH_NEUTRAL;
		break;
	case SPF_RESULT_NONE:
		r = CG_AUTH_NONE;
		break;
	case SPF_RESULT_TEMPERROR:
		r = CG_AUTH_TEMPERROR;
		break;
	default:
		r = CG_AUTH_PERMERROR;
		break;
	}
	if (resp != NULL)
		SPF_response_free(resp);
	SPF_request_free(req);
	return r;
}

/* ---- DKIM ---- */

/* Feeds the raw message to a verifying handle: each header field (folding
 * kept, without its final CRLF), then the body as is. */
int
cg_replyauth_dkim_feed(void *handle, GBytes *raw)
{
	DKIM *d = handle;
	gsize len;
	const char *p = g_bytes_get_data(raw, &len), *end = p + len, *field = p;
	DKIM_STAT st = DKIM_STAT_OK;

	while (p < end) {
		const char *nl = memchr(p, '\n', (gsize)(end - p));
		const char *next = nl ? nl + 1 : end;

		if (p == field && (*p == '\r' || *p == '\n')) { /* the blank line */
			p = next;
			break;
		}
		if (next >= end || (*next != ' ' && *next != '\t')) {
			gsize flen = (gsize)(next - field);

			while (flen > 0 && (field[flen - 1] == '\n' || field[flen - 1] == '\r'))
				flen--;
			st = dkim_header(d, (u_char *)field, flen);
			if (st != DKIM_STAT_OK)
				return st;
			field = next;
		}
		p = next;
	}
	if ((st = dkim_eoh(d)) != DKIM_STAT_OK)
		return st;
	if (p < end && (st = dkim_body(d, (u_char *)p, (size_t)(end - p))) != DKIM_STAT_OK)
		return st;
	return dkim_eom(d, NULL);
}

static gboolean
list_has(const char *list, const char *name)
{
	g_auto(GStrv) parts = g_strsplit(list ? list : "", ":", -1);
	gsize i;

	for (i = 0; parts[i]; i++)
		if (g_ascii_strcasecmp(g_strstrip(parts[i]), name) == 0)
			return TRUE;
	return FALSE;
}

static void
dkim_check(CgReplyAuth *a, const CgMail *mail, gboolean token_in_subject, const char *from_domain,
           gboolean strict, GArray *out)
{
	DKIM_STAT st;
	DKIM *d = dkim_verify(a->dkim, (const u_char *)"certgate", NULL, &st);
	DKIM_SIGINFO **sigs = NULL;
	int n = 0, i;

	if (d == NULL)
		return;
	st = cg_replyauth_dkim_feed(d, mail->raw);
	if (st == DKIM_STAT_NOSIG || dkim_getsiglist(d, &sigs, &n) != DKIM_STAT_OK) {
		dkim_free(d);
		return;
	}
	for (i = 0; i < n; i++) {
		DKIM_SIGINFO *s = sigs[i];
		const char *dom = (const char *)dkim_sig_getdomain(s);
		const char *h = (const char *)dkim_sig_gettagvalue(s, FALSE, (u_char *)"h");
		const char *l = (const char *)dkim_sig_gettagvalue(s, FALSE, (u_char *)"l");
		DKIM_SIGERROR e = dkim_sig_geterror(s);
		CgDkimFact f = {0};

		f.domain = g_strdup(dom ? dom : "?");
		f.aligned = aligned(a, f.domain, from_domain, strict);
		if (DKIM_SIG_CHECK(s)) {
			f.result = CG_AUTH_PASS;
			/* What carries the token must be signed, all of it. */
			if (token_in_subject && !list_has(h, "subject")) {
				f.result = CG_AUTH_FAIL;
				f.why = g_strdup("the signature does not cover the Subject");
			} else if (!token_in_subject && l != NULL) {
				f.result = CG_AUTH_FAIL;
				f.why = g_strdup("l= leaves part of the body unsigned");
			}
		} else if (e == DKIM_SIGERROR_KEYFAIL) {
			f.result = CG_AUTH_TEMPERROR;
		} else if ((dkim_sig_getflags(s) & DKIM_SIGFLAG_PASSED) &&
		           dkim_sig_getbh(s) != DKIM_SIGBH_MATCH) {
			f.result = CG_AUTH_FAIL;
			f.why = g_strdup("body changed");
		} else {
			f.result = e == DKIM_SIGERROR_NOKEY || e == DKIM_SIGERROR_KEYDECODE ||
			                   e == DKIM_SIGERROR_DNSSYNTAX
			               ? CG_AUTH_PERMERROR
			               : CG_AUTH_FAIL;
			f.why = g_strdup(e != DKIM_SIGERROR_OK ? dkim_sig_geterrorstr(e)
			                                       : "signature does not verify");
		}
		g_array_append_val(out, f);
	}
	dkim_free(d);
}

/* ---- the whole check ---- */

static void
dkim_fact_clear(gpointer p)
{
	CgDkimFact *f = p;

	g_free(f->domain);
	g_free(f->why);
}

gboolean
cg_replyauth_check(CgReplyAuth *a, const CgMail *mail, gboolean token_in_subject, int mode,
                   gboolean strict, char **summary, GError **error)
{
	const char *from_domain = cg_addr_domain(mail->from);
	g_autoptr(GArray) dkim = g_array_new(FALSE, TRUE, sizeof(CgDkimFact));
	g_autofree char *spf_domain = NULL, *spf_why = NULL;
	g_autoptr(GString) s = g_string_new(NULL);
	Dmarc dm = {0};
	CgAuthFacts f = {0};
	guint i;
	gboolean ok;

	g_array_set_clear_func(dkim, dkim_fact_clear);
	if (mode == CG_REPLY_AUTH_DMARC)
		dmarc_find(a, from_domain, &dm);
	if (mode != CG_REPLY_AUTH_DKIM)
		f.spf = spf_check(a, &mail->envelope, &spf_domain, &spf_why);
	if (mode != CG_REPLY_AUTH_SPF)
		dkim_check(a, mail, token_in_subject, from_domain, strict || dm.adkim_strict, dkim);
	f.from_domain = from_domain;
	f.client_ip = mail->envelope.client_ip;
	f.spf_domain = spf_domain;
	f.spf_aligned = aligned(a, spf_domain, from_domain, strict || dm.aspf_strict);
	f.strict = strict;
	f.dkim = (CgDkimFact *)(void *)dkim->data;
	f.n_dkim = dkim->len;
	f.dmarc_record = dm.found;
	f.dmarc_policy = dm.p;
	ok = cg_policy_reply_auth(mode, &f, error);

	g_string_append_printf(s, "spf=%s (%s from %s%s)", cg_auth_result_name(f.spf),
	                       spf_domain ? spf_domain : "-", f.client_ip ? f.client_ip : "-",
	                       f.spf_aligned ? ", aligned" : "");
	if (mode == CG_REPLY_AUTH_DKIM)
		g_string_assign(s, "spf=not checked");
	for (i = 0; i < f.n_dkim; i++)
		g_string_append_printf(
		    s, " dkim=%s (d=%s%s%s%s)", cg_auth_result_name(f.dkim[i].result),
		    f.dkim[i].domain, f.dkim[i].aligned ? ", aligned" : "",
		    f.dkim[i].why ? ", " : "", f.dkim[i].why ? f.dkim[i].why : "");
	if (f.n_dkim == 0)
		g_string_append(s, mode == CG_REPLY_AUTH_SPF ? " dkim=not checked" : " dkim=none");
	if (mode == CG_REPLY_AUTH_DMARC)
		g_string_append_printf(s, " dmarc=%s (p=%s)", ok ? "pass" : "fail",
		                       dm.p ? dm.p : "-");
	else
		g_string_append_printf(s, " replyauth=%s %s",
		                       mode == CG_REPLY_AUTH_SPF ? "spf" : "dkim",
		                       ok ? "pass" : "fail");
	if (summary != NULL)
		*summary = g_strdup(s->str);
	g_free(dm.p);
	return ok;
}
