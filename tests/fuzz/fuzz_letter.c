/*
 * fuzz_letter.c: libFuzzer target for letters: the input as letter text
 * (the Key: value grammar), and as a message through S/MIME extraction and
 * verification (against tests/data/letter/anchor.pem) and, when it
 * verifies, the signed entity and its text through the grammar; a message
 * encrypted to the test gateway encryption certificate is decrypted first
 * (tests/data/fuzzpki/gwenc.key). Seeds: signed letters made by the openssl
 * CLI, one of them signed then encrypted.
 */
#include "milter.h"
#include "common.h"
#include "fuzz.h"
#include "policy.h"

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *anchor;
static CgConf *conf;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *src = g_getenv("CG_SRC") ? g_getenv("CG_SRC") : CG_SOURCE_DIR;
	const char *workdir = cg_fuzz_workdir("fuzz_letter");
	g_autofree char *text = NULL, *key = NULL;
	g_autoptr(GError) err = NULL;

	(void)argc;
	(void)argv;
	anchor = g_build_filename(src, "tests", "data", "letter", "anchor.pem", NULL);
	key = cg_fuzz_private_copy(src, "gwenc.key", workdir);
	text = g_strdup_printf("GatewayDomain ca.example.net\nDbHome %s\nEvidenceDir %s\n"
	                       "GatewayEncryptionCertificate %s/tests/data/fuzzpki/gwenc.pem\n"
	                       "GatewayEncryptionKey %s\n",
	                       workdir, workdir, src, key);
	if ((conf = cg_conf_load_data("fuzz.conf", workdir, text, strlen(text), &err)) == NULL)
		g_error("fuzz_letter: %s", err->message);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	g_autoptr(GBytes) raw = g_bytes_new(data, size);
	g_autoptr(CgMail) mail = NULL;
	CgSmimeResult sig = {0};

	cg_letter_free(cg_letter_parse(text, NULL));
	mail = cg_mail_parse(raw, NULL, NULL, NULL);
	if (mail != NULL && mail->smime.kind == CG_SMIME_ENVELOPED) {
		CgMail *inner = cg_decrypt_message(conf, mail, g_get_real_time() / G_USEC_PER_SEC,
		                                   NULL, NULL);

		cg_mail_free(mail);
		mail = inner;
	}
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
