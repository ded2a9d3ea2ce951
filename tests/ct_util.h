/*
 * Helpers shared by check_control and check_pool: shell commands and
 * vhostctl runs with their output, rng configs, a daemon started on one,
 * frontends on its sockets.  Each assertion says what it saw.
 */

#ifndef VHOSTD_TESTS_CT_UTIL_H
#define VHOSTD_TESTS_CT_UTIL_H

#include <stddef.h>

/* TSan's runtime runs a thread of its own in the daemon. */
#if defined(__SANITIZE_THREAD__)
#define CT_SAN_THREADS	1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CT_SAN_THREADS	1
#endif
#endif
#ifndef CT_SAN_THREADS
#define CT_SAN_THREADS	0
#endif

#define CT_START_MS	30000
#define CT_STOP_MS	20000
#define CT_QSIZE	64

struct fe;
struct fe_daemon;

/* Run a shell command, its output (stdout and stderr) in out; the exit
 * status (128 when killed). */
int		 ct_sh(char *out, size_t size, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
/* vhostctl ARGS against control socket `ctl`; exit status, output in
 * out. */
int		 ct_ctl(const char *ctl, char *out, size_t size,
		    const char *args);
/* vhostctl --json ARGS, checked by Python's JSON parser, which then
 * prints `expr` of the document `d` into out.  Exit status of the parser
 * (0: valid JSON and expr found); vhostctl's own failure is asserted with
 * its output. */
int		 ct_json(struct fe_daemon *d, const char *ctl, char *out,
		    size_t size, const char *args, const char *expr);
/* A config of rng devices `names` (NULL-terminated) with control socket
 * and optional extra global lines; written to d's dir as `file`. */
const char	*ct_conf(struct fe_daemon *d, const char *file,
		    const char *extra, const char *const *names);
/* Start vhostd on config `conf` waiting for the sockets of `names` (at
 * most 7) and the control socket. */
void		 ct_start(struct fe_daemon *d, const char *conf,
		    const char *const *names);
/* A started frontend on socket NAME.sock of d, queues of `qsize`. */
struct fe	*ct_fe(struct fe_daemon *d, const char *name, unsigned qsize);

/* vhostctl ARGS must exit `want`; the output is in `out` (an array). */
#define CT_CTL(ctl, out, args, want) do {				\
	int	 ct_rc_ = ct_ctl((ctl), (out), sizeof (out), (args));	\
	ck_assert_msg(ct_rc_ == (want), "vhostctl %s: exit %d not %d, "	\
	    "output: '%s'", (args), ct_rc_, (want), (out));		\
} while (0)

/* vhostctl --json ARGS must give JSON with `expr` printed as `want`. */
#define CT_JSON(d, ctl, out, args, expr, want) do {			\
	int	 ct_rc_ = ct_json((d), (ctl), (out), sizeof (out),	\
		    (args), (expr));					\
	ck_assert_msg(ct_rc_ == 0, "vhostctl --json %s: the parser "	\
	    "exited %d: '%s'", (args), ct_rc_, (out));			\
	ck_assert_msg(strcmp((out), (want)) == 0, "vhostctl --json %s: "\
	    "%s is '%s', not '%s'", (args), (expr), (out), (want));	\
} while (0)

#endif /* VHOSTD_TESTS_CT_UTIL_H */
