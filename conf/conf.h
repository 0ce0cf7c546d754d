/*
 * conf: certgate.conf, read by all three programs.
 *
 *   cg_conf_load()       parse a file against the key table; every problem is
 *                        reported as "FILE:LINE: Key: what is wrong"
 *   cg_conf_load_data()  the same from memory (tests, fuzzing)
 *   cg_conf_ref/unref()  shared, reference-counted snapshots (SIGUSR1 reload
 *                        swaps a whole new snapshot in; readers keep theirs)
 *   cg_conf_dump()       "Name value" lines, all keys or only the ones set
 *
 * A CgConf is immutable once loaded. Never: opens anything but the config file.
 */
#ifndef CG_CONF_H
#define CG_CONF_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct CgConf {
	/* milter */
	char *socket;
	gint64 socket_mode;
	char *socket_group;
	gboolean allow_inet_socket;
	char *user_id;
	char *pid_file;
	gint64 max_message_size;
	char *after_accept; /* "discard" | "deliver" */
	char *temp_dir;
	/* issuer */
	char *issuer_user_id;
	char *issuer_pid_file;
	char **sendmail; /* argv prefix, NULL-terminated */
	char *smtp_submit; /* NULL: sendmail; else a socket (unix:/PATH, inet:PORT@HOST) */
	/* shared state */
	char *db_home;
	char *evidence_dir;
	/* replication (store/repl.c): repl_local "" = one host */
	char *repl_local;
	char **repl_peers;
	gint64 repl_priority;
	char *repl_ack; /* "all" | "quorum" | "one" | "none" */
	gint64 repl_ack_timeout; /* seconds */
	gboolean repl_create_group;
	/* addresses */
	char *gateway_domain;
	char *letter_address;
	char *enroll_address;
	char *challenge_address;
	char *revoke_address;
	char *sender_address;
	char *bounce_address;
	/* validation */
	gint64 challenge_lifetime;
	gint64 invite_lifetime;
	gint64 domain_reuse;
	gint64 domain_renewal;
	gint64 org_reuse;
	gint64 org_renewal;
	gint64 signed_mail_max_age;
	char *challenge_alignment; /* "strict" | "relaxed" */
	char *trust_model;         /* "private" | "public" */
	char *domain_method;       /* "postmaster" | "dns" */
	char *reply_auth;          /* "dmarc" | "spf" | "dkim" */
	char *enroll_auth; /* "signed-or-confirm" | "signed" | "confirm" */
	char *letter_trust_anchors;
	char *admin_trust_anchors;
	char **caa_identities;
	char *dnssec_trust_anchor; /* a path, or "none" */
	char **perspectives;       /* HOST:PORT, NULL-terminated, or NULL */
	gint64 perspective_quorum; /* 0: all but one */
	char *perspective_ca;
	gint64 max_bulk_rows;
	/* CA */
	char *ca_certificate;
	char *ca_chain;
	char *ca_key; /* a path or a pkcs11: URI */
	char *pkcs11_module;
	char *pkcs11_pin_file;
	char *gateway_certificate;
	char *gateway_key;
	char *gateway_enc_certificate;
	char *gateway_enc_key;
	gint64 gateway_enc_overlap;
	char *certificate_profile; /* "strict" | "multipurpose" */
	gint64 default_validity;   /* days */
	gint64 max_validity;       /* days */
	gboolean deliver_to_subject;
	char *crl_path;
	char *crl_url;
	char *ca_issuers_url;
	gint64 crl_interval;
	gint64 crl_next_update;
	/* the certificate's life, the operator's view */
	char **expiry_reminders;   /* durations before not-after, or "none" */
	char *operator_address;    /* "" when no digest is mailed */
	char *digest_time;         /* "HH:MM", UTC */
	gint64 disk_space_warning; /* bytes free under DbHome */
	/* logging */
	char *log_facility;
	char *log_level;

	/* bookkeeping */
	char *path;     /* the file it came from */
	guint8 set[128]; /* set[i]: key i was given in the file */
	gint refcount;
} CgConf;

/* Parses path. On any problem returns NULL and one CG_ERROR_CONFIG error whose
 * message lists every problem, one per line. */
CgConf *cg_conf_load(const char *path, GError **error);
/* As above from memory; name is used in messages and relative paths resolve
 * against basedir (NULL: the current directory). */
CgConf *cg_conf_load_data(const char *name, const char *basedir, const char *data, gsize len,
                          GError **error);

CgConf *cg_conf_ref(CgConf *conf);
void cg_conf_unref(CgConf *conf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgConf, cg_conf_unref)

/* Appends "Name value\n" for every key (only_set: only keys given in the file). */
void cg_conf_dump(const CgConf *conf, gboolean only_set, GString *out);

/* syslog priority for LogLevel/LogFacility names. */
int cg_conf_log_level(const CgConf *conf);
int cg_conf_log_facility(const CgConf *conf);

/* ExpiryReminders in seconds, longest first, into out (at most 8); how
 * many (0 for "none"). */
guint cg_conf_reminders(const CgConf *conf, gint64 out[8]);
/* The largest stage of ExpiryReminders below `below` (G_MAXINT64: the
 * first) whose time (not_after less the stage) is after `after`; 0 when
 * there is none. */
gint64 cg_conf_reminder_next(const CgConf *conf, gint64 below, gint64 not_after, gint64 after);
/* The next DigestTime after now (UTC seconds). */
gint64 cg_conf_next_digest(const CgConf *conf, gint64 now);

/* TrustModel public: the rules for publicly trusted certificates apply. */
gboolean cg_conf_public_trust(const CgConf *conf);

/* "90", "90s", "15m", "24h", "30d", "2w" in seconds; FALSE when not a duration. */
gboolean cg_conf_parse_duration(const char *s, gint64 *seconds);
/* The path of a socket as the Socket and SmtpSubmit keys name one:
 * unix:/PATH, local:/PATH or /PATH give PATH (a pointer into s); NULL for
 * anything else (inet:PORT@HOST). */
const char *cg_conf_socket_path(const char *s);

G_END_DECLS

#endif
