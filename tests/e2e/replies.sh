#!/bin/sh
# replies.sh: challenge answers in the shapes real clients send
# (tests/lib/replies.sh) through the real Postfix: each taken shape answers
# a fresh challenge for example.org and is accepted (250); a token only in
# the quoted challenge, and a forwarded challenge, are refused with their own
# replies.
. "$CG_SRC/tests/e2e/lib.sh"
. "$CG_SRC/tests/lib/replies.sh"
id=$(date +%s%N)
org=$(certgate --json org add --name "Replies $id Sp. z o.o." --registration NTRPL-0000666666 \
	--country PL --contact ceo@example.org | sed 's/.*"id":"\([0-9]*\)".*/\1/')
header() { sed -n "s/^$1: //p" "$2" | head -1 | tr -d '\r'; }
# fresh: a new challenge for example.org (the organisation of this test
# asks for it); its token and Message-ID in $tok, $mid
fresh() {
	before=$(count_mail postmaster@example.org '^Subject: ACME: ')
	certgate domain add example.org --org "$org" > /dev/null 2>&1 || certgate domain challenge example.org > /dev/null
	i=0
	while [ "$(count_mail postmaster@example.org '^Subject: ACME: ')" -le "$before" ] && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	m=$(ls -t "$(maildir postmaster@example.org)/new/"* | head -1)
	tok=$(header Subject "$m" | sed 's/^ACME: //')
	mid=$(header Message-ID "$m" | tr -d '<>')
}
for shape in $REPLY_SHAPES; do
	fresh
	reply_shape "$shape" postmaster@example.org "$tok" "$mid" "$T/$shape.eml"
	out=$(send "$CG_CA_PORT" postmaster@example.org challenge@ca.example.net "$T/$shape.eml")
	echo "$out" | grep -q '^<-  250 ' && ok "$shape: 250" || bad "$shape: $(echo "$out" | grep -E '^<\*\*' | head -1)"
done
printf '%s\n' "$REPLY_REFUSED" > "$T/refused"
while IFS=: read -r shape pat; do
	fresh
	reply_shape "$shape" postmaster@example.org "$tok" "$mid" "$T/$shape.eml"
	line=$(send "$CG_CA_PORT" postmaster@example.org challenge@ca.example.net "$T/$shape.eml" | grep -E '^<\*\* +5' | head -1)
	echo "$line" | grep -q -E -- "$pat" && ok "$shape refused: ${line#<\*\* }" || bad "$shape: '$line' (want /$pat/)"
done < "$T/refused"
finish
