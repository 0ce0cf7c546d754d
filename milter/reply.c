/*
 * reply.c: the one table from certgate's error codes to SMTP replies
 * (DESIGN.md section 6), and the only place SMTP codes are written. Reply
 * texts are one line, start with "certgate:", and hold only printable ASCII
 * without '%' (libmilter and the MTA treat '%' specially; control
 * characters would end or forge a reply line).
 */
#include "milter.h"
#include "common.h"

#include <stdarg.h>
#include <string.h>

/* Longest text after the codes: SMTP reply lines are at most 512 bytes. */
#define MAX_TEXT 400

static const struct {
	int code;
	CgVerdict verdict;
	const char *rcode, *xcode;
} table[] = {
    {CG_ERROR_MALFORMED, CG_MV_REJECT, "554", "5.6.0"},
    {CG_ERROR_TOO_LARGE, CG_MV_REJECT, "552", "5.3.4"},
    {CG_ERROR_NOT_AUTHORISED, CG_MV_REJECT, "550", "5.7.1"},
    {CG_ERROR_BAD_SIGNATURE, CG_MV_REJECT, "550", "5.7.5"},
    {CG_ERROR_SPF_FAIL, CG_MV_REJECT, "550", "5.7.23"},
    {CG_ERROR_DKIM_FAIL, CG_MV_REJECT, "550", "5.7.20"},
    {CG_ERROR_DMARC_FAIL, CG_MV_REJECT, "550", "5.7.1"},
    {CG_ERROR_BAD_TOKEN, CG_MV_REJECT, "550", "5.7.1"},
    {CG_ERROR_DNS_TEMP, CG_MV_TEMPFAIL, "451", "4.4.3"},
    {CG_ERROR_RCPT_LATER, CG_MV_TEMPFAIL, "452", "4.5.3"},
    {CG_ERROR_NOT_DECRYPTABLE, CG_MV_REJECT, "554", "5.7.5"},
    {CG_ERROR_NOT_MASTER, CG_MV_TEMPFAIL, "451", "4.3.2"},
    {CG_ERROR_NOT_ACKED, CG_MV_TEMPFAIL, "451", "4.3.0"},
};

const char *
cg_reply_verdict_name(CgVerdict v)
{
	static const char *n[] = {"continue", "accept", "reject", "tempfail", "discard"};

	return (guint)v < G_N_ELEMENTS(n) ? n[v] : "?";
}

static void
set_text(CgReply *r, const char *msg)
{
	g_autofree char *safe = cg_text_safe(msg, -1, MAX_TEXT);

	g_snprintf(r->text, sizeof(r->text), "certgate: %s", safe);
}

static void G_GNUC_PRINTF(5, 6)
reply_set(CgReply *r, CgVerdict v, const char *rcode, const char *xcode, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	r->verdict = v;
	g_strlcpy(r->rcode, rcode ? rcode : "", sizeof(r->rcode));
	g_strlcpy(r->xcode, xcode ? xcode : "", sizeof(r->xcode));
	set_text(r, msg);
}

void
cg_reply_from_error(const GError *err, const char *queue_id, CgReply *out)
{
	gsize i;

	memset(out, 0, sizeof(*out));
	if (err != NULL && err->domain == CG_ERROR) {
		for (i = 0; i < G_N_ELEMENTS(table); i++) {
			if (table[i].code != err->code)
				continue;
			out->verdict = table[i].verdict;
			g_strlcpy(out->rcode, table[i].rcode, sizeof(out->rcode));
			g_strlcpy(out->xcode, table[i].xcode, sizeof(out->xcode));
			set_text(out, err->message);
			return;
		}
	}
	/* Database busy, disk full, anything internal: defer. The details are
	 * logged, never told to the sender. */
	reply_set(out, CG_MV_TEMPFAIL, "451", "4.3.0",
	             "temporary failure, please retry later (queue id %s)",
	             queue_id && *queue_id ? queue_id : "unknown");
}
