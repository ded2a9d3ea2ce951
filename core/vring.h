/*
 * Virtqueues: the state the frontend sets with SET_VRING_*, start and
 * stop on the owning worker (vring.c), and the descriptor-chain walker,
 * used ring and notification (vring_chain.c for split rings,
 * vring_packed.c for packed ones, dispatched at the top of the split
 * functions when VIRTIO_F_RING_PACKED was acked).  Everything below holds
 * for both layouts.
 *
 * Ownership.  While a ring is stopped, the main thread owns every field.
 * vring_update() hands the ring to its worker (WCMD_QUEUE_START); from then
 * until vring_stop() returns (WCMD_QUEUE_STOP, waited for), the worker owns
 * the "worker" fields and call_fd, and the main thread only reads
 * the configuration fields, which do not change while started.  A call or
 * kick fd given for a started ring is handed to the worker (vring_set_fd)
 * and swapped there without stopping the ring.
 *
 * Stopping is not resetting.  A stop (GET_VRING_BASE, SET_VRING_ENABLE 0,
 * a new size, address or base) calls the module's queue_stop and nothing
 * else; the module's reset runs only on RESET_DEVICE, RESET_OWNER and
 * frontend disconnect (device.c).  After queue_stop returns, the index
 * GET_VRING_BASE reports is exact: chains the module still holds are
 * taken back (vring_reclaim): those that are the most recently popped
 * (the contiguous tail of the avail ring) are rewound, so the guest's
 * buffers are served again after the restart; any other held chain is
 * pushed with length 0 and a warning that the module broke the contract.
 * No chain is lost, none is completed twice.
 *
 * Memory.  A ring or buffer found missing inside a guest-physical range
 * that REM_MEM_REG removed (device_mem_removed) pauses the queue instead
 * of breaking the device: the pop is not taken (the chain stays in the
 * avail ring), a push whose used ring is missing is deferred, and the next
 * memory update resumes the queue (vring_resume).  A ring or buffer in
 * memory that never existed (a gap, past the end) still breaks the device.
 *
 * Everything read from guest memory is hostile: indices are range-checked,
 * chains bounded by the ring size, indirect tables by their length (no
 * nesting, and only with VIRTIO_F_INDIRECT_DESC negotiated), every buffer
 * checked against the current memory table.  A bad chain marks the device
 * broken (device_fail) and signals the err fd.
 */

#ifndef VHOSTD_VRING_H
#define VHOSTD_VRING_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/uio.h>

#include "compat.h"
#include "stats.h"

struct device;
struct event;
struct guest_mem;
struct inflight_queue;
struct vring_packed_desc;
struct worker;

/* Largest ring size accepted (virtio split ring limit). */
#define VRING_MAX_SIZE 32768

/* One guest buffer of a chain, after indirect expansion. */
struct vring_seg {
	uint64_t	gpa;
	uint32_t	len;
	uint32_t	write;		/* device-writable */
};

/*
 * A popped chain.  Chains come from a per-ring pool of `num` entries whose
 * segment arrays grow once and are then reused: no allocation per request
 * once warm.  Segments hold guest-physical addresses, translated again on
 * each access, so chains survive memory updates.
 */
struct vring_chain {
	struct vring		*vq;
	uint16_t		 head;		/* head descriptor index */
	uint16_t		 avail_pos;	/* last_avail_idx at pop */
	int			 in_use;
	unsigned		 nsegs;		/* readable ones first */
	unsigned		 nread;		/* how many are readable */
	unsigned		 cap;
	struct vring_seg	*segs;
	size_t			 rlen;		/* total readable bytes */
	size_t			 wlen;		/* total writable bytes */
	int			 deferred;	/* pushed while the used
						 * ring was removed */
	uint32_t		 deferred_len;
	int			 resubmitted;	/* inflight recovery: not
						 * from the avail ring */
	uint16_t		 ndesc;		/* packed: ring slots used */
	uint16_t		 pk_pos;	/* packed: avail index and
						 * wrap (bit 15) at pop */
	uint16_t		 if_entry;	/* packed: inflight region
						 * entry of its head */
	struct vring_chain	*next_free;
};

struct vring {
	struct device	*dev;
	unsigned	 index;
	unsigned	 worker_idx;	/* which of dev->workers owns it */

	/* Configuration: main thread, stable while started. */
	uint16_t	 num;		/* ring size, 0 = not set */
	int		 addr_set;
	uint32_t	 addr_flags;
	uint64_t	 desc_gpa;
	uint64_t	 avail_gpa;
	uint64_t	 used_gpa;
	uint64_t	 log_gpa;
	int		 kick_fd;	/* -1 = none */
	int		 call_fd;	/* the worker's while started */
	int		 err_fd;	/* under dev->err_lock */
	int		 enabled;
	int		 event_idx;	/* VIRTIO_RING_F_EVENT_IDX acked */
	int		 indirect;	/* VIRTIO_F_INDIRECT_DESC acked */
	int		 started;	/* handed to the worker */
	int		 packed;	/* VIRTIO_F_RING_PACKED acked:
					 * avail_gpa/used_gpa are the
					 * driver/device event areas */

	/* Indices: main thread while stopped, worker while started. */
	uint16_t	 last_avail_idx;	/* next avail entry to pop */
	uint16_t	 used_idx;		/* next used entry to fill */
	int		 used_idx_load;		/* split: read used->idx
						 * at the next vring_map */
	int		 avail_wrap;		/* packed wrap counters */
	int		 used_wrap;
	uint16_t	 pop_seq;		/* packed: pops, the order
						 * reclaim and rewind use */
	unsigned	 unsignalled;		/* packed: slots used since
						 * the last interrupt */
	int		 pushed;		/* packed: anything pushed
						 * since the start (the used
						 * index may have come
						 * round to the same slot) */

	/* Worker fields. */
	struct event		*kick_ev;
	struct event		*turn_ev;	/* its next turn */
	unsigned		 turn_left;	/* pops left in the turn */
	uint64_t		 mem_gen;	/* ring pointers valid for */
	void			*desc;		/* host ptrs of the rings */
	void			*avail;
	void			*used;
	uint16_t		 signalled_used;
	int			 signalled_used_valid;
	unsigned		 inflight;	/* popped, not pushed */
	struct vring_chain	*pool;		/* `pool_size` chains */
	unsigned		 pool_size;
	struct vring_chain	*free_chains;
	struct vring_chain	*last_popped;
	int			 running;	/* between worker start
						 * and stop */
	int			 paused;	/* memory removed under it */
	unsigned		 ndeferred;	/* chains with deferred
						 * pushes */
	uint16_t		 start_used_idx; /* used_idx at start */
	/* Inflight tracking (inflight.h): set by the main thread while
	 * stopped, NULL without a region. */
	struct inflight_queue	*iq;

	/* Counters (stats.h): written by the ring's owner only. */
	struct vring_stats	 stats;
};

/* Which fd of a ring vring_set_fd replaces. */
enum vring_fd {
	VRING_FD_KICK,
	VRING_FD_CALL,
	VRING_FD_ERR,
};

/* Initialise a ring of `dev` to the reset state.  Main thread. */
void	 vring_init(struct vring *, struct device *, unsigned index);
/* Back to the reset state: close fds, forget addresses.  Must be stopped.
 * Main thread. */
void	 vring_reset(struct vring *);
/* Free everything (reset + pool).  Must be stopped.  Main thread. */
void	 vring_free(struct vring *);

/*
 * SET_VRING_ADDR, with the three ring addresses already converted to
 * guest-physical.  The ring must be stopped and its size set.  Checks the
 * alignment (desc 16, avail 2, used 4) and that each ring of `num` entries
 * (with its event-index word) lies in one region of `mem`, stores the
 * addresses and flags; the worker sets used_idx from the guest's used->idx
 * when it next maps the ring (the main thread never reads guest memory:
 * under postcopy a page not yet placed would stall it).  -1 with *cause
 * set (nothing changed) on failure.  Main thread.
 */
int	 vring_set_addr(struct vring *vq, const struct guest_mem *mem,
	    uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
	    uint32_t flags, char **cause) __must_check;

/* True when the ring may run: size, addresses, kick fd set, enabled,
 * device not broken, worker answering.  Main thread. */
int	 vring_can_start(const struct vring *);
/* Start the ring on its worker if it can and is not started, or stop it
 * if it cannot and is started.  Main thread; waits (bounded) for the
 * worker. */
void	 vring_update(struct vring *);
/* Stop the ring if started (waits, bounded, for its worker).  0, or -1
 * when its worker did not answer: the device is then broken and the ring
 * stays the worker's (started), so nothing of it may be changed.  Main
 * thread. */
int	 vring_stop(struct vring *);
/*
 * Set the kick, call or err fd (or -1), taking ownership of `fd`.  The
 * old one is closed.  On a started ring the call and kick fds are swapped
 * on the worker without stopping the ring (no queue_stop/queue_start):
 * after a call fd swap the new fd is signalled once when anything was
 * pushed since the start (an interrupt raced with the swap is not lost);
 * after a kick fd swap the queue handler runs once (a kick raced with it
 * is not lost).  Removing the kick fd of a started ring stops it.  Main
 * thread.
 */
void	 vring_set_fd(struct vring *, enum vring_fd, int fd);
/* After a memory update: post a resume to the ring's worker if started
 * (a paused queue resumes, deferred pushes are done).  Main thread. */
void	 vring_resume(struct vring *);

/* Worker side of start and stop: called from the worker's command loop. */
void	 vring_worker_start(struct vring *);
void	 vring_worker_stop(struct vring *);
/* Has the module popped the ring's size in this turn?  Then the ring's
 * next turn is arranged, after the worker's other ready events, and the
 * module gets NULL from queue_pop.  Worker. */
int	 vring_turn_spent(struct vring *);

/*
 * The chain walker and used ring.  Worker (or a test harness with no
 * worker, given `mem` directly).  vring_pop returns NULL when the ring is
 * empty or on error; on error *err is set to a static message and the
 * caller breaks the device.
 */
struct vring_chain *vring_pop(struct vring *, const struct guest_mem *mem,
	    const char **err);
/* As vring_push; when the used ring lies in removed memory the push is
 * deferred until vring_push_deferred.  Worker. */
void	 vring_push(struct vring *, const struct guest_mem *mem,
	    struct vring_chain *, uint32_t len);
int	 vring_rewind(struct vring *, struct vring_chain *);
/* The virtio vring_need_event() test: has the used index passed `event`
 * in the step from `old_idx` to `new_idx`? */
int	 vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx);
/* Does the guest want an interrupt now?  Updates signalled_used. */
int	 vring_need_notify(struct vring *, const struct guest_mem *mem);
/* vring_need_notify, then eventfd_write(call_fd). */
void	 vring_notify(struct vring *, const struct guest_mem *mem);

/* Chain buffer access; see struct vhd_api for the semantics. */
ssize_t	 vring_chain_read(struct vring_chain *, const struct guest_mem *,
	    size_t offset, void *buf, size_t len);
ssize_t	 vring_chain_write(struct vring_chain *, const struct guest_mem *,
	    size_t offset, const void *buf, size_t len);
int	 vring_chain_iov(struct vring_chain *, const struct guest_mem *,
	    int writable, size_t offset, struct iovec *iov, int max);

/*
 * Internal to vring.c, vring_chain.c and vring_used.c.
 */
/* The device name for log lines, "?" without a device. */
const char *vring_name(const struct vring *);
/* Mark the device broken because of this ring (logs without a device). */
void	 vring_fail(struct vring *, const char *why);
/* One of a ring's three areas in guest memory: where, how long, its
 * alignment in host memory (a power of two) and the error when it is not
 * in guest memory. */
struct vring_area {
	uint64_t	 gpa;
	uint64_t	 len;
	uintptr_t	 align;
	const char	*missing;
};
/* Find the host addresses of the areas area[0..2] in `mem`.  0, or -1
 * with *err.  Any thread. */
int	 vring_areas_find(const struct guest_mem *mem,
	    const struct vring_area *area, void **desc, void **avail,
	    void **used, const char **err);
/* Find the host addresses of the three rings in `mem`.  0, or -1 with
 * *err.  Any thread. */
int	 vring_ring_ptrs(const struct vring *, const struct guest_mem *mem,
	    void **desc, void **avail, void **used, const char **err);
/* Make the cached ring pointers valid for `mem`.  0, or -1 with *err.
 * Owner of the ring. */
int	 vring_map(struct vring *, const struct guest_mem *mem,
	    const char **err);
/* Does any of the three rings lie in memory REM_MEM_REG removed? */
int	 vring_rings_removed(const struct vring *);
/* Chain pool management.  Owner of the ring. */
void	 vring_pool_reset(struct vring *);
void	 vring_pool_free(struct vring *);
void	 vring_pool_prepare(struct vring *);
/* Push the deferred chains (in avail order) if the used ring is back.
 * 0, or -1 when it is still missing.  Worker. */
int	 vring_push_deferred(struct vring *, const struct guest_mem *mem);
/* Write used->flags 0 (a previous back-end may have left NO_NOTIFY set).
 * Worker, ring mapped. */
void	 vring_used_flags_clear(struct vring *);
/* Write the used element of a split-ring chain and publish it.  Worker,
 * ring mapped. */
void	 vring_push_used(struct vring *, struct vring_chain *, uint32_t);
/* The guest's avail->idx of a split ring.  Worker. */
uint16_t vring_avail_idx(const struct vring *);

/* The position reclaim and rewind order chains by (avail_pos). */
static inline uint16_t
vring_pop_seq(const struct vring *vq)
{
	return (vq->packed ? vq->pop_seq : vq->last_avail_idx);
}

/* Shared by the split walker and the packed one (vring_chain.c). */
struct vring_desc;
extern const char vring_err_removed[];
int	 vring_chain_add(struct vring_chain *, const struct guest_mem *,
	    const struct vring_desc *, const char **);
void	 vring_chain_put(struct vring *, struct vring_chain *);
int	 vring_mapped(const struct guest_mem *, uint64_t, uint64_t);
int	 vring_read_guest(const struct guest_mem *, uint64_t, void *, size_t);
int	 vring_removed(const struct vring *, uint64_t, uint64_t);
void	 vring_pause(struct vring *, const char *);

/*
 * Packed virtqueues (vring_packed.c): the same operations for the packed
 * layout, called from the top of their split counterparts when vq->packed.
 */
int	 vring_packed_ring_ptrs(const struct vring *,
	    const struct guest_mem *, void **, void **, void **,
	    const char **);
int	 vring_packed_rings_removed(const struct vring *);
struct vring_chain *vring_packed_pop(struct vring *,
	    const struct guest_mem *, const char **);
void	 vring_packed_push_used(struct vring *, struct vring_chain *,
	    uint32_t);
int	 vring_packed_rewind(struct vring *, struct vring_chain *);
/* One descriptor of a chain (a ring slot or the region's copy of one):
 * add its buffer, or walk its indirect table.  *end: the chain ends here.
 * 0, or -1 with *err. */
int	 vring_packed_walk_desc(struct vring_chain *, const struct guest_mem *,
	    const struct vring_packed_desc *, int *end, const char **err);
/* Reclaim: make `c` (held, the oldest of the rewound tail) the next to
 * pop again. */
void	 vring_packed_unpop(struct vring *, struct vring_chain *);
int	 vring_packed_need_notify(struct vring *, const struct guest_mem *);
void	 vring_packed_flags_clear(struct vring *);
/* SET_VRING_BASE / GET_VRING_BASE: avail index and wrap in bits 0-15,
 * used index and wrap in bits 16-31.  Set: -1 with *cause. */
uint32_t vring_packed_get_base(const struct vring *);
int	 vring_packed_set_base(struct vring *, uint32_t, char **)
	    __must_check;

#endif /* VHOSTD_VRING_H */
