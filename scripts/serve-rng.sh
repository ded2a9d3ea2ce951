#!/usr/bin/env bash
# Serve a virtio-rng device on a default socket and print how to attach
# QEMU to it.  Runs vhostd in the foreground; ^C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
sock=${1:-/tmp/vhostd-rng.sock}

cat <<EOT
vhostd: serving virtio-rng on $sock

Attach a QEMU (7.2 or later) guest to it, in another terminal:

  qemu-system-x86_64 -m 256 \\
    -object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \\
    -chardev socket,id=rng0,path=$sock \\
    -device vhost-user-rng-pci,chardev=rng0 \\
    ... your usual -kernel/-drive options ...

In the guest: cat /sys/class/misc/hw_random/rng_current   (virtio_rng.0)
              head -c 1M /dev/hwrng | wc -c
Or, without a VM, read entropy with the test frontend:
  tests/vhostd-fe --socket $sock rng --bytes 1048576

EOT
make -s tests/vhostd-fe >/dev/null 2>&1 || true
exec ./vhostd --module=rng --socket="$sock"
