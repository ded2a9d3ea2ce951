/*
 * Suite "blk_fe": the blk module in a live vhostd (seccomp on, the
 * default), driven by the test frontend (tests/fe) as a VMM and a guest
 * driver: negotiation and config space, every request type with guest
 * buffers laid out in many ways (zero copy when aligned, bounced when
 * not), the error answers, a read-only device, O_DIRECT refused by the
 * file system, two queues on two workers, and GET_VRING_BASE with I/O in
 * flight (the base is exact: every popped request is in the used ring).
 * The shared request helpers are in blk_fe.c, also used by the
 * hostile suite check_hostile_blk.c.
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

#include "fe/fe.h"
#include "blk_fe.h"

/* Start a daemon with a blk device on a fresh 16 MiB image and a started
 * frontend (all its queues enabled). */
static void
bt_up(struct bt *t, const char *name, const char *const *opts, unsigned nq)
{
	bt_start(t, name, NULL, BT_IMG_SECTORS, opts);
	bt_connect(t, nq);
}

/*
 * A packed ring of 32768 descriptors (the largest; blk's queue-size
 * allows it): GET_ID requests of three descriptors each, 64 in flight,
 * until both wrap counters have turned over twice.  In either layout
 * pass: the ring is packed here whatever VHOSTD_FE_PACKED says.
 */
START_TEST(test_fe_packed_32768)
{
	static const char *const opts[] = { "queue-size=32768", NULL };
	struct bt		 t;
	struct fe		*fe;
	struct fe_queue		*q;
	struct fe_buf		 b[3];
	struct virtio_blk_hdr {
		uint32_t	 type, reserved;
		uint64_t	 sector;
	}			 h = { 8, 0, 0 };	/* GET_ID */
	uint64_t		 base;
	uint32_t		 id, len, base_count;
	/* Two laps of the ring of 3-slot requests, twice over. */
	unsigned		 posted = 0, done = 0, i;
	unsigned		 total = 4 * 32768 / 3 + 100;
	uint8_t			 st;

	bt_start(&t, "packed 32768", NULL, BT_IMG_SECTORS, opts);
	fe = fe_new(t.sock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	fe->packed = 1;
	ck_assert_msg(fe_start(fe, 32768) == 0, "start: %s", fe_error());
	q = fe_queue(fe, 0);
	ck_assert(q->packed);
	base = fe_alloc(fe, 64 * 64, 64);
	ck_assert_uint_ne(base, 0);
	for (i = 0; i < 64; i++)
		ck_assert_int_eq(fe_write(fe, base + 64 * i, &h, sizeof h), 0);
	while (done < total) {
		while (posted < total && posted - done < 64) {
			i = posted % 64;
			b[0].gpa = base + 64 * i;
			b[0].len = 16;
			b[0].write = 0;
			b[1].gpa = base + 64 * i + 16;
			b[1].len = 20;
			b[1].write = 1;
			b[2].gpa = base + 64 * i + 40;
			b[2].len = 1;
			b[2].write = 1;
			ck_assert_msg(fe_post(fe, 0, b, 3, FE_POST_NOKICK) >= 0,
			    "post %u: %s", posted, fe_error());
			posted++;
		}
		ck_assert_int_eq(fe_kick(fe, 0), 0);
		ck_assert_msg(fe_wait_used(fe, 0, &id, &len, 10000) == 1,
		    "after %u: %s", done, fe_error());
		do {
			ck_assert_uint_eq(len, 21);
			done++;
		} while (fe_get_used(fe, 0, &id, &len) == 1);
	}
	/* Both sides went round the ring at least twice. */
	ck_assert_uint_ge((uint64_t)done * 3, 2 * 32768);
	ck_assert_int_eq(fe_read(fe, base + 40, &st, 1), 0);
	ck_assert_uint_eq(st, 0);
	ck_assert_int_eq(fe_queue_pause(fe, 0, &base_count), 0);
	ck_assert_uint_eq(base_count, q->avail_idx);
	t.fe = fe;
	bt_stop(&t);
}
END_TEST

/* Features and config space as offered through vhost-user. */
START_TEST(test_fe_config)
{
	static const char *const opts[] = { "num-queues=2", "serial=fe",
	    NULL };
	struct bt	 t;
	uint8_t		 cfg[96];
	uint32_t	 got;
	uint64_t	 v, want;

	bt_up(&t, "config", opts, 2);
	want = BT_BIT(1) | BT_BIT(2) | BT_BIT(6) | BT_BIT(9) | BT_BIT(10) |
	    BT_BIT(12) | BT_BIT(13) | BT_BIT(14);
	ck_assert_uint_eq(t.fe->features & 0xffffff, want);
	ck_assert(t.fe->features & FE_BIT(FE_F_VERSION_1));
	ck_assert_int_eq(fe_get_queue_num(t.fe, &v), 0);
	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(fe_get_config(t.fe, 0, 60, cfg, &got), 0);
	ck_assert_uint_eq(got, 60);
	memcpy(&v, cfg, 8);
	ck_assert_uint_eq(v, BT_IMG_SECTORS);
	ck_assert_uint_eq(cfg[34], 2);		/* num_queues */
	ck_assert_uint_eq(cfg[56], 1);		/* write_zeroes_may_unmap */
	/* The whole virtio 1.2 struct and the later zoned fields. */
	ck_assert_int_eq(fe_get_config(t.fe, 0, 96, cfg, &got), 0);
	ck_assert_uint_eq(got, 96);
	ck_assert_int_eq(fe_daemon_log_count(t.d, "seccomp filter "
	    "installed"), 1);
	bt_stop(&t);
}
END_TEST

/*
 * Every request type through page-aligned guest buffers (O_DIRECT, no
 * copy): OUT, IN, FLUSH, GET_ID, DISCARD, WRITE_ZEROES with and without
 * UNMAP; the image holds what the guest wrote and zeroes where it
 * discarded.
 */
START_TEST(test_fe_every_type)
{
	static const char *const opts[] = { "serial=vhostd-fe-serial", NULL };
	struct bt	 t;
	uint8_t		 id[21];

	bt_up(&t, "types", opts, 1);
	ck_assert_uint_eq(bt_rw(&t, 0, BLK_OUT, 8, 65536, 1, 0, 0), 0);
	bt_check_image(&t, 8, 128, 1);
	ck_assert_uint_eq(bt_rw(&t, 0, BLK_IN, 8, 65536, 1, 0, 0), 0);
	ck_assert_uint_eq(bt_rw(&t, 0, BLK_IN, 200, 4096, 0, 0, 0), 0);
	ck_assert_uint_eq(bt_simple(&t, 0, BLK_FLUSH, 0, 1), 0);
	ck_assert_uint_eq(bt_get_id(&t, 0, id), 0);
	ck_assert_mem_eq(id, "vhostd-fe-serial\0\0\0\0", 20);
	ck_assert_uint_eq(bt_dwz(&t, 0, BLK_DISCARD, 16, 64, 0), 0);
	bt_check_image(&t, 8, 8, 1);
	bt_check_image(&t, 16, 64, -1);
	bt_check_image(&t, 80, 56, 1);
	ck_assert_uint_eq(bt_dwz(&t, 0, BLK_WRITE_ZEROES, 1000, 24, 0), 0);
	ck_assert_uint_eq(bt_dwz(&t, 0, BLK_WRITE_ZEROES, 2000, 24, 1), 0);
	bt_check_image(&t, 999, 1, 0);
	bt_check_image(&t, 1000, 24, -1);
	bt_check_image(&t, 1024, 1, 0);
	bt_check_image(&t, 2000, 24, -1);
	/* The guest reads the zeroes back. */
	ck_assert_uint_eq(bt_rw(&t, 0, BLK_IN, 16, 4096, -1, 0, 0), 0);
	bt_stop(&t);
}
END_TEST

/*
 * Descriptor layouts, each written then read back: the header split over
 * two descriptors, the data in the header's descriptor, the data over
 * four descriptors, the status byte sharing the last data descriptor,
 * an indirect table, a buffer straddling two guest memory regions, and
 * unaligned guest buffers (bounced: O_DIRECT cannot take them).
 */
START_TEST(test_fe_layouts)
{
	static const unsigned lays[] = {
		0, L_HDR_SPLIT, L_DATA_WITH_HDR, L_STATUS_SHARED,
		L_SPLIT_DATA, L_INDIRECT, L_HDR_SPLIT | L_SPLIT_DATA |
		L_STATUS_SHARED, L_INDIRECT | L_DATA_WITH_HDR | L_SPLIT_DATA,
		L_STRADDLE, L_STRADDLE | L_SPLIT_DATA,
	};
	struct bt	 t;
	unsigned	 i, u, n = sizeof(lays) / sizeof(lays[0]);
	uint64_t	 s;

	bt_up(&t, "layouts", NULL, 1);
	for (u = 0; u < 3; u++) {
		for (i = 0; i < n; i++) {
			/* u: aligned, odd address, odd lengths. */
			s = 64 * (i + n * u);
			ck_assert_msg(bt_rw(&t, 0, BLK_OUT, s, 8192,
			    (int)(i + 20 * u + 3), lays[i] | (u == 1 ?
			    L_UNALIGNED : 0) | (u == 2 ? L_ODD_SPLIT : 0),
			    0) == 0, "write layout %#x u %u", lays[i], u);
			bt_check_image(&t, s, 16, (int)(i + 20 * u + 3));
			ck_assert_msg(bt_rw(&t, 0, BLK_IN, s, 8192,
			    (int)(i + 20 * u + 3), lays[i] | (u == 1 ?
			    L_UNALIGNED : 0) | (u == 2 ? L_ODD_SPLIT : 0),
			    0) == 0, "read layout %#x u %u", lays[i], u);
		}
	}
	ck_assert_int_eq(fe_daemon_log_count(t.d, "answered"), 0);
	bt_stop(&t);
}
END_TEST

/* A read-only device: writes, discards and zeroes refused, reads work;
 * the image is untouched. */
START_TEST(test_fe_readonly)
{
	static const char *const opts[] = { "readonly=on", NULL };
	struct bt	 t;

	bt_up(&t, "readonly", opts, 1);
	ck_assert(t.fe->features & BT_BIT(5));
	ck_assert(!(t.fe->features & BT_BIT(13)));
	ck_assert_uint_eq(bt_rw(&t, 0, BLK_OUT, 0, 4096, 1, 0, 0),
	    BLK_S_IOERR);
	ck_assert_uint_eq(bt_dwz(&t, 0, BLK_DISCARD, 0, 8, 0), BLK_S_UNSUPP);
	ck_assert_uint_eq(bt_dwz(&t, 0, BLK_WRITE_ZEROES, 0, 8, 0),
	    BLK_S_UNSUPP);
	ck_assert_uint_eq(bt_simple(&t, 0, BLK_FLUSH, 0, 1), 0);
	ck_assert_uint_eq(bt_rw(&t, 0, BLK_IN, 0, 4096, 0, 0, 0), 0);
	bt_check_image(&t, 0, BT_IMG_SECTORS, 0);
	bt_stop(&t);
}
END_TEST

/* Two queues on two workers, each serving I/O. */
START_TEST(test_fe_two_queues)
{
	static const char *const opts[] = { "num-queues=2", NULL };
	struct bt	 t;
	unsigned	 i;

	bt_up(&t, "twoq", opts, 2);
	ck_assert_int_eq(fe_daemon_wait_log(t.d, "queue 0 started on "
	    "worker 0", 1, 5000), 0);
	ck_assert_int_eq(fe_daemon_wait_log(t.d, "queue 1 started on "
	    "worker 1", 1, 5000), 0);
	for (i = 0; i < 8; i++) {
		/* Slot = queue: each worker writes its own guest memory
		 * (TSan cannot see that the guest orders the queues). */
		ck_assert_uint_eq(bt_rw(&t, i % 2, BLK_OUT, 64 * i, 16384,
		    (int)i + 40, 0, i % 2), 0);
		ck_assert_uint_eq(bt_rw(&t, (i + 1) % 2, BLK_IN, 64 * i,
		    16384, (int)i + 40, 0, (i + 1) % 2), 0);
	}
	bt_stop(&t);
}
END_TEST

/*
 * GET_VRING_BASE with I/O in flight (QEMU's `stop`): many writes posted
 * and kicked, the queue paused as soon as the first completes.  The base
 * returned must equal the used index the guest sees: every request the
 * device took was completed and pushed before the reply.  After `cont`
 * the device serves again with the same image.  Repeated until the
 * daemon logged that it waited for requests in flight at least once.
 */
START_TEST(test_fe_stop_in_flight)
{
	struct bt	 t;
	uint32_t	 base, id, len;
	unsigned	 round, i, n = 64, waited;
	uint16_t	 used;
	int		 heads[64];

	bt_up(&t, "stop", NULL, 1);
	for (round = 0; round < 20; round++) {
		for (i = 0; i < n; i++) {
			heads[i] = bt_post_rw(&t, 0, BLK_OUT, 128 * i, 65536,
			    (int)(round + 1), i, L_NOKICK);
			ck_assert_msg(heads[i] >= 0, "round %u post %u: %s",
			    round, i, fe_error());
		}
		ck_assert_int_eq(fe_kick(t.fe, 0), 0);
		ck_assert_int_eq(fe_wait_call(t.fe, 0, 10000), 1);
		ck_assert_int_eq(fe_queue_pause(t.fe, 0, &base), 0);
		used = fe_used_idx(t.fe, 0);
		ck_assert_uint_eq(base, used);
		/* Everything posted was taken (one kick, one handler run),
		 * so everything is in the used ring now. */
		ck_assert_uint_eq(base, (uint16_t)(n * (round + 1)));
		for (i = 0; i < n; i++) {
			ck_assert_int_eq(fe_get_used(t.fe, 0, &id, &len), 1);
			ck_assert_uint_eq(bt_status_of(&t, id), 0);
		}
		ck_assert_int_eq(fe_queue_resume(t.fe, 0), 0);
		for (i = 0; i < n; i += 17)
			bt_check_image(&t, 128 * i, 128, (int)(round + 1));
		waited = (unsigned)fe_daemon_log_count(t.d, "waiting for");
		if (waited > 0 && round >= 2)
			break;
	}
	ck_assert_msg(fe_daemon_log_count(t.d, "waiting for") > 0,
	    "no stop ever found requests in flight");
	ck_assert_uint_eq(bt_rw(&t, 0, BLK_IN, 0, 65536, (int)round + 1, 0,
	    0), 0);
	bt_stop(&t);
}
END_TEST

/*
 * A new memory table (SET_MEM_TABLE, as on memory hot-plug) while writes
 * are in flight: the daemon maps the regions again and unmaps the old
 * mappings only after the module waited for the I/O pointing into them
 * (queue_quiesce).  Every request completes with the right data, the
 * queue goes on without a restart; repeated until a change found
 * requests in flight.
 */
START_TEST(test_fe_mem_change_in_flight)
{
	struct bt	 t;
	uint32_t	 id, len;
	unsigned	 round, i, n = 64;

	bt_up(&t, "memchange", NULL, 1);
	for (round = 0; round < 20; round++) {
		for (i = 0; i < n; i++)
			ck_assert_int_ge(bt_post_rw(&t, 0, BLK_OUT, 128 * i,
			    65536, (int)(round + 1), i, L_NOKICK), 0);
		ck_assert_int_eq(fe_kick(t.fe, 0), 0);
		ck_assert_int_eq(fe_wait_call(t.fe, 0, 10000), 1);
		ck_assert_int_eq(fe_set_mem_table(t.fe, NULL, 0), 0);
		for (i = 0; i < n; i++) {
			ck_assert_int_eq(fe_wait_used(t.fe, 0, &id, &len,
			    10000), 1);
			ck_assert_uint_eq(bt_status_of(&t, id), 0);
		}
		for (i = 0; i < n; i += 13)
			bt_check_image(&t, 128 * i, 128, (int)(round + 1));
		if (fe_daemon_log_count(t.d, "guest memory changes: waiting "
		    "for") > 0 && round >= 2)
			break;
	}
	ck_assert_msg(fe_daemon_log_count(t.d, "guest memory changes: "
	    "waiting for") > 0, "no memory change found requests in flight");
	ck_assert_int_eq(fe_daemon_log_count(t.d, "device broken"), 0);
	ck_assert_uint_eq(bt_rw(&t, 0, BLK_IN, 0, 65536, (int)round + 1, 0,
	    0), 0);
	bt_stop(&t);
}
END_TEST

/*
 * A file system that refuses O_DIRECT (ramfs; tmpfs takes O_DIRECT since
 * Linux 6.6): vhostd logs it, serves buffered, and the data is right.
 * The daemon runs in this test's private mount namespace; skipped with
 * a message where that is not allowed.
 */
START_TEST(test_fe_direct_refused)
{
	struct bt	 t;
	char		 dir[64];

	strcpy(dir, "/tmp/check_blk_fe.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("none", dir, "ramfs", 0, NULL) != 0) {
		fprintf(stderr, "test_fe_direct_refused: skipped, cannot "
		    "mount a ramfs: %s\n", strerror(errno));
		rmdir(dir);
		return;
	}
	bt_start(&t, "direct", dir, BT_IMG_SECTORS, NULL);
	bt_connect(&t, 1);
	ck_assert_int_eq(fe_daemon_log_count(t.d, "refuses O_DIRECT"), 1);
	ck_assert_int_eq(fe_daemon_log_count(t.d, "buffered"), 2);
	ck_assert_uint_eq(bt_rw(&t, 0, BLK_OUT, 8, 8192, 5, L_UNALIGNED, 0),
	    0);
	ck_assert_uint_eq(bt_rw(&t, 0, BLK_IN, 8, 8192, 5, 0, 0), 0);
	bt_check_image(&t, 8, 16, 5);
	bt_stop(&t);
	(void)umount2(dir, MNT_DETACH);
	rmdir(dir);
}
END_TEST

/* The suite. */
static Suite *
blk_fe_suite(void)
{
	Suite	*s = suite_create("blk_fe");
	TCase	*tc;

	tc = tcase_create("blk_fe");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fe_config);
	tcase_add_test(tc, test_fe_every_type);
	tcase_add_test(tc, test_fe_layouts);
	tcase_add_test(tc, test_fe_readonly);
	tcase_add_test(tc, test_fe_two_queues);
	tcase_add_test(tc, test_fe_stop_in_flight);
	tcase_add_test(tc, test_fe_mem_change_in_flight);
	tcase_add_test(tc, test_fe_direct_refused);
	tcase_add_test(tc, test_fe_packed_32768);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1) {
		fprintf(stderr, "check_blk_fe: %s\n", fe_error());
		return (1);
	}
	sr = srunner_create(blk_fe_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
