/*
 * mailtool.c: cg-mailtool, a test helper around mailparse.
 *
 *   cg-mailtool dump FILE          the model's dump (as in the golden files)
 *   cg-mailtool smime FILE DIR     writes DIR/signed.bin (detached: the signed
 *                                  bytes) and DIR/sig.der; prints the kind
 *   cg-mailtool entity FILE        parses FILE as a MIME entity; prints its text
 */
#include "mailparse.h"
#include "common.h"

#include <stdio.h>
#include <string.h>

static CgMail *
load(const char *path)
{
	g_autofree char *data = NULL;
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) raw = NULL;
	CgMail *m;
	gsize len;

	if (!g_file_get_contents(path, &data, &len, &err)) {
		fprintf(stderr, "%s\n", err->message);
		return NULL;
	}
	raw = g_bytes_new(data, len);
	m = cg_mail_parse(raw, NULL, NULL, &err);
	if (m == NULL)
		fprintf(stderr, "error: %d: %s\n", err->code, err->message);
	return m;
}

static gboolean
write_bytes(const char *dir, const char *name, GBytes *b)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	gsize len;
	const char *p = g_bytes_get_data(b, &len);

	return g_file_set_contents(path, p, (gssize)len, NULL);
}

int
main(int argc, char **argv)
{
	g_autoptr(CgMail) m = NULL;

	if (argc == 3 && strcmp(argv[1], "dump") == 0) {
		g_autoptr(GString) out = g_string_new(NULL);

		if ((m = load(argv[2])) == NULL)
			return 1;
		cg_mail_dump(m, out);
		fputs(out->str, stdout);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "smime") == 0) {
		if ((m = load(argv[2])) == NULL)
			return 1;
		if (m->smime.kind == CG_SMIME_NONE) {
			printf("none\n");
			return 1;
		}
		if (m->smime.kind == CG_SMIME_DETACHED &&
		    !write_bytes(argv[3], "signed.bin", m->smime.signed_content))
			return 1;
		if (!write_bytes(argv[3], "sig.der", m->smime.signature))
			return 1;
		printf("%s\n", m->smime.kind == CG_SMIME_DETACHED ? "detached" : "opaque");
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "entity") == 0) {
		g_autofree char *data = NULL;
		g_autoptr(GError) err = NULL;
		g_autoptr(GBytes) ent = NULL;
		CgMailBody body = {0};
		gsize len;

		if (!g_file_get_contents(argv[2], &data, &len, &err))
			return 1;
		ent = g_bytes_new(data, len);
		if (!cg_mail_parse_entity(ent, NULL, &body, &err)) {
			fprintf(stderr, "error: %s\n", err->message);
			return 1;
		}
		fputs(body.text, stdout);
		cg_mail_body_clear(&body);
		return 0;
	}
	fprintf(stderr, "usage: cg-mailtool dump FILE | smime FILE DIR | entity FILE\n");
	return 2;
}
