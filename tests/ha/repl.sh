#!/bin/sh
# repl.sh: three replication sites on loopback (a and b electable, c a
# tie-breaker of priority 0), each its own DbHome and daemons, replicating
# over TCP with Berkeley DB's Replication Manager.
#   1. completeness: requests taken and issued on the master are on the client,
#      whose db check, audit verify and certificate list equal the master's
#   2. roles: the client refuses gateway mail (451 4.3.2) and CLI changes; it
#      passes other mail
#   3. acks: with every replica down a commit is not acknowledged (deferred,
#      and a retry of the same message finds it taken); ReplicationAck all
#      with one replica down defers, quorum does not
#   4. failover: the master killed (kill -9), b is elected, takes requests and
#      issues them; a restarts and catches up as a client, no serial twice
#   5. a lone site never makes itself master
#   6. bad peers: an unreachable one named in the log, a site of another CA
#      naming ours refused without any records changing
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test repl
CA_CLEANUP=stop_all
# start NAME: the site's issuer (its replication process), restarted when it
# exits as a service manager restarts it (it stops when replication rolls
# back what it had open, so that a restart reopens it).
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
	eval "pid_$1=$!"
}
stop() { # stop NAME [SIGNAL]
	eval "p=\${pid_$1:-}"
	[ -n "$p" ] || return 0
	touch "$T/$1.stop"
	kill -"${2:-TERM}" "$(cat "$T/$1.pid")" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	eval "pid_$1="
}
stop_all() { stop a; stop b; stop c; stop x; }
BASE=$((27100 + ($$ % 400) * 3))
ca_dirs
ca_conf "LogLevel info" "ExpiryReminders none"
dns_start "$T/dns" 127.0.0.26
$cg ca init > /dev/null
$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL \
	--contact ceo@example.org > /dev/null
$cg domain add example.org --org 1 --validated > /dev/null
$cg admin add admin@example.org --org 1 > /dev/null

# site NAME PORT PRIORITY [LINE...]: T/NAME with its configuration
site() {
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
		for p in $((BASE)) $((BASE + 1)) $((BASE + 2)); do
			[ "$p" = "$port" ] || echo "ReplicationPeer 127.0.0.1:$p"
		done
		echo "ReplicationPriority $prio"
		echo "ReplicationAckTimeout 1s"
		for l in "$@"; do echo "$l"; done
	} >> "$T/$n.conf"
}
# Site a holds the CA's database (made above, as one host): it starts the group.
mkdir -p "$T/a"
mv "$T/db" "$T/evidence" "$T/a/"
site a $BASE 100 "ReplicationCreateGroup yes"
site b $((BASE + 1)) 50
site c $((BASE + 2)) 0
ca() { "$CG_BIN/certgate" -c "$T/$1.conf" "$@"; }
cga() { "$CG_BIN/certgate" -c "$T/a.conf" "$@"; }
cgb() { "$CG_BIN/certgate" -c "$T/b.conf" "$@"; }

role() { "$CG_BIN/certgate" -c "$T/$1.conf" repl status --json 2>/dev/null |
	sed -n 's/^{"role": "\([a-z]*\)".*/\1/p'; }
wait_role() { # wait_role NAME ROLE SECONDS
	i=0
	while [ "$(role "$1")" != "$2" ] && [ $i -lt $(($3 * 5)) ]; do sleep 0.2; i=$((i + 1)); done
	[ "$(role "$1")" = "$2" ]
}
serials() { "$CG_BIN/certgate" -c "$T/$1.conf" --json cert list | sed -n 's/.*"serial": *"\([0-9a-f]*\)".*/\1/p' | sort; }
csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=$1" -out "$T/$1.csr" 2>/dev/null
}
issue() { # issue SITE N: a request for a new key, through the CLI
	csr "u$2"
	"$CG_BIN/certgate" -c "$T/$1.conf" cert issue --org 1 --mailbox "user$2@example.org" \
		--csr "$T/u$2.csr"
}
wait_issued() { # wait_issued SITE COUNT
	i=0
	while [ "$(serials "$1" | grep -c .)" -lt "$2" ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i + 1)); done
	[ "$(serials "$1" | grep -c .)" -ge "$2" ]
}

start a
start b
start c
wait_role a master 30 && ok "a (the group's creator) is the master" || bad "a is $(role a)"
wait_role b client 30 && ok "b is a client" || bad "b is $(role b)"
caught_up() { # caught_up NAME SECONDS
	i=0
	until "$CG_BIN/certgate" -c "$T/$1.conf" repl status --json 2>/dev/null | grep -q '"caught_up": true'; do
		[ $i -lt $(($2 * 5)) ] || return 1
		sleep 0.2
		i=$((i + 1))
	done
}
caught_up b 60 && ok "b has the master's database" || bad "b never caught up"
caught_up c 60 && ok "c has the master's database" || bad "c never caught up"

# 1. completeness
N=40
n=1
while [ $n -le $N ]; do issue a $n > /dev/null; n=$((n + 1)); done
wait_issued a $N && ok "$N requests issued on the master" || bad "issued on a: $(serials a | grep -c .)"
i=0
while [ "$(serials b | grep -c .)" -lt $N ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
[ "$(serials a)" = "$(serials b)" ] && ok "b's certificate list equals a's" || bad "lists differ"
cga --json org list > "$T/orgs.a"
cgb --json org list > "$T/orgs.b"
cmp -s "$T/orgs.a" "$T/orgs.b" && ok "b's organisation list equals a's" || bad "org lists differ"
cgb db check > "$T/check.b" 2>&1 && ok "db check passes on b" || { bad "db check on b"; cat "$T/check.b"; }
cgb audit verify > /dev/null 2>&1 && ok "audit verify passes on b" || bad "audit verify on b"
cgb repl status | grep -q "master:    127.0.0.1:$BASE" && ok "repl status on b names a as master" ||
	{ bad "repl status on b"; cgb repl status; }

# 2. roles
out=$(cgb domain add example.com --org 1 --validated 2>&1) && bad "b changed a record" ||
	{ echo "$out" | grep -q "replication client" && ok "the CLI on b refuses changes: $out" || bad "b: $out"; }
csr m1
cat > "$T/m1.eml" <<EOM
From: admin@example.org
To: enroll@ca.example.net
Subject: enrol
Message-ID: <m1@example.org>
Date: $(date -R)

please
EOM
v=$(dns_run "$CG_BIN/certgate-milter" -c "$T/b.conf" -t "$T/m1.eml" --client-ip 127.0.0.1 \
	--helo mail.example.org --mail-from admin@example.org --rcpt enroll@ca.example.net 2>> "$T/milter.err" |
	sed -n 's/^rcpt: enroll@ca.example.net: //p')
[ "$v" = "451 4.3.2 certgate: this host is not the CA's master now; the message will be retried" ] &&
	ok "b defers gateway mail: $v" || bad "b's verdict: $v"
v=$(dns_run "$CG_BIN/certgate-milter" -c "$T/b.conf" -t "$T/m1.eml" --client-ip 127.0.0.1 \
	--helo mail.example.org --mail-from admin@example.org --rcpt someone@example.net 2>> "$T/milter.err" |
	sed -n 's/^verdict: //p')
[ "$v" = "accept" ] && ok "b passes other mail" || bad "b's verdict on other mail: $v"

# 3. acks: quorum with one replica (c) down changes nothing
stop c
issue a 101 > /dev/null 2>&1 && ok "quorum, c down: a request is acknowledged" || bad "quorum with c down failed"
# every replica down: not acknowledged, and said so; the record is there
stop b
out=$(issue a 102 2>&1) && bad "a commit with no replica up passed as acknowledged" ||
	{ echo "$out" | grep -q "did not acknowledge" && ok "no replica up: $out" || bad "no replica: $out"; }
start b
start c
wait_role b client 30 || true
caught_up b 60 || true
sed -i 's/^ReplicationAckTimeout 1s$/ReplicationAckTimeout 1s\nReplicationAck all/' "$T/a.conf"
stop b
out=$(issue a 103 2>&1) && bad "ReplicationAck all, b down: passed as acknowledged" ||
	{ echo "$out" | grep -q "did not acknowledge" && ok "ReplicationAck all, b down: deferred" || bad "ack all: $out"; }
sed -i '/^ReplicationAck all$/d' "$T/a.conf"
start b
caught_up b 60 || true
wait_issued a $((N + 3)) && ok "the unacknowledged requests were kept and issued" || bad "issued: $(serials a | grep -c .)"

# 4. failover
sleep 2
stop a KILL
wait_role b master 40 && ok "a killed: b was elected master" || bad "b is $(role b) after a died"
# With a down no electable site but b holds the request (c, priority 0,
# never becomes master): quorum is not met, the intake is deferred, kept.
out=$(issue b 201 2>&1) && bad "b alone with c passed quorum" ||
	{ echo "$out" | grep -q "did not acknowledge" && ok "b with c only: deferred (quorum needs an electable peer)" || bad "b: $out"; }
sleep 2
[ "$(serials b | grep -c .)" -eq $((N + 3)) ] && ok "b issues nothing while unacknowledged" ||
	bad "b issued while unacknowledged: $(serials b | grep -c .)"
start a
wait_role a client 40 && ok "a restarted as a client" || bad "a is $(role a) after its restart"
wait_issued b $((N + 4)) && ok "a back: b issues the kept request" || bad "b issued: $(serials b | grep -c .)"
i=0
while [ "$(serials a)" != "$(serials b)" ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
[ "$(serials a)" = "$(serials b)" ] && ok "a caught up: its list equals b's" || bad "a and b differ after the rejoin"
[ "$(serials b | uniq -d | grep -c .)" -eq 0 ] && ok "no serial twice" || bad "a serial twice"

# 6. bad peers: an unreachable one is named in the log; a site of another CA
# that names ours as its peer neither joins (its records are not replaced)
# nor changes ours
grep -q "replication: cannot reach peer 127.0.0.1:" "$T/b.log" && ok "an unreachable peer is named in the log" ||
	bad "no log line names an unreachable peer"
mkdir -p "$T/x"
(
	T0=$T
	T=$T0/x
	ca_dirs
	ca_conf "LogLevel info" "ExpiryReminders none"
	cgx="$CG_BIN/certgate -c $T/certgate.conf"
	$cgx ca init > /dev/null
	$cgx org add --name "Other" --registration NTRPL-0000999999 --country PL --contact ceo@example.org > /dev/null
	$cgx domain add example.org --org 1 --validated > /dev/null
	$cgx cert issue --org 1 --mailbox user9@example.org --csr "$T0/u1.csr" > /dev/null
	dns_run "$CG_BIN/certgate-issuer" --drain -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1
	printf 'ReplicationLocal 127.0.0.1:%s\nReplicationPeer 127.0.0.1:%s\nReplicationPeer 127.0.0.1:%s\n' \
		$((BASE + 3)) $BASE $((BASE + 1)) >> "$T/certgate.conf"
)
cp "$T/x/certgate.conf" "$T/x.conf"
serials x > "$T/x.before"
serials b > "$T/b.before"
start x
i=0
while ! grep -q "could not join\|cannot join" "$T/x.log" && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
sleep 2
stop x
grep -q "could not join\|cannot join" "$T/x.log" && ok "a site of another CA does not join: $(grep -o 'could not join[^:]*\|cannot join[^:]*' "$T/x.log" | head -1)" ||
	bad "the other CA's site joined"
serials x > "$T/x.after"
cmp -s "$T/x.before" "$T/x.after" && [ -s "$T/x.after" ] && ok "its records are its own still" || bad "the other CA's records changed"
serials b > "$T/b.after"
cmp -s "$T/b.before" "$T/b.after" && ok "ours are unchanged" || bad "our records changed"

# 5. a lone site never makes itself master
stop_all
start a
sleep 8
[ "$(role a)" = client ] && ok "a alone stays a client" || bad "a alone is $(role a)"
# A lone site calls election after election. Berkeley DB 5.3 can crash
# (SEGV in its election thread) when the environment handle is closed while
# one runs: an open defect of ours (the daemons must not close during an
# election; see the note of issue 12), so this one ends with kill -9.
stop a KILL
exit $fail
