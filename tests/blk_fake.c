/*
 * Helpers of the blk module's unit suites (check_blk.c, check_blk_queue.c):
 * images in a temp dir, devices on the fake daemon of fake_api.c, requests
 * in any descriptor layout, and checks of what the module did.
 */

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <check.h>
#include <fcntl.h>
#include <poll.h>
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

char	 bf_tmpdir[64];

/* Make a temporary directory for the test's images. */
void
bf_setup(void)
{
	strcpy(bf_tmpdir, "/tmp/check_blk.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(bf_tmpdir));
}

/* Remove the temporary directory (and a ramfs mounted on it). */
void
bf_teardown(void)
{
	char	 cmd[160];

	(void)umount2(bf_tmpdir, MNT_DETACH);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", bf_tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Byte i of the test pattern for sector s. */
uint8_t
bf_pat(uint64_t s, size_t i, uint8_t seed)
{
	return ((uint8_t)(s * 31 + i * 7 + seed));
}

/* Make an image `dir/name` of `sectors` sectors, each filled with the
 * pattern of seed 0; return its path (static buffer). */
const char *
bf_image_in(const char *dir, const char *name, uint64_t sectors)
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
			buf[i] = bf_pat(s, i, 0);
		ck_assert_int_eq(pwrite(fd, buf, sizeof(buf),
		    (off_t)(s * BLK_SECTOR)), (ssize_t)sizeof(buf));
	}
	ck_assert_int_eq(close(fd), 0);
	return (path);
}

/* The same in bf_tmpdir. */
const char *
bf_image(const char *name, uint64_t sectors)
{
	return (bf_image_in(bf_tmpdir, name, sectors));
}

/* Create a blk device with these keys; the test fails if create does. */
struct vhd_dev *
bf_dev(const struct vhd_kv *kv, size_t nkv)
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
char *
bf_fail(const struct vhd_kv *kv, size_t nkv)
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
struct blk_queue *
bf_queue(struct vhd_dev *dev, unsigned i)
{
	struct blk	*b = fake_dev_priv(dev);

	return (&b->queues[i]);
}

/* A 16-byte request header. */
void
bf_hdr(uint8_t *h, uint32_t type, uint64_t sector)
{
	memset(h, 0, BLK_HDR_SIZE);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
}

/* Fire queue i's completion watch until `n` chains were pushed, waiting
 * for the ring's eventfd (10 s at most). */
void
bf_wait(struct vhd_dev *dev, unsigned i, unsigned n)
{
	struct vhd_queue	*q = fake_queue(dev, i);
	struct vhd_watch	*w;
	struct pollfd		 pfd;
	int			 spins = 0;

	while (fake_queue_pushes(q) < n) {
		w = fake_dev_watch(dev, bf_queue(dev, i)->efd);
		ck_assert_ptr_nonnull(w);
		ck_assert(fake_watch_armed(w));
		pfd.fd = bf_queue(dev, i)->efd;
		pfd.events = POLLIN;
		ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
		fake_watch_fire(w, VHD_EV_READ);
		ck_assert_int_lt(++spins, 100000);
	}
}


const struct bf_lay bf_plain = { 0, 0, 1 };

/* Ack every feature and start queue q of dev. */
void
bf_start(struct vhd_dev *dev, struct vhd_queue *q)
{
	fake_dev_ack_features(dev, BF_ALL);
	fake_queue_start(q);
}

/* Kick q and wait until queue 0 of dev has pushed `n` chains. */
void
bf_kick_wait(struct vhd_dev *dev, struct vhd_queue *q, unsigned n)
{
	fake_queue_kick(q);
	bf_wait(dev, 0, n);
}

/* Stop q, check that dev recorded no API misuse, and free dev. */
void
bf_finish(struct vhd_dev *dev, struct vhd_queue *q)
{
	fake_queue_stop(q);
	ck_assert_str_eq(fake_dev_errors(dev), "");
	fake_dev_free(dev);
}

/* Post an OUT of `len` pattern bytes (seed) at `sector`. */
struct vhd_chain *
bf_out(struct vhd_queue *q, uint64_t sector, size_t len, uint8_t seed,
    const struct bf_lay *l)
{
	struct vhd_chain	*c = fake_chain_new(q);
	uint8_t			*buf;
	size_t			 i, off, n, first;
	unsigned		 p;

	buf = malloc(BLK_HDR_SIZE + len);
	ck_assert_ptr_nonnull(buf);
	bf_hdr(buf, BLK_T_OUT, sector);
	for (i = 0; i < len; i++)
		buf[BLK_HDR_SIZE + i] = bf_pat(sector + i / BLK_SECTOR,
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
struct vhd_chain *
bf_in(struct vhd_queue *q, uint64_t sector, size_t len, const struct bf_lay *l)
{
	struct vhd_chain	*c = fake_chain_new(q);
	uint8_t			 h[BLK_HDR_SIZE];
	size_t			 total = len + (l->shared ? 1 : 0), n, done = 0;
	unsigned		 p;

	bf_hdr(h, BLK_T_IN, sector);
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
struct vhd_chain *
bf_raw(struct vhd_queue *q, uint32_t type, uint64_t sector,
    const void *extra, size_t rlen, size_t wlen)
{
	struct vhd_chain	*c = fake_chain_new(q);
	uint8_t			 h[BLK_HDR_SIZE];

	bf_hdr(h, type, sector);
	fake_chain_add_readable(c, h, BLK_HDR_SIZE);
	if (rlen != 0)
		fake_chain_add_readable(c, extra, rlen);
	if (wlen != 0)
		fake_chain_add_writable(c, wlen, 0xee);
	return (c);
}

/* Post a DISCARD or WRITE_ZEROES with one range. */
struct vhd_chain *
bf_dwz(struct vhd_queue *q, uint32_t type, uint64_t sector, uint32_t num,
    uint32_t flags)
{
	uint8_t	 r[BLK_DWZ_SIZE];

	memcpy(r, &sector, 8);
	memcpy(r + 8, &num, 4);
	memcpy(r + 12, &flags, 4);
	return (bf_raw(q, type, 0, r, sizeof(r), 1));
}

/* The status byte of a pushed chain (the last writable byte). */
uint8_t
bf_status(struct vhd_chain *c)
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
void
bf_check_image(const char *path, uint64_t sector, uint64_t n, int seed)
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
			if (seed >= 0 && buf[i] != bf_pat(s, i, (uint8_t)seed))
				ck_abort_msg("sector %llu byte %zu: %u, not "
				    "%u", (unsigned long long)s, i, buf[i],
				    bf_pat(s, i, (uint8_t)seed));
		}
	}
	close(fd);
}

/* Check the data an IN read into the chain: the pattern of `seed` for
 * `len` bytes from `sector`, then the status byte OK. */
void
bf_check_read(struct vhd_chain *c, uint64_t sector, size_t len, int seed)
{
	uint8_t		*buf;
	size_t		 i;

	buf = malloc(len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fake_chain_written(c, buf, len + 1), len + 1);
	ck_assert_uint_eq(fake_chain_used(c), len + 1);
	ck_assert_uint_eq(buf[len], BLK_S_OK);
	for (i = 0; i < len; i++) {
		if (buf[i] != (seed < 0 ? 0 : bf_pat(sector + i / BLK_SECTOR,
		    i % BLK_SECTOR, (uint8_t)seed)))
			ck_abort_msg("read byte %zu: %u", i, buf[i]);
	}
	free(buf);
}

/* Read a little-endian field of the config space. */
uint64_t
bf_cfg(struct vhd_dev *dev, uint32_t off, uint32_t len)
{
	uint8_t		 b[8];
	uint64_t	 v = 0;
	uint32_t	 i;

	ck_assert_int_eq(fake_dev_get_config(dev, off, b, len), 0);
	for (i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return (v);
}



/* Blocks allocated to the image. */
long long
bf_blocks(const char *path)
{
	struct stat	 st;

	ck_assert_int_eq(stat(path, &st), 0);
	return ((long long)st.st_blocks);
}
