/*
 * Unit tests for the rng module (modules/rng/rng.c, compiled in), run
 * against the fake daemon of fake_api.c.
 */

#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "fake_api.h"

/* The module's descriptor, linked in from rng.c. */
extern const struct vhd_module vhd_module;

#define PATTERN 0xa5

static char	 tmpdir[64];

/* Make a temporary directory for the test's files. */
static void
setup(void)
{
	strcpy(tmpdir, "/tmp/check_rng.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* Remove the temporary directory and what the test put there. */
static void
teardown(void)
{
	char	 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Write `len` bytes to tmpdir/name; return the path (static buffer). */
static const char *
write_file(const char *name, const void *data, size_t len)
{
	static char	 path[128];
	FILE		*f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return (path);
}

/* Create an rng device with these keys; the test fails if create does. */
static struct vhd_dev *
rng_dev(const struct vhd_kv *kv, size_t nkv)
{
	struct vhd_dev	*dev;
	char		*cause = NULL;

	dev = fake_dev_new(vhd_module.ops, "rng0");
	if (fake_dev_create(dev, kv, nkv, &cause) != 0)
		ck_abort_msg("create failed: %s", cause ? cause : "(null)");
	return (dev);
}

/* Create with these keys and expect failure; return the cause. */
static char *
rng_fail(const struct vhd_kv *kv, size_t nkv)
{
	struct vhd_dev	*dev;
	char		*cause = NULL;

	dev = fake_dev_new(vhd_module.ops, "rng0");
	ck_assert_int_eq(fake_dev_create(dev, kv, nkv, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
	return (cause);
}

/* Count the bytes of the chain's writable part still equal to PATTERN. */
static size_t
count_pattern(struct vhd_chain *c, size_t len)
{
	uint8_t	*buf = malloc(len);
	size_t	 i, n = 0;

	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fake_chain_written(c, buf, len), len);
	for (i = 0; i < len; i++)
		n += buf[i] == PATTERN;
	free(buf);
	return (n);
}

/* Check the fake saw no API misuse and free the device. */
static void
finish(struct vhd_dev *dev)
{
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}

START_TEST(test_descriptor)
{
	ck_assert_str_eq(vhd_module.name, "rng");
	ck_assert_uint_eq(vhd_module.size, sizeof(struct vhd_module));
	ck_assert_uint_eq(vhd_module.abi_major, VHD_ABI_MAJOR);
	ck_assert_ptr_nonnull(vhd_module.ops);
	ck_assert_ptr_nonnull(vhd_module.ops->create);
	ck_assert_ptr_nonnull(vhd_module.ops->queue_handler);
}
END_TEST

START_TEST(test_create_defaults)
{
	struct vhd_dev			*dev = rng_dev(NULL, 0);
	const struct vhd_dev_info	*info = fake_dev_info(dev);

	ck_assert_uint_eq(info->device_id, 4);
	ck_assert_uint_eq(info->num_queues, 1);
	ck_assert_uint_eq(info->max_queue_size, 1024);
	ck_assert_uint_eq(info->features, 0);
	ck_assert_uint_eq(info->config_size, 0);
	ck_assert(fake_dev_log_contains(dev, "getrandom"));
	finish(dev);
}
END_TEST

START_TEST(test_create_good_keys)
{
	const char	*path = write_file("data", "x", 1);
	struct vhd_kv	 kv[] = {
		FAKE_KV("max-bytes", "4096"),
		FAKE_KV("period", "1"),
		FAKE_KV("period", "65536"),
		FAKE_KV("filename", path),
		FAKE_KV("rng-source", path),
		FAKE_KV("source", "/nonexistent/overridden"),
		FAKE_KV("source", "getrandom"),
	};
	struct vhd_dev	*dev = rng_dev(kv, sizeof(kv) / sizeof(kv[0]));

	ck_assert(fake_dev_log_contains(dev, "source getrandom"));
	ck_assert(fake_dev_log_contains(dev, "4096 bytes per 65536 ms"));
	finish(dev);
}
END_TEST

START_TEST(test_create_default_period)
{
	struct vhd_kv	 kv[] = { FAKE_KV("max-bytes", "512") };
	struct vhd_dev	*dev = rng_dev(kv, 1);

	ck_assert(fake_dev_log_contains(dev, "512 bytes per 65536 ms"));
	finish(dev);
}
END_TEST

START_TEST(test_create_unknown_key)
{
	struct vhd_kv	 kv[] = {
		FAKE_KV("period", "10"),
		FAKE_KV("foo", "1"),
	};
	char		*cause = rng_fail(kv, 2);

	ck_assert_str_eq(cause, "rng: unknown key 'foo'");
	free(cause);
}
END_TEST

START_TEST(test_create_bad_period)
{
	static const char *bad[] = { "0", "65537", "-1", "10ms", "", "1e3",
	    "99999999999999999999999" };
	struct vhd_kv	 kv[] = { FAKE_KV("max-bytes", "10"),
	    FAKE_KV("period", NULL) };
	char		*cause;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kv[1].value = bad[i];
		cause = rng_fail(kv, 2);
		ck_assert_msg(strstr(cause, "rng: bad period") != NULL,
		    "period '%s': %s", bad[i], cause);
		free(cause);
	}
}
END_TEST

/* A daemon whose function table predates ABI 1.1 is refused by create
 * before the module calls anything past the table's end. */
START_TEST(test_create_old_abi)
{
	struct vhd_api		 api = *fake_api();
	struct vhd_dev_info	 info;
	struct vhd_dev		*dev = fake_dev_new(vhd_module.ops, "rng0");
	char			*cause = NULL;

	api.size = offsetof(struct vhd_api, parse_u64);
	memset(&info, 0, sizeof info);
	ck_assert_int_eq(vhd_module.ops->create(dev, &api, NULL, 0, &info,
	    &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, "needs vhostd module ABI 1.1"));
	free(cause);
	fake_dev_free(dev);
}
END_TEST

START_TEST(test_create_bad_max_bytes)
{
	static const char *bad[] = { "0", "-5", "+5", " 5", "5k", "",
	    "99999999999999999999999" };
	struct vhd_kv	 kv[] = { FAKE_KV("max-bytes", NULL) };
	char		*cause;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kv[0].value = bad[i];
		cause = rng_fail(kv, 1);
		ck_assert_msg(strstr(cause, "rng: bad max-bytes") != NULL,
		    "max-bytes '%s': %s", bad[i], cause);
		free(cause);
	}
}
END_TEST

START_TEST(test_create_bad_source)
{
	struct vhd_kv	 kv[] = { FAKE_KV("source", "/nonexistent/rng") };
	char		*cause, path[128];

	cause = rng_fail(kv, 1);
	ck_assert_str_eq(cause, "rng: cannot open source '/nonexistent/rng':"
	    " No such file or directory");
	free(cause);

	/* An empty file, a directory, an empty value. */
	kv[0].value = write_file("empty", "", 0);
	cause = rng_fail(kv, 1);
	ck_assert(strstr(cause, "is empty") != NULL);
	free(cause);

	snprintf(path, sizeof(path), "%s", tmpdir);
	kv[0].key = "filename";
	kv[0].value = path;
	cause = rng_fail(kv, 1);
	ck_assert(strstr(cause, "not a regular file") != NULL);
	free(cause);

	kv[0].key = "rng-source";
	kv[0].value = "";
	cause = rng_fail(kv, 1);
	ck_assert(strstr(cause, "rng: bad source") != NULL);
	free(cause);
}
END_TEST

START_TEST(test_fill_one_descriptor)
{
	struct vhd_dev		*dev = rng_dev(NULL, 0);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c = fake_chain_new(q);

	fake_chain_add_writable(c, 4096, PATTERN);
	fake_queue_start(q);
	ck_assert(fake_chain_pushed(c));
	ck_assert_uint_eq(fake_chain_used(c), 4096);
	/* 4096 random bytes: about 16 equal PATTERN by chance. */
	ck_assert_uint_lt(count_pattern(c, 4096), 100);
	ck_assert_uint_eq(fake_queue_notifies(q), 1);
	ck_assert_uint_eq(fake_queue_rewinds(q), 0);
	fake_queue_stop(q);
	ck_assert_uint_eq(fake_dev_watches(dev), 0);
	finish(dev);
}
END_TEST

START_TEST(test_fill_many_descriptors)
{
	struct vhd_dev		*dev = rng_dev(NULL, 0);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[2];
	size_t			 total[2] = { 0, 0 }, len, n;
	unsigned		 i, k;

	/* More descriptors than the module maps at once, split further. */
	fake_dev_set_iov_split(dev, 7);
	for (k = 0; k < 2; k++) {
		c[k] = fake_chain_new(q);
		for (i = 0; i < 150; i++) {
			len = 1 + (i * 37) % 200;
			fake_chain_add_writable(c[k], len, PATTERN);
			total[k] += len;
		}
	}
	fake_queue_start(q);
	for (k = 0; k < 2; k++) {
		ck_assert(fake_chain_pushed(c[k]));
		ck_assert_uint_eq(fake_chain_used(c[k]), total[k]);
		ck_assert_uint_lt(count_pattern(c[k], total[k]),
		    total[k] / 64);
		/* Every big-enough descriptor was written. */
		for (i = 0; i < 150; i++) {
			len = fake_chain_buf_len(c[k], i);
			if (len < 16)
				continue;
			n = 0;
			while (n < len &&
			    fake_chain_buf(c[k], i)[n] == PATTERN)
				n++;
			ck_assert_msg(n < len, "descriptor %u not filled", i);
		}
	}
	ck_assert_uint_eq(fake_queue_pushes(q), 2);
	ck_assert_uint_eq(fake_queue_notifies(q), 1);
	fake_queue_stop(q);
	finish(dev);
}
END_TEST

START_TEST(test_readable_chain_skipped)
{
	struct vhd_dev		*dev = rng_dev(NULL, 0);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*bad, *empty, *good;

	bad = fake_chain_new(q);
	fake_chain_add_readable(bad, "hello", 5);
	fake_chain_add_writable(bad, 64, PATTERN);
	empty = fake_chain_new(q);
	good = fake_chain_new(q);
	fake_chain_add_writable(good, 64, PATTERN);

	fake_queue_start(q);
	ck_assert(fake_chain_pushed(bad));
	ck_assert_uint_eq(fake_chain_used(bad), 0);
	ck_assert_uint_eq(count_pattern(bad, 64), 64);
	ck_assert(fake_chain_pushed(empty));
	ck_assert_uint_eq(fake_chain_used(empty), 0);
	ck_assert(fake_chain_pushed(good));
	ck_assert_uint_eq(fake_chain_used(good), 64);
	ck_assert(fake_dev_log_contains(dev, "WARN: queue 0: chain with 5 "
	    "device-readable bytes"));
	ck_assert(!fake_dev_failed(dev));
	ck_assert_uint_eq(fake_queue_notifies(q), 1);
	fake_queue_stop(q);
	finish(dev);
}
END_TEST

START_TEST(test_warning_rate_limited)
{
	struct vhd_dev		*dev = rng_dev(NULL, 0);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c;
	const char		*log, *p;
	unsigned		 i, n = 0;

	for (i = 0; i < 50; i++) {
		c = fake_chain_new(q);
		fake_chain_add_readable(c, "x", 1);
	}
	fake_queue_start(q);
	ck_assert_uint_eq(fake_queue_pushes(q), 50);
	log = fake_dev_log(dev);
	for (p = log; (p = strstr(p, "WARN:")) != NULL; p++)
		n++;
	ck_assert_uint_eq(n, 1);
	fake_queue_stop(q);
	finish(dev);
}
END_TEST

START_TEST(test_bad_chain_skipped)
{
	struct vhd_dev		*dev = rng_dev(NULL, 0);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*bad, *good;

	bad = fake_chain_new(q);
	fake_chain_add_writable(bad, 32, PATTERN);
	fake_chain_set_bad(bad);
	good = fake_chain_new(q);
	fake_chain_add_writable(good, 32, PATTERN);
	fake_queue_start(q);
	ck_assert_uint_eq(fake_chain_used(bad), 0);
	ck_assert(fake_chain_pushed(bad));
	ck_assert_uint_eq(fake_chain_used(good), 32);
	ck_assert(!fake_dev_failed(dev));
	fake_queue_stop(q);
	finish(dev);
}
END_TEST

START_TEST(test_file_source_wraps)
{
	uint8_t			 data[300], out[128];
	struct vhd_kv		 kv[] = { FAKE_KV("source", NULL) };
	struct vhd_dev		*dev;
	struct vhd_queue	*q;
	struct vhd_chain	*c[4];
	size_t			 i, k, pos = 0;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	kv[0].value = write_file("data", data, sizeof(data));
	dev = rng_dev(kv, 1);
	q = fake_queue(dev, 0);
	for (k = 0; k < 4; k++) {
		c[k] = fake_chain_new(q);
		/* 128 bytes in three descriptors. */
		fake_chain_add_writable(c[k], 50, PATTERN);
		fake_chain_add_writable(c[k], 1, PATTERN);
		fake_chain_add_writable(c[k], 77, PATTERN);
	}
	fake_queue_start(q);
	for (k = 0; k < 4; k++) {
		ck_assert_uint_eq(fake_chain_used(c[k]), 128);
		fake_chain_written(c[k], out, sizeof(out));
		for (i = 0; i < sizeof(out); i++, pos++)
			ck_assert_msg(out[i] == data[pos % sizeof(data)],
			    "byte %zu: %u != %u", pos, out[i],
			    data[pos % sizeof(data)]);
	}
	fake_queue_stop(q);
	finish(dev);
}
END_TEST

START_TEST(test_rate_limit)
{
	struct vhd_kv		 kv[] = {
		FAKE_KV("max-bytes", "100"),
		FAKE_KV("period", "1000"),
	};
	struct vhd_dev		*dev = rng_dev(kv, 2);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_watch	*t;
	struct vhd_chain	*c[3];
	unsigned		 k;

	for (k = 0; k < 3; k++) {
		c[k] = fake_chain_new(q);
		fake_chain_add_writable(c[k], 100, PATTERN);
	}
	fake_queue_start(q);
	t = fake_dev_watch(dev, -1);
	ck_assert_ptr_nonnull(t);

	/* First period: 100 bytes, the rest waits in the ring. */
	ck_assert_uint_eq(fake_chain_used(c[0]), 100);
	ck_assert(!fake_chain_pushed(c[1]));
	ck_assert(!fake_chain_pushed(c[2]));
	ck_assert_uint_eq(fake_queue_avail(q), 2);
	ck_assert_uint_ge(fake_queue_rewinds(q), 1);
	ck_assert(fake_watch_armed(t));
	ck_assert_int_ge(fake_watch_msec(t), 900);
	ck_assert_int_le(fake_watch_msec(t), 1000);
	ck_assert_uint_eq(fake_queue_notifies(q), 1);

	/* A kick in the same period serves nothing and keeps the timer. */
	fake_queue_kick(q);
	ck_assert(!fake_chain_pushed(c[1]));
	ck_assert(fake_watch_armed(t));
	ck_assert_uint_eq(fake_queue_avail(q), 2);

	/* The period ends: the next 100 bytes. */
	fake_watch_fire(t, VHD_EV_TIMEOUT);
	ck_assert_uint_eq(fake_chain_used(c[1]), 100);
	ck_assert_uint_lt(count_pattern(c[1], 100), 10);
	ck_assert(!fake_chain_pushed(c[2]));
	ck_assert(fake_watch_armed(t));
	ck_assert_int_ge(fake_watch_msec(t), 900);
	ck_assert_int_le(fake_watch_msec(t), 1000);

	fake_watch_fire(t, VHD_EV_TIMEOUT);
	ck_assert_uint_eq(fake_chain_used(c[2]), 100);
	ck_assert_uint_eq(fake_queue_avail(q), 0);
	ck_assert(!fake_watch_armed(t));
	ck_assert_uint_eq(fake_queue_notifies(q), 3);
	ck_assert(!fake_dev_failed(dev));

	/* Stopping frees the timer. */
	fake_queue_stop(q);
	ck_assert_uint_eq(fake_dev_watches(dev), 0);
	finish(dev);
}
END_TEST

START_TEST(test_rate_limit_short_fill)
{
	struct vhd_kv		 kv[] = {
		FAKE_KV("max-bytes", "100"),
		FAKE_KV("period", "1000"),
	};
	struct vhd_dev		*dev = rng_dev(kv, 2);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[3];
	unsigned		 k;

	for (k = 0; k < 3; k++) {
		c[k] = fake_chain_new(q);
		fake_chain_add_writable(c[k], 30, PATTERN);
		fake_chain_add_writable(c[k], 30, PATTERN);
	}
	fake_queue_start(q);
	ck_assert_uint_eq(fake_chain_used(c[0]), 60);
	ck_assert_uint_eq(fake_chain_used(c[1]), 40);
	ck_assert(!fake_chain_pushed(c[2]));
	/* The short fill wrote the first 40 bytes only. */
	ck_assert_uint_eq(count_pattern(c[1], 60) >= 20, 1);
	fake_watch_fire(fake_dev_watch(dev, -1), VHD_EV_TIMEOUT);
	ck_assert_uint_eq(fake_chain_used(c[2]), 60);
	fake_queue_stop(q);
	finish(dev);
}
END_TEST

START_TEST(test_rate_limit_period_expires)
{
	struct vhd_kv		 kv[] = {
		FAKE_KV("max-bytes", "10"),
		FAKE_KV("period", "1"),
	};
	struct vhd_dev		*dev = rng_dev(kv, 2);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[2];

	c[0] = fake_chain_new(q);
	fake_chain_add_writable(c[0], 10, PATTERN);
	c[1] = fake_chain_new(q);
	fake_chain_add_writable(c[1], 10, PATTERN);
	fake_queue_start(q);
	ck_assert_uint_eq(fake_chain_used(c[0]), 10);
	/* Either still in the period (waits) or already past it. */
	if (!fake_chain_pushed(c[1])) {
		ck_assert_int_le(fake_watch_msec(fake_dev_watch(dev, -1)), 1);
		usleep(5000);
		/* A kick after the period ended is served without the timer. */
		fake_queue_kick(q);
	}
	ck_assert_uint_eq(fake_chain_used(c[1]), 10);
	fake_queue_stop(q);
	finish(dev);
}
END_TEST

START_TEST(test_stop_restart_reset)
{
	struct vhd_kv		 kv[] = {
		FAKE_KV("max-bytes", "16"),
		FAKE_KV("period", "60000"),
	};
	struct vhd_dev		*dev = rng_dev(kv, 2);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[3];
	unsigned		 k;

	for (k = 0; k < 3; k++) {
		c[k] = fake_chain_new(q);
		fake_chain_add_writable(c[k], 16, PATTERN);
	}
	fake_queue_start(q);
	ck_assert_uint_eq(fake_chain_used(c[0]), 16);
	ck_assert(fake_watch_armed(fake_dev_watch(dev, -1)));
	/* Stop: timer freed, waiting chains still in the ring. */
	fake_queue_stop(q);
	ck_assert_uint_eq(fake_dev_watches(dev), 0);
	ck_assert_uint_eq(fake_queue_avail(q), 2);

	/* Restart in the same period: the budget is still spent. */
	fake_queue_start(q);
	ck_assert(!fake_chain_pushed(c[1]));
	ck_assert(fake_watch_armed(fake_dev_watch(dev, -1)));
	fake_queue_stop(q);

	/* Reset forgets the period: served at once. */
	fake_dev_reset(dev);
	fake_queue_start(q);
	ck_assert_uint_eq(fake_chain_used(c[1]), 16);
	ck_assert(!fake_chain_pushed(c[2]));
	fake_queue_stop(q);
	ck_assert_uint_eq(fake_dev_watches(dev), 0);
	finish(dev);
}
END_TEST

START_TEST(test_fifo_source_waits)
{
	char			 path[128];
	struct vhd_kv		 kv[] = { FAKE_KV("source", path) };
	struct vhd_dev		*dev;
	struct vhd_queue	*q;
	struct vhd_chain	*c;
	struct vhd_watch	*w;
	uint8_t			 out[16];
	int			 wfd;

	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	dev = rng_dev(kv, 1);
	wfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	ck_assert_int_ge(wfd, 0);
	q = fake_queue(dev, 0);
	c = fake_chain_new(q);
	fake_chain_add_writable(c, 16, PATTERN);

	/* Nothing to read: rewound, the fd watched, the worker not blocked. */
	fake_queue_start(q);
	ck_assert(!fake_chain_pushed(c));
	ck_assert_uint_eq(fake_queue_avail(q), 1);
	ck_assert_uint_eq(fake_dev_watches(dev), 2);
	w = fake_dev_watch(dev, FAKE_ANY_FD);
	ck_assert_ptr_nonnull(w);
	ck_assert(fake_watch_armed(w));
	ck_assert(fake_watch_events(w) & VHD_EV_READ);

	/* Data arrives: the watch fires and the chain gets it. */
	ck_assert_int_eq(write(wfd, "0123456789abcdef", 16), 16);
	fake_watch_fire(w, VHD_EV_READ);
	ck_assert_uint_eq(fake_chain_used(c), 16);
	fake_chain_written(c, out, 16);
	ck_assert_int_eq(memcmp(out, "0123456789abcdef", 16), 0);

	/* The writer goes away: the source failed, the device is broken,
	 * the chain stays in the ring. */
	close(wfd);
	c = fake_chain_new(q);
	fake_chain_add_writable(c, 16, PATTERN);
	fake_queue_kick(q);
	ck_assert(!fake_chain_pushed(c));
	ck_assert(fake_dev_failed(dev));
	ck_assert_uint_eq(fake_queue_avail(q), 1);
	fake_queue_stop(q);
	ck_assert_uint_eq(fake_dev_watches(dev), 0);
	finish(dev);
}
END_TEST

START_TEST(test_unpollable_source_polled)
{
	char			 path[128];
	struct vhd_kv		 kv[] = {
		FAKE_KV("source", path),
		FAKE_KV("max-bytes", "1000"),
	};
	struct vhd_dev		*dev;
	struct vhd_queue	*q;
	struct vhd_chain	*c;
	struct vhd_watch	*t;
	int			 wfd;

	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	dev = rng_dev(kv, 2);
	wfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	ck_assert_int_ge(wfd, 0);
	q = fake_queue(dev, 0);
	c = fake_chain_new(q);
	fake_chain_add_writable(c, 4, PATTERN);

	/* epoll refuses the fd (like /dev/hwrng): a short retry timer. */
	fake_dev_fail_watch_add(dev, 1);
	fake_queue_start(q);
	ck_assert(!fake_chain_pushed(c));
	ck_assert(fake_dev_log_contains(dev, "cannot be watched"));
	t = fake_dev_watch(dev, -1);
	ck_assert(fake_watch_armed(t));
	ck_assert_int_le(fake_watch_msec(t), 100);
	ck_assert(!fake_watch_armed(fake_dev_watch(dev, FAKE_ANY_FD)));

	/* Still nothing: polled again. */
	fake_watch_fire(t, VHD_EV_TIMEOUT);
	ck_assert(!fake_chain_pushed(c));
	ck_assert(fake_watch_armed(t));

	ck_assert_int_eq(write(wfd, "wxyz", 4), 4);
	fake_watch_fire(t, VHD_EV_TIMEOUT);
	ck_assert_uint_eq(fake_chain_used(c), 4);
	ck_assert(!fake_watch_armed(t));
	ck_assert(!fake_dev_failed(dev));
	fake_queue_stop(q);
	close(wfd);
	finish(dev);
}
END_TEST

START_TEST(test_no_timer_fails_device)
{
	struct vhd_kv		 kv[] = { FAKE_KV("max-bytes", "8") };
	struct vhd_dev		*dev = rng_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[2];

	c[0] = fake_chain_new(q);
	fake_chain_add_writable(c[0], 8, PATTERN);
	c[1] = fake_chain_new(q);
	fake_chain_add_writable(c[1], 8, PATTERN);
	fake_dev_fail_watch_new(dev, 1);
	fake_queue_start(q);
	ck_assert_uint_eq(fake_chain_used(c[0]), 8);
	/* Cannot wait for the next period: fail loudly, lose nothing. */
	ck_assert(!fake_chain_pushed(c[1]));
	ck_assert_uint_eq(fake_queue_avail(q), 1);
	ck_assert(fake_dev_failed(dev));
	fake_queue_stop(q);
	finish(dev);
}
END_TEST

/* The rng suite. */
static Suite *
rng_suite(void)
{
	Suite	*s = suite_create("rng");
	TCase	*tc;

	tc = tcase_create("create");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_descriptor);
	tcase_add_test(tc, test_create_defaults);
	tcase_add_test(tc, test_create_good_keys);
	tcase_add_test(tc, test_create_default_period);
	tcase_add_test(tc, test_create_unknown_key);
	tcase_add_test(tc, test_create_bad_period);
	tcase_add_test(tc, test_create_bad_max_bytes);
	tcase_add_test(tc, test_create_old_abi);
	tcase_add_test(tc, test_create_bad_source);
	suite_add_tcase(s, tc);

	tc = tcase_create("fill");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fill_one_descriptor);
	tcase_add_test(tc, test_fill_many_descriptors);
	tcase_add_test(tc, test_readable_chain_skipped);
	tcase_add_test(tc, test_warning_rate_limited);
	tcase_add_test(tc, test_bad_chain_skipped);
	tcase_add_test(tc, test_file_source_wraps);
	tcase_add_test(tc, test_fifo_source_waits);
	tcase_add_test(tc, test_unpollable_source_polled);
	suite_add_tcase(s, tc);

	tc = tcase_create("rate_limit");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_rate_limit);
	tcase_add_test(tc, test_rate_limit_short_fill);
	tcase_add_test(tc, test_rate_limit_period_expires);
	tcase_add_test(tc, test_stop_restart_reset);
	tcase_add_test(tc, test_no_timer_fails_device);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the rng suite; exit 0 when every test passed. */
int
main(void)
{
	SRunner	*sr = srunner_create(rng_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
