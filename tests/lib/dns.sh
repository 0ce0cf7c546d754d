# tests/lib/dns.sh: a private DNS server for a test, and commands run with it
# as their resolver. Source it.
#
#   dns_start DIR IP    dnsmasq on IP:53 serving tests/e2e/zones/*.conf
#                       (its records with TTL 0; $DNS_OPTS: more dnsmasq
#                       options, e.g. --local-ttl=300 --log-queries)
#   dns_run CMD...      CMD in a private mount namespace whose
#                       /etc/resolv.conf names that server
#   dns_spawn CMD...    the same in the background; $! is CMD's own pid
#                       (`dns_run ... &` would give a subshell's pid, and a
#                       signal sent to it would never reach CMD)
#   dns_stop            stop it

dns_start() {
	DNS_DIR=$1 DNS_IP=$2
	mkdir -p "$DNS_DIR/zones"
	cp "$CG_SRC/tests/e2e/zones/"*.conf "$DNS_DIR/zones/"
	printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$DNS_IP" > "$DNS_DIR/resolv.conf"
	dnsmasq --conf-file=/dev/null --conf-dir="$DNS_DIR/zones,*.conf" --listen-address="$DNS_IP" \
		--bind-interfaces --port=53 --no-resolv --no-hosts --no-poll --user=root \
		--pid-file="$DNS_DIR/dnsmasq.pid" --log-facility="$DNS_DIR/dnsmasq.log" ${DNS_OPTS:-}
}

dns_run() {
	unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$DNS_DIR/resolv.conf" "$@"
}

dns_spawn() {
	unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$DNS_DIR/resolv.conf" "$@" &
}

dns_stop() {
	[ -n "${DNS_DIR:-}" ] && [ -f "$DNS_DIR/dnsmasq.pid" ] && kill "$(cat "$DNS_DIR/dnsmasq.pid")" 2>/dev/null || true
}
