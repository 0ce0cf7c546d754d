/*
 * remind.c: the certificate's life after issue: expiry reminders and the
 * bookkeeping of renewals.
 *
 *   remind  "SERIAL|SECONDS": the reminder that many seconds before the
 *           certificate's not-after (ExpiryReminders), to the admin who
 *           enrolled it (and the subject with DeliverToSubject, or for a
 *           certificate the operator issued): an RFC 8823-shaped mail whose
 *           answer with a CSR renews the certificate (milter/challenge.c).
 *
 * One job waits per certificate: issuing schedules the first stage still
 * ahead, and each stage's job, when it has run, schedules the next (the
 * largest stage of ExpiryReminders below it). Four jobs a certificate at
 * issue cost a tenth of the issuer's work a certificate, and made the
 * queue of a large CA four times its size; a chain also follows a change
 * of ExpiryReminders for the stages still to come.
 * Each stage is mailed once per certificate: the job is consumed in the
 * transaction that sends it, and the certificate records the last stage
 * mailed, so a second job for a stage (a backfill run twice) mails nothing
 * and schedules nothing. A revoked, renewed or expired certificate gets
 * none (its chain ends); when a later stage is due as well (the issuer was
 * down), only the last due is mailed.
 * Never: reminds of a certificate that cannot be renewed by answering.
 */
#include "issuer-int.h"
#include "daemon.h"

#include <string.h>
#include <syslog.h>

#define ANSWER_LIFETIME (30 * 86400)
#define BACKFILL_BATCH  200

static char *
stage_name(gint64 seconds)
{
	if (seconds % 86400 == 0)
		return g_strdup_printf("%" G_GINT64_FORMAT "d", seconds / 86400);
	return g_strdup_printf("%" G_GINT64_FORMAT "h", seconds / 3600);
}

static gboolean
schedule(CgTxn *txn, const char *serial, gint64 stage, gint64 not_after, GError **error)
{
	g_autofree char *id = g_strdup_printf("%s|%" G_GINT64_FORMAT, serial, stage);

	return stage == 0 ||
	       cg_store_job_schedule(txn, CG_JOB_REMIND, id, not_after - stage, error);
}

gboolean
cg_issuer_schedule_reminders(CgIssuer *iss, CgTxn *txn, const char *serial, gint64 not_after,
                             gint64 now, GError **error)
{
	return schedule(txn, serial, cg_conf_reminder_next(iss->conf, G_MAXINT64, not_after, now),
	                not_after, error);
}

gboolean
cg_issuer_mark_renewed(CgIssuer *iss, CgTxn *txn, const char *renews, const char *org_id,
                       const char *mailbox, const char *serial, GError **error)
{
	g_auto(GStrv) old = g_strsplit_set(renews ? renews : "", ", ", -1);
	char **p;

	for (p = old; *p != NULL; p++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(CgCert) c = NULL;

		if (**p == '\0')
			continue;
		if ((c = cg_store_cert_get(iss->store, txn, *p, &err)) == NULL) {
			if (!cg_error_absent(&err, error))
				return FALSE;
			continue;
		}
		/* Only the organisation's own unrevoked certificate of this very
		 * mailbox. */
		if (!cg_addr_equal(c->mailbox, mailbox) || strcmp(c->org_id, org_id) != 0 ||
		    c->status != CG_CERT_VALID || *c->renewed_by != '\0')
			continue;
		g_free(c->renewed_by);
		c->renewed_by = g_strdup(serial);
		if (!cg_store_cert_update(txn, c, error))
			return FALSE;
	}
	return TRUE;
}

/* Who gets the reminder: the enrolling admin while still an active admin
 * of the organisation; the subject with DeliverToSubject or when the
 * operator issued it. */
static gboolean
recipients(CgIssuer *iss, CgTxn *txn, const CgCert *c, GPtrArray *to, GError **error)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgRequest) req = cg_store_request_get(iss->store, txn, c->request_id, &err);
	gboolean by_operator = req == NULL || req->kind != CG_REQUEST_ENROLL;

	if (req == NULL && !cg_error_absent(&err, error))
		return FALSE;
	if (!by_operator) {
		g_autoptr(CgAdmin) a = cg_store_admin_get(iss->store, txn, req->requester, &err);

		if (a == NULL && !cg_error_absent(&err, error))
			return FALSE;
		if (a != NULL && a->status == CG_ADMIN_ACTIVE && strcmp(a->org_id, c->org_id) == 0)
			g_ptr_array_add(to, g_strdup(a->address));
	}
	if ((iss->conf->deliver_to_subject || by_operator) &&
	    (to->len == 0 || !cg_addr_equal(to->pdata[0], c->mailbox)))
		g_ptr_array_add(to, g_strdup(c->mailbox));
	return TRUE;
}

static char *
reminder_text(CgIssuer *iss, const CgCert *c, const CgOrg *org, const char *to,
              const char *token, gint64 now, gint64 answer_until)
{
	g_autofree char *expires = cg_time_iso(c->not_after), *until = cg_time_iso(answer_until);
	g_autofree char *shown = cg_addr_to_unicode(c->mailbox);
	gint64 days = (c->not_after - now + 86399) / 86400;
	gboolean subject = cg_addr_equal(to, c->mailbox);

	return g_strdup_printf(
	    "Hello,\n\nthe S/MIME certificate %s for %s\n(%s) expires on %s, in %" G_GINT64_FORMAT
	    " days.\nOnce it has expired, %s cannot sign new mail with it.\n\n"
	    "To renew it, make a new certificate signing request (CSR) for %s,\nwith a new key "
	    "(on the smartcard, or in the mail program), and reply to\nthis mail with the CSR "
	    "attached or pasted, keeping the subject line as it is:\n\n    ACME: %s\n\n"
	    "The new certificate has the same mailbox, organisation and profile, and\nis checked "
	    "as a new one (the organisation active, the domain validated, the\nkey not "
	    "certified elsewhere). The old certificate stays valid until it\nexpires; keep its "
	    "key, it still opens mail encrypted to it. This reminder\ncan be answered once, "
	    "until %s.%s\n\nTo let the certificate expire, do nothing.\n\n-- \ncertgate at %s\n",
	    c->serial, shown, org->name, expires, days, subject ? "you" : "its holder", shown,
	    token, until,
	    subject ? "" : "\nYou get this as the admin who enrolled it.",
	    iss->conf->gateway_domain);
}

gboolean
cg_issuer_run_remind(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                     gboolean *temporary, GError **error)
{
	g_auto(GStrv) f = g_strsplit(job->id, "|", -1);
	g_autoptr(GPtrArray) to = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GString) sent_to = g_string_new(NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(CgCert) c = NULL;
	g_autoptr(CgOrg) org = NULL;
	g_autofree char *detail = NULL, *name = NULL, *until = NULL;
	gint64 stage, stages[8], answer_until;
	guint n, i;

	if (g_strv_length(f) != 2 || (stage = g_ascii_strtoll(f[1], NULL, 10)) <= 0)
		return cg_job_malformed(job, error);
	if ((c = cg_store_cert_get(iss->store, txn, f[0], &err)) == NULL)
		return cg_error_absent(&err, error); /* gone: nothing to remind of */
	if (c->status != CG_CERT_VALID || *c->renewed_by != '\0' || now >= c->not_after)
		return TRUE;
	if (now < c->not_after - stage) /* released early: wait again */
		return cg_store_job_schedule(txn, CG_JOB_REMIND, job->id, c->not_after - stage,
		                             error);
	/* A later stage due too (the issuer was down): the last due is mailed,
	 * in its stead. */
	n = cg_conf_reminders(iss->conf, stages);
	for (i = 0; i < n; i++)
		if (stages[i] < stage && now >= c->not_after - stages[i])
			stage = stages[i];
	if (c->reminded > 0 && stage >= c->reminded)
		return TRUE; /* this stage, or a later one, was mailed: its job went on */
	if ((org = cg_store_org_get(iss->store, txn, c->org_id, error)) == NULL ||
	    !recipients(iss, txn, c, to, error))
		return FALSE;
	answer_until = MIN(c->not_after, now + ANSWER_LIFETIME);
	for (i = 0; i < to->len; i++) {
		g_autofree char *token = NULL, *text = NULL;
		gboolean sent = FALSE;
		CgChallenge ch = {0};

		if ((token = cg_issuer_new_token(error)) == NULL)
			return FALSE;
		text = reminder_text(iss, c, org, to->pdata[i], token, now, answer_until);
		ch.kind = CG_CHALLENGE_RENEW;
		ch.target = c->serial;
		ch.address = to->pdata[i];
		ch.org_id = c->org_id;
		ch.request_id = c->request_id;
		ch.item = c->item;
		ch.expires = answer_until;
		if (!cg_issuer_mail_token(iss, txn, &ch, token, text, c->serial, now, &sent,
		                          temporary, error))
			return FALSE;
		if (sent)
			g_string_append_printf(sent_to, "%s%s", sent_to->len ? ", " : "",
			                       (char *)to->pdata[i]);
	}
	c->reminded = stage;
	if (!cg_store_cert_update(txn, c, error) ||
	    !schedule(txn, c->serial, cg_conf_reminder_next(iss->conf, stage, c->not_after, now),
	              c->not_after, error))
		return FALSE;
	name = stage_name(stage);
	until = cg_time_iso(answer_until);
	detail = g_strdup_printf("%s before expiry: to %s; answerable until %s", name,
	                         sent_to->len ? sent_to->str : "nobody", until);
	cg_issuer_told(iss, LOG_INFO,
	               g_strdup_printf("certificate %s: reminder %s", c->serial, detail));
	return cg_store_audit_append(txn, now, "issuer", "cert.remind", c->serial, detail, error);
}

/* ---- certificates issued before reminders existed ---- */

typedef struct {
	gint64 now;
	GPtrArray *serials;
} Due;

static gboolean
collect_unreminded(gconstpointer rec, gpointer data)
{
	const CgCert *c = rec;
	Due *d = data;

	if (c->status == CG_CERT_VALID && *c->renewed_by == '\0' && c->reminded == 0 &&
	    c->not_after > d->now)
		g_ptr_array_add(d->serials, g_strdup(c->serial));
	return TRUE;
}

typedef struct {
	CgIssuer *iss;
	GPtrArray *serials;
	guint from, to;
	gint64 now;
	gboolean last;
} Batch;

static gboolean
backfill_txn(CgTxn *txn, gpointer data, GError **error)
{
	Batch *b = data;
	guint i;

	for (i = b->from; i < b->to; i++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(CgCert) c = cg_store_cert_get(b->iss->store, txn, b->serials->pdata[i], &err);

		if (c == NULL) {
			if (!cg_error_absent(&err, error))
				return FALSE;
			continue;
		}
		if (!cg_issuer_schedule_reminders(b->iss, txn, c->serial, c->not_after, b->now,
		                                  error))
			return FALSE;
	}
	return !b->last || cg_store_meta_put(txn, "reminders-backfill", "done", error);
}

gint
cg_issuer_reminders_backfill(CgIssuer *iss, gint64 now, GError **error)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *done = cg_store_meta_get(iss->store, NULL, "reminders-backfill", &err);
	g_autoptr(GPtrArray) serials = g_ptr_array_new_with_free_func(g_free);
	Due d = {now, serials};
	guint i;

	if (done != NULL)
		return 0;
	if (!cg_error_absent(&err, error))
		return -1;
	if (!cg_store_foreach(iss->store, NULL, CG_REC_CERT, collect_unreminded, &d, error))
		return -1;
	for (i = 0; i == 0 || i < serials->len; i += BACKFILL_BATCH) {
		Batch b = {iss, serials, i, MIN(i + BACKFILL_BATCH, serials->len), now,
		           i + BACKFILL_BATCH >= serials->len};

		if (!cg_store_transact(iss->store, backfill_txn, &b, error))
			return -1;
	}
	if (serials->len > 0)
		cg_log(LOG_NOTICE, "expiry reminders scheduled for %u certificates issued before",
		       serials->len);
	return (gint)serials->len;
}
