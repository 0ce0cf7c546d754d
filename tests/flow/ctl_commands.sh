#!/bin/sh
# ctl_commands.sh: the certgate command's config, db and audit verbs, their
# exit codes and their messages; the daemons' -n config check.
set -eu
cg="$CG_BIN/certgate"
tool="$CG_BIN/../tests/cg-storetool"
T=$(mktemp -d "$CG_TEST_TMP/ctl.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail=0
check() { # check NAME EXPECTED-STATUS PATTERN COMMAND...
	name=$1 want=$2 pat=$3
	shift 3
	set +e
	out=$("$@" 2>&1)
	got=$?
	set -e
	if [ "$got" -ne "$want" ] || ! printf '%s\n' "$out" | grep -q -- "$pat"; then
		echo "FAIL $name: status $got (want $want), output:"
		printf '%s\n' "$out" | sed 's/^/    /'
		fail=1
	else
		echo "ok   $name"
	fi
}

cat > "$T/good.conf" <<CONF
GatewayDomain ca.example.net
DbHome $T/db
EvidenceDir $T/evidence
CONF
printf 'GatewayDomain ca.example.net\nMaxMessageSize huge\nBogus 1\n' > "$T/bad.conf"

check "config check good" 0 "configuration is good" "$cg" -c "$T/good.conf" config check
check "config check bad value" 1 "bad.conf:2: MaxMessageSize" "$cg" -c "$T/bad.conf" config check
check "config check unknown key" 1 "bad.conf:3: Bogus: unknown key" "$cg" -c "$T/bad.conf" config check
check "config check missing file" 1 "No such file" "$cg" -c "$T/none.conf" config check
check "config show" 0 "^ChallengeLifetime 1d$" "$cg" -c "$T/good.conf" config show
check "config show -n" 0 "^DbHome $T/db$" "$cg" -c "$T/good.conf" config show -n
check "milter -n good" 0 "" "$CG_BIN/certgate-milter" -n -c "$T/good.conf"
check "milter -n bad" 1 "bad.conf:3: Bogus" "$CG_BIN/certgate-milter" -n -c "$T/bad.conf"
check "issuer -n good" 0 "" "$CG_BIN/certgate-issuer" -n -c "$T/good.conf"
check "issuer -n bad" 1 "bad.conf:2: MaxMessageSize" "$CG_BIN/certgate-issuer" -n -c "$T/bad.conf"
check "unknown command" 2 "no command 'frob nicate'" "$cg" -c "$T/good.conf" frob nicate
check "help" 0 "audit verify" "$cg" --help
check "command help" 0 "Hot backup" "$cg" -c "$T/good.conf" db backup --help
check "command help without a config file" 0 "--mailbox=ADDR" "$cg" -c "$T/absent.conf" cert issue --help
check "backup needs DIR" 2 "needs one argument" "$cg" -c "$T/good.conf" db backup
# The commands of one domain argument share their command line's errors.
for verb in challenge check preflight; do
	check "domain $verb needs the domain" 2 "certgate domain $verb: needs one argument: the domain" \
		"$cg" -c "$T/good.conf" domain $verb
	check "domain $verb of two domains" 2 "needs one argument: the domain" \
		"$cg" -c "$T/good.conf" domain $verb a.example b.example
	check "domain $verb of a bad name" 2 "certgate domain $verb: bad_label.example: domain has an empty or invalid label" \
		"$cg" -c "$T/good.conf" domain $verb bad_label.example
done

check "db check empty" 0 "database is consistent" "$cg" -c "$T/good.conf" db check
"$tool" audit "$T/db" "$T/evidence" 12
check "audit verify intact" 0 "intact: 12 entries" "$cg" -c "$T/good.conf" audit verify
check "audit show" 0 "org.add" "$cg" -c "$T/good.conf" audit show --last 3
check "audit show json" 0 '"action":"org.add"' "$cg" -c "$T/good.conf" --json audit show
check "backup" 0 "backup written" "$cg" -c "$T/good.conf" db backup "$T/bk"
cat > "$T/bk.conf" <<CONF
GatewayDomain ca.example.net
DbHome $T/bk
EvidenceDir $T/bk-evidence
CONF
check "backup opens and checks" 0 "audit: 12 entries, chain intact" "$cg" -c "$T/bk.conf" db check
check "backup not over data" 1 "not empty" "$cg" -c "$T/good.conf" db backup "$T/bk"

"$tool" tamper "$T/db" "$T/evidence" 7
check "audit verify tampered" 1 "broken at [78]" "$cg" -c "$T/good.conf" audit verify
check "db check sees the chain" 1 "audit chain broken" "$cg" -c "$T/good.conf" db check
"$tool" corrupt "$T/bk" "$T/bk-evidence" "9"
check "db check corrupt record" 1 "orgs: record 9:" "$cg" -c "$T/bk.conf" db check
# The store's own lines (here a schema upgrade, made by the first command
# to open a version 1 store alone) come as the command's, not in GLib's form.
cp -a "$T/db" "$T/v1"
rm -f "$T/v1"/__db.*
"$tool" downgrade "$T/v1" > /dev/null
sed "s|^DbHome .*|DbHome $T/v1|" "$T/good.conf" > "$T/v1.conf"
check "a store line is the command's" 0 "^certgate: $T/v1: schema version 1 to 2: indexing" \
	"$cg" -c "$T/v1.conf" org list
out=$("$cg" -c "$T/v1.conf" org list 2>&1 >/dev/null)
[ -z "$out" ] && echo "ok   upgraded once" || { echo "FAIL upgraded again: $out"; fail=1; }
exit $fail
