#!/usr/bin/env bash
# Print each test's summary line (Check's "N%: Checks: ..." or the
# script's "N passed, N failed") and the total over all tests.
cd "$(dirname "$0")/.."
passed=0 failed=0
for log in tests/*.log; do
	case "$log" in */test-suite.log) continue ;; esac
	name=$(basename "$log" .log)
	line=$(grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		echo "$name:"
		echo "$line"
		c=$(sed -E 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/' <<<"$line")
		read -r n f e <<<"$c"
		passed=$((passed + n - f - e))
		failed=$((failed + f + e))
		continue
	fi
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		echo "$name: $line"
		pf=$(grep -oE '[0-9]+ passed, [0-9]+ failed' <<<"$line" | tail -n 1)
		p=${pf%% passed*}
		f=${pf#*passed, }
		f=${f%% failed*}
		passed=$((passed + p))
		failed=$((failed + f))
		continue
	fi
	res=$(grep -E '^:test-result:' "${log%.log}.trs" 2>/dev/null | awk '{print $2}')
	echo "$name: no summary line (result ${res:-unknown})"
	failed=$((failed + 1))
done
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
