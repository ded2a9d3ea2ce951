/*
 * Test frontend: the packed-ring guest driver (virtio 1.1 2.8), as the
 * Linux driver does it.  A chain takes consecutive slots from the next
 * free one (or one slot for an indirect table), every descriptor carries
 * the buffer id, and the head's flags are written last with release
 * order, AVAIL = the avail wrap counter and USED = its inverse.  Used
 * descriptors are read in order at the used position; each gives back
 * the slots of its chain.  With EVENT_IDX the driver area asks for an
 * interrupt at the next used position (DESC), without it the area says
 * ENABLE.  fe_ring.c calls these from the top of the split functions.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"
#include "fe_priv.h"

/* Is the layout switch on (VHOSTD_FE_PACKED=1)? */
int
fe_env_packed(void)
{
	const char	*s = getenv("VHOSTD_FE_PACKED");

	return (s != NULL && strcmp(s, "1") == 0);
}

/* The flags making a descriptor available in a slot of wrap `wrap`. */
static uint16_t
fe_packed_avail_flags(int wrap)
{
	return (wrap ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED);
}

/* Write descriptor d at the next slot (flags plus the avail bits), the
 * flags last unless `head` (the caller publishes those); advance. */
static uint16_t
fe_packed_put(struct fe_queue *q, const struct vring_packed_desc *d,
    uint16_t *slot)
{
	struct vring_packed_desc	*s = &q->pdesc[q->pk_next];
	uint16_t			 flags;

	*slot = q->pk_next;
	s->addr = d->addr;
	s->len = d->len;
	s->id = d->id;
	flags = (uint16_t)((d->flags & ~(VRING_PACKED_DESC_F_AVAIL |
	    VRING_PACKED_DESC_F_USED)) | fe_packed_avail_flags(q->pk_wrap));
	if (++q->pk_next == q->num) {
		q->pk_next = 0;
		q->pk_wrap = !q->pk_wrap;
	}
	return (flags);
}

/* Write n descriptors at the next slots, the first one's flags last. */
static void
fe_packed_write(struct fe_queue *q, const struct vring_packed_desc *d,
    unsigned n)
{
	uint16_t	 head_flags = 0, flags, slot, head = 0;
	unsigned	 i;

	for (i = 0; i < n; i++) {
		flags = fe_packed_put(q, &d[i], &slot);
		if (i == 0) {
			head = slot;
			head_flags = flags;
		} else
			q->pdesc[slot].flags = flags;
	}
	/* Release: the descriptors (and the buffers) before the head. */
	__atomic_store_n(&q->pdesc[head].flags, head_flags, __ATOMIC_RELEASE);
}

/* Post a chain on a packed ring; returns its buffer id or -1. */
int
fe_packed_post(struct fe *fe, struct fe_queue *q, const struct fe_buf *bufs,
    unsigned n, unsigned flags)
{
	struct vring_packed_desc	 d[FE_MAX_INDIRECT], *tbl;
	uint16_t			 id, pos;
	unsigned			 i, slots;
	uint32_t			 wlen = 0;
	uint64_t			 wgpa = 0;

	slots = (flags & FE_POST_INDIRECT) ? 1 : n;
	if (n > FE_MAX_INDIRECT || slots > q->nfree ||
	    q->outstanding >= q->num) {
		fe_seterr("ring full (%u free, %u wanted)", q->nfree, slots);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (bufs[i].write) {
			if (wgpa == 0)
				wgpa = bufs[i].gpa;
			wlen += bufs[i].len;
		}
	}
	id = (uint16_t)q->free_head;
	q->free_head = q->free_next[id];
	for (i = 0; i < n; i++) {
		d[i].addr = bufs[i].gpa;
		d[i].len = bufs[i].len;
		d[i].id = id;
		d[i].flags = (uint16_t)((bufs[i].write ? VRING_DESC_F_WRITE :
		    0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0));
	}
	if (flags & FE_POST_INDIRECT) {
		if (q->indir_gpa == 0) {
			q->indir_gpa = fe_alloc(fe, (uint64_t)q->num *
			    FE_MAX_INDIRECT * 16, 16);
			if (q->indir_gpa == 0)
				return (-1);
		}
		tbl = fe_host(fe, q->indir_gpa + (uint64_t)id *
		    FE_MAX_INDIRECT * 16, (uint64_t)n * 16);
		if (tbl == NULL)
			abort();
		for (i = 0; i < n; i++) {
			tbl[i] = d[i];
			/* NEXT is reserved in a packed indirect table. */
			tbl[i].flags &= (uint16_t)~VRING_DESC_F_NEXT;
			tbl[i].id = 0;
		}
		d[0].addr = q->indir_gpa + (uint64_t)id * FE_MAX_INDIRECT * 16;
		d[0].len = n * 16;
		d[0].flags = VRING_DESC_F_INDIRECT;
	}
	pos = (uint16_t)(q->pk_next | (q->pk_wrap ? 0x8000 : 0));
	q->pk_pos[id] = pos;
	q->pk_seq[id] = q->avail_idx;
	q->chain_len[id] = (uint16_t)slots;
	q->req_len[id] = wlen;
	q->req_gpa[id] = wgpa;
	q->nfree -= slots;
	q->outstanding++;
	q->avail_idx++;
	fe_packed_write(q, d, slots);
	if (!(flags & FE_POST_NOKICK))
		fe_kick(fe, q->index);
	return (id);
}

/* Hand-made descriptors, no bookkeeping. */
void
fe_publish_packed(struct fe *fe, unsigned qi,
    const struct vring_packed_desc *d, unsigned n)
{
	fe_packed_write(fe_queue(fe, qi), d, n);
}

/* Take one used descriptor: 1, 0 none, -1 bad. */
int
fe_packed_get_used(struct fe_queue *q, uint32_t *id, uint32_t *len)
{
	struct vring_packed_desc	*s = &q->pdesc[q->pk_used];
	uint16_t			 flags, n;
	int				 a, u;

	flags = __atomic_load_n(&s->flags, __ATOMIC_ACQUIRE);
	a = (flags & VRING_PACKED_DESC_F_AVAIL) != 0;
	u = (flags & VRING_PACKED_DESC_F_USED) != 0;
	if (a != q->pk_used_wrap || u != q->pk_used_wrap)
		return (0);
	*id = s->id;
	*len = s->len;
	if (*id >= q->num || q->chain_len[*id] == 0) {
		fe_seterr("used id %u not outstanding", *id);
		return (-1);
	}
	n = q->chain_len[*id];
	q->pk_used = (uint16_t)(q->pk_used + n);
	if (q->pk_used >= q->num) {
		q->pk_used = (uint16_t)(q->pk_used - q->num);
		q->pk_used_wrap = !q->pk_used_wrap;
	}
	q->nfree += n;
	q->chain_len[*id] = 0;
	q->free_next[*id] = (uint16_t)q->free_head;
	q->free_head = *id;
	q->outstanding--;
	q->last_used++;
	if (*len > q->req_len[*id]) {
		fe_seterr("used len %u > %u writable bytes posted", *len,
		    q->req_len[*id]);
		return (-1);
	}
	return (1);
}

/* last_used plus the used descriptors the device wrote after it. */
uint16_t
fe_packed_used_idx(const struct fe_queue *q)
{
	const struct vring_packed_desc	*s;
	unsigned			 slot = q->pk_used, n = 0, done = 0;
	int				 wrap = q->pk_used_wrap, a, u;
	uint16_t			 flags;

	while (done < q->num) {
		s = &q->pdesc[slot];
		flags = __atomic_load_n(&s->flags, __ATOMIC_ACQUIRE);
		a = (flags & VRING_PACKED_DESC_F_AVAIL) != 0;
		u = (flags & VRING_PACKED_DESC_F_USED) != 0;
		if (a != wrap || u != wrap || s->id >= q->num ||
		    q->chain_len[s->id] == 0)
			break;
		n++;
		done += q->chain_len[s->id];
		slot += q->chain_len[s->id];
		if (slot >= q->num) {
			slot -= q->num;
			wrap = !wrap;
		}
	}
	return ((uint16_t)(q->last_used + n));
}

/* Does the device want a kick (device area not DISABLE)? */
int
fe_packed_kick_needed(struct fe_queue *q)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return (__atomic_load_n(&q->dev_ev->flags, __ATOMIC_ACQUIRE) !=
	    VRING_PACKED_EVENT_F_DISABLE);
}

/* EVENT_IDX: ask for an interrupt once the next used slot is written
 * (DESC at the used position and wrap). */
void
fe_packed_want_call(struct fe_queue *q)
{
	__atomic_store_n(&q->drv_ev->off_wrap, (uint16_t)(q->pk_used |
	    (q->pk_used_wrap ? 0x8000 : 0)), __ATOMIC_RELAXED);
	__atomic_store_n(&q->drv_ev->flags, VRING_PACKED_EVENT_F_DESC,
	    __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* The post count of the chain at ring position pos. */
uint32_t
fe_packed_count(const struct fe_queue *q, uint16_t pos)
{
	unsigned	 i;

	if (pos == (uint16_t)(q->pk_next | (q->pk_wrap ? 0x8000 : 0)))
		return (q->avail_idx);
	for (i = 0; i < q->num; i++) {
		if (q->chain_len[i] != 0 && q->pk_pos[i] == pos)
			return (q->pk_seq[i]);
	}
	return (0xffffffffu);
}
