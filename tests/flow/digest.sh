#!/bin/sh
# digest.sh: the operator's view after a scripted day of traffic (issued
# certificates, rows refused at intake and at issue, a revocation, a pending
# registration, a held enrolment, a domain waiting for its postmaster): the
# daily digest mailed to OperatorAddress at DigestTime (the issuer's clock
# moved past it by libfaketime) says what the database says, counted here
# from certgate's listings and audit log; `certgate stats` prints the same
# figures, as JSON too, and in the Prometheus text format that promtool
# accepts. A digest is queued once per day, however often the issuer runs.
set -eu
. "$CG_SRC/tests/lib/pki.sh"
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
. "$CG_SRC/tests/lib/mail.sh"
ca_test digest
ca_dirs
mkdir -p "$T/m" "$T/tmp"
chown certgate "$T/tmp"
pki_ca "$T/ca" "Admin CA"
pki_leaf "$T/ca" "$T/anna" anna@example.org ec
pki_leaf "$T/ca" "$T/zed" zed@example.net ec
# The digest ten minutes from now (UTC); the disk warning set so high that
# it must fire.
at=$(date -u -d '+10 min' +%H:%M)
ca_conf "AdminTrustAnchors $T/ca/cert.pem" "LetterTrustAnchors $T/ca/cert.pem" "LogLevel notice" \
	"TempDir $T/tmp" "OperatorAddress ops@ca.example.net" "DigestTime $at" "DiskSpaceWarning 1000000G"
ca_mta
ca_example
$cg domain add example.com --org 1 > /dev/null
$cg admin add anna@example.org --org 1 > /dev/null
dns_start "$T/dns" 127.0.0.24
header() { sed -n "s/^$1: //p" "$2" | head -1 | tr -d '\r'; }

# ---- the day ----
for i in 1 2 3; do csr "ok$i"; done
csr one
openssl req -new -key "$T/k/ok1.key" -subj "/CN=reuse" -out "$T/k/reuse.csr" 2>/dev/null
pem() { awk '{printf "%s\n", $0}' "$T/k/$1.csr"; }
{
	printf 'First Name,Last Name,Email,Country,CSR\r\n'
	for i in 1 2 3; do printf 'A,B,ok%s@example.org,PL,"%s"\r\n' "$i" "$(pem "ok$i")"; done
	printf 'C,D,x@example.net,PL,"%s"\r\n' "$(pem one)"
	printf 'E,F,y@example.net,PL,"%s"\r\n' "$(pem one)"
	printf 'G,H,z@example.com,PL,"%s"\r\n' "$(pem one)"
	printf 'I,J,reuse@example.org,PL,"%s"\r\n' "$(pem reuse)"
} > "$T/m/day.csv"
entity "$T/m/day.ent" "The day's list." "$T/m/day.csv" text/csv day.csv
smail "$T/m/day.eml" anna anna@example.org enroll@ca.example.net day "$T/m/day.ent"
verdict_of "$(milter_t "$T/m/day.eml" anna@example.org enroll@ca.example.net)" | grep -q -E '^(accept|discard)' ||
	bad "the day's enrolment refused"
# An unsigned enrolment: held.
printf 'From: anna@example.org\r\nTo: enroll@ca.example.net\r\nSubject: held\r\nMessage-ID: <held.%s@example.org>\r\n\r\nEmail: held@example.org\r\n%s\r\n' \
	"$$" "$(sed 's/$/\r/' "$T/k/one.csr")" > "$T/m/held.eml"
verdict_of "$(milter_t "$T/m/held.eml" anna@example.org enroll@ca.example.net)" | grep -q -E '^(accept|discard)' ||
	bad "the unsigned enrolment refused"
# A registration by letter: pending.
printf 'Content-Type: text/plain\r\n\r\nRequest: register-organisation\r\nOrganisation: Zed Ltd\r\nRegistration: NTRGB-12345678\r\nCountry: GB\r\nContact: zed@example.net\r\nDomain: example.net\r\n' > "$T/m/reg.ent"
smail "$T/m/reg.eml" zed zed@example.net request@ca.example.net register "$T/m/reg.ent"
verdict_of "$(milter_t "$T/m/reg.eml" zed@example.net request@ca.example.net)" | grep -q -E '^(accept|discard)' ||
	bad "the registration refused"
drain
s1=$($cg --json cert list | tr '}' '\n' | grep '"mailbox":"ok1@example.org"' | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p')
$cg cert revoke "$s1" --reason superseded > /dev/null
drain

# ---- what the database says, counted independently ----
issued=$($cg --json cert list | grep -c '"serial"' || true)
revoked=$($cg --json cert list | grep -c '"status":"revoked"' || true)
valid=$($cg --json cert list | grep -c '"status":"valid"' || true)
refused=$($cg audit show | grep -c -E ' (item|cert)\.refuse ' || true)
pending=$($cg --json org list | grep -c '"status":"pending"' || true)
[ "$issued" = 3 ] && [ "$revoked" = 1 ] && [ "$refused" = 4 ] && [ "$pending" = 1 ] &&
	ok "the day: 3 issued, 1 revoked, 4 refused, 1 pending organisation" ||
	bad "the day went otherwise: issued $issued revoked $revoked refused $refused pending $pending"

# ---- the digest ----
drain_later +15m
d=$(last_mail ops@ca.example.net)
[ -n "$d" ] && ok "a digest mailed to OperatorAddress" || { bad "no digest (queue: $($cg queue show))"; exit 1; }
qp "$d" > "$T/digest.txt"
grep -q "^Last 24 hours   $issued issued, $refused refused, $revoked revoked" "$T/digest.txt" &&
	ok "digest: $issued issued, $refused refused, $revoked revoked (the database's figures)" ||
	bad "digest 24h: $(grep 'Last 24' "$T/digest.txt")"
grep -q "^Certificates    $valid valid, 0 expired, $revoked revoked" "$T/digest.txt" && ok "digest: certificates by state" ||
	bad "digest certificates: $(grep '^Certificates' "$T/digest.txt")"
grep -q "^Organisations   1 active, $pending pending" "$T/digest.txt" && grep -q "pending .*Zed Ltd (NTRGB-12345678)" "$T/digest.txt" &&
	ok "digest: the pending organisation, named" || bad "digest orgs: $(grep -A1 '^Organisations' "$T/digest.txt")"
grep -q "^Requests held   1 " "$T/digest.txt" && ok "digest: the held request" || bad "digest held: $(grep '^Requests' "$T/digest.txt")"
grep -q "refused    2  DOMAIN is not a domain of this organisation" "$T/digest.txt" &&
	grep -q "refused    1  DOMAIN is not validated (pending)" "$T/digest.txt" &&
	grep -q "refused    1  key refused: .*already certified for another mailbox; make a new key for ADDRESS" "$T/digest.txt" &&
	ok "digest: the commonest refusals, counted" ||
	bad "digest reasons: $(grep 'refused ' "$T/digest.txt")"
grep -q "^Domains         1 validated, 1 pending" "$T/digest.txt" && ok "digest: domains" || bad "digest domains: $(grep '^Domains' "$T/digest.txt")"
grep -q "^WARNING .*MiB free under .*(DiskSpaceWarning)" "$T/digest.txt" && ok "digest: the disk warning" ||
	bad "digest warnings: $(grep -i warn "$T/digest.txt")"
grep -q "^Subject: certgate digest [0-9-]*: $issued issued, $refused refused, 1 warning" "$d" && ok "its subject sums it up" ||
	bad "digest subject: $(header Subject "$d")"
$cg audit show | grep -q " digest.sent " && ok "digest.sent audited" || bad "no digest.sent"
drain_later +20m
drain_later +30m
[ "$(mails_to ops@ca.example.net)" = 1 ] && ok "one digest a day, however often the issuer runs" || bad "digests: $(mails_to ops@ca.example.net)"

# ---- certgate stats ----
$cg stats > "$T/stats.txt"
grep -q "^Last 24 hours   $issued issued, $refused refused, $revoked revoked" "$T/stats.txt" &&
	ok "certgate stats: the digest's figures" || bad "stats: $(cat "$T/stats.txt")"
$cg stats --json > "$T/stats.json"
/usr/bin/python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
assert s["last24h"]["issued"] == int(sys.argv[2]), s
assert s["last24h"]["refused"] == int(sys.argv[3]), s
assert s["certificates"]["revoked"] == int(sys.argv[4]), s
assert s["organisations"]["pending"] == 1 and s["requestsHeld"] == 1, s
assert s["topRefusals"][0] == {"count": 2, "reason": "DOMAIN is not a domain of this organisation"}, s
assert len(s["warnings"]) == 1, s' "$T/stats.json" "$issued" "$refused" "$revoked" &&
	ok "certgate stats --json: the same figures" || bad "stats --json: $(cat "$T/stats.json")"
$cg stats --prometheus > "$T/metrics.prom"
PROMTOOL=$(command -v promtool || echo /usr/local/lib/certgate-test/promtool)
if out=$("$PROMTOOL" check metrics < "$T/metrics.prom" 2>&1); then
	ok "promtool check metrics accepts certgate stats --prometheus"
else
	bad "promtool: $out"
fi
grep -q "^certgate_events_last_day{event=\"issued\"} $issued\$" "$T/metrics.prom" &&
	grep -q "^certgate_certificates{state=\"revoked\"} $revoked\$" "$T/metrics.prom" &&
	grep -q "^certgate_warnings 1\$" "$T/metrics.prom" && ok "the metrics carry the figures" ||
	bad "metrics: $(cat "$T/metrics.prom")"

exit $fail
