#!/bin/sh
# The systemd units parse cleanly: `systemd-analyze verify` (which exits 0
# even on unknown keys, so any output fails) on vhostd.service, its
# ExecStart pointed at the built vhostd, and vhostd.socket.  Skipped
# where systemd-analyze is not installed.
srcdir=${VHOSTD_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${VHOSTD_BUILD_DIR:-$srcdir}
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "units: systemd-analyze is not installed: not checked"
	exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
sed -e "s|@sbindir@|$builddir|g" -e "s|@pkgsysconfdir@|$srcdir/conf|g" \
    "$srcdir/systemd/vhostd.service.in" >"$tmp/vhostd.service"
cp "$srcdir/systemd/vhostd.socket" "$tmp/vhostd.socket"
for unit in vhostd.service vhostd.socket; do
	out=$(cd "$tmp" && SYSTEMD_LOG_LEVEL=notice \
	    systemd-analyze verify --man=no "./$unit" 2>&1)
	rc=$?
	# Outside a booted system, systemd-analyze may note that it cannot
	# reach the manager; that is not about our units.
	out=$(printf '%s\n' "$out" | grep -v -e '^$' \
	    -e 'Failed to connect to bus' -e 'System has not been booted')
	if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
		echo "FAIL: $unit"
		printf '%s\n' "$out"
		failed=$((failed + 1))
	else
		echo "PASS: $unit"
		passed=$((passed + 1))
	fi
done
echo "units: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
