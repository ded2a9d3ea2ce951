/*
 * Unit tests of the console module on the fake daemon (tests/fake_api.c):
 * keys, config space, the control protocol as the Linux driver runs it,
 * data both ways through real unix sockets, ptys and files, backlog,
 * backpressure, malformed control messages.
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

#include "fake_api.h"
#include "console.h"

extern const struct vhd_module vhd_module;

#define ALL_FEATURES	((1ULL << CONSOLE_F_SIZE) | \
	(1ULL << CONSOLE_F_MULTIPORT) | (1ULL << CONSOLE_F_EMERG_WRITE) | \
	(1ULL << VHD_F_VERSION_1))

/* One control message seen by the "driver". */
struct msg {
	uint32_t	id;
	uint16_t	event;
	uint16_t	value;
	uint8_t		extra[CONSOLE_NAME_MAX + 4];
	size_t		extra_len;
};

static char	 tdir[64];
static unsigned	 ctrl_seen;	/* c_ivq chains already looked at */
static char	 tpath[256];

/* A path in the test's temp dir. */
static const char *
tp(const char *name)
{
	snprintf(tpath, sizeof(tpath), "%s/%s", tdir, name);
	return (tpath);
}

/* Make the temp dir. */
static void
setup(void)
{
	strcpy(tdir, "/tmp/check_console.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
}

/* Remove the temp dir and what is in it. */
static void
teardown(void)
{
	char	 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	(void)system(cmd);
}

/* Create a console with these keys; the test fails if create does. */
static struct vhd_dev *
con_dev(const struct vhd_kv *kv, size_t nkv)
{
	struct vhd_dev	*dev;
	char		*cause = NULL;

	dev = fake_dev_new(vhd_module.ops, "console0");
	if (fake_dev_create(dev, kv, nkv, &cause) != 0)
		ck_abort_msg("create failed: %s", cause ? cause : "(null)");
	ctrl_seen = 0;
	return (dev);
}

/* Create with these keys, expect failure, return the cause. */
static char *
con_fail(const struct vhd_kv *kv, size_t nkv)
{
	struct vhd_dev	*dev;
	char		*cause = NULL;

	dev = fake_dev_new(vhd_module.ops, "console0");
	ck_assert_int_eq(fake_dev_create(dev, kv, nkv, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	fake_dev_free(dev);
	return (cause);
}

/* The module's state. */
static struct console *
con_of(struct vhd_dev *dev)
{
	return (fake_dev_priv(dev));
}

/* Ack features and start every queue. */
static void
con_start(struct vhd_dev *dev, uint64_t features)
{
	unsigned	 i, n = fake_dev_info(dev)->num_queues;

	fake_dev_ack_features(dev, features);
	for (i = 0; i < n; i++)
		fake_queue_start(fake_queue(dev, i));
}

/* Stop every queue, free the device, check no misuse. */
static void
con_free(struct vhd_dev *dev)
{
	unsigned	 i, n = fake_dev_info(dev)->num_queues;

	for (i = 0; i < n; i++)
		fake_queue_stop(fake_queue(dev, i));
	ck_assert_str_eq(fake_dev_errors(dev), "");
	ck_assert_uint_eq(fake_dev_watches(dev), 0);
	fake_dev_free(dev);
}

/* Post n control rx buffers of len bytes (no kick). */
static void
ctrl_post(struct vhd_dev *dev, unsigned n, size_t len)
{
	struct vhd_chain	*c;
	unsigned		 i;

	for (i = 0; i < n; i++) {
		c = fake_chain_new(fake_queue(dev, CONSOLE_Q_CTRL_RX));
		fake_chain_add_writable(c, len, 0xee);
	}
	fake_queue_kick(fake_queue(dev, CONSOLE_Q_CTRL_RX));
}

/* Send a driver -> device control message of len bytes (8 normally). */
static void
ctrl_send_len(struct vhd_dev *dev, uint32_t id, uint16_t event,
    uint16_t value, size_t len)
{
	struct vhd_chain	*c;
	uint8_t			 m[8];

	m[0] = (uint8_t)id;
	m[1] = (uint8_t)(id >> 8);
	m[2] = (uint8_t)(id >> 16);
	m[3] = (uint8_t)(id >> 24);
	m[4] = (uint8_t)event;
	m[5] = (uint8_t)(event >> 8);
	m[6] = (uint8_t)value;
	m[7] = (uint8_t)(value >> 8);
	c = fake_chain_new(fake_queue(dev, CONSOLE_Q_CTRL_TX));
	fake_chain_add_readable(c, m, len);
	fake_queue_kick(fake_queue(dev, CONSOLE_Q_CTRL_TX));
}

/* Send a well-formed driver -> device control message. */
static void
ctrl_send(struct vhd_dev *dev, uint32_t id, uint16_t event, uint16_t value)
{
	ctrl_send_len(dev, id, event, value, 8);
}


/* Collect the control messages pushed since the last call. */
static unsigned
ctrl_collect(struct vhd_dev *dev, struct msg *out, unsigned max)
{
	struct vhd_queue	*q = fake_queue(dev, CONSOLE_Q_CTRL_RX);
	struct vhd_chain	*c;
	uint8_t			 b[256];
	size_t			 len;
	unsigned		 n = 0;

	while (n < max && (c = fake_queue_pushed(q, ctrl_seen)) != NULL) {
		ctrl_seen++;
		len = fake_chain_used(c);
		if (len < 8)
			continue;
		ck_assert_uint_le(len, sizeof(b));
		fake_chain_written(c, b, len);
		out[n].id = (uint32_t)b[0] | (uint32_t)b[1] << 8 |
		    (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
		out[n].event = (uint16_t)(b[4] | b[5] << 8);
		out[n].value = (uint16_t)(b[6] | b[7] << 8);
		out[n].extra_len = len - 8;
		memcpy(out[n].extra, b + 8, len - 8);
		n++;
	}
	return (n);
}

/* Expect exactly this message next. */
static void
expect_msg(struct vhd_dev *dev, uint32_t id, uint16_t event, uint16_t value)
{
	struct msg	 m;

	ck_assert_msg(ctrl_collect(dev, &m, 1) == 1, "no message, expected "
	    "event %u for port %u", event, id);
	ck_assert_msg(m.id == id && m.event == event && m.value == value,
	    "got (%u, %u, %u), expected (%u, %u, %u)", m.id, m.event, m.value,
	    id, event, value);
}

/* Expect no further message. */
static void
expect_none(struct vhd_dev *dev)
{
	struct msg	 m;

	ck_assert_msg(ctrl_collect(dev, &m, 1) == 0, "unexpected message "
	    "(%u, %u, %u)", m.id, m.event, m.value);
}

/*
 * Run the Linux driver's handshake for ports [0, nports): DEVICE_READY,
 * PORT_ADD each, PORT_READY each; collect and check the device's side.
 * Console port 0 gets CONSOLE_PORT, then the driver's PORT_OPEN(1).
 */
static void
handshake(struct vhd_dev *dev, unsigned nports)
{
	struct msg	 m[64];
	unsigned	 i, n, k;

	ctrl_post(dev, 32, 256);
	ctrl_send(dev, CONSOLE_BAD_ID, CONSOLE_DEVICE_READY, 1);
	n = ctrl_collect(dev, m, 64);
	ck_assert_uint_eq(n, nports);
	for (i = 0; i < nports; i++) {
		ck_assert_uint_eq(m[i].id, i);
		ck_assert_uint_eq(m[i].event, CONSOLE_PORT_ADD);
	}
	for (i = 0; i < nports; i++) {
		ctrl_send(dev, i, CONSOLE_PORT_READY, 1);
		n = ctrl_collect(dev, m, 64);
		for (k = 0; k < n; k++) {
			ck_assert_uint_eq(m[k].id, i);
			if (m[k].event == CONSOLE_CONSOLE_PORT)
				ck_assert_uint_eq(i, 0);
		}
		if (i == 0) {
			ck_assert_uint_ge(n, 1);
			ck_assert_uint_eq(m[0].event, CONSOLE_CONSOLE_PORT);
			ctrl_send(dev, 0, CONSOLE_PORT_OPEN, 1);
		}
	}
}

/* Post an rx buffer of len bytes on a port (no kick). */
static struct vhd_chain *
rx_post(struct vhd_dev *dev, unsigned port, size_t len)
{
	struct vhd_chain	*c;
	unsigned		 q = port == 0 ? 0 : 4 + 2 * (port - 1);

	c = fake_chain_new(fake_queue(dev, q));
	fake_chain_add_writable(c, len, 0);
	return (c);
}

/* Kick a port's rx or tx queue. */
static void
kick(struct vhd_dev *dev, unsigned port, int tx)
{
	unsigned	 q = port == 0 ? 0 : 4 + 2 * (port - 1);

	fake_queue_kick(fake_queue(dev, q + (tx ? 1 : 0)));
}

/* Send guest output on a port: one tx chain, kicked. */
static struct vhd_chain *
tx_send(struct vhd_dev *dev, unsigned port, const void *data, size_t len)
{
	struct vhd_chain	*c;
	unsigned		 q = port == 0 ? 1 : 5 + 2 * (port - 1);

	c = fake_chain_new(fake_queue(dev, q));
	fake_chain_add_readable(c, data, len);
	fake_queue_kick(fake_queue(dev, q));
	return (c);
}

/* Connect to a unix socket, non-blocking. */
static int
unix_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return (fd);
}

/* Fire the port's listen watch (a client is waiting). */
static void
fire_listen(struct vhd_dev *dev, unsigned port)
{
	struct vhd_watch	*w;

	w = fake_dev_watch(dev, con_of(dev)->ports[port].listen_fd);
	ck_assert_ptr_nonnull(w);
	fake_watch_fire(w, VHD_EV_READ);
}

/* Fire the port's client read watch if armed; 1 when fired. */
static int
fire_read(struct vhd_dev *dev, unsigned port)
{
	struct console_port	*p = &con_of(dev)->ports[port];

	if (p->rd_w == NULL || !fake_watch_armed(p->rd_w))
		return (0);
	fake_watch_fire(p->rd_w, VHD_EV_READ);
	return (1);
}

/* Fire the port's write watch if armed; 1 when fired. */
static int
fire_write(struct vhd_dev *dev, unsigned port)
{
	struct console_port	*p = &con_of(dev)->ports[port];

	if (p->wr_w == NULL || !fake_watch_armed(p->wr_w))
		return (0);
	fake_watch_fire(p->wr_w, VHD_EV_WRITE);
	return (1);
}

/* Fire the port's poll timer. */
static void
fire_poll(struct vhd_dev *dev, unsigned port)
{
	struct console_port	*p = &con_of(dev)->ports[port];

	ck_assert_ptr_nonnull(p->poll_w);
	ck_assert(fake_watch_armed(p->poll_w));
	fake_watch_fire(p->poll_w, VHD_EV_TIMEOUT);
}

/* Read everything available from a non-blocking fd (up to max). */
static size_t
drain(int fd, void *buf, size_t max)
{
	size_t	 got = 0;
	ssize_t	 n;

	while (got < max && (n = read(fd, (char *)buf + got, max - got)) > 0)
		got += (size_t)n;
	return (got);
}

/* Wait up to 5 s for fd to be readable; the test fails otherwise. */
static void
wait_readable(int fd)
{
	struct pollfd	 pfd;

	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
}

/* Read exactly len bytes from a non-blocking fd within 5 s. */
static void
read_exact(int fd, void *buf, size_t len)
{
	size_t	 got = 0;

	while (got < len) {
		wait_readable(fd);
		got += drain(fd, (char *)buf + got, len - got);
	}
}

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

/* A unix port device: port 0 pty, port 1 unix socket "p1.sock". */
static struct vhd_dev *
unix_dev(const char *extra)
{
	struct vhd_kv	 kv[] = { FAKE_KV("port1", NULL) };
	static char	 spec[512];

	snprintf(spec, sizeof(spec), "name=org.test.unix,unix=%s%s%s",
	    tp("p1.sock"), extra != NULL ? "," : "",
	    extra != NULL ? extra : "");
	kv[0].value = spec;
	return (con_dev(kv, 1));
}

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
