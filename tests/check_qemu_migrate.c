/*
 * The QEMU live-migration suite: tests/qemu/run-blk-migrate.sh runs a
 * Linux guest under QEMU 7.2 (TCG) on vhost-user-blk-pci served by
 * vhostd, and migrates it between two QEMU processes on this host (two
 * blk devices of one vhostd on the same image) six times while the guest
 * reads a known pattern into memory buffers, re-checks them every round,
 * and writes and re-reads its own blocks.  A device write the dirty log
 * misses shows up in the guest as a stale buffer right after the
 * switch-over.  The same again with postcopy (the PAGEFAULT protocol
 * feature, a userfaultfd the daemon registers its mappings with).
 * setup.sh (the kernel and initramfs cache) runs first.
 */

#include <check.h>
#include <stdlib.h>

#include "qemu_script.h"

/* The guest kernel and initramfs can be downloaded, built and cached. */
START_TEST(check_qemu_migrate_setup)
{
	char	why[1024];
	int	rc;

	rc = qemu_script_run("setup.sh", NULL, why, sizeof(why));
	ck_assert_msg(rc == 0, "step setup.sh (guest kernel and initramfs) "
	    "exited %d: %s", rc, why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/* Pre-copy: six switch-overs, the guest checks every buffer and block. */
START_TEST(check_qemu_migrate_precopy)
{
	char	why[1024];
	int	rc;

	rc = qemu_script_run("run-blk-migrate.sh", "precopy", why,
	    sizeof(why));
	ck_assert_msg(rc == 0, "step run-blk-migrate.sh (precopy) exited %d: "
	    "%s", rc, why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/* Postcopy: each migration switches to postcopy at once; the blk
 * device's accesses to pages not yet migrated fault and are served. */
START_TEST(check_qemu_migrate_postcopy)
{
	char	why[1024];
	int	rc;

	rc = qemu_script_run("run-blk-migrate.sh", "postcopy", why,
	    sizeof(why));
	ck_assert_msg(rc == 0, "step run-blk-migrate.sh (postcopy) exited "
	    "%d: %s", rc, why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/* Build the "qemu_migrate" suite. */
static Suite *
check_qemu_migrate_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("qemu_migrate");
	tc = tcase_create("setup");
	tcase_set_timeout(tc, QEMU_SCRIPT_TIMEOUT);
	tcase_add_test(tc, check_qemu_migrate_setup);
	suite_add_tcase(s, tc);
	tc = tcase_create("migrate");
	tcase_set_timeout(tc, QEMU_SCRIPT_TIMEOUT);
	tcase_add_test(tc, check_qemu_migrate_precopy);
	tcase_add_test(tc, check_qemu_migrate_postcopy);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; exit 0 only if every test passed. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(check_qemu_migrate_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
