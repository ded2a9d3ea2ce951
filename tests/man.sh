#!/bin/sh
# Every manual page in man/ renders without a warning: `mandoc -T lint -W
# warning` prints nothing, groff -ww (what man(1) renders with) warns
# about nothing, and `man -l` renders it.  One pass or fail per page.
srcdir=${VHOSTD_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
if ! command -v mandoc >/dev/null 2>&1; then
	echo "man: mandoc is not installed (scripts/setup.sh installs it)"
	exit 77
fi
passed=0 failed=0
for page in "$srcdir"/man/*.[1-8]; do
	[ -f "$page" ] || continue
	name=$(basename "$page")
	bad=
	out=$(mandoc -T lint -W warning "$page" 2>&1) || bad=1
	[ -n "$out" ] && bad=1
	if command -v groff >/dev/null 2>&1; then
		gout=$(groff -ww -mandoc -Tutf8 -z "$page" 2>&1) || bad=1
		[ -n "$gout" ] && bad=1
		out="$out$gout"
	fi
	if command -v man >/dev/null 2>&1; then
		mout=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
		[ -n "$mout" ] && bad=1
		out="$out$mout"
		[ "$(MANWIDTH=80 man -l "$page" 2>/dev/null | wc -l)" -gt 10 ] ||
		    { bad=1; out="$out man -l rendered almost nothing"; }
	fi
	if [ -n "$bad" ]; then
		echo "FAIL: $name"
		printf '%s\n' "$out"
		failed=$((failed + 1))
	else
		echo "PASS: $name"
		passed=$((passed + 1))
	fi
done
echo "man: $passed passed, $failed failed"
[ "$passed" -gt 0 ] && [ "$failed" -eq 0 ]
