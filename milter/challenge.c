/*
 * challenge.c: replies to domain challenges (DESIGN.md 5.2), to enrolment
 * confirmations and invitations (5.3), and to expiry reminders (renew.c):
 * the handler of ChallengeAddress.
 *
 * check (no transaction): the token (Subject, else an ACME RESPONSE block),
 *   the challenge it names, the reply's own facts (one From, exactly the
 *   challenged address, not an automatic reply, in reply to the challenge
 *   mail), then reply authentication (SPF, DKIM, DMARC: DNS) last, so that
 *   mail with a bad token costs no DNS.
 * apply (one transaction): the challenge again (another connection may have
 *   used it meanwhile), marked used; the domain validated for the
 *   challenge's organisation until now + DomainReuse, moved from another
 *   organisation when it was theirs (dispute); notices to the contacts; the
 *   audit entry with the method, the rules' version and the evidence.
 */
#include "milter.h"
#include "common.h"
#include "policy.h"

#include <string.h>

#define METHOD       CG_METHOD_EMAIL
#define RULE_VERSION "S/MIME BR 1.0.16 3.2.2.1; TLS BR 2.2.6 3.2.2.4.4; RFC 8823 reply"

typedef struct {
	guint8 hash[32];
	char *auth; /* what reply authentication found */
	gboolean in_subject;
	GBytes *csr;        /* an invitation's answer: the CSR, DER */
	CgRenewal *renewal; /* a reminder's answer */
} State;

static void
state_free(gpointer p)
{
	State *st = p;

	g_free(st->auth);
	if (st->csr != NULL)
		g_bytes_unref(st->csr);
	cg_renewal_free(st->renewal);
	g_free(st);
}

/* The CSR an invited subject sends back. */
static gboolean
invite_csr(const CgMail *mail, const CgChallenge *c, State *st, GError **error)
{
	g_autoptr(CgCsr) csr = cg_answer_csr(mail, c->address, "an invitation", error);

	if (csr == NULL)
		return FALSE;
	st->csr = g_bytes_ref(csr->der);
	return TRUE;
}

static guint
count_fields(const CgMail *mail, const char *name)
{
	guint i, n = 0;

	for (i = 0; i < mail->headers->len; i++)
		if (g_ascii_strcasecmp(((CgHeader *)mail->headers->pdata[i])->name, name) == 0)
			n++;
	return n;
}

/* X-Autoreply, X-Autorespond, or Precedence: bulk/junk/list/auto_reply. */
static gboolean
autoreply_header(const CgMail *mail)
{
	const char *prec = cg_mail_header(mail, "Precedence");
	g_autofree char *p = prec ? g_ascii_strdown(g_strstrip(g_strdup(prec)), -1) : NULL;

	return cg_mail_header(mail, "X-Autoreply") != NULL ||
	       cg_mail_header(mail, "X-Autorespond") != NULL ||
	       (p != NULL && (strcmp(p, "bulk") == 0 || strcmp(p, "junk") == 0 ||
	                      strcmp(p, "list") == 0 || strcmp(p, "auto_reply") == 0));
}

/* The token of the reply; *in_subject says where it was. A forwarded
 * challenge, and a token only in the quoted copy of the challenge, are no
 * answer: each is refused with its own reason. */
static char *
find_token(const CgMail *mail, gboolean *in_subject, GError **error)
{
	gboolean forwarded = FALSE;
	g_autofree char *subj = cg_token_from_subject(mail->subject, &forwarded);
	g_autofree char *text = cg_token_from_text(mail->body.text);
	g_autofree char *quoted = NULL;

	if (forwarded) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "a forwarded challenge is no answer; reply to the challenge mail itself, "
		            "from the address it was sent to");
		return NULL;
	}
	if (subj != NULL && text != NULL && strcmp(subj, text) != 0) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "the Subject and the ACME RESPONSE block name different tokens");
		return NULL;
	}
	*in_subject = subj != NULL;
	if (subj != NULL || text != NULL)
		return subj ? g_steal_pointer(&subj) : g_steal_pointer(&text);
	if ((quoted = cg_token_quoted(mail->body.text)) != NULL)
		g_set_error(error, CG_ERROR, CG_ERROR_BAD_TOKEN,
		            "the token is only in the quoted copy of the challenge; reply keeping "
		            "the subject \"ACME: ...\", or put the token in an ACME RESPONSE block "
		            "above the quote");
	else
		g_set_error(error, CG_ERROR, CG_ERROR_BAD_TOKEN,
		            "no challenge token found; reply to the challenge mail and keep its "
		            "subject \"ACME: ...\"");
	return NULL;
}

/* The challenge for hash; NULL with no error when there is none. */
static CgChallenge *
lookup(CgStore *store, CgTxn *txn, const guint8 hash[32], GError **error)
{
	g_autoptr(GError) err = NULL;
	CgChallenge *c = cg_store_challenge_get(store, txn, hash, &err);

	if (c == NULL) {
		cg_error_absent(&err, error);
		return NULL;
	}
	/* The store finds it by its key; the comparison that decides is
	 * made here, in constant time. */
	if (!cg_memeq_ct(c->token_hash, hash, 32))
		g_clear_pointer(&c, cg_challenge_free);
	return c;
}

static gboolean
challenge_check(CgGateway *g, GError **error)
{
	const CgMail *mail = g->mail;
	g_autoptr(GError) err = NULL;
	g_autoptr(CgChallenge) c = NULL;
	g_autofree char *token = NULL;
	State *st = g_new0(State, 1);
	CgReplyFacts f = {0};
	CgReplyAuth *auth;
	int mode;

	g->state = st;
	if (count_fields(mail, "Subject") > 1 || count_fields(mail, "In-Reply-To") > 1) {
		g_set_error(error, CG_ERROR, CG_ERROR_MALFORMED,
		            "a challenge reply must have one Subject and at most one In-Reply-To");
		return FALSE;
	}
	if ((token = find_token(mail, &st->in_subject, error)) == NULL)
		return FALSE;
	cg_sha256(token, strlen(token), st->hash);
	cg_gateway_trace(g, "token in the %s", st->in_subject ? "subject" : "text");
	c = lookup(g->store, NULL, st->hash, &err);
	if (c == NULL && err != NULL) {
		g_propagate_error(error, g_steal_pointer(&err));
		return FALSE;
	}
	f.found = c != NULL;
	f.used = c != NULL && c->state != CG_CHALLENGE_STATE_PENDING;
	f.expires = c ? c->expires : 0;
	f.address = c ? c->address : NULL;
	f.message_id = c ? c->message_id : NULL;
	f.from = mail->from;
	f.n_from = count_fields(mail, "From");
	f.mail_from = mail->envelope.mail_from;
	f.auto_submitted = mail->auto_submitted;
	f.autoreply_header = autoreply_header(mail);
	f.in_reply_to = mail->in_reply_to;
	f.now = g_get_real_time() / G_USEC_PER_SEC;
	if (!cg_policy_reply_check(&f, error))
		return FALSE;
	cg_gateway_trace(g, "challenge for %s, organisation %s", c->target, c->org_id);
	mode = cg_reply_auth_mode(g->conf->reply_auth);
	if ((auth = cg_milter_auth(g->m, error)) == NULL)
		return FALSE;
	if (!cg_replyauth_check(auth, mail, st->in_subject, mode < 0 ? CG_REPLY_AUTH_DMARC : mode,
	                        strcmp(g->conf->challenge_alignment, "relaxed") != 0, &st->auth,
	                        error)) {
		cg_gateway_trace(g, "%s", st->auth);
		return FALSE;
	}
	cg_gateway_trace(g, "%s", st->auth);
	if (c->kind == CG_CHALLENGE_INVITE && !invite_csr(mail, c, st, error))
		return FALSE;
	if (c->kind == CG_CHALLENGE_RENEW && !cg_renewal_check(g, c, &st->renewal, error))
		return FALSE;
	return TRUE;
}

static gboolean
notify(CgTxn *txn, const char *what, const char *domain, const char *org, GError **error)
{
	g_autofree char *id = g_strdup_printf("%s|%s|%s", what, domain, org);

	return cg_store_job_append(txn, CG_JOB_NOTIFY, id, error);
}

typedef struct {
	GArray *held; /* guint32 item indexes */
} Held;

static gboolean
held_item(gconstpointer rec, gpointer data)
{
	const CgItem *it = rec;
	Held *h = data;

	if (it->status == CG_ITEM_HELD)
		g_array_append_val(h->held, it->index);
	return TRUE;
}

/* A confirmation: the held enrolment request goes ahead. */
static gboolean
confirm_apply(CgGateway *g, CgTxn *txn, const CgChallenge *c, gint64 now, GError **error)
{
	State *st = g->state;
	g_autoptr(CgRequest) req = cg_store_request_get(g->store, txn, c->request_id, error);
	g_autoptr(GArray) held = g_array_new(FALSE, FALSE, sizeof(guint32));
	g_autofree char *detail = NULL;
	Held h = {held};
	gboolean expand;
	guint i;

	if (req == NULL)
		return FALSE;
	if (req->status != CG_REQUEST_HELD) {
		g_set_error(error, CG_ERROR, CG_ERROR_BAD_TOKEN,
		            "request %s is not waiting for a confirmation", req->id);
		return FALSE;
	}
	if (!cg_store_foreach_by(g->store, txn, CG_INDEX_ITEM_BY_REQUEST, req->id, held_item, &h,
	                         error))
		return FALSE;
	/* A large list's jobs are queued by the issuer (CG_JOB_EXPAND). */
	expand = held->len > CG_LIST_EXPAND_AT;
	for (i = 0; i < held->len; i++) {
		guint32 idx = g_array_index(held, guint32, i);
		g_autoptr(CgItem) it = cg_store_item_get(g->store, txn, req->id, idx, error);
		gboolean invite;

		if (it == NULL)
			return FALSE;
		/* A row without a CSR becomes an invitation. */
		invite = g_bytes_get_size(it->csr) == 0;
		it->status = invite ? CG_ITEM_INVITED : CG_ITEM_QUEUED;
		if (!cg_store_item_put(txn, it, error) ||
		    (!expand && !cg_store_item_job_append(txn, req->id, idx, invite, error)))
			return FALSE;
	}
	if (expand && !cg_store_expand_job_append(txn, req->id, 1, error))
		return FALSE;
	req->status = CG_REQUEST_RECEIVED;
	if (!cg_store_request_put(txn, req, error))
		return FALSE;
	if (req->kind == CG_REQUEST_STATUS &&
	    !cg_store_job_append(txn, CG_JOB_STATUS, req->id, error))
		return FALSE;
	detail = g_strdup_printf("confirmed by %s: %u items released; %s, Message-ID <%s>",
	                         g->mail->from, held->len, st->auth,
	                         g->mail->message_id ? g->mail->message_id : "-");
	if (!cg_store_audit_append(txn, now, g->mail->from, "enroll.confirm", req->id, detail,
	                           error))
		return FALSE;
	g->request_id = g_strdup(req->id);
	g->summary = g_strdup_printf("request %s confirmed: %u items released", req->id, held->len);
	return TRUE;
}

/* An invitation answered: the CSR becomes the item, queued for issue. */
static gboolean
invite_apply(CgGateway *g, CgTxn *txn, const CgChallenge *c, gint64 now, GError **error)
{
	State *st = g->state;
	const char *hash = strrchr(c->target, '#');
	guint32 idx = hash ? (guint32)g_ascii_strtoull(hash + 1, NULL, 10) : 0;
	g_autoptr(CgItem) it = cg_store_item_get(g->store, txn, c->request_id, idx, error);
	g_autofree char *detail = NULL;

	if (it == NULL)
		return FALSE;
	if (it->status != CG_ITEM_INVITED) {
		g_set_error(error, CG_ERROR, CG_ERROR_BAD_TOKEN,
		            "this invitation has been answered or has expired");
		return FALSE;
	}
	g_bytes_unref(it->csr);
	it->csr = g_bytes_ref(st->csr);
	it->status = CG_ITEM_QUEUED;
	detail = g_strdup_printf("%s answered with a CSR; %s, Message-ID <%s>", g->mail->from,
	                         st->auth, g->mail->message_id ? g->mail->message_id : "-");
	if (!cg_store_item_put(txn, it, error) ||
	    !cg_store_item_job_append(txn, it->request_id, it->index, FALSE, error) ||
	    !cg_store_audit_append(txn, now, g->mail->from, "enroll.invite", c->target, detail,
	                           error))
		return FALSE;
	g->request_id = g_strdup(c->target);
	g->summary = g_strdup_printf("invitation %s answered: queued for issue", c->target);
	return TRUE;
}

static gboolean
challenge_apply(CgGateway *g, CgTxn *txn, GError **error)
{
	State *st = g->state;
	const CgEnvelope *env = &g->mail->envelope;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autoptr(GError) err = NULL;
	g_autoptr(CgChallenge) c = lookup(g->store, txn, st->hash, error);
	g_autoptr(CgDomain) old = NULL;
	g_autofree char *until = NULL, *detail = NULL, *dg = cg_hex(g->digest, 32);
	g_autofree char *why = NULL, *local = NULL;
	const char *at;
	CgChallenge used;
	CgDomain d;
	gboolean moved;

	if (c == NULL) {
		if (error != NULL && *error == NULL)
			g_set_error(error, CG_ERROR, CG_ERROR_BAD_TOKEN,
			            "no pending challenge has this token");
		return FALSE;
	}
	if (c->state != CG_CHALLENGE_STATE_PENDING || now >= c->expires) {
		g_set_error(error, CG_ERROR, CG_ERROR_BAD_TOKEN,
		            "this challenge token has already been used or has expired; ask for a "
		            "new challenge");
		return FALSE;
	}
	if (c->kind == CG_CHALLENGE_DNS) {
		/* A reply to a DNS-change instruction only asks for a look now:
		 * the record validates, never the mail. */
		if (!cg_store_job_dnscheck_now(txn, c->target, c->token_hash, error))
			return FALSE;
		g->request_id = g_strdup_printf("domain:%s", c->target);
		g->summary =
		    g_strdup_printf("the DNS-change record of %s is looked for now", c->target);
		return TRUE;
	}
	used = *c;
	used.state = CG_CHALLENGE_STATE_USED;
	if (!cg_store_challenge_put(txn, &used, error))
		return FALSE;
	if (c->kind == CG_CHALLENGE_CONFIRM)
		return confirm_apply(g, txn, c, now, error);
	if (c->kind == CG_CHALLENGE_INVITE)
		return invite_apply(g, txn, c, now, error);
	if (c->kind == CG_CHALLENGE_RENEW)
		return cg_renewal_apply(g, txn, c, st->renewal, st->auth, error);

	/* A token mailed before the method's sunset is still no way past it. */
	if ((why = cg_policy_domain_method(METHOD, cg_conf_public_trust(g->conf), now)) != NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
		            "%s cannot be validated by this reply: %s", c->target, why);
		return FALSE;
	}
	old = cg_store_domain_get(g->store, txn, c->target, &err);
	if (old == NULL && !cg_error_absent(&err, error))
		return FALSE;
	/* The local part that answered is the one its renewals challenge. */
	at = strrchr(c->address, '@');
	local =
	    at != NULL ? g_strndup(c->address, (gsize)(at - c->address)) : g_strdup("postmaster");
	moved = cg_domain_fill_validated(&d, old, c->target, c->org_id, METHOD, RULE_VERSION,
	                                 g->evidence_id, local, now, g->conf->domain_reuse);
	if (!cg_store_domain_put(txn, &d, error))
		return FALSE;
	if (!notify(txn, "domain.validated", d.domain, d.org_id, error))
		return FALSE;
	if (moved && !notify(txn, "domain.moved", d.domain, old->org_id, error))
		return FALSE;

	until = cg_time_iso(d.expires_at);
	detail = g_strdup_printf(
	    "%s (%s) for organisation %s%s%s, valid until %s; reply from %s, client %s, HELO %s, "
	    "MAIL FROM <%s>, %s, Message-ID <%s>, digest %s, evidence %s",
	    METHOD, RULE_VERSION, d.org_id, moved ? ", moved from organisation " : "",
	    moved ? old->org_id : "", until, g->mail->from, env->client_ip ? env->client_ip : "-",
	    env->helo ? env->helo : "-", env->mail_from ? env->mail_from : "", st->auth,
	    g->mail->message_id ? g->mail->message_id : "-", dg, g->evidence_id);
	if (!cg_store_audit_append(txn, now, g->mail->from,
	                           moved ? "domain.move" : "domain.validate", d.domain, detail,
	                           error))
		return FALSE;
	g->request_id = g_strdup_printf("domain:%s", d.domain);
	g->summary = g_strdup_printf(
	    "domain %s validated for organisation %s until %s%s%s", d.domain, d.org_id, until,
	    moved ? "; moved from organisation " : "", moved ? old->org_id : "");
	return TRUE;
}

const CgHandler cg_challenge_handler = {CG_GW_CHALLENGE, "challenge", "reply",
                                        challenge_check, challenge_apply,  state_free};
