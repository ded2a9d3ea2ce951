/*
 * Integration suite, the frontend and the handshake: the test frontend
 * library itself without a daemon (messages and fds over a socketpair,
 * guest memory, the driver's chains), then a live vhostd's feature
 * negotiation.  Harness: tests/integration_harness.[ch].
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

/* ------------------------------------------------------------------ */

/* Build the suite. */
static Suite *
integration_fe_suite(void)
{
	Suite	*s = suite_create("integration_fe");
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
	return (s);
}

int
main(void)
{
	return (it_main("check_integration_fe", integration_fe_suite()));
}
