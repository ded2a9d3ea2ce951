#!/usr/bin/env bash
# Build vhostd and run the whole test suite: Check unit suites, the
# integration suite against a live daemon, the QEMU guest test, the
# out-of-tree module build, make distcheck, the Debian packages
# (scripts/deb.sh), the sanitizer runs and the
# fuzz targets (FUZZ_SECONDS each, default 40, two at a time).  Ends with the Check
# summary lines and a total.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
status=0
if ! make -j2 check; then
	status=1
	# The failing suites' own words (Check's failure lines, a script's
	# FAIL line), so a CI log shows why and not only which.
	for trs in tests/*.trs; do
		grep -q '^:test-result: FAIL' "$trs" 2>/dev/null || continue
		log=${trs%.trs}.log
		echo "---- $log (failures and last 30 lines) ----"
		grep -E ':[EF]:|FAIL' "$log" | head -n 20
		tail -n 30 "$log"
	done
fi
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
# The Debian packages: built from a copy of the tree, lintian, installed
# on this machine, `vhostd -n` on the installed config, man -l, purged.
if bash scripts/deb.sh >tests/deb.out 2>&1; then
	grep -E '^deb: ' tests/deb.out >tests/deb.log
else
	tail -n 60 tests/deb.out
	grep -E '^deb: ' tests/deb.out >tests/deb.log ||
	    echo "deb: 0 passed, 1 failed" >tests/deb.log
	status=1
fi
# The suites again under ASan+UBSan and under TSan, each in its own copy
# of the tree; then every libFuzzer target for a bounded time.
if VHOSTD_QEMU_CACHE="$(pwd)/tests/qemu/cache" \
    sh scripts/sanitize.sh asan tsan >tests/sanitize.out 2>&1; then
	echo "sanitize: 1 passed, 0 failed" >tests/sanitize.log
else
	tail -n 60 tests/sanitize.out
	echo "sanitize: 0 passed, 1 failed" >tests/sanitize.log
	status=1
fi
grep -E '^(sanitize|PASS|FAIL)' tests/sanitize.out | tail -n 40
if bash scripts/valgrind.sh 1000 >tests/valgrind.out 2>&1; then
	cp tests/valgrind.out tests/valgrind.log
else
	status=1
	cp tests/valgrind.out tests/valgrind.log
fi
grep -E '^valgrind' tests/valgrind.out
if FUZZ_JOBS=${FUZZ_JOBS:-2} sh scripts/fuzz.sh "${FUZZ_SECONDS:-40}" \
    >tests/fuzz.out 2>&1; then
	echo "fuzz: 1 passed, 0 failed" >tests/fuzz.log
else
	tail -n 60 tests/fuzz.out
	echo "fuzz: 0 passed, 1 failed" >tests/fuzz.log
	status=1
fi
grep -E '^fuzz' tests/fuzz.out | tail -n 10
bash tests/summary.sh || status=1
exit $status
