/*
 * The host side of hybrid vsock, Firecracker style.
 *
 * Host to guest: a host process connects to the unix socket at uds-path
 * and writes "CONNECT <port>\n".  The line may arrive in pieces: it is
 * peeked and taken only up to its newline, so bytes after the newline
 * stay in the socket and are forwarded as the first data.  The guest is
 * sent a REQUEST from a fresh host port (from 2^30 up); on its RESPONSE
 * the host reads "OK <host port>\n" and the stream is the connection.  A
 * bad line is answered "ERR <reason>\n" and closed; a guest RST or no
 * answer within connect-timeout of the REQUEST reaching the guest's rx
 * queue closes the host socket.
 *
 * Guest to host: a REQUEST for host port P connects, without blocking,
 * to the unix listener "<uds-path>_<P>" (SOCK_SEQPACKET for a seqpacket
 * connection).  No listener: RST at once.  A full listen backlog
 * (EAGAIN) is retried every few ms until connect-timeout.
 *
 * The listener is bound when the queues first run (so "vhostd -n" binds
 * nothing), watched from then until the device is reset (also while the
 * VM is paused: new host connections wait for it), and removed when the
 * device is destroyed; everything but the create-time checks runs on the
 * worker.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "vsock.h"

#define VSOCK_HOST_BACKLOG	128
#define VSOCK_HOST_ACCEPTS	32	/* per wake-up */

/* Return a malloc'd message for *cause.  Any thread. */
static char * __attribute__((format(printf, 1, 2)))
vsock_host_cause(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	return (s);
}

/* Fill a unix address; -1 when the path does not fit.  Any thread. */
static int
vsock_host_addr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return (-1);
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return (0);
}

/*
 * Check uds-path at create: it must leave room for "_<port>" and must not
 * name anything but a socket.  Nothing is bound yet (vhostd -n creates
 * devices too, and must not touch a running daemon's socket).  Returns 0
 * or -1 with *cause.  Main thread.
 */
int
vsock_host_listen(struct vsock *vs, char **cause)
{
	struct sockaddr_un	 sun;
	struct stat		 st;

	vs->listen_fd = -1;
	if (vs->uds_path == NULL)
		return (0);
	/* Room for "_4294967295" after the path, for guest connects. */
	if (vsock_host_addr(&sun, vs->uds_path) != 0 ||
	    strlen(vs->uds_path) + 11 >= sizeof(sun.sun_path)) {
		*cause = vsock_host_cause("vsock: uds-path '%s' is too long "
		    "(at most %zu bytes)", vs->uds_path,
		    sizeof(sun.sun_path) - 12);
		return (-1);
	}
	if (lstat(vs->uds_path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		*cause = vsock_host_cause("vsock: uds-path '%s' exists and is "
		    "not a socket", vs->uds_path);
		return (-1);
	}
	return (0);
}

/*
 * Bind and listen on uds-path (once, when the queues first run),
 * replacing a stale socket file but never a live one.  0 or -1 (logged).
 * Worker.
 */
static int
vsock_host_bind(struct vsock *vs)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd, probe, live;

	if (vsock_host_addr(&sun, vs->uds_path) != 0)
		return (-1);
	if (lstat(vs->uds_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			vs->api->log(vs->dev, VHD_LOG_ERR, "uds-path %s is "
			    "not a socket; no host side", vs->uds_path);
			return (-1);
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		live = probe != -1 && (connect(probe, (struct sockaddr *)&sun,
		    sizeof(sun)) == 0 || errno == EAGAIN);
		if (probe != -1)
			close(probe);
		if (live) {
			vs->api->log(vs->dev, VHD_LOG_ERR, "uds-path %s is in "
			    "use by another process; no host side",
			    vs->uds_path);
			return (-1);
		}
		(void)unlink(vs->uds_path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, VSOCK_HOST_BACKLOG) == -1) {
		vs->api->log(vs->dev, VHD_LOG_ERR, "uds-path %s: %s",
		    vs->uds_path, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	vs->listen_fd = fd;
	vs->api->log(vs->dev, VHD_LOG_INFO, "host side listening on %s",
	    vs->uds_path);
	return (0);
}

/* Close and remove the listener if we bound it.  Main thread, queues
 * stopped. */
void
vsock_host_close(struct vsock *vs)
{
	if (vs->listen_fd == -1)
		return;
	close(vs->listen_fd);
	(void)unlink(vs->uds_path);
	vs->listen_fd = -1;
}

/* The listener is readable: accept host connections.  Worker. */
static void
vsock_host_accept_cb(struct vhd_watch *w, int fd, short events, void *arg)
{
	struct vsock		*vs = arg;
	struct vsock_conn	*conn;
	unsigned		 i;
	int			 s;

	(void)w;
	(void)events;
	for (i = 0; i < VSOCK_HOST_ACCEPTS; i++) {
		s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				vsock_warn(vs, "accept on %s: %s",
				    vs->uds_path, strerror(errno));
			return;
		}
		if (vs->nconns >= vs->max_conns) {
			vsock_warn(vs, "host connection refused: %u "
			    "connections (max-connections)", vs->nconns);
			close(s);
			continue;
		}
		if ((conn = vsock_conn_new(vs, s, VSOCK_ST_HOST_CMD)) == NULL) {
			close(s);
			continue;
		}
		if (vsock_conn_arm_read(conn) != 0) {
			vsock_warn(vs, "cannot watch a host socket");
			vsock_conn_free(conn);
		}
	}
}

/* Watch the listener (queues started).  0 or -1.  Worker. */
int
vsock_host_start(struct vsock *vs)
{
	const struct vhd_api	*api = vs->api;

	if (vs->uds_path == NULL || vs->listen_w != NULL)
		return (0);
	if (vs->listen_fd == -1 && vsock_host_bind(vs) != 0)
		return (-1);
	vs->listen_w = api->watch_new(vs->dev, vs->worker, vs->listen_fd,
	    VHD_EV_READ | VHD_EV_PERSIST, vsock_host_accept_cb, vs);
	if (vs->listen_w == NULL)
		return (-1);
	if (api->watch_add(vs->listen_w, -1) != 0) {
		api->watch_free(vs->listen_w);
		vs->listen_w = NULL;
		return (-1);
	}
	return (0);
}

/* Stop watching the listener.  Worker. */
void
vsock_host_stop(struct vsock *vs)
{
	if (vs->listen_w != NULL)
		vs->api->watch_free(vs->listen_w);
	vs->listen_w = NULL;
}

/* Answer a bad line with "ERR <why>\n" (best effort) and close.
 * Worker. */
static void
vsock_host_refuse(struct vsock_conn *conn, const char *why)
{
	char	 msg[96];
	int	 n;

	n = snprintf(msg, sizeof(msg), "ERR %s\n", why);
	if (n > 0)
		(void)send(conn->fd, msg, (size_t)n, MSG_NOSIGNAL |
		    MSG_DONTWAIT);
	vsock_conn_free(conn);
}

/*
 * Parse "CONNECT <port>" (the keyword in any case, spaces around, an
 * optional CR before the newline already removed).  0 or -1.  Any
 * thread.
 */
static int
vsock_host_parse(const char *line, uint32_t *port)
{
	unsigned long long	 v;
	const char		*p = line;
	char			*end;

	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "CONNECT", 7) != 0 || (p[7] != ' ' &&
	    p[7] != '\t'))
		return (-1);
	p += 7;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!isdigit((unsigned char)*p))
		return (-1);
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno != 0 || v > UINT32_MAX)
		return (-1);
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end != '\0')
		return (-1);
	*port = (uint32_t)v;
	return (0);
}

/* A free host port for a connection to guest port `peer`.  Worker. */
static int
vsock_host_port(struct vsock *vs, uint32_t peer, uint32_t *port)
{
	unsigned	 i;
	uint32_t	 p;

	for (i = 0; i < 4096; i++) {
		p = vs->next_port++;
		if (vs->next_port == 0)
			vs->next_port = VSOCK_LOCAL_PORT_BASE;
		if (p < VSOCK_LOCAL_PORT_BASE)
			continue;
		if (vsock_conn_find(vs, p, peer) == NULL) {
			*port = p;
			return (0);
		}
	}
	return (-1);
}

/*
 * The host socket of a connection in HOST_CMD state is readable: take
 * what there is of the CONNECT line, up to its newline, and start the
 * connect to the guest once it is complete.  Worker.
 */
void
vsock_host_line(struct vsock_conn *conn)
{
	struct vsock	*vs = conn->vs;
	char		 peek[VSOCK_LINE_MAX], *nl;
	size_t		 room = sizeof(conn->line) - 1 - conn->line_len, take;
	uint32_t	 port;
	ssize_t		 n;

	do {
		n = recv(conn->fd, peek, room, MSG_PEEK | MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)) {
		vsock_conn_free(conn);
		return;
	}
	if (n == -1)
		goto again;
	nl = memchr(peek, '\n', (size_t)n);
	take = nl != NULL ? (size_t)(nl - peek) + 1 : (size_t)n;
	n = recv(conn->fd, conn->line + conn->line_len, take, MSG_DONTWAIT);
	if (n != (ssize_t)take) {
		vsock_conn_free(conn);
		return;
	}
	conn->line_len += take;
	conn->line[conn->line_len] = '\0';
	if (nl == NULL) {
		if (conn->line_len == sizeof(conn->line) - 1) {
			vsock_host_refuse(conn, "line too long");
			return;
		}
		goto again;
	}
	conn->line[--conn->line_len] = '\0';
	if (conn->line_len > 0 && conn->line[conn->line_len - 1] == '\r')
		conn->line[--conn->line_len] = '\0';
	if (vsock_host_parse(conn->line, &port) != 0) {
		vsock_host_refuse(conn, "expected CONNECT <port>");
		return;
	}
	if (vsock_host_port(vs, port, &conn->local_port) != 0) {
		vsock_host_refuse(conn, "no free host port");
		return;
	}
	conn->peer_port = port;
	conn->state = VSOCK_ST_LOCAL_INIT;
	conn->pending |= VSOCK_PEND_REQUEST;
	vsock_conn_hash(conn);
	/* The connect timer starts when the REQUEST goes out. */
	vsock_conn_schedule(conn);
	return;

again:
	if (vsock_conn_arm_read(conn) != 0) {
		vsock_warn(vs, "cannot watch a host socket");
		vsock_conn_free(conn);
	}
}

/* The unix connect succeeded: answer the guest.  Worker. */
static void
vsock_host_connected(struct vsock_conn *conn)
{
	if (conn->timer != NULL && conn->timer_armed)
		(void)conn->vs->api->watch_del(conn->timer);
	conn->timer_armed = 0;
	conn->state = VSOCK_ST_ESTABLISHED;
	conn->pending |= VSOCK_PEND_RESPONSE;
	conn->readable = 1;
	vsock_conn_schedule(conn);
}

/*
 * Start or retry the non-blocking connect of a guest REQUEST to
 * "<uds-path>_<port>": done (RESPONSE queued), waiting (a watch or the
 * retry timer armed) or failed (RST queued, the connection freed).
 * Worker.
 */
void
vsock_host_connect_retry(struct vsock_conn *conn)
{
	struct vsock		*vs = conn->vs;
	struct sockaddr_un	 sun;
	char			 path[sizeof(sun.sun_path) + 16];
	socklen_t		 slen;
	int			 err = 0;

	if (conn->fd != -1 && conn->wr_armed == 0 && conn->deadline_ms == 0) {
		/* EINPROGRESS completed: the WRITE watch fired. */
		slen = sizeof(err);
		if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err,
		    &slen) == -1)
			err = errno;
		if (err == 0) {
			vsock_host_connected(conn);
			return;
		}
		goto fail;
	}
	if (vsock_now_ms() >= conn->deadline_ms) {
		err = ETIMEDOUT;
		goto fail;
	}
	if (conn->fd != -1) {
		close(conn->fd);
		conn->fd = -1;
	}
	(void)snprintf(path, sizeof(path), "%s_%u", vs->uds_path,
	    conn->local_port);
	if (vsock_host_addr(&sun, path) != 0) {
		err = ENAMETOOLONG;
		goto fail;
	}
	conn->fd = socket(AF_UNIX, (conn->type == VSOCK_TYPE_SEQPACKET ?
	    SOCK_SEQPACKET : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (conn->fd == -1) {
		err = errno;
		goto fail;
	}
	if (connect(conn->fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		vsock_host_connected(conn);
		return;
	}
	err = errno;
	if (err == EAGAIN || err == EINTR) {
		if (vsock_conn_arm_timer(conn, VSOCK_RETRY_MS) == 0)
			return;
	} else if (err == EINPROGRESS) {
		conn->deadline_ms = 0;
		if (vsock_conn_arm_write(conn) == 0 &&
		    vsock_conn_arm_timer(conn, vs->connect_ms) == 0)
			return;
	}

fail:
	vs->api->log(vs->dev, VHD_LOG_DEBUG, "guest port %u -> host port "
	    "%u: %s", conn->peer_port, conn->local_port, strerror(err));
	vsock_conn_kill(conn);
}

/*
 * A guest REQUEST for a host port with no connection yet: check the cap
 * and the configuration, then connect to the port's unix listener.
 * Worker.
 */
void
vsock_host_connect(struct vsock *vs, const struct vsock_hdr *h)
{
	struct vsock_conn	*conn;

	if (vs->uds_path == NULL) {
		vsock_ctl_rst(vs, h);
		return;
	}
	if (vs->nconns >= vs->max_conns) {
		vsock_warn(vs, "guest connect to port %u refused: %u "
		    "connections (max-connections)", h->dst_port, vs->nconns);
		vsock_ctl_rst(vs, h);
		return;
	}
	if ((conn = vsock_conn_new(vs, -1, VSOCK_ST_PEER_INIT)) == NULL) {
		vsock_ctl_rst(vs, h);
		return;
	}
	conn->type = h->type;
	conn->local_port = h->dst_port;
	conn->peer_port = h->src_port;
	conn->peer_buf_alloc = h->buf_alloc;
	conn->peer_fwd_cnt = h->fwd_cnt;
	conn->deadline_ms = vsock_now_ms() + vs->connect_ms;
	vsock_conn_hash(conn);
	vsock_host_connect_retry(conn);
}
