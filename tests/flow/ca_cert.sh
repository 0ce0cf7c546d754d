#!/bin/sh
# ca_cert.sh: the CA's own certificates.
# The issuer does not start on CA files that do not fit: a CACertificate
# that is not a CA's (the gateway's certificate with its own key), a
# CAChain that does not begin with it, a chain whose root did not sign it.
# A certificate never outlives its issuing CA. The issuing CA's
# certificate is made again by the openssl CLI with the same key and
# subject, ending in 100 days: a certificate of 730 days asked for now ends
# with it (openssl reads the same end in both; the chain verifies; the audit
# says why it is shorter); one asked for after the CA's end (the issuer's
# clock moved by libfaketime) is not issued, and its request waits for a
# renewed CA certificate instead of being refused.
# The root's work with its key: `ca root-crl` makes the root CRL again (and
# the figures warn before it lapses), `ca renew-issuing` the issuing CA's
# certificate for the same key. The gateway's certificates: warned of
# before their end; `ca gateway-renew` makes the signing pair again.
# Each host's copies of the CA's files are compared with what the verbs
# that wrote them noted in the database (the figures, the issuer's log);
# `ca note-files` notes files put in place by hand.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test ca_cert
dns_start "$T/dns" 127.0.0.57
ca_dirs
ca_conf "ExpiryReminders none"
ca_example

# starts CONF: the issuer's exit status and first error line with CONF
starts() {
	rc=0
	out=$(dns_run "$CG_BIN/certgate-issuer" --drain -c "$1" 2>&1) || rc=$?
	echo "exit $rc: $(echo "$out" | grep -m1 -i "error\|cannot\|not ")"
}
# conf_with KEY VALUE...: a copy of the configuration with those keys
conf_with() {
	cp "$T/certgate.conf" "$T/c2.conf"
	while [ $# -gt 1 ]; do
		sed -i "/^$1 /d" "$T/c2.conf"
		echo "$1 $2" >> "$T/c2.conf"
		shift 2
	done
	echo "$T/c2.conf"
}
out=$(starts "$(conf_with CACertificate "$T/ca/gateway.pem" CAKey "$T/ca/gateway.key")")
echo "$out" | grep -q "^exit [1-9].*CACertificate $T/ca/gateway.pem is not a CA's certificate" &&
	ok "the gateway's certificate as the CA's: the issuer does not start ($out)" || bad "not a CA: $out"
cp "$T/ca/root-ca.pem" "$T/root-only.pem"
out=$(starts "$(conf_with CAChain "$T/root-only.pem")")
echo "$out" | grep -q "^exit [1-9].*CAChain $T/root-only.pem does not begin with CACertificate" &&
	ok "a chain without the CA's certificate first: the issuer does not start" || bad "chain first: $out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$T/other-root.key" \
	-subj "/CN=Other Root" -days 30 -out "$T/other-root.pem" 2>/dev/null
cat "$T/ca/issuing-ca.pem" "$T/other-root.pem" > "$T/other-chain.pem"
out=$(starts "$(conf_with CAChain "$T/other-chain.pem")")
echo "$out" | grep -q "^exit [1-9].*does not verify to the last certificate of CAChain $T/other-chain.pem" &&
	ok "a chain whose root did not sign the CA's certificate: the issuer does not start" || bad "other root: $out"
out=$(starts "$T/certgate.conf")
echo "$out" | grep -q "^exit 0" && ok "control: the files ca init made start it" || bad "control: $out"

# The issuing CA's certificate again, from the root, by openssl ca: the
# same key, subject and extensions, 100 days.
O="$T/oca"
mkdir -p "$O"
: > "$O/index.txt"
cat > "$O/ca.cnf" <<EOF
[ca]
default_ca = c
[c]
database = $O/index.txt
new_certs_dir = $O
serial = $O/serial
default_md = sha384
policy = any
preserve = yes
copy_extensions = copyall
unique_subject = no
[any]
commonName = supplied
organizationName = optional
countryName = optional
EOF
echo 7001 > "$O/serial"
openssl x509 -x509toreq -in "$T/ca/issuing-ca.pem" -key "$T/ca/issuing-ca.key" -copy_extensions copyall \
	-out "$O/issuing.csr" 2>/dev/null
openssl ca -batch -config "$O/ca.cnf" -cert "$T/ca/root-ca.pem" -keyfile "$T/ca/root-ca.key" -days 100 \
	-notext -in "$O/issuing.csr" -out "$O/issuing-100d.pem" 2>"$O/ca.log" || { cat "$O/ca.log"; exit 1; }

# The same issuing key under an intermediate CA of the root (openssl), its
# chain the issuing CA and the intermediate without the root: the chain's
# last certificate is the anchor, and the issuer starts.
I="$T/inter"
mkdir -p "$I"
: > "$I/index.txt"
echo 7101 > "$I/serial"
sed "s|$O|$I|g" "$O/ca.cnf" > "$I/ca.cnf"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$I/inter.key" \
	-subj "/O=certgate/CN=certgate Intermediate" -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$I/inter.csr" 2>/dev/null
openssl ca -batch -config "$I/ca.cnf" -cert "$T/ca/root-ca.pem" -keyfile "$T/ca/root-ca.key" -days 30 \
	-notext -in "$I/inter.csr" -out "$I/inter.pem" 2>"$I/ca.log" &&
	openssl ca -batch -config "$I/ca.cnf" -cert "$I/inter.pem" -keyfile "$I/inter.key" -days 30 \
		-notext -in "$O/issuing.csr" -out "$I/issuing.pem" 2>>"$I/ca.log" || cat "$I/ca.log"
cat "$I/issuing.pem" "$I/inter.pem" > "$I/chain.pem"
out=$(starts "$(conf_with CACertificate "$I/issuing.pem" CAChain "$I/chain.pem")")
echo "$out" | grep -q "^exit 0" && ok "under an intermediate, the root left out of the chain: the issuer starts" ||
	bad "intermediate: $out"
cp "$O/issuing-100d.pem" "$T/ca/issuing-ca.pem"
cat "$T/ca/issuing-ca.pem" "$T/ca/root-ca.pem" > "$T/ca/chain.pem"
ca_end=$(openssl x509 -noout -enddate -in "$T/ca/issuing-ca.pem" | cut -d= -f2)
[ -n "$ca_end" ] && openssl verify -CAfile "$T/ca/root-ca.pem" "$T/ca/issuing-ca.pem" > /dev/null &&
	ok "the issuing CA's certificate made again by openssl, ending $ca_end" || bad "openssl ca: $(cat "$O/ca.log")"
# ca init noted its files in the database (for the CA's other hosts, which
# hold copies): these two, put in place by hand, are not the noted ones
# until the operator says so with ca note-files (audited).
host=$(hostname)
st=$($cg stats)
echo "$st" | grep -q "^WARNING *the issuing CA's certificate $T/ca/issuing-ca.pem here is not the one \`certgate ca init\` left on $host at 20" &&
	echo "$st" | grep -q "^WARNING *the CA chain $T/ca/chain.pem here is not the one \`certgate ca init\` left on $host at 20" &&
	[ "$(echo "$st" | grep -c "here is not\|cannot be read here")" -eq 2 ] &&
	ok "the CA's files changed by hand: the figures say which differ from the noted ones" ||
	bad "stats after the files changed by hand: $(echo "$st" | grep WARNING)"
$cg ca note-files | grep -q "noted as the current ones" && [ -z "$($cg stats | grep "here is not")" ] &&
	$cg audit show | grep -q "ca.note-files" && ok "ca note-files: noted, no warning, audited" ||
	bad "note-files: $($cg stats | grep WARNING)"

# queue MAILBOX: a request for a certificate of DefaultValidity (730 days)
queue() {
	ca_csr "${1%@*}"
	$cg cert issue --org 1 --mailbox "$1" --csr "$T/${1%@*}.csr" > /dev/null
}
serial_of() { $cg --json cert list | tr '{' '\n' | grep "\"$1\"" | sed -n 's/.*"serial": *"\([0-9a-f]*\)".*/\1/p'; }

queue anna@example.org
drain
s=$(serial_of anna@example.org)
if [ -n "$s" ]; then
	$cg cert show "$s" --pem > "$T/anna.pem"
	end=$(openssl x509 -noout -enddate -in "$T/anna.pem" | cut -d= -f2)
	[ "$end" = "$ca_end" ] && ok "730 days asked for: the certificate ends with its CA ($end)" ||
		bad "the certificate ends $end, its CA $ca_end"
	openssl verify -CAfile "$T/ca/root-ca.pem" -untrusted "$T/ca/issuing-ca.pem" -purpose smimesign \
		"$T/anna.pem" > /dev/null && ok "its chain verifies (openssl verify)" || bad "openssl verify failed"
	$cg audit show | grep "cert.issue" | grep "$s" | grep -q "the issuing CA's end (not 730 days)" &&
		ok "the audit says the validity was cut to the CA's end" || bad "audit: $($cg audit show | grep "$s")"
else
	bad "no certificate for anna@example.org: $(tail -3 "$T/issuer.log")"
fi

# After the CA's end: nothing issued, the request kept queued.
queue bob@example.org
: > "$T/issuer.log"
drain_later +101d
[ -z "$(serial_of bob@example.org)" ] &&
	grep -q "issue job R[0-9]*#1: the issuing CA's certificate ended at .*: nothing is issued under it until it is renewed (CACertificate); retry in" "$T/issuer.log" &&
	! grep -q "bob@example.org.*refused\|cert.refuse" "$T/issuer.log" &&
	$cg queue show | grep -q "issue" &&
	ok "after the CA's end: not issued, the request waits (logged)" ||
	bad "after the CA's end: $(grep -i "bob\|ended\|issue job" "$T/issuer.log" | tail -3)"

# The root's work, with its key. The root CRL ca init wrote (number 1,
# 365 days) made again: number 2, verified by openssl with the root, good
# for 365 days from now; the digest's figures show its nextUpdate, and warn
# 30 days before it and after it (the clock moved by libfaketime).
rk="$T/ca/root-ca.key"
rcrl="$T/crl/root-ca.crl"
out=$($cg ca root-crl --root-key "$rk")
crlnum=$(openssl crl -inform DER -in "$rcrl" -noout -crlnumber | cut -d= -f2)
next=$(date -d "$(openssl crl -inform DER -in "$rcrl" -noout -nextupdate | cut -d= -f2)" +%s)
left=$(( (next - $(date +%s)) / 86400 ))
echo "$out" | grep -q "^root CRL 2 written to $rcrl" && [ "$crlnum" = 0x02 ] && [ "$left" -ge 364 ] && [ "$left" -le 365 ] &&
	openssl crl -inform DER -in "$rcrl" -CAfile "$T/ca/root-ca.pem" -noout 2>&1 | grep -q "verify OK" &&
	$cg audit show | grep -q "ca.root-crl .*root CRL 2 written" &&
	ok "ca root-crl: number 2, $left days, verified by openssl, audited" || bad "root-crl: $out; number $crlnum, $left days"
$cg --json stats | grep -q "\"rootCrlNextUpdate\":$next," && ok "stats show its nextUpdate" ||
	bad "stats: $($cg --json stats | grep -o '"rootCrlNextUpdate":[0-9]*')"
# stats_at OFFSET: the figures' root CRL warning with the clock moved (ASan
# tolerates the preloaded library, as in drain_later)
stats_at() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" faketime -f "$1" $cg stats 2>&1 |
		grep "WARNING.*root CRL" || true
}
[ -z "$(stats_at +300d)" ] && stats_at +340d | grep -q "the root CRL $rcrl is good until" &&
	stats_at +370d | grep -q "the root CRL $rcrl expired on .*refuse the issuing CA" &&
	ok "the digest warns 30 days before the root CRL's nextUpdate, and after it" ||
	bad "warnings: +300d '$(stats_at +300d)', +340d '$(stats_at +340d)', +370d '$(stats_at +370d)'"
$cg ca show | grep -qx "root CRL: *$rcrl (next update $(date -u -d "@$next" +%Y-%m-%dT%H:%M:%SZ))" &&
	ok "ca show names the root CRL and its next update" || bad "ca show: $($cg ca show | grep 'root CRL')"
cp "$rcrl" "$T/root-crl.saved"
echo "not a CRL" > "$rcrl"
$cg stats | grep -q "WARNING *the root CRL $rcrl cannot be read" && $cg ca show | grep -q "root CRL: .*(unreadable)" &&
	ok "a root CRL that does not parse is said so" || bad "unreadable root CRL: $($cg stats | grep 'root CRL')"
cp "$T/root-crl.saved" "$rcrl"
rc=0
out=$($cg ca root-crl --root-key "$T/ca/issuing-ca.key" 2>&1) || rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "is not the key of the root" && [ "$(openssl crl -inform DER -in "$rcrl" -noout -crlnumber | cut -d= -f2)" = 0x02 ] &&
	ok "another key is refused, the CRL left as it was" || bad "root-crl with the issuing key: exit $rc: $out"

# The issuing CA's certificate made again for 200 days: the same key and
# subject, a new serial, signed by the root (openssl verify); the files
# before kept; the issuer starts on it and a certificate ends with it.
cp "$T/ca/issuing-ca.pem" "$T/issuing-before.pem"
rc=0
out=$($cg ca renew-issuing --root-key "$rk" --days 0 2>&1) || rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q -- "--days takes 1 to 3660" && cmp -s "$T/ca/issuing-ca.pem" "$T/issuing-before.pem" &&
	ok "--days 0 is a usage error, nothing written" || bad "--days 0: exit $rc: $out"
out=$($cg ca renew-issuing --root-key "$rk" --days 200)
new="$T/ca/issuing-ca.pem"
pk() { openssl x509 -in "$1" -noout -pubkey; }
val() { openssl x509 -in "$1" -noout "$2"; }
end=$(date -d "$(val "$new" -enddate | cut -d= -f2)" +%s)
left=$(( (end - $(date +%s)) / 86400 ))
echo "$out" | grep -q "^issuing CA certificate made again: serial" &&
	echo "$out" | grep -q "publish it at http://ca.example.net/ca/issuing-ca.cer" &&
	[ "$(pk "$new")" = "$(pk "$T/issuing-before.pem")" ] &&
	[ "$(val "$new" -subject)" = "$(val "$T/issuing-before.pem" -subject)" ] &&
	[ "$(val "$new" -serial)" != "$(val "$T/issuing-before.pem" -serial)" ] &&
	[ "$left" -ge 199 ] && [ "$left" -le 200 ] &&
	openssl verify -CAfile "$T/ca/root-ca.pem" "$new" > /dev/null &&
	cmp -s "$T/ca/issuing-ca.pem.previous" "$T/issuing-before.pem" &&
	[ "$(openssl x509 -in "$T/ca/chain.pem" -noout -serial)" = "$(val "$new" -serial)" ] &&
	$cg audit show | grep -q "ca.renew-issuing" &&
	ok "ca renew-issuing: the same key and subject, a new serial, $left days, verified by openssl; the old kept" ||
	bad "renew-issuing: $out ($left days)"
# Another host of the CA (its own files, the same replicated database):
# its copy of the issuing CA's certificate is the one before, and it has no
# root CRL. Its figures say so, naming the verb, the host and the time, and
# its issuer logs it when it starts taking jobs; with a copy, nothing.
mkdir -p "$T/other/crl"
cp "$T/issuing-before.pem" "$T/other/issuing-ca.pem"
cp "$T/ca/chain.pem.previous" "$T/other/chain.pem"
c2=$(conf_with CACertificate "$T/other/issuing-ca.pem" CAChain "$T/other/chain.pem" CrlPath "$T/other/crl/issuing-ca.crl")
chown certgate-ca "$T/other/crl"
st=$($CG_BIN/certgate -c "$c2" stats)
echo "$st" | grep -q "^WARNING *the issuing CA's certificate $T/other/issuing-ca.pem here is not the one \`certgate ca renew-issuing\` left on $host at 20.*: copy it from there" &&
	echo "$st" | grep -q "^WARNING *the CA chain $T/other/chain.pem here is not the one \`certgate ca renew-issuing\` left" &&
	echo "$st" | grep -q "^WARNING *the root CRL $T/other/crl/root-ca.crl cannot be read here; it should be the one \`certgate ca root-crl\` left on $host" &&
	ok "another host's stale or missing CA files: named in its figures" || bad "other host: $(echo "$st" | grep WARNING)"
dns_run "$CG_BIN/certgate-issuer" --drain -c "$c2" > "$T/other/issuer.log" 2>&1 || true
grep -q "warning: the issuing CA's certificate $T/other/issuing-ca.pem here is not the one" "$T/other/issuer.log" &&
	ok "and logged by its issuer as it starts" || bad "other host's issuer: $(tail -5 "$T/other/issuer.log")"
cp "$T/ca/issuing-ca.pem" "$T/ca/chain.pem" "$T/other/"
cp "$T/crl/root-ca.crl" "$T/other/crl/root-ca.crl"
[ -z "$($CG_BIN/certgate -c "$c2" stats | grep "here is not\|cannot be read here")" ] &&
	ok "with copies of the current files: no warning" || bad "after the copies: $($CG_BIN/certgate -c "$c2" stats | grep WARNING)"
queue carol@example.org
drain
s=$(serial_of carol@example.org)
if [ -n "$s" ]; then
	$cg cert show "$s" --pem > "$T/carol.pem"
	[ "$(val "$T/carol.pem" -enddate)" = "$(val "$new" -enddate)" ] &&
		openssl verify -CAfile "$T/ca/root-ca.pem" -untrusted "$T/ca/chain.pem" -purpose smimesign "$T/carol.pem" > /dev/null &&
		ok "issued under it: ends with it, verifies" || bad "carol: $(val "$T/carol.pem" -enddate), CA $(val "$new" -enddate)"
else
	bad "no certificate for carol@example.org: $(tail -3 "$T/issuer.log")"
fi
# A running issuer takes a renewed certificate at its reload; a chain its
# root did not sign, put in place by mistake, is refused at the reload and
# the running one kept.
: > "$T/issuer.log"
ca_issuer
cp "$T/ca/chain.pem" "$T/chain-good.pem"
cat "$T/ca/issuing-ca.pem" "$T/other-root.pem" > "$T/ca/chain.pem"
kill -USR1 "$ipid"
wait_for 10 logged "reload: keeping the running CA material: .*does not verify to the last certificate" &&
	ok "a reload with a chain of another root keeps the running CA material" || bad "bad reload: $(tail -2 "$T/issuer.log")"
cp "$T/chain-good.pem" "$T/ca/chain.pem"
$cg ca renew-issuing --root-key "$rk" --days 300 > /dev/null
kill -USR1 "$ipid"
wait_for 10 logged "configuration and CA material reloaded" || bad "no reload: $(tail -2 "$T/issuer.log")"
queue dave@example.org
if wait_for 20 logged "issued [0-9a-f]* for dave@example.org"; then
	$cg cert show "$(serial_of dave@example.org)" --pem > "$T/dave.pem"
	[ "$(val "$T/dave.pem" -enddate)" = "$(val "$new" -enddate)" ] &&
		[ "$(val "$T/dave.pem" -enddate)" != "$(val "$T/carol.pem" -enddate)" ] &&
		ok "after the reload the running issuer issues under the renewed certificate" ||
		bad "dave ends $(val "$T/dave.pem" -enddate), the CA $(val "$new" -enddate)"
else
	bad "dave@example.org not issued: $(tail -3 "$T/issuer.log")"
fi
# The gateway's own certificates (730 days from ca init): the figures warn
# 30 days before their end; ca gateway-renew makes a new signing pair (a new
# key, the same mailbox), which openssl verifies to the root and which ends
# with the issuing CA now (renewed above to 300 days), the pair before kept.
gw_warn() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" faketime -f "$1" $cg stats 2>&1 |
		grep "WARNING.*the gateway's" || true
}
[ -z "$(gw_warn +650d)" ] &&
	gw_warn +710d | grep -q "the gateway's signing certificate $T/ca/gateway.pem ends on .*(certgate ca gateway-renew)" &&
	gw_warn +710d | grep -q "the gateway's encryption certificate $T/ca/gateway-enc.pem ends on .*(certgate ca gateway-rekey)" &&
	gw_warn +740d | grep -q "the gateway's signing certificate $T/ca/gateway.pem ended on" &&
	ok "the figures warn 30 days before the gateway's certificates end, and after" ||
	bad "gateway warnings: +650d '$(gw_warn +650d)'; +710d '$(gw_warn +710d)'"
cp "$T/ca/gateway.pem" "$T/gw-before.pem"
cp "$T/ca/gateway.key" "$T/gw-before.key"
out=$($cg ca gateway-renew)
gw="$T/ca/gateway.pem"
san() { openssl x509 -in "$1" -noout -ext subjectAltName | tail -1; }
echo "$out" | grep -q "^new gateway signing certificate " && echo "$out" | grep -q "copy $gw to each perspective" &&
	[ "$(pk "$gw")" != "$(pk "$T/gw-before.pem")" ] &&
	[ "$(openssl pkey -in "$T/ca/gateway.key" -pubout)" = "$(pk "$gw")" ] &&
	[ "$(stat -c %a "$T/ca/gateway.key")" = 600 ] &&
	[ "$(san "$gw")" = "$(san "$T/gw-before.pem")" ] &&
	[ "$(val "$gw" -enddate)" = "$(val "$new" -enddate)" ] &&
	openssl verify -CAfile "$T/ca/root-ca.pem" -untrusted "$T/ca/chain.pem" -purpose smimesign "$gw" > /dev/null &&
	cmp -s "$T/ca/gateway.pem.previous" "$T/gw-before.pem" && cmp -s "$T/ca/gateway.key.previous" "$T/gw-before.key" &&
	[ "$(stat -c %a "$T/ca/gateway.key.previous")" = 600 ] &&
	$cg audit show | grep -q "ca.gateway-renew" &&
	ok "ca gateway-renew: a new key, the same mailbox, verified by openssl, ending with the issuing CA; the pair before kept" ||
	bad "gateway-renew: $out"
gw_end=$(date -d "$(val "$gw" -enddate | cut -d= -f2)" +%s)
$cg --json stats | grep -q "\"gatewayNotAfter\":$gw_end," && ok "the figures show the new certificate's end" ||
	bad "stats: $($cg --json stats | grep -o '"gatewayNotAfter":[0-9]*'), openssl $gw_end"
out=$(starts "$T/certgate.conf")
echo "$out" | grep -q "^exit 0" && ok "the issuer starts with the new pair" || bad "start after gateway-renew: $out"
$cg audit verify > /dev/null && ok "audit chain intact" || bad "audit chain broken"
exit $fail
