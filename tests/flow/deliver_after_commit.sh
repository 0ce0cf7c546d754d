#!/bin/sh
# deliver_after_commit.sh: a certificate is mailed only after the transaction
# that issued it has committed. The MTA of this test kills the issuer (kill -9)
# the first time it is handed a mail; when the delivery ran in the issuing
# transaction, that certificate died with it, and the restarted issuer issued
# another one under a new serial: the mailed certificate was in no record.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test deliver_order
ca_dirs
ca_conf "LogLevel info" "ExpiryReminders none"
ca_mta
# The MTA: the first mail is captured, then its caller (the issuer) is killed.
sed -i "s|^cat > $T/out/\\\$n.eml\$|&\nif [ -f $T/kill-once ]; then rm -f $T/kill-once; kill -9 \$PPID; fi|" "$T/mta"
grep -q kill-once "$T/mta" || { echo "FAIL the test's MTA was not made"; exit 1; }
touch "$T/kill-once"
chown certgate-ca "$T/kill-once"
chmod 0777 "$T"
ca_example
dns_start "$T/dns" 127.0.0.25
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=u1" -out "$T/u1.csr" 2>/dev/null
$cg cert issue --org 1 --mailbox user1@example.org --csr "$T/u1.csr" > /dev/null
drain || true # killed by its MTA
[ ! -f "$T/kill-once" ] && ok "the MTA killed the issuer during the first mail" ||
	bad "no mail reached the MTA"
drain
serials=$($cg --json cert list | sed -n 's/.*"serial": *"\([0-9A-Fa-f]*\)".*/\1/p')
[ "$(echo "$serials" | grep -c .)" -eq 1 ] && ok "one certificate issued" ||
	bad "certificates issued: $(echo "$serials" | tr '\n' ' ')"
for m in "$T/out/"*.eml; do
	s=$(sed -n 's/.*serial \([0-9A-Fa-f]\{8,\}\).*/\1/p' "$m" | head -1)
	[ -n "$s" ] || continue
	echo "$serials" | grep -q -i -x "$s" && ok "mailed certificate $s is on record" ||
		bad "mailed certificate $s is in no record (issued: $serials)"
done
[ "$(ls "$T/out/"*.eml | wc -l)" -ge 1 ] || bad "no delivery mail"
exit $fail
