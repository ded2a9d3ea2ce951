/*
 * The hostile suites' harness (tests/check_hostile_*.c and
 * tests/check_packed_hostile.c): one daemon serving two rng devices
 * (rng0 and rng1, --socket-count=2); every case abuses rng0 while a
 * well-behaved frontend keeps rng1 busy, then h_check() asserts that the
 * daemon lives, rng1 still serves on its existing connection, rng0 serves
 * a fresh frontend and the daemon holds no more fds than before, and
 * h_stop() that it exits 0 on SIGTERM without a sanitizer report.
 * Its functions carry the short prefix h_ the suites have always used.
 */

#ifndef HOSTILE_HARNESS_H
#define HOSTILE_HARNESS_H

#include <sys/types.h>

#include <check.h>
#include <stdint.h>

struct fe;
struct fe_daemon;

/* How long to wait for the daemon to log or signal something: generous,
 * for a loaded CI machine (a pass comes as soon as it happens). */
#define H_WAIT_MS	20000

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
	int			 packed;	/* frontends use packed rings */
};

/* Random numbers for payloads; seeded per test, so failures repeat. */
extern uint64_t	h_rng_state;

uint64_t	 h_rand(void);
int		 h_sanitized(void);
int		 h_getrandom_ok(void);
int		 h_nfds(pid_t);
long		 h_status(pid_t, const char *);
long		 h_cputime(pid_t);
void		 h_read(struct fe *);
struct fe	*h_fe(const char *);
struct fe	*h_fe_packed(const char *, uint64_t, unsigned);
void		 h_start_args(struct h *, const char *,
		     const char *const *);
void		 h_start(struct h *, const char *);
void		 h_start_packed(struct h *, const char *);
void		 h_close(struct h *, struct fe *);
void		 h_check(struct h *, const char *);
void		 h_stop(struct h *);
struct fe	*h_fe_negotiated(struct h *);
struct fe	*h_fe_on(const char *);
void		 h_sync(struct fe *, const char *);
void		 h_refused(struct fe *, uint32_t, const void *, uint32_t,
		     const int *, int, uint32_t, const char *);
int		 h_memfd(off_t);
void		 h_copy_module(struct fe_daemon *, const char *,
		     const char *);
void		 h_reap(void);
TCase		*h_tcase(Suite *, const char *, int);
int		 h_main(const char *, Suite *);

#endif /* HOSTILE_HARNESS_H */
