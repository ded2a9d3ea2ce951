/*
 * Test frontend: the frontend (connection, guest memory regions) and its
 * vhost-user requests; its queues are in fe_queue.c.
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

/* Create a local memfd region. */
int
fe_region_add(struct fe *fe, uint64_t gpa, uint64_t size, uint64_t offset)
{
	struct fe_region	*r;
	int			 idx;

	if (fe->nregions == FE_MAX_REGIONS) {
		fe_seterr("too many regions");
		return (-1);
	}
	idx = (int)fe->nregions;
	r = &fe->regions[idx];
	memset(r, 0, sizeof *r);
	if ((r->fd = memfd_create("fe-guest", MFD_CLOEXEC |
	    fe->memfd_flags)) == -1) {
		fe_seterr("memfd_create: %s", strerror(errno));
		return (-1);
	}
	r->map_size = (size_t)(offset + size);
	if (ftruncate(r->fd, (off_t)r->map_size) == -1) {
		fe_seterr("ftruncate: %s", strerror(errno));
		close(r->fd);
		return (-1);
	}
	r->map = mmap(NULL, r->map_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    r->fd, 0);
	if (r->map == MAP_FAILED) {
		fe_seterr("mmap: %s", strerror(errno));
		close(r->fd);
		return (-1);
	}
	r->gpa = gpa;
	r->size = size;
	r->offset = offset;
	r->host = r->map + offset;
	r->next = gpa == 0 ? 0x1000 : 0;
	fe->nregions++;
	return (idx);
}

/* Create a frontend: connect and build guest memory. */
struct fe *
fe_new(const char *path, const struct fe_region_spec *specs, unsigned nspecs)
{
	struct fe	*fe;
	unsigned	 i;

	if ((fe = calloc(1, sizeof *fe)) == NULL)
		abort();
	fe->fd = -1;
	fe->backend_fd = -1;
	fe->inflight_fd = -1;
	fe->timeout_ms = FE_TIMEOUT_MS;
	fe->packed = fe_env_packed();
	for (i = 0; i < FE_MAX_QUEUES; i++) {
		fe->queues[i].index = i;
		fe->queues[i].kick_fd = -1;
		fe->queues[i].call_fd = -1;
		fe->queues[i].err_fd = -1;
	}
	if (specs == NULL) {
		specs = fe_default_layout;
		nspecs = fe_default_layout_n;
	}
	for (i = 0; i < nspecs; i++) {
		if (fe_region_add(fe, specs[i].gpa, specs[i].size,
		    specs[i].offset) == -1)
			goto fail;
	}
	if (path != NULL) {
		fe->path = strdup(path);
		if ((fe->fd = fe_sock_connect(path, 2000)) == -1)
			goto fail;
	}
	return (fe);
fail:
	fe_free(fe);
	return (NULL);
}

/* Forget negotiated state (new connection). */
static void
fe_forget(struct fe *fe)
{
	fe->features = 0;
	fe->acked = 0;
	fe->protocol_features = 0;
	fe->acked_protocol = 0;
	fe->reply_ack = 0;
	fe->event_idx = 0;
	if (fe->backend_fd != -1)
		close(fe->backend_fd);
	fe->backend_fd = -1;
}

/* Close the socket. */
void
fe_disconnect(struct fe *fe)
{
	if (fe->fd != -1)
		close(fe->fd);
	fe->fd = -1;
	fe_forget(fe);
}

/* Connect again keeping memory and rings. */
int
fe_reconnect(struct fe *fe, const char *path)
{
	unsigned	i;

	fe_disconnect(fe);
	if (path != NULL) {
		free(fe->path);
		fe->path = strdup(path);
	}
	for (i = 0; i < fe->nregions; i++)
		fe->regions[i].present = 0;
	if ((fe->fd = fe_sock_connect(fe->path, 2000)) == -1)
		return (-1);
	return (0);
}

/* Free a queue's driver state. */
static void
fe_queue_free(struct fe_queue *q)
{
	if (q->kick_fd != -1)
		close(q->kick_fd);
	if (q->call_fd != -1)
		close(q->call_fd);
	if (q->err_fd != -1)
		close(q->err_fd);
	free(q->chain_len);
	free(q->req_len);
	free(q->req_gpa);
	free(q->chain_next);
	free(q->pk_pos);
	free(q->pk_seq);
	free(q->free_next);
}

/* Free everything. */
void
fe_free(struct fe *fe)
{
	unsigned	i;

	if (fe == NULL)
		return;
	fe_disconnect(fe);
	for (i = 0; i < FE_MAX_QUEUES; i++)
		fe_queue_free(&fe->queues[i]);
	for (i = 0; i < fe->nregions; i++) {
		munmap(fe->regions[i].map, fe->regions[i].map_size);
		close(fe->regions[i].fd);
	}
	if (fe->inflight_map != NULL)
		munmap(fe->inflight_map, fe->inflight_size);
	if (fe->inflight_fd != -1)
		close(fe->inflight_fd);
	free(fe->path);
	free(fe);
}

/* ------------------------------------------------------------------ */

/* Send a request and collect its reply or ack. */
int
fe_request(struct fe *fe, uint32_t request, const void *payload,
    uint32_t size, const int *fds, int nfds, struct fe_msg *reply,
    uint32_t want_size)
{
	struct fe_msg	 local, *m = reply != NULL ? reply : &local;
	int		 has_reply = fe_request_has_reply(request);
	uint32_t	 flags = VHOST_USER_VERSION;
	int		 r;

	if (fe->fd == -1) {
		fe_seterr("not connected");
		return (-1);
	}
	if (!has_reply && fe->reply_ack)
		flags |= VHOST_USER_NEED_REPLY_MASK;
	if (fe_sock_send(fe->fd, request, flags, size, payload, size, fds,
	    nfds) == -1)
		return (-1);
	if (!has_reply && !fe->reply_ack)
		return (0);
	r = fe_sock_recv(fe->fd, m, fe->timeout_ms);
	if (r <= 0)
		return (-1);
	fe_msg_close_fds(m);
	if (m->hdr.request != request ||
	    (m->hdr.flags & VHOST_USER_REPLY_MASK) == 0 ||
	    (m->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		fe_seterr("%s: bad reply header request %u flags 0x%x",
		    fe_request_name(request), m->hdr.request, m->hdr.flags);
		return (-1);
	}
	if (!has_reply) {
		if (m->hdr.size != 8) {
			fe_seterr("%s: ack of size %u",
			    fe_request_name(request), m->hdr.size);
			return (-1);
		}
		if (fe_msg_u64(m) != 0) {
			fe_seterr("%s: refused (ack %llu)",
			    fe_request_name(request),
			    (unsigned long long)fe_msg_u64(m));
			return (1);
		}
		return (0);
	}
	if (want_size != ~0u && m->hdr.size != want_size) {
		fe_seterr("%s: reply size %u, want %u",
		    fe_request_name(request), m->hdr.size, want_size);
		return (1);
	}
	return (0);
}

/* Send a request with NEED_REPLY and return the ack value. */
int
fe_request_ack(struct fe *fe, uint32_t request, const void *payload,
    uint32_t size, const int *fds, int nfds, uint64_t *ack)
{
	struct fe_msg	m;

	*ack = UINT64_MAX;
	if (fe->fd == -1) {
		fe_seterr("not connected");
		return (-1);
	}
	if (fe_sock_send(fe->fd, request, VHOST_USER_VERSION |
	    VHOST_USER_NEED_REPLY_MASK, size, payload, size, fds, nfds) == -1)
		return (-1);
	if (fe_sock_recv(fe->fd, &m, fe->timeout_ms) <= 0)
		return (-1);
	fe_msg_close_fds(&m);
	if (m.hdr.request != request ||
	    (m.hdr.flags & VHOST_USER_REPLY_MASK) == 0 || m.hdr.size != 8) {
		fe_seterr("%s: bad ack: request %u flags 0x%x size %u",
		    fe_request_name(request), m.hdr.request, m.hdr.flags,
		    m.hdr.size);
		return (-1);
	}
	*ack = fe_msg_u64(&m);
	return (*ack != 0 ? 1 : 0);
}

/* A request whose reply is a u64. */
int
fe_get_u64(struct fe *fe, uint32_t request, uint64_t *val)
{
	struct fe_msg	m;
	int		r;

	r = fe_request(fe, request, NULL, 0, NULL, 0, &m, 8);
	if (r == 0)
		*val = fe_msg_u64(&m);
	return (r);
}

/* A request carrying a u64. */
int
fe_set_u64(struct fe *fe, uint32_t request, uint64_t val)
{
	return (fe_request(fe, request, &val, sizeof val, NULL, 0, NULL, ~0u));
}

/* SET_OWNER. */
int
fe_set_owner(struct fe *fe)
{
	return (fe_request(fe, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, NULL,
	    ~0u));
}

/* GET_FEATURES. */
int
fe_get_features(struct fe *fe, uint64_t *v)
{
	int	r = fe_get_u64(fe, VHOST_USER_GET_FEATURES, v);

	if (r == 0)
		fe->features = *v;
	return (r);
}

/* SET_FEATURES. */
int
fe_set_features(struct fe *fe, uint64_t v)
{
	int	r;

	/* The ring layout is the frontend's choice (fe->packed), whatever
	 * the caller's mask says. */
	if (fe->packed)
		v |= FE_BIT(FE_F_RING_PACKED);
	else
		v &= ~FE_BIT(FE_F_RING_PACKED);
	r = fe_set_u64(fe, VHOST_USER_SET_FEATURES, v);
	if (r == 0) {
		fe->acked = v;
		fe->event_idx = (v & FE_BIT(FE_F_EVENT_IDX)) != 0;
	}
	return (r);
}

/* GET_PROTOCOL_FEATURES. */
int
fe_get_protocol_features(struct fe *fe, uint64_t *v)
{
	int	r = fe_get_u64(fe, VHOST_USER_GET_PROTOCOL_FEATURES, v);

	if (r == 0)
		fe->protocol_features = *v;
	return (r);
}

/* SET_PROTOCOL_FEATURES; REPLY_ACK is used from the next request on. */
int
fe_set_protocol_features(struct fe *fe, uint64_t v)
{
	int	r = fe_set_u64(fe, VHOST_USER_SET_PROTOCOL_FEATURES, v);

	if (r == 0) {
		fe->acked_protocol = v;
		fe->reply_ack = (v &
		    FE_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK)) != 0;
	}
	return (r);
}

/* GET_QUEUE_NUM. */
int
fe_get_queue_num(struct fe *fe, uint64_t *v)
{
	return (fe_get_u64(fe, VHOST_USER_GET_QUEUE_NUM, v));
}

/* GET_MAX_MEM_SLOTS. */
int
fe_get_max_mem_slots(struct fe *fe, uint64_t *v)
{
	return (fe_get_u64(fe, VHOST_USER_GET_MAX_MEM_SLOTS, v));
}

/* Fill a wire region from a local one. */
static void
fe_region_wire(const struct fe_region *r, struct vhost_user_mem_region *w)
{
	w->guest_phys_addr = r->gpa;
	w->memory_size = r->size;
	w->userspace_addr = (uint64_t)(uintptr_t)r->host;
	w->mmap_offset = r->offset;
}

/* SET_MEM_TABLE. */
int
fe_set_mem_table(struct fe *fe, const unsigned *idx, unsigned n)
{
	struct {
		struct vhost_user_memory	mem;
		struct vhost_user_mem_region	regs[VHOST_USER_MEM_TABLE_MAX];
	} __attribute__((packed)) p;
	int		fds[VHOST_USER_MEM_TABLE_MAX];
	unsigned	i, k, cnt = 0;
	int		r;

	memset(&p, 0, sizeof p);
	if (idx == NULL)
		n = fe->nregions;
	for (i = 0; i < n; i++) {
		k = idx != NULL ? idx[i] : i;
		if (k >= fe->nregions || cnt == VHOST_USER_MEM_TABLE_MAX) {
			fe_seterr("bad region list");
			return (-1);
		}
		fe_region_wire(&fe->regions[k], &p.regs[cnt]);
		fds[cnt++] = fe->regions[k].fd;
	}
	p.mem.nregions = cnt;
	r = fe_request(fe, VHOST_USER_SET_MEM_TABLE, &p,
	    (uint32_t)(8 + cnt * sizeof p.regs[0]), fds, (int)cnt, NULL, ~0u);
	if (r == 0) {
		for (i = 0; i < fe->nregions; i++)
			fe->regions[i].present = 0;
		for (i = 0; i < n; i++)
			fe->regions[idx != NULL ? idx[i] : i].present = 1;
	}
	return (r);
}

/* ADD_MEM_REG of local region idx. */
int
fe_add_mem_reg(struct fe *fe, unsigned idx)
{
	struct vhost_user_mem_reg_msg	p;
	int				r;

	if (idx >= fe->nregions) {
		fe_seterr("bad region %u", idx);
		return (-1);
	}
	memset(&p, 0, sizeof p);
	fe_region_wire(&fe->regions[idx], &p.region);
	r = fe_request(fe, VHOST_USER_ADD_MEM_REG, &p, sizeof p,
	    &fe->regions[idx].fd, 1, NULL, ~0u);
	if (r == 0)
		fe->regions[idx].present = 1;
	return (r);
}

/* REM_MEM_REG of local region idx. */
int
fe_rem_mem_reg(struct fe *fe, unsigned idx)
{
	struct vhost_user_mem_reg_msg	p;
	int				r;

	if (idx >= fe->nregions) {
		fe_seterr("bad region %u", idx);
		return (-1);
	}
	memset(&p, 0, sizeof p);
	fe_region_wire(&fe->regions[idx], &p.region);
	r = fe_request(fe, VHOST_USER_REM_MEM_REG, &p, sizeof p, NULL, 0,
	    NULL, ~0u);
	if (r == 0)
		fe->regions[idx].present = 0;
	return (r);
}

/* GET_CONFIG. */
int
fe_get_config(struct fe *fe, uint32_t offset, uint32_t size, void *buf,
    uint32_t *got)
{
	uint8_t				 p[VHOST_USER_CONFIG_HDR_SIZE +
					    VHOST_USER_MAX_CONFIG_SIZE];
	struct vhost_user_config	 c;
	struct fe_msg			 m;
	int				 r;

	*got = 0;
	if (size > VHOST_USER_MAX_CONFIG_SIZE) {
		fe_seterr("config size too big");
		return (-1);
	}
	memset(p, 0, sizeof p);
	c.offset = offset;
	c.size = size;
	c.flags = 0;
	memcpy(p, &c, VHOST_USER_CONFIG_HDR_SIZE);
	r = fe_request(fe, VHOST_USER_GET_CONFIG, p,
	    VHOST_USER_CONFIG_HDR_SIZE + size, NULL, 0, &m,
	    VHOST_USER_CONFIG_HDR_SIZE + size);
	if (r != 0)
		return (r);
	memcpy(&c, m.payload, VHOST_USER_CONFIG_HDR_SIZE);
	if (c.size != size) {
		fe_seterr("GET_CONFIG: reply config size %u", c.size);
		return (1);
	}
	*got = c.size;
	if (buf != NULL)
		memcpy(buf, m.payload + VHOST_USER_CONFIG_HDR_SIZE, size);
	return (0);
}

/* SET_CONFIG. */
int
fe_set_config(struct fe *fe, uint32_t offset, const void *buf, uint32_t size)
{
	uint8_t				 p[VHOST_USER_CONFIG_HDR_SIZE +
					    VHOST_USER_MAX_CONFIG_SIZE];
	struct vhost_user_config	 c;

	if (size > VHOST_USER_MAX_CONFIG_SIZE) {
		fe_seterr("config size too big");
		return (-1);
	}
	c.offset = offset;
	c.size = size;
	c.flags = 0;
	memcpy(p, &c, VHOST_USER_CONFIG_HDR_SIZE);
	if (size > 0)
		memcpy(p + VHOST_USER_CONFIG_HDR_SIZE, buf, size);
	return (fe_request(fe, VHOST_USER_SET_CONFIG, p,
	    VHOST_USER_CONFIG_HDR_SIZE + size, NULL, 0, NULL, ~0u));
}

/* A request carrying a vring state {index, num}. */
int
fe_vring_state(struct fe *fe, uint32_t request, uint32_t index, uint32_t num)
{
	struct vhost_user_vring_state	s;

	s.index = index;
	s.num = num;
	return (fe_request(fe, request, &s, sizeof s, NULL, 0, NULL, ~0u));
}

/* SET_VRING_KICK/CALL/ERR with fd (or NOFD when fd < 0). */
int
fe_vring_fd(struct fe *fe, uint32_t request, uint32_t index, int fd)
{
	uint64_t	v = index;

	if (fd < 0)
		v |= VHOST_USER_VRING_NOFD_MASK;
	return (fe_request(fe, request, &v, sizeof v, fd >= 0 ? &fd : NULL,
	    fd >= 0 ? 1 : 0, NULL, ~0u));
}

/* GET_VRING_BASE. */
int
fe_get_vring_base(struct fe *fe, uint32_t index, uint32_t *num)
{
	struct vhost_user_vring_state	s;
	struct fe_msg			m;
	int				r;

	s.index = index;
	s.num = 0;
	r = fe_request(fe, VHOST_USER_GET_VRING_BASE, &s, sizeof s, NULL, 0,
	    &m, sizeof s);
	if (r != 0)
		return (r);
	memcpy(&s, m.payload, sizeof s);
	if (s.index != index) {
		fe_seterr("GET_VRING_BASE: reply for index %u", s.index);
		return (-1);
	}
	*num = s.num;
	return (0);
}

/* SET_VRING_ENABLE. */
int
fe_vring_enable(struct fe *fe, unsigned q, int on)
{
	return (fe_vring_state(fe, VHOST_USER_SET_VRING_ENABLE, q,
	    on ? 1 : 0));
}

/* Give the daemon the backend request channel. */
static int
fe_backend_channel(struct fe *fe)
{
	int	sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		fe_seterr("socketpair: %s", strerror(errno));
		return (-1);
	}
	r = fe_request(fe, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1,
	    NULL, ~0u);
	close(sv[1]);
	if (r != 0) {
		close(sv[0]);
		return (r);
	}
	if (fe->backend_fd != -1)
		close(fe->backend_fd);
	fe->backend_fd = sv[0];
	return (0);
}

/* Negotiate features as QEMU does. */
int
fe_negotiate(struct fe *fe, uint64_t want, uint64_t want_proto)
{
	uint64_t	f, pf;
	int		r;

	if ((r = fe_set_owner(fe)) != 0)
		return (r);
	if ((r = fe_get_features(fe, &f)) != 0)
		return (r);
	if (f & want & FE_BIT(VHOST_USER_F_PROTOCOL_FEATURES)) {
		if ((r = fe_get_protocol_features(fe, &pf)) != 0)
			return (r);
		if ((r = fe_set_protocol_features(fe, pf & want_proto)) != 0)
			return (r);
		if (fe->acked_protocol &
		    FE_BIT(VHOST_USER_PROTOCOL_F_BACKEND_REQ)) {
			if ((r = fe_backend_channel(fe)) != 0)
				return (r);
		}
	}
	if (fe->packed && !(f & FE_BIT(FE_F_RING_PACKED))) {
		fe_seterr("packed rings wanted, the daemon does not offer "
		    "VIRTIO_F_RING_PACKED");
		return (-1);
	}
	return (fe_set_features(fe, f & want));
}
