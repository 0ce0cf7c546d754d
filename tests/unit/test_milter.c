/*
 * test_milter.c: the milter's tables: which handler serves which gateway
 * address, and the one table from error code to SMTP reply (DESIGN.md 6).
 */
#include "testutil.h"
#include "common.h"
#include "milter.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/cms.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static void
test_kinds(void **state)
{
	static const char text[] = "GatewayDomain ca.example.net\n"
	                           "RevokeAddress stop@ca.example.net\n";
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) c = cg_conf_load_data("t.conf", NULL, text, sizeof(text) - 1, &err);

	(void)state;
	assert_non_null(c);
	assert_int_equal(cg_handler_kind_of(c, "Enroll@CA.example.net"), CG_GW_ENROLL);
	assert_int_equal(cg_handler_kind_of(c, "request@ca.example.net"), CG_GW_LETTER);
	assert_int_equal(cg_handler_kind_of(c, "challenge@ca.example.net"), CG_GW_CHALLENGE);
	assert_int_equal(cg_handler_kind_of(c, "stop@ca.example.net"), CG_GW_REVOKE);
	assert_int_equal(cg_handler_kind_of(c, "revoke@ca.example.net"), CG_GW_NONE);
	assert_int_equal(cg_handler_kind_of(c, "other@ca.example.net"), CG_GW_NONE);
	assert_int_equal(cg_handler_kind_of(c, NULL), CG_GW_NONE);
	assert_string_equal(cg_handler_name(CG_GW_ENROLL), "enroll");
	assert_string_equal(cg_handler_name(CG_GW_NONE), "none");
	assert_ptr_equal(cg_handler_for(CG_GW_REVOKE), &cg_revoke_handler);
	assert_null(cg_handler_for(CG_GW_NONE));
}

static void
expect(int code, CgVerdict v, const char *rcode, const char *xcode, const char *text)
{
	g_autoptr(GError) err = g_error_new(CG_ERROR, code, "what\r\nwent 100%% wrong");
	CgReply r;

	cg_reply_from_error(err, "Q1", &r);
	assert_int_equal(r.verdict, v);
	assert_string_equal(r.rcode, rcode);
	assert_string_equal(r.xcode, xcode);
	if (strstr(r.text, text) == NULL)
		fail_msg("reply \"%s\" lacks \"%s\"", r.text, text);
}

static void
test_replies(void **state)
{
	(void)state;
	/* The text is made safe: no control characters, no '%'. */
	expect(CG_ERROR_MALFORMED, CG_MV_REJECT, "554", "5.6.0", "certgate: what??went 100? wrong");
	expect(CG_ERROR_TOO_LARGE, CG_MV_REJECT, "552", "5.3.4", "what");
	expect(CG_ERROR_NOT_AUTHORISED, CG_MV_REJECT, "550", "5.7.1", "what");
	expect(CG_ERROR_BAD_SIGNATURE, CG_MV_REJECT, "550", "5.7.5", "what");
	expect(CG_ERROR_SPF_FAIL, CG_MV_REJECT, "550", "5.7.23", "what");
	expect(CG_ERROR_DKIM_FAIL, CG_MV_REJECT, "550", "5.7.20", "what");
	expect(CG_ERROR_DMARC_FAIL, CG_MV_REJECT, "550", "5.7.1", "what");
	expect(CG_ERROR_BAD_TOKEN, CG_MV_REJECT, "550", "5.7.1", "what");
	expect(CG_ERROR_DNS_TEMP, CG_MV_TEMPFAIL, "451", "4.4.3", "what");
	expect(CG_ERROR_RCPT_LATER, CG_MV_TEMPFAIL, "452", "4.5.3", "what");
	expect(CG_ERROR_NOT_DECRYPTABLE, CG_MV_REJECT, "554", "5.7.5", "what");
	/* Internal errors are not told to the sender. */
	expect(CG_ERROR_INTERNAL, CG_MV_TEMPFAIL, "451", "4.3.0", "retry later (queue id Q1)");
	expect(CG_ERROR_IO, CG_MV_TEMPFAIL, "451", "4.3.0", "retry later (queue id Q1)");
	expect(CG_ERROR_DUPLICATE, CG_MV_TEMPFAIL, "451", "4.3.0", "retry later");
}

/* A self-signed RSA certificate for a recipient, and its key. */
static X509 *
recipient(EVP_PKEY **key, const char *cn)
{
	X509 *x = X509_new();

	*key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, *key);
	X509_sign(x, *key, EVP_sha256());
	return x;
}

static GBytes *
encrypt_to(X509 *to, const char *text, const EVP_CIPHER *cipher)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	BIO *in = BIO_new_mem_buf(text, -1), *out = BIO_new(BIO_s_mem());
	CMS_ContentInfo *cms;
	char *p;
	long n;
	GBytes *der;

	sk_X509_push(certs, to);
	cms = CMS_encrypt(certs, in, cipher, CMS_BINARY);
	i2d_CMS_bio(out, cms);
	n = BIO_get_mem_data(out, &p);
	der = g_bytes_new(p, (gsize)n);
	CMS_ContentInfo_free(cms);
	sk_X509_free(certs);
	BIO_free(in);
	BIO_free(out);
	return der;
}

static void
write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	if (x != NULL)
		PEM_write_X509(f, x);
	else
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(path, 0600);
}

/* Decryption: the gateway's key opens mail encrypted to it (AES-CBC and
 * AES-GCM); other mail is refused naming what it is encrypted to; damaged
 * CMS is malformed; a plaintext above the limit is refused while it is
 * written; a key file others may read is not used. */
static void
test_decrypt(void **state)
{
	g_autofree char *dir = cg_test_tmpdir("decrypt");
	g_autofree char *cert = g_build_filename(dir, "enc.pem", NULL);
	g_autofree char *keyf = g_build_filename(dir, "enc.key", NULL);
	g_autofree char *text = g_strdup_printf("GatewayDomain ca.example.net\n"
	                                        "GatewayEncryptionCertificate %s\n"
	                                        "GatewayEncryptionKey %s\n",
	                                        cert, keyf);
	g_autoptr(GError) err = NULL;
	g_autoptr(CgConf) c = cg_conf_load_data("t.conf", NULL, text, strlen(text), &err);
	g_autofree char *big = g_strnfill(100000, 'x');
	EVP_PKEY *k1, *k2;
	X509 *gw = recipient(&k1, "gateway"), *other = recipient(&k2, "someone else");
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	GBytes *der, *plain, *old;

	(void)state;
	assert_non_null(c);
	write_pem(cert, gw, NULL);
	write_pem(keyf, NULL, k1);
	der = encrypt_to(gw, "Content-Type: text/plain\r\n\r\nhello\r\n", EVP_aes_256_cbc());
	plain = cg_decrypt_cms(c, der, 4096, now, &err);
	assert_non_null(plain);
	assert_int_equal(g_bytes_get_size(plain), 35);
	g_bytes_unref(plain);
	g_bytes_unref(der);
	der = encrypt_to(gw, "Content-Type: text/plain\r\n\r\ngcm\r\n", EVP_aes_128_gcm());
	plain = cg_decrypt_cms(c, der, 4096, now, &err);
	assert_non_null(plain);
	g_bytes_unref(plain);
	g_bytes_unref(der);
	der = encrypt_to(other, "secret", EVP_aes_128_cbc());
	assert_null(cg_decrypt_cms(c, der, 4096, now, &err));
	assert_error(err, CG_ERROR_NOT_DECRYPTABLE, "not the gateway's (issuer /CN=someone else, serial 1092)");
	g_clear_error(&err);
	g_bytes_unref(der);
	der = g_bytes_new_static("\x30\x03\x02\x01\x01", 5);
	assert_null(cg_decrypt_cms(c, der, 4096, now, &err));
	assert_error(err, CG_ERROR_MALFORMED, "not CMS enveloped-data");
	g_clear_error(&err);
	g_bytes_unref(der);
	der = encrypt_to(gw, big, EVP_aes_128_cbc());
	assert_null(cg_decrypt_cms(c, der, 4096, now, &err));
	assert_error(err, CG_ERROR_TOO_LARGE, "larger than 4096 bytes");
	g_clear_error(&err);
	/* A rekey applies at once: the same files rewritten with another pair
	 * (what the old bytes parsed to is kept, and must not be used). */
	write_pem(cert, other, NULL);
	write_pem(keyf, NULL, k2);
	old = encrypt_to(gw, "Content-Type: text/plain\r\n\r\nold\r\n", EVP_aes_128_gcm());
	assert_null(cg_decrypt_cms(c, old, 4096, now, &err));
	assert_error(err, CG_ERROR_NOT_DECRYPTABLE,
	             "not the gateway's (issuer /CN=gateway, serial");
	g_clear_error(&err);
	g_bytes_unref(old);
	old = encrypt_to(other, "Content-Type: text/plain\r\n\r\nnew\r\n", EVP_aes_128_gcm());
	plain = cg_decrypt_cms(c, old, 4096, now, &err);
	assert_non_null(plain);
	assert_int_equal(g_bytes_get_size(plain), 33);
	g_bytes_unref(plain);
	g_bytes_unref(old);
	chmod(keyf, 0640);
	assert_null(cg_decrypt_cms(c, der, 1 << 20, now, &err));
	assert_error(err, CG_ERROR_INTERNAL, "readable by it alone");
	g_clear_error(&err);
	g_bytes_unref(der);
	X509_free(gw);
	X509_free(other);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	cg_test_rmtree(dir);
}

static void
copy_file(const char *from, const char *to)
{
	g_autofree char *text = NULL;
	gsize len = 0;

	assert_true(g_file_get_contents(from, &text, &len, NULL));
	assert_true(g_file_set_contents(to, text, (gssize)len, NULL));
}

/* Trust anchors are read for every signature: a letter signed under the
 * Fuzz Letter CA verifies while the anchors file holds that CA, and no
 * longer once the file is rewritten with another certificate, though its
 * first bytes were parsed and kept (parsed.c); then again when the CA is
 * back. A file without a certificate is an internal error (defer). */
static void
test_anchors(void **state)
{
	g_autofree char *dir = cg_test_tmpdir("anchors");
	g_autofree char *anchors = g_build_filename(dir, "anchors.pem", NULL);
	g_autofree char *eml = cg_test_data("letter/detached.eml");
	g_autofree char *ca = cg_test_data("letter/anchor.pem");
	g_autofree char *other = cg_test_data("fuzzpki/gwenc.pem");
	g_autofree char *text = NULL;
	g_autoptr(GError) err = NULL;
	g_autoptr(CgMail) mail = NULL;
	g_autoptr(GBytes) raw = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	gsize len = 0;

	(void)state;
	assert_true(g_file_get_contents(eml, &text, &len, NULL));
	raw = g_bytes_new(text, len);
	mail = cg_mail_parse(raw, NULL, NULL, &err);
	assert_non_null(mail);
	copy_file(ca, anchors);
	assert_true(cg_smime_verify(mail, anchors, NULL, now, NULL, &err));
	assert_true(cg_smime_verify(mail, anchors, NULL, now, NULL, &err));
	copy_file(other, anchors);
	assert_false(cg_smime_verify(mail, anchors, NULL, now, NULL, &err));
	assert_error(err, CG_ERROR_BAD_SIGNATURE, "untrusted signer");
	g_clear_error(&err);
	copy_file(ca, anchors);
	assert_true(cg_smime_verify(mail, anchors, NULL, now, NULL, &err));
	assert_true(g_file_set_contents(anchors, "no certificate\n", -1, NULL));
	assert_false(cg_smime_verify(mail, anchors, NULL, now, NULL, &err));
	assert_error(err, CG_ERROR_INTERNAL, "cannot load the trust anchors");
	g_clear_error(&err);
	cg_test_rmtree(dir);
}

/* The spool gives the message whole: the head given, then the body, in
 * memory or spilled to a file past the threshold. */
static void
test_spool(void **state)
{
	g_autofree char *dir = cg_test_tmpdir("spool");
	static const char *const bodies[] = {"", "short", "a body longer than sixteen bytes"};
	gsize b;

	(void)state;
	for (b = 0; b < G_N_ELEMENTS(bodies); b++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(GBytes) whole = NULL, again = NULL;
		g_autofree char *want = g_strconcat("Subject: x\r\n\r\n", bodies[b], NULL);
		CgSpool sp;
		const char *p = bodies[b];
		gsize len;
		const char *got;

		cg_spool_init(&sp, dir, 16);
		for (; *p; p += MIN(strlen(p), 5)) /* in chunks, as the MTA gives it */
			assert_true(cg_spool_append(&sp, p, MIN(strlen(p), 5), &err));
		assert_int_equal(sp.fd >= 0, strlen(bodies[b]) > 16); /* spilled past it */
		whole = cg_spool_take(&sp, "Subject: x\r\n\r\n", 14, &err);
		assert_non_null(whole);
		got = g_bytes_get_data(whole, &len);
		assert_int_equal(len, strlen(want));
		assert_memory_equal(got, want, len);
		/* Emptied: the next message starts from nothing. */
		assert_int_equal(sp.fd, -1);
		assert_true(cg_spool_append(&sp, "next", 4, &err));
		again = cg_spool_take(&sp, NULL, 0, &err);
		got = g_bytes_get_data(again, &len);
		assert_int_equal(len, 4);
		assert_memory_equal(got, "next", 4);
		cg_spool_clear(&sp);
	}
	assert_int_equal(g_rmdir(dir), 0); /* the spilled files were never linked */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kinds),   cmocka_unit_test(test_replies),
	    cmocka_unit_test(test_decrypt), cmocka_unit_test(test_spool),
	    cmocka_unit_test(test_anchors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
