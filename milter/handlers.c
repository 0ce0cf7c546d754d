/*
 * handlers.c: the gateway addresses, what each is called, and which handler
 * serves it: letters, enrolments, challenge replies, revocations.
 * Never: looks at a message; only at its recipient.
 */
#include "milter.h"

#include <stddef.h>

static const struct {
	CgGatewayKind kind;
	const char *name;
	gsize address; /* offset of the address in CgConf */
	const CgHandler *handler;
} kinds[] = {
    {CG_GW_LETTER, "letter", G_STRUCT_OFFSET(CgConf, letter_address), &cg_letter_handler},
    {CG_GW_ENROLL, "enroll", G_STRUCT_OFFSET(CgConf, enroll_address), &cg_enroll_handler},
    {CG_GW_CHALLENGE, "challenge", G_STRUCT_OFFSET(CgConf, challenge_address),
     &cg_challenge_handler},
    {CG_GW_REVOKE, "revoke", G_STRUCT_OFFSET(CgConf, revoke_address), &cg_revoke_handler},
};

CgGatewayKind
cg_handler_kind_of(const CgConf *conf, const char *rcpt)
{
	gsize i;

	for (i = 0; rcpt != NULL && i < G_N_ELEMENTS(kinds); i++) {
		const char *addr = G_STRUCT_MEMBER(const char *, conf, kinds[i].address);

		if (g_ascii_strcasecmp(rcpt, addr) == 0)
			return kinds[i].kind;
	}
	return CG_GW_NONE;
}

const char *
cg_handler_name(CgGatewayKind kind)
{
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(kinds); i++)
		if (kinds[i].kind == kind)
			return kinds[i].name;
	return "none";
}

const CgHandler *
cg_handler_for(CgGatewayKind kind)
{
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(kinds); i++)
		if (kinds[i].kind == kind)
			return kinds[i].handler;
	return NULL;
}
