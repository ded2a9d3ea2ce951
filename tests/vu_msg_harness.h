/*
 * The vu_msg suites' harness (tests/check_vu_msg*.c): a device created
 * with an in-test ops table (two queues, an 8-byte config space, a queue
 * handler that fills every chain with "vhostd") whose main loop runs in a
 * thread, set up and torn down per test (Check forks each test), and a
 * raw frontend (tfe_*) that sends vhost-user messages over the device's
 * real unix socket and checks the replies.
 */

#ifndef VU_MSG_HARNESS_H
#define VU_MSG_HARNESS_H

#include <sys/types.h>

#include <check.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost_user.h"

struct conf_device;
struct device;
struct event_base;
struct sockaddr_un;
struct vhd_device_ops;

#define T_NEED		VHOST_USER_NEED_REPLY_MASK
#define T_GPA		0x100000ULL
#define T_UVA		0x7f0000000000ULL
#define T_MEMSZ		0x10000ULL
#define T_RING_NUM	8

/* Device state, per test process. */
extern uint8_t				 t_config[8];
extern atomic_int			 t_resets;
extern struct event_base		*t_base;
extern struct device			*t_dev;
extern char				 t_dir[64];
extern char				 t_sock[128];
extern const struct vhd_device_ops	 t_ops;

void		 t_cd_init(struct conf_device *, const char *);
void		 t_setup(void);
void		 t_teardown(void);
void		 t_wait_resets(int);
void		 t_sun(struct sockaddr_un *, const char *);
int		 t_pipe(int *);
void		 t_pipe_closed(int);
int		 t_memfd(uint8_t **);
int		 t_main(Suite *);

int		 tfe_connect(void);
void		 tfe_send_raw(int, uint32_t, uint32_t, const void *, uint32_t,
		     const int *, unsigned);
void		 tfe_send(int, uint32_t, uint32_t, const void *, uint32_t,
		     const int *, unsigned);
int		 tfe_read(int, void *, size_t);
uint32_t	 tfe_recv(int, uint32_t, void *, size_t);
uint64_t	 tfe_recv_u64(int, uint32_t);
uint64_t	 tfe_get_u64(int, uint32_t);
uint64_t	 tfe_ack(int, uint32_t, const void *, uint32_t, const int *,
		     unsigned);
uint64_t	 tfe_ack_u64(int, uint32_t, uint64_t);
void		 tfe_alive(int);
void		 tfe_closed(int);
int		 tfe_negotiate(void);
uint64_t	 tfe_mem_table(int, int, uint64_t, uint64_t, uint64_t,
		     uint64_t);

#endif /* VU_MSG_HARNESS_H */
