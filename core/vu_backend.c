/*
 * The backend request channel (SET_BACKEND_REQ_FD): requests we send to
 * the frontend, today BACKEND_CONFIG_CHANGE_MSG.  Sending may happen on any
 * thread, so the channel fd is guarded by a mutex; replies (REPLY_ACK) are
 * read asynchronously by an event on the main loop, never waited for.
 */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "device.h"
#include "log.h"
#include "vhost_user.h"
#include "vu_conn.h"
#include "xmalloc.h"

struct vu_backend {
	struct device	*dev;
	pthread_mutex_t	 lock;		/* guards fd for senders */
	int		 fd;		/* -1: no channel */
	int		 need_reply;	/* REPLY_ACK negotiated at set time */
	int		 corrupt;	/* a short send cut a message */
	struct event	*ev;		/* replies; main thread */
	size_t		 have;		/* reply bytes assembled */
	uint8_t		 buf[sizeof(struct vhost_user_header) +
			    sizeof(uint64_t)];
};

/* The backend channel state of a device.  Main thread. */
struct vu_backend *
vu_backend_new(struct device *dev)
{
	struct vu_backend	*b;

	b = xcalloc(1, sizeof *b);
	b->dev = dev;
	b->fd = -1;
	if (pthread_mutex_init(&b->lock, NULL) != 0)
		fatalx("%s: pthread_mutex_init", __func__);
	return (b);
}

/* Close the channel and free the state.  Main thread. */
void
vu_backend_free(struct vu_backend *b)
{
	if (b == NULL)
		return;
	vu_backend_close(b->dev);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* Close the channel if open.  Main thread. */
void
vu_backend_close(struct device *dev)
{
	struct vu_backend	*b = dev->backend;

	if (b == NULL)
		return;
	if (b->ev != NULL) {
		event_free(b->ev);
		b->ev = NULL;
	}
	pthread_mutex_lock(&b->lock);
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	b->need_reply = 0;
	b->corrupt = 0;
	b->have = 0;
	pthread_mutex_unlock(&b->lock);
}

/* A reply (or anything else) arrived on the channel.  Main thread. */
static void
vu_backend_read_cb(evutil_socket_t fd, short events __unused, void *arg)
{
	struct vu_backend	*b = arg;
	struct device		*dev = b->dev;
	struct vhost_user_header hdr;
	uint64_t		 ack;
	ssize_t			 n;

	n = recv(fd, b->buf + b->have, sizeof b->buf - b->have, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		if (n == -1)
			log_warn("%s: backend channel", dev->name);
		else
			log_info("%s: backend channel closed by the frontend",
			    dev->name);
		vu_backend_close(dev);
		return;
	}
	b->have += (size_t)n;
	if (b->have < sizeof hdr)
		return;
	memcpy(&hdr, b->buf, sizeof hdr);
	if ((hdr.flags & VHOST_USER_REPLY_MASK) == 0 ||
	    hdr.size != sizeof ack) {
		log_warnx("%s: backend channel: unexpected message %u "
		    "(flags 0x%x, size %u), closing it", dev->name,
		    hdr.request, hdr.flags, hdr.size);
		vu_backend_close(dev);
		return;
	}
	if (b->have < sizeof b->buf)
		return;
	memcpy(&ack, b->buf + sizeof hdr, sizeof ack);
	b->have = 0;
	if (ack != 0)
		log_warnx("%s: frontend failed backend request %u: %llu",
		    dev->name, hdr.request, (unsigned long long)ack);
	else
		log_debug("%s: frontend acked backend request %u", dev->name,
		    hdr.request);
}

/* Use `fd` as the channel, closing any previous one.  Takes the fd (closed
 * on failure).  The frontend chose it: anything but a socket the main loop
 * can watch is refused.  0 or -1 (logged).  Main thread. */
int
vu_backend_set_fd(struct device *dev, int fd)
{
	struct vu_backend	*b = dev->backend;
	struct stat		 st;

	vu_backend_close(dev);
	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode)) {
		log_warnx("%s: backend channel fd is not a socket", dev->name);
		close(fd);
		return (-1);
	}
	b->ev = event_new(dev->base, fd, EV_READ | EV_PERSIST,
	    vu_backend_read_cb, b);
	if (b->ev == NULL || event_add(b->ev, NULL) == -1) {
		log_warnx("%s: cannot watch the backend channel", dev->name);
		if (b->ev != NULL)
			event_free(b->ev);
		b->ev = NULL;
		close(fd);
		return (-1);
	}
	pthread_mutex_lock(&b->lock);
	b->fd = fd;
	b->need_reply = (dev->acked_protocol_features &
	    (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK)) != 0;
	pthread_mutex_unlock(&b->lock);
	return (0);
}

/*
 * Send BACKEND_CONFIG_CHANGE_MSG with the current config space (offset 0,
 * the whole space), asking for an ack when REPLY_ACK was negotiated.  Any
 * thread: the module's get_config runs on the caller's thread here (the
 * SDK already requires it to be safe while queues run).  Never blocks.
 * 0, or -1 when there is no channel or the send fails.
 */
int
vu_backend_config_changed(struct device *dev)
{
	struct vu_backend	*b = dev->backend;
	struct vhost_user_header hdr;
	struct vhost_user_config cfg;
	uint8_t			 space[VHOST_USER_MAX_CONFIG_SIZE];
	struct iovec		 iov[3];
	struct msghdr		 mh;
	ssize_t			 n;
	size_t			 total;
	uint32_t		 size = dev->info.config_size;

	if (b == NULL)
		return (-1);
	if (size > sizeof space)
		size = sizeof space;
	memset(space, 0, sizeof space);
	if (size > 0 && dev->ops->get_config != NULL &&
	    dev->ops->get_config(device_to_vhd(dev), 0, space, size) != 0) {
		log_warnx("%s: config change: cannot read config space",
		    dev->name);
		return (-1);
	}
	cfg.offset = 0;
	cfg.size = size;
	cfg.flags = 0;
	hdr.request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG;
	hdr.flags = VHOST_USER_VERSION;
	hdr.size = VHOST_USER_CONFIG_HDR_SIZE + size;
	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof hdr;
	iov[1].iov_base = &cfg;
	iov[1].iov_len = VHOST_USER_CONFIG_HDR_SIZE;
	iov[2].iov_base = space;
	iov[2].iov_len = size;
	total = sizeof hdr + VHOST_USER_CONFIG_HDR_SIZE + size;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = 3;

	pthread_mutex_lock(&b->lock);
	if (b->fd < 0 || b->corrupt) {
		pthread_mutex_unlock(&b->lock);
		return (-1);
	}
	if (b->need_reply)
		hdr.flags |= VHOST_USER_NEED_REPLY_MASK;
	do {
		n = sendmsg(b->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	/* Part of a message on a stream socket leaves it unusable. */
	if (n >= 0 && (size_t)n != total)
		b->corrupt = 1;
	pthread_mutex_unlock(&b->lock);
	if (n == -1) {
		log_warn("%s: config change: send", dev->name);
		return (-1);
	}
	if ((size_t)n != total) {
		log_warnx("%s: config change: short send, backend channel "
		    "unusable", dev->name);
		return (-1);
	}
	log_debug("%s: config change sent", dev->name);
	return (0);
}
