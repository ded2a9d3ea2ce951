/*
 * Least privilege.  vhostd needs root (if at all) only to bind sockets in
 * protected directories and give them an owner; everything after that runs
 * as --user/--group under a seccomp filter.
 *
 * The filter is classic BPF built at run time from the tables below (no
 * libseccomp): check the architecture, refuse x32 system calls, then a
 * few calls whose arguments are checked (clone must create a thread, no
 * executable mappings, a fixed list of ioctls), then a flat allow list.
 * Anything else kills the process (SECCOMP_RET_KILL_PROCESS): a vhostd
 * that makes a system call it never makes is not vhostd any more.  Calls
 * refused on their arguments fail with an errno instead, because libc may
 * probe them (clone3 falls back to clone on ENOSYS, an unknown ioctl is
 * ENOTTY).
 *
 * The list covers the core (libevent epoll loop, eventfds, unix sockets,
 * SCM_RIGHTS, guest memory mmap/munmap, threads' futexes, logging to
 * stderr or syslog) and what the modules need: rng (getrandom, a source
 * file), console (pty: /dev/ptmx and its ioctls; TCP: inet sockets,
 * accept4), vsock (AF_VSOCK and unix sockets, connect, accept4) and blk
 * (io_uring_enter on rings made before the filter).
 * guest_fault.c needs nothing more: fcntl (F_ADD_SEALS), and in its
 * SIGBUS handler mmap (MAP_FIXED, never PROT_EXEC), write, rt_sigreturn,
 * and rt_sigaction and tgkill for the default action on a SIGBUS that is
 * not in guest memory.
 */

#include <sys/types.h>
#include <sys/ioctl.h>

#include <linux/userfaultfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "privsep.h"
#include "xmalloc.h"

#if defined(__x86_64__)
#define PRIVSEP_ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PRIVSEP_ARCH	AUDIT_ARCH_AARCH64
#endif

/* The sanitizer runtimes need more (LeakSanitizer stops the world with
 * ptrace from a forked helper; TSan has its own background thread). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PRIVSEP_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define PRIVSEP_SANITIZER 1
#endif
#endif
#ifndef PRIVSEP_SANITIZER
#define PRIVSEP_SANITIZER 0
#endif

/* The low 32 bits of syscall argument i (little endian only). */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "privsep.c: the seccomp filter assumes a little-endian machine"
#endif
#define PRIVSEP_ARG(i)	((uint32_t)offsetof(struct seccomp_data, args[i]))

#define PRIVSEP_MAX_INSNS 512

#ifndef TIOCGPTPEER
#define TIOCGPTPEER	_IO('T', 0x41)
#endif
/* <linux/vm_sockets.h>: IOCTL_VM_SOCKETS_GET_LOCAL_CID. */
#define PRIVSEP_VSOCK_GET_LOCAL_CID 0x7b9

/* System calls allowed with any arguments. */
static const int privsep_allowed[] = {
	/* I/O on fds we hold. */
	__NR_read, __NR_write, __NR_readv, __NR_writev, __NR_pread64,
	__NR_pwrite64, __NR_preadv, __NR_pwritev, __NR_close, __NR_lseek,
	__NR_fstat, __NR_newfstatat, __NR_statx, __NR_fcntl, __NR_dup,
	__NR_dup3, __NR_pipe2, __NR_fsync, __NR_fdatasync, __NR_ftruncate,
	__NR_fallocate, __NR_openat, __NR_unlinkat, __NR_memfd_create,
	__NR_getrandom,
	/* blk: its io_urings are set up (io_uring_setup, and
	 * io_uring_register for the eventfd) at create, before the filter;
	 * liburing then only submits and waits. */
	__NR_io_uring_enter,
	/* Ring fds are checked to be eventfds in /proc/self/fd. */
	__NR_readlinkat,
#ifdef __NR_open
	__NR_open,
#endif
#ifdef __NR_unlink
	__NR_unlink,
#endif
#ifdef __NR_stat
	__NR_stat, __NR_lstat,
#endif
#ifdef __NR_dup2
	__NR_dup2,
#endif
#ifdef __NR_pipe
	__NR_pipe,
#endif
	/* Sockets: unix (vhost-user, backend channel, syslog), vsock, inet
	 * (console over TCP). */
	__NR_socket, __NR_socketpair, __NR_connect, __NR_bind, __NR_listen,
	__NR_accept, __NR_accept4, __NR_shutdown, __NR_getsockopt,
	__NR_setsockopt, __NR_getsockname, __NR_getpeername, __NR_sendmsg,
	__NR_recvmsg, __NR_sendto, __NR_recvfrom, __NR_sendmmsg,
	__NR_recvmmsg,
	/* Event loops. */
	__NR_epoll_create1, __NR_epoll_ctl, __NR_epoll_pwait, __NR_ppoll,
	__NR_pselect6, __NR_eventfd2, __NR_timerfd_create,
	__NR_timerfd_settime, __NR_timerfd_gettime,
#ifdef __NR_epoll_create
	__NR_epoll_create,
#endif
#ifdef __NR_epoll_wait
	__NR_epoll_wait,
#endif
#ifdef __NR_epoll_pwait2
	__NR_epoll_pwait2,
#endif
#ifdef __NR_poll
	__NR_poll,
#endif
#ifdef __NR_select
	__NR_select,
#endif
#ifdef __NR_eventfd
	__NR_eventfd,
#endif
	/* Memory (mmap and mprotect are checked below). */
	__NR_munmap, __NR_mremap, __NR_madvise, __NR_brk,
	/* Postcopy migration (postcopy.c). */
	__NR_userfaultfd,
	/* Threads, signals, time. */
	__NR_futex, __NR_set_robust_list, __NR_rseq, __NR_exit,
	__NR_exit_group, __NR_rt_sigaction, __NR_rt_sigprocmask,
	__NR_rt_sigreturn, __NR_sigaltstack, __NR_tgkill, __NR_getpid,
	__NR_gettid, __NR_sched_yield, __NR_sched_getaffinity,
	__NR_restart_syscall, __NR_clock_gettime, __NR_clock_getres,
	__NR_clock_nanosleep, __NR_nanosleep, __NR_gettimeofday,
	__NR_getuid, __NR_geteuid, __NR_getgid, __NR_getegid,
	/* glibc's qsort asks for the amount of memory (sysconf). */
	__NR_sysinfo,
#ifdef __NR_time
	__NR_time,
#endif
	/* ctl: a reload creates devices under the filter (socket mode and
	 * owner, config paths resolved). */
	__NR_fchmodat, __NR_fchownat, __NR_getcwd,
	/* ... and puts each new socket in place with a rename (the path
	 * appears only once the socket listens). */
	__NR_renameat, __NR_renameat2,
#ifdef __NR_rename
	__NR_rename,
#endif
	/* ctl: and a blk device added by a reload sets up its rings under
	 * it.  No new power: rings made before the filter already run any
	 * io_uring operation, which seccomp does not see. */
	__NR_io_uring_setup, __NR_io_uring_register,
#ifdef __NR_chmod
	__NR_chmod,
#endif
#ifdef __NR_lchown
	__NR_lchown,
#endif
#ifdef __NR_readlink
	__NR_readlink,		/* realpath */
#endif
#ifdef __NR_access
	__NR_access,		/* the dynamic loader */
#endif
	__NR_faccessat,
};

/* ctl: set once the filter is installed (main thread). */
static int	privsep_confined_flag;

/* Is the seccomp filter installed?  Main thread. */
int
privsep_confined(void)
{
	return (privsep_confined_flag);
}

/* Extra system calls of the sanitizer runtimes (sanitizer builds only). */
static const int privsep_sanitizer_allowed[] = {
	__NR_ptrace, __NR_wait4, __NR_getdents64,
	__NR_prctl, __NR_prlimit64, __NR_uname, __NR_getppid, __NR_kill, __NR_tkill, __NR_mincore,
	__NR_msync, __NR_process_vm_readv, __NR_personality, __NR_getrusage,
#ifdef __NR_readlink
	__NR_readlink,
#endif
#ifdef __NR_getdents
	__NR_getdents,
#endif
#ifdef __NR_arch_prctl
	__NR_arch_prctl,
#endif
#ifdef __NR_getrlimit
	__NR_getrlimit,
#endif
};

/* The only ioctls allowed: fd flags, socket queue sizes, terminals and
 * ptys (console), and the local vsock CID. */
static const uint32_t privsep_ioctls[] = {
	FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, TIOCOUTQ, TCGETS, TCSETS,
	TCSETSW, TCSETSF, TCFLSH, TIOCGWINSZ, TIOCSWINSZ, TIOCGPTN,
	TIOCSPTLCK, TIOCGPTPEER, PRIVSEP_VSOCK_GET_LOCAL_CID,
	UFFDIO_API, UFFDIO_REGISTER, UFFDIO_UNREGISTER,
};

/* A filter under construction. */
struct privsep_prog {
	struct sock_filter	insns[PRIVSEP_MAX_INSNS];
	unsigned		n;
};

/* A user name or decimal uid; see privsep.h. */
int
privsep_user(const char *name, uid_t *uid, gid_t *gid, char **cause)
{
	struct passwd	*pw;
	char		*end;
	unsigned long	 v;

	errno = 0;
	if ((pw = getpwnam(name)) != NULL) {
		*uid = pw->pw_uid;
		if (gid != NULL)
			*gid = pw->pw_gid;
		return (0);
	}
	if (*name < '0' || *name > '9') {
		xasprintf(cause, "unknown user '%s'", name);
		return (-1);
	}
	v = strtoul(name, &end, 10);
	if (*end != '\0' || v >= PRIVSEP_NOID) {
		xasprintf(cause, "bad user '%s'", name);
		return (-1);
	}
	*uid = (uid_t)v;
	if (gid != NULL) {
		pw = getpwuid(*uid);
		*gid = pw != NULL ? pw->pw_gid : (gid_t)v;
	}
	return (0);
}

/* A group name or decimal gid; see privsep.h. */
int
privsep_group(const char *name, gid_t *gid, char **cause)
{
	struct group	*gr;
	char		*end;
	unsigned long	 v;

	if ((gr = getgrnam(name)) != NULL) {
		*gid = gr->gr_gid;
		return (0);
	}
	if (*name < '0' || *name > '9') {
		xasprintf(cause, "unknown group '%s'", name);
		return (-1);
	}
	v = strtoul(name, &end, 10);
	if (*end != '\0' || v >= PRIVSEP_NOID) {
		xasprintf(cause, "bad group '%s'", name);
		return (-1);
	}
	*gid = (gid_t)v;
	return (0);
}

/* Give a socket its owner and group; see privsep.h. */
int
privsep_chown(const char *path, uid_t uid, gid_t gid, char **cause)
{
	if (uid == (uid_t)PRIVSEP_NOID && gid == (gid_t)PRIVSEP_NOID)
		return (0);
	if (lchown(path, uid, gid) == -1) {
		xasprintf(cause, "%s: cannot set owner %d group %d: %s", path,
		    uid == (uid_t)PRIVSEP_NOID ? -1 : (int)uid,
		    gid == (gid_t)PRIVSEP_NOID ? -1 : (int)gid,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/* Check that the ids are what we set and root cannot come back. */
static int
privsep_verify(uid_t uid, gid_t gid, int set_uid, char **cause)
{
	uid_t	 ru, eu, su;
	gid_t	 rg, eg, sg, groups[2];
	int	 n;

	if (getresgid(&rg, &eg, &sg) == -1 || rg != gid || eg != gid ||
	    sg != gid) {
		xasprintf(cause, "group ids are not %u after setresgid",
		    (unsigned)gid);
		return (-1);
	}
	n = getgroups(2, groups);
	if (n < 0 || n > 1 || (n == 1 && groups[0] != gid)) {
		xasprintf(cause, "supplementary groups remain after "
		    "setgroups");
		return (-1);
	}
	if (!set_uid)
		return (0);
	if (getresuid(&ru, &eu, &su) == -1 || ru != uid || eu != uid ||
	    su != uid) {
		xasprintf(cause, "user ids are not %u after setresuid",
		    (unsigned)uid);
		return (-1);
	}
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		xasprintf(cause, "root privileges could be regained");
		return (-1);
	}
	return (0);
}

/* Become user/group; see privsep.h. */
int
privsep_drop(const char *user, const char *group, char **cause)
{
	uid_t	 uid = 0;
	gid_t	 gid = 0;

	if (user == NULL && group == NULL)
		return (0);
	if (user != NULL && privsep_user(user, &uid, &gid, cause) == -1)
		return (-1);
	if (group != NULL && privsep_group(group, &gid, cause) == -1)
		return (-1);
	if (setgroups(1, &gid) == -1) {
		xasprintf(cause, "setgroups(%u): %s", (unsigned)gid,
		    strerror(errno));
		return (-1);
	}
	if (setresgid(gid, gid, gid) == -1) {
		xasprintf(cause, "setresgid(%u): %s", (unsigned)gid,
		    strerror(errno));
		return (-1);
	}
	if (user != NULL && setresuid(uid, uid, uid) == -1) {
		xasprintf(cause, "setresuid(%u): %s", (unsigned)uid,
		    strerror(errno));
		return (-1);
	}
	if (privsep_verify(uid, gid, user != NULL, cause) == -1)
		return (-1);
	if (user != NULL)
		log_info("running as user %s (uid %u, gid %u)", user,
		    (unsigned)uid, (unsigned)gid);
	else
		log_info("running as group %s (gid %u)", group,
		    (unsigned)gid);
	return (0);
}

/* Append one instruction. */
static void
privsep_emit(struct privsep_prog *p, uint16_t code, uint8_t jt, uint8_t jf,
    uint32_t k)
{
	if (p->n >= PRIVSEP_MAX_INSNS)
		fatalx("%s: seccomp filter too long", __func__);
	p->insns[p->n].code = code;
	p->insns[p->n].jt = jt;
	p->insns[p->n].jf = jf;
	p->insns[p->n].k = k;
	p->n++;
}

/* "If nr == `nr` allow it"; A holds the syscall number. */
static void
privsep_emit_allow(struct privsep_prog *p, int nr)
{
	privsep_emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, (uint32_t)nr);
	privsep_emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
}

/*
 * "If nr == `nr`: allow when (arg & mask) == want, else `deny`".  A holds
 * the syscall number on entry and on fall-through.
 */
static void
privsep_emit_argmask(struct privsep_prog *p, int nr, unsigned arg,
    uint32_t mask, uint32_t want, uint32_t deny)
{
	privsep_emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 5, (uint32_t)nr);
	privsep_emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, PRIVSEP_ARG(arg));
	privsep_emit(p, BPF_ALU | BPF_AND | BPF_K, 0, 0, mask);
	privsep_emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, want);
	privsep_emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
	privsep_emit(p, BPF_RET | BPF_K, 0, 0, deny);
}

/* ioctl: allow only the requests in privsep_ioctls, ENOTTY otherwise. */
static void
privsep_emit_ioctl(struct privsep_prog *p)
{
	size_t	 i, n = nitems(privsep_ioctls);

	privsep_emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)(2 * n + 2),
	    __NR_ioctl);
	privsep_emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, PRIVSEP_ARG(1));
	for (i = 0; i < n; i++) {
		privsep_emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1,
		    privsep_ioctls[i]);
		privsep_emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
	}
	privsep_emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | ENOTTY);
}

/* Build the whole filter; `deny` is the action for unlisted calls. */
static void
privsep_build(struct privsep_prog *p, uint32_t deny)
{
	size_t	 i;

	p->n = 0;
	privsep_emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0,
	    offsetof(struct seccomp_data, arch));
	privsep_emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, PRIVSEP_ARCH);
	privsep_emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS);
	privsep_emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0,
	    offsetof(struct seccomp_data, nr));
#ifdef __x86_64__
	/* x32 system calls share the architecture: refuse them. */
	privsep_emit(p, BPF_JMP | BPF_JGE | BPF_K, 0, 1, 0x40000000);
	privsep_emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS);
#endif

	/* clone3 hides its flags in memory: glibc falls back to clone. */
	privsep_emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, __NR_clone3);
	privsep_emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS);
	if (PRIVSEP_SANITIZER) {
		/* LeakSanitizer forks its stop-the-world helper. */
		privsep_emit_allow(p, __NR_clone);
		privsep_emit_allow(p, __NR_mmap);
		privsep_emit_allow(p, __NR_mprotect);
		for (i = 0; i < nitems(privsep_sanitizer_allowed); i++)
			privsep_emit_allow(p, privsep_sanitizer_allowed[i]);
	} else {
		/* Threads only: no fork. */
		privsep_emit_argmask(p, __NR_clone, 0, CLONE_THREAD,
		    CLONE_THREAD, SECCOMP_RET_ERRNO | EPERM);
		/* No new executable memory. */
		privsep_emit_argmask(p, __NR_mmap, 2, PROT_EXEC, 0,
		    SECCOMP_RET_ERRNO | EPERM);
		privsep_emit_argmask(p, __NR_mprotect, 2, PROT_EXEC, 0,
		    SECCOMP_RET_ERRNO | EPERM);
		/* ctl: a worker started by a reload names itself. */
		privsep_emit_argmask(p, __NR_prctl, 0, 0xffffffffU,
		    PR_SET_NAME, SECCOMP_RET_ERRNO | EPERM);
	}
	privsep_emit_ioctl(p);
	for (i = 0; i < nitems(privsep_allowed); i++)
		privsep_emit_allow(p, privsep_allowed[i]);
	privsep_emit(p, BPF_RET | BPF_K, 0, 0, deny);
}

/* Format an unsigned number into buf (async-signal-safe); its length. */
static size_t
privsep_utoa(char *buf, unsigned long v)
{
	char	 tmp[24];
	size_t	 n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && n < sizeof tmp);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return (n);
}

/* SIGSYS in VHOSTD_SECCOMP_DEBUG mode: log the call number, then die of
 * SIGSYS.  Async-signal-safe. */
static void
privsep_sigsys(int sig, siginfo_t *si, void *uc __unused)
{
	static const char pre[] = "vhostd: seccomp: system call ";
	static const char post[] = " is not allowed\n";
	char		 buf[sizeof pre + sizeof post + 24];
	size_t		 n;

	memcpy(buf, pre, sizeof pre - 1);
	n = sizeof pre - 1;
	n += privsep_utoa(buf + n, (unsigned long)si->si_syscall);
	memcpy(buf + n, post, sizeof post - 1);
	n += sizeof post - 1;
	(void)write(STDERR_FILENO, buf, n);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Install the filter on every thread; see privsep.h. */
int
privsep_seccomp(char **cause)
{
#ifdef PRIVSEP_ARCH
	struct privsep_prog	*p;
	struct sock_fprog	 fprog;
	struct sigaction	 sa;
	uint32_t		 deny = SECCOMP_RET_KILL_PROCESS;
	long			 rc;

	if (getenv("VHOSTD_SECCOMP_DEBUG") != NULL) {
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = privsep_sigsys;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSYS, &sa, NULL) == -1) {
			xasprintf(cause, "sigaction(SIGSYS): %s",
			    strerror(errno));
			return (-1);
		}
		deny = SECCOMP_RET_TRAP;
		log_warnx("seccomp: debug mode, forbidden system calls are "
		    "trapped and logged");
	}
	p = xcalloc(1, sizeof *p);
	privsep_build(p, deny);
	fprog.len = (unsigned short)p->n;
	fprog.filter = p->insns;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		xasprintf(cause, "prctl(PR_SET_NO_NEW_PRIVS): %s",
		    strerror(errno));
		free(p);
		return (-1);
	}
	/* TSYNC: the workers, already running, get the filter too (and
	 * no_new_privs with it); a positive return names a thread that
	 * could not be synchronised. */
	rc = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER,
	    SECCOMP_FILTER_FLAG_TSYNC, &fprog);
	free(p);
	if (rc != 0) {
		if (rc > 0)
			xasprintf(cause, "seccomp: thread %ld cannot take the "
			    "filter", rc);
		else
			xasprintf(cause, "seccomp: %s", strerror(errno));
		return (-1);
	}
	privsep_confined_flag = 1;
	log_info("seccomp filter installed (%u instructions)",
	    (unsigned)fprog.len);
	return (0);
#else
	xasprintf(cause, "seccomp filter not supported on this architecture "
	    "(use --no-seccomp)");
	return (-1);
#endif
}
