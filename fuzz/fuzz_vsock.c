/*
 * libFuzzer target: the vsock module (packet parser, connection state
 * machine, credit, host side, VM-to-VM forwarding) driven through its
 * ops on the fake daemon of tests/fake_api.c, with real unix sockets in
 * a temp dir for the host side.
 *
 * Input layout:
 *   byte 0	bit 0: seqpacket off; bit 1: a sibling device (CID 4, same
 *		group); bits 2-4: ack F_STREAM, F_SEQPACKET, F_NO_IMPLIED;
 *		bits 5-7: max-connections - 1
 *   byte 1	buf-size 4096 << (b % 4)
 *   then operations, each an opcode byte (mod 11) and its arguments:
 *   0 tx	a, op, type, sport, dport, flags, buf_alloc(2), fwd_cnt(2),
 *		plen(2), payload: a guest packet on tx of device a&1, laid
 *		out by (a>>1)&3 (one buffer, header + payload, 7-byte
 *		pieces, header split at 20), src CID spoofed if a&8, to the
 *		sibling's CID if a&16, len field off by one if a&32
 *   1 rx	a, size: post 1 + a%8 rx chains of device a&1, 44 + size*8
 *		bytes (size 255: 20 bytes; a&64: a readable buffer too;
 *		a&128: header and payload in separate buffers)
 *   2 loop	fire the fd watches whose fds are ready (both devices)
 *   3 timer	n: fire the n-th armed timer of device n&1
 *   4 connect	len, line: a host client to the hybrid socket sends line
 *		(len 0: "CONNECT <5000..5003>\n")
 *   5 write	i, len, data: host fd i writes (stream) or sends (seqpacket)
 *   6 read	i: host fd i reads what is there
 *   7 close	i, how: close, shutdown write or read
 *   8 accept	accept on the host listeners (ports 1234 stream, 1235
 *		seqpacket)
 *   9 queues	a: device a&1's rx/tx queues, by (a>>1)&3: 0 pause and
 *		resume (stop, start), 1 stop and leave them stopped (later
 *		operations run on a paused VM), 2 start them if stopped,
 *		3 device reset (stop, reset, start)
 *   10 config	off, len: read config space
 *   an opcode byte of 0xf0 or more: state a, n(2), ... (see
 *		fuzz_vsock_op_state: save/reset/load round trips and raw
 *		state streams)
 * Oracles: sanitizers; no API misuse recorded by the fake; every rx
 * packet well formed (length, CIDs, op, type); no pop, push or notify
 * on a stopped queue; no watch left after the device reset; the process
 * holds the same fds after each input.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "fake_api.h"
#include "fuzz_fake.h"
#include "../modules/vsock/vsock.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

extern const struct vhd_module vhd_module;

#define FUZZ_HOSTFDS	16
#define FUZZ_OPS	512

static char		 fuzz_dir[64];
static char		 fuzz_uds[2][96];
static int		 fuzz_lfd[2] = { -1, -1 };	/* 1234, 1235 */
static int		 fuzz_host[FUZZ_HOSTFDS];
static unsigned		 fuzz_nhost;
static struct vhd_dev	*fuzz_dev[2];
static unsigned		 fuzz_ndev;
static unsigned		 fuzz_rx_seen[2];
static int		 fuzz_stopped[2];	/* rx and tx stopped */
static unsigned		 fuzz_qcount[2];	/* their pops+pushes+notifies */
static uint8_t		 fuzz_buf[70000];

/* Remove the temp dir at exit. */
static void
fuzz_vsock_cleanup(void)
{
	char	 path[160];

	if (fuzz_lfd[0] != -1) {
		snprintf(path, sizeof(path), "%s_1234", fuzz_uds[0]);
		unlink(path);
		snprintf(path, sizeof(path), "%s_1235", fuzz_uds[0]);
		unlink(path);
	}
	unlink(fuzz_uds[0]);
	unlink(fuzz_uds[1]);
	rmdir(fuzz_dir);
}

/* A listener at "<uds>_<port>". */
static int
fuzz_vsock_listen(uint32_t port, int type)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s_%u", fuzz_uds[0],
	    port);
	fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, 4) == -1)
		abort();
	return (fd);
}

/* Make the temp dir and the host listeners once per process. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	strcpy(fuzz_dir, "/tmp/fuzz_vsock.XXXXXX");
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	snprintf(fuzz_uds[0], sizeof(fuzz_uds[0]), "%s/vm3", fuzz_dir);
	snprintf(fuzz_uds[1], sizeof(fuzz_uds[1]), "%s/vm4", fuzz_dir);
	atexit(fuzz_vsock_cleanup);
	fuzz_lfd[0] = fuzz_vsock_listen(1234, SOCK_STREAM);
	fuzz_lfd[1] = fuzz_vsock_listen(1235, SOCK_SEQPACKET);
	return (0);
}

/* Keep a host fd (closed when the table is full). */
static void
fuzz_vsock_keep(int fd)
{
	if (fuzz_nhost == FUZZ_HOSTFDS) {
		close(fd);
		return;
	}
	fuzz_host[fuzz_nhost++] = fd;
}

/* Check the packets device d pushed on rx since the last look. */
static void
fuzz_vsock_check_rx(unsigned d)
{
	struct vhd_queue	*q = fake_queue(fuzz_dev[d], VSOCK_RXQ);
	struct vhd_chain	*c;
	struct vsock_hdr	 h;
	uint32_t		 used;
	size_t			 n;

	while ((c = fake_queue_pushed(q, fuzz_rx_seen[d])) != NULL) {
		fuzz_rx_seen[d]++;
		used = fake_chain_used(c);
		if (used == 0)
			continue;
		n = fake_chain_written(c, fuzz_buf, sizeof(fuzz_buf));
		if (used < VSOCK_HDR_SIZE || n < used)
			abort();
		vsock_pkt_decode(fuzz_buf, &h);
		if ((uint64_t)h.len + VSOCK_HDR_SIZE != used ||
		    h.dst_cid != 3 + d ||
		    (h.src_cid != VSOCK_HOST_CID && h.src_cid != 4 - d) ||
		    h.op == VSOCK_OP_INVALID || h.op > VSOCK_OP_MAX ||
		    (h.type != VSOCK_TYPE_STREAM &&
		    h.type != VSOCK_TYPE_SEQPACKET) ||
		    (h.src_cid == VSOCK_HOST_CID && h.len > VSOCK_MAX_PKT) ||
		    (h.op != VSOCK_OP_RW && h.len != 0))
			abort();
	}
}

/* Pops, pushes and notifies on device d's rx and tx so far. */
static unsigned
fuzz_vsock_qcount(unsigned d)
{
	struct vhd_queue	*rx = fake_queue(fuzz_dev[d], VSOCK_RXQ);
	struct vhd_queue	*tx = fake_queue(fuzz_dev[d], VSOCK_TXQ);

	return (fake_queue_pops(rx) + fake_queue_pushes(rx) +
	    fake_queue_notifies(rx) + fake_queue_pops(tx) +
	    fake_queue_pushes(tx) + fake_queue_notifies(tx));
}

/* Check both devices' rx, and that stopped queues were not touched. */
static void
fuzz_vsock_check(void)
{
	unsigned	 d;

	for (d = 0; d < fuzz_ndev; d++) {
		fuzz_vsock_check_rx(d);
		fuzz_fake_check(fuzz_dev[d]);
		if (fuzz_stopped[d] && fuzz_vsock_qcount(d) != fuzz_qcount[d]) {
			fprintf(stderr, "device %u: a stopped queue was "
			    "used\n", d);
			abort();
		}
	}
}

/* Create device d (CID 3 + d) with keys from the header bytes. */
static struct vhd_dev *
fuzz_vsock_create(unsigned d, uint8_t b0, uint8_t b1)
{
	struct vhd_kv	 kv[6];
	struct vhd_dev	*dev;
	char		 cid[8], buf[16], conns[8], *cause = NULL;
	uint64_t	 f = 1ULL << VHD_F_VERSION_1;
	size_t		 n = 0;

	snprintf(cid, sizeof(cid), "%u", 3 + d);
	snprintf(buf, sizeof(buf), "%u", 4096u << (b1 % 4));
	snprintf(conns, sizeof(conns), "%u", 1 + (b0 >> 5));
	kv[n++] = (struct vhd_kv)FAKE_KV("guest-cid", cid);
	kv[n++] = (struct vhd_kv)FAKE_KV("uds-path", fuzz_uds[d]);
	kv[n++] = (struct vhd_kv)FAKE_KV("buf-size", buf);
	kv[n++] = (struct vhd_kv)FAKE_KV("max-connections", conns);
	kv[n++] = (struct vhd_kv)FAKE_KV("seqpacket", (b0 & 1) ? "off" :
	    "on");
	if (b0 & 2)
		kv[n++] = (struct vhd_kv)FAKE_KV("groups", "g");
	dev = fake_dev_new(vhd_module.ops, d == 0 ? "vsock0" : "vsock1");
	if (fake_dev_create(dev, kv, n, &cause) != 0) {
		fprintf(stderr, "create: %s\n", cause);
		abort();
	}
	if (b0 & 4)
		f |= 1ULL << VSOCK_F_STREAM;
	if (b0 & 8)
		f |= 1ULL << VSOCK_F_SEQPACKET;
	if (b0 & 16)
		f |= 1ULL << VSOCK_F_NO_IMPLIED;
	fake_dev_ack_features(dev, f);
	fake_queue_start(fake_queue(dev, VSOCK_RXQ));
	fake_queue_start(fake_queue(dev, VSOCK_TXQ));
	fake_queue_start(fake_queue(dev, VSOCK_EVQ));
	return (dev);
}

/* Operation tx: one guest packet. */
static void
fuzz_vsock_op_tx(struct fuzz_in *in)
{
	static const uint32_t	 dports[] = { 1234, 1235, 9,
	    VSOCK_LOCAL_PORT_BASE, VSOCK_LOCAL_PORT_BASE + 1,
	    VSOCK_LOCAL_PORT_BASE + 2, VSOCK_LOCAL_PORT_BASE + 3 };
	struct vsock_hdr	 h;
	struct vhd_chain	*c;
	const uint8_t		*pl;
	uint8_t			 a = fuzz_in_u8(in), dp;
	unsigned		 d = (a & 1) % fuzz_ndev;
	size_t			 plen, total, off, step;

	memset(&h, 0, sizeof(h));
	h.op = fuzz_in_u8(in) % 9;
	h.type = fuzz_in_u8(in) % 4;
	h.src_port = 5000 + fuzz_in_u8(in) % 4;
	dp = fuzz_in_u8(in);
	h.dst_port = dp % 8 < 7 ? dports[dp % 8] : dp;
	h.flags = fuzz_in_u8(in);
	h.buf_alloc = (uint32_t)fuzz_in_u16(in) * 4;
	h.fwd_cnt = fuzz_in_u16(in);
	plen = fuzz_in_u16(in) % 4096;
	pl = fuzz_in_bytes(in, plen, &plen);
	h.src_cid = (a & 8) ? 77 : 3 + d;
	h.dst_cid = (a & 16) ? 4 - d : VSOCK_HOST_CID;
	h.len = (uint32_t)plen + ((a & 32) ? 1 : 0);
	total = VSOCK_HDR_SIZE + plen;
	vsock_pkt_encode(&h, fuzz_buf);
	memcpy(fuzz_buf + VSOCK_HDR_SIZE, pl, plen);
	c = fake_chain_new(fake_queue(fuzz_dev[d], VSOCK_TXQ));
	switch ((a >> 1) & 3) {
	case 0:
		fake_chain_add_readable(c, fuzz_buf, total);
		break;
	case 1:
		fake_chain_add_readable(c, fuzz_buf, VSOCK_HDR_SIZE);
		if (plen > 0)
			fake_chain_add_readable(c, fuzz_buf + VSOCK_HDR_SIZE,
			    plen);
		break;
	case 2:
		for (off = 0; off < total; off += step) {
			step = total - off < 7 ? total - off : 7;
			fake_chain_add_readable(c, fuzz_buf + off, step);
		}
		break;
	default:
		fake_chain_add_readable(c, fuzz_buf, 20);
		fake_chain_add_readable(c, fuzz_buf + 20, total - 20);
		break;
	}
	fake_queue_kick(fake_queue(fuzz_dev[d], VSOCK_TXQ));
}

/* Operation rx: post rx buffers and kick. */
static void
fuzz_vsock_op_rx(struct fuzz_in *in)
{
	struct vhd_chain	*c;
	uint8_t			 a = fuzz_in_u8(in), sz = fuzz_in_u8(in);
	unsigned		 d = (a & 1) % fuzz_ndev, i;
	size_t			 size = sz == 255 ? 20 :
				    VSOCK_HDR_SIZE + (size_t)sz * 8;

	for (i = 0; i < 1u + a % 8; i++) {
		c = fake_chain_new(fake_queue(fuzz_dev[d], VSOCK_RXQ));
		if (a & 64)
			fake_chain_add_readable(c, "x", 1);
		if ((a & 128) && size > VSOCK_HDR_SIZE) {
			fake_chain_add_writable(c, VSOCK_HDR_SIZE, 0);
			fake_chain_add_writable(c, size - VSOCK_HDR_SIZE, 0);
		} else
			fake_chain_add_writable(c, size, 0);
	}
	fake_queue_kick(fake_queue(fuzz_dev[d], VSOCK_RXQ));
}

/* Operation connect: a host client sends a CONNECT line. */
static void
fuzz_vsock_op_connect(struct fuzz_in *in)
{
	struct sockaddr_un	 sun;
	const uint8_t		*line;
	char			 def[32];
	size_t			 len = fuzz_in_u8(in) % 80;
	int			 fd;

	line = fuzz_in_bytes(in, len, &len);
	if (len == 0) {
		len = (size_t)snprintf(def, sizeof(def), "CONNECT %u\n",
		    5000 + fuzz_nhost % 4);
		line = (const uint8_t *)def;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fuzz_uds[0]);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		abort();
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return;
	}
	(void)send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	fuzz_vsock_keep(fd);
}

/* Operation write: a host fd sends bytes. */
static void
fuzz_vsock_op_write(struct fuzz_in *in)
{
	const uint8_t	*data;
	uint8_t		 i = fuzz_in_u8(in);
	size_t		 len = fuzz_in_u16(in) % 8192;

	data = fuzz_in_bytes(in, len, &len);
	if (fuzz_nhost == 0)
		return;
	(void)send(fuzz_host[i % fuzz_nhost], data, len,
	    MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Operation read: a host fd takes what is there. */
static void
fuzz_vsock_op_read(struct fuzz_in *in)
{
	uint8_t	 i = fuzz_in_u8(in);

	if (fuzz_nhost == 0)
		return;
	while (recv(fuzz_host[i % fuzz_nhost], fuzz_buf, sizeof(fuzz_buf),
	    MSG_DONTWAIT) > 0)
		continue;
}

/* Operation close: a host fd closes or shuts down one way. */
static void
fuzz_vsock_op_close(struct fuzz_in *in)
{
	uint8_t		 i = fuzz_in_u8(in), how = fuzz_in_u8(in) % 3;
	unsigned	 k;

	if (fuzz_nhost == 0)
		return;
	k = i % fuzz_nhost;
	if (how == 0) {
		close(fuzz_host[k]);
		fuzz_host[k] = fuzz_host[--fuzz_nhost];
	} else
		(void)shutdown(fuzz_host[k], how == 1 ? SHUT_WR : SHUT_RD);
}

/* Operation accept: take the host ends of guest connects. */
static void
fuzz_vsock_op_accept(void)
{
	unsigned	 i;
	int		 fd;

	for (i = 0; i < 2; i++) {
		while ((fd = accept4(fuzz_lfd[i], NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1)
			fuzz_vsock_keep(fd);
	}
}

/* Stop device d's rx and tx (as QEMU's `stop`), once. */
static void
fuzz_vsock_stop(unsigned d)
{
	if (fuzz_stopped[d])
		return;
	fake_queue_stop(fake_queue(fuzz_dev[d], VSOCK_TXQ));
	fake_queue_stop(fake_queue(fuzz_dev[d], VSOCK_RXQ));
	fuzz_stopped[d] = 1;
	fuzz_qcount[d] = fuzz_vsock_qcount(d);
}

/* Start device d's rx and tx again if stopped (as QEMU's `cont`). */
static void
fuzz_vsock_start(unsigned d)
{
	if (!fuzz_stopped[d])
		return;
	fuzz_stopped[d] = 0;
	fake_queue_start(fake_queue(fuzz_dev[d], VSOCK_RXQ));
	fake_queue_start(fake_queue(fuzz_dev[d], VSOCK_TXQ));
}

/* Operation queues: pause and resume, stop, start, or reset. */
static void
fuzz_vsock_op_queues(struct fuzz_in *in)
{
	uint8_t		 a = fuzz_in_u8(in);
	unsigned	 d = (a & 1) % fuzz_ndev;

	switch ((a >> 1) & 3) {
	case 0:
		fuzz_vsock_stop(d);
		fuzz_vsock_start(d);
		break;
	case 1:
		fuzz_vsock_stop(d);
		break;
	case 2:
		fuzz_vsock_start(d);
		break;
	default:
		fuzz_vsock_stop(d);
		fake_queue_stop(fake_queue(fuzz_dev[d], VSOCK_EVQ));
		fake_dev_reset(fuzz_dev[d]);
		fake_queue_start(fake_queue(fuzz_dev[d], VSOCK_EVQ));
		fuzz_vsock_start(d);
		break;
	}
}

/*
 * Operation state (an opcode byte of 0xf0 or more): stop the queues of
 * device a&1; with a&2 save its state, reset it and load what was saved
 * (a&4: with the byte at n flipped): a save loaded unchanged must be
 * taken; else reset it and load n % 8192 bytes of input.  Start the
 * queues again.
 */
static void
fuzz_vsock_op_state(struct fuzz_in *in)
{
	const struct vhd_device_ops *ops = vhd_module.ops;
	const uint8_t	*p;
	uint8_t		 a = fuzz_in_u8(in), x = 0;
	uint16_t	 n = fuzz_in_u16(in);
	unsigned	 d = (a & 1) % fuzz_ndev;
	void		*buf = NULL;
	size_t		 len = 0, got;
	int		 rc;

	fuzz_vsock_stop(d);
	if (a & 2) {
		if (ops->state_save(fuzz_dev[d], &buf, &len) != 0)
			abort();
		x = fuzz_in_u8(in);
	}
	fake_queue_stop(fake_queue(fuzz_dev[d], VSOCK_EVQ));
	fake_dev_reset(fuzz_dev[d]);
	fake_queue_start(fake_queue(fuzz_dev[d], VSOCK_EVQ));
	if (a & 2) {
		if ((a & 4) && len > 0)
			((uint8_t *)buf)[n % len] ^= x | 1;
		rc = ops->state_load(fuzz_dev[d], buf, len);
		if (!(a & 4) && rc != 0)
			abort();
		free(buf);
	} else {
		p = fuzz_in_bytes(in, n % 8192, &got);
		(void)ops->state_load(fuzz_dev[d], p, got);
	}
	fuzz_vsock_start(d);
}

/* Operation config: read config space. */
static void
fuzz_vsock_op_config(struct fuzz_in *in)
{
	uint8_t		 cfg[16];
	uint32_t	 off = fuzz_in_u8(in) % 10, len = fuzz_in_u8(in) % 10;
	uint64_t	 cid = 0;
	unsigned	 i;

	if (fake_dev_get_config(fuzz_dev[0], off, cfg, len) == 0 &&
	    off == 0 && len == 8) {
		for (i = 0; i < 8; i++)
			cid |= (uint64_t)cfg[i] << (8 * i);
		if (cid != 3)
			abort();
	}
}

/* Stop, check and free the devices; close every host fd. */
static void
fuzz_vsock_teardown(void)
{
	unsigned	 d;
	int		 fd;

	for (d = 0; d < fuzz_ndev; d++) {
		fuzz_vsock_stop(d);
		fake_queue_stop(fake_queue(fuzz_dev[d], VSOCK_EVQ));
		fake_dev_reset(fuzz_dev[d]);
		if (fake_dev_watches(fuzz_dev[d]) != 0) {
			fprintf(stderr, "%u watches left\n",
			    fake_dev_watches(fuzz_dev[d]));
			abort();
		}
		fuzz_fake_check(fuzz_dev[d]);
	}
	for (d = 0; d < fuzz_ndev; d++)
		fake_dev_free(fuzz_dev[d]);
	fuzz_ndev = 0;
	while (fuzz_nhost > 0)
		close(fuzz_host[--fuzz_nhost]);
	for (d = 0; d < 2; d++) {
		while ((fd = accept4(fuzz_lfd[d], NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1)
			close(fd);
	}
}

/* One input: create, run the operations, tear down, check fds. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in	 in = { data, size };
	unsigned	 fds, ops = 0;
	uint8_t		 b0, b1, op;

	if (size < 2)
		return (0);
	fds = fuzz_fake_fds();
	b0 = fuzz_in_u8(&in);
	b1 = fuzz_in_u8(&in);
	fuzz_ndev = 0;
	memset(fuzz_rx_seen, 0, sizeof(fuzz_rx_seen));
	memset(fuzz_stopped, 0, sizeof(fuzz_stopped));
	fuzz_dev[fuzz_ndev++] = fuzz_vsock_create(0, b0, b1);
	if (b0 & 2)
		fuzz_dev[fuzz_ndev++] = fuzz_vsock_create(1, b0, b1);

	while (in.n > 0 && ops++ < FUZZ_OPS) {
		op = fuzz_in_u8(&in);
		if (op >= 0xf0) {
			fuzz_vsock_op_state(&in);
			fuzz_vsock_check();
			continue;
		}
		op %= 11;
		switch (op) {
		case 0:
			fuzz_vsock_op_tx(&in);
			break;
		case 1:
			fuzz_vsock_op_rx(&in);
			break;
		case 2:
			(void)fuzz_fake_loop(fuzz_dev[0], 64);
			if (fuzz_ndev > 1)
				(void)fuzz_fake_loop(fuzz_dev[1], 64);
			break;
		case 3:
			op = fuzz_in_u8(&in);
			(void)fuzz_fake_timer(fuzz_dev[(op & 1) % fuzz_ndev],
			    op >> 1);
			break;
		case 4:
			fuzz_vsock_op_connect(&in);
			break;
		case 5:
			fuzz_vsock_op_write(&in);
			break;
		case 6:
			fuzz_vsock_op_read(&in);
			break;
		case 7:
			fuzz_vsock_op_close(&in);
			break;
		case 8:
			fuzz_vsock_op_accept();
			break;
		case 9:
			fuzz_vsock_op_queues(&in);
			break;
		default:
			fuzz_vsock_op_config(&in);
			break;
		}
		fuzz_vsock_check();
	}
	fuzz_vsock_teardown();
	if (fuzz_fake_fds() != fds) {
		fprintf(stderr, "fd leak: %u fds before, %u after\n", fds,
		    fuzz_fake_fds());
		abort();
	}
	return (0);
}
