/*
 * enroll.c: enrolment by mail (DESIGN.md 5.3), the handler of EnrollAddress.
 *
 * check: the sender is an active admin of an active organisation, and the
 *   mail is S/MIME-signed by the admin's own certificate (AdminTrustAnchors);
 *   its items are gathered: CSR attachments (application/pkcs10, .csr, .p10,
 *   .req, .pem; PEM or DER), PEM blocks in the text, and the rows of a CSV
 *   attachment; directives in the text (Validity, Profile, Fields, Format,
 *   Email). Each item is checked on its own (CSR syntax and proof of
 *   possession, key policy, the mailbox's domain validated for this
 *   organisation, sponsor names and country); a mail whose every item is bad
 *   is refused with the first reasons.
 * apply: one request, its items (good ones queued for issue, bad ones
 *   rejected with their reason), the issue jobs, an audit entry. The issuer
 *   mails one report when the last item is settled.
 */
#include "milter.h"
#include "common.h"
#include "policy.h"

#include <string.h>

typedef struct {
	guint32 row;
	char *mailbox, *given, *surname, *country, *department;
	GBytes *csr; /* DER; NULL when the item is bad */
	char *reason;
	gboolean invite; /* a CSV row without a CSR: the mailbox is invited */
} Item;

typedef struct {
	CgOrg *org;
	GPtrArray *items; /* Item* */
	char *profile, *fields, *format;
	guint32 validity;
	char *email;  /* Email: directive */
	char *renews; /* Renew: serials, comma-separated */
	guint n_good;
	gboolean held;   /* unsigned: held until the admin confirms */
	gboolean status; /* "Request: status": no items, a CSV back */
} State;

static void
item_free(gpointer p)
{
	Item *i = p;

	g_free(i->mailbox);
	g_free(i->given);
	g_free(i->surname);
	g_free(i->country);
	g_free(i->department);
	if (i->csr != NULL)
		g_bytes_unref(i->csr);
	g_free(i->reason);
	g_free(i);
}

static void
state_free(gpointer p)
{
	State *st = p;

	cg_org_free(st->org);
	if (st->items != NULL)
		g_ptr_array_unref(st->items);
	g_free(st->profile);
	g_free(st->fields);
	g_free(st->format);
	g_free(st->email);
	g_free(st->renews);
	g_free(st);
}

static void G_GNUC_PRINTF(2, 3) refuse(Item *it, const char *fmt, ...)
{
	va_list ap;

	if (it->reason != NULL)
		return;
	va_start(ap, fmt);
	it->reason = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (it->csr != NULL)
		g_clear_pointer(&it->csr, g_bytes_unref);
}

/* ---- directives ---- */

/* "Renew: SERIAL[, SERIAL...]": certificates the admin renews with the same
 * key (the issuer refuses the same key for the same mailbox otherwise). */
static gboolean
renew_directive(State *st, const char *v, guint line, GError **error)
{
	g_auto(GStrv) serials = g_strsplit_set(v, ", ", -1);
	g_autoptr(GString) out = g_string_new(st->renews);
	char **p;

	for (p = serials; *p; p++) {
		g_autofree char *s = g_ascii_strdown(*p, -1);

		if (*s == '\0')
			continue;
		if (strlen(s) != 32 || strspn(s, "0123456789abcdef") != 32) {
			g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
			            "line %u: Renew takes the 32 hex digits of a serial number", line);
			return FALSE;
		}
		g_string_append_printf(out, "%s%s", out->len ? "," : "", s);
	}
	g_free(st->renews);
	st->renews = g_string_free(g_steal_pointer(&out), FALSE);
	return TRUE;
}

static gboolean
directives(State *st, const CgConf *conf, const char *text, GError **error)
{
	g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
	gboolean in_pem = FALSE;
	guint i;

	for (i = 0; lines[i] != NULL; i++) {
		char *l = g_strstrip(lines[i]), *colon, *v;

		if (g_str_has_prefix(l, "-----BEGIN "))
			in_pem = TRUE;
		if (in_pem) {
			if (g_str_has_prefix(l, "-----END "))
				in_pem = FALSE;
			continue;
		}
		if ((colon = strchr(l, ':')) == NULL)
			continue;
		*colon = '\0';
		v = g_strstrip(colon + 1);
		if (g_ascii_strcasecmp(l, "Validity") == 0) {
			gint64 d = g_ascii_strtoll(v, NULL, 10);

			if (d < 1 || d > conf->max_validity ||
			    strspn(v, "0123456789") != strlen(v)) {
				g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
				            "line %u: Validity must be 1 to %" G_GINT64_FORMAT
				            " days",
				            i + 1, conf->max_validity);
				return FALSE;
			}
			st->validity = (guint32)d;
		} else if (g_ascii_strcasecmp(l, "Profile") == 0) {
			if (g_ascii_strcasecmp(v, "organization") != 0 &&
			    g_ascii_strcasecmp(v, "sponsor") != 0) {
				g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
				            "line %u: Profile must be organization or sponsor",
				            i + 1);
				return FALSE;
			}
			g_free(st->profile);
			st->profile = g_ascii_strdown(v, -1);
		} else if (g_ascii_strcasecmp(l, "Fields") == 0) {
			g_auto(GStrv) f = g_strsplit(v, ",", -1);
			g_autoptr(GString) out = g_string_new(NULL);
			guint k;

			for (k = 0; f[k] != NULL; k++) {
				char *x = g_strstrip(f[k]);

				if (g_ascii_strcasecmp(x, "E") != 0 &&
				    g_ascii_strcasecmp(x, "L") != 0 &&
				    g_ascii_strcasecmp(x, "ST") != 0) {
					g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
					            "line %u: Fields takes E, L and ST", i + 1);
					return FALSE;
				}
				g_string_append_printf(out, "%s%s", out->len ? "," : "", x);
			}
			g_free(st->fields);
			st->fields = g_ascii_strup(out->str, -1);
		} else if (g_ascii_strcasecmp(l, "Format") == 0) {
			if (g_ascii_strcasecmp(v, "pem") != 0 &&
			    g_ascii_strcasecmp(v, "der") != 0) {
				g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
				            "line %u: Format must be pem or der", i + 1);
				return FALSE;
			}
			g_free(st->format);
			st->format = g_ascii_strdown(v, -1);
		} else if (g_ascii_strcasecmp(l, "Renew") == 0) {
			if (!renew_directive(st, v, i + 1, error))
				return FALSE;
		} else if (g_ascii_strcasecmp(l, "Request") == 0) {
			if (g_ascii_strcasecmp(v, "status") != 0) {
				g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
				            "line %u: Request: here is status (a CSV of the "
				            "organisation's certificates and domains)",
				            i + 1);
				return FALSE;
			}
			st->status = TRUE;
		} else if (g_ascii_strcasecmp(l, "Email") == 0) {
			g_autoptr(GError) err = NULL;

			g_free(st->email);
			if ((st->email = cg_addr_normalise(v, &err)) == NULL) {
				g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
				            "line %u: Email: %s", i + 1, err->message);
				return FALSE;
			}
		}
	}
	return TRUE;
}

/* ---- items ---- */

static Item *
new_item(State *st)
{
	Item *it = g_new0(Item, 1);

	it->row = st->items->len + 1;
	g_ptr_array_add(st->items, it);
	return it;
}

gboolean
cg_enroll_is_csr_part(const CgAttachment *a)
{
	const char *f = a->filename ? a->filename : "";

	return g_str_has_suffix(a->content_type, "pkcs10") || g_str_has_suffix(f, ".csr") ||
	       g_str_has_suffix(f, ".p10") || g_str_has_suffix(f, ".req") ||
	       g_str_has_suffix(f, ".pem");
}

static gboolean
is_csv_part(const CgAttachment *a)
{
	return strcmp(a->content_type, "text/csv") == 0 ||
	       (a->filename != NULL && g_str_has_suffix(a->filename, ".csv"));
}

const char *
cg_enroll_pem_csr_next(const char *p, gsize *len)
{
	while (p != NULL && (p = strstr(p, "-----BEGIN ")) != NULL) {
		const char *end = strstr(p, "-----END ");
		const char *stop = end ? strstr(end + 9, "-----") : NULL;

		if (stop == NULL)
			return NULL;
		stop += 5;
		if (strncmp(p, "-----BEGIN CERTIFICATE REQUEST-----", 35) == 0 ||
		    strncmp(p, "-----BEGIN NEW CERTIFICATE REQUEST-----", 39) == 0) {
			*len = (gsize)(stop - p);
			return p;
		}
		p = stop;
	}
	return NULL;
}

/* PEM blocks of CSRs in the text, one item each. */
static void
text_csrs(State *st, const char *text)
{
	const char *p = text;
	gsize len;

	while ((p = cg_enroll_pem_csr_next(p, &len)) != NULL) {
		new_item(st)->csr = g_bytes_new(p, len);
		p += len;
	}
}

/* A cell, trimmed, as a new string ("" for a missing column). */
static char *
cell(GPtrArray *row, int col)
{
	return g_strstrip(g_strdup(col >= 0 && (guint)col < row->len ? row->pdata[col] : ""));
}

/* A name a spreadsheet would run, or one with control characters. */
static const char *
bad_text(const char *s)
{
	if (*s == '=' || *s == '+' || *s == '-' || *s == '@')
		return "looks like a spreadsheet formula";
	if (!cg_text_is_clean(s, -1, 64))
		return "must be at most 64 bytes of printable text, on one line";
	return NULL;
}

/* A list read row by row (cg_csv_foreach): its header row names the
 * columns, each row after it is an item. */
typedef struct {
	State *st;
	int col[6]; /* first name, last name, email, country, csr, department */
	gboolean header;
} ListRead;

static gboolean
list_header(ListRead *lr, GPtrArray *hdr, GError **error)
{
	static const char *const names[] = {"first name", "last name", "email",
	                                    "country",    "csr",       "department"};
	guint c;

	for (c = 0; c < hdr->len; c++) {
		g_autofree char *h = g_ascii_strdown(g_strstrip((char *)hdr->pdata[c]), -1);
		guint k;

		for (k = 0; k < G_N_ELEMENTS(names); k++)
			if (strcmp(h, names[k]) == 0)
				lr->col[k] = (int)c;
	}
	if (lr->col[2] < 0) {
		g_set_error(
		    error, CG_ERROR, CG_ERROR_MALFORMED,
		    "CSV: the header row needs an Email column (First Name, Last Name, Email, "
		    "Country, CSR, Department)");
		return FALSE;
	}
	lr->header = TRUE;
	return TRUE;
}

static gboolean
list_row(GPtrArray *row, guint line, gpointer data, GError **error)
{
	ListRead *lr = data;
	const int *col = lr->col;
	Item *it;
	g_autofree char *csr = NULL, *email = NULL, *country = NULL;
	const char *why;
	g_autoptr(GError) err = NULL;

	(void)line;
	if (!lr->header)
		return list_header(lr, row, error);
	it = new_item(lr->st);
	csr = cell(row, col[4]);
	email = cell(row, col[2]);
	country = cell(row, col[3]);
	it->given = cell(row, col[0]);
	it->surname = cell(row, col[1]);
	it->country = g_ascii_strup(country, -1);
	it->department = cell(row, col[5]);
	it->mailbox = cg_addr_normalise(email, &err);
	if (it->mailbox == NULL)
		refuse(it, "Email: %s", err->message);
	if ((why = bad_text(it->given)) != NULL && *it->given)
		refuse(it, "First Name %s", why);
	if ((why = bad_text(it->surname)) != NULL && *it->surname)
		refuse(it, "Last Name %s", why);
	if ((why = bad_text(it->department)) != NULL && *it->department)
		refuse(it, "Department %s", why);
	if (*csr == '\0') {
		it->invite = TRUE;
	} else if (g_str_has_prefix(csr, "-----BEGIN")) {
		it->csr = g_bytes_new(csr, strlen(csr));
	} else {
		gsize n = 0;
		guchar *der = g_base64_decode(csr, &n);

		it->csr = g_bytes_new_take(der, n);
	}
	return TRUE;
}

static gboolean
csv_items(State *st, const CgConf *conf, const CgAttachment *a, GError **error)
{
	gsize len;
	const char *data = g_bytes_get_data(a->data, &len);
	ListRead lr = {st, {-1, -1, -1, -1, -1, -1}, FALSE};

	if (!cg_csv_foreach(data, len, (guint)conf->max_bulk_rows, list_row, &lr, error))
		return FALSE;
	if (!lr.header) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "CSV: no header row");
		return FALSE;
	}
	return TRUE;
}

/* Why the organisation may not certify mailbox now, or NULL (*why). FALSE
 * only when the store fails: the mail is then deferred, never refused. */
static gboolean
domain_refusal(CgStore *store, const CgConf *conf, const char *mailbox, const char *org_id,
               gint64 now, char **why, GError **error)
{
	g_autoptr(GError) err = NULL;
	const char *name = cg_addr_domain(mailbox);
	g_autoptr(CgDomain) d = cg_store_domain_get(store, NULL, name, &err);
	CgDomainFacts f = {name,
	                   d != NULL,
	                   d ? d->org_id : NULL,
	                   d && d->status == CG_DOMAIN_VALIDATED,
	                   d ? cg_domain_status_name(d->status) : NULL,
	                   d ? d->expires_at : 0,
	                   d ? d->method : "",
	                   cg_conf_public_trust(conf)};

	if (d == NULL && !cg_error_absent(&err, error))
		return FALSE;
	*why = cg_policy_domain_usable(&f, org_id, now);
	return TRUE;
}

/* Checks one item; FALSE only when the store fails. */
static gboolean
check_item(CgGateway *g, State *st, Item *it, gboolean single, gint64 now, GError **error)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgCsr) csr = NULL;
	g_autofree char *why = NULL;
	CgProfile profile = CG_PROFILE_ORGANIZATION;

	if (it->reason != NULL)
		return TRUE;
	cg_profile_parse(st->profile, &profile);
	if (!it->invite) {
		csr = cg_csr_parse(g_bytes_get_data(it->csr, NULL), g_bytes_get_size(it->csr),
		                   &err);
		if (csr == NULL) {
			refuse(it, "CSR: %s", err->message);
			return TRUE;
		}
		g_bytes_unref(it->csr);
		it->csr = g_bytes_ref(csr->der);
		if (it->mailbox == NULL)
			it->mailbox =
			    g_strdup(csr->mailbox ? csr->mailbox : single ? st->email : NULL);
	}
	if (it->mailbox == NULL) {
		refuse(it, it->invite ? "no mailbox to invite"
		                      : "no mailbox: the CSR names none; add an Email: line");
		return TRUE;
	}
	if (csr != NULL && !cg_policy_check_key_shape(csr->key, &err)) {
		refuse(it, "%s", err->message);
		return TRUE;
	}
	if (!domain_refusal(g->store, g->conf, it->mailbox, st->org->id, now, &why, error))
		return FALSE;
	if (why == NULL)
		why = cg_policy_sponsor(profile, it->given, it->surname, it->country,
		                        st->org->country);
	if (why != NULL)
		refuse(it, "%s", why);
	return TRUE;
}

/* Two good items for one mailbox (rows that differ in case, a trailing dot
 * or U-label against A-label: mailboxes are normalised when read): the
 * later is refused as a duplicate, so one mailbox gets one invitation and
 * one certificate per request. Local parts compare without case, as mail
 * systems treat them. */
static void
refuse_duplicates(State *st)
{
	g_autoptr(GHashTable) first = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	guint i;

	for (i = 0; i < st->items->len; i++) {
		Item *it = st->items->pdata[i];
		g_autofree char *key = NULL;
		gpointer row;

		if (it->reason != NULL || it->mailbox == NULL)
			continue;
		key = g_utf8_casefold(it->mailbox, -1);
		if (g_hash_table_lookup_extended(first, key, NULL, &row))
			refuse(it, "duplicate of row %u (the same mailbox)", GPOINTER_TO_UINT(row));
		else
			g_hash_table_insert(first, g_steal_pointer(&key), GUINT_TO_POINTER(it->row));
	}
}

static gboolean
enroll_check(CgGateway *g, GError **error)
{
	const CgMail *mail = g->mail;
	g_autoptr(GError) err = NULL;
	g_autoptr(CgAdmin) admin = cg_store_admin_get(g->store, NULL, mail->from, &err);
	g_autoptr(GString) reasons = g_string_new(NULL);
	State *st = g_new0(State, 1);
	CgMailBody own = {0};
	CgMailBody *body = &g->mail->body;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autofree char *why = NULL;
	guint i, before;

	g->state = st;
	st->items = g_ptr_array_new_with_free_func(item_free);
	st->profile = g_strdup("organization");
	st->format = g_strdup("pem");
	st->fields = g_strdup("");
	st->validity = (guint32)g->conf->default_validity;
	if (admin == NULL && !cg_error_absent(&err, error))
		return FALSE;
	if (admin == NULL || admin->status != CG_ADMIN_ACTIVE) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "%s is not an active admin of any organisation", mail->from);
		return FALSE;
	}
	if ((st->org = cg_store_org_get(g->store, NULL, admin->org_id, error)) == NULL)
		return FALSE;
	why = cg_policy_org_usable(st->org->id, st->org->status == CG_ORG_ACTIVE,
	                           cg_org_status_name(st->org->status), st->org->validated_at,
	                           g->conf->org_reuse, now);
	if (why != NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED, "%s", why);
		return FALSE;
	}
	switch (cg_policy_enroll_auth(cg_policy_enroll_auth_mode(g->conf->enroll_auth),
	                              mail->smime.kind != CG_SMIME_NONE, error)) {
	case CG_ENROLL_REFUSE:
		return FALSE;
	case CG_ENROLL_HOLD:
		st->held = TRUE;
		break;
	case CG_ENROLL_PROCEED:
		break;
	}
	if (mail->smime.kind != CG_SMIME_NONE) {
		if (!cg_gateway_signed_body(g, g->conf->admin_trust_anchors, NULL, &own, error))
			return FALSE;
		body = &own;
	}
	if (!directives(st, g->conf, body->text, error))
		goto bad;
	text_csrs(st, body->text);
	if (st->status) {
		/* A status request asks, it enrols nobody. */
		if (st->items->len > 0 || body->attachments->len > 0) {
			g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
			            "a status request carries no CSR and no list; send enrolments "
			            "apart");
			goto bad;
		}
		cg_mail_body_clear(&own);
		return TRUE;
	}
	for (i = 0; i < body->attachments->len; i++) {
		const CgAttachment *a = body->attachments->pdata[i];

		if (is_csv_part(a)) {
			if (!csv_items(st, g->conf, a, error))
				goto bad;
		} else if (cg_enroll_is_csr_part(a)) {
			new_item(st)->csr = g_bytes_ref(a->data);
		}
	}
	/* The items hold what they need: a list's bytes go before its checks. */
	g_ptr_array_set_size(body->attachments, 0);
	if (st->items->len == 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "no CSR found: attach it (.csr, .p10, .req, .pem), paste it as PEM, or "
		            "attach a CSV list");
		goto bad;
	}
	for (i = 0; i < st->items->len; i++)
		if (!check_item(g, st, st->items->pdata[i], st->items->len == 1, now, error))
			goto bad;
	refuse_duplicates(st);
	before = 0;
	for (i = 0; i < st->items->len; i++) {
		Item *it = st->items->pdata[i];

		if (it->reason == NULL) {
			st->n_good++;
		} else if (before++ < 3) {
			g_string_append_printf(
			    reasons, "%sitem %u%s%s%s: %s", reasons->len ? "; " : "", it->row,
			    it->mailbox ? " (" : "", it->mailbox ? it->mailbox : "",
			    it->mailbox ? ")" : "", it->reason);
		}
	}
	cg_gateway_trace(g, "%u items, %u good", st->items->len, st->n_good);
	if (st->n_good == 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED, "no item can be issued: %s",
		            reasons->str);
		goto bad;
	}
	cg_mail_body_clear(&own);
	return TRUE;
bad:
	cg_mail_body_clear(&own);
	return FALSE;
}

static gboolean
enroll_apply(CgGateway *g, CgTxn *txn, GError **error)
{
	State *st = g->state;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autofree char *rid = NULL, *dg = cg_hex(g->digest, 32), *detail = NULL;
	CgRequest req = {0};
	guint64 n = 0;
	gboolean expand;
	guint i;

	if (!cg_store_next_id(txn, "request", &n, error))
		return FALSE;
	rid = g_strdup_printf("R%" G_GUINT64_FORMAT, n);
	req.id = rid;
	req.kind = st->status ? CG_REQUEST_STATUS : CG_REQUEST_ENROLL;
	req.org_id = st->org->id;
	req.requester = g->mail->from;
	req.digest = dg;
	req.status = st->held ? CG_REQUEST_HELD : CG_REQUEST_RECEIVED;
	req.created = now;
	req.profile = st->profile;
	req.validity_days = st->validity;
	req.fields = st->fields;
	req.format = st->format;
	req.n_items = st->items->len;
	req.n_settled = st->items->len - st->n_good;
	req.reason = "";
	req.evidence = g->evidence_id;
	req.renews = st->renews ? st->renews : "";
	if (!cg_store_request_put(txn, &req, error))
		return FALSE;
	expand = !st->held && st->n_good > CG_LIST_EXPAND_AT;
	for (i = 0; i < st->items->len; i++) {
		Item *it = st->items->pdata[i];
		CgItem item = {0};
		g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);

		item.request_id = rid;
		item.index = it->row;
		item.mailbox = it->mailbox ? it->mailbox : "";
		item.given_name = it->given ? it->given : "";
		item.surname = it->surname ? it->surname : "";
		item.country = it->country ? it->country : "";
		item.department = it->department ? it->department : "";
		item.csr = it->reason == NULL && !it->invite ? it->csr : empty;
		item.status = it->reason != NULL ? CG_ITEM_REJECTED
		              : st->held         ? CG_ITEM_HELD
		              : it->invite       ? CG_ITEM_INVITED
		                                 : CG_ITEM_QUEUED;
		item.reason = it->reason ? it->reason : "";
		item.serial = "";
		if (!cg_store_item_put(txn, &item, error))
			return FALSE;
		if (it->reason != NULL) {
			/* Every refusal is audited, as the issuer's are: the digest
			 * counts them and names the commonest reasons. */
			g_autofree char *obj = cg_item_name(rid, it->row);
			g_autofree char *why = g_strdup_printf("%s: %s", item.mailbox, it->reason);

			if (!cg_store_audit_append(txn, now, g->mail->from, "item.refuse", obj, why,
			                           error))
				return FALSE;
			continue;
		}
		if (st->held || expand)
			continue;
		if (!cg_store_item_job_append(txn, rid, it->row, it->invite, error))
			return FALSE;
	}
	if (expand && !cg_store_expand_job_append(txn, rid, 1, error))
		return FALSE;
	if (st->status) {
		detail = g_strdup_printf("status of organisation %s for admin %s", st->org->id,
		                         g->mail->from);
		if (!cg_store_audit_append(txn, now, g->mail->from,
		                           st->held ? "status.held" : "status.request", rid, detail,
		                           error) ||
		    !cg_store_job_append(txn, st->held ? CG_JOB_CONFIRM : CG_JOB_STATUS, rid, error))
			return FALSE;
		g->request_id = g_steal_pointer(&rid);
		g->summary = g_strdup_printf("request %s: status %s", g->request_id,
		                             st->held ? "held for confirmation" : "queued");
		return TRUE;
	}
	detail = g_strdup_printf("%u items (%u queued, %u refused), profile %s, by admin %s of "
	                         "organisation %s",
	                         st->items->len, st->n_good, st->items->len - st->n_good,
	                         st->profile, g->mail->from, st->org->id);
	if (!cg_store_audit_append(txn, now, g->mail->from,
	                           st->held ? "enroll.held" : "enroll.request", rid, detail, error))
		return FALSE;
	if (st->held && !cg_store_job_append(txn, CG_JOB_CONFIRM, rid, error))
		return FALSE;
	g->request_id = g_steal_pointer(&rid);
	g->summary = g_strdup_printf("request %s: %u items %s, %u refused", g->request_id,
	                             st->n_good, st->held ? "held for confirmation" : "queued",
	                             st->items->len - st->n_good);
	return TRUE;
}

const CgHandler cg_enroll_handler = {CG_GW_ENROLL, "enroll",     "enrolment",
                                     enroll_check, enroll_apply, state_free};
