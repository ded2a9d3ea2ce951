/*
 * Client mode: the device connects to a unix socket its VMM listens on
 * (QEMU -chardev socket,server=on) instead of listening itself, and
 * connects again when the connection drops or the VMM is not there yet,
 * with a backoff from DEVICE_CLIENT_MIN_MS doubling to DEVICE_CLIENT_MAX_MS
 * (reset by every connection made).  The path is never bound or unlinked
 * by us.  Main thread.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "device.h"
#include "log.h"
#include "vu_conn.h"
#include "xmalloc.h"

#define DEVICE_CLIENT_MIN_MS	100
#define DEVICE_CLIENT_MAX_MS	5000

static void	device_client_cb(evutil_socket_t, short, void *);

/* Try again after the current delay, then double it.  Main thread. */
static void
device_client_schedule(struct device *dev)
{
	struct timeval	 tv;

	if (dev->client_delay_ms == 0)
		dev->client_delay_ms = DEVICE_CLIENT_MIN_MS;
	tv.tv_sec = dev->client_delay_ms / 1000;
	tv.tv_usec = (dev->client_delay_ms % 1000) * 1000;
	if (evtimer_add(dev->client_ev, &tv) == -1)
		log_warnx("%s: cannot arm the reconnect timer", dev->name);
	dev->client_delay_ms *= 2;
	if (dev->client_delay_ms > DEVICE_CLIENT_MAX_MS)
		dev->client_delay_ms = DEVICE_CLIENT_MAX_MS;
}

/* Connect once: the connection becomes the device's frontend, or the next
 * attempt is scheduled.  Main thread. */
static void
device_client_connect(struct device *dev)
{
	struct sockaddr_un	 sun;
	int			 fd, saved;

	if (dev->conn != NULL)
		return;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, dev->socket_path, strlen(dev->socket_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("%s: socket", dev->name);
		device_client_schedule(dev);
		return;
	}
	/* A unix connect does not wait: it connects, or fails at once
	 * (EAGAIN when the VMM's backlog is full). */
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		saved = errno;
		close(fd);
		if (dev->client_failures++ == 0)
			log_info("%s: cannot connect to %s (%s); retrying",
			    dev->name, dev->socket_path, strerror(saved));
		else
			log_debug("%s: %s: connect %s: %s", __func__,
			    dev->name, dev->socket_path, strerror(saved));
		device_client_schedule(dev);
		return;
	}
	dev->client_failures = 0;
	dev->client_delay_ms = 0;
	log_info("%s: connected to %s", dev->name, dev->socket_path);
	dev->conn = vu_conn_new(dev, fd);
}

/* The reconnect timer fired.  Main thread. */
static void
device_client_cb(evutil_socket_t fd __unused, short events __unused,
    void *arg)
{
	device_client_connect(arg);
}

/* Start client mode: check the path, connect (or schedule it).  0 or -1
 * with *cause.  Main thread. */
int
device_client_start(struct device *dev, char **cause)
{
	struct sockaddr_un	 sun;

	if (strlen(dev->socket_path) >= sizeof sun.sun_path) {
		xasprintf(cause, "%s: socket path %s is too long (at most "
		    "%zu bytes)", dev->name, dev->socket_path,
		    sizeof sun.sun_path - 1);
		return (-1);
	}
	dev->client = 1;
	dev->client_ev = evtimer_new(dev->base, device_client_cb, dev);
	if (dev->client_ev == NULL)
		fatalx("%s: cannot create the reconnect timer", dev->name);
	device_client_connect(dev);
	return (0);
}

/* The connection dropped: connect again soon.  Main thread. */
void
device_client_disconnected(struct device *dev)
{
	if (dev->client_ev == NULL)
		return;
	dev->client_delay_ms = DEVICE_CLIENT_MIN_MS;
	device_client_schedule(dev);
}

/* Free the timer.  Main thread. */
void
device_client_free(struct device *dev)
{
	if (dev->client_ev != NULL)
		event_free(dev->client_ev);
	dev->client_ev = NULL;
}
