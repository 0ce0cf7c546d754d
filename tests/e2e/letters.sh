#!/bin/sh
# letters.sh: an organisation registers and manages itself by signed letters
# through the real Postfix. The contact's letters are signed by gpgsm; the
# operator approves; the postmaster answers the challenge; the contact adds
# an admin and a second domain, then removes the admin. Attacks (signed by
# the openssl CLI) are refused with their own replies and change nothing:
# unsigned, untrusted CA, another address's certificate, a change from
# someone who is not the contact, a replayed letter, a bad country; and the
# removed admin can no longer enrol.
. "$CG_SRC/tests/e2e/lib.sh"
. "$CG_SRC/tests/lib/pki.sh"
trap 'pki_gpgsm_stop "$T/gnupg"; rm -rf "$T"' EXIT
CA="$CG_SANDBOX/pki/letter-ca"
pki_leaf "$CA" "$T/chair" chair@example.pl rsa
pki_leaf "$CA" "$T/jan" jan@example.pl ec
pki_ca "$T/evilca" "Evil CA"
pki_leaf "$T/evilca" "$T/fake" chair@example.pl ec
pki_gpgsm_init "$T/gnupg" "$CA" "$T/chair"
id=$(date +%s%N)

# letter NAME gpgsm|openssl:SIGNER|- FROM LINES...: $T/NAME.eml
letter() {
	name=$1 how=$2 from=$3
	shift 3
	{
		printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
		for line in "$@"; do printf '%s\r\n' "$line"; done
	} > "$T/$name.ent"
	printf 'From: %s\r\nTo: request@ca.example.net\r\nSubject: %s\r\nMessage-ID: <%s.%s@example.pl>\r\nDate: %s\r\n' \
		"$from" "$name" "$name" "$id" "$(date -R)" > "$T/$name.hdr"
	case $how in
	gpgsm) pki_sign_gpgsm "$T/gnupg" "$from" "$T/$name.ent" "$T/$name.eml" "$T/$name.hdr" ;;
	openssl:*) pki_sign_openssl "$T/${how#openssl:}" "$T/$name.ent" "$T/$name.eml" detached "$T/$name.hdr" ;;
	*) cat "$T/$name.hdr" "$T/$name.ent" > "$T/$name.eml" ;;
	esac
}
state() { certgate --json org list; certgate --json domain list; certgate --json admin list; }
sent_ok() { # sent_ok NAME FILE FROM
	out=$(send "$CG_CA_PORT" "$3" request@ca.example.net "$2")
	echo "$out" | grep -q '^<-  250 ' && ok "$1 accepted" || bad "$1: $(echo "$out" | grep '^<\*\*')"
}
refused() { # refused NAME PATTERN FILE FROM
	before=$(state)
	out=$(send "$CG_CA_PORT" "$4" request@ca.example.net "$3")
	line=$(echo "$out" | grep -E '^<\*\* +5[0-9][0-9] ' | head -1)
	if echo "$line" | grep -q -E -- "$2" && [ "$(state)" = "$before" ]; then
		ok "$1: ${line#<\*\* }"
	else
		bad "$1: '$line' (want /$2/)"
	fi
}
REG="Request: register-organisation"
register_lines() { # the registration, with COUNTRY
	echo "$REG"; echo "Organisation: Przyklad $id Sp. z o.o."; echo "Registration: NTRPL-0000555555"
	echo "Country: $1"; echo "Locality: Gdansk"; echo "Contact: chair@example.pl"
	echo "Domain: example.pl"; echo "Admin: jan@example.pl; IT"
}

# Attacks on the registration.
letter unsigned - chair@example.pl "$REG" "Organisation: X" "Registration: NTRPL-1" "Country: PL" \
	"Contact: chair@example.pl" "Domain: example.pl"
refused "unsigned letter" '550 5\.7\.5 certgate: the message is not S/MIME-signed' "$T/unsigned.eml" chair@example.pl
letter untrusted openssl:fake chair@example.pl "$REG" "Organisation: X" "Registration: NTRPL-1" \
	"Country: PL" "Contact: chair@example.pl" "Domain: example.pl"
refused "letter from an untrusted CA" '550 5\.7\.5 certgate: untrusted signer' "$T/untrusted.eml" chair@example.pl
letter otheraddr openssl:jan chair@example.pl "$REG" "Organisation: X" "Registration: NTRPL-1" \
	"Country: PL" "Contact: chair@example.pl" "Domain: example.pl"
refused "trusted certificate of another address" '550 5\.7\.5 certgate: signer does not match From' \
	"$T/otheraddr.eml" chair@example.pl
# shellcheck disable=SC2046
IFS='
'
letter badcountry gpgsm chair@example.pl $(register_lines DE)
refused "country not matching the identifier" '554 5\.6\.0 certgate: letter: Country DE does not match' \
	"$T/badcountry.eml" chair@example.pl
letter register gpgsm chair@example.pl $(register_lines PL)
unset IFS

sent_ok "registration (gpgsm)" "$T/register.eml" chair@example.pl
f=$(wait_mail chair@example.pl "request R" 30)
org=$( [ -n "$f" ] && sed -n 's/.*registered as number \([0-9]*\).*/\1/p' "$f" | head -1)
[ -n "$org" ] && ok "reply: registered as organisation $org, pending" || { bad "no reply to the contact"; finish; }
certgate org list | grep -q "^$org *pending" && ok "organisation $org pending" || bad "org $org: $(certgate org list)"
sed "s/^Message-ID: <register/Message-ID: <again/" "$T/register.eml" > "$T/replay.eml"
refused "replayed letter" '550 5\.7\.1 certgate: this signed letter was accepted before' "$T/replay.eml" chair@example.pl

certgate org approve "$org" > /dev/null && ok "operator approves" || bad "approve"
m=$(wait_mail postmaster@example.pl "^Subject: ACME: " 30)
[ -n "$m" ] && ok "challenge to postmaster@example.pl" || { bad "no challenge"; finish; }
tok=$(sed -n 's/^Subject: ACME: //p' "$m" | tr -d '\r')
mid=$(sed -n 's/^Message-ID: //p' "$m" | tr -d '\r<>')
printf 'From: postmaster@example.pl\r\nTo: challenge@ca.example.net\r\nSubject: Re: ACME: %s\r\nIn-Reply-To: <%s>\r\nMessage-ID: <answer.%s@example.pl>\r\nDate: %s\r\n\r\nYes.\r\n' \
	"$tok" "$mid" "$id" "$(date -R)" > "$T/answer.eml"
out=$(send "$CG_CA_PORT" postmaster@example.pl challenge@ca.example.net "$T/answer.eml")
echo "$out" | grep -q '^<-  250 ' && ok "postmaster answers" || bad "answer: $(echo "$out" | grep '^<\*\*')"
certgate domain list | grep -q "^example.pl *$org *validated" && ok "example.pl validated" || bad "$(certgate domain list | grep example.pl)"
certgate admin list | grep -q "^jan@example.pl .* active" && ok "jan is an active admin" || bad "jan: $(certgate admin list | grep jan)"

letter addadmin gpgsm chair@example.pl "Request: add-admin" "Admin: anna@example.pl; Sales"
sent_ok "add-admin" "$T/addadmin.eml" chair@example.pl
letter adddomain gpgsm chair@example.pl "Request: add-domain" "Domain: shop.example.pl"
sent_ok "add-domain" "$T/adddomain.eml" chair@example.pl
[ -n "$(wait_mail postmaster@shop.example.pl "^Subject: ACME: " 30)" ] && ok "the second domain is challenged" || bad "shop.example.pl not challenged"
letter janchange openssl:jan jan@example.pl "Request: add-domain" "Domain: other.example.pl"
refused "a change from someone who is not the contact" '550 5\.7\.1 certgate: jan@example\.pl is not the contact' \
	"$T/janchange.eml" jan@example.pl
letter rmadmin gpgsm chair@example.pl "Request: remove-admin" "Admin: jan@example.pl"
sent_ok "remove-admin" "$T/rmadmin.eml" chair@example.pl
certgate admin list | grep -q "^jan@example.pl .* removed" && certgate admin list | grep -q "^anna@example.pl .* active" &&
	ok "jan removed, anna active" || bad "admins: $(certgate admin list | grep example.pl)"
# The removed admin can no longer enrol.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj "/CN=jan" \
	-addext "subjectAltName=email:jan@example.pl" -out "$T/jan.csr" 2>/dev/null
printf 'Content-Type: text/plain\r\n\r\n%s\r\n' "$(cat "$T/jan.csr")" > "$T/enrol.ent"
printf 'From: jan@example.pl\r\nTo: enroll@ca.example.net\r\nSubject: my certificate\r\n' > "$T/enrol.hdr"
pki_sign_openssl "$T/jan" "$T/enrol.ent" "$T/enrol.eml" detached "$T/enrol.hdr"
out=$(send "$CG_CA_PORT" jan@example.pl enroll@ca.example.net "$T/enrol.eml")
echo "$out" | grep -q '^<\*\* *550 5\.7\.1 certgate: jan@example\.pl is not an active admin' &&
	ok "the removed admin's enrolment is refused" || bad "removed admin enrols: $(echo "$out" | grep '^<\*\*')"
i=0
while [ "$(count_mail chair@example.pl 'request R')" -lt 4 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(count_mail chair@example.pl 'request R')" -ge 4 ] && ok "a reply for every applied letter" || bad "$(count_mail chair@example.pl 'request R') replies"
certgate org show "$org" | grep -c "org\.change" | grep -q '^3$' && ok "org show lists the letters" || bad "org show: $(certgate org show "$org" | tail -5)"
finish
