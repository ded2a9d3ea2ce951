#!/usr/bin/env bash
# Install what vhostd needs to build and test on Debian 12 (run as root),
# then configure and build it.  Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential autoconf automake libtool pkg-config libevent-dev check
      qemu-system-x86 busybox-static cpio xz-utils zstd kmod socat git file
      clang libclang-rt-14-dev util-linux liburing-dev
      mandoc python3 debhelper lintian dpkg-dev fakeroot)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: need root to install: ${missing[*]}" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    "${missing[@]}" >/dev/null
fi

if [ ! -x configure ] || [ configure.ac -nt configure ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
if [ ! -f Makefile ] || [ configure -nt config.status ]; then
	./configure -q
fi
make -s -j"$(nproc)"
echo "setup: built $(pwd)/vhostd"
