#!/bin/sh
# failover.sh: requests keep arriving while the master is killed (kill -9)
# again and again. Three electable sites (ReplicationAck quorum: two of three
# hold every acknowledged request). The sender tries the sites in turn, as an
# MTA tries MX hosts, and retries what was deferred. In the end every request
# that was acknowledged is issued exactly once, none twice, no serial twice,
# and every deferred one was taken on a retry.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test failover
CA_CLEANUP=stop_test
N=${CG_FAILOVER_REQUESTS:-120}
KILLS=${CG_FAILOVER_KILLS:-3}
BASE=$((28400 + ($$ % 200) * 3))
SITES="a=127.0.0.1:$BASE b=127.0.0.1:$((BASE + 1)) c=127.0.0.1:$((BASE + 2))"
. "$CG_SRC/tests/lib/sites.sh"
# The killer ends at its next turn once $T/halt exists; it is waited for
# before the sites stop (one killed mid-turn could start a site after
# stop_all, left running for ever).
stop_test() {
	touch "$T/halt" 2>/dev/null || true
	[ -z "${killer:-}" ] || wait "$killer" 2>/dev/null || true
	stop_all
}

ca_dirs
ca_conf "LogLevel info" "ExpiryReminders none"
dns_start "$T/dns" 127.0.0.28
sites_ca
site_seed a
site a 100 "ReplicationCreateGroup yes"
site b 90
site c 80

for s in a b c; do start $s; done
i=0
while [ "$(role a)" != master ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
caught_up b 60 && caught_up c 60 && ok "three sites, a the master, b and c caught up" || bad "the group did not form"

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
	while [ $k -lt "$KILLS" ] && [ ! -e "$T/halt" ]; do
		sleep "$(( $(od -An -N1 -tu1 /dev/urandom) % 5 + 3 ))"
		m=$(master_site)
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
		for s in a b c; do
			# A command behind a process killed inside Berkeley DB waits
			# on a mutex no one wakes: its watchdog ends it (exit 75,
			# within 20 s of the panic). The timeout is a guard only:
			# a command it had to kill is a failure.
			rc=0
			out=$(timeout -s KILL 60 "$CG_BIN/certgate" -c "$T/$s.conf" cert issue --org 1 \
				--mailbox "user$n@example.org" --csr "$T/u$n.csr" 2>&1) || rc=$?
			if [ $rc -eq 0 ]; then
				echo "$n" >> "$T/acked"
				done_=yes
				break
			fi
			[ $rc -ne 137 ] || { echo "$n $s" >> "$T/hung"; echo "$out" > "$T/hung.$n.$s"; }
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
[ ! -s "$T/hung" ] && ok "no command hung behind a killed process" ||
	bad "commands hung (killed after 60 s): $(tr '\n' ' ' < "$T/hung")"
ok "$N requests sent: $(grep -c . "$T/acked") acknowledged, $(grep -c . "$T/deferred" 2>/dev/null || echo 0) deferrals; $(grep -c . "$T/kills") kills ($(tr '\n' ' ' < "$T/kills"))"

# Everything settles: all sites up, the master issues the rest.
m=none
i=0
while [ $i -lt 300 ]; do
	m=$(master_site)
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
