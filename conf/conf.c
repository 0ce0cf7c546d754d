/*
 * conf.c: the key table and the certgate.conf parser.
 *
 * One table holds every key: name, type, default, bounds. Defaults go through
 * the same value parser as the file, so a default can never be a value the
 * file could not hold (the value syntax is values.c's). All problems are
 * collected and reported together.
 */
#include "conf-int.h"
#include "common.h"

#include <stddef.h>
#include <string.h>
#include <syslog.h>

typedef struct {
	const char *name;
	KeyType type;
	const char *def; /* NULL: no default; "%d" stands for GatewayDomain */
	gboolean required;
	gsize offset;
	gint64 min, max;
	const char *choices; /* T_ENUM: "a|b|c" */
} Key;

#define F(m) offsetof(CgConf, m)

static const Key keys[] = {
    {"Socket", T_SOCKET, "unix:/run/certgate/milter.sock", FALSE, F(socket), 0, 0, NULL},
    {"SocketMode", T_MODE, "0660", FALSE, F(socket_mode), 0, 0777, NULL},
    {"SocketGroup", T_STRING, "", FALSE, F(socket_group), 0, 0, NULL},
    {"AllowInetSocket", T_BOOL, "no", FALSE, F(allow_inet_socket), 0, 0, NULL},
    {"UserID", T_STRING, "certgate", FALSE, F(user_id), 0, 0, NULL},
    {"PidFile", T_PATH, "/run/certgate/certgate-milter.pid", FALSE, F(pid_file), 0, 0, NULL},
    {"MaxMessageSize", T_SIZE, "10M", FALSE, F(max_message_size), 1024, (gint64)1 << 30, NULL},
    {"AfterAccept", T_ENUM, "discard", FALSE, F(after_accept), 0, 0, "discard|deliver"},
    {"TempDir", T_PATH, "/var/lib/certgate/tmp", FALSE, F(temp_dir), 0, 0, NULL},
    {"IssuerUserID", T_STRING, "certgate-ca", FALSE, F(issuer_user_id), 0, 0, NULL},
    {"IssuerPidFile", T_PATH, "/run/certgate/certgate-issuer.pid", FALSE, F(issuer_pid_file), 0, 0,
     NULL},
    {"Sendmail", T_LIST, "/usr/sbin/sendmail", FALSE, F(sendmail), 1, 16, NULL},
    {"DbHome", T_PATH, "/var/lib/certgate/db", FALSE, F(db_home), 0, 0, NULL},
    {"EvidenceDir", T_PATH, "/var/lib/certgate/evidence", FALSE, F(evidence_dir), 0, 0, NULL},
    {"GatewayDomain", T_DOMAIN, NULL, TRUE, F(gateway_domain), 0, 0, NULL},
    {"LetterAddress", T_ADDRESS, "request@%d", FALSE, F(letter_address), 0, 0, NULL},
    {"EnrollAddress", T_ADDRESS, "enroll@%d", FALSE, F(enroll_address), 0, 0, NULL},
    {"ChallengeAddress", T_ADDRESS, "challenge@%d", FALSE, F(challenge_address), 0, 0, NULL},
    {"RevokeAddress", T_ADDRESS, "revoke@%d", FALSE, F(revoke_address), 0, 0, NULL},
    {"SenderAddress", T_ADDRESS, "certgate@%d", FALSE, F(sender_address), 0, 0, NULL},
    {"BounceAddress", T_ADDRESS, "bounces@%d", FALSE, F(bounce_address), 0, 0, NULL},
    /* SBR/TLS BR limits: postmaster-style challenges at most 30 days,
     * mailbox-control random values at most 24 hours, domain reuse 398 days. */
    {"ChallengeLifetime", T_DURATION, "24h", FALSE, F(challenge_lifetime), MIN_, 30 * D_, NULL},
    {"InviteLifetime", T_DURATION, "24h", FALSE, F(invite_lifetime), MIN_, 24 * H_, NULL},
    {"DomainReuse", T_DURATION, "398d", FALSE, F(domain_reuse), H_, 398 * D_, NULL},
    {"DomainRenewal", T_DURATION, "30d", FALSE, F(domain_renewal), 0, 397 * D_, NULL},
    /* A signed mail (letter, enrolment, revocation) is taken this long
     * after its signingTime. */
    {"SignedMailMaxAge", T_DURATION, "7d", FALSE, F(signed_mail_max_age), H_, 30 * D_, NULL},
    {"ChallengeAlignment", T_ENUM, "strict", FALSE, F(challenge_alignment), 0, 0,
     "strict|relaxed"},
    {"ReplyAuth", T_ENUM, "dmarc", FALSE, F(reply_auth), 0, 0, "dmarc|spf|dkim"},
    {"EnrollAuth", T_ENUM, "signed-or-confirm", FALSE, F(enroll_auth), 0, 0,
     "signed-or-confirm|signed|confirm"},
    {"LetterTrustAnchors", T_PATH, "/etc/certgate/letter-anchors.pem", FALSE,
     F(letter_trust_anchors), 0, 0, NULL},
    {"AdminTrustAnchors", T_PATH, "/etc/certgate/admin-anchors.pem", FALSE, F(admin_trust_anchors),
     0, 0, NULL},
    {"CaaIdentities", T_LIST, "%d", FALSE, F(caa_identities), 1, 16, NULL},
    {"MaxBulkRows", T_INT, "10000", FALSE, F(max_bulk_rows), 1, 100000, NULL},
    {"CACertificate", T_PATH, "/etc/certgate/ca/issuing-ca.pem", FALSE, F(ca_certificate), 0, 0,
     NULL},
    {"CAChain", T_PATH, "/etc/certgate/ca/chain.pem", FALSE, F(ca_chain), 0, 0, NULL},
    {"CAKey", T_KEYREF, "/etc/certgate/ca/issuing-ca.key", FALSE, F(ca_key), 0, 0, NULL},
    {"PKCS11Module", T_PATH, "", FALSE, F(pkcs11_module), 0, 0, NULL},
    {"PKCS11PinFile", T_PATH, "", FALSE, F(pkcs11_pin_file), 0, 0, NULL},
    {"GatewayCertificate", T_PATH, "/etc/certgate/ca/gateway.pem", FALSE, F(gateway_certificate), 0,
     0, NULL},
    {"GatewayKey", T_PATH, "/etc/certgate/ca/gateway.key", FALSE, F(gateway_key), 0, 0, NULL},
    /* Mail encrypted to the gateway: a certificate apart from the signing
     * one; its key readable by the milter's user alone. The one it replaced
     * (PATH.previous) still decrypts for the overlap. */
    {"GatewayEncryptionCertificate", T_PATH, "/etc/certgate/ca/gateway-enc.pem", FALSE,
     F(gateway_enc_certificate), 0, 0, NULL},
    {"GatewayEncryptionKey", T_PATH, "/etc/certgate/ca/gateway-enc.key", FALSE,
     F(gateway_enc_key), 0, 0, NULL},
    {"GatewayEncryptionOverlap", T_DURATION, "90d", FALSE, F(gateway_enc_overlap), 0, 825 * D_,
     NULL},
    {"CertificateProfile", T_ENUM, "strict", FALSE, F(certificate_profile), 0, 0,
     "strict|multipurpose"},
    {"DefaultValidity", T_INT, "730", FALSE, F(default_validity), 1, 825, NULL},
    {"MaxValidity", T_INT, "825", FALSE, F(max_validity), 1, 825, NULL},
    {"DeliverToSubject", T_BOOL, "no", FALSE, F(deliver_to_subject), 0, 0, NULL},
    {"CrlPath", T_PATH, "/var/lib/certgate/crl/issuing-ca.crl", FALSE, F(crl_path), 0, 0, NULL},
    {"CrlUrl", T_URL, "http://%d/crl/issuing-ca.crl", FALSE, F(crl_url), 0, 0, NULL},
    {"CaIssuersUrl", T_URL, "http://%d/ca/issuing-ca.cer", FALSE, F(ca_issuers_url), 0, 0, NULL},
    /* SBR 4.9.7: a CRL at least every 7 days, nextUpdate at most 10 days on. */
    {"CrlInterval", T_DURATION, "1d", FALSE, F(crl_interval), MIN_, 7 * D_, NULL},
    {"CrlNextUpdate", T_DURATION, "7d", FALSE, F(crl_next_update), H_, 10 * D_, NULL},
    {"LogFacility", T_ENUM, "mail", FALSE, F(log_facility), 0, 0,
     "mail|daemon|user|local0|local1|local2|local3|local4|local5|local6|local7"},
    {"LogLevel", T_ENUM, "info", FALSE, F(log_level), 0, 0, "err|warning|notice|info|debug"},
};

G_STATIC_ASSERT(G_N_ELEMENTS(keys) <= sizeof(((CgConf *)0)->set));

#define MAX_FILE (1024 * 1024)
#define MAX_LINE 4096

typedef struct {
	const char *name; /* file name for messages */
	const char *basedir;
	GArray *problems; /* Problem, reported sorted by line */
} Ctx;

typedef struct {
	guint line; /* 0: the file as a whole, reported last */
	guint seq;
	char *text;
} Problem;

static void G_GNUC_PRINTF(4, 5) problem(Ctx *ctx, guint line, const Key *key, const char *fmt, ...)
{
	va_list ap;
	GString *t = g_string_new(NULL);
	Problem p;

	if (line > 0)
		g_string_append_printf(t, "%s:%u: ", ctx->name, line);
	else
		g_string_append_printf(t, "%s: ", ctx->name);
	if (key != NULL)
		g_string_append_printf(t, "%s: ", key->name);
	va_start(ap, fmt);
	g_string_append_vprintf(t, fmt, ap);
	va_end(ap);
	p.line = line;
	p.seq = ctx->problems->len;
	p.text = g_string_free(t, FALSE);
	g_array_append_val(ctx->problems, p);
}

static gint
problem_cmp(gconstpointer a, gconstpointer b)
{
	const Problem *x = a, *y = b;
	guint lx = x->line ? x->line : G_MAXUINT, ly = y->line ? y->line : G_MAXUINT;

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* All problems, in line order, one per line; frees them. */
static char *
problems_take(Ctx *ctx)
{
	GString *out = g_string_new(NULL);
	guint i;

	g_array_sort(ctx->problems, problem_cmp);
	for (i = 0; i < ctx->problems->len; i++) {
		Problem *p = &g_array_index(ctx->problems, Problem, i);

		if (i > 0)
			g_string_append_c(out, '\n');
		g_string_append(out, p->text);
		g_free(p->text);
	}
	g_array_set_size(ctx->problems, 0);
	return g_string_free(out, FALSE);
}

static const Key *
find_key(const char *name)
{
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(keys); i++)
		if (g_ascii_strcasecmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static char *
resolve_path(Ctx *ctx, const char *v)
{
	if (v[0] == '\0')
		return g_strdup(v);
	return g_canonicalize_filename(v, ctx->basedir);
}

/* Parses text for key into conf; FALSE (with a problem noted) when bad. */
static gboolean
set_value(Ctx *ctx, CgConf *conf, const Key *k, const char *text, guint line)
{
	void *slot = (char *)conf + k->offset;
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) why = g_string_new(NULL);
	gint64 n = 0;
	gboolean b;
	char *s = NULL;

	if (!cg_text_is_clean(text, -1, MAX_LINE)) {
		problem(ctx, line, k, "value holds control characters or is not UTF-8");
		return FALSE;
	}
	switch (k->type) {
	case T_INT:
	case T_DURATION:
	case T_SIZE:
	case T_MODE: {
		const char *unit;
		gboolean ok;

		if (k->type == T_INT)
			ok = conf_parse_number(text, &n, &unit) && *unit == '\0';
		else if (k->type == T_DURATION)
			ok = conf_parse_duration(text, &n);
		else if (k->type == T_SIZE)
			ok = conf_parse_size(text, &n);
		else {
			char *end;

			errno = 0;
			n = g_ascii_strtoll(text, &end, 8);
			ok = g_ascii_isdigit(*text) && *end == '\0' && errno == 0;
		}
		if (!ok) {
			problem(ctx, line, k, "\"%s\" is not a valid %s", text,
			        k->type == T_INT        ? "number"
			        : k->type == T_DURATION ? "duration (e.g. 90s, 15m, 24h, 30d, 2w)"
			        : k->type == T_SIZE     ? "size (e.g. 512K, 10M)"
			                                : "octal mode (e.g. 0660)");
			return FALSE;
		}
		if (n < k->min || n > k->max) {
			g_autoptr(GString) lo = g_string_new(NULL), hi = g_string_new(NULL);

			conf_format_value(k->type, k->min, lo);
			conf_format_value(k->type, k->max, hi);
			problem(ctx, line, k, "%s is out of range (%s to %s)", text, lo->str,
			        hi->str);
			return FALSE;
		}
		*(gint64 *)slot = n;
		return TRUE;
	}
	case T_BOOL:
		if (!conf_parse_bool(text, &b)) {
			problem(ctx, line, k, "\"%s\" is not yes or no", text);
			return FALSE;
		}
		*(gboolean *)slot = b;
		return TRUE;
	case T_LIST: {
		g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);

		conf_list_split(text, items);
		if ((gint64)items->len < k->min || (gint64)items->len > k->max) {
			problem(ctx, line, k,
			        "needs %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT " items", k->min,
			        k->max);
			return FALSE;
		}
		g_ptr_array_add(items, NULL);
		g_strfreev(*(char ***)slot);
		*(char ***)slot = (char **)g_ptr_array_steal(items, NULL);
		return TRUE;
	}
	case T_ENUM:
		if (!conf_enum_allows(k->choices, text)) {
			problem(ctx, line, k, "\"%s\" is not one of %s", text, k->choices);
			return FALSE;
		}
		s = g_strdup(text);
		break;
	case T_ADDRESS:
		s = cg_addr_normalise(text, &err);
		if (s == NULL) {
			problem(ctx, line, k, "\"%s\": %s", text, err->message);
			return FALSE;
		}
		break;
	case T_DOMAIN:
		s = cg_domain_normalise(text, &err);
		if (s == NULL) {
			problem(ctx, line, k, "\"%s\": %s", text, err->message);
			return FALSE;
		}
		break;
	case T_SOCKET:
		if (!conf_socket_is_valid(text, why)) {
			problem(ctx, line, k, "\"%s\": %s", text, why->str);
			return FALSE;
		}
		s = g_strdup(text);
		break;
	case T_URL:
		/* SBR 7.1.2.3: CRL DP and caIssuers are plain http. */
		if (!g_str_has_prefix(text, "http://") || strlen(text) < 9 ||
		    strpbrk(text, " \"<>\\^`{|}") != NULL) {
			problem(ctx, line, k, "\"%s\" must be an http:// URL", text);
			return FALSE;
		}
		s = g_strdup(text);
		break;
	case T_KEYREF:
		s = g_str_has_prefix(text, "pkcs11:") ? g_strdup(text) : resolve_path(ctx, text);
		break;
	case T_PATH:
		s = resolve_path(ctx, text);
		break;
	case T_STRING:
		s = g_strdup(text);
		break;
	}
	g_free(*(char **)slot);
	*(char **)slot = s;
	return TRUE;
}

static void
free_values(CgConf *conf)
{
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(keys); i++) {
		void *slot = (char *)conf + keys[i].offset;

		if (keys[i].type == T_LIST)
			g_strfreev(*(char ***)slot);
		else if (keys[i].type != T_INT && keys[i].type != T_BOOL &&
		         keys[i].type != T_DURATION && keys[i].type != T_SIZE &&
		         keys[i].type != T_MODE)
			g_free(*(char **)slot);
	}
}

/* Checks that involve more than one key. */
static void
cross_check(Ctx *ctx, CgConf *c)
{
	const char *addrs[] = {c->letter_address, c->enroll_address, c->challenge_address,
	                       c->revoke_address, c->sender_address, c->bounce_address};
	const char *names[] = {"LetterAddress", "EnrollAddress", "ChallengeAddress",
	                       "RevokeAddress", "SenderAddress", "BounceAddress"};
	gsize i, j;

	if (c->default_validity > c->max_validity)
		problem(ctx, 0, find_key("DefaultValidity"),
		        "%" G_GINT64_FORMAT " days is above MaxValidity (%" G_GINT64_FORMAT ")",
		        c->default_validity, c->max_validity);
	if (c->crl_next_update <= c->crl_interval)
		problem(ctx, 0, find_key("CrlNextUpdate"),
		        "must be longer than CrlInterval, or relying parties see a stale CRL");
	if (c->domain_renewal >= c->domain_reuse)
		problem(ctx, 0, find_key("DomainRenewal"), "must be shorter than DomainReuse");
	if (c->socket != NULL && !c->allow_inet_socket && !conf_socket_is_loopback(c->socket))
		problem(ctx, 0, find_key("Socket"),
		        "an inet socket off loopback needs AllowInetSocket yes");
	for (i = 0; i < G_N_ELEMENTS(addrs); i++)
		for (j = i + 1; j < G_N_ELEMENTS(addrs); j++)
			if (addrs[i] && addrs[j] && g_ascii_strcasecmp(addrs[i], addrs[j]) == 0)
				problem(ctx, 0, find_key(names[j]), "is the same address as %s",
				        names[i]);
}

static char *
expand_default(const char *def, const char *domain)
{
	g_auto(GStrv) parts = g_strsplit(def, "%d", -1);

	return g_strjoinv(domain ? domain : "invalid.example", parts);
}

CgConf *
cg_conf_load_data(const char *name, const char *basedir, const char *data, gsize len,
                  GError **error)
{
	Ctx ctx = {name, basedir, g_array_new(FALSE, FALSE, sizeof(Problem))};
	const char *given[G_N_ELEMENTS(keys)] = {0};
	guint given_line[G_N_ELEMENTS(keys)] = {0};
	g_auto(GStrv) lines = NULL;
	g_autofree char *copy = NULL;
	CgConf *conf;
	gsize i;
	guint lineno;

	if (len > MAX_FILE) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "%s: file is larger than %d bytes",
		            name, MAX_FILE);
		g_array_unref(ctx.problems);
		return NULL;
	}
	conf = g_new0(CgConf, 1);
	conf->refcount = 1;
	conf->path = g_strdup(name);
	copy = g_strndup(data, len);
	if (strlen(copy) != len)
		problem(&ctx, 0, NULL, "file holds a NUL byte");
	lines = g_strsplit(copy, "\n", -1);
	for (lineno = 1; lines[lineno - 1] != NULL; lineno++) {
		char *l = lines[lineno - 1], *hash, *value;
		const Key *k;

		if (strlen(l) > MAX_LINE) {
			problem(&ctx, lineno, NULL, "line is longer than %d bytes", MAX_LINE);
			continue;
		}
		/* '#' starts a comment at the start of the line or after a blank. */
		for (hash = l; (hash = strchr(hash, '#')) != NULL; hash++)
			if (hash == l || g_ascii_isspace(hash[-1])) {
				*hash = '\0';
				break;
			}
		g_strstrip(l);
		if (*l == '\0')
			continue;
		value = l + strcspn(l, " \t");
		if (*value != '\0')
			*value++ = '\0';
		g_strstrip(value);
		k = find_key(l);
		if (k == NULL) {
			g_autofree char *safe = cg_text_safe(l, -1, 64);

			problem(&ctx, lineno, NULL, "%s: unknown key", safe);
			continue;
		}
		if (*value == '\0') {
			problem(&ctx, lineno, k, "missing value");
			continue;
		}
		i = (gsize)(k - keys);
		if (given[i] != NULL) {
			problem(&ctx, lineno, k, "duplicate key (first set at line %u)",
			        given_line[i]);
			continue;
		}
		given[i] = value;
		given_line[i] = lineno;
	}

	/* GatewayDomain first: the address and URL defaults are built from it. */
	for (i = 0; i < G_N_ELEMENTS(keys); i++)
		if (keys[i].offset == F(gateway_domain) && given[i] != NULL &&
		    set_value(&ctx, conf, &keys[i], given[i], given_line[i]))
			conf->set[i] = 1;
	for (i = 0; i < G_N_ELEMENTS(keys); i++) {
		const Key *k = &keys[i];

		if (k->offset == F(gateway_domain) && given[i] != NULL)
			continue;
		if (given[i] != NULL) {
			if (set_value(&ctx, conf, k, given[i], given_line[i]))
				conf->set[i] = 1;
		} else if (k->required) {
			problem(&ctx, 0, k, "required key is missing");
		} else if (k->def != NULL) {
			g_autofree char *def = expand_default(k->def, conf->gateway_domain);

			set_value(&ctx, conf, k, def, 0);
		}
	}
	if (ctx.problems->len == 0)
		cross_check(&ctx, conf);

	if (ctx.problems->len > 0) {
		g_autofree char *all = problems_take(&ctx);

		g_set_error_literal(error, CG_ERROR, CG_ERROR_CONFIG, all);
		g_array_unref(ctx.problems);
		cg_conf_unref(conf);
		return NULL;
	}
	g_array_unref(ctx.problems);
	return conf;
}

CgConf *
cg_conf_load(const char *path, GError **error)
{
	g_autofree char *data = NULL;
	g_autofree char *dir = NULL;
	g_autoptr(GError) err = NULL;
	gsize len;

	if (!g_file_get_contents(path, &data, &len, &err)) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "%s", err->message);
		return NULL;
	}
	dir = g_path_get_dirname(path);
	if (!g_path_is_absolute(dir)) {
		g_autofree char *cwd = g_get_current_dir();
		char *abs = g_build_filename(cwd, dir, NULL);

		g_free(dir);
		dir = abs;
	}
	return cg_conf_load_data(path, dir, data, len, error);
}

CgConf *
cg_conf_ref(CgConf *conf)
{
	g_atomic_int_inc(&conf->refcount);
	return conf;
}

void
cg_conf_unref(CgConf *conf)
{
	if (conf == NULL || !g_atomic_int_dec_and_test(&conf->refcount))
		return;
	free_values(conf);
	g_free(conf->path);
	g_free(conf);
}

void
cg_conf_dump(const CgConf *conf, gboolean only_set, GString *out)
{
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(keys); i++) {
		const Key *k = &keys[i];
		const void *slot = (const char *)conf + k->offset;

		if (only_set && !conf->set[i])
			continue;
		g_string_append_printf(out, "%s ", k->name);
		switch (k->type) {
		case T_INT:
		case T_MODE:
		case T_DURATION:
		case T_SIZE:
			conf_format_value(k->type, *(const gint64 *)slot, out);
			break;
		case T_BOOL:
			g_string_append(out, *(const gboolean *)slot ? "yes" : "no");
			break;
		case T_LIST: {
			g_autofree char *j = g_strjoinv(" ", *(char **const *)slot);

			g_string_append(out, j);
			break;
		}
		default:
			g_string_append(out, *(char *const *)slot ? *(char *const *)slot : "");
			break;
		}
		g_string_append_c(out, '\n');
	}
}

int
cg_conf_log_level(const CgConf *conf)
{
	static const struct {
		const char *name;
		int prio;
	} levels[] = {{"err", LOG_ERR},
	              {"warning", LOG_WARNING},
	              {"notice", LOG_NOTICE},
	              {"info", LOG_INFO},
	              {"debug", LOG_DEBUG}};
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(levels); i++)
		if (strcmp(conf->log_level, levels[i].name) == 0)
			return levels[i].prio;
	return LOG_INFO;
}

int
cg_conf_log_facility(const CgConf *conf)
{
	static const int local[] = {LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2, LOG_LOCAL3,
	                            LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7};
	const char *f = conf->log_facility;

	if (strcmp(f, "daemon") == 0)
		return LOG_DAEMON;
	if (strcmp(f, "user") == 0)
		return LOG_USER;
	if (g_str_has_prefix(f, "local") && f[5] >= '0' && f[5] <= '7')
		return local[f[5] - '0'];
	return LOG_MAIL;
}
