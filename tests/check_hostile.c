/*
 * Suite "hostile": a hostile frontend and a hostile guest against one
 * daemon serving two rng devices (rng0 and rng1, --socket-count=2).
 * Every case abuses rng0 while a well-behaved frontend keeps rng1 busy;
 * afterwards the daemon must be alive, rng1 must still serve on its
 * existing connection, rng0 must serve a fresh frontend, the daemon must
 * hold no more fds than before, and it must exit 0 on SIGTERM without a
 * sanitizer report.  Faults (a frontend SIGKILLed mid-traffic, one that
 * never reads its replies, EMFILE on accept, 1,000 connect cycles) and
 * least privilege (socket mode/owner/group, --user, the seccomp filter)
 * are here too.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "fe/fe.h"
#include "privsep.h"

/* How long to wait for the daemon to log or signal something: generous,
 * for a loaded CI machine (a pass comes as soon as it happens). */
#define H_WAIT_MS	20000

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

#define H_START_MS	10000
#define H_STOP_MS	10000
#define H_QSIZE		64
#define H_MAX_QSIZE	1024	/* the rng module's largest ring */

/* A daemon with two rng devices and a frontend keeping rng1 busy. */
struct h {
	struct fe_daemon	*d;
	char			 sock[2][600];
	struct fe		*peer;		/* on rng1 */
	int			 nfds;		/* daemon fds after setup */
	int			 disconnects;	/* rng0's, so far */
};

/* Random numbers for payloads; seeded per test, so failures repeat. */
static uint64_t	h_rng_state;

/* xorshift64*. */
static uint64_t
h_rand(void)
{
	h_rng_state ^= h_rng_state >> 12;
	h_rng_state ^= h_rng_state << 25;
	h_rng_state ^= h_rng_state >> 27;
	return (h_rng_state * 2685821657736338717ULL);
}

/* Was this built with a sanitizer? */
static int
h_sanitized(void)
{
	return (H_SANITIZED);
}

/* Does getrandom(2) work? */
static int
h_getrandom_ok(void)
{
	uint8_t	 buf[16];

	return (getrandom(buf, sizeof buf, 0) == (ssize_t)sizeof buf);
}

/* Number of fds of process `pid`. */
static int
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
static long
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
static long
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
static void
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
static struct fe *
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

/* Start the daemon with `extra` arguments and the rng1 frontend. */
static void
h_start_args(struct h *h, const char *name, const char *const *extra)
{
	const char	*args[16], *socks[3];
	char		 sockarg[700];
	unsigned	 n = 0, i;

	memset(h, 0, sizeof *h);
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
	h->peer = h_fe(h->sock[1]);
	h_read(h->peer);
	h->nfds = h_nfds(fe_daemon_pid(h->d));
	h_rng_state = 0x9e3779b97f4a7c15ULL;
}

/* Start the daemon with default arguments. */
static void
h_start(struct h *h, const char *name)
{
	h_start_args(h, name, NULL);
}

/* Free a frontend of rng0 and wait until the daemon has seen it go. */
static void
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
static void
h_check(struct h *h, const char *what)
{
	struct fe	*fe;
	pid_t		 pid = fe_daemon_pid(h->d);
	int		 i, n = -1;

	ck_assert_msg(fe_daemon_alive(h->d), "%s: vhostd died", what);
	h_read(h->peer);
	fe = h_fe(h->sock[0]);
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
static void
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
static struct fe *
h_fe_negotiated(struct h *h)
{
	struct fe	*fe;

	fe = fe_new(h->sock[0], NULL, 0);
	ck_assert_msg(fe != NULL, "fe_new: %s", fe_error());
	ck_assert_msg(fe_negotiate(fe, FE_WANT_FEATURES, FE_WANT_PROTOCOL) ==
	    0, "negotiate: %s", fe_error());
	ck_assert(fe->reply_ack);
	return (fe);
}

/* Is the connection still in sync?  GET_FEATURES must be answered,
 * skipping replies still queued for earlier requests. */
static void
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
static void
h_refused(struct fe *fe, uint32_t req, const void *payload, uint32_t size,
    const int *fds, int nfds, uint32_t want_size, const char *what)
{
	int	 r;

	r = fe_request(fe, req, payload, size, fds, nfds, NULL, want_size);
	ck_assert_msg(r == 1, "%s: %s: expected a refusal, got %d (%s)",
	    what, fe_request_name(req), r, fe_error());
}

/* A memfd of `size` bytes. */
static int
h_memfd(off_t size)
{
	int	 fd;

	fd = memfd_create("check_hostile", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, size), 0);
	return (fd);
}

/* ------------------------------------------------------------------ */
/* Requests.                                                           */

/* Every request number 0..255 with random payloads and flags, twice
 * over: the connection stays in sync (nothing but framing drops it). */
START_TEST(test_every_request)
{
	struct h	 h;
	struct fe	*fe;
	uint8_t		 payload[4096];
	uint32_t	 req, size, flags;
	unsigned	 round, i;
	char		 what[64];

	h_start(&h, "hostile: every request");
	for (round = 0; round < 2; round++) {
		fe = round == 0 ? h_fe_negotiated(&h) : h_fe(h.sock[0]);
		for (req = 0; req < 256; req++) {
			size = (uint32_t)(h_rand() % 5 == 0 ?
			    h_rand() % sizeof payload : h_rand() % 48);
			for (i = 0; i < size; i++)
				payload[i] = (uint8_t)h_rand();
			flags = VHOST_USER_VERSION |
			    (h_rand() & 1 ? VHOST_USER_NEED_REPLY_MASK : 0);
			ck_assert_int_eq(fe_sock_send(fe->fd, req, flags,
			    size, payload, size, NULL, 0), 0);
			snprintf(what, sizeof what, "request %u size %u",
			    req, size);
			h_sync(fe, what);
		}
		h_close(&h, fe);
		h_check(&h, "every request");
	}
	ck_assert_int_gt(fe_daemon_log_count(h.d, "rng0: unknown (200): "
	    "request not supported"), 0);
	h_stop(&h);
}
END_TEST

/* The size every known fixed-size request must have. */
static const struct {
	uint32_t	req;
	uint32_t	size;
	uint32_t	reply;		/* reply size, ~0u: REPLY_ACK */
} h_sizes[] = {
	{ VHOST_USER_GET_FEATURES, 0, 8 },
	{ VHOST_USER_SET_FEATURES, 8, ~0u },
	{ VHOST_USER_SET_OWNER, 0, ~0u },
	{ VHOST_USER_RESET_OWNER, 0, ~0u },
	{ VHOST_USER_SET_VRING_NUM, 8, ~0u },
	{ VHOST_USER_SET_VRING_ADDR, 40, ~0u },
	{ VHOST_USER_SET_VRING_BASE, 8, ~0u },
	{ VHOST_USER_GET_VRING_BASE, 8, 8 },
	{ VHOST_USER_SET_VRING_KICK, 8, ~0u },
	{ VHOST_USER_SET_VRING_CALL, 8, ~0u },
	{ VHOST_USER_SET_VRING_ERR, 8, ~0u },
	{ VHOST_USER_GET_PROTOCOL_FEATURES, 0, 8 },
	{ VHOST_USER_SET_PROTOCOL_FEATURES, 8, ~0u },
	{ VHOST_USER_GET_QUEUE_NUM, 0, 8 },
	{ VHOST_USER_SET_VRING_ENABLE, 8, ~0u },
	{ VHOST_USER_SET_BACKEND_REQ_FD, 0, ~0u },
	{ VHOST_USER_RESET_DEVICE, 0, ~0u },
	{ VHOST_USER_GET_MAX_MEM_SLOTS, 0, 8 },
	{ VHOST_USER_ADD_MEM_REG, 40, ~0u },
	{ VHOST_USER_REM_MEM_REG, 40, ~0u },
};

/* Wrong payload sizes for every known request: refused, logged with the
 * device and the reason, nothing else changes. */
START_TEST(test_wrong_sizes)
{
	static const uint32_t bad[] = { 0, 1, 4, 7, 9, 16, 39, 41, 300 };
	struct h	 h;
	struct fe	*fe;
	uint8_t		 payload[512];
	unsigned	 i, j, refusals = 0;
	char		 what[64];

	h_start(&h, "hostile: wrong sizes");
	fe = h_fe(h.sock[0]);
	memset(payload, 0, sizeof payload);
	for (i = 0; i < nitems(h_sizes); i++) {
		for (j = 0; j < nitems(bad); j++) {
			if (bad[j] == h_sizes[i].size)
				continue;
			snprintf(what, sizeof what, "size %u", bad[j]);
			h_refused(fe, h_sizes[i].req, payload, bad[j], NULL,
			    0, h_sizes[i].reply, what);
			refusals++;
		}
	}
	/* SET_MEM_TABLE and GET/SET_CONFIG have a minimum. */
	h_refused(fe, VHOST_USER_SET_MEM_TABLE, payload, 4, NULL, 0, ~0u,
	    "short mem table");
	h_refused(fe, VHOST_USER_GET_CONFIG, payload, 8, NULL, 0, 12,
	    "short config");
	h_refused(fe, VHOST_USER_SET_CONFIG, payload, 11, NULL, 0, ~0u,
	    "short config write");
	ck_assert_int_ge(fe_daemon_log_count(h.d, "rng0: SET_VRING_NUM: "
	    "payload is 4 bytes, expected 8"), 1);
	ck_assert_int_ge(fe_daemon_log_count(h.d, "rng0: "), refusals);
	/* The running queue was not disturbed. */
	h_read(fe);
	h_close(&h, fe);
	h_check(&h, "wrong sizes");
	h_stop(&h);
}
END_TEST

/* An fd attached to every request that takes none; fds missing where
 * required; a backend channel that is not a socket (found by
 * fuzz_vu_msg: it used to kill the daemon). */
START_TEST(test_fds)
{
	struct h	 h;
	struct fe	*fe;
	uint8_t		 payload[64];
	uint64_t	 v;
	unsigned	 i;
	int		 efd, mfd;
	pid_t		 pid;

	h_start(&h, "hostile: fds");
	pid = fe_daemon_pid(h.d);
	fe = h_fe_negotiated(&h);
	efd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(efd, 0);
	memset(payload, 0, sizeof payload);
	for (i = 0; i < nitems(h_sizes); i++) {
		switch (h_sizes[i].req) {
		case VHOST_USER_SET_VRING_KICK:
		case VHOST_USER_SET_VRING_CALL:
		case VHOST_USER_SET_VRING_ERR:
		case VHOST_USER_SET_BACKEND_REQ_FD:
		case VHOST_USER_ADD_MEM_REG:
		case VHOST_USER_REM_MEM_REG:
			continue;
		default:
			break;
		}
		h_refused(fe, h_sizes[i].req, payload, h_sizes[i].size, &efd,
		    1, h_sizes[i].reply, "unexpected fd");
	}
	/* Eight fds on SET_FEATURES. */
	{
		int	 fds[8] = { efd, efd, efd, efd, efd, efd, efd, efd };

		v = FE_BIT(FE_F_VERSION_1);
		h_refused(fe, VHOST_USER_SET_FEATURES, &v, 8, fds, 8, ~0u,
		    "eight fds");
	}

	/* Missing: a ring fd without the NOFD bit, a region without fd. */
	v = 0;
	h_refused(fe, VHOST_USER_SET_VRING_KICK, &v, 8, NULL, 0, ~0u,
	    "kick without fd");
	h_refused(fe, VHOST_USER_SET_VRING_CALL, &v, 8, NULL, 0, ~0u,
	    "call without fd");
	h_refused(fe, VHOST_USER_SET_VRING_ERR, &v, 8, NULL, 0, ~0u,
	    "err without fd");
	h_refused(fe, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, NULL, 0, ~0u,
	    "backend channel without fd");
	h_refused(fe, VHOST_USER_ADD_MEM_REG, payload, 40, NULL, 0, ~0u,
	    "region without fd");
	{
		struct vhost_user_memory	*m = (void *)payload;

		m->nregions = 1;
		m->padding = 0;
		m->regions[0].guest_phys_addr = 0;
		m->regions[0].memory_size = 4096;
		m->regions[0].userspace_addr = 0x10000;
		m->regions[0].mmap_offset = 0;
		h_refused(fe, VHOST_USER_SET_MEM_TABLE, payload, 8 + 32,
		    NULL, 0, ~0u, "mem table without fd");
	}
	/* A kick fd with the NOFD bit also set: one fd too many. */
	v = VHOST_USER_VRING_NOFD_MASK;
	h_refused(fe, VHOST_USER_SET_VRING_KICK, &v, 8, &efd, 1, ~0u,
	    "kick with NOFD and an fd");

	/* Backend channel fds that are not sockets (regression). */
	mfd = h_memfd(4096);
	h_refused(fe, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &mfd, 1, ~0u,
	    "memfd as the backend channel");
	h_refused(fe, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &efd, 1, ~0u,
	    "eventfd as the backend channel");
	ck_assert_int_ge(fe_daemon_log_count(h.d, "rng0: backend channel fd "
	    "is not a socket"), 2);
	close(mfd);
	close(efd);
	h_sync(fe, "after fds");
	/* Every refused fd was closed: only the connection is extra. */
	ck_assert_int_eq(h_nfds(pid), h.nfds + 1);
	h_close(&h, fe);
	h_check(&h, "fds");
	h_stop(&h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Memory.                                                             */

/* A SET_MEM_TABLE of `n` regions from `specs` with fd `fd` each. */
static int
h_mem_table(struct fe *fe, const struct vhost_user_mem_region *r,
    unsigned n, int fd)
{
	uint8_t		 buf[8 + 8 * sizeof(struct vhost_user_mem_region)];
	uint32_t	 hdr[2] = { n, 0 };
	int		 fds[8];
	unsigned	 i;

	memcpy(buf, hdr, sizeof hdr);
	memcpy(buf + 8, r, n * sizeof *r);
	for (i = 0; i < n; i++)
		fds[i] = fd;
	return (fe_request(fe, VHOST_USER_SET_MEM_TABLE, buf,
	    (uint32_t)(8 + n * sizeof *r), fds, (int)n, NULL, ~0u));
}

/* Regions overlapping (guest-physical and frontend addresses), zero-sized,
 * past the end of their file, with overflowing offsets; more than 509
 * with ADD_MEM_REG. */
START_TEST(test_regions)
{
	static const struct {
		const char			*what;
		unsigned			 n;
		struct vhost_user_mem_region	 r[2];
	} bad[] = {
		{ "gpa overlap", 2, { { 0, 0x10000, 0x100000, 0 },
		    { 0x8000, 0x10000, 0x200000, 0 } } },
		{ "uva overlap", 2, { { 0, 0x10000, 0x100000, 0 },
		    { 0x40000, 0x10000, 0x108000, 0 } } },
		{ "zero size", 1, { { 0, 0, 0x100000, 0 } } },
		{ "past the end of the file", 1,
		    { { 0, 0x20000, 0x100000, 0 } } },
		{ "offset past the end", 1,
		    { { 0, 0x1000, 0x100000, 0x10000 } } },
		{ "offset overflow", 1,
		    { { 0, 0x2000, 0x100000, 0xfffffffffffff000ULL } } },
		{ "gpa overflow", 1,
		    { { 0xfffffffffffff000ULL, 0x2000, 0x100000, 0 } } },
	};
	struct vhost_user_mem_reg_msg	 rm;
	struct h	 h;
	struct fe	*fe;
	unsigned	 i;
	int		 fd, r;

	h_start(&h, "hostile: regions");
	fe = h_fe_negotiated(&h);
	fd = h_memfd(0x10000);
	for (i = 0; i < nitems(bad); i++) {
		r = h_mem_table(fe, bad[i].r, bad[i].n, fd);
		ck_assert_msg(r == 1, "%s: not refused (%d)", bad[i].what, r);
	}
	ck_assert_int_ge(fe_daemon_log_count(h.d, "rng0: SET_MEM_TABLE: "),
	    (int)nitems(bad));
	h_sync(fe, "bad tables");

	/* 509 regions of 4 KiB with ADD_MEM_REG, then one more. */
	memset(&rm, 0, sizeof rm);
	for (i = 0; i < 510; i++) {
		rm.region.guest_phys_addr = (uint64_t)i * 0x1000;
		rm.region.memory_size = 0x1000;
		rm.region.userspace_addr = 0x10000000 + (uint64_t)i * 0x1000;
		rm.region.mmap_offset = (uint64_t)(i % 16) * 0x1000;
		r = fe_request(fe, VHOST_USER_ADD_MEM_REG, &rm, sizeof rm,
		    &fd, 1, NULL, ~0u);
		ck_assert_msg(r == (i < 509 ? 0 : 1), "region %u: %d (%s)", i,
		    r, fe_error());
	}
	ck_assert_int_eq(fe_daemon_log_count(h.d, "all 509 memory slots in "
	    "use"), 1);
	/* Removing one that is not there, then one that is. */
	rm.region.guest_phys_addr = 0x7000000;
	h_refused(fe, VHOST_USER_REM_MEM_REG, &rm, sizeof rm, NULL, 0, ~0u,
	    "remove a missing region");
	rm.region.guest_phys_addr = 0;
	rm.region.userspace_addr = 0x10000000;
	ck_assert_int_eq(fe_request(fe, VHOST_USER_REM_MEM_REG, &rm,
	    sizeof rm, NULL, 0, NULL, ~0u), 0);
	close(fd);
	h_close(&h, fe);
	h_check(&h, "regions");
	/* All 508 mappings went with the frontend. */
	h_stop(&h);
}
END_TEST

/* Ring addresses outside guest memory or crossing its end; bad queue
 * sizes and indices. */
START_TEST(test_vring_config)
{
	static const uint32_t sizes[] = { 0, 3, 100, H_MAX_QSIZE + 1,
	    2 * H_MAX_QSIZE, 65536, 0xffffffffu };
	struct vhost_user_vring_addr	 a;
	struct vhost_user_vring_state	 st;
	struct h	 h;
	struct fe	*fe;
	uint64_t	 top;
	unsigned	 i;

	h_start(&h, "hostile: vring config");
	fe = h_fe_negotiated(&h);
	/* Addresses before any memory table. */
	st.index = 0;
	st.num = H_QSIZE;
	ck_assert_int_eq(fe_request(fe, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0, NULL, ~0u), 0);
	memset(&a, 0, sizeof a);
	a.desc_user_addr = (uint64_t)(uintptr_t)fe->regions[0].host;
	a.avail_user_addr = a.desc_user_addr + 0x1000;
	a.used_user_addr = a.desc_user_addr + 0x2000;
	h_refused(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL, 0, ~0u,
	    "addresses before memory");
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);

	for (i = 0; i < nitems(sizes); i++) {
		st.num = sizes[i];
		h_refused(fe, VHOST_USER_SET_VRING_NUM, &st, sizeof st, NULL,
		    0, ~0u, "queue size");
	}
	for (i = 1; i < 256; i += 17) {
		st.index = i;
		st.num = H_QSIZE;
		h_refused(fe, VHOST_USER_SET_VRING_NUM, &st, sizeof st, NULL,
		    0, ~0u, "queue index");
	}
	st.index = 0;
	st.num = H_QSIZE;
	ck_assert_int_eq(fe_request(fe, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0, NULL, ~0u), 0);

	/* Outside every region (the gap between 3 MiB and 16 MiB). */
	a.desc_user_addr = 0x1000;
	h_refused(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL, 0, ~0u,
	    "desc not mapped");
	/* The descriptor table runs off the end of the last region. */
	top = (uint64_t)(uintptr_t)fe->regions[fe->nregions - 1].host +
	    fe->regions[fe->nregions - 1].size;
	a.desc_user_addr = top - 16;
	a.avail_user_addr = (uint64_t)(uintptr_t)fe->regions[0].host;
	a.used_user_addr = a.avail_user_addr + 0x1000;
	h_refused(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL, 0, ~0u,
	    "desc past the end");
	a.desc_user_addr = a.avail_user_addr + 0x2000;
	a.used_user_addr = top - 8;
	h_refused(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL, 0, ~0u,
	    "used past the end");
	a.used_user_addr = UINT64_MAX - 3;
	h_refused(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL, 0, ~0u,
	    "used at the top of the address space");
	a.used_user_addr = a.avail_user_addr + 0x1002;
	h_refused(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL, 0, ~0u,
	    "misaligned used");
	a.index = 7;
	h_refused(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof a, NULL, 0, ~0u,
	    "address of queue 7");
	ck_assert_int_ge(fe_daemon_log_count(h.d, "rng0: SET_VRING_ADDR: "),
	    7);
	ck_assert_int_ge(fe_daemon_log_count(h.d, "rng0: SET_VRING_NUM: "),
	    (int)nitems(sizes));
	h_close(&h, fe);
	h_check(&h, "vring config");
	h_stop(&h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The guest.                                                          */

/* One way for a guest to break the rules on a running queue 0. */
struct h_guest {
	const char	*name;
	const char	*reason;	/* in "device broken: queue 0: ..." */
	void		(*run)(struct fe *);
};

/* A two-descriptor cycle. */
static void
h_guest_loop(struct fe *fe)
{
	struct fe_queue	*q = fe_queue(fe, 0);
	uint64_t	 gpa = fe_alloc(fe, 128, 64);

	q->desc[0].addr = gpa;
	q->desc[0].len = 64;
	q->desc[0].flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;
	q->desc[0].next = 1;
	q->desc[1] = q->desc[0];
	q->desc[1].addr = gpa + 64;
	q->desc[1].next = 0;
	fe_publish_raw(fe, 0, 0);
}

/* A chain through every descriptor and then back to the head: longer
 * than the queue. */
static void
h_guest_long_chain(struct fe *fe)
{
	struct fe_queue	*q = fe_queue(fe, 0);
	uint64_t	 gpa = fe_alloc(fe, 16 * (uint64_t)q->num, 16);
	unsigned	 i;

	for (i = 0; i < q->num; i++) {
		q->desc[i].addr = gpa + 16 * (uint64_t)i;
		q->desc[i].len = 16;
		q->desc[i].flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;
		q->desc[i].next = (uint16_t)((i + 1) % q->num);
	}
	fe_publish_raw(fe, 0, 0);
}

/* Point descriptor 0 at an indirect table of `len` bytes at `tg`. */
static void
h_guest_indirect(struct fe *fe, uint64_t tg, uint32_t len)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	q->desc[0].addr = tg;
	q->desc[0].len = len;
	q->desc[0].flags = VRING_DESC_F_INDIRECT;
	q->desc[0].next = 0;
	fe_publish_raw(fe, 0, 0);
}

/* An indirect table of 0 bytes. */
static void
h_guest_indirect_empty(struct fe *fe)
{
	h_guest_indirect(fe, fe_alloc(fe, 64, 16), 0);
}

/* An indirect table of 17 bytes. */
static void
h_guest_indirect_odd(struct fe *fe)
{
	h_guest_indirect(fe, fe_alloc(fe, 64, 16), 17);
}

/* An indirect table running off the end of guest memory. */
static void
h_guest_indirect_end(struct fe *fe)
{
	h_guest_indirect(fe, (18ULL << 20) - 32, 64);
}

/* An indirect table of 2^20 entries (larger than any ring). */
static void
h_guest_indirect_huge(struct fe *fe)
{
	h_guest_indirect(fe, 0, 16u << 20);
}

/* An indirect table holding an indirect descriptor. */
static void
h_guest_indirect_nested(struct fe *fe)
{
	struct vring_desc	 t[2];
	uint64_t		 tg = fe_alloc(fe, sizeof t, 16);

	t[0].addr = tg;
	t[0].len = sizeof t;
	t[0].flags = VRING_DESC_F_INDIRECT;
	t[0].next = 0;
	t[1] = t[0];
	ck_assert_int_eq(fe_write(fe, tg, t, sizeof t), 0);
	h_guest_indirect(fe, tg, sizeof t);
}

/* An indirect descriptor that also has NEXT. */
static void
h_guest_indirect_next(struct fe *fe)
{
	struct fe_queue		*q = fe_queue(fe, 0);
	struct vring_desc	 t;
	uint64_t		 tg = fe_alloc(fe, sizeof t, 16);

	t.addr = fe_alloc(fe, 64, 64);
	t.len = 64;
	t.flags = VRING_DESC_F_WRITE;
	t.next = 0;
	ck_assert_int_eq(fe_write(fe, tg, &t, sizeof t), 0);
	h_guest_indirect(fe, tg, sizeof t);
	q->desc[0].flags |= VRING_DESC_F_NEXT;
	q->desc[0].next = 1;
}

/* avail->idx jumps by more than the queue size. */
static void
h_guest_avail_jump(struct fe *fe)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	__atomic_store_n(&q->avail->idx, (uint16_t)(q->avail_idx + q->num +
	    7), __ATOMIC_RELEASE);
}

/* A head index past the ring. */
static void
h_guest_head(struct fe *fe)
{
	fe_publish_raw(fe, 0, 0xffff);
}

/* A buffer in the hole between regions. */
static void
h_guest_hole(struct fe *fe)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	q->desc[0].addr = 8ULL << 20;
	q->desc[0].len = 64;
	q->desc[0].flags = VRING_DESC_F_WRITE;
	fe_publish_raw(fe, 0, 0);
}

/* A buffer whose length wraps the address space. */
static void
h_guest_wrap(struct fe *fe)
{
	struct fe_queue	*q = fe_queue(fe, 0);

	q->desc[0].addr = UINT64_MAX - 15;
	q->desc[0].len = 64;
	q->desc[0].flags = VRING_DESC_F_WRITE;
	fe_publish_raw(fe, 0, 0);
}

static const struct h_guest h_guests[] = {
	{ "descriptor loop", "descriptor chain longer than the queue",
	    h_guest_loop },
	{ "chain longer than the queue",
	    "descriptor chain longer than the queue",
	    h_guest_long_chain },
	{ "indirect table of 0 bytes", "indirect table length",
	    h_guest_indirect_empty },
	{ "indirect table of 17 bytes", "indirect table length",
	    h_guest_indirect_odd },
	{ "indirect table past the end", "indirect table",
	    h_guest_indirect_end },
	{ "indirect table of 1M entries", "indirect table is too big",
	    h_guest_indirect_huge },
	{ "nested indirect table", "nested indirect table",
	    h_guest_indirect_nested },
	{ "indirect with NEXT", "indirect descriptor has the NEXT flag",
	    h_guest_indirect_next },
	{ "avail index jump", "avail index moved by more than the queue size",
	    h_guest_avail_jump },
	{ "head out of range", "head descriptor index out of range",
	    h_guest_head },
	{ "buffer in a hole", "buffer is not in guest memory", h_guest_hole },
	{ "buffer wrapping", "buffer is not in guest memory", h_guest_wrap },
};

/* Each hostile guest breaks rng0 only: its err eventfd fires, the log
 * names the device and the reason; rng1 is untouched. */
START_TEST(test_guest)
{
	const struct h_guest	*g = &h_guests[_i];
	struct h		 h;
	struct fe		*fe;
	char			 want[160], name[96];

	snprintf(name, sizeof name, "hostile guest: %s", g->name);
	h_start(&h, name);
	fe = h_fe(h.sock[0]);
	h_read(fe);
	g->run(fe);
	ck_assert_int_eq(fe_kick(fe, 0), 0);
	ck_assert_msg(fe_wait_err(fe, 0, H_WAIT_MS) == 1, "%s: err fd not "
	    "signalled", g->name);
	snprintf(want, sizeof want, "rng0: device broken: queue 0: %s",
	    g->reason);
	ck_assert_msg(fe_daemon_log_count(h.d, want) == 1, "%s: no '%s' in "
	    "the log", g->name, want);
	/* Broken: more kicks are ignored and do not spin the daemon. */
	ck_assert_int_eq(fe_kick(fe, 0), 0);
	h_sync(fe, g->name);
	h_close(&h, fe);
	h_check(&h, g->name);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "rng1: device broken"), 0);
	h_stop(&h);
}
END_TEST

/* Kicks before memory, before addresses, before enable: nothing runs
 * and nothing breaks; the queue works once it is set up. */
START_TEST(test_early_kicks)
{
	struct vhost_user_vring_state	 st;
	struct h	 h;
	struct fe	*fe;
	uint64_t	 v;
	int		 kfd;

	h_start(&h, "hostile: early kicks");
	fe = h_fe_negotiated(&h);
	kfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(kfd, 0);
	/* Kick fd, then kicks, with no memory and no ring. */
	v = 0;
	ck_assert_int_eq(fe_request(fe, VHOST_USER_SET_VRING_KICK, &v, 8,
	    &kfd, 1, NULL, ~0u), 0);
	ck_assert_int_eq(eventfd_write(kfd, 1), 0);
	st.index = 0;
	st.num = 1;
	ck_assert_int_eq(fe_request(fe, VHOST_USER_SET_VRING_ENABLE, &st,
	    sizeof st, NULL, 0, NULL, ~0u), 0);
	ck_assert_int_eq(eventfd_write(kfd, 1), 0);
	/* Memory, a size, but no addresses. */
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	st.num = H_QSIZE;
	ck_assert_int_eq(fe_request(fe, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0, NULL, ~0u), 0);
	ck_assert_int_eq(eventfd_write(kfd, 1), 0);
	h_sync(fe, "early kicks");
	ck_assert_int_eq(fe_daemon_log_count(h.d, "rng0: queue 0 started"),
	    0);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "device broken"), 0);
	close(kfd);
	/* Now the whole setup: it serves. */
	ck_assert_int_eq(fe_queue_setup(fe, 0, H_QSIZE), 0);
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	h_read(fe);
	h_close(&h, fe);
	h_check(&h, "early kicks");
	h_stop(&h);
}
END_TEST

/* Messages after RESET_OWNER: ring messages without memory are refused,
 * old kick fds are dead, and a full renegotiation on the same connection
 * serves again. */
START_TEST(test_after_reset_owner)
{
	struct vhost_user_vring_state	 st;
	struct h	 h;
	struct fe	*fe;
	struct fe_queue	*q;
	uint64_t	 v;
	uint32_t	 base;

	h_start(&h, "hostile: after RESET_OWNER");
	fe = h_fe(h.sock[0]);
	h_read(fe);
	q = fe_queue(fe, 0);
	ck_assert_int_eq(fe_request(fe, VHOST_USER_RESET_OWNER, NULL, 0, NULL,
	    0, NULL, ~0u), 0);
	ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: queue 0 stopped", 1,
	    H_WAIT_MS), 0);
	/* REPLY_ACK is gone with the reset: from now on, probe with sync. */
	fe->reply_ack = 0;
	fe_kick(fe, 0);
	st.index = 0;
	st.num = H_QSIZE;
	ck_assert_int_eq(fe_request(fe, VHOST_USER_SET_VRING_NUM, &st,
	    sizeof st, NULL, 0, NULL, ~0u), 0);
	ck_assert_int_eq(fe_request(fe, VHOST_USER_SET_VRING_ADDR, &(struct
	    vhost_user_vring_addr){ .index = 0, .desc_user_addr =
	    (uint64_t)(uintptr_t)q->desc }, 40, NULL, 0, NULL, ~0u), 0);
	ck_assert_int_eq(fe_get_vring_base(fe, 0, &base), 0);
	v = 1;
	ck_assert_int_eq(fe_request(fe, VHOST_USER_SET_VRING_ENABLE, &v, 8,
	    NULL, 0, NULL, ~0u), 0);
	h_sync(fe, "after RESET_OWNER");
	ck_assert_int_ge(fe_daemon_log_count(h.d, "rng0: SET_VRING_ADDR: "
	    "queue 0: no memory table"), 1);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "rng0: queue 0 started"),
	    1);
	/* A second RESET_OWNER in a row, then everything again. */
	ck_assert_int_eq(fe_request(fe, VHOST_USER_RESET_OWNER, NULL, 0, NULL,
	    0, NULL, ~0u), 0);
	fe_disconnect(fe);
	ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: frontend "
	    "disconnected", 1, H_WAIT_MS), 0);
	h.disconnects++;
	fe_free(fe);
	h_check(&h, "after RESET_OWNER");
	h_stop(&h);
}
END_TEST

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

/* ------------------------------------------------------------------ */
/* Least privilege.                                                    */

/* Copy the built module `from` (a path) to "dir/mods/<name>.so". */
static void
h_copy_module(struct fe_daemon *d, const char *from, const char *name)
{
	char	 rel[64], *buf;
	FILE	*fp;
	long	 len;

	fp = fopen(from, "rb");
	ck_assert_msg(fp != NULL, "%s: %s", from, strerror(errno));
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	len = ftell(fp);
	ck_assert_int_gt(len, 0);
	rewind(fp);
	buf = malloc((size_t)len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	snprintf(rel, sizeof rel, "mods/%s.so", name);
	ck_assert_ptr_nonnull(fe_daemon_write_file(d, rel, buf, (size_t)len));
	free(buf);
}

/* A frontend of device `sock`, negotiated (REPLY_ACK on). */
static struct fe *
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

/* Run vhostd with `args` to completion; its exit status, output in buf. */
static int
h_run(const char *const *args, char *buf, size_t len)
{
	const char	*argv[16];
	int		 p[2], status;
	unsigned	 n = 0, i;
	size_t		 have = 0;
	ssize_t		 r;
	pid_t		 pid;

	argv[n++] = fe_daemon_binary();
	for (i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(p[1]);
	while (have < len - 1 && (r = read(p[0], buf + have,
	    len - 1 - have)) > 0)
		have += (size_t)r;
	buf[have] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return (WIFEXITED(status) ? WEXITSTATUS(status) : 128 +
	    WTERMSIG(status));
}

/* socket-mode, socket-owner and socket-group from the config file. */
START_TEST(test_socket_owner)
{
	struct fe_daemon	*d;
	struct stat		 st;
	struct fe		*fe;
	struct group		*gr;
	const char		*conf, *socks[2], *args[3];
	char			 text[1024], carg[700], gname[64], out[4096];
	int			 root = geteuid() == 0;

	d = fe_daemon_new("hostile: socket owner");
	ck_assert_ptr_nonnull(d);
	gr = getgrgid(getegid());
	snprintf(gname, sizeof gname, "%s", gr != NULL ? gr->gr_name : "0");
	snprintf(text, sizeof text,
	    "device rng0 {\n"
	    "    module rng\n"
	    "    socket \"%s\"\n"
	    "    socket-mode 0660\n"
	    "    socket-group \"%s\"\n"
	    "%s"
	    "}\n", fe_daemon_path(d, "rng.sock"), gname,
	    root ? "    socket-owner nobody\n" : "");
	conf = fe_daemon_write_file(d, "vhostd.conf", text, strlen(text));
	snprintf(carg, sizeof carg, "--config=%s", conf);
	args[0] = carg;
	args[1] = NULL;
	socks[0] = fe_daemon_path(d, "rng.sock");
	socks[1] = NULL;
	ck_assert_int_eq(fe_daemon_start(d, args, socks, H_START_MS), 0);
	/* The socket exists from bind(); owner and mode are set before
	 * listen(), so before this line. */
	ck_assert_int_eq(fe_daemon_wait_log(d, "listening on", 1, H_START_MS),
	    0);
	ck_assert_int_eq(lstat(socks[0], &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	ck_assert_uint_eq(st.st_gid, getegid());
	if (root) {
		struct passwd *pw = getpwnam("nobody");

		ck_assert_ptr_nonnull(pw);
		ck_assert_uint_eq(st.st_uid, pw->pw_uid);
	} else
		ck_assert_uint_eq(st.st_uid, geteuid());
	fe = h_fe(socks[0]);
	h_read(fe);
	fe_free(fe);
	ck_assert_int_eq(fe_daemon_stop(d, H_STOP_MS), 0);

	/* Unknown owner or group: a config error naming the line. */
	snprintf(text, sizeof text,
	    "device rng0 {\n    module rng\n    socket \"%s\"\n"
	    "    socket-owner no-such-user-here\n"
	    "    socket-group no-such-group-here\n}\n",
	    fe_daemon_path(d, "bad.sock"));
	conf = fe_daemon_write_file(d, "bad.conf", text, strlen(text));
	snprintf(carg, sizeof carg, "--config=%s", conf);
	args[0] = "-n";
	args[1] = carg;
	args[2] = NULL;
	ck_assert_int_eq(h_run(args, out, sizeof out), 1);
	ck_assert_msg(strstr(out, "bad.conf:4: device \"rng0\": socket-owner: "
	    "unknown user 'no-such-user-here'") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "bad.conf:5: device \"rng0\": socket-group: "
	    "unknown group 'no-such-group-here'") != NULL, "%s", out);
	fe_daemon_free(d);
}
END_TEST

/* --user/--group: refused before serving when unknown; as root, the
 * daemon runs as nobody with no supplementary groups and still serves. */
START_TEST(test_drop_user)
{
	struct passwd		*pw;
	struct h		 h;
	char			 out[4096];
	const char		*bad[] = { "--module=rng", "--socket=/nonexistent",
	    "--user=no-such-user-here", NULL };
	const char		*extra[] = { "--user=nobody", NULL };
	pid_t			 pid;

	ck_assert_int_eq(h_run(bad, out, sizeof out), 1);
	ck_assert_msg(strstr(out, "--user: unknown user") != NULL, "%s", out);
	bad[2] = "--group=no-such-group-here";
	ck_assert_int_eq(h_run(bad, out, sizeof out), 1);
	ck_assert_msg(strstr(out, "--group: unknown group") != NULL, "%s",
	    out);
	if (geteuid() != 0) {
		fprintf(stderr, "check_hostile: not root, --user=nobody "
		    "not tested\n");
		return;
	}
	pw = getpwnam("nobody");
	ck_assert_ptr_nonnull(pw);
	h_start_args(&h, "hostile: --user", extra);
	pid = fe_daemon_pid(h.d);
	/* nobody may unlink its sockets at exit. */
	ck_assert_int_eq(chmod(fe_daemon_dir(h.d), 0777), 0);
	ck_assert_int_eq(h_status(pid, "Uid:"), (long)pw->pw_uid);
	ck_assert_int_eq(h_status(pid, "Gid:"), (long)pw->pw_gid);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "running as user nobody"),
	    1);
	{
		char	 path[64], line[256];
		FILE	*fp;
		int	 found = 0;

		snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
		fp = fopen(path, "r");
		ck_assert_ptr_nonnull(fp);
		while (fgets(line, sizeof line, fp) != NULL) {
			if (strncmp(line, "Groups:", 7) != 0)
				continue;
			found = 1;
			ck_assert_int_eq(strtol(line + 7, NULL, 10),
			    (long)pw->pw_gid);
		}
		fclose(fp);
		ck_assert(found);
	}
	h_check(&h, "--user");
	h_stop(&h);
}
END_TEST

/* The filter is on by default in every thread of the daemon; off with
 * --no-seccomp. */
START_TEST(test_seccomp_daemon)
{
	const char	*off[] = { "--no-seccomp", NULL };
	char		 path[96];
	struct h	 h;
	DIR		*dir;
	struct dirent	*de;
	pid_t		 pid;
	int		 tasks = 0;

	h_start(&h, "hostile: seccomp on");
	pid = fe_daemon_pid(h.d);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "seccomp filter installed"),
	    1);
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		tasks++;
		ck_assert_int_eq(h_status((pid_t)atoi(de->d_name),
		    "Seccomp:"), 2);
	}
	closedir(dir);
	ck_assert_int_ge(tasks, 3);	/* main and a worker per device */
	h_check(&h, "seccomp");
	h_stop(&h);

	h_start_args(&h, "hostile: seccomp off", off);
	ck_assert_int_eq(h_status(fe_daemon_pid(h.d), "Seccomp:"), 0);
	h_stop(&h);
}
END_TEST

/* The filter itself, in a child: allowed calls work, fork, exec, new
 * executable memory and odd ioctls do not. */
START_TEST(test_seccomp_filter)
{
	char		*cause = NULL;
	pid_t		 pid;
	int		 status, fd;
	void		*p;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (privsep_seccomp(&cause) != 0)
			_exit(10);
		if ((fd = eventfd(0, EFD_CLOEXEC)) == -1)
			_exit(11);
		close(fd);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
			_exit(12);
		close(fd);
		if (h_getrandom_ok() == 0)
			_exit(13);
		/* Argument checks (not in sanitizer builds). */
		p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED && !h_sanitized())
			_exit(14);
		if (ioctl(0, TIOCSTI, "x") != -1 || errno != ENOTTY)
			_exit(15);
		if (!h_sanitized() && (syscall(SYS_clone, SIGCHLD, 0, 0, 0,
		    0) != -1 || errno != EPERM))
			_exit(16);
		/* Not on the list at all: killed. */
		execl("/bin/true", "true", (char *)NULL);
		_exit(17);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
	    "child %s %d", WIFSIGNALED(status) ? "killed by" : "exited",
	    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}
END_TEST

/* Modules: path components and a module directory writable by others
 * are refused before serving. */
START_TEST(test_module_paths)
{
	struct fe_daemon	*d;
	char			 out[4096], marg[700], sarg[700];
	const char		*args[5];

	d = fe_daemon_new("hostile: module paths");
	ck_assert_ptr_nonnull(d);
	snprintf(sarg, sizeof sarg, "--socket=%s", fe_daemon_path(d, "s"));
	args[0] = "--module=../rng";
	args[1] = sarg;
	args[2] = NULL;
	ck_assert_int_eq(h_run(args, out, sizeof out), 1);
	ck_assert_msg(strstr(out, "invalid module name") != NULL, "%s", out);
	ck_assert_int_eq(mkdir(fe_daemon_path(d, "mods"), 0777), 0);
	ck_assert_int_eq(chmod(fe_daemon_path(d, "mods"), 0777), 0);
	snprintf(marg, sizeof marg, "--module-dir=%s",
	    fe_daemon_path(d, "mods"));
	args[0] = "--module=rng";
	args[2] = marg;
	args[3] = NULL;
	ck_assert_int_eq(h_run(args, out, sizeof out), 1);
	ck_assert_msg(strstr(out, "writable by group or others") != NULL,
	    "%s", out);
	rmdir(fe_daemon_path(d, "mods"));
	fe_daemon_free(d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Guest memory files shrunk under the daemon (issue 8, item 5).       */

/*
 * A frontend on rng0 in the default layout whose regions are memfds made
 * with `flags` (and sealed with F_SEAL_SEAL, so nobody may add seals, when
 * `seal_seal`), started and served once.
 */
static struct fe *
h_fe_memfd(struct h *h, unsigned flags, int seal_seal)
{
	struct fe	*fe;
	unsigned	 i;
	int		 r;

	fe = fe_new(h->sock[0], fe_default_layout, 0);
	ck_assert_msg(fe != NULL, "fe_new: %s", fe_error());
	fe->memfd_flags = flags;
	for (i = 0; i < fe_default_layout_n; i++) {
		r = fe_region_add(fe, fe_default_layout[i].gpa,
		    fe_default_layout[i].size, fe_default_layout[i].offset);
		ck_assert_msg(r >= 0, "fe_region_add: %s", fe_error());
		if (seal_seal)
			ck_assert_int_eq(fcntl(fe->regions[r].fd, F_ADD_SEALS,
			    F_SEAL_SEAL), 0);
	}
	r = fe_start(fe, H_QSIZE);
	ck_assert_msg(r == 0, "fe_start: %d %s", r, fe_error());
	h_read(fe);
	return (fe);
}

/* "alive", or how the daemon died ("killed by signal 7"). */
static const char *
h_fate(struct h *h)
{
	static char	 buf[64];
	int		 status;

	if (fe_daemon_alive(h->d))
		return ("alive");
	status = fe_daemon_stop(h->d, 0);
	if (status > 128)
		snprintf(buf, sizeof buf, "killed by signal %d%s",
		    status - 128, status - 128 == SIGBUS ? " (SIGBUS)" : "");
	else
		snprintf(buf, sizeof buf, "exited with status %d", status);
	return (buf);
}

/* How many of the daemon's mappings are of the test frontend's memfds. */
static int
h_memfd_maps(struct h *h)
{
	char	 path[64], line[512];
	FILE	*fp;
	int	 n = 0;

	snprintf(path, sizeof path, "/proc/%d/maps",
	    (int)fe_daemon_pid(h->d));
	fp = fopen(path, "r");
	ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, fp) != NULL) {
		if (strstr(line, "memfd:fe-guest") != NULL)
			n++;
	}
	fclose(fp);
	return (n);
}

/* The memfd holding queue 0's rings. */
static int
h_ring_fd(struct fe *fe)
{
	const struct fe_queue	*q = fe_queue(fe, 0);
	const struct fe_region	*r;
	unsigned		 i;

	for (i = 0; i < fe->nregions; i++) {
		r = &fe->regions[i];
		if (q->desc_gpa >= r->gpa && q->desc_gpa - r->gpa < r->size)
			return (r->fd);
	}
	ck_abort_msg("queue 0's rings are in no region");
	return (-1);
}

/* A sealable memfd is sealed against shrinking when it is handed over:
 * the frontend's ftruncate fails with EPERM and both devices serve on. */
START_TEST(test_memfd_sealed)
{
	struct h	 h;
	struct fe	*fe;
	unsigned	 i;
	int		 fd, rc, err, seals;

	h_start(&h, "hostile: sealable guest memory shrunk");
	fe = h_fe_memfd(&h, MFD_ALLOW_SEALING, 0);
	fd = h_ring_fd(fe);
	rc = ftruncate(fd, 0);
	err = errno;
	ck_assert_int_eq(fe_kick(fe, 0), 0);
	if (rc == 0) {
		/* Not refused: the kick makes the daemon read the ring. */
		for (i = 0; i < 100 && fe_daemon_alive(h.d); i++)
			usleep(20000);
		ck_abort_msg("the frontend shrank a sealable memfd to 0; "
		    "vhostd %s", h_fate(&h));
	}
	ck_assert_int_eq(err, EPERM);
	for (i = 0; i < fe->nregions; i++) {
		seals = fcntl(fe->regions[i].fd, F_GET_SEALS);
		ck_assert_msg(seals != -1 && (seals & F_SEAL_SHRINK) != 0,
		    "region %u: seals 0x%x", i, seals);
		/* Only shrinking is refused. */
		ck_assert_int_eq(seals & F_SEAL_GROW, 0);
	}
	h_read(fe);
	h_read(h.peer);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "device broken"), 0);
	h_close(&h, fe);
	h_check(&h, "sealable guest memory shrunk");
	h_stop(&h);
}
END_TEST

/*
 * A memfd that cannot be sealed (no MFD_ALLOW_SEALING, or the frontend's
 * own F_SEAL_SEAL) shrunk to 0 with requests waiting in the ring: the
 * kick makes the worker read the ring and take SIGBUS.  The daemon lives,
 * rng0 breaks with the reason in the log and its err fd, rng1 serves
 * throughout, rng0 serves a new frontend, no fd is left behind.
 */
START_TEST(test_memfd_shrunk)
{
	struct h	 h;
	struct fe	*fe;
	struct fe_buf	 b;
	unsigned	 i;
	int		 seal_seal = _i == 1, maps;

	h_start(&h, seal_seal ? "hostile: guest memory shrunk (F_SEAL_SEAL)" :
	    "hostile: guest memory shrunk (unsealable)");
	fe = h_fe_memfd(&h, seal_seal ? MFD_ALLOW_SEALING : 0, seal_seal);
	for (i = 0; i < 8; i++) {
		b.gpa = fe_alloc(fe, 4096, 64);
		b.len = 4096;
		b.write = 1;
		ck_assert_int_ge(fe_post(fe, 0, &b, 1, FE_POST_NOKICK), 0);
	}
	maps = h_memfd_maps(&h);
	/* From here on this process must not touch that memfd's pages. */
	ck_assert_int_eq(ftruncate(h_ring_fd(fe), 0), 0);
	h_read(h.peer);
	ck_assert_int_eq(fe_kick(fe, 0), 0);
	ck_assert_msg(fe_wait_err(fe, 0, H_WAIT_MS) == 1, "err fd not signalled "
	    "(vhostd %s)", h_fate(&h));
	ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: device broken: "
	    "guest memory at gpa 0x", 1, H_WAIT_MS), 0);
	ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: guest memory region "
	    "at gpa 0x", 1, H_WAIT_MS), 0);
	/* The shrunk file is no longer mapped (anonymous memory instead);
	 * the other regions are. */
	ck_assert_int_eq(h_memfd_maps(&h), maps - 1);
	h_read(h.peer);
	/* Broken: more kicks are ignored; messages are still answered. */
	ck_assert_int_eq(fe_kick(fe, 0), 0);
	h_sync(fe, "guest memory shrunk");
	h_close(&h, fe);
	h_check(&h, "guest memory shrunk");
	ck_assert_int_eq(fe_daemon_log_count(h.d, "device broken"), 1);
	h_stop(&h);
}
END_TEST

/* The memfd shrunk before SET_VRING_ADDR, which reads the used index on
 * the main thread: the main thread takes SIGBUS, rng0 breaks, the rest as
 * above. */
START_TEST(test_memfd_shrunk_main)
{
	struct h	 h;
	struct fe	*fe;

	h_start(&h, "hostile: guest memory shrunk before SET_VRING_ADDR");
	fe = fe_new(h.sock[0], NULL, 0);
	ck_assert_msg(fe != NULL, "fe_new: %s", fe_error());
	ck_assert_int_eq(fe_negotiate(fe, FE_WANT_FEATURES,
	    FE_WANT_PROTOCOL), 0);
	ck_assert_int_eq(fe_set_mem_table(fe, NULL, 0), 0);
	ck_assert_int_eq(fe_queue_init(fe, 0, H_QSIZE), 0);
	ck_assert_int_eq(ftruncate(h_ring_fd(fe), 0), 0);
	ck_assert_msg(fe_queue_setup(fe, 0, H_QSIZE) == 0, "queue setup: %s "
	    "(vhostd %s)", fe_error(), h_fate(&h));
	ck_assert_int_eq(fe_vring_enable(fe, 0, 1), 0);
	ck_assert_msg(fe_wait_err(fe, 0, H_WAIT_MS) == 1, "err fd not signalled "
	    "(vhostd %s)", h_fate(&h));
	ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: device broken: "
	    "guest memory at gpa 0x", 1, H_WAIT_MS), 0);
	ck_assert_int_eq(fe_daemon_log_count(h.d, "rng0: guest memory region "
	    "at gpa 0x"), 1);
	h_read(h.peer);
	h_sync(fe, "guest memory shrunk before SET_VRING_ADDR");
	h_close(&h, fe);
	h_check(&h, "guest memory shrunk before SET_VRING_ADDR");
	h_stop(&h);
}
END_TEST

/* SIGBUS in this process (the child reading entropy from memory just cut
 * short): leave quietly. */
static void
h_child_sigbus(int sig)
{
	(void)sig;
	_exit(0);
}

/* The child frontend of test_memfd_shrunk_flowing: keep requests flowing
 * on an fe its parent set up, until its memory goes or it is killed. */
static void
h_child_reader(struct fe *fe)
{
	struct fe_rng_stats	 st;
	struct sigaction	 sa;
	uint8_t			 buf[4096];

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h_child_sigbus;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) == -1)
		_exit(2);
	for (;;) {
		if (fe_rng_read(fe, 0, buf, sizeof buf, 256, 16, 2, 0,
		    &st) != 0)
			_exit(3);
	}
}

/*
 * The memfd shrunk to 0 while a child process keeps requests flowing on
 * rng0, at several points: rng0 breaks (its worker took SIGBUS on the
 * ring, or getrandom into a buffer got EFAULT), the daemon lives, rng1
 * serves during and after, rng0 serves again, no fd is left behind.
 */
START_TEST(test_memfd_shrunk_flowing)
{
	static const int delays_ms[] = { 0, 10, 50 };
	struct h	 h;
	struct fe	*fe;
	pid_t		 child;
	unsigned	 i;
	int		 status;

	h_start(&h, "hostile: guest memory shrunk under traffic");
	for (i = 0; i < nitems(delays_ms); i++) {
		fe = h_fe_memfd(&h, 0, 0);
		child = fork();
		ck_assert_int_ge(child, 0);
		if (child == 0)
			h_child_reader(fe);
		usleep((useconds_t)delays_ms[i] * 1000);
		ck_assert_int_eq(ftruncate(h_ring_fd(fe), 0), 0);
		h_read(h.peer);
		/* Whatever the child managed, the daemon reads the ring once
		 * more. */
		ck_assert_int_eq(fe_kick(fe, 0), 0);
		ck_assert_msg(fe_wait_err(fe, 0, H_WAIT_MS) == 1, "delay %d ms: "
		    "err fd not signalled (vhostd %s)", delays_ms[i],
		    h_fate(&h));
		ck_assert_int_eq(fe_daemon_wait_log(h.d, "rng0: device "
		    "broken", (int)i + 1, H_WAIT_MS), 0);
		kill(child, SIGKILL);
		ck_assert_int_eq(waitpid(child, &status, 0), child);
		h_read(h.peer);
		h_close(&h, fe);
		h_check(&h, "guest memory shrunk under traffic");
	}
	ck_assert_int_eq(fe_daemon_log_count(h.d, "rng1: device broken"), 0);
	h_stop(&h);
}
END_TEST

/* ------------------------------------------------------------------ */

/* Print the logs of daemons whose tests failed.  Runs in the runner. */
static void
h_reap(void)
{
	fe_tmp_reap();
}

/* Build the suite. */
static Suite *
hostile_suite(void)
{
	Suite	*s = suite_create("hostile");
	TCase	*tc;

	tc = tcase_create("requests");
	tcase_add_unchecked_fixture(tc, NULL, h_reap);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_every_request);
	tcase_add_test(tc, test_wrong_sizes);
	tcase_add_test(tc, test_fds);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_add_unchecked_fixture(tc, NULL, h_reap);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_regions);
	tcase_add_test(tc, test_vring_config);
	suite_add_tcase(s, tc);

	tc = tcase_create("guest");
	tcase_add_unchecked_fixture(tc, NULL, h_reap);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_guest, 0, (int)nitems(h_guests));
	tcase_add_test(tc, test_early_kicks);
	tcase_add_test(tc, test_after_reset_owner);
	suite_add_tcase(s, tc);

	tc = tcase_create("faults");
	tcase_add_unchecked_fixture(tc, NULL, h_reap);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_frontend_killed);
	tcase_add_test(tc, test_never_reads);
	tcase_add_test(tc, test_emfile);
	tcase_add_test(tc, test_connect_cycles);
	tcase_add_test(tc, test_module_fails);
	tcase_add_test(tc, test_ring_fds);
	tcase_add_test(tc, test_worker_stuck);
	suite_add_tcase(s, tc);

	tc = tcase_create("shrunk");
	tcase_add_unchecked_fixture(tc, NULL, h_reap);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_memfd_sealed);
	tcase_add_loop_test(tc, test_memfd_shrunk, 0, 2);
	tcase_add_test(tc, test_memfd_shrunk_main);
	tcase_add_test(tc, test_memfd_shrunk_flowing);
	suite_add_tcase(s, tc);

	tc = tcase_create("privilege");
	tcase_add_unchecked_fixture(tc, NULL, h_reap);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_socket_owner);
	tcase_add_test(tc, test_drop_user);
	tcase_add_test(tc, test_seccomp_daemon);
	tcase_add_test(tc, test_seccomp_filter);
	tcase_add_test(tc, test_module_paths);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() == -1) {
		fprintf(stderr, "check_hostile: %s\n", fe_error());
		return (1);
	}
	sr = srunner_create(hostile_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? 0 : 1);
}
