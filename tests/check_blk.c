/*
 * Unit tests for the blk module (modules/blk/blk*.c, compiled in), run
 * against the fake daemon of fake_api.c with real images in temp dirs
 * and the real io_uring: keys and config space, the parser, every request
 * type, every error answer, read-only devices, discard and write zeroes
 * read back as zeroes (ext4 and tmpfs).  The queue mechanics are in
 * check_blk_queue.c.
 */

#include <sys/stat.h>
#include <sys/types.h>

#include <check.h>
#include <fcntl.h>
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
	const char		*path = bf_image("img", BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = bf_dev(kv, 1);
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
	ck_assert_uint_eq(bf_cfg(dev, 0, 8), BF_SECTORS);
	ck_assert_uint_eq(bf_cfg(dev, 8, 4), BLK_SIZE_MAX);
	ck_assert_uint_eq(bf_cfg(dev, 12, 4), BLK_SEG_MAX);
	ck_assert_uint_eq(bf_cfg(dev, 20, 4) % 512, 0);
	ck_assert_uint_eq(bf_cfg(dev, 34, 2), 1);
	ck_assert_uint_eq(bf_cfg(dev, 36, 4), BLK_DWZ_SECTORS_MAX);
	ck_assert_uint_eq(bf_cfg(dev, 40, 4), BLK_DWZ_SEG_MAX);
	ck_assert_uint_eq(bf_cfg(dev, 48, 4), BLK_DWZ_SECTORS_MAX);
	ck_assert_uint_eq(bf_cfg(dev, 52, 4), BLK_DWZ_SEG_MAX);
	ck_assert_uint_eq(bf_cfg(dev, 56, 1), 1);
	/* Topology: 4 KiB file system blocks over 512-byte sectors. */
	ck_assert_uint_eq(1u << bf_cfg(dev, 24, 1),
	    ((struct blk *)fake_dev_priv(dev))->physical / bf_cfg(dev, 20, 4));
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
	const char		*path = bf_image("img", BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path),
				    FAKE_KV("num-queues", "2"),
				    FAKE_KV("queue-size", "64"),
				    FAKE_KV("serial", "abc") };
	struct vhd_dev		*dev = bf_dev(kv, 4);
	const struct vhd_dev_info *info = fake_dev_info(dev);

	ck_assert_uint_eq(info->num_queues, 2);
	ck_assert_uint_eq(info->num_workers, 2);
	ck_assert_uint_eq(info->queue_masks[0], 1);
	ck_assert_uint_eq(info->queue_masks[1], 2);
	ck_assert_uint_eq(info->max_queue_size, 64);
	ck_assert_uint_eq(bf_cfg(dev, 12, 4), 62);
	ck_assert_uint_eq(bf_cfg(dev, 34, 2), 2);
	fake_dev_free(dev);
}
END_TEST

/* Every bad key is refused with its name in the message. */
START_TEST(test_create_bad_keys)
{
	const char	*path = bf_image("img", BF_SECTORS);
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
	};
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cause = bf_fail(t[i].kv, t[i].n);
		if (strstr(cause, t[i].want) == NULL)
			ck_abort_msg("case %zu: '%s' lacks '%s'", i, cause,
			    t[i].want);
		free(cause);
	}
	{
		struct vhd_kv	 kv[] = { FAKE_KV("path", path),
				    FAKE_KV("readonly", "on"),
				    FAKE_KV("discard", "on") };

		cause = bf_fail(kv, 3);
		ck_assert_ptr_nonnull(strstr(cause, "need a writable"));
		free(cause);
	}
	{
		struct vhd_kv	 kv[] = { FAKE_KV("path", NULL) };

		small = bf_image("small", 0);
		kv[0].value = small;
		cause = bf_fail(kv, 1);
		ck_assert_ptr_nonnull(strstr(cause, "smaller than one block"));
		free(cause);
	}
}
END_TEST

/* readonly: F_RO offered, no discard/zeroes, the file opened read-only
 * (a file without write permission works). */
START_TEST(test_create_readonly)
{
	const char		*path = bf_image("img", BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path),
				    FAKE_KV("readonly", "yes") };
	struct vhd_dev		*dev;
	const struct vhd_dev_info *info;

	ck_assert_int_eq(chmod(path, 0400), 0);
	dev = bf_dev(kv, 2);
	info = fake_dev_info(dev);
	ck_assert(info->features & (1ULL << BLK_F_RO));
	ck_assert(!(info->features & (1ULL << BLK_F_DISCARD)));
	ck_assert(!(info->features & (1ULL << BLK_F_WRITE_ZEROES)));
	ck_assert_uint_eq(bf_cfg(dev, 36, 4), 0);
	ck_assert_uint_eq(bf_cfg(dev, 48, 4), 0);
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
	bf_hdr(h, BLK_T_IN, 99);
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
	bf_hdr(h, BLK_T_OUT, 8);
	blk_req_parse(&l, h, 16 + 4096, 1, &p);
	ck_assert_int_eq(p.op, BLK_OP_WRITE);
	ck_assert_uint_eq(p.data_off, 16);
	bf_hdr(h, BLK_T_OUT, 9);
	blk_req_parse(&l, h, 16 + 4096, 1, &p);
	ck_assert_uint_eq(p.status, BLK_S_IOERR);
	l.readonly = 1;
	bf_hdr(h, BLK_T_OUT, 8);
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

/* Write then read back, one sector and 64 KiB, through O_DIRECT (the
 * fake's malloc'd buffers are not 512-aligned: bounced). */
START_TEST(test_write_read)
{
	const char		*path = bf_image("img", BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = bf_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*w1, *w2, *r1, *r2, *r3;

	bf_start(dev, q);
	w1 = bf_out(q, 10, 512, 1, &bf_plain);
	w2 = bf_out(q, 100, 65536, 2, &bf_plain);
	bf_kick_wait(dev, q, 2);
	ck_assert_uint_eq(bf_status(w1), BLK_S_OK);
	ck_assert_uint_eq(fake_chain_used(w1), 1);
	ck_assert_uint_eq(bf_status(w2), BLK_S_OK);
	bf_check_image(path, 10, 1, 1);
	bf_check_image(path, 9, 1, 0);
	bf_check_image(path, 11, 89, 0);
	bf_check_image(path, 100, 128, 2);
	bf_check_image(path, 228, 1, 0);

	r1 = bf_in(q, 10, 512, &bf_plain);
	r2 = bf_in(q, 100, 65536, &bf_plain);
	r3 = bf_in(q, 0, 4096, &bf_plain);
	bf_kick_wait(dev, q, 5);
	bf_check_read(r1, 10, 512, 1);
	bf_check_read(r2, 100, 65536, 2);
	bf_check_read(r3, 0, 4096, 0);
	bf_finish(dev, q);
}
END_TEST

/* FLUSH answers OK; GET_ID gives the serial (cut to the buffer). */
START_TEST(test_flush_get_id)
{
	const char		*path = bf_image("img", BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path),
				    FAKE_KV("serial", "vhostd-serial-0123") };
	struct vhd_dev		*dev = bf_dev(kv, 2);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*f, *id, *id5, *id0;
	uint8_t			 buf[32];

	bf_start(dev, q);
	f = bf_raw(q, BLK_T_FLUSH, 0, NULL, 0, 1);
	id = bf_raw(q, BLK_T_GET_ID, 0, NULL, 0, 21);
	id5 = bf_raw(q, BLK_T_GET_ID, 0, NULL, 0, 6);
	id0 = bf_raw(q, BLK_T_GET_ID, 0, NULL, 0, 1);
	bf_kick_wait(dev, q, 4);
	ck_assert_uint_eq(bf_status(f), BLK_S_OK);
	ck_assert_uint_eq(fake_chain_written(id, buf, sizeof(buf)), 21);
	ck_assert_uint_eq(fake_chain_used(id), 21);
	ck_assert_mem_eq(buf, "vhostd-serial-0123\0\0", 20);
	ck_assert_uint_eq(buf[20], BLK_S_OK);
	ck_assert_uint_eq(fake_chain_written(id5, buf, sizeof(buf)), 6);
	ck_assert_mem_eq(buf, "vhost", 5);
	ck_assert_uint_eq(buf[5], BLK_S_OK);
	ck_assert_uint_eq(bf_status(id0), BLK_S_OK);
	bf_finish(dev, q);
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
	const char		*path = bf_image("img", BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = bf_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[16], *ok;
	uint8_t			 h[BLK_HDR_SIZE], data[1024];
	unsigned		 i = 0;

	memset(data, 0x5a, sizeof(data));
	bf_start(dev, q);
	c[i++] = bf_in(q, BF_SECTORS, 512, &bf_plain);	/* past */
	c[i++] = bf_in(q, BF_SECTORS - 1, 1024, &bf_plain); /* over */
	c[i++] = bf_in(q, UINT64_MAX, 512, &bf_plain);	/* wraps */
	c[i++] = bf_raw(q, BLK_T_OUT, UINT64_MAX >> 9, data, 1024, 1);
	c[i++] = bf_raw(q, BLK_T_OUT, 0, data, 100, 1);	/* partial */
	c[i++] = bf_in(q, 0, 700, &bf_plain);		/* partial */
	c[i++] = bf_raw(q, 99, 0, NULL, 0, 1);		/* unknown */
	c[i++] = bf_raw(q, 2, 0, NULL, 0, 1);			/* unknown */
	/* A 15-byte header, and one split 8 + 7. */
	bf_hdr(h, BLK_T_IN, 0);
	c[i] = fake_chain_new(q);
	fake_chain_add_readable(c[i], h, 15);
	fake_chain_add_writable(c[i++], 513, 0xee);
	c[i] = fake_chain_new(q);
	fake_chain_add_readable(c[i], h, 8);
	fake_chain_add_readable(c[i], h + 8, 7);
	fake_chain_add_writable(c[i++], 1, 0xee);
	/* No writable byte at all. */
	c[i++] = bf_raw(q, BLK_T_OUT, 0, data, 512, 0);
	ok = bf_in(q, 0, 512, &bf_plain);
	bf_kick_wait(dev, q, i + 1);
	ck_assert_uint_eq(bf_status(c[0]), BLK_S_IOERR);
	ck_assert_uint_eq(bf_status(c[1]), BLK_S_IOERR);
	ck_assert_uint_eq(bf_status(c[2]), BLK_S_IOERR);
	ck_assert_uint_eq(bf_status(c[3]), BLK_S_IOERR);
	ck_assert_uint_eq(bf_status(c[4]), BLK_S_IOERR);
	ck_assert_uint_eq(bf_status(c[5]), BLK_S_IOERR);
	ck_assert_uint_eq(bf_status(c[6]), BLK_S_UNSUPP);
	ck_assert_uint_eq(bf_status(c[7]), BLK_S_UNSUPP);
	ck_assert_uint_eq(bf_status(c[8]), BLK_S_IOERR);
	ck_assert_uint_eq(fake_chain_used(c[8]), 1);
	ck_assert_uint_eq(bf_status(c[9]), BLK_S_IOERR);
	ck_assert(fake_chain_pushed(c[10]));
	ck_assert_uint_eq(fake_chain_used(c[10]), 0);
	bf_check_read(ok, 0, 512, 0);
	bf_check_image(path, 0, BF_SECTORS, 0);
	/* The first one is logged at once; the rest are counted. */
	ck_assert(fake_dev_log_contains(dev, "sector range past the end"));
	fake_dev_ratelimit_clear(dev);
	fake_dev_log_clear(dev);
	c[0] = bf_raw(q, 99, 0, NULL, 0, 1);
	bf_kick_wait(dev, q, i + 2);
	ck_assert(fake_dev_log_contains(dev, "unknown request type: "
	    "answered UNSUPP"));
	ck_assert(!fake_dev_failed(dev));
	bf_finish(dev, q);
}
END_TEST

/* A read-only device: writes, discards and zeroes are refused, reads and
 * flushes work. */
START_TEST(test_readonly_requests)
{
	const char		*path = bf_image("img", BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path),
				    FAKE_KV("readonly", "on") };
	struct vhd_dev		*dev = bf_dev(kv, 2);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*w, *d, *z, *f, *r;

	bf_start(dev, q);
	w = bf_out(q, 0, 512, 1, &bf_plain);
	d = bf_dwz(q, BLK_T_DISCARD, 0, 8, 0);
	z = bf_dwz(q, BLK_T_WRITE_ZEROES, 0, 8, 0);
	f = bf_raw(q, BLK_T_FLUSH, 0, NULL, 0, 1);
	r = bf_in(q, 0, 512, &bf_plain);
	bf_kick_wait(dev, q, 5);
	ck_assert_uint_eq(bf_status(w), BLK_S_IOERR);
	ck_assert_uint_eq(bf_status(d), BLK_S_UNSUPP);
	ck_assert_uint_eq(bf_status(z), BLK_S_UNSUPP);
	ck_assert_uint_eq(bf_status(f), BLK_S_OK);
	bf_check_read(r, 0, 512, 0);
	bf_check_image(path, 0, BF_SECTORS, 0);
	bf_finish(dev, q);
}
END_TEST

/*
 * Discard punches a hole (reads give zeroes, blocks are freed); write
 * zeroes gives zeroes, keeping the blocks without UNMAP and freeing them
 * with it; on `dir` (ext4 /tmp and tmpfs /dev/shm, which has no
 * ZERO_RANGE: punch and allocate again).
 */
static void
discard_zeroes_on(const char *dir)
{
	const char		*path = bf_image_in(dir, "blk-dz-img",
				    BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = bf_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c, *r;
	long long		 before, after;

	bf_start(dev, q);

	before = bf_blocks(path);
	c = bf_dwz(q, BLK_T_DISCARD, 64, 128, 0);
	bf_kick_wait(dev, q, 1);
	ck_assert_uint_eq(bf_status(c), BLK_S_OK);
	bf_check_image(path, 63, 1, 0);
	bf_check_image(path, 64, 128, -1);
	bf_check_image(path, 192, 1, 0);
	after = bf_blocks(path);
	ck_assert_int_le(after, before - 128);

	before = after;
	c = bf_dwz(q, BLK_T_WRITE_ZEROES, 512, 64, 0);
	bf_kick_wait(dev, q, 2);
	ck_assert_uint_eq(bf_status(c), BLK_S_OK);
	bf_check_image(path, 511, 1, 0);
	bf_check_image(path, 512, 64, -1);
	bf_check_image(path, 576, 1, 0);
	ck_assert_int_eq(bf_blocks(path), before);

	c = bf_dwz(q, BLK_T_WRITE_ZEROES, 1024, 64, BLK_DWZ_F_UNMAP);
	bf_kick_wait(dev, q, 3);
	ck_assert_uint_eq(bf_status(c), BLK_S_OK);
	bf_check_image(path, 1024, 64, -1);
	bf_check_image(path, 1088, 1, 0);
	ck_assert_int_le(bf_blocks(path), before - 64);

	r = bf_in(q, 60, 8 * 512, &bf_plain);
	bf_kick_wait(dev, q, 4);
	{
		uint8_t	 buf[8 * 512 + 1];
		size_t	 i;

		ck_assert_uint_eq(fake_chain_written(r, buf, sizeof(buf)),
		    sizeof(buf));
		for (i = 0; i < 4 * 512; i++)
			ck_assert_uint_eq(buf[i], bf_pat(60 + i / 512, i % 512,
			    0));
		for (; i < 8 * 512; i++)
			ck_assert_uint_eq(buf[i], 0);
	}
	bf_finish(dev, q);
	unlink(path);
}

START_TEST(test_discard_zeroes)
{
	discard_zeroes_on(bf_tmpdir);
}
END_TEST

START_TEST(test_discard_zeroes_tmpfs)
{
	char	 dir[64];

	/* A dir of its own: parallel runs (sanitizer builds) share /dev/shm. */
	strcpy(dir, "/dev/shm/check_blk.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	discard_zeroes_on(dir);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* Several ranges in one request; each bad range answer. */
START_TEST(test_dwz_ranges)
{
	const char		*path = bf_image("img", BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = bf_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c[16];
	uint8_t			 r[17 * BLK_DWZ_SIZE];
	uint64_t		 s;
	uint32_t		 n, fl = 0;
	unsigned		 i;

	bf_start(dev, q);
	/* Three ranges, one of them empty. */
	for (i = 0; i < 3; i++) {
		s = 100 * i + 10;
		n = i == 1 ? 0 : 5;
		memcpy(r + i * 16, &s, 8);
		memcpy(r + i * 16 + 8, &n, 4);
		memcpy(r + i * 16 + 12, &fl, 4);
	}
	c[0] = bf_raw(q, BLK_T_WRITE_ZEROES, 0, r, 3 * 16, 1);
	c[1] = bf_raw(q, BLK_T_DISCARD, 0, r, 3 * 16, 1);
	c[2] = bf_raw(q, BLK_T_DISCARD, 0, r, 20, 1);		/* 1.25 */
	c[3] = bf_raw(q, BLK_T_DISCARD, 0, r, 17 * 16, 1);	/* > max */
	c[4] = bf_dwz(q, BLK_T_DISCARD, 0, 8, BLK_DWZ_F_UNMAP);
	c[5] = bf_dwz(q, BLK_T_WRITE_ZEROES, 0, 8, 0x4);	/* flags */
	c[6] = bf_dwz(q, BLK_T_DISCARD, BF_SECTORS - 4, 8, 0); /* past */
	c[7] = bf_dwz(q, BLK_T_DISCARD, UINT64_MAX - 2, 8, 0); /* wraps */
	c[8] = bf_dwz(q, BLK_T_WRITE_ZEROES, 0, BLK_DWZ_SECTORS_MAX + 1,
	    0);
	c[9] = bf_raw(q, BLK_T_DISCARD, 0, NULL, 0, 1);	/* none */
	bf_kick_wait(dev, q, 10);
	ck_assert_uint_eq(bf_status(c[0]), BLK_S_OK);
	ck_assert_uint_eq(bf_status(c[1]), BLK_S_OK);
	bf_check_image(path, 10, 5, -1);
	bf_check_image(path, 15, 195, 0);
	bf_check_image(path, 210, 5, -1);
	bf_check_image(path, 215, 1, 0);
	ck_assert_uint_eq(bf_status(c[2]), BLK_S_IOERR);
	ck_assert_uint_eq(bf_status(c[3]), BLK_S_UNSUPP);
	ck_assert_uint_eq(bf_status(c[4]), BLK_S_UNSUPP);
	ck_assert_uint_eq(bf_status(c[5]), BLK_S_UNSUPP);
	ck_assert_uint_eq(bf_status(c[6]), BLK_S_IOERR);
	ck_assert_uint_eq(bf_status(c[7]), BLK_S_IOERR);
	ck_assert_uint_eq(bf_status(c[8]), BLK_S_IOERR);
	ck_assert_uint_eq(bf_status(c[9]), BLK_S_IOERR);
	bf_check_image(path, 0, 10, 0);
	bf_check_image(path, BF_SECTORS - 8, 8, 0);
	bf_finish(dev, q);
}
END_TEST

/* DISCARD and WRITE_ZEROES are UNSUPP unless negotiated. */
START_TEST(test_dwz_not_negotiated)
{
	const char		*path = bf_image("img", BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = bf_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*d, *z;

	fake_dev_ack_features(dev, BF_ALL &
	    ~((1ULL << BLK_F_DISCARD) | (1ULL << BLK_F_WRITE_ZEROES)));
	fake_queue_start(q);
	d = bf_dwz(q, BLK_T_DISCARD, 0, 8, 0);
	z = bf_dwz(q, BLK_T_WRITE_ZEROES, 0, 8, 0);
	bf_kick_wait(dev, q, 2);
	ck_assert_uint_eq(bf_status(d), BLK_S_UNSUPP);
	ck_assert_uint_eq(bf_status(z), BLK_S_UNSUPP);
	bf_check_image(path, 0, 8, 0);
	fake_queue_stop(q);
	fake_dev_free(dev);
}
END_TEST

/* Guest memory gone (chain_iov and chain_read fail): IOERR or unused,
 * never a crash. */
START_TEST(test_bad_memory)
{
	const char		*path = bf_image("img", BF_SECTORS);
	struct vhd_kv		 kv[] = { FAKE_KV("path", path) };
	struct vhd_dev		*dev = bf_dev(kv, 1);
	struct vhd_queue	*q = fake_queue(dev, 0);
	struct vhd_chain	*c;

	bf_start(dev, q);
	c = bf_in(q, 0, 512, &bf_plain);
	fake_chain_set_bad(c);
	bf_kick_wait(dev, q, 1);
	ck_assert_uint_eq(fake_chain_used(c), 0);
	ck_assert(fake_dev_log_contains(dev, "outside guest memory"));
	bf_finish(dev, q);
}
END_TEST

/* The suite. */
static Suite *
blk_suite(void)
{
	Suite	*s = suite_create("blk");
	TCase	*tc;

	tc = tcase_create("create");
	tcase_add_checked_fixture(tc, bf_setup, bf_teardown);
	tcase_add_test(tc, test_descriptor);
	tcase_add_test(tc, test_create_defaults);
	tcase_add_test(tc, test_create_two_queues);
	tcase_add_test(tc, test_create_bad_keys);
	tcase_add_test(tc, test_create_readonly);
	tcase_add_test(tc, test_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("requests");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, bf_setup, bf_teardown);
	tcase_add_test(tc, test_write_read);
	tcase_add_test(tc, test_flush_get_id);
	tcase_add_test(tc, test_error_answers);
	tcase_add_test(tc, test_readonly_requests);
	tcase_add_test(tc, test_discard_zeroes);
	tcase_add_test(tc, test_discard_zeroes_tmpfs);
	tcase_add_test(tc, test_dwz_ranges);
	tcase_add_test(tc, test_dwz_not_negotiated);
	tcase_add_test(tc, test_bad_memory);
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
