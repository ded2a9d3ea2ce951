/*
 * Helpers for the blk module's frontend suites (check_blk_fe.c and
 * check_hostile_blk.c): a vhostd serving a blk device on a pattern-filled
 * image, a started frontend, and virtio-blk requests laid out in guest
 * memory in the ways a driver may lay them out.
 */

#ifndef VHOSTD_TESTS_BLK_FE_H
#define VHOSTD_TESTS_BLK_FE_H

#include <stdint.h>

#include "fe/fe.h"

#define BT_IMG_SECTORS	32768		/* 16 MiB images */
#define BT_BIT(b)	(1ull << (b))
#define BT_QSIZE	256
#define BT_SLOTS	256		/* header/status slots */

/* virtio-blk request types and status values. */
#define BLK_IN			0
#define BLK_OUT			1
#define BLK_FLUSH		4
#define BLK_GET_ID		8
#define BLK_DISCARD		11
#define BLK_WRITE_ZEROES	13
#define BLK_S_OK		0
#define BLK_S_IOERR		1
#define BLK_S_UNSUPP		2

/* Request layouts for bt_post_rw (any combination). */
#define L_HDR_SPLIT	0x01	/* header in two descriptors (5 + 11) */
#define L_DATA_WITH_HDR	0x02	/* OUT: header and data in one descriptor */
#define L_STATUS_SHARED	0x04	/* IN: status byte in the last data one */
#define L_SPLIT_DATA	0x08	/* data over four descriptors */
#define L_INDIRECT	0x10	/* one indirect descriptor */
#define L_STRADDLE	0x20	/* data across two guest memory regions */
#define L_UNALIGNED	0x40	/* data at an odd guest address */
#define L_ODD_SPLIT	0x80	/* data in pieces of odd lengths */
#define L_NOKICK	0x100	/* post without a kick */

struct bt {
	struct fe_daemon	*d;
	const char		*sock;
	char			 img[256];
	struct fe		*fe;
	uint64_t		 slots_gpa;	/* BT_SLOTS x 64 bytes */
	uint64_t		 data_gpa;	/* 8 x 128 KiB */
	uint64_t		 straddle_gpa;	/* 2 MiB: region 0 | 1 */
	unsigned		 slot_of[BT_QSIZE];
};

/* Byte i of the pattern of sector s for seed (periodic every 128
 * sectors, so one buffer serves any 64 KiB-aligned write). */
uint8_t	 bt_pat(uint64_t s, size_t i, int seed);
/* Make the image (in `dir`, NULL: the daemon's dir) and start vhostd
 * --module=blk on it with extra `--option`s (NULL-terminated). */
void	 bt_start(struct bt *, const char *name, const char *dir,
	    uint64_t sectors, const char *const *opts);
/* Connect a frontend, start queues 0..nq-1, lay out guest memory. */
void	 bt_connect(struct bt *, unsigned nq);
/* Free the frontend, stop the daemon (exit 0, no sanitizer report). */
void	 bt_stop(struct bt *);
/* Post an IN or OUT of `len` bytes at `sector` in header/status slot
 * `slot` with layout flags; OUT data is the pattern of seed.  Returns
 * the head or -1. */
int	 bt_post_rw(struct bt *, unsigned q, uint32_t type, uint64_t sector,
	    uint32_t len, int seed, unsigned slot, unsigned layout);
/* The status byte of the request with this head. */
uint8_t	 bt_status_of(struct bt *, uint32_t head);
/* Wait for the used entry of `head` (the only one outstanding): checks
 * the id and returns the used length, or aborts the test. */
uint32_t bt_wait(struct bt *, unsigned q, int head);
/* One IN or OUT, waited for; an IN answered OK is checked against the
 * pattern of seed (-1: zeroes).  Returns the status byte. */
uint8_t	 bt_rw(struct bt *, unsigned q, uint32_t type, uint64_t sector,
	    uint32_t len, int seed, unsigned layout, unsigned slot);
/* A request of a header and `wlen` writable bytes; its status. */
uint8_t	 bt_simple(struct bt *, unsigned q, uint32_t type, uint64_t sector,
	    uint32_t wlen);
/* GET_ID: the 20 bytes in id; the status. */
uint8_t	 bt_get_id(struct bt *, unsigned q, uint8_t *id);
/* DISCARD or WRITE_ZEROES of one range; the status. */
uint8_t	 bt_dwz(struct bt *, unsigned q, uint32_t type, uint64_t sector,
	    uint32_t num, int unmap);
/* Check image sectors [sector, sector + n) hold the pattern of seed
 * (-1: zeroes). */
void	 bt_check_image(struct bt *, uint64_t sector, uint64_t n, int seed);

#endif /* VHOSTD_TESTS_BLK_FE_H */
