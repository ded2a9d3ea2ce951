/*
 * Suite "packed_hostile": check_hostile's hostile guest cases on packed
 * virtqueues (VIRTIO_F_RING_PACKED), plus the packed protocol details a
 * frontend can get wrong.  One daemon serves rng0 and rng1; each case
 * abuses rng0 through a packed ring while a well-behaved packed frontend
 * keeps rng1 busy.  Afterwards the daemon lives, rng1 still serves on its
 * connection, rng0 serves a fresh frontend, the daemon holds no more fds
 * than before and exits 0 on SIGTERM without a sanitizer report.
 */

#include <sys/types.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"

#define PH_START_MS	10000
#define PH_STOP_MS	10000
#define PH_QSIZE	64

#ifndef nitems
#define nitems(a)	(sizeof (a) / sizeof (a)[0])
#endif

struct ph {
	struct fe_daemon	*d;
	char			 sock[2][600];
	struct fe		*peer;		/* on rng1 */
	int			 nfds;		/* daemon fds after setup */
	int			 disconnects;	/* rng0's, so far */
};

/* Number of fds of process `pid`. */
static int
ph_nfds(pid_t pid)
{
	char		 path[64];
	DIR		*dir;
	struct dirent	*de;
	int		 n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	ck_assert_msg(dir != NULL, "%s: %s", path, strerror(errno));
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(dir);
	return (n);
}

/* Read a little entropy through `fe` (queue 0 running). */
static void
ph_read(struct fe *fe)
{
	struct fe_rng_stats	 st;
	uint8_t			 buf[2048];
	int			 r;

	r = fe_rng_read(fe, 0, buf, sizeof buf, 256, 8, 1, 0, &st);
	ck_assert_msg(r == 0, "rng read: %s", fe_error());
	ck_assert_uint_eq(st.bytes, sizeof buf);
}

/* A started packed frontend on `sock` with the features `want`, queue
 * size `num`. */
static struct fe *
ph_fe_want(const char *sock, uint64_t want, unsigned num)
{
	struct fe	*fe;
	int		 r;

	fe = fe_new(sock, NULL, 0);
	ck_assert_msg(fe != NULL, "fe_new: %s", fe_error());
	fe->packed = 1;
	r = fe_negotiate(fe, want, FE_WANT_PROTOCOL);
	ck_assert_msg(r == 0, "negotiate: %d %s", r, fe_error());
	ck_assert(fe->acked & FE_BIT(FE_F_RING_PACKED));
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	r = fe_queue_setup(fe, 0, num);
	ck_assert_msg(r == 0, "queue setup: %d %s", r, fe_error());
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	ck_assert(fe_queue(fe, 0)->packed);
	return (fe);
}

/* A started packed frontend with everything. */
static struct fe *
ph_fe(const char *sock)
{
	return (ph_fe_want(sock, FE_WANT_FEATURES, PH_QSIZE));
}

/* Start the daemon and the rng1 frontend. */
static void
ph_start(struct ph *h, const char *name)
{
	const char	*args[4], *socks[3];
	char		 sockarg[700];

	memset(h, 0, sizeof *h);
	h->d = fe_daemon_new(name);
	ck_assert_msg(h->d != NULL, "fe_daemon_new: %s", fe_error());
	snprintf(h->sock[0], sizeof h->sock[0], "%s0",
	    fe_daemon_path(h->d, "rng.sock"));
	snprintf(h->sock[1], sizeof h->sock[1], "%s1",
	    fe_daemon_path(h->d, "rng.sock"));
	snprintf(sockarg, sizeof sockarg, "--socket=%s",
	    fe_daemon_path(h->d, "rng.sock"));
	args[0] = "--module=rng";
	args[1] = sockarg;
	args[2] = "--socket-count=2";
	args[3] = NULL;
	socks[0] = h->sock[0];
	socks[1] = h->sock[1];
	socks[2] = NULL;
	ck_assert_msg(fe_daemon_start(h->d, args, socks, PH_START_MS) == 0,
	    "start: %s", fe_error());
	ck_assert_int_eq(fe_daemon_wait_log(h->d, "listening on", 2,
	    PH_START_MS), 0);
	h->peer = ph_fe(h->sock[1]);
	ph_read(h->peer);
	h->nfds = ph_nfds(fe_daemon_pid(h->d));
}

/* Free a frontend of rng0 and wait until the daemon has seen it go. */
static void
ph_close(struct ph *h, struct fe *fe)
{
	fe_free(fe);
	h->disconnects++;
	ck_assert_msg(fe_daemon_wait_log(h->d, "rng0: frontend disconnected",
	    h->disconnects, 5000) == 0, "rng0 disconnect not seen");
}

/* The invariant after every abuse of rng0 (its frontend gone). */
static void
ph_check(struct ph *h, const char *what)
{
	struct fe	*fe;
	pid_t		 pid = fe_daemon_pid(h->d);
	int		 i, n = -1;

	ck_assert_msg(fe_daemon_alive(h->d), "%s: vhostd died", what);
	ph_read(h->peer);
	fe = ph_fe(h->sock[0]);
	ph_read(fe);
	ph_close(h, fe);
	for (i = 0; i < 100; i++) {
		if ((n = ph_nfds(pid)) == h->nfds)
			break;
		usleep(20000);
	}
	ck_assert_msg(n == h->nfds, "%s: vhostd holds %d fds, %d before",
	    what, n, h->nfds);
}

/* Stop: exit status 0, no sanitizer report. */
static void
ph_stop(struct ph *h)
{
	int	 status;

	fe_free(h->peer);
	h->peer = NULL;
	ck_assert_msg(fe_daemon_alive(h->d), "vhostd died");
	status = fe_daemon_stop(h->d, PH_STOP_MS);
	ck_assert_int_eq(fe_daemon_log_count(h->d, "Sanitizer"), 0);
	ck_assert_int_eq(fe_daemon_log_count(h->d, "runtime error:"), 0);
	ck_assert_msg(status == 0, "vhostd exit status %d", status);
	fe_daemon_free(h->d);
	h->d = NULL;
}

/* Is the connection still in sync?  GET_FEATURES must be answered. */
static void
ph_sync(struct fe *fe, const char *what)
{
	uint64_t	 f;

	ck_assert_msg(fe_get_features(fe, &f) == 0, "%s: no GET_FEATURES "
	    "reply: %s", what, fe_error());
}

/* One descriptor. */
static struct vring_packed_desc
ph_desc(uint64_t addr, uint32_t len, uint16_t id, uint16_t flags)
{
	struct vring_packed_desc	 d;

	d.addr = addr;
	d.len = len;
	d.id = id;
	d.flags = flags;
	return (d);
}

/* Every slot of the ring chained with NEXT. */
static void
ph_guest_long_chain(struct fe *fe)
{
	struct vring_packed_desc	*d;
	uint64_t			 b = fe_alloc(fe, 64, 64);
	unsigned			 i, n = fe_queue(fe, 0)->num;

	d = calloc(n, sizeof *d);
	ck_assert_ptr_nonnull(d);
	for (i = 0; i < n; i++)
		d[i] = ph_desc(b, 64, 0, VRING_DESC_F_WRITE |
		    VRING_DESC_F_NEXT);
	fe_publish_packed(fe, 0, d, n);
	free(d);
}

/* An indirect descriptor for the table at tg of len bytes. */
static void
ph_guest_indirect(struct fe *fe, uint64_t tg, uint32_t len)
{
	struct vring_packed_desc	 d;

	d = ph_desc(tg, len, 0, VRING_DESC_F_INDIRECT);
	fe_publish_packed(fe, 0, &d, 1);
}

static void
ph_guest_indirect_empty(struct fe *fe)
{
	ph_guest_indirect(fe, fe_alloc(fe, 64, 16), 0);
}

static void
ph_guest_indirect_odd(struct fe *fe)
{
	ph_guest_indirect(fe, fe_alloc(fe, 64, 16), 17);
}

/* A table running off the end of guest memory (18 MiB). */
static void
ph_guest_indirect_end(struct fe *fe)
{
	ph_guest_indirect(fe, (18ULL << 20) - 32, 64);
}

static void
ph_guest_indirect_huge(struct fe *fe)
{
	ph_guest_indirect(fe, 0, 16u << 20);
}

static void
ph_guest_indirect_nested(struct fe *fe)
{
	struct vring_packed_desc	 t[2];
	uint64_t			 tg = fe_alloc(fe, sizeof t, 16);

	t[0] = ph_desc(tg, sizeof t, 0, VRING_DESC_F_INDIRECT);
	t[1] = t[0];
	ck_assert_int_eq(fe_write(fe, tg, t, sizeof t), 0);
	ph_guest_indirect(fe, tg, sizeof t);
}

static void
ph_guest_indirect_next(struct fe *fe)
{
	struct vring_packed_desc	 t, d[2];
	uint64_t			 tg = fe_alloc(fe, sizeof t, 16);
	uint64_t			 b = fe_alloc(fe, 64, 64);

	t = ph_desc(b, 64, 0, VRING_DESC_F_WRITE);
	ck_assert_int_eq(fe_write(fe, tg, &t, sizeof t), 0);
	d[0] = ph_desc(tg, sizeof t, 0, VRING_DESC_F_INDIRECT |
	    VRING_DESC_F_NEXT);
	d[1] = ph_desc(b, 64, 0, VRING_DESC_F_WRITE);
	fe_publish_packed(fe, 0, d, 2);
}

/* INDIRECT on a device that did not negotiate it (see ph_guests). */
static void
ph_guest_indirect_unacked(struct fe *fe)
{
	struct vring_packed_desc	 t;
	uint64_t			 tg = fe_alloc(fe, sizeof t, 16);

	t = ph_desc(fe_alloc(fe, 64, 64), 64, 0, VRING_DESC_F_WRITE);
	ck_assert_int_eq(fe_write(fe, tg, &t, sizeof t), 0);
	ph_guest_indirect(fe, tg, sizeof t);
}

static void
ph_guest_id(struct fe *fe)
{
	struct vring_packed_desc	 d;

	d = ph_desc(fe_alloc(fe, 64, 64), 64,
	    (uint16_t)fe_queue(fe, 0)->num, VRING_DESC_F_WRITE);
	fe_publish_packed(fe, 0, &d, 1);
}

/* The id of the last descriptor of a chain counts; 0xffff there. */
static void
ph_guest_id_last(struct fe *fe)
{
	struct vring_packed_desc	 d[2];
	uint64_t			 b = fe_alloc(fe, 64, 64);

	d[0] = ph_desc(b, 32, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT);
	d[1] = ph_desc(b + 32, 32, 0xffff, VRING_DESC_F_WRITE);
	fe_publish_packed(fe, 0, d, 2);
}

static void
ph_guest_hole(struct fe *fe)
{
	struct vring_packed_desc	 d;

	d = ph_desc(8ULL << 20, 64, 0, VRING_DESC_F_WRITE);
	fe_publish_packed(fe, 0, &d, 1);
}

static void
ph_guest_wrap(struct fe *fe)
{
	struct vring_packed_desc	 d;

	d = ph_desc(UINT64_MAX - 15, 64, 0, VRING_DESC_F_WRITE);
	fe_publish_packed(fe, 0, &d, 1);
}

static void
ph_guest_read_after_write(struct fe *fe)
{
	struct vring_packed_desc	 d[2];
	uint64_t			 b = fe_alloc(fe, 64, 64);

	d[0] = ph_desc(b, 32, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT);
	d[1] = ph_desc(b + 32, 32, 0, 0);
	fe_publish_packed(fe, 0, d, 2);
}

/* More buffers than slots in flight: the guest overwrites slots whose
 * used descriptors it never waited for, with fresh ids each lap. */
static void
ph_guest_overrun(struct fe *fe)
{
	struct vring_packed_desc	 d;
	uint64_t			 b = fe_alloc(fe, 64, 64);
	unsigned			 i, n = fe_queue(fe, 0)->num;

	/* The device holds none of them (rng completes at once), so it is
	 * not an error for the device: each lap is served.  The case is
	 * that nothing breaks and nothing else does. */
	for (i = 0; i < 3 * n; i++) {
		d = ph_desc(b, 64, (uint16_t)(i % n), VRING_DESC_F_WRITE);
		fe_publish_packed(fe, 0, &d, 1);
	}
}

struct ph_guest {
	const char	*name;
	const char	*reason;	/* NULL: must not break */
	uint64_t	 unwant;	/* features not negotiated */
	void		(*run)(struct fe *);
};

static const struct ph_guest ph_guests[] = {
	{ "chain longer than the queue",
	    "descriptor chain longer than the queue", 0, ph_guest_long_chain },
	{ "indirect table of 0 bytes", "indirect table length", 0,
	    ph_guest_indirect_empty },
	{ "indirect table of 17 bytes", "indirect table length", 0,
	    ph_guest_indirect_odd },
	{ "indirect table past the end", "indirect table", 0,
	    ph_guest_indirect_end },
	{ "indirect table of 1M entries", "indirect table is too big", 0,
	    ph_guest_indirect_huge },
	{ "nested indirect table", "nested indirect table", 0,
	    ph_guest_indirect_nested },
	{ "indirect with NEXT", "indirect descriptor has the NEXT flag", 0,
	    ph_guest_indirect_next },
	{ "indirect without the feature",
	    "indirect descriptor without VIRTIO_F_INDIRECT_DESC",
	    FE_BIT(FE_F_INDIRECT_DESC), ph_guest_indirect_unacked },
	{ "buffer id out of range", "buffer id out of range", 0,
	    ph_guest_id },
	{ "buffer id 0xffff at the end", "buffer id out of range", 0,
	    ph_guest_id_last },
	{ "buffer in a hole", "buffer is not in guest memory", 0,
	    ph_guest_hole },
	{ "buffer wrapping", "buffer is not in guest memory", 0,
	    ph_guest_wrap },
	{ "readable after writable",
	    "readable descriptor after a writable one", 0,
	    ph_guest_read_after_write },
	{ "slots overwritten", NULL, 0, ph_guest_overrun },
};

/* Each hostile guest breaks rng0 only (or, with no reason, nothing). */
START_TEST(test_guest)
{
	const struct ph_guest	*g = &ph_guests[_i];
	struct ph		 h;
	struct fe		*fe;
	char			 want[160], name[96];

	snprintf(name, sizeof name, "packed hostile guest: %s", g->name);
	ph_start(&h, name);
	fe = ph_fe_want(h.sock[0], FE_WANT_FEATURES & ~g->unwant, PH_QSIZE);
	ph_read(fe);
	g->run(fe);
	ck_assert_int_eq(fe_kick(fe, 0), 0);
	if (g->reason != NULL) {
		ck_assert_msg(fe_wait_err(fe, 0, 5000) == 1, "%s: err fd not "
		    "signalled", g->name);
		snprintf(want, sizeof want, "rng0: device broken: queue 0: "
		    "%s", g->reason);
		ck_assert_msg(fe_daemon_log_count(h.d, want) == 1, "%s: no "
		    "'%s' in the log", g->name, want);
	} else {
		ck_assert_msg(fe_wait_call(fe, 0, 5000) == 1, "%s: no "
		    "interrupt", g->name);
		ck_assert_int_eq(fe_daemon_log_count(h.d, "device broken"),
		    0);
	}
	ck_assert_int_eq(fe_kick(fe, 0), 0);
	ph_sync(fe, g->name);
	ph_close(&h, fe);
	ph_check(&h, g->name);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "rng1: device broken"), 0);
	ph_stop(&h);
}
END_TEST

/*
 * The protocol: a packed SET_VRING_BASE with an index past the ring size
 * is refused (the split check would refuse any value over 16 bits, which
 * is how QEMU's 0x80008000 failed before packed rings); a ring size that
 * is not a power of two is accepted for packed rings and serves.
 */
START_TEST(test_protocol)
{
	struct ph	 h;
	struct fe	*fe;
	uint32_t	 base;
	int		 r;

	ph_start(&h, "packed protocol");
	fe = fe_new(h.sock[0], NULL, 0);
	ck_assert_ptr_nonnull(fe);
	fe->packed = 1;
	ck_assert_int_eq(fe_negotiate(fe, FE_WANT_FEATURES, FE_WANT_PROTOCOL),
	    0);
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	ck_assert_int_eq(fe_vring_state(fe, VHOST_USER_SET_VRING_NUM, 0, 100),
	    0);
	r = fe_vring_state(fe, VHOST_USER_SET_VRING_BASE, 0, 0x8000 | 100);
	ck_assert_msg(r == 1, "avail index 100 of 100 accepted (%d)", r);
	r = fe_vring_state(fe, VHOST_USER_SET_VRING_BASE, 0,
	    (0x8000u | 200) << 16 | 0x8000);
	ck_assert_msg(r == 1, "used index 200 of 100 accepted (%d)", r);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "out of range for size "
	    "100"), 2);
	/* A ring of 100 entries serves, and its base is exact. */
	ck_assert_int_eq(fe_queue_setup(fe, 0, 100), 0);
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	ph_read(fe);
	ph_read(fe);
	ck_assert_int_eq(fe_queue_pause(fe, 0, &base), 0);
	ck_assert_uint_eq(base, fe_queue(fe, 0)->avail_idx);
	ck_assert_int_eq(fe_queue_resume(fe, 0), 0);
	ph_read(fe);
	ph_close(&h, fe);
	ph_check(&h, "protocol");
	ph_stop(&h);
}
END_TEST

/* Rings of 1, 2 and 3 descriptors: every request turns a wrap counter
 * over or nearly; the base stays exact across a pause. */
START_TEST(test_small_rings)
{
	static const unsigned	 sizes[] = { 1, 2, 3 };
	struct ph		 h;
	struct fe		*fe;
	uint32_t		 base;
	char			 name[64];

	snprintf(name, sizeof name, "packed ring of %u", sizes[_i]);
	ph_start(&h, name);
	fe = ph_fe_want(h.sock[0], FE_WANT_FEATURES, sizes[_i]);
	ph_read(fe);
	ck_assert_int_eq(fe_queue_pause(fe, 0, &base), 0);
	ck_assert_uint_eq(base, fe_queue(fe, 0)->avail_idx);
	ck_assert_int_eq(fe_queue_resume(fe, 0), 0);
	ph_read(fe);
	ck_assert_uint_eq(fe_queue(fe, 0)->last_used, 16);
	ph_close(&h, fe);
	ph_check(&h, name);
	ph_stop(&h);
}
END_TEST

/* Print the logs of daemons whose tests failed.  Runs in the runner. */
static void
ph_reap(void)
{
	fe_tmp_reap();
}

static Suite *
packed_hostile_suite(void)
{
	Suite	*s = suite_create("packed_hostile");
	TCase	*tc;

	tc = tcase_create("guest");
	tcase_add_unchecked_fixture(tc, NULL, ph_reap);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_guest, 0, (int)nitems(ph_guests));
	suite_add_tcase(s, tc);

	tc = tcase_create("protocol");
	tcase_add_unchecked_fixture(tc, NULL, ph_reap);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_protocol);
	tcase_add_loop_test(tc, test_small_rings, 0, 3);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1) {
		fprintf(stderr, "check_packed_hostile: %s\n", fe_error());
		return (1);
	}
	sr = srunner_create(packed_hostile_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
