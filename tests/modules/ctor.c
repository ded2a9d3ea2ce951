/*
 * A valid module with a constructor, for check_module: dlopen runs it
 * before the loader can read the descriptor, so it shows whether a file
 * was opened at all.  When $VHOSTD_TEST_CTOR names a file, the constructor
 * creates it.
 */

#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

/* Leave a mark that the module's code ran. */
__attribute__((constructor)) static void
ctor_mark(void)
{
	const char	*path;
	int		 fd;

	if ((path = getenv("VHOSTD_TEST_CTOR")) == NULL)
		return;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) != -1)
		close(fd);
}

/* Accept any key; the defaults (one queue) are fine. */
static int
ctor_create(struct vhd_dev *dev __attribute__((unused)),
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
ctor_queue_handler(struct vhd_dev *dev __attribute__((unused)),
    struct vhd_queue *q __attribute__((unused)))
{
}

static const struct vhd_device_ops ctor_ops = {
	.size = sizeof(struct vhd_device_ops),
	.create = ctor_create,
	.queue_handler = ctor_queue_handler,
};

VHD_MODULE("ctor", "1.0", "a test module with a constructor", &ctor_ops);
