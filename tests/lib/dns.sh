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
#   dns_stop            stop it (DNS_PID, or the pid file in DNS_DIR when
#                       started by another shell)

# The server stays in the foreground, a child of the test: when ctest ends
# a test at its timeout it kills the test's process tree, server and all (a
# daemon would be left behind holding the address, and the next test that
# uses it would fail). It is listening once its pid file is written.
dns_start() {
	DNS_DIR=$1 DNS_IP=$2
	mkdir -p "$DNS_DIR/zones"
	cp "$CG_SRC/tests/e2e/zones/"*.conf "$DNS_DIR/zones/"
	printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$DNS_IP" > "$DNS_DIR/resolv.conf"
	rm -f "$DNS_DIR/dnsmasq.pid"
	dnsmasq --keep-in-foreground --conf-file=/dev/null --conf-dir="$DNS_DIR/zones,*.conf" \
		--listen-address="$DNS_IP" --bind-interfaces --port=53 --no-resolv --no-hosts --no-poll \
		--user=root --pid-file="$DNS_DIR/dnsmasq.pid" --log-facility="$DNS_DIR/dnsmasq.log" \
		${DNS_OPTS:-} > "$DNS_DIR/dnsmasq.err" 2>&1 &
	DNS_PID=$!
	dns_i=0
	while [ ! -s "$DNS_DIR/dnsmasq.pid" ]; do
		if ! kill -0 "$DNS_PID" 2> /dev/null || [ $dns_i -ge 200 ]; then
			echo "dns_start: dnsmasq on $DNS_IP did not start: $(cat "$DNS_DIR/dnsmasq.err")" >&2
			return 1
		fi
		sleep 0.05
		dns_i=$((dns_i + 1))
	done
}

dns_run() {
	unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$DNS_DIR/resolv.conf" "$@"
}

dns_spawn() {
	unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$DNS_DIR/resolv.conf" "$@" &
}

# (and waits for it to end, so that its address may be used again at once)
dns_stop() {
	if [ -n "${DNS_PID:-}" ]; then
		kill "$DNS_PID" 2> /dev/null || true
		wait "$DNS_PID" 2> /dev/null || true
		DNS_PID=
	elif [ -n "${DNS_DIR:-}" ] && [ -f "$DNS_DIR/dnsmasq.pid" ]; then
		kill "$(cat "$DNS_DIR/dnsmasq.pid")" 2> /dev/null || true
	fi
}
