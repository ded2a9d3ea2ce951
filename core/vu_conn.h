/*
 * One frontend connection on a device's socket: non-blocking message
 * framing with SCM_RIGHTS fds (vu_conn.c), request dispatch through the
 * table in vu_msg.c, and the backend request channel (vu_backend.c).
 */

#ifndef VHOSTD_VU_CONN_H
#define VHOSTD_VU_CONN_H

#include "compat.h"

struct device;
struct vu_conn;

/* Take over a connected socket for `dev`.  Main thread. */
struct vu_conn	*vu_conn_new(struct device *dev, int fd);
/* Close the connection and its backend channel.  Main thread. */
void		 vu_conn_free(struct vu_conn *);
/*
 * Send BACKEND_CONFIG_CHANGE_MSG on the backend channel.  Any thread (the
 * channel has its own lock).  -1 when no channel is set up.
 */
int		 vu_backend_config_changed(struct device *dev);

/* The backend channel state of a device (lives as long as the device).
 * Main thread. */
struct vu_backend *vu_backend_new(struct device *dev);
void		 vu_backend_free(struct vu_backend *);
/* Use `fd` (SET_BACKEND_REQ_FD) as the channel, closing any previous one.
 * Takes the fd (closed on failure).  0, or -1 (logged) when it is not a
 * socket that can be watched.  Main thread. */
int		 vu_backend_set_fd(struct device *dev, int fd);
/* Close the channel if open.  Main thread. */
void		 vu_backend_close(struct device *dev);

#endif /* VHOSTD_VU_CONN_H */
