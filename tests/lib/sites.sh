# tests/lib/sites.sh: replication sites for the ha tests, each its own
# DbHome and issuer (the site's replication process). Source after ca.sh.
#
#   sites_ca           the CA (ca init in T), organisation 1 with example.org
#                      (operator-validated)
#   site_seed NAME     T's database becomes site NAME's: it starts the group
#   SITES="a=ADDR:PORT b=..."  every site of the group (set before `site`)
#   SITE_NS_<NAME>=NETNS       optional: the network namespace a site runs in
#   site NAME PRIORITY [LINE...]  T/NAME/ and T/NAME.conf: the test's
#                      certgate.conf with the site's paths, its address, the
#                      other sites as peers, and LINEs
#   on NAME CMD...     CMD in the site's network namespace (if it has one)
#   cgs NAME ARGS...   certgate on the site's configuration
#   start NAME         the site's issuer, restarted when it exits as a service
#                      manager restarts it (it exits when replication rolls
#                      back what it had open, or its environment panics)
#   stop NAME [SIGNAL] stops it (TERM, or the signal) and its restarts
#   stop_all           every site
#   role NAME          master, client or nothing
#   master_site        the site that is master now, or none
#   wait_role NAME ROLE SECONDS, caught_up NAME SECONDS

sites_ca() {
	$cg ca init > /dev/null
	$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL \
		--contact ceo@example.org > /dev/null
	$cg domain add example.org --org 1 --validated > /dev/null
}

site_seed() {
	mkdir -p "$T/$1"
	mv "$T/db" "$T/evidence" "$T/$1/"
}

site_addr() { for e in $SITES; do [ "${e%%=*}" = "$1" ] && echo "${e#*=}"; done; }

site() {
	n=$1 prio=$2
	shift 2
	mkdir -p "$T/$n/db" "$T/$n/evidence" "$T/$n/crl" "$T/$n/run"
	chown certgate-ca "$T/$n/run" "$T/$n/crl"
	# Each host holds a copy of the CA's files; the root CRL is beside CrlPath.
	[ ! -f "$T/crl/root-ca.crl" ] || cp "$T/crl/root-ca.crl" "$T/$n/crl/"
	chgrp certgate "$T/$n/db" "$T/$n/evidence"
	chmod 2770 "$T/$n/db" "$T/$n/evidence"
	sed -e "s|^DbHome .*|DbHome $T/$n/db|" -e "s|^EvidenceDir .*|EvidenceDir $T/$n/evidence|" \
		-e "s|^CrlPath .*|CrlPath $T/$n/crl/issuing-ca.crl|" \
		-e "s|^IssuerPidFile .*|IssuerPidFile $T/$n/run/issuer.pid|" "$T/certgate.conf" > "$T/$n.conf"
	{
		echo "ReplicationLocal $(site_addr "$n")"
		for e in $SITES; do
			[ "${e%%=*}" = "$n" ] || echo "ReplicationPeer ${e#*=}"
		done
		echo "ReplicationPriority $prio"
		for l in "$@"; do echo "$l"; done
	} >> "$T/$n.conf"
}

on() {
	eval "ns=\${SITE_NS_$1:-}"
	shift
	if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

cgs() {
	n=$1
	shift
	on "$n" "$CG_BIN/certgate" -c "$T/$n.conf" "$@"
}

start() {
	rm -f "$T/$1.stop"
	(
		while [ ! -f "$T/$1.stop" ]; do
			on "$1" unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' \
				"$DNS_DIR/resolv.conf" "$CG_BIN/certgate-issuer" -f -c "$T/$1.conf" >> "$T/$1.log" 2>&1 &
			echo $! > "$T/$1.pid"
			wait $! || true
			sleep 0.5
		done
	) &
	echo $! > "$T/$1.loop"
}

stop() {
	[ -f "$T/$1.loop" ] || return 0
	touch "$T/$1.stop"
	# The loop's child is `on`/unshare; the issuer is its descendant.
	pkill -"${2:-TERM}" -f "certgate-issuer -f -c $T/$1.conf" 2>/dev/null || true
	wait "$(cat "$T/$1.loop")" 2>/dev/null || true
	while kill -0 "$(cat "$T/$1.loop")" 2>/dev/null; do sleep 0.1; done
	rm -f "$T/$1.loop"
}

stop_all() { for e in $SITES; do stop "${e%%=*}"; done; }

role() {
	timeout -s KILL 45 "$CG_BIN/certgate" -c "$T/$1.conf" repl status --json 2>/dev/null |
		sed -n 's/^{"role": "\([a-z]*\)".*/\1/p'
}

master_site() {
	for e in $SITES; do
		[ "$(role "${e%%=*}")" = master ] && { echo "${e%%=*}"; return; }
	done
	echo none
}

wait_role() {
	i=0
	while [ "$(role "$1")" != "$2" ] && [ $i -lt $(($3 * 5)) ]; do sleep 0.2; i=$((i + 1)); done
	[ "$(role "$1")" = "$2" ]
}

caught_up() {
	i=0
	until "$CG_BIN/certgate" -c "$T/$1.conf" repl status --json 2>/dev/null | grep -q '"caught_up": true'; do
		[ $i -lt $(($2 * 5)) ] || return 1
		sleep 0.2
		i=$((i + 1))
	done
}
