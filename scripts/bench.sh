#!/usr/bin/env bash
# Benchmark the rng device through the test frontend: requests per second
# with the Linux driver's 64-byte requests, and bytes per second with big
# multi-descriptor requests, on one worker.  Prints one line per run.
# Not part of the test suite (numbers depend on the machine).
#
# usage: scripts/bench.sh [MiB]      (default 64)
set -eu
cd "$(dirname "$0")/.."
mib=${1:-64}
make -s vhostd tests/vhostd-fe
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vhostd-bench.XXXXXX")
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
./vhostd --module=rng --socket="$tmp/rng.sock" 2>"$tmp/vhostd.log" &
pid=$!
for _ in $(seq 1 100); do [ -S "$tmp/rng.sock" ] && break; sleep 0.05; done
run() {
	printf '%-34s ' "$1"
	shift
	tests/vhostd-fe --socket "$tmp/rng.sock" rng "$@"
}
run "64 B requests (virtio_rng driver)" --bytes $((mib * 1024 * 1024 / 4)) --chunk 64
run "4 KiB requests" --bytes $((mib * 1024 * 1024)) --chunk 4096
run "64 KiB requests, 4 descriptors" --bytes $((mib * 1024 * 1024)) --chunk 65536 --segs 4
run "64 KiB requests, indirect (16)" --bytes $((mib * 1024 * 1024)) --chunk 65536 --segs 16 --indirect
