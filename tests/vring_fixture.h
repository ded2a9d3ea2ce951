/*
 * The split-ring unit suites' fixture (tests/check_vring*.c): a fake
 * guest memory of four memfd regions holding a split ring laid out by the
 * test, which plays the guest driver, and the guest-side helpers to write
 * descriptors and read the used ring.  The helpers keep the short names
 * the suites have always used.
 */

#ifndef VRING_FIXTURE_H
#define VRING_FIXTURE_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "vring.h"

struct guest_mem;
struct guest_region;

/*
 * Guest layout: A [0, 0x10000) and B [0x10000, 0x20000) are adjacent
 * regions from different memfds, C [0x40000, 0x50000) sits after a gap,
 * and D is a sparse 1 GiB region at 4 GiB for length-overflow tests.
 */
#define GA		0x0ULL
#define GB		0x10000ULL
#define GC		0x40000ULL
#define GD		0x100000000ULL
#define SMALL		0x10000ULL
#define BIG		0x40000000ULL
#define DESC_GPA	0x1000ULL
#define AVAIL_GPA	0x2000ULL
#define USED_GPA	0x3000ULL
#define NUM		16

struct fixture {
	struct guest_region	*r[4];
	struct guest_mem	*mem;
	struct vring		 vq;
	uint16_t		 aidx;		/* guest's avail idx */
};
extern struct fixture	 fx;

int			 check_vring_memfd(uint64_t);
void			 gw(uint64_t, const void *, size_t);
void			 gr(uint64_t, void *, size_t);
void			 gw16(uint64_t, uint16_t);
uint16_t		 gr16(uint64_t);
uint32_t		 gr32(uint64_t);
void			 tdesc(uint64_t, unsigned, uint64_t, uint32_t, uint16_t,
			     uint16_t);
void			 desc(unsigned, uint64_t, uint32_t, uint16_t, uint16_t);
void			 avail_add(uint16_t);
void			 ring_setup(uint16_t);
void			 setup(void);
void			 teardown(void);
struct vring_chain	*pop_ok(void);
void			 pop_fails(const char *);
void			 pop_empty(void);
int			 check_vring_main(Suite *);

#endif /* VRING_FIXTURE_H */
