/*
 * libFuzzer target: device state streams (SET_DEVICE_STATE_FD load).
 * The input is a whole stream as a frontend would write it into the
 * pipe: the core's frame check (dev_state_unframe: magic, version,
 * module name, device ID, length, checksums) runs on it, and what passes
 * goes to the rng module's state_load on the fake daemon, as the daemon
 * would hand it over.  Since a random checksum seldom matches, the input
 * past the first 64 bytes also goes to state_load directly, so the
 * module's own parser is reached too.
 * Oracles: sanitizers; a frame accepted must announce exactly the bytes
 * that follow; framing any payload and checking it again gives back the
 * payload; a state saved and loaded unchanged is taken.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vhostd/vhostd.h>

#include "dev_state.h"
#include "fake_api.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

extern const struct vhd_module vhd_module;

#define FUZZ_RNG_ID	4

static struct vhd_dev	*fuzz_dev;

/* Create the rng device once (rate-limited, so its state has content). */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct vhd_kv	 kv[1] = { FAKE_KV("max-bytes", "4096") };
	char		*cause = NULL;

	(void)argc;
	(void)argv;
	fuzz_dev = fake_dev_new(vhd_module.ops, "rng0");
	if (fake_dev_create(fuzz_dev, kv, 1, &cause) != 0) {
		fprintf(stderr, "create: %s\n", cause);
		abort();
	}
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vhd_device_ops *ops = vhd_module.ops;
	const uint8_t	*payload, *back;
	uint8_t		*framed;
	size_t		 plen, blen, flen;
	char		 why[160];
	void		*saved;
	size_t		 slen;

	if (dev_state_unframe("rng", FUZZ_RNG_ID, data, size, &payload,
	    &plen, why, sizeof why) == 0) {
		if (plen != size - DEV_STATE_HDR_SIZE ||
		    payload != data + DEV_STATE_HDR_SIZE)
			abort();
		(void)ops->state_load(fuzz_dev, payload, plen);
	}
	if (size > DEV_STATE_HDR_SIZE)
		(void)ops->state_load(fuzz_dev, data + DEV_STATE_HDR_SIZE,
		    size - DEV_STATE_HDR_SIZE);

	/* Round trip of the frame with the input as payload. */
	if (dev_state_frame("rng", FUZZ_RNG_ID, data, size, &framed,
	    &flen) != 0)
		abort();
	if (dev_state_unframe("rng", FUZZ_RNG_ID, framed, flen, &back, &blen,
	    why, sizeof why) != 0 || blen != size ||
	    (size > 0 && memcmp(back, data, size) != 0))
		abort();
	free(framed);

	/* Whatever state the device is in now saves and loads back. */
	if (ops->state_save(fuzz_dev, &saved, &slen) != 0)
		abort();
	if (ops->state_load(fuzz_dev, saved, slen) != 0)
		abort();
	free(saved);
	return (0);
}
