/*
 * profile.c: the to-be-signed certificate of each profile.
 *
 * The subject is the one policy names (cg_policy_subject) from the
 * organisation record and the request item, both validated before they were
 * stored; nothing is copied from the CSR but its public key. Extensions follow the profile table of STANDARDS.md:
 * SAN rfc822Name, keyUsage (critical, fitted to the key), EKU, one CA/B Forum
 * policy OID, CRL DP and AIA caIssuers over http, AKI keyid, SKI. Nothing else.
 */
#include "issuer-int.h"

#include <string.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#define DAY      86400
#define MAX_DAYS 825

const char *
cg_key_usage_for(EVP_PKEY *key)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		return "digitalSignature,keyEncipherment";
	case EVP_PKEY_EC:
		return "digitalSignature,keyAgreement";
	default:
		return "digitalSignature";
	}
}

const EVP_MD *
cg_sign_md(EVP_PKEY *key)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		return NULL;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_bits(key) > 384)
			return EVP_sha512();
		return EVP_PKEY_get_bits(key) > 256 ? EVP_sha384() : EVP_sha256();
	default:
		return EVP_sha256();
	}
}

gboolean
cg_sign_cert(X509 *x, EVP_PKEY *key, GError **error)
{
	if (X509_sign(x, key, cg_sign_md(key)) <= 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "signing failed: %s",
		            cg_openssl_error());
		return FALSE;
	}
	return TRUE;
}

/* The extension nid=value as X509V3_EXT_nconf makes it, for issuer (and
 * subject, when the value needs it: NULL otherwise). */
static X509_EXTENSION *
make_ext(X509 *issuer, X509 *subject, int nid, const char *value, GError **error)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)) == NULL)
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "extension %s=%s: %s",
		            OBJ_nid2sn(nid), value, cg_openssl_error());
	return ext;
}

/* A copy of ext appended to x's extensions. */
static gboolean
put_ext(X509 *x, X509_EXTENSION *ext, int nid, GError **error)
{
	if (X509_add_ext(x, ext, -1) == 1)
		return TRUE;
	g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "cannot add extension %s", OBJ_nid2sn(nid));
	return FALSE;
}

gboolean
cg_x509_add_ext(X509 *x, X509 *issuer, int nid, const char *value, GError **error)
{
	X509_EXTENSION *ext = make_ext(issuer, x, nid, value, error);
	gboolean ok = ext != NULL && put_ext(x, ext, nid, error);

	X509_EXTENSION_free(ext);
	return ok;
}

gboolean
cg_x509_add_policies(X509 *x, const char *const *oids, GError **error)
{
	CERTIFICATEPOLICIES *cp = sk_POLICYINFO_new_null();
	gboolean ok = TRUE;
	gsize i;

	for (i = 0; ok && oids[i] != NULL; i++) {
		POLICYINFO *pi = POLICYINFO_new();

		pi->policyid = OBJ_txt2obj(oids[i], 1);
		ok = pi->policyid != NULL && sk_POLICYINFO_push(cp, pi) > 0;
		if (!ok)
			POLICYINFO_free(pi);
	}
	ok = ok && X509_add1_ext_i2d(x, NID_certificate_policies, cp, 0, X509V3_ADD_APPEND) == 1;
	sk_POLICYINFO_pop_free(cp, POLICYINFO_free);
	if (!ok)
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "certificatePolicies: %s",
		            cg_openssl_error());
	return ok;
}

static gboolean
bad(GError **error, const char *what)
{
	g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED, "certificate request refused: %s",
	            what);
	return FALSE;
}

/* A subject attribute, UTF-8, checked: clean text within max bytes. */
static gboolean
add_attr(X509_NAME *n, int nid, const char *value, gsize max, GError **error)
{
	if (value == NULL || *value == '\0' || !cg_text_is_clean(value, -1, max)) {
		g_autofree char *why = g_strdup_printf(
		    "%s is empty, too long or holds control characters", OBJ_nid2ln(nid));

		return bad(error, why);
	}
	if (X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8, (const unsigned char *)value, -1, -1,
	                               0) != 1) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "subject %s: %s", OBJ_nid2sn(nid),
		            cg_openssl_error());
		return FALSE;
	}
	return TRUE;
}

static gboolean
present(const char *s)
{
	return s != NULL && *s != '\0';
}

/* The subject's attributes, added to n: the certificate's own name, so that
 * no copy of a separate name is made (X509_set_subject_name encodes and
 * decodes it again). */
static gboolean
build_subject(const CgCertRequest *r, X509_NAME *n, GError **error)
{
	CgSubjectFacts f = {r->profile, r->mailbox,     r->org_name,       r->org_identifier,
	                    r->country, r->state,       r->locality,       r->given_name,
	                    r->surname, r->field_email, r->field_locality, r->field_state};
	CgSubject subj;
	gboolean ok = TRUE;
	guint i;

	cg_policy_subject(&f, &subj);
	for (i = 0; ok && i < subj.n; i++)
		ok = add_attr(n, subj.attr[i].nid, subj.attr[i].value, subj.attr[i].max, error);
	cg_subject_clear(&subj);
	return ok;
}

/* r's serial, drawn unless it has one: positive and 16 octets long. */
static gboolean
choose_serial(CgCertRequest *r, GError **error)
{
	static const guint8 zero[16] = {0};

	if (memcmp(r->serial, zero, 16) == 0) {
		if (!cg_random_bytes(r->serial, 16, error))
			return FALSE;
		/* Positive and 16 octets long: first octet 0x01..0x7f. */
		r->serial[0] = (guint8)((r->serial[0] & 0x7f) | 0x01);
	}
	return TRUE;
}

static gboolean
set_serial(X509 *x, CgCertRequest *r, GError **error)
{
	BIGNUM *bn;
	ASN1_INTEGER *ai;

	if (!choose_serial(r, error))
		return FALSE;
	bn = BN_bin2bn(r->serial, 16, NULL);
	ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	BN_free(bn);
	if (ai == NULL || X509_set_serialNumber(x, ai) != 1) {
		ASN1_INTEGER_free(ai);
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "serial: %s", cg_openssl_error());
		return FALSE;
	}
	ASN1_INTEGER_free(ai);
	return TRUE;
}

/* The subject's SubjectPublicKeyInfo copied as encoded in the CSR: setting
 * it from an EVP_PKEY would re-encode the key through OpenSSL's encoders,
 * the costliest step of issuing. */
gboolean
cg_spki_copy_into(X509_PUBKEY *to, X509_PUBKEY *from)
{
	const unsigned char *pk = NULL;
	int pklen = 0, ptype = V_ASN1_UNDEF;
	X509_ALGOR *pa = NULL;
	const ASN1_OBJECT *aobj = NULL;
	const void *pval = NULL;
	ASN1_OBJECT *odup;
	void *pdup = NULL;
	unsigned char *penc;

	if (X509_PUBKEY_get0_param(NULL, &pk, &pklen, &pa, from) != 1 || pa == NULL)
		return FALSE;
	X509_ALGOR_get0(&aobj, &ptype, &pval, pa);
	if (ptype == V_ASN1_OBJECT)
		pdup = OBJ_dup(pval);
	else if (ptype == V_ASN1_SEQUENCE)
		pdup = ASN1_STRING_dup(pval);
	else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
		return FALSE;
	odup = OBJ_dup(aobj);
	penc = OPENSSL_memdup(pk, (size_t)pklen);
	if (odup == NULL || penc == NULL || (pval != NULL && pdup == NULL) ||
	    X509_PUBKEY_set0_param(to, odup, ptype, pdup, penc, pklen) != 1) {
		ASN1_OBJECT_free(odup);
		if (ptype == V_ASN1_OBJECT)
			ASN1_OBJECT_free(pdup);
		else
			ASN1_STRING_free(pdup);
		OPENSSL_free(penc);
		return FALSE;
	}
	return TRUE;
}

/* One SAN entry: rfc822Name for an ASCII mailbox (domain in A-labels), an
 * otherName SmtpUTF8Mailbox for one with a UTF-8 local part (RFC 9598: the
 * domain in U-labels). Built directly: the configuration syntax would read
 * the UTF-8 bytes as Latin-1. */
static gboolean
san_entry(GENERAL_NAMES *gens, const char *mailbox)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();

	if (gn == NULL)
		return FALSE;
	if (cg_addr_is_ascii(mailbox)) {
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		if (s == NULL || ASN1_STRING_set(s, mailbox, -1) != 1) {
			ASN1_IA5STRING_free(s);
			GENERAL_NAME_free(gn);
			return FALSE;
		}
		GENERAL_NAME_set0_value(gn, GEN_EMAIL, s);
	} else {
		g_autofree char *u = cg_addr_to_unicode(mailbox);
		ASN1_UTF8STRING *s = ASN1_UTF8STRING_new();
		ASN1_TYPE *t = ASN1_TYPE_new();

		if (s == NULL || t == NULL || ASN1_STRING_set(s, u, -1) != 1) {
			ASN1_UTF8STRING_free(s);
			ASN1_TYPE_free(t);
			GENERAL_NAME_free(gn);
			return FALSE;
		}
		ASN1_TYPE_set(t, V_ASN1_UTF8STRING, s);
		if (GENERAL_NAME_set0_othername(gn, OBJ_nid2obj(NID_id_on_SmtpUTF8Mailbox), t) != 1) {
			ASN1_TYPE_free(t);
			GENERAL_NAME_free(gn);
			return FALSE;
		}
	}
	if (sk_GENERAL_NAME_push(gens, gn) <= 0) {
		GENERAL_NAME_free(gn);
		return FALSE;
	}
	return TRUE;
}

static gboolean
add_san(X509 *x, const CgCertRequest *r, GError **error)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	const char *const *m;
	gboolean ok = gens != NULL && san_entry(gens, r->mailbox);

	for (m = r->more_mailboxes; ok && m != NULL && *m != NULL; m++)
		ok = san_entry(gens, *m);
	ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND) == 1;
	GENERAL_NAMES_free(gens);
	if (!ok)
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "subjectAltName: %s",
		            cg_openssl_error());
	return ok;
}

/* cg_x509_add_ext, the extension made once into exts (when not NULL) for
 * an extension whose value depends on the issuer alone: X509V3_EXT_nconf
 * parses its text each time, a fifth of building a certificate. */
static gboolean
add_ext(X509 *x, X509 *issuer, int nid, const char *value, CgCa *ca, GError **error)
{
	g_autofree char *key = NULL;
	X509_EXTENSION *ext;
	gboolean ok;

	if (ca == NULL)
		return cg_x509_add_ext(x, issuer, nid, value, error);
	key = g_strdup_printf("%d=%s", nid, value);
	/* The verification threads build certificates too. */
	g_mutex_lock(&ca->exts_lock);
	if ((ext = g_hash_table_lookup(ca->exts, key)) == NULL &&
	    (ext = make_ext(issuer, NULL, nid, value, error)) != NULL)
		g_hash_table_insert(ca->exts, g_steal_pointer(&key), ext);
	ok = ext != NULL && put_ext(x, ext, nid, error);
	g_mutex_unlock(&ca->exts_lock);
	return ok;
}

static gboolean
add_extensions(X509 *x, const CgCertRequest *r, CgCa *ca, GError **error)
{
	g_autofree char *cdp = g_strdup_printf("URI:%s", r->crl_url);
	g_autofree char *aia = g_strdup_printf("caIssuers;URI:%s", r->ca_issuers_url);
	g_autofree char *ku = g_strdup_printf(
	    "critical,%s", r->encipher_only ? "keyEncipherment" : cg_key_usage_for(r->subject_key));
	const char *eku = r->multipurpose ? "emailProtection,clientAuth" : "emailProtection";
	const char *policy[] = {cg_profile_policy_oid(r->profile, r->multipurpose), NULL};

	/* Each of these but the SKI (a hash of the subject's key) depends on
	 * the issuer and its text alone. */
	return add_san(x, r, error) && add_ext(x, r->ca_cert, NID_key_usage, ku, ca, error) &&
	       add_ext(x, r->ca_cert, NID_ext_key_usage, eku, ca, error) &&
	       cg_x509_add_policies(x, policy, error) &&
	       add_ext(x, r->ca_cert, NID_crl_distribution_points, cdp, ca, error) &&
	       add_ext(x, r->ca_cert, NID_info_access, aia, ca, error) &&
	       add_ext(x, r->ca_cert, NID_authority_key_identifier, "keyid:always", ca, error) &&
	       cg_x509_add_ext(x, r->ca_cert, NID_subject_key_identifier, "hash", error);
}

gint64
cg_cert_request_end(const CgCertRequest *r)
{
	gint64 end = r->not_before + (gint64)r->validity_days * DAY - 1;
	gint64 ca_end = r->ca_cert != NULL ? cg_asn1_time_unix(X509_get0_notAfter(r->ca_cert)) : 0;

	return ca_end > 0 && ca_end < end ? ca_end : end;
}

gboolean
cg_cert_request_ca_current(const CgCertRequest *r, GError **error)
{
	g_autofree char *when = NULL;

	if (cg_cert_request_end(r) > r->not_before)
		return TRUE;
	when = cg_time_iso(cg_cert_request_end(r));
	g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL,
	            "the issuing CA's certificate ended at %s: nothing is issued under it until "
	            "it is renewed (CACertificate)",
	            when);
	return FALSE;
}

static X509 *
build(CgCertRequest *r, CgCa *ca, GError **error)
{
	X509 *x = NULL;
	guint max = MIN(r->max_validity_days ? r->max_validity_days : MAX_DAYS, MAX_DAYS);

	if (r->validity_days == 0 || r->validity_days > max) {
		g_autofree char *why =
		    g_strdup_printf("validity of %u days; the most is %u", r->validity_days, max);

		bad(error, why);
		return NULL;
	}
	if (r->mailbox == NULL || r->crl_url == NULL || r->ca_issuers_url == NULL ||
	    r->ca_cert == NULL || r->subject_key == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "incomplete certificate request");
		return NULL;
	}
	if (!cg_cert_request_ca_current(r, error))
		return NULL;
	if (r->profile != CG_PROFILE_MAILBOX &&
	    (!present(r->org_name) || !present(r->org_identifier) || !present(r->country))) {
		bad(error, "the organisation lacks a name, identifier or country");
		return NULL;
	}
	if (r->profile == CG_PROFILE_SPONSOR && (!present(r->given_name) || !present(r->surname))) {
		bad(error, "the sponsor profile needs the person's given name and surname");
		return NULL;
	}
	if ((x = X509_new()) == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "out of memory");
		return NULL;
	}
	if (!build_subject(r, X509_get_subject_name(x), error) ||
	    X509_set_version(x, X509_VERSION_3) != 1 || !set_serial(x, r, error) ||
	    X509_set_issuer_name(x, X509_get_subject_name(r->ca_cert)) != 1 ||
	    !(r->subject_spki != NULL ? cg_spki_copy_into(X509_get_X509_PUBKEY(x), r->subject_spki)
	                              : X509_set_pubkey(x, r->subject_key) == 1) ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)r->not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)cg_cert_request_end(r)) == NULL ||
	    !add_extensions(x, r, ca, error)) {
		if (error != NULL && *error == NULL)
			g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL,
			            "building the certificate: %s", cg_openssl_error());
		X509_free(x);
		return NULL;
	}
	return x;
}

X509 *
cg_cert_build(CgCertRequest *r, GError **error)
{
	return build(r, NULL, error);
}

char *
cg_lint_refusal(const char *what, GPtrArray *findings)
{
	g_autofree char *all = NULL;

	g_ptr_array_add(findings, NULL);
	all = g_strjoinv("; ", (char **)findings->pdata);
	return g_strdup_printf("%s: %s", what, all);
}

/* The lint's findings as one error (cg_lint_refusal). */
static void
lint_refused(GPtrArray *findings, const char *what, GError **error)
{
	g_autofree char *text = cg_lint_refusal(what, findings);

	g_set_error_literal(error, CG_ERROR, CG_ERROR_INTERNAL, text);
}

/* The certificate for r, built and passed by the pre-issuance lint. */
static X509 *
build_linted(CgCa *ca, CgCertRequest *r, GError **error)
{
	g_autoptr(GPtrArray) findings = g_ptr_array_new_with_free_func(g_free);
	X509 *x;

	r->ca_cert = cg_ca_cert(ca);
	if ((x = build(r, ca, error)) == NULL)
		return NULL;
	if (!cg_cert_lint(x, r, findings)) {
		lint_refused(findings, "pre-issuance lint refused the certificate", error);
		X509_free(x);
		return NULL;
	}
	return x;
}

gboolean
cg_ca_signs_beside(const CgCa *ca)
{
	return ca->sign_ctx != NULL;
}

CgSigned *
cg_ca_issue_later(CgCa *ca, CgCertRequest *r, CgVerifier *later, GError **error)
{
	g_autofree char *serial = NULL;

	if (!choose_serial(r, error))
		return NULL;
	r->ca_cert = cg_ca_cert(ca);
	serial = cg_hex(r->serial, 16);
	return cg_verifier_sign(later, ca, r, serial);
}

GBytes *
cg_ca_make(CgCa *ca, CgCertRequest *r, GError **error)
{
	unsigned char *enc = NULL;
	GBytes *der;
	X509 *x;
	int len;

	if ((x = build_linted(ca, r, error)) == NULL)
		return NULL;
	if (!cg_ca_sign(ca, x, error)) {
		X509_free(x);
		return NULL;
	}
	len = i2d_X509(x, &enc);
	X509_free(x);
	if (len <= 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "cannot encode the certificate");
		return NULL;
	}
	der = g_bytes_new(enc, (gsize)len);
	OPENSSL_free(enc);
	return der;
}

GBytes *
cg_ca_issue(CgCa *ca, CgCertRequest *r, CgVerifier *later, GError **error)
{
	g_autoptr(GPtrArray) findings = g_ptr_array_new_with_free_func(g_free);
	GBytes *der;

	if ((der = cg_ca_make(ca, r, error)) == NULL)
		return NULL;
	if (later != NULL) {
		g_autofree char *serial = cg_hex(r->serial, 16);

		cg_verifier_cert(later, der, r, serial);
	} else if (!cg_cert_lint_signed(der, r, findings)) {
		lint_refused(findings, "post-issuance lint refused the signed certificate", error);
		g_bytes_unref(der);
		return NULL;
	}
	return der;
}
