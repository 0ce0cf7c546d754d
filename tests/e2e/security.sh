#!/bin/sh
# security.sh: the security round's findings through the real Postfix:
#   - a signed enrolment replayed in a new envelope is refused (550);
#   - one signed mail to enroll@ and revoke@, sent through the organisation's
#     Postfix: the CA defers revoke@ (452), the organisation's Postfix
#     retries it alone, and the revocation takes effect;
#   - a pending registration naming this organisation's domain and admin
#     reserves nothing; approving it stops at the conflicts;
#   - a signed mail older than SignedMailMaxAge is refused.
. "$CG_SRC/tests/e2e/lib.sh"
. "$CG_SRC/tests/lib/pki.sh"
CA="$CG_SANDBOX/pki/letter-ca"
id=$(date +%s%N)
org=$(certgate --json org add --name "Security $id S.p.A." --registration NTRIT-0000555555 \
	--country IT --contact boss$id@example.it | sed 's/.*"id":"\([0-9]*\)".*/\1/')
certgate domain add example.it --org "$org" --validated > /dev/null
certgate admin add mia@example.it --org "$org" > /dev/null
pki_leaf "$CA" "$T/mia" mia@example.it ec
pki_leaf "$CA" "$T/mallory" mallory$id@evil.example ec
FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f -10d sh -c ". '$CG_SRC/tests/lib/pki.sh'; pki_leaf '$CA' '$T/oldmia' mia@example.it ec"
csr() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" \
	-subj "/CN=$1" -addext "subjectAltName=email:$2" -out "$T/$1.csr" 2>/dev/null; }
# enrolment FILE TEXT CSR: an entity with TEXT and the CSR attached
enrolment() {
	{
		printf 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n--b0\r\n'
		printf 'Content-Type: text/plain\r\n\r\n%s\r\n--b0\r\n' "$2"
		printf 'Content-Type: application/pkcs10; name="r.csr"\r\nContent-Disposition: attachment; filename="r.csr"\r\n\r\n'
		sed 's/$/\r/' "$3"
		printf -- '--b0--\r\n'
	} > "$1"
}
hdr() { printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s.%s@example.it>\r\n' "$1" "$2" "$3" "$3" "$id" > "$4"; }
rejected() { echo "$1" | grep -E '^<\*\* +5[0-9][0-9] ' | head -1 | sed 's/^<\*\* *//'; }

# A signed enrolment, then the same signed content in a new envelope.
csr one "one$id@example.it"
enrolment "$T/one.ent" "Please." "$T/one.csr"
hdr mia@example.it enroll@ca.example.net one "$T/one.hdr"
pki_sign_openssl "$T/mia" "$T/one.ent" "$T/one.eml" detached "$T/one.hdr"
out=$(send "$CG_CA_PORT" mia@example.it enroll@ca.example.net "$T/one.eml")
echo "$out" | grep -q '^<-  250 ' && ok "signed enrolment accepted" || bad "enrolment: $out"
rep=$(wait_mail mia@example.it "^Subject: Enrolment R[0-9]*: 1 issued" 30)
[ -n "$rep" ] && ok "issued and reported" || { bad "no report"; finish; }
sed "s/^Message-ID: <.*>/Message-ID: <replay.$id@evil.example>/" "$T/one.eml" > "$T/replay.eml"
line=$(rejected "$(send "$CG_CA_PORT" mia@example.it enroll@ca.example.net "$T/replay.eml")")
echo "$line" | grep -q '^550 5\.7\.1 certgate: this signed enrolment was accepted before' &&
	ok "replayed in a new envelope: $line" || bad "replay: '$line'"
serial=$(certgate --json cert list --mailbox "one$id@example.it" | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p' | head -1)

# One signed mail to enroll@ and revoke@ through the organisation's server.
csr two "two$id@example.it"
enrolment "$T/both.ent" "$(printf 'Serial: %s\r\nReason: superseded' "$serial")" "$T/two.csr"
hdr mia@example.it "enroll@ca.example.net, revoke@ca.example.net" both "$T/both.hdr"
pki_sign_openssl "$T/mia" "$T/both.ent" "$T/both.eml" detached "$T/both.hdr"
out=$(send "$CG_ORG_PORT" mia@example.it enroll@ca.example.net,revoke@ca.example.net "$T/both.eml")
echo "$out" | grep -q '^<-  250 ' && ok "one mail to two gateway addresses, through the organisation's Postfix" || bad "send: $out"
i=0
while [ $i -lt 300 ] && [ "$(count_mail mia@example.it '^Subject: Enrolment R[0-9]*: 1 issued')" -lt 2 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$(count_mail mia@example.it '^Subject: Enrolment R[0-9]*: 1 issued')" -ge 2 ] && ok "enroll@ took it: a second report" || bad "no second report"
grep "revoke@ca.example.net" "$CG_LOGS/postfix-org.log" | grep -q "452 4.5.3" &&
	ok "revoke@ deferred with 452 4.5.3 (the organisation's Postfix log)" || bad "no 452 for revoke@ in postfix-org.log"
i=0
while [ $i -lt 20 ] && ! certgate --json cert list --mailbox "one$id@example.it" | grep -q '"status":"revoked"'; do
	"$SB" flush > /dev/null 2>&1 || true
	sleep 1
	i=$((i + 1))
done
certgate --json cert list --mailbox "one$id@example.it" | grep -q '"status":"revoked"' &&
	ok "the organisation's Postfix retried revoke@ alone: revoked" || bad "not revoked after the retry"
[ -n "$(wait_mail mia@example.it "^Subject: Certificate $serial revoked" 30)" ] && ok "the revocation is confirmed" || bad "no revocation notice"

# A pending registration naming example.it and mia@ reserves nothing.
printf 'Content-Type: text/plain\r\n\r\nRequest: register-organisation\r\nOrganisation: Squat %s Ltd\r\nRegistration: NTRGB-77777777\r\nCountry: GB\r\nContact: mallory%s@evil.example\r\nDomain: example.it\r\nAdmin: mia@example.it\r\n' \
	"$id" "$id" > "$T/squat.ent"
printf 'From: mallory%s@evil.example\r\nTo: request@ca.example.net\r\nSubject: register\r\nMessage-ID: <squat.%s@evil.example>\r\n' "$id" "$id" > "$T/squat.hdr"
pki_sign_openssl "$T/mallory" "$T/squat.ent" "$T/squat.eml" detached "$T/squat.hdr"
out=$(send "$CG_CA_PORT" "mallory$id@evil.example" request@ca.example.net "$T/squat.eml")
echo "$out" | grep -q '^<-  250 ' && ok "a registration naming another organisation's domain is taken" || bad "squat: $out"
sq=$(certgate --json org list | tr '}' '\n' | sed -n "s/.*\"id\":\"\([0-9]*\)\",\"status\":\"pending\",\"name\":\"Squat $id Ltd\".*/\1/p")
certgate --json domain list | grep -q "\"domain\":\"example.it\",\"org\":\"$org\"" && ok "example.it stays with organisation $org" || bad "domain moved"
certgate --json admin list | grep -q "\"address\":\"mia@example.it\",\"org\":\"$org\",\"status\":\"active\"" && ok "mia@ stays an active admin" || bad "admin changed"
certgate org approve "$sq" > "$T/approve.out" 2>&1 && bad "the squat was approved" ||
	{ grep -q "example.it: held by organisation $org" "$T/approve.out" && ok "approval stops at the conflict" || bad "approve: $(cat "$T/approve.out")"; }

# Signed ten days ago: refused.
csr old "old$id@example.it"
enrolment "$T/old.ent" "Old." "$T/old.csr"
hdr mia@example.it enroll@ca.example.net old "$T/old.hdr"
FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f -8d sh -c ". '$CG_SRC/tests/lib/pki.sh'; pki_sign_openssl '$T/oldmia' '$T/old.ent' '$T/old.eml' detached '$T/old.hdr'"
line=$(rejected "$(send "$CG_CA_PORT" mia@example.it enroll@ca.example.net "$T/old.eml")")
echo "$line" | grep -q '^550 5\.7\.5 certgate: the message was signed 8 days ago' && ok "signed 8 days ago: $line" || bad "old: '$line'"
finish
