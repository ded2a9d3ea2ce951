/*
 * Dirty logging for live migration: the log a frontend shares with
 * SET_LOG_BASE, its publication to the workers, and the bit setting the
 * core does for every write it makes into guest memory.  See
 * dirty_log.h.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "dirty_log.h"
#include "guest_fault.h"
#include "guest_mem.h"
#include "log.h"
#include "vhost_user.h"
#include "vring.h"
#include "worker.h"
#include "xmalloc.h"

/* Logs a stuck worker may still use: never freed (main thread). */
struct dirty_log_kept {
	struct dirty_log	*log;
	struct dirty_log_kept	*next;
};
static struct dirty_log_kept	*dirty_log_kept_list;

/* Drop a reference to a mapping; unmap at 0.  Main thread. */
static void
dirty_log_map_unref(struct dirty_log_map *map)
{
	if (map == NULL || --map->refcnt > 0)
		return;
	munmap(map->addr, map->len);
	free(map);
}

/* Free a log that no worker can hold.  Main thread. */
static void
dirty_log_free(struct dirty_log *dl)
{
	if (dl == NULL)
		return;
	dirty_log_map_unref(dl->map);
	if (dl->call_fd >= 0)
		close(dl->call_fd);
	free(dl);
}

/*
 * Publish a new log (or NULL) and free the old one once every worker of
 * the device has passed a quiescent point (as device_set_mem); a worker
 * that does not answer may still hold it, so it is then kept, never
 * unmapped under it.  Main thread.
 */
static void
dirty_log_publish(struct device *dev, struct dirty_log *dl)
{
	struct dirty_log	*old;
	struct dirty_log_kept	*kept;
	unsigned		 i;
	int			 synced = 1;

	old = atomic_exchange_explicit(&dev->log, dl, memory_order_acq_rel);
	if (old == NULL || old == dl)
		return;
	for (i = 0; i < dev->nworkers; i++) {
		if (dev->workers[i] != NULL &&
		    worker_sync(dev->workers[i]) == -1)
			synced = 0;
	}
	if (synced) {
		dirty_log_free(old);
		return;
	}
	log_warnx("%s: keeping the old dirty log mapped: a worker may still "
	    "use it", dev->name);
	kept = xmalloc(sizeof *kept);
	kept->log = old;
	kept->next = dirty_log_kept_list;
	dirty_log_kept_list = kept;
}

/* Bytes of bitmap needed to cover every page of `mem`. */
uint64_t
dirty_log_need(const struct guest_mem *mem)
{
	const struct guest_region	*rg;
	uint64_t			 last;

	if (mem == NULL || mem->nregions == 0)
		return (0);
	/* Sorted and disjoint: the last region ends highest. */
	rg = mem->regions[mem->nregions - 1];
	last = rg->gpa + (rg->size - 1);
	return (last / DIRTY_LOG_PAGE / 8 + 1);
}

/* SET_LOG_BASE: map and publish a new log.  Main thread. */
int
dirty_log_set_base(struct device *dev, int fd, uint64_t size,
    uint64_t offset, char **cause)
{
	struct dirty_log	*dl, *cur;
	struct dirty_log_map	*map;
	struct stat		 st;
	uint64_t		 need, len;
	void			*p;

	if (fd < 0) {
		xasprintf(cause, "no log fd attached");
		return (-1);
	}
	if (size == 0) {
		xasprintf(cause, "log size is 0");
		goto fail;
	}
	if (offset > UINT64_MAX - size ||
	    offset + size > (uint64_t)SIZE_MAX ||
	    offset + size > (uint64_t)INT64_MAX) {
		xasprintf(cause, "log offset 0x%llx + size 0x%llx overflows",
		    (unsigned long long)offset, (unsigned long long)size);
		goto fail;
	}
	len = offset + size;
	need = dirty_log_need(device_mem(dev));
	if (size < need) {
		xasprintf(cause, "log of %llu bytes is too small for the "
		    "memory map (%llu bytes needed)", (unsigned long long)size,
		    (unsigned long long)need);
		goto fail;
	}
	/* A log the frontend could shrink under us would SIGBUS a worker:
	 * only files that cannot shrink are accepted (QEMU seals its
	 * log memfd). */
	if (!guest_fault_seal(fd)) {
		xasprintf(cause, "the log fd is not a memfd sealed against "
		    "shrinking");
		goto fail;
	}
	if (fstat(fd, &st) == -1) {
		xasprintf(cause, "fstat: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
	    len > (uint64_t)st.st_size) {
		xasprintf(cause, "log offset 0x%llx + size 0x%llx is past the "
		    "end of the file (0x%llx bytes)",
		    (unsigned long long)offset, (unsigned long long)size,
		    (unsigned long long)st.st_size);
		goto fail;
	}
	p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		xasprintf(cause, "mmap of 0x%llx bytes: %s",
		    (unsigned long long)len, strerror(errno));
		goto fail;
	}
	close(fd);

	map = xcalloc(1, sizeof *map);
	map->addr = p;
	map->len = (size_t)len;
	map->refcnt = 1;
	dl = xcalloc(1, sizeof *dl);
	dl->map = map;
	dl->bits = (uint8_t *)p + offset;
	dl->size = size;
	dl->call_fd = -1;
	cur = atomic_load(&dev->log);
	if (cur != NULL && cur->call_fd >= 0)
		dl->call_fd = dup(cur->call_fd);
	log_info("%s: dirty log of %llu bytes", dev->name,
	    (unsigned long long)size);
	dirty_log_publish(dev, dl);
	return (0);

fail:
	close(fd);
	return (-1);
}

/* SET_LOG_FD: a new log struct sharing the mapping, with this fd.  Main
 * thread. */
void
dirty_log_set_fd(struct device *dev, int fd)
{
	struct dirty_log	*dl, *cur;

	cur = atomic_load(&dev->log);
	dl = xcalloc(1, sizeof *dl);
	if (cur != NULL && cur->map != NULL) {
		dl->map = cur->map;
		dl->map->refcnt++;
		dl->bits = cur->bits;
		dl->size = cur->size;
	}
	dl->call_fd = fd;
	dirty_log_publish(dev, dl);
}

/* Drop the log.  Main thread. */
void
dirty_log_clear(struct device *dev)
{
	dirty_log_publish(dev, NULL);
}

/* Is LOG_ALL acked?  Any thread. */
int
dirty_log_active(struct device *dev)
{
	return (dev != NULL && (atomic_load_explicit(&dev->acked_features,
	    memory_order_relaxed) & (1ULL << VHOST_F_LOG_ALL)) != 0);
}

/* Set the bits of [gpa, gpa + len).  A page past the end of the log, or
 * logging on with no log at all, fails the device.  Worker. */
void
dirty_log_write(struct device *dev, uint64_t gpa, uint64_t len)
{
	struct dirty_log	*dl;
	uint64_t		 page, last;

	if (len == 0 || !dirty_log_active(dev))
		return;
	dl = atomic_load_explicit(&dev->log, memory_order_acquire);
	if (dl == NULL || dl->map == NULL) {
		device_fail(dev, "dirty logging is on but no log was given "
		    "(SET_LOG_BASE)");
		return;
	}
	if (len - 1 > UINT64_MAX - gpa)
		len = UINT64_MAX - gpa + 1;
	page = gpa / DIRTY_LOG_PAGE;
	last = (gpa + (len - 1)) / DIRTY_LOG_PAGE;
	if (last / 8 >= dl->size) {
		device_fail(dev, "dirty log of %llu bytes too small for a "
		    "write at guest address 0x%llx", (unsigned long long)
		    dl->size, (unsigned long long)(last * DIRTY_LOG_PAGE));
		return;
	}
	for (; page <= last; page++)
		atomic_fetch_or_explicit((_Atomic uint8_t *)&dl->bits[page / 8],
		    (uint8_t)(1u << (page % 8)), memory_order_relaxed);
}

/* Log a used-ring write at `offset` of the ring.  Worker. */
void
dirty_log_used(struct vring *vq, uint64_t offset, uint64_t len)
{
	if (vq->dev == NULL || !dirty_log_active(vq->dev) ||
	    (vq->addr_flags & (1u << VHOST_VRING_F_LOG)) == 0)
		return;
	dirty_log_write(vq->dev, vq->log_gpa + offset, len);
}

/* Log `len` bytes of a chain's writable part from `offset`.  Worker. */
void
dirty_log_chain(struct vring_chain *c, size_t offset, size_t len)
{
	struct device		*dev = c->vq->dev;
	const struct vring_seg	*s;
	unsigned		 i;
	uint64_t		 n;

	if (dev == NULL || !dirty_log_active(dev))
		return;
	for (i = c->nread; i < c->nsegs && len > 0; i++) {
		s = &c->segs[i];
		if (offset >= s->len) {
			offset -= s->len;
			continue;
		}
		n = s->len - offset;
		if (n > len)
			n = len;
		dirty_log_write(dev, s->gpa + offset, n);
		offset = 0;
		len -= (size_t)n;
	}
}

/* A chain was pushed as used entry `slot`: log its first `len` writable
 * bytes, the used entry and used->idx, then signal the log fd.
 * Worker. */
void
dirty_log_push(struct vring *vq, struct vring_chain *c, uint32_t len,
    unsigned slot)
{
	if (vq->dev == NULL || !dirty_log_active(vq->dev))
		return;
	dirty_log_chain(c, 0, len);
	dirty_log_used(vq, 4 + 8 * (uint64_t)slot, 8);
	dirty_log_used(vq, 2, 2);
	dirty_log_kick(vq->dev);
}

/* A packed-ring chain was pushed into descriptor slot `slot`: log its
 * first `len` writable bytes and the descriptor written back (by its own
 * address: QEMU's log_guest_addr names the device area for packed rings),
 * then signal the log fd.  Worker. */
void
dirty_log_push_packed(struct vring *vq, struct vring_chain *c, uint32_t len,
    unsigned slot)
{
	if (vq->dev == NULL || !dirty_log_active(vq->dev))
		return;
	dirty_log_chain(c, 0, len);
	dirty_log_write(vq->dev, vq->desc_gpa + 16 * (uint64_t)slot, 16);
	dirty_log_kick(vq->dev);
}

/* Signal the SET_LOG_FD eventfd after logging.  Worker. */
void
dirty_log_kick(struct device *dev)
{
	struct dirty_log	*dl;

	if (dev == NULL || !dirty_log_active(dev))
		return;
	dl = atomic_load_explicit(&dev->log, memory_order_acquire);
	if (dl != NULL && dl->call_fd >= 0 &&
	    eventfd_write(dl->call_fd, 1) == -1 && errno != EAGAIN)
		log_warn("%s: log fd", dev->name);
}
