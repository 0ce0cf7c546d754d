#!/bin/sh
# seeds.sh OUT: fresh fuzz seeds, signed now by ceo@example.pl's test
# certificate (tests/data/fuzzpki): a signed mail is taken only while its
# signing time is recent, so seeds signed once would stop reaching past the
# signature check. OUT/letter/*.eml, OUT/enroll/*.eml and OUT/mail/*.eml,
# among them mail encrypted to the test gateway encryption certificate
# (fuzzpki/gwenc.pem): signed then encrypted (AES-GCM, AES-CBC) and
# encrypted then signed. The static seeds in tests/data are re-signed in
# place when asked (--static).
set -eu
out=$1
P="$CG_SRC/tests/data/fuzzpki"
mkdir -p "$out/letter" "$out/enroll" "$out/mail"
# sign ENTITY TO SUBJECT OUT detached|opaque
sign() {
	{
		printf 'From: ceo@example.pl\r\nTo: %s\r\nSubject: %s\r\n' "$2" "$3"
		if [ "$5" = opaque ]; then nd=-nodetach; else nd=; fi
		openssl cms -sign -binary $nd -md sha256 -in "$1" -signer "$P/ceo.pem" -inkey "$P/ceo.key"
	} > "$4"
}
sign "$P/letter-detached.ent" request@ca.example.net letter "$out/letter/detached.eml" detached
sign "$P/letter-opaque.ent" request@ca.example.net letter "$out/letter/opaque.eml" opaque
sign "$P/enroll-pem.ent" enroll@ca.example.net enrol "$out/enroll/pem.eml" detached
sign "$P/enroll-csv.ent" enroll@ca.example.net enrol "$out/enroll/csv.eml" opaque
sign "$P/enroll-renew.ent" enroll@ca.example.net renew "$out/enroll/renew.eml" detached
sign "$P/enroll-dups.ent" enroll@ca.example.net dups "$out/enroll/dups.eml" detached
# encrypt ENTITY TO SUBJECT OUT CIPHER [signed-first|signed-after]
encrypt() {
	case ${6:-signed-first} in
	signed-first)
		openssl cms -sign -binary -md sha256 -in "$1" -signer "$P/ceo.pem" -inkey "$P/ceo.key" > "$4.in"
		{
			printf 'From: ceo@example.pl\r\nTo: %s\r\nSubject: %s\r\n' "$2" "$3"
			openssl cms -encrypt -binary "-$5" -in "$4.in" "$P/gwenc.pem"
		} > "$4"
		;;
	signed-after)
		openssl cms -encrypt -binary "-$5" -in "$1" "$P/gwenc.pem" > "$4.in"
		{
			printf 'From: ceo@example.pl\r\nTo: %s\r\nSubject: %s\r\n' "$2" "$3"
			openssl cms -sign -binary -md sha256 -in "$4.in" -signer "$P/ceo.pem" -inkey "$P/ceo.key"
		} > "$4"
		;;
	esac
	rm -f "$4.in"
}
encrypt "$P/letter-detached.ent" request@ca.example.net letter "$out/letter/encrypted.eml" aes-256-gcm
encrypt "$P/enroll-pem.ent" enroll@ca.example.net enrol "$out/enroll/pem-encrypted.eml" aes-256-gcm
encrypt "$P/enroll-csv.ent" enroll@ca.example.net enrol "$out/enroll/csv-encrypted.eml" aes-128-cbc
encrypt "$P/enroll-pem.ent" enroll@ca.example.net enrol "$out/enroll/pem-enc-signed.eml" aes-256-cbc signed-after
cp "$out/enroll/pem-encrypted.eml" "$out/enroll/pem-enc-signed.eml" "$out/mail/"
if [ "${2:-}" = --static ]; then
	cp "$out/letter/detached.eml" "$out/letter/opaque.eml" "$CG_SRC/tests/data/letter/"
	cp "$out/enroll/pem.eml" "$out/enroll/csv.eml" "$CG_SRC/tests/data/enroll/"
fi
