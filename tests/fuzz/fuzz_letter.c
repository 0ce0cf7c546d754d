/*
 * fuzz_letter.c: libFuzzer target for letters: the input as letter text
 * (the Key: value grammar), and as a message through S/MIME extraction and
 * verification (against tests/data/letter/anchor.pem) and, when it
 * verifies, the signed entity and its text through the grammar. Seeds:
 * signed letters made by the openssl CLI.
 */
#include "milter.h"
#include "common.h"
#include "policy.h"

#include <stdint.h>
#include <stddef.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *anchor;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	g_autoptr(GBytes) raw = g_bytes_new(data, size);
	g_autoptr(CgMail) mail = NULL;
	CgSmimeResult sig = {0};

	cg_letter_free(cg_letter_parse(text, NULL));
	if (anchor == NULL) {
		const char *src = g_getenv("CG_SRC") ? g_getenv("CG_SRC") : CG_SOURCE_DIR;

		anchor = g_build_filename(src, "tests", "data", "letter", "anchor.pem", NULL);
	}
	mail = cg_mail_parse(raw, NULL, NULL, NULL);
	if (mail != NULL && mail->smime.kind != CG_SMIME_NONE &&
	    cg_smime_verify(mail, anchor, NULL, g_get_real_time() / G_USEC_PER_SEC, &sig, NULL)) {
		CgMailBody body = {0};

		if (cg_mail_parse_entity(sig.content, NULL, &body, NULL))
			cg_letter_free(cg_letter_parse(body.text, NULL));
		cg_mail_body_clear(&body);
		cg_smime_result_clear(&sig);
	}
	return 0;
}
