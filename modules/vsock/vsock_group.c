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
 * only check src_cid on the way out.  When an inbox is full the sender's
 * tx queue waits (its chain is rewound) and is woken when the inbox
 * drains: back-pressure, never loss or unbounded memory.  A sibling whose
 * queues do not run is unreachable: the sender's guest gets an RST.
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

#define VSOCK_INBOX_BYTES	(4u * 1024 * 1024)
#define VSOCK_INBOX_PKTS	4096u
#define VSOCK_SIB_PKT_MAX	(1u * 1024 * 1024)

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

/* Leave the table.  Main thread, queues stopped. */
void
vsock_group_unregister(struct vsock *vs)
{
	pthread_mutex_lock(&vsock_group_lock);
	if (vs->glink.le_prev != NULL) {
		LIST_REMOVE(vs, glink);
		vs->glink.le_prev = NULL;
	}
	vsock_group_flush_inbox(vs);
	pthread_mutex_unlock(&vsock_group_lock);
}

/* Resume a tx queue that waited for a sibling's inbox.  The device's
 * worker (run_on_worker). */
static void
vsock_group_resume_cb(struct vhd_dev *dev, void *arg)
{
	struct vsock	*vs = arg;

	(void)dev;
	vsock_tx_handler(vs);
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

/*
 * The device's rx and tx queues started (on) or one stopped (off).  A
 * stopped device drops its inbox and takes no packets.  Worker.
 */
void
vsock_group_set_running(struct vsock *vs, int on)
{
	pthread_mutex_lock(&vsock_group_lock);
	vs->g_running = on;
	vs->g_worker = vs->worker;
	vs->tx_blocked = 0;
	if (!on)
		vsock_group_flush_inbox(vs);
	pthread_mutex_unlock(&vsock_group_lock);
}

/*
 * Forward a guest packet to the sibling with CID h->dst_cid.  Returns 0
 * when queued, -1 when no running sibling in a shared group has that CID
 * (the caller answers RST), 1 when its inbox is full (the caller rewinds
 * the chain and waits to be resumed), 2 when the packet is dropped (too
 * large or unreadable).  Worker.
 */
int
vsock_group_forward(struct vsock *vs, const struct vsock_hdr *h,
    struct vhd_chain *c)
{
	const struct vhd_api	*api = vs->api;
	struct vsock_sib_pkt	*p;
	struct vsock		*o;
	uint32_t		 len = h->op == VSOCK_OP_RW ? h->len : 0;

	if (vs->ngroups == 0 || h->dst_cid == vs->cid)
		return (-1);
	if (len > VSOCK_SIB_PKT_MAX) {
		vsock_warn(vs, "packet of %u bytes to CID %llu dropped (at "
		    "most %u)", len, (unsigned long long)h->dst_cid,
		    VSOCK_SIB_PKT_MAX);
		return (2);
	}
	if ((p = malloc(sizeof(*p) + len)) == NULL)
		return (1);
	p->hdr = *h;
	p->hdr.len = len;
	p->off = 0;
	if (len > 0 && api->chain_read(c, VSOCK_HDR_SIZE, p->data, len) !=
	    (ssize_t)len) {
		free(p);
		return (2);
	}

	pthread_mutex_lock(&vsock_group_lock);
	LIST_FOREACH(o, &vsock_group_all, glink) {
		if (o->cid == h->dst_cid)
			break;
	}
	if (o == NULL || !o->g_running || !vsock_group_shared(vs, o)) {
		pthread_mutex_unlock(&vsock_group_lock);
		free(p);
		return (-1);
	}
	if (o->inbox_pkts >= VSOCK_INBOX_PKTS ||
	    o->inbox_bytes + len > VSOCK_INBOX_BYTES) {
		vs->tx_blocked = 1;
		o->has_blocked = 1;
		pthread_mutex_unlock(&vsock_group_lock);
		free(p);
		return (1);
	}
	TAILQ_INSERT_TAIL(&o->inbox, p, entry);
	o->inbox_pkts++;
	o->inbox_bytes += len;
	if (!o->inbox_posted) {
		o->inbox_posted = 1;
		if (api->run_on_worker(o->dev, o->g_worker,
		    vsock_group_wake_cb, o, 0) != 0)
			o->inbox_posted = 0;
	}
	pthread_mutex_unlock(&vsock_group_lock);
	return (0);
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
	struct vsock		*o;
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
	if (vs->has_blocked) {
		vs->has_blocked = 0;
		LIST_FOREACH(o, &vsock_group_all, glink) {
			if (!o->tx_blocked || !o->g_running)
				continue;
			o->tx_blocked = 0;
			if (api->run_on_worker(o->dev, o->g_worker,
			    vsock_group_resume_cb, o, 0) != 0)
				o->tx_blocked = 1;
		}
	}
	pthread_mutex_unlock(&vsock_group_lock);
	free(p);
	return (1);
}
