#!/bin/sh
# pkcs11.sh: the whole issue path with the issuing CA key on a PKCS#11 token
# (SoftHSM2): certgate ca init --pkcs11 makes the key inside the token, the
# issuer signs certificates and the CRL through OpenSSL's pkcs11 engine, and
# the results verify with the openssl CLI. The key never exists as a file.
# The argument, when given, is the issuing key's curve (--issuing-ec); the
# default key is P-256.
set -eu
CURVE=${1:-P-256}
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test pkcs11

# A token of our own; the issuer (user certgate-ca) must reach it.
ca_dirs
mkdir -p "$T/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$T" > "$T/softhsm2.conf"
export SOFTHSM2_CONF="$T/softhsm2.conf"
softhsm2-util --init-token --free --label certgate --pin 123456 --so-pin 654321 > /dev/null
chown -R certgate-ca "$T/tokens" "$T/run"
chmod 0644 "$T/softhsm2.conf"
printf '123456\n' > "$T/pin"
chown certgate-ca "$T/pin"
chmod 0600 "$T/pin"
ca_conf "CAKey pkcs11:token=certgate;object=issuing-ca;type=private" \
	"PKCS11Module /usr/lib/softhsm/libsofthsm2.so" "PKCS11PinFile $T/pin"

if [ $# -gt 0 ]; then set -- --issuing-ec "$1"; fi
out=$($cg ca init --pkcs11 --org "Token CA" "$@" 2>&1) && ok "ca init --pkcs11 $*" || { bad "ca init: $out"; exit 1; }
[ ! -e "$T/ca/issuing-ca.key" ] && ok "no issuing key file" || bad "an issuing key file exists"
pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label certgate --login --pin 123456 \
	--list-objects --type privkey 2>/dev/null | grep -q "label:      issuing-ca" &&
	ok "the key is on the token" || bad "no key on the token"
openssl verify -CAfile "$T/ca/root-ca.pem" "$T/ca/issuing-ca.pem" > /dev/null 2>&1 &&
	ok "issuing CA certificate verifies" || bad "issuing CA certificate"
want=$(case $CURVE in P-256) echo prime256v1 ;; P-384) echo secp384r1 ;; esac)
openssl x509 -in "$T/ca/issuing-ca.pem" -noout -text | grep -q "ASN1 OID: $want" &&
	ok "the issuing key is $CURVE ($want)" || bad "issuing key: $(openssl x509 -in "$T/ca/issuing-ca.pem" -noout -text | grep -A2 'Public Key Algorithm')"
$cg ca show | grep -q "issuing CA key: pkcs11:token=certgate" && ok "ca show names the token" || bad "ca show"
# The token's files belong to the issuer's user, as on a real installation.
chown -R certgate-ca "$T/tokens"

$cg org add --name "Example Sp. z o.o." --registration NTRPL-0000123456 --country PL \
	--contact ceo@example.org > /dev/null
$cg domain add example.org --org 1 --validated > /dev/null
# Each curve its own DNS address: the two rounds may run at once.
dns_start "$T/dns" "$(case $CURVE in P-384) echo 127.0.0.30 ;; *) echo 127.0.0.10 ;; esac)"
dns_spawn env SOFTHSM2_CONF="$T/softhsm2.conf" "$CG_BIN/certgate-issuer" -f -c "$T/certgate.conf" \
	> "$T/issuer.log" 2>&1
ipid=$!
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/anna.key" -subj "/CN=anna" -out "$T/anna.csr" 2>/dev/null
s=$($cg cert issue --org 1 --mailbox anna@example.org --csr "$T/anna.csr" --wait --timeout 30 2>&1 || true)
if echo "$s" | grep -qE '^[0-9a-f]{32}$'; then
	ok "issued through the token: $s"
	$cg cert show "$s" --pem > "$T/anna.pem"
	openssl verify -CAfile "$T/ca/root-ca.pem" -untrusted "$T/ca/issuing-ca.pem" -purpose smimesign \
		"$T/anna.pem" > /dev/null 2>&1 && ok "certificate verifies" || bad "certificate"
	# S/MIME BR 7.1.3.2: a P-384 key signs with SHA-384, a P-256 one with SHA-256.
	alg=$(case $CURVE in P-384) echo ecdsa-with-SHA384 ;; *) echo ecdsa-with-SHA256 ;; esac)
	openssl x509 -in "$T/anna.pem" -noout -text | grep -q "Signature Algorithm: $alg" &&
		ok "signed $alg" || bad "signature: $(openssl x509 -in "$T/anna.pem" -noout -text | grep -m1 'Signature Algorithm')"
	$cg cert revoke "$s" --reason superseded > /dev/null
	i=0
	while ! openssl crl -inform DER -in "$T/crl/issuing-ca.crl" -noout -text 2>/dev/null | grep -q Superseded; do
		i=$((i + 1)); [ $i -lt 100 ] || break; sleep 0.1
	done
	openssl crl -inform DER -in "$T/crl/issuing-ca.crl" -CAfile "$T/ca/chain.pem" -noout 2>&1 | grep -q "verify OK" &&
		ok "CRL signed on the token verifies" || bad "CRL signature"
else
	bad "issue: $s"
	cat "$T/issuer.log"
fi
grep -q "issuing CA key pkcs11:token=certgate" "$T/issuer.log" && ok "issuer runs on the token key" || bad "issuer log"
exit $fail
