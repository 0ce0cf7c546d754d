#!/bin/sh
# upgrade.sh: a replicated CA of an older certgate (its databases at schema
# version 1, without the index of revoked certificates) upgraded in place:
# every site stopped, then started with this certgate.
#   1. the master (a) brings the schema to 2, indexing every revoked
#      certificate, and its CRL lists them all
#   2. the client (b), which held a version 1 copy, waits for the master
#      and receives the index: its db check passes
#   3. a revocation after the upgrade is in the index on both sites and in
#      the master's next CRL
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test upgrade
. "$CG_SRC/tests/lib/sites.sh"
cleanup_sites() { stop_all; }
CA_CLEANUP=cleanup_sites
BASE=$((29600 + ($$ % 200) * 3))
SITES="a=127.0.0.1:$BASE b=127.0.0.1:$((BASE + 1)) c=127.0.0.1:$((BASE + 2))"
ca_dirs
ca_conf "LogLevel info" "ExpiryReminders none"
dns_start "$T/dns" 127.0.0.49
sites_ca
# 300 certificates, 30 of them revoked, as the issuer leaves them.
"$CG_BIN/../tests/cg-benchtool" load "$T/certgate.conf" 1 example.org 300 30 > /dev/null
"$CG_BIN/../tests/cg-storetool" downgrade "$T/db" > /dev/null
[ ! -e "$T/db/certs_revoked" ] && ok "the database is at version 1 (no index of revoked certificates)" ||
	bad "downgrade left certs_revoked"
# b held a copy of it as a client of the older certgate.
mkdir -p "$T/b"
cp -a "$T/db" "$T/b/db"
rm -f "$T/b/db"/__db.*
site_seed a
site a 100 "ReplicationCreateGroup yes" "ReplicationAckTimeout 3s"
site b 50 "ReplicationAckTimeout 3s"
site c 0 "ReplicationAckTimeout 3s"
crl_serials() { openssl crl -inform DER -in "$T/a/crl/issuing-ca.crl" -noout -text | grep -c "Serial Number:"; }

start a
start b
start c
wait_role a master 30 && ok "a is the master" || bad "a is $(role a)"
upgraded() { grep -q "schema version 2: 30 of 300 certificates revoked, 0 of 300 requests held" "$T/a.log"; }
wait_for 30 upgraded && grep -q "schema version 1 to 2: indexing" "$T/a.log" &&
	ok "a brought the schema to 2: 30 of 300 certificates revoked" ||
	bad "no upgrade on a: $(grep -i schema "$T/a.log" | head -3)"
wait_role b client 60 && ok "b is a client" || bad "b is $(role b)"
caught_up b 60 && ok "b caught up" || bad "b never caught up"
i=0
until logged_crl=$(grep -c "CRL [0-9]* written" "$T/a.log") && [ "$logged_crl" -gt 0 ] || [ $i -ge 100 ]; do
	sleep 0.2
	i=$((i + 1))
done
[ "$(crl_serials)" = 30 ] && ok "a's CRL lists the 30 revoked certificates" ||
	bad "a's CRL lists $(crl_serials)"
out=$(cgs a db check 2>&1) && ok "db check passes on a" || bad "db check on a: $out"
out=$(cgs b db check 2>&1) && ok "db check passes on b (its index agrees with its records)" ||
	bad "db check on b: $out"
[ -s "$T/b/db/certs_revoked" ] && ok "b received the index" || bad "b has no certs_revoked"
grep -q "schema version 1 to" "$T/b.log" && bad "b upgraded on its own" || ok "b did not upgrade on its own"

# 3. a revocation after the upgrade
serial=$(cgs a --json cert list | grep '"status": *"valid"' | head -1 |
	sed -n 's/.*"serial": *"\([0-9a-f]*\)".*/\1/p')
cgs a cert revoke "$serial" --reason keyCompromise > /dev/null && ok "revoked $serial on a" ||
	bad "revoke $serial"
i=0
while [ "$(crl_serials)" != 31 ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
[ "$(crl_serials)" = 31 ] && ok "a's next CRL lists 31" || bad "a's CRL lists $(crl_serials)"
# Serials compared as numbers: openssl prints them in upper case, without
# leading zero bytes.
openssl crl -inform DER -in "$T/a/crl/issuing-ca.crl" -noout -text |
	sed -n 's/^ *Serial Number: *0*\([0-9A-Fa-f]*\)$/\1/p' | tr 'A-F' 'a-f' |
	grep -qx "$(echo "$serial" | sed 's/^0*//')" &&
	ok "with $serial" || bad "$serial is not in a's CRL"
caught_up b 60 || true
i=0
until out=$(cgs b db check 2>&1) || [ $i -ge 50 ]; do sleep 0.2; i=$((i + 1)); done
echo "$out" | grep -q "database is consistent" && ok "db check passes on b after the revocation" ||
	bad "db check on b: $out"
# b applies what it receives on its own threads: its view is polled (up to
# 20 s; a run with other tests beside it saw it a moment after the check).
revoked_on_b() { [ "$(cgs b --json cert show "$serial" | grep -c '"status": *"revoked"')" = 1 ]; }
i=0
until revoked_on_b || [ $i -ge 100 ]; do sleep 0.2; i=$((i + 1)); done
revoked_on_b && ok "b holds the revocation" || bad "b: $(cgs b --json cert show "$serial")"
exit $fail
