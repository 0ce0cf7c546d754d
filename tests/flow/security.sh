#!/bin/sh
# security.sh: attacks that got through the first review, each reproduced as
# an attacker would try it through `certgate-milter -t` (the daemon's code)
# and the issuer:
#   1. a signed enrolment replayed with a new Message-ID (before and after
#      its certificate was revoked), a signed revocation replayed, a new
#      enrolment of a key already certified for the mailbox, "Renew:";
#   2. signed mail older than SignedMailMaxAge, from the future, or without a
#      signing time;
#   3. a recipient deferred with 452 (two gateway addresses in one mail) must
#      take effect when the MTA retries it alone: every pair of addresses;
#   4. a pending registration squatting on another organisation's domain,
#      contact and admin;
#   5. duplicate CSV rows (case, trailing dot, U-label); an admin outside the
#      organisation's domains waits for the operator;
#   6. a CSR's subject, extra names, extensions and asked-for validity never
#      reach the certificate.
set -eu
. "$CG_SRC/tests/lib/pki.sh"
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
. "$CG_SRC/tests/lib/mail.sh"
ca_test security
ca_dirs
mkdir -p "$T/m" "$T/tmp"
chown certgate "$T/tmp"
pki_ca "$T/ca" "Mail CA"
pki_leaf "$T/ca" "$T/anna" anna@example.org ec
pki_leaf "$T/ca" "$T/ceo" ceo@example.org ec
pki_leaf "$T/ca" "$T/boss" boss@example.com ec
pki_leaf "$T/ca" "$T/mallory" mallory@evil.example ec
# A leaf valid since ten days ago, to sign mail dated back in time.
FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f -10d sh -c ". '$CG_SRC/tests/lib/pki.sh'; pki_leaf '$T/ca' '$T/old' anna@example.org ec"
ca_conf "AdminTrustAnchors $T/anchors.pem" "LetterTrustAnchors $T/ca/cert.pem" "LogLevel notice" \
	"TempDir $T/tmp" "DeliverToSubject yes"
ca_mta
$cg ca init > /dev/null
cat "$T/ca/cert.pem" "$T/ca/root-ca.pem" > "$T/anchors.pem"
$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL --contact ceo@example.org > /dev/null
$cg org add --name "Other Ltd" --registration NTRGB-12345678 --country GB --contact boss@example.com > /dev/null
$cg domain add example.org --org 1 --validated > /dev/null
$cg domain add example.com --org 2 --validated > /dev/null
$cg admin add anna@example.org --org 1 --department IT > /dev/null
dns_start "$T/dns" 127.0.0.18

expect() { # expect NAME PATTERN OUTPUT
	got=$(verdict_of "$3")
	if printf '%s\n' "$got" | grep -q -E -- "$2"; then ok "$1: $got"; else bad "$1: got '$got', want /$2/"; fi
}
certs_for() { $cg --json cert list --mailbox "$1" | grep -o '"serial"' | wc -l; }
serial_of() { $cg --json cert list --mailbox "$1" | tr '}' '\n' | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p' | head -1; }
valid_serial_of() { $cg --json cert list --mailbox "$1" | tr '}' '\n' | sed -n 's/.*"serial":"\([0-9a-f]*\)".*"status":"valid".*/\1/p' | head -1; }
report_subject() { grep '^Subject: Enrolment' "$(last_mail anna@example.org)" | tr -d '\r'; }

# ---- 1. replays ----
csr k1 jan@example.org
entity "$T/m/e1.ent" "Please issue." "$T/k/k1.der" application/pkcs10 k1.p10
smail "$T/m/e1.eml" anna anna@example.org enroll@ca.example.net "enrol jan" "$T/m/e1.ent"
expect "signed enrolment" '^(accept|discard)' "$(milter_t "$T/m/e1.eml" anna@example.org enroll@ca.example.net)"
drain
[ "$(certs_for jan@example.org)" -eq 1 ] && ok "one certificate for jan@" || bad "jan@ has $(certs_for jan@example.org) certificates"
# The same message again (an MTA retry): a duplicate, no new effect.
out=$(milter_t "$T/m/e1.eml" anna@example.org enroll@ca.example.net)
printf '%s\n' "$out" | grep -q '^effect: duplicate of request' && ok "byte-identical resend: a duplicate, no new effect" ||
	bad "resend: $out"
# The signed content in a new envelope (new Message-ID, Date): a replay.
sed 's/^Message-ID: <.*>/Message-ID: <replayed.1@evil.example>/' "$T/m/e1.eml" > "$T/m/e1-replay.eml"
expect "signed enrolment replayed with a new Message-ID" \
	'^reject 550 5\.7\.1 certgate: this signed enrolment was accepted before \(request R[0-9]+\)' \
	"$(milter_t "$T/m/e1-replay.eml" anna@example.org enroll@ca.example.net)"
drain
[ "$(certs_for jan@example.org)" -eq 1 ] && ok "still one certificate for jan@" || bad "replay issued: $(certs_for jan@example.org)"
# Revoked (superseded): the replay is still refused.
s1=$(serial_of jan@example.org)
$cg cert revoke "$s1" --reason superseded > /dev/null
sed 's/^Message-ID: <.*>/Message-ID: <replayed.2@evil.example>/' "$T/m/e1.eml" > "$T/m/e1-replay2.eml"
expect "replayed after the certificate was revoked" '^reject 550 5\.7\.1 certgate: this signed enrolment was accepted before' \
	"$(milter_t "$T/m/e1-replay2.eml" anna@example.org enroll@ca.example.net)"
# A fresh signed enrolment with the same key for the same mailbox: the
# issuer refuses it (the key was certified for jan@ and revoked).
entity "$T/m/e2.ent" "Again, please." "$T/k/k1.der" application/pkcs10 k1.p10
smail "$T/m/e2.eml" anna anna@example.org enroll@ca.example.net "enrol jan again" "$T/m/e2.ent"
expect "new enrolment, same mailbox and key" '^(accept|discard)' "$(milter_t "$T/m/e2.eml" anna@example.org enroll@ca.example.net)"
drain
report_subject | grep -q ": 0 issued, 1 refused" && ok "same key and mailbox after revocation: refused" || bad "report: $(report_subject)"
/usr/bin/python3 "$CG_SRC/tests/lib/report-csv.py" "$(last_mail anna@example.org)" | grep -q "certified for this mailbox before" &&
	ok "the report says why (certified for this mailbox before)" || bad "report row: $(/usr/bin/python3 "$CG_SRC/tests/lib/report-csv.py" "$(last_mail anna@example.org)")"
[ "$(certs_for jan@example.org)" -eq 1 ] && ok "no second certificate for jan@'s key" || bad "issued again"
# A valid certificate: the same key again only with "Renew: SERIAL".
csr k2 eva@example.org
entity "$T/m/e3.ent" "For Eva." "$T/k/k2.der" application/pkcs10 k2.p10
smail "$T/m/e3.eml" anna anna@example.org enroll@ca.example.net "eva" "$T/m/e3.ent"
milter_t "$T/m/e3.eml" anna@example.org enroll@ca.example.net > /dev/null
drain
s2=$(serial_of eva@example.org)
entity "$T/m/e4.ent" "Eva once more." "$T/k/k2.der" application/pkcs10 k2.p10
smail "$T/m/e4.eml" anna anna@example.org enroll@ca.example.net "eva again" "$T/m/e4.ent"
milter_t "$T/m/e4.eml" anna@example.org enroll@ca.example.net > /dev/null
drain
report_subject | grep -q ": 0 issued, 1 refused" && ok "same key while its certificate is valid: refused" || bad "report: $(report_subject)"
entity "$T/m/e5.ent" "$(printf 'Renew: %s\r\n' "$s2")" "$T/k/k2.der" application/pkcs10 k2.p10
smail "$T/m/e5.eml" anna anna@example.org enroll@ca.example.net "eva renew" "$T/m/e5.ent"
expect "Renew: naming the valid certificate" '^(accept|discard)' "$(milter_t "$T/m/e5.eml" anna@example.org enroll@ca.example.net)"
drain
report_subject | grep -q ": 1 issued, 0 refused" && [ "$(certs_for eva@example.org)" -eq 2 ] &&
	ok "renewal with the same key, asked for by the admin: issued" || bad "renew: $(report_subject)"
entity "$T/m/e6.ent" "$(printf 'Renew: %s\r\n' "$s1")" "$T/k/k1.der" application/pkcs10 k1.p10
smail "$T/m/e6.eml" anna anna@example.org enroll@ca.example.net "jan renew" "$T/m/e6.ent"
milter_t "$T/m/e6.eml" anna@example.org enroll@ca.example.net > /dev/null
drain
report_subject | grep -q ": 0 issued, 1 refused" && ok "Renew: naming a revoked certificate: refused" || bad "renew revoked: $(report_subject)"

# A signed revocation replayed in a new envelope.
s3=$(valid_serial_of eva@example.org)
printf 'Content-Type: text/plain\r\n\r\nSerial: %s\r\nReason: superseded\r\n' "$s3" > "$T/m/rv.ent"
smail "$T/m/rv.eml" anna anna@example.org revoke@ca.example.net "revoke" "$T/m/rv.ent"
expect "signed revocation" '^(accept|discard)' "$(milter_t "$T/m/rv.eml" anna@example.org revoke@ca.example.net)"
sed 's/^Message-ID: <.*>/Message-ID: <replayed.3@evil.example>/' "$T/m/rv.eml" > "$T/m/rv-replay.eml"
expect "signed revocation replayed" '^reject 550 5\.7\.1 certgate: this signed revocation was accepted before' \
	"$(milter_t "$T/m/rv-replay.eml" anna@example.org revoke@ca.example.net)"

# ---- 2. signing time ----
csr k3 old@example.org
entity "$T/m/old.ent" "Old." "$T/k/k3.der" application/pkcs10 k3.p10
printf 'From: anna@example.org\r\nTo: enroll@ca.example.net\r\nSubject: old\r\nMessage-ID: <old@example.org>\r\n' > "$T/m/old.hdr"
FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f -8d sh -c ". '$CG_SRC/tests/lib/pki.sh'; pki_sign_openssl '$T/old' '$T/m/old.ent' '$T/m/old.eml' detached '$T/m/old.hdr'"
expect "signed 8 days ago (SignedMailMaxAge 7d)" '^reject 550 5\.7\.5 certgate: the message was signed 8 days ago' \
	"$(milter_t "$T/m/old.eml" anna@example.org enroll@ca.example.net)"
FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f -6d sh -c ". '$CG_SRC/tests/lib/pki.sh'; pki_sign_openssl '$T/old' '$T/m/old.ent' '$T/m/old6.eml' detached '$T/m/old.hdr'"
expect "signed 6 days ago" '^(accept|discard)' "$(milter_t "$T/m/old6.eml" anna@example.org enroll@ca.example.net)"
FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f +2h sh -c ". '$CG_SRC/tests/lib/pki.sh'; pki_sign_openssl '$T/anna' '$T/m/old.ent' '$T/m/future.eml' detached '$T/m/old.hdr'"
expect "signed two hours in the future" '^reject 550 5\.7\.5 certgate: the signing time is .* in the future' \
	"$(milter_t "$T/m/future.eml" anna@example.org enroll@ca.example.net)"
{ cat "$T/m/old.hdr"; openssl cms -sign -binary -md sha256 -noattr -in "$T/m/old.ent" -signer "$T/anna/cert.pem" \
	-inkey "$T/anna/key.pem"; } > "$T/m/notime.eml"
expect "no signing time" '^reject 550 5\.7\.5 certgate: the signature carries no signing time' \
	"$(milter_t "$T/m/notime.eml" anna@example.org enroll@ca.example.net)"

# ---- 3. two gateway addresses in one mail ----
# One signed mail that is both an enrolment (a CSR attached) and a
# revocation (Serial:, Reason:). enroll@ takes it; revoke@ is deferred with
# 452 and, retried alone as the MTA does, must revoke.
s4=$(valid_serial_of eva@example.org)
csr k4 both@example.org
entity "$T/m/both.ent" "$(printf 'Serial: %s\r\nReason: superseded\r\n' "$s4")" "$T/k/k4.der" application/pkcs10 k4.p10
smail "$T/m/both.eml" anna anna@example.org "enroll@ca.example.net, revoke@ca.example.net" "both" "$T/m/both.ent"
out=$(milter_t "$T/m/both.eml" anna@example.org enroll@ca.example.net revoke@ca.example.net)
printf '%s\n' "$out" | grep -q '^rcpt: revoke@ca.example.net: 452 4.5.3 ' && ok "the second gateway address is deferred (452 4.5.3)" || bad "rcpt: $out"
expect "the first takes the mail" '^(accept|discard)' "$out"
out=$(milter_t "$T/m/both.eml" anna@example.org revoke@ca.example.net)
expect "the deferred recipient retried alone" '^(accept|discard)' "$out"
printf '%s\n' "$out" | grep -q 'duplicate' && bad "the retry was taken for a duplicate: $out" || ok "the retry is not a duplicate"
$cg --json cert list --mailbox eva@example.org | grep -q "\"serial\":\"$s4\",.*\"status\":\"revoked\"" &&
	ok "the revocation took effect" || bad "not revoked: $($cg --json cert list --mailbox eva@example.org)"
# Every ordered pair of gateway addresses: a mail that A takes goes to A and
# B; B, deferred with 452 and retried alone, is judged on its own merits
# (here refused: the mail is not for B), never taken for A's duplicate.
for n in 1 2 3; do # certificates to revoke, challenges to answer
	csr "rv$n" "rv$n@example.org"
	entity "$T/m/rv$n.ent" "For revocation $n." "$T/k/rv$n.der" application/pkcs10 "rv$n.p10"
	smail "$T/m/rv$n.eml" anna anna@example.org enroll@ca.example.net "rv$n" "$T/m/rv$n.ent"
	milter_t "$T/m/rv$n.eml" anna@example.org enroll@ca.example.net > /dev/null
done
drain
npair=0 nrv=0
# pair_mail A FILE: a mail A@ takes; its envelope sender in $from
pair_mail() {
	npair=$((npair + 1))
	case $1 in
	request)
		printf 'Content-Type: text/plain\r\n\r\nRequest: add-domain\r\nDomain: p%s.example.org\r\n' "$npair" > "$2.ent"
		smail "$2" ceo ceo@example.org "$1@ca.example.net" "pair" "$2.ent"
		from=ceo@example.org ;;
	enroll)
		csr "p$npair" "p$npair@example.org"
		entity "$2.ent" "Pair $npair." "$T/k/p$npair.der" application/pkcs10 "p$npair.p10"
		smail "$2" anna anna@example.org "$1@ca.example.net" "pair" "$2.ent"
		from=anna@example.org ;;
	revoke)
		nrv=$((nrv + 1))
		rv=$(valid_serial_of "rv$nrv@example.org")
		printf 'Content-Type: text/plain\r\n\r\nSerial: %s\r\nReason: superseded\r\n' "$rv" > "$2.ent"
		smail "$2" anna anna@example.org "$1@ca.example.net" "pair" "$2.ent"
		from=anna@example.org ;;
	challenge)
		$cg domain challenge example.org > /dev/null
		drain
		printf 'From: postmaster@example.org\r\nTo: challenge@ca.example.net\r\nSubject: Re: ACME: %s\r\nMessage-ID: <pair%s@example.org>\r\n\r\nYes.\r\n' \
			"$(sed -n 's/^Subject: ACME: //p' "$(last_mail postmaster@example.org)" | tr -d '\r')" "$npair" > "$2"
		from=postmaster@example.org ;;
	esac
}
for a in request enroll challenge revoke; do
	for b in request enroll challenge revoke; do
		[ "$a" = "$b" ] && continue
		pair_mail "$a" "$T/m/p$a$b.eml"
		out1=$(milter_t "$T/m/p$a$b.eml" "$from" "$a@ca.example.net" "$b@ca.example.net")
		out2=$(milter_t "$T/m/p$a$b.eml" "$from" "$b@ca.example.net")
		if printf '%s\n' "$out1" | grep -q "^rcpt: $b@ca.example.net: 452 4.5.3 " &&
			verdict_of "$out1" | grep -q -E '^(accept|discard)' &&
			! printf '%s\n' "$out2" | grep -q 'duplicate' && verdict_of "$out2" | grep -q '^reject 5'; then
			ok "$a@ takes it, $b@ deferred; $b@ retried alone: $(verdict_of "$out2" | cut -c1-70)"
		else
			bad "$a@ then $b@: $out1 // $out2"
		fi
	done
done

# ---- 4. pending registrations reserve nothing ----
letter_ent() { # letter_ent FILE LINES...
	f=$1
	shift
	{ printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'; for l in "$@"; do printf '%s\r\n' "$l"; done; } > "$f"
}
# Mallory (any holder of a certificate under LetterTrustAnchors) registers a
# pending organisation naming Other Ltd's domain, contact and an admin.
letter_ent "$T/m/squat.ent" "Request: register-organisation" "Organisation: Squat Ltd" "Registration: NTRGB-99999999" \
	"Country: GB" "Contact: mallory@evil.example" "Domain: example.com" "Domain: newco.example.com" "Admin: boss@example.com; IT"
smail "$T/m/squat.eml" mallory mallory@evil.example request@ca.example.net "register" "$T/m/squat.ent"
expect "a registration naming another organisation's domain" '^(accept|discard)' \
	"$(milter_t "$T/m/squat.eml" mallory@evil.example request@ca.example.net)"
squat=$($cg --json org list | tr '}' '\n' | sed -n 's/.*"id":"\([0-9]*\)","status":"pending".*Squat Ltd.*/\1/p')
[ -n "$squat" ] && ok "Squat Ltd is pending as organisation $squat" || bad "no pending org: $($cg --json org list)"
$cg --json domain list | grep -q '"domain":"newco.example.com"' && bad "a pending registration holds newco.example.com" ||
	ok "a pending registration holds no domain record"
$cg --json admin list | grep -q '"address":"boss@example.com"' && bad "a pending registration holds boss@ as admin" ||
	ok "a pending registration appoints no admin"
# Other Ltd's contact adds newco.example.com and appoints boss@ as its admin:
# nothing of Squat Ltd stands in the way.
letter_ent "$T/m/newco.ent" "Request: add-domain" "Domain: newco.example.com"
smail "$T/m/newco.eml" boss boss@example.com request@ca.example.net "add" "$T/m/newco.ent"
expect "the real contact adds the domain the squatter named" '^(accept|discard)' \
	"$(milter_t "$T/m/newco.eml" boss@example.com request@ca.example.net)"
letter_ent "$T/m/bossadm.ent" "Request: add-admin" "Admin: boss@example.com; Board"
smail "$T/m/bossadm.eml" boss boss@example.com request@ca.example.net "admin" "$T/m/bossadm.ent"
expect "the real contact appoints the admin the squatter named" '^(accept|discard)' \
	"$(milter_t "$T/m/bossadm.eml" boss@example.com request@ca.example.net)"
# org show tells the operator; approval needs the operator to see conflicts.
$cg org show "$squat" > "$T/squat.show"
grep -q "example.com: held by organisation 2" "$T/squat.show" && grep -q "boss@example.com: an admin of organisation 2" "$T/squat.show" &&
	ok "org show lists the conflicts" || bad "org show: $(cat "$T/squat.show")"
if $cg org approve "$squat" > "$T/approve.out" 2>&1; then bad "approved despite conflicts"; else
	grep -q "conflict" "$T/approve.out" && ok "org approve stops at the conflicts: $(head -1 "$T/approve.out")" || bad "approve: $(cat "$T/approve.out")"
fi
# A competing registration for the same contact is listed too.
letter_ent "$T/m/squat2.ent" "Request: register-organisation" "Organisation: Squat Two" "Registration: NTRGB-88888888" \
	"Country: GB" "Contact: mallory@evil.example" "Domain: newco.example.com"
smail "$T/m/squat2.eml" mallory mallory@evil.example request@ca.example.net "register 2" "$T/m/squat2.ent"
milter_t "$T/m/squat2.eml" mallory@evil.example request@ca.example.net > /dev/null
$cg org show "$squat" | grep -q "competing registration: organisation [0-9]* (Squat Two)" &&
	ok "org show lists a competing registration" || bad "no competing registration: $($cg org show "$squat")"

# ---- 5. duplicate rows, admins outside the organisation's domains ----
{
	printf 'First Name,Last Name,Email,Country\r\n'
	printf 'Ala,One,ala@EXAMPLE.ORG,PL\r\n'
	printf 'Ala,Two,ala@example.org.,PL\r\n'
	printf 'Ola,Three,ola@example.org,PL\r\n'
} > "$T/m/dups.csv"
entity "$T/m/dups.ent" "Staff." "$T/m/dups.csv" text/csv dups.csv
smail "$T/m/dups.eml" anna anna@example.org enroll@ca.example.net "dups" "$T/m/dups.ent"
expect "a list with a duplicate row" '^(accept|discard)' "$(milter_t "$T/m/dups.eml" anna@example.org enroll@ca.example.net)"
drain
[ "$(mails_to ala@example.org)" -eq 1 ] && ok "one invitation for ala@ despite two rows" || bad "$(mails_to ala@example.org) invitations to ala@"
# A day later the unanswered invitations expire and the report tells the rows.
drain_later +25h
/usr/bin/python3 "$CG_SRC/tests/lib/report-csv.py" "$(last_mail anna@example.org)" > "$T/dups.csv"
grep -q '^"2","ala@example.org","refused","","duplicate of row 1' "$T/dups.csv" &&
	ok "the second row is reported as a duplicate of row 1" || bad "report: $(cat "$T/dups.csv")"
letter_ent "$T/m/outside.ent" "Request: add-admin" "Admin: helper@gmail.example; Support"
smail "$T/m/outside.eml" ceo ceo@example.org request@ca.example.net "outside" "$T/m/outside.ent"
expect "add-admin outside the organisation's domains" '^(accept|discard)' \
	"$(milter_t "$T/m/outside.eml" ceo@example.org request@ca.example.net)"
$cg --json admin list | grep -q '"address":"helper@gmail.example","org":"1","status":"held"' &&
	ok "held until the operator approves" || bad "admin: $($cg --json admin list)"
$cg admin approve helper@gmail.example > /dev/null && $cg --json admin list | grep -q '"address":"helper@gmail.example","org":"1","status":"active"' &&
	ok "certgate admin approve makes it active" || bad "admin approve"
$cg audit show | grep -q " admin.approve " && ok "admin.approve audited" || bad "admin.approve not audited"

# ---- 6. nothing of a CSR but its key reaches the certificate ----
cat > "$T/k/leak.cnf" <<'CNF'
[req]
distinguished_name = dn
req_extensions = ext
prompt = no
[dn]
C = XX
O = Evil Corp
OU = Hackers
CN = admin@example.org
serialNumber = SN-98765
emailAddress = leak@example.org
[ext]
subjectAltName = email:leak@example.org, DNS:www.evil.example, URI:http://evil.example/, IP:192.0.2.1
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
extendedKeyUsage = serverAuth, clientAuth, emailProtection
certificatePolicies = 2.5.29.32.0
nsComment = "validity 9999 days"
1.3.6.1.4.1.99999.1 = ASN1:UTF8String:validity=3650
CNF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k/leak.key" -config "$T/k/leak.cnf" \
	-out "$T/k/leak.csr" 2>/dev/null
entity "$T/m/leak.ent" "$(printf 'Email: leak@example.org\r\n')" "$T/k/leak.csr" application/pkcs10 leak.csr
smail "$T/m/leak.eml" anna anna@example.org enroll@ca.example.net "leak" "$T/m/leak.ent"
milter_t "$T/m/leak.eml" anna@example.org enroll@ca.example.net > /dev/null
drain
sl=$(serial_of leak@example.org)
if [ -n "$sl" ]; then
	$cg cert show "$sl" --pem | openssl x509 -noout -text -nameopt RFC2253 > "$T/leak.txt"
	for w in "Evil Corp" "Hackers" "C=XX" "SN-98765" "CN=admin@example.org" "www.evil.example" "http://evil.example" "192.0.2.1" \
		"CA:TRUE" "Certificate Sign" "TLS Web Server" "TLS Web Client" "2.5.29.32.0" "Any Policy" "validity" "1.3.6.1.4.1.99999"; do
		grep -q -F -- "$w" "$T/leak.txt" && bad "the certificate carries '$w' from the CSR" || ok "nothing of '$w'"
	done
	grep -q "email:leak@example.org" "$T/leak.txt" && ok "the SAN is the validated mailbox alone" || bad "SAN: $(grep -A1 'Alternative' "$T/leak.txt")"
	$cg cert show "$sl" --pem > "$T/leak.pem"
	nb=$(date -d "$(openssl x509 -noout -startdate -in "$T/leak.pem" | cut -d= -f2)" +%s)
	na=$(date -d "$(openssl x509 -noout -enddate -in "$T/leak.pem" | cut -d= -f2)" +%s)
	[ $(( (na - nb + 1) / 86400 )) -eq 730 ] && ok "validity is DefaultValidity (730 days), not the CSR's" || bad "validity $(( (na - nb) / 86400 )) days"
else
	bad "no certificate for leak@example.org: $(report_subject)"
fi
$cg audit verify > /dev/null && ok "audit chain intact" || bad "audit chain broken"
exit $fail
