/*
 * Inflight I/O tracking for split rings: GET/SET_INFLIGHT_FD, the marks
 * on pop and push, and recovery with resubmission when a queue starts.
 * inflight.h has the layout, the protocol and the rules.
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "guest_fault.h"
#include "inflight.h"
#include "log.h"
#include "vring.h"
#include "xmalloc.h"

/* Offsets in a queue header and in an entry. */
#define INFLIGHT_H_VERSION	8
#define INFLIGHT_H_DESC_NUM	10
#define INFLIGHT_H_BATCH_HEAD	12
#define INFLIGHT_H_USED_IDX	14
#define INFLIGHT_D_INFLIGHT	0
#define INFLIGHT_D_NEXT		6
#define INFLIGHT_D_COUNTER	8

/* The device's region: the mapping and the per-queue state. */
struct inflight_region {
	void			*map;
	size_t			 map_len;
	struct guest_fault_slot	*slot;
	uint16_t		 nqueues;
	uint16_t		 qsize;
	struct inflight_queue	*q;		/* nqueues */
};

/*
 * The region is written by us and read back by a later instance of us,
 * perhaps after a SIGKILL at any instruction.  Stores go to the shared
 * page in program order as far as the compiler is concerned (relaxed
 * atomics plus the signal fences below); no other thread reads them while
 * we run, and a killed process's stores are all in the page, so no
 * hardware ordering is needed beyond that.  The accessors are in
 * inflight.h.
 */

/* The entry of descriptor `i` of a queue. */
static uint8_t *
inflight_desc(const struct inflight_queue *iq, uint16_t i)
{
	return (iq->base + INFLIGHT_HDR_SIZE + (size_t)i * INFLIGHT_DESC_SIZE);
}

/* Do the acked features make the rings packed (the region's layout)? */
static int
inflight_layout_packed(struct device *dev)
{
	return ((atomic_load(&dev->acked_features) &
	    (1ULL << VHD_F_RING_PACKED)) != 0);
}

/* Check the queue count and size of a GET/SET_INFLIGHT_FD request and
 * compute the region size for the layout.  0 or -1 with *cause. */
static int
inflight_check_geometry(struct device *dev, const struct inflight_msg *m,
    int packed, uint64_t *size, char **cause)
{
	if (m->num_queues < 1 || m->num_queues > dev->info.num_queues) {
		xasprintf(cause, "%u queues (the device has 1..%u)",
		    m->num_queues, dev->info.num_queues);
		return (-1);
	}
	if (m->queue_size < 1 || m->queue_size > dev->info.max_queue_size) {
		xasprintf(cause, "queue size %u (the device allows 1..%u)",
		    m->queue_size, dev->info.max_queue_size);
		return (-1);
	}
	if (packed)
		*size = INFLIGHT_PK_QUEUE_SIZE(m->queue_size) * m->num_queues;
	else
		*size = INFLIGHT_QUEUE_SIZE(m->queue_size) * m->num_queues;
	return (0);
}

/* GET_INFLIGHT_FD: a new region; see inflight.h.  Main thread. */
int
inflight_get_fd(struct device *dev, const struct inflight_msg *req,
    struct inflight_msg *reply, char **cause)
{
	uint64_t	 size, per;
	uint8_t		*map, *h;
	unsigned	 q;
	int		 fd, packed = inflight_layout_packed(dev);

	if (inflight_check_geometry(dev, req, packed, &size, cause) == -1)
		return (-1);
	per = packed ? INFLIGHT_PK_QUEUE_SIZE(req->queue_size) :
	    INFLIGHT_QUEUE_SIZE(req->queue_size);
	fd = memfd_create("vhostd-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd == -1) {
		xasprintf(cause, "memfd_create: %s", strerror(errno));
		return (-1);
	}
	if (ftruncate(fd, (off_t)size) == -1) {
		xasprintf(cause, "ftruncate: %s", strerror(errno));
		goto fail;
	}
	map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	if (map == MAP_FAILED) {
		xasprintf(cause, "mmap: %s", strerror(errno));
		goto fail;
	}
	/* Version 0: each queue's header is written at its first start,
	 * with the ring's indices then (not 0: the queue may have run
	 * before this request, and after a migration the destination's
	 * first start finds the source's used index; inflight_packed.c
	 * for packed rings). */
	for (q = 0; q < req->num_queues; q++) {
		h = map + q * per;
		inflight_store16(h + INFLIGHT_H_DESC_NUM, req->queue_size);
	}
	munmap(map, (size_t)size);
	/* A file that cannot change size: nobody can make our mapping of
	 * it fault (SIGBUS) later. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == -1)
		log_warn("%s: GET_INFLIGHT_FD: cannot seal the region",
		    dev->name);
	memset(reply, 0, sizeof *reply);
	reply->mmap_size = size;
	reply->mmap_offset = 0;
	reply->num_queues = req->num_queues;
	reply->queue_size = req->queue_size;
	log_debug("%s: %s: %u %s queues of %u, %llu bytes", __func__,
	    dev->name, req->num_queues, packed ? "packed" : "split",
	    req->queue_size, (unsigned long long)size);
	return (fd);

fail:
	close(fd);
	return (-1);
}

/* Unmap a region and free it.  Main thread, its rings stopped. */
static void
inflight_region_free(struct inflight_region *rg)
{
	unsigned	 i;

	if (rg == NULL)
		return;
	if (rg->slot != NULL)
		guest_fault_unregister(rg->slot);
	if (rg->map != NULL)
		munmap(rg->map, rg->map_len);
	for (i = 0; i < rg->nqueues; i++) {
		free(rg->q[i].resubmit);
		free(rg->q[i].pk_next);
		free(rg->q[i].pk_last);
	}
	free(rg->q);
	free(rg);
}

/* Drop the device's region.  Main thread, rings stopped. */
void
inflight_free(struct device *dev)
{
	unsigned	 i;

	if (dev->inflight == NULL)
		return;
	/* A ring a stuck worker still owns may write the region at any
	 * time: leave it mapped (leaked) then. */
	for (i = 0; dev->vrings != NULL && i < dev->info.num_queues; i++) {
		if (dev->vrings[i].started) {
			log_warnx("%s: queue %u: its worker does not answer; "
			    "inflight region left mapped", dev->name, i);
			dev->inflight = NULL;
			return;
		}
	}
	for (i = 0; dev->vrings != NULL && i < dev->info.num_queues; i++)
		dev->vrings[i].iq = NULL;
	inflight_region_free(dev->inflight);
	dev->inflight = NULL;
}

/* SET_INFLIGHT_FD: map the frontend's region; see inflight.h.  Main
 * thread. */
int
inflight_set_fd(struct device *dev, const struct inflight_msg *req, int fd,
    char **cause)
{
	struct inflight_region	*rg;
	struct stat		 st;
	uint64_t		 size;
	long			 page = sysconf(_SC_PAGESIZE);
	void			*map;
	unsigned		 i;
	int			 packed = inflight_layout_packed(dev);

	if (inflight_check_geometry(dev, req, packed, &size, cause) == -1)
		return (-1);
	if (req->mmap_size != size) {
		xasprintf(cause, "region of %llu bytes, expected %llu for %u "
		    "%s queues of %u", (unsigned long long)req->mmap_size,
		    (unsigned long long)size, req->num_queues,
		    packed ? "packed" : "split", req->queue_size);
		return (-1);
	}
	if (page <= 0)
		page = 4096;
	if (req->mmap_offset % (uint64_t)page != 0 ||
	    req->mmap_offset > (uint64_t)INT64_MAX - size) {
		xasprintf(cause, "bad mmap offset %llu",
		    (unsigned long long)req->mmap_offset);
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		xasprintf(cause, "fstat: %s", strerror(errno));
		return (-1);
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(cause, "the fd is not a regular file (a memfd)");
		return (-1);
	}
	/* Sealed now, the size checked next cannot shrink under us. */
	(void)guest_fault_seal(fd);
	if (fstat(fd, &st) == -1 || (uint64_t)st.st_size <
	    req->mmap_offset + size) {
		xasprintf(cause, "the file has %lld bytes, the region needs "
		    "%llu at offset %llu", (long long)st.st_size,
		    (unsigned long long)size,
		    (unsigned long long)req->mmap_offset);
		return (-1);
	}
	/* Only the region, not the file before it (the offset is
	 * page-aligned). */
	map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, (off_t)req->mmap_offset);
	if (map == MAP_FAILED) {
		xasprintf(cause, "mmap: %s", strerror(errno));
		return (-1);
	}
	/* The rings pick up a new region only while stopped. */
	for (i = 0; i < dev->info.num_queues; i++) {
		if (vring_stop(&dev->vrings[i]) == -1) {
			munmap(map, (size_t)size);
			xasprintf(cause, "queue %u: its worker does not "
			    "answer", i);
			return (-1);
		}
	}
	close(fd);

	rg = xcalloc(1, sizeof *rg);
	rg->map = map;
	rg->map_len = (size_t)size;
	rg->nqueues = req->num_queues;
	rg->qsize = req->queue_size;
	rg->slot = guest_fault_register(map, rg->map_len, NULL, 0, 0);
	guest_fault_set_owner(rg->slot, dev);
	rg->q = xcalloc(rg->nqueues, sizeof *rg->q);
	for (i = 0; i < rg->nqueues; i++) {
		rg->q[i].base = (uint8_t *)map + i * (size / rg->nqueues);
		rg->q[i].size = rg->qsize;
		rg->q[i].resubmit = xcalloc(rg->qsize,
		    sizeof *rg->q[i].resubmit);
		rg->q[i].packed = packed;
		if (packed) {
			rg->q[i].pk_next = xcalloc(rg->qsize,
			    sizeof *rg->q[i].pk_next);
			rg->q[i].pk_last = xcalloc(rg->qsize,
			    sizeof *rg->q[i].pk_last);
		}
	}
	inflight_free(dev);
	dev->inflight = rg;
	for (i = 0; i < dev->info.num_queues; i++) {
		dev->vrings[i].iq = i < rg->nqueues ? &rg->q[i] : NULL;
		vring_update(&dev->vrings[i]);
	}
	log_info("%s: inflight region of %u %s queues of %u descriptors",
	    dev->name, rg->nqueues, packed ? "packed" : "split", rg->qsize);
	return (0);
}

/* Order resubmitted entries by counter (then head: equal counters from
 * a hostile region still give one order). */
static int
inflight_counter_cmp(const void *a, const void *b)
{
	const struct inflight_entry	*ea = a, *eb = b;

	if (ea->counter != eb->counter)
		return (ea->counter < eb->counter ? -1 : 1);
	return ((int)ea->head - (int)eb->head);
}

/* The guest's avail->idx and used->idx of a mapped ring. */
static uint16_t
inflight_ring_idx(const void *ring)
{
	return (inflight_load16((const uint8_t *)ring + 2));
}

/*
 * Queue start: recovery (inflight.h).  The region is read field by field
 * into locals and checked before anything is changed, so a bad region
 * changes nothing.  0, or -1 with *err.  Worker, ring mapped.
 */
int
inflight_queue_start(struct vring *vq, const char **err)
{
	struct inflight_queue	*iq = vq->iq;
	uint16_t		 version, desc_num, batch, hused, used, avail;
	struct inflight_entry	*list;
	uint16_t		 diff, i, h, n;
	uint64_t		 c, max = 0;
	uint8_t			 fl;
	unsigned		 k;

	if (iq == NULL)
		return (0);
	iq->nresubmit = iq->next = 0;
	/* The layout was fixed by the features at SET_INFLIGHT_FD. */
	if (vq->packed != iq->packed) {
		*err = vq->packed ? "inflight region has the split layout, "
		    "the queue is packed" : "inflight region has the packed "
		    "layout, the queue is split";
		return (-1);
	}
	if (vq->packed)
		return (inflight_packed_start(vq, err));
	version = inflight_load16(iq->base + INFLIGHT_H_VERSION);
	desc_num = inflight_load16(iq->base + INFLIGHT_H_DESC_NUM);
	if (version == 0) {
		/* Fresh (a region we did not initialise): nothing to
		 * recover, whatever the entries say. */
		if (vq->num > iq->size) {
			*err = "inflight region: queue larger than the region";
			return (-1);
		}
		for (i = 0; i < vq->num; i++)
			inflight_store8(inflight_desc(iq, i) +
			    INFLIGHT_D_INFLIGHT, 0);
		inflight_store16(iq->base + INFLIGHT_H_DESC_NUM, vq->num);
		inflight_store16(iq->base + INFLIGHT_H_USED_IDX, vq->used_idx);
		atomic_signal_fence(memory_order_release);
		inflight_store16(iq->base + INFLIGHT_H_VERSION,
		    INFLIGHT_VERSION);
		iq->counter = 1;
		return (0);
	}
	if (version != INFLIGHT_VERSION) {
		*err = "inflight region: unknown version";
		return (-1);
	}
	if (desc_num != vq->num || desc_num > iq->size) {
		*err = "inflight region: descriptor count is not the queue "
		    "size";
		return (-1);
	}
	used = inflight_ring_idx(vq->used);
	avail = inflight_ring_idx(vq->avail);
	batch = inflight_load16(iq->base + INFLIGHT_H_BATCH_HEAD);
	hused = inflight_load16(iq->base + INFLIGHT_H_USED_IDX);

	/* Every flag byte is 0 or 1; count the marked ones. */
	n = 0;
	for (i = 0; i < desc_num; i++) {
		fl = inflight_load8(inflight_desc(iq, i) + INFLIGHT_D_INFLIGHT);
		if (fl > 1) {
			*err = "inflight region: bad inflight flag";
			return (-1);
		}
		n += fl;
	}

	/* The last batch: completed in the used ring, maybe still marked.
	 * Walk it (bounded, indices checked) before clearing anything. */
	diff = (uint16_t)(used - hused);
	if (diff > desc_num) {
		*err = "inflight region: used index out of range";
		return (-1);
	}
	h = batch;
	for (k = 0; k < diff; k++) {
		if (h >= desc_num) {
			*err = "inflight region: last batch head out of range";
			return (-1);
		}
		if (k + 1 < diff)
			h = inflight_load16(inflight_desc(iq, h) +
			    INFLIGHT_D_NEXT);
	}
	h = batch;
	for (k = 0; k < diff; k++) {
		if (inflight_load8(inflight_desc(iq, h) +
		    INFLIGHT_D_INFLIGHT) != 0) {
			inflight_store8(inflight_desc(iq, h) +
			    INFLIGHT_D_INFLIGHT, 0);
			n--;
		}
		if (k + 1 < diff)
			h = inflight_load16(inflight_desc(iq, h) +
			    INFLIGHT_D_NEXT);
	}
	atomic_signal_fence(memory_order_release);
	inflight_store16(iq->base + INFLIGHT_H_USED_IDX, used);

	/* What is still marked was taken and never completed: at most
	 * what the guest has outstanding. */
	if (n > (uint16_t)(avail - used) || n > vq->num) {
		*err = "inflight region: more requests in flight than the "
		    "guest made available";
		return (-1);
	}
	list = iq->resubmit;
	k = 0;
	for (i = 0; i < desc_num && k < n; i++) {
		if (inflight_load8(inflight_desc(iq, i) +
		    INFLIGHT_D_INFLIGHT) == 0)
			continue;
		c = inflight_load64(inflight_desc(iq, i) + INFLIGHT_D_COUNTER);
		list[k].counter = c;
		list[k++].head = i;
		if (c > max)
			max = c;
	}
	iq->nresubmit = k;
	if (k > 1)
		qsort(list, k, sizeof *list, inflight_counter_cmp);
	iq->counter = max + 1;
	if (vq->last_avail_idx != (uint16_t)(used + k))
		log_info("%s: queue %u: %u requests in flight at the last "
		    "stop; next available index %u (not %u)", vring_name(vq),
		    vq->index, k, (uint16_t)(used + k), vq->last_avail_idx);
	else if (k > 0)
		log_info("%s: queue %u: resubmitting %u requests in flight",
		    vring_name(vq), vq->index, k);
	vq->last_avail_idx = (uint16_t)(used + k);
	return (0);
}

/* The next head to resubmit: 1 and *head, or 0.  Worker. */
int
inflight_resubmit_peek(const struct vring *vq, uint16_t *head)
{
	const struct inflight_queue	*iq = vq->iq;

	if (iq == NULL || iq->next >= iq->nresubmit)
		return (0);
	*head = iq->resubmit[iq->next].head;
	return (1);
}

/* Take the head inflight_resubmit_peek returned.  Worker. */
void
inflight_resubmit_take(struct vring *vq)
{
	if (vq->iq != NULL && vq->iq->next < vq->iq->nresubmit)
		vq->iq->next++;
}

/* Mark `head` taken, with the next counter.  Worker. */
void
inflight_pop(struct vring *vq, uint16_t head)
{
	struct inflight_queue	*iq = vq->iq;
	uint8_t			*d;

	if (iq == NULL || vq->packed || head >= iq->size)
		return;
	d = inflight_desc(iq, head);
	inflight_store64(d + INFLIGHT_D_COUNTER, iq->counter++);
	/* The counter is in place before the mark that makes it count. */
	atomic_signal_fence(memory_order_release);
	inflight_store8(d + INFLIGHT_D_INFLIGHT, 1);
}

/* Before the used element of `head` is written: it is the last batch
 * (of one).  Worker. */
void
inflight_push_begin(struct vring *vq, uint16_t head)
{
	struct inflight_queue	*iq = vq->iq;

	if (iq == NULL || vq->packed || head >= iq->size)
		return;
	inflight_store16(inflight_desc(iq, head) + INFLIGHT_D_NEXT, head);
	inflight_store16(iq->base + INFLIGHT_H_BATCH_HEAD, head);
	/* last_batch_head is recorded before used->idx moves. */
	atomic_signal_fence(memory_order_release);
}

/* After used->idx was published: clear the mark, then record the used
 * index that covers it.  Worker. */
void
inflight_push_end(struct vring *vq, uint16_t head)
{
	struct inflight_queue	*iq = vq->iq;

	if (iq == NULL || vq->packed || head >= iq->size)
		return;
	atomic_signal_fence(memory_order_release);
	inflight_store8(inflight_desc(iq, head) + INFLIGHT_D_INFLIGHT, 0);
	atomic_signal_fence(memory_order_release);
	inflight_store16(iq->base + INFLIGHT_H_USED_IDX, vq->used_idx);
}

/* A popped chain goes back unserved.  Worker. */
void
inflight_unmark(struct vring *vq, struct vring_chain *c)
{
	struct inflight_queue	*iq = vq->iq;

	if (iq == NULL)
		return;
	if (vq->packed) {
		inflight_packed_unmark(vq, c);
		return;
	}
	if (c->head >= iq->size)
		return;
	inflight_store8(inflight_desc(iq, c->head) + INFLIGHT_D_INFLIGHT, 0);
}
