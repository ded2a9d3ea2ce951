/*
 * Worker threads.  Each worker owns one libevent event_base (created with
 * EVENT_BASE_FLAG_NOLOCK) and touches no other thread's events.  Other
 * threads reach it only through worker_post(): a typed command appended to
 * a mutex-protected list, followed by an eventfd write; the worker takes
 * the whole list in one lock hold and runs it (memcached's thread.c).
 */

#ifndef VHOSTD_WORKER_H
#define VHOSTD_WORKER_H

#include <stdint.h>

#include "compat.h"

struct event_base;
struct vring;
struct worker;

/*
 * Longest a poster waits for a command (worker_post with wait): past it
 * the worker is marked stuck and never waited on again.
 */
#define WORKER_WAIT_MS		5000

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
/* Post WCMD_STOP, join the thread (bounded: a thread that does not end
 * is detached and left, its worker never freed), free.  Main thread. */
void		 worker_stop(struct worker *);

/*
 * Post a command.  With wait != 0, block until the worker has run it, but
 * at most WORKER_WAIT_MS: then the worker is marked stuck (logged once),
 * a command that had not started is cancelled, and -1 is returned; a
 * stuck worker is never waited on again (-1 at once, nothing posted).  A
 * worker waiting on itself runs the command inline.  Without wait the
 * command always goes on the list and 0 is returned.  Any thread.
 */
int	 worker_post(struct worker *, enum worker_cmd_type, struct vring *vq,
	    void (*fn)(void *), void *arg, int wait);
/* Wait (bounded) until the worker has finished whatever callback it is
 * in.  0 or -1 (stuck). */
int	 worker_sync(struct worker *);
/* Has the worker once failed to answer in time?  Any thread. */
int	 worker_stuck(struct worker *);
/* Post a ping that nothing waits for, unless one is unanswered (main
 * thread); how long it has been unanswered, in ms (any thread). */
void	 worker_ping(struct worker *);
uint64_t worker_busy_ms(struct worker *);
/* How many workers' threads were left running by worker_stop. */
unsigned worker_abandoned(void);

/* The worker's event base: only for use on that worker. */
struct event_base *worker_base(struct worker *);
/* The worker the calling thread runs, or NULL on the main thread. */
struct worker	*worker_self(void);
const char	*worker_name(struct worker *);
/* Call fn when a pool worker gets stuck (any thread).  Main thread. */
void		 worker_set_stuck_hook(void (*fn)(struct worker *));
/* Ask fn (main thread) before giving up on a late worker; non-zero: it
 * released the worker, wait once more.  Main thread. */
void		 worker_set_wait_hook(int (*fn)(struct worker *));
/* Mark a shared pool worker (pool.c).  Main thread, before use. */
void		 worker_set_pooled(struct worker *);

#endif /* VHOSTD_WORKER_H */
