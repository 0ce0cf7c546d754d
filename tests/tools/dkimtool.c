/*
 * dkimtool.c: cg-dkimtool, DKIM signatures that dkimsign (python3-dkim)
 * cannot make: with an expiry (x=), a body length (l=), or a chosen list
 * of signed header fields.
 *
 *   cg-dkimtool [--ttl SECONDS] [--time T] [--length] [--headers a:b:c]
 *               KEY.pem SELECTOR DOMAIN < message > signed message
 */
#include "milter.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <opendkim/dkim.h>

int
main(int argc, char **argv)
{
	g_autofree char *headers = NULL, *key = NULL;
	gint64 ttl = 0, when = 0;
	gboolean length = FALSE;
	GOptionEntry entries[] = {
	    {"ttl", 0, 0, G_OPTION_ARG_INT64, &ttl, "x= this long after t=", "S"},
	    {"time", 0, 0, G_OPTION_ARG_INT64, &when, "t= (Unix time)", "T"},
	    {"length", 0, 0, G_OPTION_ARG_NONE, &length, "add l=", NULL},
	    {"headers", 0, 0, G_OPTION_ARG_STRING, &headers, "fields to sign", "a:b"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GOptionContext) ctx = g_option_context_new("KEY SELECTOR DOMAIN");
	g_autoptr(GError) err = NULL;
	g_autoptr(GByteArray) in = g_byte_array_new();
	g_autoptr(GBytes) raw = NULL;
	g_auto(GStrv) hl = NULL;
	unsigned char sig[4096], buf[65536];
	DKIM_LIB *lib;
	DKIM *d;
	DKIM_STAT st;
	size_t n;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 4 ||
	    !g_file_get_contents(argv[1], &key, NULL, &err)) {
		fprintf(stderr, "usage: cg-dkimtool [options] KEY SELECTOR DOMAIN < message\n");
		return 2;
	}
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		g_byte_array_append(in, buf, (guint)n);
	raw = g_byte_array_free_to_bytes(g_steal_pointer(&in));
	lib = dkim_init(NULL, NULL);
	if (length) {
		unsigned int flags = DKIM_LIBFLAGS_SIGNLEN;

		dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags));
	}
	if (ttl > 0) {
		uint64_t t = (uint64_t)ttl;

		dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNATURETTL, &t, sizeof(t));
	}
	if (when > 0) {
		uint64_t t = (uint64_t)when;

		dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FIXEDTIME, &t, sizeof(t));
	}
	d = dkim_sign(lib, (const u_char *)"cg-dkimtool", NULL, (dkim_sigkey_t)key,
	              (const u_char *)argv[2], (const u_char *)argv[3], DKIM_CANON_RELAXED,
	              DKIM_CANON_SIMPLE, DKIM_SIGN_RSASHA256, -1, &st);
	if (d == NULL) {
		fprintf(stderr, "cg-dkimtool: dkim_sign: %s\n", dkim_getresultstr(st));
		return 1;
	}
	if (headers != NULL) {
		hl = g_strsplit(headers, ":", -1);
		dkim_signhdrs(d, (const char **)hl);
	}
	st = cg_replyauth_dkim_feed(d, raw);
	if (st != DKIM_STAT_OK ||
	    (st = dkim_getsighdr(d, sig, sizeof(sig), strlen("DKIM-Signature: "))) !=
	        DKIM_STAT_OK) {
		fprintf(stderr, "cg-dkimtool: %s\n", dkim_getresultstr(st));
		return 1;
	}
	printf("DKIM-Signature: %s\r\n", sig);
	fwrite(g_bytes_get_data(raw, NULL), 1, g_bytes_get_size(raw), stdout);
	dkim_free(d);
	dkim_close(lib);
	return 0;
}
