/*
 * handlers.c: which handler serves which gateway address: letters,
 * enrolments, challenge replies, revocations.
 */
#include "milter.h"

const CgHandler *
cg_handler_for(CgGatewayKind kind)
{
	switch (kind) {
	case CG_GW_LETTER:
		return &cg_letter_handler;
	case CG_GW_ENROLL:
		return &cg_enroll_handler;
	case CG_GW_CHALLENGE:
		return &cg_challenge_handler;
	case CG_GW_REVOKE:
		return &cg_revoke_handler;
	default:
		return NULL;
	}
}
