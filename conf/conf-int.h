/*
 * conf-int.h: shared by conf.c (the key table, the parser) and values.c (the
 * value syntax) only.
 * Never: included outside conf/.
 */
#ifndef CG_CONF_INT_H
#define CG_CONF_INT_H

#include "conf.h"

typedef enum {
	T_STRING,
	T_INT,
	T_BOOL,
	T_DURATION,
	T_SIZE,
	T_ADDRESS,
	T_PATH,
	T_LIST,
	T_ENUM,
	T_DOMAIN,
	T_SOCKET,
	T_URL,
	T_MODE,
	T_KEYREF, /* a path or a pkcs11: URI */
} KeyType;

typedef struct {
	const char *name;
	KeyType type;
	const char *def; /* NULL: no default; "%d" stands for GatewayDomain */
	gboolean required;
	gsize offset;
	gint64 min, max;
	const char *choices; /* T_ENUM: "a|b|c" */
} Key;

/* keys.c: every key, its type, default and range */
#define CG_CONF_MAX_KEYS 128
extern const Key cg_conf_keys[];
extern const gsize cg_conf_n_keys;

#define MIN_ 60
#define H_   3600
#define D_   86400

/* A whole non-negative number at the start of s; *unit what follows. */
gboolean conf_parse_number(const char *s, gint64 *out, const char **unit);
/* "90", "90s", "15m", "24h", "30d", "2w" in seconds. */
gboolean conf_parse_duration(const char *s, gint64 *out);
/* "1024", "64K", "10M", "1G" in bytes. */
gboolean conf_parse_size(const char *s, gint64 *out);
/* yes/true/on/1, no/false/off/0. */
gboolean conf_parse_bool(const char *s, gboolean *out);
/* s is one of choices ("a|b|c"). */
gboolean conf_enum_allows(const char *choices, const char *s);
/* unix:/PATH, local:/PATH, /PATH or inet:PORT@HOST; else why not in why. */
gboolean conf_socket_is_valid(const char *s, GString *why);
/* A unix socket, or inet on a loopback address. */
gboolean conf_socket_is_loopback(const char *s);
/* Words of v split at blanks and commas, appended to out (strings). */
void conf_list_split(const char *v, GPtrArray *out);
/* A number as the file would write it: 30d, 10M, 0660, 730. */
void conf_format_value(KeyType type, gint64 v, GString *out);

#endif
