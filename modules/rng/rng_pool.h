/*
 * A batch of entropy for small requests (modules/rng/rng_pool.c): one
 * getrandom(2) call fills the pool, small requests are served from it
 * in order, and every byte is wiped as soon as it has been copied out,
 * so no byte is ever served twice or left behind.
 */

#ifndef VHOSTD_RNG_POOL_H
#define VHOSTD_RNG_POOL_H

#include <sys/types.h>
#include <sys/uio.h>

#include <stddef.h>
#include <stdint.h>

#define RNG_POOL_SIZE	4096	/* bytes fetched at once */
#define RNG_POOL_SMALL	256	/* requests up to this use the pool */

/* The source: fill `len` bytes without blocking; bytes or -1 (errno). */
typedef ssize_t (*rng_pool_source)(void *, size_t);

struct rng_pool {
	uint8_t		 buf[RNG_POOL_SIZE];
	size_t		 head;		/* next byte to serve */
	size_t		 tail;		/* end of fetched bytes */
	rng_pool_source	 source;
	uint64_t	 refills;	/* source calls (tests, stats) */
};

void	rng_pool_init(struct rng_pool *, rng_pool_source);
ssize_t	rng_pool_copy(struct rng_pool *, const struct iovec *, int);
void	rng_pool_wipe(struct rng_pool *);
ssize_t	rng_pool_getrandom(void *, size_t);

#endif /* VHOSTD_RNG_POOL_H */
