/*
 * The virtio-blk request parser: from a chain's header bytes and the
 * sizes of its readable and writable parts to what to do, checked
 * against the device's limits.  No I/O, no daemon calls: the queue code
 * (blk_io.c), the unit tests and the fuzzer call it directly.
 *
 * Layout (virtio 1.2 5.2.6): a 16-byte device-readable header {le32
 * type, le32 reserved, le64 sector}, then the data (device-readable for
 * OUT, DISCARD and WRITE_ZEROES; device-writable for IN and GET_ID),
 * then one device-writable status byte.  Descriptors may split these
 * anywhere: the header over several buffers, the data sharing a buffer
 * with the header or the status byte, so everything is in offsets into
 * the readable and writable parts, never in descriptor numbers.  The
 * status byte is the last byte of the writable part.
 *
 * Answers (the spec's, and QEMU's where the spec leaves a choice): no
 * writable byte at all, so no status can be written -> the chain is given
 * back unused (BLK_OP_DROP) and logged; a header shorter than 16 bytes,
 * data that is not a whole number of sectors, a sector past the end or a
 * range that overflows, a write to a read-only device, a range list that
 * is not a whole number of ranges -> IOERR; an unknown type, DISCARD or
 * WRITE_ZEROES not negotiated, more ranges than max_*_seg, unknown range
 * flags or UNMAP on a discard -> UNSUPP.
 */

#include <stdint.h>
#include <string.h>

#include "blk.h"

/* Load a little-endian u32 (virtio fields are little-endian). */
static uint32_t
blk_req_le32(const uint8_t *p)
{
	return ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24);
}

/* Load a little-endian u64. */
static uint64_t
blk_req_le64(const uint8_t *p)
{
	return ((uint64_t)blk_req_le32(p) |
	    (uint64_t)blk_req_le32(p + 4) << 32);
}

/* Set an immediate answer. */
static void
blk_req_answer(struct blk_parse *p, uint8_t status, const char *why,
    int warn)
{
	p->op = BLK_OP_ANSWER;
	p->status = status;
	p->why = why;
	p->warn = warn;
}

/*
 * Check that `len` bytes at `sector` are whole sectors, aligned to the
 * device's block size and inside the device.  0, or -1 with the answer
 * set.
 */
static int
blk_req_range_ok(const struct blk_limits *l, uint64_t sector, uint64_t len,
    struct blk_parse *p)
{
	uint64_t	 n = len >> BLK_SECTOR_SHIFT;

	if (len % BLK_SECTOR != 0) {
		blk_req_answer(p, BLK_S_IOERR, "data is not a whole number "
		    "of sectors", 1);
		return (-1);
	}
	if (sector > l->capacity || n > l->capacity - sector) {
		blk_req_answer(p, BLK_S_IOERR, "sector range past the end "
		    "of the device", 1);
		return (-1);
	}
	if (l->align > BLK_SECTOR &&
	    (((sector << BLK_SECTOR_SHIFT) | len) & (l->align - 1)) != 0) {
		blk_req_answer(p, BLK_S_IOERR, "request not aligned to the "
		    "block size", 1);
		return (-1);
	}
	return (0);
}

/* Parse one request; see blk.h.  Any thread. */
void
blk_req_parse(const struct blk_limits *l, const uint8_t *hdr, size_t rlen,
    size_t wlen, struct blk_parse *p)
{
	size_t	 payload;

	memset(p, 0, sizeof(*p));
	if (wlen == 0) {
		p->op = BLK_OP_DROP;
		p->why = "no device-writable status byte";
		p->warn = 1;
		return;
	}
	p->status_off = wlen - 1;
	if (rlen < BLK_HDR_SIZE) {
		blk_req_answer(p, BLK_S_IOERR, "request header shorter than "
		    "16 bytes", 1);
		return;
	}
	p->type = blk_req_le32(hdr);
	p->sector = blk_req_le64(hdr + 8);
	payload = rlen - BLK_HDR_SIZE;

	switch (p->type) {
	case BLK_T_IN:
		p->len = wlen - 1;
		p->data_off = 0;
		if (blk_req_range_ok(l, p->sector, p->len, p) != 0)
			return;
		if (p->len == 0)
			blk_req_answer(p, BLK_S_OK, NULL, 0);
		else
			p->op = BLK_OP_READ;
		return;
	case BLK_T_OUT:
		if (l->readonly) {
			blk_req_answer(p, BLK_S_IOERR, "write to a read-only "
			    "device", 0);
			return;
		}
		p->len = payload;
		p->data_off = BLK_HDR_SIZE;
		if (blk_req_range_ok(l, p->sector, p->len, p) != 0)
			return;
		if (p->len == 0)
			blk_req_answer(p, BLK_S_OK, NULL, 0);
		else
			p->op = BLK_OP_WRITE;
		return;
	case BLK_T_FLUSH:
		if (l->readonly)
			blk_req_answer(p, BLK_S_OK, NULL, 0);
		else
			p->op = BLK_OP_FLUSH;
		return;
	case BLK_T_GET_ID:
		p->len = wlen - 1 < BLK_ID_BYTES ? wlen - 1 : BLK_ID_BYTES;
		p->op = BLK_OP_GET_ID;
		return;
	case BLK_T_DISCARD:
	case BLK_T_WRITE_ZEROES:
		if (!(p->type == BLK_T_DISCARD ? l->discard : l->zeroes)) {
			blk_req_answer(p, BLK_S_UNSUPP, "discard or write "
			    "zeroes not negotiated", 1);
			return;
		}
		if (l->readonly) {
			blk_req_answer(p, BLK_S_IOERR, "write to a read-only "
			    "device", 0);
			return;
		}
		if (payload == 0 || payload % BLK_DWZ_SIZE != 0) {
			blk_req_answer(p, BLK_S_IOERR, "range list is not a "
			    "whole number of 16-byte ranges", 1);
			return;
		}
		if (payload / BLK_DWZ_SIZE > BLK_DWZ_SEG_MAX) {
			blk_req_answer(p, BLK_S_UNSUPP, "more ranges than "
			    "max_discard_seg", 1);
			return;
		}
		p->nranges = (unsigned)(payload / BLK_DWZ_SIZE);
		p->data_off = BLK_HDR_SIZE;
		p->op = p->type == BLK_T_DISCARD ? BLK_OP_DISCARD :
		    BLK_OP_ZEROES;
		return;
	default:
		blk_req_answer(p, BLK_S_UNSUPP, "unknown request type", 1);
		return;
	}
}

/* Check and decode the ranges of a DISCARD or WRITE_ZEROES.  Any
 * thread. */
uint8_t
blk_req_ranges(const struct blk_limits *l, int zeroes, const uint8_t *raw,
    unsigned n, struct blk_range *out, const char **why)
{
	struct blk_parse	 p;
	unsigned		 i;

	*why = NULL;
	for (i = 0; i < n; i++) {
		out[i].sector = blk_req_le64(raw + i * BLK_DWZ_SIZE);
		out[i].num_sectors = blk_req_le32(raw + i * BLK_DWZ_SIZE + 8);
		out[i].flags = blk_req_le32(raw + i * BLK_DWZ_SIZE + 12);
		if ((out[i].flags & ~(uint32_t)BLK_DWZ_F_UNMAP) != 0) {
			*why = "unknown range flags";
			return (BLK_S_UNSUPP);
		}
		if (!zeroes && (out[i].flags & BLK_DWZ_F_UNMAP) != 0) {
			*why = "UNMAP flag on a discard";
			return (BLK_S_UNSUPP);
		}
		if (!l->may_unmap)
			out[i].flags &= ~(uint32_t)BLK_DWZ_F_UNMAP;
		if (out[i].num_sectors > BLK_DWZ_SECTORS_MAX) {
			*why = "range larger than max_discard_sectors";
			return (BLK_S_IOERR);
		}
		memset(&p, 0, sizeof(p));
		if (blk_req_range_ok(l, out[i].sector,
		    (uint64_t)out[i].num_sectors << BLK_SECTOR_SHIFT, &p) != 0) {
			*why = p.why;
			return (p.status);
		}
	}
	return (BLK_S_OK);
}
