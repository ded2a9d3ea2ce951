/*
 * A device's listening socket: take it from socket activation or bind it
 * (removing a stale socket, never one in use), set its mode and owner
 * before listen(), and accept one frontend at a time, pausing for a
 * second when out of fds.  Main thread.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "device.h"
#include "log.h"
#include "privsep.h"
#include "sd_listen.h"
#include "vu_conn.h"
#include "xmalloc.h"

/* Connections accepted per readable event on the listening socket. */
#define DEVICE_ACCEPT_BURST	16
/* Backlog of the listening socket. */
#define DEVICE_BACKLOG		16

static void	device_listen_accept_cb(evutil_socket_t, short, void *);
static void	device_listen_resume_cb(evutil_socket_t, short, void *);

/* Is a leftover socket at `path` stale (nothing listening)?  0 when it
 * may be unlinked, -1 with *cause otherwise. */
static int
device_listen_stale(struct device *dev, const struct sockaddr_un *sun,
    char **cause)
{
	struct stat	 st;
	int		 fd, rc, saved;

	if (lstat(sun->sun_path, &st) == -1) {
		xasprintf(cause, "%s: %s: %s", dev->name, sun->sun_path,
		    strerror(errno));
		return (-1);
	}
	if (!S_ISSOCK(st.st_mode)) {
		xasprintf(cause, "%s: %s exists and is not a socket",
		    dev->name, sun->sun_path);
		return (-1);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		xasprintf(cause, "%s: socket: %s", dev->name, strerror(errno));
		return (-1);
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	saved = errno;
	close(fd);
	if (rc == -1 && saved == ECONNREFUSED)
		return (0);
	if (rc == 0 || saved == EAGAIN || saved == EINPROGRESS)
		xasprintf(cause, "%s: %s is in use by another process",
		    dev->name, sun->sun_path);
	else
		xasprintf(cause, "%s: %s: %s", dev->name, sun->sun_path,
		    strerror(saved));
	return (-1);
}

/* Bind, chmod, chown and listen on the device's socket, and watch it on
 * the main base.  0 or -1 with *cause.  Main thread. */
int
device_listen_start(struct device *dev, const struct conf_device *cd,
    char **cause)
{
	struct sockaddr_un	 sun;
	mode_t			 mode;
	uid_t			 uid = (uid_t)PRIVSEP_NOID;
	gid_t			 gid = (gid_t)PRIVSEP_NOID;
	char			*icause = NULL;
	int			 fd;

	mode = cd->socket_mode != 0 ? cd->socket_mode : 0600;
	if ((cd->socket_owner != NULL && privsep_user(cd->socket_owner, &uid,
	    NULL, &icause) == -1) || (cd->socket_group != NULL &&
	    privsep_group(cd->socket_group, &gid, &icause) == -1)) {
		xasprintf(cause, "%s: socket: %s", dev->name, icause);
		free(icause);
		return (-1);
	}

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(dev->socket_path) >= sizeof sun.sun_path) {
		xasprintf(cause, "%s: socket path %s is too long (at most "
		    "%zu bytes)", dev->name, dev->socket_path,
		    sizeof sun.sun_path - 1);
		return (-1);
	}
	memcpy(sun.sun_path, dev->socket_path, strlen(dev->socket_path));

	/* Socket activation: the manager bound it, set its mode and owner
	 * (SocketMode=, SocketUser=) and owns the path (sd_listen.c). */
	switch (sd_listen_take(dev->name, dev->socket_path, &fd, cause)) {
	case -1:
		return (-1);
	case 1:
		dev->listen_activated = 1;
		goto watch;
	default:
		break;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		xasprintf(cause, "%s: socket: %s", dev->name, strerror(errno));
		return (-1);
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		if (errno != EADDRINUSE) {
			xasprintf(cause, "%s: bind %s: %s", dev->name,
			    dev->socket_path, strerror(errno));
			goto fail;
		}
		if (device_listen_stale(dev, &sun, cause) == -1)
			goto fail;
		log_info("%s: removing stale socket %s", dev->name,
		    dev->socket_path);
		if (unlink(sun.sun_path) == -1 ||
		    bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
			xasprintf(cause, "%s: bind %s: %s", dev->name,
			    dev->socket_path, strerror(errno));
			goto fail;
		}
	}
	/* Before listen(), so nobody connects with the umask's mode or
	 * the wrong owner. */
	if (privsep_chown(sun.sun_path, uid, gid, &icause) == -1) {
		xasprintf(cause, "%s: %s", dev->name, icause);
		free(icause);
		unlink(sun.sun_path);
		goto fail;
	}
	if (chmod(sun.sun_path, mode) == -1 || listen(fd, DEVICE_BACKLOG) ==
	    -1) {
		xasprintf(cause, "%s: %s: %s", dev->name, dev->socket_path,
		    strerror(errno));
		unlink(sun.sun_path);
		goto fail;
	}
watch:
	dev->listen_fd = fd;
	dev->listen_ev = event_new(dev->base, fd, EV_READ | EV_PERSIST,
	    device_listen_accept_cb, dev);
	dev->accept_pause_ev = evtimer_new(dev->base,
	    device_listen_resume_cb, dev);
	if (dev->listen_ev == NULL || dev->accept_pause_ev == NULL ||
	    event_add(dev->listen_ev, NULL) == -1)
		fatalx("%s: cannot add the listening event", dev->name);
	return (0);

fail:
	close(fd);
	return (-1);
}

/* Accepting was paused after running out of fds: resume.  Main thread. */
static void
device_listen_resume_cb(evutil_socket_t fd __unused, short events __unused,
    void *arg)
{
	struct device	*dev = arg;

	if (event_add(dev->listen_ev, NULL) == -1)
		log_warnx("%s: cannot resume accepting", dev->name);
}

/* A frontend connects: take it if none is connected, else refuse it.
 * Main thread. */
static void
device_listen_accept_cb(evutil_socket_t lfd, short events __unused, void *arg)
{
	struct device	*dev = arg;
	struct timeval	 tv = { 1, 0 };
	int		 fd, i;

	for (i = 0; i < DEVICE_ACCEPT_BURST; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EAGAIN:	/* == EWOULDBLOCK on Linux */
				return;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				/* Level-triggered: the pending connection
				 * would wake us at once.  Pause instead. */
				log_warn("%s: accept (pausing for 1 s)",
				    dev->name);
				event_del(dev->listen_ev);
				evtimer_add(dev->accept_pause_ev, &tv);
				return;
			default:
				log_warn("%s: accept", dev->name);
				return;
			}
		}
		if (dev->conn != NULL) {
			log_info("%s: connection refused: a frontend is "
			    "already connected", dev->name);
			close(fd);
			continue;
		}
		log_info("%s: frontend connected", dev->name);
		dev->conn = vu_conn_new(dev, fd);
	}
}
