/*
 * Test frontend: the per-run temp directory and control of the vhostd
 * process under test (start, stop, log).
 * See fe.h.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
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
#include "fe_priv.h"

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
	int		 tty_fd;	/* stdio of the daemon, or -1 */
};

static char	fe_tmp_dir[256];
static int	fe_tmp_created;

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
	d->tty_fd = -1;
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

/* Copy the file `from` to "dir/name" (fe.h). */
const char *
fe_daemon_copy_file(struct fe_daemon *d, const char *from, const char *name)
{
	const char	*path = NULL;
	char		*buf = NULL;
	FILE		*fp;
	long		 len;

	if ((fp = fopen(from, "rb")) == NULL) {
		fe_seterr("%s: %s", from, strerror(errno));
		return (NULL);
	}
	if (fseek(fp, 0, SEEK_END) == -1 || (len = ftell(fp)) <= 0 ||
	    fseek(fp, 0, SEEK_SET) == -1 ||
	    (buf = malloc((size_t)len)) == NULL ||
	    fread(buf, 1, (size_t)len, fp) != (size_t)len)
		fe_seterr("%s: cannot read it", from);
	else
		path = fe_daemon_write_file(d, name, buf, (size_t)len);
	free(buf);
	fclose(fp);
	return (path);
}

/* Child side of fe_daemon_start: set up fds and exec. */
static void
fe_daemon_child(struct fe_daemon *d, char *const argv[], pid_t parent)
{
	int		fd, maxfd;
	sigset_t	set;
	char		ctl[600];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if (d->tty_fd != -1) {
		/* A session of its own with the terminal as its controlling
		 * terminal, as in a person's shell. */
		if (setsid() == -1 || ioctl(d->tty_fd, TIOCSCTTY, 0) == -1)
			_exit(127);
		dup2(d->tty_fd, 0);
		dup2(d->tty_fd, 1);
		dup2(d->tty_fd, 2);
		if (d->tty_fd > 2)
			close(d->tty_fd);
	} else {
		if ((fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND,
		    0600)) == -1)
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
	/* A control socket of its own, not the system's /run/vhostd/control
	 * (a --control or config key still wins). */
	if (snprintf(ctl, sizeof ctl, "%s/control", d->dir) < (int)sizeof ctl)
		setenv("VHOSTD_CONTROL", ctl, 1);
	execv(argv[0], argv);
	dprintf(2, "fe: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Give the daemon this terminal as stdin, stdout and stderr (and
 * controlling terminal) instead of /dev/null and the log file. */
void
fe_daemon_set_tty(struct fe_daemon *d, int fd)
{
	d->tty_fd = fd;
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
