/*
 * testmode.c: certgate-milter -t FILE: a message file through the same
 * session functions the daemon's callbacks use, with the envelope given on
 * the command line. Prints "verdict: ..." first, then one "effect: ..." line
 * per effect. Headers are split as an MTA splits them (a line that is not a
 * header field ends the header); the body gets CRLF line ends, as on the wire.
 */
#include "milter.h"
#include "common.h"

#include <stdio.h>
#include <string.h>

#define CHUNK 65536

static void
print_verdict(CgVerdict v, const CgReply *r)
{
	if (v == CG_MV_REJECT || v == CG_MV_TEMPFAIL)
		printf("verdict: %s %s %s %s\n", cg_reply_verdict_name(v), r->rcode, r->xcode, r->text);
	else
		printf("verdict: %s\n", cg_reply_verdict_name(v));
}

/* Feeds the header block; returns the offset of the body. */
static gsize
feed_headers(CgSession *s, const char *data, gsize len, CgVerdict *v, CgReply *r)
{
	gsize i = 0;

	*v = CG_MV_CONTINUE;
	while (i < len) {
		const char *line = data + i, *nl, *colon;
		gsize end, next;
		g_autoptr(GString) value = NULL;
		g_autofree char *name = NULL;

		if (*line == '\n')
			return i + 1;
		if (*line == '\r' && i + 1 < len && line[1] == '\n')
			return i + 2;
		nl = memchr(line, '\n', len - i);
		end = nl ? (gsize)(nl - data) : len;
		colon = memchr(line, ':', end - i);
		if (colon == NULL || colon == line || *line == ' ' || *line == '\t')
			return i; /* not a header field: the body starts here */
		name = g_strndup(line, (gsize)(colon - line));
		g_strchomp(name);
		value = g_string_new_len(colon + 1, (gssize)(end - (gsize)(colon - data) - 1));
		next = end + 1;
		/* Continuation lines. */
		while (next < len && (data[next] == ' ' || data[next] == '\t')) {
			const char *cnl = memchr(data + next, '\n', len - next);
			gsize cend = cnl ? (gsize)(cnl - data) : len;

			g_string_append_c(value, '\n');
			g_string_append_len(value, data + next, (gssize)(cend - next));
			next = cend + 1;
		}
		while (value->len > 0 && value->str[value->len - 1] == '\r')
			g_string_truncate(value, value->len - 1);
		*v = cg_session_header(s, name, value->str, r);
		if (*v != CG_MV_CONTINUE)
			return next;
		i = next;
	}
	return len;
}

static CgVerdict
feed_body(CgSession *s, const char *data, gsize len, CgReply *r)
{
	g_autoptr(GString) chunk = g_string_sized_new(CHUNK + 2);
	gsize i;

	for (i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			g_string_append_c(chunk, '\r');
		g_string_append_c(chunk, data[i]);
		if (chunk->len >= CHUNK) {
			CgVerdict v = cg_session_body(s, chunk->str, chunk->len, r);

			if (v != CG_MV_CONTINUE)
				return v;
			g_string_truncate(chunk, 0);
		}
	}
	if (chunk->len > 0)
		return cg_session_body(s, chunk->str, chunk->len, r);
	return CG_MV_CONTINUE;
}

/* "decrypt: ok" or "decrypt: failed REASON" for a message encrypted as a
 * whole (then *mail becomes the decrypted one), or whose signed content is
 * encrypted. FALSE when decryption failed. */
static gboolean
decrypt_line(const CgConf *conf, CgMail **mail)
{
	g_autoptr(GError) err = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autoptr(GBytes) plain = NULL;

	if ((*mail)->smime.kind == CG_SMIME_ENVELOPED) {
		CgMail *inner = cg_decrypt_message(conf, *mail, now, NULL, &err);

		if (inner == NULL) {
			printf("decrypt: failed %s\n", err->message);
			return FALSE;
		}
		cg_mail_free(*mail);
		*mail = inner;
		printf("decrypt: ok\n");
	}
	if ((*mail)->smime.kind == CG_SMIME_DETACHED) {
		g_autoptr(GBytes) der = cg_mail_entity_enveloped((*mail)->smime.signed_content);

		if (der == NULL)
			return TRUE;
		plain = cg_decrypt_cms(conf, der, (gsize)conf->max_message_size, now, &err);
		if (plain == NULL) {
			printf("decrypt: failed %s\n", err->message);
			return FALSE;
		}
		printf("decrypt: ok (the signed content)\n");
	}
	return TRUE;
}

/* "smime: good signer=ADDR" or "smime: bad REASON" for a signed message,
 * whatever it is addressed to, against LetterTrustAnchors; after the
 * decrypt line of an encrypted one. */
static void
smime_line(CgMilter *m, const char *data, gsize len)
{
	g_autoptr(CgConf) conf = cg_conf_holder_get(m->conf);
	g_autoptr(GBytes) raw = g_bytes_new_static(data, len); /* data outlives it */
	g_autoptr(GError) err = NULL;
	g_autoptr(CgMail) mail = cg_mail_parse(raw, NULL, NULL, NULL);
	CgStore *store;

	if (mail == NULL || !decrypt_line(conf, &mail) || mail->smime.kind == CG_SMIME_NONE)
		return;
	store = cg_milter_store(m, NULL);
	if (cg_smime_verify(mail, conf->letter_trust_anchors, store,
	                    g_get_real_time() / G_USEC_PER_SEC, NULL, &err))
		printf("smime: good signer=%s\n", mail->from);
	else
		printf("smime: bad %s\n", err->message);
}

int
cg_testmode_run(CgMilter *m, const CgTestMode *t)
{
	const char *data = t->data; /* read by length throughout, never copied */
	gsize len = t->len;
	CgEomResult res = {0};
	CgSession *s;
	CgReply r = {0};
	CgVerdict v;
	gsize body;
	char **rc;

	smime_line(m, data, len);
	s = cg_session_new(m, t->client_ip, "test-client");
	cg_session_helo(s, t->helo ? t->helo : "test-client", &r);
	cg_session_mail(s, t->mail_from ? t->mail_from : "", &r);
	for (rc = t->rcpts; rc && *rc; rc++) {
		memset(&r, 0, sizeof(r));
		if (cg_session_rcpt(s, *rc, &r) != CG_MV_CONTINUE)
			printf("rcpt: %s: %s %s %s\n", *rc, r.rcode, r.xcode, r.text);
	}
	v = cg_session_data(s, &r);
	if (v == CG_MV_CONTINUE) {
		body = feed_headers(s, data, len, &v, &r);
		if (v == CG_MV_CONTINUE)
			v = cg_session_eoh(s, "TEST", &r);
		if (v == CG_MV_CONTINUE)
			v = feed_body(s, data + body, len - body, &r);
		if (v == CG_MV_CONTINUE) {
			cg_session_eom(s, "TEST", &res);
			v = res.reply.verdict;
			r = res.reply;
		}
	}
	print_verdict(v, &r);
	for (rc = res.delrcpt; rc && *rc; rc++)
		printf("effect: delrcpt %s\n", *rc);
	if (res.effects != NULL)
		fputs(res.effects->str, stdout);
	cg_session_eom_clear(&res);
	cg_session_abort(s);
	cg_session_free(s);
	return 0;
}
