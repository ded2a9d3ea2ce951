/*
 * Unit tests of the console module on the fake daemon (tests/fake_api.c):
 * keys, config space, the control protocol as the Linux driver runs it,
 * malformed control messages.  The data paths (unix sockets, ptys, files,
 * backlog, backpressure, queue stop, reset) are in check_console_data.c;
 * both files make the one check_console program.
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

START_TEST(test_descriptor)
{
	ck_assert_str_eq(vhd_module.name, "console");
	ck_assert_uint_eq(vhd_module.abi_major, VHD_ABI_MAJOR);
	ck_assert_ptr_nonnull(vhd_module.ops->create);
	ck_assert_ptr_nonnull(vhd_module.ops->get_config);
	ck_assert_ptr_nonnull(vhd_module.ops->set_config);
}
END_TEST

START_TEST(test_info)
{
	struct vhd_kv	 kv[] = {
		FAKE_KV("port2", "file=/dev/null"),
	};
	const struct vhd_dev_info *info;
	struct vhd_dev	*dev = con_dev(kv, 1);

	info = fake_dev_info(dev);
	ck_assert_uint_eq(info->device_id, 3);
	/* Ports 0..2: rx0 tx0 c_ivq c_ovq rx1 tx1 rx2 tx2. */
	ck_assert_uint_eq(info->num_queues, 8);
	ck_assert_uint_eq(info->config_size, 12);
	ck_assert_uint_eq(info->features, (1ULL << CONSOLE_F_SIZE) |
	    (1ULL << CONSOLE_F_MULTIPORT) | (1ULL << CONSOLE_F_EMERG_WRITE));
	ck_assert(fake_dev_log_contains(dev, "port 0: pty /dev/pts/"));
	con_free(dev);
}
END_TEST

START_TEST(test_bad_keys)
{
	static const struct {
		const char	*key, *value, *want;
	} cases[] = {
		{ "foo", "1", "console: unknown key 'foo'" },
		{ "port31", "pty", "console: unknown key 'port31'" },
		{ "port01", "pty", "console: unknown key 'port01'" },
		{ "port1", "bogus", "port1: unknown option 'bogus'" },
		{ "port1", "unix", "backend 'unix' needs a value" },
		{ "port1", "pty=x", "backend 'pty' takes no value" },
		{ "port1", "pty,stdio", "more than one backend" },
		{ "port1", "file=/x,link=/y", "link= is only for pty" },
		{ "port1", "tcp=host:99999", "bad tcp address" },
		{ "port1", "name=a/b", "bad name" },
		{ "port1", "name=", "bad name" },
		{ "port1", "pty,,name=x", "empty item" },
		{ "port1", "client=maybe", "bad client" },
		{ "port1", "backlog=10", "bad backlog" },
		{ "cols", "0", "bad cols" },
		{ "rows", "70000", "bad rows" },
		{ "backlog", "1g", "bad backlog" },
		{ "resize-order", "up", "bad resize-order" },
		{ "port1", "unix=/nonexistent/dir/x.sock", "cannot bind" },
	};
	struct vhd_kv	 kv[1];
	char		*cause;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kv[0].key = cases[i].key;
		kv[0].value = cases[i].value;
		kv[0].where = "test";
		cause = con_fail(kv, 1);
		ck_assert_msg(strstr(cause, cases[i].want) != NULL &&
		    strncmp(cause, "console: ", 9) == 0, "%s=%s: got '%s'",
		    cases[i].key, cases[i].value, cause);
		free(cause);
	}
}
END_TEST

START_TEST(test_bad_combinations)
{
	struct vhd_kv	 dup[] = {
		FAKE_KV("port1", "pty"), FAKE_KV("port1", "pty"),
	};
	struct vhd_kv	 names[] = {
		FAKE_KV("port1", "name=a"), FAKE_KV("port2", "name=a"),
	};
	struct vhd_kv	 stdio2[] = {
		FAKE_KV("port0", "stdio"), FAKE_KV("port1", "stdio"),
	};
	char		*cause;

	cause = con_fail(dup, 2);
	ck_assert_msg(strstr(cause, "port1 given twice") != NULL, "%s", cause);
	free(cause);
	cause = con_fail(names, 2);
	ck_assert_msg(strstr(cause, "already used by port1") != NULL, "%s",
	    cause);
	free(cause);
	cause = con_fail(stdio2, 2);
	ck_assert_msg(strstr(cause, "only one stdio port") != NULL, "%s",
	    cause);
	free(cause);
}
END_TEST

START_TEST(test_config_space)
{
	struct vhd_kv	 kv[] = {
		FAKE_KV("cols", "132"), FAKE_KV("rows", "43"),
		FAKE_KV("port3", "file=/dev/null"),
	};
	struct vhd_dev	*dev = con_dev(kv, 3);
	uint8_t		 cfg[16], b = 'x';

	memset(cfg, 0xaa, sizeof(cfg));
	ck_assert_int_eq(fake_dev_get_config(dev, 0, cfg, 12), 0);
	ck_assert_uint_eq(cfg[0] | cfg[1] << 8, 132);
	ck_assert_uint_eq(cfg[2] | cfg[3] << 8, 43);
	ck_assert_uint_eq(cfg[4], 4);
	ck_assert_uint_eq(cfg[5] | cfg[6] | cfg[7], 0);
	ck_assert_uint_eq(cfg[8] | cfg[9] | cfg[10] | cfg[11], 0);
	ck_assert_int_eq(fake_dev_get_config(dev, 4, cfg, 4), 0);
	ck_assert_uint_eq(cfg[0], 4);
	/* Out of range: the module checks again. */
	ck_assert_int_eq(vhd_module.ops->get_config(dev, 12, cfg, 1), -1);
	ck_assert_int_eq(vhd_module.ops->get_config(dev, 8, cfg, 8), -1);
	ck_assert_int_eq(vhd_module.ops->get_config(dev, 0xfffffff0U, cfg,
	    0x20), -1);
	ck_assert_int_eq(vhd_module.ops->set_config(dev, 10, cfg, 4), -1);
	ck_assert_int_eq(vhd_module.ops->set_config(dev, 0xffffffffU, cfg,
	    2), -1);
	/* Read-only fields. */
	ck_assert_int_eq(fake_dev_set_config(dev, 0, cfg, 2), -1);
	ck_assert_int_eq(fake_dev_set_config(dev, 4, cfg, 4), -1);
	/* emerg_wr is writable (even unconfigured). */
	ck_assert_int_eq(fake_dev_set_config(dev, 8, &b, 1), 0);
	ck_assert_int_eq(fake_dev_get_config(dev, 0, cfg, 12), 0);
	ck_assert_uint_eq(cfg[0] | cfg[1] << 8, 132);
	con_free(dev);
}
END_TEST

START_TEST(test_emergency_write)
{
	struct vhd_kv	 kv[] = { FAKE_KV("port0", "") };
	struct vhd_dev	*dev;
	char		 path[256], spec[300], buf[16];
	uint8_t		 b[4] = { 'H', 0, 0, 0 };
	int		 fd;

	snprintf(path, sizeof(path), "%s", tp("emerg.log"));
	snprintf(spec, sizeof(spec), "file=%s", path);
	kv[0].value = spec;
	dev = con_dev(kv, 1);
	/* Before any queue runs. */
	ck_assert_int_eq(fake_dev_set_config(dev, 8, b, 4), 0);
	b[0] = 'i';
	ck_assert_int_eq(fake_dev_set_config(dev, 8, b, 1), 0);
	con_start(dev, ALL_FEATURES);
	b[0] = '!';
	ck_assert_int_eq(fake_dev_set_config(dev, 8, b, 4), 0);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 3);
	ck_assert_str_eq(buf, "Hi!");
	close(fd);
	con_free(dev);
}
END_TEST

START_TEST(test_handshake)
{
	struct vhd_kv	 kv[] = {
		FAKE_KV("port1", "name=org.test.one,file=/dev/null"),
		FAKE_KV("port2", "pty"),
		FAKE_KV("cols", "100"), FAKE_KV("rows", "30"),
	};
	struct vhd_dev	*dev = con_dev(kv, 4);
	struct msg	 m[16];
	unsigned	 n;

	con_start(dev, ALL_FEATURES);
	ctrl_seen = 0;
	ctrl_post(dev, 16, 4096);
	expect_none(dev);
	ctrl_send(dev, CONSOLE_BAD_ID, CONSOLE_DEVICE_READY, 1);
	expect_msg(dev, 0, CONSOLE_PORT_ADD, 1);
	expect_msg(dev, 1, CONSOLE_PORT_ADD, 1);
	expect_msg(dev, 2, CONSOLE_PORT_ADD, 1);
	expect_none(dev);

	/* Port 0: CONSOLE_PORT, then RESIZE; no reader on the pty yet. */
	ctrl_send(dev, 0, CONSOLE_PORT_READY, 1);
	expect_msg(dev, 0, CONSOLE_CONSOLE_PORT, 1);
	n = ctrl_collect(dev, m, 16);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(m[0].event, CONSOLE_RESIZE);
	ck_assert_uint_eq(m[0].extra_len, 4);
	ck_assert_uint_eq(m[0].extra[0] | m[0].extra[1] << 8, 100);
	ck_assert_uint_eq(m[0].extra[2] | m[0].extra[3] << 8, 30);
	ctrl_send(dev, 0, CONSOLE_PORT_OPEN, 1);
	expect_none(dev);

	/* Port 1: its name, then PORT_OPEN(1) (a file is always there). */
	ctrl_send(dev, 1, CONSOLE_PORT_READY, 1);
	n = ctrl_collect(dev, m, 16);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(m[0].event, CONSOLE_PORT_NAME);
	ck_assert_uint_eq(m[0].extra_len, strlen("org.test.one"));
	ck_assert(memcmp(m[0].extra, "org.test.one", 12) == 0);
	ck_assert_uint_eq(m[1].event, CONSOLE_PORT_OPEN);
	ck_assert_uint_eq(m[1].value, 1);

	/* Port 2: nothing to say; a repeated PORT_READY changes nothing. */
	ctrl_send(dev, 2, CONSOLE_PORT_READY, 1);
	ctrl_send(dev, 2, CONSOLE_PORT_READY, 1);
	expect_none(dev);
	/* A second DEVICE_READY adds nothing twice. */
	ctrl_send(dev, CONSOLE_BAD_ID, CONSOLE_DEVICE_READY, 1);
	expect_none(dev);
	ck_assert(!fake_dev_failed(dev));
	con_free(dev);
}
END_TEST

START_TEST(test_rows_first)
{
	struct vhd_kv	 kv[] = {
		FAKE_KV("cols", "100"), FAKE_KV("rows", "30"),
		FAKE_KV("resize-order", "rows-cols"),
	};
	struct vhd_dev	*dev = con_dev(kv, 3);
	struct msg	 m[4];

	con_start(dev, ALL_FEATURES);
	ctrl_seen = 0;
	ctrl_post(dev, 8, 64);
	ctrl_send(dev, CONSOLE_BAD_ID, CONSOLE_DEVICE_READY, 1);
	expect_msg(dev, 0, CONSOLE_PORT_ADD, 1);
	ctrl_send(dev, 0, CONSOLE_PORT_READY, 1);
	expect_msg(dev, 0, CONSOLE_CONSOLE_PORT, 1);
	ck_assert_uint_eq(ctrl_collect(dev, m, 4), 1);
	ck_assert_uint_eq(m[0].event, CONSOLE_RESIZE);
	ck_assert_uint_eq(m[0].extra[0] | m[0].extra[1] << 8, 30);
	ck_assert_uint_eq(m[0].extra[2] | m[0].extra[3] << 8, 100);
	con_free(dev);
}
END_TEST

START_TEST(test_ctrl_waits_for_buffers)
{
	struct vhd_kv	 kv[] = { FAKE_KV("port1", "file=/dev/null") };
	struct vhd_dev	*dev = con_dev(kv, 1);
	struct vhd_chain *c;

	con_start(dev, ALL_FEATURES);
	ctrl_seen = 0;
	ctrl_send(dev, CONSOLE_BAD_ID, CONSOLE_DEVICE_READY, 1);
	expect_none(dev);
	/* A buffer too small for a header is returned unused. */
	c = fake_chain_new(fake_queue(dev, CONSOLE_Q_CTRL_RX));
	fake_chain_add_writable(c, 4, 0);
	fake_queue_kick(fake_queue(dev, CONSOLE_Q_CTRL_RX));
	ck_assert(fake_chain_pushed(c));
	ck_assert_uint_eq(fake_chain_used(c), 0);
	ctrl_seen = 1;
	ctrl_post(dev, 1, 8);
	expect_msg(dev, 0, CONSOLE_PORT_ADD, 1);
	expect_none(dev);
	ctrl_post(dev, 1, 8);
	expect_msg(dev, 1, CONSOLE_PORT_ADD, 1);
	ck_assert(fake_dev_log_contains(dev, "too small"));
	con_free(dev);
}
END_TEST

/* A RESIZE is never cut to fit a small control buffer (the driver would
 * read the size from stale bytes): the buffer is returned unused and the
 * message waits for one of 12 bytes.  Found by fuzz_console
 * (fuzz/crashes/console/resize-cut-to-small-buffer). */
START_TEST(test_ctrl_resize_not_cut)
{
	struct vhd_kv	 kv[] = { FAKE_KV("port1", "file=/dev/null") };
	struct vhd_dev	*dev = con_dev(kv, 1);
	struct vhd_queue *q;
	struct vhd_chain *c;
	struct msg	 m;

	con_start(dev, ALL_FEATURES);
	q = fake_queue(dev, CONSOLE_Q_CTRL_RX);
	ctrl_seen = 0;
	ctrl_post(dev, 2, 8);
	ctrl_send(dev, CONSOLE_BAD_ID, CONSOLE_DEVICE_READY, 1);
	expect_msg(dev, 0, CONSOLE_PORT_ADD, 1);
	expect_msg(dev, 1, CONSOLE_PORT_ADD, 1);
	ctrl_send(dev, 0, CONSOLE_PORT_READY, 1);
	ctrl_post(dev, 1, 8);
	expect_msg(dev, 0, CONSOLE_CONSOLE_PORT, 1);
	fake_dev_ratelimit_clear(dev);
	ctrl_post(dev, 1, 8);
	c = fake_queue_pushed(q, fake_queue_pushes(q) - 1);
	ck_assert_uint_eq(fake_chain_used(c), 0);
	ck_assert(fake_dev_log_contains(dev, "too small for a 12-byte "
	    "message"));
	ctrl_seen = fake_queue_pushes(q);
	expect_none(dev);
	ctrl_post(dev, 1, 12);
	ck_assert_uint_eq(ctrl_collect(dev, &m, 1), 1);
	ck_assert_uint_eq(m.id, 0);
	ck_assert_uint_eq(m.event, CONSOLE_RESIZE);
	ck_assert_uint_eq(m.extra_len, 4);
	ck_assert_uint_eq(m.extra[0] | m.extra[1] << 8, 80);
	ck_assert_uint_eq(m.extra[2] | m.extra[3] << 8, 24);
	expect_none(dev);
	con_free(dev);
}
END_TEST

START_TEST(test_malformed_ctrl)
{
	struct vhd_kv	 kv[] = { FAKE_KV("port1", "file=/dev/null") };
	struct vhd_dev	*dev = con_dev(kv, 1);
	struct console	*con;
	struct vhd_queue *cq;

	con_start(dev, ALL_FEATURES);
	con = con_of(dev);
	cq = fake_queue(dev, CONSOLE_Q_CTRL_TX);
	ctrl_seen = 0;
	ctrl_post(dev, 16, 64);
	/* Before DEVICE_READY nothing is added: port messages are bad. */
	ctrl_send(dev, 0, CONSOLE_PORT_READY, 1);
	ck_assert(fake_dev_log_contains(dev, "which the driver was not "
	    "given"));
	expect_none(dev);
	handshake(dev, 2);
	fake_dev_log_clear(dev);
	fake_dev_ratelimit_clear(dev);
	ctrl_send_len(dev, 0, CONSOLE_PORT_OPEN, 0, 5);
	ck_assert(fake_dev_log_contains(dev, "short control message"));
	ck_assert(con->ports[0].guest_open);
	fake_dev_ratelimit_clear(dev);
	ctrl_send(dev, 0, 99, 1);
	ck_assert(fake_dev_log_contains(dev, "unknown control event 99"));
	fake_dev_ratelimit_clear(dev);
	ctrl_send(dev, 7, CONSOLE_PORT_OPEN, 1);
	ck_assert(fake_dev_log_contains(dev, "PORT_OPEN for port 7"));
	fake_dev_ratelimit_clear(dev);
	ctrl_send(dev, 0xfffffff0U, CONSOLE_PORT_READY, 1);
	ck_assert(fake_dev_log_contains(dev, "PORT_READY for port "
	    "4294967280"));
	fake_dev_ratelimit_clear(dev);
	ctrl_send(dev, 1, CONSOLE_PORT_ADD, 1);
	ck_assert(fake_dev_log_contains(dev, "sent by the device"));
	fake_dev_ratelimit_clear(dev);
	ctrl_send(dev, 1, CONSOLE_RESIZE, 1);
	/* Unreadable memory. */
	fake_chain_set_bad(fake_chain_new(cq));
	fake_queue_kick(cq);
	/* Every buffer came back; nothing changed; the device lives. */
	ck_assert_uint_eq(fake_queue_avail(cq), 0);
	ck_assert_uint_eq(fake_queue_pushes(cq), fake_queue_pops(cq));
	expect_none(dev);
	ck_assert(!fake_dev_failed(dev));
	ck_assert(con->ports[0].guest_open);
	/* And it still works. */
	ctrl_send(dev, 1, CONSOLE_PORT_OPEN, 1);
	ck_assert(con->ports[1].guest_open);
	con_free(dev);
}
END_TEST

static Suite *
console_suite(void)
{
	Suite	*s = suite_create("console");
	TCase	*tc = tcase_create("module");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_descriptor);
	tcase_add_test(tc, test_info);
	tcase_add_test(tc, test_bad_keys);
	tcase_add_test(tc, test_bad_combinations);
	tcase_add_test(tc, test_config_space);
	tcase_add_test(tc, test_emergency_write);
	tcase_add_test(tc, test_handshake);
	tcase_add_test(tc, test_rows_first);
	tcase_add_test(tc, test_ctrl_waits_for_buffers);
	tcase_add_test(tc, test_ctrl_resize_not_cut);
	tcase_add_test(tc, test_malformed_ctrl);
	console_data_add_tests(tc);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite. */
int
main(void)
{
	SRunner	*sr = srunner_create(console_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
