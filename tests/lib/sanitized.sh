#!/bin/sh
# tests/lib/sanitized.sh [--keep] DIR COMMAND [ARGS...]
#
# Runs one test of a sanitizer build with every ASan/LSan/UBSan/TSan report
# written to a file under DIR instead of stderr: the reports of every process
# the test starts (daemons that drop privileges, programs whose stderr a test
# captures or discards) are then seen, and the test fails when there is one.
# DIR is emptied first unless --keep (the e2e tests share one DIR with the
# sandbox daemons, which report when e2e_stop ends them).
keep=no
if [ "$1" = --keep ]; then keep=yes; shift; fi
dir=$1
shift
mkdir -p "$dir"
chmod 1777 "$dir" # daemons write here after dropping root
if [ $keep = no ]; then rm -f "$dir"/report.*; fi
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$dir/report"
UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$dir/report"
TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$dir/report"
export ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS

"$@"
rc=$?
for f in "$dir"/report.*; do
	[ -e "$f" ] || continue
	echo "== sanitizer report $f:"
	cat "$f"
	rc=1
done
exit $rc
