/*
 * The fake guest memory and chain oracle shared by the ring fuzz targets
 * (fuzz_guest.c).
 */

#ifndef VHOSTD_FUZZ_GUEST_H
#define VHOSTD_FUZZ_GUEST_H

#include <stddef.h>
#include <stdint.h>

struct guest_mem;
struct vring;
struct vring_chain;

#define FUZZ_REGION	0x10000ULL
#define FUZZ_MEMSZ	(2 * FUZZ_REGION)

/* The two regions, mapped by fuzz_guest_init. */
extern struct guest_mem	*fuzz_guest_mem;

/* Map the two regions once per process; `name` names the memfds. */
void	fuzz_guest_init(const char *name);
/* Zero guest memory and copy the `n` bytes at `p` into it from gpa 0 on
 * (what does not fit is ignored). */
void	fuzz_guest_load(const uint8_t *p, size_t n);
/* Check what vring_pop promised about a chain; abort if it lied. */
void	fuzz_guest_check_chain(const struct vring_chain *);
/* Exercise the accessors of a popped chain (`how` from the input). */
void	fuzz_guest_use_chain(struct vring_chain *, uint8_t how);
/* Pop, check, use and complete the chains of a ring until it is empty
 * or fails (`how` from the input); the callbacks, if not NULL, add the
 * target's own checks of the ring and of each chain. */
void	fuzz_guest_run(struct vring *, uint8_t how,
	    void (*)(const struct vring *),
	    void (*)(const struct vring *, const struct vring_chain *));

#endif /* VHOSTD_FUZZ_GUEST_H */
