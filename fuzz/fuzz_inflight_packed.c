/*
 * libFuzzer target: inflight tracking of packed rings
 * (core/inflight_packed.c with core/vring_packed.c).  A packed ring in a
 * fake guest memory and a packed inflight region, both from the input,
 * are started (recovery of a hostile region), driven (pop, push, rewind,
 * chains held), then "killed" and started again on the region we wrote.
 *
 * Input layout (little endian):
 *   byte 0      ring size - 1 (1..256 entries)
 *   byte 1      how chains are completed
 *   bytes 2-5   the SET_VRING_BASE value (avail and used index and wrap)
 *   byte 6      bit 0: a fresh region (version 0), else the next bytes
 *   next        the region (INFLIGHT_PK_QUEUE_SIZE(size) bytes)
 *   rest        guest memory from gpa 0: the descriptor ring at 0, the
 *               driver area at 0x8000, the device area at 0x8004
 * Oracle: no crash or sanitizer report; a failed start resubmits nothing;
 * after our own writes the second start always succeeds, finds the ring
 * positions we left (the avail one only when no chain was in flight
 * before the region existed), and resubmits exactly the chains we held,
 * in the order we took them.
 */

#include <sys/types.h>
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "guest_mem.h"
#include "inflight.h"
#include "log.h"
#include "vhost_user.h"
#include "vring.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MEMSZ	0x10000ULL
#define FUZZ_HDR	7
#define FUZZ_MAXQ	256

static struct guest_region	*fuzz_r;
static struct guest_mem		*fuzz_mem;

/* Map the guest memory once per process. */
int
LLVMFuzzerInitialize(int *argc __unused, char ***argv __unused)
{
	char	*cause = NULL;
	int	 fd;

	log_init(getenv("FUZZ_VERBOSE") != NULL ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_ERR, 0);
	fd = memfd_create("fuzz-inflight-packed", MFD_CLOEXEC);
	if (fd == -1 || ftruncate(fd, (off_t)FUZZ_MEMSZ) == -1)
		abort();
	fuzz_r = guest_region_map(fd, 0, FUZZ_MEMSZ, 0x7f0000000000ULL, 0,
	    &cause);
	if (fuzz_r == NULL) {
		fprintf(stderr, "guest_region_map: %s\n", cause);
		abort();
	}
	close(fd);
	if ((fuzz_mem = guest_mem_new(&fuzz_r, 1, &cause)) == NULL) {
		fprintf(stderr, "guest_mem_new: %s\n", cause);
		abort();
	}
	return (0);
}

/* A started ring of `num` with `base` and the region.  The start's
 * result. */
static int
fuzz_inflight_start(struct vring *vq, struct inflight_queue *iq,
    uint16_t num, uint32_t base)
{
	const char	*err = NULL;
	char		*cause = NULL;

	vring_init(vq, NULL, 0);
	vq->packed = 1;
	vq->num = num;
	vq->indirect = 1;
	if (vring_packed_set_base(vq, base, &cause) == -1 ||
	    vring_set_addr(vq, fuzz_mem, 0, 0x8000, 0x8004, 0, &cause) ==
	    -1) {
		free(cause);
		return (-2);
	}
	vq->iq = iq;
	if (vring_map(vq, fuzz_mem, &err) == -1)
		return (-2);
	return (inflight_queue_start(vq, &err));
}

/* One input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vring		 vq;
	struct inflight_queue	 iq;
	struct vring_chain	*c, *held[16];
	const char		*err;
	uint8_t			*rg;
	uint16_t		 num, heads[16], used, avail;
	uint32_t		 base;
	size_t			 rsize, n;
	unsigned		 nheld = 0, i, pops = 0, left;
	int			 uwrap, awrap, rc, untracked;
	uint8_t			 how;

	if (size < FUZZ_HDR)
		return (0);
	num = (uint16_t)(data[0] + 1);
	how = data[1];
	base = (uint32_t)data[2] | (uint32_t)data[3] << 8 |
	    (uint32_t)data[4] << 16 | (uint32_t)data[5] << 24;
	rsize = (size_t)INFLIGHT_PK_QUEUE_SIZE(num);
	data += FUZZ_HDR;
	size -= FUZZ_HDR;
	if ((rg = calloc(1, rsize)) == NULL)
		abort();
	if (!(data[-1] & 1)) {
		n = size < rsize ? size : rsize;
		memcpy(rg, data, n);
		data += n;
		size -= n;
	}
	memset(fuzz_r->host, 0, FUZZ_MEMSZ);
	memcpy(fuzz_r->host, data, size < FUZZ_MEMSZ ? size : FUZZ_MEMSZ);

	memset(&iq, 0, sizeof iq);
	iq.base = rg;
	iq.size = num;
	iq.packed = 1;
	iq.resubmit = calloc(num, sizeof *iq.resubmit);
	iq.pk_next = calloc(num, sizeof *iq.pk_next);
	iq.pk_last = calloc(num, sizeof *iq.pk_last);
	if (iq.resubmit == NULL || iq.pk_next == NULL || iq.pk_last == NULL)
		abort();

	/* A fresh region cannot know chains the base says were taken
	 * before it: the avail position is then not recovered exactly. */
	untracked = (rg[8] | rg[9]) == 0 && (base >> 16) != 0 &&
	    (base & 0xffff) != base >> 16;
	rc = fuzz_inflight_start(&vq, &iq, num, base);
	if (rc != 0) {
		if (rc == -1 && iq.nresubmit != 0)
			abort();
		goto out;
	}
	while (pops++ < 512) {
		err = NULL;
		c = vring_pop(&vq, fuzz_mem, &err);
		if (c == NULL)
			break;
		if (c->ndesc == 0 || c->ndesc > num || c->head >= num ||
		    vq.last_avail_idx >= num || vq.used_idx >= num)
			abort();
		switch ((how + pops) % 4) {
		case 0:
			/* Only chains from the ring: a resubmitted one may
			 * come back before them. */
			if (nheld < nitems(held) && !c->resubmitted) {
				heads[nheld] = c->head;
				held[nheld++] = c;
				break;
			}
			FALLTHROUGH;
		case 1:
			vring_push(&vq, fuzz_mem, c, 0);
			break;
		case 2:
			if (vring_rewind(&vq, c) != 0)
				vring_push(&vq, fuzz_mem, c, 0);
			break;
		default:
			vring_push(&vq, fuzz_mem, c, 1);
			break;
		}
	}
	/* Chains the first start resubmits but could not walk (a hostile
	 * copy) stay in flight and come back first. */
	left = iq.nresubmit - iq.next;

	/* Killed here: the region we wrote must recover exactly. */
	used = vq.used_idx;
	uwrap = vq.used_wrap;
	avail = vq.last_avail_idx;
	awrap = vq.avail_wrap;
	vring_free(&vq);
	if (fuzz_inflight_start(&vq, &iq, num, 0x80008000u) != 0)
		abort();
	if (vq.used_idx != used || vq.used_wrap != uwrap ||
	    (!untracked && (vq.last_avail_idx != avail ||
	    vq.avail_wrap != awrap)) || iq.nresubmit != nheld + left)
		abort();
	for (i = 0; i < nheld && left == 0; i++) {
		err = NULL;
		/* The copy may not walk any more (the guest's memory
		 * changed under it): then nothing more is checked. */
		if ((c = vring_pop(&vq, fuzz_mem, &err)) == NULL)
			break;
		if (!c->resubmitted || c->head != heads[i])
			abort();
		vring_push(&vq, fuzz_mem, c, 0);
	}
out:
	vring_free(&vq);
	free(iq.resubmit);
	free(iq.pk_next);
	free(iq.pk_last);
	free(rg);
	return (0);
}
