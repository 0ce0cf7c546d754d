#!/bin/sh
# perspectives.sh: multi-perspective corroboration (S/MIME BR 4.2.2.2).
# Three certgate-perspective daemons, each in a network namespace of its
# own with its own DNS server (dnsmasq), answer the issuer, in a namespace
# of its own too, across a bridge over mutually authenticated TLS. One DNS
# server lies about CAA. A lying perspective does not change a decision the
# primary and the other agree on; a lie told to the primary resolver is not
# corroborated and refused (the control without perspectives issues on
# it); a perspective down beyond the quorum defers; a client that is not
# the gateway gets no answer. A perspective under load from another
# address (connections that say nothing, or trickle) keeps its threads
# bounded, cuts what overstays and still answers the gateway; a reload
# pins a renewed gateway certificate; a stop answers the query at work.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
. "$CG_SRC/tests/lib/netns.sh"
ca_test perspectives
NS=cgp$$
P1=10.251.0.2:8853 P2=10.251.0.3:8853 P3=10.251.0.4:8853
pids=""
CA_CLEANUP="net_down $NS i p1 p2 p3 x"

# The bridge, and a namespace on it for the issuer (10.251.0.1), each
# perspective (.2, .3, .4) and a stranger (.5).
net_up $NS 10.251.0 i p1 p2 p3 x

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
# The issuer's /etc/hosts names two perspectives.
printf '127.0.0.1 localhost\n10.251.0.2 p1.perspectives.test\n10.251.0.4 p3.perspectives.test\n' > "$T/hosts"
# in_issuer CMD...: CMD in the issuer's namespace, with its primary resolver
# and those names (the process itself: ip, unshare and sh each exec the next,
# so that CMD & gives CMD's pid in $!, when not called as a function)
IN_ISSUER='mount --bind "$0" /etc/resolv.conf && mount --bind "$1" /etc/hosts && shift && exec "$@"'
in_issuer() {
	ip netns exec "${NS}i" unshare -m sh -c "$IN_ISSUER" "$DNS_DIR/resolv.conf" "$T/hosts" "$@"
}
drain() { in_issuer "$CG_BIN/certgate-issuer" --drain -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1; }

ca_dirs
ca_conf "LogLevel info" "ExpiryReminders none"
ca_example
$cg domain add victim.example --org 1 --validated > /dev/null

# The perspectives' certificates, from a CA of their own, each naming its
# perspective's addresses (the issuer checks them against its Perspective
# lines).
P="$T/pki"
mkdir -p "$P"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/ca.key" -out "$P/ca.pem" \
	-subj "/CN=Perspective CA" -days 30 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign 2>/dev/null
# pcert NAME SUBJECTALTNAME: $P/NAME.pem and .key
pcert() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" \
		-subj "/CN=perspective $1" 2>/dev/null
	printf 'extendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$2" > "$P/$1.ext"
	openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial -days 30 \
		-extfile "$P/$1.ext" -out "$P/$1.pem" 2>/dev/null
}
pcert p1 IP:10.251.0.2
pcert p2 IP:10.251.0.3,IP:fd00:251::3
pcert p3 IP:10.251.0.4,DNS:p3.perspectives.test
cat "$T/ca/issuing-ca.pem" "$T/ca/root-ca.pem" > "$P/client-ca.pem"
# perspective ADDR NAME [OPTION...]: certgate-perspective in namespace
# NAME, seeing its DNS server, with the certificate of ${PCERT:-NAME},
# logging to $T/perspective-${PLOG:-NAME}.log
perspective() {
	a=$1 n=$2 c=${PCERT:-$2} log="$T/perspective-${PLOG:-$2}.log"
	shift 2
	ip netns exec "$NS$n" unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' \
		"$T/dns-$n/resolv.conf" \
		"$CG_BIN/certgate-perspective" --listen "$a" --cert "$P/$c.pem" --key "$P/$c.key" \
		--client-ca "$P/client-ca.pem" --client-cert "$T/ca/gateway.pem" --trust-anchor none "$@" \
		>> "$log" 2>&1 &
	pids="$pids $!"
	i=0
	while ! grep -q "listening on $a" "$log" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
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

# p1's key and certificate (PerspectiveCA's, naming p1's address) at
# another address, the stranger's (.5), whose resolver tells the primary's
# lie: its certificate does not name the address it answers at, and it
# does not count. (Counted, it would corroborate the lie, 1 of 2, and the
# certificate would be issued: one key would answer for every perspective.)
X=10.251.0.5:8853
dns x x 127.0.0.2 ca.example.net other-ca.example
PCERT=p1 perspective $X x
use liar1 $X $P3
out=$(issue b2@victim.example)
echo "$out" | grep -q "not corroborated: 0 of 2 perspectives agree, 1 needed.*no answer from $X: TLS handshake failed (IP address mismatch)" &&
	! $cg --json cert list | grep -q '"mailbox": *"b2@victim.example"' &&
	ok "a perspective's certificate at an address it does not name is refused: the lie is not corroborated" ||
	bad "b2@victim.example: $out"
kill $!

# Perspectives named by DNS names: p3's certificate names its name, p1's
# only its address (not answered as p1.perspectives.test).
use honest1 p3.perspectives.test:8853 p1.perspectives.test:8853
out=$(issue a2@example.org)
echo "$out" | grep -q "^issued" && $cg audit show | grep "cert.issue" | grep "a2@example.org" |
	grep -q "corroborated by 1 of 2 perspectives; no answer from p1.perspectives.test:8853: TLS handshake failed (hostname mismatch)" &&
	ok "a perspective named by its DNS name: its certificate's dNSName is checked" ||
	bad "a2@example.org: $out; $($cg audit show | grep a2@example.org)"

# A perspective down beyond the quorum: the request waits.
use honest1 $P1 $P2
kill $p1
out=$(issue d@example.org)
echo "$out" | grep -q "not corroborated: 0 of 2 perspectives agree, 1 needed.*no answer from $P1.*retry in" &&
	! $cg --json cert list | grep -q '"mailbox": *"d@example.org"' &&
	ok "one perspective down and the other disagreeing: deferred" || bad "d@example.org: $out"

# A perspective that completes the handshake and closes without a word
# (killed at work, or cut at its time): no answer, said so, and nothing
# else (no library assertion about an empty reply).
ip netns exec "${NS}p1" openssl s_server -accept $P1 -cert "$P/p1.pem" -key "$P/p1.key" -quiet \
	< /dev/null > /dev/null 2>&1 &
mute=$!
sleep 0.5
out=$(issue d2@example.org)
kill $mute
wait $mute 2> /dev/null || true
echo "$out" | grep -q "not corroborated: 0 of 2 perspectives agree, 1 needed.*$P1: no answer" &&
	! grep -qi "assertion\|critical" "$T/issuer.log" &&
	ok "a perspective that closes without answering: no answer, nothing else" ||
	bad "mute perspective: $out; $(grep -i "assertion\|critical" "$T/issuer.log" | head -2)"

# Only the gateway is answered.
# asks ADDR CERT KEY: a query to the perspective at ADDR from the issuer's
# namespace, with that client certificate (openssl s_client); what came back
asks() {
	printf 'resolve example.org 257\n' | timeout 10 ip netns exec "${NS}i" openssl s_client -connect "$1" -quiet \
		-cert "$2" -key "$3" -CAfile "$P/ca.pem" 2>&1 || true
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/o.key" -out "$P/o.pem" \
	-subj "/CN=other" -days 1 2>/dev/null
out=$(asks $P2 "$P/o.pem" "$P/o.key")
! echo "$out" | grep -q "^answer" && ok "a client not from the CA gets no answer" || bad "other client: $out"
# One the CA issued, but not the gateway's certificate (pinned).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/s.key" -out "$P/s.csr" \
	-subj "/CN=subscriber" 2>/dev/null
openssl x509 -req -in "$P/s.csr" -CA "$T/ca/issuing-ca.pem" -CAkey "$T/ca/issuing-ca.key" -CAcreateserial \
	-days 1 -out "$P/s.pem" 2>/dev/null
out=$(asks $P2 "$P/s.pem" "$P/s.key")
grep -q "refused a client that is not the gateway (CN=subscriber)" "$T/perspective-p2.log" && ! echo "$out" | grep -q "^answer" &&
	ok "another certificate of the CA gets no answer either" || bad "subscriber client: $out"
out=$(asks $P2 "$T/ca/gateway.pem" "$T/ca/gateway.key")
echo "$out" | grep -q "^answer off 1" && ok "the gateway is answered (openssl s_client)" || bad "gateway: $out"

# The issuer daemon keeps one TLS context for the perspectives and makes it
# again when its files change: with a gateway certificate the perspectives
# do not pin, nothing is corroborated; with the pinned one back, the same
# process issues again.
# (Each mailbox at a domain of its own: CAA answers are kept for a minute.)
use honest1 $P3
for d in e f g; do $cg domain add $d.example.org --org 1 --validated > /dev/null; done
# (not through the function: $! would be the subshell running it, and the
# daemon would outlive its kill)
ip netns exec "${NS}i" unshare -m sh -c "$IN_ISSUER" "$DNS_DIR/resolv.conf" "$T/hosts" \
	"$CG_BIN/certgate-issuer" -f -c "$T/certgate.conf" >> "$T/daemon.log" 2>&1 &
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
grep -q "certgate-issuer stopping" "$T/daemon.log" && ok "the daemon stops" || bad "the daemon did not stop"

# Load from a stranger's address. A fourth perspective, in p2's namespace,
# with small limits: 6 connections at once, 3 from one address, 3 s each.
P4=10.251.0.3:8854
PLOG=p4 perspective $P4 p2 --max-queries 6 --max-per-address 3 --timeout 3
p4=$!
# its threads that serve a connection (GLib names them)
threads() { cat /proc/$p4/task/*/comm 2>/dev/null | grep -c '^query$' || true; }
# gateway_asks [SECONDS]: the gateway's query to P4 by openssl s_client
# (sent after SECONDS); prints what came back
gateway_asks() {
	(
		sleep "${1:-0}"
		printf 'resolve example.org 257\n'
		sleep 5
	) | timeout 15 ip netns exec "${NS}i" openssl s_client -connect $P4 -quiet -cert "$T/ca/gateway.pem" \
		-key "$T/ca/gateway.key" -CAfile "$P/ca.pem" 2>&1 || true
}
# stranger SCRIPT ARG...: perl from the stranger's namespace (.5)
stranger() { ip netns exec "${NS}x" perl -MIO::Socket::INET -MIO::Select -MTime::HiRes=time,sleep -e "$@"; }
# between PREFIX LO HI < FILE: FILE has a line PREFIX followed by a number
# from LO to HI
between() { awk -v lo="$2" -v hi="$3" -v p="$1" 'index($0, p) == 1 { v = substr($0, length(p) + 1) + 0; ok = v >= lo && v <= hi } END { exit !ok }'; }
# 20 connections that say nothing: each past the third is closed at once,
# the three are cut at 3 s (within 2.5-4.5 s of the last connect), and the
# perspective never has more than three threads serving connections.
# Meanwhile the gateway is answered.
stranger '
	my @s = map { IO::Socket::INET->new(PeerAddr => $ARGV[0], Timeout => 3) or die "connect: $!" } 1 .. 20;
	my $t0 = time;
	sleep 1;
	my $sel = IO::Select->new(@s);
	my $closed = grep { my $b; !sysread($_, $b, 1) } $sel->can_read(0);
	print "closed at once: $closed\n";
	while ($sel->count && time - $t0 < 12) {
		for ($sel->can_read(0.2)) { my $b; $sel->remove($_) if !sysread($_, $b, 1) }
	}
	printf "all closed after %.1f s\n", time - $t0 if !$sel->count;
	print "still open after 12 s: ", $sel->count, "\n" if $sel->count;
' $P4 > "$T/idle.out" 2>&1 &
idle=$!
sleep 0.5
most=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	n=$(threads)
	[ "$n" -le "$most" ] || most=$n
	sleep 0.1
done
out=$(gateway_asks)
wait $idle || true
grep -q "^closed at once: 17$" "$T/idle.out" && between "all closed after " 2.5 4.5 < "$T/idle.out" &&
	[ "$most" -le 3 ] && grep -q "refused a connection from 10.251.0.5: --max-per-address reached" "$T/perspective-p4.log" &&
	ok "20 silent connections from one address: 3 served, the rest closed at once, cut at 3 s (query threads at most $most)" ||
	bad "silent connections: query threads at most $most; $(cat "$T/idle.out"); $(tail -3 "$T/perspective-p4.log")"
echo "$out" | grep -q "^answer off 1" && ok "meanwhile the gateway is answered" || bad "gateway under load: $out"

# Six places in all: three from each of two addresses take them, and a
# third address is closed at once too.
ip -n "${NS}x" addr add 10.251.0.6/24 dev eth0
ip -n "${NS}x" addr add 10.251.0.7/24 dev eth0
stranger '
	my @s = map { my $from = $_; map { IO::Socket::INET->new(PeerAddr => $ARGV[0], LocalAddr => $from, Timeout => 3) or die "connect: $!" } 1 .. 3 } "10.251.0.5", "10.251.0.6";
	sleep 0.5;
	my $late = IO::Socket::INET->new(PeerAddr => $ARGV[0], LocalAddr => "10.251.0.7", Timeout => 3) or die "connect: $!";
	my $b;
	print IO::Select->new($late)->can_read(1) && !sysread($late, $b, 1) ? "seventh closed at once\n" : "seventh kept\n";
	my @r = IO::Select->new(@s)->can_read(0);
	print @r ? "of the first six, " . scalar(@r) . " closed\n" : "first six open\n";
' $P4 > "$T/full.out" 2>&1
grep -q "^seventh closed at once$" "$T/full.out" && grep -q "^first six open$" "$T/full.out" &&
	grep -q "refused a connection from 10.251.0.7: --max-queries reached" "$T/perspective-p4.log" &&
	ok "every place taken: a connection from yet another address is closed at once" || bad "max-queries: $(cat "$T/full.out")"
sleep 3 # their time runs out

# Over IPv6 one host may use any address of its /64: the limit per address
# is one per /64. A fifth perspective on IPv6; two addresses of one /64 from
# the stranger, three places for them.
ip -n "${NS}p2" -6 addr add fd00:251::3/64 dev eth0 nodad
ip -n "${NS}x" -6 addr add fd00:251::5/64 dev eth0 nodad
ip -n "${NS}x" -6 addr add fd00:251::6/64 dev eth0 nodad
PLOG=p5 perspective "[fd00:251::3]:8855" p2 --max-per-address 3 --timeout 3
stranger '
	use IO::Socket::IP;
	my @s = map { my $from = $_; map { IO::Socket::IP->new(PeerHost => "fd00:251::3", PeerPort => 8855, LocalHost => $from, Timeout => 3) or die "connect: $!" } 1 .. 2 } "fd00:251::5", "fd00:251::6";
	sleep 0.5;
	my @r = IO::Select->new(@s)->can_read(0);
	print scalar(@r), " of 4 closed at once\n";
' > "$T/six.out" 2>&1
grep -q "^1 of 4 closed at once$" "$T/six.out" &&
	grep -q "refused a connection from fd00:251::6: --max-per-address reached" "$T/perspective-p5.log" &&
	ok "over IPv6 the addresses of one /64 share the places of one address" || bad "IPv6: $(cat "$T/six.out")"

# A connection that trickles a TLS record, a byte every half second (each
# read well inside any I/O timeout): cut at its 3 s.
stranger '
	my $s = IO::Socket::INET->new(PeerAddr => $ARGV[0], Timeout => 3) or die "connect: $!";
	$SIG{PIPE} = "IGNORE";
	my $t0 = time;
	syswrite($s, "\x16\x03\x01\x02\x00");
	my $sel = IO::Select->new($s);
	while (time - $t0 < 12) {
		if ($sel->can_read(0.5)) { my $b; last if !sysread($s, $b, 1) }
		last if !defined syswrite($s, "\0");
	}
	printf "ended after %.1f s\n", time - $t0;
' $P4 > "$T/trickle.out" 2>&1
between "ended after " 2.5 4.5 < "$T/trickle.out" && grep -q "a connection from 10.251.0.5 took more than 3 s: cut" "$T/perspective-p4.log" &&
	ok "a connection that trickles bytes is cut at its time" || bad "trickle: $(cat "$T/trickle.out")"

# A reload (SIGUSR1 or SIGHUP) reads the files again and the daemon goes on: a pinned
# certificate that changed (a renewal of the gateway's) applies to the next
# connection; files that cannot be used leave those before in use.
# hup N SIGNAL: SIGNAL to P4, then up to 5 s for its Nth line about a reload
hup() {
	kill -"$2" $p4
	i=0
	while [ "$(grep -c 'reload' "$T/perspective-p4.log")" -lt "$1" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}
cp "$P/s.pem" "$T/ca/gateway.pem"
hup 1 HUP
a1=$(asks $P4 "$T/gateway.pem.saved" "$T/gateway.key.saved")
a2=$(asks $P4 "$P/s.pem" "$P/s.key")
kill -0 $p4 && grep -q "reloaded the certificates and the key" "$T/perspective-p4.log" &&
	! echo "$a1" | grep -q "^answer" && echo "$a2" | grep -q "^answer off 1" &&
	grep -q "refused a client that is not the gateway (" "$T/perspective-p4.log" &&
	ok "a reload pins the gateway's new certificate; the old one is refused" ||
	bad "reload: $a1; $a2; $(tail -3 "$T/perspective-p4.log")"
echo "not a certificate" > "$T/ca/gateway.pem"
hup 2 USR1
a3=$(asks $P4 "$P/s.pem" "$P/s.key")
kill -0 $p4 && grep -q "reload: the certificates or the key cannot be used; those before stay in use" "$T/perspective-p4.log" &&
	echo "$a3" | grep -q "^answer off 1" &&
	ok "a reload with a file that cannot be used keeps those before" || bad "bad reload: $a3; $(tail -3 "$T/perspective-p4.log")"
cp "$T/gateway.pem.saved" "$T/ca/gateway.pem"
hup 3 HUP

# A stop while the gateway's query is at work: answered, then the process
# ends by itself.
gateway_asks 1.5 > "$T/stop.out" &
asking=$!
i=0
while [ "$(threads)" -eq 0 ] && [ $i -lt 50 ]; do # accepted, on its thread
	sleep 0.1
	i=$((i + 1))
done
kill -TERM $p4
wait $asking
rc=0
wait $p4 || rc=$?
grep -q "^answer off 1" "$T/stop.out" && [ $rc -eq 0 ] && grep -q "stopping: 1 queries at work" "$T/perspective-p4.log" &&
	grep -q "stopped$" "$T/perspective-p4.log" &&
	ok "a stop answers the query at work, then ends (exit 0)" || bad "stop: exit $rc; $(cat "$T/stop.out"); $(tail -3 "$T/perspective-p4.log")"
# A renewal of the gateway's signing pair (certgate ca gateway-renew): p3,
# not yet given the new certificate, still pins the one before, and is
# asked with the pair before (kept as .previous) while that has not ended;
# without it, p3 refuses the issuer.
use honest1 $P3
$cg ca gateway-renew > /dev/null
out=$(issue h@example.org)
echo "$out" | grep -q "^issued" && $cg audit show | grep "cert.issue" | grep "h@example.org" |
	grep -q "corroborated by 1 of 1 perspectives" &&
	ok "after a gateway renewal a perspective that pins the certificate before is asked with it" ||
	bad "h@example.org: $out"
mv "$T/ca/gateway.pem.previous" "$T/gateway-previous.pem"
out=$(issue i@example.org)
echo "$out" | grep -q "not corroborated: 0 of 1 perspectives agree, 1 needed.*$P3: this client is not the gateway" &&
	ok "control: without the pair before, that perspective refuses the renewed certificate" ||
	bad "i@example.org: $out"
DNS_DIR= # its dnsmasq ends with its namespace (net_down)
exit $fail
