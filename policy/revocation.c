/*
 * revocation.c: the CRL reasons the S/MIME Baseline Requirements allow
 * (7.2.2): never unspecified, never certificateHold.
 */
#include "policy.h"

static const struct {
	int code;
	const char *name;
} reasons[] = {
    {1, "keyCompromise"},        {3, "affiliationChanged"}, {4, "superseded"},
    {5, "cessationOfOperation"}, {9, "privilegeWithdrawn"},
};

int
cg_crl_reason_parse(const char *name)
{
	gsize i;

	for (i = 0; name != NULL && i < G_N_ELEMENTS(reasons); i++)
		if (g_ascii_strcasecmp(name, reasons[i].name) == 0)
			return reasons[i].code;
	return -1;
}

const char *
cg_crl_reason_name(int code)
{
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(reasons); i++)
		if (reasons[i].code == code)
			return reasons[i].name;
	return code == 0 ? "unspecified" : "other";
}
