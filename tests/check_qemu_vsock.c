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
#include <stdlib.h>

#include "qemu_script.h"

/* The guest kernel and initramfs can be downloaded, built and cached. */
START_TEST(check_qemu_vsock_setup)
{
	char	why[1024];
	int	rc;

	rc = qemu_script_run("setup.sh", NULL, why, sizeof(why));
	ck_assert_msg(rc == 0, "step setup.sh (guest kernel and initramfs) "
	    "exited %d: %s", rc, why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/*
 * A Linux guest and the host exchange 8 MiB each way over vsock through
 * vhostd, see half-closes, a refused connect and seqpacket boundaries.
 */
START_TEST(check_qemu_vsock_run)
{
	char	why[1024];
	int	rc;

	rc = qemu_script_run("run-vsock.sh", NULL, why, sizeof(why));
	ck_assert_msg(rc == 0, "step run-vsock.sh exited %d: %s", rc,
	    why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/* The same with packed virtqueues (packed=on, VIRTIO_F_RING_PACKED
 * negotiated, checked in the guest): vsock echoes both ways. */
START_TEST(check_qemu_vsock_run_packed)
{
	char	why[1024];
	int	rc;

	ck_assert_int_eq(setenv("VHOSTD_PACKED", "1", 1), 0);
	rc = qemu_script_run("run-vsock.sh", NULL, why, sizeof(why));
	unsetenv("VHOSTD_PACKED");
	ck_assert_msg(rc == 0, "step run-vsock.sh (packed) exited %d: %s", rc,
	    why[0] != '\0' ? why : "no FAIL line");
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
	char	why[1024];
	int	rc;

	rc = qemu_script_run("run-vsock.sh", "pause", why, sizeof(why));
	ck_assert_msg(rc == 0, "step run-vsock.sh pause exited %d: %s", rc,
	    why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/* Build the "qemu_vsock" suite. */
static Suite *
check_qemu_vsock_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("qemu_vsock");
	tc = tcase_create("setup");
	tcase_set_timeout(tc, QEMU_SCRIPT_TIMEOUT);
	tcase_add_test(tc, check_qemu_vsock_setup);
	suite_add_tcase(s, tc);
	tc = tcase_create("vsock");
	tcase_set_timeout(tc, QEMU_SCRIPT_TIMEOUT);
	tcase_add_test(tc, check_qemu_vsock_run);
	tcase_add_test(tc, check_qemu_vsock_run_packed);
	suite_add_tcase(s, tc);
	tc = tcase_create("vsock_pause");
	tcase_set_timeout(tc, QEMU_SCRIPT_TIMEOUT);
	tcase_add_test(tc, check_qemu_vsock_pause);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; exit 0 only if every test passed. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(check_qemu_vsock_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
