#!/bin/sh
# Run the test suites under sanitizers, each kind in its own copy of the
# tree: ASan+UBSan (--enable-asan) over the unit, integration and hostile
# suites, then TSan (--enable-tsan) over the threaded parts (workers and
# rings, request dispatch with memory updates while queues run, the live
# daemon).  Zero reports required: the sanitizers halt on the first error,
# the daemon tests fail on any "Sanitizer" or "runtime error:" line in a
# daemon log, and a non-zero exit of any suite fails the run.
#
# The QEMU tests run under ASan too (set VHOSTD_QEMU_CACHE to share the
# guest kernel and initramfs with the normal build); TSan leaves them out.
#
# usage: scripts/sanitize.sh [asan|tsan]...      (default: asan tsan)
# env:   SAN_BUILD_DIR  where the copies go (default: a new temp dir,
#                       removed on success)
#        SAN_ASAN_TESTS, SAN_TSAN_TESTS  the suites to run (default: all
#                       under ASan / the threaded ones under TSan)
#        CC             the compiler (default gcc)
set -eu

kinds=${*:-asan tsan}
src=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${SAN_BUILD_DIR:-}" ]; then
	top=$SAN_BUILD_DIR
	keep=1
else
	top=$(mktemp -d "${TMPDIR:-/tmp}/vhostd-san.XXXXXX")
	keep=0
fi
jobs=$(nproc 2>/dev/null || echo 2)

asan_tests=${SAN_ASAN_TESTS:-"tests/check_guest_mem tests/check_vring \
tests/check_vring_hostile tests/check_vring_device tests/check_worker \
tests/check_vring_packed tests/check_vring_packed_hostile \
tests/check_packed_hostile tests/check_vu_msg \
tests/check_vu_msg_mem tests/check_vu_msg_device tests/check_conf \
tests/check_module tests/check_cli tests/check_rng tests/check_rng_pool \
tests/check_integration_fe tests/check_integration_entropy \
tests/check_integration_conn tests/check_integration_malformed \
tests/check_lifecycle_core tests/check_hostile_msg \
tests/check_hostile_mem tests/check_hostile_guest tests/check_hostile_faults \
tests/check_hostile_priv \
tests/check_console \
tests/check_console_fe tests/check_console_tty tests/check_lifecycle \
tests/check_vsock tests/check_vsock_group \
tests/check_vsock_fe tests/check_vsock_fe_limits tests/check_vsock_pause \
tests/check_qemu tests/check_qemu_vsock \
tests/check_blk tests/check_blk_queue tests/check_blk_fe tests/check_hostile_blk \
tests/check_qemu_blk tests/check_sysd tests/check_control tests/check_pool \
tests/check_dev_state tests/check_dev_state_hostile tests/check_dev_state_core \
tests/check_inflight tests/check_inflight_packed tests/check_inflight_fe \
tests/check_postcopy"}
tsan_tests=${SAN_TSAN_TESTS:-"tests/check_vring tests/check_vring_hostile \
tests/check_vring_device tests/check_worker tests/check_vu_msg \
tests/check_vu_msg_mem tests/check_vu_msg_device \
tests/check_packed_hostile \
tests/check_integration_fe tests/check_integration_entropy \
tests/check_integration_conn tests/check_integration_malformed \
tests/check_lifecycle_core tests/check_hostile_msg \
tests/check_hostile_mem tests/check_hostile_guest tests/check_hostile_faults \
tests/check_hostile_priv \
tests/check_console_fe \
tests/check_console_tty tests/check_lifecycle \
tests/check_vsock_fe tests/check_vsock_fe_limits tests/check_vsock_pause \
tests/check_blk_fe tests/check_hostile_blk tests/check_control tests/check_pool \
tests/check_dev_state tests/check_dev_state_hostile tests/check_dev_state_core \
tests/check_inflight_fe tests/check_postcopy"}

# Copy the sources (not another build's products) into $1.
san_copy()
{
	mkdir -p "$1"
	tar -C "$src" -cf - --exclude=.git --exclude='*.o' --exclude='*.lo' \
	    --exclude='*.la' --exclude=.libs --exclude=.deps \
	    --exclude=autom4te.cache --exclude=config.status \
	    --exclude=config.log --exclude=./Makefile --exclude=./config.h \
	    --exclude=./libtool --exclude=./stamp-h1 --exclude=./vhostd \
	    --exclude=tests/qemu/cache --exclude='*.log' --exclude='*.trs' \
	    . | tar -C "$1" -xf -
}

status=0
for kind in $kinds; do
	case $kind in
	asan)
		tests=$asan_tests
		cflags="-g -O1"
		;;
	tsan)
		tests=$tsan_tests
		# gcc 12 warns that TSan does not model atomic_thread_fence;
		# the fences order guest-shared memory, which another process
		# (the frontend) sees, not our threads.
		cflags="-g -O1 -Wno-tsan"
		;;
	*)
		echo "sanitize.sh: unknown kind '$kind' (asan or tsan)" >&2
		exit 2
		;;
	esac
	dir=$top/$kind
	echo "sanitize: $kind in $dir"
	san_copy "$dir"
	(
		cd "$dir"
		[ -x configure ] || autoreconf -fi >/dev/null 2>&1
		./configure -q CC="${CC:-gcc}" CFLAGS="$cflags" \
		    "--enable-$kind" \
		    >"$dir/configure.out" 2>&1 ||
		    { cat "$dir/configure.out"; exit 1; }
		make -s -j"$jobs" >/dev/null
		# The sanitizers report to the daemon logs the suites check;
		# a forked Check child exits through the sanitizer's exit
		# code when it finds an error.
		ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:exitcode=23:abort_on_error=0
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
		TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1
		# Everything is slower under a sanitizer.
		CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4}
		export ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS \
		    CK_TIMEOUT_MULTIPLIER
		# TSan needs a predictable address-space layout on kernels
		# with high mmap randomisation.
		wrap=""
		if [ "$kind" = tsan ] && setarch "$(uname -m)" -R true \
		    2>/dev/null; then
			wrap="setarch $(uname -m) -R"
		fi
		# shellcheck disable=SC2086
		# Only the suites named here are built and run.
		$wrap make -s -j"$jobs" check TESTS="$tests" \
		    check_PROGRAMS="$tests"
	) || status=1
	if [ $status -ne 0 ]; then
		echo "sanitize: $kind FAILED (logs in $dir/tests/*.log)"
		for f in "$dir"/tests/*.log; do
			[ -f "$f" ] || continue
			grep -l 'FAIL\|ERROR\|Sanitizer\|runtime error' "$f" \
			    >/dev/null 2>&1 && tail -n 60 "$f"
		done
		keep=1
		break
	fi
	echo "sanitize: $kind clean"
done
[ $keep -eq 0 ] && rm -rf "$top"
exit $status
