/*
 * rng: device state for migration.  What moves is the rate-limit period
 * in progress (open or not, bytes left, how far into it we are), so a
 * migrated guest does not get a fresh budget early; requests waiting in
 * the ring stay in guest memory and need nothing.  Without a rate limit
 * the state is empty in all but its version.
 *
 * Layout (little-endian u64s): version (1), period_open, budget,
 * elapsed ns into the period, max_bytes and period_ms of the source (the
 * destination keeps its own configuration: a budget larger than its
 * max-bytes is cut down to it).
 */

#include <stdint.h>
#include <stdlib.h>

#include <vhostd/vhostd.h>

#include "rng.h"

#define RNG_STATE_VERSION	1

/* Save the period in progress.  Main thread, the queue stopped. */
int
rng_state_save(struct vhd_dev *dev, void **buf, size_t *len)
{
	struct rng		*r = rng_get(dev);
	struct vhd_state_buf	 b = { 0 };
	uint64_t		 now = rng_now(), elapsed = 0;

	if (r->period_open && now > r->period_start)
		elapsed = now - r->period_start;
	vhd_state_put_u64(&b, RNG_STATE_VERSION);
	vhd_state_put_u64(&b, (uint64_t)r->period_open);
	vhd_state_put_u64(&b, r->period_open ? r->budget : 0);
	vhd_state_put_u64(&b, elapsed);
	vhd_state_put_u64(&b, r->max_bytes);
	vhd_state_put_u64(&b, r->period_ms);
	if (b.failed) {
		free(b.p);
		r->api->log(dev, VHD_LOG_ERR, "state save: out of memory");
		return (-1);
	}
	*buf = b.p;
	*len = b.len;
	return (0);
}

/* Restore the period.  Everything is checked before anything changes.
 * Main thread, the queue stopped. */
int
rng_state_load(struct vhd_dev *dev, const void *buf, size_t len)
{
	struct rng		*r = rng_get(dev);
	struct vhd_state_reader	 rd = { buf, len, 0 };
	uint64_t		 version, open, budget, elapsed, mb, pms;
	uint64_t		 plen = (uint64_t)r->period_ms * RNG_NS_PER_MS;
	uint64_t		 now = rng_now();

	if (vhd_state_get_range(&rd, RNG_STATE_VERSION, RNG_STATE_VERSION,
	    &version) == -1 ||
	    vhd_state_get_range(&rd, 0, 1, &open) == -1 ||
	    vhd_state_get_u64(&rd, &budget) == -1 ||
	    vhd_state_get_u64(&rd, &elapsed) == -1 ||
	    vhd_state_get_u64(&rd, &mb) == -1 ||
	    vhd_state_get_range(&rd, 0, RNG_PERIOD_MAX, &pms) == -1 ||
	    rd.off != rd.len) {
		r->api->log(dev, VHD_LOG_ERR, "state load: malformed rng "
		    "state (%zu bytes)", len);
		return (-1);
	}
	if (mb != 0 && budget > mb) {
		r->api->log(dev, VHD_LOG_ERR, "state load: budget %llu over "
		    "the source's max-bytes %llu", (unsigned long long)budget,
		    (unsigned long long)mb);
		return (-1);
	}
	if (mb != r->max_bytes || pms != r->period_ms)
		r->api->log(dev, VHD_LOG_WARN, "state load: the source had "
		    "max-bytes %llu period %llu; keeping this device's %llu "
		    "and %u", (unsigned long long)mb, (unsigned long long)pms,
		    (unsigned long long)r->max_bytes, r->period_ms);
	r->period_open = 0;
	r->budget = 0;
	if (open && r->max_bytes != 0 && elapsed < plen && elapsed <= now) {
		r->period_open = 1;
		r->period_start = now - elapsed;
		r->budget = budget < r->max_bytes ? budget : r->max_bytes;
	}
	return (0);
}
