/*
 * Test frontend: its queues in guest memory (split and packed rings),
 * setting them up in the back-end, starting, pausing and resuming them and
 * swapping their fds.
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

/* Place queue q's packed ring in guest memory: the descriptor ring, then
 * the driver and device event areas (ENABLE), 4096-aligned. */
static int
fe_queue_alloc_packed(struct fe *fe, struct fe_queue *q, unsigned num)
{
	uint64_t	dsize = 16ull * num, base;
	unsigned	i;

	base = fe_alloc(fe, dsize + 8, 4096);
	if (base == 0)
		return (-1);
	q->packed = 1;
	q->num = num;
	q->desc_gpa = base;
	q->avail_gpa = base + dsize;
	q->used_gpa = base + dsize + 4;
	q->pdesc = fe_host(fe, base, dsize + 8);
	if (q->pdesc == NULL) {
		fe_seterr("rings not contiguous");
		return (-1);
	}
	memset(q->pdesc, 0, dsize + 8);
	q->drv_ev = (struct vring_packed_event *)(void *)((uint8_t *)q->pdesc +
	    dsize);
	q->dev_ev = q->drv_ev + 1;
	q->desc = (struct vring_desc *)(void *)q->pdesc;
	q->avail = (struct vring_avail *)(void *)q->drv_ev;
	q->used = (struct vring_used *)(void *)q->dev_ev;
	q->chain_len = calloc(num, sizeof *q->chain_len);
	q->req_len = calloc(num, sizeof *q->req_len);
	q->req_gpa = calloc(num, sizeof *q->req_gpa);
	q->chain_next = calloc(num, sizeof *q->chain_next);
	q->free_next = calloc(num, sizeof *q->free_next);
	q->pk_pos = calloc(num, sizeof *q->pk_pos);
	q->pk_seq = calloc(num, sizeof *q->pk_seq);
	if (q->chain_len == NULL || q->req_len == NULL || q->req_gpa == NULL ||
	    q->chain_next == NULL || q->free_next == NULL ||
	    q->pk_pos == NULL || q->pk_seq == NULL)
		abort();
	/* free_next links buffer ids; nfree counts free ring slots. */
	for (i = 0; i < num; i++)
		q->free_next[i] = (uint16_t)(i + 1);
	q->free_head = 0;
	q->nfree = num;
	q->outstanding = 0;
	/* A fresh ring starts with both wrap counters at 1. */
	if (q->base == 0)
		q->base = 0x80008000u;
	q->pk_next = q->base & 0x7fff;
	q->pk_wrap = (q->base & 0x8000) != 0;
	q->pk_used = (q->base >> 16) & 0x7fff;
	q->pk_used_wrap = (q->base & 0x80000000u) != 0;
	if (q->pk_next >= num || q->pk_used >= num) {
		fe_seterr("packed base 0x%x out of range", q->base);
		return (-1);
	}
	q->avail_idx = 0;
	q->last_used = 0;
	q->allocated = 1;
	return (0);
}

/* Place queue q's rings in guest memory. */
static int
fe_queue_alloc(struct fe *fe, struct fe_queue *q, unsigned num)
{
	uint64_t	dsize, asize, usize, base;
	unsigned	i;

	if (fe->packed) {
		if (num == 0 || num > 32768) {
			fe_seterr("bad ring size %u", num);
			return (-1);
		}
		return (fe_queue_alloc_packed(fe, q, num));
	}
	if (num == 0 || num > 32768 || (num & (num - 1)) != 0) {
		fe_seterr("bad ring size %u", num);
		return (-1);
	}
	dsize = 16ull * num;
	asize = 6 + 2ull * num;
	usize = 6 + 8ull * num;
	base = fe_alloc(fe, ((dsize + asize + 4095) & ~4095ull) + usize, 4096);
	if (base == 0)
		return (-1);
	q->num = num;
	q->desc_gpa = base;
	q->avail_gpa = base + dsize;
	q->used_gpa = (base + dsize + asize + 4095) & ~4095ull;
	q->desc = fe_host(fe, q->desc_gpa, dsize);
	q->avail = fe_host(fe, q->avail_gpa, asize);
	q->used = fe_host(fe, q->used_gpa, usize);
	if (q->desc == NULL || q->avail == NULL || q->used == NULL) {
		fe_seterr("rings not contiguous");
		return (-1);
	}
	memset(q->desc, 0, dsize);
	memset(q->avail, 0, asize);
	memset(q->used, 0, usize);
	q->chain_len = calloc(num, sizeof *q->chain_len);
	q->req_len = calloc(num, sizeof *q->req_len);
	q->req_gpa = calloc(num, sizeof *q->req_gpa);
	q->chain_next = calloc(num, sizeof *q->chain_next);
	q->free_next = calloc(num, sizeof *q->free_next);
	if (q->chain_len == NULL || q->req_len == NULL || q->req_gpa == NULL ||
	    q->chain_next == NULL || q->free_next == NULL)
		abort();
	for (i = 0; i < num; i++)
		q->free_next[i] = (uint16_t)(i + 1);
	q->free_head = 0;
	q->nfree = num;
	q->outstanding = 0;
	q->avail_idx = q->base;
	q->last_used = q->base;
	q->avail->idx = q->base;
	q->used->idx = q->base;
	q->allocated = 1;
	return (0);
}

/* Create an eventfd if missing. */
static int
fe_eventfd(int *fd)
{
	if (*fd != -1)
		return (0);
	if ((*fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		fe_seterr("eventfd: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/* Place queue q's rings in guest memory once. */
int
fe_queue_init(struct fe *fe, unsigned qi, unsigned num)
{
	struct fe_queue	*q;

	if (qi >= FE_MAX_QUEUES) {
		fe_seterr("bad queue %u", qi);
		return (-1);
	}
	q = &fe->queues[qi];
	if (!q->allocated && fe_queue_alloc(fe, q, num) == -1)
		return (-1);
	if (q->num != num) {
		fe_seterr("queue %u already has size %u", qi, q->num);
		return (-1);
	}
	return (0);
}

/* Set up queue q and hand it to the daemon. */
int
fe_queue_setup(struct fe *fe, unsigned qi, unsigned num)
{
	struct fe_queue			*q;
	struct vhost_user_vring_addr	 a;
	int				 r;

	if (qi >= FE_MAX_QUEUES) {
		fe_seterr("bad queue %u", qi);
		return (-1);
	}
	q = &fe->queues[qi];
	if (fe_queue_init(fe, qi, num) == -1)
		return (-1);
	if (fe_eventfd(&q->kick_fd) == -1 || fe_eventfd(&q->call_fd) == -1 ||
	    fe_eventfd(&q->err_fd) == -1)
		return (-1);
	if ((r = fe_vring_fd(fe, VHOST_USER_SET_VRING_ERR, qi, q->err_fd)) != 0)
		return (r);
	if ((r = fe_vring_state(fe, VHOST_USER_SET_VRING_NUM, qi, num)) != 0)
		return (r);
	if ((r = fe_vring_state(fe, VHOST_USER_SET_VRING_BASE, qi,
	    q->base)) != 0)
		return (r);
	memset(&a, 0, sizeof a);
	a.index = qi;
	a.desc_user_addr = (uint64_t)(uintptr_t)q->desc;
	a.used_user_addr = (uint64_t)(uintptr_t)q->used;
	a.avail_user_addr = (uint64_t)(uintptr_t)q->avail;
	a.flags = q->addr_flags;
	if (q->addr_flags & (1u << VHOST_VRING_F_LOG))
		a.log_guest_addr = q->used_gpa;
	if ((r = fe_request(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL,
	    0, NULL, ~0u)) != 0)
		return (r);
	if ((r = fe_vring_fd(fe, VHOST_USER_SET_VRING_KICK, qi,
	    q->kick_fd)) != 0)
		return (r);
	return (fe_vring_fd(fe, VHOST_USER_SET_VRING_CALL, qi, q->call_fd));
}

/* Protocol features fe_start asks for besides FE_WANT_PROTOCOL. */
uint64_t	 fe_start_protocol_extra;

/* Negotiate, send memory, set up and enable queue 0. */
int
fe_start(struct fe *fe, unsigned num)
{
	int	r;

	if ((r = fe_negotiate(fe, FE_WANT_FEATURES, FE_WANT_PROTOCOL |
	    fe_start_protocol_extra)) != 0)
		return (r);
	if ((r = fe_set_mem_table(fe, NULL, 0)) != 0)
		return (r);
	if ((r = fe_queue_setup(fe, 0, num)) != 0)
		return (r);
	if (fe->acked & FE_BIT(VHOST_USER_F_PROTOCOL_FEATURES))
		return (fe_vring_enable(fe, 0, 1));
	return (0);
}

/*
 * Pause queue q as QEMU 7.2 does on HMP `stop`: SET_VRING_ENABLE 0 (when
 * PROTOCOL_FEATURES was acked), then GET_VRING_BASE.  The index the
 * daemon reports becomes q->base for fe_queue_resume; *base gets it too
 * when not NULL.
 */
int
fe_queue_pause(struct fe *fe, unsigned qi, uint32_t *base)
{
	uint32_t	 num;
	int		 r;

	if (qi >= FE_MAX_QUEUES) {
		fe_seterr("bad queue %u", qi);
		return (-1);
	}
	if ((fe->acked & FE_BIT(VHOST_USER_F_PROTOCOL_FEATURES)) &&
	    (r = fe_vring_enable(fe, qi, 0)) != 0)
		return (r);
	if ((r = fe_get_vring_base(fe, qi, &num)) != 0)
		return (r);
	if (fe->queues[qi].packed) {
		fe->queues[qi].base = num;
		if ((num & 0xffff) != num >> 16) {
			fe_seterr("packed base 0x%x: used position is not the "
			    "avail one", num);
			return (-1);
		}
		num = fe_packed_count(&fe->queues[qi], (uint16_t)num);
		if (base != NULL)
			*base = num;
		return (0);
	}
	fe->queues[qi].base = (uint16_t)num;
	if (base != NULL)
		*base = num;
	return (0);
}

/*
 * Resume queue q as QEMU 7.2 does on HMP `cont`: SET_VRING_NUM, BASE
 * (q->base), ADDR, KICK, CALL with the queue's existing rings and
 * eventfds, then SET_VRING_ENABLE 1 (when PROTOCOL_FEATURES was acked).
 * The driver side (avail index, used entries not yet consumed) is
 * untouched: the guest did not notice.
 */
int
fe_queue_resume(struct fe *fe, unsigned qi)
{
	struct fe_queue	*q;
	int		 r;

	if (qi >= FE_MAX_QUEUES || !fe->queues[qi].allocated) {
		fe_seterr("queue %u was never set up", qi);
		return (-1);
	}
	q = &fe->queues[qi];
	if ((r = fe_queue_setup(fe, qi, q->num)) != 0)
		return (r);
	if (fe->acked & FE_BIT(VHOST_USER_F_PROTOCOL_FEATURES))
		return (fe_vring_enable(fe, qi, 1));
	return (0);
}

/*
 * Replace queue q's call or kick eventfd on a running queue, as QEMU does
 * on every MSI-X mask and unmask (call): a fresh eventfd is sent with
 * SET_VRING_CALL or SET_VRING_KICK and, once the daemon has taken it (ack
 * or next reply), the old one is closed here.  Same return values as
 * fe_request; on refusal the old fd stays.
 */
int
fe_swap_fd(struct fe *fe, unsigned qi, uint32_t request)
{
	struct fe_queue	*q;
	int		 fd = -1, *slot, r;

	if (qi >= FE_MAX_QUEUES || (request != VHOST_USER_SET_VRING_CALL &&
	    request != VHOST_USER_SET_VRING_KICK)) {
		fe_seterr("bad swap of queue %u", qi);
		return (-1);
	}
	q = &fe->queues[qi];
	slot = request == VHOST_USER_SET_VRING_CALL ? &q->call_fd :
	    &q->kick_fd;
	if (fe_eventfd(&fd) == -1)
		return (-1);
	if ((r = fe_vring_fd(fe, request, qi, fd)) != 0) {
		close(fd);
		return (r);
	}
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
	return (0);
}
