#!/bin/sh
# perspectives.sh: multi-perspective corroboration (S/MIME BR 4.2.2.2).
# Three certgate-perspective daemons, each in a network namespace of its
# own with its own DNS server (dnsmasq), answer the issuer, in a namespace
# of its own too, across a bridge over mutually authenticated TLS. One DNS
# server lies about CAA. A lying perspective does not change a decision the
# primary and the other agree on; a lie told to the primary resolver is not
# corroborated and refused (the control without perspectives issues on
# it); a perspective down beyond the quorum defers; a client that is not
# the gateway gets no answer.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
. "$CG_SRC/tests/lib/netns.sh"
ca_test perspectives
NS=cgp$$
P1=10.251.0.2:8853 P2=10.251.0.3:8853 P3=10.251.0.4:8853
pids=""
CA_CLEANUP="net_down $NS i p1 p2 p3"

# The bridge, and a namespace on it for the issuer (10.251.0.1) and each
# perspective (.2, .3, .4).
net_up $NS 10.251.0 i p1 p2 p3

caa_hex() { printf '\000\011issuemail%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
# dns NAME NETNS IP VICTIM-CA ORG-CA: a dnsmasq in that namespace on IP,
# whose CAA for victim.example and example.org (and its e, f and g) names
# those CAs;
# $T/dns-NAME/resolv.conf names it.
dns() {
	d="$T/dns-$1"
	mkdir -p "$d/zones"
	printf 'dns-rr=victim.example,257,%s\ndns-rr=example.org,257,%s\n' "$(caa_hex "$4")" "$(caa_hex "$5")" > "$d/zones/caa.conf"
	for n in e f g; do printf 'dns-rr=%s.example.org,257,%s\n' $n "$(caa_hex "$5")"; done >> "$d/zones/caa.conf"
	printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$3" > "$d/resolv.conf"
	ip netns exec "$NS$2" dnsmasq --conf-file=/dev/null --conf-dir="$d/zones,*.conf" --listen-address="$3" \
		--bind-interfaces --port=53 --no-resolv --no-hosts --no-poll --user=root \
		--pid-file="$d/dnsmasq.pid" --log-facility="$d/dnsmasq.log"
}
# The issuer's primary resolver, honest or lying; each perspective's own.
dns honest1 i 127.0.0.2 other-ca.example ca.example.net
dns liar1 i 127.0.0.3 ca.example.net other-ca.example
dns p1 p1 127.0.0.2 other-ca.example ca.example.net
dns p2 p2 127.0.0.2 ca.example.net other-ca.example
dns p3 p3 127.0.0.2 other-ca.example ca.example.net
# in_issuer CMD...: CMD in the issuer's namespace, with its primary resolver
in_issuer() {
	ip netns exec "${NS}i" unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' \
		"$DNS_DIR/resolv.conf" "$@"
}
drain() { in_issuer "$CG_BIN/certgate-issuer" --drain -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1; }

ca_dirs
ca_conf "LogLevel info" "ExpiryReminders none"
ca_example
$cg domain add victim.example --org 1 --validated > /dev/null

# The perspectives' certificates, from a CA of their own.
P="$T/pki"
mkdir -p "$P"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/ca.key" -out "$P/ca.pem" \
	-subj "/CN=Perspective CA" -days 30 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/p.key" -out "$P/p.csr" \
	-subj "/CN=perspective" 2>/dev/null
printf 'extendedKeyUsage=serverAuth\n' > "$P/ext"
openssl x509 -req -in "$P/p.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial -days 30 \
	-extfile "$P/ext" -out "$P/p.pem" 2>/dev/null
cat "$T/ca/issuing-ca.pem" "$T/ca/root-ca.pem" > "$P/client-ca.pem"
# perspective ADDR NAME: certgate-perspective in namespace NAME, seeing its
# DNS server
perspective() {
	ip netns exec "$NS$2" unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' \
		"$T/dns-$2/resolv.conf" \
		"$CG_BIN/certgate-perspective" --listen "$1" --cert "$P/p.pem" --key "$P/p.key" \
		--client-ca "$P/client-ca.pem" --client-cert "$T/ca/gateway.pem" --trust-anchor none \
		>> "$T/perspective-$2.log" 2>&1 &
	pids="$pids $!"
	i=0
	while ! grep -q "listening on $1" "$T/perspective-$2.log" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}
perspective $P1 p1
p1=$!
perspective $P2 p2
perspective $P3 p3

# use PRIMARY-DNS PERSPECTIVE...: the issuer's resolver and perspectives
use() {
	DNS_DIR="$T/dns-$1"
	shift
	sed -i '/^Perspective/d' "$T/certgate.conf"
	for p in "$@"; do echo "Perspective $p" >> "$T/certgate.conf"; done
	[ $# -eq 0 ] || echo "PerspectiveCA $P/ca.pem" >> "$T/certgate.conf"
}
# issue MAILBOX: queued, the issuer run once; prints the serial, or the
# issuer's log lines about it
issue() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=x" -out "$T/${1%@*}.csr" 2>/dev/null
	rid=$($cg cert issue --org 1 --mailbox "$1" --csr "$T/${1%@*}.csr" | sed -n 's/^request \(R[0-9]*\) queued.*/\1/p')
	: > "$T/issuer.log"
	drain
	s=$(sed -n "s/.*: info: issued \([0-9a-f]*\) for $1,.*/\1/p" "$T/issuer.log")
	[ -n "$s" ] && echo "issued $s" || grep "$1\|job $rid#" "$T/issuer.log" || echo "nothing"
}

# The primary and one perspective honest, one perspective lying.
use honest1 $P1 $P2
out=$(issue a@example.org)
echo "$out" | grep -q "^issued" && $cg audit show | grep "cert.issue" | grep "a@example.org" |
	grep -q "CAA at example.org permits this CA (DNSSEC: not validated; corroborated by 1 of 2 perspectives; $P2 answered otherwise)" &&
	ok "a lying perspective does not stop an issuance the others corroborate (audited)" || bad "a@example.org: $out; $($cg audit show | grep a@example.org)"
out=$(issue a@victim.example)
echo "$out" | grep -q "refused (cert.refuse): .*CAA issuemail at victim.example does not allow" &&
	ok "a lying perspective does not let a forbidden issuance through" || bad "a@victim.example: $out"

# A lie told to the primary resolver: not corroborated.
use liar1 $P1 $P3
out=$(issue b@victim.example)
echo "$out" | grep -q "refused (cert.refuse): the DNS answer for victim.example is not corroborated: 0 of 2 perspectives agree, 1 needed (S/MIME BR 4.2.2.2)" &&
	ok "the primary's lie is not corroborated: refused" || bad "b@victim.example: $out"
use liar1
out=$(issue c@victim.example)
echo "$out" | grep -q "^issued" && ok "control: without perspectives the same lie gets a certificate" || bad "control: $out"

# A perspective down beyond the quorum: the request waits.
use honest1 $P1 $P2
kill $p1
out=$(issue d@example.org)
echo "$out" | grep -q "not corroborated: 0 of 2 perspectives agree, 1 needed.*no answer from $P1.*retry in" &&
	! $cg --json cert list | grep -q '"mailbox": *"d@example.org"' &&
	ok "one perspective down and the other disagreeing: deferred" || bad "d@example.org: $out"

# Only the gateway is answered.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/o.key" -out "$P/o.pem" \
	-subj "/CN=other" -days 1 2>/dev/null
out=$(printf 'resolve example.org 257\n' | timeout 10 ip netns exec "${NS}i" openssl s_client -connect $P2 -quiet -cert "$P/o.pem" \
	-key "$P/o.key" -CAfile "$P/ca.pem" 2>&1 || true)
! echo "$out" | grep -q "^answer" && ok "a client not from the CA gets no answer" || bad "other client: $out"
# One the CA issued, but not the gateway's certificate (pinned).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/s.key" -out "$P/s.csr" \
	-subj "/CN=subscriber" 2>/dev/null
openssl x509 -req -in "$P/s.csr" -CA "$T/ca/issuing-ca.pem" -CAkey "$T/ca/issuing-ca.key" -CAcreateserial \
	-days 1 -out "$P/s.pem" 2>/dev/null
out=$(printf 'resolve example.org 257\n' | timeout 10 ip netns exec "${NS}i" openssl s_client -connect $P2 -quiet -cert "$P/s.pem" \
	-key "$P/s.key" -CAfile "$P/ca.pem" 2>&1 || true)
grep -q "refused a client that is not the gateway (CN=subscriber)" "$T/perspective-p2.log" && ! echo "$out" | grep -q "^answer" &&
	ok "another certificate of the CA gets no answer either" || bad "subscriber client: $out"
out=$(printf 'resolve example.org 257\n' | timeout 10 ip netns exec "${NS}i" openssl s_client -connect $P2 -quiet -cert "$T/ca/gateway.pem" \
	-key "$T/ca/gateway.key" -CAfile "$P/ca.pem" 2>&1 || true)
echo "$out" | grep -q "^answer off 1" && ok "the gateway is answered (openssl s_client)" || bad "gateway: $out"

# The issuer daemon keeps one TLS context for the perspectives and makes it
# again when its files change: with a gateway certificate the perspectives
# do not pin, nothing is corroborated; with the pinned one back, the same
# process issues again.
# (Each mailbox at a domain of its own: CAA answers are kept for a minute.)
use honest1 $P3
for d in e f g; do $cg domain add $d.example.org --org 1 --validated > /dev/null; done
in_issuer "$CG_BIN/certgate-issuer" -f -c "$T/certgate.conf" >> "$T/daemon.log" 2>&1 &
ipid=$!
# queued MAILBOX PATTERN: a request for MAILBOX, then up to 10 s for
# PATTERN in the daemon's log
queued() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=x" -out "$T/${1%@*}.csr" 2>/dev/null
	$cg cert issue --org 1 --mailbox "$1" --csr "$T/${1%@*}.csr" > /dev/null
	i=0
	while ! grep -q "$2" "$T/daemon.log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	grep -q "$2" "$T/daemon.log"
}
queued e@e.example.org "issued [0-9a-f]* for e@e.example.org" &&
	ok "the daemon issues, corroborated" || bad "e@e.example.org: $(tail -3 "$T/daemon.log")"
cp "$T/ca/gateway.pem" "$T/gateway.pem.saved"
cp "$T/ca/gateway.key" "$T/gateway.key.saved"
cp "$P/s.pem" "$T/ca/gateway.pem"
cp "$P/s.key" "$T/ca/gateway.key"
queued f@f.example.org "f@f.example.org.*\|job R[0-9]*#.*not corroborated: 0 of 1 perspectives agree, 1 needed.*no answer from $P3" &&
	grep -q "not corroborated: 0 of 1 perspectives agree, 1 needed.*no answer from $P3" "$T/daemon.log" &&
	! grep -q "issued [0-9a-f]* for f@f.example.org" "$T/daemon.log" &&
	ok "a changed gateway certificate is used at once (the perspective refuses it)" || bad "f@f.example.org: $(tail -3 "$T/daemon.log")"
cp "$T/gateway.pem.saved" "$T/ca/gateway.pem"
cp "$T/gateway.key.saved" "$T/ca/gateway.key"
queued g@g.example.org "issued [0-9a-f]* for g@g.example.org" &&
	ok "the pinned certificate back: the same daemon issues" || bad "g@g.example.org: $(tail -3 "$T/daemon.log")"
kill $ipid
wait $ipid 2>/dev/null || true
DNS_DIR= # its dnsmasq ends with its namespace (net_down)
exit $fail
