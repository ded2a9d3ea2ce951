/*
 * vhostd module SDK.
 *
 * A vhostd module is a shared object that serves one kind of virtio device
 * (rng, console, vsock, ...).  It exports exactly one symbol, the data
 * object `vhd_module` (declare it with VHD_MODULE()), which describes the
 * module and the ABI it was built for.
 *
 * Loading: the daemon first checks, without opening the file, that it and
 * every directory from / down to it are owned by root or by the daemon's
 * uid and writable by nobody else (see the README).  Then dlopen loads it,
 * which runs the module's constructors and those of the libraries it
 * needs: that code runs before the daemon has read anything of the module,
 * so keep constructors out of modules.  Then the daemon reads the
 * descriptor and, before it calls any function of the module, refuses a
 * module built for another major ABI or for a newer minor than its own.
 *
 * ABI versions: the major changes only when something here changes
 * incompatibly; the minor grows when something is appended (functions at
 * the end of struct vhd_api, fields at the end of a struct that starts
 * with its size).  A module built with minor N loads in a daemon of the
 * same major and minor N or later, so every function of the header it was
 * built with is in the table it gets; a daemon of an older minor refuses
 * it ("built for vhostd module ABI 1.N, newer than this vhostd's ABI
 * 1.M"): to run on that daemon, build the module against its header.
 *
 * Everything the module may ask of the daemon goes through the function
 * table `struct vhd_api`, handed to the module's create callback.  The
 * table only grows at the end.  Checking api->size before using a function
 * added after ABI 1.0 costs nothing and keeps a module safe with a host
 * that hands it a shorter table (a test's fake core, say).
 *
 * Lifecycle of one device instance:
 *   create (main thread, once per configured device)
 *     -> features_acked / config get/set / mem_update (main thread,
 *        while a frontend is connected)
 *     -> queue_start, queue_handler ..., queue_stop (the queue's worker),
 *        any number of times per connection
 *     -> state_save / state_load (main thread, all queues stopped; a
 *        migration, QEMU 8.2's SET_DEVICE_STATE_FD)
 *     -> reset (main thread, all queues stopped; frontend gone or reset)
 *   destroy (main thread, all queues stopped)
 *
 * A queue that stops is not a device that resets.  QEMU stops every queue
 * when the VM is paused (SET_VRING_ENABLE 0, GET_VRING_BASE) and sets it
 * up again when it resumes; the module then sees queue_stop and, later,
 * queue_start, and must keep its device state in between.  reset is
 * called only for RESET_DEVICE, RESET_OWNER and a frontend disconnect.
 * A new call or kick eventfd (QEMU sends a call fd on every MSI-X mask
 * and unmask) is swapped under a running queue: no queue_stop/start.
 *
 * Threads: every device has one or more workers, each with its own event
 * loop.  A queue belongs to exactly one worker, chosen by the device's
 * queue masks (info->queue_masks[worker] has bit N set for queue N).  All
 * per-queue callbacks of a queue run on its worker, so a module needs no
 * lock for state touched only by one queue.  Main-thread callbacks are
 * called only while every queue they could race with is stopped, except
 * get_config/set_config/features_acked/mem_update which may run while
 * queues run.  A callback must not block: the daemon waits at most a few
 * seconds for a worker, then marks the device broken for good (until the
 * daemon restarts) and never waits on that worker again.
 *
 * This header includes nothing but the C standard library and
 * <sys/uio.h>; no libevent, pthread or daemon types appear in it.
 */

#ifndef VHOSTD_VHOSTD_H
#define VHOSTD_VHOSTD_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. */
#define VHD_ABI_MAJOR 1
#define VHD_ABI_MINOR 5

/* Most workers (threads) a device may ask for; one 64-bit mask each. */
#define VHD_MAX_WORKERS 64
/* Most queues a device may have (one bit each in a 64-bit mask). */
#define VHD_MAX_QUEUES 64

/* Virtio transport feature bits (virtio 1.x, section 6). */
#define VHD_F_NOTIFY_ON_EMPTY 24
#define VHD_F_INDIRECT_DESC   28
#define VHD_F_EVENT_IDX	      29
#define VHD_F_VERSION_1	      32
#define VHD_F_RING_PACKED     34

/* Opaque handles.  Their layout is the daemon's business. */
struct vhd_dev;	  /* one device instance (one socket, one VM) */
struct vhd_queue; /* one virtqueue of a device */
struct vhd_chain; /* one descriptor chain popped from a queue */
struct vhd_watch; /* an fd watch or a timer on a worker's loop */
struct vhd_api;	  /* the daemon's function table, below */
struct vhd_stats_sink; /* where a stats callback reports counters */

/* Log levels for api->log. */
enum vhd_log_level {
	VHD_LOG_ERR = 0,
	VHD_LOG_WARN = 1,
	VHD_LOG_INFO = 2,
	VHD_LOG_DEBUG = 3,
};

/* Event bits for fd watches (api->watch_fd) and their callbacks. */
#define VHD_EV_READ    0x02
#define VHD_EV_WRITE   0x04
#define VHD_EV_PERSIST 0x10
#define VHD_EV_TIMEOUT 0x01

/*
 * One configuration key of a device: from the config file's device block
 * (`max-bytes 4096`) or from the command line (`--option max-bytes=4096`).
 * `where` says where it came from ("vhostd.conf:12" or "command line") so
 * a module can name it in an error.
 */
struct vhd_kv {
	const char *key;
	const char *value;
	const char *where;
};

/*
 * What a device is, filled in by the module's create callback.  The daemon
 * passes it pre-filled with defaults: num_queues 1, max_queue_size 1024,
 * features 0, protocol_features 0, config_size 0, num_workers 1 and
 * queue_masks[0] = all queues.  A mask given in the configuration replaces
 * the module's masks after create returns.
 */
struct vhd_dev_info {
	uint32_t size; /* sizeof(struct vhd_dev_info), set by daemon */
	uint32_t device_id;	     /* virtio device ID (4 = rng, ...) */
	uint32_t num_queues;	     /* 1..VHD_MAX_QUEUES */
	uint32_t max_queue_size;     /* power of two, 1..32768 */
	uint64_t features;	     /* device-specific virtio feature bits */
	uint32_t config_size;	     /* bytes of config space, 0..256 */
	uint32_t num_workers;	     /* 1..VHD_MAX_WORKERS */
	uint64_t queue_masks[VHD_MAX_WORKERS]; /* queues of each worker */

	/* ABI 1.5 (inflight; the minor is settled at merge).  A daemon of
	 * an older minor never reads it; check info->size before writing
	 * it if the module may run there. */
	uint64_t flags;		     /* VHD_DEV_F_* */
};

/*
 * info->flags: VHD_DEV_F_INFLIGHT offers inflight I/O tracking
 * (INFLIGHT_SHMFD): after a daemon restart, chains popped and not pushed
 * by the previous instance are popped again, in the order they were first
 * popped, before any new one.  Set it only if serving a request twice is
 * harmless (a disk: reads and writes of the same data), as the frontend
 * cannot tell whether the first attempt reached the backing store.
 */
#define VHD_DEV_F_INFLIGHT	(1ULL << 0)

/*
 * The device callbacks a module provides.  Only create and queue_handler
 * are mandatory; a NULL callback means "not supported" or "nothing to do".
 */
struct vhd_device_ops {
	uint32_t size; /* sizeof(struct vhd_device_ops) */

	/*
	 * Create one device.  Called on the main thread at startup, once
	 * per configured device, and at a reload for each device added or
	 * changed (also once more to check it first, then destroyed): other
	 * devices of the module may be serving on their workers meanwhile,
	 * so module-wide state written here must be safe for them (set a
	 * static `api` only while it is still NULL).  `kv` holds the device's module keys; reject
	 * an unknown key or a bad value by returning -1 with *cause set to a
	 * malloc'd message (the daemon frees it and prefixes the device
	 * name).  Fill `info`.  Store private data with api->dev_set_priv.
	 * `api` stays valid for the life of the device, and it is the same
	 * table for every device of the process: since the other callbacks
	 * get only the device handle and need api->dev_priv to find their
	 * data, a module may keep `api` in a static variable.
	 */
	int (*create)(struct vhd_dev *dev, const struct vhd_api *api,
	    const struct vhd_kv *kv, size_t nkv, struct vhd_dev_info *info,
	    char **cause);

	/* Free the device.  Main thread; all queues stopped. */
	void (*destroy)(struct vhd_dev *dev);

	/*
	 * Called on the queue's worker when its kick fd fires, and once when
	 * the queue starts (so buffers posted before the kick are seen).  Pop
	 * chains with api->queue_pop until it returns NULL.  It is also called
	 * for the queue's next turn after queue_pop ended one (see there).
	 */
	void (*queue_handler)(struct vhd_dev *dev, struct vhd_queue *q);

	/*
	 * The queue starts or stops.  Called on the queue's worker.  A stop
	 * is not a reset (see the top of this file): keep device state.  A
	 * module holding popped chains must push or rewind them in
	 * queue_stop.  Chains still held when queue_stop returns are taken
	 * back by the daemon so the index the frontend reads is exact: the
	 * most recently popped ones (a contiguous tail of the ring) are
	 * rewound and served again after the restart; any other held chain
	 * is pushed with length 0 and a warning is logged (the module broke
	 * this contract).  Either way no chain is lost or completed twice,
	 * and the chain handles are invalid after queue_stop returns.
	 */
	void (*queue_start)(struct vhd_dev *dev, struct vhd_queue *q);
	void (*queue_stop)(struct vhd_dev *dev, struct vhd_queue *q);

	/* The frontend acked these virtio features.  Main thread. */
	void (*features_acked)(struct vhd_dev *dev, uint64_t features);

	/*
	 * Read or write config space.  Main thread.  The daemon has already
	 * checked offset + len <= info.config_size.  Return 0 or -1.
	 */
	int (*get_config)(struct vhd_dev *dev, uint32_t offset, void *buf,
	    uint32_t len);
	int (*set_config)(struct vhd_dev *dev, uint32_t offset,
	    const void *buf, uint32_t len);

	/* The device is reset (frontend gone, RESET_DEVICE, RESET_OWNER).
	 * Main thread; all queues stopped. */
	void (*reset)(struct vhd_dev *dev);

	/*
	 * Guest memory changed (SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG).
	 * Main thread, after the new table is in use by every worker, while
	 * queues keep running: it may race with queue callbacks.  Popped
	 * chains stay valid handles; a chain whose buffer lay in a removed
	 * region gets -1 from chain_read, chain_write and chain_iov (push it,
	 * usually with length 0, or fail the device).  A queue whose ring, or
	 * the next chain's buffer, is in a region REM_MEM_REG removed pauses:
	 * queue_pop returns NULL without breaking the device (the chain stays
	 * in the ring), a queue_push is deferred, and the queue resumes by
	 * itself (queue_handler runs) after the next memory update that
	 * brings the memory back.  Memory that never existed still breaks
	 * the device.
	 */
	void (*mem_update)(struct vhd_dev *dev);

	/*
	 * GET_SHARED_OBJECT: return a new fd (the daemon closes it after
	 * sending) for the object named by the 16-byte uuid, or -1.  Main
	 * thread.  The daemon offers the SHARED_OBJECT protocol feature only
	 * when this is set.
	 */
	int (*get_shared_object)(struct vhd_dev *dev, const uint8_t uuid[16]);

	/* ABI 1.2 */
	/*
	 * Guest memory is about to be unmapped (a new memory table, a region
	 * removed): a module that keeps pointers into guest memory past a
	 * callback (I/O handed to the kernel, as blk does) finishes that I/O
	 * before returning.  Called on the queue's worker for every started
	 * queue, after the new table is published and before the old
	 * mappings go; the queue keeps running.  NULL: nothing to do.
	 */
	void (*queue_quiesce)(struct vhd_dev *dev, struct vhd_queue *q);

	/* ABI 1.3 (ctl; the minor is settled at merge) */
	/*
	 * Report the module's own counters (a vsock connection's bytes, a
	 * console port's backlog drops, ...) for `vhostctl stats`: call
	 * api->stats_put(sink, object, name, value) once per counter, e.g.
	 * ("port1", "rx_bytes", 1234).  `object` names what the counter
	 * belongs to (NULL or "" for the device itself); names are
	 * [a-z0-9_].  Called on the worker of the device's queue 0 (the
	 * queue's worker, api->queue_worker), so it may read the state that
	 * worker owns without locks; never while another callback of the
	 * device runs on that worker.
	 * NULL: no module counters.
	 */
	void (*stats)(struct vhd_dev *dev, struct vhd_stats_sink *sink);

	/* ABI 1.4 (devstate; the minor is settled at merge.  An older
	 * module's table ends above: the daemon copies the table by its
	 * size, so these read as NULL for it). */
	/*
	 * Device state for migration (SET_DEVICE_STATE_FD, sent by QEMU 8.2
	 * and later).  state_save puts everything the device needs to carry
	 * on in another vhostd process into a malloc'd buffer (*buf, *len;
	 * the daemon frees it).  state_load restores it.  Both run on the
	 * main thread with every queue stopped (queue_stop has run), before
	 * the queues start again; a module whose state lives on its workers
	 * gathers it with run_on_worker(wait).  The daemon streams the bytes
	 * through the frontend's pipe without blocking and frames them (the
	 * module's name, device ID, length and checksum): state_load sees
	 * only a stream that a state_save of a module of the same name
	 * produced, or one that lies with a correct checksum, so it checks
	 * every count, length and range and returns -1 (logged) on anything
	 * wrong, leaving the device as after a reset.  The daemon offers
	 * the DEVICE_STATE protocol feature only when both are set.
	 * Return 0 or -1.
	 */
	int (*state_save)(struct vhd_dev *dev, void **buf, size_t *len);
	int (*state_load)(struct vhd_dev *dev, const void *buf, size_t len);
	/*
	 * GPU_SET_SOCKET: `fd` is the frontend's end of the vhost-user-gpu
	 * protocol socket; it is the module's to keep and close when it
	 * returns 0.  On -1 the daemon closes it and the request fails.
	 * Main thread.  NULL: the request is refused with an error.
	 */
	int (*gpu_set_socket)(struct vhd_dev *dev, int fd);
};

/*
 * Helpers for state_save / state_load: a growing byte buffer and a
 * bounded reader, little-endian integers.  Inline, so they are not part
 * of the ABI.  A put that cannot allocate sets `failed`; a get past the
 * end returns -1 and leaves the value alone.
 */
struct vhd_state_buf {
	uint8_t		*p;
	size_t		 len;
	size_t		 cap;
	int		 failed;
};

struct vhd_state_reader {
	const uint8_t	*p;
	size_t		 len;
	size_t		 off;
};

static inline void
vhd_state_put(struct vhd_state_buf *b, const void *src, size_t len)
{
	uint8_t	*np;
	size_t	 ncap;

	if (b->failed)
		return;
	if (len > b->cap - b->len) {
		ncap = b->cap ? b->cap : 256;
		while (ncap - b->len < len) {
			if (ncap > ((size_t)-1) / 2) {
				b->failed = 1;
				return;
			}
			ncap *= 2;
		}
		if ((np = (uint8_t *)realloc(b->p, ncap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	if (len > 0)
		memcpy(b->p + b->len, src, len);
	b->len += len;
}

static inline void
vhd_state_put_u64(struct vhd_state_buf *b, uint64_t v)
{
	uint8_t	 le[8];
	int	 i;

	for (i = 0; i < 8; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	vhd_state_put(b, le, sizeof le);
}

static inline int
vhd_state_get(struct vhd_state_reader *r, void *dst, size_t len)
{
	if (len > r->len - r->off)
		return (-1);
	if (len > 0)
		memcpy(dst, r->p + r->off, len);
	r->off += len;
	return (0);
}

static inline int
vhd_state_get_u64(struct vhd_state_reader *r, uint64_t *v)
{
	uint8_t	 le[8];
	uint64_t x = 0;
	int	 i;

	if (vhd_state_get(r, le, sizeof le) == -1)
		return (-1);
	for (i = 0; i < 8; i++)
		x |= (uint64_t)le[i] << (8 * i);
	*v = x;
	return (0);
}

/* A u64 that must lie in [min, max]: -1 otherwise. */
static inline int
vhd_state_get_range(struct vhd_state_reader *r, uint64_t min, uint64_t max,
    uint64_t *v)
{
	uint64_t x;

	if (vhd_state_get_u64(r, &x) == -1 || x < min || x > max)
		return (-1);
	*v = x;
	return (0);
}

/* Callback of an fd watch or timer.  Runs on the watch's worker. */
typedef void (*vhd_watch_cb)(struct vhd_watch *w, int fd, short events,
    void *arg);
/* A function run on a worker by api->run_on_worker. */
typedef void (*vhd_worker_fn)(struct vhd_dev *dev, void *arg);

/*
 * The daemon's services, passed to create.  Thread rules are given per
 * function; "worker" means the worker that owns the queue or watch.
 */
struct vhd_api {
	uint32_t size; /* sizeof(struct vhd_api) of the daemon */
	uint16_t abi_major;
	uint16_t abi_minor;

	/* Log a line prefixed with the module and device name.  Any thread. */
	void (*log)(struct vhd_dev *dev, enum vhd_log_level level,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

	/* Private data of the device.  Any thread. */
	void (*dev_set_priv)(struct vhd_dev *dev, void *priv);
	void *(*dev_priv)(struct vhd_dev *dev);
	/* The device's configured name ("rng0").  Any thread. */
	const char *(*dev_name)(struct vhd_dev *dev);
	/* Virtio features acked by the frontend.  Any thread. */
	uint64_t (*dev_features)(struct vhd_dev *dev);

	/* Queue index, its device, its worker number.  Any thread. */
	unsigned (*queue_index)(struct vhd_queue *q);
	struct vhd_dev *(*queue_dev)(struct vhd_queue *q);
	unsigned (*queue_worker)(struct vhd_queue *q);
	/* The queue with this index, or NULL.  Any thread. */
	struct vhd_queue *(*dev_queue)(struct vhd_dev *dev, unsigned index);

	/*
	 * Take the next available chain from the queue, or NULL when there
	 * is none.  A chain that breaks the rules (loop, bad address, bad
	 * indirect table) marks the device broken, is logged, and NULL is
	 * returned.  NULL also ends the queue's turn: after the ring's size
	 * in chains the worker's other ready queues go first, and then
	 * queue_handler is called again for the rest.  Worker.  No allocation
	 * on this path once warm.
	 */
	struct vhd_chain *(*queue_pop)(struct vhd_queue *q);
	/* Give the chain back to the guest with `len` bytes written into its
	 * device-writable buffers.  Worker. */
	void (*queue_push)(struct vhd_queue *q, struct vhd_chain *c,
	    uint32_t len);
	/* Interrupt the guest if it wants one (EVENT_IDX, NOTIFY_ON_EMPTY
	 * rules).  Worker. */
	void (*queue_notify)(struct vhd_queue *q);
	/* Undo the most recent pop without using the chain, so the guest's
	 * buffer is seen again on the next pop.  Only the last popped,
	 * unpushed chain may be rewound; returns -1 otherwise.  Worker. */
	int (*queue_rewind)(struct vhd_queue *q, struct vhd_chain *c);

	/* Total bytes in the chain's device-readable / device-writable
	 * buffers.  Worker. */
	size_t (*chain_readable)(struct vhd_chain *c);
	size_t (*chain_writable)(struct vhd_chain *c);
	/*
	 * Copy out of the readable part / into the writable part, starting
	 * `offset` bytes into that part.  Returns the bytes copied (short at
	 * the end of the part) or -1 when guest memory went away.  Worker.
	 */
	ssize_t (*chain_read)(struct vhd_chain *c, size_t offset, void *buf,
	    size_t len);
	ssize_t (*chain_write)(struct vhd_chain *c, size_t offset,
	    const void *buf, size_t len);
	/*
	 * Map up to `max` iovecs of the writable (writable != 0) or readable
	 * part, starting `offset` bytes in, for zero-copy I/O.  Returns the
	 * count or -1.  The pointers are valid until the calling callback
	 * returns.  Worker.
	 */
	int (*chain_iov)(struct vhd_chain *c, int writable, size_t offset,
	    struct iovec *iov, int max);

	/*
	 * Watch an fd (VHD_EV_READ/WRITE, with VHD_EV_PERSIST to keep it) or,
	 * with fd -1, create a timer.  The watch lives on worker `worker` of
	 * `dev` and must be created, armed and freed on that worker.
	 */
	struct vhd_watch *(*watch_new)(struct vhd_dev *dev, unsigned worker,
	    int fd, short events, vhd_watch_cb cb, void *arg);
	/* Arm the watch; with msec >= 0 it also fires after msec ms. */
	int (*watch_add)(struct vhd_watch *w, long msec);
	/* Disarm the watch. */
	int (*watch_del)(struct vhd_watch *w);
	/* Disarm and free the watch (the fd is not closed). */
	void (*watch_free)(struct vhd_watch *w);

	/*
	 * Run fn(dev, arg) on worker `worker` of `dev`.  With wait != 0 the
	 * caller blocks until it has run (not from that worker itself), but
	 * for a few seconds at most: a worker that does not answer breaks the
	 * device, -1 is returned, and fn does not run unless it had started.
	 * Any thread.  Returns 0 or -1.
	 */
	int (*run_on_worker)(struct vhd_dev *dev, unsigned worker,
	    vhd_worker_fn fn, void *arg, int wait);

	/*
	 * Tell the frontend that config space changed
	 * (VHOST_USER_BACKEND_CONFIG_CHANGE_MSG).  Any thread.  Returns -1
	 * when no backend channel is set up.
	 */
	int (*config_changed)(struct vhd_dev *dev);

	/* Mark the device broken for a reason; its queues stop being
	 * served until the frontend resets it.  Any thread. */
	void (*dev_fail)(struct vhd_dev *dev, const char *reason);

	/* ABI 1.1 */
	/* A 1.0 daemon's table ends above: check first that api->size >=
	 * offsetof(struct vhd_api, log_ratelimited) + sizeof(void *). */

	/*
	 * Parse `s` as a decimal number in [min, max]: digits only (no sign,
	 * no space, no base prefix, no suffix), not empty, no overflow.
	 * Stores it in *out and returns 0, or returns -1 leaving *out alone.
	 * Any thread.
	 */
	int (*parse_u64)(const char *s, uint64_t min, uint64_t max,
	    uint64_t *out);
	/*
	 * As log, but at most one line per second per device (all call sites
	 * share the limit); the lines dropped in between are counted and the
	 * next line logged ends with " (N similar warnings suppressed)".
	 * A device reset starts afresh.  Any thread (any worker of the
	 * device).
	 */
	void (*log_ratelimited)(struct vhd_dev *dev, enum vhd_log_level level,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

	/* ABI 1.2 and later: append new functions here. */

	/* ABI 1.3 (ctl; the minor is settled at merge) */
	/*
	 * Hand one counter to the sink of a stats callback; see struct
	 * vhd_device_ops.stats.  Only from within that callback.
	 */
	void (*stats_put)(struct vhd_stats_sink *sink, const char *object,
	    const char *name, uint64_t value);
};

/*
 * The module descriptor: the only symbol a module exports.  Starts with
 * its size and the ABI it was built for.  The daemon reads it after dlopen
 * (which has run the module's constructors, if any) and before it calls
 * any function of the module.
 */
struct vhd_module {
	uint32_t size;	    /* sizeof(struct vhd_module) */
	uint16_t abi_major; /* VHD_ABI_MAJOR at build time */
	uint16_t abi_minor; /* VHD_ABI_MINOR at build time */
	const char *name;	 /* "rng": must match the file name */
	const char *version;	 /* module version, free text */
	const char *description; /* one line for --list-modules */
	const struct vhd_device_ops *ops;
};

/* The name of the exported descriptor. */
#define VHD_MODULE_SYMBOL "vhd_module"

/*
 * Declare the module descriptor:
 *	VHD_MODULE("rng", "1.0", "virtio entropy device", &rng_ops);
 */
#define VHD_MODULE(name_, version_, desc_, ops_)                          \
	__attribute__((visibility("default"))) const struct vhd_module       \
	    vhd_module = {                                                   \
		.size = sizeof(struct vhd_module),                           \
		.abi_major = VHD_ABI_MAJOR,                                  \
		.abi_minor = VHD_ABI_MINOR,                                  \
		.name = (name_),                                             \
		.version = (version_),                                       \
		.description = (desc_),                                      \
		.ops = (ops_),                                               \
	}

#ifdef __cplusplus
}
#endif

#endif /* VHOSTD_VHOSTD_H */
