/*
 * Unit tests for core/inflight_packed.c with core/vring_packed.c: a
 * packed ring in a memfd guest memory, driven by the test as the guest,
 * and a packed inflight region (the spec's packed layout) in plain
 * memory.  A "restart" is a fresh struct vring on the same guest memory
 * and region with the SET_VRING_BASE QEMU sends after a back-end death: the
 * stale one it had (a packed ring's positions are not in guest memory).
 * Hostile regions must be refused with an error and resubmit nothing.
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
#include "inflight.h"
#include "vhost_user.h"
#include "vring.h"

#define MEM_SIZE	0x10000ULL
#define DESC_GPA	0x1000ULL
#define AVAIL_GPA	0x2000ULL	/* driver event area */
#define USED_GPA	0x3000ULL	/* device event area */
#define BUF_GPA		0x8000ULL
#define NUM		8

static struct guest_region	*region;
static struct guest_mem		*mem;
static struct vring		 vq;
static struct inflight_queue	 iq;

/* Host address of guest memory. */
static uint8_t *
g(uint64_t gpa)
{
	uint64_t	 n = 1;
	uint8_t		*p = guest_mem_translate(mem, gpa, &n);

	ck_assert_ptr_nonnull(p);
	return (p);
}

/* u16 at a guest address. */
static uint16_t
g16(uint64_t gpa)
{
	uint16_t	 v;

	memcpy(&v, g(gpa), 2);
	return (le16toh(v));
}

/* Pop that must return buffer `head`. */
static struct vring_chain *
pop_head(uint16_t head)
{
	struct vring_chain	*c;
	const char		*err = NULL;

	c = vring_pop(&vq, mem, &err);
	ck_assert_msg(c != NULL, "pop: %s", err != NULL ? err : "empty");
	ck_assert_uint_eq(c->head, head);
	return (c);
}

static uint8_t			*pk;		/* packed region: one queue */
static uint16_t			 pk_next, pk_used;	/* driver positions */
static int			 pk_wrap, pk_uwrap;

/* Offsets in the packed header and entries. */
#define PK_FREE		12
#define PK_OLD_FREE	14
#define PK_USED		16
#define PK_OLD_USED	18
#define PK_WRAP		20
#define PK_OLD_WRAP	21

/* Entry i of the packed region. */
static uint8_t *
pk_ent(unsigned i)
{
	return (pk + INFLIGHT_PK_HDR_SIZE + INFLIGHT_PK_DESC_SIZE * i);
}

/* A 16-bit field of the packed region. */
static uint16_t
pk16(const uint8_t *p)
{
	uint16_t	 v;

	memcpy(&v, p, 2);
	return (le16toh(v));
}

/* Set a 16-bit field of the packed region. */
static void
pk16_set(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

/* Fixture: guest memory and a packed region as GET_INFLIGHT_FD makes it
 * (version 0: written at the first start). */
static void
pk_setup(void)
{
	char	*cause = NULL;
	int	 fd;

	fd = memfd_create("check_inflight_packed", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, MEM_SIZE), 0);
	region = guest_region_map(fd, 0, MEM_SIZE, 0x7f0000000000ULL, 0,
	    &cause);
	ck_assert_msg(region != NULL, "%s", cause);
	close(fd);
	mem = guest_mem_new(&region, 1, &cause);
	ck_assert_msg(mem != NULL, "%s", cause);
	memset(&iq, 0, sizeof iq);
	iq.size = NUM;
	iq.resubmit = calloc(NUM, sizeof *iq.resubmit);
	vring_init(&vq, NULL, 0);
	pk = calloc(1, INFLIGHT_PK_QUEUE_SIZE(NUM));
	ck_assert_ptr_nonnull(pk);
	pk[10] = NUM;
	iq.base = pk;
	iq.packed = 1;
	iq.pk_next = calloc(NUM, sizeof *iq.pk_next);
	iq.pk_last = calloc(NUM, sizeof *iq.pk_last);
	pk_next = pk_used = 0;
	pk_wrap = pk_uwrap = 1;
}

/* Free the packed fixture. */
static void
pk_teardown(void)
{
	vring_free(&vq);
	free(iq.resubmit);
	free(iq.pk_next);
	free(iq.pk_last);
	free(pk);
	guest_mem_free(mem);
	guest_region_unref(region);
}

/* Post buffer `id` as a chain of n writable 64-byte descriptors at the
 * driver's next slots, the head's flags last. */
static void
pk_post(uint16_t id, unsigned n)
{
	struct vring_packed_desc	 d;
	uint16_t			 head = pk_next, hflags = 0, f;
	unsigned			 i;

	for (i = 0; i < n; i++) {
		d.addr = htole64(BUF_GPA + 512 * (uint64_t)id + 64 * i);
		d.len = htole32(64);
		d.id = htole16(id);
		f = (uint16_t)(VRING_DESC_F_WRITE | (i + 1 < n ?
		    VRING_DESC_F_NEXT : 0) | (pk_wrap ?
		    VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED));
		d.flags = i == 0 ? 0 : htole16(f);
		if (i == 0)
			hflags = f;
		memcpy(g(DESC_GPA + 16 * (uint64_t)pk_next), &d, sizeof d);
		if (++pk_next == NUM) {
			pk_next = 0;
			pk_wrap = !pk_wrap;
		}
	}
	hflags = htole16(hflags);
	memcpy(g(DESC_GPA + 16 * (uint64_t)head + 14), &hflags, 2);
}

/* A started packed ring with SET_VRING_BASE `base` and the region
 * attached.  0 or -1 with *err from recovery. */
static int
pk_start(uint32_t base, const char **err)
{
	char	*cause = NULL;

	vring_free(&vq);
	vring_init(&vq, NULL, 0);
	vq.packed = 1;
	vq.num = NUM;
	ck_assert_int_eq(vring_packed_set_base(&vq, base, &cause), 0);
	ck_assert_msg(vring_set_addr(&vq, mem, DESC_GPA, AVAIL_GPA, USED_GPA,
	    0, &cause) == 0, "%s", cause);
	vq.iq = &iq;
	ck_assert_int_eq(vring_map(&vq, mem, err), 0);
	return (inflight_queue_start(&vq, err));
}

/* QEMU's base after a back-end death: what it had before (here the
 * first start's). */
#define PK_STALE	0x80008000u

/* The used descriptor at the driver's used position: its id, or -1. */
static int
pk_take_used(void)
{
	uint16_t	 flags, id;

	flags = g16(DESC_GPA + 16 * (uint64_t)pk_used + 14);
	if (((flags & VRING_PACKED_DESC_F_AVAIL) != 0) != pk_uwrap ||
	    ((flags & VRING_PACKED_DESC_F_USED) != 0) != pk_uwrap)
		return (-1);
	id = g16(DESC_GPA + 16 * (uint64_t)pk_used + 12);
	return (id);
}

/* Pops copy each slot and mark the head; a push and a rewind put the
 * chain back on the free list; the header follows the ring. */
START_TEST(test_inflight_packed_marks)
{
	struct vring_chain	*a, *b, *c;
	const char		*err;
	uint64_t		 addr;

	ck_assert_int_eq(pk_start(PK_STALE, &err), 0);
	ck_assert_uint_eq(pk[8], INFLIGHT_VERSION);
	ck_assert_uint_eq(pk[PK_WRAP], 1);
	pk_post(3, 2);
	pk_post(5, 1);
	pk_post(1, 1);
	a = pop_head(3);
	b = pop_head(5);
	c = pop_head(1);
	/* a took entries 0 and 1, b 2, c 3. */
	ck_assert_uint_eq(pk_ent(0)[0], 1);
	ck_assert_uint_eq(pk16(pk_ent(0) + 6), 2);		/* num */
	ck_assert_uint_eq(pk16(pk_ent(0) + 4), 1);		/* last */
	ck_assert_uint_eq(pk16(pk_ent(1) + 16), 3);		/* id */
	memcpy(&addr, pk_ent(1) + 24, 8);
	ck_assert_uint_eq(le64toh(addr), BUF_GPA + 512 * 3 + 64);
	ck_assert_uint_eq(pk_ent(1)[0], 0);			/* not a head */
	ck_assert_uint_eq(pk_ent(2)[0], 1);
	ck_assert_uint_eq(pk_ent(3)[0], 1);
	ck_assert_uint_eq(pk16(pk + PK_FREE), 4);
	ck_assert_uint_eq(pk16(pk + PK_OLD_FREE), 4);
	ck_assert_int_eq(vring_rewind(&vq, c), 0);
	ck_assert_uint_eq(pk_ent(3)[0], 0);
	ck_assert_uint_eq(pk16(pk + PK_FREE), 3);
	ck_assert_uint_eq(pk16(pk + PK_OLD_FREE), 3);
	vring_push(&vq, mem, b, 0);		/* out of order */
	ck_assert_uint_eq(pk_ent(2)[0], 0);
	ck_assert_uint_eq(pk16(pk + PK_FREE), 2);
	ck_assert_uint_eq(pk16(pk + PK_OLD_FREE), 2);
	ck_assert_uint_eq(pk16(pk + PK_USED), 1);
	ck_assert_uint_eq(pk16(pk + PK_OLD_USED), 1);
	ck_assert_uint_eq(pk16(pk_ent(2) + 2), 3);		/* -> old free */
	vring_push(&vq, mem, a, 0);
	ck_assert_uint_eq(pk_ent(0)[0], 0);
	ck_assert_uint_eq(pk16(pk + PK_USED), 3);
	ck_assert_uint_eq(pk16(pk + PK_OLD_USED), 3);
}
END_TEST

/*
 * A kill with three chains taken and the middle one completed: its used
 * descriptor went to slot 0, over the first chain's head.  The restart
 * gets QEMU's stale base (0/1, 0/1): the used position comes from the
 * region, the avail position is it plus the slots in flight, and the two
 * chains come back from the region's copy, in the order taken, then the
 * rest of the ring.
 */
START_TEST(test_inflight_packed_resubmit_after_kill)
{
	struct vring_chain	*c;
	const char		*err;

	ck_assert_int_eq(pk_start(PK_STALE, &err), 0);
	pk_post(2, 2);
	pk_post(4, 1);
	pk_post(6, 1);
	pk_post(7, 1);
	(void)pop_head(2);
	c = pop_head(4);
	(void)pop_head(6);
	vring_push(&vq, mem, c, 0);
	ck_assert_int_eq(pk_take_used(), 4);
	/* Killed here. */
	ck_assert_int_eq(pk_start(PK_STALE, &err), 0);
	ck_assert_uint_eq(vq.used_idx, 1);
	ck_assert_uint_eq(vq.last_avail_idx, 4);
	ck_assert_int_eq(vq.used_wrap, 1);
	ck_assert_int_eq(vq.avail_wrap, 1);
	c = pop_head(2);
	ck_assert(c->resubmitted);
	ck_assert_uint_eq(c->ndesc, 2);
	ck_assert_uint_eq(c->nsegs, 2);
	ck_assert_uint_eq(c->segs[0].gpa, BUF_GPA + 512 * 2);
	ck_assert_uint_eq(c->segs[1].gpa, BUF_GPA + 512 * 2 + 64);
	ck_assert_int_eq(vring_rewind(&vq, c), -1);	/* never rewound */
	vring_push(&vq, mem, c, 0);
	ck_assert_uint_eq(vq.used_idx, 3);
	c = pop_head(6);
	ck_assert(c->resubmitted);
	vring_push(&vq, mem, c, 0);
	c = pop_head(7);
	ck_assert(!c->resubmitted);
	ck_assert_ptr_null(vring_pop(&vq, mem, &err));
	ck_assert_ptr_null(err);
	/* The region carried the positions over another restart. */
	vring_push(&vq, mem, c, 0);
	ck_assert_int_eq(pk_start(PK_STALE, &err), 0);
	ck_assert_uint_eq(vq.used_idx, 5);
	ck_assert_uint_eq(vq.last_avail_idx, 5);
	ck_assert_uint_eq(iq.nresubmit, 0);
}
END_TEST

/* Resubmission follows the counters; the positions wrap. */
START_TEST(test_inflight_packed_counter_order)
{
	static const uint64_t	 counter[3] = { 30, 10, 20 };
	const char		*err;
	uint64_t		 v;
	unsigned		 i;

	/* Start near the end of the ring so the avail position wraps. */
	ck_assert_int_eq(pk_start(0x80068006u, &err), 0);
	pk_next = pk_used = 6;
	pk_post(0, 1);
	pk_post(1, 2);
	pk_post(2, 1);
	(void)pop_head(0);
	(void)pop_head(1);
	(void)pop_head(2);
	for (i = 0; i < 3; i++) {
		v = htole64(counter[i]);
		/* Heads: entries 0, 1 (with 2), 3. */
		memcpy(pk_ent(i == 0 ? 0 : i == 1 ? 1 : 3) + 8, &v, 8);
	}
	ck_assert_int_eq(pk_start(PK_STALE, &err), 0);
	ck_assert_uint_eq(vq.used_idx, 6);
	ck_assert_int_eq(vq.used_wrap, 1);
	ck_assert_uint_eq(vq.last_avail_idx, 2);	/* 6 + 4 - 8 */
	ck_assert_int_eq(vq.avail_wrap, 0);
	(void)pop_head(1);
	(void)pop_head(2);
	(void)pop_head(0);
	ck_assert_uint_eq(iq.counter, 31);
}
END_TEST

/*
 * Kills in the middle of a push.  Before the used descriptor's flags:
 * the update is rolled back and the chain served again.  After them but
 * before the commit: the update is committed, the chain not served
 * twice.
 */
START_TEST(test_inflight_packed_crash_mid_push)
{
	struct vring_chain	*a, *b;
	const char		*err;

	ck_assert_int_eq(pk_start(PK_STALE, &err), 0);
	pk_post(1, 1);
	pk_post(2, 1);
	a = pop_head(1);
	b = pop_head(2);
	/* Killed before the used descriptor: only the first half. */
	inflight_packed_push_begin(&vq, b, 1, 1);
	(void)a;
	ck_assert_int_eq(pk_start(PK_STALE, &err), 0);
	ck_assert_uint_eq(iq.nresubmit, 2);
	ck_assert_uint_eq(vq.used_idx, 0);
	ck_assert_uint_eq(vq.last_avail_idx, 2);
	a = pop_head(1);
	b = pop_head(2);
	/* Now published, then killed before the commit: undo the stores
	 * that follow the flags. */
	vring_push(&vq, mem, b, 0);
	pk16_set(pk + PK_OLD_USED, 0);
	pk16_set(pk + PK_OLD_FREE, 0);
	pk_ent(1)[0] = 1;
	ck_assert_int_eq(pk_start(PK_STALE, &err), 0);
	ck_assert_uint_eq(iq.nresubmit, 1);
	ck_assert_uint_eq(vq.used_idx, 1);
	ck_assert_uint_eq(pk16(pk + PK_OLD_USED), 1);
	ck_assert_uint_eq(pk_ent(1)[0], 0);
	(void)pop_head(1);
	ck_assert_ptr_null(vring_pop(&vq, mem, &err));
	ck_assert_ptr_null(err);
}
END_TEST

/* Start a packed ring on a doctored region (after two chains were
 * taken): must fail naming `what`, resubmit nothing, leave the base. */
static void
pk_refused(const char *what)
{
	const char	*err = NULL;

	ck_assert_int_eq(pk_start(0x80038003u, &err), -1);
	ck_assert_msg(err != NULL && strstr(err, what) != NULL,
	    "error '%s', expected '%s'", err != NULL ? err : "none", what);
	ck_assert_uint_eq(iq.nresubmit, 0);
	ck_assert_uint_eq(vq.last_avail_idx, 3);
	ck_assert_uint_eq(vq.used_idx, 3);
}

/* Two chains in flight (entries 0-1 and 2), a valid region to doctor. */
static void
pk_two_in_flight(void)
{
	const char	*err;

	ck_assert_int_eq(pk_start(PK_STALE, &err), 0);
	pk_post(1, 2);
	pk_post(2, 1);
	(void)pop_head(1);
	(void)pop_head(2);
}

START_TEST(test_inflight_packed_hostile_free_loop)
{
	pk_two_in_flight();
	pk16_set(pk_ent(5) + 2, 3);		/* 3 -> 4 -> 5 -> 3 */
	pk_refused("free list loops");
}
END_TEST

START_TEST(test_inflight_packed_hostile_free_range)
{
	pk_two_in_flight();
	pk16_set(pk_ent(6) + 2, 900);
	pk_refused("free list is broken");
}
END_TEST

START_TEST(test_inflight_packed_hostile_overlap)
{
	pk_two_in_flight();
	pk16_set(pk_ent(0) + 2, 3);		/* a's link into the free list */
	pk_refused("chains overlap");
}
END_TEST

START_TEST(test_inflight_packed_hostile_num)
{
	pk_two_in_flight();
	pk16_set(pk_ent(0) + 6, 60000);
	pk_refused("more descriptors in flight");
}
END_TEST

START_TEST(test_inflight_packed_hostile_last)
{
	pk_two_in_flight();
	pk16_set(pk_ent(0) + 4, 5);
	pk_refused("does not end at its last");
}
END_TEST

START_TEST(test_inflight_packed_hostile_leak)
{
	pk_two_in_flight();
	pk_ent(2)[0] = 0;			/* b neither free nor marked */
	pk_refused("neither free nor in flight");
}
END_TEST

START_TEST(test_inflight_packed_hostile_used)
{
	pk_two_in_flight();
	pk16_set(pk + PK_USED, NUM);
	pk_refused("used index out of range");
}
END_TEST

START_TEST(test_inflight_packed_hostile_wrap)
{
	pk_two_in_flight();
	pk[PK_OLD_WRAP] = 5;
	pk_refused("used index out of range");
}
END_TEST

START_TEST(test_inflight_packed_hostile_flag)
{
	pk_two_in_flight();
	pk_ent(7)[0] = 2;
	pk_refused("bad inflight flag");
}
END_TEST

START_TEST(test_inflight_packed_hostile_version)
{
	pk_two_in_flight();
	pk[8] = 3;
	pk_refused("unknown version");
}
END_TEST

/* A split region for a packed ring (features changed after
 * SET_INFLIGHT_FD) is refused. */
START_TEST(test_inflight_packed_layout_mismatch)
{
	pk_two_in_flight();
	iq.packed = 0;
	pk_refused("split layout, the queue is packed");
}
END_TEST

/* A resubmitted chain whose copy was changed after the start: checked
 * as any descriptor (here a buffer outside guest memory). */
START_TEST(test_inflight_packed_hostile_copy)
{
	const char	*err = NULL;
	uint64_t	 v = htole64(MEM_SIZE * 4);

	pk_two_in_flight();
	ck_assert_int_eq(pk_start(PK_STALE, &err), 0);
	memcpy(pk_ent(1) + 24, &v, 8);
	ck_assert_ptr_null(vring_pop(&vq, mem, &err));
	ck_assert_ptr_nonnull(err);
	ck_assert_str_eq(err, "buffer is not in guest memory");
}
END_TEST

/* The suite. */
static Suite *
inflight_packed_suite(void)
{
	Suite	*s = suite_create("inflight_packed");
	TCase	*tc;

	tc = tcase_create("packed");
	tcase_add_checked_fixture(tc, pk_setup, pk_teardown);
	tcase_add_test(tc, test_inflight_packed_marks);
	tcase_add_test(tc, test_inflight_packed_resubmit_after_kill);
	tcase_add_test(tc, test_inflight_packed_counter_order);
	tcase_add_test(tc, test_inflight_packed_crash_mid_push);
	suite_add_tcase(s, tc);

	tc = tcase_create("packed_hostile");
	tcase_add_checked_fixture(tc, pk_setup, pk_teardown);
	tcase_add_test(tc, test_inflight_packed_hostile_free_loop);
	tcase_add_test(tc, test_inflight_packed_hostile_free_range);
	tcase_add_test(tc, test_inflight_packed_hostile_overlap);
	tcase_add_test(tc, test_inflight_packed_hostile_num);
	tcase_add_test(tc, test_inflight_packed_hostile_last);
	tcase_add_test(tc, test_inflight_packed_hostile_leak);
	tcase_add_test(tc, test_inflight_packed_hostile_used);
	tcase_add_test(tc, test_inflight_packed_hostile_wrap);
	tcase_add_test(tc, test_inflight_packed_hostile_flag);
	tcase_add_test(tc, test_inflight_packed_hostile_version);
	tcase_add_test(tc, test_inflight_packed_layout_mismatch);
	tcase_add_test(tc, test_inflight_packed_hostile_copy);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(inflight_packed_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
