/*
 * Issue 8 against a live vhostd, driven by the test frontend with the
 * guest driver of tests/vsock_fe.c: a VM paused and resumed as QEMU 7.2
 * does on `stop` / `cont` (SET_VRING_ENABLE 0 and GET_VRING_BASE per
 * queue, then the rings set up again) keeps its vsock connections; and a
 * VM that does not read, pauses or disconnects never stalls a sibling
 * VM's traffic.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/poll.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vsock_fe.h"

#define VP_BYTES	(4u << 20)	/* each way */
#define VP_LATE_BYTES	(256u << 10)	/* the client that connects paused */
#define VP_PAUSES	20
#define VP_CONNS	4
#define VP_SIB_PKTS	400		/* A to B: B's rx, inbox, and more */

/* The guest's view of one connection. */
struct vp_conn {
	uint32_t	 gport, hport;	/* guest port, host port */
	int		 h2g;		/* host initiated */
	int		 up;		/* RESPONSE seen or sent */
	int		 closed;	/* RST seen */
	int		 shut_sent;	/* our SHUTDOWN sent */
	/* Guest to host: what we sent, the host's credit. */
	uint64_t	 sent, gen, sum;
	uint32_t	 tx_cnt, peer_buf_alloc, peer_fwd_cnt;
	/* Host to guest: what we got. */
	uint64_t	 got, rsum;
	uint32_t	 fwd_cnt, fwd_told;
	char		 line[128];	/* guest to host: the SUM answer */
	size_t		 line_len;
};

/* One guest with its connections. */
struct vp {
	struct vf	 vf;
	struct vp_conn	 c[VP_CONNS];
	unsigned	 n;
};

/* Send a packet on connection c with our credit fields. */
static void
vp_send(struct vp *p, struct vp_conn *c, uint16_t op, uint32_t flags,
    const void *data, uint32_t len)
{
	struct vsock_hdr	 h;

	h = vf_hdr(&p->vf, VSOCK_HOST_CID, op, c->gport, c->hport,
	    VSOCK_TYPE_STREAM);
	h.flags = flags;
	p->vf.fwd_cnt = c->fwd_cnt;
	vf_send(&p->vf, h, data, len);
	c->fwd_told = c->fwd_cnt;
	if (op == VSOCK_OP_RW)
		c->tx_cnt += len;
}

/* The connection a packet from the host belongs to, or NULL. */
static struct vp_conn *
vp_find(struct vp *p, const struct vsock_hdr *h)
{
	unsigned	 i;

	for (i = 0; i < p->n; i++) {
		if (p->c[i].gport == h->dst_port &&
		    p->c[i].hport == h->src_port)
			return (&p->c[i]);
	}
	return (NULL);
}

/* Handle one packet from the host side, answering as a guest would. */
static void
vp_handle(struct vp *p, const struct vsock_hdr *h, const uint8_t *data)
{
	struct vp_conn	*c = vp_find(p, h);
	char		 line[64];

	ck_assert_uint_eq(h->src_cid, VSOCK_HOST_CID);
	if (h->op == VSOCK_OP_REQUEST) {
		ck_assert_msg(c == NULL && p->n < VP_CONNS, "REQUEST for "
		    "guest port %u again", h->dst_port);
		c = &p->c[p->n++];
		memset(c, 0, sizeof(*c));
		c->gport = h->dst_port;
		c->hport = h->src_port;
		c->h2g = 1;
		c->rsum = VF_FNV;
		c->peer_buf_alloc = h->buf_alloc;
		c->peer_fwd_cnt = h->fwd_cnt;
		vp_send(p, c, VSOCK_OP_RESPONSE, 0, NULL, 0);
		c->up = 1;
		return;
	}
	ck_assert_msg(c != NULL, "op %u for unknown connection %u->%u",
	    h->op, h->src_port, h->dst_port);
	ck_assert_msg(h->op != VSOCK_OP_RST || (c->h2g && c->shut_sent),
	    "connection %u<->%u reset by the daemon (h2g %d, %llu sent, "
	    "%llu got)", c->gport, c->hport, c->h2g,
	    (unsigned long long)c->sent, (unsigned long long)c->got);
	if (h->op != VSOCK_OP_RST) {
		c->peer_buf_alloc = h->buf_alloc;
		c->peer_fwd_cnt = h->fwd_cnt;
	}
	switch (h->op) {
	case VSOCK_OP_RST:
		c->closed = 1;
		break;
	case VSOCK_OP_RESPONSE:
		ck_assert(!c->h2g && !c->up);
		c->up = 1;
		break;
	case VSOCK_OP_RW:
		if (c->h2g) {
			c->rsum = vf_sum(c->rsum, data, h->len);
			c->got += h->len;
		} else {
			ck_assert_uint_lt(c->line_len + h->len,
			    sizeof(c->line));
			memcpy(c->line + c->line_len, data, h->len);
			c->line_len += h->len;
		}
		c->fwd_cnt += h->len;
		if (c->fwd_cnt - c->fwd_told >= VF_BUF_ALLOC / 4)
			vp_send(p, c, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		vp_send(p, c, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
		break;
	case VSOCK_OP_SHUTDOWN:
		if (c->h2g) {
			/* The host is done: answer its sum, close. */
			ck_assert(h->flags & VSOCK_SHUT_SEND);
			snprintf(line, sizeof(line), "SUM %016llx\n",
			    (unsigned long long)c->rsum);
			vp_send(p, c, VSOCK_OP_RW, 0, line,
			    (uint32_t)strlen(line));
			vp_send(p, c, VSOCK_OP_SHUTDOWN, VSOCK_SHUT_BOTH, NULL,
			    0);
			c->shut_sent = 1;
		} else if (h->flags == VSOCK_SHUT_BOTH) {
			/* The host answered and closed. */
			vp_send(p, c, VSOCK_OP_RST, 0, NULL, 0);
			c->closed = 1;
		}
		break;
	default:
		break;
	}
}

/* Pause (stop) or resume (cont) all three queues, as QEMU 7.2 does. */
static void
vp_pause(struct vp *p, int resume)
{
	uint32_t	 base;
	unsigned	 q;

	for (q = 0; q < 3; q++) {
		if (resume)
			ck_assert_msg(fe_queue_resume(p->vf.fe, q) == 0,
			    "resume %u: %s", q, fe_error());
		else
			ck_assert_msg(fe_queue_pause(p->vf.fe, q, &base) == 0,
			    "pause %u: %s", q, fe_error());
	}
}

/*
 * Twenty pauses with a stream in flight each way (4 MiB each, a checksum
 * at the end), a host client that connects while the VM is paused, and
 * SET_VRING_CALL sent again on running queues now and then: every
 * connection survives, the data arrives intact and in order.
 */
START_TEST(fe_pause_resume_streams)
{
	static uint8_t		 buf[VF_BUF];
	struct vd		 vd;
	struct vp		 p;
	struct vh		 rv, sv[2];
	struct vsock_hdr	 h;
	struct vp_conn		*g;
	pthread_t		 rt, st[2];
	char			 path[700], want[64];
	uint64_t		 progress, step;
	uint32_t		 n, credit;
	unsigned		 pauses = 0, i, nsv = 1, done;

	vd_start(&vd, "vsock-pause", NULL, 1);
	memset(&p, 0, sizeof(p));
	vf_open(&p.vf, vd.sock[0], 3);
	ck_assert_int_eq(fe_queue_setup(p.vf.fe, VSOCK_EVQ, VF_QSIZE), 0);
	ck_assert_int_eq(fe_vring_enable(p.vf.fe, VSOCK_EVQ, 1), 0);

	/* Guest to host: port 1000 to the listener of port 5000. */
	memset(&rv, 0, sizeof(rv));
	snprintf(path, sizeof(path), "%s_5000", vd.uds);
	rv.lfd = vh_listen(path, SOCK_STREAM);
	ck_assert_int_eq(pthread_create(&rt, NULL, vh_recv_main, &rv), 0);
	g = &p.c[p.n++];
	g->gport = 1000;
	g->hport = 5000;
	g->gen = 1;
	g->sum = VF_FNV;
	vp_send(&p, g, VSOCK_OP_REQUEST, 0, NULL, 0);

	/* Host to guest: CONNECT 1234. */
	memset(sv, 0, sizeof(sv));
	for (i = 0; i < 2; i++) {
		snprintf(sv[i].path, sizeof(sv[i].path), "%s", vd.uds);
		sv[i].port = 1234 + i;
		sv[i].bytes = i == 0 ? VP_BYTES : VP_LATE_BYTES;
	}
	ck_assert_int_eq(pthread_create(&st[0], NULL, vh_send_main, &sv[0]),
	    0);

	step = 2ull * VP_BYTES / (VP_PAUSES + 2);
	for (;;) {
		done = pauses == VP_PAUSES && g->closed;
		for (i = 0; i < p.n; i++) {
			if (p.c[i].h2g && !p.c[i].closed)
				done = 0;
		}
		if (done && p.n == 1 + nsv)
			break;
		progress = g->sent;
		for (i = 1; i < p.n; i++)
			progress += p.c[i].got;
		if (pauses < VP_PAUSES && progress >= (pauses + 1) * step) {
			vp_pause(&p, 0);
			if (pauses == VP_PAUSES / 2) {
				/* A host client connects while paused. */
				ck_assert_int_eq(pthread_create(&st[1], NULL,
				    vh_send_main, &sv[1]), 0);
				nsv = 2;
			}
			usleep(20000);
			vp_pause(&p, 1);
			pauses++;
			/* Now and then QEMU sends SET_VRING_CALL again on a
			 * running queue (MSI-X mask/unmask). */
			for (i = 0; i < 2 && pauses % 4 == 0; i++)
				ck_assert_int_eq(fe_vring_fd(p.vf.fe,
				    VHOST_USER_SET_VRING_CALL, i,
				    p.vf.fe->queues[i].call_fd), 0);
			continue;
		}
		credit = g->peer_buf_alloc - (g->tx_cnt - g->peer_fwd_cnt);
		if (g->up && g->sent < VP_BYTES && credit > 0) {
			n = credit < VF_BUF ? credit : VF_BUF;
			if (n > VP_BYTES - g->sent)
				n = (uint32_t)(VP_BYTES - g->sent);
			vf_gen(&g->gen, buf, n);
			g->sum = vf_sum(g->sum, buf, n);
			vp_send(&p, g, VSOCK_OP_RW, 0, buf, n);
			g->sent += n;
			while (vf_recv(&p.vf, &h, buf, sizeof(buf), 0))
				vp_handle(&p, &h, buf);
			continue;
		}
		if (g->up && g->sent == VP_BYTES && !g->shut_sent) {
			vp_send(&p, g, VSOCK_OP_SHUTDOWN, VSOCK_SHUT_SEND,
			    NULL, 0);
			g->shut_sent = 1;
		}
		ck_assert_msg(vf_recv(&p.vf, &h, buf, sizeof(buf), VF_MS),
		    "stalled: %u pauses, %llu of %llu sent, %u connections",
		    pauses, (unsigned long long)g->sent,
		    (unsigned long long)VP_BYTES, p.n);
		vp_handle(&p, &h, buf);
	}

	/* Guest to host: the host's sum is ours. */
	pthread_join(rt, NULL);
	ck_assert(rv.ok);
	ck_assert_uint_eq(rv.got, VP_BYTES);
	g->line[g->line_len] = '\0';
	snprintf(want, sizeof(want), "SUM %016llx\n",
	    (unsigned long long)g->sum);
	ck_assert_str_eq(g->line, want);
	/* Host to guest, both clients: ours is theirs. */
	for (i = 0; i < nsv; i++) {
		pthread_join(st[i], NULL);
		ck_assert_msg(sv[i].ok, "host client %u failed", i);
	}
	for (i = 1; i < p.n; i++) {
		n = p.c[i].gport - 1234;
		ck_assert_uint_lt(n, 2);
		ck_assert_uint_eq(p.c[i].got, sv[n].bytes);
		snprintf(want, sizeof(want), "OK %u\nSUM %016llx\n",
		    p.c[i].hport, (unsigned long long)sv[n].sum);
		ck_assert_str_eq(sv[n].reply, want);
	}
	close(rv.lfd);
	vf_close(&p.vf);
	vd_stop(&vd);
}
END_TEST

/* Send `n` RW packets of VF_BUF bytes from a's port 100 to CID 4 port
 * 200, numbered from *seq in their first 4 bytes. */
static void
vp_to_b(struct vf *a, unsigned n, uint32_t *seq)
{
	static uint8_t	 data[VF_BUF];
	unsigned	 i;

	for (i = 0; i < n; i++) {
		memcpy(data, seq, sizeof(*seq));
		(*seq)++;
		vf_send(a, vf_hdr(a, 4, VSOCK_OP_RW, 100, 200,
		    VSOCK_TYPE_STREAM), data, VF_BUF);
	}
}

/*
 * Three VMs in one group.  B does not read its rx queue: A sends it more
 * than B's rx ring and inbox hold, and A's tx queue goes on; A reaches
 * the host and C, also while B is paused.  When B reads, A's packets
 * arrive, all and in order.  When B disconnects with A's packets waiting
 * for it, A's connection gets an RST, and so does a new connect to B.
 */
START_TEST(fe_group_sibling_no_stall)
{
	static uint8_t		 got[VF_BUF];
	struct vd		 vd;
	struct vf		 a, b, c;
	struct vsock_hdr	 h;
	char			 path[700], in[8];
	uint32_t		 seq = 0, want = 0;
	unsigned		 i;
	int			 lfd, fd;

	vd_start(&vd, "vsock-group", NULL, 3);
	vf_open(&a, vd.sock[0], 3);
	vf_open(&b, vd.sock[1], 4);
	vf_open(&c, vd.sock[2], 5);
	ck_assert_int_eq(fe_queue_setup(b.fe, VSOCK_EVQ, VF_QSIZE), 0);
	ck_assert_int_eq(fe_vring_enable(b.fe, VSOCK_EVQ, 1), 0);
	vf_send(&a, vf_hdr(&a, 4, VSOCK_OP_REQUEST, 100, 200,
	    VSOCK_TYPE_STREAM), NULL, 0);
	/* Before the fix, A's tx ring stalls here ("tx ring stuck"). */
	vp_to_b(&a, VP_SIB_PKTS, &seq);

	/* A to the host, and to C. */
	snprintf(path, sizeof(path), "%s_5000", vd.uds);
	lfd = vh_listen(path, SOCK_STREAM);
	vf_connect(&a, 1000, 5000, VSOCK_TYPE_STREAM);
	fd = vh_accept(lfd);
	vf_write(&a, 1000, 5000, "hello", 5);
	ck_assert_uint_eq(vh_read(fd, in, 5, VF_MS), 5);
	ck_assert(memcmp(in, "hello", 5) == 0);
	vf_send(&a, vf_hdr(&a, 5, VSOCK_OP_REQUEST, 101, 300,
	    VSOCK_TYPE_STREAM), NULL, 0);
	h = vf_expect(&c, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.src_cid, 3);
	ck_assert_uint_eq(h.src_port, 101);

	/* B pauses: A still reaches the host. */
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(fe_queue_pause(b.fe, i, NULL), 0);
	vf_write(&a, 1000, 5000, "world", 5);
	ck_assert_uint_eq(vh_read(fd, in, 5, VF_MS), 5);
	ck_assert(memcmp(in, "world", 5) == 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(fe_queue_resume(b.fe, i), 0);

	/* B reads: everything, in order. */
	h = vf_expect(&b, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.src_port, 100);
	while (want < seq) {
		ck_assert_msg(vf_recv(&b, &h, got, sizeof(got), VF_MS),
		    "B got %u of %u packets", want, seq);
		ck_assert_uint_eq(h.op, VSOCK_OP_RW);
		ck_assert_uint_eq(h.src_cid, 3);
		ck_assert_uint_eq(h.len, VF_BUF);
		ck_assert_msg(memcmp(got, &want, 4) == 0, "packet %u out of "
		    "order", want);
		want++;
	}

	/* A fills B again; B's frontend goes away: A's connection gets an
	 * RST instead of waiting for ever. */
	vp_to_b(&a, VP_SIB_PKTS, &seq);
	vf_close(&b);
	ck_assert_int_eq(fe_daemon_wait_log(vd.d, "frontend disconnected",
	    1, VF_MS), 0);
	h = vf_expect(&a, VSOCK_OP_RST);
	ck_assert_uint_eq(h.src_cid, 4);
	ck_assert_uint_eq(h.dst_port, 100);
	vf_send(&a, vf_hdr(&a, 4, VSOCK_OP_REQUEST, 102, 200,
	    VSOCK_TYPE_STREAM), NULL, 0);
	/* Packets A sent after the reset get their own RSTs first. */
	do {
		h = vf_expect(&a, VSOCK_OP_RST);
		ck_assert_uint_eq(h.src_cid, 4);
		ck_assert(h.dst_port == 100 || h.dst_port == 102);
	} while (h.dst_port != 102);
	close(fd);
	close(lfd);
	vf_close(&a);
	vf_close(&c);
	vd_stop(&vd);
}
END_TEST

/* Build the suite. */
static Suite *
vsock_pause_suite(void)
{
	Suite	*s = suite_create("vsock_pause");
	TCase	*tc;

	tc = tcase_create("pause");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fe_pause_resume_streams);
	suite_add_tcase(s, tc);

	tc = tcase_create("group");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fe_group_sibling_no_stall);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite with the frontend's temp dir handling. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	/* A host thread writing to a socket the daemon closed must fail
	 * its test, not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	if (fe_tmp_init() == -1) {
		fprintf(stderr, "check_vsock_pause: %s\n", fe_error());
		return (1);
	}
	sr = srunner_create(vsock_pause_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
