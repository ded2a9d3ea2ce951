/*
 * The test frontend library: daemon control, raw vhost-user messages,
 * guest memory, and a split-ring guest driver.  See fe.h.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fe.h"

#ifndef TEST_BUILD_DIR
#define TEST_BUILD_DIR "."
#endif

#define FE_MAX_ARGS	64
#define FE_MAX_PATHS	32

struct fe_daemon {
	char		*name;
	char		 dir[512];
	char		 log_path[600];
	pid_t		 pid;
	int		 exited;
	int		 status;
	char		*paths[FE_MAX_PATHS];
	unsigned	 npaths;
};

static char	fe_errbuf[512];
static char	fe_tmp_dir[256];
static int	fe_tmp_created;

const struct fe_region_spec fe_default_layout[] = {
	{ 0x0, 2u << 20, 0 },
	{ 2u << 20, 1u << 20, 64u << 10 },
	{ 16u << 20, 2u << 20, 0 },
};
const unsigned fe_default_layout_n = 3;

static void	fe_seterr(const char *, ...) __attribute__((format(printf, 1, 2)));

/* Record an error message for fe_error(). */
static void
fe_seterr(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vsnprintf(fe_errbuf, sizeof fe_errbuf, fmt, ap);
	va_end(ap);
	errno = saved;
}

/* Return the last error message. */
const char *
fe_error(void)
{
	return (fe_errbuf);
}

/* Return the monotonic clock in milliseconds. */
int64_t
fe_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Return the monotonic clock in nanoseconds. */
static uint64_t
fe_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

/* Sleep for `ms` milliseconds. */
static void
fe_sleep_ms(int ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static const char *const fe_request_names[] = {
	"NONE", "GET_FEATURES", "SET_FEATURES", "SET_OWNER", "RESET_OWNER",
	"SET_MEM_TABLE", "SET_LOG_BASE", "SET_LOG_FD", "SET_VRING_NUM",
	"SET_VRING_ADDR", "SET_VRING_BASE", "GET_VRING_BASE",
	"SET_VRING_KICK", "SET_VRING_CALL", "SET_VRING_ERR",
	"GET_PROTOCOL_FEATURES", "SET_PROTOCOL_FEATURES", "GET_QUEUE_NUM",
	"SET_VRING_ENABLE", "SEND_RARP", "NET_SET_MTU", "SET_BACKEND_REQ_FD",
	"IOTLB_MSG", "SET_VRING_ENDIAN", "GET_CONFIG", "SET_CONFIG",
	"CREATE_CRYPTO_SESSION", "CLOSE_CRYPTO_SESSION", "POSTCOPY_ADVISE",
	"POSTCOPY_LISTEN", "POSTCOPY_END", "GET_INFLIGHT_FD",
	"SET_INFLIGHT_FD", "GPU_SET_SOCKET", "RESET_DEVICE", "VRING_KICK",
	"GET_MAX_MEM_SLOTS", "ADD_MEM_REG", "REM_MEM_REG", "SET_STATUS",
	"GET_STATUS", "GET_SHARED_OBJECT", "SET_DEVICE_STATE_FD",
	"CHECK_DEVICE_STATE", "GET_SHMEM_CONFIG",
};

/* Return the name of a request. */
const char *
fe_request_name(uint32_t request)
{
	if (request >= sizeof fe_request_names / sizeof fe_request_names[0])
		return ("unknown");
	return (fe_request_names[request]);
}

/* Say whether a request has a reply of its own. */
int
fe_request_has_reply(uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_GET_STATUS:
	case VHOST_USER_GET_SHARED_OBJECT:
	case VHOST_USER_SET_DEVICE_STATE_FD:
	case VHOST_USER_CHECK_DEVICE_STATE:
	case VHOST_USER_GET_SHMEM_CONFIG:
	case VHOST_USER_POSTCOPY_ADVISE:
	case VHOST_USER_POSTCOPY_END:
	case VHOST_USER_IOTLB_MSG:
		return (1);
	default:
		return (0);
	}
}

/* ------------------------------------------------------------------ */

/* Make the per-run temp parent directory and export it. */
int
fe_tmp_init(void)
{
	const char	*env = getenv("FE_TMPDIR");
	struct stat	 st;

	if (env != NULL && *env != '\0' && stat(env, &st) == 0 &&
	    S_ISDIR(st.st_mode)) {
		snprintf(fe_tmp_dir, sizeof fe_tmp_dir, "%s", env);
		return (0);
	}
	snprintf(fe_tmp_dir, sizeof fe_tmp_dir, "/tmp/vhostd-fe.XXXXXX");
	if (mkdtemp(fe_tmp_dir) == NULL) {
		fe_seterr("mkdtemp: %s", strerror(errno));
		fe_tmp_dir[0] = '\0';
		return (-1);
	}
	fe_tmp_created = 1;
	setenv("FE_TMPDIR", fe_tmp_dir, 1);
	return (0);
}

/* nftw callback removing one entry. */
static int
fe_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return (0);
}

/* Remove a directory tree. */
static void
fe_rm_rf(const char *dir)
{
	nftw(dir, fe_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Read a whole file into a NUL-terminated malloc'd buffer. */
static char *
fe_read_file(const char *path, size_t *lenp)
{
	FILE	*fp;
	char	*buf = NULL;
	size_t	 len = 0, cap = 0, n;

	if ((fp = fopen(path, "re")) == NULL) {
		buf = strdup("");
		if (lenp != NULL)
			*lenp = 0;
		return (buf);
	}
	for (;;) {
		if (cap - len < 4097) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			if (buf == NULL)
				abort();
		}
		n = fread(buf + len, 1, cap - len - 1, fp);
		if (n == 0)
			break;
		len += n;
	}
	fclose(fp);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return (buf);
}

/* Print and clean up one leftover daemon dir. */
static void
fe_tmp_reap_one(const char *dir)
{
	char	 path[700], *name, *pidtxt, *log, *cmd;
	long	 pid;

	snprintf(path, sizeof path, "%s/name", dir);
	name = fe_read_file(path, NULL);
	snprintf(path, sizeof path, "%s/pid", dir);
	pidtxt = fe_read_file(path, NULL);
	pid = strtol(pidtxt, NULL, 10);
	if (pid > 1) {
		snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
		cmd = fe_read_file(path, NULL);
		if (strstr(cmd, "vhostd") != NULL)
			kill((pid_t)pid, SIGKILL);
		free(cmd);
	}
	snprintf(path, sizeof path, "%s/vhostd.log", dir);
	log = fe_read_file(path, NULL);
	fprintf(stderr, "==== vhostd log of failed test '%s' (%s, pid %ld)"
	    " ====\n%s==== end of log ====\n", name, dir, pid, log);
	free(log);
	free(name);
	free(pidtxt);
	fe_rm_rf(dir);
}

/* Print the logs of leftover daemon dirs and remove them. */
int
fe_tmp_reap(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[600];
	int		 n = 0;

	if (fe_tmp_dir[0] == '\0' || (d = opendir(fe_tmp_dir)) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "d.", 2) != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", fe_tmp_dir, de->d_name);
		fe_tmp_reap_one(path);
		n++;
	}
	closedir(d);
	return (n);
}

/* Remove the per-run temp parent. */
void
fe_tmp_fini(void)
{
	if (fe_tmp_created && fe_tmp_dir[0] != '\0')
		fe_rm_rf(fe_tmp_dir);
	fe_tmp_dir[0] = '\0';
}

/* Return the path of the vhostd binary. */
const char *
fe_daemon_binary(void)
{
	static char	 bin[PATH_MAX];
	const char	*dir = getenv("VHOSTD_BUILD_DIR");

	if (dir == NULL || *dir == '\0')
		dir = TEST_BUILD_DIR;
	snprintf(bin, sizeof bin, "%s/vhostd", dir);
	return (bin);
}

/* Write a small file in the daemon's dir. */
static int
fe_daemon_put(struct fe_daemon *d, const char *name, const void *buf,
    size_t len)
{
	char	 path[PATH_MAX + 64];
	int	 fd;
	ssize_t	 n;

	snprintf(path, sizeof path, "%s/%s", d->dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1) {
		fe_seterr("open %s: %s", path, strerror(errno));
		return (-1);
	}
	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			fe_seterr("write %s: %s", path, strerror(errno));
			close(fd);
			return (-1);
		}
		buf = (const uint8_t *)buf + n;
		len -= (size_t)n;
	}
	close(fd);
	return (0);
}

/* Create a daemon object with a fresh temp dir. */
struct fe_daemon *
fe_daemon_new(const char *name)
{
	struct fe_daemon	*d;
	const char		*base = getenv("FE_TMPDIR");

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if ((d = calloc(1, sizeof *d)) == NULL)
		abort();
	d->name = strdup(name != NULL ? name : "vhostd");
	snprintf(d->dir, sizeof d->dir, "%s/d.XXXXXX", base);
	if (mkdtemp(d->dir) == NULL) {
		fe_seterr("mkdtemp %s: %s", d->dir, strerror(errno));
		free(d->name);
		free(d);
		return (NULL);
	}
	snprintf(d->log_path, sizeof d->log_path, "%s/vhostd.log", d->dir);
	d->pid = -1;
	d->exited = 1;
	fe_daemon_put(d, "name", d->name, strlen(d->name));
	return (d);
}

/* Return the daemon's temp dir. */
const char *
fe_daemon_dir(struct fe_daemon *d)
{
	return (d->dir);
}

/* Return "dir/name", owned by the daemon object. */
const char *
fe_daemon_path(struct fe_daemon *d, const char *name)
{
	char	*p;

	if (d->npaths == FE_MAX_PATHS)
		abort();
	if (asprintf(&p, "%s/%s", d->dir, name) == -1)
		abort();
	d->paths[d->npaths++] = p;
	return (p);
}

/* Write a file in the daemon's dir and return its path. */
const char *
fe_daemon_write_file(struct fe_daemon *d, const char *name, const void *text,
    size_t len)
{
	if (fe_daemon_put(d, name, text, len) == -1)
		return (NULL);
	return (fe_daemon_path(d, name));
}

/* Child side of fe_daemon_start: set up fds and exec. */
static void
fe_daemon_child(struct fe_daemon *d, char *const argv[], pid_t parent)
{
	int		fd, maxfd;
	sigset_t	set;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if ((fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600)) ==
	    -1)
		_exit(127);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
	if ((fd = open("/dev/null", O_RDONLY)) != -1) {
		dup2(fd, 0);
		if (fd > 0)
			close(fd);
	}
	maxfd = (int)sysconf(_SC_OPEN_MAX);
	if (maxfd < 0 || maxfd > 65536)
		maxfd = 65536;
	for (fd = 3; fd < maxfd; fd++)
		close(fd);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	execv(argv[0], argv);
	dprintf(2, "fe: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Record a wait status. */
static void
fe_daemon_set_status(struct fe_daemon *d, int wstatus)
{
	d->exited = 1;
	if (WIFEXITED(wstatus))
		d->status = WEXITSTATUS(wstatus);
	else if (WIFSIGNALED(wstatus))
		d->status = 128 + WTERMSIG(wstatus);
	else
		d->status = -1;
}

/* Start the daemon and wait for its sockets. */
int
fe_daemon_start(struct fe_daemon *d, const char *const *args,
    const char *const *sockets, int timeout_ms)
{
	char		*argv[FE_MAX_ARGS + 3];
	char		 loglevel[64], pidtxt[32];
	const char	*lvl;
	unsigned	 n = 0, i;
	int		 have_level = 0, ok;
	int64_t		 deadline;
	pid_t		 parent = getpid();
	struct stat	 st;

	argv[n++] = (char *)(uintptr_t)fe_daemon_binary();
	for (i = 0; args != NULL && args[i] != NULL; i++) {
		if (n >= FE_MAX_ARGS) {
			fe_seterr("too many arguments");
			return (-1);
		}
		if (strncmp(args[i], "--log-level", 11) == 0)
			have_level = 1;
		argv[n++] = (char *)(uintptr_t)args[i];
	}
	if (!have_level) {
		lvl = getenv("VHOSTD_TEST_LOG_LEVEL");
		snprintf(loglevel, sizeof loglevel, "--log-level=%s",
		    lvl != NULL && *lvl != '\0' ? lvl : "info");
		argv[n++] = loglevel;
	}
	argv[n] = NULL;

	fflush(NULL);
	d->pid = fork();
	if (d->pid == -1) {
		fe_seterr("fork: %s", strerror(errno));
		return (-1);
	}
	if (d->pid == 0)
		fe_daemon_child(d, argv, parent);
	d->exited = 0;
	d->status = 0;
	snprintf(pidtxt, sizeof pidtxt, "%ld\n", (long)d->pid);
	fe_daemon_put(d, "pid", pidtxt, strlen(pidtxt));

	deadline = fe_now_ms() + timeout_ms;
	for (;;) {
		if (!fe_daemon_alive(d)) {
			fe_seterr("vhostd exited during startup (status %d)",
			    d->status);
			return (-1);
		}
		ok = 1;
		for (i = 0; sockets != NULL && sockets[i] != NULL; i++) {
			if (stat(sockets[i], &st) == -1 ||
			    !S_ISSOCK(st.st_mode))
				ok = 0;
		}
		if (ok)
			return (0);
		if (fe_now_ms() > deadline) {
			fe_seterr("timeout waiting for the vhostd sockets");
			return (-1);
		}
		fe_sleep_ms(5);
	}
}

/* Return the daemon's pid. */
pid_t
fe_daemon_pid(struct fe_daemon *d)
{
	return (d->pid);
}

/* Say whether the daemon is still running. */
int
fe_daemon_alive(struct fe_daemon *d)
{
	int	wstatus;
	pid_t	r;

	if (d->exited || d->pid <= 0)
		return (0);
	r = waitpid(d->pid, &wstatus, WNOHANG);
	if (r == d->pid) {
		fe_daemon_set_status(d, wstatus);
		return (0);
	}
	if (r == -1 && errno == ECHILD) {
		d->exited = 1;
		d->status = -1;
		return (0);
	}
	return (1);
}

/* Wait for the daemon to exit, up to timeout_ms; 0 exited, -1 not. */
static int
fe_daemon_wait(struct fe_daemon *d, int timeout_ms)
{
	int64_t	deadline = fe_now_ms() + timeout_ms;

	while (fe_daemon_alive(d)) {
		if (fe_now_ms() > deadline)
			return (-1);
		fe_sleep_ms(5);
	}
	return (0);
}

/* SIGTERM the daemon and collect its exit status. */
int
fe_daemon_stop(struct fe_daemon *d, int timeout_ms)
{
	if (d->pid <= 0)
		return (-1);
	if (!d->exited) {
		kill(d->pid, SIGTERM);
		if (fe_daemon_wait(d, timeout_ms) == -1) {
			fe_daemon_kill(d);
			fe_seterr("vhostd did not exit after SIGTERM");
			return (-1);
		}
	}
	return (d->status);
}

/* SIGKILL the daemon and reap it. */
void
fe_daemon_kill(struct fe_daemon *d)
{
	int	wstatus;

	if (d->exited || d->pid <= 0)
		return;
	kill(d->pid, SIGKILL);
	if (waitpid(d->pid, &wstatus, 0) == d->pid)
		fe_daemon_set_status(d, wstatus);
	d->exited = 1;
}

/* Return the log so far. */
char *
fe_daemon_log(struct fe_daemon *d)
{
	return (fe_read_file(d->log_path, NULL));
}

/* Count the log lines containing `needle`. */
int
fe_daemon_log_count(struct fe_daemon *d, const char *needle)
{
	char	*log = fe_daemon_log(d), *line, *nl;
	int	 n = 0;

	for (line = log; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		if (strstr(line, needle) != NULL)
			n++;
		if (nl == NULL)
			break;
	}
	free(log);
	return (n);
}

/* Wait until the log holds `needle` `count` times. */
int
fe_daemon_wait_log(struct fe_daemon *d, const char *needle, int count,
    int timeout_ms)
{
	int64_t	deadline = fe_now_ms() + timeout_ms;

	for (;;) {
		if (fe_daemon_log_count(d, needle) >= count)
			return (0);
		if (fe_now_ms() > deadline) {
			fe_seterr("log line '%s' not seen %d times", needle,
			    count);
			return (-1);
		}
		fe_sleep_ms(5);
	}
}

/* Print the daemon's log. */
void
fe_daemon_dump_log(struct fe_daemon *d, FILE *fp)
{
	char	*log = fe_daemon_log(d);

	fprintf(fp, "==== vhostd log of '%s' (%s) ====\n%s==== end ====\n",
	    d->name, d->dir, log);
	free(log);
}

/* Kill the daemon if needed, remove its dir and free it. */
void
fe_daemon_free(struct fe_daemon *d)
{
	unsigned	i;

	if (d == NULL)
		return;
	fe_daemon_kill(d);
	if (getenv("FE_VERBOSE") != NULL && d->pid > 0)
		fe_daemon_dump_log(d, stderr);
	fe_rm_rf(d->dir);
	for (i = 0; i < d->npaths; i++)
		free(d->paths[i]);
	free(d->name);
	free(d);
}

/* ------------------------------------------------------------------ */

/* Connect to a unix socket, retrying while it is not there yet. */
int
fe_sock_connect(const char *path, int timeout_ms)
{
	struct sockaddr_un	sun;
	int64_t			deadline = fe_now_ms() + timeout_ms;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		fe_seterr("socket path too long: %s", path);
		return (-1);
	}
	strcpy(sun.sun_path, path);
	for (;;) {
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
		    -1) {
			fe_seterr("socket: %s", strerror(errno));
			return (-1);
		}
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
			return (fd);
		close(fd);
		if ((errno != ENOENT && errno != ECONNREFUSED &&
		    errno != EINTR) || fe_now_ms() > deadline) {
			fe_seterr("connect %s: %s", path, strerror(errno));
			return (-1);
		}
		fe_sleep_ms(5);
	}
}

/* Send raw bytes with fds attached to the first sendmsg. */
int
fe_sock_send_raw(int fd, const void *buf, size_t len, const int *fds,
    int nfds)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cmsg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 32)];
	} cbuf;
	ssize_t		 n;
	uint8_t		 dummy = 0;

	if (nfds < 0 || nfds > 32) {
		fe_seterr("bad fd count %d", nfds);
		return (-1);
	}
	if (len == 0 && nfds > 0) {
		/* fds need at least one byte to ride on. */
		buf = &dummy;
		len = 1;
	}
	do {
		memset(&msg, 0, sizeof msg);
		iov.iov_base = (void *)(uintptr_t)buf;
		iov.iov_len = len;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		if (nfds > 0) {
			memset(&cbuf, 0, sizeof cbuf);
			msg.msg_control = cbuf.buf;
			msg.msg_controllen = CMSG_SPACE(sizeof(int) *
			    (size_t)nfds);
			cmsg = CMSG_FIRSTHDR(&msg);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
			memcpy(CMSG_DATA(cmsg), fds, sizeof(int) *
			    (size_t)nfds);
		}
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fe_seterr("sendmsg: %s", strerror(errno));
			return (-1);
		}
		nfds = 0;
		buf = (const uint8_t *)buf + n;
		len -= (size_t)n;
	} while (len > 0);
	return (0);
}

/* Send a header claiming hdr_size and len payload bytes. */
int
fe_sock_send(int fd, uint32_t request, uint32_t flags, uint32_t hdr_size,
    const void *payload, size_t len, const int *fds, int nfds)
{
	struct vhost_user_header	 hdr;
	uint8_t				*buf;
	int				 r;

	hdr.request = request;
	hdr.flags = flags;
	hdr.size = hdr_size;
	if ((buf = malloc(sizeof hdr + len)) == NULL)
		abort();
	memcpy(buf, &hdr, sizeof hdr);
	if (len > 0)
		memcpy(buf + sizeof hdr, payload, len);
	r = fe_sock_send_raw(fd, buf, sizeof hdr + len, fds, nfds);
	free(buf);
	return (r);
}

/* Take fds out of a received control message. */
static void
fe_sock_take_fds(struct msghdr *msg, struct fe_msg *m)
{
	struct cmsghdr	*cmsg;
	int		*p, i, n;

	for (cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		n = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		p = (int *)(void *)CMSG_DATA(cmsg);
		for (i = 0; i < n; i++) {
			if (m != NULL && m->nfds < VHOST_USER_MAX_FDS)
				m->fds[m->nfds++] = p[i];
			else
				close(p[i]);
		}
	}
}

/* Read exactly len bytes before the deadline: 1, 0 closed, -1. */
static int
fe_sock_read_full(int fd, void *buf, size_t len, struct fe_msg *m,
    int64_t deadline)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 32)];
	} cbuf;
	struct pollfd	 pfd;
	ssize_t		 n;
	int64_t		 left;
	int		 r;

	while (len > 0) {
		left = deadline - fe_now_ms();
		if (left < 0)
			left = 0;
		pfd.fd = fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, (int)left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			fe_seterr("poll: %s", strerror(errno));
			return (-1);
		}
		if (r == 0) {
			fe_seterr("timeout waiting for a reply");
			return (-1);
		}
		memset(&msg, 0, sizeof msg);
		iov.iov_base = buf;
		iov.iov_len = len;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = sizeof cbuf.buf;
		memset(&cbuf, 0, sizeof cbuf);
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == -1 && errno == ECONNRESET) {
			fe_seterr("connection reset by vhostd");
			return (0);
		}
		if (n == -1) {
			fe_seterr("recvmsg: %s", strerror(errno));
			return (-1);
		}
		fe_sock_take_fds(&msg, m);
		if (n == 0) {
			fe_seterr("connection closed by vhostd");
			return (0);
		}
		buf = (uint8_t *)buf + n;
		len -= (size_t)n;
	}
	return (1);
}

/* Receive one message. */
int
fe_sock_recv(int fd, struct fe_msg *m, int timeout_ms)
{
	int64_t	deadline = fe_now_ms() + timeout_ms;
	int	r;

	memset(&m->hdr, 0, sizeof m->hdr);
	m->nfds = 0;
	r = fe_sock_read_full(fd, &m->hdr, sizeof m->hdr, m, deadline);
	if (r <= 0)
		return (r);
	if (m->hdr.size > sizeof m->payload) {
		fe_seterr("reply payload size %u too big", m->hdr.size);
		return (-1);
	}
	return (fe_sock_read_full(fd, m->payload, m->hdr.size, m, deadline));
}

/* Close the fds of a message. */
void
fe_msg_close_fds(struct fe_msg *m)
{
	int	i;

	for (i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

/* Return the u64 payload of a message. */
uint64_t
fe_msg_u64(const struct fe_msg *m)
{
	uint64_t	v;

	if (m->hdr.size != sizeof v)
		return (UINT64_MAX);
	memcpy(&v, m->payload, sizeof v);
	return (v);
}

/* Wait for the peer to close the connection. */
int
fe_sock_wait_closed(int fd, int timeout_ms)
{
	int64_t		deadline = fe_now_ms() + timeout_ms;
	uint8_t		buf[4096];
	struct fe_msg	m;
	int		r;

	for (;;) {
		m.nfds = 0;
		r = fe_sock_read_full(fd, buf, sizeof buf, &m, deadline);
		fe_msg_close_fds(&m);
		if (r == 0)
			return (1);
		if (fe_now_ms() >= deadline)
			return (0);
	}
}

/* ------------------------------------------------------------------ */

/* Create a local memfd region. */
int
fe_region_add(struct fe *fe, uint64_t gpa, uint64_t size, uint64_t offset)
{
	struct fe_region	*r;
	int			 idx;

	if (fe->nregions == FE_MAX_REGIONS) {
		fe_seterr("too many regions");
		return (-1);
	}
	idx = (int)fe->nregions;
	r = &fe->regions[idx];
	memset(r, 0, sizeof *r);
	if ((r->fd = memfd_create("fe-guest", MFD_CLOEXEC)) == -1) {
		fe_seterr("memfd_create: %s", strerror(errno));
		return (-1);
	}
	r->map_size = (size_t)(offset + size);
	if (ftruncate(r->fd, (off_t)r->map_size) == -1) {
		fe_seterr("ftruncate: %s", strerror(errno));
		close(r->fd);
		return (-1);
	}
	r->map = mmap(NULL, r->map_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    r->fd, 0);
	if (r->map == MAP_FAILED) {
		fe_seterr("mmap: %s", strerror(errno));
		close(r->fd);
		return (-1);
	}
	r->gpa = gpa;
	r->size = size;
	r->offset = offset;
	r->host = r->map + offset;
	r->next = gpa == 0 ? 0x1000 : 0;
	fe->nregions++;
	return (idx);
}

/* Create a frontend: connect and build guest memory. */
struct fe *
fe_new(const char *path, const struct fe_region_spec *specs, unsigned nspecs)
{
	struct fe	*fe;
	unsigned	 i;

	if ((fe = calloc(1, sizeof *fe)) == NULL)
		abort();
	fe->fd = -1;
	fe->backend_fd = -1;
	fe->timeout_ms = FE_TIMEOUT_MS;
	for (i = 0; i < FE_MAX_QUEUES; i++) {
		fe->queues[i].index = i;
		fe->queues[i].kick_fd = -1;
		fe->queues[i].call_fd = -1;
		fe->queues[i].err_fd = -1;
	}
	if (specs == NULL) {
		specs = fe_default_layout;
		nspecs = fe_default_layout_n;
	}
	for (i = 0; i < nspecs; i++) {
		if (fe_region_add(fe, specs[i].gpa, specs[i].size,
		    specs[i].offset) == -1)
			goto fail;
	}
	if (path != NULL) {
		fe->path = strdup(path);
		if ((fe->fd = fe_sock_connect(path, 2000)) == -1)
			goto fail;
	}
	return (fe);
fail:
	fe_free(fe);
	return (NULL);
}

/* Forget negotiated state (new connection). */
static void
fe_forget(struct fe *fe)
{
	fe->features = 0;
	fe->acked = 0;
	fe->protocol_features = 0;
	fe->acked_protocol = 0;
	fe->reply_ack = 0;
	fe->event_idx = 0;
	if (fe->backend_fd != -1)
		close(fe->backend_fd);
	fe->backend_fd = -1;
}

/* Close the socket. */
void
fe_disconnect(struct fe *fe)
{
	if (fe->fd != -1)
		close(fe->fd);
	fe->fd = -1;
	fe_forget(fe);
}

/* Connect again keeping memory and rings. */
int
fe_reconnect(struct fe *fe, const char *path)
{
	unsigned	i;

	fe_disconnect(fe);
	if (path != NULL) {
		free(fe->path);
		fe->path = strdup(path);
	}
	for (i = 0; i < fe->nregions; i++)
		fe->regions[i].present = 0;
	if ((fe->fd = fe_sock_connect(fe->path, 2000)) == -1)
		return (-1);
	return (0);
}

/* Free a queue's driver state. */
static void
fe_queue_free(struct fe_queue *q)
{
	if (q->kick_fd != -1)
		close(q->kick_fd);
	if (q->call_fd != -1)
		close(q->call_fd);
	if (q->err_fd != -1)
		close(q->err_fd);
	free(q->chain_len);
	free(q->req_len);
	free(q->req_gpa);
	free(q->chain_next);
	free(q->free_next);
}

/* Free everything. */
void
fe_free(struct fe *fe)
{
	unsigned	i;

	if (fe == NULL)
		return;
	fe_disconnect(fe);
	for (i = 0; i < FE_MAX_QUEUES; i++)
		fe_queue_free(&fe->queues[i]);
	for (i = 0; i < fe->nregions; i++) {
		munmap(fe->regions[i].map, fe->regions[i].map_size);
		close(fe->regions[i].fd);
	}
	free(fe->path);
	free(fe);
}

/* ------------------------------------------------------------------ */

/* Send a request and collect its reply or ack. */
int
fe_request(struct fe *fe, uint32_t request, const void *payload,
    uint32_t size, const int *fds, int nfds, struct fe_msg *reply,
    uint32_t want_size)
{
	struct fe_msg	 local, *m = reply != NULL ? reply : &local;
	int		 has_reply = fe_request_has_reply(request);
	uint32_t	 flags = VHOST_USER_VERSION;
	int		 r;

	if (fe->fd == -1) {
		fe_seterr("not connected");
		return (-1);
	}
	if (!has_reply && fe->reply_ack)
		flags |= VHOST_USER_NEED_REPLY_MASK;
	if (fe_sock_send(fe->fd, request, flags, size, payload, size, fds,
	    nfds) == -1)
		return (-1);
	if (!has_reply && !fe->reply_ack)
		return (0);
	r = fe_sock_recv(fe->fd, m, fe->timeout_ms);
	if (r <= 0)
		return (-1);
	fe_msg_close_fds(m);
	if (m->hdr.request != request ||
	    (m->hdr.flags & VHOST_USER_REPLY_MASK) == 0 ||
	    (m->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		fe_seterr("%s: bad reply header request %u flags 0x%x",
		    fe_request_name(request), m->hdr.request, m->hdr.flags);
		return (-1);
	}
	if (!has_reply) {
		if (m->hdr.size != 8) {
			fe_seterr("%s: ack of size %u",
			    fe_request_name(request), m->hdr.size);
			return (-1);
		}
		if (fe_msg_u64(m) != 0) {
			fe_seterr("%s: refused (ack %llu)",
			    fe_request_name(request),
			    (unsigned long long)fe_msg_u64(m));
			return (1);
		}
		return (0);
	}
	if (want_size != ~0u && m->hdr.size != want_size) {
		fe_seterr("%s: reply size %u, want %u",
		    fe_request_name(request), m->hdr.size, want_size);
		return (1);
	}
	return (0);
}

/* Send a request with NEED_REPLY and return the ack value. */
int
fe_request_ack(struct fe *fe, uint32_t request, const void *payload,
    uint32_t size, const int *fds, int nfds, uint64_t *ack)
{
	struct fe_msg	m;

	*ack = UINT64_MAX;
	if (fe->fd == -1) {
		fe_seterr("not connected");
		return (-1);
	}
	if (fe_sock_send(fe->fd, request, VHOST_USER_VERSION |
	    VHOST_USER_NEED_REPLY_MASK, size, payload, size, fds, nfds) == -1)
		return (-1);
	if (fe_sock_recv(fe->fd, &m, fe->timeout_ms) <= 0)
		return (-1);
	fe_msg_close_fds(&m);
	if (m.hdr.request != request ||
	    (m.hdr.flags & VHOST_USER_REPLY_MASK) == 0 || m.hdr.size != 8) {
		fe_seterr("%s: bad ack: request %u flags 0x%x size %u",
		    fe_request_name(request), m.hdr.request, m.hdr.flags,
		    m.hdr.size);
		return (-1);
	}
	*ack = fe_msg_u64(&m);
	return (*ack != 0 ? 1 : 0);
}

/* A request whose reply is a u64. */
int
fe_get_u64(struct fe *fe, uint32_t request, uint64_t *val)
{
	struct fe_msg	m;
	int		r;

	r = fe_request(fe, request, NULL, 0, NULL, 0, &m, 8);
	if (r == 0)
		*val = fe_msg_u64(&m);
	return (r);
}

/* A request carrying a u64. */
int
fe_set_u64(struct fe *fe, uint32_t request, uint64_t val)
{
	return (fe_request(fe, request, &val, sizeof val, NULL, 0, NULL, ~0u));
}

/* SET_OWNER. */
int
fe_set_owner(struct fe *fe)
{
	return (fe_request(fe, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, NULL,
	    ~0u));
}

/* GET_FEATURES. */
int
fe_get_features(struct fe *fe, uint64_t *v)
{
	int	r = fe_get_u64(fe, VHOST_USER_GET_FEATURES, v);

	if (r == 0)
		fe->features = *v;
	return (r);
}

/* SET_FEATURES. */
int
fe_set_features(struct fe *fe, uint64_t v)
{
	int	r = fe_set_u64(fe, VHOST_USER_SET_FEATURES, v);

	if (r == 0) {
		fe->acked = v;
		fe->event_idx = (v & FE_BIT(FE_F_EVENT_IDX)) != 0;
	}
	return (r);
}

/* GET_PROTOCOL_FEATURES. */
int
fe_get_protocol_features(struct fe *fe, uint64_t *v)
{
	int	r = fe_get_u64(fe, VHOST_USER_GET_PROTOCOL_FEATURES, v);

	if (r == 0)
		fe->protocol_features = *v;
	return (r);
}

/* SET_PROTOCOL_FEATURES; REPLY_ACK is used from the next request on. */
int
fe_set_protocol_features(struct fe *fe, uint64_t v)
{
	int	r = fe_set_u64(fe, VHOST_USER_SET_PROTOCOL_FEATURES, v);

	if (r == 0) {
		fe->acked_protocol = v;
		fe->reply_ack = (v &
		    FE_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK)) != 0;
	}
	return (r);
}

/* GET_QUEUE_NUM. */
int
fe_get_queue_num(struct fe *fe, uint64_t *v)
{
	return (fe_get_u64(fe, VHOST_USER_GET_QUEUE_NUM, v));
}

/* GET_MAX_MEM_SLOTS. */
int
fe_get_max_mem_slots(struct fe *fe, uint64_t *v)
{
	return (fe_get_u64(fe, VHOST_USER_GET_MAX_MEM_SLOTS, v));
}

/* Fill a wire region from a local one. */
static void
fe_region_wire(const struct fe_region *r, struct vhost_user_mem_region *w)
{
	w->guest_phys_addr = r->gpa;
	w->memory_size = r->size;
	w->userspace_addr = (uint64_t)(uintptr_t)r->host;
	w->mmap_offset = r->offset;
}

/* SET_MEM_TABLE. */
int
fe_set_mem_table(struct fe *fe, const unsigned *idx, unsigned n)
{
	struct {
		struct vhost_user_memory	mem;
		struct vhost_user_mem_region	regs[VHOST_USER_MEM_TABLE_MAX];
	} __attribute__((packed)) p;
	int		fds[VHOST_USER_MEM_TABLE_MAX];
	unsigned	i, k, cnt = 0;
	int		r;

	memset(&p, 0, sizeof p);
	if (idx == NULL)
		n = fe->nregions;
	for (i = 0; i < n; i++) {
		k = idx != NULL ? idx[i] : i;
		if (k >= fe->nregions || cnt == VHOST_USER_MEM_TABLE_MAX) {
			fe_seterr("bad region list");
			return (-1);
		}
		fe_region_wire(&fe->regions[k], &p.regs[cnt]);
		fds[cnt++] = fe->regions[k].fd;
	}
	p.mem.nregions = cnt;
	r = fe_request(fe, VHOST_USER_SET_MEM_TABLE, &p,
	    (uint32_t)(8 + cnt * sizeof p.regs[0]), fds, (int)cnt, NULL, ~0u);
	if (r == 0) {
		for (i = 0; i < fe->nregions; i++)
			fe->regions[i].present = 0;
		for (i = 0; i < n; i++)
			fe->regions[idx != NULL ? idx[i] : i].present = 1;
	}
	return (r);
}

/* ADD_MEM_REG of local region idx. */
int
fe_add_mem_reg(struct fe *fe, unsigned idx)
{
	struct vhost_user_mem_reg_msg	p;
	int				r;

	if (idx >= fe->nregions) {
		fe_seterr("bad region %u", idx);
		return (-1);
	}
	memset(&p, 0, sizeof p);
	fe_region_wire(&fe->regions[idx], &p.region);
	r = fe_request(fe, VHOST_USER_ADD_MEM_REG, &p, sizeof p,
	    &fe->regions[idx].fd, 1, NULL, ~0u);
	if (r == 0)
		fe->regions[idx].present = 1;
	return (r);
}

/* REM_MEM_REG of local region idx. */
int
fe_rem_mem_reg(struct fe *fe, unsigned idx)
{
	struct vhost_user_mem_reg_msg	p;
	int				r;

	if (idx >= fe->nregions) {
		fe_seterr("bad region %u", idx);
		return (-1);
	}
	memset(&p, 0, sizeof p);
	fe_region_wire(&fe->regions[idx], &p.region);
	r = fe_request(fe, VHOST_USER_REM_MEM_REG, &p, sizeof p, NULL, 0,
	    NULL, ~0u);
	if (r == 0)
		fe->regions[idx].present = 0;
	return (r);
}

/* GET_CONFIG. */
int
fe_get_config(struct fe *fe, uint32_t offset, uint32_t size, void *buf,
    uint32_t *got)
{
	uint8_t				 p[VHOST_USER_CONFIG_HDR_SIZE +
					    VHOST_USER_MAX_CONFIG_SIZE];
	struct vhost_user_config	 c;
	struct fe_msg			 m;
	int				 r;

	*got = 0;
	if (size > VHOST_USER_MAX_CONFIG_SIZE) {
		fe_seterr("config size too big");
		return (-1);
	}
	memset(p, 0, sizeof p);
	c.offset = offset;
	c.size = size;
	c.flags = 0;
	memcpy(p, &c, VHOST_USER_CONFIG_HDR_SIZE);
	r = fe_request(fe, VHOST_USER_GET_CONFIG, p,
	    VHOST_USER_CONFIG_HDR_SIZE + size, NULL, 0, &m,
	    VHOST_USER_CONFIG_HDR_SIZE + size);
	if (r != 0)
		return (r);
	memcpy(&c, m.payload, VHOST_USER_CONFIG_HDR_SIZE);
	if (c.size != size) {
		fe_seterr("GET_CONFIG: reply config size %u", c.size);
		return (1);
	}
	*got = c.size;
	if (buf != NULL)
		memcpy(buf, m.payload + VHOST_USER_CONFIG_HDR_SIZE, size);
	return (0);
}

/* SET_CONFIG. */
int
fe_set_config(struct fe *fe, uint32_t offset, const void *buf, uint32_t size)
{
	uint8_t				 p[VHOST_USER_CONFIG_HDR_SIZE +
					    VHOST_USER_MAX_CONFIG_SIZE];
	struct vhost_user_config	 c;

	if (size > VHOST_USER_MAX_CONFIG_SIZE) {
		fe_seterr("config size too big");
		return (-1);
	}
	c.offset = offset;
	c.size = size;
	c.flags = 0;
	memcpy(p, &c, VHOST_USER_CONFIG_HDR_SIZE);
	if (size > 0)
		memcpy(p + VHOST_USER_CONFIG_HDR_SIZE, buf, size);
	return (fe_request(fe, VHOST_USER_SET_CONFIG, p,
	    VHOST_USER_CONFIG_HDR_SIZE + size, NULL, 0, NULL, ~0u));
}

/* A request carrying a vring state {index, num}. */
int
fe_vring_state(struct fe *fe, uint32_t request, uint32_t index, uint32_t num)
{
	struct vhost_user_vring_state	s;

	s.index = index;
	s.num = num;
	return (fe_request(fe, request, &s, sizeof s, NULL, 0, NULL, ~0u));
}

/* SET_VRING_KICK/CALL/ERR with fd (or NOFD when fd < 0). */
int
fe_vring_fd(struct fe *fe, uint32_t request, uint32_t index, int fd)
{
	uint64_t	v = index;

	if (fd < 0)
		v |= VHOST_USER_VRING_NOFD_MASK;
	return (fe_request(fe, request, &v, sizeof v, fd >= 0 ? &fd : NULL,
	    fd >= 0 ? 1 : 0, NULL, ~0u));
}

/* GET_VRING_BASE. */
int
fe_get_vring_base(struct fe *fe, uint32_t index, uint32_t *num)
{
	struct vhost_user_vring_state	s;
	struct fe_msg			m;
	int				r;

	s.index = index;
	s.num = 0;
	r = fe_request(fe, VHOST_USER_GET_VRING_BASE, &s, sizeof s, NULL, 0,
	    &m, sizeof s);
	if (r != 0)
		return (r);
	memcpy(&s, m.payload, sizeof s);
	if (s.index != index) {
		fe_seterr("GET_VRING_BASE: reply for index %u", s.index);
		return (-1);
	}
	*num = s.num;
	return (0);
}

/* SET_VRING_ENABLE. */
int
fe_vring_enable(struct fe *fe, unsigned q, int on)
{
	return (fe_vring_state(fe, VHOST_USER_SET_VRING_ENABLE, q,
	    on ? 1 : 0));
}

/* Give the daemon the backend request channel. */
static int
fe_backend_channel(struct fe *fe)
{
	int	sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		fe_seterr("socketpair: %s", strerror(errno));
		return (-1);
	}
	r = fe_request(fe, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1,
	    NULL, ~0u);
	close(sv[1]);
	if (r != 0) {
		close(sv[0]);
		return (r);
	}
	if (fe->backend_fd != -1)
		close(fe->backend_fd);
	fe->backend_fd = sv[0];
	return (0);
}

/* Negotiate features as QEMU does. */
int
fe_negotiate(struct fe *fe, uint64_t want, uint64_t want_proto)
{
	uint64_t	f, pf;
	int		r;

	if ((r = fe_set_owner(fe)) != 0)
		return (r);
	if ((r = fe_get_features(fe, &f)) != 0)
		return (r);
	if (f & want & FE_BIT(VHOST_USER_F_PROTOCOL_FEATURES)) {
		if ((r = fe_get_protocol_features(fe, &pf)) != 0)
			return (r);
		if ((r = fe_set_protocol_features(fe, pf & want_proto)) != 0)
			return (r);
		if (fe->acked_protocol &
		    FE_BIT(VHOST_USER_PROTOCOL_F_BACKEND_REQ)) {
			if ((r = fe_backend_channel(fe)) != 0)
				return (r);
		}
	}
	return (fe_set_features(fe, f & want));
}

/* Place queue q's rings in guest memory. */
static int
fe_queue_alloc(struct fe *fe, struct fe_queue *q, unsigned num)
{
	uint64_t	dsize, asize, usize, base;
	unsigned	i;

	if (num == 0 || num > 32768 || (num & (num - 1)) != 0) {
		fe_seterr("bad ring size %u", num);
		return (-1);
	}
	dsize = 16ull * num;
	asize = 6 + 2ull * num;
	usize = 6 + 8ull * num;
	base = fe_alloc(fe, ((dsize + asize + 4095) & ~4095ull) + usize, 4096);
	if (base == 0)
		return (-1);
	q->num = num;
	q->desc_gpa = base;
	q->avail_gpa = base + dsize;
	q->used_gpa = (base + dsize + asize + 4095) & ~4095ull;
	q->desc = fe_host(fe, q->desc_gpa, dsize);
	q->avail = fe_host(fe, q->avail_gpa, asize);
	q->used = fe_host(fe, q->used_gpa, usize);
	if (q->desc == NULL || q->avail == NULL || q->used == NULL) {
		fe_seterr("rings not contiguous");
		return (-1);
	}
	memset(q->desc, 0, dsize);
	memset(q->avail, 0, asize);
	memset(q->used, 0, usize);
	q->chain_len = calloc(num, sizeof *q->chain_len);
	q->req_len = calloc(num, sizeof *q->req_len);
	q->req_gpa = calloc(num, sizeof *q->req_gpa);
	q->chain_next = calloc(num, sizeof *q->chain_next);
	q->free_next = calloc(num, sizeof *q->free_next);
	if (q->chain_len == NULL || q->req_len == NULL || q->req_gpa == NULL ||
	    q->chain_next == NULL || q->free_next == NULL)
		abort();
	for (i = 0; i < num; i++)
		q->free_next[i] = (uint16_t)(i + 1);
	q->free_head = 0;
	q->nfree = num;
	q->outstanding = 0;
	q->avail_idx = q->base;
	q->last_used = q->base;
	q->avail->idx = q->base;
	q->used->idx = q->base;
	q->allocated = 1;
	return (0);
}

/* Create an eventfd if missing. */
static int
fe_eventfd(int *fd)
{
	if (*fd != -1)
		return (0);
	if ((*fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		fe_seterr("eventfd: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/* Place queue q's rings in guest memory once. */
int
fe_queue_init(struct fe *fe, unsigned qi, unsigned num)
{
	struct fe_queue	*q;

	if (qi >= FE_MAX_QUEUES) {
		fe_seterr("bad queue %u", qi);
		return (-1);
	}
	q = &fe->queues[qi];
	if (!q->allocated && fe_queue_alloc(fe, q, num) == -1)
		return (-1);
	if (q->num != num) {
		fe_seterr("queue %u already has size %u", qi, q->num);
		return (-1);
	}
	return (0);
}

/* Set up queue q and hand it to the daemon. */
int
fe_queue_setup(struct fe *fe, unsigned qi, unsigned num)
{
	struct fe_queue			*q;
	struct vhost_user_vring_addr	 a;
	int				 r;

	if (qi >= FE_MAX_QUEUES) {
		fe_seterr("bad queue %u", qi);
		return (-1);
	}
	q = &fe->queues[qi];
	if (fe_queue_init(fe, qi, num) == -1)
		return (-1);
	if (fe_eventfd(&q->kick_fd) == -1 || fe_eventfd(&q->call_fd) == -1 ||
	    fe_eventfd(&q->err_fd) == -1)
		return (-1);
	if ((r = fe_vring_fd(fe, VHOST_USER_SET_VRING_ERR, qi, q->err_fd)) != 0)
		return (r);
	if ((r = fe_vring_state(fe, VHOST_USER_SET_VRING_NUM, qi, num)) != 0)
		return (r);
	if ((r = fe_vring_state(fe, VHOST_USER_SET_VRING_BASE, qi,
	    q->base)) != 0)
		return (r);
	memset(&a, 0, sizeof a);
	a.index = qi;
	a.desc_user_addr = (uint64_t)(uintptr_t)q->desc;
	a.used_user_addr = (uint64_t)(uintptr_t)q->used;
	a.avail_user_addr = (uint64_t)(uintptr_t)q->avail;
	if ((r = fe_request(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL,
	    0, NULL, ~0u)) != 0)
		return (r);
	if ((r = fe_vring_fd(fe, VHOST_USER_SET_VRING_KICK, qi,
	    q->kick_fd)) != 0)
		return (r);
	return (fe_vring_fd(fe, VHOST_USER_SET_VRING_CALL, qi, q->call_fd));
}

/* Negotiate, send memory, set up and enable queue 0. */
int
fe_start(struct fe *fe, unsigned num)
{
	int	r;

	if ((r = fe_negotiate(fe, FE_WANT_FEATURES, FE_WANT_PROTOCOL)) != 0)
		return (r);
	if ((r = fe_set_mem_table(fe, NULL, 0)) != 0)
		return (r);
	if ((r = fe_queue_setup(fe, 0, num)) != 0)
		return (r);
	if (fe->acked & FE_BIT(VHOST_USER_F_PROTOCOL_FEATURES))
		return (fe_vring_enable(fe, 0, 1));
	return (0);
}

/* ------------------------------------------------------------------ */

/* Allocate guest memory from region `region`. */
uint64_t
fe_alloc_in(struct fe *fe, int region, uint64_t size, uint64_t align)
{
	struct fe_region	*r;
	uint64_t		 off;

	if (region < 0 || (unsigned)region >= fe->nregions) {
		fe_seterr("bad region %d", region);
		return (0);
	}
	if (align == 0)
		align = 1;
	r = &fe->regions[region];
	off = (r->gpa + r->next + align - 1) / align * align - r->gpa;
	if (off > r->size || size > r->size - off) {
		fe_seterr("region %d full", region);
		return (0);
	}
	r->next = off + size;
	return (r->gpa + off);
}

/* Allocate guest memory from the first region with room. */
uint64_t
fe_alloc(struct fe *fe, uint64_t size, uint64_t align)
{
	unsigned	i;
	uint64_t	gpa;

	for (i = 0; i < fe->nregions; i++) {
		if (fe->regions[i].no_alloc)
			continue;
		if ((gpa = fe_alloc_in(fe, (int)i, size, align)) != 0)
			return (gpa);
	}
	fe_seterr("guest memory full (%llu bytes)", (unsigned long long)size);
	return (0);
}

/* Find the region holding gpa. */
static struct fe_region *
fe_region_of(struct fe *fe, uint64_t gpa)
{
	unsigned	i;

	for (i = 0; i < fe->nregions; i++) {
		if (gpa >= fe->regions[i].gpa &&
		    gpa - fe->regions[i].gpa < fe->regions[i].size)
			return (&fe->regions[i]);
	}
	return (NULL);
}

/* Host address of a range within one region. */
void *
fe_host(struct fe *fe, uint64_t gpa, uint64_t len)
{
	struct fe_region	*r = fe_region_of(fe, gpa);

	if (r == NULL || len > r->size - (gpa - r->gpa))
		return (NULL);
	return (r->host + (gpa - r->gpa));
}

/* Copy between guest memory and buf across regions. */
static int
fe_copy(struct fe *fe, uint64_t gpa, void *buf, const void *src, int c,
    size_t len)
{
	struct fe_region	*r;
	uint64_t		 n;
	uint8_t			*h;

	while (len > 0) {
		if ((r = fe_region_of(fe, gpa)) == NULL) {
			fe_seterr("gpa 0x%llx not mapped",
			    (unsigned long long)gpa);
			return (-1);
		}
		n = r->size - (gpa - r->gpa);
		if (n > len)
			n = len;
		h = r->host + (gpa - r->gpa);
		if (buf != NULL) {
			memcpy(buf, h, n);
			buf = (uint8_t *)buf + n;
		} else if (src != NULL) {
			memcpy(h, src, n);
			src = (const uint8_t *)src + n;
		} else
			memset(h, c, n);
		gpa += n;
		len -= n;
	}
	return (0);
}

/* Read guest memory. */
int
fe_read(struct fe *fe, uint64_t gpa, void *buf, size_t len)
{
	return (fe_copy(fe, gpa, buf, NULL, 0, len));
}

/* Write guest memory. */
int
fe_write(struct fe *fe, uint64_t gpa, const void *buf, size_t len)
{
	return (fe_copy(fe, gpa, NULL, buf, 0, len));
}

/* Fill guest memory with a byte. */
int
fe_fill(struct fe *fe, uint64_t gpa, int c, size_t len)
{
	return (fe_copy(fe, gpa, NULL, NULL, c, len));
}

/* ------------------------------------------------------------------ */

/* Return queue q. */
struct fe_queue *
fe_queue(struct fe *fe, unsigned q)
{
	return (&fe->queues[q < FE_MAX_QUEUES ? q : 0]);
}

/* Take a descriptor from the free list. */
static uint16_t
fe_desc_get(struct fe_queue *q)
{
	uint16_t	d = (uint16_t)q->free_head;

	q->free_head = q->free_next[d];
	q->nfree--;
	return (d);
}

/* Publish head in the avail ring (release). */
static void
fe_avail_publish(struct fe_queue *q, uint16_t head)
{
	q->avail->ring[q->avail_idx % q->num] = head;
	q->avail_idx++;
	__atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
}

/* Post a chain of buffers. */
int
fe_post(struct fe *fe, unsigned qi, const struct fe_buf *bufs, unsigned n,
    unsigned flags)
{
	struct fe_queue		*q = fe_queue(fe, qi);
	struct vring_desc	*tbl;
	uint16_t		 head, d, prev = 0;
	uint32_t		 wlen = 0;
	uint64_t		 wgpa = 0;
	unsigned		 i;

	if (!q->allocated || n == 0) {
		fe_seterr("queue %u not set up or empty chain", qi);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (bufs[i].write) {
			if (wgpa == 0)
				wgpa = bufs[i].gpa;
			wlen += bufs[i].len;
		}
	}
	if (flags & FE_POST_INDIRECT) {
		if (n > FE_MAX_INDIRECT || q->nfree == 0) {
			fe_seterr("indirect chain too long or ring full");
			return (-1);
		}
		if (q->indir_gpa == 0) {
			q->indir_gpa = fe_alloc(fe, (uint64_t)q->num *
			    FE_MAX_INDIRECT * 16, 16);
			if (q->indir_gpa == 0)
				return (-1);
		}
		head = fe_desc_get(q);
		tbl = fe_host(fe, q->indir_gpa + (uint64_t)head *
		    FE_MAX_INDIRECT * 16, (uint64_t)n * 16);
		if (tbl == NULL)
			abort();
		for (i = 0; i < n; i++) {
			tbl[i].addr = bufs[i].gpa;
			tbl[i].len = bufs[i].len;
			tbl[i].flags = (uint16_t)((bufs[i].write ?
			    VRING_DESC_F_WRITE : 0) |
			    (i + 1 < n ? VRING_DESC_F_NEXT : 0));
			tbl[i].next = (uint16_t)(i + 1 < n ? i + 1 : 0);
		}
		q->desc[head].addr = q->indir_gpa + (uint64_t)head *
		    FE_MAX_INDIRECT * 16;
		q->desc[head].len = n * 16;
		q->desc[head].flags = VRING_DESC_F_INDIRECT;
		q->desc[head].next = 0;
		q->chain_len[head] = 1;
	} else {
		if (n > q->nfree) {
			fe_seterr("ring full (%u free, %u wanted)", q->nfree,
			    n);
			return (-1);
		}
		head = 0;
		for (i = 0; i < n; i++) {
			d = fe_desc_get(q);
			if (i == 0)
				head = d;
			else {
				q->desc[prev].next = d;
				q->desc[prev].flags |= VRING_DESC_F_NEXT;
				q->chain_next[prev] = d;
			}
			q->desc[d].addr = bufs[i].gpa;
			q->desc[d].len = bufs[i].len;
			q->desc[d].flags = bufs[i].write ? VRING_DESC_F_WRITE :
			    0;
			q->desc[d].next = 0;
			prev = d;
		}
		q->chain_len[head] = (uint16_t)n;
	}
	q->req_len[head] = wlen;
	q->req_gpa[head] = wgpa;
	q->outstanding++;
	fe_avail_publish(q, head);
	if (!(flags & FE_POST_NOKICK))
		fe_kick(fe, qi);
	return (head);
}

/* Publish a hand-made head. */
void
fe_publish_raw(struct fe *fe, unsigned qi, uint16_t head)
{
	fe_avail_publish(fe_queue(fe, qi), head);
}

/* Kick queue q. */
int
fe_kick(struct fe *fe, unsigned qi)
{
	if (eventfd_write(fe_queue(fe, qi)->kick_fd, 1) == -1) {
		fe_seterr("kick: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/* Kick when the device asked for it (EVENT_IDX or NO_NOTIFY). */
int
fe_kick_if_needed(struct fe *fe, unsigned qi, uint16_t old_idx)
{
	struct fe_queue	*q = fe_queue(fe, qi);
	uint16_t	 event, new_idx = q->avail_idx;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (fe->event_idx) {
		event = __atomic_load_n((uint16_t *)(void *)
		    &q->used->ring[q->num], __ATOMIC_ACQUIRE);
		if ((uint16_t)(new_idx - event - 1) >=
		    (uint16_t)(new_idx - old_idx))
			return (0);
	} else if (__atomic_load_n(&q->used->flags, __ATOMIC_ACQUIRE) &
	    VRING_USED_F_NO_NOTIFY)
		return (0);
	return (fe_kick(fe, qi));
}

/* Wait on an eventfd and consume it. */
static int
fe_wait_eventfd(int fd, int timeout_ms)
{
	struct pollfd	pfd;
	eventfd_t	v;
	int		r;

	pfd.fd = fd;
	pfd.events = POLLIN;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r == -1 && errno == EINTR);
	if (r <= 0)
		return (0);
	eventfd_read(fd, &v);
	return (1);
}

/* Wait for the call eventfd. */
int
fe_wait_call(struct fe *fe, unsigned qi, int timeout_ms)
{
	struct fe_queue	*q = fe_queue(fe, qi);
	int		 r = fe_wait_eventfd(q->call_fd, timeout_ms);

	q->calls += (uint64_t)r;
	return (r);
}

/* Wait for the err eventfd. */
int
fe_wait_err(struct fe *fe, unsigned qi, int timeout_ms)
{
	return (fe_wait_eventfd(fe_queue(fe, qi)->err_fd, timeout_ms));
}

/* Take one used entry and free its descriptors. */
int
fe_get_used(struct fe *fe, unsigned qi, uint32_t *id, uint32_t *len)
{
	struct fe_queue		*q = fe_queue(fe, qi);
	struct vring_used_elem	 e;
	uint16_t		 idx, d;
	unsigned		 i, n;

	if (!q->allocated)
		return (0);
	idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	if (idx == q->last_used)
		return (0);
	if ((uint16_t)(idx - q->last_used) > q->num) {
		fe_seterr("used idx %u runs %u ahead of %u", idx,
		    (uint16_t)(idx - q->last_used), q->last_used);
		return (-1);
	}
	e = q->used->ring[q->last_used % q->num];
	q->last_used++;
	*id = e.id;
	*len = e.len;
	if (e.id >= q->num || q->chain_len[e.id] == 0) {
		fe_seterr("used id %u not outstanding", e.id);
		return (-1);
	}
	n = q->chain_len[e.id];
	d = (uint16_t)e.id;
	for (i = 1; i < n; i++)
		d = q->chain_next[d];
	q->free_next[d] = (uint16_t)q->free_head;
	q->free_head = e.id;
	q->nfree += n;
	q->chain_len[e.id] = 0;
	q->outstanding--;
	if (e.len > q->req_len[e.id]) {
		fe_seterr("used len %u > %u writable bytes posted", e.len,
		    q->req_len[e.id]);
		return (-1);
	}
	return (1);
}

/* Take one used entry, waiting for the call fd. */
int
fe_wait_used(struct fe *fe, unsigned qi, uint32_t *id, uint32_t *len,
    int timeout_ms)
{
	struct fe_queue	*q = fe_queue(fe, qi);
	int64_t		 deadline = fe_now_ms() + timeout_ms, left;
	int		 r;

	for (;;) {
		if ((r = fe_get_used(fe, qi, id, len)) != 0)
			return (r);
		if (fe->event_idx && q->allocated) {
			/* used_event: interrupt me once entry last_used is
			 * written; then look again to close the race. */
			__atomic_store_n(&q->avail->ring[q->num], q->last_used,
			    __ATOMIC_RELEASE);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if ((r = fe_get_used(fe, qi, id, len)) != 0)
				return (r);
		}
		left = deadline - fe_now_ms();
		if (left <= 0) {
			fe_seterr("queue %u: timeout waiting for used entries"
			    " (%u outstanding)", qi, q->outstanding);
			return (0);
		}
		fe_wait_call(fe, qi, (int)left);
	}
}

/* ------------------------------------------------------------------ */

/* Read entropy from queue q. */
int
fe_rng_read(struct fe *fe, unsigned qi, void *out, size_t total,
    size_t chunk, unsigned depth, unsigned segs, int indirect,
    struct fe_rng_stats *st)
{
	struct fe_queue	*q = fe_queue(fe, qi);
	struct fe_buf	 bufs[FE_MAX_INDIRECT];
	uint16_t	*slot_of = NULL, *free_slots = NULL;
	uint64_t	 stride, start_ns, calls0;
	size_t		 done = 0, inflight = 0, len, part, off;
	uint32_t	 id, ulen, *posted = NULL;
	unsigned	 nfree_slots, i, nseg, slot;
	int		 head, r, ret = -1, posted_any;

	memset(st, 0, sizeof *st);
	if (!q->allocated || chunk == 0 || segs == 0 ||
	    segs > FE_MAX_INDIRECT || (!indirect && segs > q->num)) {
		fe_seterr("bad rng_read arguments");
		return (-1);
	}
	if (depth == 0 || depth > q->num)
		depth = q->num;
	if (!indirect && depth * segs > q->num)
		depth = q->num / segs;
	stride = (chunk + 63) & ~(uint64_t)63;
	if (fe->pool_size < stride * depth) {
		fe->pool_gpa = fe_alloc(fe, stride * depth, 4096);
		if (fe->pool_gpa == 0)
			return (-1);
		fe->pool_size = stride * depth;
	}
	slot_of = calloc(q->num, sizeof *slot_of);
	free_slots = calloc(depth, sizeof *free_slots);
	posted = calloc(depth, sizeof *posted);
	if (slot_of == NULL || free_slots == NULL || posted == NULL)
		abort();
	for (i = 0; i < depth; i++)
		free_slots[i] = (uint16_t)(depth - 1 - i);
	nfree_slots = depth;
	calls0 = q->calls;
	start_ns = fe_now_ns();

	while (done < total) {
		posted_any = 0;
		while (nfree_slots > 0 && done + inflight < total) {
			len = total - done - inflight;
			if (len > chunk)
				len = chunk;
			slot = free_slots[--nfree_slots];
			nseg = segs < len ? segs : (unsigned)len;
			for (i = 0, off = 0; i < nseg; i++) {
				part = len / nseg + (i < len % nseg ? 1 : 0);
				bufs[i].gpa = fe->pool_gpa + slot * stride +
				    off;
				bufs[i].len = (uint32_t)part;
				bufs[i].write = 1;
				off += part;
			}
			head = fe_post(fe, qi, bufs, nseg, FE_POST_NOKICK |
			    (indirect ? FE_POST_INDIRECT : 0));
			if (head < 0)
				goto out;
			slot_of[head] = (uint16_t)slot;
			posted[slot] = (uint32_t)len;
			inflight += len;
			posted_any = 1;
		}
		if (posted_any && fe_kick(fe, qi) == -1)
			goto out;
		r = fe_wait_used(fe, qi, &id, &ulen, fe->timeout_ms);
		if (r != 1)
			goto out;
		while (r == 1) {
			slot = slot_of[id];
			if (out != NULL && ulen > 0 && fe_read(fe,
			    fe->pool_gpa + slot * stride,
			    (uint8_t *)out + done, ulen) == -1)
				goto out;
			done += ulen;
			inflight -= posted[slot];
			if (ulen < posted[slot])
				st->short_replies++;
			st->requests++;
			free_slots[nfree_slots++] = (uint16_t)slot;
			r = fe_get_used(fe, qi, &id, &ulen);
		}
		if (r != 0)
			goto out;
	}
	ret = 0;
out:
	st->elapsed_ns = fe_now_ns() - start_ns;
	st->elapsed_ms = (int64_t)(st->elapsed_ns / 1000000);
	st->bytes = done;
	st->calls = q->calls - calls0;
	free(slot_of);
	free(free_slots);
	free(posted);
	return (ret);
}
