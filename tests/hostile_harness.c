/*
 * The hostile suites' harness: starting and stopping the daemon with its
 * two rng devices, the invariant checked after every abuse, and the small
 * helpers the suites share (see hostile_harness.h).
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/random.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"
#include "hostile_harness.h"

/* Sanitizer runtimes need more system calls; the filter allows them. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define H_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define H_SANITIZED 1
#endif
#endif
#ifndef H_SANITIZED
#define H_SANITIZED 0
#endif

/* Random numbers for payloads; seeded per test, so failures repeat. */
uint64_t	h_rng_state;

/* xorshift64*. */
uint64_t
h_rand(void)
{
	h_rng_state ^= h_rng_state >> 12;
	h_rng_state ^= h_rng_state << 25;
	h_rng_state ^= h_rng_state >> 27;
	return (h_rng_state * 2685821657736338717ULL);
}

/* Was this built with a sanitizer? */
int
h_sanitized(void)
{
	return (H_SANITIZED);
}

/* Does getrandom(2) work? */
int
h_getrandom_ok(void)
{
	uint8_t	 buf[16];

	return (getrandom(buf, sizeof buf, 0) == (ssize_t)sizeof buf);
}

/* Number of fds of process `pid`. */
int
h_nfds(pid_t pid)
{
	char		 path[64];
	DIR		*dir;
	struct dirent	*de;
	int		 n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	ck_assert_msg(dir != NULL, "%s: %s", path, strerror(errno));
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(dir);
	return (n);
}

/* A numeric field ("VmRSS:", "Seccomp:", ...) of /proc/PID/status, or
 * -1.  For Uid/Gid lines, the first (real) id. */
long
h_status(pid_t pid, const char *field)
{
	char	 path[64], line[256];
	FILE	*fp;
	long	 v = -1;
	size_t	 len = strlen(field);

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, fp) != NULL) {
		if (strncmp(line, field, len) == 0) {
			v = strtol(line + len, NULL, 10);
			break;
		}
	}
	fclose(fp);
	return (v);
}

/* utime + stime of a process, in clock ticks. */
long
h_cputime(pid_t pid)
{
	char	 path[64], buf[1024], *p;
	long	 ut, st;
	FILE	*fp;
	size_t	 n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* Fields after the ")" of the command name: state is field 3,
	 * utime 14 and stime 15. */
	p = strrchr(buf, ')');
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
	    "%*u %*u %ld %ld", &ut, &st), 2);
	return (ut + st);
}

/* Read a little entropy through `fe` (queue 0 running). */
void
h_read(struct fe *fe)
{
	struct fe_rng_stats	 st;
	uint8_t			 buf[2048];
	int			 r;

	r = fe_rng_read(fe, 0, buf, sizeof buf, 256, 8, 1, 0, &st);
	ck_assert_msg(r == 0, "rng read: %s", fe_error());
	ck_assert_uint_eq(st.bytes, sizeof buf);
}

/* A started frontend on `sock`. */
struct fe *
h_fe(const char *sock)
{
	struct fe	*fe;
	int		 r;

	fe = fe_new(sock, NULL, 0);
	ck_assert_msg(fe != NULL, "fe_new: %s", fe_error());
	r = fe_start(fe, H_QSIZE);
	ck_assert_msg(r == 0, "fe_start: %d %s", r, fe_error());
	return (fe);
}

/* A started packed frontend on `sock` with the features `want`, queue
 * size `num`. */
struct fe *
h_fe_packed(const char *sock, uint64_t want, unsigned num)
{
	struct fe	*fe;
	int		 r;

	fe = fe_new(sock, NULL, 0);
	ck_assert_msg(fe != NULL, "fe_new: %s", fe_error());
	fe->packed = 1;
	r = fe_negotiate(fe, want, FE_WANT_PROTOCOL);
	ck_assert_msg(r == 0, "negotiate: %d %s", r, fe_error());
	ck_assert(fe->acked & FE_BIT(FE_F_RING_PACKED));
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	r = fe_queue_setup(fe, 0, num);
	ck_assert_msg(r == 0, "queue setup: %d %s", r, fe_error());
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	ck_assert(fe_queue(fe, 0)->packed);
	return (fe);
}

/* A started frontend on `sock` of the kind `h` uses (split or packed). */
static struct fe *
h_fe_dev(struct h *h, const char *sock)
{
	if (h->packed)
		return (h_fe_packed(sock, FE_WANT_FEATURES, H_QSIZE));
	return (h_fe(sock));
}

/* Start the daemon with `extra` arguments and the rng1 frontend, a
 * packed one if `packed`. */
static void
h_start_common(struct h *h, const char *name, const char *const *extra,
    int packed)
{
	const char	*args[16], *socks[3];
	char		 sockarg[700];
	unsigned	 n = 0, i;

	memset(h, 0, sizeof *h);
	h->packed = packed;
	h->d = fe_daemon_new(name);
	ck_assert_msg(h->d != NULL, "fe_daemon_new: %s", fe_error());
	snprintf(h->sock[0], sizeof h->sock[0], "%s0",
	    fe_daemon_path(h->d, "rng.sock"));
	snprintf(h->sock[1], sizeof h->sock[1], "%s1",
	    fe_daemon_path(h->d, "rng.sock"));
	snprintf(sockarg, sizeof sockarg, "--socket=%s",
	    fe_daemon_path(h->d, "rng.sock"));
	args[n++] = "--module=rng";
	args[n++] = sockarg;
	args[n++] = "--socket-count=2";
	for (i = 0; extra != NULL && extra[i] != NULL && n < 15; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	socks[0] = h->sock[0];
	socks[1] = h->sock[1];
	socks[2] = NULL;
	ck_assert_msg(fe_daemon_start(h->d, args, socks, H_START_MS) == 0,
	    "start: %s", fe_error());
	ck_assert_int_eq(fe_daemon_wait_log(h->d, "listening on", 2,
	    H_START_MS), 0);
	h->peer = h_fe_dev(h, h->sock[1]);
	h_read(h->peer);
	h->nfds = h_nfds(fe_daemon_pid(h->d));
	h_rng_state = 0x9e3779b97f4a7c15ULL;
}

/* Start the daemon with `extra` arguments and the rng1 frontend. */
void
h_start_args(struct h *h, const char *name, const char *const *extra)
{
	h_start_common(h, name, extra, 0);
}

/* Start the daemon with default arguments. */
void
h_start(struct h *h, const char *name)
{
	h_start_common(h, name, NULL, 0);
}

/* Start the daemon; the rng1 frontend and those of h_check() use packed
 * rings. */
void
h_start_packed(struct h *h, const char *name)
{
	h_start_common(h, name, NULL, 1);
}

/* Free a frontend of rng0 and wait until the daemon has seen it go. */
void
h_close(struct h *h, struct fe *fe)
{
	fe_free(fe);
	h->disconnects++;
	ck_assert_msg(fe_daemon_wait_log(h->d, "rng0: frontend disconnected",
	    h->disconnects, H_WAIT_MS) == 0, "rng0 disconnect not seen");
}

/*
 * The invariant after every abuse of rng0 (its frontend already gone):
 * the daemon lives, rng1 still serves its existing frontend, rng0 serves
 * a new one, and the daemon's fd count is back where it was.
 */
void
h_check(struct h *h, const char *what)
{
	struct fe	*fe;
	pid_t		 pid = fe_daemon_pid(h->d);
	int		 i, n = -1;

	ck_assert_msg(fe_daemon_alive(h->d), "%s: vhostd died", what);
	h_read(h->peer);
	fe = h_fe_dev(h, h->sock[0]);
	h_read(fe);
	h_close(h, fe);
	/* Give the main loop a moment to close what it closes late. */
	for (i = 0; i < 100; i++) {
		if ((n = h_nfds(pid)) == h->nfds)
			break;
		usleep(20000);
	}
	ck_assert_msg(n == h->nfds, "%s: vhostd holds %d fds, %d before",
	    what, n, h->nfds);
}

/* Stop: exit status 0, no sanitizer report. */
void
h_stop(struct h *h)
{
	int	 status;

	fe_free(h->peer);
	h->peer = NULL;
	ck_assert_msg(fe_daemon_alive(h->d), "vhostd died");
	status = fe_daemon_stop(h->d, H_STOP_MS);
	ck_assert_int_eq(fe_daemon_log_count(h->d, "Sanitizer"), 0);
	ck_assert_int_eq(fe_daemon_log_count(h->d, "runtime error:"), 0);
	ck_assert_msg(status == 0, "vhostd exit status %d", status);
	fe_daemon_free(h->d);
	h->d = NULL;
}

/* A negotiated frontend on rng0 (REPLY_ACK on), nothing else sent. */
struct fe *
h_fe_negotiated(struct h *h)
{
	return (h_fe_on(h->sock[0]));
}

/* Is the connection still in sync?  GET_FEATURES must be answered,
 * skipping replies still queued for earlier requests. */
void
h_sync(struct fe *fe, const char *what)
{
	struct fe_msg	 m;
	int		 i, r;

	ck_assert_msg(fe_sock_send(fe->fd, VHOST_USER_GET_FEATURES,
	    VHOST_USER_VERSION, 0, NULL, 0, NULL, 0) == 0, "%s: send: %s",
	    what, fe_error());
	for (i = 0; i < 64; i++) {
		r = fe_sock_recv(fe->fd, &m, 5000);
		ck_assert_msg(r == 1, "%s: connection lost (%s)", what,
		    fe_error());
		fe_msg_close_fds(&m);
		if (m.hdr.request == VHOST_USER_GET_FEATURES &&
		    m.hdr.size == 8)
			return;
	}
	ck_abort_msg("%s: no GET_FEATURES reply", what);
}

/* Send a request expecting it to be refused: an error reply or ack. */
void
h_refused(struct fe *fe, uint32_t req, const void *payload, uint32_t size,
    const int *fds, int nfds, uint32_t want_size, const char *what)
{
	int	 r;

	r = fe_request(fe, req, payload, size, fds, nfds, NULL, want_size);
	ck_assert_msg(r == 1, "%s: %s: expected a refusal, got %d (%s)",
	    what, fe_request_name(req), r, fe_error());
}

/* A memfd of `size` bytes. */
int
h_memfd(off_t size)
{
	int	 fd;

	fd = memfd_create("check_hostile", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, size), 0);
	return (fd);
}

/* Copy the built module `from` (a path) to "dir/mods/<name>.so". */
void
h_copy_module(struct fe_daemon *d, const char *from, const char *name)
{
	char	 rel[64];

	snprintf(rel, sizeof rel, "mods/%s.so", name);
	ck_assert_msg(fe_daemon_copy_file(d, from, rel) != NULL, "%s",
	    fe_error());
}

/* A frontend of device `sock`, negotiated (REPLY_ACK on). */
struct fe *
h_fe_on(const char *sock)
{
	struct fe	*fe;

	fe = fe_new(sock, NULL, 0);
	ck_assert_msg(fe != NULL, "fe_new: %s", fe_error());
	ck_assert_msg(fe_negotiate(fe, FE_WANT_FEATURES, FE_WANT_PROTOCOL) ==
	    0, "negotiate: %s", fe_error());
	ck_assert(fe->reply_ack);
	return (fe);
}

/* Print the logs of daemons whose tests failed.  Runs in the runner. */
void
h_reap(void)
{
	fe_tmp_reap();
}

/* A new test case `name` of `s` with a `timeout` in seconds and the
 * daemon logs of failed tests printed (h_reap). */
TCase *
h_tcase(Suite *s, const char *name, int timeout)
{
	TCase	*tc;

	tc = tcase_create(name);
	tcase_add_unchecked_fixture(tc, NULL, h_reap);
	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
	return (tc);
}

/* Run the suite `s` of the program `prog`; the exit status for main. */
int
h_main(const char *prog, Suite *s)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1) {
		fprintf(stderr, "%s: %s\n", prog, fe_error());
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
