/*
 * libFuzzer target: the console module (the control protocol on c_ovq
 * and c_ivq, port data both ways, backlog and backpressure, client
 * attach and detach, emergency writes, reset) driven through its ops on
 * the fake daemon of tests/fake_api.c, with real unix sockets (and a pty)
 * in a temp dir.
 *
 * Four ports: 0 unix (a pty if byte 0 bit 0), 1 named unix, 2 named file
 * (/dev/null), 3 named unix with the smallest backlog.  Input layout:
 *   byte 0	bit 0: port 0 is a pty; bit 1: client=replace on port 1;
 *		bit 2: resize-order rows-cols; bits 3-5: ack F_SIZE,
 *		F_MULTIPORT, F_EMERG_WRITE
 *   byte 1	backlog 4096 << (b % 3)
 *   then operations, each an opcode byte (mod 12) and its arguments:
 *   0 ctrl	len, id, event, value(2), a: a driver -> device control
 *		message of len % 16 bytes (id: port 0..3, 30 or
 *		0xffffffff; event % 10), split in two buffers if a&1
 *   1 cpost	n, len: post 1 + n%4 c_ivq buffers of len % 160 bytes
 *   2 tx	port, a, len(2), data: guest output on the port's tx queue
 *		(a&1: in 3-byte pieces; a&2: a writable buffer too)
 *   3 rx	port, n, size: post 1 + n%4 rx buffers of size bytes
 *   4 loop	fire the fd watches whose fds are ready
 *   5 timer	n: fire the n-th armed timer
 *   6 attach	port: a client connects to port 0, 1 or 3 (unix ports)
 *   7 write	i, len, data: client i writes
 *   8 read	i: client i reads what is there
 *   9 close	i, how: client i closes or shuts down one way
 *   10 restart	a: stop every queue, reset the device if a&1, ack the
 *		features again, start every queue
 *   11 config	off, len, byte: read config space; write it if len&16
 *   an opcode byte of 0xf0 or more: state a, x, n(2) (see
 *		fuzz_console_op_state: save/load round trips and raw state
 *		streams)
 * Oracles: sanitizers; no API misuse recorded by the fake; every control
 * message to the driver well formed; no watch left after the queues stop;
 * the process holds the same fds after each input.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "fake_api.h"
#include "fuzz_fake.h"
#include "console.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

extern const struct vhd_module vhd_module;

#define FUZZ_NPORTS	4
#define FUZZ_CLIENTS	8
#define FUZZ_OPS	512

static char		 fuzz_dir[64];
static char		 fuzz_path[FUZZ_NPORTS][96];
static int		 fuzz_cl[FUZZ_CLIENTS];
static unsigned		 fuzz_ncl;
static struct vhd_dev	*fuzz_dev;
static uint64_t		 fuzz_features;
static unsigned		 fuzz_ctrl_seen;
static uint8_t		 fuzz_buf[65536];

/* Remove the temp dir at exit. */
static void
fuzz_console_cleanup(void)
{
	unsigned	 i;

	for (i = 0; i < FUZZ_NPORTS; i++)
		unlink(fuzz_path[i]);
	rmdir(fuzz_dir);
}

/* Make the temp dir once per process. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned	 i;

	(void)argc;
	(void)argv;
	strcpy(fuzz_dir, "/tmp/fuzz_console.XXXXXX");
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	for (i = 0; i < FUZZ_NPORTS; i++)
		snprintf(fuzz_path[i], sizeof(fuzz_path[i]), "%s/c%u",
		    fuzz_dir, i);
	atexit(fuzz_console_cleanup);
	return (0);
}

/* The queue index of a port's rx (tx is the next one). */
static unsigned
fuzz_console_rxq(unsigned port)
{
	return (port == 0 ? 0 : 4 + 2 * (port - 1));
}

/* Check the control messages pushed on c_ivq since the last look. */
static void
fuzz_console_check(void)
{
	struct vhd_queue	*q = fake_queue(fuzz_dev, CONSOLE_Q_CTRL_RX);
	struct vhd_chain	*c;
	uint8_t			 m[CONSOLE_CTRL_SIZE + CONSOLE_NAME_MAX + 4];
	uint32_t		 used, id;
	uint16_t		 ev;

	while ((c = fake_queue_pushed(q, fuzz_ctrl_seen)) != NULL) {
		fuzz_ctrl_seen++;
		if ((used = fake_chain_used(c)) == 0)
			continue;
		if (used < CONSOLE_CTRL_SIZE || used > sizeof(m))
			abort();
		(void)fake_chain_written(c, m, used);
		id = (uint32_t)m[0] | (uint32_t)m[1] << 8 |
		    (uint32_t)m[2] << 16 | (uint32_t)m[3] << 24;
		ev = (uint16_t)(m[4] | m[5] << 8);
		if (id >= FUZZ_NPORTS || ev >= CONSOLE_NEVENTS ||
		    ev == CONSOLE_DEVICE_READY || ev == CONSOLE_PORT_READY ||
		    (ev == CONSOLE_RESIZE && (id != 0 || used != 12)) ||
		    (ev != CONSOLE_RESIZE && ev != CONSOLE_PORT_NAME &&
		    used != CONSOLE_CTRL_SIZE))
			abort();
	}
	fuzz_fake_check(fuzz_dev);
}

/* Start every queue. */
static void
fuzz_console_start(void)
{
	unsigned	 i, n = fake_dev_info(fuzz_dev)->num_queues;

	fake_dev_ack_features(fuzz_dev, fuzz_features);
	for (i = 0; i < n; i++)
		fake_queue_start(fake_queue(fuzz_dev, i));
}

/* Stop every queue. */
static void
fuzz_console_stop(void)
{
	unsigned	 i, n = fake_dev_info(fuzz_dev)->num_queues;

	for (i = 0; i < n; i++)
		fake_queue_stop(fake_queue(fuzz_dev, i));
}

/* Create the device from the header bytes and start it. */
static void
fuzz_console_create(uint8_t b0, uint8_t b1)
{
	struct vhd_kv	 kv[6];
	char		 p0[128], p1[160], p3[160], bl[16], *cause = NULL;

	if (b0 & 1)
		snprintf(p0, sizeof(p0), "pty");
	else
		snprintf(p0, sizeof(p0), "unix=%s", fuzz_path[0]);
	snprintf(p1, sizeof(p1), "name=org.fuzz.one,unix=%s,client=%s",
	    fuzz_path[1], (b0 & 2) ? "replace" : "refuse");
	snprintf(p3, sizeof(p3), "name=org.fuzz.three,unix=%s,backlog=4096",
	    fuzz_path[3]);
	snprintf(bl, sizeof(bl), "%u", 4096u << (b1 % 3));
	kv[0] = (struct vhd_kv)FAKE_KV("port0", p0);
	kv[1] = (struct vhd_kv)FAKE_KV("port1", p1);
	kv[2] = (struct vhd_kv)FAKE_KV("port2",
	    "name=org.fuzz.two,file=/dev/null");
	kv[3] = (struct vhd_kv)FAKE_KV("port3", p3);
	kv[4] = (struct vhd_kv)FAKE_KV("backlog", bl);
	kv[5] = (struct vhd_kv)FAKE_KV("resize-order", (b0 & 4) ?
	    "rows-cols" : "cols-rows");
	fuzz_dev = fake_dev_new(vhd_module.ops, "console0");
	if (fake_dev_create(fuzz_dev, kv, 6, &cause) != 0) {
		fprintf(stderr, "create: %s\n", cause);
		abort();
	}
	fuzz_features = 1ULL << VHD_F_VERSION_1;
	if (b0 & 8)
		fuzz_features |= 1ULL << CONSOLE_F_SIZE;
	if (b0 & 16)
		fuzz_features |= 1ULL << CONSOLE_F_MULTIPORT;
	if (b0 & 32)
		fuzz_features |= 1ULL << CONSOLE_F_EMERG_WRITE;
	fuzz_ctrl_seen = 0;
	fuzz_console_start();
}

/* Operation ctrl: one driver -> device control message. */
static void
fuzz_console_op_ctrl(struct fuzz_in *in)
{
	static const uint32_t	 ids[] = { 0, 1, 2, 3, 30, 0xffffffffU };
	struct vhd_chain	*c;
	uint8_t			 m[16];
	size_t			 len = fuzz_in_u8(in) % 16;
	uint32_t		 id = ids[fuzz_in_u8(in) % 6];
	uint16_t		 ev = fuzz_in_u8(in) % 10, val;
	uint8_t			 a;

	val = fuzz_in_u16(in);
	a = fuzz_in_u8(in);
	memset(m, 0xa5, sizeof(m));
	m[0] = (uint8_t)id;
	m[1] = (uint8_t)(id >> 8);
	m[2] = (uint8_t)(id >> 16);
	m[3] = (uint8_t)(id >> 24);
	m[4] = (uint8_t)ev;
	m[5] = (uint8_t)(ev >> 8);
	m[6] = (uint8_t)val;
	m[7] = (uint8_t)(val >> 8);
	c = fake_chain_new(fake_queue(fuzz_dev, CONSOLE_Q_CTRL_TX));
	if ((a & 1) && len > 1) {
		fake_chain_add_readable(c, m, len / 2);
		fake_chain_add_readable(c, m + len / 2, len - len / 2);
	} else
		fake_chain_add_readable(c, m, len);
	fake_queue_kick(fake_queue(fuzz_dev, CONSOLE_Q_CTRL_TX));
}

/* Operation cpost: control buffers for the device. */
static void
fuzz_console_op_cpost(struct fuzz_in *in)
{
	struct vhd_chain	*c;
	unsigned		 n = 1 + fuzz_in_u8(in) % 4, i;
	size_t			 len = fuzz_in_u8(in) % 160;

	for (i = 0; i < n; i++) {
		c = fake_chain_new(fake_queue(fuzz_dev, CONSOLE_Q_CTRL_RX));
		fake_chain_add_writable(c, len, 0xee);
	}
	fake_queue_kick(fake_queue(fuzz_dev, CONSOLE_Q_CTRL_RX));
}

/* Operation tx: guest output on a port. */
static void
fuzz_console_op_tx(struct fuzz_in *in)
{
	struct vhd_chain	*c;
	const uint8_t		*data;
	unsigned		 port = fuzz_in_u8(in) % FUZZ_NPORTS;
	uint8_t			 a = fuzz_in_u8(in);
	size_t			 len = fuzz_in_u16(in) % 16384, off, n;

	data = fuzz_in_bytes(in, len, &len);
	c = fake_chain_new(fake_queue(fuzz_dev, fuzz_console_rxq(port) + 1));
	if (a & 1) {
		for (off = 0; off < len; off += n) {
			n = len - off < 3 ? len - off : 3;
			fake_chain_add_readable(c, data + off, n);
		}
	} else
		fake_chain_add_readable(c, data, len);
	if (a & 2)
		fake_chain_add_writable(c, 8, 0);
	fake_queue_kick(fake_queue(fuzz_dev, fuzz_console_rxq(port) + 1));
}

/* Operation rx: input buffers on a port. */
static void
fuzz_console_op_rx(struct fuzz_in *in)
{
	struct vhd_chain	*c;
	unsigned		 port = fuzz_in_u8(in) % FUZZ_NPORTS;
	unsigned		 n = 1 + fuzz_in_u8(in) % 4, i;
	size_t			 size = fuzz_in_u8(in);

	for (i = 0; i < n; i++) {
		c = fake_chain_new(fake_queue(fuzz_dev,
		    fuzz_console_rxq(port)));
		fake_chain_add_writable(c, size * 16, 0);
	}
	fake_queue_kick(fake_queue(fuzz_dev, fuzz_console_rxq(port)));
}

/* Operation attach: a client connects to a unix port. */
static void
fuzz_console_op_attach(struct fuzz_in *in)
{
	static const unsigned	 ports[] = { 0, 1, 3 };
	struct sockaddr_un	 sun;
	unsigned		 port = ports[fuzz_in_u8(in) % 3];
	int			 fd;

	if (fuzz_ncl == FUZZ_CLIENTS)
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fuzz_path[port]);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		abort();
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return;
	}
	fuzz_cl[fuzz_ncl++] = fd;
}

/* Operation write: a client writes. */
static void
fuzz_console_op_write(struct fuzz_in *in)
{
	const uint8_t	*data;
	uint8_t		 i = fuzz_in_u8(in);
	size_t		 len = fuzz_in_u16(in) % 8192;

	data = fuzz_in_bytes(in, len, &len);
	if (fuzz_ncl == 0)
		return;
	(void)send(fuzz_cl[i % fuzz_ncl], data, len,
	    MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Operation read: a client reads what is there. */
static void
fuzz_console_op_read(struct fuzz_in *in)
{
	uint8_t	 i = fuzz_in_u8(in);

	if (fuzz_ncl == 0)
		return;
	while (recv(fuzz_cl[i % fuzz_ncl], fuzz_buf, sizeof(fuzz_buf),
	    MSG_DONTWAIT) > 0)
		continue;
}

/* Operation close: a client closes or shuts down one way. */
static void
fuzz_console_op_close(struct fuzz_in *in)
{
	uint8_t		 i = fuzz_in_u8(in), how = fuzz_in_u8(in) % 3;
	unsigned	 k;

	if (fuzz_ncl == 0)
		return;
	k = i % fuzz_ncl;
	if (how == 0) {
		close(fuzz_cl[k]);
		fuzz_cl[k] = fuzz_cl[--fuzz_ncl];
	} else
		(void)shutdown(fuzz_cl[k], how == 1 ? SHUT_WR : SHUT_RD);
}

/* Operation restart: stop, maybe reset, start. */
static void
fuzz_console_op_restart(struct fuzz_in *in)
{
	uint8_t	 a = fuzz_in_u8(in);

	fuzz_console_stop();
	if (a & 1)
		fake_dev_reset(fuzz_dev);
	fuzz_console_start();
}

/* Operation config: read (and write) config space. */
static void
fuzz_console_op_config(struct fuzz_in *in)
{
	uint8_t		 cfg[16];
	uint32_t	 off = fuzz_in_u8(in) % 14, len = fuzz_in_u8(in);
	uint8_t		 b = fuzz_in_u8(in);

	memset(cfg, b, sizeof(cfg));
	if (len & 16)
		(void)fake_dev_set_config(fuzz_dev, off, cfg, len % 14);
	else if (fake_dev_get_config(fuzz_dev, off, cfg, len % 14) == 0 &&
	    off <= 4 && off + len % 14 >= 5 && cfg[4 - off] != FUZZ_NPORTS)
		abort();
}

/*
 * Operation state (an opcode byte of 0xf0 or more): stop every queue;
 * with a&1 save the state and load it back (a&2: with the byte at n
 * flipped): a save loaded unchanged must be taken; else load n % 8192
 * bytes of input.  Start every queue again.
 */
static void
fuzz_console_op_state(struct fuzz_in *in)
{
	const struct vhd_device_ops *ops = vhd_module.ops;
	const uint8_t	*p;
	uint8_t		 a = fuzz_in_u8(in), x = fuzz_in_u8(in);
	uint16_t	 n = fuzz_in_u16(in);
	void		*buf = NULL;
	size_t		 len = 0, got;
	int		 rc;

	fuzz_console_stop();
	if (a & 1) {
		if (ops->state_save(fuzz_dev, &buf, &len) != 0)
			abort();
		if ((a & 2) && len > 0)
			((uint8_t *)buf)[n % len] ^= x | 1;
		rc = ops->state_load(fuzz_dev, buf, len);
		if (!(a & 2) && rc != 0)
			abort();
		free(buf);
	} else {
		p = fuzz_in_bytes(in, n % 8192, &got);
		(void)ops->state_load(fuzz_dev, p, got);
	}
	fuzz_console_start();
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
	fuzz_console_create(b0, b1);

	while (in.n > 0 && ops++ < FUZZ_OPS) {
		op = fuzz_in_u8(&in);
		if (op >= 0xf0) {
			fuzz_console_op_state(&in);
			fuzz_console_check();
			continue;
		}
		op %= 12;
		switch (op) {
		case 0:
			fuzz_console_op_ctrl(&in);
			break;
		case 1:
			fuzz_console_op_cpost(&in);
			break;
		case 2:
			fuzz_console_op_tx(&in);
			break;
		case 3:
			fuzz_console_op_rx(&in);
			break;
		case 4:
			(void)fuzz_fake_loop(fuzz_dev, 64);
			break;
		case 5:
			(void)fuzz_fake_timer(fuzz_dev, fuzz_in_u8(&in));
			break;
		case 6:
			fuzz_console_op_attach(&in);
			break;
		case 7:
			fuzz_console_op_write(&in);
			break;
		case 8:
			fuzz_console_op_read(&in);
			break;
		case 9:
			fuzz_console_op_close(&in);
			break;
		case 10:
			fuzz_console_op_restart(&in);
			break;
		default:
			fuzz_console_op_config(&in);
			break;
		}
		fuzz_console_check();
	}

	fuzz_console_stop();
	if (fake_dev_watches(fuzz_dev) != 0) {
		fprintf(stderr, "%u watches left\n",
		    fake_dev_watches(fuzz_dev));
		abort();
	}
	fuzz_console_check();
	fake_dev_free(fuzz_dev);
	fuzz_dev = NULL;
	while (fuzz_ncl > 0)
		close(fuzz_cl[--fuzz_ncl]);
	if (fuzz_fake_fds() != fds) {
		fprintf(stderr, "fd leak: %u fds before, %u after\n", fds,
		    fuzz_fake_fds());
		abort();
	}
	return (0);
}
