/*
 * libFuzzer target: the split-ring walker (vring_pop and the chain
 * accessors) over a fake guest memory whose contents come from the input.
 *
 * Guest memory: region A [0, 64 KiB) and region B [64 KiB, 128 KiB) are
 * adjacent but come from different memfds (so they are not adjacent in
 * our address space), and nothing else is mapped.  Input layout:
 *   byte 0      log2 of the ring size (mod 11: 1..1024 entries)
 *   byte 1      bit 0: EVENT_IDX; bits 1-7: how chains are completed
 *   bytes 2-3   last_avail_idx (little endian)
 *   bytes 4-9   desc, avail, used addresses / 16, / 2, / 4 (u16 each)
 *   rest        copied into guest memory from gpa 0 on
 * Oracle: no crash or sanitizer report; every segment of a popped chain
 * lies in guest memory, the lengths add up, and every iovec points into
 * one of the two mappings.
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

#define FUZZ_HDR	10

/* Map the two regions once per process. */
int
LLVMFuzzerInitialize(int *argc __unused, char ***argv __unused)
{
	fuzz_guest_init("fuzz-vring");
	return (0);
}

/* One input: lay out the guest memory and pop until empty or error. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vring		 vq;
	char			*cause = NULL;
	uint64_t		 desc, avail, used;
	uint8_t			 how;

	if (size < FUZZ_HDR)
		return (0);
	fuzz_guest_load(data + FUZZ_HDR, size - FUZZ_HDR);

	vring_init(&vq, NULL, 0);
	vq.num = (uint16_t)(1u << (data[0] % 11));
	vq.event_idx = data[1] & 1;
	vq.indirect = (data[1] & 0x80) == 0;
	how = data[1] >> 1;
	desc = ((uint64_t)data[4] | (uint64_t)data[5] << 8) * 16;
	avail = ((uint64_t)data[6] | (uint64_t)data[7] << 8) * 2;
	used = ((uint64_t)data[8] | (uint64_t)data[9] << 8) * 4;
	if (vring_set_addr(&vq, fuzz_guest_mem, desc, avail, used, 0,
	    &cause) == -1) {
		free(cause);
		vring_free(&vq);
		return (0);
	}
	vq.last_avail_idx = (uint16_t)(data[2] | data[3] << 8);

	fuzz_guest_run(&vq, how, NULL, NULL);
	vring_free(&vq);
	return (0);
}
