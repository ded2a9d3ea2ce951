/*
 * The integration suites' harness (tests/check_integration_*.c): each
 * test starts its own vhostd serving one rng device in its own temp dir
 * and drives it with the test frontend (fe/) as a VMM and a guest driver
 * would.  A test that fails leaves its daemon dir behind; the runner
 * prints that daemon's log and removes it (it_reap).
 */

#ifndef INTEGRATION_HARNESS_H
#define INTEGRATION_HARNESS_H

#include <sys/types.h>

#include <check.h>
#include <stdint.h>

struct fe;
struct fe_daemon;

#define IT_START_MS	10000
#define IT_STOP_MS	10000
#define IT_QSIZE	256

/* A running daemon with one rng device and its frontend socket. */
struct it {
	struct fe_daemon	*d;
	const char		*sock;
};

void		 it_start(struct it *, const char *, const char *const *);
void		 it_stop(struct it *);
struct fe	*it_fe(const char *);
void		 it_read(struct fe *, void *, size_t, size_t, unsigned, int);
void		 it_read_some(struct fe *);
void		 it_close(struct it *, struct fe *, int);
void		 it_reap(void);
int		 it_main(const char *, Suite *);

#endif /* INTEGRATION_HARNESS_H */
