/*
 * Postcopy live migration on the destination (the PAGEFAULT protocol
 * feature).  POSTCOPY_ADVISE creates a userfaultfd and hands it to QEMU;
 * after POSTCOPY_LISTEN, every memory region QEMU adds is answered with
 * our mapping address, and once QEMU acknowledges the table (an
 * ADD_MEM_REG request code carrying a u64 0 and no fd) the mappings are
 * registered for missing-page faults.  A worker that then touches a
 * page not yet migrated blocks in the kernel until QEMU,
 * which reads the faults from the same userfaultfd, has placed the page
 * and woken it; nothing in the daemon serves faults itself, and no
 * thread but the faulting one waits.  POSTCOPY_END closes the fd.  Main
 * thread.
 *
 * A frontend that never serves a fault must not hold a worker (and the
 * other devices it serves) forever.  While mappings are registered, a
 * timer pings the device's workers; when one has not come back to its
 * loop within postcopy-fault-timeout and the fd's fdinfo counts a thread
 * waiting (read without taking faults off the fd, which the frontend
 * reads), the device fails and its mappings are unregistered: the kernel
 * wakes the waiters (userfaultfd_unregister wakes the range), whose
 * access then takes the shared file's page.  END, resets and shutdown
 * unregister before the rings stop, and a main thread that waits for a
 * worker (worker_post) expires the faults of that worker's devices
 * before giving it up.  The main thread touches no guest memory, so
 * it never faults.
 */

#ifndef VHOSTD_POSTCOPY_H
#define VHOSTD_POSTCOPY_H

#include "compat.h"

struct device;

/* How long a fault may wait for the frontend by default (seconds). */
#define POSTCOPY_FAULT_TIMEOUT_S	4

/* Let the main thread's bounded waits for a worker expire the faults
 * that hold it.  Main thread, before any worker starts. */
void	 postcopy_init(void);
/* Set that limit (`postcopy-fault-timeout`; 0: the default).  Main
 * thread. */
void	 postcopy_set_timeout(unsigned seconds);
/* Can this kernel give us a userfaultfd (probed once)? */
int	 postcopy_available(void);
/* ADVISE: a new userfaultfd; returns a dup for the reply, or -1 with
 * *cause. */
int	 postcopy_advise(struct device *, char **cause) __must_check;
/* LISTEN: from now on memory changes are postcopy ones.  0 or -1. */
int	 postcopy_listen(struct device *, char **cause) __must_check;
/* Is the device between LISTEN and END? */
int	 postcopy_listening(struct device *);
/* The table was acknowledged: register every region.  0 or -1. */
int	 postcopy_register(struct device *, char **cause) __must_check;
/* END, or a reset: close the fd and leave postcopy. */
void	 postcopy_end(struct device *);

#endif /* VHOSTD_POSTCOPY_H */
