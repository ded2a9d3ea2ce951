/*
 * vsock connections between a guest port and a host unix socket: the
 * connection table, the state machine driven by guest packets, credit
 * accounting in both directions, half-close, timeouts and the
 * non-blocking I/O on the host socket.
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

#define VSOCK_CONN_IOV	64

/* A handler for one guest packet op on a known connection. */
struct vsock_conn_op {
	void	(*fn)(struct vsock_conn *, const struct vsock_hdr *,
		    struct vhd_chain *);
};

static void	vsock_conn_op_request(struct vsock_conn *,
		    const struct vsock_hdr *, struct vhd_chain *);
static void	vsock_conn_op_response(struct vsock_conn *,
		    const struct vsock_hdr *, struct vhd_chain *);
static void	vsock_conn_op_rst(struct vsock_conn *,
		    const struct vsock_hdr *, struct vhd_chain *);
static void	vsock_conn_op_shutdown(struct vsock_conn *,
		    const struct vsock_hdr *, struct vhd_chain *);
static void	vsock_conn_op_rw(struct vsock_conn *,
		    const struct vsock_hdr *, struct vhd_chain *);
static void	vsock_conn_op_credit_update(struct vsock_conn *,
		    const struct vsock_hdr *, struct vhd_chain *);
static void	vsock_conn_op_credit_request(struct vsock_conn *,
		    const struct vsock_hdr *, struct vhd_chain *);

static const struct vsock_conn_op vsock_conn_ops[VSOCK_OP_MAX + 1] = {
	[VSOCK_OP_REQUEST] = { vsock_conn_op_request },
	[VSOCK_OP_RESPONSE] = { vsock_conn_op_response },
	[VSOCK_OP_RST] = { vsock_conn_op_rst },
	[VSOCK_OP_SHUTDOWN] = { vsock_conn_op_shutdown },
	[VSOCK_OP_RW] = { vsock_conn_op_rw },
	[VSOCK_OP_CREDIT_UPDATE] = { vsock_conn_op_credit_update },
	[VSOCK_OP_CREDIT_REQUEST] = { vsock_conn_op_credit_request },
};

static int	vsock_conn_check_close(struct vsock_conn *);

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
	vs->nconns--;
	free(conn);
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
static uint32_t
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
static int
vsock_conn_rw_ready(const struct vsock_conn *conn)
{
	if (!vsock_conn_can_read(conn))
		return (0);
	if (vsock_conn_peer_free(conn) == 0)
		return (0);
	if (conn->stage_off < conn->stage_len)
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

	if (conn->rd_armed)
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

	if (conn->wr_armed)
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
static void
vsock_conn_disarm_timer(struct vsock_conn *conn)
{
	if (conn->timer != NULL && conn->timer_armed)
		(void)conn->vs->api->watch_del(conn->timer);
	conn->timer_armed = 0;
}

/* Ask for a CREDIT_UPDATE when the guest's view of our free space fell
 * below half the buffer.  Worker. */
static void
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
static int
vsock_conn_host_wclosed(struct vsock_conn *conn)
{
	conn->host_wclosed = 1;
	conn->fwd_cnt += conn->out.len + conn->msg_len;
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
static ssize_t
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

	if (conn->fd == -1 || conn->host_wclosed)
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
static int
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

/* Read host data into the chain after the header, for a stream.  Returns
 * bytes read, 0 at end of file, -1 with errno.  Worker. */
static ssize_t
vsock_conn_read_stream(struct vsock_conn *conn, struct vhd_chain *c,
    size_t max)
{
	const struct vhd_api	*api = conn->vs->api;
	struct iovec		 iov[VSOCK_CONN_IOV];
	size_t			 total = 0;
	ssize_t			 n;
	int			 i, niov;

	niov = api->chain_iov(c, 1, VSOCK_HDR_SIZE, iov, VSOCK_CONN_IOV);
	if (niov <= 0) {
		errno = EFAULT;
		return (-1);
	}
	for (i = 0; i < niov; i++) {
		if (iov[i].iov_len >= max - total) {
			iov[i].iov_len = max - total;
			niov = i + 1;
			break;
		}
		total += iov[i].iov_len;
	}
	do {
		n = readv(conn->fd, iov, niov);
	} while (n == -1 && errno == EINTR);
	return (n);
}

/*
 * Take the next host message into the stage buffer (seqpacket).  Returns
 * 1 staged, 0 at end of file, -1 with errno (EMSGSIZE: too large for the
 * guest).  Worker.
 */
static int
vsock_conn_stage(struct vsock_conn *conn)
{
	struct vsock	*vs = conn->vs;
	struct msghdr	 msg;
	struct iovec	 iov;
	uint32_t	 limit;
	ssize_t		 n;

	do {
		n = recv(conn->fd, NULL, 0, MSG_PEEK | MSG_TRUNC |
		    MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n <= 0)
		return ((int)n);
	limit = vs->buf_size < conn->peer_buf_alloc ? vs->buf_size :
	    conn->peer_buf_alloc;
	if ((size_t)n > limit) {
		errno = EMSGSIZE;
		return (-1);
	}
	if (conn->stage == NULL && (conn->stage = malloc(vs->buf_size)) ==
	    NULL) {
		errno = ENOMEM;
		return (-1);
	}
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = conn->stage;
	iov.iov_len = vs->buf_size;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	do {
		n = recvmsg(conn->fd, &msg, MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n <= 0)
		return ((int)n);
	conn->stage_len = (uint32_t)n;
	conn->stage_off = 0;
	conn->stage_eor = (msg.msg_flags & MSG_EOR) != 0;
	return (1);
}

/*
 * Try to put one RW packet of host data into the chain.  Returns 1 with
 * *len set, 0 when there is nothing to send (end of file, no data, no
 * credit), -1 when the connection was freed.  Worker.
 */
static int
vsock_conn_rx_rw(struct vsock_conn *conn, struct vhd_chain *c, size_t wr,
    size_t *len)
{
	struct vsock		*vs = conn->vs;
	const struct vhd_api	*api = vs->api;
	struct vsock_hdr	 h;
	uint32_t		 credit = vsock_conn_peer_free(conn), flags = 0;
	size_t			 max;
	ssize_t			 n;
	int			 r;

	if (credit == 0) {
		if (!conn->credit_asked) {
			conn->credit_asked = 1;
			conn->pending |= VSOCK_PEND_CREDIT_REQ;
		}
		return (0);
	}
	max = wr - VSOCK_HDR_SIZE;
	if (max > credit)
		max = credit;
	if (max > VSOCK_MAX_PKT)
		max = VSOCK_MAX_PKT;
	if (max == 0)
		return (0);

	if (conn->type == VSOCK_TYPE_SEQPACKET) {
		if (conn->stage_off >= conn->stage_len) {
			r = vsock_conn_stage(conn);
			if (r == 0)
				goto eof;
			if (r == -1) {
				n = -1;
				goto error;
			}
		}
		if (max > conn->stage_len - conn->stage_off)
			max = conn->stage_len - conn->stage_off;
		if (api->chain_write(c, VSOCK_HDR_SIZE, conn->stage +
		    conn->stage_off, max) != (ssize_t)max)
			return (0);
		conn->stage_off += (uint32_t)max;
		if (conn->stage_off == conn->stage_len) {
			flags = VSOCK_SEQ_EOM;
			if (conn->stage_eor)
				flags |= VSOCK_SEQ_EOR;
		}
		n = (ssize_t)max;
	} else {
		n = vsock_conn_read_stream(conn, c, max);
		if (n == 0)
			goto eof;
		if (n == -1)
			goto error;
	}
	vsock_conn_fill_hdr(conn, &h, VSOCK_OP_RW);
	h.len = (uint32_t)n;
	h.flags = flags;
	if (vsock_pkt_write_hdr(api, c, &h) != 0)
		return (0);
	conn->tx_cnt += (uint32_t)n;
	conn->fwd_sent = conn->fwd_cnt;
	conn->pending &= ~VSOCK_PEND_CREDIT_UPD;
	if (vsock_conn_peer_free(conn) == 0 && !conn->credit_asked) {
		/* More may wait on the host socket: ask for credit. */
		conn->credit_asked = 1;
		conn->pending |= VSOCK_PEND_CREDIT_REQ;
	}
	*len = VSOCK_HDR_SIZE + (size_t)n;
	return (1);

eof:
	conn->host_eof = 1;
	conn->readable = 0;
	conn->local_shut |= VSOCK_SHUT_SEND;
	conn->pending |= VSOCK_PEND_SHUTDOWN;
	return (vsock_conn_check_close(conn) ? -1 : 0);

error:
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		conn->readable = 0;
		if (vsock_conn_arm_read(conn) != 0) {
			vsock_warn(vs, "cannot watch a host socket");
			vsock_conn_kill(conn);
			return (-1);
		}
		return (0);
	}
	if (errno == EMSGSIZE)
		vsock_warn(vs, "guest port %u: host message larger than the "
		    "guest's or our buffer; connection reset",
		    conn->peer_port);
	else if (errno == EFAULT)
		vsock_warn(vs, "rx buffer outside guest memory");
	vsock_conn_kill(conn);
	return (-1);
}

/*
 * Write the next packet the connection owes the guest into rx chain c
 * (writable part at least a header).  Returns VSOCK_RX_* bits; *len is
 * the packet size when VSOCK_RX_PKT is set.  Worker.
 */
int
vsock_conn_rx(struct vsock_conn *conn, struct vhd_chain *c, size_t *len)
{
	const struct vhd_api	*api = conn->vs->api;
	struct vsock_hdr	 h;
	size_t			 wr = api->chain_writable(c);
	uint16_t		 op;
	int			 r;

	if (conn->pending & VSOCK_PEND_REQUEST) {
		op = VSOCK_OP_REQUEST;
		conn->pending &= ~VSOCK_PEND_REQUEST;
		goto ctl;
	}
	if (conn->pending & VSOCK_PEND_RESPONSE) {
		op = VSOCK_OP_RESPONSE;
		conn->pending &= ~VSOCK_PEND_RESPONSE;
		goto ctl;
	}
	if (vsock_conn_rw_ready(conn)) {
		r = vsock_conn_rx_rw(conn, c, wr, len);
		if (r == 1)
			return (VSOCK_RX_PKT);
		if (r == -1)
			return (VSOCK_RX_FREED);
	}
	if ((conn->pending & VSOCK_PEND_SHUTDOWN) &&
	    conn->stage_off >= conn->stage_len) {
		op = VSOCK_OP_SHUTDOWN;
		conn->pending &= ~VSOCK_PEND_SHUTDOWN;
		goto ctl;
	}
	if (conn->pending & VSOCK_PEND_CREDIT_UPD) {
		op = VSOCK_OP_CREDIT_UPDATE;
		conn->pending &= ~VSOCK_PEND_CREDIT_UPD;
		goto ctl;
	}
	if (conn->pending & VSOCK_PEND_CREDIT_REQ) {
		op = VSOCK_OP_CREDIT_REQUEST;
		conn->pending &= ~VSOCK_PEND_CREDIT_REQ;
		goto ctl;
	}
	return (0);

ctl:
	vsock_conn_fill_hdr(conn, &h, op);
	if (op == VSOCK_OP_SHUTDOWN)
		h.flags = conn->local_shut;
	if (vsock_pkt_write_hdr(api, c, &h) != 0)
		return (0);
	conn->fwd_sent = conn->fwd_cnt;
	if (op != VSOCK_OP_CREDIT_UPDATE)
		conn->pending &= ~VSOCK_PEND_CREDIT_UPD;
	*len = VSOCK_HDR_SIZE;
	return (VSOCK_RX_PKT);
}

/*
 * A guest packet for the host (src_cid, type and op already checked):
 * find its connection and run the op, or open a connection for a
 * REQUEST, or answer RST.  Worker.
 */
void
vsock_conn_guest_pkt(struct vsock *vs, const struct vsock_hdr *h,
    struct vhd_chain *c)
{
	struct vsock_conn	*conn;
	uint32_t		 credit;

	conn = vsock_conn_find(vs, h->dst_port, h->src_port);
	if (conn == NULL) {
		if (h->op == VSOCK_OP_REQUEST)
			vsock_host_connect(vs, h);
		else
			vsock_ctl_rst(vs, h);
		return;
	}
	if (h->type != conn->type) {
		if (h->op == VSOCK_OP_RST)
			vsock_conn_free(conn);
		else
			vsock_conn_kill(conn);
		return;
	}
	credit = vsock_conn_peer_free(conn);
	conn->peer_buf_alloc = h->buf_alloc;
	conn->peer_fwd_cnt = h->fwd_cnt;
	if (vsock_conn_peer_free(conn) > credit)
		conn->credit_asked = 0;
	vsock_conn_ops[h->op].fn(conn, h, c);
}

/*
 * A guest packet of an unknown op or type (src_cid checked): answer RST,
 * never for an RST.  The guest drops a connection on our RST, so one
 * the packet names goes too: reset, or freed quietly for an RST.
 * Worker.
 */
void
vsock_conn_guest_bad(struct vsock *vs, const struct vsock_hdr *h)
{
	struct vsock_conn	*conn = NULL;

	if (h->dst_cid == VSOCK_HOST_CID)
		conn = vsock_conn_find(vs, h->dst_port, h->src_port);
	if (conn == NULL)
		vsock_ctl_rst(vs, h);
	else if (h->op == VSOCK_OP_RST)
		vsock_conn_free(conn);
	else
		vsock_conn_kill(conn);
}

/* REQUEST on a known connection: the guest is confused; reset.  Worker. */
static void
vsock_conn_op_request(struct vsock_conn *conn, const struct vsock_hdr *h,
    struct vhd_chain *c)
{
	(void)h;
	(void)c;
	vsock_conn_kill(conn);
}

/* RESPONSE: the guest accepted a host connect; answer "OK <port>" on the
 * host socket.  Worker. */
static void
vsock_conn_op_response(struct vsock_conn *conn, const struct vsock_hdr *h,
    struct vhd_chain *c)
{
	struct vsock	*vs = conn->vs;
	int		 n;

	(void)c;
	if (conn->state != VSOCK_ST_LOCAL_INIT) {
		vsock_conn_kill(conn);
		return;
	}
	vsock_conn_disarm_timer(conn);
	conn->state = VSOCK_ST_ESTABLISHED;
	n = snprintf(conn->ok, sizeof(conn->ok), "OK %u\n", conn->local_port);
	conn->ok_len = (size_t)n;
	conn->ok_off = 0;
	conn->readable = 1;
	vsock_conn_flush(conn);
	/* flush may have freed it only on a host error: look again. */
	if ((conn = vsock_conn_find(vs, h->dst_port, h->src_port)) !=
	    NULL)
		vsock_conn_schedule(conn);
}

/* RST: the guest dropped the connection; close the host socket.
 * Worker. */
static void
vsock_conn_op_rst(struct vsock_conn *conn, const struct vsock_hdr *h,
    struct vhd_chain *c)
{
	(void)h;
	(void)c;
	vsock_conn_free(conn);
}

/* SHUTDOWN: the guest half-closes one or both directions.  Worker. */
static void
vsock_conn_op_shutdown(struct vsock_conn *conn, const struct vsock_hdr *h,
    struct vhd_chain *c)
{
	unsigned	 bits = h->flags & VSOCK_SHUT_BOTH;

	(void)c;
	if (conn->state != VSOCK_ST_ESTABLISHED &&
	    conn->state != VSOCK_ST_CLOSING) {
		vsock_conn_kill(conn);
		return;
	}
	conn->peer_shut |= bits;
	if ((bits & VSOCK_SHUT_RCV) && conn->fd != -1 && !conn->host_eof) {
		(void)shutdown(conn->fd, SHUT_RD);
		conn->stage_off = conn->stage_len = 0;
	}
	if (vsock_conn_check_close(conn))
		return;
	/* A pending SEND shutdown happens once the ring is flushed. */
	vsock_conn_flush(conn);
}

/* RW: guest data for the host socket, written at once if possible, else
 * kept in the ring within the guest's credit.  Worker. */
static void
vsock_conn_op_rw(struct vsock_conn *conn, const struct vsock_hdr *h,
    struct vhd_chain *c)
{
	struct vsock		*vs = conn->vs;
	const struct vhd_api	*api = vs->api;
	struct iovec		 iov[VSOCK_CONN_IOV];
	size_t			 len = h->len, done = 0, total;
	ssize_t			 n;
	int			 i, niov;

	if (conn->state != VSOCK_ST_ESTABLISHED ||
	    (conn->peer_shut & VSOCK_SHUT_SEND)) {
		vsock_conn_kill(conn);
		return;
	}
	if (conn->host_wclosed) {
		conn->fwd_cnt += (uint32_t)len;
		vsock_conn_credit_check(conn);
		return;
	}
	if (conn->type == VSOCK_TYPE_STREAM && conn->out.len == 0 &&
	    conn->ok_off == conn->ok_len && len > 0) {
		niov = api->chain_iov(c, 0, VSOCK_HDR_SIZE, iov,
		    VSOCK_CONN_IOV);
		if (niov > 0) {
			total = 0;
			for (i = 0; i < niov; i++) {
				if (iov[i].iov_len >= len - total) {
					iov[i].iov_len = len - total;
					niov = i + 1;
					break;
				}
				total += iov[i].iov_len;
			}
			n = vsock_conn_sendmsg(conn->fd, iov, niov, 0);
			if (n > 0) {
				done = (size_t)n;
				conn->fwd_cnt += (uint32_t)n;
			} else if (n == -1 && errno != EAGAIN &&
			    errno != EWOULDBLOCK) {
				if (vsock_conn_host_wclosed(conn) == 0)
					conn->fwd_cnt += (uint32_t)len;
				return;
			}
		}
	}
	if (done < len) {
		if (conn->out.data == NULL &&
		    vsock_ring_init(&conn->out, vs->buf_size) != 0) {
			vsock_warn(vs, "out of memory; connection reset");
			vsock_conn_kill(conn);
			return;
		}
		if (vsock_ring_put_chain(&conn->out, api, c,
		    VSOCK_HDR_SIZE + done, len - done) != 0) {
			vsock_warn(vs, "guest port %u sent %zu bytes beyond "
			    "its credit; connection reset", conn->peer_port,
			    len - done);
			vsock_conn_kill(conn);
			return;
		}
	}
	if (conn->type == VSOCK_TYPE_SEQPACKET) {
		conn->msg_len += (uint32_t)len;
		if (h->flags & VSOCK_SEQ_EOM) {
			if (conn->bounds == NULL && (conn->bounds = calloc(
			    VSOCK_SEQ_BOUNDS, sizeof(*conn->bounds))) == NULL) {
				vsock_warn(vs, "out of memory; connection "
				    "reset");
				vsock_conn_kill(conn);
				return;
			}
			if (conn->nbounds == VSOCK_SEQ_BOUNDS) {
				vsock_warn(vs, "guest port %u: too many "
				    "messages queued; connection reset",
				    conn->peer_port);
				vsock_conn_kill(conn);
				return;
			}
			conn->bounds[(conn->bhead + conn->nbounds) %
			    VSOCK_SEQ_BOUNDS] = conn->msg_len |
			    ((h->flags & VSOCK_SEQ_EOR) ? 0x80000000u : 0);
			conn->nbounds++;
			conn->msg_len = 0;
		}
	}
	if (conn->out.len > 0 && conn->msg_len < conn->out.len)
		vsock_conn_flush(conn);
	else
		vsock_conn_credit_check(conn);
}

/* CREDIT_UPDATE: the credit is already taken from the header; send data
 * that waited for it.  Worker. */
static void
vsock_conn_op_credit_update(struct vsock_conn *conn,
    const struct vsock_hdr *h, struct vhd_chain *c)
{
	(void)h;
	(void)c;
	vsock_conn_schedule(conn);
}

/* CREDIT_REQUEST: answer with a CREDIT_UPDATE.  Worker. */
static void
vsock_conn_op_credit_request(struct vsock_conn *conn,
    const struct vsock_hdr *h, struct vhd_chain *c)
{
	(void)h;
	(void)c;
	conn->pending |= VSOCK_PEND_CREDIT_UPD;
	vsock_conn_schedule(conn);
}
