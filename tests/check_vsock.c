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
#include "../modules/vsock/vsock.h"

/* The module's descriptor, linked in from vsock.c. */
extern const struct vhd_module vhd_module;

#define GUEST_CID	3
#define FEAT_ALL	((1ULL << VSOCK_F_STREAM) | \
			 (1ULL << VSOCK_F_SEQPACKET) | (1ULL << VHD_F_VERSION_1))

static char	 tmpdir[64];
static char	 uds[80];
static struct vhd_dev *devs[4];
static unsigned	 ndevs;
static unsigned	 rx_seen[4];	/* rx chains already looked at, per dev */

/* Make a temporary directory; the hybrid socket lives there. */
static void
setup(void)
{
	strcpy(tmpdir, "/tmp/check_vsock.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(uds, sizeof(uds), "%s/vm.sock", tmpdir);
	ndevs = 0;
	memset(rx_seen, 0, sizeof(rx_seen));
}

/* Free the devices and remove the temporary directory. */
static void
teardown(void)
{
	char		 cmd[128];
	unsigned	 i;

	for (i = 0; i < ndevs; i++) {
		fake_queue_stop(fake_queue(devs[i], VSOCK_RXQ));
		fake_queue_stop(fake_queue(devs[i], VSOCK_TXQ));
		fake_dev_reset(devs[i]);
		ck_assert_uint_eq(fake_dev_watches(devs[i]), 0);
		ck_assert_str_eq(fake_dev_errors(devs[i]), "");
		fake_dev_free(devs[i]);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Create a device with these keys, ack features, start rx and tx. */
static struct vhd_dev *
mkdev(const struct vhd_kv *kv, size_t nkv)
{
	struct vhd_dev	*dev;
	char		*cause = NULL, name[16];

	snprintf(name, sizeof(name), "vsock%u", ndevs);
	dev = fake_dev_new(vhd_module.ops, name);
	if (fake_dev_create(dev, kv, nkv, &cause) != 0)
		ck_abort_msg("create failed: %s", cause ? cause : "(null)");
	fake_dev_ack_features(dev, FEAT_ALL);
	fake_queue_start(fake_queue(dev, VSOCK_RXQ));
	fake_queue_start(fake_queue(dev, VSOCK_TXQ));
	devs[ndevs++] = dev;
	return (dev);
}

/* The default device: CID 3 on `uds`, with extra keys. */
static struct vhd_dev *
mkdefault(const char *k1, const char *v1)
{
	struct vhd_kv	 kv[3] = {
		FAKE_KV("guest-cid", "3"),
		FAKE_KV("uds-path", uds),
		FAKE_KV("buf-size", "65536"),
	};
	struct vhd_kv	 more[4];

	if (k1 == NULL)
		return (mkdev(kv, 3));
	memcpy(more, kv, sizeof(kv));
	more[3].key = k1;
	more[3].value = v1;
	more[3].where = "test";
	return (mkdev(more, 4));
}

/* Create with these keys and expect failure; return the cause. */
static char *
create_fails(const struct vhd_kv *kv, size_t nkv)
{
	struct vhd_dev	*dev;
	char		*cause = NULL;

	dev = fake_dev_new(vhd_module.ops, "bad");
	ck_assert_int_eq(fake_dev_create(dev, kv, nkv, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	fake_dev_free(dev);
	return (cause);
}

/* A guest header from guest port gp to host port hp. */
static struct vsock_hdr
ghdr(uint16_t op, uint32_t gp, uint32_t hp, uint16_t type)
{
	struct vsock_hdr	 h;

	memset(&h, 0, sizeof(h));
	h.src_cid = GUEST_CID;
	h.dst_cid = VSOCK_HOST_CID;
	h.src_port = gp;
	h.dst_port = hp;
	h.type = type;
	h.op = op;
	h.buf_alloc = 65536;
	return (h);
}

/*
 * Post a tx packet: header and payload split in `nseg` descriptors (1:
 * one buffer, 2: header then payload, else pieces of 7 bytes), kick.
 */
static void
tx(struct vhd_dev *dev, struct vsock_hdr h, const void *data, size_t len,
    unsigned nseg)
{
	struct vhd_chain	*c;
	uint8_t			*buf;
	size_t			 total = VSOCK_HDR_SIZE + len, off, n;

	h.len = (uint32_t)len;
	buf = malloc(total);
	ck_assert_ptr_nonnull(buf);
	vsock_pkt_encode(&h, buf);
	if (len > 0)
		memcpy(buf + VSOCK_HDR_SIZE, data, len);
	c = fake_chain_new(fake_queue(dev, VSOCK_TXQ));
	if (nseg == 1) {
		fake_chain_add_readable(c, buf, total);
	} else if (nseg == 2) {
		fake_chain_add_readable(c, buf, VSOCK_HDR_SIZE);
		if (len > 0)
			fake_chain_add_readable(c, buf + VSOCK_HDR_SIZE, len);
	} else {
		for (off = 0; off < total; off += n) {
			n = total - off < 7 ? total - off : 7;
			fake_chain_add_readable(c, buf + off, n);
		}
	}
	free(buf);
	fake_queue_kick(fake_queue(dev, VSOCK_TXQ));
}

/* Post `n` rx buffers of `size` bytes (header included) and kick. */
static void
rx_post(struct vhd_dev *dev, unsigned n, size_t size)
{
	struct vhd_chain	*c;
	unsigned		 i;

	for (i = 0; i < n; i++) {
		c = fake_chain_new(fake_queue(dev, VSOCK_RXQ));
		fake_chain_add_writable(c, VSOCK_HDR_SIZE, 0);
		fake_chain_add_writable(c, size - VSOCK_HDR_SIZE, 0);
	}
	fake_queue_kick(fake_queue(dev, VSOCK_RXQ));
}

/* The index of a device in devs[]. */
static unsigned
devidx(struct vhd_dev *dev)
{
	unsigned	 i;

	for (i = 0; i < ndevs; i++)
		if (devs[i] == dev)
			return (i);
	ck_abort_msg("unknown device");
	return (0);
}

/*
 * Take the next packet the device pushed on rx: 1 with the header and up
 * to `max` payload bytes in data, 0 when there is none.
 */
static int
rx_next(struct vhd_dev *dev, struct vsock_hdr *h, void *data, size_t max)
{
	struct vhd_chain	*c;
	uint8_t			 buf[70000];
	unsigned		 i = devidx(dev);
	size_t			 n;

	c = fake_queue_pushed(fake_queue(dev, VSOCK_RXQ), rx_seen[i]);
	if (c == NULL)
		return (0);
	rx_seen[i]++;
	n = fake_chain_written(c, buf, sizeof(buf));
	ck_assert_uint_ge(fake_chain_used(c), VSOCK_HDR_SIZE);
	ck_assert_uint_ge(n, fake_chain_used(c));
	vsock_pkt_decode(buf, h);
	ck_assert_uint_eq(h->len + VSOCK_HDR_SIZE, fake_chain_used(c));
	if (data != NULL)
		memcpy(data, buf + VSOCK_HDR_SIZE, h->len < max ? h->len : max);
	return (1);
}

/* Expect the next rx packet to have this op; return its header. */
static struct vsock_hdr
rx_expect(struct vhd_dev *dev, uint16_t op)
{
	struct vsock_hdr	 h;

	ck_assert_msg(rx_next(dev, &h, NULL, 0), "no rx packet, wanted op %u",
	    op);
	ck_assert_msg(h.op == op, "rx op %u, wanted %u", h.op, op);
	return (h);
}

/* Listen on "<uds>_<port>" with a socket of `type`. */
static int
host_listen(uint32_t port, int type)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s_%u", uds, port);
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	return (fd);
}

/* Connect to the hybrid socket. */
static int
host_connect(void)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", uds);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	return (fd);
}

/* Read from fd with a 2 s limit; returns what read returned. */
static ssize_t
read_wait(int fd, void *buf, size_t len)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, 2000) != 1)
		return (-2);
	return (read(fd, buf, len));
}

/* Has the host socket seen end of file or a reset (within 50 ms)? */
static int
host_closed(int fd)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	char		 c;

	if (poll(&pfd, 1, 50) != 1)
		return (0);
	return (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0);
}

/* Fire, in creation order, every armed fd watch whose fd is ready for
 * what it waits for; `rounds` times. */
static void
fire_ready(struct vhd_dev *dev, unsigned rounds)
{
	struct vhd_watch	*w;
	struct pollfd		 pfd;
	unsigned		 i, r;
	short			 ev;

	for (r = 0; r < rounds; r++) {
		for (i = 0; (w = fake_dev_watch_nth(dev, i)) != NULL; i++) {
			if (fake_watch_fd(w) < 0 || !fake_watch_armed(w))
				continue;
			ev = fake_watch_events(w) & (VHD_EV_READ |
			    VHD_EV_WRITE);
			pfd.fd = fake_watch_fd(w);
			pfd.events = (short)(((ev & VHD_EV_READ) ? POLLIN :
			    0) | ((ev & VHD_EV_WRITE) ? POLLOUT : 0));
			pfd.revents = 0;
			if (poll(&pfd, 1, 0) == 1)
				fake_watch_fire(w, ev);
		}
	}
}

/* Fire every armed watch on a host socket (any fd but timers). */
static void
fire_all_fd(struct vhd_dev *dev)
{
	struct vhd_watch	*w;
	unsigned		 i;

	for (i = 0; i < 8; i++) {
		w = fake_dev_watch(dev, FAKE_ANY_FD);
		if (w == NULL || !fake_watch_armed(w))
			return;
		fake_watch_fire(w, fake_watch_events(w) &
		    (VHD_EV_READ | VHD_EV_WRITE));
	}
}

/* Guest connects guest port 5000 to host port 1234 (a listener); return
 * the accepted host fd. */
static int
guest_connect(struct vhd_dev *dev, int type, int *lfd)
{
	int	 fd;

	*lfd = host_listen(1234, type);
	rx_post(dev, 8, 4096);
	tx(dev, ghdr(VSOCK_OP_REQUEST, 5000, 1234, type == SOCK_STREAM ?
	    VSOCK_TYPE_STREAM : VSOCK_TYPE_SEQPACKET), NULL, 0, 2);
	rx_expect(dev, VSOCK_OP_RESPONSE);
	fd = accept(*lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	return (fd);
}

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

/* VM-to-VM: devices in one group exchange packets; another CID outside
 * the group gets an RST. */
START_TEST(vm_to_vm_group)
{
	struct vhd_kv		 ka[] = { FAKE_KV("guest-cid", "3"),
				    FAKE_KV("groups", "g1+g2") };
	struct vhd_kv		 kb[] = { FAKE_KV("guest-cid", "4"),
				    FAKE_KV("groups", "g2") };
	struct vhd_kv		 kc[] = { FAKE_KV("guest-cid", "5") };
	struct vhd_dev		*a, *b;
	struct vsock_hdr	 h;
	char			 big[9000], got[9000];
	size_t			 n = 0;

	a = mkdev(ka, 2);
	b = mkdev(kb, 2);
	(void)mkdev(kc, 1);
	rx_post(a, 8, 4096);
	rx_post(b, 8, 4096);
	h = ghdr(VSOCK_OP_REQUEST, 1000, 2000, VSOCK_TYPE_STREAM);
	h.dst_cid = 4;
	tx(a, h, NULL, 0, 1);
	h = rx_expect(b, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.src_cid, 3);
	ck_assert_uint_eq(h.dst_port, 2000);
	/* A large RW is split to fit b's 4 KiB rx buffers. */
	memset(big, 'q', sizeof(big));
	h = ghdr(VSOCK_OP_RW, 1000, 2000, VSOCK_TYPE_STREAM);
	h.dst_cid = 4;
	tx(a, h, big, sizeof(big), 2);
	while (rx_next(b, &h, got, sizeof(got))) {
		ck_assert_uint_eq(h.op, VSOCK_OP_RW);
		n += h.len;
	}
	ck_assert_uint_eq(n, sizeof(big));
	/* CID 5 shares no group. */
	h = ghdr(VSOCK_OP_REQUEST, 1000, 2000, VSOCK_TYPE_STREAM);
	h.dst_cid = 5;
	tx(a, h, NULL, 0, 1);
	rx_expect(a, VSOCK_OP_RST);
	/* b cannot pretend to be a. */
	h = ghdr(VSOCK_OP_RW, 2000, 1000, VSOCK_TYPE_STREAM);
	h.src_cid = 3;
	h.dst_cid = 3;
	tx(b, h, "x", 1, 1);
	ck_assert(!rx_next(a, &h, NULL, 0));
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

/* Send `n` RW packets of `len` bytes from device a's port 1000 to CID 4
 * port 2000, numbered from *seq in their first 4 bytes. */
static void
group_send(struct vhd_dev *a, unsigned n, size_t len, uint32_t *seq)
{
	static uint8_t		 data[65536];
	struct vsock_hdr	 h;
	unsigned		 i;

	for (i = 0; i < n; i++) {
		memcpy(data, seq, sizeof(*seq));
		(*seq)++;
		h = ghdr(VSOCK_OP_RW, 1000, 2000, VSOCK_TYPE_STREAM);
		h.dst_cid = 4;
		tx(a, h, data, len, 2);
	}
}

/* Three VMs in one group; A (CID 3) connects port 1000 to B (CID 4) port
 * 2000; C is CID 5.  B posts no rx buffers. */
static void
group_three(struct vhd_dev **a, struct vhd_dev **b, struct vhd_dev **c)
{
	struct vhd_kv		 ka[] = { FAKE_KV("guest-cid", "3"),
				    FAKE_KV("uds-path", uds),
				    FAKE_KV("groups", "g") };
	struct vhd_kv		 kb[] = { FAKE_KV("guest-cid", "4"),
				    FAKE_KV("groups", "g") };
	struct vhd_kv		 kc[] = { FAKE_KV("guest-cid", "5"),
				    FAKE_KV("groups", "g") };
	struct vsock_hdr	 h;

	*a = mkdev(ka, 3);
	*b = mkdev(kb, 2);
	*c = mkdev(kc, 2);
	rx_post(*a, 32, 4096);
	rx_post(*c, 8, 4096);
	h = ghdr(VSOCK_OP_REQUEST, 1000, 2000, VSOCK_TYPE_STREAM);
	h.dst_cid = 4;
	tx(*a, h, NULL, 0, 1);
}

/*
 * Issue 8: a sibling that does not read its rx queue never stalls
 * another VM's tx queue.  A fills B's inbox and then some; A's tx queue
 * is still consumed, A reaches the host and C; when B reads, A's parked
 * packets arrive in order.
 */
START_TEST(group_full_sibling_no_stall)
{
	struct vhd_dev		*a, *b, *c;
	struct vsock_hdr	 h;
	uint8_t			 got[70000];
	uint32_t		 seq = 0, want = 0;
	int			 lfd, fd;

	group_three(&a, &b, &c);
	lfd = host_listen(1234, SOCK_STREAM);
	/* 4 MiB fill B's inbox; 16 more packets have to wait. */
	group_send(a, 80, 65536, &seq);
	ck_assert_msg(fake_queue_avail(fake_queue(a, VSOCK_TXQ)) == 0,
	    "A's tx queue stalled on B: %u chains left",
	    fake_queue_avail(fake_queue(a, VSOCK_TXQ)));
	/* A to the host. */
	tx(a, ghdr(VSOCK_OP_REQUEST, 1001, 1234, VSOCK_TYPE_STREAM), NULL, 0,
	    1);
	h = rx_expect(a, VSOCK_OP_RESPONSE);
	ck_assert_uint_eq(h.dst_port, 1001);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	/* A to C. */
	h = ghdr(VSOCK_OP_REQUEST, 1002, 3000, VSOCK_TYPE_STREAM);
	h.dst_cid = 5;
	tx(a, h, NULL, 0, 1);
	h = rx_expect(c, VSOCK_OP_REQUEST);
	ck_assert_uint_eq(h.src_port, 1002);
	/* A packet of the waiting connection queues behind the others. */
	group_send(a, 1, 100, &seq);
	/* B reads: everything arrives, in order. */
	rx_post(b, 100, 65536 + VSOCK_HDR_SIZE);
	rx_expect(b, VSOCK_OP_REQUEST);
	while (rx_next(b, &h, got, sizeof(got))) {
		ck_assert_uint_eq(h.op, VSOCK_OP_RW);
		ck_assert_uint_eq(h.src_cid, 3);
		ck_assert_msg(memcmp(got, &want, 4) == 0, "packet %u out of "
		    "order", want);
		want++;
	}
	ck_assert_uint_eq(want, seq);
	ck_assert(!rx_next(a, &h, NULL, 0));
	close(fd);
	close(lfd);
}
END_TEST

/* A sender waiting on a full sibling is woken when the sibling is reset
 * (its frontend went away): its connection gets an RST, and new packets
 * to the sibling are refused at once. */
START_TEST(group_sibling_reset_wakes_sender)
{
	struct vhd_dev		*a, *b, *c;
	struct vsock_hdr	 h;
	uint32_t		 seq = 0;
	int			 rst = 0;

	group_three(&a, &b, &c);
	group_send(a, 70, 65536, &seq);
	ck_assert_uint_eq(fake_queue_avail(fake_queue(a, VSOCK_TXQ)), 0);
	/* B pauses: A keeps waiting, nothing is lost. */
	fake_queue_stop(fake_queue(b, VSOCK_RXQ));
	fake_queue_stop(fake_queue(b, VSOCK_TXQ));
	ck_assert(!rx_next(a, &h, NULL, 0));
	/* B's frontend goes away. */
	fake_dev_reset(b);
	while (rx_next(a, &h, NULL, 0)) {
		ck_assert_uint_eq(h.op, VSOCK_OP_RST);
		ck_assert_uint_eq(h.src_cid, 4);
		ck_assert_uint_eq(h.dst_port, 1000);
		rst++;
	}
	ck_assert_int_gt(rst, 0);
	group_send(a, 1, 10, &seq);
	rx_expect(a, VSOCK_OP_RST);
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

	tc = tcase_create("group");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, vm_to_vm_group);
	tcase_add_test(tc, group_full_sibling_no_stall);
	tcase_add_test(tc, group_sibling_reset_wakes_sender);
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
