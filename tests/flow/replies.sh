#!/bin/sh
# replies.sh: challenge, confirmation and invitation answers in the shapes
# real mail clients send (tests/lib/replies.sh), through certgate-milter -t:
# reply prefixes of many languages, repeated and mixed; folded and RFC
# 2047-encoded subjects split inside the token; the ACME RESPONSE block in
# quoted-printable, base64, format=flowed, HTML-only and multipart/
# alternative bodies; a quoted copy of the challenge below the answer. Each is
# taken. A token only in the quoted challenge, and a forwarded challenge, are
# refused with their own reasons.
set -eu
. "$CG_SRC/tests/lib/pki.sh"
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
. "$CG_SRC/tests/lib/mail.sh"
. "$CG_SRC/tests/lib/replies.sh"
ca_test replies
ca_dirs
mkdir -p "$T/m" "$T/tmp"
chown certgate "$T/tmp"
ca_conf "LogLevel notice" "TempDir $T/tmp"
ca_mta
ca_example
$cg admin add anna@example.org --org 1 > /dev/null
dns_start "$T/dns" 127.0.0.21

# challenge: a new domain challenge; its token and Message-ID in $tok, $mid
challenge() {
	$cg domain challenge example.org > /dev/null
	drain
	m=$(last_mail postmaster@example.org)
	tok=$(sed -n 's/^Subject: ACME: //p' "$m" | tr -d '\r')
	mid=$(sed -n 's/^Message-ID: //p' "$m" | tr -d '\r<>')
}
for shape in $REPLY_SHAPES; do
	challenge
	reply_shape "$shape" postmaster@example.org "$tok" "$mid" "$T/m/$shape.eml"
	got=$(verdict_of "$(milter_t "$T/m/$shape.eml" postmaster@example.org challenge@ca.example.net)")
	case $got in accept* | discard*) ok "$shape: $got" ;; *) bad "$shape: $got" ;; esac
done
printf '%s\n' "$REPLY_REFUSED" | while IFS=: read -r shape pat; do
	challenge
	reply_shape "$shape" postmaster@example.org "$tok" "$mid" "$T/m/$shape.eml"
	got=$(verdict_of "$(milter_t "$T/m/$shape.eml" postmaster@example.org challenge@ca.example.net)")
	if printf '%s\n' "$got" | grep -q -E -- "^reject $pat"; then ok "$shape refused: $got"; else bad "$shape: got '$got', want /$pat/"; fi
done


# A confirmation (an unsigned enrolment, held) answered with a German prefix
# in HTML; an invitation answered with a Polish prefix, the CSR attached.
csr held held@example.org
entity "$T/m/held.ent" "Please." "$T/k/held.der" application/pkcs10 held.p10
smail "$T/m/held.eml" - anna@example.org enroll@ca.example.net held "$T/m/held.ent"
milter_t "$T/m/held.eml" anna@example.org enroll@ca.example.net > /dev/null
drain
m=$(last_mail anna@example.org)
tok=$(sed -n 's/^Subject: ACME: //p' "$m" | tr -d '\r')
mid=$(sed -n 's/^Message-ID: //p' "$m" | tr -d '\r<>')
reply_shape prefix-sv-aw anna@example.org "$tok" "$mid" "$T/m/confirm.eml"
sed -i "s/^Subject: .*/Subject: AW: ACME: $tok\r/" "$T/m/confirm.eml"
got=$(verdict_of "$(milter_t "$T/m/confirm.eml" anna@example.org challenge@ca.example.net)")
case $got in accept* | discard*) ok "a confirmation answered with AW:: $got" ;; *) bad "confirmation: $got" ;; esac
printf 'First Name,Last Name,Email\r\nOla,Nowak,ola@example.org\r\n' > "$T/m/inv.csv"
entity "$T/m/inv.ent" "One." "$T/m/inv.csv" text/csv inv.csv
smail "$T/m/inv.eml" - anna@example.org enroll@ca.example.net inv "$T/m/inv.ent"
milter_t "$T/m/inv.eml" anna@example.org enroll@ca.example.net > /dev/null
drain
m=$(grep -l '^Subject: ACME: ' $(ls "$T/out/"*.eml | sort -V) | while read -r f; do
	grep -q -- "-- anna@example.org$" "${f%.eml}.argv" && echo "$f"; done | tail -1)
tok=$(sed -n 's/^Subject: ACME: //p' "$m" | tr -d '\r')
mid=$(sed -n 's/^Message-ID: //p' "$m" | tr -d '\r<>')
milter_t "$(reply_shape prefix-odp anna@example.org "$tok" "$mid" "$T/m/cinv.eml" && echo "$T/m/cinv.eml")" anna@example.org challenge@ca.example.net > /dev/null
drain
m=$(last_mail ola@example.org)
tok=$(sed -n 's/^Subject: ACME: //p' "$m" | tr -d '\r')
mid=$(sed -n 's/^Message-ID: //p' "$m" | tr -d '\r<>')
csr ola ola@example.org
{ printf 'From: ola@example.org\r\nTo: challenge@ca.example.net\r\nSubject: Odp: ACME: %s\r\nIn-Reply-To: <%s>\r\n' "$tok" "$mid"
  printf 'MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n'; sed 's/$/\r/' "$T/k/ola.csr"; } > "$T/m/ans.eml"
got=$(verdict_of "$(milter_t "$T/m/ans.eml" ola@example.org challenge@ca.example.net)")
case $got in accept* | discard*) ok "an invitation answered with Odp:: $got" ;; *) bad "invitation: $got" ;; esac
drain
$cg --json cert list --mailbox ola@example.org | grep -q '"serial"' && ok "the invitee's certificate is issued" || bad "ola not issued"
exit $fail
