/*
 * vhostctl: ask a running vhostd about its devices, or tell it to reload,
 * reset a device or change its log level, through its control socket
 * (core/control.h for the protocol).  The daemon formats the answer;
 * vhostctl sends one line, copies the answer to stdout (stderr when it is
 * an error) and exits 0 or 1.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef VHOSTCTL_DEFAULT_SOCKET
#define VHOSTCTL_DEFAULT_SOCKET	"/run/vhostd/control"
#endif

/* Seconds to wait for the answer (a reload may load modules). */
#define VHOSTCTL_TIMEOUT_S	60

/* The commands and how many arguments each takes (-1: 0 or 1). */
static const struct {
	const char	*name;
	int		 args;
} vhostctl_cmds[] = {
	{ "list", 0 },
	{ "show", 1 },
	{ "stats", -1 },
	{ "reload", 0 },
	{ "reset", 1 },
	{ "log-level", 1 },
};

static const struct option vhostctl_options[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ "prometheus", no_argument, NULL, 'p' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Print the usage text to `out`. */
static void
vhostctl_usage(FILE *out)
{
	fprintf(out,
"usage: vhostctl [-s SOCKET] [--json] COMMAND [ARGUMENT]\n"
"\n"
"Commands:\n"
"  list                 the devices: module, state, socket\n"
"  show DEVICE          a device: frontend, features, queues, workers, state\n"
"  stats [DEVICE]       counters per device and queue (--prometheus: in\n"
"                       Prometheus' text format)\n"
"  reload               re-read the configuration file (as SIGHUP)\n"
"  reset DEVICE         drop the device's frontend and reset it\n"
"  log-level LEVEL      error, warning, info or debug\n"
"\n"
"Options:\n"
"  -s, --socket=PATH    the control socket (default %s)\n"
"  -j, --json           answer in JSON\n"
"  -p, --prometheus     stats in Prometheus' text format\n"
"  -h, --help           print this help\n",
	    VHOSTCTL_DEFAULT_SOCKET);
}

/* Connect to the control socket; the fd or -1 (message printed). */
static int
vhostctl_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		fprintf(stderr, "vhostctl: %s: path too long\n", path);
		return (-1);
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "vhostctl: socket: %s\n", strerror(errno));
		return (-1);
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		fprintf(stderr, "vhostctl: %s: %s%s\n", path, strerror(errno),
		    errno == ENOENT || errno == ECONNREFUSED ?
		    " (is vhostd running?)" : "");
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Send all of buf.  0 or -1. */
static int
vhostctl_send(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Read the answer: the status line, then the body to stdout or stderr.
 * The exit status. */
static int
vhostctl_answer(int fd)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	char		 buf[8192];
	ssize_t		 n;
	size_t		 have = 0, i;
	int		 status = -1;
	FILE		*out = stdout;

	for (;;) {
		if (poll(&pfd, 1, VHOSTCTL_TIMEOUT_S * 1000) == 0) {
			fprintf(stderr, "vhostctl: no answer in %d s\n",
			    VHOSTCTL_TIMEOUT_S);
			return (1);
		}
		n = read(fd, buf + have, sizeof buf - have);
		if (n == -1 && errno == EINTR)
			continue;
		/* A refusal is answered before our request is read: the
		 * daemon's close then resets the connection after the
		 * answer. */
		if (n == -1 && errno == ECONNRESET && status != -1)
			break;
		if (n == -1) {
			fprintf(stderr, "vhostctl: read: %s\n",
			    strerror(errno));
			return (1);
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (status == -1) {
			for (i = 0; i < have && buf[i] != '\n'; i++)
				;
			if (i == have) {
				if (have < sizeof buf)
					continue;
				fprintf(stderr, "vhostctl: bad answer\n");
				return (1);
			}
			buf[i] = '\0';
			if (strcmp(buf, "ok") == 0)
				status = 0;
			else {
				status = 1;
				out = stderr;
			}
			fwrite(buf + i + 1, 1, have - i - 1, out);
		} else
			fwrite(buf, 1, have, out);
		have = 0;
	}
	if (status == -1) {
		fprintf(stderr, "vhostctl: the daemon closed the connection "
		    "without an answer\n");
		return (1);
	}
	if (fflush(stdout) == EOF)
		return (1);
	return (status);
}

/* Parse the command line, send the request, print the answer. */
int
main(int argc, char **argv)
{
	const char	*path = VHOSTCTL_DEFAULT_SOCKET, *fmt = "text";
	char		 line[1024];
	size_t		 i;
	int		 ch, fd, nargs, status, len;

	while ((ch = getopt_long(argc, argv, "hjps:", vhostctl_options,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		case 'j':
			fmt = "json";
			break;
		case 'p':
			fmt = "prometheus";
			break;
		case 'h':
			vhostctl_usage(stdout);
			return (0);
		default:
			vhostctl_usage(stderr);
			return (1);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		vhostctl_usage(stderr);
		return (1);
	}
	for (i = 0; i < sizeof vhostctl_cmds / sizeof vhostctl_cmds[0]; i++) {
		if (strcmp(vhostctl_cmds[i].name, argv[0]) == 0)
			break;
	}
	if (i == sizeof vhostctl_cmds / sizeof vhostctl_cmds[0]) {
		fprintf(stderr, "vhostctl: unknown command '%s'\n", argv[0]);
		vhostctl_usage(stderr);
		return (1);
	}
	nargs = argc - 1;
	if ((vhostctl_cmds[i].args >= 0 && nargs != vhostctl_cmds[i].args) ||
	    (vhostctl_cmds[i].args == -1 && nargs > 1)) {
		fprintf(stderr, "vhostctl: %s: wrong number of arguments\n",
		    argv[0]);
		return (1);
	}
	if (strcmp(fmt, "prometheus") == 0 && strcmp(argv[0], "stats") != 0) {
		fprintf(stderr, "vhostctl: --prometheus is for stats\n");
		return (1);
	}
	if (nargs == 1 && (strpbrk(argv[1], " \t\n") != NULL ||
	    *argv[1] == '\0')) {
		fprintf(stderr, "vhostctl: bad argument '%s'\n", argv[1]);
		return (1);
	}
	len = snprintf(line, sizeof line, "%s %s%s%s\n", argv[0], fmt,
	    nargs == 1 ? " " : "", nargs == 1 ? argv[1] : "");
	if (len < 0 || (size_t)len >= 512) {
		fprintf(stderr, "vhostctl: request too long\n");
		return (1);
	}
	if ((fd = vhostctl_connect(path)) == -1)
		return (1);
	/* A refused peer is answered and closed at once, maybe before
	 * our request is sent: read that answer rather than EPIPE. */
	if (vhostctl_send(fd, line, (size_t)len) == -1 && errno != EPIPE &&
	    errno != ECONNRESET) {
		fprintf(stderr, "vhostctl: send: %s\n", strerror(errno));
		close(fd);
		return (1);
	}
	status = vhostctl_answer(fd);
	close(fd);
	return (status);
}
