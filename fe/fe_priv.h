/*
 * What the pieces of the test frontend library share and fe.h does not
 * export.
 */

#ifndef VHOSTD_TESTS_FE_PRIV_H
#define VHOSTD_TESTS_FE_PRIV_H

#include <stdint.h>

/* Record an error message for fe_error(); keeps errno. */
void		 fe_seterr(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
/* The monotonic clock in nanoseconds. */
uint64_t	 fe_now_ns(void);
/* Sleep for `ms` milliseconds (EINTR resumed). */
void		 fe_sleep_ms(int ms);

#endif /* VHOSTD_TESTS_FE_PRIV_H */
