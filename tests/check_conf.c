/*
 * Tests for core/conf.c: the config file parser, the command-line queue
 * masks, and the checks of a whole configuration.  Errors are captured
 * from stderr so each test checks both the count and the "file:line".
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

static char	 test_dir[64];
static char	*test_err;	/* stderr of the last parse */

/* Make a temp dir for the test's files. */
static void
test_setup(void)
{
	snprintf(test_dir, sizeof test_dir, "/tmp/check_conf.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	test_err = NULL;
}

/* Remove the temp dir and what the test put in it. */
static void
test_teardown(void)
{
	char	 cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", test_dir);
	free(test_err);
	test_err = NULL;
}

/* Write `text` (len bytes) to test_dir/name; return the path (static). */
static const char *
test_write_len(const char *name, const char *text, size_t len)
{
	static char	 path[256];
	FILE		*f;

	snprintf(path, sizeof path, "%s/%s", test_dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return (path);
}

/* Write a text file to test_dir/name; return the path (static). */
static const char *
test_write(const char *name, const char *text)
{
	return (test_write_len(name, text, strlen(text)));
}

/* Start capturing stderr into a temp file; returns the saved fd. */
static int
test_capture_start(FILE **tmp)
{
	int	 saved;

	fflush(stderr);
	*tmp = tmpfile();
	ck_assert_ptr_nonnull(*tmp);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fileno(*tmp), STDERR_FILENO), 0);
	return (saved);
}

/* Stop capturing; what was written goes to test_err (also echoed). */
static void
test_capture_end(FILE *tmp, int saved)
{
	long	 len;

	fflush(stderr);
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	len = ftell(tmp);
	ck_assert_int_ge(len, 0);
	free(test_err);
	test_err = calloc(1, (size_t)len + 1);
	ck_assert_ptr_nonnull(test_err);
	rewind(tmp);
	ck_assert_uint_eq(fread(test_err, 1, (size_t)len, tmp), (size_t)len);
	fclose(tmp);
	fputs(test_err, stderr);
}

/* Parse a string, capturing stderr; returns the error count. */
static int
test_parse(struct conf *conf, const char *text)
{
	FILE	*tmp;
	int	 saved, errors;

	conf_init(conf);
	saved = test_capture_start(&tmp);
	errors = conf_parse_string(conf, "t.conf", text);
	test_capture_end(tmp, saved);
	return (errors);
}

/* Parse a file, capturing stderr; returns the error count. */
static int
test_parse_file(struct conf *conf, const char *path)
{
	FILE	*tmp;
	int	 saved, errors;

	conf_init(conf);
	saved = test_capture_start(&tmp);
	errors = conf_parse_file(conf, path);
	test_capture_end(tmp, saved);
	return (errors);
}

/* Assert that the captured errors contain `text`. */
#define test_err_has(text) do {						\
	ck_assert_msg(strstr(test_err, (text)) != NULL,			\
	    "expected \"%s\" in errors:\n%s", (text), test_err);		\
} while (0)

/* The n-th device of a configuration. */
static struct conf_device *
test_device(struct conf *conf, unsigned n)
{
	struct conf_device	*cd;

	TAILQ_FOREACH(cd, &conf->devices, entry) {
		if (n-- == 0)
			return (cd);
	}
	ck_abort_msg("no device %u", n);
	return (NULL);
}

/* A good config: every core key, module keys in order with file:line. */
START_TEST(test_good_devices)
{
	struct conf		 conf;
	struct conf_device	*cd;
	struct conf_kv		*kv;

	ck_assert_int_eq(test_parse(&conf,
	    "# comment\n"
	    "log-level debug\n"
	    "module-dir \"/opt/mods\"\n"
	    "\n"
	    "device \"rng0\" {\n"
	    "\tmodule rng\n"
	    "\tsocket \"/run/vhostd/rng0.sock\"   # trailing comment\n"
	    "\tsocket-mode 0660\n"
	    "\tqueue-mask 0x1 0x0\n"
	    "\tmax-bytes 4096\n"
	    "\tperiod 1000\n"
	    "}\n"
	    "device rng1 {\n"
	    "  module rng\n"
	    "  socket /tmp/rng1.sock\n"
	    "  source /dev/urandom\n"
	    "}\n"), 0);
	ck_assert_str_eq(test_err, "");
	ck_assert_int_eq(conf.log_level, 3);
	ck_assert_str_eq(conf.module_dir, "/opt/mods");

	cd = test_device(&conf, 0);
	ck_assert_str_eq(cd->name, "rng0");
	ck_assert_str_eq(cd->where, "t.conf:5");
	ck_assert_str_eq(cd->module, "rng");
	ck_assert_str_eq(cd->socket, "/run/vhostd/rng0.sock");
	ck_assert_str_eq(cd->socket_where, "t.conf:7");
	ck_assert_uint_eq(cd->socket_mode, 0660);
	ck_assert_uint_eq(cd->nmasks, 2);
	ck_assert_uint_eq(cd->masks[0], 1);
	ck_assert_uint_eq(cd->masks[1], 0);
	kv = TAILQ_FIRST(&cd->options);
	ck_assert_ptr_nonnull(kv);
	ck_assert_str_eq(kv->key, "max-bytes");
	ck_assert_str_eq(kv->value, "4096");
	ck_assert_str_eq(kv->where, "t.conf:10");
	kv = TAILQ_NEXT(kv, entry);
	ck_assert_ptr_nonnull(kv);
	ck_assert_str_eq(kv->key, "period");
	ck_assert_str_eq(kv->value, "1000");
	ck_assert_str_eq(kv->where, "t.conf:11");
	ck_assert_ptr_null(TAILQ_NEXT(kv, entry));

	cd = test_device(&conf, 1);
	ck_assert_str_eq(cd->name, "rng1");
	ck_assert_uint_eq(cd->socket_mode, 0600);
	ck_assert_uint_eq(cd->nmasks, 0);
	kv = TAILQ_FIRST(&cd->options);
	ck_assert_str_eq(kv->key, "source");
	ck_assert_str_eq(kv->value, "/dev/urandom");
	ck_assert_ptr_null(TAILQ_NEXT(test_device(&conf, 1), entry));
	conf_clear(&conf);
	ck_assert(TAILQ_EMPTY(&conf.devices));
}
END_TEST

/* Quoted strings keep spaces and decode \" and \\. */
START_TEST(test_good_quoted)
{
	struct conf		 conf;
	struct conf_device	*cd;
	struct conf_kv		*kv;

	ck_assert_int_eq(test_parse(&conf,
	    "device \"my dev\" {\n"
	    "  module \"rng\"\n"
	    "  socket \"/tmp/a b.sock\"\n"
	    "  label \"say \\\"hi\\\" \\\\ # not a comment\"\n"
	    "}\n"), 1);	/* "my dev" is not a valid device name */
	test_err_has("t.conf:1: invalid device name \"my dev\"");
	conf_clear(&conf);

	ck_assert_int_eq(test_parse(&conf,
	    "device \"d\" { module rng\n"
	    "  socket \"/tmp/a b.sock\"\n"
	    "  label \"say \\\"hi\\\" \\\\ # not a comment\"\n"
	    "  empty \"\"\n"
	    "}\n"), 0);
	cd = test_device(&conf, 0);
	ck_assert_str_eq(cd->module, "rng");
	ck_assert_str_eq(cd->socket, "/tmp/a b.sock");
	kv = TAILQ_FIRST(&cd->options);
	ck_assert_str_eq(kv->value, "say \"hi\" \\ # not a comment");
	kv = TAILQ_NEXT(kv, entry);
	ck_assert_str_eq(kv->key, "empty");
	ck_assert_str_eq(kv->value, "");
	conf_clear(&conf);
}
END_TEST

/* include is relative to the including file; keys keep their file:line. */
START_TEST(test_good_include)
{
	struct conf		 conf;
	struct conf_device	*cd;
	char			 sub[128], where[256];
	const char		*top;

	snprintf(sub, sizeof sub, "%s/sub", test_dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	test_write("sub/dev.conf",
	    "device b {\n"
	    "  module rng\n"
	    "  socket /tmp/b.sock\n"
	    "  max-bytes 10\n"
	    "}\n"
	    "include \"../more.conf\"\n");
	test_write("more.conf", "log-level warning\n");
	top = test_write("main.conf",
	    "device a {\n"
	    "  module rng\n"
	    "  socket /tmp/a.sock\n"
	    "}\n"
	    "include \"sub/dev.conf\"\n");
	ck_assert_int_eq(test_parse_file(&conf, top), 0);
	cd = test_device(&conf, 1);
	ck_assert_str_eq(cd->name, "b");
	snprintf(where, sizeof where, "%s/sub/dev.conf:4", test_dir);
	ck_assert_str_eq(TAILQ_FIRST(&cd->options)->where, where);
	ck_assert_int_eq(conf.log_level, 1);
	conf_clear(&conf);
}
END_TEST

/* The shipped example configuration parses. */
START_TEST(test_good_example)
{
	struct conf	 conf;

	ck_assert_int_eq(test_parse_file(&conf,
	    TEST_SRC_DIR "/conf/vhostd.conf"), 0);
	ck_assert_str_eq(test_device(&conf, 0)->module, "rng");
	conf_clear(&conf);
}
END_TEST

/* Command-line masks: hex or decimal, comma separated, at most 64. */
START_TEST(test_masks)
{
	struct conf		 conf;
	struct conf_device	*cd;
	char			*cause, big[64 * 4 + 8];
	int			 i;

	conf_init(&conf);
	cd = conf_device_new(&conf, "d0", NULL);
	ck_assert_str_eq(cd->where, "command line");
	ck_assert_int_eq(conf_parse_masks(cd, "0x0,0x1", &cause), 0);
	ck_assert_uint_eq(cd->nmasks, 2);
	ck_assert_uint_eq(cd->masks[0], 0);
	ck_assert_uint_eq(cd->masks[1], 1);
	ck_assert_int_eq(conf_parse_masks(cd, "12,0xFFFFFFFFFFFFFFFF",
	    &cause), 0);
	ck_assert_uint_eq(cd->nmasks, 2);
	ck_assert_uint_eq(cd->masks[0], 12);
	ck_assert_uint_eq(cd->masks[1], UINT64_MAX);

	{
		static const char *bad[] = { "", "0x", "-1", "1,,2", "1,",
		    " 1", "0x1g", "0x10000000000000000", "abc", "+1" };
		size_t	 j;

		for (j = 0; j < sizeof bad / sizeof bad[0]; j++) {
			cause = NULL;
			ck_assert_msg(conf_parse_masks(cd, bad[j], &cause) ==
			    -1, "mask '%s' accepted", bad[j]);
			ck_assert_ptr_nonnull(cause);
			ck_assert_uint_eq(cd->nmasks, 0);
			free(cause);
		}
	}

	big[0] = '\0';
	for (i = 0; i < 64; i++)
		strcat(big, i == 0 ? "0x1" : ",0x0");
	ck_assert_int_eq(conf_parse_masks(cd, big, &cause), 0);
	ck_assert_uint_eq(cd->nmasks, 64);
	strcat(big, ",0x0");
	ck_assert_int_eq(conf_parse_masks(cd, big, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "64"));
	free(cause);
	conf_clear(&conf);
}
END_TEST

/* An unknown global keyword is an error at its line. */
START_TEST(test_bad_unknown_global)
{
	struct conf	 conf;

	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n module rng\n socket /tmp/a\n}\n"
	    "frobnicate yes\n"), 1);
	test_err_has("t.conf:5: unknown keyword 'frobnicate'");
	conf_clear(&conf);
}
END_TEST

/* workers and control (issue 12): values kept, bad ones reported with
 * their line; device blocks compare equal wherever they are. */
START_TEST(test_workers_control)
{
	struct conf	 conf, other;

	ck_assert_int_eq(test_parse(&conf, "workers 2\n"
	    "control \"/run/x/control\"\n"
	    "device a {\n module rng\n socket /tmp/a\n max-bytes 10\n}\n"), 0);
	ck_assert_uint_eq(conf.workers, 2);
	ck_assert_str_eq(conf.control_path, "/run/x/control");
	ck_assert_uint_eq(conf.pc_fault_timeout, 0);
	ck_assert_int_eq(test_parse(&other, "\n\n"
	    "device a {\n module rng\n socket /tmp/a\n max-bytes 10\n}\n"), 0);
	ck_assert(conf_device_equal(test_device(&conf, 0),
	    test_device(&other, 0)));
	conf_clear(&other);
	ck_assert_int_eq(test_parse(&other,
	    "device a {\n module rng\n socket /tmp/a\n max-bytes 11\n}\n"), 0);
	ck_assert(!conf_device_equal(test_device(&conf, 0),
	    test_device(&other, 0)));
	conf_clear(&other);
	conf_clear(&conf);

	ck_assert_int_eq(test_parse(&conf, "workers 0\nworkers 65\n"
	    "workers x\ncontrol relative\n"
	    "device a {\n module rng\n socket /tmp/a\n}\n"), 4);
	test_err_has("t.conf:1: workers: '0': expected a number from 1 to 64");
	test_err_has("t.conf:2: workers: '65'");
	test_err_has("t.conf:3: workers: 'x'");
	test_err_has("t.conf:4: control: 'relative': expected an absolute "
	    "path");
	conf_clear(&conf);

	/* postcopy-fault-timeout (issue 10): seconds, 1 to 3600. */
	ck_assert_int_eq(test_parse(&conf, "postcopy-fault-timeout 7\n"
	    "device a {\n module rng\n socket /tmp/a\n}\n"), 0);
	ck_assert_uint_eq(conf.pc_fault_timeout, 7);
	conf_clear(&conf);
	ck_assert_int_eq(test_parse(&conf, "postcopy-fault-timeout 0\n"
	    "postcopy-fault-timeout 3601\npostcopy-fault-timeout 2s\n"
	    "device a {\n module rng\n socket /tmp/a\n}\n"), 3);
	test_err_has("t.conf:1: postcopy-fault-timeout: '0': expected a "
	    "number of seconds from 1 to 3600");
	test_err_has("t.conf:2: postcopy-fault-timeout: '3601'");
	test_err_has("t.conf:3: postcopy-fault-timeout: '2s'");
	conf_clear(&conf);
}
END_TEST

/* Two devices with the same name. */
START_TEST(test_bad_duplicate_name)
{
	struct conf	 conf;

	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n module rng\n socket /tmp/a\n}\n"
	    "device a {\n module rng\n socket /tmp/b\n}\n"), 1);
	test_err_has("t.conf:5: duplicate device name \"a\" (first defined "
	    "at t.conf:1)");
	conf_clear(&conf);
}
END_TEST

/* Two devices on the same socket. */
START_TEST(test_bad_duplicate_socket)
{
	struct conf	 conf;

	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n module rng\n socket /tmp/a\n}\n"
	    "device b {\n module rng\n socket /tmp/a\n}\n"), 1);
	test_err_has("t.conf:7: device \"b\": socket \"/tmp/a\" is already "
	    "used by device \"a\" (t.conf:3)");
	conf_clear(&conf);
}
END_TEST

/* A device without a module, one without a socket. */
START_TEST(test_bad_missing_module_socket)
{
	struct conf	 conf;

	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n socket /tmp/a\n}\n"), 1);
	test_err_has("t.conf:1: device \"a\": no module");
	conf_clear(&conf);

	ck_assert_int_eq(test_parse(&conf,
	    "\ndevice a {\n module rng\n}\n"), 1);
	test_err_has("t.conf:2: device \"a\": no socket");
	conf_clear(&conf);
}
END_TEST

/* A module name is a plain name, never a path. */
START_TEST(test_bad_module_name)
{
	struct conf	 conf;

	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n socket /tmp/a\n module ../../tmp/evil\n}\n"), 1);
	test_err_has("t.conf:3: device \"a\": invalid module name "
	    "\"../../tmp/evil\"");
	conf_clear(&conf);

	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n socket /tmp/a\n module a/b\n}\n"), 1);
	test_err_has("t.conf:3:");
	conf_clear(&conf);
}
END_TEST

/* socket-mode is octal, at most 0777. */
START_TEST(test_bad_socket_mode)
{
	static const char *bad[] = { "0800", "01777", "rw", "\"\"", "-1",
	    "0x1ff" };
	struct conf	 conf;
	char		 text[256];
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "device a {\n module rng\n"
		    " socket /tmp/a\n socket-mode %s\n}\n", bad[i]);
		ck_assert_msg(test_parse(&conf, text) == 1, "mode %s",
		    bad[i]);
		test_err_has("t.conf:4: device \"a\": bad socket-mode");
		conf_clear(&conf);
	}
}
END_TEST

/* client is yes or no (default no); anything else is an error. */
START_TEST(test_client_key)
{
	struct conf	 conf;

	ck_assert_int_eq(test_parse(&conf, "device a {\n module blk\n"
	    " socket /tmp/a\n client yes\n}\ndevice b {\n module blk\n"
	    " socket /tmp/b\n}\ndevice c {\n module blk\n socket /tmp/c\n"
	    " client no\n}\n"), 0);
	ck_assert_int_eq(test_device(&conf, 0)->client, 1);
	ck_assert_int_eq(test_device(&conf, 1)->client, 0);
	ck_assert_int_eq(test_device(&conf, 2)->client, 0);
	conf_clear(&conf);
	ck_assert_int_eq(test_parse(&conf, "device a {\n module blk\n"
	    " socket /tmp/a\n client maybe\n}\n"), 1);
	test_err_has("t.conf:4: device \"a\": bad client 'maybe'");
	conf_clear(&conf);
}
END_TEST

/* A bad queue mask in the file; overlapping masks. */
START_TEST(test_bad_mask)
{
	struct conf	 conf;

	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n module rng\n socket /tmp/a\n"
	    " queue-mask 0x1 zzz\n}\n"), 1);
	test_err_has("t.conf:4: device \"a\": bad queue mask 'zzz'");
	conf_clear(&conf);

	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n module rng\n socket /tmp/a\n"
	    " queue-mask 0x3 0x2\n}\n"), 1);
	test_err_has("t.conf:1: device \"a\": queue 1 is in the queue-mask "
	    "of more than one worker");
	conf_clear(&conf);

	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n module rng\n socket /tmp/a\n"
	    " queue-mask\n}\n"), 1);
	test_err_has("t.conf:4: device \"a\": queue-mask: missing value");
	conf_clear(&conf);
}
END_TEST

/* An unterminated string ends at the end of its line. */
START_TEST(test_bad_unterminated_string)
{
	struct conf	 conf;

	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n module rng\n socket /tmp/a\n"
	    " label \"no end\n}\n"), 1);
	test_err_has("t.conf:4: unterminated string");
	conf_clear(&conf);

	/* At the very end of the file, inside the block. */
	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n module rng\n socket /tmp/a\n label \"x\\"), 2);
	test_err_has("t.conf:4: unterminated string");
	test_err_has("missing '}'");
	conf_clear(&conf);

	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n module rng\n socket /tmp/a\n"
	    " label \"bad \\n escape\"\n}\n"), 1);
	test_err_has("t.conf:4: unknown escape");
	conf_clear(&conf);
}
END_TEST

/* A block that never closes; a stray closing brace. */
START_TEST(test_bad_braces)
{
	struct conf	 conf;

	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n module rng\n socket /tmp/a\n"), 1);
	test_err_has("t.conf:4: device \"a\": missing '}' (block opened at "
	    "line 1)");
	conf_clear(&conf);

	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n module rng\n socket /tmp/a\n}\n}\n"), 1);
	test_err_has("t.conf:5: unexpected '}'");
	conf_clear(&conf);

	/* A forgotten '{': one error, the block is still read. */
	ck_assert_int_eq(test_parse(&conf,
	    "device a\n module rng\n socket /tmp/a\n}\n"), 1);
	test_err_has("t.conf:1: device \"a\": expected '{' (found end of "
	    "line)");
	conf_clear(&conf);

	/* A misspelt keyword: its whole block is skipped. */
	ck_assert_int_eq(test_parse(&conf,
	    "devcie a {\n module rng\n socket /tmp/a\n}\n"
	    "device b {\n module rng\n socket /tmp/b\n}\n"), 1);
	test_err_has("t.conf:1: unknown keyword 'devcie'");
	conf_clear(&conf);
}
END_TEST

/* Stray tokens after a statement; a key without a value. */
START_TEST(test_bad_stray_tokens)
{
	struct conf	 conf;

	ck_assert_int_eq(test_parse(&conf,
	    "log-level info extra\n"
	    "device a {\n module rng now\n socket /tmp/a\n"
	    " period\n"
	    " @oops 1\n"
	    "}\n"), 5);
	test_err_has("t.conf:1: log-level: unexpected 'extra'");
	test_err_has("t.conf:3: module: unexpected 'now'");
	test_err_has("t.conf:5: period: missing value");
	test_err_has("t.conf:6: unexpected '@'");
	test_err_has("t.conf:2: device \"a\": no module");
	conf_clear(&conf);
}
END_TEST

/* An include cycle is found, not followed forever. */
START_TEST(test_bad_include_cycle)
{
	struct conf	 conf;
	const char	*top;
	char		 text[512];

	test_write("b.conf", "include \"a.conf\"\n");
	top = test_write("a.conf",
	    "device a {\n module rng\n socket /tmp/a\n}\n"
	    "include \"b.conf\"\n");
	ck_assert_int_eq(test_parse_file(&conf, top), 1);
	snprintf(text, sizeof text, "%s/b.conf:1: include \"%s/a.conf\": "
	    "include cycle", test_dir, test_dir);
	test_err_has(text);
	conf_clear(&conf);

	/* A file including itself. */
	top = test_write("self.conf",
	    "device a {\n module rng\n socket /tmp/a\n}\n"
	    "include \"self.conf\"\n");
	ck_assert_int_eq(test_parse_file(&conf, top), 1);
	test_err_has("include cycle");
	conf_clear(&conf);
}
END_TEST

/* Includes nest at most 8 deep. */
START_TEST(test_bad_include_depth)
{
	struct conf	 conf;
	char		 name[32], text[64];
	const char	*top = NULL;
	int		 i;

	for (i = 12; i >= 0; i--) {
		snprintf(name, sizeof name, "f%d.conf", i);
		snprintf(text, sizeof text, "include \"f%d.conf\"\n", i + 1);
		top = test_write(name, i == 12 ? "log-level info\n" : text);
	}
	top = test_write("top.conf",
	    "device a {\n module rng\n socket /tmp/a\n}\n"
	    "include \"f0.conf\"\n");
	ck_assert_int_eq(test_parse_file(&conf, top), 1);
	test_err_has("nested more than 8 deep");
	conf_clear(&conf);
}
END_TEST

/* Including a file that does not exist. */
START_TEST(test_bad_include_missing)
{
	struct conf	 conf;
	const char	*top;
	char		 text[512];

	top = test_write("main.conf",
	    "device a {\n module rng\n socket /tmp/a\n}\n"
	    "\n"
	    "include \"nope.conf\"\n");
	ck_assert_int_eq(test_parse_file(&conf, top), 1);
	snprintf(text, sizeof text, "%s/main.conf:6: include \"%s/nope.conf\""
	    ": No such file or directory", test_dir, test_dir);
	test_err_has(text);
	conf_clear(&conf);

	/* The top file itself. */
	snprintf(text, sizeof text, "%s/absent.conf", test_dir);
	ck_assert_int_eq(test_parse_file(&conf, text), 1);
	test_err_has("absent.conf: No such file or directory");
	conf_clear(&conf);
}
END_TEST

/* Every error of a file is reported in one run. */
START_TEST(test_bad_multiple)
{
	struct conf	 conf;

	ck_assert_int_eq(test_parse(&conf,
	    "bogus 1\n"
	    "device a {\n module rng\n socket /tmp/a\n socket-mode 9\n}\n"
	    "device b {\n module rng\n socket /tmp/a\n}\n"), 3);
	test_err_has("t.conf:1: unknown keyword 'bogus'");
	test_err_has("t.conf:5: device \"a\": bad socket-mode '9'");
	test_err_has("t.conf:9: device \"b\": socket \"/tmp/a\" is already "
	    "used");
	conf_clear(&conf);
}
END_TEST

/* A configuration without devices, and an empty file. */
START_TEST(test_bad_no_device)
{
	struct conf	 conf;

	ck_assert_int_eq(test_parse(&conf, ""), 1);
	test_err_has("t.conf: no device configured");
	conf_clear(&conf);
	ck_assert_int_eq(test_parse(&conf, "log-level debug\n"), 1);
	conf_clear(&conf);
}
END_TEST

/* NUL bytes, control bytes and huge tokens are errors, not crashes. */
START_TEST(test_bad_bytes)
{
	static const char nul[] = "device a {\n module rng\n \0\n"
	    " socket /tmp/a\n label \"x\0y\"\n # c\0mment\n}\n";
	static const char prefix[] = "device a {\n module rng\n"
	    " socket /tmp/a\n key ";
	struct conf	 conf;
	const char	*path;
	char		*big;
	size_t		 n = 5000;

	path = test_write_len("nul.conf", nul, sizeof nul - 1);
	ck_assert_int_eq(test_parse_file(&conf, path), 3);
	test_err_has("nul.conf:3: unexpected byte 0x00");
	test_err_has("nul.conf:5: byte 0x00 in string");
	test_err_has("nul.conf:6: unexpected byte 0x00");
	conf_clear(&conf);

	big = malloc(strlen(prefix) + n + 8);
	ck_assert_ptr_nonnull(big);
	strcpy(big, prefix);
	memset(big + strlen(prefix), 'x', n);
	strcpy(big + strlen(prefix) + n, "\n}\n");
	ck_assert_int_eq(test_parse(&conf, big), 1);
	test_err_has("t.conf:4: word longer than 1024 bytes");
	conf_clear(&conf);
	free(big);

	ck_assert_int_eq(test_parse(&conf,
	    "device a {\n module rng\n socket /tmp/a\n key \"a\tb\x01\"\n}\n"),
	    1);
	test_err_has("t.conf:4: byte 0x01 in string");
	conf_clear(&conf);
}
END_TEST

/* Random bytes never crash the parser or make it miscount. */
START_TEST(test_hostile_random)
{
	static const char alphabet[] = "device{}\"\\#\n module rng socket "
	    "/a\0\x7f\xff include \"x\" ";
	struct conf	 conf;
	char		 text[512];
	unsigned	 seed = 1, i, j, len;
	FILE		*null;
	int		 saved;

	fflush(stderr);
	null = fopen("/dev/null", "w");
	ck_assert_ptr_nonnull(null);
	saved = dup(STDERR_FILENO);
	dup2(fileno(null), STDERR_FILENO);
	for (i = 0; i < 3000; i++) {
		len = (unsigned)rand_r(&seed) % (sizeof text - 1);
		for (j = 0; j < len; j++)
			text[j] = alphabet[(unsigned)rand_r(&seed) %
			    (sizeof alphabet - 1)];
		text[len] = '\0';
		conf_init(&conf);
		ck_assert_int_ge(conf_parse_string(&conf, "r.conf", text), 0);
		conf_clear(&conf);
	}
	dup2(saved, STDERR_FILENO);
	close(saved);
	fclose(null);
}
END_TEST

/* The conf suite. */
static Suite *
conf_suite(void)
{
	Suite	*s = suite_create("conf");
	TCase	*tc;

	tc = tcase_create("good");
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, test_good_devices);
	tcase_add_test(tc, test_good_quoted);
	tcase_add_test(tc, test_good_include);
	tcase_add_test(tc, test_good_example);
	tcase_add_test(tc, test_masks);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad");
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, test_bad_unknown_global);
	tcase_add_test(tc, test_workers_control);
	tcase_add_test(tc, test_bad_duplicate_name);
	tcase_add_test(tc, test_bad_duplicate_socket);
	tcase_add_test(tc, test_bad_missing_module_socket);
	tcase_add_test(tc, test_bad_module_name);
	tcase_add_test(tc, test_bad_socket_mode);
	tcase_add_test(tc, test_client_key);
	tcase_add_test(tc, test_bad_mask);
	tcase_add_test(tc, test_bad_unterminated_string);
	tcase_add_test(tc, test_bad_braces);
	tcase_add_test(tc, test_bad_stray_tokens);
	tcase_add_test(tc, test_bad_include_cycle);
	tcase_add_test(tc, test_bad_include_depth);
	tcase_add_test(tc, test_bad_include_missing);
	tcase_add_test(tc, test_bad_multiple);
	tcase_add_test(tc, test_bad_no_device);
	tcase_add_test(tc, test_bad_bytes);
	tcase_add_test(tc, test_hostile_random);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; exit 0 when every test passed. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(conf_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
