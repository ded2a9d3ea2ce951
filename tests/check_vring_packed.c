/*
 * Unit tests for core/vring_packed.c: packed virtqueues (virtio 1.1 2.8)
 * in a fake guest memory of memfd regions, the test playing the guest
 * driver: chains over the end of the ring, out-of-order use, wraps,
 * rewinds, indirect tables, ring sizes and event suppression.  Hostile
 * guests are in check_vring_packed_hostile; the fixture in
 * tests/vring_packed_fixture.[ch].
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
#include "vring_packed_fixture.h"

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

	return (s);
}

/* Run the suite; exit 0 when every test passed. */
int
main(void)
{
	return (vring_packed_main(vring_packed_suite()));
}
