/*
 * Thread-safe logging in the OpenBSD log.c manner.  Each line is formatted
 * into a stack buffer and written with one write(2) to stderr (or one
 * syslog(3) call); under systemd, stderr lines carry "<N>" priorities.
 * The per-thread name ("main", "rng0/w0") lives in thread-local storage.
 */

#ifndef VHOSTD_LOG_H
#define VHOSTD_LOG_H

#include <stdarg.h>

#include "compat.h"

enum log_level {
	LOG_LEVEL_ERR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* Where lines go (log_init's second argument). */
enum log_dest {
	LOG_DEST_STDERR = 0,	/* "vhostd[thread]: ..." */
	LOG_DEST_SYSLOG = 1,	/* syslog(3), facility daemon */
	LOG_DEST_JOURNAL = 2,	/* stderr with sd-daemon(3) "<N>" prefixes */
};

void	log_init(int level, int dest);
/* The destination a service manager's stderr asks for: LOG_DEST_JOURNAL
 * when $JOURNAL_STREAM names our stderr, else LOG_DEST_STDERR. */
int	log_dest_default(void);
int	log_dest_parse(const char *name);	/* -1 if unknown */
void	log_setlevel(int level);
int	log_getlevel(void);
int	log_level_parse(const char *name);	/* -1 if unknown */
void	log_setname(const char *name);		/* this thread's name */
void	log_vlog(int level, const char *fmt, va_list ap) __printflike(2, 0);
void	log_line(int level, const char *fmt, ...) __printflike(2, 3);
void	log_warn(const char *fmt, ...) __printflike(1, 2);	/* + errno */
void	log_warnx(const char *fmt, ...) __printflike(1, 2);
void	log_info(const char *fmt, ...) __printflike(1, 2);
void	log_debug(const char *fmt, ...) __printflike(1, 2);
__dead void fatal(const char *fmt, ...) __printflike(1, 2);	/* + errno */
__dead void fatalx(const char *fmt, ...) __printflike(1, 2);

#endif /* VHOSTD_LOG_H */
