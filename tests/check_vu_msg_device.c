/*
 * Suite "vu_msg_device": a device's connections and life driven over its
 * real unix socket: a second frontend, reconnects, resets, backend config
 * changes, accept at EMFILE, shared objects, a failed device and the
 * checks at creation.  Harness: tests/vu_msg_harness.[ch].
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

/* A second frontend is refused while the first is connected. */
START_TEST(test_second_connection)
{
	int	 fd = tfe_negotiate(), fd2;

	fd2 = tfe_connect();
	tfe_closed(fd2);
	close(fd2);
	tfe_alive(fd);
	close(fd);
}
END_TEST

/* After a disconnect the device is reset and a new frontend is served
 * from scratch (owner cleared, module reset called). */
START_TEST(test_reconnect)
{
	int	 fd = tfe_negotiate();

	tfe_alive(fd);
	close(fd);
	t_wait_resets(1);
	fd = tfe_negotiate();
	/* The SET_OWNER in tfe_negotiate succeeded: try again to see it. */
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0),
	    1);
	tfe_alive(fd);
	close(fd);
}
END_TEST

/* RESET_DEVICE resets the module and keeps the connection. */
START_TEST(test_reset_device)
{
	int	 fd = tfe_negotiate();

	ck_assert_uint_eq(tfe_ack_u64(fd, VHOST_USER_SET_FEATURES,
	    1ULL << VHD_F_VERSION_1), 0);
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_RESET_DEVICE, NULL, 0, NULL,
	    0), 0);
	ck_assert_int_eq(atomic_load(&t_resets), 1);
	ck_assert_uint_eq(atomic_load(&t_dev->acked_features), 0);
	tfe_alive(fd);
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
	int			 sp[2], fd = tfe_negotiate();

	ck_assert_int_eq(vu_backend_config_changed(t_dev), -1);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sp), 0);
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0,
	    &sp[1], 1), 0);
	close(sp[1]);
	ck_assert_int_eq(vu_backend_config_changed(t_dev), 0);
	ck_assert_int_eq(tfe_read(sp[0], &hdr, sizeof hdr), 0);
	ck_assert_uint_eq(hdr.request, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	ck_assert_uint_eq(hdr.flags, VHOST_USER_VERSION | T_NEED);
	ck_assert_uint_eq(hdr.size, VHOST_USER_CONFIG_HDR_SIZE + 8);
	ck_assert_int_eq(tfe_read(sp[0], &cfg, VHOST_USER_CONFIG_HDR_SIZE), 0);
	ck_assert_uint_eq(cfg.offset, 0);
	ck_assert_uint_eq(cfg.size, 8);
	ck_assert_int_eq(tfe_read(sp[0], buf, sizeof buf), 0);
	ck_assert_mem_eq(buf, t_config, sizeof buf);
	hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	hdr.size = sizeof ack;
	ck_assert_int_eq(send(sp[0], &hdr, sizeof hdr, 0), sizeof hdr);
	ck_assert_int_eq(send(sp[0], &ack, sizeof ack, 0), sizeof ack);
	tfe_alive(fd);
	close(sp[0]);
	close(fd);
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
	fd = tfe_connect();		/* takes the last free fd */
	usleep(200000);			/* the daemon's accept fails */
	for (i = 0; i < n; i++)
		close(fds[i]);
	tfe_alive(fd);			/* accepted after the pause */
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
	fd = tfe_negotiate();
	tfe_send(fd, VHOST_USER_GET_PROTOCOL_FEATURES, 0, NULL, 0, NULL, 0);
	pf = tfe_recv_u64(fd, VHOST_USER_GET_PROTOCOL_FEATURES);
	ck_assert(pf & (1ULL << VHOST_USER_PROTOCOL_F_SHARED_OBJECT));

	memset(&obj, 0, sizeof obj);
	obj.uuid[0] = 1;
	tfe_send(fd, VHOST_USER_GET_SHARED_OBJECT, 0, &obj, sizeof obj, NULL,
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
	tfe_send(fd, VHOST_USER_GET_SHARED_OBJECT, 0, &obj, sizeof obj, NULL,
	    0);
	ck_assert_uint_eq(tfe_recv(fd, VHOST_USER_GET_SHARED_OBJECT, &v,
	    sizeof v), 0);
	tfe_alive(fd);
	/* The loop thread handles the disconnect; let it finish before the
	 * device is destroyed from this thread. */
	resets = atomic_load(&t_resets);
	close(fd);
	t_wait_resets(resets + 1);
	device_destroy(dev);
}
END_TEST

/* device_fail marks the device broken once and signals the err fds;
 * RESET_DEVICE clears it. */
START_TEST(test_device_fail)
{
	struct pollfd	 pfd;
	eventfd_t	 ev;
	uint64_t	 v = 1;
	int		 efd, fd = tfe_negotiate();

	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_SET_VRING_ERR, &v, sizeof v,
	    &efd, 1), 0);
	device_fail(t_dev, "test reason %d", 42);
	device_fail(t_dev, "second");
	ck_assert_int_eq(atomic_load(&t_dev->broken), 1);
	pfd.fd = efd;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(eventfd_read(efd, &ev), 0);
	ck_assert_uint_eq(ev, 1);	/* signalled once */
	ck_assert_uint_eq(tfe_ack(fd, VHOST_USER_RESET_DEVICE, NULL, 0, NULL,
	    0), 0);
	ck_assert_int_eq(atomic_load(&t_dev->broken), 0);
	close(efd);
	tfe_alive(fd);
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
vu_msg_device_suite(void)
{
	Suite	*s = suite_create("vu_msg_device");
	TCase	*tc;

#define T_ADD(fn) do {							\
	tc = tcase_create(#fn);						\
	tcase_add_checked_fixture(tc, t_setup, t_teardown);		\
	tcase_set_timeout(tc, 30);					\
	tcase_add_test(tc, fn);						\
	suite_add_tcase(s, tc);						\
} while (0)
	T_ADD(test_second_connection);
	T_ADD(test_reconnect);
	T_ADD(test_reset_device);
	T_ADD(test_backend_config_change);
	T_ADD(test_accept_emfile);
	T_ADD(test_shared_object);
	T_ADD(test_device_fail);
	T_ADD(test_create_checks);
#undef T_ADD
	return (s);
}

/* Run the suite. */
int
main(void)
{
	return (t_main(vu_msg_device_suite()));
}
