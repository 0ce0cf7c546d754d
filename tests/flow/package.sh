#!/bin/sh
# package.sh: the Debian package. scripts/package builds it (dpkg-buildpackage,
# debhelper) and lintian finds no error in it. It is then installed into an
# overlay of this machine's root in a private mount namespace (the machine
# itself is not touched: every change lands in a tmpfs that goes with the
# namespace): it installs, makes the users and directories, starts nothing,
# certgate-milter -n and certgate-issuer -n pass on the installed sample
# configuration, and it purges cleanly; after `certgate ca init` a purge
# keeps the CA's keys and says so.
set -eu
. "$CG_SRC/tests/lib/dns.sh"
. "$CG_SRC/tests/lib/ca.sh"
ca_test package
deb=$("$CG_SRC/scripts/package" "$T/pkg" 2> "$T/package.err" | tail -1) ||
	{ bad "scripts/package failed: $(tail -20 "$T/package.err")"; exit 1; }
[ -f "$deb" ] && ok "scripts/package built $(basename "$deb")" || { bad "no .deb: $deb"; exit 1; }
lintian --fail-on error "$deb" > "$T/lintian.log" 2>&1 && ok "lintian: no error ($(grep -c '^W:' "$T/lintian.log" || true) warnings)" ||
	bad "lintian: $(grep '^E:' "$T/lintian.log")"
dpkg-deb -c "$deb" > "$T/contents"
for f in ./usr/sbin/certgate-milter ./usr/sbin/certgate-issuer ./usr/sbin/certgate ./etc/certgate/certgate.conf \
	./lib/systemd/system/certgate-milter.service ./lib/systemd/system/certgate-issuer.service \
	./lib/systemd/system/certgate-perspective.service ./usr/share/doc/certgate/examples/certgate-perspective.default \
	./usr/sbin/certgate-perspective ./usr/share/man/man8/certgate-perspective.8.gz \
	./usr/share/man/man8/certgate.8.gz ./usr/share/man/man5/certgate.conf.5.gz \
	./usr/share/doc/certgate/examples/certgate-stats.timer ./usr/share/doc/certgate/examples/stunnel-replication.conf; do
	grep -q " $f\$" "$T/contents" || bad "the package lacks $f"
done
ok "binaries, sample configuration, units, man pages and examples in it"

# in_root SCRIPT: SCRIPT run as root of an overlay of / (changes in a tmpfs),
# in a private mount namespace; prints its output.
in_root() {
	cp "$deb" "$T/certgate.deb"
	cat > "$T/root.sh" <<EOF
set -eu
mount -t tmpfs tmpfs "$T/ovl"
mkdir -p "$T/ovl/upper" "$T/ovl/work" "$T/ovl/root"
mount -t overlay overlay -o lowerdir=/,upperdir=$T/ovl/upper,workdir=$T/ovl/work "$T/ovl/root"
for d in proc dev sys; do mount --rbind /\$d "$T/ovl/root/\$d"; done
mount -t tmpfs tmpfs "$T/ovl/root/run"
mount -t tmpfs tmpfs "$T/ovl/root/tmp"
cp "$T/certgate.deb" "$T/ovl/root/tmp/"
cp "$1" "$T/ovl/root/tmp/script.sh"
chroot "$T/ovl/root" sh /tmp/script.sh
echo "== upper:"
cd "$T/ovl/upper" && find . -path '*certgate*' | sort
EOF
	mkdir -p "$T/ovl"
	unshare -m --propagation private sh "$T/root.sh" 2>&1
}

cat > "$T/first.sh" <<'EOF'
running() { pgrep -f -x '/usr/sbin/certgate-(milter|issuer).*' > /dev/null; }
dpkg -i /tmp/certgate.deb > /tmp/dpkg.log 2>&1 && echo "installed" || { echo "install failed"; cat /tmp/dpkg.log; }
echo "status: $(dpkg-query -W -f='${Status}' certgate)"
getent passwd certgate > /dev/null && getent passwd certgate-ca > /dev/null && echo "users: ok"
echo "db: $(stat -c '%U:%G %a' /var/lib/certgate/db)"
echo "conf: $(stat -c '%U:%G %a' /etc/certgate/certgate.conf)"
echo "ca dir: $(stat -c '%U:%G %a' /etc/certgate/ca)"
[ -e /etc/systemd/system/multi-user.target.wants/certgate-milter.service ] && echo "milter enabled" || echo "milter not enabled"
running && echo "a daemon runs" || echo "no daemon runs"
certgate-milter -n -c /etc/certgate/certgate.conf && echo "milter -n: ok"
certgate-issuer -n -c /etc/certgate/certgate.conf && echo "issuer -n: ok"
# The units as systemd reads them (directives, the programs they run); no
# systemd runs here to start them.
systemd-analyze verify --man=no /lib/systemd/system/certgate-milter.service /lib/systemd/system/certgate-issuer.service \
	/lib/systemd/system/certgate-perspective.service > /tmp/verify.log 2>&1 && [ ! -s /tmp/verify.log ] &&
	echo "units: ok" || { echo "units:"; cat /tmp/verify.log; }
dpkg --purge certgate > /tmp/purge.log 2>&1 && echo "purged" || { echo "purge failed"; cat /tmp/purge.log; }
echo "after purge: $(dpkg-query -W -f='${Status}' certgate 2>&1 | head -1)"
[ -e /var/lib/certgate ] && echo "left: /var/lib/certgate" || true
[ -e /etc/certgate ] && echo "left: /etc/certgate" || true
EOF
out=$(in_root "$T/first.sh")
printf '%s\n' "$out" > "$T/first.log"
line() { printf '%s\n' "$out" | grep -q -x -- "$1" && ok "$2" || bad "$2: $(printf '%s\n' "$out" | grep -v '^==' | head -20)"; }
line "installed" "dpkg -i installs it"
line "status: install ok installed" "dpkg says installed"
line "users: ok" "the certgate and certgate-ca users exist"
line "db: certgate:certgate 2770" "/var/lib/certgate/db certgate:certgate 2770"
line "conf: root:certgate 640" "/etc/certgate/certgate.conf root:certgate 0640"
line "ca dir: root:certgate 750" "/etc/certgate/ca root:certgate 0750"
line "milter not enabled" "the daemons are not enabled"
line "no daemon runs" "nothing started before certgate ca init"
line "milter -n: ok" "certgate-milter -n passes on the installed sample configuration"
line "issuer -n: ok" "certgate-issuer -n passes on it"
line "units: ok" "systemd-analyze verify: the milter's, the issuer's and the perspective's units"
line "purged" "dpkg --purge"
printf '%s\n' "$out" | grep -q "^left: " && bad "purge left: $(printf '%s\n' "$out" | grep '^left: ')" || ok "nothing of certgate left in /etc or /var/lib"
after=$(printf '%s\n' "$out" | sed -n '/^== upper:/,$p' | grep -v '^== upper:' || true)
[ -z "$after" ] && ok "no file named certgate left anywhere after the purge" || bad "left after purge: $after"

cat > "$T/second.sh" <<'EOF'
dpkg -i /tmp/certgate.deb > /tmp/dpkg.log 2>&1 || cat /tmp/dpkg.log
certgate ca init > /tmp/init.log 2>&1 && echo "ca init: ok" || { echo "ca init failed"; cat /tmp/init.log; }
echo "key: $(stat -c '%U %a' /etc/certgate/ca/issuing-ca.key)"
echo "enc key: $(stat -c '%U %a' /etc/certgate/ca/gateway-enc.key)"
certgate-milter -n -c /etc/certgate/certgate.conf && echo "milter -n after init: ok"
dpkg --purge certgate > /tmp/purge.log 2>&1
grep -q "the CA's records are kept" /tmp/purge.log && echo "purge says the records are kept"
[ -f /etc/certgate/ca/issuing-ca.key ] && echo "the CA key is kept"
EOF
out=$(in_root "$T/second.sh")
line "ca init: ok" "certgate ca init on the installed layout"
line "key: certgate-ca 600" "the issuing key is certgate-ca's, 0600"
line "enc key: certgate 600" "the gateway encryption key is certgate's, 0600"
line "milter -n after init: ok" "certgate-milter -n after ca init"
line "purge says the records are kept" "a purge after ca init says the CA's records are kept"
line "the CA key is kept" "and keeps the CA key"
exit $fail
