# tests/lib/ca.sh: a private CA for a test that runs the issuer without the
# sandbox. Source it after dns.sh.
#
#   ca_test NAME        T (a fresh directory), cg (the certgate command on
#                       T/certgate.conf), ok/bad, fail, ipid and an EXIT trap
#                       that stops the issuer, DNS and removes T (kept with
#                       CG_KEEP=1). Set CA_CLEANUP to a command for more.
#   ca_dirs             db, evidence, crl, run with the owners of an install
#   ca_conf [LINE...]   T/certgate.conf: the common keys, then LINEs
#                       (CAKey defaults to a key file unless a LINE sets it)
#   ca_mta              a capturing MTA (call after ca_conf): each mail the
#                       issuer sends becomes T/out/N.eml, its argv T/out/N.argv;
#                       mail to an address listed in T/mta-refuse is refused
#                       for good (exit 67, EX_NOUSER)
#   ca_example          the CA made (certgate ca init) and organisation 1,
#                       Example Sp. z o.o. (PL, ceo@example.org), with
#                       example.org validated
#   drain               certgate-issuer --drain with the test DNS (dns_start)
#   ca_issuer           certgate-issuer running (-f) with the test DNS, its
#                       output appended to T/issuer.log, its pid in ipid;
#                       FALSE unless it said it runs within 10 s
#   logged PATTERN      T/issuer.log has a line matching PATTERN
#   ca_csr NAME         T/NAME.csr: a CSR for a fresh P-256 key (CN=x)
#   drain_later OFFSET  the same with the issuer's clock moved (faketime)
#   last_mail ADDR      the newest captured mail to ADDR; mails_to ADDR: how many
#   qp FILE             FILE with quoted-printable decoded (to read mail texts)

ca_test() {
	T=$(mktemp -d "$CG_TEST_TMP/$1.XXXXXX")
	chmod 0755 "$T"
	cg="$CG_BIN/certgate -c $T/certgate.conf"
	fail=0
	ipid=
	CA_CLEANUP=${CA_CLEANUP:-}
	trap ca_cleanup EXIT
}

ca_cleanup() {
	if [ -n "$ipid" ]; then
		kill "$ipid" 2>/dev/null || true
		wait "$ipid" 2>/dev/null || true
	fi
	dns_stop
	[ -z "$CA_CLEANUP" ] || $CA_CLEANUP
	[ -n "${CG_KEEP:-}" ] || rm -rf "$T"
}

ca_example() {
	$cg ca init > /dev/null
	$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL \
		--contact ceo@example.org > /dev/null
	$cg domain add example.org --org 1 --validated > /dev/null
}

ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

ca_dirs() {
	mkdir -p "$T/db" "$T/evidence" "$T/crl" "$T/run"
	chown certgate-ca "$T/run"
	chgrp certgate "$T/db" "$T/evidence"
	chmod 2770 "$T/db" "$T/evidence"
}

ca_conf() {
	{
		printf 'GatewayDomain ca.example.net\nDbHome %s/db\nEvidenceDir %s/evidence\n' "$T" "$T"
		printf 'CACertificate %s/ca/issuing-ca.pem\nCAChain %s/ca/chain.pem\n' "$T" "$T"
		printf 'GatewayCertificate %s/ca/gateway.pem\nGatewayKey %s/ca/gateway.key\n' "$T" "$T"
		printf 'GatewayEncryptionCertificate %s/ca/gateway-enc.pem\nGatewayEncryptionKey %s/ca/gateway-enc.key\n' "$T" "$T"
		printf 'CrlPath %s/crl/issuing-ca.crl\nIssuerPidFile %s/run/issuer.pid\n' "$T" "$T"
		printf 'Sendmail /bin/true\n'
		case " $* " in
		*" CAKey "*) ;;
		*) printf 'CAKey %s/ca/issuing-ca.key\n' "$T" ;;
		esac
		# The tests' DNS server (dnsmasq) cannot serve signed zones: CAA
		# answers are not validated, except in tests/flow/dnssec.sh.
		case " $* " in
		*" DnssecTrustAnchor "*) ;;
		*) printf 'DnssecTrustAnchor none\n' ;;
		esac
		for line in "$@"; do
			printf '%s\n' "$line"
		done
	} > "$T/certgate.conf"
}

# ca_mta: the issuer's Sendmail is $T/mta, which keeps each mail in $T/out
# (N.argv, N.eml, numbered in the order they came) and refuses a recipient
# listed in $T/mta-refuse for good (exit 67) or in $T/mta-temp for now
# (exit 75). With $T/mta-slow, each run takes 0.3 s and counts how many run
# at once: now in $T/out/.now, the most in $T/out/.most.
ca_mta() {
	mkdir -p "$T/out"
	chown certgate-ca "$T/out"
	cat > "$T/mta" <<EOF2
#!/bin/sh
for to in "\$@"; do :; done
count() { # count +1 | -1
	exec 8>> $T/out/.count
	flock 8
	now=\$((\$(cat $T/out/.now 2> /dev/null || echo 0) \$1))
	echo \$now > $T/out/.now
	[ \$now -le \$(cat $T/out/.most 2> /dev/null || echo 0) ] || echo \$now > $T/out/.most
	flock -u 8
}
if [ -f $T/mta-slow ]; then
	count +1
	sleep 0.3
	count -1
fi
if [ -f $T/mta-temp ] && grep -q -x -F -- "\$to" $T/mta-temp; then
	echo "451 4.3.0 <\$to>: try again later"
	exit 75
fi
if [ -f $T/mta-refuse ] && grep -q -x -F -- "\$to" $T/mta-refuse; then
	echo "550 5.1.1 <\$to>: Recipient address rejected: User unknown"
	exit 67
fi
# The issuer runs several at once: each takes its number, and writes its
# files, holding the lock.
exec 9>> $T/out/.lock
flock 9
n=\$(ls $T/out | wc -l)
echo "\$*" > $T/out/\$n.argv
cat > $T/out/\$n.eml
EOF2
	chmod 0755 "$T/mta"
	sed -i "s|^Sendmail .*|Sendmail $T/mta|" "$T/certgate.conf"
}

drain() { dns_run "$CG_BIN/certgate-issuer" --drain -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1; }

ca_issuer() {
	dns_spawn "$CG_BIN/certgate-issuer" -f -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1
	ipid=$!
	wait_for 10 logged "running: issuing CA key"
}

logged() { grep -q "$1" "$T/issuer.log"; }

ca_csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=x" -out "$T/$1.csr" 2>/dev/null
}

# drain_later OFFSET: drain with the issuer's clock moved by OFFSET (libfaketime
# syntax: +25h, +3d); ASan tolerates the preloaded library.
drain_later() {
	faketime_clean 2> /dev/null || true # tests/lib/pki.sh
	FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		dns_run faketime -f "$1" "$CG_BIN/certgate-issuer" --drain -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1
}

wait_for() { # wait_for SECONDS CMD...: until CMD succeeds (FALSE when it never did)
	n=$(($1 * 10))
	shift
	while ! "$@" > /dev/null 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}

last_mail() {
	n=$(grep -l -- "-- $1\$" "$T/out/"*.argv 2>/dev/null | sed 's|.*/||; s|\.argv$||' | sort -n | tail -1)
	[ -z "$n" ] || echo "$T/out/$n.eml"
}

mails_to() { grep -l -- "-- $1\$" "$T/out/"*.argv 2>/dev/null | wc -l; }

qp() {
	/usr/bin/python3 -c 'import quopri, sys; sys.stdout.write(quopri.decodestring(sys.stdin.buffer.read()).decode("utf-8", "replace"))' < "$1"
}
