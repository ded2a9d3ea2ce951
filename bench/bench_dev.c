/*
 * The device side of vhostd-bench: connect to the back-end as a VMM,
 * put one region of guest memory in a memfd, start the queues, and keep
 * `depth` requests in flight on each queue as the guest driver would,
 * timing every request from its post to the moment its used entry is
 * seen.  One thread drives every queue; it sleeps in poll(2) on the call
 * eventfds when nothing is ready, so it leaves the CPU to the back-end.
 */

#include <sys/types.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"
#include "bench.h"

#define BENCH_BLK_IN	0
#define BENCH_BLK_OUT	1
#define BENCH_SLOT_HDR	64		/* header + status per request */

/* Per queue: which slot each head uses and when it was posted. */
struct bench_dev_queue {
	uint16_t	*slot_of;	/* by head */
	uint64_t	*posted_ns;	/* by head */
	uint16_t	*free_slots;
	unsigned	 nfree;
	uint64_t	 hdr_gpa;	/* depth x BENCH_SLOT_HDR */
	uint64_t	 data_gpa;	/* depth x stride */
	uint64_t	 cursor;	/* blk sequential: next sector */
	uint64_t	 rng;		/* blk random: xorshift state */
};

struct bench_dev {
	const struct bench_opts	*o;
	struct fe		*fe;
	int			 blk;
	uint64_t		 sectors;	/* blk capacity */
	uint64_t		 stride;
	int			 blocking;	/* one queue: blocking read */
	uint64_t		 last_ns;	/* last wakeup (timeout) */
	struct bench_dev_queue	 q[FE_MAX_QUEUES];
};

/* The next sector of a blk request on queue qi. */
static uint64_t
bench_dev_sector(struct bench_dev *bd, unsigned qi)
{
	struct bench_dev_queue	*q = &bd->q[qi];
	uint64_t		 per = bd->o->size / 512, span, s;

	span = bd->sectors / per;
	if (bd->o->random) {
		q->rng ^= q->rng << 13;
		q->rng ^= q->rng >> 7;
		q->rng ^= q->rng << 17;
		return ((q->rng % span) * per);
	}
	s = q->cursor;
	q->cursor += per;
	if (q->cursor + per > bd->sectors)
		q->cursor = 0;
	return (s);
}

/* Post one request in `slot` of queue qi without a kick; the head or -1. */
static int
bench_dev_post(struct bench_dev *bd, unsigned qi, unsigned slot)
{
	struct bench_dev_queue	*q = &bd->q[qi];
	struct fe_buf		 b[3];
	uint64_t		 data = q->data_gpa + slot * bd->stride;
	uint64_t		 hdr = q->hdr_gpa + slot * BENCH_SLOT_HDR;
	uint8_t			*h;
	uint32_t		 type;
	uint64_t		 sector;

	if (!bd->blk) {
		b[0].gpa = data;
		b[0].len = (uint32_t)bd->o->size;
		b[0].write = 1;
		return (fe_post(bd->fe, qi, b, 1, FE_POST_NOKICK));
	}
	h = fe_host(bd->fe, hdr, BENCH_SLOT_HDR);
	type = bd->o->write ? BENCH_BLK_OUT : BENCH_BLK_IN;
	sector = bench_dev_sector(bd, qi);
	memcpy(h, &type, 4);
	memset(h + 4, 0, 4);
	memcpy(h + 8, &sector, 8);
	h[32] = 0xff;
	b[0].gpa = hdr;
	b[0].len = 16;
	b[0].write = 0;
	b[1].gpa = data;
	b[1].len = (uint32_t)bd->o->size;
	b[1].write = !bd->o->write;
	b[2].gpa = hdr + 32;
	b[2].len = 1;
	b[2].write = 1;
	return (fe_post(bd->fe, qi, b, 3, FE_POST_NOKICK));
}

/* Was the request with this head answered as asked?  1 yes, 0 no. */
static int
bench_dev_ok(struct bench_dev *bd, unsigned qi, uint32_t head, uint32_t len)
{
	uint8_t	*st;

	if (!bd->blk)
		return (len == bd->o->size);
	st = fe_host(bd->fe, bd->q[qi].hdr_gpa +
	    bd->q[qi].slot_of[head] * BENCH_SLOT_HDR + 32, 1);
	return (*st == 0);
}

/* Connect, negotiate, lay out guest memory and start the queues. */
static int
bench_dev_open(struct bench_dev *bd)
{
	const struct bench_opts	*o = bd->o;
	struct fe_region_spec	 spec;
	struct bench_dev_queue	*q;
	uint8_t			 cfg[8];
	uint32_t		 got;
	uint64_t		 need;
	unsigned		 qi, i;

	bd->stride = (o->size + 4095) & ~(uint64_t)4095;
	need = (uint64_t)o->queues * (o->depth * (bd->stride +
	    BENCH_SLOT_HDR) + 64 * 1024 + 4096) + (4 << 20);
	spec.gpa = 0;
	spec.size = (need + (2 << 20) - 1) & ~(uint64_t)((2 << 20) - 1);
	spec.offset = 0;
	if ((bd->fe = fe_new(o->socket, &spec, 1)) == NULL)
		goto fail;
	bd->fe->timeout_ms = o->timeout_ms;
	if (fe_start(bd->fe, o->queue_size) != 0)
		goto fail;
	for (qi = 1; qi < o->queues; qi++) {
		if (fe_queue_setup(bd->fe, qi, o->queue_size) != 0 ||
		    fe_vring_enable(bd->fe, qi, 1) != 0)
			goto fail;
	}
	if (bd->blk) {
		if (fe_get_config(bd->fe, 0, 8, cfg, &got) != 0 || got != 8) {
			bench_warnx("%s: no blk config space", o->socket);
			return (-1);
		}
		memcpy(&bd->sectors, cfg, 8);
		if (bd->sectors < 2 * (o->size / 512)) {
			bench_warnx("%s: image too small (%llu sectors)",
			    o->socket, (unsigned long long)bd->sectors);
			return (-1);
		}
	}
	for (qi = 0; qi < o->queues; qi++) {
		q = &bd->q[qi];
		q->slot_of = calloc(o->queue_size, sizeof *q->slot_of);
		q->posted_ns = calloc(o->queue_size, sizeof *q->posted_ns);
		q->free_slots = calloc(o->depth, sizeof *q->free_slots);
		if (q->slot_of == NULL || q->posted_ns == NULL ||
		    q->free_slots == NULL)
			abort();
		for (i = 0; i < o->depth; i++)
			q->free_slots[i] = (uint16_t)(o->depth - 1 - i);
		q->nfree = o->depth;
		q->hdr_gpa = fe_alloc(bd->fe, o->depth * BENCH_SLOT_HDR, 4096);
		q->data_gpa = fe_alloc(bd->fe, o->depth * bd->stride, 4096);
		if (q->hdr_gpa == 0 || q->data_gpa == 0)
			goto fail;
		q->rng = 0x9e3779b97f4a7c15ULL * (qi + 1);
		q->cursor = bd->sectors / o->queues * qi / (o->size / 512 ?
		    o->size / 512 : 1) * (o->size / 512);
		if (o->write)
			fe_fill(bd->fe, q->data_gpa, 0x5a, o->depth *
			    bd->stride);
	}
	return (0);
fail:
	bench_warnx("%s: %s", o->socket, fe_error());
	return (-1);
}

/* SIGALRM: only interrupts a blocking read (bench_dev_wait). */
static void
bench_dev_alarm(int sig)
{
	(void)sig;
}

/*
 * With one queue the driver sleeps in a blocking read(2) of the call
 * eventfd, as the eventfd ping-pong it is compared with does, instead of
 * poll(2) and read(2): one system call per round trip less on the
 * driver's side.  A periodic SIGALRM (no SA_RESTART) interrupts the read
 * so a silent back-end still times out.  0 or -1.
 */
static int
bench_dev_blocking(struct bench_dev *bd)
{
	struct sigaction	 sa;
	struct itimerval	 it;
	int			 fd = fe_queue(bd->fe, 0)->call_fd, fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1)
		return (-1);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = bench_dev_alarm;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) == -1)
		return (-1);
	memset(&it, 0, sizeof it);
	it.it_interval.tv_usec = it.it_value.tv_usec = 250000;
	if (setitimer(ITIMER_REAL, &it, NULL) == -1)
		return (-1);
	bd->blocking = 1;
	return (0);
}

/* Stop the timer of bench_dev_blocking. */
static void
bench_dev_unblock(struct bench_dev *bd)
{
	struct itimerval	it;

	if (!bd->blocking)
		return;
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, NULL);
	bd->blocking = 0;
}

/* Wait for any call eventfd, after telling the device (EVENT_IDX) which
 * entry to interrupt for; 0, or -1 on a timeout. */
static int
bench_dev_wait(struct bench_dev *bd)
{
	struct pollfd	 pfd[FE_MAX_QUEUES];
	struct fe_queue	*fq;
	uint64_t	 v;
	unsigned	 qi, n = bd->o->queues;
	int		 r;

	for (qi = 0; qi < n; qi++) {
		fq = fe_queue(bd->fe, qi);
		if (bd->fe->event_idx)
			__atomic_store_n(&fq->avail->ring[fq->num],
			    fq->last_used, __ATOMIC_RELEASE);
		pfd[qi].fd = fq->call_fd;
		pfd[qi].events = POLLIN;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (qi = 0; qi < n; qi++) {
		fq = fe_queue(bd->fe, qi);
		if (__atomic_load_n(&fq->used->idx, __ATOMIC_ACQUIRE) !=
		    fq->last_used)
			return (0);
	}
	if (bd->blocking) {
		ssize_t	got = read(pfd[0].fd, &v, sizeof v);

		if (got == (ssize_t)sizeof v) {
			fe_queue(bd->fe, 0)->calls++;
			bd->last_ns = bench_now_ns();
			return (0);
		}
		if (got == -1 && errno == EINTR && bench_now_ns() -
		    bd->last_ns < (uint64_t)bd->o->timeout_ms * 1000000u)
			return (0);
		bench_warnx("%s: no completion within %d ms",
		    bd->o->socket, bd->o->timeout_ms);
		return (-1);
	}
	r = poll(pfd, n, bd->o->timeout_ms);
	if (r == 0) {
		bench_warnx("%s: no completion within %d ms",
		    bd->o->socket, bd->o->timeout_ms);
		return (-1);
	}
	for (qi = 0; qi < n; qi++) {
		if (pfd[qi].revents & POLLIN &&
		    read(pfd[qi].fd, &v, sizeof v) == (ssize_t)sizeof v)
			fe_queue(bd->fe, qi)->calls++;
	}
	return (0);
}

/* The measurement loop: post, kick, reap, until count or duration. */
static int
bench_dev_loop(struct bench_dev *bd, struct bench_result *res)
{
	const struct bench_opts	*o = bd->o;
	struct bench_dev_queue	*q;
	struct bench_lat	 lat = { NULL, 0, 0 };
	uint64_t		 start, now, posted = 0, done = 0;
	uint32_t		 id, len;
	uint16_t		 old;
	unsigned		 qi, slot, inflight = 0;
	int			 head, r, got, stop = 0;

	start = bench_now_ns();
	for (;;) {
		for (qi = 0; qi < o->queues && !stop; qi++) {
			q = &bd->q[qi];
			old = fe_queue(bd->fe, qi)->avail_idx;
			now = bench_now_ns();
			while (q->nfree > 0 && (o->count == 0 ||
			    posted < o->count)) {
				slot = q->free_slots[--q->nfree];
				if ((head = bench_dev_post(bd, qi, slot)) < 0)
					goto fail;
				q->slot_of[head] = (uint16_t)slot;
				q->posted_ns[head] = now;
				posted++;
				inflight++;
			}
			if (fe_queue(bd->fe, qi)->avail_idx != old &&
			    fe_kick_if_needed(bd->fe, qi, old) == -1)
				goto fail;
		}
		got = 0;
		for (qi = 0; qi < o->queues; qi++) {
			q = &bd->q[qi];
			while ((r = fe_get_used(bd->fe, qi, &id, &len)) == 1) {
				now = bench_now_ns();
				bd->last_ns = now;
				bench_lat_add(&lat, now - q->posted_ns[id]);
				if (!bench_dev_ok(bd, qi, id, len))
					res->errors++;
				q->free_slots[q->nfree++] = q->slot_of[id];
				done++;
				inflight--;
				got = 1;
			}
			if (r == -1)
				goto fail;
		}
		if (!stop && bench_done(o, done, start))
			stop = 1;
		if (stop && inflight == 0)
			break;
		if (o->count != 0 && done >= o->count)
			break;
		if (!got && bench_dev_wait(bd) == -1)
			goto fail_quiet;
	}
	res->elapsed_ns = bench_now_ns() - start;
	res->ops = done;
	res->bytes = done * o->size;
	bench_lat_finish(&lat, res);
	return (0);
fail:
	bench_warnx("%s: %s", o->socket, fe_error());
fail_quiet:
	free(lat.ns);
	return (-1);
}

/* Run the device workload of `o` and fill `res`; 0 or -1. */
int
bench_dev_run(const struct bench_opts *o, struct bench_result *res)
{
	struct bench_dev	 bd;
	int64_t			 cpu0 = -1, cpu1;
	unsigned		 qi;
	int			 ret;

	memset(&bd, 0, sizeof bd);
	bd.o = o;
	bd.blk = strcmp(o->workload, "blk") == 0;
	snprintf(res->name, sizeof res->name, "device");
	res->cpu_ns = -1;
	if (bench_dev_open(&bd) != 0) {
		ret = -1;
		goto out;
	}
	if (o->queues == 1 && bench_dev_blocking(&bd) == -1) {
		bench_warnx("cannot set up the blocking wait: %s",
		    strerror(errno));
		ret = -1;
		goto out;
	}
	bd.last_ns = bench_now_ns();
	if (o->pid > 0)
		cpu0 = bench_raw_cpu_ns(o->pid);
	ret = bench_dev_loop(&bd, res);
	bench_dev_unblock(&bd);
	if (o->pid > 0 && cpu0 >= 0 && (cpu1 = bench_raw_cpu_ns(o->pid)) >= 0)
		res->cpu_ns = cpu1 - cpu0;
out:
	if (bd.fe != NULL)
		fe_free(bd.fe);
	for (qi = 0; qi < FE_MAX_QUEUES; qi++) {
		free(bd.q[qi].slot_of);
		free(bd.q[qi].posted_ns);
		free(bd.q[qi].free_slots);
	}
	return (ret);
}
