/*
 * mailparse: one raw RFC 5322 message into a plain, GMime-free model.
 *
 *   cg_mail_parse()         bytes -> CgMail (envelope from the caller, decoded
 *                           headers, text, attachments, S/MIME parts)
 *   cg_mail_parse_fd()      the same from a file descriptor
 *   cg_mail_parse_entity()  a MIME entity (e.g. the signed content of an
 *                           S/MIME message) -> text and attachments
 *   cg_mail_limits_default() the hard limits every parse enforces
 *
 * The model holds only validated, owned data: strings are UTF-8, the From
 * address is syntactically valid and normalised, S/MIME signed bytes are the
 * exact bytes as transmitted (line ends made CRLF). Exceeding a limit is a
 * specific error (CG_ERROR_TOO_LARGE for size, CG_ERROR_MALFORMED for
 * structure), never a crash.
 * Never: verifies signatures (the caller does, with the bytes given here),
 * touches the network or the disk (except the fd it is handed).
 */
#ifndef CG_MAILPARSE_H
#define CG_MAILPARSE_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
	gsize max_size;       /* whole message, bytes */
	guint max_headers;    /* header fields in one header block */
	gsize max_header_len; /* one header field, unfolded, bytes */
	guint max_depth;      /* MIME nesting */
	guint max_parts;      /* MIME entities in all */
} CgMailLimits;

void cg_mail_limits_default(CgMailLimits *limits);

/* Given by the caller (the MTA's view), copied into the model. */
typedef struct {
	char *client_ip;
	char *helo;
	char *mail_from; /* "" for the null sender */
	char **rcpts;    /* NULL-terminated */
	char *queue_id;
} CgEnvelope;

typedef struct {
	char *name;
	char *raw_value; /* as in the message, folding kept, no trailing CRLF */
} CgHeader;

typedef struct {
	char *content_type; /* lower-case "type/subtype" */
	char *filename;     /* decoded; NULL when none */
	GBytes *data;       /* transfer encoding removed */
} CgAttachment;

typedef struct {
	char *text;             /* the text/plain body as UTF-8; "" when none */
	GPtrArray *attachments; /* CgAttachment* */
} CgMailBody;

typedef enum {
	CG_SMIME_NONE = 0,
	CG_SMIME_DETACHED,  /* multipart/signed */
	CG_SMIME_OPAQUE,    /* application/pkcs7-mime; smime-type=signed-data */
	CG_SMIME_ENVELOPED, /* the whole message application/pkcs7-mime, enveloped-data
	                     * or authEnveloped-data: encrypted */
} CgSmimeKind;

typedef struct {
	CgSmimeKind kind;
	GBytes *signed_content; /* detached: the first part, exact, CRLF line ends */
	GBytes *signature;      /* detached: signature DER; opaque, enveloped: the CMS DER */
	char *micalg;           /* detached: the micalg parameter, lower case, or NULL */
} CgSmime;

typedef struct {
	CgEnvelope envelope;
	GBytes *raw;        /* the message as received */
	GPtrArray *headers; /* CgHeader*, top-level, in order */
	char *from;         /* the single From mailbox, normalised */
	char *from_display; /* its display name, UTF-8, "" when none */
	char **to;          /* NULL-terminated; unparsable entries left out */
	char **cc;
	char **reply_to;
	char *subject;          /* RFC 2047 decoded, UTF-8, "" when none */
	char *message_id;       /* without angle brackets, NULL when none */
	char *in_reply_to;      /* first msg-id, without brackets, NULL when none */
	char *references;       /* raw, NULL when none */
	char *auto_submitted;   /* raw, trimmed, NULL when none */
	gint64 date;            /* Unix time, 0 when none or unparsable */
	char **dkim_signatures; /* raw DKIM-Signature values, NULL-terminated */
	CgMailBody body;
	CgSmime smime;
} CgMail;

void cg_envelope_clear(CgEnvelope *env);
void cg_mail_free(CgMail *mail);
void cg_mail_body_clear(CgMailBody *body);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CgMail, cg_mail_free)

/* limits NULL: the defaults. envelope may be NULL. */
CgMail *cg_mail_parse(GBytes *raw, const CgEnvelope *envelope, const CgMailLimits *limits,
                      GError **error);
CgMail *cg_mail_parse_fd(int fd, const CgEnvelope *envelope, const CgMailLimits *limits,
                         GError **error);
/* Parses a MIME entity (headers, blank line, body) into body. */
gboolean cg_mail_parse_entity(GBytes *entity, const CgMailLimits *limits, CgMailBody *body,
                              GError **error);

/* When entity (a MIME entity: headers, blank line, body) is S/MIME
 * encrypted (application/pkcs7-mime holding CMS enveloped-data or
 * authEnveloped-data), its CMS DER; else NULL. */
GBytes *cg_mail_entity_enveloped(GBytes *entity);

/* The message raw with its body replaced by entity: raw's header fields but
 * the MIME ones (MIME-Version, Content-*), then entity (its own MIME header
 * fields, blank line, body). For a decrypted message. */
GBytes *cg_mail_replace_body(GBytes *raw, GBytes *entity);

/* The first value of a top-level header (case-insensitive name), raw; NULL if none. */
const char *cg_mail_header(const CgMail *mail, const char *name);

/* Writes a stable, human-readable dump of the model (for golden-file tests). */
void cg_mail_dump(const CgMail *mail, GString *out);

G_END_DECLS

#endif
