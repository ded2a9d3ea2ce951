#!/bin/sh
# End-to-end test: live migration of a QEMU guest on vhost-user-blk-pci
# served by vhostd's blk module, between two QEMU processes on this host.
#
# One vhostd serves two blk devices on the same image (blk0 and blk1).
# QEMU A runs the guest on blk0; QEMU B, started with -incoming on blk1,
# receives it; then a fresh A receives it back, and so on: MIGRATIONS
# switch-overs in all (default 6: there and back three times).  The guest
# meanwhile loops (blk-test mig): it reads a known pattern from the disk
# into memory buffers and re-checks every buffer each round (a device
# write the dirty log missed shows up as stale memory on the destination),
# and writes and re-reads its own blocks.  After each switch-over the
# guest must complete two more rounds without a failure.  With
# MODE=postcopy both QEMUs enable postcopy-ram and the source switches
# to postcopy (migrate_start_postcopy) during each migration.
#
# Usage: run-blk-migrate.sh [precopy|postcopy]
# Environment: as run-blk.sh, plus
#   VHOSTD_MIG_COUNT        switch-overs (default 6)
#   VHOSTD_MIG_MODE         the mode when no argument is given
#   VHOSTD_MIG_BW, VHOSTD_MIG_DOWNTIME  max-bandwidth and downtime-limit
#   VHOSTD_MIG_BACKEND=qemu QEMU's own virtio-blk instead (a control run)
#   VHOSTD_QEMU_TRACE=1     QEMU's vhost_user_read/write trace on stderr
#
# Exit status 0 on success; 1 with a "run-blk-migrate.sh: FAIL: ..." line.

# shellcheck disable=SC3043

set -u

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=${VHOSTD_BUILD_DIR:-$(cd "$SCRIPT_DIR/../.." && pwd)}
SRC_DIR=${VHOSTD_SRC_DIR:-$(cd "$SCRIPT_DIR/../.." && pwd)}
export VHOSTD_BUILD_DIR="$BUILD_DIR"
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_TIMEOUT=${VHOSTD_QEMU_TIMEOUT:-180}
CC=${CC:-cc}
MIGRATIONS=${VHOSTD_MIG_COUNT:-6}
MODE=${1:-${VHOSTD_MIG_MODE:-precopy}}
# qemu: QEMU's own virtio-blk instead of vhostd (a control experiment).
BACKEND=${VHOSTD_MIG_BACKEND:-vhostd}
# Pre-copy: a small downtime limit, so each migration makes several live
# passes with the dirty log (the bulk pass, then the pages dirtied during
# it, ...) before it stops the guest.  Postcopy: a small one too, so the
# switch to postcopy comes before pre-copy could finish.
if [ "$MODE" = postcopy ]; then
	DOWNTIME=${VHOSTD_MIG_DOWNTIME:-10}
else
	DOWNTIME=${VHOSTD_MIG_DOWNTIME:-50}
fi
# Guest RAM: 256 MiB and two pages (-m rounds to 8 KiB).  QEMU 7.2's
# dirty-bitmap sync takes a fast path for a RAM block whose size is a
# multiple of 64 pages, and that path clears the migration bits without
# resetting TCG's TLB dirty state: a guest store through a TLB entry
# already marked dirty is then never logged, and the destination runs on
# a stale page of the guest's own memory (seen as slab corruption in the
# guest kernel, with QEMU's own virtio-blk as much as with vhostd: 3 of 5
# runs under load).  QEMU 9.0 fixed it ("physmem: Fix migration dirty
# bitmap coherency with TCG memory access").  A size off the 64-page grid
# sends QEMU down the per-page path, which does reset the TLB (6 of 6
# control runs under the same load passed).  VHOSTD_MIG_MEM overrides.
GUEST_MEM=${VHOSTD_MIG_MEM:-262152K}
NAME=run-blk-migrate.sh

TMP=
DAEMON_PID=
QPIDS=
STEP=start

now() {
	date +%s.%N
}

elapsed() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'
}

show_tail() {
	if [ -s "$2" ]; then
		echo "---- $1 (last 40 lines of $2) ----"
		tail -n 40 "$2" | tr -d '\r'
		echo "---- end of $1 ----"
	fi
}

# Report the failure of the current step with the logs, and exit.
fail() {
	echo "$NAME: FAIL: $STEP: $*"
	if [ -n "$TMP" ]; then
		for f in "$TMP"/q*.serial "$TMP"/q*.err; do
			[ -f "$f" ] && show_tail "$(basename "$f")" "$f"
		done
		show_tail "vhostd log" "$TMP/vhostd.log"
	fi
	exit 1
}

# shellcheck disable=SC2317 # Called from the EXIT trap.
cleanup() {
	local p
	for p in $QPIDS; do
		kill -KILL "$p" 2>/dev/null
	done
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -KILL "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	if [ -n "$TMP" ] && [ "${VHOSTD_KEEP_TMP:-0}" != 1 ]; then
		rm -rf "$TMP"
	elif [ -n "$TMP" ]; then
		echo "$NAME: kept $TMP"
	fi
}

# Send HMP command $2 to the monitor socket $1; its output on stdout.
hmp() {
	printf '%s\n' "$2" | socat -t 5 - UNIX-CONNECT:"$1" 2>/dev/null |
	    tr -d '\r'
}

# The guest's progress sector: "ROUND n" or "FAIL ...".
progress() {
	dd if="$TMP/disk.img" bs=4096 skip=$((2048 + 1)) count=1 \
	    2>/dev/null | tr -d '\000' | head -n 1
}

# The round number in the progress sector (-1 before the first); fails
# the test when the guest reported a failure there.
round() {
	local p
	p=$(progress)
	case "$p" in
	"ROUND "*) ROUND=${p#ROUND } ;;
	FAIL*) fail "guest: $p" ;;
	*) ROUND=-1 ;;
	esac
}

# Wait until the guest has passed round $1 (up to $2 seconds).
wait_round() {
	local i r
	i=0
	while :; do
		round
		r=$ROUND
		[ "$r" -gt "$1" ] && return 0
		kill -0 "$CUR_PID" 2>/dev/null ||
		    fail "QEMU exited; the guest was at round $r"
		i=$((i + 1))
		[ "$i" -lt $(($2 * 10)) ] ||
		    fail "the guest is stuck at round $r (waited for $1)"
		sleep 0.1
	done
}

# Start QEMU number $1 on device $2 (blk0 or blk1); with $3 it waits for
# an incoming migration on unix socket $3.  Sets QPID.
start_qemu() {
	local n dev inc
	n=$1
	dev=$2
	inc=${3:-}
	set --  -M pc -accel tcg -m "$GUEST_MEM" -smp 1 \
	    -monitor unix:"$TMP/q$n.mon",server=on,wait=off \
	    -object memory-backend-memfd,id=mem,size="$GUEST_MEM",share=on \
	    -numa node,memdev=mem -nodefaults -no-user-config \
	    -display none -serial file:"$TMP/q$n.serial" -no-reboot \
	    -kernel "$KERNEL" -initrd "$TMP/initrd" \
	    -append "console=ttyS0 quiet panic=-1 ${VHOSTD_QEMU_APPEND:-}" \
	    ${inc:+-incoming} ${inc:+"unix:$inc"}
	if [ "$BACKEND" = qemu ]; then
		set -- "$@" -drive file="$TMP/disk.img",format=raw,if=none,id=d0,file.locking=off \
		    -device virtio-blk-pci,drive=d0
	else
		set -- "$@" -chardev socket,id=c0,path="$TMP/$dev.sock" \
		    -device vhost-user-blk-pci,chardev=c0,num-queues=1
	fi
	if [ "${VHOSTD_QEMU_TRACE:-0}" = 1 ]; then
		set -- "$@" -trace vhost_user_write -trace vhost_user_read
	fi
	timeout --foreground -k 5 "$QEMU_TIMEOUT" "$QEMU" "$@" \
	    </dev/null >/dev/null 2>"$TMP/q$n.err" &
	QPID=$!
	QPIDS="$QPIDS $QPID"
	i=0
	while [ ! -S "$TMP/q$n.mon" ]; do
		kill -0 "$QPID" 2>/dev/null || fail "QEMU $n exited at start"
		i=$((i + 1))
		[ "$i" -lt 300 ] || fail "no monitor socket from QEMU $n"
		sleep 0.1
	done
}

# Migrate from QEMU $1 (monitor) to the one listening on $2; waits for
# "completed" and prints the seconds it took.
migrate() {
	local i st t0
	t0=$(now)
	hmp "$1" "migrate_set_parameter max-bandwidth ${VHOSTD_MIG_BW:-4G}" >/dev/null
	hmp "$1" "migrate_set_parameter downtime-limit $DOWNTIME" >/dev/null
	hmp "$1" "migrate -d unix:$2" >"$TMP/migrate.out"
	grep -qi error "$TMP/migrate.out" &&
	    fail "migrate: $(cat "$TMP/migrate.out")"
	if [ "$MODE" = postcopy ]; then
		hmp "$1" "migrate_start_postcopy" >"$TMP/migrate.out"
		grep -qi error "$TMP/migrate.out" &&
		    fail "migrate_start_postcopy: $(cat "$TMP/migrate.out")"
	fi
	i=0
	while :; do
		st=$(hmp "$1" "info migrate" | sed -n \
		    's/^Migration status: *//p' | head -n 1)
		case "$st" in
		completed)
			hmp "$1" "info migrate" >"$TMP/info-migrate.$n"
			SYNCS=$(sed -n 's/^dirty sync count: *//p' \
			    "$TMP/info-migrate.$n" | head -n 1)
			LIVE=$(sed -n 's/^precopy ram: *//p' \
			    "$TMP/info-migrate.$n" | head -n 1)
			DOWN=$(sed -n 's/^downtime ram: *//p' \
			    "$TMP/info-migrate.$n" | head -n 1)
			POST=$(sed -n 's/^postcopy ram: *//p' \
			    "$TMP/info-migrate.$n" | head -n 1)
			break ;;
		failed|cancelled) fail "migration $st: $(hmp "$1" \
		    "info migrate" | grep -i error)" ;;
		esac
		i=$((i + 1))
		[ "$i" -lt 600 ] || fail "migration not completed after 60s" \
		    "(status $st)"
		sleep 0.1
	done
	MIG_SECS=$(elapsed "$t0" "$(now)")
}

start_daemon() {
	local i
	[ -x "$BUILD_DIR/vhostd" ] || fail "no executable $BUILD_DIR/vhostd"
	cat >"$TMP/vhostd.conf" <<EOF
device "blk0" {
	module blk
	socket "$TMP/blk0.sock"
	path "$TMP/disk.img"
}
device "blk1" {
	module blk
	socket "$TMP/blk1.sock"
	path "$TMP/disk.img"
}
EOF
	"$BUILD_DIR/vhostd" --config="$TMP/vhostd.conf" \
	    ${VHOSTD_LOG_LEVEL:+"--log-level=$VHOSTD_LOG_LEVEL"} \
	    </dev/null >"$TMP/vhostd.log" 2>&1 &
	DAEMON_PID=$!
	i=0
	while [ ! -S "$TMP/blk0.sock" ] || [ ! -S "$TMP/blk1.sock" ]; do
		kill -0 "$DAEMON_PID" 2>/dev/null ||
		    fail "vhostd exited before listening"
		i=$((i + 1))
		[ "$i" -lt 100 ] || fail "no sockets after 10s"
		sleep 0.1
	done
}

log_count() {
	grep -c -F -- "$1" "$TMP/vhostd.log" 2>/dev/null || true
}

trap cleanup EXIT
trap 'exit 1' INT TERM HUP

STEP=setup
T0=$(now)
case "$MODE" in
precopy|postcopy) ;;
*) fail "VHOSTD_MIG_MODE is '$MODE', not precopy or postcopy" ;;
esac
"$SCRIPT_DIR/setup.sh" || fail "setup.sh failed"
# shellcheck disable=SC1091
. "${VHOSTD_QEMU_CACHE:-$BUILD_DIR/tests/qemu/cache}/guest.env" ||
    fail "cannot read guest.env"
command -v "$QEMU" >/dev/null 2>&1 || fail "$QEMU not found"
command -v socat >/dev/null 2>&1 || fail "socat not found"
TMP=$(mktemp -d /tmp/vhostd-mig.XXXXXX) || fail "mktemp failed"

STEP="image and blk-test"
"$CC" -static -O2 -o "$TMP/blk-test" \
    "$SRC_DIR/tests/qemu/guest/blk-test.c" 2>"$TMP/cc.err" ||
    fail "cannot build a static blk-test: $(head -n 3 "$TMP/cc.err")"
truncate -s 64M "$TMP/disk.img" || fail "cannot make disk.img"
"$TMP/blk-test" pattern "$TMP/disk.img" 0 $((8 * 1048576)) ||
    fail "cannot write the pattern"
mkdir -p "$TMP/root/bin"
cat >"$TMP/root/test.sh" <<'EOF'
#!/bin/sh
# The guest of run-blk-migrate.sh.
/bin/blk-test mig /dev/vda 0 0 || { echo "VHOSTD-BLK-FAIL blk-test"; exit 1; }
echo "VHOSTD-BLK-OK"
EOF
cp "$TMP/blk-test" "$TMP/root/bin/blk-test"
(cd "$TMP/root" && printf 'test.sh\nbin\nbin/blk-test\n' |
    cpio -o -H newc -R 0:0 --quiet) >"$TMP/test.cpio" ||
    fail "cannot build the test cpio"
cat "$INITRD_BASE" "$TMP/test.cpio" >"$TMP/initrd" ||
    fail "cannot build the initrd"

STEP="start vhostd"
start_daemon

STEP="boot"
start_qemu 0 blk0
CUR_MON=$TMP/q0.mon
CUR_PID=$QPID
CUR_DEV=blk0
wait_round 1 120
round
echo "$NAME: guest running (round $ROUND) after" \
    "$(elapsed "$T0" "$(now)")s"

n=1
while [ "$n" -le "$MIGRATIONS" ]; do
	STEP="migration $n ($MODE)"
	if [ "$CUR_DEV" = blk0 ]; then DEV=blk1; else DEV=blk0; fi
	start_qemu "$n" "$DEV" "$TMP/mig$n.sock"
	NEW_PID=$QPID
	if [ "$MODE" = postcopy ]; then
		hmp "$TMP/q$n.mon" "migrate_set_capability postcopy-ram on" \
		    >/dev/null
		hmp "$CUR_MON" "migrate_set_capability postcopy-ram on" \
		    >/dev/null
	fi
	i=0
	while [ ! -S "$TMP/mig$n.sock" ]; do
		i=$((i + 1))
		[ "$i" -lt 100 ] || fail "no incoming socket from QEMU $n"
		sleep 0.1
	done
	round
	before=$ROUND
	migrate "$CUR_MON" "$TMP/mig$n.sock"
	hmp "$CUR_MON" quit >/dev/null
	wait "$CUR_PID" 2>/dev/null
	round
	after=$ROUND
	CUR_PID=$NEW_PID
	wait_round $((after + 2)) 60
	echo "$NAME: migration $n to $DEV in ${MIG_SECS}s, $SYNCS dirty" \
	    "syncs, RAM $LIVE live + $DOWN stopped + ${POST:-0} postcopy" \
	    "(guest rounds" \
	    "$before -> $after at switch-over, now $ROUND)"
	CUR_MON=$TMP/q$n.mon
	CUR_PID=$NEW_PID
	CUR_DEV=$DEV
	n=$((n + 1))
done

STEP="finish"
printf 'STOP' | dd of="$TMP/disk.img" bs=4096 seek=2048 conv=notrunc \
    2>/dev/null || fail "cannot write STOP"
wait "$CUR_PID"
rc=$?
last=$((n - 1))
tr -d '\r' <"$TMP/q$last.serial" >"$TMP/console.txt"
grep -q '^VHOSTD-BLK-FAIL' "$TMP/console.txt" &&
    fail "guest: $(grep '^VHOSTD-BLK-FAIL' "$TMP/console.txt" | head -n 1)"
grep -q '^VHOSTD-BLK-OK$' "$TMP/console.txt" ||
    fail "no VHOSTD-BLK-OK on the last guest console (QEMU status $rc)"
[ "$rc" -eq 0 ] || fail "QEMU exited with status $rc"
[ "$(log_count 'device broken')" -eq 0 ] || fail "a device broke"
[ "$BACKEND" = qemu ] || [ "$(log_count 'dirty log of')" -ge "$MIGRATIONS" ] ||
    fail "vhostd was given a dirty log only $(log_count 'dirty log of')" \
    "times for $MIGRATIONS migrations"
if [ "$BACKEND" = vhostd ] && [ "$MODE" = postcopy ]; then
	[ "$(log_count 'regions registered for faults')" -ge "$MIGRATIONS" ] ||
	    fail "vhostd registered its memory for postcopy faults only" \
	    "$(log_count 'regions registered for faults') times"
	[ "$(cat "$TMP"/info-migrate.* | grep -c '^postcopy ram: *[1-9]')" -ge \
	    "$MIGRATIONS" ] || fail "not every migration went to postcopy"
fi
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
rc=$?
DAEMON_PID=
[ "$rc" -eq 0 ] || fail "vhostd exited with status $rc after SIGTERM"
echo "$NAME: PASS ($MODE, $MIGRATIONS migrations," \
    "$(sed -n 's/^VHOSTD-BLK-MIG-ROUNDS //p' "$TMP/console.txt") guest" \
    "rounds, total $(elapsed "$T0" "$(now)")s)"
exit 0
