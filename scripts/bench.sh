#!/usr/bin/env bash
# Measure vhostd against qemu-storage-daemon and the machine's limits with
# vhostd-bench, and write docs/bench/results.md (a Markdown table) and
# docs/bench/results.png (a gnuplot chart).  Not part of CI: the numbers
# depend on the machine and its load.
#
# The blk matrix runs against both back-ends on the same images (one on
# the local disk, one in /dev/shm), alternating vhostd and
# qemu-storage-daemon, ROUNDS times (default 3): the table gives
# min/median/max of each figure.  The rng rows run against vhostd only
# and the vsock streams (guest to host, host to guest) against vhostd only
# (Debian has no other vhost-user rng or hybrid-vsock back-end); each run
# also measures its baseline (getrandom, the eventfd ping-pong, io_uring
# on the image, a unix-socket stream).
#
# usage: scripts/bench.sh            (as root on Debian 12: installs gnuplot)
# environment: ROUNDS (3), DURATION (seconds per run, 4), IMG_MB (1024),
#              BENCH_DIR (/var/tmp/vhostd-bench), OUT (docs/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
rounds=${ROUNDS:-3}
dur=${DURATION:-4}
img_mb=${IMG_MB:-1024}
dir=${BENCH_DIR:-/var/tmp/vhostd-bench}
out=${OUT:-docs/bench}

# The bench's own needs: gnuplot for the chart, qemu-storage-daemon.
for p in gnuplot-nox qemu-system-common python3; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		echo "bench: installing $p"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    --no-install-recommends "$p" >/dev/null
	fi
done
make -s -j2 vhostd vhostd-bench modules/blk.la modules/rng.la modules/vsock.la

shm=/dev/shm/vhostd-bench.$$
mkdir -p "$dir" "$shm" "$out" "$dir/json"
rm -f "$dir"/json/*.json
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$shm"
}
trap cleanup EXIT

# The images: random data, so that nothing reads as a hole.
for img in "$dir/disk.img" "$shm/shm.img"; do
	if [ ! -f "$img" ] || [ "$(stat -c %s "$img")" -ne $((img_mb << 20)) ]; then
		echo "bench: writing $img ($img_mb MiB)"
		dd if=/dev/urandom of="$img" bs=1M count="$img_mb" \
		    status=none conv=fsync
	fi
done

# Start a back-end ($1: vhostd or qsd) on image $2, socket $3.
start() {
	local kind=$1 img=$2 sock=$3 direct=on i=0
	rm -f "$sock"
	case $img in /dev/shm/*) direct=off ;; esac
	if [ "$kind" = vhostd ]; then
		./vhostd --module=blk --socket="$sock" --option path="$img" \
		    --option num-queues=2 >"$dir/$kind.log" 2>&1 &
	else
		qemu-storage-daemon --blockdev driver=file,node-name=f,filename="$img",cache.direct=$direct,aio=io_uring \
		    --export type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path="$sock",writable=on,num-queues=2 \
		    >"$dir/$kind.log" 2>&1 &
	fi
	pid=$!
	while [ ! -S "$sock" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && { echo "bench: $kind did not start"; cat "$dir/$kind.log"; exit 1; }
		sleep 0.1
	done
}

stop() {
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
}

# One run: label, back-end, round, vhostd-bench arguments.
run() {
	local label=$1 kind=$2 round=$3
	shift 3
	./vhostd-bench --json --duration="$dur" --pid="$pid" "$@" \
	    >"$dir/json/$label@$kind@$round.json"
	printf '%-22s %-7s round %s: %s\n' "$label" "$kind" "$round" \
	    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["device"]; print("%.0f ops/s, p99 %.1f us" % (d["ops_per_s"], d["lat_us"]["p99"]))' \
	    "$dir/json/$label@$kind@$round.json")"
}

blk_rows() {
	local kind=$1 r=$2 d=$dir/disk.img s=$shm/shm.img
	start "$kind" "$d" "$dir/blk.sock"
	run disk-4k-rand-qd32 "$kind" "$r" --socket="$dir/blk.sock" --file="$d" --depth=32 blk
	run disk-4k-rand-qd1 "$kind" "$r" --socket="$dir/blk.sock" --file="$d" --depth=1 blk
	run disk-128k-seq-qd4 "$kind" "$r" --socket="$dir/blk.sock" --file="$d" --size=128K --rw=read --depth=4 blk
	stop
	start "$kind" "$s" "$dir/blk.sock"
	run shm-4k-rand-qd32 "$kind" "$r" --socket="$dir/blk.sock" --file="$s" --depth=32 blk
	run shm-4k-rand-qd32-2q "$kind" "$r" --socket="$dir/blk.sock" --file="$s" --depth=32 --queues=2 blk
	run shm-4k-rand-qd1 "$kind" "$r" --socket="$dir/blk.sock" --file="$s" --depth=1 blk
	run shm-128k-seq-qd4 "$kind" "$r" --socket="$dir/blk.sock" --file="$s" --size=128K --rw=read --depth=4 blk
	stop
}

echo "bench: load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) -eq 1 ]; then order="vhostd qsd"; else order="qsd vhostd"; fi
	for kind in $order; do
		blk_rows "$kind" "$r"
	done
	./vhostd --module=rng --socket="$dir/rng.sock" >"$dir/rng.log" 2>&1 &
	pid=$!
	while [ ! -S "$dir/rng.sock" ]; do sleep 0.1; done
	run rng-64-qd1 vhostd "$r" --socket="$dir/rng.sock" rng
	run rng-64-qd32 vhostd "$r" --socket="$dir/rng.sock" --depth=32 rng
	run rng-64k-qd8 vhostd "$r" --socket="$dir/rng.sock" --size=64K --depth=8 rng
	stop
	rm -f "$dir/rng.sock"
	./vhostd --module=vsock --socket="$dir/vsock.sock" --option guest-cid=3 \
	    --option uds-path="$dir/vsock.uds" >"$dir/vsock.log" 2>&1 &
	pid=$!
	while [ ! -S "$dir/vsock.sock" ]; do sleep 0.1; done
	run vsock-64k-g2h vhostd "$r" --socket="$dir/vsock.sock" --uds="$dir/vsock.uds" --rw=write --depth=32 vsock
	run vsock-64k-h2g vhostd "$r" --socket="$dir/vsock.sock" --uds="$dir/vsock.uds" --rw=read vsock
	stop
	rm -f "$dir/vsock.sock" "$dir/vsock.uds"
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: load average after: $load1"

python3 "$top/scripts/bench_report.py" "$dir/json" "$out" "$load0" "$load1" \
    "$rounds" "$dur"
gnuplot "$out/results.gp"
echo "bench: wrote $out/results.md and $out/results.png"
