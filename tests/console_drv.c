/*
 * The console test driver: a vhostd started with --module=console, and
 * the test frontend (tests/fe) playing the VMM and the Linux
 * virtio_console driver.  Shared by check_console_fe and
 * check_console_tty.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console_drv.h"

/* Start vhostd with the console module and these --option values; with
 * tty_fd not -1, its stdin, stdout and stderr are that terminal (its
 * controlling terminal, in a session of its own).  No frontend yet. */
struct drv *
drv_launch(const char *name, const char *const *opts, int tty_fd)
{
	struct drv	*v = calloc(1, sizeof(*v));
	const char	*args[32], *socks[2];
	char		*optbuf[12];
	unsigned	 i, n = 0;
	int		 r;

	ck_assert_ptr_nonnull(v);
	v->d = fe_daemon_new(name);
	ck_assert_ptr_nonnull(v->d);
	if (tty_fd != -1)
		fe_daemon_set_tty(v->d, tty_fd);
	args[n++] = "--module=console";
	v->sock = strdup(fe_daemon_path(v->d, "vhost.sock"));
	ck_assert_ptr_nonnull(v->sock);
	socks[0] = v->sock;
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
	return (v);
}

/* Connect a frontend that sets up nq queues (not the handshake). */
void
drv_connect(struct drv *v, unsigned nq)
{
	unsigned	 i, q;

	v->nq = nq;
	memset(v->txbusy, 0, sizeof(v->txbusy));
	memset(v->txhead, 0, sizeof(v->txhead));
	v->fe = fe_new(v->sock, NULL, 0);
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
}

/* Close the frontend: the daemon resets the device. */
void
drv_disconnect(struct drv *v)
{
	fe_free(v->fe);
	v->fe = NULL;
}

/* Start vhostd with the console module and these --option values, and
 * connect a frontend that sets up nq queues (not the handshake). */
struct drv *
drv_start(const char *name, unsigned nq, const char *const *opts)
{
	struct drv	*v = drv_launch(name, opts, -1);

	drv_connect(v, nq);
	return (v);
}

/* Stop the daemon (expecting a clean exit) and free everything. */
void
drv_free(struct drv *v)
{
	if (v->fe != NULL)
		fe_free(v->fe);
	ck_assert_int_eq(fe_daemon_stop(v->d, 5000), 0);
	fe_daemon_free(v->d);
	free(v->sock);
	free(v);
}

/* Post n writable buffers of len bytes on queue q (one kick). */
void
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
void
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
void
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

/* Post len bytes (<= 1024) as one readable buffer on queue q in the
 * free slot `slot`. */
static void
drv_post_tx(struct drv *v, unsigned q, int slot, const void *data,
    size_t len)
{
	struct fe_buf	 b;
	int		 head;

	ck_assert_int_eq(fe_write(v->fe, v->txslot[q][slot], data, len), 0);
	b.gpa = v->txslot[q][slot];
	b.len = (uint32_t)len;
	b.write = 0;
	head = fe_post(v->fe, q, &b, 1, 0);
	ck_assert_int_ge(head, 0);
	v->txbusy[q][slot] = 1;
	v->txhead[q][head] = slot;
}

/* Send len bytes (<= 1024) as one readable buffer on queue q; returns 0,
 * or -1 when no slot frees up within the timeout. */
int
drv_send(struct drv *v, unsigned q, const void *data, size_t len)
{
	int64_t		 end = fe_now_ms() + TMO;
	int		 slot;

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
	drv_post_tx(v, q, slot, data, len);
	return (0);
}

/* As drv_send, but -1 at once when no slot is free. */
int
drv_try_send(struct drv *v, unsigned q, const void *data, size_t len)
{
	int		 slot;

	ck_assert_uint_le(len, 1024);
	drv_reap_tx(v, q);
	for (slot = 0; slot < QSZ && v->txbusy[q][slot]; slot++)
		;
	if (slot == QSZ)
		return (-1);
	drv_post_tx(v, q, slot, data, len);
	return (0);
}

/* Send a driver -> device control message of len bytes. */
void
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
void
drv_ctrl_send(struct drv *v, uint32_t id, uint16_t event, uint16_t value)
{
	drv_ctrl_send_len(v, id, event, value, 8);
}

/* Wait for the next device -> driver control message; 1 or 0 (none
 * within timeout_ms). */
int
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
void
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
void
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
void
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
void
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
void
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

/* Start a 3-port daemon: port0 pty (link c0.pty), port1 unix p1.sock
 * named org.vhostd.one, port2 unix p2.sock; `extra` is one more option. */
struct drv *
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
const char *
dpath(struct fe_daemon *dirs, const char *name)
{
	return (fe_daemon_path(dirs, name));
}

/* Connect a unix client to port `port` and let the guest see it open. */
int
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

const char *const three_names[] = { NULL, "org.vhostd.one", NULL };
