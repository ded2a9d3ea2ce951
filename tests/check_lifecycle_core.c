/*
 * Suite "lifecycle_core": what the core does over a VM's whole life, as
 * QEMU 7.2 drives it, against a live daemon serving two rng devices (rng0
 * and rng1, --socket-count=2) through the test frontend.  Each case works
 * on rng0 while a frontend on rng1 keeps being served; the daemon must
 * then still be alive, rng1 still serve, and SIGTERM exit 0.
 *
 *   - stop/cont: SET_VRING_ENABLE 0 + GET_VRING_BASE, then the re-setup,
 *     with requests in flight: every request completes exactly once;
 *   - call fd swaps on a running queue (QEMU's MSI-X mask/unmask): no
 *     request lost or stalled, the call fd in use fires, and the module's
 *     queue_start/queue_stop are not called (the daemon logs those);
 *   - a kick fd swap on a running queue loses no kick;
 *   - REM_MEM_REG + ADD_MEM_REG of the region holding the running ring,
 *     or a buffer, with requests in flight: the queue pauses and resumes
 *     by itself, the device is not broken.
 */

#include <sys/types.h>
#include <sys/eventfd.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"

#define L_START_MS	10000
#define L_STOP_MS	10000
#define L_WAIT_MS	10000
#define L_QSIZE		64
#define L_REQ		64	/* bytes per request */

/* A daemon with two rng devices and a frontend on rng1. */
struct l {
	struct fe_daemon	*d;
	char			 sock[2][600];
	struct fe		*peer;		/* on rng1 */
};

/* Read a little entropy through `fe` (queue 0 running). */
static void
l_read(struct fe *fe)
{
	struct fe_rng_stats	 st;
	uint8_t			 buf[1024];
	int			 r;

	r = fe_rng_read(fe, 0, buf, sizeof buf, 128, 4, 1, 0, &st);
	ck_assert_msg(r == 0, "rng read: %s", fe_error());
	ck_assert_uint_eq(st.bytes, sizeof buf);
}

/* A started frontend on `sock`. */
static struct fe *
l_fe(const char *sock)
{
	struct fe	*fe;
	int		 r;

	fe = fe_new(sock, NULL, 0);
	ck_assert_msg(fe != NULL, "fe_new: %s", fe_error());
	r = fe_start(fe, L_QSIZE);
	ck_assert_msg(r == 0, "fe_start: %d %s", r, fe_error());
	return (fe);
}

/* Start the daemon and the rng1 frontend. */
static void
l_start(struct l *l, const char *name)
{
	const char	*args[4], *socks[3];
	char		 sockarg[700];

	memset(l, 0, sizeof *l);
	l->d = fe_daemon_new(name);
	ck_assert_msg(l->d != NULL, "fe_daemon_new: %s", fe_error());
	snprintf(l->sock[0], sizeof l->sock[0], "%s0",
	    fe_daemon_path(l->d, "rng.sock"));
	snprintf(l->sock[1], sizeof l->sock[1], "%s1",
	    fe_daemon_path(l->d, "rng.sock"));
	snprintf(sockarg, sizeof sockarg, "--socket=%s",
	    fe_daemon_path(l->d, "rng.sock"));
	args[0] = "--module=rng";
	args[1] = sockarg;
	args[2] = "--socket-count=2";
	args[3] = NULL;
	socks[0] = l->sock[0];
	socks[1] = l->sock[1];
	socks[2] = NULL;
	ck_assert_msg(fe_daemon_start(l->d, args, socks, L_START_MS) == 0,
	    "start: %s", fe_error());
	ck_assert_int_eq(fe_daemon_wait_log(l->d, "listening on", 2,
	    L_START_MS), 0);
	l->peer = l_fe(l->sock[1]);
	l_read(l->peer);
}

/* rng1 still serves, rng0 was never broken, SIGTERM exits 0. */
static void
l_stop(struct l *l)
{
	int	 status;

	ck_assert_msg(fe_daemon_alive(l->d), "vhostd died");
	l_read(l->peer);
	ck_assert_int_eq(fe_daemon_log_count(l->d, "device broken"), 0);
	fe_free(l->peer);
	status = fe_daemon_stop(l->d, L_STOP_MS);
	ck_assert_int_eq(fe_daemon_log_count(l->d, "Sanitizer"), 0);
	ck_assert_int_eq(fe_daemon_log_count(l->d, "runtime error:"), 0);
	ck_assert_msg(status == 0, "vhostd exit status %d", status);
	fe_daemon_free(l->d);
}

/* Post `n` requests of L_REQ bytes on queue 0 (kicked once at the end
 * unless `nokick`); their heads are marked in `posted`. */
static void
l_post(struct fe *fe, uint64_t buf_gpa, unsigned n, int nokick,
    uint8_t *posted)
{
	struct fe_buf	 b;
	unsigned	 i;
	int		 head;

	for (i = 0; i < n; i++) {
		b.gpa = buf_gpa + (uint64_t)i * L_REQ;
		b.len = L_REQ;
		b.write = 1;
		head = fe_post(fe, 0, &b, 1, FE_POST_NOKICK);
		ck_assert_msg(head >= 0, "post: %s", fe_error());
		ck_assert_int_eq(posted[head], 0);
		posted[head] = 1;
	}
	if (!nokick)
		ck_assert_int_eq(fe_kick(fe, 0), 0);
}

/* Collect used entries until every posted head is back, each once and
 * full length. */
static void
l_collect(struct fe *fe, uint8_t *posted, unsigned n)
{
	uint32_t	 id, len;
	int		 r;

	while (n > 0) {
		r = fe_wait_used(fe, 0, &id, &len, L_WAIT_MS);
		ck_assert_msg(r == 1, "request lost or stalled (%u left): %s",
		    n, fe_error());
		ck_assert_uint_lt(id, L_QSIZE);
		ck_assert_msg(posted[id] == 1, "head %u completed twice or "
		    "never posted", id);
		ck_assert_uint_eq(len, L_REQ);
		posted[id] = 0;
		n--;
	}
}

/* QEMU's stop and cont, with requests in flight, twice: nothing lost,
 * nothing done twice, the device state kept. */
START_TEST(test_stop_cont)
{
	struct l	 l;
	struct fe	*fe;
	uint8_t		 posted[L_QSIZE];
	uint64_t	 buf;
	uint32_t	 base;
	int		 round;

	l_start(&l, "lifecycle: stop/cont");
	fe = l_fe(l.sock[0]);
	l_read(fe);
	buf = fe_alloc(fe, 16 * L_REQ, 64);
	ck_assert_uint_ne(buf, 0);
	memset(posted, 0, sizeof posted);
	for (round = 0; round < 2; round++) {
		/* Posted, not kicked: in the avail ring at the stop. */
		l_post(fe, buf, 8, 1, posted);
		ck_assert_int_eq(fe_queue_pause(fe, 0, &base), 0);
		ck_assert_int_eq(fe_queue_resume(fe, 0), 0);
		l_collect(fe, posted, 8);
	}
	ck_assert_uint_eq(fe_queue(fe, 0)->outstanding, 0);
	fe_free(fe);
	l_stop(&l);
}
END_TEST

/* 50 call fd swaps while requests flow: every request completes, the
 * call fd in use fires, queue_start/queue_stop are not called. */
START_TEST(test_call_swaps_under_load)
{
	struct l	 l;
	struct fe	*fe;
	uint8_t		 posted[L_QSIZE];
	uint64_t	 buf;
	int		 i, started;

	l_start(&l, "lifecycle: call swaps");
	fe = l_fe(l.sock[0]);
	l_read(fe);
	started = fe_daemon_log_count(l.d, "rng0: queue 0 started");
	ck_assert_int_eq(started, 1);
	buf = fe_alloc(fe, 16 * L_REQ, 64);
	ck_assert_uint_ne(buf, 0);
	memset(posted, 0, sizeof posted);
	for (i = 0; i < 50; i++) {
		l_post(fe, buf, 8, 0, posted);
		ck_assert_msg(fe_swap_fd(fe, 0, VHOST_USER_SET_VRING_CALL) ==
		    0, "swap %d: %s", i, fe_error());
		/* The interrupt for what was pushed around the swap reaches
		 * the new fd. */
		ck_assert_msg(fe_wait_call(fe, 0, L_WAIT_MS) == 1,
		    "swap %d: the new call fd never fired", i);
		l_collect(fe, posted, 8);
	}
	ck_assert_int_eq(fe_daemon_log_count(l.d, "rng0: queue 0 stopped"),
	    0);
	ck_assert_int_eq(fe_daemon_log_count(l.d, "rng0: queue 0 started"),
	    started);
	fe_free(fe);
	l_stop(&l);
}
END_TEST

/* A kick that went to the old kick fd is not lost: the swap looks at the
 * ring once.  Kicks to the new fd work. */
START_TEST(test_kick_swap)
{
	struct l	 l;
	struct fe	*fe;
	uint8_t		 posted[L_QSIZE];
	uint64_t	 buf;
	int		 i;

	l_start(&l, "lifecycle: kick swap");
	fe = l_fe(l.sock[0]);
	l_read(fe);
	buf = fe_alloc(fe, 16 * L_REQ, 64);
	ck_assert_uint_ne(buf, 0);
	memset(posted, 0, sizeof posted);
	for (i = 0; i < 10; i++) {
		/* Published but never kicked. */
		l_post(fe, buf, 4, 1, posted);
		ck_assert_int_eq(fe_swap_fd(fe, 0, VHOST_USER_SET_VRING_KICK),
		    0);
		l_collect(fe, posted, 4);
		l_post(fe, buf, 4, 0, posted);
		l_collect(fe, posted, 4);
	}
	ck_assert_int_eq(fe_daemon_log_count(l.d, "rng0: queue 0 stopped"),
	    0);
	fe_free(fe);
	l_stop(&l);
}
END_TEST

/*
 * REM_MEM_REG then ADD_MEM_REG of the region holding the running ring
 * (region 0) and of one holding the buffers (region 2), with requests
 * posted while the region is out: the queue pauses, then resumes by
 * itself after the ADD and completes them; the device is never broken.
 */
START_TEST(test_mem_rem_add)
{
	struct l	 l;
	struct fe	*fe;
	uint8_t		 posted[L_QSIZE];
	uint64_t	 buf;
	unsigned	 region;
	int		 round;

	l_start(&l, "lifecycle: REM/ADD");
	fe = l_fe(l.sock[0]);
	l_read(fe);
	ck_assert_uint_lt(fe_queue(fe, 0)->desc_gpa, fe->regions[0].size);
	buf = fe_alloc_in(fe, 2, 16 * L_REQ, 64);
	ck_assert_uint_ne(buf, 0);
	memset(posted, 0, sizeof posted);
	for (round = 0; round < 4; round++) {
		region = round % 2 == 0 ? 0 : 2;
		/* One in flight across the removal, kicked after it. */
		l_post(fe, buf, 1, 1, posted);
		ck_assert_msg(fe_rem_mem_reg(fe, region) == 0, "REM: %s",
		    fe_error());
		l_post(fe, buf + 4 * L_REQ, 4, 0, posted);
		ck_assert_int_eq(fe_daemon_wait_log(l.d, "rng0: queue 0 "
		    "paused", round + 1, L_WAIT_MS), 0);
		ck_assert_msg(fe_add_mem_reg(fe, region) == 0, "ADD: %s",
		    fe_error());
		l_collect(fe, posted, 5);
		ck_assert_int_eq(fe_daemon_wait_log(l.d, "rng0: queue 0 "
		    "resumed", round + 1, L_WAIT_MS), 0);
	}
	l_read(fe);
	fe_free(fe);
	l_stop(&l);
}
END_TEST

/* The lifecycle_core suite. */
static Suite *
lifecycle_core_suite(void)
{
	Suite	*s = suite_create("lifecycle_core");
	TCase	*tc;

	tc = tcase_create("queue");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_stop_cont);
	tcase_add_test(tc, test_call_swaps_under_load);
	tcase_add_test(tc, test_kick_swap);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_mem_rem_add);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1) {
		fprintf(stderr, "check_lifecycle_core: %s\n", fe_error());
		return (1);
	}
	sr = srunner_create(lifecycle_core_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
