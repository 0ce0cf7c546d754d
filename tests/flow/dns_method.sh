#!/bin/sh
# dns_method.sh: domain validation by DNS change (TLS BR 3.2.2.4.7). The
# issuer mails the organisation's contact a random value to publish at
# _certgate-challenge.DOMAIN and looks for it, DNSSEC-validated, through NSD
# serving a zone signed here. A record that appears late validates (method
# dns-change, both rules' versions, evidence with the answer and its DNSSEC
# status); a wrong value, a record removed before the look, and a value
# past its lifetime do not; a record reached through a CNAME does; the
# contact's reply to the instruction (through certgate-milter -t) asks for
# a look at once.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/nsd.sh"
. "$CG_SRC/tests/lib/ca.sh"
. "$CG_SRC/tests/lib/pki.sh"
ca_test dns_method
CA_CLEANUP=nsd_stop
Z=cgdns
nsd_init "$T/nsd" 127.0.0.34
# zone RECORDS...: the signed zone cgdns. with these records, (re)loaded
zone() {
	{
		printf '$ORIGIN %s.\n$TTL 0\n' "$Z"
		printf '@ IN SOA ns.%s. hostmaster.%s. %s 3600 600 86400 0\n' "$Z" "$Z" "$(date +%s)"
		printf '@ IN NS ns.%s.\nns IN A %s\n' "$Z" "$NSD_IP"
		for r in "$@"; do printf '%s\n' "$r"; done
	} > "$NSD_DIR/$Z.zone"
	nsd_sign "$Z" || bad "ldns-signzone"
	[ ! -s "$NSD_DIR/nsd.pid" ] || nsd_reload
}
nsd_key "$Z" || { bad "ldns-keygen"; exit 1; }
zone
nsd_start "$Z=$Z.zone.signed" || { bad "nsd: $(cat "$NSD_DIR/nsd.log")"; exit 1; }
# The milter's SPF for the contact's reply: the tests' dnsmasq zones.
dns_start "$T/dns" 127.0.0.35

ca_dirs
ca_conf "LogLevel info" "ExpiryReminders none" "DnssecTrustAnchor $NSD_DIR/$Z.anchor"
ca_mta
$cg ca init > /dev/null
$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL \
	--contact ceo@example.org > /dev/null
drain() { nsd_run "$CG_BIN/certgate-issuer" --drain -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1; }
status() { $cg domain list | awk -v d="$1" '$1 == d {print $3, $6}'; }
value_of() { # the value the instruction mail for DOMAIN asks for
	qp "$(last_mail ceo@example.org)" | tr -d '\r' | sed -n "s/^ *_certgate-challenge\\.$1\\. IN TXT \"\\([^\"]*\\)\"\$/\\1/p"
}
check() { $cg domain check "$1" > /dev/null && drain; }

# A record that appears late.
$cg domain add late.$Z --org 1 --method dns | grep -q "its contact is mailed the TXT record to publish at _certgate-challenge.late.$Z" &&
	ok "domain add --method dns" || bad "domain add --method dns"
drain
m=$(last_mail ceo@example.org)
v=$(value_of "late.$Z")
[ -n "$m" ] && printf '%s' "$v" | grep -q -E '^[A-Za-z0-9_-]{32}$' &&
	ok "the contact is mailed the record to publish (a 192-bit value)" || { bad "instruction: $(qp "$m" | head -30)"; exit 1; }
grep -q 'multipart/signed; protocol="application/pkcs7-signature"' "$m" && ok "the instruction is S/MIME-signed" || bad "not signed"
! grep -r -q -a -- "$v" "$T/db" && ok "the value is not in the database" || bad "value stored in clear"
check late.$Z
[ "$(status late.$Z)" = "pending -" ] && grep -q "DNS-change value not at _certgate-challenge.late.$Z yet" "$T/issuer.log" &&
	ok "no record yet: still pending" || bad "before publishing: $(status late.$Z)"
zone "_certgate-challenge.late IN TXT \"$v\""
check late.$Z
[ "$(status late.$Z)" = "validated dns-change" ] && ok "the record appeared: validated, method dns-change" || bad "after publishing: $(status late.$Z); $(tail -3 "$T/issuer.log")"
a=$($cg audit show | grep "domain.validate .*late.$Z")
echo "$a" | grep -q "dns-change (S/MIME BR 1.0.16 3.2.2.1; TLS BR 2.2.6 3.2.2.4.7)" &&
	echo "$a" | grep -q "TXT _certgate-challenge.late.$Z, DNSSEC secure, found \"$v\"" &&
	ok "audited with the method, both rules' versions, the answer and its DNSSEC status" || bad "audit: $a"
ev=$(echo "$a" | sed -n 's/.*evidence \([0-9a-f]\{64\}\).*/\1/p')
[ -n "$ev" ] && grep -r -q "DNSSEC secure" "$T/evidence" && ok "evidence kept ($ev)" || bad "evidence: $ev"
# The issuer's chain of looks stops once validated.
drain_later +2h
[ "$($cg --json queue show | grep -c dnscheck)" -eq 0 ] && ok "no look is left queued" || bad "queue: $($cg queue show)"

# A wrong value, and a record removed before the look.
$cg domain add wrong.$Z --org 1 --method dns > /dev/null
drain
zone "_certgate-challenge.wrong IN TXT \"not-the-value\""
check wrong.$Z
[ "$(status wrong.$Z)" = "pending -" ] && grep -q "not at _certgate-challenge.wrong.$Z yet (check now: \"not-the-value\")" "$T/issuer.log" &&
	ok "a wrong value does not validate" || bad "wrong value: $(status wrong.$Z)"
zone "_certgate-challenge.wrong IN TXT \"$(value_of "wrong.$Z")\""
zone
check wrong.$Z
[ "$(status wrong.$Z)" = "pending -" ] && ok "a record removed before the look does not validate" || bad "removed: $(status wrong.$Z)"

# A value past its lifetime (ChallengeLifetime 24h): the look then records
# the expiry; publishing it afterwards validates nothing.
drain_later +25h
$cg audit show | grep -q "challenge.expired *wrong.$Z .*not found at _certgate-challenge.wrong.$Z" &&
	ok "the value expired: audited" || bad "expiry: $($cg audit show | tail -3)"
zone "_certgate-challenge.wrong IN TXT \"$(value_of "wrong.$Z")\""
out=$($cg domain check wrong.$Z 2>&1) && bad "domain check: $out" ||
	{ echo "$out" | grep -q "has no pending DNS-change challenge" && ok "an expired value is not looked for again" || bad "$out"; }
drain
[ "$(status wrong.$Z)" = "pending -" ] && ok "still pending" || bad "expired value validated: $(status wrong.$Z)"

# A record reached through a CNAME; the look asked for by the contact's
# reply to the instruction.
$cg domain add alias.$Z --org 1 --method dns > /dev/null
drain
m=$(last_mail ceo@example.org)
zone "_certgate-challenge.alias IN CNAME target.$Z." "target IN TXT \"$(value_of "alias.$Z")\""
{
	printf 'From: ceo@example.org\r\nTo: challenge@ca.example.net\r\nSubject: Re: %s\r\n' "$(sed -n 's/^Subject: //p' "$m" | head -1 | tr -d '\r')"
	printf 'Message-ID: <done.%s@example.org>\r\nIn-Reply-To: %s\r\n' "$$" "$(sed -n 's/^Message-ID: //p' "$m" | head -1 | tr -d '\r')"
	printf 'MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\ndone\r\n'
} > "$T/done.eml"
got=$(dns_run "$CG_BIN/certgate-milter" -c "$T/certgate.conf" -t "$T/done.eml" --client-ip 127.0.0.1 \
	--helo mail.example.org --mail-from ceo@example.org --rcpt challenge@ca.example.net 2>>"$T/milter.err" |
	sed -n 's/^verdict: //p')
case $got in accept* | discard*) ok "the contact's reply is taken: $got" ;; *) bad "reply: $got; $(tail -3 "$T/milter.err")" ;; esac
[ "$(status alias.$Z)" = "pending -" ] && ok "the reply itself validates nothing" || bad "$(status alias.$Z)"
drain
[ "$(status alias.$Z)" = "validated dns-change" ] && ok "looked for at once: validated through the CNAME" || bad "alias: $(status alias.$Z); $(tail -3 "$T/issuer.log")"
exit $fail
