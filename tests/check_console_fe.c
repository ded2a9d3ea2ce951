/*
 * End-to-end tests of the console module: a real vhostd started with
 * --module=console, driven by the test frontend (tests/fe) playing the VMM
 * and the Linux virtio_console driver (DEVICE_READY, PORT_READY per added
 * port, PORT_OPEN for the console and for opened ports), with unix-socket
 * and pty clients on the host side.
 *
 * Queues (3 ports at most, FE_MAX_QUEUES is 8): 0 rx0, 1 tx0, 2 c_ivq,
 * 3 c_ovq, 4 rx1, 5 tx1, 6 rx2, 7 tx2.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "console_drv.h"

START_TEST(test_fe_handshake)
{
	const char *const names[] = { NULL, "org.vhostd.one", "two" };
	const int open[] = { 0, 0, 1 };
	struct fe_daemon *tmpd;
	struct drv	*v;
	char		 o1[300], o2[300], o0[300];
	const char	*o[4];

	/* Paths are known only once the daemon dir exists. */
	tmpd = fe_daemon_new("console-dirs");
	snprintf(o0, sizeof(o0), "port0=pty,link=%s",
	    fe_daemon_path(tmpd, "c0.pty"));
	snprintf(o1, sizeof(o1), "port1=name=org.vhostd.one,unix=%s",
	    fe_daemon_path(tmpd, "p1.sock"));
	snprintf(o2, sizeof(o2), "port2=name=two,file=%s",
	    fe_daemon_path(tmpd, "p2.log"));
	o[0] = o0;
	o[1] = o1;
	o[2] = o2;
	o[3] = NULL;
	v = drv_start("console-handshake", 8, o);
	drv_handshake(v, 3, names, open);
	ck_assert_int_eq(fe_daemon_log_count(v->d, "port 0: pty /dev/pts/"),
	    1);
	drv_free(v);
	fe_daemon_free(tmpd);
}
END_TEST

START_TEST(test_fe_data_several_ports)
{
	struct fe_daemon *dirs;
	struct drv	*v = drv_three("console-data", NULL, &dirs);
	char		 buf[64];
	int		 fd1, fd2;

	drv_handshake(v, 3, three_names, NULL);
	fd1 = attach(v, dirs, 1);
	fd2 = attach(v, dirs, 2);
	drv_ctrl_send(v, 1, EV_PORT_OPEN, 1);
	drv_ctrl_send(v, 2, EV_PORT_OPEN, 1);
	ck_assert_int_eq(write(fd1, "to-one", 6), 6);
	ck_assert_int_eq(write(fd2, "to-two!", 7), 7);
	ck_assert_int_eq(drv_send(v, 5, "from-one", 8), 0);
	ck_assert_int_eq(drv_send(v, 7, "from-two", 8), 0);
	guest_read(v, 4, buf, 6);
	ck_assert(memcmp(buf, "to-one", 6) == 0);
	guest_read(v, 6, buf, 7);
	ck_assert(memcmp(buf, "to-two!", 7) == 0);
	host_read(fd1, buf, 8);
	ck_assert(memcmp(buf, "from-one", 8) == 0);
	host_read(fd2, buf, 8);
	ck_assert(memcmp(buf, "from-two", 8) == 0);
	close(fd1);
	close(fd2);
	drv_free(v);
	fe_daemon_free(dirs);
}
END_TEST

START_TEST(test_fe_paste_1mib)
{
	struct fe_daemon *dirs;
	struct drv	*v = drv_three("console-paste", NULL, &dirs);
	struct fe_queue	*fq;
	uint8_t		*src, *dst;
	size_t		 total = 1 << 20, sent = 0, got = 0, i;
	uint32_t	 id, len;
	int64_t		 end;
	ssize_t		 n;
	int		 fd, r;

	src = malloc(total);
	dst = malloc(total);
	ck_assert(src != NULL && dst != NULL);
	for (i = 0; i < total; i++)
		src[i] = (uint8_t)(i * 131 + (i >> 12));
	drv_handshake(v, 3, three_names, NULL);
	fd = attach(v, dirs, 1);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	drv_ctrl_send(v, 1, EV_PORT_OPEN, 1);
	/* Small buffers: 8 posted by the handshake plus 24 more, 64 bytes
	 * each, reposted as they come back. */
	drv_post_rx(v, 4, 24, 64);
	fq = fe_queue(v->fe, 4);
	end = fe_now_ms() + 60000;
	while (got < total) {
		ck_assert_msg(fe_now_ms() < end, "paste: %zu of %zu bytes",
		    got, total);
		if (sent < total) {
			n = write(fd, src + sent, total - sent);
			if (n > 0)
				sent += (size_t)n;
		}
		r = fe_wait_used(v->fe, 4, &id, &len, 50);
		ck_assert_int_ge(r, 0);
		while (r == 1) {
			ck_assert_uint_le(len, 64);
			ck_assert_uint_le(got + len, total);
			ck_assert_int_eq(fe_read(v->fe, fq->req_gpa[id],
			    dst + got, len), 0);
			got += len;
			drv_repost(v, 4, id, 0);
			r = fe_get_used(v->fe, 4, &id, &len);
			ck_assert_int_ge(r, 0);
		}
		ck_assert_int_eq(fe_kick(v->fe, 4), 0);
	}
	ck_assert(memcmp(src, dst, total) == 0);
	close(fd);
	free(src);
	free(dst);
	drv_free(v);
	fe_daemon_free(dirs);
}
END_TEST

START_TEST(test_fe_disconnect_reconnect)
{
	struct fe_daemon *dirs;
	struct drv	*v = drv_three("console-reconnect", NULL, &dirs);
	int		 fd;

	drv_handshake(v, 3, three_names, NULL);
	drv_ctrl_send(v, 2, EV_PORT_OPEN, 1);
	fd = attach(v, dirs, 2);
	close(fd);
	drv_expect(v, 2, EV_PORT_OPEN, 0);
	fd = attach(v, dirs, 2);
	close(fd);
	drv_expect(v, 2, EV_PORT_OPEN, 0);
	ck_assert_int_eq(fe_daemon_wait_log(v->d, "port 2: client detached",
	    2, TMO), 0);
	drv_free(v);
	fe_daemon_free(dirs);
}
END_TEST

START_TEST(test_fe_backlog_replay)
{
	struct fe_daemon *dirs;
	struct drv	*v = drv_three("console-backlog", NULL, &dirs);
	char		 want[4096], buf[4096], line[32];
	size_t		 len = 0;
	int		 fd, i;

	drv_handshake(v, 3, three_names, NULL);
	/* No client: the guest's writes are kept and returned at once. */
	for (i = 0; i < 100; i++) {
		snprintf(line, sizeof(line), "line %03d\n", i);
		memcpy(want + len, line, strlen(line));
		len += strlen(line);
		ck_assert_int_eq(drv_send(v, 7, line, strlen(line)), 0);
	}
	fd = attach(v, dirs, 2);
	host_read(fd, buf, len);
	ck_assert(memcmp(buf, want, len) == 0);
	ck_assert_int_eq(fe_daemon_wait_log(v->d, "replaying 900 bytes", 1,
	    TMO), 0);
	close(fd);
	drv_free(v);
	fe_daemon_free(dirs);
}
END_TEST

START_TEST(test_fe_pty_resize)
{
	struct fe_daemon *dirs;
	struct drv	*v = drv_three("console-resize", NULL, &dirs);
	struct fe_msg	 bm;
	struct winsize	 ws;
	struct cmsg	 m;
	uint8_t		 cfg[12];
	uint32_t	 got;
	char		 buf[8];
	int		 s;

	drv_handshake(v, 3, three_names, NULL);
	s = open(dpath(dirs, "c0.pty"), O_RDWR | O_NOCTTY);
	ck_assert_int_ge(s, 0);
	drv_expect(v, 0, EV_PORT_OPEN, 1);
	/* Console output reaches the pty. */
	ck_assert_int_eq(drv_send(v, 1, "ok", 2), 0);
	host_read(s, buf, 2);
	ck_assert(memcmp(buf, "ok", 2) == 0);

	memset(&ws, 0, sizeof(ws));
	ws.ws_col = 132;
	ws.ws_row = 50;
	ck_assert_int_eq(ioctl(s, TIOCSWINSZ, &ws), 0);
	ck_assert_int_eq(drv_ctrl_recv(v, &m, TMO), 1);
	ck_assert_uint_eq(m.id, 0);
	ck_assert_uint_eq(m.event, EV_RESIZE);
	ck_assert_uint_eq(m.extra_len, 4);
	ck_assert_uint_eq(m.extra[0] | m.extra[1] << 8, 132);
	ck_assert_uint_eq(m.extra[2] | m.extra[3] << 8, 50);
	/* And a config change notification with the new config. */
	ck_assert_int_ge(v->fe->backend_fd, 0);
	ck_assert_int_eq(fe_sock_recv(v->fe->backend_fd, &bm, TMO), 1);
	ck_assert_uint_eq(bm.hdr.request,
	    VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	fe_msg_close_fds(&bm);
	ck_assert_int_eq(fe_get_config(v->fe, 0, 12, cfg, &got), 0);
	ck_assert_uint_eq(got, 12);
	ck_assert_uint_eq(cfg[0] | cfg[1] << 8, 132);
	ck_assert_uint_eq(cfg[2] | cfg[3] << 8, 50);
	ck_assert_uint_eq(cfg[4], 3);
	close(s);
	drv_expect(v, 0, EV_PORT_OPEN, 0);
	drv_free(v);
	fe_daemon_free(dirs);
}
END_TEST

START_TEST(test_fe_config_and_emergency)
{
	struct fe_daemon *dirs;
	struct drv	*v = drv_three("console-config",
	    "cols=100", &dirs);
	uint8_t		 cfg[16], b[4] = { 'E', 0, 0, 0 };
	uint32_t	 got;
	char		 buf[4];
	int		 s, r;

	ck_assert_int_eq(fe_get_config(v->fe, 0, 12, cfg, &got), 0);
	ck_assert_uint_eq(got, 12);
	ck_assert_uint_eq(cfg[0] | cfg[1] << 8, 100);
	ck_assert_uint_eq(cfg[2] | cfg[3] << 8, 24);
	ck_assert_uint_eq(cfg[4], 3);
	/* Out of range: refused, the daemon lives. */
	r = fe_get_config(v->fe, 8, 8, cfg, &got);
	ck_assert(r != 0 || got == 0);
	r = fe_get_config(v->fe, 0xfffffff0U, 0x20, cfg, &got);
	ck_assert(r != 0 || got == 0);
	ck_assert_int_ne(fe_set_config(v->fe, 10, b, 4), 0);
	ck_assert_int_ne(fe_set_config(v->fe, 0, b, 2), 0);
	ck_assert(fe_daemon_alive(v->d));

	drv_handshake(v, 3, three_names, NULL);
	s = open(dpath(dirs, "c0.pty"), O_RDWR | O_NOCTTY);
	ck_assert_int_ge(s, 0);
	drv_expect(v, 0, EV_PORT_OPEN, 1);
	ck_assert_int_eq(fe_set_config(v->fe, 8, b, 4), 0);
	b[0] = 'W';
	ck_assert_int_eq(fe_set_config(v->fe, 8, b, 1), 0);
	host_read(s, buf, 2);
	ck_assert(memcmp(buf, "EW", 2) == 0);
	close(s);
	drv_free(v);
	fe_daemon_free(dirs);
}
END_TEST

START_TEST(test_fe_malformed_control)
{
	struct fe_daemon *dirs;
	struct drv	*v = drv_three("console-malformed", NULL, &dirs);
	char		 buf[8];
	int		 fd;

	drv_handshake(v, 3, three_names, NULL);
	drv_ctrl_send(v, 0, 77, 1);			/* unknown event */
	drv_ctrl_send(v, 9, EV_PORT_OPEN, 1);		/* bad port id */
	drv_ctrl_send(v, 0xfffffffeU, EV_PORT_READY, 1);
	drv_ctrl_send(v, 1, EV_PORT_ADD, 1);		/* device's event */
	drv_ctrl_send_len(v, 1, EV_PORT_OPEN, 1, 3);	/* short */
	drv_expect_none(v, 200);
	ck_assert_int_eq(fe_daemon_wait_log(v->d, "unknown control event 77",
	    1, TMO), 0);
	ck_assert(fe_daemon_alive(v->d));
	/* Port 1 was not opened by the short message; it still works. */
	fd = attach(v, dirs, 1);
	drv_ctrl_send(v, 1, EV_PORT_OPEN, 1);
	ck_assert_int_eq(write(fd, "fine", 4), 4);
	guest_read(v, 4, buf, 4);
	ck_assert(memcmp(buf, "fine", 4) == 0);
	close(fd);
	drv_free(v);
	fe_daemon_free(dirs);
}
END_TEST

/* Both directions of one pause/resume test. */
struct pause_io {
	uint8_t		*g2h, *g2h_got;	/* guest output, as the host saw it */
	size_t		 g2h_len, g2h_sent, g2h_recv, g2h_limit;
	uint8_t		*h2g, *h2g_got;	/* host input, as the guest saw it */
	size_t		 h2g_len, h2g_sent, h2g_recv, h2g_limit;
};

/*
 * One step of traffic on port 2 (rx 6, tx 7) with client fd: the guest
 * posts output up to g2h_limit (as far as tx slots allow), the host writes
 * input up to h2g_limit, the guest takes its input (reposting the rx
 * buffers), the host reads output when host_reads.  No control message
 * may arrive.
 */
static void
pause_pump(struct drv *v, int fd, struct pause_io *io, int host_reads)
{
	struct fe_queue	*fq = fe_queue(v->fe, 6);
	struct cmsg	 m;
	size_t		 n;
	uint32_t	 id, len;
	ssize_t		 w;
	int		 r, pushed = 0;

	while (io->g2h_sent < io->g2h_limit) {
		n = io->g2h_limit - io->g2h_sent;
		if (n > 1000)
			n = 1000;
		if (drv_try_send(v, 7, io->g2h + io->g2h_sent, n) != 0)
			break;
		io->g2h_sent += n;
	}
	if (io->h2g_sent < io->h2g_limit) {
		w = write(fd, io->h2g + io->h2g_sent, io->h2g_limit -
		    io->h2g_sent);
		ck_assert_msg(w > 0 || errno == EAGAIN, "host write: %s",
		    strerror(errno));
		if (w > 0)
			io->h2g_sent += (size_t)w;
	}
	while ((r = fe_get_used(v->fe, 6, &id, &len)) == 1) {
		ck_assert_uint_le(io->h2g_recv + len, io->h2g_len);
		ck_assert_int_eq(fe_read(v->fe, fq->req_gpa[id],
		    io->h2g_got + io->h2g_recv, len), 0);
		io->h2g_recv += len;
		drv_repost(v, 6, id, 0);
		pushed = 1;
	}
	ck_assert_int_eq(r, 0);
	if (pushed)
		ck_assert_int_eq(fe_kick(v->fe, 6), 0);
	while (host_reads && io->g2h_recv < io->g2h_len &&
	    (w = read(fd, io->g2h_got + io->g2h_recv, io->g2h_len -
	    io->g2h_recv)) > 0)
		io->g2h_recv += (size_t)w;
	ck_assert_msg(drv_ctrl_recv(v, &m, 0) == 0, "unexpected control "
	    "message (%u, %u, %u)", m.id, m.event, m.value);
}

/*
 * Issue 8: HMP stop/cont (every queue paused and resumed as QEMU 7.2 does)
 * 20 times while a unix client and the guest talk both ways, with a small
 * backlog and a client that reads nothing in the first rounds so that
 * guest output waits on backpressure at the pauses: every byte arrives in
 * order both ways, the client stays attached, no control message is sent,
 * and nothing touches a paused queue.
 */
START_TEST(test_fe_pause_resume)
{
	struct fe_daemon *dirs;
	struct drv	*v = drv_three("console-pause", "backlog=4096", &dirs);
	struct pause_io	 io;
	uint32_t	 id, len;
	int64_t		 end;
	size_t		 i;
	ssize_t		 w;
	unsigned	 q, round;
	int		 fd;

	memset(&io, 0, sizeof(io));
	io.g2h_len = 20 * 32768;
	io.h2g_len = 20 * 8192;
	io.g2h = malloc(io.g2h_len);
	io.g2h_got = malloc(io.g2h_len);
	io.h2g = malloc(io.h2g_len);
	io.h2g_got = malloc(io.h2g_len);
	ck_assert(io.g2h != NULL && io.g2h_got != NULL && io.h2g != NULL &&
	    io.h2g_got != NULL);
	for (i = 0; i < io.g2h_len; i++)
		io.g2h[i] = (uint8_t)(i * 7 + (i >> 10));
	for (i = 0; i < io.h2g_len; i++)
		io.h2g[i] = (uint8_t)(i * 13 + (i >> 9));

	drv_handshake(v, 3, three_names, NULL);
	fd = attach(v, dirs, 2);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	drv_ctrl_send(v, 2, EV_PORT_OPEN, 1);
	drv_post_rx(v, 6, 24, 64);

	for (round = 0; round < 20; round++) {
		io.g2h_limit = (round + 1) * 32768;
		io.h2g_limit = round * 8192 + 4096;
		end = fe_now_ms() + 200;
		while (fe_now_ms() < end && (io.g2h_sent < io.g2h_limit ||
		    io.h2g_recv < io.h2g_sent)) {
			pause_pump(v, fd, &io, round >= 12);
			(void)poll(NULL, 0, 1);
		}
		for (q = 0; q < 8; q++)
			ck_assert_msg(fe_queue_pause(v->fe, q, NULL) == 0,
			    "round %u: pause queue %u: %s", round, q,
			    fe_error());
		/* Take what was used before the pause; then nothing may
		 * touch the rings while the host keeps writing. */
		pause_pump(v, fd, &io, 0);
		for (q = 1; q < 8; q += 2)
			drv_reap_tx(v, q);
		io.h2g_limit = (round + 1) * 8192;
		for (i = 0; i < 5; i++) {
			if (io.h2g_sent < io.h2g_limit && (w = write(fd,
			    io.h2g + io.h2g_sent, io.h2g_limit -
			    io.h2g_sent)) > 0)
				io.h2g_sent += (size_t)w;
			(void)poll(NULL, 0, 4);
		}
		for (q = 0; q < 8; q++)
			ck_assert_msg(fe_get_used(v->fe, q, &id, &len) == 0,
			    "round %u: queue %u used while paused", round, q);
		for (q = 0; q < 8; q++)
			ck_assert_msg(fe_queue_resume(v->fe, q) == 0,
			    "round %u: resume queue %u: %s", round, q,
			    fe_error());
	}
	end = fe_now_ms() + 60000;
	while (io.g2h_recv < io.g2h_len || io.h2g_recv < io.h2g_len) {
		ck_assert_msg(fe_now_ms() < end, "after 20 pauses: host got "
		    "%zu of %zu bytes, guest got %zu of %zu", io.g2h_recv,
		    io.g2h_len, io.h2g_recv, io.h2g_len);
		io.g2h_limit = io.g2h_len;
		io.h2g_limit = io.h2g_len;
		pause_pump(v, fd, &io, 1);
		(void)poll(NULL, 0, 1);
	}
	ck_assert_msg(memcmp(io.g2h, io.g2h_got, io.g2h_len) == 0,
	    "guest output reordered or corrupted");
	ck_assert_msg(memcmp(io.h2g, io.h2g_got, io.h2g_len) == 0,
	    "host input reordered or corrupted");
	ck_assert_int_eq(fe_daemon_log_count(v->d, "client detached"), 0);
	ck_assert_int_eq(fe_daemon_log_count(v->d, "dropping"), 0);
	drv_expect_none(v, 100);
	close(fd);
	free(io.g2h);
	free(io.g2h_got);
	free(io.h2g);
	free(io.h2g_got);
	drv_free(v);
	fe_daemon_free(dirs);
}
END_TEST

/* The console end-to-end suite. */
static Suite *
console_fe_suite(void)
{
	Suite	*s = suite_create("console_fe");
	TCase	*tc = tcase_create("frontend");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fe_handshake);
	tcase_add_test(tc, test_fe_data_several_ports);
	tcase_add_test(tc, test_fe_paste_1mib);
	tcase_add_test(tc, test_fe_disconnect_reconnect);
	tcase_add_test(tc, test_fe_backlog_replay);
	tcase_add_test(tc, test_fe_pty_resize);
	tcase_add_test(tc, test_fe_config_and_emergency);
	tcase_add_test(tc, test_fe_malformed_control);
	tcase_add_test(tc, test_fe_pause_resume);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() != 0) {
		fprintf(stderr, "fe_tmp_init: %s\n", fe_error());
		return (EXIT_FAILURE);
	}
	sr = srunner_create(console_fe_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	(void)fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}

