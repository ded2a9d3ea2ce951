/*
 * A minimal valid module for check_module: it loads and creates a device
 * with one queue that completes every chain empty.
 *
 * For check_hostile_faults' "a module callback fails" case, the key
 * `fail=get_config`, `fail=set_config` or `fail=queue` gives the device 8
 * bytes of config space and makes that callback fail: get_config or
 * set_config return -1, the queue handler calls api->dev_fail.  For the
 * stuck-worker case, `fail=block` makes the queue handler block for 60 s
 * (a module bug: the worker stops answering).  Other keys are accepted
 * and ignored.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <vhostd/vhostd.h>

/* Which callback fails (per device, kept as the private data). */
enum good_fail {
	GOOD_FAIL_NONE = 0,
	GOOD_FAIL_GET_CONFIG,
	GOOD_FAIL_SET_CONFIG,
	GOOD_FAIL_QUEUE,
	GOOD_FAIL_BLOCK,
};

/* The values of the `fail` key. */
static const struct {
	const char	*name;
	enum good_fail	 fail;
} good_fails[] = {
	{ "get_config",	GOOD_FAIL_GET_CONFIG },
	{ "set_config",	GOOD_FAIL_SET_CONFIG },
	{ "queue",	GOOD_FAIL_QUEUE },
	{ "block",	GOOD_FAIL_BLOCK },
};

/* The daemon's function table (the same for every device). */
static const struct vhd_api *good_api;

/* The failure mode of a device.  Any thread. */
static enum good_fail
good_fail_of(struct vhd_dev *dev)
{
	if (good_api == NULL)
		return (GOOD_FAIL_NONE);
	return ((enum good_fail)(uintptr_t)good_api->dev_priv(dev));
}

/* Accept any configuration; `fail` picks a failing callback.  Main
 * thread. */
static int
good_create(struct vhd_dev *dev, const struct vhd_api *api,
    const struct vhd_kv *kv, size_t nkv, struct vhd_dev_info *info,
    char **cause __attribute__((unused)))
{
	enum good_fail	 fail = GOOD_FAIL_NONE;
	size_t		 i, k;

	for (i = 0; i < nkv; i++) {
		if (strcmp(kv[i].key, "fail") != 0)
			continue;
		for (k = 0; k < sizeof(good_fails) / sizeof(good_fails[0]);
		    k++) {
			if (strcmp(kv[i].value, good_fails[k].name) == 0)
				fail = good_fails[k].fail;
		}
	}
	info->device_id = 4;
	good_api = api;
	if (fail != GOOD_FAIL_NONE) {
		info->config_size = 8;
		api->dev_set_priv(dev, (void *)(uintptr_t)fail);
	}
	return (0);
}

/* Read config space (zeros), or fail.  Main thread. */
static int
good_get_config(struct vhd_dev *dev, uint32_t offset __attribute__((unused)),
    void *buf, uint32_t len)
{
	if (good_fail_of(dev) == GOOD_FAIL_GET_CONFIG)
		return (-1);
	memset(buf, 0, len);
	return (0);
}

/* Ignore a config write, or fail.  Main thread. */
static int
good_set_config(struct vhd_dev *dev, uint32_t offset __attribute__((unused)),
    const void *buf __attribute__((unused)), uint32_t len
    __attribute__((unused)))
{
	if (good_fail_of(dev) == GOOD_FAIL_SET_CONFIG)
		return (-1);
	return (0);
}

/* Complete every available chain with nothing written, or (fail=queue)
 * mark the device broken.  Queue's worker. */
static void
good_queue_handler(struct vhd_dev *dev, struct vhd_queue *q)
{
	struct vhd_chain	*c;
	int			 pushed = 0;

	if (good_api == NULL)
		return;
	if (good_fail_of(dev) == GOOD_FAIL_BLOCK) {
		struct timespec	 ts = { 60, 0 };

		/* Block only once there is work, like a module waiting on
		 * something that never comes. */
		if ((c = good_api->queue_pop(q)) != NULL) {
			good_api->log(dev, VHD_LOG_INFO, "queue %u: blocking "
			    "for 60 s", good_api->queue_index(q));
			while (nanosleep(&ts, &ts) == -1)
				;
			good_api->queue_push(q, c, 0);
		}
		return;
	}
	if (good_fail_of(dev) == GOOD_FAIL_QUEUE) {
		if ((c = good_api->queue_pop(q)) != NULL) {
			good_api->queue_push(q, c, 0);
			good_api->dev_fail(dev, "good: failing on purpose");
		}
		return;
	}
	while ((c = good_api->queue_pop(q)) != NULL) {
		good_api->queue_push(q, c, 0);
		pushed = 1;
	}
	if (pushed)
		good_api->queue_notify(q);
}

static const struct vhd_device_ops good_ops = {
	.size = sizeof(struct vhd_device_ops),
	.create = good_create,
	.queue_handler = good_queue_handler,
	.get_config = good_get_config,
	.set_config = good_set_config,
};

VHD_MODULE("good", "1.2.3", "a test module that loads", &good_ops);
