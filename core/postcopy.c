/*
 * Postcopy live migration: the userfaultfd of POSTCOPY_ADVISE, the
 * registration of the guest mappings, and the watchdog that bounds how
 * long a fault may wait for the frontend; see postcopy.h.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <linux/userfaultfd.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "device.h"
#include "guest_mem.h"
#include "log.h"
#include "postcopy.h"
#include "worker.h"
#include "xmalloc.h"

/* How often the watchdog looks at a device's workers. */
#define POSTCOPY_TICK_MS	250
/* Most unread faults looked at for the address of the one that waits. */
#define POSTCOPY_PEEK_MAX	64

/* A device's registered mappings and its watchdog (dev->pc). */
struct postcopy {
	struct event		 *ev;
	/* Each with a reference: a mapping stays ours until it is
	 * unregistered, even when a new table dropped it meanwhile. */
	struct guest_region	**regions;
	unsigned		  nregions;
};

static void	postcopy_unregister(struct device *);
static void	postcopy_watch_start(struct device *);

/* How long a fault may wait (postcopy_set_timeout); main thread. */
static unsigned	 postcopy_timeout_s = POSTCOPY_FAULT_TIMEOUT_S;

/* The devices whose watchdog runs (registered mappings); main thread. */
static struct device	**postcopy_devs;
static unsigned		  postcopy_ndevs;

/* Set how long a fault may wait for the frontend; 0 is the default. */
void
postcopy_set_timeout(unsigned seconds)
{
	postcopy_timeout_s = seconds != 0 ? seconds :
	    POSTCOPY_FAULT_TIMEOUT_S;
}

/* A userfaultfd with the API handshake done, or -1 (errno set). */
static int
postcopy_ufd_open(void)
{
	struct uffdio_api	 api;
	int			 fd, saved;

#ifdef SYS_userfaultfd
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
#else
	errno = ENOSYS;
	fd = -1;
#endif
	if (fd == -1)
		return (-1);
	memset(&api, 0, sizeof api);
	api.api = UFFD_API;
	if (ioctl(fd, UFFDIO_API, &api) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

/*
 * Can this kernel give us a userfaultfd?  Probed once, with flags the
 * kernel refuses (EINVAL) only after it has checked that we may have
 * one (EPERM otherwise, ENOSYS without it): no fd is opened, so the
 * probe leaves no hole in the fd table.  Main thread.
 */
int
postcopy_available(void)
{
	static int	 probed = -1;
	long		 rc;

	if (probed != -1)
		return (probed);
#ifdef SYS_userfaultfd
	rc = syscall(SYS_userfaultfd, 0x2);	/* no such flag */
	if (rc >= 0) {
		close((int)rc);
		probed = 1;
	} else
		probed = errno == EINVAL;
#else
	rc = -1;
	errno = ENOSYS;
	probed = 0;
#endif
	if (!probed)
		log_info("postcopy migration not offered: userfaultfd: %s",
		    strerror(errno));
	return (probed);
}

/* ADVISE: open the userfaultfd; the dup is for the reply. */
int
postcopy_advise(struct device *dev, char **cause)
{
	int	 fd;

	postcopy_end(dev);
	if ((dev->pc_ufd = postcopy_ufd_open()) == -1) {
		xasprintf(cause, "userfaultfd: %s", strerror(errno));
		return (-1);
	}
	if ((fd = dup(dev->pc_ufd)) == -1) {
		xasprintf(cause, "dup: %s", strerror(errno));
		postcopy_end(dev);
		return (-1);
	}
	log_info("%s: postcopy advised", dev->name);
	return (fd);
}

/* LISTEN: the memory messages that follow are postcopy ones. */
int
postcopy_listen(struct device *dev, char **cause)
{
	if (dev->pc_ufd == -1) {
		xasprintf(cause, "no POSTCOPY_ADVISE before");
		return (-1);
	}
	dev->pc_listen = 1;
	return (0);
}

/* Between LISTEN and END? */
int
postcopy_listening(struct device *dev)
{
	return (dev->pc_listen);
}

/* Register every region of the current table for missing-page faults. */
int
postcopy_register(struct device *dev, char **cause)
{
	struct guest_mem		*mem = device_mem(dev);
	struct guest_region		*rg;
	struct postcopy			*pc;
	struct uffdio_register		 reg;
	uintptr_t			 start, end, pg;
	unsigned			 i, n = 0;

	if (!dev->pc_listen) {
		xasprintf(cause, "not in postcopy (no POSTCOPY_LISTEN)");
		return (-1);
	}
	if ((pc = dev->pc) == NULL)
		pc = dev->pc = xcalloc(1, sizeof *pc);
	pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	for (i = 0; mem != NULL && i < mem->nregions; i++) {
		rg = mem->regions[i];
		if (rg->pc_registered)
			continue;
		/* The whole mapping, page-aligned: it starts at the file's
		 * offset 0, so it is aligned already. */
		start = (uintptr_t)rg->map_addr;
		end = (start + rg->map_size + pg - 1) & ~(pg - 1);
		memset(&reg, 0, sizeof reg);
		reg.range.start = start;
		reg.range.len = end - start;
		reg.mode = UFFDIO_REGISTER_MODE_MISSING;
		if (ioctl(dev->pc_ufd, UFFDIO_REGISTER, &reg) == -1) {
			xasprintf(cause, "region at 0x%llx: UFFDIO_REGISTER: "
			    "%s", (unsigned long long)rg->gpa,
			    strerror(errno));
			return (-1);
		}
		rg->pc_registered = 1;
		guest_region_ref(rg);
		pc->regions = xreallocarray(pc->regions, pc->nregions + 1,
		    sizeof *pc->regions);
		pc->regions[pc->nregions++] = rg;
		n++;
	}
	log_info("%s: postcopy: %u regions registered for faults", dev->name,
	    n);
	postcopy_watch_start(dev);
	return (0);
}

/*
 * Unregister every registered mapping.  The kernel wakes the threads
 * waiting in faults on them (userfaultfd_unregister wakes the range so
 * no fault waits forever); they retry the access, which now takes the
 * page of the shared file like any other: what the frontend placed, or
 * a zero page.  Main thread.
 */
static void
postcopy_unregister(struct device *dev)
{
	struct postcopy		*pc = dev->pc;
	struct guest_region	*rg;
	struct uffdio_range	 range;
	uintptr_t		 start, end, pg;
	unsigned		 i;

	if (pc == NULL)
		return;
	pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	for (i = 0; i < pc->nregions; i++) {
		rg = pc->regions[i];
		rg->pc_registered = 0;
		start = (uintptr_t)rg->map_addr;
		end = (start + rg->map_size + pg - 1) & ~(pg - 1);
		range.start = start;
		range.len = end - start;
		if (dev->pc_ufd != -1 &&
		    ioctl(dev->pc_ufd, UFFDIO_UNREGISTER, &range) == -1)
			log_warn("%s: postcopy: region at 0x%llx: "
			    "UFFDIO_UNREGISTER", dev->name,
			    (unsigned long long)rg->gpa);
		guest_region_unref(rg);
	}
	free(pc->regions);
	pc->regions = NULL;
	pc->nregions = 0;
}

/*
 * How many threads wait in faults on the device's userfaultfd: the
 * "total" of its fdinfo, which counts faults read by the frontend and
 * not yet woken as well as unread ones, without reading any.  -1 when
 * it cannot be read.  Main thread.
 */
static int
postcopy_waiting(struct device *dev)
{
	char	 path[64], buf[512], *p;
	ssize_t	 n;
	int	 fd;

	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", dev->pc_ufd);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return (-1);
	buf[n] = '\0';
	if ((p = strstr(buf, "\ntotal:")) == NULL)
		return (-1);
	return ((int)strtol(p + strlen("\ntotal:"), NULL, 10));
}

/*
 * The guest-physical address of a waiting fault the frontend has not
 * read, in *gpa; 0, or -1 when there is none (it read them all).  This
 * reads the faults off the fd: only for a device about to fail, whose
 * faults are all woken next, so the frontend loses nothing it could
 * still serve.  Main thread.
 */
static int
postcopy_fault_gpa(struct device *dev, uint64_t *gpa)
{
	struct postcopy		*pc = dev->pc;
	struct guest_region	*rg;
	struct uffd_msg		 msg;
	uintptr_t		 addr, host;
	unsigned		 i, k;

	/* Our fd is non-blocking (postcopy_ufd_open). */
	for (k = 0; k < POSTCOPY_PEEK_MAX; k++) {
		if (read(dev->pc_ufd, &msg, sizeof msg) != (ssize_t)sizeof msg)
			return (-1);
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		addr = (uintptr_t)msg.arg.pagefault.address;
		/* The registered regions: a table sent since may have
		 * dropped the one that faults. */
		for (i = 0; pc != NULL && i < pc->nregions; i++) {
			rg = pc->regions[i];
			host = (uintptr_t)rg->host;
			if (addr >= host && addr - host < rg->size) {
				*gpa = rg->gpa + (addr - host);
				return (0);
			}
		}
	}
	return (-1);
}

/*
 * A fault of the device has waited past the limit: fail the device, then
 * leave postcopy, which wakes the waiting threads.  Failing first: a
 * woken worker finds the device broken and trusts nothing it read.
 * Main thread.
 */
static void
postcopy_expire(struct device *dev, unsigned secs)
{
	uint64_t	 gpa;

	if (postcopy_fault_gpa(dev, &gpa) == 0)
		device_fail(dev, "postcopy: page fault at GPA 0x%llx not "
		    "served in %u s", (unsigned long long)gpa, secs);
	else
		device_fail(dev, "postcopy: page fault at GPA unknown (the "
		    "frontend read it) not served in %u s", secs);
	postcopy_end(dev);
	log_info("%s: postcopy: faults woken; the pages not migrated read "
	    "as the shared memory holds them", dev->name);
}

/*
 * The watchdog tick: ping the device's workers; when one has not come
 * back to its loop within the limit and a fault of the device waits,
 * the fault is taken to be what holds it (a worker blocked elsewhere
 * while the frontend is serving faults in time would need both for the
 * whole limit).  Main thread.
 */
static void
postcopy_watch_cb(evutil_socket_t fd __unused, short events __unused,
    void *arg)
{
	struct device	*dev = arg;
	uint64_t	 busy = 0, b;
	unsigned	 i;

	if (dev->pc_ufd == -1)
		return;
	for (i = 0; dev->workers != NULL && i < dev->nworkers; i++) {
		if (dev->workers[i] == NULL)
			continue;
		if ((b = worker_busy_ms(dev->workers[i])) > busy)
			busy = b;
		worker_ping(dev->workers[i]);
	}
	if (busy < (uint64_t)postcopy_timeout_s * 1000)
		return;
	/* Unknown (no /proc): the wait is still most likely ours. */
	if (postcopy_waiting(dev) == 0)
		return;
	postcopy_expire(dev, postcopy_timeout_s);
}

/*
 * worker.c's wait hook: the main thread has waited WORKER_WAIT_MS for
 * `w` (a frontend stopping a queue whose worker waits in a fault): while
 * it waits the watchdog cannot run, so expire here the faults of the
 * devices `w` serves.  Non-zero when any was woken.  Main thread.
 */
static int
postcopy_worker_late(struct worker *w)
{
	struct device	*dev;
	unsigned	 i, k;
	int		 woke = 0;

	/* postcopy_expire takes dev off the list: walk it backwards. */
	for (i = postcopy_ndevs; i-- > 0;) {
		dev = postcopy_devs[i];
		for (k = 0; dev->workers != NULL && k < dev->nworkers; k++)
			if (dev->workers[k] == w)
				break;
		if (k == dev->nworkers || dev->pc_ufd == -1 ||
		    postcopy_waiting(dev) == 0)
			continue;
		postcopy_expire(dev, WORKER_WAIT_MS / 1000);
		woke = 1;
	}
	return (woke);
}

/* Let the main thread's waits for workers expire faults (before any
 * worker starts).  Main thread. */
void
postcopy_init(void)
{
	worker_set_wait_hook(postcopy_worker_late);
}

/* Start the watchdog of the device's faults, once.  Main thread. */
static void
postcopy_watch_start(struct device *dev)
{
	struct postcopy	*pc = dev->pc;
	struct timeval	 tv;

	if (pc->ev != NULL)
		return;
	pc->ev = event_new(dev->base, -1, EV_PERSIST, postcopy_watch_cb, dev);
	tv.tv_sec = 0;
	tv.tv_usec = POSTCOPY_TICK_MS * 1000;
	if (pc->ev == NULL || event_add(pc->ev, &tv) == -1) {
		/* Faults are then unbounded, as before the watchdog. */
		log_warnx("%s: postcopy: cannot start the fault watchdog",
		    dev->name);
		if (pc->ev != NULL)
			event_free(pc->ev);
		pc->ev = NULL;
		return;
	}
	postcopy_devs = xreallocarray(postcopy_devs, postcopy_ndevs + 1,
	    sizeof *postcopy_devs);
	postcopy_devs[postcopy_ndevs++] = dev;
}

/* Stop the watchdog and free dev->pc (unregistered before).  Main
 * thread. */
static void
postcopy_watch_stop(struct device *dev)
{
	struct postcopy	*pc = dev->pc;
	unsigned	 i;

	if (pc == NULL)
		return;
	if (pc->ev != NULL) {
		event_free(pc->ev);
		for (i = 0; i < postcopy_ndevs; i++) {
			if (postcopy_devs[i] == dev) {
				postcopy_devs[i] =
				    postcopy_devs[--postcopy_ndevs];
				break;
			}
		}
		if (postcopy_ndevs == 0) {
			free(postcopy_devs);
			postcopy_devs = NULL;
		}
	}
	free(pc);
	dev->pc = NULL;
}

/*
 * END, a reset or a failure: unregister the mappings first, which wakes
 * every thread waiting in a fault on them (the frontend may never close
 * its copy of the fd, and closing ours alone wakes nothing), then close
 * our copy; QEMU closes its own.
 */
void
postcopy_end(struct device *dev)
{
	postcopy_unregister(dev);
	postcopy_watch_stop(dev);
	if (dev->pc_ufd != -1) {
		close(dev->pc_ufd);
		log_info("%s: postcopy ended", dev->name);
	}
	dev->pc_ufd = -1;
	dev->pc_listen = 0;
}
