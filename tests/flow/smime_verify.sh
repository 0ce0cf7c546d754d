#!/bin/sh
# smime_verify.sh: certgate's S/MIME verification (certgate-milter -t prints
# "smime: good signer=ADDR" or "smime: bad REASON" for any signed message)
# on letters signed by the openssl CLI (RSA, P-256) and gpgsm (RSA), detached
# and opaque, quoted-printable and base64, CRLF and LF. Each failure has its
# own reason: tampered body or signed header, swapped signer certificate,
# untrusted CA, another address, expired, SHA-1, RSA-1024, revoked by certgate.
set -eu
. "$CG_SRC/tests/lib/pki.sh"
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test smime
CA_CLEANUP='pki_gpgsm_stop "$T/gnupg"'
ca_dirs
mkdir -p "$T/m"

pki_ca "$T/ca" "Letter CA"
pki_ca "$T/evilca" "Evil CA"
pki_leaf "$T/ca" "$T/rsa" ceo@example.pl rsa
pki_leaf "$T/ca" "$T/ec" ceo@example.pl ec
pki_leaf "$T/ca" "$T/other" jan@example.pl ec
pki_leaf "$T/ca" "$T/ec2" ceo@example.pl ec
pki_leaf "$T/evilca" "$T/evil" ceo@example.pl ec
# RSA 1024, and a certificate that expired in 2021 (openssl ca sets the dates).
mkdir -p "$T/rsa1024" "$T/old" "$T/oca/new"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$T/rsa1024/key.pem" 2>/dev/null
openssl req -new -key "$T/rsa1024/key.pem" -subj "/CN=ceo" -out "$T/rsa1024/req.pem"
openssl x509 -req -in "$T/rsa1024/req.pem" -CA "$T/ca/cert.pem" -CAkey "$T/ca/key.pem" -CAcreateserial \
	-days 30 -extfile "$T/rsa/ext.cnf" -out "$T/rsa1024/cert.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/old/key.pem" 2>/dev/null
openssl req -new -key "$T/old/key.pem" -subj "/CN=ceo" -out "$T/old/req.pem"
: > "$T/oca/index.txt"
echo 1000 > "$T/oca/serial"
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s/oca/index.txt\nnew_certs_dir=%s/oca/new\nserial=%s/oca/serial\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n' \
	"$T" "$T" "$T" > "$T/oca/ca.cnf"
openssl ca -batch -config "$T/oca/ca.cnf" -cert "$T/ca/cert.pem" -keyfile "$T/ca/key.pem" \
	-startdate 20200101000000Z -enddate 20210101000000Z -extfile "$T/ec/ext.cnf" \
	-in "$T/old/req.pem" -out "$T/old/cert.pem" > /dev/null 2>&1
pki_gpgsm_init "$T/gnupg" "$T/ca" "$T/rsa"

ca_conf "LetterTrustAnchors $T/ca/cert.pem"
$cg ca init > /dev/null

printf 'From: ceo@example.pl\r\nTo: someone@example.org\r\nSubject: letter\r\n' > "$T/hdr"
printf 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nRequest: register-organisation\r\nOrganisation: Zak=C5=82ad Us=C5=82ug Sp. z o.o.\r\n' > "$T/qp.ent"
printf 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n' \
	"$(printf 'Request: add-domain\nDomain: example.com\n' | base64 -w 60)" > "$T/b64.ent"

smime() { # the smime: line for a message
	"$CG_BIN/certgate-milter" -c "$T/certgate.conf" -t "$1" --rcpt someone@example.org 2>&1 |
		sed -n 's/^smime: //p'
}
expect() { # expect NAME PATTERN FILE
	got=$(smime "$3")
	if printf '%s\n' "$got" | grep -q -E -- "$2"; then ok "$1: $got"; else bad "$1: got '$got', want /$2/"; fi
}

for ent in qp b64; do
	for key in rsa ec; do
		for mode in detached opaque; do
			m="$T/m/openssl-$key-$mode-$ent.eml"
			pki_sign_openssl "$T/$key" "$T/$ent.ent" "$m" "$mode" "$T/hdr"
			cp "$m" "$m.lf"; pki_lf "$m.lf"
			cp "$m" "$m.crlf"; pki_crlf "$m.crlf"
			expect "openssl $key $mode $ent" '^good signer=ceo@example\.pl$' "$m"
			expect "openssl $key $mode $ent, LF" '^good signer=ceo@example\.pl$' "$m.lf"
			expect "openssl $key $mode $ent, CRLF" '^good signer=ceo@example\.pl$' "$m.crlf"
		done
	done
	# gpgsm 2.2 (Debian 12) crashes importing an EC key from PKCS#12: P-256
	# letters come from the openssl CLI only.
	for g in gnupg:rsa; do
		m="$T/m/gpgsm-${g#*:}-$ent.eml"
		pki_sign_gpgsm "$T/${g%:*}" ceo@example.pl "$T/$ent.ent" "$m" "$T/hdr"
		cp "$m" "$m.lf"; pki_lf "$m.lf"
		expect "gpgsm ${g#*:} detached $ent" '^good signer=ceo@example\.pl$' "$m"
		expect "gpgsm ${g#*:} detached $ent, LF" '^good signer=ceo@example\.pl$' "$m.lf"
	done
done
# The domain is compared case-insensitively, the local part exactly.
pki_leaf "$T/ca" "$T/upper" ceo@EXAMPLE.PL ec
pki_sign_openssl "$T/upper" "$T/qp.ent" "$T/m/upper.eml" detached "$T/hdr"
expect "certificate domain in upper case" '^good signer=ceo@example\.pl$' "$T/m/upper.eml"
pki_leaf "$T/ca" "$T/ucase" CEO@example.pl ec
pki_sign_openssl "$T/ucase" "$T/qp.ent" "$T/m/ucase.eml" detached "$T/hdr"
expect "certificate local part in upper case" '^bad signer does not match From' "$T/m/ucase.eml"

# Tampering.
for src in openssl-rsa-detached-qp gpgsm-rsa-qp; do
	sed 's/Organisation: Zak/Organisation: Zek/' "$T/m/$src.eml" > "$T/m/$src-body.eml"
	expect "$src: one body byte changed" '^bad bad signature: it does not verify' "$T/m/$src-body.eml"
	sed 's/^Content-Transfer-Encoding: quoted-printable/Content-Transfer-Encoding: 8bit/' \
		"$T/m/$src.eml" > "$T/m/$src-hdr.eml"
	expect "$src: a header inside the signed part changed" '^bad bad signature' "$T/m/$src-hdr.eml"
done
# Signed by ec, but the message carries another certificate of the same
# address (ec2) instead of the signer's.
{ cat "$T/hdr"; openssl cms -sign -binary -md sha256 -nocerts -certfile "$T/ec2/cert.pem" -in "$T/qp.ent" \
	-signer "$T/ec/cert.pem" -inkey "$T/ec/key.pem"; } > "$T/m/swapped.eml"
expect "swapped signer certificate" '^bad bad signature' "$T/m/swapped.eml"
# A digest algorithm OpenSSL cannot set up (the signed-data's SHA-256 OID
# bent to 2.16.840.1.101.3.5.2.1). OpenSSL 3.0's CMS_verify leaked a copy of
# a memory BIO on this path; under ASan the leak fails the test.
openssl cms -sign -binary -md sha256 -outform DER -in "$T/qp.ent" -signer "$T/ec/cert.pem" \
	-inkey "$T/ec/key.pem" -out "$T/sig.der"
python3 -c 'import sys
d = open(sys.argv[1], "rb").read()
o = bytes.fromhex("0609608648016503040201")
assert o in d
sys.stdout.buffer.write(d.replace(o, bytes.fromhex("0609608648016503050201"), 1))' "$T/sig.der" |
	base64 -w 64 > "$T/sig.b64"
pki_multipart_signed "$T/qp.ent" "$T/sig.b64" "$T/m/baddigest.eml" "$T/hdr"
expect "unknown digest algorithm" '^bad bad signature: it does not verify' "$T/m/baddigest.eml"
pki_sign_openssl "$T/evil" "$T/qp.ent" "$T/m/untrusted.eml" detached "$T/hdr"
expect "signer from an untrusted CA" '^bad untrusted signer: unable to get local issuer certificate' "$T/m/untrusted.eml"
pki_sign_openssl "$T/other" "$T/qp.ent" "$T/m/other.eml" detached "$T/hdr"
expect "trusted certificate of another address" '^bad signer does not match From: the certificate is for jan@example\.pl, the mail is from ceo@example\.pl' "$T/m/other.eml"
pki_sign_openssl "$T/old" "$T/qp.ent" "$T/m/old.eml" detached "$T/hdr"
expect "expired signer" '^bad signer certificate expired' "$T/m/old.eml"
{ cat "$T/hdr"; openssl cms -sign -binary -md sha1 -in "$T/qp.ent" -signer "$T/ec/cert.pem" \
	-inkey "$T/ec/key.pem"; } > "$T/m/sha1.eml"
expect "SHA-1" '^bad unsupported algorithm: digest SHA1' "$T/m/sha1.eml"
pki_sign_openssl "$T/rsa1024" "$T/qp.ent" "$T/m/rsa1024.eml" detached "$T/hdr"
expect "RSA 1024" '^bad unsupported algorithm: RSA key of 1024 bits' "$T/m/rsa1024.eml"
printf 'From: ceo@example.pl\r\nTo: someone@example.org\r\nSubject: plain\r\n\r\nhello\r\n' > "$T/m/plain.eml"
[ -z "$(smime "$T/m/plain.eml")" ] && ok "an unsigned message has no smime line" || bad "smime line on an unsigned message"

# A certificate certgate issued, then revoked (anchors: certgate's own root).
$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL \
	--contact ceo@example.org > /dev/null
$cg domain add example.org --org 1 --validated > /dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/own.key" \
	-subj "/CN=x" -out "$T/own.csr" 2>/dev/null
$cg cert issue --org 1 --mailbox ceo@example.org --csr "$T/own.csr" > /dev/null
dns_start "$T/dns" 127.0.0.15
dns_run "$CG_BIN/certgate-issuer" --drain -c "$T/certgate.conf" > "$T/issuer.log" 2>&1
serial=$($cg --json cert list | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p' | head -1)
$cg cert show "$serial" --pem > "$T/own.pem"
cat "$T/ca/issuing-ca.pem" > "$T/own-chain.pem"
sed -i "s|^LetterTrustAnchors .*|LetterTrustAnchors $T/ca/root-ca.pem|" "$T/certgate.conf"
sed 's/^From: ceo@example.pl/From: ceo@example.org/' "$T/hdr" > "$T/hdr.org"
{ cat "$T/hdr.org"; openssl cms -sign -binary -md sha256 -in "$T/qp.ent" -signer "$T/own.pem" \
	-inkey "$T/own.key" -certfile "$T/own-chain.pem"; } > "$T/m/own.eml"
expect "certgate's own certificate" '^good signer=ceo@example\.org$' "$T/m/own.eml"
$cg cert revoke "$serial" --reason keyCompromise > /dev/null
expect "certgate's own certificate, revoked" '^bad signer certificate revoked' "$T/m/own.eml"
exit $fail
