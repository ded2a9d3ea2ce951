/*
 * The packed-ring unit suites' fixture: guest memory of memfd regions, a
 * packed ring configured and mapped on it, the guest driver's descriptor
 * writes and used-side reads, and the runner's main (see
 * vring_packed_fixture.h).
 */

#include <sys/types.h>
#include <sys/mman.h>

#include <check.h>
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest_mem.h"
#include "vhost_user.h"
#include "vring.h"
#include "vring_packed_fixture.h"

struct fixture	 fx;

/* A memfd of `size` bytes. */
int
cvp_memfd(uint64_t size)
{
	int	 fd;

	fd = memfd_create("check_vring_packed", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	return (fd);
}

/* Write guest memory as the guest would. */
void
gw(uint64_t gpa, const void *buf, size_t len)
{
	uint64_t	 n = len;
	uint8_t		*p;

	p = guest_mem_translate(fx.mem, gpa, &n);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_ge(n, len);
	memcpy(p, buf, len);
}

/* Read guest memory. */
void
gr(uint64_t gpa, void *buf, size_t len)
{
	uint64_t	 n = len;
	const uint8_t	*p;

	p = guest_mem_translate(fx.mem, gpa, &n);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_ge(n, len);
	memcpy(buf, p, len);
}

/* Write a packed descriptor at `gpa`. */
void
pdesc_at(uint64_t gpa, uint64_t addr, uint32_t len, uint16_t id,
    uint16_t flags)
{
	struct vring_packed_desc	 d;

	d.addr = htole64(addr);
	d.len = htole32(len);
	d.id = htole16(id);
	d.flags = htole16(flags);
	gw(gpa, &d, sizeof d);
}

/* Read the packed descriptor of ring slot i. */
void
pdesc_get(unsigned i, struct vring_packed_desc *d)
{
	gr(fx.desc_gpa + 16 * (uint64_t)i, d, sizeof *d);
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->id = le16toh(d->id);
	d->flags = le16toh(d->flags);
}

/* The guest makes `n` descriptors available at the next slots (flags
 * without the AVAIL/USED bits; they are added, right for each slot). */
void
post(const struct vring_packed_desc *d, unsigned n)
{
	unsigned	 i;
	uint16_t	 f;

	for (i = 0; i < n; i++) {
		f = (uint16_t)(d[i].flags | (fx.wrap ? F_AVAIL : F_USED));
		pdesc_at(fx.desc_gpa + 16 * (uint64_t)fx.slot, d[i].addr,
		    d[i].len, d[i].id, f);
		if (++fx.slot == fx.vq.num) {
			fx.slot = 0;
			fx.wrap = !fx.wrap;
		}
	}
}

/* Post one writable buffer of `len` bytes with buffer id `id`. */
void
post1(uint16_t id, uint32_t len)
{
	struct vring_packed_desc	 d = { BUF_GPA, len, id, 2 };

	post(&d, 1);
}

/* The guest takes the next used descriptor, which must be there with
 * `id` and `len`, and skips the `n` slots of that buffer. */
void
used_expect(uint16_t id, uint32_t len, unsigned n)
{
	struct vring_packed_desc	 d;
	int				 a, u;

	pdesc_get(fx.uslot, &d);
	a = (d.flags & F_AVAIL) != 0;
	u = (d.flags & F_USED) != 0;
	ck_assert_msg(a == fx.uwrap && u == fx.uwrap, "slot %u not used "
	    "(flags 0x%x, wrap %d)", fx.uslot, d.flags, fx.uwrap);
	ck_assert_uint_eq(d.id, id);
	ck_assert_uint_eq(d.len, len);
	fx.uslot = (uint16_t)(fx.uslot + n);
	if (fx.uslot >= fx.vq.num) {
		fx.uslot = (uint16_t)(fx.uslot - fx.vq.num);
		fx.uwrap = !fx.uwrap;
	}
}

/* Build the guest memory and a packed ring of `num` entries whose
 * descriptor ring is at `desc_gpa`. */
void
ring_setup_at(uint16_t num, uint64_t desc_gpa)
{
	static const uint64_t gpa[4] = { GA, GB, GC, GD };
	static const uint64_t size[4] = { SMALL, SMALL, SMALL, BIG };
	char		*cause = NULL;
	unsigned	 i;
	int		 fd;

	memset(&fx, 0, sizeof fx);
	for (i = 0; i < 4; i++) {
		fd = cvp_memfd(size[i]);
		fx.r[i] = guest_region_map(fd, gpa[i], size[i],
		    0x7f0000000000ULL + gpa[i], 0, &cause);
		ck_assert_msg(fx.r[i] != NULL, "%s", cause);
		close(fd);
	}
	fx.mem = guest_mem_new(fx.r, 4, &cause);
	ck_assert_msg(fx.mem != NULL, "%s", cause);
	vring_init(&fx.vq, NULL, 0);
	fx.vq.packed = 1;
	fx.vq.num = num;
	fx.vq.indirect = 1;
	fx.vq.event_idx = 1;
	fx.desc_gpa = desc_gpa;
	ck_assert_int_eq(vring_packed_set_base(&fx.vq, 0x80008000u, &cause),
	    0);
	ck_assert_msg(vring_set_addr(&fx.vq, fx.mem, desc_gpa, DRV_GPA,
	    DEV_GPA, 0, &cause) == 0, "%s", cause);
	fx.wrap = fx.uwrap = 1;
}

void
setup(void)
{
	ring_setup_at(NUM, DESC_GPA);
}

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
	return (c);
}

/* Pop that must fail with `what`, consuming nothing. */
void
pop_fails(const char *what)
{
	const char	*err = NULL;
	uint16_t	 last = fx.vq.last_avail_idx;
	int		 wrap = fx.vq.avail_wrap;
	unsigned	 inflight = fx.vq.inflight;

	ck_assert_ptr_null(vring_pop(&fx.vq, fx.mem, &err));
	ck_assert_msg(err != NULL, "no error reported");
	ck_assert_msg(strstr(err, what) != NULL, "error '%s', expected '%s'",
	    err, what);
	ck_assert_uint_eq(fx.vq.last_avail_idx, last);
	ck_assert_int_eq(fx.vq.avail_wrap, wrap);
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

/* Run suite `s`; exit 0 when every test passed. */
int
vring_packed_main(Suite *s)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? 0 : 1);
}
