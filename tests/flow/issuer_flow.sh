#!/bin/sh
# issuer_flow.sh: the issue path through the real certgate-issuer daemon,
# judged by independent tools.
#   - ca init; certificates chain (openssl verify, purpose smimesign)
#   - what a CSR asks for (OU, CA:TRUE, other SANs) is not copied; the
#     subject, byte for byte, is what openssl req makes of the same names
#   - an S/MIME message signed with an issued certificate by openssl cms
#     verifies with openssl cms and with gpgsm
#   - refused at issue time: a key already certified for another mailbox, the
#     CA's own key, a CAA issuemail that forbids, an unvalidated domain
#   - revocation: the CRL lists it with its reason, openssl verify -crl_check
#     refuses it, and a key revoked for keyCompromise is blocked for good
set -eu
. "$CG_SRC/tests/lib/pki.sh"
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test issuer
CA_CLEANUP='pki_gpgsm_stop '"$T/gnupg"
dns_start "$T/dns" 127.0.0.9
ca_dirs
ca_conf
$cg ca init --org "Test CA" > /dev/null
$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL \
	--locality Warszawa --contact ceo@example.org > /dev/null
$cg domain add example.org --org 1 --validated > /dev/null
$cg domain add example.com --org 1 --validated > /dev/null
dns_spawn "$CG_BIN/certgate-issuer" -f -c "$T/certgate.conf" > "$T/issuer.log" 2>&1
ipid=$!

issue() { # issue MAILBOX CSR [options]: prints the serial or the refusal
	mb=$1 csr=$2
	shift 2
	$cg cert issue --org 1 --mailbox "$mb" --csr "$csr" --wait --timeout 30 "$@" 2>&1 || true
}

# Anna: P-256, a CSR asking for things that must be ignored.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/anna.key" \
	-subj "/CN=Administrator/OU=Sales/O=Fake Inc" \
	-addext "subjectAltName=email:anna@example.org" -addext "basicConstraints=critical,CA:TRUE" \
	-out "$T/anna.csr" 2>/dev/null
a=$(issue anna@example.org "$T/anna.csr")
echo "$a" | grep -qE '^[0-9a-f]{32}$' && ok "anna issued $a" || bad "anna: $a"
$cg cert show "$a" --pem > "$T/anna.pem"
openssl verify -CAfile "$T/ca/root-ca.pem" -untrusted "$T/ca/issuing-ca.pem" -purpose smimesign \
	"$T/anna.pem" > /dev/null 2>&1 && ok "chain verifies (openssl verify smimesign)" || bad "chain"
text=$(openssl x509 -in "$T/anna.pem" -noout -text)
echo "$text" | grep -q "OU = Sales\|Fake Inc\|CN = Administrator\|CA:TRUE" && bad "CSR fields copied" ||
	ok "CSR's OU, O, CN and CA:TRUE not copied"
echo "$text" | grep -q "Subject: C = PL, O = Example Sp. z o.o., organizationIdentifier = NTRPL-0000123456, CN = anna@example.org" &&
	ok "subject from validated data" || bad "subject: $(echo "$text" | grep Subject:)"
# The subject byte for byte (each value's DER with its string type, and their
# order) is the one the openssl CLI makes of the same names.
subject_der() { openssl "$1" -in "$2" -noout -subject -nameopt RFC2253,dump_all,dump_der; }
openssl req -new -key "$T/anna.key" -utf8 -out "$T/anna-ref.csr" \
	-subj "/C=PL/O=Example Sp. z o.o./organizationIdentifier=NTRPL-0000123456/CN=anna@example.org"
[ "$(subject_der x509 "$T/anna.pem")" = "$(subject_der req "$T/anna-ref.csr")" ] &&
	ok "subject's DER as openssl encodes it" ||
	bad "subject's DER: $(subject_der x509 "$T/anna.pem") against $(subject_der req "$T/anna-ref.csr")"
# The CAA check that permitted it is audited and logged, not only refusals.
$cg audit show | grep "cert.issue" | grep "$a" | grep -q "CAA at example.org permits this CA" &&
	ok "anna's issuance audited with the CAA record that permitted it" ||
	bad "audit: $($cg audit show | grep "cert.issue" | grep "$a")"
grep "issued $a" "$T/issuer.log" | grep -q "CAA at example.org permits this CA" &&
	ok "and logged so" || bad "log: $(grep "issued $a" "$T/issuer.log")"

# Bob: RSA 2048, sponsor profile; sign with it, verify with openssl and gpgsm.
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/bob.key" -subj "/CN=bob" -out "$T/bob.csr" 2>/dev/null
b=$(issue bob@example.org "$T/bob.csr" --profile sponsor --given-name Bob --surname Kowalski --fields E)
echo "$b" | grep -qE '^[0-9a-f]{32}$' && ok "bob issued (sponsor)" || bad "bob: $b"
$cg cert show "$b" --pem > "$T/bob.pem"
openssl x509 -in "$T/bob.pem" -noout -subject | grep -q "GN = Bob, SN = Kowalski, CN = Bob Kowalski, emailAddress = bob@example.org" &&
	ok "sponsor subject" || bad "sponsor subject: $(openssl x509 -in "$T/bob.pem" -noout -subject)"
openssl req -new -key "$T/bob.key" -utf8 -out "$T/bob-ref.csr" \
	-subj "/C=PL/O=Example Sp. z o.o./organizationIdentifier=NTRPL-0000123456/GN=Bob/SN=Kowalski/CN=Bob Kowalski/emailAddress=bob@example.org"
[ "$(subject_der x509 "$T/bob.pem")" = "$(subject_der req "$T/bob-ref.csr")" ] &&
	ok "sponsor subject's DER as openssl encodes it" ||
	bad "sponsor subject's DER: $(subject_der x509 "$T/bob.pem") against $(subject_der req "$T/bob-ref.csr")"
printf 'Content-Type: text/plain\r\n\r\nsigned by bob\r\n' > "$T/msg.txt"
openssl cms -sign -binary -in "$T/msg.txt" -signer "$T/bob.pem" -inkey "$T/bob.key" -certfile "$T/ca/issuing-ca.pem" \
	-outform DER -out "$T/msg.p7s"
openssl cms -verify -binary -inform DER -in "$T/msg.p7s" -content "$T/msg.txt" -CAfile "$T/ca/root-ca.pem" \
	-purpose smimesign -out /dev/null 2>/dev/null && ok "openssl cms -verify" || bad "openssl cms -verify"
mkdir -p "$T/gnupg"
chmod 700 "$T/gnupg"
printf 'disable-crl-checks\ndisable-policy-checks\ndisable-dirmngr\n' > "$T/gnupg/gpgsm.conf"
GNUPGHOME="$T/gnupg" gpgsm --batch --import "$T/ca/root-ca.pem" "$T/ca/issuing-ca.pem" 2>/dev/null
fpr=$(GNUPGHOME="$T/gnupg" gpgsm --with-colons --fingerprint 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}')
echo "$fpr S relax" > "$T/gnupg/trustlist.txt"
if GNUPGHOME="$T/gnupg" gpgsm --batch --verify "$T/msg.p7s" "$T/msg.txt" > "$T/gpgsm.out" 2>&1; then
	ok "gpgsm --verify"
else
	bad "gpgsm --verify: $(tail -3 "$T/gpgsm.out")"
fi

# Refusals at issue time, with their reasons.
r=$(issue carol@example.org "$T/bob.csr")
echo "$r" | grep -q "already certified for another mailbox" && ok "key reuse refused" || bad "key reuse: $r"
openssl req -new -key "$T/ca/issuing-ca.key" -subj "/CN=x" -out "$T/ca.csr"
r=$(issue dave@example.org "$T/ca.csr")
echo "$r" | grep -q "one of the CA's own keys" && ok "CA key refused" || bad "CA key: $r"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/eve.key" -subj "/CN=eve" -out "$T/eve.csr" 2>/dev/null
r=$(issue eve@example.com "$T/eve.csr")
echo "$r" | grep -q "CAA issuemail at example.com does not allow" && ok "CAA issuemail ; refused" || bad "CAA: $r"
r=$(issue eve@example.net "$T/eve.csr")
echo "$r" | grep -q "is not a domain of this organisation" && ok "unregistered domain refused" || bad "domain: $r"

# Revocation and the CRL.
$cg cert revoke "$a" --reason keyCompromise > /dev/null
i=0
while ! openssl crl -inform DER -in "$T/crl/issuing-ca.crl" -noout -text 2>/dev/null | grep -qi "$(echo "$a" | tr a-f A-F | sed 's/^0*//')"; do
	i=$((i + 1))
	[ $i -lt 100 ] || break
	sleep 0.1
done
crl=$(openssl crl -inform DER -in "$T/crl/issuing-ca.crl" -noout -text 2>/dev/null)
echo "$crl" | grep -q "Key Compromise" && ok "CRL lists the serial with keyCompromise" || bad "CRL: $crl"
echo "$crl" | grep -q "X509v3 CRL Number" && echo "$crl" | grep -q "Authority Key Identifier" &&
	ok "CRL number and AKI" || bad "CRL extensions"
openssl crl -inform DER -in "$T/crl/issuing-ca.crl" -out "$T/crl.pem"
openssl crl -inform DER -in "$T/crl/root-ca.crl" -out "$T/rootcrl.pem"
cat "$T/ca/root-ca.pem" "$T/crl.pem" "$T/rootcrl.pem" > "$T/store.pem"
out=$(openssl verify -crl_check_all -CAfile "$T/store.pem" -untrusted "$T/ca/issuing-ca.pem" "$T/anna.pem" 2>&1 || true)
echo "$out" | grep -q "certificate revoked" && ok "openssl verify -crl_check: revoked" || bad "crl_check: $out"
openssl verify -crl_check_all -CAfile "$T/store.pem" -untrusted "$T/ca/issuing-ca.pem" "$T/bob.pem" > /dev/null 2>&1 &&
	ok "bob still valid under the CRL" || bad "bob under CRL"
r=$(issue anna@example.org "$T/anna.csr")
echo "$r" | grep -q "revoked for key compromise" && ok "compromised key blocked for its mailbox" ||
	bad "compromised key: $r"
openssl req -new -key "$T/anna.key" -subj "/CN=x" -out "$T/anna2.csr"
r=$(issue anna2@example.org "$T/anna2.csr")
echo "$r" | grep -q "revoked for key compromise" && ok "compromised key blocked for any mailbox" ||
	bad "compromised key, other mailbox: $r"
r=$($cg cert revoke "$a" --reason superseded 2>&1 || true)
echo "$r" | grep -q "already revoked" && ok "second revocation refused" || bad "re-revoke: $r"
$cg audit verify > /dev/null && ok "audit chain intact" || bad "audit chain"
$cg audit show | grep -q "cert.refuse" && ok "refusals audited" || bad "refusals not audited"
[ $fail -ne 0 ] && cat "$T/issuer.log"
exit $fail
