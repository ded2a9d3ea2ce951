/*
 * Integration suite, entropy: a live vhostd's rng device fills small,
 * big, indirect and region-straddling requests, with and without
 * EVENT_IDX, interrupts as event suppression says, reads a file source
 * and keeps its rate limit.  Harness: tests/integration_harness.[ch].
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"
#include "integration_harness.h"

/* qsort comparator for 64-byte chunks. */
static int
it_cmp64(const void *a, const void *b)
{
	return (memcmp(a, b, 64));
}

/* 1 MiB in 64-byte requests: all full length, no two chunks equal. */
START_TEST(test_entropy_small_requests)
{
	struct it	 it;
	struct fe	*fe;
	uint8_t		*buf;
	size_t		 len = 1u << 20, i, nz = 0;

	it_start(&it, "entropy_small", NULL);
	fe = it_fe(it.sock);
	ck_assert(fe->event_idx);
	buf = calloc(1, len);
	it_read(fe, buf, len, 64, 1, 0);
	for (i = 0; i < len; i++)
		nz += buf[i] != 0;
	ck_assert_uint_gt(nz, len - len / 64);
	qsort(buf, len / 64, 64, it_cmp64);
	for (i = 1; i < len / 64; i++)
		ck_assert_msg(memcmp(buf + (i - 1) * 64, buf + i * 64, 64) != 0,
		    "two equal 64-byte chunks");
	free(buf);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* Big multi-descriptor and indirect chains are filled completely. */
START_TEST(test_entropy_chains)
{
	struct it	 it;
	struct fe	*fe;
	uint8_t		*buf;
	size_t		 len = 64u << 10, i;

	it_start(&it, "entropy_chains", NULL);
	fe = it_fe(it.sock);
	buf = calloc(1, len);
	/* 16 KiB requests of 8 descriptors. */
	it_read(fe, buf, len, 16u << 10, 8, 0);
	/* 64 KiB in one request of 16 indirect descriptors. */
	memset(buf, 0, len);
	it_read(fe, buf, len, len, 16, 1);
	for (i = 0; i + 4096 <= len; i += 4096)
		ck_assert_msg(memcmp(buf + i, buf + (i + 4096) % len, 4096)
		    != 0, "repeated 4 KiB block");
	/* 4 KiB requests of 64 indirect descriptors of 64 bytes. */
	it_read(fe, buf, len, 4096, 64, 1);
	free(buf);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* A buffer straddling two memory regions is filled on both sides. */
START_TEST(test_entropy_straddle)
{
	struct it	 it;
	struct fe	*fe;
	struct fe_buf	 b[2];
	uint8_t		 out[512];
	uint64_t	 gpa = (2u << 20) - 256;
	uint32_t	 id, len;
	int		 h, i, nz0 = 0, nz1 = 0;

	it_start(&it, "entropy_straddle", NULL);
	fe = it_fe(it.sock);
	ck_assert_int_eq(fe_fill(fe, gpa, 0, 512), 0);
	b[0].gpa = gpa;
	b[0].len = 512;
	b[0].write = 1;
	h = fe_post(fe, 0, b, 1, 0);
	ck_assert_int_ge(h, 0);
	ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, 5000), 1);
	ck_assert_uint_eq(id, (unsigned)h);
	ck_assert_uint_eq(len, 512);
	ck_assert_int_eq(fe_read(fe, gpa, out, 512), 0);
	for (i = 0; i < 256; i++) {
		nz0 += out[i] != 0;
		nz1 += out[256 + i] != 0;
	}
	ck_assert_int_gt(nz0, 200);
	ck_assert_int_gt(nz1, 200);
	/* The same through an indirect table, two descriptors. */
	ck_assert_int_eq(fe_fill(fe, gpa, 0, 512), 0);
	b[0].len = 300;
	b[1].gpa = gpa + 300;
	b[1].len = 212;
	b[1].write = 1;
	h = fe_post(fe, 0, b, 2, FE_POST_INDIRECT);
	ck_assert_int_ge(h, 0);
	ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, 5000), 1);
	ck_assert_uint_eq(len, 512);
	ck_assert_int_eq(fe_read(fe, gpa + 256, out, 256), 0);
	for (i = 0, nz1 = 0; i < 256; i++)
		nz1 += out[i] != 0;
	ck_assert_int_gt(nz1, 200);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* Without EVENT_IDX interrupts still arrive and entropy flows. */
START_TEST(test_entropy_no_event_idx)
{
	struct it	 it;
	struct fe	*fe;
	uint8_t		*buf;

	it_start(&it, "entropy_no_event_idx", NULL);
	fe = fe_new(it.sock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	ck_assert_int_eq(fe_negotiate(fe, FE_WANT_FEATURES &
	    ~FE_BIT(FE_F_EVENT_IDX), FE_WANT_PROTOCOL), 0);
	ck_assert(!fe->event_idx);
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	ck_assert_int_eq(fe_queue_setup(fe, 0, IT_QSIZE), 0);
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	buf = malloc(256u << 10);
	it_read(fe, buf, 256u << 10, 64, 1, 0);
	free(buf);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* Poll for one used entry without touching used_event. */
static void
it_poll_used(struct fe *fe, uint32_t want_len)
{
	int64_t		deadline = fe_now_ms() + 3000;
	uint32_t	id, len;
	int		r;

	while ((r = fe_get_used(fe, 0, &id, &len)) == 0 &&
	    fe_now_ms() < deadline)
		usleep(500);
	ck_assert_msg(r == 1, "no used entry: %s", fe_error());
	ck_assert_uint_eq(len, want_len);
}

/*
 * With EVENT_IDX the device interrupts only when used_event is passed.
 * NOTIFY_ON_EMPTY is left out: with it the device must interrupt each
 * time the ring runs empty.
 */
START_TEST(test_event_idx_suppression)
{
	struct it	 it;
	struct fe	*fe;
	struct fe_buf	 b;
	uint8_t		 buf[4096];
	int		 i;

	it_start(&it, "event_idx_suppression", NULL);
	fe = fe_new(it.sock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	ck_assert_int_eq(fe_negotiate(fe, FE_WANT_FEATURES &
	    ~FE_BIT(FE_F_NOTIFY_ON_EMPTY), FE_WANT_PROTOCOL), 0);
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	ck_assert_int_eq(fe_queue_setup(fe, 0, IT_QSIZE), 0);
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	ck_assert(fe->event_idx);
	it_read(fe, buf, sizeof buf, 64, 1, 0);
	fe_wait_call(fe, 0, 0);
	/* Ask for an interrupt after the 5th next entry only. */
	fe_set_used_event(fe, 0, 4);
	b.gpa = fe_alloc(fe, 64, 64);
	b.len = 64;
	b.write = 1;
	for (i = 0; i < 4; i++) {
		ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
		it_poll_used(fe, 64);
	}
	ck_assert_msg(fe_wait_call(fe, 0, 100) == 0,
	    "interrupt before used_event was passed");
	ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	it_poll_used(fe, 64);
	ck_assert_msg(fe_wait_call(fe, 0, 2000) == 1,
	    "no interrupt when used_event was passed");
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* With NOTIFY_ON_EMPTY the device interrupts when the ring runs empty,
 * even when used_event says not yet. */
START_TEST(test_notify_on_empty)
{
	struct it	 it;
	struct fe	*fe;
	struct fe_buf	 b;
	uint8_t		 buf[4096];

	it_start(&it, "notify_on_empty", NULL);
	fe = it_fe(it.sock);
	ck_assert(fe->acked & FE_BIT(FE_F_NOTIFY_ON_EMPTY));
	it_read(fe, buf, sizeof buf, 64, 1, 0);
	fe_wait_call(fe, 0, 0);
	fe_set_used_event(fe, 0, 100);
	b.gpa = fe_alloc(fe, 64, 64);
	b.len = 64;
	b.write = 1;
	ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	ck_assert_msg(fe_wait_call(fe, 0, 2000) == 1,
	    "no interrupt when the ring ran empty");
	it_poll_used(fe, 64);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* With a file source the device returns exactly the file's bytes. */
START_TEST(test_rng_file_source)
{
	struct it	 it;
	struct fe	*fe;
	uint8_t		*data, *got;
	size_t		 len = 20000, i;
	const char	*path;
	char		 opt[700];
	const char	*extra[3];
	struct fe_daemon *tmp;

	data = malloc(len);
	got = calloc(1, len);
	for (i = 0; i < len; i++)
		data[i] = (uint8_t)((i * 2654435761u) >> 13);
	/* The file lives in its own dir: the daemon's is made by it_start. */
	tmp = fe_daemon_new("rng_file_source-data");
	path = fe_daemon_write_file(tmp, "source.bin", data, len);
	ck_assert_ptr_nonnull(path);
	snprintf(opt, sizeof opt, "source=%s", path);
	extra[0] = "--option";
	extra[1] = opt;
	extra[2] = NULL;
	it_start(&it, "rng_file_source", extra);
	fe = it_fe(it.sock);
	it_read(fe, got, len, 1000, 1, 0);
	ck_assert_mem_eq(got, data, len);
	it_close(&it, fe, 1);
	it_stop(&it);
	fe_daemon_free(tmp);
	free(data);
	free(got);
}
END_TEST

/* max-bytes=4096 per 200 ms: 16 KiB take three extra periods. */
START_TEST(test_rate_limit)
{
	static const char *const extra[] = { "--option", "max-bytes=4096",
	    "--option", "period=200", NULL };
	struct it		 it;
	struct fe		*fe;
	struct fe_rng_stats	 st;
	uint8_t			*buf;

	it_start(&it, "rate_limit", extra);
	fe = it_fe(it.sock);
	buf = malloc(16u << 10);
	ck_assert_int_eq(fe_rng_read(fe, 0, buf, 16u << 10, 64, 128, 1, 0,
	    &st), 0);
	ck_assert_uint_eq(st.bytes, 16u << 10);
	ck_assert_uint_eq(st.requests, 256);
	ck_assert_uint_eq(st.short_replies, 0);
	ck_assert_msg(st.elapsed_ms >= 550, "16 KiB in %lld ms",
	    (long long)st.elapsed_ms);
	free(buf);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* ------------------------------------------------------------------ */

/* Build the suite. */
static Suite *
integration_entropy_suite(void)
{
	Suite	*s = suite_create("integration_entropy");
	TCase	*tc;

	tc = tcase_create("entropy");
	tcase_add_unchecked_fixture(tc, NULL, it_reap);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_entropy_small_requests);
	tcase_add_test(tc, test_entropy_chains);
	tcase_add_test(tc, test_entropy_straddle);
	tcase_add_test(tc, test_entropy_no_event_idx);
	tcase_add_test(tc, test_event_idx_suppression);
	tcase_add_test(tc, test_notify_on_empty);
	tcase_add_test(tc, test_rng_file_source);
	tcase_add_test(tc, test_rate_limit);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (it_main("check_integration_entropy",
	    integration_entropy_suite()));
}
