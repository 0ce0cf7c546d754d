#!/bin/sh
# keys.sh: the subscriber key policy against CSRs made by the openssl CLI.
# Every refused key is refused with its reason; every accepted type passes.
set -eu
tool="$CG_BIN/../tests/cg-keytool"
T=$(mktemp -d "$CG_TEST_TMP/keys.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail=0
n=0

csr() { # csr NAME KEYFILE [openssl req options...]
	name=$1 key=$2
	shift 2
	openssl req -new -key "$key" -subj "/CN=$name" -out "$T/$name.csr" "$@" 2>/dev/null
}
gen() { # gen NAME genpkey-args...
	name=$1
	shift
	openssl genpkey "$@" -out "$T/$name.key" 2>/dev/null
	csr "$name" "$T/$name.key"
}
expect() { # expect NAME ok|CODE PATTERN
	n=$((n + 1))
	got=$("$tool" check "$T/$1.csr")
	case "$2" in
	ok) want="^ok " ;;
	*) want="^error $2: .*$3" ;;
	esac
	if printf '%s\n' "$got" | grep -q -E -- "$want"; then
		echo "ok   $1: $got"
	else
		echo "FAIL $1: got '$got', want '$want'"
		fail=1
	fi
}

gen rsa2048 -algorithm RSA -pkeyopt rsa_keygen_bits:2048
gen rsa2056 -algorithm RSA -pkeyopt rsa_keygen_bits:2056
gen rsa3072 -algorithm RSA -pkeyopt rsa_keygen_bits:3072
gen rsa1024 -algorithm RSA -pkeyopt rsa_keygen_bits:1024
gen rsa2047 -algorithm RSA -pkeyopt rsa_keygen_bits:2047
gen rsa2052 -algorithm RSA -pkeyopt rsa_keygen_bits:2052
gen rsa_e3 -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:3
gen rsapss -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048
gen p256 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
gen p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
gen p521 -algorithm EC -pkeyopt ec_paramgen_curve:P-521
gen p192 -algorithm EC -pkeyopt ec_paramgen_curve:P-192
gen k256 -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1
gen ed25519 -algorithm ED25519
gen ed448 -algorithm ED448
openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 -out "$T/dsa.param" 2>/dev/null
openssl genpkey -paramfile "$T/dsa.param" -out "$T/dsa.key" 2>/dev/null
csr dsa "$T/dsa.key"
"$tool" smallfactor "$T/small.key"
csr small "$T/small.key"
"$tool" roca "$T/roca.key"
csr roca "$T/roca.key"
# The structure alone is caught: this modulus is a valid 2048-bit key.
[ "$(openssl pkey -in "$T/roca.key" -noout -text 2>/dev/null | head -1)" = "Private-Key: (2048 bit, 2 primes)" ] ||
	{ echo "FAIL: the ROCA test key is not a 2048-bit RSA key"; fail=1; }

expect rsa2048 ok
expect rsa2056 ok
expect rsa3072 ok
expect p256 ok
expect p384 ok
expect p521 ok
expect ed25519 ok
expect ed448 ok
expect rsa1024 3 "RSA key of 1024 bits; at least 2048"
expect rsa2047 3 "RSA key of 2047 bits; at least 2048"
expect rsa2052 3 "multiple of 8"
expect rsa_e3 3 "exponent must be odd and at least 65537"
expect rsapss 3 "RSA-PSS 2048 keys are not accepted"
expect p192 3 "EC curve prime192v1"
expect k256 3 "EC curve secp256k1"
expect dsa 3 "DSA keys are not accepted"
expect small 3 "small prime factor 3"
expect roca 3 "ROCA fingerprint"

# A CSR whose self-signature does not verify: one byte of the signature flipped.
openssl req -in "$T/p256.csr" -outform DER -out "$T/p256.der"
len=$(wc -c < "$T/p256.der")
cp "$T/p256.der" "$T/badsig.csr"
printf '\001' | dd of="$T/badsig.csr" bs=1 seek=$((len - 5)) conv=notrunc 2>/dev/null
expect badsig 1 "self-signature does not verify"
# DER with bytes after the structure; not a CSR at all; two mailboxes.
cp "$T/p256.der" "$T/trailing.csr"; printf 'xx' >> "$T/trailing.csr"
expect trailing 1 "bytes after its DER structure"
printf 'hello' > "$T/junk.csr"
expect junk 1 "not a PKCS#10"
csr twomail "$T/p256.key" -addext "subjectAltName=email:a@example.org,email:b@example.org"
expect twomail 1 "names 2 different mailboxes"
csr onemail "$T/p256.key" -subj "/CN=x/emailAddress=a@example.org" -addext "subjectAltName=email:a@Example.ORG"
expect onemail ok
echo "$n key checks"
[ "$n" -ge 23 ] || { echo "FAIL: too few checks"; fail=1; }
exit $fail
