/*
 * codec.c: each record kind as a GVariant: its version 1 tuple, its optional
 * (version 2) fields, its key, and the table envelope.c reads them through.
 * Decoders check that every field is in range; NULL when one is not.
 */
#include "store-int.h"

#include <stdlib.h>
#include <string.h>

#define S(x) ((x) != NULL ? (x) : "")

static GVariant *
bytes_v(const void *data, gsize len)
{
	return g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data ? data : "", len, 1);
}

static GVariant *
gbytes_v(GBytes *b)
{
	gsize len = 0;
	const void *p = b ? g_bytes_get_data(b, &len) : NULL;

	return bytes_v(p, len);
}

static gboolean
fixed32(GVariant *v, guint8 out[32])
{
	gsize n;
	const guint8 *p = g_variant_get_fixed_array(v, &n, 1);

	if (n != 32)
		return FALSE;
	memcpy(out, p, 32);
	return TRUE;
}

static GBytes *
variant_gbytes(GVariant *v)
{
	gsize n;
	const guint8 *p = g_variant_get_fixed_array(v, &n, 1);

	return g_bytes_new(p, n);
}

/* ---- orgs ---- */

#define ORG_T "(sssssssyxxsss)"

static GVariant *
org_encode(gconstpointer r)
{
	const CgOrg *o = r;

	return g_variant_new(ORG_T, S(o->id), S(o->name), S(o->org_identifier), S(o->country),
	                     S(o->state), S(o->locality), S(o->contact), (guint8)o->status,
	                     o->created_at, o->validated_at, S(o->approved_by), S(o->created_by),
	                     S(o->reason));
}

static gpointer
org_decode(GVariant *v)
{
	CgOrg *o = g_new0(CgOrg, 1);
	guint8 st;

	g_variant_get(v, ORG_T, &o->id, &o->name, &o->org_identifier, &o->country, &o->state,
	              &o->locality, &o->contact, &st, &o->created_at, &o->validated_at,
	              &o->approved_by, &o->created_by, &o->reason);
	o->status = st;
	if (st > CG_ORG_REJECTED) {
		cg_org_free(o);
		return NULL;
	}
	return o;
}

static void
org_key(gconstpointer r, GByteArray *k)
{
	g_byte_array_append(k, (const guint8 *)S(((const CgOrg *)r)->id),
	                    strlen(S(((const CgOrg *)r)->id)));
}

void
cg_org_free(CgOrg *o)
{
	if (o == NULL)
		return;
	g_free(o->id);
	g_free(o->name);
	g_free(o->org_identifier);
	g_free(o->country);
	g_free(o->state);
	g_free(o->locality);
	g_free(o->contact);
	g_free(o->approved_by);
	g_free(o->created_by);
	g_free(o->reason);
	g_strfreev(o->pending_domains);
	g_strfreev(o->pending_methods);
	g_strfreev(o->pending_admins);
	g_strfreev(o->pending_departments);
	g_free(o->verified_source);
	g_free(o->verified_reference);
	g_free(o->verified_extract);
	g_free(o->confirm_request);
	g_free(o);
}

static void
org_extras_out(gconstpointer r, GVariantDict *d)
{
	const CgOrg *o = r;
	GVariantBuilder b;
	guint i;

	if (o->verified_source != NULL)
		g_variant_dict_insert(d, "verified_source", "s", o->verified_source);
	if (o->verified_reference != NULL)
		g_variant_dict_insert(d, "verified_reference", "s", o->verified_reference);
	if (o->verified_extract != NULL)
		g_variant_dict_insert(d, "verified_extract", "s", o->verified_extract);
	if (o->confirm_request != NULL)
		g_variant_dict_insert(d, "confirm_request", "s", o->confirm_request);
	if (o->confirm_asked_at != 0)
		g_variant_dict_insert(d, "confirm_asked_at", "x", o->confirm_asked_at);

	if (o->pending_domains != NULL && o->pending_domains[0] != NULL)
		g_variant_dict_insert_value(
		    d, "pending_domains",
		    g_variant_new_strv((const char *const *)o->pending_domains, -1));
	if (o->pending_methods != NULL && o->pending_methods[0] != NULL)
		g_variant_dict_insert_value(
		    d, "pending_methods",
		    g_variant_new_strv((const char *const *)o->pending_methods, -1));
	if (o->pending_admins == NULL || o->pending_admins[0] == NULL)
		return;
	g_variant_builder_init(&b, G_VARIANT_TYPE("a(ss)"));
	for (i = 0; o->pending_admins[i] != NULL; i++)
		g_variant_builder_add(&b, "(ss)", o->pending_admins[i],
		                      o->pending_departments && o->pending_departments[i]
		                          ? o->pending_departments[i]
		                          : "");
	g_variant_dict_insert_value(d, "pending_admins", g_variant_builder_end(&b));
}

static gboolean
org_extras_in(gpointer r, GVariantDict *d)
{
	CgOrg *o = r;
	g_autoptr(GVariant) doms = g_variant_dict_lookup_value(d, "pending_domains", NULL);
	g_autoptr(GVariant) adms = g_variant_dict_lookup_value(d, "pending_admins", NULL);
	gsize i, n;

	if ((doms != NULL && !g_variant_is_of_type(doms, G_VARIANT_TYPE_STRING_ARRAY)) ||
	    (adms != NULL && !g_variant_is_of_type(adms, G_VARIANT_TYPE("a(ss)"))))
		return FALSE;
	(void)g_variant_dict_lookup(d, "verified_source", "s", &o->verified_source);
	(void)g_variant_dict_lookup(d, "verified_reference", "s", &o->verified_reference);
	(void)g_variant_dict_lookup(d, "verified_extract", "s", &o->verified_extract);
	(void)g_variant_dict_lookup(d, "confirm_request", "s", &o->confirm_request);
	(void)g_variant_dict_lookup(d, "confirm_asked_at", "x", &o->confirm_asked_at);
	if (doms != NULL)
		o->pending_domains = g_variant_dup_strv(doms, NULL);
	{
		g_autoptr(GVariant) meths = g_variant_dict_lookup_value(d, "pending_methods", NULL);

		if (meths != NULL && !g_variant_is_of_type(meths, G_VARIANT_TYPE_STRING_ARRAY))
			return FALSE;
		if (meths != NULL)
			o->pending_methods = g_variant_dup_strv(meths, NULL);
	}
	if (adms == NULL)
		return TRUE;
	n = g_variant_n_children(adms);
	o->pending_admins = g_new0(char *, n + 1);
	o->pending_departments = g_new0(char *, n + 1);
	for (i = 0; i < n; i++)
		g_variant_get_child(adms, i, "(ss)", &o->pending_admins[i],
		                    &o->pending_departments[i]);
	return TRUE;
}

/* ---- domains ---- */

#define DOMAIN_T "(ssyxxsssssx)"

static GVariant *
domain_encode(gconstpointer r)
{
	const CgDomain *d = r;

	return g_variant_new(DOMAIN_T, S(d->domain), S(d->org_id), (guint8)d->status,
	                     d->validated_at, d->expires_at, S(d->method), S(d->rule_version),
	                     S(d->evidence), S(d->local_part), S(d->previous_org), d->challenged_at);
}

static gpointer
domain_decode(GVariant *v)
{
	CgDomain *d = g_new0(CgDomain, 1);
	guint8 st;

	g_variant_get(v, DOMAIN_T, &d->domain, &d->org_id, &st, &d->validated_at, &d->expires_at,
	              &d->method, &d->rule_version, &d->evidence, &d->local_part, &d->previous_org,
	              &d->challenged_at);
	d->status = st;
	if (st > CG_DOMAIN_DISPUTED) {
		cg_domain_free(d);
		return NULL;
	}
	return d;
}

static void
domain_key(gconstpointer r, GByteArray *k)
{
	const char *s = S(((const CgDomain *)r)->domain);

	g_byte_array_append(k, (const guint8 *)s, strlen(s));
}

void
cg_domain_free(CgDomain *d)
{
	if (d == NULL)
		return;
	g_free(d->domain);
	g_free(d->org_id);
	g_free(d->method);
	g_free(d->rule_version);
	g_free(d->evidence);
	g_free(d->local_part);
	g_free(d->previous_org);
	g_free(d);
}

/* ---- admins ---- */

#define ADMIN_T "(sssysx)"

static GVariant *
admin_encode(gconstpointer r)
{
	const CgAdmin *a = r;

	return g_variant_new(ADMIN_T, S(a->address), S(a->org_id), S(a->department),
	                     (guint8)a->status, S(a->appointed_by), a->appointed_at);
}

static gpointer
admin_decode(GVariant *v)
{
	CgAdmin *a = g_new0(CgAdmin, 1);
	guint8 st;

	g_variant_get(v, ADMIN_T, &a->address, &a->org_id, &a->department, &st, &a->appointed_by,
	              &a->appointed_at);
	a->status = st;
	if (st > CG_ADMIN_HELD) {
		cg_admin_free(a);
		return NULL;
	}
	return a;
}

static void
admin_key(gconstpointer r, GByteArray *k)
{
	const char *s = S(((const CgAdmin *)r)->address);

	g_byte_array_append(k, (const guint8 *)s, strlen(s));
}

void
cg_admin_free(CgAdmin *a)
{
	if (a == NULL)
		return;
	g_free(a->address);
	g_free(a->org_id);
	g_free(a->department);
	g_free(a->appointed_by);
	g_free(a);
}

/* ---- challenges ---- */

#define CHALLENGE_T "(ayyssssuxxys)"
#define CHALLENGE_F "(@ayyssssuxxys)"

static GVariant *
challenge_encode(gconstpointer r)
{
	const CgChallenge *c = r;

	return g_variant_new(CHALLENGE_F, bytes_v(c->token_hash, 32), (guint8)c->kind, S(c->target),
	                     S(c->address), S(c->org_id), S(c->request_id), c->item, c->created,
	                     c->expires, (guint8)c->state, S(c->message_id));
}

static gpointer
challenge_decode(GVariant *v)
{
	CgChallenge *c = g_new0(CgChallenge, 1);
	g_autoptr(GVariant) hash = NULL;
	guint8 kind, st;

	g_variant_get(v, CHALLENGE_F, &hash, &kind, &c->target, &c->address, &c->org_id,
	              &c->request_id, &c->item, &c->created, &c->expires, &st, &c->message_id);
	c->kind = kind;
	c->state = st;
	if (!fixed32(hash, c->token_hash) || kind < CG_CHALLENGE_DOMAIN ||
	    kind > CG_CHALLENGE_DNS || st > CG_CHALLENGE_STATE_EXPIRED) {
		cg_challenge_free(c);
		return NULL;
	}
	return c;
}

static void
challenge_key(gconstpointer r, GByteArray *k)
{
	g_byte_array_append(k, ((const CgChallenge *)r)->token_hash, 32);
}

void
cg_challenge_free(CgChallenge *c)
{
	if (c == NULL)
		return;
	g_free(c->target);
	g_free(c->address);
	g_free(c->org_id);
	g_free(c->request_id);
	g_free(c->message_id);
	g_free(c);
}

/* ---- requests ---- */

#define REQUEST_T "(sysssyxsussuuss)"

static GVariant *
request_encode(gconstpointer r)
{
	const CgRequest *q = r;

	return g_variant_new(REQUEST_T, S(q->id), (guint8)q->kind, S(q->org_id), S(q->requester),
	                     S(q->digest), (guint8)q->status, q->created, S(q->profile),
	                     q->validity_days, S(q->fields), S(q->format), q->n_items, q->n_settled,
	                     S(q->reason), S(q->evidence));
}

static gpointer
request_decode(GVariant *v)
{
	CgRequest *q = g_new0(CgRequest, 1);
	guint8 kind, st;

	g_variant_get(v, REQUEST_T, &q->id, &kind, &q->org_id, &q->requester, &q->digest, &st,
	              &q->created, &q->profile, &q->validity_days, &q->fields, &q->format,
	              &q->n_items, &q->n_settled, &q->reason, &q->evidence);
	q->kind = kind;
	q->status = st;
	if (kind < CG_REQUEST_LETTER || kind > CG_REQUEST_STATUS || st > CG_REQUEST_REJECTED) {
		cg_request_free(q);
		return NULL;
	}
	return q;
}

static void
request_key(gconstpointer r, GByteArray *k)
{
	const char *s = S(((const CgRequest *)r)->id);

	g_byte_array_append(k, (const guint8 *)s, strlen(s));
}

void
cg_request_free(CgRequest *q)
{
	if (q == NULL)
		return;
	g_free(q->id);
	g_free(q->org_id);
	g_free(q->requester);
	g_free(q->digest);
	g_free(q->profile);
	g_free(q->fields);
	g_free(q->format);
	g_free(q->reason);
	g_free(q->evidence);
	g_free(q->renews);
	g_free(q);
}

static void
request_extras_out(gconstpointer r, GVariantDict *d)
{
	const CgRequest *q = r;

	if (q->renews != NULL && *q->renews)
		g_variant_dict_insert(d, "renews", "s", q->renews);
}

static gboolean
request_extras_in(gpointer r, GVariantDict *d)
{
	CgRequest *q = r;
	g_autoptr(GVariant) v = g_variant_dict_lookup_value(d, "renews", NULL);

	if (v != NULL && !g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
		return FALSE;
	q->renews = v != NULL ? g_variant_dup_string(v, NULL) : g_strdup("");
	return TRUE;
}

/* ---- items ---- */

#define ITEM_T "(susssssayyss)"
#define ITEM_F "(susssss@ayyss)"

static GVariant *
item_encode(gconstpointer r)
{
	const CgItem *i = r;

	return g_variant_new(ITEM_F, S(i->request_id), i->index, S(i->mailbox), S(i->given_name),
	                     S(i->surname), S(i->country), S(i->department), gbytes_v(i->csr),
	                     (guint8)i->status, S(i->reason), S(i->serial));
}

static gpointer
item_decode(GVariant *v)
{
	CgItem *i = g_new0(CgItem, 1);
	g_autoptr(GVariant) csr = NULL;
	guint8 st;

	g_variant_get(v, ITEM_F, &i->request_id, &i->index, &i->mailbox, &i->given_name,
	              &i->surname, &i->country, &i->department, &csr, &st, &i->reason, &i->serial);
	i->csr = variant_gbytes(csr);
	i->status = st;
	if (st > CG_ITEM_HELD) {
		cg_item_free(i);
		return NULL;
	}
	return i;
}

/* The CSR of a queued item, from its stored bytes, without decoding the
 * record or walking its form: NULL when it is not a queued item. A hint
 * only: see cg_store_item_csr_hint. Both versions start with ITEM_T's
 * members. */
GBytes *
cg_item_csr_hint(const void *data, gsize len)
{
	g_autoptr(GBytes) bytes = g_bytes_new_static(data, len);
	g_autoptr(GVariant) body = NULL, csr = NULL;
	guint32 version;
	guint8 status;

	if ((body = cg_record_body(CG_REC_ITEM, bytes, FALSE, &version, NULL)) == NULL)
		return NULL;
	csr = g_variant_get_child_value(body, 7);
	g_variant_get_child(body, 8, "y", &status);
	return status == CG_ITEM_QUEUED ? variant_gbytes(csr) : NULL;
}

static void
item_key_raw(const char *request_id, guint32 index, GByteArray *k)
{
	guint32 be = GUINT32_TO_BE(index);

	g_byte_array_append(k, (const guint8 *)request_id, strlen(request_id) + 1);
	g_byte_array_append(k, (const guint8 *)&be, sizeof(be));
}

static void
item_key(gconstpointer r, GByteArray *k)
{
	item_key_raw(S(((const CgItem *)r)->request_id), ((const CgItem *)r)->index, k);
}

void
cg_item_free(CgItem *i)
{
	if (i == NULL)
		return;
	g_free(i->request_id);
	g_free(i->mailbox);
	g_free(i->given_name);
	g_free(i->surname);
	g_free(i->country);
	g_free(i->department);
	if (i->csr != NULL)
		g_bytes_unref(i->csr);
	g_free(i->reason);
	g_free(i->serial);
	g_free(i);
}

/* ---- certs ---- */

#define CERT_T "(sayssayxxyxysus)"
#define CERT_F "(s@ayss@ayxxyxysus)"

static GVariant *
cert_encode(gconstpointer r)
{
	const CgCert *c = r;

	return g_variant_new(CERT_F, S(c->serial), gbytes_v(c->der), S(c->org_id), S(c->mailbox),
	                     bytes_v(c->spki_sha256, 32), c->not_before, c->not_after,
	                     (guint8)c->status, c->revoked_at, c->reason, S(c->request_id), c->item,
	                     S(c->profile));
}

static gpointer
cert_decode(GVariant *v)
{
	CgCert *c = g_new0(CgCert, 1);
	g_autoptr(GVariant) der = NULL, spki = NULL;
	guint8 st;

	g_variant_get(v, CERT_F, &c->serial, &der, &c->org_id, &c->mailbox, &spki, &c->not_before,
	              &c->not_after, &st, &c->revoked_at, &c->reason, &c->request_id, &c->item,
	              &c->profile);
	c->der = variant_gbytes(der);
	c->status = st;
	if (!fixed32(spki, c->spki_sha256) || st > CG_CERT_REVOKED || c->reason > 10) {
		cg_cert_free(c);
		return NULL;
	}
	return c;
}

static void
cert_key(gconstpointer r, GByteArray *k)
{
	const char *s = S(((const CgCert *)r)->serial);

	g_byte_array_append(k, (const guint8 *)s, strlen(s));
}

void
cg_cert_free(CgCert *c)
{
	if (c == NULL)
		return;
	g_free(c->serial);
	if (c->der != NULL)
		g_bytes_unref(c->der);
	g_free(c->org_id);
	g_free(c->mailbox);
	g_free(c->request_id);
	g_free(c->profile);
	g_free(c->renewed_by);
	g_free(c);
}

static void
cert_extras_out(gconstpointer r, GVariantDict *d)
{
	const CgCert *c = r;

	if (c->renewed_by != NULL && *c->renewed_by)
		g_variant_dict_insert(d, "renewed-by", "s", c->renewed_by);
	if (c->reminded > 0)
		g_variant_dict_insert(d, "reminded", "x", c->reminded);
}

static gboolean
cert_extras_in(gpointer r, GVariantDict *d)
{
	CgCert *c = r;
	g_autoptr(GVariant) v = g_variant_dict_lookup_value(d, "renewed-by", NULL);
	g_autoptr(GVariant) rv = g_variant_dict_lookup_value(d, "reminded", NULL);

	if ((v != NULL && !g_variant_is_of_type(v, G_VARIANT_TYPE_STRING)) ||
	    (rv != NULL && !g_variant_is_of_type(rv, G_VARIANT_TYPE_INT64)))
		return FALSE;
	c->renewed_by = v != NULL ? g_variant_dup_string(v, NULL) : g_strdup("");
	c->reminded = rv != NULL ? g_variant_get_int64(rv) : 0;
	return c->reminded >= 0;
}

/* ---- the codec table ---- */

const CgCodec cg_codecs[CG_REC_N_KINDS] = {
    [CG_REC_ORG] = {DBI_ORGS, ORG_T, org_encode, org_decode, org_key, (GDestroyNotify)cg_org_free,
                    org_extras_out, org_extras_in},
    [CG_REC_DOMAIN] = {DBI_DOMAINS, DOMAIN_T, domain_encode, domain_decode, domain_key,
                       (GDestroyNotify)cg_domain_free, NULL, NULL},
    [CG_REC_ADMIN] = {DBI_ADMINS, ADMIN_T, admin_encode, admin_decode, admin_key,
                      (GDestroyNotify)cg_admin_free, NULL, NULL},
    [CG_REC_CHALLENGE] = {DBI_CHALLENGES, CHALLENGE_T, challenge_encode, challenge_decode,
                          challenge_key, (GDestroyNotify)cg_challenge_free, NULL, NULL},
    [CG_REC_REQUEST] = {DBI_REQUESTS, REQUEST_T, request_encode, request_decode, request_key,
                        (GDestroyNotify)cg_request_free, request_extras_out,
                        request_extras_in},
    [CG_REC_ITEM] = {DBI_ITEMS, ITEM_T, item_encode, item_decode, item_key,
                     (GDestroyNotify)cg_item_free, NULL, NULL},
    [CG_REC_CERT] = {DBI_CERTS, CERT_T, cert_encode, cert_decode, cert_key,
                     (GDestroyNotify)cg_cert_free, cert_extras_out, cert_extras_in},
};

void
cg_item_key(const char *request_id, guint32 index, GByteArray *key)
{
	item_key_raw(request_id, index, key);
}
