#!/bin/sh
# delivery.sh: the issuer's outbound mail against an MTA that misbehaves.
#   - SIGUSR1 reloads the configuration; a bad file keeps the running one
#   - exit 75 (EX_TEMPFAIL): the deliver job is deferred with back-off, shown
#     by `certgate queue show`, and nothing is lost; `queue flush` retries it
#   - exit 67 (EX_NOUSER): refused for good, recorded as mail.failed in the
#     audit log, and not retried
#   - the argv the MTA gets: -i -f BounceAddress -- the mailbox; nothing of
#     the issuer's open in it, no signal blocked or ignored
#   - no MTA to run, or one killed by a signal: deferred, delivered later
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test delivery
ca_dirs
mkdir -p "$T/out"
chown certgate-ca "$T/out"
ca_conf "ExpiryReminders none" # this test counts the queue: no reminders in it
ca_example
cat > "$T/mta" <<EOF2
#!/bin/sh
# A sendmail whose mind is in $T/mta.mode.
# The signals the issuer left it blocked and ignored, read first and by the
# shell itself: a shell that waits for a child blocks every signal for a
# moment, and a child reading /proc/\$\$/status then could see that (it did
# once in CI: SigBlk fffffffe7ffbfeff).
sigs=
while IFS= read -r l; do
	case \$l in SigBlk:* | SigIgn:*) sigs="\$sigs\$l
" ;;
	esac
done < /proc/\$\$/status
case "\$(cat $T/mta.mode)" in
temp) echo "451 4.3.0 queue file write error"; exit 75 ;;
perm) echo "550 5.1.1 user unknown"; exit 67 ;;
kill) kill -9 \$\$ ;;
esac
# What the issuer left it: open files (before the lock's), signals blocked
# and ignored.
ls -l /proc/\$\$/fd > $T/out/.fds.\$\$
exec 9>> $T/out/.lock # the issuer runs several at once
flock 9
n=\$(ls $T/out | grep -c '\\.argv\$')
echo "\$*" > $T/out/\$n.argv
mv $T/out/.fds.\$\$ $T/out/\$n.fds
printf '%s' "\$sigs" > $T/out/\$n.sig
cat > $T/out/\$n.eml
EOF2
chmod 0755 "$T/mta"
echo temp > "$T/mta.mode"
chmod 0644 "$T/mta.mode"
dns_start "$T/dns" 127.0.0.12
ca_issuer || bad "issuer did not start"

# A reload to a file with an error keeps the running configuration.
cp "$T/certgate.conf" "$T/good.conf"
echo "Sendmail" >> "$T/certgate.conf"
kill -USR1 "$ipid"
wait_for 10 logged "reload refused" && ok "bad reload refused, logged" || bad "bad reload not refused"
kill -0 "$ipid" 2>/dev/null && ok "still running after a bad reload" || bad "died on a bad reload"
sed "s|^Sendmail .*|Sendmail $T/mta|" "$T/good.conf" > "$T/certgate.conf"
kill -USR1 "$ipid"
wait_for 10 logged "configuration and CA material reloaded" && ok "reloaded with the test MTA" ||
	bad "no reload"

# MTA says try later.
ca_csr a
sa=$($cg cert issue --org 1 --mailbox anna@example.org --csr "$T/a.csr" --wait --timeout 30 2>&1 || true)
echo "$sa" | grep -qE '^[0-9a-f]{32}$' && ok "issued $sa" || bad "issue: $sa"
deferred() { $cg queue show | grep -q "^deliver  *1  *[0-9-]*T.* $sa\$"; }
wait_for 10 deferred && ok "deliver job deferred after exit 75 (queue show)" ||
	bad "not deferred: $($cg queue show)"
logged "exited with status 75: 451 4.3.0 queue file write error; retry in 30 s$" &&
	ok "temporary failure logged with the MTA's words" || bad "log: $(grep deliver "$T/issuer.log")"
[ -z "$(ls "$T/out")" ] && ok "nothing delivered yet" || bad "delivered during tempfail"
$cg --json queue show | grep -q "\"kind\":\"deliver\",\"id\":\"$sa\",\"attempts\":1" &&
	ok "queue show --json" || bad "queue show --json: $($cg --json queue show)"

# MTA well again; the operator flushes.
echo ok > "$T/mta.mode"
out=$($cg queue flush)
[ "$out" = "1 deferred job queued" ] && ok "queue flush: $out" || bad "queue flush: $out"
wait_for 10 test -s "$T/out/0.eml" && ok "delivered after flush" || bad "not delivered after flush"
grep -q "serial $sa" "$T/out/0.eml" && ok "the mail is about $sa" || bad "wrong mail"
[ "$(cat "$T/out/0.argv")" = "-i -f bounces@ca.example.net -- anna@example.org" ] &&
	ok "argv: $(cat "$T/out/0.argv")" || bad "argv: $(cat "$T/out/0.argv")"
# Open in the MTA beyond 0-2: its script, and the shell's own copy of its
# stdout (the memory file its words go to); nothing else of the issuer's.
fds=$(sed -n 's/.* \([0-9]*\) -> \(.*\)$/\1 \2/p' "$T/out/0.fds")
out2=$(echo "$fds" | sed -n 's/^2 //p')
echo "$fds" | grep -q "^2 /memfd:certgate-sendmail" || bad "no list of open files: $(cat "$T/out/0.fds")"
left=$(echo "$fds" | grep -v -E "^[012] " | while read -r n t; do
	[ "$t" = "$out2" ] || [ "$t" = "$T/mta" ] || echo "$n $t"
done)
[ -z "$left" ] && ok "no file of the issuer left open in the MTA" || bad "open in the MTA: $left"
# No signal blocked, and none of 1-31 ignored (glibc's posix_spawn leaves
# its own two, 32 and 33, ignored in every child).
blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' "$T/out/0.sig") ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' "$T/out/0.sig")
[ -n "$blk" ] && [ $((0x$blk)) = 0 ] && [ -n "$ign" ] && [ $((0x$ign & 0x7fffffff)) = 0 ] &&
	ok "the MTA runs with no signal blocked or ignored" || bad "MTA signals: $(cat "$T/out/0.sig")"
wait_for 10 sh -c "$cg audit show | grep -q ' cert.deliver  *$sa '" && ok "cert.deliver audited" ||
	bad "cert.deliver not audited"
[ "$($cg queue show | tail -1)" = "0 jobs" ] && ok "queue empty" || bad "queue: $($cg queue show)"

# MTA refuses for good: recorded, not retried.
echo perm > "$T/mta.mode"
ca_csr b
sb=$($cg cert issue --org 1 --mailbox bob@example.org --csr "$T/b.csr" --wait --timeout 30 2>&1 || true)
echo "$sb" | grep -qE '^[0-9a-f]{32}$' && ok "issued $sb" || bad "issue: $sb"
wait_for 10 sh -c "$cg audit show | grep -q ' mail.failed  *$sb .*550 5.1.1 user unknown$'" &&
	ok "permanent refusal audited as mail.failed with the reason" || bad "no mail.failed: $($cg audit show | tail -3)"
logged "mail refused for good" && ok "and logged for the operator" || bad "not logged"
[ "$($cg queue show | tail -1)" = "0 jobs" ] && ok "not retried" || bad "queue: $($cg queue show)"
$cg audit show | grep -q " cert.deliver  *$sb " && bad "recorded as delivered" || ok "not recorded as delivered"
# No MTA to run, then one killed by a signal: each a temporary failure,
# retried, and delivered once the MTA is back.
reloads() { grep -c "configuration and CA material reloaded" "$T/issuer.log"; }
r=$(reloads)
sed "s|^Sendmail .*|Sendmail $T/no-such-mta|" "$T/good.conf" > "$T/certgate.conf"
kill -USR1 "$ipid"
wait_for 10 sh -c "[ \$(grep -c 'configuration and CA material reloaded' $T/issuer.log) -gt $r ]" || bad "no reload"
ca_csr c
sc=$($cg cert issue --org 1 --mailbox cara@example.org --csr "$T/c.csr" --wait --timeout 30 2>&1 || true)
echo "$sc" | grep -qE '^[0-9a-f]{32}$' || bad "issue: $sc"
wait_for 10 logged "cannot run $T/no-such-mta: No such file or directory; retry in" &&
	ok "no MTA to run: deferred, logged" || bad "no MTA: $(grep -i "deliver\|cannot" "$T/issuer.log" | tail -3)"
r=$(reloads)
sed "s|^Sendmail .*|Sendmail $T/mta|" "$T/good.conf" > "$T/certgate.conf"
echo kill > "$T/mta.mode"
kill -USR1 "$ipid"
wait_for 10 sh -c "[ \$(grep -c 'configuration and CA material reloaded' $T/issuer.log) -gt $r ]" || bad "no reload"
$cg queue flush > /dev/null
wait_for 10 logged "was killed by signal 9" && ok "an MTA killed by a signal: deferred, logged" ||
	bad "killed MTA: $(grep -i "deliver\|signal" "$T/issuer.log" | tail -3)"
$cg audit show | grep -q " cert.deliver  *$sc " && bad "recorded as delivered" || ok "not recorded as delivered while it failed"
echo ok > "$T/mta.mode"
$cg queue flush > /dev/null
wait_for 10 sh -c "$cg audit show | grep -q ' cert.deliver  *$sc '" && grep -l "serial $sc" "$T/out/"*.eml > /dev/null &&
	ok "delivered once the MTA is back" || bad "not delivered: $($cg queue show)"
$cg audit verify > /dev/null && ok "audit chain intact" || bad "audit chain"
[ $fail -ne 0 ] && cat "$T/issuer.log"
exit $fail
