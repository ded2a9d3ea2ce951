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

#include "qemu_script.h"

/*
 * A guest writes, reads, discards and zeroes through vhostd with two queues,
 * a read-only disk refuses writes, and a restarted guest finds its data.
 */
START_TEST(check_qemu_blk_run)
{
	qemu_script_check("run-blk.sh", NULL, 0, "run-blk.sh");
}
END_TEST

/* The same with packed virtqueues (packed=on, VIRTIO_F_RING_PACKED
 * negotiated, checked in the guest): blk writes, reads and verifies. */
START_TEST(check_qemu_blk_run_packed)
{
	qemu_script_check("run-blk.sh", NULL, 1, "run-blk.sh (packed)");
}
END_TEST

/*
 * Restart without loss: a guest's O_DIRECT write/verify loop runs while
 * vhostd is killed with SIGKILL and restarted 10 times (QEMU reconnect=1,
 * inflight tracking); no I/O error, every block verifies.
 */
START_TEST(check_qemu_blk_restart)
{
	qemu_script_check("run-blk.sh", "restart", 0, "run-blk.sh (restart)");
}
END_TEST

/* The same with packed virtqueues (packed=on): QEMU cannot tell the new
 * back-end the ring positions, the packed inflight region does. */
START_TEST(check_qemu_blk_restart_packed)
{
	qemu_script_check("run-blk.sh", "restart", 1,
	    "run-blk.sh (restart, packed)");
}
END_TEST

/* Client mode: QEMU listens (server=on), vhostd connects, and reconnects
 * by itself after 3 SIGKILLs during the guest's I/O loop. */
START_TEST(check_qemu_blk_client)
{
	qemu_script_check("run-blk.sh", "client", 0, "run-blk.sh (client)");
}
END_TEST

/* Build the "qemu_blk" suite. */
static Suite *
check_qemu_blk_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = qemu_script_suite("qemu_blk");
	tc = qemu_script_tcase(s, "blk");
	tcase_add_test(tc, check_qemu_blk_run);
	tcase_add_test(tc, check_qemu_blk_run_packed);
	tc = qemu_script_tcase(s, "restart");
	tcase_add_test(tc, check_qemu_blk_restart);
	tcase_add_test(tc, check_qemu_blk_restart_packed);
	tc = qemu_script_tcase(s, "client");
	tcase_add_test(tc, check_qemu_blk_client);
	return (s);
}

/* Run the suite; exit 0 only if every test passed. */
int
main(void)
{
	return (qemu_script_main(check_qemu_blk_suite()));
}
