/*
 * Ring requests: SET_VRING_NUM/ADDR/BASE/KICK/CALL/ERR/ENABLE,
 * GET_VRING_BASE and GET_QUEUE_NUM.  Every index is range-checked before
 * use (the DPDK CVE-2020-10723 class); a ring's configuration changes only
 * while it is stopped, and vring_update restarts it when it can run.
 * Main thread.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "guest_mem.h"
#include "log.h"
#include "vhost_user.h"
#include "vring.h"
#include "vu_conn_priv.h"

/* Which fd of a ring a SET_VRING_KICK/CALL/ERR message sets. */
enum vu_msg_vring_fd {
	VU_MSG_VRING_KICK,
	VU_MSG_VRING_CALL,
	VU_MSG_VRING_ERR,
};

/* Read a vring_state payload and find its ring; NULL (logged) when the
 * index is out of range. */
static struct vring *
vu_msg_vring_state(struct vu_conn *c, const struct vu_msg *m,
    struct vhost_user_vring_state *st)
{
	memcpy(st, m->payload.bytes, sizeof *st);
	return (vu_msg_vring(c, m, st->index));
}

/* SET_VRING_NUM: the ring size, a power of two up to the device's max.
 * A new size invalidates the ring addresses checked for the old one. */
int
vu_msg_set_vring_num(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	struct vhost_user_vring_state	 st;
	struct vring			*vq;
	uint32_t			 max = c->dev->info.max_queue_size;

	if ((vq = vu_msg_vring_state(c, m, &st)) == NULL)
		return (-1);
	if (st.num == 0 || st.num > max || (st.num & (st.num - 1)) != 0)
		return (vu_msg_fail(c, m, "queue %u: size %u is not a power "
		    "of two in 1..%u", st.index, st.num, max));
	vring_stop(vq);
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

	vring_stop(vq);
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

/* SET_VRING_BASE: the next available index to process. */
int
vu_msg_set_vring_base(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	struct vhost_user_vring_state	 st;
	struct vring			*vq;

	if ((vq = vu_msg_vring_state(c, m, &st)) == NULL)
		return (-1);
	if (st.num > UINT16_MAX)
		return (vu_msg_fail(c, m, "queue %u: base %u out of range",
		    st.index, st.num));
	vring_stop(vq);
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
 * stopped until the frontend sends a new kick fd.
 */
int
vu_msg_get_vring_base(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r)
{
	struct vhost_user_vring_state	 st;
	struct vring			*vq;

	if ((vq = vu_msg_vring_state(c, m, &st)) == NULL)
		return (-1);
	vring_stop(vq);
	st.num = vq->last_avail_idx;
	vu_msg_vring_close(&vq->kick_fd);
	vu_msg_vring_close(&vq->call_fd);
	memcpy(r->payload.bytes, &st, sizeof st);
	r->size = sizeof st;
	return (0);
}

/* Replace the err fd of a ring.  The device lock keeps device_fail on
 * other threads from writing to an fd being closed. */
static void
vu_msg_vring_set_err_fd(struct vring *vq, int fd)
{
	struct device	*dev = vq->dev;

	pthread_mutex_lock(&dev->err_lock);
	vu_msg_vring_close(&vq->err_fd);
	vq->err_fd = fd;
	pthread_mutex_unlock(&dev->err_lock);
}

/* SET_VRING_KICK/CALL/ERR: index in bits 0-7, NOFD in bit 8, the fd
 * attached unless NOFD (the table has checked the count). */
static int
vu_msg_vring_fd(struct vu_conn *c, struct vu_msg *m,
    enum vu_msg_vring_fd which)
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
		fd = m->fds[0];
		m->fds[0] = -1;
	}

	switch (which) {
	case VU_MSG_VRING_KICK:
		vring_stop(vq);
		vu_msg_vring_close(&vq->kick_fd);
		vq->kick_fd = fd;
		if (fd == -1)
			log_info("%s: queue %u: no kick fd (polling is not "
			    "supported), the queue stays stopped",
			    c->dev->name, index);
		vring_update(vq);
		break;
	case VU_MSG_VRING_CALL:
		vring_stop(vq);
		vu_msg_vring_close(&vq->call_fd);
		vq->call_fd = fd;
		vring_update(vq);
		break;
	case VU_MSG_VRING_ERR:
		vu_msg_vring_set_err_fd(vq, fd);
		break;
	}
	return (0);
}

/* SET_VRING_KICK: the eventfd the guest kicks. */
int
vu_msg_set_vring_kick(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	return (vu_msg_vring_fd(c, m, VU_MSG_VRING_KICK));
}

/* SET_VRING_CALL: the eventfd we signal the guest with. */
int
vu_msg_set_vring_call(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	return (vu_msg_vring_fd(c, m, VU_MSG_VRING_CALL));
}

/* SET_VRING_ERR: the eventfd signalled when the device breaks. */
int
vu_msg_set_vring_err(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	return (vu_msg_vring_fd(c, m, VU_MSG_VRING_ERR));
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
		vring_stop(vq);
		vq->enabled = (int)st.num;
	}
	vring_update(vq);
	return (0);
}
