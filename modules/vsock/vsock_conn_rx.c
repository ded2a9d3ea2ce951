/*
 * vsock connections, host to guest: the next packet a connection owes
 * the guest (REQUEST, RESPONSE, RW with host data read straight into the
 * rx buffer within the guest's credit, SHUTDOWN, credit packets), one
 * per rx chain.  Seqpacket messages are staged whole and sent in pieces
 * with EOM (and EOR) on the last.  Host bytes a state save took from the
 * host socket (conn->hin) go before anything read from it afterwards.
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
 * Stage the next whole message of conn->hin (seqpacket): what a state
 * save took from the host socket comes before anything read from it
 * now.  Returns 1, or -1 with errno (EMSGSIZE: too large for the
 * guest).  Worker.
 */
static int
vsock_conn_stage_hin(struct vsock_conn *conn)
{
	struct vsock	*vs = conn->vs;
	uint32_t	 m, len, limit;

	m = conn->hin_msg[conn->hin_mhead];
	len = m & 0x7fffffffu;
	limit = vs->buf_size < conn->peer_buf_alloc ? vs->buf_size :
	    conn->peer_buf_alloc;
	if (len > limit || len > conn->hin_len - conn->hin_off) {
		errno = EMSGSIZE;
		return (-1);
	}
	if (conn->stage == NULL && (conn->stage = malloc(vs->buf_size)) ==
	    NULL) {
		errno = ENOMEM;
		return (-1);
	}
	memcpy(conn->stage, conn->hin + conn->hin_off, len);
	conn->stage_len = len;
	conn->stage_off = 0;
	conn->stage_eor = (m & 0x80000000u) != 0;
	conn->hin_off += len;
	conn->hin_mhead++;
	if (--conn->hin_nmsg == 0)
		vsock_conn_hin_free(conn);
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
			if (conn->hin_nmsg > 0)
				r = vsock_conn_stage_hin(conn);
			else if (conn->hin_end == VSOCK_HIN_EOF)
				r = 0;
			else if (conn->hin_end == VSOCK_HIN_RESET) {
				errno = ECONNRESET;
				r = -1;
			} else
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
	} else if (conn->hin_off < conn->hin_len) {
		/* Bytes a state save took from the host socket first. */
		if (max > conn->hin_len - conn->hin_off)
			max = conn->hin_len - conn->hin_off;
		if (api->chain_write(c, VSOCK_HDR_SIZE, conn->hin +
		    conn->hin_off, max) != (ssize_t)max)
			return (0);
		conn->hin_off += (uint32_t)max;
		if (conn->hin_off == conn->hin_len)
			vsock_conn_hin_free(conn);
		n = (ssize_t)max;
	} else if (conn->hin_end == VSOCK_HIN_EOF) {
		goto eof;
	} else if (conn->hin_end == VSOCK_HIN_RESET) {
		errno = ECONNRESET;
		n = -1;
		goto error;
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
	/* A carried end of file (hin_end) is delivered now: host_eof says
	 * it from here on, and a later save must not carry it twice. */
	if (conn->hin_end == VSOCK_HIN_EOF)
		conn->hin_end = VSOCK_HIN_OPEN;
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
		/* connect-timeout runs from when the guest can see the
		 * REQUEST: a host client that connected while the VM was
		 * paused waits for it. */
		if (vsock_conn_arm_timer(conn, conn->vs->connect_ms) != 0) {
			vsock_warn(conn->vs, "cannot arm a timer");
			vsock_conn_free(conn);
			return (VSOCK_RX_FREED);
		}
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
