/*
 * adapter.c: libmilter's callbacks, each a thin call into session.c.
 *
 * Every callback copes with a NULL private pointer (the MTA may call close,
 * or abort, without connect). Close and abort only free a session's own
 * memory: they run even while the milter stops; the others work under the
 * gate below. Steps whose outcome can wait for a later step
 * (connect, HELO, MAIL, each header field, the end of the header) are
 * negotiated as no-reply steps, saving the MTA a round trip each: a header
 * field past MaxMessageSize is refused at the first body chunk or the end.
 */
#include "milter.h"
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <syslog.h>
#include <libmilter/mfapi.h>

static CgMilter *milter;
static volatile gint no_reply_ok; /* the MTA accepted SMFIP_NR_* */

/* The callbacks at work, and whether the milter stops. libmilter's main
 * loop returns as soon as it stops listening and leaves its sessions to
 * their threads: a session may be inside a callback then (a transaction, a
 * DNS answer awaited), and more commands may come on the sessions still
 * open. Once stopping, no callback begins to work on a message (each
 * defers it), and the database is closed only when none is left at work
 * (cg_adapter_stop, cg_adapter_wait). */
static struct {
	GMutex lock;
	GCond idle;
	guint busy;
	gboolean stopping;
} gate;

static gboolean
gate_enter(void)
{
	gboolean open;

	g_mutex_lock(&gate.lock);
	if ((open = !gate.stopping))
		gate.busy++;
	g_mutex_unlock(&gate.lock);
	return open;
}

static void
gate_leave(void)
{
	g_mutex_lock(&gate.lock);
	if (--gate.busy == 0)
		g_cond_broadcast(&gate.idle);
	g_mutex_unlock(&gate.lock);
}

guint
cg_adapter_stop(void)
{
	guint busy;

	g_mutex_lock(&gate.lock);
	gate.stopping = TRUE;
	busy = gate.busy;
	g_mutex_unlock(&gate.lock);
	return busy;
}

guint
cg_adapter_wait(gint64 timeout_us)
{
	gint64 end = g_get_monotonic_time() + timeout_us;
	guint busy;

	g_mutex_lock(&gate.lock);
	while (gate.busy > 0 && g_cond_wait_until(&gate.idle, &gate.lock, end))
		;
	busy = gate.busy;
	g_mutex_unlock(&gate.lock);
	return busy;
}

static sfsistat
answer(SMFICTX *ctx, CgVerdict v, const CgReply *r, gboolean noreply)
{
	/* A no-reply step gets no answer: the MTA reads none. An accept there
	 * (a message without gateway recipients, from an MTA that sent no
	 * DATA step) is given at the message's end instead. */
	if (noreply && g_atomic_int_get(&no_reply_ok) && (v == CG_MV_CONTINUE || v == CG_MV_ACCEPT))
		return SMFIS_NOREPLY;
	switch (v) {
	case CG_MV_CONTINUE:
		return SMFIS_CONTINUE;
	case CG_MV_ACCEPT:
		return SMFIS_ACCEPT;
	case CG_MV_DISCARD:
		return SMFIS_DISCARD;
	case CG_MV_REJECT:
	case CG_MV_TEMPFAIL:
		if (*r->rcode != '\0' && smfi_setreply(ctx, (char *)r->rcode, (char *)r->xcode,
		                                       (char *)r->text) != MI_SUCCESS)
			cg_log(LOG_WARNING, "smfi_setreply refused: %s %s", r->rcode, r->xcode);
		return v == CG_MV_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
	}
	return SMFIS_TEMPFAIL;
}

/* A step of a stopping milter: the message is deferred at the first step
 * that has an answer. */
static sfsistat
stopping(SMFICTX *ctx, gboolean noreply)
{
	static const CgReply r = {CG_MV_TEMPFAIL, "451", "4.3.0",
	                          "certgate: stopping, please retry later"};

	if (noreply && g_atomic_int_get(&no_reply_ok))
		return SMFIS_NOREPLY;
	return answer(ctx, r.verdict, &r, FALSE);
}

/* A callback's answer: the verdict of step (which fills r), worked out
 * inside the gate; or, once the milter stops, a deferral. */
#define GATED(ctx, noreply, r, step)                                                               \
	do {                                                                                       \
		CgReply r = {0};                                                                   \
		sfsistat st_;                                                                      \
                                                                                                   \
		if (!gate_enter())                                                                 \
			return stopping(ctx, noreply);                                             \
		st_ = answer(ctx, step, &r, noreply);                                              \
		gate_leave();                                                                      \
		return st_;                                                                        \
	} while (0)

static CgSession *
session_of(SMFICTX *ctx)
{
	CgSession *s = smfi_getpriv(ctx);

	if (s == NULL) {
		/* No connect callback (or it failed): start one now. */
		const char *ip = smfi_getsymval(ctx, "{client_addr}");

		s = cg_session_new(milter, ip, NULL);
		smfi_setpriv(ctx, s);
	}
	return s;
}

static sfsistat
cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2, unsigned long f3,
             unsigned long *pf0, unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	unsigned long nr =
	    SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_HDR | SMFIP_NR_EOH;

	(void)f2;
	(void)f3;
	*pf0 = f0 & (SMFIF_DELRCPT | SMFIF_SETSYMLIST);
	*pf1 = f1 & (SMFIP_NOUNKNOWN | SMFIP_HDR_LEADSPC | nr);
	*pf2 = 0;
	*pf3 = 0;
	g_atomic_int_set(&no_reply_ok, (f1 & nr) == nr);
	if (f0 & SMFIF_SETSYMLIST) {
		smfi_setsymlist(ctx, SMFIM_CONNECT, "{client_addr} {daemon_name}");
		smfi_setsymlist(ctx, SMFIM_EOH, "i");
		smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	return SMFIS_CONTINUE;
}

static sfsistat
cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
	char ip[INET6_ADDRSTRLEN] = "unknown";
	CgSession *old = smfi_getpriv(ctx);

	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)sa)->sin_addr, ip, sizeof(ip));
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)sa)->sin6_addr, ip,
		          sizeof(ip));
	cg_session_free(old);
	smfi_setpriv(ctx, NULL);
	if (!gate_enter())
		return stopping(ctx, TRUE);
	smfi_setpriv(ctx, cg_session_new(milter, ip, hostname));
	gate_leave();
	return answer(ctx, CG_MV_CONTINUE, NULL, TRUE);
}

static sfsistat
cb_helo(SMFICTX *ctx, char *helo)
{
	GATED(ctx, TRUE, r, cg_session_helo(session_of(ctx), helo, &r));
}

static sfsistat
cb_envfrom(SMFICTX *ctx, char **argv)
{
	GATED(ctx, TRUE, r, cg_session_mail(session_of(ctx), argv ? argv[0] : "", &r));
}

static sfsistat
cb_envrcpt(SMFICTX *ctx, char **argv)
{
	GATED(ctx, FALSE, r, cg_session_rcpt(session_of(ctx), argv ? argv[0] : "", &r));
}

static sfsistat
cb_data(SMFICTX *ctx)
{
	GATED(ctx, FALSE, r, cg_session_data(session_of(ctx), &r));
}

static sfsistat
cb_header(SMFICTX *ctx, char *name, char *value)
{
	GATED(ctx, TRUE, r, cg_session_header(session_of(ctx), name, value, &r));
}

static sfsistat
cb_eoh(SMFICTX *ctx)
{
	GATED(ctx, TRUE, r, cg_session_eoh(session_of(ctx), smfi_getsymval(ctx, "i"), &r));
}

static sfsistat
cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	GATED(ctx, FALSE, r, cg_session_body(session_of(ctx), chunk, len, &r));
}

static sfsistat
cb_eom(SMFICTX *ctx)
{
	CgEomResult res;
	sfsistat st;
	char **rc;

	if (!gate_enter())
		return stopping(ctx, FALSE);
	cg_session_eom(session_of(ctx), smfi_getsymval(ctx, "i"), &res);
	for (rc = res.delrcpt; rc && *rc; rc++)
		if (smfi_delrcpt(ctx, *rc) != MI_SUCCESS) {
			/* Removing the recipient failed: the effects are committed, so
			 * the mail must not be refused now; it reaches the gateway
			 * mailbox instead of being dropped. */
			cg_log(LOG_WARNING, "smfi_delrcpt %s failed", *rc);
		}
	st = answer(ctx, res.reply.verdict, &res.reply, FALSE);
	cg_session_eom_clear(&res);
	if (milter->store != NULL && cg_store_panicked(milter->store)) {
		/* Berkeley DB needs recovery, which only a restart runs: stop, so
		 * that the service manager restarts us; the MTA defers meanwhile. */
		cg_log(LOG_CRIT, "the database needs recovery: stopping");
		smfi_stop();
	}
	gate_leave();
	return st;
}

static sfsistat
cb_abort(SMFICTX *ctx)
{
	cg_session_abort(smfi_getpriv(ctx));
	return SMFIS_CONTINUE;
}

static sfsistat
cb_close(SMFICTX *ctx)
{
	CgSession *s = smfi_getpriv(ctx);

	if (s != NULL) {
		smfi_setpriv(ctx, NULL);
		cg_session_free(s);
	}
	return SMFIS_CONTINUE;
}

void
cg_adapter_install(CgMilter *m, struct smfiDesc *d)
{
	milter = m;
	memset(d, 0, sizeof(*d));
	d->xxfi_name = "certgate";
	d->xxfi_version = SMFI_VERSION;
	d->xxfi_flags = SMFIF_DELRCPT | SMFIF_SETSYMLIST;
	d->xxfi_connect = cb_connect;
	d->xxfi_helo = cb_helo;
	d->xxfi_envfrom = cb_envfrom;
	d->xxfi_envrcpt = cb_envrcpt;
	d->xxfi_header = cb_header;
	d->xxfi_eoh = cb_eoh;
	d->xxfi_body = cb_body;
	d->xxfi_eom = cb_eom;
	d->xxfi_abort = cb_abort;
	d->xxfi_close = cb_close;
	d->xxfi_data = cb_data;
	d->xxfi_negotiate = cb_negotiate;
}
