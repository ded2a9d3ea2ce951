/*
 * Guest memory.  Regions are mmap'd from the fds the frontend passes with
 * SET_MEM_TABLE or ADD_MEM_REG and gathered into immutable tables sorted by
 * guest-physical address; translation is a binary search that also returns
 * how many bytes are contiguous from the address, so callers loop over
 * region boundaries instead of assuming a buffer lies in one region.
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest_fault.h"
#include "guest_mem.h"
#include "log.h"
#include "xmalloc.h"

/* Generation numbers of tables; 0 is never used, so it means "none". */
static atomic_uint_fast64_t guest_mem_next_gen = 1;

/*
 * Map `size` bytes at `mmap_offset` of `fd` as guest memory at `gpa`.
 * Returns NULL with *cause set on bad values or failure.  Main thread.
 */
struct guest_region *
guest_region_map(int fd, uint64_t gpa, uint64_t size, uint64_t uva,
    uint64_t mmap_offset, char **cause)
{
	struct guest_region	*r;
	struct stat		 st;
	uint64_t		 map_len;
	void			*p;
	int			 sealed;

	if (size == 0) {
		xasprintf(cause, "region at 0x%llx has size 0",
		    (unsigned long long)gpa);
		return (NULL);
	}
	if (size - 1 > UINT64_MAX - gpa) {
		xasprintf(cause, "region at 0x%llx size 0x%llx wraps the "
		    "guest address space", (unsigned long long)gpa,
		    (unsigned long long)size);
		return (NULL);
	}
	if (size - 1 > UINT64_MAX - uva) {
		xasprintf(cause, "region at 0x%llx: frontend address 0x%llx "
		    "size 0x%llx wraps", (unsigned long long)gpa,
		    (unsigned long long)uva, (unsigned long long)size);
		return (NULL);
	}
	if (mmap_offset > UINT64_MAX - size) {
		xasprintf(cause, "region at 0x%llx: mmap offset 0x%llx + size "
		    "0x%llx overflows", (unsigned long long)gpa,
		    (unsigned long long)mmap_offset, (unsigned long long)size);
		return (NULL);
	}
	map_len = mmap_offset + size;
	if (map_len > (uint64_t)SIZE_MAX || map_len > (uint64_t)INT64_MAX) {
		xasprintf(cause, "region at 0x%llx: 0x%llx bytes cannot be "
		    "mapped", (unsigned long long)gpa,
		    (unsigned long long)map_len);
		return (NULL);
	}
	/* Seal before the size check, so the size checked is the size the
	 * file keeps. */
	sealed = guest_fault_seal(fd);
	if (fstat(fd, &st) == -1) {
		xasprintf(cause, "region at 0x%llx: fstat: %s",
		    (unsigned long long)gpa, strerror(errno));
		return (NULL);
	}
	/* memfds and files have a size to check; devices (hugetlbfs
	 * character devices, dax) do not report one. */
	if (S_ISREG(st.st_mode) && (st.st_size < 0 ||
	    map_len > (uint64_t)st.st_size)) {
		xasprintf(cause, "region at 0x%llx: offset 0x%llx + size "
		    "0x%llx is past the end of the file (0x%llx bytes)",
		    (unsigned long long)gpa, (unsigned long long)mmap_offset,
		    (unsigned long long)size, (unsigned long long)st.st_size);
		return (NULL);
	}
	if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) &&
	    !S_ISBLK(st.st_mode)) {
		xasprintf(cause, "region at 0x%llx: fd is not a file or "
		    "device", (unsigned long long)gpa);
		return (NULL);
	}

	p = mmap(NULL, (size_t)map_len, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED) {
		xasprintf(cause, "region at 0x%llx: mmap of 0x%llx bytes: %s",
		    (unsigned long long)gpa, (unsigned long long)map_len,
		    strerror(errno));
		return (NULL);
	}

	r = xcalloc(1, sizeof *r);
	r->gpa = gpa;
	r->size = size;
	r->uva = uva;
	r->mmap_offset = mmap_offset;
	r->map_addr = p;
	r->map_size = (size_t)map_len;
	r->host = (uint8_t *)p + mmap_offset;
	r->refcnt = 1;
	r->sealed = sealed;
	r->fault = guest_fault_register(p, r->map_size, r->host, gpa, size);
	log_debug("%s: region at 0x%llx: %s", __func__,
	    (unsigned long long)gpa, sealed ? "the file cannot shrink" :
	    "the file cannot be sealed against shrinking (SIGBUS recovery)");
	return (r);
}

/* Take a reference on a region.  Main thread. */
void
guest_region_ref(struct guest_region *r)
{
	r->refcnt++;
}

/* Drop a reference; unmap and free the region at zero.  Main thread. */
void
guest_region_unref(struct guest_region *r)
{
	if (r == NULL)
		return;
	if (--r->refcnt > 0)
		return;
	/* Out of the registry before the addresses can be reused. */
	guest_fault_unregister(r->fault);
	if (munmap(r->map_addr, r->map_size) == -1)
		log_warn("munmap of guest region at 0x%llx",
		    (unsigned long long)r->gpa);
	free(r);
}

/* qsort comparison of regions by guest-physical address. */
static int
guest_mem_cmp_gpa(const void *a, const void *b)
{
	const struct guest_region *ra = *(struct guest_region *const *)a;
	const struct guest_region *rb = *(struct guest_region *const *)b;

	if (ra->gpa < rb->gpa)
		return (-1);
	return (ra->gpa > rb->gpa);
}

/* qsort comparison of regions by frontend virtual address. */
static int
guest_mem_cmp_uva(const void *a, const void *b)
{
	const struct guest_region *ra = *(struct guest_region *const *)a;
	const struct guest_region *rb = *(struct guest_region *const *)b;

	if (ra->uva < rb->uva)
		return (-1);
	return (ra->uva > rb->uva);
}

/*
 * Build a table from `n` regions, taking a reference on each.  NULL with
 * *cause on overlap or too many regions.  Main thread.
 */
struct guest_mem *
guest_mem_new(struct guest_region **regions, unsigned n, char **cause)
{
	struct guest_mem	 *mem;
	struct guest_region	**byva = NULL;
	const struct guest_region *a, *b;
	unsigned		  i;

	if (n > GUEST_MEM_MAX_REGIONS) {
		xasprintf(cause, "%u memory regions, at most %u supported", n,
		    GUEST_MEM_MAX_REGIONS);
		return (NULL);
	}
	mem = xcalloc(1, sizeof *mem + (size_t)n * sizeof mem->regions[0]);
	mem->nregions = n;
	if (n > 0)
		memcpy(mem->regions, regions, n * sizeof regions[0]);
	qsort(mem->regions, n, sizeof mem->regions[0], guest_mem_cmp_gpa);

	/* Sizes were checked not to wrap in guest_region_map. */
	for (i = 1; i < n; i++) {
		a = mem->regions[i - 1];
		b = mem->regions[i];
		if (b->gpa - a->gpa < a->size) {
			xasprintf(cause, "memory regions at 0x%llx and 0x%llx "
			    "overlap", (unsigned long long)a->gpa,
			    (unsigned long long)b->gpa);
			goto fail;
		}
	}

	byva = xcalloc(n == 0 ? 1 : n, sizeof *byva);
	if (n > 0)
		memcpy(byva, regions, n * sizeof regions[0]);
	qsort(byva, n, sizeof byva[0], guest_mem_cmp_uva);
	for (i = 1; i < n; i++) {
		a = byva[i - 1];
		b = byva[i];
		if (b->uva - a->uva < a->size) {
			xasprintf(cause, "memory regions at 0x%llx and 0x%llx "
			    "overlap in the frontend's address space "
			    "(0x%llx and 0x%llx)", (unsigned long long)a->gpa,
			    (unsigned long long)b->gpa,
			    (unsigned long long)a->uva,
			    (unsigned long long)b->uva);
			goto fail;
		}
	}
	free(byva);

	for (i = 0; i < n; i++)
		guest_region_ref(mem->regions[i]);
	mem->gen = atomic_fetch_add(&guest_mem_next_gen, 1);
	return (mem);

fail:
	free(byva);
	free(mem);
	return (NULL);
}

/* Drop the table and its region references.  Main thread. */
void
guest_mem_free(struct guest_mem *mem)
{
	unsigned	 i;

	if (mem == NULL)
		return;
	for (i = 0; i < mem->nregions; i++)
		guest_region_unref(mem->regions[i]);
	free(mem);
}

/* Name the owning device of every region of the table.  Main thread. */
void
guest_mem_set_owner(struct guest_mem *mem, struct device *dev)
{
	unsigned	 i;

	if (mem == NULL)
		return;
	for (i = 0; i < mem->nregions; i++)
		guest_fault_set_owner(mem->regions[i]->fault, dev);
}

/* The region holding gpa, or NULL.  Binary search.  Any thread. */
static const struct guest_region *
guest_mem_lookup(const struct guest_mem *mem, uint64_t gpa)
{
	const struct guest_region *r;
	unsigned		 lo, hi, mid;

	if (mem == NULL || mem->nregions == 0)
		return (NULL);
	/* Find the last region starting at or below gpa. */
	lo = 0;
	hi = mem->nregions;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (mem->regions[mid]->gpa <= gpa)
			lo = mid;
		else
			hi = mid;
	}
	r = mem->regions[lo];
	if (gpa < r->gpa || gpa - r->gpa >= r->size)
		return (NULL);
	return (r);
}

/*
 * Translate gpa to a host address, clamping *len to the bytes contiguous
 * from there.  NULL when unmapped.  Any thread.
 */
void *
guest_mem_translate(const struct guest_mem *mem, uint64_t gpa, uint64_t *len)
{
	const struct guest_region *r;
	uint64_t		 off;

	if ((r = guest_mem_lookup(mem, gpa)) == NULL)
		return (NULL);
	off = gpa - r->gpa;
	if (*len > r->size - off)
		*len = r->size - off;
	return (r->host + off);
}

/* Translate [gpa, gpa+len) that must lie in one region, or NULL.  Any
 * thread. */
void *
guest_mem_range(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	uint64_t	 got = len;
	void		*p;

	p = guest_mem_translate(mem, gpa, &got);
	if (p == NULL || got != len)
		return (NULL);
	return (p);
}

/* Convert a frontend virtual address to guest-physical: 0, or -1 when no
 * region holds it.  Any thread. */
int
guest_mem_uva_to_gpa(const struct guest_mem *mem, uint64_t uva,
    uint64_t *gpa)
{
	const struct guest_region *r;
	unsigned		 i;

	if (mem == NULL)
		return (-1);
	/* Sorted by gpa, not uva: a linear scan, used only on
	 * SET_VRING_ADDR. */
	for (i = 0; i < mem->nregions; i++) {
		r = mem->regions[i];
		if (uva >= r->uva && uva - r->uva < r->size) {
			*gpa = r->gpa + (uva - r->uva);
			return (0);
		}
	}
	return (-1);
}

/* Index of the region that starts at gpa and has this size, or -1.  Any
 * thread. */
int
guest_mem_find(const struct guest_mem *mem, uint64_t gpa, uint64_t size)
{
	unsigned	 lo, hi, mid;

	if (mem == NULL)
		return (-1);
	lo = 0;
	hi = mem->nregions;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (mem->regions[mid]->gpa == gpa) {
			if (mem->regions[mid]->size == size)
				return ((int)mid);
			return (-1);
		}
		if (mem->regions[mid]->gpa < gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (-1);
}
