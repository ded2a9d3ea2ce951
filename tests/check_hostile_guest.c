/*
 * Suite "hostile_guest": a hostile guest against the daemon of
 * hostile_harness.h (rng0 abused, rng1 kept busy, the invariant checked
 * after every case): a running split ring with descriptor loops, bad
 * indirect tables, bad indices and addresses; early kicks and messages
 * after RESET_OWNER.
 */

#include <sys/types.h>
#include <sys/eventfd.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "compat.h"
#include "fe/fe.h"
#include "hostile_harness.h"

/* ------------------------------------------------------------------ */
/* The guest.                                                          */

/* One way for a guest to break the rules on a running queue 0. */
struct h_guest {
	const char	*name;
	const char	*reason;	/* in "device broken: queue 0: ..." */
	void		(*run)(struct fe *);
};

/* A two-descriptor cycle. */
static void
h_guest_loop(struct fe *fe)
{
	struct fe_queue	*q = fe_queue(fe, 0);
	uint64_t	 gpa = fe_alloc(fe, 128, 64);

	q->desc[0].addr = gpa;
	q->desc[0].len = 64;
	q->desc[0].flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;
	q->desc[0].next = 1;
	q->desc[1] = q->desc[0];
	q->desc[1].addr = gpa + 64;
	q->desc[1].next = 0;
	fe_publish_raw(fe, 0, 0);
}

/* A chain through every descriptor and then back to the head: longer
 * than the queue. */
static void
h_guest_long_chain(struct fe *fe)
{
	struct fe_queue	*q = fe_queue(fe, 0);
	uint64_t	 gpa = fe_alloc(fe, 16 * (uint64_t)q->num, 16);
	unsigned	 i;

	for (i = 0; i < q->num; i++) {
		q->desc[i].addr = gpa + 16 * (uint64_t)i;
		q->desc[i].len = 16;
		q->desc[i].flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;
		q->desc[i].next = (uint16_t)((i + 1) % q->num);
	}
	fe_publish_raw(fe, 0, 0);
}

/* Point descriptor 0 at an indirect table of `len` bytes at `tg`. */
static void
h_guest_indirect(struct fe *fe, uint64_t tg, uint32_t len)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	q->desc[0].addr = tg;
	q->desc[0].len = len;
	q->desc[0].flags = VRING_DESC_F_INDIRECT;
	q->desc[0].next = 0;
	fe_publish_raw(fe, 0, 0);
}

/* An indirect table of 0 bytes. */
static void
h_guest_indirect_empty(struct fe *fe)
{
	h_guest_indirect(fe, fe_alloc(fe, 64, 16), 0);
}

/* An indirect table of 17 bytes. */
static void
h_guest_indirect_odd(struct fe *fe)
{
	h_guest_indirect(fe, fe_alloc(fe, 64, 16), 17);
}

/* An indirect table running off the end of guest memory. */
static void
h_guest_indirect_end(struct fe *fe)
{
	h_guest_indirect(fe, (18ULL << 20) - 32, 64);
}

/* An indirect table of 2^20 entries (larger than any ring). */
static void
h_guest_indirect_huge(struct fe *fe)
{
	h_guest_indirect(fe, 0, 16u << 20);
}

/* An indirect table holding an indirect descriptor. */
static void
h_guest_indirect_nested(struct fe *fe)
{
	struct vring_desc	 t[2];
	uint64_t		 tg = fe_alloc(fe, sizeof t, 16);

	t[0].addr = tg;
	t[0].len = sizeof t;
	t[0].flags = VRING_DESC_F_INDIRECT;
	t[0].next = 0;
	t[1] = t[0];
	ck_assert_int_eq(fe_write(fe, tg, t, sizeof t), 0);
	h_guest_indirect(fe, tg, sizeof t);
}

/* An indirect descriptor that also has NEXT. */
static void
h_guest_indirect_next(struct fe *fe)
{
	struct fe_queue		*q = fe_queue(fe, 0);
	struct vring_desc	 t;
	uint64_t		 tg = fe_alloc(fe, sizeof t, 16);

	t.addr = fe_alloc(fe, 64, 64);
	t.len = 64;
	t.flags = VRING_DESC_F_WRITE;
	t.next = 0;
	ck_assert_int_eq(fe_write(fe, tg, &t, sizeof t), 0);
	h_guest_indirect(fe, tg, sizeof t);
	q->desc[0].flags |= VRING_DESC_F_NEXT;
	q->desc[0].next = 1;
}

/* avail->idx jumps by more than the queue size. */
static void
h_guest_avail_jump(struct fe *fe)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	__atomic_store_n(&q->avail->idx, (uint16_t)(q->avail_idx + q->num +
	    7), __ATOMIC_RELEASE);
}

/* A head index past the ring. */
static void
h_guest_head(struct fe *fe)
{
	fe_publish_raw(fe, 0, 0xffff);
}

/* A buffer in the hole between regions. */
static void
h_guest_hole(struct fe *fe)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	q->desc[0].addr = 8ULL << 20;
	q->desc[0].len = 64;
	q->desc[0].flags = VRING_DESC_F_WRITE;
	fe_publish_raw(fe, 0, 0);
}

/* A buffer whose length wraps the address space. */
static void
h_guest_wrap(struct fe *fe)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	q->desc[0].addr = UINT64_MAX - 15;
	q->desc[0].len = 64;
	q->desc[0].flags = VRING_DESC_F_WRITE;
	fe_publish_raw(fe, 0, 0);
}

static const struct h_guest h_guests[] = {
	{ "descriptor loop", "descriptor chain longer than the queue",
	    h_guest_loop },
	{ "chain longer than the queue",
	    "descriptor chain longer than the queue",
	    h_guest_long_chain },
	{ "indirect table of 0 bytes", "indirect table length",
	    h_guest_indirect_empty },
	{ "indirect table of 17 bytes", "indirect table length",
	    h_guest_indirect_odd },
	{ "indirect table past the end", "indirect table",
	    h_guest_indirect_end },
	{ "indirect table of 1M entries", "indirect table is too big",
	    h_guest_indirect_huge },
	{ "nested indirect table", "nested indirect table",
	    h_guest_indirect_nested },
	{ "indirect with NEXT", "indirect descriptor has the NEXT flag",
	    h_guest_indirect_next },
	{ "avail index jump", "avail index moved by more than the queue size",
	    h_guest_avail_jump },
	{ "head out of range", "head descriptor index out of range",
	    h_guest_head },
	{ "buffer in a hole", "buffer is not in guest memory", h_guest_hole },
	{ "buffer wrapping", "buffer is not in guest memory", h_guest_wrap },
};

/* Each hostile guest breaks rng0 only: its err eventfd fires, the log
 * names the device and the reason; rng1 is untouched. */
START_TEST(test_guest)
{
	const struct h_guest	*g = &h_guests[_i];
	struct h		 h;
	struct fe		*fe;
	char			 want[160], name[96];

	snprintf(name, sizeof name, "hostile guest: %s", g->name);
	h_start(&h, name);
	fe = h_fe(h.sock[0]);
	h_read(fe);
	g->run(fe);
	ck_assert_int_eq(fe_kick(fe, 0), 0);
	ck_assert_msg(fe_wait_err(fe, 0, H_WAIT_MS) == 1, "%s: err fd not "
	    "signalled", g->name);
	snprintf(want, sizeof want, "rng0: device broken: queue 0: %s",
	    g->reason);
	ck_assert_msg(fe_daemon_log_count(h.d, want) == 1, "%s: no '%s' in "
	    "the log", g->name, want);
	/* Broken: more kicks are ignored and do not spin the daemon. */
	ck_assert_int_eq(fe_kick(fe, 0), 0);
	h_sync(fe, g->name);
	h_close(&h, fe);
	h_check(&h, g->name);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "rng1: device broken"), 0);
	h_stop(&h);
}
END_TEST

/* Kicks before memory, before addresses, before enable: nothing runs
 * and nothing breaks; the queue works once it is set up. */
START_TEST(test_early_kicks)
{
	struct vhost_user_vring_state	 st;
	struct h	 h;
	struct fe	*fe;
	uint64_t	 v;
	int		 kfd;

	h_start(&h, "hostile: early kicks");
	fe = h_fe_negotiated(&h);
	kfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(kfd, 0);
	/* Kick fd, then kicks, with no memory and no ring. */
	v = 0;
	ck_assert_int_eq(fe_request(fe, VHOST_USER_SET_VRING_KICK, &v, 8,
	    &kfd, 1, NULL, ~0u), 0);
	ck_assert_int_eq(eventfd_write(kfd, 1), 0);
	st.index = 0;
	st.num = 1;
	ck_assert_int_eq(fe_request(fe, VHOST_USER_SET_VRING_ENABLE, &st,
	    sizeof st, NULL, 0, NULL, ~0u), 0);
	ck_assert_int_eq(eventfd_write(kfd, 1), 0);
	/* Memory, a size, but no addresses. */
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	st.num = H_QSIZE;
	ck_assert_int_eq(fe_request(fe, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0, NULL, ~0u), 0);
	ck_assert_int_eq(eventfd_write(kfd, 1), 0);
	h_sync(fe, "early kicks");
	ck_assert_int_eq(fe_daemon_log_count(h.d, "rng0: queue 0 started"),
	    0);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "device broken"), 0);
	close(kfd);
	/* Now the whole setup: it serves. */
	ck_assert_int_eq(fe_queue_setup(fe, 0, H_QSIZE), 0);
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	h_read(fe);
	h_close(&h, fe);
	h_check(&h, "early kicks");
	h_stop(&h);
}
END_TEST

/* Messages after RESET_OWNER: ring messages without memory are refused,
 * old kick fds are dead, and a full renegotiation on the same connection
 * serves again. */
START_TEST(test_after_reset_owner)
{
	struct vhost_user_vring_state	 st;
	struct h	 h;
	struct fe	*fe;
	struct fe_queue	*q;
	uint64_t	 v;
	uint32_t	 base;

	h_start(&h, "hostile: after RESET_OWNER");
	fe = h_fe(h.sock[0]);
	h_read(fe);
	q = fe_queue(fe, 0);
	ck_assert_int_eq(fe_request(fe, VHOST_USER_RESET_OWNER, NULL, 0, NULL,
	    0, NULL, ~0u), 0);
	ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: queue 0 stopped", 1,
	    H_WAIT_MS), 0);
	/* REPLY_ACK is gone with the reset: from now on, probe with sync. */
	fe->reply_ack = 0;
	fe_kick(fe, 0);
	st.index = 0;
	st.num = H_QSIZE;
	ck_assert_int_eq(fe_request(fe, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0, NULL, ~0u), 0);
	ck_assert_int_eq(fe_request(fe, VHOST_USER_SET_VRING_ADDR, &(struct
	    vhost_user_vring_addr){ .index = 0, .desc_user_addr =
	    (uint64_t)(uintptr_t)q->desc }, 40, NULL, 0, NULL, ~0u), 0);
	ck_assert_int_eq(fe_get_vring_base(fe, 0, &base), 0);
	v = 1;
	ck_assert_int_eq(fe_request(fe, VHOST_USER_SET_VRING_ENABLE, &v, 8,
	    NULL, 0, NULL, ~0u), 0);
	h_sync(fe, "after RESET_OWNER");
	ck_assert_int_ge(fe_daemon_log_count(h.d, "rng0: SET_VRING_ADDR: "
	    "queue 0: no memory table"), 1);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "rng0: queue 0 started"),
	    1);
	/* A second RESET_OWNER in a row, then everything again. */
	ck_assert_int_eq(fe_request(fe, VHOST_USER_RESET_OWNER, NULL, 0, NULL,
	    0, NULL, ~0u), 0);
	fe_disconnect(fe);
	ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: frontend "
	    "disconnected", 1, H_WAIT_MS), 0);
	h.disconnects++;
	fe_free(fe);
	h_check(&h, "after RESET_OWNER");
	h_stop(&h);
}
END_TEST


/* Build the suite. */
static Suite *
hostile_guest_suite(void)
{
	Suite	*s = suite_create("hostile_guest");
	TCase	*tc;

	tc = h_tcase(s, "guest", 60);
	tcase_add_loop_test(tc, test_guest, 0, (int)nitems(h_guests));
	tcase_add_test(tc, test_early_kicks);
	tcase_add_test(tc, test_after_reset_owner);
	return (s);
}

int
main(void)
{
	return (h_main("check_hostile_guest", hostile_guest_suite()));
}
