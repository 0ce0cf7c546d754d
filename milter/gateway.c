/*
 * gateway.c: one complete gateway message, from bytes to a committed decision.
 *
 *   1. seen?      the message was taken at this address before: accept,
 *                 no new effect (an MTA's retry after a lost reply)
 *   2. parse      mailparse, with MaxMessageSize as the size limit
 *   3. check      the handler's checks that need no transaction; signed mail
 *                 through cg_gateway_signed (signature, age, replay)
 *   4. evidence   the raw message written durably (named by its SHA-256)
 *   5. commit     one transaction: a signed content taken before refused,
 *                 the handler's effects, the digests in seen (scoped by the
 *                 handler, so that a recipient deferred with 452 takes
 *                 effect when retried alone), an audit entry; retried when
 *                 it loses a deadlock or a race for a seen record
 * Only then is the message acknowledged. Any failure of certgate itself
 * defers (451); a message that is wrong is rejected with what is wrong.
 */
#include "milter.h"
#include "common.h"
#include "policy.h"

#include <stdarg.h>
#include <string.h>
#include <syslog.h>

void
cg_gateway_trace(CgGateway *g, const char *fmt, ...)
{
	va_list ap;

	if (!cg_log_enabled(LOG_DEBUG) && g->effects == NULL)
		return;
	if (g->trace == NULL)
		g->trace = g_string_new(NULL);
	if (g->trace->len > 0)
		g_string_append(g->trace, "; ");
	va_start(ap, fmt);
	g_string_append_vprintf(g->trace, fmt, ap);
	va_end(ap);
}

static void effect(CgGateway *g, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
effect(CgGateway *g, const char *fmt, ...)
{
	va_list ap;

	if (g->effects == NULL)
		return;
	g_string_append(g->effects, "effect: ");
	va_start(ap, fmt);
	g_string_append_vprintf(g->effects, fmt, ap);
	va_end(ap);
	g_string_append_c(g->effects, '\n');
}

/* Refuses signed content that this handler took before (in txn, or outside
 * any when NULL). */
static gboolean
not_replayed(CgGateway *g, CgTxn *txn, GError **error)
{
	const CgHandler *h = cg_handler_for(g->kind);
	g_autoptr(GError) err = NULL;
	g_autofree char *id = NULL;

	if (!g->is_signed)
		return TRUE;
	id = cg_store_seen_get(g->store, txn, g->signed_digest, h->name, &err);
	if (id == NULL)
		return cg_error_absent(&err, error);
	g_set_error(error, CG_ERROR, CG_ERROR_NOT_AUTHORISED,
	            "this signed %s was accepted before (request %s); a signed mail is taken "
	            "once: write and sign a new one",
	            h->noun, id);
	return FALSE;
}

/* The handler's name first: the same signed bytes taken at two addresses
 * are two intakes (and letters keep the digests the versions before scopes
 * recorded). */
static gboolean
signed_digest(CgGateway *g, const CgHandler *h, GBytes *content)
{
	CgSha256 *md = cg_sha256_begin();

	cg_sha256_update(md, h->name, strlen(h->name) + 1);
	cg_sha256_update(md, g_bytes_get_data(content, NULL), g_bytes_get_size(content));
	cg_sha256_end(md, g->signed_digest);
	g->is_signed = TRUE;
	return TRUE;
}

/* Encrypted, then signed: the signed content is enveloped-data; what the
 * handler reads is its decryption. */
static gboolean
decrypt_signed(CgGateway *g, CgSmimeResult *r, gint64 now, GError **error)
{
	g_autoptr(GBytes) der = cg_mail_entity_enveloped(r->content);
	GBytes *plain;

	if (der == NULL)
		return TRUE;
	plain = cg_decrypt_cms(g->conf, der, (gsize)g->conf->max_message_size, now, error);
	if (plain == NULL)
		return FALSE;
	g_bytes_unref(r->content);
	r->content = plain;
	return TRUE;
}

gboolean
cg_gateway_signed(CgGateway *g, const char *anchors, CgSmimeResult *result, GError **error)
{
	const CgHandler *h = cg_handler_for(g->kind);
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	CgSmimeResult own = {0};
	CgSmimeResult *r = result != NULL ? result : &own;
	gboolean ok;

	if (!cg_smime_verify(g->mail, anchors, g->store, now, r, error))
		return FALSE;
	ok = cg_policy_signed_age(r->signing_time, now, g->conf->signed_mail_max_age, error);
	if (ok)
		ok = signed_digest(g, h, r->content) && decrypt_signed(g, r, now, error);
	if (ok)
		ok = not_replayed(g, NULL, error);
	cg_smime_result_clear(&own);
	if (!ok && result != NULL)
		cg_smime_result_clear(result);
	return ok;
}

gboolean
cg_gateway_signed_body(CgGateway *g, const char *anchors, CgSmimeResult *result, CgMailBody *body,
                       GError **error)
{
	CgSmimeResult own = {0};
	CgSmimeResult *r = result != NULL ? result : &own;
	CgMailLimits limits;
	gboolean ok;

	if (!cg_gateway_signed(g, anchors, r, error))
		return FALSE;
	g_ptr_array_set_size(g->mail->body.attachments, 0);
	cg_gateway_limits(g, &limits);
	ok = cg_mail_parse_entity(r->content, &limits, body, error);
	cg_smime_result_clear(&own);
	if (!ok && result != NULL)
		cg_smime_result_clear(result);
	return ok;
}

static gboolean
commit_txn(CgTxn *txn, gpointer data, GError **error)
{
	CgGateway *g = data;
	const CgHandler *h = cg_handler_for(g->kind);
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autofree char *dg = cg_hex(g->digest, 32);
	g_autofree char *detail = NULL;

	g_clear_pointer(&g->request_id, g_free);
	g_clear_pointer(&g->summary, g_free);
	/* The audit log's tail first, as the issuer's batches take it. */
	if (!cg_store_audit_lock(txn, error) || !not_replayed(g, txn, error) ||
	    !h->apply(g, txn, error))
		return FALSE;
	if (!cg_store_seen_put(txn, g->digest, h->name, g->request_id ? g->request_id : "-", now,
	                       error) ||
	    (g->is_signed && !cg_store_seen_put(txn, g->signed_digest, h->name,
	                                        g->request_id ? g->request_id : "-", now, error)))
		return FALSE;
	detail = g_strdup_printf("%s mail from %s via %s, queue %s, digest %s, evidence %s",
	                         h->name, g->mail->from, g->envelope.client_ip,
	                         g->queue_id ? g->queue_id : "-", dg, g->evidence_id);
	return cg_store_audit_append(txn, now, g->mail->from, "mail.accepted",
	                             g->request_id ? g->request_id : "-", detail, error);
}

static gboolean
already_seen(CgGateway *g, CgReply *reply)
{
	const CgHandler *h = cg_handler_for(g->kind);
	g_autoptr(GError) err = NULL;
	g_autofree char *id = cg_store_seen_get(g->store, NULL, g->digest, h->name, &err);

	if (id == NULL) {
		if (g_error_matches(err, CG_ERROR, CG_ERROR_NOT_FOUND))
			return FALSE;
		cg_log(LOG_ERR, "queue %s: seen lookup: %s", g->queue_id ? g->queue_id : "-",
		       err->message);
		cg_reply_from_error(err, g->queue_id, reply);
		return TRUE;
	}
	g->request_id = g_steal_pointer(&id);
	g->summary = g_strdup("duplicate of an accepted message: no new effect");
	effect(g, "duplicate of request %s: no new effect", g->request_id);
	reply->verdict = CG_MV_ACCEPT;
	return TRUE;
}

static void
fail(CgGateway *g, GError *err, CgReply *reply)
{
	if (err->code >= CG_ERROR_INTERNAL)
		cg_log(LOG_ERR, "queue %s: %s", g->queue_id ? g->queue_id : "-", err->message);
	cg_reply_from_error(err, g->queue_id, reply);
}

void
cg_gateway_limits(const CgGateway *g, CgMailLimits *limits)
{
	cg_mail_limits_default(limits);
	limits->max_size = (gsize)g->conf->max_message_size;
}

void
cg_gateway_process(CgGateway *g, CgReply *reply)
{
	const CgHandler *h = cg_handler_for(g->kind);
	g_autoptr(GError) err = NULL;
	CgMailLimits limits;
	GBytes *evidence;

	memset(reply, 0, sizeof(*reply));
	g->store = cg_milter_store(g->m, &err);
	if (g->store == NULL) {
		fail(g, err, reply);
		return;
	}
	/* A replication client takes no gateway mail: the MTA retries, and
	 * reaches the master through the next MX. */
	if (!cg_store_writable(g->store, &err)) {
		fail(g, err, reply);
		return;
	}
	if (already_seen(g, reply))
		return;
	cg_gateway_limits(g, &limits);
	g->mail = cg_mail_parse(g->raw, &g->envelope, &limits, &err);
	if (g->mail == NULL) {
		fail(g, err, reply);
		return;
	}
	if (g->mail->smime.kind == CG_SMIME_ENVELOPED) {
		CgMail *inner = cg_decrypt_message(g->conf, g->mail,
		                                   g_get_real_time() / G_USEC_PER_SEC,
		                                   &g->decrypted, &err);

		if (inner == NULL) {
			fail(g, err, reply);
			return;
		}
		cg_mail_free(g->mail);
		g->mail = inner;
		effect(g, "decrypted with the gateway's key");
	}
	cg_gateway_trace(g, "from %s, %u attachments, smime %d", g->mail->from,
	         g->mail->body.attachments->len, g->mail->smime.kind);
	if (h->check != NULL && !h->check(g, &err)) {
		fail(g, err, reply);
		return;
	}
	/* The evidence of an encrypted message is its decrypted form: what
	 * decided, readable without the gateway's key. */
	evidence = g->decrypted != NULL ? g->decrypted : g->raw;
	g->evidence_id = cg_store_evidence_put(g->store, g_bytes_get_data(evidence, NULL),
	                                       g_bytes_get_size(evidence), &err);
	if (g->evidence_id == NULL) {
		fail(g, err, reply);
		return;
	}
	if (!cg_store_transact(g->store, commit_txn, g, &err) &&
	    g_error_matches(err, CG_ERROR, CG_ERROR_DUPLICATE)) {
		/* Another connection committed the same intake meanwhile: the
		 * same message is its duplicate; the same signed content in
		 * another message is judged again, and now refused as a replay. */
		g_clear_error(&err);
		g_clear_pointer(&g->request_id, g_free);
		g_clear_pointer(&g->summary, g_free);
		if (already_seen(g, reply))
			return;
		cg_store_transact(g->store, commit_txn, g, &err);
	}
	if (err != NULL) {
		fail(g, err, reply);
		return;
	}
	effect(g, "evidence %s", g->evidence_id);
	effect(g, "committed request %s: %s", g->request_id ? g->request_id : "-",
	       g->summary ? g->summary : "");
	reply->verdict = CG_MV_ACCEPT;
}

void
cg_gateway_clear(CgGateway *g)
{
	const CgHandler *h = cg_handler_for(g->kind);

	if (g->state != NULL && h != NULL && h->free_state != NULL)
		h->free_state(g->state);
	cg_envelope_clear(&g->envelope);
	if (g->raw != NULL)
		g_bytes_unref(g->raw);
	if (g->decrypted != NULL)
		g_bytes_unref(g->decrypted);
	cg_mail_free(g->mail);
	g_free(g->request_id);
	g_free(g->evidence_id);
	g_free(g->summary);
	if (g->trace != NULL)
		g_string_free(g->trace, TRUE);
	memset(g, 0, sizeof(*g));
}
