#!/bin/sh
# panic.sh: a replication site whose environment panics, as when a process
# fails inside Berkeley DB (cg-storetool panic marks it so).
#   - a command on that site fails at once with a clear error, and frees
#     what it set up (Berkeley DB 5.3 kept the list of sites named before an
#     open that failed: tests/CMakeLists.txt says why the sanitizer build
#     does not run this test)
#   - the site's issuer stops within its grace; its restart recovers the
#     environment and rejoins the group with every record it held; the
#     group's master (a, or b when b holds a later log) issues what was
#     queued before the panic and after it
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test panic
. "$CG_SRC/tests/lib/sites.sh"
CA_CLEANUP=stop_all
BASE=$((29100 + ($$ % 200) * 2))
SITES="a=127.0.0.1:$BASE b=127.0.0.1:$((BASE + 1))"
ca_dirs
ca_conf "LogLevel info" "ExpiryReminders none"
dns_start "$T/dns" 127.0.0.44
sites_ca
site_seed a
site a 100 "ReplicationCreateGroup yes"
site b 50
start a
start b
wait_role a master 30 && caught_up b 60 && ok "two sites, a the master, b caught up" ||
	bad "the group did not form"

for n in 1 2; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=u$n" -out "$T/u$n.csr" 2>/dev/null
done
issued() { cgs a --json cert list 2>/dev/null | grep -c '"serial"' || true; }
cgs a cert issue --org 1 --mailbox user1@example.org --csr "$T/u1.csr" > /dev/null &&
	ok "a request queued before the panic" || bad "cert issue before the panic"

# 1. A command meets the panic. Another process holds the environment (a
# read lock on its lock file, as a running daemon does), so that the
# command joins it instead of recovering it; a's issuer is stopped first,
# or it could stop on the panic and recover before the command runs.
python3 -c 'import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_SH)
open(sys.argv[2], "w").close()
time.sleep(600)' "$T/a/db/lock/certgate.lock" "$T/holding" &
holder=$!
wait_for 10 test -e "$T/holding" || bad "the lock holder did not start"
stop a
"$CG_BIN/../tests/cg-storetool" panic "$T/a/db" > "$T/panic.out" 2>&1 &&
	ok "a's environment marked panicked" || bad "cg-storetool panic: $(cat "$T/panic.out")"

rc=0
out=$(timeout -s KILL 30 "$CG_BIN/certgate" -c "$T/a.conf" cert issue --org 1 \
	--mailbox user2@example.org --csr "$T/u2.csr" 2>&1) || rc=$?
case $rc in
0) bad "a command was taken by a panicked environment" ;;
137) bad "a command hung on the panicked environment" ;;
*) echo "$out" | grep -q "cannot open the database: .*run database recovery" &&
	ok "a command fails at once (exit $rc): it names the recovery the site needs" ||
	bad "a command on a panicked environment (exit $rc): $out" ;;
esac

kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

# 2. The issuer meets the panic. Its restart (the first process) recovers
# the environment of part 1; then the environment panics under it.
start a
wait_role a master 60 && ok "a recovered from the first panic and is master" ||
	bad "a is $(role a) after its first recovery"
: > "$T/a.log"
"$CG_BIN/../tests/cg-storetool" panic "$T/a/db" > "$T/panic.out" 2>&1 ||
	bad "cg-storetool panic (2): $(cat "$T/panic.out")"
# The issuer stops: when a call of its own meets the panic, or else by its
# watchdog within its grace (15 s); the sanitizer build fails if the
# stopping leaks (the close of a panicked environment does not free its
# handle). Its restart (the first process of the site again) recovers.
stopped="the database needs recovery: stopping|exiting so that the next start recovers"
i=0
until grep -q -E "$stopped" "$T/a.log"; do
	[ $i -lt 300 ] || break
	sleep 0.2
	i=$((i + 1))
done
grep -q -E "$stopped" "$T/a.log" && ok "a's issuer stopped on the panic" ||
	bad "a's issuer did not stop on the panic"
# The restart rejoins the group. Which site is master then is the
# election's: the site with the later log wins, then the higher priority.
# b may hold log records that a's panic lost (a master sends each record as
# it writes it, and flushes its log at a commit; a transaction open at the
# panic is gone from a after its recovery but not from b), and then b wins.
# Either is right, as long as the group has a master and a is in it.
i=0
m=none
while [ $i -lt 300 ]; do
	m=$(master_site)
	case $m:$(role a) in none:*) ;; *:master | *:client) break ;; esac
	sleep 0.2
	i=$((i + 1))
done
[ "$m" != none ] && ok "a recovered and rejoined the group ($m the master)" ||
	bad "no master after a's restart: a is $(role a), b is $(role b); a's log ends: $(tail -3 "$T/a.log" | tr '\n' ' ')"

cgs "$m" cert issue --org 1 --mailbox user2@example.org --csr "$T/u2.csr" > /dev/null &&
	ok "a request after the recovery is taken ($m)" || bad "cert issue on $m after the recovery"
# Counted on a: whichever site issued them, a holds both.
i=0
while [ "$(issued)" -lt 2 ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
[ "$(issued)" -eq 2 ] && ok "both requests issued, the one queued before the panic and the one after; a holds both" ||
	bad "$(issued) certificates issued on a, 2 expected"
cgs a audit verify > /dev/null 2>&1 && ok "a's audit chain verifies" || bad "audit verify on a"
exit $fail
