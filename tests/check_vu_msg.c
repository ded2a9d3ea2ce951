/*
 * Suite "vu_msg": the vhost-user request handling of a device, driven over
 * its real unix socket with raw messages.  The device is created with an
 * in-test ops table (two queues, an 8-byte config space, a queue handler
 * that fills every chain with "vhostd"); its main loop runs in a thread.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <vhostd/vhostd.h>

#include "compat.h"
#include "conf.h"
#include "device.h"
#include "guest_mem.h"
#include "log.h"
#include "vhost_user.h"
#include "vu_conn.h"

#define T_NEED		VHOST_USER_NEED_REPLY_MASK
#define T_GPA		0x100000ULL
#define T_UVA		0x7f0000000000ULL
#define T_MEMSZ		0x10000ULL
#define T_RING_NUM	8

/* Device state, per test process (Check forks each test). */
static const struct vhd_api	*t_api;
static uint8_t			 t_config[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static atomic_int		 t_resets;
static struct event_base	*t_base;
static struct device		*t_dev;
static pthread_t		 t_loop;
static char			 t_dir[64];
static char			 t_sock[128];
static struct conf_device	 t_cd;

/* Test module: two queues, 8 bytes of config. */
static int
t_create(struct vhd_dev *dev __unused, const struct vhd_api *api,
    const struct vhd_kv *kv, size_t nkv, struct vhd_dev_info *info,
    char **cause)
{
	size_t	 i;

	t_api = api;
	for (i = 0; i < nkv; i++) {
		if (strcmp(kv[i].key, "queues") == 0)
			info->num_queues = (uint32_t)atoi(kv[i].value);
		else {
			if (asprintf(cause, "test: unknown key '%s'",
			    kv[i].key) == -1)
				*cause = NULL;
			return (-1);
		}
	}
	if (nkv == 0)
		info->num_queues = 2;
	info->device_id = 4;
	info->features = 1ULL << 0;
	info->config_size = sizeof t_config;
	return (0);
}

/* Fill every chain with "vhostd". */
static void
t_queue_handler(struct vhd_dev *dev __unused, struct vhd_queue *q)
{
	struct vhd_chain	*c;
	ssize_t			 n;

	while ((c = t_api->queue_pop(q)) != NULL) {
		n = t_api->chain_write(c, 0, "vhostd", 6);
		t_api->queue_push(q, c, n > 0 ? (uint32_t)n : 0);
	}
	t_api->queue_notify(q);
}

/* Config space reads. */
static int
t_get_config(struct vhd_dev *dev __unused, uint32_t off, void *buf,
    uint32_t len)
{
	memcpy(buf, t_config + off, len);
	return (0);
}

/* Config space writes. */
static int
t_set_config(struct vhd_dev *dev __unused, uint32_t off, const void *buf,
    uint32_t len)
{
	memcpy(t_config + off, buf, len);
	return (0);
}

/* Count resets. */
static void
t_reset(struct vhd_dev *dev __unused)
{
	atomic_fetch_add(&t_resets, 1);
}

static const struct vhd_device_ops t_ops = {
	.size = sizeof(struct vhd_device_ops),
	.create = t_create,
	.queue_handler = t_queue_handler,
	.get_config = t_get_config,
	.set_config = t_set_config,
	.reset = t_reset,
};

/* The device's main loop. */
static void *
t_loop_main(void *arg __unused)
{
	event_base_loop(t_base, EVLOOP_NO_EXIT_ON_EMPTY);
	return (NULL);
}

/* A conf_device for socket `path`. */
static void
t_cd_init(struct conf_device *cd, const char *path)
{
	memset(cd, 0, sizeof *cd);
	cd->name = (char *)(uintptr_t)"test0";
	cd->module = (char *)(uintptr_t)"test";
	cd->socket = (char *)(uintptr_t)path;
	TAILQ_INIT(&cd->options);
}

/* Create the device and run its loop. */
static void
t_setup(void)
{
	char	*cause = NULL;

	log_init(LOG_LEVEL_WARN, 0);
	ck_assert_int_eq(evthread_use_pthreads(), 0);
	snprintf(t_dir, sizeof t_dir, "/tmp/check_vu_msg.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t_dir));
	snprintf(t_sock, sizeof t_sock, "%s/dev.sock", t_dir);
	t_cd_init(&t_cd, t_sock);
	t_base = event_base_new();
	ck_assert_ptr_nonnull(t_base);
	t_dev = device_create_ops(t_base, "test0", &t_ops, &t_cd, &cause);
	ck_assert_msg(t_dev != NULL, "device_create_ops: %s", cause);
	ck_assert_int_eq(pthread_create(&t_loop, NULL, t_loop_main, NULL), 0);
}

/* Stop the loop, destroy the device. */
static void
t_teardown(void)
{
	event_base_loopbreak(t_base);
	pthread_join(t_loop, NULL);
	device_destroy(t_dev);
	event_base_free(t_base);
	rmdir(t_dir);
}

/* Wait until the module has been reset `n` times in all. */
static void
t_wait_resets(int n)
{
	int	 i;

	for (i = 0; i < 250 && atomic_load(&t_resets) < n; i++)
		usleep(20000);
	ck_assert_int_ge(atomic_load(&t_resets), n);
}

/* Fill a unix socket address. */
static void
t_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(path), sizeof sun->sun_path);
	memcpy(sun->sun_path, path, strlen(path));
}

/* Connect to the device's socket, with a receive timeout. */
static int
fe_connect(void)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv = { 5, 0 };
	int			 fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	t_sun(&sun, t_sock);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return (fd);
}

/* Send a raw message with flags (version added unless `rawflags`). */
static void
fe_send_raw(int fd, uint32_t req, uint32_t flags, const void *payload,
    uint32_t size, const int *fds, unsigned nfds)
{
	union {
		struct cmsghdr	 h;
		unsigned char	 buf[CMSG_SPACE(sizeof(int) * 16)];
	} cb;
	struct vhost_user_header hdr = { req, flags, size };
	struct msghdr	 mh;
	struct iovec	 iov[2];
	struct cmsghdr	*cm;

	memset(&mh, 0, sizeof mh);
	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof hdr;
	iov[1].iov_base = (void *)(uintptr_t)payload;
	iov[1].iov_len = size;
	mh.msg_iov = iov;
	mh.msg_iovlen = size > 0 ? 2 : 1;
	if (nfds > 0) {
		memset(&cb, 0, sizeof cb);
		mh.msg_control = cb.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	ck_assert_int_eq(sendmsg(fd, &mh, MSG_NOSIGNAL),
	    (ssize_t)(sizeof hdr + size));
}

/* Send a request (version 1 plus `flags`). */
static void
fe_send(int fd, uint32_t req, uint32_t flags, const void *payload,
    uint32_t size, const int *fds, unsigned nfds)
{
	fe_send_raw(fd, req, VHOST_USER_VERSION | flags, payload, size, fds,
	    nfds);
}

/* Read exactly len bytes; -1 on EOF/timeout. */
static int
fe_read(int fd, void *buf, size_t len)
{
	size_t	 have = 0;
	ssize_t	 n;

	while (have < len) {
		n = recv(fd, (uint8_t *)buf + have, len - have, 0);
		if (n <= 0)
			return (-1);
		have += (size_t)n;
	}
	return (0);
}

/* Receive a reply to `req`; returns its payload size. */
static uint32_t
fe_recv(int fd, uint32_t req, void *buf, size_t len)
{
	struct vhost_user_header hdr;

	ck_assert_int_eq(fe_read(fd, &hdr, sizeof hdr), 0);
	ck_assert_uint_eq(hdr.request, req);
	ck_assert_uint_eq(hdr.flags, VHOST_USER_VERSION |
	    VHOST_USER_REPLY_MASK);
	ck_assert_uint_le(hdr.size, len);
	if (hdr.size > 0)
		ck_assert_int_eq(fe_read(fd, buf, hdr.size), 0);
	return (hdr.size);
}

/* Receive a u64 reply to `req`. */
static uint64_t
fe_recv_u64(int fd, uint32_t req)
{
	uint64_t	 v;

	ck_assert_uint_eq(fe_recv(fd, req, &v, sizeof v), sizeof v);
	return (v);
}

/* A request with a u64 reply. */
static uint64_t
fe_get_u64(int fd, uint32_t req)
{
	fe_send(fd, req, 0, NULL, 0, NULL, 0);
	return (fe_recv_u64(fd, req));
}

/* A request with NEED_REPLY; returns the ack. */
static uint64_t
fe_ack(int fd, uint32_t req, const void *payload, uint32_t size,
    const int *fds, unsigned nfds)
{
	fe_send(fd, req, T_NEED, payload, size, fds, nfds);
	return (fe_recv_u64(fd, req));
}

/* A request taking a u64, with NEED_REPLY; returns the ack. */
static uint64_t
fe_ack_u64(int fd, uint32_t req, uint64_t v)
{
	return (fe_ack(fd, req, &v, sizeof v, NULL, 0));
}

/* The connection still answers: GET_FEATURES is the next reply. */
static void
fe_alive(int fd)
{
	uint64_t	 f = fe_get_u64(fd, VHOST_USER_GET_FEATURES);

	ck_assert(f & (1ULL << VHD_F_VERSION_1));
}

/* The peer closed the connection. */
static void
fe_closed(int fd)
{
	ssize_t	 n;
	char	 c;

	/* A close with our bytes still unread shows as a reset. */
	n = recv(fd, &c, 1, 0);
	ck_assert_msg(n == 0 || (n == -1 && errno == ECONNRESET),
	    "connection not closed: %zd (%s)", n, strerror(errno));
}

/* Negotiate REPLY_ACK and the other protocol features. */
static int
fe_negotiate(void)
{
	uint64_t	 pf;
	int		 fd = fe_connect();

	fe_get_u64(fd, VHOST_USER_GET_FEATURES);
	fe_send(fd, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
	pf = fe_get_u64(fd, VHOST_USER_GET_PROTOCOL_FEATURES);
	fe_send(fd, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &pf, sizeof pf,
	    NULL, 0);
	return (fd);
}

/* An fd whose closing by the daemon we can observe: the write end of a
 * pipe (we keep the read end in *rd). */
static int
t_pipe(int *rd)
{
	int	 p[2];

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	*rd = p[0];
	return (p[1]);
}

/* The daemon closed its copy of the pipe's write end. */
static void
t_pipe_closed(int rd)
{
	struct pollfd	 pfd = { rd, POLLIN, 0 };
	char		 c;

	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(read(rd, &c, 1), 0);
	close(rd);
}

/* A memfd of T_MEMSZ bytes mapped here too. */
static int
t_memfd(uint8_t **map)
{
	int	 fd = memfd_create("guest", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)T_MEMSZ), 0);
	*map = mmap(NULL, T_MEMSZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert(*map != MAP_FAILED);
	return (fd);
}

/* SET_MEM_TABLE with one region; returns the ack. */
static uint64_t
fe_mem_table(int fd, int memfd, uint64_t gpa, uint64_t size, uint64_t uva,
    uint64_t off)
{
	struct {
		struct vhost_user_memory	 m;
		struct vhost_user_mem_region	 r;
	} __attribute__((packed)) mt;

	memset(&mt, 0, sizeof mt);
	mt.m.nregions = 1;
	mt.r.guest_phys_addr = gpa;
	mt.r.memory_size = size;
	mt.r.userspace_addr = uva;
	mt.r.mmap_offset = off;
	return (fe_ack(fd, VHOST_USER_SET_MEM_TABLE, &mt, sizeof mt, &memfd,
	    1));
}

/* Negotiation: features offered, protocol features offered and not. */
START_TEST(test_negotiation)
{
	uint64_t	 f, pf;
	int		 fd = fe_connect();

	f = fe_get_u64(fd, VHOST_USER_GET_FEATURES);
	ck_assert(f & (1ULL << VHD_F_VERSION_1));
	ck_assert(f & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
	ck_assert(f & (1ULL << VHD_F_EVENT_IDX));
	ck_assert(f & (1ULL << VHD_F_INDIRECT_DESC));
	ck_assert(f & (1ULL << 0));
	ck_assert(f & (1ULL << VHOST_F_LOG_ALL));
	fe_send(fd, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
	pf = fe_get_u64(fd, VHOST_USER_GET_PROTOCOL_FEATURES);
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_MQ));
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK));
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_CONFIG));
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_BACKEND_REQ));
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS));
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_RESET_DEVICE));
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_LOG_SHMFD));
	ck_assert((pf & (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)) == 0);
	ck_assert((pf & (1ULL << VHOST_USER_PROTOCOL_F_SHARED_OBJECT)) == 0);
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_STATUS));
	fe_send(fd, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &pf, sizeof pf,
	    NULL, 0);
	ck_assert_uint_eq(fe_get_u64(fd, VHOST_USER_GET_QUEUE_NUM), 2);
	ck_assert_uint_eq(fe_get_u64(fd, VHOST_USER_GET_MAX_MEM_SLOTS), 509);
	ck_assert_uint_eq(fe_ack_u64(fd, VHOST_USER_SET_FEATURES, f), 0);
	ck_assert_uint_eq(fe_ack_u64(fd, VHOST_USER_SET_FEATURES,
	    f | (1ULL << 60)), 1);
	ck_assert_uint_eq(fe_ack_u64(fd, VHOST_USER_SET_PROTOCOL_FEATURES,
	    pf | (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)), 1);
	close(fd);
}
END_TEST

/* REPLY_ACK: 0 on success, 1 on failure; no ack before negotiation. */
START_TEST(test_reply_ack)
{
	int	 fd = fe_connect();

	/* Not negotiated yet: NEED_REPLY on a known request is ignored. */
	fe_send(fd, VHOST_USER_SET_OWNER, T_NEED, NULL, 0, NULL, 0);
	fe_alive(fd);
	close(fd);
	/* Wait for the disconnect to be processed before reconnecting. */
	t_wait_resets(1);

	fd = fe_negotiate();
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0),
	    1);		/* already owned */
	ck_assert_uint_eq(fe_ack_u64(fd, VHOST_USER_SET_FEATURES,
	    1ULL << VHD_F_VERSION_1), 0);
	fe_alive(fd);
	close(fd);
}
END_TEST

/* Payloads shorter or longer than the table says: error, kept alive. */
START_TEST(test_payload_size)
{
	uint8_t		 big[16] = { 0 };
	int		 fd = fe_negotiate();

	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_FEATURES, big, 4, NULL,
	    0), 1);
	fe_alive(fd);
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_FEATURES, big, 16, NULL,
	    0), 1);
	fe_alive(fd);
	/* A request with its own reply gets a zero-size error reply. */
	fe_send(fd, VHOST_USER_GET_FEATURES, 0, big, 8, NULL, 0);
	ck_assert_uint_eq(fe_recv(fd, VHOST_USER_GET_FEATURES, big,
	    sizeof big), 0);
	fe_send(fd, VHOST_USER_GET_VRING_BASE, 0, big, 4, NULL, 0);
	ck_assert_uint_eq(fe_recv(fd, VHOST_USER_GET_VRING_BASE, big,
	    sizeof big), 0);
	/* Without NEED_REPLY nothing is sent back. */
	fe_send(fd, VHOST_USER_SET_FEATURES, 0, big, 2, NULL, 0);
	fe_alive(fd);
	close(fd);
}
END_TEST

/* A payload larger than VHOST_USER_MAX_PAYLOAD drops the connection. */
START_TEST(test_payload_too_large)
{
	struct vhost_user_header hdr = { VHOST_USER_SET_FEATURES,
	    VHOST_USER_VERSION, VHOST_USER_MAX_PAYLOAD + 1 };
	int	 fd = fe_connect();

	ck_assert_int_eq(send(fd, &hdr, sizeof hdr, MSG_NOSIGNAL),
	    (ssize_t)sizeof hdr);
	fe_closed(fd);
	close(fd);
}
END_TEST

/* Wrong fd counts: error, every fd closed, kept alive. */
START_TEST(test_fd_count)
{
	uint64_t	 v = 0;
	int		 rd, rd2, fds[2], fd = fe_negotiate();

	/* An fd with a request that takes none. */
	fds[0] = t_pipe(&rd);
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_FEATURES, &v, sizeof v,
	    fds, 1), 1);
	close(fds[0]);
	t_pipe_closed(rd);
	fe_alive(fd);

	/* SET_VRING_CALL without NOFD and without an fd. */
	ck_assert_uint_eq(fe_ack_u64(fd, VHOST_USER_SET_VRING_CALL, 0), 1);
	/* With NOFD but an fd attached. */
	fds[0] = t_pipe(&rd);
	v = VHOST_USER_VRING_NOFD_MASK;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_CALL, &v, sizeof v,
	    fds, 1), 1);
	close(fds[0]);
	t_pipe_closed(rd);
	/* Two fds. */
	fds[0] = t_pipe(&rd);
	fds[1] = t_pipe(&rd2);
	v = 0;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_CALL, &v, sizeof v,
	    fds, 2), 1);
	close(fds[0]);
	close(fds[1]);
	t_pipe_closed(rd);
	t_pipe_closed(rd2);
	/* One fd: accepted. */
	fds[0] = eventfd(0, EFD_CLOEXEC);
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_CALL, &v, sizeof v,
	    fds, 1), 0);
	close(fds[0]);
	fe_alive(fd);
	close(fd);
}
END_TEST

/* Out-of-range queue indices on every ring message. */
START_TEST(test_bad_index)
{
	struct vhost_user_vring_state	 st = { 2, 64 };
	struct vhost_user_vring_addr	 a;
	uint8_t				 buf[16];
	uint64_t			 v;
	int				 efd, fd = fe_negotiate();

	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0), 1);
	st.index = 0xffffffffu;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_BASE, &st,
	    sizeof st, NULL, 0), 1);
	memset(&a, 0, sizeof a);
	a.index = 65536 + 0;	/* truncated to 16 bits would be 0 */
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_ADDR, &a,
	    sizeof a, NULL, 0), 1);
	efd = eventfd(0, EFD_CLOEXEC);
	v = 5;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_KICK, &v, sizeof v,
	    &efd, 1), 1);
	v = 0x200;		/* an unknown bit above NOFD */
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_ERR, &v, sizeof v,
	    &efd, 1), 1);
	close(efd);
	st.index = 0;
	st.num = 1;
	/* SET_VRING_ENABLE needs PROTOCOL_FEATURES acked. */
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_ENABLE, &st,
	    sizeof st, NULL, 0), 1);
	ck_assert_uint_eq(fe_ack_u64(fd, VHOST_USER_SET_FEATURES,
	    (1ULL << VHD_F_VERSION_1) |
	    (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)), 0);
	st.index = 7;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_ENABLE, &st,
	    sizeof st, NULL, 0), 1);
	st.index = 1;
	st.num = 2;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_ENABLE, &st,
	    sizeof st, NULL, 0), 1);
	st.index = 7;
	fe_send(fd, VHOST_USER_GET_VRING_BASE, 0, &st, sizeof st, NULL, 0);
	ck_assert_uint_eq(fe_recv(fd, VHOST_USER_GET_VRING_BASE, buf,
	    sizeof buf), 0);
	/* Bad sizes: not a power of two, too large. */
	st.index = 1;
	st.num = 100;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0), 1);
	st.num = 2048;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0), 1);
	st.num = 256;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0), 0);
	st.num = 0x10000;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_BASE, &st,
	    sizeof st, NULL, 0), 1);
	fe_alive(fd);
	close(fd);
}
END_TEST

/* Unknown and unimplemented requests, request 0: error, kept alive. */
START_TEST(test_unknown_request)
{
	uint8_t		 buf[16];
	uint64_t	 v = 0;
	int		 rd, wr, fd = fe_connect();

	/* Known to NEED_REPLY even before REPLY_ACK is negotiated. */
	fe_send(fd, 99, T_NEED, NULL, 0, NULL, 0);
	ck_assert_uint_eq(fe_recv_u64(fd, 99), 1);
	fe_send(fd, VHOST_USER_NONE, T_NEED, NULL, 0, NULL, 0);
	ck_assert_uint_eq(fe_recv_u64(fd, VHOST_USER_NONE), 1);
	fe_send(fd, VHOST_USER_MAX, 0, &v, sizeof v, NULL, 0);
	fe_alive(fd);
	/* A log fd that is not an eventfd: refused, the fd is closed. */
	wr = t_pipe(&rd);
	fe_send(fd, VHOST_USER_SET_LOG_FD, 0, NULL, 0, &wr, 1);
	close(wr);
	t_pipe_closed(rd);
	fe_alive(fd);
	/* Not negotiated (GET_STATUS) or unimplemented, with a reply of
	 * its own: a zero-size reply. */
	fe_send(fd, VHOST_USER_GET_STATUS, 0, NULL, 0, NULL, 0);
	ck_assert_uint_eq(fe_recv(fd, VHOST_USER_GET_STATUS, buf,
	    sizeof buf), 0);
	fe_send(fd, VHOST_USER_GET_INFLIGHT_FD, 0, buf, 16, NULL, 0);
	ck_assert_uint_eq(fe_recv(fd, VHOST_USER_GET_INFLIGHT_FD, buf,
	    sizeof buf), 0);
	/* Gated by a protocol feature that is not negotiated. */
	fe_send(fd, VHOST_USER_GET_QUEUE_NUM, 0, NULL, 0, NULL, 0);
	ck_assert_uint_eq(fe_recv(fd, VHOST_USER_GET_QUEUE_NUM, buf,
	    sizeof buf), 0);
	fe_alive(fd);
	ck_assert_str_eq(vhost_user_request_name(VHOST_USER_GET_CONFIG),
	    "GET_CONFIG");
	ck_assert_str_eq(vhost_user_request_name(1000), "unknown");
	close(fd);
}
END_TEST

/* Wrong version bits drop the connection; the next one is served. */
START_TEST(test_bad_version)
{
	int	 fd = fe_connect();

	fe_send_raw(fd, VHOST_USER_GET_FEATURES, 0x2, NULL, 0, NULL, 0);
	fe_closed(fd);
	close(fd);
	t_wait_resets(1);
	fd = fe_connect();
	fe_alive(fd);
	close(fd);
}
END_TEST

/* GET_CONFIG/SET_CONFIG: in range works, out of range and overflow get
 * the zero-length error reply. */
START_TEST(test_config)
{
	struct {
		struct vhost_user_config c;
		uint8_t			 b[8];
	} __attribute__((packed)) cfg, out;
	int	 fd = fe_negotiate();

	memset(&cfg, 0, sizeof cfg);
	cfg.c.offset = 0;
	cfg.c.size = 8;
	fe_send(fd, VHOST_USER_GET_CONFIG, 0, &cfg, sizeof cfg, NULL, 0);
	ck_assert_uint_eq(fe_recv(fd, VHOST_USER_GET_CONFIG, &out,
	    sizeof out), sizeof out);
	ck_assert_uint_eq(out.c.size, 8);
	ck_assert_uint_eq(out.b[0], 1);
	ck_assert_uint_eq(out.b[7], 8);

	cfg.c.offset = 4;	/* 4 + 8 > 8 */
	fe_send(fd, VHOST_USER_GET_CONFIG, 0, &cfg, sizeof cfg, NULL, 0);
	ck_assert_uint_eq(fe_recv(fd, VHOST_USER_GET_CONFIG, &out,
	    sizeof out), 0);
	cfg.c.offset = 0xfffffffcu;	/* wraps in 32 bits */
	fe_send(fd, VHOST_USER_GET_CONFIG, 0, &cfg, sizeof cfg, NULL, 0);
	ck_assert_uint_eq(fe_recv(fd, VHOST_USER_GET_CONFIG, &out,
	    sizeof out), 0);
	cfg.c.offset = 0;
	cfg.c.size = 4;		/* does not match the payload */
	fe_send(fd, VHOST_USER_GET_CONFIG, 0, &cfg, sizeof cfg, NULL, 0);
	ck_assert_uint_eq(fe_recv(fd, VHOST_USER_GET_CONFIG, &out,
	    sizeof out), 0);

	cfg.c.offset = 2;
	cfg.c.size = 2;
	cfg.b[0] = 0xaa;
	cfg.b[1] = 0xbb;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_CONFIG, &cfg,
	    VHOST_USER_CONFIG_HDR_SIZE + 2, NULL, 0), 0);
	cfg.c.offset = 7;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_CONFIG, &cfg,
	    VHOST_USER_CONFIG_HDR_SIZE + 2, NULL, 0), 1);
	cfg.c.offset = 0;
	cfg.c.size = 8;
	fe_send(fd, VHOST_USER_GET_CONFIG, 0, &cfg, sizeof cfg, NULL, 0);
	ck_assert_uint_eq(fe_recv(fd, VHOST_USER_GET_CONFIG, &out,
	    sizeof out), sizeof out);
	ck_assert_uint_eq(out.b[2], 0xaa);
	ck_assert_uint_eq(out.b[3], 0xbb);
	close(fd);
}
END_TEST

/* SET_MEM_TABLE: offset past the end of the file, no regions, fd count
 * mismatch are refused; a good table is taken. */
START_TEST(test_mem_table)
{
	struct vhost_user_memory	 m0 = { 0, 0 };
	uint8_t				*map;
	int				 memfd, fd = fe_negotiate();

	memfd = t_memfd(&map);
	ck_assert_uint_eq(fe_mem_table(fd, memfd, T_GPA, T_MEMSZ, T_UVA,
	    0x1000), 1);
	ck_assert_uint_eq(fe_mem_table(fd, memfd, T_GPA, T_MEMSZ, T_UVA,
	    0xffffffffffff0000ULL), 1);
	ck_assert_uint_eq(fe_mem_table(fd, memfd, T_GPA, 0, T_UVA, 0), 1);
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_MEM_TABLE, &m0,
	    sizeof m0, NULL, 0), 1);
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_MEM_TABLE, &m0,
	    sizeof m0, &memfd, 1), 1);
	ck_assert_ptr_null(device_mem(t_dev));
	ck_assert_uint_eq(fe_mem_table(fd, memfd, T_GPA, T_MEMSZ, T_UVA, 0),
	    0);
	ck_assert_ptr_nonnull(device_mem(t_dev));
	ck_assert_uint_eq(device_mem(t_dev)->nregions, 1);
	fe_alive(fd);
	munmap(map, T_MEMSZ);
	close(memfd);
	close(fd);
}
END_TEST

/* ADD_MEM_REG and REM_MEM_REG. */
START_TEST(test_mem_reg)
{
	struct vhost_user_mem_reg_msg	 r;
	uint8_t				*map;
	int				 memfd, rd, wr, fd = fe_negotiate();

	memfd = t_memfd(&map);
	memset(&r, 0, sizeof r);
	r.region.guest_phys_addr = T_GPA;
	r.region.memory_size = T_MEMSZ / 2;
	r.region.userspace_addr = T_UVA;
	r.region.mmap_offset = 0;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_ADD_MEM_REG, &r, sizeof r,
	    &memfd, 1), 0);
	/* Overlapping the first. */
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_ADD_MEM_REG, &r, sizeof r,
	    &memfd, 1), 1);
	/* No fd. */
	r.region.guest_phys_addr = T_GPA + T_MEMSZ;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_ADD_MEM_REG, &r, sizeof r,
	    NULL, 0), 1);
	r.region.userspace_addr = T_UVA + T_MEMSZ;
	r.region.mmap_offset = T_MEMSZ / 2;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_ADD_MEM_REG, &r, sizeof r,
	    &memfd, 1), 0);
	ck_assert_uint_eq(device_mem(t_dev)->nregions, 2);

	/* Wrong size, wrong uva: no match. */
	r.region.memory_size = T_MEMSZ;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_REM_MEM_REG, &r, sizeof r,
	    NULL, 0), 1);
	r.region.memory_size = T_MEMSZ / 2;
	r.region.userspace_addr = T_UVA;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_REM_MEM_REG, &r, sizeof r,
	    NULL, 0), 1);
	/* A match, with an fd attached (accepted and closed). */
	r.region.userspace_addr = T_UVA + T_MEMSZ;
	wr = t_pipe(&rd);
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_REM_MEM_REG, &r, sizeof r,
	    &wr, 1), 0);
	close(wr);
	t_pipe_closed(rd);
	ck_assert_uint_eq(device_mem(t_dev)->nregions, 1);
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_REM_MEM_REG, &r, sizeof r,
	    NULL, 0), 1);
	fe_alive(fd);
	munmap(map, T_MEMSZ);
	close(memfd);
	close(fd);
}
END_TEST

/* GET_VRING_BASE returns the base that was set. */
START_TEST(test_vring_base)
{
	struct vhost_user_vring_state	 st = { 1, 256 };
	int				 fd = fe_negotiate();

	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0), 0);
	st.num = 42;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_BASE, &st,
	    sizeof st, NULL, 0), 0);
	memset(&st, 0, sizeof st);
	st.index = 1;
	fe_send(fd, VHOST_USER_GET_VRING_BASE, 0, &st, sizeof st, NULL, 0);
	ck_assert_uint_eq(fe_recv(fd, VHOST_USER_GET_VRING_BASE, &st,
	    sizeof st), sizeof st);
	ck_assert_uint_eq(st.index, 1);
	ck_assert_uint_eq(st.num, 42);
	close(fd);
}
END_TEST

/* A second frontend is refused while the first is connected. */
START_TEST(test_second_connection)
{
	int	 fd = fe_negotiate(), fd2;

	fd2 = fe_connect();
	fe_closed(fd2);
	close(fd2);
	fe_alive(fd);
	close(fd);
}
END_TEST

/* After a disconnect the device is reset and a new frontend is served
 * from scratch (owner cleared, module reset called). */
START_TEST(test_reconnect)
{
	int	 fd = fe_negotiate();

	fe_alive(fd);
	close(fd);
	t_wait_resets(1);
	fd = fe_negotiate();
	/* The SET_OWNER in fe_negotiate succeeded: try again to see it. */
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0),
	    1);
	fe_alive(fd);
	close(fd);
}
END_TEST

/* RESET_DEVICE resets the module and keeps the connection. */
START_TEST(test_reset_device)
{
	int	 fd = fe_negotiate();

	ck_assert_uint_eq(fe_ack_u64(fd, VHOST_USER_SET_FEATURES,
	    1ULL << VHD_F_VERSION_1), 0);
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_RESET_DEVICE, NULL, 0, NULL,
	    0), 0);
	ck_assert_int_eq(atomic_load(&t_resets), 1);
	ck_assert_uint_eq(atomic_load(&t_dev->acked_features), 0);
	fe_alive(fd);
	close(fd);
}
END_TEST

/* The backend channel: CONFIG_CHANGE_MSG carries the config space and
 * asks for an ack. */
START_TEST(test_backend_config_change)
{
	struct vhost_user_header hdr;
	struct vhost_user_config cfg;
	uint8_t			 buf[8];
	uint64_t		 ack = 0;
	int			 sp[2], fd = fe_negotiate();

	ck_assert_int_eq(vu_backend_config_changed(t_dev), -1);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sp), 0);
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0,
	    &sp[1], 1), 0);
	close(sp[1]);
	ck_assert_int_eq(vu_backend_config_changed(t_dev), 0);
	ck_assert_int_eq(fe_read(sp[0], &hdr, sizeof hdr), 0);
	ck_assert_uint_eq(hdr.request, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	ck_assert_uint_eq(hdr.flags, VHOST_USER_VERSION | T_NEED);
	ck_assert_uint_eq(hdr.size, VHOST_USER_CONFIG_HDR_SIZE + 8);
	ck_assert_int_eq(fe_read(sp[0], &cfg, VHOST_USER_CONFIG_HDR_SIZE), 0);
	ck_assert_uint_eq(cfg.offset, 0);
	ck_assert_uint_eq(cfg.size, 8);
	ck_assert_int_eq(fe_read(sp[0], buf, sizeof buf), 0);
	ck_assert_mem_eq(buf, t_config, sizeof buf);
	hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	hdr.size = sizeof ack;
	ck_assert_int_eq(send(sp[0], &hdr, sizeof hdr, 0), sizeof hdr);
	ck_assert_int_eq(send(sp[0], &ack, sizeof ack, 0), sizeof ack);
	fe_alive(fd);
	close(sp[0]);
	close(fd);
}
END_TEST

/* End to end: a ring set up over the socket, a chain posted, a kick; the
 * queue handler fills the buffer and the guest is called. */
START_TEST(test_data_path)
{
	struct vhost_user_vring_state	 st;
	struct vhost_user_vring_addr	 a;
	struct vring_desc		*desc;
	struct vring_avail		*avail;
	struct vring_used		*used;
	struct pollfd			 pfd;
	uint8_t				*map;
	uint64_t			 v;
	int				 memfd, kick, call, fd;

	fd = fe_negotiate();
	memfd = t_memfd(&map);
	desc = (struct vring_desc *)(void *)map;
	avail = (struct vring_avail *)(void *)(map + 0x1000);
	used = (struct vring_used *)(void *)(map + 0x2000);
	desc[0].addr = T_GPA + 0x4000;
	desc[0].len = 16;
	desc[0].flags = VRING_DESC_F_WRITE;
	avail->ring[0] = 0;
	avail->idx = 1;

	ck_assert_uint_eq(fe_ack_u64(fd, VHOST_USER_SET_FEATURES,
	    (1ULL << VHD_F_VERSION_1) |
	    (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)), 0);
	ck_assert_uint_eq(fe_mem_table(fd, memfd, T_GPA, T_MEMSZ, T_UVA, 0),
	    0);
	st.index = 0;
	st.num = T_RING_NUM;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0), 0);
	st.num = 0;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_BASE, &st,
	    sizeof st, NULL, 0), 0);
	memset(&a, 0, sizeof a);
	a.desc_user_addr = T_UVA;
	a.avail_user_addr = T_UVA + 0x1000;
	a.used_user_addr = T_UVA + 0x2000;
	/* An address outside guest memory is refused first. */
	a.index = 0;
	a.used_user_addr = T_UVA + T_MEMSZ;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_ADDR, &a,
	    sizeof a, NULL, 0), 1);
	a.used_user_addr = T_UVA + 0x2000;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_ADDR, &a,
	    sizeof a, NULL, 0), 0);
	kick = eventfd(0, EFD_CLOEXEC);
	call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	v = 0;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_KICK, &v, sizeof v,
	    &kick, 1), 0);
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_CALL, &v, sizeof v,
	    &call, 1), 0);
	st.index = 0;
	st.num = 1;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_ENABLE, &st,
	    sizeof st, NULL, 0), 0);
	ck_assert_int_eq(eventfd_write(kick, 1), 0);

	pfd.fd = call;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_uint_eq(atomic_load((_Atomic uint16_t *)&used->idx), 1);
	ck_assert_uint_eq(used->ring[0].id, 0);
	ck_assert_uint_eq(used->ring[0].len, 6);
	ck_assert_mem_eq(map + 0x4000, "vhostd", 6);

	/* GET_VRING_BASE stops the ring where it got to. */
	st.index = 0;
	fe_send(fd, VHOST_USER_GET_VRING_BASE, 0, &st, sizeof st, NULL, 0);
	ck_assert_uint_eq(fe_recv(fd, VHOST_USER_GET_VRING_BASE, &st,
	    sizeof st), sizeof st);
	ck_assert_uint_eq(st.num, 1);
	/* Consume the first interrupt, so the poll below waits for the
	 * second. */
	ck_assert_int_eq(eventfd_read(call, &v), 0);
	v = 0;

	/*
	 * QEMU's cont after its stop: features, memory table, the whole
	 * ring again, enable.  A stop is not a reset: the module's reset is
	 * never called, and the ring serves on from where it stopped.
	 */
	ck_assert_uint_eq(fe_ack_u64(fd, VHOST_USER_SET_FEATURES,
	    (1ULL << VHD_F_VERSION_1) |
	    (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)), 0);
	ck_assert_uint_eq(fe_mem_table(fd, memfd, T_GPA, T_MEMSZ, T_UVA, 0),
	    0);
	st.index = 0;
	st.num = T_RING_NUM;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0), 0);
	st.num = 1;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_BASE, &st,
	    sizeof st, NULL, 0), 0);
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_ADDR, &a,
	    sizeof a, NULL, 0), 0);
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_KICK, &v, sizeof v,
	    &kick, 1), 0);
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_CALL, &v, sizeof v,
	    &call, 1), 0);
	st.num = 1;
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_ENABLE, &st,
	    sizeof st, NULL, 0), 0);
	desc[1].addr = T_GPA + 0x5000;
	desc[1].len = 16;
	desc[1].flags = VRING_DESC_F_WRITE;
	avail->ring[1] = 1;
	atomic_store((_Atomic uint16_t *)&avail->idx, 2);
	ck_assert_int_eq(eventfd_write(kick, 1), 0);
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_uint_eq(atomic_load((_Atomic uint16_t *)&used->idx), 2);
	ck_assert_uint_eq(used->ring[1].id, 1);
	ck_assert_int_eq(atomic_load(&t_resets), 0);
	close(kick);
	close(call);
	munmap(map, T_MEMSZ);
	close(memfd);
	close(fd);
	/* The frontend going away is a reset. */
	t_wait_resets(1);
}
END_TEST

/* Out of fds at accept time: accepting pauses (no spin) and resumes once
 * fds are free again; the waiting frontend is then served. */
START_TEST(test_accept_emfile)
{
	struct rlimit	 rl;
	int		 fds[512], n = 0, fd, i;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = 128;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	while (n < (int)nitems(fds) && (fds[n] = dup(0)) >= 0)
		n++;
	ck_assert_int_eq(errno, EMFILE);
	ck_assert_int_gt(n, 1);
	close(fds[--n]);
	fd = fe_connect();		/* takes the last free fd */
	usleep(200000);			/* the daemon's accept fails */
	for (i = 0; i < n; i++)
		close(fds[i]);
	fe_alive(fd);			/* accepted after the pause */
	close(fd);
}
END_TEST

/* More fds than a message may carry: the connection is dropped and every
 * fd closed; the next frontend is served. */
START_TEST(test_too_many_fds)
{
	uint64_t	 v = 0;
	int		 fds[VHOST_USER_MAX_FDS + 2];
	int		 rd[VHOST_USER_MAX_FDS + 2];
	int		 fd = fe_connect();
	unsigned	 i;

	for (i = 0; i < nitems(fds); i++)
		fds[i] = t_pipe(&rd[i]);
	fe_send(fd, VHOST_USER_SET_FEATURES, 0, &v, sizeof v, fds,
	    nitems(fds));
	fe_closed(fd);
	close(fd);
	for (i = 0; i < nitems(fds); i++) {
		close(fds[i]);
		t_pipe_closed(rd[i]);
	}
	t_wait_resets(1);
	fd = fe_connect();
	fe_alive(fd);
	close(fd);
}
END_TEST

/* Shared objects: the module's fd for a known uuid, an error reply for
 * an unknown one; the feature is offered only with the callback. */
static int
t_get_shared_object(struct vhd_dev *dev __unused, const uint8_t uuid[16])
{
	if (uuid[0] != 1)
		return (-1);
	return (eventfd(7, EFD_CLOEXEC));
}

START_TEST(test_shared_object)
{
	struct vhd_device_ops		 ops = t_ops;
	struct conf_device		 cd;
	struct vhost_user_shared_object	 obj;
	struct vhost_user_header	 hdr;
	struct device			*dev;
	struct msghdr			 mh;
	struct iovec			 iov[2];
	struct cmsghdr			*cm;
	union {
		struct cmsghdr	 h;
		unsigned char	 buf[CMSG_SPACE(sizeof(int))];
	} cb;
	char				 path[128], *cause = NULL;
	uint64_t			 v, pf;
	eventfd_t			 ev;
	int				 fd, ofd = -1, resets;

	ops.get_shared_object = t_get_shared_object;
	snprintf(path, sizeof path, "%s/so.sock", t_dir);
	t_cd_init(&cd, path);
	dev = device_create_ops(t_base, "so0", &ops, &cd, &cause);
	ck_assert_msg(dev != NULL, "%s", cause);
	memcpy(t_sock, path, sizeof path);
	fd = fe_negotiate();
	fe_send(fd, VHOST_USER_GET_PROTOCOL_FEATURES, 0, NULL, 0, NULL, 0);
	pf = fe_recv_u64(fd, VHOST_USER_GET_PROTOCOL_FEATURES);
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_SHARED_OBJECT));

	memset(&obj, 0, sizeof obj);
	obj.uuid[0] = 1;
	fe_send(fd, VHOST_USER_GET_SHARED_OBJECT, 0, &obj, sizeof obj, NULL,
	    0);
	memset(&mh, 0, sizeof mh);
	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof hdr;
	iov[1].iov_base = &v;
	iov[1].iov_len = sizeof v;
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	mh.msg_control = cb.buf;
	mh.msg_controllen = sizeof cb.buf;
	ck_assert_int_eq(recvmsg(fd, &mh, MSG_WAITALL), sizeof hdr + sizeof v);
	ck_assert_uint_eq(hdr.request, VHOST_USER_GET_SHARED_OBJECT);
	ck_assert_uint_eq(v, 0);
	cm = CMSG_FIRSTHDR(&mh);
	ck_assert_ptr_nonnull(cm);
	ck_assert_int_eq(cm->cmsg_type, SCM_RIGHTS);
	memcpy(&ofd, CMSG_DATA(cm), sizeof ofd);
	ck_assert_int_eq(eventfd_read(ofd, &ev), 0);
	ck_assert_uint_eq(ev, 7);
	close(ofd);

	obj.uuid[0] = 2;
	fe_send(fd, VHOST_USER_GET_SHARED_OBJECT, 0, &obj, sizeof obj, NULL,
	    0);
	ck_assert_uint_eq(fe_recv(fd, VHOST_USER_GET_SHARED_OBJECT, &v,
	    sizeof v), 0);
	fe_alive(fd);
	/* The loop thread handles the disconnect; let it finish before the
	 * device is destroyed from this thread. */
	resets = atomic_load(&t_resets);
	close(fd);
	t_wait_resets(resets + 1);
	device_destroy(dev);
}
END_TEST

/* A message arriving in pieces does not block the main loop: another
 * connection is handled while it is partial, and it completes later. */
START_TEST(test_partial_message)
{
	struct vhost_user_header hdr = { VHOST_USER_SET_FEATURES,
	    VHOST_USER_VERSION | T_NEED, 8 };
	uint64_t	 v = 1ULL << VHD_F_VERSION_1;
	int		 fd = fe_negotiate(), fd2;

	ck_assert_int_eq(send(fd, &hdr, 5, MSG_NOSIGNAL), 5);
	usleep(50000);
	fd2 = fe_connect();
	fe_closed(fd2);			/* refused while fd is mid-message */
	close(fd2);
	ck_assert_int_eq(send(fd, (uint8_t *)&hdr + 5, sizeof hdr - 5,
	    MSG_NOSIGNAL), (ssize_t)(sizeof hdr - 5));
	usleep(50000);
	ck_assert_int_eq(send(fd, &v, 3, MSG_NOSIGNAL), 3);
	usleep(50000);
	ck_assert_int_eq(send(fd, (uint8_t *)&v + 3, 5, MSG_NOSIGNAL), 5);
	ck_assert_uint_eq(fe_recv_u64(fd, VHOST_USER_SET_FEATURES), 0);
	fe_alive(fd);
	close(fd);
}
END_TEST

/* device_fail marks the device broken once and signals the err fds;
 * RESET_DEVICE clears it. */
START_TEST(test_device_fail)
{
	struct pollfd	 pfd;
	eventfd_t	 ev;
	uint64_t	 v = 1;
	int		 efd, fd = fe_negotiate();

	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_SET_VRING_ERR, &v, sizeof v,
	    &efd, 1), 0);
	device_fail(t_dev, "test reason %d", 42);
	device_fail(t_dev, "second");
	ck_assert_int_eq(atomic_load(&t_dev->broken), 1);
	pfd.fd = efd;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(eventfd_read(efd, &ev), 0);
	ck_assert_uint_eq(ev, 1);	/* signalled once */
	ck_assert_uint_eq(fe_ack(fd, VHOST_USER_RESET_DEVICE, NULL, 0, NULL,
	    0), 0);
	ck_assert_int_eq(atomic_load(&t_dev->broken), 0);
	close(efd);
	fe_alive(fd);
	close(fd);
}
END_TEST

/* Creation checks: bad masks, a non-socket file, a stale socket, a path
 * that is too long, a module key error. */
START_TEST(test_create_checks)
{
	struct conf_device	 cd;
	struct conf_kv		 kv;
	struct device		*dev;
	struct sockaddr_un	 sun;
	char			 path[256], *cause = NULL;
	int			 fd;

	t_cd_init(&cd, t_sock);
	cd.nmasks = 2;
	cd.masks[0] = 0x3;
	cd.masks[1] = 0x2;
	dev = device_create_ops(t_base, "bad", &t_ops, &cd, &cause);
	ck_assert_ptr_null(dev);
	ck_assert_ptr_nonnull(strstr(cause, "queue 1"));
	free(cause);
	cause = NULL;
	cd.masks[1] = 0x4;
	dev = device_create_ops(t_base, "bad", &t_ops, &cd, &cause);
	ck_assert_ptr_null(dev);
	ck_assert_ptr_nonnull(strstr(cause, "queue 2"));
	free(cause);
	cause = NULL;
	cd.masks[0] = 0x1;
	cd.masks[1] = 0x0;
	dev = device_create_ops(t_base, "bad", &t_ops, &cd, &cause);
	ck_assert_ptr_null(dev);
	ck_assert_ptr_nonnull(strstr(cause, "queue 1 is in no"));
	free(cause);
	cause = NULL;

	/* A module key error is prefixed with the device name. */
	t_cd_init(&cd, t_sock);
	kv.key = (char *)(uintptr_t)"foo";
	kv.value = (char *)(uintptr_t)"1";
	kv.where = (char *)(uintptr_t)"command line";
	TAILQ_INSERT_TAIL(&cd.options, &kv, entry);
	dev = device_create_ops(t_base, "bad", &t_ops, &cd, &cause);
	ck_assert_ptr_null(dev);
	ck_assert_str_eq(cause, "bad: test: unknown key 'foo'");
	free(cause);
	cause = NULL;

	/* A regular file is not replaced. */
	snprintf(path, sizeof path, "%s/file", t_dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	t_cd_init(&cd, path);
	dev = device_create_ops(t_base, "bad", &t_ops, &cd, &cause);
	ck_assert_ptr_null(dev);
	ck_assert_ptr_nonnull(strstr(cause, "not a socket"));
	free(cause);
	cause = NULL;
	unlink(path);

	/* The live socket of the fixture's device is not taken over. */
	t_cd_init(&cd, t_sock);
	dev = device_create_ops(t_base, "bad", &t_ops, &cd, &cause);
	ck_assert_ptr_null(dev);
	ck_assert_ptr_nonnull(strstr(cause, "in use"));
	free(cause);
	cause = NULL;

	/* A stale socket (bound, nobody listening) is replaced. */
	snprintf(path, sizeof path, "%s/stale", t_dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	t_sun(&sun, path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	close(fd);
	t_cd_init(&cd, path);
	cd.socket_mode = 0640;
	dev = device_create_ops(t_base, "stale", &t_ops, &cd, &cause);
	ck_assert_msg(dev != NULL, "%s", cause);
	{
		struct stat st;

		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_uint_eq(st.st_mode & 0777, 0640);
	}
	device_destroy(dev);
	ck_assert_int_eq(access(path, F_OK), -1);

	/* Too long for sun_path. */
	memset(path, 'a', sizeof path - 1);
	path[0] = '/';
	path[sizeof path - 1] = '\0';
	t_cd_init(&cd, path);
	dev = device_create_ops(t_base, "bad", &t_ops, &cd, &cause);
	ck_assert_ptr_null(dev);
	ck_assert_ptr_nonnull(strstr(cause, "too long"));
	free(cause);
}
END_TEST

/* The suite. */
static Suite *
vu_msg_suite(void)
{
	Suite	*s = suite_create("vu_msg");
	TCase	*tc;

#define T_ADD(fn) do {							\
	tc = tcase_create(#fn);						\
	tcase_add_checked_fixture(tc, t_setup, t_teardown);		\
	tcase_set_timeout(tc, 30);					\
	tcase_add_test(tc, fn);						\
	suite_add_tcase(s, tc);						\
} while (0)
	T_ADD(test_negotiation);
	T_ADD(test_reply_ack);
	T_ADD(test_payload_size);
	T_ADD(test_payload_too_large);
	T_ADD(test_fd_count);
	T_ADD(test_bad_index);
	T_ADD(test_unknown_request);
	T_ADD(test_bad_version);
	T_ADD(test_config);
	T_ADD(test_mem_table);
	T_ADD(test_mem_reg);
	T_ADD(test_vring_base);
	T_ADD(test_second_connection);
	T_ADD(test_reconnect);
	T_ADD(test_reset_device);
	T_ADD(test_backend_config_change);
	T_ADD(test_data_path);
	T_ADD(test_accept_emfile);
	T_ADD(test_too_many_fds);
	T_ADD(test_shared_object);
	T_ADD(test_partial_message);
	T_ADD(test_device_fail);
	T_ADD(test_create_checks);
#undef T_ADD
	return (s);
}

/* Run the suite. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(vu_msg_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
