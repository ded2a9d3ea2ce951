/*
 * The packed-ring unit suites' fixture (tests/check_vring_packed*.c): a
 * fake guest memory of four memfd regions holding a packed virtqueue
 * (virtio 1.1 2.8) laid out by the test, which plays the guest driver.
 * The helpers keep the short names the suites have always used.
 */

#ifndef VRING_PACKED_FIXTURE_H
#define VRING_PACKED_FIXTURE_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "vring.h"

struct guest_mem;
struct guest_region;
struct vring_packed_desc;

/* A [0, 0x10000) and B [0x10000, 0x20000) adjacent, C after a gap, D a
 * sparse 1 GiB region at 4 GiB (the 32768-entry ring lives there). */
#define GA		0x0ULL
#define GB		0x10000ULL
#define GC		0x40000ULL
#define GD		0x100000000ULL
#define SMALL		0x10000ULL
#define BIG		0x40000000ULL
#define DESC_GPA	0x1000ULL
#define DRV_GPA		0x2000ULL
#define DEV_GPA		0x3000ULL
#define BUF_GPA		0x8000ULL
#define NUM		16

#define F_AVAIL		VRING_PACKED_DESC_F_AVAIL
#define F_USED		VRING_PACKED_DESC_F_USED

struct fixture {
	struct guest_region	*r[4];
	struct guest_mem	*mem;
	struct vring		 vq;
	uint64_t		 desc_gpa;
	uint16_t		 slot;		/* guest: next slot to fill */
	int			 wrap;
	uint16_t		 uslot;		/* guest: next used slot */
	int			 uwrap;
};
extern struct fixture	 fx;

int			 cvp_memfd(uint64_t);
void			 gw(uint64_t, const void *, size_t);
void			 gr(uint64_t, void *, size_t);
void			 pdesc_at(uint64_t, uint64_t, uint32_t, uint16_t,
			     uint16_t);
void			 pdesc_get(unsigned, struct vring_packed_desc *);
void			 post(const struct vring_packed_desc *, unsigned);
void			 post1(uint16_t, uint32_t);
void			 used_expect(uint16_t, uint32_t, unsigned);
void			 ring_setup_at(uint16_t, uint64_t);
void			 setup(void);
void			 teardown(void);
struct vring_chain	*pop_ok(void);
void			 pop_fails(const char *);
void			 pop_empty(void);
int			 vring_packed_main(Suite *);

#endif /* VRING_PACKED_FIXTURE_H */
