/*
 * vsock: the data path.  The control ring, the rx scheduler and the tx
 * handler; the queue handler (vsock.c) calls the last two.
 *
 * The tx handler never waits for rx: every answer is a flag on its
 * connection or a slot in the bounded control ring, so tx goes on while
 * the guest posts no rx buffers.  Nor does it wait for a sibling VM: a
 * packet its inbox cannot take is parked (vsock_group.c).
 *
 * The rx scheduler fills rx buffers from the control ring, the
 * connections that owe the guest a packet (round robin) and the sibling
 * inbox, one packet per chain.
 */

#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vhostd/vhostd.h>

#include "vsock.h"

/* Queue a control packet (an RST); dropped with a warning when the ring
 * is full.  Worker. */
void
vsock_ctl_push(struct vsock *vs, const struct vsock_hdr *h)
{
	if (vs->ctl_len == vs->ctl_cap) {
		vsock_warn(vs, "control ring full: %s to guest port %u "
		    "dropped", h->op == VSOCK_OP_RST ? "RST" : "packet",
		    h->dst_port);
		return;
	}
	vs->ctl[(vs->ctl_head + vs->ctl_len) % vs->ctl_cap] = *h;
	vs->ctl_len++;
}

/* Queue an RST answering guest packet h, never for an RST.  Worker. */
void
vsock_ctl_rst(struct vsock *vs, const struct vsock_hdr *h)
{
	struct vsock_hdr	 r;

	if (h->op == VSOCK_OP_RST)
		return;
	memset(&r, 0, sizeof(r));
	r.src_cid = h->dst_cid;
	r.dst_cid = vs->cid;
	r.src_port = h->dst_port;
	r.dst_port = h->src_port;
	r.type = h->type == VSOCK_TYPE_SEQPACKET ? VSOCK_TYPE_SEQPACKET :
	    VSOCK_TYPE_STREAM;
	r.op = VSOCK_OP_RST;
	vsock_ctl_push(vs, &r);
}

/*
 * Put one packet owed to the guest into rx chain c, from the control
 * ring, the connections (round robin) or the sibling inbox.  Returns 1
 * with *len set, 0 when nothing could be written.  Worker.
 */
static int
vsock_rx_one(struct vsock *vs, struct vhd_chain *c, size_t *len)
{
	struct vsock_conn	*conn;
	unsigned		 n, budget;
	int			 r, sib_first;

	sib_first = (vs->rx_turn++ & 1) != 0;
	if (sib_first && vsock_group_rx(vs, c, len))
		return (1);
	budget = vs->nconns + 1;
	for (n = 0; n < budget && vs->ctl_len == 0; n++) {
		if ((conn = TAILQ_FIRST(&vs->rx_conns)) == NULL)
			break;
		TAILQ_REMOVE(&vs->rx_conns, conn, rxlink);
		conn->on_rx = 0;
		r = vsock_conn_rx(conn, c, len);
		if ((r & VSOCK_RX_FREED) == 0)
			vsock_conn_schedule(conn);
		if (r & VSOCK_RX_PKT)
			return (1);
	}
	if (vs->ctl_len > 0) {
		if (vsock_pkt_write_hdr(vs->api, c, &vs->ctl[vs->ctl_head]) !=
		    0)
			return (0);
		vs->ctl_head = (vs->ctl_head + 1) % vs->ctl_cap;
		vs->ctl_len--;
		*len = VSOCK_HDR_SIZE;
		return (1);
	}
	if (!sib_first && vsock_group_rx(vs, c, len))
		return (1);
	return (0);
}

/*
 * Fill rx buffers with what the guest is owed until either runs out,
 * then notify once.  Called on the worker after anything that may have
 * produced work (tx, host sockets, timers, sibling wake-ups, rx kicks).
 */
void
vsock_rx_run(struct vsock *vs)
{
	const struct vhd_api	*api = vs->api;
	struct vhd_chain	*c;
	size_t			 len;
	int			 pushed = 0;

	if (!vs->running || vs->rxq == NULL || vs->in_rx)
		return;
	vs->in_rx = 1;
	for (;;) {
		if (vs->ctl_len == 0 && TAILQ_EMPTY(&vs->rx_conns) &&
		    !vsock_group_pending(vs))
			break;
		if ((c = api->queue_pop(vs->rxq)) == NULL)
			break;
		if (api->chain_writable(c) < VSOCK_HDR_SIZE ||
		    api->chain_readable(c) != 0) {
			vsock_warn(vs, "rx chain with %zu writable and %zu "
			    "readable bytes (driver error), returned unused",
			    api->chain_writable(c), api->chain_readable(c));
			api->queue_push(vs->rxq, c, 0);
			pushed = 1;
			continue;
		}
		len = 0;
		if (!vsock_rx_one(vs, c, &len)) {
			(void)api->queue_rewind(vs->rxq, c);
			break;
		}
		api->queue_push(vs->rxq, c, (uint32_t)len);
		pushed = 1;
	}
	vs->in_rx = 0;
	if (pushed)
		api->queue_notify(vs->rxq);
}

/* Handle one guest packet; the chain is pushed afterwards whatever it
 * held.  Worker. */
static void
vsock_tx_one(struct vsock *vs, struct vhd_chain *c)
{
	const struct vhd_api	*api = vs->api;
	struct vsock_hdr	 h;
	size_t			 rd = api->chain_readable(c);

	if (rd < VSOCK_HDR_SIZE || vsock_pkt_read_hdr(api, c, &h) != 0) {
		vsock_warn(vs, "tx chain of %zu readable bytes: no header, "
		    "dropped", rd);
		return;
	}
	if (h.len > rd - VSOCK_HDR_SIZE) {
		vsock_warn(vs, "tx packet claims %u payload bytes, chain has "
		    "%zu: dropped", h.len, rd - VSOCK_HDR_SIZE);
		return;
	}
	if (h.op != VSOCK_OP_RW)
		h.len = 0;
	if (h.src_cid != vs->cid) {
		vsock_warn(vs, "tx packet from CID %llu (guest is %llu): "
		    "spoofed, dropped", (unsigned long long)h.src_cid,
		    (unsigned long long)vs->cid);
		return;
	}
	if (h.op == VSOCK_OP_INVALID || h.op > VSOCK_OP_MAX ||
	    (h.type == VSOCK_TYPE_STREAM && !vs->stream_ok) ||
	    (h.type == VSOCK_TYPE_SEQPACKET && !vs->seq_ok) ||
	    (h.type != VSOCK_TYPE_STREAM && h.type != VSOCK_TYPE_SEQPACKET)) {
		vsock_conn_guest_bad(vs, &h);
		return;
	}
	if (h.dst_cid != VSOCK_HOST_CID) {
		vsock_group_forward(vs, &h, c);
		return;
	}
	vsock_conn_guest_pkt(vs, &h, c);
}

/* Handle every guest packet on the tx queue, then serve rx.  Worker. */
void
vsock_tx_handler(struct vsock *vs)
{
	const struct vhd_api	*api = vs->api;
	struct vhd_chain	*c;
	int			 pushed = 0;

	if (!vs->running || vs->txq == NULL)
		return;
	/* Packets parked for a sibling go first, so a connection's later
	 * packets cannot overtake them. */
	vsock_group_park_run(vs);
	while ((c = api->queue_pop(vs->txq)) != NULL) {
		vsock_tx_one(vs, c);
		api->queue_push(vs->txq, c, 0);
		pushed = 1;
	}
	if (pushed)
		api->queue_notify(vs->txq);
	vsock_rx_run(vs);
}
