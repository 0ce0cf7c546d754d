/*
 * invite.c: invitations (DESIGN.md 5.3). A CSV row without a CSR invites its
 * mailbox to answer with one; the answer (a challenge reply, checked by the
 * milter) becomes the item. An unanswered invitation settles as refused.
 * Never: issues anything itself (the answer queues an issue job).
 */
#include "issuer-int.h"

#include <string.h>

/* "R#i": invites the mailbox of a CSV row without a CSR to answer with one;
 * "R#i|expire|T" (deferred to T, the invitation's expiry): an unanswered
 * invitation settles as refused. Run early (certgate queue flush), it waits
 * again until T. */
gboolean
cg_issuer_run_invite(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
           GError **error)
{
	g_auto(GStrv) f = g_strsplit(job->id, "|", 3);
	g_auto(GStrv) ri = g_strsplit(f[0], "#", 2);
	g_autoptr(CgItem) it = NULL;
	g_autoptr(CgRequest) req = NULL;
	g_autoptr(CgOrg) org = NULL;
	g_autofree char *token = NULL, *text = NULL, *until = NULL, *detail = NULL, *later = NULL;
	g_autofree char *shown = NULL;
	gint64 lifetime = iss->conf->invite_lifetime;
	gboolean sent = FALSE;
	CgChallenge c = {0};
	CgJob expire = {0};

	if (ri[1] == NULL)
		return cg_job_malformed(job, error);
	if ((it = cg_store_item_get(iss->store, txn, ri[0],
	                            (guint32)g_ascii_strtoull(ri[1], NULL, 10), error)) == NULL)
		return FALSE;
	if (it->status != CG_ITEM_INVITED)
		return TRUE; /* answered (or settled) already */
	if (f[1] != NULL) {
		gint64 at = f[2] ? g_ascii_strtoll(f[2], NULL, 10) : 0;

		if (now < at)
			return cg_store_job_defer(txn, job, at, error);
		return cg_item_refuse(iss, txn, it, "the invitation was not answered in time",
		                      "invite.expire", now, error);
	}
	if ((req = cg_store_request_get(iss->store, txn, ri[0], error)) == NULL ||
	    (org = cg_store_org_get(iss->store, txn, req->org_id, error)) == NULL)
		return FALSE;
	if ((token = cg_issuer_new_token(error)) == NULL)
		return FALSE;
	until = cg_time_iso(now + lifetime);
	shown = cg_addr_to_unicode(it->mailbox);
	text = g_strdup_printf(
	    "Hello,\n\n%s, an admin of %s, has asked the certificate authority at\n%s for an "
	    "S/MIME certificate for your address %s.\n\n"
	    "To get it, make a certificate signing request (CSR) for this address, on\n"
	    "your smartcard or with your mail program, and reply to this mail with the\n"
	    "CSR attached (or pasted), keeping the subject line as it is:\n\n"
	    "    ACME: %s\n\n"
	    "Your private key never leaves you. This invitation is valid until %s.\n"
	    "If you did not expect it, do not reply.\n\n-- \ncertgate at %s\n",
	    req->requester, org->name, iss->conf->gateway_domain, shown, token, until,
	    iss->conf->gateway_domain);
	c.kind = CG_CHALLENGE_INVITE;
	c.target = f[0];
	c.address = it->mailbox;
	c.org_id = org->id;
	c.request_id = req->id;
	c.item = it->index;
	c.expires = now + lifetime;
	if (!cg_issuer_mail_token(iss, txn, &c, token, text, f[0], now, &sent, temporary, error))
		return FALSE;
	later = g_strdup_printf("%s|expire|%" G_GINT64_FORMAT, f[0], c.expires + 1);
	expire.kind = CG_JOB_INVITE;
	g_strlcpy(expire.id, later, sizeof(expire.id));
	if (!sent) {
		/* Refused for good by the MTA: the row settles as refused now. */
		return cg_item_refuse(iss, txn, it, "the invitation could not be delivered",
		                      "invite.undeliverable", now, error);
	}
	detail =
	    g_strdup_printf("invitation to %s for %s, valid until %s", it->mailbox, f[0], until);
	return cg_store_job_defer(txn, &expire, c.expires + 1, error) &&
	       cg_store_audit_append(txn, now, "issuer", "challenge.sent", f[0], detail, error);
}
