/*
 * Serving one blk request: map its data (zero copy, or a bounce buffer
 * where O_DIRECT cannot take the guest's buffers), queue its SQE, and on
 * each completion finish it (status byte, push) or queue its next step (the
 * rest of a short transfer, the next discard or write-zeroes range, the
 * ZERO_RANGE fallback).  A request has at most one SQE in flight.  The
 * queue side is blk_io.c.  Everything here runs on the queue's worker.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <linux/falloc.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <liburing.h>

#include <vhostd/vhostd.h>

#include "blk.h"

static void	blk_exec_finish(struct blk_queue *, struct blk_req *, uint8_t,
		    uint32_t);

/* A request type's name for the log. */
static const char *
blk_exec_type_name(uint32_t type)
{
	switch (type) {
	case BLK_T_IN:
		return ("IN");
	case BLK_T_OUT:
		return ("OUT");
	case BLK_T_FLUSH:
		return ("FLUSH");
	case BLK_T_GET_ID:
		return ("GET_ID");
	case BLK_T_DISCARD:
		return ("DISCARD");
	case BLK_T_WRITE_ZEROES:
		return ("WRITE_ZEROES");
	default:
		return ("unknown");
	}
}

/* A status byte's name for the log. */
static const char *
blk_exec_status_name(uint8_t status)
{
	switch (status) {
	case BLK_S_OK:
		return ("OK");
	case BLK_S_IOERR:
		return ("IOERR");
	default:
		return ("UNSUPP");
	}
}

/* Give a request back to the pool.  Worker. */
static void
blk_exec_release(struct blk_queue *bq, struct blk_req *req)
{
	if (req->bounce != NULL) {
		free(req->bounce);
		bq->bounce_used -= req->bounce_len;
		req->bounce = NULL;
		req->bounce_len = 0;
	}
	req->chain = NULL;
	req->next_free = bq->free;
	bq->free = req;
	bq->busy--;
}

/* A free SQE, submitting the queued ones if the ring is full.  NULL when
 * there is none.  Worker. */
static struct io_uring_sqe *
blk_exec_sqe(struct blk_queue *bq, struct blk_req *req)
{
	struct io_uring_sqe	*sqe;

	if ((sqe = io_uring_get_sqe(&bq->ring)) == NULL) {
		blk_io_submit(bq);
		sqe = io_uring_get_sqe(&bq->ring);
	}
	if (sqe != NULL) {
		bq->queued++;
		bq->inflight++;
		req->inflight = 1;
	}
	return (sqe);
}

/* Queue the next transfer of a READ or WRITE (from req->done on).
 * Worker. */
static int
blk_exec_rw(struct blk_queue *bq, struct blk_req *req)
{
	struct io_uring_sqe	*sqe;
	struct blk		*b = bq->b;
	off_t			 off;

	if ((sqe = blk_exec_sqe(bq, req)) == NULL)
		return (-1);
	off = (off_t)((req->p.sector << BLK_SECTOR_SHIFT) + req->done);
	if (req->p.op == BLK_OP_READ)
		io_uring_prep_readv(sqe, b->fd, req->iov, (unsigned)req->niov,
		    (uint64_t)off);
	else
		io_uring_prep_writev(sqe, b->fd, req->iov, (unsigned)req->niov,
		    (uint64_t)off);
	io_uring_sqe_set_data(sqe, req);
	return (0);
}

/* Queue the fdatasync of a FLUSH.  Worker. */
static int
blk_exec_flush(struct blk_queue *bq, struct blk_req *req)
{
	struct io_uring_sqe	*sqe;

	if ((sqe = blk_exec_sqe(bq, req)) == NULL)
		return (-1);
	io_uring_prep_fsync(sqe, bq->b->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(sqe, req);
	return (0);
}

/*
 * Queue the fallocate of the current range of a DISCARD or WRITE_ZEROES,
 * skipping empty ranges.  A discard and a write-zeroes with UNMAP punch a
 * hole; a plain write-zeroes asks for ZERO_RANGE, and where the file
 * system refuses it (tmpfs) punches a hole and then allocates the range
 * again (zero_step 1 and 2), so the blocks stay allocated as the spec
 * wants without UNMAP.  Returns 1 when all ranges are done, 0 when an SQE
 * is queued, -1 when none could be had.  Worker.
 */
static int
blk_exec_range(struct blk_queue *bq, struct blk_req *req)
{
	struct io_uring_sqe	*sqe;
	struct blk_range	*r;
	int			 mode;

	while (req->range < req->p.nranges &&
	    req->ranges[req->range].num_sectors == 0)
		req->range++;
	if (req->range == req->p.nranges)
		return (1);
	r = &req->ranges[req->range];
	if (req->p.op == BLK_OP_DISCARD || (r->flags & BLK_DWZ_F_UNMAP))
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	else {
		if (req->zero_step == 0 && bq->no_zero_range)
			req->zero_step = 1;
		if (req->zero_step == 0)
			mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		else if (req->zero_step == 1)
			mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		else
			mode = FALLOC_FL_KEEP_SIZE;
	}
	if ((sqe = blk_exec_sqe(bq, req)) == NULL)
		return (-1);
	io_uring_prep_fallocate(sqe, bq->b->fd, mode,
	    (off_t)(r->sector << BLK_SECTOR_SHIFT),
	    (off_t)((uint64_t)r->num_sectors << BLK_SECTOR_SHIFT));
	io_uring_sqe_set_data(sqe, req);
	return (0);
}

/* Does O_DIRECT take these iovecs as they are?  Any thread. */
static int
blk_exec_aligned(const struct blk *b, const struct iovec *iov, int n)
{
	int	 i;

	if (!b->direct_on)
		return (1);
	for (i = 0; i < n; i++) {
		if ((uintptr_t)iov[i].iov_base % b->mem_align != 0 ||
		    iov[i].iov_len % b->logical != 0)
			return (0);
	}
	return (1);
}

/*
 * Map the data of a READ or WRITE as iovecs into guest memory, or set up
 * a bounce buffer when O_DIRECT cannot take them.  Returns BLK_S_OK,
 * BLK_S_IOERR (with *why), or 0xff when there is no bounce space now.
 * Worker.
 */
static int
blk_exec_map(struct blk_queue *bq, struct blk_req *req, const char **why)
{
	struct blk		*b = bq->b;
	struct iovec		*iov;
	size_t			 sum, want = (size_t)req->p.len;
	int			 n, i, cap, writable = req->p.op == BLK_OP_READ;

	for (;;) {
		if (req->iov_cap == 0) {
			iov = malloc(BLK_IOV_FIRST * sizeof(*iov));
			if (iov == NULL) {
				*why = "out of memory";
				return (BLK_S_IOERR);
			}
			req->iov = iov;
			req->iov_cap = BLK_IOV_FIRST;
		}
		n = b->api->chain_iov(req->chain, writable, req->p.data_off,
		    req->iov, req->iov_cap);
		if (n < 0) {
			*why = "buffers outside guest memory";
			return (BLK_S_IOERR);
		}
		for (sum = 0, i = 0; i < n && sum < want; i++) {
			if (req->iov[i].iov_len > want - sum)
				req->iov[i].iov_len = want - sum;
			sum += req->iov[i].iov_len;
		}
		if (sum == want) {
			req->niov = i;
			break;
		}
		if (n < req->iov_cap || req->iov_cap >= BLK_IOV_MAX) {
			req->niov = 0;	/* too many pieces: bounce */
			break;
		}
		cap = req->iov_cap * 4 > BLK_IOV_MAX ? BLK_IOV_MAX :
		    req->iov_cap * 4;
		iov = realloc(req->iov, (size_t)cap * sizeof(*iov));
		if (iov == NULL) {
			*why = "out of memory";
			return (BLK_S_IOERR);
		}
		req->iov = iov;
		req->iov_cap = cap;
	}
	if (req->niov != 0 && blk_exec_aligned(b, req->iov, req->niov))
		return (BLK_S_OK);

	/* Bounce. */
	if (want > BLK_BOUNCE_MAX) {
		*why = "unaligned request larger than the bounce limit";
		return (BLK_S_IOERR);
	}
	if (bq->bounce_used + want > BLK_BOUNCE_MAX)
		return (0xff);
	if (posix_memalign(&req->bounce, b->mem_align > 4096 ?
	    b->mem_align : 4096, want) != 0) {
		req->bounce = NULL;
		*why = "out of memory for a bounce buffer";
		return (BLK_S_IOERR);
	}
	req->bounce_len = want;
	bq->bounce_used += want;
	bq->bounced++;
	if (req->p.op == BLK_OP_WRITE &&
	    b->api->chain_read(req->chain, req->p.data_off, req->bounce,
	    want) != (ssize_t)want) {
		*why = "buffers outside guest memory";
		return (BLK_S_IOERR);
	}
	req->iov[0].iov_base = req->bounce;
	req->iov[0].iov_len = want;
	req->niov = 1;
	return (BLK_S_OK);
}

/*
 * Write the status byte, give the chain back with `used` bytes and the
 * request to the pool.  Worker.
 */
static void
blk_exec_finish(struct blk_queue *bq, struct blk_req *req, uint8_t status,
    uint32_t used)
{
	const struct vhd_api	*api = bq->b->api;

	if (api->chain_write(req->chain, req->p.status_off, &status, 1) != 1)
		used = 0;
	api->queue_push(bq->q, req->chain, used);
	bq->pushed = 1;
	blk_exec_release(bq, req);
}

/* Log why a request is answered with an error, then answer it.  Worker. */
static void
blk_exec_fail(struct blk_queue *bq, struct blk_req *req, uint8_t status,
    const char *why)
{
	blk_warn(bq->b, "queue %u: %s request at sector %llu: %s: answered "
	    "%s", bq->index, blk_exec_type_name(req->p.type),
	    (unsigned long long)req->p.sector, why,
	    blk_exec_status_name(status));
	blk_exec_finish(bq, req, status, 1);
}

/*
 * Start serving a popped chain: parse it, answer it at once or queue its
 * first SQE.  Returns 0, or 1 when the chain was rewound into the ring to
 * wait for bounce space (the queue is then stalled).  Worker.
 */
int
blk_exec_start(struct blk_queue *bq, struct blk_req *req,
    const struct blk_limits *l)
{
	struct blk		*b = bq->b;
	const struct vhd_api	*api = b->api;
	struct vhd_chain	*c = req->chain;
	uint8_t			 hdr[BLK_HDR_SIZE];
	uint8_t			 raw[BLK_DWZ_SEG_MAX * BLK_DWZ_SIZE];
	size_t			 rlen, wlen, n;
	const char		*why = NULL;
	int			 st;

	rlen = api->chain_readable(c);
	wlen = api->chain_writable(c);
	n = rlen < BLK_HDR_SIZE ? rlen : BLK_HDR_SIZE;
	if (api->chain_read(c, 0, hdr, n) != (ssize_t)n) {
		blk_warn(b, "queue %u: request buffers outside guest memory, "
		    "returned unused", bq->index);
		api->queue_push(bq->q, c, 0);
		bq->pushed = 1;
		blk_exec_release(bq, req);
		return (0);
	}
	blk_req_parse(l, hdr, rlen, wlen, &req->p);
	req->done = 0;
	req->retries = 0;
	req->range = 0;
	req->zero_step = 0;
	req->niov = 0;

	switch (req->p.op) {
	case BLK_OP_DROP:
		blk_warn(b, "queue %u: %s; request returned unused",
		    bq->index, req->p.why);
		api->queue_push(bq->q, c, 0);
		bq->pushed = 1;
		blk_exec_release(bq, req);
		return (0);
	case BLK_OP_ANSWER:
		if (req->p.warn)
			blk_exec_fail(bq, req, req->p.status, req->p.why);
		else
			blk_exec_finish(bq, req, req->p.status, 1);
		return (0);
	case BLK_OP_GET_ID:
		if (api->chain_write(c, 0, b->serial, (size_t)req->p.len) !=
		    (ssize_t)req->p.len) {
			blk_exec_fail(bq, req, BLK_S_IOERR, "buffers outside "
			    "guest memory");
			return (0);
		}
		blk_exec_finish(bq, req, BLK_S_OK, (uint32_t)req->p.len + 1);
		return (0);
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		st = blk_exec_map(bq, req, &why);
		if (st == 0xff) {
			/* No bounce space now: leave the chain in the ring. */
			if (api->queue_rewind(bq->q, c) == 0) {
				req->chain = NULL;
				blk_exec_release(bq, req);
				bq->stalled = 1;
				return (1);
			}
			why = "no bounce space";
			st = BLK_S_IOERR;
		}
		if (st != BLK_S_OK) {
			blk_exec_fail(bq, req, (uint8_t)st, why);
			return (0);
		}
		if (blk_exec_rw(bq, req) != 0)
			blk_exec_fail(bq, req, BLK_S_IOERR, "io_uring full");
		return (0);
	case BLK_OP_FLUSH:
		if (blk_exec_flush(bq, req) != 0)
			blk_exec_fail(bq, req, BLK_S_IOERR, "io_uring full");
		return (0);
	case BLK_OP_DISCARD:
	case BLK_OP_ZEROES:
		n = (size_t)req->p.nranges * BLK_DWZ_SIZE;
		if (api->chain_read(c, req->p.data_off, raw, n) !=
		    (ssize_t)n) {
			blk_exec_fail(bq, req, BLK_S_IOERR, "buffers outside "
			    "guest memory");
			return (0);
		}
		st = blk_req_ranges(l, req->p.op == BLK_OP_ZEROES, raw,
		    req->p.nranges, req->ranges, &why);
		if (st != BLK_S_OK) {
			blk_exec_fail(bq, req, (uint8_t)st, why);
			return (0);
		}
		st = blk_exec_range(bq, req);
		if (st == 1)
			blk_exec_finish(bq, req, BLK_S_OK, 1);
		else if (st != 0)
			blk_exec_fail(bq, req, BLK_S_IOERR, "io_uring full");
		return (0);
	}
	return (0);
}

/* Skip `n` transferred bytes at the front of the iovecs.  Worker. */
static void
blk_exec_advance(struct blk_req *req, size_t n)
{
	int	 i = 0, k;

	while (i < req->niov && n >= req->iov[i].iov_len) {
		n -= req->iov[i].iov_len;
		i++;
	}
	if (i < req->niov && n > 0) {
		req->iov[i].iov_base = (char *)req->iov[i].iov_base + n;
		req->iov[i].iov_len -= n;
	}
	for (k = 0; i + k < req->niov; k++)
		req->iov[k] = req->iov[i + k];
	req->niov = k;
}

/* A READ or WRITE completed with `res`: finish it or continue it.
 * Worker. */
static void
blk_exec_done_rw(struct blk_queue *bq, struct blk_req *req, int res)
{
	struct blk	*b = bq->b;
	char		 why[96];

	if ((res == -EAGAIN || res == -EINTR) &&
	    req->retries++ < BLK_RETRIES) {
		if (blk_exec_rw(bq, req) != 0)
			blk_exec_fail(bq, req, BLK_S_IOERR, "io_uring full");
		return;
	}
	if (res <= 0) {
		snprintf(why, sizeof(why), "%s", res == 0 ? "no progress "
		    "(end of file)" : strerror(-res));
		blk_exec_fail(bq, req, BLK_S_IOERR, why);
		return;
	}
	req->done += (uint64_t)res;
	if (req->done < req->p.len) {
		/* Short transfer: go on from there. */
		blk_exec_advance(req, (size_t)res);
		if (req->niov == 0 || blk_exec_rw(bq, req) != 0)
			blk_exec_fail(bq, req, BLK_S_IOERR, "short transfer");
		return;
	}
	if (req->p.op == BLK_OP_READ) {
		if (req->bounce != NULL &&
		    b->api->chain_write(req->chain, 0, req->bounce,
		    req->bounce_len) != (ssize_t)req->bounce_len) {
			blk_exec_fail(bq, req, BLK_S_IOERR, "buffers outside "
			    "guest memory");
			return;
		}
		blk_exec_finish(bq, req, BLK_S_OK, (uint32_t)req->p.len + 1);
		return;
	}
	blk_exec_finish(bq, req, BLK_S_OK, 1);
}

/* A DISCARD or WRITE_ZEROES step completed with `res`.  Worker. */
static void
blk_exec_done_range(struct blk_queue *bq, struct blk_req *req, int res)
{
	int	 st;

	if (req->p.op == BLK_OP_ZEROES && req->zero_step == 0 &&
	    (req->ranges[req->range].flags & BLK_DWZ_F_UNMAP) == 0 &&
	    res == -EOPNOTSUPP) {
		/* No ZERO_RANGE here (tmpfs): punch and allocate. */
		bq->no_zero_range = 1;
		req->zero_step = 1;
		res = 0;
		goto next;
	}
	if (req->zero_step == 2 && res == -EOPNOTSUPP)
		res = 0;	/* punched: reads give zeroes already */
	if (res < 0) {
		blk_exec_fail(bq, req, BLK_S_IOERR, strerror(-res));
		return;
	}
	if (req->zero_step == 1 &&
	    (req->ranges[req->range].flags & BLK_DWZ_F_UNMAP) == 0 &&
	    req->p.op == BLK_OP_ZEROES) {
		req->zero_step = 2;
		goto next;
	}
	req->zero_step = 0;
	req->range++;
next:
	st = blk_exec_range(bq, req);
	if (st == 1)
		blk_exec_finish(bq, req, BLK_S_OK, 1);
	else if (st != 0)
		blk_exec_fail(bq, req, BLK_S_IOERR, "io_uring full");
}

/* One CQE: continue or finish its request.  Worker. */
void
blk_exec_complete(struct blk_queue *bq, struct blk_req *req, int res)
{
	req->inflight = 0;
	bq->inflight--;
	switch (req->p.op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		blk_exec_done_rw(bq, req, res);
		break;
	case BLK_OP_FLUSH:
		if (res < 0)
			blk_exec_fail(bq, req, BLK_S_IOERR, strerror(-res));
		else
			blk_exec_finish(bq, req, BLK_S_OK, 1);
		break;
	case BLK_OP_DISCARD:
	case BLK_OP_ZEROES:
		blk_exec_done_range(bq, req, res);
		break;
	case BLK_OP_GET_ID:
	case BLK_OP_ANSWER:
	case BLK_OP_DROP:
		/* Never submitted. */
		break;
	}
}
