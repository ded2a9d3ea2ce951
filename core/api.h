/*
 * The SDK function table (struct vhd_api) the core hands to modules.
 */

#ifndef VHOSTD_API_H
#define VHOSTD_API_H

struct vhd_api;

/* The daemon's function table.  Any thread. */
const struct vhd_api	*api_get(void);

#endif /* VHOSTD_API_H */
