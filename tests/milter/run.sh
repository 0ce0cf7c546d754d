#!/bin/sh
# tests/milter/run.sh: certgate-milter as a real daemon on a unix socket,
# driven by miltertest: NULL-context close, the fast path, one gateway
# address per message, malformed mail, oversize mail (its body or its
# header fields, which get no answer), reload with a good and
# a bad file, and deferral while the database cannot be opened.
set -eu
T=$(mktemp -d "$CG_TEST_TMP/milter.XXXXXX")
chmod 0755 "$T"
milter="$CG_BIN/certgate-milter"
fail=0
pid=

stop() {
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	kill -KILL "$pid" 2>/dev/null || true
	pid=
}
trap 'stop; rm -rf "$T"' EXIT

write_conf() { # write_conf FILE DBHOME MAXSIZE [EXTRA]
	cat > "$1" <<CONF
GatewayDomain ca.example.net
Socket unix:$T/run/milter.sock
PidFile $T/run/milter.pid
DbHome $2
EvidenceDir $T/evidence
TempDir $T/tmp
MaxMessageSize $3
LogLevel debug
${4:-}
CONF
}

start() { # start CONF LOG
	"$milter" -f -c "$1" > "$2" 2>&1 &
	pid=$!
	i=0
	while [ ! -S "$T/run/milter.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S "$T/run/milter.sock" ] || { echo "FAIL: the milter did not start"; cat "$2"; exit 1; }
}

lua() { # lua NAME [ENV=VALUE...]
	name=$1
	shift
	if env "$@" CG_MILTER_SOCKET="$T/run/milter.sock" miltertest -s "$CG_SRC/tests/milter/$name.lua" > "$T/$name.out" 2>&1; then
		echo "ok   $name $*"
	else
		echo "FAIL $name $*"
		sed 's/^/    /' "$T/$name.out"
		fail=1
	fi
}

logged() { # logged LOG PATTERN WHAT
	if grep -q -- "$2" "$1"; then
		echo "ok   log: $3"
	else
		echo "FAIL log: $3 (no '$2' in the log)"
		fail=1
	fi
}

mkdir -p "$T/db" "$T/evidence" "$T/tmp"
if [ "$(id -u)" -eq 0 ]; then
	chown certgate:certgate "$T/db" "$T/evidence" "$T/tmp"
fi
write_conf "$T/a.conf" "$T/db" 64K
start "$T/a.conf" "$T/a.log"
for s in null_close fastpath second_gateway malformed notadmin; do
	lua "$s"
done
lua size CG_EXPECT_OVERSIZE=no

# Reload with a good file: the smaller limit applies to the next message.
write_conf "$T/a.conf" "$T/db" 32K
kill -USR1 "$pid"
sleep 0.5
logged "$T/a.log" "configuration $T/a.conf reloaded" "good reload"
lua size CG_EXPECT_OVERSIZE=yes
lua headers
# The same header fields and no body: refused at the message's end.
{
	printf 'From: jan@example.org\r\nTo: enroll@ca.example.net\r\n'
	i=0
	while [ $i -lt 40 ]; do
		printf 'X-Filler-%d: %s\r\n' $i "$(head -c 1000 /dev/zero | tr '\0' y)"
		i=$((i + 1))
	done
	printf '\r\n'
} > "$T/headers.eml"
"$milter" -c "$T/a.conf" -t "$T/headers.eml" --client-ip 127.0.0.1 --mail-from jan@example.org \
	--rcpt enroll@ca.example.net > "$T/headers.out" 2>&1 || true
grep -q '^verdict: reject 552 5\.3\.4 certgate: message is larger than 32768 bytes' "$T/headers.out" &&
	echo "ok   header fields over the limit, no body: 552 at the end" ||
	{ echo "FAIL header fields over the limit, no body: $(grep '^verdict' "$T/headers.out")"; fail=1; }
# Reload with a bad file: refused, the running configuration (32K) stays.
write_conf "$T/a.conf" "$T/db" 64K "NoSuchKey yes"
kill -USR1 "$pid"
sleep 0.5
logged "$T/a.log" "reload refused, keeping the running configuration" "bad reload refused"
lua size CG_EXPECT_OVERSIZE=yes
logged "$T/a.log" 'kind=enroll verdict=reject reply="554 5.6.0"' "one line per gateway message"
if [ "$(id -u)" -eq 0 ]; then
	ps -o user= -p "$pid" | grep -q '^certgate' && echo "ok   runs as certgate, not root" ||
		{ echo "FAIL: the milter still runs as $(ps -o user= -p "$pid")"; fail=1; }
fi
stop

# A DbHome the milter cannot write: gateway mail deferred, other mail flows.
mkdir -p "$T/rodb"
chmod 0555 "$T/rodb"
if [ "$(id -u)" -ne 0 ]; then
	echo "FAIL: run as root (the milter must drop to user certgate for this check)"
	exit 1
fi
write_conf "$T/b.conf" "$T/rodb" 64K
start "$T/b.conf" "$T/b.log"
lua store_down
logged "$T/b.log" "cannot open the database" "store failure logged"
stop
if [ $fail -ne 0 ]; then
	for l in "$T"/*.log; do echo "--- $l"; cat "$l"; done
fi
exit $fail
