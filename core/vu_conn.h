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

#endif /* VHOSTD_VU_CONN_H */
