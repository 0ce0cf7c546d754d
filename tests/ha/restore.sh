#!/bin/sh
# restore.sh: certgate db restore. A backup, the database wiped, the backup
# restored: db check, audit verify and the certificate list equal the
# original. Refused, with nothing changed: a live environment, a DbHome that
# holds a database (without --replace), a directory that is no backup, a
# corrupt backup, a backup of another CA.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test restore
ca_dirs
ca_conf "LogLevel notice" "ExpiryReminders none"
dns_start "$T/dns" 127.0.0.27
ca_example
for i in 1 2 3 4 5; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=u$i" -out "$T/u$i.csr" 2>/dev/null
	$cg cert issue --org 1 --mailbox "user$i@example.org" --csr "$T/u$i.csr" > /dev/null
done
drain
$cg --json cert list > "$T/list.before"
[ "$(grep -c '"serial"' "$T/list.before")" -eq 5 ] && ok "5 certificates issued" || bad "issued: $(cat "$T/list.before")"
$cg db backup "$T/bk" > /dev/null && ok "backup made" || bad "backup"

# refused: nothing changes
refused() { # refused WHAT PATTERN ARGS...
	what=$1 pat=$2
	shift 2
	before=$(ls "$T/db" | sort | tr '\n' ' ')
	if out=$($cg db restore "$@" 2>&1); then
		bad "$what: restored ($out)"
	elif echo "$out" | grep -q -- "$pat"; then
		ok "$what: $out"
	else
		bad "$what: $out"
	fi
	[ "$before" = "$(ls "$T/db" | sort | tr '\n' ' ')" ] || bad "$what changed DbHome"
	[ ! -e "$T/db.restore" ] || bad "$what left $T/db.restore"
}
dns_spawn "$CG_BIN/certgate-issuer" -f -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1
ipid=$!
i=0
while [ ! -f "$T/run/issuer.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
refused "a live environment" "in use by running certgate" "$T/bk" --replace
kill "$ipid"
wait "$ipid" 2>/dev/null || true
ipid=
refused "a DbHome with a database" "holds a database" "$T/bk"
mkdir -p "$T/notbk"
echo hello > "$T/notbk/file"
refused "not a backup" "not a certgate backup" "$T/notbk"
refused "a missing directory" "no such directory" "$T/nowhere"
cp -a "$T/bk" "$T/corrupt"
# Garbage over the certificates database's pages after its first one.
size=$(stat -c %s "$T/corrupt/certs")
dd if=/dev/urandom of="$T/corrupt/certs" bs=4096 seek=1 count=$(((size / 4096) - 1)) conv=notrunc 2>/dev/null
refused "a corrupt backup" "corrupt/certs: damaged" "$T/corrupt" --replace

# another CA's backup
mkdir -p "$T/other"
(
	T0=$T
	T=$T0/other
	ca_dirs
	ca_conf "LogLevel notice" "ExpiryReminders none"
	cgo="$CG_BIN/certgate -c $T/certgate.conf"
	$cgo ca init > /dev/null
	$cgo org add --name "Other" --registration NTRPL-0000999999 --country PL --contact ceo@example.org > /dev/null
	$cgo domain add example.org --org 1 --validated > /dev/null
	$cgo cert issue --org 1 --mailbox user9@example.org --csr "$T0/u1.csr" > /dev/null
	dns_run "$CG_BIN/certgate-issuer" --drain -c "$T/certgate.conf" >> "$T/issuer.log" 2>&1
	$cgo db backup "$T0/foreign" > /dev/null
)
refused "another CA's backup" "another CA" "$T/foreign" --replace

# wipe, restore
rm -rf "$T/db"
out=$($cg db restore "$T/bk" 2>&1) && ok "restored into a wiped DbHome: $out" || bad "restore: $out"
$cg db check > /dev/null 2>&1 && ok "db check passes" || bad "db check after the restore"
$cg audit verify > /dev/null 2>&1 && ok "audit verify passes" || bad "audit verify after the restore"
$cg --json cert list > "$T/list.after"
cmp -s "$T/list.before" "$T/list.after" && ok "the certificate list equals the original" || bad "lists differ"
# --replace keeps what was there
out=$($cg db restore --replace "$T/bk" 2>&1) && ok "--replace: $out" || bad "--replace: $out"
ls -d "$T"/db.before-restore-* > /dev/null 2>&1 && ok "the database before is kept aside" || bad "nothing kept aside"
# and the restored CA works on
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=u6" -out "$T/u6.csr" 2>/dev/null
$cg cert issue --org 1 --mailbox user6@example.org --csr "$T/u6.csr" > /dev/null
drain
[ "$($cg --json cert list | grep -c '"serial"')" -eq 6 ] && ok "the restored CA issues" || bad "no issuance after the restore"
exit $fail
