/*
 * vsock: the module's internal interfaces, shared by its files.
 *
 *	vsock.c		device, keys, config space, queues, the rx scheduler
 *	vsock_pkt.c	packet headers over descriptor chains, the byte ring
 *	vsock_conn.c	connections: table, watches, credit, host writes
 *	vsock_conn_op.c	guest packets to the host, by op
 *	vsock_conn_rx.c	packets owed to the guest, host reads
 *	vsock_host.c	the Firecracker-style unix socket host side
 *	vsock_group.c	the process-wide CID table and VM-to-VM forwarding
 *	vsock_state.c	device state for migration, the source's freeze
 *
 * Threads: every queue of a device runs on one worker (checked when the
 * queues start), and so do the connections, also while the queues are
 * stopped (a paused VM).  Everything in struct vsock below "worker
 * state" and every connection belong to that worker.  The group table and the
 * sibling inbox are shared between devices and guarded by one mutex
 * (vsock_group.c).
 */

#ifndef VHOSTD_MODULES_VSOCK_H
#define VHOSTD_MODULES_VSOCK_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdint.h>

#include <vhostd/vhostd.h>

#define VSOCK_DEVICE_ID		19
#define VSOCK_NUM_QUEUES	3
#define VSOCK_RXQ		0
#define VSOCK_TXQ		1
#define VSOCK_EVQ		2

#define VSOCK_F_STREAM		0
#define VSOCK_F_SEQPACKET	1
#define VSOCK_F_NO_IMPLIED	2

#define VSOCK_HOST_CID		2
#define VSOCK_HDR_SIZE		44
#define VSOCK_MAX_PKT		65536	/* payload of one packet we build */

#define VSOCK_TYPE_STREAM	1
#define VSOCK_TYPE_SEQPACKET	2

#define VSOCK_OP_INVALID	0
#define VSOCK_OP_REQUEST	1
#define VSOCK_OP_RESPONSE	2
#define VSOCK_OP_RST		3
#define VSOCK_OP_SHUTDOWN	4
#define VSOCK_OP_RW		5
#define VSOCK_OP_CREDIT_UPDATE	6
#define VSOCK_OP_CREDIT_REQUEST	7
#define VSOCK_OP_MAX		7

#define VSOCK_SHUT_RCV		0x1
#define VSOCK_SHUT_SEND		0x2
#define VSOCK_SHUT_BOTH		0x3

#define VSOCK_SEQ_EOM		0x1
#define VSOCK_SEQ_EOR		0x2

/* Defaults and limits of the keys. */
#define VSOCK_BUF_DEFAULT	(256 * 1024)
#define VSOCK_BUF_MIN		4096
#define VSOCK_BUF_MAX		(64 * 1024 * 1024)
#define VSOCK_CONNS_DEFAULT	1023
#define VSOCK_CONNS_MAX		65536
#define VSOCK_TIMEOUT_DEFAULT	2000	/* ms, Firecracker's */
#define VSOCK_QUEUE_DEFAULT	1024
#define VSOCK_GROUPS_MAX	16
#define VSOCK_LOCAL_PORT_BASE	(1u << 30)
#define VSOCK_CONN_BUCKETS	256
#define VSOCK_CTL_EXTRA		256	/* control ring slots above max-conns */
#define VSOCK_SEQ_BOUNDS	1024	/* queued whole messages, guest->host */
#define VSOCK_LINE_MAX		64	/* a CONNECT line */
#define VSOCK_RETRY_MS		20	/* unix connect EAGAIN: retry after */
#define VSOCK_CONN_IOV		64	/* iovecs for one host socket call */

/* A decoded packet header (host byte order). */
struct vsock_hdr {
	uint64_t	src_cid;
	uint64_t	dst_cid;
	uint32_t	src_port;
	uint32_t	dst_port;
	uint32_t	len;
	uint16_t	type;
	uint16_t	op;
	uint32_t	flags;
	uint32_t	buf_alloc;
	uint32_t	fwd_cnt;
};

/* A bounded byte ring (guest-to-host data not yet written to the host). */
struct vsock_ring {
	uint8_t		*data;
	uint32_t	 cap;
	uint32_t	 head;	/* read position */
	uint32_t	 len;	/* bytes held */
};

/* Connection states. */
enum vsock_state {
	VSOCK_ST_HOST_CMD,	/* accepted on the UDS, reading "CONNECT" */
	VSOCK_ST_LOCAL_INIT,	/* REQUEST sent to the guest */
	VSOCK_ST_PEER_INIT,	/* guest REQUEST, unix connect pending */
	VSOCK_ST_ESTABLISHED,
	VSOCK_ST_CLOSING,	/* SHUTDOWN (both) sent, waiting for RST */
};

/* What ended the host socket after the bytes in conn->hin. */
#define VSOCK_HIN_OPEN		0
#define VSOCK_HIN_EOF		1	/* end of file: SHUTDOWN after them */
#define VSOCK_HIN_RESET		2	/* an error: reset after them */

/* Packets a connection owes the guest (conn->pending). */
#define VSOCK_PEND_REQUEST	0x01
#define VSOCK_PEND_RESPONSE	0x02
#define VSOCK_PEND_SHUTDOWN	0x04
#define VSOCK_PEND_CREDIT_UPD	0x08
#define VSOCK_PEND_CREDIT_REQ	0x10

struct vsock;

/* One connection between a guest port and a host unix socket. */
struct vsock_conn {
	struct vsock		*vs;
	LIST_ENTRY(vsock_conn)	 hash;
	LIST_ENTRY(vsock_conn)	 all;		/* on vs->conns */
	TAILQ_ENTRY(vsock_conn)	 rxlink;	/* on vs->rx_conns */
	int			 on_rx;
	enum vsock_state	 state;
	uint16_t		 type;
	uint32_t		 local_port;	/* host side */
	uint32_t		 peer_port;	/* guest side */

	int			 fd;
	struct vhd_watch	*rdw;		/* READ, one-shot */
	struct vhd_watch	*wrw;		/* WRITE, one-shot */
	struct vhd_watch	*timer;
	int			 rd_armed, wr_armed, timer_armed;
	int			 readable;	/* worth a read attempt */
	uint64_t		 deadline_ms;	/* connect retry limit */

	unsigned		 pending;	/* VSOCK_PEND_* */
	unsigned		 peer_shut;	/* SHUTDOWN bits from the guest */
	unsigned		 local_shut;	/* SHUTDOWN bits sent */
	int			 host_eof;	/* read 0 from the host */
	int			 host_wclosed;	/* host stopped reading */
	int			 fd_shut_wr;	/* shutdown(SHUT_WR) done */
	int			 credit_asked;	/* CREDIT_REQUEST in flight */
	int			 from_host;	/* a host client opened it */

	/* Credit (only payload bytes count). */
	uint32_t		 peer_buf_alloc;
	uint32_t		 peer_fwd_cnt;
	uint32_t		 tx_cnt;	/* bytes sent to the guest */
	uint32_t		 fwd_cnt;	/* guest bytes given to the host */
	uint32_t		 fwd_sent;	/* fwd_cnt last told the guest */

	/* Guest to host. */
	struct vsock_ring	 out;
	uint32_t		*bounds;	/* seqpacket: queued messages */
	unsigned		 nbounds, bhead;
	uint32_t		 msg_len;	/* partial message in `out` */

	/* Host to guest, seqpacket: one staged message. */
	uint8_t			*stage;
	uint32_t		 stage_len, stage_off;
	int			 stage_eor;

	/* Host to guest: what a state save took from the host socket (or
	 * a loaded state carried), sent before the socket is read again
	 * (vsock_state.c); seqpacket: its whole messages' lengths, bit 31
	 * for EOR.  hin_end: the host socket ended after it. */
	uint8_t			*hin;
	uint32_t		 hin_len, hin_off, hin_cap;
	uint32_t		*hin_msg;
	unsigned		 hin_nmsg, hin_mhead, hin_mcap;
	int			 hin_end;	/* VSOCK_HIN_* */

	/* The CONNECT line and its "OK" answer. */
	char			 line[VSOCK_LINE_MAX];
	size_t			 line_len;
	char			 ok[32];
	size_t			 ok_len, ok_off;
};

LIST_HEAD(vsock_conn_list, vsock_conn);
TAILQ_HEAD(vsock_conn_tailq, vsock_conn);

/* A packet from a sibling VM, waiting for this device's rx queue. */
struct vsock_sib_pkt {
	TAILQ_ENTRY(vsock_sib_pkt) entry;
	struct vsock_hdr	 hdr;
	uint32_t		 off;		/* payload bytes delivered */
	uint8_t			 data[];
};
TAILQ_HEAD(vsock_sib_list, vsock_sib_pkt);

/* One device (one VM). */
struct vsock {
	const struct vhd_api	*api;
	struct vhd_dev		*dev;
	uint64_t		 cid;
	char			*uds_path;
	uint32_t		 buf_size;
	unsigned		 max_conns;
	unsigned		 connect_ms;
	unsigned		 shutdown_ms;
	unsigned		 queue_size;
	int			 seqpacket;	/* offer F_SEQPACKET */
	char			*groups[VSOCK_GROUPS_MAX];
	unsigned		 ngroups;
	int			 listen_fd;

	/* Group table (vsock_group.c, under its lock). */
	LIST_ENTRY(vsock)	 glink;
	int			 g_live;	/* takes sibling packets */
	unsigned		 g_worker;
	struct vsock_sib_list	 inbox;
	size_t			 inbox_bytes;
	unsigned		 inbox_pkts;
	int			 inbox_posted;	/* a wake-up is queued */
	int			 tx_blocked;	/* we parked for a sibling */
	int			 has_blocked;	/* someone parked for us */

	/* Worker state. */
	struct vhd_queue	*rxq, *txq;
	unsigned		 worker;
	int			 running;	/* rx and tx both started */
	int			 live;		/* started since create/reset */
	struct vsock_sib_list	 park;		/* for full sibling inboxes */
	size_t			 park_bytes;
	unsigned		 park_pkts;
	int			 in_park;	/* in vsock_group_park_run */
	int			 park_again;	/* woken meanwhile: run again */
	int			 in_rx;		/* vsock_rx_run active */
	int			 stream_ok, seq_ok;
	struct vhd_watch	*listen_w;
	struct vsock_conn_list	 buckets[VSOCK_CONN_BUCKETS];
	struct vsock_conn_list	 conns;		/* every connection */
	struct vsock_conn_tailq	 rx_conns;	/* conns owing the guest */
	unsigned		 nconns;
	uint32_t		 next_port;
	struct vsock_hdr	*ctl;		/* control packets to send */
	unsigned		 ctl_cap, ctl_head, ctl_len;
	unsigned		 rx_turn;
	int			 frozen;	/* state saved or loaded: host
						 * sockets untouched until the
						 * queues start (vsock_state.c) */
};

/*
 * Log a warning through the daemon's rate-limited log (at most one line a
 * second per device, the count of those dropped goes with the next).  Any
 * worker.
 */
#define vsock_warn(vs, ...)						\
	((vs)->api->log_ratelimited((vs)->dev, VHD_LOG_WARN, __VA_ARGS__))

/* vsock.c */
struct vsock *vsock_priv(struct vhd_dev *);
uint64_t vsock_now_ms(void);
void	 vsock_rx_run(struct vsock *);
void	 vsock_tx_handler(struct vsock *);
void	 vsock_ctl_push(struct vsock *, const struct vsock_hdr *);
void	 vsock_ctl_rst(struct vsock *, const struct vsock_hdr *);

/* vsock_pkt.c */
void	 vsock_pkt_decode(const uint8_t *, struct vsock_hdr *);
void	 vsock_pkt_encode(const struct vsock_hdr *, uint8_t *);
int	 vsock_pkt_read_hdr(const struct vhd_api *, struct vhd_chain *,
	    struct vsock_hdr *);
int	 vsock_pkt_write_hdr(const struct vhd_api *, struct vhd_chain *,
	    const struct vsock_hdr *);
int	 vsock_ring_init(struct vsock_ring *, uint32_t);
void	 vsock_ring_free(struct vsock_ring *);
uint32_t vsock_ring_space(const struct vsock_ring *);
int	 vsock_ring_put_chain(struct vsock_ring *, const struct vhd_api *,
	    struct vhd_chain *, size_t, size_t);
int	 vsock_ring_iov(const struct vsock_ring *, uint32_t, struct iovec *);
void	 vsock_ring_consume(struct vsock_ring *, uint32_t);

/* What vsock_conn_rx did (bits). */
#define VSOCK_RX_PKT		0x1	/* wrote a packet into the chain */
#define VSOCK_RX_FREED		0x2	/* the connection is gone */

/* vsock_conn.c */
void	 vsock_conn_init(struct vsock *);
struct vsock_conn *vsock_conn_new(struct vsock *, int, enum vsock_state);
struct vsock_conn *vsock_conn_find(struct vsock *, uint32_t, uint32_t);
void	 vsock_conn_hash(struct vsock_conn *);
void	 vsock_conn_free(struct vsock_conn *);
void	 vsock_conn_free_all(struct vsock *);
void	 vsock_conn_kill(struct vsock_conn *);
void	 vsock_conn_schedule(struct vsock_conn *);
int	 vsock_conn_has_work(struct vsock_conn *);
void	 vsock_conn_fill_hdr(struct vsock_conn *, struct vsock_hdr *,
	    uint16_t);
int	 vsock_conn_arm_read(struct vsock_conn *);
int	 vsock_conn_arm_write(struct vsock_conn *);
int	 vsock_conn_arm_timer(struct vsock_conn *, long);
void	 vsock_conn_flush(struct vsock_conn *);
void	 vsock_conn_disarm_timer(struct vsock_conn *);
void	 vsock_conn_hin_free(struct vsock_conn *);
uint32_t vsock_conn_peer_free(const struct vsock_conn *);
int	 vsock_conn_rw_ready(const struct vsock_conn *);
void	 vsock_conn_credit_check(struct vsock_conn *);
int	 vsock_conn_host_wclosed(struct vsock_conn *);
int	 vsock_conn_check_close(struct vsock_conn *);
ssize_t	 vsock_conn_sendmsg(int, struct iovec *, int, int);

/* vsock_conn_op.c */
void	 vsock_conn_guest_pkt(struct vsock *, const struct vsock_hdr *,
	    struct vhd_chain *);
void	 vsock_conn_guest_bad(struct vsock *, const struct vsock_hdr *);

/* vsock_conn_rx.c */
int	 vsock_conn_rx(struct vsock_conn *, struct vhd_chain *, size_t *);

/* vsock_host.c */
int	 vsock_host_listen(struct vsock *, char **);
void	 vsock_host_close(struct vsock *);
int	 vsock_host_start(struct vsock *);
void	 vsock_host_stop(struct vsock *);
void	 vsock_host_line(struct vsock_conn *);
void	 vsock_host_connect(struct vsock *, const struct vsock_hdr *);
void	 vsock_host_connect_retry(struct vsock_conn *);

/* vsock_state.c */
int	 vsock_state_save(struct vhd_dev *, void **, size_t *);
int	 vsock_state_load(struct vhd_dev *, const void *, size_t);
void	 vsock_state_thaw(struct vsock *);

/* vsock_group.c */
int	 vsock_group_register(struct vsock *, char **);
void	 vsock_group_unregister(struct vsock *);
void	 vsock_group_set_live(struct vsock *, int);
void	 vsock_group_wake_senders(struct vsock *);
void	 vsock_group_forward(struct vsock *, const struct vsock_hdr *,
	    struct vhd_chain *);
void	 vsock_group_park_run(struct vsock *);
int	 vsock_group_pending(struct vsock *);
int	 vsock_group_rx(struct vsock *, struct vhd_chain *, size_t *);

#endif /* VHOSTD_MODULES_VSOCK_H */
