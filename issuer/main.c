/*
 * main.c: certgate-issuer. At this stage: configuration check and version.
 */
#include "conf.h"

#include <stdio.h>
#include <string.h>
#include <openssl/opensslv.h>

int
main(int argc, char **argv)
{
	const char *conf_path = "/etc/certgate/certgate.conf";
	gboolean check = FALSE;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf_path = argv[++i];
		else if (strcmp(argv[i], "-n") == 0)
			check = TRUE;
		else if (strcmp(argv[i], "-V") == 0) {
			printf("certgate-issuer %s (%s)\n", CERTGATE_VERSION, OPENSSL_VERSION_TEXT);
			return 0;
		} else {
			fprintf(stderr, "usage: certgate-issuer [-c FILE] -n | -V\n");
			return 2;
		}
	}
	if (check) {
		g_autoptr(GError) err = NULL;
		g_autoptr(CgConf) conf = cg_conf_load(conf_path, &err);

		if (conf == NULL) {
			fprintf(stderr, "%s\n", err->message);
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "usage: certgate-issuer [-c FILE] -n | -V\n");
	return 2;
}
