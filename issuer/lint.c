/*
 * lint.c: pre-issuance linting (S/MIME BR 4.3.1.2) of a to-be-signed
 * certificate against its profile, rule by rule as in STANDARDS.md. It reads
 * the certificate back as a relying party would, independently of the
 * builder, so that a builder bug is caught before anything is signed.
 */
#include "issuer-int.h"
#include "policy.h"

#include <string.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>

#define DAY 86400

typedef struct {
	GPtrArray *out;
	const CgCertRequest *r;
	X509 *x;
} Lint;

static void finding(Lint *l, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
finding(Lint *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_ptr_array_add(l->out, g_strdup_vprintf(fmt, ap));
	va_end(ap);
}

static gboolean
present(const char *s)
{
	return s != NULL && *s != '\0';
}

static void
lint_serial(Lint *l)
{
	const ASN1_INTEGER *ai = X509_get0_serialNumber(l->x);
	BIGNUM *bn = ASN1_INTEGER_to_BN(ai, NULL);

	if (bn == NULL) {
		finding(l, "serialNumber: unreadable");
		return;
	}
	if (BN_is_negative(bn) || BN_is_zero(bn))
		finding(l, "serialNumber: must be positive");
	if (BN_num_bits(bn) > 159)
		finding(l, "serialNumber: must be below 2^159");
	if (BN_num_bits(bn) < 64)
		finding(l, "serialNumber: fewer than 64 bits");
	BN_free(bn);
}

static gboolean
names_equal(const X509_NAME *a, const X509_NAME *b)
{
	unsigned char *da = NULL, *db = NULL;
	int la = i2d_X509_NAME(a, &da), lb = i2d_X509_NAME(b, &db);
	gboolean eq = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;

	OPENSSL_free(da);
	OPENSSL_free(db);
	return eq;
}

static void
lint_validity(Lint *l)
{
	int days = 0, secs = 0;
	gint64 period;
	guint max = l->r->max_validity_days ? MIN(l->r->max_validity_days, 825u) : 825u;

	if (ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(l->x), X509_get0_notAfter(l->x)) !=
	    1) {
		finding(l, "validity: unreadable");
		return;
	}
	/* notAfter is inclusive: the period is the difference plus one second. */
	period = (gint64)days * DAY + secs + 1;
	if (period <= 0)
		finding(l, "validity: notAfter is before notBefore");
	if (period > (gint64)max * DAY)
		finding(l, "validity: %" G_GINT64_FORMAT " seconds is more than %u days", period,
		        max);
	if (l->r->ca_cert != NULL &&
	    ASN1_TIME_compare(X509_get0_notAfter(l->x), X509_get0_notAfter(l->r->ca_cert)) > 0)
		finding(l, "validity: notAfter is after the issuing CA certificate's");
}

/* The value of a subject attribute as UTF-8; NULL when absent; "*dup*" when
 * the attribute appears more than once. */
static char *
subject_value(Lint *l, int nid)
{
	X509_NAME *n = X509_get_subject_name(l->x);
	int i = X509_NAME_get_index_by_NID(n, nid, -1);
	unsigned char *utf8 = NULL;
	char *out;
	int len;

	if (i < 0)
		return NULL;
	if (X509_NAME_get_index_by_NID(n, nid, i) >= 0)
		return g_strdup("*dup*");
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
	if (len < 0)
		return g_strdup("*bad*");
	out = g_strndup((const char *)utf8, (gsize)len);
	if (strlen(out) != (gsize)len || !cg_text_is_clean(out, -1, 1024)) {
		g_free(out);
		out = g_strdup("*bad*");
	}
	OPENSSL_free(utf8);
	return out;
}

static void
expect_attr(Lint *l, int nid, const char *want, gboolean required)
{
	g_autofree char *got = subject_value(l, nid);

	if (got == NULL) {
		if (required)
			finding(l, "subject: %s is required", OBJ_nid2ln(nid));
		return;
	}
	if (strcmp(got, "*dup*") == 0)
		finding(l, "subject: %s appears more than once", OBJ_nid2ln(nid));
	else if (strcmp(got, "*bad*") == 0)
		finding(l, "subject: %s is not clean UTF-8", OBJ_nid2ln(nid));
	else if (want == NULL || strcmp(got, want) != 0)
		finding(l, "subject: %s \"%s\" is not the validated value", OBJ_nid2ln(nid), got);
}

static void
lint_subject(Lint *l)
{
	const CgCertRequest *r = l->r;
	X509_NAME *n = X509_get_subject_name(l->x);
	gboolean org = r->profile != CG_PROFILE_MAILBOX;
	g_autofree char *cn = subject_value(l, NID_commonName);
	g_autofree char *person = NULL;
	g_autofree char *c = subject_value(l, NID_countryName);
	g_autofree char *idc = cg_policy_identifier_country(r->org_identifier);
	int i;

	for (i = 0; i < X509_NAME_entry_count(n); i++) {
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(n, i)));
		gboolean ok = nid == NID_commonName || nid == NID_pkcs9_emailAddress;

		if (org)
			ok = ok || nid == NID_countryName || nid == NID_stateOrProvinceName ||
			     nid == NID_localityName || nid == NID_organizationName ||
			     nid == NID_organizationIdentifier;
		if (r->profile == CG_PROFILE_SPONSOR)
			ok = ok || nid == NID_givenName || nid == NID_surname;
		if (!ok)
			finding(l, "subject: %s is not allowed in the %s profile",
			        nid == NID_undef ? "an unknown attribute" : OBJ_nid2ln(nid),
			        cg_profile_name(r->profile));
	}
	if (org) {
		expect_attr(l, NID_organizationName, r->org_name, TRUE);
		expect_attr(l, NID_organizationIdentifier, r->org_identifier, TRUE);
		if (!cg_policy_org_identifier(r->org_identifier, NULL))
			finding(l, "subject: organizationIdentifier has a bad syntax");
		expect_attr(l, NID_countryName, r->country, FALSE);
		if (c != NULL && idc != NULL && strcmp(c, idc) != 0)
			finding(
			    l,
			    "subject: countryName %s differs from the organizationIdentifier's %s",
			    c, idc);
		expect_attr(l, NID_stateOrProvinceName, r->state, FALSE);
		expect_attr(l, NID_localityName, r->locality, FALSE);
		if (c == NULL && (X509_NAME_get_index_by_NID(n, NID_stateOrProvinceName, -1) >= 0 ||
		                  X509_NAME_get_index_by_NID(n, NID_localityName, -1) >= 0))
			finding(l, "subject: countryName is required with stateOrProvinceName or "
			           "localityName");
	}
	if (r->profile == CG_PROFILE_SPONSOR) {
		expect_attr(l, NID_givenName, r->given_name, TRUE);
		expect_attr(l, NID_surname, r->surname, TRUE);
		person = g_strdup_printf("%s %s", r->given_name ? r->given_name : "",
		                         r->surname ? r->surname : "");
	}
	if (cn != NULL && strcmp(cn, "*dup*") == 0)
		finding(l, "subject: commonName appears more than once");
	else if (cn != NULL && strcmp(cn, "*bad*") == 0)
		finding(l, "subject: commonName is not clean UTF-8");
	else if (cn != NULL && strcmp(cn, r->mailbox) != 0 &&
	         !(r->profile == CG_PROFILE_ORGANIZATION && present(r->org_name) &&
	           strcmp(cn, r->org_name) == 0) &&
	         !(person != NULL && strcmp(cn, person) == 0))
		finding(l, "subject: commonName \"%s\" is none of the values the %s profile allows",
		        cn, cg_profile_name(r->profile));
	expect_attr(l, NID_pkcs9_emailAddress, r->mailbox, FALSE);
}

/* Each extension once; only those of the profile. */
static void
lint_extension_set(Lint *l)
{
	static const int allowed[] = {NID_subject_alt_name,
	                              NID_key_usage,
	                              NID_ext_key_usage,
	                              NID_certificate_policies,
	                              NID_crl_distribution_points,
	                              NID_info_access,
	                              NID_authority_key_identifier,
	                              NID_subject_key_identifier,
	                              NID_basic_constraints};
	int i, n = X509_get_ext_count(l->x);

	for (i = 0; i < n; i++) {
		X509_EXTENSION *e = X509_get_ext(l->x, i);
		int nid = OBJ_obj2nid(X509_EXTENSION_get_object(e));
		gsize k;
		gboolean ok = FALSE;

		for (k = 0; k < G_N_ELEMENTS(allowed); k++)
			ok = ok || allowed[k] == nid;
		if (!ok)
			finding(l, "extension %s is not allowed",
			        nid == NID_undef ? "(unknown)" : OBJ_nid2sn(nid));
		else if (X509_get_ext_by_NID(l->x, nid, i) >= 0)
			finding(l, "extension %s appears more than once", OBJ_nid2sn(nid));
		if (nid != NID_key_usage && nid != NID_basic_constraints &&
		    X509_EXTENSION_get_critical(e))
			finding(l, "extension %s must not be critical",
			        nid == NID_undef ? "(unknown)" : OBJ_nid2sn(nid));
	}
}

/* Is v one of the request's validated mailboxes (as the SAN must write it)? */
static gboolean
validated_mailbox(const CgCertRequest *r, const char *v, gboolean utf8)
{
	const char *const *m;

	for (m = r->more_mailboxes; m != NULL && *m != NULL; m++)
		if (strcmp(v, *m) == 0)
			return TRUE;
	if (!utf8)
		return strcmp(v, r->mailbox) == 0;
	{
		g_autofree char *u = cg_addr_to_unicode(r->mailbox);

		return strcmp(v, u) == 0;
	}
}

/* One SAN entry: rfc822Name (IA5, an ASCII mailbox) or otherName
 * SmtpUTF8Mailbox (UTF8String, a mailbox whose local part is not ASCII,
 * RFC 9598); nothing else. */
static void
lint_san_entry(Lint *l, GENERAL_NAME *gn, int *mailboxes)
{
	g_autofree char *v = NULL;

	if (gn->type == GEN_EMAIL) {
		v = g_strndup((const char *)ASN1_STRING_get0_data(gn->d.rfc822Name),
		              (gsize)ASN1_STRING_length(gn->d.rfc822Name));
		if (!cg_addr_is_ascii(v))
			finding(l, "subjectAltName: rfc822Name %s is not ASCII", v);
		else if (!validated_mailbox(l->r, v, FALSE))
			finding(l, "subjectAltName: %s is not the validated mailbox", v);
		(*mailboxes)++;
		return;
	}
	if (gn->type == GEN_OTHERNAME &&
	    OBJ_obj2nid(gn->d.otherName->type_id) == NID_id_on_SmtpUTF8Mailbox &&
	    gn->d.otherName->value->type == V_ASN1_UTF8STRING) {
		ASN1_STRING *u = gn->d.otherName->value->value.utf8string;

		v = g_strndup((const char *)ASN1_STRING_get0_data(u), (gsize)ASN1_STRING_length(u));
		if (cg_addr_is_ascii(v))
			finding(l, "subjectAltName: SmtpUTF8Mailbox %s has an ASCII local part "
			           "(rfc822Name is for it)",
			        v);
		else if (!validated_mailbox(l->r, v, TRUE))
			finding(l, "subjectAltName: %s is not the validated mailbox", v);
		(*mailboxes)++;
		return;
	}
	finding(l, "subjectAltName: only rfc822Name and SmtpUTF8Mailbox entries are allowed");
}

static void
lint_san(Lint *l)
{
	int crit = -1, i;
	GENERAL_NAMES *san = X509_get_ext_d2i(l->x, NID_subject_alt_name, &crit, NULL);
	int mailboxes = 0;

	if (san == NULL) {
		finding(l, "subjectAltName: required");
		return;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(san); i++)
		lint_san_entry(l, sk_GENERAL_NAME_value(san, i), &mailboxes);
	if (mailboxes == 0)
		finding(l, "subjectAltName: needs a mailbox");
	GENERAL_NAMES_free(san);
}

/* The key algorithm of the certificate, read from its SPKI. */
static int
spki_nid(X509 *x)
{
	ASN1_OBJECT *alg = NULL;

	if (X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL, X509_get_X509_PUBKEY(x)) != 1)
		return NID_undef;
	return OBJ_obj2nid(alg);
}

static void
lint_key_usage(Lint *l)
{
	int crit = -1;
	ASN1_BIT_STRING *ku = X509_get_ext_d2i(l->x, NID_key_usage, &crit, NULL);
	int alg = spki_nid(l->x);
	guint32 bits, allowed;
	int i;

	if (ku == NULL) {
		finding(l, "keyUsage: required");
		return;
	}
	if (crit != 1)
		finding(l, "keyUsage: must be critical");
	for (bits = 0, i = 0; i < 9; i++)
		if (ASN1_BIT_STRING_get_bit(ku, i))
			bits |= 1u << i;
	switch (alg) {
	case NID_rsaEncryption:
		allowed = (1u << 0) | (1u << 2); /* digitalSignature, keyEncipherment */
		break;
	case NID_X9_62_id_ecPublicKey:
		allowed = (1u << 0) | (1u << 4); /* digitalSignature, keyAgreement */
		break;
	default:
		allowed = 1u << 0; /* digitalSignature */
		break;
	}
	if (bits == 0)
		finding(l, "keyUsage: no bit set");
	if (bits & ~allowed)
		finding(l, "keyUsage: bits 0x%x not fitted to the %s key", bits & ~allowed,
		        alg == NID_undef ? "unknown" : OBJ_nid2sn(alg));
	ASN1_BIT_STRING_free(ku);
}

static void
lint_eku(Lint *l)
{
	int crit = -1, i;
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(l->x, NID_ext_key_usage, &crit, NULL);
	gboolean email = FALSE;

	if (eku == NULL) {
		finding(l, "extKeyUsage: required");
		return;
	}
	for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));

		if (nid == NID_email_protect)
			email = TRUE;
		else if (!l->r->multipurpose)
			finding(l, "extKeyUsage: only emailProtection in a strict profile");
		else if (nid == NID_server_auth || nid == NID_code_sign || nid == NID_time_stamp ||
		         nid == NID_OCSP_sign || nid == NID_anyExtendedKeyUsage)
			finding(l, "extKeyUsage: %s is never allowed", OBJ_nid2sn(nid));
	}
	if (!email)
		finding(l, "extKeyUsage: emailProtection is required");
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
}

static void
lint_policies(Lint *l)
{
	int crit = -1, i, reserved = 0;
	CERTIFICATEPOLICIES *cp = X509_get_ext_d2i(l->x, NID_certificate_policies, &crit, NULL);
	const char *want = cg_profile_policy_oid(l->r->profile, l->r->multipurpose);

	if (cp == NULL) {
		finding(l, "certificatePolicies: required");
		return;
	}
	for (i = 0; i < sk_POLICYINFO_num(cp); i++) {
		char oid[80];

		OBJ_obj2txt(oid, sizeof(oid), sk_POLICYINFO_value(cp, i)->policyid, 1);
		if (strcmp(oid, "2.5.29.32.0") == 0)
			finding(l, "certificatePolicies: anyPolicy is not allowed in a subscriber "
			           "certificate");
		if (g_str_has_prefix(oid, "2.23.140.1.5.")) {
			reserved++;
			if (strcmp(oid, want) != 0)
				finding(l, "certificatePolicies: %s is not the %s profile's %s",
				        oid, cg_profile_name(l->r->profile), want);
		}
	}
	if (reserved != 1)
		finding(l, "certificatePolicies: exactly one CA/B Forum S/MIME OID is required");
	sk_POLICYINFO_pop_free(cp, POLICYINFO_free);
}

static gboolean
is_http_uri(const GENERAL_NAME *gn)
{
	const char *u;

	if (gn->type != GEN_URI)
		return FALSE;
	u = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
	return g_str_has_prefix(u, "http://") &&
	       strlen(u) == (gsize)ASN1_STRING_length(gn->d.uniformResourceIdentifier);
}

static void
lint_crldp(Lint *l)
{
	int crit = -1, i, j, uris = 0;
	CRL_DIST_POINTS *dps = X509_get_ext_d2i(l->x, NID_crl_distribution_points, &crit, NULL);

	if (dps == NULL) {
		finding(l, "cRLDistributionPoints: required");
		return;
	}
	/* S/MIME BR 7.1.2.3 (b): each point a fullName of http:// URIs, no
	 * reasons, no cRLIssuer (not critical: checked with every extension). */
	for (i = 0; i < sk_DIST_POINT_num(dps); i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(dps, i);

		if (dp->reasons != NULL)
			finding(l, "cRLDistributionPoints: reasons must be absent");
		if (dp->CRLissuer != NULL)
			finding(l, "cRLDistributionPoints: cRLIssuer must be absent");
		if (dp->distpoint == NULL || dp->distpoint->type != 0) {
			finding(l, "cRLDistributionPoints: each distributionPoint must be a fullName");
			continue;
		}
		for (j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname); j++) {
			if (is_http_uri(sk_GENERAL_NAME_value(dp->distpoint->name.fullname, j)))
				uris++;
			else
				finding(l, "cRLDistributionPoints: only http:// URIs are allowed");
		}
	}
	if (uris == 0)
		finding(l, "cRLDistributionPoints: needs an http:// URI");
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
}

static void
lint_aia(Lint *l)
{
	int crit = -1, i, ca_issuers = 0;
	AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(l->x, NID_info_access, &crit, NULL);

	if (aia == NULL) {
		finding(l, "authorityInformationAccess: required");
		return;
	}
	for (i = 0; i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
		int m = OBJ_obj2nid(ad->method);

		if (m != NID_ad_ca_issuers && m != NID_ad_OCSP)
			finding(l, "authorityInformationAccess: only caIssuers and ocsp");
		else if (!is_http_uri(ad->location))
			finding(l, "authorityInformationAccess: only http:// URIs");
		else if (m == NID_ad_ca_issuers)
			ca_issuers++;
	}
	if (ca_issuers == 0)
		finding(l, "authorityInformationAccess: needs a caIssuers http:// URI");
	AUTHORITY_INFO_ACCESS_free(aia);
}

static void
lint_key_ids(Lint *l)
{
	int crit = -1;
	AUTHORITY_KEYID *aki = X509_get_ext_d2i(l->x, NID_authority_key_identifier, &crit, NULL);
	ASN1_OCTET_STRING *ski = X509_get_ext_d2i(l->x, NID_subject_key_identifier, &crit, NULL);
	const ASN1_OCTET_STRING *ca_ski =
	    l->r->ca_cert ? X509_get0_subject_key_id(l->r->ca_cert) : NULL;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(l->x, NID_basic_constraints, &crit, NULL);

	if (aki == NULL)
		finding(l, "authorityKeyIdentifier: required");
	else if (aki->keyid == NULL || aki->issuer != NULL || aki->serial != NULL)
		finding(l, "authorityKeyIdentifier: keyIdentifier only");
	else if (ca_ski != NULL && ASN1_OCTET_STRING_cmp(aki->keyid, ca_ski) != 0)
		finding(l, "authorityKeyIdentifier: not the issuing CA's key identifier");
	if (ski == NULL)
		finding(l, "subjectKeyIdentifier: required");
	if (bc != NULL && bc->ca)
		finding(l, "basicConstraints: cA must be false");
	AUTHORITY_KEYID_free(aki);
	ASN1_OCTET_STRING_free(ski);
	BASIC_CONSTRAINTS_free(bc);
}

/* The certificate's SPKI is, byte for byte, the key that was asked for. */
static gboolean
spki_is_requested(Lint *l)
{
	unsigned char *have = NULL, *want = NULL;
	int hl = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(l->x), &have);
	int wl = l->r->subject_spki != NULL ? i2d_X509_PUBKEY(l->r->subject_spki, &want)
	                                    : i2d_PUBKEY(l->r->subject_key, &want);
	gboolean same = hl > 0 && hl == wl && memcmp(have, want, (size_t)hl) == 0;

	OPENSSL_free(have);
	OPENSSL_free(want);
	return same;
}

/* The AlgorithmIdentifier byte for byte as S/MIME BR 7.1.3.1 prescribe, and
 * an uncompressed EC point. */
static void
lint_spki_encoding(Lint *l)
{
	static const struct {
		const char *key;
		const char *der;
		gsize len;
	} ids[] = {
	    {"RSA", "\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00", 15},
	    {"P-256",
	     "\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07",
	     21},
	    {"P-384", "\x30\x10\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x05\x2b\x81\x04\x00\x22",
	     18},
	    {"P-521", "\x30\x10\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x05\x2b\x81\x04\x00\x23",
	     18},
	    {"Ed25519", "\x30\x05\x06\x03\x2b\x65\x70", 7},
	    {"Ed448", "\x30\x05\x06\x03\x2b\x65\x71", 7},
	};
	const unsigned char *pk = NULL;
	int pklen = 0, n;
	X509_ALGOR *alg = NULL;
	unsigned char *der = NULL;
	gsize i;

	if (X509_PUBKEY_get0_param(NULL, &pk, &pklen, &alg, X509_get_X509_PUBKEY(l->x)) != 1 ||
	    (n = i2d_X509_ALGOR(alg, &der)) <= 0) {
		finding(l, "subjectPublicKeyInfo: unreadable");
		return;
	}
	for (i = 0; i < G_N_ELEMENTS(ids); i++)
		if ((gsize)n == ids[i].len && memcmp(der, ids[i].der, ids[i].len) == 0)
			break;
	OPENSSL_free(der);
	if (i == G_N_ELEMENTS(ids))
		finding(l,
		        "subjectPublicKeyInfo: the algorithm identifier is not one the S/MIME BR "
		        "(7.1.3.1) prescribe");
	else if (ids[i].key[0] == 'P' && (pklen < 1 || pk[0] != 0x04))
		finding(l, "subjectPublicKeyInfo: the EC point must be uncompressed");
}

static void
lint_keys(Lint *l)
{
	EVP_PKEY *ca_key = l->r->ca_cert ? X509_get0_pubkey(l->r->ca_cert) : NULL;
	g_autoptr(GError) err = NULL;

	lint_spki_encoding(l);
	if (!spki_is_requested(l))
		finding(l, "subjectPublicKeyInfo: not the requested key");
	else if (l->r->subject_key == NULL || !cg_policy_check_key_shape(l->r->subject_key, &err))
		finding(l, "subjectPublicKeyInfo: %s", err ? err->message : "unreadable");
	if (ca_key == NULL) {
		finding(l, "issuer: no CA certificate to check against");
		return;
	}
	/* The signature algorithm follows the CA key (cg_sign_md): never SHA-1. */
	if (EVP_PKEY_get_base_id(ca_key) == EVP_PKEY_RSA && EVP_PKEY_get_bits(ca_key) < 2048)
		finding(l, "signature: the CA's RSA key is shorter than 2048 bits");
	if (!names_equal(X509_get_issuer_name(l->x), X509_get_subject_name(l->r->ca_cert)))
		finding(l, "issuer: not byte-identical to the issuing CA's subject");
}

gboolean
cg_cert_lint(X509 *x, const CgCertRequest *r, GPtrArray *findings)
{
	Lint l = {findings, r, x};
	guint before = findings->len;

	if (X509_get_version(x) != X509_VERSION_3)
		finding(&l, "version: must be v3");
	lint_serial(&l);
	lint_validity(&l);
	lint_keys(&l);
	lint_subject(&l);
	lint_extension_set(&l);
	lint_san(&l);
	lint_key_usage(&l);
	lint_eku(&l);
	lint_policies(&l);
	lint_crldp(&l);
	lint_aia(&l);
	lint_key_ids(&l);
	return findings->len == before;
}

static void
lint_signature(Lint *l, X509 *x)
{
	EVP_PKEY *ca_key = X509_get0_pubkey(l->r->ca_cert);
	const X509_ALGOR *outer = NULL, *inner = X509_get0_tbs_sigalg(x);
	const ASN1_OBJECT *oid = NULL;
	const void *pval = NULL;
	int ptype = 0, nid;

	X509_get0_signature(NULL, &outer, x);
	if (outer == NULL || inner == NULL || X509_ALGOR_cmp(outer, inner) != 0) {
		finding(l, "signatureAlgorithm: differs from the TBS certificate's signature field");
		return;
	}
	X509_ALGOR_get0(&oid, &ptype, &pval, outer);
	nid = OBJ_obj2nid(oid);
	switch (EVP_PKEY_get_base_id(ca_key)) {
	case EVP_PKEY_EC: {
		int bits = EVP_PKEY_get_bits(ca_key);
		int want = bits == 256 ? NID_ecdsa_with_SHA256 : bits == 384 ? NID_ecdsa_with_SHA384 : 0;

		if (want == 0)
			finding(l, "signature: the CA's EC key is neither P-256 nor P-384");
		else if (nid != want || ptype != V_ASN1_UNDEF)
			finding(l, "signatureAlgorithm: %s (parameters %s) is not %s without parameters "
			           "for the CA's P-%d key",
			        OBJ_nid2sn(nid), ptype == V_ASN1_UNDEF ? "absent" : "present",
			        OBJ_nid2sn(want), bits);
		break;
	}
	case EVP_PKEY_RSA:
		if (nid == NID_rsassaPss)
			break;
		if ((nid != NID_sha256WithRSAEncryption && nid != NID_sha384WithRSAEncryption &&
		     nid != NID_sha512WithRSAEncryption) ||
		    ptype != V_ASN1_NULL)
			finding(l, "signatureAlgorithm: %s is not RSA with SHA-256, SHA-384 or SHA-512 "
			           "and NULL parameters",
			        OBJ_nid2sn(nid));
		break;
	default:
		finding(l, "signature: the CA key is neither EC nor RSA");
		return;
	}
	if (X509_verify(x, ca_key) != 1)
		finding(l, "signature: does not verify under the issuing CA's key");
}

gboolean
cg_cert_lint_signed(GBytes *der, const CgCertRequest *r, GPtrArray *findings)
{
	Lint l = {findings, r, NULL};
	guint before = findings->len;
	gsize len;
	const guint8 *data = g_bytes_get_data(der, &len);
	X509 *issued;

	/* What goes out is the DER: lint that, read back, not the object
	 * (the subject key is compared by its encoding, never decoded). */
	if ((issued = cg_x509_read(data, len)) == NULL) {
		finding(&l, "encoding: the signed certificate does not read back from its DER");
		return FALSE;
	}
	l.x = issued;
	lint_signature(&l, issued);
	cg_cert_lint(issued, r, findings);
	X509_free(issued);
	return findings->len == before;
}
