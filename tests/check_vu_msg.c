/*
 * Suite "vu_msg": the vhost-user request handling of a device, driven over
 * its real unix socket with raw messages: negotiation, REPLY_ACK, payload
 * sizes, fds, bad indexes, unknown requests and versions, partial
 * messages, the config space.  Memory and rings are in check_vu_msg_mem,
 * connections and the device's life in check_vu_msg_device; the harness
 * (the in-test device and the raw frontend) in tests/vu_msg_harness.[ch].
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <vhostd/vhostd.h>

#include "compat.h"
#include "conf.h"
#include "device.h"
#include "guest_mem.h"
#include "log.h"
#include "vhost_user.h"
#include "vu_conn.h"
#include "vu_msg_harness.h"

/* Negotiation: features offered, protocol features offered and not. */
START_TEST(test_negotiation)
{
	uint64_t	 f, pf;
	int		 fd = tfe_connect();

	f = tfe_get_u64(fd, VHOST_USER_GET_FEATURES);
	ck_assert(f & (1ULL << VHD_F_VERSION_1));
	ck_assert(f & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
	ck_assert(f & (1ULL << VHD_F_EVENT_IDX));
	ck_assert(f & (1ULL << VHD_F_INDIRECT_DESC));
	ck_assert(f & (1ULL << 0));
	ck_assert(f & (1ULL << VHOST_F_LOG_ALL));
	tfe_send(fd, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
	pf = tfe_get_u64(fd, VHOST_USER_GET_PROTOCOL_FEATURES);
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_MQ));
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK));
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_CONFIG));
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_BACKEND_REQ));
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS));
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_RESET_DEVICE));
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_LOG_SHMFD));
	ck_assert((pf & (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)) == 0);
	ck_assert((pf & (1ULL << VHOST_USER_PROTOCOL_F_SHARED_OBJECT)) == 0);
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_STATUS));
	tfe_send(fd, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &pf, sizeof pf,
	    NULL, 0);
	ck_assert_uint_eq(tfe_get_u64(fd, VHOST_USER_GET_QUEUE_NUM), 2);
	ck_assert_uint_eq(tfe_get_u64(fd, VHOST_USER_GET_MAX_MEM_SLOTS), 509);
	ck_assert_uint_eq(tfe_ack_u64(fd, VHOST_USER_SET_FEATURES, f), 0);
	ck_assert_uint_eq(tfe_ack_u64(fd, VHOST_USER_SET_FEATURES,
	    f | (1ULL << 60)), 1);
	ck_assert_uint_eq(tfe_ack_u64(fd, VHOST_USER_SET_PROTOCOL_FEATURES,
	    pf | (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)), 1);
	close(fd);
}
END_TEST

/* REPLY_ACK: 0 on success, 1 on failure; no ack before negotiation. */
START_TEST(test_reply_ack)
{
	int	 fd = tfe_connect();

	/* Not negotiated yet: NEED_REPLY on a known request is ignored. */
	tfe_send(fd, VHOST_USER_SET_OWNER, T_NEED, NULL, 0, NULL, 0);
	tfe_alive(fd);
	close(fd);
	/* Wait for the disconnect to be processed before reconnecting. */
	t_wait_resets(1);

	fd = tfe_negotiate();
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0),
	    1);		/* already owned */
	ck_assert_uint_eq(tfe_ack_u64(fd, VHOST_USER_SET_FEATURES,
	    1ULL << VHD_F_VERSION_1), 0);
	tfe_alive(fd);
	close(fd);
}
END_TEST

/* Payloads shorter or longer than the table says: error, kept alive. */
START_TEST(test_payload_size)
{
	uint8_t		 big[16] = { 0 };
	int		 fd = tfe_negotiate();

	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_FEATURES, big, 4, NULL,
	    0), 1);
	tfe_alive(fd);
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_FEATURES, big, 16, NULL,
	    0), 1);
	tfe_alive(fd);
	/* A request with its own reply gets a zero-size error reply. */
	tfe_send(fd, VHOST_USER_GET_FEATURES, 0, big, 8, NULL, 0);
	ck_assert_uint_eq(tfe_recv(fd, VHOST_USER_GET_FEATURES, big,
	    sizeof big), 0);
	tfe_send(fd, VHOST_USER_GET_VRING_BASE, 0, big, 4, NULL, 0);
	ck_assert_uint_eq(tfe_recv(fd, VHOST_USER_GET_VRING_BASE, big,
	    sizeof big), 0);
	/* Without NEED_REPLY nothing is sent back. */
	tfe_send(fd, VHOST_USER_SET_FEATURES, 0, big, 2, NULL, 0);
	tfe_alive(fd);
	close(fd);
}
END_TEST

/* A payload larger than VHOST_USER_MAX_PAYLOAD drops the connection. */
START_TEST(test_payload_too_large)
{
	struct vhost_user_header hdr = { VHOST_USER_SET_FEATURES,
	    VHOST_USER_VERSION, VHOST_USER_MAX_PAYLOAD + 1 };
	int	 fd = tfe_connect();

	ck_assert_int_eq(send(fd, &hdr, sizeof hdr, MSG_NOSIGNAL),
	    (ssize_t)sizeof hdr);
	tfe_closed(fd);
	close(fd);
}
END_TEST

/* Wrong fd counts: error, every fd closed, kept alive. */
START_TEST(test_fd_count)
{
	uint64_t	 v = 0;
	int		 rd, rd2, fds[2], fd = tfe_negotiate();

	/* An fd with a request that takes none. */
	fds[0] = t_pipe(&rd);
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_FEATURES, &v, sizeof v,
	    fds, 1), 1);
	close(fds[0]);
	t_pipe_closed(rd);
	tfe_alive(fd);

	/* SET_VRING_CALL without NOFD and without an fd. */
	ck_assert_uint_eq(tfe_ack_u64(fd, VHOST_USER_SET_VRING_CALL, 0), 1);
	/* With NOFD but an fd attached. */
	fds[0] = t_pipe(&rd);
	v = VHOST_USER_VRING_NOFD_MASK;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_CALL, &v, sizeof v,
	    fds, 1), 1);
	close(fds[0]);
	t_pipe_closed(rd);
	/* Two fds. */
	fds[0] = t_pipe(&rd);
	fds[1] = t_pipe(&rd2);
	v = 0;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_CALL, &v, sizeof v,
	    fds, 2), 1);
	close(fds[0]);
	close(fds[1]);
	t_pipe_closed(rd);
	t_pipe_closed(rd2);
	/* One fd: accepted. */
	fds[0] = eventfd(0, EFD_CLOEXEC);
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_CALL, &v, sizeof v,
	    fds, 1), 0);
	close(fds[0]);
	tfe_alive(fd);
	close(fd);
}
END_TEST

/* Out-of-range queue indices on every ring message. */
START_TEST(test_bad_index)
{
	struct vhost_user_vring_state	 st = { 2, 64 };
	struct vhost_user_vring_addr	 a;
	uint8_t				 buf[16];
	uint64_t			 v;
	int				 efd, fd = tfe_negotiate();

	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0), 1);
	st.index = 0xffffffffu;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_BASE, &st,
	    sizeof st, NULL, 0), 1);
	memset(&a, 0, sizeof a);
	a.index = 65536 + 0;	/* truncated to 16 bits would be 0 */
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_ADDR, &a,
	    sizeof a, NULL, 0), 1);
	efd = eventfd(0, EFD_CLOEXEC);
	v = 5;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_KICK, &v, sizeof v,
	    &efd, 1), 1);
	v = 0x200;		/* an unknown bit above NOFD */
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_ERR, &v, sizeof v,
	    &efd, 1), 1);
	close(efd);
	st.index = 0;
	st.num = 1;
	/* SET_VRING_ENABLE needs PROTOCOL_FEATURES acked. */
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_ENABLE, &st,
	    sizeof st, NULL, 0), 1);
	ck_assert_uint_eq(tfe_ack_u64(fd, VHOST_USER_SET_FEATURES,
	    (1ULL << VHD_F_VERSION_1) |
	    (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)), 0);
	st.index = 7;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_ENABLE, &st,
	    sizeof st, NULL, 0), 1);
	st.index = 1;
	st.num = 2;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_ENABLE, &st,
	    sizeof st, NULL, 0), 1);
	st.index = 7;
	tfe_send(fd, VHOST_USER_GET_VRING_BASE, 0, &st, sizeof st, NULL, 0);
	ck_assert_uint_eq(tfe_recv(fd, VHOST_USER_GET_VRING_BASE, buf,
	    sizeof buf), 0);
	/* Bad sizes: not a power of two, too large. */
	st.index = 1;
	st.num = 100;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0), 1);
	st.num = 2048;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0), 1);
	st.num = 256;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0), 0);
	st.num = 0x10000;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_BASE, &st,
	    sizeof st, NULL, 0), 1);
	tfe_alive(fd);
	close(fd);
}
END_TEST

/* Unknown and unimplemented requests, request 0: error, kept alive. */
START_TEST(test_unknown_request)
{
	uint8_t		 buf[16];
	uint64_t	 v = 0;
	int		 rd, wr, fd = tfe_connect();

	/* Known to NEED_REPLY even before REPLY_ACK is negotiated. */
	tfe_send(fd, 99, T_NEED, NULL, 0, NULL, 0);
	ck_assert_uint_eq(tfe_recv_u64(fd, 99), 1);
	tfe_send(fd, VHOST_USER_NONE, T_NEED, NULL, 0, NULL, 0);
	ck_assert_uint_eq(tfe_recv_u64(fd, VHOST_USER_NONE), 1);
	tfe_send(fd, VHOST_USER_MAX, 0, &v, sizeof v, NULL, 0);
	tfe_alive(fd);
	/* A log fd that is not an eventfd: refused, the fd is closed. */
	wr = t_pipe(&rd);
	tfe_send(fd, VHOST_USER_SET_LOG_FD, 0, NULL, 0, &wr, 1);
	close(wr);
	t_pipe_closed(rd);
	tfe_alive(fd);
	/* Not negotiated (GET_STATUS) or unimplemented, with a reply of
	 * its own: a zero-size reply. */
	tfe_send(fd, VHOST_USER_GET_STATUS, 0, NULL, 0, NULL, 0);
	ck_assert_uint_eq(tfe_recv(fd, VHOST_USER_GET_STATUS, buf,
	    sizeof buf), 0);
	tfe_send(fd, VHOST_USER_GET_INFLIGHT_FD, 0, buf, 16, NULL, 0);
	ck_assert_uint_eq(tfe_recv(fd, VHOST_USER_GET_INFLIGHT_FD, buf,
	    sizeof buf), 0);
	/* Gated by a protocol feature that is not negotiated. */
	tfe_send(fd, VHOST_USER_GET_QUEUE_NUM, 0, NULL, 0, NULL, 0);
	ck_assert_uint_eq(tfe_recv(fd, VHOST_USER_GET_QUEUE_NUM, buf,
	    sizeof buf), 0);
	tfe_alive(fd);
	ck_assert_str_eq(vhost_user_request_name(VHOST_USER_GET_CONFIG),
	    "GET_CONFIG");
	ck_assert_str_eq(vhost_user_request_name(1000), "unknown");
	close(fd);
}
END_TEST

/* Wrong version bits drop the connection; the next one is served. */
START_TEST(test_bad_version)
{
	int	 fd = tfe_connect();

	tfe_send_raw(fd, VHOST_USER_GET_FEATURES, 0x2, NULL, 0, NULL, 0);
	tfe_closed(fd);
	close(fd);
	t_wait_resets(1);
	fd = tfe_connect();
	tfe_alive(fd);
	close(fd);
}
END_TEST

/* GET_CONFIG/SET_CONFIG: in range works, out of range and overflow get
 * the zero-length error reply. */
START_TEST(test_config)
{
	struct {
		struct vhost_user_config c;
		uint8_t			 b[8];
	} __attribute__((packed)) cfg, out;
	int	 fd = tfe_negotiate();

	memset(&cfg, 0, sizeof cfg);
	cfg.c.offset = 0;
	cfg.c.size = 8;
	tfe_send(fd, VHOST_USER_GET_CONFIG, 0, &cfg, sizeof cfg, NULL, 0);
	ck_assert_uint_eq(tfe_recv(fd, VHOST_USER_GET_CONFIG, &out,
	    sizeof out), sizeof out);
	ck_assert_uint_eq(out.c.size, 8);
	ck_assert_uint_eq(out.b[0], 1);
	ck_assert_uint_eq(out.b[7], 8);

	cfg.c.offset = 4;	/* 4 + 8 > 8 */
	tfe_send(fd, VHOST_USER_GET_CONFIG, 0, &cfg, sizeof cfg, NULL, 0);
	ck_assert_uint_eq(tfe_recv(fd, VHOST_USER_GET_CONFIG, &out,
	    sizeof out), 0);
	cfg.c.offset = 0xfffffffcu;	/* wraps in 32 bits */
	tfe_send(fd, VHOST_USER_GET_CONFIG, 0, &cfg, sizeof cfg, NULL, 0);
	ck_assert_uint_eq(tfe_recv(fd, VHOST_USER_GET_CONFIG, &out,
	    sizeof out), 0);
	cfg.c.offset = 0;
	cfg.c.size = 4;		/* does not match the payload */
	tfe_send(fd, VHOST_USER_GET_CONFIG, 0, &cfg, sizeof cfg, NULL, 0);
	ck_assert_uint_eq(tfe_recv(fd, VHOST_USER_GET_CONFIG, &out,
	    sizeof out), 0);

	cfg.c.offset = 2;
	cfg.c.size = 2;
	cfg.b[0] = 0xaa;
	cfg.b[1] = 0xbb;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_CONFIG, &cfg,
	    VHOST_USER_CONFIG_HDR_SIZE + 2, NULL, 0), 0);
	cfg.c.offset = 7;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_CONFIG, &cfg,
	    VHOST_USER_CONFIG_HDR_SIZE + 2, NULL, 0), 1);
	cfg.c.offset = 0;
	cfg.c.size = 8;
	tfe_send(fd, VHOST_USER_GET_CONFIG, 0, &cfg, sizeof cfg, NULL, 0);
	ck_assert_uint_eq(tfe_recv(fd, VHOST_USER_GET_CONFIG, &out,
	    sizeof out), sizeof out);
	ck_assert_uint_eq(out.b[2], 0xaa);
	ck_assert_uint_eq(out.b[3], 0xbb);
	close(fd);
}
END_TEST

/* More fds than a message may carry: the connection is dropped and every
 * fd closed; the next frontend is served. */
START_TEST(test_too_many_fds)
{
	uint64_t	 v = 0;
	int		 fds[VHOST_USER_MAX_FDS + 2];
	int		 rd[VHOST_USER_MAX_FDS + 2];
	int		 fd = tfe_connect();
	unsigned	 i;

	for (i = 0; i < nitems(fds); i++)
		fds[i] = t_pipe(&rd[i]);
	tfe_send(fd, VHOST_USER_SET_FEATURES, 0, &v, sizeof v, fds,
	    nitems(fds));
	tfe_closed(fd);
	close(fd);
	for (i = 0; i < nitems(fds); i++) {
		close(fds[i]);
		t_pipe_closed(rd[i]);
	}
	t_wait_resets(1);
	fd = tfe_connect();
	tfe_alive(fd);
	close(fd);
}
END_TEST

/* A message arriving in pieces does not block the main loop: another
 * connection is handled while it is partial, and it completes later. */
START_TEST(test_partial_message)
{
	struct vhost_user_header hdr = { VHOST_USER_SET_FEATURES,
	    VHOST_USER_VERSION | T_NEED, 8 };
	uint64_t	 v = 1ULL << VHD_F_VERSION_1;
	int		 fd = tfe_negotiate(), fd2;

	ck_assert_int_eq(send(fd, &hdr, 5, MSG_NOSIGNAL), 5);
	usleep(50000);
	fd2 = tfe_connect();
	tfe_closed(fd2);		/* refused while fd is mid-message */
	close(fd2);
	ck_assert_int_eq(send(fd, (uint8_t *)&hdr + 5, sizeof hdr - 5,
	    MSG_NOSIGNAL), (ssize_t)(sizeof hdr - 5));
	usleep(50000);
	ck_assert_int_eq(send(fd, &v, 3, MSG_NOSIGNAL), 3);
	usleep(50000);
	ck_assert_int_eq(send(fd, (uint8_t *)&v + 3, 5, MSG_NOSIGNAL), 5);
	ck_assert_uint_eq(tfe_recv_u64(fd, VHOST_USER_SET_FEATURES), 0);
	tfe_alive(fd);
	close(fd);
}
END_TEST

/* The suite. */
static Suite *
vu_msg_suite(void)
{
	Suite	*s = suite_create("vu_msg");
	TCase	*tc;

#define T_ADD(fn) do {							\
	tc = tcase_create(#fn);						\
	tcase_add_checked_fixture(tc, t_setup, t_teardown);		\
	tcase_set_timeout(tc, 30);					\
	tcase_add_test(tc, fn);						\
	suite_add_tcase(s, tc);						\
} while (0)
	T_ADD(test_negotiation);
	T_ADD(test_reply_ack);
	T_ADD(test_payload_size);
	T_ADD(test_payload_too_large);
	T_ADD(test_fd_count);
	T_ADD(test_bad_index);
	T_ADD(test_unknown_request);
	T_ADD(test_bad_version);
	T_ADD(test_config);
	T_ADD(test_too_many_fds);
	T_ADD(test_partial_message);
#undef T_ADD
	return (s);
}

/* Run the suite. */
int
main(void)
{
	return (t_main(vu_msg_suite()));
}
