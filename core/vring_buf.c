/*
 * A popped chain's buffers: copying out of its device-readable part, into
 * its device-writable part, and mapping either as iovecs for zero-copy
 * I/O.  Segments hold guest-physical addresses, translated again on every
 * access, so a chain survives memory updates; a buffer no longer in guest
 * memory makes the access fail (-1), never fault.  Split and packed rings
 * alike (the walkers in vring_chain.c and vring_packed.c fill the
 * segments).  Worker.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "guest_mem.h"
#include "vring.h"

/*
 * Copy between buf and segments [first, last) of a chain, starting
 * `offset` bytes in.  Returns the bytes copied, or -1 when a buffer is no
 * longer in guest memory.
 */
static ssize_t
vring_chain_copy(struct vring_chain *c, const struct guest_mem *mem,
    unsigned first, unsigned last, size_t offset, uint8_t *buf, size_t len,
    int to_guest)
{
	const struct vring_seg	*s;
	size_t			 done = 0;
	uint64_t		 gpa, left, n;
	uint8_t			*p;
	unsigned		 i;

	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	for (i = first; i < last && done < len; i++) {
		s = &c->segs[i];
		if (offset >= s->len) {
			offset -= s->len;
			continue;
		}
		gpa = s->gpa + offset;
		left = s->len - offset;
		offset = 0;
		if (left > len - done)
			left = len - done;
		while (left > 0) {
			n = left;
			p = guest_mem_translate(mem, gpa, &n);
			if (p == NULL || n == 0)
				return (-1);
			if (to_guest)
				memcpy(p, buf + done, (size_t)n);
			else
				memcpy(buf + done, p, (size_t)n);
			done += (size_t)n;
			gpa += n;
			left -= n;
		}
	}
	return ((ssize_t)done);
}

/* Copy out of the chain's readable part.  Worker. */
ssize_t
vring_chain_read(struct vring_chain *c, const struct guest_mem *mem,
    size_t offset, void *buf, size_t len)
{
	return (vring_chain_copy(c, mem, 0, c->nread, offset, buf, len, 0));
}

/* Copy into the chain's writable part.  Worker. */
ssize_t
vring_chain_write(struct vring_chain *c, const struct guest_mem *mem,
    size_t offset, const void *buf, size_t len)
{
	/* The buffer is only read when copying to the guest. */
	return (vring_chain_copy(c, mem, c->nread, c->nsegs, offset,
	    (uint8_t *)(uintptr_t)buf, len, 1));
}

/* Map up to `max` iovecs of the readable or writable part from `offset`.
 * The count, or -1 when a buffer is no longer in guest memory.  Worker. */
int
vring_chain_iov(struct vring_chain *c, const struct guest_mem *mem,
    int writable, size_t offset, struct iovec *iov, int max)
{
	const struct vring_seg	*s;
	unsigned		 i, first, last;
	uint64_t		 gpa, left, n;
	void			*p;
	int			 cnt = 0;

	if (max < 0)
		return (-1);
	first = writable ? c->nread : 0;
	last = writable ? c->nsegs : c->nread;
	for (i = first; i < last && cnt < max; i++) {
		s = &c->segs[i];
		if (offset >= s->len) {
			offset -= s->len;
			continue;
		}
		gpa = s->gpa + offset;
		left = s->len - offset;
		offset = 0;
		while (left > 0 && cnt < max) {
			n = left;
			p = guest_mem_translate(mem, gpa, &n);
			if (p == NULL || n == 0)
				return (-1);
			iov[cnt].iov_base = p;
			iov[cnt].iov_len = (size_t)n;
			cnt++;
			gpa += n;
			left -= n;
		}
	}
	return (cnt);
}
