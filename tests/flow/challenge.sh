#!/bin/sh
# challenge.sh: domain challenges from the issuer's mail to the milter's
# verdict on the reply, with a private DNS server (tests/e2e/zones) for SPF,
# DKIM and DMARC. The replies go through `certgate-milter -t`, the same code
# the daemon runs. A good reply is accepted; each bad one differs from it in
# one thing only and is refused with its own reply and no change of state.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test challenge
ca_dirs
mkdir -p "$T/r"
ca_conf "LogLevel notice"
ca_mta
$cg ca init > /dev/null
$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL \
	--contact ceo@example.org > /dev/null
$cg org add --name "Other Ltd" --registration NTRGB-12345678 --country GB \
	--contact boss@example.com > /dev/null
dns_start "$T/dns" 127.0.0.14
K="$CG_TEST_DATA/dkim"

header() { sed -n "s/^$1: //p" "$2" | head -1 | tr -d '\r'; }
token_of() { header Subject "$1" | sed 's/^ACME: //'; }
msgid_of() { header Message-ID "$1" | tr -d '<>'; }
status() { $cg domain list | awk -v d="$1" '$1 == d {print $2, $3, $6}'; }

$cg domain add example.org --org 1 > /dev/null
drain
m=$(last_mail postmaster@example.org)
[ -n "$m" ] && ok "challenge mailed to postmaster@example.org" || { bad "no challenge mail"; exit 1; }
tok=$(token_of "$m")
mid=$(msgid_of "$m")
printf '%s' "$tok" | grep -q -E '^[A-Za-z0-9_-]{32}$' && ok "token: 32 base64url characters" || bad "token '$tok'"
grep -q '^Auto-Submitted: auto-generated; type=acme' "$m" && ok "Auto-Submitted: auto-generated; type=acme" || bad "Auto-Submitted"
grep -q '^Reply-To: <challenge@ca.example.net>' "$m" && ok "Reply-To the challenge address" || bad "Reply-To"
grep -q 'multipart/signed; protocol="application/pkcs7-signature"' "$m" && ok "S/MIME-signed" || bad "not signed"
qp "$m" > "$T/text"
grep -q 'Example Sp. z o.o. (NTRPL-0000123456)' "$T/text" && grep -q 'keep its subject line' "$T/text" &&
	grep -q 'valid until 20' "$T/text" &&
	ok "the text names the organisation, what to do and until when" || bad "challenge text"
# The stored hash, never the token.
! grep -r -q -a -- "$tok" "$T/db" && ok "the token is not in the database" || bad "token stored in clear"
$cg audit show | grep -q "challenge.sent .*to postmaster@example.org for organisation 1" &&
	ok "challenge.sent audited" || bad "challenge.sent not audited"

# reply NAME [FROM] [SUBJECT] [extra header lines...]: $T/r/NAME.eml
reply() {
	name=$1 from=${2:-postmaster@example.org} subj=${3:-"Re: ACME: $tok"}
	if [ $# -ge 3 ]; then shift 3; else shift $#; fi
	{
		printf 'From: %s\r\nTo: challenge@ca.example.net\r\nSubject: %s\r\n' "$from" "$subj"
		printf 'Message-ID: <%s.%s@example.org>\r\nIn-Reply-To: <%s>\r\n' "$name" "$$" "$mid"
		printf 'Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n'
		for h in "$@"; do printf '%s\r\n' "$h"; done
		printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWe agree.\r\n'
	} > "$T/r/$name.eml"
}
# verdict FILE [IP] [MAIL-FROM]: the milter's verdict line
verdict() {
	dns_run "$CG_BIN/certgate-milter" -c "$T/certgate.conf" -t "$1" --client-ip "${2:-127.0.0.1}" \
		--helo mail.example.org --mail-from "${3-postmaster@example.org}" \
		--rcpt challenge@ca.example.net 2>>"$T/milter.err" | sed -n 's/^verdict: //p'
}
# refused NAME PATTERN FILE [IP] [MAIL-FROM]: refused as PATTERN, nothing changed
refused() {
	name=$1 pat=$2
	shift 2
	before=$(status example.org)
	got=$(verdict "$@")
	if printf '%s\n' "$got" | grep -q -E -- "$pat" && [ "$(status example.org)" = "$before" ]; then
		ok "$name: $got"
	else
		bad "$name: got '$got' (want /$pat/), domain '$(status example.org)' (was '$before')"
	fi
}

[ "$(status example.org)" = "1 pending -" ] && ok "domain pending before the reply" || bad "status $(status example.org)"

reply notoken postmaster@example.org "Re: your mail"
refused "no token" '^reject 550 5\.7\.1 certgate: no challenge token found' "$T/r/notoken.eml"
reply wrongtok postmaster@example.org "Re: ACME: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
refused "unknown token" '^reject 550 5\.7\.1 certgate: no pending challenge has this token' "$T/r/wrongtok.eml"
reply forged hostmaster@example.org
refused "forged From" '^reject 550 5\.7\.1 certgate: the reply is from hostmaster@example\.org but the challenge went to postmaster@example\.org' \
	"$T/r/forged.eml" 127.0.0.1 hostmaster@example.org
reply display '"postmaster@example.org" <ceo@evil.example>'
refused "display-name trick" '^reject 550 5\.7\.1 certgate: the reply is from ceo@evil\.example' "$T/r/display.eml"
reply twofrom "postmaster@example.org, someone@evil.example"
refused "two From addresses" '^reject 55[04] 5\.[67]\.[01] ' "$T/r/twofrom.eml"
reply twofields postmaster@example.org "Re: ACME: $tok" "From: someone@evil.example"
refused "two From fields" '^reject 55[04] 5\.[67]\.[01] ' "$T/r/twofields.eml"
reply vacation postmaster@example.org "Re: ACME: $tok" "Auto-Submitted: auto-replied"
refused "vacation auto-reply" '^reject 550 5\.7\.1 certgate: an automatic reply \(Auto-Submitted: auto-replied\)' "$T/r/vacation.eml"
reply xauto postmaster@example.org "Re: ACME: $tok" "X-Autoreply: yes"
refused "X-Autoreply" '^reject 550 5\.7\.1 certgate: an automatic reply' "$T/r/xauto.eml"
reply irt postmaster@example.org "Re: ACME: $tok"
sed -i "s/^In-Reply-To: .*/In-Reply-To: <someone-else@ca.example.net>\r/" "$T/r/irt.eml"
refused "In-Reply-To another mail" '^reject 550 5\.7\.1 certgate: In-Reply-To names another mail' "$T/r/irt.eml"
reply good
refused "SPF fail from 127.0.0.66, no DKIM" \
	'^reject 550 5\.7\.23 certgate: SPF fail for example\.org from 127\.0\.0\.66' "$T/r/good.eml" 127.0.0.66
reply conflict postmaster@example.org "Re: ACME: $tok"
sed -i 's/^We agree\./-----BEGIN ACME RESPONSE-----\r\nBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\r\n-----END ACME RESPONSE-----/' "$T/r/conflict.eml"
refused "Subject and body disagree" '^reject 554 5\.6\.0 .*different tokens' "$T/r/conflict.eml"

# A DKIM selector that is not in DNS: a missing key refuses (5.7.20), it does
# not defer as a DNS failure would.
reply nokey
/usr/bin/python3 - "$T/r/nokey.eml" "$K/example.org.key" <<'PY'
import sys, dkim
msg = open(sys.argv[1], 'rb').read()
sig = dkim.sign(msg, b'nokey', b'example.org', open(sys.argv[2], 'rb').read(), include_headers=[b'from', b'to', b'subject'])
open(sys.argv[1], 'wb').write(sig + msg)
PY
refused "DKIM key not in DNS" '^reject 550 5\.7\.20 certgate: DKIM signature of d=example\.org does not verify \(.*key' \
	"$T/r/nokey.eml" 127.0.0.66

# A subdomain does not prove its parent (ChallengeAlignment strict, the
# default): a vendor sends mkt.example.org's mail from 127.0.0.66 (SPF pass
# for mkt.example.org) and signs it as d=mkt.example.org.
reply sub
refused "SPF pass for a subdomain's MAIL FROM" \
	'^reject 550 5\.7\.1 certgate: DMARC fails for example\.org: SPF pass for mkt\.example\.org \(not the domain itself\)' \
	"$T/r/sub.eml" 127.0.0.66 bounce@mkt.example.org
reply subdkim
dkimsign test mkt.example.org "$K/evil.example.key" < "$T/r/subdkim.eml" > "$T/r/subdkim.signed.eml"
refused "DKIM d= a subdomain" '^reject 550 5\.7\.1 certgate: DMARC fails for example\.org: .*no verified DKIM signature of the domain itself' \
	"$T/r/subdkim.signed.eml" 127.0.0.66 bounce@evil.example
# ChallengeAlignment relaxed is DMARC's own alignment (example.org says
# adkim=r, aspf=r): the subdomain then passes. Checked on a copy of the
# configuration, answering a challenge of its own.
sed 's/^LogLevel notice$/LogLevel notice\nChallengeAlignment relaxed/' "$T/certgate.conf" > "$T/relaxed.conf"
grep -q '^ChallengeAlignment relaxed' "$T/relaxed.conf" || bad "relaxed.conf"

# The good reply, its Subject RFC 2047-encoded and folded, as mail clients send it.
enc=$(printf 'Re: ACME: %s' "$tok" | base64 -w0)
reply good2 postmaster@example.org "=?UTF-8?B?$enc?="
got=$(verdict "$T/r/good2.eml")
case $got in accept* | discard*) ok "encoded Subject, SPF pass: $got" ;; *) bad "good reply: $got" ;; esac
st=$(status example.org)
[ "$st" = "1 validated email-postmaster" ] && ok "domain validated: $st" || bad "domain after the reply: $st"
$cg --json domain list | grep -q '"expires":"20' && ok "expiry shown" || bad "no expiry"
a=$($cg audit show | grep " domain.validate " || true)
for w in "TLS BR 2.2.6 3.2.2.4.4" "client 127.0.0.1" "HELO mail.example.org" "MAIL FROM <postmaster@example.org>" \
	"spf=pass" "dmarc=pass" "Message-ID <good2." "evidence "; do
	printf '%s' "$a" | grep -q -F -- "$w" && ok "audit has '$w'" || bad "audit lacks '$w': $a"
done
ev=$(printf '%s' "$a" | sed -n 's/.*evidence \([0-9a-f]*\).*/\1/p')
[ -n "$ev" ] && find "$T/evidence" -name "$ev*" | grep -q . && ok "evidence stored" || bad "evidence $ev not found"
drain
n=$(last_mail ceo@example.org)
[ -n "$n" ] && grep -q "^Subject: Domain example.org validated" "$n" && ok "the contact is told" || bad "no notice to the contact"

# Used once: the same token in a new message is refused.
reply replay
refused "token replayed after use" '^reject 550 5\.7\.1 certgate: this challenge token has already been used' "$T/r/replay.eml"
# The very same message again is a duplicate: accepted, no second effect.
got=$(verdict "$T/r/good2.eml")
[ "$($cg audit show | grep -c " domain.validate ")" -eq 1 ] && ok "same message again: $got, no second validation" || bad "duplicate applied twice"

# A token for example.com, used to answer as example.org's postmaster.
$cg domain add example.com --org 1 > /dev/null
drain
m2=$(last_mail postmaster@example.com)
tok2=$(token_of "$m2")
reply crossdomain postmaster@example.org "Re: ACME: $tok2"
refused "example.com's token from example.org" '^reject 550 5\.7\.1 certgate: the reply is from postmaster@example\.org but the challenge went to postmaster@example\.com' \
	"$T/r/crossdomain.eml"

# Expired: a challenge with a one-second lifetime.
$cg domain challenge example.com --lifetime 1s > /dev/null
drain
m3=$(last_mail postmaster@example.com)
tok3=$(token_of "$m3")
[ "$tok3" != "$tok2" ] && ok "a new challenge has a new token" || bad "token reused"
sleep 2
mid_saved=$mid
mid=$(msgid_of "$m3")
reply expired postmaster@example.com "Re: ACME: $tok3"
refused "expired token" '^reject 550 5\.7\.1 certgate: this challenge token expired at' "$T/r/expired.eml" 127.0.0.1 postmaster@example.com
[ "$(status example.com)" = "1 pending -" ] && ok "example.com still pending" || bad "example.com: $(status example.com)"
mid=$mid_saved

# Dispute: Other Ltd challenges example.org at hostmaster@; its hostmaster
# answers from another server, DKIM-signed (the key is in DNS), so SPF fails
# but DKIM passes.
$cg domain add example.org --org 2 --address hostmaster > /dev/null
drain
m4=$(last_mail hostmaster@example.org)
grep -q "registered to" "$m4" && ok "the dispute challenge says so" || bad "dispute text"
tok4=$(token_of "$m4")
mid=$(msgid_of "$m4")
reply dispute hostmaster@example.org "Re: ACME: $tok4"
dkimsign test example.org "$K/example.org.key" < "$T/r/dispute.eml" > "$T/r/dispute.signed.eml"
got=$(verdict "$T/r/dispute.signed.eml" 127.0.0.66)
case $got in accept* | discard*) ok "DKIM-signed reply from another server: $got" ;; *) bad "dispute reply: $got" ;; esac
[ "$(status example.org)" = "2 validated email-postmaster" ] && ok "example.org moved to organisation 2" || bad "after dispute: $(status example.org)"
$cg audit show | grep -q " domain.move .*moved from organisation 1" && ok "domain.move audited" || bad "domain.move not audited"
before=$(mails_to ceo@example.org)
drain
[ "$(mails_to ceo@example.org)" -gt "$before" ] && grep -q "^Subject: Domain example.org moved" "$(last_mail ceo@example.org)" &&
	ok "the old contact is told" || bad "old contact not told"
grep -q "^Subject: Domain example.org validated" "$(last_mail boss@example.com)" && ok "the new contact is told" || bad "new contact not told"

# Renewal: a validation expiring within DomainRenewal gets one new challenge,
# at the local part that answered the last one (hostmaster, not the previous
# holder's postmaster).
# 397 days pass: the validation has one day left.
"$CG_BIN/../tests/cg-storetool" domain-age "$T/db" "$T/evidence" example.org $((397 * 86400))
before=$(mails_to hostmaster@example.org)
before_pm=$(mails_to postmaster@example.org)
drain
drain
[ "$(mails_to hostmaster@example.org)" -eq $((before + 1)) ] && ok "renewal: one challenge 1 day before expiry, to hostmaster@" ||
	bad "renewal: $(mails_to hostmaster@example.org) challenges to hostmaster@ (was $before)"
[ "$(mails_to postmaster@example.org)" -eq "$before_pm" ] && ok "renewal: none to the previous holder's postmaster@" ||
	bad "renewal: $(mails_to postmaster@example.org) challenges to postmaster@ (was $before_pm)"
$cg audit show | grep -q " domain.renew " && ok "domain.renew audited" || bad "domain.renew not audited"
"$CG_BIN/../tests/cg-storetool" domain-age "$T/db" "$T/evidence" example.org $((2 * 86400))
$cg domain list | grep -q "^example.org .* expired " && ok "expired validation listed as expired" || bad "$($cg domain list)"

# ChallengeAlignment relaxed: the subdomain's SPF pass answers a challenge.
$cg domain challenge example.com > /dev/null
drain
mid=$(msgid_of "$(last_mail postmaster@example.com)")
reply relaxed postmaster@example.com "Re: ACME: $(token_of "$(last_mail postmaster@example.com)")"
got=$(dns_run "$CG_BIN/certgate-milter" -c "$T/relaxed.conf" -t "$T/r/relaxed.eml" --client-ip 127.0.0.1 \
	--helo mail.example.org --mail-from bounce@mail.example.com --rcpt challenge@ca.example.net 2>>"$T/milter.err" | sed -n 's/^verdict: //p')
case $got in accept* | discard*) ok "relaxed: a subdomain's SPF pass is DMARC-aligned: $got" ;; *) bad "relaxed: $got" ;; esac

# DNS down: the reply is deferred, never accepted.
$cg domain challenge example.com > /dev/null
drain
tok5=$(token_of "$(last_mail postmaster@example.com)")
mid=$(msgid_of "$(last_mail postmaster@example.com)")
reply dnsdown postmaster@example.com "Re: ACME: $tok5"
dns_stop
sleep 0.2
got=$(verdict "$T/r/dnsdown.eml" 127.0.0.1 postmaster@example.com)
case $got in "tempfail 451 4.4.3"*) ok "DNS down: $got" ;; *) bad "DNS down: $got" ;; esac
$cg audit verify > /dev/null && ok "audit chain intact" || bad "audit chain broken"
exit $fail
