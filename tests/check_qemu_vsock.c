/*
 * The QEMU end-to-end suite of the vsock module: tests/qemu/run-vsock.sh
 * boots a Linux guest under QEMU (TCG) with vhost-user-vsock-pci served by
 * "vhostd --vm guest-cid=3,socket=...,uds-path=..." and moves 8 MiB each way
 * (guest to host and host to guest through CONNECT) with checksums and
 * half-closes, checks a refused connect fails promptly and that seqpacket
 * keeps message boundaries.  setup.sh (the kernel and initramfs cache) runs
 * first.  Nothing is skipped: a missing package mirror or QEMU fails.
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

/* Seconds allowed for each script (setup may download ~70 MB). */
#define CHECK_QEMU_TIMEOUT	600

/* Copy the script output in fd to stderr and keep its first FAIL line. */
static void
check_qemu_vsock_relay(int fd, char *why, size_t whylen)
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

/*
 * Run tests/qemu/NAME with /bin/sh, its output relayed to stderr; return its
 * exit status (128 + signal if killed, -1 if it could not run) and put its
 * first "FAIL" line, or why it could not run, in why.
 */
static int
check_qemu_vsock_run_script(const char *name, char *why, size_t whylen)
{
	posix_spawn_file_actions_t fa;
	char	 script[4096], sh[] = "/bin/sh";
	char	 out[] = "/tmp/vhostd-qemu-out.XXXXXX";
	char	*argv[3];
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
		check_qemu_vsock_relay(fd, why, whylen);
	else
		close(fd);
	if (WIFEXITED(status))
		return (WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return (128 + WTERMSIG(status));
	return (-1);
}

/* The guest kernel and initramfs can be downloaded, built and cached. */
START_TEST(check_qemu_vsock_setup)
{
	char	why[1024];
	int	rc;

	rc = check_qemu_vsock_run_script("setup.sh", why, sizeof(why));
	ck_assert_msg(rc == 0, "step setup.sh (guest kernel and initramfs) "
	    "exited %d: %s", rc, why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/*
 * A Linux guest and the host exchange 8 MiB each way over vsock through
 * vhostd, see half-closes, a refused connect and seqpacket boundaries.
 */
START_TEST(check_qemu_vsock_run)
{
	char	why[1024];
	int	rc;

	rc = check_qemu_vsock_run_script("run-vsock.sh", why, sizeof(why));
	ck_assert_msg(rc == 0, "step run-vsock.sh exited %d: %s", rc,
	    why[0] != '\0' ? why : "no FAIL line");
}
END_TEST

/* Build the "qemu_vsock" suite. */
static Suite *
check_qemu_vsock_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("qemu_vsock");
	tc = tcase_create("setup");
	tcase_set_timeout(tc, CHECK_QEMU_TIMEOUT);
	tcase_add_test(tc, check_qemu_vsock_setup);
	suite_add_tcase(s, tc);
	tc = tcase_create("vsock");
	tcase_set_timeout(tc, CHECK_QEMU_TIMEOUT);
	tcase_add_test(tc, check_qemu_vsock_run);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; exit 0 only if every test passed. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(check_qemu_vsock_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
