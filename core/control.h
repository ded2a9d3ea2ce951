/*
 * The control socket: a unix stream socket (default /run/vhostd/control,
 * mode 0600) on the main loop, spoken to by vhostctl.  One request per
 * connection: a line "COMMAND FORMAT [ARGUMENT]\n" (FORMAT: text, json or
 * prometheus); the answer is "ok\n" or "error\n", then the body, then the
 * daemon closes the connection.  Only root and the daemon's own user may
 * ask (SO_PEERCRED).
 */

#ifndef VHOSTD_CONTROL_H
#define VHOSTD_CONTROL_H

#include <sys/types.h>

#include "compat.h"

struct serve;

/* Where the control socket is unless configured. */
#define CONTROL_DEFAULT_PATH	"/run/vhostd/control"
/* Longest request line. */
#define CONTROL_LINE_MAX	512

/*
 * Bind and listen on `path` (mode 0600, owned by uid/gid when they are not
 * -1), replacing a stale socket, and serve it on s->base.  0 or -1 with
 * *cause.  Main thread, before privileges are dropped.
 */
int	 control_start(struct serve *s, const char *path, uid_t uid,
	    gid_t gid, char **cause) __must_check;
/* Stop serving, close every client, unlink the socket.  Main thread. */
void	 control_stop(void);
/* SIGHUP and `vhostctl reload`: reload, logging the outcome.  0 or -1
 * with *cause.  Main thread. */
int	 control_reload(struct serve *s, char **cause);

#endif /* VHOSTD_CONTROL_H */
