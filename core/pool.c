/*
 * The shared worker pool.  By default every device starts its own worker
 * threads (device.c), so 256 VMs are 257 threads.  With `workers N` the
 * daemon starts N pool workers once and every device's queues are served
 * by them: a device's worker i is a pool worker, each pool worker runs the
 * kick handlers, timers and watches of many devices in its one event
 * loop.  Fairness comes from the loop: a kick runs the module's handler,
 * which pops at most the ring's size in that turn (vring.c: a guest that
 * refills as fast as we serve would otherwise keep the worker), and every
 * other ready device gets its turn before the same ring's next one.
 *
 * A stuck pool worker (a module callback that blocks) is a stuck worker
 * of every device placed on it: worker.c logs it once and tells us, and
 * the main thread fails each of those devices at once (logged with the
 * reason; their queues are not restarted and a reset leaves them broken
 * until vhostd restarts).
 * Devices on the other pool workers go on serving.  Main thread only,
 * except pool_has.
 */

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "pool.h"
#include "worker.h"
#include "xmalloc.h"

static struct worker	*pool_workers[POOL_MAX];
static unsigned		 pool_load[POOL_MAX];	/* device workers on each */
static unsigned		 pool_n;
/* A pool worker got stuck: an event made active from any thread (the
 * base is pthreads-aware), handled on the main thread. */
static struct event	*pool_stuck_ev;
static int		 pool_handled[POOL_MAX];	/* main thread */
static void		(*pool_stuck_fn)(struct worker *, void *);
static void		*pool_stuck_arg;

/* A pool worker got stuck: wake the main thread.  Any thread. */
static void
pool_stuck_hook(struct worker *w __unused)
{
	if (pool_stuck_ev != NULL)
		event_active(pool_stuck_ev, EV_TIMEOUT, 0);
}

/* On the main thread: fail the devices of every newly stuck pool
 * worker. */
static void
pool_stuck_cb(evutil_socket_t fd __unused, short events __unused,
    void *arg __unused)
{
	unsigned	 i;

	for (i = 0; i < pool_n; i++) {
		if (pool_handled[i] || !worker_stuck(pool_workers[i]))
			continue;
		pool_handled[i] = 1;
		if (pool_stuck_fn != NULL)
			pool_stuck_fn(pool_workers[i], pool_stuck_arg);
	}
}

/* Start n pool workers.  0 or -1 with *cause.  Main thread, once. */
int
pool_start(struct event_base *base, unsigned n,
    void (*stuck_fn)(struct worker *, void *), void *arg, char **cause)
{
	char		*name, *wcause = NULL;
	unsigned	 i;

	if (n == 0 || n > POOL_MAX) {
		xasprintf(cause, "workers: %u: expected 1 to %d", n, POOL_MAX);
		return (-1);
	}
	pool_stuck_ev = event_new(base, -1, 0, pool_stuck_cb, NULL);
	if (pool_stuck_ev == NULL) {
		xasprintf(cause, "workers: cannot create an event");
		return (-1);
	}
	pool_stuck_fn = stuck_fn;
	pool_stuck_arg = arg;
	worker_set_stuck_hook(pool_stuck_hook);
	for (i = 0; i < n; i++) {
		xasprintf(&name, "pool/w%u", i);
		pool_workers[i] = worker_start(name, &wcause);
		free(name);
		if (pool_workers[i] == NULL) {
			xasprintf(cause, "pool worker %u: %s", i,
			    wcause != NULL ? wcause : "cannot start");
			free(wcause);
			pool_n = i;
			pool_stop();
			return (-1);
		}
		worker_set_pooled(pool_workers[i]);
		pool_load[i] = 0;
		pool_handled[i] = 0;
	}
	pool_n = n;
	log_info("a pool of %u worker%s serves every device", n,
	    n == 1 ? "" : "s");
	return (0);
}

/* Stop and join the pool's workers.  Main thread. */
void
pool_stop(void)
{
	unsigned	 i;

	for (i = 0; i < pool_n; i++) {
		worker_stop(pool_workers[i]);
		pool_workers[i] = NULL;
	}
	pool_n = 0;
	if (pool_stuck_ev != NULL)
		event_free(pool_stuck_ev);
	pool_stuck_ev = NULL;
}

/* How many pool workers run. */
unsigned
pool_size(void)
{
	return (pool_n);
}

/* The least loaded pool worker. */
static unsigned
pool_least(void)
{
	unsigned	 i, best = 0;

	for (i = 1; i < pool_n; i++) {
		if (pool_load[i] < pool_load[best])
			best = i;
	}
	return (best);
}

/* Place a device's workers on the pool.  0 or -1 with *cause. */
int
pool_place(struct worker **out, unsigned nworkers, int named,
    const char *devname, char **cause)
{
	unsigned	 i, p;

	if (named && nworkers > pool_n) {
		xasprintf(cause, "%s: its queue masks name %u workers, but "
		    "the pool has %u", devname, nworkers, pool_n);
		return (-1);
	}
	for (i = 0; i < nworkers; i++) {
		p = named ? i : pool_least();
		out[i] = pool_workers[p];
		pool_load[p]++;
	}
	return (0);
}

/* A device leaves its pool workers.  Main thread. */
void
pool_release(struct worker **ws, unsigned nworkers)
{
	unsigned	 i, p;

	for (i = 0; i < nworkers; i++) {
		for (p = 0; p < pool_n; p++) {
			if (ws[i] == pool_workers[p] && pool_load[p] > 0) {
				pool_load[p]--;
				break;
			}
		}
	}
}

/* Is w a pool worker?  Any thread (the array is set before any device
 * exists and cleared after the last is gone). */
int
pool_has(const struct worker *w)
{
	unsigned	 i;

	for (i = 0; i < pool_n; i++) {
		if (pool_workers[i] == w)
			return (1);
	}
	return (0);
}
