/*
 * Guest side of run-blk.sh: the block requests busybox has no applet for.
 *
 *	blk-test zero DEV OFFSET LEN	BLKZEROOUT: the kernel sends
 *					WRITE_ZEROES when the device offers it
 *	blk-test zeroes DEV OFFSET LEN	read the range with O_DIRECT (an
 *					aligned buffer) and check it is zeroes
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

int
main(int argc, char **argv)
{
	uint64_t	 off, len;

	if (argc != 5) {
		fprintf(stderr, "usage: blk-test zero|zeroes DEV OFFSET LEN\n");
		return (1);
	}
	off = strtoull(argv[3], NULL, 0);
	len = strtoull(argv[4], NULL, 0);
	if (strcmp(argv[1], "zero") == 0)
		return (blk_test_zero(argv[2], off, len));
	if (strcmp(argv[1], "zeroes") == 0)
		return (blk_test_zeroes(argv[2], off, len));
	fprintf(stderr, "blk-test: unknown command %s\n", argv[1]);
	return (1);
}
