/*
 * Suite "hostile_priv": least privilege of the daemon of hostile_harness.h:
 * socket mode, owner and group from the config, --user/--group, the
 * seccomp filter (in the daemon and on its own) and module paths.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"
#include "privsep.h"
#include "hostile_harness.h"

/* Run vhostd with `args` to completion; its exit status, output in buf. */
static int
h_run(const char *const *args, char *buf, size_t len)
{
	const char	*argv[16];
	int		 p[2], status;
	unsigned	 n = 0, i;
	size_t		 have = 0;
	ssize_t		 r;
	pid_t		 pid;

	argv[n++] = fe_daemon_binary();
	for (i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(p[1]);
	while (have < len - 1 && (r = read(p[0], buf + have,
	    len - 1 - have)) > 0)
		have += (size_t)r;
	buf[have] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return (WIFEXITED(status) ? WEXITSTATUS(status) : 128 +
	    WTERMSIG(status));
}

/* socket-mode, socket-owner and socket-group from the config file. */
START_TEST(test_socket_owner)
{
	struct fe_daemon	*d;
	struct stat		 st;
	struct fe		*fe;
	struct group		*gr;
	const char		*conf, *socks[2], *args[3];
	char			 text[1024], carg[700], gname[64], out[4096];
	int			 root = geteuid() == 0;

	d = fe_daemon_new("hostile: socket owner");
	ck_assert_ptr_nonnull(d);
	gr = getgrgid(getegid());
	snprintf(gname, sizeof gname, "%s", gr != NULL ? gr->gr_name : "0");
	snprintf(text, sizeof text,
	    "device rng0 {\n"
	    "    module rng\n"
	    "    socket \"%s\"\n"
	    "    socket-mode 0660\n"
	    "    socket-group \"%s\"\n"
	    "%s"
	    "}\n", fe_daemon_path(d, "rng.sock"), gname,
	    root ? "    socket-owner nobody\n" : "");
	conf = fe_daemon_write_file(d, "vhostd.conf", text, strlen(text));
	snprintf(carg, sizeof carg, "--config=%s", conf);
	args[0] = carg;
	args[1] = NULL;
	socks[0] = fe_daemon_path(d, "rng.sock");
	socks[1] = NULL;
	ck_assert_int_eq(fe_daemon_start(d, args, socks, H_START_MS), 0);
	/* The socket exists from bind(); owner and mode are set before
	 * listen(), so before this line. */
	ck_assert_int_eq(fe_daemon_wait_log(d, "listening on", 1, H_START_MS),
	    0);
	ck_assert_int_eq(lstat(socks[0], &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	ck_assert_uint_eq(st.st_gid, getegid());
	if (root) {
		struct passwd *pw = getpwnam("nobody");

		ck_assert_ptr_nonnull(pw);
		ck_assert_uint_eq(st.st_uid, pw->pw_uid);
	} else
		ck_assert_uint_eq(st.st_uid, geteuid());
	fe = h_fe(socks[0]);
	h_read(fe);
	fe_free(fe);
	ck_assert_int_eq(fe_daemon_stop(d, H_STOP_MS), 0);

	/* Unknown owner or group: a config error naming the line. */
	snprintf(text, sizeof text,
	    "device rng0 {\n    module rng\n    socket \"%s\"\n"
	    "    socket-owner no-such-user-here\n"
	    "    socket-group no-such-group-here\n}\n",
	    fe_daemon_path(d, "bad.sock"));
	conf = fe_daemon_write_file(d, "bad.conf", text, strlen(text));
	snprintf(carg, sizeof carg, "--config=%s", conf);
	args[0] = "-n";
	args[1] = carg;
	args[2] = NULL;
	ck_assert_int_eq(h_run(args, out, sizeof out), 1);
	ck_assert_msg(strstr(out, "bad.conf:4: device \"rng0\": socket-owner: "
	    "unknown user 'no-such-user-here'") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "bad.conf:5: device \"rng0\": socket-group: "
	    "unknown group 'no-such-group-here'") != NULL, "%s", out);
	fe_daemon_free(d);
}
END_TEST

/* --user/--group: refused before serving when unknown; as root, the
 * daemon runs as nobody with no supplementary groups and still serves. */
START_TEST(test_drop_user)
{
	struct passwd		*pw;
	struct h		 h;
	char			 out[4096];
	const char		*bad[] = { "--module=rng", "--socket=/nonexistent",
	    "--user=no-such-user-here", NULL };
	const char		*extra[] = { "--user=nobody", NULL };
	pid_t			 pid;

	ck_assert_int_eq(h_run(bad, out, sizeof out), 1);
	ck_assert_msg(strstr(out, "--user: unknown user") != NULL, "%s", out);
	bad[2] = "--group=no-such-group-here";
	ck_assert_int_eq(h_run(bad, out, sizeof out), 1);
	ck_assert_msg(strstr(out, "--group: unknown group") != NULL, "%s",
	    out);
	if (geteuid() != 0) {
		fprintf(stderr, "check_hostile: not root, --user=nobody "
		    "not tested\n");
		return;
	}
	pw = getpwnam("nobody");
	ck_assert_ptr_nonnull(pw);
	h_start_args(&h, "hostile: --user", extra);
	pid = fe_daemon_pid(h.d);
	/* nobody may unlink its sockets at exit. */
	ck_assert_int_eq(chmod(fe_daemon_dir(h.d), 0777), 0);
	ck_assert_int_eq(h_status(pid, "Uid:"), (long)pw->pw_uid);
	ck_assert_int_eq(h_status(pid, "Gid:"), (long)pw->pw_gid);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "running as user nobody"),
	    1);
	{
		char	 path[64], line[256];
		FILE	*fp;
		int	 found = 0;

		snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
		fp = fopen(path, "r");
		ck_assert_ptr_nonnull(fp);
		while (fgets(line, sizeof line, fp) != NULL) {
			if (strncmp(line, "Groups:", 7) != 0)
				continue;
			found = 1;
			ck_assert_int_eq(strtol(line + 7, NULL, 10),
			    (long)pw->pw_gid);
		}
		fclose(fp);
		ck_assert(found);
	}
	h_check(&h, "--user");
	h_stop(&h);
}
END_TEST

/* The filter is on by default in every thread of the daemon; off with
 * --no-seccomp. */
START_TEST(test_seccomp_daemon)
{
	const char	*off[] = { "--no-seccomp", NULL };
	char		 path[96];
	struct h	 h;
	DIR		*dir;
	struct dirent	*de;
	pid_t		 pid;
	int		 tasks = 0;

	h_start(&h, "hostile: seccomp on");
	pid = fe_daemon_pid(h.d);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "seccomp filter installed"),
	    1);
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		tasks++;
		ck_assert_int_eq(h_status((pid_t)atoi(de->d_name),
		    "Seccomp:"), 2);
	}
	closedir(dir);
	ck_assert_int_ge(tasks, 3);	/* main and a worker per device */
	h_check(&h, "seccomp");
	h_stop(&h);

	h_start_args(&h, "hostile: seccomp off", off);
	ck_assert_int_eq(h_status(fe_daemon_pid(h.d), "Seccomp:"), 0);
	h_stop(&h);
}
END_TEST

/* The filter itself, in a child: allowed calls work, fork, exec, new
 * executable memory and odd ioctls do not. */
START_TEST(test_seccomp_filter)
{
	char		*cause = NULL;
	pid_t		 pid;
	int		 status, fd;
	void		*p;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (privsep_seccomp(&cause) != 0)
			_exit(10);
		if ((fd = eventfd(0, EFD_CLOEXEC)) == -1)
			_exit(11);
		close(fd);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
			_exit(12);
		close(fd);
		if (h_getrandom_ok() == 0)
			_exit(13);
		/* Argument checks (not in sanitizer builds). */
		p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED && !h_sanitized())
			_exit(14);
		if (ioctl(0, TIOCSTI, "x") != -1 || errno != ENOTTY)
			_exit(15);
		if (!h_sanitized() && (syscall(SYS_clone, SIGCHLD, 0, 0, 0,
		    0) != -1 || errno != EPERM))
			_exit(16);
		/* Not on the list at all: killed. */
		execl("/bin/true", "true", (char *)NULL);
		_exit(17);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
	    "child %s %d", WIFSIGNALED(status) ? "killed by" : "exited",
	    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}
END_TEST

/* Modules: path components and a module directory writable by others
 * are refused before serving. */
START_TEST(test_module_paths)
{
	struct fe_daemon	*d;
	char			 out[4096], marg[700], sarg[700];
	const char		*args[5];

	d = fe_daemon_new("hostile: module paths");
	ck_assert_ptr_nonnull(d);
	snprintf(sarg, sizeof sarg, "--socket=%s", fe_daemon_path(d, "s"));
	args[0] = "--module=../rng";
	args[1] = sarg;
	args[2] = NULL;
	ck_assert_int_eq(h_run(args, out, sizeof out), 1);
	ck_assert_msg(strstr(out, "invalid module name") != NULL, "%s", out);
	ck_assert_int_eq(mkdir(fe_daemon_path(d, "mods"), 0777), 0);
	ck_assert_int_eq(chmod(fe_daemon_path(d, "mods"), 0777), 0);
	snprintf(marg, sizeof marg, "--module-dir=%s",
	    fe_daemon_path(d, "mods"));
	args[0] = "--module=rng";
	args[2] = marg;
	args[3] = NULL;
	ck_assert_int_eq(h_run(args, out, sizeof out), 1);
	ck_assert_msg(strstr(out, "writable by group or others") != NULL,
	    "%s", out);
	rmdir(fe_daemon_path(d, "mods"));
	fe_daemon_free(d);
}
END_TEST


/* Build the suite. */
static Suite *
hostile_priv_suite(void)
{
	Suite	*s = suite_create("hostile_priv");
	TCase	*tc;

	tc = h_tcase(s, "privilege", 60);
	tcase_add_test(tc, test_socket_owner);
	tcase_add_test(tc, test_drop_user);
	tcase_add_test(tc, test_seccomp_daemon);
	tcase_add_test(tc, test_seccomp_filter);
	tcase_add_test(tc, test_module_paths);
	return (s);
}

int
main(void)
{
	return (h_main("check_hostile_priv", hostile_priv_suite()));
}
