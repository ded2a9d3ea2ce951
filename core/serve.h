/*
 * What a serving daemon holds: its event base, its devices and the
 * configuration they came from.  main.c builds it; reload.c changes it;
 * control.c reads it and asks for reloads and resets.  Main thread.
 */

#ifndef VHOSTD_SERVE_H
#define VHOSTD_SERVE_H

#include "compat.h"
#include "device.h"

struct conf;
struct event_base;
struct worker;

struct serve {
	struct event_base	*base;
	struct device_list	 devices;
	struct conf		*conf;		/* the running configuration */
	/* Configurations replaced by reloads, kept until exit: a module
	 * may keep pointers to the keys it was created with. */
	struct conf		**old;
	unsigned		 nold;
	const char		*config_path;	/* NULL: command line */
	const char		*module_dir_arg; /* --module-dir or NULL */
	int			 log_level_arg;	/* --log-level or -1 */
	char			*module_dir;	/* in use */
};

/*
 * Re-read the configuration file and apply it: devices added are
 * created, removed ones destroyed, changed ones re-created, unchanged
 * ones left alone.  A configuration with any error (parse, check, or a
 * new or changed device its module refuses) changes nothing: -1 with
 * *cause, every error logged as file:line.  0 with *cause NULL, or 0 with
 * *cause a summary ("1 added, 1 removed, 1 kept").  Main thread.
 */
int		 reload_run(struct serve *, char **cause) __must_check;
/* A pool worker got stuck: fail every device it serves.  Main thread
 * (pool.c's callback, arg the struct serve). */
void		 reload_pool_stuck(struct worker *, void *arg);
/* The device named `name`, or NULL. */
struct device	*reload_find(struct serve *, const char *name);

#endif /* VHOSTD_SERVE_H */
