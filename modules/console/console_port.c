/*
 * console: the data paths of a port.
 *
 * Host input (backend -> guest).  At most CONSOLE_IN_SIZE bytes are read
 * ahead from the backend into p->in, and only while the guest has the port
 * open and its rx queue runs.  They are copied into rx chains as the guest
 * posts them, one used entry per chain; the backend is read again only
 * when p->in is empty.  So a paste larger than every buffer waits in the
 * kernel (socket or pty buffer) and the client, not us, is slowed down:
 * nothing is dropped and nothing grows.
 *
 * Guest output (guest -> backend).  Tx chains are copied into the port's
 * bounded output ring (p->out) and given back once all their bytes are in
 * it; the ring is written to the backend without blocking.  With a client
 * attached, a full ring stops the copying (the chain stays popped, half
 * copied, and the guest waits for it): backpressure without loss.  With no
 * client the ring is the backlog: new output pushes out the oldest bytes,
 * counted and logged, so a guest printing to a console nobody watches
 * never stalls.  The backlog is written, in order, when a client
 * attaches.
 *
 * Every function here runs on the device's home worker.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"

/* Allocate a ring of cap bytes; 0 or -1. */
int
console_ring_init(struct console_ring *r, size_t cap)
{
	if ((r->buf = malloc(cap)) == NULL)
		return (-1);
	r->cap = cap;
	r->head = r->len = 0;
	return (0);
}

/* Free a ring (may be unallocated). */
void
console_ring_free(struct console_ring *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->head = r->len = 0;
}

/* Map the ring's data, oldest first, into up to two iovecs; the count. */
static int
console_ring_data(struct console_ring *r, struct iovec iov[2])
{
	size_t	 first;

	if (r->len == 0)
		return (0);
	first = r->cap - r->head;
	if (first >= r->len) {
		iov[0].iov_base = r->buf + r->head;
		iov[0].iov_len = r->len;
		return (1);
	}
	iov[0].iov_base = r->buf + r->head;
	iov[0].iov_len = first;
	iov[1].iov_base = r->buf;
	iov[1].iov_len = r->len - first;
	return (2);
}

/* Map up to `max` bytes of the ring's free space into up to two iovecs;
 * the count. */
static int
console_ring_space(struct console_ring *r, struct iovec iov[2], size_t max)
{
	size_t	 tail, first, want = r->cap - r->len;

	if (want > max)
		want = max;
	if (want == 0)
		return (0);
	tail = (r->head + r->len) % r->cap;
	first = r->cap - tail;
	iov[0].iov_base = r->buf + tail;
	if (first >= want) {
		iov[0].iov_len = want;
		return (1);
	}
	iov[0].iov_len = first;
	iov[1].iov_base = r->buf;
	iov[1].iov_len = want - first;
	return (2);
}

/* Remove n bytes from the front of the ring. */
static void
console_ring_consume(struct console_ring *r, size_t n)
{
	if (n > r->len)
		n = r->len;
	r->head = (r->head + n) % r->cap;
	r->len -= n;
	if (r->len == 0)
		r->head = 0;
}

/* Count n bytes of output lost (oldest first), logging the first loss
 * since the last attach. */
static void
console_port_count_drop(struct console_port *p, size_t n)
{
	if (n == 0)
		return;
	if (p->dropped == 0)
		p->con->api->log(p->con->dev, VHD_LOG_INFO, "port %u: no "
		    "client and the %zu-byte backlog is full: dropping the "
		    "oldest output", p->id, p->out.cap);
	p->dropped += n;
	p->dropped_total += n;
}

/* Make room for `n` more bytes by dropping the oldest ones (backlog
 * mode); n must be at most the ring's size. */
static void
console_port_make_room(struct console_port *p, size_t n)
{
	size_t	 space = p->out.cap - p->out.len;

	if (n <= space)
		return;
	console_port_count_drop(p, n - space);
	console_ring_consume(&p->out, n - space);
}

/*
 * Put bytes the host must see (emergency writes) into the output ring,
 * dropping the oldest when full, and start writing.
 */
void
console_port_output(struct console_port *p, const void *data, size_t len)
{
	const uint8_t	*s = data;
	struct iovec	 iov[2];
	int		 i, n;

	if (!p->configured || p->out.cap == 0)
		return;
	if (len > p->out.cap) {
		console_port_count_drop(p, len - p->out.cap);
		s += len - p->out.cap;
		len = p->out.cap;
	}
	console_port_make_room(p, len);
	n = console_ring_space(&p->out, iov, len);
	for (i = 0; i < n; i++) {
		memcpy(iov[i].iov_base, s, iov[i].iov_len);
		s += iov[i].iov_len;
		p->out.len += iov[i].iov_len;
	}
	console_port_tx(p);
}

/*
 * Write the ring to the backend once.  Returns the bytes written, 0 when
 * the backend cannot take more now (*blocked set), -1 when the backend
 * failed and was detached.
 */
static ssize_t
console_port_flush(struct console_port *p, int *blocked)
{
	struct iovec	 iov[2];
	ssize_t		 n;
	int		 cnt;

	if ((cnt = console_ring_data(&p->out, iov)) == 0)
		return (0);
	n = console_backend_write(p, iov, cnt);
	if (n > 0) {
		console_ring_consume(&p->out, (size_t)n);
		return (n);
	}
	if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR) {
		*blocked = 1;
		return (0);
	}
	console_backend_detach(p, strerror(errno));
	return (-1);
}

/*
 * Copy the held tx chain into the ring, as much as fits.  Returns the
 * bytes copied or -1 when the chain's memory is unreadable.
 */
static ssize_t
console_port_copy(struct console_port *p)
{
	const struct vhd_api	*api = p->con->api;
	struct iovec		 iov[2];
	size_t			 done = 0;
	ssize_t			 n;
	int			 i, cnt;

	cnt = console_ring_space(&p->out, iov, p->tx_len - p->tx_off);
	for (i = 0; i < cnt; i++) {
		n = api->chain_read(p->tx_chain, p->tx_off, iov[i].iov_base,
		    iov[i].iov_len);
		if (n < 0)
			return (-1);
		p->out.len += (size_t)n;
		p->tx_off += (size_t)n;
		done += (size_t)n;
		if ((size_t)n < iov[i].iov_len) {
			/* The chain is shorter than it said. */
			p->tx_len = p->tx_off;
			break;
		}
	}
	return ((ssize_t)done);
}

/*
 * Make progress on the held tx chain: in backlog mode make room first (a
 * chain larger than the ring keeps only its last bytes).  Gives the chain
 * back once all of it is in the ring.  Returns non-zero on progress.
 */
static int
console_port_tx_chain(struct console_port *p, struct vhd_queue *q,
    int *pushed)
{
	const struct vhd_api	*api = p->con->api;
	size_t			 left = p->tx_len - p->tx_off, skip;
	ssize_t			 n = 0;

	if (!p->connected && left > 0) {
		if (left > p->out.cap) {
			skip = left - p->out.cap;
			console_port_count_drop(p, skip);
			p->tx_off += skip;
			left -= skip;
		}
		console_port_make_room(p, left);
	}
	if (left > 0 && (n = console_port_copy(p)) < 0) {
		console_warn(p->con, "port %u: tx chain outside guest memory, "
		    "returned unused", p->id);
		p->tx_off = p->tx_len;
	}
	if (p->tx_off < p->tx_len)
		return (n > 0);
	api->queue_push(q, p->tx_chain, 0);
	p->tx_chain = NULL;
	*pushed = 1;
	return (1);
}

/*
 * Serve guest output: write the ring to the backend, take tx chains into
 * the ring, repeat while anything moves (at most CONSOLE_BUDGET rounds,
 * then yield through the resume timer).  Called on a tx kick, when the
 * backend becomes writable, when a client attaches.
 */
void
console_port_tx(struct console_port *p)
{
	const struct vhd_api	*api = p->con->api;
	struct vhd_queue	*q = console_txq(p);
	int			 round, progress, pushed = 0, blocked = 0;

	for (round = 0; round < CONSOLE_BUDGET; round++) {
		progress = 0;
		if (p->connected && p->out.len > 0 &&
		    console_port_flush(p, &blocked) > 0)
			progress = 1;
		if (p->tx_chain == NULL && q != NULL &&
		    (p->tx_chain = api->queue_pop(q)) != NULL) {
			p->tx_len = api->chain_readable(p->tx_chain);
			/* The chain rewound at the last stop: its first
			 * tx_resume bytes are in the ring already. */
			p->tx_off = p->tx_resume < p->tx_len ? p->tx_resume :
			    p->tx_len;
			p->tx_resume = 0;
			if (api->chain_writable(p->tx_chain) != 0)
				console_warn(p->con, "port %u: tx chain with "
				    "device-writable buffers (ignored)", p->id);
			progress = 1;
		}
		if (p->tx_chain != NULL && console_port_tx_chain(p, q,
		    &pushed))
			progress = 1;
		if (!progress)
			break;
	}
	if (pushed)
		api->queue_notify(q);
	if (round == CONSOLE_BUDGET)
		console_backend_arm(p, p->resume_w, &p->resume_armed, 1, 0);
	if (p->connected && p->out.len > 0 && blocked)
		console_backend_arm(p, p->wr_w, &p->wr_armed, 1, -1);
}

/*
 * The tx queue stops (a pause, or the device going away): give the held
 * chain back to the ring with queue_rewind, so the frontend's
 * GET_VRING_BASE counts it as not consumed, and remember how many of its
 * bytes are already in the output ring: when the queue runs again the
 * next chain popped is that same chain, and copying resumes there.  So a
 * pause under backpressure loses no output and blocks nothing.  A chain
 * that cannot be rewound (never expected) is finished in backlog mode, as
 * before.
 */
void
console_port_tx_stop(struct console_port *p)
{
	const struct vhd_api	*api = p->con->api;
	struct vhd_queue	*q = console_txq(p);
	int			 connected = p->connected, pushed = 0;

	if (p->tx_chain == NULL || q == NULL)
		return;
	if (api->queue_rewind(q, p->tx_chain) == 0) {
		p->tx_resume = p->tx_off;
		p->tx_chain = NULL;
		p->tx_off = p->tx_len = 0;
		return;
	}
	console_warn(p->con, "port %u: cannot rewind the held tx chain; "
	    "finishing it into the backlog", p->id);
	p->connected = 0;
	(void)console_port_tx_chain(p, q, &pushed);
	p->connected = connected;
	if (pushed)
		api->queue_notify(q);
}

/*
 * Arm or disarm the read watch: input is read only while the guest has
 * the port open, its rx queue runs and nothing is staged.
 */
void
console_port_update_read(struct console_port *p)
{
	int	 want;

	want = p->in_len == 0 && p->guest_open && console_rxq(p) != NULL &&
	    console_backend_can_read(p);
	console_backend_arm(p, p->rd_w, &p->rd_armed, want, -1);
}

/*
 * Serve host input: read into the staging buffer when it is empty, copy
 * it into rx chains, one used entry per chain.  Called on an rx kick, when
 * the backend is readable, when the guest opens the port.
 */
void
console_port_rx(struct console_port *p)
{
	const struct vhd_api	*api = p->con->api;
	struct vhd_queue	*q = console_rxq(p);
	struct vhd_chain	*c;
	size_t			 wr, n;
	ssize_t			 got;
	int			 round, pushed = 0;

	for (round = 0; round < CONSOLE_BUDGET; round++) {
		if (q == NULL || !p->guest_open)
			break;
		if (p->in_len == 0) {
			if (!console_backend_can_read(p))
				break;
			got = console_backend_read(p, p->in, sizeof(p->in));
			if (got <= 0)
				break;
			p->in_off = 0;
			p->in_len = (size_t)got;
		}
		if ((c = api->queue_pop(q)) == NULL)
			break;
		wr = api->chain_writable(c);
		n = wr < p->in_len ? wr : p->in_len;
		if (n == 0 || (got = api->chain_write(c, 0, p->in + p->in_off,
		    n)) <= 0) {
			console_warn(p->con, "port %u: rx chain without "
			    "usable device-writable buffers, returned unused",
			    p->id);
			api->queue_push(q, c, 0);
			pushed = 1;
			continue;
		}
		api->queue_push(q, c, (uint32_t)got);
		pushed = 1;
		p->in_off += (size_t)got;
		p->in_len -= (size_t)got;
	}
	if (pushed)
		api->queue_notify(q);
	if (round == CONSOLE_BUDGET)
		console_backend_arm(p, p->resume_w, &p->resume_armed, 1, 0);
	console_port_update_read(p);
}

/*
 * A client attached (or a pty got a reader): tell the guest, replay the
 * backlog in order, start reading.
 */
void
console_port_attached(struct console_port *p)
{
	struct console	*con = p->con;

	if (p->dropped != 0)
		con->api->log(con->dev, VHD_LOG_INFO, "port %u: client "
		    "attached; replaying %zu bytes of backlog, %llu older "
		    "bytes were dropped", p->id, p->out.len,
		    (unsigned long long)p->dropped);
	else
		con->api->log(con->dev, VHD_LOG_INFO, "port %u: client "
		    "attached; replaying %zu bytes of backlog", p->id,
		    p->out.len);
	p->dropped = 0;
	console_ctrl_pend(p, CONSOLE_PEND_OPEN);
	console_ctrl_flush(con);
	console_port_tx(p);
	console_port_rx(p);
}

/* The client went away: tell the guest; output goes to the backlog. */
void
console_port_detached(struct console_port *p, const char *why)
{
	struct console	*con = p->con;

	con->api->log(con->dev, VHD_LOG_INFO, "port %u: client detached (%s)",
	    p->id, why);
	if (!p->removed)
		console_ctrl_pend(p, CONSOLE_PEND_OPEN);
	console_ctrl_flush(con);
	console_port_update_read(p);
	/* A chain waiting for room goes on in backlog mode. */
	console_port_tx(p);
}
