/*
 * The QEMU end-to-end suite of the vsock module: tests/qemu/run-vsock.sh
 * boots a Linux guest under QEMU (TCG) with vhost-user-vsock-pci served by
 * "vhostd --vm guest-cid=3,socket=...,uds-path=..." and moves 8 MiB each way
 * (guest to host and host to guest through CONNECT) with checksums and
 * half-closes while the VM is paused and resumed with QEMU's monitor
 * (stop / cont, issue 8), checks a refused connect fails promptly and that
 * seqpacket keeps message boundaries; then (mode pause) the guest streams
 * 32 MiB to a host unix listener that echoes them, checking every byte in
 * order, while the VM is paused and resumed 5 times, each in the middle of
 * the transfer.  setup.sh (the kernel and initramfs cache) runs first.
 * Nothing is skipped: a missing package mirror or QEMU fails.
 */

#include <check.h>

#include "qemu_script.h"

/*
 * A Linux guest and the host exchange 8 MiB each way over vsock through
 * vhostd, see half-closes, a refused connect and seqpacket boundaries.
 */
START_TEST(check_qemu_vsock_run)
{
	qemu_script_check("run-vsock.sh", NULL, 0, "run-vsock.sh");
}
END_TEST

/* The same with packed virtqueues (packed=on, VIRTIO_F_RING_PACKED
 * negotiated, checked in the guest): vsock echoes both ways. */
START_TEST(check_qemu_vsock_run_packed)
{
	qemu_script_check("run-vsock.sh", NULL, 1, "run-vsock.sh (packed)");
}
END_TEST

/*
 * A guest streams 32 MiB through vsock to a host unix listener that echoes
 * them back, and checks every byte in order, while the VM is paused and
 * resumed 5 times (HMP stop and cont) in the middle of the transfer: the
 * connection must survive each pause.
 */
START_TEST(check_qemu_vsock_pause)
{
	qemu_script_check("run-vsock.sh", "pause", 0, "run-vsock.sh pause");
}
END_TEST

/* Build the "qemu_vsock" suite. */
static Suite *
check_qemu_vsock_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = qemu_script_suite("qemu_vsock");
	tc = qemu_script_tcase(s, "vsock");
	tcase_add_test(tc, check_qemu_vsock_run);
	tcase_add_test(tc, check_qemu_vsock_run_packed);
	tc = qemu_script_tcase(s, "vsock_pause");
	tcase_add_test(tc, check_qemu_vsock_pause);
	return (s);
}

/* Run the suite; exit 0 only if every test passed. */
int
main(void)
{
	return (qemu_script_main(check_qemu_vsock_suite()));
}
