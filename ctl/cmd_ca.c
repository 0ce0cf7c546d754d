/*
 * cmd_ca.c: certgate ca init | ca show | ca gateway-rekey | ca gateway-renew |
 * ca root-crl | ca renew-issuing | ca note-files | crl.
 */
#include "ctl.h"
#include "common.h"
#include "issuer.h"
#include "policy.h"

#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

static gboolean
init_noted_txn(CgTxn *txn, gpointer data, GError **error)
{
	return cg_ca_files_note(txn, data, "ca init", FALSE, ctl_now(), error);
}

int
ctl_ca_init(CtlCtx *ctx, int argc, char **argv)
{
	gboolean root_rsa = FALSE, pkcs11 = FALSE, force = FALSE;
	gint issuing_rsa = 0;
	g_autofree char *issuing_ec = NULL;
	g_autofree char *org = NULL;
	g_autofree char *country = NULL;
	GOptionEntry entries[] = {
	    {"root-rsa", 0, 0, G_OPTION_ARG_NONE, &root_rsa, "RSA 4096 root key (default P-384)",
	     NULL},
	    {"issuing-rsa", 0, 0, G_OPTION_ARG_INT, &issuing_rsa,
	     "RSA issuing key of BITS (4096; default an EC key)", "BITS"},
	    {"issuing-ec", 0, 0, G_OPTION_ARG_STRING, &issuing_ec,
	     "EC issuing key on CURVE (P-256, the default, or P-384)", "CURVE"},
	    {"pkcs11", 0, 0, G_OPTION_ARG_NONE, &pkcs11,
	     "generate the issuing key on the PKCS#11 token named by CAKey", NULL},
	    {"org", 0, 0, G_OPTION_ARG_STRING, &org, "the CA's organisation name", "NAME"},
	    {"country", 0, 0, G_OPTION_ARG_STRING, &country, "the CA's country (ISO 3166)", "CC"},
	    {"force", 0, 0, G_OPTION_ARG_NONE, &force, "replace an existing CA", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(GError) err = NULL;
	CgCaInit o = {0};

	if (!ctl_parse(ctx, "", "Create the root CA, the issuing CA and the gateway certificate.",
	               entries, &argc, &argv))
		return 2;
	/* A new issuing CA: RSA 4096, or P-256 or P-384 (no RSA 3072 any more,
	 * though certificates of 3072-bit keys are still issued and accepted). */
	if (issuing_rsa != 0 && issuing_rsa != 4096)
		return ctl_fail(ctx, 2, "--issuing-rsa takes 4096: a new issuing CA's RSA key is "
		                        "4096 bits (or use --issuing-ec P-256 or P-384)");
	if (issuing_ec != NULL && strcmp(issuing_ec, "P-256") != 0 && strcmp(issuing_ec, "P-384") != 0)
		return ctl_fail(ctx, 2, "--issuing-ec takes P-256 or P-384");
	if (issuing_ec != NULL && issuing_rsa != 0)
		return ctl_fail(ctx, 2, "--issuing-rsa and --issuing-ec exclude each other");
	if (country != NULL && !cg_policy_country_valid(country))
		return ctl_fail(ctx, 2, "--country %s is not an ISO 3166 code", country);
	if (org != NULL && !cg_text_is_clean(org, -1, 64))
		return ctl_fail(ctx, 2, "--org must be clean text of at most 64 bytes");
	o.root_rsa = root_rsa;
	o.issuing_rsa_bits = issuing_rsa;
	o.issuing_curve = issuing_ec;
	o.pkcs11 = pkcs11;
	o.org = org ? org : "certgate";
	o.country = country;
	o.force = force;
	o.issuer_user = ctx->conf->issuer_user_id;
	o.now = g_get_real_time() / G_USEC_PER_SEC;
	if (!cg_ca_init(ctx->conf, &o, out, &err))
		return ctl_fail(ctx, 1, "%s", err->message);
	fputs(out->str, stdout);
	/* The files' notes, by which the CA's other hosts see that they need
	 * copies of them. */
	return ctl_transact(ctx, init_noted_txn, ctx->conf, NULL) != 0 ? 1 : 0;
}

static void
show_cert(GString *out, const char *what, X509 *x)
{
	char *subj = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
	char *iss = X509_NAME_oneline(X509_get_issuer_name(x), NULL, 0);
	g_autofree char *key = cg_policy_key_desc(X509_get0_pubkey(x));
	unsigned char md[32];
	unsigned int n = 0;
	g_autofree char *fp = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long len;

	X509_digest(x, EVP_sha256(), md, &n);
	fp = cg_hex(md, n);
	ASN1_TIME_print(b, X509_get0_notBefore(x));
	BIO_puts(b, " to ");
	ASN1_TIME_print(b, X509_get0_notAfter(x));
	len = BIO_get_mem_data(b, &p);
	g_string_append_printf(out,
	                       "%s\n  subject  %s\n  issuer   %s\n  valid    %.*s\n  key      %s\n"
	                       "  sha256   %s\n",
	                       what, subj, iss, (int)len, p, key, fp);
	BIO_free(b);
	OPENSSL_free(subj);
	OPENSSL_free(iss);
}

/* One audit entry of the CA's own files by the operator, and the notes of
 * the files (action "ca.renew-issuing": noted as by "ca renew-issuing"). */
typedef struct {
	const char *action, *subject, *detail;
	const CgConf *conf;
} CaAudit;

static gboolean
audit_txn(CgTxn *txn, gpointer data, GError **error)
{
	const CaAudit *a = data;
	g_autofree char *actor = ctl_actor();
	g_autofree char *verb = g_strdelimit(g_strdup(a->action), ".", ' ');

	return cg_store_audit_append(txn, ctl_now(), actor, a->action, a->subject, a->detail,
	                             error) &&
	       cg_ca_files_note(txn, a->conf, verb, FALSE, ctl_now(), error);
}

int
ctl_ca_show(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgCa) ca = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	STACK_OF(X509) * chain;
	int i;

	if (!ctl_parse(ctx, "", "Print the CA chain, the gateway certificate and where the key is.",
	               NULL, &argc, &argv))
		return 2;
	if ((ca = cg_ca_load(ctx->conf, &err)) == NULL)
		return ctl_fail(ctx, 1, "%s", err->message);
	chain = cg_ca_chain(ca);
	for (i = sk_X509_num(chain) - 1; i >= 0; i--)
		show_cert(out, i == sk_X509_num(chain) - 1 && i > 0 ? "root CA" : "issuing CA",
		          sk_X509_value(chain, i));
	show_cert(out, "gateway (mail signing)", cg_ca_gateway_cert(ca));
	if (cg_ca_gateway_enc_cert(ca) != NULL)
		show_cert(out, "gateway (encryption)", cg_ca_gateway_enc_cert(ca));
	g_string_append_printf(out,
	                       "issuing CA key: %s\ncertificate:    %s\nchain:          %s\n"
	                       "CRL:            %s (%s)\n",
	                       cg_ca_key_location(ca), ctx->conf->ca_certificate,
	                       ctx->conf->ca_chain, ctx->conf->crl_path, ctx->conf->crl_url);
	{
		g_autofree char *path = cg_ca_root_crl_path(ctx->conf);
		gint64 next = cg_ca_root_crl_next(ctx->conf);
		g_autofree char *until = next > 0 ? cg_time_iso(next) : NULL;

		g_string_append_printf(out, "root CRL:       %s (%s%s)\n", path,
		                       next > 0   ? "next update "
		                       : next < 0 ? "unreadable"
		                                  : "none",
		                       until ? until : "");
	}
	fputs(out->str, stdout);
	return 0;
}

int
ctl_ca_gateway_rekey(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgCa) ca = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	g_autofree char *detail = NULL;
	CgStore *s;

	if (!ctl_parse(ctx, "",
	               "A new gateway encryption certificate and key; the milter keeps decrypting "
	               "with the previous one for GatewayEncryptionOverlap.",
	               NULL, &argc, &argv))
		return 2;
	if ((ca = cg_ca_load(ctx->conf, &err)) == NULL)
		return ctl_fail(ctx, 1, "%s", err->message);
	if (!cg_ca_gateway_rekey(ctx->conf, ca, ctx->now, out, &err))
		return ctl_fail(ctx, 1, "%s", err->message);
	fputs(out->str, stdout);
	if ((s = ctl_store_writable(ctx)) == NULL)
		return 1;
	detail = g_strdup_printf("new gateway encryption certificate %s; the previous one "
	                         "decrypts for GatewayEncryptionOverlap",
	                         ctx->conf->gateway_enc_certificate);
	{
		CaAudit a = {"ca.gateway-rekey", "gateway-enc", detail, ctx->conf};

		if (ctl_transact(ctx, audit_txn, &a, NULL) != 0)
			return 1;
	}
	return 0;
}

/* What a ca verb did (out), printed and audited as action on subject, the
 * first line the entry's detail. -> the command's exit status. */
static int
told_and_audited(CtlCtx *ctx, const GString *out, const char *action, const char *subject)
{
	g_auto(GStrv) lines = g_strsplit(out->str, "\n", 2);
	CaAudit a = {action, subject, lines[0], ctx->conf};

	fputs(out->str, stdout);
	return ctl_transact(ctx, audit_txn, &a, NULL) != 0 ? 1 : 0;
}

/* The start of a ca verb without options that writes the CA's files: its
 * usage, the database writable here (the master), the CA material loaded.
 * NULL (and *rc, the exit status) on failure. */
static CgCa *
ca_verb_start(CtlCtx *ctx, const char *summary, int *argc, char ***argv, int *rc)
{
	g_autoptr(GError) err = NULL;
	CgCa *ca;

	*rc = 1;
	if (!ctl_parse(ctx, "", summary, NULL, argc, argv)) {
		*rc = 2;
		return NULL;
	}
	if (ctl_store_writable(ctx) == NULL)
		return NULL;
	if ((ca = cg_ca_load(ctx->conf, &err)) == NULL)
		*rc = ctl_fail(ctx, 1, "%s", err->message);
	return ca;
}

/* Only files the issuer would start on are noted. */
int
ctl_ca_note_files(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(CgCa) ca = NULL;
	g_autoptr(GString) out = g_string_new("this host's CA files noted as the current ones: "
	                                      "copy them to the CA's other hosts\n");
	int rc;

	ca =
	    ca_verb_start(ctx,
	                  "Note this host's CA files (the issuing CA's certificate, the chain, the "
	                  "gateway's certificates, the root CRL) as the current ones, after they "
	                  "were put in place by other means than a ca verb: the CA's other hosts "
	                  "are then told to copy them.",
	                  &argc, &argv, &rc);
	return ca == NULL ? rc : told_and_audited(ctx, out, "ca.note-files", "ca-files");
}

int
ctl_ca_gateway_renew(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgCa) ca = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	int rc;

	ca =
	    ca_verb_start(ctx,
	                  "A new mail-signing key and certificate for the gateway (SenderAddress), "
	                  "signed with the issuing CA key.",
	                  &argc, &argv, &rc);
	if (ca == NULL)
		return rc;
	if (!cg_ca_gateway_renew(ctx->conf, ca, g_get_real_time() / G_USEC_PER_SEC, out, &err))
		return ctl_fail(ctx, 1, "%s", err->message);
	return told_and_audited(ctx, out, "ca.gateway-renew", "gateway");
}

/* The root's work (caroot.c), with its key named by --root-key: the root
 * CRL, or the issuing CA's certificate made again. Audited; the first line
 * of what it did is the entry's detail. */
static int
root_work(CtlCtx *ctx, int argc, char **argv, gboolean renew)
{
	g_autofree char *root_key = NULL;
	gint days = 3650;
	GOptionEntry crl_entries[] = {{"root-key", 0, 0, G_OPTION_ARG_FILENAME, &root_key,
	                               "the root CA's key (PEM; kept offline)", "FILE"},
	                              {NULL, 0, 0, 0, NULL, NULL, NULL}};
	GOptionEntry renew_entries[] = {
	    {"root-key", 0, 0, G_OPTION_ARG_FILENAME, &root_key,
	     "the root CA's key (PEM; kept offline)", "FILE"},
	    {"days", 0, 0, G_OPTION_ARG_INT, &days,
	     "valid for DAYS from now (default 3650), to the root's end at the most", "DAYS"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(GError) err = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	gboolean ok;

	if (!ctl_parse(ctx, "",
	               renew ? "Make the issuing CA's certificate again, for the same key, with "
	                       "the root's key."
	                     : "Make the root CRL again with the root's key (at least every twelve "
	                       "months).",
	               renew ? renew_entries : crl_entries, &argc, &argv))
		return 2;
	if (root_key == NULL)
		return ctl_fail(ctx, 2, "--root-key FILE is required");
	if (ctl_store_writable(ctx) == NULL)
		return 1;
	/* --days is checked by cg_ca_renew_issuing (a usage error: exit 2). */
	ok = renew ? cg_ca_renew_issuing(ctx->conf, root_key, (guint)MAX(days, 0), now, out, &err)
	           : cg_ca_root_crl(ctx->conf, root_key, now, out, &err);
	if (!ok)
		return ctl_fail(ctx, g_error_matches(err, CG_ERROR, CG_ERROR_USAGE) ? 2 : 1, "%s",
		                err->message);
	return renew ? told_and_audited(ctx, out, "ca.renew-issuing", "issuing-ca")
	             : told_and_audited(ctx, out, "ca.root-crl", "root-ca");
}

int
ctl_ca_root_crl(CtlCtx *ctx, int argc, char **argv)
{
	return root_work(ctx, argc, argv, FALSE);
}

int
ctl_ca_renew_issuing(CtlCtx *ctx, int argc, char **argv)
{
	return root_work(ctx, argc, argv, TRUE);
}

int
ctl_crl(CtlCtx *ctx, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgCa) ca = NULL;
	guint64 number = 0;
	CgStore *s;

	if (!ctl_parse(ctx, "", "Write a new CRL now (the issuer also does, every CrlInterval).",
	               NULL, &argc, &argv))
		return 2;
	if ((s = ctl_store_writable(ctx)) == NULL)
		return 1;
	if ((ca = cg_ca_load(ctx->conf, &err)) == NULL)
		return ctl_fail(ctx, 1, "%s", err->message);
	if (!cg_crl_write(ca, s, ctx->conf, g_get_real_time() / G_USEC_PER_SEC, &number, &err))
		return ctl_fail(ctx, 1, "%s", err->message);
	printf("CRL %" G_GUINT64_FORMAT " written to %s\n", number, ctx->conf->crl_path);
	return 0;
}
