/*
 * Helpers shared by the module fuzz targets; see fuzz_fake.h.  Single
 * threaded, like the fake daemon.
 */

#include <sys/types.h>

#include <dirent.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vhostd/vhostd.h>

#include "fake_api.h"
#include "fuzz_fake.h"

#define FUZZ_FAKE_MAXW	128

/* Next input byte, 0 when the input is used up. */
uint8_t
fuzz_in_u8(struct fuzz_in *in)
{
	uint8_t	 b;

	if (in->n == 0)
		return (0);
	b = *in->p++;
	in->n--;
	return (b);
}

/* Next little-endian u16 of the input. */
uint16_t
fuzz_in_u16(struct fuzz_in *in)
{
	uint16_t	 lo = fuzz_in_u8(in);

	return ((uint16_t)(lo | (uint16_t)fuzz_in_u8(in) << 8));
}

/* Take up to len bytes of the input. */
const uint8_t *
fuzz_in_bytes(struct fuzz_in *in, size_t len, size_t *got)
{
	const uint8_t	*p = in->p;

	if (len > in->n)
		len = in->n;
	in->p += len;
	in->n -= len;
	*got = len;
	return (p);
}

/* Fire ready fd watches, one at a time (a callback may free others). */
unsigned
fuzz_fake_loop(struct vhd_dev *dev, unsigned max)
{
	struct pollfd		 pfd[FUZZ_FAKE_MAXW];
	struct vhd_watch	*w[FUZZ_FAKE_MAXW], *x;
	unsigned		 fired = 0, i, n;
	short			 ev, got;

	while (fired < max) {
		n = 0;
		for (i = 0; n < FUZZ_FAKE_MAXW &&
		    (x = fake_dev_watch_nth(dev, i)) != NULL; i++) {
			if (fake_watch_fd(x) < 0 || !fake_watch_armed(x))
				continue;
			ev = fake_watch_events(x);
			pfd[n].fd = fake_watch_fd(x);
			pfd[n].events = (short)(((ev & VHD_EV_READ) ?
			    POLLIN : 0) | ((ev & VHD_EV_WRITE) ? POLLOUT : 0));
			pfd[n].revents = 0;
			w[n++] = x;
		}
		if (n == 0 || poll(pfd, n, 0) <= 0)
			break;
		for (i = 0; i < n; i++) {
			if (pfd[i].revents != 0)
				break;
		}
		if (i == n)
			break;
		got = 0;
		/* libevent reports HUP/ERR as readable and writable. */
		if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			got |= VHD_EV_READ;
		if (pfd[i].revents & (POLLOUT | POLLHUP | POLLERR))
			got |= VHD_EV_WRITE;
		got &= fake_watch_events(w[i]);
		if (got == 0)
			got = fake_watch_events(w[i]) &
			    (VHD_EV_READ | VHD_EV_WRITE);
		fake_watch_fire(w[i], got);
		fired++;
	}
	return (fired);
}

/* Fire the n-th armed timer (modulo their count). */
int
fuzz_fake_timer(struct vhd_dev *dev, unsigned n)
{
	struct vhd_watch	*w;
	unsigned		 i, armed = 0;

	for (i = 0; (w = fake_dev_watch_nth(dev, i)) != NULL; i++) {
		if (fake_watch_fd(w) < 0 && fake_watch_armed(w))
			armed++;
	}
	if (armed == 0)
		return (0);
	n %= armed;
	for (i = 0; (w = fake_dev_watch_nth(dev, i)) != NULL; i++) {
		if (fake_watch_fd(w) >= 0 || !fake_watch_armed(w))
			continue;
		if (n-- == 0) {
			fake_watch_fire(w, VHD_EV_TIMEOUT);
			return (1);
		}
	}
	return (0);
}

/* Count the open fds of the process. */
unsigned
fuzz_fake_fds(void)
{
	DIR		*d;
	unsigned	 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		abort();
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return (n);
}

/* Abort on recorded API misuse. */
void
fuzz_fake_check(struct vhd_dev *dev)
{
	if (*fake_dev_errors(dev) != '\0') {
		fprintf(stderr, "fake_api misuse:\n%s", fake_dev_errors(dev));
		abort();
	}
}
