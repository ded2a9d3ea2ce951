/*
 * Test frontend: the frontend (connection, guest memory regions, queues)
 * and its vhost-user requests.
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
