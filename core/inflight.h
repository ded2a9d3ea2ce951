/*
 * Inflight I/O tracking (the INFLIGHT_SHMFD protocol feature) for split
 * rings: a shared region the frontend keeps across back-end restarts, in
 * which the back-end records which descriptor chains it has taken and not
 * yet completed, so a new back-end after a crash can serve them again.
 *
 * Layout (vhost-user spec, "Inflight I/O tracking", split virtqueues):
 * per queue, at q * INFLIGHT_QUEUE_SIZE(queue_size) from the start of the
 * region, a 16-byte header {u64 features; u16 version, desc_num,
 * last_batch_head, used_idx} then desc_num 16-byte entries {u8 inflight;
 * u8 padding[5]; u16 next; u64 counter}, one per descriptor index.  All
 * little endian.  The back-end decides the size (GET_INFLIGHT_FD) and the
 * frontend hands the same fd back (SET_INFLIGHT_FD) after every connect.
 *
 * Protocol, on the queue's worker:
 * - pop: entry[head] = {inflight 1, counter = the queue's counter++};
 * - push: last_batch_head = head; the used element and used->idx are
 *   written (vring_chain.c); then entry[head].inflight = 0 and the
 *   header's used_idx = used->idx.  A crash between the used->idx store
 *   and the clear leaves used_idx one behind the ring: recovery clears
 *   entry[last_batch_head] then;
 * - rewind (and the rewind of a stopped queue's tail): inflight = 0;
 * - start: recovery.  After the fix above, every entry still marked was
 *   popped and never completed; they are resubmitted (vring_pop returns
 *   them first) in `counter` order, and the next avail index is used->idx
 *   plus their number, whatever SET_VRING_BASE said: each avail entry
 *   taken is either in the used ring or marked, and QEMU sends
 *   SET_VRING_BASE = used->idx after a back-end death because
 *   GET_VRING_BASE could not reach it.
 *
 * The region is hostile: it is read once per field into locals, every
 * index is checked against the ring size, and a region whose header or
 * entries make no sense (another ring size, an unknown version, flag
 * bytes other than 0 and 1, more entries marked than the guest has
 * outstanding, a last batch that does not chain) breaks the device with a
 * clear reason instead of resubmitting anything.  The fd is sealed
 * against shrinking where it can be, and the mapping is registered with
 * guest_fault (a shrunk file breaks the device, not the daemon).
 *
 * Threads: the region is set and dropped on the main thread with every
 * ring of the device stopped; while a ring runs, only its worker touches
 * its part of the region.
 */

#ifndef VHOSTD_INFLIGHT_H
#define VHOSTD_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "compat.h"

struct device;
struct vring;

/* Bytes of one queue's part of the region (header + entries, rounded up
 * to 64 as libvhost-user does). */
#define INFLIGHT_HDR_SIZE	16
#define INFLIGHT_DESC_SIZE	16
#define INFLIGHT_ALIGN		64
#define INFLIGHT_QUEUE_SIZE(qs)						\
	((((uint64_t)INFLIGHT_HDR_SIZE + (uint64_t)INFLIGHT_DESC_SIZE *	\
	(qs)) + INFLIGHT_ALIGN - 1) & ~(uint64_t)(INFLIGHT_ALIGN - 1))
/* The version a header has once initialised (0: fresh region). */
#define INFLIGHT_VERSION	1

/* GET/SET_INFLIGHT_FD payload (24 bytes with QEMU's padding; 20 are
 * meaningful). */
struct inflight_msg {
	uint64_t	mmap_size;
	uint64_t	mmap_offset;
	uint16_t	num_queues;
	uint16_t	queue_size;
} __attribute__((packed));
#define INFLIGHT_MSG_SIZE	20

/* One entry to resubmit. */
struct inflight_entry {
	uint64_t	counter;
	uint16_t	head;
};

/* The tracking state of one queue: its part of the region and the
 * resubmission list built at start.  Worker while the ring runs. */
struct inflight_queue {
	uint8_t		*base;		/* header, then entries */
	uint16_t	 size;		/* entries (the region's queue_size) */
	uint64_t	 counter;	/* next pop's counter */
	struct inflight_entry *resubmit; /* in counter order */
	unsigned	 nresubmit;
	unsigned	 next;		/* next one to hand out */
};

/*
 * GET_INFLIGHT_FD: create a zeroed, sealed memfd for `num_queues` queues
 * of `queue_size`, with every header initialised; fill `reply` and return
 * the fd (the caller sends and closes it), or -1 with *cause.  Main
 * thread.
 */
int	 inflight_get_fd(struct device *, const struct inflight_msg *req,
	    struct inflight_msg *reply, char **cause) __must_check;
/*
 * SET_INFLIGHT_FD: check the sizes against the fd and map it, taking
 * ownership of `fd` on success (on failure the caller closes it); stops
 * every ring, replaces the device's region, restarts the rings.  0, or -1
 * with *cause (nothing changed).  Main thread.
 */
int	 inflight_set_fd(struct device *, const struct inflight_msg *req,
	    int fd, char **cause) __must_check;
/* Drop the device's region (reset, disconnect, destroy).  Rings must be
 * stopped.  Main thread. */
void	 inflight_free(struct device *);

/*
 * Queue start: recover the queue's part of the region (fix the last
 * batch, collect the marked entries in counter order, set last_avail_idx)
 * so vring_pop hands them out first.  0, or -1 with *err (the caller
 * breaks the device).  Worker; nothing to do without a region.
 */
int	 inflight_queue_start(struct vring *, const char **err);
/* The next head to resubmit, without taking it: 1 and *head, or 0. */
int	 inflight_resubmit_peek(const struct vring *, uint16_t *head);
/* Take the head inflight_resubmit_peek returned.  Worker. */
void	 inflight_resubmit_take(struct vring *);
/* A chain with this head was popped from the avail ring.  Worker. */
void	 inflight_pop(struct vring *, uint16_t head);
/* Before writing the used element of `head` / after publishing it. */
void	 inflight_push_begin(struct vring *, uint16_t head);
void	 inflight_push_end(struct vring *, uint16_t head);
/* A popped chain goes back to the avail ring unserved (rewind). */
void	 inflight_unmark(struct vring *, uint16_t head);

#endif /* VHOSTD_INFLIGHT_H */
