/*
 * Running the QEMU end-to-end scripts in tests/qemu/ from a Check suite:
 * the script's output goes to stderr (the test log) and its first FAIL
 * line becomes the test's failure message.
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qemu_script.h"

/* Copy the script output in fd to stderr and keep its first FAIL line. */
static void
qemu_script_relay(int fd, char *why, size_t whylen)
{
	FILE	*f;
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 len;

	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return;
	}
	while ((len = getline(&line, &cap, f)) != -1) {
		fputs(line, stderr);
		if (why[0] == '\0' && strstr(line, ": FAIL: ") != NULL) {
			if (len > 0 && line[len - 1] == '\n')
				line[len - 1] = '\0';
			snprintf(why, whylen, "%s", line);
		}
	}
	fflush(stderr);
	free(line);
	fclose(f);
}

/* Run tests/qemu/NAME; see qemu_script.h. */
int
qemu_script_run(const char *name, const char *arg, char *why, size_t whylen)
{
	posix_spawn_file_actions_t fa;
	char	 script[4096], sh[] = "/bin/sh", argbuf[64];
	char	 out[] = "/tmp/vhostd-qemu-out.XXXXXX";
	char	*argv[4];
	pid_t	 pid;
	int	 fd, status, rc;

	why[0] = '\0';
	snprintf(script, sizeof(script), "%s/tests/qemu/%s", TEST_SRC_DIR,
	    name);
	if (getenv("VHOSTD_BUILD_DIR") == NULL &&
	    setenv("VHOSTD_BUILD_DIR", TEST_BUILD_DIR, 1) == -1) {
		snprintf(why, whylen, "setenv: %s", strerror(errno));
		return (-1);
	}
	if ((fd = mkstemp(out)) == -1) {
		snprintf(why, whylen, "mkstemp: %s", strerror(errno));
		return (-1);
	}
	unlink(out);
	argv[0] = sh;
	argv[1] = script;
	argv[2] = NULL;
	if (arg != NULL) {
		snprintf(argbuf, sizeof(argbuf), "%s", arg);
		argv[2] = argbuf;
		argv[3] = NULL;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fd, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, fd, STDERR_FILENO);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		close(fd);
		snprintf(why, whylen, "cannot run %s: %s", name,
		    strerror(rc));
		return (-1);
	}
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			close(fd);
			snprintf(why, whylen, "waitpid: %s", strerror(errno));
			return (-1);
		}
	}
	if (lseek(fd, 0, SEEK_SET) == 0)
		qemu_script_relay(fd, why, whylen);
	else
		close(fd);
	if (WIFEXITED(status))
		return (WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return (128 + WTERMSIG(status));
	return (-1);
}

/* Run a script and fail the test unless it exits 0. */
void
qemu_script_check(const char *name, const char *arg, int packed,
    const char *what)
{
	char	why[1024];
	int	rc;

	if (packed)
		ck_assert_int_eq(setenv("VHOSTD_PACKED", "1", 1), 0);
	rc = qemu_script_run(name, arg, why, sizeof(why));
	if (packed)
		unsetenv("VHOSTD_PACKED");
	ck_assert_msg(rc == 0, "step %s exited %d: %s", what, rc,
	    why[0] != '\0' ? why : "no FAIL line");
}

/* The guest kernel and initramfs can be downloaded, built and cached. */
START_TEST(qemu_script_setup)
{
	qemu_script_check("setup.sh", NULL, 0,
	    "setup.sh (guest kernel and initramfs)");
}
END_TEST

/* A suite whose first test case runs setup.sh. */
Suite *
qemu_script_suite(const char *name)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create(name);
	tc = qemu_script_tcase(s, "setup");
	tcase_add_test(tc, qemu_script_setup);
	return (s);
}

/* A new test case of `s` with the scripts' timeout. */
TCase *
qemu_script_tcase(Suite *s, const char *name)
{
	TCase	*tc;

	tc = tcase_create(name);
	tcase_set_timeout(tc, QEMU_SCRIPT_TIMEOUT);
	suite_add_tcase(s, tc);
	return (tc);
}

/* Run the suite; exit 0 only if every test passed. */
int
qemu_script_main(Suite *s)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
