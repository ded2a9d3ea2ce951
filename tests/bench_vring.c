/*
 * bench_vring: the CPU cost of the ring code itself, split against packed,
 * with no threads, eventfds or scheduler in the way (scripts/bench.sh
 * measures the whole path through a live daemon, which a loaded machine
 * makes noisy).  In one process a minimal guest driver posts 64-byte
 * writable buffers at depth 1 or 128 and takes the used entries back; the
 * device side is the daemon's own vring_pop, vring_chain_write,
 * vring_push and vring_need_notify (EVENT_IDX on, the driver asking for
 * an interrupt at every used entry, as the test frontend does).  Prints
 * nanoseconds per request, best of several runs, and the ratio.
 *
 * usage: tests/bench_vring [REQUESTS] [RUNS] [split|packed]
 *        (default 2000000 requests, best of 5 runs, both layouts)
 */

#include <sys/types.h>
#include <sys/mman.h>

#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guest_mem.h"
#include "vhost_user.h"
#include "vring.h"

#define BV_MEM		0x100000ULL
#define BV_DESC		0x1000ULL
#define BV_AVAIL	0x10000ULL
#define BV_USED		0x20000ULL
#define BV_BUF		0x40000ULL
#define BV_NUM		256

static struct guest_region	*bv_r;
static struct guest_mem		*bv_mem;
static uint8_t			*bv_host;

/* Monotonic nanoseconds. */
static uint64_t
bv_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

/* A fresh ring of the layout in zeroed guest memory. */
static void
bv_ring(struct vring *vq, int packed)
{
	char	*cause = NULL;

	memset(bv_host, 0, BV_MEM);
	vring_init(vq, NULL, 0);
	vq->packed = packed;
	vq->num = BV_NUM;
	vq->event_idx = 1;
	vq->indirect = 1;
	if (packed && vring_packed_set_base(vq, 0x80008000u, &cause) == -1)
		abort();
	if (vring_set_addr(vq, bv_mem, BV_DESC, BV_AVAIL, BV_USED, 0,
	    &cause) == -1) {
		fprintf(stderr, "set_addr: %s\n", cause);
		exit(1);
	}
}

/* The device: serve everything available.  Returns how many. */
static unsigned
bv_device(struct vring *vq)
{
	struct vring_chain	*c;
	const char		*err;
	static const uint8_t	 data[64];
	unsigned		 n = 0;

	while ((c = vring_pop(vq, bv_mem, &err)) != NULL) {
		if (vring_chain_write(c, bv_mem, 0, data, sizeof data) != 64)
			abort();
		vring_push(vq, bv_mem, c, 64);
		n++;
	}
	if (err != NULL) {
		fprintf(stderr, "pop: %s\n", err);
		exit(1);
	}
	(void)vring_need_notify(vq, bv_mem);
	return (n);
}

/* Split driver state. */
struct bv_split {
	uint16_t	 avail, used;
};

static void
bv_split_post(struct bv_split *s, uint16_t id)
{
	struct vring_desc	*d = (void *)(bv_host + BV_DESC);
	uint16_t		*ring = (void *)(bv_host + BV_AVAIL + 4);

	d[id].addr = htole64(BV_BUF + 64 * (uint64_t)id);
	d[id].len = htole32(64);
	d[id].flags = htole16(VRING_DESC_F_WRITE);
	ring[s->avail % BV_NUM] = htole16(id);
	s->avail++;
	__atomic_store_n((uint16_t *)(void *)(bv_host + BV_AVAIL + 2),
	    htole16(s->avail), __ATOMIC_RELEASE);
}

static int
bv_split_used(struct bv_split *s, uint16_t *id)
{
	uint16_t	 idx;
	uint32_t	*ent;

	idx = le16toh(__atomic_load_n((uint16_t *)(void *)(bv_host +
	    BV_USED + 2), __ATOMIC_ACQUIRE));
	if (idx == s->used)
		return (0);
	ent = (void *)(bv_host + BV_USED + 4 + 8 * (s->used % BV_NUM));
	*id = (uint16_t)le32toh(ent[0]);
	s->used++;
	/* used_event: interrupt at the next one. */
	*(uint16_t *)(void *)(bv_host + BV_AVAIL + 4 + 2 * BV_NUM) =
	    htole16(s->used);
	return (1);
}

/* Packed driver state. */
struct bv_packed {
	uint16_t	 next, used;
	int		 wrap, uwrap;
};

static void
bv_packed_post(struct bv_packed *p, uint16_t id)
{
	struct vring_packed_desc	*d = (void *)(bv_host + BV_DESC);

	d[p->next].addr = htole64(BV_BUF + 64 * (uint64_t)id);
	d[p->next].len = htole32(64);
	d[p->next].id = htole16(id);
	__atomic_store_n(&d[p->next].flags, htole16(VRING_DESC_F_WRITE |
	    (p->wrap ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED)),
	    __ATOMIC_RELEASE);
	if (++p->next == BV_NUM) {
		p->next = 0;
		p->wrap = !p->wrap;
	}
}

static int
bv_packed_used(struct bv_packed *p, uint16_t *id)
{
	struct vring_packed_desc	*d = (void *)(bv_host + BV_DESC);
	struct vring_packed_event	*e = (void *)(bv_host + BV_AVAIL);
	uint16_t			 f;
	int				 a, u;

	f = le16toh(__atomic_load_n(&d[p->used].flags, __ATOMIC_ACQUIRE));
	a = (f & VRING_PACKED_DESC_F_AVAIL) != 0;
	u = (f & VRING_PACKED_DESC_F_USED) != 0;
	if (a != p->uwrap || u != p->uwrap)
		return (0);
	*id = le16toh(d[p->used].id);
	if (++p->used == BV_NUM) {
		p->used = 0;
		p->uwrap = !p->uwrap;
	}
	/* DESC: interrupt at the next one. */
	e->off_wrap = htole16((uint16_t)(p->used | (p->uwrap ? 0x8000 : 0)));
	e->flags = htole16(VRING_PACKED_EVENT_F_DESC);
	return (1);
}

/* One run: `total` requests at `depth`; nanoseconds per request. */
static double
bv_run(int packed, unsigned depth, unsigned total)
{
	struct vring		 vq;
	struct bv_split		 s = { 0, 0 };
	struct bv_packed	 p = { 0, 0, 1, 1 };
	uint16_t		 id, free_ids[BV_NUM];
	unsigned		 nfree = 0, posted = 0, done = 0, i;
	uint64_t		 t0;

	bv_ring(&vq, packed);
	for (i = 0; i < depth; i++)
		free_ids[nfree++] = (uint16_t)i;
	t0 = bv_now();
	while (done < total) {
		while (nfree > 0 && posted < total) {
			id = free_ids[--nfree];
			if (packed)
				bv_packed_post(&p, id);
			else
				bv_split_post(&s, id);
			posted++;
		}
		(void)bv_device(&vq);
		while (packed ? bv_packed_used(&p, &id) :
		    bv_split_used(&s, &id)) {
			free_ids[nfree++] = id;
			done++;
		}
	}
	t0 = bv_now() - t0;
	vring_free(&vq);
	return ((double)t0 / total);
}

int
main(int argc, char **argv)
{
	static const unsigned	 depths[] = { 1, 128 };
	unsigned		 total = argc > 1 ? (unsigned)atoi(argv[1]) :
				     2000000;
	unsigned		 runs = argc > 2 ? (unsigned)atoi(argv[2]) : 5;
	double			 best[2], t;
	char			*cause = NULL;
	unsigned		 d, r;
	int			 fd, layout, only = -1;

	if (argc > 3)
		only = strcmp(argv[3], "packed") == 0;
	fd = memfd_create("bench_vring", MFD_CLOEXEC);
	if (fd == -1 || ftruncate(fd, (off_t)BV_MEM) == -1)
		return (1);
	bv_r = guest_region_map(fd, 0, BV_MEM, 0x7f0000000000ULL, 0, &cause);
	close(fd);
	if (bv_r == NULL || (bv_mem = guest_mem_new(&bv_r, 1, &cause)) ==
	    NULL) {
		fprintf(stderr, "bench_vring: %s\n", cause);
		return (1);
	}
	bv_host = bv_r->host;
	for (d = 0; d < 2; d++) {
		best[0] = best[1] = 1e18;
		/* Alternate the layouts so load changes hit both. */
		for (r = 0; r < runs; r++) {
			for (layout = 0; layout < 2; layout++) {
				if (only != -1 && layout != only)
					continue;
				t = bv_run(layout, depths[d], total);
				if (t < best[layout])
					best[layout] = t;
			}
		}
		printf("depth %3u: split %.1f ns/request, packed %.1f "
		    "ns/request, packed/split throughput %.2f\n", depths[d],
		    best[0], best[1], best[0] / best[1]);
	}
	guest_mem_free(bv_mem);
	guest_region_unref(bv_r);
	return (0);
}
