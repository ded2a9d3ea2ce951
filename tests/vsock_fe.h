/*
 * The vsock frontend tests' guest driver and host helpers
 * (tests/vsock_fe.c): rx buffers of a header descriptor plus a data
 * descriptor, as Linux 6.1 posts them; tx packets in 1, 2 or many
 * descriptors; one connection's credit in struct vf; host sides with unix
 * sockets, some in threads.  Failures are Check assertions.
 */

#ifndef VHOSTD_TESTS_VSOCK_FE_H
#define VHOSTD_TESTS_VSOCK_FE_H

#include <sys/types.h>

#include <stdint.h>

#include "fe/fe.h"
#include "../modules/vsock/vsock.h"

struct sockaddr_un;

#define VF_QSIZE	256
#define VF_BUF		16384		/* rx buffer payload bytes */
#define VF_NBUF		64		/* rx buffers, tx slots */
#define VF_BUF_ALLOC	(1u << 20)	/* the driver's buf_alloc */
#define VF_BIG		(64u << 20)	/* the big transfers */
#define VF_MS		10000
#define VF_FNV		0xcbf29ce484222325ULL
#define VF_HOST_BUF	262144	/* the daemon's default buf_alloc */
#define VF_TMO		200	/* connect/shutdown-timeout, ms */
#define VF_TMO_MIN	180	/* the least we accept for VF_TMO */
#define VF_QUIET	300	/* ms of silence that means "stuck" */

/* A frontend playing one guest's vsock driver. */
struct vf {
	struct fe	*fe;
	uint64_t	 cid;
	uint64_t	 rx_gpa[VF_NBUF];
	uint64_t	 tx_gpa[VF_NBUF];
	int		 rx_slot[VF_QSIZE];	/* head -> slot */
	int		 tx_slot[VF_QSIZE];
	int		 tx_free[VF_NBUF];
	unsigned	 ntx_free;
	unsigned	 nseg;			/* tx layout: 1, 2, 3=many */
	/* One connection's credit, both ways. */
	uint32_t	 peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	uint32_t	 fwd_cnt, fwd_told;
	uint32_t	 buf_alloc;		/* what we advertise */
	uint32_t	 host_buf;		/* the daemon's, expected */
	/* Rx buffers kept back (not posted again) while `hold` is set. */
	int		 hold;
	int		 held[VF_NBUF];
	unsigned	 nheld;
};

/* A daemon with one to three vsock devices. */
struct vd {
	struct fe_daemon *d;
	char		 sock[3][512];
	char		 uds[512];
};

/* The host side of a transfer, run in a thread. */
struct vh {
	char		 path[600];
	int		 lfd;
	uint32_t	 port;		/* CONNECT port (host to guest) */
	uint64_t	 bytes;
	uint64_t	 got, sum;
	char		 reply[128];
	int		 ok;
};

/* A host writer thread: `bytes` of the xorshift stream, blocking. */
struct vw {
	int		 fd;
	uint64_t	 bytes;
	uint64_t	 written;	/* __atomic */
	uint64_t	 sum;
	int		 ok;
};

void	vd_start(struct vd *vd, const char *name, const char *extra, int ndev);
void	vd_stop(struct vd *vd);
void	vf_post_rx(struct vf *vf, int slot);
void	vf_open(struct vf *vf, const char *sock, uint64_t cid);
void	vf_reclaim(struct vf *vf, int ms);
struct vsock_hdr vf_hdr(struct vf *vf, uint64_t dcid, uint16_t op,
	    uint32_t sport, uint32_t dport, uint16_t type);
void	vf_send(struct vf *vf, struct vsock_hdr h, const void *data,
	    uint32_t len);
int	vf_recv(struct vf *vf, struct vsock_hdr *h, void *data, size_t max,
	    int ms);
struct vsock_hdr vf_expect(struct vf *vf, uint16_t op);
void	vf_close(struct vf *vf);
void	vf_gen(uint64_t *s, uint8_t *buf, size_t len);
uint64_t vf_sum(uint64_t h, const uint8_t *p, size_t len);
void	vh_sun(struct sockaddr_un *sun, const char *path);
int	vh_listen(const char *path, int type);
void	*vh_recv_main(void *arg);
void	*vh_send_main(void *arg);
void	vf_connect(struct vf *vf, uint32_t sport, uint32_t port, uint16_t type);
void	vf_release(struct vf *vf);
void	vf_quiet(struct vf *vf, int ms);
void	vf_ctl(struct vf *vf, uint16_t op, uint32_t flags, uint32_t sport,
	    uint32_t dport, uint16_t type);
void	vf_write(struct vf *vf, uint32_t sport, uint32_t dport,
	    const void *data, uint32_t len);
uint64_t vf_send_bytes(struct vf *vf, uint32_t sport, uint32_t dport,
	    uint64_t total, uint64_t *s, uint64_t *sum, int quiet_ms);
int	vh_accept(int lfd);
int	vh_pending(int lfd, int ms);
int	vh_cmd(const char *uds, uint32_t port);
size_t	vh_read(int fd, void *buf, size_t len, int ms);
void	vh_expect_eof(int fd, int ms);
void	*vw_main(void *arg);
void	vd_start_small(struct vd *vd, const char *name);

#endif /* VHOSTD_TESTS_VSOCK_FE_H */
