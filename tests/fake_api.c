/*
 * A fake vhostd daemon for module unit tests; see fake_api.h.  Everything
 * runs on the test's thread: "worker" callbacks are simply called.
 * Allocation failures abort the test (this is test code).
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vhostd/vhostd.h>

#include "fake_api.h"

enum fake_chain_state {
	FAKE_CHAIN_AVAIL,
	FAKE_CHAIN_POPPED,
	FAKE_CHAIN_PUSHED,
};

struct fake_buf {
	int		 writable;
	uint8_t		*data;
	size_t		 len;
};

struct vhd_chain {
	struct vhd_queue	*q;
	struct fake_buf		*bufs;
	unsigned		 nbufs;
	size_t			 readable;
	size_t			 writable;
	enum fake_chain_state	 state;
	uint32_t		 used;
	int			 bad;
};

struct vhd_queue {
	struct vhd_dev		*dev;
	unsigned		 index;
	unsigned		 worker;
	struct vhd_chain	**chains;	/* the ring, in order */
	unsigned		 nchains;
	unsigned		 next;		/* next to pop */
	struct vhd_chain	*last_popped;
	struct vhd_chain	**used;		/* in push order */
	unsigned		 nused;
	unsigned		 notifies;
	unsigned		 rewinds;
	unsigned		 pops;
	int			 started;
};

struct vhd_watch {
	struct vhd_dev		*dev;
	unsigned		 worker;
	int			 fd;
	short			 events;
	vhd_watch_cb		 cb;
	void			*arg;
	int			 armed;
	long			 msec;
	int			 freed;
};

struct fake_str {
	char		*s;
	size_t		 len;
	size_t		 cap;
};

struct vhd_dev {
	const struct vhd_device_ops *ops;
	char			*name;
	void			*priv;
	uint64_t		 features;
	struct vhd_dev_info	 info;
	int			 created;
	struct vhd_queue	*queues;
	unsigned		 nqueues;
	struct vhd_watch	**watches;	/* freed ones kept, marked */
	unsigned		 nwatches;
	unsigned		 watch_fail;
	unsigned		 watch_add_fail;
	size_t			 iov_split;
	int			 failed;
	char			*fail_reason;
	unsigned		 config_changes;
	int			 config_changed_result;
	struct fake_str		 log;
	struct fake_str		 errors;
	uint64_t		 rl_last_ns;	/* log_ratelimited, 0: never */
	unsigned long		 rl_suppressed;
};

static const char *fake_level_names[] = { "ERR", "WARN", "INFO", "DEBUG" };

/* Allocate or abort.  Test code. */
static void *
fake_alloc(void *p, size_t n, size_t size)
{
	if (n != 0 && size > SIZE_MAX / n)
		abort();
	if ((p = realloc(p, n * size == 0 ? 1 : n * size)) == NULL)
		abort();
	return (p);
}

/* Append formatted text to a growing string. */
static void __attribute__((format(printf, 2, 0)))
fake_str_vadd(struct fake_str *str, const char *fmt, va_list ap)
{
	va_list	 ap2;
	int	 n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if (str->len + (size_t)n + 1 > str->cap) {
		str->cap = (str->len + (size_t)n + 1) * 2;
		str->s = fake_alloc(str->s, str->cap, 1);
	}
	vsnprintf(str->s + str->len, (size_t)n + 1, fmt, ap);
	str->len += (size_t)n;
}

/* Record API misuse on the device. */
static void __attribute__((format(printf, 2, 3)))
fake_misuse(struct vhd_dev *dev, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	fake_str_vadd(&dev->errors, fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	fprintf(stderr, "fake_api: misuse: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* Check a chain may be used by the module now; records misuse if not. */
static int
fake_chain_usable(struct vhd_chain *c, const char *what)
{
	if (c->state != FAKE_CHAIN_POPPED) {
		fake_misuse(c->q->dev, "%s on a chain that is not popped\n",
		    what);
		return (0);
	}
	return (1);
}

/* Append formatted text to a growing string. */
static void __attribute__((format(printf, 2, 3)))
fake_str_add(struct fake_str *str, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	fake_str_vadd(str, fmt, ap);
	va_end(ap);
}

/* api->log: capture the line ("LEVEL: message"), echo it if asked. */
static void __attribute__((format(printf, 3, 4)))
fake_log(struct vhd_dev *dev, enum vhd_log_level level, const char *fmt,
    ...)
{
	va_list		 ap;
	const char	*name = "?";
	size_t		 start = dev->log.len;

	if ((unsigned)level < sizeof(fake_level_names) /
	    sizeof(fake_level_names[0]))
		name = fake_level_names[level];
	else
		fake_misuse(dev, "log with bad level %d\n", (int)level);
	fake_str_add(&dev->log, "%s: ", name);
	va_start(ap, fmt);
	fake_str_vadd(&dev->log, fmt, ap);
	va_end(ap);
	fake_str_add(&dev->log, "\n");
	if (getenv("FAKE_API_VERBOSE") != NULL)
		fprintf(stderr, "%s: %s", dev->name, dev->log.s + start);
}

/* api->parse_u64: digits only, in [min, max]; 0 or -1. */
static int
fake_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
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

/* api->log_ratelimited: as the daemon, one line a second per device with
 * the count dropped in between appended to the next. */
static void __attribute__((format(printf, 3, 4)))
fake_log_ratelimited(struct vhd_dev *dev, enum vhd_log_level level,
    const char *fmt, ...)
{
	struct timespec	 ts;
	va_list		 ap;
	char		 msg[1024];
	uint64_t	 now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	if (now == 0)
		now = 1;
	if (dev->rl_last_ns != 0 && now - dev->rl_last_ns < 1000000000ULL) {
		dev->rl_suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (dev->rl_suppressed != 0)
		fake_log(dev, level, "%s (%lu similar warnings suppressed)",
		    msg, dev->rl_suppressed);
	else
		fake_log(dev, level, "%s", msg);
	dev->rl_last_ns = now;
	dev->rl_suppressed = 0;
}

/* api->dev_set_priv. */
static void
fake_dev_set_priv(struct vhd_dev *dev, void *priv)
{
	dev->priv = priv;
}

/* api->dev_priv. */
static void *
fake_dev_priv_get(struct vhd_dev *dev)
{
	return (dev->priv);
}

/* api->dev_name. */
static const char *
fake_dev_name(struct vhd_dev *dev)
{
	return (dev->name);
}

/* api->dev_features. */
static uint64_t
fake_dev_features(struct vhd_dev *dev)
{
	return (dev->features);
}

/* api->queue_index. */
static unsigned
fake_queue_index(struct vhd_queue *q)
{
	return (q->index);
}

/* api->queue_dev. */
static struct vhd_dev *
fake_queue_dev(struct vhd_queue *q)
{
	return (q->dev);
}

/* api->queue_worker. */
static unsigned
fake_queue_worker(struct vhd_queue *q)
{
	return (q->worker);
}

/* api->dev_queue. */
static struct vhd_queue *
fake_dev_queue(struct vhd_dev *dev, unsigned index)
{
	if (index >= dev->nqueues)
		return (NULL);
	return (&dev->queues[index]);
}

/* api->queue_pop: the next scripted chain. */
static struct vhd_chain *
fake_queue_pop(struct vhd_queue *q)
{
	struct vhd_chain	*c;

	if (q->dev->failed || q->next >= q->nchains)
		return (NULL);
	c = q->chains[q->next++];
	c->state = FAKE_CHAIN_POPPED;
	q->last_popped = c;
	q->pops++;
	return (c);
}

/* api->queue_push: record the used length. */
static void
fake_queue_push(struct vhd_queue *q, struct vhd_chain *c, uint32_t len)
{
	if (c->q != q) {
		fake_misuse(q->dev, "push of a chain of another queue\n");
		return;
	}
	if (!fake_chain_usable(c, "push"))
		return;
	if (len > c->writable)
		fake_misuse(q->dev, "push with len %u > writable %zu\n",
		    len, c->writable);
	c->state = FAKE_CHAIN_PUSHED;
	c->used = len;
	if (q->last_popped == c)
		q->last_popped = NULL;
	q->used = fake_alloc(q->used, q->nused + 1, sizeof(*q->used));
	q->used[q->nused++] = c;
}

/* api->queue_notify. */
static void
fake_queue_notify(struct vhd_queue *q)
{
	q->notifies++;
}

/* api->queue_rewind: only the last popped, unpushed chain. */
static int
fake_queue_rewind(struct vhd_queue *q, struct vhd_chain *c)
{
	if (c != q->last_popped || c->state != FAKE_CHAIN_POPPED ||
	    q->next == 0 || q->chains[q->next - 1] != c) {
		fake_misuse(q->dev, "rewind of a chain that is not the last "
		    "popped\n");
		return (-1);
	}
	q->next--;
	c->state = FAKE_CHAIN_AVAIL;
	q->last_popped = NULL;
	q->rewinds++;
	return (0);
}

/* api->chain_readable. */
static size_t
fake_chain_readable(struct vhd_chain *c)
{
	(void)fake_chain_usable(c, "chain_readable");
	return (c->readable);
}

/* api->chain_writable. */
static size_t
fake_chain_writable(struct vhd_chain *c)
{
	(void)fake_chain_usable(c, "chain_writable");
	return (c->writable);
}

/* Copy between buf and the chain's readable or writable part. */
static ssize_t
fake_chain_copy(struct vhd_chain *c, int writable, size_t offset, void *buf,
    size_t len)
{
	size_t		 done = 0, n;
	unsigned	 i;

	if (!fake_chain_usable(c, writable ? "chain_write" : "chain_read"))
		return (-1);
	if (c->bad)
		return (-1);
	for (i = 0; i < c->nbufs && done < len; i++) {
		if (c->bufs[i].writable != writable)
			continue;
		if (offset >= c->bufs[i].len) {
			offset -= c->bufs[i].len;
			continue;
		}
		n = c->bufs[i].len - offset;
		if (n > len - done)
			n = len - done;
		if (writable)
			memcpy(c->bufs[i].data + offset, (uint8_t *)buf + done,
			    n);
		else
			memcpy((uint8_t *)buf + done, c->bufs[i].data + offset,
			    n);
		done += n;
		offset = 0;
	}
	return ((ssize_t)done);
}

/* api->chain_read. */
static ssize_t
fake_chain_read(struct vhd_chain *c, size_t offset, void *buf, size_t len)
{
	return (fake_chain_copy(c, 0, offset, buf, len));
}

/* api->chain_write: the cast drops const only to share the copy loop,
 * which reads buf when writable is set. */
static ssize_t
fake_chain_write(struct vhd_chain *c, size_t offset, const void *buf,
    size_t len)
{
	union {
		const void	*c;
		void		*p;
	} u;

	u.c = buf;
	return (fake_chain_copy(c, 1, offset, u.p, len));
}

/* api->chain_iov: map the part, split into iov_split pieces if set. */
static int
fake_chain_iov(struct vhd_chain *c, int writable, size_t offset,
    struct iovec *iov, int max)
{
	size_t		 split = c->q->dev->iov_split, pos, n;
	unsigned	 i;
	int		 count = 0;

	writable = writable != 0;
	if (!fake_chain_usable(c, "chain_iov") || c->bad || max < 0)
		return (-1);
	for (i = 0; i < c->nbufs && count < max; i++) {
		if (c->bufs[i].writable != writable)
			continue;
		if (offset >= c->bufs[i].len) {
			offset -= c->bufs[i].len;
			continue;
		}
		for (pos = offset; pos < c->bufs[i].len && count < max;
		    pos += n) {
			n = c->bufs[i].len - pos;
			if (split != 0 && n > split)
				n = split;
			iov[count].iov_base = c->bufs[i].data + pos;
			iov[count].iov_len = n;
			count++;
		}
		offset = 0;
	}
	return (count);
}

/* api->watch_new. */
static struct vhd_watch *
fake_watch_new(struct vhd_dev *dev, unsigned worker, int fd, short events,
    vhd_watch_cb cb, void *arg)
{
	struct vhd_watch	*w;

	if (worker >= dev->info.num_workers) {
		fake_misuse(dev, "watch_new on worker %u of %u\n", worker,
		    dev->info.num_workers);
		return (NULL);
	}
	if (cb == NULL) {
		fake_misuse(dev, "watch_new without callback\n");
		return (NULL);
	}
	if (dev->watch_fail != 0) {
		dev->watch_fail--;
		return (NULL);
	}
	w = fake_alloc(NULL, 1, sizeof(*w));
	memset(w, 0, sizeof(*w));
	w->dev = dev;
	w->worker = worker;
	w->fd = fd;
	w->events = events;
	w->cb = cb;
	w->arg = arg;
	w->msec = -1;
	dev->watches = fake_alloc(dev->watches, dev->nwatches + 1,
	    sizeof(*dev->watches));
	dev->watches[dev->nwatches++] = w;
	return (w);
}

/* api->watch_add. */
static int
fake_watch_add(struct vhd_watch *w, long msec)
{
	if (w->freed) {
		fake_misuse(w->dev, "watch_add on a freed watch\n");
		return (-1);
	}
	if (w->fd >= 0 && w->dev->watch_add_fail != 0) {
		w->dev->watch_add_fail--;
		return (-1);
	}
	w->armed = 1;
	w->msec = msec;
	return (0);
}

/* api->watch_del. */
static int
fake_watch_del(struct vhd_watch *w)
{
	if (w->freed) {
		fake_misuse(w->dev, "watch_del on a freed watch\n");
		return (-1);
	}
	w->armed = 0;
	return (0);
}

/* api->watch_free: kept, marked freed, so later use is caught. */
static void
fake_watch_free(struct vhd_watch *w)
{
	if (w->freed) {
		fake_misuse(w->dev, "watch_free twice\n");
		return;
	}
	w->freed = 1;
	w->armed = 0;
}

/* api->run_on_worker: inline. */
static int
fake_run_on_worker(struct vhd_dev *dev, unsigned worker, vhd_worker_fn fn,
    void *arg, int wait)
{
	(void)wait;
	if (worker >= dev->info.num_workers) {
		fake_misuse(dev, "run_on_worker on worker %u of %u\n", worker,
		    dev->info.num_workers);
		return (-1);
	}
	fn(dev, arg);
	return (0);
}

/* api->config_changed. */
static int
fake_config_changed(struct vhd_dev *dev)
{
	dev->config_changes++;
	return (dev->config_changed_result);
}

/* api->dev_fail. */
static void
fake_dev_fail(struct vhd_dev *dev, const char *reason)
{
	if (!dev->failed) {
		dev->failed = 1;
		dev->fail_reason = strdup(reason != NULL ? reason : "");
	}
}

static const struct vhd_api fake_api_table = {
	.size = sizeof(struct vhd_api),
	.abi_major = VHD_ABI_MAJOR,
	.abi_minor = VHD_ABI_MINOR,
	.log = fake_log,
	.dev_set_priv = fake_dev_set_priv,
	.dev_priv = fake_dev_priv_get,
	.dev_name = fake_dev_name,
	.dev_features = fake_dev_features,
	.queue_index = fake_queue_index,
	.queue_dev = fake_queue_dev,
	.queue_worker = fake_queue_worker,
	.dev_queue = fake_dev_queue,
	.queue_pop = fake_queue_pop,
	.queue_push = fake_queue_push,
	.queue_notify = fake_queue_notify,
	.queue_rewind = fake_queue_rewind,
	.chain_readable = fake_chain_readable,
	.chain_writable = fake_chain_writable,
	.chain_read = fake_chain_read,
	.chain_write = fake_chain_write,
	.chain_iov = fake_chain_iov,
	.watch_new = fake_watch_new,
	.watch_add = fake_watch_add,
	.watch_del = fake_watch_del,
	.watch_free = fake_watch_free,
	.run_on_worker = fake_run_on_worker,
	.config_changed = fake_config_changed,
	.dev_fail = fake_dev_fail,
	.parse_u64 = fake_parse_u64,
	.log_ratelimited = fake_log_ratelimited,
};

/* The fake daemon's function table. */
const struct vhd_api *
fake_api(void)
{
	return (&fake_api_table);
}

/* A new fake device serving `ops`. */
struct vhd_dev *
fake_dev_new(const struct vhd_device_ops *ops, const char *name)
{
	struct vhd_dev	*dev;

	dev = fake_alloc(NULL, 1, sizeof(*dev));
	memset(dev, 0, sizeof(*dev));
	dev->ops = ops;
	if ((dev->name = strdup(name)) == NULL)
		abort();
	dev->log.s = fake_alloc(NULL, 1, 1);
	dev->log.s[0] = '\0';
	dev->log.cap = 1;
	dev->errors.s = fake_alloc(NULL, 1, 1);
	dev->errors.s[0] = '\0';
	dev->errors.cap = 1;
	return (dev);
}

/* Check the info create filled, as the daemon would. */
static int
fake_dev_check_info(struct vhd_dev *dev)
{
	struct vhd_dev_info	*info = &dev->info;
	uint64_t		 all = 0;
	unsigned		 i;

	if (info->num_queues < 1 || info->num_queues > VHD_MAX_QUEUES ||
	    info->max_queue_size < 1 || info->max_queue_size > 32768 ||
	    (info->max_queue_size & (info->max_queue_size - 1)) != 0 ||
	    info->config_size > 256 || info->num_workers < 1 ||
	    info->num_workers > VHD_MAX_WORKERS) {
		fake_misuse(dev, "create filled a bad device info\n");
		return (-1);
	}
	for (i = 0; i < info->num_workers; i++)
		all |= info->queue_masks[i];
	for (i = 0; i < info->num_queues; i++) {
		if ((all & (1ULL << i)) == 0) {
			fake_misuse(dev, "queue %u is on no worker\n", i);
			return (-1);
		}
	}
	return (0);
}

/* Create the device with its keys and make its queues. */
int
fake_dev_create(struct vhd_dev *dev, const struct vhd_kv *kv, size_t nkv,
    char **cause)
{
	struct vhd_queue	*q;
	unsigned		 i, w;
	int			 rc;

	memset(&dev->info, 0, sizeof(dev->info));
	dev->info.size = sizeof(dev->info);
	dev->info.num_queues = 1;
	dev->info.max_queue_size = 1024;
	dev->info.num_workers = 1;
	dev->info.queue_masks[0] = UINT64_MAX;
	*cause = NULL;
	rc = dev->ops->create(dev, &fake_api_table, kv, nkv, &dev->info,
	    cause);
	if (rc != 0) {
		if (rc != -1)
			fake_misuse(dev, "create returned %d\n", rc);
		if (*cause == NULL)
			fake_misuse(dev, "create failed without a cause\n");
		return (rc);
	}
	if (*cause != NULL)
		fake_misuse(dev, "create succeeded with a cause\n");
	dev->created = 1;
	if (fake_dev_check_info(dev) != 0)
		return (0);
	dev->nqueues = dev->info.num_queues;
	dev->queues = fake_alloc(NULL, dev->nqueues, sizeof(*dev->queues));
	memset(dev->queues, 0, dev->nqueues * sizeof(*dev->queues));
	for (i = 0; i < dev->nqueues; i++) {
		q = &dev->queues[i];
		q->dev = dev;
		q->index = i;
		for (w = 0; w < dev->info.num_workers; w++) {
			if (dev->info.queue_masks[w] & (1ULL << i))
				break;
		}
		q->worker = w;
	}
	return (0);
}

/* Destroy the device (if created) and free the fake. */
void
fake_dev_free(struct vhd_dev *dev)
{
	struct vhd_queue	*q;
	unsigned		 i, j;

	if (dev == NULL)
		return;
	if (dev->created && dev->ops->destroy != NULL)
		dev->ops->destroy(dev);
	for (i = 0; i < dev->nqueues; i++) {
		q = &dev->queues[i];
		for (j = 0; j < q->nchains; j++) {
			while (q->chains[j]->nbufs > 0)
				free(q->chains[j]->bufs[--q->chains[j]->nbufs]
				    .data);
			free(q->chains[j]->bufs);
			free(q->chains[j]);
		}
		free(q->chains);
		free(q->used);
	}
	free(dev->queues);
	for (i = 0; i < dev->nwatches; i++)
		free(dev->watches[i]);
	free(dev->watches);
	free(dev->fail_reason);
	free(dev->log.s);
	free(dev->errors.s);
	free(dev->name);
	free(dev);
}

/* Call ops->reset; clear the log_ratelimited state (as the daemon's
 * reset does). */
void
fake_dev_reset(struct vhd_dev *dev)
{
	unsigned	 i;

	for (i = 0; i < dev->nqueues; i++) {
		if (dev->queues[i].started)
			fake_misuse(dev, "test: reset with queue %u "
			    "running\n", i);
	}
	if (dev->ops->reset != NULL)
		dev->ops->reset(dev);
	dev->failed = 0;
	fake_dev_ratelimit_clear(dev);
}

/* Forget the log_ratelimited state. */
void
fake_dev_ratelimit_clear(struct vhd_dev *dev)
{
	dev->rl_last_ns = 0;
	dev->rl_suppressed = 0;
}

/* Set the acked features and call ops->features_acked. */
void
fake_dev_ack_features(struct vhd_dev *dev, uint64_t features)
{
	dev->features = features;
	if (dev->ops->features_acked != NULL)
		dev->ops->features_acked(dev, features);
}

/* Call ops->get_config after the daemon's bounds check. */
int
fake_dev_get_config(struct vhd_dev *dev, uint32_t offset, void *buf,
    uint32_t len)
{
	if (dev->ops->get_config == NULL ||
	    (uint64_t)offset + len > dev->info.config_size)
		return (-1);
	return (dev->ops->get_config(dev, offset, buf, len));
}

/* Call ops->set_config after the daemon's bounds check. */
int
fake_dev_set_config(struct vhd_dev *dev, uint32_t offset, const void *buf,
    uint32_t len)
{
	if (dev->ops->set_config == NULL ||
	    (uint64_t)offset + len > dev->info.config_size)
		return (-1);
	return (dev->ops->set_config(dev, offset, buf, len));
}

/* The info create filled. */
const struct vhd_dev_info *
fake_dev_info(struct vhd_dev *dev)
{
	return (&dev->info);
}

/* The module's private data. */
void *
fake_dev_priv(struct vhd_dev *dev)
{
	return (dev->priv);
}

/* Non-zero once dev_fail was called. */
int
fake_dev_failed(struct vhd_dev *dev)
{
	return (dev->failed);
}

/* The reason given to dev_fail, or NULL. */
const char *
fake_dev_fail_reason(struct vhd_dev *dev)
{
	return (dev->fail_reason);
}

/* Times config_changed was called. */
unsigned
fake_dev_config_changes(struct vhd_dev *dev)
{
	return (dev->config_changes);
}

/* What config_changed returns. */
void
fake_dev_set_config_changed_result(struct vhd_dev *dev, int result)
{
	dev->config_changed_result = result;
}

/* Make the next n watch_new calls fail. */
void
fake_dev_fail_watch_new(struct vhd_dev *dev, unsigned n)
{
	dev->watch_fail = n;
}

/* Make the next n watch_add calls on fd watches fail. */
void
fake_dev_fail_watch_add(struct vhd_dev *dev, unsigned n)
{
	dev->watch_add_fail = n;
}

/* Split chain_iov pieces to at most n bytes. */
void
fake_dev_set_iov_split(struct vhd_dev *dev, size_t n)
{
	dev->iov_split = n;
}

/* Everything logged. */
const char *
fake_dev_log(struct vhd_dev *dev)
{
	return (dev->log.s);
}

/* Non-zero when the log contains s. */
int
fake_dev_log_contains(struct vhd_dev *dev, const char *s)
{
	return (strstr(dev->log.s, s) != NULL);
}

/* Forget the log. */
void
fake_dev_log_clear(struct vhd_dev *dev)
{
	dev->log.len = 0;
	dev->log.s[0] = '\0';
}

/* API misuse seen so far. */
const char *
fake_dev_errors(struct vhd_dev *dev)
{
	return (dev->errors.s);
}

/* Queue `index`, or NULL. */
struct vhd_queue *
fake_queue(struct vhd_dev *dev, unsigned index)
{
	return (fake_dev_queue(dev, index));
}

/* Start the queue: queue_start, then the handler once. */
void
fake_queue_start(struct vhd_queue *q)
{
	const struct vhd_device_ops	*ops = q->dev->ops;

	if (q->started)
		fake_misuse(q->dev, "test: queue %u started twice\n",
		    q->index);
	q->started = 1;
	if (ops->queue_start != NULL)
		ops->queue_start(q->dev, q);
	ops->queue_handler(q->dev, q);
}

/* Kick the queue: run the handler. */
void
fake_queue_kick(struct vhd_queue *q)
{
	q->dev->ops->queue_handler(q->dev, q);
}

/* Stop the queue; a chain still popped is misuse (it would be lost). */
void
fake_queue_stop(struct vhd_queue *q)
{
	const struct vhd_device_ops	*ops = q->dev->ops;
	unsigned			 i;

	if (ops->queue_stop != NULL)
		ops->queue_stop(q->dev, q);
	q->started = 0;
	for (i = 0; i < q->nchains; i++) {
		if (q->chains[i]->state == FAKE_CHAIN_POPPED)
			fake_misuse(q->dev, "queue %u stopped holding a "
			    "chain\n", q->index);
	}
}

/* Times the module notified. */
unsigned
fake_queue_notifies(struct vhd_queue *q)
{
	return (q->notifies);
}

/* Times the module rewound. */
unsigned
fake_queue_rewinds(struct vhd_queue *q)
{
	return (q->rewinds);
}

/* Chains pushed. */
unsigned
fake_queue_pushes(struct vhd_queue *q)
{
	return (q->nused);
}

/* Chains popped (a rewound chain popped again counts twice). */
unsigned
fake_queue_pops(struct vhd_queue *q)
{
	return (q->pops);
}

/* Chains available to pop. */
unsigned
fake_queue_avail(struct vhd_queue *q)
{
	return (q->nchains - q->next);
}

/* The n-th chain pushed. */
struct vhd_chain *
fake_queue_pushed(struct vhd_queue *q, unsigned n)
{
	if (n >= q->nused)
		return (NULL);
	return (q->used[n]);
}

/* Append a new empty chain to the ring. */
struct vhd_chain *
fake_chain_new(struct vhd_queue *q)
{
	struct vhd_chain	*c;

	c = fake_alloc(NULL, 1, sizeof(*c));
	memset(c, 0, sizeof(*c));
	c->q = q;
	c->state = FAKE_CHAIN_AVAIL;
	q->chains = fake_alloc(q->chains, q->nchains + 1, sizeof(*q->chains));
	q->chains[q->nchains++] = c;
	return (c);
}

/* Append one buffer to a chain. */
static struct fake_buf *
fake_chain_add(struct vhd_chain *c, int writable, size_t len)
{
	struct fake_buf	*b;

	c->bufs = fake_alloc(c->bufs, c->nbufs + 1, sizeof(*c->bufs));
	b = &c->bufs[c->nbufs++];
	b->writable = writable;
	b->len = len;
	b->data = fake_alloc(NULL, len, 1);
	if (writable)
		c->writable += len;
	else
		c->readable += len;
	return (b);
}

/* Append a device-readable buffer with a copy of data. */
void
fake_chain_add_readable(struct vhd_chain *c, const void *data, size_t len)
{
	struct fake_buf	*b = fake_chain_add(c, 0, len);

	if (len != 0)
		memcpy(b->data, data, len);
}

/* Append a device-writable buffer filled with `fill`. */
void
fake_chain_add_writable(struct vhd_chain *c, size_t len, uint8_t fill)
{
	struct fake_buf	*b = fake_chain_add(c, 1, len);

	memset(b->data, fill, len);
}

/* Make the chain's memory unreachable. */
void
fake_chain_set_bad(struct vhd_chain *c)
{
	c->bad = 1;
}

/* Buffer i of the chain. */
uint8_t *
fake_chain_buf(struct vhd_chain *c, unsigned i)
{
	if (i >= c->nbufs)
		return (NULL);
	return (c->bufs[i].data);
}

/* Length of buffer i of the chain. */
size_t
fake_chain_buf_len(struct vhd_chain *c, unsigned i)
{
	if (i >= c->nbufs)
		return (0);
	return (c->bufs[i].len);
}

/* Non-zero once pushed. */
int
fake_chain_pushed(struct vhd_chain *c)
{
	return (c->state == FAKE_CHAIN_PUSHED);
}

/* The used length pushed. */
uint32_t
fake_chain_used(struct vhd_chain *c)
{
	return (c->used);
}

/* Copy the writable part's first max bytes out. */
size_t
fake_chain_written(struct vhd_chain *c, void *out, size_t max)
{
	size_t		 done = 0, n;
	unsigned	 i;

	for (i = 0; i < c->nbufs && done < max; i++) {
		if (!c->bufs[i].writable)
			continue;
		n = c->bufs[i].len;
		if (n > max - done)
			n = max - done;
		memcpy((uint8_t *)out + done, c->bufs[i].data, n);
		done += n;
	}
	return (done);
}

/* Live watches. */
unsigned
fake_dev_watches(struct vhd_dev *dev)
{
	unsigned	 i, n = 0;

	for (i = 0; i < dev->nwatches; i++) {
		if (!dev->watches[i]->freed)
			n++;
	}
	return (n);
}

/* The live watch on fd created last. */
struct vhd_watch *
fake_dev_watch(struct vhd_dev *dev, int fd)
{
	struct vhd_watch	*w;
	unsigned		 i;

	for (i = dev->nwatches; i > 0; i--) {
		w = dev->watches[i - 1];
		if (!w->freed && (w->fd == fd || (fd == FAKE_ANY_FD &&
		    w->fd >= 0)))
			return (w);
	}
	return (NULL);
}

/* The n-th live watch, in creation order. */
struct vhd_watch *
fake_dev_watch_nth(struct vhd_dev *dev, unsigned n)
{
	unsigned	 i;

	for (i = 0; i < dev->nwatches; i++) {
		if (dev->watches[i]->freed)
			continue;
		if (n-- == 0)
			return (dev->watches[i]);
	}
	return (NULL);
}

/* The watch's fd. */
int
fake_watch_fd(struct vhd_watch *w)
{
	return (w->fd);
}

/* The watch's events. */
short
fake_watch_events(struct vhd_watch *w)
{
	return (w->events);
}

/* The watch's worker. */
unsigned
fake_watch_worker(struct vhd_watch *w)
{
	return (w->worker);
}

/* Non-zero when armed. */
int
fake_watch_armed(struct vhd_watch *w)
{
	return (w->armed);
}

/* The last timeout given to watch_add. */
long
fake_watch_msec(struct vhd_watch *w)
{
	return (w->msec);
}

/* Fire the watch as its worker's loop would. */
void
fake_watch_fire(struct vhd_watch *w, short events)
{
	if (w->freed || !w->armed) {
		fake_misuse(w->dev, "test: fired a watch that is %s\n",
		    w->freed ? "freed" : "not armed");
		return;
	}
	if ((w->events & VHD_EV_PERSIST) == 0)
		w->armed = 0;
	w->cb(w, w->fd, events, w->arg);
}
