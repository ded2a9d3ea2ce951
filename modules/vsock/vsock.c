/*
 * vsock: the virtio socket device (virtio 1.x, device ID 19) with a
 * Firecracker-style hybrid host side over unix sockets.
 *
 * Queues: 0 rx (device to guest), 1 tx (guest to device), 2 event (left
 * alone: QEMU keeps it and sends TRANSPORT_RESET itself).  All queues of
 * a device must be on one worker.  Config space: le64 guest_cid.
 * Features: F_STREAM, F_SEQPACKET (unless seqpacket=off) and
 * F_NO_IMPLIED_STREAM.
 *
 * Keys (cli.md; a repeated key wins; both - and _ spellings of
 * vhost-device-vsock are accepted):
 *	guest-cid=N		3..0xfffffffe, default 3
 *	uds-path=PATH		the hybrid unix socket (none: no host side)
 *	buf-size=N		per-connection buffer, our buf_alloc
 *				(alias tx-buffer-size), default 256 KiB
 *	max-connections=N	default 1023
 *	connect-timeout=MS	default 2000
 *	shutdown-timeout=MS	default 2000
 *	queue-size=N		largest ring, power of two, default 1024
 *	groups=A+B		VM-to-VM groups (alias group)
 *	seqpacket=on|off	offer VIRTIO_VSOCK_F_SEQPACKET, default on
 *
 * The data path (the control ring, the rx scheduler, the tx handler) is
 * in vsock_rxtx.c.
 *
 * A queue stop is a pause, not a reset: connections and everything they
 * hold survive queue_stop/queue_start (QEMU's `stop`/`cont`, ring
 * changes).  Only the reset callback, or destroy, ends them.
 */

#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vhostd/vhostd.h>

#include "vsock.h"


/* A configuration key and its parser. */
struct vsock_key {
	const char	*name;
	int		(*parse)(struct vsock *, const char *, const char *,
			    char **);
};

static int	vsock_key_cid(struct vsock *, const char *, const char *,
		    char **);
static int	vsock_key_uds(struct vsock *, const char *, const char *,
		    char **);
static int	vsock_key_buf(struct vsock *, const char *, const char *,
		    char **);
static int	vsock_key_conns(struct vsock *, const char *, const char *,
		    char **);
static int	vsock_key_timeout(struct vsock *, const char *, const char *,
		    char **);
static int	vsock_key_queue(struct vsock *, const char *, const char *,
		    char **);
static int	vsock_key_groups(struct vsock *, const char *, const char *,
		    char **);
static int	vsock_key_seqpacket(struct vsock *, const char *,
		    const char *, char **);

static const struct vsock_key vsock_keys[] = {
	{ "buf-size",		vsock_key_buf },
	{ "connect-timeout",	vsock_key_timeout },
	{ "group",		vsock_key_groups },
	{ "groups",		vsock_key_groups },
	{ "guest-cid",		vsock_key_cid },
	{ "guest_cid",		vsock_key_cid },
	{ "max-connections",	vsock_key_conns },
	{ "queue-size",		vsock_key_queue },
	{ "queue_size",		vsock_key_queue },
	{ "seqpacket",		vsock_key_seqpacket },
	{ "shutdown-timeout",	vsock_key_timeout },
	{ "tx-buffer-size",	vsock_key_buf },
	{ "tx_buffer_size",	vsock_key_buf },
	{ "uds-path",		vsock_key_uds },
	{ "uds_path",		vsock_key_uds },
};

/*
 * The daemon's function table, the same for every device (SDK): kept so
 * callbacks that get only a device handle can reach its data.  Written
 * by create on the main thread before any callback of that device runs.
 */
static const struct vhd_api *vsock_api;

/* Return a malloc'd message for *cause.  Any thread. */
static char * __attribute__((format(printf, 1, 2)))
vsock_cause(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	return (s);
}

/* CLOCK_MONOTONIC in milliseconds.  Any thread. */
uint64_t
vsock_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* Key guest-cid: not a reserved CID.  Main thread. */
static int
vsock_key_cid(struct vsock *vs, const char *key, const char *value,
    char **cause)
{
	uint64_t	 v;

	if (vs->api->parse_u64(value, 0, UINT64_MAX, &v) != 0 || v <= 2 ||
	    v >= 0xffffffffULL) {
		*cause = vsock_cause("vsock: bad %s '%s': 3..4294967294 (0, 1, "
		    "2 and 0xffffffff and above are reserved)", key, value);
		return (-1);
	}
	vs->cid = v;
	return (0);
}

/* Key uds-path: an absolute or relative socket path.  Main thread. */
static int
vsock_key_uds(struct vsock *vs, const char *key, const char *value,
    char **cause)
{
	char	*copy;

	if (*value == '\0') {
		*cause = vsock_cause("vsock: bad %s '': a path", key);
		return (-1);
	}
	if ((copy = strdup(value)) == NULL) {
		*cause = vsock_cause("vsock: out of memory");
		return (-1);
	}
	free(vs->uds_path);
	vs->uds_path = copy;
	return (0);
}

/* Key buf-size: bytes.  Main thread. */
static int
vsock_key_buf(struct vsock *vs, const char *key, const char *value,
    char **cause)
{
	uint64_t	 v;

	if (vs->api->parse_u64(value, VSOCK_BUF_MIN, VSOCK_BUF_MAX, &v) != 0) {
		*cause = vsock_cause("vsock: bad %s '%s': bytes, %u..%u", key,
		    value, VSOCK_BUF_MIN, VSOCK_BUF_MAX);
		return (-1);
	}
	vs->buf_size = (uint32_t)v;
	return (0);
}

/* Key max-connections.  Main thread. */
static int
vsock_key_conns(struct vsock *vs, const char *key, const char *value,
    char **cause)
{
	uint64_t	 v;

	if (vs->api->parse_u64(value, 1, VSOCK_CONNS_MAX, &v) != 0) {
		*cause = vsock_cause("vsock: bad %s '%s': 1..%u", key, value,
		    VSOCK_CONNS_MAX);
		return (-1);
	}
	vs->max_conns = (unsigned)v;
	return (0);
}

/* Keys connect-timeout and shutdown-timeout: milliseconds.  Main
 * thread. */
static int
vsock_key_timeout(struct vsock *vs, const char *key, const char *value,
    char **cause)
{
	uint64_t	 v;

	if (vs->api->parse_u64(value, 1, 3600000, &v) != 0) {
		*cause = vsock_cause("vsock: bad %s '%s': milliseconds, "
		    "1..3600000", key, value);
		return (-1);
	}
	if (key[0] == 'c')
		vs->connect_ms = (unsigned)v;
	else
		vs->shutdown_ms = (unsigned)v;
	return (0);
}

/* Key queue-size: a power of two.  Main thread. */
static int
vsock_key_queue(struct vsock *vs, const char *key, const char *value,
    char **cause)
{
	uint64_t	 v;

	if (vs->api->parse_u64(value, 1, 32768, &v) != 0 ||
	    (v & (v - 1)) != 0) {
		*cause = vsock_cause("vsock: bad %s '%s': a power of two, "
		    "1..32768", key, value);
		return (-1);
	}
	vs->queue_size = (unsigned)v;
	return (0);
}

/* Free the group names.  Main thread. */
static void
vsock_groups_clear(struct vsock *vs)
{
	unsigned	 i;

	for (i = 0; i < vs->ngroups; i++)
		free(vs->groups[i]);
	vs->ngroups = 0;
}

/* Key groups: names joined with '+'.  Main thread. */
static int
vsock_key_groups(struct vsock *vs, const char *key, const char *value,
    char **cause)
{
	const char	*p = value, *e;
	size_t		 n;

	vsock_groups_clear(vs);
	while (*p != '\0') {
		e = strchr(p, '+');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		if (n == 0 || vs->ngroups == VSOCK_GROUPS_MAX) {
			*cause = vsock_cause("vsock: bad %s '%s': up to %d "
			    "non-empty names joined with '+'", key, value,
			    VSOCK_GROUPS_MAX);
			return (-1);
		}
		if ((vs->groups[vs->ngroups] = strndup(p, n)) == NULL) {
			*cause = vsock_cause("vsock: out of memory");
			return (-1);
		}
		vs->ngroups++;
		p += n;
		if (*p == '+' && *++p == '\0') {
			*cause = vsock_cause("vsock: bad %s '%s': empty "
			    "group name", key, value);
			return (-1);
		}
	}
	if (vs->ngroups == 0) {
		*cause = vsock_cause("vsock: bad %s '': a group name", key);
		return (-1);
	}
	return (0);
}

/* Key seqpacket: on or off.  Main thread. */
static int
vsock_key_seqpacket(struct vsock *vs, const char *key, const char *value,
    char **cause)
{
	if (strcmp(value, "on") == 0)
		vs->seqpacket = 1;
	else if (strcmp(value, "off") == 0)
		vs->seqpacket = 0;
	else {
		*cause = vsock_cause("vsock: bad %s '%s': on or off", key,
		    value);
		return (-1);
	}
	return (0);
}

/* Free the private data.  Main thread. */
static void
vsock_free(struct vsock *vs)
{
	vsock_groups_clear(vs);
	free(vs->uds_path);
	free(vs->ctl);
	free(vs);
}

/*
 * Create a vsock device from its keys: check them (uds-path too) and
 * take the CID in the process-wide table.  Returns 0, or -1
 * with *cause naming the key.  Main thread.
 */
static int
vsock_create(struct vhd_dev *dev, const struct vhd_api *api,
    const struct vhd_kv *kv, size_t nkv, struct vhd_dev_info *info,
    char **cause)
{
	struct vsock	*vs;
	size_t		 i, k;

	*cause = NULL;
	if (api->size < offsetof(struct vhd_api, log_ratelimited) +
	    sizeof(api->log_ratelimited)) {
		*cause = vsock_cause("vsock: needs vhostd module ABI 1.1");
		return (-1);
	}
	if ((vs = calloc(1, sizeof(*vs))) == NULL) {
		*cause = vsock_cause("vsock: out of memory");
		return (-1);
	}
	vs->api = api;
	vs->dev = dev;
	vs->cid = 3;
	vs->buf_size = VSOCK_BUF_DEFAULT;
	vs->max_conns = VSOCK_CONNS_DEFAULT;
	vs->connect_ms = VSOCK_TIMEOUT_DEFAULT;
	vs->shutdown_ms = VSOCK_TIMEOUT_DEFAULT;
	vs->queue_size = VSOCK_QUEUE_DEFAULT;
	vs->seqpacket = 1;
	vs->listen_fd = -1;
	vsock_conn_init(vs);

	for (i = 0; i < nkv; i++) {
		for (k = 0; k < sizeof(vsock_keys) / sizeof(vsock_keys[0]);
		    k++) {
			if (strcmp(kv[i].key, vsock_keys[k].name) == 0)
				break;
		}
		if (k == sizeof(vsock_keys) / sizeof(vsock_keys[0])) {
			*cause = vsock_cause("vsock: unknown key '%s'",
			    kv[i].key);
			goto fail;
		}
		if (vsock_keys[k].parse(vs, kv[i].key, kv[i].value,
		    cause) != 0)
			goto fail;
	}
	vs->ctl_cap = vs->max_conns + VSOCK_CTL_EXTRA;
	if ((vs->ctl = calloc(vs->ctl_cap, sizeof(*vs->ctl))) == NULL) {
		*cause = vsock_cause("vsock: out of memory");
		goto fail;
	}
	if (vsock_group_register(vs, cause) != 0)
		goto fail;
	if (vsock_host_listen(vs, cause) != 0) {
		vsock_group_unregister(vs);
		goto fail;
	}

	info->device_id = VSOCK_DEVICE_ID;
	info->num_queues = VSOCK_NUM_QUEUES;
	info->max_queue_size = vs->queue_size;
	info->features = (1ULL << VSOCK_F_STREAM) |
	    (1ULL << VSOCK_F_NO_IMPLIED);
	if (vs->seqpacket)
		info->features |= 1ULL << VSOCK_F_SEQPACKET;
	info->config_size = 8;

	/* Set once: a reload creates devices while the module's other
	 * devices run, and their workers read it. */
	if (vsock_api == NULL)
		vsock_api = api;
	api->dev_set_priv(dev, vs);
	api->log(dev, VHD_LOG_INFO, "guest cid %llu, uds %s, buffer %u, "
	    "at most %u connections%s%s", (unsigned long long)vs->cid,
	    vs->uds_path != NULL ? vs->uds_path : "(none)", vs->buf_size,
	    vs->max_conns, vs->ngroups > 0 ? ", group " : "",
	    vs->ngroups > 0 ? vs->groups[0] : "");
	return (0);

fail:
	vsock_free(vs);
	return (-1);
}

/*
 * End everything the device's guest had: connections (host sockets
 * closed, the guest is not told: its driver is being reset), queued
 * control packets, parked sibling packets, the inbox and the group's
 * view of us (waiting senders are woken), the listener watch.  The
 * listening socket stays bound.  The device's worker, or the main
 * thread once the workers are gone.
 */
static void
vsock_end(struct vsock *vs)
{
	vs->running = 0;
	vs->rxq = vs->txq = NULL;
	vs->frozen = 0;
	if (!vs->live) {
		/* Connections a state load made before any queue ran. */
		vsock_conn_free_all(vs);
		vs->ctl_len = 0;
		vs->ctl_head = 0;
		return;
	}
	vs->live = 0;
	vsock_group_set_live(vs, 0);
	vsock_host_stop(vs);
	vsock_conn_free_all(vs);
	vs->ctl_len = 0;
	vs->ctl_head = 0;
}

/* Run vsock_end on the device's worker (run_on_worker). */
static void
vsock_end_cb(struct vhd_dev *dev, void *arg)
{
	(void)dev;
	vsock_end(arg);
}

/*
 * The device is reset (RESET_DEVICE, RESET_OWNER, the frontend went
 * away): the only event that ends connections.  The connections' watches
 * live on the worker, so the work is done there; the main thread waits.
 * Main thread, queues stopped.
 */
static void
vsock_reset(struct vhd_dev *dev)
{
	struct vsock	*vs = vsock_api->dev_priv(dev);

	if (vs == NULL)
		return;
	if (vs->api->run_on_worker(dev, vs->worker, vsock_end_cb, vs, 1) != 0)
		vsock_end(vs);
}

/* Free the device: leave the CID table, remove the unix socket.  Main
 * thread, queues stopped, workers gone. */
static void
vsock_destroy(struct vhd_dev *dev)
{
	struct vsock	*vs = vsock_api->dev_priv(dev);

	if (vs == NULL)
		return;
	/* The daemon resets the device first; be safe with one that did
	 * not (its workers are gone, nothing else runs). */
	vsock_end(vs);
	vsock_group_unregister(vs);
	vsock_host_close(vs);
	vsock_api->dev_set_priv(dev, NULL);
	vsock_free(vs);
}

/* Read config space: le64 guest_cid.  Main thread. */
static int
vsock_get_config(struct vhd_dev *dev, uint32_t offset, void *buf,
    uint32_t len)
{
	struct vsock	*vs = vsock_api->dev_priv(dev);
	uint8_t		 cfg[8];
	unsigned	 i;

	for (i = 0; i < 8; i++)
		cfg[i] = (uint8_t)(vs->cid >> (8 * i));
	if (offset > sizeof(cfg) || len > sizeof(cfg) - offset)
		return (-1);
	memcpy(buf, cfg + offset, len);
	return (0);
}

/* Config space is read-only.  Main thread. */
static int
vsock_set_config(struct vhd_dev *dev, uint32_t offset, const void *buf,
    uint32_t len)
{
	(void)dev;
	(void)offset;
	(void)buf;
	(void)len;
	return (-1);
}

/* A queue was kicked (or started).  Worker. */
static void
vsock_queue_handler(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct vsock	*vs = vsock_api->dev_priv(dev);

	switch (vsock_api->queue_index(q)) {
	case VSOCK_RXQ:
		vsock_rx_run(vs);
		break;
	case VSOCK_TXQ:
		vsock_tx_handler(vs);
		break;
	default:
		/* The event queue: nothing to send. */
		break;
	}
}

/*
 * A queue starts.  Once rx and tx both run (on one worker), take the
 * negotiated features; the first time since create or reset, also
 * watch the unix listener and join the group.  A queue that starts again
 * after a stop (the VM resumed) finds everything as it was; the daemon
 * calls the handler next, which sends what waited.  Worker.
 */
static void
vsock_queue_start(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct vsock		*vs = vsock_api->dev_priv(dev);
	const struct vhd_api	*api = vs->api;
	uint64_t		 f;
	unsigned		 idx = api->queue_index(q);

	if (idx == VSOCK_RXQ)
		vs->rxq = q;
	else if (idx == VSOCK_TXQ)
		vs->txq = q;
	else
		return;
	if (vs->rxq == NULL || vs->txq == NULL || vs->running)
		return;
	if (api->queue_worker(vs->rxq) != api->queue_worker(vs->txq) ||
	    (vs->live && api->queue_worker(q) != vs->worker)) {
		api->log(dev, VHD_LOG_ERR, "rx and tx queues must be on one "
		    "worker (queue-mask)");
		api->dev_fail(dev, "vsock: rx and tx on different workers");
		return;
	}
	f = api->dev_features(dev);
	vs->seq_ok = (f & (1ULL << VSOCK_F_SEQPACKET)) != 0;
	vs->stream_ok = (f & (1ULL << VSOCK_F_STREAM)) != 0 ||
	    (f & (1ULL << VSOCK_F_NO_IMPLIED)) == 0;
	vs->running = 1;
	if (!vs->live) {
		vs->worker = api->queue_worker(q);
		vs->live = 1;
		if (vsock_host_start(vs) != 0)
			api->log(dev, VHD_LOG_ERR, "no host side on %s",
			    vs->uds_path);
		vsock_group_set_live(vs, 1);
	}
	/* After a state save (the migration failed) or load. */
	vsock_state_thaw(vs);
}

/* The device's private data.  Any thread. */
struct vsock *
vsock_priv(struct vhd_dev *dev)
{
	return (vsock_api->dev_priv(dev));
}

/*
 * A queue stops (the VM is paused, or its rings are being set up again):
 * stop touching the queues, and nothing more.  Connections, credit,
 * queued packets, buffered bytes, the listener and the group stay; host
 * data that needs rx buffers waits in the host sockets, timers still run
 * and queue their packets.  No chain is held between callbacks, so
 * there is none to push or rewind.  Siblings waiting on our inbox are
 * woken, so none waits on a queue that may not come back.  Worker.
 */
static void
vsock_queue_stop(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct vsock	*vs = vsock_api->dev_priv(dev);
	unsigned	 idx = vs->api->queue_index(q);

	if (idx != VSOCK_RXQ && idx != VSOCK_TXQ)
		return;
	vs->running = 0;
	if (idx == VSOCK_RXQ)
		vs->rxq = NULL;
	else
		vs->txq = NULL;
	vsock_group_wake_senders(vs);
}

/* The stats callback: the connection count, and per connection its
 * credit counters (bytes each way, modulo 2^32 as virtio counts them)
 * and the guest bytes buffered for the host.  The device's first
 * queue's worker, which owns the connections. */
static void
vsock_stats(struct vhd_dev *dev, struct vhd_stats_sink *sink)
{
	struct vsock		*vs = vsock_api->dev_priv(dev);
	struct vsock_conn	*conn;
	char			 obj[64];

	if (vs == NULL)
		return;
	vs->api->stats_put(sink, NULL, "connections", vs->nconns);
	LIST_FOREACH(conn, &vs->conns, all) {
		snprintf(obj, sizeof obj, "conn guest:%u host:%u",
		    conn->peer_port, conn->local_port);
		vs->api->stats_put(sink, obj, "to_guest_bytes", conn->tx_cnt);
		vs->api->stats_put(sink, obj, "to_host_bytes", conn->fwd_cnt);
		vs->api->stats_put(sink, obj, "buffered_bytes", conn->out.len);
	}
}

static const struct vhd_device_ops vsock_ops = {
	.size = sizeof(struct vhd_device_ops),
	.create = vsock_create,
	.destroy = vsock_destroy,
	.queue_handler = vsock_queue_handler,
	.queue_start = vsock_queue_start,
	.queue_stop = vsock_queue_stop,
	.get_config = vsock_get_config,
	.set_config = vsock_set_config,
	.reset = vsock_reset,
	/* ABI 1.3 (ctl) */
	.stats = vsock_stats,
	/* ABI 1.4 (devstate) */
	.state_save = vsock_state_save,
	.state_load = vsock_state_load,
};

VHD_MODULE("vsock", "1.0", "virtio socket device (hybrid unix socket host "
    "side, stream and seqpacket, VM-to-VM groups)", &vsock_ops);
