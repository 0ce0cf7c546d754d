#!/bin/sh
# ca_keys.sh: the keys `certgate ca init` makes for a new CA. The issuing CA
# key is P-256 (default), P-384 or RSA 4096; RSA 3072 is refused for a new
# issuing CA, as are other curves and sizes. Each key made signs the
# gateway's certificate, which verifies to the root with the openssl CLI.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test ca_keys
ca_dirs
ca_conf "ExpiryReminders none"

refused() { # refused WANT ARGS...: exit status 2 and WANT in the message
	want=$1
	shift
	rc=0
	out=$($cg ca init --org "Key CA" "$@" 2>&1) || rc=$?
	[ $rc -eq 2 ] && echo "$out" | grep -q -- "$want" && ok "ca init $*: refused ($out)" ||
		bad "ca init $*: exit $rc: $out"
}
refused "takes 4096" --issuing-rsa 3072
refused "takes 4096" --issuing-rsa 2048
refused "takes P-256 or P-384" --issuing-ec P-521
refused "exclude each other" --issuing-ec P-384 --issuing-rsa 4096
[ ! -e "$T/ca/issuing-ca.pem" ] && ok "nothing made by a refused ca init" || bad "files made by a refused ca init"

made() { # made WANT ARGS...: the issuing key's openssl description has WANT
	want=$1
	shift
	$cg ca init --force --org "Key CA" "$@" > /dev/null 2>&1 || { bad "ca init $*"; return; }
	openssl x509 -in "$T/ca/issuing-ca.pem" -noout -text | grep -q -- "$want" &&
		ok "ca init ${*:-(default)}: issuing key $want" || bad "ca init $*: issuing key is not $want"
	openssl verify -CAfile "$T/ca/root-ca.pem" -untrusted "$T/ca/issuing-ca.pem" "$T/ca/gateway.pem" > /dev/null &&
		ok "  the gateway certificate it signed verifies to the root" || bad "  gateway certificate does not verify"
}
made "NIST CURVE: P-256"
made "NIST CURVE: P-384" --issuing-ec P-384
made "Public-Key: (4096 bit)" --issuing-rsa 4096
exit $fail
