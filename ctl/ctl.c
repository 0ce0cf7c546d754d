/*
 * ctl.c: what every certgate command shares: options, messages, the store,
 * one transaction with its failure told, JSON strings, listings.
 * Never: decides anything; the commands and policy do.
 */
#include "ctl.h"
#include "daemon.h"
#include "common.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
ctl_fail(CtlCtx *ctx, int status, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", ctx->prog, msg);
	return status;
}

CgStore *
ctl_store(CtlCtx *ctx)
{
	g_autoptr(GError) err = NULL;

	if (ctx->store != NULL)
		return ctx->store;
	ctx->store =
	    cg_open_store(ctx->conf, CG_STORE_DEFAULT, &err);
	if (ctx->store == NULL)
		ctl_fail(ctx, 1, "cannot open the database: %s", err->message);
	return ctx->store;
}

gboolean
ctl_parse(CtlCtx *ctx, const char *args, const char *summary, GOptionEntry *entries, int *argc,
          char ***argv)
{
	g_autoptr(GOptionContext) oc = g_option_context_new(args);
	g_autoptr(GError) err = NULL;
	static GOptionEntry none[] = {{NULL, 0, 0, 0, NULL, NULL, NULL}};

	g_option_context_set_summary(oc, summary);
	g_option_context_add_main_entries(oc, entries ? entries : none, NULL);
	g_option_context_set_strict_posix(oc, FALSE);
	if (!g_option_context_parse(oc, argc, argv, &err)) {
		ctl_fail(ctx, 2, "%s", err->message);
		return FALSE;
	}
	return TRUE;
}

char *
ctl_parse_domain(CtlCtx *ctx, const char *summary, GOptionEntry *entries, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	char *domain;

	if (!ctl_parse(ctx, "DOMAIN", summary, entries, &argc, &argv))
		return NULL;
	if (argc != 2) {
		ctl_fail(ctx, 2, "needs one argument: the domain");
		return NULL;
	}
	if ((domain = cg_domain_normalise(argv[1], &err)) == NULL)
		ctl_fail(ctx, 2, "%s: %s", argv[1], err->message);
	return domain;
}

void
ctl_json_str(GString *out, const char *s)
{
	const unsigned char *p;

	g_string_append_c(out, '"');
	for (p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_printf(out, "\\%c", *p);
		else if (*p < 0x20)
			g_string_append_printf(out, "\\u%04x", *p);
		else
			g_string_append_c(out, (char)*p);
	}
	g_string_append_c(out, '"');
}

char *
ctl_actor(void)
{
	const char *sudo = g_getenv("SUDO_USER");
	struct passwd *pw = getpwuid(getuid());

	return g_strdup_printf("operator:%s", sudo && *sudo ? sudo : pw ? pw->pw_name : "?");
}

gint64
ctl_now(void)
{
	return g_get_real_time() / G_USEC_PER_SEC;
}

void
ctl_list_sep(CtlList *l)
{
	g_string_append(l->out, l->n == 0 ? "[\n" : ",\n");
	l->n++;
}

void
ctl_list_end(CtlList *l)
{
	g_string_append(l->out, l->n == 0 ? "[]\n" : "\n]\n");
}

gboolean
ctl_list_again(GError **err, int *tries)
{
	if (!g_error_matches(*err, CG_ERROR, CG_ERROR_DEADLOCK) || ++*tries >= 10)
		return FALSE;
	g_clear_error(err);
	g_usleep((gulong)(10 * 1000 * *tries));
	return TRUE;
}

int
ctl_list(CtlCtx *ctx, int argc, char **argv, CgRecordKind kind, CgStoreVisit visit,
         const char *summary, const char *header, gboolean by_org)
{
	g_autofree char *org = NULL;
	GOptionEntry entries[] = {
	    {"org", 0, 0, G_OPTION_ARG_STRING, &org, "only this organisation", "ID"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL}};
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	CtlList l = {ctx, out, 0, NULL};
	gsize head;
	int tries = 0;
	CgStore *s;

	if (!ctl_parse(ctx, "", summary, by_org ? entries : NULL, &argc, &argv))
		return 2;
	if ((s = ctl_store(ctx)) == NULL)
		return 1;
	l.filter = org;
	if (!ctx->json)
		g_string_append(out, header);
	head = out->len;
	while (!cg_store_foreach(s, NULL, kind, visit, &l, &err)) {
		if (!ctl_list_again(&err, &tries))
			return ctl_fail(ctx, 1, "%s", err->message);
		g_string_truncate(out, head);
		l.n = 0;
	}
	if (ctx->json)
		ctl_list_end(&l);
	fputs(out->str, stdout);
	return 0;
}

CgStore *
ctl_store_writable(CtlCtx *ctx)
{
	CgStore *s = ctl_store(ctx);

	if (s != NULL && cg_store_role(s) == CG_ROLE_CLIENT) {
		ctl_fail(ctx, 1, "this site is a replication client: records change on the "
		                 "master only (certgate repl status names it)");
		return NULL;
	}
	return s;
}

int
ctl_transact(CtlCtx *ctx, CgTxnFunc fn, gpointer data, const char *not_found)
{
	g_autoptr(GError) err = NULL;
	CgStore *s = ctl_store_writable(ctx);

	if (s == NULL)
		return 1;
	if (cg_store_transact(s, fn, data, &err))
		return 0;
	if (g_error_matches(err, CG_ERROR, CG_ERROR_NOT_ACKED))
		return ctl_fail(ctx, 1, "done on this site, but the replicas did not acknowledge "
		                        "it in time (ReplicationAckTimeout): they catch up when "
		                        "they can");
	return ctl_fail(ctx, 1, "%s",
	                not_found != NULL && g_error_matches(err, CG_ERROR, CG_ERROR_NOT_FOUND)
	                    ? not_found
	                    : err->message);
}

gboolean
ctl_verified_read(CtlCtx *ctx, const char *source, const char *reference, const char *extract_file,
                  CtlVerified *v)
{
	g_autoptr(GString) t = g_string_new(NULL);

	memset(v, 0, sizeof(*v));
	if ((source != NULL && (!*source || !cg_text_is_clean(source, -1, 200))) ||
	    (reference != NULL && (!*reference || !cg_text_is_clean(reference, -1, 200)))) {
		ctl_fail(ctx, 2, "--source and --reference are printable text, at most 200 bytes");
		return FALSE;
	}
	if (extract_file != NULL) {
		g_autoptr(GError) err = NULL;
		g_autofree char *data = NULL;
		gsize len;
		guint8 h[CG_SHA256_LEN];

		if (!g_file_get_contents(extract_file, &data, &len, &err)) {
			ctl_fail(ctx, 2, "--extract: %s", err->message);
			return FALSE;
		}
		cg_sha256(data, len, h);
		v->extract = cg_hex(h, sizeof(h));
	}
	v->source = g_strdup(source);
	v->reference = g_strdup(reference);
	if (v->source)
		g_string_append_printf(t, ", source %s", v->source);
	if (v->reference)
		g_string_append_printf(t, ", reference %s", v->reference);
	if (v->extract)
		g_string_append_printf(t, ", register extract sha256 %s", v->extract);
	if (t->len > 0) {
		g_string_erase(t, 0, 2);
		v->text = g_strdup_printf("; verified: %s", t->str);
	}
	return TRUE;
}

void
ctl_verified_set(const CtlVerified *v, CgOrg *o)
{
	if (v->source) {
		g_free(o->verified_source);
		o->verified_source = g_strdup(v->source);
	}
	if (v->reference) {
		g_free(o->verified_reference);
		o->verified_reference = g_strdup(v->reference);
	}
	if (v->extract) {
		g_free(o->verified_extract);
		o->verified_extract = g_strdup(v->extract);
	}
}

void
ctl_verified_clear(CtlVerified *v)
{
	g_free(v->source);
	g_free(v->reference);
	g_free(v->extract);
	g_free(v->text);
	memset(v, 0, sizeof(*v));
}
