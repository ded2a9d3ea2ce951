/*
 * The test frontend as a listening VMM (QEMU -chardev socket,server=on),
 * for vhostd's client mode: listen on a path, accept the daemon's
 * connection, and adopt it as the frontend's connection.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "fe.h"
#include "fe_priv.h"

/* Listen on `path` (an old file there is removed).  The fd or -1. */
int
fe_listen(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		fe_seterr("socket path too long: %s", path);
		return (-1);
	}
	strcpy(sun.sun_path, path);
	unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(fd, 4) == -1) {
		fe_seterr("listen %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	return (fd);
}

/* Accept one connection within timeout_ms.  The fd or -1. */
int
fe_accept(int lfd, int timeout_ms)
{
	struct pollfd	 pfd;
	int		 fd;

	pfd.fd = lfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, timeout_ms) != 1) {
		fe_seterr("no connection in %d ms", timeout_ms);
		return (-1);
	}
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		fe_seterr("accept: %s", strerror(errno));
		return (-1);
	}
	return (fd);
}

/* Make `fd` the frontend's connection, forgetting the negotiated state
 * (guest memory, rings and the inflight region stay). */
void
fe_adopt(struct fe *fe, int fd)
{
	unsigned	 i;

	fe_disconnect(fe);
	for (i = 0; i < fe->nregions; i++)
		fe->regions[i].present = 0;
	fe->fd = fd;
}
