# tests/e2e/lib.sh: helpers for end-to-end tests in the sandbox. Source it.
# The sandbox is already started (ctest fixture e2e); its settings are read
# from scripts/sandbox env.
set -eu
SB="$CG_SRC/scripts/sandbox"
eval "$("$SB" env)"
fail=0
T=$(mktemp -d "$CG_TEST_TMP/e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT

ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
finish() { exit $fail; }

# send PORT FROM TO FILE [swaks options...]: prints swaks's transcript.
send() {
	port=$1 from=$2 to=$3 file=$4
	shift 4
	swaks --server 127.0.0.1 --port "$port" --from "$from" --to "$to" --data "@$file" \
		--timeout 30 "$@" 2>&1 || true
}

# the Maildir of an address
maildir() { echo "$CG_MAILDIRS/${1#*@}/${1%@*}"; }

# wait_mail ADDR PATTERN [SECONDS]: the path of the first message in ADDR's
# Maildir that holds PATTERN (grep -E), waiting for it; "" on timeout.
wait_mail() {
	d=$(maildir "$1")
	n=$((${3:-20} * 10))
	i=0
	while [ $i -lt $n ]; do
		if [ -d "$d/new" ]; then
			f=$(grep -l -E -- "$2" "$d/new/"* 2>/dev/null | head -1 || true)
			if [ -n "$f" ]; then
				echo "$f"
				return 0
			fi
		fi
		sleep 0.1
		i=$((i + 1))
	done
	echo ""
}

count_mail() { # count_mail ADDR PATTERN
	d=$(maildir "$1")
	grep -l -E -- "$2" "$d/new/"* 2>/dev/null | wc -l
}

certgate() { "$CG_BIN/certgate" -c "$CG_CONF" "$@"; }
milter_test() { "$SB" exec "$CG_BIN/certgate-milter" -c "$CG_CONF" -t "$@"; }

# send_utf8 PORT FROM TO FILE: FILE sent with MAIL FROM ... SMTPUTF8 (RFC
# 6531; swaks cannot); prints the server's answer to the message: "250 ..."
# or the refusal "CODE TEXT".
send_utf8() {
	/usr/bin/python3 - "$@" <<'PY'
import smtplib, sys
port, frm, to, path = sys.argv[1:5]
data = open(path, "rb").read()
try:
    with smtplib.SMTP("127.0.0.1", int(port), timeout=30) as s:
        s.ehlo("mail.example.org")
        s.sendmail(frm, [to], data, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    print("250 sent")
except smtplib.SMTPRecipientsRefused as e:
    code, text = list(e.recipients.values())[0]
    print(code, text.decode("utf-8", "replace"))
except smtplib.SMTPResponseException as e:
    print(e.smtp_code, e.smtp_error.decode("utf-8", "replace"))
PY
}
