/*
 * console: the host side of a port.
 *
 *	pty	a pseudo-terminal, opened at create; its path is logged (and
 *		linked from link=PATH).  A reader is "attached" while some
 *		process has the slave open: the master is polled every
 *		CONSOLE_POLL_MS for POLLHUP, as QEMU does, since Linux gives
 *		the master no event for it.  On port 0 the same poll reads
 *		the window size (TIOCGWINSZ), so `stty cols 100 rows 40` or
 *		a terminal program resizing the pty becomes a RESIZE.
 *	stdio	the daemon's stdin and stdout (console_tty.c: a terminal,
 *		its escape and its reader with no frontend).  One stdio
 *		port per process.
 *	unix	a listening unix socket (mode 0600); one client at a time.
 *	tcp	a listening TCP socket, 127.0.0.1 unless an address is given.
 *	file	guest output appended to a file; no input; always attached.
 *
 * A second client on a unix or tcp port is refused (closed at once) or
 * replaces the first one, as the port's client= option says.
 *
 * Fds are opened on the main thread by create, and closed by destroy.
 * Every other function runs on the home worker; the watches exist only
 * while the device's queues run (console_backend_start/stop), so host
 * events that happen while no frontend is connected wait in the kernel.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "console.h"

#define CONSOLE_ACCEPT_MAX	8	/* accepts per listen event */

static void	console_backend_rd_cb(struct vhd_watch *, int, short, void *);
static void	console_backend_wr_cb(struct vhd_watch *, int, short, void *);

/* Set O_NONBLOCK on an fd; 0 or -1. */
static int
console_backend_nonblock(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ? -1 : 0);
}

/*
 * Open a pseudo-terminal in raw mode; port 0's gets the console size.
 * Its slave is opened and closed once so that the master reports POLLHUP
 * until a reader opens it.  Main thread.
 */
static int
console_backend_open_pty(struct console_port *p, char **cause)
{
	struct termios	 t;
	struct winsize	 ws;
	struct stat	 st;
	int		 m, s = -1;

	if ((m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1) {
		*cause = console_cause("console: port%u: cannot open a pty: "
		    "%s", p->id, strerror(errno));
		return (-1);
	}
	if (grantpt(m) == -1 || unlockpt(m) == -1 ||
	    ptsname_r(m, p->pty_name, sizeof(p->pty_name)) != 0 ||
	    (s = open(p->pty_name, O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1 ||
	    tcgetattr(s, &t) == -1) {
		*cause = console_cause("console: port%u: cannot set up a "
		    "pty: %s", p->id, strerror(errno));
		goto fail;
	}
	cfmakeraw(&t);
	if (tcsetattr(s, TCSANOW, &t) == -1 ||
	    console_backend_nonblock(m) == -1) {
		*cause = console_cause("console: port%u: cannot set up a "
		    "pty: %s", p->id, strerror(errno));
		goto fail;
	}
	if (p->id == 0) {
		memset(&ws, 0, sizeof(ws));
		ws.ws_col = p->con->cols;
		ws.ws_row = p->con->rows;
		(void)ioctl(m, TIOCSWINSZ, &ws);
		p->ws_cols = ws.ws_col;
		p->ws_rows = ws.ws_row;
	}
	close(s);
	s = -1;
	if (p->link != NULL) {
		if (lstat(p->link, &st) == 0) {
			if (!S_ISLNK(st.st_mode)) {
				*cause = console_cause("console: port%u: link "
				    "%s exists and is not a symlink", p->id,
				    p->link);
				goto fail;
			}
			(void)unlink(p->link);
		}
		if (symlink(p->pty_name, p->link) == -1) {
			*cause = console_cause("console: port%u: cannot link "
			    "%s: %s", p->id, p->link, strerror(errno));
			goto fail;
		}
		if (lstat(p->link, &st) == -1 ||
		    (p->link_made = strdup(p->link)) == NULL) {
			(void)unlink(p->link);
			*cause = console_cause("console: port%u: cannot link "
			    "%s: %s", p->id, p->link, strerror(errno));
			goto fail;
		}
		p->link_dev = st.st_dev;
		p->link_ino = st.st_ino;
	}
	p->rfd = p->wfd = m;
	p->con->api->log(p->con->dev, VHD_LOG_INFO, "port %u: pty %s%s%s",
	    p->id, p->pty_name, p->link != NULL ? " linked from " : "",
	    p->link != NULL ? p->link : "");
	return (0);

fail:
	if (s != -1)
		close(s);
	close(m);
	return (-1);
}

/*
 * Bind a unix socket at path, replacing a stale socket file (one nobody
 * listens on).  0 or -1 with errno.  Main thread.
 */
static int
console_backend_bind_unix(int fd, const struct sockaddr_un *sun)
{
	struct stat	 st;
	int		 t, rc, error;

	if (bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
		return (0);
	if (errno != EADDRINUSE)
		return (-1);
	if (lstat(sun->sun_path, &st) == -1 || !S_ISSOCK(st.st_mode)) {
		errno = EADDRINUSE;
		return (-1);
	}
	if ((t = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	rc = connect(t, (const struct sockaddr *)sun, sizeof(*sun));
	error = errno;
	close(t);
	if (rc == 0 || error != ECONNREFUSED) {
		errno = EADDRINUSE;
		return (-1);
	}
	if (unlink(sun->sun_path) == -1)
		return (-1);
	return (bind(fd, (const struct sockaddr *)sun, sizeof(*sun)));
}

/* Listen on a unix socket.  Main thread. */
static int
console_backend_open_unix(struct console_port *p, char **cause)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(p->path) >= sizeof(sun.sun_path)) {
		*cause = console_cause("console: port%u: unix socket path "
		    "too long: %s", p->id, p->path);
		return (-1);
	}
	memcpy(sun.sun_path, p->path, strlen(p->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || console_backend_bind_unix(fd, &sun) == -1) {
		*cause = console_cause("console: port%u: cannot bind %s: %s",
		    p->id, p->path, strerror(errno));
		goto fail;
	}
	if ((p->unix_made = strdup(p->path)) == NULL) {
		(void)unlink(p->path);
		*cause = console_cause("console: out of memory");
		goto fail;
	}
	if (chmod(p->path, 0600) == -1 || listen(fd, 8) == -1) {
		*cause = console_cause("console: port%u: cannot listen on %s: "
		    "%s", p->id, p->path, strerror(errno));
		goto fail;
	}
	p->listen_fd = fd;
	p->con->api->log(p->con->dev, VHD_LOG_INFO, "port %u: listening on "
	    "unix socket %s", p->id, p->path);
	return (0);

fail:
	if (fd != -1)
		close(fd);
	return (-1);
}

/* Listen on a TCP address (loopback unless given).  Main thread. */
static int
console_backend_open_tcp(struct console_port *p, char **cause)
{
	struct addrinfo		 hints, *res, *ai;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	char			 hbuf[NI_MAXHOST], sbuf[NI_MAXSERV];
	int			 fd = -1, on = 1, rc, error = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(p->host, p->service, &hints, &res)) != 0) {
		*cause = console_cause("console: port%u: tcp address %s: %s",
		    p->id, p->host, gai_strerror(rc));
		return (-1);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			error = errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 8) == 0)
			break;
		error = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		*cause = console_cause("console: port%u: cannot listen on "
		    "tcp %s:%s: %s", p->id, p->host, p->service,
		    strerror(error));
		return (-1);
	}
	p->listen_fd = fd;
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sslen, hbuf, sizeof(hbuf),
	    sbuf, sizeof(sbuf), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		p->con->api->log(p->con->dev, VHD_LOG_INFO, "port %u: "
		    "listening on tcp %s port %s", p->id, hbuf, sbuf);
	return (0);
}

/* Open the output file, appending.  Main thread. */
static int
console_backend_open_file(struct console_port *p, char **cause)
{
	p->wfd = open(p->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK, 0640);
	if (p->wfd == -1) {
		*cause = console_cause("console: port%u: cannot open %s: %s",
		    p->id, p->path, strerror(errno));
		return (-1);
	}
	p->connected = 1;
	p->con->api->log(p->con->dev, VHD_LOG_INFO, "port %u: output to file "
	    "%s", p->id, p->path);
	return (0);
}

/*
 * Open a port's backend.  0, or -1 with *cause (what was opened is closed
 * by console_backend_close).  Main thread, in create.
 */
int
console_backend_open(struct console_port *p, char **cause)
{
	static int	(*const open_fn[])(struct console_port *, char **) = {
		[CONSOLE_BE_PTY] = console_backend_open_pty,
		[CONSOLE_BE_STDIO] = console_tty_open,
		[CONSOLE_BE_UNIX] = console_backend_open_unix,
		[CONSOLE_BE_TCP] = console_backend_open_tcp,
		[CONSOLE_BE_FILE] = console_backend_open_file,
	};

	p->is_socket = 0;
	return (open_fn[p->be](p, cause));
}

/*
 * Close everything of a port's backend: the client, the listening socket
 * and its file, the pty link; give a terminal its settings back.  Main
 * thread, in destroy (or create failing).
 */
void
console_backend_close(struct console_port *p)
{
	struct stat	 st;

	/* First the terminal's idle reader, which polls rfd. */
	console_tty_close(p);
	if (p->rfd != -1)
		close(p->rfd);
	if (p->wfd != -1 && p->wfd != p->rfd)
		close(p->wfd);
	p->rfd = p->wfd = -1;
	if (p->listen_fd != -1)
		close(p->listen_fd);
	p->listen_fd = -1;
	if (p->unix_made != NULL) {
		(void)unlink(p->unix_made);
		free(p->unix_made);
		p->unix_made = NULL;
	}
	if (p->link_made != NULL) {
		/* Remove the link only if it is still the one we made
		 * (readlink is not allowed under the seccomp filter). */
		if (lstat(p->link_made, &st) == 0 && S_ISLNK(st.st_mode) &&
		    st.st_dev == p->link_dev && st.st_ino == p->link_ino)
			(void)unlink(p->link_made);
		free(p->link_made);
		p->link_made = NULL;
	}
	p->connected = 0;
}

/*
 * Arm (want != 0, with a timeout when msec >= 0) or disarm a watch of
 * port p, tracking its state in *armed.  A NULL watch (queues stopped) is
 * left alone.
 */
void
console_backend_arm(struct console_port *p, struct vhd_watch *w, int *armed,
    int want, long msec)
{
	const struct vhd_api	*api = p->con->api;

	if (w == NULL)
		return;
	if (want && !*armed) {
		if (api->watch_add(w, msec) == 0)
			*armed = 1;
	} else if (!want && *armed) {
		(void)api->watch_del(w);
		*armed = 0;
	}
}

/* Can input be read from the backend now? */
int
console_backend_can_read(struct console_port *p)
{
	if (p->rfd == -1 || p->input_eof)
		return (0);
	return (p->be == CONSOLE_BE_STDIO || p->connected);
}

/* Create the read and write watches of the client fds.  0 or -1. */
static int
console_backend_watch_fds(struct console_port *p)
{
	struct console		*con = p->con;
	const struct vhd_api	*api = con->api;

	if (!con->running)
		return (0);
	if (p->rfd != -1 && p->rd_w == NULL &&
	    (p->rd_w = api->watch_new(con->dev, con->home, p->rfd,
	    VHD_EV_READ | VHD_EV_PERSIST, console_backend_rd_cb, p)) == NULL)
		return (-1);
	if (p->wfd != -1 && p->wr_w == NULL &&
	    (p->wr_w = api->watch_new(con->dev, con->home, p->wfd,
	    VHD_EV_WRITE, console_backend_wr_cb, p)) == NULL)
		return (-1);
	return (0);
}

/* Free the read and write watches of the client fds. */
static void
console_backend_unwatch_fds(struct console_port *p)
{
	const struct vhd_api	*api = p->con->api;

	if (p->rd_w != NULL)
		api->watch_free(p->rd_w);
	if (p->wr_w != NULL)
		api->watch_free(p->wr_w);
	p->rd_w = p->wr_w = NULL;
	p->rd_armed = p->wr_armed = 0;
}

/*
 * The client is gone or failed: close it (sockets), stop using it (pty,
 * stdio output, file), and tell the port.
 */
void
console_backend_detach(struct console_port *p, const char *why)
{
	if (!p->connected)
		return;
	p->connected = 0;
	if (p->is_socket) {
		console_backend_unwatch_fds(p);
		close(p->rfd);
		p->rfd = p->wfd = -1;
		p->is_socket = 0;
	} else {
		console_backend_arm(p, p->wr_w, &p->wr_armed, 0, -1);
		console_backend_arm(p, p->rd_w, &p->rd_armed, 0, -1);
	}
	if (p->be == CONSOLE_BE_FILE || p->be == CONSOLE_BE_STDIO) {
		/* No client can come back: remove the port from the guest. */
		p->con->api->log(p->con->dev, VHD_LOG_ERR, "port %u: output "
		    "failed (%s); removing the port", p->id, why);
		p->removed = 1;
		console_ctrl_pend(p, CONSOLE_PEND_REMOVE);
	}
	console_port_detached(p, why);
}

/* Take a new client fd as the port's client. */
static void
console_backend_attach(struct console_port *p, int fd)
{
	p->rfd = p->wfd = fd;
	p->is_socket = 1;
	p->connected = 1;
	if (console_backend_watch_fds(p) != 0) {
		console_warn(p->con, "port %u: cannot watch a client, closed",
		    p->id);
		console_backend_unwatch_fds(p);
		close(fd);
		p->rfd = p->wfd = -1;
		p->is_socket = 0;
		p->connected = 0;
		return;
	}
	console_port_attached(p);
}

/*
 * Read host input into buf (len >= 2).  Returns the bytes read; 0 when
 * there is nothing now, or the input ended (the client is detached, or
 * stdin marked ended).
 */
ssize_t
console_backend_read(struct console_port *p, void *buf, size_t len)
{
	uint8_t	 raw[CONSOLE_IN_SIZE];
	ssize_t	 n;

	if (p->tty_raw) {
		if (len - 1 < sizeof(raw))
			len = len - 1;
		else
			len = sizeof(raw);
		n = read(p->rfd, raw, len);
	} else
		n = read(p->rfd, buf, len);
	if (n > 0) {
		if (p->tty_raw)
			n = (ssize_t)console_tty_escape(p, raw, (size_t)n,
			    buf);
		return (n);
	}
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return (0);
	if (p->be == CONSOLE_BE_STDIO) {
		p->input_eof = 1;
		p->con->api->log(p->con->dev, VHD_LOG_INFO, "port %u: stdin "
		    "%s", p->id, n == 0 ? "closed" : strerror(errno));
		console_backend_arm(p, p->rd_w, &p->rd_armed, 0, -1);
		return (0);
	}
	if (n == 0)
		console_backend_detach(p, "closed by the client");
	else if (p->be == CONSOLE_BE_PTY && errno == EIO)
		console_backend_detach(p, "pty closed by its last reader");
	else
		console_backend_detach(p, strerror(errno));
	return (0);
}

/* Write to the backend without blocking (never SIGPIPE).  Returns the
 * bytes written or -1 with errno. */
ssize_t
console_backend_write(struct console_port *p, const struct iovec *iov,
    int cnt)
{
	struct msghdr	 msg;

	if (p->wfd == -1) {
		errno = EPIPE;
		return (-1);
	}
	if (!p->is_socket)
		return (writev(p->wfd, iov, cnt));
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = (struct iovec *)(uintptr_t)iov;
	msg.msg_iovlen = (size_t)cnt;
	return (sendmsg(p->wfd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT));
}

/* The client fd is readable: serve input. */
static void
console_backend_rd_cb(struct vhd_watch *w, int fd, short events, void *arg)
{
	(void)w;
	(void)fd;
	(void)events;
	console_port_rx(arg);
}

/* The client fd is writable: serve output. */
static void
console_backend_wr_cb(struct vhd_watch *w, int fd, short events, void *arg)
{
	struct console_port	*p = arg;

	(void)w;
	(void)fd;
	(void)events;
	p->wr_armed = 0;
	console_port_tx(p);
}

/* The resume timer: go on with work cut short by the budget. */
static void
console_backend_resume_cb(struct vhd_watch *w, int fd, short events,
    void *arg)
{
	struct console_port	*p = arg;

	(void)w;
	(void)fd;
	(void)events;
	p->resume_armed = 0;
	console_port_tx(p);
	console_port_rx(p);
}

/* Accept clients on the listening socket. */
static void
console_backend_listen_cb(struct vhd_watch *w, int lfd, short events,
    void *arg)
{
	struct console_port	*p = arg;
	int			 i, fd, on = 1;

	(void)w;
	(void)events;
	for (i = 0; i < CONSOLE_ACCEPT_MAX; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			console_warn(p->con, "port %u: accept: %s; retrying "
			    "in %d ms", p->id, strerror(errno),
			    CONSOLE_RETRY_MS);
			(void)p->con->api->watch_del(p->listen_w);
			p->listen_paused = 1;
			console_backend_arm(p, p->poll_w, &p->poll_armed, 1,
			    CONSOLE_RETRY_MS);
			return;
		}
		if (p->connected && p->policy == CONSOLE_CLIENT_REFUSE) {
			console_warn(p->con, "port %u: refused a client: one "
			    "is already attached", p->id);
			close(fd);
			continue;
		}
		if (p->connected)
			console_backend_detach(p, "replaced by a new client");
		if (p->be == CONSOLE_BE_TCP)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on,
			    sizeof(on));
		console_backend_attach(p, fd);
	}
}

/* Check port 0's terminal size. */
static void
console_backend_winsize(struct console_port *p, int fd)
{
	struct winsize	 ws;

	if (p->id != 0 || fd == -1 || ioctl(fd, TIOCGWINSZ, &ws) == -1 ||
	    ws.ws_col == 0 || ws.ws_row == 0)
		return;
	if (ws.ws_col == p->ws_cols && ws.ws_row == p->ws_rows)
		return;
	p->ws_cols = ws.ws_col;
	p->ws_rows = ws.ws_row;
	console_set_size(p->con, ws.ws_col, ws.ws_row);
}

/* Poll a pty: has it a reader now, and (port 0) a new size? */
static void
console_backend_pty_poll(struct console_port *p)
{
	struct pollfd	 pfd;
	int		 hup;

	pfd.fd = p->rfd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) == -1)
		return;
	hup = (pfd.revents & POLLHUP) != 0;
	if (!hup && !p->connected) {
		p->connected = 1;
		console_port_attached(p);
	} else if (hup && p->connected)
		console_backend_detach(p, "pty closed by its last reader");
	console_backend_winsize(p, p->rfd);
}

/* The poll timer: pty state and size, terminal size, accept retry. */
static void
console_backend_poll_cb(struct vhd_watch *w, int fd, short events,
    void *arg)
{
	struct console_port	*p = arg;

	(void)w;
	(void)fd;
	(void)events;
	p->poll_armed = 0;
	if (p->listen_paused) {
		p->listen_paused = 0;
		if (p->con->api->watch_add(p->listen_w, -1) != 0)
			p->con->api->dev_fail(p->con->dev, "console: cannot "
			    "watch a listening socket");
		if (p->be != CONSOLE_BE_PTY && p->tty_fd < 0)
			return;
	}
	if (p->be == CONSOLE_BE_PTY)
		console_backend_pty_poll(p);
	else
		console_backend_winsize(p, p->tty_fd);
	console_backend_arm(p, p->poll_w, &p->poll_armed, 1, CONSOLE_POLL_MS);
}

/*
 * The device's queues run: create the port's watches on the home worker,
 * look at the pty, and write what waits.  0 or -1.
 */
int
console_backend_start(struct console_port *p)
{
	struct console		*con = p->con;
	const struct vhd_api	*api = con->api;
	int			 polls;

	polls = p->be == CONSOLE_BE_PTY || (p->be == CONSOLE_BE_STDIO &&
	    p->id == 0 && p->tty_fd >= 0);
	if ((p->resume_w = api->watch_new(con->dev, con->home, -1, 0,
	    console_backend_resume_cb, p)) == NULL)
		return (-1);
	if ((polls || p->listen_fd != -1) &&
	    (p->poll_w = api->watch_new(con->dev, con->home, -1, 0,
	    console_backend_poll_cb, p)) == NULL)
		return (-1);
	if (p->listen_fd != -1) {
		p->listen_w = api->watch_new(con->dev, con->home,
		    p->listen_fd, VHD_EV_READ | VHD_EV_PERSIST,
		    console_backend_listen_cb, p);
		if (p->listen_w == NULL ||
		    api->watch_add(p->listen_w, -1) != 0)
			return (-1);
	}
	if (console_backend_watch_fds(p) != 0)
		return (-1);
	if (p->be == CONSOLE_BE_PTY)
		console_backend_pty_poll(p);
	if (polls)
		console_backend_arm(p, p->poll_w, &p->poll_armed, 1,
		    CONSOLE_POLL_MS);
	console_port_tx(p);
	console_port_update_read(p);
	return (0);
}

/* The device's queues stopped: free the port's watches (the fds stay). */
void
console_backend_stop(struct console_port *p)
{
	const struct vhd_api	*api = p->con->api;

	console_backend_unwatch_fds(p);
	if (p->listen_w != NULL)
		api->watch_free(p->listen_w);
	if (p->poll_w != NULL)
		api->watch_free(p->poll_w);
	if (p->resume_w != NULL)
		api->watch_free(p->resume_w);
	p->listen_w = p->poll_w = p->resume_w = NULL;
	p->poll_armed = p->resume_armed = p->listen_paused = 0;
}
