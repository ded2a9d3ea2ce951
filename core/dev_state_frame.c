/*
 * The frame of a device state stream (see dev_state.c): building and
 * checking it, with no daemon state, so the tests and the fuzz target
 * use the very same code.
 *
 * Frame, 64 bytes, little-endian:
 *	0  magic "VHDSTATE"	 8  version (1)		12 device ID
 *	16 module name (32 bytes, NUL-padded)
 *	48 payload length (u64)	56 payload CRC-32	60 CRC-32 of bytes 0..59
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev_state.h"

static uint32_t	dev_state_crc_table[256];
static int	dev_state_crc_ready;

/* CRC-32 (IEEE 802.3, reflected), table built on first use. */
uint32_t
dev_state_crc32(const void *data, size_t len)
{
	const uint8_t	*p = data;
	uint32_t	 c, crc = 0xffffffffu;
	unsigned	 i, k;

	if (!dev_state_crc_ready) {
		for (i = 0; i < 256; i++) {
			c = i;
			for (k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
			dev_state_crc_table[i] = c;
		}
		dev_state_crc_ready = 1;
	}
	while (len-- > 0)
		crc = dev_state_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return (crc ^ 0xffffffffu);
}

/* Little-endian stores and loads. */
static void
dev_state_put32(uint8_t *p, uint32_t v)
{
	unsigned	 i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
dev_state_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24);
}

/* Frame the module's bytes. */
int
dev_state_frame(const char *module, uint32_t device_id, const void *data,
    size_t len, uint8_t **out, size_t *outlen)
{
	uint8_t		*p;
	uint64_t	 l = len;
	unsigned	 i;

	if (len > DEV_STATE_MAX)
		return (-1);
	if ((p = calloc(1, DEV_STATE_HDR_SIZE + len)) == NULL)
		return (-1);
	memcpy(p, DEV_STATE_MAGIC, 8);
	dev_state_put32(p + 8, DEV_STATE_VERSION);
	dev_state_put32(p + 12, device_id);
	strncpy((char *)p + 16, module, DEV_STATE_NAME_MAX - 1);
	for (i = 0; i < 8; i++)
		p[48 + i] = (uint8_t)(l >> (8 * i));
	dev_state_put32(p + 56, dev_state_crc32(data, len));
	dev_state_put32(p + 60, dev_state_crc32(p, 60));
	if (len > 0)
		memcpy(p + DEV_STATE_HDR_SIZE, data, len);
	*out = p;
	*outlen = DEV_STATE_HDR_SIZE + len;
	return (0);
}

/*
 * Check a frame header (the first DEV_STATE_HDR_SIZE bytes) and return
 * the payload length it announces, or -1 with a reason.  Called as soon
 * as the header has arrived, so a lying length is refused before we
 * buffer it.
 */
int
dev_state_check_hdr(const char *module, uint32_t device_id,
    const uint8_t *p, uint64_t *plen, char *buf, size_t buflen)
{
	char		 name[DEV_STATE_NAME_MAX];
	uint64_t	 l = 0;
	uint32_t	 v;
	unsigned	 i;

	if (memcmp(p, DEV_STATE_MAGIC, 8) != 0) {
		snprintf(buf, buflen, "not a vhostd device state stream "
		    "(bad magic)");
		return (-1);
	}
	if (dev_state_get32(p + 60) != dev_state_crc32(p, 60)) {
		snprintf(buf, buflen, "state header checksum mismatch");
		return (-1);
	}
	if ((v = dev_state_get32(p + 8)) != DEV_STATE_VERSION) {
		snprintf(buf, buflen, "state format version %u, this vhostd "
		    "reads version %u", v, DEV_STATE_VERSION);
		return (-1);
	}
	memcpy(name, p + 16, sizeof name);
	name[sizeof name - 1] = '\0';
	if (strncmp(name, module, sizeof name - 1) != 0) {
		snprintf(buf, buflen, "state of module \"%s\", this device "
		    "runs \"%s\"", name, module);
		return (-1);
	}
	if ((v = dev_state_get32(p + 12)) != device_id) {
		snprintf(buf, buflen, "state of virtio device %u, this device "
		    "is %u", v, device_id);
		return (-1);
	}
	for (i = 0; i < 8; i++)
		l |= (uint64_t)p[48 + i] << (8 * i);
	if (l > DEV_STATE_MAX) {
		snprintf(buf, buflen, "state length %llu over the limit of "
		    "%u", (unsigned long long)l, DEV_STATE_MAX);
		return (-1);
	}
	*plen = l;
	return (0);
}

/* Check a whole stream; the module's bytes in *data, *dlen. */
int
dev_state_unframe(const char *module, uint32_t device_id, const uint8_t *p,
    size_t len, const uint8_t **data, size_t *dlen, char *buf, size_t buflen)
{
	uint64_t	 plen;

	if (len < DEV_STATE_HDR_SIZE) {
		snprintf(buf, buflen, "state stream truncated: %zu bytes, "
		    "no complete header", len);
		return (-1);
	}
	if (dev_state_check_hdr(module, device_id, p, &plen, buf,
	    buflen) == -1)
		return (-1);
	if (len - DEV_STATE_HDR_SIZE < plen) {
		snprintf(buf, buflen, "state stream truncated: %zu of %llu "
		    "bytes", len - DEV_STATE_HDR_SIZE,
		    (unsigned long long)plen);
		return (-1);
	}
	if (len - DEV_STATE_HDR_SIZE > plen) {
		snprintf(buf, buflen, "%zu bytes of garbage after the state",
		    (size_t)(len - DEV_STATE_HDR_SIZE - plen));
		return (-1);
	}
	if (dev_state_get32(p + 56) !=
	    dev_state_crc32(p + DEV_STATE_HDR_SIZE, plen)) {
		snprintf(buf, buflen, "state checksum mismatch (corrupt "
		    "stream)");
		return (-1);
	}
	*data = p + DEV_STATE_HDR_SIZE;
	*dlen = plen;
	return (0);
}

