#!/bin/sh
# bench-smoke: vhostd-bench still works end to end, so the tool cannot rot:
# a few hundred requests of each workload against a vhostd (rng one deep
# and sixteen deep, blk random reads on two queues and sequential writes,
# vsock streams both ways),
# each report valid JSON with the counts asked for, no errors, the
# back-end's CPU time and the baselines with their ratios; the man page is
# clean under mandoc's linter.  Not a performance test: no figure is
# compared with a threshold.
#
# Environment (set by the test harness): VHOSTD_BUILD_DIR, VHOSTD_SRC_DIR.

set -u

name=bench-smoke
build=${VHOSTD_BUILD_DIR:-.}
src=${VHOSTD_SRC_DIR:-.}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke.XXXXXX")
pid=
passed=0

say() {
	echo "$name: $*"
}

cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	say "FAIL: $*"
	for f in "$tmp"/*.log "$tmp"/*.json; do
		[ -f "$f" ] || continue
		echo "---- $f"
		tail -n 40 "$f"
	done
	exit 1
}

# Start vhostd with the given arguments on $tmp/$1.sock.
start() {
	sock=$tmp/$1.sock
	shift
	"$build/vhostd" --socket="$sock" "$@" >"$tmp/vhostd.log" 2>&1 &
	pid=$!
	i=0
	while [ ! -S "$sock" ]; do
		i=$((i + 1))
		[ $i -gt 200 ] && fail "vhostd did not create $sock"
		kill -0 "$pid" 2>/dev/null || fail "vhostd exited"
		sleep 0.1
	done
}

stop() {
	kill "$pid" && wait "$pid" || fail "vhostd did not stop cleanly"
	pid=
}

# Run vhostd-bench with the arguments and check its JSON: `count`
# requests done without errors, CPU time known, and the baselines named.
bench() {
	label=$1
	count=$2
	raws=$3
	shift 3
	"$build/vhostd-bench" --json --count="$count" --pid="$pid" \
	    --timeout=30000 "$@" >"$tmp/$label.json" 2>"$tmp/$label.log" ||
	    fail "$label: vhostd-bench failed"
	python3 - "$tmp/$label.json" "$count" "$raws" <<'PY' ||
import json, sys
r = json.load(open(sys.argv[1]))
count = int(sys.argv[2])
want = [w for w in sys.argv[3].split(",") if w]
d = r["device"]
# A host-to-guest stream counts the packets as they come (a batch may
# pass the count, and a packet may be shorter than the chunk written).
if r["workload"] == "vsock" and r["rw"] == "read":
    assert count <= d["ops"] < count + 256, ("ops", d["ops"])
    assert 0 < d["bytes"] <= d["ops"] * r["size"], ("bytes", d["bytes"])
else:
    assert d["ops"] == count, ("ops", d["ops"])
    assert d["bytes"] == count * r["size"], ("bytes", d["bytes"])
assert d["errors"] == 0, ("errors", d["errors"])
assert d["ops_per_s"] > 0 and d["elapsed_s"] > 0
lat = d["lat_us"]
assert 0 < lat["p50"] <= lat["p99"] <= lat["p99_9"], lat
assert d["cpu_us_per_op"] is not None and d["cpu_us_per_op"] > 0
names = [x["name"] for x in r["raw"]]
assert names == want, (names, want)
for x in r["raw"]:
    assert x["ops"] > 0 and x["ratio"] > 0, x
PY
	    fail "$label: bad report: $(cat "$tmp/$label.json")"
	passed=$((passed + 1))
}

[ -x "$build/vhostd-bench" ] || fail "no vhostd-bench in $build"
command -v python3 >/dev/null || fail "python3 is needed (scripts/setup.sh)"

start rng --module=rng
bench rng-qd1 300 getrandom,eventfd-pingpong --socket="$tmp/rng.sock" rng
bench rng-qd16 300 getrandom --socket="$tmp/rng.sock" --depth=16 rng
stop

dd if=/dev/zero of="$tmp/img" bs=1M count=16 status=none ||
    fail "cannot make the image"
start blk --module=blk --option path="$tmp/img" --option num-queues=2
bench blk-randread 300 io_uring-odirect --socket="$tmp/blk.sock" \
    --file="$tmp/img" --depth=8 --queues=2 blk
bench blk-write 300 io_uring-odirect --socket="$tmp/blk.sock" \
    --file="$tmp/img" --rw=write --size=64K --depth=4 blk
stop

start vsock --module=vsock --option guest-cid=3 --option uds-path="$tmp/v.uds"
bench vsock-g2h 300 unix-stream --socket="$tmp/vsock.sock" --uds="$tmp/v.uds" \
    --rw=write --depth=8 --size=16K vsock
bench vsock-h2g 300 unix-stream --socket="$tmp/vsock.sock" --uds="$tmp/v.uds" \
    --rw=read --size=16K vsock
stop

# The man page.
command -v mandoc >/dev/null || fail "mandoc is needed (scripts/setup.sh)"
mandoc -T lint -W warning "$src/bench/vhostd-bench.1" >"$tmp/mandoc.log" 2>&1 ||
    fail "mandoc -T lint: $(cat "$tmp/mandoc.log")"
passed=$((passed + 1))

say "$passed passed, 0 failed"
exit 0
