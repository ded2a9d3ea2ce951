/*
 * The rng module's batch for small requests.  The Linux virtio-rng
 * driver asks for 64 bytes at a time; a getrandom(2) call per request
 * costs more than the request itself, so one call fetches a pool of
 * RNG_POOL_SIZE bytes and requests take their bytes from it in order.
 * Bytes are wiped (explicit_bzero) the moment they are copied to the
 * guest, and the rest when the pool is dropped: the pool only ever holds
 * bytes no one has seen.  A pool belongs to one device, and so to its
 * queue's worker: no lock.
 */

#include <sys/types.h>
#include <sys/random.h>
#include <sys/uio.h>

#include <errno.h>
#include <string.h>

#include "rng_pool.h"

/* An empty pool fed by `source`.  Any thread, before first use. */
void
rng_pool_init(struct rng_pool *p, rng_pool_source source)
{
	explicit_bzero(p->buf, sizeof p->buf);
	p->head = p->tail = 0;
	p->source = source;
	p->refills = 0;
}

/* Wipe what is left and empty the pool.  The owning worker, or the main
 * thread with the queue stopped. */
void
rng_pool_wipe(struct rng_pool *p)
{
	explicit_bzero(p->buf, sizeof p->buf);
	p->head = p->tail = 0;
}

/* getrandom(2) without blocking, the default source. */
ssize_t
rng_pool_getrandom(void *buf, size_t len)
{
	return (getrandom(buf, len, GRND_NONBLOCK));
}

/* Fetch a fresh batch into an empty pool; 0 or -1 with errno. */
static int
rng_pool_refill(struct rng_pool *p)
{
	ssize_t	got;

	for (;;) {
		got = p->source(p->buf, sizeof p->buf);
		if (got == -1 && errno == EINTR)
			continue;
		break;
	}
	p->refills++;
	if (got <= 0) {
		if (got == 0)
			errno = EAGAIN;
		return (-1);
	}
	p->head = 0;
	p->tail = (size_t)got;
	return (0);
}

/*
 * Fill iov[0..n) from the pool, refilling it when it runs dry.  Returns
 * the bytes written (short only when the source has nothing more), or
 * -1 with errno when nothing was written.  Every byte copied out is
 * wiped in the pool.  The owning worker.
 */
ssize_t
rng_pool_copy(struct rng_pool *p, const struct iovec *iov, int n)
{
	size_t	done = 0, off, k;
	int	i;

	for (i = 0; i < n; i++) {
		off = 0;
		while (off < iov[i].iov_len) {
			if (p->head == p->tail && rng_pool_refill(p) == -1)
				return (done != 0 ? (ssize_t)done : -1);
			k = p->tail - p->head;
			if (k > iov[i].iov_len - off)
				k = iov[i].iov_len - off;
			memcpy((uint8_t *)iov[i].iov_base + off,
			    p->buf + p->head, k);
			explicit_bzero(p->buf + p->head, k);
			p->head += k;
			off += k;
			done += k;
		}
	}
	return ((ssize_t)done);
}
