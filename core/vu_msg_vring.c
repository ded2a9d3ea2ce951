/*
 * Ring requests: SET_VRING_NUM/ADDR/BASE/KICK/CALL/ERR/ENABLE,
 * GET_VRING_BASE and GET_QUEUE_NUM.  Every index is range-checked before
 * use (the DPDK CVE-2020-10723 class); a ring's configuration changes only
 * while it is stopped, and vring_update restarts it when it can run.  The
 * kick, call and err fds are the exception: they are swapped on a running
 * ring without stopping it (QEMU re-sends SET_VRING_CALL on every MSI-X
 * mask and unmask), and each must be an eventfd, made non-blocking, so no
 * fd a frontend hands over can block a thread of the daemon.  A ring whose
 * worker does not answer cannot be stopped: requests that would change it
 * are refused.  Main thread.
 */

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "guest_mem.h"
#include "log.h"
#include "vhost_user.h"
#include "vring.h"
#include "vu_conn_priv.h"
#include "worker.h"

/* What the kernel calls an eventfd in /proc/self/fd. */
#define VU_MSG_EVENTFD_LINK	"anon_inode:[eventfd]"

/* The names of the fds for log lines, by enum vring_fd. */
static const char *const vu_msg_vring_fd_names[] = {
	[VRING_FD_KICK] = "kick",
	[VRING_FD_CALL] = "call",
	[VRING_FD_ERR] = "err",
};

/* Stop a ring before changing it; fails the request when its worker does
 * not answer.  0 or -1 (logged). */
static int
vu_msg_vring_stop(struct vu_conn *c, const struct vu_msg *m,
    struct vring *vq)
{
	if (vring_stop(vq) == -1)
		return (vu_msg_fail(c, m, "queue %u: its worker does not "
		    "answer", vq->index));
	return (0);
}

/* Read a vring_state payload and find its ring; NULL (logged) when the
 * index is out of range. */
static struct vring *
vu_msg_vring_state(struct vu_conn *c, const struct vu_msg *m,
    struct vhost_user_vring_state *st)
{
	memcpy(st, m->payload.bytes, sizeof *st);
	return (vu_msg_vring(c, m, st->index));
}

/* SET_VRING_NUM: the ring size up to the device's max, a power of two
 * unless the ring is packed (virtio 1.1 2.8.10).  A new size invalidates
 * the ring addresses checked for the old one. */
int
vu_msg_set_vring_num(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	struct vhost_user_vring_state	 st;
	struct vring			*vq;
	uint32_t			 max = c->dev->info.max_queue_size;

	if ((vq = vu_msg_vring_state(c, m, &st)) == NULL)
		return (-1);
	if (vq->packed && (st.num == 0 || st.num > max))
		return (vu_msg_fail(c, m, "queue %u: size %u is not in "
		    "1..%u", st.index, st.num, max));
	if (!vq->packed && (st.num == 0 || st.num > max ||
	    (st.num & (st.num - 1)) != 0))
		return (vu_msg_fail(c, m, "queue %u: size %u is not a power "
		    "of two in 1..%u", st.index, st.num, max));
	if (vu_msg_vring_stop(c, m, vq) == -1)
		return (-1);
	if (vq->num != st.num)
		vq->addr_set = 0;
	vq->num = (uint16_t)st.num;
	vring_update(vq);
	return (0);
}

/* Translate one frontend address to guest-physical, logging failures. */
static int
vu_msg_vring_uva(struct vu_conn *c, const struct vu_msg *m,
    const struct guest_mem *mem, const char *what, uint64_t uva,
    uint64_t *gpa)
{
	if (guest_mem_uva_to_gpa(mem, uva, gpa) == -1)
		return (vu_msg_fail(c, m, "%s address 0x%llx is not in guest "
		    "memory", what, (unsigned long long)uva));
	return (0);
}

/*
 * SET_VRING_ADDR: the frontend's addresses of the three rings, converted
 * to guest-physical with the current table, then checked and stored by
 * vring_set_addr (which also reads the guest's used->idx).
 */
int
vu_msg_set_vring_addr(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	struct vhost_user_vring_addr	 a;
	struct guest_mem		*mem;
	struct vring			*vq;
	uint64_t			 desc, avail, used;
	char				*cause = NULL;

	memcpy(&a, m->payload.bytes, sizeof a);
	if ((vq = vu_msg_vring(c, m, a.index)) == NULL)
		return (-1);
	if (vq->num == 0)
		return (vu_msg_fail(c, m, "queue %u: size not set", a.index));
	mem = device_mem(c->dev);
	if (mem == NULL)
		return (vu_msg_fail(c, m, "queue %u: no memory table",
		    a.index));
	if (vu_msg_vring_uva(c, m, mem, "descriptor table", a.desc_user_addr,
	    &desc) == -1 ||
	    vu_msg_vring_uva(c, m, mem, "available ring", a.avail_user_addr,
	    &avail) == -1 ||
	    vu_msg_vring_uva(c, m, mem, "used ring", a.used_user_addr,
	    &used) == -1)
		return (-1);

	if (vu_msg_vring_stop(c, m, vq) == -1)
		return (-1);
	if (vring_set_addr(vq, mem, desc, avail, used, a.flags,
	    &cause) == -1) {
		vu_msg_fail(c, m, "queue %u: %s", a.index,
		    cause != NULL ? cause : "bad ring addresses");
		free(cause);
		vring_update(vq);
		return (-1);
	}
	vq->log_gpa = a.log_guest_addr;
	vring_update(vq);
	return (0);
}

/* SET_VRING_BASE: the next available index to process; for a packed ring
 * with its wrap counter, and the used index and wrap in the high half. */
int
vu_msg_set_vring_base(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	struct vhost_user_vring_state	 st;
	struct vring			*vq;

	char				*cause = NULL;

	if ((vq = vu_msg_vring_state(c, m, &st)) == NULL)
		return (-1);
	if (!vq->packed && st.num > UINT16_MAX)
		return (vu_msg_fail(c, m, "queue %u: base %u out of range",
		    st.index, st.num));
	if (vu_msg_vring_stop(c, m, vq) == -1)
		return (-1);
	if (vq->packed) {
		if (vring_packed_set_base(vq, st.num, &cause) == -1) {
			vu_msg_fail(c, m, "queue %u: %s", st.index, cause);
			free(cause);
			vring_update(vq);
			return (-1);
		}
		vring_update(vq);
		return (0);
	}
	vq->last_avail_idx = (uint16_t)st.num;
	vring_update(vq);
	return (0);
}

/* Close and forget one fd of a stopped ring. */
static void
vu_msg_vring_close(int *fdp)
{
	if (*fdp >= 0)
		close(*fdp);
	*fdp = -1;
}

/*
 * GET_VRING_BASE: stop the ring and report where it stopped.  As in the
 * rust-vmm handler, the kick and call fds are dropped: the ring stays
 * stopped until the frontend sends a new kick fd.  Stopping does not reset
 * the device (vring.h): the module sees queue_stop only, and the index is
 * exact (chains it still held are rewound or completed).  A ring whose
 * worker does not answer gets an empty (error) reply.
 */
int
vu_msg_get_vring_base(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r)
{
	struct vhost_user_vring_state	 st;
	struct vring			*vq;

	if ((vq = vu_msg_vring_state(c, m, &st)) == NULL)
		return (-1);
	if (vu_msg_vring_stop(c, m, vq) == -1)
		return (-1);
	st.num = vq->packed ? vring_packed_get_base(vq) : vq->last_avail_idx;
	vu_msg_vring_close(&vq->kick_fd);
	vu_msg_vring_close(&vq->call_fd);
	memcpy(r->payload.bytes, &st, sizeof st);
	r->size = sizeof st;
	return (0);
}

/*
 * Check an fd given for a ring: it must be an eventfd, and is made
 * non-blocking (the flag is on the open file, which the frontend shares;
 * QEMU's are non-blocking already).  Then a write to a call or err fd at
 * its maximum count fails with EAGAIN (a notification is pending) instead
 * of blocking a worker, and nothing else (a pipe, a socket) that could
 * block or fill is accepted.  Without /proc the type cannot be checked and
 * only the flag is set.  0, or -1 (logged).
 */
static int
vu_msg_vring_check_fd(struct vu_conn *c, const struct vu_msg *m,
    unsigned index, enum vring_fd which, int fd)
{
	char	 path[64], link[64];
	ssize_t	 n;
	int	 flags;

	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	n = readlinkat(AT_FDCWD, path, link, sizeof link - 1);
	if (n == -1 && errno != ENOENT && errno != EACCES)
		return (vu_msg_fail(c, m, "queue %u: %s fd: %s", index,
		    vu_msg_vring_fd_names[which], strerror(errno)));
	if (n >= 0) {
		link[n] = '\0';
		if (strcmp(link, VU_MSG_EVENTFD_LINK) != 0)
			return (vu_msg_fail(c, m, "queue %u: %s fd is not an "
			    "eventfd (%s)", index, vu_msg_vring_fd_names[which],
			    link));
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		return (vu_msg_fail(c, m, "queue %u: %s fd: %s", index,
		    vu_msg_vring_fd_names[which], strerror(errno)));
	return (0);
}

/* SET_VRING_KICK/CALL/ERR: index in bits 0-7, NOFD in bit 8, the fd
 * attached unless NOFD (the table has checked the count).  The fd is
 * checked, then set or swapped (vring_set_fd). */
static int
vu_msg_vring_fd(struct vu_conn *c, struct vu_msg *m, enum vring_fd which)
{
	struct vring	*vq;
	uint64_t	 v = vu_msg_u64(m);
	uint32_t	 index = (uint32_t)(v & VHOST_USER_VRING_IDX_MASK);
	int		 fd = -1;

	if (v & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK |
	    VHOST_USER_VRING_NOFD_MASK))
		return (vu_msg_fail(c, m, "unknown bits in 0x%llx",
		    (unsigned long long)v));
	if ((vq = vu_msg_vring(c, m, index)) == NULL)
		return (-1);
	if ((v & VHOST_USER_VRING_NOFD_MASK) == 0) {
		/* Refused: the dispatcher closes it. */
		if (vu_msg_vring_check_fd(c, m, index, which, m->fds[0]) == -1)
			return (-1);
		fd = m->fds[0];
		m->fds[0] = -1;
	}
	if (which == VRING_FD_KICK && fd == -1)
		log_info("%s: queue %u: no kick fd (polling is not "
		    "supported), the queue stays stopped", c->dev->name,
		    index);
	if (which != VRING_FD_ERR && vq->started &&
	    worker_stuck(c->dev->workers[vq->worker_idx])) {
		if (fd >= 0)
			close(fd);
		return (vu_msg_fail(c, m, "queue %u: its worker does not "
		    "answer", index));
	}
	vring_set_fd(vq, which, fd);
	return (0);
}

/* SET_VRING_KICK: the eventfd the guest kicks. */
int
vu_msg_set_vring_kick(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	return (vu_msg_vring_fd(c, m, VRING_FD_KICK));
}

/* SET_VRING_CALL: the eventfd we signal the guest with. */
int
vu_msg_set_vring_call(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	return (vu_msg_vring_fd(c, m, VRING_FD_CALL));
}

/* SET_VRING_ERR: the eventfd signalled when the device breaks. */
int
vu_msg_set_vring_err(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	return (vu_msg_vring_fd(c, m, VRING_FD_ERR));
}

/* GET_QUEUE_NUM: how many queues the device has. */
int
vu_msg_get_queue_num(struct vu_conn *c, struct vu_msg *m __unused,
    struct vu_reply *r)
{
	vu_msg_reply_u64(r, c->dev->info.num_queues);
	return (0);
}

/* SET_VRING_ENABLE: only once PROTOCOL_FEATURES is acked; num 0 or 1. */
int
vu_msg_set_vring_enable(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	struct vhost_user_vring_state	 st;
	struct vring			*vq;
	uint64_t			 acked;

	acked = atomic_load(&c->dev->acked_features);
	if ((acked & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)) == 0)
		return (vu_msg_fail(c, m, "PROTOCOL_FEATURES not acked"));
	if ((vq = vu_msg_vring_state(c, m, &st)) == NULL)
		return (-1);
	if (st.num > 1)
		return (vu_msg_fail(c, m, "queue %u: enable must be 0 or 1, "
		    "not %u", st.index, st.num));
	if (vq->enabled != (int)st.num) {
		if (vu_msg_vring_stop(c, m, vq) == -1)
			return (-1);
		vq->enabled = (int)st.num;
	}
	vring_update(vq);
	return (0);
}
