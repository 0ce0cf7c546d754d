/*
 * mailparse-int.h: shared by mailparse's own files only.
 * Never: included outside mailparse/.
 */
#ifndef CG_MAILPARSE_INT_H
#define CG_MAILPARSE_INT_H

#include "mailparse.h"
#include "common.h"

#include <gmime/gmime.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeContentType, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeParser, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeStream, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeMessage, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeObject, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(InternetAddressList, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeParserOptions, g_mime_parser_options_free)

/* Initialises GMime once per process. */
void cg_mail_init(void);

/* stream.c: a read-only GMime stream over bytes (a reference, no copy);
 * its type (its class is made by cg_mail_init). */
GMimeStream *cg_mail_stream_new(GBytes *bytes);
GType cg_bytes_stream_get_type(void);

/* parse.c: a message parsed strictly; *problem (caller frees) names the first
 * fatal structural warning. */
GMimeMessage *cg_mail_construct_message(GMimeStream *st, const CgMailLimits *limits,
                                        char **problem);
/* Walks msg's MIME tree into body, which it initialises. */
gboolean cg_mail_walk_message(GMimeMessage *msg, const CgMailLimits *limits, CgMailBody *body,
                              GError **error);

/* rfc2047.c: an unstructured header value (raw, maybe folded) with its
 * encoded-words decoded, as UTF-8, trimmed. Caller frees. */
char *cg_mail_decode_words(const char *raw);

/* html.c: the text of HTML (len bytes): tags dropped, block ends as line
 * ends, entities decoded, blockquote content quoted ("> "). Caller frees. */
char *cg_mail_html_to_text(const char *html, gsize len);

/* rawmime.c: the first S/MIME signed structure in the raw message. FALSE only
 * for a malformed one; out->kind is CG_SMIME_NONE when there is none. */
gboolean cg_mail_find_smime(GBytes *raw, const CgMailLimits *limits, CgSmime *out, GError **error);

#endif
