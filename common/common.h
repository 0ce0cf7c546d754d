/*
 * common: the few helpers every certgate module shares.
 *
 *   CG_ERROR / CgErrorCode  one GError domain; the first codes are the rows of the
 *                           SMTP reply table (DESIGN.md section 6), the rest internal
 *   cg_text_safe()          untrusted text made fit for a log line or an SMTP reply
 *   cg_text_is_clean()      valid UTF-8, bounded, no control characters
 *   cg_addr_normalise()     mailbox syntax (UTF-8 local parts); domain as A-label
 *   cg_domain_normalise()   IDNA2008 A-label, lower case, LDH labels, one script
 *   cg_domain_to_unicode(), cg_addr_to_unicode()  U-labels, for people
 *   cg_domain_display()     "U-label (A-label)" for an IDN, else the name
 *   cg_sha256[_begin/_update/_end](), cg_hex(), cg_base64url(), cg_random_bytes(),
 *   cg_memeq_ct()
 *   cg_time_iso()           UTC time as ISO 8601
 *
 * Never: touches the disk, the network or the clock; logs; exits.
 */
#ifndef CG_COMMON_H
#define CG_COMMON_H

#include <glib.h>

G_BEGIN_DECLS

#define CG_ERROR (cg_error_quark())
GQuark cg_error_quark(void);

/* After a lookup that returned nothing: TRUE when *err only says there is
 * no such record (it is cleared), FALSE with *err moved into error for any
 * other failure. */
gboolean cg_error_absent(GError **err, GError **error);

typedef enum {
	/* Rows of the SMTP reply table. */
	CG_ERROR_MALFORMED = 1,  /* malformed message, MIME, CSV, CSR or letter */
	CG_ERROR_TOO_LARGE,      /* message or part over a limit */
	CG_ERROR_NOT_AUTHORISED, /* sender not authorised, policy refusal */
	CG_ERROR_BAD_SIGNATURE,  /* bad or untrusted S/MIME signature */
	CG_ERROR_SPF_FAIL,
	CG_ERROR_DKIM_FAIL,
	CG_ERROR_DMARC_FAIL,
	CG_ERROR_BAD_TOKEN,  /* unknown, expired or used challenge token */
	CG_ERROR_DNS_TEMP,   /* temporary DNS failure: defer */
	CG_ERROR_RCPT_LATER, /* a second gateway address in one message: that
	                      * recipient is deferred, to come in a message of its own */
	CG_ERROR_NOT_DECRYPTABLE, /* encrypted to another certificate, or damaged */
	CG_ERROR_NOT_MASTER, /* replicated: this site is not the master now: defer */
	CG_ERROR_NOT_ACKED,  /* replicated: committed here, not acknowledged by the
	                      * replicas in time: defer (a retry finds it seen) */
	CG_ERROR_INTERNAL,   /* anything certgate itself cannot do now: defer */
	/* Internal codes; the milter maps each of them to CG_ERROR_INTERNAL's reply. */
	CG_ERROR_CONFIG,    /* configuration file: file, line and key in the message */
	CG_ERROR_NOT_FOUND, /* no such record */
	CG_ERROR_EXISTS,    /* a record with that key exists */
	CG_ERROR_DUPLICATE, /* the intake was committed before (a seen record) */
	CG_ERROR_CORRUPT,   /* a stored record does not decode */
	CG_ERROR_DEADLOCK,  /* the transaction lost a deadlock: retry it */
	CG_ERROR_IO,        /* disk full, I/O error, permission */
	CG_ERROR_TIMEOUT,   /* a wait ran out */
	CG_ERROR_USAGE,     /* bad command-line use */
} CgErrorCode;

/* Untrusted text made safe: printable ASCII only (other bytes become '?', '%'
 * becomes '?'), at most max bytes (ending in "..." when cut). Caller frees. */
char *cg_text_safe(const char *s, gssize len, gsize max);

/* TRUE when s (len bytes, or NUL-terminated with len -1) is valid UTF-8, at most
 * max bytes, and holds no C0/C1 control character and no DEL. */
gboolean cg_text_is_clean(const char *s, gssize len, gsize max);

/* "host:port" or "[v6-address]:port" split (port 1..65535, host not empty):
 * FALSE when it is neither. host (brackets dropped) may be NULL; caller
 * frees it. */
gboolean cg_host_port_split(const char *s, char **host, guint *port);

/* Domain name to its lower-case A-label form (IDNA2008, UTS#46 mapping), one
 * trailing dot dropped; at least two labels, LDH, label <= 63, name <= 253; no
 * label that mixes scripts or passes Cyrillic or Greek letters for Latin
 * ones. CG_ERROR_MALFORMED (saying why) otherwise. Caller frees. (idn.c) */
char *cg_domain_normalise(const char *in, GError **error);
/* The U-label form of a normalised domain, for people (the A-label when it
 * has none). Caller frees. */
char *cg_domain_to_unicode(const char *alabel);
/* For a text people read: "bücher.example (xn--bcher-kva.example)" when the
 * name has U-labels, else the name itself. Caller frees. */
char *cg_domain_display(const char *alabel);

/* Mailbox "local@domain", optionally in angle brackets. Local part: dot-atom of
 * RFC 5322 atext and UTF-8 (RFC 6531), at most 64 bytes, in NFC, case kept;
 * domain normalised as above. At most 254 bytes in all. CG_ERROR_MALFORMED
 * otherwise. Caller frees. */
char *cg_addr_normalise(const char *in, GError **error);
/* TRUE when the normalised address is all ASCII (its local part is). */
gboolean cg_addr_is_ascii(const char *addr);
/* The address with its domain in U-labels, for people and for
 * SmtpUTF8Mailbox (RFC 9598). Caller frees. */
char *cg_addr_to_unicode(const char *addr);

/* The domain part of a normalised address (borrowed pointer into addr). */
const char *cg_addr_domain(const char *addr);

/* Local parts equal, domains equal ignoring case. Both must be normalised. */
gboolean cg_addr_equal(const char *a, const char *b);

#define CG_SHA256_LEN 32
void cg_sha256(const void *data, gsize len, guint8 out[CG_SHA256_LEN]);
/* The same over pieces: begin, update..., end (which frees the state). */
typedef struct CgSha256 CgSha256;
CgSha256 *cg_sha256_begin(void);
void cg_sha256_update(CgSha256 *h, const void *data, gsize len);
void cg_sha256_end(CgSha256 *h, guint8 out[CG_SHA256_LEN]);
/* Lower-case hex of len bytes. Caller frees. */
char *cg_hex(const guint8 *data, gsize len);
/* Decodes exactly outlen bytes of hex; FALSE on any other input. */
gboolean cg_hex_decode(const char *hex, guint8 *out, gsize outlen);
/* base64url without padding (RFC 4648 section 5). Caller frees. */
char *cg_base64url(const guint8 *data, gsize len);
/* CSPRNG bytes (OpenSSL RAND_bytes). */
gboolean cg_random_bytes(guint8 *out, gsize len, GError **error);
/* Constant-time comparison of two equal-length buffers. */
gboolean cg_memeq_ct(const void *a, const void *b, gsize len);

/* "2026-11-21T18:53:00Z" for a Unix time. Caller frees. */
char *cg_time_iso(gint64 t);

G_END_DECLS

#endif
