/*
 * Test frontend: vhost-user messages on a unix socket, with fds.
 * See fe.h.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fe.h"
#include "fe_priv.h"

/* Connect to a unix socket, retrying while it is not there yet. */
int
fe_sock_connect(const char *path, int timeout_ms)
{
	struct sockaddr_un	sun;
	int64_t			deadline = fe_now_ms() + timeout_ms;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		fe_seterr("socket path too long: %s", path);
		return (-1);
	}
	strcpy(sun.sun_path, path);
	for (;;) {
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
		    -1) {
			fe_seterr("socket: %s", strerror(errno));
			return (-1);
		}
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
			return (fd);
		close(fd);
		if ((errno != ENOENT && errno != ECONNREFUSED &&
		    errno != EINTR) || fe_now_ms() > deadline) {
			fe_seterr("connect %s: %s", path, strerror(errno));
			return (-1);
		}
		fe_sleep_ms(5);
	}
}

/* Send raw bytes with fds attached to the first sendmsg. */
int
fe_sock_send_raw(int fd, const void *buf, size_t len, const int *fds,
    int nfds)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cmsg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 32)];
	} cbuf;
	ssize_t		 n;
	uint8_t		 dummy = 0;

	if (nfds < 0 || nfds > 32) {
		fe_seterr("bad fd count %d", nfds);
		return (-1);
	}
	if (len == 0 && nfds > 0) {
		/* fds need at least one byte to ride on. */
		buf = &dummy;
		len = 1;
	}
	do {
		memset(&msg, 0, sizeof msg);
		iov.iov_base = (void *)(uintptr_t)buf;
		iov.iov_len = len;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		if (nfds > 0) {
			memset(&cbuf, 0, sizeof cbuf);
			msg.msg_control = cbuf.buf;
			msg.msg_controllen = CMSG_SPACE(sizeof(int) *
			    (size_t)nfds);
			cmsg = CMSG_FIRSTHDR(&msg);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
			memcpy(CMSG_DATA(cmsg), fds, sizeof(int) *
			    (size_t)nfds);
		}
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fe_seterr("sendmsg: %s", strerror(errno));
			return (-1);
		}
		nfds = 0;
		buf = (const uint8_t *)buf + n;
		len -= (size_t)n;
	} while (len > 0);
	return (0);
}

/* Send a header claiming hdr_size and len payload bytes. */
int
fe_sock_send(int fd, uint32_t request, uint32_t flags, uint32_t hdr_size,
    const void *payload, size_t len, const int *fds, int nfds)
{
	struct vhost_user_header	 hdr;
	uint8_t				*buf;
	int				 r;

	hdr.request = request;
	hdr.flags = flags;
	hdr.size = hdr_size;
	if ((buf = malloc(sizeof hdr + len)) == NULL)
		abort();
	memcpy(buf, &hdr, sizeof hdr);
	if (len > 0)
		memcpy(buf + sizeof hdr, payload, len);
	r = fe_sock_send_raw(fd, buf, sizeof hdr + len, fds, nfds);
	free(buf);
	return (r);
}

/* Take fds out of a received control message. */
static void
fe_sock_take_fds(struct msghdr *msg, struct fe_msg *m)
{
	struct cmsghdr	*cmsg;
	int		*p, i, n;

	for (cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		n = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		p = (int *)(void *)CMSG_DATA(cmsg);
		for (i = 0; i < n; i++) {
			if (m != NULL && m->nfds < VHOST_USER_MAX_FDS)
				m->fds[m->nfds++] = p[i];
			else
				close(p[i]);
		}
	}
}

/* Read exactly len bytes before the deadline: 1, 0 closed, -1. */
static int
fe_sock_read_full(int fd, void *buf, size_t len, struct fe_msg *m,
    int64_t deadline)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 32)];
	} cbuf;
	struct pollfd	 pfd;
	ssize_t		 n;
	int64_t		 left;
	int		 r;

	while (len > 0) {
		left = deadline - fe_now_ms();
		if (left < 0)
			left = 0;
		pfd.fd = fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, (int)left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			fe_seterr("poll: %s", strerror(errno));
			return (-1);
		}
		if (r == 0) {
			fe_seterr("timeout waiting for a reply");
			return (-1);
		}
		memset(&msg, 0, sizeof msg);
		iov.iov_base = buf;
		iov.iov_len = len;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = sizeof cbuf.buf;
		memset(&cbuf, 0, sizeof cbuf);
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == -1 && errno == ECONNRESET) {
			fe_seterr("connection reset by vhostd");
			return (0);
		}
		if (n == -1) {
			fe_seterr("recvmsg: %s", strerror(errno));
			return (-1);
		}
		fe_sock_take_fds(&msg, m);
		if (n == 0) {
			fe_seterr("connection closed by vhostd");
			return (0);
		}
		buf = (uint8_t *)buf + n;
		len -= (size_t)n;
	}
	return (1);
}

/* Receive one message. */
int
fe_sock_recv(int fd, struct fe_msg *m, int timeout_ms)
{
	int64_t	deadline = fe_now_ms() + timeout_ms;
	int	r;

	memset(&m->hdr, 0, sizeof m->hdr);
	m->nfds = 0;
	r = fe_sock_read_full(fd, &m->hdr, sizeof m->hdr, m, deadline);
	if (r <= 0)
		return (r);
	if (m->hdr.size > sizeof m->payload) {
		fe_seterr("reply payload size %u too big", m->hdr.size);
		return (-1);
	}
	return (fe_sock_read_full(fd, m->payload, m->hdr.size, m, deadline));
}

/* Close the fds of a message. */
void
fe_msg_close_fds(struct fe_msg *m)
{
	int	i;

	for (i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

/* Return the u64 payload of a message. */
uint64_t
fe_msg_u64(const struct fe_msg *m)
{
	uint64_t	v;

	if (m->hdr.size != sizeof v)
		return (UINT64_MAX);
	memcpy(&v, m->payload, sizeof v);
	return (v);
}

/* Wait for the peer to close the connection. */
int
fe_sock_wait_closed(int fd, int timeout_ms)
{
	int64_t		deadline = fe_now_ms() + timeout_ms;
	uint8_t		buf[4096];
	struct fe_msg	m;
	int		r;

	for (;;) {
		m.nfds = 0;
		r = fe_sock_read_full(fd, buf, sizeof buf, &m, deadline);
		fe_msg_close_fds(&m);
		if (r == 0)
			return (1);
		if (fe_now_ms() >= deadline)
			return (0);
	}
}
