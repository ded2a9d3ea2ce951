/*
 * Helpers of the vsock frontend tests (check_vsock_fe,
 * check_vsock_fe_limits, check_vsock_pause): a small vsock guest driver
 * on top of the test frontend (tests/fe) and host-side unix socket
 * helpers, some run in threads.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/poll.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vsock_fe.h"

static const struct fe_region_spec vf_layout[] = {
	{ 0x0, 16u << 20, 0 },
};

/*
 * Start vhostd with the --vm form (ndev 1), or a config file with ndev
 * (2 or 3) devices in group g1: "a" CID 3 with uds-path, "b" CID 4
 * (groups g1+g2) and "c" CID 5, both without uds-path.
 */
void
vd_start(struct vd *vd, const char *name, const char *extra, int ndev)
{
	const char	*args[8], *socks[4];
	char		 vm[1400], cfg[3072];
	unsigned	 n = 0;
	int		 i, len;

	vd->d = fe_daemon_new(name);
	ck_assert_msg(vd->d != NULL, "fe_daemon_new: %s", fe_error());
	for (i = 0; i < 3; i++) {
		snprintf(vm, sizeof(vm), "v%d.sock", i);
		snprintf(vd->sock[i], sizeof(vd->sock[i]), "%s",
		    fe_daemon_path(vd->d, vm));
	}
	snprintf(vd->uds, sizeof(vd->uds), "%s", fe_daemon_path(vd->d, "vm"));
	socks[0] = vd->sock[0];
	socks[1] = NULL;
	if (ndev <= 1) {
		snprintf(vm, sizeof(vm), "guest-cid=3,socket=%s,uds-path=%s%s",
		    vd->sock[0], vd->uds, extra != NULL ? extra : "");
		args[n++] = "--vm";
		args[n++] = vm;
	} else {
		len = snprintf(cfg, sizeof(cfg),
		    "device \"a\" {\n module vsock\n socket \"%s\"\n"
		    " guest-cid 3\n uds-path \"%s\"\n groups g1\n}\n"
		    "device \"b\" {\n module vsock\n socket \"%s\"\n"
		    " guest-cid 4\n groups g1+g2\n}\n", vd->sock[0], vd->uds,
		    vd->sock[1]);
		if (ndev >= 3)
			snprintf(cfg + len, sizeof(cfg) - (size_t)len,
			    "device \"c\" {\n module vsock\n socket \"%s\"\n"
			    " guest-cid 5\n groups g1\n}\n", vd->sock[2]);
		args[n++] = "--config";
		args[n++] = fe_daemon_write_file(vd->d, "v.conf", cfg,
		    strlen(cfg));
		for (i = 1; i < ndev && i < 3; i++)
			socks[i] = vd->sock[i];
		socks[i] = NULL;
	}
	args[n] = NULL;
	ck_assert_msg(fe_daemon_start(vd->d, args, socks, VF_MS) == 0,
	    "start: %s", fe_error());
}

/* Stop the daemon: exit 0, no sanitizer reports. */
void
vd_stop(struct vd *vd)
{
	int	 status;

	ck_assert_msg(fe_daemon_alive(vd->d), "vhostd died");
	status = fe_daemon_stop(vd->d, VF_MS);
	ck_assert_int_eq(fe_daemon_log_count(vd->d, "Sanitizer"), 0);
	ck_assert_msg(status == 0, "vhostd exit status %d", status);
	fe_daemon_free(vd->d);
}

/* Post rx buffer `slot`: a header descriptor and a data descriptor. */
void
vf_post_rx(struct vf *vf, int slot)
{
	struct fe_buf	 b[2];
	int		 head;

	b[0].gpa = vf->rx_gpa[slot];
	b[0].len = VSOCK_HDR_SIZE;
	b[0].write = 1;
	b[1].gpa = vf->rx_gpa[slot] + VSOCK_HDR_SIZE;
	b[1].len = VF_BUF;
	b[1].write = 1;
	head = fe_post(vf->fe, VSOCK_RXQ, b, 2, 0);
	ck_assert_msg(head >= 0, "post rx: %s", fe_error());
	vf->rx_slot[head] = slot;
}

/* Connect, negotiate everything, set up rx and tx, post rx buffers. */
void
vf_open(struct vf *vf, const char *sock, uint64_t cid)
{
	uint8_t		 cfg[8];
	uint32_t	 got;
	int		 i;

	memset(vf, 0, sizeof(*vf));
	vf->cid = cid;
	vf->nseg = 2;
	vf->buf_alloc = VF_BUF_ALLOC;
	vf->host_buf = VF_HOST_BUF;
	vf->fe = fe_new(sock, vf_layout, 1);
	ck_assert_msg(vf->fe != NULL, "fe_new: %s", fe_error());
	ck_assert_int_eq(fe_negotiate(vf->fe, FE_WANT_FEATURES,
	    FE_WANT_PROTOCOL), 0);
	ck_assert(vf->fe->acked & (1ULL << VSOCK_F_SEQPACKET));
	ck_assert_int_eq(fe_get_config(vf->fe, 0, 8, cfg, &got), 0);
	ck_assert_uint_eq(got, 8);
	ck_assert_uint_eq(cfg[0], cid);
	ck_assert_int_eq(fe_set_mem_table(vf->fe, NULL, 0), 0);
	for (i = 0; i < VF_NBUF; i++) {
		vf->rx_gpa[i] = fe_alloc(vf->fe, VSOCK_HDR_SIZE + VF_BUF, 64);
		vf->tx_gpa[i] = fe_alloc(vf->fe, VSOCK_HDR_SIZE + VF_BUF, 64);
		ck_assert(vf->rx_gpa[i] != 0 && vf->tx_gpa[i] != 0);
		vf->tx_free[vf->ntx_free++] = i;
	}
	ck_assert_int_eq(fe_queue_setup(vf->fe, VSOCK_RXQ, VF_QSIZE), 0);
	ck_assert_int_eq(fe_queue_setup(vf->fe, VSOCK_TXQ, VF_QSIZE), 0);
	for (i = 0; i < VF_NBUF; i++)
		vf_post_rx(vf, i);
	ck_assert_int_eq(fe_vring_enable(vf->fe, VSOCK_RXQ, 1), 0);
	ck_assert_int_eq(fe_vring_enable(vf->fe, VSOCK_TXQ, 1), 0);
}

/* Take back used tx slots; wait up to `ms` for one if none is free. */
void
vf_reclaim(struct vf *vf, int ms)
{
	uint32_t	 id, len;
	int		 r;

	for (;;) {
		r = vf->ntx_free == 0 ? fe_wait_used(vf->fe, VSOCK_TXQ, &id,
		    &len, ms) : fe_get_used(vf->fe, VSOCK_TXQ, &id, &len);
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		ck_assert_uint_eq(len, 0);
		vf->tx_free[vf->ntx_free++] = vf->tx_slot[id];
	}
	ck_assert_msg(vf->ntx_free > 0, "tx ring stuck");
}

/* A header from the guest (src = our CID) to cid:dport from sport. */
struct vsock_hdr
vf_hdr(struct vf *vf, uint64_t dcid, uint16_t op, uint32_t sport,
    uint32_t dport, uint16_t type)
{
	struct vsock_hdr	 h;

	memset(&h, 0, sizeof(h));
	h.src_cid = vf->cid;
	h.dst_cid = dcid;
	h.src_port = sport;
	h.dst_port = dport;
	h.type = type;
	h.op = op;
	h.buf_alloc = vf->buf_alloc;
	h.fwd_cnt = vf->fwd_cnt;
	return (h);
}

/* Send a packet in vf->nseg layout (1, 2 or many descriptors). */
void
vf_send(struct vf *vf, struct vsock_hdr h, const void *data, uint32_t len)
{
	struct fe_buf	 b[16];
	uint8_t		 raw[VSOCK_HDR_SIZE];
	uint64_t	 gpa;
	unsigned	 n = 0, off;
	int		 slot, head;

	ck_assert_uint_le(len, VF_BUF);
	vf_reclaim(vf, VF_MS);
	slot = vf->tx_free[--vf->ntx_free];
	gpa = vf->tx_gpa[slot];
	h.len = len;
	h.fwd_cnt = vf->fwd_cnt;
	vf->fwd_told = vf->fwd_cnt;
	vsock_pkt_encode(&h, raw);
	ck_assert_int_eq(fe_write(vf->fe, gpa, raw, sizeof(raw)), 0);
	if (len > 0)
		ck_assert_int_eq(fe_write(vf->fe, gpa + VSOCK_HDR_SIZE, data,
		    len), 0);
	if (vf->nseg == 1) {
		b[n++] = (struct fe_buf){ gpa, VSOCK_HDR_SIZE + len, 0 };
	} else if (vf->nseg == 2 || len == 0) {
		b[n++] = (struct fe_buf){ gpa, VSOCK_HDR_SIZE, 0 };
		if (len > 0)
			b[n++] = (struct fe_buf){ gpa + VSOCK_HDR_SIZE, len, 0 };
	} else {
		/* Header in 3 pieces, the first sharing with nothing. */
		b[n++] = (struct fe_buf){ gpa, 10, 0 };
		b[n++] = (struct fe_buf){ gpa + 10, 30, 0 };
		for (off = 40; off < VSOCK_HDR_SIZE + len && n < 16; ) {
			uint32_t piece = VSOCK_HDR_SIZE + len - off;

			if (n < 15 && piece > 1500)
				piece = 1500;
			b[n++] = (struct fe_buf){ gpa + off, piece, 0 };
			off += piece;
		}
	}
	head = fe_post(vf->fe, VSOCK_TXQ, b, n, 0);
	ck_assert_msg(head >= 0, "post tx: %s", fe_error());
	vf->tx_slot[head] = slot;
	if (h.op == VSOCK_OP_RW)
		vf->tx_cnt += len;
}

/* Receive the next packet within `ms`: 1, or 0 on timeout.  data gets
 * up to `max` payload bytes. */
int
vf_recv(struct vf *vf, struct vsock_hdr *h, void *data, size_t max, int ms)
{
	uint8_t		 raw[VSOCK_HDR_SIZE];
	uint32_t	 id, len;
	int		 r, slot;

	r = fe_wait_used(vf->fe, VSOCK_RXQ, &id, &len, ms);
	ck_assert_int_ge(r, 0);
	if (r == 0)
		return (0);
	slot = vf->rx_slot[id];
	ck_assert_uint_ge(len, VSOCK_HDR_SIZE);
	ck_assert_int_eq(fe_read(vf->fe, vf->rx_gpa[slot], raw, sizeof(raw)),
	    0);
	vsock_pkt_decode(raw, h);
	ck_assert_uint_eq(h->len + VSOCK_HDR_SIZE, len);
	ck_assert_uint_eq(h->dst_cid, vf->cid);
	if (data != NULL && h->len > 0)
		ck_assert_int_eq(fe_read(vf->fe, vf->rx_gpa[slot] +
		    VSOCK_HDR_SIZE, data, h->len < max ? h->len : max), 0);
	if (vf->hold)
		vf->held[vf->nheld++] = slot;
	else
		vf_post_rx(vf, slot);
	if (h->op != VSOCK_OP_RST) {
		vf->peer_buf_alloc = h->buf_alloc;
		vf->peer_fwd_cnt = h->fwd_cnt;
	}
	return (1);
}

/* Receive and expect op. */
struct vsock_hdr
vf_expect(struct vf *vf, uint16_t op)
{
	struct vsock_hdr	 h;

	ck_assert_msg(vf_recv(vf, &h, NULL, 0, VF_MS), "no packet (want op "
	    "%u)", op);
	ck_assert_msg(h.op == op, "op %u, want %u", h.op, op);
	return (h);
}

/* Close the frontend. */
void
vf_close(struct vf *vf)
{
	fe_free(vf->fe);
}

/* xorshift bytes. */
void
vf_gen(uint64_t *s, uint8_t *buf, size_t len)
{
	uint64_t	 x = *s;
	size_t		 i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)(x >> 24);
	}
	*s = x;
}

/* FNV-1a. */
uint64_t
vf_sum(uint64_t h, const uint8_t *p, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return (h);
}


/* A unix address for path (which must fit). */
void
vh_sun(struct sockaddr_un *sun, const char *path)
{
	size_t	 len = strlen(path);

	ck_assert_uint_lt(len, sizeof(sun->sun_path));
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len + 1);
}

/* Listen on path. */
int
vh_listen(const char *path, int type)
{
	struct sockaddr_un	 sun;
	int			 fd;

	vh_sun(&sun, path);
	fd = socket(AF_UNIX, type, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	return (fd);
}

/* Thread: accept, read to EOF (the guest's half-close), answer the sum,
 * close. */
void *
vh_recv_main(void *arg)
{
	struct vh	*vh = arg;
	uint8_t		 buf[65536];
	char		 line[128];
	ssize_t		 n;
	int		 fd;

	vh->sum = VF_FNV;
	if ((fd = accept(vh->lfd, NULL, NULL)) == -1)
		return (NULL);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		vh->sum = vf_sum(vh->sum, buf, (size_t)n);
		vh->got += (uint64_t)n;
	}
	snprintf(line, sizeof(line), "SUM %016llx\n",
	    (unsigned long long)vh->sum);
	vh->ok = n == 0 && write(fd, line, strlen(line)) ==
	    (ssize_t)strlen(line);
	close(fd);
	return (NULL);
}

/* Thread: CONNECT to the guest, send bytes, half-close, read the reply
 * to EOF. */
void *
vh_send_main(void *arg)
{
	struct vh		*vh = arg;
	uint8_t			 buf[65536];
	struct sockaddr_un	 sun;
	char			 line[64];
	uint64_t		 s = 1, left = vh->bytes;
	size_t			 n, off = 0;
	ssize_t			 r;
	int			 fd;

	if (strlen(vh->path) >= sizeof(sun.sun_path))
		return (NULL);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, vh->path, strlen(vh->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1)
		return (NULL);
	n = (size_t)snprintf(line, sizeof(line), "CONNECT %u\n", vh->port);
	if (write(fd, line, n) != (ssize_t)n)
		goto out;
	/* "OK <port>\n", then the stream. */
	while (off < sizeof(vh->reply) - 1) {
		if (read(fd, vh->reply + off, 1) != 1)
			goto out;
		if (vh->reply[off++] == '\n')
			break;
	}
	vh->reply[off] = '\0';
	vh->sum = VF_FNV;
	while (left > 0) {
		n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		vf_gen(&s, buf, n);
		vh->sum = vf_sum(vh->sum, buf, n);
		if (write(fd, buf, n) != (ssize_t)n)
			goto out;
		left -= n;
	}
	shutdown(fd, SHUT_WR);
	off = strlen(vh->reply);
	while ((r = read(fd, vh->reply + off, sizeof(vh->reply) - 1 -
	    off)) > 0)
		off += (size_t)r;
	vh->reply[off] = '\0';
	vh->ok = r == 0;
out:
	close(fd);
	return (NULL);
}

/* Guest connects (sport -> host port) and gets RESPONSE. */
void
vf_connect(struct vf *vf, uint32_t sport, uint32_t port, uint16_t type)
{
	struct vsock_hdr	 h;

	vf->tx_cnt = vf->fwd_cnt = vf->fwd_told = 0;
	vf_send(vf, vf_hdr(vf, VSOCK_HOST_CID, VSOCK_OP_REQUEST, sport, port,
	    type), NULL, 0);
	h = vf_expect(vf, VSOCK_OP_RESPONSE);
	ck_assert_uint_eq(h.src_port, port);
	ck_assert_uint_eq(h.dst_port, sport);
	ck_assert_uint_eq(h.buf_alloc, vf->host_buf);
}

/* Post again every rx buffer kept back while vf->hold was set. */
void
vf_release(struct vf *vf)
{
	vf->hold = 0;
	while (vf->nheld > 0)
		vf_post_rx(vf, vf->held[--vf->nheld]);
}

/* Expect no packet for `ms`. */
void
vf_quiet(struct vf *vf, int ms)
{
	struct vsock_hdr	 h;

	if (vf_recv(vf, &h, NULL, 0, ms))
		ck_abort_msg("unexpected packet: op %u flags %u ports %u->%u",
		    h.op, h.flags, h.src_port, h.dst_port);
}

/* Send a bare control packet (op, flags) on sport -> dport. */
void
vf_ctl(struct vf *vf, uint16_t op, uint32_t flags, uint32_t sport,
    uint32_t dport, uint16_t type)
{
	struct vsock_hdr	 h;

	h = vf_hdr(vf, VSOCK_HOST_CID, op, sport, dport, type);
	h.flags = flags;
	vf_send(vf, h, NULL, 0);
}

/* Send stream data on sport -> dport. */
void
vf_write(struct vf *vf, uint32_t sport, uint32_t dport, const void *data,
    uint32_t len)
{
	vf_send(vf, vf_hdr(vf, VSOCK_HOST_CID, VSOCK_OP_RW, sport, dport,
	    VSOCK_TYPE_STREAM), data, len);
}

/*
 * Send up to `total` bytes of the xorshift stream (state *s, checksum
 * *sum) on sport -> dport within the daemon's credit, taking its
 * CREDIT_UPDATEs.  With quiet_ms > 0, stop when the credit stays used up
 * that long; else each wait for credit may take VF_MS.  Returns the bytes
 * sent.
 */
uint64_t
vf_send_bytes(struct vf *vf, uint32_t sport, uint32_t dport, uint64_t total,
    uint64_t *s, uint64_t *sum, int quiet_ms)
{
	static uint8_t		 buf[VF_BUF];
	struct vsock_hdr	 h;
	uint64_t		 sent = 0;
	uint32_t		 n, credit;

	while (sent < total) {
		ck_assert_uint_le(vf->tx_cnt - vf->peer_fwd_cnt,
		    vf->peer_buf_alloc);
		credit = vf->peer_buf_alloc - (vf->tx_cnt - vf->peer_fwd_cnt);
		if (credit == 0) {
			if (!vf_recv(vf, &h, NULL, 0, quiet_ms > 0 ? quiet_ms :
			    VF_MS)) {
				ck_assert_msg(quiet_ms > 0, "no credit update "
				    "after %llu bytes",
				    (unsigned long long)sent);
				break;
			}
			ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
			continue;
		}
		n = credit < VF_BUF ? credit : VF_BUF;
		if (n > total - sent)
			n = (uint32_t)(total - sent);
		vf_gen(s, buf, n);
		*sum = vf_sum(*sum, buf, n);
		vf_write(vf, sport, dport, buf, n);
		sent += n;
		while (vf_recv(vf, &h, NULL, 0, 0))
			ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
	}
	return (sent);
}

/* Accept one connection on a listener within VF_MS. */
int
vh_accept(int lfd)
{
	struct pollfd	 pfd;
	int		 fd;

	pfd.fd = lfd;
	pfd.events = POLLIN;
	ck_assert_msg(poll(&pfd, 1, VF_MS) == 1, "nothing to accept");
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	return (fd);
}

/* Is a connection waiting on the listener within `ms`? */
int
vh_pending(int lfd, int ms)
{
	struct pollfd	 pfd;

	pfd.fd = lfd;
	pfd.events = POLLIN;
	return (poll(&pfd, 1, ms) == 1);
}

/* Connect to the hybrid socket and send "CONNECT <port>\n" (a daemon
 * that closes it at once is not an error here, nor a SIGPIPE). */
int
vh_cmd(const char *uds, uint32_t port)
{
	struct sockaddr_un	 sun;
	char			 line[64];
	int			 fd, n;

	vh_sun(&sun, uds);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	/* A daemon at its connection cap may have closed it already. */
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		ck_assert_msg(errno == EPIPE || errno == ECONNRESET,
		    "send: %s", strerror(errno));
	return (fd);
}

/*
 * Read from a host socket until `len` bytes or end of file, each wait
 * at most `ms`.  Returns the bytes read (fewer only at end of file);
 * fails the test on a timeout.
 */
size_t
vh_read(int fd, void *buf, size_t len, int ms)
{
	struct pollfd	 pfd;
	size_t		 got = 0;
	ssize_t		 n;

	while (got < len) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		ck_assert_msg(poll(&pfd, 1, ms) == 1, "host read: timeout "
		    "after %zu of %zu bytes", got, len);
		n = read(fd, (uint8_t *)buf + got, len - got);
		if (n == -1 && errno == ECONNRESET)
			break;
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (got);
}

/* Expect end of file (or a reset) on a host socket within `ms`, with
 * no data before it. */
void
vh_expect_eof(int fd, int ms)
{
	char	 c;

	ck_assert_uint_eq(vh_read(fd, &c, 1, ms), 0);
}


/* Thread: write vw->bytes to vw->fd, counting progress. */
void *
vw_main(void *arg)
{
	struct vw	*vw = arg;
	uint8_t		 buf[65536];
	uint64_t	 s = 7, left = vw->bytes;
	size_t		 n;

	vw->sum = VF_FNV;
	while (left > 0) {
		n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		vf_gen(&s, buf, n);
		vw->sum = vf_sum(vw->sum, buf, n);
		if (write(vw->fd, buf, n) != (ssize_t)n)
			return (NULL);
		left -= n;
		__atomic_store_n(&vw->written, vw->bytes - left,
		    __ATOMIC_RELEASE);
	}
	vw->ok = 1;
	return (NULL);
}

/* Start the daemon with small limits for the tests below. */
void
vd_start_small(struct vd *vd, const char *name)
{
	char	 extra[160];

	snprintf(extra, sizeof(extra), ",max-connections=4,"
	    "connect-timeout=%d,shutdown-timeout=%d", VF_TMO, VF_TMO);
	vd_start(vd, name, extra, 0);
}
