/*
 * Configuration: the config file (conf.c parses it) and the command line
 * (main.c) both produce a `struct conf`.  See conf/vhostd.conf.
 */

#ifndef VHOSTD_CONF_H
#define VHOSTD_CONF_H

#include <sys/queue.h>
#include <sys/types.h>
#include <stdint.h>

#include "compat.h"

struct conf_kv {
	char			*key;
	char			*value;
	char			*where;		/* "file:line" or "command line" */
	TAILQ_ENTRY(conf_kv)	 entry;
};
TAILQ_HEAD(conf_kv_list, conf_kv);

struct conf_device {
	char			*name;		/* "rng0": unique */
	char			*where;		/* where the block starts */
	char			*module;	/* plain module name */
	char			*socket;	/* unix socket path */
	char			*module_where;	/* where module was set */
	char			*socket_where;	/* where socket was set */
	mode_t			 socket_mode;	/* default 0600 */
	char			*socket_owner;	/* user name/uid, NULL: ours */
	char			*socket_group;	/* group name/gid, NULL: ours */
	int			 client;	/* connect to socket, not
						 * listen (the VMM listens) */
	unsigned		 nmasks;	/* 0: the module's own masks */
	uint64_t		 masks[64];	/* queue mask of each worker */
	struct conf_kv_list	 options;	/* module keys, in order */
	TAILQ_ENTRY(conf_device) entry;
};
TAILQ_HEAD(conf_device_list, conf_device);

struct conf {
	char			*source;	/* top file or "command line" */
	char			*module_dir;	/* NULL: default */
	int			 log_level;	/* -1: not set */
	unsigned		 workers;	/* pool size, 0: none */
	unsigned		 pc_fault_timeout; /* s, 0: default */
	char			*control_path;	/* NULL: default */
	struct conf_device_list	 devices;
};

/* Most workers of a shared pool (`workers N`). */
#define CONF_WORKERS_MAX	64
/* Longest `postcopy-fault-timeout` (seconds). */
#define CONF_PC_TIMEOUT_MAX	3600

void	 conf_init(struct conf *);
void	 conf_clear(struct conf *);
struct conf_device *conf_device_new(struct conf *, const char *name,
	    const char *where);
void	 conf_device_option(struct conf_device *, const char *key,
	    const char *value, const char *where);
/* Set the module or the socket of a device, remembering where. */
void	 conf_device_set_module(struct conf_device *, const char *module,
	    const char *where);
void	 conf_device_set_socket(struct conf_device *, const char *path,
	    const char *where);
/*
 * Parse a config file into `conf`.  Every error is printed to stderr as
 * "file:line: message" and counted; returns the number of errors (0 = OK).
 * Also checks the whole configuration (conf_check).
 */
int	 conf_parse_file(struct conf *, const char *path);
/* Parse from a string (tests); `name` stands for the file name. */
int	 conf_parse_string(struct conf *, const char *name, const char *text);
/* Whole-configuration checks (duplicate names or sockets, missing module
 * or socket, bad module names); prints errors, returns their count. */
int	 conf_check(struct conf *);
/* Do two device blocks say the same (everything but where they are)? */
int	 conf_device_equal(const struct conf_device *,
	    const struct conf_device *);
/* Find a device block by name, or NULL. */
struct conf_device *conf_device_find(struct conf *, const char *name);
/* Configuration errors to the log (reload) or to stderr (startup). */
void	 conf_errors_to_log(int);
void	 conf_report(const char *fmt, ...) __printflike(1, 2);
/* Parse "0x3,0x4" style queue masks into cd; 0 or -1 with *cause. */
int	 conf_parse_masks(struct conf_device *, const char *, char **cause);

#endif /* VHOSTD_CONF_H */
