/*
 * values.c: the value syntax of certgate.conf, one parser per key type
 * (numbers with units, booleans, enumerations, sockets, lists), and numbers
 * written back as the file would hold them (30d, 10M, 0660).
 * Never: knows a key; conf.c's table does.
 */
#include "conf-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

gboolean
conf_parse_number(const char *s, gint64 *out, const char **unit)
{
	char *end;
	gint64 v;

	if (!g_ascii_isdigit(*s))
		return FALSE;
	errno = 0;
	v = g_ascii_strtoll(s, &end, 10);
	if (errno != 0 || v < 0)
		return FALSE;
	*out = v;
	*unit = end;
	return TRUE;
}

static gboolean
scale(gint64 v, gint64 mult, gint64 *out)
{
	if (v > G_MAXINT64 / mult)
		return FALSE;
	*out = v * mult;
	return TRUE;
}

gboolean
conf_parse_duration(const char *s, gint64 *out)
{
	const char *unit;
	gint64 v, m;

	if (!conf_parse_number(s, &v, &unit))
		return FALSE;
	if (unit[0] == '\0' || strcmp(unit, "s") == 0)
		m = 1;
	else if (strcmp(unit, "m") == 0)
		m = MIN_;
	else if (strcmp(unit, "h") == 0)
		m = H_;
	else if (strcmp(unit, "d") == 0)
		m = D_;
	else if (strcmp(unit, "w") == 0)
		m = 7 * D_;
	else
		return FALSE;
	return scale(v, m, out);
}

gboolean
cg_conf_parse_duration(const char *s, gint64 *seconds)
{
	return conf_parse_duration(s, seconds);
}

gboolean
conf_parse_size(const char *s, gint64 *out)
{
	const char *unit;
	gint64 v, m;

	if (!conf_parse_number(s, &v, &unit))
		return FALSE;
	if (unit[0] == '\0')
		m = 1;
	else if (g_ascii_strcasecmp(unit, "k") == 0)
		m = 1024;
	else if (g_ascii_strcasecmp(unit, "m") == 0)
		m = 1024 * 1024;
	else if (g_ascii_strcasecmp(unit, "g") == 0)
		m = 1024 * 1024 * 1024;
	else
		return FALSE;
	return scale(v, m, out);
}

gboolean
conf_parse_bool(const char *s, gboolean *out)
{
	static const char *yes[] = {"yes", "true", "on", "1"}, *no[] = {"no", "false", "off", "0"};
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(yes); i++) {
		if (g_ascii_strcasecmp(s, yes[i]) == 0) {
			*out = TRUE;
			return TRUE;
		}
		if (g_ascii_strcasecmp(s, no[i]) == 0) {
			*out = FALSE;
			return TRUE;
		}
	}
	return FALSE;
}

gboolean
conf_enum_allows(const char *choices, const char *s)
{
	g_auto(GStrv) v = g_strsplit(choices, "|", -1);

	return g_strv_contains((const char *const *)v, s);
}

const char *
cg_conf_socket_path(const char *s)
{
	if (g_str_has_prefix(s, "unix:"))
		return s + 5;
	if (g_str_has_prefix(s, "local:"))
		return s + 6;
	return s[0] == '/' ? s : NULL;
}

gboolean
conf_socket_is_valid(const char *s, GString *why)
{
	const char *path = cg_conf_socket_path(s);

	if (path != NULL) {
		if (path[0] != '/' || strlen(path) > 100) {
			g_string_assign(why, "unix socket needs an absolute path under 100 bytes");
			return FALSE;
		}
		return TRUE;
	}
	if (g_str_has_prefix(s, "inet:") || g_str_has_prefix(s, "inet6:")) {
		const char *at = strchr(s, '@');
		gint64 port;
		const char *rest;

		if (!conf_parse_number(strchr(s, ':') + 1, &port, &rest) || port < 1 || port > 65535 ||
		    (*rest != '\0' && *rest != '@')) {
			g_string_assign(why, "inet socket needs inet:PORT@HOST");
			return FALSE;
		}
		if (at == NULL || at[1] == '\0') {
			g_string_assign(why, "inet socket needs an explicit host (inet:PORT@HOST)");
			return FALSE;
		}
		return TRUE;
	}
	g_string_assign(why, "socket must be unix:/PATH, local:/PATH or inet:PORT@HOST");
	return FALSE;
}

gboolean
conf_socket_is_loopback(const char *s)
{
	const char *at = strchr(s, '@');

	if (!g_str_has_prefix(s, "inet"))
		return TRUE;
	return at != NULL &&
	       (g_str_has_prefix(at + 1, "127.") || strcmp(at + 1, "localhost") == 0 ||
	        strcmp(at + 1, "::1") == 0 || strcmp(at + 1, "[::1]") == 0);
}

void
conf_list_split(const char *v, GPtrArray *out)
{
	g_auto(GStrv) parts = g_strsplit_set(v, " \t,", -1);
	char **p;

	for (p = parts; *p != NULL; p++)
		if (**p != '\0')
			g_ptr_array_add(out, g_strdup(*p));
}

static void
format_unit(GString *out, gint64 v, const gint64 *mult, const char *const *unit, gsize n)
{
	gsize i;

	for (i = 0; i < n; i++)
		if (v != 0 && v % mult[i] == 0) {
			g_string_append_printf(out, "%" G_GINT64_FORMAT "%s", v / mult[i], unit[i]);
			return;
		}
	g_string_append_printf(out, "%" G_GINT64_FORMAT "%s", v, unit[n - 1]);
}

static const gint64 dmult[] = {D_, H_, MIN_, 1}, smult[] = {1 << 30, 1 << 20, 1 << 10, 1};
static const char *const dunit[] = {"d", "h", "m", "s"}, *const sunit[] = {"G", "M", "K", ""};

/* A number as the file would write it: 30d, 10M, 0660, 730. */
void
conf_format_value(KeyType type, gint64 v, GString *out)
{
	if (type == T_DURATION)
		format_unit(out, v, dmult, dunit, 4);
	else if (type == T_SIZE)
		format_unit(out, v, smult, sunit, 4);
	else if (type == T_MODE)
		g_string_append_printf(out, "%04" G_GINT64_MODIFIER "o", v);
	else
		g_string_append_printf(out, "%" G_GINT64_FORMAT, v);
}

static int
desc(const void *a, const void *b)
{
	gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

guint
cg_conf_reminders(const CgConf *conf, gint64 out[8])
{
	guint n = 0, i;

	for (i = 0; conf->expiry_reminders != NULL && conf->expiry_reminders[i] != NULL && n < 8;
	     i++)
		if (conf_parse_duration(conf->expiry_reminders[i], &out[n]))
			n++;
	qsort(out, n, sizeof(gint64), desc);
	return n;
}

gint64
cg_conf_reminder_next(const CgConf *conf, gint64 below, gint64 not_after, gint64 after)
{
	gint64 stages[8], best = 0;
	guint n = cg_conf_reminders(conf, stages), i;

	for (i = 0; i < n; i++)
		if (stages[i] < below && stages[i] > best && not_after - stages[i] > after)
			best = stages[i];
	return best;
}

gint64
cg_conf_next_digest(const CgConf *conf, gint64 now)
{
	const char *t = conf->digest_time ? conf->digest_time : "06:00";
	gint64 day = now - now % D_;
	gint64 at = day + atoi(t) * H_ + atoi(t + 3) * MIN_;

	return at > now ? at : at + D_;
}

gboolean
cg_conf_public_trust(const CgConf *conf)
{
	return g_strcmp0(conf->trust_model, "public") == 0;
}
