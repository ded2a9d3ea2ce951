/*
 * console: device state for migration (state_save / state_load).
 *
 * What moves: what the driver set up (DEVICE_READY, each port's
 * PORT_ADD/READY/OPEN state and the control messages still pending), the
 * console size, each port's backlog (guest output not yet written to a
 * host client), host input staged for the guest, the byte count of a tx
 * chain half-copied before the pause (so it is not copied twice) and the
 * drop counters.  What does not: the host clients themselves (a pty, a
 * unix or tcp connection belongs to the old process).  A port whose
 * client was attached on the source has none on the destination, so the
 * guest gets PORT_OPEN 0 when the queues start, and the backlog is
 * replayed to the next client that attaches here, as after any detach.
 *
 * The destination must declare the same ports (count, which are
 * configured, names): anything else is refused.  A backlog larger than
 * the destination's keeps its newest bytes and counts the rest dropped.
 *
 * Layout (u64 little-endian unless said): version, nports, device_ready,
 * cols, rows; then per port: configured, name length, name bytes, added,
 * guest_ready, guest_open, open_reported, removed, pending, tx_resume,
 * dropped, dropped_total, input length, input bytes, backlog length,
 * backlog bytes (oldest first).
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vhostd/vhostd.h>

#include "console.h"

#define CONSOLE_STATE_VERSION	1
#define CONSOLE_PEND_ALL	0x3f

/* A port's state as read from the stream, applied only once all of it
 * checked out. */
struct console_state_port {
	uint64_t	 added, guest_ready, guest_open, open_reported;
	uint64_t	 removed, pending, tx_resume, dropped, dropped_total;
	const uint8_t	*in;
	size_t		 in_len;
	const uint8_t	*out;
	size_t		 out_len;
};

/* What save and load hand to the home worker. */
struct console_state_job {
	struct console		*con;
	struct vhd_state_buf	 b;
	const void		*data;
	size_t			 len;
	int			 rc;
};

/* Serialize.  Home worker (or inline when the workers are gone). */
static void
console_state_save_cb(struct vhd_dev *dev, void *arg)
{
	struct console_state_job *job = arg;
	struct console		*con = job->con;
	struct console_port	*p;
	struct vhd_state_buf	*b = &job->b;
	size_t			 first, nlen;
	uint16_t		 cols, rows;
	unsigned		 i;

	(void)dev;
	console_get_size(con, &cols, &rows);
	vhd_state_put_u64(b, CONSOLE_STATE_VERSION);
	vhd_state_put_u64(b, con->nports);
	vhd_state_put_u64(b, (uint64_t)con->device_ready);
	vhd_state_put_u64(b, cols);
	vhd_state_put_u64(b, rows);
	for (i = 0; i < con->nports; i++) {
		p = &con->ports[i];
		nlen = p->name != NULL ? strlen(p->name) : 0;
		vhd_state_put_u64(b, (uint64_t)p->configured);
		vhd_state_put_u64(b, nlen);
		vhd_state_put(b, p->name, nlen);
		vhd_state_put_u64(b, (uint64_t)p->added);
		vhd_state_put_u64(b, (uint64_t)p->guest_ready);
		vhd_state_put_u64(b, (uint64_t)p->guest_open);
		vhd_state_put_u64(b, (uint64_t)p->open_reported);
		vhd_state_put_u64(b, (uint64_t)p->removed);
		vhd_state_put_u64(b, p->pending);
		vhd_state_put_u64(b, p->tx_resume);
		vhd_state_put_u64(b, p->dropped);
		vhd_state_put_u64(b, p->dropped_total);
		/* in_len counts the staged bytes from in_off on. */
		vhd_state_put_u64(b, p->in_len);
		vhd_state_put(b, p->in + p->in_off, p->in_len);
		vhd_state_put_u64(b, p->out.len);
		if (p->out.len > 0) {
			first = p->out.cap - p->out.head;
			if (first > p->out.len)
				first = p->out.len;
			vhd_state_put(b, p->out.buf + p->out.head, first);
			vhd_state_put(b, p->out.buf, p->out.len - first);
		}
	}
	job->rc = b->failed ? -1 : 0;
}

/* Read one port's state; -1 on anything malformed or not matching this
 * device's port. */
static int
console_state_read_port(struct console_port *p, struct vhd_state_reader *r,
    struct console_state_port *sp)
{
	uint64_t	 configured, nlen;
	size_t		 have = p->name != NULL ? strlen(p->name) : 0;

	if (vhd_state_get_range(r, 0, 1, &configured) == -1 ||
	    configured != (uint64_t)(p->configured != 0) ||
	    vhd_state_get_range(r, 0, CONSOLE_NAME_MAX, &nlen) == -1 ||
	    nlen != have || nlen > r->len - r->off ||
	    (nlen > 0 && memcmp(r->p + r->off, p->name, nlen) != 0))
		return (-1);
	r->off += nlen;
	if (vhd_state_get_range(r, 0, 1, &sp->added) == -1 ||
	    vhd_state_get_range(r, 0, 1, &sp->guest_ready) == -1 ||
	    vhd_state_get_range(r, 0, 1, &sp->guest_open) == -1 ||
	    vhd_state_get_range(r, 0, 1, &sp->open_reported) == -1 ||
	    vhd_state_get_range(r, 0, 1, &sp->removed) == -1 ||
	    vhd_state_get_range(r, 0, CONSOLE_PEND_ALL, &sp->pending) == -1 ||
	    vhd_state_get_range(r, 0, UINT32_MAX, &sp->tx_resume) == -1 ||
	    vhd_state_get_u64(r, &sp->dropped) == -1 ||
	    vhd_state_get_u64(r, &sp->dropped_total) == -1 ||
	    vhd_state_get_range(r, 0, CONSOLE_IN_SIZE, &nlen) == -1 ||
	    nlen > r->len - r->off)
		return (-1);
	sp->in = r->p + r->off;
	sp->in_len = nlen;
	r->off += nlen;
	if (vhd_state_get_range(r, 0, CONSOLE_BACKLOG_MAX, &nlen) == -1 ||
	    nlen > r->len - r->off)
		return (-1);
	sp->out = r->p + r->off;
	sp->out_len = nlen;
	r->off += nlen;
	return (0);
}

/* Apply one checked port state. */
static void
console_state_apply_port(struct console_port *p,
    const struct console_state_port *sp)
{
	const uint8_t	*out = sp->out;
	size_t		 n = sp->out_len, skip = 0;

	p->added = (int)sp->added;
	p->guest_ready = (int)sp->guest_ready;
	p->guest_open = (int)sp->guest_open;
	p->open_reported = (int)sp->open_reported;
	p->removed = (int)sp->removed;
	p->pending = (unsigned)sp->pending;
	p->tx_resume = (size_t)sp->tx_resume;
	p->dropped = sp->dropped;
	p->dropped_total = sp->dropped_total;
	memcpy(p->in, sp->in, sp->in_len);
	p->in_off = 0;
	p->in_len = sp->in_len;
	if (p->out.buf != NULL) {
		if (n > p->out.cap) {
			skip = n - p->out.cap;
			p->dropped += skip;
			p->dropped_total += skip;
			p->con->api->log(p->con->dev, VHD_LOG_WARN, "port %u: "
			    "state load: backlog of %zu bytes, %zu kept here",
			    p->id, n, p->out.cap);
		}
		memcpy(p->out.buf, out + skip, n - skip);
		p->out.head = 0;
		p->out.len = n - skip;
	}
	/* The source's client is not ours: tell the guest the port is
	 * closed when it thought it open (and vice versa). */
	if (p->added && p->guest_ready && !p->removed &&
	    p->open_reported != p->connected)
		p->pending |= CONSOLE_PEND_OPEN;
}

/* Check everything, then apply.  Home worker (or inline). */
static void
console_state_load_cb(struct vhd_dev *dev, void *arg)
{
	struct console_state_job *job = arg;
	struct console		*con = job->con;
	struct vhd_state_reader	 r = { job->data, job->len, 0 };
	struct console_state_port *sp;
	uint64_t		 version, nports, ready, cols, rows;
	unsigned		 i;

	(void)dev;
	job->rc = -1;
	if (vhd_state_get_range(&r, CONSOLE_STATE_VERSION,
	    CONSOLE_STATE_VERSION, &version) == -1 ||
	    vhd_state_get_range(&r, 1, CONSOLE_MAX_PORTS, &nports) == -1 ||
	    nports != con->nports ||
	    vhd_state_get_range(&r, 0, 1, &ready) == -1 ||
	    vhd_state_get_range(&r, 0, UINT16_MAX, &cols) == -1 ||
	    vhd_state_get_range(&r, 0, UINT16_MAX, &rows) == -1)
		return;
	if ((sp = calloc(con->nports, sizeof *sp)) == NULL)
		return;
	for (i = 0; i < con->nports; i++) {
		if (console_state_read_port(&con->ports[i], &r, &sp[i]) == -1)
			goto out;
	}
	if (r.off != r.len)
		goto out;
	con->device_ready = (int)ready;
	console_set_size(con, (uint16_t)cols, (uint16_t)rows);
	for (i = 0; i < con->nports; i++) {
		if (con->ports[i].configured)
			console_state_apply_port(&con->ports[i], &sp[i]);
	}
	job->rc = 0;
out:
	free(sp);
}

/* Run fn on the home worker and wait; inline when no worker runs. */
static int
console_state_run(struct vhd_dev *dev, struct console *con,
    vhd_worker_fn fn, struct console_state_job *job)
{
	const struct vhd_api	*api = con->api;
	struct vhd_queue	*q0 = api->dev_queue(dev, 0);
	unsigned		 home = q0 != NULL ? api->queue_worker(q0) : 0;

	job->con = con;
	job->rc = -1;
	if (api->run_on_worker(dev, home, fn, job, 1) != 0)
		return (-1);
	return (job->rc);
}

/* state_save.  Main thread, queues stopped. */
int
console_state_save(struct vhd_dev *dev, void **buf, size_t *len)
{
	struct console			*con = console_get(dev);
	struct console_state_job	 job;

	memset(&job, 0, sizeof job);
	if (console_state_run(dev, con, console_state_save_cb, &job) != 0) {
		free(job.b.p);
		con->api->log(dev, VHD_LOG_ERR, "state save failed");
		return (-1);
	}
	*buf = job.b.p;
	*len = job.b.len;
	return (0);
}

/* state_load.  Main thread, queues stopped. */
int
console_state_load(struct vhd_dev *dev, const void *buf, size_t len)
{
	struct console			*con = console_get(dev);
	struct console_state_job	 job;

	memset(&job, 0, sizeof job);
	job.data = buf;
	job.len = len;
	if (console_state_run(dev, con, console_state_load_cb, &job) != 0) {
		con->api->log(dev, VHD_LOG_ERR, "state load: malformed or "
		    "not for this device's ports (%zu bytes)", len);
		return (-1);
	}
	return (0);
}
