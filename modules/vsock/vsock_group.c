/*
 * The process-wide view of vsock devices: the CID table (duplicates are
 * refused at create) and VM-to-VM forwarding between devices that share
 * a group.
 *
 * The module is loaded once, so one static table serves every device of
 * the daemon; one mutex guards it and every device's inbox and g_* fields.
 *
 * A guest packet for a sibling's CID is copied, header and payload, into
 * the sibling's inbox (bounded in bytes and packets) and the sibling's
 * worker is woken with api->run_on_worker (at most one wake-up queued per
 * inbox).  The sibling's rx scheduler delivers it, splitting an RW into
 * pieces that fit its guest's rx buffers (EOM/EOR only on the last piece).
 * The two guests run the vsock protocol end to end, credit included; we
 * only check src_cid on the way out.
 *
 * Back-pressure is per connection, never per queue: when a sibling's
 * inbox is full, the packet is copied into the sender's park list and
 * its tx chain is used up as usual, so the sender's other traffic (to
 * the host, to other siblings) goes on.  Later packets of a connection
 * with parked packets are parked behind them, keeping its order.  The
 * park list is retried when the sibling's inbox has drained to half, when
 * the sibling stops or is reset, and before each tx run.  The park list
 * is bounded too: a connection that would overflow it (its guest sends
 * far beyond its peer's credit, or the peer has not read for long) is
 * reset.  A sibling that was reset (or never started) is unreachable:
 * the sender's guest gets an RST.  A sibling that is only paused keeps
 * its inbox and still takes packets up to the bound.
 */

#include <sys/types.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vhostd/vhostd.h>

#include "vsock.h"

/* The fuzz target builds with small bounds so inputs reach them. */
#ifndef VSOCK_INBOX_BYTES
#define VSOCK_INBOX_BYTES	(4u * 1024 * 1024)
#endif
#define VSOCK_INBOX_PKTS	4096u
#define VSOCK_SIB_PKT_MAX	(1u * 1024 * 1024)
#ifndef VSOCK_PARK_BYTES
#define VSOCK_PARK_BYTES	(8u * 1024 * 1024)
#endif
#define VSOCK_PARK_PKTS		2048u
#define VSOCK_PARK_CIDS		16	/* full inboxes noted per pass */

static void	vsock_group_wake_cb(struct vhd_dev *, void *);

/*
 * Recursive: a daemon that runs api->run_on_worker inline (the unit
 * tests' fake daemon does) re-enters from under the lock.  vhostd itself
 * always queues the call.
 */
static pthread_mutex_t	 vsock_group_lock =
    PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static LIST_HEAD(, vsock) vsock_group_all =
    LIST_HEAD_INITIALIZER(vsock_group_all);

/* Do two devices share a group?  Must hold vsock_group_lock. */
static int
vsock_group_shared(const struct vsock *a, const struct vsock *b)
{
	unsigned	 i, j;

	for (i = 0; i < a->ngroups; i++) {
		for (j = 0; j < b->ngroups; j++) {
			if (strcmp(a->groups[i], b->groups[j]) == 0)
				return (1);
		}
	}
	return (0);
}

/* Free every packet of an inbox.  Must hold vsock_group_lock. */
static void
vsock_group_flush_inbox(struct vsock *vs)
{
	struct vsock_sib_pkt	*p;

	while ((p = TAILQ_FIRST(&vs->inbox)) != NULL) {
		TAILQ_REMOVE(&vs->inbox, p, entry);
		free(p);
	}
	vs->inbox_bytes = 0;
	vs->inbox_pkts = 0;
}

/*
 * Enter the device in the table unless its CID is taken.  Returns 0 or -1
 * with *cause.  Main thread.
 */
int
vsock_group_register(struct vsock *vs, char **cause)
{
	struct vsock	*o;

	TAILQ_INIT(&vs->inbox);
	TAILQ_INIT(&vs->park);
	pthread_mutex_lock(&vsock_group_lock);
	LIST_FOREACH(o, &vsock_group_all, glink) {
		if (o->cid == vs->cid) {
			pthread_mutex_unlock(&vsock_group_lock);
			if (asprintf(cause, "vsock: guest-cid %llu is already "
			    "used by device %s", (unsigned long long)vs->cid,
			    vs->api->dev_name(o->dev)) == -1)
				*cause = NULL;
			return (-1);
		}
	}
	LIST_INSERT_HEAD(&vsock_group_all, vs, glink);
	pthread_mutex_unlock(&vsock_group_lock);
	return (0);
}

/* Free the packets parked by this device.  Worker, or main thread once
 * the device's worker is gone. */
static void
vsock_group_park_flush(struct vsock *vs)
{
	struct vsock_sib_pkt	*p;

	while ((p = TAILQ_FIRST(&vs->park)) != NULL) {
		TAILQ_REMOVE(&vs->park, p, entry);
		free(p);
	}
	vs->park_bytes = 0;
	vs->park_pkts = 0;
}

/* Leave the table.  Main thread, queues stopped. */
void
vsock_group_unregister(struct vsock *vs)
{
	vsock_group_park_flush(vs);
	pthread_mutex_lock(&vsock_group_lock);
	if (vs->glink.le_prev != NULL) {
		LIST_REMOVE(vs, glink);
		vs->glink.le_prev = NULL;
	}
	vsock_group_flush_inbox(vs);
	pthread_mutex_unlock(&vsock_group_lock);
}

/* Retry the packets a device parked for full sibling inboxes.  The
 * device's worker (run_on_worker). */
static void
vsock_group_resume_cb(struct vhd_dev *dev, void *arg)
{
	struct vsock	*vs = arg;

	(void)dev;
	vsock_group_park_run(vs);
	vsock_rx_run(vs);
}

/*
 * Wake the devices that parked packets because our inbox was full, if
 * any did (or, with force, every device with parked packets).  Must hold
 * vsock_group_lock.
 */
static void
vsock_group_wake_locked(struct vsock *vs, int force)
{
	struct vsock	*o;

	if (!vs->has_blocked && !force)
		return;
	vs->has_blocked = 0;
	LIST_FOREACH(o, &vsock_group_all, glink) {
		if (o == vs || !o->tx_blocked || !o->g_live)
			continue;
		o->tx_blocked = 0;
		if (vs->api->run_on_worker(o->dev, o->g_worker,
		    vsock_group_resume_cb, o, 0) != 0)
			o->tx_blocked = 1;
	}
}

/* A queue of ours stopped: wake the senders that parked packets for us,
 * so none is left waiting on a queue that may not come back.  Worker. */
void
vsock_group_wake_senders(struct vsock *vs)
{
	pthread_mutex_lock(&vsock_group_lock);
	vsock_group_wake_locked(vs, 0);
	pthread_mutex_unlock(&vsock_group_lock);
}

/*
 * The device starts taking sibling packets (on: its queues ran for the
 * first time since create or reset) or stops for good (off: reset,
 * destroy).  Off drops the inbox and the packets we parked, and wakes
 * every sender that parked packets for us: they get an RST now.  A
 * paused device stays on.  Worker.
 */
void
vsock_group_set_live(struct vsock *vs, int on)
{
	pthread_mutex_lock(&vsock_group_lock);
	vs->g_live = on;
	vs->g_worker = vs->worker;
	vs->tx_blocked = 0;
	if (!on) {
		vsock_group_flush_inbox(vs);
		vsock_group_wake_locked(vs, 1);
	}
	pthread_mutex_unlock(&vsock_group_lock);
	if (!on)
		vsock_group_park_flush(vs);
}

/*
 * Put packet p into the inbox of the sibling with CID p->hdr.dst_cid.
 * Returns 0 when it is queued (the inbox owns it), -1 when no live
 * sibling in a shared group has that CID, 1 when its inbox is full (we
 * will be woken when it drains).  Worker.
 */
static int
vsock_group_deliver(struct vsock *vs, struct vsock_sib_pkt *p)
{
	const struct vhd_api	*api = vs->api;
	struct vsock		*o;

	pthread_mutex_lock(&vsock_group_lock);
	LIST_FOREACH(o, &vsock_group_all, glink) {
		if (o->cid == p->hdr.dst_cid)
			break;
	}
	if (o == NULL || o == vs || !o->g_live || !vsock_group_shared(vs, o)) {
		pthread_mutex_unlock(&vsock_group_lock);
		return (-1);
	}
	if (o->inbox_pkts >= VSOCK_INBOX_PKTS ||
	    o->inbox_bytes + p->hdr.len > VSOCK_INBOX_BYTES) {
		vs->tx_blocked = 1;
		o->has_blocked = 1;
		pthread_mutex_unlock(&vsock_group_lock);
		return (1);
	}
	TAILQ_INSERT_TAIL(&o->inbox, p, entry);
	o->inbox_pkts++;
	o->inbox_bytes += p->hdr.len;
	if (!o->inbox_posted) {
		o->inbox_posted = 1;
		if (api->run_on_worker(o->dev, o->g_worker,
		    vsock_group_wake_cb, o, 0) != 0)
			o->inbox_posted = 0;
	}
	pthread_mutex_unlock(&vsock_group_lock);
	return (0);
}

/* Are two packets of one connection (guest port, sibling CID and
 * port)?  Any thread. */
static int
vsock_group_same_conn(const struct vsock_hdr *a, const struct vsock_hdr *b)
{
	return (a->src_port == b->src_port && a->dst_cid == b->dst_cid &&
	    a->dst_port == b->dst_port);
}

/* Has the connection of h packets parked?  Worker. */
static int
vsock_group_parked(struct vsock *vs, const struct vsock_hdr *h)
{
	struct vsock_sib_pkt	*p;

	TAILQ_FOREACH(p, &vs->park, entry) {
		if (vsock_group_same_conn(&p->hdr, h))
			return (1);
	}
	return (0);
}

/* Drop the parked packets of h's connection.  Worker. */
static void
vsock_group_park_drop(struct vsock *vs, const struct vsock_hdr *h)
{
	struct vsock_sib_pkt	*q, *next;

	for (q = TAILQ_FIRST(&vs->park); q != NULL; q = next) {
		next = TAILQ_NEXT(q, entry);
		if (!vsock_group_same_conn(&q->hdr, h))
			continue;
		TAILQ_REMOVE(&vs->park, q, entry);
		vs->park_pkts--;
		vs->park_bytes -= q->hdr.len;
		free(q);
	}
}

/*
 * Park packet p behind the others of its connection.  When the park list
 * is full, reset the connection instead: an RST to our guest, its parked
 * packets dropped.  Worker.
 */
static void
vsock_group_park(struct vsock *vs, struct vsock_sib_pkt *p)
{
	if (vs->park_pkts < VSOCK_PARK_PKTS &&
	    vs->park_bytes + p->hdr.len <= VSOCK_PARK_BYTES) {
		TAILQ_INSERT_TAIL(&vs->park, p, entry);
		vs->park_pkts++;
		vs->park_bytes += p->hdr.len;
		return;
	}
	vsock_warn(vs, "CID %llu takes no more packets: connection of guest "
	    "port %u to port %u reset", (unsigned long long)p->hdr.dst_cid,
	    p->hdr.src_port, p->hdr.dst_port);
	vsock_group_park_drop(vs, &p->hdr);
	vsock_ctl_rst(vs, &p->hdr);
	free(p);
}

/*
 * Forward a guest packet to the sibling with CID h->dst_cid: into its
 * inbox, or parked when the inbox is full or the connection already has
 * packets parked.  An RST to our guest when no live sibling in a shared
 * group has that CID; dropped (logged) when too large or unreadable.
 * The chain is not kept.  Worker.
 */
void
vsock_group_forward(struct vsock *vs, const struct vsock_hdr *h,
    struct vhd_chain *c)
{
	const struct vhd_api	*api = vs->api;
	struct vsock_sib_pkt	*p;
	uint32_t		 len = h->op == VSOCK_OP_RW ? h->len : 0;

	if (vs->ngroups == 0 || h->dst_cid == vs->cid) {
		vsock_ctl_rst(vs, h);
		return;
	}
	if (len > VSOCK_SIB_PKT_MAX) {
		vsock_warn(vs, "packet of %u bytes to CID %llu dropped (at "
		    "most %u)", len, (unsigned long long)h->dst_cid,
		    VSOCK_SIB_PKT_MAX);
		return;
	}
	if ((p = malloc(sizeof(*p) + len)) == NULL) {
		vsock_warn(vs, "out of memory: packet to CID %llu dropped",
		    (unsigned long long)h->dst_cid);
		vsock_ctl_rst(vs, h);
		return;
	}
	p->hdr = *h;
	p->hdr.len = len;
	p->off = 0;
	if (len > 0 && api->chain_read(c, VSOCK_HDR_SIZE, p->data, len) !=
	    (ssize_t)len) {
		free(p);
		return;
	}
	if (!TAILQ_EMPTY(&vs->park) && vsock_group_parked(vs, &p->hdr)) {
		vsock_group_park(vs, p);
		return;
	}
	switch (vsock_group_deliver(vs, p)) {
	case 0:
		break;
	case 1:
		vsock_group_park(vs, p);
		break;
	default:
		vsock_ctl_rst(vs, &p->hdr);
		free(p);
		break;
	}
}

/*
 * Deliver what we parked, in order, as far as the siblings' inboxes
 * take it; a connection whose sibling is full keeps its packets parked
 * (and so do later connections to that sibling in this pass).  A sibling
 * gone answers RST.  Runs again if woken meanwhile.  Worker.
 */
void
vsock_group_park_run(struct vsock *vs)
{
	struct vsock_sib_pkt	*p, *next;
	uint64_t		 full[VSOCK_PARK_CIDS];
	unsigned		 nfull, i;
	int			 r;

	if (vs->in_park) {
		vs->park_again = 1;
		return;
	}
	vs->in_park = 1;
	do {
		vs->park_again = 0;
		nfull = 0;
		for (p = TAILQ_FIRST(&vs->park); p != NULL; p = next) {
			next = TAILQ_NEXT(p, entry);
			for (i = 0; i < nfull; i++) {
				if (full[i] == p->hdr.dst_cid)
					break;
			}
			if (i < nfull)
				continue;
			/* The entry is the inbox's once delivered. */
			TAILQ_REMOVE(&vs->park, p, entry);
			vs->park_pkts--;
			vs->park_bytes -= p->hdr.len;
			r = vsock_group_deliver(vs, p);
			if (r == -1) {
				/* One RST for the connection; the rest of
				 * its packets go too. */
				vsock_ctl_rst(vs, &p->hdr);
				vsock_group_park_drop(vs, &p->hdr);
				free(p);
				next = TAILQ_FIRST(&vs->park);
			} else if (r == 1) {
				if (next != NULL)
					TAILQ_INSERT_BEFORE(next, p, entry);
				else
					TAILQ_INSERT_TAIL(&vs->park, p, entry);
				vs->park_pkts++;
				vs->park_bytes += p->hdr.len;
				if (nfull == VSOCK_PARK_CIDS)
					break;
				full[nfull++] = p->hdr.dst_cid;
			}
		}
	} while (vs->park_again);
	vs->in_park = 0;
}

/* A sibling queued packets for us.  The device's worker
 * (run_on_worker). */
static void
vsock_group_wake_cb(struct vhd_dev *dev, void *arg)
{
	struct vsock	*vs = arg;

	(void)dev;
	pthread_mutex_lock(&vsock_group_lock);
	vs->inbox_posted = 0;
	pthread_mutex_unlock(&vsock_group_lock);
	vsock_rx_run(vs);
}

/* The first sibling packet waiting, or NULL.  Worker. */
static struct vsock_sib_pkt *
vsock_group_head(struct vsock *vs)
{
	struct vsock_sib_pkt	*p;

	pthread_mutex_lock(&vsock_group_lock);
	p = TAILQ_FIRST(&vs->inbox);
	pthread_mutex_unlock(&vsock_group_lock);
	return (p);
}

/* Is a sibling packet waiting for the guest?  Worker. */
int
vsock_group_pending(struct vsock *vs)
{
	return (vsock_group_head(vs) != NULL);
}

/*
 * Write the next sibling packet (or its next piece) into rx chain c.
 * Returns 1 with *len set, 0 when there is none or it does not fit.  The
 * head packet is only ever removed by this worker, so it is read without
 * the lock.  Worker.
 */
int
vsock_group_rx(struct vsock *vs, struct vhd_chain *c, size_t *len)
{
	const struct vhd_api	*api = vs->api;
	struct vsock_sib_pkt	*p;
	struct vsock_hdr	 h;
	size_t			 room;
	uint32_t		 chunk, left;

	if ((p = vsock_group_head(vs)) == NULL)
		return (0);
	room = api->chain_writable(c) - VSOCK_HDR_SIZE;
	left = p->hdr.len - p->off;
	chunk = left < room ? left : (uint32_t)room;
	if (chunk == 0 && left > 0)
		return (0);
	h = p->hdr;
	h.len = chunk;
	if (chunk < left)
		h.flags &= ~(uint32_t)(VSOCK_SEQ_EOM | VSOCK_SEQ_EOR);
	if (chunk > 0 && api->chain_write(c, VSOCK_HDR_SIZE, p->data + p->off,
	    chunk) != (ssize_t)chunk)
		return (0);
	if (vsock_pkt_write_hdr(api, c, &h) != 0)
		return (0);
	*len = VSOCK_HDR_SIZE + chunk;
	p->off += chunk;
	if (p->off < p->hdr.len)
		return (1);

	pthread_mutex_lock(&vsock_group_lock);
	TAILQ_REMOVE(&vs->inbox, p, entry);
	vs->inbox_pkts--;
	vs->inbox_bytes -= p->hdr.len;
	if (vs->inbox_bytes <= VSOCK_INBOX_BYTES / 2 &&
	    vs->inbox_pkts <= VSOCK_INBOX_PKTS / 2)
		vsock_group_wake_locked(vs, 0);
	pthread_mutex_unlock(&vsock_group_lock);
	free(p);
	return (1);
}
