/*
 * rng: shared between rng.c (the device) and rng_state.c (migration).
 */

#ifndef VHOSTD_RNG_H
#define VHOSTD_RNG_H

#include <stdint.h>

#include <vhostd/vhostd.h>

#include "rng_pool.h"

#define RNG_DEVICE_ID		4
#define RNG_QUEUE_SIZE		1024
#define RNG_PERIOD_MAX		65536	/* ms: QEMU's and vhost-device-rng's */
#define RNG_IOV_MAX		64	/* iovecs mapped per fill step */
#define RNG_RETRY_MS		100	/* getrandom: pool not ready, retry */
#define RNG_POLL_MS		10	/* a device epoll refuses: retry */
#define RNG_NS_PER_MS		1000000ULL

/* How serving one chain ended. */
enum rng_serve {
	RNG_SERVED,	/* pushed (possibly with len 0) */
	RNG_WAIT,	/* rewound: stop popping until a timer or fd fires */
};

/* How a fill attempt ended when it wrote nothing. */
enum rng_fill {
	RNG_FILL_OK,		/* some bytes were written */
	RNG_FILL_AGAIN,		/* the source has nothing right now */
	RNG_FILL_BADCHAIN,	/* the chain's memory cannot be mapped */
	RNG_FILL_ERROR,		/* the source failed; errno is set */
};

/* Why the timer is armed. */
enum rng_timer {
	RNG_TIMER_OFF,
	RNG_TIMER_PERIOD,	/* the period ends: refill the budget */
	RNG_TIMER_RETRY,	/* the source had nothing: try again */
};

struct rng {
	const struct vhd_api	*api;
	struct vhd_dev		*dev;
	char			*source;	/* path; NULL: getrandom(2) */
	int			 fd;		/* -1: getrandom(2) */
	int			 regular;	/* fd is a regular file */
	int			 unpollable;	/* epoll refused the fd */
	uint64_t		 max_bytes;	/* 0: unlimited */
	uint32_t		 period_ms;

	/*
	 * Worker state.  The device has one queue, so one worker: these
	 * fields are touched only by that worker (queue_start/stop, the
	 * handler, the timer and fd callbacks) and by reset, which the
	 * daemon calls on the main thread with the queue stopped.  No lock
	 * is needed.
	 */
	struct vhd_queue	*q;
	struct vhd_watch	*timer;
	struct vhd_watch	*fdw;
	enum rng_timer		 timer_why;
	int			 fdw_armed;
	int			 period_open;
	uint64_t		 period_start;	/* ns, CLOCK_MONOTONIC */
	uint64_t		 budget;	/* bytes left in this period */
	struct rng_pool		 pool;		/* getrandom: small requests */
};

/* The daemon's function table (one per process). */
extern const struct vhd_api *rng_api;

struct rng	*rng_get(struct vhd_dev *);
uint64_t	 rng_now(void);

/* rng_state.c */
int		 rng_state_save(struct vhd_dev *, void **, size_t *);
int		 rng_state_load(struct vhd_dev *, const void *, size_t);

#endif /* VHOSTD_RNG_H */
