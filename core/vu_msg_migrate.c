/*
 * Migration requests: the dirty log (SET_LOG_BASE, SET_LOG_FD; the
 * mechanism is dirty_log.c), the device status byte (SET_STATUS,
 * GET_STATUS) and postcopy (POSTCOPY_ADVISE, LISTEN, END and the
 * table acknowledgement; postcopy.c).  Main thread.
 */

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "dirty_log.h"
#include "log.h"
#include "postcopy.h"
#include "vhost_user.h"
#include "vu_conn_priv.h"

/* The SET_LOG_BASE payload with LOG_SHMFD. */
struct vu_msg_log {
	uint64_t	mmap_size;
	uint64_t	mmap_offset;
};

/*
 * SET_LOG_BASE: map the shared log from the attached memfd and publish
 * it; the rings keep running.  QEMU reads a reply whether or not
 * REPLY_ACK was negotiated (vhost_user_set_log_base): a u64 0 on
 * success, an empty payload on failure (the old log stays).
 */
int
vu_msg_set_log_base(struct vu_conn *c, struct vu_msg *m, struct vu_reply *r)
{
	struct vu_msg_log	 lg;
	char			*cause = NULL;
	int			 fd;

	memcpy(&lg, m->payload.bytes, sizeof lg);
	if (m->nfds != 1)
		return (vu_msg_fail(c, m, "no log fd attached"));
	fd = m->fds[0];
	m->fds[0] = -1;
	m->nfds = 0;
	if (dirty_log_set_base(c->dev, fd, lg.mmap_size, lg.mmap_offset,
	    &cause) == -1) {
		vu_msg_fail(c, m, "%s", cause);
		free(cause);
		return (-1);
	}
	vu_msg_reply_u64(r, 0);
	return (0);
}

/* SET_LOG_FD: an eventfd signalled after the log is written (the spec's
 * log "call" fd; QEMU never sends it). */
int
vu_msg_set_log_fd(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	char	 path[64], link[64];
	ssize_t	 n;
	int	 fd = m->fds[0], flags;

	/* As the ring fds: an eventfd, non-blocking, so a worker never
	 * blocks on it (a pipe could fill). */
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	n = readlinkat(AT_FDCWD, path, link, sizeof link - 1);
	if (n >= 0) {
		link[n] = '\0';
		if (strcmp(link, "anon_inode:[eventfd]") != 0)
			return (vu_msg_fail(c, m, "log fd is not an eventfd "
			    "(%s)", link));
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		return (vu_msg_fail(c, m, "log fd: %s", strerror(errno)));
	m->fds[0] = -1;
	m->nfds = 0;
	dirty_log_set_fd(c->dev, fd);
	return (0);
}

/*
 * SET_STATUS: remember the virtio status byte.  It changes nothing else:
 * QEMU 7.2 sends 0 when it stops the device (before GET_VRING_BASE) and
 * the rings' state must survive that; a reset comes as RESET_DEVICE.
 */
int
vu_msg_set_status(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	uint64_t	 v = vu_msg_u64(m);

	if (v > UINT8_MAX)
		return (vu_msg_fail(c, m, "status 0x%llx is not a byte",
		    (unsigned long long)v));
	c->dev->status = (uint8_t)v;
	log_debug("%s: status 0x%02x", c->dev->name, c->dev->status);
	return (0);
}

/* GET_STATUS: the status byte last set. */
int
vu_msg_get_status(struct vu_conn *c, struct vu_msg *m __unused,
    struct vu_reply *r)
{
	vu_msg_reply_u64(r, c->dev->status);
	return (0);
}

/* POSTCOPY_ADVISE: reply with a userfaultfd and an empty payload (QEMU
 * refuses a reply with a payload). */
int
vu_msg_postcopy_advise(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r)
{
	char	*cause = NULL;
	int	 fd;

	if ((fd = postcopy_advise(c->dev, &cause)) == -1) {
		vu_msg_fail(c, m, "%s", cause);
		free(cause);
		return (-1);
	}
	r->fd = fd;
	r->size = 0;
	return (0);
}

/* POSTCOPY_LISTEN: QEMU waits for the ack (NEED_REPLY). */
int
vu_msg_postcopy_listen(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	char	*cause = NULL;

	if (postcopy_listen(c->dev, &cause) == -1) {
		vu_msg_fail(c, m, "%s", cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/* POSTCOPY_END: leave postcopy (ack with NEED_REPLY). */
int
vu_msg_postcopy_end(struct vu_conn *c, struct vu_msg *m __unused,
    struct vu_reply *r __unused)
{
	postcopy_end(c->dev);
	return (0);
}

/*
 * The acknowledgement QEMU sends after the memory-region messages of a
 * postcopy table change: the ADD_MEM_REG request code with a u64 0 and
 * no fd, and no reply expected.  Now the regions are registered for
 * faults.
 */
int
vu_msg_postcopy_ack(struct vu_conn *c, struct vu_msg *m)
{
	char	*cause = NULL;

	if (!postcopy_listening(c->dev))
		return (vu_msg_fail(c, m, "a postcopy acknowledgement outside "
		    "postcopy"));
	if (vu_msg_u64(m) != 0)
		return (vu_msg_fail(c, m, "postcopy acknowledgement %llu",
		    (unsigned long long)vu_msg_u64(m)));
	if (postcopy_register(c->dev, &cause) == -1) {
		vu_msg_fail(c, m, "%s", cause);
		free(cause);
		return (-1);
	}
	return (0);
}
