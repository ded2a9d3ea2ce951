/*
 * Frontend requests for migration and device plumbing handed to the
 * module: SET_DEVICE_STATE_FD, CHECK_DEVICE_STATE (the transfer itself is
 * dev_state.c) and GPU_SET_SOCKET.  Main thread.
 */

#include <sys/types.h>

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "dev_state.h"
#include "device.h"
#include "log.h"
#include "vhost_user.h"
#include "vu_conn.h"
#include "vu_conn_priv.h"

/* SET_DEVICE_STATE_FD reply: error code in bits 0..7; bit 8 says no fd
 * comes back, so the frontend keeps using the one it sent. */
#define VU_MSG_STATE_ERR	0x1ull
#define VU_MSG_STATE_NOFD	0x100ull

/*
 * SET_DEVICE_STATE_FD: {u32 direction, u32 phase} and a pipe end.  We
 * always use the frontend's fd (the spec lets the back-end return its
 * own instead; we have no reason to).  Failures are a u64 error code,
 * not an empty reply: QEMU expects the u64 either way.
 */
int
vu_msg_set_device_state_fd(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r)
{
	uint32_t	 direction, phase;
	int		 fd = m->fds[0];
	char		 why[160];

	memcpy(&direction, m->payload.bytes, sizeof direction);
	memcpy(&phase, m->payload.bytes + 4, sizeof phase);
	m->fds[0] = -1;
	if (dev_state_start(c->dev, direction, phase, fd, why,
	    sizeof why) == -1) {
		vu_msg_fail(c, m, "%s", why);
		vu_msg_reply_u64(r, VU_MSG_STATE_ERR | VU_MSG_STATE_NOFD);
		return (0);
	}
	vu_msg_reply_u64(r, VU_MSG_STATE_NOFD);
	return (0);
}

/* CHECK_DEVICE_STATE: u64 0 when the last transfer succeeded. */
int
vu_msg_check_device_state(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r)
{
	char	 why[160];

	if (dev_state_check(c->dev, why, sizeof why) == -1) {
		vu_msg_fail(c, m, "%s", why);
		vu_msg_reply_u64(r, 1);
		return (0);
	}
	vu_msg_reply_u64(r, 0);
	return (0);
}

/* GPU_SET_SOCKET: the vhost-user-gpu socket goes to the module. */
int
vu_msg_gpu_set_socket(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	struct device	*dev = c->dev;
	int		 fd = m->fds[0];

	if (dev->ops->gpu_set_socket == NULL)
		return (vu_msg_fail(c, m, "the device is not a GPU (its "
		    "module takes no GPU socket)"));
	m->fds[0] = -1;
	if (dev->ops->gpu_set_socket(device_to_vhd(dev), fd) != 0) {
		close(fd);
		return (vu_msg_fail(c, m, "the device refused the GPU "
		    "socket"));
	}
	return (0);
}
