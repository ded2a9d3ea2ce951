/*
 * Unit tests of the blk module's queue mechanics on the fake daemon with
 * the real io_uring: descriptor layouts and guest memory pieces (zero
 * copy, iovec growth, bounce), the bounce bound, O_DIRECT refused by the
 * file system (ramfs), a queue stopped with I/O in flight, guest memory
 * changing with I/O in flight, two queues on two workers.
 */

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "fake_api.h"
#include "blk_fake.h"
#include "../modules/blk/blk.h"

/* The module's descriptor, linked in from blk.c. */
extern const struct vhd_module vhd_module;

/*
 * Layouts: the header split over two buffers, the data sharing the
 * header's buffer, the data over several buffers, the status byte in its
 * own buffer or sharing the last data buffer; and chain_iov splitting
 * buffers into pieces (guest memory regions) of 100 bytes, so O_DIRECT
 * cannot take them: bounced.
 */
START_TEST(test_layouts)
{
	static const struct bf_lay lays[] = {
		{ 0, 0, 1 }, { 4, 0, 1 }, { 0, 1, 1 }, { 7, 1, 3 },
		{ 0, 0, 5 }, { 15, 0, 2 }, { 1, 1, 8 }, { 8, 0, 4 },
	};
	const char		*path = bf_image("img", BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = bf_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*w[16], *r[16];
	unsigned		 i, n = sizeof(lays) / sizeof(lays[0]);
	unsigned		 split, pushed = 0;

	bf_start(dev, q);
	for (split = 0; split < 2; split++) {
		fake_dev_set_iov_split(dev, split ? 100 : 0);
		for (i = 0; i < n; i++)
			w[i] = bf_out(q, 64 * i + 8 * split, 4096,
			    (uint8_t)(i + 10), &lays[i]);
		fake_queue_kick(q);
		pushed += n;
		bf_wait(dev, 0, pushed);
		for (i = 0; i < n; i++) {
			ck_assert_uint_eq(bf_status(w[i]), BLK_S_OK);
			bf_check_image(path, 64 * i + 8 * split, 8, (int)i + 10);
		}
		for (i = 0; i < n; i++)
			r[i] = bf_in(q, 64 * i + 8 * split, 4096, &lays[i]);
		fake_queue_kick(q);
		pushed += n;
		bf_wait(dev, 0, pushed);
		for (i = 0; i < n; i++)
			bf_check_read(r[i], 64 * i + 8 * split, 4096, (int)i + 10);
	}
	/* 100-byte pieces are not sector multiples: all bounced. */
	ck_assert_uint_ge(bf_queue(dev, 0)->bounced, 2 * n);
	ck_assert_uint_eq(bf_queue(dev, 0)->bounce_used, 0);
	bf_finish(dev, q);
}
END_TEST

/* More pieces than one request can have iovecs (1024): bounced even
 * with buffered I/O; 100 pieces: the iovec array grows, zero copy. */
START_TEST(test_many_segments)
{
	const char		*path = bf_image("img", BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path),
				    FAKE_KV("direct", "off") };
	struct vhd_dev		*dev = bf_dev(kv, 2);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*w, *r;

	bf_start(dev, q);
	fake_dev_set_iov_split(dev, 64);
	w = bf_out(q, 0, 6144, 3, &bf_plain);	/* 96 pieces */
	bf_kick_wait(dev, q, 1);
	ck_assert_uint_eq(bf_status(w), BLK_S_OK);
	ck_assert_uint_eq(bf_queue(dev, 0)->bounced, 0);
	fake_dev_set_iov_split(dev, 16);
	w = bf_out(q, 100, 32768, 4, &bf_plain);	/* 2048 pieces */
	bf_kick_wait(dev, q, 2);
	r = bf_in(q, 100, 32768, &bf_plain);
	bf_kick_wait(dev, q, 3);
	ck_assert_uint_eq(bf_status(w), BLK_S_OK);
	bf_check_read(r, 100, 32768, 4);
	bf_check_image(path, 0, 12, 3);
	ck_assert_uint_eq(bf_queue(dev, 0)->bounced, 2);
	bf_finish(dev, q);
}
END_TEST

/*
 * A file system that refuses O_DIRECT (ramfs; tmpfs accepts it since
 * Linux 6.6): the device opens buffered, says so in the log, and works.
 * Needs a private mount namespace (root); skipped with a message when
 * the machine does not allow it.
 */
START_TEST(test_direct_refused)
{
	const char		*path;
	struct vhd_kv		 kv[] = { FAKE_KV("path", NULL) };
	struct vhd_dev		*dev;
	struct vhd_queue	*q;
	struct vhd_chain	*w, *r;
	int			 fd;

	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("none", bf_tmpdir, "ramfs", 0, NULL) != 0) {
		fprintf(stderr, "test_direct_refused: skipped, cannot mount "
		    "a ramfs: %s\n", strerror(errno));
		return;
	}
	path = bf_image("img", BF_SECTORS);
	fd = open(path, O_RDWR | O_DIRECT);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(errno, EINVAL);
	kv[0].value = path;
	dev = bf_dev(kv, 1);
	ck_assert(fake_dev_log_contains(dev, "refuses O_DIRECT"));
	ck_assert(fake_dev_log_contains(dev, "buffered"));
	ck_assert_int_eq(((struct blk *)fake_dev_priv(dev))->direct_on, 0);
	/* ramfs cannot punch holes either: no discard, and no write zeroes
	 * (its fallback punches). */
	ck_assert(!(fake_dev_info(dev)->features &
	    ((1ULL << BLK_F_DISCARD) | (1ULL << BLK_F_WRITE_ZEROES))));
	ck_assert(fake_dev_log_contains(dev, "cannot punch holes"));
	q = fake_queue(dev, 0);
	bf_start(dev, q);
	w = bf_out(q, 5, 1024, 9, &bf_plain);
	bf_kick_wait(dev, q, 1);
	r = bf_in(q, 5, 1024, &bf_plain);
	bf_kick_wait(dev, q, 2);
	ck_assert_uint_eq(bf_status(w), BLK_S_OK);
	bf_check_read(r, 5, 1024, 9);
	ck_assert_uint_eq(bf_queue(dev, 0)->bounced, 0);
	bf_finish(dev, q);
}
END_TEST

/*
 * Queue stop with I/O in flight: requests submitted and not reaped are
 * waited for and pushed by queue_stop, none left popped; the device
 * state stays, and the queue serves again after a restart.
 */
START_TEST(test_stop_in_flight)
{
	const char		*path = bf_image("img", BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = bf_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[64], *r;
	unsigned		 i;

	bf_start(dev, q);
	for (i = 0; i < 64; i++)
		c[i] = i % 2 ? bf_out(q, 16 * i, 8192, 5, &bf_plain) :
		    bf_in(q, 16 * i, 8192, &bf_plain);
	fake_queue_kick(q);
	ck_assert_uint_eq(fake_queue_pops(q), 64);
	ck_assert_uint_gt(bf_queue(dev, 0)->inflight, 0);
	fake_queue_stop(q);
	ck_assert_uint_eq(fake_queue_pushes(q), 64);
	ck_assert_uint_eq(bf_queue(dev, 0)->inflight, 0);
	ck_assert_uint_eq(bf_queue(dev, 0)->busy, 0);
	ck_assert_uint_ge(fake_queue_notifies(q), 1);
	for (i = 0; i < 64; i++) {
		ck_assert_uint_eq(bf_status(c[i]), BLK_S_OK);
		if (i % 2 == 0)
			bf_check_read(c[i], 16 * i, 8192, 0);
		else
			bf_check_image(path, 16 * i, 16, 5);
	}
	ck_assert_uint_eq(fake_dev_watches(dev), 0);
	fake_queue_start(q);
	r = bf_in(q, 16, 8192, &bf_plain);
	bf_kick_wait(dev, q, 65);
	bf_check_read(r, 16, 8192, 5);
	bf_finish(dev, q);
}
END_TEST

/* Two queues, each with its own ring, watch and worker. */
START_TEST(test_two_queues)
{
	const char		*path = bf_image("img", BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path),
				    FAKE_KV("num-queues", "2") };
	struct vhd_dev		*dev = bf_dev(kv, 2);
	struct vhd_queue	*q0 = fake_queue(dev, 0), *q1 = fake_queue(dev, 1);
	struct vhd_chain	*w0, *w1, *r0, *r1;

	fake_dev_ack_features(dev, BF_ALL);
	fake_queue_start(q0);
	fake_queue_start(q1);
	ck_assert_uint_eq(fake_watch_worker(fake_dev_watch(dev,
	    bf_queue(dev, 0)->efd)), 0);
	ck_assert_uint_eq(fake_watch_worker(fake_dev_watch(dev,
	    bf_queue(dev, 1)->efd)), 1);
	w0 = bf_out(q0, 0, 4096, 7, &bf_plain);
	w1 = bf_out(q1, 8, 4096, 8, &bf_plain);
	fake_queue_kick(q0);
	fake_queue_kick(q1);
	bf_wait(dev, 0, 1);
	bf_wait(dev, 1, 1);
	r0 = bf_in(q0, 8, 4096, &bf_plain);
	r1 = bf_in(q1, 0, 4096, &bf_plain);
	fake_queue_kick(q0);
	fake_queue_kick(q1);
	bf_wait(dev, 0, 2);
	bf_wait(dev, 1, 2);
	ck_assert_uint_eq(bf_status(w0), BLK_S_OK);
	ck_assert_uint_eq(bf_status(w1), BLK_S_OK);
	bf_check_read(r0, 8, 4096, 8);
	bf_check_read(r1, 0, 4096, 7);
	fake_queue_stop(q0);
	fake_queue_stop(q1);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}
END_TEST

/*
 * Bounce space is bounded per queue (32 MiB): ten unaligned 4 MiB reads
 * in a row make the queue wait (the chain is rewound into the ring) and
 * go on once completions free the space.  All are served.
 */
START_TEST(test_bounce_bound)
{
	const char		*path = bf_image("img", 8 * 2048 + 64);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = bf_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[10], *big;
	unsigned		 i;

	bf_start(dev, q);
	fake_dev_set_iov_split(dev, 1000);
	for (i = 0; i < 10; i++)
		c[i] = bf_in(q, 1, 4 << 20, &bf_plain);
	fake_queue_kick(q);
	ck_assert_uint_le(bf_queue(dev, 0)->bounce_used, BLK_BOUNCE_MAX);
	ck_assert_uint_ge(fake_queue_rewinds(q), 1);
	bf_wait(dev, 0, 10);
	for (i = 0; i < 10; i++)
		bf_check_read(c[i], 1, 4 << 20, 0);
	/* A request larger than the whole bound is an error. */
	big = bf_in(q, 0, (BLK_BOUNCE_MAX) + 512, &bf_plain);
	bf_kick_wait(dev, q, 11);
	(void)big;
	ck_assert_uint_eq(bf_queue(dev, 0)->bounce_used, 0);
	bf_finish(dev, q);
}
END_TEST

/*
 * Guest memory about to change (queue_quiesce): the requests in flight
 * are waited for and pushed, the queue keeps running (its watch stays
 * armed) and serves the next kick; a queue waiting for bounce space is
 * served again.
 */
START_TEST(test_quiesce_in_flight)
{
	const char		*path = bf_image("img", 8 * 2048 + 64);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = bf_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[64], *r;
	unsigned		 i;

	ck_assert_ptr_nonnull(vhd_module.ops->queue_quiesce);
	bf_start(dev, q);
	for (i = 0; i < 64; i++)
		c[i] = bf_out(q, 16 * i, 8192, 6, &bf_plain);
	fake_queue_kick(q);
	ck_assert_uint_gt(bf_queue(dev, 0)->inflight, 0);
	vhd_module.ops->queue_quiesce(dev, q);
	ck_assert_uint_eq(bf_queue(dev, 0)->inflight, 0);
	ck_assert_uint_eq(fake_queue_pushes(q), 64);
	for (i = 0; i < 64; i++)
		ck_assert_uint_eq(bf_status(c[i]), BLK_S_OK);
	bf_check_image(path, 0, 64 * 16, 6);
	ck_assert(fake_dev_log_contains(dev, "guest memory changes: waiting "
	    "for"));
	ck_assert(fake_watch_armed(fake_dev_watch(dev,
	    bf_queue(dev, 0)->efd)));
	r = bf_in(q, 16, 8192, &bf_plain);
	bf_kick_wait(dev, q, 65);
	bf_check_read(r, 16, 8192, 6);

	/* A stalled queue (no bounce space) is served after the wait. */
	fake_dev_set_iov_split(dev, 1000);
	for (i = 0; i < 10; i++)
		c[i] = bf_in(q, 2048, 4 << 20, &bf_plain);
	fake_queue_kick(q);
	ck_assert(bf_queue(dev, 0)->stalled);
	vhd_module.ops->queue_quiesce(dev, q);
	ck_assert(!bf_queue(dev, 0)->stalled);
	bf_wait(dev, 0, 75);
	for (i = 0; i < 10; i++)
		bf_check_read(c[i], 2048, 4 << 20, 0);
	bf_finish(dev, q);
}
END_TEST

/* The suite. */
static Suite *
blk_queue_suite(void)
{
	Suite	*s = suite_create("blk_queue");
	TCase	*tc;

	tc = tcase_create("queue");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, bf_setup, bf_teardown);
	tcase_add_test(tc, test_layouts);
	tcase_add_test(tc, test_many_segments);
	tcase_add_test(tc, test_direct_refused);
	tcase_add_test(tc, test_stop_in_flight);
	tcase_add_test(tc, test_two_queues);
	tcase_add_test(tc, test_bounce_bound);
	tcase_add_test(tc, test_quiesce_in_flight);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(blk_queue_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
