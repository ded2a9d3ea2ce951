/*
 * Socket activation (sd_listen_fds(3)): listening sockets handed over by
 * the service manager as fds 3.. with $LISTEN_FDS, $LISTEN_PID and
 * $LISTEN_FDNAMES, matched to devices by name (FileDescriptorName=) or
 * else by path.
 */

#ifndef VHOSTD_SD_LISTEN_H
#define VHOSTD_SD_LISTEN_H

#include "compat.h"

/* Take over the fds passed for this pid (close-on-exec) and remove the
 * variables from the environment.  Main thread, before any other thread
 * starts (unsetenv). */
void		 sd_listen_init(void);
/* How many fds were passed. */
unsigned	 sd_listen_count(void);
/*
 * The activated socket for device `name` listening at `path`: the one
 * named `name`, else the one bound to `path`.  1 with *fdp set (a
 * non-blocking listening AF_UNIX stream socket, now taken), 0 when there
 * is none, -1 with *cause when the matching fd is not such a socket.
 * Main thread.
 */
int		 sd_listen_take(const char *name, const char *path, int *fdp,
		    char **cause) __must_check;
/* Is `fd` an activated socket?  Then it is kept open for a later device
 * (a reload) instead of being closed and unlinked.  Main thread. */
int		 sd_listen_release(int fd);
/* Warn about each passed fd that no device took.  Main thread. */
void		 sd_listen_warn_unused(void);
/* Close every passed fd.  Main thread, at exit. */
void		 sd_listen_fini(void);

#endif /* VHOSTD_SD_LISTEN_H */
