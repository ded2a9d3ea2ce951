/*
 * vhostd under a service manager, without the service manager: this
 * suite plays systemd's part by hand.  It binds and listens on the
 * vhost-user sockets, starts vhostd with them as fds 3.. and $LISTEN_FDS,
 * $LISTEN_PID (the child's pid) and $LISTEN_FDNAMES, and receives the
 * sd_notify(3) datagrams on an abstract $NOTIFY_SOCKET.  When Debian's
 * systemd-socket-activate is installed, one more test lets it do the
 * activation.  Also: the journal's "<N>" priority prefixes, and --syslog
 * under the seccomp filter.
 */

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"

#define SD_WAIT_MS	20000
#define SD_STOP_MS	10000
#define SD_MAX_MSGS	256
#define SD_MAX_ARGS	32
#define SD_MAX_FDS	8

/* One vhostd run under our fake service manager. */
struct sd {
	struct fe_daemon	*d;
	pid_t			 pid;
	int			 exited;
	int			 status;	/* exit status, 128+sig */
	int			 notify_fd;
	char			 notify_name[64];	/* "@..." */
	char			*msgs[SD_MAX_MSGS];	/* datagrams received */
	unsigned		 nmsgs;
};

/* Bind and listen on a unix stream socket at `path`; the fd. */
static int
sd_listen_path(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	ck_assert(strlen(path) < sizeof sun.sun_path);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0,
	    "bind %s: %s", path, strerror(errno));
	ck_assert_int_eq(listen(fd, 16), 0);
	return (fd);
}

/* The inode of `path`, 0 when it does not exist. */
static ino_t
sd_inode(const char *path)
{
	struct stat	 st;

	if (stat(path, &st) == -1)
		return (0);
	return (st.st_ino);
}

/* A fresh run: temp dir and the abstract notify socket. */
static void
sd_new(struct sd *s, const char *name)
{
	static unsigned		 seq;
	struct sockaddr_un	 sun;
	socklen_t		 len;

	memset(s, 0, sizeof *s);
	s->d = fe_daemon_new(name);
	ck_assert_msg(s->d != NULL, "%s", fe_error());
	snprintf(s->notify_name, sizeof s->notify_name,
	    "@vhostd-check-sysd/%ld/%u", (long)getpid(), seq++);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, s->notify_name, strlen(s->notify_name));
	sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(s->notify_name));
	s->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s->notify_fd, 0);
	ck_assert_msg(bind(s->notify_fd, (struct sockaddr *)&sun, len) == 0,
	    "bind notify socket: %s", strerror(errno));
}

/*
 * Start `argv` (argv[0] a path, or a name searched in $PATH) with the
 * listening sockets `lfds` as fds 3.. (LISTEN_FDS, LISTEN_PID and, when
 * `names` is not NULL, LISTEN_FDNAMES), NOTIFY_SOCKET, and the "K=V"
 * strings of `env`; stdout and stderr to the daemon dir's vhostd.log.
 */
static void
sd_spawn(struct sd *s, char *const *argv, const int *lfds, unsigned nlfds,
    const char *names, const char *const *env)
{
	char	 buf[64];
	int	 fd, hi[SD_MAX_FDS];
	unsigned i;
	pid_t	 parent = getpid();

	ck_assert_uint_le(nlfds, SD_MAX_FDS);
	fflush(NULL);
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		/* Out of the way first, then down to 3, 4, ... */
		for (i = 0; i < nlfds; i++)
			hi[i] = fcntl(lfds[i], F_DUPFD, 100);
		for (i = 0; i < nlfds; i++) {
			if (dup2(hi[i], 3 + (int)i) == -1)
				_exit(127);
			close(hi[i]);
		}
		for (fd = 3 + (int)nlfds; fd < 1024; fd++)
			close(fd);
		fd = open(fe_daemon_path(s->d, "vhostd.log"),
		    O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd == -1)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		if (nlfds != 0) {
			snprintf(buf, sizeof buf, "%u", nlfds);
			setenv("LISTEN_FDS", buf, 1);
			snprintf(buf, sizeof buf, "%ld", (long)getpid());
			setenv("LISTEN_PID", buf, 1);
			if (names != NULL)
				setenv("LISTEN_FDNAMES", names, 1);
		}
		setenv("NOTIFY_SOCKET", s->notify_name, 1);
		for (i = 0; env != NULL && env[i] != NULL; i++)
			putenv((char *)(uintptr_t)env[i]);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		dprintf(2, "check_sysd: exec %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	snprintf(buf, sizeof buf, "%ld\n", (long)s->pid);
	fe_daemon_write_file(s->d, "pid", buf, strlen(buf));
}

/* argv for vhostd --config=FILE plus `extra` (NULL-terminated). */
static void
sd_argv(struct sd *s, char **argv, const char *config,
    const char *const *extra)
{
	static char	 cfg[512];
	unsigned	 n = 0, i;

	argv[n++] = (char *)(uintptr_t)fe_daemon_binary();
	snprintf(cfg, sizeof cfg, "--config=%s", fe_daemon_path(s->d,
	    config));
	argv[n++] = cfg;
	for (i = 0; extra != NULL && extra[i] != NULL; i++)
		argv[n++] = (char *)(uintptr_t)extra[i];
	argv[n] = NULL;
}

/* Is the child still running?  Records its status when it is not. */
static int
sd_alive(struct sd *s)
{
	int	 ws;

	if (s->exited)
		return (0);
	if (waitpid(s->pid, &ws, WNOHANG) != s->pid)
		return (1);
	s->exited = 1;
	s->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	return (0);
}

/* Receive datagrams for up to `ms`, or until one holds the line
 * `needle` (NULL: for the whole time).  1 found, 0 not. */
static int
sd_recv(struct sd *s, const char *needle, int ms)
{
	struct pollfd	 pfd;
	char		 buf[4096];
	const char	*p;
	ssize_t		 n;
	int64_t		 end = fe_now_ms() + ms;
	size_t		 len = needle != NULL ? strlen(needle) : 0;

	for (;;) {
		int64_t	 left = end - fe_now_ms();

		if (left <= 0)
			return (0);
		pfd.fd = s->notify_fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left > 100 ? 100 : (int)left) <= 0) {
			if (needle != NULL && !sd_alive(s))
				return (0);
			continue;
		}
		n = recv(s->notify_fd, buf, sizeof buf - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (s->nmsgs < SD_MAX_MSGS)
			s->msgs[s->nmsgs++] = strdup(buf);
		if (needle == NULL)
			continue;
		for (p = buf; p != NULL; p = strchr(p, '\n')) {
			if (*p == '\n')
				p++;
			if (strncmp(p, needle, len) == 0 &&
			    (p[len] == '\0' || p[len] == '\n'))
				return (1);
		}
	}
}

/* How many datagrams received so far hold `needle` (a substring). */
static unsigned
sd_count(const struct sd *s, const char *needle)
{
	unsigned	 i, n = 0;

	for (i = 0; i < s->nmsgs; i++) {
		if (strstr(s->msgs[i], needle) != NULL)
			n++;
	}
	return (n);
}

/* SIGTERM and wait: the exit status (-1 on timeout, then killed). */
static int
sd_stop(struct sd *s)
{
	int64_t	 end = fe_now_ms() + SD_STOP_MS;

	if (!sd_alive(s))
		return (s->status);
	kill(s->pid, SIGTERM);
	while (sd_alive(s)) {
		if (fe_now_ms() > end) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
			s->exited = 1;
			return (-1);
		}
		/* Collect STOPPING=1 meanwhile. */
		sd_recv(s, NULL, 20);
	}
	sd_recv(s, NULL, 50);
	return (s->status);
}

/* Free everything (the daemon dir too). */
static void
sd_free(struct sd *s)
{
	unsigned	 i;

	if (!s->exited && s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	for (i = 0; i < s->nmsgs; i++)
		free(s->msgs[i]);
	close(s->notify_fd);
	fe_daemon_free(s->d);
}

/* Write a config of rng devices `names` on "dir/NAME.sock". */
static void
sd_config(struct sd *s, const char *const *names)
{
	char		 text[2048];
	size_t		 n = 0;
	unsigned	 i;

	for (i = 0; names[i] != NULL; i++)
		n += (size_t)snprintf(text + n, sizeof text - n,
		    "device \"%s\" {\n\tmodule rng\n\tsocket \"%s/%s.sock\"\n"
		    "}\n", names[i], fe_daemon_dir(s->d), names[i]);
	fe_daemon_write_file(s->d, "vhostd.conf", text, n);
}

/* A test frontend reads entropy through `path`: the device is served. */
static void
sd_serve_check(const char *path)
{
	struct fe		*fe;
	struct fe_rng_stats	 st;
	uint8_t			 out[4096];
	size_t			 i;
	int			 nonzero = 0;

	fe = fe_new(path, NULL, 0);
	ck_assert_msg(fe != NULL, "%s: %s", path, fe_error());
	ck_assert_msg(fe_start(fe, 64) == 0, "%s: start: %s", path,
	    fe_error());
	ck_assert_msg(fe_rng_read(fe, 0, out, sizeof out, 64, 16, 1, 0,
	    &st) == 0, "%s: rng read: %s", path, fe_error());
	for (i = 0; i < sizeof out; i++)
		nonzero |= out[i];
	ck_assert_msg(nonzero, "%s: all-zero entropy", path);
	fe_free(fe);
}

/*
 * Two activated sockets handed over in the "wrong" order are matched by
 * name; READY=1 comes after STATUS, both devices are served through the
 * passed fds, and at exit the sockets are neither re-bound nor unlinked.
 */
START_TEST(test_activate_by_name)
{
	struct sd	 s;
	const char	*names[] = { "rng0", "rng1", NULL };
	char		*argv[SD_MAX_ARGS];
	char		 p0[256], p1[256];
	int		 lfds[2], fd;
	ino_t		 i0, i1;

	sd_new(&s, "activate_by_name");
	sd_config(&s, names);
	snprintf(p0, sizeof p0, "%s", fe_daemon_path(s.d, "rng0.sock"));
	snprintf(p1, sizeof p1, "%s", fe_daemon_path(s.d, "rng1.sock"));
	lfds[0] = sd_listen_path(p1);
	lfds[1] = sd_listen_path(p0);
	i0 = sd_inode(p0);
	i1 = sd_inode(p1);
	sd_argv(&s, argv, "vhostd.conf", NULL);
	sd_spawn(&s, argv, lfds, 2, "rng1:rng0", NULL);

	ck_assert_msg(sd_recv(&s, "READY=1", SD_WAIT_MS), "no READY=1");
	ck_assert_uint_eq(sd_count(&s, "STATUS=serving 2 devices"), 1);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "socket activation: 2 "
	    "sockets passed"), 1);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "rng0: listening on"), 1);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "(socket activation)"), 2);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "matches no device"), 0);
	sd_serve_check(p0);
	sd_serve_check(p1);

	ck_assert_int_eq(sd_stop(&s), 0);
	ck_assert_uint_ge(sd_count(&s, "STOPPING=1"), 1);
	/* Still the sockets we bound, still listening (our fds). */
	ck_assert(sd_inode(p0) == i0 && i0 != 0);
	ck_assert(sd_inode(p1) == i1 && i1 != 0);
	fd = fe_sock_connect(p0, 1000);
	ck_assert_int_ge(fd, 0);
	close(fd);
	close(lfds[0]);
	close(lfds[1]);
	sd_free(&s);
}
END_TEST

/*
 * Without LISTEN_FDNAMES (systemd-socket-activate without --fdname, or
 * one .socket unit listing several paths) the fds are matched by the
 * path they are bound to; a passed fd no device wants is reported and
 * left alone.
 */
START_TEST(test_activate_by_path)
{
	struct sd	 s;
	const char	*names[] = { "rngA", NULL };
	char		*argv[SD_MAX_ARGS];
	char		 pa[256], px[256];
	int		 lfds[2];

	sd_new(&s, "activate_by_path");
	sd_config(&s, names);
	snprintf(pa, sizeof pa, "%s", fe_daemon_path(s.d, "rngA.sock"));
	snprintf(px, sizeof px, "%s", fe_daemon_path(s.d, "extra.sock"));
	lfds[0] = sd_listen_path(px);
	lfds[1] = sd_listen_path(pa);
	sd_argv(&s, argv, "vhostd.conf", NULL);
	sd_spawn(&s, argv, lfds, 2, NULL, NULL);

	ck_assert_msg(sd_recv(&s, "READY=1", SD_WAIT_MS), "no READY=1");
	ck_assert_int_eq(fe_daemon_log_count(s.d, "rngA: listening on"), 1);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "(socket activation)"), 1);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "fd 3 (name unknown"), 1);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "matches no device"), 1);
	sd_serve_check(pa);
	ck_assert_int_eq(sd_stop(&s), 0);
	ck_assert(sd_inode(pa) != 0 && sd_inode(px) != 0);
	close(lfds[0]);
	close(lfds[1]);
	sd_free(&s);
}
END_TEST

/* A passed fd that is not a listening stream socket is refused with a
 * clear line and vhostd exits 1 without READY=1. */
START_TEST(test_activate_not_listening)
{
	struct sd	 s;
	const char	*names[] = { "rng0", NULL };
	char		*argv[SD_MAX_ARGS];
	int		 lfds[1];

	sd_new(&s, "activate_not_listening");
	sd_config(&s, names);
	lfds[0] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfds[0], 0);
	sd_argv(&s, argv, "vhostd.conf", NULL);
	sd_spawn(&s, argv, lfds, 1, "rng0", NULL);
	ck_assert_int_eq(sd_recv(&s, "READY=1", SD_WAIT_MS), 0);
	ck_assert_int_eq(sd_stop(&s), 1);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "rng0: socket activation: "
	    "fd 3 (rng0) is not a listening unix stream socket"), 1);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "startup failed"), 1);
	close(lfds[0]);
	sd_free(&s);
}
END_TEST

/* LISTEN_PID naming another process: the fds are not ours, vhostd binds
 * its own socket (and unlinks it at exit). */
START_TEST(test_activate_other_pid)
{
	struct sd	 s;
	const char	*names[] = { "rng0", NULL };
	const char	*env[] = { "LISTEN_PID=1", "LISTEN_FDS=1",
			    "LISTEN_FDNAMES=rng0", NULL };
	char		*argv[SD_MAX_ARGS];
	char		 p0[256];

	sd_new(&s, "activate_other_pid");
	sd_config(&s, names);
	snprintf(p0, sizeof p0, "%s", fe_daemon_path(s.d, "rng0.sock"));
	sd_argv(&s, argv, "vhostd.conf", NULL);
	sd_spawn(&s, argv, NULL, 0, NULL, env);
	ck_assert_msg(sd_recv(&s, "READY=1", SD_WAIT_MS), "no READY=1");
	ck_assert_int_eq(fe_daemon_log_count(s.d, "socket activation"), 0);
	sd_serve_check(p0);
	ck_assert_int_eq(sd_stop(&s), 0);
	ck_assert(sd_inode(p0) == 0);
	sd_free(&s);
}
END_TEST

/*
 * Not activated: vhostd binds its sockets itself, and READY=1 means they
 * listen: a connect made the moment READY=1 arrives succeeds at once (no
 * retry) and is answered.
 */
START_TEST(test_ready_after_listen)
{
	struct sd		 s;
	const char		*names[] = { "r0", "r1", "r2", NULL };
	char			*argv[SD_MAX_ARGS];
	struct sockaddr_un	 sun;
	struct fe_msg		 m;
	unsigned		 i;
	int			 fd;

	sd_new(&s, "ready_after_listen");
	sd_config(&s, names);
	sd_argv(&s, argv, "vhostd.conf", NULL);
	sd_spawn(&s, argv, NULL, 0, NULL, NULL);
	ck_assert_msg(sd_recv(&s, "READY=1", SD_WAIT_MS), "no READY=1");
	for (i = 0; names[i] != NULL; i++) {
		char	 leaf[32];

		snprintf(leaf, sizeof leaf, "%s.sock", names[i]);
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof sun.sun_path, "%s",
		    fe_daemon_path(s.d, leaf));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(fd, 0);
		ck_assert_msg(connect(fd, (struct sockaddr *)&sun,
		    sizeof sun) == 0, "%s not listening at READY=1: %s",
		    sun.sun_path, strerror(errno));
		ck_assert_int_eq(fe_sock_send(fd, VHOST_USER_GET_FEATURES,
		    VHOST_USER_VERSION, 0, NULL, 0, NULL, 0), 0);
		ck_assert_int_eq(fe_sock_recv(fd, &m, 5000), 1);
		ck_assert_uint_eq(m.hdr.request, VHOST_USER_GET_FEATURES);
		close(fd);
	}
	ck_assert_uint_eq(sd_count(&s, "STATUS=serving 3 devices"), 1);
	ck_assert_int_eq(sd_stop(&s), 0);
	ck_assert_uint_ge(sd_count(&s, "STOPPING=1"), 1);
	sd_free(&s);
}
END_TEST

/* WATCHDOG_USEC: WATCHDOG=1 at half the interval from the main loop
 * (under the seccomp filter); none when WATCHDOG_PID is another pid. */
START_TEST(test_watchdog)
{
	struct sd	 s;
	const char	*names[] = { "rng0", NULL };
	const char	*env_on[] = { "WATCHDOG_USEC=200000", NULL };
	const char	*env_off[] = { "WATCHDOG_USEC=200000",
			    "WATCHDOG_PID=1", NULL };
	char		*argv[SD_MAX_ARGS];
	unsigned	 n;

	sd_new(&s, "watchdog");
	sd_config(&s, names);
	sd_argv(&s, argv, "vhostd.conf", NULL);
	sd_spawn(&s, argv, NULL, 0, NULL, env_on);
	ck_assert_msg(sd_recv(&s, "READY=1", SD_WAIT_MS), "no READY=1");
	/* 100 ms period: about 20 in 2 s; a loaded machine gets slack. */
	sd_recv(&s, NULL, 2000);
	n = sd_count(&s, "WATCHDOG=1");
	ck_assert_msg(n >= 5, "only %u WATCHDOG=1 in 2 s", n);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "every 100 ms"), 1);
	ck_assert_int_eq(sd_stop(&s), 0);
	sd_free(&s);

	sd_new(&s, "watchdog_other_pid");
	sd_config(&s, names);
	sd_argv(&s, argv, "vhostd.conf", NULL);
	sd_spawn(&s, argv, NULL, 0, NULL, env_off);
	ck_assert_msg(sd_recv(&s, "READY=1", SD_WAIT_MS), "no READY=1");
	sd_recv(&s, NULL, 600);
	ck_assert_uint_eq(sd_count(&s, "WATCHDOG=1"), 0);
	ck_assert_int_eq(sd_stop(&s), 0);
	sd_free(&s);
}
END_TEST

/* Where is `prog` in $PATH (or /usr/bin, /bin)?  NULL if nowhere. */
static char *
sd_which(const char *prog)
{
	static char	 path[512];
	const char	*env = getenv("PATH"), *p, *colon;
	char		 dirs[1024];
	size_t		 len;

	snprintf(dirs, sizeof dirs, "%s:/usr/bin:/bin",
	    env != NULL ? env : "");
	for (p = dirs; *p != '\0'; p = *colon != '\0' ? colon + 1 : colon) {
		colon = strchr(p, ':');
		if (colon == NULL)
			colon = p + strlen(p);
		len = (size_t)(colon - p);
		if (len == 0)
			continue;
		snprintf(path, sizeof path, "%.*s/%s", (int)len, p, prog);
		if (access(path, X_OK) == 0)
			return (path);
	}
	return (NULL);
}

/*
 * Debian's systemd-socket-activate binds the socket and execs vhostd on
 * the first connection (as a .socket unit does): that connection, made
 * before vhostd ran, is served, and READY=1 reaches NOTIFY_SOCKET.
 */
START_TEST(test_systemd_socket_activate)
{
	struct sd	 s;
	const char	*names[] = { "rng0", NULL };
	char		*argv[SD_MAX_ARGS], *act;
	char		 p0[256], cfg[512];
	unsigned	 n = 0;

	act = sd_which("systemd-socket-activate");
	ck_assert(act != NULL);
	sd_new(&s, "systemd_socket_activate");
	sd_config(&s, names);
	snprintf(p0, sizeof p0, "%s", fe_daemon_path(s.d, "rng0.sock"));
	snprintf(cfg, sizeof cfg, "--config=%s", fe_daemon_path(s.d,
	    "vhostd.conf"));
	argv[n++] = act;
	argv[n++] = (char *)(uintptr_t)"--listen";
	argv[n++] = p0;
	argv[n++] = (char *)(uintptr_t)"--fdname=rng0";
	argv[n++] = (char *)(uintptr_t)"--setenv=NOTIFY_SOCKET";
	argv[n++] = (char *)(uintptr_t)fe_daemon_binary();
	argv[n++] = cfg;
	argv[n] = NULL;
	sd_spawn(&s, argv, NULL, 0, NULL, NULL);
	/* Nothing runs vhostd until somebody connects. */
	ck_assert_int_eq(sd_recv(&s, "READY=1", 300), 0);
	sd_serve_check(p0);
	ck_assert_msg(sd_recv(&s, "READY=1", SD_WAIT_MS), "no READY=1");
	ck_assert_int_eq(fe_daemon_log_count(s.d, "rng0: listening on"), 1);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "(socket activation)"), 1);
	ck_assert_int_eq(sd_stop(&s), 0);
	ck_assert(sd_inode(p0) != 0);
	sd_free(&s);
}
END_TEST

/* --log=journal: every line starts "<N>[thread] " with its syslog
 * priority (even with a JOURNAL_STREAM that is not our stderr). */
START_TEST(test_log_journal)
{
	struct sd	 s;
	const char	*names[] = { "rng0", NULL };
	const char	*extra[] = { "--log=journal", NULL };
	const char	*env[] = { "JOURNAL_STREAM=1:1", NULL };
	char		*argv[SD_MAX_ARGS], *log, *line, *save;
	unsigned	 lines = 0;

	sd_new(&s, "log_journal");
	sd_config(&s, names);
	sd_argv(&s, argv, "vhostd.conf", extra);
	sd_spawn(&s, argv, NULL, 0, NULL, env);
	ck_assert_msg(sd_recv(&s, "READY=1", SD_WAIT_MS), "no READY=1");
	sd_serve_check(fe_daemon_path(s.d, "rng0.sock"));
	ck_assert_int_eq(sd_stop(&s), 0);
	log = fe_daemon_log(s.d);
	for (line = strtok_r(log, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		ck_assert_msg(line[0] == '<' && strchr("3467", line[1]) !=
		    NULL && line[2] == '>' && line[3] == '[', "line '%s'",
		    line);
		lines++;
	}
	free(log);
	ck_assert_uint_ge(lines, 5);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "<6>[main] rng0: "
	    "frontend connected"), 1);
	sd_free(&s);
}
END_TEST

/* JOURNAL_STREAM that is our stderr selects the journal format; one that
 * is not keeps plain stderr lines. */
START_TEST(test_log_journal_stream)
{
	struct sd	 s;
	const char	*names[] = { "rng0", NULL };
	char		*argv[SD_MAX_ARGS];
	char		 env0[64];
	const char	*env[] = { env0, NULL };
	struct stat	 st;
	int		 fd;

	sd_new(&s, "log_journal_stream");
	sd_config(&s, names);
	/* The log file exists before the child opens it: its dev:ino is
	 * the child's stderr. */
	fd = open(fe_daemon_path(s.d, "vhostd.log"), O_WRONLY | O_CREAT,
	    0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	snprintf(env0, sizeof env0, "JOURNAL_STREAM=%llu:%llu",
	    (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	sd_argv(&s, argv, "vhostd.conf", NULL);
	sd_spawn(&s, argv, NULL, 0, NULL, env);
	ck_assert_msg(sd_recv(&s, "READY=1", SD_WAIT_MS), "no READY=1");
	ck_assert_int_eq(sd_stop(&s), 0);
	ck_assert_int_ge(fe_daemon_log_count(s.d, "<6>[main] rng0: listening"
	    " on"), 1);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "vhostd[main]"), 0);
	sd_free(&s);

	/* Not our stderr (another inode): plain lines. */
	sd_new(&s, "log_journal_stream_other");
	sd_config(&s, names);
	fd = open(fe_daemon_path(s.d, "vhostd.log"), O_WRONLY | O_CREAT,
	    0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	snprintf(env0, sizeof env0, "JOURNAL_STREAM=%llu:%llu",
	    (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + 1);
	sd_argv(&s, argv, "vhostd.conf", NULL);
	sd_spawn(&s, argv, NULL, 0, NULL, env);
	ck_assert_msg(sd_recv(&s, "READY=1", SD_WAIT_MS), "no READY=1");
	ck_assert_int_eq(sd_stop(&s), 0);
	ck_assert_int_ge(fe_daemon_log_count(s.d, "vhostd[main]: rng0: "
	    "listening on"), 1);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "<6>"), 0);
	sd_free(&s);
}
END_TEST

/*
 * --syslog under the seccomp filter: logging while serving (syslog(3)
 * may reconnect to /dev/log, or find none) does not kill vhostd, and
 * nothing goes to stderr.
 */
START_TEST(test_log_syslog_seccomp)
{
	struct sd	 s;
	const char	*names[] = { "rng0", NULL };
	const char	*extra[] = { "--syslog", "--log-level=debug", NULL };
	char		*argv[SD_MAX_ARGS];
	unsigned	 i;

	sd_new(&s, "log_syslog");
	sd_config(&s, names);
	sd_argv(&s, argv, "vhostd.conf", extra);
	sd_spawn(&s, argv, NULL, 0, NULL, NULL);
	ck_assert_msg(sd_recv(&s, "READY=1", SD_WAIT_MS), "no READY=1");
	/* Each connect, request and disconnect logs a few lines. */
	for (i = 0; i < 3; i++)
		sd_serve_check(fe_daemon_path(s.d, "rng0.sock"));
	ck_assert(sd_alive(&s));
	ck_assert_int_eq(sd_stop(&s), 0);
	ck_assert_int_eq(fe_daemon_log_count(s.d, "vhostd["), 0);
	sd_free(&s);
}
END_TEST

/* The suite; the systemd-socket-activate case only where it exists. */
static Suite *
sysd_suite(void)
{
	Suite	*s = suite_create("sysd");
	TCase	*tc;

	tc = tcase_create("activate");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_activate_by_name);
	tcase_add_test(tc, test_activate_by_path);
	tcase_add_test(tc, test_activate_not_listening);
	tcase_add_test(tc, test_activate_other_pid);
	if (sd_which("systemd-socket-activate") != NULL)
		tcase_add_test(tc, test_systemd_socket_activate);
	else
		fprintf(stderr, "check_sysd: no systemd-socket-activate: "
		    "that case is not run\n");
	suite_add_tcase(s, tc);

	tc = tcase_create("notify");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_ready_after_listen);
	tcase_add_test(tc, test_watchdog);
	suite_add_tcase(s, tc);

	tc = tcase_create("log");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_log_journal);
	tcase_add_test(tc, test_log_journal_stream);
	tcase_add_test(tc, test_log_syslog_seccomp);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1) {
		fprintf(stderr, "check_sysd: %s\n", fe_error());
		return (1);
	}
	sr = srunner_create(sysd_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
