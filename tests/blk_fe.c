/*
 * Helpers for the blk module's frontend suites; see blk_fe.h.
 */

#include <sys/stat.h>
#include <sys/types.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"
#include "blk_fe.h"

#define BT_START_MS	10000
#define BT_STOP_MS	10000
#define BT_DATA_SLOT	(128u << 10)
#define BT_REGION1	(2ull << 20)	/* where guest region 1 starts */

/* Byte i of sector s of the pattern. */
uint8_t
bt_pat(uint64_t s, size_t i, int seed)
{
	if (seed < 0)
		return (0);
	return ((uint8_t)((s % 128) * 31 + i * 7 + (unsigned)seed));
}

/* Make the image and start the daemon. */
void
bt_start(struct bt *t, const char *name, const char *dir, uint64_t sectors,
    const char *const *opts)
{
	const char	*args[32], *socks[2];
	char		 sockarg[700], patharg[300], optarg[16][128];
	uint8_t		 buf[65536];
	uint64_t	 s;
	size_t		 i, n = 0, k;
	int		 fd;

	memset(t, 0, sizeof(*t));
	t->d = fe_daemon_new(name);
	ck_assert_msg(t->d != NULL, "fe_daemon_new: %s", fe_error());
	snprintf(t->img, sizeof(t->img), "%s/blk.img",
	    dir != NULL ? dir : fe_daemon_dir(t->d));
	fd = open(t->img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	for (s = 0; s < sectors; s += sizeof(buf) / 512) {
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = bt_pat(s + i / 512, i % 512, 0);
		ck_assert_int_eq(pwrite(fd, buf, sizeof(buf),
		    (off_t)(s * 512)), (ssize_t)sizeof(buf));
	}
	ck_assert_int_eq(ftruncate(fd, (off_t)(sectors * 512)), 0);
	close(fd);

	t->sock = fe_daemon_path(t->d, "blk.sock");
	snprintf(sockarg, sizeof(sockarg), "--socket=%s", t->sock);
	snprintf(patharg, sizeof(patharg), "--option=path=%s", t->img);
	args[n++] = "--module=blk";
	args[n++] = sockarg;
	args[n++] = patharg;
	for (k = 0; opts != NULL && opts[k] != NULL && k < 16; k++) {
		snprintf(optarg[k], sizeof(optarg[k]), "--option=%s",
		    opts[k]);
		args[n++] = optarg[k];
	}
	args[n] = NULL;
	socks[0] = t->sock;
	socks[1] = NULL;
	ck_assert_msg(fe_daemon_start(t->d, args, socks, BT_START_MS) == 0,
	    "start: %s", fe_error());
	ck_assert_int_eq(fe_daemon_wait_log(t->d, "listening on", 1,
	    BT_START_MS), 0);
}

/* Connect and start the queues; lay out the test's guest memory. */
void
bt_connect(struct bt *t, unsigned nq)
{
	struct fe_region	*r0;
	uint64_t		 tail;
	unsigned		 i;
	int			 rc;

	t->fe = fe_new(t->sock, NULL, 0);
	ck_assert_msg(t->fe != NULL, "fe_new: %s", fe_error());
	rc = fe_start(t->fe, BT_QSIZE);
	ck_assert_msg(rc == 0, "fe_start: %d %s", rc, fe_error());
	for (i = 1; i < nq; i++) {
		ck_assert_int_eq(fe_queue_setup(t->fe, i, BT_QSIZE), 0);
		ck_assert_int_eq(fe_vring_enable(t->fe, i, 1), 0);
	}
	/* Slots and data in region 2 (16 MiB). */
	t->slots_gpa = fe_alloc_in(t->fe, 2, BT_SLOTS * 64, 4096);
	t->data_gpa = fe_alloc_in(t->fe, 2, 8 * BT_DATA_SLOT, 4096);
	ck_assert(t->slots_gpa != 0 && t->data_gpa != 0);
	/* The rest of region 0 and the start of region 1: a buffer there
	 * crosses from one memfd mapping to another. */
	r0 = &t->fe->regions[0];
	tail = r0->size - r0->next;
	ck_assert_uint_ge(tail, BT_DATA_SLOT);
	ck_assert(fe_alloc_in(t->fe, 0, tail, 1) == BT_REGION1 - tail);
	ck_assert(fe_alloc_in(t->fe, 1, BT_DATA_SLOT, 1) == BT_REGION1);
	t->straddle_gpa = BT_REGION1 - BT_DATA_SLOT / 2;
}

/* Free the frontend and stop the daemon. */
void
bt_stop(struct bt *t)
{
	int	 status;

	if (t->fe != NULL)
		fe_free(t->fe);
	t->fe = NULL;
	ck_assert_msg(fe_daemon_alive(t->d), "vhostd died");
	status = fe_daemon_stop(t->d, BT_STOP_MS);
	ck_assert_int_eq(fe_daemon_log_count(t->d, "Sanitizer"), 0);
	ck_assert_int_eq(fe_daemon_log_count(t->d, "runtime error:"), 0);
	ck_assert_msg(status == 0, "vhostd exit status %d", status);
	fe_daemon_free(t->d);
	t->d = NULL;
}

/* Write a request header into slot `slot`; its gpa. */
static uint64_t
bt_hdr(struct bt *t, unsigned slot, uint32_t type, uint64_t sector)
{
	uint64_t	 gpa = t->slots_gpa + (uint64_t)(slot % BT_SLOTS) * 64;
	uint8_t		 h[16];

	memset(h, 0, sizeof(h));
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	ck_assert_int_eq(fe_write(t->fe, gpa, h, sizeof(h)), 0);
	ck_assert_int_eq(fe_fill(t->fe, gpa + 32, 0xee, 1), 0);
	return (gpa);
}

/* Post a chain and remember the slot of its head. */
static int
bt_post(struct bt *t, unsigned q, const struct fe_buf *b, unsigned n,
    unsigned slot, unsigned layout)
{
	int	 head;

	head = fe_post(t->fe, q, b, n, ((layout & L_INDIRECT) ?
	    FE_POST_INDIRECT : 0) | ((layout & L_NOKICK) ? FE_POST_NOKICK :
	    0));
	if (head >= 0)
		t->slot_of[head % BT_QSIZE] = slot % BT_SLOTS;
	return (head);
}

/* Post an IN or OUT with a layout. */
int
bt_post_rw(struct bt *t, unsigned q, uint32_t type, uint64_t sector,
    uint32_t len, int seed, unsigned slot, unsigned layout)
{
	struct fe_buf	 b[12];
	uint64_t	 h, d, st;
	uint8_t		*buf;
	uint32_t	 piece[4], off;
	unsigned	 n = 0, np, i;
	size_t		 k;
	int		 out = type == BLK_OUT;

	h = bt_hdr(t, slot, type, sector);
	st = h + 32;
	if (layout & L_STRADDLE)
		d = t->straddle_gpa - len / 2;
	else
		d = t->data_gpa + (uint64_t)(slot % 8) * BT_DATA_SLOT + 4096;
	if (layout & L_UNALIGNED)
		d += 1;
	if (out) {
		buf = malloc(len);
		ck_assert_ptr_nonnull(buf);
		for (k = 0; k < len; k++)
			buf[k] = bt_pat(sector + k / 512, k % 512, seed);
		ck_assert_int_eq(fe_write(t->fe, d, buf, len), 0);
		free(buf);
	} else
		ck_assert_int_eq(fe_fill(t->fe, d, 0xcc, len), 0);

	/* The data pieces. */
	if (layout & L_ODD_SPLIT) {
		piece[0] = len > 4000 ? 1001 : len / 2;
		piece[1] = len > 4000 ? 2999 : 0;
		piece[2] = len - piece[0] - piece[1];
		np = 3;
	} else if (layout & L_SPLIT_DATA) {
		for (i = 0; i < 4; i++)
			piece[i] = len / 4;
		piece[3] = len - 3 * (len / 4);
		np = 4;
	} else {
		piece[0] = len;
		np = 1;
	}

	if (out && (layout & L_DATA_WITH_HDR)) {
		/* The header right before the data, in its descriptor. */
		uint8_t	 hb[16];

		ck_assert_int_eq(fe_read(t->fe, h, hb, 16), 0);
		ck_assert_int_eq(fe_write(t->fe, d - 16, hb, 16), 0);
		b[n].gpa = d - 16;
		b[n].len = 16 + piece[0];
		b[n++].write = 0;
		off = piece[0];
		i = 1;
	} else {
		if (layout & L_HDR_SPLIT) {
			b[n].gpa = h;
			b[n].len = 5;
			b[n++].write = 0;
			b[n].gpa = h + 5;
			b[n].len = 11;
			b[n++].write = 0;
		} else {
			b[n].gpa = h;
			b[n].len = 16;
			b[n++].write = 0;
		}
		off = 0;
		i = 0;
	}
	for (; i < np; i++) {
		if (piece[i] == 0)
			continue;
		b[n].gpa = d + off;
		b[n].len = piece[i];
		b[n++].write = !out;
		off += piece[i];
	}
	if (!out && (layout & L_STATUS_SHARED)) {
		b[n - 1].len += 1;
		st = d + len;
		ck_assert_int_eq(fe_fill(t->fe, st, 0xee, 1), 0);
	} else {
		b[n].gpa = h + 32;
		b[n].len = 1;
		b[n++].write = 1;
	}
	return (bt_post(t, q, b, n, slot, layout));
}

/* The status byte of the request with this head, in its slot. */
uint8_t
bt_status_of(struct bt *t, uint32_t head)
{
	uint8_t		 s;

	ck_assert_int_eq(fe_read(t->fe, t->slots_gpa +
	    (uint64_t)t->slot_of[head % BT_QSIZE] * 64 + 32, &s, 1), 0);
	return (s);
}

/* Wait for the used entry of `head`. */
uint32_t
bt_wait(struct bt *t, unsigned q, int head)
{
	uint32_t	 id, len;
	int		 r;

	ck_assert_int_ge(head, 0);
	r = fe_wait_used(t->fe, q, &id, &len, 10000);
	ck_assert_msg(r == 1, "no used entry: %d %s", r, fe_error());
	ck_assert_uint_eq(id, (uint32_t)head);
	return (len);
}

/* One IN or OUT, waited for and checked. */
uint8_t
bt_rw(struct bt *t, unsigned q, uint32_t type, uint64_t sector,
    uint32_t len, int seed, unsigned layout, unsigned slot)
{
	uint64_t	 d;
	uint32_t	 used;
	uint8_t		*buf, s;
	size_t		 k;
	int		 head;

	head = bt_post_rw(t, q, type, sector, len, seed, slot, layout);
	used = bt_wait(t, q, head);
	if (layout & L_STRADDLE)
		d = t->straddle_gpa - len / 2;
	else
		d = t->data_gpa + (uint64_t)(slot % 8) * BT_DATA_SLOT + 4096;
	if (layout & L_UNALIGNED)
		d += 1;
	if (type == BLK_IN && (layout & L_STATUS_SHARED))
		ck_assert_int_eq(fe_read(t->fe, d + len, &s, 1), 0);
	else
		s = bt_status_of(t, (uint32_t)head);
	if (s != BLK_S_OK)
		return (s);
	if (type == BLK_OUT) {
		ck_assert_uint_eq(used, 1);
		return (s);
	}
	ck_assert_uint_eq(used, len + 1);
	buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fe_read(t->fe, d, buf, len), 0);
	for (k = 0; k < len; k++) {
		if (buf[k] != bt_pat(sector + k / 512, k % 512, seed))
			ck_abort_msg("read at sector %llu byte %zu: %u, not "
			    "%u", (unsigned long long)sector, k, buf[k],
			    bt_pat(sector + k / 512, k % 512, seed));
	}
	free(buf);
	return (s);
}

/* A header, wlen writable bytes (the last the status). */
uint8_t
bt_simple(struct bt *t, unsigned q, uint32_t type, uint64_t sector,
    uint32_t wlen)
{
	struct fe_buf	 b[3];
	uint64_t	 h = bt_hdr(t, 0, type, sector);
	unsigned	 n = 0;
	uint8_t		 s;

	b[n].gpa = h;
	b[n].len = 16;
	b[n++].write = 0;
	if (wlen > 1) {
		b[n].gpa = t->data_gpa;
		b[n].len = wlen - 1;
		b[n++].write = 1;
	}
	b[n].gpa = h + 32;
	b[n].len = 1;
	b[n++].write = 1;
	(void)bt_wait(t, q, bt_post(t, q, b, n, 0, 0));
	ck_assert_int_eq(fe_read(t->fe, h + 32, &s, 1), 0);
	return (s);
}

/* GET_ID. */
uint8_t
bt_get_id(struct bt *t, unsigned q, uint8_t *id)
{
	uint8_t	 s;

	s = bt_simple(t, q, BLK_GET_ID, 0, 21);
	ck_assert_int_eq(fe_read(t->fe, t->data_gpa, id, 20), 0);
	return (s);
}

/* DISCARD or WRITE_ZEROES of one range. */
uint8_t
bt_dwz(struct bt *t, unsigned q, uint32_t type, uint64_t sector,
    uint32_t num, int unmap)
{
	struct fe_buf	 b[3];
	uint64_t	 h = bt_hdr(t, 0, type, 0);
	uint32_t	 flags = unmap ? 1 : 0;
	uint8_t		 r[16];

	memcpy(r, &sector, 8);
	memcpy(r + 8, &num, 4);
	memcpy(r + 12, &flags, 4);
	ck_assert_int_eq(fe_write(t->fe, t->data_gpa, r, 16), 0);
	b[0].gpa = h;
	b[0].len = 16;
	b[0].write = 0;
	b[1].gpa = t->data_gpa;
	b[1].len = 16;
	b[1].write = 0;
	b[2].gpa = h + 32;
	b[2].len = 1;
	b[2].write = 1;
	(void)bt_wait(t, q, bt_post(t, q, b, 3, 0, 0));
	ck_assert_int_eq(fe_read(t->fe, h + 32, r, 1), 0);
	return (r[0]);
}

/* Check the image. */
void
bt_check_image(struct bt *t, uint64_t sector, uint64_t n, int seed)
{
	uint8_t		 buf[512];
	uint64_t	 s;
	size_t		 i;
	int		 fd;

	fd = open(t->img, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	for (s = sector; s < sector + n; s++) {
		ck_assert_int_eq(pread(fd, buf, sizeof(buf),
		    (off_t)(s * 512)), (ssize_t)sizeof(buf));
		for (i = 0; i < sizeof(buf); i++) {
			if (buf[i] != bt_pat(s, i, seed))
				ck_abort_msg("image sector %llu byte %zu: %u, "
				    "not %u", (unsigned long long)s, i, buf[i],
				    bt_pat(s, i, seed));
		}
	}
	close(fd);
}
