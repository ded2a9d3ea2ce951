/*
 * The malformed-input integration cases shared between
 * tests/check_integration_malformed.c (the table, the test, the message
 * cases and the checks below) and tests/integration_malformed_ring.c
 * (guest memory tables, vring messages, descriptor chains).
 */

#ifndef INTEGRATION_MALFORMED_H
#define INTEGRATION_MALFORMED_H

#include <stddef.h>
#include <stdint.h>

struct fe;
struct fe_daemon;

void	it_expect_nack(struct fe *, uint32_t, uint32_t, uint32_t,
	    const void *, size_t, const int *, int, int);
void	it_nack_ack(struct fe *, uint32_t, const void *, uint32_t,
	    const int *, int);
void	it_expect_error_reply(struct fe *, uint32_t, const void *, uint32_t,
	    uint32_t);

/* Cases on guest memory and rings (integration_malformed_ring.c). */
void	it_bad_mem_zero_regions(struct fe *, struct fe_daemon *);
void	it_bad_mem_nine_regions(struct fe *, struct fe_daemon *);
void	it_bad_mem_fd_count(struct fe *, struct fe_daemon *);
void	it_bad_mem_offset(struct fe *, struct fe_daemon *);
void	it_bad_mem_overlap(struct fe *, struct fe_daemon *);
void	it_bad_mem_zero_size(struct fe *, struct fe_daemon *);
void	it_bad_mem_not_mappable(struct fe *, struct fe_daemon *);
void	it_bad_kick_nofd(struct fe *, struct fe_daemon *);
void	it_bad_vring_index(struct fe *, struct fe_daemon *);
void	it_bad_vring_num(struct fe *, struct fe_daemon *);
void	it_bad_vring_addr(struct fe *, struct fe_daemon *);
void	it_bad_enable_early(struct fe *, struct fe_daemon *);
void	it_bad_add_mem_nofd(struct fe *, struct fe_daemon *);
void	it_bad_add_mem_overlap(struct fe *, struct fe_daemon *);
void	it_bad_rem_mem(struct fe *, struct fe_daemon *);
void	it_bad_desc_loop(struct fe *, struct fe_daemon *);
void	it_bad_desc_next(struct fe *, struct fe_daemon *);
void	it_bad_desc_addr(struct fe *, struct fe_daemon *);
void	it_bad_desc_end(struct fe *, struct fe_daemon *);
void	it_bad_desc_nested(struct fe *, struct fe_daemon *);
void	it_bad_desc_indirect_len(struct fe *, struct fe_daemon *);
void	it_bad_desc_indirect_loop(struct fe *, struct fe_daemon *);
void	it_bad_avail_head(struct fe *, struct fe_daemon *);
void	it_bad_avail_idx(struct fe *, struct fe_daemon *);

#endif /* INTEGRATION_MALFORMED_H */
