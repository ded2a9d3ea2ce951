/*
 * The split-ring unit suites' fixture: guest memory of memfd regions, a
 * ring configured and mapped on it, the guest driver's writes and reads,
 * and the runner's main (see vring_fixture.h).
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
#include "vring_fixture.h"

struct fixture	 fx;

/* A memfd of `size` bytes. */
int
check_vring_memfd(uint64_t size)
{
	int	 fd;

	fd = memfd_create("check_vring", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	return (fd);
}

/* Write guest memory (over region boundaries) as the guest would. */
void
gw(uint64_t gpa, const void *buf, size_t len)
{
	const uint8_t	*in = buf;
	uint64_t	 n;
	uint8_t		*p;

	while (len > 0) {
		n = len;
		p = guest_mem_translate(fx.mem, gpa, &n);
		ck_assert_ptr_nonnull(p);
		memcpy(p, in, (size_t)n);
		in += n;
		gpa += n;
		len -= (size_t)n;
	}
}

/* Read guest memory. */
void
gr(uint64_t gpa, void *buf, size_t len)
{
	uint8_t		*out = buf;
	uint64_t	 n;
	const uint8_t	*p;

	while (len > 0) {
		n = len;
		p = guest_mem_translate(fx.mem, gpa, &n);
		ck_assert_ptr_nonnull(p);
		memcpy(out, p, (size_t)n);
		out += n;
		gpa += n;
		len -= (size_t)n;
	}
}

/* Write a little-endian u16 into guest memory. */
void
gw16(uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	gw(gpa, &v, sizeof v);
}

/* Read a little-endian u16 from guest memory. */
uint16_t
gr16(uint64_t gpa)
{
	uint16_t	 v;

	gr(gpa, &v, sizeof v);
	return (le16toh(v));
}

/* Read a little-endian u32 from guest memory. */
uint32_t
gr32(uint64_t gpa)
{
	uint32_t	 v;

	gr(gpa, &v, sizeof v);
	return (le32toh(v));
}

/* Write descriptor i of the table at `table`. */
void
tdesc(uint64_t table, unsigned i, uint64_t addr, uint32_t len,
    uint16_t flags, uint16_t next)
{
	struct vring_desc	 d;

	d.addr = htole64(addr);
	d.len = htole32(len);
	d.flags = htole16(flags);
	d.next = htole16(next);
	gw(table + 16 * (uint64_t)i, &d, sizeof d);
}

/* Write descriptor i of the ring's table. */
void
desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	tdesc(DESC_GPA, i, addr, len, flags, next);
}

/* Make head available, as the guest does. */
void
avail_add(uint16_t head)
{
	gw16(AVAIL_GPA + 4 + 2 * (fx.aidx % fx.vq.num), head);
	fx.aidx++;
	gw16(AVAIL_GPA + 2, fx.aidx);
}

/* Build the guest memory and a configured ring of `num` entries. */
void
ring_setup(uint16_t num)
{
	static const uint64_t gpa[4] = { GA, GB, GC, GD };
	static const uint64_t size[4] = { SMALL, SMALL, SMALL, BIG };
	const char	*err = NULL;
	char		*cause = NULL;
	unsigned	 i;
	int		 fd;

	memset(&fx, 0, sizeof fx);
	for (i = 0; i < 4; i++) {
		fd = check_vring_memfd(size[i]);
		fx.r[i] = guest_region_map(fd, gpa[i], size[i],
		    0x7f0000000000ULL + gpa[i], 0, &cause);
		ck_assert_msg(fx.r[i] != NULL, "%s", cause);
		close(fd);
	}
	fx.mem = guest_mem_new(fx.r, 4, &cause);
	ck_assert_msg(fx.mem != NULL, "%s", cause);
	vring_init(&fx.vq, NULL, 0);
	fx.vq.num = num;
	fx.vq.indirect = 1;	/* VIRTIO_F_INDIRECT_DESC negotiated */
	ck_assert_msg(vring_set_addr(&fx.vq, fx.mem, DESC_GPA, AVAIL_GPA,
	    USED_GPA, 0, &cause) == 0, "%s", cause);
	/* As the worker does at start: map, which reads used->idx. */
	ck_assert_msg(vring_map(&fx.vq, fx.mem, &err) == 0, "%s", err);
}

/* Checked fixture: a ring of NUM entries. */
void
setup(void)
{
	ring_setup(NUM);
}

/* Free the fixture. */
void
teardown(void)
{
	unsigned	 i;

	vring_free(&fx.vq);
	guest_mem_free(fx.mem);
	for (i = 0; i < 4; i++)
		guest_region_unref(fx.r[i]);
}

/* Pop that must succeed. */
struct vring_chain *
pop_ok(void)
{
	struct vring_chain	*c;
	const char		*err = NULL;

	c = vring_pop(&fx.vq, fx.mem, &err);
	ck_assert_msg(c != NULL, "pop failed: %s", err ? err : "empty");
	ck_assert_ptr_null(err);
	return (c);
}

/* Pop that must fail with an error mentioning `what`, consuming nothing. */
void
pop_fails(const char *what)
{
	struct vring_chain	*c;
	const char		*err = NULL;
	uint16_t		 last = fx.vq.last_avail_idx;
	unsigned		 inflight = fx.vq.inflight;

	c = vring_pop(&fx.vq, fx.mem, &err);
	ck_assert_ptr_null(c);
	ck_assert_msg(err != NULL, "no error reported");
	ck_assert_msg(strstr(err, what) != NULL, "error '%s', expected '%s'",
	    err, what);
	ck_assert_uint_eq(fx.vq.last_avail_idx, last);
	ck_assert_uint_eq(fx.vq.inflight, inflight);
}

/* Pop on an empty ring: NULL without error. */
void
pop_empty(void)
{
	const char	*err = NULL;

	ck_assert_ptr_null(vring_pop(&fx.vq, fx.mem, &err));
	ck_assert_ptr_null(err);
}

/* Run suite `s`; the exit status says whether every test passed. */
int
check_vring_main(Suite *s)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
