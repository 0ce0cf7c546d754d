#!/bin/sh
# tunnel.sh: the replication link through mutually authenticated TLS
# (stunnel), as certgate.conf(5) REPLICATION and conf/stunnel-replication.conf
# describe it (site a runs that file). Two sites, each in a network namespace on a bridge; each
# site's Replication Manager listens on its own loopback only
# (ReplicationLocal 127.0.0.1:PORT, a port of its own for each site), and
# stunnel carries the link: a server on the site's network address taking
# only clients whose certificate the replication CA issued, and for each
# other site a client listening on that site's ReplicationLocal address,
# which on this host is no one else's.
#   1. the group forms through the tunnels: a is the master, b a client that
#      catches up, and what a issues reaches b
#   2. a stranger on the network reaches no Replication Manager: the port is
#      closed on the network, and a plain connection to the TLS port gets
#      nothing of it
#   3. a stranger's site with stunnel of its own and a certificate of another
#      CA (the join that, on an open link, receives the whole database: an
#      empty site naming ours) is refused at the handshake, never becomes a
#      member, and receives nothing
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test tunnel
. "$CG_SRC/tests/lib/sites.sh"
. "$CG_SRC/tests/lib/netns.sh"
. "$CG_SRC/tests/lib/pki.sh"
command -v stunnel4 > /dev/null || {
	bad "stunnel4 is not installed (scripts/setup installs it)"
	exit 1
}
NS=cgtun$$
SITE_NS_a=${NS}a SITE_NS_b=${NS}b SITE_NS_x=${NS}x
SW=${NS}sw
# Each site's identity in the group is a loopback address of its own port;
# each host's stunnel makes the others' reachable there.
SITES="a=127.0.0.1:7200 b=127.0.0.1:7201"
cleanup_tunnel() {
	stop_all
	stop x
	dns_stop
	net_down $NS a b x
}
CA_CLEANUP=cleanup_tunnel
net_up $NS 10.252.0 a b x

ca_dirs
ca_conf "LogLevel info" "ExpiryReminders none"
ip netns exec "$SW" sh -c '. "$CG_SRC/tests/lib/dns.sh"; dns_start "$0" "$1"' "$T/dns" 10.252.0.254
DNS_DIR=$T/dns
sites_ca

# The replication CA: a CA of its own, which certifies the sites and nothing
# else; and another CA, the stranger's.
R="$T/rpki"
mkdir -p "$R"
for ca in repl other; do pki_ca "$R/$ca-ca" "$ca replication CA"; done
# cert NAME CA HOST: NAME's certificate (for HOST) and key from CA
cert() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$R/$1.key" \
		-out "$R/$1.csr" -subj "/CN=$3" 2> /dev/null
	printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" > "$R/$1.ext"
	openssl x509 -req -in "$R/$1.csr" -CA "$R/$2-ca/cert.pem" -CAkey "$R/$2-ca/key.pem" -CAcreateserial \
		-days 30 -extfile "$R/$1.ext" -out "$R/$1.pem" 2> /dev/null
	chmod 600 "$R/$1.key"
}
cert a repl ca1.replication.example.net
cert b repl ca2.replication.example.net
cert x other x.replication.example.net

# run_stunnel NAME: stunnel in NAME's namespace on $T/NAME-stunnel.conf,
# logging to $T/NAME-stunnel.log; waits until it runs.
run_stunnel() {
	on "$1" stunnel4 "$T/$1-stunnel.conf" > /dev/null 2>&1 &
	i=0
	while ! grep -q "Configuration successful" "$T/$1-stunnel.log" 2> /dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}
# stunnel_user NAME: the user stunnel runs as in NAME's namespace
stunnel_user() {
	for p in $(ip netns pids "$NS$1"); do
		[ "$(cat "/proc/$p/comm" 2> /dev/null)" = stunnel4 ] && ps -o user= -p "$p"
	done
}
# a (ca1) runs the shipped example, its addresses and paths replaced, its
# third site (ca3) left out; it drops to the user stunnel4 (its key stays
# root's, mode 0600; the log is made for it). b (ca2) the same made by
# hand, naming a as ca1.
sed -e 's/192\.0\.2\.1:6100/10.252.0.1:7300/; s/192\.0\.2\.2:6100/10.252.0.2:7300/' \
	-e 's/127\.0\.0\.1:6001/127.0.0.1:7200/; s/127\.0\.0\.1:6002/127.0.0.1:7201/' \
	-e "s|/etc/certgate/replication/ca1\.|$R/a.|; s|/etc/certgate/replication/ca\.pem|$R/repl-ca/cert.pem|" \
	-e "s|^pid =|output = $T/a-stunnel.log\\ndebug = info\\npid =|" \
	"$CG_SRC/conf/stunnel-replication.conf" |
	awk '/^\[replication-to-ca3\]/ { skip = 1 } /^\[/ && !/ca3/ { skip = 0 } !skip' |
	sed 's/\\n/\n/g' > "$T/a-stunnel.conf"
touch "$T/a-stunnel.log"
chown stunnel4 "$T/a-stunnel.log"
# stunnel_conf NAME IP PORT CA [PEER-ADDR PEER-IP PEER-HOST]: a site's
# configuration by hand; PEER-HOST - : its certificate is not checked
stunnel_conf() {
	printf 'foreground = yes\npid =\noutput = %s/%s-stunnel.log\ndebug = info\n' "$T" "$1"
	printf 'cert = %s/%s.pem\nkey = %s/%s.key\nCAfile = %s/%s-ca/cert.pem\n' "$R" "$1" "$R" "$1" "$R" "$4"
	printf 'verifyChain = yes\nsslVersionMin = TLSv1.3\n'
	printf '[replication-in]\naccept = %s:7300\nconnect = 127.0.0.1:%s\n' "$2" "$3"
	printf '[replication-to-peer]\nclient = yes\naccept = %s\nconnect = %s:7300\n' "$5" "$6"
	[ "$7" = - ] && echo "verifyChain = no" || echo "checkHost = $7"
}
stunnel_conf b 10.252.0.2 7201 repl 127.0.0.1:7200 10.252.0.1 ca1.replication.example.net > "$T/b-stunnel.conf"
run_stunnel a
run_stunnel b
grep -q "Configuration successful" "$T/a-stunnel.log" && grep -q "Configuration successful" "$T/b-stunnel.log" &&
	grep -q "^\[replication-to-ca2\]" "$T/a-stunnel.conf" && ! grep -q "^\[replication-to-ca3\]" "$T/a-stunnel.conf" &&
	grep -q "^setuid = stunnel4" "$T/a-stunnel.conf" && [ "$(stat -c %U:%a "$R/a.key")" = root:600 ] &&
	[ "$(stunnel_user a)" = stunnel4 ] &&
	ok "stunnel runs on both sites (a on the shipped example, as stunnel4)" ||
	bad "stunnel (a as $(stunnel_user a)): $(tail -n 3 "$T/a-stunnel.log" "$T/b-stunnel.log")"

site_seed a
site a 100 "ReplicationCreateGroup yes" "ReplicationAckTimeout 3s"
site b 50 "ReplicationAckTimeout 3s"
serials() { "$CG_BIN/certgate" -c "$T/$1.conf" --json cert list | sed -n 's/.*"serial": *"\([0-9a-f]*\)".*/\1/p' | sort; }
# members SITE: the group's members as SITE knows them, their addresses only
# (whether each is connected at the moment does not matter here)
members() { "$CG_BIN/certgate" -c "$T/$1.conf" repl status | awk '$1 == "site" { printf "%s ", $2 }'; }
start a
start b

# 1. the group, through the tunnels
wait_role a master 30 && ok "a is the master" || bad "a is $(role a)"
wait_role b client 60 && caught_up b 60 && ok "b is a client and caught up, through TLS" ||
	bad "b: $(role b); $(tail -3 "$T/b.log")"
grep -q "replication-in.*accepted connection from 10.252.0.2" "$T/a-stunnel.log" ||
	grep -q "replication-in.*accepted connection from 10.252.0.1" "$T/b-stunnel.log" &&
	ok "the link runs through the tunnels" || bad "no connection through stunnel: $(tail -3 "$T/a-stunnel.log")"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=u1" -out "$T/u1.csr" 2> /dev/null
out=$(cgs a cert issue --org 1 --mailbox user1@example.org --csr "$T/u1.csr" 2>&1) ||
	bad "a request on the master: $out"
i=0
while { [ -z "$(serials a)" ] || [ "$(serials a)" != "$(serials b)" ]; } && [ $i -lt 300 ]; do
	sleep 0.2
	i=$((i + 1))
done
[ -n "$(serials a)" ] && [ "$(serials a)" = "$(serials b)" ] &&
	ok "what the master issues reaches the client ($(serials b))" ||
	bad "a: $(serials a | tr '\n' ' '); b: $(serials b | tr '\n' ' ')"

# 2. the stranger (x, 10.252.0.3) and the network
on x perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(PeerAddr => "10.252.0.1:7200", Timeout => 3) ? 1 : 0)' &&
	ok "the Replication Manager's port is not open on the network" || bad "10.252.0.1:7200 accepted a connection"
# A plain connection to the TLS port, speaking as a site would: the bytes
# go nowhere but into stunnel's handshake, which fails.
on x perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(PeerAddr => "10.252.0.1:7300", Timeout => 3) or exit 2;
	syswrite($s, "\0\0\0\x01certgate site 127.0.0.1:7202\n");
	my $b = ""; my $n = 0;
	eval { local $SIG{ALRM} = sub { die }; alarm 5; $n = sysread($s, $b, 4096) // 0; alarm 0 };
	exit($b =~ /^[\x15\x16]\x03/ || $n == 0 ? 0 : 1);' &&
	ok "a plain connection to the TLS port gets no further than TLS" || bad "the TLS port answered plain bytes"

# 3. the stranger's site: empty, naming a (its own stunnel client on a's
# identity, a certificate of another CA).
SITES="$SITES x=127.0.0.1:7202"
stunnel_conf x 10.252.0.3 7202 other 127.0.0.1:7200 10.252.0.1 - > "$T/x-stunnel.conf"
run_stunnel x
sed -e "s|^DbHome .*|DbHome $T/x/db|" -e "s|^EvidenceDir .*|EvidenceDir $T/x/evidence|" \
	-e "s|^CrlPath .*|CrlPath $T/x/crl/issuing-ca.crl|" \
	-e "s|^IssuerPidFile .*|IssuerPidFile $T/x/run/issuer.pid|" "$T/certgate.conf" > "$T/x.conf"
printf 'ReplicationLocal 127.0.0.1:7202\nReplicationPeer 127.0.0.1:7200\n' >> "$T/x.conf"
mkdir -p "$T/x/db" "$T/x/evidence" "$T/x/crl" "$T/x/run"
chown certgate-ca "$T/x/run" "$T/x/crl"
chgrp certgate "$T/x/db" "$T/x/evidence"
chmod 2770 "$T/x/db" "$T/x/evidence"
before=$(members a)
start x
i=0
while ! grep -q "Rejected by CERT at depth=1: .*CN=other replication CA" "$T/a-stunnel.log" && [ $i -lt 100 ]; do
	sleep 0.2
	i=$((i + 1))
done
sleep 3
grep -q "Rejected by CERT at depth=1: .*CN=other replication CA" "$T/a-stunnel.log" &&
	ok "a's stunnel refuses the stranger's certificate (of another CA)" ||
	bad "a's stunnel: $(grep -A3 'accepted connection from 10.252.0.3' "$T/a-stunnel.log" | tail -4)"
[ "$(members a)" = "$before" ] && [ "$before" = "127.0.0.1:7200 127.0.0.1:7201 " ] &&
	ok "the stranger is no member ($before)" || bad "members before: $before; now: $(members a)"
stop x
[ -z "$(serials x 2> /dev/null)" ] && ok "the stranger received nothing" || bad "x holds: $(serials x)"
exit $fail
