/*
 * Logging.  OpenBSD's log.c API, made thread-safe: each line is built in a
 * stack buffer and emitted with a single write(2) (or syslog(3) call), and
 * the thread's name is kept in thread-local storage.
 *
 * Three destinations: stderr (the default), syslog(3) (--syslog), and the
 * journal (--log=journal, or by itself when $JOURNAL_STREAM says stderr
 * is a journal stream): stderr lines prefixed "<N>" with the syslog
 * priority, which journald strips and records (sd-daemon(3)).  syslog's
 * socket is opened at log_init (LOG_NDELAY), before the seccomp filter;
 * should syslogd restart, glibc reconnects with socket(2) and connect(2),
 * which the filter allows.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 1024

static atomic_int		 log_level = LOG_LEVEL_INFO;
static int			 log_dest = LOG_DEST_STDERR;
static _Thread_local char	 log_thread_name[32] = "main";

static const char *log_level_names[] = { "error", "warning", "info", "debug" };

static const char *log_dest_names[] = { "stderr", "syslog", "journal" };

/* Set the level and the destination (enum log_dest).  Main thread, before
 * other threads start. */
void
log_init(int level, int dest)
{
	log_setlevel(level);
	if (dest < LOG_DEST_STDERR || dest > LOG_DEST_JOURNAL)
		dest = LOG_DEST_STDERR;
	log_dest = dest;
	if (dest == LOG_DEST_SYSLOG)
		openlog("vhostd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* LOG_DEST_JOURNAL when $JOURNAL_STREAM ("DEV:INODE") is our stderr, as
 * sd-daemon(3) and systemd.exec(5) advise checking. */
int
log_dest_default(void)
{
	const char		*s;
	struct stat		 st;
	unsigned long long	 dev, ino;

	if ((s = getenv("JOURNAL_STREAM")) == NULL)
		return (LOG_DEST_STDERR);
	if (sscanf(s, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return (LOG_DEST_STDERR);
	if ((unsigned long long)st.st_dev != dev ||
	    (unsigned long long)st.st_ino != ino)
		return (LOG_DEST_STDERR);
	return (LOG_DEST_JOURNAL);
}

/* Parse a destination name ("stderr", "syslog", "journal"), -1 if none. */
int
log_dest_parse(const char *name)
{
	size_t	 i;

	for (i = 0; i < nitems(log_dest_names); i++) {
		if (strcasecmp(name, log_dest_names[i]) == 0)
			return ((int)i);
	}
	return (-1);
}

/* Set the most verbose level printed. */
void
log_setlevel(int level)
{
	if (level < LOG_LEVEL_ERR)
		level = LOG_LEVEL_ERR;
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	atomic_store(&log_level, level);
}

/* Return the current level. */
int
log_getlevel(void)
{
	return (atomic_load(&log_level));
}

/* Parse a level name ("error", "warning", "info", "debug"), -1 if none. */
int
log_level_parse(const char *name)
{
	size_t	 i;

	for (i = 0; i < nitems(log_level_names); i++) {
		if (strcasecmp(name, log_level_names[i]) == 0)
			return ((int)i);
	}
	if (strcasecmp(name, "warn") == 0)
		return (LOG_LEVEL_WARN);
	if (strcasecmp(name, "err") == 0)
		return (LOG_LEVEL_ERR);
	return (-1);
}

/* Name the calling thread in log lines. */
void
log_setname(const char *name)
{
	snprintf(log_thread_name, sizeof log_thread_name, "%s", name);
}

/* Format one line and emit it with a single write. */
void
log_vlog(int level, const char *fmt, va_list ap)
{
	char		 line[LOG_LINE_MAX];
	int		 n, m;
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

	if (level > atomic_load(&log_level))
		return;
	if (level < LOG_LEVEL_ERR)
		level = LOG_LEVEL_ERR;
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;

	if (log_dest == LOG_DEST_SYSLOG) {
		n = snprintf(line, sizeof line, "[%s] ", log_thread_name);
		if (n < 0 || (size_t)n >= sizeof line)
			n = 0;
		vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
		syslog(prio[level], "%s", line);
		return;
	}
	if (log_dest == LOG_DEST_JOURNAL)
		n = snprintf(line, sizeof line, "<%d>[%s] ", prio[level],
		    log_thread_name);
	else
		n = snprintf(line, sizeof line, "vhostd[%s]: %s",
		    log_thread_name, level == LOG_LEVEL_ERR ? "error: " :
		    level == LOG_LEVEL_WARN ? "warning: " : "");
	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	(void)write(STDERR_FILENO, line, (size_t)n);
}

static void	log_errno(int, const char *, va_list) __printflike(2, 0);

/* Log at `level` with errno's text appended. */
static void
log_errno(int level, const char *fmt, va_list ap)
{
	char	 msg[LOG_LINE_MAX], err[128];
	int	 saved = errno;
	const char *e;

	vsnprintf(msg, sizeof msg, fmt, ap);
	e = strerror_r(saved, err, sizeof err);
	log_line(level, "%s: %s", msg, e);
	errno = saved;
}

/* Log a line with the given level (helper for the fixed-level wrappers). */
void
log_line(int level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vlog(level, fmt, ap);
	va_end(ap);
}

/* A warning with errno's text. */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_errno(LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

/* A warning. */
void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vlog(LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

/* An informational line. */
void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vlog(LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

/* A debug line. */
void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vlog(LOG_LEVEL_DEBUG, fmt, ap);
	va_end(ap);
}

/* Log an error with errno's text and exit.  Main thread, startup only. */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_errno(LOG_LEVEL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log an error and exit.  Main thread, startup only. */
void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vlog(LOG_LEVEL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
