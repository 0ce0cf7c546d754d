#!/bin/sh
# replyauth.sh: reply authentication (SPF with libspf2, DKIM with libopendkim,
# DMARC alignment) on replies signed by independent tools: dkimsign
# (python3-dkim) for ordinary signatures, cg-dkimtool (libopendkim's signer)
# only for what dkimsign cannot make (x=, l=, a chosen h=). DNS is libspf2's
# offline zone; DKIM keys come from tests/data/dkim/keys.
set -eu
auth="$CG_BIN/../tests/cg-authtool"
sign2="$CG_BIN/../tests/cg-dkimtool"
K="$CG_TEST_DATA/dkim"
T=$(mktemp -d "$CG_TEST_TMP/replyauth.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail=0

cat > "$T/zone" <<'ZONE'
example.org TXT v=spf1 ip4:127.0.0.1 -all
_dmarc.example.org TXT v=DMARC1; p=reject
mail.example.org TXT v=spf1 ip4:127.0.0.1 -all
evil.example TXT v=spf1 ip4:127.0.0.66 -all
_dmarc.evil.example TXT v=DMARC1; p=none
soft.example TXT v=spf1 ~all
neutral.example TXT v=spf1 ?all
broken.example TXT v=spf1 ip4:127.0.0.1 frobnicate:x -all
tempfail.example TXT TRY_AGAIN
_dmarc.dmarctemp.example TXT TRY_AGAIN
dmarctemp.example TXT v=spf1 ip4:127.0.0.1 -all
strict.example TXT v=spf1 ip4:127.0.0.1 -all
_dmarc.strict.example TXT v=DMARC1; p=reject; aspf=s; adkim=s
mail.strict.example TXT v=spf1 ip4:127.0.0.1 -all
ZONE

letter() { # letter FROM-DOMAIN FILE: a reply from postmaster@FROM-DOMAIN
	printf 'From: postmaster@%s\r\nTo: challenge@ca.example.net\r\nSubject: Re: ACME: AbCdEfGhIjKlMnOpQrStUvWxYz012-_9\r\nMessage-ID: <r%s@%s>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\nYes, we agree.\r\n' \
		"$1" "$$" "$1" > "$2"
}
# expect NAME WANT(pass|REPLY-PATTERN) cg-authtool-args...
expect() {
	name=$1 want=$2
	shift 2
	got=$("$auth" --zone "$T/zone" --dkim-keys "$K/keys" "$@" 2>&1 | tr '\n' ' ') || true
	case $want in pass) pat='^pass: ' ;; *) pat=$want ;; esac
	if printf '%s\n' "$got" | grep -q -E -- "$pat"; then
		echo "ok   $name: $got"
	else
		echo "FAIL $name: got '$got', want /$pat/"
		fail=1
	fi
}

# ---- SPF alone (ReplyAuth spf), every result ----
for d in example.org soft.example neutral.example broken.example tempfail.example \
	nospf.example dmarctemp.example strict.example; do
	letter "$d" "$T/$d.eml"
done
expect "spf pass" pass --mode spf --ip 127.0.0.1 --mail-from postmaster@example.org "$T/example.org.eml"
expect "spf fail (loopback gets no free ride)" \
	'^550 5\.7\.23 certgate: SPF fail for example\.org from 127\.0\.0\.66' \
	--mode spf --ip 127.0.0.66 --mail-from postmaster@example.org "$T/example.org.eml"
expect "spf softfail" '^550 5\.7\.23 certgate: SPF softfail for soft\.example' \
	--mode spf --ip 127.0.0.1 --mail-from postmaster@soft.example "$T/soft.example.eml"
expect "spf neutral" '^550 5\.7\.23 certgate: SPF neutral for neutral\.example' \
	--mode spf --ip 127.0.0.1 --mail-from postmaster@neutral.example "$T/neutral.example.eml"
expect "spf none" '^550 5\.7\.23 certgate: SPF none for nospf\.example' \
	--mode spf --ip 127.0.0.1 --mail-from postmaster@nospf.example "$T/nospf.example.eml"
expect "spf permerror" '^550 5\.7\.23 certgate: SPF permerror for broken\.example' \
	--mode spf --ip 127.0.0.1 --mail-from postmaster@broken.example "$T/broken.example.eml"
expect "spf temperror defers" '^451 4\.4\.3 certgate: temporary DNS failure checking SPF' \
	--mode spf --ip 127.0.0.1 --mail-from postmaster@tempfail.example "$T/tempfail.example.eml"
expect "null sender: HELO identity" pass --mode spf --ip 127.0.0.1 --helo example.org \
	"$T/example.org.eml"
expect "null sender: HELO of another domain" '^550 5\.7\.23 .*passes for evil\.example, which is not aligned' \
	--mode spf --ip 127.0.0.66 --helo evil.example "$T/example.org.eml"

# ---- DKIM (ReplyAuth dkim) ----
letter example.org "$T/plain.eml"
dkimsign test example.org "$K/example.org.key" < "$T/plain.eml" > "$T/signed.eml"
expect "dkim valid" pass --mode dkim --ip 127.0.0.66 --mail-from x@evil.example "$T/signed.eml"
sed 's/^Yes, we agree\./No, we do not./' "$T/signed.eml" > "$T/body.eml"
expect "dkim body changed" '^550 5\.7\.20 certgate: DKIM signature of d=example\.org does not verify \(body changed\)' \
	--mode dkim --ip 127.0.0.1 "$T/body.eml"
sed 's/^To: challenge@/To: other@/' "$T/signed.eml" > "$T/header.eml"
expect "dkim header changed" '^550 5\.7\.20 certgate: DKIM signature of d=example\.org does not verify' \
	--mode dkim --ip 127.0.0.1 "$T/header.eml"
# d=example.org, but made with evil.example's key
dkimsign test example.org "$K/evil.example.key" < "$T/plain.eml" > "$T/wrongkey.eml"
expect "dkim wrong key for d=" '^550 5\.7\.20 certgate: DKIM signature of d=example\.org does not verify' \
	--mode dkim --ip 127.0.0.1 "$T/wrongkey.eml"
dkimsign test evil.example "$K/evil.example.key" < "$T/plain.eml" > "$T/unaligned.eml"
expect "dkim unaligned d=" '^550 5\.7\.20 certgate: no DKIM signature aligned with example\.org \(d=evil\.example\)' \
	--mode dkim --ip 127.0.0.1 "$T/unaligned.eml"
expect "dkim none" '^550 5\.7\.20 certgate: no DKIM signature for example\.org' \
	--mode dkim --ip 127.0.0.1 "$T/plain.eml"
now=$(date +%s)
"$sign2" --time $((now - 7200)) --ttl 3600 "$K/example.org.key" test example.org < "$T/plain.eml" > "$T/expired.eml"
expect "dkim expired (x=)" '^550 5\.7\.20 .*\(signature expired\)' --mode dkim --ip 127.0.0.1 "$T/expired.eml"
"$sign2" --ttl 3600 "$K/example.org.key" test example.org < "$T/plain.eml" > "$T/fresh.eml"
expect "dkim with x= in the future" pass --mode dkim --ip 127.0.0.1 "$T/fresh.eml"
"$sign2" --headers from:to:date:message-id "$K/example.org.key" test example.org < "$T/plain.eml" > "$T/nosubject.eml"
expect "dkim not covering the Subject that holds the token" '^550 5\.7\.20 .*does not cover the Subject' \
	--mode dkim --ip 127.0.0.1 "$T/nosubject.eml"
"$sign2" --length "$K/example.org.key" test example.org < "$T/plain.eml" > "$T/length.eml"
expect "dkim l= with the token in the Subject" pass --mode dkim --ip 127.0.0.1 "$T/length.eml"
expect "dkim l= with the token in the body" '^550 5\.7\.20 .*l= leaves part of the body unsigned' \
	--mode dkim --token-in-body --ip 127.0.0.1 "$T/length.eml"

# ---- DMARC (the default): aligned SPF or aligned DKIM ----
expect "dmarc: aligned SPF" pass --ip 127.0.0.1 --mail-from postmaster@example.org "$T/plain.eml"
expect "dmarc: aligned DKIM from a foreign server" pass --ip 127.0.0.66 --mail-from postmaster@example.org "$T/signed.eml"
expect "dmarc: SPF fail, no DKIM" '^550 5\.7\.23 certgate: SPF fail for example\.org from 127\.0\.0\.66' \
	--ip 127.0.0.66 --mail-from postmaster@example.org "$T/plain.eml"
expect "dmarc: SPF passes for the attacker's domain only" \
	'^550 5\.7\.1 certgate: DMARC fails for example\.org: SPF pass for evil\.example \(not aligned\)' \
	--ip 127.0.0.66 --mail-from bounce@evil.example "$T/plain.eml"
expect "dmarc: unaligned DKIM does not help" '^550 5\.7\.1 certgate: DMARC fails for example\.org' \
	--ip 127.0.0.66 --mail-from bounce@evil.example "$T/unaligned.eml"
expect "dmarc: broken aligned DKIM" '^550 5\.7\.20 .*\(body changed\)' \
	--ip 127.0.0.66 --mail-from bounce@evil.example "$T/body.eml"
expect "dmarc: relaxed alignment (subdomain MAIL FROM)" pass \
	--ip 127.0.0.1 --mail-from bounces@mail.example.org "$T/plain.eml"
expect "dmarc: strict aspf refuses the subdomain" '^550 5\.7\.1 certgate: DMARC fails for strict\.example' \
	--ip 127.0.0.1 --mail-from bounces@mail.strict.example "$T/strict.example.eml"
expect "dmarc: strict aspf, exact domain" pass \
	--ip 127.0.0.1 --mail-from postmaster@strict.example "$T/strict.example.eml"
# ChallengeAlignment strict (the default in certgate.conf): the SPF domain or
# a DKIM d= must be the From domain itself, whatever DMARC allows.
expect "strict: a subdomain's SPF pass does not prove the domain" \
	'^550 5\.7\.1 certgate: DMARC fails for example\.org: SPF pass for mail\.example\.org \(not the domain itself\)' \
	--strict --ip 127.0.0.1 --mail-from bounces@mail.example.org "$T/plain.eml"
expect "strict: SPF pass for the domain itself" pass --strict --ip 127.0.0.1 --mail-from postmaster@example.org "$T/plain.eml"
expect "strict: DKIM d= the domain itself, from a foreign server" pass \
	--strict --ip 127.0.0.66 --mail-from postmaster@example.org "$T/signed.eml"
expect "dmarc: record lookup fails temporarily" '^451 4\.4\.3 certgate: temporary DNS failure checking DMARC' \
	--ip 127.0.0.1 --mail-from postmaster@dmarctemp.example "$T/dmarctemp.example.eml"

# ---- DKIM keys from DNS, kept for their TTL ----
# One verifier checks one signed reply three times against a real resolver
# (dnsmasq serving tests/e2e/zones): served with TTL 300 the key is asked
# for once, with TTL 0 every time; every check passes either way.
. "$CG_SRC/tests/lib/dns.sh"
key_asked() { # key_asked TTL: three checks; prints "PASSES QUERIES"
	DNS_OPTS="--local-ttl=$1 --log-queries" dns_start "$T/dns$1" 127.0.0.48
	dns_run "$auth" --mode dkim --ip 127.0.0.66 --repeat 3 "$T/signed.eml" > "$T/repeat$1" 2>&1 || true
	pid=$(cat "$T/dns$1/dnsmasq.pid")
	dns_stop
	i=0
	while kill -0 "$pid" 2> /dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	echo "$(grep -c '^pass: ' "$T/repeat$1") $(grep -c 'query\[TXT\] test\._domainkey\.example\.org ' "$T/dns$1/dnsmasq.log")"
}
got=$(key_asked 300)
[ "$got" = "3 1" ] && echo "ok   dkim key kept for its TTL (3 passes, 1 query)" ||
	{ echo "FAIL dkim key with TTL 300: passes and queries $got, want 3 1 ($(head -2 "$T/repeat300" | tr '\n' ' '))"; fail=1; }
got=$(key_asked 0)
[ "$got" = "3 3" ] && echo "ok   dkim key with TTL 0 asked for every time (3 passes, 3 queries)" ||
	{ echo "FAIL dkim key with TTL 0: passes and queries $got, want 3 3"; fail=1; }
# Its bytes are decoded once either way: the same bytes, the same key.
for ttl in 300 0; do
	grep -q '^keys: decoded 1, reused 2$' "$T/repeat$ttl" &&
		echo "ok   dkim key decoded once for three checks (TTL $ttl)" ||
		{ echo "FAIL dkim key decoding (TTL $ttl): $(grep '^keys:' "$T/repeat$ttl")"; fail=1; }
done

# A key decoded before verifies what it verified before, and no more: a
# header changed after signing still fails with it; another domain's key is
# decoded as its own.
DNS_OPTS="--local-ttl=300" dns_start "$T/dnsk" 127.0.0.48
dns_run "$auth" --mode dkim --ip 127.0.0.66 "$T/signed.eml" "$T/header.eml" "$T/signed.eml" \
	"$T/unaligned.eml" > "$T/keys.out" 2>&1 || true
dns_stop
got=$(grep -E '^(pass|550)' "$T/keys.out" | cut -c1-4 | tr '\n' ' ')
[ "$got" = "pass 550  pass 550  " ] && grep -q 'd=example\.org does not verify' "$T/keys.out" &&
	grep -q 'not aligned\|no DKIM signature aligned' "$T/keys.out" &&
	echo "ok   a reused key: the changed header still fails, the same reply passes again" ||
	{ echo "FAIL reused key: $(tr '\n' ' ' < "$T/keys.out")"; fail=1; }
grep -q '^keys: decoded 2, reused 2$' "$T/keys.out" &&
	echo "ok   two domains' keys decoded, each reused once" ||
	{ echo "FAIL keys decoded and reused: $(grep '^keys:' "$T/keys.out")"; fail=1; }
exit $fail
