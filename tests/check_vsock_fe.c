/*
 * The vsock module against a live vhostd, driven by the test frontend
 * (tests/fe) with the guest driver and host helpers of tests/vsock_fe.c:
 * big transfers both ways, the packet rules and descriptor layouts,
 * seqpacket and VM-to-VM.  The daemon is started in the
 * vhost-device-vsock compatible "--vm" form.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/poll.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vsock_fe.h"

/*
 * Guest to host, 64 MiB in packets within the host's credit, then the
 * guest's half-close; the host answers with its checksum and closes.
 */
START_TEST(fe_guest_to_host_64m)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vh		 vh;
	struct vsock_hdr	 h;
	pthread_t		 t;
	static uint8_t		 buf[VF_BUF];
	char			 path[700], want[64], got[128];
	uint64_t		 s = 1, sum = VF_FNV, sent = 0;
	uint32_t		 n, credit;
	int64_t			 t0;

	vd_start(&vd, "vsock-g2h", NULL, 0);
	snprintf(path, sizeof(path), "%s_5000", vd.uds);
	memset(&vh, 0, sizeof(vh));
	vh.lfd = vh_listen(path, SOCK_STREAM);
	ck_assert_int_eq(pthread_create(&t, NULL, vh_recv_main, &vh), 0);
	vf_open(&vf, vd.sock[0], 3);
	vf_connect(&vf, 1000, 5000, VSOCK_TYPE_STREAM);
	t0 = fe_now_ms();
	while (sent < VF_BIG) {
		credit = vf.peer_buf_alloc - (vf.tx_cnt - vf.peer_fwd_cnt);
		if (credit == 0) {
			ck_assert_msg(vf_recv(&vf, &h, NULL, 0, VF_MS),
			    "no credit update after %llu bytes",
			    (unsigned long long)sent);
			ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
			continue;
		}
		n = credit < VF_BUF ? credit : VF_BUF;
		if (n > VF_BIG - sent)
			n = (uint32_t)(VF_BIG - sent);
		vf_gen(&s, buf, n);
		sum = vf_sum(sum, buf, n);
		vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RW, 1000,
		    5000, VSOCK_TYPE_STREAM), buf, n);
		sent += n;
		while (vf_recv(&vf, &h, NULL, 0, 0))
			ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
	}
	h = vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_SHUTDOWN, 1000, 5000,
	    VSOCK_TYPE_STREAM);
	h.flags = VSOCK_SHUT_SEND;
	vf_send(&vf, h, NULL, 0);
	/* The host sees the half-close and answers on the other half. */
	for (;;) {
		ck_assert(vf_recv(&vf, &h, got, sizeof(got) - 1, VF_MS));
		if (h.op == VSOCK_OP_RW)
			break;
		ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
	}
	got[h.len] = '\0';
	fprintf(stderr, "fe_guest_to_host_64m: %llu MB/s\n",
	    (unsigned long long)(VF_BIG / 1000 /
	    (uint64_t)(fe_now_ms() - t0 + 1)));
	snprintf(want, sizeof(want), "SUM %016llx\n", (unsigned long long)sum);
	ck_assert_str_eq(got, want);
	h = vf_expect(&vf, VSOCK_OP_SHUTDOWN);
	ck_assert_uint_eq(h.flags, VSOCK_SHUT_BOTH);
	vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RST, 1000, 5000,
	    VSOCK_TYPE_STREAM), NULL, 0);
	pthread_join(t, NULL);
	ck_assert(vh.ok);
	ck_assert_uint_eq(vh.got, VF_BIG);
	close(vh.lfd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/*
 * Host to guest through "CONNECT 1234": REQUEST, RESPONSE, "OK <port>",
 * 64 MiB with the guest's credit updates, the host's half-close, and the
 * guest's checksum back on the other half.
 */
START_TEST(fe_host_to_guest_64m)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vh		 vh;
	struct vsock_hdr	 h, r;
	pthread_t		 t;
	static uint8_t		 buf[VF_BUF];
	char			 line[64], want[64];
	uint64_t		 sum = VF_FNV, got = 0;
	int64_t			 t0;

	vd_start(&vd, "vsock-h2g", NULL, 0);
	vf_open(&vf, vd.sock[0], 3);
	memset(&vh, 0, sizeof(vh));
	snprintf(vh.path, sizeof(vh.path), "%s", vd.uds);
	vh.port = 1234;
	vh.bytes = VF_BIG;
	ck_assert_int_eq(pthread_create(&t, NULL, vh_send_main, &vh), 0);
	h = vf_expect(&vf, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.src_cid, VSOCK_HOST_CID);
	ck_assert_uint_eq(h.dst_port, 1234);
	ck_assert_uint_ge(h.src_port, 1u << 30);
	r = vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RESPONSE, 1234, h.src_port,
	    VSOCK_TYPE_STREAM);
	vf_send(&vf, r, NULL, 0);
	t0 = fe_now_ms();
	for (;;) {
		ck_assert_msg(vf_recv(&vf, &h, buf, sizeof(buf), VF_MS),
		    "stalled after %llu bytes", (unsigned long long)got);
		if (h.op == VSOCK_OP_SHUTDOWN)
			break;
		if (h.op == VSOCK_OP_CREDIT_REQUEST) {
			/* Our credit ran out before we told more. */
			vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID,
			    VSOCK_OP_CREDIT_UPDATE, 1234, r.dst_port,
			    VSOCK_TYPE_STREAM), NULL, 0);
			continue;
		}
		ck_assert_uint_eq(h.op, VSOCK_OP_RW);
		sum = vf_sum(sum, buf, h.len);
		got += h.len;
		vf.fwd_cnt += h.len;
		ck_assert_uint_le(got - (vf.fwd_told), VF_BUF_ALLOC);
		if (vf.fwd_cnt - vf.fwd_told >= VF_BUF_ALLOC / 4)
			vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID,
			    VSOCK_OP_CREDIT_UPDATE, 1234, r.dst_port,
			    VSOCK_TYPE_STREAM), NULL, 0);
	}
	fprintf(stderr, "fe_host_to_guest_64m: %llu MB/s\n",
	    (unsigned long long)(VF_BIG / 1000 /
	    (uint64_t)(fe_now_ms() - t0 + 1)));
	ck_assert_uint_eq(h.flags, VSOCK_SHUT_SEND);
	ck_assert_uint_eq(got, VF_BIG);
	snprintf(line, sizeof(line), "SUM %016llx\n", (unsigned long long)sum);
	vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RW, 1234,
	    r.dst_port, VSOCK_TYPE_STREAM), line, (uint32_t)strlen(line));
	h = vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_SHUTDOWN, 1234, r.dst_port,
	    VSOCK_TYPE_STREAM);
	h.flags = VSOCK_SHUT_BOTH;
	vf_send(&vf, h, NULL, 0);
	vf_expect(&vf, VSOCK_OP_RST);
	pthread_join(t, NULL);
	ck_assert(vh.ok);
	snprintf(want, sizeof(want), "OK %u\nSUM %016llx\n", r.dst_port,
	    (unsigned long long)vh.sum);
	ck_assert_str_eq(vh.reply, want);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/*
 * Refused connect (RST at once), unknown op and type (RST), RST to an
 * unknown connection (nothing), spoofed source CID (dropped), and the
 * descriptor layouts 1, 2 and many for data.
 */
START_TEST(fe_rules_and_layouts)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vsock_hdr	 h;
	char			 path[700], buf[4000], in[4000];
	int			 lfd, fd;
	unsigned		 layout;
	int64_t			 t0;

	vd_start(&vd, "vsock-rules", NULL, 0);
	vf_open(&vf, vd.sock[0], 3);
	t0 = fe_now_ms();
	vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_REQUEST, 7, 4444,
	    VSOCK_TYPE_STREAM), NULL, 0);
	h = vf_expect(&vf, VSOCK_OP_RST);
	ck_assert_uint_eq(h.dst_port, 7);
	ck_assert_int_lt(fe_now_ms() - t0, 1000);
	vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, 99, 7, 4444,
	    VSOCK_TYPE_STREAM), NULL, 0);
	vf_expect(&vf, VSOCK_OP_RST);
	vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_REQUEST, 7, 4444,
	    77), NULL, 0);
	vf_expect(&vf, VSOCK_OP_RST);
	vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RST, 7, 4444,
	    VSOCK_TYPE_STREAM), NULL, 0);
	h = vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_REQUEST, 7, 4444,
	    VSOCK_TYPE_STREAM);
	h.src_cid = 9;
	vf_send(&vf, h, NULL, 0);
	ck_assert(!vf_recv(&vf, &h, NULL, 0, 300));
	ck_assert_int_eq(fe_daemon_wait_log(vd.d, "spoofed", 1, VF_MS), 0);

	snprintf(path, sizeof(path), "%s_80", vd.uds);
	lfd = vh_listen(path, SOCK_STREAM);
	vf_connect(&vf, 8, 80, VSOCK_TYPE_STREAM);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	for (layout = 1; layout <= 3; layout++) {
		vf.nseg = layout;
		memset(buf, 'a' + (int)layout, sizeof(buf));
		vf_send(&vf, vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RW, 8, 80,
		    VSOCK_TYPE_STREAM), buf, sizeof(buf));
		ck_assert_int_eq(recv(fd, in, sizeof(in), MSG_WAITALL),
		    (ssize_t)sizeof(in));
		ck_assert(memcmp(in, buf, sizeof(buf)) == 0);
	}
	close(fd);
	h = vf_expect(&vf, VSOCK_OP_SHUTDOWN);
	ck_assert(h.flags & VSOCK_SHUT_SEND);
	close(lfd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/* Seqpacket through a live daemon: message boundaries both ways. */
START_TEST(fe_seqpacket)
{
	struct vd		 vd;
	struct vf		 vf;
	struct vsock_hdr	 h;
	char			 path[700], in[100];
	int			 lfd, fd;

	vd_start(&vd, "vsock-seq", NULL, 0);
	vf_open(&vf, vd.sock[0], 3);
	snprintf(path, sizeof(path), "%s_90", vd.uds);
	lfd = vh_listen(path, SOCK_SEQPACKET);
	vf_connect(&vf, 9, 90, VSOCK_TYPE_SEQPACKET);
	fd = accept(lfd, NULL, NULL);
	h = vf_hdr(&vf, VSOCK_HOST_CID, VSOCK_OP_RW, 9, 90,
	    VSOCK_TYPE_SEQPACKET);
	vf_send(&vf, h, "12345", 5);
	h.flags = VSOCK_SEQ_EOM | VSOCK_SEQ_EOR;
	vf_send(&vf, h, "678", 3);
	vf_send(&vf, h, "z", 1);
	ck_assert_int_eq(recv(fd, in, sizeof(in), 0), 8);
	ck_assert_int_eq(recv(fd, in, sizeof(in), 0), 1);
	ck_assert_int_eq(send(fd, "abc", 3, 0), 3);
	ck_assert_int_eq(send(fd, "defgh", 5, 0), 5);
	h = vf_expect(&vf, VSOCK_OP_RW);
	ck_assert_uint_eq(h.len, 3);
	ck_assert(h.flags & VSOCK_SEQ_EOM);
	h = vf_expect(&vf, VSOCK_OP_RW);
	ck_assert_uint_eq(h.len, 5);
	ck_assert(h.flags & VSOCK_SEQ_EOM);
	close(fd);
	close(lfd);
	vf_close(&vf);
	vd_stop(&vd);
}
END_TEST

/* Two VMs in one daemon and one group talk to each other; a spoofed
 * source CID does not get through. */
START_TEST(fe_vm_to_vm)
{
	struct vd		 vd;
	struct vf		 a, b;
	struct vsock_hdr	 h;
	char			 buf[VF_BUF];
	size_t			 got = 0;

	vd_start(&vd, "vsock-v2v", NULL, 2);
	vf_open(&a, vd.sock[0], 3);
	vf_open(&b, vd.sock[1], 4);
	vf_send(&a, vf_hdr(&a, 4, VSOCK_OP_REQUEST, 100, 200,
	    VSOCK_TYPE_STREAM), NULL, 0);
	h = vf_expect(&b, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.src_cid, 3);
	ck_assert_uint_eq(h.src_port, 100);
	vf_send(&b, vf_hdr(&b, 3, VSOCK_OP_RESPONSE, 200, 100,
	    VSOCK_TYPE_STREAM), NULL, 0);
	h = vf_expect(&a, VSOCK_OP_RESPONSE);
	ck_assert_uint_eq(h.src_cid, 4);
	memset(buf, 'v', sizeof(buf));
	vf_send(&a, vf_hdr(&a, 4, VSOCK_OP_RW, 100, 200, VSOCK_TYPE_STREAM),
	    buf, sizeof(buf));
	while (got < sizeof(buf)) {
		ck_assert(vf_recv(&b, &h, NULL, 0, VF_MS));
		ck_assert_uint_eq(h.op, VSOCK_OP_RW);
		got += h.len;
	}
	ck_assert_uint_eq(got, sizeof(buf));
	/* b pretends to be CID 5: dropped. */
	h = vf_hdr(&b, 3, VSOCK_OP_RW, 200, 100, VSOCK_TYPE_STREAM);
	h.src_cid = 5;
	vf_send(&b, h, "x", 1);
	ck_assert(!vf_recv(&a, &h, NULL, 0, 300));
	vf_close(&a);
	vf_close(&b);
	vd_stop(&vd);
}
END_TEST

/* Build the suite. */
static Suite *
vsock_fe_suite(void)
{
	Suite	*s = suite_create("vsock_fe");
	TCase	*tc;

	tc = tcase_create("stream");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fe_guest_to_host_64m);
	tcase_add_test(tc, fe_host_to_guest_64m);
	tcase_add_test(tc, fe_rules_and_layouts);
	tcase_add_test(tc, fe_seqpacket);
	tcase_add_test(tc, fe_vm_to_vm);
	suite_add_tcase(s, tc);

	return (s);
}

/* Run the suite with the frontend's temp dir handling. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1) {
		fprintf(stderr, "check_vsock_fe: %s\n", fe_error());
		return (1);
	}
	sr = srunner_create(vsock_fe_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
