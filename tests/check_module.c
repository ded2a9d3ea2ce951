/*
 * Tests for core/module.c (the module loader) and, through the built
 * daemon, the command line of core/main.c.  The test modules are built in
 * tests/modules: good.so (valid), badabi.so (ABI 99; aborts if any of its
 * code is called), newabi.so (ABI 1.(minor + 1); aborts too), oldabi.so
 * (ABI 1.0), ctor.so (its constructor creates $VHOSTD_TEST_CTOR) and
 * nosym.so (no descriptor).  Each test copies what it needs into a private
 * temp dir, since a module's file name must match its name and the
 * directory must pass the trust rules.  The "wrong owner" cases need root
 * (for chown); without it they say so and check nothing else.
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

#define TEST_MODULES	TEST_BUILD_DIR "/tests/modules/.libs/"
#define TEST_VHOSTD	TEST_BUILD_DIR "/vhostd"
/* "1.1": the ABI this tree's header describes, as vhostd prints it. */
#define TEST_STR(x)	#x
#define TEST_XSTR(x)	TEST_STR(x)
#define TEST_ABI	TEST_XSTR(VHD_ABI_MAJOR) "." TEST_XSTR(VHD_ABI_MINOR)

static char	 test_dir[64];

/* Make a private temp dir (mode 0700). */
static void
test_setup(void)
{
	snprintf(test_dir, sizeof test_dir, "/tmp/check_module.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	ck_assert_int_eq(chmod(test_dir, 0700), 0);
	unsetenv("VHOSTD_MODULE_DIR");
}

/* Unload everything and remove the temp dir. */
static void
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
static void
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
static void
test_mkdir(const char *rel, mode_t mode)
{
	char	 path[256];

	snprintf(path, sizeof path, "%s/%s", test_dir, rel);
	ck_assert_msg(mkdir(path, 0700) == 0, "mkdir %s: %s", path,
	    strerror(errno));
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* chmod test_dir/rel (test_dir itself for ""). */
static void
test_chmod(const char *rel, mode_t mode)
{
	char	 path[256];

	snprintf(path, sizeof path, "%s%s%s", test_dir, *rel ? "/" : "", rel);
	ck_assert_msg(chmod(path, mode) == 0, "chmod %s: %s", path,
	    strerror(errno));
}

/* chown test_dir/rel (test_dir itself for ""). */
static void
test_chown(const char *rel, uid_t uid, gid_t gid)
{
	char	 path[256];

	snprintf(path, sizeof path, "%s%s%s", test_dir, *rel ? "/" : "", rel);
	ck_assert_msg(chown(path, uid, gid) == 0, "chown %s: %s", path,
	    strerror(errno));
}

/* Are we root, as the chown cases need?  Says so when not. */
static int
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
static void
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

/* Run the daemon with `argv` (argv[0] ignored), its stdout and stderr
 * into *out; returns its exit status, or -1 if it did not exit. */
static int
test_vhostd(char **out, const char *const *args)
{
	char		 path[256], *argv[16];
	FILE		*f;
	pid_t		 pid;
	int		 fd, status, i;
	long		 len;

	ck_assert_msg(access(TEST_VHOSTD, X_OK) == 0, "%s: %s", TEST_VHOSTD,
	    strerror(errno));
	argv[0] = (char *)(uintptr_t)TEST_VHOSTD;
	for (i = 0; args[i] != NULL && i < 14; i++)
		argv[i + 1] = (char *)(uintptr_t)args[i];
	argv[i + 1] = NULL;

	snprintf(path, sizeof path, "%s/out.txt", test_dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
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
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);

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
	char	 path[256], *argv[16];
	pid_t	 pid;
	int	 fd, i;

	ck_assert_msg(access(TEST_VHOSTD, X_OK) == 0, "%s: %s", TEST_VHOSTD,
	    strerror(errno));
	argv[0] = (char *)(uintptr_t)TEST_VHOSTD;
	for (i = 0; args[i] != NULL && i < 14; i++)
		argv[i + 1] = (char *)(uintptr_t)args[i];
	argv[i + 1] = NULL;
	snprintf(path, sizeof path, "%s/log", test_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execv(TEST_VHOSTD, argv);
		_exit(127);
	}
	close(fd);
	return (pid);
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
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; exit 0 when every test passed. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(module_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
