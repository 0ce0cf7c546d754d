/*
 * trivial_rcpt.c: the reference milters for pass-through. Built and run by
 * scripts/bench only.
 *   trivial_rcpt SOCKET: accepts every message at the first RCPT.
 *   trivial_data SOCKET (the same program by that name): certgate's shape
 *     of conversation and nothing else: continues at every RCPT (a later
 *     one could be a gateway address) and accepts at DATA. The distance
 *     from trivial_rcpt is the protocol's; from certgate-milter, certgate's
 *     own.
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

static sfsistat
rcpt_continue(SMFICTX *ctx, char **argv)
{
	(void)ctx;
	(void)argv;
	return SMFIS_CONTINUE;
}

static sfsistat
data(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_ACCEPT;
}

int
main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	struct smfiDesc d;

	if (argc != 2)
		return 2;
	memset(&d, 0, sizeof(d));
	d.xxfi_version = SMFI_VERSION;
	if (strcmp(name, "trivial_data") == 0) {
		d.xxfi_name = "trivial-data";
		d.xxfi_envrcpt = rcpt_continue;
		d.xxfi_data = data;
	} else {
		d.xxfi_name = "trivial-rcpt";
		d.xxfi_envrcpt = rcpt;
	}
	unlink(argv[1] + 5);
	if (smfi_setconn(argv[1]) != MI_SUCCESS || smfi_register(d) != MI_SUCCESS)
		return 1;
	return smfi_main();
}
