/*
 * The service manager's notification protocol, written by hand.
 *
 * Why not libsystemd: the protocol is small, stable and documented
 * (sd_notify(3), "the protocol is a datagram of newline-separated
 * VARIABLE=VALUE assignments sent to the AF_UNIX socket named in
 * $NOTIFY_SOCKET; a name starting with '@' is in the abstract
 * namespace"), and writing it here keeps vhostd free of a run-time
 * dependency that other init systems and plain shells do not need.  It
 * also lets the socket be opened before the seccomp filter, so the
 * filter only has to allow sendto(2) on it.
 *
 * Only AF_UNIX is spoken: systemd 254's "vsock:" addresses are reported
 * once and ignored.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "sd_notify.h"

#define SDN_LINE_MAX 512

static int			 sdn_fd = -1;
static struct sockaddr_un	 sdn_addr;
static socklen_t		 sdn_addrlen;
static uint64_t			 sdn_wd_usec;
static struct event		*sdn_wd_ev;
static int			 sdn_failed;	/* a send failure was logged */

/* Read the environment and open the socket; see sd_notify.h. */
void
sdn_init(void)
{
	const char	*path, *s;
	char		*end;
	size_t		 len;
	unsigned long long v;

	path = getenv("NOTIFY_SOCKET");
	s = getenv("WATCHDOG_USEC");
	if (s != NULL) {
		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno == 0 && *s != '\0' && *end == '\0' && v > 0)
			sdn_wd_usec = v;
		/* The watchdog is for us only if no other pid is named
		 * (the manager sets WATCHDOG_PID to the main pid). */
		s = getenv("WATCHDOG_PID");
		if (s != NULL && strtoull(s, NULL, 10) !=
		    (unsigned long long)getpid())
			sdn_wd_usec = 0;
	}
	if (path != NULL && *path != '\0') {
		len = strlen(path);
		memset(&sdn_addr, 0, sizeof sdn_addr);
		sdn_addr.sun_family = AF_UNIX;
		if (path[0] != '/' && path[0] != '@')
			log_warnx("NOTIFY_SOCKET '%s': not a unix socket "
			    "path, not notifying", path);
		else if (len >= sizeof sdn_addr.sun_path)
			log_warnx("NOTIFY_SOCKET '%s': path too long", path);
		else {
			memcpy(sdn_addr.sun_path, path, len);
			/* Abstract names have no NUL terminator: the
			 * address length says where they end. */
			if (path[0] == '@')
				sdn_addr.sun_path[0] = '\0';
			sdn_addrlen = (socklen_t)(offsetof(struct sockaddr_un,
			    sun_path) + len + (path[0] == '@' ? 0 : 1));
			sdn_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
			    SOCK_NONBLOCK, 0);
			if (sdn_fd == -1)
				log_warn("NOTIFY_SOCKET: socket");
		}
	}
	if (sdn_fd == -1)
		sdn_wd_usec = 0;
	/* What the manager told us is for this process only. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (sdn_fd != -1)
		log_debug("%s: notifying %s%s", __func__, path,
		    sdn_wd_usec != 0 ? " (watchdog on)" : "");
}

/* Close the socket and stop the watchdog timer; see sd_notify.h. */
void
sdn_fini(void)
{
	if (sdn_wd_ev != NULL) {
		event_free(sdn_wd_ev);
		sdn_wd_ev = NULL;
	}
	if (sdn_fd != -1) {
		close(sdn_fd);
		sdn_fd = -1;
	}
}

/* Is there a manager to notify? */
int
sdn_enabled(void)
{
	return (sdn_fd != -1);
}

/* The watchdog interval in microseconds, 0 for none. */
uint64_t
sdn_watchdog_usec(void)
{
	return (sdn_wd_usec);
}

/* Send `text` as one datagram; see sd_notify.h. */
int
sdn_notify(const char *text)
{
	ssize_t	 n;

	if (sdn_fd == -1)
		return (-1);
	do {
		n = sendto(sdn_fd, text, strlen(text), MSG_NOSIGNAL,
		    (struct sockaddr *)&sdn_addr, sdn_addrlen);
	} while (n == -1 && errno == EINTR);
	if (n == -1) {
		/* Not fatal: the manager may be gone or busy (EAGAIN);
		 * say so once, not on every watchdog tick. */
		if (!sdn_failed)
			log_warn("NOTIFY_SOCKET: cannot notify the service "
			    "manager");
		sdn_failed = 1;
		return (-1);
	}
	return (0);
}

/* READY=1; see sd_notify.h. */
void
sdn_ready(void)
{
	sdn_notify("READY=1");
}

/* RELOADING=1 with the monotonic time; see sd_notify.h. */
void
sdn_reloading(void)
{
	struct timespec	 ts;
	char		 buf[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ull +
	    (unsigned long long)ts.tv_nsec / 1000ull);
	sdn_notify(buf);
}

/* STOPPING=1; see sd_notify.h. */
void
sdn_stopping(void)
{
	sdn_notify("STOPPING=1");
}

/* STATUS=<text>, one line (newlines become spaces). */
void
sdn_status(const char *fmt, ...)
{
	char	 buf[SDN_LINE_MAX], *p;
	va_list	 ap;

	if (sdn_fd == -1)
		return;
	memcpy(buf, "STATUS=", 7);
	va_start(ap, fmt);
	vsnprintf(buf + 7, sizeof buf - 7, fmt, ap);
	va_end(ap);
	for (p = buf + 7; *p != '\0'; p++) {
		if (*p == '\n')
			*p = ' ';
	}
	sdn_notify(buf);
}

/* WATCHDOG=1; see sd_notify.h. */
void
sdn_watchdog(void)
{
	sdn_notify("WATCHDOG=1");
}

/* The watchdog timer: the main loop is alive.  Main thread. */
static void
sdn_watchdog_cb(evutil_socket_t fd __unused, short events __unused,
    void *arg __unused)
{
	sdn_watchdog();
}

/* Ping the watchdog at half its interval from `base`; see sd_notify.h. */
int
sdn_watchdog_start(struct event_base *base)
{
	struct timeval	 tv;
	uint64_t	 half;

	if (sdn_wd_usec == 0 || sdn_wd_ev != NULL)
		return (0);
	half = sdn_wd_usec / 2;
	if (half == 0)
		half = 1;
	tv.tv_sec = (time_t)(half / 1000000);
	tv.tv_usec = (suseconds_t)(half % 1000000);
	sdn_wd_ev = event_new(base, -1, EV_PERSIST, sdn_watchdog_cb, NULL);
	if (sdn_wd_ev == NULL || event_add(sdn_wd_ev, &tv) == -1) {
		log_warnx("watchdog: cannot add the timer");
		return (-1);
	}
	log_info("watchdog: pinging the service manager every %llu ms",
	    (unsigned long long)(half / 1000));
	sdn_watchdog();
	return (0);
}
