/*
 * Helpers of the vsock unit tests: see vsock_unit.h.
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

char		 tmpdir[64];
char		 uds[80];
struct vhd_dev	*devs[4];
unsigned	 ndevs;
unsigned	 rx_seen[4];

/* Make a temporary directory; the hybrid socket lives there. */
void
setup(void)
{
	strcpy(tmpdir, "/tmp/check_vsock.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(uds, sizeof(uds), "%s/vm.sock", tmpdir);
	ndevs = 0;
	memset(rx_seen, 0, sizeof(rx_seen));
}

/* Free the devices and remove the temporary directory. */
void
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
struct vhd_dev *
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
struct vhd_dev *
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
char *
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
struct vsock_hdr
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
void
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
void
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
unsigned
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
int
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
struct vsock_hdr
rx_expect(struct vhd_dev *dev, uint16_t op)
{
	struct vsock_hdr	 h;

	ck_assert_msg(rx_next(dev, &h, NULL, 0), "no rx packet, wanted op %u",
	    op);
	ck_assert_msg(h.op == op, "rx op %u, wanted %u", h.op, op);
	return (h);
}

/* Listen on "<uds>_<port>" with a socket of `type`. */
int
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
int
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
ssize_t
read_wait(int fd, void *buf, size_t len)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, 2000) != 1)
		return (-2);
	return (read(fd, buf, len));
}

/* Has the host socket seen end of file or a reset (within 50 ms)? */
int
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
void
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
void
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
int
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
