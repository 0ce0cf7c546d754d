#!/bin/sh
# mx_failover.sh: failover under load through the real Postfix. Two CA hosts
# and a tie-breaker (scripts/sandbox pair start --witness, a sandbox of its
# own); the organisation's MTA relays to the first host with the second as
# its fallback (an MX of lower preference) and retries what is deferred.
# Signed enrolments stream in while every certgate process of whichever host
# is the master is killed (kill -9) at random moments, several times, and
# started again a few seconds later. In the end the organisation's queue is
# empty, every request was issued exactly once (by mailbox, and no key
# twice), no serial twice, and every host holds the same certificates.
#   CG_MX_REQUESTS (default 120), CG_MX_KILLS (default 3)
set -eu
export CG_SANDBOX="$CG_TEST_TMP/sandbox-mx" CG_SANDBOX_INDEX="${CG_MX_INDEX:-5}" CG_BUILD="$CG_BIN/.."
SB="$CG_SRC/scripts/sandbox"
N=${CG_MX_REQUESTS:-120}
KILLS=${CG_MX_KILLS:-3}
fail=0
killer=
keeper=
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
# The helper loops end at their next turn when $CG_SANDBOX/halt exists, and
# cleanup waits for them: a loop killed mid-turn left its `host start`
# running, which started a daemon after `stop` (a stray issuer then held this
# sandbox's replication port when the next build's run started).
cleanup() {
	touch "$CG_SANDBOX/halt" 2>/dev/null || true
	for p in $killer $keeper; do wait "$p" 2>/dev/null || true; done
	"$SB" stop > /dev/null 2>&1 || fail=1
	[ -n "${CG_KEEP:-}" ] || rm -rf "$CG_SANDBOX"
}
trap cleanup EXIT
"$SB" start --fresh > /dev/null
"$SB" pair start --witness
eval "$("$SB" env)"
. "$CG_SRC/tests/lib/pki.sh"
T="$CG_SANDBOX/test"
mkdir -p "$T"
CONF3="$CG_SANDBOX/ca3/certgate.conf"
cg() { "$CG_BIN/certgate" -c "$CG_CONF" "$@"; }
list() { timeout -s KILL 60 "$CG_BIN/certgate" -c "$1" --json cert list 2>/dev/null || true; }
mailboxes() { list "$1" | sed -n 's/.*"mailbox": *"\([^"]*\)".*/\1/p' | sort; }
role() {
	timeout -s KILL 60 "$CG_BIN/certgate" -c "$1" repl status --json 2>/dev/null |
		sed -n 's/^{"role": "\([a-z]*\)".*/\1/p'
}
master() {
	if [ "$(role "$CG_CONF")" = master ]; then echo ca
	elif [ "$(role "$CG_CONF2")" = master ]; then echo ca2
	else echo none; fi
}
conf_of() { if [ "$1" = ca ]; then echo "$CG_CONF"; else echo "$CG_CONF2"; fi; }

org=$(cg --json org add --name "Failover Sp. z o.o." --registration NTRPL-0000666666 --country PL \
	--contact boss@example.de | sed 's/.*"id":"\([0-9]*\)".*/\1/')
cg domain add example.de --org "$org" --validated > /dev/null
cg admin add kasia@example.de --org "$org" > /dev/null
pki_leaf "$CG_SANDBOX/pki/letter-ca" "$T/kasia" kasia@example.de ec
i=0
while [ "$(role "$CONF3")" != client ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
[ "$(master)" = ca ] && [ "$(role "$CONF3")" = client ] &&
	ok "ca the master, ca2 and the tie-breaker ca3 its clients" || bad "the group: ca $(role "$CG_CONF"), ca2 $(role "$CG_CONF2"), ca3 $(role "$CONF3")"

# The enrolments, made before the stream starts: one CSR each.
n=1
while [ $n -le "$N" ]; do
	pki_enrolment "$T/kasia" "f$n" "$T"
	n=$((n + 1))
done

# The service manager (systemd's Restart=on-failure): a daemon that exits
# (a milter stops when its environment needs recovery or replication rolled
# back its handles; the next start recovers) is started again.
(
	while [ ! -e "$CG_SANDBOX/halt" ]; do
		sleep 3
		[ ! -e "$CG_SANDBOX/halt" ] || break
		for h in ca ca2 ca3; do "$SB" host $h start > /dev/null 2>&1 || true; done
	done
) &
keeper=$!

# The killer: the master host's certgate processes, kill -9, at random
# moments; the service manager starts them again (the host rejoins as a
# client).
(
	k=0
	while [ $k -lt "$KILLS" ] && [ ! -e "$CG_SANDBOX/halt" ]; do
		sleep "$(($(od -An -N1 -tu1 /dev/urandom) % 6 + 4))"
		m=$(master)
		[ "$m" != none ] || continue
		"$SB" host "$m" kill
		echo "$m $(date +%T)" >> "$T/kills"
		sleep 4 # the service manager starts it again meanwhile
		k=$((k + 1))
	done
) &
killer=$!

# The stream: every enrolment handed to the organisation's MTA, a few a
# second, as users send them.
n=1
sent=0
while [ $n -le "$N" ]; do
	swaks --server 127.0.0.1 --port "$CG_ORG_PORT" --from kasia@example.de --to enroll@ca.example.net \
		--data "@$T/f$n.eml" --timeout 30 2>&1 | grep -q '^<-  250 .*queued' && sent=$((sent + 1))
	sleep 0.1
	n=$((n + 1))
done
wait "$killer" || true
killer=
[ $sent -eq "$N" ] && ok "$N enrolments queued by the organisation's MTA; kills: $(tr '\n' ',' < "$T/kills")" ||
	bad "only $sent of $N queued"

# Settle: every host up again (the service manager); the organisation's MTA
# retries until its queue is empty and the master has issued everything.
# Each deferred message meets the former master (a client now, 451) before
# the fallback: the wait grows with the stream.
i=0
m=none
while [ $i -lt $((80 + N / 4)) ]; do
	"$SB" flush > /dev/null 2>&1 || true
	sleep 5
	m=$(master)
	if [ "$m" != none ] && "$SB" exec postqueue -c "$CG_SANDBOX/postfix-org/etc" -p 2>/dev/null | grep -q "Mail queue is empty" &&
		[ "$(mailboxes "$(conf_of "$m")" | grep -c 'f[0-9]*@example.de')" -ge "$N" ]; then
		break
	fi
	i=$((i + 1))
done
[ "$m" != none ] && ok "master at the end: $m" || bad "no master at the end"
"$SB" exec postqueue -c "$CG_SANDBOX/postfix-org/etc" -p 2>/dev/null | grep -q "Mail queue is empty" &&
	ok "the organisation's queue is empty: every enrolment was accepted" ||
	bad "mail still queued at the organisation: $("$SB" exec postqueue -c "$CG_SANDBOX/postfix-org/etc" -p | tail -1)"
M=$(conf_of "$m")
list "$M" > "$T/certs"
sed -n 's/.*"mailbox": *"\(f[0-9]*@example.de\)".*/\1/p' "$T/certs" | sort > "$T/mailboxes"
sed -n 's/.*"serial": *"\([0-9a-f]*\)".*/\1/p' "$T/certs" | sort > "$T/serials"
[ -z "$(uniq -d "$T/mailboxes")" ] && ok "no request issued twice" || bad "issued twice: $(uniq -d "$T/mailboxes" | tr '\n' ' ')"
[ -z "$(uniq -d "$T/serials")" ] && ok "no serial twice" || bad "a serial twice"
missing=0
n=1
while [ $n -le "$N" ]; do
	grep -q -x "f$n@example.de" "$T/mailboxes" || { missing=$((missing + 1)); echo "f$n" >> "$T/missing"; }
	n=$((n + 1))
done
[ $missing -eq 0 ] && ok "every request issued exactly once ($N)" || bad "$missing not issued: $(head -5 "$T/missing" | tr '\n' ' ')"
# no key twice: the issued certificates' public keys are all different
for s in $(cat "$T/serials"); do
	"$CG_BIN/certgate" -c "$M" cert show "$s" --pem 2>/dev/null | openssl x509 -noout -pubkey 2>/dev/null |
		sha256sum | cut -d' ' -f1
done | sort > "$T/keys"
[ -z "$(uniq -d "$T/keys")" ] && [ "$(grep -c . "$T/keys")" -eq "$(grep -c . "$T/serials")" ] &&
	ok "no public key certified twice" || bad "a key twice (or unreadable)"
for c in "$CG_CONF" "$CG_CONF2" "$CONF3"; do
	i=0
	while [ "$(mailboxes "$c")" != "$(mailboxes "$M")" ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
done
[ "$(mailboxes "$CG_CONF")" = "$(mailboxes "$CG_CONF2")" ] && [ "$(mailboxes "$CONF3")" = "$(mailboxes "$M")" ] &&
	ok "ca, ca2 and ca3 hold the same certificates" || bad "the hosts differ"
"$CG_BIN/certgate" -c "$M" audit verify > /dev/null 2>&1 && ok "the master's audit chain verifies" || bad "audit verify on $m"
# Every enrolment's report reaches the admin (at least once: a failover
# may send one twice), from whichever host issued it.
reports() {
	grep -l '^Subject: Enrolment R[0-9]*: 1 issued' "$CG_MAILDIRS/example.de/kasia/new/"* 2>/dev/null |
		xargs -r grep -h '^Subject: ' | sort -u | grep -c . || true
}
i=0
while [ "$(reports)" -lt "$N" ] && [ $i -lt 60 ]; do
	"$SB" flush > /dev/null 2>&1 || true
	sleep 2
	i=$((i + 1))
done
[ "$(reports)" -ge "$N" ] && ok "the admin has a report for every enrolment ($(reports))" ||
	bad "reports for $(reports) of $N enrolments"
exit $fail
