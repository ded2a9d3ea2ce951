/*
 * Unit tests for core/worker.c: a worker runs posted commands in order on
 * its own named thread with signals blocked, runs a command posted to
 * itself inline, runs what is pending when stopped, bounds its waits and
 * leaves a stuck thread behind instead of hanging.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "device.h"
#include "guest_mem.h"
#include "vhost_user.h"
#include "vring.h"
#include "worker.h"

static _Atomic int	 wk_count;
static struct worker	*wk_seen;
static int		 wk_sig_blocked;
static char		 wk_tname[32];

/* Record which worker runs us, its thread name and signal mask. */
static void
wk_record(void *arg)
{
	sigset_t	 set;

	(void)arg;
	wk_seen = worker_self();
	pthread_getname_np(pthread_self(), wk_tname, sizeof wk_tname);
	pthread_sigmask(SIG_BLOCK, NULL, &set);
	wk_sig_blocked = sigismember(&set, SIGINT) &&
	    sigismember(&set, SIGTERM) && sigismember(&set, SIGHUP);
}

/* Count one call. */
static void
wk_inc(void *arg)
{
	(void)arg;
	atomic_fetch_add(&wk_count, 1);
}

/* Post a waiting command to our own worker: it must run inline. */
static void
wk_self_post(void *arg)
{
	struct worker	*w = arg;

	worker_post(w, WCMD_CALL, NULL, wk_inc, NULL, 1);
	/* Ran already, not queued behind us. */
	if (atomic_load(&wk_count) == 1)
		atomic_fetch_add(&wk_count, 10);
	worker_sync(w);
}

START_TEST(test_worker_runs_commands)
{
	struct worker	*w;
	char		*cause = NULL;
	int		 i;

	atomic_store(&wk_count, 0);
	w = worker_start("tw0/w0", &cause);
	ck_assert_msg(w != NULL, "%s", cause);
	ck_assert_str_eq(worker_name(w), "tw0/w0");
	ck_assert_ptr_null(worker_self());
	worker_post(w, WCMD_CALL, NULL, wk_record, NULL, 1);
	ck_assert_ptr_eq(wk_seen, w);
	ck_assert_str_eq(wk_tname, "tw0/w0");
	ck_assert_int_eq(wk_sig_blocked, 1);

	for (i = 0; i < 1000; i++)
		worker_post(w, WCMD_CALL, NULL, wk_inc, NULL, 0);
	worker_sync(w);
	ck_assert_int_eq(atomic_load(&wk_count), 1000);

	atomic_store(&wk_count, 0);
	worker_post(w, WCMD_CALL, NULL, wk_self_post, w, 1);
	ck_assert_int_eq(atomic_load(&wk_count), 11);
	worker_stop(w);
}
END_TEST

START_TEST(test_worker_stop_runs_pending)
{
	struct worker	*w;
	char		*cause = NULL;
	int		 i;

	atomic_store(&wk_count, 0);
	w = worker_start("tw1", &cause);
	ck_assert_ptr_nonnull(w);
	for (i = 0; i < 100; i++)
		worker_post(w, WCMD_CALL, NULL, wk_inc, NULL, 0);
	worker_stop(w);
	ck_assert_int_eq(atomic_load(&wk_count), 100);
}
END_TEST

/* A worker command that blocks until wk_release is set (at most 20 s). */
static _Atomic int	 wk_release;

/* Block the worker. */
static void
wk_block(void *arg)
{
	int	 i;

	(void)arg;
	for (i = 0; i < 2000 && !atomic_load(&wk_release); i++)
		usleep(10000);
}

START_TEST(test_worker_wait_is_bounded)
{
	struct worker	*w;
	char		*cause = NULL;
	struct timespec	 t0, t1;
	long		 ms;

	w = worker_start("stuck/w0", &cause);
	ck_assert_ptr_nonnull(w);
	atomic_store(&wk_release, 0);
	worker_post(w, WCMD_CALL, NULL, wk_block, NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Would block until released; gives up after WORKER_WAIT_MS. */
	ck_assert_int_eq(worker_post(w, WCMD_CALL, NULL, wk_inc, NULL, 1),
	    -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_int_ge(ms, WORKER_WAIT_MS - 100);
	ck_assert_int_eq(worker_stuck(w), 1);
	/* Never waited on again. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(worker_sync(w), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 2);
	/* The cancelled command never runs, even once the worker is back. */
	atomic_store(&wk_count, 0);
	atomic_store(&wk_release, 1);
	worker_stop(w);
	ck_assert_int_eq(atomic_load(&wk_count), 0);
	ck_assert_uint_eq(worker_abandoned(), 0);
}
END_TEST

START_TEST(test_worker_stop_leaves_stuck_thread)
{
	struct worker	*w;
	char		*cause = NULL;
	struct timespec	 t0, t1;

	w = worker_start("stuck/w1", &cause);
	ck_assert_ptr_nonnull(w);
	atomic_store(&wk_release, 0);
	worker_post(w, WCMD_CALL, NULL, wk_block, NULL, 0);
	ck_assert_int_eq(worker_sync(w), -1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	worker_stop(w);		/* must not hang on the thread */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 3);
	ck_assert_uint_eq(worker_abandoned(), 1);
	atomic_store(&wk_release, 1);
}
END_TEST

/* The SDK table, exercised on a running ring. */

/* The worker suite. */
static Suite *
check_worker_suite(void)
{
	Suite	*s = suite_create("worker");
	TCase	*tc;

	tc = tcase_create("worker");
	tcase_add_test(tc, test_worker_runs_commands);
	tcase_add_test(tc, test_worker_stop_runs_pending);
	tcase_add_test(tc, test_worker_wait_is_bounded);
	tcase_add_test(tc, test_worker_stop_leaves_stuck_thread);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; the exit status says whether every test passed. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(check_worker_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
