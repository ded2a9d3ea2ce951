/*
 * Helpers shared by check_control and check_pool (ct_util.h).
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe/fe.h"
#include "ct_util.h"

/* Run a shell command, its output in out; the exit status. */
int
ct_sh(char *out, size_t size, const char *fmt, ...)
{
	char	 cmd[4096];
	va_list	 ap;
	FILE	*p;
	size_t	 n = 0, r;
	int	 st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	ck_assert_msg(p != NULL, "popen %s", cmd);
	while (n + 1 < size && (r = fread(out + n, 1, size - 1 - n, p)) > 0)
		n += r;
	out[n] = '\0';
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return (WIFEXITED(st) ? WEXITSTATUS(st) : 128);
}

/* vhostctl ARGS against control socket `ctl`. */
int
ct_ctl(const char *ctl, char *out, size_t size, const char *args)
{
	return (ct_sh(out, size, "%s/vhostctl -s '%s' %s 2>&1",
	    TEST_BUILD_DIR, ctl, args));
}

/* vhostctl --json ARGS through Python's JSON parser. */
int
ct_json(struct fe_daemon *d, const char *ctl, char *out, size_t size,
    const char *args, const char *expr)
{
	char		 f[512], tmp[1024];
	int		 rc;

	snprintf(f, sizeof f, "%s/answer.json", fe_daemon_dir(d));
	rc = ct_sh(tmp, sizeof tmp, "%s/vhostctl -s '%s' --json %s >'%s' "
	    "2>&1 || { cat '%s'; exit 1; }", TEST_BUILD_DIR, ctl, args, f, f);
	ck_assert_msg(rc == 0, "vhostctl --json %s: exit %d, output: '%s'",
	    args, rc, tmp);
	return (ct_sh(out, size, "python3 -c 'import json,sys; "
	    "d=json.load(open(sys.argv[1])); print(%s)' '%s' 2>&1", expr, f));
}

/* A config of rng devices with a control socket. */
const char *
ct_conf(struct fe_daemon *d, const char *file, const char *extra,
    const char *const *names)
{
	char	 text[16384];
	size_t	 n;
	unsigned i;

	n = (size_t)snprintf(text, sizeof text, "control \"%s\"\n%s",
	    fe_daemon_path(d, "control"), extra != NULL ? extra : "");
	for (i = 0; names[i] != NULL; i++) {
		/* A block given in `extra` wins (same name, other keys). */
		if (extra != NULL && strstr(extra, names[i]) != NULL)
			continue;
		n += (size_t)snprintf(text + n, sizeof text - n,
		    "device \"%s\" {\n\tmodule rng\n\tsocket \"%s/%s.sock\"\n"
		    "}\n", names[i], fe_daemon_dir(d), names[i]);
	}
	return (fe_daemon_write_file(d, file, text, n));
}

/* Start vhostd on `conf`, waiting for its sockets. */
void
ct_start(struct fe_daemon *d, const char *conf, const char *const *names)
{
	const char	*socks[9], *args[3];
	char		*carg, paths[9][256];
	unsigned	 i;

	for (i = 0; names[i] != NULL && i < 7; i++) {
		snprintf(paths[i], sizeof paths[i], "%s/%s.sock",
		    fe_daemon_dir(d), names[i]);
		socks[i] = paths[i];
	}
	/* The control socket comes after the devices'. */
	snprintf(paths[i], sizeof paths[i], "%s/control", fe_daemon_dir(d));
	socks[i] = paths[i];
	socks[i + 1] = NULL;
	ck_assert_int_ne(asprintf(&carg, "--config=%s", conf), -1);
	args[0] = carg;
	args[1] = NULL;
	ck_assert_msg(fe_daemon_start(d, args, socks, CT_START_MS) == 0,
	    "start: %s", fe_error());
	free(carg);
}

/* A started frontend on NAME.sock. */
struct fe *
ct_fe(struct fe_daemon *d, const char *name, unsigned qsize)
{
	char		 path[256];
	struct fe	*fe;

	snprintf(path, sizeof path, "%s/%s.sock", fe_daemon_dir(d), name);
	fe = fe_new(path, NULL, 0);
	ck_assert_msg(fe != NULL, "fe_new %s: %s", name, fe_error());
	ck_assert_msg(fe_start(fe, qsize) == 0, "fe_start %s: %s", name,
	    fe_error());
	return (fe);
}
