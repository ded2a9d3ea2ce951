/*
 * The console test driver: a vhostd started with --module=console, and
 * the test frontend playing the VMM and the Linux virtio_console driver.
 *
 * Queues (3 ports at most, FE_MAX_QUEUES is 8): 0 rx0, 1 tx0, 2 c_ivq,
 * 3 c_ovq, 4 rx1, 5 tx1, 6 rx2, 7 tx2.
 */

#ifndef TESTS_CONSOLE_DRV_H
#define TESTS_CONSOLE_DRV_H

#include <stddef.h>
#include <stdint.h>

#include "fe/fe.h"

#define QSZ		64
#define CTRL_BUF	512
#define TMO		5000

#define F_SIZE		0
#define F_MULTIPORT	1
#define F_EMERG		2

#define EV_DEVICE_READY	0
#define EV_PORT_ADD	1
#define EV_PORT_READY	3
#define EV_CONSOLE_PORT	4
#define EV_RESIZE	5
#define EV_PORT_OPEN	6
#define EV_PORT_NAME	7

/* A control message from the device. */
struct cmsg {
	uint32_t	id;
	uint16_t	event;
	uint16_t	value;
	uint8_t		extra[CTRL_BUF];
	size_t		extra_len;
};

/* The VMM + guest driver of one test. */
struct drv {
	struct fe_daemon *d;
	char		*sock;
	struct fe	*fe;
	unsigned	 nq;
	uint64_t	 txslot[FE_MAX_QUEUES][QSZ];	/* readable buffers */
	int		 txbusy[FE_MAX_QUEUES][QSZ];	/* slot per head */
	int		 txhead[FE_MAX_QUEUES][QSZ];
};

extern const char *const three_names[];

/* Start vhostd with these --option values (stdio on tty_fd when it is
 * not -1); no frontend yet. */
struct drv	*drv_launch(const char *, const char *const *, int);
/* Connect a frontend that sets up nq queues (not the handshake). */
void		 drv_connect(struct drv *, unsigned);
/* Close the frontend (the daemon resets the device). */
void		 drv_disconnect(struct drv *);
/* drv_launch (no tty) and drv_connect. */
struct drv	*drv_start(const char *, unsigned, const char *const *);
void		 drv_free(struct drv *);
void		 drv_post_rx(struct drv *, unsigned, unsigned, uint32_t);
void		 drv_repost(struct drv *, unsigned, uint32_t, int);
void		 drv_reap_tx(struct drv *, unsigned);
int		 drv_send(struct drv *, unsigned, const void *, size_t);
/* drv_send without waiting: -1 when no tx slot is free now. */
int		 drv_try_send(struct drv *, unsigned, const void *, size_t);
void		 drv_ctrl_send_len(struct drv *, uint32_t, uint16_t, uint16_t,
		    size_t);
void		 drv_ctrl_send(struct drv *, uint32_t, uint16_t, uint16_t);
int		 drv_ctrl_recv(struct drv *, struct cmsg *, int);
void		 drv_expect(struct drv *, uint32_t, uint16_t, uint16_t);
void		 drv_expect_none(struct drv *, int);
void		 drv_handshake(struct drv *, unsigned, const char *const *,
		    const int *);
void		 host_read(int, void *, size_t);
void		 guest_read(struct drv *, unsigned, void *, size_t);
struct drv	*drv_three(const char *, const char *, struct fe_daemon **);
const char	*dpath(struct fe_daemon *, const char *);
int		 attach(struct drv *, struct fe_daemon *, unsigned);

#endif /* TESTS_CONSOLE_DRV_H */
