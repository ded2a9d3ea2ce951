/*
 * Packed virtqueues (virtio 1.1 2.8): the chain walker, used descriptors,
 * rewind, guest notification through the event suppression structures,
 * and the packed SET/GET_VRING_BASE encoding.  Called from the top of the
 * split functions in vring_chain.c and vring.c when VIRTIO_F_RING_PACKED
 * was acked (vq->packed); everything else (the chain pool, chain buffer
 * access, start, stop, reclaim, pause on removed memory, fd swaps) is
 * shared with split rings, and the rules in vring.h hold for both.
 *
 * The layout.  One ring of `num` 16-byte descriptors {addr, len, id,
 * flags}, written by the driver to make buffers available and by the
 * device to mark them used.  A descriptor at the device's avail position
 * is available when its AVAIL flag equals the avail wrap counter and its
 * USED flag does not; the device writes a used descriptor {id, len} at its
 * used position with both flags equal to the used wrap counter.  Each
 * counter flips when its position passes the end of the ring.  A chain
 * takes consecutive slots (NEXT), or one slot for an indirect table, and
 * its used descriptor advances the used position by that many slots, in
 * completion order (out of order is allowed: the id says which buffer).
 * The driver area (vq->avail_gpa) says when to interrupt the guest
 * (ENABLE, DISABLE, or DESC: at a used offset and wrap, with EVENT_IDX);
 * the device area (vq->used_gpa) says when to kick: we always want kicks.
 *
 * Everything read from guest memory is hostile, as for split rings: each
 * descriptor is read once into a local copy, chains are bounded by the
 * ring size, indirect tables by their length (no nesting, and only with
 * VIRTIO_F_INDIRECT_DESC), buffer ids must be below the ring size, and
 * every buffer is checked against the memory table.  A bad chain makes
 * vring_packed_pop return NULL with a static message: the caller breaks
 * the device.
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
#include "xmalloc.h"

_Static_assert(sizeof(struct vring_packed_desc) == 16,
    "packed descriptor is 16 bytes");
_Static_assert(sizeof(struct vring_packed_event) == 4,
    "event suppression structure is 4 bytes");

#define VRING_PACKED_DESC_SIZE	16
#define VRING_PACKED_EVENT_SIZE	4
/* Offsets inside a descriptor and an event structure. */
#define VRING_PACKED_OFF_LEN	8
#define VRING_PACKED_OFF_ID	12
#define VRING_PACKED_OFF_FLAGS	14
#define VRING_PACKED_OFF_EVFLAGS 2

/* Decode one packed descriptor from guest memory into host order. */
static void
vring_packed_decode(struct vring_packed_desc *d, const void *src)
{
	memcpy(d, src, sizeof *d);
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->id = le16toh(d->id);
	d->flags = le16toh(d->flags);
}

/* Is a descriptor with these flags available for the wrap counter? */
static int
vring_packed_is_avail(uint16_t flags, int wrap)
{
	int	 avail = (flags & VRING_PACKED_DESC_F_AVAIL) != 0;
	int	 used = (flags & VRING_PACKED_DESC_F_USED) != 0;

	return (avail == wrap && used != wrap);
}

/*
 * Find the host addresses of the descriptor ring and the driver and device
 * event areas in `mem`: each in one region, aligned (16, 4, 4) in host
 * memory too.  0, or -1 with *err.  Any thread.
 */
int
vring_packed_ring_ptrs(const struct vring *vq, const struct guest_mem *mem,
    void **desc, void **driver, void **device, const char **err)
{
	const struct vring_area	 area[3] = {
		{ vq->desc_gpa, (uint64_t)vq->num * VRING_PACKED_DESC_SIZE, 16,
		    "descriptor ring is not in guest memory" },
		{ vq->avail_gpa, VRING_PACKED_EVENT_SIZE, 4,
		    "driver event area is not in guest memory" },
		{ vq->used_gpa, VRING_PACKED_EVENT_SIZE, 4,
		    "device event area is not in guest memory" },
	};

	if (mem == NULL) {
		*err = "no guest memory";
		return (-1);
	}
	if ((vq->avail_gpa & 3) != 0 || (vq->used_gpa & 3) != 0) {
		*err = "event suppression area is misaligned";
		return (-1);
	}
	return (vring_areas_find(mem, area, desc, driver, device, err));
}

/* Does the ring or an event area lie in memory REM_MEM_REG removed? */
int
vring_packed_rings_removed(const struct vring *vq)
{
	return (vring_removed(vq, vq->desc_gpa,
	    (uint64_t)vq->num * VRING_PACKED_DESC_SIZE) ||
	    vring_removed(vq, vq->avail_gpa, VRING_PACKED_EVENT_SIZE) ||
	    vring_removed(vq, vq->used_gpa, VRING_PACKED_EVENT_SIZE));
}

/* Walk the indirect table given by `d` (all len/16 entries, in order; the
 * NEXT flag is reserved there).  0, or -1 with *err. */
static int
vring_packed_walk_indirect(struct vring_chain *c, const struct guest_mem *mem,
    const struct vring_packed_desc *d, const char **err)
{
	struct vring_packed_desc	 e;
	struct vring_desc		 s;
	uint8_t				 raw[VRING_PACKED_DESC_SIZE];
	uint32_t			 n, j;

	if (d->flags & VRING_DESC_F_NEXT) {
		*err = "indirect descriptor has the NEXT flag";
		return (-1);
	}
	if (d->len == 0 || d->len % VRING_PACKED_DESC_SIZE != 0) {
		*err = "indirect table length is not a multiple of 16";
		return (-1);
	}
	n = d->len / VRING_PACKED_DESC_SIZE;
	if (n > VRING_MAX_SIZE) {
		*err = "indirect table is too big";
		return (-1);
	}
	if (vring_mapped(mem, d->addr, d->len) == -1) {
		*err = vring_removed(c->vq, d->addr, d->len) ?
		    vring_err_removed : "indirect table is not in guest memory";
		return (-1);
	}
	for (j = 0; j < n; j++) {
		/* The table may cross a region boundary: copy it one
		 * descriptor at a time through the translation. */
		if (vring_read_guest(mem, d->addr + (uint64_t)j *
		    VRING_PACKED_DESC_SIZE, raw, sizeof raw) == -1) {
			*err = "indirect table is not in guest memory";
			return (-1);
		}
		vring_packed_decode(&e, raw);
		if (e.flags & VRING_DESC_F_INDIRECT) {
			*err = "nested indirect table";
			return (-1);
		}
		s.addr = e.addr;
		s.len = e.len;
		s.flags = e.flags & VRING_DESC_F_WRITE;
		s.next = 0;
		if (vring_chain_add(c, mem, &s, err) == -1)
			return (-1);
	}
	return (0);
}

/* One descriptor of a chain: its buffer, or its indirect table (which
 * ends the chain).  *end when the chain ends here.  0, or -1 with *err. */
int
vring_packed_walk_desc(struct vring_chain *c, const struct guest_mem *mem,
    const struct vring_packed_desc *d, int *end, const char **err)
{
	struct vring_desc	 s;

	if (d->flags & VRING_DESC_F_INDIRECT) {
		if (!c->vq->indirect) {
			*err = "indirect descriptor without "
			    "VIRTIO_F_INDIRECT_DESC";
			return (-1);
		}
		*end = 1;
		return (vring_packed_walk_indirect(c, mem, d, err));
	}
	s.addr = d->addr;
	s.len = d->len;
	s.flags = d->flags & (VRING_DESC_F_WRITE | VRING_DESC_F_NEXT);
	s.next = 0;
	*end = !(d->flags & VRING_DESC_F_NEXT);
	return (vring_chain_add(c, mem, &s, err));
}

/*
 * Walk the chain at the avail position into `c`: consecutive slots while
 * NEXT is set (over the end of the ring), or an indirect table.  Sets
 * *id (from the last descriptor, where the driver puts the buffer id),
 * *ndesc (ring slots used) and the position and wrap after it.  With an
 * inflight region each slot is copied to it as walked.  0, or -1 with
 * *err.
 */
static int
vring_packed_walk(struct vring *vq, struct vring_chain *c,
    const struct guest_mem *mem, uint16_t *id, uint16_t *ndesc,
    uint16_t *next_idx, int *next_wrap, const char **err)
{
	const uint8_t			*ring = vq->desc;
	struct vring_packed_desc	 d;
	unsigned			 count = 0;
	uint16_t			 i = vq->last_avail_idx;
	int				 wrap = vq->avail_wrap, end = 0;

	while (!end) {
		if (++count > vq->num) {
			*err = "descriptor chain longer than the queue";
			return (-1);
		}
		vring_packed_decode(&d, ring + (size_t)i *
		    VRING_PACKED_DESC_SIZE);
		if (++i == vq->num) {
			i = 0;
			wrap = !wrap;
		}
		if (vq->iq != NULL && inflight_packed_desc(vq, count - 1, &d,
		    err) == -1)
			return (-1);
		if (vring_packed_walk_desc(c, mem, &d, &end, err) == -1)
			return (-1);
	}
	if (d.id >= vq->num) {
		*err = "buffer id out of range";
		return (-1);
	}
	*id = d.id;
	*ndesc = (uint16_t)count;
	*next_idx = i;
	*next_wrap = wrap;
	return (0);
}

/*
 * Take the next chain inflight recovery resubmits, built from the
 * region's copy of its descriptors (the ring slots may have been
 * overwritten by used descriptors since): not from the avail position,
 * never rewound.  Worker, ring mapped.
 */
static struct vring_chain *
vring_packed_pop_resubmit(struct vring *vq, const struct guest_mem *mem,
    uint16_t entry, const char **err)
{
	struct vring_chain	*c;

	if (vq->pool_size != vq->num) {
		if (vq->inflight != 0) {
			*err = "queue size changed with chains in flight";
			return (NULL);
		}
		vring_pool_prepare(vq);
	}
	if ((c = vq->free_chains) == NULL) {
		*err = "bad resubmitted chain";
		return (NULL);
	}
	c->vq = vq;
	c->nsegs = c->nread = 0;
	c->rlen = c->wlen = 0;
	if (inflight_packed_resubmit(vq, c, mem, entry, err) == -1) {
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
	c->deferred = 0;
	c->avail_pos = vq->pop_seq;
	c->pk_pos = 0;
	vq->inflight++;
	STATS_SET(vq->stats.inflight, vq->inflight);
	STATS_ADD(vq->stats.chains, 1);
	STATS_ADD(vq->stats.bytes_in, c->rlen);
	return (c);
}

/*
 * Take the next available chain, or NULL when the ring is empty or on
 * error (*err set).  Worker, or a test with no worker.
 */
struct vring_chain *
vring_packed_pop(struct vring *vq, const struct guest_mem *mem,
    const char **err)
{
	struct vring_chain	*c;
	uint16_t		 flags, id, ndesc, next_idx, entry;
	int			 next_wrap;

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
	/* SET_VRING_BASE may have come before a smaller SET_VRING_NUM. */
	if (vq->last_avail_idx >= vq->num || vq->used_idx >= vq->num) {
		*err = "ring index out of range for the queue size";
		return (NULL);
	}
	/* Inflight recovery: the chains a previous instance took come
	 * first. */
	if (vq->iq != NULL && inflight_resubmit_peek(vq, &entry))
		return (vring_packed_pop_resubmit(vq, mem, entry, err));
	flags = vring_load16((const uint8_t *)vq->desc +
	    (size_t)vq->last_avail_idx * VRING_PACKED_DESC_SIZE +
	    VRING_PACKED_OFF_FLAGS);
	if (!vring_packed_is_avail(flags, vq->avail_wrap))
		return (NULL);
	/*
	 * Acquire: the flags load above happens before our loads of the
	 * rest of the descriptor and of the chain the driver published
	 * with it (it writes the head's flags last).
	 */
	atomic_thread_fence(memory_order_acquire);

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
	if (vring_packed_walk(vq, c, mem, &id, &ndesc, &next_idx, &next_wrap,
	    err) == -1) {
		/* Not taken: walked again when the queue resumes. */
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
	c->head = id;
	c->ndesc = ndesc;
	c->pk_pos = (uint16_t)(vq->last_avail_idx |
	    (vq->avail_wrap ? VRING_PACKED_WRAP : 0));
	c->avail_pos = vq->pop_seq;
	vq->pop_seq++;
	vq->last_avail_idx = next_idx;
	vq->avail_wrap = next_wrap;
	vq->inflight++;
	vq->last_popped = c;
	if (vq->iq != NULL)
		inflight_packed_pop(vq, c);
	return (c);
}

/* Write the used descriptor of `c` at the used position and publish it.
 * Worker, ring mapped. */
void
vring_packed_push_used(struct vring *vq, struct vring_chain *c, uint32_t len)
{
	uint8_t		*ent;
	uint32_t	 next;
	uint16_t	 flags, slot = vq->used_idx;
	int		 wrap;

	next = (uint32_t)vq->used_idx + c->ndesc;
	wrap = vq->used_wrap;
	if (next >= vq->num) {
		next -= vq->num;
		wrap = !wrap;
	}
	if (vq->iq != NULL)
		inflight_packed_push_begin(vq, c, (uint16_t)next, wrap);
	ent = (uint8_t *)vq->desc + (size_t)vq->used_idx *
	    VRING_PACKED_DESC_SIZE;
	vring_store32(ent + VRING_PACKED_OFF_LEN, len);
	vring_store16(ent + VRING_PACKED_OFF_ID, c->head);
	flags = vq->used_wrap ? (VRING_PACKED_DESC_F_AVAIL |
	    VRING_PACKED_DESC_F_USED) : 0;
	/*
	 * Release: the id and length, and whatever we wrote into the
	 * guest's buffers, become visible before the flags that hand the
	 * descriptor back.
	 */
	atomic_thread_fence(memory_order_release);
	vring_store16(ent + VRING_PACKED_OFF_FLAGS, flags);
	/* Migration: the buffers and the descriptor are dirty. */
	dirty_log_push_packed(vq, c, len, slot);
	vq->used_idx = (uint16_t)next;
	vq->used_wrap = wrap;
	if (vq->iq != NULL)
		inflight_packed_push_end(vq, c, (uint16_t)next, wrap);
	vq->pushed = 1;
	/* More than a ring's worth since the last interrupt: the offset
	 * test below can no longer tell, interrupt. */
	vq->unsignalled += c->ndesc;
	if (vq->unsignalled >= vq->num)
		vq->signalled_used_valid = 0;
	vring_chain_put(vq, c);
}

/* Undo the most recent pop of an unpushed chain.  0 or -1.  Worker. */
int
vring_packed_rewind(struct vring *vq, struct vring_chain *c)
{
	if (c == NULL || c != vq->last_popped || !c->in_use || c->deferred ||
	    c->resubmitted || c->avail_pos != (uint16_t)(vq->pop_seq - 1))
		return (-1);
	if (vq->iq != NULL)
		inflight_packed_unmark(vq, c);
	vring_packed_unpop(vq, c);
	vring_chain_put(vq, c);
	return (0);
}

/* Back to the avail position `c` was popped at.  Owner of the ring. */
void
vring_packed_unpop(struct vring *vq, struct vring_chain *c)
{
	vq->last_avail_idx = c->pk_pos & ~VRING_PACKED_WRAP;
	vq->avail_wrap = (c->pk_pos & VRING_PACKED_WRAP) != 0;
	vq->pop_seq = c->avail_pos;
}

/*
 * Does the guest want an interrupt now?  The driver area's flags: ENABLE
 * yes, DISABLE no, DESC (with EVENT_IDX) when the used position passed
 * the event offset and wrap since the last interrupt.  Worker.
 */
int
vring_packed_need_notify(struct vring *vq, const struct guest_mem *mem)
{
	const uint8_t	*drv;
	const char	*err;
	uint16_t	 flags, off_wrap, head;
	int		 valid, old, new, event;

	if (vq->num == 0 || !vq->addr_set || vring_map(vq, mem, &err) == -1)
		return (0);
	drv = vq->avail;
	/*
	 * Full fence: our used descriptor stores must be visible before we
	 * read the guest's event flags, or we could miss that it just
	 * re-enabled interrupts and went to sleep.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if (vq->dev != NULL && vq->inflight == 0 &&
	    (atomic_load(&vq->dev->acked_features) &
	    (1ULL << VHD_F_NOTIFY_ON_EMPTY)) && vq->last_avail_idx < vq->num) {
		head = vring_load16((const uint8_t *)vq->desc +
		    (size_t)vq->last_avail_idx * VRING_PACKED_DESC_SIZE +
		    VRING_PACKED_OFF_FLAGS);
		if (!vring_packed_is_avail(head, vq->avail_wrap))
			return (1);
	}
	/* Whatever the flags say, the next DESC test counts from here. */
	valid = vq->signalled_used_valid;
	vq->signalled_used_valid = 1;
	old = vq->signalled_used;
	new = vq->signalled_used = vq->used_idx;
	vq->unsignalled = 0;
	flags = vring_load16(drv + VRING_PACKED_OFF_EVFLAGS);
	if (flags == VRING_PACKED_EVENT_F_DISABLE)
		return (0);
	/* DESC is only defined with EVENT_IDX; anything else enables. */
	if (flags != VRING_PACKED_EVENT_F_DESC || !vq->event_idx || !valid)
		return (1);
	off_wrap = vring_load16(drv);
	event = off_wrap & ~VRING_PACKED_WRAP;
	/* Positions relative to the current lap (as DPDK and Linux): the
	 * old one and the event one lap back when they are. */
	if (new <= old)
		old -= vq->num;
	if (((off_wrap & VRING_PACKED_WRAP) != 0) != vq->used_wrap)
		event -= vq->num;
	return ((unsigned)(new - event - 1) < (unsigned)(new - old));
}

/* The device area: we always want kicks (ENABLE), whatever a previous
 * back-end left there.  Worker, ring mapped. */
void
vring_packed_flags_clear(struct vring *vq)
{
	vring_store16((uint8_t *)vq->used, 0);
	vring_store16((uint8_t *)vq->used + VRING_PACKED_OFF_EVFLAGS,
	    VRING_PACKED_EVENT_F_ENABLE);
	dirty_log_write(vq->dev, vq->used_gpa, VRING_PACKED_EVENT_SIZE);
	vq->unsignalled = 0;
}

/* GET_VRING_BASE of a packed ring: avail index and wrap in the low 16
 * bits, used index and wrap in the high 16 (QEMU's encoding). */
uint32_t
vring_packed_get_base(const struct vring *vq)
{
	uint32_t	 a, u;

	a = vq->last_avail_idx | (vq->avail_wrap ? VRING_PACKED_WRAP : 0);
	u = vq->used_idx | (vq->used_wrap ? VRING_PACKED_WRAP : 0);
	return (a | u << 16);
}

/*
 * SET_VRING_BASE of a packed ring.  The high 16 bits are the used index
 * and wrap; a frontend that sends only the low 16 bits (0 above) means
 * used == avail, which is what an exact GET_VRING_BASE leaves anyway (no
 * chain in flight).  Indices must be below the ring size when it is
 * known.  0, or -1 with *cause (nothing changed).  Main thread, stopped.
 */
int
vring_packed_set_base(struct vring *vq, uint32_t base, char **cause)
{
	uint16_t	 a = base & 0xffff, u = base >> 16;

	if (u == 0)
		u = a;
	if (vq->num != 0 && ((a & ~VRING_PACKED_WRAP) >= vq->num ||
	    (u & ~VRING_PACKED_WRAP) >= vq->num)) {
		xasprintf(cause, "packed base 0x%x out of range for size %u",
		    base, vq->num);
		return (-1);
	}
	vq->last_avail_idx = a & ~VRING_PACKED_WRAP;
	vq->avail_wrap = (a & VRING_PACKED_WRAP) != 0;
	vq->used_idx = u & ~VRING_PACKED_WRAP;
	vq->used_wrap = (u & VRING_PACKED_WRAP) != 0;
	vq->pop_seq = 0;
	vq->signalled_used_valid = 0;
	vq->unsignalled = 0;
	return (0);
}
