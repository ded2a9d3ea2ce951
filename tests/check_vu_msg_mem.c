/*
 * Suite "vu_msg_mem": a device's guest memory and rings driven over its
 * real unix socket with raw messages: SET_MEM_TABLE, ADD/REM_MEM_REG,
 * GET/SET_VRING_BASE and a queue that fills chains end to end.
 * Harness: tests/vu_msg_harness.[ch].
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <vhostd/vhostd.h>

#include "compat.h"
#include "conf.h"
#include "device.h"
#include "guest_mem.h"
#include "log.h"
#include "vhost_user.h"
#include "vu_conn.h"
#include "vu_msg_harness.h"

/* SET_MEM_TABLE: offset past the end of the file, no regions, fd count
 * mismatch are refused; a good table is taken. */
START_TEST(test_mem_table)
{
	struct vhost_user_memory	 m0 = { 0, 0 };
	uint8_t				*map;
	int				 memfd, fd = tfe_negotiate();

	memfd = t_memfd(&map);
	ck_assert_uint_eq(tfe_mem_table(fd, memfd, T_GPA, T_MEMSZ, T_UVA,
	    0x1000), 1);
	ck_assert_uint_eq(tfe_mem_table(fd, memfd, T_GPA, T_MEMSZ, T_UVA,
	    0xffffffffffff0000ULL), 1);
	ck_assert_uint_eq(tfe_mem_table(fd, memfd, T_GPA, 0, T_UVA, 0), 1);
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_MEM_TABLE, &m0,
	    sizeof m0, NULL, 0), 1);
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_MEM_TABLE, &m0,
	    sizeof m0, &memfd, 1), 1);
	ck_assert_ptr_null(device_mem(t_dev));
	ck_assert_uint_eq(tfe_mem_table(fd, memfd, T_GPA, T_MEMSZ, T_UVA, 0),
	    0);
	ck_assert_ptr_nonnull(device_mem(t_dev));
	ck_assert_uint_eq(device_mem(t_dev)->nregions, 1);
	tfe_alive(fd);
	munmap(map, T_MEMSZ);
	close(memfd);
	close(fd);
}
END_TEST

/* ADD_MEM_REG and REM_MEM_REG. */
START_TEST(test_mem_reg)
{
	struct vhost_user_mem_reg_msg	 r;
	uint8_t				*map;
	int				 memfd, rd, wr, fd = tfe_negotiate();

	memfd = t_memfd(&map);
	memset(&r, 0, sizeof r);
	r.region.guest_phys_addr = T_GPA;
	r.region.memory_size = T_MEMSZ / 2;
	r.region.userspace_addr = T_UVA;
	r.region.mmap_offset = 0;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_ADD_MEM_REG, &r, sizeof r,
	    &memfd, 1), 0);
	/* Overlapping the first. */
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_ADD_MEM_REG, &r, sizeof r,
	    &memfd, 1), 1);
	/* No fd. */
	r.region.guest_phys_addr = T_GPA + T_MEMSZ;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_ADD_MEM_REG, &r, sizeof r,
	    NULL, 0), 1);
	r.region.userspace_addr = T_UVA + T_MEMSZ;
	r.region.mmap_offset = T_MEMSZ / 2;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_ADD_MEM_REG, &r, sizeof r,
	    &memfd, 1), 0);
	ck_assert_uint_eq(device_mem(t_dev)->nregions, 2);

	/* Wrong size, wrong uva: no match. */
	r.region.memory_size = T_MEMSZ;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_REM_MEM_REG, &r, sizeof r,
	    NULL, 0), 1);
	r.region.memory_size = T_MEMSZ / 2;
	r.region.userspace_addr = T_UVA;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_REM_MEM_REG, &r, sizeof r,
	    NULL, 0), 1);
	/* A match, with an fd attached (accepted and closed). */
	r.region.userspace_addr = T_UVA + T_MEMSZ;
	wr = t_pipe(&rd);
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_REM_MEM_REG, &r, sizeof r,
	    &wr, 1), 0);
	close(wr);
	t_pipe_closed(rd);
	ck_assert_uint_eq(device_mem(t_dev)->nregions, 1);
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_REM_MEM_REG, &r, sizeof r,
	    NULL, 0), 1);
	tfe_alive(fd);
	munmap(map, T_MEMSZ);
	close(memfd);
	close(fd);
}
END_TEST

/* GET_VRING_BASE returns the base that was set. */
START_TEST(test_vring_base)
{
	struct vhost_user_vring_state	 st = { 1, 256 };
	int				 fd = tfe_negotiate();

	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0), 0);
	st.num = 42;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_BASE, &st,
	    sizeof st, NULL, 0), 0);
	memset(&st, 0, sizeof st);
	st.index = 1;
	tfe_send(fd, VHOST_USER_GET_VRING_BASE, 0, &st, sizeof st, NULL, 0);
	ck_assert_uint_eq(tfe_recv(fd, VHOST_USER_GET_VRING_BASE, &st,
	    sizeof st), sizeof st);
	ck_assert_uint_eq(st.index, 1);
	ck_assert_uint_eq(st.num, 42);
	close(fd);
}
END_TEST

/* End to end: a ring set up over the socket, a chain posted, a kick; the
 * queue handler fills the buffer and the guest is called. */
START_TEST(test_data_path)
{
	struct vhost_user_vring_state	 st;
	struct vhost_user_vring_addr	 a;
	struct vring_desc		*desc;
	struct vring_avail		*avail;
	struct vring_used		*used;
	struct pollfd			 pfd;
	uint8_t				*map;
	uint64_t			 v;
	int				 memfd, kick, call, fd;

	fd = tfe_negotiate();
	memfd = t_memfd(&map);
	desc = (struct vring_desc *)(void *)map;
	avail = (struct vring_avail *)(void *)(map + 0x1000);
	used = (struct vring_used *)(void *)(map + 0x2000);
	desc[0].addr = T_GPA + 0x4000;
	desc[0].len = 16;
	desc[0].flags = VRING_DESC_F_WRITE;
	avail->ring[0] = 0;
	avail->idx = 1;

	ck_assert_uint_eq(tfe_ack_u64(fd, VHOST_USER_SET_FEATURES,
	    (1ULL << VHD_F_VERSION_1) |
	    (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)), 0);
	ck_assert_uint_eq(tfe_mem_table(fd, memfd, T_GPA, T_MEMSZ, T_UVA, 0),
	    0);
	st.index = 0;
	st.num = T_RING_NUM;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0), 0);
	st.num = 0;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_BASE, &st,
	    sizeof st, NULL, 0), 0);
	memset(&a, 0, sizeof a);
	a.desc_user_addr = T_UVA;
	a.avail_user_addr = T_UVA + 0x1000;
	a.used_user_addr = T_UVA + 0x2000;
	/* An address outside guest memory is refused first. */
	a.index = 0;
	a.used_user_addr = T_UVA + T_MEMSZ;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_ADDR, &a,
	    sizeof a, NULL, 0), 1);
	a.used_user_addr = T_UVA + 0x2000;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_ADDR, &a,
	    sizeof a, NULL, 0), 0);
	kick = eventfd(0, EFD_CLOEXEC);
	call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	v = 0;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_KICK, &v, sizeof v,
	    &kick, 1), 0);
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_CALL, &v, sizeof v,
	    &call, 1), 0);
	st.index = 0;
	st.num = 1;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_ENABLE, &st,
	    sizeof st, NULL, 0), 0);
	ck_assert_int_eq(eventfd_write(kick, 1), 0);

	pfd.fd = call;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_uint_eq(atomic_load((_Atomic uint16_t *)&used->idx), 1);
	ck_assert_uint_eq(used->ring[0].id, 0);
	ck_assert_uint_eq(used->ring[0].len, 6);
	ck_assert_mem_eq(map + 0x4000, "vhostd", 6);

	/* GET_VRING_BASE stops the ring where it got to. */
	st.index = 0;
	tfe_send(fd, VHOST_USER_GET_VRING_BASE, 0, &st, sizeof st, NULL, 0);
	ck_assert_uint_eq(tfe_recv(fd, VHOST_USER_GET_VRING_BASE, &st,
	    sizeof st), sizeof st);
	ck_assert_uint_eq(st.num, 1);
	/* Consume the first interrupt, so the poll below waits for the
	 * second. */
	ck_assert_int_eq(eventfd_read(call, &v), 0);
	v = 0;

	/*
	 * QEMU's cont after its stop: features, memory table, the whole
	 * ring again, enable.  A stop is not a reset: the module's reset is
	 * never called, and the ring serves on from where it stopped.
	 */
	ck_assert_uint_eq(tfe_ack_u64(fd, VHOST_USER_SET_FEATURES,
	    (1ULL << VHD_F_VERSION_1) |
	    (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)), 0);
	ck_assert_uint_eq(tfe_mem_table(fd, memfd, T_GPA, T_MEMSZ, T_UVA, 0),
	    0);
	st.index = 0;
	st.num = T_RING_NUM;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0), 0);
	st.num = 1;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_BASE, &st,
	    sizeof st, NULL, 0), 0);
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_ADDR, &a,
	    sizeof a, NULL, 0), 0);
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_KICK, &v, sizeof v,
	    &kick, 1), 0);
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_CALL, &v, sizeof v,
	    &call, 1), 0);
	st.num = 1;
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_ENABLE, &st,
	    sizeof st, NULL, 0), 0);
	desc[1].addr = T_GPA + 0x5000;
	desc[1].len = 16;
	desc[1].flags = VRING_DESC_F_WRITE;
	avail->ring[1] = 1;
	atomic_store((_Atomic uint16_t *)&avail->idx, 2);
	ck_assert_int_eq(eventfd_write(kick, 1), 0);
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_uint_eq(atomic_load((_Atomic uint16_t *)&used->idx), 2);
	ck_assert_uint_eq(used->ring[1].id, 1);
	ck_assert_int_eq(atomic_load(&t_resets), 0);
	close(kick);
	close(call);
	munmap(map, T_MEMSZ);
	close(memfd);
	close(fd);
	/* The frontend going away is a reset. */
	t_wait_resets(1);
}
END_TEST

/* The suite. */
static Suite *
vu_msg_mem_suite(void)
{
	Suite	*s = suite_create("vu_msg_mem");
	TCase	*tc;

#define T_ADD(fn) do {							\
	tc = tcase_create(#fn);						\
	tcase_add_checked_fixture(tc, t_setup, t_teardown);		\
	tcase_set_timeout(tc, 30);					\
	tcase_add_test(tc, fn);						\
	suite_add_tcase(s, tc);						\
} while (0)
	T_ADD(test_mem_table);
	T_ADD(test_mem_reg);
	T_ADD(test_vring_base);
	T_ADD(test_data_path);
#undef T_ADD
	return (s);
}

/* Run the suite. */
int
main(void)
{
	return (t_main(vu_msg_mem_suite()));
}
