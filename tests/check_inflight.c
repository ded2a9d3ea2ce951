/*
 * Unit tests for core/inflight.c with core/vring_chain.c: a split ring in
 * a memfd guest memory, driven by the test as the guest, and an inflight
 * region in plain memory.  A "restart" is a fresh struct vring on the same
 * guest memory and region, with the base QEMU sends after a back-end
 * death (used->idx).  Hostile regions must be refused with an error and
 * resubmit nothing.  check_inflight_packed.c does the same for packed
 * rings.
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
#define AVAIL_GPA	0x2000ULL
#define USED_GPA	0x3000ULL
#define BUF_GPA		0x8000ULL
#define NUM		8

static struct guest_region	*region;
static struct guest_mem		*mem;
static struct vring		 vq;
static struct inflight_queue	 iq;
static uint8_t			*rg;		/* the region: one queue */
static uint16_t			 aidx;

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

/* Make head (a one-descriptor writable chain) available. */
static void
avail_add(uint16_t head)
{
	struct vring_desc	 d;
	uint16_t		 v;

	d.addr = htole64(BUF_GPA + 64 * (uint64_t)head);
	d.len = htole32(64);
	d.flags = htole16(VRING_DESC_F_WRITE);
	d.next = 0;
	memcpy(g(DESC_GPA + 16 * (uint64_t)head), &d, sizeof d);
	v = htole16(head);
	memcpy(g(AVAIL_GPA + 4 + 2 * (aidx % NUM)), &v, 2);
	aidx++;
	v = htole16(aidx);
	memcpy(g(AVAIL_GPA + 2), &v, 2);
}

/* A started ring (as after SET_VRING_* and the worker's start) with the
 * given base and the region attached.  0 or -1 with *err from recovery. */
static int
ring_start(uint16_t base, const char **err)
{
	char	*cause = NULL;

	vring_free(&vq);
	vring_init(&vq, NULL, 0);
	vq.num = NUM;
	ck_assert_msg(vring_set_addr(&vq, mem, DESC_GPA, AVAIL_GPA, USED_GPA,
	    0, &cause) == 0, "%s", cause);
	vq.last_avail_idx = base;
	vq.iq = &iq;
	ck_assert_int_eq(vring_map(&vq, mem, err), 0);
	return (inflight_queue_start(&vq, err));
}

/* Fixture: guest memory, a fresh region as GET_INFLIGHT_FD makes it. */
static void
setup(void)
{
	char	*cause = NULL;
	int	 fd;

	fd = memfd_create("check_inflight", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, MEM_SIZE), 0);
	region = guest_region_map(fd, 0, MEM_SIZE, 0x7f0000000000ULL, 0,
	    &cause);
	ck_assert_msg(region != NULL, "%s", cause);
	close(fd);
	mem = guest_mem_new(&region, 1, &cause);
	ck_assert_msg(mem != NULL, "%s", cause);
	rg = calloc(1, INFLIGHT_QUEUE_SIZE(NUM));
	ck_assert_ptr_nonnull(rg);
	rg[8] = INFLIGHT_VERSION;	/* version */
	rg[10] = NUM;			/* desc_num */
	memset(&iq, 0, sizeof iq);
	iq.base = rg;
	iq.size = NUM;
	iq.resubmit = calloc(NUM, sizeof *iq.resubmit);
	aidx = 0;
	vring_init(&vq, NULL, 0);
}

/* Free the fixture. */
static void
teardown(void)
{
	vring_free(&vq);
	free(iq.resubmit);
	free(rg);
	guest_mem_free(mem);
	guest_region_unref(region);
}

/* Pop that must return `head`. */
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

/* The inflight flag of entry i. */
static uint8_t
marked(unsigned i)
{
	return (rg[INFLIGHT_HDR_SIZE + INFLIGHT_DESC_SIZE * i]);
}

/* Pops mark, pushes clear, a rewind unmarks; the header follows the used
 * ring. */
START_TEST(test_inflight_marks)
{
	struct vring_chain	*a, *b, *c;
	const char		*err;

	ck_assert_int_eq(ring_start(0, &err), 0);
	avail_add(3);
	avail_add(5);
	avail_add(1);
	a = pop_head(3);
	b = pop_head(5);
	c = pop_head(1);
	ck_assert(marked(3) && marked(5) && marked(1));
	ck_assert_int_eq(vring_rewind(&vq, c), 0);
	ck_assert_uint_eq(marked(1), 0);
	vring_push(&vq, mem, b, 0);
	ck_assert_uint_eq(marked(5), 0);
	ck_assert_uint_eq(rg[12], 5);			/* last_batch_head */
	ck_assert_uint_eq(rg[14], 1);			/* used_idx */
	ck_assert_uint_eq(g16(USED_GPA + 2), 1);
	vring_push(&vq, mem, a, 0);
	ck_assert_uint_eq(marked(3), 0);
	ck_assert_uint_eq(rg[14], 2);
}
END_TEST

/*
 * A kill with three chains taken and one completed, then a restart with
 * base = used->idx: the two not completed come back first, in the order
 * they were taken, then the rest of the ring; the next avail index counts
 * them, so nothing is taken twice or skipped.
 */
START_TEST(test_inflight_resubmit_after_kill)
{
	struct vring_chain	*c;
	const char		*err;

	ck_assert_int_eq(ring_start(0, &err), 0);
	avail_add(2);
	avail_add(4);
	avail_add(6);
	avail_add(7);
	(void)pop_head(2);
	c = pop_head(4);
	(void)pop_head(6);
	vring_push(&vq, mem, c, 0);
	/* Killed here; the new instance gets SET_VRING_BASE = used->idx. */
	ck_assert_int_eq(ring_start(g16(USED_GPA + 2), &err), 0);
	ck_assert_uint_eq(vq.last_avail_idx, 3);
	c = pop_head(2);
	ck_assert(c->resubmitted);
	ck_assert_int_eq(vring_rewind(&vq, c), -1);	/* never rewound */
	vring_push(&vq, mem, c, 0);
	(void)pop_head(6);
	c = pop_head(7);
	ck_assert(!c->resubmitted);
}
END_TEST

/* Resubmission follows the counters, not the descriptor indices. */
START_TEST(test_inflight_counter_order)
{
	static const uint16_t	 heads[4] = { 0, 1, 2, 3 };
	static const uint64_t	 counter[4] = { 40, 10, 30, 20 };
	const char		*err;
	unsigned		 i;
	uint64_t		 v;

	for (i = 0; i < 4; i++)
		avail_add(heads[i]);
	for (i = 0; i < 4; i++) {
		rg[INFLIGHT_HDR_SIZE + INFLIGHT_DESC_SIZE * heads[i]] = 1;
		v = htole64(counter[i]);
		memcpy(rg + INFLIGHT_HDR_SIZE + INFLIGHT_DESC_SIZE *
		    heads[i] + 8, &v, 8);
	}
	ck_assert_int_eq(ring_start(0, &err), 0);
	(void)pop_head(1);
	(void)pop_head(3);
	(void)pop_head(2);
	(void)pop_head(0);
	ck_assert_uint_eq(iq.counter, 41);
}
END_TEST

/*
 * A kill between the used->idx store and the clear of the mark: the
 * header's used_idx is one behind the ring, and the last batch head is
 * the completed chain; recovery clears it instead of serving it twice.
 */
START_TEST(test_inflight_crash_mid_push)
{
	struct vring_chain	*a, *b;
	const char		*err;

	ck_assert_int_eq(ring_start(0, &err), 0);
	avail_add(1);
	avail_add(2);
	a = pop_head(1);
	b = pop_head(2);
	vring_push(&vq, mem, b, 0);
	/* Undo the two stores that follow the used->idx store. */
	rg[INFLIGHT_HDR_SIZE + INFLIGHT_DESC_SIZE * 2] = 1;
	rg[14] = 0;
	(void)a;
	ck_assert_int_eq(ring_start(g16(USED_GPA + 2), &err), 0);
	ck_assert_uint_eq(marked(2), 0);
	ck_assert_uint_eq(rg[14], 1);
	ck_assert_uint_eq(vq.last_avail_idx, 2);
	(void)pop_head(1);
	ck_assert_ptr_null(vring_pop(&vq, mem, &err));
	ck_assert_ptr_null(err);
}
END_TEST

/* Start a ring on a doctored region: must fail naming `what`, resubmit
 * nothing and leave the base alone. */
static void
refused(const char *what)
{
	const char	*err = NULL;

	ck_assert_int_eq(ring_start(0, &err), -1);
	ck_assert_msg(err != NULL && strstr(err, what) != NULL,
	    "error '%s', expected '%s'", err != NULL ? err : "none", what);
	ck_assert_uint_eq(iq.nresubmit, 0);
	ck_assert_uint_eq(vq.last_avail_idx, 0);
}

/* Garbage in the region is refused, never resubmitted. */
START_TEST(test_inflight_hostile_flag)
{
	avail_add(0);
	rg[INFLIGHT_HDR_SIZE + INFLIGHT_DESC_SIZE * 4] = 7;
	refused("bad inflight flag");
}
END_TEST

START_TEST(test_inflight_hostile_desc_num)
{
	rg[10] = NUM * 2;
	refused("descriptor count");
}
END_TEST

START_TEST(test_inflight_hostile_version)
{
	rg[8] = 9;
	refused("unknown version");
}
END_TEST

START_TEST(test_inflight_hostile_used_idx)
{
	rg[14] = 0x80;		/* 0x80 behind the ring's used->idx 0 */
	rg[15] = 0xff;
	refused("used index out of range");
}
END_TEST

START_TEST(test_inflight_hostile_batch_head)
{
	uint16_t	 v = htole16(1);

	/* The ring completed one chain the header does not cover, and the
	 * last batch head is out of range. */
	memcpy(g(USED_GPA + 2), &v, 2);
	rg[12] = 0xff;
	rg[13] = 0x7f;
	refused("last batch head out of range");
}
END_TEST

START_TEST(test_inflight_hostile_too_many)
{
	unsigned	 i;

	/* Every entry marked, one chain made available. */
	avail_add(0);
	for (i = 0; i < NUM; i++)
		rg[INFLIGHT_HDR_SIZE + INFLIGHT_DESC_SIZE * i] = 1;
	refused("more requests in flight");
}
END_TEST

/* A region nobody initialised (version 0) starts clean, whatever its
 * entries say. */
START_TEST(test_inflight_fresh_region)
{
	const char	*err;

	rg[8] = 0;
	rg[10] = 0;
	rg[INFLIGHT_HDR_SIZE + INFLIGHT_DESC_SIZE * 3] = 1;
	ck_assert_int_eq(ring_start(0, &err), 0);
	ck_assert_uint_eq(marked(3), 0);
	ck_assert_uint_eq(rg[8], INFLIGHT_VERSION);
	ck_assert_uint_eq(rg[10], NUM);
	ck_assert_uint_eq(iq.nresubmit, 0);
}
END_TEST

/*
 * A migration destination's first start: GET_INFLIGHT_FD leaves the
 * version 0, the ring arrives with the source's used index (3000, far
 * from 0), and the first start writes the header with it instead of
 * refusing the region ("used index out of range", seen with QEMU 7.2
 * when GET_INFLIGHT_FD wrote version 1 and used index 0).
 */
START_TEST(test_inflight_migrated_ring)
{
	const char	*err = NULL;
	uint16_t	 v = htole16(3000);

	rg[8] = 0;			/* as GET_INFLIGHT_FD leaves it */
	memcpy(g(USED_GPA + 2), &v, 2);
	aidx = 3000;
	memcpy(g(AVAIL_GPA + 2), &v, 2);
	ck_assert_msg(ring_start(3000, &err) == 0, "%s", err);
	ck_assert_uint_eq(rg[8], INFLIGHT_VERSION);
	ck_assert_uint_eq(rg[14] | rg[15] << 8, 3000);
	avail_add(3);
	ck_assert_ptr_nonnull(pop_head(3));
}
END_TEST

/* The suite. */
static Suite *
inflight_suite(void)
{
	Suite	*s = suite_create("inflight");
	TCase	*tc;

	tc = tcase_create("protocol");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_inflight_marks);
	tcase_add_test(tc, test_inflight_resubmit_after_kill);
	tcase_add_test(tc, test_inflight_counter_order);
	tcase_add_test(tc, test_inflight_crash_mid_push);
	tcase_add_test(tc, test_inflight_fresh_region);
	tcase_add_test(tc, test_inflight_migrated_ring);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_inflight_hostile_flag);
	tcase_add_test(tc, test_inflight_hostile_desc_num);
	tcase_add_test(tc, test_inflight_hostile_version);
	tcase_add_test(tc, test_inflight_hostile_used_idx);
	tcase_add_test(tc, test_inflight_hostile_batch_head);
	tcase_add_test(tc, test_inflight_hostile_too_many);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(inflight_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
