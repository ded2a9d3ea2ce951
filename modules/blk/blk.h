/*
 * blk: the virtio block device (virtio 1.2 section 5.2, device ID 2),
 * serving a regular file or a block device through io_uring.
 *
 * blk.c reads the keys, opens the image and builds the config space;
 * blk_req.c parses requests (header, layout, ranges) into what to do,
 * with no I/O and no daemon calls, so the fuzzer and the unit tests can
 * drive it alone; blk_io.c runs the queues (one io_uring per queue,
 * submitted and completed on the queue's worker) and blk_exec.c serves
 * each request.
 */

#ifndef VHOSTD_MODULES_BLK_H
#define VHOSTD_MODULES_BLK_H

#include <sys/uio.h>

#include <stddef.h>
#include <stdint.h>

#include <liburing.h>

#include <vhostd/vhostd.h>

#define BLK_DEVICE_ID		2
#define BLK_SECTOR_SHIFT	9
#define BLK_SECTOR		512u

/* Request types (virtio 1.2 5.2.6). */
#define BLK_T_IN		0
#define BLK_T_OUT		1
#define BLK_T_FLUSH		4
#define BLK_T_GET_ID		8
#define BLK_T_DISCARD		11
#define BLK_T_WRITE_ZEROES	13

/* Status byte values. */
#define BLK_S_OK		0
#define BLK_S_IOERR		1
#define BLK_S_UNSUPP		2

/* Feature bits (virtio 1.2 5.2.3). */
#define BLK_F_SIZE_MAX		1
#define BLK_F_SEG_MAX		2
#define BLK_F_RO		5
#define BLK_F_BLK_SIZE		6
#define BLK_F_FLUSH		9
#define BLK_F_TOPOLOGY		10
#define BLK_F_MQ		12
#define BLK_F_DISCARD		13
#define BLK_F_WRITE_ZEROES	14

#define BLK_HDR_SIZE		16	/* type, reserved (ioprio), sector */
#define BLK_ID_BYTES		20	/* GET_ID string */
#define BLK_DWZ_SIZE		16	/* one discard/write-zeroes range */
#define BLK_DWZ_F_UNMAP		0x1

/*
 * Config space: the virtio 1.2 struct virtio_blk_config is 72 bytes (up to
 * the secure-erase fields, which stay zero); the zoned fields of later
 * specs (up to byte 96) read as zero too, so a newer frontend asking for
 * the whole struct is answered.
 */
#define BLK_CONFIG_SIZE		96

#define BLK_QUEUE_SIZE_DEFAULT	1024
#define BLK_QUEUE_SIZE_MAX	32768
#define BLK_SEG_MAX		254	/* data segments per request */
#define BLK_SIZE_MAX		(1u << 20)	/* bytes per segment */
#define BLK_DWZ_SEG_MAX		16	/* ranges per discard/zeroes */
#define BLK_DWZ_SECTORS_MAX	(1u << 22)	/* 2 GiB per range */
#define BLK_IOV_MAX		1024	/* UIO_MAXIOV: iovecs per request */
#define BLK_BOUNCE_MAX		(32u << 20)	/* bounce bytes per queue */

/* What a parsed request asks for. */
enum blk_op {
	BLK_OP_READ,		/* readv into the writable part */
	BLK_OP_WRITE,		/* writev from the readable part */
	BLK_OP_FLUSH,		/* fdatasync */
	BLK_OP_GET_ID,		/* copy the serial */
	BLK_OP_DISCARD,		/* punch the ranges */
	BLK_OP_ZEROES,		/* zero the ranges */
	BLK_OP_ANSWER,		/* answer `status` at once, no I/O */
	BLK_OP_DROP,		/* no status byte: give back unused */
};

/* The device limits a request is checked against. */
struct blk_limits {
	uint64_t	 capacity;	/* sectors */
	uint32_t	 align;		/* offset/length alignment, bytes */
	int		 readonly;
	int		 discard;	/* offered and acked */
	int		 zeroes;	/* offered and acked */
	int		 may_unmap;	/* write_zeroes_may_unmap */
};

/* One discard or write-zeroes range, host byte order. */
struct blk_range {
	uint64_t	 sector;
	uint32_t	 num_sectors;
	uint32_t	 flags;
};

/* A parsed request.  Offsets are into the chain's readable (write data,
 * ranges) or writable (read data, id, status) part. */
struct blk_parse {
	enum blk_op	 op;
	uint8_t		 status;	/* BLK_OP_ANSWER */
	const char	*why;		/* why it is answered or dropped */
	int		 warn;		/* a driver error worth logging */
	uint32_t	 type;
	uint64_t	 sector;
	uint64_t	 len;		/* data bytes */
	size_t		 data_off;
	size_t		 status_off;	/* in the writable part */
	unsigned	 nranges;	/* DISCARD/ZEROES */
};

/*
 * Parse a request whose chain has `rlen` readable and `wlen` writable
 * bytes; `hdr` holds the first min(rlen, 16) readable bytes.  Never
 * fails: every request gets an op.  Any thread.
 */
void	 blk_req_parse(const struct blk_limits *, const uint8_t *hdr,
	    size_t rlen, size_t wlen, struct blk_parse *);
/*
 * Check and decode the `n` ranges of a DISCARD (zeroes 0) or
 * WRITE_ZEROES (zeroes 1) request from `raw` (n * 16 bytes).  Returns
 * BLK_S_OK or the status to answer, with *why set.  Any thread.
 */
uint8_t	 blk_req_ranges(const struct blk_limits *, int zeroes,
	    const uint8_t *raw, unsigned n, struct blk_range *out,
	    const char **why);

struct blk;
struct blk_queue;

/* One request in flight: a chain and the I/O serving it. */
struct blk_req {
	struct blk_queue	*bq;
	struct vhd_chain	*chain;
	struct blk_req		*next_free;
	struct blk_parse	 p;
	struct iovec		*iov;		/* data, as the kernel sees it */
	int			 niov;
	int			 iov_cap;
	void			*bounce;	/* aligned copy, or NULL */
	size_t			 bounce_len;
	uint64_t		 done;		/* data bytes transferred */
	unsigned		 retries;
	unsigned		 range;		/* next range to serve */
	int			 zero_step;	/* ZEROES fallback step */
	int			 inflight;	/* an SQE is out */
	struct blk_range	 ranges[BLK_DWZ_SEG_MAX];
};

/* One queue: its ring, its requests, its completion watch. */
struct blk_queue {
	struct blk		*b;
	unsigned		 index;
	struct vhd_queue	*q;		/* while started */
	struct io_uring		 ring;
	int			 ring_ok;
	int			 efd;		/* the ring's eventfd */
	struct vhd_watch	*watch;
	struct blk_req		*reqs;		/* pool of `nreqs` */
	unsigned		 nreqs;
	struct blk_req		*free;
	unsigned		 inflight;	/* SQEs not completed */
	unsigned		 busy;		/* requests not pushed */
	unsigned		 queued;	/* SQEs not submitted */
	size_t			 bounce_used;
	int			 stalled;	/* waits for bounce space */
	int			 no_zero_range;	/* fs refuses ZERO_RANGE */
	int			 pushed;	/* notify pending */
	uint64_t		 bounced;	/* requests bounced (tests) */
};

/* The device. */
struct blk {
	const struct vhd_api	*api;
	struct vhd_dev		*dev;
	char			*path;
	int			 fd;
	int			 readonly;
	int			 direct;	/* asked for */
	int			 direct_on;	/* fd has O_DIRECT */
	int			 discard;	/* key */
	int			 zeroes;	/* key */
	int			 bdev;		/* a block device */
	char			 serial[BLK_ID_BYTES];
	uint32_t		 num_queues;
	uint32_t		 queue_size;
	uint64_t		 capacity;	/* sectors */
	uint32_t		 logical;	/* blk_size */
	uint32_t		 physical;
	uint32_t		 mem_align;	/* O_DIRECT buffer alignment */
	uint32_t		 io_min;	/* bytes */
	uint32_t		 io_opt;	/* bytes */
	uint32_t		 align_off;	/* bytes */
	uint64_t		 features;	/* offered */
	uint8_t			 config[BLK_CONFIG_SIZE];
	struct blk_queue	*queues;
};

/* blk.c: the device behind a handle (NULL before create).  Any thread. */
struct blk *blk_from_dev(struct vhd_dev *);

#define BLK_RETRIES	8	/* -EAGAIN/-EINTR resubmissions */
#define BLK_IOV_FIRST	16	/* iovecs of a request at first */

/* Log a driver or I/O error, at most once a second per device. */
#define blk_warn(b, ...)						\
	((b)->api->log_ratelimited((b)->dev, VHD_LOG_WARN, __VA_ARGS__))

/* blk_exec.c: one request.  Worker. */
int	 blk_exec_start(struct blk_queue *, struct blk_req *,
	    const struct blk_limits *);
void	 blk_exec_complete(struct blk_queue *, struct blk_req *, int res);

/* blk_io.c */
int	 blk_io_init(struct blk *, char **cause);
void	 blk_io_fini(struct blk *);
void	 blk_io_limits(struct blk *, struct blk_limits *);
void	 blk_io_queue_start(struct vhd_dev *, struct vhd_queue *);
void	 blk_io_queue_stop(struct vhd_dev *, struct vhd_queue *);
void	 blk_io_queue_handler(struct vhd_dev *, struct vhd_queue *);
void	 blk_io_queue_quiesce(struct vhd_dev *, struct vhd_queue *);
/* Submit the SQEs queued so far.  Worker. */
void	 blk_io_submit(struct blk_queue *);

#endif /* VHOSTD_MODULES_BLK_H */
