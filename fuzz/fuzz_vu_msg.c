/*
 * libFuzzer target: the vhost-user message handler of a real device
 * (device_create_ops, two queues on two workers, 8 bytes of config), fed
 * byte sequences through a socketpair, with fds simulated by memfds and
 * eventfds that the harness creates and attaches as the input says.
 *
 * The input is a list of records, each starting with an opcode byte:
 *   0 SEND   nfds, nfds kind bytes, u16 length, that many stream bytes;
 *            the bytes go to the daemon in one sendmsg with the fds
 *   1 WRITE  slot, u16 offset, u8 length, bytes: written into memfd
 *            `slot` (guest memory the harness handed over)
 *   2 KICK   slot: eventfd `slot` written (a guest kick)
 *   3 DROP   the frontend closes its end and reconnects
 * Stream bytes are raw vhost-user framing: headers, payloads, anything.
 * Ring fds are attached by kind, so SET_VRING_CALL/KICK/ERR can swap
 * eventfds (or offer pipes and memfds) under a running queue, and
 * REM_MEM_REG/ADD_MEM_REG can take away and bring back the region under
 * a running ring while WRITE keeps changing it (seeds fd_swaps_running,
 * stop_cont, rem_add_running).
 * After every record the main loop runs until the daemon has read all it
 * was sent; replies are drained and their fds closed.  At the end the
 * connection is closed and the device must have reset itself, and the
 * process must hold exactly the fds it held before the input (the
 * CVE-2019-14818 class: fds leaked by a hostile frontend).
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <vhostd/vhostd.h>

#include "conf.h"
#include "device.h"
#include "log.h"
#include "vring.h"
#include "vu_conn.h"
#include "vu_conn_priv.h"
#include "worker.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_SLOTS	8		/* memfds and eventfds remembered */
#define FUZZ_LOOPS	256		/* main-loop passes per record */

enum fuzz_vu_msg_op {
	FUZZ_OP_SEND,
	FUZZ_OP_WRITE,
	FUZZ_OP_KICK,
	FUZZ_OP_DROP,
	FUZZ_OP_COUNT,
};

/* Sizes of the memfds a SEND may attach (kinds 0..3). */
static const off_t fuzz_vu_msg_memfd_size[] = {
	0x10000, 0x100000, 0, 0x1000,
};

static const struct vhd_api	*fuzz_api;
static struct event_base	*fuzz_base;
static struct device		*fuzz_dev;
static int			 fuzz_fe = -1;	/* our end */
static int			 fuzz_memfd[FUZZ_SLOTS];
static off_t			 fuzz_memfd_len[FUZZ_SLOTS];
static unsigned			 fuzz_nmemfd;
static int			 fuzz_evfd[FUZZ_SLOTS];
static unsigned			 fuzz_nevfd;
static uint8_t			 fuzz_config[8];
static char			 fuzz_dir[64];
static char			 fuzz_sock[128];

/* Module create: two queues, one per worker, 8 bytes of config. */
static int
fuzz_vu_msg_create(struct vhd_dev *dev __unused, const struct vhd_api *api,
    const struct vhd_kv *kv __unused, size_t nkv __unused,
    struct vhd_dev_info *info, char **cause __unused)
{
	fuzz_api = api;
	info->device_id = 4;
	info->num_queues = 2;
	info->max_queue_size = 256;
	info->features = 1ULL << 0;
	info->config_size = sizeof fuzz_config;
	info->num_workers = 2;
	info->queue_masks[0] = 0x1;
	info->queue_masks[1] = 0x2;
	/* Inflight tracking offered: GET/SET_INFLIGHT_FD reach their
	 * handlers (seeds inflight, inflight_garbage, inflight_lies). */
	info->flags = VHD_DEV_F_INFLIGHT;
	return (0);
}

/* Queue handler: read and write every chain, map it, push it. */
static void
fuzz_vu_msg_queue(struct vhd_dev *dev __unused, struct vhd_queue *q)
{
	struct vhd_chain	*c;
	struct iovec		 iov[4];
	uint8_t			 buf[64];
	ssize_t			 n;
	unsigned		 i = 0;

	while (i++ < 512 && (c = fuzz_api->queue_pop(q)) != NULL) {
		(void)fuzz_api->chain_read(c, 0, buf, sizeof buf);
		(void)fuzz_api->chain_iov(c, 0, 1, iov, 4);
		(void)fuzz_api->chain_iov(c, 1, 0, iov, 4);
		n = fuzz_api->chain_write(c, 1, "vhostd", 6);
		fuzz_api->queue_push(q, c, n > 0 ? (uint32_t)n : 0);
	}
	fuzz_api->queue_notify(q);
}

/* Config space reads; the core has checked the range. */
static int
fuzz_vu_msg_get_config(struct vhd_dev *dev __unused, uint32_t off,
    void *buf, uint32_t len)
{
	memcpy(buf, fuzz_config + off, len);
	return (0);
}

/* Config space writes; the core has checked the range. */
static int
fuzz_vu_msg_set_config(struct vhd_dev *dev __unused, uint32_t off,
    const void *buf, uint32_t len)
{
	memcpy(fuzz_config + off, buf, len);
	return (0);
}

/* GET_SHARED_OBJECT: a fresh memfd for uuid[0] even, none otherwise. */
static int
fuzz_vu_msg_shared_object(struct vhd_dev *dev __unused,
    const uint8_t uuid[16])
{
	if (uuid[0] & 1)
		return (-1);
	return (memfd_create("fuzz-shared", MFD_CLOEXEC));
}

static const struct vhd_device_ops fuzz_vu_msg_ops = {
	.size = sizeof(struct vhd_device_ops),
	.create = fuzz_vu_msg_create,
	.queue_handler = fuzz_vu_msg_queue,
	.get_config = fuzz_vu_msg_get_config,
	.set_config = fuzz_vu_msg_set_config,
	.get_shared_object = fuzz_vu_msg_shared_object,
};

/* Count the fds this process holds. */
static int
fuzz_vu_msg_nfds(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		abort();
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return (n);
}

/* Remove the socket and its directory at exit. */
static void
fuzz_vu_msg_cleanup(void)
{
	if (fuzz_sock[0] != '\0')
		unlink(fuzz_sock);
	if (fuzz_dir[0] != '\0')
		rmdir(fuzz_dir);
}

/* Create the device once per process. */
int
LLVMFuzzerInitialize(int *argc __unused, char ***argv __unused)
{
	struct conf_device	 cd;
	char			*cause = NULL;

	log_init(getenv("FUZZ_VERBOSE") != NULL ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_ERR, 0);
	log_setname("fuzz");
	if (evthread_use_pthreads() != 0)
		abort();
	snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/fuzz_vu_msg.XXXXXX");
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	snprintf(fuzz_sock, sizeof fuzz_sock, "%s/s", fuzz_dir);
	atexit(fuzz_vu_msg_cleanup);

	memset(&cd, 0, sizeof cd);
	cd.name = (char *)(uintptr_t)"fuzz0";
	cd.module = (char *)(uintptr_t)"fuzz";
	cd.socket = fuzz_sock;
	TAILQ_INIT(&cd.options);
	if ((fuzz_base = event_base_new()) == NULL)
		abort();
	fuzz_dev = device_create_ops(fuzz_base, "fuzz0", &fuzz_vu_msg_ops,
	    &cd, &cause);
	if (fuzz_dev == NULL) {
		fprintf(stderr, "device_create_ops: %s\n", cause);
		abort();
	}
	return (0);
}

/* Read and discard whatever the daemon sent us, closing received fds. */
static void
fuzz_vu_msg_drain(void)
{
	union {
		struct cmsghdr	 hdr;
		unsigned char	 buf[CMSG_SPACE(sizeof(int) * 16)];
	} cmsgbuf;
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	uint8_t		 buf[8192];
	int		 fd;
	size_t		 i, n;

	for (;;) {
		memset(&mh, 0, sizeof mh);
		iov.iov_base = buf;
		iov.iov_len = sizeof buf;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cmsgbuf.buf;
		mh.msg_controllen = sizeof cmsgbuf.buf;
		if (recvmsg(fuzz_fe, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
			return;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
		    cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET ||
			    cm->cmsg_type != SCM_RIGHTS)
				continue;
			n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < n; i++) {
				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
				    sizeof fd);
				close(fd);
			}
		}
	}
}

/* Run the main loop until the daemon has read everything we sent (or
 * dropped the connection). */
static void
fuzz_vu_msg_run(void)
{
	int	 i, pending;

	for (i = 0; i < FUZZ_LOOPS; i++) {
		event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
		fuzz_vu_msg_drain();
		if (fuzz_dev->conn == NULL)
			return;
		if (ioctl(fuzz_dev->conn->fd, FIONREAD, &pending) == -1 ||
		    pending == 0)
			return;
	}
}

/* Connect a new frontend: a socketpair whose other end the device
 * takes, as device_accept_cb would. */
static void
fuzz_vu_msg_connect(void)
{
	int	 sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1)
		abort();
	fuzz_fe = sv[1];
	fuzz_dev->conn = vu_conn_new(fuzz_dev, sv[0]);
}

/* Close our end and let the device see the disconnect. */
static void
fuzz_vu_msg_disconnect(void)
{
	int	 i;

	if (fuzz_fe != -1)
		close(fuzz_fe);
	fuzz_fe = -1;
	for (i = 0; i < FUZZ_LOOPS && fuzz_dev->conn != NULL; i++)
		event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
	if (fuzz_dev->conn != NULL)
		abort();		/* EOF must drop the connection */
}

/* Make one fd of kind `k` for a SEND; -1 when it cannot be made. */
static int
fuzz_vu_msg_make_fd(uint8_t k)
{
	int	 fd, p[2];
	off_t	 len;

	switch (k % 9) {
	case 0: case 1: case 2: case 3: case 8:
		/* Kind 8: 64 KiB that may be sealed (a dirty log). */
		len = fuzz_vu_msg_memfd_size[k == 8 ? 0 : k % 4];
		if ((fd = memfd_create("fuzz-guest", MFD_CLOEXEC |
		    (k == 8 ? MFD_ALLOW_SEALING : 0))) == -1)
			return (-1);
		if (ftruncate(fd, len) == -1) {
			close(fd);
			return (-1);
		}
		if (fuzz_nmemfd == FUZZ_SLOTS) {
			close(fuzz_memfd[0]);
			memmove(fuzz_memfd, fuzz_memfd + 1,
			    (FUZZ_SLOTS - 1) * sizeof fuzz_memfd[0]);
			memmove(fuzz_memfd_len, fuzz_memfd_len + 1,
			    (FUZZ_SLOTS - 1) * sizeof fuzz_memfd_len[0]);
			fuzz_nmemfd--;
		}
		fuzz_memfd[fuzz_nmemfd] = dup(fd);
		fuzz_memfd_len[fuzz_nmemfd++] = len;
		return (fd);
	case 4: case 5:
		if ((fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1)
			return (-1);
		if (fuzz_nevfd == FUZZ_SLOTS) {
			close(fuzz_evfd[0]);
			memmove(fuzz_evfd, fuzz_evfd + 1,
			    (FUZZ_SLOTS - 1) * sizeof fuzz_evfd[0]);
			fuzz_nevfd--;
		}
		fuzz_evfd[fuzz_nevfd++] = dup(fd);
		return (fd);
	case 6:
		if (pipe2(p, O_CLOEXEC) == -1)
			return (-1);
		close(p[1]);
		return (p[0]);
	default:
		return (open("/dev/null", O_RDWR | O_CLOEXEC));
	}
}

/* SEND: attach fds and write stream bytes.  Returns bytes consumed. */
static size_t
fuzz_vu_msg_send(const uint8_t *p, size_t len)
{
	union {
		struct cmsghdr	 hdr;
		unsigned char	 buf[CMSG_SPACE(sizeof(int) * 8)];
	} cmsgbuf;
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	int		 fds[8];
	size_t		 off = 0, n;
	unsigned	 nfds, i, got = 0;
	ssize_t		 r;
	uint8_t		 zero = 0;

	if (len < 1)
		return (len);
	nfds = p[off++] % 9;
	for (i = 0; i < nfds && off < len; i++) {
		if ((fds[got] = fuzz_vu_msg_make_fd(p[off++])) != -1)
			got++;
	}
	n = 0;
	if (off + 2 <= len) {
		n = (size_t)p[off] | (size_t)p[off + 1] << 8;
		off += 2;
	}
	if (n > len - off)
		n = len - off;

	/* The fds ride on the first byte (a zero byte when there is no
	 * data, which still is one stream byte). */
	memset(&mh, 0, sizeof mh);
	iov.iov_base = n > 0 ? (void *)(uintptr_t)(p + off) : &zero;
	iov.iov_len = n > 0 ? n : 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (got > 0) {
		memset(&cmsgbuf, 0, sizeof cmsgbuf);
		mh.msg_control = cmsgbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * got);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * got);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * got);
	}
	if (got == 0 && n == 0)
		goto out;
	while (iov.iov_len > 0) {
		r = sendmsg(fuzz_fe, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r == -1 && errno == EAGAIN) {
			fuzz_vu_msg_run();
			if (fuzz_dev->conn == NULL)
				break;
			continue;
		}
		if (r <= 0)
			break;
		iov.iov_base = (uint8_t *)iov.iov_base + r;
		iov.iov_len -= (size_t)r;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
	}
out:
	for (i = 0; i < got; i++)
		close(fds[i]);
	return (off + n);
}

/* WRITE: put bytes into a memfd we handed over.  Bytes consumed. */
static size_t
fuzz_vu_msg_write(const uint8_t *p, size_t len)
{
	size_t	 n;
	off_t	 off;
	unsigned slot;

	if (len < 4)
		return (len);
	slot = p[0];
	off = (off_t)p[1] | (off_t)p[2] << 8;
	n = p[3];
	if (n > len - 4)
		n = len - 4;
	if (fuzz_nmemfd > 0) {
		slot %= fuzz_nmemfd;
		if (fuzz_memfd_len[slot] > 0)
			(void)pwrite(fuzz_memfd[slot], p + 4, n,
			    off % fuzz_memfd_len[slot]);
	}
	return (4 + n);
}

/* KICK: write an eventfd we handed over; let the workers run it. */
static size_t
fuzz_vu_msg_kick(const uint8_t *p, size_t len)
{
	unsigned	 i;

	if (len < 1)
		return (len);
	if (fuzz_nevfd > 0)
		(void)eventfd_write(fuzz_evfd[p[0] % fuzz_nevfd], 1);
	for (i = 0; i < fuzz_dev->nworkers; i++)
		worker_sync(fuzz_dev->workers[i]);
	return (1);
}

/* Close every fd the harness kept. */
static void
fuzz_vu_msg_forget(void)
{
	unsigned	 i;

	for (i = 0; i < fuzz_nmemfd; i++)
		close(fuzz_memfd[i]);
	for (i = 0; i < fuzz_nevfd; i++)
		close(fuzz_evfd[i]);
	fuzz_nmemfd = fuzz_nevfd = 0;
}

/* One input: records until the end, then disconnect and check. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t	 off = 0;
	int	 before;
	uint8_t	 op;

	before = fuzz_vu_msg_nfds();
	fuzz_vu_msg_connect();
	while (off < size) {
		op = data[off++] % FUZZ_OP_COUNT;
		switch (op) {
		case FUZZ_OP_SEND:
			off += fuzz_vu_msg_send(data + off, size - off);
			break;
		case FUZZ_OP_WRITE:
			off += fuzz_vu_msg_write(data + off, size - off);
			break;
		case FUZZ_OP_KICK:
			off += fuzz_vu_msg_kick(data + off, size - off);
			break;
		case FUZZ_OP_DROP:
			fuzz_vu_msg_disconnect();
			fuzz_vu_msg_connect();
			break;
		default:
			abort();
		}
		fuzz_vu_msg_run();
		if (fuzz_dev->conn == NULL) {
			/* The daemon dropped us: reconnect as a VMM would. */
			close(fuzz_fe);
			fuzz_fe = -1;
			fuzz_vu_msg_connect();
		}
	}
	fuzz_vu_msg_disconnect();
	fuzz_vu_msg_forget();

	/* The disconnect reset everything the frontend set up. */
	if (device_mem(fuzz_dev) != NULL || fuzz_dev->owned ||
	    fuzz_dev->vrings[0].kick_fd != -1 ||
	    fuzz_dev->vrings[1].call_fd != -1 ||
	    fuzz_dev->vrings[0].started || fuzz_dev->vrings[1].started)
		abort();
	if (fuzz_vu_msg_nfds() != before) {
		fprintf(stderr, "fd leak: %d fds before the input, %d after\n",
		    before, fuzz_vu_msg_nfds());
		abort();
	}
	return (0);
}
