/*
 * Unit tests for the rng module's batch for small requests
 * (modules/rng/rng_pool.c): no byte is served twice, every byte served
 * is wiped from the pool, a dropped pool is wiped whole; and, through
 * the module on the fake daemon, small requests under a rate limit get
 * exactly the budget.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vhostd/vhostd.h>

#include "fake_api.h"
#include "../modules/rng/rng_pool.h"

/* The module's descriptor, linked in from rng.c. */
extern const struct vhd_module vhd_module;

#define STREAM_MAX	(64 * 1024)

/* The test source: a stream of 32-bit counter words (every 4-byte
 * window at a word boundary unique), at most `src_chunk` bytes a call. */
static uint32_t	src_next;
static size_t	src_chunk;
static uint8_t	src_stream[STREAM_MAX + RNG_POOL_SIZE];
static size_t	src_len;
static int	src_dry;

/* The counter source; EAGAIN when `src_dry` is set. */
static ssize_t
src_fill(void *buf, size_t len)
{
	uint8_t	*p = buf;
	size_t	 i;

	if (src_dry) {
		errno = EAGAIN;
		return (-1);
	}
	if (len > src_chunk)
		len = src_chunk;
	len &= ~(size_t)3;
	for (i = 0; i < len; i += 4) {
		memcpy(p + i, &src_next, 4);
		src_next++;
	}
	ck_assert_uint_le(src_len + len, sizeof src_stream);
	memcpy(src_stream + src_len, p, len);
	src_len += len;
	return ((ssize_t)len);
}

/* Reset the counter source. */
static void
src_reset(size_t chunk)
{
	src_next = 1;
	src_chunk = chunk;
	src_len = 0;
	src_dry = 0;
}

/* Are the served bytes [0, head) of the pool all zero? */
static int
pool_served_wiped(const struct rng_pool *p)
{
	size_t	i;

	for (i = 0; i < p->head; i++) {
		if (p->buf[i] != 0)
			return (0);
	}
	return (1);
}

/* Serve requests of every size from 1 to RNG_POOL_SMALL, in 1 to 3
 * iovecs, from a source of `chunk` bytes a call; the bytes served, in
 * order, must be the source's stream itself: nothing skipped inside a
 * batch, nothing repeated. */
static void
pool_stream_check(size_t chunk)
{
	static struct rng_pool	 p;
	static uint8_t		 out[STREAM_MAX];
	struct iovec		 iov[3];
	size_t			 done = 0, len, a, b;
	ssize_t			 got;
	int			 n;

	src_reset(chunk);
	rng_pool_init(&p, src_fill);
	for (len = 1; done + len <= sizeof out && len <= RNG_POOL_SMALL;
	    len = len % RNG_POOL_SMALL + 1) {
		a = len / 3;
		b = len / 2 - a / 2;
		n = 0;
		if (a > 0) {
			iov[n].iov_base = out + done;
			iov[n++].iov_len = a;
		}
		if (b > 0) {
			iov[n].iov_base = out + done + a;
			iov[n++].iov_len = b;
		}
		iov[n].iov_base = out + done + a + b;
		iov[n++].iov_len = len - a - b;
		got = rng_pool_copy(&p, iov, n);
		ck_assert_int_eq(got, (ssize_t)len);
		done += len;
		ck_assert_msg(pool_served_wiped(&p), "served bytes left in "
		    "the pool after %zu bytes", done);
		if (len == RNG_POOL_SMALL)
			break;
	}
	/* Each batch is used to its end before the next is fetched. */
	ck_assert_uint_ge(src_len, done);
	ck_assert_uint_lt(src_len - done, RNG_POOL_SIZE);
	ck_assert_msg(memcmp(out, src_stream, done) == 0,
	    "served bytes differ from the source stream");
	ck_assert_uint_eq(p.refills, (done + chunk - 1) / chunk);
	rng_pool_wipe(&p);
	for (a = 0; a < sizeof p.buf; a++)
		ck_assert_msg(p.buf[a] == 0, "byte %zu not wiped", a);
	ck_assert_uint_eq(p.head, p.tail);
}

START_TEST(test_pool_full_batches)
{
	pool_stream_check(RNG_POOL_SIZE);
}
END_TEST

START_TEST(test_pool_short_batches)
{
	/* A source that gives less than asked: 1000 bytes a call. */
	pool_stream_check(1000);
}
END_TEST

START_TEST(test_pool_source_dry)
{
	static struct rng_pool	 p;
	uint8_t			 out[200];
	struct iovec		 iov = { out, sizeof out };

	src_reset(100);
	rng_pool_init(&p, src_fill);
	/* 100 bytes a call: a 200-byte request takes two batches. */
	ck_assert_int_eq(rng_pool_copy(&p, &iov, 1), 200);
	ck_assert(memcmp(out, src_stream, 200) == 0);
	/* Dry source, empty pool: nothing, EAGAIN, nothing served twice. */
	src_dry = 1;
	errno = 0;
	ck_assert_int_eq(rng_pool_copy(&p, &iov, 1), -1);
	ck_assert_int_eq(errno, EAGAIN);
	src_dry = 0;
	ck_assert_int_eq(rng_pool_copy(&p, &iov, 1), 200);
	ck_assert(memcmp(out, src_stream + 200, 200) == 0);
	ck_assert(pool_served_wiped(&p));
}
END_TEST

/* A device with these keys on the fake daemon. */
static struct vhd_dev *
pool_dev(const struct vhd_kv *kv, size_t nkv)
{
	struct vhd_dev	*dev;
	char		*cause = NULL;

	dev = fake_dev_new(vhd_module.ops, "rng0");
	if (fake_dev_create(dev, kv, nkv, &cause) != 0)
		ck_abort_msg("create failed: %s", cause ? cause : "(null)");
	return (dev);
}

START_TEST(test_pool_rate_limit_exact)
{
	struct vhd_kv		 kv[] = {
		FAKE_KV("max-bytes", "1000"),
		FAKE_KV("period", "60000"),
	};
	struct vhd_dev		*dev = pool_dev(kv, 2);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[20];
	size_t			 total = 0;
	unsigned		 k;

	/* 64-byte requests (from the pool) against a 1000-byte budget:
	 * 15 full, one of 40, the rest wait. */
	for (k = 0; k < 20; k++) {
		c[k] = fake_chain_new(q);
		fake_chain_add_writable(c[k], 64, 0xa5);
	}
	fake_queue_start(q);
	for (k = 0; k < 20; k++) {
		if (fake_chain_pushed(c[k]))
			total += fake_chain_used(c[k]);
	}
	ck_assert_uint_eq(total, 1000);
	ck_assert_uint_eq(fake_chain_used(c[15]), 40);
	ck_assert(!fake_chain_pushed(c[16]));
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}
END_TEST

START_TEST(test_pool_small_requests_distinct)
{
	struct vhd_dev		*dev = pool_dev(NULL, 0);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[200];
	static uint8_t		 out[200][64];
	unsigned		 i, k;

	/* 200 requests of 64 bytes: about three batches; no two alike. */
	for (k = 0; k < 200; k++) {
		c[k] = fake_chain_new(q);
		fake_chain_add_writable(c[k], 64, 0xa5);
	}
	fake_queue_start(q);
	for (k = 0; k < 200; k++) {
		ck_assert_uint_eq(fake_chain_used(c[k]), 64);
		ck_assert_uint_eq(fake_chain_written(c[k], out[k], 64), 64);
		for (i = 0; i < k; i++)
			ck_assert(memcmp(out[i], out[k], 64) != 0);
	}
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}
END_TEST

/* The rng_pool suite. */
static Suite *
rng_pool_suite(void)
{
	Suite	*s = suite_create("rng_pool");
	TCase	*tc;

	tc = tcase_create("pool");
	tcase_add_test(tc, test_pool_full_batches);
	tcase_add_test(tc, test_pool_short_batches);
	tcase_add_test(tc, test_pool_source_dry);
	suite_add_tcase(s, tc);

	tc = tcase_create("module");
	tcase_add_test(tc, test_pool_rate_limit_exact);
	tcase_add_test(tc, test_pool_small_requests_distinct);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; exit 0 when every test passed. */
int
main(void)
{
	SRunner	*sr = srunner_create(rng_pool_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
