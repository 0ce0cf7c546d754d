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
#include <stdlib.h>
#include <string.h>
#include <syslog.h>


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

	for (i = 0; i < cg_conf_n_keys; i++)
		if (g_ascii_strcasecmp(cg_conf_keys[i].name, name) == 0)
			return &cg_conf_keys[i];
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

	for (i = 0; i < cg_conf_n_keys; i++) {
		void *slot = (char *)conf + cg_conf_keys[i].offset;

		if (cg_conf_keys[i].type == T_LIST)
			g_strfreev(*(char ***)slot);
		else if (cg_conf_keys[i].type != T_INT && cg_conf_keys[i].type != T_BOOL &&
		         cg_conf_keys[i].type != T_DURATION && cg_conf_keys[i].type != T_SIZE &&
		         cg_conf_keys[i].type != T_MODE)
			g_free(*(char **)slot);
	}
}

/* ExpiryReminders: "none", or distinct durations from 1h to 825d. */
static void
check_reminders(Ctx *ctx, CgConf *c)
{
	const Key *k = find_key("ExpiryReminders");
	char **r = c->expiry_reminders;
	guint i, j;

	if (r == NULL || (r[0] != NULL && r[1] == NULL && strcmp(r[0], "none") == 0))
		return;
	for (i = 0; r[i] != NULL; i++) {
		gint64 a, b;

		if (!conf_parse_duration(r[i], &a) || a < H_ || a > 825 * D_) {
			problem(ctx, 0, k, "\"%s\" is not a duration from 1h to 825d (or say none)",
			        r[i]);
			return;
		}
		for (j = 0; j < i; j++)
			if (conf_parse_duration(r[j], &b) && a == b) {
				problem(ctx, 0, k, "\"%s\" is given twice", r[i]);
				return;
			}
	}
}

/* OperatorAddress: empty, or a mailbox (kept normalised); DigestTime HH:MM. */
static void
check_operator(Ctx *ctx, CgConf *c)
{
	g_autoptr(GError) err = NULL;
	const char *t = c->digest_time ? c->digest_time : "";

	if (c->operator_address != NULL && *c->operator_address) {
		char *a = cg_addr_normalise(c->operator_address, &err);

		if (a == NULL)
			problem(ctx, 0, find_key("OperatorAddress"), "\"%s\": %s", c->operator_address,
			        err->message);
		else
			g_free(c->operator_address), c->operator_address = a;
	}
	if (strlen(t) != 5 || !g_ascii_isdigit(t[0]) || !g_ascii_isdigit(t[1]) || t[2] != ':' ||
	    !g_ascii_isdigit(t[3]) || !g_ascii_isdigit(t[4]) || atoi(t) > 23 || atoi(t + 3) > 59)
		problem(ctx, 0, find_key("DigestTime"), "\"%s\" is not a time HH:MM (UTC)", t);
}

/* The Replication keys: all unset (one host), or a local site and its
 * peers, none of them the local site. */
static void
check_replication(Ctx *ctx, CgConf *c)
{
	char **p;

	if (c->repl_local == NULL || *c->repl_local == '\0') {
		if (c->repl_peers != NULL && c->repl_peers[0] != NULL)
			problem(ctx, 0, find_key("ReplicationPeer"),
			        "needs ReplicationLocal (this site's HOST:PORT)");
		return;
	}
	if (!cg_host_port_split(c->repl_local, NULL, NULL))
		problem(ctx, 0, find_key("ReplicationLocal"), "\"%s\" is not HOST:PORT",
		        c->repl_local);
	if (c->repl_peers == NULL || c->repl_peers[0] == NULL)
		problem(ctx, 0, find_key("ReplicationPeer"),
		        "at least one peer is needed with ReplicationLocal");
	for (p = c->repl_peers; p != NULL && *p != NULL; p++) {
		if (!cg_host_port_split(*p, NULL, NULL))
			problem(ctx, 0, find_key("ReplicationPeer"), "\"%s\" is not HOST:PORT", *p);
		else if (g_ascii_strcasecmp(*p, c->repl_local) == 0)
			problem(ctx, 0, find_key("ReplicationPeer"),
			        "\"%s\" is this site (ReplicationLocal)", *p);
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
	if (cg_conf_public_trust(c) && g_strcmp0(c->dnssec_trust_anchor, "none") == 0)
		problem(
		    ctx, 0, find_key("DnssecTrustAnchor"),
		    "TrustModel public needs DNSSEC-validated CAA lookups (S/MIME BR 4.2.2.1.1): "
		    "name a trust anchor");
	if (c->dnssec_trust_anchor != NULL && *c->dnssec_trust_anchor != '/' &&
	    strcmp(c->dnssec_trust_anchor, "none") != 0)
		problem(ctx, 0, find_key("DnssecTrustAnchor"), "must be an absolute path or none");
	{
		guint n = c->perspectives ? g_strv_length(c->perspectives) : 0;
		char **p;

		for (p = c->perspectives; p != NULL && *p != NULL; p++) {
			g_autofree char *host = NULL;
			char **q;

			if (!cg_host_port_split(*p, &host, NULL)) {
				problem(ctx, 0, find_key("Perspective"), "\"%s\" is not HOST:PORT",
				        *p);
				continue;
			}
			/* Each counts once toward the quorum, and its certificate
			 * names its host: one host is one perspective. */
			for (q = c->perspectives; q != p; q++) {
				g_autofree char *other = NULL;

				if (cg_host_port_split(*q, &other, NULL) &&
				    g_ascii_strcasecmp(host, other) == 0)
					problem(
					    ctx, 0, find_key("Perspective"),
					    "\"%s\" is on the host of \"%s\": a perspective is a "
					    "host of its own",
					    *p, *q);
			}
		}
		if (c->perspective_quorum > (gint64)n)
			problem(ctx, 0, find_key("PerspectiveQuorum"),
			        "%" G_GINT64_FORMAT " is more than the %u Perspective lines",
			        c->perspective_quorum, n);
		if (cg_conf_public_trust(c) && n < 2)
			problem(
			    ctx, 0, find_key("Perspective"),
			    "TrustModel public needs at least two remote perspectives (S/MIME BR "
			    "4.2.2.2)");
	}
	if (c->org_renewal >= c->org_reuse)
		problem(ctx, 0, find_key("OrgRenewal"), "must be shorter than OrgReuse");
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
	check_reminders(ctx, c);
	check_operator(ctx, c);
	check_replication(ctx, c);
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
	const char *given[CG_CONF_MAX_KEYS] = {0};
	guint given_line[CG_CONF_MAX_KEYS] = {0};
	g_auto(GStrv) lines = NULL;
	g_autofree char *copy = NULL;
	g_autoptr(GPtrArray) joined_values = g_ptr_array_new_with_free_func(g_free);
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
		i = (gsize)(k - cg_conf_keys);
		if (given[i] != NULL && k->type == T_LIST && k->choices != NULL &&
		    strcmp(k->choices, "repeatable") == 0) {
			/* A repeatable list (ReplicationPeer): each line adds. */
			char *joined = g_strconcat(given[i], " ", value, NULL);

			g_ptr_array_add(joined_values, joined);
			given[i] = joined;
			continue;
		}
		if (given[i] != NULL) {
			problem(&ctx, lineno, k, "duplicate key (first set at line %u)",
			        given_line[i]);
			continue;
		}
		given[i] = value;
		given_line[i] = lineno;
	}

	/* GatewayDomain first: the address and URL defaults are built from it. */
	for (i = 0; i < cg_conf_n_keys; i++)
		if (cg_conf_keys[i].offset == offsetof(CgConf, gateway_domain) && given[i] != NULL &&
		    set_value(&ctx, conf, &cg_conf_keys[i], given[i], given_line[i]))
			conf->set[i] = 1;
	for (i = 0; i < cg_conf_n_keys; i++) {
		const Key *k = &cg_conf_keys[i];

		if (k->offset == offsetof(CgConf, gateway_domain) && given[i] != NULL)
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

	for (i = 0; i < cg_conf_n_keys; i++) {
		const Key *k = &cg_conf_keys[i];
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
			char **const v = *(char **const *)slot;
			g_autofree char *j = v != NULL ? g_strjoinv(" ", v) : g_strdup("");

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
