/*
 * handlers.c: which handler serves which gateway address.
 *
 * Each gateway address has one handler (letters, enrolment, challenge
 * replies, revocations). A handler that has not been built yet refuses its
 * mail with a clear 550 5.7.1 after the message itself has been found well
 * formed, so that a sender learns whether the mail or the gateway is at fault.
 */
#include "milter.h"
#include "common.h"

static gboolean
not_yet(CgGateway *g, GError **error)
{
	g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
	            "%s requests are not yet supported by this gateway",
	            cg_gateway_kind_name(g->kind));
	return FALSE;
}

static gboolean
never_applies(CgGateway *g, CgTxn *txn, GError **error)
{
	(void)txn;
	return not_yet(g, error);
}

static const CgHandler handlers[] = {
    {CG_GW_REVOKE, "revoke", not_yet, never_applies, NULL},
};

const CgHandler *
cg_handler_for(CgGatewayKind kind)
{
	gsize i;

	if (kind == CG_GW_CHALLENGE)
		return &cg_challenge_handler;
	if (kind == CG_GW_LETTER)
		return &cg_letter_handler;
	if (kind == CG_GW_ENROLL)
		return &cg_enroll_handler;
	for (i = 0; i < G_N_ELEMENTS(handlers); i++)
		if (handlers[i].kind == kind)
			return &handlers[i];
	return NULL;
}
