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
# Hand-built requests: CertificationRequestInfo from an asn1parse config,
# signed by openssl dgst (KEY "-": a signature that is not one), wrapped from
# the same config.
#   built NAME KEY SIGALG VERSION KEYALG-LINES KEYHEX [ATTRIBUTE-SECTIONS]
built() {
	name=$1 key=$2 sigalg=$3 ver=$4 keyalg=$5 keyhex=$6 attrs=${7:-}
	{
		printf '[info]\nversion=INTEGER:%s\nsubject=SEQUENCE:name\nspki=SEQUENCE:spki\n' "$ver"
		printf 'attrs=IMPLICIT:0,SET:attrs\n[name]\nrdn=SET:rdn\n[rdn]\natv=SEQUENCE:atv\n'
		printf '[atv]\noid=OID:commonName\nval=UTF8:x\n[spki]\nalg=SEQUENCE:keyalg\n'
		printf 'key=FORMAT:HEX,BITSTRING:%s\n[keyalg]\n%s\n[attrs]\n%s\n' "$keyhex" "$keyalg" "$attrs"
	} > "$T/$name.info"
	{ echo "asn1=SEQUENCE:info"; cat "$T/$name.info"; } > "$T/$name.icnf"
	openssl asn1parse -genconf "$T/$name.icnf" -out "$T/$name.ider" -noout
	if [ "$key" = - ]; then
		printf '\060\006\002\001\001\002\001\001' > "$T/$name.sig"
	else
		openssl dgst -sha256 -sign "$key" -out "$T/$name.sig" "$T/$name.ider"
	fi
	{
		printf 'asn1=SEQUENCE:csr\n[csr]\ninfo=SEQUENCE:info\nalg=SEQUENCE:sigalg\n'
		printf 'sig=FORMAT:HEX,BITSTRING:%s\n[sigalg]\noid=OID:%s\n' \
			"$(od -An -tx1 "$T/$name.sig" | tr -d ' \n')" "$sigalg"
		[ "$sigalg" = ecdsa-with-SHA256 ] || echo "null=NULL"
		cat "$T/$name.info"
	} > "$T/$name.cnf"
	openssl asn1parse -genconf "$T/$name.cnf" -out "$T/$name.csr" -noout
}
hexof() { od -An -tx1 | tr -d ' \n'; }
# EC points no key can have: the point at infinity, and a point off the curve
# (the last byte of a real one changed); and the real point with a signature
# that is not one.
point=$(openssl pkey -in "$T/p256.key" -pubout -outform DER | tail -c 65 | hexof)
last=$(echo "$point" | cut -c129-130)
ecalg="oid=OID:id-ecPublicKey
curve=OID:prime256v1"
built infinity - ecdsa-with-SHA256 0 "$ecalg" 00
expect infinity 1 "(cannot be read|does not verify|not a valid point)"
built offcurve - ecdsa-with-SHA256 0 "$ecalg" "$(echo "$point" | cut -c1-128)$(printf '%02x' $((0x$last ^ 1)))"
expect offcurve 1 "cannot be read"
built oncurve - ecdsa-with-SHA256 0 "$ecalg" "$point"
expect oncurve 1 "self-signature does not verify"
# A P-256 key is read from a kept template of its curve: a point one byte
# short or one byte long, a P-384 point named as P-256, and a P-384 point
# off its curve are not keys (each curve's template checks its own points).
built short - ecdsa-with-SHA256 0 "$ecalg" "$(echo "$point" | cut -c1-128)"
expect short 1 "cannot be read"
built long - ecdsa-with-SHA256 0 "$ecalg" "${point}00"
expect long 1 "cannot be read"
point384=$(openssl pkey -in "$T/p384.key" -pubout -outform DER | tail -c 97 | hexof)
built p384as256 - ecdsa-with-SHA256 0 "$ecalg" "$point384"
expect p384as256 1 "cannot be read"
last384=$(echo "$point384" | cut -c193-194)
built offcurve384 - ecdsa-with-SHA256 0 "oid=OID:id-ecPublicKey
curve=OID:secp384r1" "$(echo "$point384" | cut -c1-192)$(printf '%02x' $((0x$last384 ^ 1)))"
expect offcurve384 1 "cannot be read"
# The SPKI digest certgate keeps for a key equals the digest of OpenSSL's
# own encoding of it, whichever way the request spelt the key.
canon=$(openssl pkey -in "$T/rsa2048.key" -pubout -outform DER | sha256sum | cut -c1-64)
rsapub=$(openssl pkey -in "$T/rsa2048.key" -pubout -outform DER | tail -c 270 | hexof)
spki_same() { # spki_same NAME
	n=$((n + 1))
	got=$("$tool" spki "$T/$1.csr")
	[ "$got" = "$canon" ] && echo "ok   $1: same key digest as openssl's encoding" ||
		{ echo "FAIL $1: digest $got, want $canon"; fail=1; }
}
built rsa_null "$T/rsa2048.key" sha256WithRSAEncryption 0 "oid=OID:rsaEncryption
null=NULL" "$rsapub"
expect rsa_null ok
spki_same rsa_null
built rsa_noparams "$T/rsa2048.key" sha256WithRSAEncryption 0 "oid=OID:rsaEncryption" "$rsapub"
expect rsa_noparams ok
spki_same rsa_noparams
# The exponent's length in long form (BER, not DER): 02 03 -> 02 81 03.
ber=$(echo "$rsapub" | sed 's/^3082010a/3082010b/; s/0203010001$/028103010001/')
built rsa_ber "$T/rsa2048.key" sha256WithRSAEncryption 0 "oid=OID:rsaEncryption
null=NULL" "$ber"
expect rsa_ber ok
spki_same rsa_ber
built rsa_params "$T/rsa2048.key" sha256WithRSAEncryption 0 "oid=OID:rsaEncryption
p=INTEGER:1" "$rsapub"
expect rsa_params 1 "parameters must be NULL"
built version2 "$T/rsa2048.key" sha256WithRSAEncryption 1 "oid=OID:rsaEncryption
null=NULL" "$rsapub"
expect version2 1 "CSR version is not 1"
# A compressed EC point: the same key, another encoding; refused.
cpoint=$(openssl ec -in "$T/p256.key" -conv_form compressed -pubout -outform DER 2>/dev/null | tail -c 33 | hexof)
built compressed "$T/p256.key" ecdsa-with-SHA256 0 "oid=OID:id-ecPublicKey
curve=OID:prime256v1" "$cpoint"
expect compressed 1 "EC point must be uncompressed"
# Two subjectAltName extensions, naming different mailboxes.
built twosan "$T/rsa2048.key" sha256WithRSAEncryption 0 "oid=OID:rsaEncryption
null=NULL" "$rsapub" "a=SEQUENCE:extreq
[extreq]
oid=OID:extReq
v=SET:extset
[extset]
e=SEQUENCE:exts
[exts]
s1=SEQUENCE:san1
s2=SEQUENCE:san2
[san1]
oid=OID:subjectAltName
v=OCTWRAP,SEQUENCE:gn1
[gn1]
m=IMPLICIT:1,IA5STRING:a@example.org
[san2]
oid=OID:subjectAltName
v=OCTWRAP,SEQUENCE:gn2
[gn2]
m=IMPLICIT:1,IA5STRING:b@example.org"
expect twosan 1 "two subjectAltName extensions"
csr twomail "$T/p256.key" -addext "subjectAltName=email:a@example.org,email:b@example.org"
expect twomail 1 "names 2 different mailboxes"
csr onemail "$T/p256.key" -subj "/CN=x/emailAddress=a@example.org" -addext "subjectAltName=email:a@Example.ORG"
expect onemail ok
echo "$n key checks"
[ "$n" -ge 23 ] || { echo "FAIL: too few checks"; fail=1; }
exit $fail
