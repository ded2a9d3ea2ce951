/*
 * The vsock unit tests' helpers (tests/vsock_unit.c): devices on the
 * fake daemon of fake_api.c, guest packets on tx, rx buffers, and host
 * unix sockets in a temporary directory.  Shared by check_vsock and
 * check_vsock_group; failures are Check assertions.
 */

#ifndef VHOSTD_TESTS_VSOCK_UNIT_H
#define VHOSTD_TESTS_VSOCK_UNIT_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <vhostd/vhostd.h>

#include "../modules/vsock/vsock.h"

/* The module's descriptor, linked in from vsock.c. */
extern const struct vhd_module vhd_module;

#define GUEST_CID	3
#define FEAT_ALL	((1ULL << VSOCK_F_STREAM) | \
			 (1ULL << VSOCK_F_SEQPACKET) | (1ULL << VHD_F_VERSION_1))

/* The temporary directory, the hybrid socket in it, the devices made by
 * mkdev and the rx chains of each already looked at by rx_next. */
extern char		 tmpdir[64];
extern char		 uds[80];
extern struct vhd_dev	*devs[4];
extern unsigned		 ndevs;
extern unsigned		 rx_seen[4];

void	setup(void);
void	teardown(void);
struct vhd_dev *mkdev(const struct vhd_kv *kv, size_t nkv);
struct vhd_dev *mkdefault(const char *k1, const char *v1);
char	*create_fails(const struct vhd_kv *kv, size_t nkv);
struct vsock_hdr ghdr(uint16_t op, uint32_t gp, uint32_t hp, uint16_t type);
void	tx(struct vhd_dev *dev, struct vsock_hdr h, const void *data,
	    size_t len, unsigned nseg);
void	rx_post(struct vhd_dev *dev, unsigned n, size_t size);
unsigned devidx(struct vhd_dev *dev);
int	rx_next(struct vhd_dev *dev, struct vsock_hdr *h, void *data,
	    size_t max);
struct vsock_hdr rx_expect(struct vhd_dev *dev, uint16_t op);
int	host_listen(uint32_t port, int type);
int	host_connect(void);
ssize_t	read_wait(int fd, void *buf, size_t len);
int	host_closed(int fd);
void	fire_ready(struct vhd_dev *dev, unsigned rounds);
void	fire_all_fd(struct vhd_dev *dev);
int	guest_connect(struct vhd_dev *dev, int type, int *lfd);

#endif /* VHOSTD_TESTS_VSOCK_UNIT_H */
