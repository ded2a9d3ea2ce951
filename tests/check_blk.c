/*
 * Unit tests for the blk module (modules/blk/blk*.c, compiled in), run
 * against the fake daemon of fake_api.c with real images in temp dirs
 * and the real io_uring: every request type, descriptor layouts, every
 * error answer, read-only devices, discard and write zeroes read back as
 * zeroes, O_DIRECT with unaligned buffers (bounce) and refused (ramfs),
 * two queues on two workers, a queue stopped with I/O in flight.
 */

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "fake_api.h"
#include "../modules/blk/blk.h"

/* The module's descriptor, linked in from blk.c. */
extern const struct vhd_module vhd_module;

#define IMG_SECTORS	2048		/* 1 MiB images */
#define ALL_FEATURES	(~0ULL)

static char	 tmpdir[64];

/* Make a temporary directory for the test's images. */
static void
setup(void)
{
	strcpy(tmpdir, "/tmp/check_blk.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* Remove the temporary directory (and a ramfs mounted on it). */
static void
teardown(void)
{
	char	 cmd[160];

	(void)umount2(tmpdir, MNT_DETACH);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Byte i of the test pattern for sector s. */
static uint8_t
pat(uint64_t s, size_t i, uint8_t seed)
{
	return ((uint8_t)(s * 31 + i * 7 + seed));
}

/* Make an image `dir/name` of `sectors` sectors, each filled with the
 * pattern of seed 0; return its path (static buffer). */
static const char *
make_image_in(const char *dir, const char *name, uint64_t sectors)
{
	static char	 path[160];
	uint8_t		 buf[BLK_SECTOR];
	uint64_t	 s;
	size_t		 i;
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	for (s = 0; s < sectors; s++) {
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = pat(s, i, 0);
		ck_assert_int_eq(pwrite(fd, buf, sizeof(buf),
		    (off_t)(s * BLK_SECTOR)), (ssize_t)sizeof(buf));
	}
	ck_assert_int_eq(close(fd), 0);
	return (path);
}

static const char *
make_image(const char *name, uint64_t sectors)
{
	return (make_image_in(tmpdir, name, sectors));
}

/* Create a blk device with these keys; the test fails if create does. */
static struct vhd_dev *
blk_dev(const struct vhd_kv *kv, size_t nkv)
{
	struct vhd_dev	*dev;
	char		*cause = NULL;

	dev = fake_dev_new(vhd_module.ops, "blk0");
	if (fake_dev_create(dev, kv, nkv, &cause) != 0)
		ck_abort_msg("create failed: %s", cause ? cause : "(null)");
	ck_assert_str_eq(fake_dev_errors(dev), "");
	return (dev);
}

/* Create with these keys and expect failure; return the cause. */
static char *
blk_fail(const struct vhd_kv *kv, size_t nkv)
{
	struct vhd_dev	*dev;
	char		*cause = NULL;

	dev = fake_dev_new(vhd_module.ops, "blk0");
	ck_assert_int_eq(fake_dev_create(dev, kv, nkv, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
	return (cause);
}

/* The module's state for queue i. */
static struct blk_queue *
bq_of(struct vhd_dev *dev, unsigned i)
{
	struct blk	*b = fake_dev_priv(dev);

	return (&b->queues[i]);
}

/* A 16-byte request header. */
static void
hdr(uint8_t *h, uint32_t type, uint64_t sector)
{
	memset(h, 0, BLK_HDR_SIZE);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
}

/* Fire queue i's completion watch until `n` chains were pushed, waiting
 * for the ring's eventfd (10 s at most). */
static void
wait_pushes(struct vhd_dev *dev, unsigned i, unsigned n)
{
	struct vhd_queue	*q = fake_queue(dev, i);
	struct vhd_watch	*w;
	struct pollfd		 pfd;
	int			 spins = 0;

	while (fake_queue_pushes(q) < n) {
		w = fake_dev_watch(dev, bq_of(dev, i)->efd);
		ck_assert_ptr_nonnull(w);
		ck_assert(fake_watch_armed(w));
		pfd.fd = bq_of(dev, i)->efd;
		pfd.events = POLLIN;
		ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
		fake_watch_fire(w, VHD_EV_READ);
		ck_assert_int_lt(++spins, 100000);
	}
}

/*
 * Descriptor layouts.  hdr_split: the header in two buffers split there
 * (0: one buffer); with_hdr: the data starts in the header's buffer (OUT)
 * or the status byte shares the last data buffer (IN); pieces: the data
 * over this many buffers.
 */
struct lay {
	size_t		 hdr_split;
	int		 shared;
	unsigned	 pieces;
};

static const struct lay lay_plain = { 0, 0, 1 };

/* Post an OUT of `len` pattern bytes (seed) at `sector`. */
static struct vhd_chain *
post_out(struct vhd_queue *q, uint64_t sector, size_t len, uint8_t seed,
    const struct lay *l)
{
	struct vhd_chain	*c = fake_chain_new(q);
	uint8_t			*buf;
	size_t			 i, off, n, first;
	unsigned		 p;

	buf = malloc(BLK_HDR_SIZE + len);
	ck_assert_ptr_nonnull(buf);
	hdr(buf, BLK_T_OUT, sector);
	for (i = 0; i < len; i++)
		buf[BLK_HDR_SIZE + i] = pat(sector + i / BLK_SECTOR,
		    i % BLK_SECTOR, seed);
	if (l->hdr_split != 0) {
		fake_chain_add_readable(c, buf, l->hdr_split);
		off = l->hdr_split;
	} else
		off = 0;
	if (!l->shared) {
		fake_chain_add_readable(c, buf + off, BLK_HDR_SIZE - off);
		off = BLK_HDR_SIZE;
	}
	/* The data, in `pieces` buffers (the first may hold the header). */
	first = 1;
	for (p = 0; p < l->pieces; p++) {
		n = (BLK_HDR_SIZE + len - off) / (l->pieces - p);
		if (p == l->pieces - 1)
			n = BLK_HDR_SIZE + len - off;
		if (n == 0 && !first)
			continue;
		fake_chain_add_readable(c, buf + off, n);
		off += n;
		first = 0;
	}
	fake_chain_add_writable(c, 1, 0xee);
	free(buf);
	return (c);
}

/* Post an IN of `len` bytes at `sector`. */
static struct vhd_chain *
post_in(struct vhd_queue *q, uint64_t sector, size_t len, const struct lay *l)
{
	struct vhd_chain	*c = fake_chain_new(q);
	uint8_t			 h[BLK_HDR_SIZE];
	size_t			 total = len + (l->shared ? 1 : 0), n, done = 0;
	unsigned		 p;

	hdr(h, BLK_T_IN, sector);
	if (l->hdr_split != 0) {
		fake_chain_add_readable(c, h, l->hdr_split);
		fake_chain_add_readable(c, h + l->hdr_split,
		    BLK_HDR_SIZE - l->hdr_split);
	} else
		fake_chain_add_readable(c, h, BLK_HDR_SIZE);
	for (p = 0; p < l->pieces; p++) {
		n = (total - done) / (l->pieces - p);
		if (p == l->pieces - 1)
			n = total - done;
		if (n != 0)
			fake_chain_add_writable(c, n, 0xcc);
		done += n;
	}
	if (!l->shared)
		fake_chain_add_writable(c, 1, 0xee);
	return (c);
}

/* Post a request with a header, `rlen` more readable bytes and `wlen`
 * writable bytes (the last one the status). */
static struct vhd_chain *
post_raw(struct vhd_queue *q, uint32_t type, uint64_t sector,
    const void *extra, size_t rlen, size_t wlen)
{
	struct vhd_chain	*c = fake_chain_new(q);
	uint8_t			 h[BLK_HDR_SIZE];

	hdr(h, type, sector);
	fake_chain_add_readable(c, h, BLK_HDR_SIZE);
	if (rlen != 0)
		fake_chain_add_readable(c, extra, rlen);
	if (wlen != 0)
		fake_chain_add_writable(c, wlen, 0xee);
	return (c);
}

/* Post a DISCARD or WRITE_ZEROES with one range. */
static struct vhd_chain *
post_dwz(struct vhd_queue *q, uint32_t type, uint64_t sector, uint32_t num,
    uint32_t flags)
{
	uint8_t	 r[BLK_DWZ_SIZE];

	memcpy(r, &sector, 8);
	memcpy(r + 8, &num, 4);
	memcpy(r + 12, &flags, 4);
	return (post_raw(q, type, 0, r, sizeof(r), 1));
}

/* The status byte of a pushed chain (the last writable byte). */
static uint8_t
status_of(struct vhd_chain *c)
{
	uint8_t		 buf[1 << 20];
	size_t		 n;

	ck_assert(fake_chain_pushed(c));
	n = fake_chain_written(c, buf, sizeof(buf));
	ck_assert_uint_gt(n, 0);
	return (buf[n - 1]);
}

/* Check the image holds the pattern of `seed` (0: the original) in
 * [sector, sector + n), or zeroes when seed is -1. */
static void
check_image(const char *path, uint64_t sector, uint64_t n, int seed)
{
	uint8_t		 buf[BLK_SECTOR];
	uint64_t	 s;
	size_t		 i;
	int		 fd;

	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	for (s = sector; s < sector + n; s++) {
		ck_assert_int_eq(pread(fd, buf, sizeof(buf),
		    (off_t)(s * BLK_SECTOR)), (ssize_t)sizeof(buf));
		for (i = 0; i < sizeof(buf); i++) {
			if (seed < 0 && buf[i] != 0)
				ck_abort_msg("sector %llu byte %zu: %u, not 0",
				    (unsigned long long)s, i, buf[i]);
			if (seed >= 0 && buf[i] != pat(s, i, (uint8_t)seed))
				ck_abort_msg("sector %llu byte %zu: %u, not "
				    "%u", (unsigned long long)s, i, buf[i],
				    pat(s, i, (uint8_t)seed));
		}
	}
	close(fd);
}

/* Check the data an IN read into the chain: the pattern of `seed` for
 * `len` bytes from `sector`, then the status byte OK. */
static void
check_read(struct vhd_chain *c, uint64_t sector, size_t len, int seed)
{
	uint8_t		*buf;
	size_t		 i;

	buf = malloc(len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fake_chain_written(c, buf, len + 1), len + 1);
	ck_assert_uint_eq(fake_chain_used(c), len + 1);
	ck_assert_uint_eq(buf[len], BLK_S_OK);
	for (i = 0; i < len; i++) {
		if (buf[i] != (seed < 0 ? 0 : pat(sector + i / BLK_SECTOR,
		    i % BLK_SECTOR, (uint8_t)seed)))
			ck_abort_msg("read byte %zu: %u", i, buf[i]);
	}
	free(buf);
}

/* Read a little-endian field of the config space. */
static uint64_t
cfg(struct vhd_dev *dev, uint32_t off, uint32_t len)
{
	uint8_t		 b[8];
	uint64_t	 v = 0;
	uint32_t	 i;

	ck_assert_int_eq(fake_dev_get_config(dev, off, b, len), 0);
	for (i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return (v);
}

/* ------------------------------------------------------------------ */

START_TEST(test_descriptor)
{
	ck_assert_str_eq(vhd_module.name, "blk");
	ck_assert_uint_eq(vhd_module.abi_major, VHD_ABI_MAJOR);
	ck_assert_ptr_nonnull(vhd_module.ops->create);
}
END_TEST

/* Defaults: one queue on one worker, every feature bit that works, the
 * config space of the image. */
START_TEST(test_create_defaults)
{
	const char		*path = make_image("img", IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = blk_dev(kv, 1);
	const struct vhd_dev_info *info = fake_dev_info(dev);
	uint64_t		 want;

	ck_assert_uint_eq(info->device_id, 2);
	ck_assert_uint_eq(info->num_queues, 1);
	ck_assert_uint_eq(info->num_workers, 1);
	ck_assert_uint_eq(info->queue_masks[0], 1);
	ck_assert_uint_eq(info->max_queue_size, 1024);
	ck_assert_uint_eq(info->config_size, BLK_CONFIG_SIZE);
	want = (1ULL << BLK_F_SIZE_MAX) | (1ULL << BLK_F_SEG_MAX) |
	    (1ULL << BLK_F_BLK_SIZE) | (1ULL << BLK_F_FLUSH) |
	    (1ULL << BLK_F_TOPOLOGY) | (1ULL << BLK_F_MQ) |
	    (1ULL << BLK_F_DISCARD) | (1ULL << BLK_F_WRITE_ZEROES);
	ck_assert_uint_eq(info->features, want);
	ck_assert_uint_eq(cfg(dev, 0, 8), IMG_SECTORS);
	ck_assert_uint_eq(cfg(dev, 8, 4), BLK_SIZE_MAX);
	ck_assert_uint_eq(cfg(dev, 12, 4), BLK_SEG_MAX);
	ck_assert_uint_eq(cfg(dev, 20, 4) % 512, 0);
	ck_assert_uint_eq(cfg(dev, 34, 2), 1);
	ck_assert_uint_eq(cfg(dev, 36, 4), BLK_DWZ_SECTORS_MAX);
	ck_assert_uint_eq(cfg(dev, 40, 4), BLK_DWZ_SEG_MAX);
	ck_assert_uint_eq(cfg(dev, 48, 4), BLK_DWZ_SECTORS_MAX);
	ck_assert_uint_eq(cfg(dev, 52, 4), BLK_DWZ_SEG_MAX);
	ck_assert_uint_eq(cfg(dev, 56, 1), 1);
	/* Topology: 4 KiB file system blocks over 512-byte sectors. */
	ck_assert_uint_eq(1u << cfg(dev, 24, 1),
	    ((struct blk *)fake_dev_priv(dev))->physical / cfg(dev, 20, 4));
	ck_assert(fake_dev_log_contains(dev, "O_DIRECT"));
	/* Config space is read-only: the same bytes are accepted. */
	ck_assert_int_eq(fake_dev_set_config(dev, 32, "\0", 1), 0);
	ck_assert_int_eq(fake_dev_set_config(dev, 0, "\1", 1), -1);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}
END_TEST

/* num-queues 2: two workers, one queue each; queue-size and seg_max. */
START_TEST(test_create_two_queues)
{
	const char		*path = make_image("img", IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path),
				    FAKE_KV("num-queues", "2"),
				    FAKE_KV("queue-size", "64"),
				    FAKE_KV("serial", "abc") };
	struct vhd_dev		*dev = blk_dev(kv, 4);
	const struct vhd_dev_info *info = fake_dev_info(dev);

	ck_assert_uint_eq(info->num_queues, 2);
	ck_assert_uint_eq(info->num_workers, 2);
	ck_assert_uint_eq(info->queue_masks[0], 1);
	ck_assert_uint_eq(info->queue_masks[1], 2);
	ck_assert_uint_eq(info->max_queue_size, 64);
	ck_assert_uint_eq(cfg(dev, 12, 4), 62);
	ck_assert_uint_eq(cfg(dev, 34, 2), 2);
	fake_dev_free(dev);
}
END_TEST

/* Every bad key is refused with its name in the message. */
START_TEST(test_create_bad_keys)
{
	const char	*path = make_image("img", IMG_SECTORS);
	const char	*small;
	char		*cause;
	struct {
		struct vhd_kv	 kv[2];
		size_t		 n;
		const char	*want;
	} t[] = {
		{ { FAKE_KV("path", path), FAKE_KV("colour", "red") }, 2,
		    "unknown key 'colour'" },
		{ { FAKE_KV("readonly", "on") }, 1, "no path" },
		{ { FAKE_KV("path", "") }, 1, "empty path" },
		{ { FAKE_KV("path", "/nonexistent/x") }, 1, "cannot open" },
		{ { FAKE_KV("path", "/dev/null") }, 1, "not a regular file" },
		{ { FAKE_KV("path", path), FAKE_KV("readonly", "maybe") }, 2,
		    "bad readonly 'maybe'" },
		{ { FAKE_KV("path", path), FAKE_KV("direct", "2") }, 2,
		    "bad direct" },
		{ { FAKE_KV("path", path), FAKE_KV("num-queues", "0") }, 2,
		    "bad num-queues" },
		{ { FAKE_KV("path", path), FAKE_KV("num-queues", "65") }, 2,
		    "bad num-queues" },
		{ { FAKE_KV("path", path), FAKE_KV("queue-size", "100") }, 2,
		    "bad queue-size" },
		{ { FAKE_KV("path", path), FAKE_KV("queue-size", "2") }, 2,
		    "bad queue-size" },
		{ { FAKE_KV("path", path),
		    FAKE_KV("serial", "123456789012345678901") }, 2,
		    "longer than 20" },
		{ { FAKE_KV("path", path), FAKE_KV("discard", "yes") }, 1,
		    NULL },
	};
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].want == NULL)
			continue;
		cause = blk_fail(t[i].kv, t[i].n);
		if (strstr(cause, t[i].want) == NULL)
			ck_abort_msg("case %zu: '%s' lacks '%s'", i, cause,
			    t[i].want);
		free(cause);
	}
	{
		struct vhd_kv	 kv[] = { FAKE_KV("path", path),
				    FAKE_KV("readonly", "on"),
				    FAKE_KV("discard", "on") };

		cause = blk_fail(kv, 3);
		ck_assert_ptr_nonnull(strstr(cause, "need a writable"));
		free(cause);
	}
	{
		struct vhd_kv	 kv[] = { FAKE_KV("path", NULL) };

		small = make_image("small", 0);
		kv[0].value = small;
		cause = blk_fail(kv, 1);
		ck_assert_ptr_nonnull(strstr(cause, "smaller than one block"));
		free(cause);
	}
}
END_TEST

/* readonly: F_RO offered, no discard/zeroes, the file opened read-only
 * (a file without write permission works). */
START_TEST(test_create_readonly)
{
	const char		*path = make_image("img", IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path),
				    FAKE_KV("readonly", "yes") };
	struct vhd_dev		*dev;
	const struct vhd_dev_info *info;

	ck_assert_int_eq(chmod(path, 0400), 0);
	dev = blk_dev(kv, 2);
	info = fake_dev_info(dev);
	ck_assert(info->features & (1ULL << BLK_F_RO));
	ck_assert(!(info->features & (1ULL << BLK_F_DISCARD)));
	ck_assert(!(info->features & (1ULL << BLK_F_WRITE_ZEROES)));
	ck_assert_uint_eq(cfg(dev, 36, 4), 0);
	ck_assert_uint_eq(cfg(dev, 48, 4), 0);
	fake_dev_free(dev);
}
END_TEST

/* Write then read back, one sector and 64 KiB, through O_DIRECT (the
 * fake's malloc'd buffers are not 512-aligned: bounced). */
START_TEST(test_write_read)
{
	const char		*path = make_image("img", IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = blk_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*w1, *w2, *r1, *r2, *r3;

	fake_dev_ack_features(dev, ALL_FEATURES);
	fake_queue_start(q);
	w1 = post_out(q, 10, 512, 1, &lay_plain);
	w2 = post_out(q, 100, 65536, 2, &lay_plain);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 2);
	ck_assert_uint_eq(status_of(w1), BLK_S_OK);
	ck_assert_uint_eq(fake_chain_used(w1), 1);
	ck_assert_uint_eq(status_of(w2), BLK_S_OK);
	check_image(path, 10, 1, 1);
	check_image(path, 9, 1, 0);
	check_image(path, 11, 89, 0);
	check_image(path, 100, 128, 2);
	check_image(path, 228, 1, 0);

	r1 = post_in(q, 10, 512, &lay_plain);
	r2 = post_in(q, 100, 65536, &lay_plain);
	r3 = post_in(q, 0, 4096, &lay_plain);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 5);
	check_read(r1, 10, 512, 1);
	check_read(r2, 100, 65536, 2);
	check_read(r3, 0, 4096, 0);
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}
END_TEST

/*
 * Layouts: the header split over two buffers, the data sharing the
 * header's buffer, the data over several buffers, the status byte in its
 * own buffer or sharing the last data buffer; and chain_iov splitting
 * buffers into pieces (guest memory regions) of 100 bytes, so O_DIRECT
 * cannot take them: bounced.
 */
START_TEST(test_layouts)
{
	static const struct lay lays[] = {
		{ 0, 0, 1 }, { 4, 0, 1 }, { 0, 1, 1 }, { 7, 1, 3 },
		{ 0, 0, 5 }, { 15, 0, 2 }, { 1, 1, 8 }, { 8, 0, 4 },
	};
	const char		*path = make_image("img", IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = blk_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*w[16], *r[16];
	unsigned		 i, n = sizeof(lays) / sizeof(lays[0]);
	unsigned		 split, pushed = 0;

	fake_dev_ack_features(dev, ALL_FEATURES);
	fake_queue_start(q);
	for (split = 0; split < 2; split++) {
		fake_dev_set_iov_split(dev, split ? 100 : 0);
		for (i = 0; i < n; i++)
			w[i] = post_out(q, 64 * i + 8 * split, 4096,
			    (uint8_t)(i + 10), &lays[i]);
		fake_queue_kick(q);
		pushed += n;
		wait_pushes(dev, 0, pushed);
		for (i = 0; i < n; i++) {
			ck_assert_uint_eq(status_of(w[i]), BLK_S_OK);
			check_image(path, 64 * i + 8 * split, 8, (int)i + 10);
		}
		for (i = 0; i < n; i++)
			r[i] = post_in(q, 64 * i + 8 * split, 4096, &lays[i]);
		fake_queue_kick(q);
		pushed += n;
		wait_pushes(dev, 0, pushed);
		for (i = 0; i < n; i++)
			check_read(r[i], 64 * i + 8 * split, 4096, (int)i + 10);
	}
	/* 100-byte pieces are not sector multiples: all bounced. */
	ck_assert_uint_ge(bq_of(dev, 0)->bounced, 2 * n);
	ck_assert_uint_eq(bq_of(dev, 0)->bounce_used, 0);
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}
END_TEST

/* More pieces than one request can have iovecs (1024): bounced even
 * with buffered I/O; 100 pieces: the iovec array grows, zero copy. */
START_TEST(test_many_segments)
{
	const char		*path = make_image("img", IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path),
				    FAKE_KV("direct", "off") };
	struct vhd_dev		*dev = blk_dev(kv, 2);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*w, *r;

	fake_dev_ack_features(dev, ALL_FEATURES);
	fake_queue_start(q);
	fake_dev_set_iov_split(dev, 64);
	w = post_out(q, 0, 6144, 3, &lay_plain);	/* 96 pieces */
	fake_queue_kick(q);
	wait_pushes(dev, 0, 1);
	ck_assert_uint_eq(status_of(w), BLK_S_OK);
	ck_assert_uint_eq(bq_of(dev, 0)->bounced, 0);
	fake_dev_set_iov_split(dev, 16);
	w = post_out(q, 100, 32768, 4, &lay_plain);	/* 2048 pieces */
	fake_queue_kick(q);
	wait_pushes(dev, 0, 2);
	r = post_in(q, 100, 32768, &lay_plain);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 3);
	ck_assert_uint_eq(status_of(w), BLK_S_OK);
	check_read(r, 100, 32768, 4);
	check_image(path, 0, 12, 3);
	ck_assert_uint_eq(bq_of(dev, 0)->bounced, 2);
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}
END_TEST

/* FLUSH answers OK; GET_ID gives the serial (cut to the buffer). */
START_TEST(test_flush_get_id)
{
	const char		*path = make_image("img", IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path),
				    FAKE_KV("serial", "vhostd-serial-0123") };
	struct vhd_dev		*dev = blk_dev(kv, 2);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*f, *id, *id5, *id0;
	uint8_t			 buf[32];

	fake_dev_ack_features(dev, ALL_FEATURES);
	fake_queue_start(q);
	f = post_raw(q, BLK_T_FLUSH, 0, NULL, 0, 1);
	id = post_raw(q, BLK_T_GET_ID, 0, NULL, 0, 21);
	id5 = post_raw(q, BLK_T_GET_ID, 0, NULL, 0, 6);
	id0 = post_raw(q, BLK_T_GET_ID, 0, NULL, 0, 1);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 4);
	ck_assert_uint_eq(status_of(f), BLK_S_OK);
	ck_assert_uint_eq(fake_chain_written(id, buf, sizeof(buf)), 21);
	ck_assert_uint_eq(fake_chain_used(id), 21);
	ck_assert_mem_eq(buf, "vhostd-serial-0123\0\0", 20);
	ck_assert_uint_eq(buf[20], BLK_S_OK);
	ck_assert_uint_eq(fake_chain_written(id5, buf, sizeof(buf)), 6);
	ck_assert_mem_eq(buf, "vhost", 5);
	ck_assert_uint_eq(buf[5], BLK_S_OK);
	ck_assert_uint_eq(status_of(id0), BLK_S_OK);
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}
END_TEST

/*
 * Every error answer: past the end, an overflowing range, a partial
 * sector, an unknown type, a short header (also split), no writable
 * status byte (returned unused); the log says why, rate-limited, and the
 * queue goes on serving.
 */
START_TEST(test_error_answers)
{
	const char		*path = make_image("img", IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = blk_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[16], *ok;
	uint8_t			 h[BLK_HDR_SIZE], data[1024];
	unsigned		 i = 0;

	memset(data, 0x5a, sizeof(data));
	fake_dev_ack_features(dev, ALL_FEATURES);
	fake_queue_start(q);
	c[i++] = post_in(q, IMG_SECTORS, 512, &lay_plain);	/* past */
	c[i++] = post_in(q, IMG_SECTORS - 1, 1024, &lay_plain); /* over */
	c[i++] = post_in(q, UINT64_MAX, 512, &lay_plain);	/* wraps */
	c[i++] = post_raw(q, BLK_T_OUT, UINT64_MAX >> 9, data, 1024, 1);
	c[i++] = post_raw(q, BLK_T_OUT, 0, data, 100, 1);	/* partial */
	c[i++] = post_in(q, 0, 700, &lay_plain);		/* partial */
	c[i++] = post_raw(q, 99, 0, NULL, 0, 1);		/* unknown */
	c[i++] = post_raw(q, 2, 0, NULL, 0, 1);			/* unknown */
	/* A 15-byte header, and one split 8 + 7. */
	hdr(h, BLK_T_IN, 0);
	c[i] = fake_chain_new(q);
	fake_chain_add_readable(c[i], h, 15);
	fake_chain_add_writable(c[i++], 513, 0xee);
	c[i] = fake_chain_new(q);
	fake_chain_add_readable(c[i], h, 8);
	fake_chain_add_readable(c[i], h + 8, 7);
	fake_chain_add_writable(c[i++], 1, 0xee);
	/* No writable byte at all. */
	c[i++] = post_raw(q, BLK_T_OUT, 0, data, 512, 0);
	ok = post_in(q, 0, 512, &lay_plain);
	fake_queue_kick(q);
	wait_pushes(dev, 0, i + 1);
	ck_assert_uint_eq(status_of(c[0]), BLK_S_IOERR);
	ck_assert_uint_eq(status_of(c[1]), BLK_S_IOERR);
	ck_assert_uint_eq(status_of(c[2]), BLK_S_IOERR);
	ck_assert_uint_eq(status_of(c[3]), BLK_S_IOERR);
	ck_assert_uint_eq(status_of(c[4]), BLK_S_IOERR);
	ck_assert_uint_eq(status_of(c[5]), BLK_S_IOERR);
	ck_assert_uint_eq(status_of(c[6]), BLK_S_UNSUPP);
	ck_assert_uint_eq(status_of(c[7]), BLK_S_UNSUPP);
	ck_assert_uint_eq(status_of(c[8]), BLK_S_IOERR);
	ck_assert_uint_eq(fake_chain_used(c[8]), 1);
	ck_assert_uint_eq(status_of(c[9]), BLK_S_IOERR);
	ck_assert(fake_chain_pushed(c[10]));
	ck_assert_uint_eq(fake_chain_used(c[10]), 0);
	check_read(ok, 0, 512, 0);
	check_image(path, 0, IMG_SECTORS, 0);
	/* The first one is logged at once; the rest are counted. */
	ck_assert(fake_dev_log_contains(dev, "sector range past the end"));
	fake_dev_ratelimit_clear(dev);
	fake_dev_log_clear(dev);
	c[0] = post_raw(q, 99, 0, NULL, 0, 1);
	fake_queue_kick(q);
	wait_pushes(dev, 0, i + 2);
	ck_assert(fake_dev_log_contains(dev, "unknown request type: "
	    "answered UNSUPP"));
	ck_assert(!fake_dev_failed(dev));
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}
END_TEST

/* A read-only device: writes, discards and zeroes are refused, reads and
 * flushes work. */
START_TEST(test_readonly_requests)
{
	const char		*path = make_image("img", IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path),
				    FAKE_KV("readonly", "on") };
	struct vhd_dev		*dev = blk_dev(kv, 2);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*w, *d, *z, *f, *r;

	fake_dev_ack_features(dev, ALL_FEATURES);
	fake_queue_start(q);
	w = post_out(q, 0, 512, 1, &lay_plain);
	d = post_dwz(q, BLK_T_DISCARD, 0, 8, 0);
	z = post_dwz(q, BLK_T_WRITE_ZEROES, 0, 8, 0);
	f = post_raw(q, BLK_T_FLUSH, 0, NULL, 0, 1);
	r = post_in(q, 0, 512, &lay_plain);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 5);
	ck_assert_uint_eq(status_of(w), BLK_S_IOERR);
	ck_assert_uint_eq(status_of(d), BLK_S_UNSUPP);
	ck_assert_uint_eq(status_of(z), BLK_S_UNSUPP);
	ck_assert_uint_eq(status_of(f), BLK_S_OK);
	check_read(r, 0, 512, 0);
	check_image(path, 0, IMG_SECTORS, 0);
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}
END_TEST

/* Blocks allocated to the image. */
static long long
image_blocks(const char *path)
{
	struct stat	 st;

	ck_assert_int_eq(stat(path, &st), 0);
	return ((long long)st.st_blocks);
}

/*
 * Discard punches a hole (reads give zeroes, blocks are freed); write
 * zeroes gives zeroes, keeping the blocks without UNMAP and freeing them
 * with it; on `dir` (ext4 /tmp and tmpfs /dev/shm, which has no
 * ZERO_RANGE: punch and allocate again).
 */
static void
discard_zeroes_on(const char *dir)
{
	const char		*path = make_image_in(dir, "blk-dz-img",
				    IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = blk_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c, *r;
	long long		 before, after;

	fake_dev_ack_features(dev, ALL_FEATURES);
	fake_queue_start(q);

	before = image_blocks(path);
	c = post_dwz(q, BLK_T_DISCARD, 64, 128, 0);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 1);
	ck_assert_uint_eq(status_of(c), BLK_S_OK);
	check_image(path, 63, 1, 0);
	check_image(path, 64, 128, -1);
	check_image(path, 192, 1, 0);
	after = image_blocks(path);
	ck_assert_int_le(after, before - 128);

	before = after;
	c = post_dwz(q, BLK_T_WRITE_ZEROES, 512, 64, 0);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 2);
	ck_assert_uint_eq(status_of(c), BLK_S_OK);
	check_image(path, 511, 1, 0);
	check_image(path, 512, 64, -1);
	check_image(path, 576, 1, 0);
	ck_assert_int_eq(image_blocks(path), before);

	c = post_dwz(q, BLK_T_WRITE_ZEROES, 1024, 64, BLK_DWZ_F_UNMAP);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 3);
	ck_assert_uint_eq(status_of(c), BLK_S_OK);
	check_image(path, 1024, 64, -1);
	check_image(path, 1088, 1, 0);
	ck_assert_int_le(image_blocks(path), before - 64);

	r = post_in(q, 60, 8 * 512, &lay_plain);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 4);
	{
		uint8_t	 buf[8 * 512 + 1];
		size_t	 i;

		ck_assert_uint_eq(fake_chain_written(r, buf, sizeof(buf)),
		    sizeof(buf));
		for (i = 0; i < 4 * 512; i++)
			ck_assert_uint_eq(buf[i], pat(60 + i / 512, i % 512,
			    0));
		for (; i < 8 * 512; i++)
			ck_assert_uint_eq(buf[i], 0);
	}
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
	unlink(path);
}

START_TEST(test_discard_zeroes)
{
	discard_zeroes_on(tmpdir);
}
END_TEST

START_TEST(test_discard_zeroes_tmpfs)
{
	discard_zeroes_on("/dev/shm");
}
END_TEST

/* Several ranges in one request; each bad range answer. */
START_TEST(test_dwz_ranges)
{
	const char		*path = make_image("img", IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = blk_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[16];
	uint8_t			 r[17 * BLK_DWZ_SIZE];
	uint64_t		 s;
	uint32_t		 n, fl = 0;
	unsigned		 i;

	fake_dev_ack_features(dev, ALL_FEATURES);
	fake_queue_start(q);
	/* Three ranges, one of them empty. */
	for (i = 0; i < 3; i++) {
		s = 100 * i + 10;
		n = i == 1 ? 0 : 5;
		memcpy(r + i * 16, &s, 8);
		memcpy(r + i * 16 + 8, &n, 4);
		memcpy(r + i * 16 + 12, &fl, 4);
	}
	c[0] = post_raw(q, BLK_T_WRITE_ZEROES, 0, r, 3 * 16, 1);
	c[1] = post_raw(q, BLK_T_DISCARD, 0, r, 3 * 16, 1);
	c[2] = post_raw(q, BLK_T_DISCARD, 0, r, 20, 1);		/* 1.25 */
	c[3] = post_raw(q, BLK_T_DISCARD, 0, r, 17 * 16, 1);	/* > max */
	c[4] = post_dwz(q, BLK_T_DISCARD, 0, 8, BLK_DWZ_F_UNMAP);
	c[5] = post_dwz(q, BLK_T_WRITE_ZEROES, 0, 8, 0x4);	/* flags */
	c[6] = post_dwz(q, BLK_T_DISCARD, IMG_SECTORS - 4, 8, 0); /* past */
	c[7] = post_dwz(q, BLK_T_DISCARD, UINT64_MAX - 2, 8, 0); /* wraps */
	c[8] = post_dwz(q, BLK_T_WRITE_ZEROES, 0, BLK_DWZ_SECTORS_MAX + 1,
	    0);
	c[9] = post_raw(q, BLK_T_DISCARD, 0, NULL, 0, 1);	/* none */
	fake_queue_kick(q);
	wait_pushes(dev, 0, 10);
	ck_assert_uint_eq(status_of(c[0]), BLK_S_OK);
	ck_assert_uint_eq(status_of(c[1]), BLK_S_OK);
	check_image(path, 10, 5, -1);
	check_image(path, 15, 195, 0);
	check_image(path, 210, 5, -1);
	check_image(path, 215, 1, 0);
	ck_assert_uint_eq(status_of(c[2]), BLK_S_IOERR);
	ck_assert_uint_eq(status_of(c[3]), BLK_S_UNSUPP);
	ck_assert_uint_eq(status_of(c[4]), BLK_S_UNSUPP);
	ck_assert_uint_eq(status_of(c[5]), BLK_S_UNSUPP);
	ck_assert_uint_eq(status_of(c[6]), BLK_S_IOERR);
	ck_assert_uint_eq(status_of(c[7]), BLK_S_IOERR);
	ck_assert_uint_eq(status_of(c[8]), BLK_S_IOERR);
	ck_assert_uint_eq(status_of(c[9]), BLK_S_IOERR);
	check_image(path, 0, 10, 0);
	check_image(path, IMG_SECTORS - 8, 8, 0);
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}
END_TEST

/* DISCARD and WRITE_ZEROES are UNSUPP unless negotiated. */
START_TEST(test_dwz_not_negotiated)
{
	const char		*path = make_image("img", IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = blk_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*d, *z;

	fake_dev_ack_features(dev, ALL_FEATURES &
	    ~((1ULL << BLK_F_DISCARD) | (1ULL << BLK_F_WRITE_ZEROES)));
	fake_queue_start(q);
	d = post_dwz(q, BLK_T_DISCARD, 0, 8, 0);
	z = post_dwz(q, BLK_T_WRITE_ZEROES, 0, 8, 0);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 2);
	ck_assert_uint_eq(status_of(d), BLK_S_UNSUPP);
	ck_assert_uint_eq(status_of(z), BLK_S_UNSUPP);
	check_image(path, 0, 8, 0);
	fake_queue_stop(q);
	fake_dev_free(dev);
}
END_TEST

/* Guest memory gone (chain_iov and chain_read fail): IOERR or unused,
 * never a crash. */
START_TEST(test_bad_memory)
{
	const char		*path = make_image("img", IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = blk_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c;

	fake_dev_ack_features(dev, ALL_FEATURES);
	fake_queue_start(q);
	c = post_in(q, 0, 512, &lay_plain);
	fake_chain_set_bad(c);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 1);
	ck_assert_uint_eq(fake_chain_used(c), 0);
	ck_assert(fake_dev_log_contains(dev, "outside guest memory"));
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
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
	    mount("none", tmpdir, "ramfs", 0, NULL) != 0) {
		fprintf(stderr, "test_direct_refused: skipped, cannot mount "
		    "a ramfs: %s\n", strerror(errno));
		return;
	}
	path = make_image("img", IMG_SECTORS);
	fd = open(path, O_RDWR | O_DIRECT);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(errno, EINVAL);
	kv[0].value = path;
	dev = blk_dev(kv, 1);
	ck_assert(fake_dev_log_contains(dev, "refuses O_DIRECT"));
	ck_assert(fake_dev_log_contains(dev, "buffered"));
	ck_assert_int_eq(((struct blk *)fake_dev_priv(dev))->direct_on, 0);
	q = fake_queue(dev, 0);
	fake_dev_ack_features(dev, ALL_FEATURES);
	fake_queue_start(q);
	w = post_out(q, 5, 1024, 9, &lay_plain);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 1);
	r = post_in(q, 5, 1024, &lay_plain);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 2);
	ck_assert_uint_eq(status_of(w), BLK_S_OK);
	check_read(r, 5, 1024, 9);
	ck_assert_uint_eq(bq_of(dev, 0)->bounced, 0);
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}
END_TEST

/*
 * Queue stop with I/O in flight: requests submitted and not reaped are
 * waited for and pushed by queue_stop, none left popped; the device
 * state stays, and the queue serves again after a restart.
 */
START_TEST(test_stop_in_flight)
{
	const char		*path = make_image("img", IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = blk_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[64], *r;
	unsigned		 i;

	fake_dev_ack_features(dev, ALL_FEATURES);
	fake_queue_start(q);
	for (i = 0; i < 64; i++)
		c[i] = i % 2 ? post_out(q, 16 * i, 8192, 5, &lay_plain) :
		    post_in(q, 16 * i, 8192, &lay_plain);
	fake_queue_kick(q);
	ck_assert_uint_eq(fake_queue_pops(q), 64);
	ck_assert_uint_gt(bq_of(dev, 0)->inflight, 0);
	fake_queue_stop(q);
	ck_assert_uint_eq(fake_queue_pushes(q), 64);
	ck_assert_uint_eq(bq_of(dev, 0)->inflight, 0);
	ck_assert_uint_eq(bq_of(dev, 0)->busy, 0);
	ck_assert_uint_ge(fake_queue_notifies(q), 1);
	for (i = 0; i < 64; i++) {
		ck_assert_uint_eq(status_of(c[i]), BLK_S_OK);
		if (i % 2 == 0)
			check_read(c[i], 16 * i, 8192, 0);
		else
			check_image(path, 16 * i, 16, 5);
	}
	ck_assert_uint_eq(fake_dev_watches(dev), 0);
	fake_queue_start(q);
	r = post_in(q, 16, 8192, &lay_plain);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 65);
	check_read(r, 16, 8192, 5);
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}
END_TEST

/* Two queues, each with its own ring, watch and worker. */
START_TEST(test_two_queues)
{
	const char		*path = make_image("img", IMG_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path),
				    FAKE_KV("num-queues", "2") };
	struct vhd_dev		*dev = blk_dev(kv, 2);
	struct vhd_queue	*q0 = fake_queue(dev, 0), *q1 = fake_queue(dev, 1);
	struct vhd_chain	*w0, *w1, *r0, *r1;

	fake_dev_ack_features(dev, ALL_FEATURES);
	fake_queue_start(q0);
	fake_queue_start(q1);
	ck_assert_uint_eq(fake_watch_worker(fake_dev_watch(dev,
	    bq_of(dev, 0)->efd)), 0);
	ck_assert_uint_eq(fake_watch_worker(fake_dev_watch(dev,
	    bq_of(dev, 1)->efd)), 1);
	w0 = post_out(q0, 0, 4096, 7, &lay_plain);
	w1 = post_out(q1, 8, 4096, 8, &lay_plain);
	fake_queue_kick(q0);
	fake_queue_kick(q1);
	wait_pushes(dev, 0, 1);
	wait_pushes(dev, 1, 1);
	r0 = post_in(q0, 8, 4096, &lay_plain);
	r1 = post_in(q1, 0, 4096, &lay_plain);
	fake_queue_kick(q0);
	fake_queue_kick(q1);
	wait_pushes(dev, 0, 2);
	wait_pushes(dev, 1, 2);
	ck_assert_uint_eq(status_of(w0), BLK_S_OK);
	ck_assert_uint_eq(status_of(w1), BLK_S_OK);
	check_read(r0, 8, 4096, 8);
	check_read(r1, 0, 4096, 7);
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
	const char		*path = make_image("img", 8 * 2048 + 64);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = blk_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[10], *big;
	unsigned		 i;

	fake_dev_ack_features(dev, ALL_FEATURES);
	fake_queue_start(q);
	fake_dev_set_iov_split(dev, 1000);
	for (i = 0; i < 10; i++)
		c[i] = post_in(q, 1, 4 << 20, &lay_plain);
	fake_queue_kick(q);
	ck_assert_uint_le(bq_of(dev, 0)->bounce_used, BLK_BOUNCE_MAX);
	ck_assert_uint_ge(fake_queue_rewinds(q), 1);
	wait_pushes(dev, 0, 10);
	for (i = 0; i < 10; i++)
		check_read(c[i], 1, 4 << 20, 0);
	/* A request larger than the whole bound is an error. */
	big = post_in(q, 0, (BLK_BOUNCE_MAX) + 512, &lay_plain);
	fake_queue_kick(q);
	wait_pushes(dev, 0, 11);
	(void)big;
	ck_assert_uint_eq(bq_of(dev, 0)->bounce_used, 0);
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}
END_TEST

/* The parser alone: a few answers checked directly. */
START_TEST(test_parse)
{
	struct blk_limits	 l = { 100, 512, 0, 1, 1, 1 };
	struct blk_parse	 p;
	struct blk_range	 r[2];
	uint8_t			 h[16] = { 0 }, raw[32];
	const char		*why;

	blk_req_parse(&l, h, 3, 0, &p);
	ck_assert_int_eq(p.op, BLK_OP_DROP);
	blk_req_parse(&l, h, 3, 1, &p);
	ck_assert_int_eq(p.op, BLK_OP_ANSWER);
	ck_assert_uint_eq(p.status, BLK_S_IOERR);
	hdr(h, BLK_T_IN, 99);
	blk_req_parse(&l, h, 16, 513, &p);
	ck_assert_int_eq(p.op, BLK_OP_READ);
	ck_assert_uint_eq(p.len, 512);
	ck_assert_uint_eq(p.status_off, 512);
	blk_req_parse(&l, h, 16, 1025, &p);
	ck_assert_uint_eq(p.status, BLK_S_IOERR);
	blk_req_parse(&l, h, 16, 1, &p);
	ck_assert_int_eq(p.op, BLK_OP_ANSWER);
	ck_assert_uint_eq(p.status, BLK_S_OK);
	l.align = 4096;
	hdr(h, BLK_T_OUT, 8);
	blk_req_parse(&l, h, 16 + 4096, 1, &p);
	ck_assert_int_eq(p.op, BLK_OP_WRITE);
	ck_assert_uint_eq(p.data_off, 16);
	hdr(h, BLK_T_OUT, 9);
	blk_req_parse(&l, h, 16 + 4096, 1, &p);
	ck_assert_uint_eq(p.status, BLK_S_IOERR);
	l.readonly = 1;
	hdr(h, BLK_T_OUT, 8);
	blk_req_parse(&l, h, 16 + 4096, 1, &p);
	ck_assert_uint_eq(p.status, BLK_S_IOERR);
	l.readonly = 0;
	l.align = 512;
	l.may_unmap = 0;
	memset(raw, 0, sizeof(raw));
	raw[8] = 1;
	raw[12] = BLK_DWZ_F_UNMAP;
	ck_assert_uint_eq(blk_req_ranges(&l, 1, raw, 1, r, &why), BLK_S_OK);
	ck_assert_uint_eq(r[0].flags, 0);
	ck_assert_uint_eq(blk_req_ranges(&l, 0, raw, 1, r, &why),
	    BLK_S_UNSUPP);
}
END_TEST

/* The suite. */
static Suite *
blk_suite(void)
{
	Suite	*s = suite_create("blk");
	TCase	*tc;

	tc = tcase_create("create");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_descriptor);
	tcase_add_test(tc, test_create_defaults);
	tcase_add_test(tc, test_create_two_queues);
	tcase_add_test(tc, test_create_bad_keys);
	tcase_add_test(tc, test_create_readonly);
	tcase_add_test(tc, test_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("requests");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_write_read);
	tcase_add_test(tc, test_layouts);
	tcase_add_test(tc, test_many_segments);
	tcase_add_test(tc, test_flush_get_id);
	tcase_add_test(tc, test_error_answers);
	tcase_add_test(tc, test_readonly_requests);
	tcase_add_test(tc, test_discard_zeroes);
	tcase_add_test(tc, test_discard_zeroes_tmpfs);
	tcase_add_test(tc, test_dwz_ranges);
	tcase_add_test(tc, test_dwz_not_negotiated);
	tcase_add_test(tc, test_bad_memory);
	tcase_add_test(tc, test_direct_refused);
	tcase_add_test(tc, test_stop_in_flight);
	tcase_add_test(tc, test_two_queues);
	tcase_add_test(tc, test_bounce_bound);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(blk_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
