/*
 * The test frontend: a small C library that plays the VMM (vhost-user
 * messages, guest memory made of memfd regions, eventfds) and the guest
 * driver (split rings, buffer chains, kicks, used entries) against a real
 * vhostd, plus control of the daemon process itself.  Used by
 * the check_integration_* suites, check_vu_msg and the vhostd-fe command.
 *
 * Everything here is single-threaded.  Functions return 0 on success and
 * -1 on a transport or local error (with a message in fe_error()), and
 * request helpers return 1 when the daemon refused a request (an error
 * reply or a non-zero REPLY_ACK).
 */

#ifndef VHOSTD_TESTS_FE_H
#define VHOSTD_TESTS_FE_H

#include <sys/types.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#include "vhost_user.h"

/* Virtio feature bits the tests look at. */
#define FE_F_NOTIFY_ON_EMPTY	24
#define FE_F_INDIRECT_DESC	28
#define FE_F_EVENT_IDX		29
#define FE_F_VERSION_1		32
#define FE_F_RING_PACKED	34
#define FE_BIT(b)		(1ull << (b))

#define FE_MAX_REGIONS		32	/* local regions (ADD_MEM_REG tests) */
#define FE_MAX_QUEUES		8
#define FE_MAX_INDIRECT		64	/* entries per indirect table */
#define FE_TIMEOUT_MS		5000	/* default reply/used timeout */

/* The last error message of this process (static storage). */
const char	*fe_error(void);
/* Milliseconds on the monotonic clock. */
int64_t		 fe_now_ms(void);
/* A vhost-user request name, "unknown" outside the table. */
const char	*fe_request_name(uint32_t request);
/* Does this request have a reply of its own (not REPLY_ACK)? */
int		 fe_request_has_reply(uint32_t request);

/* ------------------------------------------------------------------ */
/* Daemon control.                                                     */

struct fe_daemon;

/*
 * Make the per-run parent directory for daemon temp dirs ($FE_TMPDIR or
 * /tmp/vhostd-fe.XXXXXX) and export it as FE_TMPDIR.  Call once from
 * main() of a test program before running the suite.
 */
int		 fe_tmp_init(void);
/*
 * Print the log of every daemon dir left over under FE_TMPDIR (a test
 * that failed did not reach fe_daemon_free), kill its daemon and remove
 * the dir.  Returns how many were left.  Call from the parent (an
 * unchecked teardown, or after srunner_run_all).
 */
int		 fe_tmp_reap(void);
/* Remove the per-run directory (must be empty). */
void		 fe_tmp_fini(void);

/* A fresh temp dir for one daemon; `name` labels it in leftover logs. */
struct fe_daemon *fe_daemon_new(const char *name);
/* The dir, and "dir/name" (owned by the daemon object). */
const char	*fe_daemon_dir(struct fe_daemon *);
const char	*fe_daemon_path(struct fe_daemon *, const char *name);
/* Write `text` to "dir/name" and return its path. */
const char	*fe_daemon_write_file(struct fe_daemon *, const char *name,
		    const void *text, size_t len);
/* Copy the file `from` to "dir/name" and return its path (NULL with
 * fe_error() set). */
const char	*fe_daemon_copy_file(struct fe_daemon *, const char *from,
		    const char *name);
/*
 * Start the vhostd binary ($VHOSTD_BUILD_DIR/vhostd, else TEST_BUILD_DIR)
 * with `args` (NULL-terminated, no argv[0]; "--log-level=..." is added
 * from $VHOSTD_TEST_LOG_LEVEL, default info, unless args hold one), stderr
 * and stdout to "dir/vhostd.log", and wait up to `timeout_ms` until every
 * path in `sockets` (NULL-terminated) is a socket.  -1 if the daemon
 * exits first or the wait times out.
 */
int		 fe_daemon_start(struct fe_daemon *, const char *const *args,
		    const char *const *sockets, int timeout_ms);
/* Before start: stdin, stdout and stderr of the daemon are the terminal
 * fd (also its controlling terminal, in a new session); the log file then
 * stays empty. */
void		 fe_daemon_set_tty(struct fe_daemon *, int fd);
pid_t		 fe_daemon_pid(struct fe_daemon *);
/* Still running (not exited, not a zombie)? */
int		 fe_daemon_alive(struct fe_daemon *);
/*
 * SIGTERM, wait up to timeout_ms for it to exit, SIGKILL after that.
 * Returns the exit status (0..255), 128+signal when killed by a signal,
 * -1 on timeout (then killed).
 */
int		 fe_daemon_stop(struct fe_daemon *, int timeout_ms);
/* SIGKILL and reap. */
void		 fe_daemon_kill(struct fe_daemon *);
/* The log so far (malloc'd, NUL-terminated). */
char		*fe_daemon_log(struct fe_daemon *);
/* Number of lines of the log containing `needle`. */
int		 fe_daemon_log_count(struct fe_daemon *, const char *needle);
/* Wait until the log contains `needle` at least `count` times; 0 or -1. */
int		 fe_daemon_wait_log(struct fe_daemon *, const char *needle,
		    int count, int timeout_ms);
/* Print the log to `fp` with a banner. */
void		 fe_daemon_dump_log(struct fe_daemon *, FILE *fp);
/* Kill if still running, remove the dir, free.  With $FE_VERBOSE set,
 * print the log first. */
void		 fe_daemon_free(struct fe_daemon *);
/* The vhostd binary that fe_daemon_start runs. */
const char	*fe_daemon_binary(void);

/* ------------------------------------------------------------------ */
/* Connections and raw messages.                                       */

struct fe_msg {
	struct vhost_user_header hdr;
	uint8_t		payload[VHOST_USER_MAX_PAYLOAD];
	int		fds[VHOST_USER_MAX_FDS];
	int		nfds;
};

/* Connect to a unix socket, retrying ENOENT/ECONNREFUSED for
 * timeout_ms.  Returns the fd or -1. */
int	 fe_sock_connect(const char *path, int timeout_ms);
/* Send `len` raw bytes with `nfds` fds (SCM_RIGHTS) on the first byte.
 * Never raises SIGPIPE.  0 or -1 (EPIPE etc.). */
int	 fe_sock_send_raw(int fd, const void *buf, size_t len,
	    const int *fds, int nfds);
/*
 * Send a message: header {request, flags, hdr_size} then `len` payload
 * bytes.  hdr_size is what the header claims and need not equal len
 * (malformed messages).  0 or -1.
 */
int	 fe_sock_send(int fd, uint32_t request, uint32_t flags,
	    uint32_t hdr_size, const void *payload, size_t len,
	    const int *fds, int nfds);
/*
 * Receive one message (header, payload, fds) within timeout_ms.
 * 1 = got one, 0 = peer closed, -1 = timeout or error (payload size
 * above VHOST_USER_MAX_PAYLOAD is an error).  Received fds are the
 * caller's (fe_msg_close_fds).
 */
int	 fe_sock_recv(int fd, struct fe_msg *m, int timeout_ms);
void	 fe_msg_close_fds(struct fe_msg *m);
/* The u64 payload of a reply, or UINT64_MAX when the size is not 8. */
uint64_t fe_msg_u64(const struct fe_msg *m);
/* Wait until the peer closes: 1 closed (EOF or reset), 0 still open at
 * the timeout.  Incoming data is read and discarded. */
int	 fe_sock_wait_closed(int fd, int timeout_ms);

/* ------------------------------------------------------------------ */
/* The frontend: a connection plus guest memory plus queues.           */

struct fe_region {
	int		 present;	/* in the daemon's table */
	int		 fd;		/* memfd */
	uint64_t	 gpa;
	uint64_t	 size;
	uint64_t	 offset;	/* mmap_offset */
	uint8_t		*map;		/* our mapping of [0, offset+size) */
	size_t		 map_size;
	uint8_t		*host;		/* map + offset: "user address" */
	uint64_t	 next;		/* allocator: next free offset */
	int		 no_alloc;	/* allocator skips this region */
};

/* Driver-side state of one split ring. */
struct fe_queue {
	unsigned	 index;
	unsigned	 num;
	uint64_t	 desc_gpa, avail_gpa, used_gpa;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	int		 kick_fd, call_fd, err_fd;
	uint16_t	 avail_idx;	/* next avail->idx to publish */
	uint16_t	 last_used;	/* next used entry to consume */
	uint32_t	 base;		/* SET_VRING_BASE value (packed:
					 * avail and used index and wrap) */
	unsigned	 free_head;
	unsigned	 nfree;
	unsigned	 outstanding;
	uint16_t	*chain_len;	/* per head: descriptors in the chain */
	uint32_t	*req_len;	/* per head: writable bytes posted */
	uint64_t	*req_gpa;	/* per head: first writable buffer */
	uint64_t	 indir_gpa;	/* num tables of FE_MAX_INDIRECT */
	int		 allocated;	/* rings placed in guest memory */
	uint16_t	*chain_next;	/* driver copy of each desc's next */
	uint16_t	*free_next;	/* free list links */
	uint64_t	 calls;		/* call eventfd wakeups seen */
	uint32_t	 addr_flags;	/* SET_VRING_ADDR flags; with
					 * VHOST_VRING_F_LOG the used ring
					 * is log_guest_addr */

	/*
	 * Packed rings (fe->packed when the queue was placed): desc points
	 * at the descriptor ring (struct vring_packed_desc), avail and used
	 * at the driver and device event areas.  avail_idx and last_used
	 * still count chains posted and used (as for split rings, so tests
	 * can compare them); the ring positions and wrap counters are here,
	 * and per buffer id where each chain started and its post count, to
	 * turn a GET_VRING_BASE position back into a count.
	 */
	int		 packed;
	struct vring_packed_desc *pdesc;
	struct vring_packed_event *drv_ev, *dev_ev;
	uint16_t	 pk_next;	/* next slot to fill */
	int		 pk_wrap;	/* its wrap counter */
	uint16_t	 pk_used;	/* next slot to look for used */
	int		 pk_used_wrap;
	uint16_t	*pk_pos;	/* per id: slot | wrap << 15 */
	uint16_t	*pk_seq;	/* per id: avail_idx at post */
};

struct fe {
	int		 fd;		/* the socket, -1 when closed */
	char		*path;
	int		 timeout_ms;
	uint64_t	 features;	/* offered by the daemon */
	uint64_t	 acked;		/* SET_FEATURES sent */
	uint64_t	 protocol_features;
	uint64_t	 acked_protocol;
	int		 reply_ack;	/* REPLY_ACK negotiated: ask for acks */
	int		 event_idx;
	int		 packed;	/* packed rings: negotiate
					 * VIRTIO_F_RING_PACKED and place
					 * queues packed (fe_new: the
					 * environment's VHOSTD_FE_PACKED) */
	int		 backend_fd;	/* our end of SET_BACKEND_REQ_FD */

	struct fe_region regions[FE_MAX_REGIONS];
	unsigned	 nregions;
	struct fe_queue	 queues[FE_MAX_QUEUES];

	uint64_t	 pool_gpa;	/* fe_rng_read buffers */
	size_t		 pool_size;

	/* memfd_create flags added to MFD_CLOEXEC for regions created from
	 * now on (MFD_ALLOW_SEALING: a memfd the daemon may seal). */
	unsigned	 memfd_flags;

	/* The inflight region (fe_inflight.c), kept across reconnects as
	 * QEMU keeps it; -1 when none. */
	int		 inflight_fd;
	uint64_t	 inflight_size;
	uint16_t	 inflight_nq, inflight_qs;
	uint8_t		*inflight_map;
};

/* A region spec for fe_new: gpa, size, mmap offset in the memfd. */
struct fe_region_spec {
	uint64_t	gpa;
	uint64_t	size;
	uint64_t	offset;
};

/*
 * The default guest layout: 2 MiB at 0 (memfd offset 0), 1 MiB at 2 MiB
 * directly after it (a different memfd, mmap_offset 64 KiB, so buffers
 * can straddle the boundary), 2 MiB at 16 MiB (a gap before it).
 */
extern const struct fe_region_spec fe_default_layout[];
extern const unsigned fe_default_layout_n;

/* Connect to `path` and create guest memory (not sent yet).  `specs` NULL
 * means the default layout.  NULL on error (fe_error()). */
struct fe	*fe_new(const char *path, const struct fe_region_spec *specs,
		    unsigned nspecs);
/* Close the socket, unmap memory, close eventfds, free. */
void		 fe_free(struct fe *);
/* Close the socket only (abrupt disconnect); memory and rings stay. */
void		 fe_disconnect(struct fe *);
/*
 * Connect again (same or another path), forgetting negotiated state but
 * keeping guest memory and ring/driver state, so the same rings can be
 * handed over again (resume after GET_VRING_BASE).
 */
int		 fe_reconnect(struct fe *, const char *path);
/* Add a local region (not sent), a memfd created with fe->memfd_flags;
 * returns its index or -1. */
int		 fe_region_add(struct fe *, uint64_t gpa, uint64_t size,
		    uint64_t offset);

/*
 * One request: send, and collect the reply (requests with a reply), or
 * the REPLY_ACK u64 when REPLY_ACK is negotiated (NEED_REPLY is added).
 * `reply` may be NULL.  0 = done/ack 0, 1 = refused (non-zero ack, or a
 * reply of the wrong size as given by `want_size`, ~0u = any), -1 =
 * transport error or closed.
 */
int		 fe_request(struct fe *, uint32_t request, const void *payload,
		    uint32_t size, const int *fds, int nfds,
		    struct fe_msg *reply, uint32_t want_size);
/* As fe_request, but always with NEED_REPLY (also before REPLY_ACK is
 * negotiated) and returning the raw ack in *ack. */
int		 fe_request_ack(struct fe *, uint32_t request,
		    const void *payload, uint32_t size, const int *fds,
		    int nfds, uint64_t *ack);

/* Helpers for single requests; same return values as fe_request. */
int	 fe_get_u64(struct fe *, uint32_t request, uint64_t *val);
int	 fe_set_u64(struct fe *, uint32_t request, uint64_t val);
int	 fe_set_owner(struct fe *);
int	 fe_get_features(struct fe *, uint64_t *);
int	 fe_set_features(struct fe *, uint64_t);
int	 fe_get_protocol_features(struct fe *, uint64_t *);
int	 fe_set_protocol_features(struct fe *, uint64_t);
int	 fe_get_queue_num(struct fe *, uint64_t *);
int	 fe_get_max_mem_slots(struct fe *, uint64_t *);
/* SET_MEM_TABLE with every region not marked absent (index list NULL) or
 * the listed ones; they become present. */
int	 fe_set_mem_table(struct fe *, const unsigned *idx, unsigned n);
int	 fe_add_mem_reg(struct fe *, unsigned idx);
int	 fe_rem_mem_reg(struct fe *, unsigned idx);
/* GET_CONFIG: *got is the config size replied (0 on an error reply). */
int	 fe_get_config(struct fe *, uint32_t offset, uint32_t size,
	    void *buf, uint32_t *got);
int	 fe_set_config(struct fe *, uint32_t offset, const void *buf,
	    uint32_t size);
int	 fe_vring_state(struct fe *, uint32_t request, uint32_t index,
	    uint32_t num);
int	 fe_vring_fd(struct fe *, uint32_t request, uint32_t index, int fd);
int	 fe_get_vring_base(struct fe *, uint32_t index, uint32_t *num);
int	 fe_vring_enable(struct fe *, unsigned q, int on);

/* What fe_start asks for: everything offered but dirty logging, and the
 * protocol features the test frontend implements. */
#define FE_WANT_FEATURES	(~FE_BIT(VHOST_F_LOG_ALL))
#define FE_WANT_PROTOCOL	(FE_BIT(VHOST_USER_PROTOCOL_F_MQ) | \
	FE_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
	FE_BIT(VHOST_USER_PROTOCOL_F_BACKEND_REQ) | \
	FE_BIT(VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD) | \
	FE_BIT(VHOST_USER_PROTOCOL_F_CONFIG) | \
	FE_BIT(VHOST_USER_PROTOCOL_F_RESET_DEVICE) | \
	FE_BIT(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) | \
	FE_BIT(VHOST_USER_PROTOCOL_F_DEVICE_STATE))
/* The migration protocol features (check_dirty_log adds them to what
 * fe_start asks for through fe_start_protocol_extra). */
#define FE_MIGRATION_PROTOCOL	(FE_BIT(VHOST_USER_PROTOCOL_F_LOG_SHMFD) | \
	FE_BIT(VHOST_USER_PROTOCOL_F_STATUS) | \
	FE_BIT(VHOST_USER_PROTOCOL_F_PAGEFAULT))
/* Protocol features fe_start asks for besides FE_WANT_PROTOCOL (0). */
extern uint64_t fe_start_protocol_extra;

/*
 * Negotiate as QEMU does: SET_OWNER, GET_FEATURES, then when offered
 * GET_PROTOCOL_FEATURES / SET_PROTOCOL_FEATURES (offered & want_proto),
 * then SET_BACKEND_REQ_FD when BACKEND_REQ was acked, then SET_FEATURES
 * (offered & want).
 */
int	 fe_negotiate(struct fe *, uint64_t want, uint64_t want_proto);
/*
 * Place the rings of queue q in guest memory (once; desc, avail, then
 * used aligned to 4096, as the legacy layout) and hand them over:
 * SET_VRING_ERR, NUM, BASE (q->base), ADDR, KICK, CALL.  Does not enable.
 */
int	 fe_queue_setup(struct fe *, unsigned q, unsigned num);
/* Only place queue q's rings in guest memory (no messages); at most once.
 * The indices start at q->base. */
int	 fe_queue_init(struct fe *, unsigned q, unsigned num);
/* negotiate + SET_MEM_TABLE + fe_queue_setup(0, num) + enable(0). */
int	 fe_start(struct fe *, unsigned num);
/* Pause queue q as QEMU does on `stop`: SET_VRING_ENABLE 0 (with
 * PROTOCOL_FEATURES), GET_VRING_BASE; the base is kept in q->base (and
 * *base when not NULL).  On a packed ring *base is the count of chains
 * posted before the reported avail position (comparable to avail_idx and
 * last_used, as for split rings), and a used position that differs from
 * the avail one (an inexact base) is an error. */
int	 fe_queue_pause(struct fe *, unsigned q, uint32_t *base);
/* Swap queue q's call (SET_VRING_CALL) or kick (SET_VRING_KICK) eventfd
 * for a fresh one on a running queue, as QEMU does on MSI-X mask/unmask;
 * the old one is closed after the daemon took the new one. */
int	 fe_swap_fd(struct fe *, unsigned q, uint32_t request);
/* Resume it as QEMU does on `cont`: NUM, BASE (q->base), ADDR, KICK,
 * CALL with the same rings and eventfds, then enable.  The driver side
 * is untouched. */
int	 fe_queue_resume(struct fe *, unsigned q);

/* ------------------------------------------------------------------ */
/* The frontend as a listening VMM (fe_listen.c; vhostd --client).     */

/* Listen on `path` (an old file there is removed); the fd or -1. */
int	 fe_listen(const char *path);
/* Accept one connection within timeout_ms; the fd or -1. */
int	 fe_accept(int lfd, int timeout_ms);
/* Make `fd` the frontend's connection (as fe_reconnect, without the
 * connect). */
void	 fe_adopt(struct fe *, int fd);

/* ------------------------------------------------------------------ */
/* Inflight tracking (fe_inflight.c).                                  */

/* The inflight payload (24 bytes as QEMU sends it). */
struct fe_inflight_msg {
	uint64_t	mmap_size;
	uint64_t	mmap_offset;
	uint16_t	num_queues;
	uint16_t	queue_size;
	uint32_t	pad;
};

/* GET_INFLIGHT_FD for nq queues of qs: keeps the fd and maps it. */
int	 fe_inflight_get(struct fe *, uint16_t nq, uint16_t qs);
/* SET_INFLIGHT_FD with the kept region. */
int	 fe_inflight_set(struct fe *);
/* SET_INFLIGHT_FD with any payload and fd (-1: none); fe_request's
 * return values. */
int	 fe_inflight_set_raw(struct fe *, uint64_t size, uint64_t offset,
	    uint16_t nq, uint16_t qs, int fd);
/* Queue q's part of the kept region (header, then entries). */
uint8_t	*fe_inflight_queue(struct fe *, unsigned q);

/* ------------------------------------------------------------------ */
/* Device state (fe_state.c; QEMU 8.2's migration of back-end state).  */

#define FE_STATE_SAVE	0
#define FE_STATE_LOAD	1

/*
 * SET_DEVICE_STATE_FD with one end of a fresh pipe (the write end for a
 * save, the read end for a load); *ours is the other end, or the fd the
 * daemon returned instead.  *reply (may be NULL) is the raw u64.  0, 1
 * when refused (error code in bits 0..7; *ours is -1), -1 on transport
 * errors.
 */
int	 fe_state_fd(struct fe *, uint32_t direction, uint32_t phase,
	    int *ours, uint64_t *reply);
/* CHECK_DEVICE_STATE: 0 when *result is 0, 1 otherwise, -1 transport. */
int	 fe_check_state(struct fe *, uint64_t *result);
/* Read fd until EOF within timeout_ms (malloc'd *buf).  0 or -1. */
int	 fe_state_read_all(int fd, uint8_t **buf, size_t *len,
	    int timeout_ms);
/* The whole save: SET_DEVICE_STATE_FD(save), read to EOF, CHECK.
 * 0 (*buf malloc'd), 1 refused, -1 error. */
int	 fe_state_save(struct fe *, uint8_t **buf, size_t *len);
/* The whole load: SET_DEVICE_STATE_FD(load), write, close, CHECK.
 * 0, 1 refused (by either request), -1 error. */
int	 fe_state_load(struct fe *, const void *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Guest memory.                                                       */

/* Allocate from any allocatable region (-1 / region index); 0 = none. */
uint64_t fe_alloc(struct fe *, uint64_t size, uint64_t align);
uint64_t fe_alloc_in(struct fe *, int region, uint64_t size, uint64_t align);
/* Host address of [gpa, gpa+len) when it lies within one region. */
void	*fe_host(struct fe *, uint64_t gpa, uint64_t len);
/* Copy to/from guest memory, crossing regions; 0 or -1 (unmapped). */
int	 fe_read(struct fe *, uint64_t gpa, void *buf, size_t len);
int	 fe_write(struct fe *, uint64_t gpa, const void *buf, size_t len);
int	 fe_fill(struct fe *, uint64_t gpa, int c, size_t len);

/* ------------------------------------------------------------------ */
/* Guest driver.                                                       */

struct fe_buf {
	uint64_t	gpa;
	uint32_t	len;
	int		write;		/* device-writable */
};

#define FE_POST_INDIRECT	0x1	/* one INDIRECT descriptor */
#define FE_POST_NOKICK		0x2

/* Post a chain (readable buffers should come first); kicks unless
 * NOKICK.  Returns the head index, or -1 (ring full, too long). */
int	 fe_post(struct fe *, unsigned q, const struct fe_buf *bufs,
	    unsigned n, unsigned flags);
/* Publish `head` in the avail ring without any bookkeeping (hand-made
 * hostile descriptors written with fe_queue(fe,q)->desc).  Split only;
 * fe_publish_packed is the packed one. */
void	 fe_publish_raw(struct fe *, unsigned q, uint16_t head);
/* Packed: write `n` hand-made descriptors at the next slots (flags get
 * the AVAIL/USED bits of their slot; the first one is written last) with
 * no bookkeeping; the slots are consumed. */
void	 fe_publish_packed(struct fe *, unsigned q,
	    const struct vring_packed_desc *d, unsigned n);
/* Is the layout switch on (VHOSTD_FE_PACKED=1 in the environment)? */
int	 fe_env_packed(void);
int	 fe_kick(struct fe *, unsigned q);
/* Kick only when EVENT_IDX says the device wants one. */
int	 fe_kick_if_needed(struct fe *, unsigned q, uint16_t old_idx);
/* EVENT_IDX: ask for an interrupt only once the used entry `ahead`
 * entries after the next one to consume is written (split: used_event;
 * packed: DESC at that slot, counting one slot per chain). */
void	 fe_set_used_event(struct fe *, unsigned q, uint16_t ahead);
/* Wait for the call eventfd (consumes it); 1 signalled, 0 timeout. */
int	 fe_wait_call(struct fe *, unsigned q, int timeout_ms);
/* Wait for the err eventfd; 1 signalled, 0 timeout. */
int	 fe_wait_err(struct fe *, unsigned q, int timeout_ms);
/* The device's used index as a count comparable to last_used (split:
 * used->idx; packed: last_used plus the used descriptors written after
 * the next one to consume). */
uint16_t fe_used_idx(struct fe *, unsigned q);
/* Take one used entry if any: 1 (id, len set), 0 none, -1 bad entry. */
int	 fe_get_used(struct fe *, unsigned q, uint32_t *id, uint32_t *len);
/* fe_get_used, waiting on the call fd up to timeout_ms: 1, 0, -1. */
int	 fe_wait_used(struct fe *, unsigned q, uint32_t *id, uint32_t *len,
	    int timeout_ms);
struct fe_queue *fe_queue(struct fe *, unsigned q);

/* ------------------------------------------------------------------ */
/* The rng workload.                                                   */

struct fe_rng_stats {
	uint64_t	requests;	/* completed */
	uint64_t	bytes;
	uint64_t	short_replies;	/* used len < posted */
	uint64_t	calls;		/* call eventfd wakeups */
	int64_t		elapsed_ms;
	uint64_t	elapsed_ns;
};

/*
 * Read `total` bytes of entropy from queue q in requests of `chunk`
 * bytes, keeping up to `depth` requests in flight; copies the data to
 * `out` (may be NULL) in completion order.  Short replies are counted
 * and more requests are posted.  Each request is one writable
 * descriptor; `segs` > 1 splits it into that many descriptors and
 * `indirect` puts them in an indirect table.  0 or -1 (timeout waiting
 * timeout_ms for any completion, or a bad used entry).
 */
int	 fe_rng_read(struct fe *, unsigned q, void *out, size_t total,
	    size_t chunk, unsigned depth, unsigned segs, int indirect,
	    struct fe_rng_stats *st);

/*
 * Read `count` requests of `bs` bytes (a multiple of 512) from a blk
 * device on queue q, `depth` in flight, over the first `sectors` sectors;
 * each request is header, data and status (3 descriptors).  Every status
 * must be OK.  0 or -1.  Stats as fe_rng_read (bytes: data read).
 */
int	 fe_blk_read(struct fe *, unsigned q, uint64_t count, uint32_t bs,
	    unsigned depth, uint64_t sectors, struct fe_rng_stats *st);

#endif /* VHOSTD_TESTS_FE_H */
