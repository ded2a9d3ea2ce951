/*
 * Device state transfer for migration (vhost-user.rst, "Migrating
 * back-end state"): SET_DEVICE_STATE_FD hands us one end of a pipe, we
 * write the device's state into it (save) or read it from it (load), and
 * CHECK_DEVICE_STATE asks how it went.
 *
 * The module produces and consumes plain bytes (state_save/state_load,
 * called on the main thread while every queue is stopped); the core adds
 * a frame in front (magic, version, the module's name, device ID, length,
 * checksums) so that a stream for another device, a truncated one or a
 * corrupt one is refused before the module sees it.  The pipe is made
 * non-blocking and served by an event on the main loop: a frontend that
 * never reads (or never writes) stalls only its own transfer, never the
 * daemon.
 *
 * Frame, 64 bytes, little-endian:
 *	0  magic "VHDSTATE"	 8  version (1)		12 device ID
 *	16 module name (32 bytes, NUL-padded)
 *	48 payload length (u64)	56 payload CRC-32	60 CRC-32 of bytes 0..59
 */

#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dev_state.h"
#include "device.h"
#include "log.h"
#include "module.h"
#include "vring.h"
#include "xmalloc.h"

/* One transfer in progress or finished (until CHECK_DEVICE_STATE). */
struct dev_state {
	struct device	*dev;
	uint32_t	 direction;
	int		 fd;		/* -1 once done */
	struct event	*ev;
	uint8_t		*buf;
	size_t		 len;		/* save: frame size; load: received */
	size_t		 cap;
	size_t		 off;		/* save: bytes written */
	int		 done;
	int		 failed;
	char		 error[160];
};

/* The module name framed with this device's state ("" without one). */
static const char *
dev_state_module(struct device *dev)
{
	return (dev->mod != NULL ? dev->mod->name : "");
}

/* Is any queue of the device started? */
static int
dev_state_queues_running(struct device *dev)
{
	unsigned	 i;

	if (dev->vrings == NULL)
		return (0);
	for (i = 0; i < dev->info.num_queues; i++) {
		if (dev->vrings[i].started)
			return (1);
	}
	return (0);
}

/* End the transfer: close the pipe, record the outcome. */
static void
dev_state_finish(struct dev_state *st, int failed, const char *fmt, ...)
    __printflike(3, 4);

static void
dev_state_finish(struct dev_state *st, int failed, const char *fmt, ...)
{
	va_list	 ap;

	if (st->ev != NULL) {
		event_free(st->ev);
		st->ev = NULL;
	}
	if (st->fd >= 0) {
		close(st->fd);
		st->fd = -1;
	}
	st->done = 1;
	st->failed = failed;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(st->error, sizeof st->error, fmt, ap);
		va_end(ap);
		if (failed)
			log_warnx("%s: device state %s: %s", st->dev->name,
			    st->direction == DEV_STATE_SAVE ? "save" : "load",
			    st->error);
	}
	free(st->buf);
	st->buf = NULL;
	st->len = st->cap = st->off = 0;
}

/* The pipe can take more: write what it takes. */
static void
dev_state_write_cb(evutil_socket_t fd, short events __unused, void *arg)
{
	struct dev_state	*st = arg;
	ssize_t			 n;

	while (st->off < st->len) {
		n = write(fd, st->buf + st->off, st->len - st->off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			dev_state_finish(st, 1, "writing the state: %s "
			    "(%zu of %zu bytes sent)", n == -1 ?
			    strerror(errno) : "nothing written", st->off,
			    st->len);
			return;
		}
		st->off += (size_t)n;
	}
	log_info("%s: device state saved (%zu bytes)", st->dev->name,
	    st->len);
	dev_state_finish(st, 0, NULL);
}

/* The writer closed the pipe: check the frame and hand it over. */
static void
dev_state_load_done(struct dev_state *st)
{
	struct device	*dev = st->dev;
	const uint8_t	*data;
	size_t		 dlen;
	char		 why[160];

	if (dev_state_unframe(dev_state_module(dev), dev->info.device_id,
	    st->buf, st->len, &data, &dlen, why, sizeof why) == -1) {
		dev_state_finish(st, 1, "%s", why);
		return;
	}
	if (dev_state_queues_running(dev)) {
		dev_state_finish(st, 1, "a queue started before the state "
		    "was loaded");
		return;
	}
	if (dev->ops->state_load(device_to_vhd(dev), data, dlen) != 0) {
		dev_state_finish(st, 1, "the device refused the state");
		return;
	}
	log_info("%s: device state loaded (%zu bytes)", dev->name, st->len);
	dev_state_finish(st, 0, NULL);
}

/* The pipe has data (or EOF): read what is there. */
static void
dev_state_read_cb(evutil_socket_t fd, short events __unused, void *arg)
{
	struct dev_state	*st = arg;
	struct device		*dev = st->dev;
	uint64_t		 plen;
	size_t			 want;
	ssize_t			 n;
	char			 why[160];

	for (;;) {
		if (st->len == st->cap) {
			/* Never more than the header announces, plus one
			 * byte to notice garbage after it. */
			want = st->cap == 0 ? 65536 : st->cap * 2;
			if (want > DEV_STATE_HDR_SIZE + (size_t)DEV_STATE_MAX + 1)
				want = DEV_STATE_HDR_SIZE +
				    (size_t)DEV_STATE_MAX + 1;
			if (want == st->cap) {
				dev_state_finish(st, 1, "state stream longer "
				    "than %u bytes", DEV_STATE_MAX);
				return;
			}
			st->buf = xreallocarray(st->buf, want, 1);
			st->cap = want;
		}
		n = read(fd, st->buf + st->len, st->cap - st->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1) {
			dev_state_finish(st, 1, "reading the state: %s",
			    strerror(errno));
			return;
		}
		if (n == 0) {
			dev_state_load_done(st);
			return;
		}
		st->len += (size_t)n;
		/* Refuse a bad header (or a lying length) at once. */
		if (st->len < DEV_STATE_HDR_SIZE)
			continue;
		if (dev_state_check_hdr(dev_state_module(dev),
		    dev->info.device_id, st->buf, &plen, why,
		    sizeof why) == -1) {
			dev_state_finish(st, 1, "%s", why);
			return;
		}
		if (st->len > DEV_STATE_HDR_SIZE + plen) {
			dev_state_finish(st, 1, "more bytes than the %llu the "
			    "state header announces",
			    (unsigned long long)plen);
			return;
		}
	}
}

/* Drop any transfer. */
void
dev_state_cancel(struct device *dev)
{
	struct dev_state	*st = dev->state;

	if (st == NULL)
		return;
	dev->state = NULL;
	if (!st->done)
		log_warnx("%s: device state %s cancelled", dev->name,
		    st->direction == DEV_STATE_SAVE ? "save" : "load");
	dev_state_finish(st, 1, NULL);
	free(st);
}

/* SET_DEVICE_STATE_FD: start a transfer on fd. */
int
dev_state_start(struct device *dev, uint32_t direction, uint32_t phase,
    int fd, char *buf, size_t len)
{
	struct dev_state	*st;
	void			*data = NULL;
	size_t			 dlen = 0;
	int			 fl;
	short			 what;

	dev_state_cancel(dev);
	if (direction != DEV_STATE_SAVE && direction != DEV_STATE_LOAD) {
		snprintf(buf, len, "unknown transfer direction %u", direction);
		goto fail;
	}
	if (phase != DEV_STATE_PHASE_STOPPED) {
		snprintf(buf, len, "unknown migration phase %u (only stopped "
		    "is supported)", phase);
		goto fail;
	}
	if (dev->ops->state_save == NULL || dev->ops->state_load == NULL) {
		snprintf(buf, len, "the device has no state transfer");
		goto fail;
	}
	if (dev_state_queues_running(dev)) {
		snprintf(buf, len, "a queue is running (the stopped phase "
		    "needs every queue stopped)");
		goto fail;
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		snprintf(buf, len, "cannot use the fd: %s", strerror(errno));
		goto fail;
	}

	st = xcalloc(1, sizeof *st);
	st->dev = dev;
	st->direction = direction;
	st->fd = fd;
	if (direction == DEV_STATE_SAVE) {
		if (dev->ops->state_save(device_to_vhd(dev), &data,
		    &dlen) != 0) {
			free(st);
			snprintf(buf, len, "the device could not save its "
			    "state");
			goto fail;
		}
		if (dev_state_frame(dev_state_module(dev),
		    dev->info.device_id, data, dlen, &st->buf,
		    &st->len) == -1) {
			free(data);
			free(st);
			snprintf(buf, len, "cannot frame a state of %zu bytes",
			    dlen);
			goto fail;
		}
		free(data);
		what = EV_WRITE | EV_PERSIST;
		st->ev = event_new(dev->base, fd, what, dev_state_write_cb,
		    st);
	} else {
		what = EV_READ | EV_PERSIST;
		st->ev = event_new(dev->base, fd, what, dev_state_read_cb,
		    st);
	}
	if (st->ev == NULL || event_add(st->ev, NULL) == -1) {
		if (st->ev != NULL)
			event_free(st->ev);
		free(st->buf);
		free(st);
		snprintf(buf, len, "cannot watch the fd");
		goto fail;
	}
	dev->state = st;
	log_info("%s: device state %s started", dev->name,
	    direction == DEV_STATE_SAVE ? "save" : "load");
	return (0);

fail:
	close(fd);
	return (-1);
}

/* CHECK_DEVICE_STATE: how did the last transfer go? */
int
dev_state_check(struct device *dev, char *buf, size_t len)
{
	struct dev_state	*st = dev->state;
	int			 rc;

	if (st == NULL) {
		snprintf(buf, len, "no state transfer to check");
		return (-1);
	}
	/* The frontend closes its end before it checks: what is in the
	 * pipe can be read now without waiting. */
	if (!st->done && st->direction == DEV_STATE_LOAD)
		dev_state_read_cb(st->fd, EV_READ, st);
	if (!st->done) {
		snprintf(buf, len, "%s", st->direction == DEV_STATE_SAVE ?
		    "the frontend has not read the whole state" :
		    "the frontend has not closed the state pipe");
		dev_state_cancel(dev);
		return (-1);
	}
	rc = st->failed ? -1 : 0;
	if (rc == -1)
		snprintf(buf, len, "%s", st->error[0] != '\0' ? st->error :
		    "transfer failed");
	dev->state = NULL;
	free(st);
	return (rc);
}
