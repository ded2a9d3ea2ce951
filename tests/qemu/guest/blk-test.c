/*
 * Guest side of run-blk.sh: the block requests busybox has no applet for.
 *
 *	blk-test zero DEV OFFSET LEN	BLKZEROOUT: the kernel sends
 *					WRITE_ZEROES when the device offers it
 *	blk-test zeroes DEV OFFSET LEN	read the range with O_DIRECT (an
 *					aligned buffer) and check it is zeroes
 *	blk-test pattern FILE 0 LEN	(host) write the migration test's
 *					pattern into the first LEN bytes
 *	blk-test mig DEV 0 0		the migration test's guest loop (below)
 *
 * Exit status 0 on success; 1 with a message on stderr.
 */

#define _GNU_SOURCE

#include <sys/ioctl.h>
#include <sys/types.h>

#include <linux/fs.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Issue BLKZEROOUT on [off, off + len). */
static int
blk_test_zero(const char *dev, uint64_t off, uint64_t len)
{
	uint64_t	 range[2] = { off, len };
	int		 fd;

	if ((fd = open(dev, O_RDWR)) == -1) {
		fprintf(stderr, "open %s: %s\n", dev, strerror(errno));
		return (1);
	}
	if (ioctl(fd, BLKZEROOUT, range) == -1) {
		fprintf(stderr, "BLKZEROOUT: %s\n", strerror(errno));
		return (1);
	}
	close(fd);
	return (0);
}

/* Read [off, off + len) with O_DIRECT and check every byte is zero. */
static int
blk_test_zeroes(const char *dev, uint64_t off, uint64_t len)
{
	unsigned char	*buf;
	uint64_t	 done = 0;
	ssize_t		 n, i;
	int		 fd;

	if (posix_memalign((void **)&buf, 4096, 65536) != 0)
		return (1);
	if ((fd = open(dev, O_RDONLY | O_DIRECT)) == -1) {
		fprintf(stderr, "open %s: %s\n", dev, strerror(errno));
		return (1);
	}
	while (done < len) {
		n = pread(fd, buf, len - done < 65536 ? len - done : 65536,
		    (off_t)(off + done));
		if (n <= 0) {
			fprintf(stderr, "pread at %llu: %s\n",
			    (unsigned long long)(off + done),
			    n == 0 ? "end of device" : strerror(errno));
			return (1);
		}
		for (i = 0; i < n; i++) {
			if (buf[i] != 0) {
				fprintf(stderr, "byte %llu is %u, not 0\n",
				    (unsigned long long)(off + done + i),
				    buf[i]);
				return (1);
			}
		}
		done += (uint64_t)n;
	}
	close(fd);
	free(buf);
	return (0);
}

/*
 * The migration test (run-blk-migrate.sh).  Disk layout: the pattern in
 * [0, 8 MiB); the host's stop word at 8 MiB; our progress sector at
 * 8 MiB + 4 KiB; our own blocks, 16 x 1 MiB, from 16 MiB.
 */
#define MIG_MB		(1024 * 1024)
#define MIG_PAT_LEN	(8 * MIG_MB)
#define MIG_STOP	(8 * MIG_MB)
#define MIG_PROGRESS	(8 * MIG_MB + 4096)
#define MIG_OWN		(16 * MIG_MB)
#define MIG_NOWN	16
#define MIG_NBUF	32

/* Word `w` (4-byte index in the file) of the pattern. */
static uint32_t
blk_test_pat(uint64_t w)
{
	return ((uint32_t)(w * 2654435761u) ^ 0xa5a5a5a5u);
}

/* Word `w` of own block `k` written in round `r`. */
static uint32_t
blk_test_own(uint32_t r, unsigned k, uint64_t w)
{
	return ((uint32_t)(w * 40503u) ^ (r << 8) ^ k ^ 0x3c3c0000u);
}

/* Write the pattern into the first len bytes of a host file. */
static int
blk_test_pattern(const char *file, uint64_t len)
{
	uint32_t	 buf[16384];
	uint64_t	 off, i;
	int		 fd;

	if ((fd = open(file, O_WRONLY)) == -1) {
		fprintf(stderr, "open %s: %s\n", file, strerror(errno));
		return (1);
	}
	for (off = 0; off < len; off += sizeof buf) {
		for (i = 0; i < sizeof buf / 4; i++)
			buf[i] = blk_test_pat(off / 4 + i);
		if (pwrite(fd, buf, sizeof buf, (off_t)off) !=
		    (ssize_t)sizeof buf) {
			fprintf(stderr, "pwrite: %s\n", strerror(errno));
			return (1);
		}
	}
	close(fd);
	return (0);
}

/* Report a failure on the console and in the progress sector. */
static int
blk_test_mig_fail(int fd, unsigned char *sec, const char *fmt, uint32_t r,
    uint64_t a, uint64_t b)
{
	char	 msg[256];

	snprintf(msg, sizeof msg, fmt, (unsigned long long)a,
	    (unsigned long long)b);
	printf("VHOSTD-BLK-FAIL round %u: %s\n", r, msg);
	fflush(stdout);
	memset(sec, 0, 4096);
	snprintf((char *)sec, 4096, "FAIL %u %s\n", r, msg);
	(void)pwrite(fd, sec, 4096, MIG_PROGRESS);
	return (1);
}

/*
 * The guest loop of the migration test, until the host writes "STOP".
 * Each round the device reads 1 MiB of the pattern into one of MIG_NBUF
 * buffers, from another offset than that buffer's last read, and then
 * every buffer is checked.  The CPU never writes the buffers: only the
 * device's writes change them, so a device write the dirty log missed
 * leaves the buffer's previous contents on the destination, from the
 * wrong offset.  Each round also writes an own block with a pattern of
 * the round, reads it back, and re-reads an older one.  The round number
 * goes to the progress sector, where the host watches it.
 */
static int
blk_test_mig(const char *dev)
{
	unsigned char	*buf[MIG_NBUF], *wb, *rb, *sec;
	uint64_t	 boff[MIG_NBUF], i, w;
	uint32_t	 gen[MIG_NOWN], visits[MIG_NBUF], r, *p;
	unsigned	 b, k, j;
	int		 fd;

	if ((fd = open(dev, O_RDWR | O_DIRECT)) == -1) {
		fprintf(stderr, "open %s: %s\n", dev, strerror(errno));
		return (1);
	}
	for (b = 0; b < MIG_NBUF; b++) {
		if (posix_memalign((void **)&buf[b], 4096, MIG_MB) != 0)
			return (1);
		boff[b] = UINT64_MAX;
		visits[b] = 0;
	}
	if (posix_memalign((void **)&wb, 4096, MIG_MB) != 0 ||
	    posix_memalign((void **)&rb, 4096, MIG_MB) != 0 ||
	    posix_memalign((void **)&sec, 4096, 4096) != 0)
		return (1);
	for (k = 0; k < MIG_NOWN; k++)
		gen[k] = UINT32_MAX;
	printf("VHOSTD-BLK-MIG-START\n");
	fflush(stdout);
	for (r = 0;; r++) {
		b = r % MIG_NBUF;
		/* 29 offsets 256 KiB apart; the next visit of a buffer
		 * always reads another one. */
		boff[b] = (uint64_t)((b * 7 + visits[b]++ * 3) % 29) *
		    (256 * 1024);
		if (pread(fd, buf[b], MIG_MB, (off_t)boff[b]) != MIG_MB)
			return (blk_test_mig_fail(fd, sec, "pattern read at "
			    "%llu: %llu", r, boff[b], (uint64_t)errno));
		/* One word every 256 bytes of every buffer read so far. */
		for (j = 0; j < MIG_NBUF; j++) {
			if (boff[j] == UINT64_MAX)
				continue;
			p = (uint32_t *)(void *)buf[j];
			for (i = 0; i < MIG_MB / 4; i += 64) {
				w = boff[j] / 4 + i;
				if (p[i] != blk_test_pat(w))
					return (blk_test_mig_fail(fd, sec,
					    "buffer word %llu of disk offset "
					    "%llu is wrong", r, i, boff[j]));
			}
		}
		k = r % MIG_NOWN;
		p = (uint32_t *)(void *)wb;
		for (i = 0; i < MIG_MB / 4; i++)
			p[i] = blk_test_own(r, k, i);
		if (pwrite(fd, wb, MIG_MB, (off_t)(MIG_OWN +
		    (uint64_t)k * MIG_MB)) != MIG_MB)
			return (blk_test_mig_fail(fd, sec, "own write %llu: "
			    "%llu", r, k, (uint64_t)errno));
		gen[k] = r;
		for (j = 0; j < 2; j++) {
			k = (r + j * (MIG_NOWN / 2)) % MIG_NOWN;
			if (gen[k] == UINT32_MAX)
				continue;
			memset(rb, 0x11, MIG_MB);
			if (pread(fd, rb, MIG_MB, (off_t)(MIG_OWN +
			    (uint64_t)k * MIG_MB)) != MIG_MB)
				return (blk_test_mig_fail(fd, sec, "own read "
				    "%llu: %llu", r, k, (uint64_t)errno));
			p = (uint32_t *)(void *)rb;
			for (i = 0; i < MIG_MB / 4; i++) {
				if (p[i] != blk_test_own(gen[k], k, i))
					return (blk_test_mig_fail(fd, sec,
					    "own block %llu word %llu is "
					    "wrong", r, k, i));
			}
		}
		memset(sec, 0, 4096);
		snprintf((char *)sec, 4096, "ROUND %u\n", r);
		if (pwrite(fd, sec, 4096, MIG_PROGRESS) != 4096)
			return (blk_test_mig_fail(fd, sec, "progress write: "
			    "%llu %llu", r, (uint64_t)errno, 0));
		if (pread(fd, sec, 4096, MIG_STOP) != 4096)
			return (blk_test_mig_fail(fd, sec, "stop read: "
			    "%llu %llu", r, (uint64_t)errno, 0));
		if (memcmp(sec, "STOP", 4) == 0)
			break;
	}
	printf("VHOSTD-BLK-MIG-ROUNDS %u\n", r + 1);
	close(fd);
	return (0);
}

int
main(int argc, char **argv)
{
	uint64_t	 off, len;

	if (argc != 5) {
		fprintf(stderr, "usage: blk-test zero|zeroes|pattern|mig DEV "
		    "OFFSET LEN\n");
		return (1);
	}
	off = strtoull(argv[3], NULL, 0);
	len = strtoull(argv[4], NULL, 0);
	if (strcmp(argv[1], "zero") == 0)
		return (blk_test_zero(argv[2], off, len));
	if (strcmp(argv[1], "zeroes") == 0)
		return (blk_test_zeroes(argv[2], off, len));
	if (strcmp(argv[1], "pattern") == 0)
		return (blk_test_pattern(argv[2], len));
	if (strcmp(argv[1], "mig") == 0)
		return (blk_test_mig(argv[2]));
	fprintf(stderr, "blk-test: unknown command %s\n", argv[1]);
	return (1);
}
