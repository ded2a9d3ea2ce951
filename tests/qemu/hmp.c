/*
 * qemu-hmp: run human monitor (HMP) commands on a QEMU started with
 * "-monitor unix:PATH,server=on,wait=off", for the QEMU end-to-end scripts
 * (pausing and resuming a guest with "stop" and "cont").
 *
 *	qemu-hmp PATH COMMAND...
 *
 * Connects to PATH (retrying for a while: QEMU may still be starting),
 * waits for the "(qemu) " prompt, then sends each COMMAND and waits for the
 * next prompt, so a command has completed when the next one is sent and
 * when qemu-hmp exits.  The output of each command is printed without the
 * monitor's line editing (QEMU echoes what it reads, with escape
 * sequences) and without carriage returns.  Exit status 0, or 1 with a
 * "qemu-hmp: ..." line on stderr when the monitor cannot be reached, closes
 * or stays silent for HMP_TIMEOUT_MS.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HMP_PROMPT		"(qemu) "
#define HMP_TIMEOUT_MS		30000	/* per command: QEMU under TCG */
#define HMP_CONNECT_MS		30000
#define HMP_BUF			65536

static char	hmp_buf[HMP_BUF];
static size_t	hmp_len;

/* Print an error and exit 1. */
static void __attribute__((noreturn, format(printf, 1, 2)))
hmp_fail(const char *fmt, ...)
{
	va_list	 ap;

	fputs("qemu-hmp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Connect to the monitor socket at path, retrying until HMP_CONNECT_MS. */
static int
hmp_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd, waited = 0;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		hmp_fail("path too long: %s", path);
	strcpy(sun.sun_path, path);
	for (;;) {
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
			hmp_fail("socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return (fd);
		if (waited >= HMP_CONNECT_MS)
			hmp_fail("connect %s: %s", path, strerror(errno));
		close(fd);
		usleep(100 * 1000);
		waited += 100;
	}
}

/*
 * Read from fd into hmp_buf until it ends with the prompt; fail after
 * HMP_TIMEOUT_MS of silence, at EOF or when the buffer is full.
 */
static void
hmp_read_prompt(int fd, const char *what)
{
	struct pollfd	 pfd;
	size_t		 plen = strlen(HMP_PROMPT);
	ssize_t		 n;
	int		 rc;

	for (;;) {
		if (hmp_len >= plen && memcmp(hmp_buf + hmp_len - plen,
		    HMP_PROMPT, plen) == 0)
			return;
		if (hmp_len == sizeof(hmp_buf))
			hmp_fail("%s: output too long", what);
		pfd.fd = fd;
		pfd.events = POLLIN;
		rc = poll(&pfd, 1, HMP_TIMEOUT_MS);
		if (rc == -1 && errno == EINTR)
			continue;
		if (rc == -1)
			hmp_fail("poll: %s", strerror(errno));
		if (rc == 0)
			hmp_fail("%s: no prompt within %d ms", what,
			    HMP_TIMEOUT_MS);
		n = read(fd, hmp_buf + hmp_len, sizeof(hmp_buf) - hmp_len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			hmp_fail("%s: read: %s", what, strerror(errno));
		if (n == 0)
			hmp_fail("%s: the monitor closed the connection", what);
		hmp_len += (size_t)n;
	}
}

/*
 * Print the output of a command held in hmp_buf: what follows the first
 * line (QEMU's echo of the command) up to the final prompt, without
 * carriage returns.
 */
static void
hmp_print_output(void)
{
	size_t	 i, end = hmp_len - strlen(HMP_PROMPT);
	char	*nl;

	nl = memchr(hmp_buf, '\n', end);
	if (nl == NULL)
		return;
	for (i = (size_t)(nl - hmp_buf) + 1; i < end; i++) {
		if (hmp_buf[i] != '\r')
			putchar(hmp_buf[i]);
	}
}

/* Write all of buf to fd. */
static void
hmp_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			hmp_fail("write: %s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

/* Run the commands given on the command line. */
int
main(int argc, char **argv)
{
	int	 fd, i;

	if (argc < 3) {
		fprintf(stderr, "usage: qemu-hmp PATH COMMAND...\n");
		return (2);
	}
	signal(SIGPIPE, SIG_IGN);
	fd = hmp_connect(argv[1]);
	hmp_read_prompt(fd, "greeting");
	for (i = 2; i < argc; i++) {
		if (strchr(argv[i], '\n') != NULL)
			hmp_fail("a command holds a newline");
		hmp_len = 0;
		hmp_write_all(fd, argv[i], strlen(argv[i]));
		hmp_write_all(fd, "\n", 1);
		hmp_read_prompt(fd, argv[i]);
		hmp_print_output();
	}
	fflush(stdout);
	close(fd);
	return (0);
}
