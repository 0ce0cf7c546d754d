# tests/lib/mail.sh: CSRs and mail for flow tests. Source it after pki.sh and
# ca.sh (it writes under $T).
#
#   csr NAME [EMAIL]          $T/k/NAME.csr (PEM) and .der, a fresh P-256 key
#                             in .key; EMAIL in the SAN when given
#   entity FILE TEXT [ATTACHMENT-FILE TYPE NAME]...
#                             a multipart/mixed MIME entity: the text, then
#                             each attachment in base64
#   smail FILE SIGNER|- FROM TO SUBJECT ENTITY [MESSAGE-ID]
#                             a message: headers, then ENTITY signed by the
#                             pki_leaf directory $T/SIGNER (openssl cms,
#                             detached) or unsigned ("-")
#   milter_t FILE MAIL-FROM RCPT...
#                             certgate-milter -t with the test DNS; its whole
#                             output (smime:, rcpt:, verdict:, effect: lines)
#   verdict_of OUTPUT         the text after "verdict: "

csr() {
	mkdir -p "$T/k"
	if [ -n "${2:-}" ]; then san="-addext subjectAltName=email:$2"; else san=; fi
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k/$1.key" \
		-subj "/CN=$1" $san -out "$T/k/$1.csr" 2>/dev/null
	openssl req -in "$T/k/$1.csr" -outform DER -out "$T/k/$1.der"
}

entity() {
	out=$1 text=$2
	shift 2
	{
		printf 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n--b0\r\n'
		printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n' "$text"
		while [ $# -ge 3 ]; do
			printf -- '--b0\r\nContent-Type: %s; name="%s"\r\nContent-Transfer-Encoding: base64\r\n' "$2" "$3"
			printf 'Content-Disposition: attachment; filename="%s"\r\n\r\n' "$3"
			base64 -w 76 "$1" | sed 's/$/\r/'
			shift 3
		done
		printf -- '--b0--\r\n'
	} > "$out"
}

smail() {
	out=$1 signer=$2 from=$3 to=$4 subject=$5 ent=$6 mid=${7:-$(basename "$1").$$.$(date +%s%N)@example.org}
	printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n' "$from" "$to" "$subject" "$mid" > "$out.hdr"
	if [ "$signer" = - ]; then
		cat "$out.hdr" "$ent" > "$out"
	else
		pki_sign_openssl "$T/$signer" "$ent" "$out" detached "$out.hdr"
	fi
}

milter_t() {
	f=$1 from=$2
	shift 2
	args=
	for r in "$@"; do args="$args --rcpt $r"; done
	# shellcheck disable=SC2086
	dns_run "$CG_BIN/certgate-milter" -c "$T/certgate.conf" -t "$f" --client-ip 127.0.0.1 \
		--helo mail.example.org --mail-from "$from" $args 2>>"$T/milter.err"
}

verdict_of() { printf '%s\n' "$1" | sed -n 's/^verdict: //p'; }
