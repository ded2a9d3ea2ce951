/*
 * Suite "hostile_faults": faults against the daemon of hostile_harness.h
 * (rng0 abused, rng1 kept busy, the invariant checked after every case):
 * a frontend SIGKILLed mid-traffic, one that never reads its replies,
 * EMFILE on accept, 1,000 connect cycles, a failing module, hostile ring
 * fds and stuck workers.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "fe/fe.h"
#include "hostile_harness.h"

/* ------------------------------------------------------------------ */
/* Faults.                                                             */

/* A child process as the frontend: start, read entropy until killed. */
static void
h_child_frontend(const char *sock)
{
	struct fe_rng_stats	 st;
	struct fe		*fe;
	uint8_t			 buf[4096];

	if ((fe = fe_new(sock, NULL, 0)) == NULL || fe_start(fe, H_QSIZE) != 0)
		_exit(2);
	for (;;) {
		if (fe_rng_read(fe, 0, buf, sizeof buf, 128, 16, 2, 1,
		    &st) != 0)
			_exit(3);
	}
}

/* The frontend SIGKILLed mid-traffic, at several points. */
START_TEST(test_frontend_killed)
{
	static const int delays_ms[] = { 0, 5, 30, 100 };
	struct h	 h;
	pid_t		 child;
	unsigned	 i;
	int		 status;

	h_start(&h, "hostile: frontend killed");
	for (i = 0; i < nitems(delays_ms); i++) {
		child = fork();
		ck_assert_int_ge(child, 0);
		if (child == 0)
			h_child_frontend(h.sock[0]);
		ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: queue 0 "
		    "started", (int)i + 1, H_WAIT_MS), 0);
		usleep((useconds_t)delays_ms[i] * 1000);
		kill(child, SIGKILL);
		ck_assert_int_eq(waitpid(child, &status, 0), child);
		ck_assert_msg(WIFSIGNALED(status), "child exited %d",
		    WEXITSTATUS(status));
		h.disconnects++;
		ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: frontend "
		    "disconnected", h.disconnects, H_WAIT_MS), 0);
		h_check(&h, "frontend killed");
	}
	h_stop(&h);
}
END_TEST

/* A frontend that never reads its replies: the daemon never blocks (rng1
 * keeps being served meanwhile) and drops that connection. */
START_TEST(test_never_reads)
{
	struct vhost_user_header hdr;
	struct h	 h;
	struct pollfd	 pfd;
	uint8_t		 burst[12 * 256];
	unsigned	 i, sent = 0;
	int		 fd, dropped = 0;
	int64_t		 end;

	h_start(&h, "hostile: never reads");
	fd = fe_sock_connect(h.sock[0], 5000);
	ck_assert_int_ge(fd, 0);
	hdr.request = VHOST_USER_GET_FEATURES;
	hdr.flags = VHOST_USER_VERSION;
	hdr.size = 0;
	for (i = 0; i < 256; i++)
		memcpy(burst + 12 * i, &hdr, sizeof hdr);
	end = fe_now_ms() + 20000;
	while (!dropped && fe_now_ms() < end) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 100) == 1 && (pfd.revents & POLLOUT) &&
		    send(fd, burst, sizeof burst, MSG_NOSIGNAL |
		    MSG_DONTWAIT) > 0)
			sent++;
		if (pfd.revents & (POLLHUP | POLLERR))
			dropped = 1;
		if (sent % 8 == 0)
			h_read(h.peer);
		if (fe_daemon_log_count(h.d, "rng0: frontend disconnected") >
		    0)
			dropped = 1;
	}
	ck_assert_msg(dropped, "the connection was never dropped");
	ck_assert_int_ge(fe_daemon_log_count(h.d, "rng0: GET_FEATURES: "
	    "cannot send reply, dropping the connection") +
	    fe_daemon_log_count(h.d, "rng0: GET_FEATURES: short send"), 1);
	close(fd);
	h.disconnects++;
	ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: frontend "
	    "disconnected", h.disconnects, H_WAIT_MS), 0);
	h_check(&h, "never reads");
	h_stop(&h);
}
END_TEST

/* Out of fds on accept: the daemon backs off (one attempt per second, no
 * busy loop), keeps serving rng1, and serves rng0 again once fds are
 * available. */
START_TEST(test_emfile)
{
	struct rlimit	 old, low;
	struct h	 h;
	struct fe	*fe;
	pid_t		 pid;
	long		 cpu0, cpu1, hz = sysconf(_SC_CLK_TCK);
	int		 fds[8], i, n;

	h_start(&h, "hostile: EMFILE");
	pid = fe_daemon_pid(h.d);
	ck_assert_int_eq(prlimit(pid, RLIMIT_NOFILE, NULL, &old), 0);
	/* No fd left: the highest open fd + 1 (fds are allocated lowest
	 * first, and there are no holes after startup). */
	n = h_nfds(pid);
	low = old;
	low.rlim_cur = (rlim_t)n;
	ck_assert_int_eq(prlimit(pid, RLIMIT_NOFILE, &low, NULL), 0);
	for (i = 0; i < 8; i++) {
		fds[i] = fe_sock_connect(h.sock[0], 2000);
		ck_assert_int_ge(fds[i], 0);
	}
	ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: accept (pausing for "
	    "1 s)", 1, H_WAIT_MS), 0);
	cpu0 = h_cputime(pid);
	usleep(2500000);
	cpu1 = h_cputime(pid);
	ck_assert_msg(cpu1 - cpu0 < hz / 5, "vhostd used %ld ticks in 2.5 s "
	    "while out of fds", cpu1 - cpu0);
	/* At most one attempt per second. */
	ck_assert_int_le(fe_daemon_log_count(h.d, "rng0: accept (pausing"), 5);
	h_read(h.peer);

	ck_assert_int_eq(prlimit(pid, RLIMIT_NOFILE, &old, NULL), 0);
	for (i = 0; i < 8; i++)
		close(fds[i]);
	/* The queued connections are accepted and dropped (the first one
	 * connects, the others are refused or see EOF). */
	fe = NULL;
	for (i = 0; i < 50 && fe == NULL; i++) {
		fe = fe_new(h.sock[0], NULL, 0);
		if (fe != NULL && fe_start(fe, H_QSIZE) != 0) {
			fe_free(fe);
			fe = NULL;
			usleep(100000);
		}
	}
	ck_assert_msg(fe != NULL, "rng0 does not serve after EMFILE");
	h_read(fe);
	fe_free(fe);
	ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: frontend "
	    "disconnected", 1, H_WAIT_MS), 0);
	h.disconnects = fe_daemon_log_count(h.d, "rng0: frontend "
	    "disconnected");
	h_check(&h, "EMFILE");
	h_stop(&h);
}
END_TEST

/* 1,000 connect/disconnect cycles (negotiation and a memory table each,
 * a running queue every tenth): fd count unchanged, RSS bounded. */
START_TEST(test_connect_cycles)
{
	struct h	 h;
	struct fe	*fe;
	pid_t		 pid;
	long		 rss0 = 0, rss1;
	int		 i, n, r;

	h_start(&h, "hostile: connect cycles");
	pid = fe_daemon_pid(h.d);
	for (i = 0; i < 1050; i++) {
		if (i == 50) {
			ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: "
			    "frontend disconnected", 50, H_WAIT_MS), 0);
			rss0 = h_status(pid, "VmRSS:");
			n = h_nfds(pid);
			ck_assert_int_eq(n, h.nfds);
		}
		fe = fe_new(h.sock[0], NULL, 0);
		ck_assert_msg(fe != NULL, "cycle %d: %s", i, fe_error());
		if (i % 10 == 0) {
			r = fe_start(fe, H_QSIZE);
			ck_assert_msg(r == 0, "cycle %d: %s", i, fe_error());
			h_read(fe);
		} else if (i % 10 != 5) {
			ck_assert_int_eq(fe_negotiate(fe, FE_WANT_FEATURES,
			    FE_WANT_PROTOCOL), 0);
			ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
		}
		/* Cycle 5 of every ten: connect and close at once. */
		fe_free(fe);
		/* Never more than one connection: the next connect would
		 * be refused while this one is still being torn down. */
		ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: frontend "
		    "disconnected", i + 1, H_WAIT_MS), 0);
	}
	h.disconnects = 1050;
	rss1 = h_status(pid, "VmRSS:");
	ck_assert_int_eq(h_nfds(pid), h.nfds);
	/* ASan keeps freed memory in quarantine (LeakSanitizer checks for
	 * leaks at exit instead). */
	ck_assert_msg(rss1 - rss0 < (h_sanitized() ? 65536 : 4096), "RSS grew "
	    "from %ld to %ld kB over 1000 cycles", rss0, rss1);
	h_check(&h, "connect cycles");
	h_stop(&h);
}
END_TEST


/*
 * A module callback fails: get_config and set_config return -1 (the
 * frontend gets an error reply and the connection stays in sync), a
 * queue handler calls api->dev_fail (the frontend's err eventfd fires,
 * the reason is logged).  The rng device of the same daemon serves on,
 * no fd is left behind, the daemon exits 0.
 */
START_TEST(test_module_fails)
{
	static const char *const fails[] = { "get_config", "set_config",
	    "queue" };
	struct fe_daemon	*d;
	struct fe		*peer, *fe[3];
	struct fe_buf		 b;
	char			 text[2048], carg[700], sock[3][600];
	const char		*args[3], *socks[5], *conf;
	uint8_t			 cfg[8];
	uint32_t		 got;
	size_t			 off;
	int			 i, n = -1, nfds, r, status;

	d = fe_daemon_new("hostile: module fails");
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(mkdir(fe_daemon_path(d, "mods"), 0755), 0);
	h_copy_module(d, TEST_BUILD_DIR "/tests/modules/.libs/good.so",
	    "good");
	h_copy_module(d, TEST_BUILD_DIR "/modules/.libs/rng.so", "rng");
	off = (size_t)snprintf(text, sizeof text, "module-dir \"%s\"\n"
	    "device rng0 {\n    module rng\n    socket \"%s\"\n}\n",
	    fe_daemon_path(d, "mods"), fe_daemon_path(d, "rng.sock"));
	for (i = 0; i < 3; i++) {
		snprintf(sock[i], sizeof sock[i], "%s%d",
		    fe_daemon_path(d, "good.sock"), i);
		off += (size_t)snprintf(text + off, sizeof text - off,
		    "device good%d {\n    module good\n    socket \"%s\"\n"
		    "    fail %s\n}\n", i, sock[i], fails[i]);
		ck_assert_uint_lt(off, sizeof text);
		socks[i + 1] = sock[i];
	}
	conf = fe_daemon_write_file(d, "vhostd.conf", text, strlen(text));
	ck_assert_ptr_nonnull(conf);
	snprintf(carg, sizeof carg, "--config=%s", conf);
	args[0] = carg;
	args[1] = NULL;
	socks[0] = fe_daemon_path(d, "rng.sock");
	socks[4] = NULL;
	ck_assert_msg(fe_daemon_start(d, args, socks, H_START_MS) == 0,
	    "start: %s", fe_error());
	ck_assert_int_eq(fe_daemon_wait_log(d, "listening on", 4,
	    H_START_MS), 0);
	peer = h_fe(socks[0]);
	h_read(peer);
	nfds = h_nfds(fe_daemon_pid(d));

	/* get_config fails: an error reply, the connection goes on; the
	 * other device's get_config works. */
	fe[0] = h_fe_on(sock[0]);
	got = 1;
	r = fe_get_config(fe[0], 0, sizeof cfg, cfg, &got);
	ck_assert_msg(r != -1, "get_config: %s", fe_error());
	ck_assert_uint_eq(got, 0);
	h_sync(fe[0], "get_config failed");
	ck_assert_int_eq(fe_daemon_wait_log(d, "device refused to read", 1,
	    H_WAIT_MS), 0);

	/* set_config fails: a non-zero REPLY_ACK; its get_config works. */
	fe[1] = h_fe_on(sock[1]);
	memset(cfg, 0x5a, sizeof cfg);
	r = fe_set_config(fe[1], 0, cfg, sizeof cfg);
	ck_assert_msg(r == 1, "set_config: %d %s", r, fe_error());
	h_sync(fe[1], "set_config failed");
	ck_assert_int_eq(fe_daemon_wait_log(d, "device refused to write", 1,
	    H_WAIT_MS), 0);
	r = fe_get_config(fe[1], 0, sizeof cfg, cfg, &got);
	ck_assert_msg(r == 0, "get_config: %s", fe_error());
	ck_assert_uint_eq(got, sizeof cfg);
	ck_assert_uint_eq(cfg[0], 0);

	/* The queue handler fails the device: the err eventfd fires. */
	fe[2] = h_fe(sock[2]);
	b.gpa = fe_alloc(fe[2], 64, 8);
	ck_assert_uint_ne(b.gpa, 0);
	b.len = 64;
	b.write = 1;
	ck_assert_int_ge(fe_post(fe[2], 0, &b, 1, 0), 0);
	ck_assert_int_eq(fe_wait_err(fe[2], 0, H_WAIT_MS), 1);
	ck_assert_int_eq(fe_daemon_wait_log(d, "good2: device broken: good: "
	    "failing on purpose", 1, H_WAIT_MS), 0);

	/* Everything else goes on. */
	ck_assert(fe_daemon_alive(d));
	h_read(peer);
	h_sync(fe[0], "after the failed device");
	for (i = 0; i < 3; i++)
		fe_free(fe[i]);
	ck_assert_int_eq(fe_daemon_wait_log(d, "frontend disconnected", 3,
	    H_WAIT_MS), 0);
	h_read(peer);
	for (i = 0; i < 100; i++) {
		if ((n = h_nfds(fe_daemon_pid(d))) == nfds)
			break;
		usleep(20000);
	}
	ck_assert_msg(n == nfds, "vhostd holds %d fds, %d before", n, nfds);
	fe_free(peer);
	status = fe_daemon_stop(d, H_STOP_MS);
	ck_assert_int_eq(fe_daemon_log_count(d, "Sanitizer"), 0);
	ck_assert_int_eq(fe_daemon_log_count(d, "runtime error:"), 0);
	ck_assert_msg(status == 0, "vhostd exit status %d", status);
	fe_daemon_free(d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Ring fds and stuck workers.                                         */

/* Post `n` 64-byte requests on rng0's queue 0 and wait for them by
 * polling the used ring (the call fd the daemon has may not be ours). */
static void
h_poll_requests(struct fe *fe, unsigned n, const char *what)
{
	struct fe_buf	 b;
	uint32_t	 id, len;
	unsigned	 i, got = 0;
	int64_t		 deadline = fe_now_ms() + 10000;
	int		 r;

	b.gpa = fe_alloc(fe, 64, 8);
	ck_assert_uint_ne(b.gpa, 0);
	b.len = 64;
	b.write = 1;
	for (i = 0; i < n; i++)
		ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	while (got < n) {
		r = fe_get_used(fe, 0, &id, &len);
		ck_assert_msg(r >= 0, "%s: bad used entry", what);
		if (r == 1) {
			got++;
			continue;
		}
		ck_assert_msg(fe_now_ms() < deadline, "%s: %u of %u requests "
		    "completed", what, got, n);
		usleep(1000);
	}
}

/* An eventfd without EFD_NONBLOCK at its largest count: a blocking write
 * to it would never return. */
static int
h_full_eventfd(void)
{
	int	 fd = eventfd(0, EFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(eventfd_write(fd, 0xfffffffffffffffeULL), 0);
	return (fd);
}

/* A pipe whose write end is full; returns the write end (*rd the read). */
static int
h_full_pipe(int *rd)
{
	char	 buf[4096];
	int	 p[2];

	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	memset(buf, 0, sizeof buf);
	while (write(p[1], buf, sizeof buf) > 0)
		;
	*rd = p[0];
	return (p[1]);
}

/*
 * No fd a frontend hands over for a ring can block the daemon.  Call, kick
 * and err fds that are not eventfds (a full pipe, a memfd, a socket) are
 * refused.  A blocking eventfd already at its largest count is accepted
 * and made non-blocking: as call fd, requests still complete (the daemon
 * sees EAGAIN, a notification already pending); as err fd, breaking the
 * device does not block.  Swaps on the running queue (call, kick, err, no
 * kick then a kick again) keep it serving.
 */
START_TEST(test_ring_fds)
{
	struct h	 h;
	struct fe	*fe;
	struct fe_buf	 b;
	int		 pw, pr, mfd, sv[2], efd, i;

	h_start(&h, "hostile: ring fds");
	fe = h_fe(h.sock[0]);
	h_read(fe);

	pw = h_full_pipe(&pr);
	mfd = h_memfd(4096);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	h_refused(fe, VHOST_USER_SET_VRING_CALL, (uint64_t[]){ 0 }, 8, &pw, 1,
	    ~0u, "full pipe as call fd");
	h_refused(fe, VHOST_USER_SET_VRING_ERR, (uint64_t[]){ 0 }, 8, &pw, 1,
	    ~0u, "full pipe as err fd");
	h_refused(fe, VHOST_USER_SET_VRING_KICK, (uint64_t[]){ 0 }, 8, &pr, 1,
	    ~0u, "pipe as kick fd");
	h_refused(fe, VHOST_USER_SET_VRING_CALL, (uint64_t[]){ 0 }, 8, &mfd, 1,
	    ~0u, "memfd as call fd");
	h_refused(fe, VHOST_USER_SET_VRING_CALL, (uint64_t[]){ 0 }, 8, &sv[0],
	    1, ~0u, "socket as call fd");
	ck_assert_int_ge(fe_daemon_log_count(h.d, "call fd is not an "
	    "eventfd"), 3);
	close(pw);
	close(pr);
	close(mfd);
	close(sv[0]);
	close(sv[1]);
	/* The refusals left the running queue alone. */
	h_read(fe);

	/* Swaps on the running queue. */
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(fe_swap_fd(fe, 0, VHOST_USER_SET_VRING_CALL),
		    0);
		if (i % 5 == 0)
			ck_assert_int_eq(fe_swap_fd(fe, 0,
			    VHOST_USER_SET_VRING_KICK), 0);
		efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ck_assert_int_eq(fe_vring_fd(fe, VHOST_USER_SET_VRING_ERR, 0,
		    efd), 0);
		close(efd);
		h_read(fe);
	}
	/* No kick fd stops the queue; a new one starts it again. */
	ck_assert_int_eq(fe_vring_fd(fe, VHOST_USER_SET_VRING_KICK, 0, -1),
	    0);
	close(fe_queue(fe, 0)->kick_fd);
	fe_queue(fe, 0)->kick_fd = -1;
	ck_assert_int_eq(fe_swap_fd(fe, 0, VHOST_USER_SET_VRING_KICK), 0);
	h_read(fe);

	/* A blocking call fd at its largest count. */
	efd = h_full_eventfd();
	ck_assert_int_eq(fe_vring_fd(fe, VHOST_USER_SET_VRING_CALL, 0, efd),
	    0);
	h_poll_requests(fe, 8, "full call fd");
	close(efd);
	/* The same as err fd, then the device breaks (a buffer in the gap
	 * between regions): device_fail's write must not block. */
	efd = h_full_eventfd();
	ck_assert_int_eq(fe_vring_fd(fe, VHOST_USER_SET_VRING_ERR, 0, efd),
	    0);
	b.gpa = 0x800000;
	b.len = 64;
	b.write = 1;
	ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: device broken", 1,
	    H_WAIT_MS), 0);
	h_sync(fe, "after the full err fd");
	ck_assert_int_eq(fe_daemon_log_count(h.d, "err fd: "), 0);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "call fd:"), 0);
	close(efd);
	h_close(&h, fe);
	h_check(&h, "ring fds");
	h_stop(&h);
}
END_TEST

/*
 * A worker that does not answer (a module's queue handler blocks for a
 * minute) does not block the daemon: the main thread gives up after the
 * bound, logs it and fails that device; the rng device of the same
 * daemon serves throughout; SIGTERM exits 0 without joining the stuck
 * thread.
 */
START_TEST(test_worker_stuck)
{
	struct fe_daemon	*d;
	struct fe		*peer, *fe;
	struct fe_buf		 b;
	char			 text[2048], carg[700], gsock[600];
	const char		*args[2], *socks[3], *conf;
	int64_t			 t0;
	uint32_t		 base;
	int			 r, status;

	d = fe_daemon_new("hostile: worker stuck");
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(mkdir(fe_daemon_path(d, "mods"), 0755), 0);
	h_copy_module(d, TEST_BUILD_DIR "/tests/modules/.libs/good.so",
	    "good");
	h_copy_module(d, TEST_BUILD_DIR "/modules/.libs/rng.so", "rng");
	snprintf(gsock, sizeof gsock, "%s", fe_daemon_path(d, "good.sock"));
	snprintf(text, sizeof text, "module-dir \"%s\"\n"
	    "device rng0 {\n    module rng\n    socket \"%s\"\n}\n"
	    "device good0 {\n    module good\n    socket \"%s\"\n"
	    "    fail block\n}\n", fe_daemon_path(d, "mods"),
	    fe_daemon_path(d, "rng.sock"), gsock);
	conf = fe_daemon_write_file(d, "vhostd.conf", text, strlen(text));
	ck_assert_ptr_nonnull(conf);
	snprintf(carg, sizeof carg, "--config=%s", conf);
	args[0] = carg;
	args[1] = NULL;
	socks[0] = fe_daemon_path(d, "rng.sock");
	socks[1] = gsock;
	socks[2] = NULL;
	ck_assert_msg(fe_daemon_start(d, args, socks, H_START_MS) == 0,
	    "start: %s", fe_error());
	ck_assert_int_eq(fe_daemon_wait_log(d, "listening on", 2,
	    H_START_MS), 0);
	peer = h_fe(socks[0]);
	h_read(peer);

	/* The handler blocks on the first request. */
	fe = h_fe(gsock);
	fe->timeout_ms = 15000;
	b.gpa = fe_alloc(fe, 64, 8);
	ck_assert_uint_ne(b.gpa, 0);
	b.len = 64;
	b.write = 1;
	ck_assert_int_ge(fe_post(fe, 0, &b, 1, 0), 0);
	usleep(200000);
	/* QEMU's stop: the disable waits for the worker, at most 5 s, then
	 * fails; GET_VRING_BASE of that queue is refused at once. */
	t0 = fe_now_ms();
	r = fe_vring_enable(fe, 0, 0);
	ck_assert_msg(r == 1, "disable: %d %s", r, fe_error());
	ck_assert_int_lt(fe_now_ms() - t0, 12000);
	ck_assert_int_ge(fe_daemon_log_count(d, "worker good0/w0 did not "
	    "answer in 5 s"), 1);
	ck_assert_int_ge(fe_daemon_log_count(d, "good0: device broken"), 1);
	t0 = fe_now_ms();
	r = fe_get_vring_base(fe, 0, &base);
	ck_assert_msg(r == 1, "GET_VRING_BASE: %d %s", r, fe_error());
	ck_assert_int_lt(fe_now_ms() - t0, 2000);
	/* The other device and the main loop go on. */
	h_read(peer);
	h_sync(peer, "rng0 after the stuck worker");
	fe_free(fe);
	ck_assert_int_eq(fe_daemon_wait_log(d, "good0: frontend disconnected",
	    1, H_WAIT_MS), 0);
	h_read(peer);
	fe_free(peer);
	/* SIGTERM: exit 0 without waiting a minute for the thread. */
	t0 = fe_now_ms();
	status = fe_daemon_stop(d, H_STOP_MS);
	ck_assert_int_lt(fe_now_ms() - t0, 8000);
	ck_assert_int_eq(fe_daemon_log_count(d, "runtime error:"), 0);
	ck_assert_msg(status == 0, "vhostd exit status %d", status);
	fe_daemon_free(d);
}
END_TEST


/* Build the suite. */
static Suite *
hostile_faults_suite(void)
{
	Suite	*s = suite_create("hostile_faults");
	TCase	*tc;

	tc = h_tcase(s, "faults", 90);
	tcase_add_test(tc, test_frontend_killed);
	tcase_add_test(tc, test_never_reads);
	tcase_add_test(tc, test_emfile);
	tcase_add_test(tc, test_connect_cycles);
	tcase_add_test(tc, test_module_fails);
	tcase_add_test(tc, test_ring_fds);
	tcase_add_test(tc, test_worker_stuck);
	return (s);
}

int
main(void)
{
	return (h_main("check_hostile_faults", hostile_faults_suite()));
}
