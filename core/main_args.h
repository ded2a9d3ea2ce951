/*
 * vhostd's command line (main_args.c), as main.c uses it.
 */

#ifndef VHOSTD_MAIN_ARGS_H
#define VHOSTD_MAIN_ARGS_H

#include <stddef.h>

struct conf;

/* What the command line asked for. */
struct main_args {
	const char	*module;
	const char	*socket;
	unsigned	 socket_count;		/* 0: not given */
	const char	**options;		/* KEY=VALUE */
	size_t		 noptions;
	const char	*queue_mask;
	const char	*config;
	const char	*module_dir;
	int		 check;
	int		 list;
	int		 log_level;		/* -1: not given */
	int		 log_dest;		/* -1: not given */
	const char	*user;			/* --user: drop to it */
	const char	*group;			/* --group */
	int		 no_seccomp;
	const char	**vms;			/* --vm KEY=V,KEY=V,... */
	size_t		 nvms;
	const char	*control;		/* --control=PATH */
	unsigned	 workers;		/* --workers=N, 0: not given */
	int		 client;		/* --client */
};

/* Parse the command line into `a`; exits on --help, --version or an
 * error.  The options and vms arrays are the caller's to free. */
void		 main_args_parse(int, char **, struct main_args *);
/* Build the configuration from the command line: the devices of --vm, or
 * those of --module and --socket.  Returns the error count (printed). */
int		 main_args_conf(struct conf *, const struct main_args *);

#endif /* VHOSTD_MAIN_ARGS_H */
