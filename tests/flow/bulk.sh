#!/bin/sh
# bulk.sh: lists of more than 1,000 rows to issue (CG_LIST_EXPAND_AT). The
# milter takes such a list with one expand job instead of a job per row (a
# transaction holds a lock for each job it queues); the issuer queues the
# rows' jobs 1,000 per transaction: every good row is issued exactly once,
# a row without a CSR is invited, a refused row gets nothing. The same for a
# held (unsigned) list released by the admin's confirmation.
set -eu
. "$CG_SRC/tests/lib/pki.sh"
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
. "$CG_SRC/tests/lib/mail.sh"
ca_test bulk
ca_dirs
mkdir -p "$T/m" "$T/tmp"
chown certgate "$T/tmp"
pki_ca "$T/ca" "Admin CA"
pki_leaf "$T/ca" "$T/anna" anna@example.org ec
ca_conf "AdminTrustAnchors $T/ca/cert.pem" "LogLevel info" "TempDir $T/tmp" "MaxBulkRows 5000" \
	"ExpiryReminders none"
ca_mta
ca_example
$cg admin add anna@example.org --org 1 > /dev/null
dns_start "$T/dns" 127.0.0.45
tool="$CG_BIN/../tests/cg-benchtool"

mail() { # mail NAME SIGNER|- ENTITY: $T/m/NAME.eml from anna
	printf 'From: anna@example.org\r\nTo: enroll@ca.example.net\r\nSubject: %s\r\nMessage-ID: <%s.%s@example.org>\r\n' "$1" "$1" "$$" > "$T/m/$1.hdr"
	if [ "$2" = - ]; then cat "$T/m/$1.hdr" "$3" > "$T/m/$1.eml"; else
		pki_sign_openssl "$T/$2" "$3" "$T/m/$1.eml" detached "$T/m/$1.hdr"; fi
}
verdict() {
	"$CG_BIN/certgate-milter" -c "$T/certgate.conf" -t "$1" --client-ip 127.0.0.1 \
		--mail-from anna@example.org --rcpt enroll@ca.example.net 2>>"$T/milter.err" |
		sed -n 's/^verdict: //p'
}
one_expand_job() { # one_expand_job WHAT: the queue holds one expand job, no issue job
	$cg queue show > "$T/queue"
	[ "$(grep -c '^expand ' "$T/queue")" -eq 1 ] && [ "$(grep -c '^issue ' "$T/queue")" -eq 0 ] &&
		ok "$1: one expand job queued, no job per row" ||
		bad "queue after $1: $(grep -c '^expand ' "$T/queue") expand, $(grep -c '^issue ' "$T/queue") issue"
}
issued_for() { $cg --json cert list | grep -o "\"mailbox\":\"$1[0-9]*@example.org\"" | sort; }

# 1. A signed list: 2,500 rows with CSRs, one row for another organisation's
# domain (refused), one without a CSR (invited).
{
	"$tool" csv big example.org 2500
	printf 'Person,Elsewhere,big0@other.example,PL,%s\r\n' "$("$tool" csv x example.org 1 | sed -n '2s/.*,//p' | tr -d '\r')"
	printf 'Ida,Invited,biginv@example.org,PL,\r\n'
} > "$T/m/big.csv"
entity "$T/m/big.ent" "Everyone." "$T/m/big.csv" text/csv big.csv
mail big anna "$T/m/big.ent"
got=$(verdict "$T/m/big.eml")
case $got in accept* | discard*) ok "a signed list of 2,502 rows is taken: $got" ;; *) bad "big list: $got" ;; esac
one_expand_job "the list"
drain
issued_for big > "$T/big.issued"
[ "$(grep -c . "$T/big.issued")" -eq 2500 ] && [ -z "$(uniq -d "$T/big.issued")" ] &&
	ok "the 2,500 good rows issued, each once" ||
	bad "$(grep -c . "$T/big.issued") certificates for the list ($(uniq -d "$T/big.issued" | head -3 | tr '\n' ' ') twice)"
grep -q "big0@other.example" "$T/big.issued" && bad "the row of another domain was issued" ||
	ok "the row of another organisation's domain issued nothing"
inv=$(last_mail biginv@example.org)
[ -n "$inv" ] && grep -q "^Subject: ACME: " "$inv" && ok "the row without a CSR is invited" ||
	bad "no invitation to biginv@example.org"
steps=$(grep -c "request R[0-9]*: [0-9]* item jobs queued" "$T/issuer.log" || true)
grep -q "1000 item jobs queued (items to 1000 of 2502)" "$T/issuer.log" && [ "$steps" -eq 3 ] &&
	ok "the issuer queued the rows' jobs in 3 steps of at most 1,000" ||
	bad "expansion steps: $steps; $(grep 'item jobs queued' "$T/issuer.log" | head -3 | tr '\n' ' ')"

# 2. An unsigned list of 1,200: held until the admin confirms; the release
# queues one expand job too.
"$tool" csv held example.org 1200 > "$T/m/held.csv"
entity "$T/m/held.ent" "Everyone again." "$T/m/held.csv" text/csv held.csv
mail held - "$T/m/held.ent"
got=$(verdict "$T/m/held.eml")
case $got in accept* | discard*) ok "an unsigned list of 1,200 is held: $got" ;; *) bad "held list: $got" ;; esac
drain
cm=$(last_mail anna@example.org)
grep -q "^Subject: ACME: " "$cm" && ok "a confirmation challenge goes to the admin" || bad "no confirmation mail"
[ -z "$(issued_for held)" ] && ok "nothing issued before the confirmation" || bad "issued before the confirmation"
tok=$(sed -n 's/^Subject: ACME: //p' "$cm" | tr -d '\r')
mid=$(sed -n 's/^Message-ID: //p' "$cm" | tr -d '\r<>')
printf 'From: anna@example.org\r\nTo: challenge@ca.example.net\r\nSubject: Re: ACME: %s\r\nIn-Reply-To: <%s>\r\nMessage-ID: <c.%s@example.org>\r\n\r\nYes.\r\n' \
	"$tok" "$mid" "$$" > "$T/m/confirm.eml"
got=$(dns_run "$CG_BIN/certgate-milter" -c "$T/certgate.conf" -t "$T/m/confirm.eml" --client-ip 127.0.0.1 \
	--helo mail.example.org --mail-from anna@example.org --rcpt challenge@ca.example.net 2>>"$T/milter.err" |
	sed -n 's/^verdict: //p')
case $got in accept* | discard*) ok "the admin confirms: $got" ;; *) bad "confirmation: $got" ;; esac
one_expand_job "the release"
drain
issued_for held > "$T/held.issued"
[ "$(grep -c . "$T/held.issued")" -eq 1200 ] && [ -z "$(uniq -d "$T/held.issued")" ] &&
	ok "the 1,200 released rows issued, each once" || bad "$(grep -c . "$T/held.issued") certificates for the held list"
grep -q "Enrolment R[0-9]*: 1200 issued, 0 refused" "$(last_mail anna@example.org)" &&
	ok "the report: 1200 issued" || bad "held report: $(grep '^Subject' "$(last_mail anna@example.org)")"
$cg audit verify > /dev/null && ok "the audit chain verifies" || bad "audit verify"
exit $fail
