#!/bin/sh
# pair.sh: two CA hosts through the real Postfix (scripts/sandbox pair, a
# sandbox of its own). An admin's signed enrolments reach the master through
# the organisation's MTA; the second host (a replication client) holds the
# same certificates, and its Postfix defers gateway mail (451 4.3.2). With
# the master's milter down, the organisation's MTA tries the second host as
# its fallback relay, is deferred there too, and keeps the mail: once the
# master is back every request is issued exactly once, on both hosts.
set -eu
export CG_SANDBOX="$CG_TEST_TMP/sandbox-pair" CG_SANDBOX_INDEX=4 CG_BUILD="$CG_BIN/.."
SB="$CG_SRC/scripts/sandbox"
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
cleanup() {
	"$SB" stop > /dev/null 2>&1 || fail=1
	[ -n "${CG_KEEP:-}" ] || rm -rf "$CG_SANDBOX"
}
trap cleanup EXIT
"$SB" start --fresh > /dev/null
"$SB" pair start
eval "$("$SB" env)"
. "$CG_SRC/tests/lib/pki.sh"
T="$CG_SANDBOX/test"
mkdir -p "$T"
cg() { "$CG_BIN/certgate" -c "$CG_CONF" "$@"; }
cg2() { "$CG_BIN/certgate" -c "$CG_CONF2" "$@"; }
mailboxes() { "$CG_BIN/certgate" -c "$1" --json cert list | sed -n 's/.*"mailbox": *"\([^"]*\)".*/\1/p' | sort; }

org=$(cg --json org add --name "Pair Sp. z o.o." --registration NTRPL-0000777777 --country PL \
	--contact boss@example.de | sed 's/.*"id":"\([0-9]*\)".*/\1/')
cg domain add example.de --org "$org" --validated > /dev/null
cg admin add kasia@example.de --org "$org" > /dev/null
pki_leaf "$CG_SANDBOX/pki/letter-ca" "$T/kasia" kasia@example.de ec

# enrol N: a signed enrolment of one CSR for pN@example.de, sent through the
# organisation's MTA; prints swaks's last answer
enrol() {
	pki_enrolment "$T/kasia" "p$1" "$T"
	swaks --server 127.0.0.1 --port "$CG_ORG_PORT" --from kasia@example.de --to enroll@ca.example.net \
		--data "@$T/p$1.eml" --timeout 30 2>&1 | grep '^<-  ' | tail -2 | head -1
}
wait_issued() { # wait_issued CONF COUNT SECONDS
	i=0
	while [ "$(mailboxes "$1" | grep -c .)" -lt "$2" ] && [ $i -lt $(($3 * 5)) ]; do sleep 0.2; i=$((i + 1)); done
	[ "$(mailboxes "$1" | grep -c .)" -ge "$2" ]
}

# 1. through the master: issued, and the same on ca2
N=12
n=1
sent=0
while [ $n -le $N ]; do
	enrol $n | grep -q '^<-  250 ' && sent=$((sent + 1))
	n=$((n + 1))
done
[ $sent -eq $N ] && ok "$N signed enrolments taken by the organisation's MTA" || bad "only $sent of $N sent"
wait_issued "$CG_CONF" $N 90 && ok "the master issued $N" || bad "the master issued $(mailboxes "$CG_CONF" | grep -c .)"
i=0
while [ "$(mailboxes "$CG_CONF2")" != "$(mailboxes "$CG_CONF")" ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
[ "$(mailboxes "$CG_CONF2")" = "$(mailboxes "$CG_CONF")" ] && ok "ca2 holds the same certificates" ||
	bad "ca2 differs: $(mailboxes "$CG_CONF2" | grep -c .) against $(mailboxes "$CG_CONF" | grep -c .)"
cg2 audit verify > /dev/null 2>&1 && ok "audit verify passes on ca2" || bad "audit verify on ca2"

# 2. ca2, a client, defers gateway mail at RCPT
out=$(swaks --server 127.0.0.1 --port "$CG_CA2_PORT" --from kasia@example.de --to enroll@ca.example.net \
	--data "@$T/p1.eml" --quit-after RCPT 2>&1 | grep '^<\*\* ' || true)
echo "$out" | grep -q "451 4.3.2 certgate: this host is not the CA's master now" &&
	ok "ca2's Postfix defers gateway mail: ${out#<** }" || bad "ca2 answered: $out"

# 3. the master's milter down: its Postfix defers everything (tempfail), the
# organisation's MTA falls back to ca2, which defers too; the mail waits
"$SB" milter stop
M=4
while [ $n -le $((N + M)) ]; do
	enrol $n > /dev/null
	n=$((n + 1))
done
i=0
while [ "$(grep -c "451 4.3.2 certgate: this host is not the CA's master now" "$CG_LOGS/postfix-org.log" 2>/dev/null || true)" -lt 1 ] &&
	[ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
grep -q "451 4.3.2 certgate: this host is not the CA's master now" "$CG_LOGS/postfix-org.log" &&
	ok "the organisation's MTA tried ca2 as its fallback and was deferred" ||
	bad "no deferral from ca2 in the organisation's MTA log"
[ "$(mailboxes "$CG_CONF" | grep -c .)" -eq $N ] && ok "nothing issued while the master's milter is down" ||
	bad "issued while down: $(mailboxes "$CG_CONF" | grep -c .)"
"$SB" milter start
"$SB" flush > /dev/null 2>&1 || true
wait_issued "$CG_CONF" $((N + M)) 120 && ok "the master back: the waiting mail was taken and issued" ||
	bad "after the master came back: $(mailboxes "$CG_CONF" | grep -c .) of $((N + M))"
mailboxes "$CG_CONF" > "$T/final"
[ -z "$(uniq -d "$T/final")" ] && ok "no request issued twice" || bad "issued twice: $(uniq -d "$T/final" | tr '\n' ' ')"
i=0
while [ "$(mailboxes "$CG_CONF2")" != "$(cat "$T/final")" ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
[ "$(mailboxes "$CG_CONF2")" = "$(cat "$T/final")" ] && ok "ca2 again holds the same certificates ($((N + M)))" ||
	bad "ca2 differs at the end"
exit $fail
