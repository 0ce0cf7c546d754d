/*
 * trivial_rcpt.c: the reference milter for pass-through: accepts every
 * message at the first RCPT. Built and run by scripts/bench only.
 *   trivial_rcpt SOCKET
 */
#include <libmilter/mfapi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static sfsistat
rcpt(SMFICTX *ctx, char **argv)
{
	(void)ctx;
	(void)argv;
	return SMFIS_ACCEPT;
}

int
main(int argc, char **argv)
{
	struct smfiDesc d;

	if (argc != 2)
		return 2;
	memset(&d, 0, sizeof(d));
	d.xxfi_name = "trivial-rcpt";
	d.xxfi_version = SMFI_VERSION;
	d.xxfi_envrcpt = rcpt;
	unlink(argv[1] + 5);
	if (smfi_setconn(argv[1]) != MI_SUCCESS || smfi_register(d) != MI_SUCCESS)
		return 1;
	return smfi_main();
}
