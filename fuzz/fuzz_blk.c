/*
 * libFuzzer target: the blk module (request parser, range checks, the
 * io_uring queue: submission, completion, bounce, ranges, stop with I/O
 * in flight) driven through its ops on the fake daemon of
 * tests/fake_api.c, over a real 64 KiB image in a temp dir.
 *
 * Input layout:
 *   byte 0	bit 0: readonly; bit 1: direct=off; bit 2: two queues;
 *		bit 3: ack DISCARD; bit 4: ack WRITE_ZEROES; bits 5-6:
 *		chain_iov pieces of 0 (whole), 7, 100 or 512 bytes
 *   then operations, each an opcode byte (mod 6) and its arguments:
 *   0 post	a, t, sector mode, lay, extra(2), wlens: a chain on queue
 *		(a&1) % queues of type table[t % 8] (IN, OUT, FLUSH, GET_ID, DISCARD,
 *		WRITE_ZEROES, 2, or a u32 from the input); sector small,
 *		near the end or a raw u64; 16 header bytes + extra % 1100
 *		payload bytes from the input, over 1 + lay % 4 readable
 *		buffers cut where the input says (lay bit 2: a header of
 *		lay>>3 % 16 bytes instead); (lay >> 4) % 4 writable buffers
 *		of u16 % 5000 bytes each
 *   1 kick	a: run queue a&1's handler
 *   2 loop	fire the ring eventfd watches that are ready
 *   3 restart	a: stop (waits for I/O in flight) and start queue a&1
 *   4 config	off, len: read config space
 *   5 quiesce	a: guest memory about to change: queue_quiesce on queue a&1
 * Oracles: sanitizers; no API misuse recorded by the fake (push of more
 * than the writable length, a chain kept past queue_stop, ...); every
 * pushed chain with a used length carries a status byte 0, 1 or 2 and an
 * IN answered OK has used = data + 1; no watch left after the queues stop;
 * the process holds the same fds after each input.
 */

#include <sys/types.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "fake_api.h"
#include "fuzz_fake.h"
#include "../modules/blk/blk.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

extern const struct vhd_module vhd_module;

#define FUZZ_OPS	256
#define FUZZ_CHAINS	256
#define FUZZ_SECTORS	128	/* 64 KiB image */

static char		 fuzz_dir[64];
static char		 fuzz_img[96];
static struct vhd_chain	*fuzz_chain[FUZZ_CHAINS];
static uint32_t		 fuzz_type[FUZZ_CHAINS];
static size_t		 fuzz_wlen[FUZZ_CHAINS];
static unsigned		 fuzz_nchains;
static uint8_t		 fuzz_buf[16 * 5000 + 4096];

/* Remove the temp dir at exit. */
static void
fuzz_blk_cleanup(void)
{
	unlink(fuzz_img);
	rmdir(fuzz_dir);
}

/* Make the temp dir and the image once per process. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t	 buf[FUZZ_SECTORS * 512];
	int	 fd;

	(void)argc;
	(void)argv;
	strcpy(fuzz_dir, "/tmp/fuzz_blk.XXXXXX");
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	snprintf(fuzz_img, sizeof(fuzz_img), "%s/img", fuzz_dir);
	atexit(fuzz_blk_cleanup);
	memset(buf, 0x42, sizeof(buf));
	fd = open(fuzz_img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		abort();
	close(fd);
	return (0);
}

/* Create the device from the flags byte. */
static struct vhd_dev *
fuzz_blk_create(uint8_t b0)
{
	static const size_t splits[] = { 0, 7, 100, 512 };
	struct vhd_kv	 kv[5];
	struct vhd_dev	*dev;
	char		*cause = NULL;
	size_t		 n = 0;
	uint64_t	 acked = ~0ULL;

	kv[n++] = (struct vhd_kv)FAKE_KV("path", fuzz_img);
	kv[n++] = (struct vhd_kv)FAKE_KV("queue-size", "64");
	if (b0 & 1)
		kv[n++] = (struct vhd_kv)FAKE_KV("readonly", "on");
	if (b0 & 2)
		kv[n++] = (struct vhd_kv)FAKE_KV("direct", "off");
	if (b0 & 4)
		kv[n++] = (struct vhd_kv)FAKE_KV("num-queues", "2");
	dev = fake_dev_new(vhd_module.ops, "blk0");
	if (fake_dev_create(dev, kv, n, &cause) != 0) {
		fprintf(stderr, "create: %s\n", cause);
		abort();
	}
	if (!(b0 & 8))
		acked &= ~(1ULL << BLK_F_DISCARD);
	if (!(b0 & 16))
		acked &= ~(1ULL << BLK_F_WRITE_ZEROES);
	fake_dev_ack_features(dev, acked);
	fake_dev_set_iov_split(dev, splits[(b0 >> 5) & 3]);
	return (dev);
}

/* Op 0: post one chain built from the input. */
static void
fuzz_blk_post(struct vhd_dev *dev, struct fuzz_in *in, unsigned nq)
{
	static const uint32_t types[] = { BLK_T_IN, BLK_T_OUT, BLK_T_FLUSH,
	    BLK_T_GET_ID, BLK_T_DISCARD, BLK_T_WRITE_ZEROES, 2, 0 };
	struct vhd_chain	*c;
	const uint8_t		*p;
	uint8_t			 a, t, mode, lay;
	uint64_t		 sector = 0;
	uint32_t		 type;
	size_t			 rlen, got, off, cut, wlen = 0, len;
	unsigned		 nr, nw, i;

	a = fuzz_in_u8(in);
	t = fuzz_in_u8(in);
	mode = fuzz_in_u8(in);
	lay = fuzz_in_u8(in);
	type = types[t % 8];
	if (t % 8 == 7)
		type = (uint32_t)fuzz_in_u16(in) |
		    (uint32_t)fuzz_in_u16(in) << 16;
	switch (mode % 3) {
	case 0:
		sector = fuzz_in_u8(in);
		break;
	case 1:
		sector = FUZZ_SECTORS - fuzz_in_u8(in) % 4;
		break;
	default:
		for (i = 0; i < 4; i++)
			sector |= (uint64_t)fuzz_in_u16(in) << (16 * i);
		break;
	}
	memset(fuzz_buf, 0, 16);
	memcpy(fuzz_buf, &type, 4);
	memcpy(fuzz_buf + 8, &sector, 8);
	rlen = 16 + fuzz_in_u16(in) % 1100;
	p = fuzz_in_bytes(in, rlen - 16, &got);
	memcpy(fuzz_buf + 16, p, got);
	memset(fuzz_buf + 16 + got, 0, rlen - 16 - got);
	if (lay & 4)
		rlen = (lay >> 3) % 16;

	if (fuzz_nchains == FUZZ_CHAINS)
		return;
	c = fake_chain_new(fake_queue(dev, (a & 1) % nq));
	nr = 1 + lay % 4;
	for (off = 0, i = 0; i < nr && off < rlen; i++) {
		cut = i == nr - 1 ? rlen - off : fuzz_in_u8(in) % 40 + 1;
		if (cut > rlen - off)
			cut = rlen - off;
		fake_chain_add_readable(c, fuzz_buf + off, cut);
		off += cut;
	}
	nw = (lay >> 4) % 4;
	for (i = 0; i < nw; i++) {
		len = fuzz_in_u16(in) % 5000;
		if (len == 0)
			continue;
		fake_chain_add_writable(c, len, 0xee);
		wlen += len;
	}
	fuzz_chain[fuzz_nchains] = c;
	fuzz_type[fuzz_nchains] = type;
	fuzz_wlen[fuzz_nchains++] = wlen;
}

/* Check what the module pushed: a status byte of 0, 1 or 2 at the end
 * of the writable part whenever a length was used. */
static void
fuzz_blk_check_pushed(void)
{
	struct vhd_chain	*c;
	uint32_t		 used;
	uint8_t			 status;
	unsigned		 i;

	for (i = 0; i < fuzz_nchains; i++) {
		c = fuzz_chain[i];
		if (!fake_chain_pushed(c))
			continue;
		used = fake_chain_used(c);
		if (used == 0)
			continue;
		if (fake_chain_written(c, fuzz_buf, fuzz_wlen[i]) !=
		    fuzz_wlen[i])
			abort();
		status = fuzz_buf[fuzz_wlen[i] - 1];
		if (status > BLK_S_UNSUPP) {
			fprintf(stderr, "chain %u: status %u\n", i, status);
			abort();
		}
		if (fuzz_type[i] == BLK_T_IN && status == BLK_S_OK &&
		    used != fuzz_wlen[i]) {
			fprintf(stderr, "chain %u: IN OK with used %u of %zu\n",
			    i, used, fuzz_wlen[i]);
			abort();
		}
		if (fuzz_type[i] != BLK_T_IN && fuzz_type[i] !=
		    BLK_T_GET_ID && used != 1) {
			fprintf(stderr, "chain %u: type %u used %u\n", i,
			    fuzz_type[i], used);
			abort();
		}
	}
}

/* One input: create, run the operations, tear down, check. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in		 in = { data, size };
	struct vhd_dev		*dev;
	uint8_t			 b0, a, cfg[BLK_CONFIG_SIZE];
	unsigned		 fds, ops = 0, nq, i;
	uint32_t		 off, len;

	fds = fuzz_fake_fds();
	b0 = fuzz_in_u8(&in);
	dev = fuzz_blk_create(b0);
	nq = (b0 & 4) ? 2 : 1;
	fuzz_nchains = 0;
	for (i = 0; i < nq; i++)
		fake_queue_start(fake_queue(dev, i));

	while (in.n > 0 && ops++ < FUZZ_OPS) {
		switch (fuzz_in_u8(&in) % 6) {
		case 0:
			fuzz_blk_post(dev, &in, nq);
			break;
		case 1:
			a = fuzz_in_u8(&in);
			fake_queue_kick(fake_queue(dev, (a & 1) % nq));
			break;
		case 2:
			(void)fuzz_fake_loop(dev, 64);
			break;
		case 3:
			a = fuzz_in_u8(&in);
			fake_queue_stop(fake_queue(dev, (a & 1) % nq));
			fake_queue_start(fake_queue(dev, (a & 1) % nq));
			break;
		case 5:
			a = fuzz_in_u8(&in);
			vhd_module.ops->queue_quiesce(dev,
			    fake_queue(dev, (a & 1) % nq));
			break;
		default:
			off = fuzz_in_u8(&in) % (BLK_CONFIG_SIZE + 8);
			len = fuzz_in_u8(&in) % 16;
			if (off + len <= BLK_CONFIG_SIZE)
				(void)fake_dev_get_config(dev, off, cfg, len);
			break;
		}
		fuzz_fake_check(dev);
	}
	for (i = 0; i < nq; i++)
		fake_queue_stop(fake_queue(dev, i));
	if (fake_dev_watches(dev) != 0) {
		fprintf(stderr, "%u watches left\n", fake_dev_watches(dev));
		abort();
	}
	fuzz_fake_check(dev);
	fuzz_blk_check_pushed();
	fake_dev_free(dev);
	if (fuzz_fake_fds() != fds) {
		fprintf(stderr, "fd leak: %u fds before, %u after\n", fds,
		    fuzz_fake_fds());
		abort();
	}
	return (0);
}
