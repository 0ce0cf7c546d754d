#!/bin/sh
# submit.sh: the issuer's outbound mail through an SMTP server (SmtpSubmit)
# instead of sendmail: tests/lib/smtpsink.py, whose mind is in a file.
#   - 451 to RCPT TO: the deliver job is deferred, the server's words logged
#   - the server well again, `queue flush`: the mail arrives, envelope
#     MAIL FROM:<BounceAddress> BODY=8BITMIME, RCPT TO:<the mailbox>; its
#     lines end in CRLF and its S/MIME signature verifies (nothing changed
#     on the way: dots, line ends)
#   - 550 to RCPT TO: refused for good, audited as mail.failed, not retried
#   - a mailbox with UTF-8 in it: MAIL FROM ... SMTPUTF8; to a server
#     without SMTPUTF8, refused for good with the reason
#   - no server listening: deferred, not lost
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test submit
ca_dirs
PORT=29300
S="$T/sink"
mkdir -p "$S"
chmod 0777 "$S"
echo temp > "$S/mode"
ca_conf "ExpiryReminders none"
sed -i "s|^Sendmail .*|SmtpSubmit inet:$PORT@127.0.0.1|" "$T/certgate.conf"
ca_example
python3 "$CG_SRC/tests/lib/smtpsink.py" "$PORT" "$S" > "$T/sink.log" 2>&1 &
spid=$!
CA_CLEANUP="kill $spid"
wait_for 10 test -s "$S/ready" || bad "the SMTP sink did not start"
dns_start "$T/dns" 127.0.0.46
ca_issuer || bad "issuer did not start"
issue() { # issue NAME MAILBOX -> serial
	ca_csr "$1"
	$cg cert issue --org 1 --mailbox "$2" --csr "$T/$1.csr" --wait --timeout 30 2>&1 || true
}

# 451: deferred.
sa=$(issue a anna@example.org)
echo "$sa" | grep -qE '^[0-9a-f]{32}$' && ok "issued $sa" || bad "issue: $sa"
deferred() { $cg queue show | grep -q "^deliver  *1  *[0-9-]*T.* $1\$"; }
wait_for 10 deferred "$sa" && ok "deliver job deferred after 451" || bad "not deferred: $($cg queue show)"
logged "SMTP RCPT TO: 451 4.3.0 try again later; retry in 30 s$" &&
	ok "temporary failure logged with the server's words" ||
	bad "log: $(grep -i smtp "$T/issuer.log" | tail -2)"
[ -z "$(ls "$S/out")" ] && ok "nothing taken yet" || bad "taken during 451"

# Well again; the operator flushes.
echo ok > "$S/mode"
$cg queue flush > /dev/null
wait_for 10 test -s "$S/out/0.eml" && ok "delivered after flush" || bad "not delivered after flush"
grep -q "serial $sa" "$S/out/0.eml" && ok "the mail is about $sa" || bad "wrong mail"
[ "$(cat "$S/out/0.env")" = "$(printf 'MAIL FROM:<bounces@ca.example.net> BODY=8BITMIME\nRCPT TO:<anna@example.org>')" ] &&
	ok "envelope: $(tr '\n' ' ' < "$S/out/0.env")" || bad "envelope: $(cat "$S/out/0.env")"
[ "$(grep -c . "$S/out/0.eml")" -eq "$(grep -c "$(printf '\r')\$" "$S/out/0.eml")" ] &&
	ok "every line ends in CRLF" || bad "a line without CRLF"
openssl cms -verify -noverify -in "$S/out/0.eml" -out /dev/null 2> "$T/verify.err" &&
	ok "its signature verifies as received" || bad "signature: $(cat "$T/verify.err")"
wait_for 10 sh -c "$cg audit show | grep -q ' cert.deliver  *$sa '" && ok "cert.deliver audited" ||
	bad "cert.deliver not audited"

# 550: refused for good.
echo perm > "$S/mode"
sb=$(issue b bob@example.org)
wait_for 10 sh -c "$cg audit show | grep -q ' mail.failed  *$sb .*550 5.1.1 no such user$'" &&
	ok "550 audited as mail.failed with the reason" || bad "no mail.failed: $($cg audit show | tail -3)"
[ "$($cg queue show | tail -1)" = "0 jobs" ] && ok "not retried" || bad "queue: $($cg queue show)"

# UTF-8 in the mailbox: SMTPUTF8, or refused for good by a server without it.
echo noutf8 > "$S/mode"
sc=$(issue c "pelé@example.org")
echo "$sc" | grep -qE '^[0-9a-f]{32}$' && ok "issued $sc to pelé@" || bad "issue: $sc"
wait_for 10 sh -c "$cg audit show | grep -q ' mail.failed  *$sc .*does not take SMTPUTF8'" &&
	ok "no SMTPUTF8 at the server: refused for good, reason audited" ||
	bad "no mail.failed: $($cg audit show | tail -3)"
echo ok > "$S/mode"
sd=$(issue d "zoë@example.org")
wait_for 10 test -s "$S/out/1.eml" && ok "zoë@'s mail delivered" || bad "zoë@'s mail not delivered"
grep -q "^MAIL FROM:<bounces@ca.example.net> BODY=8BITMIME SMTPUTF8\$" "$S/out/1.env" &&
	grep -q "^RCPT TO:<zoë@example.org>\$" "$S/out/1.env" && ok "with SMTPUTF8" ||
	bad "envelope: $(cat "$S/out/1.env")"

# Nobody listening: deferred, not lost.
kill "$spid"
wait "$spid" 2>/dev/null || true
CA_CLEANUP=
se=$(issue e eve@example.org)
wait_for 10 deferred "$se" && ok "no server: deferred" || bad "not deferred: $($cg queue show)"
logged "SMTP inet:$PORT@127.0.0.1: .*; retry in 30 s$" && ok "and logged" ||
	bad "log: $(grep -i smtp "$T/issuer.log" | tail -2)"
$cg audit verify > /dev/null && ok "audit chain intact" || bad "audit chain"
[ $fail -ne 0 ] && cat "$T/issuer.log"
exit $fail
