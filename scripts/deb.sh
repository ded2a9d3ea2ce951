#!/usr/bin/env bash
# Build the Debian packages from a copy of the tree (dpkg-buildpackage -b
# -us -uc), check them with lintian (no error or warning), install them
# on this machine (CI's is a throwaway one, as root), check the installed
# configuration with `vhostd -n`, the installed units with systemd-analyze
# verify, render every installed manual page with `man -l`, then purge
# and check that nothing of vhostd is left.  Prints each step as PASS or
# FAIL and ends with "deb: N passed, N failed".
#
# Needs root (dpkg -i) and debhelper, lintian, dpkg-dev, fakeroot
# (scripts/setup.sh installs them).  DEB_KEEP=1 keeps the build dir.
set -uo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
passed=0 failed=0
tmp=$(mktemp -d /tmp/vhostd-deb.XXXXXX) || exit 1
[ -n "${DEB_KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT

# Run a step: "step NAME command...": its output goes to $tmp/NAME.out and
# is shown when it fails.
step() {
	local name=$1
	shift
	if "$@" >"$tmp/$name.out" 2>&1; then
		echo "PASS: $name"
		passed=$((passed + 1))
		return 0
	fi
	echo "FAIL: $name"
	tail -n 40 "$tmp/$name.out"
	failed=$((failed + 1))
	return 1
}

finish() {
	echo "deb: $passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
	exit
}

if [ "$(id -u)" -ne 0 ]; then
	echo "deb: needs root to install the packages"
	failed=1
	finish
fi
for tool in dpkg-buildpackage dh lintian fakeroot; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "deb: $tool is not installed (run scripts/setup.sh)"
		failed=1
		finish
	fi
done
# A vhostd installed by hand would hide what the package lacks.
if dpkg-query -W -f='${Status}' vhostd 2>/dev/null | grep -q installed; then
	dpkg --purge vhostd-dev vhostd >/dev/null 2>&1
fi

# The tracked files only: no build products of the developer's tree.  A
# release tarball's tree (no git) is copied whole.
copy_tree() {
	mkdir -p "$tmp/vhostd" || return 1
	if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$src" ls-files -z | (cd "$src" && tar --null -T - -cf -) |
		    tar -xf - -C "$tmp/vhostd"
	else
		(cd "$src" && tar -cf - .) | tar -xf - -C "$tmp/vhostd"
	fi
}
step copy copy_tree || finish

# nocheck: scripts/test.sh runs the whole suite on this tree already
# (DEB_CHECK=1 runs the package's own test subset too).
build() {
	local opts="parallel=$(nproc)"
	[ -n "${DEB_CHECK:-}" ] || opts="$opts nocheck"
	cd "$tmp/vhostd" &&
	DEB_BUILD_OPTIONS="$opts" dpkg-buildpackage -b -us -uc
}
step build build || finish
arch=$(dpkg --print-architecture)
deb=$(ls "$tmp"/vhostd_*_"$arch".deb)
devdeb=$(ls "$tmp"/vhostd-dev_*_"$arch".deb)

# Errors and warnings fail; info and pedantic tags do not.
lint() {
	lintian --fail-on error,warning "$tmp"/*.changes
}
step lintian lint

install_debs() {
	DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" "$devdeb"
}
step install install_debs || finish

check_conf() {
	vhostd -n --config=/etc/vhostd/vhostd.conf | grep -qx "configuration OK"
}
step vhostd-n check_conf

list_modules() {
	local out
	out=$(vhostd --list-modules) || return 1
	echo "$out"
	for m in rng console vsock blk template; do
		echo "$out" | grep -q "^$m " || { echo "no module $m"; return 1; }
	done
}
step modules list_modules

verify_units() {
	local out
	command -v systemd-analyze >/dev/null 2>&1 || { echo "no systemd"; return 0; }
	out=$(systemd-analyze verify --man=no vhostd.service vhostd.socket 2>&1 |
	    grep -v -e 'Failed to connect to bus' -e 'System has not been booted')
	echo "$out"
	[ -z "$out" ]
}
step units verify_units

# The installed pages, through man(1) as a user would read them.
man_pages() {
	local page out rc=0
	for page in $(dpkg -L vhostd vhostd-dev | grep '/man/man[1-8]/'); do
		[ -f "$page" ] || continue
		out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
		if [ -n "$out" ] || [ "$(man -l "$page" 2>/dev/null | wc -l)" -lt 10 ]; then
			echo "$page: $out"
			rc=1
		else
			echo "$page: ok"
		fi
	done
	return $rc
}
step man man_pages

# The SDK builds a module out of tree, and the daemon loads it.
sdk() {
	local ex=/usr/share/doc/vhostd-dev/examples
	mkdir -p "$tmp/oot" &&
	cp "$ex/template.c" "$tmp/oot/" &&
	cc -shared -fPIC $(pkg-config --cflags vhostd) -o "$tmp/oot/template.so" \
	    "$tmp/oot/template.c" &&
	chmod -R go-w "$tmp/oot" &&
	vhostd --module-dir="$tmp/oot" --list-modules | grep -q '^template '
}
step sdk sdk

purge() {
	DEBIAN_FRONTEND=noninteractive dpkg --purge vhostd-dev vhostd || return 1
	local left
	left=$(ls -d /etc/vhostd /usr/lib/*/vhostd /usr/include/vhostd \
	    /lib/systemd/system/vhostd.* /usr/sbin/vhostd 2>/dev/null)
	[ -z "$left" ] || { echo "left behind: $left"; return 1; }
}
step purge purge

finish
