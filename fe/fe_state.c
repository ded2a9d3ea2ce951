/*
 * The test frontend's side of device state transfer (QEMU 8.2's
 * vhost_save_backend_state / vhost_load_backend_state): a pipe, one end
 * sent with SET_DEVICE_STATE_FD, the state read or written through the
 * other, CHECK_DEVICE_STATE after.  The back-end may answer with its own
 * fd (reply bit 8 clear, an fd attached): then that one is used.
 */

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe.h"
#include "fe_priv.h"

#define FE_STATE_NOFD	0x100ull

/* SET_DEVICE_STATE_FD; see fe.h. */
int
fe_state_fd(struct fe *fe, uint32_t direction, uint32_t phase, int *ours,
    uint64_t *reply)
{
	struct fe_msg	 m;
	uint32_t	 p[2] = { direction, phase };
	uint64_t	 v;
	int		 pfd[2], theirs, r;

	*ours = -1;
	if (reply != NULL)
		*reply = UINT64_MAX;
	if (fe->fd == -1) {
		fe_seterr("not connected");
		return (-1);
	}
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		fe_seterr("pipe: %s", strerror(errno));
		return (-1);
	}
	/* Save: the back-end writes.  Load: it reads. */
	theirs = direction == FE_STATE_SAVE ? pfd[1] : pfd[0];
	*ours = direction == FE_STATE_SAVE ? pfd[0] : pfd[1];
	r = fe_sock_send(fe->fd, VHOST_USER_SET_DEVICE_STATE_FD,
	    VHOST_USER_VERSION, sizeof p, p, sizeof p, &theirs, 1);
	close(theirs);
	if (r == -1)
		goto fail;
	if (fe_sock_recv(fe->fd, &m, fe->timeout_ms) <= 0) {
		fe_seterr("SET_DEVICE_STATE_FD: no reply");
		goto fail;
	}
	if (m.hdr.request != VHOST_USER_SET_DEVICE_STATE_FD ||
	    m.hdr.size != 8) {
		fe_msg_close_fds(&m);
		fe_seterr("SET_DEVICE_STATE_FD: bad reply (request %u size "
		    "%u)", m.hdr.request, m.hdr.size);
		goto fail;
	}
	v = fe_msg_u64(&m);
	if (reply != NULL)
		*reply = v;
	if ((v & 0xff) != 0) {
		fe_msg_close_fds(&m);
		fe_seterr("SET_DEVICE_STATE_FD: refused (0x%llx)",
		    (unsigned long long)v);
		close(*ours);
		*ours = -1;
		return (1);
	}
	if ((v & FE_STATE_NOFD) == 0) {
		/* The back-end's own fd replaces our pipe. */
		if (m.nfds != 1) {
			fe_msg_close_fds(&m);
			fe_seterr("SET_DEVICE_STATE_FD: fd flag clear but %d "
			    "fds", m.nfds);
			goto fail;
		}
		close(*ours);
		*ours = m.fds[0];
		m.fds[0] = -1;
		m.nfds = 0;
	}
	fe_msg_close_fds(&m);
	return (0);

fail:
	if (*ours != -1)
		close(*ours);
	*ours = -1;
	return (-1);
}

/* CHECK_DEVICE_STATE; see fe.h. */
int
fe_check_state(struct fe *fe, uint64_t *result)
{
	struct fe_msg	 m;
	int		 r;

	*result = UINT64_MAX;
	r = fe_request(fe, VHOST_USER_CHECK_DEVICE_STATE, NULL, 0, NULL, 0,
	    &m, 8);
	if (r != 0)
		return (r);
	*result = fe_msg_u64(&m);
	return (*result == 0 ? 0 : 1);
}

/* Read fd to EOF within timeout_ms; malloc'd result. */
int
fe_state_read_all(int fd, uint8_t **buf, size_t *len, int timeout_ms)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	uint8_t		*p = NULL, *np;
	size_t		 n = 0, cap = 0;
	int64_t		 end = fe_now_ms() + timeout_ms, left;
	ssize_t		 got;

	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			if ((np = realloc(p, cap)) == NULL) {
				free(p);
				fe_seterr("out of memory");
				return (-1);
			}
			p = np;
		}
		if ((left = end - fe_now_ms()) <= 0) {
			free(p);
			fe_seterr("state: no EOF after %d ms (%zu bytes)",
			    timeout_ms, n);
			return (-1);
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		got = read(fd, p + n, cap - n);
		if (got == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got == -1) {
			free(p);
			fe_seterr("state read: %s", strerror(errno));
			return (-1);
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	*buf = p;
	*len = n;
	return (0);
}

/* Save the whole state; see fe.h. */
int
fe_state_save(struct fe *fe, uint8_t **buf, size_t *len)
{
	uint64_t	 res;
	int		 fd, r;

	*buf = NULL;
	*len = 0;
	if ((r = fe_state_fd(fe, FE_STATE_SAVE, 0, &fd, NULL)) != 0)
		return (r);
	r = fe_state_read_all(fd, buf, len, fe->timeout_ms);
	close(fd);
	if (r != 0)
		return (r);
	if ((r = fe_check_state(fe, &res)) != 0) {
		free(*buf);
		*buf = NULL;
	}
	return (r);
}

/* Write len bytes to a blocking fd; 0 or -1. */
static int
fe_state_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			fe_seterr("state write: %s", strerror(errno));
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Load a whole state; see fe.h. */
int
fe_state_load(struct fe *fe, const void *buf, size_t len)
{
	void		(*old)(int);
	uint64_t	 res;
	int		 fd, r;

	if ((r = fe_state_fd(fe, FE_STATE_LOAD, 0, &fd, NULL)) != 0)
		return (r);
	/* The daemon reads as we write; a refused stream closes its end
	 * early (EPIPE here, not a signal), which CHECK then reports. */
	old = signal(SIGPIPE, SIG_IGN);
	(void)fe_state_write_all(fd, buf, len);
	signal(SIGPIPE, old);
	close(fd);
	return (fe_check_state(fe, &res));
}
