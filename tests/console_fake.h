/*
 * The console module on the fake daemon (tests/fake_api.c): helpers shared
 * by check_console.c (keys, config space, control protocol) and
 * check_console_data.c (data paths, backends, backlog, lifecycle).
 */

#ifndef TESTS_CONSOLE_FAKE_H
#define TESTS_CONSOLE_FAKE_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include <vhostd/vhostd.h>

#include "fake_api.h"
#include "console.h"

extern const struct vhd_module vhd_module;

#define ALL_FEATURES	((1ULL << CONSOLE_F_SIZE) | \
	(1ULL << CONSOLE_F_MULTIPORT) | (1ULL << CONSOLE_F_EMERG_WRITE) | \
	(1ULL << VHD_F_VERSION_1))

/* One control message seen by the "driver". */
struct msg {
	uint32_t	id;
	uint16_t	event;
	uint16_t	value;
	uint8_t		extra[CONSOLE_NAME_MAX + 4];
	size_t		extra_len;
};

/* c_ivq chains ctrl_collect has already looked at. */
extern unsigned	 ctrl_seen;

/* The test's temp dir (a checked fixture) and paths in it. */
void		 setup(void);
void		 teardown(void);
const char	*tp(const char *);

/* The device. */
struct vhd_dev	*con_dev(const struct vhd_kv *, size_t);
char		*con_fail(const struct vhd_kv *, size_t);
struct console	*con_of(struct vhd_dev *);
void		 con_start(struct vhd_dev *, uint64_t);
void		 con_free(struct vhd_dev *);
/* Port 0 pty, port 1 unix socket "p1.sock" with `extra` items. */
struct vhd_dev	*unix_dev(const char *);

/* The driver side of the control queues. */
void		 ctrl_post(struct vhd_dev *, unsigned, size_t);
void		 ctrl_send_len(struct vhd_dev *, uint32_t, uint16_t, uint16_t,
		    size_t);
void		 ctrl_send(struct vhd_dev *, uint32_t, uint16_t, uint16_t);
unsigned	 ctrl_collect(struct vhd_dev *, struct msg *, unsigned);
void		 expect_msg(struct vhd_dev *, uint32_t, uint16_t, uint16_t);
void		 expect_none(struct vhd_dev *);
void		 handshake(struct vhd_dev *, unsigned);

/* Data chains and the module's watches. */
struct vhd_chain *rx_post(struct vhd_dev *, unsigned, size_t);
void		 kick(struct vhd_dev *, unsigned, int);
struct vhd_chain *tx_send(struct vhd_dev *, unsigned, const void *, size_t);
void		 fire_listen(struct vhd_dev *, unsigned);
int		 fire_read(struct vhd_dev *, unsigned);
int		 fire_write(struct vhd_dev *, unsigned);
void		 fire_poll(struct vhd_dev *, unsigned);

/* Host clients. */
int		 unix_connect(const char *);
size_t		 drain(int, void *, size_t);
void		 wait_readable(int);
void		 read_exact(int, void *, size_t);

/* The tests of check_console_data.c. */
void		 console_data_add_tests(TCase *);

#endif /* TESTS_CONSOLE_FAKE_H */
