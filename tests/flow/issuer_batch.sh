#!/bin/sh
# issuer_batch.sh: a batch's certificates are signed beside it, on the
# verification threads, and their records put only once signed; a job later
# in the same batch must still see them. Four items queued together and
# issued in one batch:
#   - key 1 for a1@, then for a2@: the second is refused (the key is
#     certified for another mailbox), though the first one's record was not
#     yet in the store when it was decided;
#   - key 2 for b@, twice: the second is refused (certified for this mailbox
#     before);
# and every certificate stored is the one signed (its DER read back from the
# store verifies under the CA and holds its serial and mailbox).
# Then a certificate built wrong (tests/tools/badsig.c, preloaded, makes one
# a version 1 certificate) on a verification thread: the pre-issuance lint
# refuses it there, nothing is signed for it, its batch runs again in line
# and that job waits for a retry, the others issued once.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test issuer_batch
ca_dirs
ca_conf "LogLevel debug" "ExpiryReminders none"
ca_mta
ca_example
dns_start "$T/dns" 127.0.0.52
for k in 1 2; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=k$k" -out "$T/k$k.csr" 2>/dev/null
done
queue() { # queue MAILBOX CSR
	$cg cert issue --org 1 --mailbox "$1" --csr "$2" | grep -q "queued" ||
		{ bad "$1: not queued"; exit 1; }
}
queue a1@example.org "$T/k1.csr"
queue a2@example.org "$T/k1.csr"
queue b@example.org "$T/k2.csr"
queue b@example.org "$T/k2.csr"
drain
$cg audit show > "$T/audit"
$cg --json cert list > "$T/certs.json"

# The four in one batch, signed beside it: what this test is about.
if [ "$(nproc)" -gt 1 ]; then
	grep -q "batch of 4 jobs (first: issue R1#1) committed" "$T/issuer.log" &&
		ok "the four items were issued in one batch" ||
		bad "not one batch: $(grep "batch of" "$T/issuer.log" | head -3)"
fi
grep -q "cert.issue.*for a1@example.org" "$T/audit" && ok "a1 issued" || bad "a1 not issued"
grep "cert.refuse" "$T/audit" | grep -q "a2@example.org: key refused: this key is already certified for another mailbox" &&
	ok "a2, the same key in the same batch, refused" ||
	bad "a2: $(grep "a2@example.org" "$T/audit" | tail -1)"
[ "$(grep -c "cert.issue.*for b@example.org" "$T/audit")" -eq 1 ] &&
	grep "cert.refuse" "$T/audit" | grep -q "b@example.org: key refused: this key was certified for this mailbox before" &&
	ok "b's second item, the same key in the same batch, refused" ||
	bad "b: $(grep "b@example.org" "$T/audit" | tail -2)"
[ "$(grep -c '"serial"' "$T/certs.json")" -eq 2 ] &&
	ok "two certificates stored" || bad "certificates: $(grep -c '"serial"' "$T/certs.json")"

# Each stored record holds the certificate signed for it.
python3 -c 'import json, sys
for c in json.load(open(sys.argv[1])): print(c["serial"], c["mailbox"])' "$T/certs.json" > "$T/certs.txt"
[ "$(sort -k2 "$T/certs.txt" | awk '{ print $2 }' | tr '\n' ' ')" = "a1@example.org b@example.org " ] &&
	ok "the records are a1's and b's" || bad "records: $(cat "$T/certs.txt")"
while read -r s mb; do
	$cg cert show "$s" --pem > "$T/$s.pem"
	openssl verify -CAfile "$T/ca/root-ca.pem" -untrusted "$T/ca/issuing-ca.pem" "$T/$s.pem" > /dev/null 2>&1 &&
		[ "$(openssl x509 -in "$T/$s.pem" -noout -serial | tr A-F a-f)" = "serial=$s" ] &&
		openssl x509 -in "$T/$s.pem" -noout -ext subjectAltName | grep -q "email:$mb" &&
		ok "$s: its record's certificate verifies, with its serial and mailbox ($mb)" ||
		bad "$s: the stored certificate is not the one for its record"
done < "$T/certs.txt"

for i in 1 2 3; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=c$i" -out "$T/c$i.csr" 2>/dev/null
	queue "c$i@example.org" "$T/c$i.csr"
done
CG_BADBUILD_SUBJECT="CN=c2@example.org" LD_PRELOAD="$CG_BIN/../tests/libcg_badsig.so" \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" drain
if [ "$(nproc)" -gt 1 ]; then
	grep -q "pre-issuance lint refused the certificate: version: must be v3; the batch of 3 jobs runs again, each check in line" "$T/issuer.log" &&
		ok "the thread's pre-issuance lint refused it, and the batch ran again in line" ||
		bad "no batch ran again: $(grep -i "lint" "$T/issuer.log" | head -3)"
fi
grep -q "issue job R6#1: pre-issuance lint refused the certificate: version: must be v3; retry in" "$T/issuer.log" &&
	ok "in line, its job failed and waits for a retry" ||
	bad "c2's job: $(grep "R6#1" "$T/issuer.log" | tail -2)"
$cg audit show > "$T/audit"
$cg --json cert list > "$T/certs.json"
! grep "cert\.[a-z]*" "$T/audit" | grep -q "c2@example.org" &&
	! grep -q '"c2@example.org"' "$T/certs.json" && [ "$(mails_to c2@example.org)" -eq 0 ] &&
	ok "nothing stored, audited or mailed for c2" || bad "c2: $(grep "c2@example.org" "$T/audit" | tail -1)"
[ "$(grep -c "cert.issue.*for c1@example.org" "$T/audit")" -eq 1 ] &&
	[ "$(grep -c "cert.issue.*for c3@example.org" "$T/audit")" -eq 1 ] &&
	[ "$(grep -c '"serial"' "$T/certs.json")" -eq 4 ] &&
	ok "c1 and c3 issued once each" || bad "certificates: $(grep -c '"serial"' "$T/certs.json")"
drain_later +2m
$cg --json cert list > "$T/certs.json"
[ "$(grep -c '"c2@example.org"' "$T/certs.json")" -eq 1 ] && [ "$(grep -c '"serial"' "$T/certs.json")" -eq 5 ] &&
	ok "the retry, built right, issued it once" || bad "after the retry: $(grep -c '"serial"' "$T/certs.json")"
$cg db check > /dev/null && ok "db check" || bad "db check: $($cg db check 2>&1 | tail -2)"
exit $fail
