/*
 * policy: pure decisions. Facts in (plain values and structs defined here),
 * verdict out. No I/O, no clock (the time is always an argument).
 *
 *   cg_policy_country_valid()        ISO 3166-1 alpha-2
 *   cg_policy_org_identifier()       organizationIdentifier syntax (S/MIME BR
 *                                    7.1.4.2.2 d, appendix A)
 *   cg_policy_identifier_country()   the country an identifier names
 *   cg_policy_postmaster_local()     the five TLS BR 3.2.2.4.4 local parts
 *
 * Never: touches the network, the disk, the store or the clock.
 */
#ifndef CG_POLICY_H
#define CG_POLICY_H

#include <glib.h>

G_BEGIN_DECLS

/* TRUE for an assigned ISO 3166-1 alpha-2 code (upper case). */
gboolean cg_policy_country_valid(const char *cc);

/* Checks "SSSCC[+SUB]-REFERENCE": scheme NTR, VAT, PSD, LEI, GOV or INT;
 * CC an ISO 3166-1 code (XG for LEI and INT; VAT also allows EL and XI);
 * SUB an ISO 3166-2 subdivision suffix (1-3 alphanumerics, NTR and GOV only);
 * REFERENCE 1-64 of [A-Za-z0-9./:-] (LEI: 20 alphanumerics).
 * CG_ERROR_MALFORMED naming the part that is wrong. */
gboolean cg_policy_org_identifier(const char *id, GError **error);

/* The ISO 3166-1 country the identifier stands for ("GR" for a VAT "EL",
 * "GB" for "XI"), or NULL for XG (global schemes). Caller frees. */
char *cg_policy_identifier_country(const char *id);

/* admin, administrator, webmaster, hostmaster, postmaster (case-insensitive). */
gboolean cg_policy_postmaster_local(const char *local);

G_END_DECLS

#endif
