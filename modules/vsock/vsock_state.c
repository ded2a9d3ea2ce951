/*
 * vsock: device state for migration (state_save / state_load), and the
 * freeze that keeps the source from touching the host sockets after it
 * saved.
 *
 * What moves, and what cannot: the guest side of every established
 * connection moves (ports, type, credit counters both ways, shutdown
 * bits, control packets owed, the guest's bytes buffered for the host,
 * a seqpacket's message boundaries and a host message staged for the
 * guest).  The host side is a unix socket of the source process and
 * cannot move.  So on the destination:
 *  - a connection the guest opened (to "<uds-path>_<port>") is opened
 *    again to the same path, and the buffered guest bytes go to the new
 *    host connection: the host service sees the old connection end and a
 *    new one carry on, with no byte lost or repeated in between;
 *  - a connection a host client opened (CONNECT on uds-path) cannot be
 *    opened again from our side: the guest gets an RST for it;
 *  - a connection still being set up or closing gets an RST;
 *  - if the host service cannot be reached, that connection is reset.
 * Neither direction loses a byte.  Guest-to-host bytes not yet written
 * to the host socket travel in the state (`out`).  Host-to-guest bytes
 * the host service wrote but the guest had no credit for are still in
 * the source's host socket at the save: the save drains them (without
 * blocking) into the connection's `hin` buffer and carries them, and
 * the destination sends them to the guest, within its credit, before
 * anything it reads from the reopened host connection.  An end of file
 * or error met while draining travels too (SHUTDOWN or RST after the
 * bytes).  At most VSOCK_STATE_HIN_MAX such bytes in all: a save that
 * would carry more fails with an error and drops nothing (the source
 * keeps the drained bytes and sends them to its guest if the VM goes
 * on there).  Bytes the service writes to the old host connection
 * after the save are not carried (the source no longer reads it); they
 * are still unread when the source is reset and closes the socket, so
 * the service sees that connection reset (ECONNRESET) instead of ended.
 *
 * After a successful save the source is frozen: no host socket is read
 * or written (so the bytes handed over are not also delivered by the
 * source), until its queues start again (the migration failed and the
 * source goes on) or it is reset (the migration succeeded).
 */

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "vsock.h"

/* Version 2 added the host bytes drained at the save (hin); a version 1
 * stream still loads (it carries none). */
#define VSOCK_STATE_VERSION	2
#define VSOCK_STATE_VERSION_MIN	1
#define VSOCK_STATE_PEND_ALL	0x1f
/* Host-to-guest bytes a save drains and carries, all connections
 * together: half the daemon's 64 MiB state cap, the rest is for the
 * guest-to-host buffers. */
#define VSOCK_STATE_HIN_MAX	(32u << 20)
#define VSOCK_STATE_HIN_CHUNK	65536
#define VSOCK_STATE_EOR		0x80000000u

/* What save and load hand to the worker. */
struct vsock_state_job {
	struct vsock		*vs;
	struct vhd_state_buf	 b;
	const void		*data;
	size_t			 len;
	int			 rc;
};

/* Is this connection carried (as opposed to reset)? */
static int
vsock_state_carried(const struct vsock_conn *conn)
{
	return (conn->state == VSOCK_ST_ESTABLISHED);
}

/* Put the ring's bytes, oldest first. */
static void
vsock_state_put_ring(struct vhd_state_buf *b, const struct vsock_ring *r)
{
	uint32_t	 first;

	vhd_state_put_u64(b, r->len);
	if (r->len == 0)
		return;
	first = r->cap - r->head;
	if (first > r->len)
		first = r->len;
	vhd_state_put(b, r->data + r->head, first);
	vhd_state_put(b, r->data, r->len - first);
}

/* Should a save drain this connection's host socket? */
static int
vsock_state_drainable(const struct vsock_conn *conn)
{
	return (vsock_state_carried(conn) && !conn->from_host &&
	    conn->fd != -1 && !conn->host_eof &&
	    (conn->peer_shut & VSOCK_SHUT_RCV) == 0 &&
	    conn->hin_end == VSOCK_HIN_OPEN);
}

/* Move the unsent part of conn->hin to the front of its buffers.
 * Worker. */
static void
vsock_state_hin_compact(struct vsock_conn *conn)
{
	if (conn->hin_off > 0) {
		memmove(conn->hin, conn->hin + conn->hin_off,
		    conn->hin_len - conn->hin_off);
		conn->hin_len -= conn->hin_off;
		conn->hin_off = 0;
	}
	if (conn->hin_mhead > 0) {
		memmove(conn->hin_msg, conn->hin_msg + conn->hin_mhead,
		    conn->hin_nmsg * sizeof(*conn->hin_msg));
		conn->hin_mhead = 0;
	}
}

/* Make room for at least `n` more bytes in conn->hin (and one more
 * message length for a seqpacket), doubling, so a large drain copies
 * each byte a few times only.  n is at most VSOCK_STATE_HIN_MAX.  0 or
 * -1.  Worker. */
static int
vsock_state_hin_grow(struct vsock_conn *conn, size_t n, int msg)
{
	uint8_t		*p;
	uint32_t	*m;
	size_t		 cap;

	if (n > conn->hin_cap - conn->hin_len) {
		cap = conn->hin_cap < VSOCK_STATE_HIN_CHUNK ?
		    VSOCK_STATE_HIN_CHUNK : (size_t)conn->hin_cap * 2;
		if (cap > VSOCK_STATE_HIN_MAX)
			cap = VSOCK_STATE_HIN_MAX;
		if (cap < conn->hin_len + n)
			cap = conn->hin_len + n;
		if ((p = realloc(conn->hin, cap)) == NULL)
			return (-1);
		conn->hin = p;
		conn->hin_cap = (uint32_t)cap;
	}
	if (msg && conn->hin_nmsg == conn->hin_mcap) {
		cap = conn->hin_mcap < 16 ? 16 : (size_t)conn->hin_mcap * 2;
		if ((m = realloc(conn->hin_msg, cap * sizeof(*m))) == NULL)
			return (-1);
		conn->hin_msg = m;
		conn->hin_mcap = (unsigned)cap;
	}
	return (0);
}

/*
 * Take everything the host socket holds into conn->hin without
 * blocking, so it travels in the state: a stream in chunks, a seqpacket
 * message by message.  End of file or an error is kept in hin_end.
 * Returns 0; -1 when the socket holds more than `budget` bytes more
 * (what was taken stays in hin), -2 out of memory.  Worker.
 */
static int
vsock_state_drain(struct vsock_conn *conn, size_t budget)
{
	struct vsock	*vs = conn->vs;
	struct msghdr	 msg;
	struct iovec	 iov;
	size_t		 got = 0, want;
	ssize_t		 n;
	uint8_t		 c;
	int		 seq = conn->type == VSOCK_TYPE_SEQPACKET;

	vsock_state_hin_compact(conn);
	for (;;) {
		if (seq)
			n = recv(conn->fd, NULL, 0, MSG_PEEK | MSG_TRUNC |
			    MSG_DONTWAIT);
		else if (got == budget)
			n = recv(conn->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		else {
			want = budget - got;
			if (want > VSOCK_STATE_HIN_CHUNK)
				want = VSOCK_STATE_HIN_CHUNK;
			if (vsock_state_hin_grow(conn, want, 0) != 0)
				return (-2);
			/* All the room there is, within the budget. */
			want = conn->hin_cap - conn->hin_len;
			if (want > budget - got)
				want = budget - got;
			n = recv(conn->fd, conn->hin + conn->hin_len, want,
			    MSG_DONTWAIT);
			if (n > 0) {
				conn->hin_len += (uint32_t)n;
				got += (size_t)n;
				continue;
			}
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return (0);
		if (n == 0) {
			conn->hin_end = VSOCK_HIN_EOF;
			return (0);
		}
		if (n == -1) {
			conn->hin_end = VSOCK_HIN_RESET;
			return (0);
		}
		if (!seq)
			return (-1);	/* more than the budget */

		/* One seqpacket message of n bytes. */
		if ((size_t)n > vs->buf_size) {
			/* The source would reset for it too (EMSGSIZE). */
			conn->hin_end = VSOCK_HIN_RESET;
			return (0);
		}
		if ((size_t)n > budget - got)
			return (-1);
		if (vsock_state_hin_grow(conn, (size_t)n, 1) != 0)
			return (-2);
		memset(&msg, 0, sizeof msg);
		iov.iov_base = conn->hin + conn->hin_len;
		iov.iov_len = (size_t)n;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		do {
			n = recvmsg(conn->fd, &msg, MSG_DONTWAIT);
		} while (n == -1 && errno == EINTR);
		if (n <= 0 || (size_t)n != iov.iov_len) {
			conn->hin_end = VSOCK_HIN_RESET;
			return (0);
		}
		conn->hin_msg[conn->hin_nmsg++] = (uint32_t)n |
		    ((msg.msg_flags & MSG_EOR) ? VSOCK_STATE_EOR : 0);
		conn->hin_len += (uint32_t)n;
		got += (size_t)n;
	}
}

/*
 * Drain the host sockets of the connections that move (the destination
 * cannot read them), within VSOCK_STATE_HIN_MAX bytes in all.  0, or -1
 * (logged): the save must fail; nothing is lost, what was drained stays
 * queued for this guest.  Worker.
 */
static int
vsock_state_drain_all(struct vsock *vs)
{
	struct vsock_conn	*conn;
	size_t			 used = 0;
	int			 r;

	LIST_FOREACH(conn, &vs->conns, all) {
		if (vsock_state_carried(conn))
			used += conn->hin_len - conn->hin_off;
	}
	LIST_FOREACH(conn, &vs->conns, all) {
		if (!vsock_state_drainable(conn))
			continue;
		if (used > VSOCK_STATE_HIN_MAX)
			r = -1;
		else {
			used -= conn->hin_len - conn->hin_off;
			r = vsock_state_drain(conn, VSOCK_STATE_HIN_MAX - used -
			    (conn->hin_len - conn->hin_off));
			used += conn->hin_len - conn->hin_off;
		}
		if (conn->hin_off == conn->hin_len)
			vsock_conn_hin_free(conn);	/* nothing taken */
		if (r == -2) {
			vs->api->log(vs->dev, VHD_LOG_ERR, "state save: out "
			    "of memory draining guest port %u's host socket",
			    conn->peer_port);
			return (-1);
		}
		if (r == -1) {
			vs->api->log(vs->dev, VHD_LOG_ERR, "state save: host "
			    "services hold more than %u bytes the guests have "
			    "not read (guest port %u and others), more than a "
			    "state carries; save refused, nothing dropped",
			    VSOCK_STATE_HIN_MAX, conn->peer_port);
			return (-1);
		}
	}
	return (0);
}

/* Disarm every host socket watch and stop arming them.  Worker. */
static void
vsock_state_freeze(struct vsock *vs)
{
	const struct vhd_api	*api = vs->api;
	struct vsock_conn	*conn;

	vs->frozen = 1;
	LIST_FOREACH(conn, &vs->conns, all) {
		if (conn->rdw != NULL && conn->rd_armed)
			(void)api->watch_del(conn->rdw);
		if (conn->wrw != NULL && conn->wr_armed)
			(void)api->watch_del(conn->wrw);
		conn->rd_armed = conn->wr_armed = 0;
	}
}

/* The queues run again: watch the host sockets, send what is owed.
 * Worker. */
void
vsock_state_thaw(struct vsock *vs)
{
	struct vsock_conn	*conn, *next;

	if (!vs->frozen)
		return;
	vs->frozen = 0;
	for (conn = LIST_FIRST(&vs->conns); conn != NULL; conn = next) {
		next = LIST_NEXT(conn, all);
		if (conn->fd == -1)
			continue;
		if ((conn->out.len > 0 || conn->ok_off < conn->ok_len) &&
		    vsock_conn_arm_write(conn) != 0) {
			vsock_conn_kill(conn);
			continue;
		}
		if (!conn->host_eof && vsock_conn_arm_read(conn) != 0) {
			vsock_conn_kill(conn);
			continue;
		}
		vsock_conn_schedule(conn);
	}
}

/* Serialize, then freeze.  Worker. */
static void
vsock_state_save_cb(struct vhd_dev *dev, void *arg)
{
	struct vsock_state_job	*job = arg;
	struct vsock		*vs = job->vs;
	struct vhd_state_buf	*b = &job->b;
	struct vsock_conn	*conn;
	uint64_t		 ncarry = 0, nreset = 0;
	unsigned		 i;

	(void)dev;
	if (vsock_state_drain_all(vs) != 0)
		goto fail;
	LIST_FOREACH(conn, &vs->conns, all) {
		if (vsock_state_carried(conn))
			ncarry++;
		else if (conn->state != VSOCK_ST_HOST_CMD)
			nreset++;
	}
	vhd_state_put_u64(b, VSOCK_STATE_VERSION);
	vhd_state_put_u64(b, vs->cid);
	vhd_state_put_u64(b, ncarry);
	vhd_state_put_u64(b, nreset);
	LIST_FOREACH(conn, &vs->conns, all) {
		if (!vsock_state_carried(conn))
			continue;
		vhd_state_put_u64(b, (uint64_t)conn->from_host);
		vhd_state_put_u64(b, conn->type);
		vhd_state_put_u64(b, conn->local_port);
		vhd_state_put_u64(b, conn->peer_port);
		vhd_state_put_u64(b, conn->pending);
		vhd_state_put_u64(b, conn->peer_shut);
		vhd_state_put_u64(b, conn->local_shut);
		vhd_state_put_u64(b, (uint64_t)conn->host_eof);
		vhd_state_put_u64(b, (uint64_t)conn->host_wclosed);
		vhd_state_put_u64(b, (uint64_t)conn->credit_asked);
		vhd_state_put_u64(b, conn->peer_buf_alloc);
		vhd_state_put_u64(b, conn->peer_fwd_cnt);
		vhd_state_put_u64(b, conn->tx_cnt);
		vhd_state_put_u64(b, conn->fwd_cnt);
		vhd_state_put_u64(b, conn->fwd_sent);
		vhd_state_put_u64(b, conn->msg_len);
		vhd_state_put_u64(b, conn->nbounds);
		for (i = 0; i < conn->nbounds; i++)
			vhd_state_put_u64(b, conn->bounds[(conn->bhead + i) %
			    VSOCK_SEQ_BOUNDS]);
		vsock_state_put_ring(b, &conn->out);
		vhd_state_put_u64(b, conn->stage_len - conn->stage_off);
		vhd_state_put_u64(b, (uint64_t)conn->stage_eor);
		if (conn->stage_off < conn->stage_len)
			vhd_state_put(b, conn->stage + conn->stage_off,
			    conn->stage_len - conn->stage_off);
		/* Version 2: the host bytes drained above. */
		vhd_state_put_u64(b, (uint64_t)conn->hin_end);
		vhd_state_put_u64(b, conn->hin_len - conn->hin_off);
		vhd_state_put_u64(b, conn->hin_nmsg);
		for (i = 0; i < conn->hin_nmsg; i++)
			vhd_state_put_u64(b, conn->hin_msg[conn->hin_mhead +
			    i]);
		if (conn->hin_off < conn->hin_len)
			vhd_state_put(b, conn->hin + conn->hin_off,
			    conn->hin_len - conn->hin_off);
	}
	LIST_FOREACH(conn, &vs->conns, all) {
		if (vsock_state_carried(conn) ||
		    conn->state == VSOCK_ST_HOST_CMD)
			continue;
		vhd_state_put_u64(b, conn->type);
		vhd_state_put_u64(b, conn->local_port);
		vhd_state_put_u64(b, conn->peer_port);
	}
	if (b->failed)
		goto fail;
	vsock_state_freeze(vs);
	job->rc = 0;
	return;

fail:
	/* Not saved: what was drained goes to this guest when the queues
	 * run again here. */
	LIST_FOREACH(conn, &vs->conns, all)
		vsock_conn_schedule(conn);
}

/* Open the host side of a carried guest connection again: a
 * non-blocking unix connect, which completes at once or not at all.
 * 0 or -1 (logged).  Worker. */
static int
vsock_state_reconnect(struct vsock_conn *conn)
{
	struct vsock		*vs = conn->vs;
	struct sockaddr_un	 sun;
	int			 n;

	if (vs->uds_path == NULL)
		return (-1);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	n = snprintf(sun.sun_path, sizeof sun.sun_path, "%s_%u",
	    vs->uds_path, conn->local_port);
	if (n < 0 || (size_t)n >= sizeof sun.sun_path)
		return (-1);
	conn->fd = socket(AF_UNIX, (conn->type == VSOCK_TYPE_SEQPACKET ?
	    SOCK_SEQPACKET : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (conn->fd == -1)
		goto fail;
	if (connect(conn->fd, (struct sockaddr *)&sun, sizeof sun) == 0)
		return (0);
fail:
	vs->api->log(vs->dev, VHD_LOG_WARN, "state load: guest port %u -> "
	    "host %s: %s; connection reset", conn->peer_port, sun.sun_path,
	    strerror(errno));
	if (conn->fd != -1)
		close(conn->fd);
	conn->fd = -1;
	return (-1);
}

/*
 * The host bytes a version 2 save drained for a connection (-1 on
 * anything malformed): how the host socket ended, the bytes, and for a
 * seqpacket the lengths of the whole messages, which must add up to
 * them exactly.  A host that had ended before cannot have sent more.
 */
static int
vsock_state_read_hin(struct vsock *vs, struct vhd_state_reader *r,
    struct vsock_conn *conn)
{
	uint64_t	 hend, hlen, nm, x, total = 0;
	unsigned	 i;

	if (vhd_state_get_range(r, 0, VSOCK_HIN_RESET, &hend) == -1 ||
	    vhd_state_get_range(r, 0, VSOCK_STATE_HIN_MAX, &hlen) == -1 ||
	    vhd_state_get_range(r, 0, hlen, &nm) == -1)
		return (-1);
	if (conn->host_eof && (hend != VSOCK_HIN_OPEN || hlen != 0))
		return (-1);
	if (conn->type == VSOCK_TYPE_STREAM ? nm != 0 : (hlen > 0 && nm == 0))
		return (-1);
	/* Each length is 8 bytes of the stream, then come the bytes. */
	if (nm > (r->len - r->off) / 8 || hlen > r->len - r->off - nm * 8)
		return (-1);
	conn->hin_end = (int)hend;
	if (hlen == 0)
		return (0);
	if ((conn->hin = malloc(hlen)) == NULL ||
	    (nm > 0 && (conn->hin_msg = calloc(nm, sizeof(uint32_t))) == NULL))
		return (-1);
	for (i = 0; i < nm; i++) {
		if (vhd_state_get_u64(r, &x) == -1 ||
		    (x & ~(uint64_t)VSOCK_STATE_EOR) == 0 ||
		    (x & ~(uint64_t)VSOCK_STATE_EOR) > vs->buf_size)
			return (-1);
		conn->hin_msg[i] = (uint32_t)x;
		total += x & ~(uint64_t)VSOCK_STATE_EOR;
	}
	if (nm > 0 && total != hlen)
		return (-1);
	if (vhd_state_get(r, conn->hin, hlen) == -1)
		return (-1);
	conn->hin_len = conn->hin_cap = (uint32_t)hlen;
	conn->hin_nmsg = conn->hin_mcap = (unsigned)nm;
	return (0);
}

/* One carried connection from the stream (-1 on anything malformed);
 * created in *connp, not yet hashed. */
static int
vsock_state_read_conn(struct vsock *vs, struct vhd_state_reader *r,
    uint64_t version, struct vsock_conn **connp)
{
	struct vsock_conn	*conn;
	uint64_t		 v[16], nb, olen, slen, eor, x, total;
	unsigned		 i;

	for (i = 0; i < 16; i++) {
		if (vhd_state_get_u64(r, &v[i]) == -1)
			return (-1);
	}
	if (v[0] > 1 || (v[1] != VSOCK_TYPE_STREAM &&
	    v[1] != VSOCK_TYPE_SEQPACKET) || v[2] > UINT32_MAX ||
	    v[3] > UINT32_MAX || v[4] > VSOCK_STATE_PEND_ALL ||
	    v[5] > VSOCK_SHUT_BOTH || v[6] > VSOCK_SHUT_BOTH || v[7] > 1 ||
	    v[8] > 1 || v[9] > 1 || v[10] > UINT32_MAX ||
	    v[11] > UINT32_MAX || v[12] > UINT32_MAX || v[13] > UINT32_MAX ||
	    v[14] > UINT32_MAX || v[15] > vs->buf_size)
		return (-1);
	if (vsock_conn_find(vs, (uint32_t)v[2], (uint32_t)v[3]) != NULL)
		return (-1);
	if (vhd_state_get_range(r, 0, VSOCK_SEQ_BOUNDS, &nb) == -1)
		return (-1);
	if (v[1] == VSOCK_TYPE_STREAM && (nb != 0 || v[15] != 0))
		return (-1);
	if ((conn = vsock_conn_new(vs, -1, VSOCK_ST_ESTABLISHED)) == NULL)
		return (-1);
	*connp = conn;
	conn->from_host = (int)v[0];
	conn->type = (uint16_t)v[1];
	conn->local_port = (uint32_t)v[2];
	conn->peer_port = (uint32_t)v[3];
	conn->pending = (unsigned)v[4];
	conn->peer_shut = (unsigned)v[5];
	conn->local_shut = (unsigned)v[6];
	conn->host_eof = (int)v[7];
	conn->host_wclosed = (int)v[8];
	conn->credit_asked = (int)v[9];
	conn->peer_buf_alloc = (uint32_t)v[10];
	conn->peer_fwd_cnt = (uint32_t)v[11];
	conn->tx_cnt = (uint32_t)v[12];
	conn->fwd_cnt = (uint32_t)v[13];
	conn->fwd_sent = (uint32_t)v[14];
	conn->msg_len = (uint32_t)v[15];
	if (nb > 0 && (conn->bounds = calloc(VSOCK_SEQ_BOUNDS,
	    sizeof(*conn->bounds))) == NULL)
		return (-1);
	/* A boundary is a message length with bit 31 for EOR; the queued
	 * messages and the partial one must fill the ring exactly, or a
	 * flush would read past it. */
	total = conn->msg_len;
	for (i = 0; i < nb; i++) {
		if (vhd_state_get_range(r, 0, UINT32_MAX, &x) == -1 ||
		    (x & 0x7fffffffu) > vs->buf_size)
			return (-1);
		conn->bounds[i] = (uint32_t)x;
		total += x & 0x7fffffffu;
	}
	conn->nbounds = (unsigned)nb;
	conn->bhead = 0;
	if (vhd_state_get_range(r, 0, vs->buf_size, &olen) == -1 ||
	    olen > r->len - r->off ||
	    (conn->type == VSOCK_TYPE_SEQPACKET && olen != total))
		return (-1);
	if (olen > 0) {
		if (vsock_ring_init(&conn->out, vs->buf_size) != 0)
			return (-1);
		memcpy(conn->out.data, r->p + r->off, olen);
		conn->out.len = (uint32_t)olen;
		r->off += olen;
	}
	if (vhd_state_get_range(r, 0, vs->buf_size, &slen) == -1 ||
	    vhd_state_get_range(r, 0, 1, &eor) == -1 ||
	    slen > r->len - r->off ||
	    (slen > 0 && conn->type != VSOCK_TYPE_SEQPACKET))
		return (-1);
	if (slen > 0) {
		if ((conn->stage = malloc(vs->buf_size)) == NULL)
			return (-1);
		memcpy(conn->stage, r->p + r->off, slen);
		conn->stage_len = (uint32_t)slen;
		conn->stage_off = 0;
		conn->stage_eor = (int)eor;
		r->off += slen;
	}
	if (version < 2)
		return (0);
	return (vsock_state_read_hin(vs, r, conn));
}

/* Check and rebuild the connections, reconnect the host side; on a
 * malformed stream everything loaded is dropped.  Worker. */
static void
vsock_state_load_cb(struct vhd_dev *dev, void *arg)
{
	struct vsock_state_job	*job = arg;
	struct vsock		*vs = job->vs;
	struct vhd_state_reader	 r = { job->data, job->len, 0 };
	struct vsock_conn	*conn, *next;
	struct vsock_hdr	 h;
	uint64_t		 version, cid, ncarry, nreset, t, lp, pp, i;

	(void)dev;
	job->rc = -1;
	if (!LIST_EMPTY(&vs->conns) || vs->live) {
		vs->api->log(vs->dev, VHD_LOG_ERR, "state load: the device "
		    "is in use (connections or started queues)");
		return;
	}
	if (vhd_state_get_u64(&r, &version) == -1)
		goto bad;
	if (version < VSOCK_STATE_VERSION_MIN ||
	    version > VSOCK_STATE_VERSION) {
		vs->api->log(vs->dev, VHD_LOG_ERR, "state load: vsock state "
		    "version %llu, this vhostd loads %u to %u",
		    (unsigned long long)version, VSOCK_STATE_VERSION_MIN,
		    VSOCK_STATE_VERSION);
		return;
	}
	if (vhd_state_get_u64(&r, &cid) == -1 ||
	    vhd_state_get_range(&r, 0, vs->max_conns, &ncarry) == -1 ||
	    vhd_state_get_range(&r, 0, vs->ctl_cap, &nreset) == -1)
		goto bad;
	if (cid != vs->cid) {
		vs->api->log(vs->dev, VHD_LOG_ERR, "state load: state of "
		    "guest CID %llu, this device is CID %llu",
		    (unsigned long long)cid, (unsigned long long)vs->cid);
		return;
	}
	for (i = 0; i < ncarry; i++) {
		conn = NULL;
		if (vsock_state_read_conn(vs, &r, version, &conn) == -1) {
			if (conn != NULL)
				vsock_conn_free(conn);
			goto bad;
		}
		vsock_conn_hash(conn);
	}
	vs->ctl_len = vs->ctl_head = 0;
	for (i = 0; i < nreset; i++) {
		if (vhd_state_get_u64(&r, &t) == -1 ||
		    (t != VSOCK_TYPE_STREAM && t != VSOCK_TYPE_SEQPACKET) ||
		    vhd_state_get_range(&r, 0, UINT32_MAX, &lp) == -1 ||
		    vhd_state_get_range(&r, 0, UINT32_MAX, &pp) == -1)
			goto bad;
		memset(&h, 0, sizeof h);
		h.src_cid = VSOCK_HOST_CID;
		h.dst_cid = vs->cid;
		h.src_port = (uint32_t)lp;
		h.dst_port = (uint32_t)pp;
		h.type = (uint16_t)t;
		h.op = VSOCK_OP_RST;
		h.buf_alloc = vs->buf_size;
		vsock_ctl_push(vs, &h);
	}
	if (r.off != r.len)
		goto bad;

	/* All checked: the host side now.  What cannot be reopened is
	 * reset (an RST for the guest once the queues run). */
	vs->worker = vs->api->queue_worker(vs->api->dev_queue(vs->dev,
	    VSOCK_RXQ));
	vs->frozen = 1;
	for (conn = LIST_FIRST(&vs->conns); conn != NULL; conn = next) {
		next = LIST_NEXT(conn, all);
		if (conn->from_host) {
			vs->api->log(vs->dev, VHD_LOG_INFO, "state load: host "
			    "client's connection to guest port %u cannot "
			    "move: reset", conn->peer_port);
			vsock_conn_kill(conn);
		} else if (vsock_state_reconnect(conn) == -1)
			vsock_conn_kill(conn);
	}
	job->rc = 0;
	return;

bad:
	vs->api->log(vs->dev, VHD_LOG_ERR, "state load: malformed vsock "
	    "state (%zu bytes)", job->len);
	vsock_conn_free_all(vs);
	vs->ctl_len = vs->ctl_head = 0;
	vs->frozen = 0;
}

/* Run fn on the device's worker and wait. */
static int
vsock_state_run(struct vhd_dev *dev, struct vsock *vs, vhd_worker_fn fn,
    struct vsock_state_job *job)
{
	const struct vhd_api	*api = vs->api;
	unsigned		 w;

	w = api->queue_worker(api->dev_queue(dev, VSOCK_RXQ));
	job->vs = vs;
	job->rc = -1;
	if (api->run_on_worker(dev, w, fn, job, 1) != 0)
		return (-1);
	return (job->rc);
}

/* state_save.  Main thread, queues stopped. */
int
vsock_state_save(struct vhd_dev *dev, void **buf, size_t *len)
{
	struct vsock		*vs = vsock_priv(dev);
	struct vsock_state_job	 job;

	memset(&job, 0, sizeof job);
	if (vsock_state_run(dev, vs, vsock_state_save_cb, &job) != 0) {
		free(job.b.p);
		vs->api->log(dev, VHD_LOG_ERR, "state save failed");
		return (-1);
	}
	*buf = job.b.p;
	*len = job.b.len;
	return (0);
}

/* state_load.  Main thread, queues stopped. */
int
vsock_state_load(struct vhd_dev *dev, const void *buf, size_t len)
{
	struct vsock		*vs = vsock_priv(dev);
	struct vsock_state_job	 job;

	memset(&job, 0, sizeof job);
	job.data = buf;
	job.len = len;
	return (vsock_state_run(dev, vs, vsock_state_load_cb, &job));
}
