# tests/lib/nsd.sh: NSD on a loopback address serving zones signed here with
# ldns (ldns-keygen, ldns-signzone), and commands run with it as their only
# resolver. Source it after dns.sh.
#
#   nsd_init DIR IP          where its files live, the address it serves
#   nsd_key ZONE             a signing key for ZONE (ECDSA P-256, KSK flag);
#                            its DNSKEY record is in $NSD_DIR/ZONE.anchor
#   nsd_sign ZONE            $NSD_DIR/ZONE.zone signed into ZONE.zone.signed
#   nsd_start ZONE=FILE...   serves each zone from its file
#   nsd_reload               reads the zone files again (after a change)
#   nsd_stop                 stops it, and waits until the address is free
#   nsd_run CMD...           CMD with NSD in its /etc/resolv.conf

nsd_init() {
	NSD_DIR=$1 NSD_IP=$2
	mkdir -p "$NSD_DIR/resolver"
	printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$NSD_IP" > "$NSD_DIR/resolver/resolv.conf"
}

nsd_key() {
	(cd "$NSD_DIR" && ldns-keygen -a ECDSAP256SHA256 -k "$1." > "$1.keyname") || return 1
	cp "$NSD_DIR/$(cat "$NSD_DIR/$1.keyname").key" "$NSD_DIR/$1.anchor"
}

nsd_sign() {
	(cd "$NSD_DIR" && ldns-signzone -n "$1.zone" "$(cat "$1.keyname")")
}

nsd_start() {
	{
		printf 'server:\n\tip-address: %s\n\tport: 53\n\tusername: ""\n\tchroot: ""\n' "$NSD_IP"
		printf '\tzonesdir: "%s"\n\tpidfile: "%s/nsd.pid"\n' "$NSD_DIR" "$NSD_DIR"
		printf '\txfrdfile: "%s/xfrd.state"\n\tzonelistfile: "%s/zone.list"\n' "$NSD_DIR" "$NSD_DIR"
		printf '\tlogfile: "%s/nsd.log"\n\tserver-count: 1\n\tverbosity: 1\n' "$NSD_DIR"
		printf 'remote-control:\n\tcontrol-enable: no\n'
		for z in "$@"; do
			printf 'zone:\n\tname: %s.\n\tzonefile: %s\n' "${z%%=*}" "${z#*=}"
		done
	} > "$NSD_DIR/nsd.conf"
	nsd -c "$NSD_DIR/nsd.conf" || return 1
	i=0
	while [ ! -s "$NSD_DIR/nsd.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -s "$NSD_DIR/nsd.pid" ]
}

nsd_reload() {
	n=$(grep -c "zone .* read with success" "$NSD_DIR/nsd.log" 2>/dev/null || echo 0)
	kill -HUP "$(cat "$NSD_DIR/nsd.pid")"
	i=0
	while [ "$(grep -c "zone .* read with success" "$NSD_DIR/nsd.log")" -le "$n" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

nsd_stop() {
	[ -n "${NSD_DIR:-}" ] || return 0
	pkill -f "nsd -c $NSD_DIR/nsd.conf" 2>/dev/null || return 0
	i=0
	while pgrep -f "nsd -c $NSD_DIR/nsd.conf" > /dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	pkill -KILL -f "nsd -c $NSD_DIR/nsd.conf" 2>/dev/null || true
}

nsd_run() {
	unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$NSD_DIR/resolver/resolv.conf" "$@"
}
