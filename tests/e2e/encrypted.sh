#!/bin/sh
# encrypted.sh: a mail client that encrypts whenever it can, through the real
# Postfix. The admin's client learns the gateway's encryption certificate
# from a mail the gateway sent (the certificates in its signature; the one
# for keyEncipherment), then sends its next enrolment signed and encrypted to
# it (openssl cms, AES-256-GCM): taken, issued, reported. Encrypted to
# another certificate: refused with 554 5.7.5 through Postfix.
. "$CG_SRC/tests/e2e/lib.sh"
. "$CG_SRC/tests/lib/pki.sh"
CA="$CG_SANDBOX/pki/letter-ca"
id=$(date +%s%N)
org=$(certgate --json org add --name "Verschlüsselt $id GmbH" --registration NTRAT-FN123456 \
	--country AT --contact "ceo$id@example.at" | sed 's/.*"id":"\([0-9]*\)".*/\1/')
certgate domain add example.at --org "$org" --validated > /dev/null 2>&1 || true
certgate admin add "lena$id@example.at" --org "$org" > /dev/null
pki_leaf "$CA" "$T/lena" "lena$id@example.at" ec
pki_leaf "$CA" "$T/other" "other$id@example.at" rsa
# enrolment NAME MAILBOX: $T/NAME.ent, a CSR for MAILBOX as an attachment
enrolment() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" -subj "/CN=$1" \
		-addext "subjectAltName=email:$2" -out "$T/$1.csr" 2>/dev/null
	{
		printf 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n--b0\r\n'
		printf 'Content-Type: text/plain\r\n\r\nPlease issue.\r\n--b0\r\n'
		printf 'Content-Type: application/pkcs10; name="%s.csr"\r\nContent-Disposition: attachment; filename="%s.csr"\r\n\r\n' "$1" "$1"
		cat "$T/$1.csr"
		printf -- '--b0--\r\n'
	} > "$T/$1.ent"
	pki_crlf "$T/$1.ent"
}
hdr() { printf 'From: lena%s@example.at\r\nTo: enroll@ca.example.net\r\nSubject: %s\r\nMessage-ID: <%s.%s@example.at>\r\n' "$id" "$1" "$1" "$id"; }

# 1. In clear: the report is the first mail from the gateway.
enrolment first "first$id@example.at"
hdr first > "$T/first.hdr"
pki_sign_openssl "$T/lena" "$T/first.ent" "$T/first.eml" detached "$T/first.hdr"
send "$CG_ORG_PORT" "lena$id@example.at" enroll@ca.example.net "$T/first.eml" > /dev/null
rep=$(wait_mail "lena$id@example.at" "^Subject: Enrolment R[0-9]*: 1 issued" 60)
[ -n "$rep" ] && ok "a first enrolment in clear: the report arrives" || { bad "no first report"; finish; }

# 2. The client learns the encryption certificate from that mail.
openssl cms -verify -noverify -in "$rep" -out /dev/null -certsout "$T/certs.pem" 2>/dev/null
csplit -s -z -f "$T/c" "$T/certs.pem" '/-----BEGIN CERTIFICATE-----/' '{*}'
enc=
for c in "$T"/c[0-9]*; do
	ku=$(openssl x509 -in "$c" -noout -ext keyUsage 2>/dev/null | tail -1 | tr -d ' ')
	[ "$ku" = KeyEncipherment ] && enc=$c
done
[ -n "$enc" ] && openssl x509 -in "$enc" -noout -ext subjectAltName | grep -q "email:enroll@ca.example.net" &&
	ok "the gateway's mail carries its encryption certificate (keyEncipherment, enroll@ in its SAN)" ||
	{ bad "no encryption certificate in the report"; finish; }

# 3. Signed, then encrypted to it.
enrolment second "second$id@example.at"
openssl cms -sign -binary -md sha256 -in "$T/second.ent" -signer "$T/lena/cert.pem" -inkey "$T/lena/key.pem" > "$T/second.signed"
{ hdr second; openssl cms -encrypt -binary -aes-256-gcm -in "$T/second.signed" "$enc"; } > "$T/second.eml"
pki_crlf "$T/second.eml"
out=$(send "$CG_ORG_PORT" "lena$id@example.at" enroll@ca.example.net "$T/second.eml")
echo "$out" | grep -q '^<-  250 ' && ok "signed and encrypted (AES-256-GCM) through the organisation's Postfix" || bad "encrypted: $out"
rep2=$(wait_mail "lena$id@example.at" "filename=\"second$id@example\.at\.p7c\"" 60)
[ -n "$rep2" ] && certgate --json cert list --mailbox "second$id@example.at" | grep -q '"serial"' &&
	ok "issued from the encrypted enrolment and reported" || bad "nothing issued or reported for second$id@"

# 4. Encrypted to a certificate that is not the gateway's.
enrolment wrong "wrong$id@example.at"
openssl cms -sign -binary -md sha256 -in "$T/wrong.ent" -signer "$T/lena/cert.pem" -inkey "$T/lena/key.pem" > "$T/wrong.signed"
{ hdr wrong; openssl cms -encrypt -binary -aes-256-cbc -in "$T/wrong.signed" "$T/other/cert.pem"; } > "$T/wrong.eml"
pki_crlf "$T/wrong.eml"
out=$(send "$CG_CA_PORT" "lena$id@example.at" enroll@ca.example.net "$T/wrong.eml")
echo "$out" | grep -q "^<\*\* *554 5\.7\.5 certgate: the message is encrypted to a certificate that is not the gateway's" &&
	ok "encrypted to another certificate: $(echo "$out" | grep '^<\*\*' | head -1 | cut -c1-120)" || bad "wrong: $(echo "$out" | grep '^<\*\*')"
finish
