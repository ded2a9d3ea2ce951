/*
 * vsock packets over descriptor chains, and the byte ring that holds
 * guest-to-host data the host has not read yet.
 *
 * The spec does not fix the descriptor layout: the 44-byte header and the
 * payload may share one descriptor or be spread over any number of them
 * (Linux >= 6.2 uses one, older kernels two, large packets several).
 * Everything here goes through api->chain_read/chain_write/chain_iov,
 * which see the readable or writable part of a chain as one byte range,
 * so no layout is special.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vhostd/vhostd.h>

#include "vsock.h"

/* Read a little-endian integer of `n` bytes.  Any thread. */
static uint64_t
vsock_pkt_get(const uint8_t *p, unsigned n)
{
	uint64_t	 v = 0;

	while (n-- > 0)
		v = (v << 8) | p[n];
	return (v);
}

/* Write a little-endian integer of `n` bytes.  Any thread. */
static void
vsock_pkt_put(uint8_t *p, uint64_t v, unsigned n)
{
	unsigned	 i;

	for (i = 0; i < n; i++) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* Decode a 44-byte wire header.  Any thread. */
void
vsock_pkt_decode(const uint8_t *p, struct vsock_hdr *h)
{
	h->src_cid = vsock_pkt_get(p + 0, 8);
	h->dst_cid = vsock_pkt_get(p + 8, 8);
	h->src_port = (uint32_t)vsock_pkt_get(p + 16, 4);
	h->dst_port = (uint32_t)vsock_pkt_get(p + 20, 4);
	h->len = (uint32_t)vsock_pkt_get(p + 24, 4);
	h->type = (uint16_t)vsock_pkt_get(p + 28, 2);
	h->op = (uint16_t)vsock_pkt_get(p + 30, 2);
	h->flags = (uint32_t)vsock_pkt_get(p + 32, 4);
	h->buf_alloc = (uint32_t)vsock_pkt_get(p + 36, 4);
	h->fwd_cnt = (uint32_t)vsock_pkt_get(p + 40, 4);
}

/* Encode a header into 44 wire bytes.  Any thread. */
void
vsock_pkt_encode(const struct vsock_hdr *h, uint8_t *p)
{
	vsock_pkt_put(p + 0, h->src_cid, 8);
	vsock_pkt_put(p + 8, h->dst_cid, 8);
	vsock_pkt_put(p + 16, h->src_port, 4);
	vsock_pkt_put(p + 20, h->dst_port, 4);
	vsock_pkt_put(p + 24, h->len, 4);
	vsock_pkt_put(p + 28, h->type, 2);
	vsock_pkt_put(p + 30, h->op, 2);
	vsock_pkt_put(p + 32, h->flags, 4);
	vsock_pkt_put(p + 36, h->buf_alloc, 4);
	vsock_pkt_put(p + 40, h->fwd_cnt, 4);
}

/*
 * Read the header at the start of the chain's readable part, wherever its
 * bytes lie.  Returns 0, or -1 when the part is shorter than a header or
 * the memory is gone.  Worker.
 */
int
vsock_pkt_read_hdr(const struct vhd_api *api, struct vhd_chain *c,
    struct vsock_hdr *h)
{
	uint8_t	 raw[VSOCK_HDR_SIZE];

	if (api->chain_read(c, 0, raw, sizeof(raw)) != (ssize_t)sizeof(raw))
		return (-1);
	vsock_pkt_decode(raw, h);
	return (0);
}

/*
 * Write a header at the start of the chain's writable part.  Returns 0,
 * or -1 when the part is too short or the memory is gone.  Worker.
 */
int
vsock_pkt_write_hdr(const struct vhd_api *api, struct vhd_chain *c,
    const struct vsock_hdr *h)
{
	uint8_t	 raw[VSOCK_HDR_SIZE];

	vsock_pkt_encode(h, raw);
	if (api->chain_write(c, 0, raw, sizeof(raw)) != (ssize_t)sizeof(raw))
		return (-1);
	return (0);
}

/* Allocate a ring of `cap` bytes.  0 or -1.  Worker. */
int
vsock_ring_init(struct vsock_ring *r, uint32_t cap)
{
	if ((r->data = malloc(cap)) == NULL)
		return (-1);
	r->cap = cap;
	r->head = 0;
	r->len = 0;
	return (0);
}

/* Free a ring's memory.  Worker. */
void
vsock_ring_free(struct vsock_ring *r)
{
	free(r->data);
	r->data = NULL;
	r->cap = r->head = r->len = 0;
}

/* Free bytes in the ring.  Worker. */
uint32_t
vsock_ring_space(const struct vsock_ring *r)
{
	return (r->cap - r->len);
}

/*
 * Append `len` bytes of the chain's readable part, starting at `off`, to
 * the ring.  Returns 0, or -1 when they do not fit or guest memory is
 * gone.  Worker.
 */
int
vsock_ring_put_chain(struct vsock_ring *r, const struct vhd_api *api,
    struct vhd_chain *c, size_t off, size_t len)
{
	uint32_t	 tail, n;
	ssize_t		 got;

	if (len > vsock_ring_space(r))
		return (-1);
	while (len > 0) {
		tail = (r->head + r->len) % r->cap;
		n = r->cap - tail;
		if (n > len)
			n = (uint32_t)len;
		got = api->chain_read(c, off, r->data + tail, n);
		if (got != (ssize_t)n)
			return (-1);
		r->len += n;
		off += n;
		len -= n;
	}
	return (0);
}

/*
 * Describe the first `len` bytes of the ring (len <= r->len) with one or
 * two iovecs; returns the count.  Worker.
 */
int
vsock_ring_iov(const struct vsock_ring *r, uint32_t len, struct iovec *iov)
{
	uint32_t	 first;

	if (len == 0)
		return (0);
	first = r->cap - r->head;
	if (first >= len) {
		iov[0].iov_base = r->data + r->head;
		iov[0].iov_len = len;
		return (1);
	}
	iov[0].iov_base = r->data + r->head;
	iov[0].iov_len = first;
	iov[1].iov_base = r->data;
	iov[1].iov_len = len - first;
	return (2);
}

/* Drop `n` bytes (n <= r->len) from the front of the ring; an empty
 * ring may have no storage yet (cap 0).  Worker. */
void
vsock_ring_consume(struct vsock_ring *r, uint32_t n)
{
	r->len -= n;
	if (r->len == 0)
		r->head = 0;
	else
		r->head = (r->head + n) % r->cap;
}
