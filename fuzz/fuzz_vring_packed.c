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
#include <sys/mman.h>
#include <sys/uio.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "guest_mem.h"
#include "log.h"
#include "vhost_user.h"
#include "vring.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_REGION	0x10000ULL
#define FUZZ_MEMSZ	(2 * FUZZ_REGION)
#define FUZZ_HDR	13

static struct guest_region	*fuzz_r[2];
static struct guest_mem		*fuzz_mem;

/* Map the two regions once per process. */
int
LLVMFuzzerInitialize(int *argc __unused, char ***argv __unused)
{
	char		*cause = NULL;
	unsigned	 i;
	int		 fd;

	log_init(getenv("FUZZ_VERBOSE") != NULL ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_ERR, 0);
	for (i = 0; i < 2; i++) {
		fd = memfd_create("fuzz-vring-packed", MFD_CLOEXEC);
		if (fd == -1 || ftruncate(fd, (off_t)FUZZ_REGION) == -1)
			abort();
		fuzz_r[i] = guest_region_map(fd, i * FUZZ_REGION, FUZZ_REGION,
		    0x7f0000000000ULL + i * FUZZ_REGION, 0, &cause);
		if (fuzz_r[i] == NULL) {
			fprintf(stderr, "guest_region_map: %s\n", cause);
			abort();
		}
		close(fd);
	}
	if ((fuzz_mem = guest_mem_new(fuzz_r, 2, &cause)) == NULL) {
		fprintf(stderr, "guest_mem_new: %s\n", cause);
		abort();
	}
	return (0);
}

/* Is [p, p+len) inside one of the two host mappings? */
static int
fuzz_vring_host_ok(const void *p, size_t len)
{
	const uint8_t	*b = p;
	unsigned	 i;

	for (i = 0; i < 2; i++) {
		if (b >= fuzz_r[i]->host &&
		    len <= FUZZ_REGION &&
		    (size_t)(b - fuzz_r[i]->host) <= FUZZ_REGION - len)
			return (1);
	}
	return (0);
}

/* Check what vring_pop promised about a chain. */
static void
fuzz_vring_check_chain(const struct vring_chain *c)
{
	uint64_t	 rlen = 0, wlen = 0;
	unsigned	 i;

	if (c->nsegs > c->cap || c->nread > c->nsegs)
		abort();
	for (i = 0; i < c->nsegs; i++) {
		if (c->segs[i].gpa >= FUZZ_MEMSZ ||
		    c->segs[i].len > FUZZ_MEMSZ - c->segs[i].gpa)
			abort();
		if ((i < c->nread) == (c->segs[i].write != 0))
			abort();
		if (c->segs[i].write)
			wlen += c->segs[i].len;
		else
			rlen += c->segs[i].len;
	}
	if (rlen != c->rlen || wlen != c->wlen)
		abort();
}

/* Exercise the accessors of a popped chain. */
static void
fuzz_vring_use_chain(struct vring_chain *c, uint8_t how)
{
	struct iovec	 iov[8];
	uint8_t		 buf[512];
	ssize_t		 n;
	int		 cnt, i;

	n = vring_chain_read(c, fuzz_mem, how & 7, buf, sizeof buf);
	if (n < 0 || (size_t)n > sizeof buf)
		abort();
	memset(buf, 0xa5, sizeof buf);
	n = vring_chain_write(c, fuzz_mem, how & 3, buf, sizeof buf);
	if (n < 0 || (size_t)n > sizeof buf)
		abort();
	cnt = vring_chain_iov(c, fuzz_mem, how & 1, how >> 4, iov, 8);
	if (cnt < 0 || cnt > 8)
		abort();
	for (i = 0; i < cnt; i++) {
		if (!fuzz_vring_host_ok(iov[i].iov_base, iov[i].iov_len))
			abort();
	}
}

/* The ring positions are below the ring size, chains at most num. */
static void
fuzz_vring_check_ring(const struct vring *vq)
{
	if (vq->last_avail_idx >= vq->num || vq->used_idx >= vq->num ||
	    vq->inflight > vq->num)
		abort();
}

/* One input: lay out the guest memory and pop until empty or error. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vring		 vq;
	struct vring_chain	*c, *held[8];
	const char		*err;
	char			*cause = NULL;
	uint64_t		 desc, drv, dev;
	uint32_t		 base;
	size_t			 n;
	unsigned		 nheld = 0, i, pops = 0;
	uint8_t			 how;

	if (size < FUZZ_HDR)
		return (0);
	memset(fuzz_r[0]->host, 0, FUZZ_REGION);
	memset(fuzz_r[1]->host, 0, FUZZ_REGION);
	n = size - FUZZ_HDR;
	if (n > FUZZ_MEMSZ)
		n = FUZZ_MEMSZ;
	if (n > FUZZ_REGION) {
		memcpy(fuzz_r[0]->host, data + FUZZ_HDR, FUZZ_REGION);
		memcpy(fuzz_r[1]->host, data + FUZZ_HDR + FUZZ_REGION,
		    n - FUZZ_REGION);
	} else
		memcpy(fuzz_r[0]->host, data + FUZZ_HDR, n);

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
	    vring_set_addr(&vq, fuzz_mem, desc, drv, dev, 0, &cause) == -1) {
		free(cause);
		vring_free(&vq);
		return (0);
	}

	/* Bounded: completed chains free their slots, which may be popped
	 * again as the guest's (our) writes left them. */
	while (pops++ < 2048) {
		err = NULL;
		c = vring_pop(&vq, fuzz_mem, &err);
		fuzz_vring_check_ring(&vq);
		if (c == NULL)
			break;
		fuzz_vring_check_chain(c);
		if (c->ndesc == 0 || c->ndesc > vq.num || c->head >= vq.num)
			abort();
		fuzz_vring_use_chain(c, how);
		switch ((how + pops) % 4) {
		case 0:
			if (nheld < nitems(held)) {
				held[nheld++] = c;
				break;
			}
			FALLTHROUGH;
		case 1:
			vring_push(&vq, fuzz_mem, c, (uint32_t)c->wlen);
			break;
		case 2:
			if (vring_rewind(&vq, c) != 0)
				abort();
			if ((c = vring_pop(&vq, fuzz_mem, &err)) == NULL)
				goto out;
			fuzz_vring_check_chain(c);
			vring_push(&vq, fuzz_mem, c, 7);
			break;
		default:
			vring_push(&vq, fuzz_mem, c, UINT32_MAX);
			break;
		}
		fuzz_vring_check_ring(&vq);
		(void)vring_need_notify(&vq, fuzz_mem);
	}
out:
	for (i = 0; i < nheld; i++)
		vring_push(&vq, fuzz_mem, held[i], 1);
	fuzz_vring_check_ring(&vq);
	(void)vring_need_notify(&vq, fuzz_mem);
	vring_free(&vq);
	return (0);
}
