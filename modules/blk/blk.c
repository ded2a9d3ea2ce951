/*
 * blk: the virtio block device (device ID 2) over a file or a block
 * device.  This file reads the keys, opens the image, works out its
 * geometry and builds the config space; blk_io.c serves the queues and
 * blk_req.c parses requests.
 *
 * Keys (a repeated key is allowed and the last one wins):
 *	path=FILE		the image: a regular file or a block device
 *	readonly=on|off		open read-only, offer VIRTIO_BLK_F_RO (off)
 *	num-queues=N		1..64 request queues, each on its own worker (1)
 *	queue-size=N		largest ring, a power of two 4..32768 (1024)
 *	serial=STRING		GET_ID answer, at most 20 bytes ("")
 *	direct=on|off		O_DIRECT (on); a file system refusing it gets
 *				buffered I/O and a log line
 *	discard=on|off		offer DISCARD (on unless readonly)
 *	write-zeroes=on|off	offer WRITE_ZEROES (on unless readonly)
 *
 * The image is opened once at create and kept across frontends, queue
 * stops and device resets.  Its size is read once: the capacity is the
 * size in whole 512-byte sectors.
 */

#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <linux/falloc.h>
#include <linux/fs.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "blk.h"

/* A configuration key and its parser. */
struct blk_key {
	const char	*name;
	int		(*parse)(struct blk *, const char *, char **);
};

static int	blk_key_path(struct blk *, const char *, char **);
static int	blk_key_readonly(struct blk *, const char *, char **);
static int	blk_key_num_queues(struct blk *, const char *, char **);
static int	blk_key_queue_size(struct blk *, const char *, char **);
static int	blk_key_serial(struct blk *, const char *, char **);
static int	blk_key_direct(struct blk *, const char *, char **);
static int	blk_key_discard(struct blk *, const char *, char **);
static int	blk_key_zeroes(struct blk *, const char *, char **);

static const struct blk_key blk_keys[] = {
	{ "direct",		blk_key_direct },
	{ "discard",		blk_key_discard },
	{ "num-queues",		blk_key_num_queues },
	{ "path",		blk_key_path },
	{ "queue-size",		blk_key_queue_size },
	{ "readonly",		blk_key_readonly },
	{ "serial",		blk_key_serial },
	{ "write-zeroes",	blk_key_zeroes },
};

/*
 * The daemon's function table, kept for the callbacks that get only the
 * device handle (the SDK guarantees one table per process).  Written by
 * create on the main thread before any callback of the device runs.
 */
static const struct vhd_api *blk_api;

/* Return a malloc'd message for *cause, or NULL when out of memory. */
static char * __attribute__((format(printf, 1, 2)))
blk_cause(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	return (s);
}

/* Return the device's private data.  Any thread. */
struct blk *
blk_from_dev(struct vhd_dev *dev)
{
	if (blk_api == NULL)
		return (NULL);
	return (blk_api->dev_priv(dev));
}

/* Parse on/off (also yes/no, true/false, 1/0).  0 or -1. */
static int
blk_bool(const char *value, int *out)
{
	static const char *const on[] = { "on", "yes", "true", "1" };
	static const char *const off[] = { "off", "no", "false", "0" };
	size_t			 i;

	for (i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		if (strcmp(value, on[i]) == 0) {
			*out = 1;
			return (0);
		}
		if (strcmp(value, off[i]) == 0) {
			*out = 0;
			return (0);
		}
	}
	return (-1);
}

/* Parse a boolean key into *out, or set *cause.  0 or -1. */
static int
blk_key_bool(const char *key, const char *value, int *out, char **cause)
{
	if (blk_bool(value, out) == 0)
		return (0);
	*cause = blk_cause("blk: bad %s '%s': expected on or off", key,
	    value);
	return (-1);
}

/* Key path: the image.  Main thread. */
static int
blk_key_path(struct blk *b, const char *value, char **cause)
{
	char	*copy;

	if (*value == '\0') {
		*cause = blk_cause("blk: empty path");
		return (-1);
	}
	if ((copy = strdup(value)) == NULL) {
		*cause = blk_cause("blk: out of memory");
		return (-1);
	}
	free(b->path);
	b->path = copy;
	return (0);
}

/* Key readonly.  Main thread. */
static int
blk_key_readonly(struct blk *b, const char *value, char **cause)
{
	return (blk_key_bool("readonly", value, &b->readonly, cause));
}

/* Key direct.  Main thread. */
static int
blk_key_direct(struct blk *b, const char *value, char **cause)
{
	return (blk_key_bool("direct", value, &b->direct, cause));
}

/* Key discard.  Main thread. */
static int
blk_key_discard(struct blk *b, const char *value, char **cause)
{
	return (blk_key_bool("discard", value, &b->discard, cause));
}

/* Key write-zeroes.  Main thread. */
static int
blk_key_zeroes(struct blk *b, const char *value, char **cause)
{
	return (blk_key_bool("write-zeroes", value, &b->zeroes, cause));
}

/* Key num-queues: 1..VHD_MAX_QUEUES.  Main thread. */
static int
blk_key_num_queues(struct blk *b, const char *value, char **cause)
{
	uint64_t	 v;

	if (b->api->parse_u64(value, 1, VHD_MAX_QUEUES, &v) != 0) {
		*cause = blk_cause("blk: bad num-queues '%s': expected "
		    "1..%d", value, VHD_MAX_QUEUES);
		return (-1);
	}
	b->num_queues = (uint32_t)v;
	return (0);
}

/* Key queue-size: a power of two, 4..32768.  Main thread. */
static int
blk_key_queue_size(struct blk *b, const char *value, char **cause)
{
	uint64_t	 v;

	if (b->api->parse_u64(value, 4, BLK_QUEUE_SIZE_MAX, &v) != 0 ||
	    (v & (v - 1)) != 0) {
		*cause = blk_cause("blk: bad queue-size '%s': expected a "
		    "power of two, 4..%d", value, BLK_QUEUE_SIZE_MAX);
		return (-1);
	}
	b->queue_size = (uint32_t)v;
	return (0);
}

/* Key serial: the GET_ID string, at most 20 bytes.  Main thread. */
static int
blk_key_serial(struct blk *b, const char *value, char **cause)
{
	size_t	 len = strlen(value);

	if (len > BLK_ID_BYTES) {
		*cause = blk_cause("blk: serial '%s' is longer than %d bytes",
		    value, BLK_ID_BYTES);
		return (-1);
	}
	memset(b->serial, 0, sizeof(b->serial));
	memcpy(b->serial, value, len);
	return (0);
}

/* Is v a power of two in [512, 64 KiB]? */
static int
blk_sane_block(uint32_t v)
{
	return (v >= BLK_SECTOR && v <= 65536 && (v & (v - 1)) == 0);
}

/*
 * Open the image: O_DIRECT when asked, buffered with a log line when the
 * file system refuses O_DIRECT (EINVAL at open).  0 or -1 with *cause.
 * Main thread.
 */
static int
blk_open(struct blk *b, char **cause)
{
	int	 flags, fd;

	flags = (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	fd = -1;
	if (b->direct) {
		fd = open(b->path, flags | O_DIRECT);
		if (fd != -1)
			b->direct_on = 1;
		else if (errno == EINVAL)
			b->api->log(b->dev, VHD_LOG_WARN, "%s: the file system "
			    "refuses O_DIRECT (%s); using buffered I/O",
			    b->path, strerror(errno));
		else {
			*cause = blk_cause("blk: cannot open '%s': %s",
			    b->path, strerror(errno));
			return (-1);
		}
	}
	if (fd == -1 && (fd = open(b->path, flags)) == -1) {
		*cause = blk_cause("blk: cannot open '%s': %s", b->path,
		    strerror(errno));
		return (-1);
	}
	b->fd = fd;
	return (0);
}

/*
 * Read the size and the block geometry: BLK* ioctls for a block device,
 * st_blksize for a file, and the O_DIRECT alignment from statx
 * (STATX_DIOALIGN, Linux 6.1) when the kernel has it.  0 or -1 with
 * *cause.  Main thread.
 */
static int
blk_geometry(struct blk *b, char **cause)
{
	struct statx	 stx;
	struct stat	 st;
	uint64_t	 size;
	int		 v;
	unsigned	 u;

	if (fstat(b->fd, &st) == -1) {
		*cause = blk_cause("blk: cannot stat '%s': %s", b->path,
		    strerror(errno));
		return (-1);
	}
	b->logical = BLK_SECTOR;
	b->physical = BLK_SECTOR;
	b->mem_align = BLK_SECTOR;
	if (S_ISBLK(st.st_mode)) {
		b->bdev = 1;
		if (ioctl(b->fd, BLKGETSIZE64, &size) == -1) {
			*cause = blk_cause("blk: cannot read the size of "
			    "'%s': %s", b->path, strerror(errno));
			return (-1);
		}
		if (ioctl(b->fd, BLKSSZGET, &v) == 0 && v > 0)
			b->logical = (uint32_t)v;
		if (ioctl(b->fd, BLKPBSZGET, &u) == 0)
			b->physical = u;
		if (ioctl(b->fd, BLKIOMIN, &u) == 0)
			b->io_min = u;
		if (ioctl(b->fd, BLKIOOPT, &u) == 0)
			b->io_opt = u;
		if (ioctl(b->fd, BLKALIGNOFF, &v) == 0 && v > 0)
			b->align_off = (uint32_t)v;
		b->mem_align = b->logical;
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
		if (st.st_blksize > 0)
			b->physical = (uint32_t)st.st_blksize;
		b->io_min = b->physical;
	} else {
		*cause = blk_cause("blk: '%s' is not a regular file or a "
		    "block device", b->path);
		return (-1);
	}
	if (b->direct_on && statx(b->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN,
	    &stx) == 0 && (stx.stx_mask & STATX_DIOALIGN) != 0 &&
	    stx.stx_dio_offset_align != 0) {
		b->logical = stx.stx_dio_offset_align;
		b->mem_align = stx.stx_dio_mem_align != 0 ?
		    stx.stx_dio_mem_align : b->logical;
	}
	if (!b->direct_on)
		b->mem_align = 1;
	if (!blk_sane_block(b->logical)) {
		*cause = blk_cause("blk: '%s' has an unusable block size %u",
		    b->path, b->logical);
		return (-1);
	}
	if (!blk_sane_block(b->physical) || b->physical < b->logical)
		b->physical = b->logical;
	if (b->io_min < b->logical || b->io_min % b->logical != 0)
		b->io_min = b->physical;
	if (b->io_opt % b->logical != 0)
		b->io_opt = 0;
	b->capacity = size >> BLK_SECTOR_SHIFT;
	if (b->capacity < b->logical / BLK_SECTOR) {
		*cause = blk_cause("blk: '%s' is smaller than one block "
		    "(%llu bytes)", b->path, (unsigned long long)size);
		return (-1);
	}
	/* Whole logical blocks only. */
	b->capacity -= b->capacity % (b->logical / BLK_SECTOR);
	return (0);
}

/*
 * Can holes be punched in the image?  Asked of a regular file with a
 * hole past its end (KEEP_SIZE: nothing changes); a block device always
 * can (blkdev_fallocate).  Main thread.
 */
static int
blk_can_punch(struct blk *b)
{
	off_t	 end = (off_t)(b->capacity << BLK_SECTOR_SHIFT);

	if (b->bdev)
		return (1);
	return (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	    end, b->physical) == 0);
}

/* Store a little-endian u16 into the config space. */
static void
blk_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Store a little-endian u32. */
static void
blk_put32(uint8_t *p, uint32_t v)
{
	blk_put16(p, (uint16_t)v);
	blk_put16(p + 2, (uint16_t)(v >> 16));
}

/* Store a little-endian u64. */
static void
blk_put64(uint8_t *p, uint64_t v)
{
	blk_put32(p, (uint32_t)v);
	blk_put32(p + 4, (uint32_t)(v >> 32));
}

/* log2 of a power of two. */
static uint8_t
blk_log2(uint32_t v)
{
	uint8_t	 n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return (n);
}

/*
 * Work out the feature bits and the config space (virtio 1.2 5.2.4:
 * capacity 0, size_max 8, seg_max 12, geometry 16, blk_size 20, topology
 * 24, writeback 32, num_queues 34, discard 36..47, write zeroes 48..56).
 * Main thread.
 */
static void
blk_build_config(struct blk *b)
{
	uint8_t		*c = b->config;
	uint32_t	 seg_max;

	b->features = (1ULL << BLK_F_SIZE_MAX) | (1ULL << BLK_F_SEG_MAX) |
	    (1ULL << BLK_F_BLK_SIZE) | (1ULL << BLK_F_FLUSH) |
	    (1ULL << BLK_F_TOPOLOGY) | (1ULL << BLK_F_MQ);
	if (b->readonly)
		b->features |= 1ULL << BLK_F_RO;
	if (b->discard)
		b->features |= 1ULL << BLK_F_DISCARD;
	if (b->zeroes)
		b->features |= 1ULL << BLK_F_WRITE_ZEROES;

	seg_max = b->queue_size - 2 < BLK_SEG_MAX ? b->queue_size - 2 :
	    BLK_SEG_MAX;
	memset(c, 0, BLK_CONFIG_SIZE);
	blk_put64(c + 0, b->capacity);
	blk_put32(c + 8, BLK_SIZE_MAX);
	blk_put32(c + 12, seg_max);
	blk_put32(c + 20, b->logical);
	c[24] = blk_log2(b->physical / b->logical);
	c[25] = (uint8_t)(b->align_off / b->logical);
	blk_put16(c + 26, (uint16_t)(b->io_min / b->logical > 0xffff ? 0 :
	    b->io_min / b->logical));
	blk_put32(c + 28, b->io_opt / b->logical);
	blk_put16(c + 34, (uint16_t)b->num_queues);
	if (b->discard) {
		blk_put32(c + 36, BLK_DWZ_SECTORS_MAX);
		blk_put32(c + 40, BLK_DWZ_SEG_MAX);
		blk_put32(c + 44, b->physical / BLK_SECTOR);
	}
	if (b->zeroes) {
		blk_put32(c + 48, BLK_DWZ_SECTORS_MAX);
		blk_put32(c + 52, BLK_DWZ_SEG_MAX);
		c[56] = b->discard ? 1 : 0;
	}
}

/* Free the private data.  Main thread. */
static void
blk_free(struct blk *b)
{
	blk_io_fini(b);
	if (b->fd != -1)
		close(b->fd);
	free(b->path);
	free(b);
}

/*
 * Create a blk device from its keys: open the image, read its geometry,
 * set up one io_uring per queue, and ask for one worker per queue.
 * Returns 0, or -1 with *cause.  Main thread.
 */
static int
blk_create(struct vhd_dev *dev, const struct vhd_api *api,
    const struct vhd_kv *kv, size_t nkv, struct vhd_dev_info *info,
    char **cause)
{
	struct blk	*b;
	size_t		 i, k, nk = sizeof(blk_keys) / sizeof(blk_keys[0]);
	int		 discard_set = 0, zeroes_set = 0;

	*cause = NULL;
	if (api->size < offsetof(struct vhd_api, log_ratelimited) +
	    sizeof(api->log_ratelimited)) {
		*cause = blk_cause("blk: needs vhostd module ABI 1.1");
		return (-1);
	}
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		*cause = blk_cause("blk: out of memory");
		return (-1);
	}
	b->api = api;
	b->dev = dev;
	b->fd = -1;
	b->direct = 1;
	b->num_queues = 1;
	b->queue_size = BLK_QUEUE_SIZE_DEFAULT;

	for (i = 0; i < nkv; i++) {
		for (k = 0; k < nk; k++) {
			if (strcmp(kv[i].key, blk_keys[k].name) == 0)
				break;
		}
		if (k == nk) {
			*cause = blk_cause("blk: unknown key '%s'", kv[i].key);
			goto fail;
		}
		if (blk_keys[k].parse(b, kv[i].value, cause) != 0)
			goto fail;
		if (blk_keys[k].parse == blk_key_discard)
			discard_set = 1;
		if (blk_keys[k].parse == blk_key_zeroes)
			zeroes_set = 1;
	}
	if (b->path == NULL) {
		*cause = blk_cause("blk: no path: give the image with "
		    "path=FILE");
		goto fail;
	}
	if (b->readonly) {
		if ((discard_set && b->discard) || (zeroes_set && b->zeroes)) {
			*cause = blk_cause("blk: discard and write-zeroes "
			    "need a writable device");
			goto fail;
		}
		b->discard = b->zeroes = 0;
	} else {
		if (!discard_set)
			b->discard = 1;
		if (!zeroes_set)
			b->zeroes = 1;
	}
	if (blk_open(b, cause) != 0 || blk_geometry(b, cause) != 0)
		goto fail;
	if ((b->discard || b->zeroes) && !blk_can_punch(b)) {
		/* Write zeroes falls back to punching where ZERO_RANGE is
		 * missing, so it needs holes as much as discard does. */
		if ((discard_set && b->discard) ||
		    (zeroes_set && b->zeroes)) {
			*cause = blk_cause("blk: '%s' cannot punch holes "
			    "(%s): discard and write-zeroes are impossible",
			    b->path, strerror(errno));
			goto fail;
		}
		api->log(dev, VHD_LOG_INFO, "%s: cannot punch holes (%s); "
		    "discard and write-zeroes not offered", b->path,
		    strerror(errno));
		b->discard = b->zeroes = 0;
	}
	blk_build_config(b);
	if (blk_io_init(b, cause) != 0)
		goto fail;

	info->device_id = BLK_DEVICE_ID;
	info->num_queues = b->num_queues;
	info->max_queue_size = b->queue_size;
	info->features = b->features;
	info->config_size = BLK_CONFIG_SIZE;
	info->num_workers = b->num_queues;
	memset(info->queue_masks, 0, sizeof(info->queue_masks));
	for (i = 0; i < b->num_queues; i++)
		info->queue_masks[i] = 1ULL << i;
	/*
	 * Inflight tracking: after a daemon restart the requests the old
	 * one took are served again.  Every virtio-blk request is safe to
	 * serve twice: reads and writes carry their own sector and data
	 * (the guest does not touch the buffers of a request in flight),
	 * flush, discard and write-zeroes give the same result again, and
	 * GET_ID is a read.  The status byte is written last, so a request
	 * cut short by the kill is simply done again in full.
	 */
	if (info->size >= offsetof(struct vhd_dev_info, flags) +
	    sizeof(info->flags))
		info->flags |= VHD_DEV_F_INFLIGHT;

	/* Set once: a reload creates devices while the module's other
	 * devices run, and their workers read it. */
	if (blk_api == NULL)
		blk_api = api;
	api->dev_set_priv(dev, b);
	api->log(dev, VHD_LOG_INFO, "%s: %llu sectors, block %u, %s%s, "
	    "%u queue%s of %u, discard %s, write-zeroes %s", b->path,
	    (unsigned long long)b->capacity, b->logical,
	    b->readonly ? "read-only, " : "",
	    b->direct_on ? "O_DIRECT" : "buffered", b->num_queues,
	    b->num_queues == 1 ? "" : "s", b->queue_size,
	    b->discard ? "on" : "off", b->zeroes ? "on" : "off");
	return (0);

fail:
	blk_free(b);
	return (-1);
}

/* Free the device.  Main thread, all queues stopped. */
static void
blk_destroy(struct vhd_dev *dev)
{
	struct blk	*b = blk_from_dev(dev);

	if (b == NULL)
		return;
	b->api->dev_set_priv(dev, NULL);
	blk_free(b);
}

/* Read config space.  Main thread; offset and len are checked. */
static int
blk_get_config(struct vhd_dev *dev, uint32_t offset, void *buf,
    uint32_t len)
{
	struct blk	*b = blk_from_dev(dev);

	if (offset > BLK_CONFIG_SIZE || len > BLK_CONFIG_SIZE - offset)
		return (-1);
	memcpy(buf, b->config + offset, len);
	return (0);
}

/*
 * Write config space: only the writeback byte is writable in the spec,
 * and only with CONFIG_WCE, which is not offered.  Accept and ignore a
 * write of the same value as a no-op, refuse the rest.  Main thread.
 */
static int
blk_set_config(struct vhd_dev *dev, uint32_t offset, const void *buf,
    uint32_t len)
{
	struct blk	*b = blk_from_dev(dev);

	if (offset > BLK_CONFIG_SIZE || len > BLK_CONFIG_SIZE - offset)
		return (-1);
	if (memcmp(b->config + offset, buf, len) == 0)
		return (0);
	b->api->log_ratelimited(dev, VHD_LOG_WARN, "config write at %u "
	    "(%u bytes) refused: config space is read-only", offset, len);
	return (-1);
}

/*
 * Device state for migration.  A block device keeps its data in the
 * image, which both sides share, and its in-flight requests are drained
 * when the queues stop (blk_io_queue_stop), so all that moves is what
 * the guest has seen of the device: the offered features and config
 * space (capacity, geometry, limits).  The destination must present the
 * same, or the guest would see its disk change under it: refused.
 * Layout: u64 version (1), u64 features, BLK_CONFIG_SIZE config bytes.
 * Main thread, queues stopped.
 */
#define BLK_STATE_VERSION	1

static int
blk_state_save(struct vhd_dev *dev, void **buf, size_t *len)
{
	struct blk		*b = blk_from_dev(dev);
	struct vhd_state_buf	 sb = { 0 };

	vhd_state_put_u64(&sb, BLK_STATE_VERSION);
	vhd_state_put_u64(&sb, b->features);
	vhd_state_put(&sb, b->config, BLK_CONFIG_SIZE);
	if (sb.failed) {
		free(sb.p);
		return (-1);
	}
	*buf = sb.p;
	*len = sb.len;
	return (0);
}

static int
blk_state_load(struct vhd_dev *dev, const void *buf, size_t len)
{
	struct blk		*b = blk_from_dev(dev);
	struct vhd_state_reader	 r = { buf, len, 0 };
	uint8_t			 config[BLK_CONFIG_SIZE];
	uint64_t		 version, features;

	if (vhd_state_get_range(&r, BLK_STATE_VERSION, BLK_STATE_VERSION,
	    &version) == -1 || vhd_state_get_u64(&r, &features) == -1 ||
	    vhd_state_get(&r, config, sizeof config) == -1 ||
	    r.off != r.len) {
		b->api->log(dev, VHD_LOG_ERR, "state load: malformed blk "
		    "state (%zu bytes)", len);
		return (-1);
	}
	if (features != b->features ||
	    memcmp(config, b->config, sizeof config) != 0) {
		b->api->log(dev, VHD_LOG_ERR, "state load: the source "
		    "presented another disk (features or config space "
		    "differ: capacity, block size, limits)");
		return (-1);
	}
	return (0);
}

static const struct vhd_device_ops blk_ops = {
	.size = sizeof(struct vhd_device_ops),
	.create = blk_create,
	.destroy = blk_destroy,
	.queue_handler = blk_io_queue_handler,
	.queue_start = blk_io_queue_start,
	.queue_stop = blk_io_queue_stop,
	.get_config = blk_get_config,
	.set_config = blk_set_config,
	.queue_quiesce = blk_io_queue_quiesce,
	.state_save = blk_state_save,
	.state_load = blk_state_load,
};

VHD_MODULE("blk", "1.0", "virtio block device (file or block device, "
    "io_uring, O_DIRECT, discard, write zeroes)", &blk_ops);
