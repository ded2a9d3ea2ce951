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

#include "fe/fe.h"

#define QSZ		64
#define CTRL_BUF	512
#define TMO		5000

#define F_SIZE		0
#define F_MULTIPORT	1
#define F_EMERG		2

#define EV_DEVICE_READY	0
#define EV_PORT_ADD	1
#define EV_PORT_READY	3
#define EV_CONSOLE_PORT	4
#define EV_RESIZE	5
#define EV_PORT_OPEN	6
#define EV_PORT_NAME	7

/* A control message from the device. */
struct cmsg {
	uint32_t	id;
	uint16_t	event;
	uint16_t	value;
	uint8_t		extra[CTRL_BUF];
	size_t		extra_len;
};

/* The VMM + guest driver of one test. */
struct drv {
	struct fe_daemon *d;
	struct fe	*fe;
	unsigned	 nq;
	uint64_t	 txslot[FE_MAX_QUEUES][QSZ];	/* readable buffers */
	int		 txbusy[FE_MAX_QUEUES][QSZ];	/* slot per head */
	int		 txhead[FE_MAX_QUEUES][QSZ];
};

/* Start vhostd with the console module and these --option values, and
 * connect a frontend that sets up nq queues (not the handshake). */
static struct drv *
drv_start(const char *name, unsigned nq, const char *const *opts)
{
	struct drv	*v = calloc(1, sizeof(*v));
	const char	*args[32], *socks[2];
	char		*optbuf[12];
	unsigned	 i, n = 0, q;
	int		 r;

	ck_assert_ptr_nonnull(v);
	v->nq = nq;
	v->d = fe_daemon_new(name);
	ck_assert_ptr_nonnull(v->d);
	args[n++] = "--module=console";
	socks[0] = strdup(fe_daemon_path(v->d, "vhost.sock"));
	socks[1] = NULL;
	ck_assert_int_ne(asprintf(&optbuf[0], "--socket=%s", socks[0]), -1);
	args[n++] = optbuf[0];
	for (i = 0; opts != NULL && opts[i] != NULL && i < 10; i++) {
		ck_assert_int_ne(asprintf(&optbuf[i + 1], "--option=%s",
		    opts[i]), -1);
		args[n++] = optbuf[i + 1];
	}
	args[n] = NULL;
	r = fe_daemon_start(v->d, args, socks, 10000);
	if (r != 0)
		fe_daemon_dump_log(v->d, stderr);
	ck_assert_int_eq(r, 0);
	for (i = 0; i < n - 1; i++)
		free(optbuf[i]);
	v->fe = fe_new(socks[0], NULL, 0);
	free((char *)(uintptr_t)socks[0]);
	ck_assert_msg(v->fe != NULL, "fe_new: %s", fe_error());
	ck_assert_int_eq(fe_negotiate(v->fe, FE_WANT_FEATURES,
	    FE_WANT_PROTOCOL), 0);
	ck_assert(v->fe->acked & FE_BIT(F_MULTIPORT));
	ck_assert(v->fe->acked & FE_BIT(F_SIZE));
	ck_assert(v->fe->acked & FE_BIT(F_EMERG));
	ck_assert_int_eq(fe_set_mem_table(v->fe, NULL, 0), 0);
	for (q = 0; q < nq; q++) {
		ck_assert_msg(fe_queue_setup(v->fe, q, QSZ) == 0,
		    "queue %u: %s", q, fe_error());
		ck_assert_int_eq(fe_vring_enable(v->fe, q, 1), 0);
	}
	for (q = 0; q < nq; q++) {
		for (i = 0; i < QSZ; i++) {
			v->txslot[q][i] = fe_alloc(v->fe, 1024, 16);
			ck_assert_uint_ne(v->txslot[q][i], 0);
		}
	}
	return (v);
}

/* Stop the daemon (expecting a clean exit) and free everything. */
static void
drv_free(struct drv *v)
{
	fe_free(v->fe);
	ck_assert_int_eq(fe_daemon_stop(v->d, 5000), 0);
	fe_daemon_free(v->d);
	free(v);
}

/* Post n writable buffers of len bytes on queue q (one kick). */
static void
drv_post_rx(struct drv *v, unsigned q, unsigned n, uint32_t len)
{
	struct fe_buf	 b;
	unsigned	 i;

	for (i = 0; i < n; i++) {
		b.gpa = fe_alloc(v->fe, len, 8);
		ck_assert_uint_ne(b.gpa, 0);
		b.len = len;
		b.write = 1;
		ck_assert_int_ge(fe_post(v->fe, q, &b, 1, FE_POST_NOKICK), 0);
	}
	ck_assert_int_eq(fe_kick(v->fe, q), 0);
}

/* Give a used rx buffer back to the ring (same memory). */
static void
drv_repost(struct drv *v, unsigned q, uint32_t id, int kick)
{
	struct fe_queue	*fq = fe_queue(v->fe, q);
	struct fe_buf	 b;

	b.gpa = fq->req_gpa[id];
	b.len = fq->req_len[id];
	b.write = 1;
	ck_assert_int_ge(fe_post(v->fe, q, &b, 1, kick ? 0 : FE_POST_NOKICK),
	    0);
}

/* Reap used entries of a tx-like queue (readable buffers). */
static void
drv_reap_tx(struct drv *v, unsigned q)
{
	uint32_t	 id, len;
	int		 r;

	while ((r = fe_get_used(v->fe, q, &id, &len)) == 1) {
		ck_assert_uint_lt(id, QSZ);
		ck_assert(v->txhead[q][id] >= 0);
		v->txbusy[q][v->txhead[q][id]] = 0;
		v->txhead[q][id] = -1;
	}
	ck_assert_int_eq(r, 0);
}

/* Send len bytes (<= 1024) as one readable buffer on queue q; returns 0,
 * or -1 when no slot frees up within the timeout. */
static int
drv_send(struct drv *v, unsigned q, const void *data, size_t len)
{
	struct fe_buf	 b;
	int64_t		 end = fe_now_ms() + TMO;
	int		 slot, head;

	ck_assert_uint_le(len, 1024);
	for (;;) {
		drv_reap_tx(v, q);
		for (slot = 0; slot < QSZ && v->txbusy[q][slot]; slot++)
			;
		if (slot < QSZ)
			break;
		if (fe_now_ms() > end)
			return (-1);
		(void)fe_wait_call(v->fe, q, 20);
	}
	ck_assert_int_eq(fe_write(v->fe, v->txslot[q][slot], data, len), 0);
	b.gpa = v->txslot[q][slot];
	b.len = (uint32_t)len;
	b.write = 0;
	head = fe_post(v->fe, q, &b, 1, 0);
	ck_assert_int_ge(head, 0);
	v->txbusy[q][slot] = 1;
	v->txhead[q][head] = slot;
	return (0);
}

/* Send a driver -> device control message of len bytes. */
static void
drv_ctrl_send_len(struct drv *v, uint32_t id, uint16_t event,
    uint16_t value, size_t len)
{
	uint8_t	 m[8];

	m[0] = (uint8_t)id;
	m[1] = (uint8_t)(id >> 8);
	m[2] = (uint8_t)(id >> 16);
	m[3] = (uint8_t)(id >> 24);
	m[4] = (uint8_t)event;
	m[5] = (uint8_t)(event >> 8);
	m[6] = (uint8_t)value;
	m[7] = (uint8_t)(value >> 8);
	ck_assert_int_eq(drv_send(v, 3, m, len), 0);
}

/* Send a well-formed control message. */
static void
drv_ctrl_send(struct drv *v, uint32_t id, uint16_t event, uint16_t value)
{
	drv_ctrl_send_len(v, id, event, value, 8);
}

/* Wait for the next device -> driver control message; 1 or 0 (none
 * within timeout_ms). */
static int
drv_ctrl_recv(struct drv *v, struct cmsg *m, int timeout_ms)
{
	struct fe_queue	*fq = fe_queue(v->fe, 2);
	uint8_t		 b[CTRL_BUF];
	uint32_t	 id, len;
	int		 r;

	r = fe_wait_used(v->fe, 2, &id, &len, timeout_ms);
	ck_assert_int_ge(r, 0);
	if (r == 0)
		return (0);
	ck_assert_uint_ge(len, 8);
	ck_assert_uint_le(len, CTRL_BUF);
	ck_assert_int_eq(fe_read(v->fe, fq->req_gpa[id], b, len), 0);
	m->id = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
	m->event = (uint16_t)(b[4] | b[5] << 8);
	m->value = (uint16_t)(b[6] | b[7] << 8);
	m->extra_len = len - 8;
	memcpy(m->extra, b + 8, len - 8);
	drv_repost(v, 2, id, 1);
	return (1);
}

/* Expect this control message next. */
static void
drv_expect(struct drv *v, uint32_t id, uint16_t event, uint16_t value)
{
	struct cmsg	 m;

	ck_assert_msg(drv_ctrl_recv(v, &m, TMO) == 1, "no control message; "
	    "expected event %u port %u", event, id);
	ck_assert_msg(m.id == id && m.event == event && m.value == value,
	    "got (%u, %u, %u), expected (%u, %u, %u)", m.id, m.event, m.value,
	    id, event, value);
}

/* Expect no control message for a while. */
static void
drv_expect_none(struct drv *v, int ms)
{
	struct cmsg	 m;

	ck_assert_msg(drv_ctrl_recv(v, &m, ms) == 0, "unexpected control "
	    "message (%u, %u, %u)", m.id, m.event, m.value);
}

/*
 * The Linux driver's probe: fill c_ivq, DEVICE_READY; for each PORT_ADD,
 * fill the port's rx queue and answer PORT_READY; the console port gets
 * CONSOLE_PORT and answers PORT_OPEN(1).  Checks the device's messages:
 * PORT_ADD for ports 0..nports-1, CONSOLE_PORT for 0, PORT_NAME where
 * names[i] is set, PORT_OPEN(1) where open[i]; then nothing else.
 */
static void
drv_handshake(struct drv *v, unsigned nports, const char *const *names,
    const int *open)
{
	struct cmsg	 m;
	unsigned	 i;

	drv_post_rx(v, 2, 16, CTRL_BUF);
	drv_ctrl_send(v, 0xffffffffU, EV_DEVICE_READY, 1);
	for (i = 0; i < nports; i++)
		drv_expect(v, i, EV_PORT_ADD, 1);
	for (i = 0; i < nports; i++) {
		drv_post_rx(v, i == 0 ? 0 : 4 + 2 * (i - 1), 8, 64);
		drv_ctrl_send(v, i, EV_PORT_READY, 1);
		if (i == 0) {
			drv_expect(v, 0, EV_CONSOLE_PORT, 1);
			drv_ctrl_send(v, 0, EV_PORT_OPEN, 1);
		}
		if (names != NULL && names[i] != NULL) {
			ck_assert_int_eq(drv_ctrl_recv(v, &m, TMO), 1);
			ck_assert_uint_eq(m.id, i);
			ck_assert_uint_eq(m.event, EV_PORT_NAME);
			ck_assert_uint_eq(m.extra_len, strlen(names[i]));
			ck_assert(memcmp(m.extra, names[i], m.extra_len) == 0);
		}
		if (open != NULL && open[i])
			drv_expect(v, i, EV_PORT_OPEN, 1);
		if (i == 0) {
			/* F_SIZE: the console's size. */
			ck_assert_int_eq(drv_ctrl_recv(v, &m, TMO), 1);
			ck_assert_uint_eq(m.event, EV_RESIZE);
			ck_assert_uint_eq(m.extra_len, 4);
		}
	}
	drv_expect_none(v, 100);
}

/* Read exactly len bytes from fd within the timeout. */
static void
host_read(int fd, void *buf, size_t len)
{
	struct pollfd	 pfd;
	size_t		 got = 0;
	ssize_t		 n;
	int64_t		 end = fe_now_ms() + TMO;

	while (got < len) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		ck_assert_msg(fe_now_ms() < end, "host read: %zu of %zu bytes",
		    got, len);
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(fd, (char *)buf + got, len - got);
		ck_assert_msg(n > 0, "host read: %zd (%s)", n,
		    n < 0 ? strerror(errno) : "EOF");
		got += (size_t)n;
	}
}

/* Wait for len bytes of rx data on queue q, reposting buffers. */
static void
guest_read(struct drv *v, unsigned q, void *buf, size_t len)
{
	struct fe_queue	*fq = fe_queue(v->fe, q);
	uint32_t	 id, ulen;
	size_t		 got = 0;

	while (got < len) {
		ck_assert_msg(fe_wait_used(v->fe, q, &id, &ulen, TMO) == 1,
		    "guest read: %zu of %zu bytes", got, len);
		ck_assert_uint_le(got + ulen, len);
		ck_assert_int_eq(fe_read(v->fe, fq->req_gpa[id],
		    (char *)buf + got, ulen), 0);
		got += ulen;
		drv_repost(v, q, id, 1);
	}
}

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

/* Start a 3-port daemon: port0 pty (link c0.pty), port1 unix p1.sock
 * named org.vhostd.one, port2 unix p2.sock; `extra` is one more option. */
static struct drv *
drv_three(const char *name, const char *extra, struct fe_daemon **dirs)
{
	static char	 o0[300], o1[300], o2[300];
	const char	*o[5];
	struct fe_daemon *tmpd = fe_daemon_new("console-dirs");

	snprintf(o0, sizeof(o0), "port0=pty,link=%s",
	    fe_daemon_path(tmpd, "c0.pty"));
	snprintf(o1, sizeof(o1), "port1=name=org.vhostd.one,unix=%s",
	    fe_daemon_path(tmpd, "p1.sock"));
	snprintf(o2, sizeof(o2), "port2=unix=%s",
	    fe_daemon_path(tmpd, "p2.sock"));
	o[0] = o0;
	o[1] = o1;
	o[2] = o2;
	o[3] = extra;
	o[4] = NULL;
	*dirs = tmpd;
	return (drv_start(name, 8, o));
}

/* The path of a file in the helper dir. */
static const char *
dpath(struct fe_daemon *dirs, const char *name)
{
	return (fe_daemon_path(dirs, name));
}

/* Connect a unix client to port `port` and let the guest see it open. */
static int
attach(struct drv *v, struct fe_daemon *dirs, unsigned port)
{
	char	 name[16];
	int	 fd;

	snprintf(name, sizeof(name), "p%u.sock", port);
	fd = fe_sock_connect(dpath(dirs, name), TMO);
	ck_assert_int_ge(fd, 0);
	drv_expect(v, port, EV_PORT_OPEN, 1);
	return (fd);
}

static const char *const three_names[] = { NULL, "org.vhostd.one", NULL };

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
