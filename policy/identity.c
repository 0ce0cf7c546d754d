/*
 * identity.c: who an organisation is: country codes and the
 * organizationIdentifier of the S/MIME Baseline Requirements.
 */
#include "policy.h"
#include "common.h"

#include <string.h>

/* ISO 3166-1 alpha-2, officially assigned codes. */
static const char countries[] =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO "
    "BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ "
    "DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP "
    "GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG "
    "KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML "
    "MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE "
    "PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL "
    "SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM "
    "US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

gboolean
cg_policy_country_valid(const char *cc)
{
	const char *p;

	if (cc == NULL || strlen(cc) != 2 || !g_ascii_isupper(cc[0]) || !g_ascii_isupper(cc[1]))
		return FALSE;
	/* Codes are 3 bytes apart ("AD AE ..."); the last one has no blank. */
	for (p = countries; p + 1 < countries + sizeof(countries) - 1; p += 3)
		if (p[0] == cc[0] && p[1] == cc[1])
			return TRUE;
	return FALSE;
}

static gboolean
fail(GError **error, const char *what)
{
	g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED, "organizationIdentifier: %s", what);
	return FALSE;
}

static gboolean
reference_ok(const char *ref, gboolean lei)
{
	gsize n = strlen(ref), i;

	if (lei) {
		if (n != 20)
			return FALSE;
		for (i = 0; i < n; i++)
			if (!g_ascii_isalnum(ref[i]))
				return FALSE;
		return TRUE;
	}
	if (n == 0 || n > 64)
		return FALSE;
	for (i = 0; i < n; i++)
		if (!g_ascii_isalnum(ref[i]) && strchr("./:-", ref[i]) == NULL)
			return FALSE;
	return TRUE;
}

gboolean
cg_policy_org_identifier(const char *id, GError **error)
{
	char scheme[4] = {0}, cc[3] = {0};
	const char *p, *dash;
	gboolean global;

	if (id == NULL || strlen(id) < 7 || strlen(id) > 80)
		return fail(error, "must look like NTRPL-0000123456");
	memcpy(scheme, id, 3);
	memcpy(cc, id + 3, 2);
	if (strcmp(scheme, "NTR") != 0 && strcmp(scheme, "VAT") != 0 &&
	    strcmp(scheme, "PSD") != 0 && strcmp(scheme, "LEI") != 0 &&
	    strcmp(scheme, "GOV") != 0 && strcmp(scheme, "INT") != 0)
		return fail(error, "scheme must be NTR, VAT, PSD, LEI, GOV or INT");
	global = strcmp(scheme, "LEI") == 0 || strcmp(scheme, "INT") == 0;
	if (global) {
		if (strcmp(cc, "XG") != 0)
			return fail(error, "LEI and INT identifiers use the country code XG");
	} else if (!cg_policy_country_valid(cc) &&
	           !(strcmp(scheme, "VAT") == 0 &&
	             (strcmp(cc, "EL") == 0 || strcmp(cc, "XI") == 0))) {
		return fail(error, "country code is not ISO 3166-1 alpha-2");
	}
	p = id + 5;
	dash = strchr(p, '-');
	if (dash == NULL)
		return fail(error, "needs a '-' before the registration reference");
	if (*p == '+') {
		gsize sub = (gsize)(dash - p - 1), i;

		if (strcmp(scheme, "NTR") != 0 && strcmp(scheme, "GOV") != 0)
			return fail(error, "only NTR and GOV identifiers may name a subdivision");
		if (sub < 1 || sub > 3)
			return fail(error, "subdivision code must be 1 to 3 characters");
		for (i = 1; i <= sub; i++)
			if (!g_ascii_isupper(p[i]) && !g_ascii_isdigit(p[i]))
				return fail(
				    error, "subdivision code must be upper-case letters or digits");
	} else if (dash != p) {
		return fail(error, "scheme and country must be followed by '-' or '+'");
	}
	if (!reference_ok(dash + 1, strcmp(scheme, "LEI") == 0))
		return fail(error,
		            strcmp(scheme, "LEI") == 0
		                ? "an LEI is 20 letters and digits"
		                : "registration reference must be 1-64 of A-Z a-z 0-9 . / : -");
	return TRUE;
}

char *
cg_policy_identifier_country(const char *id)
{
	char cc[3] = {0};

	if (id == NULL || strlen(id) < 5)
		return NULL;
	memcpy(cc, id + 3, 2);
	if (strcmp(cc, "XG") == 0)
		return NULL;
	if (strcmp(cc, "EL") == 0)
		return g_strdup("GR");
	if (strcmp(cc, "XI") == 0)
		return g_strdup("GB");
	return g_strdup(cc);
}

gboolean
cg_policy_postmaster_local(const char *local)
{
	static const char *ok[] = {"admin", "administrator", "webmaster", "hostmaster",
	                           "postmaster"};
	gsize i;

	for (i = 0; local != NULL && i < G_N_ELEMENTS(ok); i++)
		if (g_ascii_strcasecmp(local, ok[i]) == 0)
			return TRUE;
	return FALSE;
}
