/*
 * renewal.c: may this answer to an expiry reminder renew that certificate.
 * The facts come from the milter (the certificate, the organisation, the
 * domain, who answered, the CSR's key); the verdict is a reason or none.
 */
#include "policy.h"
#include "common.h"

#include <string.h>

char *
cg_policy_renewal(const CgRenewalFacts *f, gint64 now, gboolean *rechallenge)
{
	g_autofree char *until = NULL, *why = NULL;

	*rechallenge = FALSE;
	if (!f->cert_found)
		return g_strdup_printf("certificate %s is not known here", f->serial);
	if (f->revoked) {
		until = cg_time_iso(f->revoked_at);
		return g_strdup_printf("certificate %s was revoked on %s and cannot be renewed; "
		                       "enrol anew",
		                       f->serial, until);
	}
	if (f->renewed_by != NULL && *f->renewed_by)
		return g_strdup_printf("certificate %s was renewed already (by %s)", f->serial,
		                       f->renewed_by);
	if (now >= f->not_after) {
		until = cg_time_iso(f->not_after);
		return g_strdup_printf("certificate %s expired on %s; enrol anew", f->serial, until);
	}
	if ((why = cg_policy_org_usable(f->org_id, f->org_active, f->org_status,
	                                f->org_validated_at, f->org_reuse, now)) != NULL) {
		return g_strdup_printf("%s: no certificate of it is renewed", why);
	}
	if ((why = cg_policy_domain_usable(&f->domain, f->org_id, now)) != NULL) {
		/* The organisation's own domain, lapsed or pending: a new challenge
		 * starts it again. Another's, or none: nothing will. */
		if (!f->domain.registered || g_strcmp0(f->domain.holder, f->org_id) != 0)
			return g_steal_pointer(&why);
		*rechallenge = TRUE;
		return g_strdup_printf("%s; a new challenge goes to the domain's postmaster: "
		                       "answer this reminder again once it is confirmed",
		                       why);
	}
	if (!f->answered_by_subject && !f->answerer_admin)
		return g_strdup_printf("%s is no longer an admin of organisation %s", f->answerer,
		                       f->org_id);
	if (f->needs_admin && !f->requester_admin && !f->answerer_admin)
		return g_strdup_printf("no active admin of organisation %s takes the renewal; its "
		                       "contact can appoint one by letter",
		                       f->org_id);
	if (f->same_key)
		return g_strdup_printf("the CSR has the key of certificate %s; a renewal takes a "
		                       "new key",
		                       f->serial);
	return NULL;
}
