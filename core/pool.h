/*
 * The shared worker pool (`workers N`, --workers=N): N worker threads
 * that every device shares instead of starting threads of its own.
 */

#ifndef VHOSTD_POOL_H
#define VHOSTD_POOL_H

#include <stdint.h>

#include "compat.h"

struct event_base;
struct worker;

/* Most pool workers. */
#define POOL_MAX		64

/*
 * Start n pool workers ("pool/w0" ...).  When one of them gets stuck,
 * `stuck_fn(w, arg)` runs on the main thread (on `base`) to fail the
 * devices it serves.  0 or -1 with *cause.  Main thread, once.
 */
int		 pool_start(struct event_base *base, unsigned n,
		    void (*stuck_fn)(struct worker *, void *), void *arg,
		    char **cause) __must_check;
/* Stop and join the pool's workers.  Main thread. */
void		 pool_stop(void);
/* How many pool workers run (0: no pool, devices have their own). */
unsigned	 pool_size(void);
/*
 * Place a device with `nworkers` device workers on the pool: fill
 * out[0..nworkers) with pool workers.  With `named` (the queue masks came
 * from the configuration) device worker i is pool worker i, and -1 with
 * *cause when i is past the pool; otherwise the device goes to the pool
 * workers serving the fewest device workers.  Main thread.
 */
int		 pool_place(struct worker **out, unsigned nworkers, int named,
		    const char *devname, char **cause) __must_check;
/* A device leaves its pool workers.  Main thread. */
void		 pool_release(struct worker **ws, unsigned nworkers);
/* Is w a pool worker?  Any thread. */
int		 pool_has(const struct worker *w);

#endif /* VHOSTD_POOL_H */
