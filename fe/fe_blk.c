/*
 * Test frontend: a blk read workload for benchmarks (vhostd-fe blk):
 * VIRTIO_BLK_T_IN requests of `bs` bytes at consecutive sectors, `depth`
 * in flight, each a chain of a 16-byte header, the data buffer and the
 * status byte, as the Linux virtio_blk driver lays them out.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"
#include "fe_priv.h"

/* The virtio-blk request header. */
struct fe_blk_hdr {
	uint32_t	type;
	uint32_t	reserved;
	uint64_t	sector;
};

/* Read `count` requests of `bs` bytes, `depth` in flight, cycling over
 * the first `sectors` sectors. */
int
fe_blk_read(struct fe *fe, unsigned qi, uint64_t count, uint32_t bs,
    unsigned depth, uint64_t sectors, struct fe_rng_stats *st)
{
	struct fe_queue		*q = fe_queue(fe, qi);
	struct fe_blk_hdr	 h;
	struct fe_buf		 b[3];
	uint64_t		 area, stride, posted = 0, done = 0, start_ns;
	uint64_t		 calls0, sector = 0;
	uint16_t		*slot_of = NULL, *free_slots = NULL;
	uint32_t		 id, len;
	unsigned		 nfree, slot, i;
	uint8_t			 status;
	int			 head, r, ret = -1;

	memset(st, 0, sizeof *st);
	if (!q->allocated || bs == 0 || bs % 512 != 0 || depth == 0 ||
	    sectors < bs / 512) {
		fe_seterr("bad blk_read arguments");
		return (-1);
	}
	if (depth * 3 > q->num)
		depth = q->num / 3 ? q->num / 3 : 1;
	stride = ((uint64_t)bs + 4096 + 4095) & ~(uint64_t)4095;
	if ((area = fe_alloc(fe, stride * depth, 4096)) == 0)
		return (-1);
	slot_of = calloc(q->num, sizeof *slot_of);
	free_slots = calloc(depth, sizeof *free_slots);
	if (slot_of == NULL || free_slots == NULL)
		abort();
	for (i = 0; i < depth; i++)
		free_slots[i] = (uint16_t)i;
	nfree = depth;
	calls0 = q->calls;
	start_ns = fe_now_ns();
	while (done < count) {
		while (nfree > 0 && posted < count) {
			slot = free_slots[--nfree];
			h.type = 0;	/* VIRTIO_BLK_T_IN */
			h.reserved = 0;
			if (sector + bs / 512 > sectors)
				sector = 0;
			h.sector = sector;
			sector += bs / 512;
			/* Header and status in the first 4 KiB, data after. */
			if (fe_write(fe, area + slot * stride, &h,
			    sizeof h) == -1)
				goto out;
			b[0].gpa = area + slot * stride;
			b[0].len = sizeof h;
			b[0].write = 0;
			b[1].gpa = area + slot * stride + 4096;
			b[1].len = bs;
			b[1].write = 1;
			b[2].gpa = area + slot * stride + 64;
			b[2].len = 1;
			b[2].write = 1;
			head = fe_post(fe, qi, b, 3, FE_POST_NOKICK);
			if (head < 0)
				goto out;
			slot_of[head] = (uint16_t)slot;
			posted++;
		}
		if (fe_kick(fe, qi) == -1)
			goto out;
		r = fe_wait_used(fe, qi, &id, &len, fe->timeout_ms);
		while (r == 1) {
			slot = slot_of[id];
			if (fe_read(fe, area + slot * stride + 64, &status,
			    1) == -1 || status != 0 || len != bs + 1) {
				fe_seterr("request %llu: status %u, used "
				    "length %u", (unsigned long long)done,
				    status, len);
				goto out;
			}
			free_slots[nfree++] = (uint16_t)slot;
			done++;
			r = fe_get_used(fe, qi, &id, &len);
		}
		if (r != 0)
			goto out;
	}
	ret = 0;
out:
	st->elapsed_ns = fe_now_ns() - start_ns;
	st->elapsed_ms = (int64_t)(st->elapsed_ns / 1000000);
	st->requests = done;
	st->bytes = done * bs;
	st->calls = q->calls - calls0;
	free(slot_of);
	free(free_slots);
	return (ret);
}
