/*
 * console: the virtio console device (virtio 1.x, device ID 3), shared
 * definitions of the module's files.
 *
 *	console.c		module ops: create, config space, queues, reset
 *	console_conf.c		configuration keys
 *	console_ctrl.c		the control queues (multiport protocol)
 *	console_port.c		port data paths: host input, guest output,
 *				the bounded output buffer (backlog)
 *	console_backend.c	host side of a port: pty, unix, tcp, file
 *	console_state.c		device state for migration
 *	console_tty.c		the stdio backend and its terminal: raw
 *				mode, the escape, the idle reader
 *
 * Threads.  A console device keeps all its queues on one worker, the
 * "home" worker (the worker of queue 0; a queue mask that splits the
 * queues is refused when the queue starts).  All port, control and
 * backend state is touched only on the home worker: by the queue
 * callbacks, by the fd and timer watches (which live on that worker), and
 * by the functions the main thread runs there through api->run_on_worker
 * (reset, emergency writes).  create and destroy run on the main thread
 * when no worker can touch the device.  The only state shared with the
 * main thread is the console size (cols, rows), guarded by cfg_lock.
 *
 * A stdio port on a terminal also has the module's one thread, the idle
 * reader (console_tty.c), which reads the terminal while no frontend is
 * attached.  It shares the port's tty_* flags, guarded by tty_lock, and
 * reads only fields written before it started (rfd, tty_saved).
 */

#ifndef VHOSTD_CONSOLE_H
#define VHOSTD_CONSOLE_H

#include <sys/types.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include <vhostd/vhostd.h>

#define CONSOLE_DEVICE_ID	3
#define CONSOLE_F_SIZE		0
#define CONSOLE_F_MULTIPORT	1
#define CONSOLE_F_EMERG_WRITE	2
#define CONSOLE_CONFIG_SIZE	12	/* cols, rows, max_nr_ports, emerg_wr */
#define CONSOLE_CFG_EMERG	8	/* offset of emerg_wr */

/* 64 queues: rx0, tx0, c_ivq, c_ovq, then 2 per port 1..30. */
#define CONSOLE_MAX_PORTS	31
#define CONSOLE_QUEUE_SIZE	1024
#define CONSOLE_Q_CTRL_RX	2	/* c_ivq: device -> driver */
#define CONSOLE_Q_CTRL_TX	3	/* c_ovq: driver -> device */

#define CONSOLE_IN_SIZE		4096	/* host input staged per port */
#define CONSOLE_NAME_MAX	127	/* port name bytes */
#define CONSOLE_BACKLOG_DEFAULT	65536
#define CONSOLE_BACKLOG_MIN	4096
#define CONSOLE_BACKLOG_MAX	(64 * 1024 * 1024)
#define CONSOLE_POLL_MS		200	/* pty connection and size polling */
#define CONSOLE_RETRY_MS	1000	/* accept after EMFILE */
#define CONSOLE_BUDGET		64	/* rounds per callback, then yield */
#define CONSOLE_ESCAPE		0x1d	/* ^] on a stdio port */

/* Control events (virtio spec 5.3.6.2; PORT_ADD is DEVICE_ADD). */
#define CONSOLE_DEVICE_READY	0
#define CONSOLE_PORT_ADD	1
#define CONSOLE_PORT_REMOVE	2
#define CONSOLE_PORT_READY	3
#define CONSOLE_CONSOLE_PORT	4
#define CONSOLE_RESIZE		5
#define CONSOLE_PORT_OPEN	6
#define CONSOLE_PORT_NAME	7
#define CONSOLE_NEVENTS		8
#define CONSOLE_CTRL_SIZE	8	/* le32 id, le16 event, le16 value */
#define CONSOLE_BAD_ID		0xffffffffU

/* Device -> driver messages waiting for a c_ivq buffer, in send order. */
#define CONSOLE_PEND_ADD	0x01
#define CONSOLE_PEND_CONSOLE	0x02
#define CONSOLE_PEND_NAME	0x04
#define CONSOLE_PEND_OPEN	0x08
#define CONSOLE_PEND_RESIZE	0x10
#define CONSOLE_PEND_REMOVE	0x20

/* The host side of a port. */
enum console_be {
	CONSOLE_BE_PTY,
	CONSOLE_BE_STDIO,
	CONSOLE_BE_UNIX,
	CONSOLE_BE_TCP,
	CONSOLE_BE_FILE,
};

/* What a listening port does with a second client. */
enum console_policy {
	CONSOLE_CLIENT_REFUSE,
	CONSOLE_CLIENT_REPLACE,
};

/* A bounded FIFO of bytes (the output buffer and backlog). */
struct console_ring {
	uint8_t		*buf;
	size_t		 cap;
	size_t		 head;	/* oldest byte */
	size_t		 len;
};

struct console;

struct console_port {
	struct console		*con;
	unsigned		 id;
	int			 configured;	/* declared (port 0 always) */

	/* Configuration (create, main thread; read-only afterwards). */
	enum console_be		 be;
	char			*name;		/* PORT_NAME, or NULL */
	char			*path;		/* unix, file */
	char			*host;		/* tcp */
	char			*service;	/* tcp */
	char			*link;		/* pty symlink */
	enum console_policy	 policy;
	size_t			 backlog;
	int			 be_set;

	/* Host side.  Home worker after create. */
	int			 listen_fd;
	int			 rfd;		/* input, -1 when none */
	int			 wfd;		/* output, -1 when none */
	int			 is_socket;	/* rfd == wfd, a socket */
	int			 connected;	/* output reaches a client */
	int			 input_eof;	/* stdio: stdin ended */
	int			 listen_paused;	/* accept failed: retrying */
	char			 pty_name[64];
	char			*link_made;	/* the symlink we made */
	dev_t			 link_dev;	/* and its identity */
	ino_t			 link_ino;
	char			*unix_made;	/* the socket file we made */
	int			 tty_fd;	/* stdio: the terminal, or -1 */
	struct termios		 tty_saved;
	int			 tty_raw;	/* tty_saved must be restored */
	int			 stdio_owned;	/* this port took stdio */
	int			 esc;		/* stdio: ^] seen */

	/* The idle reader of a raw terminal (console_tty.c).  The flags
	 * below are guarded by tty_lock. */
	int			 tty_reader;	/* the thread runs */
	pthread_t		 tty_thread;
	pthread_mutex_t		 tty_lock;
	int			 tty_wake[2];	/* pipe: look at the flags */
	int			 tty_attached;	/* a frontend reads instead */
	int			 tty_quit;	/* the thread must end */
	int			 tty_idle_esc;	/* ^] seen with no frontend */
	int			 tty_idle_told;	/* "discarded" logged */
	uint16_t		 ws_cols, ws_rows; /* last size seen */

	/* Watches (exist while the device's queues run). */
	struct vhd_watch	*listen_w;
	struct vhd_watch	*rd_w;
	struct vhd_watch	*wr_w;
	struct vhd_watch	*poll_w;
	struct vhd_watch	*resume_w;
	int			 rd_armed;
	int			 wr_armed;
	int			 poll_armed;
	int			 resume_armed;

	/* Guest side.  Home worker. */
	int			 added;		/* PORT_ADD sent */
	int			 guest_ready;	/* PORT_READY 1 received */
	int			 guest_open;	/* driver's PORT_OPEN value */
	int			 open_reported;	/* last PORT_OPEN value sent */
	int			 removed;	/* backend failed for good */
	unsigned		 pending;	/* CONSOLE_PEND_* */

	/* Data.  Home worker. */
	uint8_t			 in[CONSOLE_IN_SIZE];
	size_t			 in_off;
	size_t			 in_len;
	struct console_ring	 out;
	uint64_t		 dropped;	/* since the last attach */
	uint64_t		 dropped_total;
	struct vhd_chain	*tx_chain;	/* popped, partly copied */
	size_t			 tx_off;
	size_t			 tx_len;
	size_t			 tx_resume;	/* copied before a rewind */
};

struct console {
	const struct vhd_api	*api;
	struct vhd_dev		*dev;
	unsigned		 nports;	/* max_nr_ports */
	struct console_port	*ports;
	size_t			 backlog;	/* default per port */
	int			 rows_first;	/* RESIZE payload order */

	/* Console size: the only state the main thread shares. */
	pthread_mutex_t		 cfg_lock;
	uint16_t		 cols;
	uint16_t		 rows;

	/* Home worker state. */
	unsigned		 home;		/* the home worker */
	struct vhd_queue	*queues[VHD_MAX_QUEUES];
	unsigned		 nqueues;
	unsigned		 nrunning;
	int			 running;	/* watches exist */
	int			 multiport;	/* F_MULTIPORT acked */
	int			 size_acked;	/* F_SIZE acked */
	int			 device_ready;
};

/*
 * Log a warning about the guest or a client through the daemon's
 * rate-limited log (at most one line per second per device, the count of
 * those dropped added to the next).  Any worker.
 */
#define console_warn(con, ...)						\
	((con)->api->log_ratelimited((con)->dev, VHD_LOG_WARN, __VA_ARGS__))

/* console.c */
char		*console_cause(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
struct vhd_queue *console_rxq(struct console_port *);
struct vhd_queue *console_txq(struct console_port *);
void		 console_set_size(struct console *, uint16_t, uint16_t);
void		 console_get_size(struct console *, uint16_t *, uint16_t *);

struct console	*console_get(struct vhd_dev *);

/* console_state.c */
int		 console_state_save(struct vhd_dev *, void **, size_t *);
int		 console_state_load(struct vhd_dev *, const void *, size_t);

/* console_conf.c */
int		 console_conf_parse(struct console *, const struct vhd_kv *,
		    size_t, char **);

/* console_ctrl.c */
void		 console_ctrl_recv(struct console *);
void		 console_ctrl_flush(struct console *);
void		 console_ctrl_pend(struct console_port *, unsigned);

/* console_port.c */
int		 console_ring_init(struct console_ring *, size_t);
void		 console_ring_free(struct console_ring *);
void		 console_port_rx(struct console_port *);
void		 console_port_tx(struct console_port *);
void		 console_port_tx_stop(struct console_port *);
void		 console_port_output(struct console_port *, const void *,
		    size_t);
void		 console_port_attached(struct console_port *);
void		 console_port_detached(struct console_port *, const char *);
void		 console_port_update_read(struct console_port *);

/* console_backend.c */
int		 console_backend_open(struct console_port *, char **);
void		 console_backend_close(struct console_port *);
int		 console_backend_start(struct console_port *);
void		 console_backend_stop(struct console_port *);
void		 console_backend_detach(struct console_port *, const char *);
ssize_t		 console_backend_read(struct console_port *, void *, size_t);
ssize_t		 console_backend_write(struct console_port *,
		    const struct iovec *, int);
void		 console_backend_arm(struct console_port *, struct vhd_watch *,
		    int *, int, long);
int		 console_backend_can_read(struct console_port *);

/* console_tty.c */
int		 console_tty_open(struct console_port *, char **);
void		 console_tty_close(struct console_port *);
void		 console_tty_frontend(struct console_port *, int);
size_t		 console_tty_escape(struct console_port *, const uint8_t *,
		    size_t, uint8_t *);

#endif /* VHOSTD_CONSOLE_H */
