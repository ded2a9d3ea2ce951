/*
 * Suite "packed_hostile": check_hostile_guest's hostile guest cases on packed
 * virtqueues (VIRTIO_F_RING_PACKED), plus the packed protocol details a
 * frontend can get wrong.  One daemon serves rng0 and rng1; each case
 * abuses rng0 through a packed ring while a well-behaved packed frontend
 * keeps rng1 busy.  Afterwards the daemon lives, rng1 still serves on its
 * connection, rng0 serves a fresh frontend, the daemon holds no more fds
 * than before and exits 0 on SIGTERM without a sanitizer report (the
 * harness of hostile_harness.h, started with h_start_packed).
 */

#include <sys/types.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"
#include "hostile_harness.h"

#ifndef nitems
#define nitems(a)	(sizeof (a) / sizeof (a)[0])
#endif

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
	struct h		 h;
	struct fe		*fe;
	char			 want[160], name[96];

	snprintf(name, sizeof name, "packed hostile guest: %s", g->name);
	h_start_packed(&h, name);
	fe = h_fe_packed(h.sock[0], FE_WANT_FEATURES & ~g->unwant, H_QSIZE);
	h_read(fe);
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
	h_close(&h, fe);
	h_check(&h, g->name);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "rng1: device broken"), 0);
	h_stop(&h);
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
	struct h	 h;
	struct fe	*fe;
	uint32_t	 base;
	int		 r;

	h_start_packed(&h, "packed protocol");
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
	h_read(fe);
	h_read(fe);
	ck_assert_int_eq(fe_queue_pause(fe, 0, &base), 0);
	ck_assert_uint_eq(base, fe_queue(fe, 0)->avail_idx);
	ck_assert_int_eq(fe_queue_resume(fe, 0), 0);
	h_read(fe);
	h_close(&h, fe);
	h_check(&h, "protocol");
	h_stop(&h);
}
END_TEST

/* Rings of 1, 2 and 3 descriptors: every request turns a wrap counter
 * over or nearly; the base stays exact across a pause. */
START_TEST(test_small_rings)
{
	static const unsigned	 sizes[] = { 1, 2, 3 };
	struct h		 h;
	struct fe		*fe;
	uint32_t		 base;
	char			 name[64];

	snprintf(name, sizeof name, "packed ring of %u", sizes[_i]);
	h_start_packed(&h, name);
	fe = h_fe_packed(h.sock[0], FE_WANT_FEATURES, sizes[_i]);
	h_read(fe);
	ck_assert_int_eq(fe_queue_pause(fe, 0, &base), 0);
	ck_assert_uint_eq(base, fe_queue(fe, 0)->avail_idx);
	ck_assert_int_eq(fe_queue_resume(fe, 0), 0);
	h_read(fe);
	ck_assert_uint_eq(fe_queue(fe, 0)->last_used, 16);
	h_close(&h, fe);
	h_check(&h, name);
	h_stop(&h);
}
END_TEST

/* Build the suite. */
static Suite *
packed_hostile_suite(void)
{
	Suite	*s = suite_create("packed_hostile");
	TCase	*tc;

	tc = h_tcase(s, "guest", 60);
	tcase_add_loop_test(tc, test_guest, 0, (int)nitems(ph_guests));

	tc = h_tcase(s, "protocol", 60);
	tcase_add_test(tc, test_protocol);
	tcase_add_loop_test(tc, test_small_rings, 0, 3);
	return (s);
}

int
main(void)
{
	return (h_main("check_packed_hostile", packed_hostile_suite()));
}
