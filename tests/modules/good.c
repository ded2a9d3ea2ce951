/*
 * A minimal valid module for check_module: it loads and creates a device
 * with one queue that completes every chain empty.
 */

#include <stddef.h>

#include <vhostd/vhostd.h>

/* Accept any configuration; keep the defaults. */
static int
good_create(struct vhd_dev *dev __attribute__((unused)),
    const struct vhd_api *api __attribute__((unused)),
    const struct vhd_kv *kv __attribute__((unused)),
    size_t nkv __attribute__((unused)), struct vhd_dev_info *info,
    char **cause __attribute__((unused)))
{
	info->device_id = 4;
	return (0);
}

/* Complete every available chain with nothing written.  Queue's worker. */
static void
good_queue_handler(struct vhd_dev *dev __attribute__((unused)),
    struct vhd_queue *q __attribute__((unused)))
{
}

static const struct vhd_device_ops good_ops = {
	.size = sizeof(struct vhd_device_ops),
	.create = good_create,
	.queue_handler = good_queue_handler,
};

VHD_MODULE("good", "1.2.3", "a test module that loads", &good_ops);
