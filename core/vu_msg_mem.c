/*
 * Guest memory requests: SET_MEM_TABLE, GET_MAX_MEM_SLOTS, ADD_MEM_REG and
 * REM_MEM_REG.  Each builds a complete new table (guest_mem.h) and
 * publishes it with device_set_mem; on any failure the old table stays.
 * Rings keep running across a change.  A range REM_MEM_REG removes is
 * remembered until memory is next added, so a queue that meets it pauses
 * rather than breaks the device (vring.h); after every change the rings
 * that can start are started and paused ones resumed (QEMU changes a
 * region by REM_MEM_REG then ADD_MEM_REG).  Main thread.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "guest_mem.h"
#include "log.h"
#include "postcopy.h"
#include "vhost_user.h"
#include "vu_conn_priv.h"
#include "xmalloc.h"

/* Map one region described by the frontend; NULL (logged) on failure. */
static struct guest_region *
vu_msg_mem_map(struct vu_conn *c, const struct vu_msg *m, int fd,
    const struct vhost_user_mem_region *mr)
{
	struct guest_region	*rg;
	char			*cause = NULL;

	rg = guest_region_map(fd, mr->guest_phys_addr, mr->memory_size,
	    mr->userspace_addr, mr->mmap_offset, &cause);
	if (rg == NULL) {
		vu_msg_fail(c, m, "region gpa 0x%llx size 0x%llx: %s",
		    (unsigned long long)mr->guest_phys_addr,
		    (unsigned long long)mr->memory_size,
		    cause != NULL ? cause : "cannot map");
		free(cause);
	}
	return (rg);
}

/* Build a table from `regions` and publish it; drops the caller's
 * references either way.  With `removed`, that region's range is
 * remembered as removed first; without, memory was added and the removed
 * ranges are forgotten after.  0 or -1 (logged). */
static int
vu_msg_mem_publish(struct vu_conn *c, const struct vu_msg *m,
    struct guest_region **regions, unsigned n, unsigned nnew,
    const struct guest_region *removed)
{
	struct guest_mem	*mem;
	char			*cause = NULL;
	unsigned		 i;

	mem = guest_mem_new(regions, n, &cause);
	/* The table took its own references on success. */
	for (i = n - nnew; i < n; i++)
		guest_region_unref(regions[i]);
	if (mem == NULL) {
		vu_msg_fail(c, m, "%s", cause != NULL ? cause :
		    "cannot build the memory table");
		free(cause);
		return (-1);
	}
	/* Before the table without it is seen by a worker. */
	if (removed != NULL)
		device_mem_hole_add(c->dev, removed->gpa, removed->size);
	device_set_mem(c->dev, mem);
	/* After every worker uses the table with the new memory. */
	if (removed == NULL)
		device_mem_holes_clear(c->dev);
	device_mem_refresh(c->dev);
	return (0);
}

/*
 * SET_MEM_TABLE: replace the whole table.  1..8 regions, one fd each in
 * order.  Started rings keep running: their pointers are re-derived from
 * the new table (vring_chain.c checks the table generation).
 */
int
vu_msg_set_mem_table(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	struct guest_region		*regions[VHOST_USER_MEM_TABLE_MAX];
	struct vhost_user_mem_region	 mr;
	struct vu_msgbuf		 b;
	uint32_t			 nregions, padding;
	unsigned			 i, j;

	vu_msgbuf_init(&b, m);
	if (vu_msgbuf_get(&b, &nregions, sizeof nregions) == -1 ||
	    vu_msgbuf_get(&b, &padding, sizeof padding) == -1)
		return (vu_msg_fail(c, m, "short payload"));
	if (nregions == 0 || nregions > VHOST_USER_MEM_TABLE_MAX)
		return (vu_msg_fail(c, m, "%u regions (1..%u)", nregions,
		    VHOST_USER_MEM_TABLE_MAX));
	if (m->nfds != nregions)
		return (vu_msg_fail(c, m, "%u regions but %u fds", nregions,
		    m->nfds));

	for (i = 0; i < nregions; i++) {
		if (vu_msgbuf_get(&b, &mr, sizeof mr) == -1) {
			vu_msg_fail(c, m, "payload too short for %u regions",
			    nregions);
			goto fail;
		}
		regions[i] = vu_msg_mem_map(c, m, m->fds[i], &mr);
		if (regions[i] == NULL)
			goto fail;
	}
	/* Trailing bytes (a frontend sending the full 8-region array) are
	 * ignored; everything we use has been read. */
	log_debug("%s: %s: %u regions", c->dev->name, __func__, nregions);
	return (vu_msg_mem_publish(c, m, regions, nregions, nregions, NULL));

fail:
	for (j = 0; j < i; j++)
		guest_region_unref(regions[j]);
	return (-1);
}

/* GET_MAX_MEM_SLOTS: how many regions ADD_MEM_REG may build up. */
int
vu_msg_get_max_mem_slots(struct vu_conn *c __unused,
    struct vu_msg *m __unused, struct vu_reply *r)
{
	vu_msg_reply_u64(r, GUEST_MEM_MAX_REGIONS);
	return (0);
}

/* ADD_MEM_REG: the current regions plus one, in a new table. */
int
vu_msg_add_mem_reg(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	struct guest_region		**regions;
	struct guest_mem		*cur;
	struct guest_region		*mapped;
	struct vhost_user_mem_reg_msg	 rm;
	unsigned			 n, i;
	int				 rc;

	if (m->hdr.size == sizeof(uint64_t) && m->nfds == 0)
		return (vu_msg_postcopy_ack(c, m));
	if (m->hdr.size != sizeof rm || m->nfds != 1)
		return (vu_msg_fail(c, m, "payload is %u bytes with %u fds, "
		    "expected %zu with 1", m->hdr.size, m->nfds, sizeof rm));
	memcpy(&rm, m->payload.bytes, sizeof rm);
	cur = device_mem(c->dev);
	n = cur != NULL ? cur->nregions : 0;
	if (n >= GUEST_MEM_MAX_REGIONS)
		return (vu_msg_fail(c, m, "all %u memory slots in use",
		    GUEST_MEM_MAX_REGIONS));

	regions = xcalloc(n + 1, sizeof *regions);
	for (i = 0; i < n; i++)
		regions[i] = cur->regions[i];
	regions[n] = vu_msg_mem_map(c, m, m->fds[0], &rm.region);
	if (regions[n] == NULL) {
		free(regions);
		return (-1);
	}
	mapped = regions[n];
	guest_region_ref(mapped);
	rc = vu_msg_mem_publish(c, m, regions, n + 1, 1, NULL);
	free(regions);
	/* Postcopy: QEMU reads the region back with our address in it. */
	if (rc == 0 && postcopy_listening(c->dev)) {
		rm.region.userspace_addr = (uint64_t)(uintptr_t)mapped->host;
		vu_conn_send(c, VHOST_USER_ADD_MEM_REG, &rm, sizeof rm, -1);
	}
	guest_region_unref(mapped);
	return (rc);
}

/*
 * REM_MEM_REG: a new table without the region matching gpa, size and
 * frontend address.  The spec lets a frontend attach an fd; it is
 * accepted and closed.
 */
int
vu_msg_rem_mem_reg(struct vu_conn *c, struct vu_msg *m,
    struct vu_reply *r __unused)
{
	struct guest_region		**regions;
	struct guest_mem		*cur;
	struct vhost_user_mem_reg_msg	 rm;
	unsigned			 n, i, j;
	int				 idx, rc;

	memcpy(&rm, m->payload.bytes, sizeof rm);
	cur = device_mem(c->dev);
	idx = -1;
	if (cur != NULL)
		idx = guest_mem_find(cur, rm.region.guest_phys_addr,
		    rm.region.memory_size);
	if (cur == NULL || idx < 0 || (unsigned)idx >= cur->nregions ||
	    cur->regions[idx]->uva != rm.region.userspace_addr)
		return (vu_msg_fail(c, m, "no region gpa 0x%llx size 0x%llx "
		    "uva 0x%llx", (unsigned long long)rm.region.guest_phys_addr,
		    (unsigned long long)rm.region.memory_size,
		    (unsigned long long)rm.region.userspace_addr));

	n = cur->nregions;
	regions = xcalloc(n, sizeof *regions);
	for (i = 0, j = 0; i < n; i++) {
		if (i != (unsigned)idx)
			regions[j++] = cur->regions[i];
	}
	rc = vu_msg_mem_publish(c, m, regions, j, 0, cur->regions[idx]);
	free(regions);
	return (rc);
}
