/*
 * letter.c: the grammar of request letters (DESIGN.md 5.1).
 *
 * The signed text holds "Key: value" lines. Known keys only; Domain and
 * Admin may repeat, every other key appears at most once; blank lines are
 * ignored; a line "-- " (a mail signature) ends the letter. Every value is
 * validated: names are clean text of bounded length, the country is an ISO
 * 3166 code matching the organizationIdentifier, addresses are valid, domains
 * become lower-case A-labels. Errors name the line.
 */
#include "policy.h"
#include "common.h"

#include <string.h>

#define MAX_LINES  1000
#define MAX_REPEAT 100

static const struct {
	CgLetterKind kind;
	const char *name;
} kinds[] = {
    {CG_LETTER_REGISTER, "register-organisation"}, {CG_LETTER_ADD_ADMIN, "add-admin"},
    {CG_LETTER_REMOVE_ADMIN, "remove-admin"},      {CG_LETTER_ADD_DOMAIN, "add-domain"},
    {CG_LETTER_REMOVE_DOMAIN, "remove-domain"},    {CG_LETTER_UPDATE, "update-organisation"},
    {CG_LETTER_CONFIRM, "confirm-organisation"},
};

const char *
cg_letter_kind_name(CgLetterKind k)
{
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(kinds); i++)
		if (kinds[i].kind == k)
			return kinds[i].name;
	return "?";
}

static void
admin_free(gpointer p)
{
	CgLetterAdmin *a = p;

	g_free(a->address);
	g_free(a->department);
	g_free(a);
}

void
cg_letter_free(CgLetter *l)
{
	if (l == NULL)
		return;
	g_free(l->organisation);
	g_free(l->registration);
	g_free(l->country);
	g_free(l->state);
	g_free(l->locality);
	g_free(l->contact);
	g_ptr_array_unref(l->domains);
	g_ptr_array_unref(l->domain_methods);
	g_ptr_array_unref(l->admins);
	g_free(l);
}

static gboolean G_GNUC_PRINTF(3, 4) fail(GError **error, guint line, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *m = NULL;

	va_start(ap, fmt);
	m = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (line > 0)
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "letter line %u: %s", line, m);
	else
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "letter: %s", m);
	return FALSE;
}

/* A single-valued text field: clean, 1..max bytes, set once. */
static gboolean
set_text(char **slot, const char *key, const char *v, gsize max, guint line, GError **error)
{
	if (*slot != NULL)
		return fail(error, line, "%s given twice", key);
	if (*v == '\0' || !cg_text_is_clean(v, -1, max))
		return fail(error, line, "%s must be 1 to %zu bytes of printable text", key, max);
	*slot = g_strdup(v);
	return TRUE;
}

/* "Domain: NAME" or "Domain: NAME; Method: dns|postmaster". */
static gboolean
add_domain(CgLetter *l, const char *v, guint line, GError **error)
{
	g_autoptr(GError) err = NULL;
	g_auto(GStrv) parts = g_strsplit(v, ";", 2);
	const char *method = "";
	char *d;
	guint i;

	/* An empty value splits into no part at all. */
	if (parts[0] != NULL && parts[1] != NULL) {
		char *m = g_strstrip(parts[1]);

		if (g_ascii_strncasecmp(m, "Method:", 7) != 0)
			return fail(error, line,
			            "Domain: after the name only \"; Method: dns\" or "
			            "\"; Method: postmaster\"");
		m = g_strstrip(m + 7);
		if (g_ascii_strcasecmp(m, "dns") == 0)
			method = "dns";
		else if (g_ascii_strcasecmp(m, "postmaster") == 0)
			method = "postmaster";
		else
			return fail(error, line, "Domain: Method is dns or postmaster, not \"%s\"",
			            m);
	}
	d = cg_domain_normalise(parts[0] != NULL ? g_strstrip(parts[0]) : "", &err);
	if (d == NULL)
		return fail(error, line, "Domain: %s", err->message);
	for (i = 0; i < l->domains->len; i++)
		if (strcmp(l->domains->pdata[i], d) == 0) {
			g_free(d);
			return fail(error, line, "Domain %s given twice",
			            (char *)l->domains->pdata[i]);
		}
	if (l->domains->len >= MAX_REPEAT) {
		g_free(d);
		return fail(error, line, "more than %d Domain lines", MAX_REPEAT);
	}
	g_ptr_array_add(l->domains, d);
	g_ptr_array_add(l->domain_methods, g_strdup(method));
	return TRUE;
}

/* "Admin: address" or "Admin: address; department". */
static gboolean
add_admin(CgLetter *l, const char *v, guint line, GError **error)
{
	g_autoptr(GError) err = NULL;
	g_auto(GStrv) parts = g_strsplit(v, ";", 2);
	CgLetterAdmin *a;
	guint i;
	char *addr;

	/* An empty value splits into no part at all. */
	if (parts[0] == NULL || *g_strstrip(parts[0]) == '\0')
		return fail(error, line, "Admin: no address");
	if ((addr = cg_addr_normalise(parts[0], &err)) == NULL)
		return fail(error, line, "Admin: %s", err->message);
	a = g_new0(CgLetterAdmin, 1);
	a->address = addr;
	a->department = g_strdup(parts[1] ? g_strstrip(parts[1]) : "");
	if (!cg_text_is_clean(a->department, -1, 64)) {
		admin_free(a);
		return fail(error, line,
		            "Admin: the department must be at most 64 bytes of printable "
		            "text");
	}
	for (i = 0; i < l->admins->len; i++)
		if (strcmp(((CgLetterAdmin *)l->admins->pdata[i])->address, a->address) == 0) {
			admin_free(a);
			return fail(error, line, "Admin %s given twice", addr);
		}
	if (l->admins->len >= MAX_REPEAT) {
		admin_free(a);
		return fail(error, line, "more than %d Admin lines", MAX_REPEAT);
	}
	g_ptr_array_add(l->admins, a);
	return TRUE;
}

static gboolean
field(CgLetter *l, const char *key, const char *v, guint line, GError **error)
{
	g_autoptr(GError) err = NULL;

	if (g_ascii_strcasecmp(key, "Request") == 0) {
		gsize i;

		if (l->kind != 0)
			return fail(error, line, "Request given twice");
		for (i = 0; i < G_N_ELEMENTS(kinds); i++)
			if (g_ascii_strcasecmp(v, kinds[i].name) == 0)
				l->kind = kinds[i].kind;
		if (l->kind == 0)
			return fail(error, line,
			            "unknown Request; one of register-organisation, add-admin, "
			            "remove-admin, add-domain, remove-domain, update-organisation, "
			            "confirm-organisation");
		return TRUE;
	}
	if (g_ascii_strcasecmp(key, "Organisation") == 0 ||
	    g_ascii_strcasecmp(key, "Organization") == 0)
		return set_text(&l->organisation, "Organisation", v, 64, line, error);
	if (g_ascii_strcasecmp(key, "Registration") == 0) {
		if (!set_text(&l->registration, "Registration", v, 100, line, error))
			return FALSE;
		if (!cg_policy_org_identifier(v, &err))
			return fail(error, line, "Registration: %s", err->message);
		return TRUE;
	}
	if (g_ascii_strcasecmp(key, "Country") == 0) {
		if (!set_text(&l->country, "Country", v, 2, line, error))
			return FALSE;
		if (!cg_policy_country_valid(v))
			return fail(error, line, "Country %s is not an ISO 3166 alpha-2 code", v);
		return TRUE;
	}
	if (g_ascii_strcasecmp(key, "State") == 0)
		return set_text(&l->state, "State", v, 128, line, error);
	if (g_ascii_strcasecmp(key, "Locality") == 0)
		return set_text(&l->locality, "Locality", v, 128, line, error);
	if (g_ascii_strcasecmp(key, "Contact") == 0) {
		char *a;

		if (l->contact != NULL)
			return fail(error, line, "Contact given twice");
		if ((a = cg_addr_normalise(v, &err)) == NULL)
			return fail(error, line, "Contact: %s", err->message);
		l->contact = a;
		return TRUE;
	}
	if (g_ascii_strcasecmp(key, "Domain") == 0)
		return add_domain(l, v, line, error);
	if (g_ascii_strcasecmp(key, "Admin") == 0)
		return add_admin(l, v, line, error);
	return fail(error, line, "unknown key");
}

/* What each request needs and allows. */
static gboolean
complete(CgLetter *l, GError **error)
{
	gboolean org_fields = l->organisation || l->registration || l->country || l->state ||
	                      l->locality || l->contact;

	switch (l->kind) {
	case CG_LETTER_REGISTER:
		if (!l->organisation || !l->registration || !l->country || !l->contact)
			return fail(
			    error, 0,
			    "register-organisation needs Organisation, Registration, Country "
			    "and Contact");
		if (l->domains->len == 0)
			return fail(error, 0, "register-organisation needs at least one Domain");
		break;
	case CG_LETTER_ADD_ADMIN:
	case CG_LETTER_REMOVE_ADMIN:
		if (l->admins->len == 0 || l->domains->len > 0 || org_fields)
			return fail(error, 0, "%s takes Admin lines only",
			            cg_letter_kind_name(l->kind));
		break;
	case CG_LETTER_ADD_DOMAIN:
	case CG_LETTER_REMOVE_DOMAIN:
		if (l->domains->len == 0 || l->admins->len > 0 || org_fields)
			return fail(error, 0, "%s takes Domain lines only",
			            cg_letter_kind_name(l->kind));
		break;
	case CG_LETTER_UPDATE:
		if (!org_fields || l->domains->len > 0 || l->admins->len > 0)
			return fail(
			    error, 0,
			    "update-organisation takes Organisation, Registration, Country, "
			    "State, Locality or Contact");
		break;
	case CG_LETTER_CONFIRM:
		if (org_fields || l->domains->len > 0 || l->admins->len > 0)
			return fail(error, 0,
			            "confirm-organisation takes no other line: it confirms the "
			            "organisation as the CA holds it (change it with "
			            "update-organisation first)");
		break;
	default:
		return fail(error, 0, "no Request line");
	}
	if (l->registration != NULL && l->country != NULL) {
		g_autofree char *cc = cg_policy_identifier_country(l->registration);

		if (cc != NULL && strcmp(cc, l->country) != 0)
			return fail(error, 0,
			            "Country %s does not match the Registration's country %s",
			            l->country, cc);
	}
	return TRUE;
}

CgLetter *
cg_letter_parse(const char *text, GError **error)
{
	g_auto(GStrv) lines = NULL;
	CgLetter *l = g_new0(CgLetter, 1);
	guint i;

	l->domains = g_ptr_array_new_with_free_func(g_free);
	l->domain_methods = g_ptr_array_new_with_free_func(g_free);
	l->admins = g_ptr_array_new_with_free_func(admin_free);
	lines = g_strsplit(text ? text : "", "\n", -1);
	for (i = 0; lines[i] != NULL; i++) {
		char *line = lines[i], *colon;
		gsize n = strlen(line);

		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (strcmp(line, "-- ") == 0)
			break;
		if (i >= MAX_LINES) {
			fail(error, i + 1, "a letter has at most %d lines", MAX_LINES);
			goto bad;
		}
		g_strstrip(line);
		if (*line == '\0')
			continue;
		if (!g_utf8_validate(line, -1, NULL)) {
			fail(error, i + 1, "not UTF-8");
			goto bad;
		}
		if ((colon = strchr(line, ':')) == NULL || colon == line) {
			fail(error, i + 1, "not a \"Key: value\" line");
			goto bad;
		}
		*colon = '\0';
		if (!field(l, g_strstrip(line), g_strstrip(colon + 1), i + 1, error))
			goto bad;
	}
	if (!complete(l, error))
		goto bad;
	return l;
bad:
	cg_letter_free(l);
	return NULL;
}
