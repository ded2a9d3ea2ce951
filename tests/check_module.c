/*
 * Tests for core/module.c, the module loader: ABI checks, refused and
 * untrusted files and directories (no code of theirs runs), renamed
 * modules, listing and the default directory.  The daemon's command line
 * is in check_cli; the fixture and the test modules are described in
 * tests/module_fixture.h.
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

/* Assert that `cause` holds `text`. */
#define test_cause_has(cause, text) do {				\
	ck_assert_ptr_nonnull(cause);					\
	ck_assert_msg(strstr((cause), (text)) != NULL,			\
	    "expected \"%s\" in \"%s\"", (text), (cause));		\
} while (0)

/* A valid module loads once, with its descriptor readable. */
START_TEST(test_load_good)
{
	struct module	*mod, *again;
	char		*cause = NULL;

	test_copy_module("good", "good");
	mod = module_load(test_dir, "good", &cause);
	ck_assert_msg(mod != NULL, "good: %s", cause);
	ck_assert_str_eq(mod->name, "good");
	ck_assert_ptr_nonnull(strstr(mod->path, "/good.so"));
	ck_assert_str_eq(mod->desc->name, "good");
	ck_assert_str_eq(mod->desc->version, "1.2.3");
	ck_assert_str_eq(mod->desc->description, "a test module that loads");
	ck_assert_uint_eq(mod->desc->abi_major, VHD_ABI_MAJOR);
	ck_assert_ptr_nonnull(mod->desc->ops);
	ck_assert_ptr_nonnull(mod->desc->ops->create);

	again = module_load(test_dir, "good", &cause);
	ck_assert_ptr_eq(mod, again);

	/* By path, from the build tree. */
	module_unload_all();
	mod = module_load_path(TEST_MODULES "good.so", "good", &cause);
	ck_assert_msg(mod != NULL, "good: %s", cause);
}
END_TEST

/* A module for another ABI major is refused without running its code
 * (its callbacks abort). */
START_TEST(test_refuse_badabi)
{
	char	*cause = NULL;

	test_copy_module("badabi", "badabi");
	ck_assert_ptr_null(module_load(test_dir, "badabi", &cause));
	test_cause_has(cause, "badabi.so: built for vhostd module ABI 99.7");
	test_cause_has(cause, "this vhostd has ABI " TEST_ABI);
	free(cause);
}
END_TEST

/* A module built for a newer ABI minor may need functions this vhostd
 * lacks: refused without running its code (its callbacks abort).  One
 * built for an older minor loads: the function table only grows. */
START_TEST(test_abi_minor)
{
	struct module	*mod;
	char		*cause = NULL, want[256];

	test_copy_module("newabi", "newabi");
	ck_assert_ptr_null(module_load(test_dir, "newabi", &cause));
	snprintf(want, sizeof want, "newabi.so: built for vhostd module ABI "
	    "%d.%d, newer than this vhostd's ABI %d.%d: upgrade vhostd, or "
	    "rebuild the module against this vhostd's SDK", VHD_ABI_MAJOR,
	    VHD_ABI_MINOR + 1, VHD_ABI_MAJOR, VHD_ABI_MINOR);
	test_cause_has(cause, want);
	free(cause);

	test_copy_module("oldabi", "oldabi");
	cause = NULL;
	mod = module_load(test_dir, "oldabi", &cause);
	ck_assert_msg(mod != NULL, "oldabi: %s", cause);
	ck_assert_uint_eq(mod->desc->abi_major, 1);
	ck_assert_uint_eq(mod->desc->abi_minor, 0);
}
END_TEST

/* A shared object without a descriptor is not a module. */
START_TEST(test_refuse_nosym)
{
	char	*cause = NULL;

	test_copy_module("nosym", "nosym");
	ck_assert_ptr_null(module_load(test_dir, "nosym", &cause));
	test_cause_has(cause, "nosym.so: no vhd_module symbol: not a vhostd "
	    "module (build it with VHD_MODULE())");
	free(cause);
}
END_TEST

/* A file that is not a shared object: dlerror's text with a hint. */
START_TEST(test_refuse_junk)
{
	static const char junk[] = "this is not an ELF file, just text\n";
	char	*cause = NULL, path[256];

	test_write("junk.so", junk, sizeof junk - 1, 0644);
	ck_assert_ptr_null(module_load(test_dir, "junk", &cause));
	test_cause_has(cause, "junk.so: dlopen: ");
	test_cause_has(cause, "not a shared object");
	free(cause);

	test_write("empty.so", "", 0, 0644);
	ck_assert_ptr_null(module_load(test_dir, "empty", &cause));
	test_cause_has(cause, "empty.so: dlopen: ");
	free(cause);

	/* A FIFO is refused before anything opens it (which would block). */
	snprintf(path, sizeof path, "%s/fifo.so", test_dir);
	ck_assert_int_eq(mkfifo(path, 0644), 0);
	ck_assert_ptr_null(module_load(test_dir, "fifo", &cause));
	test_cause_has(cause, "fifo.so: not a regular file");
	free(cause);
}
END_TEST

/* A module that is not there: the cause says where we looked. */
START_TEST(test_refuse_missing)
{
	char	*cause = NULL, text[256];

	ck_assert_ptr_null(module_load(test_dir, "absent", &cause));
	snprintf(text, sizeof text, "absent.so: file not found: is the "
	    "module installed in %s? see --module-dir", test_dir);
	test_cause_has(cause, text);
	free(cause);

	ck_assert_ptr_null(module_load(TEST_BUILD_DIR "/no/such/dir", "good",
	    &cause));
	test_cause_has(cause, "no/such/dir: No such file or directory");
	free(cause);
}
END_TEST

/* Names with path components or odd bytes are refused before any file
 * is touched. */
START_TEST(test_refuse_names)
{
	static const char *bad[] = { "../x", "a/b", "", ".", "..", "a.b",
	    "/etc/passwd", "a b", "x\n",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
	char	*cause;
	size_t	 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(!module_name_valid(bad[i]), "'%s' valid", bad[i]);
		cause = NULL;
		ck_assert_ptr_null(module_load(test_dir, bad[i], &cause));
		test_cause_has(cause, "invalid module name");
		free(cause);
	}
	ck_assert(!module_name_valid(NULL));
	ck_assert(module_name_valid("rng"));
	ck_assert(module_name_valid("vhost-user_rng2"));
	ck_assert(module_name_valid(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}
END_TEST

/* A directory others may write to, or a module file others may write
 * to, could hold anyone's code: refused. */
START_TEST(test_refuse_writable)
{
	char	*cause = NULL, path[256];

	test_copy_module("good", "good");
	ck_assert_int_eq(chmod(test_dir, 0777), 0);
	ck_assert_ptr_null(module_load(test_dir, "good", &cause));
	test_cause_has(cause, "is writable by group or others (mode 0777, "
	    "not a sticky directory of root's)");
	free(cause);

	ck_assert_int_eq(chmod(test_dir, 0770), 0);
	ck_assert_ptr_null(module_load(test_dir, "good", &cause));
	test_cause_has(cause, "writable by group or others");
	free(cause);

	ck_assert_int_eq(chmod(test_dir, 0755), 0);
	snprintf(path, sizeof path, "%s/good.so", test_dir);
	ck_assert_int_eq(chmod(path, 0666), 0);
	ck_assert_ptr_null(module_load(test_dir, "good", &cause));
	test_cause_has(cause, "good.so is writable by group or others (mode "
	    "0666): refusing to load it");
	free(cause);

	/* Writable by the group only: refused too (StrictModes). */
	ck_assert_int_eq(chmod(path, 0664), 0);
	ck_assert_ptr_null(module_load(test_dir, "good", &cause));
	test_cause_has(cause, "good.so is writable by group or others (mode "
	    "0664): refusing to load it");
	free(cause);
	ck_assert_ptr_null(module_load_path(path, "good", &cause));
	test_cause_has(cause, "(mode 0664)");
	free(cause);

	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_ptr_nonnull(module_load(test_dir, "good", &cause));
}
END_TEST

/*
 * Every directory from / down to the module must be trusted too: one
 * writable by group or others above the module directory could swap the
 * whole tree below it.  A sticky directory of root's (like /tmp) is the
 * exception: nobody can rename an entry there that is not theirs.
 */
START_TEST(test_trust_parents)
{
	char	*cause = NULL, dir[256], path[256], link[256], want[512];

	test_mkdir("up", 0775);
	test_mkdir("up/mods", 0755);
	test_copy_module("good", "up/mods/good");
	snprintf(dir, sizeof dir, "%s/up/mods", test_dir);
	snprintf(path, sizeof path, "%s/up/mods/good.so", test_dir);

	ck_assert_ptr_null(module_load(dir, "good", &cause));
	snprintf(want, sizeof want, "module directory %s: %s/up is writable "
	    "by group or others (mode 0775, not a sticky directory of "
	    "root's): refusing to load modules from it", dir, test_dir);
	test_cause_has(cause, want);
	free(cause);
	ck_assert_ptr_null(module_load_path(path, "good", &cause));
	snprintf(want, sizeof want, "%s: %s/up is writable by group or "
	    "others (mode 0775", path, test_dir);
	test_cause_has(cause, want);
	free(cause);

	test_chmod("up", 0777);
	ck_assert_ptr_null(module_load(dir, "good", &cause));
	test_cause_has(cause, "/up is writable by group or others (mode 0777");
	free(cause);

	/* Through a symbolic link: the directories of the real path count. */
	snprintf(link, sizeof link, "%s/link", test_dir);
	ck_assert_int_eq(symlink(dir, link), 0);
	ck_assert_ptr_null(module_load(link, "good", &cause));
	test_cause_has(cause, "/up is writable by group or others (mode 0777");
	free(cause);

	/* Sticky: trusted only when root's. */
	test_chmod("up", 01777);
	if (geteuid() == 0) {
		cause = NULL;
		ck_assert_msg(module_load(dir, "good", &cause) != NULL,
		    "sticky /up of root's: %s", cause);
		module_unload_all();
		test_chown("up", 65534, 65534);
		ck_assert_ptr_null(module_load(dir, "good", &cause));
		test_cause_has(cause, "/up is owned by uid 65534");
		free(cause);
		test_chown("up", 0, 0);
	} else {
		ck_assert_ptr_null(module_load(dir, "good", &cause));
		test_cause_has(cause, "(mode 1777, not a sticky directory of "
		    "root's)");
		free(cause);
	}

	test_chmod("up", 0755);
	cause = NULL;
	ck_assert_msg(module_load(link, "good", &cause) != NULL, "%s", cause);
}
END_TEST

/* A module file, its directory or one above it owned by someone else
 * than root or vhostd's uid is refused; the group does not matter. */
START_TEST(test_trust_owner)
{
	char	*cause = NULL, dir[256], want[512];

	if (!test_root("test_trust_owner"))
		return;
	test_mkdir("up", 0755);
	test_mkdir("up/mods", 0755);
	test_copy_module("good", "up/mods/good");
	snprintf(dir, sizeof dir, "%s/up/mods", test_dir);

	test_chown("up/mods/good.so", 65534, 0);
	ck_assert_ptr_null(module_load(dir, "good", &cause));
	snprintf(want, sizeof want, "%s/good.so is owned by uid 65534, "
	    "neither root nor the uid vhostd runs as (0): refusing to load it",
	    dir);
	test_cause_has(cause, want);
	free(cause);
	test_chown("up/mods/good.so", 0, 0);

	test_chown("up/mods", 65534, 0);
	ck_assert_ptr_null(module_load(dir, "good", &cause));
	snprintf(want, sizeof want, "module directory %s is owned by uid "
	    "65534, neither root nor the uid vhostd runs as (0): refusing to "
	    "load modules from it", dir);
	test_cause_has(cause, want);
	free(cause);
	test_chown("up/mods", 0, 0);

	test_chown("up", 65534, 0);
	ck_assert_ptr_null(module_load(dir, "good", &cause));
	snprintf(want, sizeof want, "module directory %s: %s/up is owned by "
	    "uid 65534", dir, test_dir);
	test_cause_has(cause, want);
	free(cause);
	test_chown("up", 0, 0);

	/* Another group, without its write bit: fine. */
	test_chown("up", 0, 65534);
	test_chown("up/mods", 0, 65534);
	test_chown("up/mods/good.so", 0, 65534);
	cause = NULL;
	ck_assert_msg(module_load(dir, "good", &cause) != NULL, "%s", cause);
}
END_TEST

/* No code of an untrusted file runs: the checks come before dlopen, which
 * would run ctor.so's constructor (as it does for a trusted copy). */
START_TEST(test_trust_no_code_runs)
{
	char	*cause = NULL, mark[256], dir[256];

	snprintf(mark, sizeof mark, "%s/ctor-ran", test_dir);
	setenv("VHOSTD_TEST_CTOR", mark, 1);
	test_copy_module("ctor", "ctor");
	test_chmod("ctor.so", 0664);
	ck_assert_ptr_null(module_load(test_dir, "ctor", &cause));
	test_cause_has(cause, "ctor.so is writable by group or others");
	free(cause);
	ck_assert_msg(access(mark, F_OK) == -1, "ctor.so's constructor ran");

	test_mkdir("up", 0777);
	test_mkdir("up/mods", 0755);
	test_copy_module("ctor", "up/mods/ctor");
	snprintf(dir, sizeof dir, "%s/up/mods", test_dir);
	ck_assert_ptr_null(module_load(dir, "ctor", &cause));
	test_cause_has(cause, "/up is writable by group or others");
	free(cause);
	snprintf(dir, sizeof dir, "%s/up/mods/ctor.so", test_dir);
	ck_assert_ptr_null(module_load_path(dir, "ctor", &cause));
	test_cause_has(cause, "/up is writable by group or others");
	free(cause);
	ck_assert_msg(access(mark, F_OK) == -1, "ctor.so's constructor ran");

	/* A trusted copy loads, and its constructor is seen to run. */
	test_chmod("ctor.so", 0644);
	ck_assert_msg(module_load(test_dir, "ctor", &cause) != NULL, "%s",
	    cause);
	ck_assert_msg(access(mark, F_OK) == 0, "ctor.so's constructor did not "
	    "run");
	unsetenv("VHOSTD_TEST_CTOR");
}
END_TEST

/* The descriptor's name must match the file name. */
START_TEST(test_refuse_renamed)
{
	char	*cause = NULL;

	test_copy_module("good", "other");
	ck_assert_ptr_null(module_load(test_dir, "other", &cause));
	test_cause_has(cause, "other.so: the module calls itself \"good\"");
	free(cause);
}
END_TEST

/* module_list: every *.so, sorted, loadable or not. */
START_TEST(test_list)
{
	static const char junk[] = "garbage";
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*out;
	int	 failed;

	test_copy_module("good", "good");
	test_copy_module("badabi", "badabi");
	test_copy_module("nosym", "nosym");
	test_write("junk.so", junk, sizeof junk - 1, 0644);
	test_write("README", junk, sizeof junk - 1, 0644);

	out = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(out);
	failed = module_list(test_dir, out);
	fclose(out);
	fputs(buf, stderr);
	ck_assert_int_eq(failed, 3);
	ck_assert_ptr_eq(strstr(buf, "badabi: cannot load: badabi.so: built "
	    "for vhostd module ABI 99.7"), buf);
	ck_assert_ptr_nonnull(strstr(buf,
	    "\ngood 1.2.3  a test module that loads\njunk: cannot load: "));
	ck_assert_ptr_nonnull(strstr(buf, "\nnosym: cannot load: nosym.so: "
	    "no vhd_module symbol"));
	ck_assert_ptr_null(strstr(buf, "README"));
	free(buf);

	/* An unusable directory. */
	ck_assert_int_eq(chmod(test_dir, 0777), 0);
	out = open_memstream(&buf, &len);
	ck_assert_int_eq(module_list(test_dir, out), -1);
	fclose(out);
	ck_assert_str_eq(buf, "");
	free(buf);
}
END_TEST

/* $VHOSTD_MODULE_DIR overrides the default directory; a binary outside
 * the build tree's top uses the installed one. */
START_TEST(test_default_dir)
{
	setenv("VHOSTD_MODULE_DIR", "/somewhere/modules", 1);
	ck_assert_str_eq(module_default_dir(), "/somewhere/modules");
	setenv("VHOSTD_MODULE_DIR", "", 1);
	ck_assert_str_eq(module_default_dir(), MODULE_DIR);
	unsetenv("VHOSTD_MODULE_DIR");
	ck_assert_str_eq(module_default_dir(), MODULE_DIR);
}
END_TEST

/* The module suite. */
static Suite *
module_suite(void)
{
	Suite	*s = suite_create("module");
	TCase	*tc;

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, test_load_good);
	tcase_add_test(tc, test_refuse_badabi);
	tcase_add_test(tc, test_abi_minor);
	tcase_add_test(tc, test_refuse_nosym);
	tcase_add_test(tc, test_refuse_junk);
	tcase_add_test(tc, test_refuse_missing);
	tcase_add_test(tc, test_refuse_names);
	tcase_add_test(tc, test_refuse_writable);
	tcase_add_test(tc, test_trust_parents);
	tcase_add_test(tc, test_trust_owner);
	tcase_add_test(tc, test_trust_no_code_runs);
	tcase_add_test(tc, test_refuse_renamed);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_default_dir);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; exit 0 when every test passed. */
int
main(void)
{
	return (test_main(module_suite()));
}
