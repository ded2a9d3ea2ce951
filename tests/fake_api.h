/*
 * A fake vhostd daemon for module unit tests (like collectd's
 * plugin_mock.c): every struct vhd_api member implemented over plain
 * memory, single-threaded.
 *
 * The test builds a fake device around a module's ops, creates it with
 * keys, scripts each queue's available chains (lists of readable and
 * writable buffers), drives the callbacks (start, kick, stop, reset) and
 * then looks at what the module did: pushes (used length and bytes),
 * notifies, rewinds, log lines, timers and fd watches (armed or not, with
 * their timeout), which the test fires by hand.  run_on_worker runs the
 * function inline.  Misuse of the API that the real daemon would not
 * tolerate (push twice, rewind the wrong chain, touch a chain after pushing
 * it, use a freed watch, a bad worker number, a bad device info) is
 * recorded; a test checks fake_dev_errors() is "".
 *
 * Set FAKE_API_VERBOSE=1 in the environment to echo log lines to stderr.
 */

#ifndef VHOSTD_FAKE_API_H
#define VHOSTD_FAKE_API_H

#include <stddef.h>
#include <stdint.h>

#include <vhostd/vhostd.h>

/* A key for create, with where = "test". */
#define FAKE_KV(k, v) { (k), (v), "test" }

/* The fake daemon's function table (one for the process). */
const struct vhd_api	*fake_api(void);

/* A new fake device named `name` serving `ops`; not created yet. */
struct vhd_dev		*fake_dev_new(const struct vhd_device_ops *ops,
			    const char *name);
/*
 * Call ops->create with the keys and the daemon's default info, then make
 * the queues the info asks for.  Returns create's result; on -1, *cause
 * is the module's malloc'd message (the caller frees it).
 */
int			 fake_dev_create(struct vhd_dev *dev,
			    const struct vhd_kv *kv, size_t nkv, char **cause);
/* Call ops->destroy (once) and free everything of the fake device. */
void			 fake_dev_free(struct vhd_dev *dev);
/* Call ops->reset, ops->features_acked, ops->get_config, set_config. */
void			 fake_dev_reset(struct vhd_dev *dev);
void			 fake_dev_ack_features(struct vhd_dev *dev,
			    uint64_t features);
int			 fake_dev_get_config(struct vhd_dev *dev,
			    uint32_t offset, void *buf, uint32_t len);
int			 fake_dev_set_config(struct vhd_dev *dev,
			    uint32_t offset, const void *buf, uint32_t len);
/* The info filled by create. */
const struct vhd_dev_info *fake_dev_info(struct vhd_dev *dev);
/* The private data set by the module. */
void			*fake_dev_priv(struct vhd_dev *dev);
/* Non-zero once the module called dev_fail; the reason it gave. */
int			 fake_dev_failed(struct vhd_dev *dev);
const char		*fake_dev_fail_reason(struct vhd_dev *dev);
/* Times the module called config_changed; what that call returns. */
unsigned		 fake_dev_config_changes(struct vhd_dev *dev);
void			 fake_dev_set_config_changed_result(struct vhd_dev *dev,
			    int result);
/* Make the next `n` watch_new calls fail (return NULL). */
void			 fake_dev_fail_watch_new(struct vhd_dev *dev,
			    unsigned n);
/* Make the next `n` watch_add calls on fd watches fail (as epoll_ctl
 * does for an fd without poll support, e.g. /dev/hwrng). */
void			 fake_dev_fail_watch_add(struct vhd_dev *dev,
			    unsigned n);
/* Make chain_iov split buffers into pieces of at most `n` bytes (as
 * guest memory regions would); 0 restores whole buffers. */
void			 fake_dev_set_iov_split(struct vhd_dev *dev, size_t n);

/* Forget the log_ratelimited state (last line, count dropped), so the
 * next rate-limited line is logged at once. */
void			 fake_dev_ratelimit_clear(struct vhd_dev *dev);
/* Everything logged, one "LEVEL: message\n" line each. */
const char		*fake_dev_log(struct vhd_dev *dev);
/* Non-zero when the log contains `s`. */
int			 fake_dev_log_contains(struct vhd_dev *dev,
			    const char *s);
void			 fake_dev_log_clear(struct vhd_dev *dev);
/* API misuse seen so far ("" when none), one line each. */
const char		*fake_dev_errors(struct vhd_dev *dev);

/* Queue `index` (NULL if none), after create. */
struct vhd_queue	*fake_queue(struct vhd_dev *dev, unsigned index);
/* Call queue_start then the handler (as the daemon does), the handler
 * (a kick), queue_stop. */
void			 fake_queue_start(struct vhd_queue *q);
void			 fake_queue_kick(struct vhd_queue *q);
void			 fake_queue_stop(struct vhd_queue *q);
/* Counters: notifies, rewinds, pushes, pops. */
unsigned		 fake_queue_notifies(struct vhd_queue *q);
unsigned		 fake_queue_rewinds(struct vhd_queue *q);
unsigned		 fake_queue_pushes(struct vhd_queue *q);
unsigned		 fake_queue_pops(struct vhd_queue *q);
/* Chains still available to pop (scripted, not popped or rewound). */
unsigned		 fake_queue_avail(struct vhd_queue *q);
/* The n-th chain pushed (0 first), NULL if fewer were pushed. */
struct vhd_chain	*fake_queue_pushed(struct vhd_queue *q, unsigned n);

/* Append a new empty chain to the queue's available ring. */
struct vhd_chain	*fake_chain_new(struct vhd_queue *q);
/* Append a device-readable buffer holding a copy of data[0..len). */
void			 fake_chain_add_readable(struct vhd_chain *c,
			    const void *data, size_t len);
/* Append a device-writable buffer of len bytes, all set to `fill`. */
void			 fake_chain_add_writable(struct vhd_chain *c,
			    size_t len, uint8_t fill);
/* Make chain_iov/read/write fail on this chain (memory gone). */
void			 fake_chain_set_bad(struct vhd_chain *c);
/* Buffer i of the chain (in the order added) and its length. */
uint8_t			*fake_chain_buf(struct vhd_chain *c, unsigned i);
size_t			 fake_chain_buf_len(struct vhd_chain *c, unsigned i);
/* Non-zero once pushed; the used length it was pushed with. */
int			 fake_chain_pushed(struct vhd_chain *c);
uint32_t		 fake_chain_used(struct vhd_chain *c);
/* Copy the first `max` bytes of the writable part, in order, to out;
 * returns the number copied. */
size_t			 fake_chain_written(struct vhd_chain *c, void *out,
			    size_t max);

/* Watches and timers the module created and has not freed. */
unsigned		 fake_dev_watches(struct vhd_dev *dev);
/* The live watch on fd `fd` (-1: a timer, FAKE_ANY_FD: any fd but a
 * timer) created last, or NULL. */
#define FAKE_ANY_FD (-2)
struct vhd_watch	*fake_dev_watch(struct vhd_dev *dev, int fd);
/* The n-th live watch (0 first, in creation order), or NULL. */
struct vhd_watch	*fake_dev_watch_nth(struct vhd_dev *dev, unsigned n);
/* A watch's fd, events, worker, armed state and last timeout (ms, -1
 * for none). */
int			 fake_watch_fd(struct vhd_watch *w);
short			 fake_watch_events(struct vhd_watch *w);
unsigned		 fake_watch_worker(struct vhd_watch *w);
int			 fake_watch_armed(struct vhd_watch *w);
long			 fake_watch_msec(struct vhd_watch *w);
/* Fire an armed watch with `events` (VHD_EV_TIMEOUT for a timer): a
 * non-persistent watch is disarmed first, as libevent does. */
void			 fake_watch_fire(struct vhd_watch *w, short events);

#endif /* VHOSTD_FAKE_API_H */
