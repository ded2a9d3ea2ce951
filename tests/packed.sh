#!/bin/sh
# The test frontend's suites again with packed virtqueues: every suite
# below runs with VHOSTD_FE_PACKED=1, so the test frontend negotiates
# VIRTIO_F_RING_PACKED and drives its queues as packed rings (fe_packed.c).
# Split-only cases inside them pin the split layout themselves.  A suite
# whose program was not built (a module left out) is skipped.
set -u
build=${VHOSTD_BUILD_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
VHOSTD_FE_PACKED=1
export VHOSTD_FE_PACKED
ran=0 failed=0
for t in check_integration_fe check_integration_entropy \
    check_integration_conn check_integration_malformed \
    check_lifecycle_core check_lifecycle \
    check_vsock_fe check_blk_fe check_packed_hostile check_inflight_fe; do
	if [ ! -x "$build/tests/$t" ]; then
		echo "packed.sh: $t not built, skipped"
		continue
	fi
	echo "packed.sh: $t with packed rings"
	ran=$((ran + 1))
	"$build/tests/$t" || { echo "packed.sh: FAIL: $t"; failed=$((failed + 1)); }
done
echo "packed.sh: $ran suites, $failed failed"
[ "$ran" -gt 0 ] && [ "$failed" -eq 0 ]
