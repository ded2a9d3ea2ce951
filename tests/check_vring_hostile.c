/*
 * Unit tests for core/vring.c against hostile guests: each case is named
 * after the invariant it protects and must make vring_pop() return NULL
 * with an error, consuming nothing, never crash.  The test plays the guest
 * driver on the fixture of tests/vring_fixture.[ch].
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
#include "vring_fixture.h"

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

/* The hostile-guest suite. */
static Suite *
check_vring_hostile_suite(void)
{
	Suite	*s = suite_create("vring_hostile");
	TCase	*tc;

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
	return (s);
}

/* Run the suite; the exit status says whether every test passed. */
int
main(void)
{
	return (check_vring_main(check_vring_hostile_suite()));
}
