#!/bin/sh
# issuer_recheck.sh: the issuer trusts no check made at intake. Requests are
# queued by `certgate cert issue` (which checks each CSR), then the CSRs of
# some items are altered in the store (their signature's last byte flipped)
# before the issuer runs. Each altered item is refused for its
# self-signature, each other one issued, and no decision goes to another
# item of the same batch (the issuer verifies the CSRs of a batch on
# threads of its own while the batch runs).
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test issuer_recheck
ca_dirs
ca_conf "LogLevel info" "ExpiryReminders none"
ca_mta
ca_example
dns_start "$T/dns" 127.0.0.31
n=40
i=1
while [ $i -le $n ]; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=u$i" -out "$T/u$i.csr" 2>/dev/null
	r=$($cg cert issue --org 1 --mailbox "u$i@example.org" --csr "$T/u$i.csr" |
		sed -n 's/^request \(R[0-9]*\) queued.*/\1/p')
	[ -n "$r" ] || { bad "u$i: not queued"; exit 1; }
	# Every third item's CSR is altered after intake.
	if [ $((i % 3)) -eq 0 ]; then
		"$CG_BIN/../tests/cg-storetool" csr-flip "$T/db" "$T/evidence" "$r" 1 ||
			{ bad "u$i: the CSR could not be altered"; exit 1; }
	fi
	i=$((i + 1))
done
drain
# What the issuer decided, read once: the audit's refusals and the
# certificates.
$cg audit show | grep "cert.refuse" > "$T/refusals"
$cg --json cert list > "$T/certs.json"
issued=0 refused=0 wrong=0
i=1
while [ $i -le $n ]; do
	if [ $((i % 3)) -eq 0 ]; then
		if grep -q "u$i@example.org.*CSR self-signature does not verify" "$T/refusals"; then
			refused=$((refused + 1))
		else
			wrong=$((wrong + 1))
			echo "u$i (altered): $($cg audit show | grep "u$i@" | tail -1)"
		fi
	else
		if grep -q "\"mailbox\": *\"u$i@example.org\"" "$T/certs.json"; then
			issued=$((issued + 1))
		else
			wrong=$((wrong + 1))
			echo "u$i: $($cg audit show | grep "u$i@" | tail -1)"
		fi
	fi
	i=$((i + 1))
done
[ $refused -eq $((n / 3)) ] && ok "each of the $refused altered CSRs refused for its self-signature" ||
	bad "altered CSRs refused: $refused of $((n / 3))"
[ $issued -eq $((n - n / 3)) ] && ok "each of the $issued others issued" || bad "issued: $issued of $((n - n / 3))"
[ $wrong -eq 0 ] || bad "$wrong items decided wrongly"
[ "$(grep -c '"serial"' "$T/certs.json")" -eq $((n - n / 3)) ] &&
	ok "no certificate for an altered CSR" || bad "certificates: $(grep -c '"serial"' "$T/certs.json")"
# On more than one core the CSRs were verified on the issuer's verification
# threads, each verdict taken before its item was decided: the refusals
# above came from there, and nothing was signed for an altered CSR (a batch
# is never run again for one).
if [ "$(nproc)" -gt 1 ]; then
	grep -q "runs again, each check in line" "$T/issuer.log" &&
		bad "a batch ran again: a CSR's verdict came after its certificate was signed" ||
		ok "each altered CSR refused before signing, by the verification threads"
fi
$cg audit verify > /dev/null && ok "audit chain intact" || bad "audit chain"
exit $fail
