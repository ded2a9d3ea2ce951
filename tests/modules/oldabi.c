/*
 * A module built for ABI 1.0 (the function table only grows, so a newer
 * vhostd still loads it) for check_module.  Its device has one queue
 * that it never serves.
 */

#include <stddef.h>

#include <vhostd/vhostd.h>

/* Accept any key; the defaults (one queue) are fine. */
static int
oldabi_create(struct vhd_dev *dev __attribute__((unused)),
    const struct vhd_api *api __attribute__((unused)),
    const struct vhd_kv *kv __attribute__((unused)),
    size_t nkv __attribute__((unused)),
    struct vhd_dev_info *info __attribute__((unused)),
    char **cause __attribute__((unused)))
{
	return (0);
}

/* Leave the chains where they are. */
static void
oldabi_queue_handler(struct vhd_dev *dev __attribute__((unused)),
    struct vhd_queue *q __attribute__((unused)))
{
}

static const struct vhd_device_ops oldabi_ops = {
	/* The 1.0 table: it ends with get_shared_object. */
	.size = offsetof(struct vhd_device_ops, get_shared_object) +
	    sizeof(void *),
	.create = oldabi_create,
	.queue_handler = oldabi_queue_handler,
};

__attribute__((visibility("default"))) const struct vhd_module vhd_module = {
	.size = sizeof(struct vhd_module),
	.abi_major = 1,
	.abi_minor = 0,
	.name = "oldabi",
	.version = "1.0",
	.description = "a module built for ABI 1.0",
	.ops = &oldabi_ops,
};
