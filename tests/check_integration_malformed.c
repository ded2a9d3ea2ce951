/*
 * Integration suite, malformed input: one daemon per kind of bad message
 * or guest input; afterwards the daemon is alive, a well-behaved frontend
 * gets entropy and the daemon exits cleanly.  The message cases are here,
 * those on guest memory and rings in tests/integration_malformed_ring.c.
 * Harness: tests/integration_harness.[ch].
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
#include "integration_harness.h"
#include "integration_malformed.h"

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
void
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
void
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
void
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

/* Build the suite. */
static Suite *
integration_malformed_suite(void)
{
	Suite	*s = suite_create("integration_malformed");
	TCase	*tc;

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
	return (it_main("check_integration_malformed",
	    integration_malformed_suite()));
}
