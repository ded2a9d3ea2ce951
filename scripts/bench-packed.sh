#!/usr/bin/env bash
# Benchmark the rng device through the test frontend: requests per second
# with the Linux driver's 64-byte requests (at depth 1 and 128), and bytes
# per second with big multi-descriptor requests, on one worker, and the blk
# device with 4 KiB reads at queue depth 32 (a 64 MiB image in the page
# cache, direct=off), for split and packed virtqueues (VHOSTD_FE_PACKED).  Prints one line per run and,
# per row, the packed/split ratio of requests per second (best of
# BENCH_REPEAT runs each, alternating the layouts).
# Not part of the test suite (numbers depend on the machine).
#
# (scripts/bench.sh is the vhostd-bench matrix against qemu-storage-daemon.)
#
# usage: scripts/bench-packed.sh [MiB]      (default 64)
# env:   BENCH_REPEAT   runs per row and layout (default 3)
set -eu
cd "$(dirname "$0")/.."
mib=${1:-64}
repeat=${BENCH_REPEAT:-3}
make -s vhostd tests/vhostd-fe
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vhostd-bench.XXXXXX")
bpid=
trap 'kill "$pid" $bpid 2>/dev/null; wait "$pid" $bpid 2>/dev/null; rm -rf "$tmp"' EXIT
./vhostd --module=rng --socket="$tmp/rng.sock" 2>"$tmp/vhostd.log" &
pid=$!
for _ in $(seq 1 100); do [ -S "$tmp/rng.sock" ] && break; sleep 0.05; done
if [ -e modules/.libs/blk.so ]; then
	dd if=/dev/urandom of="$tmp/disk.img" bs=1M count=64 2>/dev/null
	./vhostd --module=blk --socket="$tmp/blk.sock" \
	    --option=path="$tmp/disk.img" --option=direct=off \
	    2>"$tmp/vhostd-blk.log" &
	bpid=$!
	for _ in $(seq 1 100); do [ -S "$tmp/blk.sock" ] && break; sleep 0.05; done
fi

# One run of layout $1 (split, packed); prints requests per second.
one() {
	local layout=$1 packed=0 out
	shift
	[ "$layout" = packed ] && packed=1
	out=$(VHOSTD_FE_PACKED=$packed tests/vhostd-fe --socket "$tmp/$dev.sock" \
	    "$dev" "$@")
	echo "$out" >>"$tmp/runs.log"
	echo "$out" | sed 's/.*requests_per_s=\([0-9]*\).*/\1/'
}

# A row: the best of $repeat runs per layout, and the ratio.
run() {
	local title=$1 s p best_s=0 best_p=0 i
	shift
	for i in $(seq 1 "$repeat"); do
		s=$(one split "$@")
		p=$(one packed "$@")
		[ "$s" -gt "$best_s" ] && best_s=$s
		[ "$p" -gt "$best_p" ] && best_p=$p
	done
	printf '%-38s split %9d req/s  packed %9d req/s  packed/split %s\n' \
	    "$title" "$best_s" "$best_p" \
	    "$(awk -v a="$best_p" -v b="$best_s" 'BEGIN { printf "%.2f", a / b }')"
}
q=$((mib * 1024 * 1024))
dev=rng
run "64 B requests, depth 1" --bytes $((q / 64)) --chunk 64 --depth 1
run "64 B requests, depth 128" --bytes $((q / 4)) --chunk 64 --depth 128
run "4 KiB requests" --bytes "$q" --chunk 4096
run "64 KiB requests, 4 descriptors" --bytes "$q" --chunk 65536 --segs 4
run "64 KiB requests, indirect (16)" --bytes "$q" --chunk 65536 --segs 16 --indirect
if [ -n "$bpid" ]; then
	dev=blk
	run "blk 4 KiB reads, QD32" --bytes "$q" --chunk 4096 --depth 32
fi
echo "bench.sh: every run:"
cat "$tmp/runs.log"
