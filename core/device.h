/*
 * A device: one configured instance of a module, served on its own unix
 * socket to one frontend at a time, with its own workers and vrings.
 */

#ifndef VHOSTD_DEVICE_H
#define VHOSTD_DEVICE_H

#include <sys/queue.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <vhostd/vhostd.h>

#include "compat.h"

struct conf_device;
struct dirty_log;
struct dev_state;
struct event;
struct event_base;
struct guest_mem;
struct inflight_region;
struct module;
struct vring;
struct vu_backend;
struct vu_conn;
struct postcopy;
struct worker;

/* Removed ranges remembered between memory additions (the oldest is
 * forgotten past this). */
#define DEVICE_MAX_HOLES	16

struct device {
	char			*name;
	struct module		*mod;
	const struct vhd_device_ops *ops;
	void			*priv;		/* the module's */
	struct vhd_dev_info	 info;
	struct event_base	*base;		/* main thread's */

	char			*socket_path;
	int			 listen_fd;
	int			 listen_activated; /* sd_listen.c's fd */
	struct event		*listen_ev;
	struct vu_conn		*conn;		/* the frontend, or NULL */

	unsigned		 nworkers;
	struct worker		**workers;
	struct vring		*vrings;	/* info.num_queues of them */

	/* The current guest memory table; see guest_mem.h. */
	struct guest_mem	*_Atomic mem;

	/* What we offer. */
	uint64_t		 features;
	uint64_t		 protocol_features;

	/* What the frontend negotiated (main thread writes). */
	int			 owned;
	int			 features_acked;
	_Atomic uint64_t	 acked_features;
	uint64_t		 acked_protocol_features;

	atomic_int		 broken;	/* needs a reset */

	/* Our copy of the module's ops, zero-filled past its size. */
	struct vhd_device_ops	 ops_copy;
	/* Accepting paused after EMFILE/ENFILE (one-second timer). */
	struct event		*accept_pause_ev;
	/* The backend request channel (vu_backend.c). */
	struct vu_backend	*backend;
	/* Guards every ring's err_fd against device_fail on other threads. */
	pthread_mutex_t		 err_lock;
	/* api->log_ratelimited state: the last line logged (monotonic ns, 0
	 * for none) and the lines dropped since; guarded by rl_lock (any
	 * worker of the device may log). */
	pthread_mutex_t		 rl_lock;
	uint64_t		 rl_last_ns;
	unsigned long		 rl_suppressed;
	/* Guest-physical ranges REM_MEM_REG removed since memory was last
	 * added (vring.h: a queue meeting one pauses instead of breaking
	 * the device); under holes_lock (read by workers). */
	pthread_mutex_t		 holes_lock;
	unsigned		 nholes;
	struct {
		uint64_t	 gpa;
		uint64_t	 size;
	}			 holes[DEVICE_MAX_HOLES];
	/* The inflight region (inflight.h), or NULL. */
	struct inflight_region	*inflight;
	/* Client mode (device_client.c): connect to socket_path. */
	int			 client;
	struct event		*client_ev;	/* reconnect timer */
	unsigned		 client_delay_ms;
	unsigned		 client_failures;

	/* The dirty log for migration (dirty_log.h), published like mem. */
	struct dirty_log	*_Atomic log;
	/* The virtio status byte of SET_STATUS (main thread). */
	uint8_t			 status;
	/* Postcopy (postcopy.h; main thread): our userfaultfd or -1,
	 * whether POSTCOPY_LISTEN came, the registered mappings and the
	 * watchdog that bounds faults (postcopy.c). */
	int			 pc_ufd;
	int			 pc_listen;
	struct postcopy		*pc;		/* registered, watched */
	/* ctl: why it broke last (device_fail), under err_lock; its
	 * workers belong to the shared pool (pool.c), not to it. */
	char			 broken_reason[256];
	int			 pooled;

	/* A device state transfer in progress or awaiting
	 * CHECK_DEVICE_STATE (dev_state.c), or NULL. */
	struct dev_state	*state;

	TAILQ_ENTRY(device)	 entry;
};
TAILQ_HEAD(device_list, device);

/*
 * Create a device from its configuration: load the module, call its
 * create, start its workers, bind and listen on its socket.  NULL with
 * *cause.  Main thread.
 */
struct device	*device_create(struct event_base *base,
		    const struct conf_device *cd, const char *module_dir,
		    char **cause) __must_check;
/*
 * As device_create, but with a given ops table instead of a module
 * (dev->mod NULL): create, validate, start workers, listen on cd->socket.
 * NULL with *cause.  Main thread.  Used by device_create and the tests.
 */
struct device	*device_create_ops(struct event_base *base, const char *name,
		    const struct vhd_device_ops *ops,
		    const struct conf_device *cd, char **cause) __must_check;
/*
 * Check a device's configuration without serving it (vhostd -n): load the
 * module, run its create, validate what it reports, destroy it.  0 or -1
 * with *cause.  Main thread.
 */
int		 device_check(const struct conf_device *cd,
		    const char *module_dir, char **cause) __must_check;
/* Stop everything, close and unlink the socket, free.  Main thread. */
void		 device_destroy(struct device *);
/* Stop all queues, reset rings and negotiated state, drop memory, call
 * the module's reset.  Main thread. */
void		 device_reset(struct device *);
/* RESET_DEVICE: stop and reset the rings, clear the acked virtio features
 * and the broken flag, call the module's reset; keeps the owner, protocol
 * features, memory and backend channel.  Main thread. */
void		 device_reset_queues(struct device *);
/* The frontend connection ended: device_reset, accept the next one.
 * Main thread. */
void		 device_disconnected(struct device *);
/* Mark broken: log the reason, stop serving queues, signal err fds.
 * Any thread. */
void		 device_fail(struct device *, const char *fmt, ...)
		    __printflike(2, 3);
/* The current memory table (acquire load).  Any thread. */
struct guest_mem *device_mem(struct device *);
/*
 * Publish a new memory table, wait (bounded) until no worker uses the old
 * one, free it (or leak it when a worker does not answer: it may still be
 * using it), then tell the module (mem_update, queues still running).
 * Main thread.
 */
void		 device_set_mem(struct device *, struct guest_mem *);
/* Remember [gpa, gpa+size) as removed by REM_MEM_REG.  Main thread. */
void		 device_mem_hole_add(struct device *, uint64_t gpa,
		    uint64_t size);
/* Memory was added: forget the removed ranges.  Main thread. */
void		 device_mem_holes_clear(struct device *);
/* Does [gpa, gpa+len) touch a range REM_MEM_REG removed?  Any thread. */
int		 device_mem_removed(struct device *, uint64_t gpa, uint64_t len);
/* After a memory update: start the rings that can start now (a ring
 * refused for missing memory) and resume the paused ones.  Main thread. */
void		 device_mem_refresh(struct device *);
/* device_client.c: connect to the VMM's socket instead of listening (0 or
 * -1 with *cause), reconnect after a drop, free.  Main thread. */
int		 device_client_start(struct device *, char **cause)
		    __must_check;
void		 device_client_disconnected(struct device *);
void		 device_client_free(struct device *);
/* device_listen.c: bind (or take from socket activation) and listen on
 * the device's socket.  0 or -1 with *cause.  Main thread. */
int		 device_listen_start(struct device *,
		    const struct conf_device *, char **cause) __must_check;
/* Does any of the device's workers not answer?  Any thread. */
int		 device_stuck(struct device *);

/* Conversions between the SDK's opaque handles and core types. */
static inline struct device *
device_from_vhd(struct vhd_dev *d)
{
	return ((struct device *)(void *)d);
}

static inline struct vhd_dev *
device_to_vhd(struct device *dev)
{
	return ((struct vhd_dev *)(void *)dev);
}

#endif /* VHOSTD_DEVICE_H */
