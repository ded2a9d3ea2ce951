/*
 * Devices: one configured instance of a module, with its workers, rings,
 * guest memory table and listening socket, serving one frontend at a time.
 * Creation loads the module, calls its create, validates what it reports
 * (shared with `vhostd -n`), then starts workers and listens.  Everything
 * here runs on the main thread except device_fail and device_stuck; guest
 * memory is in device_mem.c, the listening socket in device_listen.c.
 */

#include <sys/types.h>
#include <sys/eventfd.h>

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "api.h"
#include "conf.h"
#include "dev_state.h"
#include "device.h"
#include "dirty_log.h"
#include "guest_fault.h"	/* sigbus: guest_fault_explain */
#include "guest_mem.h"
#include "inflight.h"
#include "log.h"
#include "module.h"
#include "postcopy.h"
#include "pool.h"
#include "sd_listen.h"
#include "vhost_user.h"
#include "vring.h"
#include "vu_conn.h"
#include "worker.h"
#include "xmalloc.h"

/* Devices destroy left allocated because a worker did not answer (kept
 * reachable; main thread). */
static struct device	*device_left[64];
static unsigned		 device_nleft;

/* Transport feature bits (24..40) are the daemon's business; these are the
 * ones it implements. */
#define DEVICE_TRANSPORT_BITS	(0x1ffffULL << 24)
#define DEVICE_CORE_FEATURES						\
	((1ULL << VHD_F_VERSION_1) | (1ULL << VHD_F_INDIRECT_DESC) |	\
	(1ULL << VHD_F_EVENT_IDX) | (1ULL << VHD_F_NOTIFY_ON_EMPTY) |	\
	(1ULL << VHOST_F_LOG_ALL) |					\
	(1ULL << VHD_F_RING_PACKED) |					\
	(1ULL << VHOST_USER_F_PROTOCOL_FEATURES))
#define DEVICE_CORE_PROTOCOL_FEATURES					\
	((1ULL << VHOST_USER_PROTOCOL_F_MQ) |				\
	(1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) |			\
	(1ULL << VHOST_USER_PROTOCOL_F_BACKEND_REQ) |			\
	(1ULL << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |		\
	(1ULL << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |			\
	(1ULL << VHOST_USER_PROTOCOL_F_LOG_SHMFD) |			\
	(1ULL << VHOST_USER_PROTOCOL_F_STATUS))

static struct device *device_create_mod(struct event_base *, const char *,
		    struct module *, const struct vhd_device_ops *,
		    const struct conf_device *, char **);

/* The ops table of a loaded module, checked.  NULL with *cause. */
static const struct vhd_device_ops *
device_module_ops(const struct module *mod, const char *name, char **cause)
{
	if (mod->desc == NULL || mod->desc->ops == NULL) {
		xasprintf(cause, "%s: module %s has no device ops", name,
		    mod->name);
		return (NULL);
	}
	return (mod->desc->ops);
}

/* Free a device that has no workers, rings or socket. */
static void
device_free_bare(struct device *dev)
{
	pthread_mutex_destroy(&dev->err_lock);
	pthread_mutex_destroy(&dev->rl_lock);
	pthread_mutex_destroy(&dev->holes_lock);
	free(dev->socket_path);
	free(dev->name);
	free(dev);
}

/* Which worker's mask holds queue `q`.  The masks have been validated. */
static unsigned
device_queue_worker(const struct device *dev, unsigned q)
{
	unsigned	 w;

	for (w = 0; w < dev->info.num_workers; w++) {
		if (dev->info.queue_masks[w] & (1ULL << q))
			return (w);
	}
	return (0);
}

/* Check the queue masks: no queue beyond num_queues, every queue in
 * exactly one mask.  0 or -1 with *cause. */
static int
device_check_masks(struct device *dev, const char *what, char **cause)
{
	struct vhd_dev_info	*info = &dev->info;
	uint64_t		 all, seen = 0, m, dup;
	unsigned		 w, q;

	all = info->num_queues == 64 ? ~0ULL :
	    (1ULL << info->num_queues) - 1;
	for (w = 0; w < info->num_workers; w++) {
		m = info->queue_masks[w];
		if (m & ~all) {
			xasprintf(cause, "%s: %s: worker %u's mask 0x%llx "
			    "names queue %d, but the device has %u queues",
			    dev->name, what, w, (unsigned long long)m,
			    __builtin_ctzll(m & ~all), info->num_queues);
			return (-1);
		}
		if ((dup = m & seen) != 0) {
			xasprintf(cause, "%s: %s: queue %d is in the masks of "
			    "two workers", dev->name, what,
			    __builtin_ctzll(dup));
			return (-1);
		}
		seen |= m;
	}
	if (seen != all) {
		q = (unsigned)__builtin_ctzll(all & ~seen);
		xasprintf(cause, "%s: %s: queue %u is in no worker's mask",
		    dev->name, what, q);
		return (-1);
	}
	return (0);
}

/* Validate what the module's create reported, apply configured masks and
 * compute what we offer.  0 or -1 with *cause. */
static int
device_validate(struct device *dev, const struct conf_device *cd,
    char **cause)
{
	struct vhd_dev_info	*info = &dev->info;
	const char		*what = "module's queue masks";
	uint64_t		 bad;

	if (info->num_queues < 1 || info->num_queues > VHD_MAX_QUEUES) {
		xasprintf(cause, "%s: module reports %u queues (1..%u)",
		    dev->name, info->num_queues, VHD_MAX_QUEUES);
		return (-1);
	}
	if (info->max_queue_size < 1 ||
	    info->max_queue_size > VRING_MAX_SIZE ||
	    (info->max_queue_size & (info->max_queue_size - 1)) != 0) {
		xasprintf(cause, "%s: module reports a maximum queue size of "
		    "%u (a power of two, 1..%u)", dev->name,
		    info->max_queue_size, VRING_MAX_SIZE);
		return (-1);
	}
	if (info->config_size > VHOST_USER_MAX_CONFIG_SIZE) {
		xasprintf(cause, "%s: module reports %u bytes of config space "
		    "(at most %u)", dev->name, info->config_size,
		    VHOST_USER_MAX_CONFIG_SIZE);
		return (-1);
	}
	bad = info->features & DEVICE_TRANSPORT_BITS & ~DEVICE_CORE_FEATURES;
	if (bad != 0) {
		xasprintf(cause, "%s: module offers transport features "
		    "0x%llx the daemon does not implement", dev->name,
		    (unsigned long long)bad);
		return (-1);
	}
	if (cd != NULL && cd->nmasks > 0) {
		if (cd->nmasks > VHD_MAX_WORKERS) {
			xasprintf(cause, "%s: %u queue masks (at most %u)",
			    dev->name, cd->nmasks, VHD_MAX_WORKERS);
			return (-1);
		}
		memset(info->queue_masks, 0, sizeof info->queue_masks);
		memcpy(info->queue_masks, cd->masks,
		    cd->nmasks * sizeof cd->masks[0]);
		info->num_workers = cd->nmasks;
		what = "queue-mask";
	}
	if (info->num_workers < 1 || info->num_workers > VHD_MAX_WORKERS) {
		xasprintf(cause, "%s: %u workers (1..%u)", dev->name,
		    info->num_workers, VHD_MAX_WORKERS);
		return (-1);
	}
	if (device_check_masks(dev, what, cause) == -1)
		return (-1);

	dev->features = info->features | DEVICE_CORE_FEATURES;
	dev->protocol_features = DEVICE_CORE_PROTOCOL_FEATURES;
	if (postcopy_available())
		dev->protocol_features |=
		    1ULL << VHOST_USER_PROTOCOL_F_PAGEFAULT;
	if (info->config_size > 0 && dev->ops->get_config != NULL)
		dev->protocol_features |= 1ULL << VHOST_USER_PROTOCOL_F_CONFIG;
	if (dev->ops->get_shared_object != NULL)
		dev->protocol_features |=
		    1ULL << VHOST_USER_PROTOCOL_F_SHARED_OBJECT;
	if (info->flags & VHD_DEV_F_INFLIGHT)
		dev->protocol_features |=
		    1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD;
	if (dev->ops->state_save != NULL && dev->ops->state_load != NULL)
		dev->protocol_features |=
		    1ULL << VHOST_USER_PROTOCOL_F_DEVICE_STATE;
	return (0);
}

/*
 * The steps device_create and device_check share: check the ops table,
 * call the module's create with the device's keys, validate the result.
 * Returns a device without workers, rings or socket, or NULL with *cause.
 */
static struct device *
device_setup(const char *name, struct module *mod,
    const struct vhd_device_ops *ops, const struct conf_device *cd,
    char **cause)
{
	struct device		*dev;
	struct vhd_kv		*kv;
	struct conf_kv		*ckv;
	struct vhd_dev_info	 info;
	char			*mcause = NULL;
	size_t			 n = 0, min;
	int			 rc;

	min = offsetof(struct vhd_device_ops, queue_handler) +
	    sizeof ops->queue_handler;
	if (ops == NULL || ops->size < min) {
		xasprintf(cause, "%s: module's ops table is too small",
		    name);
		return (NULL);
	}
	if (ops->create == NULL || ops->queue_handler == NULL) {
		xasprintf(cause, "%s: module has no %s callback", name,
		    ops->create == NULL ? "create" : "queue_handler");
		return (NULL);
	}

	dev = xcalloc(1, sizeof *dev);
	dev->name = xstrdup(name);
	dev->mod = mod;		/* before create: api->log names it */
	dev->listen_fd = -1;
	dev->pc_ufd = -1;
	atomic_init(&dev->mem, NULL);
	atomic_init(&dev->acked_features, 0);
	atomic_init(&dev->broken, 0);
	if (pthread_mutex_init(&dev->err_lock, NULL) != 0)
		fatalx("%s: pthread_mutex_init", __func__);
	if (pthread_mutex_init(&dev->rl_lock, NULL) != 0)
		fatalx("%s: pthread_mutex_init", __func__);
	if (pthread_mutex_init(&dev->holes_lock, NULL) != 0)
		fatalx("%s: pthread_mutex_init", __func__);
	/* A module built against an older ABI minor has a shorter table:
	 * the callbacks it does not know about stay NULL. */
	memcpy(&dev->ops_copy, ops, ops->size < sizeof dev->ops_copy ?
	    ops->size : sizeof dev->ops_copy);
	dev->ops_copy.size = sizeof dev->ops_copy;
	dev->ops = &dev->ops_copy;

	memset(&info, 0, sizeof info);
	info.size = sizeof info;
	info.num_queues = 1;
	info.max_queue_size = 1024;
	info.num_workers = 1;
	info.queue_masks[0] = ~0ULL;

	if (cd != NULL) {
		TAILQ_FOREACH(ckv, &cd->options, entry)
			n++;
	}
	kv = xcalloc(n > 0 ? n : 1, sizeof *kv);
	n = 0;
	if (cd != NULL) {
		TAILQ_FOREACH(ckv, &cd->options, entry) {
			kv[n].key = ckv->key;
			kv[n].value = ckv->value;
			kv[n].where = ckv->where;
			n++;
		}
	}
	rc = dev->ops->create(device_to_vhd(dev), api_get(), kv, n, &info,
	    &mcause);
	free(kv);
	if (rc != 0) {
		xasprintf(cause, "%s: %s", name, mcause != NULL ? mcause :
		    "module refused to create the device");
		free(mcause);
		device_free_bare(dev);
		return (NULL);
	}
	free(mcause);

	info.size = sizeof info;
	/* The default mask means "all queues": narrow it to the real ones. */
	if (info.num_queues >= 1 && info.num_queues < 64 &&
	    info.num_workers == 1 && info.queue_masks[0] == ~0ULL)
		info.queue_masks[0] = (1ULL << info.num_queues) - 1;
	dev->info = info;
	if (device_validate(dev, cd, cause) == -1) {
		if (dev->ops->destroy != NULL)
			dev->ops->destroy(device_to_vhd(dev));
		device_free_bare(dev);
		return (NULL);
	}
	return (dev);
}

/* Check a device's configuration without serving it (vhostd -n).  0 or
 * -1 with *cause.  Main thread. */
int
device_check(const struct conf_device *cd, const char *module_dir,
    char **cause)
{
	const struct vhd_device_ops	*ops;
	struct module			*mod;
	struct device			*dev;
	char				*mcause = NULL;

	mod = module_load(module_dir, cd->module, &mcause);
	if (mod == NULL) {
		xasprintf(cause, "%s: %s", cd->name, mcause != NULL ?
		    mcause : "cannot load module");
		free(mcause);
		return (-1);
	}
	if ((ops = device_module_ops(mod, cd->name, cause)) == NULL)
		return (-1);
	if ((dev = device_setup(cd->name, mod, ops, cd, cause)) == NULL)
		return (-1);
	if (dev->ops->destroy != NULL)
		dev->ops->destroy(device_to_vhd(dev));
	device_free_bare(dev);
	return (0);
}

/*
 * Create a device from an ops table (dev->mod NULL): create, validate,
 * start workers, set up rings, listen on cd->socket.  NULL with *cause.
 * Main thread.
 */
struct device *
device_create_ops(struct event_base *base, const char *name,
    const struct vhd_device_ops *ops, const struct conf_device *cd,
    char **cause)
{
	return (device_create_mod(base, name, NULL, ops, cd, cause));
}

/* Create a device of module `mod` (or NULL) with ops table `ops`: create,
 * validate, start workers, set up rings, listen.  NULL with *cause. */
static struct device *
device_create_mod(struct event_base *base, const char *name,
    struct module *mod, const struct vhd_device_ops *ops,
    const struct conf_device *cd, char **cause)
{
	struct device	*dev;
	char		*wname, *wcause = NULL;
	unsigned	 i;

	if (cd == NULL || cd->socket == NULL) {
		xasprintf(cause, "%s: no socket", name);
		return (NULL);
	}
	if ((dev = device_setup(name, mod, ops, cd, cause)) == NULL)
		return (NULL);
	dev->base = base;
	dev->socket_path = xstrdup(cd->socket);
	dev->backend = vu_backend_new(dev);

	dev->nworkers = dev->info.num_workers;
	dev->workers = xcalloc(dev->nworkers, sizeof *dev->workers);
	/* ctl: with a shared pool the device starts no threads. */
	if (pool_size() > 0) {
		if (pool_place(dev->workers, dev->nworkers, cd->nmasks != 0,
		    dev->name, cause) == -1)
			goto fail;
		dev->pooled = 1;
	}
	for (i = 0; !dev->pooled && i < dev->nworkers; i++) {
		xasprintf(&wname, "%s/w%u", dev->name, i);
		dev->workers[i] = worker_start(wname, &wcause);
		free(wname);
		if (dev->workers[i] == NULL) {
			xasprintf(cause, "%s: worker %u: %s", dev->name, i,
			    wcause != NULL ? wcause : "cannot start");
			free(wcause);
			goto fail;
		}
	}

	dev->vrings = xcalloc(dev->info.num_queues, sizeof *dev->vrings);
	for (i = 0; i < dev->info.num_queues; i++) {
		vring_init(&dev->vrings[i], dev, i);
		dev->vrings[i].worker_idx = device_queue_worker(dev, i);
	}

	if (cd->client) {
		if (device_client_start(dev, cause) == -1)
			goto fail;
		return (dev);
	}
	if (device_listen_start(dev, cd, cause) == -1)
		goto fail;
	log_info("%s: listening on %s%s", dev->name, dev->socket_path,
	    dev->listen_activated ? " (socket activation)" : "");
	return (dev);

fail:
	device_destroy(dev);
	return (NULL);
}

/* Create a device from its configuration: load the module, then as
 * device_create_ops.  NULL with *cause.  Main thread. */
struct device *
device_create(struct event_base *base, const struct conf_device *cd,
    const char *module_dir, char **cause)
{
	const struct vhd_device_ops	*ops;
	struct module			*mod;
	char				*mcause = NULL;

	mod = module_load(module_dir, cd->module, &mcause);
	if (mod == NULL) {
		xasprintf(cause, "%s: %s", cd->name, mcause != NULL ?
		    mcause : "cannot load module");
		free(mcause);
		return (NULL);
	}
	if ((ops = device_module_ops(mod, cd->name, cause)) == NULL)
		return (NULL);
	return (device_create_mod(base, cd->name, mod, ops, cd, cause));
}

/* Stop every ring and put it back to the reset state; clear the device's
 * log_ratelimited state. */
static void
device_reset_rings(struct device *dev)
{
	struct vring	*vq;
	unsigned	 i;

	/* A reset device starts with a fresh log_ratelimited budget. */
	pthread_mutex_lock(&dev->rl_lock);
	dev->rl_last_ns = 0;
	dev->rl_suppressed = 0;
	pthread_mutex_unlock(&dev->rl_lock);
	if (dev->vrings == NULL)
		return;
	for (i = 0; i < dev->info.num_queues; i++)
		(void)vring_stop(&dev->vrings[i]);
	for (i = 0; i < dev->info.num_queues; i++) {
		vq = &dev->vrings[i];
		/* device_fail may be writing err fds on a worker. */
		pthread_mutex_lock(&dev->err_lock);
		if (vq->err_fd >= 0)
			close(vq->err_fd);
		vq->err_fd = -1;
		pthread_mutex_unlock(&dev->err_lock);
		vring_reset(vq);
	}
	/* A reset device has nothing in flight; the frontend sends the
	 * region again before the next start. */
	inflight_free(dev);
}

/* Call the module's reset, unless a worker of the device does not answer:
 * it may be inside the module, so the device stays broken and the module
 * is left alone.  Main thread. */
static void
device_reset_module(struct device *dev)
{
	if (device_stuck(dev)) {
		atomic_store(&dev->broken, 1);
		log_warnx("%s: not reset: a worker does not answer", dev->name);
		return;
	}
	if (dev->ops->reset != NULL)
		dev->ops->reset(device_to_vhd(dev));
}

/* RESET_DEVICE: stop and reset the rings, clear acked features and the
 * broken flag, call the module's reset.  Main thread. */
void
device_reset_queues(struct device *dev)
{
	device_reset_rings(dev);
	atomic_store(&dev->acked_features, 0);
	dev->features_acked = 0;
	atomic_store(&dev->broken, 0);
	device_reset_module(dev);
}

/* Stop all queues, reset rings and negotiated state, drop memory and the
 * backend channel, call the module's reset.  Main thread. */
void
device_reset(struct device *dev)
{
	/* First: wakes a worker waiting in a postcopy fault, which the
	 * rings' stop would otherwise wait for in vain. */
	postcopy_end(dev);
	dev_state_cancel(dev);
	device_reset_rings(dev);
	dev->owned = 0;
	dev->features_acked = 0;
	atomic_store(&dev->acked_features, 0);
	dev->acked_protocol_features = 0;
	atomic_store(&dev->broken, 0);
	vu_backend_close(dev);
	dirty_log_clear(dev);
	dev->status = 0;
	device_set_mem(dev, NULL);
	device_mem_holes_clear(dev);
	device_reset_module(dev);
}

/* The frontend connection ended: reset and accept the next one.  Main
 * thread. */
void
device_disconnected(struct device *dev)
{
	log_info("%s: frontend disconnected", dev->name);
	vu_conn_free(dev->conn);
	dev->conn = NULL;
	device_reset(dev);
	if (dev->client)
		device_client_disconnected(dev);
}

/* Stop everything, close and unlink the socket, free.  Main thread. */
void
device_destroy(struct device *dev)
{
	unsigned	 i;

	if (dev == NULL)
		return;
	/* As device_reset: no worker left waiting in a postcopy fault. */
	postcopy_end(dev);
	dev_state_cancel(dev);
	if (dev->conn != NULL) {
		vu_conn_free(dev->conn);
		dev->conn = NULL;
	}
	if (dev->listen_ev != NULL)
		event_free(dev->listen_ev);
	if (dev->accept_pause_ev != NULL)
		event_free(dev->accept_pause_ev);
	device_client_free(dev);
	if (dev->listen_fd >= 0 && !(dev->listen_activated &&
	    sd_listen_release(dev->listen_fd))) {
		close(dev->listen_fd);
		unlink(dev->socket_path);
	}
	if (device_stuck(dev)) {
		/* A worker still inside a module callback may touch the
		 * rings, the memory and the module's data at any time: stop
		 * the threads we can and leave everything else allocated. */
		log_warnx("%s: a worker does not answer; leaving the device "
		    "allocated", dev->name);
		if (device_nleft < nitems(device_left))
			device_left[device_nleft++] = dev;
		for (i = 0; !dev->pooled && i < dev->nworkers; i++) {
			if (dev->workers[i] != NULL)
				worker_stop(dev->workers[i]);
		}
		return;
	}
	if (dev->vrings != NULL)
		device_reset(dev);
	else {
		dirty_log_clear(dev);
		device_set_mem(dev, NULL);
	}
	for (i = 0; dev->pooled && i < dev->nworkers; i++) {
		/* Pool workers live on: let them finish what they were
		 * handed for this device before it goes. */
		if (dev->workers[i] != NULL)
			(void)worker_sync(dev->workers[i]);
	}
	if (dev->pooled)
		pool_release(dev->workers, dev->nworkers);
	for (i = 0; !dev->pooled && i < dev->nworkers; i++) {
		if (dev->workers[i] != NULL)
			worker_stop(dev->workers[i]);
	}
	free(dev->workers);
	dev->workers = NULL;
	dev->nworkers = 0;
	if (dev->vrings != NULL) {
		for (i = 0; i < dev->info.num_queues; i++)
			vring_free(&dev->vrings[i]);
		free(dev->vrings);
	}
	if (dev->ops->destroy != NULL)
		dev->ops->destroy(device_to_vhd(dev));
	vu_backend_free(dev->backend);
	device_free_bare(dev);
}

/*
 * Mark the device broken: its queues stop being served until the frontend
 * resets it.  The first call logs the reason and signals every ring's err
 * fd.  Any thread.
 */
void
device_fail(struct device *dev, const char *fmt, ...)
{
	char		 reason[256];
	va_list		 ap;
	unsigned	 i;
	int		 expected = 0;

	if (!atomic_compare_exchange_strong(&dev->broken, &expected, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	/* sigbus: after a SIGBUS in its memory, that is the reason. */
	guest_fault_explain(dev, reason, sizeof reason);
	log_warnx("%s: device broken: %s", dev->name, reason);

	pthread_mutex_lock(&dev->err_lock);
	/* ctl: kept for vhostctl show and stats. */
	snprintf(dev->broken_reason, sizeof dev->broken_reason, "%s", reason);
	for (i = 0; dev->vrings != NULL && i < dev->info.num_queues; i++) {
		/* EAGAIN: a notification is already pending. */
		if (dev->vrings[i].err_fd >= 0 &&
		    eventfd_write(dev->vrings[i].err_fd, 1) == -1 &&
		    errno != EAGAIN)
			log_warn("%s: queue %u: err fd", dev->name, i);
	}
	pthread_mutex_unlock(&dev->err_lock);
}

/* Does any worker of the device not answer?  Any thread. */
int
device_stuck(struct device *dev)
{
	unsigned	 i;

	for (i = 0; i < dev->nworkers; i++) {
		if (dev->workers != NULL && dev->workers[i] != NULL &&
		    worker_stuck(dev->workers[i]))
			return (1);
	}
	return (0);
}
