/*
 * Guest memory: regions mmap'd from the fds a frontend passes, and
 * guest-physical to host translation.
 *
 * A `struct guest_mem` is an immutable, sorted table of regions.  The main
 * thread builds a new table for every SET_MEM_TABLE, ADD_MEM_REG and
 * REM_MEM_REG and publishes it (device.h: dev->mem, an atomic pointer);
 * workers load the pointer at the start of each callback and use it only
 * within that callback.  The old table is released only after every worker
 * of the device has passed a quiescent point (worker_sync), so a worker
 * never touches an unmapped region.  Regions are reference-counted so a
 * table built by ADD_MEM_REG shares the existing mappings; the counts are
 * touched by the main thread only.
 *
 * A frontend that shrinks a region's file under the mapping must not kill
 * the daemon with SIGBUS: guest_region_map seals memfds against shrinking
 * where it can, and registers every mapping for SIGBUS recovery
 * (guest_fault.h).
 */

#ifndef VHOSTD_GUEST_MEM_H
#define VHOSTD_GUEST_MEM_H

#include <stdint.h>
#include <stddef.h>

#include "compat.h"

struct device;
struct guest_fault_slot;

/* Most regions a device accepts (GET_MAX_MEM_SLOTS). */
#define GUEST_MEM_MAX_REGIONS 509

struct guest_region {
	uint64_t	 gpa;		/* guest-physical start */
	uint64_t	 size;		/* bytes */
	uint64_t	 uva;		/* frontend's virtual address */
	uint64_t	 mmap_offset;	/* offset of gpa in the fd */
	void		*map_addr;	/* our mmap, covers [0, offset+size) */
	size_t		 map_size;
	uint8_t		*host;		/* host address of gpa */
	int		 refcnt;	/* main thread only */
	int		 sealed;	/* the file cannot shrink */
	int		 pc_registered;	/* with the postcopy userfaultfd */
	struct guest_fault_slot *fault;	/* SIGBUS registry entry */
};

struct guest_mem {
	uint64_t		 gen;	/* changes with every new table */
	unsigned		 nregions;
	struct guest_region	*regions[];	/* sorted by gpa, disjoint */
};

/*
 * Map `size` bytes at `mmap_offset` of `fd` as guest memory at `gpa`.
 * Checks size != 0, offset + size without overflow and within the file
 * (fstat), gpa + size without overflow.  A memfd that allows it is sealed
 * against shrinking first (F_SEAL_SHRINK).  Does not take or close fd.
 * Returns NULL with *cause set.  Main thread.  The region has refcnt 1.
 */
struct guest_region *guest_region_map(int fd, uint64_t gpa, uint64_t size,
	    uint64_t uva, uint64_t mmap_offset, char **cause) __must_check;
void	 guest_region_ref(struct guest_region *);
void	 guest_region_unref(struct guest_region *);	/* munmap at 0 */

/*
 * Build a table from `n` regions, taking a reference on each.  Fails
 * (NULL, *cause) when guest-physical ranges or frontend VA ranges overlap
 * or n > GUEST_MEM_MAX_REGIONS.  n == 0 gives an empty table.  Main thread.
 */
struct guest_mem *guest_mem_new(struct guest_region **regions, unsigned n,
	    char **cause) __must_check;
/* Drop the table and its region references.  Main thread. */
void	 guest_mem_free(struct guest_mem *);
/* Name the device whose regions these are (the one failed when one of
 * them takes SIGBUS).  NULL mem is a no-op.  Main thread. */
void	 guest_mem_set_owner(struct guest_mem *, struct device *);

/*
 * Translate a guest-physical address.  Returns the host address and sets
 * *len to the bytes contiguous from there (never more than the *len asked
 * for; the caller loops over region boundaries), or NULL when gpa is not
 * mapped.  NULL mem is an empty table.  Any thread.  O(log n).
 */
void	*guest_mem_translate(const struct guest_mem *mem, uint64_t gpa,
	    uint64_t *len) __must_check;
/* As translate, but the whole [gpa, gpa+len) must be contiguous in one
 * region; NULL otherwise. */
void	*guest_mem_range(const struct guest_mem *mem, uint64_t gpa,
	    uint64_t len) __must_check;
/* Frontend VA to guest-physical (SET_VRING_ADDR).  0 or -1. */
int	 guest_mem_uva_to_gpa(const struct guest_mem *mem, uint64_t uva,
	    uint64_t *gpa) __must_check;
/* Index of the region exactly matching gpa and size, or -1. */
int	 guest_mem_find(const struct guest_mem *mem, uint64_t gpa,
	    uint64_t size);

#endif /* VHOSTD_GUEST_MEM_H */
