/*
 * Unit tests of the vsock module's VM-to-VM groups (vsock_group.c) on
 * the fake daemon, whose run_on_worker runs inline: forwarding, and
 * per-connection back-pressure when a sibling does not read, pauses or
 * is reset.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "fake_api.h"
#include "vsock_unit.h"

/* VM-to-VM: devices in one group exchange packets; another CID outside
 * the group gets an RST. */
START_TEST(vm_to_vm_group)
{
	struct vhd_kv		 ka[] = { FAKE_KV("guest-cid", "3"),
				    FAKE_KV("groups", "g1+g2") };
	struct vhd_kv		 kb[] = { FAKE_KV("guest-cid", "4"),
				    FAKE_KV("groups", "g2") };
	struct vhd_kv		 kc[] = { FAKE_KV("guest-cid", "5") };
	struct vhd_dev		*a, *b;
	struct vsock_hdr	 h;
	char			 big[9000], got[9000];
	size_t			 n = 0;

	a = mkdev(ka, 2);
	b = mkdev(kb, 2);
	(void)mkdev(kc, 1);
	rx_post(a, 8, 4096);
	rx_post(b, 8, 4096);
	h = ghdr(VSOCK_OP_REQUEST, 1000, 2000, VSOCK_TYPE_STREAM);
	h.dst_cid = 4;
	tx(a, h, NULL, 0, 1);
	h = rx_expect(b, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.src_cid, 3);
	ck_assert_uint_eq(h.dst_port, 2000);
	/* A large RW is split to fit b's 4 KiB rx buffers. */
	memset(big, 'q', sizeof(big));
	h = ghdr(VSOCK_OP_RW, 1000, 2000, VSOCK_TYPE_STREAM);
	h.dst_cid = 4;
	tx(a, h, big, sizeof(big), 2);
	while (rx_next(b, &h, got, sizeof(got))) {
		ck_assert_uint_eq(h.op, VSOCK_OP_RW);
		n += h.len;
	}
	ck_assert_uint_eq(n, sizeof(big));
	/* CID 5 shares no group. */
	h = ghdr(VSOCK_OP_REQUEST, 1000, 2000, VSOCK_TYPE_STREAM);
	h.dst_cid = 5;
	tx(a, h, NULL, 0, 1);
	rx_expect(a, VSOCK_OP_RST);
	/* b cannot pretend to be a. */
	h = ghdr(VSOCK_OP_RW, 2000, 1000, VSOCK_TYPE_STREAM);
	h.src_cid = 3;
	h.dst_cid = 3;
	tx(b, h, "x", 1, 1);
	ck_assert(!rx_next(a, &h, NULL, 0));
}
END_TEST

/* Send `n` RW packets of `len` bytes from device a's port 1000 to CID 4
 * port 2000, numbered from *seq in their first 4 bytes. */
static void
group_send(struct vhd_dev *a, unsigned n, size_t len, uint32_t *seq)
{
	static uint8_t		 data[65536];
	struct vsock_hdr	 h;
	unsigned		 i;

	for (i = 0; i < n; i++) {
		memcpy(data, seq, sizeof(*seq));
		(*seq)++;
		h = ghdr(VSOCK_OP_RW, 1000, 2000, VSOCK_TYPE_STREAM);
		h.dst_cid = 4;
		tx(a, h, data, len, 2);
	}
}

/* Three VMs in one group; A (CID 3) connects port 1000 to B (CID 4) port
 * 2000; C is CID 5.  B posts no rx buffers. */
static void
group_three(struct vhd_dev **a, struct vhd_dev **b, struct vhd_dev **c)
{
	struct vhd_kv		 ka[] = { FAKE_KV("guest-cid", "3"),
				    FAKE_KV("uds-path", uds),
				    FAKE_KV("groups", "g") };
	struct vhd_kv		 kb[] = { FAKE_KV("guest-cid", "4"),
				    FAKE_KV("groups", "g") };
	struct vhd_kv		 kc[] = { FAKE_KV("guest-cid", "5"),
				    FAKE_KV("groups", "g") };
	struct vsock_hdr	 h;

	*a = mkdev(ka, 3);
	*b = mkdev(kb, 2);
	*c = mkdev(kc, 2);
	rx_post(*a, 32, 4096);
	rx_post(*c, 8, 4096);
	h = ghdr(VSOCK_OP_REQUEST, 1000, 2000, VSOCK_TYPE_STREAM);
	h.dst_cid = 4;
	tx(*a, h, NULL, 0, 1);
}

/*
 * Issue 8: a sibling that does not read its rx queue never stalls
 * another VM's tx queue.  A fills B's inbox and then some; A's tx queue
 * is still consumed, A reaches the host and C; when B reads, A's parked
 * packets arrive in order.
 */
START_TEST(group_full_sibling_no_stall)
{
	struct vhd_dev		*a, *b, *c;
	struct vsock_hdr	 h;
	uint8_t			 got[70000];
	uint32_t		 seq = 0, want = 0;
	int			 lfd, fd;

	group_three(&a, &b, &c);
	lfd = host_listen(1234, SOCK_STREAM);
	/* 4 MiB fill B's inbox; 16 more packets have to wait. */
	group_send(a, 80, 65536, &seq);
	ck_assert_msg(fake_queue_avail(fake_queue(a, VSOCK_TXQ)) == 0,
	    "A's tx queue stalled on B: %u chains left",
	    fake_queue_avail(fake_queue(a, VSOCK_TXQ)));
	/* A to the host. */
	tx(a, ghdr(VSOCK_OP_REQUEST, 1001, 1234, VSOCK_TYPE_STREAM), NULL, 0,
	    1);
	h = rx_expect(a, VSOCK_OP_RESPONSE);
	ck_assert_uint_eq(h.dst_port, 1001);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	/* A to C. */
	h = ghdr(VSOCK_OP_REQUEST, 1002, 3000, VSOCK_TYPE_STREAM);
	h.dst_cid = 5;
	tx(a, h, NULL, 0, 1);
	h = rx_expect(c, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.src_port, 1002);
	/* A packet of the waiting connection queues behind the others. */
	group_send(a, 1, 100, &seq);
	/* B reads: everything arrives, in order. */
	rx_post(b, 100, 65536 + VSOCK_HDR_SIZE);
	rx_expect(b, VSOCK_OP_REQUEST);
	while (rx_next(b, &h, got, sizeof(got))) {
		ck_assert_uint_eq(h.op, VSOCK_OP_RW);
		ck_assert_uint_eq(h.src_cid, 3);
		ck_assert_msg(memcmp(got, &want, 4) == 0, "packet %u out of "
		    "order", want);
		want++;
	}
	ck_assert_uint_eq(want, seq);
	ck_assert(!rx_next(a, &h, NULL, 0));
	close(fd);
	close(lfd);
}
END_TEST

/* A sender waiting on a full sibling is woken when the sibling is reset
 * (its frontend went away): its connection gets an RST, and new packets
 * to the sibling are refused at once. */
START_TEST(group_sibling_reset_wakes_sender)
{
	struct vhd_dev		*a, *b, *c;
	struct vsock_hdr	 h;
	uint32_t		 seq = 0;
	int			 rst = 0;

	group_three(&a, &b, &c);
	group_send(a, 70, 65536, &seq);
	ck_assert_uint_eq(fake_queue_avail(fake_queue(a, VSOCK_TXQ)), 0);
	/* B pauses: A keeps waiting, nothing is lost. */
	fake_queue_stop(fake_queue(b, VSOCK_RXQ));
	fake_queue_stop(fake_queue(b, VSOCK_TXQ));
	ck_assert(!rx_next(a, &h, NULL, 0));
	/* B's frontend goes away. */
	fake_dev_reset(b);
	while (rx_next(a, &h, NULL, 0)) {
		ck_assert_uint_eq(h.op, VSOCK_OP_RST);
		ck_assert_uint_eq(h.src_cid, 4);
		ck_assert_uint_eq(h.dst_port, 1000);
		rst++;
	}
	ck_assert_int_gt(rst, 0);
	group_send(a, 1, 10, &seq);
	rx_expect(a, VSOCK_OP_RST);
}
END_TEST

/* Build the suite. */
static Suite *
vsock_group_suite(void)
{
	Suite	*s = suite_create("vsock_group");
	TCase	*tc;

	tc = tcase_create("group");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vm_to_vm_group);
	tcase_add_test(tc, group_full_sibling_no_stall);
	tcase_add_test(tc, group_sibling_reset_wakes_sender);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite. */
int
main(void)
{
	SRunner	*sr = srunner_create(vsock_group_suite());
	int	 failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
