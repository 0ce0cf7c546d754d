#!/bin/sh
# mail_once.sh: a job's mail goes out once even when its transaction is
# undone after the mail went. A certificate is delivered again while another
# process holds a lock on the audit log's head (cg-storetool hold-head): the
# delivery job's batch takes the log's tail, the job sends its
# mail, then waits for the head to record it, loses the wait after the lock
# timeout (10 s), and its transaction is undone.
# When it runs again (the page free), it must not mail the certificate a
# second time.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test mail_once
ca_dirs
ca_conf "LogLevel info" "ExpiryReminders none"
ca_mta
ca_example
dns_start "$T/dns" 127.0.0.39
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=anna" -out "$T/anna.csr" 2>/dev/null
$cg cert issue --org 1 --mailbox anna@example.org --csr "$T/anna.csr" > /dev/null
drain
[ "$(mails_to anna@example.org)" -eq 1 ] && ok "issued and delivered once" ||
	{ bad "deliveries after issuance: $(mails_to anna@example.org)"; exit 1; }
serial=$($cg --json cert list | sed -n 's/.*"serial": *"\([0-9a-f]*\)".*/\1/p' | head -1)
# The issuer runs as a daemon (it opens the store before the head is held);
# the holder then queues the delivery while it holds the head.
dns_spawn "$CG_BIN/certgate-issuer" -f -c "$T/certgate.conf" > "$T/daemon.log" 2>&1
ipid=$!
wait_for 10 grep -q "running: issuing CA key" "$T/daemon.log" || { bad "issuer did not start"; exit 1; }
"$CG_BIN/../tests/cg-storetool" hold-head "$T/db" "$T/evidence" 13000 "$serial" > "$T/hold.out" &
holder=$!
wait_for 10 grep -q holding "$T/hold.out" || { bad "the audit log's head was not held: $(cat "$T/hold.out")"; exit 1; }
wait $holder || true
wait_for 30 sh -c "[ \$($cg audit show | grep -c 'cert.deliver.*$serial') -ge 2 ]" ||
	bad "the second delivery was not recorded"
kill "$ipid"
wait "$ipid" 2> /dev/null || true
grep -q "mail to anna@example.org went out before its transaction was undone; not sent again" \
	"$T/daemon.log" && ok "the delivery's transaction was undone after its mail went" ||
	bad "the delivery did not lose its wait: the test proves nothing ($(tail -3 "$T/daemon.log"))"
[ "$(mails_to anna@example.org)" -eq 2 ] && ok "the second delivery mailed once" ||
	bad "mails to anna@example.org: $(mails_to anna@example.org) (want 2)"
[ "$($cg audit show | grep -c "cert.deliver.*$serial")" -eq 2 ] &&
	ok "each delivery recorded once" || bad "cert.deliver entries: $($cg audit show | grep -c "cert.deliver.*$serial")"
$cg audit verify > /dev/null && ok "audit chain intact" || bad "audit chain"
exit $fail
