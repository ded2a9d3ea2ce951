/*
 * Worker threads.  Each worker owns one libevent event_base (created with
 * EVENT_BASE_FLAG_NOLOCK) and touches no other thread's events.  Other
 * threads reach it only through worker_post(): a typed command appended to
 * a mutex-protected list, followed by an eventfd write; the worker takes
 * the whole list in one lock hold and runs it (memcached's thread.c).
 */

#ifndef VHOSTD_WORKER_H
#define VHOSTD_WORKER_H

#include "compat.h"

struct event_base;
struct vring;
struct worker;

enum worker_cmd_type {
	WCMD_QUEUE_START,	/* vring_worker_start(cmd->vq) */
	WCMD_QUEUE_STOP,	/* vring_worker_stop(cmd->vq) */
	WCMD_SYNC,		/* nothing: a quiescent point */
	WCMD_CALL,		/* cmd->fn(cmd->arg) */
	WCMD_STOP,		/* leave the loop */
};

/*
 * Start a worker named `name` ("rng0/w0"), with all signals blocked, and
 * wait until its loop runs.  Returns NULL with *cause set.  Main thread.
 */
struct worker	*worker_start(const char *name, char **cause) __must_check;
/* Post WCMD_STOP, join the thread, free everything.  Main thread. */
void		 worker_stop(struct worker *);

/*
 * Post a command.  With wait != 0, block until the worker has run it; a
 * worker must never wait on itself (that command is run inline instead).
 * Any thread.
 */
void	 worker_post(struct worker *, enum worker_cmd_type, struct vring *vq,
	    void (*fn)(void *), void *arg, int wait);
/* Wait until the worker has finished whatever callback it is in. */
void	 worker_sync(struct worker *);

/* The worker's event base: only for use on that worker. */
struct event_base *worker_base(struct worker *);
/* The worker the calling thread runs, or NULL on the main thread. */
struct worker	*worker_self(void);
const char	*worker_name(struct worker *);

#endif /* VHOSTD_WORKER_H */
