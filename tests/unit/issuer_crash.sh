#!/bin/sh
# issuer_crash.sh: kill -9 the issuer again and again while it works through
# 500 issue jobs. Afterwards every request item is issued exactly once (one
# certificate per item, none lost, none twice), the indexes agree with the
# records, and the audit chain verifies.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
N=${CG_CRASH_JOBS:-500}
. "$CG_SRC/tests/lib/ca.sh"
ca_test crash
ca_dirs
mkdir -p "$T/csr"
ca_conf "LogLevel notice"
$cg ca init > /dev/null
$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL \
	--contact ceo@example.org > /dev/null
$cg domain add example.org --org 1 --validated > /dev/null
dns_start "$T/dns" 127.0.0.11

# N requests, each its own key and mailbox.
i=1
while [ $i -le "$N" ]; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=u$i" -out "$T/csr/$i.csr" 2>/dev/null
	$cg cert issue --org 1 --mailbox "user$i@example.org" --csr "$T/csr/$i.csr" > /dev/null
	i=$((i + 1))
done
ok "$N requests queued"

issued() { $cg --json cert list | grep -c '"serial"' || true; }
queued() { $cg db check 2>/dev/null | sed -n 's/^jobs: \([0-9]*\) queued, \([0-9]*\) deferred$/\1 \2/p'; }
kills=0
midway=0
start=$(date +%s)
while :; do
	dns_run "$CG_BIN/certgate-issuer" -f -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1 &
	ipid=$!
	# Somewhere in the middle of its work: 5 to 35 ms after start.
	sleep "0.0$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30 + 5 ))"
	kill -9 "$ipid" 2>/dev/null || true
	wait "$ipid" 2>/dev/null || true
	ipid=
	kills=$((kills + 1))
	n=$(issued)
	[ "$n" -gt 0 ] && [ "$n" -lt "$N" ] && midway=$((midway + 1))
	[ "$n" -ge "$N" ] && [ "$(queued)" = "0 0" ] && break
	[ $(($(date +%s) - start)) -lt 240 ] || { bad "only $n of $N issued after $kills kills"; break; }
done
# A kill counts when it found the issuer with work done and work left.
[ "$midway" -ge 5 ] && ok "issuer killed $kills times, $midway of them midway; $(issued) certificates" ||
	bad "only $midway midway kills of $kills: the issuer finished before the test could disturb it"

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
