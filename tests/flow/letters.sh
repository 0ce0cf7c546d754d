#!/bin/sh
# letters.sh: signed request letters through certgate-milter -t (the daemon's
# code), replies and challenges sent by the issuer to a capturing MTA. A
# contact registers an organisation; the operator approves it; the contact
# adds and removes admins and domains and updates the organisation. Each
# attack is refused with its own reply and changes nothing: unsigned,
# untrusted CA, another address's certificate, a change from someone who is
# not the contact, a replayed letter, a bad country or identifier.
set -eu
. "$CG_SRC/tests/lib/pki.sh"
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test letters
ca_dirs
mkdir -p "$T/l"
pki_ca "$T/ca" "Letter CA"
pki_ca "$T/evilca" "Evil CA"
pki_leaf "$T/ca" "$T/ceo" ceo@example.org ec
pki_leaf "$T/ca" "$T/jan" jan@example.org rsa
pki_leaf "$T/ca" "$T/boss" boss@example.com ec
pki_leaf "$T/evilca" "$T/fake" ceo@example.org ec
ca_conf "LetterTrustAnchors $T/ca/cert.pem" "LogLevel notice"
ca_mta
$cg ca init > /dev/null
dns_start "$T/dns" 127.0.0.16

# letter NAME SIGNER FROM LINES...: $T/l/NAME.eml, the lines signed by SIGNER
# (openssl cms, detached) or unsigned when SIGNER is "-".
letter() {
	name=$1 signer=$2 from=$3
	shift 3
	{
		printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
		for line in "$@"; do printf '%s\r\n' "$line"; done
	} > "$T/l/$name.ent"
	printf 'From: %s\r\nTo: request@ca.example.net\r\nSubject: %s\r\nMessage-ID: <%s.%s@example.org>\r\n' \
		"$from" "$name" "$name" "$$" > "$T/l/$name.hdr"
	if [ "$signer" = - ]; then
		cat "$T/l/$name.hdr" "$T/l/$name.ent" > "$T/l/$name.eml"
	else
		pki_sign_openssl "$T/$signer" "$T/l/$name.ent" "$T/l/$name.eml" detached "$T/l/$name.hdr"
	fi
}
verdict() {
	"$CG_BIN/certgate-milter" -c "$T/certgate.conf" -t "$1" --client-ip 127.0.0.1 \
		--mail-from "${2:-ceo@example.org}" --rcpt request@ca.example.net 2>>"$T/milter.err" |
		sed -n 's/^verdict: //p'
}
state() { $cg --json org list 2>/dev/null; $cg --json domain list; $cg --json admin list; }
# refused NAME PATTERN FILE [MAIL-FROM]: refused as PATTERN, nothing changed
refused() {
	before=$(state)
	got=$(verdict "$3" "${4:-}")
	if printf '%s\n' "$got" | grep -q -E -- "$2" && [ "$(state)" = "$before" ]; then
		ok "$1: $got"
	else
		bad "$1: got '$got' (want /$2/), state changed: $([ "$(state)" = "$before" ] && echo no || echo yes)"
	fi
}
accepted() { # accepted NAME FILE [MAIL-FROM]
	got=$(verdict "$2" "${3:-}")
	case $got in accept* | discard*) ok "$1: $got" ;; *) bad "$1: $got" ;; esac
}

REG="Request: register-organisation"
letter register ceo ceo@example.org "$REG" "Organisation: Example Sp. z o.o." \
	"Registration: NTRPL-0000123456" "Country: PL" "State: mazowieckie" "Locality: Warszawa" \
	"Contact: ceo@example.org" "Domain: example.org" "Domain: EXAMPLE.com" "Admin: jan@example.org; IT"

# Attacks on registration first: nothing may be created.
letter unsigned - ceo@example.org "$REG" "Organisation: Example Sp. z o.o." \
	"Registration: NTRPL-0000123456" "Country: PL" "Contact: ceo@example.org" "Domain: example.org"
refused "unsigned letter" '^reject 550 5\.7\.5 certgate: the message is not S/MIME-signed' "$T/l/unsigned.eml"
letter untrusted fake ceo@example.org "$REG" "Organisation: Example Sp. z o.o." \
	"Registration: NTRPL-0000123456" "Country: PL" "Contact: ceo@example.org" "Domain: example.org"
refused "signed by an untrusted CA" '^reject 550 5\.7\.5 certgate: untrusted signer' "$T/l/untrusted.eml"
letter otheraddr jan ceo@example.org "$REG" "Organisation: Example Sp. z o.o." \
	"Registration: NTRPL-0000123456" "Country: PL" "Contact: ceo@example.org" "Domain: example.org"
refused "signed by another address's certificate" '^reject 550 5\.7\.5 certgate: signer does not match From' "$T/l/otheraddr.eml"
letter notcontact jan jan@example.org "$REG" "Organisation: Example Sp. z o.o." \
	"Registration: NTRPL-0000123456" "Country: PL" "Contact: ceo@example.org" "Domain: example.org"
refused "registration not from its Contact" '^reject 550 5\.7\.1 certgate: a registration must come from its Contact' \
	"$T/l/notcontact.eml" jan@example.org
letter badcountry ceo ceo@example.org "$REG" "Organisation: Example Sp. z o.o." \
	"Registration: NTRPL-0000123456" "Country: DE" "Contact: ceo@example.org" "Domain: example.org"
refused "country not matching the identifier" '^reject 554 5\.6\.0 certgate: letter: Country DE does not match the Registration.s country PL' "$T/l/badcountry.eml"
letter badid ceo ceo@example.org "$REG" "Organisation: Example Sp. z o.o." \
	"Registration: XYZPL-0000123456" "Country: PL" "Contact: ceo@example.org" "Domain: example.org"
refused "bad organizationIdentifier" '^reject 554 5\.6\.0 certgate: letter line 3: Registration: ' "$T/l/badid.eml"
letter unknownkey ceo ceo@example.org "$REG" "Organisation: Example Sp. z o.o." "Colour: blue"
refused "unknown key" '^reject 554 5\.6\.0 certgate: letter line 3: unknown key' "$T/l/unknownkey.eml"
letter twice ceo ceo@example.org "$REG" "Organisation: A" "Organisation: B"
refused "a key given twice" '^reject 554 5\.6\.0 certgate: letter line 3: Organisation given twice' "$T/l/twice.eml"

accepted "registration" "$T/l/register.eml"
$cg org list | grep -q "^1 *pending .*Example Sp\. z o\.o\." && ok "organisation pending" || bad "org list: $($cg org list)"
# A pending registration reserves nothing: what it asks for waits in its record.
$cg org show 1 | grep -q "^  domain example.com$" && ok "domains asked for (IDNA lower case), shown by org show" || bad "org show: $($cg org show 1)"
$cg org show 1 | grep -q "^  admin  jan@example.org IT$" && ok "admin asked for, department kept" || bad "org show: $($cg org show 1)"
[ "$($cg --json domain list)" = "[]" ] && [ "$($cg --json admin list)" = "[]" ] &&
	ok "no domain or admin record before approval" || bad "records: $($cg domain list; $cg admin list)"
drain
r=$(last_mail ceo@example.org)
[ -n "$r" ] && qp "$r" | grep -q "registered as number 1" && ok "the contact gets a reply saying what happens next" || bad "no reply to the contact"
[ "$(mails_to postmaster@example.org)" -eq 0 ] && ok "no challenge before approval" || bad "challenged before approval"

# Replays.
sed 's/^Subject: register/Subject: once more/; s/^Message-ID: <register/Message-ID: <again/' "$T/l/register.eml" > "$T/l/replay.eml"
refused "replayed letter (new envelope)" '^reject 550 5\.7\.1 certgate: this signed letter was accepted before \(request R' "$T/l/replay.eml"

# The operator approves: admins active, domains challenged.
$cg org approve 1 | grep -q "1 admins active, 0 held for certgate admin approve, 2 domain challenges queued" && ok "org approve" || bad "org approve: $($cg org show 1)"
$cg domain list | grep -q "^example.com .* pending" && ok "domains pending once approved" || bad "domains: $($cg domain list)"
drain
[ "$(mails_to postmaster@example.org)" -eq 1 ] && [ "$(mails_to postmaster@example.com)" -eq 1 ] &&
	ok "both domains challenged" || bad "challenges after approval"
$cg admin list | grep -q "^jan@example.org .* active" && ok "admin active" || bad "admin not active"
qp "$(last_mail ceo@example.org)" | grep -q "approved" && ok "the contact is told of the approval" || bad "no approval notice"
$cg org approve 1 > /dev/null 2>&1 && bad "approved twice" || ok "an active organisation cannot be approved again"

# Changes, from the contact only.
letter addadmin ceo ceo@example.org "Request: add-admin" "Admin: anna@example.org; Sales"
accepted "add-admin" "$T/l/addadmin.eml"
$cg admin list | grep -q "^anna@example.org .* active .*Sales" && ok "anna is an active admin" || bad "anna: $($cg admin list)"
letter janadds jan jan@example.org "Request: add-domain" "Domain: example.net"
refused "a change from someone who is not the contact" '^reject 550 5\.7\.1 certgate: jan@example\.org is not the contact of any organisation' \
	"$T/l/janadds.eml" jan@example.org
letter adddomain ceo ceo@example.org "Request: add-domain" "Domain: example.net"
accepted "add-domain" "$T/l/adddomain.eml"
drain
[ "$(mails_to postmaster@example.net)" -eq 1 ] && ok "the new domain is challenged" || bad "example.net not challenged"
# A Domain line may name its method: the DNS-change one mails the contact
# the record to publish instead of challenging the postmaster.
letter badmethod ceo ceo@example.org "Request: add-domain" "Domain: dns.example.net; Method: pigeon"
refused "an unknown Method" '^reject 554 5\.6\.0 certgate: letter line 2: Domain: Method is dns or postmaster, not "pigeon"' "$T/l/badmethod.eml"
letter dnsdomain ceo ceo@example.org "Request: add-domain" "Domain: dns.example.net; Method: dns"
accepted "add-domain with Method: dns" "$T/l/dnsdomain.eml"
drain
found=no
for m in $(grep -l -- "-- ceo@example.org\$" "$T/out/"*.argv); do
	qp "${m%.argv}.eml" | grep -q "_certgate-challenge.dns.example.net. IN TXT" && found=yes
done
[ "$(mails_to postmaster@dns.example.net)" -eq 0 ] && [ $found = yes ] &&
	ok "Method: dns: the contact is mailed the TXT record, no postmaster challenge" || bad "Method: dns: $(tail -3 "$T/issuer.log")"
letter rmadmin ceo ceo@example.org "Request: remove-admin" "Admin: jan@example.org"
accepted "remove-admin" "$T/l/rmadmin.eml"
$cg admin list | grep -q "^jan@example.org .* removed" && ok "jan removed" || bad "jan: $($cg admin list)"
# (a blank line makes it a new letter: the same signed bytes would be a replay)
letter rmagain ceo ceo@example.org "Request: remove-admin" "Admin: jan@example.org" ""
refused "removing a removed admin" '^reject 550 5\.7\.1 certgate: jan@example\.org is not an admin' "$T/l/rmagain.eml"
letter rmdomain ceo ceo@example.org "Request: remove-domain" "Domain: example.net"
accepted "remove-domain" "$T/l/rmdomain.eml"
$cg domain list | grep -q "^example.net " && bad "example.net still listed" || ok "example.net removed"
letter locality ceo ceo@example.org "Request: update-organisation" "Locality: Kraków"
accepted "update-organisation (locality)" "$T/l/locality.eml"
$cg org show 1 | grep -q "Kraków" && $cg org list | grep -q "^1 *active" && ok "locality changed, still active" || bad "locality: $($cg org show 1 | head -5)"
letter rename ceo ceo@example.org "Request: update-organisation" "Organisation: Example S.A."
accepted "update-organisation (name)" "$T/l/rename.eml"
$cg org list | grep -q "^1 *pending .*Example S\.A\." && ok "a new name makes the organisation pending again" || bad "rename: $($cg org list)"
$cg org show 1 | grep -q "org.change" && ok "org show lists the letters" || bad "org show history"
drain
[ "$(mails_to ceo@example.org)" -ge 7 ] && ok "every applied letter got a reply ($(mails_to ceo@example.org) mails)" || bad "$(mails_to ceo@example.org) mails to the contact"

# Rejection by the operator.
letter register2 boss boss@example.com "$REG" "Organisation: Other Ltd" "Registration: NTRGB-12345678" \
	"Country: GB" "Contact: boss@example.com" "Domain: example.com"
# A registration naming a domain another organisation holds is taken (it
# reserves nothing); the operator sees the conflict when approving.
accepted "registering a domain held by another organisation" "$T/l/register2.eml" boss@example.com
$cg org approve 2 > "$T/approve2.out" 2>&1 && bad "approved over a conflict" ||
	grep -q "example.com: held by organisation 1" "$T/approve2.out" && ok "approval shows the conflict" || bad "approve: $(cat "$T/approve2.out")"
$cg org reject 2 --reason "duplicate registration" > /dev/null
letter register3 boss boss@example.com "$REG" "Organisation: Other Ltd" "Registration: NTRGB-12345678" \
	"Country: GB" "Contact: boss@example.com" "Domain: other.example"
accepted "second registration" "$T/l/register3.eml" boss@example.com
$cg org reject 3 --reason "not in the Companies House register" > /dev/null && ok "org reject" || bad "org reject"
drain
qp "$(last_mail boss@example.com)" | grep -q "not in the Companies House register" && ok "the contact is told why" || bad "no rejection notice"
$cg audit verify > /dev/null && ok "audit chain intact" || bad "audit chain broken"
exit $fail
