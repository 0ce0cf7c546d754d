#!/bin/sh
# enroll.sh: enrolment and revocation by mail through the real Postfix. An
# admin signs a mail with a CSR and a CSV list; the report (CSV and
# certificates) arrives in the admin's Maildir; an invitee answers with a
# CSR; an unsigned enrolment is held until the admin confirms; the admin
# revokes a certificate by mail and the CRL lists it. Attacks: an admin of
# another organisation revoking, a mailbox of another organisation's domain.
. "$CG_SRC/tests/e2e/lib.sh"
. "$CG_SRC/tests/lib/pki.sh"
CA="$CG_SANDBOX/pki/letter-ca"
id=$(date +%s%N)
org=$(certgate --json org add --name "Enrol $id Sp. z o.o." --registration NTRPL-0000888888 \
	--country PL --contact boss$id@example.de | sed 's/.*"id":"\([0-9]*\)".*/\1/')
# example.de belongs to this test's organisation (the operator attests).
certgate domain add example.de --org "$org" --validated > /dev/null
certgate admin add kasia@example.de --org "$org" > /dev/null
pki_leaf "$CA" "$T/kasia" kasia@example.de ec
csr() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" \
	-subj "/CN=$1" ${2:+-addext subjectAltName=email:$2} -out "$T/$1.csr" 2>/dev/null; }
csr one one$id@example.de
csr two
csr evil evil$id@example.org
{
	printf 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n--b0\r\n'
	printf 'Content-Type: text/plain\r\n\r\nNew staff.\r\n--b0\r\n'
	printf 'Content-Type: application/pkcs10; name="one.csr"\r\nContent-Disposition: attachment; filename="one.csr"\r\n\r\n'
	sed 's/$/\r/' "$T/one.csr"
	printf -- '--b0\r\nContent-Type: text/csv; name="staff.csv"\r\nContent-Disposition: attachment; filename="staff.csv"\r\n\r\n'
	printf 'First Name,Last Name,Email,Country,CSR\r\n'
	printf 'Tomasz,Nowak,two%s@example.de,PL,"%s"\r\n' "$id" "$(cat "$T/two.csr")"
	printf 'Eva,Other,evil%s@example.org,PL,"%s"\r\n' "$id" "$(cat "$T/evil.csr")"
	printf 'Inga,Invited,inga%s@example.de,PL,\r\n' "$id"
	printf '=cmd|calc,Formula,f%s@example.de,PL,"%s"\r\n' "$id" "$(cat "$T/two.csr")"
	printf '"Line\r\nBcc: x@evil.example",Inject,crlf%s@example.de,PL,"%s"\r\n' "$id" "$(cat "$T/two.csr")"
	printf 'Bad,Csr,bad%s@example.de,PL,MIIBbroken\r\n' "$id"
	printf -- '--b0--\r\n'
} > "$T/enrol.ent"
pki_crlf "$T/enrol.ent" # the PEM inside the CSV cells too: as it travels
printf 'From: kasia@example.de\r\nTo: enroll@ca.example.net\r\nSubject: certificates\r\nMessage-ID: <e.%s@example.de>\r\n' "$id" > "$T/enrol.hdr"
pki_sign_openssl "$T/kasia" "$T/enrol.ent" "$T/enrol.eml" detached "$T/enrol.hdr"
out=$(send "$CG_ORG_PORT" kasia@example.de enroll@ca.example.net "$T/enrol.eml")
echo "$out" | grep -q '^<-  250 ' && ok "signed enrolment sent through the organisation's server" || bad "enrol: $out"

inv=$(wait_mail "inga$id@example.de" "^Subject: ACME: " 30)
[ -n "$inv" ] && ok "the invitee gets an invitation" || { bad "no invitation"; finish; }
tok=$(sed -n 's/^Subject: ACME: //p' "$inv" | tr -d '\r')
mid=$(sed -n 's/^Message-ID: //p' "$inv" | tr -d '\r<>')
csr inga "inga$id@example.de"
{ printf 'From: inga%s@example.de\r\nTo: challenge@ca.example.net\r\nSubject: Re: ACME: %s\r\nIn-Reply-To: <%s>\r\n\r\n' "$id" "$tok" "$mid"
  sed 's/$/\r/' "$T/inga.csr"; } > "$T/answer.eml"
out=$(send "$CG_ORG_PORT" "inga$id@example.de" challenge@ca.example.net "$T/answer.eml")
echo "$out" | grep -q '^<-  250 ' && ok "the invitee answers with a CSR" || bad "answer: $out"
rep=$(wait_mail kasia@example.de "^Subject: Enrolment R[0-9]*: 3 issued, 4 refused" 60)
[ -n "$rep" ] && ok "the report reaches the admin: 3 issued, 4 refused" || { bad "no report: $(ls "$(maildir kasia@example.de)/new" 2>/dev/null | wc -l) mails"; finish; }
grep -q "filename=\"one$id@example.de.p7c\"" "$rep" && ok "with the certificates" || bad "report attachments"
/usr/bin/python3 "$CG_SRC/tests/lib/report-csv.py" "$rep" > "$T/report.csv"
for want in "evil$id@example.org\",\"refused\",\"\",\"example.org is not a domain" "f$id@example.de\",\"refused\",\"\",\"First Name looks like a spreadsheet formula" \
	"crlf$id@example.de\",\"refused\",\"\",\"First Name must be" "bad$id@example.de\",\"refused\",\"\",\"CSR: "; do
	grep -q -F -- "$want" "$T/report.csv" && ok "report row: ${want%%\"*}" || bad "report lacks: $want"
done
# 10,001 rows: refused whole.
awk 'BEGIN { printf "Email,CSR\r\n"; for (i = 0; i < 10001; i++) printf "u%d@example.de,x\r\n", i }' > "$T/big.csv"
{ printf 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n--b0\r\nContent-Type: text/plain\r\n\r\nAll.\r\n--b0\r\n'
  printf 'Content-Type: text/csv; name="big.csv"\r\nContent-Disposition: attachment; filename="big.csv"\r\n\r\n'
  cat "$T/big.csv"; printf -- '--b0--\r\n'; } > "$T/big.ent"
pki_sign_openssl "$T/kasia" "$T/big.ent" "$T/big.eml" detached "$T/enrol.hdr"
out=$(send "$CG_CA_PORT" kasia@example.de enroll@ca.example.net "$T/big.eml")
echo "$out" | grep -q '^<\*\* *554 5\.6\.0 certgate: CSV line 10002: more than 10000 rows' && ok "10,001 rows refused" || bad "big CSV: $(echo "$out" | grep '^<\*\*')"

# Unsigned: held, then confirmed by the admin.
csr three three$id@example.de
{ printf 'From: kasia@example.de\r\nTo: enroll@ca.example.net\r\nSubject: one more\r\n\r\n'; sed 's/$/\r/' "$T/three.csr"; } > "$T/unsigned.eml"
out=$(send "$CG_ORG_PORT" kasia@example.de enroll@ca.example.net "$T/unsigned.eml")
cm=$(wait_mail kasia@example.de "^Subject: ACME: " 30)
[ -n "$cm" ] && ok "unsigned enrolment held; a confirmation goes to the admin" || { bad "no confirmation"; finish; }
tok=$(sed -n 's/^Subject: ACME: //p' "$cm" | tr -d '\r')
mid=$(sed -n 's/^Message-ID: //p' "$cm" | tr -d '\r<>')
printf 'From: kasia@example.de\r\nTo: challenge@ca.example.net\r\nSubject: Re: ACME: %s\r\nIn-Reply-To: <%s>\r\n\r\nYes.\r\n' "$tok" "$mid" > "$T/confirm.eml"
send "$CG_ORG_PORT" kasia@example.de challenge@ca.example.net "$T/confirm.eml" > /dev/null
[ -n "$(wait_mail kasia@example.de "^Subject: Enrolment R[0-9]*: 1 issued, 0 refused" 60)" ] && ok "confirmed: issued" || bad "held request not issued"

# Revocation by mail: another organisation's admin is refused; the admin revokes.
serial=$(certgate --json cert list | tr '}' '\n' | grep "\"mailbox\":\"one$id@example.de\"" | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p')
printf 'Content-Type: text/plain\r\n\r\nSerial: %s\r\nReason: affiliationChanged\r\n' "$serial" > "$T/rv.ent"
pki_leaf "$CA" "$T/outsider" admin$id@example.org ec
other=$(certgate --json org add --name "Other $id Ltd" --registration NTRGB-87654321 --country GB \
	--contact "ceo$id@example.org" | sed 's/.*"id":"\([0-9]*\)".*/\1/')
certgate admin add "admin$id@example.org" --org "$other" > /dev/null
printf 'From: admin%s@example.org\r\nTo: revoke@ca.example.net\r\nSubject: revoke\r\n' "$id" > "$T/rv-out.hdr"
pki_sign_openssl "$T/outsider" "$T/rv.ent" "$T/rv-out.eml" detached "$T/rv-out.hdr"
out=$(send "$CG_CA_PORT" "admin$id@example.org" revoke@ca.example.net "$T/rv-out.eml")
echo "$out" | grep -q '^<\*\* *550 5\.7\.1 certgate: .* may not revoke' && ok "revocation by another organisation's admin refused" || bad "outsider: $(echo "$out" | grep '^<\*\*')"
printf 'From: kasia@example.de\r\nTo: revoke@ca.example.net\r\nSubject: revoke\r\n' > "$T/rv.hdr"
pki_sign_openssl "$T/kasia" "$T/rv.ent" "$T/rv.eml" detached "$T/rv.hdr"
out=$(send "$CG_ORG_PORT" kasia@example.de revoke@ca.example.net "$T/rv.eml")
[ -n "$(wait_mail kasia@example.de "^Subject: Certificate $serial revoked" 30)" ] && ok "revoked by mail; the admin is told" || bad "revocation: $out"
i=0
crl() { openssl crl -in "$CG_SANDBOX/certgate/crl/issuing-ca.crl" -inform DER -noout -text 2>/dev/null ||
	openssl crl -in "$CG_SANDBOX/certgate/crl/issuing-ca.crl" -noout -text 2>/dev/null; }
while ! crl | grep -qi "Serial Number: $serial" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
crl | grep -qi "Serial Number: $serial" &&
	ok "the CRL lists it" || bad "CRL lacks $serial"
finish
