/*
 * smimea.c: SMIMEA records (RFC 8162) for issued certificates, as zone-file
 * lines the organisation's DNS admin can publish, so that a sender finds a
 * mailbox's certificate in DNS. The owner name is the SHA2-256 of the
 * mailbox's local part (its UTF-8 octets as written, no '@'), truncated to
 * 28 octets, in hex, under _smimecert.DOMAIN (the A-label). The data is
 * certificate usage 3 (DANE-EE), selector 0 (the full certificate) and
 * matching type 0 (exact): a sender needs the certificate itself to
 * encrypt, not only its hash (RFC 8162 section 3 and 6).
 * Never: asks DNS or publishes anything.
 */
#include "issuer-int.h"

#include <string.h>

#define SMIMEA_HASH_OCTETS 28

char *
cg_smimea_record(const char *mailbox, GBytes *der)
{
	const char *at = strrchr(mailbox, '@');
	guint8 h[CG_SHA256_LEN];
	g_autofree char *owner = NULL, *data = NULL;

	if (at == NULL || at == mailbox || at[1] == '\0')
		return NULL;
	cg_sha256(mailbox, (gsize)(at - mailbox), h);
	owner = cg_hex(h, SMIMEA_HASH_OCTETS);
	data = cg_hex(g_bytes_get_data(der, NULL), g_bytes_get_size(der));
	return g_strdup_printf("%s._smimecert.%s. IN SMIMEA 3 0 0 %s\n", owner, at + 1, data);
}

const char *
cg_smimea_heading(void)
{
	return "; SMIMEA records (RFC 8162): one for each certificate issued, for the\n"
	       "; zone of the mailbox's domain. Publish them in a DNSSEC-signed zone: a\n"
	       "; sender then finds the certificate to encrypt to. Each is certificate\n"
	       "; usage 3 (DANE-EE), selector 0 (full certificate), matching type 0.\n";
}
