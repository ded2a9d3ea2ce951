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

#include "qemu_script.h"

/* Pre-copy: six switch-overs, the guest checks every buffer and block. */
START_TEST(check_qemu_migrate_precopy)
{
	qemu_script_check("run-blk-migrate.sh", "precopy", 0,
	    "run-blk-migrate.sh (precopy)");
}
END_TEST

/* Postcopy: each migration switches to postcopy at once; the blk
 * device's accesses to pages not yet migrated fault and are served. */
START_TEST(check_qemu_migrate_postcopy)
{
	qemu_script_check("run-blk-migrate.sh", "postcopy", 0,
	    "run-blk-migrate.sh (postcopy)");
}
END_TEST

/* Build the "qemu_migrate" suite. */
static Suite *
check_qemu_migrate_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = qemu_script_suite("qemu_migrate");
	tc = qemu_script_tcase(s, "migrate");
	tcase_add_test(tc, check_qemu_migrate_precopy);
	tcase_add_test(tc, check_qemu_migrate_postcopy);
	return (s);
}

/* Run the suite; exit 0 only if every test passed. */
int
main(void)
{
	return (qemu_script_main(check_qemu_migrate_suite()));
}
