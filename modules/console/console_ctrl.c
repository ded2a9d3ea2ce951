/*
 * console: the control queues of a multiport device.
 *
 * The handshake, as the Linux virtio_console driver runs it:
 *	driver: DEVICE_READY(1)			(after filling c_ivq)
 *	device: PORT_ADD(id)			for every port
 *	driver: PORT_READY(id, 1)		(after filling the port's rx)
 *	device: CONSOLE_PORT(0, 1)		port 0 only
 *	device: PORT_NAME(id) + name		named ports
 *	device: PORT_OPEN(id, 1)		a host client is attached
 *	device: RESIZE(0) + size		port 0, with F_SIZE
 *	driver: PORT_OPEN(id, 1)		console at once; a serial
 *						port when a guest program
 *						opens it
 * Later: PORT_OPEN(id, 0/1) from the device as host clients come and go,
 * RESIZE when port 0's terminal changes size, PORT_REMOVE when a backend
 * fails for good; PORT_OPEN from the driver as guest programs open and
 * close the port.
 *
 * Device -> driver messages are not queued as messages but as pending
 * bits per port (CONSOLE_PEND_*), sent in a fixed order as c_ivq buffers
 * arrive; PORT_OPEN carries the state at sending time and is not sent
 * when it equals what the driver was last told.  So the pending state is
 * bounded whatever the guest does, and a client that comes and goes while
 * the driver posts no buffers costs nothing.
 *
 * Driver -> device messages that are short, unknown, meant for the
 * driver, or name a port that does not exist (or was never added) are
 * logged (rate-limited) and ignored; their buffers are returned.
 *
 * Every function here runs on the device's home worker.
 */

#include <sys/types.h>

#include <string.h>

#include "console.h"

/* A control event: its name and, for driver -> device events, its
 * handler. */
struct console_ctrl_event {
	const char	*name;
	int		 needs_port;	/* id must be an added port */
	void		(*handle)(struct console *, struct console_port *,
			    uint16_t);
};

static void	console_ctrl_device_ready(struct console *,
		    struct console_port *, uint16_t);
static void	console_ctrl_port_ready(struct console *,
		    struct console_port *, uint16_t);
static void	console_ctrl_port_open(struct console *,
		    struct console_port *, uint16_t);

static const struct console_ctrl_event console_ctrl_events[CONSOLE_NEVENTS] = {
	[CONSOLE_DEVICE_READY] = { "DEVICE_READY", 0,
	    console_ctrl_device_ready },
	[CONSOLE_PORT_ADD] = { "PORT_ADD", 1, NULL },
	[CONSOLE_PORT_REMOVE] = { "PORT_REMOVE", 1, NULL },
	[CONSOLE_PORT_READY] = { "PORT_READY", 1, console_ctrl_port_ready },
	[CONSOLE_CONSOLE_PORT] = { "CONSOLE_PORT", 1, NULL },
	[CONSOLE_RESIZE] = { "RESIZE", 1, NULL },
	[CONSOLE_PORT_OPEN] = { "PORT_OPEN", 1, console_ctrl_port_open },
	[CONSOLE_PORT_NAME] = { "PORT_NAME", 1, NULL },
};

/* The pending bits in the order they are sent, with their events. */
static const struct {
	unsigned	bit;
	uint16_t	event;
} console_ctrl_order[] = {
	{ CONSOLE_PEND_ADD,	CONSOLE_PORT_ADD },
	{ CONSOLE_PEND_CONSOLE,	CONSOLE_CONSOLE_PORT },
	{ CONSOLE_PEND_NAME,	CONSOLE_PORT_NAME },
	{ CONSOLE_PEND_OPEN,	CONSOLE_PORT_OPEN },
	{ CONSOLE_PEND_RESIZE,	CONSOLE_RESIZE },
	{ CONSOLE_PEND_REMOVE,	CONSOLE_PORT_REMOVE },
};

#define CONSOLE_PEND_READY	(CONSOLE_PEND_CONSOLE | CONSOLE_PEND_NAME | \
	CONSOLE_PEND_OPEN | CONSOLE_PEND_RESIZE)

/* Store a little-endian 16-bit value. */
static void
console_ctrl_le16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

/*
 * Mark device -> driver messages of a port to send.  Messages that only
 * make sense after the driver's PORT_READY are not marked before it (it
 * marks them); PORT_REMOVE of a port never added cancels its PORT_ADD.
 */
void
console_ctrl_pend(struct console_port *p, unsigned bits)
{
	if (!p->con->multiport)
		return;
	if (!p->guest_ready)
		bits &= ~(unsigned)CONSOLE_PEND_READY;
	if (bits & CONSOLE_PEND_REMOVE) {
		if (!p->added && !(p->pending & CONSOLE_PEND_ADD)) {
			bits &= ~(unsigned)CONSOLE_PEND_REMOVE;
		} else if (!p->added) {
			p->pending &= ~(unsigned)CONSOLE_PEND_ADD;
			bits &= ~(unsigned)CONSOLE_PEND_REMOVE;
		} else
			p->pending &= ~(unsigned)CONSOLE_PEND_READY;
	}
	p->pending |= bits;
}

/* DEVICE_READY: on success, add every port. */
static void
console_ctrl_device_ready(struct console *con, struct console_port *unused,
    uint16_t value)
{
	struct console_port	*p;
	unsigned		 i;

	(void)unused;
	if (value != 1) {
		con->api->log(con->dev, VHD_LOG_WARN, "driver reports a "
		    "failure to set up the device (DEVICE_READY %u)", value);
		return;
	}
	con->device_ready = 1;
	for (i = 0; i < con->nports; i++) {
		p = &con->ports[i];
		if (p->configured && !p->added && !p->removed)
			p->pending |= CONSOLE_PEND_ADD;
	}
}

/* PORT_READY: on success, tell the driver about the port. */
static void
console_ctrl_port_ready(struct console *con, struct console_port *p,
    uint16_t value)
{
	unsigned	 bits = CONSOLE_PEND_OPEN;

	if (value != 1) {
		con->api->log(con->dev, VHD_LOG_WARN, "port %u: driver reports "
		    "a failure to add it (PORT_READY %u)", p->id, value);
		p->guest_ready = 0;
		return;
	}
	if (p->guest_ready)
		return;
	p->guest_ready = 1;
	if (p->id == 0)
		bits |= CONSOLE_PEND_CONSOLE;
	if (p->name != NULL)
		bits |= CONSOLE_PEND_NAME;
	if (p->id == 0 && con->size_acked)
		bits |= CONSOLE_PEND_RESIZE;
	console_ctrl_pend(p, bits);
}

/* PORT_OPEN from the driver: a guest program opened or closed the port. */
static void
console_ctrl_port_open(struct console *con, struct console_port *p,
    uint16_t value)
{
	int	 open = value != 0;

	if (p->guest_open == open)
		return;
	p->guest_open = open;
	con->api->log(con->dev, VHD_LOG_DEBUG, "port %u: guest %s the port",
	    p->id, open ? "opened" : "closed");
	if (open)
		console_port_rx(p);
	else
		console_port_update_read(p);
}

/* Handle one driver -> device message. */
static void
console_ctrl_handle(struct console *con, uint32_t id, uint16_t event,
    uint16_t value)
{
	const struct console_ctrl_event	*e;
	struct console_port		*p = NULL;

	if (event >= CONSOLE_NEVENTS) {
		console_warn(con, "unknown control event %u (port %u), "
		    "ignored", event, id);
		return;
	}
	e = &console_ctrl_events[event];
	if (e->handle == NULL) {
		console_warn(con, "control event %s (port %u) is sent by the "
		    "device, not the driver; ignored", e->name, id);
		return;
	}
	if (e->needs_port) {
		if (id >= con->nports || !con->ports[id].configured ||
		    !con->ports[id].added) {
			console_warn(con, "control event %s for port %u, "
			    "which the driver was not given; ignored",
			    e->name, id);
			return;
		}
		p = &con->ports[id];
	}
	e->handle(con, p, value);
}

/* Take every driver -> device message from c_ovq and handle it, then send
 * what became pending. */
void
console_ctrl_recv(struct console *con)
{
	const struct vhd_api	*api = con->api;
	struct vhd_queue	*q = con->queues[CONSOLE_Q_CTRL_TX];
	struct vhd_chain	*c;
	uint8_t			 m[CONSOLE_CTRL_SIZE];
	size_t			 rd;
	ssize_t			 n;
	int			 pushed = 0;

	if (q == NULL)
		return;
	while ((c = api->queue_pop(q)) != NULL) {
		rd = api->chain_readable(c);
		n = rd >= sizeof(m) ? api->chain_read(c, 0, m, sizeof(m)) : 0;
		api->queue_push(q, c, 0);
		pushed = 1;
		if (rd < sizeof(m)) {
			console_warn(con, "short control message (%zu bytes), "
			    "ignored", rd);
			continue;
		}
		if (n != (ssize_t)sizeof(m)) {
			console_warn(con, "control message outside guest "
			    "memory, ignored");
			continue;
		}
		console_ctrl_handle(con, (uint32_t)m[0] |
		    (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 |
		    (uint32_t)m[3] << 24, (uint16_t)(m[4] | m[5] << 8),
		    (uint16_t)(m[6] | m[7] << 8));
	}
	if (pushed)
		api->queue_notify(q);
	console_ctrl_flush(con);
}

/* Find the next pending message: the port and its order entry; 0 when
 * none. */
static int
console_ctrl_next(struct console *con, struct console_port **pp,
    unsigned *order)
{
	unsigned	 o, i;

	for (o = 0; o < sizeof(console_ctrl_order) /
	    sizeof(console_ctrl_order[0]); o++) {
		for (i = 0; i < con->nports; i++) {
			if (con->ports[i].pending & console_ctrl_order[o].bit) {
				*pp = &con->ports[i];
				*order = o;
				return (1);
			}
		}
	}
	return (0);
}

/*
 * Build the message for a pending bit into m (room for the header and a
 * name); returns its length, or 0 when nothing needs sending (a PORT_OPEN
 * the driver already knows).
 */
static size_t
console_ctrl_build(struct console_port *p, unsigned order, uint8_t *m)
{
	struct console	*con = p->con;
	uint16_t	 event = console_ctrl_order[order].event;
	uint16_t	 value = 1, cols, rows;
	size_t		 len = CONSOLE_CTRL_SIZE, nlen;

	switch (console_ctrl_order[order].bit) {
	case CONSOLE_PEND_OPEN:
		value = p->connected ? 1 : 0;
		if (value == p->open_reported)
			return (0);
		break;
	case CONSOLE_PEND_REMOVE:
		value = 0;
		break;
	case CONSOLE_PEND_RESIZE:
		value = 0;
		console_get_size(con, &cols, &rows);
		console_ctrl_le16(m + 8, con->rows_first ? rows : cols);
		console_ctrl_le16(m + 10, con->rows_first ? cols : rows);
		len += 4;
		break;
	case CONSOLE_PEND_NAME:
		nlen = strlen(p->name);
		memcpy(m + 8, p->name, nlen);
		len += nlen;
		break;
	default:
		break;
	}
	m[0] = (uint8_t)p->id;
	m[1] = m[2] = m[3] = 0;
	console_ctrl_le16(m + 4, event);
	console_ctrl_le16(m + 6, value);
	return (len);
}

/* A message went to the driver: update what the driver knows. */
static void
console_ctrl_sent(struct console_port *p, unsigned bit, const uint8_t *m)
{
	p->pending &= ~bit;
	if (bit == CONSOLE_PEND_ADD)
		p->added = 1;
	else if (bit == CONSOLE_PEND_OPEN)
		p->open_reported = m[6];
	else if (bit == CONSOLE_PEND_REMOVE) {
		p->added = p->guest_ready = p->guest_open = 0;
		p->open_reported = 0;
		p->pending = 0;
		console_port_update_read(p);
	}
}

/* Send pending device -> driver messages while c_ivq has buffers. */
void
console_ctrl_flush(struct console *con)
{
	const struct vhd_api	*api = con->api;
	struct vhd_queue	*q = con->queues[CONSOLE_Q_CTRL_RX];
	struct console_port	*p;
	struct vhd_chain	*c;
	uint8_t			 m[CONSOLE_CTRL_SIZE + CONSOLE_NAME_MAX + 4];
	unsigned		 order, bit;
	size_t			 len, wr;
	ssize_t			 n;
	int			 pushed = 0;

	if (q == NULL || !con->multiport)
		return;
	while (console_ctrl_next(con, &p, &order)) {
		bit = console_ctrl_order[order].bit;
		if ((len = console_ctrl_build(p, order, m)) == 0) {
			p->pending &= ~bit;
			continue;
		}
		if ((c = api->queue_pop(q)) == NULL)
			break;
		wr = api->chain_writable(c);
		if (wr < CONSOLE_CTRL_SIZE) {
			console_warn(con, "control rx buffer of %zu bytes is "
			    "too small, returned unused", wr);
			api->queue_push(q, c, 0);
			pushed = 1;
			continue;
		}
		if (len > wr && bit != CONSOLE_PEND_NAME) {
			/* A cut RESIZE would make the driver read its size
			 * from stale bytes: wait for a larger buffer. */
			console_warn(con, "control rx buffer of %zu bytes is "
			    "too small for a %zu-byte message, returned unused",
			    wr, len);
			api->queue_push(q, c, 0);
			pushed = 1;
			continue;
		}
		if (len > wr) {
			console_warn(con, "port %u: name cut to fit a %zu-byte "
			    "control buffer", p->id, wr);
			len = wr;
		}
		n = api->chain_write(c, 0, m, len);
		if (n != (ssize_t)len) {
			console_warn(con, "control rx buffer outside guest "
			    "memory, returned unused");
			api->queue_push(q, c, 0);
			pushed = 1;
			continue;
		}
		api->queue_push(q, c, (uint32_t)len);
		pushed = 1;
		console_ctrl_sent(p, bit, m);
	}
	if (pushed)
		api->queue_notify(q);
}
