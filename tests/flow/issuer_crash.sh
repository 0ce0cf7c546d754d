#!/bin/sh
# issuer_crash.sh: kill -9 the issuer again and again while it works through
# 500 issue jobs (and the delivery jobs they queue; 100 more at a time
# whenever it got through them all before five kills landed midway through
# its work, so that a fast issuer is disturbed as often). Afterwards every request
# item is issued exactly once (one certificate per item, none lost, none
# twice), the indexes agree with the records, and the audit chain verifies.
# The kills go on for at most 200 s; what they left (a slow build, such as
# the sanitizer's, may not finish under them) one run of the issuer drains.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
N=${CG_CRASH_JOBS:-500}
. "$CG_SRC/tests/lib/ca.sh"
ca_test crash
ca_dirs
mkdir -p "$T/csr"
ca_conf "LogLevel notice" "ExpiryReminders none" # the queue must drain to empty
ca_example
dns_start "$T/dns" 127.0.0.11

# queue K: K more requests (N counts them all), each its own key and mailbox.
queue() {
	k=0
	while [ $k -lt "$1" ]; do
		N=$((N + 1))
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
			-subj "/CN=u$N" -out "$T/csr/$N.csr" 2>/dev/null
		$cg cert issue --org 1 --mailbox "user$N@example.org" --csr "$T/csr/$N.csr" > /dev/null
		k=$((k + 1))
	done
}
first=$N
N=0
queue "$first"
ok "$N requests queued"

issued() { $cg --json cert list | grep -c '"serial"' || true; }
# The jobs queued and deferred, together.
jobs_left() {
	$cg db check 2>/dev/null |
		sed -n 's/^jobs: \([0-9]*\) queued, \([0-9]*\) deferred$/\1 \2/p' | awk '{print $1 + $2}'
}
kills=0
midway=0
added=0
# What the store shows of the issuer's progress: certificates issued, jobs
# left (an issue job done leaves a delivery job: only both tell).
progress() { echo "$(issued) $(jobs_left)"; }
was=$(progress)
start=$(date +%s)
while :; do
	dns_spawn "$CG_BIN/certgate-issuer" -f -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1
	ipid=$!
	r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
	# One kill in four lands during start-up (recovery, CA load); the rest
	# 10 to 149 ms into its work.
	if [ $((kills % 4)) -ne 3 ]; then
		w=0
		while [ "$(grep -c ' running: ' "$T/issuer.log")" -le "$kills" ] && [ $w -lt 400 ]; do
			sleep 0.005
			w=$((w + 1))
		done
	fi
	sleep "$(printf '0.%03d' $((r % 140 + 10)))"
	kill -9 "$ipid" 2>/dev/null || true
	wait "$ipid" 2>/dev/null || true
	ipid=
	kills=$((kills + 1))
	# Runs that never logged "running" still count in the grep above.
	[ "$(grep -c ' running: ' "$T/issuer.log")" -ge "$kills" ] || echo " running: (killed in start-up)" >> "$T/issuer.log"
	# A process with the issuer's command line after the kill: a survivor,
	# or a mail hand-over it had begun (posix_spawn's child has its parent's
	# command line until its exec, and goes on to exec the MTA when the
	# parent is killed). The child is gone within moments; a survivor stays.
	w=0
	while pgrep -f "certgate-issuer -f -c $T/certgate.conf" > /dev/null && [ $w -lt 40 ]; do
		sleep 0.05
		w=$((w + 1))
	done
	if pgrep -f "certgate-issuer -f -c $T/certgate.conf" > /dev/null; then
		bad "an issuer survived kill -9: $(pgrep -a -f "certgate-issuer -f -c $T/certgate.conf")"
		break
	fi
	now=$(progress)
	left=${now#* }
	[ "$now" != "$was" ] && [ "$left" -gt 0 ] && midway=$((midway + 1))
	was=$now
	[ -z "${CG_CRASH_DEBUG:-}" ] || echo "kill $kills: ${now% *} issued, $left jobs left"
	[ $(($(date +%s) - start)) -lt 200 ] || break
	if [ "$left" -eq 0 ]; then
		[ "$midway" -lt 5 ] || break
		# The issuer got through the queue between fewer kills than the
		# test needs (a fast machine): more work for it, killed the same.
		queue 100
		added=$((added + 100))
		was=$(progress)
	fi
done
[ "$added" -eq 0 ] || ok "$added more requests queued while the kills went on"
# A kill counts as midway when that run did some jobs (issued certificates,
# or delivered them) and left some.
[ "$midway" -ge 5 ] && ok "issuer killed $kills times, $midway of them midway; $(issued) certificates" ||
	bad "only $midway midway kills of $kills: the issuer finished before the test could disturb it"
if [ "$left" -gt 0 ]; then
	drain && ok "the $left jobs the kills left drained by one more run" ||
		bad "the issuer did not drain the $left jobs the kills left"
	left=$(jobs_left)
	[ "$left" -eq 0 ] || bad "$left jobs still queued"
fi

$cg --json cert list > "$T/certs.json"
total=$(grep -c '"serial"' "$T/certs.json" || true)
distinct=$(grep -o '"request":"R[0-9]*"' "$T/certs.json" | sort -u | wc -l)
[ "$total" -eq "$N" ] && ok "$total certificates for $N items" || bad "$total certificates for $N items"
[ "$distinct" -eq "$N" ] && ok "every item exactly once" || bad "$distinct distinct items among $total certificates"
audited=$($cg audit show | grep -c " cert.issue " || true)
[ "$audited" -eq "$N" ] && ok "$audited cert.issue audit entries" || bad "$audited cert.issue audit entries"
$cg db check > "$T/check.out" 2>&1 && ok "db check: records and indexes agree" || { bad "db check"; cat "$T/check.out"; }
$cg audit verify > /dev/null && ok "audit chain intact" || bad "audit chain broken"
delivered=$($cg audit show | grep " cert.deliver " | awk '{print $5}' | sort -u | wc -l)
[ "$delivered" -eq "$N" ] && ok "every certificate delivered (at least once)" || bad "$delivered of $N delivered"
exit $fail
