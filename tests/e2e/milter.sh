#!/bin/sh
# milter.sh: certgate-milter behind a real Postfix. A non-gateway mail is
# delivered unchanged; a malformed gateway mail is refused with 554 5.6.0 and
# the text reaches the sender's bounce; with the milter stopped, mail is
# deferred and delivered (or refused with its reason) once it is back:
# never lost.
. "$CG_SRC/tests/e2e/lib.sh"
id=$(date +%s%N)

# 1. Not for the gateway: delivered, byte for byte where it matters.
# (No final newline: swaks adds the line break before the final dot.)
printf 'From: jan@example.org\nTo: anna@example.org\nSubject: not for the gateway %s\nMessage-ID: <plain.%s@example.org>\nX-Marker: %s\n\nline one\n  indented line two' \
	"$id" "$id" "$id" > "$T/plain.eml"
out=$(send "$CG_CA_PORT" jan@example.org anna@example.org "$T/plain.eml")
echo "$out" | grep -q '^<-  250 2.0.0 Ok: queued' && ok "plain mail accepted" || bad "plain mail: $out"
f=$(wait_mail anna@example.org "X-Marker: $id")
if [ -n "$f" ]; then
	sed -n '/^$/,$p' "$f" | tail -n +2 > "$T/got-body"
	printf 'line one\n  indented line two\n' > "$T/want-body"
	cmp -s "$T/got-body" "$T/want-body" && ok "body unchanged" || bad "body changed"
	grep -q "^Subject: not for the gateway $id$" "$f" && grep -q "^Message-ID: <plain.$id@example.org>$" "$f" &&
		ok "headers unchanged" || bad "headers changed"
else
	bad "plain mail not delivered"
fi

# 2. Malformed, through the organisation's mail server: bounced with the reason.
sed "s/^Subject: cut off/Subject: cut off $id/" "$CG_TEST_DATA/mail/truncated.eml" > "$T/bad.eml"
out=$(send "$CG_ORG_PORT" jan@example.org enroll@ca.example.net "$T/bad.eml")
echo "$out" | grep -q '^<-  250' && ok "org MTA took the malformed mail" || bad "org MTA: $out"
f=$(wait_mail jan@example.org "cut off $id" 30)
if [ -n "$f" ] && grep -q "554 5.6.0 certgate: MIME: the message is truncated" "$f"; then
	ok "bounce to the sender says 554 5.6.0 and why"
else
	bad "no bounce with the 554 5.6.0 text in $(maildir jan@example.org)"
fi
# Directly, the client sees the reply itself.
out=$(send "$CG_CA_PORT" jan@example.org enroll@ca.example.net "$T/bad.eml")
echo "$out" | grep -q '^<\*\* 554 5.6.0 certgate: MIME: the message is truncated' &&
	ok "554 5.6.0 in the SMTP dialogue" || bad "direct: $out"

# 3. The milter is down: everything deferred, nothing lost.
"$SB" milter stop
sed "s/$id/down-$id/" "$T/plain.eml" | sed "s/^To: anna@example.org/To: info@ca.example.net/" > "$T/down.eml"
sed "s/cut off $id/cut off down-$id/" "$T/bad.eml" > "$T/down-bad.eml"
send "$CG_ORG_PORT" jan@example.org info@ca.example.net "$T/down.eml" > /dev/null
send "$CG_ORG_PORT" jan@example.org enroll@ca.example.net "$T/down-bad.eml" > /dev/null
direct=$(send "$CG_CA_PORT" jan@example.org anna@example.org "$T/down.eml")
echo "$direct" | grep -q '^<\*\* 451 4.7.1' && ok "milter down: 451 4.7.1 to the client" || bad "milter down, direct: $direct"
sleep 2
q=$("$SB" exec postqueue -c "$CG_SANDBOX/postfix-org/etc" -p)
echo "$q" | grep -q 'info@ca.example.net' && echo "$q" | grep -q 'enroll@ca.example.net' &&
	ok "both mails wait in the org queue" || bad "org queue: $q"
[ "$(count_mail info@ca.example.net "down-$id")" -eq 0 ] && ok "nothing delivered while down" || bad "delivered while the milter was down"
"$SB" milter start
"$SB" flush > /dev/null
[ -n "$(wait_mail info@ca.example.net "down-$id" 60)" ] && ok "deferred plain mail delivered after restart" ||
	bad "deferred plain mail lost"
f=$(wait_mail jan@example.org "cut off down-$id" 60)
[ -n "$f" ] && grep -q "554 5.6.0" "$f" && ok "deferred gateway mail processed after restart (bounced with reason)" ||
	bad "deferred gateway mail not processed"
finish
