/*
 * The SDK function table (struct vhd_api, include/vhostd/vhostd.h) the
 * core hands to modules: thin, checked wrappers around the device, vring
 * and worker subsystems.  Module handles are core structs in disguise:
 * struct vhd_dev is struct device, struct vhd_queue is struct vring,
 * struct vhd_chain is struct vring_chain.
 */

#include <sys/types.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include <vhostd/vhostd.h>

#include "api.h"
#include "device.h"
#include "dirty_log.h"
#include "log.h"
#include "module.h"
#include "stats.h"
#include "vring.h"
#include "vu_conn.h"
#include "worker.h"
#include "xmalloc.h"

/* The SDK's event bits are libevent's, so they pass through unchanged. */
_Static_assert(VHD_EV_READ == EV_READ, "VHD_EV_READ");
_Static_assert(VHD_EV_WRITE == EV_WRITE, "VHD_EV_WRITE");
_Static_assert(VHD_EV_PERSIST == EV_PERSIST, "VHD_EV_PERSIST");
_Static_assert(VHD_EV_TIMEOUT == EV_TIMEOUT, "VHD_EV_TIMEOUT");

struct vhd_watch {
	struct event	*ev;
	struct device	*dev;
	struct worker	*w;
	vhd_watch_cb	 cb;
	void		*arg;
};

/* A function to run on a worker for run_on_worker; on the heap, freed
 * by the worker, so a poster that gives up waiting leaves nothing of its
 * stack behind. */
struct api_thunk {
	struct device	*dev;
	vhd_worker_fn	 fn;
	void		*arg;
};

/* log_ratelimited: at most one line per this many ns per device. */
#define API_RATELIMIT_NS	1000000000ULL

/* Our level for each SDK log level. */
static const int api_log_levels[] = {
	[VHD_LOG_ERR] = LOG_LEVEL_ERR,
	[VHD_LOG_WARN] = LOG_LEVEL_WARN,
	[VHD_LOG_INFO] = LOG_LEVEL_INFO,
	[VHD_LOG_DEBUG] = LOG_LEVEL_DEBUG,
};

/* The core ring behind a module's queue handle. */
static struct vring *
api_vring(struct vhd_queue *q)
{
	return ((struct vring *)(void *)q);
}

/* The core chain behind a module's chain handle. */
static struct vring_chain *
api_chain(struct vhd_chain *c)
{
	return ((struct vring_chain *)(void *)c);
}

/* Log a line prefixed with the module and device name.  Any thread. */
static void __printflike(3, 4)
api_log(struct vhd_dev *d, enum vhd_log_level level, const char *fmt, ...)
{
	struct device	*dev = device_from_vhd(d);
	const char	*mname = "?", *dname = "?";
	char		 msg[1024];
	va_list		 ap;
	int		 lvl;

	if ((unsigned)level < nitems(api_log_levels))
		lvl = api_log_levels[level];
	else
		lvl = (int)level < 0 ? LOG_LEVEL_ERR : LOG_LEVEL_DEBUG;
	if (lvl > log_getlevel())
		return;
	if (dev != NULL) {
		if (dev->name != NULL)
			dname = dev->name;
		if (dev->mod != NULL && dev->mod->desc != NULL &&
		    dev->mod->desc->name != NULL)
			mname = dev->mod->desc->name;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_line(lvl, "%s: %s: %s", dname, mname, msg);
}

/* Parse a decimal number (digits only) in [min, max].  0 or -1.  Any
 * thread. */
static int
api_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long	 v;
	char			*end;

	if (s == NULL || out == NULL || *s < '0' || *s > '9')
		return (-1);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return (-1);
	*out = v;
	return (0);
}

/* Monotonic clock in ns, never 0 (0 means "never logged"). */
static uint64_t
api_now_ns(void)
{
	struct timespec	 ts;
	uint64_t	 ns;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	return (ns != 0 ? ns : 1);
}

/*
 * Log a line at most once a second per device; the count of lines dropped
 * since the last one is appended to the next.  Any thread.
 */
static void __printflike(3, 4)
api_log_ratelimited(struct vhd_dev *d, enum vhd_log_level level,
    const char *fmt, ...)
{
	struct device	*dev = device_from_vhd(d);
	char		 msg[1024];
	va_list		 ap;
	uint64_t	 now;
	unsigned long	 dropped;

	if (dev == NULL)
		return;
	now = api_now_ns();
	pthread_mutex_lock(&dev->rl_lock);
	if (dev->rl_last_ns != 0 && now - dev->rl_last_ns < API_RATELIMIT_NS) {
		dev->rl_suppressed++;
		pthread_mutex_unlock(&dev->rl_lock);
		return;
	}
	dropped = dev->rl_suppressed;
	dev->rl_last_ns = now;
	dev->rl_suppressed = 0;
	pthread_mutex_unlock(&dev->rl_lock);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (dropped != 0)
		api_log(d, level, "%s (%lu similar warnings suppressed)", msg,
		    dropped);
	else
		api_log(d, level, "%s", msg);
}

/* Store the module's private data.  Any thread. */
static void
api_dev_set_priv(struct vhd_dev *d, void *priv)
{
	device_from_vhd(d)->priv = priv;
}

/* The module's private data.  Any thread. */
static void *
api_dev_priv(struct vhd_dev *d)
{
	return (device_from_vhd(d)->priv);
}

/* The device's configured name.  Any thread. */
static const char *
api_dev_name(struct vhd_dev *d)
{
	return (device_from_vhd(d)->name);
}

/* The virtio features the frontend acked.  Any thread. */
static uint64_t
api_dev_features(struct vhd_dev *d)
{
	return (atomic_load(&device_from_vhd(d)->acked_features));
}

/* The queue's index.  Any thread. */
static unsigned
api_queue_index(struct vhd_queue *q)
{
	return (api_vring(q)->index);
}

/* The queue's device.  Any thread. */
static struct vhd_dev *
api_queue_dev(struct vhd_queue *q)
{
	return (device_to_vhd(api_vring(q)->dev));
}

/* The queue's worker number.  Any thread. */
static unsigned
api_queue_worker(struct vhd_queue *q)
{
	return (api_vring(q)->worker_idx);
}

/* The device's queue `index`, or NULL.  Any thread. */
static struct vhd_queue *
api_dev_queue(struct vhd_dev *d, unsigned index)
{
	struct device	*dev = device_from_vhd(d);

	if (dev == NULL || dev->vrings == NULL ||
	    index >= dev->info.num_queues)
		return (NULL);
	return ((struct vhd_queue *)(void *)&dev->vrings[index]);
}

/* Is the calling thread the worker that owns the ring, with the ring
 * running?  Logs when a module calls from the wrong place. */
static int
api_queue_owned(struct vring *vq, const char *what)
{
	struct device	*dev = vq->dev;

	if (dev == NULL || dev->workers == NULL ||
	    vq->worker_idx >= dev->nworkers ||
	    worker_self() != dev->workers[vq->worker_idx]) {
		log_warnx("%s: queue %u: %s called off the queue's worker",
		    dev != NULL ? dev->name : "?", vq->index, what);
		return (0);
	}
	return (vq->running);
}

/* Pop the next chain; a bad chain breaks the device.  Worker. */
static struct vhd_chain *
api_queue_pop(struct vhd_queue *q)
{
	struct vring		*vq = api_vring(q);
	struct device		*dev = vq->dev;
	struct vring_chain	*c;
	const char		*err = NULL;

	if (!api_queue_owned(vq, "queue_pop") || atomic_load(&dev->broken))
		return (NULL);
	/* At most the ring's size per turn (vring.c): the worker's other
	 * queues come first, then this one goes on. */
	if (vring_turn_spent(vq))
		return (NULL);
	c = vring_pop(vq, device_mem(dev), &err);
	if (c == NULL && err != NULL)
		device_fail(dev, "queue %u: %s", vq->index, err);
	if (c != NULL)
		vq->turn_left--;
	return ((struct vhd_chain *)(void *)c);
}

/* Give a chain back to the guest.  Worker. */
static void
api_queue_push(struct vhd_queue *q, struct vhd_chain *c, uint32_t len)
{
	struct vring	*vq = api_vring(q);

	if (!api_queue_owned(vq, "queue_push"))
		return;
	vring_push(vq, device_mem(vq->dev), api_chain(c), len);
}

/* Interrupt the guest if it wants one.  Worker. */
static void
api_queue_notify(struct vhd_queue *q)
{
	struct vring	*vq = api_vring(q);

	if (!api_queue_owned(vq, "queue_notify") ||
	    atomic_load(&vq->dev->broken))
		return;
	vring_notify(vq, device_mem(vq->dev));
}

/* Undo the last pop.  0 or -1.  Worker. */
static int
api_queue_rewind(struct vhd_queue *q, struct vhd_chain *c)
{
	struct vring	*vq = api_vring(q);

	if (!api_queue_owned(vq, "queue_rewind"))
		return (-1);
	return (vring_rewind(vq, api_chain(c)));
}

/* Bytes in the chain's readable buffers.  Worker. */
static size_t
api_chain_readable(struct vhd_chain *c)
{
	return (api_chain(c)->rlen);
}

/* Bytes in the chain's writable buffers.  Worker. */
static size_t
api_chain_writable(struct vhd_chain *c)
{
	return (api_chain(c)->wlen);
}

/* Copy out of the readable part.  Worker. */
static ssize_t
api_chain_read(struct vhd_chain *c, size_t offset, void *buf, size_t len)
{
	struct vring_chain	*vc = api_chain(c);

	return (vring_chain_read(vc, device_mem(vc->vq->dev), offset, buf,
	    len));
}

/* Copy into the writable part.  Worker. */
static ssize_t
api_chain_write(struct vhd_chain *c, size_t offset, const void *buf,
    size_t len)
{
	struct vring_chain	*vc = api_chain(c);
	ssize_t			 n;

	n = vring_chain_write(vc, device_mem(vc->vq->dev), offset, buf, len);
	if (n > 0)
		dirty_log_chain(vc, offset, (size_t)n);	/* migration */
	return (n);
}

/* Map part of a chain as iovecs.  Worker. */
static int
api_chain_iov(struct vhd_chain *c, int writable, size_t offset,
    struct iovec *iov, int max)
{
	struct vring_chain	*vc = api_chain(c);

	return (vring_chain_iov(vc, device_mem(vc->vq->dev), writable, offset,
	    iov, max));
}

/* libevent callback of a watch: call the module's.  Worker. */
static void
api_watch_cb(evutil_socket_t fd, short events, void *arg)
{
	struct vhd_watch	*w = arg;

	w->cb(w, fd, events & (EV_READ | EV_WRITE | EV_TIMEOUT), w->arg);
}

/* Create an fd watch or (fd -1) a timer on worker `worker`.  Must be
 * called on that worker.  NULL on error. */
static struct vhd_watch *
api_watch_new(struct vhd_dev *d, unsigned worker, int fd, short events,
    vhd_watch_cb cb, void *arg)
{
	struct device		*dev = device_from_vhd(d);
	struct vhd_watch	*w;
	short			 ev;

	if (dev == NULL || cb == NULL || dev->workers == NULL ||
	    worker >= dev->nworkers || dev->workers[worker] == NULL) {
		log_warnx("%s: watch_new: bad worker %u",
		    dev != NULL ? dev->name : "?", worker);
		return (NULL);
	}
	if (worker_self() != dev->workers[worker]) {
		log_warnx("%s: watch_new: must be called on worker %u (use "
		    "run_on_worker)", dev->name, worker);
		return (NULL);
	}
	ev = events & EV_PERSIST;
	if (fd >= 0)
		ev |= events & (EV_READ | EV_WRITE);
	w = xcalloc(1, sizeof *w);
	w->dev = dev;
	w->w = dev->workers[worker];
	w->cb = cb;
	w->arg = arg;
	w->ev = event_new(worker_base(w->w), fd < 0 ? -1 : fd, ev,
	    api_watch_cb, w);
	if (w->ev == NULL) {
		log_warnx("%s: watch_new: event_new failed", dev->name);
		free(w);
		return (NULL);
	}
	return (w);
}

/* Is the caller on the watch's worker?  Logs when not. */
static int
api_watch_owned(struct vhd_watch *w, const char *what)
{
	if (worker_self() == w->w)
		return (1);
	log_warnx("%s: %s called off the watch's worker", w->dev->name, what);
	return (0);
}

/* Arm a watch, with a timeout when msec >= 0.  0 or -1.  Worker. */
static int
api_watch_add(struct vhd_watch *w, long msec)
{
	struct timeval	 tv;

	if (w == NULL || !api_watch_owned(w, "watch_add"))
		return (-1);
	if (msec < 0)
		return (event_add(w->ev, NULL) == -1 ? -1 : 0);
	tv.tv_sec = msec / 1000;
	tv.tv_usec = (msec % 1000) * 1000;
	return (event_add(w->ev, &tv) == -1 ? -1 : 0);
}

/* Disarm a watch.  0 or -1.  Worker. */
static int
api_watch_del(struct vhd_watch *w)
{
	if (w == NULL || !api_watch_owned(w, "watch_del"))
		return (-1);
	return (event_del(w->ev) == -1 ? -1 : 0);
}

/* Disarm and free a watch, on its worker. */
static void
api_watch_free_cb(void *arg)
{
	struct vhd_watch	*w = arg;

	event_free(w->ev);
	free(w);
}

/* Disarm and free a watch.  On its worker; from another thread it is
 * handed to that worker and waited for. */
static void
api_watch_free(struct vhd_watch *w)
{
	if (w == NULL)
		return;
	if (worker_self() == w->w)
		api_watch_free_cb(w);
	else if (worker_post(w->w, WCMD_CALL, NULL, api_watch_free_cb, w,
	    1) == -1)
		device_fail(w->dev, "worker %s did not answer in %d s",
		    worker_name(w->w), WORKER_WAIT_MS / 1000);
}

/* Run a module function on a worker and free the thunk.  Worker. */
static void
api_thunk_run(void *arg)
{
	struct api_thunk	*t = arg;

	t->fn(device_to_vhd(t->dev), t->arg);
	free(t);
}

/* Run fn(dev, arg) on worker `worker`, waiting (bounded) when asked.  0,
 * or -1 (also when the worker did not answer: the device is then broken
 * and fn will not run unless it had started).  Any thread. */
static int
api_run_on_worker(struct vhd_dev *d, unsigned worker, vhd_worker_fn fn,
    void *arg, int wait)
{
	struct device		*dev = device_from_vhd(d);
	struct api_thunk	*t;

	if (dev == NULL || fn == NULL || dev->workers == NULL ||
	    worker >= dev->nworkers || dev->workers[worker] == NULL)
		return (-1);
	if (wait && worker_stuck(dev->workers[worker]))
		return (-1);
	t = xmalloc(sizeof *t);
	t->dev = dev;
	t->fn = fn;
	t->arg = arg;
	if (worker_post(dev->workers[worker], WCMD_CALL, NULL, api_thunk_run,
	    t, wait) == -1) {
		/* A cancelled thunk is never run or freed: leaked, small. */
		device_fail(dev, "worker %s did not answer in %d s",
		    worker_name(dev->workers[worker]), WORKER_WAIT_MS / 1000);
		return (-1);
	}
	return (0);
}

/* Send BACKEND_CONFIG_CHANGE_MSG.  0 or -1.  Any thread. */
static int
api_config_changed(struct vhd_dev *d)
{
	return (vu_backend_config_changed(device_from_vhd(d)));
}

/* Mark the device broken.  Any thread. */
static void
api_dev_fail(struct vhd_dev *d, const char *reason)
{
	device_fail(device_from_vhd(d), "%s",
	    reason != NULL ? reason : "module failure");
}

static const struct vhd_api api_table = {
	.size = sizeof(struct vhd_api),
	.abi_major = VHD_ABI_MAJOR,
	.abi_minor = VHD_ABI_MINOR,
	.log = api_log,
	.dev_set_priv = api_dev_set_priv,
	.dev_priv = api_dev_priv,
	.dev_name = api_dev_name,
	.dev_features = api_dev_features,
	.queue_index = api_queue_index,
	.queue_dev = api_queue_dev,
	.queue_worker = api_queue_worker,
	.dev_queue = api_dev_queue,
	.queue_pop = api_queue_pop,
	.queue_push = api_queue_push,
	.queue_notify = api_queue_notify,
	.queue_rewind = api_queue_rewind,
	.chain_readable = api_chain_readable,
	.chain_writable = api_chain_writable,
	.chain_read = api_chain_read,
	.chain_write = api_chain_write,
	.chain_iov = api_chain_iov,
	.watch_new = api_watch_new,
	.watch_add = api_watch_add,
	.watch_del = api_watch_del,
	.watch_free = api_watch_free,
	.run_on_worker = api_run_on_worker,
	.config_changed = api_config_changed,
	.dev_fail = api_dev_fail,
	.parse_u64 = api_parse_u64,
	.log_ratelimited = api_log_ratelimited,
	/* ABI 1.3 (ctl) */
	.stats_put = stats_sink_put,
};

/* The daemon's function table.  Any thread. */
const struct vhd_api *
api_get(void)
{
	return (&api_table);
}
