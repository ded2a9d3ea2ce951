#!/bin/sh
# End-to-end test: QEMU guests on vhost-user-blk-pci served by vhostd's
# blk module.
#
# Starts one vhostd with two blk devices (a config file): blk0 on a 64 MiB
# image with num-queues=2, blk1 read-only on a 4 MiB image of random data.
# Guest 1 (2 vCPUs, num-queues=2 on its vda) checks what the driver sees
# (two queues, the serial, discard and write zeroes limits, vdb read-only),
# writes 4 MiB of random data with O_DIRECT, reads it back and compares,
# discards a range (blkdiscard) and zeroes another (BLKZEROOUT ->
# WRITE_ZEROES) and reads zeroes there, fails to write to vdb, and prints
# the checksums.  Guest 2, booted on the same daemon after guest 1 powered
# off, finds the data.  Guest 3 loops over O_DIRECT writes and reads while
# the host sends HMP `stop` and `cont` (each stop is a GET_VRING_BASE per
# queue, with requests in flight).  Finally SIGTERM must stop the daemon
# with status 0, and the images on the host must hold what the guests saw.
#
# With the argument "restart" (or VHOSTD_BLK_MODE=restart), instead: guest 4 runs an O_DIRECT
# write/verify loop on vda (QEMU with -chardev socket,...,reconnect=1)
# while vhostd is killed with SIGKILL and restarted 10 times; the guest
# must see no I/O error and every block must verify (inflight tracking:
# the requests the dead daemon held are resubmitted by the new one).
# "client" does the same with QEMU listening
# (-chardev socket,server=on) and vhostd connecting (`client yes`), with 3
# kills and vhostd reconnecting by itself.
#
# Environment:
#   VHOSTD_BLK_MODE         "restart" or "client" when no argument is
#                           given (see above); default: the three guests
#   VHOSTD_BUILD_DIR        build tree holding ./vhostd (default: ../..)
#   VHOSTD_SRC_DIR          source tree (default: ../..)
#   VHOSTD_QEMU_CACHE       guest cache, see setup.sh
#   VHOSTD_QEMU_TIMEOUT     seconds allowed per guest (default 180)
#   VHOSTD_LOG_LEVEL        pass --log-level=LEVEL to vhostd (debugging)
#   VHOSTD_KEEP_TMP=1       keep the temporary directory
#   VHOSTD_QEMU_APPEND      extra kernel arguments (e.g. loglevel=7)
#   VHOSTD_PACKED=1         packed virtqueues (packed=on), checked in guest
#                           1 (feature bit 34 of both disks) and guest 4
#                           (restart, client: inflight tracking of packed
#                           rings); see packed.sh
#   QEMU                    QEMU binary (default qemu-system-x86_64)
#   CC                      C compiler for the static guest helper (cc)
#
# Exit status 0 on success; 1 with a "run-blk.sh: FAIL: step: ..." line.

# "local" is not POSIX but dash, bash and busybox ash all have it.
# shellcheck disable=SC3043

set -u

# shellcheck disable=SC2034 # ME is read by lib.sh.
ME=run-blk.sh
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=${VHOSTD_BUILD_DIR:-$(cd "$SCRIPT_DIR/../.." && pwd)}
SRC_DIR=${VHOSTD_SRC_DIR:-$(cd "$SCRIPT_DIR/../.." && pwd)}
export VHOSTD_BUILD_DIR="$BUILD_DIR"
# shellcheck source=tests/qemu/lib.sh
. "$SCRIPT_DIR/lib.sh"
# shellcheck source=tests/qemu/packed.sh
. "$SCRIPT_DIR/packed.sh"
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_TIMEOUT=${VHOSTD_QEMU_TIMEOUT:-180}
CC=${CC:-cc}
SERIAL=vhostd-qemu-blk

TMP=
DAEMON_PID=
STEP=start

# Report the failure of the current step with the logs, and exit.
fail() {
	fail_with_logs "$@"
}

# The md5 of $3 64 KiB blocks of file $1 from block $2.
md5_of() {
	dd if="$1" bs=65536 skip="$2" count="$3" 2>/dev/null | md5sum |
	    cut -d' ' -f1
}

# Write the script of guest 1 to $1.
write_guest1() {
	cat >"$1" <<EOF
#!/bin/sh
# Guest 1 of run-blk.sh: check the devices, write, read, discard, zero.
SERIAL=$SERIAL
ROSUM=$ROSUM
EOF
	packed_guest_check 0x0002 >>"$1"
	cat >>"$1" <<'EOF'
say_fail() {
	echo "VHOSTD-BLK-FAIL $*"
	exit 1
}
[ -b /dev/vda ] || say_fail "no /dev/vda"
[ -b /dev/vdb ] || say_fail "no /dev/vdb"
s=$(cat /sys/block/vda/serial 2>&1)
[ "$s" = "$SERIAL" ] || say_fail "vda serial is '$s'"
[ "$(cat /sys/block/vda/size)" -eq 131072 ] ||
    say_fail "vda has $(cat /sys/block/vda/size) sectors, not 131072"
[ "$(cat /sys/block/vda/ro)" = 0 ] || say_fail "vda is read-only"
[ "$(cat /sys/block/vdb/ro)" = 1 ] || say_fail "vdb is not read-only"
nq=$(ls /sys/block/vda/mq | wc -l)
[ "$nq" -eq 2 ] || say_fail "vda has $nq queues, not 2"
[ "$(cat /sys/block/vda/queue/discard_max_bytes)" -gt 0 ] ||
    say_fail "vda does not discard"
[ "$(cat /sys/block/vda/queue/write_zeroes_max_bytes)" -gt 0 ] ||
    say_fail "vda has no write zeroes"
echo "VHOSTD-BLK-INFO queues $nq, discard max" \
    "$(cat /sys/block/vda/queue/discard_max_bytes), write zeroes max" \
    "$(cat /sys/block/vda/queue/write_zeroes_max_bytes)"

# 4 MiB of random data at 1 MiB, with O_DIRECT both ways.
dd if=/dev/urandom of=/tmp/pat bs=65536 count=64 2>/dev/null ||
    say_fail "no random data"
t0=$(cut -d' ' -f1 /proc/uptime)
dd if=/tmp/pat of=/dev/vda bs=65536 seek=16 oflag=direct 2>/tmp/dd.err ||
    say_fail "O_DIRECT write: $(cat /tmp/dd.err)"
dd if=/dev/vda of=/tmp/back bs=65536 skip=16 count=64 iflag=direct \
    2>/tmp/dd.err || say_fail "O_DIRECT read: $(cat /tmp/dd.err)"
t1=$(cut -d' ' -f1 /proc/uptime)
cmp /tmp/pat /tmp/back || say_fail "read back differs from what was written"
echo "VHOSTD-BLK-TIME $t0 $t1"

# Discard 512 KiB at 2 MiB, zero 256 KiB at 3 MiB: zeroes there.
blkdiscard -o 2097152 -l 524288 /dev/vda || say_fail "blkdiscard failed"
/bin/blk-test zeroes /dev/vda 2097152 524288 ||
    say_fail "discarded range is not zeroes"
/bin/blk-test zero /dev/vda 3145728 262144 || say_fail "BLKZEROOUT failed"
/bin/blk-test zeroes /dev/vda 3145728 262144 ||
    say_fail "zeroed range is not zeroes"
# What the 4 MiB at 1 MiB must now hold.
cp /tmp/pat /tmp/exp
dd if=/dev/zero of=/tmp/exp bs=65536 seek=16 count=8 conv=notrunc \
    2>/dev/null
dd if=/dev/zero of=/tmp/exp bs=65536 seek=32 count=4 conv=notrunc \
    2>/dev/null
sum=$(md5sum </tmp/exp | cut -d' ' -f1)
got=$(dd if=/dev/vda bs=65536 skip=16 count=64 iflag=direct 2>/dev/null |
    md5sum | cut -d' ' -f1)
[ "$got" = "$sum" ] || say_fail "vda holds $got, expected $sum"

# The read-only device: reads give the host's data, writes are refused.
got=$(dd if=/dev/vdb bs=65536 count=64 iflag=direct 2>/dev/null | md5sum |
    cut -d' ' -f1)
[ "$got" = "$ROSUM" ] || say_fail "vdb holds $got, host wrote $ROSUM"
if dd if=/tmp/pat of=/dev/vdb bs=65536 count=1 oflag=direct 2>/dev/null
then
	say_fail "a write to the read-only vdb succeeded"
fi
sync
echo "VHOSTD-BLK-SUM $sum"
echo "VHOSTD-BLK-OK"
EOF
}

# Write the script of guest 2 (expects md5 $2) to $1.
write_guest2() {
	cat >"$1" <<EOF
#!/bin/sh
# Guest 2 of run-blk.sh: the data of guest 1 is there.
SUM=$2
EOF
	cat >>"$1" <<'EOF'
say_fail() {
	echo "VHOSTD-BLK-FAIL $*"
	exit 1
}
got=$(dd if=/dev/vda bs=65536 skip=16 count=64 iflag=direct 2>/dev/null |
    md5sum | cut -d' ' -f1)
[ "$got" = "$SUM" ] || say_fail "after the restart vda holds $got, not $SUM"
/bin/blk-test zeroes /dev/vda 2097152 524288 ||
    say_fail "discarded range is not zeroes after the restart"
echo "VHOSTD-BLK-SUM $got"
echo "VHOSTD-BLK-OK"
EOF
}

# Write the script of guest 3 to $1: O_DIRECT writes and reads in a loop
# while the host stops and continues the VM.
write_guest3() {
	cat >"$1" <<'EOF'
#!/bin/sh
# Guest 3 of run-blk.sh: I/O while the host sends `stop` and `cont`.
say_fail() {
	echo "VHOSTD-BLK-FAIL $*"
	exit 1
}
dd if=/dev/urandom of=/tmp/pat bs=65536 count=128 2>/dev/null ||
    say_fail "no random data"
echo "VHOSTD-BLK-IO-START"
i=0
while [ "$i" -lt 6 ]; do
	dd if=/tmp/pat of=/dev/vda bs=1048576 seek=16 oflag=direct \
	    conv=fsync 2>/tmp/dd.err || say_fail "write $i: $(cat /tmp/dd.err)"
	dd if=/dev/vda of=/tmp/back bs=65536 skip=256 count=128 \
	    iflag=direct 2>/tmp/dd.err || say_fail "read $i: $(cat /tmp/dd.err)"
	cmp /tmp/pat /tmp/back || say_fail "round $i: read back differs"
	i=$((i + 1))
done
echo "VHOSTD-BLK-IO-END"
echo "VHOSTD-BLK-OK"
EOF
}

# Write the script of guest 4 to $1: eight workers in parallel (so requests
# are in flight when vhostd dies), each doing O_DIRECT write/verify rounds
# over two 1 MiB areas of vda, alternating two patterns, until the host
# writes STOP into block $CTL_BLK (4 KiB blocks) of the image; then every
# area must hold its last pattern and the kernel must have logged no I/O
# error.
write_guest4() {
	cat >"$1" <<EOF
#!/bin/sh
# Guest 4 of run-blk.sh: I/O while the host kills and restarts vhostd.
CTL_BLK=$CTL_BLK
EOF
	cat >>"$1" <<'EOF'
say_fail() {
	echo "VHOSTD-BLK-FAIL $*"
	exit 1
}
# Worker $1 (0..3): write/verify rounds over areas 2w and 2w+1 until STOP,
# then check both hold their last pattern.
worker() {
	local w i a p last
	w=$1
	i=0
	while :; do
		ctl=$(dd if=/dev/vda bs=4096 skip="$CTL_BLK" count=1 \
		    iflag=direct 2>/dev/null | head -c 4)
		[ "$ctl" = STOP ] && break
		a=$((2 * w + i % 2))
		p=/tmp/pat$(((i / 2) % 2))
		dd if="$p" of=/dev/vda bs=1048576 seek=$((16 + a)) \
		    oflag=direct 2>/tmp/dd$w.err ||
		    say_fail "worker $w write $i: $(cat /tmp/dd$w.err)"
		dd if=/dev/vda of=/tmp/back$w bs=65536 skip=$((256 + a * 16)) \
		    count=16 iflag=direct 2>/tmp/dd$w.err ||
		    say_fail "worker $w read $i: $(cat /tmp/dd$w.err)"
		cmp "$p" /tmp/back$w >/dev/null ||
		    say_fail "worker $w round $i: read back differs"
		i=$((i + 1))
	done
	[ "$i" -ge 1 ] || say_fail "worker $w: no round done"
	for k in 0 1; do
		[ "$k" -lt "$i" ] || continue
		last=$(((i - 1 - k) / 2 * 2 + k))
		p=/tmp/pat$(((last / 2) % 2))
		dd if=/dev/vda of=/tmp/back$w bs=65536 \
		    skip=$((256 + (2 * w + k) * 16)) count=16 iflag=direct \
		    2>/dev/null || say_fail "worker $w final read $k"
		cmp "$p" /tmp/back$w >/dev/null ||
		    say_fail "worker $w: area $((2 * w + k)) lost its last write"
	done
	echo "VHOSTD-BLK-ROUNDS $i"
}
dd if=/dev/urandom of=/tmp/pat0 bs=65536 count=16 2>/dev/null &&
    dd if=/dev/urandom of=/tmp/pat1 bs=65536 count=16 2>/dev/null ||
    say_fail "no random data"
echo "VHOSTD-BLK-IO-START"
pids=
for w in 0 1 2 3 4 5 6 7; do
	worker "$w" &
	pids="$pids $!"
done
for pid in $pids; do
	wait "$pid" || say_fail "a worker failed"
done
if dmesg | grep -i -q -e "I/O error" -e "blk_update_request"; then
	say_fail "kernel: $(dmesg | grep -i -e 'I/O error' | head -n 1)"
fi
echo "VHOSTD-BLK-INFO 8 parallel write/verify workers"
EOF
	packed_guest_check 0x0002 >>"$1"
	echo 'echo "VHOSTD-BLK-OK"' >>"$1"
}

# Kill vhostd with SIGKILL and restart it $1 times while guest 4 (QEMU
# $2, console $3) runs its loop, waiting each time until QEMU has
# reconnected and the queue runs again; then stop the loop.  Sets KILLS.
kill_restart() {
	local i n started
	i=0
	while ! grep -q VHOSTD-BLK-IO-START "$3" 2>/dev/null; do
		kill -0 "$2" 2>/dev/null || return 0
		i=$((i + 1))
		[ "$i" -lt 1200 ] || return 0
		sleep 0.1
	done
	n=0
	while [ "$n" -lt "$1" ] && kill -0 "$2" 2>/dev/null; do
		sleep "0.$(( (n * 37) % 9 + 1 ))"
		started=$(log_count 'queue 0 started')
		kill -KILL "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		start_daemon
		n=$((n + 1))
		i=0
		while [ "$(log_count 'queue 0 started')" -le "$started" ]; do
			kill -0 "$2" 2>/dev/null || break
			i=$((i + 1))
			[ "$i" -lt 600 ] || fail "QEMU did not reconnect" \
			    "after kill $n"
			sleep 0.1
		done
	done
	KILLS=$n
	# Some I/O after the last restart too.
	sleep 2
	printf 'STOP' | dd of="$TMP/disk.img" bs=4096 seek="$CTL_BLK" \
	    conv=notrunc 2>/dev/null
}

# Boot guest $1 running script file $2 (with $3 = stopcont, the host
# stops and continues it meanwhile); sets GUEST_SECS.
run_guest() {
	local dir initrd t0 t1 rc why mode num
	dir=$TMP/guest$1
	mkdir -p "$dir/root/bin"
	cp "$2" "$dir/root/test.sh"
	cp "$TMP/blk-test" "$dir/root/bin/blk-test"
	(cd "$dir/root" && printf 'test.sh\nbin\nbin/blk-test\n' |
	    cpio -o -H newc -R 0:0 --quiet) >"$dir/test.cpio" ||
	    fail "cannot build the test cpio"
	initrd=$dir/initrd
	cat "$INITRD_BASE" "$dir/test.cpio" >"$initrd" ||
	    fail "cannot build the initrd"
	if [ "${3:-}" = killrestart ] && [ "$CLIENT" = 1 ]; then
		set -- "$1" "$2" "$3" \
		    -chardev socket,id=c0,path="$TMP/vmm0.sock",server=on,wait=off \
		    -device vhost-user-blk-pci,chardev=c0,num-queues=1$PACKED_PROPS
	elif [ "${3:-}" = killrestart ]; then
		set -- "$1" "$2" "$3" \
		    -chardev socket,id=c0,path="$TMP/blk0.sock",reconnect=1 \
		    -device vhost-user-blk-pci,chardev=c0,num-queues=1$PACKED_PROPS
	else
		set -- "$1" "$2" "${3:-}" \
		    -chardev socket,id=c0,path="$TMP/blk0.sock" \
		    -device vhost-user-blk-pci,chardev=c0,num-queues=2$PACKED_PROPS \
		    -chardev socket,id=c1,path="$TMP/blk1.sock" \
		    -device vhost-user-blk-pci,chardev=c1,num-queues=1$PACKED_PROPS
	fi
	num=$1
	mode=$3
	shift 3
	t0=$(now)
	# --foreground keeps QEMU in our process group, so killing the test
	# (Check kills the group on its timeout) kills QEMU too.
	timeout --foreground -k 5 "$QEMU_TIMEOUT" \
	    "$QEMU" -M pc -accel tcg -m 256 -smp 2 \
	    -monitor unix:"$dir/mon.sock",server=on,wait=off \
	    -object memory-backend-memfd,id=mem,size=256M,share=on \
	    -numa node,memdev=mem -nodefaults -no-user-config \
	    -display none -serial stdio -no-reboot \
	    "$@" \
	    -kernel "$KERNEL" -initrd "$initrd" \
	    -append "console=ttyS0 quiet panic=-1 ${VHOSTD_QEMU_APPEND:-}" \
	    </dev/null >"$dir/serial.log" 2>"$dir/qemu.err" &
	QPID=$!
	if [ "$mode" = stopcont ]; then
		# Up to 20 pauses of 0.2 s, 0.3 s apart, while the I/O runs.
		STOPS=$(vm_pause_loop "$dir/mon.sock" 20 "$dir/serial.log" \
		    VHOSTD-BLK-IO-START VHOSTD-BLK-IO-END 0.2 0.3 | tail -n 1)
	elif [ "$mode" = killrestart ]; then
		kill_restart "$NKILLS" "$QPID" "$dir/serial.log"
	fi
	wait "$QPID"
	rc=$?
	t1=$(now)
	GUEST_SECS=$(elapsed "$t0" "$t1")
	tr -d '\r' <"$dir/serial.log" >"$dir/console.txt"
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		fail "QEMU timed out after ${QEMU_TIMEOUT}s"
	fi
	if grep -q '^VHOSTD-BLK-FAIL' "$dir/console.txt"; then
		fail "guest: $(grep '^VHOSTD-BLK-FAIL' "$dir/console.txt" |
		    head -n 1)"
	fi
	grep -q '^VHOSTD-BLK-OK$' "$dir/console.txt" ||
	    fail "no VHOSTD-BLK-OK on the guest console (QEMU status $rc)"
	grep -q '^VHOSTD-GUEST-EXIT 0$' "$dir/console.txt" ||
	    fail "guest test did not exit 0"
	[ "$rc" -eq 0 ] || fail "QEMU exited with status $rc"
	if [ "$1" = 1 ]; then
		why=$(packed_host_check "$dir/console.txt" 2) || fail "$why"
	elif [ "$1" = 4 ]; then
		why=$(packed_host_check "$dir/console.txt" 1) || fail "$why"
	fi
	GUEST_SUM=$(sed -n 's/^VHOSTD-BLK-SUM //p' "$dir/console.txt")
	echo "run-blk.sh: guest $num OK in ${GUEST_SECS}s:" \
	    "$(sed -n 's/^VHOSTD-BLK-INFO //p' "$dir/console.txt")"
}

# Wait up to 10 s until the daemon log has $1 disconnect lines.
wait_disconnects() {
	local i
	i=0
	while [ "$(log_count 'frontend disconnected')" -lt "$1" ]; do
		kill -0 "$DAEMON_PID" 2>/dev/null ||
		    fail "vhostd died after the guest left"
		i=$((i + 1))
		[ "$i" -lt 100 ] || fail "no '$1 frontend disconnected' lines"
		sleep 0.1
	done
}

# Start vhostd with both devices and wait for their sockets (blk1's only
# when blk0 is a client: QEMU listens on vmm0.sock then).  The log is
# appended to, over restarts.
start_daemon() {
	local sock0 client
	[ -x "$BUILD_DIR/vhostd" ] || fail "no executable $BUILD_DIR/vhostd"
	sock0=$TMP/blk0.sock
	client=no
	if [ "$CLIENT" = 1 ]; then
		sock0=$TMP/vmm0.sock
		client=yes
	fi
	cat >"$TMP/vhostd.conf" <<EOF
device "blk0" {
	module blk
	client $client
	socket "$sock0"
	path "$TMP/disk.img"
	num-queues 2
	serial "$SERIAL"
}
device "blk1" {
	module blk
	socket "$TMP/blk1.sock"
	path "$TMP/ro.img"
	readonly on
}
EOF
	"$BUILD_DIR/vhostd" --config="$TMP/vhostd.conf" \
	    ${VHOSTD_LOG_LEVEL:+"--log-level=$VHOSTD_LOG_LEVEL"} \
	    </dev/null >>"$TMP/vhostd.log" 2>&1 &
	DAEMON_PID=$!
	if [ "$CLIENT" = 0 ]; then
		wait_sockets "$TMP/blk0.sock" "$TMP/blk1.sock"
	else
		wait_sockets "$TMP/blk1.sock"
	fi
}

# Stop the daemon with SIGTERM: it must exit 0 and remove its sockets.
stop_daemon() {
	term_daemon
	[ ! -e "$TMP/blk0.sock" ] || fail "vhostd left its socket behind"
}

trap cleanup_daemon EXIT
trap 'exit 1' INT TERM HUP

guest_setup /tmp/vhostd-blk.XXXXXX

STEP="images and blk-test"
truncate -s 64M "$TMP/disk.img" || fail "cannot make disk.img"
dd if=/dev/urandom of="$TMP/ro.img" bs=65536 count=64 2>/dev/null ||
    fail "cannot make ro.img"
ROSUM=$(md5_of "$TMP/ro.img" 0 64)
"$CC" -static -O2 -o "$TMP/blk-test" \
    "$SRC_DIR/tests/qemu/guest/blk-test.c" 2>"$TMP/cc.err" ||
    fail "cannot build a static blk-test: $(head -n 3 "$TMP/cc.err")"

STEP="start vhostd"
MODE=${1:-${VHOSTD_BLK_MODE:-}}
CLIENT=0
[ "$MODE" = client ] && CLIENT=1
# The control block of guest 4: the last 4 KiB of the 64 MiB image.
CTL_BLK=16383
start_daemon

if [ -n "$MODE" ]; then
	[ "$MODE" = restart ] || [ "$MODE" = client ] ||
	    fail "unknown VHOSTD_BLK_MODE '$MODE'"
	NKILLS=10
	[ "$CLIENT" = 1 ] && NKILLS=3
	STEP="guest 4 ($MODE: $NKILLS SIGKILLs during I/O)"
	KILLS=0
	write_guest4 "$TMP/guest4.sh"
	run_guest 4 "$TMP/guest4.sh" killrestart
	[ "$KILLS" -eq "$NKILLS" ] ||
	    fail "only $KILLS of $NKILLS kills before the guest finished"
	echo "run-blk.sh: guest 4 survived $KILLS SIGKILLs of vhostd" \
	    "($(sed -n 's/^VHOSTD-BLK-ROUNDS //p' "$TMP/guest4/console.txt" |
	    awk '{ n += $1 } END { print n + 0 }') verified rounds);" \
	    "$(log_count 'in flight at the last stop') restarts" \
	    "resubmitted requests in flight," \
	    "$(log_count 'from the inflight region') took the ring" \
	    "position from it, $(log_count 'connected to') client connections"
	STEP="SIGTERM"
	stop_daemon
	[ "$(log_count 'device broken')" -eq 0 ] || fail "a device broke"
	echo "run-blk.sh: PASS ($MODE, total $(elapsed "$T0" "$(now)")s)"
	exit 0
fi

STEP="guest 1"
write_guest1 "$TMP/guest1.sh"
run_guest 1 "$TMP/guest1.sh"
SUM1=$GUEST_SUM
[ -n "$SUM1" ] || fail "guest 1 printed no checksum"
[ "$(log_count 'queue 1 started on worker 1')" -ge 1 ] ||
    fail "blk0's queue 1 never ran on worker 1"

STEP="guest 2 (restart)"
wait_disconnects 2
write_guest2 "$TMP/guest2.sh" "$SUM1"
run_guest 2 "$TMP/guest2.sh"

STEP="guest 3 (stop and cont during I/O)"
wait_disconnects 4
STOPS=0
write_guest3 "$TMP/guest3.sh"
run_guest 3 "$TMP/guest3.sh" stopcont
[ "$STOPS" -gt 0 ] || fail "the guest's I/O loop was never seen running"
echo "run-blk.sh: guest 3 survived $STOPS stop/cont cycles;" \
    "$(log_count 'waiting for') queue stops waited for requests in flight"

STEP="SIGTERM"
wait_disconnects 6
stop_daemon

STEP="images on the host"
[ "$(md5_of "$TMP/disk.img" 16 64)" = "$SUM1" ] ||
    fail "disk.img does not hold what the guest wrote"
[ "$(md5_of "$TMP/ro.img" 0 64)" = "$ROSUM" ] || fail "ro.img changed"
[ "$(log_count 'device broken')" -eq 0 ] || fail "a device broke"
[ "$(log_count 'seccomp filter installed')" -eq 1 ] ||
    fail "vhostd ran without its seccomp filter"
echo "run-blk.sh: PASS (kernel $KVER via $KERNEL_KIND," \
    "total $(elapsed "$T0" "$(now)")s)"
exit 0
