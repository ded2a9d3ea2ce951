/*
 * The module suites' fixture (tests/check_module.c, tests/check_cli.c).
 * The test modules are built in tests/modules: good.so (valid), badabi.so
 * (ABI 99; aborts if any of its code is called), newabi.so (ABI
 * 1.(minor + 1); aborts too), oldabi.so (ABI 1.0), ctor.so (its
 * constructor creates $VHOSTD_TEST_CTOR) and nosym.so (no descriptor).
 * Each test copies what it needs into a private temp dir (test_dir,
 * made by test_setup), since a module's file name must match its name and
 * the directory must pass the trust rules.  The "wrong owner" cases need
 * root (for chown); without it they say so and check nothing else.
 */

#ifndef MODULE_FIXTURE_H
#define MODULE_FIXTURE_H

#include <sys/types.h>

#include <check.h>
#include <stddef.h>

#include <vhostd/vhostd.h>

#define TEST_MODULES	TEST_BUILD_DIR "/tests/modules/.libs/"
#define TEST_VHOSTD	TEST_BUILD_DIR "/vhostd"

#define TEST_STR(x)	#x
#define TEST_XSTR(x)	TEST_STR(x)
#define TEST_ABI	TEST_XSTR(VHD_ABI_MAJOR) "." TEST_XSTR(VHD_ABI_MINOR)

extern char	 test_dir[64];

void	 test_setup(void);
void	 test_teardown(void);
void	 test_write(const char *, const void *, size_t, mode_t);
void	 test_mkdir(const char *, mode_t);
void	 test_chmod(const char *, mode_t);
void	 test_chown(const char *, uid_t, gid_t);
int	 test_root(const char *);
void	 test_copy_module(const char *, const char *);
int	 test_main(Suite *);

#endif /* MODULE_FIXTURE_H */
