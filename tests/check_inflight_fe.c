/*
 * Suite "inflight_fe": inflight tracking in a live vhostd serving the blk
 * module, driven by the test frontend, which keeps the inflight region
 * across daemon restarts as QEMU does.  "restart": a busy queue, vhostd
 * killed with SIGKILL and restarted 1,000 times; after each restart the
 * frontend sends SET_INFLIGHT_FD and SET_VRING_BASE = used->idx (what
 * QEMU sends when GET_VRING_BASE cannot reach a dead back-end): every
 * request completes exactly once, with status OK, every read returns
 * what the last completed write left, and the image holds every write.
 * "hostile": SET/GET_INFLIGHT_FD that lie (sizes, offsets, fds, garbage
 * in the region) are refused or break the device, never the daemon.
 *
 * With VHOSTD_FE_PACKED=1 (tests/packed.sh) the queue is packed: the
 * region has the packed layout, and after a kill the frontend sends the
 * SET_VRING_BASE it had before (QEMU's stale value: a packed ring's
 * positions are not in guest memory), so the used and avail positions
 * come from the region alone.  One request in three is a direct chain
 * of three descriptors (the region copies each), the rest indirect.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"
#include "blk_fe.h"

#define IF_QS		64
#define IF_DEPTH	32
#define IF_NBLK		1024		/* 4 KiB blocks used (4 MiB) */
#define IF_BLK		4096
#define IF_KILLS	1000
#define IF_MS		30000

#define IF_PROTO	(FE_WANT_PROTOCOL | \
	FE_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))

/* The region size GET_INFLIGHT_FD gives for one queue of IF_QS: split
 * 16 + 16 * 64, packed 32 + 32 * 64, each rounded up to 64. */
#define IF_SIZE		(fe_env_packed() ? 2112u : 1088u)

/* One request in flight, by head. */
struct if_req {
	int		 busy;
	uint32_t	 type;
	unsigned	 blk;
	long		 seed;		/* OUT: its writer id; IN: expected */
};

struct if_run {
	struct bt	 t;
	const char	*args[8];
	char		 sockarg[700], patharg[300];
	const char	*socks[2];
	uint64_t	 hdr_gpa, data_gpa;
	struct if_req	 req[IF_QS];
	long		 last_writer[IF_NBLK];	/* -1: the image's pattern */
	int		 wbusy[IF_NBLK];	/* a write in flight */
	int		 rbusy[IF_NBLK];	/* reads in flight */
	long		 next_writer;
	unsigned	 next_wblk;
	unsigned	 outstanding;
	uint64_t	 completed;
	uint64_t	 posted;
};

/* Byte i of block b as written by writer w (-1: as bt_start made it). */
static uint8_t
if_pat(long w, unsigned b, size_t i)
{
	if (w < 0)
		return (bt_pat((uint64_t)b * 8 + i / 512, i % 512, 0));
	return ((uint8_t)(w * 131 + b * 7 + i * 13 + (i >> 8)));
}

/* Start (or restart) vhostd on the run's image and socket. */
static void
if_daemon_start(struct if_run *r)
{
	ck_assert_msg(fe_daemon_start(r->t.d, r->args, r->socks,
	    IF_MS) == 0, "start: %s", fe_error());
}

/* Handshake as QEMU does after a (re)connect: features, memory, the
 * kept inflight region, queue 0 with base = used->idx, enable. */
static void
if_handshake(struct if_run *r)
{
	struct fe_queue	*q = fe_queue(r->t.fe, 0);
	int		 rc;

	rc = fe_negotiate(r->t.fe, FE_WANT_FEATURES, IF_PROTO);
	ck_assert_msg(rc == 0, "negotiate: %d %s", rc, fe_error());
	ck_assert(r->t.fe->acked_protocol &
	    FE_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));
	ck_assert_int_eq(fe_set_mem_table(r->t.fe, NULL, 0), 0);
	if (r->t.fe->inflight_fd == -1)
		ck_assert_int_eq(fe_inflight_get(r->t.fe, 1, IF_QS), 0);
	ck_assert_msg(fe_inflight_set(r->t.fe) == 0, "SET_INFLIGHT_FD: %s",
	    fe_error());
	/* Split: used->idx, as QEMU after a back-end death.  Packed: the
	 * base stays what it was (QEMU's stale one). */
	if (q->allocated && !q->packed)
		q->base = q->used->idx;
	ck_assert_int_eq(fe_queue_setup(r->t.fe, 0, IF_QS), 0);
	ck_assert_int_eq(fe_vring_enable(r->t.fe, 0, 1), 0);
}

/* Image, daemon, frontend with its buffers. */
static void
if_up(struct if_run *r, const char *name)
{
	unsigned	 i;

	memset(r, 0, sizeof *r);
	bt_start(&r->t, name, NULL, BT_IMG_SECTORS, NULL);
	snprintf(r->sockarg, sizeof r->sockarg, "--socket=%s", r->t.sock);
	snprintf(r->patharg, sizeof r->patharg, "--option=path=%s",
	    r->t.img);
	r->args[0] = "--module=blk";
	r->args[1] = r->sockarg;
	r->args[2] = r->patharg;
	r->args[3] = NULL;
	r->socks[0] = r->t.sock;
	r->socks[1] = NULL;
	r->t.fe = fe_new(r->t.sock, NULL, 0);
	ck_assert_msg(r->t.fe != NULL, "fe_new: %s", fe_error());
	if_handshake(r);
	r->hdr_gpa = fe_alloc_in(r->t.fe, 2, IF_QS * 64, 4096);
	r->data_gpa = fe_alloc_in(r->t.fe, 2, (uint64_t)IF_QS * IF_BLK,
	    4096);
	ck_assert(r->hdr_gpa != 0 && r->data_gpa != 0);
	for (i = 0; i < IF_NBLK; i++)
		r->last_writer[i] = -1;
}

/* Post one request: a write to the next free block, or (one in four) a
 * read of a block no write is in flight for. */
static void
if_post(struct if_run *r)
{
	struct fe_buf	 b[3];
	uint8_t		 h[16], data[IF_BLK];
	uint32_t	 type;
	uint64_t	 sector, hg, dg;
	unsigned	 blk, tries;
	long		 seed;
	size_t		 i;
	int		 head;

	type = (r->posted % 4 == 3) ? BLK_IN : BLK_OUT;
	blk = 0;
	for (tries = 0; tries < IF_NBLK; tries++) {
		if (type == BLK_OUT) {
			blk = r->next_wblk++ % IF_NBLK;
			if (!r->wbusy[blk] && r->rbusy[blk] == 0)
				break;
		} else {
			blk = (unsigned)(r->posted * 7919 + tries) % IF_NBLK;
			if (!r->wbusy[blk])
				break;
		}
	}
	ck_assert_uint_lt(tries, IF_NBLK);
	/* The head is only known after fe_post: lay the request out in the
	 * slot of the next free head, which fe_post takes. */
	head = (int)fe_queue(r->t.fe, 0)->free_head;
	ck_assert(head >= 0 && head < IF_QS && !r->req[head].busy);
	hg = r->hdr_gpa + (uint64_t)head * 64;
	dg = r->data_gpa + (uint64_t)head * IF_BLK;
	sector = (uint64_t)blk * 8;
	memset(h, 0, sizeof h);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	ck_assert_int_eq(fe_write(r->t.fe, hg, h, sizeof h), 0);
	ck_assert_int_eq(fe_fill(r->t.fe, hg + 32, 0xee, 1), 0);
	if (type == BLK_OUT) {
		seed = r->next_writer++;
		for (i = 0; i < IF_BLK; i++)
			data[i] = if_pat(seed, blk, i);
		ck_assert_int_eq(fe_write(r->t.fe, dg, data, IF_BLK), 0);
		r->wbusy[blk] = 1;
	} else {
		seed = r->last_writer[blk];
		ck_assert_int_eq(fe_fill(r->t.fe, dg, 0xcc, IF_BLK), 0);
		r->rbusy[blk]++;
	}
	b[0].gpa = hg;
	b[0].len = 16;
	b[0].write = 0;
	b[1].gpa = dg;
	b[1].len = IF_BLK;
	b[1].write = type == BLK_IN;
	b[2].gpa = hg + 32;
	b[2].len = 1;
	b[2].write = 1;
	/* One in three direct (three slots) while the ring has room. */
	ck_assert_int_eq(fe_post(r->t.fe, 0, b, 3, (r->posted % 3 == 1 &&
	    fe_queue(r->t.fe, 0)->nfree >= 3 + IF_DEPTH) ? 0 :
	    FE_POST_INDIRECT), head);
	r->req[head].busy = 1;
	r->req[head].type = type;
	r->req[head].blk = blk;
	r->req[head].seed = seed;
	r->outstanding++;
	r->posted++;
}

/* One used entry: it must be a request in flight (exactly once), OK, and
 * a read must return what the last completed write left. */
static void
if_complete(struct if_run *r, uint32_t id)
{
	struct if_req	*q;
	uint8_t		 st, data[IF_BLK], want[IF_BLK];
	size_t		 i;

	ck_assert_uint_lt(id, IF_QS);
	q = &r->req[id];
	ck_assert_msg(q->busy, "head %u completed twice", id);
	ck_assert_int_eq(fe_read(r->t.fe, r->hdr_gpa + (uint64_t)id * 64 +
	    32, &st, 1), 0);
	ck_assert_msg(st == BLK_S_OK, "head %u: status %u", id, st);
	if (q->type == BLK_IN) {
		ck_assert_int_eq(fe_read(r->t.fe, r->data_gpa +
		    (uint64_t)id * IF_BLK, data, IF_BLK), 0);
		for (i = 0; i < IF_BLK; i++)
			want[i] = if_pat(q->seed, q->blk, i);
		ck_assert_msg(memcmp(data, want, IF_BLK) == 0, "block %u: "
		    "the read did not return writer %ld's data", q->blk,
		    q->seed);
		r->rbusy[q->blk]--;
	} else {
		r->last_writer[q->blk] = q->seed;
		r->wbusy[q->blk] = 0;
	}
	q->busy = 0;
	r->outstanding--;
	r->completed++;
}

/* Take every used entry there is now. */
static void
if_reap(struct if_run *r)
{
	uint32_t	 id, len;
	int		 rc;

	while ((rc = fe_get_used(r->t.fe, 0, &id, &len)) == 1)
		if_complete(r, id);
	ck_assert_int_ne(rc, -1);
}

/* Check the image holds every completed write. */
static void
if_check_image(struct if_run *r)
{
	uint8_t		 data[IF_BLK], want[IF_BLK];
	unsigned	 b;
	size_t		 i;
	int		 fd;

	fd = open(r->t.img, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	for (b = 0; b < IF_NBLK; b++) {
		ck_assert_int_eq(pread(fd, data, IF_BLK, (off_t)b * IF_BLK),
		    IF_BLK);
		for (i = 0; i < IF_BLK; i++)
			want[i] = if_pat(r->last_writer[b], b, i);
		ck_assert_msg(memcmp(data, want, IF_BLK) == 0, "image block "
		    "%u does not hold writer %ld's data", b,
		    r->last_writer[b]);
	}
	close(fd);
}

/*
 * 1,000 SIGKILLs of a busy queue.  Each round tops the queue up to
 * IF_DEPTH requests, lets the daemon work for a random 0-200 us, kills it,
 * restarts it and reconnects with the kept region.  At the end every
 * request has completed exactly once and the image is checked.
 */
START_TEST(test_inflight_fe_kills)
{
	struct if_run	*r;
	uint64_t	 at_kill = 0;
	uint32_t	 id, len;
	unsigned	 k, busy_kills = 0, max_out = 0, resubmits;
	const char	*env = getenv("VHOSTD_INFLIGHT_KILLS");
	unsigned	 kills = env != NULL ? (unsigned)atoi(env) : IF_KILLS;
	int64_t		 t0 = fe_now_ms(), deadline;
	int		 rc;

	r = calloc(1, sizeof *r);
	ck_assert_ptr_nonnull(r);
	if_up(r, "inflight-kills");
	srandom(42);
	for (k = 0; k < kills; k++) {
		while (r->outstanding < IF_DEPTH)
			if_post(r);
		usleep((useconds_t)(random() % 200));
		fe_daemon_kill(r->t.d);
		if (r->outstanding > 0)
			busy_kills++;
		if (r->outstanding > max_out)
			max_out = r->outstanding;
		at_kill += r->outstanding;
		if_reap(r);
		if_daemon_start(r);
		ck_assert_msg(fe_reconnect(r->t.fe, NULL) == 0,
		    "reconnect %u: %s", k, fe_error());
		if_handshake(r);
	}
	deadline = fe_now_ms() + IF_MS;
	while (r->outstanding > 0) {
		rc = fe_wait_used(r->t.fe, 0, &id, &len, 1000);
		ck_assert_int_ne(rc, -1);
		if (rc == 1)
			if_complete(r, id);
		ck_assert_msg(fe_now_ms() < deadline, "%u requests never "
		    "completed", r->outstanding);
	}
	ck_assert_uint_eq(r->completed, r->posted);
	resubmits = (unsigned)(fe_daemon_log_count(r->t.d,
	    "in flight at the last stop") + fe_daemon_log_count(r->t.d,
	    "resubmitting"));
	fprintf(stderr, "inflight_fe: %u kills in %lld ms, %llu requests, "
	    "%u kills with requests in flight (max %u, %llu in all), %u "
	    "restarts resubmitted\n", kills,
	    (long long)(fe_now_ms() - t0), (unsigned long long)r->posted,
	    busy_kills, max_out, (unsigned long long)at_kill, resubmits);
	/* The kills did hit requests the daemon had taken. */
	ck_assert_uint_gt(busy_kills, kills / 4);
	ck_assert_uint_gt(resubmits, kills / 10);
	/* Every write has completed: the image holds them all. */
	if_check_image(r);
	bt_stop(&r->t);
	free(r);
}
END_TEST

/*
 * Client mode (--client): the test frontend listens like QEMU with
 * server=on, and vhostd connects.  The daemon is started before anything
 * listens (it retries), serves requests, reconnects by itself with
 * backoff when the frontend drops the connection, and 20 SIGKILLs with
 * requests in flight lose nothing (the region is kept as in "restart").
 */
START_TEST(test_inflight_fe_client)
{
	struct if_run	*r;
	char		 clientpath[600];
	uint32_t	 id, len;
	unsigned	 k;
	int		 lfd, fd, rc;
	int64_t		 deadline;

	r = calloc(1, sizeof *r);
	ck_assert_ptr_nonnull(r);
	if_up(r, "inflight-client");
	/* Restart the same daemon in client mode on another path. */
	fe_free(r->t.fe);
	r->t.fe = NULL;
	fe_daemon_kill(r->t.d);
	snprintf(clientpath, sizeof clientpath, "%s",
	    fe_daemon_path(r->t.d, "vmm.sock"));
	snprintf(r->sockarg, sizeof r->sockarg, "--socket=%s", clientpath);
	r->args[3] = "--client";
	r->args[4] = NULL;
	r->socks[0] = NULL;
	if_daemon_start(r);
	ck_assert_int_eq(fe_daemon_wait_log(r->t.d, "cannot connect to", 1,
	    IF_MS), 0);
	lfd = fe_listen(clientpath);
	ck_assert_msg(lfd >= 0, "%s", fe_error());
	fd = fe_accept(lfd, IF_MS);
	ck_assert_msg(fd >= 0, "%s", fe_error());
	r->t.fe = fe_new(NULL, NULL, 0);
	ck_assert_ptr_nonnull(r->t.fe);
	fe_adopt(r->t.fe, fd);
	if_handshake(r);
	r->hdr_gpa = fe_alloc_in(r->t.fe, 2, IF_QS * 64, 4096);
	r->data_gpa = fe_alloc_in(r->t.fe, 2, (uint64_t)IF_QS * IF_BLK,
	    4096);
	ck_assert(r->hdr_gpa != 0 && r->data_gpa != 0);

	for (k = 0; k < 22; k++) {
		while (r->outstanding < IF_DEPTH)
			if_post(r);
		usleep((useconds_t)(random() % 200));
		if (k < 2) {
			/* The VMM drops the connection: vhostd comes back
			 * by itself. */
			fe_adopt(r->t.fe, -1);
		} else {
			fe_daemon_kill(r->t.d);
			if_daemon_start(r);
		}
		fd = fe_accept(lfd, IF_MS);
		ck_assert_msg(fd >= 0, "round %u: %s", k, fe_error());
		fe_adopt(r->t.fe, fd);
		if_handshake(r);
		if_reap(r);
	}
	deadline = fe_now_ms() + IF_MS;
	while (r->outstanding > 0) {
		rc = fe_wait_used(r->t.fe, 0, &id, &len, 1000);
		ck_assert_int_ne(rc, -1);
		if (rc == 1)
			if_complete(r, id);
		ck_assert_msg(fe_now_ms() < deadline, "%u requests never "
		    "completed", r->outstanding);
	}
	ck_assert_uint_eq(r->completed, r->posted);
	ck_assert_int_ge(fe_daemon_log_count(r->t.d, "connected to"), 23);
	if_check_image(r);
	close(lfd);
	bt_stop(&r->t);
	free(r);
}
END_TEST

/* A started blk daemon and frontend, negotiated with INFLIGHT_SHMFD and
 * memory sent, no queue yet. */
static void
if_hostile_up(struct bt *t, const char *name)
{
	bt_start(t, name, NULL, BT_IMG_SECTORS, NULL);
	t->fe = fe_new(t->sock, NULL, 0);
	ck_assert_ptr_nonnull(t->fe);
	ck_assert_int_eq(fe_negotiate(t->fe, FE_WANT_FEATURES, IF_PROTO), 0);
	ck_assert_int_eq(fe_set_mem_table(t->fe, NULL, 0), 0);
}

/* The daemon is alive and the connection still answers. */
static void
if_still_up(struct bt *t)
{
	uint64_t	 f;

	ck_assert(fe_daemon_alive(t->d));
	ck_assert_int_eq(fe_get_features(t->fe, &f), 0);
}

/* GET_INFLIGHT_FD: the region's layout; nonsense geometry refused. */
START_TEST(test_inflight_fe_get)
{
	struct bt	 t;
	uint8_t		*h;

	if_hostile_up(&t, "inflight-get");
	ck_assert_int_eq(fe_inflight_get(t.fe, 0, IF_QS), 1);
	ck_assert_int_eq(fe_inflight_get(t.fe, 2, IF_QS), 1);
	ck_assert_int_eq(fe_inflight_get(t.fe, 1, 0), 1);
	ck_assert_int_eq(fe_inflight_get(t.fe, 1, 32768), 1);
	if_still_up(&t);
	ck_assert_int_eq(fe_inflight_get(t.fe, 1, IF_QS), 0);
	ck_assert_uint_eq(t.fe->inflight_size, IF_SIZE);
	h = fe_inflight_queue(t.fe, 0);
	/* version 0: each queue's header is written at its first start,
	 * with the ring's indices then (both layouts). */
	ck_assert_uint_eq(h[8], 0);
	ck_assert_uint_eq(h[10], IF_QS);	/* desc_num */
	/* Sealed: the frontend cannot shrink it under the daemon. */
	ck_assert_int_eq(ftruncate(t.fe->inflight_fd, 16), -1);
	bt_stop(&t);
}
END_TEST

/* SET_INFLIGHT_FD that lies about sizes, offsets or the fd is refused
 * with a reason, and the connection stays. */
START_TEST(test_inflight_fe_set_lies)
{
	struct bt	 t;
	uint64_t	 size = IF_SIZE;
	int		 small, efd;

	if_hostile_up(&t, "inflight-lies");
	ck_assert_int_eq(fe_inflight_get(t.fe, 1, IF_QS), 0);
	/* Wrong size, either way. */
	ck_assert_int_eq(fe_inflight_set_raw(t.fe, size - 64, 0, 1, IF_QS,
	    t.fe->inflight_fd), 1);
	ck_assert_int_eq(fe_inflight_set_raw(t.fe, size * 2, 0, 1, IF_QS,
	    t.fe->inflight_fd), 1);
	ck_assert_int_ge(fe_daemon_log_count(t.d, fe_env_packed() ?
	    "expected 2112 for 1 packed queues of 64" :
	    "expected 1088 for 1 split queues of 64"), 2);
	/* Offsets: not page-aligned, past the file, overflowing. */
	ck_assert_int_eq(fe_inflight_set_raw(t.fe, size, 100, 1, IF_QS,
	    t.fe->inflight_fd), 1);
	ck_assert_int_eq(fe_inflight_set_raw(t.fe, size, 1 << 20, 1, IF_QS,
	    t.fe->inflight_fd), 1);
	ck_assert_int_eq(fe_inflight_set_raw(t.fe, size, UINT64_MAX & ~4095ULL,
	    1, IF_QS, t.fe->inflight_fd), 1);
	/* Too many queues, a queue size above the device's. */
	ck_assert_int_eq(fe_inflight_set_raw(t.fe, size * 4, 0, 4, IF_QS,
	    t.fe->inflight_fd), 1);
	/* No fd. */
	ck_assert_int_eq(fe_inflight_set_raw(t.fe, size, 0, 1, IF_QS, -1), 1);
	/* A file smaller than it claims (mapping it would SIGBUS). */
	small = memfd_create("small", MFD_CLOEXEC);
	ck_assert_int_ge(small, 0);
	ck_assert_int_eq(ftruncate(small, 100), 0);
	ck_assert_int_eq(fe_inflight_set_raw(t.fe, size, 0, 1, IF_QS, small),
	    1);
	ck_assert_int_ge(fe_daemon_log_count(t.d, "the file has 100 bytes"),
	    1);
	close(small);
	/* Not a file at all. */
	efd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_eq(fe_inflight_set_raw(t.fe, size, 0, 1, IF_QS, efd),
	    1);
	close(efd);
	if_still_up(&t);
	/* The truth is still accepted, also at a page-aligned offset in
	 * another file. */
	ck_assert_int_eq(fe_inflight_set(t.fe), 0);
	small = memfd_create("offset", MFD_CLOEXEC);
	ck_assert_int_ge(small, 0);
	ck_assert_int_eq(ftruncate(small, 4096 + size), 0);
	ck_assert_int_eq(pwrite(small, fe_inflight_queue(t.fe, 0), size,
	    4096), (ssize_t)size);
	ck_assert_int_eq(fe_inflight_set_raw(t.fe, size, 4096, 1, IF_QS,
	    small), 0);
	close(small);
	bt_stop(&t);
}
END_TEST

/* Without INFLIGHT_SHMFD negotiated, both requests are refused. */
START_TEST(test_inflight_fe_not_negotiated)
{
	struct bt	 t;
	int		 fd;

	bt_start(&t, "inflight-noneg", NULL, BT_IMG_SECTORS, NULL);
	t.fe = fe_new(t.sock, NULL, 0);
	ck_assert_ptr_nonnull(t.fe);
	ck_assert_int_eq(fe_negotiate(t.fe, FE_WANT_FEATURES,
	    FE_WANT_PROTOCOL), 0);
	ck_assert(t.fe->protocol_features &
	    FE_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));
	ck_assert_int_eq(fe_inflight_get(t.fe, 1, IF_QS), 1);
	fd = memfd_create("r", MFD_CLOEXEC);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	ck_assert_int_eq(fe_inflight_set_raw(t.fe, 16 + 16 * IF_QS, 0, 1,
	    IF_QS, fd), 1);
	close(fd);
	if_still_up(&t);
	bt_stop(&t);
}
END_TEST

/*
 * Garbage in the region the frontend hands back (flag bytes of 7, a last
 * batch far away): accepted by SET_INFLIGHT_FD (the content is read when
 * the queue starts), then the queue start breaks the device with a
 * reason; nothing is resubmitted and the daemon keeps running.
 */
START_TEST(test_inflight_fe_garbage)
{
	struct bt	 t;
	uint8_t		*h;
	uint32_t	 id, len;

	if_hostile_up(&t, "inflight-garbage");
	ck_assert_int_eq(fe_inflight_get(t.fe, 1, IF_QS), 0);
	h = fe_inflight_queue(t.fe, 0);
	/* An initialised header (version 1, desc_num), entries of 7s: a
	 * version-0 header would be a fresh region with nothing to read. */
	h[8] = 1;
	h[10] = IF_QS;
	if (fe_env_packed())
		memset(h + 32, 7, 32 * IF_QS);
	else
		memset(h + 16, 7, 16 * IF_QS);
	ck_assert_int_eq(fe_inflight_set(t.fe), 0);
	ck_assert_int_eq(fe_queue_setup(t.fe, 0, IF_QS), 0);
	ck_assert_int_eq(fe_vring_enable(t.fe, 0, 1), 0);
	ck_assert_int_eq(fe_wait_err(t.fe, 0, IF_MS), 1);
	ck_assert_int_eq(fe_daemon_wait_log(t.d, fe_env_packed() ?
	    "inflight region: free list is broken" :
	    "inflight region: bad inflight flag", 1, IF_MS), 0);
	ck_assert_int_eq(fe_get_used(t.fe, 0, &id, &len), 0);
	if_still_up(&t);
	bt_stop(&t);
}
END_TEST

/* The suite. */
static Suite *
inflight_fe_suite(void)
{
	Suite	*s = suite_create("inflight_fe");
	TCase	*tc;

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_inflight_fe_get);
	tcase_add_test(tc, test_inflight_fe_set_lies);
	tcase_add_test(tc, test_inflight_fe_not_negotiated);
	tcase_add_test(tc, test_inflight_fe_garbage);
	suite_add_tcase(s, tc);

	tc = tcase_create("client");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_inflight_fe_client);
	suite_add_tcase(s, tc);

	tc = tcase_create("restart");
	tcase_set_timeout(tc, 1800);
	tcase_add_test(tc, test_inflight_fe_kills);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1)
		return (EXIT_FAILURE);
	sr = srunner_create(inflight_fe_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	failed += fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
