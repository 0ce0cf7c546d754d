/*
 * trivial_body.c: the reference milter for gateway intake: reads every
 * header and the whole body, then rejects at end of message with a fixed
 * 554, as certgate does for a malformed mail. Built by scripts/bench only.
 *   trivial_body SOCKET
 */
#include <libmilter/mfapi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static sfsistat
hdr(SMFICTX *ctx, char *n, char *v)
{
	(void)ctx;
	(void)n;
	(void)v;
	return SMFIS_CONTINUE;
}

static sfsistat
body(SMFICTX *ctx, unsigned char *b, size_t len)
{
	(void)ctx;
	(void)b;
	(void)len;
	return SMFIS_CONTINUE;
}

static sfsistat
eom(SMFICTX *ctx)
{
	smfi_setreply(ctx, "554", "5.6.0", "trivial: refused");
	return SMFIS_REJECT;
}

int
main(int argc, char **argv)
{
	struct smfiDesc d;

	if (argc != 2)
		return 2;
	memset(&d, 0, sizeof(d));
	d.xxfi_name = "trivial-body";
	d.xxfi_version = SMFI_VERSION;
	d.xxfi_header = hdr;
	d.xxfi_body = body;
	d.xxfi_eom = eom;
	unlink(argv[1] + 5);
	if (smfi_setconn(argv[1]) != MI_SUCCESS || smfi_register(d) != MI_SUCCESS)
		return 1;
	return smfi_main();
}
