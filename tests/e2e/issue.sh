#!/bin/sh
# issue.sh: a certificate issued in the sandbox reaches the mailbox's Maildir
# through the real Postfix: signed by the gateway certificate (the signature
# verifies against the sandbox root), Auto-Submitted, with the certificate and
# its chain as PEM and a certs-only .p7c.
. "$CG_SRC/tests/e2e/lib.sh"
tool="$CG_BIN/../tests/cg-mailtool"
ca="$CG_SANDBOX/certgate/ca"

org=$(certgate --json org add --name "Issue Test Sp. z o.o." --registration NTRPL-0000999999 \
	--country PL --contact ceo@example.org | sed 's/.*"id":"\([0-9]*\)".*/\1/')
certgate domain add example.org --org "$org" --validated > /dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.pem" \
	-subj "/CN=x" -out "$T/r.csr" 2>/dev/null
serial=$(certgate cert issue --org "$org" --mailbox issue-e2e@example.org --csr "$T/r.csr" --wait 2>&1 || true)
echo "$serial" | grep -qE '^[0-9a-f]{32}$' && ok "issued $serial" || bad "issue: $serial"

f=$(wait_mail issue-e2e@example.org "serial $serial" 30)
if [ -z "$f" ]; then
	bad "no delivery mail in $(maildir issue-e2e@example.org)"
	finish
fi
ok "delivery mail arrived"
grep -q "^Auto-Submitted: auto-generated" "$f" && ok "Auto-Submitted: auto-generated" || bad "no Auto-Submitted"
grep -q "^From: certgate <certgate@ca.example.net>" "$f" && ok "From the gateway" || bad "From"
mkdir -p "$T/x"
kind=$("$tool" smime "$f" "$T/x" || true)
[ "$kind" = detached ] && ok "multipart/signed" || bad "not signed: $kind"
openssl cms -verify -binary -inform DER -in "$T/x/sig.der" -content "$T/x/signed.bin" \
	-CAfile "$ca/root-ca.pem" -purpose smimesign -out /dev/null 2>/dev/null &&
	ok "signature verifies against the sandbox root" || bad "signature does not verify"
# The attachments, decoded from the signed part.
cat > "$T/split.awk" <<'AWK'
/^Content-Disposition: attachment; filename="/ { name = $0; sub(/.*filename="/, "", name); sub(/".*/, "", name); next }
name != "" && /^\r?$/ && !inbody { inbody = 1; next }
inbody && /^--/ { inbody = 0; name = ""; next }
inbody { gsub(/\r/, ""); print > (dir "/" name ".b64") }
AWK
awk -v dir="$T/x" -f "$T/split.awk" "$T/x/signed.bin"
base64 -d "$T/x/issue-e2e@example.org.pem.b64" > "$T/x/cert.pem" 2>/dev/null || true
base64 -d "$T/x/issue-e2e@example.org.p7c.b64" > "$T/x/cert.p7c" 2>/dev/null || true
[ "$(grep -c 'BEGIN CERTIFICATE' "$T/x/cert.pem")" -eq 3 ] && ok ".pem holds the certificate and its chain" ||
	bad ".pem: $(grep -c 'BEGIN CERTIFICATE' "$T/x/cert.pem") certificates"
openssl verify -CAfile "$ca/root-ca.pem" -untrusted "$ca/issuing-ca.pem" -purpose smimesign "$T/x/cert.pem" \
	> /dev/null 2>&1 && ok "delivered certificate verifies" || bad "delivered certificate"
[ "$(openssl pkcs7 -inform DER -in "$T/x/cert.p7c" -print_certs 2>/dev/null | grep -c '^subject=')" -eq 3 ] &&
	ok ".p7c holds three certificates" || bad ".p7c"
openssl x509 -in "$T/x/cert.pem" -noout -serial | grep -qi "$serial" && ok "it is the issued one" || bad "serial differs"
finish
