# tests/lib/replies.sh: challenge answers in the shapes real mail clients
# send, for the flow and e2e tests. Source it.
#
#   REPLY_SHAPES        the shapes that must be taken
#   REPLY_REFUSED       the shapes that must be refused, as NAME:PATTERN
#   reply_shape SHAPE FROM TOKEN MSGID OUT
#                       writes the answer to the challenge (TOKEN, Message-ID
#                       MSGID) from FROM in that shape to OUT (CRLF)

REPLY_SHAPES="prefix-re-space prefix-mixed prefix-odp prefix-r-rif prefix-antw-vs-tr prefix-sv-aw
encoded-split folded qp-block base64-block flowed-block html-only alternative quoted-below"
REPLY_REFUSED="only-quoted:550 5\\.7\\.1 certgate: the token is only in the quoted copy of the challenge
forwarded:550 5\\.7\\.1 certgate: a forwarded challenge is no answer"

# _b64 TEXT: base64 of TEXT on one line
_b64() { printf '%s' "$1" | base64 -w0; }

reply_shape() {
	shape=$1 from=$2 tok=$3 mid=$4 out=$5
	subj="Re: ACME: $tok" ct="text/plain; charset=utf-8" cte= body="We agree."
	first=$(printf '%s' "$tok" | cut -c1-13) rest=$(printf '%s' "$tok" | cut -c14-)
	block=$(printf -- '-----BEGIN ACME RESPONSE-----\r\n%s\r\n%s\r\n-----END ACME RESPONSE-----' "$first" "$rest")
	quote=$(printf '> To confirm, reply to this mail from %s and keep its subject line:\r\n>\r\n>     ACME: %s\r\n' "$from" "$tok")
	case $shape in
	prefix-re-space) subj="RE : ACME: $tok" ;;
	prefix-mixed) subj="AW: Re: RE: ACME: $tok" ;;
	prefix-odp) subj="Odp: ACME: $tok" ;;
	prefix-r-rif) subj="R: RIF: ACME: $tok" ;;
	prefix-antw-vs-tr) subj="Antw: VS: TR: ACME: $tok" ;;
	prefix-sv-aw) subj="SV: AW: ACME: $tok" ;;
	encoded-split) # two encoded words, split inside the token
		subj="=?UTF-8?B?$(_b64 "Re: ACME: $first")?= =?UTF-8?B?$(_b64 "$rest")?=" ;;
	folded) subj=$(printf 'Re: ACME: %s\r\n %s' "$first" "$rest") ;;
	qp-block)
		subj="Re: your mail" cte="quoted-printable"
		body=$(printf 'Confirmed=3D yes.\r\n%s\r\n' "$block" | sed 's/RESPONSE-----/RESPONSE=\r\n-----/') ;;
	base64-block)
		subj="Re: your mail" cte="base64"
		body=$(printf 'Confirmed.\r\n%s\r\n' "$block" | base64 -w 76) ;;
	flowed-block)
		subj="Re: your mail" ct="text/plain; charset=utf-8; format=flowed"
		body=$(printf 'Confirmed, here \r\nit is.\r\n-----BEGIN ACME RESPONSE-----\r\n%s \r\n%s\r\n-----END ACME RESPONSE-----' "$first" "$rest") ;;
	html-only)
		subj="Re: your mail" ct="text/html; charset=utf-8"
		body=$(printf '<html><body><p>Yes.</p><div>-----BEGIN ACME RESPONSE-----<br>%s<br>%s<br>-----END ACME RESPONSE-----</div><blockquote type="cite">The CA wrote</blockquote></body></html>' "$first" "$rest") ;;
	alternative)
		subj="Re: your mail" ct='multipart/alternative; boundary="alt"'
		body=$(printf -- '--alt\r\nContent-Type: text/plain\r\n\r\nYes.\r\n%s\r\n--alt\r\nContent-Type: text/html\r\n\r\n<p>Yes.</p>\r\n--alt--' "$block") ;;
	quoted-below) body=$(printf 'Yes, we agree.\r\n\r\nOn Monday, the CA wrote:\r\n%s' "$quote") ;;
	only-quoted) subj="Re: your mail" body=$(printf 'Yes, we agree.\r\n\r\nOn Monday, the CA wrote:\r\n%s' "$quote") ;;
	forwarded) subj="Fwd: ACME: $tok" ;;
	*) echo "reply_shape: no shape $shape" >&2; return 1 ;;
	esac
	{
		printf 'From: %s\r\nTo: challenge@ca.example.net\r\nSubject: %s\r\n' "$from" "$subj"
		printf 'Message-ID: <%s.%s@example.org>\r\nIn-Reply-To: <%s>\r\n' "$shape" "$(date +%s%N)" "$mid"
		printf 'MIME-Version: 1.0\r\nContent-Type: %s\r\n' "$ct"
		[ -z "$cte" ] || printf 'Content-Transfer-Encoding: %s\r\n' "$cte"
		printf '\r\n%s\r\n' "$body"
	} > "$out"
}
