/*
 * Unit tests for core/vring_packed.c against hostile guests: each case is
 * named after the invariant it protects and must make vring_pop() return
 * NULL with an error and consume nothing, never crash.  Fixture:
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

/* The hostile-guest suite. */
static Suite *
vring_packed_hostile_suite(void)
{
	Suite	*s = suite_create("vring_packed_hostile");
	TCase	*tc;

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

/* Run the suite; exit 0 when every test passed. */
int
main(void)
{
	return (vring_packed_main(vring_packed_hostile_suite()));
}
