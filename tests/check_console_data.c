/*
 * Unit tests of the console module on the fake daemon, data paths: both
 * ways through real unix sockets, ptys, tcp, files and stdio; backlog,
 * backpressure, a queue stopping with a chain held, bad chains, reset.
 * Part of the check_console program (check_console.c runs them).
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "console_fake.h"

START_TEST(test_unix_data_both_ways)
{
	struct vhd_dev		*dev = unix_dev(NULL);
	struct vhd_chain	*c;
	struct msg		 m[4];
	char			 buf[64];
	int			 fd;

	con_start(dev, ALL_FEATURES);
	handshake(dev, 2);
	fd = unix_connect(tp("p1.sock"));
	fire_listen(dev, 1);
	ck_assert_uint_eq(ctrl_collect(dev, m, 4), 1);
	ck_assert_uint_eq(m[0].id, 1);
	ck_assert_uint_eq(m[0].event, CONSOLE_PORT_OPEN);
	ck_assert_uint_eq(m[0].value, 1);
	ctrl_send(dev, 1, CONSOLE_PORT_OPEN, 1);

	/* Host -> guest. */
	c = rx_post(dev, 1, 64);
	kick(dev, 1, 0);
	ck_assert_int_eq(write(fd, "hello", 5), 5);
	ck_assert(fire_read(dev, 1));
	ck_assert(fake_chain_pushed(c));
	ck_assert_uint_eq(fake_chain_used(c), 5);
	fake_chain_written(c, buf, 5);
	ck_assert(memcmp(buf, "hello", 5) == 0);

	/* Guest -> host. */
	c = tx_send(dev, 1, "world", 5);
	ck_assert(fake_chain_pushed(c));
	ck_assert_uint_eq(drain(fd, buf, sizeof(buf)), 5);
	ck_assert(memcmp(buf, "world", 5) == 0);
	close(fd);
	con_free(dev);
}
END_TEST

START_TEST(test_several_ports)
{
	struct vhd_kv		 kv[3];
	struct vhd_dev		*dev;
	struct vhd_chain	*c[3];
	char			 spec[3][300], buf[32];
	int			 fd[3], i;

	for (i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "p%d.sock", i);
		snprintf(spec[i], sizeof(spec[i]), "unix=%s", tp(buf));
		kv[i].key = i == 0 ? "port0" : i == 1 ? "port1" : "port2";
		kv[i].value = spec[i];
		kv[i].where = "test";
	}
	dev = con_dev(kv, 3);
	con_start(dev, ALL_FEATURES);
	handshake(dev, 3);
	for (i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "p%d.sock", i);
		fd[i] = unix_connect(tp(buf));
		fire_listen(dev, (unsigned)i);
		if (i != 0)
			ctrl_send(dev, (uint32_t)i, CONSOLE_PORT_OPEN, 1);
		c[i] = rx_post(dev, (unsigned)i, 32);
	}
	for (i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "in%d", i);
		ck_assert_int_eq(write(fd[i], buf, 3), 3);
		kick(dev, (unsigned)i, 0);
		(void)fire_read(dev, (unsigned)i);
		snprintf(buf, sizeof(buf), "out%d", i);
		(void)tx_send(dev, (unsigned)i, buf, 4);
	}
	for (i = 0; i < 3; i++) {
		char	 want[16];

		ck_assert_uint_eq(fake_chain_used(c[i]), 3);
		fake_chain_written(c[i], buf, 3);
		snprintf(want, sizeof(want), "in%d", i);
		ck_assert(memcmp(buf, want, 3) == 0);
		ck_assert_uint_eq(drain(fd[i], buf, sizeof(buf)), 4);
		snprintf(want, sizeof(want), "out%d", i);
		ck_assert(memcmp(buf, want, 4) == 0);
		close(fd[i]);
	}
	con_free(dev);
}
END_TEST

START_TEST(test_paste_1mib)
{
	struct vhd_dev		*dev = unix_dev(NULL);
	struct vhd_queue	*rxq;
	struct vhd_chain	*c;
	uint8_t			*src, *dst;
	size_t			 total = 1 << 20, sent = 0, got = 0, len;
	unsigned		 seen = 0, rounds = 0;
	ssize_t			 n;
	int			 fd;

	src = malloc(total);
	dst = malloc(total);
	for (len = 0; len < total; len++)
		src[len] = (uint8_t)(len * 7 + len / 251);
	con_start(dev, ALL_FEATURES);
	handshake(dev, 2);
	fd = unix_connect(tp("p1.sock"));
	fire_listen(dev, 1);
	ctrl_send(dev, 1, CONSOLE_PORT_OPEN, 1);
	rxq = fake_queue(dev, 4);
	while (got < total) {
		ck_assert_uint_lt(rounds++, 1000000);
		if (sent < total) {
			n = write(fd, src + sent, total - sent);
			if (n > 0)
				sent += (size_t)n;
		}
		/* The guest posts 16 small buffers at a time. */
		for (len = 0; len < 16; len++)
			(void)rx_post(dev, 1, 61);
		kick(dev, 1, 0);
		(void)fire_read(dev, 1);
		while ((c = fake_queue_pushed(rxq, seen)) != NULL) {
			seen++;
			len = fake_chain_used(c);
			ck_assert_uint_le(len, 61);
			ck_assert_uint_le(got + len, total);
			fake_chain_written(c, dst + got, len);
			got += len;
		}
	}
	ck_assert(memcmp(src, dst, total) == 0);
	ck_assert_uint_eq(con_of(dev)->ports[1].in_len, 0);
	close(fd);
	free(src);
	free(dst);
	con_free(dev);
}
END_TEST

START_TEST(test_input_waits_for_guest_open)
{
	struct vhd_dev		*dev = unix_dev(NULL);
	struct vhd_chain	*c;
	int			 fd;

	con_start(dev, ALL_FEATURES);
	handshake(dev, 2);
	fd = unix_connect(tp("p1.sock"));
	fire_listen(dev, 1);
	c = rx_post(dev, 1, 64);
	kick(dev, 1, 0);
	ck_assert_int_eq(write(fd, "early", 5), 5);
	/* The guest has not opened port 1: nothing is read. */
	ck_assert(!fire_read(dev, 1));
	ck_assert(!fake_chain_pushed(c));
	ctrl_send(dev, 1, CONSOLE_PORT_OPEN, 1);
	(void)fire_read(dev, 1);
	ck_assert(fake_chain_pushed(c));
	ck_assert_uint_eq(fake_chain_used(c), 5);
	close(fd);
	con_free(dev);
}
END_TEST

START_TEST(test_disconnect_reconnect)
{
	struct vhd_dev		*dev = unix_dev(NULL);
	int			 fd;

	con_start(dev, ALL_FEATURES);
	handshake(dev, 2);
	fd = unix_connect(tp("p1.sock"));
	fire_listen(dev, 1);
	expect_msg(dev, 1, CONSOLE_PORT_OPEN, 1);
	ctrl_send(dev, 1, CONSOLE_PORT_OPEN, 1);
	close(fd);
	ck_assert(fire_read(dev, 1));
	expect_msg(dev, 1, CONSOLE_PORT_OPEN, 0);
	ck_assert(fake_dev_log_contains(dev, "port 1: client detached"));
	fd = unix_connect(tp("p1.sock"));
	fire_listen(dev, 1);
	expect_msg(dev, 1, CONSOLE_PORT_OPEN, 1);
	expect_none(dev);
	close(fd);
	con_free(dev);
}
END_TEST

START_TEST(test_refuse_and_replace)
{
	struct vhd_dev	*dev = unix_dev(NULL);
	char		 b;
	int		 fd1, fd2;

	con_start(dev, ALL_FEATURES);
	handshake(dev, 2);
	fd1 = unix_connect(tp("p1.sock"));
	fire_listen(dev, 1);
	fd2 = unix_connect(tp("p1.sock"));
	fire_listen(dev, 1);
	/* The second is closed; the first stays. */
	ck_assert_int_eq(read(fd2, &b, 1), 0);
	ck_assert(fake_dev_log_contains(dev, "refused a client"));
	(void)tx_send(dev, 1, "A", 1);
	ck_assert_int_eq(read(fd1, &b, 1), 1);
	close(fd1);
	close(fd2);
	con_free(dev);

	teardown();
	setup();
	dev = unix_dev("client=replace");
	con_start(dev, ALL_FEATURES);
	handshake(dev, 2);
	fd1 = unix_connect(tp("p1.sock"));
	fire_listen(dev, 1);
	fd2 = unix_connect(tp("p1.sock"));
	fire_listen(dev, 1);
	ck_assert_int_eq(read(fd1, &b, 1), 0);
	(void)tx_send(dev, 1, "B", 1);
	ck_assert_int_eq(read(fd2, &b, 1), 1);
	ck_assert_int_eq(b, 'B');
	close(fd1);
	close(fd2);
	con_free(dev);
}
END_TEST

START_TEST(test_backlog_replay)
{
	struct vhd_dev	*dev = unix_dev(NULL);
	char		 buf[64];
	int		 fd;

	con_start(dev, ALL_FEATURES);
	handshake(dev, 2);
	/* No client: the chains are returned at once, kept in order. */
	ck_assert(fake_chain_pushed(tx_send(dev, 1, "one ", 4)));
	ck_assert(fake_chain_pushed(tx_send(dev, 1, "two ", 4)));
	ck_assert(fake_chain_pushed(tx_send(dev, 1, "three", 5)));
	fd = unix_connect(tp("p1.sock"));
	fire_listen(dev, 1);
	ck_assert_uint_eq(drain(fd, buf, sizeof(buf)), 13);
	ck_assert(memcmp(buf, "one two three", 13) == 0);
	ck_assert(fake_dev_log_contains(dev, "replaying 13 bytes"));
	close(fd);
	con_free(dev);
}
END_TEST

START_TEST(test_backlog_drops_oldest)
{
	struct vhd_dev	*dev = unix_dev("backlog=4096");
	uint8_t		 chunk[1000], buf[8192];
	size_t		 got;
	int		 fd, i;

	con_start(dev, ALL_FEATURES);
	handshake(dev, 2);
	for (i = 0; i < 10; i++) {
		memset(chunk, 'a' + i, sizeof(chunk));
		ck_assert(fake_chain_pushed(tx_send(dev, 1, chunk,
		    sizeof(chunk))));
	}
	fd = unix_connect(tp("p1.sock"));
	fire_listen(dev, 1);
	got = drain(fd, buf, sizeof(buf));
	ck_assert_uint_eq(got, 4096);
	/* The newest 4096 bytes, in order: f(96) g h i j. */
	ck_assert_uint_eq(buf[0], 'f');
	ck_assert_uint_eq(buf[95], 'f');
	ck_assert_uint_eq(buf[96], 'g');
	ck_assert_uint_eq(buf[4095], 'j');
	ck_assert(fake_dev_log_contains(dev, "dropping the oldest output"));
	ck_assert(fake_dev_log_contains(dev, "5904 older bytes were "
	    "dropped"));
	close(fd);
	con_free(dev);
}
END_TEST

START_TEST(test_tx_backpressure)
{
	struct vhd_dev		*dev = unix_dev("backlog=4096");
	struct vhd_queue	*txq;
	uint8_t			*src, *dst;
	size_t			 total = 4 << 20, got = 0, i;
	unsigned		 posted = 0, chunk = 8192, rounds = 0;
	int			 fd, sz = 4096;

	src = malloc(total);
	dst = malloc(total);
	for (i = 0; i < total; i++)
		src[i] = (uint8_t)(i ^ (i >> 9));
	con_start(dev, ALL_FEATURES);
	handshake(dev, 2);
	fd = unix_connect(tp("p1.sock"));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	fire_listen(dev, 1);
	txq = fake_queue(dev, 5);
	/* The guest queues all of it; the client has not read yet. */
	for (i = 0; i < total; i += chunk) {
		struct vhd_chain *c = fake_chain_new(txq);

		fake_chain_add_readable(c, src + i, chunk);
		posted++;
	}
	fake_queue_kick(txq);
	/* Chains wait (not returned, not dropped) while the client lags. */
	ck_assert_uint_lt(fake_queue_pushes(txq), posted);
	ck_assert(con_of(dev)->ports[1].wr_armed);
	while (got < total) {
		ck_assert_uint_lt(rounds++, 1000000);
		got += drain(fd, dst + got, total - got);
		(void)fire_write(dev, 1);
		if (con_of(dev)->ports[1].resume_armed)
			fake_watch_fire(con_of(dev)->ports[1].resume_w,
			    VHD_EV_TIMEOUT);
	}
	ck_assert(memcmp(src, dst, total) == 0);
	ck_assert_uint_eq(fake_queue_pushes(txq), posted);
	ck_assert_uint_eq(con_of(dev)->ports[1].dropped_total, 0);
	close(fd);
	free(src);
	free(dst);
	con_free(dev);
}
END_TEST

/*
 * Issue 8: a tx queue that stops while a chain waits on a slow client
 * rewinds the chain (nothing pushed, nothing dropped); when the queue runs
 * again the same chain is copied on from where it stopped, so the client
 * gets every byte once, in order.
 */
START_TEST(test_stop_with_held_chain)
{
	struct vhd_dev		*dev = unix_dev("backlog=4096");
	struct vhd_queue	*txq;
	struct vhd_chain	*c;
	size_t			 len = 4 << 20, got = 0, i;
	uint8_t			*big = malloc(len), *dst = malloc(len);
	unsigned		 rounds = 0;
	int			 fd, sz = 4096;

	ck_assert(big != NULL && dst != NULL);
	for (i = 0; i < len; i++)
		big[i] = (uint8_t)(i ^ (i >> 9));
	con_start(dev, ALL_FEATURES);
	handshake(dev, 2);
	fd = unix_connect(tp("p1.sock"));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	fire_listen(dev, 1);
	txq = fake_queue(dev, 5);
	c = tx_send(dev, 1, big, len);
	ck_assert(!fake_chain_pushed(c));
	fake_queue_stop(txq);
	ck_assert(!fake_chain_pushed(c));
	ck_assert_uint_eq(fake_queue_rewinds(txq), 1);
	ck_assert_ptr_null(con_of(dev)->ports[1].tx_chain);
	ck_assert_uint_gt(con_of(dev)->ports[1].tx_resume, 0);
	fake_queue_start(txq);
	while (got < len) {
		ck_assert_uint_lt(rounds++, 1000000);
		got += drain(fd, dst + got, len - got);
		(void)fire_write(dev, 1);
		if (con_of(dev)->ports[1].resume_armed)
			fake_watch_fire(con_of(dev)->ports[1].resume_w,
			    VHD_EV_TIMEOUT);
	}
	ck_assert(memcmp(big, dst, len) == 0);
	ck_assert(fake_chain_pushed(c));
	ck_assert_uint_eq(fake_queue_pushes(txq), 1);
	ck_assert_uint_eq(con_of(dev)->ports[1].dropped_total, 0);
	ck_assert_uint_eq(con_of(dev)->ports[1].tx_resume, 0);
	close(fd);
	free(big);
	free(dst);
	con_free(dev);
}
END_TEST

START_TEST(test_pty_open_close_resize)
{
	struct vhd_kv	 kv[] = {
		FAKE_KV("port0", NULL), FAKE_KV("cols", "80"),
		FAKE_KV("rows", "24"),
	};
	struct vhd_dev	*dev;
	struct console	*con;
	struct winsize	 ws;
	struct msg	 m[8];
	char		 link[300], spec[320], buf[16];
	uint8_t		 cfg[4];
	unsigned	 n;
	int		 s;

	snprintf(link, sizeof(link), "%s", tp("console.pty"));
	snprintf(spec, sizeof(spec), "pty,link=%s", link);
	kv[0].value = spec;
	dev = con_dev(kv, 3);
	con = con_of(dev);
	con_start(dev, ALL_FEATURES);
	handshake(dev, 1);
	expect_none(dev);
	/* Output before a reader waits in the backlog. */
	(void)tx_send(dev, 0, "boot\r\n", 6);

	s = open(link, O_RDWR | O_NOCTTY | O_NONBLOCK);
	ck_assert_int_ge(s, 0);
	fire_poll(dev, 0);
	expect_msg(dev, 0, CONSOLE_PORT_OPEN, 1);
	read_exact(s, buf, 6);
	ck_assert(memcmp(buf, "boot\r\n", 6) == 0);

	/* Resize from the reader's side. */
	memset(&ws, 0, sizeof(ws));
	ws.ws_col = 120;
	ws.ws_row = 40;
	ck_assert_int_eq(ioctl(s, TIOCSWINSZ, &ws), 0);
	fire_poll(dev, 0);
	n = ctrl_collect(dev, m, 8);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(m[0].event, CONSOLE_RESIZE);
	ck_assert_uint_eq(m[0].extra[0] | m[0].extra[1] << 8, 120);
	ck_assert_uint_eq(m[0].extra[2] | m[0].extra[3] << 8, 40);
	ck_assert_uint_eq(fake_dev_config_changes(dev), 1);
	ck_assert_int_eq(fake_dev_get_config(dev, 0, cfg, 4), 0);
	ck_assert_uint_eq(cfg[0] | cfg[1] << 8, 120);
	ck_assert_uint_eq(cfg[2] | cfg[3] << 8, 40);
	/* The same size again: nothing. */
	fire_poll(dev, 0);
	expect_none(dev);

	close(s);
	fire_poll(dev, 0);
	expect_msg(dev, 0, CONSOLE_PORT_OPEN, 0);
	ck_assert(!con->ports[0].connected);
	con_free(dev);
	/* The link is removed with the device. */
	ck_assert_int_eq(access(link, F_OK), -1);
}
END_TEST

START_TEST(test_pty_input)
{
	struct vhd_kv		 kv[] = { FAKE_KV("port0", NULL) };
	struct vhd_dev		*dev;
	struct vhd_chain	*c;
	char			 link[300], spec[320], buf[8];
	int			 s;

	snprintf(link, sizeof(link), "%s", tp("c.pty"));
	snprintf(spec, sizeof(spec), "link=%s", link);
	kv[0].value = spec;
	dev = con_dev(kv, 1);
	con_start(dev, ALL_FEATURES);
	handshake(dev, 1);
	s = open(link, O_RDWR | O_NOCTTY | O_NONBLOCK);
	ck_assert_int_ge(s, 0);
	fire_poll(dev, 0);
	c = rx_post(dev, 0, 8);
	kick(dev, 0, 0);
	/* ^C is a byte for the guest, not a signal. */
	ck_assert_int_eq(write(s, "ab\003", 3), 3);
	wait_readable(con_of(dev)->ports[0].rfd);
	ck_assert(fire_read(dev, 0));
	ck_assert_uint_eq(fake_chain_used(c), 3);
	fake_chain_written(c, buf, 3);
	ck_assert(memcmp(buf, "ab\003", 3) == 0);
	close(s);
	con_free(dev);
}
END_TEST

START_TEST(test_no_multiport)
{
	struct vhd_kv		 kv[] = { FAKE_KV("port0", NULL) };
	struct vhd_dev		*dev;
	struct vhd_chain	*c;
	char			 spec[300], buf[8];
	int			 fd;

	snprintf(spec, sizeof(spec), "unix=%s", tp("c0.sock"));
	kv[0].value = spec;
	dev = con_dev(kv, 1);
	/* Only rx0 and tx0 (a driver without MULTIPORT). */
	fake_dev_ack_features(dev, 1ULL << VHD_F_VERSION_1);
	fake_queue_start(fake_queue(dev, 0));
	fake_queue_start(fake_queue(dev, 1));
	fd = unix_connect(tp("c0.sock"));
	fire_listen(dev, 0);
	c = rx_post(dev, 0, 8);
	kick(dev, 0, 0);
	ck_assert_int_eq(write(fd, "xy", 2), 2);
	ck_assert(fire_read(dev, 0));
	ck_assert_uint_eq(fake_chain_used(c), 2);
	fake_chain_written(c, buf, 2);
	ck_assert(memcmp(buf, "xy", 2) == 0);
	(void)tx_send(dev, 0, "zw", 2);
	ck_assert_uint_eq(drain(fd, buf, sizeof(buf)), 2);
	ck_assert(memcmp(buf, "zw", 2) == 0);
	close(fd);
	fake_queue_stop(fake_queue(dev, 0));
	fake_queue_stop(fake_queue(dev, 1));
	ck_assert_str_eq(fake_dev_errors(dev), "");
	ck_assert_uint_eq(fake_dev_watches(dev), 0);
	fake_dev_free(dev);
}
END_TEST

START_TEST(test_bad_chains)
{
	struct vhd_dev		*dev = unix_dev(NULL);
	struct vhd_chain	*c;
	int			 fd;

	con_start(dev, ALL_FEATURES);
	handshake(dev, 2);
	fd = unix_connect(tp("p1.sock"));
	fire_listen(dev, 1);
	ctrl_send(dev, 1, CONSOLE_PORT_OPEN, 1);
	/* An rx chain with only a readable buffer, then a good one. */
	c = fake_chain_new(fake_queue(dev, 4));
	fake_chain_add_readable(c, "x", 1);
	(void)rx_post(dev, 1, 8);
	kick(dev, 1, 0);
	ck_assert_int_eq(write(fd, "ok", 2), 2);
	(void)fire_read(dev, 1);
	ck_assert(fake_chain_pushed(c));
	ck_assert_uint_eq(fake_chain_used(c), 0);
	ck_assert_uint_eq(fake_chain_used(fake_queue_pushed(fake_queue(dev,
	    4), 1)), 2);
	/* A tx chain in unreadable memory is returned. */
	c = fake_chain_new(fake_queue(dev, 5));
	fake_chain_add_readable(c, "bad", 3);
	fake_chain_set_bad(c);
	kick(dev, 1, 1);
	ck_assert(fake_chain_pushed(c));
	ck_assert(!fake_dev_failed(dev));
	close(fd);
	con_free(dev);
}
END_TEST

START_TEST(test_reset_and_again)
{
	struct vhd_dev	*dev = unix_dev(NULL);
	unsigned	 i, n;
	int		 fd;

	con_start(dev, ALL_FEATURES);
	handshake(dev, 2);
	fd = unix_connect(tp("p1.sock"));
	fire_listen(dev, 1);
	n = fake_dev_info(dev)->num_queues;
	for (i = 0; i < n; i++)
		fake_queue_stop(fake_queue(dev, i));
	ck_assert_uint_eq(fake_dev_watches(dev), 0);
	fake_dev_reset(dev);
	/* The client stays; a new driver is told about it. */
	con_start(dev, ALL_FEATURES);
	ck_assert(!con_of(dev)->ports[1].added);
	ctrl_seen = fake_queue_pushes(fake_queue(dev, CONSOLE_Q_CTRL_RX));
	handshake(dev, 2);
	ck_assert(con_of(dev)->ports[1].added);
	ck_assert_int_eq(con_of(dev)->ports[1].open_reported, 1);
	close(fd);
	con_free(dev);
}
END_TEST

START_TEST(test_file_failure_removes_port)
{
	struct vhd_kv	 kv[] = { FAKE_KV("port1", "file=/dev/full") };
	struct vhd_dev	*dev = con_dev(kv, 1);
	struct vhd_chain *c;

	con_start(dev, ALL_FEATURES);
	handshake(dev, 2);
	c = tx_send(dev, 1, "lost", 4);
	ck_assert(fake_chain_pushed(c));
	expect_msg(dev, 1, CONSOLE_PORT_REMOVE, 0);
	expect_none(dev);
	ck_assert(fake_dev_log_contains(dev, "removing the port"));
	ck_assert(!con_of(dev)->ports[1].added);
	/* Later output is still taken (kept in the backlog). */
	ck_assert(fake_chain_pushed(tx_send(dev, 1, "more", 4)));
	ck_assert(!fake_dev_failed(dev));
	con_free(dev);
}
END_TEST

START_TEST(test_tcp_port)
{
	struct vhd_kv		 kv[] = { FAKE_KV("port1", "tcp=127.0.0.1:0") };
	struct vhd_dev		*dev = con_dev(kv, 1);
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	struct vhd_chain	*c;
	char			 buf[8];
	int			 fd;

	ck_assert(fake_dev_log_contains(dev, "listening on tcp 127.0.0.1"));
	ck_assert_int_eq(getsockname(con_of(dev)->ports[1].listen_fd,
	    (struct sockaddr *)&sin, &len), 0);
	con_start(dev, ALL_FEATURES);
	handshake(dev, 2);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, len), 0);
	fire_listen(dev, 1);
	expect_msg(dev, 1, CONSOLE_PORT_OPEN, 1);
	ctrl_send(dev, 1, CONSOLE_PORT_OPEN, 1);
	c = rx_post(dev, 1, 8);
	kick(dev, 1, 0);
	ck_assert_int_eq(write(fd, "tcp", 3), 3);
	wait_readable(con_of(dev)->ports[1].rfd);
	ck_assert(fire_read(dev, 1));
	ck_assert_uint_eq(fake_chain_used(c), 3);
	(void)tx_send(dev, 1, "back", 4);
	ck_assert_int_eq(read(fd, buf, 4), 4);
	ck_assert(memcmp(buf, "back", 4) == 0);
	close(fd);
	con_free(dev);
}
END_TEST

START_TEST(test_stdio_port)
{
	struct vhd_kv		 kv[] = { FAKE_KV("port0", "stdio") };
	struct vhd_dev		*dev;
	struct vhd_chain	*c;
	char			 buf[8];
	int			 in[2], out[2];

	/* The test runs in its own process: stdio becomes two pipes. */
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	ck_assert_int_ge(dup2(in[0], STDIN_FILENO), 0);
	ck_assert_int_ge(dup2(out[1], STDOUT_FILENO), 0);
	dev = con_dev(kv, 1);
	con_start(dev, ALL_FEATURES);
	handshake(dev, 1);
	c = rx_post(dev, 0, 8);
	kick(dev, 0, 0);
	/* Not a terminal: bytes pass untouched, ^] included. */
	ck_assert_int_eq(write(in[1], "a\035b", 3), 3);
	ck_assert(fire_read(dev, 0));
	ck_assert_uint_eq(fake_chain_used(c), 3);
	fake_chain_written(c, buf, 3);
	ck_assert(memcmp(buf, "a\035b", 3) == 0);
	(void)tx_send(dev, 0, "out", 3);
	ck_assert_int_eq(read(out[0], buf, 3), 3);
	ck_assert(memcmp(buf, "out", 3) == 0);
	/* stdin ends: input stops, output goes on. */
	close(in[1]);
	(void)rx_post(dev, 0, 8);
	kick(dev, 0, 0);
	(void)fire_read(dev, 0);
	ck_assert(con_of(dev)->ports[0].input_eof);
	ck_assert(!fire_read(dev, 0));
	(void)tx_send(dev, 0, "more", 4);
	ck_assert_int_eq(read(out[0], buf, 4), 4);
	con_free(dev);
}
END_TEST

/* The console suite. */

/* Add the data path tests to the console test case. */
void
console_data_add_tests(TCase *tc)
{
	tcase_add_test(tc, test_unix_data_both_ways);
	tcase_add_test(tc, test_several_ports);
	tcase_add_test(tc, test_paste_1mib);
	tcase_add_test(tc, test_input_waits_for_guest_open);
	tcase_add_test(tc, test_disconnect_reconnect);
	tcase_add_test(tc, test_refuse_and_replace);
	tcase_add_test(tc, test_backlog_replay);
	tcase_add_test(tc, test_backlog_drops_oldest);
	tcase_add_test(tc, test_tx_backpressure);
	tcase_add_test(tc, test_stop_with_held_chain);
	tcase_add_test(tc, test_pty_open_close_resize);
	tcase_add_test(tc, test_pty_input);
	tcase_add_test(tc, test_no_multiport);
	tcase_add_test(tc, test_bad_chains);
	tcase_add_test(tc, test_reset_and_again);
	tcase_add_test(tc, test_file_failure_removes_port);
	tcase_add_test(tc, test_tcp_port);
	tcase_add_test(tc, test_stdio_port);
}
