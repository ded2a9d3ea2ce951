/*
 * The module suites' fixture: a private temp dir per test, files,
 * directories and modes in it, test modules copied in, and the runner's
 * main (see module_fixture.h).
 */

#include <sys/types.h>
#include <sys/stat.h>
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

char	 test_dir[64];

/* Make a private temp dir (mode 0700). */
void
test_setup(void)
{
	snprintf(test_dir, sizeof test_dir, "/tmp/check_module.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	ck_assert_int_eq(chmod(test_dir, 0700), 0);
	unsetenv("VHOSTD_MODULE_DIR");
}

/* Unload everything and remove the temp dir. */
void
test_teardown(void)
{
	char	 cmd[128];

	module_unload_all();
	chmod(test_dir, 0700);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", test_dir);
}

/* Write len bytes to test_dir/name with the given mode. */
void
test_write(const char *name, const void *data, size_t len, mode_t mode)
{
	char	 path[256];
	int	 fd;

	snprintf(path, sizeof path, "%s/%s", test_dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* Make test_dir/rel with the given mode (chmod: umask does not apply). */
void
test_mkdir(const char *rel, mode_t mode)
{
	char	 path[256];

	snprintf(path, sizeof path, "%s/%s", test_dir, rel);
	ck_assert_msg(mkdir(path, 0700) == 0, "mkdir %s: %s", path,
	    strerror(errno));
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* chmod test_dir/rel (test_dir itself for ""). */
void
test_chmod(const char *rel, mode_t mode)
{
	char	 path[256];

	snprintf(path, sizeof path, "%s%s%s", test_dir, *rel ? "/" : "", rel);
	ck_assert_msg(chmod(path, mode) == 0, "chmod %s: %s", path,
	    strerror(errno));
}

/* chown test_dir/rel (test_dir itself for ""). */
void
test_chown(const char *rel, uid_t uid, gid_t gid)
{
	char	 path[256];

	snprintf(path, sizeof path, "%s%s%s", test_dir, *rel ? "/" : "", rel);
	ck_assert_msg(chown(path, uid, gid) == 0, "chown %s: %s", path,
	    strerror(errno));
}

/* Are we root, as the chown cases need?  Says so when not. */
int
test_root(const char *test)
{
	if (geteuid() == 0)
		return (1);
	fprintf(stderr, "check_module: %s: not root, cannot chown: the wrong "
	    "owner cases are not run\n", test);
	return (0);
}

/* Copy the built test module `src` (e.g. "good") to test_dir/dst.so;
 * dst may name a subdirectory ("up/mods/good"). */
void
test_copy_module(const char *src, const char *dst)
{
	char	 path[256], name[128], *buf;
	FILE	*f;
	long	 len;

	snprintf(path, sizeof path, TEST_MODULES "%s.so", src);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s (build the test modules)", path,
	    strerror(errno));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	ck_assert_int_gt(len, 0);
	rewind(f);
	buf = malloc((size_t)len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	snprintf(name, sizeof name, "%s.so", dst);
	test_write(name, buf, (size_t)len, 0644);
	free(buf);
}

/* Run suite `s`; exit 0 when every test passed. */
int
test_main(Suite *s)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
