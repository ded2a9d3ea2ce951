/*
 * Words shared with the guest in its rings: little endian, accessed with
 * relaxed C11 atomics (the ordering comes from the callers' explicit
 * fences).  For the split (vring_chain.c) and packed (vring_packed.c)
 * rings and the ring setup (vring.c).
 */

#ifndef VHOSTD_VRING_WORD_H
#define VHOSTD_VRING_WORD_H

#include <endian.h>
#include <stdatomic.h>
#include <stdint.h>

/* Load a little-endian 16-bit word shared with the guest. */
static inline uint16_t
vring_load16(const uint8_t *p)
{
	return (le16toh(atomic_load_explicit((_Atomic uint16_t *)(uintptr_t)p,
	    memory_order_relaxed)));
}

/* Store a little-endian 16-bit word shared with the guest. */
static inline void
vring_store16(uint8_t *p, uint16_t v)
{
	atomic_store_explicit((_Atomic uint16_t *)(void *)p, htole16(v),
	    memory_order_relaxed);
}

/* Store a little-endian 32-bit word shared with the guest. */
static inline void
vring_store32(uint8_t *p, uint32_t v)
{
	atomic_store_explicit((_Atomic uint32_t *)(void *)p, htole32(v),
	    memory_order_relaxed);
}

#endif /* VHOSTD_VRING_WORD_H */
