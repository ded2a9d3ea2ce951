# Shared by run-rng.sh, run-vsock.sh and run-blk.sh: VHOSTD_PACKED=1 runs
# the device with packed virtqueues (VIRTIO_F_RING_PACKED, virtio 1.1).
# Sourced; defines PACKED_PROPS (",packed=on" or empty, to append to the
# -device options), packed_guest_check and packed_host_check.

# shellcheck shell=sh
# shellcheck disable=SC2034 # PACKED_PROPS is used by the sourcing script.
PACKED_PROPS=
if [ "${VHOSTD_PACKED:-0}" = 1 ]; then
	PACKED_PROPS=,packed=on
fi

# Print guest shell code checking that every virtio device with device id
# $1 (0x0004 rng, 0x0013 vsock, 0x0002 blk) negotiated bit 34 (the sysfs
# features file is one '0'/'1' character per bit, bit 0 first); it prints
# "VHOSTD-PACKED <n>" with the number of such devices, or
# "VHOSTD-PACKED-FAIL ..." and exits 1.  Nothing when not packed.
packed_guest_check() {
	[ "${VHOSTD_PACKED:-0}" = 1 ] || return 0
	cat <<GUEST
n=0
for d in /sys/bus/virtio/devices/*; do
	[ "\$(cat "\$d/device")" = $1 ] || continue
	if [ "\$(cut -c35 "\$d/features")" != 1 ]; then
		echo "VHOSTD-PACKED-FAIL \$d: bit 34 not set: \$(cat "\$d/features")"
		exit 1
	fi
	n=\$((n + 1))
done
echo "VHOSTD-PACKED \$n"
[ "\$n" -gt 0 ] || { echo "VHOSTD-PACKED-FAIL no device $1"; exit 1; }
GUEST
}

# On the host: did the guest console $1 report $2 packed devices?  Prints
# the reason and returns 1 when not.  Always 0 when not packed.
packed_host_check() {
	[ "${VHOSTD_PACKED:-0}" = 1 ] || return 0
	if grep -q '^VHOSTD-PACKED-FAIL' "$1"; then
		grep '^VHOSTD-PACKED-FAIL' "$1" | head -n 1
		return 1
	fi
	if ! grep -q "^VHOSTD-PACKED $2\$" "$1"; then
		echo "no 'VHOSTD-PACKED $2' line on the guest console"
		return 1
	fi
	return 0
}
