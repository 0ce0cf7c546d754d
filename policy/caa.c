/*
 * caa.c: the CAA issuemail decision (RFC 9495, RFC 8659; S/MIME BR 4.2.2.1)
 * on the relevant RRset the issuer found in DNS.
 *
 * Issuance is allowed when the set has no issuemail property, or one whose
 * issuer domain name is one of the CA's identities. "issuemail ;" forbids
 * every CA; a malformed value forbids; an unknown tag with the critical flag
 * forbids. "issue" and "issuewild" do not restrict S/MIME.
 *
 * Never: looks anything up (issuer/caa.c does).
 */
#include "policy.h"
#include "common.h"

#include <string.h>

void
cg_caa_prop_free(gpointer p)
{
	CgCaaProp *x = p;

	g_free(x->tag);
	g_free(x->value);
	g_free(x);
}

/* issuemail value: issuer-domain-name [";" parameters]. NULL when malformed;
 * "" when no issuer is named (";"). */
static char *
issuer_of(const char *value)
{
	g_autofree char *v = g_strdup(value);
	char *semi = strchr(v, ';'), *p;

	if (semi != NULL)
		*semi = '\0';
	g_strstrip(v);
	for (p = v; *p; p++)
		if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-')
			return NULL;
	return g_ascii_strdown(v, -1);
}

static gboolean
known_tag(const char *tag)
{
	return g_ascii_strcasecmp(tag, "issue") == 0 || g_ascii_strcasecmp(tag, "issuewild") == 0 ||
	       g_ascii_strcasecmp(tag, "iodef") == 0;
}

gboolean
cg_policy_caa_decide(GPtrArray *props, char **identities, const char *where, GError **error)
{
	gboolean has_issuemail = FALSE;
	guint i;

	for (i = 0; i < props->len; i++) {
		const CgCaaProp *p = g_ptr_array_index(props, i);
		g_autofree char *issuer = NULL;
		char **id;

		if (g_ascii_strcasecmp(p->tag, "issuemail") != 0) {
			if (p->critical && !known_tag(p->tag)) {
				g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
				            "CAA at %s has an unknown critical property %s", where,
				            p->tag);
				return FALSE;
			}
			continue;
		}
		has_issuemail = TRUE;
		issuer = issuer_of(p->value);
		for (id = identities; issuer != NULL && *issuer && id && *id; id++)
			if (g_ascii_strcasecmp(issuer, *id) == 0)
				return TRUE;
	}
	if (has_issuemail) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "CAA issuemail at %s does not allow this CA to issue S/MIME "
		            "certificates for the domain",
		            where);
		return FALSE;
	}
	return TRUE;
}
