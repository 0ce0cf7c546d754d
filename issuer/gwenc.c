/*
 * gwenc.c: the gateway's own certificates: its encryption certificate, apart
 * from its signing one, and the signing one made again.
 *
 * Mail clients learn it from every signed mail the issuer sends (outmail.c
 * includes it, with an SMIMEEncryptionKeyPreference naming it) and encrypt
 * to it; certgate-milter decrypts with its key. RSA 3072, keyEncipherment
 * only, emailProtection, every gateway address in its SAN, the
 * mailbox-validated strict profile, linted like any certificate. Its key is
 * the milter's: owned by UserID, mode 0600. A rekey keeps the previous pair
 * as PATH.previous, which the milter still decrypts with for
 * GatewayEncryptionOverlap.
 *   cg_ca_make_gateway_enc()  the certificate and its key, signed by the
 *                             issuing CA
 *   cg_ca_gateway_rekey()     a new pair; the old one kept as .previous
 *   cg_ca_gateway_renew()     the mail-signing pair (SenderAddress) made again
 * Never: gives the issuer the decryption key (it is written, not kept).
 */
#include "issuer-int.h"
#include "daemon.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* The gateway addresses, each once, the enrolment address first. */
static GPtrArray *
gateway_addresses(const CgConf *conf)
{
	const char *all[] = {conf->enroll_address, conf->letter_address, conf->challenge_address,
	                     conf->revoke_address, conf->sender_address};
	GPtrArray *a = g_ptr_array_new();
	gsize i;
	guint j;

	for (i = 0; i < G_N_ELEMENTS(all); i++) {
		gboolean dup = FALSE;

		for (j = 0; j < a->len; j++)
			dup = dup || g_ascii_strcasecmp(a->pdata[j], all[i]) == 0;
		if (!dup)
			g_ptr_array_add(a, (gpointer)all[i]);
	}
	g_ptr_array_add(a, NULL);
	return a;
}

/* A gateway certificate for r (its mailbox fields set) and the key just
 * made in *key, issued by issuing: built, linted and signed. Both freed and
 * NULL on failure. */
static gboolean
gateway_cert(const CgConf *conf, CgCertRequest *r, X509 *issuing, EVP_PKEY *issuing_key, gint64 now,
             const char *what, X509 **cert, EVP_PKEY **key, GError **error)
{
	g_autoptr(GPtrArray) findings = g_ptr_array_new_with_free_func(g_free);

	*cert = NULL;
	if (*key == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "key generation: %s",
		            cg_openssl_error());
		return FALSE;
	}
	r->validity_days = MIN(730, (guint)conf->max_validity);
	r->max_validity_days = (guint)conf->max_validity;
	r->not_before = now;
	r->crl_url = conf->crl_url;
	r->ca_issuers_url = conf->ca_issuers_url;
	r->ca_cert = issuing;
	r->subject_key = *key;
	if ((*cert = cg_cert_build(r, error)) == NULL)
		goto fail;
	if (!cg_cert_lint(*cert, r, findings)) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "%s lint: %s", what,
		            (char *)g_ptr_array_index(findings, 0));
		goto fail;
	}
	if (cg_sign_cert(*cert, issuing_key, error))
		return TRUE;
fail:
	X509_free(*cert);
	EVP_PKEY_free(*key);
	*cert = NULL;
	*key = NULL;
	return FALSE;
}

gboolean
cg_ca_make_gateway_enc(const CgConf *conf, X509 *issuing, EVP_PKEY *issuing_key, gint64 now,
                       X509 **cert, EVP_PKEY **key, GError **error)
{
	g_autoptr(GPtrArray) addrs = gateway_addresses(conf);
	CgCertRequest r = {0};

	*key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	r.profile = CG_PROFILE_MAILBOX;
	r.mailbox = addrs->pdata[0];
	r.more_mailboxes = (const char *const *)addrs->pdata + 1;
	r.encipher_only = TRUE;
	return gateway_cert(conf, &r, issuing, issuing_key, now, "gateway encryption certificate",
	                    cert, key, error);
}

gboolean
cg_ca_make_gateway_sign(const CgConf *conf, X509 *issuing, EVP_PKEY *issuing_key, gint64 now,
                        X509 **cert, EVP_PKEY **key, GError **error)
{
	CgCertRequest r = {0};

	*key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	r.profile = CG_PROFILE_MAILBOX;
	r.mailbox = conf->sender_address;
	r.field_email = TRUE;
	return gateway_cert(conf, &r, issuing, issuing_key, now, "gateway certificate", cert, key,
	                    error);
}

gboolean
cg_ca_gateway_renew(const CgConf *conf, CgCa *ca, gint64 now, GString *out, GError **error)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	gboolean ok;

	/* The issuer's user reads the key; nobody else. */
	if (geteuid() == 0 && !cg_daemon_lookup_user(conf->issuer_user_id, &uid, &gid, error))
		return FALSE;
	if (!cg_ca_make_gateway_sign(conf, cg_ca_cert(ca), cg_ca_key(ca), now, &cert, &key, error))
		return FALSE;
	/* The key first: a certificate without its key would not load. */
	ok = cg_file_keep_previous(conf->gateway_key, error) &&
	     cg_file_keep_previous(conf->gateway_certificate, error) &&
	     cg_pem_write_key(conf->gateway_key, key, uid, gid, error) &&
	     cg_pem_write_certs(conf->gateway_certificate, &cert, 1, error);
	if (ok) {
		char *subj = X509_NAME_oneline(X509_get_subject_name(cert), NULL, 0);
		g_autofree char *until = cg_time_iso(cg_asn1_time_unix(X509_get0_notAfter(cert)));

		g_string_append_printf(
		    out,
		    "new gateway signing certificate %s, valid to %s\n  %s (key %s)\n"
		    "the previous pair kept as .previous; copy %s to each "
		    "perspective's pinned gateway certificate and reload them "
		    "(until then they are asked with the pair before); reload "
		    "certgate-issuer to sign its mail with it\n",
		    subj, until, conf->gateway_certificate, conf->gateway_key,
		    conf->gateway_certificate);
		OPENSSL_free(subj);
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	return ok;
}

gboolean
cg_ca_write_gateway_enc(const CgConf *conf, X509 *cert, EVP_PKEY *key, GError **error)
{
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	/* The milter's user reads the key; nobody else. */
	if (geteuid() == 0 && !cg_daemon_lookup_user(conf->user_id, &uid, &gid, error))
		return FALSE;
	return cg_pem_write_certs(conf->gateway_enc_certificate, &cert, 1, error) &&
	       cg_pem_write_key(conf->gateway_enc_key, key, uid, gid, error);
}

gboolean
cg_ca_gateway_rekey(const CgConf *conf, CgCa *ca, gint64 now, GString *out, GError **error)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	gboolean ok;

	if (!cg_ca_make_gateway_enc(conf, cg_ca_cert(ca), cg_ca_key(ca), now, &cert, &key, error))
		return FALSE;
	ok = cg_file_keep_previous(conf->gateway_enc_certificate, error) &&
	     cg_file_keep_previous(conf->gateway_enc_key, error) &&
	     cg_ca_write_gateway_enc(conf, cert, key, error);
	if (ok) {
		char *subj = X509_NAME_oneline(X509_get_subject_name(cert), NULL, 0);

		g_string_append_printf(out,
		                       "new gateway encryption certificate %s\n  %s (key %s)\n"
		                       "the previous one decrypts for %" G_GINT64_FORMAT
		                       " more days (GatewayEncryptionOverlap)\n",
		                       subj, conf->gateway_enc_certificate, conf->gateway_enc_key,
		                       conf->gateway_enc_overlap / 86400);
		OPENSSL_free(subj);
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	return ok;
}
