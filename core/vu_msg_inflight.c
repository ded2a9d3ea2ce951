/*
 * GET_INFLIGHT_FD and SET_INFLIGHT_FD: the requests of inflight I/O
 * tracking (inflight.h), offered only to devices that ask for it
 * (VHD_DEV_F_INFLIGHT).  Main thread.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "inflight.h"
#include "log.h"
#include "vhost_user.h"
#include "vu_conn_priv.h"

/* Read the 20 meaningful bytes of the payload (the table checked the
 * minimum size). */
static void
vu_msg_inflight_read(const struct vu_msg *m, struct inflight_msg *im)
{
	memset(im, 0, sizeof *im);
	memcpy(im, m->payload.bytes, INFLIGHT_MSG_SIZE);
}

/* GET_INFLIGHT_FD: a new region for the frontend to keep, sent with its
 * size (the reply has the request's 24-byte layout). */
int
vu_msg_get_inflight_fd(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r)
{
	struct inflight_msg	 req, rep;
	char			*cause = NULL;
	int			 fd;

	vu_msg_inflight_read(m, &req);
	if ((fd = inflight_get_fd(c->dev, &req, &rep, &cause)) == -1) {
		vu_msg_fail(c, m, "%s", cause);
		free(cause);
		return (-1);
	}
	memset(r->payload.bytes, 0, 24);
	memcpy(r->payload.bytes, &rep, sizeof rep);
	r->size = 24;
	r->fd = fd;
	return (0);
}

/* SET_INFLIGHT_FD: map the region the frontend kept. */
int
vu_msg_set_inflight_fd(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	struct inflight_msg	 req;
	char			*cause = NULL;

	vu_msg_inflight_read(m, &req);
	/* On failure the dispatcher closes the fd. */
	if (inflight_set_fd(c->dev, &req, m->fds[0], &cause) == -1) {
		vu_msg_fail(c, m, "%s", cause);
		free(cause);
		return (-1);
	}
	m->fds[0] = -1;
	return (0);
}
