/*
 * Split virtqueues, the guest-facing half: the descriptor-chain walker and
 * the chain pool (the used ring and guest notification are in
 * vring_used.c, chain buffer access in vring_buf.c).
 * Ring configuration and start/stop on the worker are in vring.c.
 *
 * Everything read from guest memory is hostile.  The walker reads each
 * descriptor once into a local copy, checks every index against the ring
 * or indirect-table size, bounds every chain by the ring size (loop
 * detection), checks every buffer against the current memory table (over
 * region boundaries) and never asserts on guest values: a bad chain makes
 * vring_pop() return NULL with a static message, and the caller breaks the
 * device.  A ring or buffer missing inside memory REM_MEM_REG removed is
 * not a bad chain: the queue pauses (vring.h).
 *
 * Guest-shared words (indices, flags, ring entries) are accessed with
 * relaxed C11 atomics; the ordering comes from the explicit fences, each
 * commented with what it orders.
 */
#include <sys/types.h>

#include <endian.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "dirty_log.h"
#include "guest_mem.h"
#include "inflight.h"
#include "log.h"
#include "vhost_user.h"
#include "vring.h"
#include "vring_word.h"
#include "worker.h"
#include "xmalloc.h"

/* struct vring_desc (vhost_user.h) is the guest layout, little endian. */
_Static_assert(sizeof(struct vring_desc) == 16, "descriptor is 16 bytes");

#define VRING_DESC_SIZE		16
/* avail: flags, idx, ring[num], used_event. */
#define VRING_AVAIL_SIZE(n)	(6 + 2 * (uint64_t)(n))
/* used: flags, idx, {id, len}[num], avail_event. */
#define VRING_USED_SIZE(n)	(6 + 8 * (uint64_t)(n))

/* The walker's "error" for a buffer in removed memory: not a bad chain,
 * the queue pauses instead (compared by address). */
const char vring_err_removed[] = "buffer is in removed memory";

static struct vring_chain *vring_pop_resubmit(struct vring *,
		    const struct guest_mem *, uint16_t, const char **);

/* The device name for log lines, "?" without a device (tests). */
const char *
vring_name(const struct vring *vq)
{
	if (vq->dev == NULL || vq->dev->name == NULL)
		return ("?");
	return (vq->dev->name);
}

/* Decode one descriptor from guest memory into host order. */
static void
vring_desc_decode(struct vring_desc *d, const void *src)
{
	memcpy(d, src, sizeof *d);
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

/* Mark the device broken because of this ring, or log without a device. */
void
vring_fail(struct vring *vq, const char *why)
{
	STATS_ADD(vq->stats.errors, 1);
	if (vq->dev != NULL)
		device_fail(vq->dev, "queue %u: %s", vq->index, why);
	else
		log_warnx("?: queue %u: %s", vq->index, why);
}

/* Is all of [gpa, gpa+len) guest memory?  0 or -1.  Loops over region
 * boundaries. */
int
vring_mapped(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	uint64_t	 n;

	if (len != 0 && len - 1 > UINT64_MAX - gpa)
		return (-1);
	while (len > 0) {
		n = len;
		if (guest_mem_translate(mem, gpa, &n) == NULL || n == 0)
			return (-1);
		gpa += n;
		len -= n;
	}
	return (0);
}

/* Copy len bytes of guest memory at gpa into buf, over region boundaries.
 * 0 or -1 when any of it is unmapped. */
int
vring_read_guest(const struct guest_mem *mem, uint64_t gpa, void *buf,
    size_t len)
{
	uint8_t		*out = buf;
	uint64_t	 n;
	const void	*p;

	while (len > 0) {
		n = len;
		if ((p = guest_mem_translate(mem, gpa, &n)) == NULL || n == 0)
			return (-1);
		memcpy(out, p, (size_t)n);
		out += n;
		gpa += n;
		len -= (size_t)n;
	}
	return (0);
}

/*
 * Find the host addresses of a ring's three areas (split: descriptor
 * table, available and used ring; packed: descriptor ring, driver and
 * device event areas) in `mem`, in *desc, *avail and *used: each must lie
 * in one region and be aligned in host memory too.  0, or -1 with *err
 * set.  Any thread.
 */
int
vring_areas_find(const struct guest_mem *mem, const struct vring_area *area,
    void **desc, void **avail, void **used, const char **err)
{
	void		**host[3] = { desc, avail, used };
	unsigned	  i;

	if (mem == NULL) {
		*err = "no guest memory";
		return (-1);
	}
	for (i = 0; i < 3; i++) {
		*host[i] = guest_mem_range(mem, area[i].gpa, area[i].len);
		if (*host[i] == NULL) {
			*err = area[i].missing;
			return (-1);
		}
	}
	/* A region mapped at an odd file offset would misalign the rings
	 * in our address space even when the guest addresses are aligned. */
	for (i = 0; i < 3; i++) {
		if (((uintptr_t)*host[i] & (area[i].align - 1)) != 0) {
			*err = "rings are misaligned in host memory";
			return (-1);
		}
	}
	return (0);
}

/*
 * Find the host addresses of the three rings of `num` entries in `mem`:
 * each must lie in one region and be aligned in host memory too.  0, or
 * -1 with *err set.  Any thread; touches no ring field but reads the
 * configuration.
 */
int
vring_ring_ptrs(const struct vring *vq, const struct guest_mem *mem,
    void **desc, void **avail, void **used, const char **err)
{
	const struct vring_area	 area[3] = {
		{ vq->desc_gpa, (uint64_t)vq->num * VRING_DESC_SIZE, 16,
		    "descriptor table is not in guest memory" },
		{ vq->avail_gpa, VRING_AVAIL_SIZE(vq->num), 2,
		    "available ring is not in guest memory" },
		{ vq->used_gpa, VRING_USED_SIZE(vq->num), 4,
		    "used ring is not in guest memory" },
	};

	if (vq->packed)
		return (vring_packed_ring_ptrs(vq, mem, desc, avail, used,
		    err));
	return (vring_areas_find(mem, area, desc, avail, used, err));
}

/* Make the cached ring host pointers valid for `mem` (re-derived when the
 * table's generation changed); the first map after SET_VRING_ADDR also
 * reads the guest's used->idx.  0, or -1 with *err set.  Worker. */
int
vring_map(struct vring *vq, const struct guest_mem *mem, const char **err)
{
	void	*desc, *avail, *used;

	if (mem == NULL) {
		*err = "no guest memory";
		return (-1);
	}
	if (vq->desc != NULL && vq->mem_gen == mem->gen)
		return (0);
	vq->desc = vq->avail = vq->used = NULL;
	vq->mem_gen = 0;
	if (vring_ring_ptrs(vq, mem, &desc, &avail, &used, err) == -1)
		return (-1);
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->mem_gen = mem->gen;
	if (vq->used_idx_load) {
		vq->used_idx = vring_load16((const uint8_t *)used + 2);
		vq->used_idx_load = 0;
	}
	return (0);
}

/* Does [gpa, gpa+len) touch memory REM_MEM_REG removed?  Any thread. */
int
vring_removed(const struct vring *vq, uint64_t gpa, uint64_t len)
{
	if (vq->dev == NULL)
		return (0);
	return (device_mem_removed(vq->dev, gpa, len));
}

/* Does any of the three rings lie in memory REM_MEM_REG removed?  Any
 * thread. */
int
vring_rings_removed(const struct vring *vq)
{
	if (vq->packed)
		return (vring_packed_rings_removed(vq));
	return (vring_removed(vq, vq->desc_gpa,
	    (uint64_t)vq->num * VRING_DESC_SIZE) ||
	    vring_removed(vq, vq->avail_gpa, VRING_AVAIL_SIZE(vq->num)) ||
	    vring_removed(vq, vq->used_gpa, VRING_USED_SIZE(vq->num)));
}

/* Pause the queue: memory under its ring or a buffer was removed.  The
 * next memory update resumes it (vring_resume).  Worker. */
void
vring_pause(struct vring *vq, const char *what)
{
	if (vq->paused)
		return;
	vq->paused = 1;
	log_info("%s: queue %u paused: %s is in removed guest memory",
	    vring_name(vq), vq->index, what);
}

/* Put every chain of the pool back on the free list.  Owner of the ring. */
void
vring_pool_reset(struct vring *vq)
{
	unsigned	 i;

	vq->free_chains = NULL;
	for (i = vq->pool_size; i > 0; i--) {
		vq->pool[i - 1].vq = vq;
		vq->pool[i - 1].in_use = 0;
		vq->pool[i - 1].deferred = 0;
		vq->pool[i - 1].next_free = vq->free_chains;
		vq->free_chains = &vq->pool[i - 1];
	}
	vq->inflight = 0;
	vq->ndeferred = 0;
	vq->last_popped = NULL;
}

/* Free the chain pool and its segment arrays.  Owner of the ring. */
void
vring_pool_free(struct vring *vq)
{
	unsigned	 i;

	for (i = 0; i < vq->pool_size; i++)
		free(vq->pool[i].segs);
	free(vq->pool);
	vq->pool = NULL;
	vq->pool_size = 0;
	vq->free_chains = NULL;
	vq->inflight = 0;
	vq->last_popped = NULL;
}

/* Size the chain pool to the ring size; only with no chain in flight.
 * Owner of the ring. */
void
vring_pool_prepare(struct vring *vq)
{
	if (vq->pool_size == vq->num || vq->inflight != 0)
		return;
	vring_pool_free(vq);
	if (vq->num == 0)
		return;
	vq->pool = xcalloc(vq->num, sizeof *vq->pool);
	vq->pool_size = vq->num;
	vring_pool_reset(vq);
}

/* Return a popped chain to the pool.  Owner of the ring. */
void
vring_chain_put(struct vring *vq, struct vring_chain *c)
{
	if (c->deferred) {
		c->deferred = 0;
		if (vq->ndeferred > 0)
			vq->ndeferred--;
	}
	c->in_use = 0;
	c->next_free = vq->free_chains;
	vq->free_chains = c;
	if (vq->inflight > 0)
		vq->inflight--;
	STATS_SET(vq->stats.inflight, vq->inflight);
	if (vq->last_popped == c)
		vq->last_popped = NULL;
}
/* Add one guest buffer to a chain being walked.  0, or -1 with *err. */
int
vring_chain_add(struct vring_chain *c, const struct guest_mem *mem,
    const struct vring_desc *d, const char **err)
{
	struct vring_seg	*s;
	int			 write = (d->flags & VRING_DESC_F_WRITE) != 0;

	/* An empty buffer carries nothing; drivers may still send one. */
	if (d->len == 0)
		return (0);
	if (!write && c->nsegs > c->nread) {
		*err = "readable descriptor after a writable one";
		return (-1);
	}
	if ((uint64_t)c->rlen + c->wlen + d->len > UINT32_MAX) {
		*err = "chain total length exceeds 4 GiB";
		return (-1);
	}
	if (vring_mapped(mem, d->addr, d->len) == -1) {
		*err = vring_removed(c->vq, d->addr, d->len) ?
		    vring_err_removed : "buffer is not in guest memory";
		return (-1);
	}
	if (c->nsegs == c->cap) {
		/* Grows once per pool entry, then reused. */
		c->cap = c->cap == 0 ? 8 : c->cap * 2;
		c->segs = xreallocarray(c->segs, c->cap, sizeof *c->segs);
	}
	s = &c->segs[c->nsegs++];
	s->gpa = d->addr;
	s->len = d->len;
	s->write = write;
	if (write)
		c->wlen += d->len;
	else {
		c->rlen += d->len;
		c->nread++;
	}
	return (0);
}

/* Walk an indirect table given by descriptor `d`.  0, or -1 with *err. */
static int
vring_walk_indirect(struct vring_chain *c, const struct guest_mem *mem,
    const struct vring_desc *d, const char **err)
{
	struct vring_desc	 e;
	uint8_t			 raw[VRING_DESC_SIZE];
	uint32_t		 n, j = 0, count = 0;

	if (d->flags & VRING_DESC_F_NEXT) {
		*err = "indirect descriptor has the NEXT flag";
		return (-1);
	}
	if (d->len == 0 || d->len % VRING_DESC_SIZE != 0) {
		*err = "indirect table length is not a multiple of 16";
		return (-1);
	}
	n = d->len / VRING_DESC_SIZE;
	if (n > VRING_MAX_SIZE) {
		*err = "indirect table is too big";
		return (-1);
	}
	if (vring_mapped(mem, d->addr, d->len) == -1) {
		*err = vring_removed(c->vq, d->addr, d->len) ?
		    vring_err_removed : "indirect table is not in guest memory";
		return (-1);
	}
	for (;;) {
		if (++count > n) {
			*err = "indirect descriptor chain loops";
			return (-1);
		}
		/* The table may cross a region boundary: copy it one
		 * descriptor at a time through the translation. */
		if (vring_read_guest(mem, d->addr + (uint64_t)j *
		    VRING_DESC_SIZE, raw, sizeof raw) == -1) {
			*err = "indirect table is not in guest memory";
			return (-1);
		}
		vring_desc_decode(&e, raw);
		if (e.flags & VRING_DESC_F_INDIRECT) {
			*err = "nested indirect table";
			return (-1);
		}
		if (vring_chain_add(c, mem, &e, err) == -1)
			return (-1);
		if (!(e.flags & VRING_DESC_F_NEXT))
			return (0);
		if (e.next >= n) {
			*err = "indirect next index out of range";
			return (-1);
		}
		j = e.next;
	}
}

/* Walk the chain starting at `head` into `c`.  0, or -1 with *err. */
static int
vring_walk(struct vring *vq, struct vring_chain *c,
    const struct guest_mem *mem, uint16_t head, const char **err)
{
	const uint8_t		*table = vq->desc;
	struct vring_desc	 d;
	unsigned		 count = 0;
	uint16_t		 i = head;

	for (;;) {
		if (++count > vq->num) {
			*err = "descriptor chain longer than the queue";
			return (-1);
		}
		vring_desc_decode(&d, table + (size_t)i * VRING_DESC_SIZE);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* The driver must not use INDIRECT unless it was
			 * negotiated (virtio 1.x 2.7.5.3.1). */
			if (!vq->indirect) {
				*err = "indirect descriptor without "
				    "VIRTIO_F_INDIRECT_DESC";
				return (-1);
			}
			return (vring_walk_indirect(c, mem, &d, err));
		}
		if (vring_chain_add(c, mem, &d, err) == -1)
			return (-1);
		if (!(d.flags & VRING_DESC_F_NEXT))
			return (0);
		if (d.next >= vq->num) {
			*err = "next descriptor index out of range";
			return (-1);
		}
		i = d.next;
	}
}

/* The guest's avail->idx.  Worker. */
uint16_t
vring_avail_idx(const struct vring *vq)
{
	return (vring_load16((const uint8_t *)vq->avail + 2));
}

static struct vring_chain *vring_split_pop(struct vring *,
		    const struct guest_mem *, const char **) __noinline;

/*
 * Take the next available chain, or NULL when the ring is empty or on
 * error (*err set).  The layouts' walkers are separate functions so this
 * one sets up no frame of its own: the dispatch costs a packed ring next
 * to nothing.  Worker, or a test with no worker.
 */
struct vring_chain *
vring_pop(struct vring *vq, const struct guest_mem *mem, const char **err)
{
	if (vq->packed)
		return (vring_packed_pop(vq, mem, err));
	return (vring_split_pop(vq, mem, err));
}

/* vring_pop for a split ring. */
static struct vring_chain *
vring_split_pop(struct vring *vq, const struct guest_mem *mem,
    const char **err)
{
	struct vring_chain	*c;
	uint16_t		 avail_idx, head;
	const uint8_t		*avail;

	*err = NULL;
	if (vq->num == 0 || !vq->addr_set) {
		*err = "queue is not configured";
		return (NULL);
	}
	if (vring_map(vq, mem, err) == -1) {
		if (vring_rings_removed(vq)) {
			vring_pause(vq, "the ring");
			*err = NULL;
		}
		return (NULL);
	}
	/* Inflight recovery: the chains a previous instance took come
	 * first. */
	if (vq->iq != NULL && inflight_resubmit_peek(vq, &head))
		return (vring_pop_resubmit(vq, mem, head, err));
	avail = vq->avail;

	avail_idx = vring_avail_idx(vq);
	if (avail_idx == vq->last_avail_idx) {
		if (!vq->event_idx)
			return (NULL);
		/* Ask for a kick when the guest adds the next buffer. */
		vring_store16((uint8_t *)vq->used + 4 + 8 * (size_t)vq->num,
		    vq->last_avail_idx);
		dirty_log_used(vq, 4 + 8 * (uint64_t)vq->num, 2);
		/*
		 * Full fence: our avail_event store must be visible before
		 * we read avail->idx again.  Otherwise the guest may publish
		 * a buffer, read the stale avail_event, skip the kick, and
		 * we would sleep with work pending.
		 */
		atomic_thread_fence(memory_order_seq_cst);
		avail_idx = vring_avail_idx(vq);
		if (avail_idx == vq->last_avail_idx)
			return (NULL);
	}
	/*
	 * Acquire: the avail->idx load above happens before our loads of
	 * the ring entry and the descriptors the guest published with it.
	 */
	atomic_thread_fence(memory_order_acquire);
	if ((uint16_t)(avail_idx - vq->last_avail_idx) > vq->num) {
		*err = "avail index moved by more than the queue size";
		return (NULL);
	}
	head = vring_load16(avail + 4 +
	    2 * (size_t)(vq->last_avail_idx % vq->num));
	if (head >= vq->num) {
		*err = "head descriptor index out of range";
		return (NULL);
	}

	if (vq->pool_size != vq->num) {
		if (vq->inflight != 0) {
			*err = "queue size changed with chains in flight";
			return (NULL);
		}
		vring_pool_prepare(vq);
	}
	if ((c = vq->free_chains) == NULL) {
		*err = "more chains in flight than the queue size";
		return (NULL);
	}
	c->vq = vq;
	c->nsegs = c->nread = 0;
	c->rlen = c->wlen = 0;
	if (vring_walk(vq, c, mem, head, err) == -1) {
		/* Not taken: the chain stays in the avail ring and is
		 * walked again when the queue resumes. */
		if (*err == vring_err_removed) {
			vring_pause(vq, "a buffer");
			*err = NULL;
		}
		return (NULL);
	}

	vq->free_chains = c->next_free;
	c->next_free = NULL;
	c->in_use = 1;
	c->resubmitted = 0;
	c->head = head;
	c->avail_pos = vq->last_avail_idx;
	vq->last_avail_idx++;
	vq->inflight++;
	vq->last_popped = c;
	STATS_SET(vq->stats.inflight, vq->inflight);
	STATS_ADD(vq->stats.chains, 1);
	STATS_ADD(vq->stats.bytes_in, c->rlen);
	if (vq->iq != NULL)
		inflight_pop(vq, head);
	return (c);
}

/*
 * Pop the chain at `head` that inflight recovery resubmits: walked as any
 * chain, not taken from the avail ring (last_avail_idx already counts
 * it), never rewound.  Worker, ring mapped.
 */
static struct vring_chain *
vring_pop_resubmit(struct vring *vq, const struct guest_mem *mem,
    uint16_t head, const char **err)
{
	struct vring_chain	*c;

	if (vq->pool_size != vq->num) {
		if (vq->inflight != 0) {
			*err = "queue size changed with chains in flight";
			return (NULL);
		}
		vring_pool_prepare(vq);
	}
	if (head >= vq->num || (c = vq->free_chains) == NULL) {
		*err = "bad resubmitted chain";
		return (NULL);
	}
	c->vq = vq;
	c->nsegs = c->nread = 0;
	c->rlen = c->wlen = 0;
	if (vring_walk(vq, c, mem, head, err) == -1) {
		if (*err == vring_err_removed) {
			vring_pause(vq, "a buffer");
			*err = NULL;
		}
		return (NULL);
	}
	inflight_resubmit_take(vq);
	vq->free_chains = c->next_free;
	c->next_free = NULL;
	c->in_use = 1;
	c->resubmitted = 1;
	c->head = head;
	c->avail_pos = vq->last_avail_idx;
	vq->inflight++;
	STATS_SET(vq->stats.inflight, vq->inflight);
	STATS_ADD(vq->stats.chains, 1);
	STATS_ADD(vq->stats.bytes_in, c->rlen);
	return (c);
}

/* Undo the most recent pop of an unpushed chain.  0 or -1.  Worker. */
int
vring_rewind(struct vring *vq, struct vring_chain *c)
{
	if (vq->packed)
		return (vring_packed_rewind(vq, c));
	if (c == NULL || c != vq->last_popped || !c->in_use || c->deferred ||
	    c->resubmitted ||
	    c->avail_pos != (uint16_t)(vq->last_avail_idx - 1))
		return (-1);
	if (vq->iq != NULL)
		inflight_unmark(vq, c);
	vq->last_avail_idx--;
	vring_chain_put(vq, c);
	return (0);
}
