/*
 * vsock connections between a guest port and a host unix socket: the
 * connection table, watches and timers, credit accounting in both
 * directions, half-close, and writing guest data to the host socket.
 * Guest packets are handled in vsock_conn_op.c, packets to the guest
 * built in vsock_conn_rx.c.
 *
 * Credit: we advertise buf_alloc = buf-size and fwd_cnt = guest bytes
 * handed to the host socket.  Guest data the host cannot take at once is
 * kept in a ring of buf-size bytes, which the guest's credit bounds; a
 * guest that sends beyond its credit is reset.  Host data is read only
 * when the guest has credit for it (peer_buf_alloc - (tx_cnt -
 * peer_fwd_cnt)) and an rx buffer is at hand, straight into the buffer.
 *
 * Half-close: a guest SHUTDOWN(SEND) becomes shutdown(SHUT_WR) once the
 * ring is flushed, SHUTDOWN(RCV) becomes shutdown(SHUT_RD); end of file
 * from the host becomes SHUTDOWN(SEND), a host that stopped reading
 * (EPIPE) SHUTDOWN(RCV).  When both directions are over, a guest that
 * sent SHUTDOWN with both bits gets an RST; otherwise we send SHUTDOWN
 * with both bits and wait shutdown-timeout ms for the guest's RST.
 *
 * Everything here runs on the device's worker.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "vsock.h"

/* The hash bucket of a (host port, guest port) pair.  Worker. */
static struct vsock_conn_list *
vsock_conn_bucket(struct vsock *vs, uint32_t local, uint32_t peer)
{
	uint32_t	 h = local * 2654435761u ^ peer * 40503u;

	return (&vs->buckets[(h >> 8) % VSOCK_CONN_BUCKETS]);
}

/* Set up the connection table of a device.  Main thread or worker. */
void
vsock_conn_init(struct vsock *vs)
{
	unsigned	 i;

	for (i = 0; i < VSOCK_CONN_BUCKETS; i++)
		LIST_INIT(&vs->buckets[i]);
	TAILQ_INIT(&vs->rx_conns);
	LIST_INIT(&vs->conns);
	vs->nconns = 0;
	vs->next_port = VSOCK_LOCAL_PORT_BASE;
}

/* A new connection on host socket fd (or -1), not in the table yet.
 * NULL when out of memory.  Worker. */
struct vsock_conn *
vsock_conn_new(struct vsock *vs, int fd, enum vsock_state state)
{
	struct vsock_conn	*conn;

	if ((conn = calloc(1, sizeof(*conn))) == NULL)
		return (NULL);
	conn->vs = vs;
	conn->fd = fd;
	conn->state = state;
	conn->type = VSOCK_TYPE_STREAM;
	conn->from_host = state == VSOCK_ST_HOST_CMD;
	LIST_INSERT_HEAD(&vs->conns, conn, all);
	vs->nconns++;
	return (conn);
}

/* The connection of host port `local` and guest port `peer`, or NULL.
 * Worker. */
struct vsock_conn *
vsock_conn_find(struct vsock *vs, uint32_t local, uint32_t peer)
{
	struct vsock_conn	*conn;

	LIST_FOREACH(conn, vsock_conn_bucket(vs, local, peer), hash) {
		if (conn->local_port == local && conn->peer_port == peer)
			return (conn);
	}
	return (NULL);
}

/* Put the connection in the table under its ports.  Worker. */
void
vsock_conn_hash(struct vsock_conn *conn)
{
	LIST_INSERT_HEAD(vsock_conn_bucket(conn->vs, conn->local_port,
	    conn->peer_port), conn, hash);
}

/* Close the host socket, free the watches, buffers and the connection.
 * Worker. */
void
vsock_conn_free(struct vsock_conn *conn)
{
	struct vsock		*vs = conn->vs;
	const struct vhd_api	*api = vs->api;

	if (conn->hash.le_prev != NULL)
		LIST_REMOVE(conn, hash);
	LIST_REMOVE(conn, all);
	if (conn->on_rx)
		TAILQ_REMOVE(&vs->rx_conns, conn, rxlink);
	if (conn->rdw != NULL)
		api->watch_free(conn->rdw);
	if (conn->wrw != NULL)
		api->watch_free(conn->wrw);
	if (conn->timer != NULL)
		api->watch_free(conn->timer);
	if (conn->fd != -1)
		close(conn->fd);
	vsock_ring_free(&conn->out);
	free(conn->bounds);
	free(conn->stage);
	vsock_conn_hin_free(conn);
	vs->nconns--;
	free(conn);
}

/* Drop the host bytes held for the guest (all sent, or the connection
 * ends); hin_end stays.  Worker. */
void
vsock_conn_hin_free(struct vsock_conn *conn)
{
	free(conn->hin);
	free(conn->hin_msg);
	conn->hin = NULL;
	conn->hin_msg = NULL;
	conn->hin_len = conn->hin_off = conn->hin_cap = 0;
	conn->hin_nmsg = conn->hin_mhead = conn->hin_mcap = 0;
}

/* Free every connection without telling the guest (its driver is being
 * reset).  Worker. */
void
vsock_conn_free_all(struct vsock *vs)
{
	struct vsock_conn	*conn;

	while ((conn = LIST_FIRST(&vs->conns)) != NULL)
		vsock_conn_free(conn);
}

/* Fill a header for a packet of this connection to the guest.  Worker. */
void
vsock_conn_fill_hdr(struct vsock_conn *conn, struct vsock_hdr *h,
    uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSOCK_HOST_CID;
	h->dst_cid = conn->vs->cid;
	h->src_port = conn->local_port;
	h->dst_port = conn->peer_port;
	h->type = conn->type;
	h->op = op;
	h->buf_alloc = conn->vs->buf_size;
	h->fwd_cnt = conn->fwd_cnt;
}

/* Reset the connection: queue an RST for the guest (unless it never
 * knew of it) and free it.  Worker. */
void
vsock_conn_kill(struct vsock_conn *conn)
{
	struct vsock_hdr	 h;

	if (conn->state != VSOCK_ST_HOST_CMD) {
		vsock_conn_fill_hdr(conn, &h, VSOCK_OP_RST);
		vsock_ctl_push(conn->vs, &h);
	}
	vsock_conn_free(conn);
}

/* Bytes the guest can still take on this connection.  Worker. */
uint32_t
vsock_conn_peer_free(const struct vsock_conn *conn)
{
	uint32_t	 inflight = conn->tx_cnt - conn->peer_fwd_cnt;

	if (inflight >= conn->peer_buf_alloc)
		return (0);
	return (conn->peer_buf_alloc - inflight);
}

/* Can host data still flow to the guest?  Worker. */
static int
vsock_conn_can_read(const struct vsock_conn *conn)
{
	return (conn->state == VSOCK_ST_ESTABLISHED && !conn->host_eof &&
	    (conn->peer_shut & VSOCK_SHUT_RCV) == 0 && conn->fd != -1);
}

/* Is there an RW worth attempting now?  Worker. */
int
vsock_conn_rw_ready(const struct vsock_conn *conn)
{
	if (!vsock_conn_can_read(conn))
		return (0);
	if (vsock_conn_peer_free(conn) == 0)
		return (0);
	if (conn->stage_off < conn->stage_len)
		return (1);
	if (conn->hin_off < conn->hin_len || conn->hin_end != VSOCK_HIN_OPEN)
		return (1);
	return (conn->readable);
}

/* Does the connection owe the guest a packet?  Worker. */
int
vsock_conn_has_work(struct vsock_conn *conn)
{
	return (conn->pending != 0 || vsock_conn_rw_ready(conn));
}

/* Put the connection on the rx list if it owes the guest something.
 * Worker. */
void
vsock_conn_schedule(struct vsock_conn *conn)
{
	struct vsock	*vs = conn->vs;

	if (conn->on_rx || !vsock_conn_has_work(conn))
		return;
	TAILQ_INSERT_TAIL(&vs->rx_conns, conn, rxlink);
	conn->on_rx = 1;
}

/* The READ watch fired.  Worker. */
static void
vsock_conn_rd_cb(struct vhd_watch *w, int fd, short events, void *arg)
{
	struct vsock_conn	*conn = arg;
	struct vsock		*vs = conn->vs;

	(void)w;
	(void)fd;
	(void)events;
	conn->rd_armed = 0;
	if (conn->state == VSOCK_ST_HOST_CMD) {
		vsock_host_line(conn);
	} else {
		conn->readable = 1;
		vsock_conn_schedule(conn);
	}
	vsock_rx_run(vs);
}

/* The WRITE watch fired.  Worker. */
static void
vsock_conn_wr_cb(struct vhd_watch *w, int fd, short events, void *arg)
{
	struct vsock_conn	*conn = arg;
	struct vsock		*vs = conn->vs;

	(void)w;
	(void)fd;
	(void)events;
	conn->wr_armed = 0;
	if (conn->state == VSOCK_ST_PEER_INIT)
		vsock_host_connect_retry(conn);
	else
		vsock_conn_flush(conn);
	vsock_rx_run(vs);
}

/* The timer fired: a connect or a close took too long, or a connect is
 * retried.  Worker. */
static void
vsock_conn_timer_cb(struct vhd_watch *w, int fd, short events, void *arg)
{
	struct vsock_conn	*conn = arg;
	struct vsock		*vs = conn->vs;

	(void)w;
	(void)fd;
	(void)events;
	conn->timer_armed = 0;
	switch (conn->state) {
	case VSOCK_ST_LOCAL_INIT:
		vs->api->log(vs->dev, VHD_LOG_INFO, "host connect to guest "
		    "port %u: no answer in %u ms", conn->peer_port,
		    vs->connect_ms);
		vsock_conn_kill(conn);
		break;
	case VSOCK_ST_PEER_INIT:
		vsock_host_connect_retry(conn);
		break;
	case VSOCK_ST_CLOSING:
		vsock_conn_kill(conn);
		break;
	case VSOCK_ST_HOST_CMD:
	case VSOCK_ST_ESTABLISHED:
		break;
	}
	vsock_rx_run(vs);
}

/* Create (once) and arm the one-shot READ watch.  0 or -1.  Worker. */
int
vsock_conn_arm_read(struct vsock_conn *conn)
{
	const struct vhd_api	*api = conn->vs->api;

	/* Frozen (vsock_state.c): vsock_state_thaw arms it later. */
	if (conn->rd_armed || conn->vs->frozen)
		return (0);
	if (conn->rdw == NULL && (conn->rdw = api->watch_new(conn->vs->dev,
	    conn->vs->worker, conn->fd, VHD_EV_READ, vsock_conn_rd_cb,
	    conn)) == NULL)
		return (-1);
	if (api->watch_add(conn->rdw, -1) != 0)
		return (-1);
	conn->rd_armed = 1;
	return (0);
}

/* Create (once) and arm the one-shot WRITE watch.  0 or -1.  Worker. */
int
vsock_conn_arm_write(struct vsock_conn *conn)
{
	const struct vhd_api	*api = conn->vs->api;

	if (conn->wr_armed || conn->vs->frozen)
		return (0);
	if (conn->wrw == NULL && (conn->wrw = api->watch_new(conn->vs->dev,
	    conn->vs->worker, conn->fd, VHD_EV_WRITE, vsock_conn_wr_cb,
	    conn)) == NULL)
		return (-1);
	if (api->watch_add(conn->wrw, -1) != 0)
		return (-1);
	conn->wr_armed = 1;
	return (0);
}

/* Create (once) and arm the timer for msec ms, replacing an armed one.
 * 0 or -1.  Worker. */
int
vsock_conn_arm_timer(struct vsock_conn *conn, long msec)
{
	const struct vhd_api	*api = conn->vs->api;

	if (conn->timer == NULL && (conn->timer = api->watch_new(
	    conn->vs->dev, conn->vs->worker, -1, 0, vsock_conn_timer_cb,
	    conn)) == NULL)
		return (-1);
	if (api->watch_add(conn->timer, msec) != 0)
		return (-1);
	conn->timer_armed = 1;
	return (0);
}

/* Disarm the timer.  Worker. */
void
vsock_conn_disarm_timer(struct vsock_conn *conn)
{
	if (conn->timer != NULL && conn->timer_armed)
		(void)conn->vs->api->watch_del(conn->timer);
	conn->timer_armed = 0;
}

/* Ask for a CREDIT_UPDATE when the guest's view of our free space fell
 * below half the buffer.  Worker. */
void
vsock_conn_credit_check(struct vsock_conn *conn)
{
	uint32_t	 unadv = conn->fwd_cnt - conn->fwd_sent;

	if (unadv == 0)
		return;
	if ((uint64_t)conn->out.len + unadv >= conn->vs->buf_size / 2) {
		conn->pending |= VSOCK_PEND_CREDIT_UPD;
		vsock_conn_schedule(conn);
	}
}

/* The host stopped reading: drop what it will never get, tell the guest
 * (SHUTDOWN RCV).  Returns 1 when the connection is gone.  Worker. */
int
vsock_conn_host_wclosed(struct vsock_conn *conn)
{
	conn->host_wclosed = 1;
	/* The ring holds the partial message too (msg_len of its bytes):
	 * count it once. */
	conn->fwd_cnt += conn->out.len;
	vsock_ring_consume(&conn->out, conn->out.len);
	conn->msg_len = 0;
	conn->nbounds = 0;
	conn->ok_off = conn->ok_len;
	if ((conn->local_shut & VSOCK_SHUT_RCV) == 0) {
		conn->local_shut |= VSOCK_SHUT_RCV;
		conn->pending |= VSOCK_PEND_SHUTDOWN;
	}
	vsock_conn_schedule(conn);
	return (vsock_conn_check_close(conn));
}

/* Send msg with MSG_NOSIGNAL|MSG_DONTWAIT, retrying EINTR.  Worker. */
ssize_t
vsock_conn_sendmsg(int fd, struct iovec *iov, int niov, int flags)
{
	struct msghdr	 msg;
	ssize_t		 n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)niov;
	do {
		n = sendmsg(fd, &msg, flags | MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	return (n);
}

/*
 * Write what we hold for the host: the "OK" line, then the ring (a byte
 * stream, or whole messages with MSG_EOR for seqpacket).  Then finish a
 * guest half-close and check whether the connection is over.  May free
 * the connection.  Worker.
 */
void
vsock_conn_flush(struct vsock_conn *conn)
{
	struct iovec	 iov[2];
	uint32_t	 b, len;
	ssize_t		 n;
	int		 niov;

	if (conn->fd == -1 || conn->host_wclosed || conn->vs->frozen)
		return;
	while (conn->ok_off < conn->ok_len) {
		iov[0].iov_base = conn->ok + conn->ok_off;
		iov[0].iov_len = conn->ok_len - conn->ok_off;
		n = vsock_conn_sendmsg(conn->fd, iov, 1, 0);
		if (n == -1)
			goto error;
		conn->ok_off += (size_t)n;
	}
	if (conn->type == VSOCK_TYPE_STREAM) {
		while (conn->out.len > 0) {
			niov = vsock_ring_iov(&conn->out, conn->out.len, iov);
			n = vsock_conn_sendmsg(conn->fd, iov, niov, 0);
			if (n == -1)
				goto error;
			vsock_ring_consume(&conn->out, (uint32_t)n);
			conn->fwd_cnt += (uint32_t)n;
		}
	} else {
		while (conn->nbounds > 0) {
			b = conn->bounds[conn->bhead];
			len = b & 0x7fffffffu;
			niov = vsock_ring_iov(&conn->out, len, iov);
			n = vsock_conn_sendmsg(conn->fd, iov, niov,
			    (b & 0x80000000u) ? MSG_EOR : 0);
			if (n == -1)
				goto error;
			vsock_ring_consume(&conn->out, len);
			conn->fwd_cnt += len;
			conn->bhead = (conn->bhead + 1) % VSOCK_SEQ_BOUNDS;
			conn->nbounds--;
		}
	}
	vsock_conn_credit_check(conn);
	if ((conn->peer_shut & VSOCK_SHUT_SEND) && conn->out.len == 0 &&
	    !conn->fd_shut_wr) {
		(void)shutdown(conn->fd, SHUT_WR);
		conn->fd_shut_wr = 1;
	}
	(void)vsock_conn_check_close(conn);
	return;

error:
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		vsock_conn_credit_check(conn);
		if (vsock_conn_arm_write(conn) != 0) {
			vsock_warn(conn->vs, "cannot watch a host socket");
			vsock_conn_kill(conn);
		}
		return;
	}
	if (errno == EMSGSIZE) {
		vsock_warn(conn->vs, "guest port %u: message too large for "
		    "the host socket; connection reset", conn->peer_port);
		vsock_conn_kill(conn);
		return;
	}
	(void)vsock_conn_host_wclosed(conn);
}

/*
 * If both directions are over, end the connection: an RST when the guest
 * has shut down both ways, else our SHUTDOWN(both) and a wait for the
 * guest's RST.  Returns 1 when the connection was freed.  Worker.
 */
int
vsock_conn_check_close(struct vsock_conn *conn)
{
	struct vsock	*vs = conn->vs;
	int		 rd_done, wr_done;

	if (conn->state != VSOCK_ST_ESTABLISHED &&
	    conn->state != VSOCK_ST_CLOSING)
		return (0);
	rd_done = conn->host_eof || (conn->peer_shut & VSOCK_SHUT_RCV);
	wr_done = conn->host_wclosed || ((conn->peer_shut & VSOCK_SHUT_SEND) &&
	    conn->out.len == 0 && conn->msg_len == 0);
	if (!rd_done || !wr_done)
		return (0);
	if (conn->peer_shut == VSOCK_SHUT_BOTH) {
		vsock_conn_kill(conn);
		return (1);
	}
	if (conn->state == VSOCK_ST_CLOSING)
		return (0);
	conn->state = VSOCK_ST_CLOSING;
	conn->local_shut = VSOCK_SHUT_BOTH;
	conn->pending |= VSOCK_PEND_SHUTDOWN;
	vsock_conn_schedule(conn);
	if (vsock_conn_arm_timer(conn, vs->shutdown_ms) != 0) {
		vsock_warn(vs, "cannot arm a timer; connection reset");
		vsock_conn_kill(conn);
		return (1);
	}
	return (0);
}
