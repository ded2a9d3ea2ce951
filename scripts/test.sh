#!/usr/bin/env bash
# Build vhostd and run the whole test suite: Check unit suites, the
# integration suite against a live daemon, the QEMU guest test, the
# out-of-tree module build, and make distcheck.  Ends with the Check
# summary lines and a total.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
status=0
make -j2 check || status=1
# The release tarball must build and pass its tests too; it shares the
# QEMU guest cache built above.
if VHOSTD_QEMU_CACHE="$(pwd)/tests/qemu/cache" make -j2 distcheck \
    >tests/distcheck.out 2>&1; then
	echo "distcheck: 1 passed, 0 failed" >tests/distcheck.log
else
	tail -n 40 tests/distcheck.out
	echo "distcheck: 0 passed, 1 failed" >tests/distcheck.log
	status=1
fi
bash tests/summary.sh || status=1
exit $status
