/*
 * Inflight I/O tracking for packed rings: the spec's packed layout
 * ("Inflight I/O tracking", packed virtqueues), its marks on pop, push
 * and rewind, and recovery with resubmission at queue start.
 *
 * Layout, per queue at q * INFLIGHT_PK_QUEUE_SIZE(queue_size): a 32-byte
 * header {u64 features; u16 version, desc_num, free_head, old_free_head,
 * used_idx, old_used_idx; u8 used_wrap_counter, old_used_wrap_counter;
 * u8 padding[7]} (desc[] starts at 32, its 8-byte alignment), then
 * desc_num 32-byte entries {u8 inflight; u8 padding; u16 next, last,
 * num; u64 counter; u16 id, flags; u32 len; u64 addr}.  Little endian.
 *
 * Why a copy of the descriptors: in a packed ring the device writes used
 * descriptors into the slots the driver filled, in completion order, so
 * a chain completed out of order overwrites slots of older chains still
 * in flight.  Each descriptor taken is copied to an entry taken from a
 * free list (the chain's entries linked by `next`, the head holding num,
 * last, counter and the inflight mark), and recovery rebuilds the chain
 * from the copy.
 *
 * Protocol (worker):
 * - pop: each slot walked is copied to the next free entry (the free
 *   head is not moved yet: a walk that fails leaves only free entries
 *   written); once taken, head.{num, last, counter}, head.inflight = 1,
 *   then free_head and old_free_head past the chain;
 * - push: last.next = free_head, free_head = head, used_idx and
 *   used_wrap_counter past the chain (in progress); the used descriptor
 *   is written and published; then old_free_head, head.inflight = 0,
 *   old_used_wrap_counter, old_used_idx (committed);
 * - rewind: the chain goes back on the free list (free_head and
 *   old_free_head), then head.inflight = 0;
 * - start: recovery.  If (used_idx, used_wrap) differs from the old pair
 *   a push was in progress: it was published when the ring slot at
 *   old_used_idx no longer holds the available flags of
 *   old_used_wrap_counter (then old_* := current), else it is rolled
 *   back (current := old_*).  The entries on the free list are unmarked;
 *   every other entry must belong to exactly one marked chain, and those
 *   are resubmitted in counter order.  The ring's used position is the
 *   region's (QEMU cannot know it after a back-end death: the SET_VRING_BASE
 *   it sends is whatever it had at the last successful GET_VRING_BASE),
 *   and the avail position is that plus the slots of the chains in
 *   flight: slots between the two were taken and are either resubmitted
 *   or were completed out of order.
 * The orders above make every crash point recover to a state where each
 * taken chain is either in flight (marked, not free) or not (free).
 *
 * A header with version 0 is fresh: the first start writes it from the
 * ring's indices (GET_INFLIGHT_FD leaves it so, since the queue may have
 * run before).  The region is hostile: while the ring runs it is only
 * written (the links are kept in inflight_queue too); at start it is read
 * field by field, every index checked, the free list and the chains
 * walked with bounds and loop detection, and a region that makes no sense
 * breaks the device with a reason and changes nothing.
 */

#include <sys/types.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "inflight.h"
#include "log.h"
#include "vhost_user.h"
#include "vring.h"
#include "xmalloc.h"

/* Offsets in a queue header and in an entry. */
#define INFLIGHT_PK_H_VERSION	8
#define INFLIGHT_PK_H_DESC_NUM	10
#define INFLIGHT_PK_H_FREE	12
#define INFLIGHT_PK_H_OLD_FREE	14
#define INFLIGHT_PK_H_USED	16
#define INFLIGHT_PK_H_OLD_USED	18
#define INFLIGHT_PK_H_WRAP	20
#define INFLIGHT_PK_H_OLD_WRAP	21
#define INFLIGHT_PK_D_INFLIGHT	0
#define INFLIGHT_PK_D_NEXT	2
#define INFLIGHT_PK_D_LAST	4
#define INFLIGHT_PK_D_NUM	6
#define INFLIGHT_PK_D_COUNTER	8
#define INFLIGHT_PK_D_ID	16
#define INFLIGHT_PK_D_FLAGS	18
#define INFLIGHT_PK_D_LEN	20
#define INFLIGHT_PK_D_ADDR	24

/* Offset of the flags in a ring descriptor. */
#define INFLIGHT_PK_RING_FLAGS	14

/* Entry `i` of a queue's part of the region. */
static uint8_t *
inflight_packed_ent(const struct inflight_queue *iq, uint16_t i)
{
	return (iq->base + INFLIGHT_PK_HDR_SIZE +
	    (size_t)i * INFLIGHT_PK_DESC_SIZE);
}

/* Store a 32-bit little-endian word of the region. */
static void
inflight_packed_store32(uint8_t *p, uint32_t v)
{
	atomic_store_explicit((_Atomic uint32_t *)(void *)p, htole32(v),
	    memory_order_relaxed);
}

/* Is the tracking for this ring on (a packed region, the ring packed)? */
static struct inflight_queue *
inflight_packed_iq(struct vring *vq)
{
	struct inflight_queue	*iq = vq->iq;

	if (iq == NULL || !iq->packed || !vq->packed || vq->num > iq->size)
		return (NULL);
	return (iq);
}

/* Order resubmitted entries by counter (then entry). */
static int
inflight_packed_cmp(const void *a, const void *b)
{
	const struct inflight_entry	*ea = a, *eb = b;

	if (ea->counter != eb->counter)
		return (ea->counter < eb->counter ? -1 : 1);
	return ((int)ea->head - (int)eb->head);
}

/* A fresh header (version 0): an empty free list of every entry, the
 * ring's used position, then the version.  Worker. */
static void
inflight_packed_init(struct vring *vq, struct inflight_queue *iq)
{
	uint8_t		*h = iq->base;
	uint16_t	 i, n = vq->num;

	for (i = 0; i < n; i++) {
		iq->pk_next[i] = (uint16_t)(i + 1);
		inflight_store8(inflight_packed_ent(iq, i) +
		    INFLIGHT_PK_D_INFLIGHT, 0);
		inflight_store16(inflight_packed_ent(iq, i) +
		    INFLIGHT_PK_D_NEXT, (uint16_t)(i + 1));
	}
	iq->pk_free = 0;
	inflight_store16(h + INFLIGHT_PK_H_DESC_NUM, n);
	inflight_store16(h + INFLIGHT_PK_H_FREE, 0);
	inflight_store16(h + INFLIGHT_PK_H_OLD_FREE, 0);
	inflight_store16(h + INFLIGHT_PK_H_USED, vq->used_idx);
	inflight_store16(h + INFLIGHT_PK_H_OLD_USED, vq->used_idx);
	inflight_store8(h + INFLIGHT_PK_H_WRAP, (uint8_t)vq->used_wrap);
	inflight_store8(h + INFLIGHT_PK_H_OLD_WRAP, (uint8_t)vq->used_wrap);
	atomic_signal_fence(memory_order_release);
	inflight_store16(h + INFLIGHT_PK_H_VERSION, INFLIGHT_VERSION);
	iq->counter = 1;
	/* Chains taken before there was a region cannot be recorded:
	 * after a kill they are taken from the ring again (as for split
	 * rings), which blk's requests allow. */
	if (vq->last_avail_idx != vq->used_idx ||
	    vq->avail_wrap != vq->used_wrap)
		log_info("%s: queue %u: chains in flight before the inflight "
		    "region existed are not tracked", vring_name(vq),
		    vq->index);
}

/*
 * Queue start for a packed ring: recovery (see the top of the file).
 * Everything is read and checked into locals and `iq`'s own arrays before
 * the region or the ring indices change.  0, or -1 with *err.  Worker,
 * ring mapped.
 */
int
inflight_packed_start(struct vring *vq, const char **err)
{
	struct inflight_queue	*iq = vq->iq;
	uint8_t			*h = iq->base, *state = NULL, *e;
	uint16_t		 version, n, fh, ofh, u, ou, i, j, k, len;
	uint16_t		 nfree, nheld, ring_flags, avail;
	uint8_t			 w, ow, fl;
	uint64_t		 c, max = 0;
	unsigned		 slots = 0, nres = 0, steps;
	int			 aw, rc = -1;

	/* state[i]: 0 unclaimed, 1 free, 2 in a chain in flight. */
	version = inflight_load16(h + INFLIGHT_PK_H_VERSION);
	if (vq->num > iq->size) {
		*err = "inflight region: queue larger than the region";
		return (-1);
	}
	if (version == 0) {
		inflight_packed_init(vq, iq);
		return (0);
	}
	if (version != INFLIGHT_VERSION) {
		*err = "inflight region: unknown version";
		return (-1);
	}
	n = inflight_load16(h + INFLIGHT_PK_H_DESC_NUM);
	if (n != vq->num) {
		*err = "inflight region: descriptor count is not the queue "
		    "size";
		return (-1);
	}
	fh = inflight_load16(h + INFLIGHT_PK_H_FREE);
	ofh = inflight_load16(h + INFLIGHT_PK_H_OLD_FREE);
	u = inflight_load16(h + INFLIGHT_PK_H_USED);
	ou = inflight_load16(h + INFLIGHT_PK_H_OLD_USED);
	w = inflight_load8(h + INFLIGHT_PK_H_WRAP);
	ow = inflight_load8(h + INFLIGHT_PK_H_OLD_WRAP);
	if (u >= n || ou >= n || w > 1 || ow > 1) {
		*err = "inflight region: used index out of range";
		return (-1);
	}
	if (fh > n || ofh > n) {
		*err = "inflight region: free list head out of range";
		return (-1);
	}
	/* A push in progress: published (commit) or not (roll back)? */
	if (u != ou || w != ow) {
		ring_flags = inflight_load16((const uint8_t *)vq->desc +
		    (size_t)ou * 16 + INFLIGHT_PK_RING_FLAGS);
		if ((ring_flags & (VRING_PACKED_DESC_F_AVAIL |
		    VRING_PACKED_DESC_F_USED)) != (ow ?
		    VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED)) {
			ofh = fh;
			ou = u;
			ow = w;
		}
	}
	fh = ofh;
	u = ou;
	w = ow;

	state = xcalloc(n, 1);
	/* The free list: in range, no loop, ends at desc_num. */
	nfree = 0;
	for (i = fh, steps = 0; i != n; steps++) {
		if (steps >= n || i > n) {
			*err = "inflight region: free list is broken";
			goto out;
		}
		if (state[i] != 0) {
			*err = "inflight region: free list loops";
			goto out;
		}
		state[i] = 1;
		nfree++;
		iq->pk_next[i] = inflight_load16(inflight_packed_ent(iq, i) +
		    INFLIGHT_PK_D_NEXT);
		i = iq->pk_next[i];
	}
	/* The marked entries off the free list head chains in flight. */
	for (i = 0; i < n; i++) {
		e = inflight_packed_ent(iq, i);
		fl = inflight_load8(e + INFLIGHT_PK_D_INFLIGHT);
		if (fl > 1) {
			*err = "inflight region: bad inflight flag";
			goto out;
		}
		if (fl == 0 || state[i] == 1)
			continue;
		if (state[i] != 0) {
			*err = "inflight region: chains overlap";
			goto out;
		}
		len = inflight_load16(e + INFLIGHT_PK_D_NUM);
		if (len == 0 || len > n || slots + len > vq->num) {
			*err = "inflight region: more descriptors in flight "
			    "than the queue size";
			goto out;
		}
		slots += len;
		state[i] = 2;
		for (j = i, k = 1; k < len; k++) {
			iq->pk_next[j] = inflight_load16(inflight_packed_ent(iq,
			    j) + INFLIGHT_PK_D_NEXT);
			j = iq->pk_next[j];
			if (j >= n || state[j] != 0) {
				*err = "inflight region: chains overlap";
				goto out;
			}
			state[j] = 2;
		}
		if (inflight_load16(e + INFLIGHT_PK_D_LAST) != j) {
			*err = "inflight region: chain does not end at its "
			    "last entry";
			goto out;
		}
		iq->pk_last[i] = j;
		c = inflight_load64(e + INFLIGHT_PK_D_COUNTER);
		iq->resubmit[nres].counter = c;
		iq->resubmit[nres].num = len;
		iq->resubmit[nres++].head = i;
		if (c > max)
			max = c;
	}
	/* Nothing leaked: each entry free or in exactly one chain. */
	for (i = 0, nheld = 0; i < n; i++)
		nheld += state[i] == 2;
	if ((unsigned)nfree + nheld != n) {
		*err = "inflight region: entries neither free nor in flight";
		goto out;
	}

	/* Checked: write the recovered state back. */
	for (i = 0; i < n; i++) {
		if (state[i] == 1)
			inflight_store8(inflight_packed_ent(iq, i) +
			    INFLIGHT_PK_D_INFLIGHT, 0);
	}
	inflight_store16(h + INFLIGHT_PK_H_FREE, fh);
	inflight_store16(h + INFLIGHT_PK_H_OLD_FREE, fh);
	inflight_store16(h + INFLIGHT_PK_H_USED, u);
	inflight_store16(h + INFLIGHT_PK_H_OLD_USED, u);
	inflight_store8(h + INFLIGHT_PK_H_WRAP, w);
	inflight_store8(h + INFLIGHT_PK_H_OLD_WRAP, w);
	atomic_signal_fence(memory_order_release);
	iq->pk_free = fh;
	iq->nresubmit = nres;
	if (nres > 1)
		qsort(iq->resubmit, nres, sizeof *iq->resubmit,
		    inflight_packed_cmp);
	iq->counter = max + 1;

	avail = (uint16_t)((unsigned)u + slots);
	aw = w;
	if (avail >= n) {
		avail = (uint16_t)(avail - n);
		aw = !aw;
	}
	if (nres > 0)
		log_info("%s: queue %u: %u requests (%u slots) in flight at "
		    "the last stop, served again first", vring_name(vq),
		    vq->index, nres, slots);
	/* After a back-end death QEMU's base is stale: ours is right. */
	if (vq->used_idx != u || vq->used_wrap != w ||
	    vq->last_avail_idx != avail || vq->avail_wrap != aw)
		log_info("%s: queue %u: ring position avail %u/%d used %u/%d "
		    "from the inflight region (SET_VRING_BASE said %u/%d "
		    "%u/%d)", vring_name(vq), vq->index, avail, aw, u, w,
		    vq->last_avail_idx, vq->avail_wrap, vq->used_idx,
		    vq->used_wrap);
	vq->used_idx = u;
	vq->used_wrap = w;
	vq->last_avail_idx = avail;
	vq->avail_wrap = aw;
	vq->signalled_used_valid = 0;
	rc = 0;
out:
	if (rc == -1) {
		iq->nresubmit = 0;
		iq->pk_free = (uint16_t)n;
	}
	free(state);
	return (rc);
}

/* Copy descriptor k of the chain being walked into the next free entry.
 * 0, or -1 with *err.  Worker. */
int
inflight_packed_desc(struct vring *vq, unsigned k,
    const struct vring_packed_desc *d, const char **err)
{
	struct inflight_queue	*iq;
	uint8_t			*e;
	uint16_t		 i;

	if ((iq = inflight_packed_iq(vq)) == NULL)
		return (0);
	i = k == 0 ? iq->pk_free : iq->pk_next[iq->pk_cur];
	if (i >= vq->num) {
		*err = "more descriptors in flight than the queue size";
		return (-1);
	}
	if (k == 0)
		iq->pk_first = i;
	iq->pk_cur = i;
	e = inflight_packed_ent(iq, i);
	inflight_store64(e + INFLIGHT_PK_D_ADDR, d->addr);
	inflight_packed_store32(e + INFLIGHT_PK_D_LEN, d->len);
	inflight_store16(e + INFLIGHT_PK_D_ID, d->id);
	inflight_store16(e + INFLIGHT_PK_D_FLAGS, d->flags);
	return (0);
}

/* The walked chain `c` was taken: its head entry is marked in flight,
 * then the free list moves past it.  Worker. */
void
inflight_packed_pop(struct vring *vq, struct vring_chain *c)
{
	struct inflight_queue	*iq;
	uint8_t			*e;
	uint16_t		 first, last;

	if ((iq = inflight_packed_iq(vq)) == NULL)
		return;
	first = iq->pk_first;
	last = iq->pk_cur;
	e = inflight_packed_ent(iq, first);
	inflight_store16(e + INFLIGHT_PK_D_NUM, c->ndesc);
	inflight_store16(e + INFLIGHT_PK_D_LAST, last);
	inflight_store64(e + INFLIGHT_PK_D_COUNTER, iq->counter++);
	atomic_signal_fence(memory_order_release);
	inflight_store8(e + INFLIGHT_PK_D_INFLIGHT, 1);
	atomic_signal_fence(memory_order_release);
	iq->pk_free = iq->pk_next[last];
	iq->pk_last[first] = last;
	inflight_store16(iq->base + INFLIGHT_PK_H_FREE, iq->pk_free);
	atomic_signal_fence(memory_order_release);
	inflight_store16(iq->base + INFLIGHT_PK_H_OLD_FREE, iq->pk_free);
	c->if_entry = first;
}

/* Put the chain whose head entry is `first` back on the free list
 * (free_head only: old_free_head is the caller's).  Worker. */
static void
inflight_packed_free_chain(struct inflight_queue *iq, uint16_t first)
{
	uint16_t	 last = iq->pk_last[first];

	iq->pk_next[last] = iq->pk_free;
	inflight_store16(inflight_packed_ent(iq, last) + INFLIGHT_PK_D_NEXT,
	    iq->pk_free);
	iq->pk_free = first;
	atomic_signal_fence(memory_order_release);
	inflight_store16(iq->base + INFLIGHT_PK_H_FREE, first);
}

/* Before the used descriptor of `c` is written: the update in progress
 * (free list, used position and wrap after it).  Worker. */
void
inflight_packed_push_begin(struct vring *vq, struct vring_chain *c,
    uint16_t used_idx, int used_wrap)
{
	struct inflight_queue	*iq;

	if ((iq = inflight_packed_iq(vq)) == NULL || c->if_entry >= vq->num)
		return;
	inflight_packed_free_chain(iq, c->if_entry);
	inflight_store8(iq->base + INFLIGHT_PK_H_WRAP, (uint8_t)used_wrap);
	inflight_store16(iq->base + INFLIGHT_PK_H_USED, used_idx);
	/* All of it before the used descriptor's flags. */
	atomic_signal_fence(memory_order_release);
}

/* After the used descriptor was published: commit the update.  The old
 * free head goes first (a chain off the free list must stay marked), the
 * old wrap before the old index (so a half-committed pair still differs
 * from the current one).  Worker. */
void
inflight_packed_push_end(struct vring *vq, struct vring_chain *c,
    uint16_t used_idx, int used_wrap)
{
	struct inflight_queue	*iq;

	if ((iq = inflight_packed_iq(vq)) == NULL || c->if_entry >= vq->num)
		return;
	atomic_signal_fence(memory_order_release);
	inflight_store16(iq->base + INFLIGHT_PK_H_OLD_FREE, iq->pk_free);
	atomic_signal_fence(memory_order_release);
	inflight_store8(inflight_packed_ent(iq, c->if_entry) +
	    INFLIGHT_PK_D_INFLIGHT, 0);
	atomic_signal_fence(memory_order_release);
	inflight_store8(iq->base + INFLIGHT_PK_H_OLD_WRAP, (uint8_t)used_wrap);
	atomic_signal_fence(memory_order_release);
	inflight_store16(iq->base + INFLIGHT_PK_H_OLD_USED, used_idx);
}

/* A chain goes back to the ring unserved: back on the free list, then
 * unmarked.  A resubmitted chain is never rewound.  Worker. */
void
inflight_packed_unmark(struct vring *vq, struct vring_chain *c)
{
	struct inflight_queue	*iq;

	if ((iq = inflight_packed_iq(vq)) == NULL || c->if_entry >= vq->num ||
	    c->resubmitted)
		return;
	inflight_packed_free_chain(iq, c->if_entry);
	atomic_signal_fence(memory_order_release);
	inflight_store16(iq->base + INFLIGHT_PK_H_OLD_FREE, iq->pk_free);
	atomic_signal_fence(memory_order_release);
	inflight_store8(inflight_packed_ent(iq, c->if_entry) +
	    INFLIGHT_PK_D_INFLIGHT, 0);
}

/*
 * Build the chain of head entry `first` from the region's copy: the
 * descriptors are read once each and walked as ring slots are (every
 * buffer checked); the links come from our own checked copy.  The chain
 * must end exactly at its last entry.  0, or -1 with *err.  Worker.
 */
int
inflight_packed_resubmit(struct vring *vq, struct vring_chain *c,
    const struct guest_mem *mem, uint16_t first, const char **err)
{
	struct inflight_queue		*iq;
	struct vring_packed_desc	 d;
	const uint8_t			*e;
	uint16_t			 i, k, n;
	int				 end = 0;

	if ((iq = inflight_packed_iq(vq)) == NULL || first >= vq->num ||
	    iq->next >= iq->nresubmit || iq->resubmit[iq->next].head != first) {
		*err = "bad resubmitted chain";
		return (-1);
	}
	/* The length checked at start, not what the region says now. */
	n = iq->resubmit[iq->next].num;
	memset(&d, 0, sizeof d);
	for (i = first, k = 0; k < n; k++) {
		if (k > 0)
			i = iq->pk_next[i];
		if (i >= vq->num || end) {
			*err = "inflight region: resubmitted chain is "
			    "longer than its descriptors say";
			return (-1);
		}
		e = inflight_packed_ent(iq, i);
		d.addr = inflight_load64(e + INFLIGHT_PK_D_ADDR);
		d.len = le32toh(atomic_load_explicit((_Atomic uint32_t *)
		    (uintptr_t)(e + INFLIGHT_PK_D_LEN), memory_order_relaxed));
		d.id = inflight_load16(e + INFLIGHT_PK_D_ID);
		d.flags = inflight_load16(e + INFLIGHT_PK_D_FLAGS);
		if (vring_packed_walk_desc(c, mem, &d, &end, err) == -1)
			return (-1);
	}
	if (n == 0 || !end || i != iq->pk_last[first]) {
		*err = "inflight region: resubmitted chain does not end at "
		    "its last descriptor";
		return (-1);
	}
	if (d.id >= vq->num) {
		*err = "inflight region: buffer id out of range";
		return (-1);
	}
	c->head = d.id;
	c->ndesc = n;
	c->if_entry = first;
	return (0);
}
