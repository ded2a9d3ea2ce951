/*
 * Device state transfer (SET_DEVICE_STATE_FD, CHECK_DEVICE_STATE): the
 * module's state_save/state_load bytes, framed and streamed through the
 * frontend's pipe on the main thread's event loop without blocking it.
 * Main thread only.
 */

#ifndef VHOSTD_DEV_STATE_H
#define VHOSTD_DEV_STATE_H

#include <stddef.h>
#include <stdint.h>

struct device;

/* Transfer direction and phase (vhost-user.rst, "Migrating back-end
 * state"). */
#define DEV_STATE_SAVE		0
#define DEV_STATE_LOAD		1
#define DEV_STATE_PHASE_STOPPED	0

/* The frame in front of the module's bytes: 64 bytes, little-endian. */
#define DEV_STATE_MAGIC		"VHDSTATE"
#define DEV_STATE_VERSION	1
#define DEV_STATE_HDR_SIZE	64
#define DEV_STATE_NAME_MAX	32
/* Largest module state accepted on load (and produced on save). */
#define DEV_STATE_MAX		(64u << 20)

/*
 * Start a transfer on `fd` (taken over, closed when done): a save calls
 * the module's state_save now and writes the frame as the pipe drains; a
 * load reads until EOF and then checks the frame and calls state_load.
 * A transfer in progress is cancelled.  0, or -1 with *cause (static
 * text or a message in buf) and fd closed.
 */
int		 dev_state_start(struct device *, uint32_t direction,
		    uint32_t phase, int fd, char *buf, size_t len);
/*
 * CHECK_DEVICE_STATE: finish what can be finished without blocking (a
 * load whose writer has closed), then 0 when the last transfer
 * succeeded, -1 with the reason in buf.  The transfer is forgotten.
 */
int		 dev_state_check(struct device *, char *buf, size_t len);
/* Drop any transfer (reset, destroy). */
void		 dev_state_cancel(struct device *);

/* dev_state_frame.c: no daemon state, shared with tests and fuzzing. */
/* Frame `len` bytes of module state (malloc'd result in *out, *outlen);
 * -1 when over DEV_STATE_MAX or out of memory. */
int		 dev_state_frame(const char *module, uint32_t device_id,
		    const void *data, size_t len, uint8_t **out,
		    size_t *outlen);
/* Check a whole framed stream against the module name and device ID;
 * the module's bytes in *data, *dlen.  0, or -1 with a reason in buf. */
int		 dev_state_unframe(const char *module, uint32_t device_id,
		    const uint8_t *p, size_t len, const uint8_t **data,
		    size_t *dlen, char *buf, size_t buflen);
/* Check the first DEV_STATE_HDR_SIZE bytes; the announced payload
 * length in *plen.  0, or -1 with a reason in buf. */
int		 dev_state_check_hdr(const char *module, uint32_t device_id,
		    const uint8_t *p, uint64_t *plen, char *buf,
		    size_t buflen);
/* CRC-32 (IEEE) of len bytes. */
uint32_t	 dev_state_crc32(const void *, size_t);

#endif /* VHOSTD_DEV_STATE_H */
