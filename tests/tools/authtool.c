/*
 * authtool.c: cg-authtool, reply authentication (SPF, DKIM, DMARC) on one
 * message, the way the challenge handler runs it.
 *
 *   cg-authtool [options] MESSAGE...
 *     --zone FILE       offline DNS: lines "name TXT|A value" (value
 *                       TRY_AGAIN: a temporary error); without it, the
 *                       system resolver
 *     --dkim-keys FILE  DKIM keys from a file instead of DNS
 *     --mode M          dmarc (default), spf, dkim
 *     --ip, --helo, --mail-from   the envelope
 *     --token-in-body   the token is in the text, not the Subject
 *     --repeat N        check each N times
 * The messages are checked in turn by one verifier (its DNS answers and
 * decoded DKIM keys kept between checks). Prints, for each check,
 * "pass: SUMMARY", or the SMTP reply the milter would give and then the
 * summary; at the end "keys: decoded D, reused R" (cg_replyauth_key_counts).
 * Exit 0 all passed, 1 one refused or deferred, 2 usage or I/O.
 */
#include "milter.h"
#include "common.h"
#include "policy.h"

#include <stdio.h>
#include <string.h>

static GPtrArray *
load_zone(const char *path)
{
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	GPtrArray *z = g_ptr_array_new_with_free_func(g_free);
	gsize i;

	if (!g_file_get_contents(path, &text, NULL, NULL)) {
		g_ptr_array_unref(z);
		return NULL;
	}
	lines = g_strsplit(text, "\n", -1);
	for (i = 0; lines[i]; i++) {
		g_auto(GStrv) f = NULL;

		if (lines[i][0] == '#' || lines[i][0] == '\0')
			continue;
		f = g_strsplit(lines[i], " ", 3);
		if (g_strv_length(f) != 3)
			continue;
		g_ptr_array_add(z, g_strdup(f[0]));
		g_ptr_array_add(z, g_strdup(f[1]));
		g_ptr_array_add(z, g_strdup(f[2]));
	}
	g_ptr_array_add(z, NULL);
	return z;
}

int
main(int argc, char **argv)
{
	g_autofree char *zone = NULL, *keys = NULL, *mode = NULL, *ip = NULL, *helo = NULL;
	g_autofree char *mail_from = NULL, *summary = NULL;
	gboolean in_body = FALSE, strict = FALSE;
	int repeat = 1, i, a;
	GOptionEntry entries[] = {
	    {"zone", 0, 0, G_OPTION_ARG_FILENAME, &zone, "offline DNS zone", "FILE"},
	    {"dkim-keys", 0, 0, G_OPTION_ARG_FILENAME, &keys, "DKIM keys", "FILE"},
	    {"mode", 0, 0, G_OPTION_ARG_STRING, &mode, "dmarc, spf, dkim", "M"},
	    {"ip", 0, 0, G_OPTION_ARG_STRING, &ip, "client address", "IP"},
	    {"helo", 0, 0, G_OPTION_ARG_STRING, &helo, "HELO name", "NAME"},
	    {"mail-from", 0, 0, G_OPTION_ARG_STRING, &mail_from, "envelope sender", "ADDR"},
	    {"token-in-body", 0, 0, G_OPTION_ARG_NONE, &in_body, "token in the text", NULL},
	    {"strict", 0, 0, G_OPTION_ARG_NONE, &strict,
	     "ChallengeAlignment strict (default: relaxed, DMARC's)", NULL},
	    {"repeat", 0, 0, G_OPTION_ARG_INT, &repeat, "check it N times", "N"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GOptionContext) ctx = g_option_context_new("MESSAGE...");
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) z = NULL;
	CgEnvelope env = {0};
	CgReplyAuth *auth;
	CgReply r;
	guint64 decoded, reused;
	int m, rc;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc < 2 || repeat < 1) {
		fprintf(stderr, "usage: cg-authtool [options] MESSAGE...\n");
		return 2;
	}
	m = cg_reply_auth_mode(mode ? mode : "dmarc");
	if (m < 0) {
		fprintf(stderr, "cg-authtool: bad --mode\n");
		return 2;
	}
	if (zone != NULL && (z = load_zone(zone)) == NULL) {
		fprintf(stderr, "cg-authtool: cannot read %s\n", zone);
		return 2;
	}
	auth = z != NULL ? cg_replyauth_new_offline((const char *const *)z->pdata, keys, &err)
	                 : cg_replyauth_new(&err);
	if (auth == NULL) {
		fprintf(stderr, "cg-authtool: %s\n", err->message);
		return 2;
	}
	env.client_ip = ip ? ip : (char *)"127.0.0.1";
	env.helo = helo ? helo : (char *)"mail.example.org";
	env.mail_from = mail_from ? mail_from : (char *)"";
	rc = 0;
	for (a = 1; a < argc; a++) {
		g_autofree char *data = NULL;
		g_autoptr(GBytes) raw = NULL;
		g_autoptr(CgMail) mail = NULL;
		gsize len;

		g_clear_error(&err);
		if (!g_file_get_contents(argv[a], &data, &len, &err) ||
		    (mail = cg_mail_parse((raw = g_bytes_new(data, len)), &env, NULL, &err)) ==
		        NULL) {
			fprintf(stderr, "cg-authtool: %s\n", err->message);
			rc = 2;
			break;
		}
		for (i = 0; i < repeat; i++) {
			g_clear_pointer(&summary, g_free);
			g_clear_error(&err);
			if (cg_replyauth_check(auth, mail, !in_body, m, strict, &summary, &err)) {
				printf("pass: %s\n", summary);
			} else {
				cg_reply_from_error(err, NULL, &r);
				printf("%s %s %s\n%s\n", r.rcode, r.xcode, r.text, summary);
				rc = 1;
			}
		}
	}
	cg_replyauth_key_counts(&decoded, &reused);
	printf("keys: decoded %" G_GUINT64_FORMAT ", reused %" G_GUINT64_FORMAT "\n", decoded,
	       reused);
	cg_replyauth_free(auth);
	return rc;
}
