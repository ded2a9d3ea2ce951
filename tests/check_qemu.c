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

#include "qemu_script.h"

/*
 * A guest reads 1 MiB from vhost-user-rng served by vhostd, a second guest
 * is served by the same daemon afterwards, and SIGTERM stops it cleanly.
 */
START_TEST(check_qemu_rng)
{
	qemu_script_check("run-rng.sh", NULL, 0, "run-rng.sh");
}
END_TEST

/* The same with packed virtqueues (packed=on, VIRTIO_F_RING_PACKED
 * negotiated, checked in the guest): the guest reads 1 MiB. */
START_TEST(check_qemu_rng_packed)
{
	qemu_script_check("run-rng.sh", NULL, 1, "run-rng.sh (packed)");
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
	qemu_script_check("run-rng.sh", "pause", 0, "run-rng.sh pause");
}
END_TEST

/* Build the "qemu" suite. */
static Suite *
check_qemu_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = qemu_script_suite("qemu");
	tc = qemu_script_tcase(s, "rng");
	tcase_add_test(tc, check_qemu_rng);
	tcase_add_test(tc, check_qemu_rng_packed);
	tc = qemu_script_tcase(s, "rng_pause");
	tcase_add_test(tc, check_qemu_rng_pause);
	return (s);
}

/* Run the suite; exit 0 only if every test passed. */
int
main(void)
{
	return (qemu_script_main(check_qemu_suite()));
}
