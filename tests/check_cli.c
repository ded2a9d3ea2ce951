/*
 * Tests for vhostd's command line (core/main.c, core/main_args.c) through
 * the built daemon: --help and --version, bad usage, listing modules and
 * their trust, -n checks of configs and arguments, serving until SIGTERM
 * and failing at startup.  Fixture: tests/module_fixture.[ch].
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "module.h"
#include "module_fixture.h"

/* Start the daemon with `args` in the background, its stdout and stderr
 * into test_dir/`file` (truncated); its pid. */
static pid_t
test_vhostd_spawn(const char *const *args, const char *file)
{
	char	 path[256], *argv[16];
	pid_t	 pid;
	int	 fd, i;

	ck_assert_msg(access(TEST_VHOSTD, X_OK) == 0, "%s: %s", TEST_VHOSTD,
	    strerror(errno));
	argv[0] = (char *)(uintptr_t)TEST_VHOSTD;
	for (i = 0; args[i] != NULL && i < 14; i++)
		argv[i + 1] = (char *)(uintptr_t)args[i];
	argv[i + 1] = NULL;
	snprintf(path, sizeof path, "%s/%s", test_dir, file);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		unsetenv("VHOSTD_MODULE_DIR");
		execv(TEST_VHOSTD, argv);
		_exit(127);
	}
	close(fd);
	return (pid);
}

/* Run the daemon with `args`, its stdout and stderr into *out; returns
 * its exit status, or -1 if it did not exit. */
static int
test_vhostd(char **out, const char *const *args)
{
	char		 path[256];
	FILE		*f;
	pid_t		 pid;
	int		 status;
	long		 len;

	pid = test_vhostd_spawn(args, "out.txt");
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);

	snprintf(path, sizeof path, "%s/out.txt", test_dir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	*out = calloc(1, (size_t)len + 1);
	ck_assert_ptr_nonnull(*out);
	ck_assert_uint_eq(fread(*out, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	fprintf(stderr, "--- vhostd %s ...:\n%s", args[0], *out);
	return (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Assert that the daemon's output holds `text`. */
#define test_out_has(out, text) do {					\
	ck_assert_msg(strstr((out), (text)) != NULL,			\
	    "expected \"%s\" in output:\n%s", (text), (out));		\
} while (0)

/* --help and --version exit 0 and say what they should. */
START_TEST(test_daemon_help_version)
{
	const char	*help[] = { "--help", NULL };
	const char	*version[] = { "--version", NULL };
	char		*out;

	ck_assert_int_eq(test_vhostd(&out, help), 0);
	test_out_has(out, "usage: vhostd --module=NAME --socket=PATH");
	test_out_has(out, "--config=FILE");
	test_out_has(out, "--list-modules");
	test_out_has(out, "--queue-mask");
	test_out_has(out, "Example:");
	free(out);

	ck_assert_int_eq(test_vhostd(&out, version), 0);
	ck_assert_ptr_eq(strstr(out, "vhostd "), out);
	test_out_has(out, "ABI " TEST_ABI);
	free(out);
}
END_TEST

/* Bad command lines exit 1 with a message. */
START_TEST(test_daemon_bad_usage)
{
	const char	*none[] = { "-n", NULL };
	const char	*mixed[] = { "--config=/x", "--module=rng", NULL };
	const char	*count[] = { "--socket-count=2", NULL };
	const char	*zero[] = { "--module=rng", "--socket=/x",
	    "--socket-count=0", NULL };
	const char	*opt[] = { "--module=rng", "--socket=/x",
	    "--option", "novalue", NULL };
	const char	*name[] = { "--module=../rng", "--socket=/x", NULL };
	const char	*level[] = { "--log-level=loud", NULL };
	const char	*unknown[] = { "--frob", NULL };
	char		*out;

	ck_assert_int_eq(test_vhostd(&out, none), 1);
	test_out_has(out, "nothing to serve");
	free(out);
	ck_assert_int_eq(test_vhostd(&out, mixed), 1);
	test_out_has(out, "--config cannot be mixed");
	free(out);
	ck_assert_int_eq(test_vhostd(&out, count), 1);
	test_out_has(out, "need --module");
	free(out);
	ck_assert_int_eq(test_vhostd(&out, zero), 1);
	test_out_has(out, "--socket-count");
	free(out);
	ck_assert_int_eq(test_vhostd(&out, opt), 1);
	test_out_has(out, "expected KEY=VALUE");
	free(out);
	ck_assert_int_eq(test_vhostd(&out, name), 1);
	test_out_has(out, "invalid module name");
	free(out);
	ck_assert_int_eq(test_vhostd(&out, level), 1);
	test_out_has(out, "unknown level 'loud'");
	free(out);
	ck_assert_int_eq(test_vhostd(&out, unknown), 1);
	test_out_has(out, "Try 'vhostd --help'");
	free(out);
}
END_TEST

/* --list-modules lists what loads and why the rest does not. */
START_TEST(test_daemon_list_modules)
{
	static const char junk[] = "garbage";
	char		 dirarg[128];
	const char	*args[] = { "--list-modules", dirarg, NULL };
	char		*out;

	test_copy_module("good", "good");
	test_write("junk.so", junk, sizeof junk - 1, 0644);
	snprintf(dirarg, sizeof dirarg, "--module-dir=%s", test_dir);
	ck_assert_int_eq(test_vhostd(&out, args), 1);
	test_out_has(out, "good 1.2.3  a test module that loads\n");
	test_out_has(out, "junk: cannot load: junk.so: dlopen: ");
	free(out);

	/* Only good modules: exit 0. */
	snprintf(dirarg, sizeof dirarg, "%s/junk.so", test_dir);
	ck_assert_int_eq(unlink(dirarg), 0);
	snprintf(dirarg, sizeof dirarg, "--module-dir=%s", test_dir);
	ck_assert_int_eq(test_vhostd(&out, args), 0);
	ck_assert_str_eq(out, "good 1.2.3  a test module that loads\n");
	free(out);
}
END_TEST

/*
 * --list-modules applies the trust rules before it opens a file and says
 * why a module is refused: group-writable, wrong owner (as root), newer
 * ABI minor; a writable directory above the module directory refuses
 * them all, and so does the daemon's -n.  No refused file's constructor
 * runs.
 */
START_TEST(test_daemon_list_trust)
{
	char		 dirarg[256], sockarg[256], mark[256], want[512];
	const char	*args[] = { "--list-modules", dirarg, NULL };
	const char	*check[] = { "-n", "--module=good", sockarg, dirarg,
	    NULL };
	char		*out;
	int		 root = test_root("test_daemon_list_trust");

	snprintf(mark, sizeof mark, "%s/ctor-ran", test_dir);
	setenv("VHOSTD_TEST_CTOR", mark, 1);
	test_mkdir("mods", 0755);
	test_copy_module("good", "mods/good");
	test_copy_module("oldabi", "mods/oldabi");
	test_copy_module("newabi", "mods/newabi");
	test_copy_module("good", "mods/grpw");
	test_chmod("mods/grpw.so", 0664);
	test_copy_module("ctor", "mods/ctor");
	test_chmod("mods/ctor.so", 0664);
	if (root) {
		test_copy_module("good", "mods/owned");
		test_chown("mods/owned.so", 65534, 65534);
	}
	snprintf(dirarg, sizeof dirarg, "--module-dir=%s/mods", test_dir);
	snprintf(sockarg, sizeof sockarg, "--socket=%s/s", test_dir);

	ck_assert_int_eq(test_vhostd(&out, args), 1);
	snprintf(want, sizeof want, "ctor: cannot load: %s/mods/ctor.so is "
	    "writable by group or others (mode 0664): refusing to load it\n",
	    test_dir);
	ck_assert_ptr_eq(strstr(out, want), out);
	test_out_has(out, "\ngood 1.2.3  a test module that loads\n");
	snprintf(want, sizeof want, "\ngrpw: cannot load: %s/mods/grpw.so is "
	    "writable by group or others (mode 0664): refusing to load it\n",
	    test_dir);
	test_out_has(out, want);
	snprintf(want, sizeof want, "\nnewabi: cannot load: newabi.so: built "
	    "for vhostd module ABI %d.%d, newer than this vhostd's ABI %d.%d",
	    VHD_ABI_MAJOR, VHD_ABI_MINOR + 1, VHD_ABI_MAJOR, VHD_ABI_MINOR);
	test_out_has(out, want);
	test_out_has(out, "\noldabi 1.0  a module built for ABI 1.0\n");
	if (root) {
		snprintf(want, sizeof want, "\nowned: cannot load: "
		    "%s/mods/owned.so is owned by uid 65534, neither root nor "
		    "the uid vhostd runs as (0): refusing to load it\n",
		    test_dir);
		test_out_has(out, want);
	}
	free(out);
	ck_assert_msg(access(mark, F_OK) == -1, "ctor.so's constructor ran");

	/* The directory above the module directory is writable. */
	test_chmod("", 0777);
	ck_assert_int_eq(test_vhostd(&out, args), 1);
	snprintf(want, sizeof want, "module directory %s/mods: %s is "
	    "writable by group or others (mode 0777, not a sticky directory "
	    "of root's): refusing to load modules from it\n", test_dir,
	    test_dir);
	ck_assert_str_eq(out, want);
	free(out);
	ck_assert_int_eq(test_vhostd(&out, check), 1);
	test_out_has(out, want);
	ck_assert_ptr_null(strstr(out, "configuration OK"));
	free(out);
	test_chmod("", 0700);
	ck_assert_int_eq(test_vhostd(&out, check), 0);
	test_out_has(out, "configuration OK\n");
	free(out);
	unsetenv("VHOSTD_TEST_CTOR");
}
END_TEST

/* vhostd -n: a bad config exits 1 naming file:line; a good one prints
 * "configuration OK"; a module that cannot load fails the check. */
START_TEST(test_daemon_check)
{
	char		 cfgarg[128], text[512], want[256];
	const char	*args[] = { "-n", cfgarg, NULL };
	char		*out;

	test_copy_module("good", "good");
	test_copy_module("nosym", "nosym");
	snprintf(cfgarg, sizeof cfgarg, "--config=%s/v.conf", test_dir);

	snprintf(text, sizeof text, "module-dir \"%s\"\n"
	    "device g {\n module good\n socket %s/g.sock\n socket-mode 0888\n"
	    "}\n", test_dir, test_dir);
	test_write("v.conf", text, strlen(text), 0644);
	ck_assert_int_eq(test_vhostd(&out, args), 1);
	snprintf(want, sizeof want, "%s/v.conf:5: device \"g\": bad "
	    "socket-mode '0888'", test_dir);
	test_out_has(out, want);
	ck_assert_ptr_null(strstr(out, "configuration OK"));
	free(out);

	snprintf(text, sizeof text, "module-dir \"%s\"\n"
	    "device g {\n module good\n socket %s/g.sock\n}\n",
	    test_dir, test_dir);
	test_write("v.conf", text, strlen(text), 0644);
	ck_assert_int_eq(test_vhostd(&out, args), 0);
	test_out_has(out, "configuration OK\n");
	free(out);
	snprintf(want, sizeof want, "%s/g.sock", test_dir);
	ck_assert_int_eq(access(want, F_OK), -1);

	snprintf(text, sizeof text, "module-dir \"%s\"\n"
	    "device g {\n module nosym\n socket %s/g.sock\n}\n",
	    test_dir, test_dir);
	test_write("v.conf", text, strlen(text), 0644);
	ck_assert_int_eq(test_vhostd(&out, args), 1);
	test_out_has(out, "no vhd_module symbol");
	ck_assert_ptr_null(strstr(out, "configuration OK"));
	free(out);
}
END_TEST

/* vhostd -n: a module's error names the line of the key it rejects. */
START_TEST(test_daemon_check_module_key)
{
	char		 cfgarg[128], text[512], want[256];
	const char	*args[] = { "-n", cfgarg, NULL };
	char		*out;

	snprintf(cfgarg, sizeof cfgarg, "--config=%s/v.conf", test_dir);
	snprintf(text, sizeof text, "module-dir \"%s\"\n"
	    "device r {\n module rng\n socket %s/r.sock\n"
	    " max-bytes 10\n foo 1\n}\n", TEST_BUILD_DIR "/modules/.libs",
	    test_dir);
	test_write("v.conf", text, strlen(text), 0644);
	ck_assert_int_eq(test_vhostd(&out, args), 1);
	snprintf(want, sizeof want, "%s/v.conf:6: r: rng: unknown key 'foo'",
	    test_dir);
	test_out_has(out, want);
	free(out);
}
END_TEST

/* The same check from the command line. */
START_TEST(test_daemon_check_args)
{
	char		 dirarg[128], sockarg[128];
	const char	*args[] = { "-n", "--module=good", sockarg, dirarg,
	    "--socket-count=3", "--queue-mask=0x1", NULL };
	const char	*bad[] = { "-n", "--module=good", sockarg, dirarg,
	    "--queue-mask=0x1,zz", NULL };
	char		*out;

	test_copy_module("good", "good");
	snprintf(dirarg, sizeof dirarg, "--module-dir=%s", test_dir);
	snprintf(sockarg, sizeof sockarg, "--socket=%s/s", test_dir);
	ck_assert_int_eq(test_vhostd(&out, args), 0);
	test_out_has(out, "configuration OK\n");
	free(out);

	ck_assert_int_eq(test_vhostd(&out, bad), 1);
	test_out_has(out, "command line: --queue-mask: bad queue mask 'zz'");
	free(out);
}
END_TEST

/* Wait up to 10 s for `text` in the file; 0 when it appeared. */
static int
test_wait_for(const char *path, const char *text)
{
	char		 buf[8192];
	FILE		*f;
	size_t		 n;
	int		 i;

	for (i = 0; i < 1000; i++) {
		if ((f = fopen(path, "r")) != NULL) {
			n = fread(buf, 1, sizeof buf - 1, f);
			fclose(f);
			buf[n] = '\0';
			if (strstr(buf, text) != NULL)
				return (0);
		}
		usleep(10000);
	}
	return (-1);
}

/* Wait up to 10 s for pid to exit; its status, or -1 (then killed). */
static int
test_wait_exit(pid_t pid)
{
	int	 i, status;

	for (i = 0; i < 1000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return (-1);
}

/* Start the daemon in the background, output to test_dir/log. */
static pid_t
test_vhostd_start(const char *const *args)
{
	return (test_vhostd_spawn(args, "log"));
}

/* The daemon serves until SIGTERM or SIGINT, then exits 0 and removes
 * its sockets. */
START_TEST(test_daemon_serve_sigterm)
{
	char		 dirarg[128], sockarg[128], logpath[256], sock[256];
	const char	*args[] = { "--module=good", sockarg, dirarg,
	    "--socket-count=2", NULL };
	pid_t		 pid;

	test_copy_module("good", "good");
	snprintf(dirarg, sizeof dirarg, "--module-dir=%s", test_dir);
	snprintf(sockarg, sizeof sockarg, "--socket=%s/s", test_dir);
	snprintf(logpath, sizeof logpath, "%s/log", test_dir);
	pid = test_vhostd_start(args);
	ck_assert_msg(test_wait_for(logpath, "good1: listening on ") == 0,
	    "vhostd did not start");
	snprintf(sock, sizeof sock, "%s/s0", test_dir);
	ck_assert_int_eq(access(sock, F_OK), 0);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(test_wait_exit(pid), 0);
	ck_assert_int_eq(test_wait_for(logpath, "shutting down"), 0);
	ck_assert_int_eq(access(sock, F_OK), -1);
	snprintf(sock, sizeof sock, "%s/s1", test_dir);
	ck_assert_int_eq(access(sock, F_OK), -1);

	/* SIGINT too. */
	pid = test_vhostd_start(args);
	ck_assert_msg(test_wait_for(logpath, "good1: listening on ") == 0,
	    "vhostd did not start");
	ck_assert_int_eq(kill(pid, SIGINT), 0);
	ck_assert_int_eq(test_wait_exit(pid), 0);
	ck_assert_int_eq(access(sock, F_OK), -1);
}
END_TEST

/* One device failing at startup: exit 1, nothing left listening. */
START_TEST(test_daemon_startup_failure)
{
	char		 cfgarg[128], text[512], sock[256];
	const char	*args[] = { cfgarg, NULL };
	char		*out;

	test_copy_module("good", "good");
	snprintf(cfgarg, sizeof cfgarg, "--config=%s/v.conf", test_dir);
	snprintf(text, sizeof text, "module-dir \"%s\"\n"
	    "device a {\n module good\n socket %s/a.sock\n}\n"
	    "device b {\n module absent\n socket %s/b.sock\n}\n",
	    test_dir, test_dir, test_dir);
	test_write("v.conf", text, strlen(text), 0644);
	ck_assert_int_eq(test_vhostd(&out, args), 1);
	test_out_has(out, "absent.so: file not found");
	free(out);
	snprintf(sock, sizeof sock, "%s/a.sock", test_dir);
	ck_assert_int_eq(access(sock, F_OK), -1);
}
END_TEST

/* A unix socket bound at `path`; listening when `listen_too`, else
 * closed at once (a stale socket).  The fd, or -1 after closing. */
static int
test_unix_at(const char *path, int listen_too)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	if (listen_too) {
		ck_assert_int_eq(listen(fd, 1), 0);
		return (fd);
	}
	close(fd);
	return (-1);
}

/* connect() to `path`: 0, or the errno. */
static int
test_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd, rc;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	rc = connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0 ? 0 : errno;
	close(fd);
	return (rc);
}

/*
 * The device socket's path: a stale socket there is replaced, a socket
 * in use or another file is refused (exit 1, left alone), and the path
 * appears only once the socket listens with its configured mode: a
 * client that connects the moment it sees the path is accepted.
 */
START_TEST(test_daemon_socket_path)
{
	char		 cfgarg[128], text[512], sock[256], logpath[256];
	const char	*args[] = { cfgarg, NULL };
	struct stat	 st;
	char		*out;
	pid_t		 pid;
	long		 i;
	int		 lfd, rc, seen = 0;

	test_copy_module("good", "good");
	snprintf(cfgarg, sizeof cfgarg, "--config=%s/v.conf", test_dir);
	snprintf(sock, sizeof sock, "%s/a.sock", test_dir);
	snprintf(logpath, sizeof logpath, "%s/log", test_dir);
	snprintf(text, sizeof text, "module-dir \"%s\"\ncontrol none\n"
	    "device a {\n module good\n socket %s\n socket-mode 0660\n}\n",
	    test_dir, sock);
	test_write("v.conf", text, strlen(text), 0644);

	/* In use by another process: refused, the other keeps it. */
	lfd = test_unix_at(sock, 1);
	ck_assert_int_eq(test_vhostd(&out, args), 1);
	test_out_has(out, "is in use by another process");
	free(out);
	ck_assert_int_eq(test_connect(sock), 0);
	close(lfd);
	/* Not a socket: refused, the file left alone. */
	ck_assert_int_eq(unlink(sock), 0);
	test_write("a.sock", "x", 1, 0644);
	ck_assert_int_eq(test_vhostd(&out, args), 1);
	test_out_has(out, "exists and is not a socket");
	free(out);
	ck_assert_int_eq(stat(sock, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(unlink(sock), 0);

	/* Stale: replaced.  From the moment the path exists it is a
	 * listening socket of mode 0660. */
	(void)test_unix_at(sock, 0);
	ck_assert_int_eq(test_connect(sock), ECONNREFUSED);
	pid = test_vhostd_start(args);
	for (i = 0; i < 100000 && !seen; i++) {
		if (stat(sock, &st) == -1 || (st.st_mode & 07777) != 0660)
			continue;
		/* The stale socket had mode 0755 & ~umask; this one is
		 * ours: it must answer at once. */
		rc = test_connect(sock);
		ck_assert_msg(rc == 0, "the path appeared before the socket "
		    "listened: %s", strerror(rc));
		seen = 1;
	}
	ck_assert_msg(seen, "no socket of mode 0660 at %s", sock);
	ck_assert_int_eq(test_wait_for(logpath, "a: replacing stale "
	    "socket"), 0);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(test_wait_exit(pid), 0);
	ck_assert_int_eq(access(sock, F_OK), -1);

	/* A fresh path: the first sight of it is a listening 0660 socket. */
	pid = test_vhostd_start(args);
	for (i = 0; i < 1000000 && stat(sock, &st) == -1; i++)
		;
	ck_assert_int_eq(stat(sock, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	ck_assert_int_eq(test_connect(sock), 0);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(test_wait_exit(pid), 0);
}
END_TEST

/* The command line suite. */
static Suite *
cli_suite(void)
{
	Suite	*s = suite_create("cli");
	TCase	*tc;

	tc = tcase_create("daemon");
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_daemon_help_version);
	tcase_add_test(tc, test_daemon_bad_usage);
	tcase_add_test(tc, test_daemon_list_modules);
	tcase_add_test(tc, test_daemon_list_trust);
	tcase_add_test(tc, test_daemon_check);
	tcase_add_test(tc, test_daemon_check_module_key);
	tcase_add_test(tc, test_daemon_check_args);
	tcase_add_test(tc, test_daemon_serve_sigterm);
	tcase_add_test(tc, test_daemon_startup_failure);
	tcase_add_test(tc, test_daemon_socket_path);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; exit 0 when every test passed. */
int
main(void)
{
	return (test_main(cli_suite()));
}
