#!/bin/sh
# org_reuse.sh: an organisation's validation is reused for OrgReuse (the
# S/MIME BR allow 825 days at most; 30 days here, OrgRenewal 5 days, to
# keep the clock moves small). In the last OrgRenewal the digest warns and
# the contact is asked, once, for a signed confirm-organisation letter; from
# the end the organisation issues nothing, at the command and at the
# issuer's re-check of what was queued before, with a reason that says what
# to do, and the letter alone changes nothing: the operator approves it
# again (with the register checked: source, entry, the extract's SHA-256
# kept) and it issues for another OrgReuse. The clock is libfaketime's.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
. "$CG_SRC/tests/lib/pki.sh"
ca_test org_reuse
ca_dirs
mkdir -p "$T/l"
pki_ca "$T/lca" "Letter CA"
pki_leaf "$T/lca" "$T/ceo" ceo@example.org ec
ca_conf "LogLevel info" "ExpiryReminders none" "OrgReuse 30d" "OrgRenewal 5d" \
	"LetterTrustAnchors $T/lca/cert.pem"
ca_mta
dns_start "$T/dns" 127.0.0.36
ca_example

later() { # later OFFSET COMMAND...: COMMAND with the clock moved by OFFSET
	o=$1
	shift
	faketime_clean
	FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		dns_run faketime -f "$o" "$@"
}
issue() { # issue OFFSET MAILBOX: `cert issue`'s output and status, the clock moved
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=x" -out "$T/${2%@*}.csr" 2>/dev/null
	later "$1" "$CG_BIN/certgate" -c "$T/certgate.conf" cert issue --org 1 --mailbox "$2" \
		--csr "$T/${2%@*}.csr" 2>&1 && echo "exit 0" || echo "exit $?"
}

later +20d "$CG_BIN/certgate" -c "$T/certgate.conf" stats | grep -q "organisation 1 .*its validation ends" &&
	bad "warned 10 days before OrgRenewal" || ok "no warning before the last OrgRenewal"
later +26d "$CG_BIN/certgate" -c "$T/certgate.conf" stats |
	grep -q "^WARNING *organisation 1 (Example Sp. z o.o.): its validation ends 20" &&
	ok "the digest warns in the last OrgRenewal" || bad "stats: $(later +26d "$CG_BIN/certgate" -c "$T/certgate.conf" stats)"
# The contact is asked once, in the last OrgRenewal.
later +26d "$CG_BIN/certgate-issuer" --drain -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1
m=$(last_mail ceo@example.org)
[ -n "$m" ] && grep -q "^Subject: Organisation Example Sp. z o.o.: please confirm it by 20" "$m" &&
	qp "$m" | grep -q "Request: confirm-organisation" && $cg audit show | grep -q "org.confirm-asked *1 " &&
	ok "the contact is asked for a confirm-organisation letter (audited)" || bad "no request to the contact"
n=$(mails_to ceo@example.org)
later +27d "$CG_BIN/certgate-issuer" --drain -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1
[ "$(mails_to ceo@example.org)" -eq "$n" ] && ok "asked once only" || bad "asked again"
out=$(later +27d "$CG_BIN/certgate" -c "$T/certgate.conf" org approve 1 2>&1) && bad "approved without a letter: $out" ||
	{ echo "$out" | grep -q "no confirm-organisation letter of its contact waits" && ok "no approval again without the letter" || bad "$out"; }
# The letter, signed (at that time) by the contact.
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\nRequest: confirm-organisation\r\n' > "$T/l/c.ent"
printf 'From: ceo@example.org\r\nTo: request@ca.example.net\r\nSubject: confirm\r\nMessage-ID: <c.%s@example.org>\r\n' "$$" > "$T/l/c.hdr"
FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f +27d sh -c '. "$0/tests/lib/pki.sh"; pki_sign_openssl "$1/ceo" "$1/l/c.ent" "$1/l/c.eml" detached "$1/l/c.hdr"' "$CG_SRC" "$T"
got=$(later +27d "$CG_BIN/certgate-milter" -c "$T/certgate.conf" -t "$T/l/c.eml" --client-ip 127.0.0.1 \
	--mail-from ceo@example.org --rcpt request@ca.example.net 2>>"$T/milter.err" | sed -n 's/^verdict: //p')
case $got in accept* | discard*) ok "the contact's confirm-organisation letter is taken: $got" ;; *) bad "letter: $got; $(tail -2 "$T/milter.err")" ;; esac
later +27d "$CG_BIN/certgate" -c "$T/certgate.conf" org show 1 | grep -q "^  confirmed   by its contact's letter R[0-9]*: approve it again" &&
	later +27d "$CG_BIN/certgate" -c "$T/certgate.conf" stats | grep -q "is confirmed by its contact's letter R[0-9]*: check the register and approve it again" &&
	ok "org show and the digest: waiting for the operator" || bad "after the letter: $(later +27d "$CG_BIN/certgate" -c "$T/certgate.conf" org show 1 | head -14)"
out=$(issue +26d a@example.org)
echo "$out" | grep -q "exit 0" && ok "issued within OrgReuse" || bad "within: $out"
out=$(issue +31d b@example.org)
echo "$out" | grep -q "the validation of organisation 1 ended on 20.* (OrgReuse); it issues nothing until its contact confirms it (a signed letter, Request: confirm-organisation) and the operator approves it again" &&
	echo "$out" | grep -q "exit [1-9]" && ok "after OrgReuse: refused, saying what to do" || bad "after: $out"
# Queued within OrgReuse, reached by the issuer after it: refused there.
out=$(issue +29d c@example.org)
echo "$out" | grep -q "exit 0" && ok "queued a day before the end" || bad "queue: $out"
drain_later +31d
[ "$($cg --json cert list | grep -c '"mailbox": *"c@example.org"')" -eq 0 ] &&
	grep -q "c@example.org refused (cert.refuse): the validation of organisation 1 ended" "$T/issuer.log" &&
	ok "the issuer's re-check refuses it after the end" || bad "re-check: $(grep c@example.org "$T/issuer.log" | tail -2)"
later +31d "$CG_BIN/certgate" -c "$T/certgate.conf" org show 1 | grep -q "^  validation  ENDED until 20" &&
	ok "org show: the validation ENDED" || bad "org show: $(later +31d "$CG_BIN/certgate" -c "$T/certgate.conf" org show 1 | head -12)"
later +31d "$CG_BIN/certgate" -c "$T/certgate.conf" stats | grep -q "its validation ended .*it issues nothing until confirmed" &&
	ok "the digest says it ended" || bad "stats after the end"
# Approved again, with the register checked: another OrgReuse.
printf 'KRS extract 0000123456\n' > "$T/extract.pdf"
sum=$(sha256sum "$T/extract.pdf" | cut -d' ' -f1)
out=$(later +31d "$CG_BIN/certgate" -c "$T/certgate.conf" org approve 1 --source KRS --reference 0000123456 --extract "$T/extract.pdf" 2>&1)
echo "$out" | grep -q "organisation 1 approved again: its validation runs until 20" && ok "$out" || bad "approve again: $out"
$cg audit show | grep "org.revalidate" | grep -q "confirm-organisation letter R[0-9]*: validation until 20.*verified: source KRS, reference 0000123456, register extract sha256 $sum" &&
	ok "audited with the letter and the register's evidence" || bad "audit: $($cg audit show | grep org.revalidate)"
later +31d "$CG_BIN/certgate" -c "$T/certgate.conf" org show 1 | grep -q "^  verified    KRS, entry 0000123456, extract sha256 $sum" &&
	later +31d "$CG_BIN/certgate" -c "$T/certgate.conf" org show 1 | grep -q "^  validation  valid until 20" &&
	ok "org show: valid again, with the evidence" || bad "org show: $(later +31d "$CG_BIN/certgate" -c "$T/certgate.conf" org show 1 | head -14)"
later +31d "$CG_BIN/certgate-issuer" --drain -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1
grep -q "^Subject: Organisation Example Sp. z o.o. approved again, until 20" "$(last_mail ceo@example.org)" &&
	ok "the contact is told" || bad "no mail to the contact"
out=$(issue +32d d@example.org)
echo "$out" | grep -q "exit 0" && ok "it issues again" || bad "after approval: $out"
exit $fail
