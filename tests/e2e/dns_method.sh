#!/bin/sh
# dns_method.sh: DNS in the sandbox. A certificate at dnssec.example (signed,
# served by NSD behind the sandbox's dnsmasq) is issued on a CAA answer the
# issuer validated as secure. A domain validated by DNS change (TLS BR
# 3.2.2.4.7) through the real Postfix and DNS. The issuer daemon mails the organisation's
# contact the record to publish; the test publishes a wrong value, then the
# right one (the sandbox's DNS server reloaded), and the contact's reply to
# the instruction, sent through Postfix, has it looked for at once: the
# domain shows validated by dns-change.
. "$CG_SRC/tests/e2e/lib.sh"
D=dnschange.example
id=$(date +%s%N)
org=$(certgate --json org add --name "DNS $id Sp. z o.o." --registration NTRPL-0000888888 \
	--country PL --contact ceo@example.org | sed 's/.*"id":"\([0-9]*\)".*/\1/')
status() { certgate domain list | awk -v d="$1" '$1 == d {print $2, $3, $6}'; }
header() { sed -n "s/^$1: //p" "$2" | head -1 | tr -d '\r'; }
# publish VALUE: the TXT record, and the DNS server reloaded
publish() {
	printf 'txt-record=_certgate-challenge.%s,"%s"\n' "$D" "$1" > "$CG_SANDBOX/dns/dnschange-record.conf"
	"$SB" dns reload
}
# looked: every look asked for has run (no "now" check queued)
looked() {
	i=0
	while certgate queue show | grep -q "dnscheck .*|now" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	sleep 0.5
}

# DNSSEC: the signed zone's CAA answer validates (secure); others are
# insecure (outside the trust anchor).
certgate domain add dnssec.example --org "$org" --validated > /dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj "/CN=x" \
	-out "$T/s.csr" 2>/dev/null
s=$(certgate cert issue --org "$org" --mailbox "s$id@dnssec.example" --csr "$T/s.csr" --wait --timeout 60 2>&1 || true)
certgate audit show | grep "cert.issue" | grep "s$id@dnssec.example" | grep -q "CAA at dnssec.example permits this CA (DNSSEC: secure)" &&
	ok "issued at the signed zone on a secure CAA answer ($s)" || bad "dnssec.example: $s; $(certgate audit show | grep "s$id@" | tail -1)"

certgate domain add $D --org "$org" --method dns > /dev/null
m=$(wait_mail ceo@example.org "DNS $id Sp" 30)
[ -n "$m" ] && ok "the instruction reached ceo@example.org through Postfix" || { bad "no instruction in $(maildir ceo@example.org)"; finish; }
v=$(/usr/bin/python3 -c 'import quopri, sys; sys.stdout.buffer.write(quopri.decodestring(open(sys.argv[1], "rb").read()))' "$m" |
	tr -d '\r' | sed -n "s/^ *_certgate-challenge\\.$D\\. IN TXT \"\\([A-Za-z0-9_-]*\\)\"\$/\\1/p" | head -1)
[ ${#v} -eq 32 ] && ok "value to publish: 32 characters" || { bad "value '$v'"; finish; }

publish "not-$v"
certgate domain check $D > /dev/null
looked
[ "$(status $D)" = "$org pending -" ] && ok "a wrong value: still pending" || bad "wrong value: $(status $D)"

publish "$v"
{
	printf 'From: ceo@example.org\r\nTo: challenge@ca.example.net\r\nSubject: Re: %s\r\n' "$(header Subject "$m")"
	printf 'Message-ID: <dns.%s@example.org>\r\nIn-Reply-To: %s\r\nDate: %s\r\n' "$id" "$(header Message-ID "$m")" "$(date -R)"
	printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPublished.\r\n'
} > "$T/done.eml"
out=$(send "$CG_CA_PORT" ceo@example.org challenge@ca.example.net "$T/done.eml")
echo "$out" | grep -q '^<- *250 ' && ok "the contact's reply is accepted by Postfix and the milter" ||
	bad "reply: $(echo "$out" | grep -E '^<(\*\*|-) +[245][0-9][0-9] ' | tail -2)"
i=0
while [ "$(status $D)" != "$org validated dns-change" ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
[ "$(status $D)" = "$org validated dns-change" ] && ok "validated by DNS change, looked for at once" || bad "after the reply: $(status $D)"
certgate audit show | grep "domain.validate *$D" | grep -q "TLS BR 2.2.6 3.2.2.4.7.*found \"$v\"" &&
	ok "audited with the answer found" || bad "audit: $(certgate audit show | grep "$D" | tail -2)"
rm -f "$CG_SANDBOX/dns/dnschange-record.conf"
"$SB" dns reload
finish
