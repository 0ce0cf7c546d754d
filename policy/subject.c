/*
 * subject.c: certificate profiles and subject naming (S/MIME BR 7.1.4.2,
 * STANDARDS.md): which attributes a certificate's subject holds, in which
 * order, with which values. The values come from validated records only
 * (the organisation and the request item), never from a CSR.
 *
 * Never: builds or signs a certificate (the issuer does); reads anything.
 */
#include "policy.h"
#include "common.h"

#include <string.h>
#include <openssl/objects.h>

const char *
cg_profile_name(CgProfile p)
{
	static const char *n[] = {"organization", "sponsor", "mailbox"};

	return (guint)p < G_N_ELEMENTS(n) ? n[p] : "?";
}

gboolean
cg_profile_parse(const char *name, CgProfile *out)
{
	if (g_ascii_strcasecmp(name, "organization") == 0 ||
	    g_ascii_strcasecmp(name, "organisation") == 0)
		*out = CG_PROFILE_ORGANIZATION;
	else if (g_ascii_strcasecmp(name, "sponsor") == 0)
		*out = CG_PROFILE_SPONSOR;
	else
		return FALSE;
	return TRUE;
}

const char *
cg_profile_policy_oid(CgProfile p, gboolean multipurpose)
{
	switch (p) {
	case CG_PROFILE_ORGANIZATION:
		return multipurpose ? "2.23.140.1.5.2.2" : "2.23.140.1.5.2.3";
	case CG_PROFILE_SPONSOR:
		return multipurpose ? "2.23.140.1.5.3.2" : "2.23.140.1.5.3.3";
	case CG_PROFILE_MAILBOX:
		break;
	}
	return multipurpose ? "2.23.140.1.5.1.2" : "2.23.140.1.5.1.3";
}

static gboolean
present(const char *s)
{
	return s != NULL && *s != '\0';
}

char *
cg_policy_common_name(const CgSubjectFacts *f)
{
	if (f->profile == CG_PROFILE_SPONSOR && present(f->given_name) && present(f->surname))
		return g_strdup_printf("%s %s", f->given_name, f->surname);
	/* commonName holds at most 64 bytes: a longer mailbox is named by the
	 * organisation instead (the mailbox stays in the SAN). */
	if (f->profile == CG_PROFILE_ORGANIZATION && strlen(f->mailbox) > 64)
		return g_strdup(f->org_name);
	return g_strdup(f->mailbox);
}

static void
add(CgSubject *s, int nid, const char *value, gsize max)
{
	g_assert(s->n < G_N_ELEMENTS(s->attr));
	s->attr[s->n].nid = nid;
	s->attr[s->n].value = value;
	s->attr[s->n].max = max;
	s->n++;
}

void
cg_policy_subject(const CgSubjectFacts *f, CgSubject *out)
{
	gboolean org = f->profile != CG_PROFILE_MAILBOX;

	memset(out, 0, sizeof(*out));
	out->common_name = cg_policy_common_name(f);
	if (org) {
		add(out, NID_countryName, f->country, 2);
		if (f->field_state && present(f->state))
			add(out, NID_stateOrProvinceName, f->state, 128);
		if (f->field_locality && present(f->locality))
			add(out, NID_localityName, f->locality, 128);
		add(out, NID_organizationName, f->org_name, 64);
		add(out, NID_organizationIdentifier, f->org_identifier, 64);
	}
	if (f->profile == CG_PROFILE_SPONSOR) {
		add(out, NID_givenName, f->given_name, 64);
		add(out, NID_surname, f->surname, 64);
	}
	add(out, NID_commonName, out->common_name, 64);
	/* emailAddress is an IA5String: a UTF-8 mailbox is named in the SAN
	 * (SmtpUTF8Mailbox) and the commonName only. */
	if (f->field_email && cg_addr_is_ascii(f->mailbox))
		add(out, NID_pkcs9_emailAddress, f->mailbox, 254);
}

void
cg_subject_clear(CgSubject *s)
{
	g_free(s->common_name);
	memset(s, 0, sizeof(*s));
}
