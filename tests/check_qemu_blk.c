/*
 * The QEMU end-to-end suite of the blk module: tests/qemu/run-blk.sh
 * boots Linux guests under QEMU (TCG) with two vhost-user-blk-pci devices
 * served by one vhostd (blk0 with num-queues=2, blk1 read-only): the guest
 * writes random data with O_DIRECT, reads it back, discards and zeroes
 * ranges and reads zeroes, fails to write to the read-only disk; a second
 * guest finds the data after the restart; a third does O_DIRECT I/O while
 * the host stops and continues the VM; the host images hold the data.
 * setup.sh (the kernel and initramfs cache) runs first.  Nothing is
 * skipped: a missing package mirror or QEMU fails.
 */

#include <check.h>
#include <stdlib.h>

#include "qemu_script.h"

/* The guest kernel and initramfs can be downloaded, built and cached. */
START_TEST(check_qemu_blk_setup)
{
	char	why[1024];
	int	rc;

	rc = qemu_script_run("setup.sh", NULL, why, sizeof(why));
	ck_assert_msg(rc == 0, "step setup.sh (guest kernel and initramfs) "
	    "exited %d: %s", rc, why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/*
 * A guest writes, reads, discards and zeroes through vhostd with two queues,
 * a read-only disk refuses writes, and a restarted guest finds its data.
 */
START_TEST(check_qemu_blk_run)
{
	char	why[1024];
	int	rc;

	rc = qemu_script_run("run-blk.sh", NULL, why, sizeof(why));
	ck_assert_msg(rc == 0, "step run-blk.sh exited %d: %s", rc,
	    why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/* The same with packed virtqueues (packed=on, VIRTIO_F_RING_PACKED
 * negotiated, checked in the guest): blk writes, reads and verifies. */
START_TEST(check_qemu_blk_run_packed)
{
	char	why[1024];
	int	rc;

	ck_assert_int_eq(setenv("VHOSTD_PACKED", "1", 1), 0);
	rc = qemu_script_run("run-blk.sh", NULL, why, sizeof(why));
	unsetenv("VHOSTD_PACKED");
	ck_assert_msg(rc == 0, "step run-blk.sh (packed) exited %d: %s", rc,
	    why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/*
 * Restart without loss: a guest's O_DIRECT write/verify loop runs while
 * vhostd is killed with SIGKILL and restarted 10 times (QEMU reconnect=1,
 * inflight tracking); no I/O error, every block verifies.
 */
START_TEST(check_qemu_blk_restart)
{
	char	why[1024];
	int	rc;

	rc = qemu_script_run("run-blk.sh", "restart", why, sizeof(why));
	ck_assert_msg(rc == 0, "step run-blk.sh (restart) exited %d: %s", rc,
	    why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/* Client mode: QEMU listens (server=on), vhostd connects, and reconnects
 * by itself after 3 SIGKILLs during the guest's I/O loop. */
START_TEST(check_qemu_blk_client)
{
	char	why[1024];
	int	rc;

	rc = qemu_script_run("run-blk.sh", "client", why, sizeof(why));
	ck_assert_msg(rc == 0, "step run-blk.sh (client) exited %d: %s", rc,
	    why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/* Build the "qemu_blk" suite. */
static Suite *
check_qemu_blk_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("qemu_blk");
	tc = tcase_create("setup");
	tcase_set_timeout(tc, QEMU_SCRIPT_TIMEOUT);
	tcase_add_test(tc, check_qemu_blk_setup);
	suite_add_tcase(s, tc);
	tc = tcase_create("blk");
	tcase_set_timeout(tc, QEMU_SCRIPT_TIMEOUT);
	tcase_add_test(tc, check_qemu_blk_run);
	tcase_add_test(tc, check_qemu_blk_run_packed);
	suite_add_tcase(s, tc);
	tc = tcase_create("restart");
	tcase_set_timeout(tc, QEMU_SCRIPT_TIMEOUT);
	tcase_add_test(tc, check_qemu_blk_restart);
	suite_add_tcase(s, tc);
	tc = tcase_create("client");
	tcase_set_timeout(tc, QEMU_SCRIPT_TIMEOUT);
	tcase_add_test(tc, check_qemu_blk_client);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; exit 0 only if every test passed. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(check_qemu_blk_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
