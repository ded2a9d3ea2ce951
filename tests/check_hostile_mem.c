/*
 * Suite "hostile_mem": hostile memory tables against the daemon of
 * hostile_harness.h (rng0 abused, rng1 kept busy, the invariant checked
 * after every case): overlapping, empty and odd regions, ring addresses
 * outside guest memory, and guest memory files shrunk under the daemon
 * (issue 8).
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
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


/* Build the suite. */
static Suite *
hostile_mem_suite(void)
{
	Suite	*s = suite_create("hostile_mem");
	TCase	*tc;

	tc = h_tcase(s, "memory", 60);
	tcase_add_test(tc, test_regions);
	tcase_add_test(tc, test_vring_config);

	tc = h_tcase(s, "shrunk", 60);
	tcase_add_test(tc, test_memfd_sealed);
	tcase_add_loop_test(tc, test_memfd_shrunk, 0, 2);
	tcase_add_test(tc, test_memfd_shrunk_main);
	tcase_add_test(tc, test_memfd_shrunk_flowing);
	return (s);
}

int
main(void)
{
	return (h_main("check_hostile_mem", hostile_mem_suite()));
}
