/*
 * Helpers of the blk module's unit suites; see blk_fake.c.
 */

#ifndef VHOSTD_TESTS_BLK_FAKE_H
#define VHOSTD_TESTS_BLK_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include <vhostd/vhostd.h>

#define BF_SECTORS	2048		/* 1 MiB images */
#define BF_ALL		(~0ULL)		/* every feature acked */

struct blk_queue;

/*
 * Descriptor layouts.  hdr_split: the header in two buffers split there
 * (0: one buffer); with_hdr: the data starts in the header's buffer (OUT)
 * or the status byte shares the last data buffer (IN); pieces: the data
 * over this many buffers.
 */
struct bf_lay {
	size_t		 hdr_split;
	int		 shared;
	unsigned	 pieces;
};

/* One data buffer, the header whole, the status byte alone. */
extern const struct bf_lay bf_plain;
/* The temp dir of the running test (bf_setup). */
extern char bf_tmpdir[64];

/* Make a temporary directory for the test's images. */
void	bf_setup(void);
/* Remove the temporary directory (and a ramfs mounted on it). */
void	bf_teardown(void);
/* Byte i of the test pattern for sector s. */
uint8_t	bf_pat(uint64_t s, size_t i, uint8_t seed);
/* Make an image `dir/name` of `sectors` sectors, each filled with the
 * pattern of seed 0; return its path (static buffer). */
const char	*bf_image_in(const char *dir, const char *name, uint64_t sectors);
/* The same in bf_tmpdir. */
const char	*bf_image(const char *name, uint64_t sectors);
/* Create a blk device with these keys; the test fails if create does. */
struct vhd_dev	*bf_dev(const struct vhd_kv *kv, size_t nkv);
/* Create with these keys and expect failure; return the cause. */
char	*bf_fail(const struct vhd_kv *kv, size_t nkv);
/* The module's state for queue i. */
struct blk_queue *bf_queue(struct vhd_dev *dev, unsigned i);
/* A 16-byte request header. */
void	bf_hdr(uint8_t *h, uint32_t type, uint64_t sector);
/* Fire queue i's completion watch until `n` chains were pushed, waiting
 * for the ring's eventfd (10 s at most). */
void	bf_wait(struct vhd_dev *dev, unsigned i, unsigned n);
/* Ack every feature and start queue q of dev. */
void	bf_start(struct vhd_dev *dev, struct vhd_queue *q);
/* Kick q and wait until queue 0 of dev has pushed `n` chains. */
void	bf_kick_wait(struct vhd_dev *dev, struct vhd_queue *q, unsigned n);
/* Stop q, check that dev recorded no API misuse, and free dev. */
void	bf_finish(struct vhd_dev *dev, struct vhd_queue *q);
/* Post an OUT of `len` pattern bytes (seed) at `sector`. */
struct vhd_chain *bf_out(struct vhd_queue *q, uint64_t sector, size_t len,
	    uint8_t seed, const struct bf_lay *l);
/* Post an IN of `len` bytes at `sector`. */
struct vhd_chain *bf_in(struct vhd_queue *q, uint64_t sector, size_t len,
	    const struct bf_lay *l);
/* Post a request with a header, `rlen` more readable bytes and `wlen`
 * writable bytes (the last one the status). */
struct vhd_chain *bf_raw(struct vhd_queue *q, uint32_t type, uint64_t sector,
	    const void *extra, size_t rlen, size_t wlen);
/* Post a DISCARD or WRITE_ZEROES with one range. */
struct vhd_chain *bf_dwz(struct vhd_queue *q, uint32_t type, uint64_t sector,
	    uint32_t num, uint32_t flags);
/* The status byte of a pushed chain (the last writable byte). */
uint8_t	bf_status(struct vhd_chain *c);
/* Check the image holds the pattern of `seed` (0: the original) in
 * [sector, sector + n), or zeroes when seed is -1. */
void	bf_check_image(const char *path, uint64_t sector, uint64_t n,
	    int seed);
/* Check the data an IN read into the chain: the pattern of `seed` for
 * `len` bytes from `sector`, then the status byte OK. */
void	bf_check_read(struct vhd_chain *c, uint64_t sector, size_t len,
	    int seed);
/* Read a little-endian field of the config space. */
uint64_t	bf_cfg(struct vhd_dev *dev, uint32_t off, uint32_t len);
/* Blocks allocated to the image. */
long long	bf_blocks(const char *path);

#endif /* VHOSTD_TESTS_BLK_FAKE_H */
