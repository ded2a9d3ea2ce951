/*
 * Private to the vu_conn/vu_msg family: the connection, one received
 * message, its reply, and the request table type.  Main thread only.
 */

#ifndef VHOSTD_VU_CONN_PRIV_H
#define VHOSTD_VU_CONN_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "compat.h"
#include "vhost_user.h"

struct device;
struct event;
struct vring;

/* One request as received: header, payload and the fds that came with it.
 * A handler that keeps an fd sets its slot to -1; the dispatcher closes
 * whatever is left. */
struct vu_msg {
	struct vhost_user_header hdr;
	union {
		uint64_t	 u64;		/* for alignment */
		uint8_t		 bytes[VHOST_USER_MAX_PAYLOAD];
	} payload;
	int			 fds[VHOST_USER_MAX_FDS];
	unsigned		 nfds;
};

/* The reply a handler builds for a request that has its own reply.  The
 * fd (or -1) is sent with it and then closed. */
struct vu_reply {
	uint32_t		 size;
	union {
		uint64_t	 u64;
		uint8_t		 bytes[VHOST_USER_MAX_PAYLOAD];
	} payload;
	int			 fd;
};

struct vu_conn {
	struct device		*dev;
	int			 fd;
	struct event		*ev;
	int			 dead;		/* send failed: drop it */
	size_t			 hdr_have;	/* header bytes received */
	size_t			 payload_have;
	struct vu_msg		 msg;		/* being assembled */
	struct vu_reply		 reply;
};

/* How the table's payload size is checked. */
enum vu_msg_size_kind {
	VU_SIZE_EXACT,
	VU_SIZE_MIN,
};

/* How the table's fd count is checked. */
enum vu_msg_fd_kind {
	VU_FD_EXACT,		/* exactly `fds` */
	VU_FD_UPTO,		/* 0..fds */
	VU_FD_VRING,		/* 1, or 0 with VHOST_USER_VRING_NOFD_MASK */
};

/* Does the request have a reply of its own? */
enum vu_msg_reply_kind {
	VU_REPLY_NONE,		/* none; REPLY_ACK rules apply */
	VU_REPLY_OWN,		/* always answered (size 0 on error) */
};

/* The handler of one request: 0 on success, -1 on failure (already
 * logged, normally through vu_msg_fail). */
typedef int (*vu_msg_handler)(struct vu_conn *, struct vu_msg *,
    struct vu_reply *);

struct vu_msg_entry {
	const char		*name;
	vu_msg_handler		 handler;	/* NULL: not implemented */
	uint32_t		 size;
	enum vu_msg_size_kind	 size_kind;
	unsigned		 fds;
	enum vu_msg_fd_kind	 fd_kind;
	int			 proto;		/* protocol feature bit or -1 */
	enum vu_msg_reply_kind	 reply;
};

/* A bounded reader over a payload (OpenSMTPD m_get_* style). */
struct vu_msgbuf {
	const uint8_t		*p;
	size_t			 len;
	size_t			 off;
};

/* vu_conn.c */
int	 vu_conn_send(struct vu_conn *, uint32_t request, const void *payload,
	    uint32_t size, int fd);

/* vu_msg.c */
void	 vu_msg_dispatch(struct vu_conn *, struct vu_msg *);
int	 vu_msg_fail(struct vu_conn *, const struct vu_msg *, const char *fmt,
	    ...) __printflike(3, 4);
void	 vu_msg_reply_u64(struct vu_reply *, uint64_t);
uint64_t vu_msg_u64(const struct vu_msg *);
struct vring *vu_msg_vring(struct vu_conn *, const struct vu_msg *,
	    uint32_t index);
void	 vu_msg_close_fds(struct vu_msg *);
void	 vu_msgbuf_init(struct vu_msgbuf *, const struct vu_msg *);
int	 vu_msgbuf_get(struct vu_msgbuf *, void *, size_t) __must_check;
int	 vu_msgbuf_end(const struct vu_msgbuf *);

/* vu_msg_mem.c */
int	 vu_msg_set_mem_table(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_get_max_mem_slots(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_add_mem_reg(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_rem_mem_reg(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);

/* vu_msg_migrate.c */
int	 vu_msg_set_log_base(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_set_log_fd(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_set_status(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_get_status(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_postcopy_advise(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_postcopy_listen(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_postcopy_end(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_postcopy_ack(struct vu_conn *, struct vu_msg *);

/* vu_msg_vring.c */
int	 vu_msg_set_vring_num(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_set_vring_addr(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_set_vring_base(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_get_vring_base(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_set_vring_kick(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_set_vring_call(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_set_vring_err(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_get_queue_num(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_set_vring_enable(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);

/* vu_msg_inflight.c */
int	 vu_msg_get_inflight_fd(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_set_inflight_fd(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);

/* vu_msg_state.c */
int	 vu_msg_set_device_state_fd(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_check_device_state(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);
int	 vu_msg_gpu_set_socket(struct vu_conn *, struct vu_msg *,
	    struct vu_reply *);

#endif /* VHOSTD_VU_CONN_PRIV_H */
