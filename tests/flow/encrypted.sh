#!/bin/sh
# encrypted.sh: mail encrypted to the gateway, made by independent tools at
# test time (openssl cms -encrypt: AES-128-CBC, AES-256-CBC, AES-256-GCM;
# gpgsm --encrypt), through certgate-milter -t and the issuer:
#   - signed-then-encrypted and encrypted-then-signed enrolments and letters
#     are taken, the signature verified over the inner bytes, and issued;
#   - encrypted to another certificate, truncated, garbage, compressed or
#     encrypted twice: refused, each with its own reply;
#   - every mail the issuer sends carries the gateway's encryption
#     certificate and an SMIMEEncryptionKeyPreference naming it;
#   - certgate ca gateway-rekey: mail encrypted to the old certificate still
#     decrypts within GatewayEncryptionOverlap, not after.
set -eu
. "$CG_SRC/tests/lib/pki.sh"
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
. "$CG_SRC/tests/lib/mail.sh"
ca_test encrypted
CA_CLEANUP="pki_gpgsm_stop $T/gpg"
ca_dirs
mkdir -p "$T/m" "$T/tmp"
chown certgate "$T/tmp"
pki_ca "$T/ca" "Mail CA"
pki_leaf "$T/ca" "$T/anna" anna@example.org ec
pki_leaf "$T/ca" "$T/ceo" ceo@example.org rsa
pki_leaf "$T/ca" "$T/stranger" stranger@example.org rsa
ca_conf "AdminTrustAnchors $T/ca/cert.pem" "LetterTrustAnchors $T/ca/cert.pem" "LogLevel notice" \
	"TempDir $T/tmp" "DeliverToSubject yes"
ca_mta
$cg ca init > /dev/null
ENC=$T/ca/gateway-enc.pem
$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL --contact ceo@example.org > /dev/null
$cg domain add example.org --org 1 --validated > /dev/null
$cg admin add anna@example.org --org 1 > /dev/null
dns_start "$T/dns" 127.0.0.20

expect() { # expect NAME PATTERN OUTPUT
	got=$(verdict_of "$3")
	if printf '%s\n' "$got" | grep -q -E -- "$2"; then ok "$1: $got"; else bad "$1: got '$got', want /$2/ ($3)"; fi
}
line() { printf '%s\n' "$2" | grep "^$1: " | head -1; }
hdr() { printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s.%s@example.org>\r\n' "$1" "$2" "$3" "$3" "$$"; }
# signed SIGNER ENTITY OUT: the entity signed (detached), a MIME entity itself
signed() { openssl cms -sign -binary -md sha256 -in "$2" -signer "$T/$1/cert.pem" -inkey "$T/$1/key.pem" > "$3"; pki_crlf "$3"; }
# encrypted CIPHER CERT IN OUT: IN encrypted with openssl cms, a MIME entity
encrypted() { openssl cms -encrypt -binary "-$1" -in "$3" "$2" > "$4"; pki_crlf "$4"; }
enrol_entity() { # enrol_entity NAME MAILBOX: $T/m/NAME.ent with a CSR for MAILBOX
	csr "$1" "$2"
	entity "$T/m/$1.ent" "Please issue." "$T/k/$1.der" application/pkcs10 "$1.p10"
}
issued() { $cg --json cert list --mailbox "$1" | grep -q '"serial"'; }

# ---- signed, then encrypted: each cipher ----
for c in aes-128-cbc aes-256-cbc aes-256-gcm; do
	enrol_entity "se-$c" "se-$c@example.org"
	signed anna "$T/m/se-$c.ent" "$T/m/se-$c.signed"
	encrypted "$c" "$ENC" "$T/m/se-$c.signed" "$T/m/se-$c.enc"
	{ hdr anna@example.org enroll@ca.example.net "se-$c"; cat "$T/m/se-$c.enc"; } > "$T/m/se-$c.eml"
	out=$(milter_t "$T/m/se-$c.eml" anna@example.org enroll@ca.example.net)
	[ "$(line decrypt "$out")" = "decrypt: ok" ] && [ "$(line smime "$out")" = "smime: good signer=anna@example.org" ] &&
		[ "$(printf '%s\n' "$out" | grep -n '^decrypt:' | cut -d: -f1)" -lt "$(printf '%s\n' "$out" | grep -n '^smime:' | cut -d: -f1)" ] &&
		ok "$c: decrypt: ok, then smime: good" || bad "$c: $out"
	expect "signed then encrypted ($c)" '^(accept|discard)' "$out"
done
grep -q "smime-type=authEnveloped-data" "$T/m/se-aes-256-gcm.eml" && ok "AES-GCM came as authEnveloped-data (RFC 5083)" || bad "GCM not authEnveloped"
drain
for c in aes-128-cbc aes-256-cbc aes-256-gcm; do
	issued "se-$c@example.org" && ok "issued from the $c mail" || bad "nothing issued for se-$c@"
done

# ---- encrypted, then signed ----
enrol_entity es es@example.org
encrypted aes-256-cbc "$ENC" "$T/m/es.ent" "$T/m/es.enc"
signed anna "$T/m/es.enc" "$T/m/es.signed"
{ hdr anna@example.org enroll@ca.example.net es; cat "$T/m/es.signed"; } > "$T/m/es.eml"
out=$(milter_t "$T/m/es.eml" anna@example.org enroll@ca.example.net)
line decrypt "$out" | grep -q "^decrypt: ok" && line smime "$out" | grep -q "good signer=anna@example.org" &&
	ok "encrypted then signed: decrypt ok, smime good" || bad "es: $out"
expect "encrypted then signed" '^(accept|discard)' "$out"

# ---- a letter, signed then encrypted (RSA signer) ----
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\nRequest: add-admin\r\nAdmin: ola@example.org; Sales\r\n' > "$T/m/letter.ent"
signed ceo "$T/m/letter.ent" "$T/m/letter.signed"
encrypted aes-128-cbc "$ENC" "$T/m/letter.signed" "$T/m/letter.enc"
{ hdr ceo@example.org request@ca.example.net letter; cat "$T/m/letter.enc"; } > "$T/m/letter.eml"
expect "an encrypted letter" '^(accept|discard)' "$(milter_t "$T/m/letter.eml" ceo@example.org request@ca.example.net)"
$cg --json admin list | grep -q '"address":"ola@example.org"' && ok "the letter applied" || bad "ola not appointed"

# ---- gpgsm --encrypt ----
# Encrypting needs no key of one's own: the gateway's chain, trusted.
mkdir -p "$T/gpg"
chmod 700 "$T/gpg"
printf 'disable-crl-checks\ndisable-policy-checks\ndisable-dirmngr\n' > "$T/gpg/gpgsm.conf"
GNUPGHOME=$T/gpg gpgsm --batch --import "$T/ca/root-ca.pem" "$T/ca/issuing-ca.pem" "$ENC" 2>/dev/null
rfpr=$(openssl x509 -in "$T/ca/root-ca.pem" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
echo "$rfpr S relax" >> "$T/gpg/trustlist.txt"
enrol_entity gp gp@example.org
signed anna "$T/m/gp.ent" "$T/m/gp.signed"
if GNUPGHOME=$T/gpg gpgsm --batch --yes --disable-crl-checks --encrypt --base64 -r enroll@ca.example.net \
	-o "$T/m/gp.b64" "$T/m/gp.signed" 2> "$T/gpgsm.err"; then
	{
		hdr anna@example.org enroll@ca.example.net gp
		printf 'MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n'
		printf 'Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=smime.p7m\r\n\r\n'
		sed 's/$/\r/' "$T/m/gp.b64"
	} > "$T/m/gp.eml"
	out=$(milter_t "$T/m/gp.eml" anna@example.org enroll@ca.example.net)
	line decrypt "$out" | grep -q "^decrypt: ok" && ok "gpgsm --encrypt: decrypt: ok" || bad "gpgsm: $out"
	expect "encrypted by gpgsm" '^(accept|discard)' "$out"
else
	bad "gpgsm could not encrypt to the gateway: $(cat "$T/gpgsm.err")"
fi

# ---- refusals ----
enrol_entity wrong wrong@example.org
signed anna "$T/m/wrong.ent" "$T/m/wrong.signed"
encrypted aes-256-cbc "$T/stranger/cert.pem" "$T/m/wrong.signed" "$T/m/wrong.enc"
{ hdr anna@example.org enroll@ca.example.net wrong; cat "$T/m/wrong.enc"; } > "$T/m/wrong.eml"
out=$(milter_t "$T/m/wrong.eml" anna@example.org enroll@ca.example.net)
line decrypt "$out" | grep -q "^decrypt: failed the message is encrypted to a certificate that is not the gateway's" && ok "test mode: decrypt: failed" || bad "decrypt line: $out"
expect "encrypted to another certificate" \
	"^reject 554 5\\.7\\.5 certgate: the message is encrypted to a certificate that is not the gateway's \\(issuer .*Mail CA, serial [0-9A-F]+\\); send it unencrypted or encrypt it to the gateway's certificate" "$out"
# Truncated: the base64 cut in the middle, at a line end.
n=$(wc -l < "$T/m/se-aes-128-cbc.eml")
head -n $((n / 2)) "$T/m/se-aes-128-cbc.eml" > "$T/m/trunc.eml"
sed -i 's/^Message-ID: .*/Message-ID: <trunc@example.org>\r/' "$T/m/trunc.eml"
expect "truncated enveloped-data" '^reject 554 5\.6\.0 certgate: the encrypted part is not CMS enveloped-data' \
	"$(milter_t "$T/m/trunc.eml" anna@example.org enroll@ca.example.net)"
{
	hdr anna@example.org enroll@ca.example.net garbage
	printf 'MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n'
	printf 'Content-Transfer-Encoding: base64\r\n\r\n'
	head -c 3000 /dev/urandom | base64 -w 64 | sed 's/$/\r/'
} > "$T/m/garbage.eml"
expect "garbage enveloped-data" '^reject 554 5\.6\.0 certgate: the encrypted part is not CMS enveloped-data' \
	"$(milter_t "$T/m/garbage.eml" anna@example.org enroll@ca.example.net)"
printf 'Content-Type: application/pkcs7-mime; smime-type=compressed-data; name=smime.p7z\r\nContent-Transfer-Encoding: base64\r\n\r\nMAA=\r\n' > "$T/m/z.ent"
encrypted aes-128-cbc "$ENC" "$T/m/z.ent" "$T/m/z.enc"
{ hdr anna@example.org enroll@ca.example.net z; cat "$T/m/z.enc"; } > "$T/m/z.eml"
expect "compressed content inside" '^reject 554 5\.6\.0 certgate: compressed content is not taken' \
	"$(milter_t "$T/m/z.eml" anna@example.org enroll@ca.example.net)"
encrypted aes-128-cbc "$ENC" "$T/m/se-aes-128-cbc.enc" "$T/m/twice.enc"
{ hdr anna@example.org enroll@ca.example.net twice; cat "$T/m/twice.enc"; } > "$T/m/twice.eml"
expect "encrypted twice" '^reject 554 5\.6\.0 certgate: the message is encrypted twice' \
	"$(milter_t "$T/m/twice.eml" anna@example.org enroll@ca.example.net)"

# ---- what the issuer sends ----
m=$(last_mail anna@example.org)
[ -n "$m" ] || m=$(ls "$T/out/"*.eml | head -1)
openssl smime -pk7out -in "$m" 2>/dev/null | openssl cms -cmsout -print -inform PEM > "$T/out.cms" 2>/dev/null
grep -q "id-smime-aa-encrypKeyPref" "$T/out.cms" && grep -q "S/MIME Capabilities" "$T/out.cms" &&
	ok "outbound mail: SMIMEEncryptionKeyPreference and SMIMECapabilities" || bad "signed attributes: $(grep object: "$T/out.cms" | sort -u)"
openssl cms -verify -noverify -in "$m" -out /dev/null -certsout "$T/outcerts.pem" 2>/dev/null
encfp=$(openssl x509 -in "$ENC" -noout -fingerprint -sha256)
found=no
csplit -s -z -f "$T/oc" "$T/outcerts.pem" '/-----BEGIN CERTIFICATE-----/' '{*}'
for c in "$T"/oc*; do [ "$(openssl x509 -in "$c" -noout -fingerprint -sha256)" = "$encfp" ] && found=yes; done
[ $found = yes ] && ok "outbound mail carries the gateway's encryption certificate" || bad "no encryption certificate in $m"
openssl x509 -in "$ENC" -noout -text > "$T/enc.txt"
grep -q "Public-Key: (3072 bit)" "$T/enc.txt" && grep -A1 "Key Usage: critical" "$T/enc.txt" | grep -q -x " *Key Encipherment" &&
	grep -q "E-mail Protection" "$T/enc.txt" && grep -q "email:challenge@ca.example.net" "$T/enc.txt" &&
	ok "encryption certificate: RSA 3072, keyEncipherment only, emailProtection, gateway addresses" || bad "$(cat "$T/enc.txt")"
[ "$(stat -c '%U %a' "$T/ca/gateway-enc.key")" = "certgate 600" ] && ok "its key is the milter user's alone" || bad "key: $(stat -c '%U %a' "$T/ca/gateway-enc.key")"

# ---- rekey and overlap ----
cp "$ENC" "$T/old-enc.pem"
$cg ca gateway-rekey > /dev/null && ok "certgate ca gateway-rekey" || bad "rekey"
cmp -s "$ENC" "$T/old-enc.pem" && bad "the certificate did not change" || ok "a new encryption certificate"
enrol_entity ov ov@example.org
signed anna "$T/m/ov.ent" "$T/m/ov.signed"
encrypted aes-256-cbc "$T/old-enc.pem" "$T/m/ov.signed" "$T/m/ov.enc"
{ hdr anna@example.org enroll@ca.example.net ov; cat "$T/m/ov.enc"; } > "$T/m/ov.eml"
expect "encrypted to the previous certificate, within the overlap" '^(accept|discard)' \
	"$(milter_t "$T/m/ov.eml" anna@example.org enroll@ca.example.net)"
sed 's/^Message-ID: .*/Message-ID: <ov2@example.org>\r/' "$T/m/ov.eml" > "$T/m/ov2.eml"
echo "GatewayEncryptionOverlap 0" >> "$T/certgate.conf"
expect "after the overlap" "^reject 554 5\\.7\\.5 certgate: the message is encrypted to a certificate that is not the gateway's" \
	"$(milter_t "$T/m/ov2.eml" anna@example.org enroll@ca.example.net)"
$cg audit show | grep -q " ca.gateway-rekey " && ok "the rekey is audited" || bad "no ca.gateway-rekey entry"
exit $fail
