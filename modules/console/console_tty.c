/*
 * console: the stdio backend, and the terminal a person runs vhostd in.
 *
 * stdin and stdout are reopened (new file descriptions, so O_NONBLOCK
 * does not leak into the shell's terminal or the daemon's stderr).  When
 * stdin is a terminal it goes raw on input (no echo, no line editing, no
 * signals: ^C and every other key go to the guest) but keeps its output
 * processing (OPOST, ONLCR): vhostd's own log lines, written to the same
 * terminal, still end in CR LF instead of drawing a staircase.  The
 * terminal's settings are restored when the device is destroyed (SIGINT,
 * SIGTERM, the escape, a startup error) and, through an exit handler, on
 * fatal() and any other exit().
 *
 * The escape is ^] (CONSOLE_ESCAPE) followed by:
 *	q or .	shut vhostd down (SIGTERM to the main thread)
 *	^]	send one ^] to the guest
 * Anything else after ^] is sent as it is, ^] included.
 *
 * Who reads the terminal.  While a frontend is attached (from its first
 * queue start to the device reset) the port's read watch on the home
 * worker does, as for any backend: typed bytes go to the guest when it has
 * the port open, and the escape is undone in console_backend_read.  With
 * no frontend (before the first one, and after each one goes away) a
 * small thread of the module, the "idle reader", reads the terminal
 * instead: the escape works, ^C (the terminal's VINTR) stops vhostd with
 * SIGINT as it does with any other backend, and every other byte is
 * discarded, so nothing typed for no guest is replayed to the next one.
 * The two never read at once: the idle reader reads only under tty_lock
 * and only while tty_attached is 0, and the worker sets tty_attached under
 * that lock before it starts reading.
 */

#include <sys/types.h>
#include <sys/ioctl.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "console.h"

/* The process has a stdio port.  Main thread (create, destroy). */
static int		 console_tty_used;

/*
 * The settings to give the terminal back at exit(), and whether they are
 * owed (only one stdio port per process).  Written by the main thread in
 * create and destroy; read by the atexit handler.
 */
static struct termios	 console_tty_exit_saved;
static volatile sig_atomic_t console_tty_exit_owed;
static int		 console_tty_exit_registered;

/*
 * The C runtime's registration of a function to run at exit() or when
 * this shared object is unloaded, whichever comes first (what atexit()
 * does in a shared object with glibc).  Called directly because the
 * sanitizers' atexit() interceptor registers the handler for the whole
 * process: after dlclose it would run unmapped code at exit.
 */
extern void	*__dso_handle;
int		 __cxa_atexit(void (*)(void *), void *, void *);

/* Give the terminal its settings back if they are still owed.  Any
 * thread (at exit() or when the module is unloaded). */
static void
console_tty_exit_restore(void *unused)
{
	(void)unused;
	if (console_tty_exit_owed) {
		console_tty_exit_owed = 0;
		(void)tcsetattr(STDIN_FILENO, TCSADRAIN,
		    &console_tty_exit_saved);
	}
}

/* Set O_NONBLOCK on an fd; 0 or -1. */
static int
console_tty_nonblock(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ? -1 : 0);
}

/*
 * Reopen one of the standard fds as a new file description (so that
 * O_NONBLOCK stays ours); a socket cannot be reopened and is duplicated
 * instead.  Returns the fd or -1.  Main thread.
 */
static int
console_tty_reopen(int fd, int flags)
{
	char	 path[64];
	int	 nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (nfd != -1)
		return (nfd);
	if ((nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1)
		return (-1);
	if (console_tty_nonblock(nfd) == -1) {
		close(nfd);
		return (-1);
	}
	return (nfd);
}

/* Shut vhostd down the way a signal from the user would.  Any thread. */
static void
console_tty_signal(struct console_port *p, int sig, const char *what)
{
	p->con->api->log(p->con->dev, VHD_LOG_INFO, "port %u: %s: shutting "
	    "down", p->id, what);
	/* The main thread takes SIGINT and SIGTERM (workers and the idle
	 * reader block signals); kill(2) is not in the seccomp filter,
	 * tgkill(2) is. */
	(void)tgkill(getpid(), getpid(), sig);
}

/*
 * Undo the escape sequences of a terminal's input from src into dst (room
 * for n + 1 bytes); returns the bytes left for the guest.  "^] q" and
 * "^] ." shut vhostd down.  Home worker (a frontend is attached).
 */
size_t
console_tty_escape(struct console_port *p, const uint8_t *src, size_t n,
    uint8_t *dst)
{
	size_t	 i, o = 0;

	for (i = 0; i < n; i++) {
		if (p->esc) {
			p->esc = 0;
			if (src[i] == 'q' || src[i] == '.') {
				console_tty_signal(p, SIGTERM, src[i] == 'q' ?
				    "escape ^] q" : "escape ^] .");
				continue;
			}
			if (src[i] != CONSOLE_ESCAPE)
				dst[o++] = CONSOLE_ESCAPE;
			dst[o++] = src[i];
		} else if (src[i] == CONSOLE_ESCAPE)
			p->esc = 1;
		else
			dst[o++] = src[i];
	}
	return (o);
}

/*
 * Handle bytes typed while no frontend is attached: the escape, ^C (the
 * terminal's own VINTR) as SIGINT, everything else dropped.  Idle reader,
 * holding tty_lock.
 */
static void
console_tty_idle_input(struct console_port *p, const uint8_t *b, size_t n)
{
	cc_t	 intr = p->tty_saved.c_cc[VINTR];
	int	 isig = (p->tty_saved.c_lflag & ISIG) != 0;
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (p->tty_idle_esc) {
			p->tty_idle_esc = 0;
			if (b[i] == 'q' || b[i] == '.')
				console_tty_signal(p, SIGTERM, b[i] == 'q' ?
				    "escape ^] q" : "escape ^] .");
			continue;
		}
		if (b[i] == CONSOLE_ESCAPE)
			p->tty_idle_esc = 1;
		else if (isig && intr != _POSIX_VDISABLE && b[i] == intr)
			console_tty_signal(p, SIGINT, "^C with no frontend");
		else if (!p->tty_idle_told) {
			p->tty_idle_told = 1;
			p->con->api->log(p->con->dev, VHD_LOG_INFO, "port %u: "
			    "typed input is discarded while no frontend is "
			    "attached", p->id);
		}
	}
}

/* Read the terminal once if no frontend is attached; 0, or -1 when the
 * input ended.  Idle reader. */
static int
console_tty_idle_read(struct console_port *p)
{
	uint8_t	 buf[256];
	ssize_t	 n;
	int	 rc = 0;

	pthread_mutex_lock(&p->tty_lock);
	if (!p->tty_attached && !p->tty_quit) {
		n = read(p->rfd, buf, sizeof(buf));
		if (n > 0)
			console_tty_idle_input(p, buf, (size_t)n);
		else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)) {
			p->con->api->log(p->con->dev, VHD_LOG_INFO, "port %u: "
			    "terminal input %s", p->id, n == 0 ? "closed" :
			    strerror(errno));
			rc = -1;
		}
	}
	pthread_mutex_unlock(&p->tty_lock);
	return (rc);
}

/* The idle reader: read the terminal while no frontend is attached,
 * sleep on the wake pipe otherwise, until told to quit. */
static void *
console_tty_main(void *arg)
{
	struct console_port	*p = arg;
	struct pollfd		 pfd[2];
	char			 drain[64];
	int			 watch, ended = 0;

	for (;;) {
		pthread_mutex_lock(&p->tty_lock);
		if (p->tty_quit) {
			pthread_mutex_unlock(&p->tty_lock);
			break;
		}
		watch = !p->tty_attached && !ended;
		pthread_mutex_unlock(&p->tty_lock);

		pfd[0].fd = p->tty_wake[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = watch ? p->rfd : -1;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			p->con->api->log(p->con->dev, VHD_LOG_ERR, "port %u: "
			    "idle terminal reader: poll: %s", p->id,
			    strerror(errno));
			break;
		}
		if (pfd[0].revents != 0)
			while (read(p->tty_wake[0], drain, sizeof(drain)) > 0)
				;
		if (pfd[1].revents != 0 && console_tty_idle_read(p) == -1)
			ended = 1;
	}
	return (NULL);
}

/* Wake the idle reader to look at its state again.  Any thread. */
static void
console_tty_wake(struct console_port *p)
{
	char	 c = 0;

	(void)write(p->tty_wake[1], &c, 1);
}

/* Start the idle reader of a raw terminal; 0 or -1 with *cause.  Main
 * thread, in create. */
static int
console_tty_start_reader(struct console_port *p, char **cause)
{
	sigset_t	 all, old;
	int		 error;

	if (pipe2(p->tty_wake, O_CLOEXEC | O_NONBLOCK) == -1) {
		*cause = console_cause("console: port%u: pipe: %s", p->id,
		    strerror(errno));
		p->tty_wake[0] = p->tty_wake[1] = -1;
		return (-1);
	}
	pthread_mutex_init(&p->tty_lock, NULL);
	p->tty_attached = p->tty_quit = 0;
	/* Signals are the main thread's: the reader blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	error = pthread_create(&p->tty_thread, NULL, console_tty_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (error != 0) {
		*cause = console_cause("console: port%u: cannot start the "
		    "terminal reader: %s", p->id, strerror(error));
		pthread_mutex_destroy(&p->tty_lock);
		close(p->tty_wake[0]);
		close(p->tty_wake[1]);
		p->tty_wake[0] = p->tty_wake[1] = -1;
		return (-1);
	}
	(void)pthread_setname_np(p->tty_thread, "console-tty");
	p->tty_reader = 1;
	return (0);
}

/*
 * Use the daemon's stdin and stdout.  A terminal goes raw on input (its
 * output processing stays on) and gets its idle reader.  Main thread, in
 * create.
 */
int
console_tty_open(struct console_port *p, char **cause)
{
	struct termios	 raw;
	struct winsize	 ws;

	p->tty_wake[0] = p->tty_wake[1] = -1;
	if (console_tty_used) {
		*cause = console_cause("console: port%u: stdio is already "
		    "used by another device", p->id);
		return (-1);
	}
	if ((p->rfd = console_tty_reopen(STDIN_FILENO, O_RDONLY)) == -1 ||
	    (p->wfd = console_tty_reopen(STDOUT_FILENO,
	    O_WRONLY | O_APPEND)) == -1) {
		*cause = console_cause("console: port%u: cannot use stdio: "
		    "%s", p->id, strerror(errno));
		return (-1);
	}
	console_tty_used = 1;
	p->stdio_owned = 1;
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO,
	    &p->tty_saved) == 0) {
		raw = p->tty_saved;
		cfmakeraw(&raw);
		/* Raw input, cooked output: log lines keep their CR. */
		raw.c_oflag = p->tty_saved.c_oflag | OPOST | ONLCR;
		console_tty_exit_saved = p->tty_saved;
		if (!console_tty_exit_registered &&
		    __cxa_atexit(console_tty_exit_restore, NULL,
		    __dso_handle) == 0)
			console_tty_exit_registered = 1;
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0) {
			p->tty_raw = 1;
			console_tty_exit_owed = 1;
		}
		if (p->tty_raw && console_tty_start_reader(p, cause) != 0)
			return (-1);
	}
	if (isatty(STDOUT_FILENO))
		p->tty_fd = STDOUT_FILENO;
	else if (isatty(STDIN_FILENO))
		p->tty_fd = STDIN_FILENO;
	if (p->id == 0 && p->tty_fd != -1 &&
	    ioctl(p->tty_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col != 0 &&
	    ws.ws_row != 0) {
		p->con->cols = p->ws_cols = ws.ws_col;
		p->con->rows = p->ws_rows = ws.ws_row;
	}
	p->connected = 1;
	p->con->api->log(p->con->dev, VHD_LOG_INFO, "port %u: stdio%s", p->id,
	    p->tty_raw ? " (raw terminal; ^] q quits; with no frontend ^C "
	    "quits too)" : "");
	return (0);
}

/*
 * A frontend attached (its first queue started) or went away (device
 * reset): hand the terminal to the port's read watch or back to the idle
 * reader.  Home worker (or the main thread when the workers are gone).
 */
void
console_tty_frontend(struct console_port *p, int attached)
{
	int	 changed;

	if (!p->tty_reader)
		return;
	pthread_mutex_lock(&p->tty_lock);
	changed = p->tty_attached != attached;
	if (changed) {
		p->tty_attached = attached;
		p->tty_idle_esc = 0;
		p->tty_idle_told = 0;
	}
	pthread_mutex_unlock(&p->tty_lock);
	if (!changed)
		return;
	console_tty_wake(p);
	if (!attached)
		p->con->api->log(p->con->dev, VHD_LOG_INFO, "port %u: no "
		    "frontend attached: ^C or ^] q quits vhostd", p->id);
}

/*
 * Stop the idle reader and give the terminal its settings back.  Main
 * thread, in destroy (or create failing).
 */
void
console_tty_close(struct console_port *p)
{
	if (p->tty_reader) {
		pthread_mutex_lock(&p->tty_lock);
		p->tty_quit = 1;
		pthread_mutex_unlock(&p->tty_lock);
		console_tty_wake(p);
		pthread_join(p->tty_thread, NULL);
		pthread_mutex_destroy(&p->tty_lock);
		p->tty_reader = 0;
	}
	if (p->tty_wake[0] != -1) {
		close(p->tty_wake[0]);
		close(p->tty_wake[1]);
		p->tty_wake[0] = p->tty_wake[1] = -1;
	}
	if (p->tty_raw) {
		(void)tcsetattr(STDIN_FILENO, TCSADRAIN, &p->tty_saved);
		p->tty_raw = 0;
		console_tty_exit_owed = 0;
	}
	if (p->stdio_owned) {
		console_tty_used = 0;
		p->stdio_owned = 0;
	}
}
