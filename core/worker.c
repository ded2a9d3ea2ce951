/*
 * Worker threads in the memcached thread.c manner.  Each worker owns one
 * event_base (EVENT_BASE_FLAG_NOLOCK: only its own thread touches it) and
 * an eventfd watched on that base.  Other threads append typed commands to
 * the worker's mutex-protected list and write the eventfd; the worker takes
 * the whole list in one lock hold and runs it.  A poster that waits sleeps
 * on the worker's condition variable until its command is done, but never
 * longer than WORKER_WAIT_MS: a worker that does not answer in time (a
 * module callback that blocks) is marked stuck, logged, and never waited
 * on again; the caller fails its device.  A waited-for command lives on the
 * heap with two references (poster and worker), so a poster that gives up
 * leaves nothing on its stack behind; a command it gave up on that has not
 * started yet is cancelled, so its arguments are never used late.
 *
 * Locking: w->lock protects w->cmds, w->running and every waited
 * command's state and refs.  It is never held while a command runs.
 * w->stuck is atomic (set once, read by any thread).
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/queue.h>

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

#include <event2/event.h>

#include "log.h"
#include "vring.h"
#include "worker.h"
#include "xmalloc.h"

/* How long a stopping worker's thread is waited for at shutdown. */
#define WORKER_JOIN_MS		2000

/* Where a waited-for command is; under w->lock. */
enum worker_cmd_state {
	WORKER_CMD_QUEUED,
	WORKER_CMD_RUNNING,
	WORKER_CMD_DONE,
	WORKER_CMD_CANCELLED,	/* the poster gave up before it ran */
};

struct worker_cmd {
	enum worker_cmd_type	 type;
	struct vring		*vq;
	void			(*fn)(void *);
	void			*arg;
	int			 wait;
	enum worker_cmd_state	 state;	/* wait only: under w->lock */
	int			 refs;	/* wait only: under w->lock */
	STAILQ_ENTRY(worker_cmd) entry;
};
STAILQ_HEAD(worker_cmd_list, worker_cmd);

struct worker {
	char			*name;
	pthread_t		 thread;
	struct event_base	*base;
	int			 efd;
	struct event		*efd_ev;

	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct worker_cmd_list	 cmds;		/* under lock */
	int			 running;	/* under lock */
	atomic_int		 stuck;		/* did not answer in time */
	/* postcopy: when the unanswered ping was posted (monotonic ns),
	 * 0 when none is (worker_ping). */
	_Atomic uint64_t	 ping_ns;
	int			 pooled;	/* a shared pool worker */
	struct worker		*next_abandoned;
};

/* Workers whose threads were left running at stop: never freed, kept on
 * this list (main thread) so they stay reachable. */
static struct worker	*worker_abandoned_list;
static atomic_uint	 worker_nabandoned;

/* Told when a pool worker gets stuck (pool.c); set before any worker. */
static void		(*worker_stuck_hook)(struct worker *);
/* Asked, on the main thread, before a worker is given up on: returns
 * non-zero when it released what held the worker (postcopy.c). */
static int		(*worker_wait_hook)(struct worker *);
static pthread_t	 worker_hook_thread;	/* the main thread */

/* The worker this thread runs, NULL on the main thread. */
static _Thread_local struct worker *worker_current;

static void	worker_cmd_queue_start(struct worker *, struct worker_cmd *);
static void	worker_cmd_queue_stop(struct worker *, struct worker_cmd *);
static void	worker_cmd_sync(struct worker *, struct worker_cmd *);
static void	worker_cmd_call(struct worker *, struct worker_cmd *);
static void	worker_cmd_stop(struct worker *, struct worker_cmd *);

/* What each command type does, indexed by enum worker_cmd_type. */
static void (*const worker_cmd_table[])(struct worker *,
    struct worker_cmd *) = {
	[WCMD_QUEUE_START] = worker_cmd_queue_start,
	[WCMD_QUEUE_STOP] = worker_cmd_queue_stop,
	[WCMD_SYNC] = worker_cmd_sync,
	[WCMD_CALL] = worker_cmd_call,
	[WCMD_STOP] = worker_cmd_stop,
};

/* WCMD_QUEUE_START: hand the ring to this worker. */
static void
worker_cmd_queue_start(struct worker *w, struct worker_cmd *cmd)
{
	(void)w;
	if (cmd->vq != NULL)
		vring_worker_start(cmd->vq);
}

/* WCMD_QUEUE_STOP: give the ring back. */
static void
worker_cmd_queue_stop(struct worker *w, struct worker_cmd *cmd)
{
	(void)w;
	if (cmd->vq != NULL)
		vring_worker_stop(cmd->vq);
}

/* WCMD_SYNC: nothing; reaching it is the point. */
static void
worker_cmd_sync(struct worker *w, struct worker_cmd *cmd)
{
	(void)w;
	(void)cmd;
}

/* WCMD_CALL: run the function. */
static void
worker_cmd_call(struct worker *w, struct worker_cmd *cmd)
{
	(void)w;
	if (cmd->fn != NULL)
		cmd->fn(cmd->arg);
}

/* WCMD_STOP: leave the loop once the current batch is done. */
static void
worker_cmd_stop(struct worker *w, struct worker_cmd *cmd)
{
	(void)cmd;
	event_base_loopbreak(w->base);
}

/* Drop one reference to a waited command; frees it at zero.  Must hold
 * w->lock. */
static void
worker_cmd_unref(struct worker_cmd *cmd)
{
	if (--cmd->refs == 0)
		free(cmd);
}

/* Run one command, then complete it: wake its waiting poster or free it.
 * A waited command its poster cancelled is dropped without running.  The
 * command must not be touched after this returns. */
static void
worker_cmd_run(struct worker *w, struct worker_cmd *cmd)
{
	if (cmd->wait) {
		pthread_mutex_lock(&w->lock);
		if (cmd->state == WORKER_CMD_CANCELLED) {
			worker_cmd_unref(cmd);
			pthread_mutex_unlock(&w->lock);
			return;
		}
		cmd->state = WORKER_CMD_RUNNING;
		pthread_mutex_unlock(&w->lock);
	}
	if ((size_t)cmd->type < nitems(worker_cmd_table) &&
	    worker_cmd_table[cmd->type] != NULL)
		worker_cmd_table[cmd->type](w, cmd);
	else
		log_warnx("%s: unknown command %d", w->name, (int)cmd->type);
	if (cmd->wait) {
		pthread_mutex_lock(&w->lock);
		cmd->state = WORKER_CMD_DONE;
		pthread_cond_broadcast(&w->cond);
		worker_cmd_unref(cmd);
		pthread_mutex_unlock(&w->lock);
	} else
		free(cmd);
}

/* Take every queued command in one lock hold and run them in order.
 * Returns how many ran. */
static unsigned
worker_drain(struct worker *w)
{
	struct worker_cmd_list	 list = STAILQ_HEAD_INITIALIZER(list);
	struct worker_cmd	*cmd, *next;
	unsigned		 n = 0;

	pthread_mutex_lock(&w->lock);
	STAILQ_CONCAT(&list, &w->cmds);
	pthread_mutex_unlock(&w->lock);

	for (cmd = STAILQ_FIRST(&list); cmd != NULL; cmd = next) {
		next = STAILQ_NEXT(cmd, entry);
		worker_cmd_run(w, cmd);
		n++;
	}
	return (n);
}

/* The eventfd fired: clear it and run the command list.  Worker. */
static void
worker_efd_cb(int fd, short events, void *arg)
{
	struct worker	*w = arg;
	eventfd_t	 v;

	(void)events;
	if (eventfd_read(fd, &v) == -1 && errno != EAGAIN)
		log_warn("%s: command eventfd", w->name);
	worker_drain(w);
}

/* First callback of the loop: tell worker_start we are running. */
static void
worker_ready_cb(int fd, short events, void *arg)
{
	struct worker	*w = arg;

	(void)fd;
	(void)events;
	pthread_mutex_lock(&w->lock);
	w->running = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* The thread: name itself, run the loop until WCMD_STOP, then run what is
 * left on the list so no waiting poster is stranded. */
static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	char		 tname[16];

	worker_current = w;
	log_setname(w->name);
	/* Kernel thread names are at most 15 bytes. */
	snprintf(tname, sizeof tname, "%s", w->name);
	pthread_setname_np(pthread_self(), tname);

	if (event_base_loop(w->base, 0) == -1)
		log_warnx("%s: event loop failed", w->name);

	while (worker_drain(w) > 0)
		;
	return (NULL);
}

/* Free what worker_start allocated (thread not running). */
static void
worker_free(struct worker *w)
{
	if (w->efd_ev != NULL)
		event_free(w->efd_ev);
	if (w->efd >= 0)
		close(w->efd);
	if (w->base != NULL)
		event_base_free(w->base);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->name);
	free(w);
}

/*
 * Start a worker with all signals blocked and wait until its loop runs.
 * NULL with *cause.  Main thread.
 */
struct worker *
worker_start(const char *name, char **cause)
{
	struct worker		*w;
	struct event_config	*cfg;
	struct timeval		 now = { 0, 0 };
	sigset_t		 all, old;
	pthread_condattr_t	 ca;
	int			 error;

	w = xcalloc(1, sizeof *w);
	w->name = xstrdup(name);
	w->efd = -1;
	atomic_init(&w->stuck, 0);
	atomic_init(&w->ping_ns, 0);
	STAILQ_INIT(&w->cmds);
	pthread_mutex_init(&w->lock, NULL);
	/* Timed waits measure on the monotonic clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);

	if ((cfg = event_config_new()) == NULL) {
		xasprintf(cause, "%s: event_config_new failed", name);
		goto fail;
	}
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (w->base == NULL) {
		xasprintf(cause, "%s: cannot create an event base", name);
		goto fail;
	}
	if ((w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: eventfd: %s", name, strerror(errno));
		goto fail;
	}
	w->efd_ev = event_new(w->base, w->efd, EV_READ | EV_PERSIST,
	    worker_efd_cb, w);
	if (w->efd_ev == NULL || event_add(w->efd_ev, NULL) == -1) {
		xasprintf(cause, "%s: cannot watch the command eventfd", name);
		goto fail;
	}
	if (event_base_once(w->base, -1, EV_TIMEOUT, worker_ready_cb, w,
	    &now) == -1) {
		xasprintf(cause, "%s: event_base_once failed", name);
		goto fail;
	}

	/* Signals are events on the main base only: the thread inherits
	 * a mask with all of them blocked. */
	sigfillset(&all);
	/* sigbus: except SIGBUS, which guest_fault.c must catch here (a
	 * fault while it is blocked kills the process). */
	sigdelset(&all, SIGBUS);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	error = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (error != 0) {
		xasprintf(cause, "%s: pthread_create: %s", name,
		    strerror(error));
		goto fail;
	}

	pthread_mutex_lock(&w->lock);
	while (!w->running)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	return (w);

fail:
	worker_free(w);
	return (NULL);
}

/* The absolute monotonic time `ms` from now. */
static void
worker_deadline(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * Stop the worker: post WCMD_STOP, join within WORKER_JOIN_MS, run anything
 * posted meanwhile, free.  A thread that does not end in time (stuck in a
 * module callback) is detached and left running with its worker never
 * freed, so shutdown cannot hang on it.  Main thread (never from the
 * worker itself).
 */
void
worker_stop(struct worker *w)
{
	struct timespec	 ts;
	long		 ms;
	int		 error;

	if (w == NULL)
		return;
	if (worker_current == w) {
		log_warnx("%s: worker asked to stop itself", w->name);
		return;
	}
	worker_post(w, WCMD_STOP, NULL, NULL, NULL, 0);
	/* pthread_timedjoin_np measures on CLOCK_REALTIME.  A worker
	 * known to be stuck gets a short grace only. */
	ms = atomic_load(&w->stuck) ? 200 : WORKER_JOIN_MS;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	error = pthread_timedjoin_np(w->thread, NULL, &ts);
	if (error != 0) {
		log_warnx("%s: worker did not stop in %ld ms; leaving it",
		    w->name, ms);
		pthread_detach(w->thread);
		w->next_abandoned = worker_abandoned_list;
		worker_abandoned_list = w;
		atomic_fetch_add(&worker_nabandoned, 1);
		return;
	}
	/* The thread is gone: commands that raced with the stop run
	 * here, so their posters do not wait forever. */
	while (worker_drain(w) > 0)
		;
	worker_free(w);
}

/* Mark a worker stuck (once) and log it.  Any thread. */
static void
worker_set_stuck(struct worker *w)
{
	int	 expected = 0;

	if (!atomic_compare_exchange_strong(&w->stuck, &expected, 1))
		return;
	log_warnx("worker %s did not answer in %d s", w->name,
	    WORKER_WAIT_MS / 1000);
	if (w->pooled) {
		log_warnx("worker %s is a pool worker: every device it serves "
		    "fails and stays broken until vhostd restarts", w->name);
		if (worker_stuck_hook != NULL)
			worker_stuck_hook(w);
	}
}

/*
 * Post a command; with wait, block until it has run, at most
 * WORKER_WAIT_MS.  A worker waiting on itself runs the command inline
 * instead.  0, or -1 when a waited command did not complete (the worker
 * is stuck: cancelled if it had not started, else left to finish on its
 * own).  Any thread.
 */
int
worker_post(struct worker *w, enum worker_cmd_type type, struct vring *vq,
    void (*fn)(void *), void *arg, int wait)
{
	struct worker_cmd	 stack_cmd, *cmd;
	struct timespec		 ts;
	int			 rc = 0, hooked = 0, woke;

	if (wait && worker_current == w) {
		memset(&stack_cmd, 0, sizeof stack_cmd);
		stack_cmd.type = type;
		stack_cmd.vq = vq;
		stack_cmd.fn = fn;
		stack_cmd.arg = arg;
		if ((size_t)type < nitems(worker_cmd_table) &&
		    worker_cmd_table[type] != NULL)
			worker_cmd_table[type](w, &stack_cmd);
		return (0);
	}
	/* Never wait on a stuck worker again. */
	if (wait && atomic_load(&w->stuck))
		return (-1);

	cmd = xcalloc(1, sizeof *cmd);
	cmd->type = type;
	cmd->vq = vq;
	cmd->fn = fn;
	cmd->arg = arg;
	cmd->wait = wait != 0;
	cmd->state = WORKER_CMD_QUEUED;
	cmd->refs = 2;		/* the poster's and the worker's */

	pthread_mutex_lock(&w->lock);
	STAILQ_INSERT_TAIL(&w->cmds, cmd, entry);
	pthread_mutex_unlock(&w->lock);
	if (eventfd_write(w->efd, 1) == -1)
		log_warn("%s: command eventfd", w->name);

	if (!wait)
		return (0);
	worker_deadline(&ts, WORKER_WAIT_MS);
	pthread_mutex_lock(&w->lock);
	while (cmd->state != WORKER_CMD_DONE) {
		if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) ==
		    ETIMEDOUT && cmd->state != WORKER_CMD_DONE) {
			/* postcopy: a fault the frontend does not serve
			 * may hold it; once released, wait again. */
			if (!hooked && worker_current == NULL &&
			    worker_wait_hook != NULL &&
			    pthread_equal(pthread_self(),
			    worker_hook_thread)) {
				hooked = 1;
				pthread_mutex_unlock(&w->lock);
				woke = worker_wait_hook(w);
				pthread_mutex_lock(&w->lock);
				if (woke) {
					worker_deadline(&ts, WORKER_WAIT_MS);
					continue;
				}
			}
			/* Not started yet: it never will be. */
			if (cmd->state == WORKER_CMD_QUEUED)
				cmd->state = WORKER_CMD_CANCELLED;
			rc = -1;
			break;
		}
	}
	worker_cmd_unref(cmd);
	pthread_mutex_unlock(&w->lock);
	if (rc == -1)
		worker_set_stuck(w);
	return (rc);
}

/* Wait (bounded) until the worker has left whatever callback it was in.
 * 0 or -1 (stuck).  Any thread; a no-op on the worker itself. */
int
worker_sync(struct worker *w)
{
	return (worker_post(w, WCMD_SYNC, NULL, NULL, NULL, 1));
}

/* Monotonic nanoseconds. */
static uint64_t
worker_now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
}

/* The ping ran: the worker is back in its loop.  Worker. */
static void
worker_pong(void *arg)
{
	struct worker	*w = arg;

	atomic_store(&w->ping_ns, 0);
}

/*
 * Post a ping unless one is unanswered; worker_busy_ms then says how
 * long the worker has not come back to its loop.  Nothing waits.  Main
 * thread (the only one that pings).
 */
void
worker_ping(struct worker *w)
{
	if (atomic_load(&w->ping_ns) != 0)
		return;
	atomic_store(&w->ping_ns, worker_now_ns());
	(void)worker_post(w, WCMD_CALL, NULL, worker_pong, w, 0);
}

/* How long the worker's ping has been unanswered, in ms (0: none is).
 * Any thread. */
uint64_t
worker_busy_ms(struct worker *w)
{
	uint64_t	 t = atomic_load(&w->ping_ns), now;

	if (t == 0)
		return (0);
	now = worker_now_ns();
	return (now > t ? (now - t) / 1000000 : 0);
}

/* Did the worker once fail to answer in time?  Any thread. */
int
worker_stuck(struct worker *w)
{
	return (atomic_load(&w->stuck));
}

/* How many workers were left running at stop.  Any thread. */
unsigned
worker_abandoned(void)
{
	return (atomic_load(&worker_nabandoned));
}

/* The worker's event base.  Only for use on that worker. */
struct event_base *
worker_base(struct worker *w)
{
	return (w->base);
}

/* The worker the calling thread runs, or NULL. */
struct worker *
worker_self(void)
{
	return (worker_current);
}

/* Call `fn` (on the thread that found out) when a pool worker gets
 * stuck.  Main thread, before any pool worker starts. */
void
worker_set_stuck_hook(void (*fn)(struct worker *))
{
	worker_stuck_hook = fn;
}

/* Call `fn` on the main thread when a command it waits for is late,
 * before the worker is marked stuck; non-zero from fn means it released
 * the worker and the wait starts again (once).  Main thread. */
void
worker_set_wait_hook(int (*fn)(struct worker *))
{
	worker_hook_thread = pthread_self();
	worker_wait_hook = fn;
}

/* Mark a worker as a shared pool worker (for the stuck message).  Main
 * thread, before any device uses it. */
void
worker_set_pooled(struct worker *w)
{
	w->pooled = 1;
}

/* The worker's name. */
const char *
worker_name(struct worker *w)
{
	return (w->name);
}
