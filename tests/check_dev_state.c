/*
 * Device state migration through the test frontend (QEMU 8.2's
 * SET_DEVICE_STATE_FD / CHECK_DEVICE_STATE, which QEMU 7.2 cannot
 * drive): a live rng, console and vsock device moves from one vhostd
 * process to another mid-stream.  The frontend stops the queues, saves
 * the state from the source through a pipe, reconnects the same guest
 * memory and rings to the destination, loads the state there and starts
 * the queues again; the guest must not notice.  The hostile cases are in
 * check_dev_state_hostile.c.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console_drv.h"
#include "fe/fe.h"
#include "vsock_fe.h"

#define DS_START_MS	10000
#define DS_QSIZE	64

/* Start vhostd --module=MOD on "dev.sock" with `extra` arguments. */
static struct fe_daemon *
ds_daemon(const char *name, const char *mod, const char *const *extra,
    const char **sock)
{
	struct fe_daemon *d;
	const char	*args[32], *socks[2];
	char		 modarg[64], sockarg[700];
	unsigned	 n = 0, i;

	d = fe_daemon_new(name);
	ck_assert_msg(d != NULL, "fe_daemon_new: %s", fe_error());
	*sock = fe_daemon_path(d, "dev.sock");
	snprintf(modarg, sizeof modarg, "--module=%s", mod);
	snprintf(sockarg, sizeof sockarg, "--socket=%s", *sock);
	args[n++] = modarg;
	args[n++] = sockarg;
	for (i = 0; extra != NULL && extra[i] != NULL && n < 30; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	socks[0] = *sock;
	socks[1] = NULL;
	ck_assert_msg(fe_daemon_start(d, args, socks, DS_START_MS) == 0,
	    "start: %s", fe_error());
	return (d);
}

/* Stop a daemon: a clean exit, no sanitizer report. */
static void
ds_stop(struct fe_daemon *d)
{
	int	 status;

	ck_assert_msg(fe_daemon_alive(d), "vhostd died");
	status = fe_daemon_stop(d, 10000);
	ck_assert_int_eq(fe_daemon_log_count(d, "Sanitizer"), 0);
	ck_assert_int_eq(fe_daemon_log_count(d, "runtime error:"), 0);
	ck_assert_msg(status == 0, "vhostd exit status %d", status);
	fe_daemon_free(d);
}

/* Pause queues 0..nq-1 and save the state from the source (malloc'd). */
static uint8_t *
ds_save(struct fe *fe, unsigned nq, size_t *lenp)
{
	uint8_t		*st;
	unsigned	 q;
	int		 r;

	for (q = 0; q < nq; q++)
		ck_assert_msg(fe_queue_pause(fe, q, NULL) == 0, "pause %u: %s",
		    q, fe_error());
	r = fe_state_save(fe, &st, lenp);
	ck_assert_msg(r == 0, "save: %d %s", r, fe_error());
	ck_assert_uint_ge(*lenp, 64);
	ck_assert(memcmp(st, "VHDSTATE", 8) == 0);
	return (st);
}

/* Move the frontend (same memory, same rings) to `dst`, load the state
 * there and resume queues 0..nq-1. */
static void
ds_load(struct fe *fe, unsigned nq, const char *dst, const uint8_t *st,
    size_t len)
{
	unsigned	 q;
	int		 r;

	ck_assert_int_eq(fe_reconnect(fe, dst), 0);
	ck_assert_int_eq(fe_negotiate(fe, FE_WANT_FEATURES, FE_WANT_PROTOCOL),
	    0);
	ck_assert(fe->acked_protocol &
	    FE_BIT(VHOST_USER_PROTOCOL_F_DEVICE_STATE));
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	r = fe_state_load(fe, st, len);
	ck_assert_msg(r == 0, "load: %d %s", r, fe_error());
	for (q = 0; q < nq; q++)
		ck_assert_msg(fe_queue_resume(fe, q) == 0, "resume %u: %s", q,
		    fe_error());
}

/* The whole move; the saved stream is returned (malloc'd). */
static uint8_t *
ds_migrate(struct fe *fe, unsigned nq, const char *dst, size_t *lenp)
{
	uint8_t	*st = ds_save(fe, nq, lenp);

	ds_load(fe, nq, dst, st, *lenp);
	return (st);
}

/*
 * rng with a rate limit: the budget of the period in progress moves.
 * The source spends the whole budget, one more request waits in the
 * ring; after the move the destination must not serve it before the
 * period ends (a fresh device would at once), then must serve it.
 */
START_TEST(test_rng_migrate)
{
	static const char *const opts[] = { "--option=max-bytes=4096",
	    "--option=period=8000", NULL };
	struct fe_daemon	*src, *dst;
	struct fe_rng_stats	 st;
	struct fe		*fe;
	struct fe_buf		 b;
	const char		*ssock, *dsock;
	uint8_t			 out[4096], *state;
	size_t			 len;
	uint32_t		 id, ulen;
	int64_t			 t0, t1;
	int			 head;

	src = ds_daemon("ds-rng-src", "rng", opts, &ssock);
	dst = ds_daemon("ds-rng-dst", "rng", opts, &dsock);
	fe = fe_new(ssock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	ck_assert_int_eq(fe_start(fe, DS_QSIZE), 0);
	ck_assert(fe->acked_protocol &
	    FE_BIT(VHOST_USER_PROTOCOL_F_DEVICE_STATE));

	t0 = fe_now_ms();
	ck_assert_msg(fe_rng_read(fe, 0, out, sizeof out, 1024, 4, 1, 0,
	    &st) == 0, "rng read: %s", fe_error());
	b.gpa = fe_alloc(fe, 512, 8);
	b.len = 512;
	b.write = 1;
	head = fe_post(fe, 0, &b, 1, 0);
	ck_assert_int_ge(head, 0);
	/* Over budget: it waits for the period's end. */
	ck_assert_int_eq(fe_wait_used(fe, 0, &id, &ulen, 300), 0);

	state = ds_migrate(fe, 1, dsock, &len);
	free(state);

	t1 = fe_now_ms();
	if (t1 + 1000 < t0 + 7000)
		ck_assert_msg(fe_wait_used(fe, 0, &id, &ulen, 1000) == 0,
		    "the destination served the request at once: the "
		    "budget was not carried");
	else
		fprintf(stderr, "test_rng_migrate: slow machine (%lld ms), "
		    "the negative check is skipped\n",
		    (long long)(t1 - t0));
	ck_assert_msg(fe_wait_used(fe, 0, &id, &ulen, 20000) == 1,
	    "the request was never served");
	ck_assert_int_eq((int)id, head);
	ck_assert_uint_eq(ulen, 512);
	ck_assert_int_eq(fe_daemon_wait_log(dst, "device state loaded", 1,
	    1000), 0);

	fe_free(fe);
	ds_stop(src);
	ds_stop(dst);
}
END_TEST

/* Expect PORT_OPEN value for port `id`, skipping nothing else. */
static void
ds_console_expect_open(struct drv *v, unsigned id, uint16_t value)
{
	drv_expect(v, id, EV_PORT_OPEN, value);
}

/* Wait until the device has put n entries in queue q's used ring that
 * the driver has not taken yet. */
static void
ds_wait_used(struct fe *fe, unsigned q, uint16_t n)
{
	struct fe_queue	*fq = fe_queue(fe, q);
	int64_t		 end = fe_now_ms() + TMO;

	while ((uint16_t)(__atomic_load_n(&fq->used->idx, __ATOMIC_ACQUIRE) -
	    fq->last_used) < n) {
		ck_assert_msg(fe_now_ms() < end, "queue %u: fewer than %u used "
		    "entries", q, n);
		usleep(10000);
	}
	/* The daemon read the whole write (one skb) in that callback and
	 * staged the rest there: nothing more to wait for. */
}

/* Fill `len` bytes with a pattern that starts at `seed`. */
static void
ds_pattern(uint8_t *p, size_t len, unsigned seed)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

/*
 * console: port 0 has a host client attached (the guest sees it open),
 * port 1 has none and its backlog holds guest output.  After the move,
 * the guest is told port 0 closed (its client stayed with the source),
 * and the first client of port 1 on the destination gets the whole
 * backlog, then live data both ways.
 */
START_TEST(test_console_migrate)
{
	static char	 s0[300], s1[300], d0[300], d1[300];
	const char	*so[3], *dop[3];
	const char *const names[] = { NULL, "org.vhostd.one" };
	struct fe_daemon *dirs;
	struct drv	*src, *dst;
	uint8_t		 backlog[6000], got[6000], live[300], input[1000];
	uint8_t		*state;
	size_t		 len;
	int		 c0, c1;

	dirs = fe_daemon_new("ds-console-dirs");
	snprintf(s0, sizeof s0, "port0=unix=%s", dpath(dirs, "s0.sock"));
	snprintf(s1, sizeof s1, "port1=name=org.vhostd.one,unix=%s",
	    dpath(dirs, "s1.sock"));
	snprintf(d0, sizeof d0, "port0=unix=%s", dpath(dirs, "d0.sock"));
	snprintf(d1, sizeof d1, "port1=name=org.vhostd.one,unix=%s",
	    dpath(dirs, "d1.sock"));
	so[0] = s0;
	so[1] = s1;
	so[2] = NULL;
	dop[0] = d0;
	dop[1] = d1;
	dop[2] = NULL;
	src = drv_start("ds-console-src", 6, so);
	dst = drv_launch("ds-console-dst", dop, -1);
	ck_assert(src->fe->acked_protocol &
	    FE_BIT(VHOST_USER_PROTOCOL_F_DEVICE_STATE));
	drv_handshake(src, 2, names, NULL);

	/* The guest opens port 1 (the open state must move). */
	drv_ctrl_send(src, 1, EV_PORT_OPEN, 1);
	/* Port 0 open with a client; port 1 output goes to its backlog. */
	c0 = fe_sock_connect(dpath(dirs, "s0.sock"), TMO);
	ck_assert_int_ge(c0, 0);
	ds_console_expect_open(src, 0, 1);
	/* Host input more than port 0's rx buffers hold (8 of 64 bytes):
	 * 512 bytes reach the guest, the rest is staged in the daemon. */
	ds_pattern(input, sizeof input, 5);
	ck_assert_int_eq(write(c0, input, sizeof input), (ssize_t)sizeof input);
	ds_wait_used(src->fe, 0, 8);
	ds_pattern(backlog, sizeof backlog, 11);
	for (len = 0; len < sizeof backlog; len += 1000)
		ck_assert_int_eq(drv_send(src, 5, backlog + len, 1000), 0);

	state = ds_migrate(src->fe, 6, dst->sock, &len);
	/* The backlog travelled in the stream. */
	ck_assert_uint_gt(len, sizeof backlog);
	free(state);

	/* The source's client is gone with the source: port 0 closed. */
	ds_console_expect_open(src, 0, 0);
	/* The staged host input travelled: the guest reads all of it. */
	guest_read(src, 0, got, sizeof input);
	ck_assert(memcmp(got, input, sizeof input) == 0);
	/* The first client of port 1 here gets all the backlog. */
	c1 = fe_sock_connect(dpath(dirs, "d1.sock"), TMO);
	ck_assert_int_ge(c1, 0);
	ds_console_expect_open(src, 1, 1);
	host_read(c1, got, sizeof got);
	ck_assert(memcmp(got, backlog, sizeof backlog) == 0);
	/* Live data both ways. */
	ds_pattern(live, sizeof live, 99);
	ck_assert_int_eq(drv_send(src, 5, live, sizeof live), 0);
	host_read(c1, got, sizeof live);
	ck_assert(memcmp(got, live, sizeof live) == 0);
	ck_assert_int_eq(write(c1, "from-host", 9), 9);
	guest_read(src, 4, got, 9);
	ck_assert(memcmp(got, "from-host", 9) == 0);

	close(c0);
	close(c1);
	/* src->fe now talks to the destination: free it with dst. */
	dst->fe = src->fe;
	src->fe = NULL;
	drv_free(src);
	drv_free(dst);
	fe_daemon_free(dirs);
}
END_TEST

/* Read one line (up to '\n') from a host socket. */
static void
ds_read_line(int fd, char *buf, size_t max)
{
	size_t	 n = 0;

	while (n + 1 < max) {
		ck_assert_uint_eq(vh_read(fd, buf + n, 1, VF_MS), 1);
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
}

/* Read from fd until EOF (or a reset) into the running checksum. */
static uint64_t
ds_read_eof(int fd, uint64_t *sum)
{
	static uint8_t	 buf[65536];
	uint64_t	 got = 0;
	size_t		 n;

	while ((n = vh_read(fd, buf, sizeof buf, VF_MS)) > 0) {
		*sum = vf_sum(*sum, buf, n);
		got += n;
		if (n < sizeof buf)
			break;
	}
	return (got);
}

/*
 * vsock: a guest connection to a host service with bytes buffered in the
 * daemon (the service does not read, so the credit runs out), and a
 * connection a host client opened.  After the move the destination
 * reopens the guest's connection to the service (which sees the old
 * one end and a new one carry on) and delivers the buffered bytes there:
 * old + new hold exactly what the guest sent.  The host client's
 * connection cannot move: the guest gets an RST for it.  Then live data
 * both ways on the moved connection, with the credit carried over.
 */
START_TEST(test_vsock_migrate)
{
	struct vd		 va, vb;
	struct vf		 vf;
	struct vsock_hdr	 h;
	char			 path[700], line[64];
	static uint8_t		 big[4096];
	uint8_t			*state, buf[64];
	size_t			 len2;
	uint64_t		 s = 42, sum = VF_FNV, hsum = VF_FNV;
	uint64_t		 sent, got;
	size_t			 len;
	int			 la, lb, ha, hb, hc, rst = 0;
	uint32_t		 hport;

	vd_start(&va, "ds-vsock-src", NULL, 1);
	vd_start(&vb, "ds-vsock-dst", NULL, 1);
	snprintf(path, sizeof path, "%s_5000", va.uds);
	la = vh_listen(path, SOCK_STREAM);
	snprintf(path, sizeof path, "%s_5000", vb.uds);
	lb = vh_listen(path, SOCK_STREAM);
	vf_open(&vf, va.sock[0], 3);
	ck_assert(vf.fe->acked_protocol &
	    FE_BIT(VHOST_USER_PROTOCOL_F_DEVICE_STATE));

	/* A host client's connection to guest port 6000. */
	hc = vh_cmd(va.uds, 6000);
	h = vf_expect(&vf, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.dst_port, 6000);
	hport = h.src_port;
	vf_ctl(&vf, VSOCK_OP_RESPONSE, 0, 6000, hport, VSOCK_TYPE_STREAM);
	ds_read_line(hc, line, sizeof line);
	ck_assert_msg(strncmp(line, "OK ", 3) == 0, "host got \"%s\"", line);

	/* The guest's connection, filled while the service does not read. */
	vf_connect(&vf, 1234, 5000, VSOCK_TYPE_STREAM);
	ha = vh_accept(la);
	sent = vf_send_bytes(&vf, 1234, 5000, 64u << 20, &s, &sum, 3000);
	ck_assert_uint_gt(sent, VF_HOST_BUF);

	state = ds_save(vf.fe, 2, &len);
	/* The service now reads the old connection: the saved source must
	 * not hand it the bytes that travel in the state (they would
	 * arrive twice). */
	got = 0;
	while (vh_pending(ha, 500)) {
		len2 = vh_read(ha, big, sizeof big, VF_MS);
		ck_assert_uint_gt(len2, 0);
		hsum = vf_sum(hsum, big, len2);
		got += len2;
		if (len2 < sizeof big)
			break;
	}
	ck_assert_int_eq(vh_pending(ha, 300), 0);
	ds_load(vf.fe, 2, vb.sock[0], state, len);
	free(state);
	ck_assert_int_eq(fe_daemon_wait_log(vb.d, "device state loaded", 1,
	    VF_MS), 0);

	/* Old connection to its end, then the new one: all of it, once. */
	got += ds_read_eof(ha, &hsum);
	/* The source wrote what fitted its host socket; the rest (a full
	 * ring of buf-size bytes) travelled in the state. */
	ck_assert_uint_lt(got, sent);
	ck_assert_uint_gt(len, sent - got);
	hb = vh_accept(lb);
	while (got < sent) {
		len = vh_read(hb, buf, sent - got < sizeof buf ?
		    (size_t)(sent - got) : sizeof buf, VF_MS);
		ck_assert_uint_gt(len, 0);
		hsum = vf_sum(hsum, buf, len);
		got += len;
	}
	ck_assert_uint_eq(got, sent);
	ck_assert_msg(hsum == sum, "the host got other bytes than the guest "
	    "sent");
	ck_assert_int_eq(vh_pending(hb, 200), 0);

	/* The host client's connection was reset for the guest. */
	while (!rst) {
		ck_assert_msg(vf_recv(&vf, &h, NULL, 0, VF_MS), "no RST for "
		    "the host client's connection");
		if (h.op == VSOCK_OP_RST) {
			ck_assert_uint_eq(h.dst_port, 6000);
			ck_assert_uint_eq(h.src_port, hport);
			rst = 1;
		} else
			ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
	}
	vh_expect_eof(hc, VF_MS);

	/* Live both ways on the moved connection. */
	sent = vf_send_bytes(&vf, 1234, 5000, 100000, &s, &sum, 0);
	ck_assert_uint_eq(sent, 100000);
	got = 0;
	while (got < sent) {
		len = vh_read(hb, buf, sent - got < sizeof buf ?
		    (size_t)(sent - got) : sizeof buf, VF_MS);
		ck_assert_uint_gt(len, 0);
		hsum = vf_sum(hsum, buf, len);
		got += len;
	}
	ck_assert(hsum == sum);
	ck_assert_int_eq(write(hb, "pong", 4), 4);
	do {
		ck_assert(vf_recv(&vf, &h, buf, sizeof buf, VF_MS));
	} while (h.op == VSOCK_OP_CREDIT_UPDATE);
	ck_assert_uint_eq(h.op, VSOCK_OP_RW);
	ck_assert_uint_eq(h.src_port, 5000);
	ck_assert_uint_eq(h.dst_port, 1234);
	ck_assert_uint_eq(h.len, 4);
	ck_assert(memcmp(buf, "pong", 4) == 0);

	close(ha);
	close(hb);
	close(hc);
	close(la);
	close(lb);
	vf_close(&vf);
	vd_stop(&va);
	vd_stop(&vb);
}
END_TEST

/*
 * vsock seqpacket: messages (each with EOR) queued in the daemon when
 * the host service stops reading travel with their boundaries; the
 * service gets every message once, whole and in order, across the old
 * and the new connection.
 */
START_TEST(test_vsock_migrate_seqpacket)
{
	static uint8_t		 msg[8000], got[8192];
	struct vd		 va, vb;
	struct vf		 vf;
	struct vsock_hdr	 h;
	char			 path[700];
	uint8_t			*state;
	uint32_t		 credit, idx, next = 0, nsent = 0;
	size_t			 len;
	ssize_t			 n;
	int			 la, lb, ha, hb;

	vd_start(&va, "ds-seq-src", NULL, 1);
	vd_start(&vb, "ds-seq-dst", NULL, 1);
	snprintf(path, sizeof path, "%s_7000", va.uds);
	la = vh_listen(path, SOCK_SEQPACKET);
	snprintf(path, sizeof path, "%s_7000", vb.uds);
	lb = vh_listen(path, SOCK_SEQPACKET);
	vf_open(&vf, va.sock[0], 3);
	vf_connect(&vf, 1300, 7000, VSOCK_TYPE_SEQPACKET);
	ha = vh_accept(la);

	/* Numbered messages until the credit stays used up. */
	for (;;) {
		credit = vf.peer_buf_alloc - (vf.tx_cnt - vf.peer_fwd_cnt);
		if (credit < sizeof msg) {
			if (!vf_recv(&vf, &h, NULL, 0, 3000))
				break;
			ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
			continue;
		}
		ds_pattern(msg, sizeof msg, nsent);
		memcpy(msg, &nsent, sizeof nsent);
		h = vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RW, 1300, 7000,
		    VSOCK_TYPE_SEQPACKET);
		h.flags = VSOCK_SEQ_EOM | VSOCK_SEQ_EOR;
		vf_send(&vf, h, msg, sizeof msg);
		nsent++;
		while (vf_recv(&vf, &h, NULL, 0, 0))
			ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
	}
	ck_assert_uint_gt(nsent, 40);

	state = ds_save(vf.fe, 2, &len);
	/* What the source delivered before it froze, then nothing more. */
	while (vh_pending(ha, 500)) {
		n = read(ha, got, sizeof got);
		ck_assert_int_eq(n, (ssize_t)sizeof msg);
		memcpy(&idx, got, sizeof idx);
		ck_assert_uint_eq(idx, next);
		next++;
	}
	ck_assert_uint_lt(next, nsent);
	ds_load(vf.fe, 2, vb.sock[0], state, len);
	free(state);
	hb = vh_accept(lb);
	while (next < nsent) {
		ck_assert_msg(vh_pending(hb, VF_MS), "message %u of %u missing",
		    next, nsent);
		n = read(hb, got, sizeof got);
		ck_assert_int_eq(n, (ssize_t)sizeof msg);
		memcpy(&idx, got, sizeof idx);
		ck_assert_uint_eq(idx, next);
		ds_pattern(msg, sizeof msg, idx);
		memcpy(msg, &idx, sizeof idx);
		ck_assert(memcmp(got, msg, sizeof msg) == 0);
		next++;
	}
	ck_assert_int_eq(vh_pending(hb, 200), 0);

	close(ha);
	close(hb);
	close(la);
	close(lb);
	vf_close(&vf);
	vd_stop(&va);
	vd_stop(&vb);
}
END_TEST

/* Write all of buf to a host socket (its buffer is large enough: the
 * daemon reads only what the guest's credit allows), as one message
 * for a seqpacket socket. */
static void
ds_host_write(int fd, const uint8_t *buf, size_t len, int seq)
{
	struct pollfd	 pfd;
	size_t		 off = 0;
	ssize_t		 n;

	while (off < len) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		ck_assert_msg(poll(&pfd, 1, VF_MS) == 1, "host write: the "
		    "socket stays full after %zu of %zu bytes", off, len);
		n = send(fd, buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1 && errno == EAGAIN)
			continue;
		ck_assert_int_gt(n, 0);
		ck_assert(!seq || (size_t)n == len);
		off += (size_t)n;
	}
}

/*
 * Receive host data on the guest connection sport <- dport until `want`
 * bytes in all (*got counts them, *sum checksums them), granting credit
 * as the guest consumes; with `grant` 0, consume nothing (the credit
 * runs out).  Seqpacket: `msg` bytes a message, each ends with EOM
 * exactly at its boundary (Linux never reports MSG_EOR on a unix
 * socket, so no EOR).
 */
static void
ds_guest_read(struct vf *vf, uint32_t sport, uint32_t dport, uint64_t want,
    uint64_t *got, uint64_t *sum, uint32_t msg, int grant)
{
	static uint8_t		 buf[VF_BUF];
	struct vsock_hdr	 h;
	uint32_t		 end;

	while (*got < want) {
		ck_assert_msg(vf_recv(vf, &h, buf, sizeof buf, VF_MS),
		    "the guest got %llu of %llu host bytes",
		    (unsigned long long)*got, (unsigned long long)want);
		if (h.op == VSOCK_OP_CREDIT_REQUEST ||
		    h.op == VSOCK_OP_CREDIT_UPDATE)
			continue;
		ck_assert_msg(h.op == VSOCK_OP_RW, "op %u after %llu bytes",
		    h.op, (unsigned long long)*got);
		ck_assert_uint_eq(h.src_port, dport);
		ck_assert_uint_eq(h.dst_port, sport);
		ck_assert_uint_le(*got + h.len, want);
		*sum = vf_sum(*sum, buf, h.len);
		*got += h.len;
		if (msg > 0) {
			end = (*got % msg) == 0 ? VSOCK_SEQ_EOM : 0;
			ck_assert_msg(h.flags == end, "flags %u at byte %llu",
			    h.flags, (unsigned long long)*got);
		}
		if (grant) {
			vf->fwd_cnt += h.len;
			vf_ctl(vf, VSOCK_OP_CREDIT_UPDATE, 0, sport, dport,
			    msg > 0 ? VSOCK_TYPE_SEQPACKET : VSOCK_TYPE_STREAM);
		}
	}
}

/*
 * vsock, host to guest: the host service writes more than the guest's
 * credit (16 KiB) allows, so when the state is saved most of it is
 * still in the source's host socket, unread by the daemon.  The guest
 * must get every byte on the destination, in order, before what the
 * service then writes on the new connection.  Seqpacket the same, with
 * message boundaries (a message cut by the credit, then whole ones).
 */
static void
ds_vsock_host_unread(int seq)
{
	static uint8_t	 data[200000];
	struct vd	 va, vb;
	struct vf	 vf;
	struct vsock_hdr h;
	struct pollfd	 pfd;
	char		 path[700];
	uint8_t		*state;
	ssize_t		 n;
	uint64_t	 s = 77, hsum = VF_FNV, gsum = VF_FNV, got = 0;
	uint32_t	 msg = seq ? 3000 : 0, port = seq ? 7100 : 5100;
	size_t		 len, total, off;
	int		 la, lb, ha, hb, sz = 1 << 20;
	int		 type = seq ? SOCK_SEQPACKET : SOCK_STREAM;

	vd_start(&va, seq ? "ds-hunread-seq-src" : "ds-hunread-src", NULL, 1);
	vd_start(&vb, seq ? "ds-hunread-seq-dst" : "ds-hunread-dst", NULL, 1);
	snprintf(path, sizeof path, "%s_%u", va.uds, port);
	la = vh_listen(path, type);
	snprintf(path, sizeof path, "%s_%u", vb.uds, port);
	lb = vh_listen(path, type);
	vf_open(&vf, va.sock[0], 3);
	vf.buf_alloc = 16384;
	vf_connect(&vf, 1400, port, seq ? VSOCK_TYPE_SEQPACKET :
	    VSOCK_TYPE_STREAM);
	ha = vh_accept(la);
	ck_assert_int_eq(setsockopt(ha, SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof sz), 0);

	/* Stream: 200,000 bytes; seqpacket: 8 messages (the receive queue
	 * of a unix seqpacket socket holds about 10). */
	total = seq ? 8 * msg : sizeof data;
	vf_gen(&s, data, total);
	hsum = vf_sum(hsum, data, total);
	for (off = 0; off < total; off += seq ? msg : total)
		ds_host_write(ha, data + off, seq ? msg : total, seq);
	/* The guest takes its 16 KiB and stops granting credit (the
	 * daemon asks for more: CREDIT_REQUEST). */
	ds_guest_read(&vf, 1400, port, 16384, &got, &gsum, msg, 0);
	while (vf_recv(&vf, &h, NULL, 0, 300))
		ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_REQUEST);

	state = ds_save(vf.fe, 2, &len);
	/* Stream: the service writes to the old connection after the save;
	 * those bytes cannot travel, and it is told: the old connection is
	 * reset (ECONNRESET), not ended.  Seqpacket: it writes nothing
	 * more, and the old connection ends cleanly (end of file). */
	if (!seq)
		ds_host_write(ha, (const uint8_t *)"late", 4, 0);
	ds_load(vf.fe, 2, vb.sock[0], state, len);
	free(state);
	ck_assert_int_eq(fe_daemon_wait_log(vb.d, "device state loaded", 1,
	    VF_MS), 0);
	hb = vh_accept(lb);
	pfd.fd = ha;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, VF_MS), 1);
	n = read(ha, path, sizeof path);
	if (seq)
		ck_assert_msg(n == 0, "old connection: %zd (%s), not end of "
		    "file", n, n == -1 ? strerror(errno) : "data");
	else
		ck_assert_msg(n == -1 && errno == ECONNRESET, "old connection: "
		    "%zd (%s), not reset", n, n == -1 ? strerror(errno) :
		    "data or end of file");

	/* The guest grants credit again: every byte the service wrote. */
	vf.fwd_cnt = (uint32_t)got;
	vf_ctl(&vf, VSOCK_OP_CREDIT_UPDATE, 0, 1400, port, seq ?
	    VSOCK_TYPE_SEQPACKET : VSOCK_TYPE_STREAM);
	ds_guest_read(&vf, 1400, port, total, &got, &gsum, msg, 1);
	ck_assert_msg(gsum == hsum, "the guest got other bytes than the "
	    "host wrote");
	/* Then what the service writes on the new connection. */
	vf_gen(&s, data, seq ? msg : 5000);
	hsum = vf_sum(hsum, data, seq ? msg : 5000);
	ds_host_write(hb, data, seq ? msg : 5000, seq);
	ds_guest_read(&vf, 1400, port, total + (seq ? msg : 5000), &got,
	    &gsum, msg, 1);
	ck_assert(gsum == hsum);

	close(ha);
	close(hb);
	close(la);
	close(lb);
	vf_close(&vf);
	vd_stop(&va);
	vd_stop(&vb);
}

START_TEST(test_vsock_host_unread)
{
	ds_vsock_host_unread(0);
}
END_TEST

START_TEST(test_vsock_host_unread_seqpacket)
{
	ds_vsock_host_unread(1);
}
END_TEST

static Suite *
dev_state_suite(void)
{
	Suite	*s = suite_create("dev_state");
	TCase	*tc = tcase_create("migrate");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_rng_migrate);
	tcase_add_test(tc, test_console_migrate);
	tcase_add_test(tc, test_vsock_migrate);
	tcase_add_test(tc, test_vsock_migrate_seqpacket);
	tcase_add_test(tc, test_vsock_host_unread);
	tcase_add_test(tc, test_vsock_host_unread_seqpacket);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1) {
		fprintf(stderr, "check_dev_state: %s\n", fe_error());
		return (1);
	}
	sr = srunner_create(dev_state_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
