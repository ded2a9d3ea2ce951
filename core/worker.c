/*
 * Worker threads in the memcached thread.c manner.  Each worker owns one
 * event_base (EVENT_BASE_FLAG_NOLOCK: only its own thread touches it) and
 * an eventfd watched on that base.  Other threads append typed commands to
 * the worker's mutex-protected list and write the eventfd; the worker takes
 * the whole list in one lock hold and runs it.  A poster that waits sleeps
 * on the worker's condition variable until its command's done flag is set.
 *
 * Locking: w->lock protects w->cmds, w->running and every cmd->done.  It is
 * never held while a command runs.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "vring.h"
#include "worker.h"
#include "xmalloc.h"

struct worker_cmd {
	enum worker_cmd_type	 type;
	struct vring		*vq;
	void			(*fn)(void *);
	void			*arg;
	int			 wait;	/* on the poster's stack */
	int			 done;	/* under w->lock */
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
};

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

/* Run one command, then complete it: wake its waiting poster or free it.
 * The command must not be touched after this returns. */
static void
worker_cmd_run(struct worker *w, struct worker_cmd *cmd)
{
	if ((size_t)cmd->type < nitems(worker_cmd_table) &&
	    worker_cmd_table[cmd->type] != NULL)
		worker_cmd_table[cmd->type](w, cmd);
	else
		log_warnx("%s: unknown command %d", w->name, (int)cmd->type);
	if (cmd->wait) {
		/* The poster may return (and its stack frame go) as soon
		 * as it sees done, so this is the last access. */
		pthread_mutex_lock(&w->lock);
		cmd->done = 1;
		pthread_cond_broadcast(&w->cond);
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
	int			 error;

	w = xcalloc(1, sizeof *w);
	w->name = xstrdup(name);
	w->efd = -1;
	STAILQ_INIT(&w->cmds);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);

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

/* Stop the worker: post WCMD_STOP, join, run anything posted meanwhile,
 * free.  Main thread (never from the worker itself). */
void
worker_stop(struct worker *w)
{
	if (w == NULL)
		return;
	if (worker_current == w) {
		log_warnx("%s: worker asked to stop itself", w->name);
		return;
	}
	worker_post(w, WCMD_STOP, NULL, NULL, NULL, 0);
	pthread_join(w->thread, NULL);
	/* The thread is gone: commands that raced with the stop run
	 * here, so their posters do not wait forever. */
	while (worker_drain(w) > 0)
		;
	worker_free(w);
}

/*
 * Post a command; with wait, block until it has run.  A worker waiting on
 * itself runs the command inline instead.  Any thread.
 */
void
worker_post(struct worker *w, enum worker_cmd_type type, struct vring *vq,
    void (*fn)(void *), void *arg, int wait)
{
	struct worker_cmd	 stack_cmd, *cmd;

	if (wait && worker_current == w) {
		memset(&stack_cmd, 0, sizeof stack_cmd);
		stack_cmd.type = type;
		stack_cmd.vq = vq;
		stack_cmd.fn = fn;
		stack_cmd.arg = arg;
		if ((size_t)type < nitems(worker_cmd_table) &&
		    worker_cmd_table[type] != NULL)
			worker_cmd_table[type](w, &stack_cmd);
		return;
	}

	if (wait) {
		cmd = &stack_cmd;
		memset(cmd, 0, sizeof *cmd);
	} else
		cmd = xcalloc(1, sizeof *cmd);
	cmd->type = type;
	cmd->vq = vq;
	cmd->fn = fn;
	cmd->arg = arg;
	cmd->wait = wait != 0;

	pthread_mutex_lock(&w->lock);
	STAILQ_INSERT_TAIL(&w->cmds, cmd, entry);
	pthread_mutex_unlock(&w->lock);
	if (eventfd_write(w->efd, 1) == -1)
		log_warn("%s: command eventfd", w->name);

	if (!wait)
		return;
	pthread_mutex_lock(&w->lock);
	while (!cmd->done)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

/* Wait until the worker has left whatever callback it was in.  Any
 * thread; a no-op on the worker itself. */
void
worker_sync(struct worker *w)
{
	worker_post(w, WCMD_SYNC, NULL, NULL, NULL, 1);
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

/* The worker's name. */
const char *
worker_name(struct worker *w)
{
	return (w->name);
}
