/*
 * The vu_msg suites' harness: a device created with an in-test ops table
 * whose main loop runs in a thread, and a raw frontend (tfe_*) that sends
 * vhost-user messages over the device's real unix socket and checks the
 * replies (see vu_msg_harness.h).
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
#include "vu_msg_harness.h"

/* Device state, per test process (Check forks each test). */
static const struct vhd_api	*t_api;
uint8_t				 t_config[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
atomic_int			 t_resets;
struct event_base		*t_base;
struct device			*t_dev;
static pthread_t		 t_loop;
char				 t_dir[64];
char				 t_sock[128];
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

const struct vhd_device_ops t_ops = {
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
void
t_cd_init(struct conf_device *cd, const char *path)
{
	memset(cd, 0, sizeof *cd);
	cd->name = (char *)(uintptr_t)"test0";
	cd->module = (char *)(uintptr_t)"test";
	cd->socket = (char *)(uintptr_t)path;
	TAILQ_INIT(&cd->options);
}

/* Create the device and run its loop. */
void
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
void
t_teardown(void)
{
	event_base_loopbreak(t_base);
	pthread_join(t_loop, NULL);
	device_destroy(t_dev);
	event_base_free(t_base);
	rmdir(t_dir);
}

/* Wait until the module has been reset `n` times in all. */
void
t_wait_resets(int n)
{
	int	 i;

	for (i = 0; i < 250 && atomic_load(&t_resets) < n; i++)
		usleep(20000);
	ck_assert_int_ge(atomic_load(&t_resets), n);
}

/* Fill a unix socket address. */
void
t_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(path), sizeof sun->sun_path);
	memcpy(sun->sun_path, path, strlen(path));
}

/* Connect to the device's socket, with a receive timeout. */
int
tfe_connect(void)
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
void
tfe_send_raw(int fd, uint32_t req, uint32_t flags, const void *payload,
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
void
tfe_send(int fd, uint32_t req, uint32_t flags, const void *payload,
    uint32_t size, const int *fds, unsigned nfds)
{
	tfe_send_raw(fd, req, VHOST_USER_VERSION | flags, payload, size, fds,
	    nfds);
}

/* Read exactly len bytes; -1 on EOF/timeout. */
int
tfe_read(int fd, void *buf, size_t len)
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
uint32_t
tfe_recv(int fd, uint32_t req, void *buf, size_t len)
{
	struct vhost_user_header hdr;

	ck_assert_int_eq(tfe_read(fd, &hdr, sizeof hdr), 0);
	ck_assert_uint_eq(hdr.request, req);
	ck_assert_uint_eq(hdr.flags, VHOST_USER_VERSION |
	    VHOST_USER_REPLY_MASK);
	ck_assert_uint_le(hdr.size, len);
	if (hdr.size > 0)
		ck_assert_int_eq(tfe_read(fd, buf, hdr.size), 0);
	return (hdr.size);
}

/* Receive a u64 reply to `req`. */
uint64_t
tfe_recv_u64(int fd, uint32_t req)
{
	uint64_t	 v;

	ck_assert_uint_eq(tfe_recv(fd, req, &v, sizeof v), sizeof v);
	return (v);
}

/* A request with a u64 reply. */
uint64_t
tfe_get_u64(int fd, uint32_t req)
{
	tfe_send(fd, req, 0, NULL, 0, NULL, 0);
	return (tfe_recv_u64(fd, req));
}

/* A request with NEED_REPLY; returns the ack. */
uint64_t
tfe_ack(int fd, uint32_t req, const void *payload, uint32_t size,
    const int *fds, unsigned nfds)
{
	tfe_send(fd, req, T_NEED, payload, size, fds, nfds);
	return (tfe_recv_u64(fd, req));
}

/* A request taking a u64, with NEED_REPLY; returns the ack. */
uint64_t
tfe_ack_u64(int fd, uint32_t req, uint64_t v)
{
	return (tfe_ack(fd, req, &v, sizeof v, NULL, 0));
}

/* The connection still answers: GET_FEATURES is the next reply. */
void
tfe_alive(int fd)
{
	uint64_t	 f = tfe_get_u64(fd, VHOST_USER_GET_FEATURES);

	ck_assert(f & (1ULL << VHD_F_VERSION_1));
}

/* The peer closed the connection. */
void
tfe_closed(int fd)
{
	ssize_t	 n;
	char	 c;

	/* A close with our bytes still unread shows as a reset. */
	n = recv(fd, &c, 1, 0);
	ck_assert_msg(n == 0 || (n == -1 && errno == ECONNRESET),
	    "connection not closed: %zd (%s)", n, strerror(errno));
}

/* Negotiate REPLY_ACK and the other protocol features. */
int
tfe_negotiate(void)
{
	uint64_t	 pf;
	int		 fd = tfe_connect();

	tfe_get_u64(fd, VHOST_USER_GET_FEATURES);
	tfe_send(fd, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
	pf = tfe_get_u64(fd, VHOST_USER_GET_PROTOCOL_FEATURES);
	tfe_send(fd, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &pf, sizeof pf,
	    NULL, 0);
	return (fd);
}

/* An fd whose closing by the daemon we can observe: the write end of a
 * pipe (we keep the read end in *rd). */
int
t_pipe(int *rd)
{
	int	 p[2];

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	*rd = p[0];
	return (p[1]);
}

/* The daemon closed its copy of the pipe's write end. */
void
t_pipe_closed(int rd)
{
	struct pollfd	 pfd = { rd, POLLIN, 0 };
	char		 c;

	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(read(rd, &c, 1), 0);
	close(rd);
}

/* A memfd of T_MEMSZ bytes mapped here too. */
int
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
uint64_t
tfe_mem_table(int fd, int memfd, uint64_t gpa, uint64_t size, uint64_t uva,
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
	return (tfe_ack(fd, VHOST_USER_SET_MEM_TABLE, &mt, sizeof mt, &memfd,
	    1));
}

/* Run suite `s`; the exit status says whether every test passed. */
int
t_main(Suite *s)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
