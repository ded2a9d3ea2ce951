/*
 * Postcopy live migration: the userfaultfd of POSTCOPY_ADVISE and the
 * registration of the guest mappings; see postcopy.h.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <linux/userfaultfd.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "guest_mem.h"
#include "log.h"
#include "postcopy.h"
#include "xmalloc.h"

/* How long a fault may wait (postcopy_set_timeout); main thread. */
static unsigned	 postcopy_timeout_s = POSTCOPY_FAULT_TIMEOUT_S;

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
	struct uffdio_register		 reg;
	uintptr_t			 start, end, pg;
	unsigned			 i, n = 0;

	if (!dev->pc_listen) {
		xasprintf(cause, "not in postcopy (no POSTCOPY_LISTEN)");
		return (-1);
	}
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
		n++;
	}
	log_info("%s: postcopy: %u regions registered for faults", dev->name,
	    n);
	return (0);
}

/* END or reset: closing our copy of the fd; QEMU closes its own. */
void
postcopy_end(struct device *dev)
{
	struct guest_mem	*mem = device_mem(dev);
	unsigned		 i;

	for (i = 0; mem != NULL && i < mem->nregions; i++)
		mem->regions[i]->pc_registered = 0;
	if (dev->pc_ufd != -1) {
		close(dev->pc_ufd);
		log_info("%s: postcopy ended", dev->name);
	}
	dev->pc_ufd = -1;
	dev->pc_listen = 0;
}
