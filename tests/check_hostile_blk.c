/*
 * Suite "hostile_blk": a hostile guest driver against the blk module in a
 * live vhostd (the blk section of the hostile suite; tests/check_hostile.c
 * covers the core with rng devices).  Every case must leave the daemon
 * alive, the device not broken (a bad request breaks only itself: it gets
 * the spec's answer), the image untouched where nothing valid was
 * written, a good request still served, the log rate-limited, and the
 * daemon exiting 0 on SIGTERM without a sanitizer report.
 */

#include <sys/types.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"
#include "blk_fe.h"

/* After a case: alive, not broken, still serving, image as expected. */
static void
hb_after(struct bt *t)
{
	ck_assert_msg(fe_daemon_alive(t->d), "vhostd died");
	ck_assert_int_eq(fe_daemon_log_count(t->d, "device broken"), 0);
	ck_assert_uint_eq(bt_rw(t, 0, BLK_IN, BT_IMG_SECTORS - 8, 4096, 0, 0,
	    0), BLK_S_OK);
}

/* Post a chain and return its used length (the test fails on timeout). */
static uint32_t
hb_post(struct bt *t, const struct fe_buf *b, unsigned n)
{
	int	 head = fe_post(t->fe, 0, b, n, 0);

	ck_assert_msg(head >= 0, "post: %s", fe_error());
	return (bt_wait(t, 0, head));
}

/* Write a header at gpa. */
static void
hb_hdr(struct bt *t, uint64_t gpa, uint32_t type, uint64_t sector)
{
	uint8_t	 h[16];

	memset(h, 0, sizeof(h));
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	ck_assert_int_eq(fe_write(t->fe, gpa, h, 16), 0);
}

/*
 * No writable status byte: a chain of readable buffers only (header and
 * data) is given back unused (used length 0), and the log says why.
 */
START_TEST(test_blk_status_not_writable)
{
	struct bt	 t;
	struct fe_buf	 b[2];

	bt_start(&t, "nostatus", NULL, BT_IMG_SECTORS, NULL);
	bt_connect(&t, 1);
	hb_hdr(&t, t.slots_gpa, BLK_OUT, 0);
	ck_assert_int_eq(fe_fill(t.fe, t.data_gpa, 0x77, 4096), 0);
	b[0].gpa = t.slots_gpa;
	b[0].len = 16;
	b[0].write = 0;
	b[1].gpa = t.data_gpa;
	b[1].len = 4096;
	b[1].write = 0;
	ck_assert_uint_eq(hb_post(&t, b, 2), 0);
	ck_assert_int_eq(fe_daemon_wait_log(t.d, "no device-writable status "
	    "byte", 1, 5000), 0);
	bt_check_image(&t, 0, 8, 0);
	hb_after(&t);
	bt_stop(&t);
}
END_TEST

/*
 * Bad headers: none (everything device-writable), 15 bytes, split 1 + 14;
 * each answered IOERR in the status byte with used length 1.
 */
START_TEST(test_blk_bad_header)
{
	struct bt	 t;
	struct fe_buf	 b[3];
	uint8_t		 s;
	uint64_t	 st;

	bt_start(&t, "badhdr", NULL, BT_IMG_SECTORS, NULL);
	bt_connect(&t, 1);
	st = t.slots_gpa + 32;
	/* All writable: the "header" is where the device writes. */
	b[0].gpa = t.data_gpa;
	b[0].len = 16;
	b[0].write = 1;
	b[1].gpa = st;
	b[1].len = 1;
	b[1].write = 1;
	ck_assert_uint_eq(hb_post(&t, b, 2), 1);
	ck_assert_int_eq(fe_read(t.fe, st, &s, 1), 0);
	ck_assert_uint_eq(s, BLK_S_IOERR);
	/* 15 bytes of header, then 1 + 14. */
	hb_hdr(&t, t.slots_gpa, BLK_OUT, 0);
	b[0].gpa = t.slots_gpa;
	b[0].len = 15;
	b[0].write = 0;
	ck_assert_uint_eq(hb_post(&t, b, 2), 1);
	ck_assert_int_eq(fe_read(t.fe, st, &s, 1), 0);
	ck_assert_uint_eq(s, BLK_S_IOERR);
	b[0].len = 1;
	b[1].gpa = t.slots_gpa + 1;
	b[1].len = 14;
	b[1].write = 0;
	b[2].gpa = st;
	b[2].len = 1;
	b[2].write = 1;
	ck_assert_uint_eq(hb_post(&t, b, 3), 1);
	ck_assert_int_eq(fe_read(t.fe, st, &s, 1), 0);
	ck_assert_uint_eq(s, BLK_S_IOERR);
	ck_assert_int_ge(fe_daemon_log_count(t.d, "header shorter than 16"),
	    1);
	bt_check_image(&t, 0, 8, 0);
	hb_after(&t);
	bt_stop(&t);
}
END_TEST

/*
 * Ranges past the end and overflowing ranges, for every request type that
 * takes a sector: IOERR, the image untouched.  Unknown types: UNSUPP.
 */
START_TEST(test_blk_bad_ranges)
{
	static const uint64_t bad[] = {
		BT_IMG_SECTORS, BT_IMG_SECTORS - 1, UINT64_MAX,
		UINT64_MAX >> 9, (UINT64_MAX >> 9) + 1, 1ULL << 63,
	};
	struct bt	 t;
	unsigned	 i, type;

	bt_start(&t, "ranges", NULL, BT_IMG_SECTORS, NULL);
	bt_connect(&t, 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_uint_eq(bt_rw(&t, 0, BLK_OUT, bad[i], 1024, 1, 0,
		    0), BLK_S_IOERR);
		ck_assert_uint_eq(bt_rw(&t, 0, BLK_IN, bad[i], 1024, 1, 0,
		    0), BLK_S_IOERR);
		ck_assert_uint_eq(bt_dwz(&t, 0, BLK_DISCARD, bad[i], 2, 0),
		    BLK_S_IOERR);
		ck_assert_uint_eq(bt_dwz(&t, 0, BLK_WRITE_ZEROES, bad[i], 2,
		    1), BLK_S_IOERR);
	}
	ck_assert_uint_eq(bt_dwz(&t, 0, BLK_DISCARD, 0, UINT32_MAX, 0),
	    BLK_S_IOERR);
	for (type = 0; type < 64; type++) {
		if (type == BLK_IN || type == BLK_OUT || type == BLK_FLUSH ||
		    type == BLK_GET_ID || type == BLK_DISCARD ||
		    type == BLK_WRITE_ZEROES)
			continue;
		ck_assert_uint_eq(bt_simple(&t, 0, type, 0, 1),
		    BLK_S_UNSUPP);
	}
	ck_assert_uint_eq(bt_simple(&t, 0, 0xffffffffu, 0, 1), BLK_S_UNSUPP);
	bt_check_image(&t, 0, BT_IMG_SECTORS, 0);
	hb_after(&t);
	bt_stop(&t);
}
END_TEST

/* A small deterministic generator. */
static uint64_t
hb_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (*s);
}

/*
 * A storm of 3,000 random requests (random types, sectors, lengths and
 * descriptor layouts, with and without status byte, within guest memory)
 * against a read-only device (so the image must stay as it was): every
 * chain comes back, the device stays up, and the warnings are
 * rate-limited (about one a second, not one per request).
 */
START_TEST(test_blk_storm)
{
	static const char *const opts[] = { "readonly=on", NULL };
	static const uint32_t types[] = { 0, 1, 4, 8, 11, 13, 2, 3, 99 };
	struct bt	 t;
	struct fe_buf	 b[8];
	uint64_t	 seed = 0x9e3779b97f4a7c15ULL, r, sector;
	unsigned	 i, n, k, warned;
	int64_t		 t0 = fe_now_ms(), secs;

	bt_start(&t, "storm", NULL, BT_IMG_SECTORS, opts);
	bt_connect(&t, 1);
	for (i = 0; i < 3000; i++) {
		r = hb_rand(&seed);
		sector = (r & 1) ? hb_rand(&seed) : hb_rand(&seed) %
		    (BT_IMG_SECTORS + 8);
		hb_hdr(&t, t.slots_gpa, types[r % 9], sector);
		n = 0;
		/* The header: whole, split, short or missing. */
		switch ((r >> 8) % 4) {
		case 0:
			b[n].gpa = t.slots_gpa;
			b[n].len = 16;
			b[n++].write = 0;
			break;
		case 1:
			b[n].gpa = t.slots_gpa;
			b[n].len = 3;
			b[n++].write = 0;
			b[n].gpa = t.slots_gpa + 3;
			b[n].len = 13 + (uint32_t)((r >> 12) % 64);
			b[n++].write = 0;
			break;
		case 2:
			b[n].gpa = t.slots_gpa;
			b[n].len = (uint32_t)((r >> 12) % 16) + 1;
			b[n++].write = 0;
			break;
		default:
			break;
		}
		/* Up to four more buffers of random size and direction
		 * (readable ones first, as the ring requires). */
		k = (unsigned)((r >> 20) % 5);
		while (k-- > 0) {
			b[n].gpa = t.data_gpa + (hb_rand(&seed) % 65536);
			b[n].len = (uint32_t)(hb_rand(&seed) % 70000) + 1;
			b[n].write = (n > 0 && b[n - 1].write) ||
			    (hb_rand(&seed) & 1);
			n++;
		}
		if (n == 0) {
			b[n].gpa = t.slots_gpa + 32;
			b[n].len = 1;
			b[n++].write = 1;
		}
		(void)hb_post(&t, b, n);
	}
	secs = (fe_now_ms() - t0) / 1000 + 1;
	warned = (unsigned)fe_daemon_log_count(t.d, "warning: blk0");
	ck_assert_msg(warned <= (unsigned)secs + 2, "%u warnings in %lld s",
	    warned, (long long)secs);
	ck_assert_uint_ge(warned, 1);
	bt_check_image(&t, 0, BT_IMG_SECTORS, 0);
	hb_after(&t);
	bt_stop(&t);
}
END_TEST

/*
 * The frontend vanishes with I/O in flight (a killed QEMU): the daemon
 * stops the queue (waiting for the requests), resets the device and
 * serves the next frontend on the same image.
 */
START_TEST(test_blk_disconnect_in_flight)
{
	struct bt	 t;
	unsigned	 i;

	bt_start(&t, "disconnect", NULL, BT_IMG_SECTORS, NULL);
	bt_connect(&t, 1);
	for (i = 0; i < 64; i++)
		ck_assert_int_ge(bt_post_rw(&t, 0, BLK_OUT, 128 * i, 65536, 3,
		    i, L_NOKICK), 0);
	ck_assert_int_eq(fe_kick(t.fe, 0), 0);
	fe_free(t.fe);
	t.fe = NULL;
	ck_assert_int_eq(fe_daemon_wait_log(t.d, "frontend disconnected", 1,
	    10000), 0);
	bt_connect(&t, 1);
	ck_assert_uint_eq(bt_rw(&t, 0, BLK_OUT, 0, 4096, 4, 0, 0), BLK_S_OK);
	ck_assert_uint_eq(bt_rw(&t, 0, BLK_IN, 0, 4096, 4, 0, 0), BLK_S_OK);
	hb_after(&t);
	bt_stop(&t);
}
END_TEST

/* The suite. */
static Suite *
hostile_blk_suite(void)
{
	Suite	*s = suite_create("hostile_blk");
	TCase	*tc;

	tc = tcase_create("hostile_blk");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_blk_status_not_writable);
	tcase_add_test(tc, test_blk_bad_header);
	tcase_add_test(tc, test_blk_bad_ranges);
	tcase_add_test(tc, test_blk_storm);
	tcase_add_test(tc, test_blk_disconnect_in_flight);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1) {
		fprintf(stderr, "check_hostile_blk: %s\n", fe_error());
		return (1);
	}
	sr = srunner_create(hostile_blk_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
