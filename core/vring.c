/*
 * Split virtqueues, the frontend-facing half: the ring state SET_VRING_*
 * sets (SET_VRING_ADDR checks), start and stop on the owning worker, fd
 * swaps on a running ring, pause and resume around memory removal, and
 * taking back the chains a module still holds when its queue stops.  The
 * chain walker and used ring are in vring_chain.c; vring.h has the rules.
 */
#include <sys/types.h>
#include <sys/eventfd.h>

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "device.h"
#include "guest_mem.h"
#include "inflight.h"
#include "log.h"
#include "vhost_user.h"
#include "vring.h"
#include "vring_word.h"
#include "worker.h"
#include "xmalloc.h"

/* Initialise a ring of `dev` to the reset state.  Main thread. */
void
vring_init(struct vring *vq, struct device *dev, unsigned index)
{
	unsigned	 w;

	memset(vq, 0, sizeof *vq);
	vq->dev = dev;
	vq->index = index;
	vq->kick_fd = vq->call_fd = vq->err_fd = -1;
	vq->avail_wrap = vq->used_wrap = 1;
	if (dev != NULL && index < 64) {
		for (w = 0; w < dev->nworkers && w < VHD_MAX_WORKERS; w++) {
			if (dev->info.queue_masks[w] & (1ULL << index)) {
				vq->worker_idx = w;
				break;
			}
		}
	}
}

/* Close one of the ring's fds if set. */
static void
vring_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Back to the reset state: close fds, forget addresses.  Main thread. */
void
vring_reset(struct vring *vq)
{
	if (vq->started) {
		log_warnx("%s: queue %u: reset while started", vring_name(vq),
		    vq->index);
		/* A ring its stuck worker still owns is left alone. */
		if (vring_stop(vq) == -1)
			return;
	}
	vring_close_fd(&vq->kick_fd);
	vring_close_fd(&vq->call_fd);
	vring_close_fd(&vq->err_fd);
	vq->num = 0;
	vq->addr_set = 0;
	vq->addr_flags = 0;
	vq->desc_gpa = vq->avail_gpa = vq->used_gpa = vq->log_gpa = 0;
	vq->enabled = 0;
	vq->event_idx = 0;
	vq->indirect = 0;
	vq->last_avail_idx = 0;
	vq->used_idx = 0;
	vq->used_idx_load = 0;
	vq->packed = 0;
	vq->avail_wrap = vq->used_wrap = 1;
	vq->pop_seq = 0;
	vq->mem_gen = 0;
	vq->desc = vq->avail = vq->used = NULL;
	vq->signalled_used = 0;
	vq->signalled_used_valid = 0;
	vq->paused = 0;
	vring_pool_reset(vq);
}

/* Free everything the ring holds (nothing while a stuck worker still
 * owns it).  Main thread. */
void
vring_free(struct vring *vq)
{
	vring_reset(vq);
	if (!vq->started)
		vring_pool_free(vq);
}

/* The worker that runs the ring, or NULL. */
static struct worker *
vring_worker(const struct vring *vq)
{
	struct device	*dev = vq->dev;

	if (dev == NULL || vq->worker_idx >= dev->nworkers ||
	    dev->workers == NULL)
		return (NULL);
	return (dev->workers[vq->worker_idx]);
}

/* Set the ring addresses (guest-physical), after checking them against
 * `mem`.  -1 with *cause.  Main thread, ring stopped. */
int
vring_set_addr(struct vring *vq, const struct guest_mem *mem,
    uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa, uint32_t flags,
    char **cause)
{
	struct vring	 tmp;
	void		*desc, *avail, *used;
	const char	*err;

	if (vq->started) {
		xasprintf(cause, "addresses set while running");
		return (-1);
	}
	if (vq->num == 0) {
		xasprintf(cause, "addresses set before the size");
		return (-1);
	}
	if ((desc_gpa & 15) != 0 || (avail_gpa & 1) != 0 ||
	    (used_gpa & 3) != 0) {
		xasprintf(cause, "misaligned ring address (desc 0x%llx, "
		    "avail 0x%llx, used 0x%llx)", (unsigned long long)desc_gpa,
		    (unsigned long long)avail_gpa,
		    (unsigned long long)used_gpa);
		return (-1);
	}
	tmp = *vq;
	tmp.desc_gpa = desc_gpa;
	tmp.avail_gpa = avail_gpa;
	tmp.used_gpa = used_gpa;
	if (vring_ring_ptrs(&tmp, mem, &desc, &avail, &used, &err) == -1) {
		xasprintf(cause, "%s (desc 0x%llx, avail 0x%llx, used 0x%llx, "
		    "size %u)", err,
		    (unsigned long long)desc_gpa,
		    (unsigned long long)avail_gpa,
		    (unsigned long long)used_gpa, vq->num);
		return (-1);
	}
	vq->desc_gpa = desc_gpa;
	vq->avail_gpa = avail_gpa;
	vq->used_gpa = used_gpa;
	vq->addr_flags = flags;
	vq->addr_set = 1;
	/* Resume where the guest's used ring is (the seed's next_used),
	 * read by the worker when it maps the ring (vring_map); a packed
	 * ring's used index came with SET_VRING_BASE. */
	vq->used_idx_load = !vq->packed;
	vq->signalled_used_valid = 0;
	vq->desc = vq->avail = vq->used = NULL;
	vq->mem_gen = 0;
	return (0);
}

/* True when the ring may run.  Main thread. */
int
vring_can_start(const struct vring *vq)
{
	if (vq->num == 0 || !vq->addr_set || vq->kick_fd < 0 || !vq->enabled)
		return (0);
	/* Only a packed ring may have a size that is not a power of two
	 * (the features may have changed after SET_VRING_NUM). */
	if (!vq->packed && (vq->num & (vq->num - 1)) != 0)
		return (0);
	if (vq->dev != NULL && atomic_load(&vq->dev->broken))
		return (0);
	if (vring_worker(vq) != NULL && worker_stuck(vring_worker(vq)))
		return (0);
	return (1);
}

/* Start or stop the ring on its worker to match vring_can_start().  Main
 * thread; waits for the worker. */
void
vring_update(struct vring *vq)
{
	struct device	*dev = vq->dev;
	void		*desc, *avail, *used;
	const char	*err;

	if (!vring_can_start(vq)) {
		(void)vring_stop(vq);
		return;
	}
	if (vq->started)
		return;
	if (vring_worker(vq) == NULL) {
		log_warnx("%s: queue %u: no worker %u to run on",
		    vring_name(vq), vq->index, vq->worker_idx);
		return;
	}
	if (vring_ring_ptrs(vq, device_mem(dev), &desc, &avail, &used,
	    &err) == -1) {
		log_warnx("%s: queue %u: not starting: %s", vring_name(vq),
		    vq->index, err);
		return;
	}
	/* Started even when the worker does not answer: from now on the
	 * ring is the worker's, whether it ran the command yet or not. */
	vq->started = 1;
	if (worker_post(vring_worker(vq), WCMD_QUEUE_START, vq, NULL, NULL,
	    1) == -1)
		device_fail(dev, "queue %u: worker %s did not answer in %d s",
		    vq->index, worker_name(vring_worker(vq)),
		    WORKER_WAIT_MS / 1000);
}

/* Stop the ring if started; waits (bounded) for its worker.  0, or -1
 * when the worker did not answer (the ring stays its own, the device
 * broken).  Main thread. */
int
vring_stop(struct vring *vq)
{
	struct worker	*w = vring_worker(vq);

	if (!vq->started)
		return (0);
	if (w != NULL) {
		if (worker_post(w, WCMD_QUEUE_STOP, vq, NULL, NULL, 1) == -1) {
			/* A cancelled stop leaves the ring running on the
			 * worker (if it ever comes back) and ours to keep
			 * our hands off. */
			device_fail(vq->dev, "queue %u: worker %s did not "
			    "answer in %d s", vq->index, worker_name(w),
			    WORKER_WAIT_MS / 1000);
			return (-1);
		}
	}
	vq->started = 0;
	return (0);
}

/*
 * Turns.  A module's handler pops at most the ring's size in chains per
 * turn; a queue that still has chains after that gets its next turn from
 * a zero-delay timer, which libevent runs after the events already ready
 * on the worker (the kicks of the other queues it serves).  Without the
 * limit, a guest that refills its ring as fast as the worker serves it
 * keeps the worker for itself, since every pop reads avail->idx afresh:
 * each other device on a pool worker, and the device's other queues on
 * its own worker, would wait for as long as that guest likes.
 */

/* A turn begins: the module may pop up to the ring's size.  Worker. */
static void
vring_turn_begin(struct vring *vq)
{
	vq->turn_left = vq->num;
}

/* Has the module popped the ring's size in this turn (vring.h)?
 * Worker. */
int
vring_turn_spent(struct vring *vq)
{
	static const struct timeval	 now = { 0, 0 };

	if (vq->turn_left > 0)
		return (0);
	if (vq->turn_ev != NULL && !evtimer_pending(vq->turn_ev, NULL) &&
	    evtimer_add(vq->turn_ev, &now) == -1)
		vring_fail(vq, "cannot arm the timer of its next turn");
	return (1);
}

/* Run the module's queue handler for a new turn unless the device is
 * broken.  Worker. */
static void
vring_run_handler(struct vring *vq)
{
	struct device	*dev = vq->dev;

	if (dev == NULL || !vq->running || atomic_load(&dev->broken))
		return;
	vring_turn_begin(vq);
	if (dev->ops != NULL && dev->ops->queue_handler != NULL)
		dev->ops->queue_handler(device_to_vhd(dev),
		    (struct vhd_queue *)(void *)vq);
}

/* The kick eventfd fired: drain it and run the queue handler.  Worker. */
static void
vring_kick_cb(int fd, short events, void *arg)
{
	struct vring	*vq = arg;
	uint64_t	 v;

	(void)events;
	/* EV_READ said readable, so this read does not block even on a
	 * blocking eventfd; a spurious wakeup just reads EAGAIN. */
	if (read(fd, &v, sizeof v) == -1 && errno != EAGAIN &&
	    errno != EINTR)
		log_debug("%s: %s: queue %u: kick fd: %s", __func__,
		    vring_name(vq), vq->index, strerror(errno));
	STATS_ADD(vq->stats.kicks, 1);
	/* The ring's next turn is arranged already: it serves this kick
	 * too, after the other ready queues. */
	if (vq->turn_ev != NULL && evtimer_pending(vq->turn_ev, NULL))
		return;
	vring_run_handler(vq);
}

/* The ring's next turn (its last one ended with chains left).  Worker. */
static void
vring_turn_cb(int fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	vring_run_handler(arg);
}

/* Worker side of start: map the rings, watch the kick fd, tell the module
 * and run its handler once.  Worker (WCMD_QUEUE_START). */
void
vring_worker_start(struct vring *vq)
{
	struct device	*dev = vq->dev;
	struct worker	*w = worker_self();
	const char	*err;

	if (dev == NULL || w == NULL) {
		log_warnx("%s: queue %u: started outside a worker",
		    vring_name(vq), vq->index);
		return;
	}
	vq->desc = vq->avail = vq->used = NULL;
	vq->mem_gen = 0;
	vq->signalled_used_valid = 0;
	vq->paused = 0;
	vring_pool_prepare(vq);
	if (vring_map(vq, device_mem(dev), &err) == -1) {
		vring_fail(vq, err);
		return;
	}
	/* A previous back-end may have left VRING_USED_F_NO_NOTIFY set; we
	 * always want kicks. */
	vring_used_flags_clear(vq);
	/* Inflight recovery: the next avail index and the chains to serve
	 * again (inflight.h). */
	if (vq->iq != NULL && inflight_queue_start(vq, &err) == -1) {
		vring_fail(vq, err);
		return;
	}
	vq->start_used_idx = vq->used_idx;
	vq->pushed = 0;
	if ((vq->turn_ev = evtimer_new(worker_base(w), vring_turn_cb,
	    vq)) == NULL) {
		vring_fail(vq, "cannot create the timer of its turns");
		return;
	}
	vring_turn_begin(vq);
	vq->kick_ev = event_new(worker_base(w), vq->kick_fd,
	    EV_READ | EV_PERSIST, vring_kick_cb, vq);
	if (vq->kick_ev == NULL || event_add(vq->kick_ev, NULL) == -1) {
		if (vq->kick_ev != NULL)
			event_free(vq->kick_ev);
		vq->kick_ev = NULL;
		event_free(vq->turn_ev);
		vq->turn_ev = NULL;
		vring_fail(vq, "cannot watch the kick fd");
		return;
	}
	vq->running = 1;
	log_info("%s: queue %u started on worker %u", vring_name(vq),
	    vq->index, vq->worker_idx);
	if (dev->ops != NULL && dev->ops->queue_start != NULL)
		dev->ops->queue_start(device_to_vhd(dev),
		    (struct vhd_queue *)(void *)vq);
	/* Buffers made available before the kick fd was watched raised no
	 * event we will see: look once now (rust-vmm/vhost#247). */
	vring_run_handler(vq);
}

/*
 * Take back the chains the module still holds after its queue_stop, so the
 * index GET_VRING_BASE reports is exact (vring.h).  Deferred pushes are
 * done first.  Of the held chains, those that are the most recently popped
 * (distances 1..k behind last_avail_idx) are rewound; any other one is
 * pushed with length 0, oldest first, with a warning: the module broke
 * the queue_stop contract, and rewinding over it would serve the chains
 * popped after it twice.  Worker.
 */
static void
vring_reclaim(struct vring *vq)
{
	const struct guest_mem	*mem = NULL;
	struct vring_chain	**at;
	const char		*err;
	unsigned		 i, k, n, pushed = 0;
	uint16_t		 d;

	if (vq->dev != NULL)
		mem = device_mem(vq->dev);
	if (vq->ndeferred > 0 && vring_push_deferred(vq, mem) == -1)
		log_warnx("%s: queue %u: %u completed chains cannot be "
		    "returned: the used ring is in removed memory",
		    vring_name(vq), vq->index, vq->ndeferred);
	if (vq->inflight == 0 || vq->pool_size == 0) {
		vring_pool_reset(vq);
		return;
	}
	/* at[d] is the held chain popped d entries before last_avail_idx. */
	at = xcalloc((size_t)vq->pool_size + 1, sizeof *at);
	for (i = 0; i < vq->pool_size; i++) {
		/* A resubmitted chain stays marked in the inflight region
		 * and is resubmitted again at the next start. */
		if (!vq->pool[i].in_use || vq->pool[i].deferred ||
		    vq->pool[i].resubmitted)
			continue;
		d = (uint16_t)(vring_pop_seq(vq) - vq->pool[i].avail_pos);
		if (d >= 1 && d <= vq->pool_size)
			at[d] = &vq->pool[i];
	}
	for (k = 0; k < vq->pool_size && at[k + 1] != NULL; k++)
		;
	if (k > 0)
		log_debug("%s: %s: queue %u: rewinding %u unfinished chains",
		    __func__, vring_name(vq), vq->index, k);
	n = 0;
	for (i = vq->pool_size; i > k; i--) {
		if (at[i] == NULL)
			continue;
		if (vring_map(vq, mem, &err) == -1) {
			n++;
			continue;
		}
		vring_push(vq, mem, at[i], 0);
		pushed++;
	}
	if (pushed > 0) {
		log_warnx("%s: queue %u: the module held %u chains after "
		    "queue_stop that were not the last popped; completed "
		    "them with length 0", vring_name(vq), vq->index, pushed);
		vring_notify(vq, mem);
	}
	if (n > 0)
		log_warnx("%s: queue %u: %u held chains cannot be returned: "
		    "the used ring is not in guest memory", vring_name(vq),
		    vq->index, n);
	for (i = 1; vq->iq != NULL && i <= k; i++)
		inflight_unmark(vq, at[i]);
	if (vq->packed && k > 0)
		vring_packed_unpop(vq, at[k]);
	else
		vq->last_avail_idx = (uint16_t)(vq->last_avail_idx - k);
	free(at);
	vring_pool_reset(vq);
}

/* Worker side of stop: tell the module, stop watching the kick fd, take
 * back held chains.  Worker (WCMD_QUEUE_STOP). */
void
vring_worker_stop(struct vring *vq)
{
	struct device	*dev = vq->dev;
	int		 was_running = vq->running;

	if (was_running && dev != NULL && dev->ops != NULL &&
	    dev->ops->queue_stop != NULL)
		dev->ops->queue_stop(device_to_vhd(dev),
		    (struct vhd_queue *)(void *)vq);
	vq->running = 0;
	if (vq->kick_ev != NULL) {
		event_free(vq->kick_ev);
		vq->kick_ev = NULL;
	}
	if (vq->turn_ev != NULL) {
		event_free(vq->turn_ev);
		vq->turn_ev = NULL;
	}
	vring_reclaim(vq);
	vq->desc = vq->avail = vq->used = NULL;
	vq->mem_gen = 0;
	vq->paused = 0;
	if (was_running)
		log_info("%s: queue %u stopped", vring_name(vq), vq->index);
}

/* An fd handed to the ring's worker (vring_set_fd on a started ring). */
struct vring_swap {
	struct vring	*vq;
	enum vring_fd	 which;
	int		 fd;		/* the new one */
	int		 old_fd;	/* kick: the one to stop watching */
};

/*
 * Swap the call or kick fd of a started ring on its worker, without
 * stopping the queue.  Call: the new fd is signalled once when anything
 * was pushed since the start, since the guest may have been interrupted
 * through the old one too late to see it.  Kick: the old fd is unwatched
 * and closed, the new one watched, and the handler runs once for a kick
 * that went to the old fd.  Worker (WCMD_CALL).
 */
static void
vring_swap_cb(void *arg)
{
	struct vring_swap	*sw = arg;
	struct vring		*vq = sw->vq;
	struct worker		*w = worker_self();

	switch (sw->which) {
	case VRING_FD_CALL:
		if (vq->call_fd >= 0)
			close(vq->call_fd);
		vq->call_fd = sw->fd;
		if (vq->running && vq->call_fd >= 0 &&
		    (vq->packed ? vq->pushed :
		    vq->used_idx != vq->start_used_idx) &&
		    eventfd_write(vq->call_fd, 1) == -1 && errno != EAGAIN)
			log_warn("%s: queue %u: call fd", vring_name(vq),
			    vq->index);
		break;
	case VRING_FD_KICK:
		if (vq->kick_ev != NULL) {
			event_free(vq->kick_ev);
			vq->kick_ev = NULL;
		}
		if (sw->old_fd >= 0)
			close(sw->old_fd);
		if (!vq->running || w == NULL)
			break;
		vq->kick_ev = event_new(worker_base(w), sw->fd,
		    EV_READ | EV_PERSIST, vring_kick_cb, vq);
		if (vq->kick_ev == NULL || event_add(vq->kick_ev, NULL) == -1) {
			if (vq->kick_ev != NULL)
				event_free(vq->kick_ev);
			vq->kick_ev = NULL;
			vring_fail(vq, "cannot watch the kick fd");
			break;
		}
		vring_run_handler(vq);
		break;
	case VRING_FD_ERR:
		break;
	}
	free(sw);
}

/* Replace the err fd under the device's err lock (device_fail may be
 * writing it on any thread). */
static void
vring_set_err_fd(struct vring *vq, int fd)
{
	struct device	*dev = vq->dev;

	if (dev != NULL)
		pthread_mutex_lock(&dev->err_lock);
	vring_close_fd(&vq->err_fd);
	vq->err_fd = fd;
	if (dev != NULL)
		pthread_mutex_unlock(&dev->err_lock);
}

/* Set a kick, call or err fd, swapping it on the worker when the ring is
 * started (vring.h).  Main thread. */
void
vring_set_fd(struct vring *vq, enum vring_fd which, int fd)
{
	struct vring_swap	*sw;
	struct worker		*w = vring_worker(vq);

	if (which == VRING_FD_ERR) {
		vring_set_err_fd(vq, fd);
		return;
	}
	/* No kick fd: the ring cannot run (polling is not supported). */
	if (!vq->started || w == NULL || (which == VRING_FD_KICK &&
	    fd == -1)) {
		if (vring_stop(vq) == -1) {
			if (fd >= 0)
				close(fd);
			return;
		}
		if (which == VRING_FD_KICK) {
			vring_close_fd(&vq->kick_fd);
			vq->kick_fd = fd;
		} else {
			vring_close_fd(&vq->call_fd);
			vq->call_fd = fd;
		}
		vring_update(vq);
		return;
	}
	sw = xcalloc(1, sizeof *sw);
	sw->vq = vq;
	sw->which = which;
	sw->fd = fd;
	sw->old_fd = -1;
	if (which == VRING_FD_KICK) {
		/* kick_fd is the main thread's; the worker only needs the
		 * old one to unwatch and close. */
		sw->old_fd = vq->kick_fd;
		vq->kick_fd = fd;
	}
	/* Not waited for: commands run in order, so a later stop or swap
	 * sees this one done. */
	(void)worker_post(w, WCMD_CALL, NULL, vring_swap_cb, sw, 0);
}

/* The next memory update came: resume a paused queue, do deferred
 * pushes, and look at the ring once.  Worker (WCMD_CALL). */
static void
vring_resume_cb(void *arg)
{
	struct vring		*vq = arg;
	struct device		*dev = vq->dev;
	const struct guest_mem	*mem;
	const char		*err;

	if (!vq->running || dev == NULL || (!vq->paused &&
	    vq->ndeferred == 0))
		return;
	mem = device_mem(dev);
	if (vring_map(vq, mem, &err) == -1) {
		/* Still removed: a later update tries again.  Memory that
		 * is neither mapped nor removed breaks the device. */
		if (!vring_rings_removed(vq))
			vring_fail(vq, err);
		return;
	}
	(void)vring_push_deferred(vq, mem);
	vq->paused = 0;
	log_info("%s: queue %u resumed", vring_name(vq), vq->index);
	vring_notify(vq, mem);
	vring_run_handler(vq);
}

/* After a memory update: post a resume to the ring's worker if started.
 * Main thread. */
void
vring_resume(struct vring *vq)
{
	struct worker	*w = vring_worker(vq);

	if (!vq->started || w == NULL || worker_stuck(w))
		return;
	(void)worker_post(w, WCMD_CALL, NULL, vring_resume_cb, vq, 0);
}
