/*
 * libFuzzer target: the packed-ring walker (vring_pop, push, rewind and
 * notify on a packed ring, core/vring_packed.c) and the chain accessors
 * over a fake guest memory whose contents come from the input; fuzz_vring
 * is the split one.
 *
 * Guest memory: region A [0, 64 KiB) and region B [64 KiB, 128 KiB) are
 * adjacent but come from different memfds, and nothing else is mapped.
 * Input layout (little endian):
 *   bytes 0-1   ring size - 1 (mod 1024: 1..1024 entries, any number)
 *   byte 2      bit 0: EVENT_IDX; bit 7: no INDIRECT_DESC; bits 1-6: how
 *               chains are completed
 *   bytes 3-6   the SET_VRING_BASE value (avail and used index and wrap)
 *   bytes 7-12  descriptor ring / 16, driver area / 4, device area / 4
 *   rest        copied into guest memory from gpa 0 on
 * Oracle: no crash or sanitizer report; every segment of a popped chain
 * lies in guest memory, the lengths add up, every iovec points into one
 * of the two mappings, and the ring positions stay below the ring size.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "fuzz_guest.h"
#include "vhost_user.h"
#include "vring.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_HDR	13

/* Map the two regions once per process. */
int
LLVMFuzzerInitialize(int *argc __unused, char ***argv __unused)
{
	fuzz_guest_init("fuzz-vring-packed");
	return (0);
}

/* The ring positions are below the ring size, chains at most num. */
static void
fuzz_vring_check_ring(const struct vring *vq)
{
	if (vq->last_avail_idx >= vq->num || vq->used_idx >= vq->num ||
	    vq->inflight > vq->num)
		abort();
}

/* A packed chain has 1..num descriptors and its id is below num. */
static void
fuzz_vring_check_chain(const struct vring *vq, const struct vring_chain *c)
{
	if (c->ndesc == 0 || c->ndesc > vq->num || c->head >= vq->num)
		abort();
}

/* One input: lay out the guest memory and pop until empty or error. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vring		 vq;
	char			*cause = NULL;
	uint64_t		 desc, drv, dev;
	uint32_t		 base;
	uint8_t			 how;

	if (size < FUZZ_HDR)
		return (0);
	fuzz_guest_load(data + FUZZ_HDR, size - FUZZ_HDR);

	vring_init(&vq, NULL, 0);
	vq.packed = 1;
	vq.num = (uint16_t)((data[0] | data[1] << 8) % 1024 + 1);
	vq.event_idx = data[2] & 1;
	vq.indirect = (data[2] & 0x80) == 0;
	how = (data[2] >> 1) & 0x3f;
	base = (uint32_t)data[3] | (uint32_t)data[4] << 8 |
	    (uint32_t)data[5] << 16 | (uint32_t)data[6] << 24;
	desc = ((uint64_t)data[7] | (uint64_t)data[8] << 8) * 16;
	drv = ((uint64_t)data[9] | (uint64_t)data[10] << 8) * 4;
	dev = ((uint64_t)data[11] | (uint64_t)data[12] << 8) * 4;
	if (vring_packed_set_base(&vq, base, &cause) == -1 ||
	    vring_set_addr(&vq, fuzz_guest_mem, desc, drv, dev, 0,
	    &cause) == -1) {
		free(cause);
		vring_free(&vq);
		return (0);
	}

	/* Completed chains free their slots, which may be popped again as
	 * the guest's (our) writes left them. */
	fuzz_guest_run(&vq, how, fuzz_vring_check_ring, fuzz_vring_check_chain);
	vring_free(&vq);
	return (0);
}
