/*
 * The vsock workload of vhostd-bench: a stream between the guest driver
 * played here and a host process on the back-end's hybrid unix socket
 * (Firecracker's scheme, as vhostd's vsock module serves it).
 *
 * write: the guest connects to the host (cid 2, --port), which listens on
 *        UDS_PORT; the guest sends --size byte RW packets within the
 *        host's credit, `depth` in flight; latency is a tx packet's post
 *        to its used entry.
 * read:  the host connects to UDS and asks "CONNECT --port"; the guest
 *        accepts and the host writes --size byte chunks; the guest
 *        re-posts its rx buffers and returns credit every half buffer.
 * The host side runs in a thread; bytes are counted at both ends.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"
#include "bench.h"

#define BV_RXQ		0
#define BV_TXQ		1
#define BV_HOST_CID	2
#define BV_HDR		44
#define BV_NBUF		64		/* rx buffers, tx slots */
#define BV_BUF_ALLOC	(4u << 20)	/* the guest's receive buffer */
#define BV_SPORT	40000
#define BV_OP_REQUEST	1
#define BV_OP_RESPONSE	2
#define BV_OP_RST	3
#define BV_OP_SHUTDOWN	4
#define BV_OP_RW	5
#define BV_OP_CREDIT_UPDATE 6
#define BV_OP_CREDIT_REQUEST 7
#define BV_STREAM	1
#define BV_FALLTHROUGH	__attribute__((fallthrough))

/* A packet header, decoded (virtio-vsock, little-endian on the wire). */
struct bv_hdr {
	uint64_t	src_cid, dst_cid;
	uint32_t	src_port, dst_port, len;
	uint16_t	type, op;
	uint32_t	flags, buf_alloc, fwd_cnt;
};

struct bv {
	const struct bench_opts	*o;
	struct fe		*fe;
	uint64_t		 cid;
	uint64_t		 rx_gpa[BV_NBUF], tx_gpa[BV_NBUF];
	int			 rx_slot[1024], tx_slot[1024];
	uint64_t		 tx_posted[1024];
	int			 tx_free[BV_NBUF];
	unsigned		 ntx_free;
	uint32_t		 sport, dport;	/* ours, the host's */
	int			 connected;
	int			 reset;
	uint32_t		 peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	uint32_t		 fwd_cnt, fwd_told;
	uint64_t		 rx_bytes, rx_pkts;
	struct bench_lat	 lat;
};

/* The host side's thread. */
struct bv_host {
	const struct bench_opts	*o;
	char			 path[600];
	int			 lfd;		/* write: listener */
	int			 fd;
	int			 stop;		/* read: stop writing (atomic) */
	uint64_t		 bytes;		/* atomic */
	int			 failed;
};

/* Encode a header into 44 bytes. */
static void
bv_encode(const struct bv_hdr *h, uint8_t *p)
{
	memcpy(p + 0, &h->src_cid, 8);
	memcpy(p + 8, &h->dst_cid, 8);
	memcpy(p + 16, &h->src_port, 4);
	memcpy(p + 20, &h->dst_port, 4);
	memcpy(p + 24, &h->len, 4);
	memcpy(p + 28, &h->type, 2);
	memcpy(p + 30, &h->op, 2);
	memcpy(p + 32, &h->flags, 4);
	memcpy(p + 36, &h->buf_alloc, 4);
	memcpy(p + 40, &h->fwd_cnt, 4);
}

/* Decode 44 bytes into a header. */
static void
bv_decode(const uint8_t *p, struct bv_hdr *h)
{
	memcpy(&h->src_cid, p + 0, 8);
	memcpy(&h->dst_cid, p + 8, 8);
	memcpy(&h->src_port, p + 16, 4);
	memcpy(&h->dst_port, p + 20, 4);
	memcpy(&h->len, p + 24, 4);
	memcpy(&h->type, p + 28, 2);
	memcpy(&h->op, p + 30, 2);
	memcpy(&h->flags, p + 32, 4);
	memcpy(&h->buf_alloc, p + 36, 4);
	memcpy(&h->fwd_cnt, p + 40, 4);
}

/* Post rx buffer `slot` (a header and a data descriptor); -1 on error. */
static int
bv_post_rx(struct bv *v, int slot)
{
	struct fe_buf	b[2];
	int		head;

	b[0].gpa = v->rx_gpa[slot];
	b[0].len = BV_HDR;
	b[0].write = 1;
	b[1].gpa = v->rx_gpa[slot] + BV_HDR;
	b[1].len = (uint32_t)v->o->size;
	b[1].write = 1;
	if ((head = fe_post(v->fe, BV_RXQ, b, 2, FE_POST_NOKICK)) < 0)
		return (-1);
	v->rx_slot[head] = slot;
	return (0);
}

/* Send one packet (data may be NULL: the slot's bytes as they are);
 * 0, 1 when no tx slot is free, -1 on error. */
static int
bv_send(struct bv *v, uint16_t op, uint32_t flags, uint32_t len)
{
	struct bv_hdr	 h;
	struct fe_buf	 b[2];
	uint8_t		*p;
	int		 slot, head;
	unsigned	 n = 1;

	if (v->ntx_free == 0)
		return (1);
	slot = v->tx_free[--v->ntx_free];
	memset(&h, 0, sizeof h);
	h.src_cid = v->cid;
	h.dst_cid = BV_HOST_CID;
	h.src_port = v->sport;
	h.dst_port = v->dport;
	h.len = len;
	h.type = BV_STREAM;
	h.op = op;
	h.flags = flags;
	h.buf_alloc = BV_BUF_ALLOC;
	h.fwd_cnt = v->fwd_cnt;
	v->fwd_told = v->fwd_cnt;
	if ((p = fe_host(v->fe, v->tx_gpa[slot], BV_HDR)) == NULL)
		return (-1);
	bv_encode(&h, p);
	b[0].gpa = v->tx_gpa[slot];
	b[0].len = BV_HDR;
	b[0].write = 0;
	if (len > 0) {
		b[1].gpa = v->tx_gpa[slot] + BV_HDR;
		b[1].len = len;
		b[1].write = 0;
		n = 2;
	}
	if ((head = fe_post(v->fe, BV_TXQ, b, n, 0)) < 0)
		return (-1);
	v->tx_slot[head] = slot;
	v->tx_posted[head] = op == BV_OP_RW ? bench_now_ns() : 0;
	if (op == BV_OP_RW)
		v->tx_cnt += len;
	return (0);
}

/* Take used tx and rx entries: credit, connection state, data counted.
 * Returns how many entries were seen, or -1. */
static int
bv_reap(struct bv *v)
{
	struct bv_hdr	 h;
	uint8_t		*p;
	uint32_t	 id, len;
	int		 r, n = 0, slot, posted = 0;

	while ((r = fe_get_used(v->fe, BV_TXQ, &id, &len)) == 1) {
		if (v->tx_posted[id] != 0)
			bench_lat_add(&v->lat, bench_now_ns() -
			    v->tx_posted[id]);
		v->tx_free[v->ntx_free++] = v->tx_slot[id];
		n++;
	}
	if (r == -1)
		return (-1);
	while ((r = fe_get_used(v->fe, BV_RXQ, &id, &len)) == 1) {
		slot = v->rx_slot[id];
		if (len < BV_HDR || (p = fe_host(v->fe, v->rx_gpa[slot],
		    BV_HDR)) == NULL)
			return (-1);
		bv_decode(p, &h);
		n++;
		switch (h.op) {
		case BV_OP_REQUEST:
			/* The host connects (read): accept. */
			v->sport = h.dst_port;
			v->dport = h.src_port;
			v->peer_buf_alloc = h.buf_alloc;
			v->peer_fwd_cnt = h.fwd_cnt;
			if (bv_send(v, BV_OP_RESPONSE, 0, 0) != 0)
				return (-1);
			v->connected = 1;
			break;
		case BV_OP_RESPONSE:
			v->connected = 1;
			BV_FALLTHROUGH;
		case BV_OP_CREDIT_UPDATE:
			v->peer_buf_alloc = h.buf_alloc;
			v->peer_fwd_cnt = h.fwd_cnt;
			break;
		case BV_OP_RW:
			v->peer_buf_alloc = h.buf_alloc;
			v->peer_fwd_cnt = h.fwd_cnt;
			v->rx_bytes += h.len;
			v->rx_pkts++;
			v->fwd_cnt += h.len;
			break;
		case BV_OP_CREDIT_REQUEST:
			v->fwd_told = v->fwd_cnt - BV_BUF_ALLOC;
			break;
		case BV_OP_SHUTDOWN:
		case BV_OP_RST:
			v->reset = 1;
			break;
		default:
			break;
		}
		if (bv_post_rx(v, slot) != 0)
			return (-1);
		posted = 1;
	}
	if (r == -1)
		return (-1);
	if (posted && fe_kick(v->fe, BV_RXQ) == -1)
		return (-1);
	/* Return credit every half buffer, as Linux does. */
	if (v->connected && v->fwd_cnt - v->fwd_told >= BV_BUF_ALLOC / 2 &&
	    bv_send(v, BV_OP_CREDIT_UPDATE, 0, 0) == -1)
		return (-1);
	return (n);
}

/* Sleep on both call eventfds until something is used; 0 or -1. */
static int
bv_wait(struct bv *v)
{
	struct pollfd	 pfd[2];
	struct fe_queue	*fq;
	uint64_t	 x;
	unsigned	 qi;
	int		 r;

	for (qi = 0; qi < 2; qi++) {
		fq = fe_queue(v->fe, qi);
		if (v->fe->event_idx)
			__atomic_store_n(&fq->avail->ring[fq->num],
			    fq->last_used, __ATOMIC_RELEASE);
		pfd[qi].fd = fq->call_fd;
		pfd[qi].events = POLLIN;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (qi = 0; qi < 2; qi++) {
		fq = fe_queue(v->fe, qi);
		if (__atomic_load_n(&fq->used->idx, __ATOMIC_ACQUIRE) !=
		    fq->last_used)
			return (0);
	}
	if ((r = poll(pfd, 2, v->o->timeout_ms)) <= 0) {
		bench_warnx("vsock: nothing from the device for %d ms",
		    v->o->timeout_ms);
		return (-1);
	}
	for (qi = 0; qi < 2; qi++) {
		if (pfd[qi].revents & POLLIN &&
		    read(pfd[qi].fd, &x, sizeof x) == (ssize_t)sizeof x)
			fe_queue(v->fe, qi)->calls++;
	}
	return (0);
}

/* A unix socket address for `path`; -1 when it does not fit. */
static int
bv_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun->sun_path)
		return (-1);
	strcpy(sun->sun_path, path);
	return (0);
}

/* The host thread: write (guest to host) reads until end of file; read
 * (host to guest) writes until told to stop, after the "OK" line. */
static void *
bv_host_main(void *arg)
{
	struct bv_host	*h = arg;
	uint8_t		*buf;
	char		 line[64];
	size_t		 n = 0;
	ssize_t		 got;

	if ((buf = malloc(h->o->size)) == NULL)
		abort();
	memset(buf, 0x5a, h->o->size);
	if (!h->o->write) {
		/* Skip the "OK <port>\n" line. */
		while (n < sizeof line - 1) {
			if (read(h->fd, line + n, 1) != 1) {
				h->failed = 1;
				goto out;
			}
			if (line[n++] == '\n')
				break;
		}
		while (!__atomic_load_n(&h->stop, __ATOMIC_RELAXED)) {
			got = write(h->fd, buf, h->o->size);
			if (got <= 0)
				break;
			__atomic_add_fetch(&h->bytes, (uint64_t)got,
			    __ATOMIC_RELAXED);
		}
		goto out;
	}
	/* Write: this thread owns the accepted connection. */
	if ((h->fd = accept(h->lfd, NULL, NULL)) == -1) {
		h->failed = 1;
		goto out;
	}
	while ((got = read(h->fd, buf, h->o->size)) > 0)
		__atomic_add_fetch(&h->bytes, (uint64_t)got, __ATOMIC_RELAXED);
out:
	free(buf);
	return (NULL);
}

/* Connect to the device, set up rx and tx, post the rx buffers. */
static int
bv_open(struct bv *v)
{
	struct fe_region_spec	 spec;
	uint8_t			 cfg[8];
	uint32_t		 got;
	uint64_t		 stride;
	int			 i;

	stride = (BV_HDR + v->o->size + 63) & ~(uint64_t)63;
	spec.gpa = 0;
	spec.size = ((2 * BV_NBUF * stride + (1 << 20)) + (2 << 20) - 1) &
	    ~(uint64_t)((2 << 20) - 1);
	spec.offset = 0;
	if ((v->fe = fe_new(v->o->socket, &spec, 1)) == NULL)
		return (-1);
	v->fe->timeout_ms = v->o->timeout_ms;
	if (fe_negotiate(v->fe, FE_WANT_FEATURES, FE_WANT_PROTOCOL) != 0 ||
	    fe_get_config(v->fe, 0, 8, cfg, &got) != 0 || got != 8 ||
	    fe_set_mem_table(v->fe, NULL, 0) != 0)
		return (-1);
	memcpy(&v->cid, cfg, 8);
	for (i = 0; i < BV_NBUF; i++) {
		v->rx_gpa[i] = fe_alloc(v->fe, stride, 64);
		v->tx_gpa[i] = fe_alloc(v->fe, stride, 64);
		if (v->rx_gpa[i] == 0 || v->tx_gpa[i] == 0)
			return (-1);
		fe_fill(v->fe, v->tx_gpa[i] + BV_HDR, 0x5a, v->o->size);
		v->tx_free[v->ntx_free++] = i;
	}
	if (fe_queue_setup(v->fe, BV_RXQ, v->o->queue_size) != 0 ||
	    fe_queue_setup(v->fe, BV_TXQ, v->o->queue_size) != 0)
		return (-1);
	for (i = 0; i < BV_NBUF; i++) {
		if (bv_post_rx(v, i) != 0)
			return (-1);
	}
	if (fe_vring_enable(v->fe, BV_RXQ, 1) != 0 ||
	    fe_vring_enable(v->fe, BV_TXQ, 1) != 0 ||
	    fe_kick(v->fe, BV_RXQ) != 0)
		return (-1);
	return (0);
}

/* Guest to host: RW packets within the host's credit until the count
 * or the duration; then SHUTDOWN and wait for the host to see it all. */
static int
bv_run_write(struct bv *v, struct bv_host *host, struct bench_result *res)
{
	const struct bench_opts	*o = v->o;
	uint64_t		 start, sent = 0;
	uint32_t		 credit, inflight;
	int			 r, stop = 0, progress;

	if (bv_send(v, BV_OP_REQUEST, 0, 0) != 0)
		return (-1);
	while (!v->connected) {
		if (v->reset) {
			bench_warnx("vsock: the connection was refused");
			return (-1);
		}
		if ((r = bv_reap(v)) == -1)
			return (-1);
		if (r == 0 && bv_wait(v) == -1)
			return (-1);
	}
	start = bench_now_ns();
	for (;;) {
		progress = 0;
		if ((r = bv_reap(v)) == -1)
			return (-1);
		progress += r;
		if (v->reset) {
			bench_warnx("vsock: the host reset the connection");
			return (-1);
		}
		if (!stop && bench_done(o, sent, start))
			stop = 1;
		inflight = BV_NBUF - v->ntx_free;
		credit = v->peer_buf_alloc - (v->tx_cnt - v->peer_fwd_cnt);
		while (!stop && inflight < o->depth && v->ntx_free > 0 &&
		    credit >= o->size && (o->count == 0 || sent < o->count)) {
			if (bv_send(v, BV_OP_RW, 0, (uint32_t)o->size) != 0)
				return (-1);
			sent++;
			inflight++;
			credit -= (uint32_t)o->size;
			progress++;
		}
		if (stop && v->ntx_free == BV_NBUF)
			break;
		if (o->count != 0 && sent >= o->count &&
		    v->ntx_free == BV_NBUF)
			break;
		if (!progress && bv_wait(v) == -1)
			return (-1);
	}
	res->elapsed_ns = bench_now_ns() - start;
	res->ops = sent;
	res->bytes = sent * o->size;
	/* The host must get every byte before the end of the stream. */
	(void)bv_send(v, BV_OP_SHUTDOWN, 3, 0);
	(void)host;
	return (0);
}

/* Host to guest: count RW packets as they come, returning credit. */
static int
bv_run_read(struct bv *v, struct bench_result *res)
{
	const struct bench_opts	*o = v->o;
	uint64_t		 start = 0, last;
	int			 r;

	while (!v->connected) {
		if ((r = bv_reap(v)) == -1)
			return (-1);
		if (r == 0 && bv_wait(v) == -1)
			return (-1);
	}
	start = bench_now_ns();
	last = start;
	for (;;) {
		if ((r = bv_reap(v)) == -1)
			return (-1);
		if (v->reset)
			break;
		if (r > 0) {
			/* Inter-arrival time of packets, as their latency. */
			bench_lat_add(&v->lat, bench_now_ns() - last);
			last = bench_now_ns();
		}
		if (bench_done(o, v->rx_pkts, start))
			break;
		if (r == 0 && bv_wait(v) == -1)
			return (-1);
	}
	res->elapsed_ns = bench_now_ns() - start;
	res->ops = v->rx_pkts;
	res->bytes = v->rx_bytes;
	return (0);
}

/* Run the vsock workload of `o` against the device on o->socket and
 * the host side on o->uds; fill `res`; 0 or -1. */
int
bench_vsock_run(const struct bench_opts *o, struct bench_result *res)
{
	struct bv		*v;
	struct bv_host		 host;
	struct sockaddr_un	 sun;
	pthread_t		 th;
	int64_t			 cpu0 = -1, cpu1;
	char			 line[64];
	int			 ret = -1, started = 0, n;

	snprintf(res->name, sizeof res->name, "device");
	res->cpu_ns = -1;
	if ((v = calloc(1, sizeof *v)) == NULL)
		abort();
	v->o = o;
	memset(&host, 0, sizeof host);
	host.o = o;
	host.lfd = host.fd = -1;
	if (o->uds == NULL) {
		bench_warnx("vsock: --uds is needed");
		goto out;
	}
	if (bv_open(v) != 0) {
		bench_warnx("%s: %s", o->socket, fe_error());
		goto out;
	}
	if (o->write) {
		/* The guest connects to the host: listen on UDS_PORT. */
		snprintf(host.path, sizeof host.path, "%s_%u", o->uds,
		    o->port);
		unlink(host.path);
		if (bv_sun(&sun, host.path) != 0 ||
		    (host.lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
		    bind(host.lfd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
		    listen(host.lfd, 1) != 0) {
			bench_warnx("%s: %s", host.path, strerror(errno));
			goto out;
		}
		v->sport = BV_SPORT;
		v->dport = o->port;
	} else {
		/* The host connects to the guest: "CONNECT port". */
		if (bv_sun(&sun, o->uds) != 0 ||
		    (host.fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
		    connect(host.fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
			bench_warnx("%s: %s", o->uds, strerror(errno));
			goto out;
		}
		n = snprintf(line, sizeof line, "CONNECT %u\n", o->port);
		if (write(host.fd, line, (size_t)n) != n)
			goto out;
	}
	if (pthread_create(&th, NULL, bv_host_main, &host) != 0)
		abort();
	started = 1;
	if (o->pid > 0)
		cpu0 = bench_raw_cpu_ns(o->pid);
	ret = o->write ? bv_run_write(v, &host, res) : bv_run_read(v, res);
	if (o->pid > 0 && cpu0 >= 0 && (cpu1 = bench_raw_cpu_ns(o->pid)) >= 0)
		res->cpu_ns = cpu1 - cpu0;
	if (o->write && ret == 0) {
		/* Wait (bounded) until the host has read every byte. */
		int64_t	 until = fe_now_ms() + o->timeout_ms;

		while (__atomic_load_n(&host.bytes, __ATOMIC_RELAXED) <
		    res->bytes && fe_now_ms() < until) {
			if (bv_reap(v) == -1)
				break;
			usleep(1000);
		}
		if (__atomic_load_n(&host.bytes, __ATOMIC_RELAXED) <
		    res->bytes) {
			bench_warnx("vsock: the host got %llu of %llu bytes",
			    (unsigned long long)__atomic_load_n(&host.bytes,
			    __ATOMIC_RELAXED),
			    (unsigned long long)res->bytes);
			res->errors++;
		}
	}
	__atomic_store_n(&host.stop, 1, __ATOMIC_RELAXED);
out:
	if (v->fe != NULL)
		fe_free(v->fe);
	if (started) {
		/* Wake the host thread: its write (read mode), its accept
		 * (write mode, never connected); a connection it accepted
		 * ends when the device drops it with the frontend. */
		if (!o->write && host.fd != -1)
			shutdown(host.fd, SHUT_RDWR);
		if (host.lfd != -1)
			shutdown(host.lfd, SHUT_RDWR);
		pthread_join(th, NULL);
	}
	if (host.fd != -1)
		close(host.fd);
	if (host.lfd != -1) {
		close(host.lfd);
		unlink(host.path);
	}
	bench_lat_finish(&v->lat, res);
	free(v);
	return (ret);
}
