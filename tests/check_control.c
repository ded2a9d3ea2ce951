/*
 * Operating a running vhostd (issue 12): the control socket and vhostctl
 * (every command, JSON checked by a parser, counters checked against the
 * traffic sent, a peer that is neither root nor the daemon's user
 * refused) and reload (a kept device's stream goes on untouched while
 * devices are added and removed; a broken config changes nothing).  The
 * shared worker pool is check_pool's.
 */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"
#include "ct_util.h"

/* The value of a Prometheus sample line starting with `prefix`, or -1. */
static long long
ct_prom(const char *text, const char *prefix)
{
	const char	*p = text;
	size_t		 len = strlen(prefix);

	while ((p = strstr(p, prefix)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[len] == ' ')
			return (atoll(p + len + 1));
		p += len;
	}
	return (-1);
}

/* The permission bits of path, or -1. */
static int
ct_mode(const char *path)
{
	struct stat	 sb;

	if (stat(path, &sb) == -1)
		return (-1);
	return ((int)(sb.st_mode & 07777));
}

/* Every vhostctl command; the counters match the traffic sent. */
START_TEST(test_vhostctl_commands)
{
	static const char *const names[] = { "r0", "r1", NULL };
	struct fe_daemon	*d;
	struct fe_rng_stats	 st;
	struct fe		*fe;
	const char		*ctl, *conf;
	char			 out[65536];

	d = fe_daemon_new("control: commands");
	ck_assert_ptr_nonnull(d);
	conf = ct_conf(d, "vhostd.conf", NULL, names);
	ct_start(d, conf, names);
	ctl = fe_daemon_path(d, "control");

	/* The control socket is 0600. */
	{
		struct stat	 sb;

		ck_assert_int_eq(stat(ctl, &sb), 0);
		ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	}

	/* 1000 requests of 64 bytes, then 10 of 4 KiB: 1010 chains. */
	fe = ct_fe(d, "r0", CT_QSIZE);
	memset(&st, 0, sizeof st);
	ck_assert_msg(fe_rng_read(fe, 0, NULL, 64000, 64, 16, 1, 0, &st) == 0,
	    "read: %s", fe_error());
	ck_assert_msg(fe_rng_read(fe, 0, NULL, 40960, 4096, 4, 1, 0, &st) ==
	    0, "read: %s", fe_error());

	/* list, text and JSON. */
	CT_CTL(ctl, out, "list", 0);
	ck_assert_msg(strstr(out, "r0") != NULL && strstr(out, "running") !=
	    NULL && strstr(out, "r1") != NULL, "%s", out);
	CT_JSON(d, ctl, out, "list", "[(x[\"name\"], x[\"state\"]) for x "
	    "in d[\"devices\"]]", "[('r0', 'running'), ('r1', 'waiting')]\n");

	/* show. */
	CT_CTL(ctl, out, "show r0", 0);
	ck_assert_msg(strstr(out, "frontend: connected") != NULL &&
	    strstr(out, "queue 0: size 64, enabled, started") != NULL,
	    "%s", out);
	CT_JSON(d, ctl, out, "show r0", "d[\"connected\"], "
	    "d[\"queues\"][0][\"size\"], d[\"queues\"][0][\"started\"], "
	    "d[\"broken_reason\"], int(d[\"acked_features\"], 16) != 0",
	    "True 64 True None True\n");
	CT_CTL(ctl, out, "show nosuch", 1);
	ck_assert_msg(strstr(out, "no device named 'nosuch'") != NULL, "%s",
	    out);

	/* stats: chains and bytes out are what was read; nothing in
	 * flight; r1 saw nothing. */
	CT_JSON(d, ctl, out, "stats", "[(x[\"name\"], "
	    "x[\"queues\"][0][\"chains\"], x[\"queues\"][0][\"bytes_out\"], "
	    "x[\"queues\"][0][\"inflight\"], x[\"queues\"][0][\"errors\"], "
	    "x[\"queues\"][0][\"kicks\"] > 0, "
	    "x[\"queues\"][0][\"calls\"] > 0) for x in d[\"devices\"]]",
	    "[('r0', 1010, 104960, 0, 0, True, True), "
	    "('r1', 0, 0, 0, 0, False, False)]\n");
	CT_CTL(ctl, out, "stats r0", 0);
	ck_assert_msg(strstr(out, "chains 1010 bytes_in 0 bytes_out 104960 "
	    "errors 0 inflight 0") != NULL, "%s", out);
	CT_CTL(ctl, out, "--prometheus stats", 0);
	ck_assert_int_eq(ct_prom(out,
	    "vhostd_queue_chains_total{device=\"r0\",queue=\"0\"}"), 1010);
	ck_assert_int_eq(ct_prom(out,
	    "vhostd_queue_bytes_out_total{device=\"r0\",queue=\"0\"}"), 104960);
	ck_assert_int_eq(ct_prom(out,
	    "vhostd_device_connected{device=\"r0\"}"), 1);
	ck_assert_int_eq(ct_prom(out,
	    "vhostd_device_connected{device=\"r1\"}"), 0);
	ck_assert_msg(strstr(out, "# TYPE vhostd_queue_chains_total counter")
	    != NULL, "%s", out);
	CT_CTL(ctl, out, "--prometheus list", 1);

	/* log-level. */
	CT_CTL(ctl, out, "log-level debug", 0);
	ck_assert_int_eq(fe_daemon_wait_log(d, "log level set to debug", 1,
	    CT_START_MS), 0);
	CT_CTL(ctl, out, "log-level loud", 1);
	CT_JSON(d, ctl, out, "log-level info", "d[\"result\"]",
	    "log level info\n");

	/* reload of the same file: everything kept. */
	CT_CTL(ctl, out, "reload", 0);
	ck_assert_msg(strstr(out, "0 added, 0 removed, 0 changed, 2 kept") !=
	    NULL, "%s", out);

	/* reset: the frontend is dropped, the device waits again. */
	CT_CTL(ctl, out, "reset r0", 0);
	ck_assert_int_eq(fe_sock_wait_closed(fe->fd, CT_START_MS), 1);
	CT_JSON(d, ctl, out, "show r0", "d[\"connected\"], d[\"state\"]",
	    "False waiting\n");
	CT_CTL(ctl, out, "reset nosuch", 1);
	CT_CTL(ctl, out, "frobnicate", 1);
	fe_free(fe);

	ck_assert_int_eq(fe_daemon_stop(d, CT_STOP_MS), 0);
	/* The socket goes with the daemon. */
	ck_assert_int_eq(access(ctl, F_OK), -1);
	fe_daemon_free(d);
}
END_TEST

/* A peer that is neither root nor the daemon's user is refused, even
 * when the socket's mode would let it connect (SO_PEERCRED). */
START_TEST(test_vhostctl_refuses_others)
{
	static const char *const names[] = { "r0", NULL };
	struct fe_daemon	*d;
	struct passwd		*pw;
	const char		*ctl, *conf, *res;
	char			 out[4096];
	pid_t			 pid;
	int			 st;

	if (geteuid() != 0) {
		fprintf(stderr, "check_control: not root, the refusal of "
		    "another uid is not tested\n");
		return;
	}
	pw = getpwnam("nobody");
	ck_assert_ptr_nonnull(pw);
	d = fe_daemon_new("control: others refused");
	ck_assert_ptr_nonnull(d);
	conf = ct_conf(d, "vhostd.conf", NULL, names);
	ct_start(d, conf, names);
	ctl = fe_daemon_path(d, "control");
	/* Let nobody reach the socket: only the daemon's check is left. */
	ck_assert_int_eq(chmod(getenv("FE_TMPDIR"), 0711), 0);
	ck_assert_int_eq(chmod(fe_daemon_dir(d), 0711), 0);
	ck_assert_int_eq(chmod(ctl, 0666), 0);
	/* The build tree may be below a directory nobody cannot enter (the
	 * sanitizer runs build in a 0700 mktemp directory): nobody runs a
	 * copy of vhostctl from the daemon's directory. */
	ck_assert_int_eq(ct_sh(out, sizeof out, "cp '%s/vhostctl' '%s/vhostctl'"
	    " && chmod 0755 '%s/vhostctl'", TEST_BUILD_DIR, fe_daemon_dir(d),
	    fe_daemon_dir(d)), 0);

	/* The child (nobody) hands vhostctl's exit status and output back
	 * through a file in the daemon's dir, so a failure shows them. */
	res = fe_daemon_write_file(d, "nobody.out", "", 0);
	ck_assert_ptr_nonnull(res);
	ck_assert_int_eq(chmod(res, 0666), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		if (setgroups(0, NULL) == -1 || setgid(pw->pw_gid) == -1 ||
		    setuid(pw->pw_uid) == -1)
			_exit(10);
		_exit(ct_sh(out, sizeof out, "'%s/vhostctl' -s '%s' list "
		    ">'%s' 2>&1", fe_daemon_dir(d), ctl, res));
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(chmod(getenv("FE_TMPDIR"), 0700), 0);
	ck_assert_int_eq(ct_sh(out, sizeof out, "cat '%s'", res), 0);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1 &&
	    strstr(out, "permission denied") != NULL, "vhostctl run as "
	    "nobody: status %d (exit %d), output: '%s'; control socket mode "
	    "%o", st, WIFEXITED(st) ? WEXITSTATUS(st) : -1, out,
	    ct_mode(ctl));
	ck_assert_int_eq(fe_daemon_log_count(d, "control: refused a request "
	    "from uid"), 1);
	/* Root still is served. */
	CT_CTL(ctl, out, "list", 0);
	ck_assert_int_eq(fe_daemon_stop(d, CT_STOP_MS), 0);
	fe_daemon_free(d);
}
END_TEST

/* A module's own counters (the SDK's stats callback): a console port's
 * client shows up in vhostctl stats, in JSON and Prometheus. */
START_TEST(test_vhostctl_module_counters)
{
	struct fe_daemon	*d;
	const char		*args[6], *socks[3];
	char			 out[16384], a[4][600], ctl[300], p0[300];

	d = fe_daemon_new("control: module counters");
	ck_assert_ptr_nonnull(d);
	snprintf(ctl, sizeof ctl, "%s/control", fe_daemon_dir(d));
	snprintf(p0, sizeof p0, "%s/p0.sock", fe_daemon_dir(d));
	snprintf(a[0], sizeof a[0], "--socket=%s/con.sock", fe_daemon_dir(d));
	snprintf(a[1], sizeof a[1], "--option=port0=unix=%s", p0);
	snprintf(a[2], sizeof a[2], "--control=%s", ctl);
	snprintf(a[3], sizeof a[3], "--option=port1=name=org.test,file=%s/"
	    "port1.out", fe_daemon_dir(d));
	args[0] = "--module=console";
	args[1] = a[0];
	args[2] = a[1];
	args[3] = a[2];
	args[4] = a[3];
	args[5] = NULL;
	socks[0] = a[0] + 9;
	socks[1] = ctl;
	socks[2] = NULL;
	ck_assert_msg(fe_daemon_start(d, args, socks, CT_START_MS) == 0,
	    "start: %s", fe_error());
	CT_JSON(d, ctl, out, "stats", "[(m[\"object\"], m[\"name\"], "
	    "m[\"value\"]) for m in d[\"devices\"][0][\"module\"]]",
	    "[('port0', 'dropped_bytes', 0), ('port0', "
	    "'backlog_bytes', 0), ('port0', 'client_attached', 0), "
	    "('port1 org.test', 'dropped_bytes', 0), ('port1 org.test', "
	    "'backlog_bytes', 0), ('port1 org.test', 'client_attached', 1)]\n");
	CT_CTL(ctl, out, "--prometheus stats", 0);
	ck_assert_int_eq(ct_prom(out, "vhostd_module_console_client_attached{"
	    "device=\"console0\",object=\"port0\"}"), 0);
	/* A file backend always has its "client". */
	ck_assert_int_eq(ct_prom(out, "vhostd_module_console_client_attached{"
	    "device=\"console0\",object=\"port1 org.test\"}"), 1);
	ck_assert_int_eq(ct_prom(out, "vhostd_module_console_dropped_bytes{"
	    "device=\"console0\",object=\"port1 org.test\"}"), 0);
	ck_assert_int_eq(fe_daemon_stop(d, CT_STOP_MS), 0);
	fe_daemon_free(d);
}
END_TEST

/* Stream from device `name` until `stopfile` exists: exit 0 when every
 * read completed on the one connection, 1 otherwise. */
static __attribute__((noreturn)) void
ct_stream(struct fe_daemon *d, const char *name, const char *stopfile,
    const char *startfile)
{
	struct fe_rng_stats	 st;
	struct fe		*fe;
	char			 path[256];
	unsigned		 rounds = 0;

	snprintf(path, sizeof path, "%s/%s.sock", fe_daemon_dir(d), name);
	if ((fe = fe_new(path, NULL, 0)) == NULL || fe_start(fe, CT_QSIZE)
	    != 0)
		_exit(2);
	/* A loaded machine and a reload may hold a completion up longer
	 * than the default 5 s; the stream only must not break. */
	fe->timeout_ms = CT_START_MS;
	while (access(stopfile, F_OK) == -1) {
		memset(&st, 0, sizeof st);
		if (fe_rng_read(fe, 0, NULL, 16384, 64, 16, 1, 0, &st) != 0) {
			fprintf(stderr, "stream %s: %s\n", name, fe_error());
			_exit(1);
		}
		if (++rounds == 4)
			(void)fclose(fopen(startfile, "w"));
	}
	fe_free(fe);
	_exit(rounds >= 4 ? 0 : 3);
}

/* Reload: add one, remove one, keep one; the kept one's stream goes on
 * (no reconnect, no queue stop); a broken config changes nothing. */
START_TEST(test_reload_keeps_streams)
{
	static const char *const old[] = { "ka", "kb", "kc", NULL };
	static const char *const new[] = { "kb", "kc", "kd", NULL };
	struct fe_daemon	*d;
	const char		*ctl, *conf;
	char			*stop, *started;
	char			 out[8192], path[256], kc[512];
	const char		*broken;
	pid_t			 pid;
	int			 st, i;

	d = fe_daemon_new("control: reload");
	ck_assert_ptr_nonnull(d);
	conf = ct_conf(d, "vhostd.conf", NULL, old);
	ct_start(d, conf, old);
	ctl = fe_daemon_path(d, "control");
	stop = strdup(fe_daemon_path(d, "stop"));
	started = strdup(fe_daemon_path(d, "started"));

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		ct_stream(d, "kb", stop, started);
	for (i = 0; i < 600 && access(started, F_OK) == -1; i++)
		usleep(50000);
	ck_assert_msg(access(started, F_OK) == 0, "the stream did not start");

	/* kc changes (a module key), ka goes, kd comes, kb stays. */
	snprintf(kc, sizeof kc, "device \"kc\" {\n\tmodule rng\n"
	    "\tmax-bytes 65536\n\tsocket \"%s/kc.sock\"\n}\n",
	    fe_daemon_dir(d));
	ct_conf(d, "vhostd.conf", kc, new);
	CT_CTL(ctl, out, "reload", 0);
	ck_assert_msg(strstr(out, "1 added, 1 removed, 1 changed, 1 kept") !=
	    NULL, "%s", out);
	snprintf(path, sizeof path, "%s/ka.sock", fe_daemon_dir(d));
	ck_assert_int_eq(access(path, F_OK), -1);
	snprintf(path, sizeof path, "%s/kd.sock", fe_daemon_dir(d));
	ck_assert_int_eq(access(path, F_OK), 0);
	ck_assert_int_eq(fe_daemon_log_count(d, "kc: configuration changed"),
	    1);

	/* A broken config: refused whole, the log says where. */
	broken = "device \"ke\" {\n\tmodule rng\n}\nbogus\n";
	fe_daemon_write_file(d, "vhostd.conf", broken, strlen(broken));
	CT_CTL(ctl, out, "reload", 1);
	ck_assert_msg(strstr(out, "nothing changed") != NULL, "%s", out);
	ck_assert_int_eq(fe_daemon_wait_log(d, "vhostd.conf:4: unknown "
	    "keyword 'bogus'", 1, CT_START_MS), 0);
	CT_JSON(d, ctl, out, "list", "[x[\"name\"] for x in d[\"devices\"]]",
	    "['kb', 'kc', 'kd']\n");

	/* SIGHUP reloads too: back to the three old devices. */
	ct_conf(d, "vhostd.conf", NULL, old);
	ck_assert_int_eq(kill(fe_daemon_pid(d), SIGHUP), 0);
	ck_assert_int_eq(fe_daemon_wait_log(d, "ka: added", 1, CT_START_MS),
	    0);

	/* The stream ran through all of it on its one connection. */
	(void)fclose(fopen(stop, "w"));
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "the kept device's stream failed (status %d)", WEXITSTATUS(st));
	ck_assert_int_eq(fe_daemon_log_count(d, "kb: frontend connected"), 1);
	ck_assert_int_eq(fe_daemon_wait_log(d, "kb: queue 0 stopped", 1,
	    CT_START_MS), 0);
	/* One stop only: when the stream ended, not at the reloads. */
	ck_assert_int_eq(fe_daemon_log_count(d, "kb: queue 0 stopped"), 1);
	ck_assert_int_eq(fe_daemon_stop(d, CT_STOP_MS), 0);
	free(stop);
	free(started);
	fe_daemon_free(d);
}
END_TEST


/* The control suite. */
static Suite *
control_suite(void)
{
	Suite	*s = suite_create("control");
	TCase	*tc = tcase_create("vhostctl");
	TCase	*tr = tcase_create("reload");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_vhostctl_commands);
	tcase_add_test(tc, test_vhostctl_refuses_others);
	tcase_add_test(tc, test_vhostctl_module_counters);
	suite_add_tcase(s, tc);
	tcase_set_timeout(tr, 300);
	tcase_add_test(tr, test_reload_keeps_streams);
	suite_add_tcase(s, tr);
	return (s);
}

/* Run the suite. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() != 0) {
		fprintf(stderr, "fe_tmp_init: %s\n", fe_error());
		return (EXIT_FAILURE);
	}
	sr = srunner_create(control_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	(void)fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
