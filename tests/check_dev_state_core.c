/*
 * The core's side of device state and GPU_SET_SOCKET against hand-made
 * ops tables (device_create_ops, the daemon's main loop in a thread, the
 * test frontend on the socket): a table of an older ABI is copied by its
 * size (callbacks past it are never called, DEVICE_STATE is not
 * offered), a module whose save fails gets an error reply, and the GPU
 * socket reaches the module's callback (or is closed when it refuses).
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
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
#include "fe/fe.h"
#include "log.h"

static char		 c_dir[64];
static char		 c_sock[128];
static struct event_base *c_base;
static pthread_t	 c_loop;
static struct device	*c_dev;
static atomic_int	 c_gpu_calls;
static atomic_int	 c_gpu_refuse;

/* A one-queue device with no config space. */
static int
c_create(struct vhd_dev *dev, const struct vhd_api *api,
    const struct vhd_kv *kv, size_t nkv, struct vhd_dev_info *info,
    char **cause)
{
	(void)dev;
	(void)api;
	(void)kv;
	(void)nkv;
	(void)cause;
	info->device_id = 42;
	return (0);
}

/* Leave chains in the ring. */
static void
c_queue_handler(struct vhd_dev *dev, struct vhd_queue *q)
{
	(void)dev;
	(void)q;
}

/* A save that always fails. */
static int
c_save_fail(struct vhd_dev *dev, void **buf, size_t *len)
{
	(void)dev;
	(void)buf;
	(void)len;
	return (-1);
}

/* A load that takes anything. */
static int
c_load(struct vhd_dev *dev, const void *buf, size_t len)
{
	(void)dev;
	(void)buf;
	(void)len;
	return (0);
}

/* The GPU socket: say hello on it and keep it (or refuse it). */
static int
c_gpu_set_socket(struct vhd_dev *dev, int fd)
{
	(void)dev;
	atomic_fetch_add(&c_gpu_calls, 1);
	if (atomic_load(&c_gpu_refuse))
		return (-1);
	if (write(fd, "gpu", 3) != 3)
		return (-1);
	close(fd);
	return (0);
}

/* The main loop. */
static void *
c_loop_main(void *arg)
{
	(void)arg;
	event_base_loop(c_base, EVLOOP_NO_EXIT_ON_EMPTY);
	return (NULL);
}

/* Serve a device with `ops` on c_sock. */
static void
c_start(const struct vhd_device_ops *ops)
{
	struct conf_device	 cd;
	char			*cause = NULL;

	log_init(LOG_LEVEL_WARN, 0);
	ck_assert_int_eq(evthread_use_pthreads(), 0);
	snprintf(c_dir, sizeof c_dir, "/tmp/check_dev_state_core.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(c_dir));
	snprintf(c_sock, sizeof c_sock, "%s/dev.sock", c_dir);
	memset(&cd, 0, sizeof cd);
	cd.name = (char *)(uintptr_t)"core0";
	cd.module = (char *)(uintptr_t)"test";
	cd.socket = c_sock;
	TAILQ_INIT(&cd.options);
	c_base = event_base_new();
	ck_assert_ptr_nonnull(c_base);
	c_dev = device_create_ops(c_base, "core0", ops, &cd, &cause);
	ck_assert_msg(c_dev != NULL, "device_create_ops: %s", cause);
	ck_assert_int_eq(pthread_create(&c_loop, NULL, c_loop_main, NULL), 0);
}

/* Stop the loop, destroy the device. */
static void
c_stop(void)
{
	event_base_loopbreak(c_base);
	pthread_join(c_loop, NULL);
	device_destroy(c_dev);
	event_base_free(c_base);
	rmdir(c_dir);
}

/* A frontend negotiated with everything it wants. */
static struct fe *
c_fe(void)
{
	struct fe	*fe = fe_new(c_sock, NULL, 0);

	ck_assert_msg(fe != NULL, "fe_new: %s", fe_error());
	ck_assert_int_eq(fe_negotiate(fe, FE_WANT_FEATURES, FE_WANT_PROTOCOL),
	    0);
	return (fe);
}

/*
 * An ABI 1.2 module's table ends before state_save: whatever lies past
 * its size is not the module's and must never be called.  The bytes
 * past it here are bogus non-NULL pointers; the device must not offer
 * DEVICE_STATE, refuse the requests, and not crash.
 */
START_TEST(test_old_table)
{
	struct vhd_device_ops	 ops;
	struct fe		*fe;
	uint64_t		 pf, res;

	memset(&ops, 0xa5, sizeof ops);
	ops.size = offsetof(struct vhd_device_ops, state_save);
	ops.create = c_create;
	ops.destroy = NULL;
	ops.queue_handler = c_queue_handler;
	ops.queue_start = ops.queue_stop = NULL;
	ops.features_acked = NULL;
	ops.get_config = NULL;
	ops.set_config = NULL;
	ops.reset = NULL;
	ops.mem_update = NULL;
	ops.get_shared_object = NULL;
	ops.queue_quiesce = NULL;
	c_start(&ops);
	ck_assert_ptr_null(c_dev->ops->state_save);
	ck_assert_ptr_null(c_dev->ops->state_load);
	ck_assert_ptr_null(c_dev->ops->gpu_set_socket);
	fe = fe_new(c_sock, NULL, 0);
	ck_assert_ptr_nonnull(fe);
	ck_assert_int_eq(fe_set_owner(fe), 0);
	ck_assert_int_eq(fe_get_features(fe, &pf), 0);
	ck_assert_int_eq(fe_get_protocol_features(fe, &pf), 0);
	ck_assert(!(pf & FE_BIT(VHOST_USER_PROTOCOL_F_DEVICE_STATE)));
	ck_assert_int_eq(fe_set_protocol_features(fe, pf), 0);
	ck_assert_int_eq(fe_check_state(fe, &res), 1);
	fe_free(fe);
	c_stop();
}
END_TEST

/* A module whose save fails: an error code in the reply, the pipe is
 * closed (the frontend never waits for data), the next request works. */
START_TEST(test_save_fails)
{
	struct vhd_device_ops	 ops;
	struct fe		*fe;
	uint64_t		 v, f;
	int			 fd;

	memset(&ops, 0, sizeof ops);
	ops.size = sizeof ops;
	ops.create = c_create;
	ops.queue_handler = c_queue_handler;
	ops.state_save = c_save_fail;
	ops.state_load = c_load;
	c_start(&ops);
	fe = c_fe();
	ck_assert(fe->acked_protocol &
	    FE_BIT(VHOST_USER_PROTOCOL_F_DEVICE_STATE));
	ck_assert_int_eq(fe_state_fd(fe, FE_STATE_SAVE, 0, &fd, &v), 1);
	ck_assert_uint_eq(v, 0x101);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(fe_get_features(fe, &f), 0);
	/* A load of an empty stream is refused (no header), not taken. */
	ck_assert_int_eq(fe_state_fd(fe, FE_STATE_LOAD, 0, &fd, &v), 0);
	close(fd);
	ck_assert_int_eq(fe_check_state(fe, &v), 1);
	fe_free(fe);
	c_stop();
}
END_TEST

/* GPU_SET_SOCKET reaches the module's callback, which owns the fd; a
 * callback that refuses gets its fd closed by the daemon and an error
 * ack for the frontend. */
START_TEST(test_gpu_socket)
{
	struct vhd_device_ops	 ops;
	struct fe		*fe;
	struct pollfd		 pfd;
	uint64_t		 ack;
	char			 buf[8];
	int			 sv[2];

	memset(&ops, 0, sizeof ops);
	ops.size = sizeof ops;
	ops.create = c_create;
	ops.queue_handler = c_queue_handler;
	ops.gpu_set_socket = c_gpu_set_socket;
	atomic_store(&c_gpu_calls, 0);
	atomic_store(&c_gpu_refuse, 0);
	c_start(&ops);
	fe = c_fe();

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_int_eq(fe_request_ack(fe, VHOST_USER_GPU_SET_SOCKET, NULL, 0,
	    &sv[1], 1, &ack), 0);
	ck_assert_uint_eq(ack, 0);
	close(sv[1]);
	ck_assert_int_eq(atomic_load(&c_gpu_calls), 1);
	pfd.fd = sv[0];
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(read(sv[0], buf, sizeof buf), 3);
	ck_assert(memcmp(buf, "gpu", 3) == 0);
	close(sv[0]);

	atomic_store(&c_gpu_refuse, 1);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_int_eq(fe_request_ack(fe, VHOST_USER_GPU_SET_SOCKET, NULL, 0,
	    &sv[1], 1, &ack), 1);
	ck_assert_uint_ne(ack, 0);
	close(sv[1]);
	ck_assert_int_eq(atomic_load(&c_gpu_calls), 2);
	/* Closed by the daemon: a hang-up with no data. */
	pfd.fd = sv[0];
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(read(sv[0], buf, sizeof buf), 0);
	close(sv[0]);
	fe_free(fe);
	c_stop();
}
END_TEST

static Suite *
dev_state_core_suite(void)
{
	Suite	*s = suite_create("dev_state_core");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_old_table);
	tcase_add_test(tc, test_save_fails);
	tcase_add_test(tc, test_gpu_socket);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(dev_state_core_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? 0 : 1);
}
