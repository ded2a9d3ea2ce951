/*
 * Dirty logging for live migration (VHOST_F_LOG_ALL, LOG_SHMFD).
 *
 * The frontend shares a bitmap (SET_LOG_BASE: a memfd, its size and an
 * offset); bit gpa / 4096 says "this guest page changed".  While the
 * acked virtio features carry LOG_ALL, every byte the core writes into
 * guest memory on behalf of a device is logged: the used ring (at the
 * ring's log_guest_addr when SET_VRING_ADDR set VHOST_VRING_F_LOG), bytes
 * a module copies with chain_write, and the writable buffers of a pushed
 * chain for the length pushed (what a module wrote through chain_iov).
 * Modules never see any of it.
 *
 * A `struct dirty_log` is immutable once published (dev->log, an atomic
 * pointer, like the memory table): every SET_LOG_BASE or SET_LOG_FD builds
 * a new one, and the old one is freed only after every worker of the
 * device has passed a quiescent point.  Bits are set with an atomic OR,
 * because QEMU reads and clears the bitmap concurrently with an atomic
 * exchange per word, and every back-end of a VM shares it.
 *
 * A log too small for the memory map is refused at SET_LOG_BASE; a write
 * that still lands past the end of the log (memory grown without a new
 * log) fails the device: the migration would otherwise silently miss it.
 */

#ifndef VHOSTD_DIRTY_LOG_H
#define VHOSTD_DIRTY_LOG_H

#include <stdint.h>
#include <stddef.h>

#include "compat.h"

struct device;
struct guest_mem;
struct vring;
struct vring_chain;

/* Guest page size of the log: one bit per 4 KiB. */
#define DIRTY_LOG_PAGE		4096ULL

/* A mapped log; shared by the dirty_log structs built from it. */
struct dirty_log_map {
	void		*addr;		/* mmap, [0, offset + size) */
	size_t		 len;
	int		 refcnt;	/* main thread only */
};

struct dirty_log {
	struct dirty_log_map	*map;	/* NULL: no log base yet */
	uint8_t			*bits;	/* map->addr + offset */
	uint64_t		 size;	/* bytes of bitmap */
	int			 call_fd; /* SET_LOG_FD eventfd, or -1 */
};

/*
 * SET_LOG_BASE: map `size` bytes at `offset` of `fd` (taken, closed here
 * either way) and publish it.  Refused (-1, *cause) when size is 0, the
 * range overflows or lies past the end of the file, or the bitmap does
 * not cover the current memory map.  Main thread.
 */
int	 dirty_log_set_base(struct device *, int fd, uint64_t size,
	    uint64_t offset, char **cause) __must_check;
/* SET_LOG_FD: the eventfd to signal after logging (taken), or -1 to
 * drop it.  Main thread. */
void	 dirty_log_set_fd(struct device *, int fd);
/* Drop the log (device reset).  Main thread. */
void	 dirty_log_clear(struct device *);
/* Bytes of bitmap needed to cover every page of `mem`. */
uint64_t dirty_log_need(const struct guest_mem *mem);

/* Is logging on (LOG_ALL acked)?  Any thread. */
int	 dirty_log_active(struct device *);
/* Log [gpa, gpa + len) when logging is on.  Worker. */
void	 dirty_log_write(struct device *, uint64_t gpa, uint64_t len);
/* Log a used-ring write of `len` bytes at `offset` into the used ring,
 * when the ring asked for it (VHOST_VRING_F_LOG).  Worker. */
void	 dirty_log_used(struct vring *, uint64_t offset, uint64_t len);
/* Log `len` bytes of a chain's writable part from `offset` (what
 * chain_write copied).  Worker. */
void	 dirty_log_chain(struct vring_chain *, size_t offset, size_t len);
/* A chain was pushed as used entry `slot` with `len` bytes: log the
 * buffers, the used entry and used->idx.  Worker. */
void	 dirty_log_push(struct vring *, struct vring_chain *, uint32_t len,
	    unsigned slot);
/* The same for a packed ring (descriptor `slot` written back). */
void	 dirty_log_push_packed(struct vring *, struct vring_chain *,
	    uint32_t len, unsigned slot);
/* Signal the SET_LOG_FD eventfd, if any, after a batch of writes.
 * Worker. */
void	 dirty_log_kick(struct device *);

#endif /* VHOSTD_DIRTY_LOG_H */
