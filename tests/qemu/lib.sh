# shellcheck shell=sh
# Shell functions shared by the QEMU end-to-end scripts (run-rng.sh,
# run-vsock.sh, run-blk.sh), sourced after they set:
#   ME          the script's name, prefixing every line it prints
#   BUILD_DIR   the build tree (tests/qemu-hmp lives there)
# and define fail(), which reports the current step and exits.  The daemon
# helpers below use the scripts' TMP (their temporary directory, holding
# vhostd.log), DAEMON_PID and STEP.

# "local" is not POSIX but dash, bash and busybox ash all have it.
# shellcheck disable=SC3043
# PAUSE_ERR and PAUSES_DONE are read by the scripts.
# shellcheck disable=SC2034

# Print the current time in seconds with fractions.
now() {
	date +%s.%N
}

# Print the difference $2 - $1 of two times, in seconds with 2 decimals.
elapsed() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'
}

# Print the last lines of file $2 under the title $1, if the file exists.
show_tail() {
	if [ -s "$2" ]; then
		echo "---- $1 (last 60 lines of $2) ----"
		tail -n 60 "$2"
		echo "---- end of $1 ----"
	fi
}

# Run the HMP commands $2... on the monitor socket $1 (QEMU started with
# -monitor unix:$1,server=on,wait=off); print their output.  Each command
# has completed when it returns.
hmp() {
	"$BUILD_DIR/tests/qemu-hmp" "$@"
}

# Print "running", "paused" or the raw answer of "info status" on monitor $1.
vm_status() {
	hmp "$1" "info status" 2>&1 |
	    sed -n 's/^VM status: \([a-z]*\).*/\1/p;/^qemu-hmp:/p' | head -n 1
}

# Pause and resume the VM behind monitor $1 (HMP stop, then cont) up to $2
# times in a row, from when file $3 (the guest console) holds the string
# $4 until it holds $5 (the guest's I/O started, then ended).  Each pause
# lasts $6 seconds (default 0: cont as soon as stop has completed) and $7
# seconds (default 0) separate a cont from the next stop.  Prints the
# number of pauses made, after a "qemu-hmp: ..." error if the monitor
# failed.  QEMU process $QPID exiting ends it.  Meant to run while the
# guest's I/O runs, in the background or in $(...).
vm_pause_loop() {
	local i
	i=0
	until grep -q -- "$4" "$3" 2>/dev/null; do
		kill -0 "$QPID" 2>/dev/null || break
		sleep 0.05
	done
	while [ "$i" -lt "$2" ] && kill -0 "$QPID" 2>/dev/null &&
	    ! grep -q -- "$5" "$3" 2>/dev/null; do
		hmp "$1" stop >/dev/null || break
		sleep "${6:-0}"
		hmp "$1" cont >/dev/null || break
		i=$((i + 1))
		sleep "${7:-0}"
	done
	echo "$i"
}

# Wait until the command $1 prints a progress of at least $2 bytes (of a
# transfer of $3) before step $4 (for messages).  Returns 0 once it does;
# returns 1 with the reason in PAUSE_ERR if QEMU process $QPID exits first
# or the progress stays put for VM_STALL_SECS (default 60) seconds, in
# which case QEMU is killed.
vm_wait_progress() {
	local p last t_last stall
	stall=${VM_STALL_SECS:-60}
	last=-1
	t_last=$(date +%s)
	while :; do
		p=$($1)
		p=${p:-0}
		[ "$p" -ge "$2" ] && return 0
		if ! kill -0 "$QPID" 2>/dev/null; then
			PAUSE_ERR="QEMU exited before $4, with the transfer at $p of $3 bytes"
			return 1
		fi
		if [ "$p" != "$last" ]; then
			last=$p
			t_last=$(date +%s)
		elif [ $(($(date +%s) - t_last)) -ge "$stall" ]; then
			PAUSE_ERR="no progress for ${stall}s before $4: stuck at $p of $3 bytes"
			kill -KILL "$QPID" 2>/dev/null
			return 1
		fi
		sleep 0.05
	done
}

# Pause and resume the VM (HMP stop, then cont) $4 times while a transfer
# of $3 bytes runs, so that every pause lands in the middle of it, then
# wait for the transfer to end.  $1 is the monitor socket, $2 a command
# printing the transfer's progress in bytes (0 before it starts).  Pause k
# starts once the progress reaches k * $3 / ($4 + 1) and lasts
# VM_PAUSE_SECS (default 1) seconds; each one is checked with
# "info status" and logged.  The VM must be QEMU process $QPID.  When
# VM_PAUSE_RELEASE names a command, it runs with k after resume k (a
# transfer that holds at each pause point goes on then).
#
# Returns 0 when all pauses landed and the transfer ended.  Returns 1 with
# the reason in PAUSE_ERR when QEMU exits first, the progress stalls (see
# vm_wait_progress), a pause would land after the transfer's end, or the
# monitor does not answer: the caller looks at the guest's own report
# first, which says more.  PAUSES_DONE counts the pauses done.
vm_pauses() {
	local mon progress total count k p0 p1 st secs
	mon=$1 progress=$2 total=$3 count=$4
	secs=${VM_PAUSE_SECS:-1}
	PAUSE_ERR=
	PAUSES_DONE=0
	k=1
	while [ "$k" -le "$count" ]; do
		vm_wait_progress "$progress" $((k * total / (count + 1))) \
		    "$total" "pause $k" || return 1
		hmp "$mon" stop >/dev/null || {
			PAUSE_ERR="monitor: stop $k failed"
			return 1
		}
		p0=$($progress)
		p0=${p0:-0}
		if [ "$p0" -ge "$total" ]; then
			PAUSE_ERR="pause $k landed after the transfer ended ($p0 of $total bytes): it went too fast"
			return 1
		fi
		st=$(vm_status "$mon")
		[ "$st" = paused ] || {
			PAUSE_ERR="after stop $k the VM status is '$st', not paused"
			return 1
		}
		sleep "$secs"
		p1=$($progress)
		p1=${p1:-0}
		hmp "$mon" cont >/dev/null || {
			PAUSE_ERR="monitor: cont $k failed"
			return 1
		}
		st=$(vm_status "$mon")
		[ "$st" = running ] || {
			PAUSE_ERR="after cont $k the VM status is '$st', not running"
			return 1
		}
		echo "$ME: pause $k: stopped at $p0 of $total bytes for ${secs}s" \
		    "($((p1 - p0)) bytes moved while stopped), resumed"
		[ -z "${VM_PAUSE_RELEASE:-}" ] || $VM_PAUSE_RELEASE "$k"
		PAUSES_DONE=$k
		k=$((k + 1))
	done
	vm_wait_progress "$progress" "$total" "$total" "the end" || return 1
	return 0
}

# Report the failure of step $STEP with the reason $*: the tails of each
# guest's console and QEMU stderr ($TMP/guest*/), of the vhostd log, and
# how to get more detail; exit 1.
fail_with_logs() {
	local f
	echo "$ME: FAIL: $STEP: $*"
	if [ -n "$TMP" ]; then
		for f in "$TMP"/guest*/console.txt; do
			[ -f "$f" ] && show_tail "guest console" "$f"
		done
		for f in "$TMP"/guest*/qemu.err; do
			[ -f "$f" ] && show_tail "QEMU stderr" "$f"
		done
		show_tail "vhostd log" "$TMP/vhostd.log"
	fi
	echo "$ME: for more detail rerun with" \
	    "VHOSTD_LOG_LEVEL=debug VHOSTD_QEMU_APPEND=loglevel=7"
	exit 1
}

# Kill the daemon if it still runs and remove $TMP (kept, and said so,
# with VHOSTD_KEEP_TMP=1).  For the EXIT trap.
cleanup_daemon() {
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -KILL "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	if [ -n "$TMP" ] && [ "${VHOSTD_KEEP_TMP:-0}" != 1 ]; then
		rm -rf "$TMP"
	elif [ -n "$TMP" ]; then
		echo "$ME: kept $TMP"
	fi
}

# Print how many lines of the daemon log contain string $1.
log_count() {
	grep -c -F -- "$1" "$TMP/vhostd.log" 2>/dev/null || true
}

# Wait up to 10 s until the sockets $@ exist; fail if the daemon exits
# first.
wait_sockets() {
	local i s
	i=0
	for s in "$@"; do
		while [ ! -S "$s" ]; do
			kill -0 "$DAEMON_PID" 2>/dev/null ||
			    fail "vhostd exited before listening"
			i=$((i + 1))
			[ "$i" -lt 100 ] || fail "no socket $s after 10s"
			sleep 0.1
		done
	done
}

# Stop the daemon with SIGTERM: it must exit with status 0 within 10 s.
term_daemon() {
	local i rc
	kill -TERM "$DAEMON_PID" || fail "cannot signal vhostd"
	i=0
	while kill -0 "$DAEMON_PID" 2>/dev/null; do
		# A zombie still answers kill -0; wait reaps it below.
		[ "$(sed 's/.*) //' "/proc/$DAEMON_PID/stat" 2>/dev/null |
		    cut -c1)" != Z ] || break
		i=$((i + 1))
		[ "$i" -lt 100 ] ||
		    fail "vhostd still running 10s after SIGTERM"
		sleep 0.1
	done
	wait "$DAEMON_PID"
	rc=$?
	DAEMON_PID=
	[ "$rc" -eq 0 ] || fail "vhostd exited with status $rc after SIGTERM"
}

# Step "setup": prepare the guest kernel and initramfs (setup.sh), read
# the guest.env it wrote, check that $QEMU exists, and make the temporary
# directory TMP from the mktemp template $1.  T0 is set to the start.
guest_setup() {
	STEP=setup
	T0=$(now)
	"$SCRIPT_DIR/setup.sh" || fail "setup.sh failed"
	# shellcheck disable=SC1091
	. "${VHOSTD_QEMU_CACHE:-$BUILD_DIR/tests/qemu/cache}/guest.env" ||
	    fail "cannot read guest.env"
	command -v "$QEMU" >/dev/null 2>&1 || fail "$QEMU not found"
	TMP=$(mktemp -d "$1") || fail "mktemp failed"
}
