/*
 * Suite "dirty_log": the dirty log of live migration against a live
 * daemon, driven by the test frontend as QEMU 7.2 drives it (SET_LOG_BASE
 * with a memfd, SET_FEATURES | LOG_ALL while running, SET_VRING_ADDR with
 * VHOST_VRING_F_LOG and log_guest_addr = the used ring).
 *
 *   - rng (writes through chain_iov, then pushes): after LOG_ALL every
 *     page of every pushed buffer and of the used ring has its bit, and
 *     pages the device never wrote (the descriptor table, a buffer never
 *     posted) do not;
 *   - no bit is set without LOG_ALL, nor after LOG_ALL is cleared;
 *   - a new SET_LOG_BASE while the queue runs: writes go to the new log
 *     only;
 *   - blk (GET_ID and the status byte through chain_write, reads through
 *     chain_iov): the same;
 *   - postcopy as QEMU 7.2 drives a destination: ADVISE gives a
 *     userfaultfd, ADD_MEM_REG after LISTEN is answered with the daemon's
 *     address, the table ack registers the regions (the harness then
 *     serves a fault itself), END; LISTEN before ADVISE and an ack
 *     outside postcopy are refused;
 *   - hostile: a log too small for the memory map, no fd, an offset past
 *     the end of the file, an unsealable fd are refused (the daemon lives
 *     and the device still serves); SET_LOG_BASE before any memory is
 *     accepted; memory grown past the log, or LOG_ALL without any log,
 *     fails only the device, with a clear log line, on the first write.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/userfaultfd.h>

#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk_fe.h"
#include "fe/fe.h"

#define D_START_MS	10000
#define D_STOP_MS	10000
#define D_WAIT_MS	10000
#define D_QSIZE		64
#define D_LOGSIZE	4096	/* covers 128 MiB of guest memory */
#define D_PAGE		4096ull

/* A shared log: the memfd and our mapping of it. */
struct d_log {
	int		 fd;
	uint8_t		*bits;
	size_t		 size;
};

/* One rng daemon and a started frontend. */
struct d {
	struct fe_daemon	*dm;
	char			 sock[600];
	struct fe		*fe;
};

/* A memfd log of `size` bytes (sealable unless `nosealing`). */
static void
d_log_new(struct d_log *lg, size_t size, int nosealing)
{
	lg->fd = memfd_create("vhost-log", MFD_CLOEXEC |
	    (nosealing ? 0 : MFD_ALLOW_SEALING));
	ck_assert_int_ge(lg->fd, 0);
	ck_assert_int_eq(ftruncate(lg->fd, (off_t)size), 0);
	lg->size = size;
	lg->bits = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    lg->fd, 0);
	ck_assert(lg->bits != MAP_FAILED);
}

static void
d_log_free(struct d_log *lg)
{
	munmap(lg->bits, lg->size);
	close(lg->fd);
}

/* SET_LOG_BASE with `fd` (or none when -1): 0 accepted, 1 refused. */
static int
d_set_base(struct fe *fe, int fd, uint64_t size, uint64_t offset)
{
	uint64_t	 p[2] = { size, offset };
	struct fe_msg	 reply;
	int		 r;

	r = fe_request(fe, VHOST_USER_SET_LOG_BASE, p, sizeof p, &fd,
	    fd >= 0 ? 1 : 0, &reply, 8);
	ck_assert_msg(r >= 0, "SET_LOG_BASE: %s", fe_error());
	fe_msg_close_fds(&reply);
	return (r);
}

/* Is the bit of the page of gpa set? */
static int
d_bit(const struct d_log *lg, uint64_t gpa)
{
	uint64_t	 page = gpa / D_PAGE;

	ck_assert_uint_lt(page / 8, lg->size);
	return ((lg->bits[page / 8] >> (page % 8)) & 1);
}

/* Number of bits set in the whole log. */
static unsigned
d_nbits(const struct d_log *lg)
{
	unsigned	 n = 0;
	size_t		 i;

	for (i = 0; i < lg->size; i++)
		n += (unsigned)__builtin_popcount(lg->bits[i]);
	return (n);
}

/* Every page of [gpa, gpa+len) is marked. */
static void
d_assert_range(const struct d_log *lg, uint64_t gpa, uint64_t len,
    const char *what)
{
	uint64_t	 p;

	for (p = gpa & ~(D_PAGE - 1); p < gpa + len; p += D_PAGE)
		ck_assert_msg(d_bit(lg, p), "%s: page 0x%llx not logged", what,
		    (unsigned long long)p);
}

/* Start an rng daemon and a frontend with queue 0 running, on a
 * packed ring when `packed`. */
static void
d_start_ring(struct d *d, const char *name, int packed)
{
	const char	*args[3], *socks[2];
	char		 sockarg[700];
	int		 r;

	memset(d, 0, sizeof *d);
	fe_start_protocol_extra = FE_MIGRATION_PROTOCOL;
	d->dm = fe_daemon_new(name);
	ck_assert_msg(d->dm != NULL, "fe_daemon_new: %s", fe_error());
	snprintf(d->sock, sizeof d->sock, "%s",
	    fe_daemon_path(d->dm, "rng.sock"));
	snprintf(sockarg, sizeof sockarg, "--socket=%s", d->sock);
	args[0] = "--module=rng";
	args[1] = sockarg;
	args[2] = NULL;
	socks[0] = d->sock;
	socks[1] = NULL;
	ck_assert_msg(fe_daemon_start(d->dm, args, socks, D_START_MS) == 0,
	    "start: %s", fe_error());
	d->fe = fe_new(d->sock, NULL, 0);
	ck_assert_msg(d->fe != NULL, "fe_new: %s", fe_error());
	d->fe->packed = packed;
	r = fe_start(d->fe, D_QSIZE);
	ck_assert_msg(r == 0, "fe_start: %d %s", r, fe_error());
	ck_assert(d->fe->features & FE_BIT(VHOST_F_LOG_ALL));
	ck_assert(d->fe->acked_protocol &
	    FE_BIT(VHOST_USER_PROTOCOL_F_LOG_SHMFD));
}

/* Start an rng daemon and a frontend with queue 0 running. */
static void
d_start(struct d *d, const char *name)
{
	d_start_ring(d, name, 0);
}

/* The daemon lives, exits 0 on SIGTERM, no sanitizer report. */
static void
d_stop(struct d *d, int broken_ok)
{
	int	 status;

	ck_assert_msg(fe_daemon_alive(d->dm), "vhostd died");
	if (!broken_ok)
		ck_assert_int_eq(fe_daemon_log_count(d->dm, "device broken"),
		    0);
	fe_free(d->fe);
	status = fe_daemon_stop(d->dm, D_STOP_MS);
	ck_assert_int_eq(fe_daemon_log_count(d->dm, "Sanitizer"), 0);
	ck_assert_int_eq(fe_daemon_log_count(d->dm, "runtime error:"), 0);
	ck_assert_msg(status == 0, "vhostd exit status %d", status);
	fe_daemon_free(d->dm);
}

/* Stop and resume queue q with the used ring logged (QEMU's
 * SET_VRING_ADDR with VHOST_VRING_F_LOG once logging starts). */
static void
d_ring_log(struct fe *fe, unsigned q, int on)
{
	fe_queue(fe, q)->addr_flags = on ? 1u << VHOST_VRING_F_LOG : 0;
	ck_assert_int_eq(fe_queue_pause(fe, q, NULL), 0);
	ck_assert_int_eq(fe_queue_resume(fe, q), 0);
}

/* Turn LOG_ALL on or off with SET_FEATURES, queues running. */
static void
d_log_all(struct fe *fe, int on)
{
	uint64_t	 f = fe->acked & ~FE_BIT(VHOST_F_LOG_ALL);

	if (on)
		f |= FE_BIT(VHOST_F_LOG_ALL);
	ck_assert_int_eq(fe_set_features(fe, f), 0);
}

/*
 * Post one rng request of three writable buffers (one per guest region,
 * the first crossing a page boundary) and wait for it; returns the
 * buffers in b[3].
 */
static void
d_rng_round(struct fe *fe, struct fe_buf *b)
{
	uint32_t	 id, len;
	int		 head;

	b[0].gpa = fe_alloc_in(fe, 0, 3 * D_PAGE, D_PAGE) + D_PAGE - 100;
	b[0].len = 300;
	b[1].gpa = fe_alloc_in(fe, 1, 2 * D_PAGE, D_PAGE) + 8;
	b[1].len = 5000;
	b[2].gpa = fe_alloc_in(fe, 2, 2 * D_PAGE, D_PAGE);
	b[2].len = 64;
	b[0].write = b[1].write = b[2].write = 1;
	ck_assert(b[0].gpa > D_PAGE && b[1].gpa > 8 && b[2].gpa != 0);
	head = fe_post(fe, 0, b, 3, 0);
	ck_assert_int_ge(head, 0);
	ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, D_WAIT_MS), 1);
	ck_assert_uint_eq(id, (uint32_t)head);
	ck_assert_uint_eq(len, 300 + 5000 + 64);
}

/* Every buffer of a round and the used ring are logged; the descriptor
 * table and an untouched page are not. */
static void
d_assert_round(struct fe *fe, const struct d_log *lg, const struct fe_buf *b)
{
	struct fe_queue	*q = fe_queue(fe, 0);
	uint64_t	 spare;
	unsigned	 i;

	for (i = 0; i < 3; i++)
		d_assert_range(lg, b[i].gpa, b[i].len, "buffer");
	d_assert_range(lg, q->used_gpa, 4 + 8 * (uint64_t)q->num, "used ring");
	ck_assert_msg(!d_bit(lg, q->desc_gpa), "descriptor table logged");
	spare = fe_alloc_in(fe, 2, D_PAGE, D_PAGE);
	ck_assert(spare != 0);
	ck_assert_msg(!d_bit(lg, spare), "a page never written is logged");
}

/* LOG_ALL on: every byte the device wrote is logged (chain_iov + push). */
START_TEST(test_log_all)
{
	struct d	 d;
	struct d_log	 lg;
	struct fe_buf	 b[3];
	int		 i;

	d_start(&d, "log_all");
	d_log_new(&lg, D_LOGSIZE, 0);
	ck_assert_int_eq(d_set_base(d.fe, lg.fd, lg.size, 0), 0);
	d_log_all(d.fe, 1);
	d_ring_log(d.fe, 0, 1);
	for (i = 0; i < 4; i++) {
		memset(lg.bits, 0, lg.size);
		d_rng_round(d.fe, b);
		d_assert_round(d.fe, &lg, b);
	}
	d_log_free(&lg);
	d_stop(&d, 0);
}
END_TEST

/* A packed ring: the buffers and the descriptors written back are
 * logged (by their own address), an untouched page is not. */
START_TEST(test_log_all_packed)
{
	struct d	 d;
	struct d_log	 lg;
	struct fe_buf	 b[3];
	struct fe_queue	*q;
	uint64_t	 spare;
	int		 i, j;

	d_start_ring(&d, "log_all_packed", 1);
	q = fe_queue(d.fe, 0);
	ck_assert(q->packed);
	d_log_new(&lg, D_LOGSIZE, 0);
	ck_assert_int_eq(d_set_base(d.fe, lg.fd, lg.size, 0), 0);
	d_log_all(d.fe, 1);
	spare = fe_alloc_in(d.fe, 2, D_PAGE, D_PAGE);
	for (i = 0; i < 4; i++) {
		memset(lg.bits, 0, lg.size);
		d_rng_round(d.fe, b);
		for (j = 0; j < 3; j++)
			d_assert_range(&lg, b[j].gpa, b[j].len, "buffer");
		d_assert_range(&lg, q->desc_gpa, 16, "descriptor ring");
		ck_assert_msg(!d_bit(&lg, spare), "a page never written is "
		    "logged");
	}
	d_log_free(&lg);
	d_stop(&d, 0);
}
END_TEST

/* No bit without LOG_ALL, and none once it is cleared again. */
START_TEST(test_no_log_all)
{
	struct d	 d;
	struct d_log	 lg;
	struct fe_buf	 b[3];

	d_start(&d, "no_log_all");
	d_log_new(&lg, D_LOGSIZE, 0);
	ck_assert_int_eq(d_set_base(d.fe, lg.fd, lg.size, 0), 0);
	d_ring_log(d.fe, 0, 1);
	d_rng_round(d.fe, b);
	ck_assert_uint_eq(d_nbits(&lg), 0);

	d_log_all(d.fe, 1);
	d_rng_round(d.fe, b);
	d_assert_round(d.fe, &lg, b);

	/* QEMU stops logging: SET_FEATURES without LOG_ALL, ADDR flags 0. */
	d_log_all(d.fe, 0);
	d_ring_log(d.fe, 0, 0);
	memset(lg.bits, 0, lg.size);
	d_rng_round(d.fe, b);
	ck_assert_uint_eq(d_nbits(&lg), 0);
	d_log_free(&lg);
	d_stop(&d, 0);
}
END_TEST

/* A new SET_LOG_BASE while the queue runs: the new log gets the bits. */
START_TEST(test_remap)
{
	struct d	 d;
	struct d_log	 a, c;
	struct fe_buf	 b[3];
	int		 i;

	d_start(&d, "remap");
	d_log_new(&a, D_LOGSIZE, 0);
	d_log_new(&c, 2 * D_LOGSIZE, 0);
	ck_assert_int_eq(d_set_base(d.fe, a.fd, a.size, 0), 0);
	d_log_all(d.fe, 1);
	d_ring_log(d.fe, 0, 1);
	d_rng_round(d.fe, b);
	d_assert_round(d.fe, &a, b);
	for (i = 0; i < 3; i++) {
		/* Alternate between the two, the second at an offset. */
		if (i % 2 == 0)
			ck_assert_int_eq(d_set_base(d.fe, c.fd, D_LOGSIZE,
			    D_LOGSIZE), 0);
		else
			ck_assert_int_eq(d_set_base(d.fe, a.fd, a.size, 0), 0);
		memset(a.bits, 0, a.size);
		memset(c.bits, 0, c.size);
		d_rng_round(d.fe, b);
		if (i % 2 == 0) {
			struct d_log	 view = c;

			ck_assert_uint_eq(d_nbits(&a), 0);
			view.bits = c.bits + D_LOGSIZE;
			view.size = D_LOGSIZE;
			d_assert_round(d.fe, &view, b);
			memset(c.bits + D_LOGSIZE, 0, D_LOGSIZE);
			ck_assert_uint_eq(d_nbits(&c), 0);
		} else {
			ck_assert_uint_eq(d_nbits(&c), 0);
			d_assert_round(d.fe, &a, b);
		}
	}
	d_log_free(&a);
	d_log_free(&c);
	d_stop(&d, 0);
}
END_TEST

/* blk: chain_write (GET_ID, status bytes) and chain_iov (reads). */
START_TEST(test_blk)
{
	struct bt	 t;
	struct d_log	 lg;
	uint64_t	 data;

	fe_start_protocol_extra = FE_MIGRATION_PROTOCOL;
	bt_start(&t, "log_blk", NULL, BT_IMG_SECTORS, NULL);
	bt_connect(&t, 1);
	d_log_new(&lg, D_LOGSIZE, 0);
	ck_assert_int_eq(d_set_base(t.fe, lg.fd, lg.size, 0), 0);
	d_log_all(t.fe, 1);
	d_ring_log(t.fe, 0, 1);
	memset(lg.bits, 0, lg.size);

	/* GET_ID: 20 bytes of serial by chain_write at data_gpa. */
	ck_assert_uint_eq(bt_simple(&t, 0, BLK_GET_ID, 0, 21), BLK_S_OK);
	d_assert_range(&lg, t.data_gpa, 20, "GET_ID buffer");
	d_assert_range(&lg, t.slots_gpa, 64, "status slots");
	memset(lg.bits, 0, lg.size);

	/* A 64 KiB read into data slot 1 (iovecs, then pushed). */
	ck_assert_uint_eq(bt_rw(&t, 0, BLK_IN, 128, 65536, 0, 0, 1),
	    BLK_S_OK);
	data = t.data_gpa + (128u << 10) + 4096;
	d_assert_range(&lg, data, 65536, "read buffer");
	d_assert_range(&lg, t.slots_gpa + 64, 64, "status byte");
	d_assert_range(&lg, fe_queue(t.fe, 0)->used_gpa, 8, "used ring");
	ck_assert_msg(!d_bit(&lg, data + 65536 + D_PAGE), "past the read");
	d_log_free(&lg);
	bt_stop(&t);
}
END_TEST

/* Refused logs: too small, no fd, offset past the end, unsealable, a
 * size of 0, an overflowing offset.  The device keeps serving. */
START_TEST(test_hostile_base)
{
	struct d	 d;
	struct d_log	 lg, ns;
	struct fe_buf	 b[3];

	d_start(&d, "hostile_base");
	d_log_new(&lg, D_LOGSIZE, 0);
	d_log_new(&ns, D_LOGSIZE, 1);
	/* 18 MiB of memory need 576 bytes. */
	ck_assert_int_eq(d_set_base(d.fe, lg.fd, 575, 0), 1);
	ck_assert_int_eq(fe_daemon_wait_log(d.dm, "too small for the memory "
	    "map", 1, D_WAIT_MS), 0);
	ck_assert_int_eq(d_set_base(d.fe, -1, lg.size, 0), 1);
	ck_assert_int_eq(fe_daemon_wait_log(d.dm, "no log fd", 1, D_WAIT_MS),
	    0);
	ck_assert_int_eq(d_set_base(d.fe, lg.fd, lg.size, 1), 1);
	ck_assert_int_eq(d_set_base(d.fe, lg.fd, 1024, D_LOGSIZE), 1);
	ck_assert_int_eq(fe_daemon_wait_log(d.dm, "past the end of the file",
	    2, D_WAIT_MS), 0);
	ck_assert_int_eq(d_set_base(d.fe, lg.fd, 0, 0), 1);
	ck_assert_int_eq(d_set_base(d.fe, lg.fd, 4096, UINT64_MAX - 10), 1);
	ck_assert_int_eq(d_set_base(d.fe, ns.fd, ns.size, 0), 1);
	ck_assert_int_eq(fe_daemon_wait_log(d.dm, "sealed", 1, D_WAIT_MS), 0);
	/* The device still serves, and a good log works after all that. */
	ck_assert_int_eq(d_set_base(d.fe, lg.fd, 576, 0), 0);
	d_log_all(d.fe, 1);
	d_ring_log(d.fe, 0, 1);
	d_rng_round(d.fe, b);
	d_assert_round(d.fe, &lg, b);
	d_log_free(&lg);
	d_log_free(&ns);
	d_stop(&d, 0);
}
END_TEST

/* SET_LOG_BASE before memory is accepted; memory then added past the end
 * of the log fails the device on the first write there, not the daemon. */
START_TEST(test_hostile_grown)
{
	struct fe_daemon	*dm;
	struct fe		*fe, *fe2;
	struct d_log		 lg;
	const char		*args[3], *socks[2];
	char			 sockarg[700];
	uint64_t		 buf;
	struct fe_buf		 b;
	int			 r, idx;

	dm = fe_daemon_new("hostile_grown");
	ck_assert(dm != NULL);
	snprintf(sockarg, sizeof sockarg, "--socket=%s",
	    fe_daemon_path(dm, "rng.sock"));
	args[0] = "--module=rng";
	args[1] = sockarg;
	args[2] = NULL;
	socks[0] = fe_daemon_path(dm, "rng.sock");
	socks[1] = NULL;
	ck_assert_int_eq(fe_daemon_start(dm, args, socks, D_START_MS), 0);
	fe = fe_new(socks[0], NULL, 0);
	ck_assert(fe != NULL);
	ck_assert_int_eq(fe_negotiate(fe, FE_WANT_FEATURES, FE_WANT_PROTOCOL |
	    FE_MIGRATION_PROTOCOL), 0);
	d_log_new(&lg, D_LOGSIZE, 0);
	/* 576 bytes cover 18 MiB: the default layout, nothing more. */
	ck_assert_int_eq(d_set_base(fe, lg.fd, 576, 0), 0);
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	ck_assert_int_eq(fe_queue_setup(fe, 0, D_QSIZE), 0);
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	/* A region at 64 MiB, beyond what the log covers. */
	idx = fe_region_add(fe, 64ull << 20, 1ull << 20, 0);
	ck_assert_int_ge(idx, 0);
	ck_assert_int_eq(fe_add_mem_reg(fe, (unsigned)idx), 0);
	d_log_all(fe, 1);
	buf = fe_alloc_in(fe, idx, D_PAGE, D_PAGE);
	ck_assert(buf >= (64ull << 20));
	b.gpa = buf;
	b.len = 100;
	b.write = 1;
	ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	ck_assert_int_eq(fe_daemon_wait_log(dm, "dirty log of 576 bytes too "
	    "small", 1, D_WAIT_MS), 0);
	ck_assert_int_eq(fe_wait_err(fe, 0, D_WAIT_MS), 1);
	fe_free(fe);

	/* LOG_ALL with no log at all: the same, on the next frontend. */
	fe_start_protocol_extra = FE_MIGRATION_PROTOCOL;
	fe2 = fe_new(socks[0], NULL, 0);
	ck_assert(fe2 != NULL);
	r = fe_start(fe2, D_QSIZE);
	ck_assert_int_eq(r, 0);
	d_log_all(fe2, 1);
	b.gpa = fe_alloc_in(fe2, 2, D_PAGE, D_PAGE);
	ck_assert_int_ge(fe_post(fe2, 0, &b, 1, 0), 0);
	ck_assert_int_eq(fe_daemon_wait_log(dm, "no log was given", 1,
	    D_WAIT_MS), 0);
	fe_free(fe2);
	ck_assert(fe_daemon_alive(dm));
	ck_assert_int_eq(fe_daemon_stop(dm, D_STOP_MS), 0);
	ck_assert_int_eq(fe_daemon_log_count(dm, "Sanitizer"), 0);
	d_log_free(&lg);
	fe_daemon_free(dm);
}
END_TEST

/* SET_LOG_FD: the eventfd is signalled after logged writes; SET_STATUS
 * and GET_STATUS keep the byte, and SET_STATUS 0 (QEMU 7.2's stop) does
 * not stop the queue. */
START_TEST(test_log_fd_status)
{
	struct d	 d;
	struct d_log	 lg;
	struct fe_buf	 b[3];
	uint64_t	 v;
	int		 efd;

	d_start(&d, "log_fd_status");
	d_log_new(&lg, D_LOGSIZE, 0);
	ck_assert_int_eq(d_set_base(d.fe, lg.fd, lg.size, 0), 0);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(efd, 0);
	ck_assert_int_eq(fe_request(d.fe, VHOST_USER_SET_LOG_FD, NULL, 0,
	    &efd, 1, NULL, ~0u), 0);
	d_log_all(d.fe, 1);
	d_ring_log(d.fe, 0, 1);
	d_rng_round(d.fe, b);
	ck_assert_int_eq(eventfd_read(efd, &v), 0);
	ck_assert_uint_ge(v, 1);
	d_assert_round(d.fe, &lg, b);
	close(efd);

	ck_assert_int_eq(fe_set_u64(d.fe, VHOST_USER_SET_STATUS, 0x0f), 0);
	ck_assert_int_eq(fe_get_u64(d.fe, VHOST_USER_GET_STATUS, &v), 0);
	ck_assert_uint_eq(v, 0x0f);
	ck_assert_int_eq(fe_set_u64(d.fe, VHOST_USER_SET_STATUS, 0), 0);
	ck_assert_int_eq(fe_get_u64(d.fe, VHOST_USER_GET_STATUS, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(fe_set_u64(d.fe, VHOST_USER_SET_STATUS, 0x100), 1);
	d_rng_round(d.fe, b);
	d_log_free(&lg);
	d_stop(&d, 0);
}
END_TEST

/* Postcopy on a destination, as QEMU 7.2 sends it; the harness plays
 * QEMU's fault thread for one page. */
START_TEST(test_postcopy)
{
	struct d			 d;
	struct fe_msg			 reply;
	struct vhost_user_mem_reg_msg	 rm;
	struct uffd_msg			 um;
	struct uffdio_copy		 cp;
	struct fe			*fe;
	uint8_t				*page;
	uint64_t			 zero = 0, ack, daemon_host;
	char				 link[64], target[128];
	int				 idx, ufd, r, i;
	ssize_t				 n;

	d_start(&d, "postcopy");
	fe = d.fe;
	ck_assert(fe->acked_protocol & FE_BIT(VHOST_USER_PROTOCOL_F_PAGEFAULT));
	/* Out of order: refused, nothing breaks. */
	ck_assert_int_eq(fe_request_ack(fe, VHOST_USER_POSTCOPY_LISTEN, NULL,
	    0, NULL, 0, &ack), 1);
	ck_assert_uint_eq(ack, 1);
	ck_assert_int_eq(fe_request_ack(fe, VHOST_USER_ADD_MEM_REG, &zero,
	    sizeof zero, NULL, 0, &ack), 1);
	ck_assert_uint_eq(ack, 1);
	ck_assert_int_eq(fe_daemon_wait_log(d.dm, "acknowledgement outside "
	    "postcopy", 1, D_WAIT_MS), 0);

	/* ADVISE: an empty payload and a userfaultfd. */
	ck_assert_int_eq(fe_sock_send(fe->fd, VHOST_USER_POSTCOPY_ADVISE,
	    VHOST_USER_VERSION, 0, NULL, 0, NULL, 0), 0);
	r = fe_sock_recv(fe->fd, &reply, D_WAIT_MS);
	ck_assert_int_eq(r, 1);
	ck_assert_uint_eq(reply.hdr.request, VHOST_USER_POSTCOPY_ADVISE);
	ck_assert_uint_eq(reply.hdr.size, 0);
	ck_assert_int_eq(reply.nfds, 1);
	ufd = reply.fds[0];
	snprintf(link, sizeof link, "/proc/self/fd/%d", ufd);
	n = readlink(link, target, sizeof target - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_msg(strstr(target, "userfaultfd") != NULL, "fd is %s",
	    target);
	ck_assert_int_eq(fe_request_ack(fe, VHOST_USER_POSTCOPY_LISTEN, NULL,
	    0, NULL, 0, &ack), 0);
	ck_assert_uint_eq(ack, 0);

	/* A new region, as QEMU sends it in postcopy (no NEED_REPLY): the
	 * reply carries the daemon's address of it. */
	idx = fe_region_add(fe, 64ull << 20, 1ull << 20, 0);
	ck_assert_int_ge(idx, 0);
	memset(&rm, 0, sizeof rm);
	rm.region.guest_phys_addr = 64ull << 20;
	rm.region.memory_size = 1ull << 20;
	rm.region.userspace_addr = (uint64_t)(uintptr_t)fe->regions[idx].host;
	ck_assert_int_eq(fe_sock_send(fe->fd, VHOST_USER_ADD_MEM_REG,
	    VHOST_USER_VERSION, sizeof rm, &rm, sizeof rm,
	    &fe->regions[idx].fd, 1), 0);
	ck_assert_int_eq(fe_sock_recv(fe->fd, &reply, D_WAIT_MS), 1);
	ck_assert_uint_eq(reply.hdr.request, VHOST_USER_ADD_MEM_REG);
	ck_assert_uint_eq(reply.hdr.size, sizeof rm);
	memcpy(&rm, reply.payload, sizeof rm);
	daemon_host = rm.region.userspace_addr;
	ck_assert_uint_eq(rm.region.guest_phys_addr, 64ull << 20);
	/* (It may equal ours: two processes can map at the same address,
	 * as under TSan.  The fault below is reported at it.) */
	ck_assert(daemon_host != 0 && (daemon_host & (D_PAGE - 1)) == 0);
	fe->regions[idx].present = 1;
	/* The acknowledgement: registers the regions, no reply. */
	ck_assert_int_eq(fe_sock_send(fe->fd, VHOST_USER_ADD_MEM_REG,
	    VHOST_USER_VERSION, sizeof zero, &zero, sizeof zero, NULL, 0), 0);
	ck_assert_int_eq(fe_daemon_wait_log(d.dm, "regions registered for "
	    "faults", 1, D_WAIT_MS), 0);

	/* The device writes into a page of the new region that was never
	 * touched: its worker faults, we (QEMU) place the page, and the
	 * request completes with the device's data on top. */
	{
		struct fe_buf	 b;
		uint32_t	 id, len;

		b.gpa = (64ull << 20) + 8 * D_PAGE;
		b.len = 64;
		b.write = 1;
		ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
		page = NULL;
		for (i = 0; i < D_WAIT_MS / 10; i++) {
			n = read(ufd, &um, sizeof um);
			if (n == (ssize_t)sizeof um)
				break;
			usleep(10000);
		}
		ck_assert_int_eq(n, (ssize_t)sizeof um);
		ck_assert_uint_eq(um.event, UFFD_EVENT_PAGEFAULT);
		ck_assert_uint_eq(um.arg.pagefault.address & ~(D_PAGE - 1),
		    daemon_host + 8 * D_PAGE);
		page = aligned_alloc(D_PAGE, D_PAGE);
		ck_assert(page != NULL);
		memset(page, 0x5a, D_PAGE);
		memset(&cp, 0, sizeof cp);
		cp.dst = daemon_host + 8 * D_PAGE;
		cp.src = (uint64_t)(uintptr_t)page;
		cp.len = D_PAGE;
		ck_assert_int_eq(ioctl(ufd, UFFDIO_COPY, &cp), 0);
		free(page);
		ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, D_WAIT_MS), 1);
		ck_assert_uint_eq(len, 64);
		ck_assert_uint_eq(fe->regions[idx].host[8 * D_PAGE + 64], 0x5a);
	}

	ck_assert_int_eq(fe_request_ack(fe, VHOST_USER_POSTCOPY_END, NULL, 0,
	    NULL, 0, &ack), 0);
	ck_assert_uint_eq(ack, 0);
	ck_assert_int_eq(fe_daemon_wait_log(d.dm, "postcopy ended", 1,
	    D_WAIT_MS), 0);
	close(ufd);
	d_stop(&d, 0);
}
END_TEST

/* The dirty_log suite. */
static Suite *
dirty_log_suite(void)
{
	Suite	*s = suite_create("dirty_log");
	TCase	*tc;

	tc = tcase_create("log");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_log_all);
	tcase_add_test(tc, test_log_all_packed);
	tcase_add_test(tc, test_no_log_all);
	tcase_add_test(tc, test_remap);
	tcase_add_test(tc, test_blk);
	tcase_add_test(tc, test_log_fd_status);
	tcase_add_test(tc, test_postcopy);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_hostile_base);
	tcase_add_test(tc, test_hostile_grown);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1) {
		fprintf(stderr, "check_dirty_log: %s\n", fe_error());
		return (1);
	}
	sr = srunner_create(dirty_log_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
