/*
 * console: the virtio console device (virtio 1.x, device ID 3).
 *
 * Features offered: VIRTIO_CONSOLE_F_SIZE (cols and rows in config space,
 * RESIZE messages), F_MULTIPORT (max_nr_ports, the control queues, up to
 * 31 ports) and F_EMERG_WRITE (a byte written to emerg_wr goes to port
 * 0's backend).  Queues, per the spec: 0 rx0, 1 tx0, 2 c_ivq (control,
 * device to driver), 3 c_ovq (control, driver to device), then an rx/tx
 * pair for each port 1..max_nr_ports-1.
 *
 * This file holds the module ops: create and destroy, config space, queue
 * start/stop and dispatch, reset, emergency writes.  See console.h for the
 * thread rules and the other files.
 */

#include <sys/types.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"

/*
 * The daemon's function table, kept for callbacks that get only the
 * device handle (the SDK guarantees one table per process).  Written by
 * create on the main thread before any callback of the device runs.
 */
static const struct vhd_api *console_api;

/* Return a malloc'd message for *cause (NULL when out of memory).  Any
 * thread. */
char *
console_cause(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	return (s);
}

/* Return the device's private data.  Any thread. */
struct console *
console_get(struct vhd_dev *dev)
{
	return (console_api->dev_priv(dev));
}

/* Return the index of a port's rx queue. */
static unsigned
console_rx_index(unsigned id)
{
	return (id == 0 ? 0 : 4 + 2 * (id - 1));
}

/* Return the port's running rx queue, or NULL.  Home worker. */
struct vhd_queue *
console_rxq(struct console_port *p)
{
	return (p->con->queues[console_rx_index(p->id)]);
}

/* Return the port's running tx queue, or NULL.  Home worker. */
struct vhd_queue *
console_txq(struct console_port *p)
{
	return (p->con->queues[console_rx_index(p->id) + 1]);
}

/* Read the console size.  Any thread. */
void
console_get_size(struct console *con, uint16_t *cols, uint16_t *rows)
{
	pthread_mutex_lock(&con->cfg_lock);
	*cols = con->cols;
	*rows = con->rows;
	pthread_mutex_unlock(&con->cfg_lock);
}

/*
 * Port 0's backend has a new size: store it, tell the driver with a
 * RESIZE message (multiport) and a config change notification.  Home
 * worker.
 */
void
console_set_size(struct console *con, uint16_t cols, uint16_t rows)
{
	int	 changed;

	if (cols == 0 || rows == 0)
		return;
	pthread_mutex_lock(&con->cfg_lock);
	changed = con->cols != cols || con->rows != rows;
	con->cols = cols;
	con->rows = rows;
	pthread_mutex_unlock(&con->cfg_lock);
	if (!changed)
		return;
	con->api->log(con->dev, VHD_LOG_INFO, "console size %ux%u", cols,
	    rows);
	if (!con->size_acked || con->nrunning == 0)
		return;
	if (con->multiport && con->ports[0].guest_ready) {
		console_ctrl_pend(&con->ports[0], CONSOLE_PEND_RESIZE);
		console_ctrl_flush(con);
	}
	if (con->api->config_changed(con->dev) != 0)
		con->api->log(con->dev, VHD_LOG_DEBUG, "no backend channel "
		    "for a config change notification");
}

/* Free the device's private data.  Main thread, no worker running it. */
static void
console_free(struct console *con)
{
	struct console_port	*p;
	unsigned		 i;

	if (con->ports != NULL) {
		for (i = 0; i < CONSOLE_MAX_PORTS; i++) {
			p = &con->ports[i];
			console_backend_close(p);
			console_ring_free(&p->out);
			free(p->name);
			free(p->path);
			free(p->host);
			free(p->service);
			free(p->link);
		}
		free(con->ports);
	}
	pthread_mutex_destroy(&con->cfg_lock);
	free(con);
}

/*
 * Create a console device from its keys: parse them, open every port's
 * backend (listening sockets, ptys, files, the terminal).  Returns 0, or
 * -1 with *cause naming the key.  Main thread.
 */
static int
console_create(struct vhd_dev *dev, const struct vhd_api *api,
    const struct vhd_kv *kv, size_t nkv, struct vhd_dev_info *info,
    char **cause)
{
	struct console		*con;
	struct console_port	*p;
	unsigned		 i;

	*cause = NULL;
	if (api->size < offsetof(struct vhd_api, log_ratelimited) +
	    sizeof(api->log_ratelimited)) {
		*cause = console_cause("console: needs vhostd module ABI 1.1");
		return (-1);
	}
	if ((con = calloc(1, sizeof(*con))) == NULL) {
		*cause = console_cause("console: out of memory");
		return (-1);
	}
	pthread_mutex_init(&con->cfg_lock, NULL);
	con->api = api;
	con->dev = dev;
	con->cols = 80;
	con->rows = 24;
	con->backlog = CONSOLE_BACKLOG_DEFAULT;
	if ((con->ports = calloc(CONSOLE_MAX_PORTS,
	    sizeof(*con->ports))) == NULL) {
		*cause = console_cause("console: out of memory");
		goto fail;
	}
	for (i = 0; i < CONSOLE_MAX_PORTS; i++) {
		p = &con->ports[i];
		p->con = con;
		p->id = i;
		p->listen_fd = p->rfd = p->wfd = p->tty_fd = -1;
		p->tty_wake[0] = p->tty_wake[1] = -1;
	}
	if (console_conf_parse(con, kv, nkv, cause) != 0)
		goto fail;

	for (i = 0; i < con->nports; i++) {
		p = &con->ports[i];
		if (!p->configured)
			continue;
		if (console_ring_init(&p->out, p->backlog) != 0) {
			*cause = console_cause("console: out of memory");
			goto fail;
		}
		if (console_backend_open(p, cause) != 0)
			goto fail;
	}

	info->device_id = CONSOLE_DEVICE_ID;
	info->num_queues = 2 * (con->nports + 1);
	info->max_queue_size = CONSOLE_QUEUE_SIZE;
	info->features = (1ULL << CONSOLE_F_SIZE) |
	    (1ULL << CONSOLE_F_MULTIPORT) | (1ULL << CONSOLE_F_EMERG_WRITE);
	info->config_size = CONSOLE_CONFIG_SIZE;
	con->nqueues = info->num_queues;

	/* Set once: a reload creates devices while the module's other
	 * devices run, and their workers read it. */
	if (console_api == NULL)
		console_api = api;
	api->dev_set_priv(dev, con);
	api->log(dev, VHD_LOG_INFO, "%u port%s, console %ux%u", con->nports,
	    con->nports == 1 ? "" : "s", con->cols, con->rows);
	return (0);

fail:
	if (*cause == NULL)
		*cause = console_cause("console: out of memory");
	console_free(con);
	return (-1);
}

/* Free the device.  Main thread; its workers are stopped. */
static void
console_destroy(struct vhd_dev *dev)
{
	struct console	*con = console_get(dev);

	if (con == NULL)
		return;
	con->api->dev_set_priv(dev, NULL);
	console_free(con);
}

/* Fill the 12 bytes of config space (little endian).  Any thread. */
static void
console_config_bytes(struct console *con, uint8_t cfg[CONSOLE_CONFIG_SIZE])
{
	uint16_t	 cols, rows;

	console_get_size(con, &cols, &rows);
	memset(cfg, 0, CONSOLE_CONFIG_SIZE);
	cfg[0] = (uint8_t)cols;
	cfg[1] = (uint8_t)(cols >> 8);
	cfg[2] = (uint8_t)rows;
	cfg[3] = (uint8_t)(rows >> 8);
	cfg[4] = (uint8_t)con->nports;
	/* emerg_wr (8..11) reads as 0. */
}

/* Read config space; the range is checked again here.  Main thread. */
static int
console_get_config(struct vhd_dev *dev, uint32_t offset, void *buf,
    uint32_t len)
{
	struct console	*con = console_get(dev);
	uint8_t		 cfg[CONSOLE_CONFIG_SIZE];

	if (offset > CONSOLE_CONFIG_SIZE || len > CONSOLE_CONFIG_SIZE - offset)
		return (-1);
	console_config_bytes(con, cfg);
	memcpy(buf, cfg + offset, len);
	return (0);
}

/* Write one emergency byte to port 0.  Home worker (run_on_worker). */
static void
console_emerg_cb(struct vhd_dev *dev, void *arg)
{
	struct console	*con = console_get(dev);
	uint8_t		 b = (uint8_t)(uintptr_t)arg;

	if (con != NULL)
		console_port_output(&con->ports[0], &b, 1);
}

/*
 * Write config space: only emerg_wr is writable; a write at its offset
 * sends the low byte to port 0's backend (allowed before the features are
 * negotiated, as the spec requires).  Main thread.
 */
static int
console_set_config(struct vhd_dev *dev, uint32_t offset, const void *buf,
    uint32_t len)
{
	struct console		*con = console_get(dev);
	const struct vhd_api	*api = con->api;
	unsigned		 home;
	uint8_t			 b;

	if (offset > CONSOLE_CONFIG_SIZE || len > CONSOLE_CONFIG_SIZE -
	    offset || len == 0)
		return (-1);
	if (offset < CONSOLE_CFG_EMERG) {
		api->log(dev, VHD_LOG_WARN, "config write at offset %u: only "
		    "emerg_wr is writable", offset);
		return (-1);
	}
	if (offset != CONSOLE_CFG_EMERG)
		return (0);
	b = *(const uint8_t *)buf;
	home = api->queue_worker(api->dev_queue(dev, 0));
	if (api->run_on_worker(dev, home, console_emerg_cb,
	    (void *)(uintptr_t)b, 0) != 0) {
		api->log(dev, VHD_LOG_WARN, "emergency write lost: no worker");
		return (-1);
	}
	return (0);
}

/* Forget everything the driver set up; a terminal goes back to the idle
 * reader.  Home worker, queues stopped. */
static void
console_reset_cb(struct vhd_dev *dev, void *arg)
{
	struct console		*con = arg;
	struct console_port	*p;
	unsigned		 i;

	(void)dev;
	con->device_ready = 0;
	con->multiport = 0;
	con->size_acked = 0;
	for (i = 0; i < con->nports; i++) {
		p = &con->ports[i];
		p->added = p->guest_ready = p->guest_open = 0;
		p->open_reported = 0;
		p->pending = 0;
		/* A new driver starts a new ring: nothing to resume. */
		p->tx_resume = 0;
		if (p->tty_reader) {
			/* Keys typed for the guest that went away are not
			 * the next guest's; with no frontend the idle reader
			 * takes the terminal. */
			p->in_off = p->in_len = 0;
			p->esc = 0;
			console_tty_frontend(p, 0);
		}
		console_port_update_read(p);
	}
}

/* The device is reset: run the reset on the home worker (inline when the
 * workers are gone).  Main thread. */
static void
console_reset(struct vhd_dev *dev)
{
	struct console		*con = console_get(dev);
	const struct vhd_api	*api = con->api;
	struct vhd_queue	*q0 = api->dev_queue(dev, 0);
	unsigned		 home = q0 != NULL ? api->queue_worker(q0) : 0;

	if (api->run_on_worker(dev, home, console_reset_cb, con, 1) != 0)
		console_reset_cb(dev, con);
}

/*
 * The first queue starts (after a reset, or after a pause): read the
 * acked features, take a terminal from the idle reader, and start
 * watching the backends.  Home worker.
 */
static void
console_begin(struct console *con)
{
	uint64_t		 f = con->api->dev_features(con->dev);
	struct console_port	*p;
	unsigned		 i;

	con->multiport = (f & (1ULL << CONSOLE_F_MULTIPORT)) != 0;
	con->size_acked = (f & (1ULL << CONSOLE_F_SIZE)) != 0;
	if (!con->multiport) {
		/* Port 0 only, and it is open from the start. */
		p = &con->ports[0];
		p->added = p->guest_ready = p->guest_open = 1;
	}
	con->running = 1;
	for (i = 0; i < con->nports; i++) {
		p = &con->ports[i];
		if (!p->configured)
			continue;
		console_tty_frontend(p, 1);
		if (console_backend_start(p) != 0) {
			con->api->log(con->dev, VHD_LOG_ERR, "port %u: cannot "
			    "create watches", i);
			con->api->dev_fail(con->dev, "console: cannot watch "
			    "a backend");
		}
	}
}

/*
 * The last queue stopped (a pause, or before a reset): stop watching the
 * backends.  Clients stay connected and both backlogs stay; only
 * console_reset_cb forgets what the driver set up.  Home worker.
 */
static void
console_end(struct console *con)
{
	unsigned	 i;

	for (i = 0; i < con->nports; i++) {
		if (con->ports[i].configured)
			console_backend_stop(&con->ports[i]);
	}
	con->running = 0;
}

/*
 * A queue starts.  All queues must be on the home worker (the worker of
 * queue 0): a queue elsewhere fails the device.  Home worker.
 */
static void
console_queue_start(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct console		*con = console_get(dev);
	const struct vhd_api	*api = con->api;
	unsigned		 idx = api->queue_index(q);
	unsigned		 home;

	home = api->queue_worker(api->dev_queue(dev, 0));
	if (idx >= con->nqueues || con->queues[idx] != NULL)
		return;
	if (api->queue_worker(q) != home) {
		api->log(dev, VHD_LOG_ERR, "queue %u is on worker %u, queue 0 "
		    "on worker %u: console queues must share one worker", idx,
		    api->queue_worker(q), home);
		api->dev_fail(dev, "console: queues split across workers");
		return;
	}
	con->queues[idx] = q;
	con->home = home;
	if (con->nrunning++ == 0)
		console_begin(con);
}

/*
 * A queue stops: a tx chain held half-copied is rewound (see
 * console_port_tx_stop), so no chain stays popped.  Home worker.
 */
static void
console_queue_stop(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct console	*con = console_get(dev);
	unsigned	 idx = con->api->queue_index(q);
	unsigned	 id;

	if (idx >= con->nqueues || con->queues[idx] != q)
		return;
	if (idx == 1 || (idx >= 4 && idx % 2 == 1)) {
		id = idx == 1 ? 0 : (idx - 4) / 2 + 1;
		console_port_tx_stop(&con->ports[id]);
	}
	con->queues[idx] = NULL;
	if (--con->nrunning == 0)
		console_end(con);
}

/* A queue was kicked (or started): serve it by its role.  Home worker. */
static void
console_queue_handler(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct console		*con = console_get(dev);
	struct console_port	*p;
	unsigned		 idx = con->api->queue_index(q);
	unsigned		 id;

	if (idx >= con->nqueues || con->queues[idx] != q)
		return;
	if (idx == CONSOLE_Q_CTRL_RX) {
		if (con->multiport)
			console_ctrl_flush(con);
		return;
	}
	if (idx == CONSOLE_Q_CTRL_TX) {
		if (con->multiport)
			console_ctrl_recv(con);
		return;
	}
	id = idx < 2 ? 0 : (idx - 4) / 2 + 1;
	p = &con->ports[id];
	if (!p->configured || (id != 0 && !con->multiport))
		return;
	if (idx % 2 == 0)
		console_port_rx(p);
	else
		console_port_tx(p);
}

/* The stats callback: per configured port, the guest output dropped
 * from the backlog with no client attached, the bytes waiting in it, and
 * whether a client is attached.  The home worker (the first queue's),
 * which owns the ports. */
static void
console_stats(struct vhd_dev *dev, struct vhd_stats_sink *sink)
{
	struct console		*con = console_api->dev_priv(dev);
	struct console_port	*p;
	char			 obj[CONSOLE_NAME_MAX + 16];
	unsigned		 i;

	if (con == NULL)
		return;
	for (i = 0; i < con->nports; i++) {
		p = &con->ports[i];
		if (!p->configured)
			continue;
		snprintf(obj, sizeof obj, "port%u%s%s", i, p->name != NULL ?
		    " " : "", p->name != NULL ? p->name : "");
		console_api->stats_put(sink, obj, "dropped_bytes",
		    p->dropped_total);
		console_api->stats_put(sink, obj, "backlog_bytes", p->out.len);
		console_api->stats_put(sink, obj, "client_attached",
		    (uint64_t)p->connected);
	}
}

static const struct vhd_device_ops console_ops = {
	.size = sizeof(struct vhd_device_ops),
	.create = console_create,
	.destroy = console_destroy,
	.queue_handler = console_queue_handler,
	.queue_start = console_queue_start,
	.queue_stop = console_queue_stop,
	.get_config = console_get_config,
	.set_config = console_set_config,
	.reset = console_reset,
	/* ABI 1.3 (ctl) */
	.stats = console_stats,
	/* ABI 1.4 (devstate) */
	.state_save = console_state_save,
	.state_load = console_state_load,
};

VHD_MODULE("console", "1.0", "virtio console (multiport, resize, "
    "emergency write; stdio, pty, unix, tcp, file backends)", &console_ops);
