#!/bin/sh
# international.sh: an internationalised domain and mailboxes through the
# real Postfix (smtputf8_enable = yes on both servers):
#   - the operator adds bücher.example; the challenge reaches
#     postmaster@xn--bcher-kva.example, who answers over SMTPUTF8 with a From
#     in U-labels: validated;
#   - an admin there enrols jürgen@bücher.example (a CSV row with a CSR) and
#     invites pelé@bücher.example (a row without): the invitation travels
#     through Postfix to the UTF-8 mailbox, the answer comes back over
#     SMTPUTF8 and is taken; the report arrives; the certificates carry an
#     otherName SmtpUTF8Mailbox that the openssl CLI prints.
. "$CG_SRC/tests/e2e/lib.sh"
. "$CG_SRC/tests/lib/pki.sh"
CA="$CG_SANDBOX/pki/letter-ca"
id=$(date +%s%N)
U_DOMAIN="bücher.example" A_DOMAIN="xn--bcher-kva.example"
header() { sed -n "s/^$1: //p" "$2" | head -1 | tr -d '\r'; }
org=$(certgate --json org add --name "Bücher $id GmbH" --registration NTRDE-HRB54321 \
	--country DE --contact "chef$id@example.de" | sed 's/.*"id":"\([0-9]*\)".*/\1/')
before=$(count_mail "postmaster@$A_DOMAIN" '^Subject: ACME: ')
# The domain is this organisation's, or (a run before) is challenged for it again.
certgate domain add "$U_DOMAIN" --org "$org" > /dev/null 2>&1 || certgate domain challenge "$U_DOMAIN" > /dev/null
i=0
while [ "$(count_mail "postmaster@$A_DOMAIN" '^Subject: ACME: ')" -le "$before" ] && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
m=$(ls -t "$(maildir "postmaster@$A_DOMAIN")/new/"* 2>/dev/null | head -1)
[ -n "$m" ] && ok "the challenge reaches postmaster@$A_DOMAIN" || { bad "no challenge"; finish; }
tok=$(header Subject "$m" | sed 's/^ACME: //')
mid=$(header Message-ID "$m" | tr -d '<>')
{
	printf 'From: postmaster@%s\r\nTo: challenge@ca.example.net\r\nSubject: Re: ACME: %s\r\n' "$U_DOMAIN" "$tok"
	printf 'Message-ID: <pm.%s@%s>\r\nIn-Reply-To: <%s>\r\n' "$id" "$A_DOMAIN" "$mid"
	printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nJa, bitte.\r\n'
} > "$T/answer.eml"
out=$(send_utf8 "$CG_ORG_PORT" "postmaster@$A_DOMAIN" challenge@ca.example.net "$T/answer.eml")
echo "$out" | grep -q '^250' && ok "the answer over SMTPUTF8, From in U-labels: $out" || bad "answer: $out"
i=0
while ! certgate --json domain list | tr '}' '\n' | grep "\"domain\":\"$A_DOMAIN\"" | grep -q '"status":"validated"' &&
	[ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
owner=$(certgate --json domain list | tr '}' '\n' | grep "\"domain\":\"$A_DOMAIN\"" | sed 's/.*"org":"\([0-9]*\)".*/\1/')
certgate --json domain list | tr '}' '\n' | grep "\"domain\":\"$A_DOMAIN\"" | grep -q '"status":"validated"' &&
	[ "$owner" = "$org" ] && ok "$A_DOMAIN validated for organisation $org" || bad "domain: $(certgate domain list | grep "$A_DOMAIN")"

# An admin at the domain enrols one UTF-8 mailbox and invites another.
certgate admin add "chef$id@$U_DOMAIN" --org "$org" > /dev/null
pki_leaf "$CA" "$T/chef" "chef$id@$A_DOMAIN" ec
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/jr.key" -subj "/CN=jr" -out "$T/jr.csr" 2>/dev/null
{
	printf 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n--b0\r\n'
	printf 'Content-Type: text/plain; charset=utf-8\r\n\r\nNeue Kollegen.\r\n--b0\r\n'
	printf 'Content-Type: text/csv; charset=utf-8; name="staff.csv"\r\nContent-Disposition: attachment; filename="staff.csv"\r\n\r\n'
	printf 'First Name,Last Name,Email,Country,CSR\r\n'
	printf 'Jürgen,Müller,jürgen%s@%s,DE,"%s"\r\n' "$id" "$U_DOMAIN" "$(cat "$T/jr.csr")"
	printf 'Edson,Pelé,pelé%s@%s,DE,\r\n' "$id" "$U_DOMAIN"
	printf -- '--b0--\r\n'
} > "$T/enrol.ent"
pki_crlf "$T/enrol.ent"
printf 'From: chef%s@%s\r\nTo: enroll@ca.example.net\r\nSubject: Zertifikate\r\nMessage-ID: <e.%s@%s>\r\n' \
	"$id" "$A_DOMAIN" "$id" "$A_DOMAIN" > "$T/enrol.hdr"
pki_sign_openssl "$T/chef" "$T/enrol.ent" "$T/enrol.eml" detached "$T/enrol.hdr"
out=$(send "$CG_ORG_PORT" "chef$id@$A_DOMAIN" enroll@ca.example.net "$T/enrol.eml")
echo "$out" | grep -q '^<-  250 ' && ok "the signed enrolment sent" || bad "enrol: $(echo "$out" | grep '^<\*\*')"

inv=$(wait_mail "pelé$id@$A_DOMAIN" "^Subject: ACME: " 30)
[ -n "$inv" ] && ok "the invitation reaches pelé$id@$A_DOMAIN through Postfix (SMTPUTF8)" || { bad "no invitation"; finish; }
grep -q "^To: <pelé$id@$U_DOMAIN>" "$inv" && ok "its To: in U-labels" || bad "To: $(header To "$inv")"
tok=$(header Subject "$inv" | sed 's/^ACME: //')
mid=$(header Message-ID "$inv" | tr -d '<>')
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/pe.key" -subj "/CN=pe" -out "$T/pe.csr" 2>/dev/null
{
	printf 'From: Edson <pelé%s@%s>\r\nTo: challenge@ca.example.net\r\nSubject: Re: ACME: %s\r\n' "$id" "$U_DOMAIN" "$tok"
	printf 'Message-ID: <pe.%s@%s>\r\nIn-Reply-To: <%s>\r\n' "$id" "$A_DOMAIN" "$mid"
	printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHier.\r\n'
	sed 's/$/\r/' "$T/pe.csr"
} > "$T/pe.eml"
out=$(send_utf8 "$CG_ORG_PORT" "pelé$id@$A_DOMAIN" challenge@ca.example.net "$T/pe.eml")
echo "$out" | grep -q '^250' && ok "the invitee answers over SMTPUTF8" || bad "invitee: $out"

rep=$(wait_mail "chef$id@$A_DOMAIN" "^Subject: Enrolment R[0-9]*: 2 issued, 0 refused" 60)
[ -n "$rep" ] && ok "the report reaches the admin: 2 issued, 0 refused" || { bad "no report"; finish; }
for mb in "jürgen$id@$U_DOMAIN" "pelé$id@$U_DOMAIN"; do
	serial=$(certgate --json cert list --mailbox "$mb" | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p' | head -1)
	[ -n "$serial" ] || { bad "no certificate for $mb"; continue; }
	certgate cert show "$serial" --pem > "$T/c.pem"
	openssl x509 -in "$T/c.pem" -noout -text | grep -q "othername: SmtpUTF8Mailbox::$mb\$" &&
		ok "$mb: othername SmtpUTF8Mailbox in the certificate" || bad "$mb: $(openssl x509 -in "$T/c.pem" -noout -ext subjectAltName)"
done
finish
