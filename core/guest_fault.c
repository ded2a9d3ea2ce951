/*
 * Guest memory files shrunk under our mappings: F_SEAL_SHRINK where the
 * file allows it, SIGBUS recovery where it does not.  guest_fault.h says
 * what each mechanism does and why; this file says how.
 *
 * The registry is a singly-linked list of slots that are never freed
 * while the daemon runs (a slot whose mapping goes is put on a free list
 * and reused), so the signal handler can walk it at any moment without a
 * lock.  Only the main thread writes slots, under guest_fault_lock, each
 * rewrite bracketed by a sequence count (a seqlock: odd while writing);
 * readers on other threads and in the handler skip a slot whose count
 * was odd or changed under them.  The slot a faulting thread looks for
 * cannot change under it: the thread is inside a callback using that
 * mapping, and a mapping is unregistered (then unmapped) only after every
 * worker has passed a quiescent point (device_set_mem).  Everything the
 * handler touches is a lock-free atomic, a plain field written before
 * the handler was installed, or a raw system call (mmap, write), so it is
 * async-signal-safe.  It does not go through the libc mmap wrapper, which
 * sanitizers intercept: the new mapping covers addresses they already
 * treat as ours.
 *
 * The seccomp filter (privsep.c) allows what the handler needs: mmap
 * without PROT_EXEC, write, rt_sigreturn, and rt_sigaction and tgkill for
 * the default action on a SIGBUS that is not ours.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "device.h"
#include "guest_fault.h"
#include "log.h"
#include "xmalloc.h"

/* The handler may only use atomics that need no lock. */
_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2, "lock-free pointers");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "lock-free ints");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "lock-free 64-bit words");

/* Fallback replacement sizes when the whole mapping cannot be replaced:
 * a base page, then the huge page sizes hugetlbfs mappings need. */
#define GUEST_FAULT_HUGE_2M	(2UL << 20)
#define GUEST_FAULT_HUGE_1G	(1UL << 30)

enum guest_fault_state {
	GUEST_FAULT_NONE,	/* no SIGBUS */
	GUEST_FAULT_PENDING,	/* SIGBUS caught, not reported yet */
	GUEST_FAULT_REPORTED,	/* logged, owner failed */
};

struct guest_fault_slot {
	atomic_uint		 seq;	/* odd while being written */
	atomic_uintptr_t	 start;	/* the mapping: [start, end); */
	atomic_uintptr_t	 end;	/* 0, 0 when the slot is free */
	atomic_uintptr_t	 host;	/* host address of gpa */
	_Atomic uint64_t	 gpa;
	_Atomic uint64_t	 size;
	_Atomic(struct device *) owner;
	atomic_int		 state;	/* enum guest_fault_state */
	atomic_uintptr_t	 addr;	/* the first faulting address */

	/* Every slot ever made; written once, before it is linked. */
	struct guest_fault_slot	*next;
	/* Free slots; under guest_fault_lock. */
	struct guest_fault_slot	*free_next;
};

/* The registry.  Writers hold guest_fault_lock. */
static _Atomic(struct guest_fault_slot *) guest_fault_head;
static struct guest_fault_slot *guest_fault_free;
static pthread_mutex_t	 guest_fault_lock = PTHREAD_MUTEX_INITIALIZER;

/* Faults caught; the eventfd the handler wakes the main thread with. */
static atomic_ulong	 guest_fault_nfaults;
static atomic_int	 guest_fault_efd = -1;

/* Set by guest_fault_init before the handler is installed. */
static struct sigaction	 guest_fault_old;
static int		 guest_fault_installed;
static size_t		 guest_fault_pagesize;
static struct event	*guest_fault_ev;

/* Begin rewriting a slot.  Main thread, guest_fault_lock held. */
static void
guest_fault_write_begin(struct guest_fault_slot *s)
{
	unsigned	 q;

	q = atomic_load_explicit(&s->seq, memory_order_relaxed);
	atomic_store_explicit(&s->seq, q + 1, memory_order_relaxed);
	/* Orders the odd count before the field stores that follow. */
	atomic_thread_fence(memory_order_release);
}

/* End rewriting a slot.  Main thread, guest_fault_lock held. */
static void
guest_fault_write_end(struct guest_fault_slot *s)
{
	unsigned	 q;

	q = atomic_load_explicit(&s->seq, memory_order_relaxed);
	/* Release: the field stores before the even count. */
	atomic_store_explicit(&s->seq, q + 1, memory_order_release);
}

/*
 * Read a slot's mapping and owner consistently: 0, or -1 when it is
 * being rewritten.  Any thread, and the signal handler.
 */
static int
guest_fault_read(struct guest_fault_slot *s, uintptr_t *start,
    uintptr_t *end, struct device **owner)
{
	unsigned	 q;

	q = atomic_load_explicit(&s->seq, memory_order_acquire);
	if (q & 1)
		return (-1);
	*start = atomic_load_explicit(&s->start, memory_order_relaxed);
	*end = atomic_load_explicit(&s->end, memory_order_relaxed);
	if (owner != NULL)
		*owner = atomic_load_explicit(&s->owner,
		    memory_order_relaxed);
	/* Orders the field loads before the second look at the count. */
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&s->seq, memory_order_relaxed) != q)
		return (-1);
	return (0);
}

/* The registered slot whose mapping holds addr, with its bounds, or
 * NULL.  Async-signal-safe. */
static struct guest_fault_slot *
guest_fault_lookup(uintptr_t addr, uintptr_t *start, uintptr_t *end)
{
	struct guest_fault_slot	*s;

	for (s = atomic_load_explicit(&guest_fault_head, memory_order_acquire);
	    s != NULL; s = s->next) {
		if (guest_fault_read(s, start, end, NULL) == 0 &&
		    addr >= *start && addr < *end)
			return (s);
	}
	return (NULL);
}

/* Map zero-filled private memory at [p, p+len).  0 or -1.  A raw system
 * call: async-signal-safe and not intercepted. */
static int
guest_fault_map_anon(uintptr_t p, size_t len)
{
	long	 r;

	/* syscall(2) reads every argument as a long. */
	r = syscall(SYS_mmap, (long)p, (long)len, (long)(PROT_READ |
	    PROT_WRITE), (long)(MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS |
	    MAP_NORESERVE), -1L, 0L);
	return (r == (long)p ? 0 : -1);
}

/*
 * Replace the mapping [start, end) holding addr with anonymous memory:
 * all of it (one fault per region, whatever is touched next), else the
 * page of addr at the smallest granularity that works (a strict
 * overcommit policy may refuse a large private mapping; hugetlbfs
 * mappings split only at huge-page boundaries).  Async-signal-safe.
 */
static int
guest_fault_replace(uintptr_t start, uintptr_t end, uintptr_t addr)
{
	const size_t	 sizes[] = { guest_fault_pagesize,
			    GUEST_FAULT_HUGE_2M, GUEST_FAULT_HUGE_1G };
	uintptr_t	 p;
	size_t		 i;

	if (guest_fault_map_anon(start, end - start) == 0)
		return (0);
	for (i = 0; i < nitems(sizes); i++) {
		if (sizes[i] == 0)
			continue;
		p = addr & ~(uintptr_t)(sizes[i] - 1);
		if (p < start || p + sizes[i] > end)
			break;
		if (guest_fault_map_anon(p, sizes[i]) == 0)
			return (0);
	}
	return (-1);
}

/* Not ours: run the previous handler, else the default action (the
 * signal stays blocked until we return, then kills).  Signal handler. */
static void
guest_fault_chain(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction	*old = &guest_fault_old;
	struct sigaction	 dfl;

	if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction != NULL) {
		old->sa_sigaction(sig, si, uc);
		return;
	}
	if (!(old->sa_flags & SA_SIGINFO) && old->sa_handler != SIG_DFL &&
	    old->sa_handler != SIG_IGN && old->sa_handler != NULL) {
		old->sa_handler(sig);
		return;
	}
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	raise(sig);
}

/*
 * SIGBUS: in a registered guest mapping, replace it, record the fault and
 * wake the main thread, and return so the access completes; anywhere
 * else, chain.  A SIGBUS sent by a process (si_code <= 0) has no
 * meaningful address and is never ours.  Signal handler, any thread.
 */
static void
guest_fault_handler(int sig, siginfo_t *si, void *uc)
{
	struct guest_fault_slot	*s;
	uintptr_t		 addr, start, end;
	uint64_t		 one = 1;
	int			 saved_errno = errno, expected, efd;

	addr = (uintptr_t)si->si_addr;
	if (si->si_code <= 0 ||
	    (s = guest_fault_lookup(addr, &start, &end)) == NULL ||
	    guest_fault_replace(start, end, addr) == -1) {
		guest_fault_chain(sig, si, uc);
		errno = saved_errno;
		return;
	}
	expected = GUEST_FAULT_NONE;
	if (atomic_load_explicit(&s->state, memory_order_relaxed) ==
	    GUEST_FAULT_NONE)
		atomic_store_explicit(&s->addr, addr, memory_order_relaxed);
	/* Release: the address before the state readers check. */
	atomic_compare_exchange_strong_explicit(&s->state, &expected,
	    GUEST_FAULT_PENDING, memory_order_release, memory_order_relaxed);
	atomic_fetch_add_explicit(&guest_fault_nfaults, 1,
	    memory_order_release);
	efd = atomic_load_explicit(&guest_fault_efd, memory_order_relaxed);
	if (efd >= 0)
		(void)write(efd, &one, sizeof one);
	errno = saved_errno;
}

/* The guest-physical address of a slot's faulting address (the region's
 * start when it lies before the region, in the mmap offset). */
static uint64_t
guest_fault_gpa(struct guest_fault_slot *s)
{
	uintptr_t	 addr, host;
	uint64_t	 gpa, size;

	addr = atomic_load_explicit(&s->addr, memory_order_relaxed);
	host = atomic_load_explicit(&s->host, memory_order_relaxed);
	gpa = atomic_load_explicit(&s->gpa, memory_order_relaxed);
	size = atomic_load_explicit(&s->size, memory_order_relaxed);
	if (addr >= host && addr - host < size)
		return (gpa + (addr - host));
	return (gpa);
}

/*
 * Report a pending fault once: log it and, with `fail`, fail the owner.
 * Main thread (the only writer of slots, so the fields are stable).
 */
static int
guest_fault_report(struct guest_fault_slot *s, int fail)
{
	struct device	*owner;
	int		 expected = GUEST_FAULT_PENDING;

	if (!atomic_compare_exchange_strong_explicit(&s->state, &expected,
	    GUEST_FAULT_REPORTED, memory_order_acquire, memory_order_relaxed))
		return (0);
	owner = atomic_load_explicit(&s->owner, memory_order_relaxed);
	log_warnx("%s: guest memory region at gpa 0x%llx (0x%llx bytes): "
	    "SIGBUS at gpa 0x%llx: the frontend shrank the file under the "
	    "mapping; the region reads as zeros until the next memory table",
	    owner != NULL ? owner->name : "?",
	    (unsigned long long)atomic_load(&s->gpa),
	    (unsigned long long)atomic_load(&s->size),
	    (unsigned long long)guest_fault_gpa(s));
	if (fail && owner != NULL)
		device_fail(owner, "guest memory at gpa 0x%llx is gone: the "
		    "frontend shrank the file under the mapping (SIGBUS)",
		    (unsigned long long)guest_fault_gpa(s));
	return (1);
}

/*
 * Report every pending fault; how many.  Main thread: slots change only
 * on this thread, so no lock is needed, and none is held while
 * device_fail runs.
 */
unsigned
guest_fault_process(void)
{
	struct guest_fault_slot	*s;
	unsigned		 n = 0;

	for (s = atomic_load(&guest_fault_head); s != NULL; s = s->next) {
		if (atomic_load(&s->start) != 0)
			n += (unsigned)guest_fault_report(s, 1);
	}
	return (n);
}

/* The handler wrote the eventfd: report.  Main thread. */
static void
guest_fault_efd_cb(evutil_socket_t fd, short events, void *arg)
{
	eventfd_t	 v;

	(void)events;
	(void)arg;
	if (eventfd_read(fd, &v) == -1 && errno != EAGAIN)
		log_warn("%s: eventfd", __func__);
	guest_fault_process();
}

/* Install the handler and the reporting event; see guest_fault.h. */
int
guest_fault_init(struct event_base *base, char **cause)
{
	struct sigaction	 sa;
	long			 pg;
	int			 efd = -1;

	if (guest_fault_installed) {
		xasprintf(cause, "SIGBUS handler already installed");
		return (-1);
	}
	pg = sysconf(_SC_PAGESIZE);
	guest_fault_pagesize = pg > 0 ? (size_t)pg : 4096;
	if (base != NULL) {
		if ((efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
			xasprintf(cause, "guest memory faults: eventfd: %s",
			    strerror(errno));
			return (-1);
		}
		guest_fault_ev = event_new(base, efd, EV_READ | EV_PERSIST,
		    guest_fault_efd_cb, NULL);
		if (guest_fault_ev == NULL ||
		    event_add(guest_fault_ev, NULL) == -1) {
			xasprintf(cause, "guest memory faults: cannot watch "
			    "the eventfd");
			goto fail;
		}
		atomic_store(&guest_fault_efd, efd);
	}

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = guest_fault_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &guest_fault_old) == -1) {
		xasprintf(cause, "sigaction(SIGBUS): %s", strerror(errno));
		goto fail;
	}
	guest_fault_installed = 1;
	return (0);

fail:
	atomic_store(&guest_fault_efd, -1);
	if (guest_fault_ev != NULL)
		event_free(guest_fault_ev);
	guest_fault_ev = NULL;
	if (efd != -1)
		close(efd);
	return (-1);
}

/* Undo guest_fault_init and free the registry; see guest_fault.h. */
void
guest_fault_fini(void)
{
	struct guest_fault_slot	*s, *next;
	int			 efd;

	if (guest_fault_installed) {
		sigaction(SIGBUS, &guest_fault_old, NULL);
		guest_fault_installed = 0;
	}
	if (guest_fault_ev != NULL) {
		event_free(guest_fault_ev);
		guest_fault_ev = NULL;
	}
	if ((efd = atomic_exchange(&guest_fault_efd, -1)) != -1)
		close(efd);

	pthread_mutex_lock(&guest_fault_lock);
	for (s = atomic_load(&guest_fault_head); s != NULL; s = s->next) {
		if (atomic_load(&s->start) != 0) {
			/* A region outlived its device: keep the slots. */
			pthread_mutex_unlock(&guest_fault_lock);
			log_warnx("%s: guest memory still mapped", __func__);
			return;
		}
	}
	s = atomic_exchange(&guest_fault_head, NULL);
	guest_fault_free = NULL;
	pthread_mutex_unlock(&guest_fault_lock);
	for (; s != NULL; s = next) {
		next = s->next;
		free(s);
	}
}

/* Seal a memfd against shrinking when possible; see guest_fault.h. */
int
guest_fault_seal(int fd)
{
	int	 seals;

	/* EINVAL: not a file that has seals (only shmem and hugetlbfs
	 * files have them; a tmpfs file that is not a memfd reports
	 * F_SEAL_SEAL). */
	if ((seals = fcntl(fd, F_GET_SEALS)) == -1)
		return (0);
	if (seals & F_SEAL_SHRINK)
		return (1);
	if (seals & F_SEAL_SEAL)
		return (0);
	/* EPERM when the fd is not open for writing; the mmap fails then
	 * too. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == -1)
		return (0);
	return (1);
}

/* Register a guest mapping; see guest_fault.h. */
struct guest_fault_slot *
guest_fault_register(void *addr, size_t len, const void *host, uint64_t gpa,
    uint64_t size)
{
	struct guest_fault_slot	*s;

	pthread_mutex_lock(&guest_fault_lock);
	if ((s = guest_fault_free) != NULL)
		guest_fault_free = s->free_next;
	else {
		/* Free (0, 0) until the seqlocked write below; linked with
		 * release so a reader sees its initialised fields. */
		s = xcalloc(1, sizeof *s);
		s->next = atomic_load(&guest_fault_head);
		atomic_store_explicit(&guest_fault_head, s,
		    memory_order_release);
	}
	s->free_next = NULL;
	guest_fault_write_begin(s);
	atomic_store_explicit(&s->start, (uintptr_t)addr,
	    memory_order_relaxed);
	atomic_store_explicit(&s->end, (uintptr_t)addr + len,
	    memory_order_relaxed);
	atomic_store_explicit(&s->host, (uintptr_t)host, memory_order_relaxed);
	atomic_store_explicit(&s->gpa, gpa, memory_order_relaxed);
	atomic_store_explicit(&s->size, size, memory_order_relaxed);
	atomic_store_explicit(&s->owner, NULL, memory_order_relaxed);
	atomic_store_explicit(&s->addr, 0, memory_order_relaxed);
	atomic_store_explicit(&s->state, GUEST_FAULT_NONE,
	    memory_order_relaxed);
	guest_fault_write_end(s);
	pthread_mutex_unlock(&guest_fault_lock);
	return (s);
}

/*
 * Forget a mapping.  A fault not reported yet is logged now, without
 * failing the owner: its memory is going away (a reset or a new table),
 * and failing it now would break the device the reset just repaired.
 * Main thread.
 */
void
guest_fault_unregister(struct guest_fault_slot *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&guest_fault_lock);
	guest_fault_report(s, 0);
	guest_fault_write_begin(s);
	atomic_store_explicit(&s->start, 0, memory_order_relaxed);
	atomic_store_explicit(&s->end, 0, memory_order_relaxed);
	atomic_store_explicit(&s->owner, NULL, memory_order_relaxed);
	atomic_store_explicit(&s->state, GUEST_FAULT_NONE,
	    memory_order_relaxed);
	guest_fault_write_end(s);
	s->free_next = guest_fault_free;
	guest_fault_free = s;
	pthread_mutex_unlock(&guest_fault_lock);
}

/* Set the device a mapping belongs to.  Main thread. */
void
guest_fault_set_owner(struct guest_fault_slot *s, struct device *dev)
{
	if (s == NULL ||
	    atomic_load_explicit(&s->owner, memory_order_relaxed) == dev)
		return;
	pthread_mutex_lock(&guest_fault_lock);
	guest_fault_write_begin(s);
	atomic_store_explicit(&s->owner, dev, memory_order_relaxed);
	guest_fault_write_end(s);
	pthread_mutex_unlock(&guest_fault_lock);
}

/* Has the mapping faulted?  Any thread. */
int
guest_fault_faulted(const struct guest_fault_slot *s)
{
	return (s != NULL && atomic_load_explicit(&s->state,
	    memory_order_acquire) != GUEST_FAULT_NONE);
}

/* Faults caught since start.  Any thread. */
unsigned long
guest_fault_count(void)
{
	return (atomic_load_explicit(&guest_fault_nfaults,
	    memory_order_acquire));
}

/* Give device_fail the real reason when dev's memory faulted; see
 * guest_fault.h.  Any thread. */
void
guest_fault_explain(struct device *dev, char *reason, size_t len)
{
	struct guest_fault_slot	*s;
	struct device		*owner;
	uintptr_t		 start, end;

	/* The common case: no fault ever, one load. */
	if (guest_fault_count() == 0)
		return;
	for (s = atomic_load_explicit(&guest_fault_head, memory_order_acquire);
	    s != NULL; s = s->next) {
		if (guest_fault_read(s, &start, &end, &owner) == -1 ||
		    owner != dev || start == 0 || !guest_fault_faulted(s))
			continue;
		snprintf(reason, len, "guest memory at gpa 0x%llx is gone: "
		    "the frontend shrank the file under the mapping (SIGBUS)",
		    (unsigned long long)guest_fault_gpa(s));
		return;
	}
}
