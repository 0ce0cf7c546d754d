#!/bin/sh
# dnssec.sh: CAA lookups are DNSSEC-validated (S/MIME BR 4.2.2.1.1). NSD on
# a loopback address serves a zone "cgtest." signed here with ldns-signzone
# (its key is the issuer's DnssecTrustAnchor) and an unsigned child zone
# delegated without DS; the issuer resolves through it. A secure answer and
# a provably insecure one are issued on, and say so in the audit; an answer
# forged after signing (a CAA record changed to let this CA in) is bogus and
# refused, though without validation the same forgery gets a certificate;
# a lookup that gets no answer defers the request.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/nsd.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test dnssec
CA_CLEANUP=nsd_stop
nsd_init "$T/nsd" 127.0.0.33
Z="$NSD_DIR"

# ---- the zones -----------------------------------------------------------
cat > "$Z/cgtest.zone" <<EOF
\$ORIGIN cgtest.
\$TTL 60
@           IN SOA ns.cgtest. hostmaster.cgtest. 1 3600 600 86400 60
@           IN NS  ns.cgtest.
ns          IN A   $NSD_IP
ok          IN CAA 0 issuemail "ca.example.net"
ok          IN MX  10 mail.ok.cgtest.
deny        IN CAA 0 issuemail "other-ca.example"
tamper      IN CAA 0 issuemail "other-ca.example"
insecure    IN NS  ns.insecure.cgtest.
ns.insecure IN A   $NSD_IP
EOF
cat > "$Z/insecure.zone" <<EOF
\$ORIGIN insecure.cgtest.
\$TTL 60
@  IN SOA ns.insecure.cgtest. hostmaster.insecure.cgtest. 1 3600 600 86400 60
@  IN NS  ns.insecure.cgtest.
ns IN A   $NSD_IP
@  IN CAA 0 issuemail "ca.example.net"
EOF
nsd_key cgtest && nsd_sign cgtest || { bad "ldns-keygen, ldns-signzone"; exit 1; }
# The forgery: tamper.cgtest's record changed after signing, to let this CA in.
sed -i 's/^\(tamper\.cgtest\.[[:space:]].*CAA[[:space:]].*\)"other-ca\.example"/\1"ca.example.net"/' "$Z/cgtest.zone.signed"
grep -q '^tamper\.cgtest\..*CAA.*"ca.example.net"' "$Z/cgtest.zone.signed" && ok "zone cgtest. signed; tamper.cgtest forged after signing" ||
	{ bad "the forged record: $(grep tamper "$Z/cgtest.zone.signed")"; exit 1; }
cp "$Z/cgtest.anchor" "$T/anchor.key"
nsd_start cgtest=cgtest.zone.signed insecure.cgtest=insecure.zone ||
	{ bad "nsd did not start: $(cat "$Z/nsd.log" 2>/dev/null)"; exit 1; }
# The issuer's resolver is NSD (dns.sh's helpers, without its dnsmasq).
DNS_DIR="$NSD_DIR/resolver"

ca_dirs
ca_conf "LogLevel info" "ExpiryReminders none" "DnssecTrustAnchor $T/anchor.key"
$cg ca init > /dev/null
$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL \
	--contact ceo@example.org > /dev/null
for d in ok.cgtest nocaa.cgtest insecure.cgtest deny.cgtest tamper.cgtest fail.example; do
	$cg domain add "$d" --org 1 --validated > /dev/null
done
start_issuer() {
	dns_spawn "$CG_BIN/certgate-issuer" -f -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1
	ipid=$!
}
stop_issuer() { kill "$ipid" 2>/dev/null || true; wait "$ipid" 2>/dev/null || true; ipid=; }
issue() { # issue MAILBOX [TIMEOUT]: the serial or the refusal
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=x" -out "$T/${1%@*}.${1#*@}.csr" 2>/dev/null
	$cg cert issue --org 1 --mailbox "$1" --csr "$T/${1%@*}.${1#*@}.csr" --wait --timeout "${2:-30}" 2>&1 || true
}
audit_of() { $cg audit show | grep "cert.issue" | grep "$1" | tail -1; }
start_issuer

s=$(issue a@ok.cgtest)
echo "$s" | grep -qE '^[0-9a-f]{32}$' && audit_of "$s" | grep -q "CAA at ok.cgtest permits this CA (DNSSEC: secure)" &&
	ok "secure CAA permits: issued, audited as secure" || bad "ok.cgtest: $s; $(audit_of "$s")"
s=$(issue a@nocaa.cgtest)
echo "$s" | grep -qE '^[0-9a-f]{32}$' && audit_of "$s" | grep -q "no CAA record at nocaa.cgtest or a parent (DNSSEC: secure)" &&
	ok "no CAA, proven by signed denial: issued, audited as secure" || bad "nocaa.cgtest: $s; $(audit_of "$s")"
s=$(issue a@insecure.cgtest)
echo "$s" | grep -qE '^[0-9a-f]{32}$' && audit_of "$s" | grep -q "CAA at insecure.cgtest permits this CA (DNSSEC: insecure)" &&
	ok "an unsigned zone under a delegation without DS: issued, audited as insecure" || bad "insecure.cgtest: $s; $(audit_of "$s")"
s=$(issue a@deny.cgtest)
echo "$s" | grep -q "CAA issuemail at deny.cgtest does not allow" && ok "secure CAA forbids: refused" || bad "deny.cgtest: $s"
s=$(issue a@tamper.cgtest)
echo "$s" | grep -q "the DNS answer for tamper.cgtest fails DNSSEC validation (bogus" &&
	ok "a forged CAA answer is bogus: refused: $(echo "$s" | cut -c1-160)" || bad "tamper.cgtest: $s"
# No answer (NSD serves no zone for fail.example): the request waits.
s=$(issue a@fail.example 8)
echo "$s" | grep -q "no answer from certgate-issuer within 8 s" && ! $cg --json cert list | grep -q '"mailbox": *"a@fail.example"' &&
	grep -q "CAA lookup: DNS lookup of fail.example failed temporarily" "$T/issuer.log" &&
	ok "no DNS answer: deferred, not refused, not issued" || bad "fail.example: $s; $(grep fail.example "$T/issuer.log" | tail -2)"
# The deferred job comes back when due (30 s), with nothing else queued,
# and the issuer stops on TERM (a consumer that waited in DB_CONSUME_WAIT
# did neither, once).
i=0
while [ "$(grep -c "issue job R6#1: CAA lookup" "$T/issuer.log")" -lt 2 ] && [ $i -lt 450 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(grep -c "issue job R6#1: CAA lookup" "$T/issuer.log")" -ge 2 ] && ok "the deferred request was tried again when due" ||
	bad "the deferred request was not tried again within 45 s"
kill "$ipid"
i=0
while kill -0 "$ipid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 "$ipid" 2>/dev/null && bad "the issuer did not stop within 10 s of TERM" || ok "the issuer stops on TERM"
stop_issuer

# certgate domain preflight: the same lookups, before an organisation applies.
pf() { dns_run "$CG_BIN/certgate" -c "$T/certgate.conf" domain preflight "$1" 2>&1 && echo "exit 0" || echo "exit $?"; }
out=$(pf ok.cgtest)
echo "$out" | grep -q "^dnssec *secure" && echo "$out" | grep -q "^caa *permits *CAA at ok.cgtest permits this CA (DNSSEC: secure)" &&
	echo "$out" | grep -q "^mx *present *10 mail.ok.cgtest. (DNSSEC secure)" &&
	echo "$out" | grep -q "^record *registered *organisation 1, validated by operator" && echo "$out" | grep -q "^exit 0" &&
	ok "preflight ok.cgtest: secure, CAA permits, MX present, registered: ready" || bad "preflight ok.cgtest: $out"
out=$(pf deny.cgtest)
echo "$out" | grep -q "^caa *forbids *CAA issuemail at deny.cgtest does not allow" && echo "$out" | grep -q "^mx *none" &&
	echo "$out" | grep -q "^exit 1" && ok "preflight deny.cgtest: CAA forbids, no MX: not ready" || bad "preflight deny.cgtest: $out"
out=$(pf tamper.cgtest)
echo "$out" | grep -q "^caa .*fails DNSSEC validation (bogus" && echo "$out" | grep -q "^exit 1" &&
	ok "preflight tamper.cgtest: the forged CAA answer is bogus" || bad "preflight tamper.cgtest: $out"
out=$(pf insecure.cgtest)
echo "$out" | grep -q "^dnssec *insecure" && ok "preflight insecure.cgtest: insecure" || bad "preflight insecure.cgtest: $out"
out=$(dns_run "$CG_BIN/certgate" -c "$T/certgate.conf" --json domain preflight ok.cgtest)
echo "$out" | grep -q '"dnssec":{"state":"secure"' && echo "$out" | grep -q '"ready":true' &&
	ok "preflight --json" || bad "preflight --json: $out"

# The control: without validation the same forgery gets a certificate.
sed -i "s|^DnssecTrustAnchor .*|DnssecTrustAnchor none|" "$T/certgate.conf"
start_issuer
s=$(issue b@tamper.cgtest)
echo "$s" | grep -qE '^[0-9a-f]{32}$' && audit_of "$s" | grep -q "CAA at tamper.cgtest permits this CA (DNSSEC: not validated)" &&
	ok "control: with DnssecTrustAnchor none the forged record would have let this CA issue" || bad "control: $s"
stop_issuer
# TrustModel public requires validation.
echo "TrustModel public" >> "$T/certgate.conf"
out=$($cg config check 2>&1) && bad "config check passed: $out" ||
	{ echo "$out" | grep -q "DnssecTrustAnchor: TrustModel public needs DNSSEC-validated CAA lookups" &&
		ok "TrustModel public with DnssecTrustAnchor none: the configuration is refused" || bad "config check: $out"; }
exit $fail
