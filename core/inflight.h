/*
 * Inflight I/O tracking (the INFLIGHT_SHMFD protocol feature) for split
 * and packed rings (packed: inflight_packed.c): a shared region the frontend keeps across back-end restarts, in
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
 * Packed rings have their own layout (the spec's QueueRegionPacked, see
 * inflight_packed.c): which one a region holds is decided by the
 * features acked when GET/SET_INFLIGHT_FD arrive (QEMU sends SET_FEATURES
 * first), and a queue whose layout is not the region's breaks the device
 * when it starts.
 *
 * Threads: the region is set and dropped on the main thread with every
 * ring of the device stopped; while a ring runs, only its worker touches
 * its part of the region.
 */

#ifndef VHOSTD_INFLIGHT_H
#define VHOSTD_INFLIGHT_H

#include <endian.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

struct device;
struct guest_mem;
struct vring;
struct vring_chain;
struct vring_packed_desc;

/* Bytes of one queue's part of the region (header + entries, rounded up
 * to 64 as libvhost-user does). */
#define INFLIGHT_HDR_SIZE	16
#define INFLIGHT_DESC_SIZE	16
#define INFLIGHT_ALIGN		64
#define INFLIGHT_QUEUE_SIZE(qs)						\
	((((uint64_t)INFLIGHT_HDR_SIZE + (uint64_t)INFLIGHT_DESC_SIZE *	\
	(qs)) + INFLIGHT_ALIGN - 1) & ~(uint64_t)(INFLIGHT_ALIGN - 1))
/* Packed layout: a 32-byte header and 32-byte entries. */
#define INFLIGHT_PK_HDR_SIZE	32
#define INFLIGHT_PK_DESC_SIZE	32
#define INFLIGHT_PK_QUEUE_SIZE(qs)					\
	((((uint64_t)INFLIGHT_PK_HDR_SIZE + (uint64_t)INFLIGHT_PK_DESC_SIZE * \
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
	uint16_t	head;		/* split: descriptor; packed: entry */
	uint16_t	num;		/* packed: ring slots, as checked */
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

	/* Packed layout (inflight_packed.c).  The links are our own copy,
	 * written through to the region and never read back from it
	 * while the ring runs: the frontend can change the region at any
	 * time. */
	int		 packed;	/* the region's layout */
	uint16_t	*pk_next;	/* size entries: list links */
	uint16_t	*pk_last;	/* per head entry: its last */
	uint16_t	 pk_free;	/* free list head */
	uint16_t	 pk_first;	/* chain being walked: head entry */
	uint16_t	 pk_cur;	/* and its latest entry */
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
void	 inflight_unmark(struct vring *, struct vring_chain *);

/*
 * Packed rings (inflight_packed.c), called from vring_packed.c and
 * inflight.c.  Worker.
 */
/* Recovery at queue start (inflight_queue_start's packed half). */
int	 inflight_packed_start(struct vring *, const char **err);
/* Descriptor k of the chain being walked: copy it to the next free
 * entry.  0, or -1 with *err (no free entry: more descriptors in flight
 * than the ring has). */
int	 inflight_packed_desc(struct vring *, unsigned k,
	    const struct vring_packed_desc *, const char **err);
/* The walked chain was taken: mark it in flight. */
void	 inflight_packed_pop(struct vring *, struct vring_chain *);
/* Build the chain of the next entry to resubmit from the region's copy
 * (head, ndesc, segments).  0, or -1 with *err. */
int	 inflight_packed_resubmit(struct vring *, struct vring_chain *,
	    const struct guest_mem *, uint16_t entry, const char **err);
/* Before the used descriptor of `c` is written / after it is published
 * (vq->used_idx and used_wrap are then past it). */
void	 inflight_packed_push_begin(struct vring *, struct vring_chain *,
	    uint16_t used_idx, int used_wrap);
void	 inflight_packed_push_end(struct vring *, struct vring_chain *,
	    uint16_t used_idx, int used_wrap);
void	 inflight_packed_unmark(struct vring *, struct vring_chain *);

/* Shared-region word access (relaxed atomics, little endian): see
 * inflight.c for why no more ordering than the signal fences. */
static inline uint16_t
inflight_load16(const uint8_t *p)
{
	return (le16toh(atomic_load_explicit(
	    (_Atomic uint16_t *)(uintptr_t)p, memory_order_relaxed)));
}

static inline void
inflight_store16(uint8_t *p, uint16_t v)
{
	atomic_store_explicit((_Atomic uint16_t *)(void *)p, htole16(v),
	    memory_order_relaxed);
}

static inline uint64_t
inflight_load64(const uint8_t *p)
{
	return (le64toh(atomic_load_explicit(
	    (_Atomic uint64_t *)(uintptr_t)p, memory_order_relaxed)));
}

static inline void
inflight_store64(uint8_t *p, uint64_t v)
{
	atomic_store_explicit((_Atomic uint64_t *)(void *)p, htole64(v),
	    memory_order_relaxed);
}

static inline uint8_t
inflight_load8(const uint8_t *p)
{
	return (atomic_load_explicit((_Atomic uint8_t *)(uintptr_t)p,
	    memory_order_relaxed));
}

static inline void
inflight_store8(uint8_t *p, uint8_t v)
{
	atomic_store_explicit((_Atomic uint8_t *)(void *)p, v,
	    memory_order_relaxed);
}

#endif /* VHOSTD_INFLIGHT_H */
