/*
 * The integration suites' harness: starting and stopping a daemon with
 * one rng device, a started frontend on it, reading entropy, and the
 * runner's main (see integration_harness.h).
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"
#include "integration_harness.h"

/* Start vhostd --module=rng on "rng.sock" with `extra` arguments. */
void
it_start(struct it *it, const char *name, const char *const *extra)
{
	const char	*args[32];
	const char	*socks[2];
	char		 sockarg[700];
	unsigned	 n = 0, i;

	it->d = fe_daemon_new(name);
	ck_assert_msg(it->d != NULL, "fe_daemon_new: %s", fe_error());
	it->sock = fe_daemon_path(it->d, "rng.sock");
	snprintf(sockarg, sizeof sockarg, "--socket=%s", it->sock);
	args[n++] = "--module=rng";
	args[n++] = sockarg;
	for (i = 0; extra != NULL && extra[i] != NULL && n < 30; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	socks[0] = it->sock;
	socks[1] = NULL;
	ck_assert_msg(fe_daemon_start(it->d, args, socks, IT_START_MS) == 0,
	    "start: %s", fe_error());
	ck_assert_int_eq(fe_daemon_wait_log(it->d, "listening on", 1,
	    IT_START_MS), 0);
}

/* Stop the daemon: it must exit 0 on SIGTERM and unlink its socket. */
void
it_stop(struct it *it)
{
	struct stat	st;
	int		status;

	ck_assert_msg(fe_daemon_alive(it->d), "vhostd died");
	status = fe_daemon_stop(it->d, IT_STOP_MS);
	ck_assert_int_eq(fe_daemon_log_count(it->d, "Sanitizer"), 0);
	ck_assert_int_eq(fe_daemon_log_count(it->d, "runtime error:"), 0);
	ck_assert_msg(status == 0, "vhostd exit status %d", status);
	ck_assert_msg(stat(it->sock, &st) == -1 && errno == ENOENT,
	    "socket %s not unlinked", it->sock);
	fe_daemon_free(it->d);
	it->d = NULL;
}

/* A connected, started frontend (rng queue 0 running). */
struct fe *
it_fe(const char *sock)
{
	struct fe	*fe;
	int		 r;

	fe = fe_new(sock, NULL, 0);
	ck_assert_msg(fe != NULL, "fe_new: %s", fe_error());
	r = fe_start(fe, IT_QSIZE);
	ck_assert_msg(r == 0, "fe_start: %d %s", r, fe_error());
	return (fe);
}

/* Read `len` bytes in `chunk` requests and check completions. */
void
it_read(struct fe *fe, void *out, size_t len, size_t chunk, unsigned segs,
    int indirect)
{
	struct fe_rng_stats	st;
	int			r;
	unsigned		depth = chunk >= (16u << 10) ? 4 : 64;

	r = fe_rng_read(fe, 0, out, len, chunk, depth, segs, indirect, &st);
	ck_assert_msg(r == 0, "rng read: %s (after %llu bytes)", fe_error(),
	    (unsigned long long)st.bytes);
	ck_assert_uint_eq(st.bytes, len);
	ck_assert_uint_eq(st.short_replies, 0);
	ck_assert_uint_eq(st.requests, (len + chunk - 1) / chunk);
}

/* Read a little entropy and check it is not all zero. */
void
it_read_some(struct fe *fe)
{
	uint8_t		buf[4096];
	unsigned	i, nz = 0;

	memset(buf, 0, sizeof buf);
	it_read(fe, buf, sizeof buf, 256, 1, 0);
	for (i = 0; i < sizeof buf; i++)
		nz += buf[i] != 0;
	ck_assert_uint_gt(nz, sizeof buf / 2);
}

/* Close the frontend and wait until vhostd logged `n` disconnects. */
void
it_close(struct it *it, struct fe *fe, int n)
{
	fe_free(fe);
	ck_assert_msg(fe_daemon_wait_log(it->d, "frontend disconnected", n,
	    5000) == 0, "%s", fe_error());
}

/* Print the logs of daemons whose tests failed.  Runs in the runner. */
void
it_reap(void)
{
	fe_tmp_reap();
}

/* Run suite `s` of program `name` in its own temp dir; the exit status. */
int
it_main(const char *name, Suite *s)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1) {
		fprintf(stderr, "%s: %s\n", name, fe_error());
		return (1);
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
