/*
 * Running the QEMU end-to-end scripts in tests/qemu/ from a Check suite:
 * shared by check_qemu (rng) and check_qemu_vsock.
 */

#ifndef VHOSTD_TESTS_QEMU_SCRIPT_H
#define VHOSTD_TESTS_QEMU_SCRIPT_H

#include <stddef.h>

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

#endif /* VHOSTD_TESTS_QEMU_SCRIPT_H */
