# tests/lib/pki.sh: a throw-away PKI and S/MIME messages made by independent
# tools (the openssl CLI and gpgsm), for tests. Source it; every function
# writes under the directory it is given.
#
#   pki_ca DIR CN                    self-signed CA: DIR/cert.pem DIR/key.pem
#   pki_leaf CADIR DIR EMAIL rsa|ec  S/MIME certificate for EMAIL
#   pki_sign_openssl LEAF IN OUT detached|opaque [HDRS]
#                                    sign the MIME entity IN into message OUT
#   pki_gpgsm_init HOME CADIR LEAF   a GNUPGHOME that trusts CADIR, holds LEAF
#   pki_sign_gpgsm HOME EMAIL IN OUT [HDRS]
#                                    multipart/signed built around gpgsm's
#                                    detached signature of entity IN
#   pki_multipart_signed IN SIG OUT [HDRS]
#                                    multipart/signed of entity IN and the
#                                    base64 detached signature in file SIG
#   pki_crlf FILE / pki_lf FILE      rewrite line ends in place

pki_ca() {
	mkdir -p "$1"
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1/key.pem" -out "$1/cert.pem" -days 3650 -subj "/O=certgate tests/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash" 2>/dev/null
}

pki_leaf() {
	ca=$1 dir=$2 email=$3 kind=$4
	mkdir -p "$dir"
	if [ "$kind" = rsa ]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/key.pem" 2>/dev/null
		ku="digitalSignature,keyEncipherment"
	else
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/key.pem" 2>/dev/null
		ku="digitalSignature,keyAgreement"
	fi
	openssl req -new -key "$dir/key.pem" -subj "/CN=$email" -out "$dir/req.pem"
	cat > "$dir/ext.cnf" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,$ku
extendedKeyUsage=emailProtection
subjectAltName=email:$email
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
	openssl x509 -req -in "$dir/req.pem" -CA "$ca/cert.pem" -CAkey "$ca/key.pem" \
		-CAcreateserial -days 825 -extfile "$dir/ext.cnf" -out "$dir/cert.pem" 2>/dev/null
	echo "$email" > "$dir/email"
}

# pki_sign_openssl LEAF IN OUT detached|opaque [HEADERS-FILE]
pki_sign_openssl() {
	leaf=$1 in=$2 out=$3 mode=$4
	if [ "$mode" = opaque ]; then nd=-nodetach; else nd=; fi
	{
		if [ -n "${5:-}" ]; then cat "$5"; fi
		openssl cms -sign -binary $nd -md sha256 -in "$in" -signer "$leaf/cert.pem" \
			-inkey "$leaf/key.pem"
	} > "$out"
}

pki_gpgsm_init() {
	home=$1 ca=$2 leaf=$3
	mkdir -p "$home"
	chmod 700 "$home"
	printf 'disable-crl-checks\ndisable-policy-checks\ndisable-dirmngr\n' > "$home/gpgsm.conf"
	printf 'allow-loopback-pinentry\n' > "$home/gpg-agent.conf"
	# The agent is started first and each import said when it fails (a
	# CI run once failed here without a word).
	GNUPGHOME=$home gpgconf --launch gpg-agent 2> "$home/init.err" ||
		{ echo "gpg-agent did not start:" >&2; cat "$home/init.err" >&2; return 1; }
	# gpgsm 2.2 cannot decrypt about one PKCS#12 file in 70 that openssl
	# writes with an empty password: the same file always fails, the same
	# key and certificate under a fresh salt import (measured: 3 of 200, each
	# imported at the next salt). So a file it refuses is written again, at
	# most five times, and the last refusal is shown.
	tries=0
	while :; do
		openssl pkcs12 -export -legacy -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 \
			-passout pass: -inkey "$leaf/key.pem" -in "$leaf/cert.pem" -certfile "$ca/cert.pem" \
			-out "$home/signer.p12"
		GNUPGHOME=$home gpgsm --batch --pinentry-mode loopback --passphrase '' \
			--import "$home/signer.p12" 2> "$home/init.err" && break
		tries=$((tries + 1))
		if [ $tries -ge 5 ] || ! grep -q 'error parsing or decrypting the PKCS#12' "$home/init.err"; then
			echo "gpgsm --import signer.p12 failed:" >&2
			cat "$home/init.err" >&2
			return 1
		fi
	done
	GNUPGHOME=$home gpgsm --batch --import "$ca/cert.pem" 2> "$home/init.err" ||
		{ echo "gpgsm --import cert.pem failed:" >&2; cat "$home/init.err" >&2; return 1; }
	fpr=$(GNUPGHOME=$home gpgsm --with-colons --fingerprint "$(openssl x509 -in "$ca/cert.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')" | awk -F: '/^fpr/ {print $10; exit}')
	echo "$fpr S relax" >> "$home/trustlist.txt"
}

pki_gpgsm_stop() {
	GNUPGHOME=$1 gpgconf --kill all 2>/dev/null || true
}

# pki_sign_gpgsm HOME EMAIL IN OUT [HEADERS-FILE]
pki_sign_gpgsm() {
	home=$1 email=$2 in=$3 out=$4
	GNUPGHOME=$home gpgsm --batch --yes --pinentry-mode loopback --passphrase '' \
		--include-certs -1 --detach-sign --base64 -u "$email" -o "$in.sig" "$in" 2>/dev/null
	pki_multipart_signed "$in" "$in.sig" "$out" "${5:-}"
}

# pki_multipart_signed IN SIG OUT [HEADERS-FILE]: entity IN and the base64
# detached signature in file SIG as a multipart/signed message
pki_multipart_signed() {
	in=$1 sig=$2 out=$3
	{
		if [ -n "${4:-}" ]; then cat "$4"; fi
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n'
		printf '\tmicalg=sha-256; boundary="=-=gpgsm=-="\r\n\r\n'
		printf 'This is an S/MIME signed message.\r\n--=-=gpgsm=-=\r\n'
		cat "$in"
		printf '\r\n--=-=gpgsm=-=\r\n'
		printf 'Content-Type: application/pkcs7-signature; name=smime.p7s\r\n'
		printf 'Content-Transfer-Encoding: base64\r\n'
		printf 'Content-Disposition: attachment; filename=smime.p7s\r\n\r\n'
		sed 's/$/\r/' "$sig" | sed 's/\r\r$/\r/'
		printf '\r\n--=-=gpgsm=-=--\r\n'
	} > "$out"
}

# pki_enrolment LEAF NAME DIR: DIR/NAME.eml, an enrolment signed by LEAF
# (from kasia@example.de, the tests' admin) holding one new P-256 CSR for
# NAME@example.de (DIR/NAME.csr)
pki_enrolment() {
	leaf=$1 name=$2 dir=$3
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=$name" -addext "subjectAltName=email:$name@example.de" -out "$dir/$name.csr" 2>/dev/null
	{
		printf 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n--b0\r\n'
		printf 'Content-Type: text/plain\r\n\r\nOne more.\r\n--b0\r\n'
		printf 'Content-Type: application/pkcs10; name="%s.csr"\r\n' "$name"
		printf 'Content-Disposition: attachment; filename="%s.csr"\r\n\r\n' "$name"
		sed 's/$/\r/' "$dir/$name.csr"
		printf -- '--b0--\r\n'
	} > "$dir/$name.ent"
	printf 'From: kasia@example.de\r\nTo: enroll@ca.example.net\r\nSubject: %s\r\nMessage-ID: <%s.%s@example.de>\r\n' \
		"$name" "$name" "$$" > "$dir/$name.hdr"
	pki_sign_openssl "$leaf" "$dir/$name.ent" "$dir/$name.eml" detached "$dir/$name.hdr"
}

pki_crlf() {
	sed -i 's/\r$//; s/$/\r/' "$1"
}

pki_lf() {
	sed -i 's/\r$//' "$1"
}

# libfaketime's wrapper names its semaphore and shared memory after its pid
# (/dev/shm/sem.faketime_sem_PID, faketime_shm_PID) and leaves them behind
# now and then; when the pid comes round again, sem_open fails ("File
# exists") and so does the test. faketime_clean removes those of pids no
# longer running; faketime (this function) does so first.
faketime_clean() {
	for f in /dev/shm/sem.faketime_sem_* /dev/shm/faketime_shm_*; do
		[ -e "$f" ] || continue
		kill -0 "${f##*_}" 2>/dev/null || rm -f "$f"
	done
}
faketime() {
	faketime_clean
	command faketime "$@"
}
