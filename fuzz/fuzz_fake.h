/*
 * Helpers shared by the module fuzz targets (fuzz_vsock, fuzz_console),
 * which drive a module's ops on the fake daemon of tests/fake_api.c: an
 * input cursor, a one-shot "event loop" that fires the fd watches whose
 * fds are ready, timer firing, the fd count (leak oracle) and the misuse
 * oracle.
 */

#ifndef VHOSTD_FUZZ_FAKE_H
#define VHOSTD_FUZZ_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include <vhostd/vhostd.h>

/* The unread rest of an input. */
struct fuzz_in {
	const uint8_t	*p;
	size_t		 n;
};

/* Next byte / little-endian u16 (0 once the input is used up). */
uint8_t		 fuzz_in_u8(struct fuzz_in *);
uint16_t	 fuzz_in_u16(struct fuzz_in *);
/* Take up to `len` bytes: returns a pointer and sets *got. */
const uint8_t	*fuzz_in_bytes(struct fuzz_in *, size_t len, size_t *got);

/* Fire the armed fd watches of dev whose fds are ready now (poll, no
 * wait), at most `max` callbacks; returns the number fired. */
unsigned	 fuzz_fake_loop(struct vhd_dev *, unsigned max);
/* Fire the n-th armed timer of dev (counted modulo the armed timers);
 * 0 when there is none. */
int		 fuzz_fake_timer(struct vhd_dev *, unsigned n);
/* Open fds of the process. */
unsigned	 fuzz_fake_fds(void);
/* Abort when the fake recorded API misuse on dev. */
void		 fuzz_fake_check(struct vhd_dev *);

#endif /* VHOSTD_FUZZ_FAKE_H */
