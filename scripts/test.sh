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
bash tests/summary.sh || status=1
exit $status
