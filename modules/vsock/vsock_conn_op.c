/*
 * vsock connections, guest to host: the packets the guest sends to the
 * host CID, dispatched by op through a table (REQUEST, RESPONSE, RST,
 * SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST), and the answer to
 * packets of an unknown op or type.  Guest data is written to the host
 * socket at once when it can be, else kept in the connection's ring
 * within the credit we gave.
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
