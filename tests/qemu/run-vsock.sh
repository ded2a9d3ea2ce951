#!/bin/sh
# End-to-end test: a QEMU guest talks AF_VSOCK through vhostd's vsock module.
#
#	run-vsock.sh [basic | pause]
#
# Starts "vhostd --vm guest-cid=3,socket=TMP/vhost.sock,uds-path=TMP/vm.vsock"
# (vhost-device-vsock's command-line form), boots a guest (setup.sh's kernel
# and initramfs plus a static tests/qemu/guest/vsock-test) under TCG with
# vhost-user-vsock-pci, and checks:
#
# basic (the default):
#   - guest -> host: the guest connects to host port 5000 (a unix listener
#     at TMP/vm.vsock_5000) and sends BYTES; the host checksums them after
#     the guest's half-close (SHUT_WR) and answers the sum, which the guest
#     compares (half-close seen on the host, reverse direction still open);
#   - host -> guest: the host connects to TMP/vm.vsock with "CONNECT 1234"
#     and sends BYTES to a guest listener, half-closes, and gets the
#     guest's sum back (half-close seen in the guest);
#   - a guest connect to a port without a host listener fails within 1 s;
#   - seqpacket (when the guest negotiated it): messages of 1 B..100 KB
#     echoed by a SOCK_SEQPACKET unix listener keep their boundaries;
#   - the VM is paused and resumed up to VSOCK_PAUSES times (default 10)
#     with QEMU's monitor ("stop", then "cont" at once) while the transfers
#     run, and every connection survives (issue 8: a pause used to reset
#     them);
# pause:
#   - the guest connects to host port 5001, where a unix listener
#     (vsock-test host-echo at TMP/vm.vsock_5001) echoes 32 MiB back at
#     4 MiB/s, and checks every byte comes back in order while the script
#     pauses and resumes the VM 5 times through QEMU's monitor (HMP stop
#     and cont: SET_VRING_ENABLE 0 and GET_VRING_BASE per queue, then the
#     queues set up again), each pause at the next sixth of the transfer as
#     the host echo counts it (the echo holds there until the pause is
#     over); the connection must survive every pause;
# and in both modes SIGTERM stops the daemon with status 0 and removes its
# sockets.
#
# Environment: as run-rng.sh (VHOSTD_BUILD_DIR, VHOSTD_QEMU_CACHE,
# VHOSTD_QEMU_TIMEOUT, VHOSTD_LOG_LEVEL, VHOSTD_KEEP_TMP,
# VHOSTD_QEMU_APPEND, QEMU, VHOSTD_PACKED; VHOSTD_QEMU_PAUSES, VM_PAUSE_SECS and
# VM_STALL_SECS in mode pause), plus VSOCK_BYTES (default 8 MiB each way,
# 32 MiB echoed in mode pause), VSOCK_PAUSES (mode basic, default 10),
# VSOCK_ECHO_RATE (mode pause, bytes/s, default 4 MiB), VSOCK_SEQPACKET=0
# to skip the seqpacket part, CC (default cc).
#
# Exit status 0 on success; 1 with a "run-vsock.sh: FAIL: step: ..." line.

set -u

# shellcheck disable=SC2034 # ME is read by lib.sh.
ME=run-vsock.sh
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=${VHOSTD_BUILD_DIR:-$(cd "$SCRIPT_DIR/../.." && pwd)}
export VHOSTD_BUILD_DIR=$BUILD_DIR
# shellcheck source=tests/qemu/lib.sh
. "$SCRIPT_DIR/lib.sh"
MODE=${1:-basic}
# shellcheck source=tests/qemu/packed.sh
. "$SCRIPT_DIR/packed.sh"
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_TIMEOUT=${VHOSTD_QEMU_TIMEOUT:-180}
case $MODE in
basic)	BYTES=${VSOCK_BYTES:-8388608}
	PAUSES=${VSOCK_PAUSES:-10} ;;
pause)	BYTES=${VSOCK_BYTES:-33554432}
	PAUSES=${VHOSTD_QEMU_PAUSES:-5} ;;
*)	echo "usage: run-vsock.sh [basic | pause]" >&2; exit 2 ;;
esac
RATE=${VSOCK_ECHO_RATE:-4194304}
SEQ=${VSOCK_SEQPACKET:-1}
CC=${CC:-cc}

TMP=
DAEMON_PID=
PIDS=
STEP=start

# Report the failure of the current step with the logs, and exit.
fail() {
	echo "run-vsock.sh: FAIL: $STEP: $*"
	if [ -n "$TMP" ]; then
		show_tail "guest console" "$TMP/console.txt"
		show_tail "QEMU stderr" "$TMP/qemu.err"
		for f in "$TMP"/host-*.log; do
			[ -f "$f" ] && show_tail "host helper" "$f"
		done
		show_tail "vhostd log" "$TMP/vhostd.log"
	fi
	exit 1
}

# Stop what is still running and remove the temporary directory.
cleanup() {
	for p in $PIDS $DAEMON_PID; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$TMP" ] && [ "${VHOSTD_KEEP_TMP:-0}" != 1 ]; then
		rm -rf "$TMP"
	elif [ -n "$TMP" ]; then
		echo "run-vsock.sh: kept $TMP"
	fi
}

# Write the guest's /test.sh for mode pause to $1: one echoed stream.
write_guest_script_pause() {
	cat >"$1" <<EOF
#!/bin/sh
# Guest side of run-vsock.sh pause: stream $BYTES bytes to host port 5001
# and check their echo while the host pauses and resumes the VM.
EOF
	packed_guest_check 0x0013 >>"$1"
	cat >>"$1" <<EOF
echo "VSOCK-GUEST-READY"
/bin/vsock-test echo 2 5001 $BYTES
EOF
}

# Print the bytes the host echo has seen so far (0 before it starts).
# Let the host echo go on past hold $1 (vsock-test host-echo HOLDS).
release_echo() {
	: >"$TMP/vm.vsock_5001.go$1"
}

echo_progress() {
	sed -n 's/^VSOCK-PROGRESS //p' "$TMP/host-echo.log" 2>/dev/null |
	    tail -n 1
}

# Write the guest's /test.sh for mode basic to $1.
write_guest_script() {
	cat >"$1" <<EOF
#!/bin/sh
# Guest side of run-vsock.sh.
BYTES=$BYTES
SEQ=$SEQ
EOF
	packed_guest_check 0x0013 >>"$1"
	cat >>"$1" <<'EOF'
rc=0
/bin/vsock-test recv 1234 "$BYTES" >/tmp/recv.log 2>&1 &
rpid=$!
i=0
until grep -q VSOCK-LISTENING /tmp/recv.log; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || { echo "VSOCK-FAIL guest listener"; exit 1; }
	sleep 0.1
done
echo "VSOCK-GUEST-READY"
/bin/vsock-test refused 2 6000 || rc=1
/bin/vsock-test send 2 5000 "$BYTES" || rc=1
if [ "$SEQ" = 1 ]; then
	if grep -q . /sys/bus/virtio/devices/*/features 2>/dev/null; then
		for f in /sys/bus/virtio/devices/*/features; do
			d=$(dirname "$f")
			[ "$(cat "$d/device")" = 0x0013 ] || continue
			echo "VSOCK-FEATURES $(cat "$f")"
		done
	fi
	/bin/vsock-test seq 2 7000 || rc=1
fi
wait "$rpid" || rc=1
cat /tmp/recv.log
exit $rc
EOF
}

# Start vhostd in the --vm form and wait for its sockets.
start_daemon() {
	local i
	[ -x "$BUILD_DIR/vhostd" ] || fail "no executable $BUILD_DIR/vhostd"
	"$BUILD_DIR/vhostd" \
	    --vm "guest-cid=3,socket=$TMP/vhost.sock,uds-path=$TMP/vm.vsock" \
	    ${VHOSTD_LOG_LEVEL:+"--log-level=$VHOSTD_LOG_LEVEL"} \
	    </dev/null >"$TMP/vhostd.log" 2>&1 &
	DAEMON_PID=$!
	i=0
	while [ ! -S "$TMP/vhost.sock" ]; do
		kill -0 "$DAEMON_PID" 2>/dev/null ||
		    fail "vhostd exited before listening"
		i=$((i + 1))
		[ "$i" -lt 100 ] || fail "no sockets after 10s"
		sleep 0.1
	done
}

# Stop the daemon with SIGTERM: status 0, sockets removed.
stop_daemon() {
	local rc
	kill -TERM "$DAEMON_PID" || fail "cannot signal vhostd"
	wait "$DAEMON_PID"
	rc=$?
	DAEMON_PID=
	[ "$rc" -eq 0 ] || fail "vhostd exited with status $rc after SIGTERM"
	[ ! -e "$TMP/vhost.sock" ] || fail "vhostd left its socket behind"
	[ ! -e "$TMP/vm.vsock" ] || fail "vhostd left the uds-path behind"
}

# Check that helper log $1 has a VSOCK-OK line; print it.
check_helper() {
	grep -q '^VSOCK-OK' "$1" || fail "$(basename "$1"): $(grep -h \
	    '^VSOCK-FAIL' "$1" | head -n 1) (no VSOCK-OK)"
	echo "run-vsock.sh: host: $(grep -h '^VSOCK-OK' "$1")"
}

trap cleanup EXIT
trap 'exit 1' INT TERM HUP

guest_setup /tmp/vhostd-vsock.XXXXXX

STEP="build vsock-test"
SRC_DIR=${VHOSTD_SRC_DIR:-$(cd "$SCRIPT_DIR/../.." && pwd)}
"$CC" -static -O2 -o "$TMP/vsock-test" \
    "$SRC_DIR/tests/qemu/guest/vsock-test.c" 2>"$TMP/cc.err" ||
    fail "cannot build a static vsock-test: $(head -n 3 "$TMP/cc.err")"
mkdir -p "$TMP/root/bin"
cp "$TMP/vsock-test" "$TMP/root/bin/vsock-test"
if [ "$MODE" = pause ]; then
	write_guest_script_pause "$TMP/root/test.sh"
else
	write_guest_script "$TMP/root/test.sh"
fi
(cd "$TMP/root" && printf 'test.sh\nbin\nbin/vsock-test\n' |
    cpio -o -H newc -R 0:0 --quiet) >"$TMP/test.cpio" ||
    fail "cannot build the test cpio"
cat "$INITRD_BASE" "$TMP/test.cpio" >"$TMP/initrd" ||
    fail "cannot build the initrd"

STEP="start vhostd"
start_daemon

STEP="host helpers"
if [ "$MODE" = pause ]; then
	# The echo holds at each pause point until that pause is over, so
	# the transfer cannot outrun the monitor on a loaded machine.
	"$TMP/vsock-test" host-echo "$TMP/vm.vsock_5001" "$BYTES" "$RATE" \
	    "$PAUSES" >"$TMP/host-echo.log" 2>&1 &
	HECHO=$!
	PIDS="$PIDS $HECHO"
	LISTENER=$TMP/vm.vsock_5001
else
	"$TMP/vsock-test" host-recv "$TMP/vm.vsock_5000" "$BYTES" \
	    >"$TMP/host-recv.log" 2>&1 &
	HRECV=$!
	PIDS="$PIDS $HRECV"
	LISTENER=$TMP/vm.vsock_5000
fi
if [ "$MODE" = basic ] && [ "$SEQ" = 1 ]; then
	"$TMP/vsock-test" host-seq-echo "$TMP/vm.vsock_7000" 8 \
	    >"$TMP/host-seq.log" 2>&1 &
	PIDS="$PIDS $!"
	HSEQ=$!
fi
i=0
until [ -S "$LISTENER" ]; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || fail "host listener did not start"
	sleep 0.1
done

STEP="guest"
T1=$(now)
# --foreground keeps QEMU in our process group (Check kills the group on
# its timeout).  The monitor socket takes the pauses (HMP stop and cont).
timeout --foreground -k 5 "$QEMU_TIMEOUT" "$QEMU" -M pc -accel tcg -m 256 \
    -object memory-backend-memfd,id=mem,size=256M,share=on \
    -numa node,memdev=mem -nodefaults -no-user-config \
    -display none -serial stdio -no-reboot \
    -monitor "unix:$TMP/mon.sock,server=on,wait=off" \
    -chardev "socket,id=c0,path=$TMP/vhost.sock" \
    -device vhost-user-vsock-pci,chardev=c0$PACKED_PROPS \
    -kernel "$KERNEL" -initrd "$TMP/initrd" \
    -append "console=ttyS0 quiet panic=-1 ${VHOSTD_QEMU_APPEND:-}" \
    </dev/null >"$TMP/serial.log" 2>"$TMP/qemu.err" &
QPID=$!
PIDS="$PIDS $QPID"
PAUSE_OK=1
HPAUSE=
if [ "$MODE" = pause ]; then
	VM_PAUSE_RELEASE=release_echo
	vm_pauses "$TMP/mon.sock" echo_progress "$BYTES" "$PAUSES" ||
	    PAUSE_OK=0
else
	"$TMP/vsock-test" host-send "$TMP/vm.vsock" 1234 "$BYTES" \
	    >"$TMP/host-send.log" 2>&1 &
	HSEND=$!
	PIDS="$PIDS $HSEND"
	if [ "$PAUSES" -gt 0 ]; then
		vm_pause_loop "$TMP/mon.sock" "$PAUSES" "$TMP/serial.log" \
		    VSOCK-GUEST-READY GUEST-EXIT >"$TMP/pauses.txt" 2>&1 &
		HPAUSE=$!
		PIDS="$PIDS $HPAUSE"
	fi
fi
wait "$QPID"
QRC=$?
T2=$(now)
tr -d '\r' <"$TMP/serial.log" >"$TMP/console.txt"
grep '^VSOCK-' "$TMP/console.txt" | sed 's/^/run-vsock.sh: guest: /'
if grep -q '^VSOCK-FAIL' "$TMP/console.txt"; then
	msg=$(grep '^VSOCK-FAIL' "$TMP/console.txt" | head -n 1)
	if [ "$MODE" = pause ]; then
		msg="$msg; host echo saw $(echo_progress) bytes after"
		msg="$msg $PAUSES_DONE of $PAUSES pauses"
		msg="$msg$(grep -h '^VSOCK-FAIL' "$TMP/host-echo.log" |
		    sed 's/^/, host: /')"
	fi
	fail "$msg"
fi
if [ "$QRC" -eq 124 ] || [ "$QRC" -eq 137 ]; then
	[ -z "${PAUSE_ERR:-}" ] || fail "$PAUSE_ERR (QEMU killed)"
	fail "QEMU timed out after ${QEMU_TIMEOUT}s"
fi
grep -q '^VSOCK-GUEST-EXIT 0$' "$TMP/console.txt" ||
    grep -q '^VHOSTD-GUEST-EXIT 0$' "$TMP/console.txt" ||
    fail "guest test did not exit 0 (QEMU status $QRC)"
WANT_OK=3
[ "$MODE" = pause ] && WANT_OK=1
[ "$(grep -c '^VSOCK-OK' "$TMP/console.txt")" -ge "$WANT_OK" ] ||
    fail "fewer than $WANT_OK VSOCK-OK lines from the guest"
[ "$QRC" -eq 0 ] || fail "QEMU exited with status $QRC"
why=$(packed_host_check "$TMP/console.txt" 1) || fail "$why"

STEP="host results"
if [ "$MODE" = pause ]; then
	wait "$HECHO" 2>/dev/null
	check_helper "$TMP/host-echo.log"
	STEP="pauses"
	[ "$PAUSE_OK" = 1 ] || fail "$PAUSE_ERR"
else
	wait "$HRECV" 2>/dev/null
	wait "$HSEND" 2>/dev/null
	check_helper "$TMP/host-recv.log"
	check_helper "$TMP/host-send.log"
	if [ -n "$HPAUSE" ]; then
		wait "$HPAUSE" 2>/dev/null
		n=$(tail -n 1 "$TMP/pauses.txt")
		[ "${n:-0}" -gt 0 ] 2>/dev/null ||
		    fail "the VM was never paused during the transfers:" \
		    "$(head -n 3 "$TMP/pauses.txt")"
		echo "run-vsock.sh: $n pauses; vhostd saw" \
		    "$(grep -c 'queue 1 stopped' "$TMP/vhostd.log") tx queue" \
		    "stops"
	fi
	if [ "$SEQ" = 1 ]; then
		wait "$HSEQ" 2>/dev/null
		check_helper "$TMP/host-seq.log"
	fi
fi
PIDS=

STEP="SIGTERM"
stop_daemon
if [ "$MODE" = pause ]; then
	what="$BYTES bytes echoed across $PAUSES pauses"
else
	what="$BYTES bytes each way"
fi
echo "run-vsock.sh: PASS ($MODE, kernel $KVER via $KERNEL_KIND, $what," \
    "guest ran $(elapsed "$T1" "$T2")s, total $(elapsed "$T0" "$(now)")s)"
exit 0
