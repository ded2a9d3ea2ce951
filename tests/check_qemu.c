/*
 * The QEMU end-to-end suite: boots real Linux guests under QEMU (TCG) against
 * vhostd through the scripts in tests/qemu/.  setup.sh prepares and caches
 * the guest kernel and initramfs; run-rng.sh runs two guests reading from
 * vhost-user-rng-pci served by "vhostd --module=rng" and stops the daemon,
 * and in mode pause reads the first guest's 1 MiB across 5 pauses of the VM
 * (HMP stop and cont on QEMU's monitor).
 * Nothing here is skipped: a missing package mirror or QEMU fails the suite.
 */

#include <check.h>
#include <stdlib.h>

#include "qemu_script.h"

/* The guest kernel and initramfs can be downloaded, built and cached. */
START_TEST(check_qemu_setup)
{
	char	why[1024];
	int	rc;

	rc = qemu_script_run("setup.sh", NULL, why, sizeof(why));
	ck_assert_msg(rc == 0, "step setup.sh (guest kernel and initramfs) "
	    "exited %d: %s", rc, why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/*
 * A guest reads 1 MiB from vhost-user-rng served by vhostd, a second guest
 * is served by the same daemon afterwards, and SIGTERM stops it cleanly.
 */
START_TEST(check_qemu_rng)
{
	char	why[1024];
	int	rc;

	rc = qemu_script_run("run-rng.sh", NULL, why, sizeof(why));
	ck_assert_msg(rc == 0, "step run-rng.sh exited %d: %s", rc,
	    why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/* The same with packed virtqueues (packed=on, VIRTIO_F_RING_PACKED
 * negotiated, checked in the guest): the guest reads 1 MiB. */
START_TEST(check_qemu_rng_packed)
{
	char	why[1024];
	int	rc;

	ck_assert_int_eq(setenv("VHOSTD_PACKED", "1", 1), 0);
	rc = qemu_script_run("run-rng.sh", NULL, why, sizeof(why));
	unsetenv("VHOSTD_PACKED");
	ck_assert_msg(rc == 0, "step run-rng.sh (packed) exited %d: %s", rc,
	    why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/*
 * The same with the daemon rate-limited so that the first guest's 1 MiB
 * takes ~8 s, during which the VM is paused and resumed 5 times through
 * QEMU's monitor (stop: SET_VRING_ENABLE 0 and GET_VRING_BASE; cont: the
 * queue set up again); the read must complete with random data.
 */
START_TEST(check_qemu_rng_pause)
{
	char	why[1024];
	int	rc;

	rc = qemu_script_run("run-rng.sh", "pause", why, sizeof(why));
	ck_assert_msg(rc == 0, "step run-rng.sh pause exited %d: %s", rc,
	    why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/* Build the "qemu" suite. */
static Suite *
check_qemu_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("qemu");
	tc = tcase_create("setup");
	tcase_set_timeout(tc, QEMU_SCRIPT_TIMEOUT);
	tcase_add_test(tc, check_qemu_setup);
	suite_add_tcase(s, tc);
	tc = tcase_create("rng");
	tcase_set_timeout(tc, QEMU_SCRIPT_TIMEOUT);
	tcase_add_test(tc, check_qemu_rng);
	tcase_add_test(tc, check_qemu_rng_packed);
	suite_add_tcase(s, tc);
	tc = tcase_create("rng_pause");
	tcase_set_timeout(tc, QEMU_SCRIPT_TIMEOUT);
	tcase_add_test(tc, check_qemu_rng_pause);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; exit 0 only if every test passed. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(check_qemu_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
