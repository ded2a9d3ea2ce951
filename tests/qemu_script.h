/*
 * Running the QEMU end-to-end scripts in tests/qemu/ from a Check suite:
 * shared by check_qemu (rng), check_qemu_blk, check_qemu_migrate and
 * check_qemu_vsock.
 */

#ifndef VHOSTD_TESTS_QEMU_SCRIPT_H
#define VHOSTD_TESTS_QEMU_SCRIPT_H

#include <stddef.h>

#include <check.h>

/* Seconds allowed for each script (setup may download ~70 MB). */
#define QEMU_SCRIPT_TIMEOUT	600

/*
 * Run tests/qemu/NAME with /bin/sh and the argument arg (none if NULL: the
 * script's default mode), its output relayed to stderr; return its exit
 * status (128 + signal if killed, -1 if it could not run) and put its first
 * "FAIL" line, or why it could not run, in why.
 */
int	qemu_script_run(const char *name, const char *arg, char *why,
	    size_t whylen);

/*
 * Run tests/qemu/NAME as qemu_script_run does, with VHOSTD_PACKED=1 in its
 * environment if packed, and fail the test unless it exits 0; `what`
 * names the step in the failure message ("run-rng.sh (packed)").
 */
void	qemu_script_check(const char *name, const char *arg, int packed,
	    const char *what);
/* A suite named `name` whose first test case, "setup", runs setup.sh (the
 * guest kernel and initramfs are downloaded, built and cached). */
Suite	*qemu_script_suite(const char *name);
/* A new test case `name` of `s` with the scripts' timeout. */
TCase	*qemu_script_tcase(Suite *s, const char *name);
/* Run the suite (CK_ENV); EXIT_SUCCESS only if every test passed. */
int	qemu_script_main(Suite *s);

#endif /* VHOSTD_TESTS_QEMU_SCRIPT_H */
