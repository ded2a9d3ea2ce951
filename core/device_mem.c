/*
 * A device's guest memory: publishing a new table (the old one is freed
 * only once no worker can hold it), the ranges REM_MEM_REG removed since
 * memory was last added (a queue meeting one pauses, vring.h), and
 * restarting or resuming rings after a change.
 */

#include <sys/types.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "device.h"
#include "guest_mem.h"
#include "log.h"
#include "vring.h"
#include "worker.h"
#include "xmalloc.h"

/* Tables a stuck worker may still use: never freed, kept reachable here
 * (main thread). */
struct device_mem_kept {
	struct guest_mem	*mem;
	struct device_mem_kept	*next;
};
static struct device_mem_kept	*device_mem_kept_list;

/* The current memory table (acquire load).  Any thread. */
struct guest_mem *
device_mem(struct device *dev)
{
	return (atomic_load_explicit(&dev->mem, memory_order_acquire));
}

/* Run the module's queue_quiesce for a started ring.  Worker. */
static void
device_quiesce_cb(void *arg)
{
	struct vring	*vq = arg;
	struct device	*dev = vq->dev;

	if (vq->running && dev->ops->queue_quiesce != NULL)
		dev->ops->queue_quiesce(device_to_vhd(dev),
		    (struct vhd_queue *)(void *)vq);
}

/*
 * Publish a new memory table.  The release half of the exchange orders
 * the table's contents before its pointer; once every worker has passed a
 * quiescent point none can still hold the old pointer, so it is freed.  A
 * worker that does not answer may still hold it: the old table is then
 * leaked, never unmapped under it.  The module's mem_update runs after,
 * with queues still running.  Main thread.
 */
void
device_set_mem(struct device *dev, struct guest_mem *mem)
{
	struct guest_mem	*old;
	struct device_mem_kept	*kept;
	struct vring		*vq;
	unsigned		 i;
	int			 synced = 1;

	/* sigbus: a SIGBUS in these regions fails this device. */
	guest_mem_set_owner(mem, dev);
	old = atomic_exchange_explicit(&dev->mem, mem, memory_order_acq_rel);
	if (old == mem)
		return;
	/* I/O a module handed to the kernel may still point into the old
	 * mappings (blk): it is finished before they can go. */
	if (old != NULL && dev->ops->queue_quiesce != NULL &&
	    dev->vrings != NULL) {
		for (i = 0; i < dev->info.num_queues; i++) {
			vq = &dev->vrings[i];
			if (vq->started && vq->worker_idx < dev->nworkers &&
			    dev->workers[vq->worker_idx] != NULL &&
			    worker_post(dev->workers[vq->worker_idx], WCMD_CALL,
			    NULL, device_quiesce_cb, vq, 1) == -1)
				synced = 0;
		}
	}
	for (i = 0; i < dev->nworkers; i++) {
		if (dev->workers[i] != NULL &&
		    worker_sync(dev->workers[i]) == -1) {
			device_fail(dev, "worker %s did not answer in %d s",
			    worker_name(dev->workers[i]),
			    WORKER_WAIT_MS / 1000);
			synced = 0;
		}
	}
	if (old != NULL) {
		if (synced)
			guest_mem_free(old);
		else {
			log_warnx("%s: keeping the old memory table mapped: a "
			    "worker may still use it", dev->name);
			kept = xmalloc(sizeof *kept);
			kept->mem = old;
			kept->next = device_mem_kept_list;
			device_mem_kept_list = kept;
		}
	}
	if (dev->ops->mem_update != NULL)
		dev->ops->mem_update(device_to_vhd(dev));
}

/* Remember a range REM_MEM_REG removed; past DEVICE_MAX_HOLES the oldest
 * is forgotten.  Main thread. */
void
device_mem_hole_add(struct device *dev, uint64_t gpa, uint64_t size)
{
	pthread_mutex_lock(&dev->holes_lock);
	if (dev->nholes == DEVICE_MAX_HOLES) {
		memmove(&dev->holes[0], &dev->holes[1],
		    (DEVICE_MAX_HOLES - 1) * sizeof dev->holes[0]);
		dev->nholes--;
	}
	dev->holes[dev->nholes].gpa = gpa;
	dev->holes[dev->nholes].size = size;
	dev->nholes++;
	pthread_mutex_unlock(&dev->holes_lock);
}

/* Memory was added: forget the removed ranges.  Main thread. */
void
device_mem_holes_clear(struct device *dev)
{
	pthread_mutex_lock(&dev->holes_lock);
	dev->nholes = 0;
	pthread_mutex_unlock(&dev->holes_lock);
}

/* Does [gpa, gpa+len) touch a removed range?  Only asked on the failure
 * path of a translation, so the lock costs nothing in the data path.
 * Any thread. */
int
device_mem_removed(struct device *dev, uint64_t gpa, uint64_t len)
{
	uint64_t	 last, hlast;
	unsigned	 i;
	int		 hit = 0;

	if (len == 0)
		len = 1;
	last = gpa + (len - 1);
	if (last < gpa)
		last = UINT64_MAX;
	pthread_mutex_lock(&dev->holes_lock);
	for (i = 0; i < dev->nholes && !hit; i++) {
		if (dev->holes[i].size == 0)
			continue;
		hlast = dev->holes[i].gpa + (dev->holes[i].size - 1);
		if (hlast < dev->holes[i].gpa)
			hlast = UINT64_MAX;
		if (gpa <= hlast && dev->holes[i].gpa <= last)
			hit = 1;
	}
	pthread_mutex_unlock(&dev->holes_lock);
	return (hit);
}

/* After a memory update: start rings that can start now, resume paused
 * ones.  Main thread. */
void
device_mem_refresh(struct device *dev)
{
	unsigned	 i;

	if (dev->vrings == NULL)
		return;
	for (i = 0; i < dev->info.num_queues; i++) {
		vring_update(&dev->vrings[i]);
		vring_resume(&dev->vrings[i]);
	}
}
