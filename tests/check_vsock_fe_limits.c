/*
 * The vsock module's limits against a live vhostd (tests/vsock_fe.c
 * helpers): the connection cap, connect and shutdown timeouts, credit
 * windows both ways, half-close and unknown ops.
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
vsock_fe_limits_suite(void)
{
	Suite	*s = suite_create("vsock_fe_limits");
	TCase	*tc;

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
		fprintf(stderr, "check_vsock_fe_limits: %s\n", fe_error());
		return (1);
	}
	sr = srunner_create(vsock_fe_limits_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
