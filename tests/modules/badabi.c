/*
 * A module built "for ABI 99" for check_module: the loader must refuse it
 * by reading the descriptor only.  Every callback aborts, so a loader that
 * calls anything before checking the ABI fails the test.
 */

#include <stddef.h>
#include <stdlib.h>

#include <vhostd/vhostd.h>

/* Must never run: the ABI check comes first. */
static int
badabi_create(struct vhd_dev *dev __attribute__((unused)),
    const struct vhd_api *api __attribute__((unused)),
    const struct vhd_kv *kv __attribute__((unused)),
    size_t nkv __attribute__((unused)),
    struct vhd_dev_info *info __attribute__((unused)),
    char **cause __attribute__((unused)))
{
	abort();
}

/* Must never run: the ABI check comes first. */
static void
badabi_queue_handler(struct vhd_dev *dev __attribute__((unused)),
    struct vhd_queue *q __attribute__((unused)))
{
	abort();
}

static const struct vhd_device_ops badabi_ops = {
	.size = sizeof(struct vhd_device_ops),
	.create = badabi_create,
	.queue_handler = badabi_queue_handler,
};

__attribute__((visibility("default"))) const struct vhd_module vhd_module = {
	.size = sizeof(struct vhd_module),
	.abi_major = 99,
	.abi_minor = 7,
	.name = "badabi",
	.version = "9.9",
	.description = "a module for another ABI",
	.ops = &badabi_ops,
};
