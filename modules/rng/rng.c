/*
 * rng: the virtio entropy device (virtio 1.x, device ID 4).
 *
 * One queue (requestq), no device feature bits, no config space.  The
 * driver posts chains of device-writable buffers; every chain is filled
 * completely (all its descriptors, zero-copy through api->chain_iov) from
 * the source and given back with the number of bytes written.
 *
 * Keys (see cli.md; a repeated key is allowed and the last one wins, so
 * "source" and its aliases "filename" and "rng-source" overwrite each
 * other):
 *	source=getrandom|PATH	getrandom(2) (the default) or a file/device
 *	max-bytes=N		bytes allowed per period (default unlimited)
 *	period=MS		1..65536, default 65536 (vhost-device-rng)
 *
 * A PATH source is opened at create time.  A character device or FIFO
 * (e.g. /dev/hwrng) is read without blocking: when it has nothing, the
 * chain is rewound and the queue waits for the fd to become readable (or,
 * for a device epoll cannot watch, such as /dev/hwrng, retries every
 * RNG_POLL_MS).  End of file on a FIFO (no writer left) is a source
 * failure.  A regular file is read from the start and wraps around at its
 * end: it is meant for tests, not as an entropy source.  An empty file is
 * rejected.  "./getrandom" names a file called getrandom.
 *
 * Rate limit: a budget of max-bytes per period of `period` ms, measured
 * on CLOCK_MONOTONIC.  A period opens with the first request after the
 * previous one ended.  A chain larger than what is left gets what is left
 * (the spec allows a short fill); once the budget is spent, chains are
 * rewound (left in the ring) and a timer fires at the end of the period to
 * serve them.  Nothing sleeps, nothing is failed or dropped.
 *
 * A chain carrying device-readable buffers breaks the spec ("the driver
 * MUST NOT place device-readable buffers"): it is given back unused (len
 * 0) with a rate-limited warning, and the queue goes on.  A source that
 * fails (read error other than EAGAIN) marks the device broken.
 */

#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "rng.h"

/* A configuration key and its parser. */
struct rng_key {
	const char	*name;
	int		(*parse)(struct rng *, const char *, char **);
};

static int	rng_key_source(struct rng *, const char *, char **);
static int	rng_key_max_bytes(struct rng *, const char *, char **);
static int	rng_key_period(struct rng *, const char *, char **);

static const struct rng_key rng_keys[] = {
	{ "filename",	rng_key_source },
	{ "max-bytes",	rng_key_max_bytes },
	{ "period",	rng_key_period },
	{ "rng-source",	rng_key_source },
	{ "source",	rng_key_source },
};

/*
 * The daemon's function table.  Callbacks are given only the device
 * handle and need the table to reach their private data, so the table
 * passed to create is kept here too; the SDK guarantees it is one table
 * for the whole process.  Written by create (main thread) before any
 * callback of that device can run.
 */
const struct vhd_api *rng_api;

static void	rng_queue_handler(struct vhd_dev *, struct vhd_queue *);

/* Return a malloc'd message for *cause, or NULL when out of memory.
 * Any thread. */
static char * __attribute__((format(printf, 1, 2)))
rng_cause(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	return (s);
}

/* Return CLOCK_MONOTONIC in nanoseconds.  Any thread. */
uint64_t
rng_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

/* Return the device's private data.  Any thread. */
struct rng *
rng_get(struct vhd_dev *dev)
{
	return (rng_api->dev_priv(dev));
}

/*
 * Log a warning through the daemon's rate-limited log: at most one per
 * second per device, the count of warnings swallowed in between added to
 * the next one.  Called on the queue's worker.
 */
#define rng_warn(r, ...)						\
	((r)->api->log_ratelimited((r)->dev, VHD_LOG_WARN, __VA_ARGS__))

/* Key source (and its aliases): "getrandom" or a path.  Main thread. */
static int
rng_key_source(struct rng *r, const char *value, char **cause)
{
	char	*copy;

	if (*value == '\0') {
		*cause = rng_cause("rng: bad source '': expected getrandom "
		    "or a path");
		return (-1);
	}
	if (strcmp(value, "getrandom") == 0)
		copy = NULL;
	else if ((copy = strdup(value)) == NULL) {
		*cause = rng_cause("rng: out of memory");
		return (-1);
	}
	free(r->source);
	r->source = copy;
	return (0);
}

/* Key max-bytes: a positive byte count.  Main thread. */
static int
rng_key_max_bytes(struct rng *r, const char *value, char **cause)
{
	uint64_t	 v;

	if (r->api->parse_u64(value, 1, UINT64_MAX, &v) != 0) {
		*cause = rng_cause("rng: bad max-bytes '%s': expected a "
		    "positive integer", value);
		return (-1);
	}
	r->max_bytes = v;
	return (0);
}

/* Key period: milliseconds, 1..65536.  Main thread. */
static int
rng_key_period(struct rng *r, const char *value, char **cause)
{
	uint64_t	 v;

	if (r->api->parse_u64(value, 1, RNG_PERIOD_MAX, &v) != 0) {
		*cause = rng_cause("rng: bad period '%s': expected "
		    "milliseconds, 1..%d", value, RNG_PERIOD_MAX);
		return (-1);
	}
	r->period_ms = (uint32_t)v;
	return (0);
}

/*
 * Open and check the file source: a non-empty regular file, a character
 * device or a FIFO.  Returns 0 or -1 with *cause.  Main thread.
 */
static int
rng_open(struct rng *r, char **cause)
{
	struct stat	 st;
	unsigned char	 b;
	ssize_t		 n;
	int		 fd;

	fd = open(r->source, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1) {
		*cause = rng_cause("rng: cannot open source '%s': %s",
		    r->source, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		*cause = rng_cause("rng: cannot stat source '%s': %s",
		    r->source, strerror(errno));
		goto fail;
	}
	if (S_ISREG(st.st_mode)) {
		/* pread, not st_size: procfs files report size 0. */
		n = pread(fd, &b, 1, 0);
		if (n == -1) {
			*cause = rng_cause("rng: cannot read source '%s': %s",
			    r->source, strerror(errno));
			goto fail;
		}
		if (n == 0) {
			*cause = rng_cause("rng: source '%s' is empty",
			    r->source);
			goto fail;
		}
		r->regular = 1;
	} else if (!S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode)) {
		*cause = rng_cause("rng: source '%s' is not a regular file, "
		    "character device or FIFO", r->source);
		goto fail;
	}
	r->fd = fd;
	return (0);

fail:
	close(fd);
	return (-1);
}

/* Free the private data.  Main thread. */
static void
rng_free(struct rng *r)
{
	if (r->fd != -1)
		close(r->fd);
	rng_pool_wipe(&r->pool);
	free(r->source);
	free(r);
}

/*
 * Create an rng device from its keys.  Returns 0, or -1 with *cause
 * naming the key.  Main thread.
 */
static int
rng_create(struct vhd_dev *dev, const struct vhd_api *api,
    const struct vhd_kv *kv, size_t nkv, struct vhd_dev_info *info,
    char **cause)
{
	struct rng	*r;
	unsigned char	 b;
	size_t		 i, k;

	*cause = NULL;
	if (api->size < offsetof(struct vhd_api, log_ratelimited) +
	    sizeof(api->log_ratelimited)) {
		*cause = rng_cause("rng: needs vhostd module ABI 1.1");
		return (-1);
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		*cause = rng_cause("rng: out of memory");
		return (-1);
	}
	r->api = api;
	r->dev = dev;
	r->fd = -1;
	rng_pool_init(&r->pool, rng_pool_getrandom);

	for (i = 0; i < nkv; i++) {
		for (k = 0; k < sizeof(rng_keys) / sizeof(rng_keys[0]); k++) {
			if (strcmp(kv[i].key, rng_keys[k].name) == 0)
				break;
		}
		if (k == sizeof(rng_keys) / sizeof(rng_keys[0])) {
			*cause = rng_cause("rng: unknown key '%s'",
			    kv[i].key);
			goto fail;
		}
		if (rng_keys[k].parse(r, kv[i].value, cause) != 0)
			goto fail;
	}
	if (r->period_ms == 0)
		r->period_ms = RNG_PERIOD_MAX;

	if (r->source != NULL) {
		if (rng_open(r, cause) != 0)
			goto fail;
	} else if (getrandom(&b, 1, GRND_NONBLOCK) == -1 && errno == ENOSYS) {
		*cause = rng_cause("rng: getrandom(2) is not supported by "
		    "this kernel; use source=/dev/urandom");
		goto fail;
	}

	info->device_id = RNG_DEVICE_ID;
	info->num_queues = 1;
	info->max_queue_size = RNG_QUEUE_SIZE;
	info->features = 0;
	info->config_size = 0;

	/* Set once: a reload creates devices while the module's other
	 * devices run, and their workers read it. */
	if (rng_api == NULL)
		rng_api = api;
	api->dev_set_priv(dev, r);
	if (r->max_bytes != 0)
		api->log(dev, VHD_LOG_INFO, "source %s, at most %llu bytes "
		    "per %u ms", r->source != NULL ? r->source : "getrandom",
		    (unsigned long long)r->max_bytes, r->period_ms);
	else
		api->log(dev, VHD_LOG_INFO, "source %s, no rate limit",
		    r->source != NULL ? r->source : "getrandom");
	return (0);

fail:
	rng_free(r);
	return (-1);
}

/* Free the device.  Main thread, the queue stopped. */
static void
rng_destroy(struct vhd_dev *dev)
{
	struct rng	*r = rng_get(dev);

	if (r == NULL)
		return;
	r->api->dev_set_priv(dev, NULL);
	rng_free(r);
}

/* Forget the rate-limit period.  Main thread, the queue stopped. */
static void
rng_reset(struct vhd_dev *dev)
{
	struct rng	*r = rng_get(dev);

	r->period_open = 0;
	r->budget = 0;
	rng_pool_wipe(&r->pool);
}

/* Open a new period with a full budget.  Queue's worker. */
static void
rng_period_begin(struct rng *r, uint64_t now)
{
	r->period_open = 1;
	r->period_start = now;
	r->budget = r->max_bytes;
}

/* Open a new period if none is open or the last one is over.  Queue's
 * worker. */
static void
rng_period_update(struct rng *r, uint64_t now)
{
	uint64_t	 len = (uint64_t)r->period_ms * RNG_NS_PER_MS;

	if (!r->period_open || now - r->period_start >= len)
		rng_period_begin(r, now);
}

/*
 * Arm the timer to fire after msec ms for `why`.  Returns 0 or -1 (no
 * timer).  Queue's worker.
 */
static int
rng_timer_arm(struct rng *r, long msec, enum rng_timer why)
{
	if (r->timer == NULL)
		return (-1);
	if (r->timer_why == why)
		return (0);
	if (r->api->watch_add(r->timer, msec) != 0)
		return (-1);
	r->timer_why = why;
	return (0);
}

/* Arm the fd watch for readability.  Returns 0 or -1.  Queue's worker. */
static int
rng_fdw_arm(struct rng *r)
{
	if (r->fdw == NULL)
		return (-1);
	if (r->fdw_armed)
		return (0);
	if (r->api->watch_add(r->fdw, -1) != 0)
		return (-1);
	r->fdw_armed = 1;
	return (0);
}

/*
 * Arrange to be called again when the source may have bytes: a watch for
 * readability, or a retry timer for getrandom(2) and for devices epoll
 * cannot watch (/dev/hwrng has no poll method: epoll refuses it, so it
 * is polled every RNG_POLL_MS).  Returns 0 or -1.  Queue's worker.
 */
static int
rng_wait_source(struct rng *r)
{
	if (r->fd == -1)
		return (rng_timer_arm(r, RNG_RETRY_MS, RNG_TIMER_RETRY));
	if (!r->unpollable) {
		if (rng_fdw_arm(r) == 0)
			return (0);
		r->unpollable = 1;
		r->api->log(r->dev, VHD_LOG_INFO, "source %s cannot be "
		    "watched; polling it every %d ms", r->source, RNG_POLL_MS);
	}
	return (rng_timer_arm(r, RNG_POLL_MS, RNG_TIMER_RETRY));
}

/*
 * Fill iov[0..n) from getrandom(2), without blocking.  Returns the bytes
 * written (short when the pool has nothing), or -1 with errno when
 * nothing was written.  Queue's worker.
 */
static ssize_t
rng_fill_getrandom(struct iovec *iov, int n)
{
	size_t	 done = 0, off;
	ssize_t	 got;
	int	 i;

	for (i = 0; i < n; i++) {
		off = 0;
		while (off < iov[i].iov_len) {
			got = getrandom((char *)iov[i].iov_base + off,
			    iov[i].iov_len - off, GRND_NONBLOCK);
			if (got == -1 && errno == EINTR)
				continue;
			if (got <= 0) {
				if (got == 0)
					errno = EAGAIN;
				return (done != 0 ? (ssize_t)done : -1);
			}
			off += (size_t)got;
			done += (size_t)got;
		}
	}
	return ((ssize_t)done);
}

/*
 * Fill iov[0..n) from the file source with one readv, wrapping around at
 * the end of a regular file.  Returns the bytes read (maybe short), or -1
 * with errno (EAGAIN: nothing to read now).  Queue's worker.
 */
static ssize_t
rng_fill_file(struct rng *r, struct iovec *iov, int n)
{
	ssize_t	 got;
	int	 wrapped = 0;

	for (;;) {
		got = readv(r->fd, iov, n);
		if (got == -1 && errno == EINTR)
			continue;
		if (got != 0)
			return (got);
		/* End of file. */
		if (!r->regular || wrapped) {
			/* A FIFO without writer, or a file now empty. */
			errno = EIO;
			return (-1);
		}
		if (lseek(r->fd, 0, SEEK_SET) == -1)
			return (-1);
		wrapped = 1;
	}
}

/* Cut iov[0..n) to at most `limit` bytes; return the new count.  Any
 * thread. */
static int
rng_iov_trim(struct iovec *iov, int n, size_t limit)
{
	size_t	 total = 0;
	int	 i;

	for (i = 0; i < n; i++) {
		if (iov[i].iov_len >= limit - total) {
			iov[i].iov_len = limit - total;
			return (i + 1);
		}
		total += iov[i].iov_len;
	}
	return (n);
}

/*
 * Write up to `want` bytes of the source into the chain's writable
 * buffers, RNG_IOV_MAX iovecs at a time.  *done gets the bytes written;
 * the result says why it stopped short when nothing was written.  Queue's
 * worker.
 */
static enum rng_fill
rng_fill(struct rng *r, struct vhd_chain *c, size_t want, size_t *done)
{
	struct iovec	 iov[RNG_IOV_MAX];
	ssize_t		 got;
	int		 n;

	*done = 0;
	while (*done < want) {
		n = r->api->chain_iov(c, 1, *done, iov, RNG_IOV_MAX);
		if (n <= 0)
			return (*done != 0 ? RNG_FILL_OK : RNG_FILL_BADCHAIN);
		n = rng_iov_trim(iov, n, want - *done);
		if (r->fd == -1 && want <= RNG_POOL_SMALL)
			got = rng_pool_copy(&r->pool, iov, n);
		else if (r->fd == -1)
			got = rng_fill_getrandom(iov, n);
		else
			got = rng_fill_file(r, iov, n);
		if (got == -1) {
			if (*done != 0)
				return (RNG_FILL_OK);
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return (RNG_FILL_AGAIN);
			return (RNG_FILL_ERROR);
		}
		*done += (size_t)got;
	}
	return (RNG_FILL_OK);
}

/*
 * Give the chain back to the ring unused, to be served when the timer or
 * the fd watch fires.  Queue's worker.
 */
static enum rng_serve
rng_defer(struct rng *r, struct vhd_queue *q, struct vhd_chain *c)
{
	if (r->api->queue_rewind(q, c) != 0) {
		/* Cannot happen for the chain just popped; do not leak it. */
		r->api->log(r->dev, VHD_LOG_ERR, "queue %u: cannot rewind "
		    "a chain; returned unused", r->api->queue_index(q));
		r->api->queue_push(q, c, 0);
		return (RNG_SERVED);
	}
	return (RNG_WAIT);
}

/*
 * Serve one chain: check it, apply the rate limit, fill it and push it,
 * or rewind it to wait for the budget or the source.  Queue's worker.
 */
static enum rng_serve
rng_serve(struct rng *r, struct vhd_queue *q, struct vhd_chain *c)
{
	const struct vhd_api	*api = r->api;
	unsigned		 qi = api->queue_index(q);
	uint64_t		 now, left;
	size_t			 rd, wr, want, done;
	enum rng_fill		 res;
	int			 error;

	rd = api->chain_readable(c);
	wr = api->chain_writable(c);
	if (rd != 0 || wr == 0) {
		if (rd != 0)
			rng_warn(r, "queue %u: chain with %zu device-readable "
			    "bytes (driver error), returned unused", qi, rd);
		else
			rng_warn(r, "queue %u: chain without device-writable "
			    "buffers (driver error), returned unused", qi);
		api->queue_push(q, c, 0);
		return (RNG_SERVED);
	}

	want = wr;
	if (r->max_bytes != 0) {
		now = rng_now();
		rng_period_update(r, now);
		if (r->budget == 0) {
			left = r->period_start +
			    (uint64_t)r->period_ms * RNG_NS_PER_MS - now;
			if (rng_timer_arm(r, (long)((left + RNG_NS_PER_MS - 1) /
			    RNG_NS_PER_MS), RNG_TIMER_PERIOD) != 0)
				goto nowatch;
			return (rng_defer(r, q, c));
		}
		if (want > r->budget)
			want = (size_t)r->budget;
	}

	res = rng_fill(r, c, want, &done);
	switch (res) {
	case RNG_FILL_OK:
		break;
	case RNG_FILL_AGAIN:
		error = rng_wait_source(r);
		if (error != 0)
			goto nowatch;
		return (rng_defer(r, q, c));
	case RNG_FILL_BADCHAIN:
		rng_warn(r, "queue %u: chain buffers outside guest memory, "
		    "returned unused", qi);
		api->queue_push(q, c, 0);
		return (RNG_SERVED);
	case RNG_FILL_ERROR:
		error = errno;
		api->log(r->dev, VHD_LOG_ERR, "queue %u: source %s: %s", qi,
		    r->source != NULL ? r->source : "getrandom",
		    strerror(error));
		(void)rng_defer(r, q, c);
		api->dev_fail(r->dev, "rng: source failed");
		return (RNG_WAIT);
	}

	if (r->max_bytes != 0)
		r->budget -= done;
	api->queue_push(q, c, (uint32_t)done);
	return (RNG_SERVED);

nowatch:
	api->log(r->dev, VHD_LOG_ERR, "queue %u: cannot arm a timer or fd "
	    "watch", qi);
	(void)rng_defer(r, q, c);
	api->dev_fail(r->dev, "rng: cannot wait for the source");
	return (RNG_WAIT);
}

/*
 * Serve every available chain, then notify the guest once.  Called on the
 * queue's worker on a kick, when the queue starts, and from the timer and
 * fd callbacks.
 */
static void
rng_queue_handler(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct rng		*r = rng_get(dev);
	struct vhd_chain	*c;
	int			 pushed = 0;

	while ((c = r->api->queue_pop(q)) != NULL) {
		if (rng_serve(r, q, c) == RNG_WAIT)
			break;
		pushed = 1;
	}
	if (pushed)
		r->api->queue_notify(q);
}

/*
 * The timer fired: the period ended (refill the budget) or getrandom is
 * worth retrying; serve the waiting chains.  Queue's worker.
 */
static void
rng_timer_cb(struct vhd_watch *w, int fd, short events, void *arg)
{
	struct rng	*r = arg;

	(void)w;
	(void)fd;
	(void)events;
	if (r->timer_why == RNG_TIMER_PERIOD)
		rng_period_begin(r, rng_now());
	r->timer_why = RNG_TIMER_OFF;
	if (r->q != NULL)
		rng_queue_handler(r->dev, r->q);
}

/* The source device became readable: serve the waiting chains.  Queue's
 * worker. */
static void
rng_fd_cb(struct vhd_watch *w, int fd, short events, void *arg)
{
	struct rng	*r = arg;

	(void)w;
	(void)fd;
	(void)events;
	r->fdw_armed = 0;
	if (r->q != NULL)
		rng_queue_handler(r->dev, r->q);
}

/*
 * The queue starts: create the timer and, for a device source, the fd
 * watch on the queue's worker (both unarmed).  Queue's worker.
 */
static void
rng_queue_start(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct rng	*r = rng_get(dev);
	const struct vhd_api *api = r->api;
	unsigned	 worker = api->queue_worker(q);

	r->q = q;
	r->timer_why = RNG_TIMER_OFF;
	r->fdw_armed = 0;
	r->timer = api->watch_new(dev, worker, -1, 0, rng_timer_cb, r);
	if (r->timer == NULL)
		api->log(dev, VHD_LOG_ERR, "queue %u: cannot create a timer",
		    api->queue_index(q));
	if (r->fd != -1 && !r->regular) {
		r->fdw = api->watch_new(dev, worker, r->fd, VHD_EV_READ,
		    rng_fd_cb, r);
		if (r->fdw == NULL)
			api->log(dev, VHD_LOG_ERR, "queue %u: cannot watch "
			    "the source", api->queue_index(q));
	}
}

/*
 * The queue stops: free the timer and the fd watch.  No chain is held
 * between callbacks (waiting chains are rewound into the ring), so the
 * ring state the daemon reports is complete.  Queue's worker.
 */
static void
rng_queue_stop(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct rng	*r = rng_get(dev);

	(void)q;
	if (r->timer != NULL)
		r->api->watch_free(r->timer);
	if (r->fdw != NULL)
		r->api->watch_free(r->fdw);
	r->timer = NULL;
	r->fdw = NULL;
	r->timer_why = RNG_TIMER_OFF;
	r->fdw_armed = 0;
	r->q = NULL;
}

static const struct vhd_device_ops rng_ops = {
	.size = sizeof(struct vhd_device_ops),
	.create = rng_create,
	.destroy = rng_destroy,
	.queue_handler = rng_queue_handler,
	.queue_start = rng_queue_start,
	.queue_stop = rng_queue_stop,
	.reset = rng_reset,
	.state_save = rng_state_save,
	.state_load = rng_state_load,
};

VHD_MODULE("rng", "1.0", "virtio entropy device (getrandom, file or "
    "device source, rate limit)", &rng_ops);
