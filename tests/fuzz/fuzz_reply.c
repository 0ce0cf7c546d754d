/*
 * fuzz_reply.c: libFuzzer target for challenge replies, through the test
 * mode (the milter's callbacks, the gateway, the challenge handler, reply
 * authentication) with an offline DNS zone and the test DKIM keys. A store
 * on tmpfs holds one pending challenge whose token the seeds carry, kept
 * pending between inputs, so that mutations reach SPF, DKIM and DMARC.
 */
#include "milter.h"
#include "common.h"
#include "fuzz.h"
#include "policy.h"

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN "AbCdEfGhIjKlMnOpQrStUvWxYz012-_9"

static CgMilter *milter;
static CgStore *store;
static guint8 hash[32];

static const char *const zone[] = {"example.org",
                                   "TXT",
                                   "v=spf1 ip4:127.0.0.1 -all",
                                   "_dmarc.example.org",
                                   "TXT",
                                   "v=DMARC1; p=reject",
                                   "evil.example",
                                   "TXT",
                                   "v=spf1 ip4:127.0.0.66 include:inc.evil.example -all",
                                   "inc.evil.example",
                                   "TXT",
                                   "v=spf1 a mx exists:%{i}.x.evil.example ~all",
                                   "tmp.example",
                                   "TXT",
                                   "TRY_AGAIN",
                                   NULL};

static void
keep_pending(void)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(CgChallenge) old = cg_store_challenge_get(store, NULL, hash, NULL);
	CgChallenge c = {0};
	CgTxn *t;

	if (old != NULL && old->state == CG_CHALLENGE_STATE_PENDING)
		return;
	memcpy(c.token_hash, hash, 32);
	c.kind = CG_CHALLENGE_DOMAIN;
	c.target = "example.org";
	c.address = "postmaster@example.org";
	c.org_id = "1";
	c.request_id = "";
	c.created = 1;
	c.expires = G_MAXINT64 / 2;
	c.message_id = "c1@ca.example.net";
	t = cg_store_begin(store, &err);
	if (t == NULL || !cg_store_challenge_put(t, &c, &err) || !cg_store_commit(t, &err))
		g_error("fuzz_reply: %s", err ? err->message : "?");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = cg_fuzz_workdir("fuzz_reply");
	g_autofree char *text = NULL, *keys = NULL, *src = NULL;
	g_autoptr(GError) err = NULL;
	CgConf *conf;
	CgReplyAuth *auth;

	(void)argc;
	(void)argv;
	text = g_strdup_printf("GatewayDomain ca.example.net\nDbHome %s/db\nEvidenceDir %s/ev\n"
	                       "TempDir %s\nLogLevel err\n",
	                       dir, dir, dir);
	conf = cg_conf_load_data("fuzz.conf", dir, text, strlen(text), &err);
	if (conf == NULL)
		g_error("fuzz_reply: %s", err->message);
	g_mkdir_with_parents(conf->db_home, 0700);
	g_mkdir_with_parents(conf->evidence_dir, 0700);
	/* The test keys: CG_SRC, else relative to this binary's build tree. */
	src = g_strdup(g_getenv("CG_SRC") ? g_getenv("CG_SRC") : CG_SOURCE_DIR);
	keys = g_build_filename(src, "tests", "data", "dkim", "keys", NULL);
	if ((auth = cg_replyauth_new_offline(zone, keys, &err)) == NULL)
		g_error("fuzz_reply: %s", err->message);
	milter = cg_milter_new(conf, "fuzz.conf");
	milter->auth = auth;
	/* The milter's own store handle: one environment handle per process. */
	if ((store = cg_milter_store(milter, &err)) == NULL)
		g_error("fuzz_reply: %s", err->message);
	cg_sha256(TOKEN, strlen(TOKEN), hash);
	keep_pending();
	if (freopen("/dev/null", "w", stdout) == NULL)
		g_error("fuzz_reply: cannot silence stdout");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *rcpts[] = {"challenge@ca.example.net", NULL};
	/* The first byte picks the client: the domain's server or another. */
	const char *ip = size > 0 && (data[0] & 1) ? "127.0.0.66" : "127.0.0.1";
	CgTestMode t = {(const char *)data,       size, ip, "mail.example.org",
	                "postmaster@example.org", rcpts};

	keep_pending();
	cg_testmode_run(milter, &t);
	return 0;
}
