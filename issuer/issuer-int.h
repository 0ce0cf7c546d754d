/*
 * issuer-int.h: shared by the issuer's own files only.
 * Never: included outside issuer/ (tests of the issuer's internals aside).
 */
#ifndef CG_ISSUER_INT_H
#define CG_ISSUER_INT_H

#include "issuer.h"
#include "common.h"
#include "policy.h"

#include <stdio.h>

struct CgCa {
	X509 *cert;
	STACK_OF(X509) * chain; /* issuing CA, then the root */
	EVP_PKEY *key;
	void *engine; /* ENGINE* when the key is on a PKCS#11 token */
	/* A signing context set up once for key, copied for each certificate
	 * (cg_ca_sign); NULL: each is signed with X509_sign. */
	EVP_MD_CTX *sign_ctx;
	GMutex sign_lock; /* for the copies: the verification threads sign too */
	X509 *gw_cert;
	EVP_PKEY *gw_key;
	X509 *enc_cert; /* the gateway's encryption certificate, NULL when absent */
	char *key_location;
	guint8 (*own)[32];
	gsize n_own;
	/* Extensions of its certificates that depend on nothing of the
	 * subject, made once: "NID=value" -> X509_EXTENSION (profile.c). */
	GHashTable *exts;
	GMutex exts_lock;
};

struct CgIssuer {
	CgConf *conf;
	CgStore *store;
	CgCa *ca;
	gint64 next_crl, next_release, next_renewal;
	gboolean reminders_ready; /* the backfill of older certificates is done */
	gint64 next_digest;       /* when to look at digest-next again */
	/* replication */
	CgStoreRole role;  /* as last seen */
	gboolean files_checked; /* the CA's files against their notes, since
	                         * this site took the jobs (cafiles.c) */
	gboolean unacked;  /* a commit was not acknowledged: nothing more is
	                    * told until a beat is */
	gint64 next_beat;
	/* signatures verified beside the batch (verify.c) */
	CgVerifier *verifier; /* NULL: in line */
	CgVerifier *later;    /* the verifier while a job may hand work to it */
	gboolean in_line;     /* the batch that failed a check runs again in line */
	GPtrArray *pending;   /* its certificates signed beside it (issue.c) */
	GPtrArray *told;      /* log lines of the batch, written once it commits */
	/* Mail a job sent in a run that did not commit is not sent again when
	 * it runs again (outmail.c, jobs.c). */
	const CgJob *job;     /* the job running, or NULL */
	guint64 batch;        /* the batch running (a count) */
	GHashTable *sent;     /* "kind|id|recipient" -> CgSent */
	GPtrArray *committed; /* "kind|id" of the batch's jobs done so far */
	/* Mail handed to sendmail(1) beside the batch (outmail.c). */
	gboolean mail_aside; /* the batch's mail may go beside it */
	GPtrArray *aside;    /* the mail under way */
	char *aside_failed;  /* the first that did not go, or NULL */
};

typedef struct {
	char *job;     /* "kind|id": cg_job_tag */
	guint64 batch; /* the batch it was sent in */
} CgSent;

/* outmail.c: waits for the mail a batch handed to sendmail(1) beside it
 * (cg_issuer_send while mail_aside), each that went remembered as sent.
 * FALSE when one did not go: *failed says which and why (caller frees), and
 * the batch must not commit: it runs again in line, where that mail's job
 * meets its MTA's answer and the mail that went is not sent again. */
gboolean cg_issuer_mail_settle(CgIssuer *iss, char **failed);

/* jobs.c: line (LOG_INFO or LOG_NOTICE, taken) is logged once the batch
 * commits, and never if it does not. */
void cg_issuer_told(CgIssuer *iss, int priority, char *line);

/* issue.c */
gboolean cg_issuer_issue(CgIssuer *iss, CgTxn *txn, const char *job_id, gint64 now, GError **error);
/* The batch's certificates signed beside it put in txn (no child of it
 * active), those signed so far, or `all` (an error if one is not). Put
 * while the batch goes on, they commit with it, which waits for every
 * check (cg_verifier_wait). An element of CgIssuer.pending is freed by
 * cg_pending_free. */
gboolean cg_issuer_put_signed(CgIssuer *iss, CgTxn *txn, gboolean all, GError **error);
void cg_pending_free(gpointer p);
gboolean cg_request_settle(CgIssuer *iss, CgTxn *txn, const char *request_id, GError **error);
gboolean cg_item_refuse(CgIssuer *iss, CgTxn *txn, CgItem *item, const char *reason,
                        const char *action, gint64 now, GError **error);

/* remind.c: expiry reminders, renewals */
/* A job for each ExpiryReminders stage still ahead of not_after. */
gboolean cg_issuer_schedule_reminders(CgIssuer *iss, CgTxn *txn, const char *serial,
                                      gint64 not_after, gint64 now, GError **error);
/* serial renews the certificates in renews (comma-separated) that are
 * org_id's for mailbox: each records it, and is reminded of no more. */
gboolean cg_issuer_mark_renewed(CgIssuer *iss, CgTxn *txn, const char *renews,
                                const char *org_id, const char *mailbox, const char *serial,
                                GError **error);
gboolean cg_issuer_run_remind(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                              gboolean *temporary, GError **error);
/* Once per database: reminders for the certificates issued before they
 * existed. How many, 0 when done before, -1 on error. */
gint cg_issuer_reminders_backfill(CgIssuer *iss, gint64 now, GError **error);

/* status.c: an admin's Request: status */
gboolean cg_issuer_run_status(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                              gboolean *temporary, GError **error);

/* stats.c: the operator's daily digest */
gboolean cg_issuer_run_digest(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                              gboolean *temporary, GError **error);
/* Queues the digest once DigestTime has come (OperatorAddress set). */
void cg_issuer_digest_tick(CgIssuer *iss, gint64 now);

/* jobs.c: "kind|id", how the batch's committed jobs and the mail they sent
 * (CgSent) name a job. Caller frees. */
char *cg_job_tag(const CgJob *job);
/* jobs.c: CG_ERROR_CORRUPT for a job whose id does not parse. */
gboolean cg_job_malformed(const CgJob *job, GError **error);

/* The flows, one per job kind (jobs.c dispatches). Each runs in the job's
 * transaction; *temporary when the job should run again later (the MTA or
 * DNS failed), the transaction's effects undone. */
/* deliver.c */
gboolean cg_issuer_deliver(CgIssuer *iss, CgTxn *txn, const char *serial, gint64 now,
                           gboolean *temporary, GError **error);
/* challenge.c: domain challenges, confirmations, renewals */
gboolean cg_issuer_run_challenge(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                                 gboolean *temporary, GError **error);
gboolean cg_issuer_run_confirm(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                               gboolean *temporary, GError **error);
/* The opening of a domain challenge's text: who asks what of whom. */
GString *cg_issuer_challenge_opening(const CgConf *conf, const CgOrg *org, const char *domain);
/* A fresh token: 24 bytes from the CSPRNG, base64url. Caller frees. */
char *cg_issuer_new_token(GError **error);
/* Mails the RFC 8823-shaped message carrying token to c->address and stores
 * c (its hash and the mail's Message-ID; c's other fields set by the
 * caller). *sent FALSE when the MTA refused for good (recorded). */
gboolean cg_issuer_mail_token(CgIssuer *iss, CgTxn *txn, CgChallenge *c, const char *token,
                              const char *text, const char *about, gint64 now, gboolean *sent,
                              gboolean *temporary, GError **error);
/* Queues a challenge for every validation that expires within
 * DomainRenewal and has not been challenged since; how many, or -1. */
gint cg_issuer_renewals(CgIssuer *iss, gint64 now, GError **error);
/* The contact of every active organisation whose validation ends within
 * OrgRenewal is asked once for a confirm-organisation letter (notify job
 * "org.confirm|ID"); how many, or -1. */
gint cg_issuer_org_renewals(CgIssuer *iss, gint64 now, GError **error);
/* dnschallenge.c: the DNS-change method (TLS BR 3.2.2.4.7). The challenge
 * for domain: a value mailed to org's contact, its hash stored, a check
 * scheduled; *sent FALSE when the MTA refused for good. */
gboolean cg_issuer_dns_challenge(CgIssuer *iss, CgTxn *txn, const CgOrg *org, const char *domain,
                                 gboolean dispute, gint64 lifetime, gint64 now, gboolean *sent,
                                 gboolean *temporary, GError **error);
/* A dnscheck job: look for the value; validate, schedule the next look, or
 * record the expiry. */
gboolean cg_issuer_run_dnscheck(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                                gboolean *temporary, GError **error);
/* expand.c: a large list's item jobs, CG_LIST_EXPAND_CHUNK at a time. */
gboolean cg_issuer_run_expand(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                              gboolean *temporary, GError **error);
/* invite.c */
gboolean cg_issuer_run_invite(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                              gboolean *temporary, GError **error);
/* notify.c */
gboolean cg_issuer_run_notify(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                              gboolean *temporary, GError **error);
/* perspective.c: multi-perspective corroboration (S/MIME BR 4.2.2.2). */
typedef enum {
	CG_PERSPECTIVE_DOWN = 0, /* no answer: unreachable, TLS failed, a lookup failure */
	CG_PERSPECTIVE_ANSWER,
	CG_PERSPECTIVE_BOGUS,
} CgPerspectiveAnswer;
/* TRUE when primary's records are answered the same by PerspectiveQuorum of
 * the Perspectives (at once when there are none), *said saying so; else
 * CG_ERROR_DNS_TEMP when those not answering could still make the quorum,
 * CG_ERROR_NOT_AUTHORISED when they could not (the answer is not relied on). */
gboolean cg_perspective_corroborate(const CgConf *conf, const char *name, int type,
                                    GPtrArray *primary, char **said, GError **error);
/* The same records (rdata GBytes), in any order. */
gboolean cg_perspective_same(GPtrArray *a, GPtrArray *b);
guint cg_perspective_quorum(const CgConf *conf);
/* A lookup a decision rests on: cg_dns_lookup, then corroborated; *said
 * (caller frees) as above, NULL without perspectives. */
GPtrArray *cg_dns_lookup_corroborated(const CgConf *conf, const char *name, int type, CgDnssec *sec,
                                      char **said, GError **error);
/* smimea.c: the SMIMEA record (RFC 8162, zone-file line, "\n"-ended) for
 * a certificate (DER) of mailbox, or NULL for a mailbox without '@'; the
 * comment heading a file of them. Caller frees the record. */
char *cg_smimea_record(const char *mailbox, GBytes *der);
const char *cg_smimea_heading(void);
/* report.c */
gboolean cg_issuer_run_report(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                              gboolean *temporary, GError **error);

/* outmail.c: helpers every flow's mail uses */
GBytes *cg_p7c_of(X509 *cert, STACK_OF(X509) * chain);
/* A file for composing mail, already unlinked, in TMPDIR. */
FILE *cg_tmp_file(GError **error);
/* A CSV cell, quoted, a leading = + - @ neutralised so that no spreadsheet
 * runs it; last ends the row. */
void cg_csv_cell(GString *out, const char *v, gboolean last);
/* The certificate and then the chain, PEM. */
GBytes *cg_pem_of(X509 *cert, STACK_OF(X509) * chain);
/* A distinguished name for people: RFC 2253 order and escapes, UTF-8 as
 * UTF-8. Caller frees. */
char *cg_x509_name_text(const X509_NAME *name);
/* Composes m for each address in to (NULL-terminated) and submits it. TRUE
 * with *sent when all went; TRUE without *sent when the MTA refused one for
 * good (recorded as mail.failed about `about` in the audit log and logged:
 * retrying cannot help, so the job is done); FALSE with *temporary when the
 * job should run again later. An address the running job's mail went to in
 * an earlier batch that did not commit is skipped (as sent). */
gboolean cg_issuer_send(CgIssuer *iss, CgTxn *txn, CgOutMail *m, char **to, const char *about,
                        gint64 now, gboolean *sent, gboolean *temporary, GError **error);

/* The last OpenSSL error as text (thread-local buffer); clears the queue. */
const char *cg_openssl_error(void);

const char *cg_key_usage_for(EVP_PKEY *key);
const EVP_MD *cg_sign_md(EVP_PKEY *key);
gboolean cg_x509_add_policies(X509 *x, const char *const *oids, GError **error);
gboolean cg_x509_add_ext(X509 *x, X509 *issuer, int nid, const char *value, GError **error);

/* gwenc.c: the gateway's encryption certificate (RSA 3072, keyEncipherment,
 * every gateway address), signed by issuing; written with its key owned by
 * the milter's user. */
gboolean cg_ca_make_gateway_enc(const CgConf *conf, X509 *issuing, EVP_PKEY *issuing_key,
                                gint64 now, X509 **cert, EVP_PKEY **key, GError **error);
gboolean cg_ca_write_gateway_enc(const CgConf *conf, X509 *cert, EVP_PKEY *key, GError **error);
/* The gateway's mail-signing certificate and its new P-256 key, for
 * SenderAddress (the mailbox profile), signed by issuing_key. */
gboolean cg_ca_make_gateway_sign(const CgConf *conf, X509 *issuing, EVP_PKEY *issuing_key,
                                 gint64 now, X509 **cert, EVP_PKEY **key, GError **error);
/* path kept as path.previous, as it is (mode and owner), before a new file
 * is renamed over path; nothing to keep is no error. */
gboolean cg_file_keep_previous(const char *path, GError **error);

/* ca.c */
EVP_PKEY *cg_key_file_load(const char *path, GError **error);
X509 *cg_cert_file_load(const char *path, GError **error);
/* A random positive serial of 16 bytes for x (cainit.c). */
gboolean cg_random_serial(X509 *x, GError **error);
/* Every certificate of a PEM file, in its order (at least one). */
STACK_OF(X509) * cg_chain_file_load(const char *path, GError **error);
gboolean cg_pem_write_key(const char *path, EVP_PKEY *key, uid_t uid, gid_t gid, GError **error);
gboolean cg_pem_write_certs(const char *path, X509 **certs, gsize n, GError **error);

/* crl.c */
GBytes *cg_crl_build(X509 *issuer, EVP_PKEY *key, GPtrArray *entries, guint64 number, gint64 now,
                     gint64 next, GError **error);
/* A serial number in lower-case hex, as certgate writes serials. */
char *cg_serial_hex(const ASN1_INTEGER *serial);
/* The CRL old_der (NULL: none) made again by issuer's key: its entries
 * kept, its CRL number the next one (*number), thisUpdate now. */
GBytes *cg_crl_renew(X509 *issuer, EVP_PKEY *key, GBytes *old_der, gint64 now, gint64 next,
                     guint64 *number, GError **error);
gboolean cg_file_write_atomic(const char *path, GBytes *data, int mode, GError **error);

/* pkcs11.c */
EVP_PKEY *cg_pkcs11_load_key(const CgConf *conf, void **engine, GError **error);
void cg_pkcs11_release(void *engine);
gboolean cg_pkcs11_generate(const CgConf *conf, const char *key_type, GError **error);

#endif
