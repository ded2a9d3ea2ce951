/*
 * The control socket (control.h): vhostctl's requests served on the main
 * loop.  Each client is a bufferevent; its one request line is read with
 * a timeout, checked against the command table, run, answered, and the
 * connection is closed once the answer is written.  A peer that is
 * neither root nor the daemon's user is answered "error" and closed
 * before its request is read (SO_PEERCRED).
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf.h"
#include "control.h"
#include "device.h"
#include "log.h"
#include "privsep.h"
#include "serve.h"
#include "stats.h"
#include "xmalloc.h"

/* Clients served at once; more wait in the backlog. */
#define CONTROL_MAX_CLIENTS	16
/* Seconds a client has to send its request. */
#define CONTROL_TIMEOUT_S	10

struct control_client {
	struct bufferevent		*bev;
	int				 done;	/* answered: close once sent */
	TAILQ_ENTRY(control_client)	 entry;
};
TAILQ_HEAD(control_client_list, control_client);

/* One request being answered. */
struct control_req {
	struct serve		*s;
	enum stats_format	 fmt;
	const char		*arg;	/* NULL when none */
	struct evbuffer		*out;	/* the body */
};

struct control_cmd {
	const char	*name;
	int		 args;		/* 0, 1, or -1: 0 or 1 */
	/* 0 ok, -1 error (message in out as the body). */
	int		(*run)(struct control_req *);
};

static int	control_cmd_list(struct control_req *);
static int	control_cmd_show(struct control_req *);
static int	control_cmd_stats(struct control_req *);
static int	control_cmd_reload(struct control_req *);
static int	control_cmd_reset(struct control_req *);
static int	control_cmd_log_level(struct control_req *);

/* The commands, sorted by name. */
static const struct control_cmd control_cmds[] = {
	{ "list", 0, control_cmd_list },
	{ "log-level", 1, control_cmd_log_level },
	{ "reload", 0, control_cmd_reload },
	{ "reset", 1, control_cmd_reset },
	{ "show", 1, control_cmd_show },
	{ "stats", -1, control_cmd_stats },
};

static struct serve		*control_serve;
static char			*control_path;
/* Added to the path for the name the socket is bound under until it is
 * ready (control_start). */
#define CONTROL_TMP_SUFFIX	".new"
static int			 control_fd = -1;
static struct event		*control_ev;
/* Accepting paused after running out of fds (one-second timer). */
static struct event		*control_pause_ev;
static struct control_client_list control_clients =
    TAILQ_HEAD_INITIALIZER(control_clients);
static unsigned			 control_nclients;

static void	control_accept_cb(evutil_socket_t, short, void *);

/* Put an error message in the body, as text or as a JSON object. */
static int __printflike(2, 3)
control_error(struct control_req *r, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (r->fmt == STATS_JSON) {
		evbuffer_add_printf(r->out, "{\"error\":");
		stats_json_string(r->out, msg);
		evbuffer_add_printf(r->out, "}\n");
	} else
		evbuffer_add_printf(r->out, "%s\n", msg);
	return (-1);
}

/* Put a one-line result in the body, as text or as a JSON object. */
static int
control_result(struct control_req *r, const char *msg)
{
	if (r->fmt == STATS_JSON) {
		evbuffer_add_printf(r->out, "{\"result\":");
		stats_json_string(r->out, msg);
		evbuffer_add_printf(r->out, "}\n");
	} else
		evbuffer_add_printf(r->out, "%s\n", msg);
	return (0);
}

/* The named device, or NULL with an error in the body. */
static struct device *
control_device(struct control_req *r)
{
	struct device	*dev;

	if ((dev = reload_find(r->s, r->arg)) == NULL)
		control_error(r, "no device named '%s'", r->arg);
	return (dev);
}

/* list: every device, one line (or object) each. */
static int
control_cmd_list(struct control_req *r)
{
	struct device	*dev;
	int		 first = 1;

	if (r->fmt == STATS_JSON)
		evbuffer_add_printf(r->out, "{\"devices\":[");
	else
		evbuffer_add_printf(r->out, "%-16s %-10s %-10s %s\n", "DEVICE",
		    "MODULE", "STATE", "SOCKET");
	TAILQ_FOREACH(dev, &r->s->devices, entry) {
		stats_list_device(r->out, dev, r->fmt, first);
		first = 0;
	}
	if (r->fmt == STATS_JSON)
		evbuffer_add_printf(r->out, "]}\n");
	return (0);
}

/* show DEVICE: its frontend, features, queues, workers, state. */
static int
control_cmd_show(struct control_req *r)
{
	struct device	*dev;

	if ((dev = control_device(r)) == NULL)
		return (-1);
	stats_show_device(r->out, dev, r->fmt);
	return (0);
}

/* stats [DEVICE]: the counters of every device, or of one. */
static int
control_cmd_stats(struct control_req *r)
{
	struct device	*dev, **devs;
	unsigned	 n = 0;
	int		 first = 1;

	if (r->arg != NULL && control_device(r) == NULL)
		return (-1);
	if (r->fmt == STATS_PROMETHEUS) {
		TAILQ_FOREACH(dev, &r->s->devices, entry)
			n++;
		devs = xcalloc(n > 0 ? n : 1, sizeof *devs);
		n = 0;
		TAILQ_FOREACH(dev, &r->s->devices, entry) {
			if (r->arg == NULL || strcmp(dev->name, r->arg) == 0)
				devs[n++] = dev;
		}
		stats_prometheus(r->out, devs, n);
		free(devs);
		return (0);
	}
	if (r->fmt == STATS_JSON)
		evbuffer_add_printf(r->out, "{\"devices\":[");
	TAILQ_FOREACH(dev, &r->s->devices, entry) {
		if (r->arg != NULL && strcmp(dev->name, r->arg) != 0)
			continue;
		stats_device(r->out, dev, r->fmt, first);
		first = 0;
	}
	if (r->fmt == STATS_JSON)
		evbuffer_add_printf(r->out, "]}\n");
	return (0);
}

/* SIGHUP and `vhostctl reload`: reload and log the outcome. */
int
control_reload(struct serve *s, char **cause)
{
	if (reload_run(s, cause) == -1) {
		log_warnx("reload refused: %s", *cause);
		return (-1);
	}
	return (0);
}

/* reload: re-read the configuration. */
static int
control_cmd_reload(struct control_req *r)
{
	char	*cause = NULL;
	int	 rc;

	rc = control_reload(r->s, &cause);
	if (rc == -1)
		control_error(r, "%s", cause);
	else
		control_result(r, cause != NULL ? cause : "reloaded");
	free(cause);
	return (rc);
}

/* reset DEVICE: drop its frontend (if any) and reset it; a broken device
 * becomes usable again. */
static int
control_cmd_reset(struct control_req *r)
{
	struct device	*dev;
	char		 msg[128];

	if ((dev = control_device(r)) == NULL)
		return (-1);
	if (device_stuck(dev))
		return (control_error(r, "%s: a worker does not answer: it "
		    "cannot be reset until vhostd restarts", dev->name));
	log_info("%s: reset by the control socket", dev->name);
	if (dev->conn != NULL)
		device_disconnected(dev);
	else
		device_reset(dev);
	snprintf(msg, sizeof msg, "%s: reset", dev->name);
	return (control_result(r, msg));
}

/* log-level LEVEL. */
static int
control_cmd_log_level(struct control_req *r)
{
	int	 level;
	char	 msg[64];

	if ((level = log_level_parse(r->arg)) == -1)
		return (control_error(r, "unknown level '%s' (error, warning, "
		    "info or debug)", r->arg));
	log_setlevel(level);
	log_info("log level set to %s by the control socket", r->arg);
	snprintf(msg, sizeof msg, "log level %s", r->arg);
	return (control_result(r, msg));
}

/* Run one request line; the answer goes to `out`. */
static void
control_run(char *line, struct evbuffer *out)
{
	struct control_req	 r;
	struct evbuffer		*body;
	const struct control_cmd *cmd = NULL;
	char			*words[4], *p;
	unsigned		 n = 0, i;
	int			 rc;

	memset(&r, 0, sizeof r);
	r.s = control_serve;
	r.fmt = STATS_TEXT;
	body = r.out = evbuffer_new();
	if (body == NULL)
		fatalx("control: evbuffer_new failed");
	while ((p = strsep(&line, " \t")) != NULL) {
		if (*p == '\0')
			continue;
		if (n == nitems(words)) {
			rc = control_error(&r, "too many words");
			goto out;
		}
		words[n++] = p;
	}
	if (n < 2) {
		rc = control_error(&r, "expected: COMMAND FORMAT [ARGUMENT]");
		goto out;
	}
	if (strcmp(words[1], "json") == 0)
		r.fmt = STATS_JSON;
	else if (strcmp(words[1], "prometheus") == 0)
		r.fmt = STATS_PROMETHEUS;
	else if (strcmp(words[1], "text") != 0) {
		rc = control_error(&r, "unknown format '%s'", words[1]);
		goto out;
	}
	for (i = 0; i < nitems(control_cmds); i++) {
		if (strcmp(control_cmds[i].name, words[0]) == 0)
			cmd = &control_cmds[i];
	}
	if (cmd == NULL) {
		rc = control_error(&r, "unknown command '%s'", words[0]);
		goto out;
	}
	if ((cmd->args == 0 && n != 2) || (cmd->args == 1 && n != 3) ||
	    (cmd->args == -1 && n > 3)) {
		rc = control_error(&r, "%s: wrong number of arguments",
		    cmd->name);
		goto out;
	}
	if (r.fmt == STATS_PROMETHEUS && strcmp(cmd->name, "stats") != 0) {
		rc = control_error(&r, "%s: no prometheus format", cmd->name);
		goto out;
	}
	r.arg = n == 3 ? words[2] : NULL;
	log_debug("%s: %s%s%s (%s)", __func__, cmd->name, r.arg != NULL ?
	    " " : "", r.arg != NULL ? r.arg : "", words[1]);
	rc = cmd->run(&r);
out:
	evbuffer_add_printf(out, "%s\n", rc == 0 ? "ok" : "error");
	evbuffer_add_buffer(out, body);
	evbuffer_free(body);
}

/* Forget a client and close its connection. */
static void
control_client_free(struct control_client *c)
{
	TAILQ_REMOVE(&control_clients, c, entry);
	bufferevent_free(c->bev);
	free(c);
	control_nclients--;
}

/* The answer is written: close. */
static void
control_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_client	*c = arg;

	if (c->done && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		control_client_free(c);
}

/* A request line arrived (or part of one). */
static void
control_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_client	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			*line;
	size_t			 len;

	if (c->done)
		return;
	line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
	if (line == NULL) {
		if (evbuffer_get_length(in) <= CONTROL_LINE_MAX)
			return;
		c->done = 1;
		evbuffer_add_printf(bufferevent_get_output(bev),
		    "error\nrequest too long\n");
		bufferevent_disable(bev, EV_READ);
		return;
	}
	c->done = 1;
	bufferevent_disable(bev, EV_READ);
	if (len > CONTROL_LINE_MAX)
		evbuffer_add_printf(bufferevent_get_output(bev),
		    "error\nrequest too long\n");
	else
		control_run(line, bufferevent_get_output(bev));
	free(line);
	/* The client may be gone already; the write callback (or the
	 * event callback on an error) closes it. */
}

/* EOF, error or timeout: close. */
static void
control_event_cb(struct bufferevent *bev __unused, short what, void *arg)
{
	struct control_client	*c = arg;

	if (what & BEV_EVENT_TIMEOUT)
		log_debug("%s: client timed out", __func__);
	control_client_free(c);
}

/* Is the peer root or our own user?  Logs a refusal. */
static int
control_peer_ok(int fd)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof cred;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("control: SO_PEERCRED");
		return (0);
	}
	if (cred.uid == 0 || cred.uid == geteuid())
		return (1);
	log_warnx("control: refused a request from uid %u (pid %d): only "
	    "root and uid %u may use the control socket", (unsigned)cred.uid,
	    (int)cred.pid, (unsigned)geteuid());
	return (0);
}

/* Accepting was paused after running out of fds: resume. */
static void
control_accept_resume_cb(evutil_socket_t fd __unused, short events __unused,
    void *arg __unused)
{
	if (control_ev != NULL && event_add(control_ev, NULL) == -1)
		log_warnx("control: cannot resume accepting");
}

/* A client connects. */
static void
control_accept_cb(evutil_socket_t lfd, short events __unused,
    void *arg __unused)
{
	struct control_client	*c;
	struct timeval		 tv = { CONTROL_TIMEOUT_S, 0 };
	struct timeval		 pause = { 1, 0 };
	int			 fd;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		switch (errno) {
		case EAGAIN:
		case EINTR:
		case ECONNABORTED:
			return;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			/* Level-triggered: the pending connection would
			 * wake us at once, over and over.  Pause. */
			log_warn("control: accept (pausing for 1 s)");
			event_del(control_ev);
			evtimer_add(control_pause_ev, &pause);
			return;
		default:
			log_warn("control: accept");
			return;
		}
	}
	if (!control_peer_ok(fd)) {
		/* Best effort: the socket is fresh, the line fits. */
		(void)send(fd, "error\npermission denied\n", 24,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	if (control_nclients >= CONTROL_MAX_CLIENTS) {
		(void)send(fd, "error\nbusy\n", 11, MSG_NOSIGNAL |
		    MSG_DONTWAIT);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->bev = bufferevent_socket_new(control_serve->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_warnx("control: cannot create a bufferevent");
		close(fd);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&control_clients, c, entry);
	control_nclients++;
	bufferevent_setcb(c->bev, control_read_cb, control_write_cb,
	    control_event_cb, c);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* Is a socket at `path` stale (nothing accepts on it)? */
static int
control_stale(const struct sockaddr_un *sun)
{
	struct stat	 st;
	int		 fd, rc, saved;

	if (lstat(sun->sun_path, &st) == -1 || !S_ISSOCK(st.st_mode))
		return (0);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (0);
	rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	saved = errno;
	close(fd);
	return (rc == -1 && saved == ECONNREFUSED);
}

/*
 * Bind and serve the control socket.  The path appears only once the
 * socket listens with its mode and owner: it is bound under a temporary
 * name beside the path (".new" added), set up, and renamed over it.  A
 * client that waits for the path to appear (a script, a test, vhostctl
 * right after start) can connect at once, and a chmod of the path by its
 * owner is not undone by ours afterwards.  0 or -1 with *cause.
 */
int
control_start(struct serve *s, const char *path, uid_t uid, gid_t gid,
    char **cause)
{
	struct sockaddr_un	 sun, tmp;
	struct stat		 st;
	char			*icause = NULL;
	size_t			 len = strlen(path);
	int			 fd;
	mode_t			 old;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (len + sizeof CONTROL_TMP_SUFFIX - 1 >= sizeof sun.sun_path) {
		xasprintf(cause, "control socket %s: path too long (at most "
		    "%zu bytes)", path, sizeof sun.sun_path -
		    sizeof CONTROL_TMP_SUFFIX);
		return (-1);
	}
	memcpy(sun.sun_path, path, len);
	tmp = sun;
	memcpy(tmp.sun_path + len, CONTROL_TMP_SUFFIX,
	    sizeof CONTROL_TMP_SUFFIX);
	/* The default's directory is ours to make. */
	if (strcmp(path, CONTROL_DEFAULT_PATH) == 0 &&
	    mkdir("/run/vhostd", 0755) == -1 && errno != EEXIST) {
		xasprintf(cause, "control socket: mkdir /run/vhostd: %s",
		    strerror(errno));
		return (-1);
	}
	/* Only a stale socket (no one listening) may be replaced. */
	if (lstat(path, &st) == 0 && !control_stale(&sun)) {
		xasprintf(cause, "control socket %s: %s", path,
		    S_ISSOCK(st.st_mode) ? "in use by another process" :
		    "exists and is not a socket");
		return (-1);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		xasprintf(cause, "control socket: %s", strerror(errno));
		return (-1);
	}
	/* A temporary name left by a daemon that died here. */
	(void)unlink(tmp.sun_path);
	/* Never reachable by others, not even before the chmod. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&tmp, sizeof tmp) == -1) {
		umask(old);
		xasprintf(cause, "control socket %s: %s", tmp.sun_path,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	umask(old);
	if (chmod(tmp.sun_path, 0600) == -1 ||
	    privsep_chown(tmp.sun_path, uid, gid, &icause) == -1 ||
	    listen(fd, CONTROL_MAX_CLIENTS) == -1 ||
	    rename(tmp.sun_path, path) == -1) {
		if (icause != NULL)
			xasprintf(cause, "control socket: %s", icause);
		else
			xasprintf(cause, "control socket %s: %s", path,
			    strerror(errno));
		free(icause);
		unlink(tmp.sun_path);
		close(fd);
		return (-1);
	}
	control_ev = event_new(s->base, fd, EV_READ | EV_PERSIST,
	    control_accept_cb, NULL);
	control_pause_ev = evtimer_new(s->base, control_accept_resume_cb,
	    NULL);
	if (control_ev == NULL || control_pause_ev == NULL ||
	    event_add(control_ev, NULL) == -1)
		fatalx("control: cannot watch the socket");
	control_serve = s;
	control_fd = fd;
	control_path = xstrdup(path);
	log_info("control socket %s", path);
	return (0);
}

/* Stop serving, close every client, unlink the socket.  Main thread. */
void
control_stop(void)
{
	struct control_client	*c;

	while ((c = TAILQ_FIRST(&control_clients)) != NULL)
		control_client_free(c);
	if (control_ev != NULL)
		event_free(control_ev);
	control_ev = NULL;
	if (control_pause_ev != NULL)
		event_free(control_pause_ev);
	control_pause_ev = NULL;
	if (control_fd != -1) {
		close(control_fd);
		unlink(control_path);
	}
	control_fd = -1;
	free(control_path);
	control_path = NULL;
	control_serve = NULL;
}
