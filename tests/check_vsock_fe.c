/*
 * The vsock module against a live vhostd, driven by the test frontend
 * (tests/fe): this file plays a small vsock guest driver on top of it
 * (rx buffers of a header descriptor plus a data descriptor, as Linux 6.1
 * posts them; tx packets in 1, 2 or many descriptors) and a host side
 * with unix sockets in a thread.  The daemon is started in the
 * vhost-device-vsock compatible "--vm" form.
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

#include "fe/fe.h"
#include "../modules/vsock/vsock.h"

#define VF_QSIZE	256
#define VF_BUF		16384		/* rx buffer payload bytes */
#define VF_NBUF		64		/* rx buffers, tx slots */
#define VF_BUF_ALLOC	(1u << 20)	/* the driver's buf_alloc */
#define VF_BIG		(64u << 20)	/* the big transfers */
#define VF_MS		10000
#define VF_FNV		0xcbf29ce484222325ULL
#define VF_HOST_BUF	262144	/* the daemon's default buf_alloc */
#define VF_TMO		200	/* connect/shutdown-timeout, ms */
#define VF_TMO_MIN	180	/* the least we accept for VF_TMO */
#define VF_QUIET	300	/* ms of silence that means "stuck" */

static const struct fe_region_spec vf_layout[] = {
	{ 0x0, 16u << 20, 0 },
};

/* A frontend playing one guest's vsock driver. */
struct vf {
	struct fe	*fe;
	uint64_t	 cid;
	uint64_t	 rx_gpa[VF_NBUF];
	uint64_t	 tx_gpa[VF_NBUF];
	int		 rx_slot[VF_QSIZE];	/* head -> slot */
	int		 tx_slot[VF_QSIZE];
	int		 tx_free[VF_NBUF];
	unsigned	 ntx_free;
	unsigned	 nseg;			/* tx layout: 1, 2, 3=many */
	/* One connection's credit, both ways. */
	uint32_t	 peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	uint32_t	 fwd_cnt, fwd_told;
	uint32_t	 buf_alloc;		/* what we advertise */
	uint32_t	 host_buf;		/* the daemon's, expected */
	/* Rx buffers kept back (not posted again) while `hold` is set. */
	int		 hold;
	int		 held[VF_NBUF];
	unsigned	 nheld;
};

/* A daemon with one or two vsock devices. */
struct vd {
	struct fe_daemon *d;
	char		 sock[2][512];
	char		 uds[512];
};

/* Start vhostd with the --vm form (one device), or (two != 0) a config
 * file with two devices in one group, the second without uds-path. */
static void
vd_start(struct vd *vd, const char *name, const char *extra, int two)
{
	const char	*args[8], *socks[3];
	char		 vm[1400], cfg[2048];
	unsigned	 n = 0;

	vd->d = fe_daemon_new(name);
	ck_assert_msg(vd->d != NULL, "fe_daemon_new: %s", fe_error());
	snprintf(vd->sock[0], sizeof(vd->sock[0]), "%s",
	    fe_daemon_path(vd->d, "v0.sock"));
	snprintf(vd->sock[1], sizeof(vd->sock[1]), "%s",
	    fe_daemon_path(vd->d, "v1.sock"));
	snprintf(vd->uds, sizeof(vd->uds), "%s", fe_daemon_path(vd->d, "vm"));
	socks[0] = vd->sock[0];
	socks[1] = NULL;
	if (!two) {
		snprintf(vm, sizeof(vm), "guest-cid=3,socket=%s,uds-path=%s%s",
		    vd->sock[0], vd->uds, extra != NULL ? extra : "");
		args[n++] = "--vm";
		args[n++] = vm;
	} else {
		snprintf(cfg, sizeof(cfg),
		    "device \"a\" {\n module vsock\n socket \"%s\"\n"
		    " guest-cid 3\n uds-path \"%s\"\n groups g1\n}\n"
		    "device \"b\" {\n module vsock\n socket \"%s\"\n"
		    " guest-cid 4\n groups g1+g2\n}\n", vd->sock[0], vd->uds,
		    vd->sock[1]);
		args[n++] = "--config";
		args[n++] = fe_daemon_write_file(vd->d, "v.conf", cfg,
		    strlen(cfg));
		socks[1] = vd->sock[1];
		socks[2] = NULL;
	}
	args[n] = NULL;
	ck_assert_msg(fe_daemon_start(vd->d, args, socks, VF_MS) == 0,
	    "start: %s", fe_error());
}

/* Stop the daemon: exit 0, no sanitizer reports. */
static void
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
static void
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
static void
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
static void
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
static struct vsock_hdr
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
static void
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
static int
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
static struct vsock_hdr
vf_expect(struct vf *vf, uint16_t op)
{
	struct vsock_hdr	 h;

	ck_assert_msg(vf_recv(vf, &h, NULL, 0, VF_MS), "no packet (want op "
	    "%u)", op);
	ck_assert_msg(h.op == op, "op %u, want %u", h.op, op);
	return (h);
}

/* Close the frontend. */
static void
vf_close(struct vf *vf)
{
	fe_free(vf->fe);
}

/* xorshift bytes. */
static void
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
static uint64_t
vf_sum(uint64_t h, const uint8_t *p, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return (h);
}

/* The host side of a transfer, run in a thread. */
struct vh {
	char		 path[600];
	int		 lfd;
	uint32_t	 port;		/* CONNECT port (host to guest) */
	uint64_t	 bytes;
	uint64_t	 got, sum;
	char		 reply[128];
	int		 ok;
};

/* A unix address for path (which must fit). */
static void
vh_sun(struct sockaddr_un *sun, const char *path)
{
	size_t	 len = strlen(path);

	ck_assert_uint_lt(len, sizeof(sun->sun_path));
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len + 1);
}

/* Listen on path. */
static int
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
static void *
vh_recv_main(void *arg)
{
	struct vh	*vh = arg;
	static uint8_t	 buf[65536];
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
static void *
vh_send_main(void *arg)
{
	struct vh		*vh = arg;
	static uint8_t		 buf[65536];
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
static void
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

/*
 * Guest to host, 64 MiB in packets within the host's credit, then the
 * guest's half-close; the host answers with its checksum and closes.
 */
START_TEST(fe_guest_to_host_64m)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vh		 vh;
	struct vsock_hdr	 h;
	pthread_t		 t;
	static uint8_t		 buf[VF_BUF];
	char			 path[700], want[64], got[128];
	uint64_t		 s = 1, sum = VF_FNV, sent = 0;
	uint32_t		 n, credit;
	int64_t			 t0;

	vd_start(&vd, "vsock-g2h", NULL, 0);
	snprintf(path, sizeof(path), "%s_5000", vd.uds);
	memset(&vh, 0, sizeof(vh));
	vh.lfd = vh_listen(path, SOCK_STREAM);
	ck_assert_int_eq(pthread_create(&t, NULL, vh_recv_main, &vh), 0);
	vf_open(&vf, vd.sock[0], 3);
	vf_connect(&vf, 1000, 5000, VSOCK_TYPE_STREAM);
	t0 = fe_now_ms();
	while (sent < VF_BIG) {
		credit = vf.peer_buf_alloc - (vf.tx_cnt - vf.peer_fwd_cnt);
		if (credit == 0) {
			ck_assert_msg(vf_recv(&vf, &h, NULL, 0, VF_MS),
			    "no credit update after %llu bytes",
			    (unsigned long long)sent);
			ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
			continue;
		}
		n = credit < VF_BUF ? credit : VF_BUF;
		if (n > VF_BIG - sent)
			n = (uint32_t)(VF_BIG - sent);
		vf_gen(&s, buf, n);
		sum = vf_sum(sum, buf, n);
		vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RW, 1000,
		    5000, VSOCK_TYPE_STREAM), buf, n);
		sent += n;
		while (vf_recv(&vf, &h, NULL, 0, 0))
			ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
	}
	h = vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_SHUTDOWN, 1000, 5000,
	    VSOCK_TYPE_STREAM);
	h.flags = VSOCK_SHUT_SEND;
	vf_send(&vf, h, NULL, 0);
	/* The host sees the half-close and answers on the other half. */
	for (;;) {
		ck_assert(vf_recv(&vf, &h, got, sizeof(got) - 1, VF_MS));
		if (h.op == VSOCK_OP_RW)
			break;
		ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
	}
	got[h.len] = '\0';
	fprintf(stderr, "fe_guest_to_host_64m: %llu MB/s\n",
	    (unsigned long long)(VF_BIG / 1000 /
	    (uint64_t)(fe_now_ms() - t0 + 1)));
	snprintf(want, sizeof(want), "SUM %016llx\n", (unsigned long long)sum);
	ck_assert_str_eq(got, want);
	h = vf_expect(&vf, VSOCK_OP_SHUTDOWN);
	ck_assert_uint_eq(h.flags, VSOCK_SHUT_BOTH);
	vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RST, 1000, 5000,
	    VSOCK_TYPE_STREAM), NULL, 0);
	pthread_join(t, NULL);
	ck_assert(vh.ok);
	ck_assert_uint_eq(vh.got, VF_BIG);
	close(vh.lfd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/*
 * Host to guest through "CONNECT 1234": REQUEST, RESPONSE, "OK <port>",
 * 64 MiB with the guest's credit updates, the host's half-close, and the
 * guest's checksum back on the other half.
 */
START_TEST(fe_host_to_guest_64m)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vh		 vh;
	struct vsock_hdr	 h, r;
	pthread_t		 t;
	static uint8_t		 buf[VF_BUF];
	char			 line[64], want[64];
	uint64_t		 sum = VF_FNV, got = 0;
	int64_t			 t0;

	vd_start(&vd, "vsock-h2g", NULL, 0);
	vf_open(&vf, vd.sock[0], 3);
	memset(&vh, 0, sizeof(vh));
	snprintf(vh.path, sizeof(vh.path), "%s", vd.uds);
	vh.port = 1234;
	vh.bytes = VF_BIG;
	ck_assert_int_eq(pthread_create(&t, NULL, vh_send_main, &vh), 0);
	h = vf_expect(&vf, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.src_cid, VSOCK_HOST_CID);
	ck_assert_uint_eq(h.dst_port, 1234);
	ck_assert_uint_ge(h.src_port, 1u << 30);
	r = vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RESPONSE, 1234, h.src_port,
	    VSOCK_TYPE_STREAM);
	vf_send(&vf, r, NULL, 0);
	t0 = fe_now_ms();
	for (;;) {
		ck_assert_msg(vf_recv(&vf, &h, buf, sizeof(buf), VF_MS),
		    "stalled after %llu bytes", (unsigned long long)got);
		if (h.op == VSOCK_OP_SHUTDOWN)
			break;
		if (h.op == VSOCK_OP_CREDIT_REQUEST) {
			/* Our credit ran out before we told more. */
			vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID,
			    VSOCK_OP_CREDIT_UPDATE, 1234, r.dst_port,
			    VSOCK_TYPE_STREAM), NULL, 0);
			continue;
		}
		ck_assert_uint_eq(h.op, VSOCK_OP_RW);
		sum = vf_sum(sum, buf, h.len);
		got += h.len;
		vf.fwd_cnt += h.len;
		ck_assert_uint_le(got - (vf.fwd_told), VF_BUF_ALLOC);
		if (vf.fwd_cnt - vf.fwd_told >= VF_BUF_ALLOC / 4)
			vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID,
			    VSOCK_OP_CREDIT_UPDATE, 1234, r.dst_port,
			    VSOCK_TYPE_STREAM), NULL, 0);
	}
	fprintf(stderr, "fe_host_to_guest_64m: %llu MB/s\n",
	    (unsigned long long)(VF_BIG / 1000 /
	    (uint64_t)(fe_now_ms() - t0 + 1)));
	ck_assert_uint_eq(h.flags, VSOCK_SHUT_SEND);
	ck_assert_uint_eq(got, VF_BIG);
	snprintf(line, sizeof(line), "SUM %016llx\n", (unsigned long long)sum);
	vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RW, 1234,
	    r.dst_port, VSOCK_TYPE_STREAM), line, (uint32_t)strlen(line));
	h = vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_SHUTDOWN, 1234, r.dst_port,
	    VSOCK_TYPE_STREAM);
	h.flags = VSOCK_SHUT_BOTH;
	vf_send(&vf, h, NULL, 0);
	vf_expect(&vf, VSOCK_OP_RST);
	pthread_join(t, NULL);
	ck_assert(vh.ok);
	snprintf(want, sizeof(want), "OK %u\nSUM %016llx\n", r.dst_port,
	    (unsigned long long)vh.sum);
	ck_assert_str_eq(vh.reply, want);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/*
 * Refused connect (RST at once), unknown op and type (RST), RST to an
 * unknown connection (nothing), spoofed source CID (dropped), and the
 * descriptor layouts 1, 2 and many for data.
 */
START_TEST(fe_rules_and_layouts)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vsock_hdr	 h;
	char			 path[700], buf[4000], in[4000];
	int			 lfd, fd;
	unsigned		 layout;
	int64_t			 t0;

	vd_start(&vd, "vsock-rules", NULL, 0);
	vf_open(&vf, vd.sock[0], 3);
	t0 = fe_now_ms();
	vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_REQUEST, 7, 4444,
	    VSOCK_TYPE_STREAM), NULL, 0);
	h = vf_expect(&vf, VSOCK_OP_RST);
	ck_assert_uint_eq(h.dst_port, 7);
	ck_assert_int_lt(fe_now_ms() - t0, 1000);
	vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, 99, 7, 4444,
	    VSOCK_TYPE_STREAM), NULL, 0);
	vf_expect(&vf, VSOCK_OP_RST);
	vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_REQUEST, 7, 4444,
	    77), NULL, 0);
	vf_expect(&vf, VSOCK_OP_RST);
	vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RST, 7, 4444,
	    VSOCK_TYPE_STREAM), NULL, 0);
	h = vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_REQUEST, 7, 4444,
	    VSOCK_TYPE_STREAM);
	h.src_cid = 9;
	vf_send(&vf, h, NULL, 0);
	ck_assert(!vf_recv(&vf, &h, NULL, 0, 300));
	ck_assert_int_eq(fe_daemon_wait_log(vd.d, "spoofed", 1, VF_MS), 0);

	snprintf(path, sizeof(path), "%s_80", vd.uds);
	lfd = vh_listen(path, SOCK_STREAM);
	vf_connect(&vf, 8, 80, VSOCK_TYPE_STREAM);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	for (layout = 1; layout <= 3; layout++) {
		vf.nseg = layout;
		memset(buf, 'a' + (int)layout, sizeof(buf));
		vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RW, 8, 80,
		    VSOCK_TYPE_STREAM), buf, sizeof(buf));
		ck_assert_int_eq(recv(fd, in, sizeof(in), MSG_WAITALL),
		    (ssize_t)sizeof(in));
		ck_assert(memcmp(in, buf, sizeof(buf)) == 0);
	}
	close(fd);
	h = vf_expect(&vf, VSOCK_OP_SHUTDOWN);
	ck_assert(h.flags & VSOCK_SHUT_SEND);
	close(lfd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/* Seqpacket through a live daemon: message boundaries both ways. */
START_TEST(fe_seqpacket)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vsock_hdr	 h;
	char			 path[700], in[100];
	int			 lfd, fd;

	vd_start(&vd, "vsock-seq", NULL, 0);
	vf_open(&vf, vd.sock[0], 3);
	snprintf(path, sizeof(path), "%s_90", vd.uds);
	lfd = vh_listen(path, SOCK_SEQPACKET);
	vf_connect(&vf, 9, 90, VSOCK_TYPE_SEQPACKET);
	fd = accept(lfd, NULL, NULL);
	h = vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RW, 9, 90,
	    VSOCK_TYPE_SEQPACKET);
	vf_send(&vf, h, "12345", 5);
	h.flags = VSOCK_SEQ_EOM | VSOCK_SEQ_EOR;
	vf_send(&vf, h, "678", 3);
	vf_send(&vf, h, "z", 1);
	ck_assert_int_eq(recv(fd, in, sizeof(in), 0), 8);
	ck_assert_int_eq(recv(fd, in, sizeof(in), 0), 1);
	ck_assert_int_eq(send(fd, "abc", 3, 0), 3);
	ck_assert_int_eq(send(fd, "defgh", 5, 0), 5);
	h = vf_expect(&vf, VSOCK_OP_RW);
	ck_assert_uint_eq(h.len, 3);
	ck_assert(h.flags & VSOCK_SEQ_EOM);
	h = vf_expect(&vf, VSOCK_OP_RW);
	ck_assert_uint_eq(h.len, 5);
	ck_assert(h.flags & VSOCK_SEQ_EOM);
	close(fd);
	close(lfd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/* Two VMs in one daemon and one group talk to each other; a spoofed
 * source CID does not get through. */
START_TEST(fe_vm_to_vm)
{
	struct vd		 vd;
	struct vf		 a, b;
	struct vsock_hdr	 h;
	char			 buf[VF_BUF];
	size_t			 got = 0;

	vd_start(&vd, "vsock-v2v", NULL, 1);
	vf_open(&a, vd.sock[0], 3);
	vf_open(&b, vd.sock[1], 4);
	vf_send(&a, vf_hdr(&a, 4, VSOCK_OP_REQUEST, 100, 200,
	    VSOCK_TYPE_STREAM), NULL, 0);
	h = vf_expect(&b, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.src_cid, 3);
	ck_assert_uint_eq(h.src_port, 100);
	vf_send(&b, vf_hdr(&b, 3, VSOCK_OP_RESPONSE, 200, 100,
	    VSOCK_TYPE_STREAM), NULL, 0);
	h = vf_expect(&a, VSOCK_OP_RESPONSE);
	ck_assert_uint_eq(h.src_cid, 4);
	memset(buf, 'v', sizeof(buf));
	vf_send(&a, vf_hdr(&a, 4, VSOCK_OP_RW, 100, 200, VSOCK_TYPE_STREAM),
	    buf, sizeof(buf));
	while (got < sizeof(buf)) {
		ck_assert(vf_recv(&b, &h, NULL, 0, VF_MS));
		ck_assert_uint_eq(h.op, VSOCK_OP_RW);
		got += h.len;
	}
	ck_assert_uint_eq(got, sizeof(buf));
	/* b pretends to be CID 5: dropped. */
	h = vf_hdr(&b, 3, VSOCK_OP_RW, 200, 100, VSOCK_TYPE_STREAM);
	h.src_cid = 5;
	vf_send(&b, h, "x", 1);
	ck_assert(!vf_recv(&a, &h, NULL, 0, 300));
	vf_close(&a);
	vf_close(&b);
	vd_stop(&vd);
}
END_TEST

/* Post again every rx buffer kept back while vf->hold was set. */
static void
vf_release(struct vf *vf)
{
	vf->hold = 0;
	while (vf->nheld > 0)
		vf_post_rx(vf, vf->held[--vf->nheld]);
}

/* Expect no packet for `ms`. */
static void
vf_quiet(struct vf *vf, int ms)
{
	struct vsock_hdr	 h;

	if (vf_recv(vf, &h, NULL, 0, ms))
		ck_abort_msg("unexpected packet: op %u flags %u ports %u->%u",
		    h.op, h.flags, h.src_port, h.dst_port);
}

/* Send a bare control packet (op, flags) on sport -> dport. */
static void
vf_ctl(struct vf *vf, uint16_t op, uint32_t flags, uint32_t sport,
    uint32_t dport, uint16_t type)
{
	struct vsock_hdr	 h;

	h = vf_hdr(vf, VSOCK_HOST_CID, op, sport, dport, type);
	h.flags = flags;
	vf_send(vf, h, NULL, 0);
}

/* Send stream data on sport -> dport. */
static void
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
static uint64_t
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
static int
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
static int
vh_pending(int lfd, int ms)
{
	struct pollfd	 pfd;

	pfd.fd = lfd;
	pfd.events = POLLIN;
	return (poll(&pfd, 1, ms) == 1);
}

/* Connect to the hybrid socket and send "CONNECT <port>\n" (a daemon
 * that closes it at once is not an error here, nor a SIGPIPE). */
static int
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
static size_t
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
static void
vh_expect_eof(int fd, int ms)
{
	char	 c;

	ck_assert_uint_eq(vh_read(fd, &c, 1, ms), 0);
}

/* A host writer thread: `bytes` of the xorshift stream, blocking. */
struct vw {
	int		 fd;
	uint64_t	 bytes;
	uint64_t	 written;	/* __atomic */
	uint64_t	 sum;
	int		 ok;
};

/* Thread: write vw->bytes to vw->fd, counting progress. */
static void *
vw_main(void *arg)
{
	struct vw	*vw = arg;
	static uint8_t	 buf[65536];
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
static void
vd_start_small(struct vd *vd, const char *name)
{
	char	 extra[160];

	snprintf(extra, sizeof(extra), ",max-connections=4,"
	    "connect-timeout=%d,shutdown-timeout=%d", VF_TMO, VF_TMO);
	vd_start(vd, name, extra, 0);
}

/*
 * max-connections=4: a fifth guest connect gets an RST and a fifth host
 * connection is closed unserved; host and guest initiated connections
 * count alike, and a freed slot is usable again.
 */
START_TEST(fe_connection_cap)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vsock_hdr	 h, r;
	char			 path[700], ok[64];
	int			 lfd, fd[4], hfd, i;

	vd_start_small(&vd, "vsock-cap");
	vf_open(&vf, vd.sock[0], 3);
	snprintf(path, sizeof(path), "%s_80", vd.uds);
	lfd = vh_listen(path, SOCK_STREAM);
	for (i = 0; i < 4; i++) {
		vf_connect(&vf, 10 + (uint32_t)i, 80, VSOCK_TYPE_STREAM);
		fd[i] = vh_accept(lfd);
	}
	/* Guest-initiated, one too many: RST at once, nothing connects. */
	vf_ctl(&vf, VSOCK_OP_REQUEST, 0, 14, 80, VSOCK_TYPE_STREAM);
	h = vf_expect(&vf, VSOCK_OP_RST);
	ck_assert_uint_eq(h.dst_port, 14);
	ck_assert_uint_eq(h.src_port, 80);
	ck_assert(!vh_pending(lfd, 100));
	/* Host-initiated, one too many: closed, the guest hears nothing. */
	hfd = vh_cmd(vd.uds, 1234);
	vh_expect_eof(hfd, VF_MS);
	close(hfd);
	vf_quiet(&vf, 200);
	ck_assert_int_eq(fe_daemon_wait_log(vd.d, "max-connections", 1,
	    VF_MS), 0);
	/* The guest resets one: its slot is free for a guest connect. */
	vf_ctl(&vf, VSOCK_OP_RST, 0, 10, 80, VSOCK_TYPE_STREAM);
	vh_expect_eof(fd[0], VF_MS);
	close(fd[0]);
	vf_connect(&vf, 15, 80, VSOCK_TYPE_STREAM);
	fd[0] = vh_accept(lfd);
	/* And another, for a host connect. */
	vf_ctl(&vf, VSOCK_OP_RST, 0, 11, 80, VSOCK_TYPE_STREAM);
	vh_expect_eof(fd[1], VF_MS);
	close(fd[1]);
	fd[1] = vh_cmd(vd.uds, 1234);
	h = vf_expect(&vf, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.dst_port, 1234);
	vf.tx_cnt = vf.fwd_cnt = vf.fwd_told = 0;
	r = vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RESPONSE, 1234, h.src_port,
	    VSOCK_TYPE_STREAM);
	vf_send(&vf, r, NULL, 0);
	i = snprintf(ok, sizeof(ok), "OK %u\n", h.src_port);
	ck_assert_uint_eq(vh_read(fd[1], ok + 32, (size_t)i, VF_MS),
	    (size_t)i);
	ck_assert(memcmp(ok, ok + 32, (size_t)i) == 0);
	/* Full again, the host connection counting: RST. */
	vf_ctl(&vf, VSOCK_OP_REQUEST, 0, 16, 80, VSOCK_TYPE_STREAM);
	h = vf_expect(&vf, VSOCK_OP_RST);
	ck_assert_uint_eq(h.dst_port, 16);
	ck_assert(!vh_pending(lfd, 100));
	for (i = 0; i < 4; i++)
		close(fd[i]);
	close(lfd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/*
 * A host CONNECT the guest never answers: after connect-timeout the
 * host socket is closed without "OK" and the guest gets an RST; a late
 * RESPONSE finds no connection and is answered with an RST.
 */
START_TEST(fe_connect_timeout_host)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vsock_hdr	 h;
	uint32_t		 hp;
	int64_t			 t0, el;
	int			 hfd;

	vd_start_small(&vd, "vsock-ctmo");
	vf_open(&vf, vd.sock[0], 3);
	t0 = fe_now_ms();
	hfd = vh_cmd(vd.uds, 1234);
	h = vf_expect(&vf, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.dst_port, 1234);
	hp = h.src_port;
	vh_expect_eof(hfd, VF_MS);
	el = fe_now_ms() - t0;
	ck_assert_msg(el >= VF_TMO_MIN && el < VF_MS, "closed after %lld ms",
	    (long long)el);
	close(hfd);
	h = vf_expect(&vf, VSOCK_OP_RST);
	ck_assert_uint_eq(h.src_port, hp);
	ck_assert_uint_eq(h.dst_port, 1234);
	ck_assert_int_ge(fe_now_ms() - t0, VF_TMO_MIN);
	ck_assert_int_eq(fe_daemon_wait_log(vd.d, "no answer in 200 ms", 1,
	    VF_MS), 0);
	vf_ctl(&vf, VSOCK_OP_RESPONSE, 0, 1234, hp, VSOCK_TYPE_STREAM);
	h = vf_expect(&vf, VSOCK_OP_RST);
	ck_assert_uint_eq(h.src_port, hp);
	vf_quiet(&vf, 200);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/*
 * A guest connect to a unix listener whose backlog is full is retried
 * until connect-timeout, then answered with an RST; once the backlog
 * drains, a connect succeeds.
 */
START_TEST(fe_connect_timeout_backlog)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vsock_hdr	 h;
	struct sockaddr_un	 sun;
	char			 path[700];
	int			 lfd, fill[16], nfill = 0, fd, i;
	int64_t			 t0, el;

	vd_start_small(&vd, "vsock-btmo");
	vf_open(&vf, vd.sock[0], 3);
	snprintf(path, sizeof(path), "%s_81", vd.uds);
	vh_sun(&sun, path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(lfd, 0), 0);
	/* Fill the backlog until a non-blocking connect would wait. */
	for (;;) {
		ck_assert_int_lt(nfill, 16);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		ck_assert_int_ge(fd, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
			ck_assert_int_eq(errno, EAGAIN);
			close(fd);
			break;
		}
		fill[nfill++] = fd;
	}
	t0 = fe_now_ms();
	vf_ctl(&vf, VSOCK_OP_REQUEST, 0, 20, 81, VSOCK_TYPE_STREAM);
	h = vf_expect(&vf, VSOCK_OP_RST);
	el = fe_now_ms() - t0;
	ck_assert_uint_eq(h.dst_port, 20);
	ck_assert_msg(el >= VF_TMO_MIN && el < VF_MS, "RST after %lld ms",
	    (long long)el);
	/* Drain the backlog: the next connect goes through. */
	for (i = 0; i < nfill; i++) {
		fd = vh_accept(lfd);
		close(fd);
		close(fill[i]);
	}
	vf_connect(&vf, 21, 81, VSOCK_TYPE_STREAM);
	fd = vh_accept(lfd);
	vf_write(&vf, 21, 81, "hi", 2);
	ck_assert_uint_eq(vh_read(fd, path, 2, VF_MS), 2);
	ck_assert(memcmp(path, "hi", 2) == 0);
	close(fd);
	close(lfd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/*
 * Shutdown timeout: once both directions are over (the guest's
 * SHUTDOWN(SEND) and the host's close, or the host's close and a guest
 * write that fails), we send SHUTDOWN(both); a guest that never answers
 * with RST gets our RST after shutdown-timeout and the connection is
 * gone.
 */
START_TEST(fe_shutdown_timeout)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vsock_hdr	 h;
	char			 path[700];
	int			 lfd, fd;
	int64_t			 t0, el;

	vd_start_small(&vd, "vsock-stmo");
	vf_open(&vf, vd.sock[0], 3);
	snprintf(path, sizeof(path), "%s_80", vd.uds);
	lfd = vh_listen(path, SOCK_STREAM);

	/* 1: guest SHUTDOWN(SEND), then the host closes. */
	vf_connect(&vf, 30, 80, VSOCK_TYPE_STREAM);
	fd = vh_accept(lfd);
	vf_ctl(&vf, VSOCK_OP_SHUTDOWN, VSOCK_SHUT_SEND, 30, 80,
	    VSOCK_TYPE_STREAM);
	vh_expect_eof(fd, VF_MS);
	t0 = fe_now_ms();
	close(fd);
	h = vf_expect(&vf, VSOCK_OP_SHUTDOWN);
	ck_assert_uint_eq(h.flags, VSOCK_SHUT_BOTH);
	ck_assert_uint_eq(h.dst_port, 30);
	h = vf_expect(&vf, VSOCK_OP_RST);
	el = fe_now_ms() - t0;
	ck_assert_uint_eq(h.dst_port, 30);
	ck_assert_uint_eq(h.src_port, 80);
	ck_assert_msg(el >= VF_TMO_MIN && el < VF_MS, "RST after %lld ms",
	    (long long)el);
	/* Reaped: data on it is answered with RST, an RST with nothing. */
	vf_write(&vf, 30, 80, "x", 1);
	h = vf_expect(&vf, VSOCK_OP_RST);
	ck_assert_uint_eq(h.dst_port, 30);
	vf_ctl(&vf, VSOCK_OP_RST, 0, 30, 80, VSOCK_TYPE_STREAM);
	vf_quiet(&vf, 200);

	/* 2: the host closes; the guest's next write finds it gone. */
	vf_connect(&vf, 31, 80, VSOCK_TYPE_STREAM);
	fd = vh_accept(lfd);
	close(fd);
	h = vf_expect(&vf, VSOCK_OP_SHUTDOWN);
	ck_assert_uint_eq(h.flags, VSOCK_SHUT_SEND);
	t0 = fe_now_ms();
	vf_write(&vf, 31, 80, "lost", 4);
	h = vf_expect(&vf, VSOCK_OP_SHUTDOWN);
	ck_assert_uint_eq(h.flags, VSOCK_SHUT_BOTH);
	h = vf_expect(&vf, VSOCK_OP_RST);
	el = fe_now_ms() - t0;
	ck_assert_uint_eq(h.dst_port, 31);
	ck_assert_msg(el >= VF_TMO_MIN && el < VF_MS, "RST after %lld ms",
	    (long long)el);
	vf_quiet(&vf, 200);
	close(lfd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/*
 * Host to guest within a small guest buf_alloc (4096): exactly the
 * credit arrives, then a CREDIT_REQUEST and silence; each CREDIT_UPDATE
 * lets the next 4096 bytes through, and every byte arrives in order.
 */
START_TEST(fe_credit_guest_window)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vsock_hdr	 h;
	static uint8_t		 out[48 * 1024], in[48 * 1024];
	char			 path[700];
	uint64_t		 s = 3;
	size_t			 got = 0, target;
	unsigned		 round, reqs = 0;
	int			 lfd, fd;

	vd_start_small(&vd, "vsock-gwin");
	vf_open(&vf, vd.sock[0], 3);
	snprintf(path, sizeof(path), "%s_80", vd.uds);
	lfd = vh_listen(path, SOCK_STREAM);
	vf.buf_alloc = 4096;
	vf_connect(&vf, 40, 80, VSOCK_TYPE_STREAM);
	fd = vh_accept(lfd);
	vf_gen(&s, out, sizeof(out));
	ck_assert_int_eq(write(fd, out, sizeof(out)), (ssize_t)sizeof(out));
	for (round = 0; got < sizeof(out); round++) {
		target = vf.fwd_told + 4096u;
		while (got < target) {
			ck_assert_msg(vf_recv(&vf, &h, in + got,
			    sizeof(in) - got, VF_MS), "stalled at %zu", got);
			if (h.op == VSOCK_OP_CREDIT_REQUEST) {
				reqs++;
				continue;
			}
			ck_assert_uint_eq(h.op, VSOCK_OP_RW);
			got += h.len;
			ck_assert_uint_le(got, target);
		}
		ck_assert(memcmp(in, out, got) == 0);
		if (round < 2) {
			/* Out of credit: a CREDIT_REQUEST at most, no data. */
			while (vf_recv(&vf, &h, NULL, 0, VF_QUIET)) {
				ck_assert_uint_eq(h.op,
				    VSOCK_OP_CREDIT_REQUEST);
				reqs++;
			}
			ck_assert_uint_ge(reqs, round + 1);
		}
		vf.fwd_cnt = (uint32_t)got;
		vf_ctl(&vf, VSOCK_OP_CREDIT_UPDATE, 0, 40, 80,
		    VSOCK_TYPE_STREAM);
	}
	ck_assert_uint_eq(got, sizeof(out));
	/* Our CREDIT_REQUEST is answered with the daemon's credit. */
	vf_ctl(&vf, VSOCK_OP_CREDIT_REQUEST, 0, 40, 80, VSOCK_TYPE_STREAM);
	for (;;) {
		ck_assert(vf_recv(&vf, &h, NULL, 0, VF_MS));
		if (h.op != VSOCK_OP_CREDIT_REQUEST)
			break;
	}
	ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
	ck_assert_uint_eq(h.buf_alloc, VF_HOST_BUF);
	ck_assert_uint_eq(h.fwd_cnt, 0);
	close(fd);
	close(lfd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/*
 * The guest stops posting rx buffers: the daemon fills what it has and
 * stops reading the host socket, so the host writer blocks; guest data
 * still flows to the host meanwhile (no rx/tx deadlock).  When the
 * buffers come back the stream resumes, nothing lost.
 */
START_TEST(fe_credit_rx_starved)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vw		 vw;
	struct vsock_hdr	 h;
	static uint8_t		 buf[VF_BUF];
	pthread_t		 t;
	char			 path[700], msg[32];
	uint64_t		 got = 0, sum = VF_FNV, w0, w1;
	int			 lfd, fd, stable = 0;
	int64_t			 deadline;

	vd_start_small(&vd, "vsock-starve");
	vf_open(&vf, vd.sock[0], 3);
	snprintf(path, sizeof(path), "%s_80", vd.uds);
	lfd = vh_listen(path, SOCK_STREAM);
	vf.buf_alloc = 64u << 20;
	vf_connect(&vf, 50, 80, VSOCK_TYPE_STREAM);
	fd = vh_accept(lfd);
	memset(&vw, 0, sizeof(vw));
	vw.fd = fd;
	vw.bytes = 4u << 20;
	vf.hold = 1;
	ck_assert_int_eq(pthread_create(&t, NULL, vw_main, &vw), 0);
	/* Every rx buffer gets used, then nothing more can come. */
	while (vf.nheld < VF_NBUF) {
		ck_assert_msg(vf_recv(&vf, &h, buf, sizeof(buf), VF_MS),
		    "stalled with %u buffers used", vf.nheld);
		ck_assert_uint_eq(h.op, VSOCK_OP_RW);
		sum = vf_sum(sum, buf, h.len);
		got += h.len;
	}
	vf_quiet(&vf, 100);
	/* The host writer comes to a stop short of the end. */
	deadline = fe_now_ms() + VF_MS;
	w0 = __atomic_load_n(&vw.written, __ATOMIC_ACQUIRE);
	while (stable < 2) {
		ck_assert_msg(fe_now_ms() < deadline, "writer never blocked");
		usleep(100 * 1000);
		w1 = __atomic_load_n(&vw.written, __ATOMIC_ACQUIRE);
		stable = w1 == w0 ? stable + 1 : 0;
		w0 = w1;
	}
	ck_assert_uint_lt(w0, vw.bytes);
	/* tx is served while rx is starved. */
	vf_write(&vf, 50, 80, "tx while rx full", 16);
	ck_assert_uint_eq(vh_read(fd, msg, 16, VF_MS), 16);
	ck_assert(memcmp(msg, "tx while rx full", 16) == 0);
	/* Buffers back: the rest arrives. */
	vf_release(&vf);
	while (got < vw.bytes) {
		ck_assert_msg(vf_recv(&vf, &h, buf, sizeof(buf), VF_MS),
		    "stalled after %llu bytes", (unsigned long long)got);
		if (h.op == VSOCK_OP_CREDIT_UPDATE)
			continue;
		ck_assert_uint_eq(h.op, VSOCK_OP_RW);
		sum = vf_sum(sum, buf, h.len);
		got += h.len;
	}
	pthread_join(t, NULL);
	ck_assert(vw.ok);
	ck_assert_uint_eq(got, vw.bytes);
	ck_assert_uint_eq(sum, vw.sum);
	close(fd);
	close(lfd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/*
 * Guest to host with buf-size=4096 and a host that does not read: once
 * the host socket is full the daemon keeps at most 4096 bytes and the
 * guest's credit runs dry (no CREDIT_UPDATE); when the host reads, the
 * credit comes back and every byte arrives.
 */
START_TEST(fe_credit_host_window)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vh		 vh;
	struct vsock_hdr	 h;
	pthread_t		 t;
	char			 path[700], want[64], got[128];
	uint64_t		 s = 5, sum = VF_FNV, sent = 0;
	const uint64_t		 total = 8u << 20;
	int			 tries;

	vd_start(&vd, "vsock-hwin", ",buf-size=4096", 0);
	vf_open(&vf, vd.sock[0], 3);
	vf.host_buf = 4096;
	snprintf(path, sizeof(path), "%s_80", vd.uds);
	memset(&vh, 0, sizeof(vh));
	vh.lfd = vh_listen(path, SOCK_STREAM);
	vf_connect(&vf, 60, 80, VSOCK_TYPE_STREAM);
	/*
	 * Nobody reads: the guest is stopped by its credit.  Asking for
	 * credit then confirms the daemon holds a full buffer (a loaded
	 * machine may need another round to get there).
	 */
	for (tries = 0; ; tries++) {
		ck_assert_int_lt(tries, 10);
		sent += vf_send_bytes(&vf, 60, 80, total - sent, &s, &sum,
		    VF_QUIET);
		ck_assert_uint_lt(sent, total);
		vf_ctl(&vf, VSOCK_OP_CREDIT_REQUEST, 0, 60, 80,
		    VSOCK_TYPE_STREAM);
		h = vf_expect(&vf, VSOCK_OP_CREDIT_UPDATE);
		ck_assert_uint_eq(h.buf_alloc, 4096);
		if (vf.tx_cnt - vf.peer_fwd_cnt == 4096)
			break;
	}
	ck_assert_uint_gt(sent, 4096);
	/* The host reads: credit comes back, the rest goes through. */
	ck_assert_int_eq(pthread_create(&t, NULL, vh_recv_main, &vh), 0);
	sent += vf_send_bytes(&vf, 60, 80, total - sent, &s, &sum, 0);
	ck_assert_uint_eq(sent, total);
	vf_ctl(&vf, VSOCK_OP_SHUTDOWN, VSOCK_SHUT_SEND, 60, 80,
	    VSOCK_TYPE_STREAM);
	for (;;) {
		ck_assert(vf_recv(&vf, &h, got, sizeof(got) - 1, VF_MS));
		if (h.op == VSOCK_OP_RW)
			break;
		ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
	}
	got[h.len] = '\0';
	snprintf(want, sizeof(want), "SUM %016llx\n", (unsigned long long)sum);
	ck_assert_str_eq(got, want);
	pthread_join(t, NULL);
	ck_assert(vh.ok);
	ck_assert_uint_eq(vh.got, total);
	h = vf_expect(&vf, VSOCK_OP_SHUTDOWN);
	ck_assert_uint_eq(h.flags, VSOCK_SHUT_BOTH);
	vf_ctl(&vf, VSOCK_OP_RST, 0, 60, 80, VSOCK_TYPE_STREAM);
	vf_quiet(&vf, 200);
	close(vh.lfd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/*
 * Guest half-close: after the guest's SHUTDOWN(SEND) the host reads
 * end of file, yet host data still reaches the guest; the host's close
 * then ends the connection with SHUTDOWN(both), and the guest's RST is
 * not answered.
 */
START_TEST(fe_half_close_guest)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vsock_hdr	 h;
	char			 path[700], in[64];
	size_t			 got = 0;
	int			 lfd, fd;

	vd_start_small(&vd, "vsock-hcg");
	vf_open(&vf, vd.sock[0], 3);
	snprintf(path, sizeof(path), "%s_80", vd.uds);
	lfd = vh_listen(path, SOCK_STREAM);
	vf_connect(&vf, 70, 80, VSOCK_TYPE_STREAM);
	fd = vh_accept(lfd);
	vf_write(&vf, 70, 80, "last words", 10);
	vf_ctl(&vf, VSOCK_OP_SHUTDOWN, VSOCK_SHUT_SEND, 70, 80,
	    VSOCK_TYPE_STREAM);
	ck_assert_uint_eq(vh_read(fd, in, sizeof(in), VF_MS), 10);
	ck_assert(memcmp(in, "last words", 10) == 0);
	/* The other half still flows. */
	ck_assert_int_eq(write(fd, "after ", 6), 6);
	ck_assert_int_eq(write(fd, "eof", 3), 3);
	while (got < 9) {
		ck_assert(vf_recv(&vf, &h, in + got, sizeof(in) - got, VF_MS));
		ck_assert_uint_eq(h.op, VSOCK_OP_RW);
		got += h.len;
	}
	ck_assert_uint_eq(got, 9);
	ck_assert(memcmp(in, "after eof", 9) == 0);
	vf_quiet(&vf, 200);
	close(fd);
	h = vf_expect(&vf, VSOCK_OP_SHUTDOWN);
	ck_assert_uint_eq(h.flags, VSOCK_SHUT_BOTH);
	vf_ctl(&vf, VSOCK_OP_RST, 0, 70, 80, VSOCK_TYPE_STREAM);
	vf_quiet(&vf, VF_TMO + 200);
	close(lfd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/*
 * Host half-close: the host's shutdown(SHUT_WR) reaches the guest as
 * SHUTDOWN(SEND) only, yet guest data still reaches the host; the
 * guest's SHUTDOWN(both) then ends it with an RST and end of file.
 */
START_TEST(fe_half_close_host)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vsock_hdr	 h, r;
	char			 ok[32], in[64];
	size_t			 got = 0;
	int			 fd, n;

	vd_start_small(&vd, "vsock-hch");
	vf_open(&vf, vd.sock[0], 3);
	fd = vh_cmd(vd.uds, 1234);
	h = vf_expect(&vf, VSOCK_OP_REQUEST);
	vf.tx_cnt = vf.fwd_cnt = vf.fwd_told = 0;
	r = vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RESPONSE, 1234, h.src_port,
	    VSOCK_TYPE_STREAM);
	vf_send(&vf, r, NULL, 0);
	n = snprintf(ok, sizeof(ok), "OK %u\n", h.src_port);
	ck_assert_uint_eq(vh_read(fd, in, (size_t)n, VF_MS), (size_t)n);
	ck_assert(memcmp(in, ok, (size_t)n) == 0);
	ck_assert_int_eq(write(fd, "ping", 4), 4);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	for (;;) {
		ck_assert(vf_recv(&vf, &h, in + got, sizeof(in) - got, VF_MS));
		if (h.op != VSOCK_OP_RW)
			break;
		got += h.len;
	}
	ck_assert_uint_eq(got, 4);
	ck_assert(memcmp(in, "ping", 4) == 0);
	ck_assert_uint_eq(h.op, VSOCK_OP_SHUTDOWN);
	ck_assert_uint_eq(h.flags, VSOCK_SHUT_SEND);
	/* The other half still flows, for longer than any timeout. */
	vf_quiet(&vf, VF_TMO + 200);
	vf_write(&vf, 1234, r.dst_port, "pong", 4);
	ck_assert_uint_eq(vh_read(fd, in, 4, VF_MS), 4);
	ck_assert(memcmp(in, "pong", 4) == 0);
	vf_write(&vf, 1234, r.dst_port, "again", 5);
	ck_assert_uint_eq(vh_read(fd, in, 5, VF_MS), 5);
	ck_assert(memcmp(in, "again", 5) == 0);
	vf_ctl(&vf, VSOCK_OP_SHUTDOWN, VSOCK_SHUT_BOTH, 1234, r.dst_port,
	    VSOCK_TYPE_STREAM);
	h = vf_expect(&vf, VSOCK_OP_RST);
	ck_assert_uint_eq(h.src_port, r.dst_port);
	ck_assert_uint_eq(h.dst_port, 1234);
	vh_expect_eof(fd, VF_MS);
	close(fd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/*
 * Unknown ops and types on live connections: answered with an RST, and
 * the connection is gone on the host side too (the guest dropped it on
 * our RST).  An RST is never answered, whatever its type.
 */
START_TEST(fe_unknown_op_type_live)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vsock_hdr	 h;
	char			 path[700];
	int			 lfd, fd;

	vd_start_small(&vd, "vsock-unk");
	vf_open(&vf, vd.sock[0], 3);
	snprintf(path, sizeof(path), "%s_80", vd.uds);
	lfd = vh_listen(path, SOCK_STREAM);

	vf_connect(&vf, 90, 80, VSOCK_TYPE_STREAM);
	fd = vh_accept(lfd);
	vf_ctl(&vf, 99, 0, 90, 80, VSOCK_TYPE_STREAM);
	h = vf_expect(&vf, VSOCK_OP_RST);
	ck_assert_uint_eq(h.dst_port, 90);
	ck_assert_uint_eq(h.src_port, 80);
	vh_expect_eof(fd, VF_MS);
	close(fd);
	vf_quiet(&vf, 200);

	vf_connect(&vf, 91, 80, VSOCK_TYPE_STREAM);
	fd = vh_accept(lfd);
	vf_ctl(&vf, VSOCK_OP_INVALID, 0, 91, 80, VSOCK_TYPE_STREAM);
	h = vf_expect(&vf, VSOCK_OP_RST);
	ck_assert_uint_eq(h.dst_port, 91);
	vh_expect_eof(fd, VF_MS);
	close(fd);

	vf_connect(&vf, 92, 80, VSOCK_TYPE_STREAM);
	fd = vh_accept(lfd);
	vf_ctl(&vf, VSOCK_OP_CREDIT_REQUEST, 0, 92, 80, 77);
	h = vf_expect(&vf, VSOCK_OP_RST);
	ck_assert_uint_eq(h.dst_port, 92);
	ck_assert_uint_eq(h.type, VSOCK_TYPE_STREAM);
	vh_expect_eof(fd, VF_MS);
	close(fd);
	vf_quiet(&vf, 200);

	/* RSTs of unknown type or for unknown connections: no answer. */
	vf_ctl(&vf, VSOCK_OP_RST, 0, 93, 80, 77);
	vf_ctl(&vf, VSOCK_OP_RST, 0, 93, 80, VSOCK_TYPE_STREAM);
	vf_ctl(&vf, VSOCK_OP_RST, 0, 93, 80, VSOCK_TYPE_SEQPACKET);
	vf_quiet(&vf, 300);
	/* An RST of unknown type on a live connection ends it quietly. */
	vf_connect(&vf, 94, 80, VSOCK_TYPE_STREAM);
	fd = vh_accept(lfd);
	vf_ctl(&vf, VSOCK_OP_RST, 0, 94, 80, 77);
	vh_expect_eof(fd, VF_MS);
	close(fd);
	vf_quiet(&vf, 300);
	close(lfd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/* Build the suite. */
static Suite *
vsock_fe_suite(void)
{
	Suite	*s = suite_create("vsock_fe");
	TCase	*tc;

	tc = tcase_create("stream");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fe_guest_to_host_64m);
	tcase_add_test(tc, fe_host_to_guest_64m);
	tcase_add_test(tc, fe_rules_and_layouts);
	tcase_add_test(tc, fe_seqpacket);
	tcase_add_test(tc, fe_vm_to_vm);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, fe_connection_cap);
	tcase_add_test(tc, fe_connect_timeout_host);
	tcase_add_test(tc, fe_connect_timeout_backlog);
	tcase_add_test(tc, fe_shutdown_timeout);
	tcase_add_test(tc, fe_credit_guest_window);
	tcase_add_test(tc, fe_credit_rx_starved);
	tcase_add_test(tc, fe_credit_host_window);
	tcase_add_test(tc, fe_half_close_guest);
	tcase_add_test(tc, fe_half_close_host);
	tcase_add_test(tc, fe_unknown_op_type_live);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite with the frontend's temp dir handling. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1) {
		fprintf(stderr, "check_vsock_fe: %s\n", fe_error());
		return (1);
	}
	sr = srunner_create(vsock_fe_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
