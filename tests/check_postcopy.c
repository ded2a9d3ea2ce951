/*
 * Suite "postcopy": a frontend that advises and listens for postcopy and
 * then never serves the page faults must not stall the daemon.  Two rng
 * devices share one pool worker (`workers 1`); the frontend of pa sets up
 * postcopy as QEMU 7.2 does on a destination (ADVISE, LISTEN, a region
 * added and acknowledged) and posts a request whose buffer is a page
 * nobody ever places, so the worker blocks in the kernel on pa's fault.
 *
 *   - stall: pb, on the same worker, is served again within the fault
 *     deadline plus a margin; pa fails with "postcopy: page fault at GPA
 *     ... not served in N s"; pb keeps serving; SIGTERM exits 0 promptly;
 *   - sigterm: SIGTERM while the fault waits (deadline far away) exits 0
 *     promptly;
 *   - disconnect: pa's frontend hangs up while the fault waits (it keeps
 *     the userfaultfd open): pb keeps serving at once and is not failed;
 *   - stop: pa's frontend stops the queue (GET_VRING_BASE, as QEMU does
 *     when a migration fails) while the fault waits, so the main thread
 *     waits for the worker: pa fails, the worker is not given up on and
 *     pb is not failed with it;
 *   - ring_addr: pa's frontend moves its stopped queue's rings into pages
 *     nobody places (SET_VRING_ADDR): the main thread, which used to read
 *     used->idx there and stall on the fault with every device's
 *     messages behind it, goes on answering; the worker faults when it
 *     starts the ring, and pa fails at the deadline.
 *
 * The test reads /proc/self/fdinfo of its copy of the userfaultfd to see
 * the fault outstanding ("total" counts the threads waiting), without
 * reading the fault itself.
 */

#include <sys/types.h>
#include <sys/ioctl.h>

#include <linux/userfaultfd.h>

#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"

#define P_START_MS	10000
#define P_WAIT_MS	10000
#define P_QSIZE		64
#define P_PAGE		4096ull
#define P_GPA		(64ull << 20)	/* the postcopy region */
#define P_SIZE		(1ull << 20)
#define P_DEADLINE_S	4		/* POSTCOPY_FAULT_TIMEOUT_S */
#define P_MARGIN_MS	10000		/* CI is slow */

/* A daemon with two rng devices on one pool worker, a frontend each. */
struct p {
	struct fe_daemon	*dm;
	char			 sock[2][600];
	struct fe		*fe[2];		/* pa, pb */
	int			 ufd;		/* pa's copy of the uffd */
};

/* Start the daemon (with `extra` config lines) and both frontends. */
static void
p_start(struct p *p, const char *name, const char *extra)
{
	const char	*args[2], *socks[3], *conf;
	char		 text[2048], carg[700];
	int		 i;

	memset(p, 0, sizeof *p);
	p->ufd = -1;
	fe_start_protocol_extra = FE_MIGRATION_PROTOCOL;
	p->dm = fe_daemon_new(name);
	ck_assert_msg(p->dm != NULL, "fe_daemon_new: %s", fe_error());
	snprintf(p->sock[0], sizeof p->sock[0], "%s",
	    fe_daemon_path(p->dm, "pa.sock"));
	snprintf(p->sock[1], sizeof p->sock[1], "%s",
	    fe_daemon_path(p->dm, "pb.sock"));
	snprintf(text, sizeof text, "control none\nworkers 1\n%s"
	    "device pa {\n\tmodule rng\n\tsocket \"%s\"\n}\n"
	    "device pb {\n\tmodule rng\n\tsocket \"%s\"\n}\n", extra,
	    p->sock[0], p->sock[1]);
	conf = fe_daemon_write_file(p->dm, "vhostd.conf", text, strlen(text));
	snprintf(carg, sizeof carg, "--config=%s", conf);
	args[0] = carg;
	args[1] = NULL;
	socks[0] = p->sock[0];
	socks[1] = p->sock[1];
	socks[2] = NULL;
	ck_assert_msg(fe_daemon_start(p->dm, args, socks, P_START_MS) == 0,
	    "start: %s", fe_error());
	for (i = 0; i < 2; i++) {
		p->fe[i] = fe_new(p->sock[i], NULL, 0);
		ck_assert_msg(p->fe[i] != NULL, "fe_new: %s", fe_error());
		ck_assert_int_eq(fe_start(p->fe[i], P_QSIZE), 0);
		ck_assert(p->fe[i]->acked_protocol &
		    FE_BIT(VHOST_USER_PROTOCOL_F_PAGEFAULT));
	}
}

/* The number of threads waiting in faults on the userfaultfd (its
 * fdinfo "total"), or -1. */
static int
p_waiting(int ufd)
{
	char	 path[64], buf[512], *s;
	ssize_t	 n;
	int	 fd;

	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", ufd);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return (-1);
	buf[n] = '\0';
	if ((s = strstr(buf, "total:")) == NULL)
		return (-1);
	return (atoi(s + strlen("total:")));
}

/* One rng request of 64 bytes on fe, answered within timeout_ms? */
static int
p_round(struct fe *fe, int timeout_ms)
{
	struct fe_buf	 b;
	uint32_t	 id, len;
	int		 head;

	b.gpa = fe_alloc(fe, 64, 8);
	ck_assert_uint_ne(b.gpa, 0);
	b.len = 64;
	b.write = 1;
	head = fe_post(fe, 0, &b, 1, 0);
	ck_assert_int_ge(head, 0);
	if (fe_wait_used(fe, 0, &id, &len, timeout_ms) != 1)
		return (0);
	ck_assert_uint_eq(id, (uint32_t)head);
	ck_assert_uint_eq(len, 64);
	return (1);
}

/* pa: ADVISE, LISTEN, a region added and acknowledged as QEMU does in
 * postcopy; *idxp is the region's index in pa's frontend. */
static void
p_stall_setup(struct p *p, int *idxp)
{
	struct fe			*fe = p->fe[0];
	struct fe_msg			 reply;
	struct vhost_user_mem_reg_msg	 rm;
	uint64_t			 zero = 0, ack;
	int				 idx;

	ck_assert_int_eq(fe_sock_send(fe->fd, VHOST_USER_POSTCOPY_ADVISE,
	    VHOST_USER_VERSION, 0, NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(fe_sock_recv(fe->fd, &reply, P_WAIT_MS), 1);
	ck_assert_uint_eq(reply.hdr.request, VHOST_USER_POSTCOPY_ADVISE);
	ck_assert_int_eq(reply.nfds, 1);
	p->ufd = reply.fds[0];
	ck_assert_int_eq(fe_request_ack(fe, VHOST_USER_POSTCOPY_LISTEN, NULL,
	    0, NULL, 0, &ack), 0);
	ck_assert_uint_eq(ack, 0);

	idx = fe_region_add(fe, P_GPA, P_SIZE, 0);
	ck_assert_int_ge(idx, 0);
	memset(&rm, 0, sizeof rm);
	rm.region.guest_phys_addr = P_GPA;
	rm.region.memory_size = P_SIZE;
	rm.region.userspace_addr = (uint64_t)(uintptr_t)fe->regions[idx].host;
	ck_assert_int_eq(fe_sock_send(fe->fd, VHOST_USER_ADD_MEM_REG,
	    VHOST_USER_VERSION, sizeof rm, &rm, sizeof rm,
	    &fe->regions[idx].fd, 1), 0);
	ck_assert_int_eq(fe_sock_recv(fe->fd, &reply, P_WAIT_MS), 1);
	ck_assert_uint_eq(reply.hdr.request, VHOST_USER_ADD_MEM_REG);
	fe->regions[idx].present = 1;
	fe->regions[idx].no_alloc = 1;
	ck_assert_int_eq(fe_sock_send(fe->fd, VHOST_USER_ADD_MEM_REG,
	    VHOST_USER_VERSION, sizeof zero, &zero, sizeof zero, NULL, 0), 0);
	ck_assert_int_eq(fe_daemon_wait_log(p->dm, "regions registered for "
	    "faults", 1, P_WAIT_MS), 0);
	*idxp = idx;
}

/* p_stall_setup, then a request into page 8 of the region, never
 * placed; returns once the worker waits in that fault. */
static void
p_stall(struct p *p)
{
	struct fe_buf	 b;
	int		 idx, i;

	p_stall_setup(p, &idx);
	/* Page 8 of the region: never placed, never read by us. */
	b.gpa = P_GPA + 8 * P_PAGE;
	b.len = 64;
	b.write = 1;
	ck_assert_int_ge(fe_post(p->fe[0], 0, &b, 1, 0), 0);
	for (i = 0; i < P_WAIT_MS / 10 && p_waiting(p->ufd) != 1; i++)
		usleep(10000);
	ck_assert_int_eq(p_waiting(p->ufd), 1);
}

/* SIGTERM: exit 0 within `ms`; no sanitizer report; free. */
static void
p_stop(struct p *p, int ms)
{
	int64_t	 t0;
	int	 status, i;

	ck_assert_msg(fe_daemon_alive(p->dm), "vhostd died");
	t0 = fe_now_ms();
	status = fe_daemon_stop(p->dm, 30000);
	ck_assert_msg(status == 0, "vhostd exit status %d", status);
	ck_assert_msg(fe_now_ms() - t0 < ms, "SIGTERM took %lld ms",
	    (long long)(fe_now_ms() - t0));
	ck_assert_int_eq(fe_daemon_log_count(p->dm, "Sanitizer"), 0);
	ck_assert_int_eq(fe_daemon_log_count(p->dm, "runtime error:"), 0);
	for (i = 0; i < 2; i++)
		if (p->fe[i] != NULL)
			fe_free(p->fe[i]);
	if (p->ufd != -1)
		close(p->ufd);
	fe_daemon_free(p->dm);
}

/* The fault is never served: pa fails at the deadline, pb goes on. */
START_TEST(test_stall)
{
	struct p	 p;
	char		 line[128];

	p_start(&p, "postcopy: stall", "");
	ck_assert(p_round(p.fe[1], P_WAIT_MS));
	p_stall(&p);
	/* pb's request waits for the shared worker, but not forever. */
	ck_assert_msg(p_round(p.fe[1], P_DEADLINE_S * 1000 + P_MARGIN_MS),
	    "pb not served in %d s while pa's fault waits",
	    P_DEADLINE_S + P_MARGIN_MS / 1000);
	snprintf(line, sizeof line, "pa: device broken: postcopy: page "
	    "fault at GPA 0x%llx not served in %d s",
	    (unsigned long long)(P_GPA + 8 * P_PAGE), P_DEADLINE_S);
	ck_assert_int_eq(fe_daemon_wait_log(p.dm, line, 1, P_WAIT_MS), 0);
	ck_assert_int_eq(p_waiting(p.ufd), 0);
	/* pb goes on at full speed; it was never failed. */
	ck_assert(p_round(p.fe[1], 2000 + P_MARGIN_MS));
	ck_assert(p_round(p.fe[1], 2000 + P_MARGIN_MS));
	ck_assert_int_eq(fe_daemon_log_count(p.dm, "pb: device broken"), 0);
	ck_assert_int_eq(fe_daemon_log_count(p.dm, "did not answer"), 0);
	p_stop(&p, 4500);
}
END_TEST

/* SIGTERM with the fault waiting, long before its deadline. */
START_TEST(test_sigterm)
{
	struct p	 p;

	p_start(&p, "postcopy: sigterm", "postcopy-fault-timeout 600\n");
	p_stall(&p);
	p_stop(&p, 4500);
}
END_TEST

/* pa's frontend hangs up with the fault waiting (keeping its copy of the
 * userfaultfd, as a QEMU stuck elsewhere would): the reset wakes the
 * worker at once. */
START_TEST(test_disconnect)
{
	struct p	 p;

	p_start(&p, "postcopy: disconnect", "postcopy-fault-timeout 600\n");
	p_stall(&p);
	fe_free(p.fe[0]);
	p.fe[0] = NULL;
	ck_assert_int_eq(fe_daemon_wait_log(p.dm, "pa: frontend disconnected",
	    1, P_WAIT_MS), 0);
	ck_assert_msg(p_round(p.fe[1], P_MARGIN_MS), "pb not served after "
	    "pa hung up");
	ck_assert_int_eq(p_waiting(p.ufd), 0);
	ck_assert(p_round(p.fe[1], P_MARGIN_MS));
	ck_assert_int_eq(fe_daemon_log_count(p.dm, "pb: device broken"), 0);
	ck_assert_int_eq(fe_daemon_log_count(p.dm, "did not answer"), 0);
	p_stop(&p, 4500);
}
END_TEST

/* pa's queue is stopped with the fault waiting (deadline far away). */
START_TEST(test_stop)
{
	struct p	 p;
	uint32_t	 base;
	int		 r;

	p_start(&p, "postcopy: stop", "postcopy-fault-timeout 600\n");
	p_stall(&p);
	/* The main thread waits for the worker before it answers. */
	p.fe[0]->timeout_ms = 30000;
	r = fe_queue_pause(p.fe[0], 0, &base);
	ck_assert_msg(r == 0 || r == 1, "GET_VRING_BASE: %d %s", r,
	    fe_error());
	ck_assert_int_eq(fe_daemon_wait_log(p.dm, "pa: device broken: "
	    "postcopy: page fault at GPA 0x4008000 not served", 1, P_WAIT_MS),
	    0);
	ck_assert_msg(p_round(p.fe[1], P_MARGIN_MS), "pb not served after "
	    "pa's queue stopped");
	ck_assert_int_eq(p_waiting(p.ufd), 0);
	ck_assert_int_eq(fe_daemon_log_count(p.dm, "pb: device broken"), 0);
	ck_assert_int_eq(fe_daemon_log_count(p.dm, "did not answer"), 0);
	p_stop(&p, 4500);
}
END_TEST

/* pa's rings moved into pages nobody places, then started. */
START_TEST(test_ring_addr)
{
	struct vhost_user_vring_addr	 a;
	struct fe_msg			 reply;
	struct p			 p;
	struct fe			*fe;
	uint8_t				*host;
	uint32_t			 base;
	int				 idx, r;

	p_start(&p, "postcopy: ring addr", "");
	fe = p.fe[0];
	ck_assert_int_eq(fe_queue_pause(fe, 0, &base), 0);
	p_stall_setup(&p, &idx);
	host = fe->regions[idx].host;
	memset(&a, 0, sizeof a);
	a.index = 0;
	a.desc_user_addr = (uint64_t)(uintptr_t)(host + 16 * P_PAGE);
	a.avail_user_addr = (uint64_t)(uintptr_t)(host + 17 * P_PAGE);
	a.used_user_addr = (uint64_t)(uintptr_t)(host + 18 * P_PAGE);
	ck_assert_int_eq(fe_sock_send(fe->fd, VHOST_USER_SET_VRING_ADDR,
	    VHOST_USER_VERSION, sizeof a, &a, sizeof a, NULL, 0), 0);
	/* The main thread still answers: pa, and pb's messages too. */
	ck_assert_int_eq(fe_sock_send(fe->fd, VHOST_USER_GET_FEATURES,
	    VHOST_USER_VERSION, 0, NULL, 0, NULL, 0), 0);
	ck_assert_msg(fe_sock_recv(fe->fd, &reply, P_MARGIN_MS) == 1,
	    "no answer to GET_FEATURES after SET_VRING_ADDR into pages not "
	    "placed (the main thread waits in a fault)");
	ck_assert_uint_eq(reply.hdr.request, VHOST_USER_GET_FEATURES);
	ck_assert(p_round(p.fe[1], P_MARGIN_MS));
	/* Start the ring there: the worker faults, pa fails at the
	 * deadline, pb goes on. */
	ck_assert_int_eq(fe_vring_fd(fe, VHOST_USER_SET_VRING_KICK, 0,
	    fe->queues[0].kick_fd), 0);
	/* The start waits for the worker, which the fault holds until the
	 * deadline (slower still under a sanitizer). */
	fe->timeout_ms = 30000;
	r = fe_vring_enable(fe, 0, 1);
	ck_assert_msg(r == 0 || r == 1, "enable: %s", fe_error());
	ck_assert_int_eq(fe_daemon_wait_log(p.dm, "pa: device broken: "
	    "postcopy: page fault at GPA", 1, P_DEADLINE_S * 1000 +
	    P_MARGIN_MS), 0);
	ck_assert(p_round(p.fe[1], P_MARGIN_MS));
	ck_assert_int_eq(p_waiting(p.ufd), 0);
	ck_assert_int_eq(fe_daemon_log_count(p.dm, "pb: device broken"), 0);
	ck_assert_int_eq(fe_daemon_log_count(p.dm, "did not answer"), 0);
	p_stop(&p, 4500);
}
END_TEST

/* The postcopy suite. */
static Suite *
postcopy_suite(void)
{
	Suite	*s = suite_create("postcopy");
	TCase	*tc;

	tc = tcase_create("stall");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_stall);
	tcase_add_test(tc, test_sigterm);
	tcase_add_test(tc, test_disconnect);
	tcase_add_test(tc, test_stop);
	tcase_add_test(tc, test_ring_addr);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1) {
		fprintf(stderr, "fe_tmp_init: %s\n", fe_error());
		return (1);
	}
	sr = srunner_create(postcopy_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
