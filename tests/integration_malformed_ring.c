/*
 * Malformed input on guest memory and rings, for
 * tests/check_integration_malformed.c: SET_MEM_TABLE, ADD_MEM_REG and
 * REM_MEM_REG with bad regions and fds, vring messages with bad indexes,
 * sizes and addresses, and guest descriptor chains that loop, leave
 * guest memory or nest indirect tables.
 */
#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"
#include "integration_harness.h"
#include "integration_malformed.h"

/* Build a SET_MEM_TABLE payload from wire regions. */
static uint32_t
it_mem_payload(uint8_t *buf, uint32_t nregions,
    const struct vhost_user_mem_region *r, unsigned n)
{
	struct vhost_user_memory	m;

	m.nregions = nregions;
	m.padding = 0;
	memcpy(buf, &m, 8);
	if (n > 0)
		memcpy(buf + 8, r, n * sizeof *r);
	return ((uint32_t)(8 + n * sizeof *r));
}

/* A wire region from local region i. */
static struct vhost_user_mem_region
it_wire(struct fe *fe, unsigned i)
{
	struct vhost_user_mem_region	w;

	w.guest_phys_addr = fe->regions[i].gpa;
	w.memory_size = fe->regions[i].size;
	w.userspace_addr = (uint64_t)(uintptr_t)fe->regions[i].host;
	w.mmap_offset = fe->regions[i].offset;
	return (w);
}

/* SET_MEM_TABLE with 0 regions. */
void
it_bad_mem_zero_regions(struct fe *fe, struct fe_daemon *d)
{
	uint8_t	p[8];

	(void)d;
	it_mem_payload(p, 0, NULL, 0);
	it_nack_ack(fe, VHOST_USER_SET_MEM_TABLE, p, 8, NULL, 0);
}

/* SET_MEM_TABLE with 9 regions (8 fds: the most one message carries). */
void
it_bad_mem_nine_regions(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_region	w[9];
	uint8_t				p[8 + sizeof w];
	int				fds[8];
	unsigned			i;
	uint32_t			size;

	(void)d;
	for (i = 0; i < 9; i++) {
		w[i] = it_wire(fe, 0);
		w[i].memory_size = 4096;
		w[i].guest_phys_addr = i * 4096;
		w[i].userspace_addr += i * 4096;
		w[i].mmap_offset = i * 4096;
		if (i < 8)
			fds[i] = fe->regions[0].fd;
	}
	size = it_mem_payload(p, 9, w, 9);
	it_expect_nack(fe, VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, size,
	    p, size, fds, 8, 1);
}

/* SET_MEM_TABLE with 2 regions and 1 fd; nregions and size disagree. */
void
it_bad_mem_fd_count(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_region	w[2];
	uint8_t				p[8 + sizeof w];
	uint32_t			size;
	int				fds[2];

	(void)d;
	w[0] = it_wire(fe, 0);
	w[1] = it_wire(fe, 2);
	fds[0] = fe->regions[0].fd;
	fds[1] = fe->regions[2].fd;
	size = it_mem_payload(p, 2, w, 2);
	it_expect_nack(fe, VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, size,
	    p, size, fds, 1, 1);
	if (fe_sock_wait_closed(fe->fd, 0))
		return;
	/* nregions 2 but only one region's bytes. */
	size = it_mem_payload(p, 2, w, 1);
	it_expect_nack(fe, VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, size,
	    p, size, fds, 2, 1);
}

/* SET_MEM_TABLE with mmap_offset past the end of the memfd. */
void
it_bad_mem_offset(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_region	w;
	uint8_t				p[8 + sizeof w];
	uint32_t			size;

	(void)d;
	w = it_wire(fe, 0);
	w.mmap_offset = 64u << 20;
	size = it_mem_payload(p, 1, &w, 1);
	it_nack_ack(fe, VHOST_USER_SET_MEM_TABLE, p, size,
	    &fe->regions[0].fd, 1);
	/* offset + size overflows 64 bits. */
	w.mmap_offset = ~0ull - 4095;
	size = it_mem_payload(p, 1, &w, 1);
	it_nack_ack(fe, VHOST_USER_SET_MEM_TABLE, p, size,
	    &fe->regions[0].fd, 1);
	/* size reaches past the end of the file. */
	w = it_wire(fe, 1);
	w.memory_size += 4096;
	size = it_mem_payload(p, 1, &w, 1);
	it_nack_ack(fe, VHOST_USER_SET_MEM_TABLE, p, size,
	    &fe->regions[1].fd, 1);
}

/* SET_MEM_TABLE with overlapping guest ranges. */
void
it_bad_mem_overlap(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_region	w[2];
	uint8_t				p[8 + sizeof w];
	uint32_t			size;
	int				fds[2];

	(void)d;
	w[0] = it_wire(fe, 0);
	w[1] = it_wire(fe, 2);
	w[1].guest_phys_addr = 1u << 20;	/* inside region 0 */
	fds[0] = fe->regions[0].fd;
	fds[1] = fe->regions[2].fd;
	size = it_mem_payload(p, 2, w, 2);
	it_nack_ack(fe, VHOST_USER_SET_MEM_TABLE, p, size, fds, 2);
}

/* SET_MEM_TABLE with a zero-size region. */
void
it_bad_mem_zero_size(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_region	w;
	uint8_t				p[8 + sizeof w];
	uint32_t			size;

	(void)d;
	w = it_wire(fe, 0);
	w.memory_size = 0;
	size = it_mem_payload(p, 1, &w, 1);
	it_nack_ack(fe, VHOST_USER_SET_MEM_TABLE, p, size,
	    &fe->regions[0].fd, 1);
}

/* SET_MEM_TABLE whose fd cannot be mapped (an eventfd). */
void
it_bad_mem_not_mappable(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_region	w;
	uint8_t				p[8 + sizeof w];
	uint32_t			size;
	int				efd = eventfd(0, 0);

	(void)d;
	w = it_wire(fe, 0);
	size = it_mem_payload(p, 1, &w, 1);
	it_nack_ack(fe, VHOST_USER_SET_MEM_TABLE, p, size, &efd, 1);
	close(efd);
}

/* SET_VRING_KICK without an fd and without the NOFD flag. */
void
it_bad_kick_nofd(struct fe *fe, struct fe_daemon *d)
{
	uint64_t	v = 0;

	(void)d;
	it_expect_nack(fe, VHOST_USER_SET_VRING_KICK, VHOST_USER_VERSION, 8,
	    &v, 8, NULL, 0, 1);
}

/* Vring index out of range in every vring message. */
void
it_bad_vring_index(struct fe *fe, struct fe_daemon *d)
{
	static const uint32_t		 idx[] = { 1, 255, 0x10000 };
	static const uint32_t		 state_reqs[] = {
		VHOST_USER_SET_VRING_NUM, VHOST_USER_SET_VRING_BASE,
		VHOST_USER_SET_VRING_ENABLE,
	};
	static const uint32_t		 fd_reqs[] = {
		VHOST_USER_SET_VRING_KICK, VHOST_USER_SET_VRING_CALL,
		VHOST_USER_SET_VRING_ERR,
	};
	struct vhost_user_vring_state	 s;
	struct vhost_user_vring_addr	 a;
	struct fe_queue			*q = fe_queue(fe, 0);
	unsigned			 i, k;
	uint64_t			 v;
	int				 efd;

	(void)d;
	for (i = 0; i < 3; i++) {
		for (k = 0; k < 3; k++) {
			s.index = idx[i];
			s.num = k == 2 ? 1 : 64;
			it_nack_ack(fe, state_reqs[k], &s, sizeof s, NULL, 0);
		}
		memset(&a, 0, sizeof a);
		a.index = idx[i];
		a.desc_user_addr = (uint64_t)(uintptr_t)q->desc;
		a.avail_user_addr = (uint64_t)(uintptr_t)q->avail;
		a.used_user_addr = (uint64_t)(uintptr_t)q->used;
		it_nack_ack(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL,
		    0);
		if (idx[i] <= 0xff) {
			for (k = 0; k < 3; k++) {
				efd = eventfd(0, 0);
				v = idx[i];
				it_nack_ack(fe, fd_reqs[k], &v, 8, &efd, 1);
				close(efd);
			}
		}
		if (idx[i] != 1) {
			s.index = idx[i];
			s.num = 0;
			it_expect_error_reply(fe, VHOST_USER_GET_VRING_BASE,
			    &s, sizeof s, ~0u);
		}
	}
}

/* SET_VRING_NUM of 0, 3 and 65536. */
void
it_bad_vring_num(struct fe *fe, struct fe_daemon *d)
{
	static const uint32_t		nums[] = { 0, 3, 65536, 0xffffffffu };
	struct vhost_user_vring_state	s;
	unsigned			i;

	(void)d;
	for (i = 0; i < 4; i++) {
		s.index = 0;
		s.num = nums[i];
		it_nack_ack(fe, VHOST_USER_SET_VRING_NUM, &s, sizeof s, NULL, 0);
	}
}

/* SET_VRING_ADDR with addresses outside guest memory. */
void
it_bad_vring_addr(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_vring_addr	a;
	struct fe_queue			*q;
	uint64_t			gap, end;
	unsigned			i;

	(void)d;
	ck_assert_int_eq(fe_queue_init(fe, 0, 64), 0);
	q = fe_queue(fe, 0);
	ck_assert_int_eq(fe_vring_state(fe, VHOST_USER_SET_VRING_NUM, 0, 64),
	    0);
	memset(&a, 0, sizeof a);
	a.index = 0;
	a.desc_user_addr = 0x10;	/* nobody's address */
	a.avail_user_addr = (uint64_t)(uintptr_t)q->avail;
	a.used_user_addr = (uint64_t)(uintptr_t)q->used;
	it_nack_ack(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL, 0);
	/* Used ring just past the end of the highest region: no region
	 * can hold it, wherever the allocator put the mappings. */
	gap = 0;
	for (i = 0; i < fe->nregions; i++) {
		end = (uint64_t)(uintptr_t)fe->regions[i].host +
		    fe->regions[i].size;
		if (end > gap)
			gap = end;
	}
	a.desc_user_addr = (uint64_t)(uintptr_t)q->desc;
	a.used_user_addr = gap;
	it_nack_ack(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL, 0);
	/* Avail ring straddling the end of that region. */
	a.used_user_addr = (uint64_t)(uintptr_t)q->used;
	a.avail_user_addr = gap - 8;
	it_nack_ack(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL, 0);
}

/* SET_VRING_ENABLE(0) before PROTOCOL_FEATURES is acked is not obeyed:
 * the ring (enabled from the start in that mode) keeps working. */
void
it_bad_enable_early(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_vring_state	s;

	(void)d;
	s.index = 0;
	s.num = 0;
	ck_assert_int_eq(fe_sock_send(fe->fd, VHOST_USER_SET_VRING_ENABLE,
	    VHOST_USER_VERSION, sizeof s, &s, sizeof s, NULL, 0), 0);
	if (fe_sock_wait_closed(fe->fd, 200))
		return;
	it_read_some(fe);
}

/* ADD_MEM_REG without an fd. */
void
it_bad_add_mem_nofd(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_reg_msg	m;

	(void)d;
	memset(&m, 0, sizeof m);
	m.region = it_wire(fe, 2);
	it_expect_nack(fe, VHOST_USER_ADD_MEM_REG, VHOST_USER_VERSION,
	    sizeof m, &m, sizeof m, NULL, 0, 1);
}

/* ADD_MEM_REG overlapping a present region. */
void
it_bad_add_mem_overlap(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_reg_msg	m;

	(void)d;
	memset(&m, 0, sizeof m);
	m.region = it_wire(fe, 2);
	m.region.guest_phys_addr = 4096;
	it_nack_ack(fe, VHOST_USER_ADD_MEM_REG, &m, sizeof m,
	    &fe->regions[2].fd, 1);
}

/* REM_MEM_REG of a region that is not there. */
void
it_bad_rem_mem(struct fe *fe, struct fe_daemon *d)
{
	struct vhost_user_mem_reg_msg	m;

	(void)d;
	memset(&m, 0, sizeof m);
	m.region = it_wire(fe, 2);
	m.region.guest_phys_addr = 256u << 20;
	it_nack_ack(fe, VHOST_USER_REM_MEM_REG, &m, sizeof m, NULL, 0);
	/* Right address, wrong size. */
	m.region = it_wire(fe, 0);
	m.region.memory_size = 4096;
	it_nack_ack(fe, VHOST_USER_REM_MEM_REG, &m, sizeof m, NULL, 0);
}

/* Expect the device to signal its err eventfd. */
static void
it_expect_err(struct fe *fe, struct fe_daemon *d)
{
	ck_assert_msg(fe_wait_err(fe, 0, 3000) == 1,
	    "err eventfd not signalled");
	ck_assert(fe_daemon_alive(d));
}

/* A descriptor chain that loops. */
void
it_bad_desc_loop(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue	*q = fe_queue(fe, 0);
	uint64_t	 gpa = fe_alloc(fe, 256, 64);

	q->desc[0].addr = gpa;
	q->desc[0].len = 64;
	q->desc[0].flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;
	q->desc[0].next = 1;
	q->desc[1].addr = gpa + 64;
	q->desc[1].len = 64;
	q->desc[1].flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;
	q->desc[1].next = 0;
	fe_publish_raw(fe, 0, 0);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* next beyond the ring. */
void
it_bad_desc_next(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	q->desc[0].addr = fe_alloc(fe, 64, 64);
	q->desc[0].len = 64;
	q->desc[0].flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;
	q->desc[0].next = (uint16_t)(q->num + 5);
	fe_publish_raw(fe, 0, 0);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* A buffer outside guest memory (in the gap). */
void
it_bad_desc_addr(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	q->desc[0].addr = 8u << 20;
	q->desc[0].len = 64;
	q->desc[0].flags = VRING_DESC_F_WRITE;
	fe_publish_raw(fe, 0, 0);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* A buffer running off the end of the last region. */
void
it_bad_desc_end(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	q->desc[0].addr = (18u << 20) - 16;
	q->desc[0].len = 64;
	q->desc[0].flags = VRING_DESC_F_WRITE;
	fe_publish_raw(fe, 0, 0);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* An indirect table that holds an indirect descriptor. */
void
it_bad_desc_nested(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue		*q = fe_queue(fe, 0);
	struct vring_desc	 t[2];
	uint64_t		 tg = fe_alloc(fe, sizeof t, 16);

	t[0].addr = tg;
	t[0].len = sizeof t;
	t[0].flags = VRING_DESC_F_INDIRECT;
	t[0].next = 0;
	t[1] = t[0];
	ck_assert_int_eq(fe_write(fe, tg, t, sizeof t), 0);
	q->desc[0].addr = tg;
	q->desc[0].len = sizeof t;
	q->desc[0].flags = VRING_DESC_F_INDIRECT;
	fe_publish_raw(fe, 0, 0);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* An indirect table whose length is not a multiple of 16. */
void
it_bad_desc_indirect_len(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue		*q = fe_queue(fe, 0);
	struct vring_desc	 t;
	uint64_t		 tg = fe_alloc(fe, 32, 16);

	t.addr = fe_alloc(fe, 64, 64);
	t.len = 64;
	t.flags = VRING_DESC_F_WRITE;
	t.next = 0;
	ck_assert_int_eq(fe_write(fe, tg, &t, sizeof t), 0);
	q->desc[0].addr = tg;
	q->desc[0].len = 20;
	q->desc[0].flags = VRING_DESC_F_INDIRECT;
	fe_publish_raw(fe, 0, 0);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* An indirect table whose next entries loop. */
void
it_bad_desc_indirect_loop(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue		*q = fe_queue(fe, 0);
	struct vring_desc	 t[2];
	uint64_t		 tg = fe_alloc(fe, sizeof t, 16);
	uint64_t		 buf = fe_alloc(fe, 64, 64);

	t[0].addr = buf;
	t[0].len = 32;
	t[0].flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;
	t[0].next = 1;
	t[1] = t[0];
	t[1].next = 0;
	ck_assert_int_eq(fe_write(fe, tg, t, sizeof t), 0);
	q->desc[0].addr = tg;
	q->desc[0].len = sizeof t;
	q->desc[0].flags = VRING_DESC_F_INDIRECT;
	fe_publish_raw(fe, 0, 0);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* A head index beyond the ring in the avail ring. */
void
it_bad_avail_head(struct fe *fe, struct fe_daemon *d)
{
	fe_publish_raw(fe, 0, (uint16_t)(fe_queue(fe, 0)->num + 3));
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}

/* avail->idx moved more than the ring size ahead. */
void
it_bad_avail_idx(struct fe *fe, struct fe_daemon *d)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	__atomic_store_n(&q->avail->idx, (uint16_t)(q->avail_idx + q->num +
	    1), __ATOMIC_RELEASE);
	fe_kick(fe, 0);
	it_expect_err(fe, d);
}
