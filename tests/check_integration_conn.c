/*
 * Integration suite, connections and vrings: reconnects, a refused second
 * frontend, two devices from a config file, --socket-count, the queue
 * mask; memory hot-plug under running requests, a kick before enable,
 * GET_VRING_BASE and resuming on a new frontend.
 * Harness: tests/integration_harness.[ch].
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

/* A frontend can leave cleanly or abruptly and the next one works. */
START_TEST(test_reconnect)
{
	struct it	 it;
	struct fe	*fe;
	struct fe_buf	 b;
	int		 i, round;

	it_start(&it, "reconnect", NULL);
	fe = it_fe(it.sock);
	it_read_some(fe);
	it_close(&it, fe, 1);
	fe = it_fe(it.sock);
	it_read_some(fe);
	it_close(&it, fe, 2);
	ck_assert_int_ge(fe_daemon_log_count(it.d, "frontend connected"), 2);
	/* Abrupt: buffers outstanding when the socket goes away. */
	for (round = 0; round < 3; round++) {
		fe = it_fe(it.sock);
		b.len = 4096;
		b.write = 1;
		for (i = 0; i < 128; i++) {
			b.gpa = fe_alloc(fe, 4096, 64);
			ck_assert(b.gpa != 0);
			ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
		}
		it_close(&it, fe, 3 + round);
	}
	fe = it_fe(it.sock);
	it_read_some(fe);
	it_close(&it, fe, 6);
	it_stop(&it);
}
END_TEST

/* A second frontend is refused while one is connected. */
START_TEST(test_second_connection)
{
	struct it	 it;
	struct fe	*fe;
	int		 fd;

	it_start(&it, "second_connection", NULL);
	fe = it_fe(it.sock);
	it_read_some(fe);
	fd = fe_sock_connect(it.sock, 2000);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fe_sock_send(fd, VHOST_USER_GET_FEATURES,
	    VHOST_USER_VERSION, 0, NULL, 0, NULL, 0) == 0 ||
	    errno == EPIPE || errno == ECONNRESET, 1);
	ck_assert_msg(fe_sock_wait_closed(fd, 3000) == 1,
	    "second connection not closed");
	close(fd);
	ck_assert_int_eq(fe_daemon_wait_log(it.d, "connection refused: a "
	    "frontend is already connected", 1, 2000), 0);
	it_read_some(fe);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* Two devices from a config file serve at once, independently. */
START_TEST(test_two_devices_config)
{
	struct fe_daemon	*d;
	struct fe		*a, *b;
	const char		*sa, *sb, *conf, *args[2], *socks[3];
	char			 text[2048], confarg[700];
	uint8_t			*buf;
	int			 i;
	struct fe_buf		 fb;

	d = fe_daemon_new("two_devices_config");
	sa = fe_daemon_path(d, "a.sock");
	sb = fe_daemon_path(d, "b.sock");
	snprintf(text, sizeof text,
	    "# two rng devices\n"
	    "device \"rngA\" {\n\tmodule rng\n\tsocket \"%s\"\n}\n"
	    "device \"rngB\" {\n\tmodule rng\n\tsocket \"%s\"\n"
	    "\tqueue-mask 0x1\n}\n", sa, sb);
	conf = fe_daemon_write_file(d, "vhostd.conf", text, strlen(text));
	snprintf(confarg, sizeof confarg, "--config=%s", conf);
	args[0] = confarg;
	args[1] = NULL;
	socks[0] = sa;
	socks[1] = sb;
	socks[2] = NULL;
	ck_assert_msg(fe_daemon_start(d, args, socks, IT_START_MS) == 0,
	    "start: %s", fe_error());
	ck_assert_int_eq(fe_daemon_wait_log(d, "listening on", 2, 5000), 0);
	a = it_fe(sa);
	b = it_fe(sb);
	buf = malloc(64u << 10);
	for (i = 0; i < 8; i++) {
		it_read(a, buf, 16u << 10, 256, 1, 0);
		it_read(b, buf, 16u << 10, 256, 1, 0);
	}
	/* Kill A's frontend abruptly mid-traffic; B goes on. */
	fb.len = 1024;
	fb.write = 1;
	for (i = 0; i < 64; i++) {
		fb.gpa = fe_alloc(a, 1024, 64);
		ck_assert_int_ge(fe_post(a, 0, &fb, 1, 0), 0);
	}
	fe_free(a);
	it_read(b, buf, 64u << 10, 64, 1, 0);
	ck_assert_int_eq(fe_daemon_wait_log(d, "rngA: frontend disconnected",
	    1, 5000), 0);
	ck_assert_int_eq(fe_daemon_log_count(d, "rngB: frontend disconnected"),
	    0);
	/* A accepts a new frontend. */
	a = it_fe(sa);
	it_read(a, buf, 16u << 10, 64, 1, 0);
	it_read(b, buf, 16u << 10, 64, 1, 0);
	fe_free(a);
	fe_free(b);
	free(buf);
	ck_assert_int_eq(fe_daemon_wait_log(d, "frontend disconnected", 3,
	    5000), 0);
	ck_assert_int_eq(fe_daemon_stop(d, IT_STOP_MS), 0);
	fe_daemon_free(d);
}
END_TEST

/* --socket-count=2 makes two independent devices rng0 and rng1. */
START_TEST(test_socket_count)
{
	struct fe_daemon	*d;
	struct fe		*a, *b;
	const char		*base, *s0, *s1, *args[5], *socks[3];
	char			 sockarg[700];
	uint8_t			 buf[8192];

	d = fe_daemon_new("socket_count");
	base = fe_daemon_path(d, "dev");
	s0 = fe_daemon_path(d, "dev0");
	s1 = fe_daemon_path(d, "dev1");
	snprintf(sockarg, sizeof sockarg, "--socket=%s", base);
	args[0] = "--module=rng";
	args[1] = sockarg;
	args[2] = "--socket-count=2";
	args[3] = NULL;
	socks[0] = s0;
	socks[1] = s1;
	socks[2] = NULL;
	ck_assert_msg(fe_daemon_start(d, args, socks, IT_START_MS) == 0,
	    "start: %s", fe_error());
	a = it_fe(s0);
	b = it_fe(s1);
	it_read(a, buf, sizeof buf, 64, 1, 0);
	it_read(b, buf, sizeof buf, 64, 1, 0);
	fe_free(a);
	it_read(b, buf, sizeof buf, 64, 1, 0);
	ck_assert_int_eq(fe_daemon_wait_log(d, "rng0: frontend disconnected",
	    1, 5000), 0);
	ck_assert_int_eq(fe_daemon_log_count(d, "rng1: frontend disconnected"),
	    0);
	fe_free(b);
	ck_assert_int_eq(fe_daemon_wait_log(d, "frontend disconnected", 2,
	    5000), 0);
	ck_assert_int_eq(fe_daemon_stop(d, IT_STOP_MS), 0);
	fe_daemon_free(d);
}
END_TEST

/* --queue-mask=0x0,0x1 runs queue 0 on worker 1. */
START_TEST(test_queue_mask)
{
	static const char *const extra[] = { "--queue-mask=0x0,0x1", NULL };
	struct it	 it;
	struct fe	*fe;

	it_start(&it, "queue_mask", extra);
	fe = it_fe(it.sock);
	it_read_some(fe);
	ck_assert_int_eq(fe_daemon_wait_log(it.d,
	    "rng0: queue 0 started on worker 1", 1, 2000), 0);
	it_close(&it, fe, 1);
	ck_assert_int_eq(fe_daemon_wait_log(it.d, "rng0: queue 0 stopped", 1,
	    2000), 0);
	it_stop(&it);
}
END_TEST

/* Memory regions come and go while requests are in flight. */
START_TEST(test_mem_hotplug)
{
	static const unsigned	 first[] = { 0, 1 };
	struct it		 it;
	struct fe		*fe;
	struct fe_queue		*q;
	struct fe_buf		 b;
	uint8_t			 buf[4096], data[4096];
	uint32_t		 id, len;
	uint64_t		 gpa3;
	int			 r3, i, n, h, nz;

	it_start(&it, "mem_hotplug", NULL);
	fe = fe_new(it.sock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	fe->regions[2].no_alloc = 1;
	ck_assert_int_eq(fe_negotiate(fe, FE_WANT_FEATURES, FE_WANT_PROTOCOL),
	    0);
	ck_assert(fe->acked_protocol &
	    FE_BIT(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS));
	ck_assert_int_eq(fe_set_mem_table(fe, first, 2), 0);
	ck_assert_int_eq(fe_queue_setup(fe, 0, IT_QSIZE), 0);
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	q = fe_queue(fe, 0);
	it_read(fe, buf, sizeof buf, 64, 1, 0);

	/* Add region 2 (16 MiB) and a new region 3 (64 MiB, offset 4 KiB)
	 * while 32 requests are in flight. */
	b.len = 64;
	b.write = 1;
	for (i = 0; i < 32; i++) {
		b.gpa = fe_alloc_in(fe, 0, 64, 64);
		ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	}
	ck_assert_int_eq(fe_add_mem_reg(fe, 2), 0);
	r3 = fe_region_add(fe, 64u << 20, 1u << 20, 4096);
	ck_assert_int_eq(r3, 3);
	ck_assert_int_eq(fe_add_mem_reg(fe, 3), 0);
	for (n = 0; n < 32; n++) {
		ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, 5000), 1);
		ck_assert_uint_eq(len, 64);
	}
	/* Buffers in the new regions are filled. */
	gpa3 = fe_alloc_in(fe, 3, 4096, 64);
	ck_assert(gpa3 != 0);
	ck_assert_int_eq(fe_fill(fe, gpa3, 0, 4096), 0);
	b.gpa = gpa3;
	b.len = 4096;
	h = fe_post(fe, 0, &b, 1, 0);
	ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, 5000), 1);
	ck_assert_uint_eq(id, (unsigned)h);
	ck_assert_uint_eq(len, 4096);
	ck_assert_int_eq(fe_read(fe, gpa3, data, 4096), 0);
	for (i = 0, nz = 0; i < 4096; i++)
		nz += data[i] != 0;
	ck_assert_int_gt(nz, 3500);
	b.gpa = fe_alloc_in(fe, 2, 512, 64);
	b.len = 512;
	ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, 5000), 1);
	ck_assert_uint_eq(len, 512);

	/* Remove region 1 (no rings, no buffers) with requests in flight
	 * in region 0, then region 3. */
	b.len = 64;
	for (i = 0; i < 32; i++) {
		b.gpa = fe_alloc_in(fe, 0, 64, 64);
		ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	}
	ck_assert_int_eq(fe_rem_mem_reg(fe, 1), 0);
	for (n = 0; n < 32; n++) {
		ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, 5000), 1);
		ck_assert_uint_eq(len, 64);
	}
	ck_assert_int_eq(fe_rem_mem_reg(fe, 3), 0);
	/* Removing it again is refused. */
	ck_assert_int_eq(fe_rem_mem_reg(fe, 3), 1);
	it_read(fe, buf, sizeof buf, 64, 1, 0);
	ck_assert_int_eq(fe_wait_err(fe, 0, 0), 0);
	ck_assert_uint_eq(q->outstanding, 0);
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* A kick sent before SET_VRING_ENABLE(1) is not lost (rust-vmm/vhost#247). */
START_TEST(test_lost_kick)
{
	struct it	 it;
	struct fe	*fe;
	struct fe_buf	 b;
	uint32_t	 id, len;
	int		 i, n;

	it_start(&it, "lost_kick", NULL);
	fe = fe_new(it.sock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	ck_assert_int_eq(fe_negotiate(fe, FE_WANT_FEATURES, FE_WANT_PROTOCOL),
	    0);
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	ck_assert_int_eq(fe_queue_setup(fe, 0, IT_QSIZE), 0);
	b.len = 128;
	b.write = 1;
	for (i = 0; i < 4; i++) {
		b.gpa = fe_alloc(fe, 128, 64);
		ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	}
	/* A disabled ring is not processed. */
	ck_assert_int_eq(fe_wait_used(fe, 0, &id, &len, 300), 0);
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	for (n = 0; n < 4; n++) {
		ck_assert_msg(fe_wait_used(fe, 0, &id, &len, 3000) == 1,
		    "request %d lost after enable: %s", n, fe_error());
		ck_assert_uint_eq(len, 128);
	}
	it_close(&it, fe, 1);
	it_stop(&it);
}
END_TEST

/* GET_VRING_BASE reports the next avail index; a new frontend resumes. */
START_TEST(test_vring_base_resume)
{
	struct it	 it;
	struct fe	*fe;
	uint8_t		 buf[64 * 1000];
	uint32_t	 base;

	it_start(&it, "vring_base_resume", NULL);
	fe = it_fe(it.sock);
	it_read(fe, buf, 64 * 1000, 64, 1, 0);
	/* Either layout: the pause gives the count of chains before the
	 * base and keeps the base itself in q->base for the restart. */
	ck_assert_int_eq(fe_queue_pause(fe, 0, &base), 0);
	ck_assert_uint_eq(base, 1000);
	ck_assert_int_eq(fe_daemon_wait_log(it.d, "rng0: queue 0 stopped", 1,
	    2000), 0);
	/* A new connection hands over the same rings at that index. */
	ck_assert_int_eq(fe_reconnect(fe, NULL), 0);
	ck_assert_int_eq(fe_daemon_wait_log(it.d, "frontend disconnected", 1,
	    5000), 0);
	ck_assert_int_eq(fe_start(fe, IT_QSIZE), 0);
	it_read(fe, buf, 64 * 100, 64, 1, 0);
	ck_assert_int_eq(fe_queue_pause(fe, 0, &base), 0);
	ck_assert_uint_eq(base, 1100);
	it_close(&it, fe, 2);

	/* Starting near 65535, the 16-bit split index wraps (packed wrap
	 * counters: check_packed). */
	fe = fe_new(it.sock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	fe->packed = 0;
	fe_queue(fe, 0)->base = 65530;
	ck_assert_int_eq(fe_start(fe, IT_QSIZE), 0);
	it_read(fe, buf, 64 * 20, 64, 1, 0);
	ck_assert_int_eq(fe_get_vring_base(fe, 0, &base), 0);
	ck_assert_uint_eq(base, (65530 + 20) & 0xffff);
	it_close(&it, fe, 3);
	it_stop(&it);
}
END_TEST

/* ------------------------------------------------------------------ */

/* Build the suite. */
static Suite *
integration_conn_suite(void)
{
	Suite	*s = suite_create("integration_conn");
	TCase	*tc;

	tc = tcase_create("connections");
	tcase_add_unchecked_fixture(tc, NULL, it_reap);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reconnect);
	tcase_add_test(tc, test_second_connection);
	tcase_add_test(tc, test_two_devices_config);
	tcase_add_test(tc, test_socket_count);
	tcase_add_test(tc, test_queue_mask);
	suite_add_tcase(s, tc);

	tc = tcase_create("vrings");
	tcase_add_unchecked_fixture(tc, NULL, it_reap);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mem_hotplug);
	tcase_add_test(tc, test_lost_kick);
	tcase_add_test(tc, test_vring_base_resume);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (it_main("check_integration_conn", integration_conn_suite()));
}
