/*
 * Unit tests for core/vring.c, the split ring walker: ring addresses
 * checked at SET_VRING_ADDR, chains walked (direct, indirect, across
 * regions), the used ring written, rewound and wrapped, and notification
 * with and without EVENT_IDX.  The test plays the guest driver on the
 * fixture of tests/vring_fixture.[ch].  Hostile guests are in
 * check_vring_hostile, rings on workers in check_vring_device, workers
 * alone in check_worker.
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

	tc = tcase_create("notify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_need_event);
	tcase_add_test(tc, test_notify_no_interrupt_flag);
	tcase_add_test(tc, test_event_idx);
	tcase_add_test(tc, test_event_idx_recheck);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; the exit status says whether every test passed. */
int
main(void)
{
	return (check_vring_main(check_vring_suite()));
}
