#!/bin/sh
# Build the libFuzzer targets (fuzz/) with clang, ASan and UBSan in a
# copy of the tree, and run each for SECONDS after replaying its saved
# crash reproducers (0: only replay the seed
# corpus and the saved crash reproducers).  Exits 1 when a target finds a
# crash; the reproducer is printed and kept in the build dir.
#
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]    (targets: vu_msg vring vring_packed inflight_packed conf vsock console blk dev_state)
# env:   FUZZ_BUILD_DIR  build copy (default ${TMPDIR:-/tmp}/vhostd-fuzz.UID)
#        FUZZ_ARGS       extra libFuzzer flags (e.g. -jobs=2 -workers=2)
#        FUZZ_JOBS       targets run at a time (default 1)
#        CC              the clang to use (default clang)
set -eu

secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-vu_msg vring vring_packed inflight_packed conf vsock console blk dev_state}
src=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-${TMPDIR:-/tmp}/vhostd-fuzz.$(id -u)}
cc=${CC:-clang}

mkdir -p "$build/src"
# Copy the sources, not another build's products; mtimes are kept, so a
# second run rebuilds only what changed.
tar -C "$src" -cf - --exclude=.git --exclude='*.o' --exclude='*.lo' \
    --exclude='*.la' --exclude=.libs --exclude=.deps \
    --exclude=autom4te.cache --exclude=config.status --exclude=config.log \
    --exclude=./Makefile --exclude=./config.h --exclude=./libtool \
    --exclude=./stamp-h1 --exclude=./vhostd --exclude=tests/qemu/cache \
    --exclude='tests/check_*[!.][!c]' . | tar -C "$build/src" -xf -

cd "$build/src"
if [ ! -f config.status ] || ! grep -q -- '--enable-fuzzing' config.status
then
	[ -x configure ] || autoreconf -fi >/dev/null 2>&1
	./configure -q CC="$cc" --enable-fuzzing >"$build/configure.log" 2>&1 ||
	    { cat "$build/configure.log"; exit 1; }
fi
bins=""
for t in $targets; do
	bins="$bins fuzz/fuzz_$t"
done
make -s -j"$(nproc)" $bins

# Run one target; its lines go to $build/$t.out, a failure leaves
# $build/$t.failed.
run_target() {
	t=$1
	work="$build/corpus/$t"
	art="$build/artifacts/$t"
	mkdir -p "$work" "$art"
	rm -f "$build/$t.failed"
	seeds="$src/fuzz/corpus/$t"
	if [ "$secs" -eq 0 ]; then
		set -- -runs=0 "$seeds"
		[ -d "$src/fuzz/crashes/$t" ] && set -- "$@" "$src/fuzz/crashes/$t"
	else
		set -- -max_total_time="$secs" "$work" "$seeds"
		# Every crash found so far is replayed first too.
		[ -d "$src/fuzz/crashes/$t" ] &&
		    set -- "$@" "$src/fuzz/crashes/$t"
	fi
	echo "fuzz: $t (${secs}s)"
	# shellcheck disable=SC2086
	if ! "./fuzz/fuzz_$t" -timeout=25 -rss_limit_mb=2048 \
	    -artifact_prefix="$art/" -print_final_stats=1 ${FUZZ_ARGS:-} "$@" \
	    >"$build/$t.log" 2>&1; then
		: >"$build/$t.failed"
		echo "fuzz: $t FAILED; log $build/$t.log; reproducers:"
		ls -l "$art"
		grep -A30 -m1 'ERROR\|==ERROR\|runtime error\|deadly signal' \
		    "$build/$t.log" || tail -n 40 "$build/$t.log"
	else
		grep -h 'stat::number_of_executed_units\|cov:' "$build/$t.log" |
		    tail -n 2
	fi
}

# FUZZ_JOBS targets at a time (default 1): the targets are dealt round
# robin to that many sequential lanes.
jobs=${FUZZ_JOBS:-1}
lane=0
while [ "$lane" -lt "$jobs" ]; do
	(
		i=0
		for t in $targets; do
			[ $((i % jobs)) -eq "$lane" ] &&
			    run_target "$t" >"$build/$t.out" 2>&1
			i=$((i + 1))
		done
	) &
	lane=$((lane + 1))
done
wait
status=0
for t in $targets; do
	cat "$build/$t.out"
	[ -f "$build/$t.failed" ] && status=1
done
exit $status
