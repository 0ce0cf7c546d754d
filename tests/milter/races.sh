#!/bin/sh
# races.sh: certgate-milter as a daemon on its socket, 20 MTA sessions at once
# (miltertest, race.lua) racing for one thing, and two issuers draining one
# environment together. Each race must have exactly one winner:
#   1. one challenge token answered by 20 replies at once (distinct messages);
#   2. one signed letter in 20 envelopes at once;
#   3. one key for one mailbox in 20 signed enrolments at once, issued by two
#      issuers at once: one certificate, 19 items refused.
set -eu
. "$CG_SRC/tests/lib/pki.sh"
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
. "$CG_SRC/tests/lib/mail.sh"
N=${CG_RACE_SESSIONS:-20}
mpid=
stop_milter() {
	[ -n "$mpid" ] || return 0
	kill -TERM "$mpid" 2>/dev/null || true
	i=0
	while kill -0 "$mpid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	mpid=
}
CA_CLEANUP=stop_milter
ca_test races
ca_dirs
mkdir -p "$T/m" "$T/tmp" "$T/mrun"
chown certgate "$T/tmp" "$T/mrun"
pki_ca "$T/ca" "Mail CA"
pki_leaf "$T/ca" "$T/anna" anna@example.org ec
pki_leaf "$T/ca" "$T/ceo" ceo@example.org ec
ca_conf "AdminTrustAnchors $T/ca/cert.pem" "LetterTrustAnchors $T/ca/cert.pem" "LogLevel info" \
	"TempDir $T/tmp" "Socket unix:$T/mrun/milter.sock" "PidFile $T/mrun/milter.pid"
ca_mta
$cg ca init > /dev/null
$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL --contact ceo@example.org > /dev/null
$cg domain add example.org --org 1 > /dev/null
$cg admin add anna@example.org --org 1 > /dev/null
dns_start "$T/dns" 127.0.0.19
dns_spawn "$CG_BIN/certgate-milter" -f -c "$T/certgate.conf" > "$T/milter.log" 2>&1
mpid=$!
i=0
while [ ! -S "$T/mrun/milter.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$T/mrun/milter.sock" ] || { bad "the milter did not start: $(cat "$T/milter.log")"; exit 1; }

# race NAME FROM RCPT FILE...: one session per file, all at once; the
# outcomes, one per line, in $T/NAME.out
race() {
	name=$1 from=$2 rcpt=$3
	shift 3
	rm -f "$T/$name".*.o
	k=0 pids=
	for f in "$@"; do
		k=$((k + 1))
		CG_MSG=$f CG_FROM=$from CG_RCPT=$rcpt CG_IP=127.0.0.1 CG_MILTER_SOCKET="$T/mrun/milter.sock" \
			miltertest -s "$CG_SRC/tests/milter/race.lua" > "$T/$name.$k.o" 2>&1 &
		pids="$pids $!"
	done
	# shellcheck disable=SC2086
	wait $pids
	cat "$T/$name".*.o | sed -n 's/^outcome: //p' > "$T/$name.out"
	[ "$(wc -l < "$T/$name.out")" -eq $# ] || bad "$name: $(cat "$T/$name".*.o)"
}
count() { grep -c -x -E "$2" "$T/$1.out" || true; }
# logged KIND REPLY: the milter's verdict lines so far for KIND with REPLY
logged() { grep -c "kind=$1 verdict=reject reply=\"$2\"" "$T/milter.log" || true; }

# 1. One token, N replies at once.
drain
tok=$(sed -n 's/^Subject: ACME: //p' "$(last_mail postmaster@example.org)" | tr -d '\r')
set --
for k in $(seq 1 "$N"); do
	printf 'From: postmaster@example.org\nTo: challenge@ca.example.net\nSubject: Re: ACME: %s\nMessage-ID: <race%s@example.org>\n\nYes.\n' \
		"$tok" "$k" > "$T/m/tok$k.eml"
	set -- "$@" "$T/m/tok$k.eml"
done
race token postmaster@example.org challenge@ca.example.net "$@"
won=$(count token 'accept|discard')
[ "$won" -eq 1 ] && [ "$(count token reply)" -eq $((N - 1)) ] && [ "$(logged challenge '550 5.7.1')" -eq $((N - 1)) ] &&
	ok "one token, $N replies at once: 1 accepted, $((N - 1)) refused" || bad "token race: $(sort "$T/token.out" | uniq -c | tr '\n' ' ')"
[ "$($cg audit show | grep -c ' domain.validate ')" -eq 1 ] && ok "the domain validated once" || bad "validated $($cg audit show | grep -c ' domain.validate ') times"

# 2. One signed letter in N envelopes at once.
printf 'Content-Type: text/plain\r\n\r\nRequest: add-admin\r\nAdmin: jan@example.org; IT\r\n' > "$T/m/letter.ent"
smail "$T/m/letter.eml" ceo ceo@example.org request@ca.example.net "add jan" "$T/m/letter.ent"
pki_lf "$T/m/letter.eml"
set --
for k in $(seq 1 "$N"); do
	sed "s/^Message-ID: <.*>/Message-ID: <letter$k@example.org>/" "$T/m/letter.eml" > "$T/m/letter$k.eml"
	set -- "$@" "$T/m/letter$k.eml"
done
race letter ceo@example.org request@ca.example.net "$@"
[ "$(count letter 'accept|discard')" -eq 1 ] && [ "$(count letter reply)" -eq $((N - 1)) ] &&
	[ "$(logged letter '550 5.7.1')" -eq $((N - 1)) ] && grep -q 'this signed letter was accepted before' "$T/milter.log" &&
	ok "one letter, $N envelopes at once: 1 applied, $((N - 1)) refused as replays" || bad "letter race: $(sort "$T/letter.out" | uniq -c | tr '\n' ' ')"
[ "$($cg audit show | grep -c ' org.change ')" -eq 1 ] && ok "the letter applied once" || bad "applied $($cg audit show | grep -c ' org.change ') times"

# 3. One key for one mailbox in N signed enrolments (each its own text) at
# once; two issuers drain them at once.
csr key jan@example.org
set --
for k in $(seq 1 "$N"); do
	entity "$T/m/enr$k.ent" "Request number $k." "$T/k/key.der" application/pkcs10 key.p10
	smail "$T/m/enr$k.eml" anna anna@example.org enroll@ca.example.net "enrol $k" "$T/m/enr$k.ent"
	pki_lf "$T/m/enr$k.eml"
	set -- "$@" "$T/m/enr$k.eml"
done
race key anna@example.org enroll@ca.example.net "$@"
[ "$(count key 'accept|discard')" -eq "$N" ] && ok "$N enrolments of one key taken" || bad "key race intake: $(sort "$T/key.out" | uniq -c | tr '\n' ' ')"
drain & d1=$!
drain & d2=$!
wait "$d1" "$d2"
drain
n=$($cg --json cert list --mailbox jan@example.org | grep -c '"serial"' || true)
[ "$n" -eq 1 ] && ok "two issuers at once: one certificate for the key" || bad "$n certificates for one key"
[ "$($cg audit show | grep -c ' cert.refuse .*certified for this mailbox before')" -eq $((N - 1)) ] &&
	ok "$((N - 1)) items refused: the key was certified for this mailbox" || bad "refusals: $($cg audit show | grep -c ' cert.refuse ')"
$cg db check > /dev/null && $cg audit verify > /dev/null && ok "database consistent, audit chain intact" || bad "db check"

# 4. A stop (SIGTERM) while a message is inside a callback: libmilter's
# main loop returns at once and leaves the sessions running. The letter's
# transaction waits for the audit log's head, which another process holds
# until the milter has begun to stop; the milter must let it finish (its
# reply reaches the MTA, its effects are committed) before it closes the
# database and exits, and defer what comes after.
printf 'Content-Type: text/plain\r\n\r\nRequest: add-admin\r\nAdmin: ola@example.org; HR\r\n' > "$T/m/stop.ent"
smail "$T/m/stop.eml" ceo ceo@example.org request@ca.example.net "add ola" "$T/m/stop.ent"
pki_lf "$T/m/stop.eml"
"$CG_BIN/../tests/cg-storetool" hold-head "$T/db" "$T/evidence" "$T/release" > "$T/hold.out" 2>&1 &
hpid=$!
i=0
while ! grep -q holding "$T/hold.out" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
CG_MSG="$T/m/stop.eml" CG_FROM=ceo@example.org CG_RCPT=request@ca.example.net CG_IP=127.0.0.1 \
	CG_MILTER_SOCKET="$T/mrun/milter.sock" miltertest -s "$CG_SRC/tests/milter/race.lua" > "$T/stop.o" 2>&1 &
spid=$!
# And a session open, between messages, when the milter stops.
CG_GO="$T/go" CG_FROM=jan@example.org CG_RCPT=anna@example.org \
	CG_MILTER_SOCKET="$T/mrun/milter.sock" miltertest -s "$CG_SRC/tests/milter/stop_later.lua" > "$T/later.o" 2>&1 &
lpid=$!
i=0
while ! grep -q connected "$T/later.o" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 1.5
kill -TERM "$mpid"
i=0
while ! grep -q "certgate-milter stopping: 1 messages at work" "$T/milter.log" && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
touch "$T/go"
sleep 0.5
touch "$T/release"
wait "$hpid" || true
wait "$spid" || true
grep -q '^outcome: discard$' "$T/stop.o" && ok "a stop waits for the message inside a callback: its reply sent" ||
	bad "the message inside a callback at the stop: $(tr '\n' ' ' < "$T/stop.o") $(grep stopping "$T/milter.log")"
[ "$($cg audit show | grep -c ' org.change ')" -eq 2 ] && $cg admin list --org 1 | grep -q ola@example.org &&
	ok "and its effects committed" || bad "the letter at the stop: $($cg audit show | grep -c ' org.change ') changes; $($cg admin list --org 1 | tr '\n' ' ')"
st=0
wait "$mpid" || st=$?
mpid=
[ "$st" -eq 0 ] && ok "the milter exited 0 after it" || bad "the milter exited $st: $(tail -5 "$T/milter.log")"
# The session open at the stop is served no more: its next message is
# deferred (a libmilter with a thread a session reads it), or left unread
# until the milter exits (Debian's, whose pool stops reading at the stop),
# which the MTA takes as a temporary failure.
wait "$lpid" || true
grep -q -E '^outcome: deferred 451$|read\([0-9]+\): returned (0|-1)' "$T/later.o" &&
	ok "a message begun after the stop is not taken" || bad "a message after the stop: $(tr '\n' ' ' < "$T/later.o")"
$cg db check > /dev/null && ok "the database closed cleanly" || bad "db check after the stop"
exit $fail
