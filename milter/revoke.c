/*
 * revoke.c: revocation by mail (DESIGN.md 5.5), the handler of RevokeAddress.
 *
 * The mail is S/MIME-signed (AdminTrustAnchors, which may hold certgate's
 * own root) either by an active admin of the certificate's organisation, or
 * with the certificate's own key (the signer certificate is the one to
 * revoke). Its signed text holds "Serial: <hex>" and "Reason: <name>" (a
 * reason the S/MIME BR allow). The revocation, the CRL job, the audit entry
 * and a reply to the sender are one transaction. A keyCompromise revocation
 * blocks the key for good (the issuer's key policy refuses it).
 */
#include "milter.h"
#include "common.h"
#include "policy.h"

#include <string.h>

typedef struct {
	char *serial;
	int reason;
	char *how; /* "by admin X" or "with its own key" */
	CgSmimeResult sig;
} State;

static void
state_free(gpointer p)
{
	State *st = p;

	cg_smime_result_clear(&st->sig);
	g_free(st->serial);
	g_free(st->how);
	g_free(st);
}

/* "Serial:" and "Reason:" lines, blank lines, and a "-- " signature end. */
static gboolean
parse(State *st, const char *text, GError **error)
{
	g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
	const char *reason = NULL;
	guint i;

	for (i = 0; lines[i] != NULL; i++) {
		char *l = lines[i], *colon, *v;

		g_strchomp(l);
		if (strcmp(l, "--") == 0 || strcmp(lines[i], "-- ") == 0)
			break;
		g_strstrip(l);
		if (*l == '\0')
			continue;
		if ((colon = strchr(l, ':')) == NULL) {
			g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
			            "line %u: not a \"Key: value\" line", i + 1);
			return FALSE;
		}
		*colon = '\0';
		v = g_strstrip(colon + 1);
		if (g_ascii_strcasecmp(g_strstrip(l), "Serial") == 0 && st->serial == NULL) {
			st->serial = g_ascii_strdown(v, -1);
			if (strlen(st->serial) != 32 ||
			    strspn(st->serial, "0123456789abcdef") != 32) {
				g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
				            "line %u: Serial must be the 32 hex digits of the "
				            "serial number",
				            i + 1);
				return FALSE;
			}
		} else if (g_ascii_strcasecmp(l, "Reason") == 0 && reason == NULL) {
			reason = v;
			if ((st->reason = cg_crl_reason_parse(v)) < 0) {
				g_set_error(
				    error, CG_ERROR, CG_ERROR_MALFORMED,
				    "line %u: Reason must be keyCompromise, affiliationChanged, "
				    "superseded, cessationOfOperation or privilegeWithdrawn",
				    i + 1);
				return FALSE;
			}
		} else {
			g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
			            "line %u: unknown or repeated key %s", i + 1, l);
			return FALSE;
		}
	}
	if (st->serial == NULL || reason == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "a revocation needs a Serial: line and a Reason: line");
		return FALSE;
	}
	return TRUE;
}

static gboolean
revoke_check(CgGateway *g, GError **error)
{
	const CgMail *mail = g->mail;
	g_autoptr(GError) err = NULL;
	g_autoptr(CgCert) c = NULL;
	g_autoptr(CgAdmin) admin = NULL;
	CgMailBody body = {0};
	State *st = g_new0(State, 1);
	gboolean ok;

	g->state = st;
	if (!cg_gateway_signed_body(g, g->conf->admin_trust_anchors, &st->sig, &body, error))
		return FALSE;
	ok = parse(st, body.text, error);
	cg_mail_body_clear(&body);
	if (!ok)
		return FALSE;
	if ((c = cg_store_cert_get(g->store, NULL, st->serial, &err)) == NULL) {
		if (!cg_error_absent(&err, error))
			return FALSE;
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "no certificate with serial %s was issued here", st->serial);
		return FALSE;
	}
	if (g_bytes_equal(st->sig.signer, c->der)) {
		st->how = g_strdup("with its own key");
		return TRUE;
	}
	admin = cg_store_admin_get(g->store, NULL, mail->from, NULL);
	if (admin == NULL || admin->status != CG_ADMIN_ACTIVE ||
	    strcmp(admin->org_id, c->org_id) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "%s may not revoke %s: sign with that certificate's own key, or be an "
		            "active admin of its organisation",
		            mail->from, st->serial);
		return FALSE;
	}
	st->how = g_strdup_printf("by admin %s", mail->from);
	return TRUE;
}

static gboolean
revoke_apply(CgGateway *g, CgTxn *txn, GError **error)
{
	State *st = g->state;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autofree char *job = g_strdup_printf("revoked|%s|%s", st->serial, g->mail->from);
	g_autoptr(GError) err = NULL;

	if (!cg_store_cert_revoke(txn, st->serial, st->reason, cg_crl_reason_name(st->reason),
	                          g->mail->from, now, &err)) {
		if (g_error_matches(err, CG_ERROR, CG_ERROR_EXISTS))
			g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED, "%s", err->message);
		else
			g_propagate_error(error, g_steal_pointer(&err));
		return FALSE;
	}
	if (!cg_store_job_append(txn, CG_JOB_NOTIFY, job, error))
		return FALSE;
	g->request_id = g_strdup_printf("revoke:%s", st->serial);
	g->summary = g_strdup_printf("%s revoked (%s) %s", st->serial,
	                             cg_crl_reason_name(st->reason), st->how);
	return TRUE;
}

const CgHandler cg_revoke_handler = {CG_GW_REVOKE, "revoke",     "revocation",
                                     revoke_check, revoke_apply, state_free};
