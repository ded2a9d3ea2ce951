/*
 * Frontend requests: the request table (indexed by request number), the
 * checks every message passes before its handler runs, reply and
 * REPLY_ACK rules, and the generic, feature, owner and config handlers.
 * Memory handlers live in vu_msg_mem.c, ring handlers in vu_msg_vring.c.
 *
 * Everything here runs on the main thread.  Nothing a frontend sends may
 * crash or stall the daemon: a bad message gets an error reply (where the
 * frontend expects one), its fds are closed, and the connection is kept.
 */

#include <sys/types.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "log.h"
#include "vhost_user.h"
#include "vring.h"
#include "vu_conn.h"
#include "vu_conn_priv.h"

static int	vu_msg_get_features(struct vu_conn *, struct vu_msg *,
		    struct vu_reply *);
static int	vu_msg_set_features(struct vu_conn *, struct vu_msg *,
		    struct vu_reply *);
static int	vu_msg_set_owner(struct vu_conn *, struct vu_msg *,
		    struct vu_reply *);
static int	vu_msg_reset_owner(struct vu_conn *, struct vu_msg *,
		    struct vu_reply *);
static int	vu_msg_get_protocol_features(struct vu_conn *,
		    struct vu_msg *, struct vu_reply *);
static int	vu_msg_set_protocol_features(struct vu_conn *,
		    struct vu_msg *, struct vu_reply *);
static int	vu_msg_set_backend_req_fd(struct vu_conn *, struct vu_msg *,
		    struct vu_reply *);
static int	vu_msg_get_config(struct vu_conn *, struct vu_msg *,
		    struct vu_reply *);
static int	vu_msg_set_config(struct vu_conn *, struct vu_msg *,
		    struct vu_reply *);
static int	vu_msg_reset_device(struct vu_conn *, struct vu_msg *,
		    struct vu_reply *);
static int	vu_msg_get_shared_object(struct vu_conn *, struct vu_msg *,
		    struct vu_reply *);

#define U64	sizeof(uint64_t)
#define NOPROTO	(-1)

/* A request we know by name but do not implement. */
#define VU_MSG_UNSUPPORTED(n, r)					\
	{ n, NULL, 0, VU_SIZE_MIN, 0, VU_FD_UPTO, NOPROTO, r }

/*
 * The request table, indexed by request number: name, handler, payload
 * size (exact or minimum), fds expected, protocol feature that must have
 * been negotiated, and whether the request has a reply of its own.
 */
static const struct vu_msg_entry vu_msg_table[VHOST_USER_MAX] = {
	[VHOST_USER_NONE] = VU_MSG_UNSUPPORTED("NONE", VU_REPLY_NONE),
	[VHOST_USER_GET_FEATURES] = { "GET_FEATURES",
	    vu_msg_get_features, 0, VU_SIZE_EXACT, 0, VU_FD_EXACT,
	    NOPROTO, VU_REPLY_OWN },
	[VHOST_USER_SET_FEATURES] = { "SET_FEATURES",
	    vu_msg_set_features, U64, VU_SIZE_EXACT, 0, VU_FD_EXACT,
	    NOPROTO, VU_REPLY_NONE },
	[VHOST_USER_SET_OWNER] = { "SET_OWNER",
	    vu_msg_set_owner, 0, VU_SIZE_EXACT, 0, VU_FD_EXACT,
	    NOPROTO, VU_REPLY_NONE },
	[VHOST_USER_RESET_OWNER] = { "RESET_OWNER",
	    vu_msg_reset_owner, 0, VU_SIZE_EXACT, 0, VU_FD_EXACT,
	    NOPROTO, VU_REPLY_NONE },
	[VHOST_USER_SET_MEM_TABLE] = { "SET_MEM_TABLE",
	    vu_msg_set_mem_table, 8, VU_SIZE_MIN,
	    VHOST_USER_MEM_TABLE_MAX, VU_FD_UPTO, NOPROTO, VU_REPLY_NONE },
	[VHOST_USER_SET_LOG_BASE] = { "SET_LOG_BASE",
	    vu_msg_set_log_base, 2 * U64, VU_SIZE_EXACT, 1, VU_FD_UPTO,
	    VHOST_USER_PROTOCOL_F_LOG_SHMFD, VU_REPLY_OWN },
	[VHOST_USER_SET_LOG_FD] = { "SET_LOG_FD",
	    vu_msg_set_log_fd, 0, VU_SIZE_EXACT, 1, VU_FD_EXACT,
	    NOPROTO, VU_REPLY_NONE },
	[VHOST_USER_SET_VRING_NUM] = { "SET_VRING_NUM",
	    vu_msg_set_vring_num, sizeof(struct vhost_user_vring_state),
	    VU_SIZE_EXACT, 0, VU_FD_EXACT, NOPROTO, VU_REPLY_NONE },
	[VHOST_USER_SET_VRING_ADDR] = { "SET_VRING_ADDR",
	    vu_msg_set_vring_addr, sizeof(struct vhost_user_vring_addr),
	    VU_SIZE_EXACT, 0, VU_FD_EXACT, NOPROTO, VU_REPLY_NONE },
	[VHOST_USER_SET_VRING_BASE] = { "SET_VRING_BASE",
	    vu_msg_set_vring_base, sizeof(struct vhost_user_vring_state),
	    VU_SIZE_EXACT, 0, VU_FD_EXACT, NOPROTO, VU_REPLY_NONE },
	[VHOST_USER_GET_VRING_BASE] = { "GET_VRING_BASE",
	    vu_msg_get_vring_base, sizeof(struct vhost_user_vring_state),
	    VU_SIZE_EXACT, 0, VU_FD_EXACT, NOPROTO, VU_REPLY_OWN },
	[VHOST_USER_SET_VRING_KICK] = { "SET_VRING_KICK",
	    vu_msg_set_vring_kick, U64, VU_SIZE_EXACT, 1, VU_FD_VRING,
	    NOPROTO, VU_REPLY_NONE },
	[VHOST_USER_SET_VRING_CALL] = { "SET_VRING_CALL",
	    vu_msg_set_vring_call, U64, VU_SIZE_EXACT, 1, VU_FD_VRING,
	    NOPROTO, VU_REPLY_NONE },
	[VHOST_USER_SET_VRING_ERR] = { "SET_VRING_ERR",
	    vu_msg_set_vring_err, U64, VU_SIZE_EXACT, 1, VU_FD_VRING,
	    NOPROTO, VU_REPLY_NONE },
	[VHOST_USER_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES",
	    vu_msg_get_protocol_features, 0, VU_SIZE_EXACT, 0, VU_FD_EXACT,
	    NOPROTO, VU_REPLY_OWN },
	[VHOST_USER_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES",
	    vu_msg_set_protocol_features, U64, VU_SIZE_EXACT, 0,
	    VU_FD_EXACT, NOPROTO, VU_REPLY_NONE },
	[VHOST_USER_GET_QUEUE_NUM] = { "GET_QUEUE_NUM",
	    vu_msg_get_queue_num, 0, VU_SIZE_EXACT, 0, VU_FD_EXACT,
	    VHOST_USER_PROTOCOL_F_MQ, VU_REPLY_OWN },
	[VHOST_USER_SET_VRING_ENABLE] = { "SET_VRING_ENABLE",
	    vu_msg_set_vring_enable, sizeof(struct vhost_user_vring_state),
	    VU_SIZE_EXACT, 0, VU_FD_EXACT, NOPROTO, VU_REPLY_NONE },
	[VHOST_USER_SEND_RARP] = VU_MSG_UNSUPPORTED("SEND_RARP",
	    VU_REPLY_NONE),
	[VHOST_USER_NET_SET_MTU] = VU_MSG_UNSUPPORTED("NET_SET_MTU",
	    VU_REPLY_NONE),
	[VHOST_USER_SET_BACKEND_REQ_FD] = { "SET_BACKEND_REQ_FD",
	    vu_msg_set_backend_req_fd, 0, VU_SIZE_EXACT, 1, VU_FD_EXACT,
	    VHOST_USER_PROTOCOL_F_BACKEND_REQ, VU_REPLY_NONE },
	[VHOST_USER_IOTLB_MSG] = VU_MSG_UNSUPPORTED("IOTLB_MSG",
	    VU_REPLY_NONE),
	[VHOST_USER_SET_VRING_ENDIAN] = VU_MSG_UNSUPPORTED(
	    "SET_VRING_ENDIAN", VU_REPLY_NONE),
	[VHOST_USER_GET_CONFIG] = { "GET_CONFIG",
	    vu_msg_get_config, VHOST_USER_CONFIG_HDR_SIZE, VU_SIZE_MIN, 0,
	    VU_FD_EXACT, VHOST_USER_PROTOCOL_F_CONFIG, VU_REPLY_OWN },
	[VHOST_USER_SET_CONFIG] = { "SET_CONFIG",
	    vu_msg_set_config, VHOST_USER_CONFIG_HDR_SIZE, VU_SIZE_MIN, 0,
	    VU_FD_EXACT, VHOST_USER_PROTOCOL_F_CONFIG, VU_REPLY_NONE },
	[VHOST_USER_CREATE_CRYPTO_SESSION] = VU_MSG_UNSUPPORTED(
	    "CREATE_CRYPTO_SESSION", VU_REPLY_OWN),
	[VHOST_USER_CLOSE_CRYPTO_SESSION] = VU_MSG_UNSUPPORTED(
	    "CLOSE_CRYPTO_SESSION", VU_REPLY_NONE),
	[VHOST_USER_POSTCOPY_ADVISE] = { "POSTCOPY_ADVISE",
	    vu_msg_postcopy_advise, 0, VU_SIZE_EXACT, 0, VU_FD_EXACT,
	    VHOST_USER_PROTOCOL_F_PAGEFAULT, VU_REPLY_OWN },
	[VHOST_USER_POSTCOPY_LISTEN] = { "POSTCOPY_LISTEN",
	    vu_msg_postcopy_listen, 0, VU_SIZE_EXACT, 0, VU_FD_EXACT,
	    VHOST_USER_PROTOCOL_F_PAGEFAULT, VU_REPLY_NONE },
	[VHOST_USER_POSTCOPY_END] = { "POSTCOPY_END",
	    vu_msg_postcopy_end, 0, VU_SIZE_EXACT, 0, VU_FD_EXACT,
	    VHOST_USER_PROTOCOL_F_PAGEFAULT, VU_REPLY_NONE },
	[VHOST_USER_GET_INFLIGHT_FD] = { "GET_INFLIGHT_FD",
	    vu_msg_get_inflight_fd, 20, VU_SIZE_MIN, 0, VU_FD_EXACT,
	    VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD, VU_REPLY_OWN },
	[VHOST_USER_SET_INFLIGHT_FD] = { "SET_INFLIGHT_FD",
	    vu_msg_set_inflight_fd, 20, VU_SIZE_MIN, 1, VU_FD_EXACT,
	    VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD, VU_REPLY_NONE },
	[VHOST_USER_GPU_SET_SOCKET] = { "GPU_SET_SOCKET",
	    vu_msg_gpu_set_socket, 0, VU_SIZE_EXACT, 1, VU_FD_EXACT,
	    NOPROTO, VU_REPLY_NONE },
	[VHOST_USER_RESET_DEVICE] = { "RESET_DEVICE",
	    vu_msg_reset_device, 0, VU_SIZE_EXACT, 0, VU_FD_EXACT,
	    VHOST_USER_PROTOCOL_F_RESET_DEVICE, VU_REPLY_NONE },
	[VHOST_USER_VRING_KICK] = VU_MSG_UNSUPPORTED("VRING_KICK",
	    VU_REPLY_NONE),
	[VHOST_USER_GET_MAX_MEM_SLOTS] = { "GET_MAX_MEM_SLOTS",
	    vu_msg_get_max_mem_slots, 0, VU_SIZE_EXACT, 0, VU_FD_EXACT,
	    VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS, VU_REPLY_OWN },
	/* Checked in the handler: postcopy sends an ack under this code. */
	[VHOST_USER_ADD_MEM_REG] = { "ADD_MEM_REG",
	    vu_msg_add_mem_reg, U64, VU_SIZE_MIN, 1, VU_FD_UPTO,
	    VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS, VU_REPLY_NONE },
	[VHOST_USER_REM_MEM_REG] = { "REM_MEM_REG",
	    vu_msg_rem_mem_reg, sizeof(struct vhost_user_mem_reg_msg),
	    VU_SIZE_EXACT, 1, VU_FD_UPTO,
	    VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS, VU_REPLY_NONE },
	[VHOST_USER_SET_STATUS] = { "SET_STATUS",
	    vu_msg_set_status, U64, VU_SIZE_EXACT, 0, VU_FD_EXACT,
	    VHOST_USER_PROTOCOL_F_STATUS, VU_REPLY_NONE },
	[VHOST_USER_GET_STATUS] = { "GET_STATUS",
	    vu_msg_get_status, 0, VU_SIZE_EXACT, 0, VU_FD_EXACT,
	    VHOST_USER_PROTOCOL_F_STATUS, VU_REPLY_OWN },
	[VHOST_USER_GET_SHARED_OBJECT] = { "GET_SHARED_OBJECT",
	    vu_msg_get_shared_object,
	    sizeof(struct vhost_user_shared_object), VU_SIZE_EXACT, 0,
	    VU_FD_EXACT, VHOST_USER_PROTOCOL_F_SHARED_OBJECT, VU_REPLY_OWN },
	[VHOST_USER_SET_DEVICE_STATE_FD] = { "SET_DEVICE_STATE_FD",
	    vu_msg_set_device_state_fd, 2 * sizeof(uint32_t), VU_SIZE_EXACT,
	    1, VU_FD_EXACT, VHOST_USER_PROTOCOL_F_DEVICE_STATE,
	    VU_REPLY_OWN },
	[VHOST_USER_CHECK_DEVICE_STATE] = { "CHECK_DEVICE_STATE",
	    vu_msg_check_device_state, 0, VU_SIZE_EXACT, 0, VU_FD_EXACT,
	    VHOST_USER_PROTOCOL_F_DEVICE_STATE, VU_REPLY_OWN },
	[VHOST_USER_GET_SHMEM_CONFIG] = VU_MSG_UNSUPPORTED(
	    "GET_SHMEM_CONFIG", VU_REPLY_OWN),
};

/* Name of a request for log lines, "unknown" outside the table.  Any
 * thread. */
const char *
vhost_user_request_name(uint32_t request)
{
	if (request >= nitems(vu_msg_table) ||
	    vu_msg_table[request].name == NULL)
		return ("unknown");
	return (vu_msg_table[request].name);
}

/* Log why a request failed ("DEV: REQUEST: reason") and return -1. */
int
vu_msg_fail(struct vu_conn *c, const struct vu_msg *m, const char *fmt, ...)
{
	char	 buf[256];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	log_warnx("%s: %s: %s", c->dev->name,
	    vhost_user_request_name(m->hdr.request), buf);
	return (-1);
}

/* Close every fd still attached to the message. */
void
vu_msg_close_fds(struct vu_msg *m)
{
	unsigned	 i;

	for (i = 0; i < m->nfds && i < VHOST_USER_MAX_FDS; i++) {
		if (m->fds[i] >= 0)
			close(m->fds[i]);
		m->fds[i] = -1;
	}
	m->nfds = 0;
}

/* Set a u64 reply. */
void
vu_msg_reply_u64(struct vu_reply *r, uint64_t v)
{
	memcpy(r->payload.bytes, &v, sizeof v);
	r->size = sizeof v;
}

/* The u64 payload of a message whose size the table has checked. */
uint64_t
vu_msg_u64(const struct vu_msg *m)
{
	uint64_t	 v;

	memcpy(&v, m->payload.bytes, sizeof v);
	return (v);
}

/* The ring with this index, or NULL (logged) when out of range. */
struct vring *
vu_msg_vring(struct vu_conn *c, const struct vu_msg *m, uint32_t index)
{
	struct device	*dev = c->dev;

	if (index >= dev->info.num_queues) {
		vu_msg_fail(c, m, "queue index %u out of range (%u queues)",
		    index, dev->info.num_queues);
		return (NULL);
	}
	return (&dev->vrings[index]);
}

/* Start reading a message's payload. */
void
vu_msgbuf_init(struct vu_msgbuf *b, const struct vu_msg *m)
{
	b->p = m->payload.bytes;
	b->len = m->hdr.size;
	b->off = 0;
}

/* Copy the next `len` bytes out, or -1 when the payload is too short. */
int
vu_msgbuf_get(struct vu_msgbuf *b, void *dst, size_t len)
{
	if (len > b->len - b->off)
		return (-1);
	memcpy(dst, b->p + b->off, len);
	b->off += len;
	return (0);
}

/* True when the whole payload has been read. */
int
vu_msgbuf_end(const struct vu_msgbuf *b)
{
	return (b->off == b->len);
}

/* Check size, fds and negotiated features against the table.  Returns
 * NULL or a reason, filled into buf. */
static const char *
vu_msg_check(struct vu_conn *c, const struct vu_msg_entry *e,
    const struct vu_msg *m, char *buf, size_t len)
{
	struct device	*dev = c->dev;
	unsigned	 want;

	if (e->proto != NOPROTO &&
	    (dev->acked_protocol_features & (1ULL << e->proto)) == 0) {
		snprintf(buf, len, "protocol feature %d not negotiated",
		    e->proto);
		return (buf);
	}
	if (e->size_kind == VU_SIZE_EXACT && m->hdr.size != e->size) {
		snprintf(buf, len, "payload is %u bytes, expected %u",
		    m->hdr.size, e->size);
		return (buf);
	}
	if (e->size_kind == VU_SIZE_MIN && m->hdr.size < e->size) {
		snprintf(buf, len, "payload is %u bytes, expected at "
		    "least %u", m->hdr.size, e->size);
		return (buf);
	}
	switch (e->fd_kind) {
	case VU_FD_EXACT:
		want = e->fds;
		break;
	case VU_FD_UPTO:
		if (m->nfds > e->fds) {
			snprintf(buf, len, "%u fds attached, expected at "
			    "most %u", m->nfds, e->fds);
			return (buf);
		}
		return (NULL);
	case VU_FD_VRING:
		/* The size was checked above: the payload is a u64. */
		want = (vu_msg_u64(m) & VHOST_USER_VRING_NOFD_MASK) ? 0 : 1;
		break;
	default:
		NOTREACHED;
	}
	if (m->nfds != want) {
		snprintf(buf, len, "%u fds attached, expected %u", m->nfds,
		    want);
		return (buf);
	}
	return (NULL);
}

/* Answer a request we do not implement or know: an error reply where the
 * frontend waits for one, and nothing else. */
static void
vu_msg_unsupported(struct vu_conn *c, const struct vu_msg *m,
    const struct vu_msg_entry *e)
{
	uint64_t	 one = 1;
	uint32_t	 req = m->hdr.request;

	log_warnx("%s: %s (%u): request not supported", c->dev->name,
	    vhost_user_request_name(req), req);
	if (e != NULL && e->reply == VU_REPLY_OWN)
		vu_conn_send(c, req, NULL, 0, -1);
	else if (m->hdr.flags & VHOST_USER_NEED_REPLY_MASK)
		vu_conn_send(c, req, &one, sizeof one, -1);
}

/*
 * Validate and run one request, then reply as the protocol says: requests
 * with a reply of their own are always answered (size 0 on failure);
 * others get a u64 ack (0 success, 1 failure) when REPLY_ACK was
 * negotiated and NEED_REPLY is set.  The caller closes leftover fds.
 */
void
vu_msg_dispatch(struct vu_conn *c, struct vu_msg *m)
{
	struct device		*dev = c->dev;
	const struct vu_msg_entry *e = NULL;
	struct vu_reply		*r = &c->reply;
	const char		*why;
	char			 buf[128];
	uint64_t		 ack;
	uint32_t		 req = m->hdr.request;
	int			 want_ack, rc;

	if (req < nitems(vu_msg_table))
		e = &vu_msg_table[req];
	if (e == NULL || e->handler == NULL) {
		vu_msg_close_fds(m);
		vu_msg_unsupported(c, m, e);
		return;
	}
	log_debug("%s: %s", dev->name, e->name);

	/* Decided before the handler: RESET_OWNER clears the features. */
	want_ack = (m->hdr.flags & VHOST_USER_NEED_REPLY_MASK) &&
	    (dev->acked_protocol_features &
	    (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK));

	r->size = 0;
	r->fd = -1;
	why = vu_msg_check(c, e, m, buf, sizeof buf);
	if (why != NULL) {
		vu_msg_fail(c, m, "%s", why);
		vu_msg_close_fds(m);
		rc = -1;
	} else
		rc = e->handler(c, m, r);

	if (e->reply == VU_REPLY_OWN) {
		if (rc == 0)
			vu_conn_send(c, req, r->payload.bytes, r->size, r->fd);
		else
			vu_conn_send(c, req, NULL, 0, -1);
	} else if (want_ack) {
		ack = rc == 0 ? 0 : 1;
		vu_conn_send(c, req, &ack, sizeof ack, -1);
	}
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
}

/* GET_FEATURES: the virtio features we offer. */
static int
vu_msg_get_features(struct vu_conn *c, struct vu_msg *m __unused,
    struct vu_reply *r)
{
	vu_msg_reply_u64(r, c->dev->features);
	return (0);
}

/*
 * SET_FEATURES: store the acked features.  Without PROTOCOL_FEATURES the
 * rings are enabled at once (there will be no SET_VRING_ENABLE); the
 * EVENT_IDX choice goes to every ring, each changed only while stopped.
 */
static int
vu_msg_set_features(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	struct device	*dev = c->dev;
	struct vring	*vq;
	uint64_t	 f = vu_msg_u64(m);
	unsigned	 i;
	int		 event_idx, indirect, enable, packed;

	if (f & ~dev->features)
		return (vu_msg_fail(c, m, "features 0x%llx not offered",
		    (unsigned long long)(f & ~dev->features)));

	atomic_store(&dev->acked_features, f);
	dev->features_acked = 1;
	event_idx = (f & (1ULL << VHD_F_EVENT_IDX)) != 0;
	indirect = (f & (1ULL << VHD_F_INDIRECT_DESC)) != 0;
	enable = (f & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)) == 0;
	packed = (f & (1ULL << VHD_F_RING_PACKED)) != 0;
	for (i = 0; i < dev->info.num_queues; i++) {
		vq = &dev->vrings[i];
		if (vq->event_idx == event_idx && vq->indirect == indirect &&
		    vq->packed == packed && (!enable || vq->enabled))
			continue;
		if (vring_stop(vq) == -1)
			continue;
		vq->event_idx = event_idx;
		vq->indirect = indirect;
		/* Addresses checked for the other layout are not valid. */
		if (vq->packed != packed)
			vq->addr_set = 0;
		vq->packed = packed;
		if (enable)
			vq->enabled = 1;
		vring_update(vq);
	}
	if (dev->ops->features_acked != NULL)
		dev->ops->features_acked(device_to_vhd(dev), f);
	return (0);
}

/* SET_OWNER: claim the device; an error when already claimed. */
static int
vu_msg_set_owner(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	if (c->dev->owned)
		return (vu_msg_fail(c, m, "already owned"));
	c->dev->owned = 1;
	return (0);
}

/* RESET_OWNER (deprecated; QEMU's reset without RESET_DEVICE): forget
 * the owner and everything negotiated, and reset the device. */
static int
vu_msg_reset_owner(struct vu_conn *c, struct vu_msg *m __unused,
    struct vu_reply *r __unused)
{
	device_reset(c->dev);
	return (0);
}

/* RESET_DEVICE: stop and reset the rings, clear the acked features. */
static int
vu_msg_reset_device(struct vu_conn *c, struct vu_msg *m __unused,
    struct vu_reply *r __unused)
{
	device_reset_queues(c->dev);
	return (0);
}

/* GET_PROTOCOL_FEATURES: the protocol features we offer. */
static int
vu_msg_get_protocol_features(struct vu_conn *c, struct vu_msg *m __unused,
    struct vu_reply *r)
{
	vu_msg_reply_u64(r, c->dev->protocol_features);
	return (0);
}

/* SET_PROTOCOL_FEATURES: store them; bits we do not offer are refused. */
static int
vu_msg_set_protocol_features(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	struct device	*dev = c->dev;
	uint64_t	 f = vu_msg_u64(m);

	if (f & ~dev->protocol_features)
		return (vu_msg_fail(c, m, "protocol features 0x%llx not "
		    "offered", (unsigned long long)(f &
		    ~dev->protocol_features)));
	dev->acked_protocol_features = f;
	return (0);
}

/* SET_BACKEND_REQ_FD: the channel for backend-initiated requests. */
static int
vu_msg_set_backend_req_fd(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	int	 fd = m->fds[0];

	m->fds[0] = -1;
	if (vu_backend_set_fd(c->dev, fd) == -1)
		return (vu_msg_fail(c, m, "cannot use the fd as the backend "
		    "channel"));
	return (0);
}

/* Parse a GET/SET_CONFIG payload and check it against the config space. */
static int
vu_msg_config_parse(struct vu_conn *c, struct vu_msg *m,
    struct vhost_user_config *cfg)
{
	struct device	*dev = c->dev;
	struct vu_msgbuf b;

	vu_msgbuf_init(&b, m);
	if (vu_msgbuf_get(&b, cfg, VHOST_USER_CONFIG_HDR_SIZE) == -1)
		return (vu_msg_fail(c, m, "short payload"));
	if (cfg->size > VHOST_USER_MAX_CONFIG_SIZE)
		return (vu_msg_fail(c, m, "size %u too large", cfg->size));
	if ((uint64_t)m->hdr.size != VHOST_USER_CONFIG_HDR_SIZE +
	    (uint64_t)cfg->size)
		return (vu_msg_fail(c, m, "size %u does not match the "
		    "payload of %u bytes", cfg->size, m->hdr.size));
	if ((uint64_t)cfg->offset + cfg->size > dev->info.config_size)
		return (vu_msg_fail(c, m, "offset %u size %u outside the "
		    "config space of %u bytes", cfg->offset, cfg->size,
		    dev->info.config_size));
	return (0);
}

/* GET_CONFIG: read config space from the module.  The reply repeats the
 * request's header followed by the bytes. */
static int
vu_msg_get_config(struct vu_conn *c, struct vu_msg *m, struct vu_reply *r)
{
	struct device		*dev = c->dev;
	struct vhost_user_config cfg;

	if (vu_msg_config_parse(c, m, &cfg) == -1)
		return (-1);
	if (dev->ops->get_config == NULL)
		return (vu_msg_fail(c, m, "device has no config space"));
	memset(r->payload.bytes, 0, VHOST_USER_CONFIG_HDR_SIZE + cfg.size);
	if (cfg.size > 0 && dev->ops->get_config(device_to_vhd(dev),
	    cfg.offset, r->payload.bytes + VHOST_USER_CONFIG_HDR_SIZE,
	    cfg.size) != 0)
		return (vu_msg_fail(c, m, "device refused to read offset %u "
		    "size %u", cfg.offset, cfg.size));
	memcpy(r->payload.bytes, &cfg, VHOST_USER_CONFIG_HDR_SIZE);
	r->size = VHOST_USER_CONFIG_HDR_SIZE + cfg.size;
	return (0);
}

/* SET_CONFIG: write config space through the module. */
static int
vu_msg_set_config(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	struct device		*dev = c->dev;
	struct vhost_user_config cfg;

	if (vu_msg_config_parse(c, m, &cfg) == -1)
		return (-1);
	if (dev->ops->set_config == NULL)
		return (vu_msg_fail(c, m, "config space is read-only"));
	if (cfg.size > 0 && dev->ops->set_config(device_to_vhd(dev),
	    cfg.offset, m->payload.bytes + VHOST_USER_CONFIG_HDR_SIZE,
	    cfg.size) != 0)
		return (vu_msg_fail(c, m, "device refused to write offset %u "
		    "size %u", cfg.offset, cfg.size));
	return (0);
}

/* GET_SHARED_OBJECT: the module's fd for a uuid, sent with a u64 0. */
static int
vu_msg_get_shared_object(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r)
{
	struct device			*dev = c->dev;
	struct vhost_user_shared_object	 obj;
	int				 fd;

	if (dev->ops->get_shared_object == NULL)
		return (vu_msg_fail(c, m, "no shared objects"));
	memcpy(&obj, m->payload.bytes, sizeof obj);
	fd = dev->ops->get_shared_object(device_to_vhd(dev), obj.uuid);
	if (fd < 0)
		return (vu_msg_fail(c, m, "no such object"));
	r->fd = fd;
	vu_msg_reply_u64(r, 0);
	return (0);
}
