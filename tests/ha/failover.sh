#!/bin/sh
# failover.sh (not yet in ctest: see the note of issue 12): requests keep arriving while the master is killed (kill -9)
# again and again. Three electable sites (ReplicationAck quorum: two of three
# hold every acknowledged request). The sender tries the sites in turn, as an
# MTA tries MX hosts, and retries what was deferred. In the end every request
# that was acknowledged is issued exactly once, none twice, no serial twice,
# and every deferred one was taken on a retry.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test failover
CA_CLEANUP=stop_all
N=${CG_FAILOVER_REQUESTS:-120}
KILLS=${CG_FAILOVER_KILLS:-3}
BASE=$((28400 + ($$ % 200) * 3))
SITES="a b c"

start() {
	rm -f "$T/$1.stop"
	(
		while [ ! -f "$T/$1.stop" ]; do
			unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$DNS_DIR/resolv.conf" \
				"$CG_BIN/certgate-issuer" -f -c "$T/$1.conf" >> "$T/$1.log" 2>&1 &
			echo $! > "$T/$1.pid"
			wait $! || true
			sleep 0.5
		done
	) &
	echo $! > "$T/$1.loop"
}
stop() { # stop NAME [SIGNAL]
	[ -f "$T/$1.loop" ] || return 0
	touch "$T/$1.stop"
	kill -"${2:-TERM}" "$(cat "$T/$1.pid")" 2>/dev/null || true
	wait "$(cat "$T/$1.loop")" 2>/dev/null || true
	while kill -0 "$(cat "$T/$1.loop")" 2>/dev/null; do sleep 0.1; done
	rm -f "$T/$1.loop"
}
stop_all() { for s in $SITES; do stop $s; done; [ -z "${killer:-}" ] || kill "$killer" 2>/dev/null || true; }

ca_dirs
ca_conf "LogLevel info" "ExpiryReminders none"
dns_start "$T/dns" 127.0.0.28
$cg ca init > /dev/null
$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL \
	--contact ceo@example.org > /dev/null
$cg domain add example.org --org 1 --validated > /dev/null

site() { # site NAME PORT PRIORITY [LINE...]
	n=$1 port=$2 prio=$3
	shift 3
	mkdir -p "$T/$n/db" "$T/$n/evidence" "$T/$n/crl" "$T/$n/run"
	chown certgate-ca "$T/$n/run" "$T/$n/crl"
	chgrp certgate "$T/$n/db" "$T/$n/evidence"
	chmod 2770 "$T/$n/db" "$T/$n/evidence"
	sed -e "s|^DbHome .*|DbHome $T/$n/db|" -e "s|^EvidenceDir .*|EvidenceDir $T/$n/evidence|" \
		-e "s|^CrlPath .*|CrlPath $T/$n/crl/issuing-ca.crl|" \
		-e "s|^IssuerPidFile .*|IssuerPidFile $T/$n/run/issuer.pid|" "$T/certgate.conf" > "$T/$n.conf"
	{
		echo "ReplicationLocal 127.0.0.1:$port"
		for p in $BASE $((BASE + 1)) $((BASE + 2)); do
			[ "$p" = "$port" ] || echo "ReplicationPeer 127.0.0.1:$p"
		done
		echo "ReplicationPriority $prio"
		for l in "$@"; do echo "$l"; done
	} >> "$T/$n.conf"
}
mkdir -p "$T/a"
mv "$T/db" "$T/evidence" "$T/a/"
site a $BASE 100 "ReplicationCreateGroup yes"
site b $((BASE + 1)) 90
site c $((BASE + 2)) 80

role() { timeout -s KILL 10 "$CG_BIN/certgate" -c "$T/$1.conf" repl status --json 2>/dev/null |
	sed -n 's/^{"role": "\([a-z]*\)".*/\1/p'; }
master() { for s in $SITES; do [ "$(role $s)" = master ] && { echo $s; return; }; done; echo none; }
caught_up() {
	i=0
	until "$CG_BIN/certgate" -c "$T/$1.conf" repl status --json 2>/dev/null | grep -q '"caught_up": true'; do
		[ $i -lt 300 ] || return 1
		sleep 0.2
		i=$((i + 1))
	done
}
for s in $SITES; do start $s; done
i=0
while [ "$(role a)" != master ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
caught_up b && caught_up c && ok "three sites, a the master, b and c caught up" || bad "the group did not form"

n=1
while [ $n -le "$N" ]; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=u$n" -out "$T/u$n.csr" 2>/dev/null
	n=$((n + 1))
done

# The killer: the master's processes, kill -9, at random moments; the site
# comes back a few seconds later (it rejoins as a client).
(
	k=0
	while [ $k -lt "$KILLS" ]; do
		sleep "$(( $(od -An -N1 -tu1 /dev/urandom) % 5 + 3 ))"
		m=$(master)
		[ "$m" != none ] || continue
		stop "$m" KILL
		echo "killed $m" >> "$T/kills"
		sleep 3
		start "$m"
		k=$((k + 1))
	done
) &
killer=$!

# The sender: each request to the sites in turn until one acknowledges it;
# a deferral is retried (a deferred attempt that was kept makes the retry a
# second request for the same key, which the issuer refuses: one
# certificate either way).
: > "$T/acked"
n=1
while [ $n -le "$N" ]; do
	tries=0
	while :; do
		done_=no
		for s in $SITES; do
			# An MTA gives up on a server that does not answer: so does
			# the sender (a command stuck behind a killed process).
			if out=$(timeout -s KILL 30 "$CG_BIN/certgate" -c "$T/$s.conf" cert issue --org 1 --mailbox "user$n@example.org" \
				--csr "$T/u$n.csr" 2>&1); then
				echo "$n" >> "$T/acked"
				done_=yes
				break
			fi
			echo "$n $s $out" >> "$T/deferred"
		done
		[ $done_ = no ] || break
		tries=$((tries + 1))
		[ $tries -lt 200 ] || { bad "request $n was never taken"; break; }
		sleep 0.3
	done
	n=$((n + 1))
done
wait "$killer" 2>/dev/null || true
killer=
ok "$N requests sent: $(grep -c . "$T/acked") acknowledged, $(grep -c . "$T/deferred" 2>/dev/null || echo 0) deferrals; $(grep -c . "$T/kills") kills ($(tr '\n' ' ' < "$T/kills"))"

# Everything settles: all sites up, the master issues the rest.
m=none
i=0
while [ $i -lt 300 ]; do
	m=$(master)
	if [ "$m" != none ] && [ "$("$CG_BIN/certgate" -c "$T/$m.conf" --json cert list | grep -c '"serial"')" -ge "$N" ]; then
		break
	fi
	sleep 0.5
	i=$((i + 1))
done
[ "$m" != none ] && ok "master at the end: $m" || bad "no master at the end"
"$CG_BIN/certgate" -c "$T/$m.conf" --json cert list > "$T/certs"
sed -n 's/.*"mailbox": *"\(user[0-9]*\)@example.org".*/\1/p' "$T/certs" | sort > "$T/mailboxes"
sed -n 's/.*"serial": *"\([0-9a-f]*\)".*/\1/p' "$T/certs" | sort > "$T/serials"
[ "$(uniq -d "$T/mailboxes" | grep -c .)" -eq 0 ] && ok "no request issued twice" ||
	bad "issued twice: $(uniq -d "$T/mailboxes" | tr '\n' ' ')"
[ "$(uniq -d "$T/serials" | grep -c .)" -eq 0 ] && ok "no serial twice" || bad "a serial twice"
missing=0
n=1
while [ $n -le "$N" ]; do
	grep -q -x "user$n" "$T/mailboxes" || { missing=$((missing + 1)); echo "missing user$n" >> "$T/missing"; }
	n=$((n + 1))
done
[ $missing -eq 0 ] && ok "every request issued exactly once ($N)" || bad "$missing requests not issued: $(head -5 "$T/missing" | tr '\n' ' ')"
"$CG_BIN/certgate" -c "$T/$m.conf" audit verify > /dev/null 2>&1 && ok "the master's audit chain verifies" || bad "audit verify on $m"
exit $fail
