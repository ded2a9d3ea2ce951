/*
 * Helpers for the console module's unit tests on the fake daemon: a
 * device with a temp dir, the driver side of the control queues, data
 * chains, real host clients, firing the module's watches.
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

static char	 tdir[64];
unsigned	 ctrl_seen;	/* c_ivq chains already looked at */
static char	 tpath[256];

/* A path in the test's temp dir. */
const char *
tp(const char *name)
{
	snprintf(tpath, sizeof(tpath), "%s/%s", tdir, name);
	return (tpath);
}

/* Make the temp dir. */
void
setup(void)
{
	strcpy(tdir, "/tmp/check_console.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
}

/* Remove the temp dir and what is in it. */
void
teardown(void)
{
	char	 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	(void)system(cmd);
}

/* Create a console with these keys; the test fails if create does. */
struct vhd_dev *
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
char *
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
struct console *
con_of(struct vhd_dev *dev)
{
	return (fake_dev_priv(dev));
}

/* Ack features and start every queue. */
void
con_start(struct vhd_dev *dev, uint64_t features)
{
	unsigned	 i, n = fake_dev_info(dev)->num_queues;

	fake_dev_ack_features(dev, features);
	for (i = 0; i < n; i++)
		fake_queue_start(fake_queue(dev, i));
}

/* Stop every queue, free the device, check no misuse. */
void
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
void
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
void
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
void
ctrl_send(struct vhd_dev *dev, uint32_t id, uint16_t event, uint16_t value)
{
	ctrl_send_len(dev, id, event, value, 8);
}

/* Collect the control messages pushed since the last call. */
unsigned
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
void
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
void
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
void
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
struct vhd_chain *
rx_post(struct vhd_dev *dev, unsigned port, size_t len)
{
	struct vhd_chain	*c;
	unsigned		 q = port == 0 ? 0 : 4 + 2 * (port - 1);

	c = fake_chain_new(fake_queue(dev, q));
	fake_chain_add_writable(c, len, 0);
	return (c);
}

/* Kick a port's rx or tx queue. */
void
kick(struct vhd_dev *dev, unsigned port, int tx)
{
	unsigned	 q = port == 0 ? 0 : 4 + 2 * (port - 1);

	fake_queue_kick(fake_queue(dev, q + (tx ? 1 : 0)));
}

/* Send guest output on a port: one tx chain, kicked. */
struct vhd_chain *
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
int
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
void
fire_listen(struct vhd_dev *dev, unsigned port)
{
	struct vhd_watch	*w;

	w = fake_dev_watch(dev, con_of(dev)->ports[port].listen_fd);
	ck_assert_ptr_nonnull(w);
	fake_watch_fire(w, VHD_EV_READ);
}

/* Fire the port's client read watch if armed; 1 when fired. */
int
fire_read(struct vhd_dev *dev, unsigned port)
{
	struct console_port	*p = &con_of(dev)->ports[port];

	if (p->rd_w == NULL || !fake_watch_armed(p->rd_w))
		return (0);
	fake_watch_fire(p->rd_w, VHD_EV_READ);
	return (1);
}

/* Fire the port's write watch if armed; 1 when fired. */
int
fire_write(struct vhd_dev *dev, unsigned port)
{
	struct console_port	*p = &con_of(dev)->ports[port];

	if (p->wr_w == NULL || !fake_watch_armed(p->wr_w))
		return (0);
	fake_watch_fire(p->wr_w, VHD_EV_WRITE);
	return (1);
}

/* Fire the port's poll timer. */
void
fire_poll(struct vhd_dev *dev, unsigned port)
{
	struct console_port	*p = &con_of(dev)->ports[port];

	ck_assert_ptr_nonnull(p->poll_w);
	ck_assert(fake_watch_armed(p->poll_w));
	fake_watch_fire(p->poll_w, VHD_EV_TIMEOUT);
}

/* Read everything available from a non-blocking fd (up to max). */
size_t
drain(int fd, void *buf, size_t max)
{
	size_t	 got = 0;
	ssize_t	 n;

	while (got < max && (n = read(fd, (char *)buf + got, max - got)) > 0)
		got += (size_t)n;
	return (got);
}

/* Wait up to 5 s for fd to be readable; the test fails otherwise. */
void
wait_readable(int fd)
{
	struct pollfd	 pfd;

	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
}

/* Read exactly len bytes from a non-blocking fd within 5 s. */
void
read_exact(int fd, void *buf, size_t len)
{
	size_t	 got = 0;

	while (got < len) {
		wait_readable(fd);
		got += drain(fd, (char *)buf + got, len - got);
	}
}

/* A unix port device: port 0 pty, port 1 unix socket "p1.sock". */
struct vhd_dev *
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

