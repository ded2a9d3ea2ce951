/*
 * The blk queues: one io_uring per queue, created with the device (before
 * the daemon's seccomp filter is installed), and a pool of requests as
 * large as the biggest ring, so a queue never waits for a request slot.
 *
 * A kick pops chains, parses each (blk_req.c) and queues one SQE per
 * request, all submitted with one io_uring_enter at the end of the
 * handler.  Guest buffers go to the kernel as they are (api->chain_iov):
 * the iovecs point into guest memory and stay valid while the request is
 * in flight, because guest memory is only unmapped after a memory table
 * change, and before one the daemon calls queue_quiesce, which waits for
 * them.  The one copy is the bounce buffer, used when
 * O_DIRECT cannot take the guest's buffers as they are (a buffer or
 * length not aligned as the file system asks, or more than 1024
 * segments): the whole data of that request goes through one aligned
 * buffer.  Bounce memory is bounded per queue; a request that would pass
 * the bound is rewound into the ring and the queue waits for a
 * completion.
 *
 * Completions: the ring signals its eventfd, watched on the queue's
 * worker; the callback reaps every CQE, finishes or continues each
 * request (a short transfer continues where it stopped, a discard or
 * write-zeroes request serves its ranges one after the other), pushes the
 * finished chains and notifies the guest once.
 *
 * This file holds the queue side (rings, kicks, completions, start and
 * stop); blk_exec.c serves one request (mapping, bounce, SQEs, what a
 * completion means).  Everything here runs on the queue's worker except
 * blk_io_init and blk_io_fini (main thread, queues stopped).  A queue has
 * one ring, used by one worker at a time: no lock.
 */

#include <sys/eventfd.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <liburing.h>

#include <vhostd/vhostd.h>

#include "blk.h"

static void	blk_io_run(struct blk_queue *);

/*
 * Set up one ring, its eventfd and its request pool per queue.  Returns 0
 * or -1 with *cause.  Main thread, at create.
 */
int
blk_io_init(struct blk *b, char **cause)
{
	struct blk_queue	*bq;
	unsigned		 i, k;
	int			 ret;

	b->queues = calloc(b->num_queues, sizeof(*b->queues));
	if (b->queues == NULL)
		goto nomem;
	for (i = 0; i < b->num_queues; i++) {
		bq = &b->queues[i];
		bq->b = b;
		bq->index = i;
		bq->efd = -1;
	}
	for (i = 0; i < b->num_queues; i++) {
		bq = &b->queues[i];
		ret = io_uring_queue_init(b->queue_size, &bq->ring, 0);
		if (ret < 0) {
			if (asprintf(cause, "blk: queue %u: io_uring_queue_"
			    "init: %s", i, strerror(-ret)) == -1)
				*cause = NULL;
			return (-1);
		}
		bq->ring_ok = 1;
		bq->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (bq->efd == -1 ||
		    (ret = io_uring_register_eventfd(&bq->ring, bq->efd)) < 0) {
			if (asprintf(cause, "blk: queue %u: io_uring eventfd: "
			    "%s", i, strerror(bq->efd == -1 ? errno : -ret)) ==
			    -1)
				*cause = NULL;
			return (-1);
		}
		bq->nreqs = b->queue_size;
		bq->reqs = calloc(bq->nreqs, sizeof(*bq->reqs));
		if (bq->reqs == NULL)
			goto nomem;
		for (k = bq->nreqs; k > 0; k--) {
			bq->reqs[k - 1].bq = bq;
			bq->reqs[k - 1].next_free = bq->free;
			bq->free = &bq->reqs[k - 1];
		}
	}
	return (0);

nomem:
	if (asprintf(cause, "blk: out of memory") == -1)
		*cause = NULL;
	return (-1);
}

/* Close the rings and free the pools.  Main thread, queues stopped. */
void
blk_io_fini(struct blk *b)
{
	struct blk_queue	*bq;
	unsigned		 i, k;

	if (b->queues == NULL)
		return;
	for (i = 0; i < b->num_queues; i++) {
		bq = &b->queues[i];
		if (bq->ring_ok)
			io_uring_queue_exit(&bq->ring);
		if (bq->efd != -1)
			close(bq->efd);
		for (k = 0; bq->reqs != NULL && k < bq->nreqs; k++) {
			free(bq->reqs[k].iov);
			free(bq->reqs[k].bounce);
		}
		free(bq->reqs);
	}
	free(b->queues);
	b->queues = NULL;
}

/* The limits requests are checked against, with the features the
 * frontend acked.  Any thread. */
void
blk_io_limits(struct blk *b, struct blk_limits *l)
{
	uint64_t	 acked = b->api->dev_features(b->dev);

	memset(l, 0, sizeof(*l));
	l->capacity = b->capacity;
	l->align = b->logical;
	l->readonly = b->readonly;
	l->discard = b->discard && (acked & (1ULL << BLK_F_DISCARD)) != 0;
	l->zeroes = b->zeroes &&
	    (acked & (1ULL << BLK_F_WRITE_ZEROES)) != 0;
	l->may_unmap = b->discard;
}

/* The queue of a handle. */
static struct blk_queue *
blk_io_queue(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct blk	*b = blk_from_dev(dev);
	unsigned	 i;

	if (b == NULL || b->queues == NULL)
		return (NULL);
	i = b->api->queue_index(q);
	if (i >= b->num_queues)
		return (NULL);
	return (&b->queues[i]);
}

/* Submit the queued SQEs.  Worker. */
void
blk_io_submit(struct blk_queue *bq)
{
	int	 ret;

	if (bq->queued == 0)
		return;
	ret = io_uring_submit(&bq->ring);
	if (ret < 0) {
		/* The SQEs stay in the ring and go with the next submit. */
		blk_warn(bq->b, "queue %u: io_uring_submit: %s", bq->index,
		    strerror(-ret));
		return;
	}
	bq->queued = (unsigned)ret >= bq->queued ? 0 :
	    bq->queued - (unsigned)ret;
}

/* Reap every CQE there is now.  Returns how many.  Worker. */
static unsigned
blk_io_reap(struct blk_queue *bq)
{
	struct io_uring_cqe	*cqe;
	struct blk_req		*req;
	unsigned		 n = 0;
	int			 res;

	while (io_uring_peek_cqe(&bq->ring, &cqe) == 0) {
		req = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&bq->ring, cqe);
		n++;
		if (req != NULL)
			blk_exec_complete(bq, req, res);
	}
	return (n);
}

/*
 * Submit what was queued and notify the guest once for what was pushed.
 * Reads of cached pages (a file in tmpfs, a warm page cache) complete
 * inside io_uring_submit: their completions are taken here, a bounded
 * number of rounds, so this notify carries them, instead of a later turn
 * of the event loop woken by the ring's eventfd (which still fires, and
 * then finds nothing or what completed since; a stall is left to it).
 * Worker.
 */
static void
blk_io_kick_done(struct blk_queue *bq)
{
	unsigned	i;

	blk_io_submit(bq);
	for (i = 0; i < 4 && blk_io_reap(bq) > 0; i++)
		blk_io_submit(bq);
	if (bq->pushed && bq->q != NULL) {
		bq->pushed = 0;
		bq->b->api->queue_notify(bq->q);
	}
}

/*
 * The ring's eventfd fired: reap the completions, serve the chains a
 * stall left in the ring, submit and notify.  Worker.
 */
static void
blk_io_cqe_cb(struct vhd_watch *w, int fd, short events, void *arg)
{
	struct blk_queue	*bq = arg;
	eventfd_t		 v;

	(void)w;
	(void)events;
	(void)eventfd_read(fd, &v);
	blk_io_reap(bq);
	if (bq->stalled && bq->q != NULL) {
		bq->stalled = 0;
		blk_io_run(bq);
		return;
	}
	blk_io_kick_done(bq);
}

/* Pop and start chains until the ring is empty or the queue stalls,
 * then submit and notify.  Worker. */
static void
blk_io_run(struct blk_queue *bq)
{
	struct blk		*b = bq->b;
	struct blk_limits	 l;
	struct blk_req		*req;
	struct vhd_chain	*c;

	blk_io_limits(b, &l);
	while (!bq->stalled && (req = bq->free) != NULL) {
		if ((c = b->api->queue_pop(bq->q)) == NULL)
			break;
		bq->free = req->next_free;
		req->next_free = NULL;
		req->chain = c;
		bq->busy++;
		if (blk_exec_start(bq, req, &l) != 0)
			break;
	}
	blk_io_kick_done(bq);
}

/* A kick (or the queue started): serve the available chains.  Worker. */
void
blk_io_queue_handler(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct blk_queue	*bq = blk_io_queue(dev, q);

	if (bq == NULL)
		return;
	bq->q = q;
	blk_io_run(bq);
}

/*
 * The queue starts: watch the ring's eventfd on the queue's worker.  The
 * device state (the image, the ring) stays from before.  Worker.
 */
void
blk_io_queue_start(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct blk_queue	*bq = blk_io_queue(dev, q);
	struct blk		*b;

	if (bq == NULL)
		return;
	b = bq->b;
	bq->q = q;
	bq->stalled = 0;
	bq->pushed = 0;
	bq->watch = b->api->watch_new(dev, b->api->queue_worker(q), bq->efd,
	    VHD_EV_READ | VHD_EV_PERSIST, blk_io_cqe_cb, bq);
	if (bq->watch == NULL || b->api->watch_add(bq->watch, -1) != 0) {
		b->api->log(dev, VHD_LOG_ERR, "queue %u: cannot watch the "
		    "io_uring eventfd", bq->index);
		b->api->dev_fail(dev, "blk: cannot watch io_uring completions");
	}
}

/*
 * Wait for every request in flight and push it (`why` says what for, in
 * the log).  The eventfd may stay signalled; its watch, if any, then runs
 * once for nothing.  Worker.
 */
static void
blk_io_drain(struct blk_queue *bq, const char *why)
{
	struct blk		*b = bq->b;
	struct io_uring_cqe	*cqe;
	int			 ret;

	if (bq->inflight > 0)
		b->api->log(b->dev, VHD_LOG_INFO, "queue %u: %s: waiting for "
		    "%u requests in flight", bq->index, why, bq->inflight);
	while (bq->inflight > 0) {
		blk_io_submit(bq);
		ret = io_uring_wait_cqe(&bq->ring, &cqe);
		if (ret == -EINTR || ret == -EAGAIN)
			continue;
		if (ret < 0) {
			b->api->log(b->dev, VHD_LOG_ERR, "queue %u: "
			    "io_uring_wait_cqe: %s; %u requests lost",
			    bq->index, strerror(-ret), bq->inflight);
			b->api->dev_fail(b->dev, "blk: io_uring failed");
			break;
		}
		blk_io_reap(bq);
	}
	blk_io_kick_done(bq);
}

/*
 * The queue stops (GET_VRING_BASE, a reset, a disconnect): wait for every
 * request in flight, push them, so the ring index the daemon reports
 * counts them all; then drop the watch.  The image and the ring stay
 * open: a stop is not a reset.  Worker.
 */
void
blk_io_queue_stop(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct blk_queue	*bq = blk_io_queue(dev, q);
	eventfd_t		 v;

	if (bq == NULL)
		return;
	bq->q = q;
	blk_io_drain(bq, "stopping");
	(void)eventfd_read(bq->efd, &v);
	if (bq->watch != NULL)
		bq->b->api->watch_free(bq->watch);
	bq->watch = NULL;
	bq->stalled = 0;
	bq->q = NULL;
}

/*
 * Guest memory is about to be unmapped: the iovecs of the requests in
 * flight point into it, so wait for them (and push them) first.  The
 * queue goes on; a queue waiting for bounce space serves again.  Worker.
 */
void
blk_io_queue_quiesce(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct blk_queue	*bq = blk_io_queue(dev, q);

	if (bq == NULL)
		return;
	bq->q = q;
	blk_io_drain(bq, "guest memory changes");
	if (bq->stalled) {
		bq->stalled = 0;
		blk_io_run(bq);
	}
}
