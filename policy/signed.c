/*
 * signed.c: how old a signed mail may be. A signed letter, enrolment or
 * revocation is taken only while it is fresh: its signingTime attribute is
 * required, at most SignedMailMaxAge old, and not in the future beyond a
 * small clock skew. Together with the seen record of its signed content
 * this bounds what a copy of an old signed mail (a Bcc, an archive) can do.
 *
 * Never: reads the clock (now is an argument).
 */
#include "policy.h"
#include "common.h"

/* "8 days", "3 hours", "42 minutes", "10 seconds": the largest whole unit. */
static char *
span(gint64 s)
{
	if (s >= 86400)
		return g_strdup_printf("%" G_GINT64_FORMAT " day%s", s / 86400, s >= 2 * 86400 ? "s" : "");
	if (s >= 3600)
		return g_strdup_printf("%" G_GINT64_FORMAT " hour%s", s / 3600, s >= 7200 ? "s" : "");
	if (s >= 60)
		return g_strdup_printf("%" G_GINT64_FORMAT " minute%s", s / 60, s >= 120 ? "s" : "");
	return g_strdup_printf("%" G_GINT64_FORMAT " second%s", s, s == 1 ? "" : "s");
}

gboolean
cg_policy_signed_age(gint64 signing_time, gint64 now, gint64 max_age, GError **error)
{
	g_autofree char *ago = NULL, *limit = NULL;

	if (signing_time <= 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_BAD_SIGNATURE,
		            "the signature carries no signing time; sign with a mail client that "
		            "adds one (the S/MIME signingTime attribute)");
		return FALSE;
	}
	if (signing_time > now + CG_SIGNED_SKEW) {
		ago = span(signing_time - now);
		g_set_error(error, CG_ERROR, CG_ERROR_BAD_SIGNATURE,
		            "the signing time is %s in the future; check the clock of the "
		            "computer that signed it",
		            ago);
		return FALSE;
	}
	if (now - signing_time > max_age) {
		ago = span(now - signing_time);
		limit = span(max_age);
		g_set_error(error, CG_ERROR, CG_ERROR_BAD_SIGNATURE,
		            "the message was signed %s ago, more than the %s a signed mail is "
		            "taken for; sign it again",
		            ago, limit);
		return FALSE;
	}
	return TRUE;
}
