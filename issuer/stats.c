/*
 * stats.c: the operator's view: what the database holds and what happened
 * in the last 24 hours, with warnings about the CA itself. The same figures
 * make the daily digest (a job: "digest" DATE, to OperatorAddress) and
 * `certgate stats` (text, --json, --prometheus).
 *
 * Counts are read from committed state: the records (one pass over each
 * kind), the audit log back to 24 hours ago (issued, refused with their
 * reasons, revoked), the job queue; the warnings from the issuing CA's
 * certificate, the CRL file and the disk under DbHome.
 * Never: writes anything but the digest's mail and its audit entry.
 */
#include "issuer-int.h"
#include "daemon.h"

#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>

#define DAY        86400
#define SOON       (30 * DAY)
#define TOP        5
#define MAX_LISTED 20

void
cg_stats_free(CgStats *s)
{
	if (s == NULL)
		return;
	g_hash_table_unref(s->reasons);
	g_ptr_array_unref(s->top_reasons);
	g_ptr_array_unref(s->expiring_domains);
	g_ptr_array_unref(s->pending_orgs);
	g_ptr_array_unref(s->orgs_ending);
	g_ptr_array_unref(s->warnings);
	g_free(s);
}

static gboolean
count_org(gconstpointer rec, gpointer data)
{
	const CgOrg *o = rec;
	CgStats *s = data;

	if (o->status == CG_ORG_ACTIVE) {
		s->orgs_active++;
		if (o->confirm_request != NULL && s->orgs_ending->len < MAX_LISTED)
			g_ptr_array_add(
			    s->orgs_ending,
			    g_strdup_printf("organisation %s (%s) is confirmed by its "
			                    "contact's letter %s: check the register and "
			                    "approve it again (certgate org approve %s)",
			                    o->id, o->name, o->confirm_request, o->id));
		if (o->validated_at + s->org_reuse <= s->now + s->org_renewal &&
		    s->orgs_ending->len < MAX_LISTED) {
			g_autofree char *until = cg_time_iso(o->validated_at + s->org_reuse);

			g_ptr_array_add(
			    s->orgs_ending,
			    g_strdup_printf(
			        "organisation %s (%s): its validation %s %s%s", o->id, o->name,
			        o->validated_at + s->org_reuse > s->now ? "ends" : "ended", until,
			        o->validated_at + s->org_reuse > s->now
			            ? ""
			            : "; it issues nothing until confirmed "
			              "and approved again"));
		}
	} else if (o->status == CG_ORG_PENDING) {
		s->orgs_pending++;
		if (s->pending_orgs->len < MAX_LISTED)
			g_ptr_array_add(s->pending_orgs,
			                g_strdup_printf("%s %s (%s)", o->id, o->name, o->org_identifier));
	} else {
		s->orgs_other++;
	}
	return TRUE;
}

static gboolean
count_domain(gconstpointer rec, gpointer data)
{
	const CgDomain *d = rec;
	CgStats *s = data;

	if (d->status != CG_DOMAIN_VALIDATED) {
		s->domains_pending++;
	} else if (d->expires_at <= s->now) {
		s->domains_lapsed++;
	} else {
		s->domains_validated++;
		if (g_strcmp0(d->method, CG_METHOD_EMAIL) == 0)
			s->domains_email++;
		else if (g_strcmp0(d->method, CG_METHOD_OPERATOR) == 0)
			s->domains_operator++;
		if (d->expires_at <= s->now + SOON) {
			g_autofree char *until = cg_time_iso(d->expires_at);

			s->domains_expiring++;
			if (s->expiring_domains->len < MAX_LISTED)
				g_ptr_array_add(s->expiring_domains,
				                g_strdup_printf("%s (organisation %s, %s)", d->domain,
				                                d->org_id, until));
		}
	}
	return TRUE;
}

/* A certificate of the next SOON seconds (certs_by_expiry). */
static gboolean
count_expiring(gconstpointer rec, gpointer data)
{
	const CgCert *c = rec;
	CgStats *s = data;

	if (c->status != CG_CERT_REVOKED && c->not_after > s->now &&
	    c->not_after <= s->now + SOON && (c->renewed_by == NULL || !*c->renewed_by))
		s->certs_expiring++;
	return TRUE;
}

/* The certificates and held requests, counted through their indexes'
 * keys: reading every certificate and request record took most of 47 s
 * at 10^6 certificates, every five minutes from certgate-stats.timer. */
static gboolean
count_certs_and_requests(CgStore *store, CgStats *s, GError **error)
{
	CgCertCounts n;
	guint64 held = 0;

	if (!cg_store_cert_counts(store, s->now, &n, error) ||
	    !cg_store_foreach_expiring(store, NULL, s->now + 1, s->now + SOON, count_expiring, s,
	                               error) ||
	    !cg_store_requests_held(store, &held, error))
		return FALSE;
	s->certs_valid = (guint)n.valid;
	s->certs_expired = (guint)n.expired;
	s->certs_revoked = (guint)n.revoked;
	s->requests_held = (guint)held;
	return TRUE;
}

/* A refusal's reason with its particulars (mailboxes, domains, numbers)
 * made placeholders, so that like reasons count together. */
static char *
reason_class(const char *detail)
{
	const char *colon = strstr(detail, ": ");
	const char *why = colon && memchr(detail, '@', (gsize)(colon - detail)) ? colon + 2 : detail;
	g_auto(GStrv) words = g_strsplit(why, " ", -1);
	g_autoptr(GString) out = g_string_new(NULL);
	char **w;

	for (w = words; *w != NULL && out->len < 100; w++) {
		const char *x = *w;
		gboolean digits = *x != '\0' && strspn(x, "0123456789abcdef;,.()") == strlen(x) &&
		                  strspn(x, "0123456789") > 0;

		if (out->len > 0)
			g_string_append_c(out, ' ');
		if (strchr(x, '@') != NULL)
			g_string_append(out, "ADDRESS");
		else if (strchr(x, '.') != NULL && strchr(x, '.') != x + strlen(x) - 1 &&
		         g_ascii_isalpha(x[0]))
			g_string_append(out, "DOMAIN");
		else if (digits)
			g_string_append(out, "N");
		else
			g_string_append(out, x);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static gboolean
count_event(gconstpointer rec, gpointer data)
{
	const CgAuditEntry *e = rec;
	CgStats *s = data;

	if (strcmp(e->action, "cert.issue") == 0) {
		s->issued++;
	} else if (strcmp(e->action, "cert.revoke") == 0) {
		s->revoked++;
	} else if (strcmp(e->action, "cert.refuse") == 0 || strcmp(e->action, "item.refuse") == 0 ||
	           strcmp(e->action, "invite.expire") == 0 ||
	           strcmp(e->action, "invite.undeliverable") == 0) {
		char *k = reason_class(e->detail);

		s->refused++;
		g_hash_table_insert(s->reasons, k,
		                    GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(s->reasons, k)) + 1));
	} else if (strcmp(e->action, "cert.remind") == 0) {
		s->reminded++;
	} else if (strcmp(e->action, "cert.renew") == 0) {
		s->renewals++;
	}
	return TRUE;
}

static gint
by_count(gconstpointer a, gconstpointer b)
{
	const CgReasonCount *x = *(CgReasonCount *const *)a, *y = *(CgReasonCount *const *)b;

	return x->n != y->n ? (x->n < y->n ? 1 : -1) : strcmp(x->reason, y->reason);
}

static void
reason_free(gpointer p)
{
	CgReasonCount *r = p;

	g_free(r->reason);
	g_free(r);
}

static void
top_reasons(CgStats *s)
{
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, s->reasons);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		CgReasonCount *r = g_new0(CgReasonCount, 1);

		r->reason = g_strdup(k);
		r->n = GPOINTER_TO_UINT(v);
		g_ptr_array_add(s->top_reasons, r);
	}
	g_ptr_array_sort(s->top_reasons, by_count);
	if (s->top_reasons->len > TOP)
		g_ptr_array_set_size(s->top_reasons, TOP);
}

/* The root CRL beside the CRL (ca init wrote it, good for 365 days; only
 * the root's key, offline, makes it again): a warning 30 days before its
 * nextUpdate, and after it. None when there is no such file (a CA brought
 * from elsewhere publishes its root's CRL itself). */
static void
root_crl_warning(CgStats *s, const CgConf *conf)
{
	g_autofree char *path = cg_ca_root_crl_path(conf);
	g_autofree char *until = NULL;

	s->root_crl_next = cg_ca_root_crl_next(conf);
	if (s->root_crl_next == 0)
		return;
	if (s->root_crl_next < 0) {
		s->root_crl_next = 0;
		g_ptr_array_add(s->warnings,
		                g_strdup_printf("the root CRL %s cannot be read", path));
		return;
	}
	if (s->root_crl_next - s->now >= 30 * DAY)
		return;
	until = cg_time_iso(s->root_crl_next);
	g_ptr_array_add(
	    s->warnings,
	    g_strdup_printf(s->root_crl_next <= s->now
	                        ? "the root CRL %s expired on %s: relying parties that check "
	                          "revocation refuse the issuing CA and every certificate under "
	                          "it; make it again with the root's key (certgate ca root-crl "
	                          "--root-key FILE)"
	                        : "the root CRL %s is good until %s: make it again with the root's "
	                          "key before then (certgate ca root-crl --root-key FILE)",
	                    path, until));
}

/* The end of the certificate in path; 0 when it cannot be read. */
static gint64
cert_end(const char *path)
{
	X509 *x = path ? cg_cert_file_load(path, NULL) : NULL;
	gint64 end = x ? cg_asn1_time_unix(X509_get0_notAfter(x)) : 0;

	X509_free(x);
	return end;
}

/* The gateway's own certificates, 30 days before their end and after it:
 * the signing one (the issuer's mail, its queries to the perspectives) and
 * the encryption one (what clients encrypt to). */
static void
gateway_warnings(CgStats *s, const CgConf *conf)
{
	const struct {
		const char *path, *what, *command;
		gint64 *end;
	} certs[] = {
	    {conf->gateway_certificate, "signing", "certgate ca gateway-renew", &s->gw_not_after},
	    {conf->gateway_enc_certificate, "encryption", "certgate ca gateway-rekey",
	     &s->enc_not_after},
	};
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(certs); i++) {
		g_autofree char *until = NULL;

		*certs[i].end = cert_end(certs[i].path);
		if (*certs[i].end == 0 || *certs[i].end - s->now >= 30 * DAY)
			continue;
		until = cg_time_iso(*certs[i].end);
		g_ptr_array_add(s->warnings,
		                g_strdup_printf("the gateway's %s certificate %s %s %s: make a new "
		                                "one (%s)",
		                                certs[i].what, certs[i].path,
		                                *certs[i].end <= s->now ? "ended on" : "ends on",
		                                until, certs[i].command));
	}
}

/* The CA itself: its certificate's expiry, the CRL's age, the disk. */
static void
ca_warnings(CgStats *s, const CgConf *conf)
{
	struct stat st;
	struct statvfs vfs;

	s->ca_not_after = cert_end(conf->ca_certificate);
	if (s->ca_not_after == 0) {
		g_ptr_array_add(s->warnings, g_strdup_printf("the issuing CA's certificate %s cannot "
		                                             "be read",
		                                             conf->ca_certificate));
	} else if (s->ca_not_after - s->now < conf->max_validity * DAY) {
		g_autofree char *until = cg_time_iso(s->ca_not_after);

		g_ptr_array_add(s->warnings,
		                g_strdup_printf("the issuing CA expires on %s, sooner than "
		                                "MaxValidity (%" G_GINT64_FORMAT
		                                " days) from now: certificates issued now end "
		                                "with it; make its certificate again with the "
		                                "root's key (certgate ca renew-issuing "
		                                "--root-key FILE)",
		                                until, conf->max_validity));
	}
	root_crl_warning(s, conf);
	gateway_warnings(s, conf);
	if (stat(conf->crl_path, &st) == 0) {
		s->crl_age = s->now - (gint64)st.st_mtime;
		if (s->crl_age > conf->crl_interval + 3600)
			g_ptr_array_add(s->warnings,
			                g_strdup_printf("the CRL %s was last written %" G_GINT64_FORMAT
			                                " hours ago, longer than CrlInterval; is "
			                                "certgate-issuer running?",
			                                conf->crl_path, s->crl_age / 3600));
	} else {
		s->crl_age = -1;
		g_ptr_array_add(s->warnings, g_strdup_printf("there is no CRL at %s", conf->crl_path));
	}
	if (statvfs(conf->db_home, &vfs) == 0) {
		s->disk_free = (guint64)vfs.f_bavail * (guint64)vfs.f_frsize;
		if (s->disk_free < (guint64)conf->disk_space_warning)
			g_ptr_array_add(s->warnings,
			                g_strdup_printf("only %" G_GUINT64_FORMAT " MiB free under %s "
			                                "(DiskSpaceWarning)",
			                                s->disk_free >> 20, conf->db_home));
	}
}

/* Validations whose method the rules discourage or the trust model refuses. */
static void
method_warnings(CgStats *s, const CgConf *conf)
{
	gboolean pub = cg_conf_public_trust(conf);
	const char *w = cg_policy_domain_method_warning(CG_METHOD_EMAIL, s->now);
	g_autofree char *refused = cg_policy_domain_method(CG_METHOD_EMAIL, pub, s->now);

	if (s->domains_email > 0 && (w != NULL || refused != NULL))
		g_ptr_array_add(s->warnings,
		                g_strdup_printf("%u validated domain%s rest%s on the e-mail method "
		                                "(%s)%s",
		                                s->domains_email, s->domains_email == 1 ? "" : "s",
		                                s->domains_email == 1 ? "s" : "",
		                                refused ? refused : w,
		                                refused ? ": they issue nothing" : ""));
	if (s->domains_operator > 0 && pub)
		g_ptr_array_add(
		    s->warnings,
		    g_strdup_printf("%u validated domain%s rest%s on operator attestation, "
		                    "which TrustModel public does not accept: they issue "
		                    "nothing",
		                    s->domains_operator, s->domains_operator == 1 ? "" : "s",
		                    s->domains_operator == 1 ? "s" : ""));
}

CgStats *
cg_stats_gather(const CgConf *conf, CgStore *store, gint64 now, GError **error)
{
	CgStats *s = g_new0(CgStats, 1);

	s->now = now;
	s->reasons = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	s->top_reasons = g_ptr_array_new_with_free_func(reason_free);
	s->expiring_domains = g_ptr_array_new_with_free_func(g_free);
	s->pending_orgs = g_ptr_array_new_with_free_func(g_free);
	s->orgs_ending = g_ptr_array_new_with_free_func(g_free);
	s->org_reuse = conf->org_reuse;
	s->org_renewal = conf->org_renewal;
	s->warnings = g_ptr_array_new_with_free_func(g_free);
	if (!cg_store_foreach(store, NULL, CG_REC_ORG, count_org, s, error) ||
	    !cg_store_foreach(store, NULL, CG_REC_DOMAIN, count_domain, s, error) ||
	    !count_certs_and_requests(store, s, error) ||
	    !cg_store_audit_since(store, now - DAY, count_event, s, error) ||
	    !cg_store_job_count(store, &s->jobs_queued, &s->jobs_deferred, error)) {
		cg_stats_free(s);
		return NULL;
	}
	top_reasons(s);
	ca_warnings(s, conf);
	if (!cg_ca_files_check(store, conf, s->warnings, error)) {
		cg_stats_free(s);
		return NULL;
	}
	method_warnings(s, conf);
	{
		guint i;

		for (i = 0; i < s->orgs_ending->len; i++)
			g_ptr_array_add(s->warnings, g_strdup(s->orgs_ending->pdata[i]));
	}
	return s;
}

char *
cg_stats_text(const CgStats *s, const char *gateway_domain)
{
	GString *t = g_string_new(NULL);
	g_autofree char *at = cg_time_iso(s->now);
	guint i;

	g_string_append_printf(t, "certgate at %s, %s\n\n", gateway_domain, at);
	g_string_append_printf(t, "Organisations   %u active, %u pending, %u other\n", s->orgs_active,
	                       s->orgs_pending, s->orgs_other);
	for (i = 0; i < s->pending_orgs->len; i++)
		g_string_append_printf(t, "  pending       %s\n", (char *)s->pending_orgs->pdata[i]);
	g_string_append_printf(t, "Requests held   %u (waiting for an admin's confirmation)\n",
	                       s->requests_held);
	g_string_append_printf(t,
	                       "Certificates    %u valid, %u expired, %u revoked; %u expire "
	                       "within 30 days\n",
	                       s->certs_valid, s->certs_expired, s->certs_revoked,
	                       s->certs_expiring);
	g_string_append_printf(t,
	                       "Last 24 hours   %u issued, %u refused, %u revoked, %u reminded, "
	                       "%u renewals asked\n",
	                       s->issued, s->refused, s->revoked, s->reminded, s->renewals);
	for (i = 0; i < s->top_reasons->len; i++) {
		const CgReasonCount *r = s->top_reasons->pdata[i];

		g_string_append_printf(t, "  refused %4u  %s\n", r->n, r->reason);
	}
	g_string_append_printf(t, "Domains         %u validated, %u pending, %u lapsed; %u expire "
	                          "within 30 days\n",
	                       s->domains_validated, s->domains_pending, s->domains_lapsed,
	                       s->domains_expiring);
	for (i = 0; i < s->expiring_domains->len; i++)
		g_string_append_printf(t, "  expiring      %s\n",
		                       (char *)s->expiring_domains->pdata[i]);
	g_string_append_printf(t,
	                       "Jobs            %" G_GUINT64_FORMAT " queued, %" G_GUINT64_FORMAT
	                       " deferred (reminders, retries)\n",
	                       s->jobs_queued, s->jobs_deferred);
	if (s->warnings->len == 0)
		g_string_append(t, "Warnings        none\n");
	for (i = 0; i < s->warnings->len; i++)
		g_string_append_printf(t, "WARNING         %s\n", (char *)s->warnings->pdata[i]);
	return g_string_free(t, FALSE);
}

static void
json_str(GString *o, const char *v)
{
	g_autofree char *e = g_strescape(v, "");

	g_string_append_printf(o, "\"%s\"", e);
}

static void
json_list(GString *o, const char *name, GPtrArray *v)
{
	guint i;

	g_string_append_printf(o, ",\"%s\":[", name);
	for (i = 0; i < v->len; i++) {
		if (i > 0)
			g_string_append_c(o, ',');
		json_str(o, v->pdata[i]);
	}
	g_string_append_c(o, ']');
}

char *
cg_stats_json(const CgStats *s)
{
	GString *o = g_string_new(NULL);
	guint i;

	g_string_append_printf(
	    o,
	    "{\"time\":%" G_GINT64_FORMAT ",\"organisations\":{\"active\":%u,\"pending\":%u,"
	    "\"other\":%u},\"requestsHeld\":%u,\"certificates\":{\"valid\":%u,\"expired\":%u,"
	    "\"revoked\":%u,\"expiring30d\":%u},\"last24h\":{\"issued\":%u,\"refused\":%u,"
	    "\"revoked\":%u,\"reminded\":%u,\"renewals\":%u},\"domains\":{\"validated\":%u,"
	    "\"pending\":%u,\"lapsed\":%u,\"expiring30d\":%u},\"jobs\":{\"queued\":"
	    "%" G_GUINT64_FORMAT ",\"deferred\":%" G_GUINT64_FORMAT
	    "},\"caNotAfter\":%" G_GINT64_FORMAT ",\"rootCrlNextUpdate\":%" G_GINT64_FORMAT
	    ",\"gatewayNotAfter\":%" G_GINT64_FORMAT
	    ",\"gatewayEncryptionNotAfter\":%" G_GINT64_FORMAT
	    ",\"crlAgeSeconds\":%" G_GINT64_FORMAT ",\"diskFreeBytes\":%" G_GUINT64_FORMAT,
	    s->now, s->orgs_active, s->orgs_pending, s->orgs_other, s->requests_held,
	    s->certs_valid, s->certs_expired, s->certs_revoked, s->certs_expiring, s->issued,
	    s->refused, s->revoked, s->reminded, s->renewals, s->domains_validated,
	    s->domains_pending, s->domains_lapsed, s->domains_expiring, s->jobs_queued,
	    s->jobs_deferred, s->ca_not_after, s->root_crl_next, s->gw_not_after, s->enc_not_after,
	    s->crl_age, s->disk_free);
	g_string_append(o, ",\"topRefusals\":[");
	for (i = 0; i < s->top_reasons->len; i++) {
		const CgReasonCount *r = s->top_reasons->pdata[i];

		g_string_append_printf(o, "%s{\"count\":%u,\"reason\":", i ? "," : "", r->n);
		json_str(o, r->reason);
		g_string_append_c(o, '}');
	}
	g_string_append_c(o, ']');
	json_list(o, "pendingOrganisations", s->pending_orgs);
	json_list(o, "expiringDomains", s->expiring_domains);
	json_list(o, "warnings", s->warnings);
	g_string_append(o, "}\n");
	return g_string_free(o, FALSE);
}

static void
metric(GString *o, const char *name, const char *help)
{
	g_string_append_printf(o, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

char *
cg_stats_prometheus(const CgStats *s)
{
	GString *o = g_string_new(NULL);

	metric(o, "certgate_organisations", "Organisations by status.");
	g_string_append_printf(o, "certgate_organisations{status=\"active\"} %u\n", s->orgs_active);
	g_string_append_printf(o, "certgate_organisations{status=\"pending\"} %u\n",
	                       s->orgs_pending);
	g_string_append_printf(o, "certgate_organisations{status=\"other\"} %u\n", s->orgs_other);
	metric(o, "certgate_requests_held", "Enrolment and status requests held for confirmation.");
	g_string_append_printf(o, "certgate_requests_held %u\n", s->requests_held);
	metric(o, "certgate_certificates", "Certificates by state.");
	g_string_append_printf(o, "certgate_certificates{state=\"valid\"} %u\n", s->certs_valid);
	g_string_append_printf(o, "certgate_certificates{state=\"expired\"} %u\n", s->certs_expired);
	g_string_append_printf(o, "certgate_certificates{state=\"revoked\"} %u\n", s->certs_revoked);
	metric(o, "certgate_certificates_expiring", "Valid certificates, not renewed, that expire within 30 days.");
	g_string_append_printf(o, "certgate_certificates_expiring %u\n", s->certs_expiring);
	metric(o, "certgate_events_last_day", "Events in the last 24 hours, from the audit log.");
	g_string_append_printf(o, "certgate_events_last_day{event=\"issued\"} %u\n", s->issued);
	g_string_append_printf(o, "certgate_events_last_day{event=\"refused\"} %u\n", s->refused);
	g_string_append_printf(o, "certgate_events_last_day{event=\"revoked\"} %u\n", s->revoked);
	g_string_append_printf(o, "certgate_events_last_day{event=\"reminded\"} %u\n", s->reminded);
	g_string_append_printf(o, "certgate_events_last_day{event=\"renewal\"} %u\n", s->renewals);
	metric(o, "certgate_domains", "Domains by validation state.");
	g_string_append_printf(o, "certgate_domains{state=\"validated\"} %u\n", s->domains_validated);
	g_string_append_printf(o, "certgate_domains{state=\"pending\"} %u\n", s->domains_pending);
	g_string_append_printf(o, "certgate_domains{state=\"lapsed\"} %u\n", s->domains_lapsed);
	metric(o, "certgate_domains_expiring", "Validated domains whose validation ends within 30 days.");
	g_string_append_printf(o, "certgate_domains_expiring %u\n", s->domains_expiring);
	metric(o, "certgate_jobs", "Issuer jobs queued now and deferred until later.");
	g_string_append_printf(o, "certgate_jobs{state=\"queued\"} %" G_GUINT64_FORMAT "\n",
	                       s->jobs_queued);
	g_string_append_printf(o, "certgate_jobs{state=\"deferred\"} %" G_GUINT64_FORMAT "\n",
	                       s->jobs_deferred);
	metric(o, "certgate_ca_not_after_timestamp_seconds", "When the issuing CA's certificate expires.");
	g_string_append_printf(o, "certgate_ca_not_after_timestamp_seconds %" G_GINT64_FORMAT "\n",
	                       s->ca_not_after);
	metric(o, "certgate_gateway_not_after_timestamp_seconds",
	       "When the gateway's own certificates end (0: none).");
	g_string_append_printf(
	    o,
	    "certgate_gateway_not_after_timestamp_seconds{certificate=\"signing\"} "
	    "%" G_GINT64_FORMAT "\n"
	    "certgate_gateway_not_after_timestamp_seconds{certificate="
	    "\"encryption\"} %" G_GINT64_FORMAT "\n",
	    s->gw_not_after, s->enc_not_after);
	metric(o, "certgate_root_crl_next_update_timestamp_seconds",
	       "The root CRL's nextUpdate (0: no root CRL beside the CRL).");
	g_string_append_printf(
	    o, "certgate_root_crl_next_update_timestamp_seconds %" G_GINT64_FORMAT "\n",
	    s->root_crl_next);
	metric(o, "certgate_crl_age_seconds", "Seconds since the CRL file was written (-1: none).");
	g_string_append_printf(o, "certgate_crl_age_seconds %" G_GINT64_FORMAT "\n", s->crl_age);
	metric(o, "certgate_db_free_bytes", "Bytes free on the file system under DbHome.");
	g_string_append_printf(o, "certgate_db_free_bytes %" G_GUINT64_FORMAT "\n", s->disk_free);
	metric(o, "certgate_warnings", "Warnings about the CA itself (see certgate stats).");
	g_string_append_printf(o, "certgate_warnings %u\n", s->warnings->len);
	return g_string_free(o, FALSE);
}

/* ---- the daily digest ---- */

gboolean
cg_issuer_run_digest(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                     gboolean *temporary, GError **error)
{
	g_autofree char *text = NULL, *subject = NULL, *body = NULL, *detail = NULL;
	char *to[2] = {iss->conf->operator_address, NULL};
	CgOutMail m = {0};
	gboolean sent = FALSE, ok;
	CgStats *s;

	if (*iss->conf->operator_address == '\0')
		return TRUE; /* OperatorAddress unset since it was queued */
	if ((s = cg_stats_gather(iss->conf, iss->store, now, error)) == NULL)
		return FALSE;
	body = cg_stats_text(s, iss->conf->gateway_domain);
	subject = g_strdup_printf("certgate digest %s: %u issued, %u refused, %u warning%s", job->id,
	                          s->issued, s->refused, s->warnings->len,
	                          s->warnings->len == 1 ? "" : "s");
	text = g_strdup_printf("Hello,\n\nthe day at the certificate authority, as the database "
	                       "tells it (the same figures as\n`certgate stats`):\n\n%s\n-- \n"
	                       "certgate at %s\n",
	                       body, iss->conf->gateway_domain);
	m.subject = subject;
	m.text = text;
	ok = cg_issuer_send(iss, txn, &m, to, job->id, now, &sent, temporary, error);
	g_free(m.message_id);
	if (ok && sent) {
		detail = g_strdup_printf("to %s: %u issued, %u refused, %u revoked, %u warnings",
		                         iss->conf->operator_address, s->issued, s->refused,
		                         s->revoked, s->warnings->len);
		ok = cg_store_audit_append(txn, now, "issuer", "digest.sent", job->id, detail, error);
	}
	cg_stats_free(s);
	return ok;
}

/* Queues the digest when DigestTime has come; the next one is recorded in
 * the same transaction, so that it is queued once however many issuers run. */
typedef struct {
	CgIssuer *iss;
	gint64 now;
} DigestTick;

static gboolean
digest_txn(CgTxn *txn, gpointer data, GError **error)
{
	CgIssuer *iss = ((DigestTick *)data)->iss;
	gint64 now = ((DigestTick *)data)->now;
	g_autoptr(GError) err = NULL;
	g_autofree char *next = cg_store_meta_get(iss->store, txn, "digest-next", &err);
	g_autofree char *later = NULL, *day = NULL;
	g_autoptr(GDateTime) dt = NULL;
	gint64 due;

	if (next == NULL && !cg_error_absent(&err, error))
		return FALSE;
	due = next ? g_ascii_strtoll(next, NULL, 10) : cg_conf_next_digest(iss->conf, now);
	iss->next_digest = due;
	if (next != NULL && now < due)
		return TRUE;
	later = g_strdup_printf("%" G_GINT64_FORMAT, cg_conf_next_digest(iss->conf, now));
	if (next != NULL) {
		dt = g_date_time_new_from_unix_utc(due);
		day = g_date_time_format(dt, "%Y-%m-%d");
		if (!cg_store_job_append(txn, CG_JOB_DIGEST, day, error))
			return FALSE;
	}
	iss->next_digest = g_ascii_strtoll(later, NULL, 10);
	return cg_store_meta_put(txn, "digest-next", later, error);
}

void
cg_issuer_digest_tick(CgIssuer *iss, gint64 now)
{
	g_autoptr(GError) err = NULL;
	DigestTick d = {iss, now};

	if (*iss->conf->operator_address == '\0' || now < iss->next_digest)
		return;
	if (!cg_store_transact(iss->store, digest_txn, &d, &err)) {
		cg_log(LOG_ERR, "digest: %s", err->message);
		iss->next_digest = now + 60;
	}
}
