/*
 * Integration suite: each test starts its own vhostd in its own temp dir
 * and drives it with the test frontend (tests/fe) as a VMM and a guest
 * driver would, including hostile input.  A test that fails leaves its
 * daemon dir behind; the runner prints that daemon's log and removes it.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"

#define IT_START_MS	10000
#define IT_STOP_MS	10000
#define IT_QSIZE	256

/* A running daemon with one rng device and its frontend socket. */
struct it {
	struct fe_daemon	*d;
	const char		*sock;
};

/* Start vhostd --module=rng on "rng.sock" with `extra` arguments. */
static void
it_start(struct it *it, const char *name, const char *const *extra)
{
	const char	*args[32];
	const char	*socks[2];
	char		 sockarg[700];
	unsigned	 n = 0, i;

	it->d = fe_daemon_new(name);
	ck_assert_msg(it->d != NULL, "fe_daemon_new: %s", fe_error());
	it->sock = fe_daemon_path(it->d, "rng.sock");
	snprintf(sockarg, sizeof sockarg, "--socket=%s", it->sock);
	args[n++] = "--module=rng";
	args[n++] = sockarg;
	for (i = 0; extra != NULL && extra[i] != NULL && n < 30; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	socks[0] = it->sock;
	socks[1] = NULL;
	ck_assert_msg(fe_daemon_start(it->d, args, socks, IT_START_MS) == 0,
	    "start: %s", fe_error());
	ck_assert_int_eq(fe_daemon_wait_log(it->d, "listening on", 1,
	    IT_START_MS), 0);
}

/* Stop the daemon: it must exit 0 on SIGTERM and unlink its socket. */
static void
it_stop(struct it *it)
{
	struct stat	st;
	int		status;

	ck_assert_msg(fe_daemon_alive(it->d), "vhostd died");
	status = fe_daemon_stop(it->d, IT_STOP_MS);
	ck_assert_int_eq(fe_daemon_log_count(it->d, "Sanitizer"), 0);
	ck_assert_int_eq(fe_daemon_log_count(it->d, "runtime error:"), 0);
	ck_assert_msg(status == 0, "vhostd exit status %d", status);
	ck_assert_msg(stat(it->sock, &st) == -1 && errno == ENOENT,
	    "socket %s not unlinked", it->sock);
	fe_daemon_free(it->d);
	it->d = NULL;
}

/* A connected, started frontend (rng queue 0 running). */
static struct fe *
it_fe(const char *sock)
{
	struct fe	*fe;
	int		 r;

	fe = fe_new(sock, NULL, 0);
	ck_assert_msg(fe != NULL, "fe_new: %s", fe_error());
	r = fe_start(fe, IT_QSIZE);
	ck_assert_msg(r == 0, "fe_start: %d %s", r, fe_error());
	return (fe);
}

/* Read `len` bytes in `chunk` requests and check completions. */
static void
it_read(struct fe *fe, void *out, size_t len, size_t chunk, unsigned segs,
    int indirect)
{
	struct fe_rng_stats	st;
	int			r;
	unsigned		depth = chunk >= (16u << 10) ? 4 : 64;

	r = fe_rng_read(fe, 0, out, len, chunk, depth, segs, indirect, &st);
	ck_assert_msg(r == 0, "rng read: %s (after %llu bytes)", fe_error(),
	    (unsigned long long)st.bytes);
	ck_assert_uint_eq(st.bytes, len);
	ck_assert_uint_eq(st.short_replies, 0);
	ck_assert_uint_eq(st.requests, (len + chunk - 1) / chunk);
}

/* Read a little entropy and check it is not all zero. */
static void
it_read_some(struct fe *fe)
{
	uint8_t		buf[4096];
	unsigned	i, nz = 0;

	memset(buf, 0, sizeof buf);
	it_read(fe, buf, sizeof buf, 256, 1, 0);
	for (i = 0; i < sizeof buf; i++)
		nz += buf[i] != 0;
	ck_assert_uint_gt(nz, sizeof buf / 2);
}

/* Close the frontend and wait until vhostd logged `n` disconnects. */
static void
it_close(struct it *it, struct fe *fe, int n)
{
	fe_free(fe);
	ck_assert_msg(fe_daemon_wait_log(it->d, "frontend disconnected", n,
	    5000) == 0, "%s", fe_error());
}

/* qsort comparator for 64-byte chunks. */
static int
it_cmp64(const void *a, const void *b)
{
	return (memcmp(a, b, 64));
}

/* ------------------------------------------------------------------ */
/* The frontend library itself, without a daemon.                     */

/* Messages with payload and fds survive a socketpair round trip. */
START_TEST(test_fe_loopback)
{
	struct fe_msg	 m;
	int		 sv[2], efd, fds[2];
	uint64_t	 v = 0x1122334455667788ull;
	eventfd_t	 ev;
	uint8_t		 junk[6] = { 1, 2, 3, 4, 5, 6 };

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	efd = eventfd(0, EFD_NONBLOCK);
	fds[0] = efd;
	fds[1] = efd;
	ck_assert_int_eq(fe_sock_send(sv[0], VHOST_USER_SET_VRING_KICK,
	    VHOST_USER_VERSION, 8, &v, 8, fds, 2), 0);
	ck_assert_int_eq(fe_sock_recv(sv[1], &m, 1000), 1);
	ck_assert_uint_eq(m.hdr.request, VHOST_USER_SET_VRING_KICK);
	ck_assert_uint_eq(m.hdr.flags, VHOST_USER_VERSION);
	ck_assert_uint_eq(m.hdr.size, 8);
	ck_assert(fe_msg_u64(&m) == v);
	ck_assert_int_eq(m.nfds, 2);
	ck_assert_int_eq(eventfd_write(m.fds[0], 3), 0);
	ck_assert_int_eq(eventfd_read(efd, &ev), 0);
	ck_assert_uint_eq(ev, 3);
	fe_msg_close_fds(&m);
	/* Nothing more: a receive times out. */
	ck_assert_int_eq(fe_sock_recv(sv[1], &m, 50), -1);
	/* A claimed size above the limit is an error. */
	ck_assert_int_eq(fe_sock_send(sv[0], 1, 1, 5000, NULL, 0, NULL, 0),
	    0);
	ck_assert_int_eq(fe_sock_recv(sv[1], &m, 1000), -1);
	/* A partial header then close reads as closed. */
	ck_assert_int_eq(fe_sock_send_raw(sv[1], junk, sizeof junk, NULL, 0),
	    0);
	close(sv[1]);
	ck_assert_int_eq(fe_sock_recv(sv[0], &m, 1000), 0);
	ck_assert_int_eq(fe_sock_wait_closed(sv[0], 100), 1);
	/* Sending to a closed peer fails without SIGPIPE. */
	ck_assert_int_eq(fe_sock_send(sv[0], 1, 1, 0, NULL, 0, NULL, 0), -1);
	close(sv[0]);
	close(efd);
}
END_TEST

/* The allocator and copies cross region boundaries correctly. */
START_TEST(test_fe_guest_mem)
{
	struct fe	*fe = fe_new(NULL, NULL, 0);
	uint8_t		 in[300], out[300];
	uint64_t	 a, b;
	unsigned	 i;

	ck_assert_ptr_nonnull(fe);
	ck_assert_uint_eq(fe->nregions, 3);
	a = fe_alloc(fe, 100, 64);
	ck_assert(a >= 0x1000 && a % 64 == 0);
	b = fe_alloc(fe, 100, 4096);
	ck_assert(b > a && b % 4096 == 0);
	b = fe_alloc_in(fe, 2, 16, 16);
	ck_assert(b == 16u << 20);
	ck_assert(fe_alloc_in(fe, 1, 2u << 20, 1) == 0);
	for (i = 0; i < sizeof in; i++)
		in[i] = (uint8_t)(i * 7 + 1);
	/* Straddle the 2 MiB boundary between region 0 and region 1. */
	a = (2u << 20) - 100;
	ck_assert_ptr_null(fe_host(fe, a, 200));
	ck_assert_ptr_nonnull(fe_host(fe, a, 100));
	ck_assert_int_eq(fe_write(fe, a, in, sizeof in), 0);
	ck_assert_int_eq(fe_read(fe, a, out, sizeof out), 0);
	ck_assert_mem_eq(in, out, sizeof in);
	ck_assert_uint_eq(fe->regions[1].host[199], in[299]);
	ck_assert_uint_eq(fe->regions[1].map[(64u << 10) + 199], in[299]);
	/* The gap between 3 MiB and 16 MiB is not memory. */
	ck_assert_int_eq(fe_read(fe, 3u << 20, out, 1), -1);
	ck_assert_int_eq(fe_read(fe, (3u << 20) - 1, out, 2), -1);
	fe_free(fe);
}
END_TEST

/* The driver builds direct and indirect chains and recycles them. */
START_TEST(test_fe_driver)
{
	struct fe		*fe = fe_new(NULL, NULL, 0);
	struct fe_queue		*q;
	struct fe_buf		 b[3];
	struct vring_desc	*t;
	uint32_t		 id, len;
	int			 h1, h2;

	ck_assert_ptr_nonnull(fe);
	/* The split driver's own layout: pinned in the packed pass too. */
	fe->packed = 0;
	ck_assert_int_eq(fe_queue_init(fe, 0, 8), 0);
	q = fe_queue(fe, 0);
	ck_assert_uint_eq(q->desc_gpa % 4096, 0);
	ck_assert_uint_eq(q->used_gpa % 4096, 0);
	b[0].gpa = 0x10000; b[0].len = 10; b[0].write = 0;
	b[1].gpa = 0x20000; b[1].len = 20; b[1].write = 1;
	b[2].gpa = 0x30000; b[2].len = 30; b[2].write = 1;
	h1 = fe_post(fe, 0, b, 3, FE_POST_NOKICK);
	ck_assert_int_eq(h1, 0);
	ck_assert_uint_eq(q->desc[0].flags, VRING_DESC_F_NEXT);
	ck_assert_uint_eq(q->desc[1].flags, VRING_DESC_F_NEXT |
	    VRING_DESC_F_WRITE);
	ck_assert_uint_eq(q->desc[2].flags, VRING_DESC_F_WRITE);
	ck_assert_uint_eq(q->desc[q->desc[0].next].len, 20);
	h2 = fe_post(fe, 0, b, 3, FE_POST_NOKICK | FE_POST_INDIRECT);
	ck_assert_int_eq(h2, 3);
	ck_assert_uint_eq(q->desc[3].flags, VRING_DESC_F_INDIRECT);
	ck_assert_uint_eq(q->desc[3].len, 48);
	t = fe_host(fe, q->desc[3].addr, 48);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t[2].addr, 0x30000);
	ck_assert_uint_eq(t[1].flags, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE);
	ck_assert_uint_eq(q->avail->idx, 2);
	ck_assert_uint_eq(q->nfree, 4);
	ck_assert_int_eq(fe_get_used(fe, 0, &id, &len), 0);
	/* Play the device: complete h2 then h1. */
	q->used->ring[0].id = 3;
	q->used->ring[0].len = 50;
	q->used->ring[1].id = 0;
	q->used->ring[1].len = 7;
	q->used->idx = 2;
	ck_assert_int_eq(fe_get_used(fe, 0, &id, &len), 1);
	ck_assert_uint_eq(id, 3);
	ck_assert_uint_eq(len, 50);
	ck_assert_int_eq(fe_get_used(fe, 0, &id, &len), 1);
	ck_assert_uint_eq(id, 0);
	ck_assert_uint_eq(len, 7);
	ck_assert_uint_eq(q->nfree, 8);
	ck_assert_uint_eq(q->outstanding, 0);
	/* A used entry naming a head that is not outstanding is caught. */
	q->used->ring[2].id = 5;
	q->used->idx = 3;
	ck_assert_int_eq(fe_get_used(fe, 0, &id, &len), -1);
	fe_free(fe);
}
END_TEST

/* ------------------------------------------------------------------ */

/* Negotiation offers what the contract says and refuses unoffered bits. */
START_TEST(test_negotiation)
{
	struct it	 it;
	struct fe	*fe;
	uint64_t	 f, pf, v, bad;
	int		 b;

	it_start(&it, "negotiation", NULL);
	fe = fe_new(it.sock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	ck_assert_int_eq(fe_set_owner(fe), 0);
	ck_assert_int_eq(fe_get_features(fe, &f), 0);
	ck_assert(f & FE_BIT(FE_F_VERSION_1));
	ck_assert(f & FE_BIT(FE_F_INDIRECT_DESC));
	ck_assert(f & FE_BIT(FE_F_EVENT_IDX));
	ck_assert(f & FE_BIT(FE_F_NOTIFY_ON_EMPTY));
	ck_assert(f & FE_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	ck_assert_int_eq(fe_get_protocol_features(fe, &pf), 0);
	ck_assert(pf & FE_BIT(VHOST_USER_PROTOCOL_F_MQ));
	ck_assert(pf & FE_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK));
	ck_assert(pf & FE_BIT(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS));
	ck_assert(pf & FE_BIT(VHOST_USER_PROTOCOL_F_BACKEND_REQ));
	ck_assert(pf & FE_BIT(VHOST_USER_PROTOCOL_F_RESET_DEVICE));
	ck_assert(pf & FE_BIT(VHOST_USER_PROTOCOL_F_LOG_SHMFD));
	ck_assert(pf & FE_BIT(VHOST_USER_PROTOCOL_F_STATUS));
	ck_assert(!(pf & FE_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)));
	/* rng carries its rate-limit period (state_save/state_load). */
	ck_assert(pf & FE_BIT(VHOST_USER_PROTOCOL_F_DEVICE_STATE));
	ck_assert_int_eq(fe_set_protocol_features(fe, pf &
	    FE_WANT_PROTOCOL), 0);
	ck_assert_int_eq(fe->reply_ack, 1);
	ck_assert_int_eq(fe_get_queue_num(fe, &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(fe_get_max_mem_slots(fe, &v), 0);
	ck_assert_uint_eq(v, 509);
	/* A bit not offered is refused (REPLY_ACK says so) ... */
	bad = 0;
	for (b = 63; b >= 0 && bad == 0; b--) {
		if (!(f & FE_BIT(b)))
			bad = FE_BIT(b);
	}
	ck_assert(bad != 0);
	ck_assert_int_eq(fe_set_features(fe, (f & FE_WANT_FEATURES) | bad), 1);
	/* ... and the connection goes on; the offered set is accepted. */
	ck_assert_int_eq(fe_get_features(fe, &v), 0);
	ck_assert(v == f);
	ck_assert_int_eq(fe_set_features(fe, f & FE_WANT_FEATURES), 0);
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	ck_assert_int_eq(fe_queue_setup(fe, 0, IT_QSIZE), 0);
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	it_read_some(fe);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* 1 MiB in 64-byte requests: all full length, no two chunks equal. */
START_TEST(test_entropy_small_requests)
{
	struct it	 it;
	struct fe	*fe;
	uint8_t		*buf;
	size_t		 len = 1u << 20, i, nz = 0;

	it_start(&it, "entropy_small", NULL);
	fe = it_fe(it.sock);
	ck_assert(fe->event_idx);
	buf = calloc(1, len);
	it_read(fe, buf, len, 64, 1, 0);
	for (i = 0; i < len; i++)
		nz += buf[i] != 0;
	ck_assert_uint_gt(nz, len - len / 64);
	qsort(buf, len / 64, 64, it_cmp64);
	for (i = 1; i < len / 64; i++)
		ck_assert_msg(memcmp(buf + (i - 1) * 64, buf + i * 64, 64) != 0,
		    "two equal 64-byte chunks");
	free(buf);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* Big multi-descriptor and indirect chains are filled completely. */
START_TEST(test_entropy_chains)
{
	struct it	 it;
	struct fe	*fe;
	uint8_t		*buf;
	size_t		 len = 64u << 10, i;

	it_start(&it, "entropy_chains", NULL);
	fe = it_fe(it.sock);
	buf = calloc(1, len);
	/* 16 KiB requests of 8 descriptors. */
	it_read(fe, buf, len, 16u << 10, 8, 0);
	/* 64 KiB in one request of 16 indirect descriptors. */
	memset(buf, 0, len);
	it_read(fe, buf, len, len, 16, 1);
	for (i = 0; i + 4096 <= len; i += 4096)
		ck_assert_msg(memcmp(buf + i, buf + (i + 4096) % len, 4096)
		    != 0, "repeated 4 KiB block");
	/* 4 KiB requests of 64 indirect descriptors of 64 bytes. */
	it_read(fe, buf, len, 4096, 64, 1);
	free(buf);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* A buffer straddling two memory regions is filled on both sides. */
START_TEST(test_entropy_straddle)
{
	struct it	 it;
	struct fe	*fe;
	struct fe_buf	 b[2];
	uint8_t		 out[512];
	uint64_t	 gpa = (2u << 20) - 256;
	uint32_t	 id, len;
	int		 h, i, nz0 = 0, nz1 = 0;

	it_start(&it, "entropy_straddle", NULL);
	fe = it_fe(it.sock);
	ck_assert_int_eq(fe_fill(fe, gpa, 0, 512), 0);
	b[0].gpa = gpa;
	b[0].len = 512;
	b[0].write = 1;
	h = fe_post(fe, 0, b, 1, 0);
	ck_assert_int_ge(h, 0);
	ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, 5000), 1);
	ck_assert_uint_eq(id, (unsigned)h);
	ck_assert_uint_eq(len, 512);
	ck_assert_int_eq(fe_read(fe, gpa, out, 512), 0);
	for (i = 0; i < 256; i++) {
		nz0 += out[i] != 0;
		nz1 += out[256 + i] != 0;
	}
	ck_assert_int_gt(nz0, 200);
	ck_assert_int_gt(nz1, 200);
	/* The same through an indirect table, two descriptors. */
	ck_assert_int_eq(fe_fill(fe, gpa, 0, 512), 0);
	b[0].len = 300;
	b[1].gpa = gpa + 300;
	b[1].len = 212;
	b[1].write = 1;
	h = fe_post(fe, 0, b, 2, FE_POST_INDIRECT);
	ck_assert_int_ge(h, 0);
	ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, 5000), 1);
	ck_assert_uint_eq(len, 512);
	ck_assert_int_eq(fe_read(fe, gpa + 256, out, 256), 0);
	for (i = 0, nz1 = 0; i < 256; i++)
		nz1 += out[i] != 0;
	ck_assert_int_gt(nz1, 200);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* Without EVENT_IDX interrupts still arrive and entropy flows. */
START_TEST(test_entropy_no_event_idx)
{
	struct it	 it;
	struct fe	*fe;
	uint8_t		*buf;

	it_start(&it, "entropy_no_event_idx", NULL);
	fe = fe_new(it.sock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	ck_assert_int_eq(fe_negotiate(fe, FE_WANT_FEATURES &
	    ~FE_BIT(FE_F_EVENT_IDX), FE_WANT_PROTOCOL), 0);
	ck_assert(!fe->event_idx);
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	ck_assert_int_eq(fe_queue_setup(fe, 0, IT_QSIZE), 0);
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	buf = malloc(256u << 10);
	it_read(fe, buf, 256u << 10, 64, 1, 0);
	free(buf);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* Poll for one used entry without touching used_event. */
static void
it_poll_used(struct fe *fe, uint32_t want_len)
{
	int64_t		deadline = fe_now_ms() + 3000;
	uint32_t	id, len;
	int		r;

	while ((r = fe_get_used(fe, 0, &id, &len)) == 0 &&
	    fe_now_ms() < deadline)
		usleep(500);
	ck_assert_msg(r == 1, "no used entry: %s", fe_error());
	ck_assert_uint_eq(len, want_len);
}

/*
 * With EVENT_IDX the device interrupts only when used_event is passed.
 * NOTIFY_ON_EMPTY is left out: with it the device must interrupt each
 * time the ring runs empty.
 */
START_TEST(test_event_idx_suppression)
{
	struct it	 it;
	struct fe	*fe;
	struct fe_buf	 b;
	uint8_t		 buf[4096];
	int		 i;

	it_start(&it, "event_idx_suppression", NULL);
	fe = fe_new(it.sock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	ck_assert_int_eq(fe_negotiate(fe, FE_WANT_FEATURES &
	    ~FE_BIT(FE_F_NOTIFY_ON_EMPTY), FE_WANT_PROTOCOL), 0);
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	ck_assert_int_eq(fe_queue_setup(fe, 0, IT_QSIZE), 0);
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	ck_assert(fe->event_idx);
	it_read(fe, buf, sizeof buf, 64, 1, 0);
	fe_wait_call(fe, 0, 0);
	/* Ask for an interrupt after the 5th next entry only. */
	fe_set_used_event(fe, 0, 4);
	b.gpa = fe_alloc(fe, 64, 64);
	b.len = 64;
	b.write = 1;
	for (i = 0; i < 4; i++) {
		ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
		it_poll_used(fe, 64);
	}
	ck_assert_msg(fe_wait_call(fe, 0, 100) == 0,
	    "interrupt before used_event was passed");
	ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	it_poll_used(fe, 64);
	ck_assert_msg(fe_wait_call(fe, 0, 2000) == 1,
	    "no interrupt when used_event was passed");
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* With NOTIFY_ON_EMPTY the device interrupts when the ring runs empty,
 * even when used_event says not yet. */
START_TEST(test_notify_on_empty)
{
	struct it	 it;
	struct fe	*fe;
	struct fe_buf	 b;
	uint8_t		 buf[4096];

	it_start(&it, "notify_on_empty", NULL);
	fe = it_fe(it.sock);
	ck_assert(fe->acked & FE_BIT(FE_F_NOTIFY_ON_EMPTY));
	it_read(fe, buf, sizeof buf, 64, 1, 0);
	fe_wait_call(fe, 0, 0);
	fe_set_used_event(fe, 0, 100);
	b.gpa = fe_alloc(fe, 64, 64);
	b.len = 64;
	b.write = 1;
	ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	ck_assert_msg(fe_wait_call(fe, 0, 2000) == 1,
	    "no interrupt when the ring ran empty");
	it_poll_used(fe, 64);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* With a file source the device returns exactly the file's bytes. */
START_TEST(test_rng_file_source)
{
	struct it	 it;
	struct fe	*fe;
	uint8_t		*data, *got;
	size_t		 len = 20000, i;
	const char	*path;
	char		 opt[700];
	const char	*extra[3];
	struct fe_daemon *tmp;

	data = malloc(len);
	got = calloc(1, len);
	for (i = 0; i < len; i++)
		data[i] = (uint8_t)((i * 2654435761u) >> 13);
	/* The file lives in its own dir: the daemon's is made by it_start. */
	tmp = fe_daemon_new("rng_file_source-data");
	path = fe_daemon_write_file(tmp, "source.bin", data, len);
	ck_assert_ptr_nonnull(path);
	snprintf(opt, sizeof opt, "source=%s", path);
	extra[0] = "--option";
	extra[1] = opt;
	extra[2] = NULL;
	it_start(&it, "rng_file_source", extra);
	fe = it_fe(it.sock);
	it_read(fe, got, len, 1000, 1, 0);
	ck_assert_mem_eq(got, data, len);
	it_close(&it, fe, 1);
	it_stop(&it);
	fe_daemon_free(tmp);
	free(data);
	free(got);
}
END_TEST

/* max-bytes=4096 per 200 ms: 16 KiB take three extra periods. */
START_TEST(test_rate_limit)
{
	static const char *const extra[] = { "--option", "max-bytes=4096",
	    "--option", "period=200", NULL };
	struct it		 it;
	struct fe		*fe;
	struct fe_rng_stats	 st;
	uint8_t			*buf;

	it_start(&it, "rate_limit", extra);
	fe = it_fe(it.sock);
	buf = malloc(16u << 10);
	ck_assert_int_eq(fe_rng_read(fe, 0, buf, 16u << 10, 64, 128, 1, 0,
	    &st), 0);
	ck_assert_uint_eq(st.bytes, 16u << 10);
	ck_assert_uint_eq(st.requests, 256);
	ck_assert_uint_eq(st.short_replies, 0);
	ck_assert_msg(st.elapsed_ms >= 550, "16 KiB in %lld ms",
	    (long long)st.elapsed_ms);
	free(buf);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* A frontend can leave cleanly or abruptly and the next one works. */
START_TEST(test_reconnect)
{
	struct it	 it;
	struct fe	*fe;
	struct fe_buf	 b;
	int		 i, round;

	it_start(&it, "reconnect", NULL);
	fe = it_fe(it.sock);
	it_read_some(fe);
	it_close(&it, fe, 1);
	fe = it_fe(it.sock);
	it_read_some(fe);
	it_close(&it, fe, 2);
	ck_assert_int_ge(fe_daemon_log_count(it.d, "frontend connected"), 2);
	/* Abrupt: buffers outstanding when the socket goes away. */
	for (round = 0; round < 3; round++) {
		fe = it_fe(it.sock);
		b.len = 4096;
		b.write = 1;
		for (i = 0; i < 128; i++) {
			b.gpa = fe_alloc(fe, 4096, 64);
			ck_assert(b.gpa != 0);
			ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
		}
		it_close(&it, fe, 3 + round);
	}
	fe = it_fe(it.sock);
	it_read_some(fe);
	it_close(&it, fe, 6);
	it_stop(&it);
}
END_TEST

/* A second frontend is refused while one is connected. */
START_TEST(test_second_connection)
{
	struct it	 it;
	struct fe	*fe;
	int		 fd;

	it_start(&it, "second_connection", NULL);
	fe = it_fe(it.sock);
	it_read_some(fe);
	fd = fe_sock_connect(it.sock, 2000);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fe_sock_send(fd, VHOST_USER_GET_FEATURES,
	    VHOST_USER_VERSION, 0, NULL, 0, NULL, 0) == 0 ||
	    errno == EPIPE || errno == ECONNRESET, 1);
	ck_assert_msg(fe_sock_wait_closed(fd, 3000) == 1,
	    "second connection not closed");
	close(fd);
	ck_assert_int_eq(fe_daemon_wait_log(it.d, "connection refused: a "
	    "frontend is already connected", 1, 2000), 0);
	it_read_some(fe);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* Two devices from a config file serve at once, independently. */
START_TEST(test_two_devices_config)
{
	struct fe_daemon	*d;
	struct fe		*a, *b;
	const char		*sa, *sb, *conf, *args[2], *socks[3];
	char			 text[2048], confarg[700];
	uint8_t			*buf;
	int			 i;
	struct fe_buf		 fb;

	d = fe_daemon_new("two_devices_config");
	sa = fe_daemon_path(d, "a.sock");
	sb = fe_daemon_path(d, "b.sock");
	snprintf(text, sizeof text,
	    "# two rng devices\n"
	    "device \"rngA\" {\n\tmodule rng\n\tsocket \"%s\"\n}\n"
	    "device \"rngB\" {\n\tmodule rng\n\tsocket \"%s\"\n"
	    "\tqueue-mask 0x1\n}\n", sa, sb);
	conf = fe_daemon_write_file(d, "vhostd.conf", text, strlen(text));
	snprintf(confarg, sizeof confarg, "--config=%s", conf);
	args[0] = confarg;
	args[1] = NULL;
	socks[0] = sa;
	socks[1] = sb;
	socks[2] = NULL;
	ck_assert_msg(fe_daemon_start(d, args, socks, IT_START_MS) == 0,
	    "start: %s", fe_error());
	ck_assert_int_eq(fe_daemon_wait_log(d, "listening on", 2, 5000), 0);
	a = it_fe(sa);
	b = it_fe(sb);
	buf = malloc(64u << 10);
	for (i = 0; i < 8; i++) {
		it_read(a, buf, 16u << 10, 256, 1, 0);
		it_read(b, buf, 16u << 10, 256, 1, 0);
	}
	/* Kill A's frontend abruptly mid-traffic; B goes on. */
	fb.len = 1024;
	fb.write = 1;
	for (i = 0; i < 64; i++) {
		fb.gpa = fe_alloc(a, 1024, 64);
		ck_assert_int_ge(fe_post(a, 0, &fb, 1, 0), 0);
	}
	fe_free(a);
	it_read(b, buf, 64u << 10, 64, 1, 0);
	ck_assert_int_eq(fe_daemon_wait_log(d, "rngA: frontend disconnected",
	    1, 5000), 0);
	ck_assert_int_eq(fe_daemon_log_count(d, "rngB: frontend disconnected"),
	    0);
	/* A accepts a new frontend. */
	a = it_fe(sa);
	it_read(a, buf, 16u << 10, 64, 1, 0);
	it_read(b, buf, 16u << 10, 64, 1, 0);
	fe_free(a);
	fe_free(b);
	free(buf);
	ck_assert_int_eq(fe_daemon_wait_log(d, "frontend disconnected", 3,
	    5000), 0);
	ck_assert_int_eq(fe_daemon_stop(d, IT_STOP_MS), 0);
	fe_daemon_free(d);
}
END_TEST

/* --socket-count=2 makes two independent devices rng0 and rng1. */
START_TEST(test_socket_count)
{
	struct fe_daemon	*d;
	struct fe		*a, *b;
	const char		*base, *s0, *s1, *args[5], *socks[3];
	char			 sockarg[700];
	uint8_t			 buf[8192];

	d = fe_daemon_new("socket_count");
	base = fe_daemon_path(d, "dev");
	s0 = fe_daemon_path(d, "dev0");
	s1 = fe_daemon_path(d, "dev1");
	snprintf(sockarg, sizeof sockarg, "--socket=%s", base);
	args[0] = "--module=rng";
	args[1] = sockarg;
	args[2] = "--socket-count=2";
	args[3] = NULL;
	socks[0] = s0;
	socks[1] = s1;
	socks[2] = NULL;
	ck_assert_msg(fe_daemon_start(d, args, socks, IT_START_MS) == 0,
	    "start: %s", fe_error());
	a = it_fe(s0);
	b = it_fe(s1);
	it_read(a, buf, sizeof buf, 64, 1, 0);
	it_read(b, buf, sizeof buf, 64, 1, 0);
	fe_free(a);
	it_read(b, buf, sizeof buf, 64, 1, 0);
	ck_assert_int_eq(fe_daemon_wait_log(d, "rng0: frontend disconnected",
	    1, 5000), 0);
	ck_assert_int_eq(fe_daemon_log_count(d, "rng1: frontend disconnected"),
	    0);
	fe_free(b);
	ck_assert_int_eq(fe_daemon_wait_log(d, "frontend disconnected", 2,
	    5000), 0);
	ck_assert_int_eq(fe_daemon_stop(d, IT_STOP_MS), 0);
	fe_daemon_free(d);
}
END_TEST

/* --queue-mask=0x0,0x1 runs queue 0 on worker 1. */
START_TEST(test_queue_mask)
{
	static const char *const extra[] = { "--queue-mask=0x0,0x1", NULL };
	struct it	 it;
	struct fe	*fe;

	it_start(&it, "queue_mask", extra);
	fe = it_fe(it.sock);
	it_read_some(fe);
	ck_assert_int_eq(fe_daemon_wait_log(it.d,
	    "rng0: queue 0 started on worker 1", 1, 2000), 0);
	it_close(&it, fe, 1);
	ck_assert_int_eq(fe_daemon_wait_log(it.d, "rng0: queue 0 stopped", 1,
	    2000), 0);
	it_stop(&it);
}
END_TEST

/* Memory regions come and go while requests are in flight. */
START_TEST(test_mem_hotplug)
{
	static const unsigned	 first[] = { 0, 1 };
	struct it		 it;
	struct fe		*fe;
	struct fe_queue		*q;
	struct fe_buf		 b;
	uint8_t			 buf[4096], data[4096];
	uint32_t		 id, len;
	uint64_t		 gpa3;
	int			 r3, i, n, h, nz;

	it_start(&it, "mem_hotplug", NULL);
	fe = fe_new(it.sock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	fe->regions[2].no_alloc = 1;
	ck_assert_int_eq(fe_negotiate(fe, FE_WANT_FEATURES, FE_WANT_PROTOCOL),
	    0);
	ck_assert(fe->acked_protocol &
	    FE_BIT(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS));
	ck_assert_int_eq(fe_set_mem_table(fe, first, 2), 0);
	ck_assert_int_eq(fe_queue_setup(fe, 0, IT_QSIZE), 0);
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	q = fe_queue(fe, 0);
	it_read(fe, buf, sizeof buf, 64, 1, 0);

	/* Add region 2 (16 MiB) and a new region 3 (64 MiB, offset 4 KiB)
	 * while 32 requests are in flight. */
	b.len = 64;
	b.write = 1;
	for (i = 0; i < 32; i++) {
		b.gpa = fe_alloc_in(fe, 0, 64, 64);
		ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	}
	ck_assert_int_eq(fe_add_mem_reg(fe, 2), 0);
	r3 = fe_region_add(fe, 64u << 20, 1u << 20, 4096);
	ck_assert_int_eq(r3, 3);
	ck_assert_int_eq(fe_add_mem_reg(fe, 3), 0);
	for (n = 0; n < 32; n++) {
		ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, 5000), 1);
		ck_assert_uint_eq(len, 64);
	}
	/* Buffers in the new regions are filled. */
	gpa3 = fe_alloc_in(fe, 3, 4096, 64);
	ck_assert(gpa3 != 0);
	ck_assert_int_eq(fe_fill(fe, gpa3, 0, 4096), 0);
	b.gpa = gpa3;
	b.len = 4096;
	h = fe_post(fe, 0, &b, 1, 0);
	ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, 5000), 1);
	ck_assert_uint_eq(id, (unsigned)h);
	ck_assert_uint_eq(len, 4096);
	ck_assert_int_eq(fe_read(fe, gpa3, data, 4096), 0);
	for (i = 0, nz = 0; i < 4096; i++)
		nz += data[i] != 0;
	ck_assert_int_gt(nz, 3500);
	b.gpa = fe_alloc_in(fe, 2, 512, 64);
	b.len = 512;
	ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, 5000), 1);
	ck_assert_uint_eq(len, 512);

	/* Remove region 1 (no rings, no buffers) with requests in flight
	 * in region 0, then region 3. */
	b.len = 64;
	for (i = 0; i < 32; i++) {
		b.gpa = fe_alloc_in(fe, 0, 64, 64);
		ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	}
	ck_assert_int_eq(fe_rem_mem_reg(fe, 1), 0);
	for (n = 0; n < 32; n++) {
		ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, 5000), 1);
		ck_assert_uint_eq(len, 64);
	}
	ck_assert_int_eq(fe_rem_mem_reg(fe, 3), 0);
	/* Removing it again is refused. */
	ck_assert_int_eq(fe_rem_mem_reg(fe, 3), 1);
	it_read(fe, buf, sizeof buf, 64, 1, 0);
	ck_assert_int_eq(fe_wait_err(fe, 0, 0), 0);
	ck_assert_uint_eq(q->outstanding, 0);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* A kick sent before SET_VRING_ENABLE(1) is not lost (rust-vmm/vhost#247). */
START_TEST(test_lost_kick)
{
	struct it	 it;
	struct fe	*fe;
	struct fe_buf	 b;
	uint32_t	 id, len;
	int		 i, n;

	it_start(&it, "lost_kick", NULL);
	fe = fe_new(it.sock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	ck_assert_int_eq(fe_negotiate(fe, FE_WANT_FEATURES, FE_WANT_PROTOCOL),
	    0);
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	ck_assert_int_eq(fe_queue_setup(fe, 0, IT_QSIZE), 0);
	b.len = 128;
	b.write = 1;
	for (i = 0; i < 4; i++) {
		b.gpa = fe_alloc(fe, 128, 64);
		ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	}
	/* A disabled ring is not processed. */
	ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, 300), 0);
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	for (n = 0; n < 4; n++) {
		ck_assert_msg(fe_wait_used(fe, 0, &id, &len, 3000) == 1,
		    "request %d lost after enable: %s", n, fe_error());
		ck_assert_uint_eq(len, 128);
	}
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* GET_VRING_BASE reports the next avail index; a new frontend resumes. */
START_TEST(test_vring_base_resume)
{
	struct it	 it;
	struct fe	*fe;
	uint8_t		 buf[64 * 1000];
	uint32_t	 base;

	it_start(&it, "vring_base_resume", NULL);
	fe = it_fe(it.sock);
	it_read(fe, buf, 64 * 1000, 64, 1, 0);
	/* Either layout: the pause gives the count of chains before the
	 * base and keeps the base itself in q->base for the restart. */
	ck_assert_int_eq(fe_queue_pause(fe, 0, &base), 0);
	ck_assert_uint_eq(base, 1000);
	ck_assert_int_eq(fe_daemon_wait_log(it.d, "rng0: queue 0 stopped", 1,
	    2000), 0);
	/* A new connection hands over the same rings at that index. */
	ck_assert_int_eq(fe_reconnect(fe, NULL), 0);
	ck_assert_int_eq(fe_daemon_wait_log(it.d, "frontend disconnected", 1,
	    5000), 0);
	ck_assert_int_eq(fe_start(fe, IT_QSIZE), 0);
	it_read(fe, buf, 64 * 100, 64, 1, 0);
	ck_assert_int_eq(fe_queue_pause(fe, 0, &base), 0);
	ck_assert_uint_eq(base, 1100);
	it_close(&it, fe, 2);

	/* Starting near 65535, the 16-bit split index wraps (packed wrap
	 * counters: check_packed). */
	fe = fe_new(it.sock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	fe->packed = 0;
	fe_queue(fe, 0)->base = 65530;
	ck_assert_int_eq(fe_start(fe, IT_QSIZE), 0);
	it_read(fe, buf, 64 * 20, 64, 1, 0);
	ck_assert_int_eq(fe_get_vring_base(fe, 0, &base), 0);
	ck_assert_uint_eq(base, (65530 + 20) & 0xffff);
	it_close(&it, fe, 3);
	it_stop(&it);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Malformed input: one daemon per kind; afterwards it is alive and a   */
/* well-behaved frontend gets entropy.                                  */

enum it_setup {
	IT_CONNECTED,		/* just connected */
	IT_NEGOTIATED,		/* owner, features, REPLY_ACK */
	IT_MEMORY,		/* + SET_MEM_TABLE */
	IT_RUNNING,		/* + queue 0 set up and enabled */
	IT_NO_PROTOCOL,		/* running without PROTOCOL_FEATURES */
};

struct it_bad {
	const char	*name;
	enum it_setup	 setup;
	void		(*run)(struct fe *, struct fe_daemon *);
};

/* Send a raw message with NEED_REPLY; expect a non-zero ack and a
 * connection that keeps working, or (may_close) the connection closed. */
static void
it_expect_nack(struct fe *fe, uint32_t req, uint32_t flags, uint32_t hsize,
    const void *p, size_t len, const int *fds, int nfds, int may_close)
{
	struct fe_msg	m;
	uint64_t	f;
	int		r;

	ck_assert_int_eq(fe_sock_send(fe->fd, req, flags |
	    VHOST_USER_NEED_REPLY_MASK, hsize, p, len, fds, nfds), 0);
	r = fe_sock_recv(fe->fd, &m, 3000);
	if (r == 0) {
		ck_assert_msg(may_close, "%s: connection closed instead of "
		    "an error reply", fe_request_name(req));
		return;
	}
	ck_assert_msg(r == 1, "%s: no reply: %s", fe_request_name(req),
	    fe_error());
	fe_msg_close_fds(&m);
	ck_assert_uint_eq(m.hdr.request, req);
	ck_assert(m.hdr.flags & VHOST_USER_REPLY_MASK);
	ck_assert_msg(m.hdr.size == 8 && fe_msg_u64(&m) != 0,
	    "%s: reply size %u u64 %llu, want a non-zero ack",
	    fe_request_name(req), m.hdr.size,
	    (unsigned long long)fe_msg_u64(&m));
	ck_assert_msg(fe_get_features(fe, &f) == 0, "after %s: %s",
	    fe_request_name(req), fe_error());
}

/* A request through fe_request_ack must be refused, connection kept. */
static void
it_nack_ack(struct fe *fe, uint32_t req, const void *p, uint32_t size,
    const int *fds, int nfds)
{
	it_expect_nack(fe, req, VHOST_USER_VERSION, size, p, size, fds, nfds,
	    0);
}

/* After a message with no reply: the connection answers GET_FEATURES or
 * is closed; it must not hang. */
static void
it_expect_alive_or_closed(struct fe *fe)
{
	struct fe_msg	m;
	int		r;

	if (fe_sock_send(fe->fd, VHOST_USER_GET_FEATURES, VHOST_USER_VERSION,
	    0, NULL, 0, NULL, 0) == -1)
		return;
	r = fe_sock_recv(fe->fd, &m, 3000);
	ck_assert_msg(r != -1, "no reply and no close: %s", fe_error());
	if (r == 1) {
		ck_assert_uint_eq(m.hdr.request, VHOST_USER_GET_FEATURES);
		ck_assert_uint_eq(m.hdr.size, 8);
		fe_msg_close_fds(&m);
	}
}

/* A GET-type request must get an error reply (size 0, a non-zero u64,
 * an empty config) or a close; never what looks like success. */
static void
it_expect_error_reply(struct fe *fe, uint32_t req, const void *p,
    uint32_t size, uint32_t ok_size)
{
	struct fe_msg	m;
	uint64_t	f;
	uint32_t	csize;
	int		r;

	ck_assert_int_eq(fe_sock_send(fe->fd, req, VHOST_USER_VERSION |
	    VHOST_USER_NEED_REPLY_MASK, size, p, size, NULL, 0), 0);
	r = fe_sock_recv(fe->fd, &m, 3000);
	if (r == 0)
		return;
	ck_assert_msg(r == 1, "%s: no reply: %s", fe_request_name(req),
	    fe_error());
	fe_msg_close_fds(&m);
	ck_assert_uint_eq(m.hdr.request, req);
	if (req == VHOST_USER_GET_CONFIG && m.hdr.size >=
	    VHOST_USER_CONFIG_HDR_SIZE) {
		memcpy(&csize, m.payload + 4, 4);
		ck_assert_msg(m.hdr.size == VHOST_USER_CONFIG_HDR_SIZE &&
		    csize == 0, "GET_CONFIG: reply size %u config size %u",
		    m.hdr.size, csize);
	} else
		ck_assert_msg(m.hdr.size == 0 || m.hdr.size != ok_size ||
		    (m.hdr.size == 8 && fe_msg_u64(&m) != 0 &&
		    ok_size != 8), "%s: reply size %u looks like success",
		    fe_request_name(req), m.hdr.size);
	ck_assert_msg(fe_get_features(fe, &f) == 0, "after %s: %s",
	    fe_request_name(req), fe_error());
}

/* Wait until the read end of a pipe sees EOF (all write ends closed). */
static int
it_pipe_closed(int rfd, int timeout_ms)
{
	struct pollfd	pfd;
	char		c;

	pfd.fd = rfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, timeout_ms) != 1)
		return (0);
	return (read(rfd, &c, 1) == 0);
}

/* Request 0 with NEED_REPLY. */
static void
it_bad_req0(struct fe *fe, struct fe_daemon *d)
{
	(void)d;
	it_expect_nack(fe, 0, VHOST_USER_VERSION, 0, NULL, 0, NULL, 0, 1);
}

/* Request 255 with NEED_REPLY: unknown, refused, connection kept. */
static void
it_bad_req255(struct fe *fe, struct fe_daemon *d)
{
	(void)d;
	it_expect_nack(fe, 255, VHOST_USER_VERSION, 0, NULL, 0, NULL, 0, 0);
}

/* Request 1000 with a payload and NEED_REPLY. */
static void
it_bad_req1000(struct fe *fe, struct fe_daemon *d)
{
	uint64_t	v = 42;

	(void)d;
	it_expect_nack(fe, 1000, VHOST_USER_VERSION, 8, &v, 8, NULL, 0, 0);
}

/* The first unknown request number without NEED_REPLY. */
static void
it_bad_req_max(struct fe *fe, struct fe_daemon *d)
{
	(void)d;
	ck_assert_int_eq(fe_sock_send(fe->fd, VHOST_USER_MAX,
	    VHOST_USER_VERSION, 0, NULL, 0, NULL, 0), 0);
	it_expect_alive_or_closed(fe);
}

/* Half a header, then the frontend goes away. */
static void
it_bad_short_header(struct fe *fe, struct fe_daemon *d)
{
	uint8_t	hdr[6] = { 1, 0, 0, 0, 1, 0 };

	(void)d;
	ck_assert_int_eq(fe_sock_send_raw(fe->fd, hdr, sizeof hdr, NULL, 0),
	    0);
	fe_disconnect(fe);
}

/* A header claiming 5000 payload bytes (all sent). */
static void
it_bad_big_payload(struct fe *fe, struct fe_daemon *d)
{
	uint8_t	*p = calloc(1, 5000);

	(void)d;
	it_expect_nack(fe, VHOST_USER_SET_FEATURES, VHOST_USER_VERSION, 5000,
	    p, 5000, NULL, 0, 1);
	free(p);
}

/* A header claiming 4 GiB of payload: must be closed, not waited on. */
static void
it_bad_huge_size(struct fe *fe, struct fe_daemon *d)
{
	(void)d;
	ck_assert_int_eq(fe_sock_send(fe->fd, VHOST_USER_SET_MEM_TABLE,
	    VHOST_USER_VERSION, 0xffffffffu, NULL, 0, NULL, 0), 0);
	ck_assert_msg(fe_sock_wait_closed(fe->fd, 3000) == 1,
	    "connection not closed");
}

/* Payload sizes that do not match the request. */
static void
it_bad_sizes(struct fe *fe, struct fe_daemon *d)
{
	uint8_t	p[64];

	(void)d;
	memset(p, 0, sizeof p);
	it_expect_nack(fe, VHOST_USER_SET_FEATURES, VHOST_USER_VERSION, 4, p,
	    4, NULL, 0, 1);
	if (fe_sock_wait_closed(fe->fd, 0))
		return;
	it_expect_nack(fe, VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION, 4, p,
	    4, NULL, 0, 1);
	if (fe_sock_wait_closed(fe->fd, 0))
		return;
	it_expect_nack(fe, VHOST_USER_SET_VRING_ADDR, VHOST_USER_VERSION, 16,
	    p, 16, NULL, 0, 1);
	if (fe_sock_wait_closed(fe->fd, 0))
		return;
	it_expect_nack(fe, VHOST_USER_SET_VRING_BASE, VHOST_USER_VERSION, 12,
	    p, 12, NULL, 0, 1);
	if (fe_sock_wait_closed(fe->fd, 0))
		return;
	it_expect_nack(fe, VHOST_USER_SET_PROTOCOL_FEATURES,
	    VHOST_USER_VERSION, 0, p, 0, NULL, 0, 1);
}

/* GET_CONFIG whose payload is shorter than the config header. */
static void
it_bad_get_config_size(struct fe *fe, struct fe_daemon *d)
{
	uint8_t	p[4] = { 0 };

	(void)d;
	it_expect_error_reply(fe, VHOST_USER_GET_CONFIG, p, sizeof p, ~0u);
}

/* Build a SET_MEM_TABLE payload from wire regions. */
static uint32_t
it_mem_payload(uint8_t *buf, uint32_t nregions,
    const struct vhost_user_mem_region *r, unsigned n)
{
	struct vhost_user_memory	m;

	m.nregions = nregions;
	m.padding = 0;
	memcpy(buf, &m, 8);
	if (n > 0)
		memcpy(buf + 8, r, n * sizeof *r);
	return ((uint32_t)(8 + n * sizeof *r));
}

/* A wire region from local region i. */
static struct vhost_user_mem_region
it_wire(struct fe *fe, unsigned i)
{
	struct vhost_user_mem_region	w;

	w.guest_phys_addr = fe->regions[i].gpa;
	w.memory_size = fe->regions[i].size;
	w.userspace_addr = (uint64_t)(uintptr_t)fe->regions[i].host;
	w.mmap_offset = fe->regions[i].offset;
	return (w);
}

/* SET_MEM_TABLE with 0 regions. */
static void
it_bad_mem_zero_regions(struct fe *fe, struct fe_daemon *d)
{
	uint8_t	p[8];

	(void)d;
	it_mem_payload(p, 0, NULL, 0);
	it_nack_ack(fe, VHOST_USER_SET_MEM_TABLE, p, 8, NULL, 0);
}

/* SET_MEM_TABLE with 9 regions (8 fds: the most one message carries). */
static void
it_bad_mem_nine_regions(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_region	w[9];
	uint8_t				p[8 + sizeof w];
	int				fds[8];
	unsigned			i;
	uint32_t			size;

	(void)d;
	for (i = 0; i < 9; i++) {
		w[i] = it_wire(fe, 0);
		w[i].memory_size = 4096;
		w[i].guest_phys_addr = i * 4096;
		w[i].userspace_addr += i * 4096;
		w[i].mmap_offset = i * 4096;
		if (i < 8)
			fds[i] = fe->regions[0].fd;
	}
	size = it_mem_payload(p, 9, w, 9);
	it_expect_nack(fe, VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, size,
	    p, size, fds, 8, 1);
}

/* SET_MEM_TABLE with 2 regions and 1 fd; nregions and size disagree. */
static void
it_bad_mem_fd_count(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_region	w[2];
	uint8_t				p[8 + sizeof w];
	uint32_t			size;
	int				fds[2];

	(void)d;
	w[0] = it_wire(fe, 0);
	w[1] = it_wire(fe, 2);
	fds[0] = fe->regions[0].fd;
	fds[1] = fe->regions[2].fd;
	size = it_mem_payload(p, 2, w, 2);
	it_expect_nack(fe, VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, size,
	    p, size, fds, 1, 1);
	if (fe_sock_wait_closed(fe->fd, 0))
		return;
	/* nregions 2 but only one region's bytes. */
	size = it_mem_payload(p, 2, w, 1);
	it_expect_nack(fe, VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, size,
	    p, size, fds, 2, 1);
}

/* SET_MEM_TABLE with mmap_offset past the end of the memfd. */
static void
it_bad_mem_offset(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_region	w;
	uint8_t				p[8 + sizeof w];
	uint32_t			size;

	(void)d;
	w = it_wire(fe, 0);
	w.mmap_offset = 64u << 20;
	size = it_mem_payload(p, 1, &w, 1);
	it_nack_ack(fe, VHOST_USER_SET_MEM_TABLE, p, size,
	    &fe->regions[0].fd, 1);
	/* offset + size overflows 64 bits. */
	w.mmap_offset = ~0ull - 4095;
	size = it_mem_payload(p, 1, &w, 1);
	it_nack_ack(fe, VHOST_USER_SET_MEM_TABLE, p, size,
	    &fe->regions[0].fd, 1);
	/* size reaches past the end of the file. */
	w = it_wire(fe, 1);
	w.memory_size += 4096;
	size = it_mem_payload(p, 1, &w, 1);
	it_nack_ack(fe, VHOST_USER_SET_MEM_TABLE, p, size,
	    &fe->regions[1].fd, 1);
}

/* SET_MEM_TABLE with overlapping guest ranges. */
static void
it_bad_mem_overlap(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_region	w[2];
	uint8_t				p[8 + sizeof w];
	uint32_t			size;
	int				fds[2];

	(void)d;
	w[0] = it_wire(fe, 0);
	w[1] = it_wire(fe, 2);
	w[1].guest_phys_addr = 1u << 20;	/* inside region 0 */
	fds[0] = fe->regions[0].fd;
	fds[1] = fe->regions[2].fd;
	size = it_mem_payload(p, 2, w, 2);
	it_nack_ack(fe, VHOST_USER_SET_MEM_TABLE, p, size, fds, 2);
}

/* SET_MEM_TABLE with a zero-size region. */
static void
it_bad_mem_zero_size(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_region	w;
	uint8_t				p[8 + sizeof w];
	uint32_t			size;

	(void)d;
	w = it_wire(fe, 0);
	w.memory_size = 0;
	size = it_mem_payload(p, 1, &w, 1);
	it_nack_ack(fe, VHOST_USER_SET_MEM_TABLE, p, size,
	    &fe->regions[0].fd, 1);
}

/* SET_MEM_TABLE whose fd cannot be mapped (an eventfd). */
static void
it_bad_mem_not_mappable(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_region	w;
	uint8_t				p[8 + sizeof w];
	uint32_t			size;
	int				efd = eventfd(0, 0);

	(void)d;
	w = it_wire(fe, 0);
	size = it_mem_payload(p, 1, &w, 1);
	it_nack_ack(fe, VHOST_USER_SET_MEM_TABLE, p, size, &efd, 1);
	close(efd);
}

/* fds attached to GET_FEATURES are closed by the daemon. */
static void
it_bad_fds_get_features(struct fe *fe, struct fe_daemon *d)
{
	struct fe_msg	m;
	int		pfd[2], fds[3], r;

	(void)d;
	ck_assert_int_eq(pipe(pfd), 0);
	fds[0] = fds[1] = fds[2] = pfd[1];
	ck_assert_int_eq(fe_sock_send(fe->fd, VHOST_USER_GET_FEATURES,
	    VHOST_USER_VERSION, 0, NULL, 0, fds, 3), 0);
	close(pfd[1]);
	r = fe_sock_recv(fe->fd, &m, 3000);
	ck_assert_int_ne(r, -1);
	if (r == 1) {
		ck_assert_uint_eq(m.hdr.request, VHOST_USER_GET_FEATURES);
		fe_msg_close_fds(&m);
	}
	ck_assert_msg(it_pipe_closed(pfd[0], 3000), "fds leaked by vhostd");
	close(pfd[0]);
}

/* More fds than a message may carry (12) on SET_FEATURES. */
static void
it_bad_too_many_fds(struct fe *fe, struct fe_daemon *d)
{
	int		pfd[2], fds[12], i;
	uint64_t	v = fe->acked;

	(void)d;
	ck_assert_int_eq(pipe(pfd), 0);
	for (i = 0; i < 12; i++)
		fds[i] = pfd[1];
	it_expect_nack(fe, VHOST_USER_SET_FEATURES, VHOST_USER_VERSION, 8, &v,
	    8, fds, 12, 1);
	close(pfd[1]);
	ck_assert_msg(it_pipe_closed(pfd[0], 3000), "fds leaked by vhostd");
	close(pfd[0]);
}

/* An fd on SET_FEATURES, which takes none. */
static void
it_bad_fd_set_features(struct fe *fe, struct fe_daemon *d)
{
	int		pfd[2];
	uint64_t	v = fe->acked;

	(void)d;
	ck_assert_int_eq(pipe(pfd), 0);
	it_expect_nack(fe, VHOST_USER_SET_FEATURES, VHOST_USER_VERSION, 8, &v,
	    8, &pfd[1], 1, 1);
	close(pfd[1]);
	ck_assert_msg(it_pipe_closed(pfd[0], 3000), "fd leaked by vhostd");
	close(pfd[0]);
}

/* SET_VRING_KICK without an fd and without the NOFD flag. */
static void
it_bad_kick_nofd(struct fe *fe, struct fe_daemon *d)
{
	uint64_t	v = 0;

	(void)d;
	it_expect_nack(fe, VHOST_USER_SET_VRING_KICK, VHOST_USER_VERSION, 8,
	    &v, 8, NULL, 0, 1);
}

/* Vring index out of range in every vring message. */
static void
it_bad_vring_index(struct fe *fe, struct fe_daemon *d)
{
	static const uint32_t		 idx[] = { 1, 255, 0x10000 };
	static const uint32_t		 state_reqs[] = {
		VHOST_USER_SET_VRING_NUM, VHOST_USER_SET_VRING_BASE,
		VHOST_USER_SET_VRING_ENABLE,
	};
	static const uint32_t		 fd_reqs[] = {
		VHOST_USER_SET_VRING_KICK, VHOST_USER_SET_VRING_CALL,
		VHOST_USER_SET_VRING_ERR,
	};
	struct vhost_user_vring_state	 s;
	struct vhost_user_vring_addr	 a;
	struct fe_queue			*q = fe_queue(fe, 0);
	unsigned			 i, k;
	uint64_t			 v;
	int				 efd;

	(void)d;
	for (i = 0; i < 3; i++) {
		for (k = 0; k < 3; k++) {
			s.index = idx[i];
			s.num = k == 2 ? 1 : 64;
			it_nack_ack(fe, state_reqs[k], &s, sizeof s, NULL, 0);
		}
		memset(&a, 0, sizeof a);
		a.index = idx[i];
		a.desc_user_addr = (uint64_t)(uintptr_t)q->desc;
		a.avail_user_addr = (uint64_t)(uintptr_t)q->avail;
		a.used_user_addr = (uint64_t)(uintptr_t)q->used;
		it_nack_ack(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL,
		    0);
		if (idx[i] <= 0xff) {
			for (k = 0; k < 3; k++) {
				efd = eventfd(0, 0);
				v = idx[i];
				it_nack_ack(fe, fd_reqs[k], &v, 8, &efd, 1);
				close(efd);
			}
		}
		if (idx[i] != 1) {
			s.index = idx[i];
			s.num = 0;
			it_expect_error_reply(fe, VHOST_USER_GET_VRING_BASE,
			    &s, sizeof s, ~0u);
		}
	}
}

/* SET_VRING_NUM of 0, 3 and 65536. */
static void
it_bad_vring_num(struct fe *fe, struct fe_daemon *d)
{
	static const uint32_t		nums[] = { 0, 3, 65536, 0xffffffffu };
	struct vhost_user_vring_state	s;
	unsigned			i;

	(void)d;
	for (i = 0; i < 4; i++) {
		s.index = 0;
		s.num = nums[i];
		it_nack_ack(fe, VHOST_USER_SET_VRING_NUM, &s, sizeof s, NULL, 0);
	}
}

/* SET_VRING_ADDR with addresses outside guest memory. */
static void
it_bad_vring_addr(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_vring_addr	a;
	struct fe_queue			*q;
	uint64_t			gap, end;
	unsigned			i;

	(void)d;
	ck_assert_int_eq(fe_queue_init(fe, 0, 64), 0);
	q = fe_queue(fe, 0);
	ck_assert_int_eq(fe_vring_state(fe, VHOST_USER_SET_VRING_NUM, 0, 64),
	    0);
	memset(&a, 0, sizeof a);
	a.index = 0;
	a.desc_user_addr = 0x10;	/* nobody's address */
	a.avail_user_addr = (uint64_t)(uintptr_t)q->avail;
	a.used_user_addr = (uint64_t)(uintptr_t)q->used;
	it_nack_ack(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL, 0);
	/* Used ring just past the end of the highest region: no region
	 * can hold it, wherever the allocator put the mappings. */
	gap = 0;
	for (i = 0; i < fe->nregions; i++) {
		end = (uint64_t)(uintptr_t)fe->regions[i].host +
		    fe->regions[i].size;
		if (end > gap)
			gap = end;
	}
	a.desc_user_addr = (uint64_t)(uintptr_t)q->desc;
	a.used_user_addr = gap;
	it_nack_ack(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL, 0);
	/* Avail ring straddling the end of that region. */
	a.used_user_addr = (uint64_t)(uintptr_t)q->used;
	a.avail_user_addr = gap - 8;
	it_nack_ack(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL, 0);
}

/* SET_VRING_ENABLE(0) before PROTOCOL_FEATURES is acked is not obeyed:
 * the ring (enabled from the start in that mode) keeps working. */
static void
it_bad_enable_early(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_vring_state	s;

	(void)d;
	s.index = 0;
	s.num = 0;
	ck_assert_int_eq(fe_sock_send(fe->fd, VHOST_USER_SET_VRING_ENABLE,
	    VHOST_USER_VERSION, sizeof s, &s, sizeof s, NULL, 0), 0);
	if (fe_sock_wait_closed(fe->fd, 200))
		return;
	it_read_some(fe);
}

/* GET_CONFIG past the (empty) rng config space. */
static void
it_bad_get_config(struct fe *fe, struct fe_daemon *d)
{
	uint8_t				p[VHOST_USER_CONFIG_HDR_SIZE + 256];
	struct vhost_user_config	c;

	(void)d;
	memset(p, 0, sizeof p);
	c.offset = 0;
	c.size = 256;
	c.flags = 0;
	memcpy(p, &c, VHOST_USER_CONFIG_HDR_SIZE);
	it_expect_error_reply(fe, VHOST_USER_GET_CONFIG, p, sizeof p, ~0u);
	c.offset = 0x1000;
	c.size = 4;
	memcpy(p, &c, VHOST_USER_CONFIG_HDR_SIZE);
	it_expect_error_reply(fe, VHOST_USER_GET_CONFIG, p,
	    VHOST_USER_CONFIG_HDR_SIZE + 4, ~0u);
	/* Claimed size larger than the payload carries. */
	c.offset = 0;
	c.size = 200;
	memcpy(p, &c, VHOST_USER_CONFIG_HDR_SIZE);
	it_expect_error_reply(fe, VHOST_USER_GET_CONFIG, p,
	    VHOST_USER_CONFIG_HDR_SIZE + 4, ~0u);
}

/* ADD_MEM_REG without an fd. */
static void
it_bad_add_mem_nofd(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_reg_msg	m;

	(void)d;
	memset(&m, 0, sizeof m);
	m.region = it_wire(fe, 2);
	it_expect_nack(fe, VHOST_USER_ADD_MEM_REG, VHOST_USER_VERSION,
	    sizeof m, &m, sizeof m, NULL, 0, 1);
}

/* ADD_MEM_REG overlapping a present region. */
static void
it_bad_add_mem_overlap(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_reg_msg	m;

	(void)d;
	memset(&m, 0, sizeof m);
	m.region = it_wire(fe, 2);
	m.region.guest_phys_addr = 4096;
	it_nack_ack(fe, VHOST_USER_ADD_MEM_REG, &m, sizeof m,
	    &fe->regions[2].fd, 1);
}

/* REM_MEM_REG of a region that is not there. */
static void
it_bad_rem_mem(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_reg_msg	m;

	(void)d;
	memset(&m, 0, sizeof m);
	m.region = it_wire(fe, 2);
	m.region.guest_phys_addr = 256u << 20;
	it_nack_ack(fe, VHOST_USER_REM_MEM_REG, &m, sizeof m, NULL, 0);
	/* Right address, wrong size. */
	m.region = it_wire(fe, 0);
	m.region.memory_size = 4096;
	it_nack_ack(fe, VHOST_USER_REM_MEM_REG, &m, sizeof m, NULL, 0);
}

/* Wrong version bits in the header flags. */
static void
it_bad_version(struct fe *fe, struct fe_daemon *d)
{
	uint64_t	v = fe->acked;

	(void)d;
	it_expect_nack(fe, VHOST_USER_SET_FEATURES, 0x0, 8, &v, 8, NULL, 0,
	    1);
	if (fe_sock_wait_closed(fe->fd, 0))
		return;
	it_expect_nack(fe, VHOST_USER_SET_FEATURES, 0x2, 8, &v, 8, NULL, 0,
	    1);
}

/* Requests for features that were not negotiated (SET_LOG_BASE without
 * LOG_SHMFD, SET_INFLIGHT_FD, SET_STATUS). */
static void
it_bad_unnegotiated(struct fe *fe, struct fe_daemon *d)
{
	struct fe_msg	m;
	uint64_t	f;
	uint8_t		p[40];
	int		mfd = fe->regions[0].fd;

	(void)d;
	memset(p, 0, sizeof p);
	/* SET_LOG_BASE has a reply of its own (QEMU reads one): empty. */
	ck_assert_int_eq(fe_sock_send(fe->fd, VHOST_USER_SET_LOG_BASE,
	    VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK, 16, p, 16, &mfd,
	    1), 0);
	ck_assert_int_eq(fe_sock_recv(fe->fd, &m, 3000), 1);
	fe_msg_close_fds(&m);
	ck_assert_uint_eq(m.hdr.request, VHOST_USER_SET_LOG_BASE);
	ck_assert_uint_eq(m.hdr.size, 0);
	ck_assert_int_eq(fe_get_features(fe, &f), 0);
	it_expect_nack(fe, VHOST_USER_SET_STATUS, VHOST_USER_VERSION, 8, p, 8,
	    NULL, 0, 1);
}

/* SET_FEATURES with a bit that was not offered. */
static void
it_bad_unoffered_feature(struct fe *fe, struct fe_daemon *d)
{
	(void)d;
	ck_assert_int_eq(fe_set_features(fe, fe->acked | FE_BIT(63)), 1);
}

/* Expect the device to signal its err eventfd. */
static void
it_expect_err(struct fe *fe, struct fe_daemon *d)
{
	ck_assert_msg(fe_wait_err(fe, 0, 3000) == 1,
	    "err eventfd not signalled");
	ck_assert(fe_daemon_alive(d));
}

/* A descriptor chain that loops. */
static void
it_bad_desc_loop(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue	*q = fe_queue(fe, 0);
	uint64_t	 gpa = fe_alloc(fe, 256, 64);

	q->desc[0].addr = gpa;
	q->desc[0].len = 64;
	q->desc[0].flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;
	q->desc[0].next = 1;
	q->desc[1].addr = gpa + 64;
	q->desc[1].len = 64;
	q->desc[1].flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;
	q->desc[1].next = 0;
	fe_publish_raw(fe, 0, 0);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* next beyond the ring. */
static void
it_bad_desc_next(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	q->desc[0].addr = fe_alloc(fe, 64, 64);
	q->desc[0].len = 64;
	q->desc[0].flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;
	q->desc[0].next = (uint16_t)(q->num + 5);
	fe_publish_raw(fe, 0, 0);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* A buffer outside guest memory (in the gap). */
static void
it_bad_desc_addr(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	q->desc[0].addr = 8u << 20;
	q->desc[0].len = 64;
	q->desc[0].flags = VRING_DESC_F_WRITE;
	fe_publish_raw(fe, 0, 0);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* A buffer running off the end of the last region. */
static void
it_bad_desc_end(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	q->desc[0].addr = (18u << 20) - 16;
	q->desc[0].len = 64;
	q->desc[0].flags = VRING_DESC_F_WRITE;
	fe_publish_raw(fe, 0, 0);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* An indirect table that holds an indirect descriptor. */
static void
it_bad_desc_nested(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue		*q = fe_queue(fe, 0);
	struct vring_desc	 t[2];
	uint64_t		 tg = fe_alloc(fe, sizeof t, 16);

	t[0].addr = tg;
	t[0].len = sizeof t;
	t[0].flags = VRING_DESC_F_INDIRECT;
	t[0].next = 0;
	t[1] = t[0];
	ck_assert_int_eq(fe_write(fe, tg, t, sizeof t), 0);
	q->desc[0].addr = tg;
	q->desc[0].len = sizeof t;
	q->desc[0].flags = VRING_DESC_F_INDIRECT;
	fe_publish_raw(fe, 0, 0);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* An indirect table whose length is not a multiple of 16. */
static void
it_bad_desc_indirect_len(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue		*q = fe_queue(fe, 0);
	struct vring_desc	 t;
	uint64_t		 tg = fe_alloc(fe, 32, 16);

	t.addr = fe_alloc(fe, 64, 64);
	t.len = 64;
	t.flags = VRING_DESC_F_WRITE;
	t.next = 0;
	ck_assert_int_eq(fe_write(fe, tg, &t, sizeof t), 0);
	q->desc[0].addr = tg;
	q->desc[0].len = 20;
	q->desc[0].flags = VRING_DESC_F_INDIRECT;
	fe_publish_raw(fe, 0, 0);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* An indirect table whose next entries loop. */
static void
it_bad_desc_indirect_loop(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue		*q = fe_queue(fe, 0);
	struct vring_desc	 t[2];
	uint64_t		 tg = fe_alloc(fe, sizeof t, 16);
	uint64_t		 buf = fe_alloc(fe, 64, 64);

	t[0].addr = buf;
	t[0].len = 32;
	t[0].flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;
	t[0].next = 1;
	t[1] = t[0];
	t[1].next = 0;
	ck_assert_int_eq(fe_write(fe, tg, t, sizeof t), 0);
	q->desc[0].addr = tg;
	q->desc[0].len = sizeof t;
	q->desc[0].flags = VRING_DESC_F_INDIRECT;
	fe_publish_raw(fe, 0, 0);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* A head index beyond the ring in the avail ring. */
static void
it_bad_avail_head(struct fe *fe, struct fe_daemon *d)
{
	fe_publish_raw(fe, 0, (uint16_t)(fe_queue(fe, 0)->num + 3));
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* avail->idx moved more than the ring size ahead. */
static void
it_bad_avail_idx(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	__atomic_store_n(&q->avail->idx, (uint16_t)(q->avail_idx + q->num +
	    1), __ATOMIC_RELEASE);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

static const struct it_bad it_bad_table[] = {
	{ "request 0", IT_NEGOTIATED, it_bad_req0 },
	{ "request 255", IT_NEGOTIATED, it_bad_req255 },
	{ "request 1000", IT_NEGOTIATED, it_bad_req1000 },
	{ "request MAX without reply", IT_NEGOTIATED, it_bad_req_max },
	{ "short header", IT_CONNECTED, it_bad_short_header },
	{ "payload over 4096", IT_NEGOTIATED, it_bad_big_payload },
	{ "payload size 4 GiB", IT_NEGOTIATED, it_bad_huge_size },
	{ "wrong payload sizes", IT_NEGOTIATED, it_bad_sizes },
	{ "GET_CONFIG short payload", IT_NEGOTIATED, it_bad_get_config_size },
	{ "SET_MEM_TABLE 0 regions", IT_NEGOTIATED, it_bad_mem_zero_regions },
	{ "SET_MEM_TABLE 9 regions", IT_NEGOTIATED, it_bad_mem_nine_regions },
	{ "SET_MEM_TABLE fd count", IT_NEGOTIATED, it_bad_mem_fd_count },
	{ "SET_MEM_TABLE offset", IT_NEGOTIATED, it_bad_mem_offset },
	{ "SET_MEM_TABLE overlap", IT_NEGOTIATED, it_bad_mem_overlap },
	{ "SET_MEM_TABLE zero size", IT_NEGOTIATED, it_bad_mem_zero_size },
	{ "SET_MEM_TABLE eventfd", IT_NEGOTIATED, it_bad_mem_not_mappable },
	{ "fds on GET_FEATURES", IT_NEGOTIATED, it_bad_fds_get_features },
	{ "12 fds", IT_NEGOTIATED, it_bad_too_many_fds },
	{ "fd on SET_FEATURES", IT_NEGOTIATED, it_bad_fd_set_features },
	{ "SET_VRING_KICK no fd", IT_MEMORY, it_bad_kick_nofd },
	{ "vring index", IT_RUNNING, it_bad_vring_index },
	{ "SET_VRING_NUM", IT_MEMORY, it_bad_vring_num },
	{ "SET_VRING_ADDR", IT_MEMORY, it_bad_vring_addr },
	{ "SET_VRING_ENABLE early", IT_NO_PROTOCOL, it_bad_enable_early },
	{ "GET_CONFIG range", IT_NEGOTIATED, it_bad_get_config },
	{ "ADD_MEM_REG no fd", IT_MEMORY, it_bad_add_mem_nofd },
	{ "ADD_MEM_REG overlap", IT_MEMORY, it_bad_add_mem_overlap },
	{ "REM_MEM_REG missing", IT_MEMORY, it_bad_rem_mem },
	{ "version bits", IT_NEGOTIATED, it_bad_version },
	{ "unnegotiated requests", IT_NEGOTIATED, it_bad_unnegotiated },
	{ "unoffered feature", IT_NEGOTIATED, it_bad_unoffered_feature },
	{ "descriptor loop", IT_RUNNING, it_bad_desc_loop },
	{ "descriptor next", IT_RUNNING, it_bad_desc_next },
	{ "descriptor address", IT_RUNNING, it_bad_desc_addr },
	{ "descriptor end", IT_RUNNING, it_bad_desc_end },
	{ "nested indirect", IT_RUNNING, it_bad_desc_nested },
	{ "indirect length", IT_RUNNING, it_bad_desc_indirect_len },
	{ "indirect loop", IT_RUNNING, it_bad_desc_indirect_loop },
	{ "avail head", IT_RUNNING, it_bad_avail_head },
	{ "avail idx", IT_RUNNING, it_bad_avail_idx },
};
#define IT_NBAD ((int)(sizeof it_bad_table / sizeof it_bad_table[0]))

/* Bring a frontend to the state a bad case starts from. */
static void
it_bad_setup(struct fe *fe, enum it_setup setup)
{
	uint64_t	want = FE_WANT_FEATURES;

	if (setup == IT_CONNECTED)
		return;
	if (setup == IT_NO_PROTOCOL)
		want &= ~FE_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	ck_assert_msg(fe_negotiate(fe, want, FE_WANT_PROTOCOL) == 0,
	    "negotiate: %s", fe_error());
	if (setup == IT_NEGOTIATED)
		return;
	ck_assert_msg(fe_set_mem_table(fe, NULL, 0) == 0, "mem: %s",
	    fe_error());
	if (setup == IT_MEMORY)
		return;
	ck_assert_msg(fe_queue_setup(fe, 0, IT_QSIZE) == 0, "queue: %s",
	    fe_error());
	if (setup == IT_RUNNING)
		ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
}

/* One kind of bad input; then the daemon lives and serves a new
 * frontend, and exits cleanly. */
START_TEST(test_malformed)
{
	const struct it_bad	*bad = &it_bad_table[_i];
	struct it		 it;
	struct fe		*fe;
	char			 name[128];

	snprintf(name, sizeof name, "malformed: %s", bad->name);
	it_start(&it, name, NULL);
	fe = fe_new(it.sock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	/* Split-ring hostile cases (packed ones: check_packed_hostile). */
	fe->packed = 0;
	it_bad_setup(fe, bad->setup);
	bad->run(fe, it.d);
	ck_assert_msg(fe_daemon_alive(it.d), "%s: vhostd died", bad->name);
	it_close(&it, fe, 1);
	fe = it_fe(it.sock);
	it_read_some(fe);
	it_close(&it, fe, 2);
	it_stop(&it);
}
END_TEST

/* ------------------------------------------------------------------ */

/* Print the logs of daemons whose tests failed.  Runs in the runner. */
static void
it_reap(void)
{
	fe_tmp_reap();
}

/* Build the suite. */
static Suite *
integration_suite(void)
{
	Suite	*s = suite_create("integration");
	TCase	*tc;

	tc = tcase_create("fe");
	tcase_add_test(tc, test_fe_loopback);
	tcase_add_test(tc, test_fe_guest_mem);
	tcase_add_test(tc, test_fe_driver);
	suite_add_tcase(s, tc);

	tc = tcase_create("negotiation");
	tcase_add_unchecked_fixture(tc, NULL, it_reap);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_negotiation);
	suite_add_tcase(s, tc);

	tc = tcase_create("entropy");
	tcase_add_unchecked_fixture(tc, NULL, it_reap);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_entropy_small_requests);
	tcase_add_test(tc, test_entropy_chains);
	tcase_add_test(tc, test_entropy_straddle);
	tcase_add_test(tc, test_entropy_no_event_idx);
	tcase_add_test(tc, test_event_idx_suppression);
	tcase_add_test(tc, test_notify_on_empty);
	tcase_add_test(tc, test_rng_file_source);
	tcase_add_test(tc, test_rate_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("connections");
	tcase_add_unchecked_fixture(tc, NULL, it_reap);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reconnect);
	tcase_add_test(tc, test_second_connection);
	tcase_add_test(tc, test_two_devices_config);
	tcase_add_test(tc, test_socket_count);
	tcase_add_test(tc, test_queue_mask);
	suite_add_tcase(s, tc);

	tc = tcase_create("vrings");
	tcase_add_unchecked_fixture(tc, NULL, it_reap);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mem_hotplug);
	tcase_add_test(tc, test_lost_kick);
	tcase_add_test(tc, test_vring_base_resume);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_unchecked_fixture(tc, NULL, it_reap);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_malformed, 0, IT_NBAD);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1) {
		fprintf(stderr, "check_integration: %s\n", fe_error());
		return (1);
	}
	sr = srunner_create(integration_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
