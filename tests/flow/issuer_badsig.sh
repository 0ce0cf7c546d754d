#!/bin/sh
# issuer_badsig.sh: a certificate whose signature does not verify never
# leaves the issuer. The issuer runs with a faulty signer (tests/tools/
# badsig.c, preloaded: X509_sign flips a bit of one certificate's signature,
# as a failing HSM might). On more than one core the issuer verifies signed
# certificates on threads of its own while the batch goes on and commits
# the batch only when every one verified: the batch with the bad one must
# commit nothing and run again with each check in line, where that item's
# job fails (post-issuance lint) and waits for a retry. Every other item is
# issued once, no mail goes out for the failed one, and its retry, the fault
# gone, issues it.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test issuer_badsig
ca_dirs
ca_conf "LogLevel info" "ExpiryReminders none"
ca_mta
ca_example
dns_start "$T/dns" 127.0.0.38
n=24
bad_one=u13@example.org
i=1
while [ $i -le $n ]; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=u$i" -out "$T/u$i.csr" 2>/dev/null
	$cg cert issue --org 1 --mailbox "u$i@example.org" --csr "$T/u$i.csr" | grep -q "queued" ||
		{ bad "u$i: not queued"; exit 1; }
	i=$((i + 1))
done
# The preloaded signer must come after ASan's runtime in an ASan build.
CG_BADSIG_SUBJECT="CN=$bad_one" LD_PRELOAD="$CG_BIN/../tests/libcg_badsig.so" \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" drain
$cg audit show > "$T/audit"
$cg --json cert list > "$T/certs.json"
grep -q "issue job R[0-9]*#1: post-issuance lint refused the signed certificate: signature: does not verify under the issuing CA's key; retry in" "$T/issuer.log" &&
	grep -q "request.operator.*for $bad_one" "$T/audit" &&
	! grep "cert\\.[a-z]*" "$T/audit" | grep -q "$bad_one" &&
	ok "the item whose certificate's signature failed waits for a retry, nothing decided" ||
	bad "the job of $bad_one: $(grep "$bad_one" "$T/audit" | tail -1)"
grep -q "\"mailbox\": *\"$bad_one\"" "$T/certs.json" &&
	bad "a certificate for $bad_one was stored" || ok "no certificate stored for it"
[ "$(grep -c '"serial"' "$T/certs.json")" -eq $((n - 1)) ] &&
	ok "each of the $((n - 1)) others issued" || bad "certificates: $(grep -c '"serial"' "$T/certs.json")"
[ "$(grep -c "cert.issue" "$T/audit")" -eq $((n - 1)) ] &&
	ok "each issued once (audit)" || bad "cert.issue entries: $(grep -c "cert.issue" "$T/audit")"
[ "$(grep -c ": info: issued " "$T/issuer.log")" -eq $((n - 1)) ] &&
	ok "the issuer logged each issuance once, none of the batch that did not commit" ||
	bad "'issued' lines: $(grep -c ": info: issued " "$T/issuer.log")"
[ "$(mails_to "$bad_one")" -eq 0 ] && ok "no mail for $bad_one" || bad "mail went to $bad_one"
if [ "$(nproc)" -gt 1 ]; then
	grep -q "does not verify under the issuing CA's key; the batch of [0-9]* jobs runs again, each check in line" "$T/issuer.log" &&
		ok "the verification threads caught it and the batch ran again in line" ||
		bad "no batch ran again: $(grep -i "verif" "$T/issuer.log" | head -3)"
fi
# A batch that mails before it signs: a certificate delivered again, then
# another item whose signature fails. The batch runs again for it, and the
# delivery it made is not sent again.
first=$($cg --json cert list | sed -n 's/.*"serial": *"\([0-9a-f]*\)".*/\1/p' | head -1)
first_to=$($cg --json cert list | sed -n "s/.*\"serial\": *\"$first\".*\"mailbox\": *\"\([^\"]*\)\".*/\1/p")
[ -n "$first_to" ] || first_to=$($cg cert show "$first" | sed -n 's/^mailbox: *//p')
before=$(mails_to "$first_to")
"$CG_BIN/../tests/cg-storetool" deliver "$T/db" "$T/evidence" "$first"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=v1" -out "$T/v1.csr" 2>/dev/null
$cg cert issue --org 1 --mailbox v1@example.org --csr "$T/v1.csr" | grep -q "queued" ||
	{ bad "v1: not queued"; exit 1; }
CG_BADSIG_SUBJECT="CN=v1@example.org" LD_PRELOAD="$CG_BIN/../tests/libcg_badsig.so" \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" drain
[ "$(mails_to "$first_to")" -eq $((before + 1)) ] &&
	ok "the delivery in the batch that ran again was mailed once" ||
	bad "mails to $first_to: $(mails_to "$first_to"), $before before"
if [ "$(nproc)" -gt 1 ]; then
	grep -q "mail to $first_to went out before its transaction was undone; not sent again" \
		"$T/issuer.log" && ok "(the batch with the delivery ran again)" ||
		bad "the batch with the delivery did not run again: the check above proves nothing"
fi
$cg --json cert list | grep -q '"mailbox": *"v1@example.org"' &&
	bad "a certificate for v1 was stored" || ok "none for v1"

# The fault gone, the retries (their backoff passed) issue them, once.
drain_later +2m
$cg --json cert list > "$T/certs.json"
[ "$(grep -c "\"mailbox\": *\"$bad_one\"" "$T/certs.json")" -eq 1 ] &&
	[ "$(grep -c '"serial"' "$T/certs.json")" -eq $((n + 1)) ] &&
	ok "the retry, with a sound signer, issued it once" ||
	bad "after the retry: $(grep -c '"serial"' "$T/certs.json") certificates"
$cg audit verify > /dev/null && ok "audit chain intact" || bad "audit chain"
exit $fail
