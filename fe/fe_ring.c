/*
 * Test frontend: guest memory access, the split-ring guest driver
 * (chains, kicks, used entries; packed rings in fe_packed.c) and the rng
 * read loop.
 * See fe.h.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fe.h"
#include "fe_priv.h"

/* Allocate guest memory from region `region`. */
uint64_t
fe_alloc_in(struct fe *fe, int region, uint64_t size, uint64_t align)
{
	struct fe_region	*r;
	uint64_t		 off;

	if (region < 0 || (unsigned)region >= fe->nregions) {
		fe_seterr("bad region %d", region);
		return (0);
	}
	if (align == 0)
		align = 1;
	r = &fe->regions[region];
	off = (r->gpa + r->next + align - 1) / align * align - r->gpa;
	if (off > r->size || size > r->size - off) {
		fe_seterr("region %d full", region);
		return (0);
	}
	r->next = off + size;
	return (r->gpa + off);
}

/* Allocate guest memory from the first region with room. */
uint64_t
fe_alloc(struct fe *fe, uint64_t size, uint64_t align)
{
	unsigned	i;
	uint64_t	gpa;

	for (i = 0; i < fe->nregions; i++) {
		if (fe->regions[i].no_alloc)
			continue;
		if ((gpa = fe_alloc_in(fe, (int)i, size, align)) != 0)
			return (gpa);
	}
	fe_seterr("guest memory full (%llu bytes)", (unsigned long long)size);
	return (0);
}

/* Find the region holding gpa. */
static struct fe_region *
fe_region_of(struct fe *fe, uint64_t gpa)
{
	unsigned	i;

	for (i = 0; i < fe->nregions; i++) {
		if (gpa >= fe->regions[i].gpa &&
		    gpa - fe->regions[i].gpa < fe->regions[i].size)
			return (&fe->regions[i]);
	}
	return (NULL);
}

/* Host address of a range within one region. */
void *
fe_host(struct fe *fe, uint64_t gpa, uint64_t len)
{
	struct fe_region	*r = fe_region_of(fe, gpa);

	if (r == NULL || len > r->size - (gpa - r->gpa))
		return (NULL);
	return (r->host + (gpa - r->gpa));
}

/* Copy between guest memory and buf across regions. */
static int
fe_copy(struct fe *fe, uint64_t gpa, void *buf, const void *src, int c,
    size_t len)
{
	struct fe_region	*r;
	uint64_t		 n;
	uint8_t			*h;

	while (len > 0) {
		if ((r = fe_region_of(fe, gpa)) == NULL) {
			fe_seterr("gpa 0x%llx not mapped",
			    (unsigned long long)gpa);
			return (-1);
		}
		n = r->size - (gpa - r->gpa);
		if (n > len)
			n = len;
		h = r->host + (gpa - r->gpa);
		if (buf != NULL) {
			memcpy(buf, h, n);
			buf = (uint8_t *)buf + n;
		} else if (src != NULL) {
			memcpy(h, src, n);
			src = (const uint8_t *)src + n;
		} else
			memset(h, c, n);
		gpa += n;
		len -= n;
	}
	return (0);
}

/* Read guest memory. */
int
fe_read(struct fe *fe, uint64_t gpa, void *buf, size_t len)
{
	return (fe_copy(fe, gpa, buf, NULL, 0, len));
}

/* Write guest memory. */
int
fe_write(struct fe *fe, uint64_t gpa, const void *buf, size_t len)
{
	return (fe_copy(fe, gpa, NULL, buf, 0, len));
}

/* Fill guest memory with a byte. */
int
fe_fill(struct fe *fe, uint64_t gpa, int c, size_t len)
{
	return (fe_copy(fe, gpa, NULL, NULL, c, len));
}

/* ------------------------------------------------------------------ */

/* Return queue q. */
struct fe_queue *
fe_queue(struct fe *fe, unsigned q)
{
	return (&fe->queues[q < FE_MAX_QUEUES ? q : 0]);
}

/* Take a descriptor from the free list. */
static uint16_t
fe_desc_get(struct fe_queue *q)
{
	uint16_t	d = (uint16_t)q->free_head;

	q->free_head = q->free_next[d];
	q->nfree--;
	return (d);
}

/* Publish head in the avail ring (release). */
static void
fe_avail_publish(struct fe_queue *q, uint16_t head)
{
	q->avail->ring[q->avail_idx % q->num] = head;
	q->avail_idx++;
	__atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
}

/* Post a chain of buffers. */
int
fe_post(struct fe *fe, unsigned qi, const struct fe_buf *bufs, unsigned n,
    unsigned flags)
{
	struct fe_queue		*q = fe_queue(fe, qi);
	struct vring_desc	*tbl;
	uint16_t		 head, d, prev = 0;
	uint32_t		 wlen = 0;
	uint64_t		 wgpa = 0;
	unsigned		 i;

	if (!q->allocated || n == 0) {
		fe_seterr("queue %u not set up or empty chain", qi);
		return (-1);
	}
	if (q->packed)
		return (fe_packed_post(fe, q, bufs, n, flags));
	for (i = 0; i < n; i++) {
		if (bufs[i].write) {
			if (wgpa == 0)
				wgpa = bufs[i].gpa;
			wlen += bufs[i].len;
		}
	}
	if (flags & FE_POST_INDIRECT) {
		if (n > FE_MAX_INDIRECT || q->nfree == 0) {
			fe_seterr("indirect chain too long or ring full");
			return (-1);
		}
		if (q->indir_gpa == 0) {
			q->indir_gpa = fe_alloc(fe, (uint64_t)q->num *
			    FE_MAX_INDIRECT * 16, 16);
			if (q->indir_gpa == 0)
				return (-1);
		}
		head = fe_desc_get(q);
		tbl = fe_host(fe, q->indir_gpa + (uint64_t)head *
		    FE_MAX_INDIRECT * 16, (uint64_t)n * 16);
		if (tbl == NULL)
			abort();
		for (i = 0; i < n; i++) {
			tbl[i].addr = bufs[i].gpa;
			tbl[i].len = bufs[i].len;
			tbl[i].flags = (uint16_t)((bufs[i].write ?
			    VRING_DESC_F_WRITE : 0) |
			    (i + 1 < n ? VRING_DESC_F_NEXT : 0));
			tbl[i].next = (uint16_t)(i + 1 < n ? i + 1 : 0);
		}
		q->desc[head].addr = q->indir_gpa + (uint64_t)head *
		    FE_MAX_INDIRECT * 16;
		q->desc[head].len = n * 16;
		q->desc[head].flags = VRING_DESC_F_INDIRECT;
		q->desc[head].next = 0;
		q->chain_len[head] = 1;
	} else {
		if (n > q->nfree) {
			fe_seterr("ring full (%u free, %u wanted)", q->nfree,
			    n);
			return (-1);
		}
		head = 0;
		for (i = 0; i < n; i++) {
			d = fe_desc_get(q);
			if (i == 0)
				head = d;
			else {
				q->desc[prev].next = d;
				q->desc[prev].flags |= VRING_DESC_F_NEXT;
				q->chain_next[prev] = d;
			}
			q->desc[d].addr = bufs[i].gpa;
			q->desc[d].len = bufs[i].len;
			q->desc[d].flags = bufs[i].write ? VRING_DESC_F_WRITE :
			    0;
			q->desc[d].next = 0;
			prev = d;
		}
		q->chain_len[head] = (uint16_t)n;
	}
	q->req_len[head] = wlen;
	q->req_gpa[head] = wgpa;
	q->outstanding++;
	fe_avail_publish(q, head);
	if (!(flags & FE_POST_NOKICK))
		fe_kick(fe, qi);
	return (head);
}

/* Publish a hand-made head. */
void
fe_publish_raw(struct fe *fe, unsigned qi, uint16_t head)
{
	fe_avail_publish(fe_queue(fe, qi), head);
}

/* Kick queue q. */
int
fe_kick(struct fe *fe, unsigned qi)
{
	if (eventfd_write(fe_queue(fe, qi)->kick_fd, 1) == -1) {
		fe_seterr("kick: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/* Kick when the device asked for it (EVENT_IDX or NO_NOTIFY). */
int
fe_kick_if_needed(struct fe *fe, unsigned qi, uint16_t old_idx)
{
	struct fe_queue	*q = fe_queue(fe, qi);
	uint16_t	 event, new_idx = q->avail_idx;

	if (q->packed)
		return (fe_packed_kick_needed(q) ? fe_kick(fe, qi) : 0);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (fe->event_idx) {
		event = __atomic_load_n((uint16_t *)(void *)
		    &q->used->ring[q->num], __ATOMIC_ACQUIRE);
		if ((uint16_t)(new_idx - event - 1) >=
		    (uint16_t)(new_idx - old_idx))
			return (0);
	} else if (__atomic_load_n(&q->used->flags, __ATOMIC_ACQUIRE) &
	    VRING_USED_F_NO_NOTIFY)
		return (0);
	return (fe_kick(fe, qi));
}

/* Ask for an interrupt at the used entry `ahead` after the next one. */
void
fe_set_used_event(struct fe *fe, unsigned qi, uint16_t ahead)
{
	struct fe_queue	*q = fe_queue(fe, qi);
	unsigned	 slot;
	int		 wrap;

	if (q->packed) {
		slot = q->pk_used + ahead % q->num;
		wrap = q->pk_used_wrap;
		if (slot >= q->num) {
			slot -= q->num;
			wrap = !wrap;
		}
		__atomic_store_n(&q->drv_ev->off_wrap, (uint16_t)(slot |
		    (wrap ? 0x8000 : 0)), __ATOMIC_RELAXED);
		__atomic_store_n(&q->drv_ev->flags, VRING_PACKED_EVENT_F_DESC,
		    __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(&q->avail->ring[q->num], (uint16_t)(q->last_used +
	    ahead), __ATOMIC_RELEASE);
}

/* Wait on an eventfd and consume it. */
static int
fe_wait_eventfd(int fd, int timeout_ms)
{
	struct pollfd	pfd;
	eventfd_t	v;
	int		r;

	pfd.fd = fd;
	pfd.events = POLLIN;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r == -1 && errno == EINTR);
	if (r <= 0)
		return (0);
	eventfd_read(fd, &v);
	return (1);
}

/* Wait for the call eventfd. */
int
fe_wait_call(struct fe *fe, unsigned qi, int timeout_ms)
{
	struct fe_queue	*q = fe_queue(fe, qi);
	int		 r = fe_wait_eventfd(q->call_fd, timeout_ms);

	q->calls += (uint64_t)r;
	return (r);
}

/* Wait for the err eventfd. */
int
fe_wait_err(struct fe *fe, unsigned qi, int timeout_ms)
{
	return (fe_wait_eventfd(fe_queue(fe, qi)->err_fd, timeout_ms));
}

/* The device's used index, as a count. */
uint16_t
fe_used_idx(struct fe *fe, unsigned qi)
{
	struct fe_queue	*q = fe_queue(fe, qi);

	if (q->packed)
		return (fe_packed_used_idx(q));
	return (__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE));
}

/* Take one used entry and free its descriptors. */
int
fe_get_used(struct fe *fe, unsigned qi, uint32_t *id, uint32_t *len)
{
	struct fe_queue		*q = fe_queue(fe, qi);
	struct vring_used_elem	 e;
	uint16_t		 idx, d;
	unsigned		 i, n;

	if (!q->allocated)
		return (0);
	if (q->packed)
		return (fe_packed_get_used(q, id, len));
	idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	if (idx == q->last_used)
		return (0);
	if ((uint16_t)(idx - q->last_used) > q->num) {
		fe_seterr("used idx %u runs %u ahead of %u", idx,
		    (uint16_t)(idx - q->last_used), q->last_used);
		return (-1);
	}
	e = q->used->ring[q->last_used % q->num];
	q->last_used++;
	*id = e.id;
	*len = e.len;
	if (e.id >= q->num || q->chain_len[e.id] == 0) {
		fe_seterr("used id %u not outstanding", e.id);
		return (-1);
	}
	n = q->chain_len[e.id];
	d = (uint16_t)e.id;
	for (i = 1; i < n; i++)
		d = q->chain_next[d];
	q->free_next[d] = (uint16_t)q->free_head;
	q->free_head = e.id;
	q->nfree += n;
	q->chain_len[e.id] = 0;
	q->outstanding--;
	if (e.len > q->req_len[e.id]) {
		fe_seterr("used len %u > %u writable bytes posted", e.len,
		    q->req_len[e.id]);
		return (-1);
	}
	return (1);
}

/* Take one used entry, waiting for the call fd. */
int
fe_wait_used(struct fe *fe, unsigned qi, uint32_t *id, uint32_t *len,
    int timeout_ms)
{
	struct fe_queue	*q = fe_queue(fe, qi);
	int64_t		 deadline = fe_now_ms() + timeout_ms, left;
	int		 r;

	for (;;) {
		if ((r = fe_get_used(fe, qi, id, len)) != 0)
			return (r);
		if (fe->event_idx && q->allocated && q->packed) {
			fe_packed_want_call(q);
			if ((r = fe_get_used(fe, qi, id, len)) != 0)
				return (r);
		} else if (fe->event_idx && q->allocated) {
			/* used_event: interrupt me once entry last_used is
			 * written; then look again to close the race. */
			__atomic_store_n(&q->avail->ring[q->num], q->last_used,
			    __ATOMIC_RELEASE);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if ((r = fe_get_used(fe, qi, id, len)) != 0)
				return (r);
		}
		left = deadline - fe_now_ms();
		if (left <= 0) {
			fe_seterr("queue %u: timeout waiting for used entries"
			    " (%u outstanding)", qi, q->outstanding);
			return (0);
		}
		fe_wait_call(fe, qi, (int)left);
	}
}

/* ------------------------------------------------------------------ */

/* Read entropy from queue q. */
int
fe_rng_read(struct fe *fe, unsigned qi, void *out, size_t total,
    size_t chunk, unsigned depth, unsigned segs, int indirect,
    struct fe_rng_stats *st)
{
	struct fe_queue	*q = fe_queue(fe, qi);
	struct fe_buf	 bufs[FE_MAX_INDIRECT];
	uint16_t	*slot_of = NULL, *free_slots = NULL;
	uint64_t	 stride, start_ns, calls0;
	size_t		 done = 0, inflight = 0, len, part, off;
	uint32_t	 id, ulen, *posted = NULL;
	unsigned	 nfree_slots, i, nseg, slot;
	int		 head, r, ret = -1, posted_any;

	memset(st, 0, sizeof *st);
	if (!q->allocated || chunk == 0 || segs == 0 ||
	    segs > FE_MAX_INDIRECT || (!indirect && segs > q->num)) {
		fe_seterr("bad rng_read arguments");
		return (-1);
	}
	if (depth == 0 || depth > q->num)
		depth = q->num;
	if (!indirect && depth * segs > q->num)
		depth = q->num / segs;
	stride = (chunk + 63) & ~(uint64_t)63;
	if (fe->pool_size < stride * depth) {
		fe->pool_gpa = fe_alloc(fe, stride * depth, 4096);
		if (fe->pool_gpa == 0)
			return (-1);
		fe->pool_size = stride * depth;
	}
	slot_of = calloc(q->num, sizeof *slot_of);
	free_slots = calloc(depth, sizeof *free_slots);
	posted = calloc(depth, sizeof *posted);
	if (slot_of == NULL || free_slots == NULL || posted == NULL)
		abort();
	for (i = 0; i < depth; i++)
		free_slots[i] = (uint16_t)(depth - 1 - i);
	nfree_slots = depth;
	calls0 = q->calls;
	start_ns = fe_now_ns();

	while (done < total) {
		posted_any = 0;
		while (nfree_slots > 0 && done + inflight < total) {
			len = total - done - inflight;
			if (len > chunk)
				len = chunk;
			slot = free_slots[--nfree_slots];
			nseg = segs < len ? segs : (unsigned)len;
			for (i = 0, off = 0; i < nseg; i++) {
				part = len / nseg + (i < len % nseg ? 1 : 0);
				bufs[i].gpa = fe->pool_gpa + slot * stride +
				    off;
				bufs[i].len = (uint32_t)part;
				bufs[i].write = 1;
				off += part;
			}
			head = fe_post(fe, qi, bufs, nseg, FE_POST_NOKICK |
			    (indirect ? FE_POST_INDIRECT : 0));
			if (head < 0)
				goto out;
			slot_of[head] = (uint16_t)slot;
			posted[slot] = (uint32_t)len;
			inflight += len;
			posted_any = 1;
		}
		if (posted_any && fe_kick(fe, qi) == -1)
			goto out;
		r = fe_wait_used(fe, qi, &id, &ulen, fe->timeout_ms);
		if (r != 1)
			goto out;
		while (r == 1) {
			slot = slot_of[id];
			if (out != NULL && ulen > 0 && fe_read(fe,
			    fe->pool_gpa + slot * stride,
			    (uint8_t *)out + done, ulen) == -1)
				goto out;
			done += ulen;
			inflight -= posted[slot];
			if (ulen < posted[slot])
				st->short_replies++;
			st->requests++;
			free_slots[nfree_slots++] = (uint16_t)slot;
			r = fe_get_used(fe, qi, &id, &ulen);
		}
		if (r != 0)
			goto out;
	}
	ret = 0;
out:
	st->elapsed_ns = fe_now_ns() - start_ns;
	st->elapsed_ms = (int64_t)(st->elapsed_ns / 1000000);
	st->bytes = done;
	st->calls = q->calls - calls0;
	free(slot_of);
	free(free_slots);
	free(posted);
	return (ret);
}
