/*
 * A module built "for the next ABI minor" (VHD_ABI_MINOR + 1) for
 * check_module: this vhostd must refuse it, since it may use functions the
 * table lacks, by reading the descriptor only.  Every callback aborts, so
 * a loader that calls anything before checking the ABI fails the test.
 */

#include <stddef.h>
#include <stdlib.h>

#include <vhostd/vhostd.h>

/* Must never run: the ABI check comes first. */
static int
newabi_create(struct vhd_dev *dev __attribute__((unused)),
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
newabi_queue_handler(struct vhd_dev *dev __attribute__((unused)),
    struct vhd_queue *q __attribute__((unused)))
{
	abort();
}

static const struct vhd_device_ops newabi_ops = {
	.size = sizeof(struct vhd_device_ops),
	.create = newabi_create,
	.queue_handler = newabi_queue_handler,
};

__attribute__((visibility("default"))) const struct vhd_module vhd_module = {
	.size = sizeof(struct vhd_module),
	.abi_major = VHD_ABI_MAJOR,
	.abi_minor = VHD_ABI_MINOR + 1,
	.name = "newabi",
	.version = "2.0",
	.description = "a module for a newer ABI minor",
	.ops = &newabi_ops,
};
