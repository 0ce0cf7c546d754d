#!/bin/sh
# lifecycle.sh: the certificate's life after issue, the issuer's clock moved
# by libfaketime (each drain is a fresh issuer process: a restart):
#   - expiry reminders at 45, 30, 15 and 1 days, each stage mailed exactly
#     once to the enrolling admin, none for a revoked or renewed certificate,
#     only the later stage when two are due at once;
#   - renewal by answering a reminder with a CSR: issued for the same
#     mailbox and profile, the report naming both serials, the old one left
#     valid and reminded of no more; refused, each with its reason, without a
#     CSR, with the old key, for another mailbox, twice, from an admin no
#     longer one, and when the domain's validation lapsed (a new challenge is
#     queued then, once);
#   - Request: status, and the operator's digest and certgate stats.
set -eu
. "$CG_SRC/tests/lib/pki.sh"
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
. "$CG_SRC/tests/lib/mail.sh"
ca_test lifecycle
ca_dirs
mkdir -p "$T/m" "$T/tmp"
chown certgate "$T/tmp"
pki_ca "$T/ca" "Admin CA"
pki_leaf "$T/ca" "$T/anna" anna@example.org ec
pki_leaf "$T/ca" "$T/ceo" ceo@example.org ec
ca_conf "AdminTrustAnchors $T/ca/cert.pem" "LetterTrustAnchors $T/ca/cert.pem" "LogLevel notice" \
	"TempDir $T/tmp" "DomainReuse 20d" "DomainRenewal 1h" "OperatorAddress ops@ca.example.net"
ca_mta
ca_example
$cg admin add anna@example.org --org 1 > /dev/null
dns_start "$T/dns" 127.0.0.23

header() { sed -n "s/^$1: //p" "$2" | head -1 | tr -d '\r'; }
serial_of() { $cg --json cert list --mailbox "$1" | tr '}' '\n' | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p' | head -1; }
# reminders_for SERIAL: how many reminder mails name it
reminders_for() {
	n=0
	for f in "$T"/out/*.eml; do
		[ -e "$f" ] || continue
		if grep -q "^Subject: ACME: " "$f" && qp "$f" | grep -q "the S/MIME certificate $1 for"; then n=$((n + 1)); fi
	done
	echo $n
}
# reminder SERIAL: the newest reminder mail naming it
reminder() {
	r=
	for f in $(ls "$T"/out/*.eml | sort -V); do
		if grep -q "^Subject: ACME: " "$f" && qp "$f" | grep -q "the S/MIME certificate $1 for"; then r=$f; fi
	done
	echo "$r"
}
# answer FROM REMINDER OUT [CSR]: the milter's verdict on an answer to it
answer() {
	{
		printf 'From: %s\r\nTo: challenge@ca.example.net\r\nSubject: Re: %s\r\n' "$1" "$(header Subject "$2")"
		printf 'In-Reply-To: %s\r\nMessage-ID: <%s.%s@example.org>\r\n' "$(header Message-ID "$2")" "$(basename "$3")" "$$"
		printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere is the new one.\r\n'
		[ -z "${4:-}" ] || sed 's/$/\r/' "$4"
	} > "$3"
	verdict_of "$(milter_t "$3" "$1" challenge@ca.example.net)"
}
enrol() { # enrol NAME MAILBOX: a signed enrolment of one CSR, 60 days
	csr "$1" "$2"
	entity "$T/m/$1.ent" "Validity: 60" "$T/k/$1.der" application/pkcs10 "$1.p10"
	smail "$T/m/$1.eml" anna anna@example.org enroll@ca.example.net "$1" "$T/m/$1.ent"
	verdict_of "$(milter_t "$T/m/$1.eml" anna@example.org enroll@ca.example.net)" | grep -q -E '^(accept|discard)' ||
		bad "enrolment of $2 refused"
}

# ---- four certificates of 60 days ----
enrol jan jan@example.org
enrol kai kai@example.org
enrol bob bob@example.org
enrol lee lee@example.org
drain
JAN=$(serial_of jan@example.org) KAI=$(serial_of kai@example.org) BOB=$(serial_of bob@example.org)
LEE=$(serial_of lee@example.org)
[ -n "$JAN" ] && [ -n "$KAI" ] && [ -n "$BOB" ] && [ -n "$LEE" ] && ok "four certificates issued" || { bad "not issued"; exit 1; }
# queued SERIAL: the ids of its reminder jobs waiting
queued() { $cg queue show | grep "^remind .*$1|" | sed 's/.*|//' | tr '\n' ' '; }
# One job waits a certificate: the first stage's (45 days); each next is
# queued by the one before.
[ "$(queued "$JAN")" = "3888000 " ] && ok "one reminder queued for $JAN (45d)" || bad "reminder jobs for $JAN: $(queued "$JAN")"
# A database from before reminders (none queued, none backfilled): the
# issuer's first start queues the first stage of each valid certificate.
"$CG_BIN/../tests/cg-storetool" older "$T/db" "$T/evidence" || bad "cg-storetool older"
[ -z "$(queued "$JAN")" ] && [ "$($cg queue show | grep -c "^remind " || true)" = 0 ] || bad "reminders still queued"
drain
[ "$(queued "$JAN")" = "3888000 " ] && [ "$($cg queue show | grep -c "^remind " || true)" = 4 ] &&
	grep -q "expiry reminders scheduled for 4 certificates issued before" "$T/issuer.log" &&
	ok "an older database: the first reminder of each certificate queued at start" ||
	bad "backfilled: $($cg queue show | grep "^remind ")"
drain
[ "$($cg queue show | grep -c "^remind " || true)" = 4 ] && ok "and only once" || bad "backfilled twice: $($cg queue show | grep -c "^remind ")"
$cg cert revoke "$BOB" --reason superseded > /dev/null

# ---- 45 days before: one reminder each, none for the revoked one ----
drain_later +14d
[ "$(reminders_for "$JAN")" = 0 ] && ok "46 days before expiry: no reminder yet" || bad "reminded too early"
drain_later +16d
[ "$(reminders_for "$JAN")" = 1 ] && [ "$(reminders_for "$KAI")" = 1 ] && ok "44 days before: the 45-day reminder" ||
	bad "45d reminders: jan $(reminders_for "$JAN"), kai $(reminders_for "$KAI")"
[ "$(reminders_for "$BOB")" = 0 ] && ok "none for the revoked certificate" || bad "the revoked one reminded"
m=$(reminder "$JAN")
grep -q "^To: <anna@example.org>" "$m" && grep -q '^Auto-Submitted: auto-generated; type=acme' "$m" &&
	ok "to the admin who enrolled it, RFC 8823-shaped" || bad "reminder headers: $(head -5 "$m")"
qp "$m" > "$T/reminder.txt"
grep -q "expires on .*, in 4[45] days" "$T/reminder.txt" && grep -q "reply to" "$T/reminder.txt" &&
	grep -q "stays valid until it" "$T/reminder.txt" && ok "the reminder says when and what to do" || bad "reminder text: $(cat "$T/reminder.txt")"
$cg audit show | grep -q " cert.remind .*$JAN" && ok "cert.remind audited" || bad "no cert.remind"
[ "$(queued "$JAN")" = "2592000 " ] && ok "the 30-day reminder queued by the 45-day one" || bad "after 45d: $(queued "$JAN")"
[ -z "$(queued "$BOB")" ] && ok "the revoked certificate's chain ended" || bad "revoked, still queued: $(queued "$BOB")"
drain_later +17d
drain_later +18d
[ "$(reminders_for "$JAN")" = 1 ] && ok "drained again (restarts): still exactly one" || bad "a stage mailed twice: $(reminders_for "$JAN")"

# ---- renewal by answering kai's reminder ----
m=$(reminder "$KAI")
got=$(answer anna@example.org "$m" "$T/m/nocsr.eml")
case $got in "reject 554 5.6.0 certgate: the answer to a reminder must carry a CSR"*) ok "an answer without a CSR: $got" ;; *) bad "no CSR: $got" ;; esac
got=$(answer anna@example.org "$m" "$T/m/samekey.eml" "$T/k/kai.csr")
case $got in "reject 550 5.7.1 certgate: the CSR has the key of certificate $KAI; a renewal takes a new key"*) ok "the old key: $got" ;; *) bad "same key: $got" ;; esac
csr other other@example.org
got=$(answer anna@example.org "$m" "$T/m/other.eml" "$T/k/other.csr")
case $got in "reject 550 5.7.1 certgate: the CSR names other@example.org, but a reminder is for kai@example.org"*) ok "another mailbox: $got" ;; *) bad "other mailbox: $got" ;; esac
got=$(answer ola@example.org "$m" "$T/m/ola.eml" "$T/k/other.csr")
case $got in "reject 550 5.7.1 certgate: the reply is from ola@example.org but the challenge went to anna@example.org"*) ok "someone else: $got" ;; *) bad "ola answers: $got" ;; esac
csr kai2 kai@example.org
got=$(answer anna@example.org "$m" "$T/m/renew.eml" "$T/k/kai2.csr")
case $got in accept* | discard*) ok "answered with a new CSR: $got" ;; *) bad "renewal: $got" ;; esac
got=$(answer anna@example.org "$m" "$T/m/renew2.eml" "$T/k/kai2.csr")
case $got in "reject 550 5.7.1 certgate: this challenge token has already been used"*) ok "answered twice: $got" ;; *) bad "second answer: $got" ;; esac
drain
KAI2=$($cg --json cert list --mailbox kai@example.org | tr '}' '\n' | grep -v "\"$KAI\"" | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p' | head -1)
[ -n "$KAI2" ] && ok "renewed: $KAI2" || bad "no new certificate for kai@"
rep=$(last_mail anna@example.org)
qp "$rep" | grep -q "Certificate $KAI2 for kai@example.org renews $KAI, which stays valid" &&
	ok "the report names both serials" || bad "report: $(qp "$rep" | head -20)"
$cg --json cert show "$KAI" | grep -q "\"renewedBy\":\"$KAI2\"" && $cg --json cert show "$KAI" | grep -q '"status":"valid"' &&
	ok "the old certificate records its renewal and stays valid" || bad "old: $($cg --json cert show "$KAI")"
$cg --json cert show "$KAI2" | grep -q '"profile":"organization"' && ok "same profile" || bad "profile of the new one"

# ---- renewal by a signed enrolment naming it (Renew:) ----
csr bob2 bob@example.org
entity "$T/m/bob2.ent" "$(printf 'Renew: %s\r\nValidity: 60' "$BOB")" "$T/k/bob2.der" application/pkcs10 bob2.p10
smail "$T/m/bob2.eml" anna anna@example.org enroll@ca.example.net bob2 "$T/m/bob2.ent"
verdict_of "$(milter_t "$T/m/bob2.eml" anna@example.org enroll@ca.example.net)" | grep -q -E '^(accept|discard)' ||
	bad "the Renew: enrolment refused"
drain
$cg --json cert show "$BOB" | grep -q '"renewedBy":""' && ok "Renew: of a revoked certificate records nothing on it" ||
	bad "revoked bob: $($cg --json cert show "$BOB")"
csr lee2 lee@example.org
entity "$T/m/lee2.ent" "$(printf 'Renew: %s\r\nValidity: 60' "$LEE")" "$T/k/lee2.der" application/pkcs10 lee2.p10
smail "$T/m/lee2.eml" anna anna@example.org enroll@ca.example.net lee2 "$T/m/lee2.ent"
verdict_of "$(milter_t "$T/m/lee2.eml" anna@example.org enroll@ca.example.net)" | grep -q -E '^(accept|discard)' ||
	bad "the Renew: enrolment for lee refused"
drain
LEE2=$($cg --json cert list --mailbox lee@example.org | tr '}' '\n' | grep -v "\"$LEE\"" | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p' | head -1)
$cg --json cert show "$LEE" | grep -q "\"renewedBy\":\"$LEE2\"" && ok "an admin's signed Renew: records the renewal too" ||
	bad "lee after Renew: $($cg --json cert show "$LEE")"
qp "$(last_mail anna@example.org)" | grep -q "Certificate $LEE2 for lee@example.org renews $LEE" &&
	ok "and its report names both serials" || bad "Renew: report: $(qp "$(last_mail anna@example.org)" | grep -i renew)"

# ---- 30 days before: jan reminded, kai (renewed) not ----
drain_later +31d
[ "$(reminders_for "$JAN")" = 2 ] && ok "29 days before: the 30-day reminder" || bad "30d: $(reminders_for "$JAN")"
[ "$(reminders_for "$KAI")" = 1 ] && [ "$(reminders_for "$LEE")" = 1 ] && ok "none more for the renewed certificates" ||
	bad "renewed ones reminded: kai $(reminders_for "$KAI"), lee $(reminders_for "$LEE")"
# The issuer down from 16 to 2 days before: the 15-day and 1-day stages are
# due together; only the 1-day one is mailed.
drain_later +59d
[ "$(reminders_for "$JAN")" = 3 ] && ok "two stages due at once: one mail" || bad "late stages: $(reminders_for "$JAN")"
qp "$(reminder "$JAN")" > "$T/last.txt"
grep -q "in [12] days" "$T/last.txt" && ok "and it is the 1-day one" || bad "last reminder: $(grep -A1 expires "$T/last.txt")"
drain_later +59d
[ "$(reminders_for "$JAN")" = 3 ] && ok "four stages, three mails, none twice" || bad "total: $(reminders_for "$JAN")"
[ -z "$(queued "$JAN")" ] && ok "the last stage ends the chain" || bad "after 1d: $(queued "$JAN")"

# ---- a lapsed domain: the answer is refused, a new challenge goes out once ----
m=$(reminder "$JAN")
csr jan2 jan@example.org
# DomainReuse is 20 days: 25 days on, the validation has lapsed.
lapsed() {
	{
		printf 'From: anna@example.org\r\nTo: challenge@ca.example.net\r\nSubject: Re: %s\r\n' "$(header Subject "$m")"
		printf 'Message-ID: <lapsed.%s.%s@example.org>\r\n' "$1" "$$"
		printf 'MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nNew.\r\n'
		sed 's/$/\r/' "$T/k/jan2.csr"
	} > "$T/m/lapsed$1.eml"
	faketime_clean
	FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		dns_run faketime -f +58d "$CG_BIN/certgate-milter" -c "$T/certgate.conf" -t "$T/m/lapsed$1.eml" \
		--client-ip 127.0.0.1 --helo mail.example.org --mail-from anna@example.org --rcpt challenge@ca.example.net 2>>"$T/milter.err" |
		sed -n 's/^verdict: //p'
}
got=$(lapsed 1)
case $got in "reject 550 5.7.1 certgate: the validation of example.org has expired"*"a new challenge goes to the domain's postmaster"*) ok "lapsed domain: $got" ;; *) bad "lapsed: $got" ;; esac
lapsed 2 > /dev/null
n=$($cg audit show | grep -c " domain.challenge .*renewal waits" || true)
[ "$n" = 1 ] && ok "one new challenge queued for two answers" || bad "re-challenges: $n"

# ---- Request: status ----
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\nRequest: status\r\n' > "$T/m/status.ent"
smail "$T/m/status.eml" anna anna@example.org enroll@ca.example.net "status" "$T/m/status.ent"
got=$(verdict_of "$(milter_t "$T/m/status.eml" anna@example.org enroll@ca.example.net)")
case $got in accept* | discard*) ok "a signed status request: $got" ;; *) bad "status: $got" ;; esac
drain
st=$(last_mail anna@example.org)
grep -q "^Subject: Status of Example Sp. z o.o.: 7 certificates, 1 domains" "$st" && ok "the status mail: 7 certificates, 1 domains" ||
	bad "status mail: $(header Subject "$st")"
$cg --json cert list --org 1 > "$T/certs.json"
out=$(/usr/bin/python3 "$CG_SRC/tests/lib/mail-csv.py" "$st" certificates.csv "$T/certs.json" 2>&1) &&
	ok "certificates.csv equals cert list --json: $out" || bad "status CSV: $out"
/usr/bin/python3 "$CG_SRC/tests/lib/mail-csv.py" "$st" domains.csv | grep -q '^"example.org","validated","' &&
	ok "domains.csv: example.org with its expiry" || bad "domains.csv: $(/usr/bin/python3 "$CG_SRC/tests/lib/mail-csv.py" "$st" domains.csv)"
# Unsigned: held until anna confirms.
printf 'From: anna@example.org\r\nTo: enroll@ca.example.net\r\nSubject: status\r\nMessage-ID: <st2.%s@example.org>\r\n\r\nRequest: status\r\n' "$$" > "$T/m/status2.eml"
got=$(verdict_of "$(milter_t "$T/m/status2.eml" anna@example.org enroll@ca.example.net)")
case $got in accept* | discard*) ok "an unsigned status request: $got" ;; *) bad "status2: $got" ;; esac
drain
cm=$(last_mail anna@example.org)
qp "$cm" | grep -q "a request for the status of its certificates" && ok "held; a confirmation goes to anna" || bad "no confirmation: $(header Subject "$cm")"
got=$(answer anna@example.org "$cm" "$T/m/confirm.eml")
case $got in accept* | discard*) ok "confirmed: $got" ;; *) bad "confirm: $got" ;; esac
drain
grep -q "^Subject: Status of Example" "$(last_mail anna@example.org)" && ok "then the status mail" || bad "no status after confirming"
# A status request with a CSR in it.
csr x1 x1@example.org
entity "$T/m/mixed.ent" "Request: status" "$T/k/x1.der" application/pkcs10 x1.p10
smail "$T/m/mixed.eml" anna anna@example.org enroll@ca.example.net "mixed" "$T/m/mixed.ent"
got=$(verdict_of "$(milter_t "$T/m/mixed.eml" anna@example.org enroll@ca.example.net)")
case $got in "reject 554 5.6.0 certgate: a status request carries no CSR"*) ok "status with a CSR: $got" ;; *) bad "mixed: $got" ;; esac

exit $fail
