/*
 * Unit tests for rings started on a worker (core/vring.c, core/worker.c)
 * and the module API around them (core/api.c): a device served by one
 * real worker starts its queue with the buffers made available earlier,
 * rewinds or completes held chains on stop, pauses when its memory is
 * removed, and the vhd_api table's accessors, timers and failure paths
 * act on it.  Fixture: tests/vring_fixture.[ch].
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "device.h"
#include "guest_mem.h"
#include "vhost_user.h"
#include "vring.h"
#include "worker.h"
#include "vring_fixture.h"

/* Rings started on workers. */

/* A device served by one real worker, for start/stop tests. */
static struct device	 wdev;
static struct worker	*wdev_workers[1];
static _Atomic int	 wq_handled, wq_started, wq_stopped;
static int		 wq_hold;
static struct vring_chain *wq_held;
static struct vring_chain *wq_chains[NUM];	/* held, in pop order */
static unsigned		 wq_nheld;
/* For the api tests. */
static const struct vhd_api	*at_api;
static struct vhd_watch		*at_watch;
static _Atomic int		 at_fired, at_popped, at_on_worker;

/* Queue handler: pop everything; push unless told to hold. */
static void
wq_handler(struct vhd_dev *d, struct vhd_queue *q)
{
	struct device		*dev = device_from_vhd(d);
	struct vring		*vq = (struct vring *)(void *)q;
	struct vring_chain	*c;
	const char		*err = NULL;

	while ((c = vring_pop(vq, device_mem(dev), &err)) != NULL) {
		atomic_fetch_add(&wq_handled, 1);
		if (wq_hold) {
			wq_held = c;
			if (wq_nheld < NUM)
				wq_chains[wq_nheld++] = c;
		} else
			vring_push(vq, device_mem(dev), c, 0);
	}
	/* As api->queue_pop does. */
	if (err != NULL)
		device_fail(dev, "queue %u: %s", vq->index, err);
}

/* Queue start callback. */
static void
wq_start(struct vhd_dev *d, struct vhd_queue *q)
{
	(void)d;
	(void)q;
	atomic_fetch_add(&wq_started, 1);
}

/* Queue stop callback. */
static void
wq_stop(struct vhd_dev *d, struct vhd_queue *q)
{
	(void)d;
	(void)q;
	atomic_fetch_add(&wq_stopped, 1);
}

static const struct vhd_device_ops wq_ops = {
	.size = sizeof(struct vhd_device_ops),
	.queue_handler = wq_handler,
	.queue_start = wq_start,
	.queue_stop = wq_stop,
};

/* Build wdev around the fixture's memory, with one worker and the ring
 * ready to start. */
static void
wdev_setup(void)
{
	char	*cause = NULL;

	setup();
	atomic_store(&wq_handled, 0);
	atomic_store(&wq_started, 0);
	atomic_store(&wq_stopped, 0);
	wq_hold = 0;
	wq_held = NULL;
	wq_nheld = 0;
	atomic_store(&at_fired, 0);
	atomic_store(&at_popped, 0);
	atomic_store(&at_on_worker, 0);
	at_watch = NULL;
	memset(&wdev, 0, sizeof wdev);
	wdev.name = (char *)(uintptr_t)"tdev0";
	wdev.ops = &wq_ops;
	wdev.nworkers = 1;
	wdev_workers[0] = worker_start("tdev0/w0", &cause);
	ck_assert_ptr_nonnull(wdev_workers[0]);
	wdev.workers = wdev_workers;
	wdev.vrings = &fx.vq;
	wdev.info.num_queues = 1;
	pthread_mutex_init(&wdev.err_lock, NULL);
	pthread_mutex_init(&wdev.holes_lock, NULL);
	atomic_store(&wdev.mem, fx.mem);
	fx.vq.dev = &wdev;
	fx.vq.kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ck_assert_int_ge(fx.vq.kick_fd, 0);
	fx.vq.enabled = 1;
}

/* Stop and free wdev. */
static void
wdev_teardown(void)
{
	vring_stop(&fx.vq);
	worker_stop(wdev_workers[0]);
	teardown();
}

/* Wait (bounded) until the handler has seen n chains. */
static void
wq_wait_handled(int n)
{
	struct timespec	 ts = { 0, 1000000 };
	int		 i;

	for (i = 0; i < 2000 && atomic_load(&wq_handled) < n; i++)
		nanosleep(&ts, NULL);
	ck_assert_int_eq(atomic_load(&wq_handled), n);
}

START_TEST(test_start_sees_earlier_buffers)
{
	desc(0, 0x9000, 8, VRING_DESC_F_WRITE, 0);
	/* Made available, no kick, before the ring starts (rust-vmm
	 * vhost#247): start must still see it. */
	avail_add(0);
	ck_assert_int_eq(vring_can_start(&fx.vq), 1);
	vring_update(&fx.vq);
	ck_assert_int_eq(fx.vq.started, 1);
	ck_assert_int_eq(atomic_load(&wq_started), 1);
	ck_assert_int_eq(atomic_load(&wq_handled), 1);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 1);

	/* A kick runs the handler on the worker. */
	avail_add(0);
	ck_assert_int_eq(eventfd_write(fx.vq.kick_fd, 1), 0);
	wq_wait_handled(2);
	worker_sync(wdev_workers[0]);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 2);

	/* Updating a started ring that can run is a no-op. */
	vring_update(&fx.vq);
	ck_assert_int_eq(atomic_load(&wq_started), 1);
	/* Disabling it stops it. */
	fx.vq.enabled = 0;
	vring_update(&fx.vq);
	ck_assert_int_eq(fx.vq.started, 0);
	ck_assert_int_eq(atomic_load(&wq_stopped), 1);
	ck_assert_uint_eq(fx.vq.last_avail_idx, 2);
}
END_TEST

START_TEST(test_stop_rewinds_held_chains)
{
	desc(0, 0x9000, 8, VRING_DESC_F_WRITE, 0);
	wq_hold = 1;
	avail_add(0);
	vring_update(&fx.vq);
	ck_assert_int_eq(atomic_load(&wq_handled), 1);
	ck_assert_uint_eq(fx.vq.last_avail_idx, 1);
	vring_stop(&fx.vq);
	/* The held chain was never completed: GET_VRING_BASE must report
	 * it as not consumed. */
	ck_assert_uint_eq(fx.vq.last_avail_idx, 0);
	ck_assert_uint_eq(fx.vq.inflight, 0);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 0);
	/* Restarting serves it again. */
	wq_hold = 0;
	vring_update(&fx.vq);
	ck_assert_int_eq(atomic_load(&wq_handled), 2);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 1);
}
END_TEST

START_TEST(test_start_conditions)
{
	ck_assert_int_eq(vring_can_start(&fx.vq), 1);
	fx.vq.enabled = 0;
	ck_assert_int_eq(vring_can_start(&fx.vq), 0);
	fx.vq.enabled = 1;
	atomic_store(&wdev.broken, 1);
	ck_assert_int_eq(vring_can_start(&fx.vq), 0);
	atomic_store(&wdev.broken, 0);
	fx.vq.addr_set = 0;
	ck_assert_int_eq(vring_can_start(&fx.vq), 0);
	fx.vq.addr_set = 1;
	/* No memory holding the rings: not started. */
	atomic_store(&wdev.mem, NULL);
	vring_update(&fx.vq);
	ck_assert_int_eq(fx.vq.started, 0);
	ck_assert_int_eq(atomic_load(&wq_started), 0);
	atomic_store(&wdev.mem, fx.mem);
	vring_update(&fx.vq);
	ck_assert_int_eq(fx.vq.started, 1);
}
END_TEST

/* On the worker: push the held chain wq_chains[*arg] with length 0. */
static void
wq_push_held(void *arg)
{
	unsigned	 i = *(unsigned *)arg;

	vring_push(&fx.vq, device_mem(&wdev), wq_chains[i], 0);
}

START_TEST(test_stop_completes_held_chains_not_last)
{
	unsigned	 i, one = 1;

	/* Three chains popped and held; the module completes the middle
	 * one and still holds the first and the last at queue_stop. */
	for (i = 0; i < 3; i++)
		desc(i, 0x9000 + 0x100 * i, 8, VRING_DESC_F_WRITE, 0);
	wq_hold = 1;
	vring_update(&fx.vq);
	for (i = 0; i < 3; i++)
		avail_add((uint16_t)i);
	ck_assert_int_eq(eventfd_write(fx.vq.kick_fd, 1), 0);
	wq_wait_handled(3);
	worker_post(wdev_workers[0], WCMD_CALL, NULL, wq_push_held, &one, 1);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 1);
	ck_assert_int_eq(vring_stop(&fx.vq), 0);
	/*
	 * Exact: the last popped one (head 2) is rewound, so the base is 2;
	 * the first one (head 0) cannot be rewound without serving head 1
	 * twice, so it is completed with length 0.  None lost.
	 */
	ck_assert_uint_eq(fx.vq.last_avail_idx, 2);
	ck_assert_uint_eq(fx.vq.inflight, 0);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 2);
	ck_assert_uint_eq(gr32(USED_GPA + 4), 1);	/* head 1 ... */
	ck_assert_uint_eq(gr32(USED_GPA + 12), 0);	/* ... then head 0 */
	ck_assert_uint_eq(gr32(USED_GPA + 16), 0);	/* with length 0 */
	/* The restart serves head 2 once. */
	wq_hold = 0;
	vring_update(&fx.vq);
	wq_wait_handled(4);
	worker_sync(wdev_workers[0]);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 3);
	ck_assert_uint_eq(gr32(USED_GPA + 20), 2);
}
END_TEST

START_TEST(test_start_clears_used_flags)
{
	/* A previous back-end left VRING_USED_F_NO_NOTIFY set: the guest
	 * would never kick us again. */
	gw16(USED_GPA, 1);
	vring_update(&fx.vq);
	ck_assert_int_eq(fx.vq.started, 1);
	ck_assert_uint_eq(gr16(USED_GPA), 0);
}
END_TEST

/* Swap the ring's memory for `mem` as device_set_mem does. */
static void
wq_set_mem(struct guest_mem *mem)
{
	atomic_store(&wdev.mem, mem);
	ck_assert_int_eq(worker_sync(wdev_workers[0]), 0);
}

START_TEST(test_removed_ring_pauses)
{
	struct guest_region	*rest[3] = { fx.r[1], fx.r[2], fx.r[3] };
	struct guest_mem	*without_a;
	char			*cause = NULL;

	desc(0, 0x9000, 8, VRING_DESC_F_WRITE, 0);
	vring_update(&fx.vq);
	ck_assert_int_eq(fx.vq.started, 1);
	/* REM_MEM_REG of region A, which holds the rings. */
	without_a = guest_mem_new(rest, 3, &cause);
	ck_assert_msg(without_a != NULL, "%s", cause);
	device_mem_hole_add(&wdev, GA, SMALL);
	wq_set_mem(without_a);
	avail_add(0);
	ck_assert_int_eq(eventfd_write(fx.vq.kick_fd, 1), 0);
	worker_sync(wdev_workers[0]);
	worker_sync(wdev_workers[0]);
	ck_assert_int_eq(atomic_load(&wdev.broken), 0);
	ck_assert_int_eq(fx.vq.paused, 1);
	ck_assert_uint_eq(fx.vq.last_avail_idx, 0);
	/* ADD_MEM_REG brings it back: the queue resumes by itself. */
	wq_set_mem(fx.mem);
	device_mem_holes_clear(&wdev);
	vring_resume(&fx.vq);
	wq_wait_handled(1);
	worker_sync(wdev_workers[0]);
	ck_assert_int_eq(fx.vq.paused, 0);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 1);
	ck_assert_int_eq(atomic_load(&wdev.broken), 0);
	guest_mem_free(without_a);
}
END_TEST

START_TEST(test_removed_buffer_pauses_gap_breaks)
{
	struct guest_region	*rest[3] = { fx.r[0], fx.r[2], fx.r[3] };
	struct guest_mem	*without_b;
	char			*cause = NULL;

	/* A buffer in B, removed: the pop is not taken, the queue pauses. */
	desc(0, GB + 0x100, 8, VRING_DESC_F_WRITE, 0);
	vring_update(&fx.vq);
	without_b = guest_mem_new(rest, 3, &cause);
	ck_assert_msg(without_b != NULL, "%s", cause);
	device_mem_hole_add(&wdev, GB, SMALL);
	wq_set_mem(without_b);
	avail_add(0);
	ck_assert_int_eq(eventfd_write(fx.vq.kick_fd, 1), 0);
	worker_sync(wdev_workers[0]);
	worker_sync(wdev_workers[0]);
	ck_assert_int_eq(atomic_load(&wdev.broken), 0);
	ck_assert_int_eq(fx.vq.paused, 1);
	ck_assert_int_eq(atomic_load(&wq_handled), 0);
	wq_set_mem(fx.mem);
	device_mem_holes_clear(&wdev);
	vring_resume(&fx.vq);
	wq_wait_handled(1);
	worker_sync(wdev_workers[0]);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 1);
	/* A buffer in the gap that was never memory still breaks it. */
	desc(1, 0x30000, 8, VRING_DESC_F_WRITE, 0);
	device_mem_hole_add(&wdev, GB, SMALL);
	avail_add(1);
	ck_assert_int_eq(eventfd_write(fx.vq.kick_fd, 1), 0);
	worker_sync(wdev_workers[0]);
	worker_sync(wdev_workers[0]);
	ck_assert_int_eq(atomic_load(&wdev.broken), 1);
	device_mem_holes_clear(&wdev);
	guest_mem_free(without_b);
}
END_TEST

/* Timer callback: pop and complete what is available through the API. */
static void
at_timer_cb(struct vhd_watch *w, int fd, short events, void *arg)
{
	struct vhd_queue	*q = arg;
	struct vhd_chain	*c;

	(void)w;
	if (fd == -1 && (events & VHD_EV_TIMEOUT))
		atomic_fetch_add(&at_fired, 1);
	while ((c = at_api->queue_pop(q)) != NULL) {
		if (at_api->chain_writable(c) == 8 &&
		    at_api->chain_write(c, 0, "api-data", 8) == 8)
			atomic_fetch_add(&at_popped, 1);
		at_api->queue_push(q, c, 8);
	}
	at_api->queue_notify(q);
}

/* On the worker: create and arm a timer. */
static void
at_arm(struct vhd_dev *d, void *arg)
{
	(void)arg;
	if (worker_self() == wdev_workers[0])
		atomic_store(&at_on_worker, 1);
	at_watch = at_api->watch_new(d, 0, -1, 0, at_timer_cb,
	    at_api->dev_queue(d, 0));
	if (at_watch != NULL)
		at_api->watch_add(at_watch, 5);
}

/* Wait (bounded) until *v reaches n. */
static void
at_wait(_Atomic int *v, int n)
{
	struct timespec	 ts = { 0, 1000000 };
	int		 i;

	for (i = 0; i < 2000 && atomic_load(v) < n; i++)
		nanosleep(&ts, NULL);
	ck_assert_int_eq(atomic_load(v), n);
}

START_TEST(test_api_table)
{
	const struct vhd_api	*api = api_get();

	ck_assert_uint_eq(api->size, sizeof(struct vhd_api));
	ck_assert_uint_eq(api->abi_major, VHD_ABI_MAJOR);
	ck_assert_ptr_nonnull(api->log);
	ck_assert_ptr_nonnull(api->dev_set_priv);
	ck_assert_ptr_nonnull(api->dev_priv);
	ck_assert_ptr_nonnull(api->dev_name);
	ck_assert_ptr_nonnull(api->dev_features);
	ck_assert_ptr_nonnull(api->queue_index);
	ck_assert_ptr_nonnull(api->queue_dev);
	ck_assert_ptr_nonnull(api->queue_worker);
	ck_assert_ptr_nonnull(api->dev_queue);
	ck_assert_ptr_nonnull(api->queue_pop);
	ck_assert_ptr_nonnull(api->queue_push);
	ck_assert_ptr_nonnull(api->queue_notify);
	ck_assert_ptr_nonnull(api->queue_rewind);
	ck_assert_ptr_nonnull(api->chain_readable);
	ck_assert_ptr_nonnull(api->chain_writable);
	ck_assert_ptr_nonnull(api->chain_read);
	ck_assert_ptr_nonnull(api->chain_write);
	ck_assert_ptr_nonnull(api->chain_iov);
	ck_assert_ptr_nonnull(api->watch_new);
	ck_assert_ptr_nonnull(api->watch_add);
	ck_assert_ptr_nonnull(api->watch_del);
	ck_assert_ptr_nonnull(api->watch_free);
	ck_assert_ptr_nonnull(api->run_on_worker);
	ck_assert_ptr_nonnull(api->config_changed);
	ck_assert_ptr_nonnull(api->dev_fail);
}
END_TEST

START_TEST(test_api_device_accessors)
{
	const struct vhd_api	*api = api_get();
	struct vhd_dev		*d = device_to_vhd(&wdev);
	struct vhd_queue	*q;
	int			 priv;

	ck_assert_str_eq(api->dev_name(d), "tdev0");
	api->dev_set_priv(d, &priv);
	ck_assert_ptr_eq(api->dev_priv(d), &priv);
	atomic_store(&wdev.acked_features, 1ULL << VHD_F_VERSION_1);
	ck_assert_uint_eq(api->dev_features(d), 1ULL << VHD_F_VERSION_1);
	q = api->dev_queue(d, 0);
	ck_assert_ptr_eq(q, (struct vhd_queue *)(void *)&fx.vq);
	ck_assert_ptr_null(api->dev_queue(d, 1));
	ck_assert_uint_eq(api->queue_index(q), 0);
	ck_assert_uint_eq(api->queue_worker(q), 0);
	ck_assert_ptr_eq(api->queue_dev(q), d);
	api->log(d, VHD_LOG_INFO, "api log line %d", 1);
	api->log(d, (enum vhd_log_level)99, "out of range level");
	/* Off the worker, and the ring not started: refused. */
	ck_assert_ptr_null(api->queue_pop(q));
	ck_assert_ptr_null(api->watch_new(d, 0, -1, 0, at_timer_cb, q));
	ck_assert_ptr_null(api->watch_new(d, 1, -1, 0, at_timer_cb, q));
	ck_assert_int_eq(api->run_on_worker(d, 1, at_arm, NULL, 1), -1);
}
END_TEST

START_TEST(test_api_timer_pops_on_worker)
{
	struct vhd_dev	*d = device_to_vhd(&wdev);
	char		 buf[8];

	at_api = api_get();
	wq_hold = 1;	/* the kick handler leaves chains alone */
	desc(0, 0x9000, 8, VRING_DESC_F_WRITE, 0);
	vring_update(&fx.vq);
	ck_assert_int_eq(fx.vq.started, 1);
	avail_add(0);
	ck_assert_int_eq(at_api->run_on_worker(d, 0, at_arm, NULL, 1), 0);
	ck_assert_int_eq(atomic_load(&at_on_worker), 1);
	ck_assert_ptr_nonnull(at_watch);
	at_wait(&at_fired, 1);
	at_wait(&at_popped, 1);
	worker_sync(wdev_workers[0]);
	ck_assert_uint_eq(gr16(USED_GPA + 2), 1);
	ck_assert_uint_eq(gr32(USED_GPA + 8), 8);
	gr(0x9000, buf, 8);
	ck_assert_int_eq(memcmp(buf, "api-data", 8), 0);
	/* Freed from the main thread: handed to the worker. */
	at_api->watch_free(at_watch);
	at_watch = NULL;
}
END_TEST

START_TEST(test_api_dev_fail_stops_pops)
{
	struct vhd_dev	*d = device_to_vhd(&wdev);

	at_api = api_get();
	desc(0, 0x9000, 8, VRING_DESC_F_WRITE, 0);
	wq_hold = 1;
	vring_update(&fx.vq);
	at_api->dev_fail(d, "test failure");
	ck_assert_int_eq(atomic_load(&wdev.broken), 1);
	avail_add(0);
	ck_assert_int_eq(at_api->run_on_worker(d, 0, at_arm, NULL, 1), 0);
	at_wait(&at_fired, 1);
	worker_sync(wdev_workers[0]);
	ck_assert_int_eq(atomic_load(&at_popped), 0);
	ck_assert_uint_eq(fx.vq.last_avail_idx, 0);
	ck_assert_int_eq(vring_can_start(&fx.vq), 0);
	at_api->watch_free(at_watch);
	at_watch = NULL;
}
END_TEST

START_TEST(test_api_bad_chain_breaks_device)
{
	struct vhd_dev	*d = device_to_vhd(&wdev);

	at_api = api_get();
	wq_hold = 1;
	desc(0, 0x30000, 8, VRING_DESC_F_WRITE, 0);	/* in the gap */
	vring_update(&fx.vq);
	avail_add(0);
	ck_assert_int_eq(at_api->run_on_worker(d, 0, at_arm, NULL, 1), 0);
	at_wait(&at_fired, 1);
	worker_sync(wdev_workers[0]);
	ck_assert_int_eq(atomic_load(&wdev.broken), 1);
	ck_assert_int_eq(atomic_load(&at_popped), 0);
	at_api->watch_free(at_watch);
	at_watch = NULL;
}
END_TEST

/* The suite of rings on a worker and the API. */
static Suite *
check_vring_device_suite(void)
{
	Suite	*s = suite_create("vring_device");
	TCase	*tc;

	tc = tcase_create("start_stop");
	tcase_add_checked_fixture(tc, wdev_setup, wdev_teardown);
	tcase_add_test(tc, test_start_sees_earlier_buffers);
	tcase_add_test(tc, test_stop_rewinds_held_chains);
	tcase_add_test(tc, test_start_conditions);
	tcase_add_test(tc, test_stop_completes_held_chains_not_last);
	tcase_add_test(tc, test_start_clears_used_flags);
	tcase_add_test(tc, test_removed_ring_pauses);
	tcase_add_test(tc, test_removed_buffer_pauses_gap_breaks);
	suite_add_tcase(s, tc);

	tc = tcase_create("api");
	tcase_add_checked_fixture(tc, wdev_setup, wdev_teardown);
	tcase_add_test(tc, test_api_table);
	tcase_add_test(tc, test_api_device_accessors);
	tcase_add_test(tc, test_api_timer_pops_on_worker);
	tcase_add_test(tc, test_api_dev_fail_stops_pops);
	tcase_add_test(tc, test_api_bad_chain_breaks_device);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; the exit status says whether every test passed. */
int
main(void)
{
	return (check_vring_main(check_vring_device_suite()));
}
