#!/bin/sh
# Prepare a Linux guest for the QEMU end-to-end tests, cached and idempotent.
#
# Downloads the kernel package that Debian's linux-image-amd64 depends on,
# extracts an uncompressed vmlinux from its vmlinuz (booted through PVH, which
# skips the in-guest decompression that costs seconds under TCG), and builds a
# base initramfs: busybox-static, the virtio modules and an /init that loads
# them, runs /test.sh, prints "VHOSTD-GUEST-EXIT <status>" on the console and
# powers off.  Tests append their own cpio archive holding /test.sh (and
# optionally /etc/modules, the ordered list of modules /init loads).
#
# Output: $VHOSTD_QEMU_CACHE/guest.env, a shell fragment defining KVER,
# KERNEL, KERNEL_KIND (pvh or bzimage), VMLINUZ and INITRD_BASE.
#
# Environment:
#   VHOSTD_BUILD_DIR        build tree (default: this script's ../..)
#   VHOSTD_QEMU_CACHE       cache directory (default: BUILD/tests/qemu/cache)
#   VHOSTD_QEMU_KERNEL_PKG  kernel package (default: what linux-image-amd64
#                           depends on)
#   VHOSTD_QEMU_BZIMAGE=1   boot the compressed bzImage instead of PVH
#
# Needs: apt-get, apt-cache, dpkg-deb, cpio, gzip, xz (and zstd, bzip2, lz4
# for kernels compressed with those), busybox-static.  Exit status 0 when the
# cache is ready; 1 with a "setup.sh: FAIL: step: ..." line otherwise.

# "local" is not POSIX but dash, bash and busybox ash all have it.
# shellcheck disable=SC3043

set -eu

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=${VHOSTD_BUILD_DIR:-$(cd "$SCRIPT_DIR/../.." && pwd)}
CACHE=${VHOSTD_QEMU_CACHE:-$BUILD_DIR/tests/qemu/cache}

# Modules the base initramfs ships and loads by default (dependencies are
# added in load order).  vsock, console and blk are cheap and serve later
# tests.
MODULES="virtio_pci virtio_rng virtio_console virtio_blk \
vmw_vsock_virtio_transport"

# Report a failed step and exit.
fail() {
	echo "setup.sh: FAIL: $*" >&2
	exit 1
}

# Print a progress line.
note() {
	echo "setup.sh: $*" >&2
}

# Refresh the package lists (needs root); used only when apt cannot find or
# fetch the kernel package.
apt_update() {
	if [ "$(id -u)" != 0 ]; then
		fail "apt: 'apt-get update' is needed and needs root"
	fi
	note "running apt-get update"
	apt-get update -q >&2 || fail "apt: apt-get update failed"
}

# Download package $1 into directory $2.
apt_download() {
	if [ "$(id -u)" = 0 ]; then
		# As root apt drops to _apt, which cannot write to $2.
		(cd "$2" && apt-get download -q \
		    -o APT::Sandbox::User=root "$1" >&2)
	else
		(cd "$2" && apt-get download -q "$1" >&2)
	fi
}

# Print the kernel package linux-image-amd64 depends on (empty if unknown).
kernel_pkg_lookup() {
	apt-cache depends linux-image-amd64 2>/dev/null |
	    sed -n 's/^ *Depends: *\(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1
}

# Print the candidate version of package $1 (empty if unknown).
pkg_version() {
	apt-cache policy "$1" 2>/dev/null |
	    sed -n 's/^ *Candidate: *//p' | grep -v '^(none)$' | head -n 1
}

# Write an uncompressed vmlinux ($2) found inside the bzImage $1: look for
# each compressor's magic and decompress from there until an ELF comes out
# (the kernel tree's scripts/extract-vmlinux technique).
extract_vmlinux() {
	for spec in \
	    'xz --single-stream -dc|\xfd7zXZ\x00' \
	    'gzip -dc|\x1f\x8b\x08' \
	    'zstd -qdc|\x28\xb5\x2f\xfd' \
	    'xz --format=lzma -dc|\x5d\x00\x00\x00' \
	    'bzip2 -dc|BZh' \
	    'lz4 -dc|\x02\x21\x4c\x18'; do
		cmd=${spec%%|*}
		magic=${spec#*|}
		command -v "${cmd%% *}" >/dev/null 2>&1 || continue
		for off in $(LC_ALL=C grep -obUaP "$magic" "$1" 2>/dev/null |
		    cut -d: -f1 | head -n 8); do
			tail -c "+$((off + 1))" "$1" | $cmd >"$2" 2>/dev/null ||
			    true
			if [ "$(od -An -c -N4 "$2" | tr -d ' ')" = '177ELF' ]
			then
				note "vmlinux: ${cmd%% *} stream at offset $off"
				return 0
			fi
		done
	done
	rm -f "$2"
	return 1
}

# Succeed if the ELF kernel $1 carries the PVH entry note
# (XEN_ELFNOTE_PHYS32_ENTRY, type 18), which QEMU needs to boot it.
has_pvh_note() {
	command -v readelf >/dev/null 2>&1 || return 1
	readelf -n "$1" 2>/dev/null |
	    grep -Eq '^ *Xen .*(0x00000012|PHYS32_ENTRY)'
}

# Index every module file under directory $1 into $MODINDEX, one
# "NAME PATH" line each, NAME with - turned into _ and suffixes removed.
module_index() {
	find "$1" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' \
	    -o -name '*.ko.gz' | awk '{
		n = $0; sub(/.*\//, "", n); sub(/\.(xz|zst|gz)$/, "", n)
		sub(/\.ko$/, "", n); gsub(/-/, "_", n); print n, $0 }' \
	    >"$MODINDEX"
}

# Print the path of module $1 from $MODINDEX; empty if not found.
module_path() {
	awk -v m="$(echo "$1" | tr - _)" '$1 == m { print $2; exit }' \
	    "$MODINDEX"
}

# Copy module file $1 to $2 as a plain .ko (decompressing if needed) so the
# guest does not depend on the kernel's module decompression support.
module_copy() {
	case "$1" in
	*.ko.xz)	xz -dc "$1" >"$2" ;;
	*.ko.zst)	zstd -qdc "$1" >"$2" ;;
	*.ko.gz)	gzip -dc "$1" >"$2" ;;
	*)		cp "$1" "$2" ;;
	esac
}

# Print the dependencies (modinfo "depends=") of the plain .ko file $1.
module_depends() {
	tr '\0' '\n' <"$1" | grep -a '^depends=' | head -n 1 |
	    sed 's/^depends=//' | tr ',' ' '
}

# Add module $1 and, first, its dependencies to the load order in $ORDER,
# copying each into $STAGE/lib/modules.
module_add() {
	local m depth src d
	m=$(echo "$1" | tr - _)
	grep -qx "$m" "$ORDER" 2>/dev/null && return 0
	depth=$(( ${2:-0} + 1 ))
	[ "$depth" -le 16 ] || fail "modules: dependency loop at $m"
	src=$(module_path "$m")
	[ -n "$src" ] || fail "modules: $m not found in the kernel package"
	module_copy "$src" "$STAGE/lib/modules/$m.ko" ||
	    fail "modules: cannot decompress $src"
	for d in $(module_depends "$STAGE/lib/modules/$m.ko"); do
		module_add "$d" "$depth"
	done
	grep -qx "$m" "$ORDER" 2>/dev/null || echo "$m" >>"$ORDER"
}

# Write the guest's /init to $1.
write_init() {
	cat >"$1" <<'EOF'
#!/bin/sh
# vhostd test guest: load modules, run /test.sh, report, power off.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
for m in $(cat /etc/modules); do
	insmod "/lib/modules/$m.ko" || echo "VHOSTD-GUEST-WARN insmod $m failed"
done
if [ -f /test.sh ]; then
	sh /test.sh
	rc=$?
else
	echo "VHOSTD-GUEST-WARN no /test.sh in the initramfs"
	rc=127
fi
echo "VHOSTD-GUEST-EXIT $rc"
sync
poweroff -f
sleep 5
echo "VHOSTD-GUEST-WARN poweroff failed"
EOF
	chmod 755 "$1"
}

# Build the base initramfs ($1, gzip'd cpio padded to 4 bytes) for kernel
# version $KVER from the extracted package in $ROOT.
build_initramfs() {
	STAGE=$WORK/initramfs
	ORDER=$WORK/modules.order
	MODINDEX=$WORK/modules.index
	rm -rf "$STAGE" "$ORDER"
	mkdir -p "$STAGE/bin" "$STAGE/etc" "$STAGE/lib/modules" \
	    "$STAGE/proc" "$STAGE/sys" "$STAGE/dev" "$STAGE/tmp"
	bb=$(command -v busybox || true)
	[ -n "$bb" ] ||
	    fail "initramfs: busybox not found (install busybox-static)"
	if ldd "$bb" >/dev/null 2>&1; then
		fail "initramfs: $bb is dynamic (install busybox-static)"
	fi
	cp "$bb" "$STAGE/bin/busybox"
	for a in $("$bb" --list); do
		[ "$a" = busybox ] || ln -s busybox "$STAGE/bin/$a"
	done
	: >"$ORDER"
	module_index "$ROOT/lib/modules/$KVER"
	for m in $MODULES; do
		module_add "$m" 0
	done
	cp "$ORDER" "$STAGE/etc/modules"
	note "initramfs modules: $(tr '\n' ' ' <"$ORDER")"
	write_init "$STAGE/init"
	(cd "$STAGE" && find . | LC_ALL=C sort |
	    cpio -o -H newc -R 0:0 --quiet) | gzip -6n >"$1.tmp" ||
	    fail "initramfs: cpio/gzip failed"
	pad_to_4 "$1.tmp"
	mv "$1.tmp" "$1"
}

# Pad file $1 with zero bytes to a multiple of 4 bytes, so an archive appended
# to it starts where the kernel looks for the next one.
pad_to_4() {
	size=$(wc -c <"$1")
	pad=$(( (4 - size % 4) % 4 ))
	if [ "$pad" -gt 0 ]; then
		head -c "$pad" /dev/zero >>"$1"
	fi
}

# Build everything into the cache; called with the cache lock held.
setup_locked() {
	pkg=${VHOSTD_QEMU_KERNEL_PKG:-}
	if [ -z "$pkg" ]; then
		pkg=$(kernel_pkg_lookup)
		if [ -z "$pkg" ]; then
			apt_update
			pkg=$(kernel_pkg_lookup)
		fi
		[ -n "$pkg" ] ||
		    fail "apt: cannot resolve linux-image-amd64's kernel"
	fi
	ver=$(pkg_version "$pkg")
	stamp="$pkg $ver bzimage=${VHOSTD_QEMU_BZIMAGE:-0} $(sha256sum <"$0" |
	    cut -c1-16)"
	if [ -f "$CACHE/guest.env" ] && [ -f "$CACHE/stamp" ] &&
	    [ "$(cat "$CACHE/stamp")" = "$stamp" ]; then
		note "cached: $pkg $ver in $CACHE"
		return 0
	fi
	note "building guest: $pkg $ver in $CACHE"
	rm -f "$CACHE/guest.env" "$CACHE/stamp"
	WORK=$CACHE/work
	rm -rf "$WORK"
	mkdir -p "$WORK/dl"
	if ! apt_download "$pkg" "$WORK/dl"; then
		apt_update
		apt_download "$pkg" "$WORK/dl" ||
		    fail "apt: apt-get download $pkg failed"
	fi
	deb=
	for f in "$WORK"/dl/*.deb; do
		[ -f "$f" ] && deb=$f
	done
	[ -n "$deb" ] || fail "apt: no .deb downloaded for $pkg"
	ROOT=$WORK/root
	dpkg-deb -x "$deb" "$ROOT" || fail "dpkg-deb: cannot extract $deb"
	KVER=
	for f in "$ROOT"/lib/modules/*; do
		[ -d "$f" ] && KVER=${f##*/}
	done
	[ -n "$KVER" ] || fail "kernel: no /lib/modules/VERSION in $deb"
	[ -f "$ROOT/boot/vmlinuz-$KVER" ] ||
	    fail "kernel: no /boot/vmlinuz-$KVER in $deb"
	cp "$ROOT/boot/vmlinuz-$KVER" "$CACHE/vmlinuz"
	kind=bzimage
	kernel=$CACHE/vmlinuz
	if [ "${VHOSTD_QEMU_BZIMAGE:-0}" != 1 ]; then
		if extract_vmlinux "$CACHE/vmlinuz" "$WORK/vmlinux" &&
		    has_pvh_note "$WORK/vmlinux"; then
			mv "$WORK/vmlinux" "$CACHE/vmlinux"
			kind=pvh
			kernel=$CACHE/vmlinux
		else
			note "no vmlinux with a PVH note; using the bzImage"
		fi
	fi
	build_initramfs "$CACHE/initramfs-base.cpio.gz"
	cat >"$CACHE/guest.env" <<EOF
KVER='$KVER'
KERNEL='$kernel'
KERNEL_KIND='$kind'
VMLINUZ='$CACHE/vmlinuz'
INITRD_BASE='$CACHE/initramfs-base.cpio.gz'
EOF
	echo "$stamp" >"$CACHE/stamp"
	rm -rf "$WORK"
	note "ready: kernel $KVER ($kind)," \
	    "$(wc -c <"$CACHE/initramfs-base.cpio.gz") byte initramfs"
}

mkdir -p "$CACHE" || fail "cache: cannot create $CACHE"
CACHE=$(cd "$CACHE" && pwd)
for tool in apt-get apt-cache dpkg-deb cpio gzip xz; do
	command -v "$tool" >/dev/null 2>&1 || fail "tools: $tool not found"
done
if command -v flock >/dev/null 2>&1; then
	exec 9>"$CACHE/.lock"
	flock -w 600 9 || fail "cache: cannot lock $CACHE/.lock"
fi
setup_locked
