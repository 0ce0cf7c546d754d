/*
 * fuzz_enroll.c: libFuzzer target for enrolment mail through the test mode
 * (the milter's callbacks, the gateway, S/MIME verification, CSR, CSV and
 * directive parsing, the per-item checks). A store on tmpfs holds an active
 * organisation with an active admin (ceo@example.pl, whose certificate is
 * under tests/data/letter/anchor.pem) and a validated domain; seeds are
 * enrolments that admin signed with the openssl CLI, some of them encrypted
 * to the test gateway encryption certificate (tests/data/fuzzpki/gwenc.pem),
 * which this target decrypts with its key.
 */
#include "milter.h"
#include "common.h"
#include "fuzz.h"

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static CgMilter *milter;

static gboolean
seed_txn(CgTxn *txn, gpointer data, GError **error)
{
	CgOrg o = {0};
	CgAdmin a = {0};
	CgDomain d = {0};

	(void)data;
	o.id = "1";
	o.name = "Example Sp. z o.o.";
	o.org_identifier = "NTRPL-0000123456";
	o.country = "PL";
	o.state = o.locality = o.approved_by = o.reason = "";
	o.contact = "ceo@example.pl";
	o.status = CG_ORG_ACTIVE;
	o.created_by = "fuzz";
	a.address = "ceo@example.pl";
	a.org_id = "1";
	a.department = "";
	a.status = CG_ADMIN_ACTIVE;
	a.appointed_by = "fuzz";
	d.domain = "example.pl";
	d.org_id = "1";
	d.status = CG_DOMAIN_VALIDATED;
	d.expires_at = G_MAXINT64 / 2;
	d.method = d.rule_version = d.evidence = d.previous_org = "";
	d.local_part = "postmaster";
	return cg_store_org_put(txn, &o, error) && cg_store_admin_put(txn, &a, error) &&
	       cg_store_domain_put(txn, &d, error);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *workdir = cg_fuzz_workdir("fuzz_enroll");
	const char *src = g_getenv("CG_SRC") ? g_getenv("CG_SRC") : CG_SOURCE_DIR;
	g_autofree char *text = NULL, *gwenc_key = NULL;
	g_autoptr(GError) err = NULL;
	CgConf *conf;
	CgStore *store;

	(void)argc;
	(void)argv;
	gwenc_key = cg_fuzz_private_copy(src, "gwenc.key", workdir);
	text = g_strdup_printf("GatewayDomain ca.example.net\nDbHome %s/db\nEvidenceDir %s/ev\n"
	                       "TempDir %s\nLogLevel err\nAdminTrustAnchors "
	                       "%s/tests/data/letter/anchor.pem\n"
	                       "GatewayEncryptionCertificate %s/tests/data/fuzzpki/gwenc.pem\n"
	                       "GatewayEncryptionKey %s\n",
	                       workdir, workdir, workdir, src, src, gwenc_key);
	if ((conf = cg_conf_load_data("fuzz.conf", workdir, text, strlen(text), &err)) == NULL)
		g_error("fuzz_enroll: %s", err->message);
	g_mkdir_with_parents(conf->db_home, 0700);
	g_mkdir_with_parents(conf->evidence_dir, 0700);
	milter = cg_milter_new(conf, "fuzz.conf");
	if ((store = cg_milter_store(milter, &err)) == NULL ||
	    !cg_store_transact(store, seed_txn, NULL, &err))
		g_error("fuzz_enroll: %s", err->message);
	if (freopen("/dev/null", "w", stdout) == NULL)
		g_error("fuzz_enroll: cannot silence stdout");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *rcpts[] = {"enroll@ca.example.net", NULL};
	CgTestMode t = {(const char *)data, size, "127.0.0.1", "mail.example.pl",
	                "ceo@example.pl",   rcpts};

	cg_testmode_run(milter, &t);
	return 0;
}
