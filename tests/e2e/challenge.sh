#!/bin/sh
# challenge.sh: a domain challenge through the real Postfix and DNS. The
# challenge reaches postmaster@example.org's Maildir; a reply built from it,
# DKIM-signed by the test key in DNS, sent with swaks from 127.0.0.1, is
# accepted and the domain shows validated. Each attack is refused with its
# own SMTP reply and changes nothing: a reply from 127.0.0.66 (SPF fail, no
# DKIM), a forged From, a wrong token, a vacation auto-reply, two From
# addresses, example.com's token used for example.org, an expired token, the
# token replayed after use.
. "$CG_SRC/tests/e2e/lib.sh"
K="$CG_TEST_DATA/dkim"
id=$(date +%s%N)

org=$(certgate --json org add --name "Challenge $id Sp. z o.o." --registration NTRPL-0000777777 \
	--country PL --contact ceo@example.org | sed 's/.*"id":"\([0-9]*\)".*/\1/')
status() { certgate domain list | awk -v d="$1" '$1 == d {print $2, $3}'; }
header() { sed -n "s/^$1: //p" "$2" | head -1 | tr -d '\r'; }

certgate domain add example.org --org "$org" > /dev/null
m=$(wait_mail postmaster@example.org "Challenge $id Sp" 30)
[ -n "$m" ] && ok "challenge delivered to postmaster@example.org" || { bad "no challenge in $(maildir postmaster@example.org)"; finish; }
tok=$(header Subject "$m" | sed 's/^ACME: //')
mid=$(header Message-ID "$m" | tr -d '<>')
grep -q '^Auto-Submitted: auto-generated; type=acme' "$m" && ok "RFC 8823 shape: Auto-Submitted type=acme, token $tok" || bad "challenge shape"
before=$(status example.org)

# reply NAME FROM TOKEN [header lines...]: $T/NAME.eml, as a mail client writes it
reply() {
	name=$1 from=$2 t=$3
	shift 3
	{
		printf 'From: %s\r\nTo: challenge@ca.example.net\r\nSubject: Re: ACME: %s\r\n' "$from" "$t"
		printf 'Message-ID: <%s.%s@example.org>\r\nIn-Reply-To: <%s>\r\n' "$name" "$id" "$mid"
		printf 'Date: %s\r\n' "$(date -R)"
		for h in "$@"; do printf '%s\r\n' "$h"; done
		printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWe agree.\r\n'
	} > "$T/$name.eml"
}
# refused NAME PATTERN FILE [MAIL-FROM] [swaks options...]
refused() {
	name=$1 pat=$2 file=$3 mf=${4:-postmaster@example.org}
	shift 3
	[ $# -eq 0 ] || shift
	out=$(send "$CG_CA_PORT" "$mf" challenge@ca.example.net "$file" "$@")
	line=$(echo "$out" | grep -E '^<\*\* +5[0-9][0-9] ' | head -1)
	if echo "$line" | grep -q -E -- "$pat" && [ "$(status example.org)" = "$before" ]; then
		ok "$name: ${line#<\*\* }"
	else
		bad "$name: '$line' (want /$pat/), example.org '$(status example.org)' (was '$before')"
	fi
}

reply spf postmaster@example.org "$tok"
refused "from 127.0.0.66, no DKIM" '550 5\.7\.23 certgate: SPF fail for example\.org from 127\.0\.0\.66' \
	"$T/spf.eml" postmaster@example.org --local-interface 127.0.0.66
reply sub postmaster@example.org "$tok"
refused "a subdomain's SPF pass (mkt.example.org's vendor at 127.0.0.66)" \
	'550 5\.7\.1 certgate: DMARC fails for example\.org: SPF pass for mkt\.example\.org \(not the domain itself\)' \
	"$T/sub.eml" bounce@mkt.example.org --local-interface 127.0.0.66
reply forged hostmaster@example.org "$tok"
refused "forged From" '550 5\.7\.1 certgate: the reply is from hostmaster@example\.org' "$T/forged.eml"
reply wrong postmaster@example.org "$(printf '%s' "$tok" | tr 'A-Za-z' 'N-ZA-Mn-za-m')"
refused "wrong token" '550 5\.7\.1 certgate: no pending challenge has this token' "$T/wrong.eml"
reply vacation postmaster@example.org "$tok" "Auto-Submitted: auto-replied"
refused "vacation auto-reply" '550 5\.7\.1 certgate: an automatic reply' "$T/vacation.eml"
reply twofrom "postmaster@example.org, mallory@evil.example" "$tok"
refused "two From addresses" '554 5\.6\.0 certgate: From: must hold exactly one mailbox' "$T/twofrom.eml"

# A challenge for example.com; its token used to answer for example.org.
certgate domain add example.com --org "$org" > /dev/null
m2=$(wait_mail postmaster@example.com "Challenge $id Sp" 30)
tok2=$(header Subject "$m2" | sed 's/^ACME: //')
reply cross postmaster@example.org "$tok2"
refused "example.com's token for example.org" '550 5\.7\.1 certgate: the reply is from postmaster@example\.org but the challenge went to postmaster@example\.com' \
	"$T/cross.eml"
# An expired token.
certgate domain challenge example.com --lifetime 1s > /dev/null
i=0
while [ "$(count_mail postmaster@example.com "Challenge $id Sp")" -lt 2 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
m3=$(grep -l -E "Challenge $id Sp" "$(maildir postmaster@example.com)/new/"* | xargs ls -t | head -1)
tok3=$(header Subject "$m3" | sed 's/^ACME: //')
[ -n "$tok3" ] && [ "$tok3" != "$tok2" ] && ok "second challenge, new token" || bad "second challenge: '$tok3'"
sleep 2
reply expired postmaster@example.com "$tok3"
refused "expired token" '550 5\.7\.1 certgate: this challenge token expired' "$T/expired.eml" postmaster@example.com

# The real reply: DKIM-signed by example.org's key, from 127.0.0.1.
reply good postmaster@example.org "$tok"
dkimsign test example.org "$K/example.org.key" < "$T/good.eml" > "$T/good.signed.eml"
out=$(send "$CG_CA_PORT" postmaster@example.org challenge@ca.example.net "$T/good.signed.eml")
echo "$out" | grep -q '^<-  250 ' && ok "reply accepted" || bad "reply: $(echo "$out" | grep '^<\*\*')"
[ "$(status example.org)" = "$org validated" ] && ok "example.org validated for organisation $org" ||
	bad "example.org: $(status example.org)"
certgate audit show | grep " domain.\(validate\|move\) " | tail -1 | grep -q "dkim=pass (d=example.org, aligned)" &&
	ok "audit: method, rules and the DKIM result" || bad "audit entry: $(certgate audit show | tail -2)"
f=$(wait_mail ceo@example.org "Subject: Domain example.org validated" 30)
[ -n "$f" ] && ok "the contact is told" || bad "no notice to ceo@example.org"

reply replay postmaster@example.org "$tok"
before=$(status example.org)
refused "token replayed after use" '550 5\.7\.1 certgate: this challenge token has already been used' "$T/replay.eml"
finish
