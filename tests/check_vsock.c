/*
 * Unit tests for the vsock module (modules/vsock, compiled in), run
 * against the fake daemon of fake_api.c with real unix sockets in a
 * temporary directory for the host side.  Watches and timers are fired
 * by hand.
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

/* Reserved CIDs, unknown keys and bad values are refused at create. */
START_TEST(create_refuses_bad_keys)
{
	struct vhd_kv	 k0[] = { FAKE_KV("guest-cid", "2") };
	struct vhd_kv	 k1[] = { FAKE_KV("guest-cid", "4294967295") };
	struct vhd_kv	 k2[] = { FAKE_KV("colour", "red") };
	struct vhd_kv	 k3[] = { FAKE_KV("buf-size", "12") };
	struct vhd_kv	 k4[] = { FAKE_KV("seqpacket", "maybe") };
	char		*c;

	c = create_fails(k0, 1);
	ck_assert_ptr_nonnull(strstr(c, "reserved"));
	free(c);
	free(create_fails(k1, 1));
	c = create_fails(k2, 1);
	ck_assert_ptr_nonnull(strstr(c, "unknown key 'colour'"));
	free(c);
	free(create_fails(k3, 1));
	free(create_fails(k4, 1));
}
END_TEST

/* Two devices cannot share a CID; the config space holds the CID. */
START_TEST(create_duplicate_cid_and_config)
{
	struct vhd_kv	 kv[] = { FAKE_KV("guest-cid", "77") };
	struct vhd_dev	*dev;
	uint8_t		 cfg[8];
	char		*c;

	dev = mkdev(kv, 1);
	ck_assert_int_eq(fake_dev_get_config(dev, 0, cfg, 8), 0);
	ck_assert_uint_eq(cfg[0], 77);
	ck_assert_uint_eq(cfg[4], 0);
	ck_assert_uint_eq(fake_dev_info(dev)->device_id, 19);
	ck_assert(fake_dev_info(dev)->features & (1ULL << VSOCK_F_SEQPACKET));
	c = create_fails(kv, 1);
	ck_assert_ptr_nonnull(strstr(c, "already used"));
	free(c);
}
END_TEST

/* A guest connect to a port without a listener gets an RST at once. */
START_TEST(guest_connect_refused_rst)
{
	struct vhd_dev		*dev = mkdefault(NULL, NULL);
	struct vsock_hdr	 h;

	rx_post(dev, 2, 4096);
	tx(dev, ghdr(VSOCK_OP_REQUEST, 5000, 4321, VSOCK_TYPE_STREAM), NULL,
	    0, 1);
	h = rx_expect(dev, VSOCK_OP_RST);
	ck_assert_uint_eq(h.dst_port, 5000);
	ck_assert_uint_eq(h.src_port, 4321);
	ck_assert_uint_eq(h.dst_cid, GUEST_CID);
	ck_assert_str_eq(fake_dev_errors(dev), "");
}
END_TEST

/* Guest-initiated stream: handshake, data both ways, for 1, 2 and many
 * descriptors per packet. */
START_TEST(guest_connect_data_layouts)
{
	struct vhd_dev		*dev = mkdefault(NULL, NULL);
	struct vsock_hdr	 h;
	char			 buf[256];
	int			 lfd, fd;
	unsigned		 nseg[] = { 1, 2, 9 };
	unsigned		 i;

	fd = guest_connect(dev, SOCK_STREAM, &lfd);
	for (i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "hello %u from the guest", i);
		tx(dev, ghdr(VSOCK_OP_RW, 5000, 1234, VSOCK_TYPE_STREAM), buf,
		    strlen(buf), nseg[i]);
		memset(buf, 0, sizeof(buf));
		ck_assert_int_eq(read_wait(fd, buf, sizeof(buf)), 22);
		ck_assert_int_eq(buf[6], '0' + (int)i);
	}
	ck_assert_int_eq(write(fd, "to guest", 8), 8);
	fire_all_fd(dev);
	ck_assert(rx_next(dev, &h, buf, sizeof(buf)));
	ck_assert_uint_eq(h.op, VSOCK_OP_RW);
	ck_assert_uint_eq(h.len, 8);
	ck_assert_uint_eq(h.fwd_cnt, 66);
	ck_assert(memcmp(buf, "to guest", 8) == 0);
	close(fd);
	close(lfd);
	ck_assert_str_eq(fake_dev_errors(dev), "");
}
END_TEST

/* RST for unknown connections and unknown ops/types; never for an RST;
 * spoofed source CIDs are dropped silently. */
START_TEST(rst_rules_and_spoofing)
{
	struct vhd_dev		*dev = mkdefault(NULL, NULL);
	struct vsock_hdr	 h;

	rx_post(dev, 8, 4096);
	tx(dev, ghdr(VSOCK_OP_RW, 1, 2, VSOCK_TYPE_STREAM), "x", 1, 1);
	rx_expect(dev, VSOCK_OP_RST);
	tx(dev, ghdr(VSOCK_OP_RST, 1, 2, VSOCK_TYPE_STREAM), NULL, 0, 1);
	ck_assert(!rx_next(dev, &h, NULL, 0));
	tx(dev, ghdr(42, 1, 2, VSOCK_TYPE_STREAM), NULL, 0, 1);
	rx_expect(dev, VSOCK_OP_RST);
	tx(dev, ghdr(VSOCK_OP_REQUEST, 1, 2, 9), NULL, 0, 1);
	h = rx_expect(dev, VSOCK_OP_RST);
	ck_assert_uint_eq(h.type, VSOCK_TYPE_STREAM);
	h = ghdr(VSOCK_OP_REQUEST, 1, 2, VSOCK_TYPE_STREAM);
	h.src_cid = 9;
	tx(dev, h, NULL, 0, 1);
	ck_assert(!rx_next(dev, &h, NULL, 0));
	ck_assert(fake_dev_log_contains(dev, "spoofed"));
	/* Every tx chain was consumed. */
	ck_assert_uint_eq(fake_queue_avail(fake_queue(dev, VSOCK_TXQ)), 0);
}
END_TEST

/* Host connect through "CONNECT <port>\n" in pieces; bytes after the
 * newline are forwarded; the host gets "OK <host port>\n". */
START_TEST(host_connect_line_partial)
{
	struct vhd_dev		*dev = mkdefault(NULL, NULL);
	struct vsock_hdr	 h, r;
	char			 buf[64];
	int			 fd, lfd;

	(void)lfd;
	rx_post(dev, 8, 4096);
	fd = host_connect();
	ck_assert_int_eq(write(fd, "CONN", 4), 4);
	fire_all_fd(dev);	/* accept */
	fire_all_fd(dev);	/* read "CONN" */
	ck_assert(!rx_next(dev, &h, NULL, 0));
	ck_assert_int_eq(write(fd, "ECT 1234\nearly", 14), 14);
	fire_all_fd(dev);
	h = rx_expect(dev, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.dst_port, 1234);
	ck_assert_uint_eq(h.src_port, VSOCK_LOCAL_PORT_BASE);
	r = ghdr(VSOCK_OP_RESPONSE, 1234, h.src_port, VSOCK_TYPE_STREAM);
	tx(dev, r, NULL, 0, 1);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(read_wait(fd, buf, sizeof(buf)), 14);
	ck_assert_str_eq(buf, "OK 1073741824\n");
	h = rx_expect(dev, VSOCK_OP_RW);
	ck_assert_uint_eq(h.len, 5);
	close(fd);
}
END_TEST

/* A host connection still reading its CONNECT line survives a queue
 * stop (a paused VM) and is closed when the device is reset. */
START_TEST(host_connect_pending_closed_on_reset)
{
	struct vhd_dev	*dev = mkdefault(NULL, NULL);
	char		 buf[8];
	int		 fd;

	fd = host_connect();
	ck_assert_int_eq(write(fd, "CONN", 4), 4);
	fire_all_fd(dev);
	fire_all_fd(dev);
	fake_queue_stop(fake_queue(dev, VSOCK_RXQ));
	ck_assert(!host_closed(fd));
	fake_queue_stop(fake_queue(dev, VSOCK_TXQ));
	fake_dev_reset(dev);
	ck_assert_int_eq(read_wait(fd, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(fake_dev_watches(dev), 0);
	close(fd);
}
END_TEST

/* A bad CONNECT line is answered and closed. */
START_TEST(host_connect_bad_line)
{
	struct vhd_dev	*dev = mkdefault(NULL, NULL);
	char		 buf[64];
	ssize_t		 n;
	int		 fd;

	fd = host_connect();
	ck_assert_int_eq(write(fd, "HELLO 12\n", 9), 9);
	fire_all_fd(dev);
	fire_all_fd(dev);
	memset(buf, 0, sizeof(buf));
	n = read_wait(fd, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert(strncmp(buf, "ERR ", 4) == 0);
	ck_assert_int_eq(read_wait(fd, buf, sizeof(buf)), 0);
	close(fd);
}
END_TEST

/* No RESPONSE within connect-timeout: the guest gets an RST and the
 * host socket is closed. */
START_TEST(host_connect_timeout)
{
	struct vhd_dev		*dev = mkdefault("connect-timeout", "50");
	struct vhd_watch	*t;
	char			 buf[16];
	int			 fd;

	rx_post(dev, 8, 4096);
	fd = host_connect();
	ck_assert_int_eq(write(fd, "CONNECT 99\n", 11), 11);
	fire_all_fd(dev);
	fire_all_fd(dev);
	rx_expect(dev, VSOCK_OP_REQUEST);
	t = fake_dev_watch(dev, -1);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(fake_watch_msec(t), 50);
	fake_watch_fire(t, VHD_EV_TIMEOUT);
	rx_expect(dev, VSOCK_OP_RST);
	ck_assert_int_eq(read_wait(fd, buf, sizeof(buf)), 0);
	close(fd);
}
END_TEST

/* Half-close both ways: guest SHUTDOWN(SEND) -> host EOF; host
 * shutdown(SHUT_WR) -> guest SHUTDOWN(SEND); then a full close. */
START_TEST(half_close_both_ways)
{
	struct vhd_dev		*dev = mkdefault(NULL, NULL);
	struct vsock_hdr	 h;
	char			 buf[16];
	int			 lfd, fd;

	fd = guest_connect(dev, SOCK_STREAM, &lfd);
	h = ghdr(VSOCK_OP_SHUTDOWN, 5000, 1234, VSOCK_TYPE_STREAM);
	h.flags = VSOCK_SHUT_SEND;
	tx(dev, h, NULL, 0, 1);
	ck_assert_int_eq(read_wait(fd, buf, sizeof(buf)), 0);
	/* The host can still send. */
	ck_assert_int_eq(write(fd, "late", 4), 4);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	fire_all_fd(dev);
	h = rx_expect(dev, VSOCK_OP_RW);
	ck_assert_uint_eq(h.len, 4);
	h = rx_expect(dev, VSOCK_OP_SHUTDOWN);
	ck_assert_uint_eq(h.flags, VSOCK_SHUT_BOTH);
	tx(dev, ghdr(VSOCK_OP_RST, 5000, 1234, VSOCK_TYPE_STREAM), NULL, 0,
	    1);
	ck_assert(!rx_next(dev, &h, NULL, 0));
	close(fd);
	close(lfd);
}
END_TEST

/* The guest's credit bounds what is sent; CREDIT_REQUEST when it runs
 * out, more data after its CREDIT_UPDATE. */
START_TEST(credit_exhaustion_and_recovery)
{
	struct vhd_dev		*dev = mkdefault(NULL, NULL);
	struct vsock_hdr	 h, g;
	char			 data[300];
	int			 lfd, fd;

	lfd = host_listen(1234, SOCK_STREAM);
	rx_post(dev, 8, 4096);
	g = ghdr(VSOCK_OP_REQUEST, 5000, 1234, VSOCK_TYPE_STREAM);
	g.buf_alloc = 100;
	tx(dev, g, NULL, 0, 1);
	rx_expect(dev, VSOCK_OP_RESPONSE);
	fd = accept(lfd, NULL, NULL);
	memset(data, 'z', sizeof(data));
	ck_assert_int_eq(write(fd, data, 300), 300);
	fire_all_fd(dev);
	h = rx_expect(dev, VSOCK_OP_RW);
	ck_assert_uint_eq(h.len, 100);
	rx_expect(dev, VSOCK_OP_CREDIT_REQUEST);
	ck_assert(!rx_next(dev, &h, NULL, 0));
	g = ghdr(VSOCK_OP_CREDIT_UPDATE, 5000, 1234, VSOCK_TYPE_STREAM);
	g.buf_alloc = 100;
	g.fwd_cnt = 100;
	tx(dev, g, NULL, 0, 1);
	h = rx_expect(dev, VSOCK_OP_RW);
	ck_assert_uint_eq(h.len, 100);
	close(fd);
	close(lfd);
}
END_TEST

/* A guest sending beyond our buffer is reset; CREDIT_REQUEST is
 * answered with our fwd_cnt. */
START_TEST(credit_guest_overrun)
{
	struct vhd_dev		*dev = mkdefault("buf-size", "4096");
	struct vsock_hdr	 h;
	static char		 big[5000];
	int			 lfd, fd;

	fd = guest_connect(dev, SOCK_STREAM, &lfd);
	tx(dev, ghdr(VSOCK_OP_CREDIT_REQUEST, 5000, 1234, VSOCK_TYPE_STREAM),
	    NULL, 0, 1);
	h = rx_expect(dev, VSOCK_OP_CREDIT_UPDATE);
	ck_assert_uint_eq(h.buf_alloc, 4096);
	/* Fill the host socket so nothing drains, then overrun. */
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	rx_post(dev, 64, 4096);
	for (;;) {
		h.op = 0;
		tx(dev, ghdr(VSOCK_OP_RW, 5000, 1234, VSOCK_TYPE_STREAM), big,
		    4000, 1);
		while (rx_next(dev, &h, NULL, 0) &&
		    h.op == VSOCK_OP_CREDIT_UPDATE)
			;
		if (rx_seen[0] > 0 && h.op == VSOCK_OP_RST)
			break;
		if (rx_seen[0] > 1000)
			ck_abort_msg("no reset");
	}
	ck_assert(fake_dev_log_contains(dev, "beyond its credit"));
	close(fd);
	close(lfd);
}
END_TEST

/* max-connections: one connection too many gets an RST. */
START_TEST(connection_cap)
{
	struct vhd_dev		*dev = mkdefault("max-connections", "1");
	struct vsock_hdr	 h;
	int			 lfd, fd;

	fd = guest_connect(dev, SOCK_STREAM, &lfd);
	tx(dev, ghdr(VSOCK_OP_REQUEST, 5001, 1234, VSOCK_TYPE_STREAM), NULL,
	    0, 1);
	h = rx_expect(dev, VSOCK_OP_RST);
	ck_assert_uint_eq(h.dst_port, 5001);
	ck_assert(fake_dev_log_contains(dev, "max-connections"));
	close(fd);
	close(lfd);
}
END_TEST

/* Seqpacket: message boundaries kept both ways (EOM), EOR mapped. */
START_TEST(seqpacket_boundaries)
{
	struct vhd_dev		*dev = mkdefault(NULL, NULL);
	struct vsock_hdr	 h, g;
	char			 buf[64];
	int			 lfd, fd;

	fd = guest_connect(dev, SOCK_SEQPACKET, &lfd);
	g = ghdr(VSOCK_OP_RW, 5000, 1234, VSOCK_TYPE_SEQPACKET);
	tx(dev, g, "abc", 3, 1);
	g.flags = VSOCK_SEQ_EOM;
	tx(dev, g, "def", 3, 2);
	tx(dev, g, "xy", 2, 1);
	ck_assert_int_eq(read_wait(fd, buf, sizeof(buf)), 6);
	ck_assert(memcmp(buf, "abcdef", 6) == 0);
	ck_assert_int_eq(read_wait(fd, buf, sizeof(buf)), 2);
	ck_assert_int_eq(send(fd, "one", 3, 0), 3);
	ck_assert_int_eq(send(fd, "three", 5, 0), 5);
	fire_all_fd(dev);
	h = rx_expect(dev, VSOCK_OP_RW);
	ck_assert_uint_eq(h.len, 3);
	ck_assert(h.flags & VSOCK_SEQ_EOM);
	h = rx_expect(dev, VSOCK_OP_RW);
	ck_assert_uint_eq(h.len, 5);
	ck_assert(h.flags & VSOCK_SEQ_EOM);
	close(fd);
	close(lfd);
}
END_TEST

/* tx keeps being processed while the guest posts no rx buffers; the
 * answers come once it does. */
START_TEST(tx_while_rx_full)
{
	struct vhd_dev		*dev = mkdefault(NULL, NULL);
	struct vsock_hdr	 h;
	unsigned		 i, n = 0;

	for (i = 0; i < 50; i++)
		tx(dev, ghdr(VSOCK_OP_REQUEST, 100 + i, 7, VSOCK_TYPE_STREAM),
		    NULL, 0, 1);
	ck_assert_uint_eq(fake_queue_avail(fake_queue(dev, VSOCK_TXQ)), 0);
	rx_post(dev, 64, 4096);
	while (rx_next(dev, &h, NULL, 0)) {
		ck_assert_uint_eq(h.op, VSOCK_OP_RST);
		n++;
	}
	ck_assert_uint_eq(n, 50);
}
END_TEST


/*
 * A queue stop is a pause (issue 8): across stop/start of rx and tx a
 * connection keeps its host socket, credit and data; host data that
 * arrives meanwhile and a host client that connects meanwhile wait, the
 * queues are not touched, and everything flows on after the start.
 */
START_TEST(pause_keeps_connections)
{
	struct vhd_dev		*dev = mkdefault(NULL, NULL);
	struct vhd_queue	*rxq = fake_queue(dev, VSOCK_RXQ);
	struct vhd_queue	*txq = fake_queue(dev, VSOCK_TXQ);
	struct vsock_hdr	 h;
	char			 buf[64];
	unsigned		 pops, pushes, notifies, i;
	int			 lfd, fd, hfd, seen_rw = 0, seen_req = 0;

	fd = guest_connect(dev, SOCK_STREAM, &lfd);
	tx(dev, ghdr(VSOCK_OP_RW, 5000, 1234, VSOCK_TYPE_STREAM), "before",
	    6, 2);
	ck_assert_int_eq(read_wait(fd, buf, sizeof(buf)), 6);

	for (i = 0; i < 3; i++) {
		fake_queue_stop(rxq);
		fake_queue_stop(txq);
		ck_assert_msg(!host_closed(fd), "host socket closed by a "
		    "queue stop (pause %u)", i);
		fake_queue_start(rxq);
		fake_queue_start(txq);
	}
	fake_queue_stop(rxq);
	fake_queue_stop(txq);
	pops = fake_queue_pops(rxq) + fake_queue_pops(txq);
	pushes = fake_queue_pushes(rxq) + fake_queue_pushes(txq);
	notifies = fake_queue_notifies(rxq) + fake_queue_notifies(txq);
	/* While paused: host data, and a new host client. */
	ck_assert_int_eq(write(fd, "during", 6), 6);
	hfd = host_connect();
	ck_assert_int_eq(write(hfd, "CONNECT 77\n", 11), 11);
	fire_ready(dev, 4);
	ck_assert(!host_closed(fd));
	ck_assert(!host_closed(hfd));
	ck_assert_uint_eq(fake_queue_pops(rxq) + fake_queue_pops(txq), pops);
	ck_assert_uint_eq(fake_queue_pushes(rxq) + fake_queue_pushes(txq),
	    pushes);
	ck_assert_uint_eq(fake_queue_notifies(rxq) + fake_queue_notifies(txq),
	    notifies);

	fake_queue_start(rxq);
	fake_queue_start(txq);
	while (rx_next(dev, &h, buf, sizeof(buf))) {
		if (h.op == VSOCK_OP_RW) {
			ck_assert_uint_eq(h.dst_port, 5000);
			ck_assert_uint_eq(h.len, 6);
			ck_assert(memcmp(buf, "during", 6) == 0);
			/* The credit counters survived. */
			ck_assert_uint_eq(h.fwd_cnt, 6);
			seen_rw++;
		} else if (h.op == VSOCK_OP_REQUEST) {
			ck_assert_uint_eq(h.dst_port, 77);
			seen_req++;
		}
	}
	ck_assert_int_eq(seen_rw, 1);
	ck_assert_int_eq(seen_req, 1);
	tx(dev, ghdr(VSOCK_OP_RW, 5000, 1234, VSOCK_TYPE_STREAM), "after",
	    5, 1);
	ck_assert_int_eq(read_wait(fd, buf, sizeof(buf)), 5);
	ck_assert(memcmp(buf, "after", 5) == 0);
	close(hfd);
	close(fd);
	close(lfd);
}
END_TEST

/* The device reset (and only it) ends connections: host sockets closed,
 * every watch freed, the guest not told. */
START_TEST(reset_drops_connections)
{
	struct vhd_dev		*dev = mkdefault(NULL, NULL);
	struct vsock_hdr	 h;
	char			 buf[8];
	int			 lfd, fd;

	fd = guest_connect(dev, SOCK_STREAM, &lfd);
	fake_queue_stop(fake_queue(dev, VSOCK_TXQ));
	fake_queue_stop(fake_queue(dev, VSOCK_RXQ));
	ck_assert(!host_closed(fd));
	fake_dev_reset(dev);
	ck_assert_int_eq(read_wait(fd, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(fake_dev_watches(dev), 0);
	/* A new driver starts afresh. */
	fake_queue_start(fake_queue(dev, VSOCK_RXQ));
	fake_queue_start(fake_queue(dev, VSOCK_TXQ));
	ck_assert(!rx_next(dev, &h, NULL, 0));
	close(fd);
	close(lfd);
}
END_TEST

/* The armed WRITE watch of a device, or NULL. */
static struct vhd_watch *
write_watch(struct vhd_dev *dev)
{
	struct vhd_watch	*w;
	unsigned		 i;

	for (i = 0; (w = fake_dev_watch_nth(dev, i)) != NULL; i++) {
		if (fake_watch_armed(w) &&
		    (fake_watch_events(w) & VHD_EV_WRITE))
			return (w);
	}
	return (NULL);
}

/*
 * Seqpacket credit when the host closes in the middle of a message: the
 * guest's bytes are all counted in fwd_cnt, the partial message once.
 * Large messages the host does not read fill its socket, so a whole
 * message and then half of the next wait in the ring; the host closes;
 * the write watch finds EPIPE.
 */
START_TEST(seqpacket_fwd_cnt_host_close)
{
	struct vhd_dev		*dev = mkdefault(NULL, NULL);
	struct vsock_hdr	 h, g;
	static char		 msg[60000];
	uint32_t		 sent = 0;
	unsigned		 i;
	int			 lfd, fd, shut = 0;

	fd = guest_connect(dev, SOCK_SEQPACKET, &lfd);
	rx_post(dev, 16, 4096);
	g = ghdr(VSOCK_OP_RW, 5000, 1234, VSOCK_TYPE_SEQPACKET);
	g.flags = VSOCK_SEQ_EOM;
	memset(msg, 'm', sizeof(msg));
	for (i = 0; i < 64 && write_watch(dev) == NULL; i++) {
		tx(dev, g, msg, sizeof(msg), 1);
		sent += sizeof(msg);
	}
	ck_assert_msg(write_watch(dev) != NULL, "the host socket never "
	    "filled");
	/* Half a message: no EOM. */
	g.flags = 0;
	tx(dev, g, "part", 4, 1);
	sent += 4;
	close(fd);
	fake_watch_fire(write_watch(dev), VHD_EV_WRITE);
	while (rx_next(dev, &h, NULL, 0)) {
		if (h.op != VSOCK_OP_SHUTDOWN)
			continue;
		ck_assert(h.flags & VSOCK_SHUT_RCV);
		ck_assert_msg(h.fwd_cnt == sent, "fwd_cnt %u after %u bytes "
		    "sent", h.fwd_cnt, sent);
		shut = 1;
	}
	ck_assert_msg(shut, "no SHUTDOWN after the host closed");
	close(lfd);
}
END_TEST

/* Build the suite. */
static Suite *
vsock_suite(void)
{
	Suite	*s = suite_create("vsock");
	TCase	*tc;

	tc = tcase_create("create");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, create_refuses_bad_keys);
	tcase_add_test(tc, create_duplicate_cid_and_config);
	suite_add_tcase(s, tc);

	tc = tcase_create("protocol");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, guest_connect_refused_rst);
	tcase_add_test(tc, guest_connect_data_layouts);
	tcase_add_test(tc, rst_rules_and_spoofing);
	tcase_add_test(tc, half_close_both_ways);
	tcase_add_test(tc, credit_exhaustion_and_recovery);
	tcase_add_test(tc, credit_guest_overrun);
	tcase_add_test(tc, connection_cap);
	tcase_add_test(tc, seqpacket_boundaries);
	tcase_add_test(tc, tx_while_rx_full);
	tcase_add_test(tc, pause_keeps_connections);
	tcase_add_test(tc, reset_drops_connections);
	tcase_add_test(tc, seqpacket_fwd_cnt_host_close);
	suite_add_tcase(s, tc);

	tc = tcase_create("host");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, host_connect_line_partial);
	tcase_add_test(tc, host_connect_bad_line);
	tcase_add_test(tc, host_connect_pending_closed_on_reset);
	tcase_add_test(tc, host_connect_timeout);
	suite_add_tcase(s, tc);

	return (s);
}

/* Run the suite. */
int
main(void)
{
	SRunner	*sr = srunner_create(vsock_suite());
	int	 failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
