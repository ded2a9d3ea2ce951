/*
 * Guest memory files shrunk under our mappings.
 *
 * A region is mmap'd MAP_SHARED from a file the frontend owns.  If the
 * frontend shrinks that file (ftruncate), every access to the pages past
 * its new end raises SIGBUS, which would kill the whole daemon.  Two
 * mechanisms keep that to the one device whose memory it is:
 *
 * 1. Sealing (guest_fault_seal, at map time).  A memfd that allows
 *    sealing and is not sealed against shrinking gets F_SEAL_SHRINK
 *    before its size is checked; the frontend's later ftruncate to
 *    shrink fails with EPERM.  QEMU's memory-backend-memfd seals by
 *    default, so nothing changes for it; growing stays allowed.
 *
 * 2. SIGBUS recovery, for files that cannot be sealed (a memfd created
 *    without MFD_ALLOW_SEALING or already F_SEAL_SEAL'd, tmpfs and
 *    hugetlbfs files).  Every guest mapping is in a lock-free registry.
 *    The SIGBUS handler (every thread; workers leave SIGBUS unblocked)
 *    looks si_addr up there with async-signal-safe reads only.  In a
 *    guest mapping, it maps anonymous memory over the whole mapping
 *    (MAP_FIXED, so the faulting instruction completes and reads zeros),
 *    marks the region faulted and wakes the main thread through an
 *    eventfd; the main thread logs it and fails the owning device.  A
 *    device_fail called first (the worker's walker seeing the zeros) is
 *    given the same reason through guest_fault_explain.  Outside guest
 *    memory, the previous handler runs (a sanitizer's), else the default
 *    action: a real bug still crashes.
 *
 * Why not longjmp out of the access: module code would be left with
 * locks held and state half-updated.  Replacing the mapping lets every
 * access complete, and a broken device ignores what it read.  Why the
 * whole mapping and not the faulting page: the rest of the callback (a
 * memcpy over many pages, other threads of the device) then takes no
 * further fault; the page (or huge page) is only the fallback when the
 * kernel refuses the large mapping.  Why an eventfd rather than checks
 * after each callback: faults can happen in any callback on any thread
 * (queue handlers, timers, fd watches, the main thread's SET_VRING_ADDR),
 * and one wakeup on the main loop covers them all without touching the
 * hot path.  The replaced mapping is unmapped as usual when the table
 * goes (reset, disconnect or a new memory table); it no longer holds the
 * file, so no fd or file reference leaks.
 *
 * Both, because neither is enough alone: sealing costs nothing and keeps
 * the guest's memory intact for a frontend that only made a mistake, but
 * not every file can be sealed; recovery covers every file, but the
 * device is lost.
 */

#ifndef VHOSTD_GUEST_FAULT_H
#define VHOSTD_GUEST_FAULT_H

#include <stddef.h>
#include <stdint.h>

#include "compat.h"

struct device;
struct event_base;
struct guest_fault_slot;

/*
 * Install the SIGBUS handler and, with a base, the main thread's eventfd
 * event that reports faults.  0 or -1 with *cause.  Main thread, before
 * any worker starts; once.
 */
int	 guest_fault_init(struct event_base *base, char **cause)
	    __must_check;
/* Restore the previous handler, drop the event and the eventfd, free the
 * registry.  Main thread, after every region is gone. */
void	 guest_fault_fini(void);

/*
 * Seal a region's fd against shrinking when it is a memfd that allows it.
 * Returns 1 when the file cannot shrink any more (sealed now or before),
 * 0 when it can (recovery covers it).  Main thread.
 */
int	 guest_fault_seal(int fd);

/* Register the guest mapping [addr, addr+len), whose guest-physical
 * `gpa` is at host address `host`.  Main thread, after the mmap. */
struct guest_fault_slot *guest_fault_register(void *addr, size_t len,
	    const void *host, uint64_t gpa, uint64_t size);
/* Forget it.  Main thread, before the munmap. */
void	 guest_fault_unregister(struct guest_fault_slot *);
/* The device to fail when the mapping faults.  Main thread. */
void	 guest_fault_set_owner(struct guest_fault_slot *, struct device *);
/* Has the mapping taken a SIGBUS?  Any thread. */
int	 guest_fault_faulted(const struct guest_fault_slot *);

/* Log and fail the owners of newly faulted mappings; how many there
 * were.  Main thread (the eventfd callback; tests). */
unsigned guest_fault_process(void);
/* Faults caught since start.  Any thread. */
unsigned long guest_fault_count(void);
/*
 * Called by device_fail: when a mapping of `dev` has faulted, the reason
 * becomes that (whatever went wrong next was read from the replacement
 * zeros).  Any thread.
 */
void	 guest_fault_explain(struct device *dev, char *reason, size_t len);

#endif /* VHOSTD_GUEST_FAULT_H */
