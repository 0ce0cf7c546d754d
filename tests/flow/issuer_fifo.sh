#!/bin/sh
# issuer_fifo.sh: issue jobs run in the order they were queued, ahead of the
# deliveries their batches queue. A batch stops taking jobs when it has run
# BATCH_US; a job it took but did not run went back to the queue's tail,
# behind every delivery queued meanwhile: in a list of thousands, a
# certificate came out after every other one had been mailed (seen in
# scripts/bench: one issue job 17 s after the rest). The issuer runs with a
# slow signer (tests/tools/badsig.c, 10 ms a signature), so that every batch
# reaches its time limit; every issuance must still come before the first
# delivery.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test issuer_fifo
ca_dirs
ca_conf "LogLevel debug" "ExpiryReminders none"
ca_mta
ca_example
dns_start "$T/dns" 127.0.0.47
n=40
"$CG_BIN/../tests/cg-benchtool" queue "$T/certgate.conf" 1 example.org $n > /dev/null
CG_SLOWSIG_MS=10 LD_PRELOAD="$CG_BIN/../tests/libcg_badsig.so" \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" drain
issued=$(grep -c ": info: issued " "$T/issuer.log" || true)
delivered=$(grep -c ": info: delivered " "$T/issuer.log" || true)
[ "$issued" -eq $n ] && [ "$delivered" -eq $n ] && ok "$n issued and delivered" ||
	bad "$issued issued, $delivered delivered of $n"
first=$(sed -n 's/.*debug: batch of \([0-9]*\) jobs (first: issue .*/\1/p' "$T/issuer.log" | head -1)
[ -n "$first" ] && [ "$first" -lt $n ] &&
	ok "the first batch ran $first of the $n jobs (its time limit cut it)" ||
	bad "the first batch ran ${first:-no} jobs: it reached no time limit, the check below proves nothing"
last_issued=$(grep -n ": info: issued " "$T/issuer.log" | tail -1 | cut -d: -f1)
first_delivered=$(grep -n ": info: delivered " "$T/issuer.log" | head -1 | cut -d: -f1)
[ -n "$last_issued" ] && [ -n "$first_delivered" ] && [ "$last_issued" -lt "$first_delivered" ] &&
	ok "every certificate was issued before the first delivery (queue order kept)" ||
	bad "an issuance came after a delivery: $(grep -n ": info: \(issued\|delivered\) " "$T/issuer.log" |
		awk -F': info: ' '{ split($2, w, " "); print w[1] }' | uniq -c | tr '\n' ' ')"
$cg audit verify > /dev/null && ok "audit chain intact" || bad "audit chain"
exit $fail
