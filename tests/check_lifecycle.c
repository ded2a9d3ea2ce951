/*
 * Device lifecycle suite (issue 8, "a queue that stops is not a device
 * that resets"): a live vhostd driven by the test frontend through the
 * exact stop/cont sequence QEMU 7.2 sends on HMP `stop` and `cont`
 * (fe_queue_pause: SET_VRING_ENABLE 0, GET_VRING_BASE; fe_queue_resume:
 * NUM, BASE, ADDR, KICK, CALL, ENABLE 1).  Device state must survive it:
 * only a reset ends it.  The console's lifecycle tests live in
 * check_console_fe; this file holds the rng ones.
 */

#include <sys/types.h>

#include <check.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"

#define LC_START_MS	10000
#define LC_QSIZE	256
#define LC_SLOTS	128		/* requests in flight at most */
#define LC_SLOT_SIZE	4096
#define LC_ROUNDS	20

/* The guest driver of one rng test: every request and its fate. */
struct lc {
	struct fe_daemon *d;
	char		*sock;
	struct fe	*fe;
	uint64_t	 slot_gpa[LC_SLOTS];
	int		 slot_busy[LC_SLOTS];
	int		 head_slot[LC_QSIZE];	/* -1: not in flight */
	uint32_t	 slot_len[LC_SLOTS];
	unsigned	 posted, completed;
	uint64_t	 bytes;
	int64_t		 t0;			/* before the first post */
	uint64_t	 max_bytes;		/* 0: no rate limit */
	unsigned	 period_ms;
};

/* Start vhostd --module=rng with these extra arguments and a started
 * frontend (queue 0 running). */
static void
lc_start(struct lc *lc, const char *name, const char *const *extra)
{
	const char	*args[16], *socks[2];
	char		*sockarg;
	unsigned	 n = 0, i;

	memset(lc, 0, sizeof(*lc));
	for (i = 0; i < LC_QSIZE; i++)
		lc->head_slot[i] = -1;
	lc->d = fe_daemon_new(name);
	ck_assert_msg(lc->d != NULL, "fe_daemon_new: %s", fe_error());
	lc->sock = strdup(fe_daemon_path(lc->d, "rng.sock"));
	ck_assert_ptr_nonnull(lc->sock);
	ck_assert_int_ne(asprintf(&sockarg, "--socket=%s", lc->sock), -1);
	args[n++] = "--module=rng";
	args[n++] = sockarg;
	for (i = 0; extra != NULL && extra[i] != NULL && n < 14; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	socks[0] = lc->sock;
	socks[1] = NULL;
	ck_assert_msg(fe_daemon_start(lc->d, args, socks, LC_START_MS) == 0,
	    "start: %s", fe_error());
	free(sockarg);
	lc->fe = fe_new(lc->sock, NULL, 0);
	ck_assert_msg(lc->fe != NULL, "fe_new: %s", fe_error());
	ck_assert_msg(fe_start(lc->fe, LC_QSIZE) == 0, "fe_start: %s",
	    fe_error());
	for (i = 0; i < LC_SLOTS; i++) {
		lc->slot_gpa[i] = fe_alloc(lc->fe, LC_SLOT_SIZE, 64);
		ck_assert_uint_ne(lc->slot_gpa[i], 0);
	}
}

/* Close the frontend, stop the daemon (clean exit), free everything. */
static void
lc_stop(struct lc *lc)
{
	fe_free(lc->fe);
	ck_assert_int_eq(fe_daemon_log_count(lc->d, "cannot be rewound"), 0);
	ck_assert_int_eq(fe_daemon_stop(lc->d, 10000), 0);
	fe_daemon_free(lc->d);
	free(lc->sock);
}

/* Post one request of len bytes (one writable buffer, zeroed first);
 * 0, or -1 when every slot is in flight. */
static int
lc_post(struct lc *lc, uint32_t len)
{
	struct fe_buf	 b;
	int		 slot, head;

	for (slot = 0; slot < LC_SLOTS && lc->slot_busy[slot]; slot++)
		;
	if (slot == LC_SLOTS)
		return (-1);
	ck_assert_int_eq(fe_fill(lc->fe, lc->slot_gpa[slot], 0, len), 0);
	b.gpa = lc->slot_gpa[slot];
	b.len = len;
	b.write = 1;
	head = fe_post(lc->fe, 0, &b, 1, 0);
	ck_assert_int_ge(head, 0);
	ck_assert_int_lt(head, LC_QSIZE);
	ck_assert_msg(lc->head_slot[head] == -1, "head %d posted twice",
	    head);
	lc->head_slot[head] = slot;
	lc->slot_busy[slot] = 1;
	lc->slot_len[slot] = len;
	lc->posted++;
	return (0);
}

/*
 * Take every used entry: each must be a request in flight (so no request
 * completes twice), filled completely, and the bytes served so far must
 * keep to the rate limit: by time t after t0 at most max_bytes per period
 * begun.  Returns the number taken.
 */
static unsigned
lc_reap(struct lc *lc)
{
	uint8_t		 buf[LC_SLOT_SIZE];
	uint32_t	 id, len, i, nz;
	int64_t		 t;
	unsigned	 n = 0;
	int		 r, slot;

	while ((r = fe_get_used(lc->fe, 0, &id, &len)) == 1) {
		ck_assert_uint_lt(id, LC_QSIZE);
		slot = lc->head_slot[id];
		ck_assert_msg(slot != -1, "used entry for head %u, which is "
		    "not in flight (completed twice?)", id);
		ck_assert_msg(len == lc->slot_len[slot], "head %u: %u of %u "
		    "bytes", id, len, lc->slot_len[slot]);
		ck_assert_int_eq(fe_read(lc->fe, lc->slot_gpa[slot], buf,
		    len), 0);
		for (i = 0, nz = 0; i < len; i++)
			nz += buf[i] != 0;
		ck_assert_msg(len < 64 || nz > len / 2, "head %u: %u of %u "
		    "bytes zero", id, len - nz, len);
		lc->head_slot[id] = -1;
		lc->slot_busy[slot] = 0;
		lc->completed++;
		lc->bytes += len;
		n++;
	}
	ck_assert_int_eq(r, 0);
	if (lc->max_bytes != 0) {
		t = fe_now_ms() - lc->t0;
		ck_assert_msg(lc->bytes <= lc->max_bytes *
		    (uint64_t)(t / lc->period_ms + 1), "%llu bytes served "
		    "after %lld ms: more than %llu per %u ms",
		    (unsigned long long)lc->bytes, (long long)t,
		    (unsigned long long)lc->max_bytes, lc->period_ms);
	}
	return (n);
}

/* Pause queue 0 as `stop` does, check nothing is used while it is
 * paused, and resume it as `cont` does. */
static void
lc_pause_resume(struct lc *lc, unsigned round, int paused_ms)
{
	uint32_t	 base, id, len;

	ck_assert_msg(fe_queue_pause(lc->fe, 0, &base) == 0, "round %u: "
	    "pause: %s", round, fe_error());
	/* Completions made before GET_VRING_BASE answered. */
	(void)lc_reap(lc);
	ck_assert_uint_eq((uint16_t)(base - fe_queue(lc->fe, 0)->last_used),
	    0);
	(void)poll(NULL, 0, paused_ms);
	ck_assert_msg(fe_get_used(lc->fe, 0, &id, &len) == 0, "round %u: "
	    "a used entry while the queue was paused", round);
	ck_assert_msg(fe_queue_resume(lc->fe, 0) == 0, "round %u: resume: "
	    "%s", round, fe_error());
}

/* Wait until every posted request has completed. */
static void
lc_drain(struct lc *lc, int timeout_ms)
{
	int64_t		 end = fe_now_ms() + timeout_ms;

	while (lc->completed < lc->posted) {
		ck_assert_msg(fe_now_ms() < end, "%u of %u requests "
		    "completed", lc->completed, lc->posted);
		(void)fe_wait_call(lc->fe, 0, 50);
		(void)lc_reap(lc);
	}
}

/*
 * 20 pauses with requests in flight (sizes 1..4096, posted just before
 * each pause): every request completes exactly once, filled; nothing is
 * used while the queue is paused.
 */
START_TEST(test_rng_pause_inflight)
{
	struct lc	 lc;
	unsigned	 round, i;

	lc_start(&lc, "lc-rng-inflight", NULL);
	lc.t0 = fe_now_ms();
	for (round = 0; round < LC_ROUNDS; round++) {
		for (i = 0; i < 32; i++)
			ck_assert_int_eq(lc_post(&lc, 1 + (round * 977 +
			    i * 131) % LC_SLOT_SIZE), 0);
		lc_pause_resume(&lc, round, 5);
		lc_drain(&lc, 10000);
	}
	ck_assert_uint_eq(lc.completed, LC_ROUNDS * 32);
	lc_stop(&lc);
}
END_TEST

/*
 * max-bytes=2048 per 200 ms, 64 requests of 256 bytes posted at once: most
 * wait on the period timer.  20 pauses (one every ~60 ms) while they wait:
 * every request completes exactly once, and at every moment the bytes
 * served keep to 2048 per period begun (a pause neither refills nor
 * forgets the budget).
 */
START_TEST(test_rng_pause_rate_limit)
{
	static const char *const extra[] = { "--option=max-bytes=2048",
	    "--option=period=200", NULL };
	struct lc	 lc;
	unsigned	 round, i;
	int64_t		 end;

	lc_start(&lc, "lc-rng-ratelimit", extra);
	lc.max_bytes = 2048;
	lc.period_ms = 200;
	lc.t0 = fe_now_ms();
	for (i = 0; i < 64; i++)
		ck_assert_int_eq(lc_post(&lc, 256), 0);
	for (round = 0; round < LC_ROUNDS; round++) {
		end = fe_now_ms() + 50;
		while (fe_now_ms() < end) {
			(void)fe_wait_call(lc.fe, 0, 10);
			(void)lc_reap(&lc);
		}
		lc_pause_resume(&lc, round, 10);
		(void)lc_reap(&lc);
	}
	lc_drain(&lc, 20000);
	ck_assert_uint_eq(lc.completed, 64);
	ck_assert_uint_eq(lc.bytes, 64 * 256);
	/* 16 KiB at 2 KiB per 200 ms: the 8th period begins at 1400 ms. */
	ck_assert_int_ge(fe_now_ms() - lc.t0, 1400);
	lc_stop(&lc);
}
END_TEST

/* The lifecycle suite. */
static Suite *
lifecycle_suite(void)
{
	Suite	*s = suite_create("lifecycle");
	TCase	*tc = tcase_create("rng");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_rng_pause_inflight);
	tcase_add_test(tc, test_rng_pause_rate_limit);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() != 0) {
		fprintf(stderr, "fe_tmp_init: %s\n", fe_error());
		return (EXIT_FAILURE);
	}
	sr = srunner_create(lifecycle_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	(void)fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
