/*
 * enrol.c: who may have which certificate. The facts come from the store and
 * the request; these functions only decide.
 *
 *   cg_policy_domain_usable()  may this organisation certify mailboxes at this
 *                              domain now (held, validated, not expired, by a
 *                              method the trust model accepts)
 *   cg_policy_domain_method()  may a validation method be used now
 *   cg_policy_enroll_auth()    EnrollAuth: proceed, hold for confirmation, or
 *                              refuse an enrolment mail
 *   cg_policy_sponsor()        the sponsor profile's names and country
 *   cg_policy_issue()          every re-check the issuer makes before signing
 *
 * Never: reads the store, the clock or the network.
 */
#include "policy.h"
#include "common.h"

#include <string.h>

char *
cg_policy_domain_usable(const CgDomainFacts *f, const char *org_id, gint64 now)
{
	char *why;

	/* Whether another organisation holds it is not told: the admin learns
	 * nothing about other organisations. */
	if (!f->registered || g_strcmp0(f->holder, org_id) != 0)
		return g_strdup_printf("%s is not a domain of this organisation", f->domain);
	if (!f->validated)
		return g_strdup_printf("%s is not validated (%s)", f->domain,
		                       f->status ? f->status : "pending");
	if (f->expires_at <= now)
		return g_strdup_printf("the validation of %s has expired; the domain must be "
		                       "challenged again",
		                       f->domain);
	if ((why = cg_policy_domain_method(f->method, f->public_trust, now)) != NULL) {
		char *full = g_strdup_printf("the validation of %s may not be relied on: %s",
		                             f->domain, why);

		g_free(why);
		return full;
	}
	return NULL;
}

char *
cg_policy_org_usable(const char *id, gboolean active, const char *status, gint64 validated_at,
                     gint64 reuse, gint64 now)
{
	g_autofree char *ended = NULL;

	if (!active)
		return g_strdup_printf("organisation %s is %s", id, status ? status : "not active");
	if (validated_at + reuse > now)
		return NULL;
	ended = cg_time_iso(validated_at + reuse);
	return g_strdup_printf("the validation of organisation %s ended on %s (OrgReuse); it "
	                       "issues nothing until its contact confirms it (a signed letter, "
	                       "Request: confirm-organisation) and the operator approves it again",
	                       id, ended);
}

char *
cg_policy_domain_method(const char *method, gboolean public_trust, gint64 now)
{
	if (!public_trust)
		return NULL;
	if (g_strcmp0(method, CG_METHOD_OPERATOR) == 0)
		return g_strdup("operator attestation (certgate domain add --validated) is not a "
		                "domain validation method under TrustModel public");
	if (g_strcmp0(method, CG_METHOD_EMAIL) == 0 && now >= CG_EMAIL_METHOD_SUNSET)
		return g_strdup(
		    "the e-mail method (TLS BR 3.2.2.4.4) may not validate domains "
		    "for publicly trusted certificates from 2028-03-15 (ballot SC-090)");
	return NULL;
}

const char *
cg_policy_default_challenge(const char *domain_method)
{
	return g_strcmp0(domain_method, "dns") == 0 ? CG_DNS_CHALLENGE : "postmaster";
}

const char *
cg_policy_domain_method_warning(const char *method, gint64 now)
{
	if (g_strcmp0(method, CG_METHOD_EMAIL) != 0 || now < CG_EMAIL_METHOD_DISCOURAGED)
		return NULL;
	return now < CG_EMAIL_METHOD_SUNSET
	           ? "TLS BR 3.2.2.4.4: SHOULD NOT be used since 2026-03-15, MUST NOT from "
	             "2028-03-15 for publicly trusted certificates"
	           : "TLS BR 3.2.2.4.4: MUST NOT be used for publicly trusted certificates "
	             "since 2028-03-15";
}

int
cg_policy_enroll_auth_mode(const char *name)
{
	if (g_strcmp0(name, "signed-or-confirm") == 0)
		return CG_ENROLL_AUTH_SIGNED_OR_CONFIRM;
	if (g_strcmp0(name, "signed") == 0)
		return CG_ENROLL_AUTH_SIGNED;
	if (g_strcmp0(name, "confirm") == 0)
		return CG_ENROLL_AUTH_CONFIRM;
	return -1;
}

CgEnrollVerdict
cg_policy_enroll_auth(CgEnrollAuthMode mode, gboolean is_signed, GError **error)
{
	if (is_signed && mode != CG_ENROLL_AUTH_CONFIRM)
		return CG_ENROLL_PROCEED;
	if (!is_signed && mode == CG_ENROLL_AUTH_SIGNED) {
		g_set_error(error, CG_ERROR, CG_ERROR_BAD_SIGNATURE,
		            "enrolment mail must be S/MIME-signed by the admin's certificate");
		return CG_ENROLL_REFUSE;
	}
	return CG_ENROLL_HOLD;
}

char *
cg_policy_sponsor(CgProfile profile, const char *given, const char *surname, const char *country,
                  const char *org_country)
{
	if (profile != CG_PROFILE_SPONSOR)
		return NULL;
	if (given == NULL || surname == NULL || !*given || !*surname)
		return g_strdup("the sponsor profile needs First Name and Last Name");
	if (country != NULL && *country && g_ascii_strcasecmp(country, org_country) != 0)
		return g_strdup_printf("Country %s is not the organisation's (%s)", country,
		                       org_country);
	return NULL;
}

char *
cg_policy_issue(const CgIssueFacts *f, gint64 now)
{
	g_autoptr(GError) err = NULL;
	char *why;

	if ((why = cg_policy_org_usable(f->org_id, f->org_active, f->org_status,
	                                f->org_validated_at, f->org_reuse, now)) != NULL)
		return why;
	if (f->by_admin && !f->requester_active)
		return g_strdup_printf("%s is no longer an active admin of organisation %s",
		                       f->requester, f->org_id);
	if ((why = cg_policy_domain_usable(&f->domain, f->org_id, now)) != NULL)
		return why;
	if (f->validity_days == 0 || f->validity_days > f->max_validity)
		return g_strdup_printf("validity of %u days is above MaxValidity %u",
		                       f->validity_days, f->max_validity);
	if (f->csr == NULL)
		return g_strdup(f->csr_error ? f->csr_error : "the CSR cannot be read");
	if (f->csr->mailbox != NULL && !cg_addr_equal(f->csr->mailbox, f->mailbox))
		return g_strdup_printf("the CSR names %s, not %s", f->csr->mailbox, f->mailbox);
	if (!cg_policy_check_csr_key(f->csr, &f->key, &err))
		return g_strdup(err->message);
	return cg_policy_sponsor(f->profile, f->given_name, f->surname, f->country,
	                         f->org_country);
}
