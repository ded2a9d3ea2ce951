/*
 * Socket activation, written by hand for the same reason as
 * sd_notify.c (no libsystemd at run time): the service manager (or
 * systemd-socket-activate, or any supervisor following sd_listen_fds(3))
 * binds and listens, then execs vhostd with the sockets as fds 3 ..
 * 3+$LISTEN_FDS-1, $LISTEN_PID set to vhostd's pid, and their names
 * (FileDescriptorName=) colon-separated in $LISTEN_FDNAMES.
 *
 * A device takes the fd named like the device; failing that, the fd
 * bound to the device's configured socket path (one .socket unit with
 * several ListenStream= lines gives every fd the same name).  An
 * activated socket belongs to the manager: vhostd never binds, chmods or
 * unlinks it, and keeps it open when a device is removed so that a
 * reload adding the device again gets it back.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sd_listen.h"
#include "xmalloc.h"

#define SD_LISTEN_FDS_START	3
#define SD_LISTEN_MAX		1024

/* One passed fd. */
struct sd_listen_fd {
	int	 fd;
	char	*name;		/* "unknown" when none was given */
	char	*path;		/* getsockname's path, "" when none */
	int	 taken;		/* by a device */
};

static struct sd_listen_fd	*sd_listen_fds;
static unsigned			 sd_listen_n;

/* Take over the passed fds; see sd_listen.h. */
void
sd_listen_init(void)
{
	struct sd_listen_fd	*l;
	struct sockaddr_un	 sun;
	socklen_t		 len;
	const char		*s, *names;
	char			*end, *copy, *next, *item;
	unsigned long		 pid, n;
	unsigned		 i;
	int			 flags;

	s = getenv("LISTEN_PID");
	names = getenv("LISTEN_FDNAMES");
	if (s == NULL || getenv("LISTEN_FDS") == NULL)
		goto out;
	errno = 0;
	pid = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || pid != (unsigned long)getpid()) {
		log_debug("%s: LISTEN_PID %s is not us", __func__, s);
		goto out;
	}
	s = getenv("LISTEN_FDS");
	n = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || n > SD_LISTEN_MAX) {
		log_warnx("socket activation: bad LISTEN_FDS '%s'", s);
		goto out;
	}
	sd_listen_fds = xcalloc(n == 0 ? 1 : n, sizeof *sd_listen_fds);
	copy = names != NULL ? xstrdup(names) : NULL;
	item = copy;
	for (i = 0; i < n; i++) {
		l = &sd_listen_fds[sd_listen_n];
		l->fd = SD_LISTEN_FDS_START + (int)i;
		next = item != NULL ? strchr(item, ':') : NULL;
		if (next != NULL)
			*next++ = '\0';
		l->name = xstrdup(item != NULL && *item != '\0' ? item :
		    "unknown");
		item = next;
		if ((flags = fcntl(l->fd, F_GETFD)) == -1) {
			log_warn("socket activation: fd %d (%s)", l->fd,
			    l->name);
			free(l->name);
			continue;
		}
		(void)fcntl(l->fd, F_SETFD, flags | FD_CLOEXEC);
		memset(&sun, 0, sizeof sun);
		len = sizeof sun - 1;	/* keep a NUL at the end */
		if (getsockname(l->fd, (struct sockaddr *)&sun, &len) == 0 &&
		    sun.sun_family == AF_UNIX && len > offsetof(struct
		    sockaddr_un, sun_path) && sun.sun_path[0] != '\0')
			l->path = xstrdup(sun.sun_path);	/* NUL: memset */
		else
			l->path = xstrdup("");
		log_debug("%s: fd %d name %s path %s", __func__, l->fd,
		    l->name, l->path);
		sd_listen_n++;
	}
	free(copy);
	if (sd_listen_n != 0)
		log_info("socket activation: %u socket%s passed", sd_listen_n,
		    sd_listen_n == 1 ? "" : "s");

out:
	/* Meant for this process only. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

/* How many fds were passed. */
unsigned
sd_listen_count(void)
{
	return (sd_listen_n);
}

/* Is `l` a listening AF_UNIX stream socket?  Made non-blocking.  0 or -1
 * with *cause. */
static int
sd_listen_check(const struct sd_listen_fd *l, const char *name, char **cause)
{
	struct sockaddr_un	 sun;
	socklen_t		 len;
	int			 type = 0, acc = 0, flags;

	len = sizeof type;
	if (getsockopt(l->fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1) {
		xasprintf(cause, "%s: socket activation: fd %d (%s) is not a "
		    "socket: %s", name, l->fd, l->name, strerror(errno));
		return (-1);
	}
	len = sizeof acc;
	if (getsockopt(l->fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == -1)
		acc = 0;
	len = sizeof sun;
	memset(&sun, 0, sizeof sun);
	if (getsockname(l->fd, (struct sockaddr *)&sun, &len) == -1)
		sun.sun_family = AF_UNSPEC;
	if (type != SOCK_STREAM || !acc || sun.sun_family != AF_UNIX) {
		xasprintf(cause, "%s: socket activation: fd %d (%s) is not a "
		    "listening unix stream socket (ListenStream= with a "
		    "path, Accept=no)", name, l->fd, l->name);
		return (-1);
	}
	if ((flags = fcntl(l->fd, F_GETFL)) == -1 ||
	    fcntl(l->fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		xasprintf(cause, "%s: socket activation: fd %d: %s", name,
		    l->fd, strerror(errno));
		return (-1);
	}
	return (0);
}

/* The activated socket for a device; see sd_listen.h. */
int
sd_listen_take(const char *name, const char *path, int *fdp, char **cause)
{
	struct sd_listen_fd	*l = NULL;
	unsigned		 i;

	for (i = 0; i < sd_listen_n && l == NULL; i++) {
		if (!sd_listen_fds[i].taken &&
		    strcmp(sd_listen_fds[i].name, name) == 0)
			l = &sd_listen_fds[i];
	}
	for (i = 0; i < sd_listen_n && l == NULL && path != NULL; i++) {
		if (!sd_listen_fds[i].taken &&
		    strcmp(sd_listen_fds[i].path, path) == 0)
			l = &sd_listen_fds[i];
	}
	if (l == NULL)
		return (0);
	if (sd_listen_check(l, name, cause) == -1)
		return (-1);
	if (path != NULL && *l->path != '\0' && strcmp(l->path, path) != 0)
		log_info("%s: socket activation: fd %d is bound to %s, not "
		    "the configured %s", name, l->fd, l->path, path);
	l->taken = 1;
	*fdp = l->fd;
	return (1);
}

/* Keep an activated fd open for a later device; see sd_listen.h. */
int
sd_listen_release(int fd)
{
	unsigned	 i;

	for (i = 0; i < sd_listen_n; i++) {
		if (sd_listen_fds[i].fd == fd) {
			sd_listen_fds[i].taken = 0;
			return (1);
		}
	}
	return (0);
}

/* Warn about every passed fd no device took; see sd_listen.h. */
void
sd_listen_warn_unused(void)
{
	unsigned	 i;

	for (i = 0; i < sd_listen_n; i++) {
		if (!sd_listen_fds[i].taken)
			log_warnx("socket activation: fd %d (name %s, %s) "
			    "matches no device: kept open, not served",
			    sd_listen_fds[i].fd, sd_listen_fds[i].name,
			    *sd_listen_fds[i].path != '\0' ?
			    sd_listen_fds[i].path : "no path");
	}
}

/* Close every passed fd; see sd_listen.h. */
void
sd_listen_fini(void)
{
	unsigned	 i;

	for (i = 0; i < sd_listen_n; i++) {
		close(sd_listen_fds[i].fd);
		free(sd_listen_fds[i].name);
		free(sd_listen_fds[i].path);
	}
	free(sd_listen_fds);
	sd_listen_fds = NULL;
	sd_listen_n = 0;
}
