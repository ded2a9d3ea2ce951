/*
 * The shared worker pool (`workers N`, core/pool.c): 256 rng devices on 2
 * workers all served, none starved, and a measure that does find a
 * starved device; a guest that refills its ring as fast as the worker
 * serves it does not keep the worker (turns, core/vring.c); a stuck pool
 * worker fails every device it serves and only those.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"
#include "ct_util.h"

/* A value from /proc/PID/status ("Threads", "VmRSS"), or -1. */
static long
ct_status(pid_t pid, const char *key)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 v = -1;
	size_t	 klen = strlen(key);

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			v = atol(line + klen + 1);
	}
	fclose(f);
	return (v);
}

#define CT_POOL_DEVS	256
#define CT_POOL_DEPTH	8
#define CT_POOL_MS	3000
/* A device served less than a quarter of the mean starves. */
#define CT_POOL_FAIR	4

/*
 * Start vhostd with `workers 2` and n rng devices p0..p(n-1); device
 * `slow` (or none: -1) gets a rate limit of 10 requests of 64 bytes a
 * second.
 */
static void
ct_pool_start(struct fe_daemon *d, unsigned n, int slow)
{
	char		*text, *args[2], *carg;
	const char	*socks[2], *conf;
	size_t		 len;
	unsigned	 i;

	text = malloc(n * 300 + 256);
	ck_assert_ptr_nonnull(text);
	len = (size_t)sprintf(text, "control none\nworkers 2\n");
	for (i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "device \"p%u\" {\n\tmodule "
		    "rng\n%s\tsocket \"%s/p%u.sock\"\n}\n", i, (int)i == slow ?
		    "\tmax-bytes 640\n\tperiod 1000\n" : "", fe_daemon_dir(d),
		    i);
	conf = fe_daemon_write_file(d, "vhostd.conf", text, len);
	free(text);
	ck_assert_int_ne(asprintf(&carg, "--config=%s", conf), -1);
	args[0] = carg;
	args[1] = NULL;
	socks[0] = NULL;
	/* The last device's socket is the last one bound. */
	ck_assert_int_ne(asprintf(&text, "%s/p%u.sock", fe_daemon_dir(d),
	    n - 1), -1);
	socks[0] = text;
	socks[1] = NULL;
	ck_assert_msg(fe_daemon_start(d, (const char *const *)args, socks,
	    CT_START_MS) == 0, "start: %s", fe_error());
	free(text);
	free(carg);
}

/*
 * Keep CT_POOL_DEPTH requests of 64 bytes posted on each of the n
 * devices for CT_POOL_MS, counting each one's completions in done[].
 * One thread sweeps the devices in turn and takes at most CT_POOL_DEPTH
 * completions of a device per visit: draining a device "until empty"
 * would measure the frontend, not the daemon, since a worker with
 * nothing else to do answers each repost at once and keeps the sweep on
 * that one device (seen: 1,857 completions of one device in one visit,
 * counts of 768 to 7,444 per device for a fair daemon).  Bounded, a
 * device gets at most its depth per sweep, and less only when the
 * daemon did not get to it since the last visit.
 */
static void
ct_pool_measure(struct fe_daemon *d, unsigned n, uint64_t *done)
{
	static const struct fe_region_spec layout[] = {
		{ 0, 256 * 1024, 0 },
	};
	struct fe	**fe;
	struct fe_buf	 b;
	char		 name[512];
	uint32_t	 id, len;
	int64_t		 t0;
	unsigned	 i, k;
	int		 r;

	fe = calloc(n, sizeof *fe);
	ck_assert_ptr_nonnull(fe);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "%s/p%u.sock", fe_daemon_dir(d), i);
		fe[i] = fe_new(name, layout, 1);
		ck_assert_msg(fe[i] != NULL, "fe_new p%u: %s", i, fe_error());
		ck_assert_msg(fe_start(fe[i], CT_QSIZE) == 0, "fe_start p%u: "
		    "%s", i, fe_error());
		done[i] = 0;
	}
	/* Every device gets requests at once, kept topped up. */
	for (i = 0; i < n; i++) {
		fe[i]->pool_gpa = fe_alloc(fe[i], 64, 64);
		ck_assert_msg(fe[i]->pool_gpa != 0, "fe_alloc p%u", i);
		b.gpa = fe[i]->pool_gpa;
		b.len = 64;
		b.write = 1;
		for (k = 0; k < CT_POOL_DEPTH; k++) {
			r = fe_post(fe[i], 0, &b, 1, 0);
			ck_assert_msg(r >= 0, "post p%u: %s", i, fe_error());
		}
	}
	t0 = fe_now_ms();
	while (fe_now_ms() - t0 < CT_POOL_MS) {
		for (i = 0; i < n; i++) {
			for (k = 0; k < CT_POOL_DEPTH; k++) {
				r = fe_get_used(fe[i], 0, &id, &len);
				ck_assert_msg(r != -1, "p%u: %s", i,
				    fe_error());
				if (r == 0)
					break;
				ck_assert_msg(len == 64, "p%u: used len %u",
				    i, len);
				done[i]++;
				b.gpa = fe[i]->pool_gpa;
				b.len = 64;
				b.write = 1;
				r = fe_post(fe[i], 0, &b, 1, 0);
				ck_assert_msg(r >= 0, "post p%u: %s", i,
				    fe_error());
			}
		}
	}
	for (i = 0; i < n; i++)
		fe_free(fe[i]);
	free(fe);
}

/* The device served least; the mean, least and most in *mean, *min,
 * *max. */
static unsigned
ct_pool_worst(const uint64_t *done, unsigned n, uint64_t *mean,
    uint64_t *min, uint64_t *max)
{
	uint64_t	 total = 0;
	unsigned	 i, worst = 0;

	*max = 0;
	for (i = 0; i < n; i++) {
		total += done[i];
		if (done[i] < done[worst])
			worst = i;
		if (done[i] > *max)
			*max = done[i];
	}
	*mean = total / n;
	*min = done[worst];
	return (worst);
}

/* 256 rng devices on a pool of 2 workers: all served at once, none
 * starved (each at least a quarter of the mean), 3 threads in all. */
START_TEST(test_pool_256)
{
	struct fe_daemon	*d;
	struct rlimit		 rl;
	uint64_t		*done, mean, min, max;
	unsigned		 worst;
	long			 threads, rss;

	/* Each frontend holds some 8 fds, the daemon as many. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 8192) {
		rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	d = fe_daemon_new("pool: 256 on 2");
	ck_assert_ptr_nonnull(d);
	ct_pool_start(d, CT_POOL_DEVS, -1);
	done = calloc(CT_POOL_DEVS, sizeof *done);
	ck_assert_ptr_nonnull(done);
	ct_pool_measure(d, CT_POOL_DEVS, done);
	worst = ct_pool_worst(done, CT_POOL_DEVS, &mean, &min, &max);
	threads = ct_status(fe_daemon_pid(d), "Threads");
	rss = ct_status(fe_daemon_pid(d), "VmRSS");
	printf("check_pool: pool of 2, %d rng devices: %llu requests in "
	    "%d ms, per device mean %llu min %llu (p%u) max %llu; vhostd "
	    "threads %ld, RSS %ld kB\n", CT_POOL_DEVS,
	    (unsigned long long)(mean * CT_POOL_DEVS), CT_POOL_MS,
	    (unsigned long long)mean, (unsigned long long)min, worst,
	    (unsigned long long)max, threads, rss);
	fflush(stdout);
	/* The main thread and the pool's two. */
	ck_assert_msg(threads >= 3 && threads <= 3 + CT_SAN_THREADS,
	    "vhostd runs %ld threads, not 3%s", threads, CT_SAN_THREADS ?
	    " (or 4 with TSan's)" : "");
	ck_assert_msg(min > 0 && min * CT_POOL_FAIR >= mean, "p%u starved: "
	    "%llu requests, the mean %llu (min %llu, max %llu)", worst,
	    (unsigned long long)min, (unsigned long long)mean,
	    (unsigned long long)min, (unsigned long long)max);
	free(done);
	ck_assert_int_eq(fe_daemon_stop(d, CT_STOP_MS), 0);
	fe_daemon_free(d);
}
END_TEST

/* The measure of test_pool_256 finds a device served less than the
 * others: 32 devices, p17 rate-limited to 10 requests a second. */
START_TEST(test_pool_finds_slow)
{
	struct fe_daemon	*d;
	uint64_t		 done[32], mean, min, max;
	unsigned		 worst;

	d = fe_daemon_new("pool: one slow");
	ck_assert_ptr_nonnull(d);
	ct_pool_start(d, 32, 17);
	ct_pool_measure(d, 32, done);
	worst = ct_pool_worst(done, 32, &mean, &min, &max);
	printf("check_pool: 32 devices, p17 slow: p%u served least, %llu "
	    "requests, the mean %llu (max %llu)\n", worst,
	    (unsigned long long)min, (unsigned long long)mean,
	    (unsigned long long)max);
	fflush(stdout);
	ck_assert_msg(worst == 17 && min * CT_POOL_FAIR < mean, "p%u served "
	    "least (%llu requests, the mean %llu): the slow p17 (%llu) was "
	    "not found", worst, (unsigned long long)min,
	    (unsigned long long)mean, (unsigned long long)done[17]);
	ck_assert_int_eq(fe_daemon_stop(d, CT_STOP_MS), 0);
	fe_daemon_free(d);
}
END_TEST

#define CT_HOG_ROUNDS	10
#define CT_HOG_WAIT_MS	30000
#define CT_HOG_LEN	65536
#define CT_HOG_QSIZE	256
/* Hog completions one request of meek may wait behind: a few turns. */
#define CT_HOG_BOUND	(4 * CT_HOG_QSIZE)

/*
 * One pool worker, two devices: "hog" keeps its whole ring posted and
 * refills each completion at once without kicking (a guest whose vCPU
 * keeps up with the worker needs no kick while the worker is busy),
 * while "meek" asks for one request at a time.  Each of meek's requests
 * is served after at most a few turns of the hog: the worker serves a
 * ring at most its size per turn, then the other ready queues, then the
 * rest.  Counted in hog completions, not time, so a loaded machine does
 * not change the bound.
 */
START_TEST(test_pool_hog)
{
	static const char *const names[] = { "hog", "meek", NULL };
	struct fe_daemon	*d;
	struct fe		*hog, *meek;
	struct fe_buf		 hb, mb;
	const char		*conf;
	uint64_t		 seen, worst = 0, total = 0;
	uint32_t		 id, len;
	int64_t			 t0;
	unsigned		 k, round, idle, got;
	int			 r;

	d = fe_daemon_new("pool: hog");
	ck_assert_ptr_nonnull(d);
	conf = ct_conf(d, "vhostd.conf", "workers 1\n", names);
	ct_start(d, conf, names);
	hog = ct_fe(d, "hog", CT_HOG_QSIZE);
	meek = ct_fe(d, "meek", CT_QSIZE);
	hb.gpa = fe_alloc(hog, CT_HOG_LEN, 64);
	mb.gpa = fe_alloc(meek, 64, 64);
	ck_assert(hb.gpa != 0 && mb.gpa != 0);
	hb.len = CT_HOG_LEN;
	mb.len = 64;
	hb.write = mb.write = 1;
	for (k = 0; k < CT_HOG_QSIZE; k++)
		ck_assert_int_ge(fe_post(hog, 0, &hb, 1, FE_POST_NOKICK), 0);
	ck_assert_int_eq(fe_kick(hog, 0), 0);
	for (round = 0; round < CT_HOG_ROUNDS * 2; round++) {
		/* Even rounds get the hog going (1000 completions), odd
		 * ones post meek's request while it goes. */
		if (round % 2 == 1)
			ck_assert_int_ge(fe_post(meek, 0, &mb, 1, 0), 0);
		seen = 0;
		idle = 0;
		t0 = fe_now_ms();
		for (;;) {
			got = 0;
			while ((r = fe_get_used(hog, 0, &id, &len)) == 1) {
				ck_assert_int_ge(fe_post(hog, 0, &hb, 1,
				    FE_POST_NOKICK), 0);
				got++;
			}
			ck_assert_msg(r == 0, "hog: %s", fe_error());
			seen += got;
			/* The worker may have gone to sleep on the hog. */
			if (got == 0 && ++idle % 256 == 0)
				ck_assert_int_eq(fe_kick(hog, 0), 0);
			if (round % 2 == 0) {
				if (seen >= 2 * CT_HOG_QSIZE)
					break;
				ck_assert_msg(fe_now_ms() - t0 < CT_HOG_WAIT_MS,
				    "round %u: the hog got %llu in %d ms",
				    round, (unsigned long long)seen,
				    CT_HOG_WAIT_MS);
				continue;
			}
			r = fe_get_used(meek, 0, &id, &len);
			ck_assert_msg(r != -1, "meek: %s", fe_error());
			if (r == 1)
				break;
			ck_assert_msg(seen <= CT_HOG_BOUND, "round %u: the hog "
			    "kept the worker: %llu hog completions and meek's "
			    "one request still waits (bound %d)", round / 2,
			    (unsigned long long)seen, CT_HOG_BOUND);
			ck_assert_msg(fe_now_ms() - t0 < CT_HOG_WAIT_MS,
			    "round %u: meek's request not served in %d ms "
			    "(the hog got %llu meanwhile)", round,
			    CT_HOG_WAIT_MS, (unsigned long long)seen);
		}
		if (round % 2 == 0)
			continue;
		if (seen > worst)
			worst = seen;
		total += seen;
	}
	printf("check_pool: hog and meek on one worker: %u requests of "
	    "meek, the hog got %llu meanwhile (at most %llu for one)\n",
	    CT_HOG_ROUNDS, (unsigned long long)total,
	    (unsigned long long)worst);
	fflush(stdout);
	/* A turn is at most the hog's ring; one may be under way when
	 * meek kicks, one more may start before the worker sees the kick,
	 * and meek's completion is read after the hog's of that moment. */
	ck_assert_msg(worst <= CT_HOG_BOUND, "the hog kept the worker: %llu "
	    "hog completions while one request of meek waited (bound %d)",
	    (unsigned long long)worst, CT_HOG_BOUND);
	fe_free(meek);
	fe_free(hog);
	ck_assert_int_eq(fe_daemon_stop(d, CT_STOP_MS), 0);
	fe_daemon_free(d);
}
END_TEST

/* Copy a built module into d's "mods" dir (a directory module trust
 * accepts). */
static void
ct_copy_module(struct fe_daemon *d, const char *from, const char *name)
{
	char	 rel[64];

	snprintf(rel, sizeof rel, "mods/%s.so", name);
	ck_assert_msg(fe_daemon_copy_file(d, from, rel) != NULL, "%s",
	    fe_error());
}

/*
 * A stuck pool worker (a module's handler blocks) fails every device it
 * serves, at once and logged, and only those: a device on the other pool
 * worker serves on, and SIGTERM still exits 0.
 */
START_TEST(test_pool_stuck_worker)
{
	struct fe_daemon	*d;
	struct fe_rng_stats	 st;
	struct fe		*peer, *fe;
	struct fe_buf		 b;
	char			 text[4096], carg[700], dir[512], ctl[600];
	char			 sk[3][600], out[4096];
	const char		*args[2], *socks[5], *conf;
	int			 r;

	d = fe_daemon_new("pool: stuck worker");
	ck_assert_ptr_nonnull(d);
	snprintf(dir, sizeof dir, "%s", fe_daemon_dir(d));
	ck_assert_int_eq(mkdir(fe_daemon_path(d, "mods"), 0755), 0);
	ct_copy_module(d, TEST_BUILD_DIR "/tests/modules/.libs/good.so",
	    "good");
	ct_copy_module(d, TEST_BUILD_DIR "/modules/.libs/rng.so", "rng");
	snprintf(ctl, sizeof ctl, "%s/control", dir);
	snprintf(sk[0], sizeof sk[0], "%s/good0.sock", dir);
	snprintf(sk[1], sizeof sk[1], "%s/ra.sock", dir);
	snprintf(sk[2], sizeof sk[2], "%s/rb.sock", dir);
	/* Placed in order on the least loaded worker: good0 on pool/w0,
	 * ra on pool/w1, rb on pool/w0. */
	snprintf(text, sizeof text, "module-dir \"%s/mods\"\nworkers 2\n"
	    "control \"%s\"\n"
	    "device good0 {\n\tmodule good\n\tsocket \"%s\"\n\tfail block\n"
	    "}\ndevice ra {\n\tmodule rng\n\tsocket \"%s\"\n}\n"
	    "device rb {\n\tmodule rng\n\tsocket \"%s\"\n}\n", dir, ctl,
	    sk[0], sk[1], sk[2]);
	conf = fe_daemon_write_file(d, "vhostd.conf", text, strlen(text));
	snprintf(carg, sizeof carg, "--config=%s", conf);
	args[0] = carg;
	args[1] = NULL;
	socks[0] = sk[0];
	socks[1] = sk[1];
	socks[2] = sk[2];
	socks[3] = ctl;
	socks[4] = NULL;
	ck_assert_msg(fe_daemon_start(d, args, socks, CT_START_MS) == 0,
	    "start: %s", fe_error());
	CT_JSON(d, ctl, out, "show rb", "d[\"workers\"]",
	    "['pool/w0']\n");

	peer = fe_new(sk[1], NULL, 0);
	ck_assert_ptr_nonnull(peer);
	ck_assert_int_eq(fe_start(peer, CT_QSIZE), 0);
	ck_assert_int_eq(fe_rng_read(peer, 0, NULL, 4096, 64, 8, 1, 0, &st),
	    0);

	/* good0's handler blocks pool/w0 on the first request. */
	fe = fe_new(sk[0], NULL, 0);
	ck_assert_ptr_nonnull(fe);
	ck_assert_int_eq(fe_start(fe, CT_QSIZE), 0);
	fe->timeout_ms = 15000;
	b.gpa = fe_alloc(fe, 64, 8);
	ck_assert_uint_ne(b.gpa, 0);
	b.len = 64;
	b.write = 1;
	ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	/* Wait until the handler blocks (not a fixed sleep: a loaded worker
	 * may take longer to pop, and a stop first would stop cleanly). */
	ck_assert_int_eq(fe_daemon_wait_log(d, "good0: good: queue 0: "
	    "blocking", 1, CT_START_MS), 0);
	/* Stopping its queue waits 5 s for the worker, then gives up. */
	r = fe_vring_enable(fe, 0, 0);
	ck_assert_msg(r == 1, "disable: %d %s", r, fe_error());
	ck_assert_int_eq(fe_daemon_wait_log(d, "worker pool/w0 is a pool "
	    "worker: every device it serves fails", 1, CT_START_MS), 0);
	ck_assert_int_eq(fe_daemon_wait_log(d, "rb: device broken: its pool "
	    "worker pool/w0 does not answer", 1, CT_START_MS), 0);
	ck_assert_int_eq(fe_daemon_log_count(d, "ra: device broken"), 0);
	CT_JSON(d, ctl, out, "list", "[(x[\"name\"], x[\"state\"]) for x "
	    "in d[\"devices\"]]",
	    "[('good0', 'broken'), ('ra', 'running'), "
	    "('rb', 'broken')]\n");
	/* ra, on pool/w1, goes on. */
	ck_assert_int_eq(fe_rng_read(peer, 0, NULL, 4096, 64, 8, 1, 0, &st),
	    0);
	fe_free(fe);
	fe_free(peer);
	ck_assert_int_eq(fe_daemon_stop(d, CT_STOP_MS), 0);
	fe_daemon_free(d);
}
END_TEST

/* The pool suite. */
static Suite *
pool_suite(void)
{
	Suite	*s = suite_create("pool");
	TCase	*tp = tcase_create("pool");

	tcase_set_timeout(tp, 300);
	tcase_add_test(tp, test_pool_256);
	tcase_add_test(tp, test_pool_finds_slow);
	tcase_add_test(tp, test_pool_hog);
	tcase_add_test(tp, test_pool_stuck_worker);
	suite_add_tcase(s, tp);
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
	sr = srunner_create(pool_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	(void)fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
