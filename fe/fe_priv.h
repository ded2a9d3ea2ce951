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

/* The packed-ring driver (fe_packed.c), called from the top of its split
 * counterparts in fe_ring.c when the queue is packed. */
struct fe;
struct fe_buf;
struct fe_queue;
int		 fe_packed_post(struct fe *, struct fe_queue *,
		    const struct fe_buf *, unsigned, unsigned);
int		 fe_packed_get_used(struct fe_queue *, uint32_t *,
		    uint32_t *);
int		 fe_packed_kick_needed(struct fe_queue *);
void		 fe_packed_want_call(struct fe_queue *);
uint16_t	 fe_packed_used_idx(const struct fe_queue *);
/* The count of chains posted before ring position `pos` (slot | wrap <<
 * 15): avail_idx when it is the next free slot, else the post count of
 * the outstanding chain starting there; 0xffffffff when none does. */
uint32_t	 fe_packed_count(const struct fe_queue *, uint16_t pos);

#endif /* VHOSTD_TESTS_FE_PRIV_H */
