/*
 * template: the starting point for a vhostd device module.
 *
 * Copy this file, rename the module (the name in VHD_MODULE() must match
 * the file name: "foo" is loaded from foo.so), and replace the device
 * behaviour.  It builds out of the source tree with nothing but the
 * installed SDK header:
 *
 *	cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags vhostd) \
 *	    -o template.so template.c
 *
 * and runs with `vhostd --module-dir=. --module=template --socket=PATH`.
 *
 * What it does: a one-queue "loopback" device.  For every chain the
 * driver posts, the bytes of its device-readable buffers are copied into
 * its device-writable buffers; writable space left over is filled with the
 * configured fill byte, and the chain is given back with its whole
 * writable length used.  One key (`fill-byte`) shows key parsing and error
 * reporting; an 8-byte config space shows get_config.
 *
 * Device ID: the template is no standard virtio device, so it reports 0,
 * which the virtio spec reserves as "invalid": no guest driver binds to
 * it.  vhost-user does not carry the device ID (the VMM's device model
 * sets it, e.g. QEMU's vhost-user-test-device-pci,virtio-id=N), so the
 * daemon serves it all the same.  A real module reports its assigned ID.
 *
 * Rules of the SDK (include/vhostd/vhostd.h explains each):
 *   - include only <vhostd/vhostd.h> and the C library;
 *   - reach the daemon only through the `api` table given to create;
 *   - export only `vhd_module` (VHD_MODULE() does it; build with
 *     -fvisibility=hidden, or libtool's -export-symbols-regex);
 *   - each callback runs on a documented thread: main thread for
 *     create/destroy/reset/config, the queue's worker for the queue
 *     callbacks.  Never block a worker: it serves other queues too.
 */

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vhostd/vhostd.h>

#define TEMPLATE_DEVICE_ID	0	/* reserved (invalid) in virtio */
#define TEMPLATE_QUEUE_SIZE	256	/* largest ring the VMM may set */
#define TEMPLATE_CONFIG_SIZE	8	/* see template_get_config */
#define TEMPLATE_BOUNCE		4096	/* copy in pieces of this size */

/*
 * The device's private data, one per device instance (a daemon may run
 * many devices of one module).  Hang it on the device with
 * api->dev_set_priv and get it back with api->dev_priv.
 */
struct template {
	const struct vhd_api	*api;
	struct vhd_dev		*dev;
	uint8_t			 fill_byte;	/* set at create, read-only */

	/*
	 * Chains served.  Written by the queue's worker, read by
	 * get_config on the main thread while the queue runs: shared
	 * between threads, so atomic.  State used by one queue only needs
	 * no lock at all (one queue, one worker).
	 */
	atomic_uint		 chains;
};

/*
 * The daemon's function table.  Callbacks receive only the device handle
 * and need the table to find their private data, so keep it here as well;
 * the SDK promises one table per process.  Set by create (main thread)
 * before any other callback of that device runs.
 */
static const struct vhd_api *template_api;

/*
 * Make the malloc'd message create hands back through *cause (the daemon
 * frees it and prefixes the device name).  Start it with the module name.
 * Returns NULL if out of memory, which the daemon accepts.  Any thread.
 */
static char * __attribute__((format(printf, 1, 2)))
template_cause(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return (NULL);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return (s);
}

/*
 * Key fill-byte: 0..255, decimal or 0x-prefixed hex.  Returns 0, or -1 with
 * *cause naming the key and the bad value.  Main thread.
 */
static int
template_key_fill_byte(struct template *t, const char *value, char **cause)
{
	unsigned long	 v;
	char		*end;

	/* strtoul accepts signs and spaces; a config value should not. */
	if (*value < '0' || *value > '9')
		goto bad;
	v = strtoul(value, &end, 0);
	if (*end != '\0' || v > 255)
		goto bad;
	t->fill_byte = (uint8_t)v;
	return (0);

bad:
	*cause = template_cause("template: bad fill-byte '%s': expected "
	    "0..255", value);
	return (-1);
}

/*
 * Create one device: check every key, fill in what the device is, attach
 * the private data.  Main thread, once per configured device.  Returns 0,
 * or -1 with *cause set (nothing may be left allocated then).
 */
static int
template_create(struct vhd_dev *dev, const struct vhd_api *api,
    const struct vhd_kv *kv, size_t nkv, struct vhd_dev_info *info,
    char **cause)
{
	struct template	*t;
	size_t		 i;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		*cause = template_cause("template: out of memory");
		return (-1);
	}
	t->api = api;
	t->dev = dev;
	atomic_init(&t->chains, 0);

	/*
	 * Keys come in configuration order.  Reject what you do not know,
	 * naming the key: a typo must not pass silently.  Here a repeated
	 * key simply overrides the earlier one.
	 */
	for (i = 0; i < nkv; i++) {
		if (strcmp(kv[i].key, "fill-byte") == 0) {
			if (template_key_fill_byte(t, kv[i].value, cause) != 0)
				goto fail;
		} else {
			*cause = template_cause("template: unknown key '%s'",
			    kv[i].key);
			goto fail;
		}
	}

	/*
	 * The daemon pre-filled info with defaults (1 queue of up to 1024
	 * entries, no features, no config space, 1 worker serving every
	 * queue); change what differs.
	 */
	info->device_id = TEMPLATE_DEVICE_ID;
	info->num_queues = 1;
	info->max_queue_size = TEMPLATE_QUEUE_SIZE;
	info->features = 0;
	info->config_size = TEMPLATE_CONFIG_SIZE;

	/* Set once: a reload creates devices while the module's other
	 * devices run, and their workers read it. */
	if (template_api == NULL)
		template_api = api;
	api->dev_set_priv(dev, t);
	api->log(dev, VHD_LOG_INFO, "loopback, fill byte 0x%02x",
	    t->fill_byte);
	return (0);

fail:
	free(t);
	return (-1);
}

/* Free the device.  Main thread; every queue is stopped. */
static void
template_destroy(struct vhd_dev *dev)
{
	struct template	*t = template_api->dev_priv(dev);

	template_api->dev_set_priv(dev, NULL);
	free(t);
}

/*
 * Serve one chain: copy readable bytes into the writable ones, fill the
 * rest, push it with the bytes written.  Returns the used length.  Queue's
 * worker.
 */
static uint32_t
template_serve(struct template *t, struct vhd_chain *c)
{
	const struct vhd_api	*api = t->api;
	unsigned char		 buf[TEMPLATE_BOUNCE];
	size_t			 rd, wr, done = 0, n;
	ssize_t			 got;

	rd = api->chain_readable(c);
	wr = api->chain_writable(c);

	/*
	 * chain_read/chain_write copy through a buffer and handle chains of
	 * any number of descriptors; api->chain_iov maps the guest's buffers
	 * for zero-copy I/O instead (see modules/rng/rng.c).
	 */
	while (done < rd && done < wr) {
		n = rd - done;
		if (n > wr - done)
			n = wr - done;
		if (n > sizeof(buf))
			n = sizeof(buf);
		got = api->chain_read(c, done, buf, n);
		if (got <= 0 || api->chain_write(c, done, buf,
		    (size_t)got) != got)
			return (0);	/* guest memory went away */
		done += (size_t)got;
	}
	memset(buf, t->fill_byte, sizeof(buf));
	while (done < wr) {
		n = wr - done;
		if (n > sizeof(buf))
			n = sizeof(buf);
		if (api->chain_write(c, done, buf, n) != (ssize_t)n)
			return (0);
		done += n;
	}
	/* The used length is 32 bits: a ring cannot describe more. */
	return (done > UINT32_MAX ? UINT32_MAX : (uint32_t)done);
}

/*
 * The guest kicked the queue (or it just started): take every available
 * chain, serve it, give it back, then interrupt the guest once for the
 * whole batch.  Queue's worker.  Must not block.
 */
static void
template_queue_handler(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct template		*t = template_api->dev_priv(dev);
	const struct vhd_api	*api = t->api;
	struct vhd_chain	*c;
	unsigned		 served = 0;

	while ((c = api->queue_pop(q)) != NULL) {
		api->queue_push(q, c, template_serve(t, c));
		served++;
	}
	if (served != 0) {
		atomic_fetch_add_explicit(&t->chains, served,
		    memory_order_relaxed);
		api->queue_notify(q);
	}
}

/*
 * The queue starts or stops.  A module that waits on timers or fds creates
 * them here with api->watch_new on api->queue_worker(q) and frees them in
 * queue_stop; one that keeps popped chains must push or rewind them in
 * queue_stop.  The template keeps nothing, so it only logs.  Queue's
 * worker.
 */
static void
template_queue_start(struct vhd_dev *dev, struct vhd_queue *q)
{
	template_api->log(dev, VHD_LOG_DEBUG, "queue %u: loopback on worker "
	    "%u", template_api->queue_index(q), template_api->queue_worker(q));
}

/* See template_queue_start.  Queue's worker. */
static void
template_queue_stop(struct vhd_dev *dev, struct vhd_queue *q)
{
	template_api->log(dev, VHD_LOG_DEBUG, "queue %u: loopback stopped",
	    template_api->queue_index(q));
}

/*
 * Read config space.  Layout (little endian, as in virtio 1.x):
 *	offset 0  u8	fill byte
 *	offset 1  u8[3]	reserved, 0
 *	offset 4  le32	chains served since the last reset
 * Main thread, possibly while the queue runs.  The daemon checked offset +
 * len against info->config_size.
 */
static int
template_get_config(struct vhd_dev *dev, uint32_t offset, void *buf,
    uint32_t len)
{
	struct template	*t = template_api->dev_priv(dev);
	uint8_t		 cfg[TEMPLATE_CONFIG_SIZE];
	unsigned	 n;

	n = atomic_load_explicit(&t->chains, memory_order_relaxed);
	memset(cfg, 0, sizeof(cfg));
	cfg[0] = t->fill_byte;
	cfg[4] = (uint8_t)n;
	cfg[5] = (uint8_t)(n >> 8);
	cfg[6] = (uint8_t)(n >> 16);
	cfg[7] = (uint8_t)(n >> 24);
	if (offset > sizeof(cfg) || len > sizeof(cfg) - offset)
		return (-1);
	memcpy(buf, cfg + offset, len);
	return (0);
}

/* The device is reset: start counting again.  Main thread; the queue is
 * stopped. */
static void
template_reset(struct vhd_dev *dev)
{
	struct template	*t = template_api->dev_priv(dev);

	atomic_store(&t->chains, 0);
}

/* The callbacks.  Unset ones (NULL) mean "nothing to do". */
static const struct vhd_device_ops template_ops = {
	.size = sizeof(struct vhd_device_ops),
	.create = template_create,
	.destroy = template_destroy,
	.queue_handler = template_queue_handler,
	.queue_start = template_queue_start,
	.queue_stop = template_queue_stop,
	.get_config = template_get_config,
	.reset = template_reset,
};

/* The one exported symbol: name (= file name), version, description. */
VHD_MODULE("template", "1.0", "template module: loopback device "
    "(copies readable into writable buffers)", &template_ops);
