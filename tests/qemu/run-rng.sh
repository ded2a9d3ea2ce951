#!/bin/sh
# End-to-end test: a QEMU guest reads its hwrng from vhostd's rng module.
#
#	run-rng.sh [basic | pause]
#
# Starts "vhostd --module=rng --socket=TMP/rng.sock", boots a guest (PVH
# kernel + busybox initramfs from setup.sh) under TCG with vhost-user-rng-pci
# on that socket, and checks in the guest that virtio_rng is the current hwrng
# and that 1 MiB of non-compressible data comes out of /dev/hwrng (~16,000
# virtio requests of 64 bytes).  A second guest then runs against the same
# daemon and socket (the daemon keeps serving after a frontend leaves) and
# reads 64 KiB.  Finally SIGTERM must stop the daemon with status 0 and
# remove its socket.
#
# In mode pause the daemon is rate-limited to 128 KiB/s (max-bytes=32768,
# period=250), so that the first guest's 1 MiB lasts ~8 s, read in 64 KiB
# pieces whose progress the guest writes to its second serial port (a file
# on the host); meanwhile the script pauses and resumes the VM 5 times
# through QEMU's monitor (HMP stop and cont: SET_VRING_ENABLE 0 and
# GET_VRING_BASE, then the queue set up again), each pause at the next sixth
# of the read.  The read must complete with random data.
#
# Environment:
#   VHOSTD_BUILD_DIR        build tree holding ./vhostd (default: ../..)
#   VHOSTD_QEMU_CACHE       guest cache, see setup.sh
#   VHOSTD_QEMU_TIMEOUT     seconds allowed per guest (default 120; a guest
#                           normally takes ~4 s)
#   VHOSTD_LOG_LEVEL        pass --log-level=LEVEL to vhostd (debugging)
#   VHOSTD_KEEP_TMP=1       keep the temporary directory
#   VHOSTD_QEMU_APPEND      extra kernel arguments (e.g. loglevel=7)
#   VHOSTD_RNG_PROPS        extra vhost-user-rng-pci properties
#   VHOSTD_PACKED=1         packed virtqueues (packed=on), checked in the
#                           guest (feature bit 34); see packed.sh
#   QEMU                    QEMU binary (default qemu-system-x86_64)
#   RNG_DEVICE=builtin      debug mode: QEMU's own virtio-rng-pci, no vhostd
#   VHOSTD_QEMU_PAUSES      pauses in mode pause (default 5)
#   VM_PAUSE_SECS           length of each pause (default 1)
#   VM_STALL_SECS           fail once the read stalls this long (default 60)
#
# Exit status 0 on success; 1 with a "run-rng.sh: FAIL: step: ..." line.

# "local" is not POSIX but dash, bash and busybox ash all have it.
# shellcheck disable=SC3043

set -u

# shellcheck disable=SC2034 # ME is read by lib.sh.
ME=run-rng.sh
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=${VHOSTD_BUILD_DIR:-$(cd "$SCRIPT_DIR/../.." && pwd)}
export VHOSTD_BUILD_DIR="$BUILD_DIR"
# shellcheck source=tests/qemu/lib.sh
. "$SCRIPT_DIR/lib.sh"
MODE=${1:-basic}
case $MODE in
basic|pause)	;;
*)		echo "usage: run-rng.sh [basic | pause]" >&2; exit 2 ;;
esac
PAUSES=${VHOSTD_QEMU_PAUSES:-5}
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_TIMEOUT=${VHOSTD_QEMU_TIMEOUT:-120}
RNG_DEVICE=${RNG_DEVICE:-vhost-user}
# shellcheck source=tests/qemu/packed.sh
. "$SCRIPT_DIR/packed.sh"
BYTES1=1048576
BYTES2=65536

TMP=
DAEMON_PID=
STEP=start

# Report the failure of the current step with the logs, and exit.
fail() {
	fail_with_logs "$@"
}

# Write the guest script that reads $1 bytes from /dev/hwrng to file $2, in
# pieces of $3 bytes; with a fourth argument, a device (the second serial
# port) to which it writes "RNG-PROGRESS <bytes read>" after each piece.
write_guest_script() {
	cat >"$2" <<EOF
#!/bin/sh
# Guest side of run-rng.sh: check the hwrng and read $1 bytes from it.
want=$1
piece=$3
progress=${4:-}
EOF
	packed_guest_check 0x0004 >>"$2"
	cat >>"$2" <<'EOF'
say_fail() {
	echo "VHOSTD-RNG-FAIL $*"
	exit 1
}
cur=$(cat /sys/class/misc/hw_random/rng_current 2>&1)
case "$cur" in
*virtio_rng*)	;;
*)		say_fail "rng_current is '$cur', not virtio_rng" ;;
esac
[ -c /dev/hwrng ] || say_fail "no /dev/hwrng"
t0=$(cut -d' ' -f1 /proc/uptime)
: >/tmp/rng
n=0
while [ "$n" -lt "$want" ]; do
	dd if=/dev/hwrng of=/tmp/piece bs=4096 count=$((piece / 4096)) \
	    2>/tmp/dd.err ||
	    say_fail "dd failed after $n bytes: $(cat /tmp/dd.err)"
	[ -s /tmp/piece ] || say_fail "dd read nothing after $n bytes"
	cat /tmp/piece >>/tmp/rng
	n=$(wc -c </tmp/rng)
	[ -z "$progress" ] || echo "RNG-PROGRESS $n" >"$progress"
done
t1=$(cut -d' ' -f1 /proc/uptime)
[ "$n" -eq "$want" ] || say_fail "read $n of $want bytes"
# Random bytes do not compress; zeros or a repeated pattern would.
z=$(gzip -c /tmp/rng | wc -c)
[ "$z" -ge $((n * 99 / 100)) ] ||
    say_fail "$n bytes gzip to $z bytes: not random"
echo "VHOSTD-RNG-TIME $t0 $t1"
echo "VHOSTD-RNG-OK $n"
EOF
}

# Print the bytes the guest in $GUEST_DIR has reported read (0 before).
rng_progress() {
	tr -d '\r' 2>/dev/null <"$GUEST_DIR/progress.txt" |
	    sed -n 's/^RNG-PROGRESS //p' | tail -n 1
}

# Boot guest number $1 reading $2 bytes, paused and resumed $3 times (0: no
# pauses, one read); sets GUEST_SECS and READ_SECS.
run_guest() {
	local dir initrd t0 t1 rc dev times rate pause_ok why
	dir=$TMP/guest$1
	GUEST_DIR=$dir
	mkdir -p "$dir/root"
	if [ "$3" -gt 0 ]; then
		write_guest_script "$2" "$dir/root/test.sh" 65536 /dev/ttyS1
	else
		write_guest_script "$2" "$dir/root/test.sh" "$2"
	fi
	(cd "$dir/root" && echo test.sh |
	    cpio -o -H newc -R 0:0 --quiet) >"$dir/test.cpio" ||
	    fail "cannot build the test cpio"
	initrd=$dir/initrd
	cat "$INITRD_BASE" "$dir/test.cpio" >"$initrd" ||
	    fail "cannot build the initrd"
	if [ "$RNG_DEVICE" = builtin ]; then
		dev="-device virtio-rng-pci$PACKED_PROPS"
	else
		dev="-chardev socket,id=c0,path=$TMP/rng.sock"
		dev="$dev -device vhost-user-rng-pci,chardev=c0"
		dev="$dev$PACKED_PROPS${VHOSTD_RNG_PROPS:+,$VHOSTD_RNG_PROPS}"
	fi
	t0=$(now)
	# shellcheck disable=SC2086 # $dev holds several arguments.
	# --foreground keeps QEMU in our process group, so killing the test
	# (Check kills the group on its timeout) kills QEMU too.  ttyS1 (a
	# file) carries the progress of a paused read; the monitor socket
	# takes the stop and cont commands.
	timeout --foreground -k 5 "$QEMU_TIMEOUT" \
	    "$QEMU" -M pc -accel tcg -m 256 \
	    -object memory-backend-memfd,id=mem,size=256M,share=on \
	    -numa node,memdev=mem -nodefaults -no-user-config \
	    -display none -serial stdio -no-reboot $dev \
	    -serial "file:$dir/progress.txt" \
	    -monitor "unix:$dir/mon.sock,server=on,wait=off" \
	    -kernel "$KERNEL" -initrd "$initrd" \
	    -append "console=ttyS0 quiet panic=-1 ${VHOSTD_QEMU_APPEND:-}" \
	    </dev/null >"$dir/serial.log" 2>"$dir/qemu.err" &
	QPID=$!
	pause_ok=1
	if [ "$3" -gt 0 ]; then
		vm_pauses "$dir/mon.sock" rng_progress "$2" "$3" ||
		    pause_ok=0
	fi
	wait "$QPID"
	rc=$?
	t1=$(now)
	GUEST_SECS=$(elapsed "$t0" "$t1")
	# The serial console ends lines with CR LF.
	tr -d '\r' <"$dir/serial.log" >"$dir/console.txt"
	if grep -q '^VHOSTD-RNG-FAIL' "$dir/console.txt"; then
		fail "guest: $(grep '^VHOSTD-RNG-FAIL' "$dir/console.txt" |
		    head -n 1)"
	fi
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		[ "$pause_ok" = 1 ] || fail "$PAUSE_ERR after $PAUSES_DONE" \
		    "of $3 pauses (QEMU killed)"
		fail "QEMU timed out after ${QEMU_TIMEOUT}s"
	fi
	grep -q "^VHOSTD-RNG-OK $2\$" "$dir/console.txt" ||
	    fail "no 'VHOSTD-RNG-OK $2' on the guest console (QEMU status $rc)"
	grep -q '^VHOSTD-GUEST-EXIT 0$' "$dir/console.txt" ||
	    fail "guest test did not exit 0"
	why=$(packed_host_check "$dir/console.txt" 1) || fail "$why"
	[ "$rc" -eq 0 ] || fail "QEMU exited with status $rc"
	[ "$pause_ok" = 1 ] || fail "$PAUSE_ERR"
	times=$(sed -n 's/^VHOSTD-RNG-TIME //p' "$dir/console.txt")
	READ_SECS=$(echo "$times" | awk '{ printf "%.2f", $2 - $1 }')
	rate=$(awk -v b="$2" -v s="$READ_SECS" \
	    'BEGIN { if (s > 0) printf "%d", b / s; else print "n/a" }')
	echo "run-rng.sh: guest $1: $2 bytes OK across $3 pauses; QEMU ran" \
	    "${GUEST_SECS}s, read took ${READ_SECS}s in the guest" \
	    "($rate bytes/s)"
}

# Wait up to $2 tenths of a second until the daemon log has $1 lines
# reporting a disconnected frontend; fail if the daemon dies meanwhile.
wait_disconnects() {
	local i
	i=0
	while [ "$(log_count 'frontend disconnected')" -lt "$1" ]; do
		kill -0 "$DAEMON_PID" 2>/dev/null ||
		    fail "vhostd died after the guest left"
		i=$((i + 1))
		if [ "$i" -ge "$2" ]; then
			echo "run-rng.sh: warning: no 'frontend disconnected'" \
			    "line in the vhostd log"
			return 0
		fi
		sleep 0.1
	done
}

# Start vhostd on $TMP/rng.sock and wait until its socket exists.
start_daemon() {
	[ -x "$BUILD_DIR/vhostd" ] || fail "no executable $BUILD_DIR/vhostd"
	# Mode pause: a rate limit long enough to pause the read 5 times.
	"$BUILD_DIR/vhostd" --module=rng --socket="$TMP/rng.sock" \
	    ${RATE_LIMIT:+--option=max-bytes=32768 --option=period=250} \
	    ${VHOSTD_LOG_LEVEL:+"--log-level=$VHOSTD_LOG_LEVEL"} \
	    </dev/null >"$TMP/vhostd.log" 2>&1 &
	DAEMON_PID=$!
	wait_sockets "$TMP/rng.sock"
}

# Stop the daemon with SIGTERM: it must exit 0 and remove its socket.
stop_daemon() {
	term_daemon
	[ ! -e "$TMP/rng.sock" ] || fail "vhostd left its socket behind"
}

trap cleanup_daemon EXIT
trap 'exit 1' INT TERM HUP

guest_setup /tmp/vhostd-qemu.XXXXXX
echo "run-rng.sh: setup took $(elapsed "$T0" "$(now)")s"

RATE_LIMIT=
GUEST1_PAUSES=0
if [ "$MODE" = pause ]; then
	RATE_LIMIT=1
	GUEST1_PAUSES=$PAUSES
fi
if [ "$RNG_DEVICE" != builtin ]; then
	STEP="start vhostd"
	start_daemon
fi

STEP="guest 1 ($BYTES1 bytes, $GUEST1_PAUSES pauses)"
run_guest 1 "$BYTES1" "$GUEST1_PAUSES"

if [ "$RNG_DEVICE" != builtin ]; then
	STEP="daemon after guest 1"
	wait_disconnects 1 100
	kill -0 "$DAEMON_PID" 2>/dev/null || fail "vhostd died after guest 1"
	[ -S "$TMP/rng.sock" ] || fail "socket gone after guest 1"
fi

STEP="guest 2 ($BYTES2 bytes, same daemon)"
run_guest 2 "$BYTES2" 0

if [ "$RNG_DEVICE" != builtin ]; then
	STEP="daemon after guest 2"
	wait_disconnects 2 100
	STEP="SIGTERM"
	stop_daemon
	echo "run-rng.sh: vhostd log: $(log_count 'frontend connected')" \
	    "connects, $(log_count 'frontend disconnected') disconnects"
fi
echo "run-rng.sh: PASS ($MODE, $RNG_DEVICE, kernel $KVER via $KERNEL_KIND," \
    "total $(elapsed "$T0" "$(now)")s)"
exit 0
