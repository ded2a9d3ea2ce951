/*
 * Unit tests for core/vring_packed.c: packed virtqueues (virtio 1.1 2.8)
 * in a fake guest memory of memfd regions, the test playing the guest
 * driver.  Hostile cases are named after the invariant they protect;
 * each must make vring_pop() return NULL with an error and consume
 * nothing, never crash.
 */

#include <sys/types.h>
#include <sys/mman.h>

#include <check.h>
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest_mem.h"
#include "vhost_user.h"
#include "vring.h"

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
static struct fixture	 fx;

/* A memfd of `size` bytes. */
static int
cvp_memfd(uint64_t size)
{
	int	 fd;

	fd = memfd_create("check_vring_packed", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	return (fd);
}

/* Write guest memory as the guest would. */
static void
gw(uint64_t gpa, const void *buf, size_t len)
{
	uint64_t	 n = len;
	uint8_t		*p;

	p = guest_mem_translate(fx.mem, gpa, &n);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_ge(n, len);
	memcpy(p, buf, len);
}

/* Read guest memory. */
static void
gr(uint64_t gpa, void *buf, size_t len)
{
	uint64_t	 n = len;
	const uint8_t	*p;

	p = guest_mem_translate(fx.mem, gpa, &n);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_ge(n, len);
	memcpy(buf, p, len);
}

/* Write a packed descriptor at `gpa`. */
static void
pdesc_at(uint64_t gpa, uint64_t addr, uint32_t len, uint16_t id,
    uint16_t flags)
{
	struct vring_packed_desc	 d;

	d.addr = htole64(addr);
	d.len = htole32(len);
	d.id = htole16(id);
	d.flags = htole16(flags);
	gw(gpa, &d, sizeof d);
}

/* Read the packed descriptor of ring slot i. */
static void
pdesc_get(unsigned i, struct vring_packed_desc *d)
{
	gr(fx.desc_gpa + 16 * (uint64_t)i, d, sizeof *d);
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->id = le16toh(d->id);
	d->flags = le16toh(d->flags);
}

/* The guest makes `n` descriptors available at the next slots (flags
 * without the AVAIL/USED bits; they are added, right for each slot). */
static void
post(const struct vring_packed_desc *d, unsigned n)
{
	unsigned	 i;
	uint16_t	 f;

	for (i = 0; i < n; i++) {
		f = (uint16_t)(d[i].flags | (fx.wrap ? F_AVAIL : F_USED));
		pdesc_at(fx.desc_gpa + 16 * (uint64_t)fx.slot, d[i].addr,
		    d[i].len, d[i].id, f);
		if (++fx.slot == fx.vq.num) {
			fx.slot = 0;
			fx.wrap = !fx.wrap;
		}
	}
}

/* Post one writable buffer of `len` bytes with buffer id `id`. */
static void
post1(uint16_t id, uint32_t len)
{
	struct vring_packed_desc	 d = { BUF_GPA, len, id, 2 };

	post(&d, 1);
}

/* The guest takes the next used descriptor, which must be there with
 * `id` and `len`, and skips the `n` slots of that buffer. */
static void
used_expect(uint16_t id, uint32_t len, unsigned n)
{
	struct vring_packed_desc	 d;
	int				 a, u;

	pdesc_get(fx.uslot, &d);
	a = (d.flags & F_AVAIL) != 0;
	u = (d.flags & F_USED) != 0;
	ck_assert_msg(a == fx.uwrap && u == fx.uwrap, "slot %u not used "
	    "(flags 0x%x, wrap %d)", fx.uslot, d.flags, fx.uwrap);
	ck_assert_uint_eq(d.id, id);
	ck_assert_uint_eq(d.len, len);
	fx.uslot = (uint16_t)(fx.uslot + n);
	if (fx.uslot >= fx.vq.num) {
		fx.uslot = (uint16_t)(fx.uslot - fx.vq.num);
		fx.uwrap = !fx.uwrap;
	}
}

/* Build the guest memory and a packed ring of `num` entries whose
 * descriptor ring is at `desc_gpa`. */
static void
ring_setup_at(uint16_t num, uint64_t desc_gpa)
{
	static const uint64_t gpa[4] = { GA, GB, GC, GD };
	static const uint64_t size[4] = { SMALL, SMALL, SMALL, BIG };
	char		*cause = NULL;
	unsigned	 i;
	int		 fd;

	memset(&fx, 0, sizeof fx);
	for (i = 0; i < 4; i++) {
		fd = cvp_memfd(size[i]);
		fx.r[i] = guest_region_map(fd, gpa[i], size[i],
		    0x7f0000000000ULL + gpa[i], 0, &cause);
		ck_assert_msg(fx.r[i] != NULL, "%s", cause);
		close(fd);
	}
	fx.mem = guest_mem_new(fx.r, 4, &cause);
	ck_assert_msg(fx.mem != NULL, "%s", cause);
	vring_init(&fx.vq, NULL, 0);
	fx.vq.packed = 1;
	fx.vq.num = num;
	fx.vq.indirect = 1;
	fx.vq.event_idx = 1;
	fx.desc_gpa = desc_gpa;
	ck_assert_int_eq(vring_packed_set_base(&fx.vq, 0x80008000u, &cause),
	    0);
	ck_assert_msg(vring_set_addr(&fx.vq, fx.mem, desc_gpa, DRV_GPA,
	    DEV_GPA, 0, &cause) == 0, "%s", cause);
	fx.wrap = fx.uwrap = 1;
}

static void
setup(void)
{
	ring_setup_at(NUM, DESC_GPA);
}

static void
teardown(void)
{
	unsigned	 i;

	vring_free(&fx.vq);
	guest_mem_free(fx.mem);
	for (i = 0; i < 4; i++)
		guest_region_unref(fx.r[i]);
}

/* Pop that must succeed. */
static struct vring_chain *
pop_ok(void)
{
	struct vring_chain	*c;
	const char		*err = NULL;

	c = vring_pop(&fx.vq, fx.mem, &err);
	ck_assert_msg(c != NULL, "pop failed: %s", err ? err : "empty");
	return (c);
}

/* Pop that must fail with `what`, consuming nothing. */
static void
pop_fails(const char *what)
{
	const char	*err = NULL;
	uint16_t	 last = fx.vq.last_avail_idx;
	int		 wrap = fx.vq.avail_wrap;
	unsigned	 inflight = fx.vq.inflight;

	ck_assert_ptr_null(vring_pop(&fx.vq, fx.mem, &err));
	ck_assert_msg(err != NULL, "no error reported");
	ck_assert_msg(strstr(err, what) != NULL, "error '%s', expected '%s'",
	    err, what);
	ck_assert_uint_eq(fx.vq.last_avail_idx, last);
	ck_assert_int_eq(fx.vq.avail_wrap, wrap);
	ck_assert_uint_eq(fx.vq.inflight, inflight);
}

/* Pop on an empty ring: NULL without error. */
static void
pop_empty(void)
{
	const char	*err = NULL;

	ck_assert_ptr_null(vring_pop(&fx.vq, fx.mem, &err));
	ck_assert_ptr_null(err);
}

START_TEST(test_single)
{
	struct vring_chain	*c;

	pop_empty();
	post1(5, 64);
	c = pop_ok();
	ck_assert_uint_eq(c->nsegs, 1);
	ck_assert_uint_eq(c->wlen, 64);
	ck_assert_uint_eq(c->head, 5);
	pop_empty();
	vring_push(&fx.vq, fx.mem, c, 10);
	used_expect(5, 10, 1);
	ck_assert_uint_eq(fx.vq.used_idx, 1);
}
END_TEST

START_TEST(test_chain_over_the_end)
{
	struct vring_packed_desc	 d[3] = {
		{ BUF_GPA, 8, 3, VRING_DESC_F_NEXT },
		{ BUF_GPA + 8, 16, 3, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE },
		{ BUF_GPA + 24, 32, 7, VRING_DESC_F_WRITE },
	};
	struct vring_chain		*c;
	unsigned			 i;

	/* Move both sides to slot NUM - 1. */
	for (i = 0; i < NUM - 1; i++) {
		post1(0, 4);
		vring_push(&fx.vq, fx.mem, pop_ok(), 0);
		used_expect(0, 0, 1);
	}
	post(d, 3);
	c = pop_ok();
	/* The buffer id is the last descriptor's. */
	ck_assert_uint_eq(c->head, 7);
	ck_assert_uint_eq(c->ndesc, 3);
	ck_assert_uint_eq(c->nread, 1);
	ck_assert_uint_eq(c->rlen, 8);
	ck_assert_uint_eq(c->wlen, 48);
	ck_assert_uint_eq(fx.vq.last_avail_idx, 2);
	ck_assert_int_eq(fx.vq.avail_wrap, 0);
	vring_push(&fx.vq, fx.mem, c, 48);
	used_expect(7, 48, 3);
	ck_assert_uint_eq(fx.vq.used_idx, 2);
	ck_assert_int_eq(fx.vq.used_wrap, 0);
	/* The used descriptor of wrap 0 has both flags clear. */
	ck_assert_uint_eq(fx.uwrap, 0);
}
END_TEST

START_TEST(test_out_of_order)
{
	struct vring_packed_desc	 d[2] = {
		{ BUF_GPA, 8, 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE },
		{ BUF_GPA + 8, 8, 1, VRING_DESC_F_WRITE },
	};
	struct vring_chain		*a, *b, *c;

	post1(0, 4);
	post(d, 2);
	post1(2, 4);
	a = pop_ok();
	b = pop_ok();
	c = pop_ok();
	/* Completed in the order c, a, b: used descriptors are written in
	 * completion order, each skipping its buffer's slots. */
	vring_push(&fx.vq, fx.mem, c, 1);
	vring_push(&fx.vq, fx.mem, a, 2);
	vring_push(&fx.vq, fx.mem, b, 16);
	used_expect(2, 1, 1);
	used_expect(0, 2, 1);
	used_expect(1, 16, 2);
	ck_assert_uint_eq(fx.vq.used_idx, 4);
}
END_TEST

/* Both wrap counters turn over many times under mixed chain lengths and
 * completion orders; every used descriptor is where the guest looks. */
START_TEST(test_wrap_under_load)
{
	struct vring_packed_desc	 d[3];
	struct vring_chain		*c[8];
	unsigned			 round, i, n, k, len[8], id[8];
	unsigned			 wraps = 0;
	int				 last_wrap = 1;

	srandom(1);
	for (round = 0; round < 2000; round++) {
		k = 1 + (unsigned)random() % 4;
		for (i = 0; i < k; i++) {
			n = 1 + (unsigned)random() % 3;
			len[i] = n;
			id[i] = (round * 4 + i) % NUM;
			for (unsigned j = 0; j < n; j++) {
				d[j].addr = BUF_GPA;
				d[j].len = 4;
				d[j].id = (uint16_t)id[i];
				d[j].flags = (uint16_t)(VRING_DESC_F_WRITE |
				    (j + 1 < n ? VRING_DESC_F_NEXT : 0));
			}
			post(d, n);
			c[i] = pop_ok();
			ck_assert_uint_eq(c[i]->ndesc, n);
		}
		/* Complete in reverse order every other round. */
		for (i = 0; i < k; i++) {
			unsigned j = (round & 1) ? k - 1 - i : i;

			vring_push(&fx.vq, fx.mem, c[j], j);
			used_expect((uint16_t)id[j], j, len[j]);
		}
		if (fx.vq.used_wrap != last_wrap) {
			wraps++;
			last_wrap = fx.vq.used_wrap;
		}
	}
	ck_assert_uint_gt(wraps, 100);
	ck_assert_uint_eq(fx.vq.used_idx, fx.vq.last_avail_idx);
	ck_assert_int_eq(fx.vq.used_wrap, fx.vq.avail_wrap);
	ck_assert_int_eq(fx.vq.used_wrap, fx.uwrap);
}
END_TEST

START_TEST(test_rewind)
{
	struct vring_chain	*a, *b;

	post1(1, 8);
	post1(2, 8);
	a = pop_ok();
	b = pop_ok();
	ck_assert_int_eq(vring_rewind(&fx.vq, a), -1);
	ck_assert_int_eq(vring_rewind(&fx.vq, b), 0);
	ck_assert_uint_eq(fx.vq.last_avail_idx, 1);
	b = pop_ok();
	ck_assert_uint_eq(b->head, 2);
	vring_push(&fx.vq, fx.mem, a, 0);
	vring_push(&fx.vq, fx.mem, b, 0);
	used_expect(1, 0, 1);
	used_expect(2, 0, 1);
}
END_TEST

/* A rewind over the end of the ring restores the wrap counter. */
START_TEST(test_rewind_over_the_end)
{
	struct vring_packed_desc	 d[2] = {
		{ BUF_GPA, 8, 9, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE },
		{ BUF_GPA + 8, 8, 9, VRING_DESC_F_WRITE },
	};
	struct vring_chain		*c;
	unsigned			 i;

	for (i = 0; i < NUM - 1; i++) {
		post1(0, 4);
		vring_push(&fx.vq, fx.mem, pop_ok(), 0);
		used_expect(0, 0, 1);
	}
	post(d, 2);
	c = pop_ok();
	ck_assert_int_eq(fx.vq.avail_wrap, 0);
	ck_assert_int_eq(vring_rewind(&fx.vq, c), 0);
	ck_assert_uint_eq(fx.vq.last_avail_idx, NUM - 1);
	ck_assert_int_eq(fx.vq.avail_wrap, 1);
	c = pop_ok();
	ck_assert_uint_eq(c->head, 9);
}
END_TEST

START_TEST(test_indirect)
{
	struct vring_packed_desc	 d = { 0xa000, 48, 4,
					     VRING_DESC_F_INDIRECT };
	struct vring_chain		*c;

	pdesc_at(0xa000, BUF_GPA, 8, 0, 0);
	/* NEXT is reserved in a packed indirect table: ignored. */
	pdesc_at(0xa010, BUF_GPA + 8, 8, 0, VRING_DESC_F_WRITE |
	    VRING_DESC_F_NEXT);
	pdesc_at(0xa020, BUF_GPA + 16, 8, 0, VRING_DESC_F_WRITE);
	post(&d, 1);
	c = pop_ok();
	ck_assert_uint_eq(c->nsegs, 3);
	ck_assert_uint_eq(c->nread, 1);
	ck_assert_uint_eq(c->ndesc, 1);
	ck_assert_uint_eq(c->head, 4);
	vring_push(&fx.vq, fx.mem, c, 16);
	used_expect(4, 16, 1);
}
END_TEST

START_TEST(test_indirect_needs_feature)
{
	struct vring_packed_desc	 d = { 0xa000, 16, 0,
					     VRING_DESC_F_INDIRECT };

	pdesc_at(0xa000, BUF_GPA, 8, 0, VRING_DESC_F_WRITE);
	post(&d, 1);
	fx.vq.indirect = 0;
	pop_fails("INDIRECT_DESC");
	fx.vq.indirect = 1;
	pop_ok();
}
END_TEST

START_TEST(test_chain_longer_than_ring)
{
	struct vring_packed_desc	 d[NUM];
	unsigned			 i;

	/* Every slot says NEXT: the walk would go round forever. */
	for (i = 0; i < NUM; i++) {
		d[i].addr = BUF_GPA;
		d[i].len = 4;
		d[i].id = 0;
		d[i].flags = VRING_DESC_F_NEXT | VRING_DESC_F_WRITE;
	}
	post(d, NUM);
	pop_fails("longer than the queue");
}
END_TEST

START_TEST(test_full_ring_chain)
{
	struct vring_packed_desc	 d[NUM];
	struct vring_chain		*c;
	unsigned			 i;

	/* A chain of exactly the ring size is fine. */
	for (i = 0; i < NUM; i++) {
		d[i].addr = BUF_GPA;
		d[i].len = 4;
		d[i].id = 3;
		d[i].flags = (uint16_t)(VRING_DESC_F_WRITE |
		    (i + 1 < NUM ? VRING_DESC_F_NEXT : 0));
	}
	post(d, NUM);
	c = pop_ok();
	ck_assert_uint_eq(c->ndesc, NUM);
	ck_assert_uint_eq(fx.vq.last_avail_idx, 0);
	ck_assert_int_eq(fx.vq.avail_wrap, 0);
	pop_empty();
	vring_push(&fx.vq, fx.mem, c, 0);
	used_expect(3, 0, NUM);
}
END_TEST

START_TEST(test_id_out_of_range)
{
	post1(NUM, 8);
	pop_fails("buffer id out of range");
}
END_TEST

START_TEST(test_id_out_of_range_last)
{
	struct vring_packed_desc	 d[2] = {
		{ BUF_GPA, 8, 0, VRING_DESC_F_NEXT },
		{ BUF_GPA, 8, 0xffff, VRING_DESC_F_WRITE },
	};

	post(d, 2);
	pop_fails("buffer id out of range");
}
END_TEST

START_TEST(test_nested_indirect)
{
	struct vring_packed_desc	 d = { 0xa000, 32, 0,
					     VRING_DESC_F_INDIRECT };

	pdesc_at(0xa000, BUF_GPA, 8, 0, VRING_DESC_F_WRITE);
	pdesc_at(0xa010, 0xb000, 16, 0, VRING_DESC_F_INDIRECT);
	post(&d, 1);
	pop_fails("nested indirect");
}
END_TEST

START_TEST(test_indirect_bad_length)
{
	struct vring_packed_desc	 d = { 0xa000, 20, 0,
					     VRING_DESC_F_INDIRECT };

	post(&d, 1);
	pop_fails("multiple of 16");
}
END_TEST

START_TEST(test_indirect_with_next)
{
	struct vring_packed_desc	 d[2] = {
		{ 0xa000, 16, 0, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT },
		{ BUF_GPA, 8, 0, VRING_DESC_F_WRITE },
	};

	pdesc_at(0xa000, BUF_GPA, 8, 0, VRING_DESC_F_WRITE);
	post(d, 2);
	pop_fails("NEXT");
}
END_TEST

START_TEST(test_indirect_table_unmapped)
{
	struct vring_packed_desc	 d = { 0x30000, 32, 0,
					     VRING_DESC_F_INDIRECT };

	post(&d, 1);
	pop_fails("indirect table is not in guest memory");
}
END_TEST

START_TEST(test_buffer_unmapped)
{
	struct vring_packed_desc	 d = { 0x30000, 8, 0,
					     VRING_DESC_F_WRITE };

	post(&d, 1);
	pop_fails("not in guest memory");
}
END_TEST

START_TEST(test_readable_after_writable)
{
	struct vring_packed_desc	 d[2] = {
		{ BUF_GPA, 8, 0, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE },
		{ BUF_GPA, 8, 0, 0 },
	};

	post(d, 2);
	pop_fails("readable descriptor after a writable one");
}
END_TEST

START_TEST(test_not_available_flags)
{
	/* AVAIL == USED == wrap: a used descriptor, not an available one;
	 * AVAIL != wrap: the previous lap. */
	pdesc_at(DESC_GPA, BUF_GPA, 8, 0, F_AVAIL | F_USED |
	    VRING_DESC_F_WRITE);
	pop_empty();
	pdesc_at(DESC_GPA, BUF_GPA, 8, 0, F_USED | VRING_DESC_F_WRITE);
	pop_empty();
	pdesc_at(DESC_GPA, BUF_GPA, 8, 0, VRING_DESC_F_WRITE);
	pop_empty();
	pdesc_at(DESC_GPA, BUF_GPA, 8, 0, F_AVAIL | VRING_DESC_F_WRITE);
	pop_ok();
}
END_TEST

START_TEST(test_index_past_size)
{
	char	*cause = NULL;

	/* A base set for a bigger ring, then a smaller SET_VRING_NUM. */
	ck_assert_int_eq(vring_packed_set_base(&fx.vq, 0x8005, &cause), 0);
	fx.vq.num = 4;
	post1(0, 8);
	pop_fails("out of range");
}
END_TEST

START_TEST(test_too_many_in_flight)
{
	unsigned	 i;

	for (i = 0; i < NUM; i++) {
		post1((uint16_t)i, 8);
		pop_ok();
	}
	/* The guest reuses slot 0 without waiting for its used entry. */
	fx.slot = 0;
	fx.wrap = 0;
	post1(0, 8);
	pop_fails("more chains in flight");
}
END_TEST

START_TEST(test_base_encoding)
{
	char	*cause = NULL;

	ck_assert_uint_eq(vring_packed_get_base(&fx.vq), 0x80008000u);
	ck_assert_int_eq(vring_packed_set_base(&fx.vq, 0x00050003u, &cause),
	    0);
	ck_assert_uint_eq(fx.vq.last_avail_idx, 3);
	ck_assert_int_eq(fx.vq.avail_wrap, 0);
	ck_assert_uint_eq(fx.vq.used_idx, 5);
	ck_assert_int_eq(fx.vq.used_wrap, 0);
	ck_assert_uint_eq(vring_packed_get_base(&fx.vq), 0x00050003u);
	/* Only the low half: used = avail. */
	ck_assert_int_eq(vring_packed_set_base(&fx.vq, 0x8007, &cause), 0);
	ck_assert_uint_eq(vring_packed_get_base(&fx.vq), 0x80078007u);
	/* Out of range for the size: refused, nothing changed. */
	ck_assert_int_eq(vring_packed_set_base(&fx.vq, 0x8000 | NUM, &cause),
	    -1);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(vring_packed_set_base(&fx.vq, (NUM + 0u) << 16 | 1,
	    &cause), -1);
	free(cause);
	ck_assert_uint_eq(vring_packed_get_base(&fx.vq), 0x80078007u);
}
END_TEST

/* Write the driver event area. */
static void
drv_event(uint16_t off_wrap, uint16_t flags)
{
	struct vring_packed_event	 e;

	e.off_wrap = htole16(off_wrap);
	e.flags = htole16(flags);
	gw(DRV_GPA, &e, sizeof e);
}

START_TEST(test_notify_flags)
{
	unsigned	 i;

	post1(0, 8);
	vring_push(&fx.vq, fx.mem, pop_ok(), 0);
	drv_event(0, VRING_PACKED_EVENT_F_ENABLE);
	ck_assert_int_eq(vring_need_notify(&fx.vq, fx.mem), 1);
	drv_event(0, VRING_PACKED_EVENT_F_DISABLE);
	ck_assert_int_eq(vring_need_notify(&fx.vq, fx.mem), 0);
	/* DESC: interrupt when the used position passes slot 4 of wrap 1
	 * (used_idx is 1 now). */
	drv_event(0x8000 | 4, VRING_PACKED_EVENT_F_DESC);
	for (i = 1; i < 4; i++) {
		post1((uint16_t)i, 8);
		vring_push(&fx.vq, fx.mem, pop_ok(), 0);
		ck_assert_msg(vring_need_notify(&fx.vq, fx.mem) == 0,
		    "interrupt at used %u before the event at 4", i + 1);
	}
	post1(4, 8);
	vring_push(&fx.vq, fx.mem, pop_ok(), 0);
	ck_assert_int_eq(vring_need_notify(&fx.vq, fx.mem), 1);
	/* Without EVENT_IDX, DESC is not defined: treated as ENABLE. */
	fx.vq.event_idx = 0;
	ck_assert_int_eq(vring_need_notify(&fx.vq, fx.mem), 1);
}
END_TEST

/* DESC with the event in the next lap (wrap 0) is not passed before the
 * used position wraps. */
START_TEST(test_notify_event_next_lap)
{
	unsigned	 i;

	for (i = 0; i < NUM - 2; i++) {
		post1(0, 8);
		vring_push(&fx.vq, fx.mem, pop_ok(), 0);
	}
	(void)vring_need_notify(&fx.vq, fx.mem);
	drv_event(1, VRING_PACKED_EVENT_F_DESC);
	for (i = 0; i < 3; i++) {
		post1(0, 8);
		vring_push(&fx.vq, fx.mem, pop_ok(), 0);
		ck_assert_msg(vring_need_notify(&fx.vq, fx.mem) == 0,
		    "early interrupt, step %u", i);
	}
	post1(0, 8);
	vring_push(&fx.vq, fx.mem, pop_ok(), 0);
	ck_assert_int_eq(vring_need_notify(&fx.vq, fx.mem), 1);
}
END_TEST

START_TEST(test_flags_clear)
{
	struct vring_packed_event	 e = { 0x1234, 1 };
	const char			*err;

	gw(DEV_GPA, &e, sizeof e);
	ck_assert_int_eq(vring_map(&fx.vq, fx.mem, &err), 0);
	vring_used_flags_clear(&fx.vq);
	gr(DEV_GPA, &e, sizeof e);
	ck_assert_uint_eq(e.flags, VRING_PACKED_EVENT_F_ENABLE);
}
END_TEST

START_TEST(test_addr_checks)
{
	char	*cause = NULL;

	/* Event areas must be 4-aligned and in guest memory; the ring is
	 * unchanged on failure. */
	ck_assert_int_eq(vring_set_addr(&fx.vq, fx.mem, DESC_GPA, DRV_GPA + 2,
	    DEV_GPA, 0, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "misaligned"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(vring_set_addr(&fx.vq, fx.mem, DESC_GPA, DRV_GPA,
	    0x30000, 0, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "device event area"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(vring_set_addr(&fx.vq, fx.mem, SMALL * 2 - 16 * 4,
	    DRV_GPA, DEV_GPA, 0, &cause), -1);
	free(cause);
	ck_assert_uint_eq(fx.vq.desc_gpa, DESC_GPA);
}
END_TEST

/* Rings of size 1, 2, 3 (not a power of two) and 32768: both counters
 * wrap each lap. */
START_TEST(test_sizes)
{
	static const uint16_t	 sizes[] = { 1, 2, 3, 32768 };
	uint16_t		 num = sizes[_i];
	unsigned		 i, laps = num > 3 ? 3 : 5;
	struct vring_chain	*c;

	teardown();
	ring_setup_at(num, num > 3 ? GD : DESC_GPA);
	for (i = 0; i < (unsigned)num * laps; i++) {
		post1((uint16_t)(i % num), 8);
		c = pop_ok();
		if (num == 1)
			pop_empty();
		vring_push(&fx.vq, fx.mem, c, 8);
		used_expect((uint16_t)(i % num), 8, 1);
	}
	ck_assert_uint_eq(fx.vq.last_avail_idx, 0);
	ck_assert_int_eq(fx.vq.avail_wrap, (laps & 1) ? 0 : 1);
	ck_assert_int_eq(fx.vq.used_wrap, fx.vq.avail_wrap);
}
END_TEST

/*
 * A stop takes back the chains still held (vring.h): the most recently
 * popped ones are rewound, here over the end of the ring, so the avail
 * position and its wrap counter go back and GET_VRING_BASE is exact; the
 * same chains are popped again after the restart.
 */
START_TEST(test_stop_rewinds_held_tail)
{
	struct vring_packed_desc	 d[2] = {
		{ BUF_GPA, 8, 6, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE },
		{ BUF_GPA + 8, 8, 6, VRING_DESC_F_WRITE },
	};
	struct vring_chain		*a, *b, *c;
	unsigned			 i;

	for (i = 0; i < NUM - 2; i++) {
		post1(0, 4);
		vring_push(&fx.vq, fx.mem, pop_ok(), 0);
		used_expect(0, 0, 1);
	}
	post1(1, 8);		/* slot 14 */
	post(d, 2);		/* slots 15, 0: over the end */
	post1(7, 8);		/* slot 1, wrap 0 */
	a = pop_ok();
	b = pop_ok();
	c = pop_ok();
	ck_assert_int_eq(fx.vq.avail_wrap, 0);
	/* a completes; b and c are held at the stop. */
	vring_push(&fx.vq, fx.mem, a, 8);
	used_expect(1, 8, 1);
	(void)c;
	vring_worker_stop(&fx.vq);
	ck_assert_uint_eq(fx.vq.inflight, 0);
	ck_assert_uint_eq(fx.vq.last_avail_idx, NUM - 1);
	ck_assert_int_eq(fx.vq.avail_wrap, 1);
	/* Exact: used position = avail position, same wrap. */
	ck_assert_uint_eq(vring_packed_get_base(&fx.vq),
	    (uint32_t)(0x8000 | (NUM - 1)) << 16 | 0x8000 | (NUM - 1));
	b = pop_ok();
	ck_assert_uint_eq(b->head, 6);
	ck_assert_uint_eq(b->ndesc, 2);
	c = pop_ok();
	ck_assert_uint_eq(c->head, 7);
	vring_push(&fx.vq, fx.mem, c, 1);
	vring_push(&fx.vq, fx.mem, b, 2);
	used_expect(7, 1, 1);
	used_expect(6, 2, 2);
}
END_TEST

static Suite *
vring_packed_suite(void)
{
	Suite	*s = suite_create("vring_packed");
	TCase	*tc;

	tc = tcase_create("walk");
	tcase_add_checked_fixture(tc, setup, teardown);
	/* The 32768-entry ring goes round 3 times: slow on a loaded CI. */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_single);
	tcase_add_test(tc, test_chain_over_the_end);
	tcase_add_test(tc, test_out_of_order);
	tcase_add_test(tc, test_wrap_under_load);
	tcase_add_test(tc, test_rewind);
	tcase_add_test(tc, test_rewind_over_the_end);
	tcase_add_test(tc, test_stop_rewinds_held_tail);
	tcase_add_test(tc, test_indirect);
	tcase_add_test(tc, test_indirect_needs_feature);
	tcase_add_test(tc, test_full_ring_chain);
	tcase_add_test(tc, test_base_encoding);
	tcase_add_test(tc, test_flags_clear);
	tcase_add_test(tc, test_addr_checks);
	tcase_add_loop_test(tc, test_sizes, 0, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("notify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_notify_flags);
	tcase_add_test(tc, test_notify_event_next_lap);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_chain_longer_than_ring);
	tcase_add_test(tc, test_id_out_of_range);
	tcase_add_test(tc, test_id_out_of_range_last);
	tcase_add_test(tc, test_nested_indirect);
	tcase_add_test(tc, test_indirect_bad_length);
	tcase_add_test(tc, test_indirect_with_next);
	tcase_add_test(tc, test_indirect_table_unmapped);
	tcase_add_test(tc, test_buffer_unmapped);
	tcase_add_test(tc, test_readable_after_writable);
	tcase_add_test(tc, test_not_available_flags);
	tcase_add_test(tc, test_index_past_size);
	tcase_add_test(tc, test_too_many_in_flight);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(vring_packed_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? 0 : 1);
}
