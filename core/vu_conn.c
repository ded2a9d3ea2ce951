/*
 * The frontend connection: non-blocking framing of vhost-user messages
 * (12-byte header, payload, SCM_RIGHTS fds) on the main event base, and
 * sending replies.  A partial message never blocks the main thread; a
 * framing error drops the connection.  All of it runs on the main thread.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "device.h"
#include "log.h"
#include "vhost_user.h"
#include "vu_conn.h"
#include "vu_conn_priv.h"
#include "xmalloc.h"

/* Most messages handled per readable event, so one chatty frontend cannot
 * starve the other devices on the main loop. */
#define VU_CONN_BURST 64

/* Result of one receive step. */
enum vu_conn_rx {
	VU_CONN_RX_AGAIN,	/* nothing more to read now */
	VU_CONN_RX_DONE,	/* a whole message is assembled */
	VU_CONN_RX_DROP,	/* EOF or protocol error: drop */
};

static void	vu_conn_read_cb(evutil_socket_t, short, void *);

/* Take over a connected socket for `dev`.  Main thread. */
struct vu_conn *
vu_conn_new(struct device *dev, int fd)
{
	struct vu_conn	*c;
	unsigned	 i;

	c = xcalloc(1, sizeof *c);
	c->dev = dev;
	c->fd = fd;
	c->reply.fd = -1;
	for (i = 0; i < VHOST_USER_MAX_FDS; i++)
		c->msg.fds[i] = -1;
	c->ev = event_new(dev->base, fd, EV_READ | EV_PERSIST,
	    vu_conn_read_cb, c);
	if (c->ev == NULL || event_add(c->ev, NULL) == -1)
		fatalx("%s: cannot add connection event", dev->name);
	return (c);
}

/* Close the connection, any fds of a partial message, and the backend
 * channel.  Main thread. */
void
vu_conn_free(struct vu_conn *c)
{
	if (c == NULL)
		return;
	vu_backend_close(c->dev);
	event_free(c->ev);
	vu_msg_close_fds(&c->msg);
	close(c->fd);
	free(c);
}

/* Attach the fds of one SCM_RIGHTS block to the message being assembled,
 * closing those beyond VHOST_USER_MAX_FDS. */
static void
vu_conn_take_fds(struct vu_conn *c, const struct cmsghdr *cm)
{
	const unsigned char	*data = CMSG_DATA(cm);
	size_t			 n, i;
	int			 fd;

	n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	for (i = 0; i < n; i++) {
		memcpy(&fd, data + i * sizeof(int), sizeof fd);
		if (c->msg.nfds < VHOST_USER_MAX_FDS) {
			c->msg.fds[c->msg.nfds++] = fd;
			continue;
		}
		log_warnx("%s: too many fds with one message, closing one",
		    c->dev->name);
		close(fd);
	}
}

/*
 * Receive up to `len` bytes into `dst`, collecting fds.  Returns the bytes
 * read, 0 when the socket would block, -1 to drop the connection.
 */
static ssize_t
vu_conn_recv(struct vu_conn *c, void *dst, size_t len)
{
	union {
		struct cmsghdr	 hdr;
		unsigned char	 buf[CMSG_SPACE(sizeof(int) *
		    VHOST_USER_MAX_FDS)];
	} cmsgbuf;
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	ssize_t		 n;

	memset(&mh, 0, sizeof mh);
	iov.iov_base = dst;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cmsgbuf.buf;
	mh.msg_controllen = sizeof cmsgbuf.buf;

	do {
		n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return (0);
		log_warn("%s: recvmsg", c->dev->name);
		return (-1);
	}

	/* Fds are attached even when the data read is 0 bytes long. */
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS)
			vu_conn_take_fds(c, cm);
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		log_warnx("%s: too many fds in one message (control data "
		    "truncated)", c->dev->name);
		return (-1);
	}
	if (n == 0)
		return (-1);		/* EOF */
	return (n);
}

/* Read what is available of the current message. */
static enum vu_conn_rx
vu_conn_read_msg(struct vu_conn *c)
{
	struct vu_msg	*m = &c->msg;
	uint8_t		*dst;
	size_t		 want;
	ssize_t		 n;

	for (;;) {
		if (c->hdr_have < sizeof m->hdr) {
			dst = (uint8_t *)&m->hdr + c->hdr_have;
			want = sizeof m->hdr - c->hdr_have;
		} else {
			dst = m->payload.bytes + c->payload_have;
			want = m->hdr.size - c->payload_have;
		}
		if (want == 0)
			return (VU_CONN_RX_DONE);

		n = vu_conn_recv(c, dst, want);
		if (n == -1)
			return (VU_CONN_RX_DROP);
		if (n == 0)
			return (VU_CONN_RX_AGAIN);

		if (c->hdr_have < sizeof m->hdr) {
			c->hdr_have += (size_t)n;
			if (c->hdr_have < sizeof m->hdr)
				continue;
			if ((m->hdr.flags & VHOST_USER_VERSION_MASK) !=
			    VHOST_USER_VERSION) {
				log_warnx("%s: %s: bad version in flags "
				    "0x%x, dropping the connection",
				    c->dev->name,
				    vhost_user_request_name(m->hdr.request),
				    m->hdr.flags);
				return (VU_CONN_RX_DROP);
			}
			if (m->hdr.size > VHOST_USER_MAX_PAYLOAD) {
				log_warnx("%s: %s: payload of %u bytes is too "
				    "large, dropping the connection",
				    c->dev->name,
				    vhost_user_request_name(m->hdr.request),
				    m->hdr.size);
				return (VU_CONN_RX_DROP);
			}
		} else
			c->payload_have += (size_t)n;
	}
}

/* The socket is readable: assemble and dispatch messages.  Main thread. */
static void
vu_conn_read_cb(evutil_socket_t fd __unused, short events __unused,
    void *arg)
{
	struct vu_conn	*c = arg;
	struct device	*dev = c->dev;
	int		 i;

	for (i = 0; i < VU_CONN_BURST; i++) {
		switch (vu_conn_read_msg(c)) {
		case VU_CONN_RX_AGAIN:
			return;
		case VU_CONN_RX_DROP:
			device_disconnected(dev);	/* frees c */
			return;
		case VU_CONN_RX_DONE:
			break;
		}
		vu_msg_dispatch(c, &c->msg);
		vu_msg_close_fds(&c->msg);
		c->hdr_have = 0;
		c->payload_have = 0;
		if (c->dead) {
			device_disconnected(dev);
			return;
		}
	}
}

/*
 * Send a reply {request, VERSION | REPLY, size} with its payload and an
 * optional fd.  Never blocks: a frontend that does not read its replies
 * (full socket buffer) gets its connection dropped.  0 or -1.  Main
 * thread.
 */
int
vu_conn_send(struct vu_conn *c, uint32_t request, const void *payload,
    uint32_t size, int fd)
{
	union {
		struct cmsghdr	 hdr;
		unsigned char	 buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct vhost_user_header hdr;
	struct msghdr	 mh;
	struct iovec	 iov[2];
	struct cmsghdr	*cm;
	ssize_t		 n;

	if (c->dead)
		return (-1);
	hdr.request = request;
	hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	hdr.size = size;
	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof hdr;
	iov[1].iov_base = (void *)(uintptr_t)payload;
	iov[1].iov_len = size;

	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = size > 0 ? 2 : 1;
	if (fd >= 0) {
		memset(&cmsgbuf, 0, sizeof cmsgbuf);
		mh.msg_control = cmsgbuf.buf;
		mh.msg_controllen = sizeof cmsgbuf.buf;
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	}

	do {
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n == -1) {
		log_warn("%s: %s: cannot send reply, dropping the connection",
		    c->dev->name, vhost_user_request_name(request));
		c->dead = 1;
		return (-1);
	}
	if ((size_t)n != sizeof hdr + size) {
		log_warnx("%s: %s: short send of reply, dropping the "
		    "connection", c->dev->name,
		    vhost_user_request_name(request));
		c->dead = 1;
		return (-1);
	}
	return (0);
}
