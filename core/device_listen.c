/*
 * A device's listening socket: take it from socket activation or bind it,
 * and accept one frontend at a time, pausing for a second when out of
 * fds.  A bound socket's path appears only once it listens with its mode
 * and owner: it is bound as PATH.new, set up, and renamed over PATH
 * (replacing a stale socket, never one in use).  A VMM or script that
 * starts as soon as the path exists connects at once instead of getting
 * ECONNREFUSED between bind() and listen().  Main thread.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
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
/* Added to the path for the name the socket is bound under until it
 * listens. */
#define DEVICE_TMP_SUFFIX	".new"

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

/* Bind, chown, chmod and listen on the device's socket under its
 * temporary name, rename it into place, and watch it on the main base.
 * 0 or -1 with *cause.  Main thread. */
int
device_listen_start(struct device *dev, const struct conf_device *cd,
    char **cause)
{
	struct sockaddr_un	 sun, tmp;
	struct stat		 st;
	mode_t			 mode;
	uid_t			 uid = (uid_t)PRIVSEP_NOID;
	gid_t			 gid = (gid_t)PRIVSEP_NOID;
	char			*icause = NULL;
	int			 fd, stale = 0;

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

	tmp = sun;
	if ((size_t)snprintf(tmp.sun_path, sizeof tmp.sun_path, "%s%s",
	    dev->socket_path, DEVICE_TMP_SUFFIX) >= sizeof tmp.sun_path) {
		xasprintf(cause, "%s: socket path %s is too long (at most "
		    "%zu bytes)", dev->name, dev->socket_path,
		    sizeof sun.sun_path - sizeof DEVICE_TMP_SUFFIX);
		return (-1);
	}
	/* Only a stale socket (nothing listening) may be replaced. */
	if (lstat(sun.sun_path, &st) == 0) {
		if (device_listen_stale(dev, &sun, cause) == -1)
			return (-1);
		stale = 1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		xasprintf(cause, "%s: socket: %s", dev->name, strerror(errno));
		return (-1);
	}
	/* A temporary name left by a daemon that died here. */
	(void)unlink(tmp.sun_path);
	if (bind(fd, (struct sockaddr *)&tmp, sizeof tmp) == -1) {
		xasprintf(cause, "%s: bind %s: %s", dev->name, tmp.sun_path,
		    strerror(errno));
		goto fail;
	}
	if (privsep_chown(tmp.sun_path, uid, gid, &icause) == -1) {
		xasprintf(cause, "%s: %s", dev->name, icause);
		free(icause);
		unlink(tmp.sun_path);
		goto fail;
	}
	if (chmod(tmp.sun_path, mode) == -1 || listen(fd, DEVICE_BACKLOG) ==
	    -1) {
		xasprintf(cause, "%s: %s: %s", dev->name, tmp.sun_path,
		    strerror(errno));
		unlink(tmp.sun_path);
		goto fail;
	}
	if (stale)
		log_info("%s: replacing stale socket %s", dev->name,
		    dev->socket_path);
	if (rename(tmp.sun_path, sun.sun_path) == -1) {
		xasprintf(cause, "%s: rename %s to %s: %s", dev->name,
		    tmp.sun_path, dev->socket_path, strerror(errno));
		unlink(tmp.sun_path);
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
