#!/bin/sh
# international.sh: internationalised domains and mailboxes through
# certgate-milter -t and the issuer:
#   - a letter names bücher.example in its U-label form: stored and
#     challenged as xn--bcher-kva.example, shown to people as bücher.example;
#     the postmaster answers with a From in either form;
#   - mixed-script and look-alike domains in a letter are refused, each with
#     its reason, and change nothing;
#   - an enrolment (CSV rows, an Email: line, a CSR whose SAN is an
#     otherName SmtpUTF8Mailbox) for jürgen@bücher.example and
#     pelé@example.org: certificates with a SmtpUTF8Mailbox SAN (RFC 9598)
#     and no rfc822Name or emailAddress, which the openssl CLI prints;
#   - an invitation to pelé@: the answer from that mailbox is taken;
#   - certgate's commands take either form of an address.
set -eu
. "$CG_SRC/tests/lib/pki.sh"
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
. "$CG_SRC/tests/lib/mail.sh"
ca_test international
ca_dirs
mkdir -p "$T/m" "$T/tmp"
chown certgate "$T/tmp"
pki_ca "$T/ca" "Mail CA"
pki_leaf "$T/ca" "$T/ceo" ceo@example.org rsa
pki_leaf "$T/ca" "$T/anna" anna@example.org ec
ca_conf "AdminTrustAnchors $T/ca/cert.pem" "LetterTrustAnchors $T/ca/cert.pem" "LogLevel notice" \
	"TempDir $T/tmp" "DeliverToSubject yes"
ca_mta
$cg ca init > /dev/null
$cg org add --name "Example GmbH" --registration NTRDE-HRB12345 --country DE --contact ceo@example.org > /dev/null
$cg domain add example.org --org 1 --validated > /dev/null
$cg admin add anna@example.org --org 1 > /dev/null
dns_start "$T/dns" 127.0.0.22

U_DOMAIN="bücher.example" A_DOMAIN="xn--bcher-kva.example"
JUERGEN="jürgen@$U_DOMAIN" PELE="pelé@example.org"
expect() { # expect NAME PATTERN OUTPUT
	got=$(verdict_of "$3")
	if printf '%s\n' "$got" | grep -q -E -- "$2"; then ok "$1: $got"; else bad "$1: got '$got', want /$2/"; fi
}
header() { sed -n "s/^$1: //p" "$2" | head -1 | tr -d '\r'; }
letter() { # letter NAME LINES...: $T/m/NAME.eml, signed by the contact
	name=$1
	shift
	{
		printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
		for l in "$@"; do printf '%s\r\n' "$l"; done
	} > "$T/m/$name.ent"
	smail "$T/m/$name.eml" ceo ceo@example.org request@ca.example.net "$name" "$T/m/$name.ent"
}
state() { $cg --json domain list; $cg --json admin list; }

# ---- a letter with a U-label ----
letter add-idn "Request: add-domain" "Domain: $U_DOMAIN"
expect "a letter naming $U_DOMAIN" '^(accept|discard)' "$(milter_t "$T/m/add-idn.eml" ceo@example.org request@ca.example.net)"
$cg --json domain list | grep -q "\"domain\":\"$A_DOMAIN\"" && ok "stored as the A-label $A_DOMAIN" || bad "domain list: $($cg --json domain list)"
$cg domain list | grep -q "^$A_DOMAIN .*($U_DOMAIN)" && ok "domain list shows the U-label beside it" || bad "domain list: $($cg domain list)"
drain
m=$(last_mail "postmaster@$A_DOMAIN")
[ -n "$m" ] && ok "challenge mailed to postmaster@$A_DOMAIN" || { bad "no challenge to postmaster@$A_DOMAIN"; exit 1; }
qp "$m" > "$T/challenge.txt"
grep -q "$U_DOMAIN ($A_DOMAIN)" "$T/challenge.txt" && ok "the challenge text names $U_DOMAIN ($A_DOMAIN)" || bad "challenge text: $(cat "$T/challenge.txt")"
tok=$(header Subject "$m" | sed 's/^ACME: //')
mid=$(header Message-ID "$m" | tr -d '<>')
# The postmaster's client writes the From in U-labels (SMTPUTF8 mail, RFC 6532).
{
	printf 'From: postmaster@%s\r\nTo: challenge@ca.example.net\r\nSubject: Re: ACME: %s\r\n' "$U_DOMAIN" "$tok"
	printf 'Message-ID: <idn.%s@%s>\r\nIn-Reply-To: <%s>\r\n' "$$" "$A_DOMAIN" "$mid"
	printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nJa.\r\n'
} > "$T/m/answer.eml"
expect "the postmaster's answer, From in U-labels" '^(accept|discard)' \
	"$(milter_t "$T/m/answer.eml" "postmaster@$A_DOMAIN" challenge@ca.example.net)"
$cg domain list | grep -q "^$A_DOMAIN .*validated" && ok "$A_DOMAIN validated" || bad "domain list: $($cg domain list)"
drain
n=$(last_mail ceo@example.org)
[ -n "$n" ] && qp "$n" | grep -q "$U_DOMAIN" && ok "the contact is told, in U-labels" || bad "notice to the contact"

# ---- refused domains: each with its reason, nothing changed ----
refused_letter() { # refused_letter NAME DOMAIN REASON
	letter "$1" "Request: add-domain" "Domain: $2"
	before=$(state)
	got=$(verdict_of "$(milter_t "$T/m/$1.eml" ceo@example.org request@ca.example.net)")
	if printf '%s\n' "$got" | grep -q -E -- "^reject 554 5\.6\.0 certgate: letter line 2: Domain: .*$3" &&
		[ "$(state)" = "$before" ]; then
		ok "$1: $got"
	else
		bad "$1: got '$got', want /$3/"
	fi
}
refused_letter cyrillic-a "exаmple.com" "\(xn--exmple-4nf\) mixes scripts, Latin and Cyrillic"
refused_letter greek-o "gοogle.example" "mixes scripts, Latin and Greek"
refused_letter mixed-label "bücherкнига.example" "mixes scripts, Latin and Cyrillic"
refused_letter lookalike "раура.example" "written in Cyrillic letters that look Latin"
refused_letter disallowed "a⁄b.example" "not valid IDNA"

# ---- enrolment for international mailboxes ----
csr jr
csr pe
# A CSR that names its mailbox itself, as an otherName SmtpUTF8Mailbox
# (FORMAT:UTF8, or openssl reads the bytes as Latin-1; in a section, as the
# comma would split an -addext value).
printf '[req]\ndistinguished_name = dn\nreq_extensions = ext\n[dn]\n[ext]\nsubjectAltName = @alt\n[alt]\n' > "$T/k/zoe.cnf"
printf 'otherName.1 = 1.3.6.1.5.5.7.8.9;FORMAT:UTF8,UTF8:zoë@%s\n' "$U_DOMAIN" >> "$T/k/zoe.cnf"
openssl req -new -config "$T/k/zoe.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k/zoe.key" \
	-subj "/CN=zoe" -out "$T/k/zoe.csr" 2>/dev/null
# The same as an IA5String: not a SmtpUTF8Mailbox (RFC 9598 says UTF8String).
sed 's/FORMAT:UTF8,UTF8:zoë@.*/IA5STRING:ia5@example.org/' "$T/k/zoe.cnf" > "$T/k/ia5.cnf"
openssl req -new -config "$T/k/ia5.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k/ia5.key" \
	-subj "/CN=ia5" -out "$T/k/ia5.csr" 2>/dev/null
pem() { awk '{printf "%s\n", $0}' "$T/k/$1.csr"; }
{
	printf 'First Name,Last Name,Email,Country,CSR\r\n'
	printf 'Jürgen,Müller,%s,DE,"%s"\r\n' "$JUERGEN" "$(pem jr)"
	printf 'Edson,Pelé,%s,DE,"%s"\r\n' "$PELE" "$(pem pe)"
	printf 'Agata,Żółw,agata@exаmple.org,PL,"%s"\r\n' "$(pem pe)"
} > "$T/m/staff.csv"
entity "$T/m/bulk.ent" "Unsere neuen Kollegen." "$T/m/staff.csv" text/csv staff.csv "$T/k/zoe.csr" application/pkcs10 zoe.csr \
	"$T/k/ia5.csr" application/pkcs10 ia5.csr
smail "$T/m/bulk.eml" anna anna@example.org enroll@ca.example.net "Neue Zertifikate" "$T/m/bulk.ent"
expect "an enrolment with international mailboxes" '^(accept|discard)' "$(milter_t "$T/m/bulk.eml" anna@example.org enroll@ca.example.net)"
drain
rep=$(last_mail anna@example.org)
[ -n "$rep" ] && grep -q "^Subject: Enrolment R[0-9]*: 3 issued, 2 refused" "$rep" && ok "report: 3 issued, 2 refused" ||
	bad "report: $(header Subject "$rep")"
for mb in "$JUERGEN" "$PELE" "zoë@$U_DOMAIN"; do
	serial=$($cg --json cert list --mailbox "$mb" | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p' | head -1)
	if [ -z "$serial" ]; then bad "no certificate for $mb"; continue; fi
	$cg cert show "$serial" --pem > "$T/c.pem"
	txt=$(openssl x509 -in "$T/c.pem" -noout -text)
	# OpenSSL 3.0 prints the type and the UTF8String each with a colon.
	printf '%s\n' "$txt" | grep -q "othername: SmtpUTF8Mailbox::$mb\$" && ok "$mb: the openssl CLI prints othername: SmtpUTF8Mailbox::$mb" ||
		bad "$mb: $(printf '%s\n' "$txt" | grep -A1 'Subject Alternative Name')"
	! printf '%s\n' "$txt" | grep -q "email:\|emailAddress" && ok "$mb: no rfc822Name, no emailAddress" || bad "$mb: an ASCII mailbox field"
	openssl verify -CAfile "$T/ca/root-ca.pem" -untrusted "$T/ca/issuing-ca.pem" -purpose smimesign "$T/c.pem" > /dev/null 2>&1 &&
		ok "$mb: the certificate verifies" || bad "$mb: does not verify"
done
# Either form of the domain names the same mailbox.
[ "$($cg --json cert list --mailbox "jürgen@$A_DOMAIN")" = "$($cg --json cert list --mailbox "$JUERGEN")" ] &&
	ok "cert list: jürgen@ in A-labels and U-labels alike" || bad "cert list differs by form"
sub=$(last_mail "jürgen@$A_DOMAIN")
[ -n "$sub" ] && ok "the certificate mailed to jürgen@$A_DOMAIN" || bad "nothing mailed to jürgen@ (argv: $(cat "$T"/out/*.argv | tail -3))"
[ -n "$sub" ] && grep -q "^To: <jürgen@$U_DOMAIN>" "$sub" && ok "its To: in U-labels (RFC 6532)" || bad "To: $(header To "$sub")"
/usr/bin/python3 "$CG_SRC/tests/lib/report-csv.py" "$rep" > "$T/report.csv" 2>/dev/null || true
grep -q '^"1","jürgen@bücher.example","issued"' "$T/report.csv" && ok "the report names jürgen@ in U-labels" || bad "report: $(cat "$T/report.csv")"
grep -q '^"3","","refused",.*(xn--exmple-4nf) mixes scripts, Latin and Cyrillic' "$T/report.csv" &&
	ok "the look-alike row refused with its reason" || bad "report: $(cat "$T/report.csv")"
grep -q '^"5","","refused","","CSR: CSR names an invalid mailbox"' "$T/report.csv" &&
	ok "an otherName SmtpUTF8Mailbox that is not a UTF8String: refused" || bad "report: $(cat "$T/report.csv")"
grep -q "filename\*=UTF-8''j%C3%BCrgen%40b%C3%BCcher.example.pem" "$rep" && ok "attachment names in RFC 2231 form" ||
	bad "attachments: $(grep filename "$rep")"

# ---- an invitation to pelé@, answered from that mailbox ----
{
	printf 'First Name,Last Name,Email,Country,CSR\r\n'
	printf 'Edson,Pelé,pelé.inv@example.org,DE,\r\n'
} > "$T/m/inv.csv"
entity "$T/m/inv.ent" "Bitte einladen." "$T/m/inv.csv" text/csv inv.csv
smail "$T/m/inv.eml" anna anna@example.org enroll@ca.example.net "Einladung" "$T/m/inv.ent"
expect "a row without a CSR" '^(accept|discard)' "$(milter_t "$T/m/inv.eml" anna@example.org enroll@ca.example.net)"
drain
inv=$(last_mail pelé.inv@example.org)
[ -n "$inv" ] && ok "an invitation to pelé.inv@example.org" || { bad "no invitation"; exit 1; }
tok=$(header Subject "$inv" | sed 's/^ACME: //')
mid=$(header Message-ID "$inv" | tr -d '<>')
csr inv
{
	printf 'From: Edson <pelé.inv@example.org>\r\nTo: challenge@ca.example.net\r\nSubject: Re: ACME: %s\r\n' "$tok"
	printf 'Message-ID: <pe.%s@example.org>\r\nIn-Reply-To: <%s>\r\n' "$$" "$mid"
	printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHier.\r\n'
	sed 's/$/\r/' "$T/k/inv.csr"
} > "$T/m/inv-answer.eml"
expect "the invited mailbox answers" '^(accept|discard)' "$(milter_t "$T/m/inv-answer.eml" pelé.inv@example.org challenge@ca.example.net)"
drain
$cg --json cert list --mailbox pelé.inv@example.org | grep -q '"serial"' && ok "issued to pelé.inv@example.org" || bad "not issued after the answer"

exit $fail
