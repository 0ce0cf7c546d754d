/*
 * envelope.c: typed records as versioned GVariant values.
 *
 * Every stored value is an envelope "(uv)": a format version and the body.
 * Reading checks, in order: the bytes are a GVariant in normal form (so no
 * offset in them points anywhere odd), the version is one this code knows,
 * the body has that version's type, and the decoded fields are in range.
 * Anything else is CG_ERROR_CORRUPT.
 *
 * Records are written as version 2: the version 1 tuple with one more
 * member, an a{sv} of optional fields by name. Fields added since version 1
 * live there, so that a database written by an older certgate still opens
 * (its version 1 records read with those fields empty) and a field can be
 * added without a new version. An extra field of the wrong type is corrupt.
 */
#include "store-int.h"

#include <string.h>

#define V1 1
#define V2 2

/* The envelope and its members are made and read by position: a format
 * string ("(uv)") is parsed again at every call. */
GBytes *
cg_envelope_pack(guint32 version, GVariant *body)
{
	GVariant *members[2] = {g_variant_new_uint32(version), g_variant_new_variant(body)};
	g_autoptr(GVariant) env = g_variant_ref_sink(g_variant_new_tuple(members, 2));

	return g_variant_get_data_as_bytes(env);
}

/* The envelope in bytes: its version and its body, if its bytes are in
 * normal form (or check is FALSE: bytes this process wrote); else NULL. */
static GVariant *
envelope_split(GBytes *bytes, gboolean check, guint32 *version)
{
	g_autoptr(GVariant) env = NULL, v = NULL, body = NULL;

	env = g_variant_ref_sink(g_variant_new_from_bytes(G_VARIANT_TYPE("(uv)"), bytes, FALSE));
	if (check && !g_variant_is_normal_form(env))
		return NULL;
	v = g_variant_get_child_value(env, 0);
	*version = g_variant_get_uint32(v);
	body = g_variant_get_child_value(env, 1);
	return g_variant_get_variant(body);
}

GVariant *
cg_envelope_open(const void *data, gsize len, guint32 version, const char *type, GError **error)
{
	g_autoptr(GBytes) bytes = g_bytes_new(data, len);
	GVariant *body;
	guint32 have;

	if ((body = envelope_split(bytes, TRUE, &have)) == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "record is not well-formed");
		return NULL;
	}
	if (have != version) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "unknown record version %u", have);
		g_variant_unref(body);
		return NULL;
	}
	if (!g_variant_is_of_type(body, G_VARIANT_TYPE(type))) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "record has type %s, expected %s",
		            g_variant_get_type_string(body), type);
		g_variant_unref(body);
		return NULL;
	}
	return body;
}

/* The version 2 type of each kind: the version 1 tuple's members, then
 * a{sv}; made once. */
static const char *
v2_type(CgRecordKind kind)
{
	static gsize once;
	static char *types[CG_REC_N_KINDS];

	if (g_once_init_enter(&once)) {
		int k;

		for (k = 0; k < CG_REC_N_KINDS; k++) {
			const char *v1 = cg_codecs[k].type;

			types[k] = g_strdup_printf("%.*sa{sv})", (int)(strlen(v1) - 1), v1);
		}
		g_once_init_leave(&once, 1);
	}
	return types[kind];
}

int
cg_record_dbi(CgRecordKind kind)
{
	return cg_codecs[kind].dbi;
}

void
cg_record_free(CgRecordKind kind, gpointer rec)
{
	if (rec != NULL)
		cg_codecs[kind].free(rec);
}

GVariant *
cg_record_body(CgRecordKind kind, GBytes *bytes, gboolean check, guint32 *version, GError **error)
{
	const CgCodec *c = &cg_codecs[kind];
	const char *type;
	g_autoptr(GVariant) body = NULL;
	guint32 have;

	if ((body = envelope_split(bytes, check, &have)) == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "record is not well-formed");
		return NULL;
	}
	if (have != V1 && have != V2) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "unknown record version %u", have);
		return NULL;
	}
	type = have == V1 ? c->type : v2_type(kind);
	if (!g_variant_is_of_type(body, G_VARIANT_TYPE(type))) {
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "record has type %s, expected %s",
		            g_variant_get_type_string(body), type);
		return NULL;
	}
	*version = have;
	return g_steal_pointer(&body);
}

/* What reading a record's bytes gives before its fields are taken: the
 * version 1 tuple (its members taken out of the serialised body once) and
 * the a{sv} of optional fields (NULL for version 1). */
typedef struct {
	GBytes *bytes;
	GVariant *v1, *extras;
} Opened;

/* The records a thread read last, by their bytes, a few of each kind: the
 * organisation and domain records an issue job reads are the same bytes
 * job after job, and reading them (the normal-form check, the members taken
 * out one by one) was a tenth of the job. The same bytes give the same
 * values, so a record read again from bytes that passed the check before
 * is decoded from what they gave then (and so is the record an update
 * replaces, which an index callback decodes for its old key: a request's,
 * for requests_held, at every item settled). Records larger than MEMO_MAX (a
 * certificate's, never read twice in a row) are not kept. */
#define MEMO_SLOTS 4
#define MEMO_MAX   2048

typedef struct {
	Opened slot[CG_REC_N_KINDS][MEMO_SLOTS];
	guint next[CG_REC_N_KINDS];
} Memo;

static void
opened_clear(Opened *o)
{
	g_clear_pointer(&o->bytes, g_bytes_unref);
	g_clear_pointer(&o->v1, g_variant_unref);
	g_clear_pointer(&o->extras, g_variant_unref);
}

static void
memo_free(gpointer p)
{
	Memo *m = p;
	int k, i;

	for (k = 0; k < CG_REC_N_KINDS; k++)
		for (i = 0; i < MEMO_SLOTS; i++)
			opened_clear(&m->slot[k][i]);
	g_free(m);
}

static GPrivate memo_key = G_PRIVATE_INIT(memo_free);

static Memo *
memo(void)
{
	Memo *m = g_private_get(&memo_key);

	if (m == NULL) {
		m = g_new0(Memo, 1);
		g_private_set(&memo_key, m);
	}
	return m;
}

/* The tuple and extras bytes opened to before, with new references. */
static gboolean
memo_find(CgRecordKind kind, const void *data, gsize len, GVariant **v1, GVariant **extras)
{
	Memo *m;
	int i;

	if (len > MEMO_MAX)
		return FALSE;
	m = memo();
	for (i = 0; i < MEMO_SLOTS; i++) {
		Opened *o = &m->slot[kind][i];
		gsize have;
		const void *p = o->bytes != NULL ? g_bytes_get_data(o->bytes, &have) : NULL;

		if (p != NULL && have == len && memcmp(p, data, len) == 0) {
			*v1 = g_variant_ref(o->v1);
			*extras = o->extras != NULL ? g_variant_ref(o->extras) : NULL;
			return TRUE;
		}
	}
	return FALSE;
}

static void
memo_keep(CgRecordKind kind, GBytes *bytes, GVariant *v1, GVariant *extras)
{
	Memo *m;
	Opened *o;

	if (g_bytes_get_size(bytes) > MEMO_MAX)
		return;
	m = memo();
	o = &m->slot[kind][m->next[kind]];
	m->next[kind] = (m->next[kind] + 1) % MEMO_SLOTS;
	opened_clear(o);
	o->bytes = g_bytes_ref(bytes);
	o->v1 = g_variant_ref(v1);
	o->extras = extras != NULL ? g_variant_ref(extras) : NULL;
}

/* The record's tuple and extras, from its bytes: checked (check), its
 * version known, its body of that version's type. */
static gboolean
open_record(CgRecordKind kind, GBytes *bytes, gboolean check, GVariant **v1, GVariant **extras,
            GError **error)
{
	g_autoptr(GVariant) body = NULL;
	guint32 have;

	if ((body = cg_record_body(kind, bytes, check, &have, error)) == NULL)
		return FALSE;
	if (have == V1) {
		*v1 = g_variant_ref(body);
		*extras = NULL;
	} else {
		gsize i, n = g_variant_n_children(body);
		g_autofree GVariant **kids = g_new0(GVariant *, n);

		for (i = 0; i + 1 < n; i++)
			kids[i] = g_variant_get_child_value(body, i);
		*v1 = g_variant_ref_sink(g_variant_new_tuple(kids, n - 1));
		for (i = 0; i + 1 < n; i++)
			g_variant_unref(kids[i]);
		*extras = g_variant_get_child_value(body, n - 1);
	}
	return TRUE;
}

static gpointer
record_decode(CgRecordKind kind, const void *data, gsize len, gboolean check, GError **error)
{
	const CgCodec *c = &cg_codecs[kind];
	g_autoptr(GVariant) v1 = NULL, extras = NULL;
	gpointer rec;

	/* Only bytes that were checked are kept. Any read may find them: an
	 * index callback decoding the record an update replaces reads the
	 * bytes its job read (and checked) a moment before. */
	if (!memo_find(kind, data, len, &v1, &extras)) {
		g_autoptr(GBytes) bytes = g_bytes_new(data, len);

		if (!open_record(kind, bytes, check, &v1, &extras, error))
			return NULL;
		if (check)
			memo_keep(kind, bytes, v1, extras);
	}
	rec = c->decode(v1);
	if (rec != NULL && c->extras_in != NULL) {
		g_autoptr(GVariantDict) d = g_variant_dict_new(extras);

		if (!c->extras_in(rec, d))
			g_clear_pointer(&rec, c->free);
	}
	if (rec == NULL)
		g_set_error(error, CG_ERROR, CG_ERROR_CORRUPT, "%s record has a field out of range",
		            cg_db_specs[c->dbi].name);
	return rec;
}

gpointer
cg_record_decode(CgRecordKind kind, const void *data, gsize len, GError **error)
{
	return record_decode(kind, data, len, TRUE, error);
}

gpointer
cg_record_decode_own(CgRecordKind kind, const void *data, gsize len)
{
	return record_decode(kind, data, len, FALSE, NULL);
}

GBytes *
cg_record_encode(CgRecordKind kind, gconstpointer rec)
{
	const CgCodec *c = &cg_codecs[kind];
	g_autoptr(GVariant) v1 = g_variant_ref_sink(c->encode(rec));
	g_auto(GVariantDict) d;
	gsize i, n = g_variant_n_children(v1);
	g_autofree GVariant **kids = g_new0(GVariant *, n + 1);
	GVariant *body;

	g_variant_dict_init(&d, NULL);
	if (c->extras_out != NULL)
		c->extras_out(rec, &d);
	for (i = 0; i < n; i++)
		kids[i] = g_variant_get_child_value(v1, i);
	kids[n] = g_variant_dict_end(&d);
	body = g_variant_new_tuple(kids, n + 1);
	for (i = 0; i < n; i++)
		g_variant_unref(kids[i]);
	return cg_envelope_pack(V2, body);
}

void
cg_record_key(CgRecordKind kind, gconstpointer rec, GByteArray *key)
{
	cg_codecs[kind].key(rec, key);
}
