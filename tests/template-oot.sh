#!/bin/sh
# template-oot: the module template builds out of tree against an installed
# vhostd (only the installed SDK header, found with pkg-config), exports
# only vhd_module, and the installed daemon lists it, checks its keys,
# serves it on a socket and shuts down cleanly on SIGTERM.
#
# Environment (set by the test harness): VHOSTD_BUILD_DIR, VHOSTD_SRC_DIR.
# Exit 0 on success, 1 on failure (never skips).

set -u

name=template-oot
tmp=
pid=

say() {
	echo "$name: $*"
}

fail() {
	say "FAIL: $*"
	for f in "$tmp"/*.log; do
		[ -f "$f" ] || continue
		echo "---- $f"
		tail -n 40 "$f"
	done
	say "0 passed, 1 failed"
	exit 1
}

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

[ -n "${VHOSTD_BUILD_DIR:-}" ] || fail "VHOSTD_BUILD_DIR is not set"
[ -n "${VHOSTD_SRC_DIR:-}" ] || fail "VHOSTD_SRC_DIR is not set"
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
command -v "$CC" >/dev/null 2>&1 || fail "no C compiler ($CC)"
command -v "$PKG_CONFIG" >/dev/null 2>&1 || fail "no $PKG_CONFIG"
command -v nm >/dev/null 2>&1 || fail "no nm"

tmp=$(mktemp -d /tmp/template-oot.XXXXXX) || fail "mktemp failed"
dest=$tmp/dest
mkdir -p "$tmp/build" || fail "mkdir failed"

# 1. Install the build tree into a scratch DESTDIR.
say "installing $VHOSTD_BUILD_DIR into $dest"
make -C "$VHOSTD_BUILD_DIR" install DESTDIR="$dest" >"$tmp/install.log" 2>&1 ||
    fail "make install failed"
pc=$(find "$dest" -name vhostd.pc -type f | head -n 1)
daemon=$(find "$dest" -path '*sbin/vhostd' -type f | head -n 1)
[ -n "$pc" ] || fail "vhostd.pc not installed"
[ -n "$daemon" ] && [ -x "$daemon" ] || fail "sbin/vhostd not installed"
header=$(find "$dest" -path '*include/vhostd/vhostd.h' -type f | head -n 1)
[ -n "$header" ] || fail "vhostd/vhostd.h not installed"
say "installed $daemon, $pc, $header"

# 2. Build the template out of tree with the installed SDK only.
pcdir=$(dirname "$pc")
cflags=$(PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_LIBDIR="$pcdir" \
    PKG_CONFIG_PATH="$pcdir" "$PKG_CONFIG" --cflags vhostd) ||
    fail "pkg-config --cflags vhostd failed"
case "$cflags" in
*"$dest"/*) ;;
*) fail "pkg-config cflags '$cflags' do not point into $dest" ;;
esac
case "$cflags" in
*"$VHOSTD_SRC_DIR"*) fail "pkg-config cflags '$cflags' use the source tree" ;;
esac
cp "$VHOSTD_SRC_DIR/modules/template/template.c" \
    "$VHOSTD_SRC_DIR/modules/template/Makefile.example" "$tmp/build/" ||
    fail "cannot copy the template"
say "cc -shared -fPIC $cflags -Wall -Werror -o template.so template.c"
(cd "$tmp/build" && "$CC" -shared -fPIC -fvisibility=hidden $cflags \
    -Wall -Wextra -Werror -o template.so template.c) >"$tmp/cc.log" 2>&1 ||
    fail "out-of-tree build failed"

# 3. Only vhd_module is exported.
nm -D --defined-only "$tmp/build/template.so" >"$tmp/nm.log" 2>&1 ||
    fail "nm -D failed"
grep -Eq '^[0-9a-f]+ [DR] vhd_module$' "$tmp/nm.log" ||
    fail "template.so does not export vhd_module"
extra=$(grep -Ev ' (vhd_module|_init|_fini)$' "$tmp/nm.log")
[ -z "$extra" ] || fail "template.so exports more than vhd_module: $extra"
say "nm -D: vhd_module exported, nothing else"

# 4. Makefile.example builds and installs it too.
(cd "$tmp/build" && PKG_CONFIG_SYSROOT_DIR="$dest" \
    PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH="$pcdir" \
    make -f Makefile.example MODULE=template CC="$CC" \
    CFLAGS="-O2 -Wall -Wextra -Werror" clean all \
    install DESTDIR="$tmp/mkdest") >"$tmp/make-example.log" 2>&1 ||
    fail "make -f Makefile.example failed"
[ -n "$(find "$tmp/mkdest" -name template.so -type f)" ] ||
    fail "Makefile.example install put no template.so"
say "Makefile.example: built and installed"

# 5. The installed daemon lists it.
unset VHOSTD_MODULE_DIR
"$daemon" --module-dir="$tmp/build" --list-modules >"$tmp/list.log" 2>&1 ||
    fail "vhostd --list-modules failed"
grep -E 'template' "$tmp/list.log" | grep -q '1\.0' ||
    fail "--list-modules does not show template 1.0"
say "--list-modules: $(grep template "$tmp/list.log" | head -n 1)"

# 6. Keys are checked by the module (-n: check only).
"$daemon" -n --module-dir="$tmp/build" --module=template \
    --socket="$tmp/n.sock" --option fill-byte=0x2a >"$tmp/n-good.log" 2>&1 ||
    fail "vhostd -n with fill-byte=0x2a failed"
grep -q 'configuration OK' "$tmp/n-good.log" ||
    fail "vhostd -n did not say configuration OK"
if "$daemon" -n --module-dir="$tmp/build" --module=template \
    --socket="$tmp/n.sock" --option bogus=1 >"$tmp/n-bad.log" 2>&1; then
	fail "vhostd -n accepted an unknown template key"
fi
grep -q "template: unknown key 'bogus'" "$tmp/n-bad.log" ||
    fail "unknown key error does not name the key"
say "-n: good key accepted, unknown key rejected"

# 7. Serve it, then stop with SIGTERM.
sock=$tmp/t.sock
"$daemon" --module-dir="$tmp/build" --module=template --socket="$sock" \
    >"$tmp/daemon.log" 2>&1 &
pid=$!
i=0
while [ $i -lt 100 ]; do
	[ -S "$sock" ] && grep -q 'listening on' "$tmp/daemon.log" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
	i=$((i + 1))
done
[ -S "$sock" ] || fail "the daemon did not create $sock"
grep -q "listening on $sock" "$tmp/daemon.log" ||
    fail "the log does not say 'listening on $sock'"
say "serving: $(grep 'listening on' "$tmp/daemon.log" | head -n 1)"
kill -TERM "$pid" || fail "cannot signal the daemon"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill -0 "$pid" 2>/dev/null && fail "the daemon did not exit on SIGTERM"
wait "$pid"
status=$?
pid=
[ "$status" -eq 0 ] || fail "the daemon exited with status $status"
[ -e "$sock" ] && fail "the socket $sock was not unlinked"
say "SIGTERM: exit status 0, socket unlinked"

say "1 passed, 0 failed"
exit 0
