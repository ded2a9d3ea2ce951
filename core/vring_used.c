/*
 * Split virtqueues, the device-to-guest half: returning chains through the
 * used ring (deferred while the ring is in memory REM_MEM_REG removed),
 * and deciding whether to notify the guest (event index or the
 * NO_INTERRUPT flag).  The walker that takes chains is in vring_chain.c.
 *
 * Guest-shared words are accessed with relaxed C11 atomics; the ordering
 * comes from the explicit fences, each commented with what it orders.
 */
#include <sys/types.h>
#include <sys/eventfd.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Return a chain to the guest with `len` bytes written.  Worker. */
void
vring_push(struct vring *vq, const struct guest_mem *mem,
    struct vring_chain *c, uint32_t len)
{
	const char	*err = NULL;

	if (c == NULL || c->vq != vq || !c->in_use || c->deferred) {
		log_warnx("%s: queue %u: push of a chain that is not in use",
		    vring_name(vq), vq->index);
		return;
	}
	if (len > c->wlen)
		len = (uint32_t)c->wlen;
	if (vring_map(vq, mem, &err) == -1) {
		if (vring_rings_removed(vq)) {
			/* Pushed once memory is back (in avail order). */
			vring_pause(vq, "the ring");
			c->deferred = 1;
			c->deferred_len = len;
			vq->ndeferred++;
			if (vq->last_popped == c)
				vq->last_popped = NULL;
			return;
		}
		vring_fail(vq, err);
		vring_chain_put(vq, c);
		return;
	}
	vring_push_used(vq, c, len);
}

/* Write the used element of `c` and publish it.  Worker, ring mapped. */
void
vring_push_used(struct vring *vq, struct vring_chain *c, uint32_t len)
{
	uint8_t		*used, *ent;
	uint16_t	 old;
	unsigned	 slot;

	if (vq->packed) {
		vring_packed_push_used(vq, c, len);
		return;
	}
	used = vq->used;
	if (vq->iq != NULL)
		inflight_push_begin(vq, c->head);
	slot = vq->used_idx % vq->num;
	ent = used + 4 + 8 * (size_t)slot;
	vring_store32(ent, c->head);
	vring_store32(ent + 4, len);
	/*
	 * Release: the used element and whatever we wrote into the guest's
	 * buffers become visible before the new used->idx that publishes
	 * them.
	 */
	atomic_thread_fence(memory_order_release);
	old = vq->used_idx;
	vq->used_idx++;
	STATS_ADD(vq->stats.bytes_out, len);
	vring_store16(used + 2, vq->used_idx);
	/* Migration: the buffers, the entry and the index are dirty. */
	dirty_log_push(vq, c, len, slot);
	if (vq->iq != NULL)
		inflight_push_end(vq, c->head);
	/* If used_idx wrapped past signalled_used, the saved value no
	 * longer tells need_event anything (libvhost-user). */
	if ((int16_t)(vq->used_idx - vq->signalled_used) <
	    (uint16_t)(vq->used_idx - old))
		vq->signalled_used_valid = 0;
	vring_chain_put(vq, c);
}


/* Order deferred chains by their position in the avail ring. */
static int
vring_deferred_cmp(const void *a, const void *b)
{
	const struct vring_chain	*ca = *(struct vring_chain *const *)a;
	const struct vring_chain	*cb = *(struct vring_chain *const *)b;
	uint16_t			 base;

	/* Distances from the oldest possible position, so the order holds
	 * across the 16-bit wrap. */
	base = (uint16_t)(vring_pop_seq(ca->vq) - ca->vq->inflight);
	return ((int)(uint16_t)(ca->avail_pos - base) -
	    (int)(uint16_t)(cb->avail_pos - base));
}

/* Push the chains whose push was deferred while the used ring was
 * removed, in avail order.  0, or -1 while the ring is still missing.
 * Worker. */
int
vring_push_deferred(struct vring *vq, const struct guest_mem *mem)
{
	struct vring_chain	**list;
	const char		*err;
	unsigned		 i, n = 0;

	if (vq->ndeferred == 0)
		return (0);
	if (vring_map(vq, mem, &err) == -1)
		return (-1);
	list = xcalloc(vq->ndeferred, sizeof *list);
	for (i = 0; i < vq->pool_size && n < vq->ndeferred; i++) {
		if (vq->pool[i].in_use && vq->pool[i].deferred)
			list[n++] = &vq->pool[i];
	}
	qsort(list, n, sizeof *list, vring_deferred_cmp);
	for (i = 0; i < n; i++) {
		list[i]->deferred = 0;
		vq->ndeferred--;
		vring_push_used(vq, list[i], list[i]->deferred_len);
	}
	free(list);
	return (0);
}

/* Write used->flags 0: we never ask the guest not to notify, whatever a
 * previous back-end left there.  Worker, ring mapped. */
void
vring_used_flags_clear(struct vring *vq)
{
	if (vq->packed) {
		vring_packed_flags_clear(vq);
		return;
	}
	vring_store16(vq->used, 0);
	dirty_log_used(vq, 0, 2);
}

/* Has the used index passed `event` going from old_idx to new_idx? */
int
vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return ((uint16_t)(new_idx - event - 1) <
	    (uint16_t)(new_idx - old_idx));
}

/* Does the guest want an interrupt now?  Updates signalled_used.
 * Worker. */
int
vring_need_notify(struct vring *vq, const struct guest_mem *mem)
{
	const uint8_t	*avail;
	uint16_t	 old, new_idx, event;
	int		 valid;
	const char	*err;

	if (vq->packed)
		return (vring_packed_need_notify(vq, mem));
	if (vq->num == 0 || !vq->addr_set || vring_map(vq, mem, &err) == -1)
		return (0);
	avail = vq->avail;
	/*
	 * Full fence: our used->idx store must be visible before we read
	 * the guest's flags or used_event, or we could miss that it just
	 * re-enabled interrupts and went to sleep.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if (vq->dev != NULL && vq->inflight == 0 &&
	    (atomic_load(&vq->dev->acked_features) &
	    (1ULL << VHD_F_NOTIFY_ON_EMPTY)) &&
	    vring_avail_idx(vq) == vq->last_avail_idx)
		return (1);
	if (!vq->event_idx)
		return (!(vring_load16(avail) & VRING_AVAIL_F_NO_INTERRUPT));
	valid = vq->signalled_used_valid;
	vq->signalled_used_valid = 1;
	old = vq->signalled_used;
	new_idx = vq->signalled_used = vq->used_idx;
	event = vring_load16(avail + 4 + 2 * (size_t)vq->num);
	return (!valid || vring_need_event(event, new_idx, old));
}

/* Interrupt the guest through the call fd if it wants one.  Worker. */
void
vring_notify(struct vring *vq, const struct guest_mem *mem)
{
	if (!vring_need_notify(vq, mem) || vq->call_fd < 0)
		return;
	STATS_ADD(vq->stats.calls, 1);
	if (eventfd_write(vq->call_fd, 1) == -1 && errno != EAGAIN)
		log_warn("%s: queue %u: call fd", vring_name(vq), vq->index);
}
