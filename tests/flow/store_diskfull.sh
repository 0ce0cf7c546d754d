#!/bin/sh
# store_diskfull.sh: a full disk is an error the caller can act on
# (CG_ERROR_IO = 21, which the milter turns into 451 4.3.0), not a crash or a
# hang, and everything committed before it survives. Runs the store on a small
# tmpfs of its own (needs root: CI runs as root).
set -eu
tool="$CG_BIN/../tests/cg-storetool"
T=$(mktemp -d "$CG_TEST_TMP/diskfull.XXXXXX")
cleanup() { umount "$T/fs" 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
if [ "$(id -u)" -ne 0 ]; then
	echo "FAIL: this test mounts a tmpfs and needs root"
	exit 1
fi
mkdir -p "$T/fs"
mount -t tmpfs -o size=160m tmpfs "$T/fs"
db="$T/fs/db" ev="$T/fs/evidence"
# The store is open before the disk fills, as in a running daemon.
out=$("$tool" fill "$db" "$ev" "$T/fs/filler" 2>/dev/null)
echo "$out"
echo "$out" | grep -q '^error 21: ' || { echo "FAIL: a full disk must be CG_ERROR_IO (21)"; exit 1; }
committed=$(echo "$out" | sed -n 's/^committed //p')
[ "$committed" -gt 0 ] || { echo "FAIL: nothing was committed before the disk filled"; exit 1; }

echo "$out" | grep -q '^evidence error 21: ' || { echo "FAIL: evidence on a full disk must be CG_ERROR_IO"; exit 1; }
ls "$ev" | grep -q '^\.tmp-' && { echo "FAIL: a partial evidence file was left behind"; exit 1; }

# Space back: every committed record is there, and writing works again.
rm -f "$T/fs/filler"
n=$("$tool" count "$db" "$ev")
[ "$n" = "$committed" ] || { echo "FAIL: $committed committed but $n found"; exit 1; }
echo "all $n committed records survived the full disk"

# A full disk while the cache grows: 16 MB more of records, then a new
# process makes the regions anew (as in a restored DbHome: a region file
# keeps the size it grew to, and grows again only when made again), fills
# the disk (1 MiB left) and reads every record, its cache growing page by
# page into a region that was reserved when it was made (a page of it first
# touched on a full disk was a SIGBUS).
"$tool" orgs "$db" "$ev" 4000 > /dev/null 2>&1 || { echo "FAIL: cannot add 4000 orgs"; exit 1; }
rm -f "$db"/__db.*
n=$("$tool" count "$db" "$ev" "$T/fs/filler" 2>/dev/null) ||
	{ echo "FAIL: reading the records on a full disk: $n (exit $?)"; exit 1; }
[ "$n" = $((committed + 4000)) ] || { echo "FAIL: on a full disk, $n of $((committed + 4000)) records read"; exit 1; }
rm -f "$T/fs/filler"
echo "all $n records read on a full disk"

# A file system that cannot reserve past a file's end (NFS): the store
# still opens, reserving the files' first sizes as before, and says so.
out=$(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	LD_PRELOAD="$CG_BIN/../tests/libcg_nofalloc.so" "$tool" count "$T/nf/db" "$T/nf/ev" 2>&1) ||
	{ echo "FAIL: without FALLOC_FL_KEEP_SIZE the store does not open: $out"; exit 1; }
echo "$out" | grep -q "cannot reserve the regions' growth" ||
	{ echo "FAIL: without FALLOC_FL_KEEP_SIZE nothing is said: $out"; exit 1; }
echo "$out" | tail -1 | grep -qx 0 || { echo "FAIL: without FALLOC_FL_KEEP_SIZE: $out"; exit 1; }
echo "without FALLOC_FL_KEEP_SIZE the store opens and says what it could not reserve"

