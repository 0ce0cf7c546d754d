/*
 * cmd_cert.c: certgate cert issue|list|show|revoke.
 *
 * cert issue goes through the same queue and re-checks as mail: the request
 * is stored and an issue job queued; the issuer signs. --wait waits for the
 * outcome and prints the serial (or why it was refused).
 */
#include "ctl.h"
#include "common.h"
#include "policy.h"
#include "issuer.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static gboolean
fields_ok(const char *f)
{
	g_auto(GStrv) v = g_strsplit_set(f, ", ", -1);
	char **p;

	for (p = v; *p; p++)
		if (**p && g_ascii_strcasecmp(*p, "E") != 0 && g_ascii_strcasecmp(*p, "L") != 0 &&
		    g_ascii_strcasecmp(*p, "ST") != 0)
			return FALSE;
	return TRUE;
}

/* Waits for item 1 of request id to settle; prints the outcome. */
static int
wait_for(CtlCtx *ctx, CgStore *s, const char *id, int seconds)
{
	gint64 until = g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;

	while (g_get_monotonic_time() < until) {
		g_autoptr(GError) err = NULL;
		g_autoptr(CgItem) it = cg_store_item_get(s, NULL, id, 1, &err);

		if (it != NULL && it->status == CG_ITEM_ISSUED) {
			printf("%s\n", it->serial);
			return 0;
		}
		if (it != NULL && it->status == CG_ITEM_REJECTED)
			return ctl_fail(ctx, 1, "request %s refused: %s", id, it->reason);
		g_usleep(50000);
	}
	return ctl_fail(ctx, 1,
	                "request %s: no answer from certgate-issuer within %d s (is it "
	                "running?)",
	                id, seconds);
}

int
ctl_cert_issue(CtlCtx *ctx, int argc, char **argv)
{
	g_autofree char *org = NULL;
	g_autofree char *mailbox = NULL;
	g_autofree char *csr_path = NULL;
	g_autofree char *profile = NULL;
	g_autofree char *given = NULL;
	g_autofree char *surname = NULL;
	g_autofree char *fields = NULL;
	gint validity = 0, timeout = 60;
	gboolean wait = FALSE;
	GOptionEntry entries[] = {
	    {"org", 0, 0, G_OPTION_ARG_STRING, &org, "the organisation", "ID"},
	    {"mailbox", 0, 0, G_OPTION_ARG_STRING, &mailbox, "the mailbox", "ADDR"},
	    {"csr", 0, 0, G_OPTION_ARG_FILENAME, &csr_path, "PKCS#10 request, PEM or DER", "FILE"},
	    {"profile", 0, 0, G_OPTION_ARG_STRING, &profile, "organization (default) or sponsor",
	     "P"},
	    {"given-name", 0, 0, G_OPTION_ARG_STRING, &given, "sponsor profile: first name", "G"},
	    {"surname", 0, 0, G_OPTION_ARG_STRING, &surname, "sponsor profile: last name", "S"},
	    {"validity", 0, 0, G_OPTION_ARG_INT, &validity, "days (default DefaultValidity)",
	     "DAYS"},
	    {"fields", 0, 0, G_OPTION_ARG_STRING, &fields, "optional subject fields: E,L,ST",
	     "LIST"},
	    {"wait", 0, 0, G_OPTION_ARG_NONE, &wait, "wait for the issuer; print the serial", NULL},
	    {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "seconds to wait (default 60)", "S"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GError) err = NULL;
	g_autofree char *data = NULL, *addr = NULL, *id = NULL;
	g_autoptr(GBytes) csr = NULL;
	CgOperatorIssue op = {0};
	gsize len;
	CgStore *s;

	if (!ctl_parse(ctx, "", "Issue a certificate through the same queue and checks as mail.",
	               entries, &argc, &argv))
		return 2;
	if (org == NULL || mailbox == NULL || csr_path == NULL)
		return ctl_fail(ctx, 2, "--org, --mailbox and --csr are needed");
	if ((addr = cg_addr_normalise(mailbox, &err)) == NULL)
		return ctl_fail(ctx, 2, "--mailbox: %s", err->message);
	op.profile = CG_PROFILE_ORGANIZATION;
	if (profile != NULL && !cg_profile_parse(profile, &op.profile))
		return ctl_fail(ctx, 2, "--profile is organization or sponsor");
	if (validity < 0 || validity > 825)
		return ctl_fail(ctx, 2, "--validity is 1 to 825 days");
	if (fields != NULL && !fields_ok(fields))
		return ctl_fail(ctx, 2, "--fields takes E, L and ST");
	if ((given && !cg_text_is_clean(given, -1, 64)) ||
	    (surname && !cg_text_is_clean(surname, -1, 64)))
		return ctl_fail(ctx, 2, "names must be clean text of at most 64 bytes");
	if (!g_file_get_contents(csr_path, &data, &len, &err))
		return ctl_fail(ctx, 2, "%s", err->message);
	if ((s = ctl_store_writable(ctx)) == NULL)
		return 1;
	csr = g_bytes_new(data, len);
	op.org_id = org;
	op.mailbox = addr;
	op.csr = csr;
	op.given_name = given;
	op.surname = surname;
	op.validity_days = (guint)validity;
	op.fields = fields;
	op.actor = ctx->actor;
	id = cg_issuer_queue_operator(s, ctx->conf, &op, ctx->now, &err);
	if (id == NULL)
		return ctl_fail(ctx, 1, "%s", err->message);
	if (wait)
		return wait_for(ctx, s, id, timeout);
	printf("request %s queued\n", id);
	return 0;
}

typedef struct {
	CtlCtx *ctx;
	GString *out;
	guint n;
	const char *org;
} CertList;

/* A certificate's record as a JSON object, the same in list and show. */
static void
cert_json(GString *out, const CgCert *c, gint64 now)
{
	g_autofree char *nb = cg_time_iso(c->not_before), *na = cg_time_iso(c->not_after);
	gint64 left = c->not_after > now ? (c->not_after - now) / 86400 : 0;

	g_string_append(out, "{\"serial\":");
	ctl_json_str(out, c->serial);
	g_string_append(out, ",\"mailbox\":");
	ctl_json_str(out, c->mailbox);
	g_string_append(out, ",\"org\":");
	ctl_json_str(out, c->org_id);
	g_string_append(out, ",\"status\":");
	ctl_json_str(out, cg_cert_state_name(c, now));
	g_string_append(out, ",\"notBefore\":");
	ctl_json_str(out, nb);
	g_string_append(out, ",\"notAfter\":");
	ctl_json_str(out, na);
	g_string_append_printf(out, ",\"daysLeft\":%" G_GINT64_FORMAT, left);
	g_string_append(out, ",\"profile\":");
	ctl_json_str(out, c->profile);
	g_string_append(out, ",\"request\":");
	ctl_json_str(out, c->request_id);
	g_string_append(out, ",\"renewedBy\":");
	ctl_json_str(out, c->renewed_by ? c->renewed_by : "");
	if (c->status == CG_CERT_REVOKED) {
		g_autofree char *at = cg_time_iso(c->revoked_at);

		g_string_append(out, ",\"revokedAt\":");
		ctl_json_str(out, at);
		g_string_append(out, ",\"reason\":");
		ctl_json_str(out, cg_crl_reason_name(c->reason));
	}
	g_string_append(out, "}");
}

static gboolean
list_cert(gconstpointer rec, gpointer data)
{
	const CgCert *c = rec;
	CertList *l = data;
	g_autofree char *na = cg_time_iso(c->not_after);
	const char *st = c->status == CG_CERT_REVOKED ? "revoked" : "valid";

	if (l->org != NULL && strcmp(c->org_id, l->org) != 0)
		return TRUE;
	if (l->ctx->json) {
		g_string_append(l->out, l->n == 0 ? "[\n" : ",\n");
		cert_json(l->out, c, ctl_now());
	} else {
		g_string_append_printf(l->out, "%-32s %-8s %-6s %-21s %s\n", c->serial, st,
		                       c->org_id, na, c->mailbox);
	}
	l->n++;
	return TRUE;
}

int
ctl_cert_list(CtlCtx *ctx, int argc, char **argv)
{
	g_autofree char *org = NULL;
	g_autofree char *mailbox = NULL;
	GOptionEntry entries[] = {
	    {"org", 0, 0, G_OPTION_ARG_STRING, &org, "only this organisation", "ID"},
	    {"mailbox", 0, 0, G_OPTION_ARG_STRING, &mailbox, "only this mailbox", "ADDR"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	CertList l = {ctx, out, 0, NULL};
	g_autofree char *addr = NULL;
	gboolean ok;
	gsize head;
	int tries = 0;
	CgStore *s;

	if (!ctl_parse(ctx, "", "List certificates.", entries, &argc, &argv))
		return 2;
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	if (!ctx->json)
		g_string_append_printf(out, "%-32s %-8s %-6s %-21s %s\n", "SERIAL", "STATUS", "ORG",
		                       "NOT AFTER", "MAILBOX");
	if (mailbox != NULL && (addr = cg_addr_normalise(mailbox, &err)) == NULL)
		return ctl_fail(ctx, 2, "--mailbox: %s", err->message);
	l.org = addr != NULL ? org : NULL;
	head = out->len;
	for (;;) {
		if (addr != NULL)
			ok = cg_store_foreach_by(s, NULL, CG_INDEX_CERT_BY_MAILBOX, addr, list_cert,
			                         &l, &err);
		else if (org != NULL)
			ok = cg_store_foreach_by(s, NULL, CG_INDEX_CERT_BY_ORG, org, list_cert, &l,
			                         &err);
		else
			ok = cg_store_foreach(s, NULL, CG_REC_CERT, list_cert, &l, &err);
		if (ok)
			break;
		if (!ctl_list_again(&err, &tries))
			return ctl_fail(ctx, 1, "%s", err->message);
		g_string_truncate(out, head);
		l.n = 0;
	}
	if (ctx->json)
		g_string_append(out, l.n == 0 ? "[]\n" : "\n]\n");
	fputs(out->str, stdout);
	return 0;
}

int
ctl_cert_show(CtlCtx *ctx, int argc, char **argv)
{
	gboolean pem = FALSE, der = FALSE;
	GOptionEntry entries[] = {
	    {"pem", 0, 0, G_OPTION_ARG_NONE, &pem, "print the certificate as PEM", NULL},
	    {"der", 0, 0, G_OPTION_ARG_NONE, &der, "write the certificate as DER", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GError) err = NULL;
	g_autoptr(CgCert) c = NULL;
	g_autofree char *serial = NULL;
	const unsigned char *p;
	gsize len;
	X509 *x;
	CgStore *s;

	if (!ctl_parse(ctx, "SERIAL", "Show a certificate.", entries, &argc, &argv))
		return 2;
	if (argc != 2)
		return ctl_fail(ctx, 2, "needs one argument: the serial (hex)");
	serial = g_ascii_strdown(argv[1], -1);
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	if ((c = cg_store_cert_get(s, NULL, serial, &err)) == NULL)
		return ctl_fail(ctx, 1, "no certificate %s", serial);
	p = g_bytes_get_data(c->der, &len);
	if (der) {
		fwrite(p, 1, len, stdout);
		return 0;
	}
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL)
		return ctl_fail(ctx, 1, "certificate %s does not decode", serial);
	if (pem) {
		PEM_write_X509(stdout, x);
	} else if (ctx->json) {
		g_autoptr(GString) out = g_string_new(NULL);

		cert_json(out, c, ctl_now());
		printf("%s\n", out->str);
	} else {
		g_autofree char *rev = c->revoked_at ? cg_time_iso(c->revoked_at) : NULL;

		printf("serial      %s\nmailbox     %s\norganisation %s\nrequest     %s#%u\n"
		       "profile     %s\nstatus      %s%s%s%s%s\n",
		       c->serial, c->mailbox, c->org_id, c->request_id, c->item, c->profile,
		       c->status == CG_CERT_REVOKED ? "revoked" : "valid", rev ? " at " : "",
		       rev ? rev : "", rev ? ", " : "", rev ? cg_crl_reason_name(c->reason) : "");
		if (c->renewed_by != NULL && *c->renewed_by)
			printf("renewed by  %s\n", c->renewed_by);
		X509_print_fp(stdout, x);
	}
	X509_free(x);
	return 0;
}

typedef struct {
	const char *serial;
	int reason;
	const char *actor;
	gint64 now;
} Revoke;

static gboolean
revoke_txn(CgTxn *txn, gpointer data, GError **error)
{
	Revoke *r = data;

	return cg_store_cert_revoke(txn, r->serial, r->reason, cg_crl_reason_name(r->reason),
	                            r->actor, r->now, error);
}

int
ctl_cert_revoke(CtlCtx *ctx, int argc, char **argv)
{
	g_autofree char *reason = NULL;
	GOptionEntry entries[] = {
	    {"reason", 0, 0, G_OPTION_ARG_STRING, &reason,
	     "keyCompromise, superseded, affiliationChanged, cessationOfOperation or "
	     "privilegeWithdrawn",
	     "R"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autofree char *serial = NULL;
	Revoke r = {0};

	if (!ctl_parse(ctx, "SERIAL", "Revoke a certificate; the issuer rewrites the CRL.", entries,
	               &argc, &argv))
		return 2;
	if (argc != 2 || reason == NULL)
		return ctl_fail(ctx, 2, "needs SERIAL and --reason R");
	if ((r.reason = cg_crl_reason_parse(reason)) < 0)
		return ctl_fail(ctx, 2, "--reason %s is not one the Baseline Requirements allow",
		                reason);
	serial = g_ascii_strdown(argv[1], -1);
	r.serial = serial;
	r.actor = ctx->actor;
	r.now = ctx->now;
	if (ctl_transact(ctx, revoke_txn, &r, "no such certificate") != 0)
		return 1;
	printf("%s revoked (%s); the CRL is being rewritten\n", serial,
	       cg_crl_reason_name(r.reason));
	return 0;
}
