#!/bin/sh
# enroll.sh: enrolment by mail through certgate-milter -t and the issuer:
# signed by the admin's certificate; CSRs as attachments, PEM in the text
# (with an Email: line), and a CSV list; one report per request with a CSV
# and the certificates. Attacks: unsigned, not an admin, a removed admin,
# another organisation's domain, an expired validation, a key already
# certified for another mailbox, CRLF injection and a formula in a name, a bad
# CSR among good ones, 10,001 rows, a mail whose every item is bad.
# Unsigned mail is held until the admin answers a confirmation challenge
# (a reply from anyone else is refused). Revocation by mail: by the
# organisation's admin or with the certificate's own key. A CSV row without
# a CSR invites its mailbox, whose answer with a CSR becomes the item.
set -eu
. "$CG_SRC/tests/lib/pki.sh"
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
. "$CG_SRC/tests/lib/mail.sh"
ca_test enroll
ca_dirs
mkdir -p "$T/m" "$T/k"
pki_ca "$T/ca" "Admin CA"
pki_leaf "$T/ca" "$T/anna" anna@example.org ec
pki_leaf "$T/ca" "$T/ola" ola@example.org ec
pki_leaf "$T/ca" "$T/boss" boss@example.com ec
mkdir -p "$T/tmp"
chown certgate "$T/tmp"
ca_conf "AdminTrustAnchors $T/ca/cert.pem" "LogLevel notice" "TempDir $T/tmp" "DeliverToSubject yes"
ca_mta
$cg ca init > /dev/null
$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL --contact ceo@example.org > /dev/null
$cg org add --name "Other Ltd" --registration NTRGB-12345678 --country GB --contact boss@example.com > /dev/null
$cg domain add example.org --org 1 --validated > /dev/null
$cg domain add example.com --org 2 --validated > /dev/null
$cg admin add anna@example.org --org 1 --department IT > /dev/null
$cg admin add ola@example.org --org 1 > /dev/null
$cg admin add boss@example.com --org 2 > /dev/null
dns_start "$T/dns" 127.0.0.17
# mail NAME SIGNER|- FROM ENTITY: $T/m/NAME.eml
mail() {
	printf 'From: %s\r\nTo: enroll@ca.example.net\r\nSubject: %s\r\nMessage-ID: <%s.%s@example.org>\r\n' "$3" "$1" "$1" "$$" > "$T/m/$1.hdr"
	if [ "$2" = - ]; then cat "$T/m/$1.hdr" "$4" > "$T/m/$1.eml"; else
		pki_sign_openssl "$T/$2" "$4" "$T/m/$1.eml" detached "$T/m/$1.hdr"; fi
}
verdict() {
	"$CG_BIN/certgate-milter" -c "$T/certgate.conf" -t "$1" --client-ip 127.0.0.1 \
		--mail-from "${2:-anna@example.org}" --rcpt enroll@ca.example.net 2>>"$T/milter.err" |
		sed -n 's/^verdict: //p'
}
expect() { # expect NAME PATTERN FILE [MAIL-FROM]
	got=$(verdict "$3" "${4:-}")
	if printf '%s\n' "$got" | grep -q -E -- "$2"; then ok "$1: $got"; else bad "$1: got '$got', want /$2/"; fi
}

# answer FROM FILE [CSR-FILE]: a reply to the token $tok / mail $mid, through
# the milter with the private DNS (SPF); prints the verdict.
answer() {
	{
		printf 'From: %s\r\nTo: challenge@ca.example.net\r\nSubject: Re: ACME: %s\r\nIn-Reply-To: <%s>\r\nMessage-ID: <a.%s.%s@example.org>\r\n\r\nHere it is.\r\n' \
			"$1" "$tok" "$mid" "$(basename "$2")" "$$"
		[ -z "${3:-}" ] || sed 's/$/\r/' "$3"
	} > "$2"
	dns_run "$CG_BIN/certgate-milter" -c "$T/certgate.conf" -t "$2" --client-ip 127.0.0.1 --helo mail.example.org \
		--mail-from "$1" --rcpt challenge@ca.example.net 2>>"$T/milter.err" | sed -n 's/^verdict: //p'
}

# 1. One CSR as an attachment (DER), signed by the admin.
csr one anna2@example.org
entity "$T/m/one.ent" "Please issue." "$T/k/one.der" application/pkcs10 one.p10
mail one anna anna@example.org "$T/m/one.ent"
expect "single CSR attachment" '^(accept|discard)' "$T/m/one.eml"
drain
rep=$(last_mail anna@example.org)
[ -n "$rep" ] && grep -q "^Subject: Enrolment R[0-9]*: 1 issued, 0 refused" "$rep" && ok "report: 1 issued" || bad "no report to the admin"
grep -q 'filename="anna2@example.org.p7c"' "$rep" && grep -q 'filename="anna2@example.org.pem"' "$rep" && ok "report carries .pem and .p7c" || bad "report attachments"
sub=$(last_mail anna2@example.org)
[ -n "$sub" ] && grep -q "^Subject: Your S/MIME certificate for anna2@example.org" "$sub" &&
	ok "DeliverToSubject: the subject gets the certificate too" || bad "nothing mailed to the subject"
serial=$($cg --json cert list | sed -n 's/.*"serial":"\([0-9a-f]*\)".*"mailbox":"anna2@example.org".*/\1/p' | head -1)
$cg cert show "$serial" --pem > "$T/one.pem" && openssl verify -CAfile "$T/ca/root-ca.pem" -untrusted "$T/ca/issuing-ca.pem" \
	-purpose smimesign "$T/one.pem" > /dev/null 2>&1 && ok "the certificate verifies" || bad "certificate $serial"
# The SMIMEA record (RFC 8162), computed here with sha256sum and openssl:
# SHA2-256 of the local part, 28 octets in hex, under _smimecert.DOMAIN;
# usage 3, selector 0, matching 0: the certificate's DER in hex.
smimea_of() { # smimea_of MAILBOX PEM
	printf '%s._smimecert.%s. IN SMIMEA 3 0 0 %s\n' "$(printf '%s' "${1%@*}" | sha256sum | cut -c1-56)" "${1#*@}" \
		"$(openssl x509 -in "$2" -outform DER | od -An -v -tx1 | tr -d ' \n')"
}
want=$(smimea_of anna2@example.org "$T/one.pem")
for m in "$rep" "$sub"; do
	rm -f "$T/one.zone"
	/usr/bin/python3 "$CG_SRC/tests/lib/part.py" "$m" smimea.zone "$T/one.zone" &&
		[ "$(grep -v '^;' "$T/one.zone")" = "$want" ] && grep -q "SMIMEA record (RFC 8162)" "$m" &&
		ok "$(basename "$m"): smimea.zone holds the certificate's SMIMEA record" ||
		bad "$(basename "$m"): smimea.zone: $(cat "$T/one.zone" 2>/dev/null | cut -c1-120); want $(echo "$want" | cut -c1-120)"
done

# 2. PEM in the text, mailbox from an Email: line; directives.
csr two
entity "$T/m/two.ent" "$(printf 'Email: jan@example.org\r\nValidity: 365\r\nProfile: organization\r\n\r\n%s' "$(sed 's/$/\r/' "$T/k/two.csr")")"
mail two anna anna@example.org "$T/m/two.ent"
expect "PEM in the text with Email:" '^(accept|discard)' "$T/m/two.eml"
drain
$cg --json cert list | grep -q '"mailbox":"jan@example.org"' && ok "issued for jan@example.org" || bad "jan not issued"

# 3. A CSV list: good rows, and each kind of bad row.
for i in 1 2 3; do csr "b$i"; done
# A CSR whose self-signature is broken (its last byte flipped).
/usr/bin/python3 -c 'import sys; d = bytearray(open(sys.argv[1], "rb").read()); d[-1] ^= 1; open(sys.argv[2], "wb").write(d)' \
	"$T/k/b2.der" "$T/k/bad1.der"
# one's key again, without a SAN: that key is certified for anna2@ already.
openssl req -new -key "$T/k/one.key" -subj "/CN=reuse" -out "$T/k/reuse.csr" 2>/dev/null
pem() { awk '{printf "%s\n", $0}' "$T/k/$1.csr"; }
{
	printf 'First Name,Last Name,Email,Country,CSR,Department\r\n'
	printf 'Adam,Nowak,adam@example.org,PL,"%s",IT\r\n' "$(pem b1)"
	printf 'Beata,Kowalska,beata@example.org,PL,%s,\r\n' "$(base64 -w0 "$T/k/b2.der")"
	printf 'Cezary,Lis,cezary@example.org,PL,"%s",Sales\r\n' "$(pem b3)"
	printf 'Dorota,Wrona,dorota@example.org,PL,%s,\r\n' "$(base64 -w0 "$T/k/bad1.der")"
	printf '=cmd|calc!A1,Evil,eve@example.org,PL,"%s",\r\n' "$(pem b1)"
	printf '"Fred\r\nBcc: x@evil.example",Inject,fred@example.org,PL,"%s",\r\n' "$(pem b1)"
	printf 'Greg,Other,greg@example.com,GB,"%s",\r\n' "$(pem b1)"
	printf 'Hanna,NoCsr,hanna@example.org,PL,,\r\n'
	printf 'Ida,Reuse,ida@example.org,PL,"%s",\r\n' "$(pem reuse)"
} > "$T/m/list.csv"
entity "$T/m/bulk.ent" "Our new staff." "$T/m/list.csv" text/csv staff.csv
mail bulk anna anna@example.org "$T/m/bulk.ent"
expect "CSV with good and bad rows" '^(accept|discard)' "$T/m/bulk.eml"
before_bulk=$(last_mail anna@example.org)
drain
# Hanna's row had no CSR: she is invited, and answers with one.
inv=$(last_mail hanna@example.org)
[ -n "$inv" ] && grep -q "^Subject: ACME: " "$inv" && ok "a row without a CSR: an invitation to hanna@" || bad "no invitation"
[ "$(last_mail anna@example.org)" != "$before_bulk" ] &&
	bad "report sent before the invitation was answered" || ok "the report waits for the invitation"
# The invitation's expiry job, flushed early by the operator, waits again.
$cg queue flush > /dev/null
drain
[ "$(last_mail anna@example.org)" = "$before_bulk" ] && ok "queue flush does not expire an invitation early" ||
	bad "invitation expired early"
tok=$(sed -n 's/^Subject: ACME: //p' "$inv" | tr -d '\r')
mid=$(sed -n 's/^Message-ID: //p' "$inv" | tr -d '\r<>')
got=$(answer ola@example.org "$T/m/inv-ola.eml" "$T/k/b2.csr")
case $got in "reject 550 5.7.1 certgate: the reply is from ola@example.org but the challenge went to hanna@example.org"*) ok "invitation answered from another address: refused" ;;
*) bad "ola answers hanna's invitation: $got" ;; esac
got=$(answer hanna@example.org "$T/m/inv-nocsr.eml")
case $got in "reject 554 5.6.0 certgate: the answer to an invitation must carry a CSR"*) ok "an answer without a CSR: refused" ;;
*) bad "answer without CSR: $got" ;; esac
csr hanna hanna@example.org
got=$(answer hanna@example.org "$T/m/inv.eml" "$T/k/hanna.csr")
case $got in accept* | discard*) ok "hanna answers with her CSR: $got" ;; *) bad "hanna answers: $got" ;; esac
drain
rep=$(last_mail anna@example.org)
grep -q "^Subject: Enrolment R[0-9]*: 4 issued, 5 refused" "$rep" && ok "report: 4 issued, 5 refused" || bad "report: $(grep '^Subject' "$rep")"
/usr/bin/python3 "$CG_SRC/tests/lib/report-csv.py" "$rep" > "$T/report.csv"
for want in '"4","dorota@example.org","refused","","CSR: ' '"5","eve@example.org","refused","","First Name looks like a spreadsheet formula"' \
	'"6","fred@example.org","refused","","First Name must be' '"7","greg@example.com","refused","","example.com is not a domain of this organisation"' \
	'"8","hanna@example.org","issued","' '"9","ida@example.org","refused","",' '"1","adam@example.org","issued","'; do
	grep -q -F -- "$want" "$T/report.csv" && ok "report row: $want" || bad "report lacks: $want"
done
grep -q "^\"9\",\"ida@example.org\",\"refused\",\"\",\".*already certified" "$T/report.csv" &&
	ok "a key certified for another mailbox is refused at issue time" || bad "row 9: $(grep ida "$T/report.csv")"
$cg --json cert list | grep -q '"mailbox":"eve@example.org"' && bad "formula row issued" || ok "no certificate for the formula row"

# The sponsor profile: names required, the organisation's country.
csr sp1
csr sp2
csr sp3
{
	printf 'Email,First Name,Last Name,Country,CSR\r\n'
	printf 'sp1@example.org,Zofia,Nowak,PL,%s\r\n' "$(base64 -w0 "$T/k/sp1.der")"
	printf 'sp2@example.org,,Nameless,PL,%s\r\n' "$(base64 -w0 "$T/k/sp2.der")"
	printf 'sp3@example.org,John,Smith,GB,%s\r\n' "$(base64 -w0 "$T/k/sp3.der")"
} > "$T/m/sponsor.csv"
entity "$T/m/sponsor.ent" "Profile: sponsor" "$T/m/sponsor.csv" text/csv sponsor.csv
mail sponsor anna anna@example.org "$T/m/sponsor.ent"
expect "sponsor profile list" '^(accept|discard)' "$T/m/sponsor.eml"
drain
grep -q "^Subject: Enrolment R[0-9]*: 1 issued, 2 refused" "$(last_mail anna@example.org)" && ok "sponsor: 1 issued, 2 refused" ||
	bad "sponsor report: $(grep '^Subject' "$(last_mail anna@example.org)")"
s_sp=$($cg --json cert list | tr '}' '\n' | grep '"mailbox":"sp1@example.org"' | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p')
$cg cert show "$s_sp" --pem | openssl x509 -noout -subject -nameopt RFC2253 | grep -q "GN=Zofia" &&
	$cg cert show "$s_sp" --pem | openssl x509 -noout -text | grep -q "2.23.140.1.5.3.3" &&
	ok "sponsor certificate: givenName and the sponsor-validated policy" || bad "sponsor certificate"

# An invitation nobody answers: the issuer run a day later (libfaketime moves
# its clock past InviteLifetime, 24 h) settles the row as refused and sends
# the report; the answer that comes after is refused.
printf 'Email,First Name,Last Name,Country\r\njola@example.org,Jola,Late,PL\r\n' > "$T/m/jola.csv"
entity "$T/m/jola.ent" "One more." "$T/m/jola.csv" text/csv jola.csv
mail jola anna anna@example.org "$T/m/jola.ent"
expect "a list of one invitation" '^(accept|discard)' "$T/m/jola.eml"
before_jola=$(last_mail anna@example.org)
drain
inv=$(last_mail jola@example.org)
[ -n "$inv" ] && ok "jola@ is invited" || bad "no invitation to jola@"
drain_later +23h
[ "$(last_mail anna@example.org)" = "$before_jola" ] && ok "23 hours on, the invitation still waits" ||
	bad "invitation settled before its expiry"
drain_later +25h
rep=$(last_mail anna@example.org)
if [ "$rep" != "$before_jola" ] && grep -q "^Subject: Enrolment R[0-9]*: 0 issued, 1 refused" "$rep" &&
	/usr/bin/python3 "$CG_SRC/tests/lib/report-csv.py" "$rep" |
	grep -q -F '"1","jola@example.org","refused","","the invitation was not answered in time"'; then
	ok "25 hours on, the unanswered invitation is refused and reported"
else
	bad "expired invitation: $(grep '^Subject' "$rep")"
fi
$cg audit show | grep -q " invite.expire .*jola@example.org" && ok "invite.expire audited" || bad "no invite.expire"
tok=$(sed -n 's/^Subject: ACME: //p' "$inv" | tr -d '\r')
mid=$(sed -n 's/^Message-ID: //p' "$inv" | tr -d '\r<>')
csr jola jola@example.org
got=$(answer jola@example.org "$T/m/inv-jola.eml" "$T/k/jola.csr")
case $got in "reject "*"this invitation has been answered or has expired"*) ok "the late answer is refused: $got" ;;
*) bad "late answer: $got" ;; esac
$cg --json cert list | grep -q '"mailbox":"jola@example.org"' && bad "jola issued after expiry" || ok "nothing issued for jola@"
# An invitation the MTA refuses for good: the row settles as refused at once.
echo kasia@example.org > "$T/mta-refuse"
printf 'Email,First Name,Last Name,Country\r\nkasia@example.org,Kasia,Gone,PL\r\n' > "$T/m/kasia.csv"
entity "$T/m/kasia.ent" "And one more." "$T/m/kasia.csv" text/csv kasia.csv
mail kasia anna anna@example.org "$T/m/kasia.ent"
expect "a list inviting an unknown user" '^(accept|discard)' "$T/m/kasia.eml"
drain
rm "$T/mta-refuse"
rep=$(last_mail anna@example.org)
if grep -q "^Subject: Enrolment R[0-9]*: 0 issued, 1 refused" "$rep" &&
	/usr/bin/python3 "$CG_SRC/tests/lib/report-csv.py" "$rep" |
	grep -q -F '"1","kasia@example.org","refused","","the invitation could not be delivered"'; then
	ok "an undeliverable invitation: refused and reported at once"
else
	bad "undeliverable invitation: $(grep '^Subject' "$rep")"
fi
$cg audit show > "$T/audit.txt"
grep -q " invite.undeliverable .*kasia@example.org" "$T/audit.txt" &&
	grep -q " mail.failed .*kasia@example.org.*User unknown" "$T/audit.txt" &&
	ok "invite.undeliverable and mail.failed audited" || bad "undeliverable invitation not audited"

# Attacks refused as a whole, nothing queued.
jobs_before=$($cg db check | grep '^requests:')
entity "$T/m/plain.ent" "Please issue." "$T/k/b1.der" application/pkcs10 b1.p10
entity "$T/m/baddir.ent" "$(printf 'Hello.\r\nValidity: 9999\r\n')" "$T/k/b1.der" application/pkcs10 b1.p10
mail baddir anna anna@example.org "$T/m/baddir.ent"
expect "a bad directive names its line" '^reject 554 5\.6\.0 certgate: line 2: Validity must be 1 to ' "$T/m/baddir.eml"
entity "$T/m/badprof.ent" "Profile: gold" "$T/k/b1.der" application/pkcs10 b1.p10
mail badprof anna anna@example.org "$T/m/badprof.ent"
expect "an unknown profile" '^reject 554 5\.6\.0 certgate: line 1: Profile must be organization or sponsor' "$T/m/badprof.eml"
mail unsigned - anna@example.org "$T/m/plain.ent"
sed 's/^EnrollAuth .*//' "$T/certgate.conf" > "$T/signed.conf"
echo "EnrollAuth signed" >> "$T/signed.conf"
got=$("$CG_BIN/certgate-milter" -c "$T/signed.conf" -t "$T/m/unsigned.eml" --mail-from anna@example.org \
	--rcpt enroll@ca.example.net 2>/dev/null | sed -n 's/^verdict: //p')
case $got in "reject 550 5.7.5 certgate: enrolment mail must be S/MIME-signed"*) ok "EnrollAuth signed: unsigned refused: $got" ;;
*) bad "EnrollAuth signed, unsigned: $got" ;; esac
pki_leaf "$T/ca" "$T/mallory" mallory@example.org ec
mail notadmin mallory mallory@example.org "$T/m/plain.ent"
expect "not an admin" '^reject 550 5\.7\.1 certgate: mallory@example\.org is not an active admin' "$T/m/notadmin.eml" mallory@example.org
csr crossorg greg@example.com
entity "$T/m/cross.ent" "Please." "$T/k/crossorg.der" application/pkcs10 g.p10
mail cross anna anna@example.org "$T/m/cross.ent"
expect "another organisation's domain (all bad)" '^reject 550 5\.7\.1 certgate: no item can be issued: item 1 \(greg@example\.com\): example\.com is not a domain of this organisation' "$T/m/cross.eml"
"$CG_BIN/../tests/cg-storetool" domain-age "$T/db" "$T/evidence" example.org $((400 * 86400))
csr late late@example.org
entity "$T/m/late.ent" "Please." "$T/k/late.der" application/pkcs10 l.p10
mail late anna anna@example.org "$T/m/late.ent"
expect "expired domain validation" '^reject 550 5\.7\.1 certgate: no item can be issued: .*the validation of example\.org has expired' "$T/m/late.eml"
$cg domain add example.org --org 1 --validated > /dev/null
awk 'BEGIN { printf "Email,CSR\r\n"; for (i = 0; i < 10001; i++) printf "u%d@example.org,x\r\n", i }' > "$T/m/big.csv"
entity "$T/m/big.ent" "Many." "$T/m/big.csv" text/csv big.csv
mail big anna anna@example.org "$T/m/big.ent"
expect "10,001 rows" '^reject 554 5\.6\.0 certgate: CSV line 10002: more than 10000 rows' "$T/m/big.eml"
[ "$($cg db check | grep '^requests:')" = "$jobs_before" ] && ok "no request recorded for the refused mails" || bad "requests changed"

# Unsigned: held, confirmed by the admin's reply (checked like a challenge
# reply, with the private DNS for SPF), then issued.
csr held held@example.org
entity "$T/m/held.ent" "Please issue." "$T/k/held.der" application/pkcs10 held.p10
mail held - anna@example.org "$T/m/held.ent"
expect "unsigned enrolment is held" '^(accept|discard)' "$T/m/held.eml"
drain
cm=$(last_mail anna@example.org)
grep -q "^Subject: ACME: " "$cm" && ok "a confirmation challenge goes to the admin" || bad "no confirmation mail"
$cg --json cert list | grep -q '"mailbox":"held@example.org"' && bad "issued before confirmation" || ok "nothing issued before the confirmation"
tok=$(sed -n 's/^Subject: ACME: //p' "$cm" | tr -d '\r')
mid=$(sed -n 's/^Message-ID: //p' "$cm" | tr -d '\r<>')
got=$(answer ola@example.org "$T/m/confirm-ola.eml")
case $got in "reject 550 5.7.1 certgate: the reply is from ola@example.org but the challenge went to anna@example.org"*) ok "confirmation from another admin refused" ;;
*) bad "ola confirms: $got" ;; esac
got=$(answer anna@example.org "$T/m/confirm.eml")
case $got in accept* | discard*) ok "the admin confirms: $got" ;; *) bad "anna confirms: $got" ;; esac
drain
$cg --json cert list | grep -q '"mailbox":"held@example.org"' && ok "issued after the confirmation" || bad "held item not issued"
$cg audit show | grep -q " enroll.confirm .*1 items released" && ok "enroll.confirm audited" || bad "no enroll.confirm"

# Revocation by mail. The anchors also hold certgate's own root, so that a
# certificate can revoke itself.
cat "$T/ca/cert.pem" "$T/ca/root-ca.pem" > "$T/anchors.pem"
sed -i "s|^AdminTrustAnchors .*|AdminTrustAnchors $T/anchors.pem|" "$T/certgate.conf"
serial_of() { $cg --json cert list | tr '}' '\n' | grep "\"mailbox\":\"$1\"" | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p' | head -1; }
s_adam=$(serial_of adam@example.org) s_beata=$(serial_of beata@example.org) s_cez=$(serial_of cezary@example.org)
printf 'Content-Type: text/plain\r\n\r\nSerial: %s\r\nReason: keyCompromise\r\n' "$s_beata" > "$T/m/rv-beata.ent"
printf 'From: boss@example.com\r\nTo: revoke@ca.example.net\r\nSubject: revoke\r\n' > "$T/m/rv.hdr"
pki_sign_openssl "$T/boss" "$T/m/rv-beata.ent" "$T/m/rv-boss.eml" detached "$T/m/rv.hdr"
rverdict() { "$CG_BIN/certgate-milter" -c "$T/certgate.conf" -t "$1" --mail-from "$2" --rcpt revoke@ca.example.net 2>>"$T/milter.err" | sed -n 's/^verdict: //p'; }
got=$(rverdict "$T/m/rv-boss.eml" boss@example.com)
case $got in "reject 550 5.7.1 certgate: boss@example.com may not revoke"*) ok "revocation by another organisation's admin: $got" ;; *) bad "boss revokes: $got" ;; esac
printf 'Content-Type: text/plain\r\n\r\nSerial: %s\r\nReason: keyCompromise\r\n' "$s_adam" > "$T/m/rv-adam.ent"
sed 's/^From: boss@example.com/From: anna@example.org/' "$T/m/rv.hdr" > "$T/m/rv-anna.hdr"
pki_sign_openssl "$T/anna" "$T/m/rv-adam.ent" "$T/m/rv-anna.eml" detached "$T/m/rv-anna.hdr"
got=$(rverdict "$T/m/rv-anna.eml" anna@example.org)
case $got in accept* | discard*) ok "revocation by the organisation's admin: $got" ;; *) bad "anna revokes: $got" ;; esac
# Cezary revokes his own certificate with its own key.
$cg cert show "$s_cez" --pem > "$T/cez.pem"
printf 'Content-Type: text/plain\r\n\r\nSerial: %s\r\nReason: superseded\r\n' "$s_cez" > "$T/m/rv-cez.ent"
sed 's/^From: boss@example.com/From: cezary@example.org/' "$T/m/rv.hdr" > "$T/m/rv-cez.hdr"
{ cat "$T/m/rv-cez.hdr"; openssl cms -sign -binary -md sha256 -in "$T/m/rv-cez.ent" -signer "$T/cez.pem" \
	-inkey "$T/k/b3.key" -certfile "$T/ca/issuing-ca.pem"; } > "$T/m/rv-self.eml"
got=$(rverdict "$T/m/rv-self.eml" cezary@example.org)
case $got in accept* | discard*) ok "revocation with the certificate's own key: $got" ;; *) bad "self-revocation: $got" ;; esac
got=$(rverdict "$T/m/rv-self.eml" cezary@example.org)
case $got in accept* | discard* | "reject 550 5.7.5 certgate: signer certificate revoked"*) ok "the same mail again: $got" ;; *) bad "again: $got" ;; esac
drain
openssl crl -in "$T/crl/issuing-ca.crl" -noout -text 2>/dev/null > "$T/crl.txt" || openssl crl -inform DER -in "$T/crl/issuing-ca.crl" -noout -text > "$T/crl.txt"
for s in "$s_adam" "$s_cez"; do
	grep -qi "Serial Number: $s" "$T/crl.txt" && ok "the CRL lists $s" || bad "CRL lacks $s"
done
grep -qi "Serial Number: $s_beata" "$T/crl.txt" && bad "beata revoked" || ok "beata's certificate not revoked"
grep -q "^Subject: Certificate $s_adam revoked" "$(last_mail anna@example.org)" && ok "the admin gets a reply" || bad "no revocation reply"
# The compromised key is blocked for good.
openssl req -new -key "$T/k/b1.key" -subj "/CN=again" -addext "subjectAltName=email:adam2@example.org" -out "$T/k/again.csr" 2>/dev/null
entity "$T/m/again.ent" "Please." "$T/k/again.csr" application/pkcs10 again.csr
mail again anna anna@example.org "$T/m/again.ent"
verdict "$T/m/again.eml" > /dev/null
drain
grep -q "^Subject: Enrolment R[0-9]*: 0 issued, 1 refused" "$(last_mail anna@example.org)" && ok "a key revoked for compromise is refused" || bad "compromised key: $(grep '^Subject' "$(last_mail anna@example.org)")"
# A list of more than 50: the report carries one bundle (certificates.p7c,
# written certificate by certificate) that openssl reads: every certificate
# the CSV names, in row order, then the chain; the report's signature
# verifies over it.
"$CG_BIN/../tests/cg-benchtool" csv bundle example.org 60 > "$T/m/bundle.csv"
entity "$T/m/bundle.ent" "Sixty." "$T/m/bundle.csv" text/csv bundle.csv
mail bundle anna anna@example.org "$T/m/bundle.ent"
expect "a list of 60" '^(accept|discard)' "$T/m/bundle.eml"
drain
rep=$(last_mail anna@example.org)
grep -q "^Subject: Enrolment R[0-9]*: 60 issued, 0 refused" "$rep" && ok "report: 60 issued" || bad "bundle report: $(grep '^Subject' "$rep")"
[ "$(grep -c 'filename="[^"]*\.pem"' "$rep")" = 0 ] && grep -q 'filename="certificates.p7c"' "$rep" &&
	ok "one bundle, no file per certificate" || bad "bundle attachments: $(grep -o 'filename="[^"]*"' "$rep" | head -5)"
/usr/bin/python3 -c '
import email, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
for part in m.walk():
    if part.get_filename() == "certificates.p7c":
        open(sys.argv[2], "wb").write(part.get_content())
' "$rep" "$T/bundle.p7c"
openssl pkcs7 -inform DER -in "$T/bundle.p7c" -print_certs > "$T/bundle.pem" 2>> "$T/bundle.err" &&
	ok "the bundle is a PKCS#7 openssl reads" || bad "bundle: $(cat "$T/bundle.err")"
# smimea.zone: a record for each of the 60, as computed here from the bundle
# (each certificate's rfc822Name read by openssl).
/usr/bin/python3 "$CG_SRC/tests/lib/part.py" "$rep" smimea.zone "$T/bundle.zone" || bad "no smimea.zone in the bundle report"
rm -rf "$T/split"
mkdir -p "$T/split"
awk -v d="$T/split" '/BEGIN CERT/ { n++ } n { print > (d "/" n ".pem") }' "$T/bundle.pem"
for c in "$T/split/"*.pem; do
	mb=$(openssl x509 -in "$c" -noout -ext subjectAltName 2>/dev/null | sed -n 's/.*email:\([^, ]*\).*/\1/p')
	[ -z "$mb" ] || smimea_of "$mb" "$c"
done | sort > "$T/bundle.want"
grep -v '^;' "$T/bundle.zone" | sort > "$T/bundle.got"
[ "$(grep -c . "$T/bundle.got")" -eq 60 ] && cmp -s "$T/bundle.want" "$T/bundle.got" &&
	ok "smimea.zone: the SMIMEA record of each of the 60 certificates" ||
	bad "smimea.zone: $(grep -c . "$T/bundle.got") records, $(grep -c . "$T/bundle.want") wanted, $(diff "$T/bundle.want" "$T/bundle.got" | head -2 | cut -c1-100)"
# Serials in the bundle's order, against the CSV's rows in order.
awk '/BEGIN CERT/ { f = 1; c = "" } f { c = c $0 "\n" } /END CERT/ { f = 0; print c | "openssl x509 -noout -serial"; close("openssl x509 -noout -serial") }' "$T/bundle.pem" |
	sed 's/^serial=0*//' | tr 'A-F' 'a-f' > "$T/bundle.serials"
/usr/bin/python3 "$CG_SRC/tests/lib/report-csv.py" "$rep" |
	sed -n 's/^"[0-9]*","[^"]*","issued","0*\([0-9a-f]*\)".*/\1/p' > "$T/bundle.rows"
[ "$(wc -l < "$T/bundle.rows")" = 60 ] && [ "$(head -60 "$T/bundle.serials")" = "$(cat "$T/bundle.rows")" ] &&
	ok "the bundle holds the 60 certificates in row order" || bad "bundle serials: $(head -3 "$T/bundle.serials") vs $(head -3 "$T/bundle.rows")"
[ "$(wc -l < "$T/bundle.serials")" -gt 60 ] && tail -n +61 "$T/bundle.serials" | head -1 |
	grep -q -i -x "$(openssl x509 -in "$T/ca/issuing-ca.pem" -noout -serial | sed 's/serial=0*//')" &&
	ok "then the chain" || bad "no chain after the certificates"
openssl smime -verify -in "$rep" -CAfile "$T/ca/root-ca.pem" -out /dev/null 2> "$T/bundle.verify" &&
	ok "the report's signature verifies over the bundle" || bad "report signature: $(cat "$T/bundle.verify")"

# MaxMessageSize holds inside the signature too: a signed enrolment of 11 MB
# is taken with MaxMessageSize 24M (the signed part was parsed with a fixed
# 10 MB limit, so a list that big was refused whatever the setting).
head -c 8400000 /dev/zero > "$T/m/filler.bin"
csr bigone bigone@example.org
entity "$T/m/bigone.ent" "Please." "$T/k/bigone.der" application/pkcs10 bigone.p10 \
	"$T/m/filler.bin" application/octet-stream filler.bin
mail bigone anna anna@example.org "$T/m/bigone.ent"
{ cat "$T/certgate.conf"; echo "MaxMessageSize 24M"; } > "$T/big.conf"
got=$("$CG_BIN/certgate-milter" -c "$T/big.conf" -t "$T/m/bigone.eml" --client-ip 127.0.0.1 \
	--mail-from anna@example.org --rcpt enroll@ca.example.net 2>>"$T/milter.err" | sed -n 's/^verdict: //p')
printf '%s\n' "$got" | grep -q -E '^(accept|discard)' && ok "an 11 MB signed enrolment under MaxMessageSize 24M: $got" ||
	bad "11 MB signed enrolment: got '$got'"
expect "the same under the default 10 MB: refused" '^reject 552 5\.3\.4 ' "$T/m/bigone.eml"

# A database failure while an item's domain is looked up defers the mail
# (451): it is never mistaken for "not a domain of this organisation" (550),
# which would lose the request. The domain's record is made unreadable.
$cg domain add broken.example.org --org 1 --validated > /dev/null
"$CG_BIN/../tests/cg-storetool" corrupt "$T/db" "$T/evidence" broken.example.org domains
csr broken anna3@broken.example.org
entity "$T/m/broken.ent" "Please." "$T/k/broken.csr" application/pkcs10 broken.csr
mail broken anna anna@example.org "$T/m/broken.ent"
expect "a store failure on the item's domain defers" '^tempfail 451 4\.3\.0' "$T/m/broken.eml"
exit $fail
