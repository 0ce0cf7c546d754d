#!/bin/sh
# mail_aside.sh: a batch's mail goes to sendmail(1) beside it, several at
# once, and the batch commits only once every one of them went. Against a
# test MTA that takes its time, counts how many of it run at once, and
# fails for the recipients it is told to:
#   - nine certificates' deliveries: each mailed once, more than one MTA
#     at a time, and two to one mailbox in the order they were sent;
#   - eight more, one of whose MTA says try later (exit 75): the batch runs
#     again, each mail in line; the seven that went are not sent again, the
#     eighth is deferred, and mailed once after a flush;
#   - eight more, one refused for good (exit 67): the seven mailed once, the
#     refusal recorded as mail.failed, not retried.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test mail_aside
ca_dirs
ca_conf "LogLevel debug" "ExpiryReminders none"
ca_example
ca_mta
touch "$T/mta-slow"
dns_start "$T/dns" 127.0.0.56

# queue FROM TO: one certificate for each of mFROM..mTO@example.org.
queue() {
	for i in $(seq "$1" "$2"); do
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
			-subj "/CN=m$i" -out "$T/m$i.csr" 2>/dev/null
		$cg cert issue --org 1 --mailbox "m$i@example.org" --csr "$T/m$i.csr" | grep -q queued ||
			bad "m$i: not queued"
	done
}
# once FROM TO: each of mFROM..mTO@example.org was mailed exactly once (else
# $wrong says who was mailed how often).
once() {
	wrong=
	for i in $(seq "$1" "$2"); do
		[ "$(mails_to "m$i@example.org")" -eq 1 ] || wrong="$wrong m$i:$(mails_to "m$i@example.org")"
	done
	[ -z "$wrong" ]
}

queue 1 8
# A second certificate for m8: its two mails reach the MTA in the order
# they were sent.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=m8b" -out "$T/m8b.csr" 2>/dev/null
$cg cert issue --org 1 --mailbox m8@example.org --csr "$T/m8b.csr" | grep -q queued || bad "m8b: not queued"
drain
once 1 7 && ok "m1 to m7 mailed once each" || bad "mailed:$wrong"
[ "$(cat "$T/out/.most")" -gt 1 ] && ok "$(cat "$T/out/.most") MTAs ran at once" ||
	bad "one MTA at a time"
issued=$($cg audit show | sed -n 's/.* cert\.issue  *\([0-9a-f]\{32\}\) .*for m8@example\.org.*/\1/p' | tr '\n' ' ')
mailed=$(grep -l -- "-- m8@example.org\$" "$T/out/"*.argv | sed 's|.*/||; s|\.argv$||' | sort -n |
	while read -r i; do grep -o "serial [0-9a-f]\{32\}" "$T/out/$i.eml" | head -1 | cut -c8-; done | tr '\n' ' ')
[ -n "$mailed" ] && [ "$mailed" = "$issued" ] && ok "m8's two mails in the order sent: $mailed" ||
	bad "m8: issued $issued, mailed $mailed"

# One MTA says try later: nothing of the batch commits, it runs again in
# line, and what went is not sent again.
echo m12@example.org > "$T/mta-temp"
queue 9 16
drain
grep -q "m12@example.org>: try again later; the batch of [0-9]* jobs runs again, each mail in line" "$T/issuer.log" &&
	ok "a mail that did not go: the batch runs again, each mail in line" ||
	bad "no run in line: $(grep "runs again" "$T/issuer.log" | tail -2)"
once 9 11 && once 13 16 && ok "the seven that went mailed once, not again in the run in line" ||
	bad "mailed:$wrong"
[ "$(mails_to m12@example.org)" -eq 0 ] && ok "m12 not mailed" || bad "m12 mailed"
$cg queue show | grep -q "^deliver  *1 " && ok "m12's delivery deferred" ||
	bad "not deferred: $($cg queue show)"
: > "$T/mta-temp"
$cg queue flush > /dev/null
drain
once 9 16 && ok "after the flush, m12 mailed once, the others not again" || bad "mailed:$wrong"

# One refused for good.
echo m20@example.org > "$T/mta-refuse"
queue 17 24
drain
once 17 19 && once 21 24 && ok "the seven that went mailed once" || bad "mailed:$wrong"
$cg audit show | grep "mail.failed" | grep -q "m20@example.org" &&
	ok "m20's refusal recorded as mail.failed" || bad "no mail.failed for m20"
[ -z "$($cg queue show | grep "^deliver")" ] && ok "nothing left to retry" ||
	bad "queue: $($cg queue show)"
[ "$(cat "$T/out/.now")" -eq 0 ] && ok "every MTA waited for" || bad "MTAs running: $(cat "$T/out/.now")"
$cg db check > /dev/null && ok "db check" || bad "db check: $($cg db check 2>&1 | tail -2)"
exit $fail
