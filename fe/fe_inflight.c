/*
 * The test frontend's side of inflight tracking: GET_INFLIGHT_FD once,
 * the region kept (fd and mapping) across daemon restarts as QEMU keeps
 * it, and SET_INFLIGHT_FD after every connect.
 */

#include <sys/types.h>
#include <sys/mman.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fe.h"
#include "fe_priv.h"

/* GET_INFLIGHT_FD: keep and map the region the daemon made. */
int
fe_inflight_get(struct fe *fe, uint16_t nq, uint16_t qs)
{
	struct fe_inflight_msg	 m;
	struct fe_msg		 reply;
	void			*map;
	int			 r;

	memset(&m, 0, sizeof m);
	m.num_queues = nq;
	m.queue_size = qs;
	/* Not fe_request: it closes the fds of the reply. */
	if (fe->fd == -1 || fe_sock_send(fe->fd, VHOST_USER_GET_INFLIGHT_FD,
	    VHOST_USER_VERSION, sizeof m, &m, sizeof m, NULL, 0) == -1)
		return (-1);
	if ((r = fe_sock_recv(fe->fd, &reply, fe->timeout_ms)) <= 0)
		return (-1);
	if (reply.hdr.request != VHOST_USER_GET_INFLIGHT_FD ||
	    !(reply.hdr.flags & VHOST_USER_REPLY_MASK)) {
		fe_msg_close_fds(&reply);
		fe_seterr("GET_INFLIGHT_FD: bad reply header");
		return (-1);
	}
	if (reply.hdr.size != sizeof m || reply.nfds != 1) {
		fe_msg_close_fds(&reply);
		fe_seterr("GET_INFLIGHT_FD: %d fds in the reply", reply.nfds);
		return (1);
	}
	memcpy(&m, reply.payload, sizeof m);
	map = mmap(NULL, (size_t)(m.mmap_offset + m.mmap_size),
	    PROT_READ | PROT_WRITE, MAP_SHARED, reply.fds[0], 0);
	if (map == MAP_FAILED) {
		fe_seterr("mmap inflight: %s", strerror(errno));
		fe_msg_close_fds(&reply);
		return (-1);
	}
	if (fe->inflight_map != NULL)
		munmap(fe->inflight_map, fe->inflight_size);
	if (fe->inflight_fd != -1)
		close(fe->inflight_fd);
	fe->inflight_fd = reply.fds[0];
	fe->inflight_map = map;
	fe->inflight_size = m.mmap_size;
	fe->inflight_nq = m.num_queues;
	fe->inflight_qs = m.queue_size;
	return (0);
}

/* SET_INFLIGHT_FD with any payload and fd. */
int
fe_inflight_set_raw(struct fe *fe, uint64_t size, uint64_t offset,
    uint16_t nq, uint16_t qs, int fd)
{
	struct fe_inflight_msg	 m;

	memset(&m, 0, sizeof m);
	m.mmap_size = size;
	m.mmap_offset = offset;
	m.num_queues = nq;
	m.queue_size = qs;
	return (fe_request(fe, VHOST_USER_SET_INFLIGHT_FD, &m, sizeof m,
	    fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, NULL, ~0u));
}

/* SET_INFLIGHT_FD with the kept region. */
int
fe_inflight_set(struct fe *fe)
{
	if (fe->inflight_fd == -1) {
		fe_seterr("no inflight region");
		return (-1);
	}
	return (fe_inflight_set_raw(fe, fe->inflight_size, 0,
	    fe->inflight_nq, fe->inflight_qs, fe->inflight_fd));
}

/* Queue q's part of the kept region. */
uint8_t *
fe_inflight_queue(struct fe *fe, unsigned q)
{
	uint64_t	 per;

	if (fe->inflight_map == NULL || q >= fe->inflight_nq)
		return (NULL);
	per = fe->inflight_size / fe->inflight_nq;
	return (fe->inflight_map + per * q);
}
