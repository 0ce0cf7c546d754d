#!/bin/sh
# trust_model.sh: TrustModel public makes the rules for publicly trusted
# certificates enforceable in one switch. Operator attestation (domain add
# --validated) is no domain validation method there: refused when asked,
# and a domain it validated earlier issues nothing. The e-mail method (TLS
# BR 3.2.2.4.4, the postmaster challenge) is discouraged from 2026-03-15
# (a warning in `domain list` and the digest) and refused from 2028-03-15:
# no challenge is added, mailed or accepted, and a validation made by it
# before issues nothing. Under TrustModel private all of it stays allowed.
# The dates are libfaketime's (an absolute clock for every process).
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
. "$CG_SRC/tests/lib/pki.sh"
ca_test trust_model
ca_dirs
mkdir -p "$T/r"
ca_conf "LogLevel info" "ExpiryReminders none"
ca_mta
$cg ca init > /dev/null
$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL \
	--contact ceo@example.org > /dev/null
dns_start "$T/dns" 127.0.0.29
BEFORE="2028-03-14 12:00:00" # the e-mail method discouraged, not yet refused
AFTER="2028-03-15 06:00:00"  # refused for publicly trusted certificates

# at DATE COMMAND...: COMMAND with the clock at DATE
at() {
	d=$1
	shift
	faketime_clean
	FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		dns_run faketime -f "@$d" "$@"
}
# TrustModel public needs DNSSEC validation (the root's anchor) and two
# perspectives: no CAA lookup is made here, none is needed.
trust() {
	sed -i '/^TrustModel /d; /^DnssecTrustAnchor /d' "$T/certgate.conf"
	echo "TrustModel $1" >> "$T/certgate.conf"
	sed -i '/^Perspective /d' "$T/certgate.conf"
	[ "$1" = private ] || printf 'DnssecTrustAnchor /usr/share/dns/root.key\nPerspective 127.0.0.1:9\nPerspective 127.0.0.2:9\n' >> "$T/certgate.conf"
}
row() { $cg domain list | awk -v d="$1" '$1 == d'; }
csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=$1" -out "$T/$1.csr" 2>/dev/null
}
# issue DATE MAILBOX: `cert issue`'s output and status
issue() {
	csr "${2%@*}"
	at "$1" "$CG_BIN/certgate" -c "$T/certgate.conf" cert issue --org 1 --mailbox "$2" \
		--csr "$T/${2%@*}.csr" 2>&1 && echo "exit 0" || echo "exit $?"
}

# ---- operator attestation --------------------------------------------
at "$BEFORE" "$CG_BIN/certgate" -c "$T/certgate.conf" domain add op.example.org --org 1 --validated > /dev/null &&
	row op.example.org | grep -q " validated .* operator *$" &&
	ok "private: --validated recorded as method operator, no warning" || bad "$(row op.example.org)"
trust public
out=$($cg domain add other.example.org --org 1 --validated 2>&1) && rc=0 || rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "operator attestation (certgate domain add --validated) is not a domain validation method under TrustModel public" &&
	[ -z "$(row other.example.org)" ] &&
	ok "public: domain add --validated refused, nothing recorded: $out" || bad "rc $rc: $out; $(row other.example.org)"
row op.example.org | grep -q "REFUSED: operator attestation" &&
	$cg --json domain list | tr '}' '\n' | grep '"domain":"op.example.org"' | grep -q '"refused":true' &&
	ok "public: domain list marks the operator-attested domain refused" || bad "$(row op.example.org)"
out=$(issue "$BEFORE" u1@op.example.org)
echo "$out" | grep -q "the validation of op.example.org may not be relied on: operator attestation" &&
	echo "$out" | grep -q "exit [1-9]" && ok "public: no certificate at an operator-attested domain" || bad "$out"
$cg stats | grep -q "WARNING .*1 validated domain rests on operator attestation, which TrustModel public does not accept" &&
	ok "public: the digest warns about the operator-attested domain" || bad "$($cg stats)"
# Queued under private, issued after the switch: the issuer checks again.
trust private
out=$(issue "$BEFORE" u2@op.example.org)
echo "$out" | grep -q "exit 0" && ok "private: u2@op.example.org queued" || bad "$out"
trust public
at "$BEFORE" "$CG_BIN/certgate-issuer" --drain -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1 || true
[ "$($cg --json cert list | grep -c '"mailbox": *"u2@op.example.org"')" -eq 0 ] &&
	grep -q "may not be relied on: operator attestation" "$T/issuer.log" &&
	ok "public: the issuer refuses what was queued under private" || bad "$($cg cert list; tail -3 "$T/issuer.log")"

# ---- the e-mail method ---------------------------------------------------
header() { sed -n "s/^$1: //p" "$2" | head -1 | tr -d '\r'; }
# reply NAME MAIL: a postmaster's reply to the challenge MAIL
reply() {
	tok=$(header Subject "$2" | sed 's/^ACME: //')
	{
		printf 'From: postmaster@example.org\r\nTo: challenge@ca.example.net\r\n'
		printf 'Subject: Re: ACME: %s\r\nMessage-ID: <%s.%s@example.org>\r\n' "$tok" "$1" "$$"
		printf 'In-Reply-To: <%s>\r\nDate: Tue, 14 Mar 2028 13:00:00 +0000\r\n' "$(header Message-ID "$2" | tr -d '<>')"
		printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWe agree.\r\n'
	} > "$T/r/$1.eml"
}
# verdict DATE FILE: the milter's verdict on a challenge reply at DATE
verdict() {
	at "$1" "$CG_BIN/certgate-milter" -c "$T/certgate.conf" -t "$2" --client-ip 127.0.0.1 \
		--helo mail.example.org --mail-from postmaster@example.org \
		--rcpt challenge@ca.example.net 2>>"$T/milter.err" | sed -n 's/^verdict: //p'
}
at "$BEFORE" "$CG_BIN/certgate" -c "$T/certgate.conf" domain add example.org --org 1 > /dev/null &&
	ok "public, before 2028-03-15: domain add challenges the postmaster" || bad "domain add example.org"
at "$BEFORE" "$CG_BIN/certgate-issuer" --drain -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1
m1=$(last_mail postmaster@example.org)
[ -n "$m1" ] && ok "challenge mailed" || { bad "no challenge mail"; exit 1; }
# A token mailed before the sunset, answered after it (within its 24 hours):
# refused.
reply late "$m1"
got=$(verdict "$AFTER" "$T/r/late.eml")
echo "$got" | grep -q "^reject 550 5.7.1 certgate: example.org cannot be validated by this reply: the e-mail method (TLS BR 3.2.2.4.4) may not validate domains for publicly trusted certificates from 2028-03-15" &&
	row example.org | grep -q " pending " && ok "public, after 2028-03-15: the reply is refused: $got" || bad "got '$got'; $(row example.org)"
# The same reply before the sunset: validated, with the method's warning.
got=$(verdict "$BEFORE" "$T/r/late.eml")
echo "$got" | grep -q -x "discard" && ok "public, before 2028-03-15: the reply validates: $got" || bad "got '$got'"
at "$BEFORE" "$CG_BIN/certgate" -c "$T/certgate.conf" domain list | awk '$1 == "example.org"' |
	grep -q " validated .* email-postmaster  warning: TLS BR 3.2.2.4.4: SHOULD NOT be used since 2026-03-15" &&
	ok "domain list warns: the e-mail method is discouraged" || bad "$(row example.org)"
$cg audit show | grep "domain.validate" | grep -q "email-postmaster (S/MIME BR 1.0.16 3.2.2.1; TLS BR 2.2.6 3.2.2.4.4; RFC 8823 reply)" &&
	ok "the validation is audited with the method and both rules' versions" || bad "$($cg audit show | grep domain.validate)"
at "$BEFORE" "$CG_BIN/certgate" -c "$T/certgate.conf" stats |
	grep -q "WARNING .*1 validated domain rests on the e-mail method (TLS BR 3.2.2.4.4: SHOULD NOT" &&
	ok "the digest warns about the e-mail method" || bad "$($cg stats)"
out=$(issue "$BEFORE" u3@example.org)
echo "$out" | grep -q "exit 0" && ok "public, before 2028-03-15: issuance at the domain allowed" || bad "$out"
# After the sunset: the validation (still within its 398 days) issues nothing.
out=$(issue "$AFTER" u4@example.org)
echo "$out" | grep -q "the validation of example.org may not be relied on: the e-mail method" &&
	echo "$out" | grep -q "exit [1-9]" && ok "public, after 2028-03-15: no certificate on an e-mail validation" || bad "$out"
at "$AFTER" "$CG_BIN/certgate" -c "$T/certgate.conf" domain list | awk '$1 == "example.org"' |
	grep -q "REFUSED: the e-mail method" && ok "domain list marks it refused after the sunset" || bad "$(row example.org)"
out=$(at "$AFTER" "$CG_BIN/certgate" -c "$T/certgate.conf" domain challenge example.org 2>&1) && rc=0 || rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "may not validate domains for publicly trusted certificates" &&
	ok "public, after 2028-03-15: domain challenge refused" || bad "rc $rc: $out"
out=$(at "$AFTER" "$CG_BIN/certgate" -c "$T/certgate.conf" domain add new.example.org --org 1 2>&1) && rc=0 || rc=$?
[ $rc -eq 2 ] && [ -z "$(row new.example.org)" ] && ok "public, after 2028-03-15: domain add refused" || bad "rc $rc: $out"
# A challenge queued before the sunset is not mailed after it.
n=$(mails_to postmaster@example.org)
at "$BEFORE" "$CG_BIN/certgate" -c "$T/certgate.conf" domain challenge example.org > /dev/null
at "$AFTER" "$CG_BIN/certgate-issuer" --drain -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1
[ "$(mails_to postmaster@example.org)" -eq "$n" ] && $cg audit show | grep -q "challenge.refused *example.org" &&
	ok "public, after 2028-03-15: a queued challenge is not mailed, and that is audited" ||
	bad "mails $(mails_to postmaster@example.org) (were $n); $($cg audit show | tail -2)"
# TrustModel private: the same, after the sunset, is allowed.
trust private
out=$(issue "$AFTER" u5@example.org)
echo "$out" | grep -q "exit 0" && ok "private, after 2028-03-15: issuance on the e-mail validation allowed" || bad "$out"
out=$(at "$AFTER" "$CG_BIN/certgate" -c "$T/certgate.conf" domain challenge example.org 2>&1) &&
	ok "private, after 2028-03-15: domain challenge allowed" || bad "$out"
exit $fail
