#!/bin/sh
# smime_extract.sh: mailparse extracts exactly the bytes an S/MIME signature
# covers. Messages are signed by the openssl CLI and by gpgsm (RSA and P-256,
# detached and opaque, quoted-printable and base64 content, CRLF and LF
# storage); the extracted bytes must verify with `openssl cms -verify`, and
# tampered copies (one body byte, a header inside the signed part) must not.
set -eu
. "$CG_SRC/tests/lib/pki.sh"
tool="$CG_BIN/../tests/cg-mailtool"
T=$(mktemp -d "$CG_TEST_TMP/smime.XXXXXX")
trap 'pki_gpgsm_stop "$T/gnupg"; rm -rf "$T"' EXIT
fail=0
checked=0

pki_ca "$T/ca" "Letter CA"
pki_leaf "$T/ca" "$T/rsa" ceo@example.pl rsa
pki_leaf "$T/ca" "$T/ec" ceo@example.pl ec
pki_gpgsm_init "$T/gnupg" "$T/ca" "$T/rsa"

printf 'From: ceo@example.pl\r\nTo: request@ca.example.net\r\nSubject: letter\r\n' > "$T/hdr"
printf 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nRequest: register-organisation\r\nOrganisation: Zak=C5=82ad Us=C5=82ug Sp. z o.o.\r\nLocality: Krak=C3=B3w\r\n' > "$T/qp.ent"
printf 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n' \
	"$(printf 'Request: add-domain\nDomain: example.com\n' | base64 -w 60)" > "$T/b64.ent"

# verify MSG: extract and verify; prints "ok" or the failure.
verify() {
	out="$T/x"
	rm -rf "$out"
	mkdir -p "$out"
	kind=$("$tool" smime "$1" "$out") || { echo "no S/MIME found"; return 1; }
	if [ "$kind" = detached ]; then
		openssl cms -verify -binary -inform DER -in "$out/sig.der" -content "$out/signed.bin" \
			-CAfile "$T/ca/cert.pem" -purpose any -out /dev/null 2>"$out/err" ||
			{ head -1 "$out/err"; return 1; }
		"$tool" entity "$out/signed.bin" > "$out/text" || return 1
	else
		openssl cms -verify -inform DER -in "$out/sig.der" -CAfile "$T/ca/cert.pem" \
			-purpose any -out "$out/signed.bin" 2>"$out/err" || { head -1 "$out/err"; return 1; }
		"$tool" entity "$out/signed.bin" > "$out/text" || return 1
	fi
	echo ok
}

expect() { # expect good|bad NAME MSG
	checked=$((checked + 1))
	if r=$(verify "$3"); then got=good; else got=bad; fi
	if [ "$got" != "$1" ]; then
		echo "FAIL $2: expected $1, got $got ($r)"
		fail=1
	else
		echo "ok   $2 ($1)"
	fi
}

for ent in qp b64; do
	for key in rsa ec; do
		for mode in detached opaque; do
			m="$T/openssl-$key-$mode-$ent.eml"
			pki_sign_openssl "$T/$key" "$T/$ent.ent" "$m" "$mode" "$T/hdr"
			cp "$m" "$m.lf"; pki_lf "$m.lf"
			cp "$m" "$m.crlf"; pki_crlf "$m.crlf"
			expect good "openssl $key $mode $ent mixed" "$m"
			expect good "openssl $key $mode $ent LF" "$m.lf"
			expect good "openssl $key $mode $ent CRLF" "$m.crlf"
		done
	done
	m="$T/gpgsm-rsa-$ent.eml"
	pki_sign_gpgsm "$T/gnupg" ceo@example.pl "$T/$ent.ent" "$m" "$T/hdr"
	cp "$m" "$m.lf"; pki_lf "$m.lf"
	expect good "gpgsm rsa detached $ent CRLF" "$m"
	expect good "gpgsm rsa detached $ent LF" "$m.lf"
done

# The text of the verified content is the letter.
verify "$T/openssl-ec-detached-qp.eml" > /dev/null
grep -q 'Organisation: Zakład Usług Sp. z o.o.' "$T/x/text" || { echo "FAIL: decoded text"; fail=1; }
verify "$T/gpgsm-rsa-b64.eml" > /dev/null
grep -q 'Domain: example.com' "$T/x/text" || { echo "FAIL: decoded base64 text"; fail=1; }

# Tampering: one byte of the signed body; a header inside the signed part.
for src in openssl-rsa-detached-qp gpgsm-rsa-qp; do
	sed 's/Organisation: Zak/Organisation: Zek/' "$T/$src.eml" > "$T/$src-body.eml"
	expect bad "$src one body byte changed" "$T/$src-body.eml"
	sed 's/^Content-Transfer-Encoding: quoted-printable/Content-Transfer-Encoding: 8bit/' \
		"$T/$src.eml" > "$T/$src-hdr.eml"
	expect bad "$src header inside the signed part changed" "$T/$src-hdr.eml"
	# Outer headers are not signed: changing them keeps the signature good.
	sed 's/^Subject: letter/Subject: a different subject/' "$T/$src.eml" > "$T/$src-outer.eml"
	expect good "$src outer header changed" "$T/$src-outer.eml"
done
# The content of one message with the signature of another (same boundary).
sig_part() { # the base64 lines of the signature part
	awk '/^Content-Type: application\/pkcs7-signature/ {s = 1; next}
	     s == 1 && /^\r?$/ {s = 2; next}
	     s == 2 && /^--/ {exit}
	     s == 2 {print}' "$1"
}
{
	awk '{print} /^Content-Type: application\/pkcs7-signature/ {s = 1}
	     s == 1 && /^\r?$/ {exit}' "$T/openssl-rsa-detached-qp.eml"
	sig_part "$T/openssl-ec-detached-b64.eml"
	grep -- '--\r\?$' "$T/openssl-rsa-detached-qp.eml" | tail -1
} > "$T/swap.eml"
"$tool" dump "$T/swap.eml" | grep -q '^smime: detached' || { echo "FAIL: swap.eml is not well-formed"; fail=1; }
expect bad "content of one message, signature of another" "$T/swap.eml"

echo "$checked S/MIME checks"
[ "$checked" -ge 34 ] || { echo "FAIL: too few checks ran"; fail=1; }
exit $fail
