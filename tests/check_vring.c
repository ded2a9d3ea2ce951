/*
 * Unit tests for core/vring.c (and core/worker.c, which runs rings): a
 * fake guest memory of memfd regions holds split rings laid out by the
 * test, which plays the guest driver.  Hostile cases are named after the
 * invariant they protect; each must make vring_pop() return NULL with an
 * error, never crash.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "device.h"
#include "guest_mem.h"
#include "vhost_user.h"
#include "vring.h"
#include "worker.h"

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
static struct fixture	 fx;

/* A memfd of `size` bytes. */
static int
check_vring_memfd(uint64_t size)
{
	int	 fd;

	fd = memfd_create("check_vring", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	return (fd);
}

/* Write guest memory (over region boundaries) as the guest would. */
static void
gw(uint64_t gpa, const void *buf, size_t len)
{
	const uint8_t	*in = buf;
	uint64_t	 n;
	uint8_t		*p;

	while (len > 0) {
		n = len;
		p = guest_mem_translate(fx.mem, gpa, &n);
		ck_assert_ptr_nonnull(p);
		memcpy(p, in, (size_t)n);
		in += n;
		gpa += n;
		len -= (size_t)n;
	}
}

/* Read guest memory. */
static void
gr(uint64_t gpa, void *buf, size_t len)
{
	uint8_t		*out = buf;
	uint64_t	 n;
	const uint8_t	*p;

	while (len > 0) {
		n = len;
		p = guest_mem_translate(fx.mem, gpa, &n);
		ck_assert_ptr_nonnull(p);
		memcpy(out, p, (size_t)n);
		out += n;
		gpa += n;
		len -= (size_t)n;
	}
}

/* Write a little-endian u16 into guest memory. */
static void
gw16(uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	gw(gpa, &v, sizeof v);
}

/* Read a little-endian u16 from guest memory. */
static uint16_t
gr16(uint64_t gpa)
{
	uint16_t	 v;

	gr(gpa, &v, sizeof v);
	return (le16toh(v));
}

/* Read a little-endian u32 from guest memory. */
static uint32_t
gr32(uint64_t gpa)
{
	uint32_t	 v;

	gr(gpa, &v, sizeof v);
	return (le32toh(v));
}

/* Write descriptor i of the table at `table`. */
static void
tdesc(uint64_t table, unsigned i, uint64_t addr, uint32_t len,
    uint16_t flags, uint16_t next)
{
	struct vring_desc	 d;

	d.addr = htole64(addr);
	d.len = htole32(len);
	d.flags = htole16(flags);
	d.next = htole16(next);
	gw(table + 16 * (uint64_t)i, &d, sizeof d);
}

/* Write descriptor i of the ring's table. */
static void
desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	tdesc(DESC_GPA, i, addr, len, flags, next);
}

/* Make head available, as the guest does. */
static void
avail_add(uint16_t head)
{
	gw16(AVAIL_GPA + 4 + 2 * (fx.aidx % fx.vq.num), head);
	fx.aidx++;
	gw16(AVAIL_GPA + 2, fx.aidx);
}

/* Build the guest memory and a configured ring of `num` entries. */
static void
ring_setup(uint16_t num)
{
	static const uint64_t gpa[4] = { GA, GB, GC, GD };
	static const uint64_t size[4] = { SMALL, SMALL, SMALL, BIG };
	const char	*err = NULL;
	char		*cause = NULL;
	unsigned	 i;
	int		 fd;

	memset(&fx, 0, sizeof fx);
	for (i = 0; i < 4; i++) {
		fd = check_vring_memfd(size[i]);
		fx.r[i] = guest_region_map(fd, gpa[i], size[i],
		    0x7f0000000000ULL + gpa[i], 0, &cause);
		ck_assert_msg(fx.r[i] != NULL, "%s", cause);
		close(fd);
	}
	fx.mem = guest_mem_new(fx.r, 4, &cause);
	ck_assert_msg(fx.mem != NULL, "%s", cause);
	vring_init(&fx.vq, NULL, 0);
	fx.vq.num = num;
	fx.vq.indirect = 1;	/* VIRTIO_F_INDIRECT_DESC negotiated */
	ck_assert_msg(vring_set_addr(&fx.vq, fx.mem, DESC_GPA, AVAIL_GPA,
	    USED_GPA, 0, &cause) == 0, "%s", cause);
	/* As the worker does at start: map, which reads used->idx. */
	ck_assert_msg(vring_map(&fx.vq, fx.mem, &err) == 0, "%s", err);
}

/* Checked fixture: a ring of NUM entries. */
static void
setup(void)
{
	ring_setup(NUM);
}

/* Free the fixture. */
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
	ck_assert_ptr_null(err);
	return (c);
}

/* Pop that must fail with an error mentioning `what`, consuming nothing. */
static void
pop_fails(const char *what)
{
	struct vring_chain	*c;
	const char		*err = NULL;
	uint16_t		 last = fx.vq.last_avail_idx;
	unsigned		 inflight = fx.vq.inflight;

	c = vring_pop(&fx.vq, fx.mem, &err);
	ck_assert_ptr_null(c);
	ck_assert_msg(err != NULL, "no error reported");
	ck_assert_msg(strstr(err, what) != NULL, "error '%s', expected '%s'",
	    err, what);
	ck_assert_uint_eq(fx.vq.last_avail_idx, last);
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

START_TEST(test_set_addr_checks)
{
	struct vring	 vq;
	const char	*err;
	char		*cause = NULL;

	ring_setup(NUM);
	vring_init(&vq, NULL, 1);
	/* Size not set. */
	ck_assert_int_eq(vring_set_addr(&vq, fx.mem, DESC_GPA, AVAIL_GPA,
	    USED_GPA, 0, &cause), -1);
	free(cause);
	vq.num = NUM;
	/* Misaligned rings. */
	ck_assert_int_eq(vring_set_addr(&vq, fx.mem, DESC_GPA + 8, AVAIL_GPA,
	    USED_GPA, 0, &cause), -1);
	free(cause);
	ck_assert_int_eq(vring_set_addr(&vq, fx.mem, DESC_GPA, AVAIL_GPA + 1,
	    USED_GPA, 0, &cause), -1);
	free(cause);
	ck_assert_int_eq(vring_set_addr(&vq, fx.mem, DESC_GPA, AVAIL_GPA,
	    USED_GPA + 2, 0, &cause), -1);
	free(cause);
	/* In the gap. */
	ck_assert_int_eq(vring_set_addr(&vq, fx.mem, 0x30000, AVAIL_GPA,
	    USED_GPA, 0, &cause), -1);
	free(cause);
	/* Crossing a region boundary: rings must be contiguous. */
	ck_assert_int_eq(vring_set_addr(&vq, fx.mem, GB - 0x80, AVAIL_GPA,
	    USED_GPA, 0, &cause), -1);
	free(cause);
	ck_assert_int_eq(vring_set_addr(&vq, fx.mem, DESC_GPA, AVAIL_GPA,
	    GB - 0x40, 0, &cause), -1);
	free(cause);
	/* No memory at all. */
	ck_assert_int_eq(vring_set_addr(&vq, NULL, DESC_GPA, AVAIL_GPA,
	    USED_GPA, 0, &cause), -1);
	free(cause);
	ck_assert_int_eq(vq.addr_set, 0);
	/* Good, and used_idx resumes from the guest's used->idx, read when
	 * the worker maps the ring, not by the main thread here. */
	gw16(0x8000 + 2, 7);
	ck_assert_int_eq(vring_set_addr(&vq, fx.mem, 0x6000, 0x7000, 0x8000,
	    1, &cause), 0);
	ck_assert_int_eq(vq.addr_set, 1);
	ck_assert_uint_eq(vq.used_idx, 0);
	ck_assert_int_eq(vring_map(&vq, fx.mem, &err), 0);
	ck_assert_uint_eq(vq.used_idx, 7);
	/* A later map (a new memory table) keeps the index it has. */
	gw16(0x8000 + 2, 9);
	vq.desc = NULL;
	ck_assert_int_eq(vring_map(&vq, fx.mem, &err), 0);
	ck_assert_uint_eq(vq.used_idx, 7);
	ck_assert_uint_eq(vq.addr_flags, 1);
	ck_assert_uint_eq(vq.desc_gpa, 0x6000);
	vring_free(&vq);
	teardown();
}
END_TEST

START_TEST(test_single_descriptor)
{
	struct vring_chain	*c;

	pop_empty();
	desc(0, 0x8000, 100, 0, 0);
	avail_add(0);
	c = pop_ok();
	ck_assert_uint_eq(c->head, 0);
	ck_assert_uint_eq(c->nsegs, 1);
	ck_assert_uint_eq(c->nread, 1);
	ck_assert_uint_eq(c->rlen, 100);
	ck_assert_uint_eq(c->wlen, 0);
	ck_assert_uint_eq(c->segs[0].gpa, 0x8000);
	ck_assert_uint_eq(fx.vq.last_avail_idx, 1);
	ck_assert_uint_eq(fx.vq.inflight, 1);
	pop_empty();
}
END_TEST

START_TEST(test_readable_and_writable)
{
	struct vring_chain	*c;
	struct iovec		 iov[4];
	char			 buf[64];

	gw(0x8000, "0123456789abcdef", 16);
	gw(0x8100, "ghijklmnopqrstuvwxyzABCDEFGHIJKL", 32);
	desc(3, 0x8000, 16, VRING_DESC_F_NEXT, 5);
	desc(5, 0x8100, 32, VRING_DESC_F_NEXT, 1);
	desc(1, 0x9000, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	desc(2, 0x9100, 8, VRING_DESC_F_WRITE, 0);
	avail_add(3);
	c = pop_ok();
	ck_assert_uint_eq(c->head, 3);
	ck_assert_uint_eq(c->nsegs, 4);
	ck_assert_uint_eq(c->nread, 2);
	ck_assert_uint_eq(c->rlen, 48);
	ck_assert_uint_eq(c->wlen, 72);

	/* Reads span segments; offsets skip; short at the end. */
	memset(buf, 0, sizeof buf);
	ck_assert_int_eq(vring_chain_read(c, fx.mem, 0, buf, sizeof buf), 48);
	ck_assert_int_eq(memcmp(buf, "0123456789abcdefghij", 20), 0);
	ck_assert_int_eq(vring_chain_read(c, fx.mem, 14, buf, 4), 4);
	ck_assert_int_eq(memcmp(buf, "efgh", 4), 0);
	ck_assert_int_eq(vring_chain_read(c, fx.mem, 48, buf, 4), 0);
	ck_assert_int_eq(vring_chain_read(c, fx.mem, 1000, buf, 4), 0);

	/* Writes go to the writable part only. */
	ck_assert_int_eq(vring_chain_write(c, fx.mem, 62, "WXYZ", 4), 4);
	gr(0x9000 + 62, buf, 2);
	ck_assert_int_eq(memcmp(buf, "WX", 2), 0);
	gr(0x9100, buf, 2);
	ck_assert_int_eq(memcmp(buf, "YZ", 2), 0);
	ck_assert_int_eq(vring_chain_write(c, fx.mem, 70, "1234", 4), 2);

	ck_assert_int_eq(vring_chain_iov(c, fx.mem, 0, 0, iov, 4), 2);
	ck_assert_uint_eq(iov[0].iov_len, 16);
	ck_assert_uint_eq(iov[1].iov_len, 32);
	ck_assert_int_eq(vring_chain_iov(c, fx.mem, 1, 10, iov, 4), 2);
	ck_assert_uint_eq(iov[0].iov_len, 54);
	ck_assert_uint_eq(iov[1].iov_len, 8);
	ck_assert_int_eq(vring_chain_iov(c, fx.mem, 1, 0, iov, 1), 1);
}
END_TEST

START_TEST(test_zero_length_skipped)
{
	struct vring_chain	*c;

	desc(0, 0x8000, 0, VRING_DESC_F_NEXT, 1);
	desc(1, 0x8000, 10, VRING_DESC_F_NEXT, 2);
	desc(2, 0x30000, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
	desc(3, 0x9000, 10, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	c = pop_ok();
	ck_assert_uint_eq(c->nsegs, 2);
	ck_assert_uint_eq(c->rlen, 10);
	ck_assert_uint_eq(c->wlen, 10);
}
END_TEST

START_TEST(test_buffer_across_regions)
{
	struct vring_chain	*c;
	struct iovec		 iov[4];
	char			 buf[32];

	gw(GB - 16, "abcdefghijklmnopqrstuvwxyz012345", 32);
	desc(0, GB - 16, 32, 0, 0);
	avail_add(0);
	c = pop_ok();
	ck_assert_int_eq(vring_chain_read(c, fx.mem, 0, buf, 32), 32);
	ck_assert_int_eq(memcmp(buf, "abcdefghijklmnopqrstuvwxyz012345", 32),
	    0);
	ck_assert_int_eq(vring_chain_iov(c, fx.mem, 0, 0, iov, 4), 2);
	ck_assert_ptr_eq(iov[0].iov_base, fx.r[0]->host + SMALL - 16);
	ck_assert_uint_eq(iov[0].iov_len, 16);
	ck_assert_ptr_eq(iov[1].iov_base, fx.r[1]->host);
	ck_assert_uint_eq(iov[1].iov_len, 16);
	/* Only one iovec room: a partial map. */
	ck_assert_int_eq(vring_chain_iov(c, fx.mem, 0, 0, iov, 1), 1);
}
END_TEST

START_TEST(test_indirect)
{
	struct vring_chain	*c;

	tdesc(0xa000, 0, 0x8000, 8, VRING_DESC_F_NEXT, 2);
	tdesc(0xa000, 2, 0x8100, 16, VRING_DESC_F_NEXT, 1);
	tdesc(0xa000, 1, 0x9000, 32, VRING_DESC_F_WRITE, 0);
	desc(4, 0xa000, 48, VRING_DESC_F_INDIRECT, 0);
	avail_add(4);
	c = pop_ok();
	ck_assert_uint_eq(c->head, 4);
	ck_assert_uint_eq(c->nsegs, 3);
	ck_assert_uint_eq(c->nread, 2);
	ck_assert_uint_eq(c->rlen, 24);
	ck_assert_uint_eq(c->wlen, 32);
	ck_assert_uint_eq(c->segs[1].gpa, 0x8100);
	ck_assert_uint_eq(c->segs[2].gpa, 0x9000);
}
END_TEST

START_TEST(test_indirect_across_regions)
{
	struct vring_chain	*c;
	char			 buf[24];

	/* Entries 0-1 in A, 2-3 in B: read one at a time through the
	 * translation. */
	gw(0x8100, "crossing-the-boundary!!!", 24);
	tdesc(GB - 32, 0, 0x8000, 8, VRING_DESC_F_NEXT, 3);
	tdesc(GB - 32, 3, 0x8100, 24, VRING_DESC_F_NEXT, 1);
	tdesc(GB - 32, 1, 0x9000, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
	    2);
	tdesc(GB - 32, 2, GB + 0x100, 16, VRING_DESC_F_WRITE, 0);
	desc(0, GB - 32, 64, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	c = pop_ok();
	ck_assert_uint_eq(c->nsegs, 4);
	ck_assert_uint_eq(c->rlen, 32);
	ck_assert_uint_eq(c->wlen, 32);
	ck_assert_uint_eq(c->segs[3].gpa, GB + 0x100);
	ck_assert_int_eq(vring_chain_read(c, fx.mem, 8, buf, 24), 24);
	ck_assert_int_eq(memcmp(buf, "crossing-the-boundary!!!", 24), 0);
}
END_TEST

START_TEST(test_direct_then_indirect)
{
	struct vring_chain	*c;

	tdesc(0xa000, 0, 0x9000, 32, VRING_DESC_F_WRITE, 0);
	desc(0, 0x8000, 8, VRING_DESC_F_NEXT, 1);
	desc(1, 0xa000, 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	c = pop_ok();
	ck_assert_uint_eq(c->nsegs, 2);
	ck_assert_uint_eq(c->rlen, 8);
	ck_assert_uint_eq(c->wlen, 32);
}
END_TEST

START_TEST(test_push_writes_used_ring)
{
	struct vring_chain	*c, *d;

	desc(2, 0x9000, 64, VRING_DESC_F_WRITE, 0);
	desc(7, 0x9100, 16, VRING_DESC_F_WRITE, 0);
	avail_add(2);
	avail_add(7);
	c = pop_ok();
	d = pop_ok();
	ck_assert_uint_eq(fx.vq.inflight, 2);
	/* Completion out of order. */
	vring_push(&fx.vq, fx.mem, d, 10);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 1);
	ck_assert_uint_eq(gr32(USED_GPA + 4), 7);
	ck_assert_uint_eq(gr32(USED_GPA + 8), 10);
	/* A length beyond the writable part is clamped. */
	vring_push(&fx.vq, fx.mem, c, 1000);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 2);
	ck_assert_uint_eq(gr32(USED_GPA + 12), 2);
	ck_assert_uint_eq(gr32(USED_GPA + 16), 64);
	ck_assert_uint_eq(fx.vq.inflight, 0);
	ck_assert_uint_eq(fx.vq.used_idx, 2);
	/* Pushing again is refused, the ring untouched. */
	vring_push(&fx.vq, fx.mem, c, 1);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 2);
}
END_TEST

START_TEST(test_index_wraparound)
{
	struct vring_chain	*c;
	unsigned		 i;

	desc(0, 0x8000, 8, 0, 0);
	fx.aidx = 65534;
	fx.vq.last_avail_idx = 65534;
	fx.vq.used_idx = 65535;
	for (i = 0; i < 3; i++)
		avail_add(0);
	for (i = 0; i < 3; i++) {
		c = pop_ok();
		vring_push(&fx.vq, fx.mem, c, 0);
	}
	ck_assert_uint_eq(fx.vq.last_avail_idx, 1);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 2);
	pop_empty();
}
END_TEST

START_TEST(test_full_ring)
{
	unsigned	 i;

	for (i = 0; i < NUM; i++) {
		desc(i, 0x8000 + 16 * i, 16, 0, 0);
		avail_add((uint16_t)i);
	}
	for (i = 0; i < NUM; i++)
		ck_assert_uint_eq(pop_ok()->head, i);
	pop_empty();
}
END_TEST

START_TEST(test_rewind)
{
	struct vring_chain	*c, *d;

	desc(0, 0x8000, 8, 0, 0);
	desc(1, 0x8100, 8, 0, 0);
	avail_add(0);
	avail_add(1);
	c = pop_ok();
	d = pop_ok();
	/* Only the last popped chain may be rewound. */
	ck_assert_int_eq(vring_rewind(&fx.vq, c), -1);
	ck_assert_int_eq(vring_rewind(&fx.vq, d), 0);
	ck_assert_uint_eq(fx.vq.last_avail_idx, 1);
	ck_assert_uint_eq(fx.vq.inflight, 1);
	ck_assert_int_eq(vring_rewind(&fx.vq, d), -1);
	d = pop_ok();
	ck_assert_uint_eq(d->head, 1);
	vring_push(&fx.vq, fx.mem, d, 0);
	ck_assert_int_eq(vring_rewind(&fx.vq, d), -1);
	ck_assert_int_eq(vring_rewind(&fx.vq, NULL), -1);
}
END_TEST

START_TEST(test_memory_update_rederives_rings)
{
	struct guest_mem	*old = fx.mem;
	char			*cause = NULL;

	desc(0, 0x8000, 8, 0, 0);
	avail_add(0);
	(void)pop_ok();
	ck_assert_uint_eq(fx.vq.mem_gen, old->gen);
	fx.mem = guest_mem_new(fx.r, 4, &cause);
	ck_assert_ptr_nonnull(fx.mem);
	avail_add(0);
	(void)pop_ok();
	ck_assert_uint_eq(fx.vq.mem_gen, fx.mem->gen);
	guest_mem_free(old);
	/* A table without the rings' region: an error, not a crash. */
	old = fx.mem;
	avail_add(0);
	fx.mem = guest_mem_new(&fx.r[1], 3, &cause);
	ck_assert_ptr_nonnull(fx.mem);
	pop_fails("not in guest memory");
	guest_mem_free(fx.mem);
	fx.mem = old;
}
END_TEST

/* Hostile guests. */

START_TEST(test_descriptor_loop)
{
	desc(0, 0x8000, 8, VRING_DESC_F_NEXT, 1);
	desc(1, 0x8000, 8, VRING_DESC_F_NEXT, 0);
	avail_add(0);
	pop_fails("longer than the queue");
}
END_TEST

START_TEST(test_descriptor_self_loop)
{
	desc(5, 0x8000, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 5);
	avail_add(5);
	pop_fails("longer than the queue");
}
END_TEST

START_TEST(test_next_out_of_range)
{
	desc(0, 0x8000, 8, VRING_DESC_F_NEXT, NUM);
	avail_add(0);
	pop_fails("out of range");
}
END_TEST

START_TEST(test_head_out_of_range)
{
	avail_add(NUM);
	pop_fails("head");
	/* Far out too. */
	fx.aidx = 0;
	gw16(AVAIL_GPA + 2, 0);
	avail_add(0xffff);
	pop_fails("head");
}
END_TEST

START_TEST(test_avail_idx_jump)
{
	gw16(AVAIL_GPA + 2, NUM + 1);
	pop_fails("more than the queue size");
	gw16(AVAIL_GPA + 2, 0x8000);
	pop_fails("more than the queue size");
}
END_TEST

START_TEST(test_indirect_with_next)
{
	tdesc(0xa000, 0, 0x8000, 8, 0, 0);
	desc(0, 0xa000, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	desc(1, 0x8000, 8, 0, 0);
	avail_add(0);
	pop_fails("NEXT");
}
END_TEST

START_TEST(test_nested_indirect)
{
	tdesc(0xb000, 0, 0x8000, 8, 0, 0);
	tdesc(0xa000, 0, 0x8000, 8, VRING_DESC_F_NEXT, 1);
	tdesc(0xa000, 1, 0xb000, 16, VRING_DESC_F_INDIRECT, 0);
	desc(0, 0xa000, 32, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	pop_fails("nested");
}
END_TEST

START_TEST(test_indirect_bad_length)
{
	desc(0, 0xa000, 0, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	pop_fails("multiple of 16");
	desc(0, 0xa000, 20, VRING_DESC_F_INDIRECT, 0);
	pop_fails("multiple of 16");
	desc(0, GD, (VRING_MAX_SIZE + 1) * 16, VRING_DESC_F_INDIRECT, 0);
	pop_fails("too big");
}
END_TEST

START_TEST(test_indirect_loop)
{
	tdesc(0xa000, 0, 0x8000, 8, VRING_DESC_F_NEXT, 1);
	tdesc(0xa000, 1, 0x8000, 8, VRING_DESC_F_NEXT, 0);
	desc(0, 0xa000, 32, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	pop_fails("loops");
	tdesc(0xa000, 1, 0x8000, 8, VRING_DESC_F_NEXT, 2);
	pop_fails("out of range");
}
END_TEST

START_TEST(test_indirect_table_unmapped)
{
	desc(0, 0x30000, 32, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	pop_fails("indirect table is not in guest memory");
	/* Starts mapped, ends in the gap. */
	desc(0, 2 * SMALL - 16, 32, VRING_DESC_F_INDIRECT, 0);
	pop_fails("indirect table is not in guest memory");
}
END_TEST

START_TEST(test_buffer_unmapped)
{
	desc(0, 0x30000, 8, 0, 0);
	avail_add(0);
	pop_fails("not in guest memory");
	desc(0, UINT64_MAX - 3, 8, 0, 0);
	pop_fails("not in guest memory");
}
END_TEST

START_TEST(test_buffer_partially_mapped)
{
	desc(0, 0x8000, 8, VRING_DESC_F_NEXT, 1);
	desc(1, 2 * SMALL - 16, 32, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	pop_fails("not in guest memory");
	/* In an indirect table too. */
	tdesc(0xa000, 0, GC + SMALL - 4, 8, 0, 0);
	desc(0, 0xa000, 16, VRING_DESC_F_INDIRECT, 0);
	pop_fails("not in guest memory");
}
END_TEST

START_TEST(test_readable_after_writable)
{
	desc(0, 0x9000, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	desc(1, 0x8000, 8, 0, 0);
	avail_add(0);
	pop_fails("readable descriptor after a writable");
	tdesc(0xa000, 0, 0x9000, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
	    1);
	tdesc(0xa000, 1, 0x8000, 8, 0, 0);
	desc(0, 0xa000, 32, VRING_DESC_F_INDIRECT, 0);
	pop_fails("readable descriptor after a writable");
}
END_TEST

START_TEST(test_total_length_overflow)
{
	unsigned	 i;

	/* Five 1 GiB buffers of the sparse region: 5 GiB > 4 GiB. */
	for (i = 0; i < 5; i++)
		desc(i, GD, (uint32_t)BIG, VRING_DESC_F_WRITE |
		    (i < 4 ? VRING_DESC_F_NEXT : 0), (uint16_t)(i + 1));
	avail_add(0);
	pop_fails("4 GiB");
	/* Four are fine (4 GiB - 1 would be the limit). */
	desc(3, GD, (uint32_t)BIG - 1, VRING_DESC_F_WRITE, 0);
	ck_assert_uint_eq(pop_ok()->wlen, 4 * BIG - 1);
}
END_TEST

START_TEST(test_too_many_in_flight)
{
	teardown();
	ring_setup(2);
	desc(0, 0x8000, 8, 0, 0);
	avail_add(0);
	avail_add(0);
	(void)pop_ok();
	(void)pop_ok();
	avail_add(0);
	pop_fails("in flight");
}
END_TEST

START_TEST(test_no_memory)
{
	const char	*err = NULL;

	desc(0, 0x8000, 8, 0, 0);
	avail_add(0);
	ck_assert_ptr_null(vring_pop(&fx.vq, NULL, &err));
	ck_assert_ptr_nonnull(err);
	fx.vq.num = 0;
	err = NULL;
	ck_assert_ptr_null(vring_pop(&fx.vq, fx.mem, &err));
	ck_assert_ptr_nonnull(err);
}
END_TEST

/* Notification. */

START_TEST(test_need_event)
{
	/* The guest asked for an interrupt after entry `event`. */
	ck_assert_int_eq(vring_need_event(0, 1, 0), 1);
	ck_assert_int_eq(vring_need_event(1, 1, 0), 0);
	ck_assert_int_eq(vring_need_event(4, 6, 3), 1);
	ck_assert_int_eq(vring_need_event(5, 6, 3), 1);
	ck_assert_int_eq(vring_need_event(6, 6, 3), 0);
	ck_assert_int_eq(vring_need_event(2, 6, 3), 0);
	/* Across the 16-bit wrap. */
	ck_assert_int_eq(vring_need_event(0xffff, 1, 0xfffe), 1);
	ck_assert_int_eq(vring_need_event(0, 1, 0xfffe), 1);
	ck_assert_int_eq(vring_need_event(1, 1, 0xfffe), 0);
	/* No progress: never. */
	ck_assert_int_eq(vring_need_event(3, 3, 3), 0);
}
END_TEST

START_TEST(test_notify_no_interrupt_flag)
{
	struct vring_chain	*c;
	eventfd_t		 v;
	int			 efd;

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ck_assert_int_ge(efd, 0);
	fx.vq.call_fd = efd;
	desc(0, 0x9000, 8, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	c = pop_ok();
	vring_push(&fx.vq, fx.mem, c, 4);
	ck_assert_int_eq(vring_need_notify(&fx.vq, fx.mem), 1);
	vring_notify(&fx.vq, fx.mem);
	ck_assert_int_eq(eventfd_read(efd, &v), 0);
	ck_assert_uint_eq(v, 1);
	gw16(AVAIL_GPA, VRING_AVAIL_F_NO_INTERRUPT);
	ck_assert_int_eq(vring_need_notify(&fx.vq, fx.mem), 0);
	vring_notify(&fx.vq, fx.mem);
	ck_assert_int_eq(eventfd_read(efd, &v), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* vring_free closes the call fd. */
}
END_TEST

START_TEST(test_event_idx)
{
	struct vring_chain	*c;
	uint64_t		 avail_event = USED_GPA + 4 + 8 * NUM;
	uint64_t		 used_event = AVAIL_GPA + 4 + 2 * NUM;
	unsigned		 i;

	fx.vq.event_idx = 1;
	/* Empty: we publish where we are. */
	gw16(avail_event, 0xdead);
	pop_empty();
	ck_assert_uint_eq(gr16(avail_event), 0);

	desc(0, 0x9000, 8, VRING_DESC_F_WRITE, 0);
	for (i = 0; i < 3; i++)
		avail_add(0);
	for (i = 0; i < 3; i++) {
		c = pop_ok();
		vring_push(&fx.vq, fx.mem, c, 1);
	}
	pop_empty();
	ck_assert_uint_eq(gr16(avail_event), 3);

	/* The first decision has nothing to compare with: notify. */
	gw16(used_event, 0);
	ck_assert_int_eq(vring_need_notify(&fx.vq, fx.mem), 1);
	ck_assert_uint_eq(fx.vq.signalled_used, 3);
	/* The guest wants a call after used entry 4 (idx 4 -> 5). */
	gw16(used_event, 4);
	avail_add(0);
	vring_push(&fx.vq, fx.mem, pop_ok(), 1);	/* used 3 -> 4 */
	ck_assert_int_eq(vring_need_notify(&fx.vq, fx.mem), 0);
	avail_add(0);
	vring_push(&fx.vq, fx.mem, pop_ok(), 1);	/* used 4 -> 5 */
	ck_assert_int_eq(vring_need_notify(&fx.vq, fx.mem), 1);
	/* Nothing new since the last call. */
	ck_assert_int_eq(vring_need_notify(&fx.vq, fx.mem), 0);
	/* NO_INTERRUPT is ignored with EVENT_IDX. */
	gw16(AVAIL_GPA, VRING_AVAIL_F_NO_INTERRUPT);
	gw16(used_event, 5);
	avail_add(0);
	vring_push(&fx.vq, fx.mem, pop_ok(), 1);	/* used 5 -> 6 */
	ck_assert_int_eq(vring_need_notify(&fx.vq, fx.mem), 1);
}
END_TEST

START_TEST(test_event_idx_recheck)
{
	fx.vq.event_idx = 1;
	desc(0, 0x8000, 8, 0, 0);
	avail_add(0);
	/* Not empty: avail_event is not touched on the way. */
	gw16(USED_GPA + 4 + 8 * NUM, 0x1234);
	(void)pop_ok();
	ck_assert_uint_eq(gr16(USED_GPA + 4 + 8 * NUM), 0x1234);
	pop_empty();
	ck_assert_uint_eq(gr16(USED_GPA + 4 + 8 * NUM), 1);
}
END_TEST

/* Workers, and rings started on them. */

static _Atomic int	 wk_count;
static struct worker	*wk_seen;
static int		 wk_sig_blocked;
static char		 wk_tname[32];

/* Record which worker runs us, its thread name and signal mask. */
static void
wk_record(void *arg)
{
	sigset_t	 set;

	(void)arg;
	wk_seen = worker_self();
	pthread_getname_np(pthread_self(), wk_tname, sizeof wk_tname);
	pthread_sigmask(SIG_BLOCK, NULL, &set);
	wk_sig_blocked = sigismember(&set, SIGINT) &&
	    sigismember(&set, SIGTERM) && sigismember(&set, SIGHUP);
}

/* Count one call. */
static void
wk_inc(void *arg)
{
	(void)arg;
	atomic_fetch_add(&wk_count, 1);
}

/* Post a waiting command to our own worker: it must run inline. */
static void
wk_self_post(void *arg)
{
	struct worker	*w = arg;

	worker_post(w, WCMD_CALL, NULL, wk_inc, NULL, 1);
	/* Ran already, not queued behind us. */
	if (atomic_load(&wk_count) == 1)
		atomic_fetch_add(&wk_count, 10);
	worker_sync(w);
}

START_TEST(test_worker_runs_commands)
{
	struct worker	*w;
	char		*cause = NULL;
	int		 i;

	atomic_store(&wk_count, 0);
	w = worker_start("tw0/w0", &cause);
	ck_assert_msg(w != NULL, "%s", cause);
	ck_assert_str_eq(worker_name(w), "tw0/w0");
	ck_assert_ptr_null(worker_self());
	worker_post(w, WCMD_CALL, NULL, wk_record, NULL, 1);
	ck_assert_ptr_eq(wk_seen, w);
	ck_assert_str_eq(wk_tname, "tw0/w0");
	ck_assert_int_eq(wk_sig_blocked, 1);

	for (i = 0; i < 1000; i++)
		worker_post(w, WCMD_CALL, NULL, wk_inc, NULL, 0);
	worker_sync(w);
	ck_assert_int_eq(atomic_load(&wk_count), 1000);

	atomic_store(&wk_count, 0);
	worker_post(w, WCMD_CALL, NULL, wk_self_post, w, 1);
	ck_assert_int_eq(atomic_load(&wk_count), 11);
	worker_stop(w);
}
END_TEST

START_TEST(test_worker_stop_runs_pending)
{
	struct worker	*w;
	char		*cause = NULL;
	int		 i;

	atomic_store(&wk_count, 0);
	w = worker_start("tw1", &cause);
	ck_assert_ptr_nonnull(w);
	for (i = 0; i < 100; i++)
		worker_post(w, WCMD_CALL, NULL, wk_inc, NULL, 0);
	worker_stop(w);
	ck_assert_int_eq(atomic_load(&wk_count), 100);
}
END_TEST

/* A device served by one real worker, for start/stop tests. */
static struct device	 wdev;
static struct worker	*wdev_workers[1];
static _Atomic int	 wq_handled, wq_started, wq_stopped;
static int		 wq_hold;
static struct vring_chain *wq_held;
static struct vring_chain *wq_chains[NUM];	/* held, in pop order */
static unsigned		 wq_nheld;
/* For the api tests. */
static const struct vhd_api	*at_api;
static struct vhd_watch		*at_watch;
static _Atomic int		 at_fired, at_popped, at_on_worker;

/* Queue handler: pop everything; push unless told to hold. */
static void
wq_handler(struct vhd_dev *d, struct vhd_queue *q)
{
	struct device		*dev = device_from_vhd(d);
	struct vring		*vq = (struct vring *)(void *)q;
	struct vring_chain	*c;
	const char		*err = NULL;

	while ((c = vring_pop(vq, device_mem(dev), &err)) != NULL) {
		atomic_fetch_add(&wq_handled, 1);
		if (wq_hold) {
			wq_held = c;
			if (wq_nheld < NUM)
				wq_chains[wq_nheld++] = c;
		} else
			vring_push(vq, device_mem(dev), c, 0);
	}
	/* As api->queue_pop does. */
	if (err != NULL)
		device_fail(dev, "queue %u: %s", vq->index, err);
}

/* Queue start callback. */
static void
wq_start(struct vhd_dev *d, struct vhd_queue *q)
{
	(void)d;
	(void)q;
	atomic_fetch_add(&wq_started, 1);
}

/* Queue stop callback. */
static void
wq_stop(struct vhd_dev *d, struct vhd_queue *q)
{
	(void)d;
	(void)q;
	atomic_fetch_add(&wq_stopped, 1);
}

static const struct vhd_device_ops wq_ops = {
	.size = sizeof(struct vhd_device_ops),
	.queue_handler = wq_handler,
	.queue_start = wq_start,
	.queue_stop = wq_stop,
};

/* Build wdev around the fixture's memory, with one worker and the ring
 * ready to start. */
static void
wdev_setup(void)
{
	char	*cause = NULL;

	setup();
	atomic_store(&wq_handled, 0);
	atomic_store(&wq_started, 0);
	atomic_store(&wq_stopped, 0);
	wq_hold = 0;
	wq_held = NULL;
	wq_nheld = 0;
	atomic_store(&at_fired, 0);
	atomic_store(&at_popped, 0);
	atomic_store(&at_on_worker, 0);
	at_watch = NULL;
	memset(&wdev, 0, sizeof wdev);
	wdev.name = (char *)(uintptr_t)"tdev0";
	wdev.ops = &wq_ops;
	wdev.nworkers = 1;
	wdev_workers[0] = worker_start("tdev0/w0", &cause);
	ck_assert_ptr_nonnull(wdev_workers[0]);
	wdev.workers = wdev_workers;
	wdev.vrings = &fx.vq;
	wdev.info.num_queues = 1;
	pthread_mutex_init(&wdev.err_lock, NULL);
	pthread_mutex_init(&wdev.holes_lock, NULL);
	atomic_store(&wdev.mem, fx.mem);
	fx.vq.dev = &wdev;
	fx.vq.kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ck_assert_int_ge(fx.vq.kick_fd, 0);
	fx.vq.enabled = 1;
}

/* Stop and free wdev. */
static void
wdev_teardown(void)
{
	vring_stop(&fx.vq);
	worker_stop(wdev_workers[0]);
	teardown();
}

/* Wait (bounded) until the handler has seen n chains. */
static void
wq_wait_handled(int n)
{
	struct timespec	 ts = { 0, 1000000 };
	int		 i;

	for (i = 0; i < 2000 && atomic_load(&wq_handled) < n; i++)
		nanosleep(&ts, NULL);
	ck_assert_int_eq(atomic_load(&wq_handled), n);
}

START_TEST(test_start_sees_earlier_buffers)
{
	desc(0, 0x9000, 8, VRING_DESC_F_WRITE, 0);
	/* Made available, no kick, before the ring starts (rust-vmm
	 * vhost#247): start must still see it. */
	avail_add(0);
	ck_assert_int_eq(vring_can_start(&fx.vq), 1);
	vring_update(&fx.vq);
	ck_assert_int_eq(fx.vq.started, 1);
	ck_assert_int_eq(atomic_load(&wq_started), 1);
	ck_assert_int_eq(atomic_load(&wq_handled), 1);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 1);

	/* A kick runs the handler on the worker. */
	avail_add(0);
	ck_assert_int_eq(eventfd_write(fx.vq.kick_fd, 1), 0);
	wq_wait_handled(2);
	worker_sync(wdev_workers[0]);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 2);

	/* Updating a started ring that can run is a no-op. */
	vring_update(&fx.vq);
	ck_assert_int_eq(atomic_load(&wq_started), 1);
	/* Disabling it stops it. */
	fx.vq.enabled = 0;
	vring_update(&fx.vq);
	ck_assert_int_eq(fx.vq.started, 0);
	ck_assert_int_eq(atomic_load(&wq_stopped), 1);
	ck_assert_uint_eq(fx.vq.last_avail_idx, 2);
}
END_TEST

START_TEST(test_stop_rewinds_held_chains)
{
	desc(0, 0x9000, 8, VRING_DESC_F_WRITE, 0);
	wq_hold = 1;
	avail_add(0);
	vring_update(&fx.vq);
	ck_assert_int_eq(atomic_load(&wq_handled), 1);
	ck_assert_uint_eq(fx.vq.last_avail_idx, 1);
	vring_stop(&fx.vq);
	/* The held chain was never completed: GET_VRING_BASE must report
	 * it as not consumed. */
	ck_assert_uint_eq(fx.vq.last_avail_idx, 0);
	ck_assert_uint_eq(fx.vq.inflight, 0);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 0);
	/* Restarting serves it again. */
	wq_hold = 0;
	vring_update(&fx.vq);
	ck_assert_int_eq(atomic_load(&wq_handled), 2);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 1);
}
END_TEST

START_TEST(test_start_conditions)
{
	ck_assert_int_eq(vring_can_start(&fx.vq), 1);
	fx.vq.enabled = 0;
	ck_assert_int_eq(vring_can_start(&fx.vq), 0);
	fx.vq.enabled = 1;
	atomic_store(&wdev.broken, 1);
	ck_assert_int_eq(vring_can_start(&fx.vq), 0);
	atomic_store(&wdev.broken, 0);
	fx.vq.addr_set = 0;
	ck_assert_int_eq(vring_can_start(&fx.vq), 0);
	fx.vq.addr_set = 1;
	/* No memory holding the rings: not started. */
	atomic_store(&wdev.mem, NULL);
	vring_update(&fx.vq);
	ck_assert_int_eq(fx.vq.started, 0);
	ck_assert_int_eq(atomic_load(&wq_started), 0);
	atomic_store(&wdev.mem, fx.mem);
	vring_update(&fx.vq);
	ck_assert_int_eq(fx.vq.started, 1);
}
END_TEST


/* On the worker: push the held chain wq_chains[*arg] with length 0. */
static void
wq_push_held(void *arg)
{
	unsigned	 i = *(unsigned *)arg;

	vring_push(&fx.vq, device_mem(&wdev), wq_chains[i], 0);
}

START_TEST(test_stop_completes_held_chains_not_last)
{
	unsigned	 i, one = 1;

	/* Three chains popped and held; the module completes the middle
	 * one and still holds the first and the last at queue_stop. */
	for (i = 0; i < 3; i++)
		desc(i, 0x9000 + 0x100 * i, 8, VRING_DESC_F_WRITE, 0);
	wq_hold = 1;
	vring_update(&fx.vq);
	for (i = 0; i < 3; i++)
		avail_add((uint16_t)i);
	ck_assert_int_eq(eventfd_write(fx.vq.kick_fd, 1), 0);
	wq_wait_handled(3);
	worker_post(wdev_workers[0], WCMD_CALL, NULL, wq_push_held, &one, 1);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 1);
	ck_assert_int_eq(vring_stop(&fx.vq), 0);
	/*
	 * Exact: the last popped one (head 2) is rewound, so the base is 2;
	 * the first one (head 0) cannot be rewound without serving head 1
	 * twice, so it is completed with length 0.  None lost.
	 */
	ck_assert_uint_eq(fx.vq.last_avail_idx, 2);
	ck_assert_uint_eq(fx.vq.inflight, 0);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 2);
	ck_assert_uint_eq(gr32(USED_GPA + 4), 1);	/* head 1 ... */
	ck_assert_uint_eq(gr32(USED_GPA + 12), 0);	/* ... then head 0 */
	ck_assert_uint_eq(gr32(USED_GPA + 16), 0);	/* with length 0 */
	/* The restart serves head 2 once. */
	wq_hold = 0;
	vring_update(&fx.vq);
	wq_wait_handled(4);
	worker_sync(wdev_workers[0]);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 3);
	ck_assert_uint_eq(gr32(USED_GPA + 20), 2);
}
END_TEST

START_TEST(test_start_clears_used_flags)
{
	/* A previous back-end left VRING_USED_F_NO_NOTIFY set: the guest
	 * would never kick us again. */
	gw16(USED_GPA, 1);
	vring_update(&fx.vq);
	ck_assert_int_eq(fx.vq.started, 1);
	ck_assert_uint_eq(gr16(USED_GPA), 0);
}
END_TEST

START_TEST(test_indirect_needs_feature)
{
	tdesc(0xa000, 0, 0x9000, 8, VRING_DESC_F_WRITE, 0);
	desc(0, 0xa000, 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	fx.vq.indirect = 0;
	pop_fails("INDIRECT_DESC");
	fx.vq.indirect = 1;
	pop_ok();
}
END_TEST

/* Swap the ring's memory for `mem` as device_set_mem does. */
static void
wq_set_mem(struct guest_mem *mem)
{
	atomic_store(&wdev.mem, mem);
	ck_assert_int_eq(worker_sync(wdev_workers[0]), 0);
}

START_TEST(test_removed_ring_pauses)
{
	struct guest_region	*rest[3] = { fx.r[1], fx.r[2], fx.r[3] };
	struct guest_mem	*without_a;
	char			*cause = NULL;

	desc(0, 0x9000, 8, VRING_DESC_F_WRITE, 0);
	vring_update(&fx.vq);
	ck_assert_int_eq(fx.vq.started, 1);
	/* REM_MEM_REG of region A, which holds the rings. */
	without_a = guest_mem_new(rest, 3, &cause);
	ck_assert_msg(without_a != NULL, "%s", cause);
	device_mem_hole_add(&wdev, GA, SMALL);
	wq_set_mem(without_a);
	avail_add(0);
	ck_assert_int_eq(eventfd_write(fx.vq.kick_fd, 1), 0);
	worker_sync(wdev_workers[0]);
	worker_sync(wdev_workers[0]);
	ck_assert_int_eq(atomic_load(&wdev.broken), 0);
	ck_assert_int_eq(fx.vq.paused, 1);
	ck_assert_uint_eq(fx.vq.last_avail_idx, 0);
	/* ADD_MEM_REG brings it back: the queue resumes by itself. */
	wq_set_mem(fx.mem);
	device_mem_holes_clear(&wdev);
	vring_resume(&fx.vq);
	wq_wait_handled(1);
	worker_sync(wdev_workers[0]);
	ck_assert_int_eq(fx.vq.paused, 0);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 1);
	ck_assert_int_eq(atomic_load(&wdev.broken), 0);
	guest_mem_free(without_a);
}
END_TEST

START_TEST(test_removed_buffer_pauses_gap_breaks)
{
	struct guest_region	*rest[3] = { fx.r[0], fx.r[2], fx.r[3] };
	struct guest_mem	*without_b;
	char			*cause = NULL;

	/* A buffer in B, removed: the pop is not taken, the queue pauses. */
	desc(0, GB + 0x100, 8, VRING_DESC_F_WRITE, 0);
	vring_update(&fx.vq);
	without_b = guest_mem_new(rest, 3, &cause);
	ck_assert_msg(without_b != NULL, "%s", cause);
	device_mem_hole_add(&wdev, GB, SMALL);
	wq_set_mem(without_b);
	avail_add(0);
	ck_assert_int_eq(eventfd_write(fx.vq.kick_fd, 1), 0);
	worker_sync(wdev_workers[0]);
	worker_sync(wdev_workers[0]);
	ck_assert_int_eq(atomic_load(&wdev.broken), 0);
	ck_assert_int_eq(fx.vq.paused, 1);
	ck_assert_int_eq(atomic_load(&wq_handled), 0);
	wq_set_mem(fx.mem);
	device_mem_holes_clear(&wdev);
	vring_resume(&fx.vq);
	wq_wait_handled(1);
	worker_sync(wdev_workers[0]);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 1);
	/* A buffer in the gap that was never memory still breaks it. */
	desc(1, 0x30000, 8, VRING_DESC_F_WRITE, 0);
	device_mem_hole_add(&wdev, GB, SMALL);
	avail_add(1);
	ck_assert_int_eq(eventfd_write(fx.vq.kick_fd, 1), 0);
	worker_sync(wdev_workers[0]);
	worker_sync(wdev_workers[0]);
	ck_assert_int_eq(atomic_load(&wdev.broken), 1);
	device_mem_holes_clear(&wdev);
	guest_mem_free(without_b);
}
END_TEST

/* A worker command that blocks until wk_release is set (at most 20 s). */
static _Atomic int	 wk_release;

/* Block the worker. */
static void
wk_block(void *arg)
{
	int	 i;

	(void)arg;
	for (i = 0; i < 2000 && !atomic_load(&wk_release); i++)
		usleep(10000);
}

START_TEST(test_worker_wait_is_bounded)
{
	struct worker	*w;
	char		*cause = NULL;
	struct timespec	 t0, t1;
	long		 ms;

	w = worker_start("stuck/w0", &cause);
	ck_assert_ptr_nonnull(w);
	atomic_store(&wk_release, 0);
	worker_post(w, WCMD_CALL, NULL, wk_block, NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Would block until released; gives up after WORKER_WAIT_MS. */
	ck_assert_int_eq(worker_post(w, WCMD_CALL, NULL, wk_inc, NULL, 1),
	    -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_int_ge(ms, WORKER_WAIT_MS - 100);
	ck_assert_int_eq(worker_stuck(w), 1);
	/* Never waited on again. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(worker_sync(w), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 2);
	/* The cancelled command never runs, even once the worker is back. */
	atomic_store(&wk_count, 0);
	atomic_store(&wk_release, 1);
	worker_stop(w);
	ck_assert_int_eq(atomic_load(&wk_count), 0);
	ck_assert_uint_eq(worker_abandoned(), 0);
}
END_TEST

START_TEST(test_worker_stop_leaves_stuck_thread)
{
	struct worker	*w;
	char		*cause = NULL;
	struct timespec	 t0, t1;

	w = worker_start("stuck/w1", &cause);
	ck_assert_ptr_nonnull(w);
	atomic_store(&wk_release, 0);
	worker_post(w, WCMD_CALL, NULL, wk_block, NULL, 0);
	ck_assert_int_eq(worker_sync(w), -1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	worker_stop(w);		/* must not hang on the thread */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 3);
	ck_assert_uint_eq(worker_abandoned(), 1);
	atomic_store(&wk_release, 1);
}
END_TEST

/* The SDK table, exercised on a running ring. */


/* Timer callback: pop and complete what is available through the API. */
static void
at_timer_cb(struct vhd_watch *w, int fd, short events, void *arg)
{
	struct vhd_queue	*q = arg;
	struct vhd_chain	*c;

	(void)w;
	if (fd == -1 && (events & VHD_EV_TIMEOUT))
		atomic_fetch_add(&at_fired, 1);
	while ((c = at_api->queue_pop(q)) != NULL) {
		if (at_api->chain_writable(c) == 8 &&
		    at_api->chain_write(c, 0, "api-data", 8) == 8)
			atomic_fetch_add(&at_popped, 1);
		at_api->queue_push(q, c, 8);
	}
	at_api->queue_notify(q);
}

/* On the worker: create and arm a timer. */
static void
at_arm(struct vhd_dev *d, void *arg)
{
	(void)arg;
	if (worker_self() == wdev_workers[0])
		atomic_store(&at_on_worker, 1);
	at_watch = at_api->watch_new(d, 0, -1, 0, at_timer_cb,
	    at_api->dev_queue(d, 0));
	if (at_watch != NULL)
		at_api->watch_add(at_watch, 5);
}

/* Wait (bounded) until *v reaches n. */
static void
at_wait(_Atomic int *v, int n)
{
	struct timespec	 ts = { 0, 1000000 };
	int		 i;

	for (i = 0; i < 2000 && atomic_load(v) < n; i++)
		nanosleep(&ts, NULL);
	ck_assert_int_eq(atomic_load(v), n);
}

START_TEST(test_api_table)
{
	const struct vhd_api	*api = api_get();

	ck_assert_uint_eq(api->size, sizeof(struct vhd_api));
	ck_assert_uint_eq(api->abi_major, VHD_ABI_MAJOR);
	ck_assert_ptr_nonnull(api->log);
	ck_assert_ptr_nonnull(api->dev_set_priv);
	ck_assert_ptr_nonnull(api->dev_priv);
	ck_assert_ptr_nonnull(api->dev_name);
	ck_assert_ptr_nonnull(api->dev_features);
	ck_assert_ptr_nonnull(api->queue_index);
	ck_assert_ptr_nonnull(api->queue_dev);
	ck_assert_ptr_nonnull(api->queue_worker);
	ck_assert_ptr_nonnull(api->dev_queue);
	ck_assert_ptr_nonnull(api->queue_pop);
	ck_assert_ptr_nonnull(api->queue_push);
	ck_assert_ptr_nonnull(api->queue_notify);
	ck_assert_ptr_nonnull(api->queue_rewind);
	ck_assert_ptr_nonnull(api->chain_readable);
	ck_assert_ptr_nonnull(api->chain_writable);
	ck_assert_ptr_nonnull(api->chain_read);
	ck_assert_ptr_nonnull(api->chain_write);
	ck_assert_ptr_nonnull(api->chain_iov);
	ck_assert_ptr_nonnull(api->watch_new);
	ck_assert_ptr_nonnull(api->watch_add);
	ck_assert_ptr_nonnull(api->watch_del);
	ck_assert_ptr_nonnull(api->watch_free);
	ck_assert_ptr_nonnull(api->run_on_worker);
	ck_assert_ptr_nonnull(api->config_changed);
	ck_assert_ptr_nonnull(api->dev_fail);
}
END_TEST

START_TEST(test_api_device_accessors)
{
	const struct vhd_api	*api = api_get();
	struct vhd_dev		*d = device_to_vhd(&wdev);
	struct vhd_queue	*q;
	int			 priv;

	ck_assert_str_eq(api->dev_name(d), "tdev0");
	api->dev_set_priv(d, &priv);
	ck_assert_ptr_eq(api->dev_priv(d), &priv);
	atomic_store(&wdev.acked_features, 1ULL << VHD_F_VERSION_1);
	ck_assert_uint_eq(api->dev_features(d), 1ULL << VHD_F_VERSION_1);
	q = api->dev_queue(d, 0);
	ck_assert_ptr_eq(q, (struct vhd_queue *)(void *)&fx.vq);
	ck_assert_ptr_null(api->dev_queue(d, 1));
	ck_assert_uint_eq(api->queue_index(q), 0);
	ck_assert_uint_eq(api->queue_worker(q), 0);
	ck_assert_ptr_eq(api->queue_dev(q), d);
	api->log(d, VHD_LOG_INFO, "api log line %d", 1);
	api->log(d, (enum vhd_log_level)99, "out of range level");
	/* Off the worker, and the ring not started: refused. */
	ck_assert_ptr_null(api->queue_pop(q));
	ck_assert_ptr_null(api->watch_new(d, 0, -1, 0, at_timer_cb, q));
	ck_assert_ptr_null(api->watch_new(d, 1, -1, 0, at_timer_cb, q));
	ck_assert_int_eq(api->run_on_worker(d, 1, at_arm, NULL, 1), -1);
}
END_TEST

START_TEST(test_api_timer_pops_on_worker)
{
	struct vhd_dev	*d = device_to_vhd(&wdev);
	char		 buf[8];

	at_api = api_get();
	wq_hold = 1;	/* the kick handler leaves chains alone */
	desc(0, 0x9000, 8, VRING_DESC_F_WRITE, 0);
	vring_update(&fx.vq);
	ck_assert_int_eq(fx.vq.started, 1);
	avail_add(0);
	ck_assert_int_eq(at_api->run_on_worker(d, 0, at_arm, NULL, 1), 0);
	ck_assert_int_eq(atomic_load(&at_on_worker), 1);
	ck_assert_ptr_nonnull(at_watch);
	at_wait(&at_fired, 1);
	at_wait(&at_popped, 1);
	worker_sync(wdev_workers[0]);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 1);
	ck_assert_uint_eq(gr32(USED_GPA + 8), 8);
	gr(0x9000, buf, 8);
	ck_assert_int_eq(memcmp(buf, "api-data", 8), 0);
	/* Freed from the main thread: handed to the worker. */
	at_api->watch_free(at_watch);
	at_watch = NULL;
}
END_TEST

START_TEST(test_api_dev_fail_stops_pops)
{
	struct vhd_dev	*d = device_to_vhd(&wdev);

	at_api = api_get();
	desc(0, 0x9000, 8, VRING_DESC_F_WRITE, 0);
	wq_hold = 1;
	vring_update(&fx.vq);
	at_api->dev_fail(d, "test failure");
	ck_assert_int_eq(atomic_load(&wdev.broken), 1);
	avail_add(0);
	ck_assert_int_eq(at_api->run_on_worker(d, 0, at_arm, NULL, 1), 0);
	at_wait(&at_fired, 1);
	worker_sync(wdev_workers[0]);
	ck_assert_int_eq(atomic_load(&at_popped), 0);
	ck_assert_uint_eq(fx.vq.last_avail_idx, 0);
	ck_assert_int_eq(vring_can_start(&fx.vq), 0);
	at_api->watch_free(at_watch);
	at_watch = NULL;
}
END_TEST

START_TEST(test_api_bad_chain_breaks_device)
{
	struct vhd_dev	*d = device_to_vhd(&wdev);

	at_api = api_get();
	wq_hold = 1;
	desc(0, 0x30000, 8, VRING_DESC_F_WRITE, 0);	/* in the gap */
	vring_update(&fx.vq);
	avail_add(0);
	ck_assert_int_eq(at_api->run_on_worker(d, 0, at_arm, NULL, 1), 0);
	at_wait(&at_fired, 1);
	worker_sync(wdev_workers[0]);
	ck_assert_int_eq(atomic_load(&wdev.broken), 1);
	ck_assert_int_eq(atomic_load(&at_popped), 0);
	at_api->watch_free(at_watch);
	at_watch = NULL;
}
END_TEST

/* The vring suite. */
static Suite *
check_vring_suite(void)
{
	Suite	*s = suite_create("vring");
	TCase	*tc;

	tc = tcase_create("walk");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_single_descriptor);
	tcase_add_test(tc, test_readable_and_writable);
	tcase_add_test(tc, test_zero_length_skipped);
	tcase_add_test(tc, test_buffer_across_regions);
	tcase_add_test(tc, test_indirect);
	tcase_add_test(tc, test_indirect_across_regions);
	tcase_add_test(tc, test_direct_then_indirect);
	tcase_add_test(tc, test_push_writes_used_ring);
	tcase_add_test(tc, test_index_wraparound);
	tcase_add_test(tc, test_full_ring);
	tcase_add_test(tc, test_rewind);
	tcase_add_test(tc, test_indirect_needs_feature);
	tcase_add_test(tc, test_memory_update_rederives_rings);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_add_test(tc, test_set_addr_checks);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_descriptor_loop);
	tcase_add_test(tc, test_descriptor_self_loop);
	tcase_add_test(tc, test_next_out_of_range);
	tcase_add_test(tc, test_head_out_of_range);
	tcase_add_test(tc, test_avail_idx_jump);
	tcase_add_test(tc, test_indirect_with_next);
	tcase_add_test(tc, test_nested_indirect);
	tcase_add_test(tc, test_indirect_bad_length);
	tcase_add_test(tc, test_indirect_loop);
	tcase_add_test(tc, test_indirect_table_unmapped);
	tcase_add_test(tc, test_buffer_unmapped);
	tcase_add_test(tc, test_buffer_partially_mapped);
	tcase_add_test(tc, test_readable_after_writable);
	tcase_add_test(tc, test_total_length_overflow);
	tcase_add_test(tc, test_too_many_in_flight);
	tcase_add_test(tc, test_no_memory);
	suite_add_tcase(s, tc);

	tc = tcase_create("notify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_need_event);
	tcase_add_test(tc, test_notify_no_interrupt_flag);
	tcase_add_test(tc, test_event_idx);
	tcase_add_test(tc, test_event_idx_recheck);
	suite_add_tcase(s, tc);

	tc = tcase_create("worker");
	tcase_add_test(tc, test_worker_runs_commands);
	tcase_add_test(tc, test_worker_stop_runs_pending);
	tcase_add_test(tc, test_worker_wait_is_bounded);
	tcase_add_test(tc, test_worker_stop_leaves_stuck_thread);
	suite_add_tcase(s, tc);

	tc = tcase_create("start_stop");
	tcase_add_checked_fixture(tc, wdev_setup, wdev_teardown);
	tcase_add_test(tc, test_start_sees_earlier_buffers);
	tcase_add_test(tc, test_stop_rewinds_held_chains);
	tcase_add_test(tc, test_start_conditions);
	tcase_add_test(tc, test_stop_completes_held_chains_not_last);
	tcase_add_test(tc, test_start_clears_used_flags);
	tcase_add_test(tc, test_removed_ring_pauses);
	tcase_add_test(tc, test_removed_buffer_pauses_gap_breaks);
	suite_add_tcase(s, tc);

	tc = tcase_create("api");
	tcase_add_checked_fixture(tc, wdev_setup, wdev_teardown);
	tcase_add_test(tc, test_api_table);
	tcase_add_test(tc, test_api_device_accessors);
	tcase_add_test(tc, test_api_timer_pops_on_worker);
	tcase_add_test(tc, test_api_dev_fail_stops_pops);
	tcase_add_test(tc, test_api_bad_chain_breaks_device);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; the exit status says whether every test passed. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(check_vring_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
