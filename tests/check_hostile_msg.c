/*
 * Suite "hostile_msg": a hostile frontend's messages against the daemon
 * of hostile_harness.h (rng0 abused, rng1 kept busy, the invariant checked
 * after every case): every request number, wrong payload sizes, fds
 * attached where none belong or missing where they do.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "fe/fe.h"
#include "hostile_harness.h"

/* ------------------------------------------------------------------ */
/* Requests.                                                           */

/* Every request number 0..255 with random payloads and flags, twice
 * over: the connection stays in sync (nothing but framing drops it). */
START_TEST(test_every_request)
{
	struct h	 h;
	struct fe	*fe;
	uint8_t		 payload[4096];
	uint32_t	 req, size, flags;
	unsigned	 round, i;
	char		 what[64];

	h_start(&h, "hostile: every request");
	for (round = 0; round < 2; round++) {
		fe = round == 0 ? h_fe_negotiated(&h) : h_fe(h.sock[0]);
		for (req = 0; req < 256; req++) {
			size = (uint32_t)(h_rand() % 5 == 0 ?
			    h_rand() % sizeof payload : h_rand() % 48);
			for (i = 0; i < size; i++)
				payload[i] = (uint8_t)h_rand();
			flags = VHOST_USER_VERSION |
			    (h_rand() & 1 ? VHOST_USER_NEED_REPLY_MASK : 0);
			ck_assert_int_eq(fe_sock_send(fe->fd, req, flags,
			    size, payload, size, NULL, 0), 0);
			snprintf(what, sizeof what, "request %u size %u",
			    req, size);
			h_sync(fe, what);
		}
		h_close(&h, fe);
		h_check(&h, "every request");
	}
	ck_assert_int_gt(fe_daemon_log_count(h.d, "rng0: unknown (200): "
	    "request not supported"), 0);
	h_stop(&h);
}
END_TEST

/* The size every known fixed-size request must have. */
static const struct {
	uint32_t	req;
	uint32_t	size;
	uint32_t	reply;		/* reply size, ~0u: REPLY_ACK */
} h_sizes[] = {
	{ VHOST_USER_GET_FEATURES, 0, 8 },
	{ VHOST_USER_SET_FEATURES, 8, ~0u },
	{ VHOST_USER_SET_OWNER, 0, ~0u },
	{ VHOST_USER_RESET_OWNER, 0, ~0u },
	{ VHOST_USER_SET_VRING_NUM, 8, ~0u },
	{ VHOST_USER_SET_VRING_ADDR, 40, ~0u },
	{ VHOST_USER_SET_VRING_BASE, 8, ~0u },
	{ VHOST_USER_GET_VRING_BASE, 8, 8 },
	{ VHOST_USER_SET_VRING_KICK, 8, ~0u },
	{ VHOST_USER_SET_VRING_CALL, 8, ~0u },
	{ VHOST_USER_SET_VRING_ERR, 8, ~0u },
	{ VHOST_USER_GET_PROTOCOL_FEATURES, 0, 8 },
	{ VHOST_USER_SET_PROTOCOL_FEATURES, 8, ~0u },
	{ VHOST_USER_GET_QUEUE_NUM, 0, 8 },
	{ VHOST_USER_SET_VRING_ENABLE, 8, ~0u },
	{ VHOST_USER_SET_BACKEND_REQ_FD, 0, ~0u },
	{ VHOST_USER_RESET_DEVICE, 0, ~0u },
	{ VHOST_USER_GET_MAX_MEM_SLOTS, 0, 8 },
	{ VHOST_USER_ADD_MEM_REG, 40, ~0u },
	{ VHOST_USER_REM_MEM_REG, 40, ~0u },
};

/* Wrong payload sizes for every known request: refused, logged with the
 * device and the reason, nothing else changes. */
START_TEST(test_wrong_sizes)
{
	static const uint32_t bad[] = { 0, 1, 4, 7, 9, 16, 39, 41, 300 };
	struct h	 h;
	struct fe	*fe;
	uint8_t		 payload[512];
	unsigned	 i, j, refusals = 0;
	char		 what[64];

	h_start(&h, "hostile: wrong sizes");
	fe = h_fe(h.sock[0]);
	memset(payload, 0, sizeof payload);
	for (i = 0; i < nitems(h_sizes); i++) {
		for (j = 0; j < nitems(bad); j++) {
			if (bad[j] == h_sizes[i].size)
				continue;
			snprintf(what, sizeof what, "size %u", bad[j]);
			h_refused(fe, h_sizes[i].req, payload, bad[j], NULL,
			    0, h_sizes[i].reply, what);
			refusals++;
		}
	}
	/* SET_MEM_TABLE and GET/SET_CONFIG have a minimum. */
	h_refused(fe, VHOST_USER_SET_MEM_TABLE, payload, 4, NULL, 0, ~0u,
	    "short mem table");
	h_refused(fe, VHOST_USER_GET_CONFIG, payload, 8, NULL, 0, 12,
	    "short config");
	h_refused(fe, VHOST_USER_SET_CONFIG, payload, 11, NULL, 0, ~0u,
	    "short config write");
	ck_assert_int_ge(fe_daemon_log_count(h.d, "rng0: SET_VRING_NUM: "
	    "payload is 4 bytes, expected 8"), 1);
	ck_assert_int_ge(fe_daemon_log_count(h.d, "rng0: "), refusals);
	/* The running queue was not disturbed. */
	h_read(fe);
	h_close(&h, fe);
	h_check(&h, "wrong sizes");
	h_stop(&h);
}
END_TEST

/* An fd attached to every request that takes none; fds missing where
 * required; a backend channel that is not a socket (found by
 * fuzz_vu_msg: it used to kill the daemon). */
START_TEST(test_fds)
{
	struct h	 h;
	struct fe	*fe;
	uint8_t		 payload[64];
	uint64_t	 v;
	unsigned	 i;
	int		 efd, mfd;
	pid_t		 pid;

	h_start(&h, "hostile: fds");
	pid = fe_daemon_pid(h.d);
	fe = h_fe_negotiated(&h);
	efd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(efd, 0);
	memset(payload, 0, sizeof payload);
	for (i = 0; i < nitems(h_sizes); i++) {
		switch (h_sizes[i].req) {
		case VHOST_USER_SET_VRING_KICK:
		case VHOST_USER_SET_VRING_CALL:
		case VHOST_USER_SET_VRING_ERR:
		case VHOST_USER_SET_BACKEND_REQ_FD:
		case VHOST_USER_ADD_MEM_REG:
		case VHOST_USER_REM_MEM_REG:
			continue;
		default:
			break;
		}
		h_refused(fe, h_sizes[i].req, payload, h_sizes[i].size, &efd,
		    1, h_sizes[i].reply, "unexpected fd");
	}
	/* Eight fds on SET_FEATURES. */
	{
		int	 fds[8] = { efd, efd, efd, efd, efd, efd, efd, efd };

		v = FE_BIT(FE_F_VERSION_1);
		h_refused(fe, VHOST_USER_SET_FEATURES, &v, 8, fds, 8, ~0u,
		    "eight fds");
	}

	/* Missing: a ring fd without the NOFD bit, a region without fd. */
	v = 0;
	h_refused(fe, VHOST_USER_SET_VRING_KICK, &v, 8, NULL, 0, ~0u,
	    "kick without fd");
	h_refused(fe, VHOST_USER_SET_VRING_CALL, &v, 8, NULL, 0, ~0u,
	    "call without fd");
	h_refused(fe, VHOST_USER_SET_VRING_ERR, &v, 8, NULL, 0, ~0u,
	    "err without fd");
	h_refused(fe, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, NULL, 0, ~0u,
	    "backend channel without fd");
	h_refused(fe, VHOST_USER_ADD_MEM_REG, payload, 40, NULL, 0, ~0u,
	    "region without fd");
	{
		struct vhost_user_memory	*m = (void *)payload;

		m->nregions = 1;
		m->padding = 0;
		m->regions[0].guest_phys_addr = 0;
		m->regions[0].memory_size = 4096;
		m->regions[0].userspace_addr = 0x10000;
		m->regions[0].mmap_offset = 0;
		h_refused(fe, VHOST_USER_SET_MEM_TABLE, payload, 8 + 32,
		    NULL, 0, ~0u, "mem table without fd");
	}
	/* A kick fd with the NOFD bit also set: one fd too many. */
	v = VHOST_USER_VRING_NOFD_MASK;
	h_refused(fe, VHOST_USER_SET_VRING_KICK, &v, 8, &efd, 1, ~0u,
	    "kick with NOFD and an fd");

	/* Backend channel fds that are not sockets (regression). */
	mfd = h_memfd(4096);
	h_refused(fe, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &mfd, 1, ~0u,
	    "memfd as the backend channel");
	h_refused(fe, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &efd, 1, ~0u,
	    "eventfd as the backend channel");
	ck_assert_int_ge(fe_daemon_log_count(h.d, "rng0: backend channel fd "
	    "is not a socket"), 2);
	close(mfd);
	close(efd);
	h_sync(fe, "after fds");
	/* Every refused fd was closed: only the connection is extra. */
	ck_assert_int_eq(h_nfds(pid), h.nfds + 1);
	h_close(&h, fe);
	h_check(&h, "fds");
	h_stop(&h);
}
END_TEST


/* Build the suite. */
static Suite *
hostile_msg_suite(void)
{
	Suite	*s = suite_create("hostile_msg");
	TCase	*tc;

	tc = h_tcase(s, "requests", 60);
	tcase_add_test(tc, test_every_request);
	tcase_add_test(tc, test_wrong_sizes);
	tcase_add_test(tc, test_fds);
	return (s);
}

int
main(void)
{
	return (h_main("check_hostile_msg", hostile_msg_suite()));
}
