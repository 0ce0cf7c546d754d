/*
 * fuzz_mail.c: libFuzzer target for the mail model: parse, S/MIME
 * extraction, the dump, and the signed content parsed again as an entity.
 */
#include "mailparse.h"

#include <stdint.h>
#include <stddef.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GBytes) raw = g_bytes_new(data, size);
	g_autoptr(GError) err = NULL;
	g_autoptr(CgMail) m = cg_mail_parse(raw, NULL, NULL, &err);

	if (m != NULL) {
		g_autoptr(GString) out = g_string_new(NULL);

		cg_mail_dump(m, out);
		if (m->smime.kind == CG_SMIME_DETACHED) {
			CgMailBody body = {0};

			cg_mail_parse_entity(m->smime.signed_content, NULL, &body, NULL);
			cg_mail_body_clear(&body);
		}
	}
	return 0;
}
