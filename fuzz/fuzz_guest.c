/*
 * The fake guest memory of the ring fuzz targets (fuzz_vring,
 * fuzz_vring_packed): region A [0, 64 KiB) and region B [64 KiB, 128 KiB)
 * are adjacent but come from different memfds (so they are not adjacent
 * in our address space), and nothing else is mapped; and the oracle they
 * share for a popped chain.
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
#include "fuzz_guest.h"
#include "guest_mem.h"
#include "log.h"
#include "vhost_user.h"
#include "vring.h"

struct guest_mem		*fuzz_guest_mem;
static struct guest_region	*fuzz_r[2];

/* Map the two regions once per process; `name` names the memfds. */
void
fuzz_guest_init(const char *name)
{
	char		*cause = NULL;
	unsigned	 i;
	int		 fd;

	log_init(getenv("FUZZ_VERBOSE") != NULL ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_ERR, 0);
	for (i = 0; i < 2; i++) {
		fd = memfd_create(name, MFD_CLOEXEC);
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
	if ((fuzz_guest_mem = guest_mem_new(fuzz_r, 2, &cause)) == NULL) {
		fprintf(stderr, "guest_mem_new: %s\n", cause);
		abort();
	}
}

/* Is [p, p+len) inside one of the two host mappings? */
static int
fuzz_guest_host_ok(const void *p, size_t len)
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
void
fuzz_guest_check_chain(const struct vring_chain *c)
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
void
fuzz_guest_use_chain(struct vring_chain *c, uint8_t how)
{
	struct iovec	 iov[8];
	uint8_t		 buf[512];
	ssize_t		 n;
	int		 cnt, i;

	n = vring_chain_read(c, fuzz_guest_mem, how & 7, buf, sizeof buf);
	if (n < 0 || (size_t)n > sizeof buf)
		abort();
	memset(buf, 0xa5, sizeof buf);
	n = vring_chain_write(c, fuzz_guest_mem, how & 3, buf, sizeof buf);
	if (n < 0 || (size_t)n > sizeof buf)
		abort();
	cnt = vring_chain_iov(c, fuzz_guest_mem, how & 1, how >> 4, iov, 8);
	if (cnt < 0 || cnt > 8)
		abort();
	for (i = 0; i < cnt; i++) {
		if (!fuzz_guest_host_ok(iov[i].iov_base, iov[i].iov_len))
			abort();
	}
}

/* Zero guest memory and copy the `n` bytes at `p` into it from gpa 0 on
 * (what does not fit is ignored). */
void
fuzz_guest_load(const uint8_t *p, size_t n)
{
	memset(fuzz_r[0]->host, 0, FUZZ_REGION);
	memset(fuzz_r[1]->host, 0, FUZZ_REGION);
	if (n > FUZZ_MEMSZ)
		n = FUZZ_MEMSZ;
	if (n > FUZZ_REGION) {
		memcpy(fuzz_r[0]->host, p, FUZZ_REGION);
		memcpy(fuzz_r[1]->host, p + FUZZ_REGION, n - FUZZ_REGION);
	} else
		memcpy(fuzz_r[0]->host, p, n);
}

/*
 * Pop chains from `vq` until it is empty or fails, checking each
 * (fuzz_guest_check_chain and, if not NULL, check_chain) and using it,
 * then completing it the way `how` picks: held back and pushed at the
 * end, pushed with its length, rewound and popped again, or pushed with
 * a length past it.  check_ring, if not NULL, runs after every pop and
 * push.  Bounded: completed chains may be popped again.
 */
void
fuzz_guest_run(struct vring *vq, uint8_t how,
    void (*check_ring)(const struct vring *),
    void (*check_chain)(const struct vring *, const struct vring_chain *))
{
	struct vring_chain	*c, *held[8];
	const char		*err;
	unsigned		 nheld = 0, i, pops = 0;

	while (pops++ < 2048) {
		err = NULL;
		c = vring_pop(vq, fuzz_guest_mem, &err);
		if (check_ring != NULL)
			check_ring(vq);
		if (c == NULL)
			break;
		fuzz_guest_check_chain(c);
		if (check_chain != NULL)
			check_chain(vq, c);
		fuzz_guest_use_chain(c, how);
		switch ((how + pops) % 4) {
		case 0:
			if (nheld < nitems(held)) {
				held[nheld++] = c;
				break;
			}
			FALLTHROUGH;
		case 1:
			vring_push(vq, fuzz_guest_mem, c, (uint32_t)c->wlen);
			break;
		case 2:
			if (vring_rewind(vq, c) != 0)
				abort();
			/* Pop it again (our writes may have changed the
			 * rings, so it may now fail) and complete it. */
			if ((c = vring_pop(vq, fuzz_guest_mem, &err)) == NULL)
				goto out;
			fuzz_guest_check_chain(c);
			vring_push(vq, fuzz_guest_mem, c, 7);
			break;
		default:
			vring_push(vq, fuzz_guest_mem, c, UINT32_MAX);
			break;
		}
		if (check_ring != NULL)
			check_ring(vq);
		(void)vring_need_notify(vq, fuzz_guest_mem);
	}
out:
	for (i = 0; i < nheld; i++)
		vring_push(vq, fuzz_guest_mem, held[i], 1);
	if (check_ring != NULL)
		check_ring(vq);
	(void)vring_need_notify(vq, fuzz_guest_mem);
}
