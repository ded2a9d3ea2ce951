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
	h.buf_alloc = VF_BUF_ALLOC;
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

	vf->tx_cnt = vf->fwd_cnt = 0;
	vf_send(vf, vf_hdr(vf, VSOCK_HOST_CID, VSOCK_OP_REQUEST, sport, port,
	    type), NULL, 0);
	h = vf_expect(vf, VSOCK_OP_RESPONSE);
	ck_assert_uint_eq(h.src_port, port);
	ck_assert_uint_eq(h.dst_port, sport);
	ck_assert_uint_eq(h.buf_alloc, 262144);
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
