/*
 * vsock-test: both ends of the vsock end-to-end test (run-vsock.sh).
 * Built static for the guest (AF_VSOCK modes) and for the host (unix
 * socket modes).  Data is a deterministic xorshift stream; both ends
 * checksum it (FNV-1a 64) and the receiver answers "SUM <hex> <bytes>\n"
 * after the sender's half-close, so each transfer also shows a half-close
 * seen on the other side with the reverse direction still working.
 *
 * Guest modes:
 *	recv PORT BYTES		listen, take BYTES until EOF, answer SUM
 *	send CID PORT BYTES	connect, send BYTES, SHUT_WR, check SUM
 *	refused CID PORT	connect must fail promptly
 *	seq CID PORT		seqpacket messages echoed with boundaries
 *	echo CID PORT BYTES	connect, send BYTES while reading them back
 *				from an echo, check each byte, SHUT_WR, EOF
 * Host modes:
 *	host-recv PATH BYTES	as recv, on a unix listener at PATH
 *	host-send UDS PORT BYTES  "CONNECT PORT" (retried until OK), as send
 *	host-seq-echo PATH N	seqpacket listener echoing N messages
 *	host-echo PATH BYTES RATE [HOLDS]  unix listener echoing BYTES of
 *				the stream (checked) at most RATE bytes/s (0: no
 *				limit), with "VSOCK-PROGRESS <bytes>" lines; with
 *				HOLDS, it stops reading at each k * BYTES /
 *				(HOLDS + 1) until the file PATH.go<k> exists (the
 *				test has paused and resumed the VM there), so
 *				the transfer cannot end before every pause
 *
 * Every mode prints one "VSOCK-OK <mode> ..." or "VSOCK-FAIL <mode>: ..."
 * line and exits 0 or 1.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#define VT_CHUNK	(64 * 1024)
#define VT_FNV_INIT	0xcbf29ce484222325ULL
#define VT_SEED		0x9e3779b97f4a7c15ULL
#define VT_STALL_MS	30000	/* echo: nothing moved for this long (guest
				   time: a paused VM does not count) */
#define VT_PROGRESS	(256 * 1024)	/* host-echo: progress line step */

static const char *vt_mode = "?";

/* Fail the mode with a message and exit 1. */
static void __attribute__((noreturn, format(printf, 1, 2)))
vt_fail(const char *fmt, ...)
{
	va_list	 ap;

	printf("VSOCK-FAIL %s: ", vt_mode);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (errno %d %s)\n", errno, strerror(errno));
	fflush(stdout);
	exit(1);
}

/* Monotonic seconds. */
static double
vt_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Fill buf with the next len bytes of the xorshift stream in *state. */
static void
vt_gen(uint64_t *state, uint8_t *buf, size_t len)
{
	uint64_t	 x = *state;
	size_t		 i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)(x >> 24);
	}
	*state = x;
}

/* Fold len bytes into an FNV-1a 64 sum. */
static uint64_t
vt_sum(uint64_t h, const uint8_t *p, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return (h);
}

/* Write all of buf. */
static void
vt_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			vt_fail("write");
		p += n;
		len -= (size_t)n;
	}
}

/* Read until EOF; return the byte count and the sum. */
static uint64_t
vt_drain(int fd, uint64_t *sum)
{
	static uint8_t	 buf[VT_CHUNK];
	uint64_t	 total = 0;
	ssize_t		 n;

	*sum = VT_FNV_INIT;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			vt_fail("read after %llu bytes",
			    (unsigned long long)total);
		if (n == 0)
			return (total);
		*sum = vt_sum(*sum, buf, (size_t)n);
		total += (uint64_t)n;
	}
}

/* Read a line (up to 127 bytes) into line; 0 or -1 at EOF. */
static int
vt_line(int fd, char *line, size_t size)
{
	size_t	 n = 0;
	ssize_t	 r;

	while (n + 1 < size) {
		r = read(fd, line + n, 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return (-1);
		if (line[n] == '\n') {
			line[n] = '\0';
			return (0);
		}
		n++;
	}
	line[n] = '\0';
	return (0);
}

/* Receive side: take everything until EOF, answer with the sum, close. */
static void
vt_recv(int fd, uint64_t want)
{
	char		 line[128];
	uint64_t	 sum, got;
	double		 t0 = vt_now(), dt;

	got = vt_drain(fd, &sum);
	dt = vt_now() - t0;
	if (got != want)
		vt_fail("got %llu bytes, want %llu", (unsigned long long)got,
		    (unsigned long long)want);
	snprintf(line, sizeof(line), "SUM %016llx %llu\n",
	    (unsigned long long)sum, (unsigned long long)got);
	vt_write_all(fd, line, strlen(line));
	if (shutdown(fd, SHUT_WR) == -1)
		vt_fail("shutdown");
	close(fd);
	printf("VSOCK-OK %s %llu bytes sum %016llx in %.2fs (%.1f MB/s)\n",
	    vt_mode, (unsigned long long)got, (unsigned long long)sum, dt,
	    dt > 0 ? (double)got / dt / 1e6 : 0.0);
}

/* Send side: send `bytes` of the stream, half-close, check the answer. */
static void
vt_send(int fd, uint64_t bytes)
{
	static uint8_t	 buf[VT_CHUNK];
	char		 line[128], want[128];
	uint64_t	 state = VT_SEED, sum = VT_FNV_INIT;
	uint64_t	 left = bytes;
	size_t		 n;
	double		 t0 = vt_now(), dt;

	while (left > 0) {
		n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		vt_gen(&state, buf, n);
		sum = vt_sum(sum, buf, n);
		vt_write_all(fd, buf, n);
		left -= n;
	}
	if (shutdown(fd, SHUT_WR) == -1)
		vt_fail("shutdown");
	if (vt_line(fd, line, sizeof(line)) != 0)
		vt_fail("no SUM line after the half-close");
	dt = vt_now() - t0;
	snprintf(want, sizeof(want), "SUM %016llx %llu",
	    (unsigned long long)sum, (unsigned long long)bytes);
	if (strcmp(line, want) != 0)
		vt_fail("peer says '%s', we sent '%s'", line, want);
	if (read(fd, line, 1) != 0)
		vt_fail("no EOF after the SUM line");
	close(fd);
	printf("VSOCK-OK %s %llu bytes sum %016llx in %.2fs (%.1f MB/s)\n",
	    vt_mode, (unsigned long long)bytes, (unsigned long long)sum, dt,
	    dt > 0 ? (double)bytes / dt / 1e6 : 0.0);
}

/* A connected AF_VSOCK socket of `type` to cid:port, or -1. */
static int
vt_vsock_connect(int type, unsigned cid, unsigned port)
{
	struct sockaddr_vm	 svm;
	int			 fd;

	if ((fd = socket(AF_VSOCK, type, 0)) == -1)
		vt_fail("socket(AF_VSOCK)");
	memset(&svm, 0, sizeof(svm));
	svm.svm_family = AF_VSOCK;
	svm.svm_cid = cid;
	svm.svm_port = port;
	if (connect(fd, (struct sockaddr *)&svm, sizeof(svm)) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* A unix socket address for path. */
static void
vt_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", path);
}

/* Accept one connection on a fresh listener (vsock port or unix path). */
static int
vt_accept_one(int family, int type, const char *path, unsigned port)
{
	struct sockaddr_vm	 svm;
	struct sockaddr_un	 sun;
	int			 l, fd;

	if ((l = socket(family, type, 0)) == -1)
		vt_fail("socket");
	if (family == AF_VSOCK) {
		memset(&svm, 0, sizeof(svm));
		svm.svm_family = AF_VSOCK;
		svm.svm_cid = VMADDR_CID_ANY;
		svm.svm_port = port;
		if (bind(l, (struct sockaddr *)&svm, sizeof(svm)) == -1)
			vt_fail("bind vsock port %u", port);
	} else {
		vt_sun(&sun, path);
		unlink(path);
		if (bind(l, (struct sockaddr *)&sun, sizeof(sun)) == -1)
			vt_fail("bind %s", path);
	}
	if (listen(l, 4) == -1)
		vt_fail("listen");
	printf("VSOCK-LISTENING %s\n", vt_mode);
	fflush(stdout);
	if ((fd = accept(l, NULL, NULL)) == -1)
		vt_fail("accept");
	close(l);
	return (fd);
}

/* Fail unless the n bytes at p are the next ones of the stream in *state. */
static void
vt_check(uint64_t *state, const uint8_t *p, size_t n, uint64_t offset)
{
	static uint8_t	 want[VT_CHUNK];
	size_t		 i;

	vt_gen(state, want, n);
	if (memcmp(p, want, n) == 0)
		return;
	for (i = 0; i < n && p[i] == want[i]; i++)
		;
	errno = 0;
	vt_fail("byte %llu is 0x%02x, want 0x%02x (out of order or corrupt)",
	    (unsigned long long)(offset + i), p[i], want[i]);
}

/*
 * echo: send `bytes` of the stream to a peer that echoes it, reading the
 * echo at the same time (poll, nonblocking) and checking every byte in
 * order; half-close once all is sent and expect EOF after the last byte.
 * A failure says how far both directions got.
 */
static void
vt_echo(int fd, uint64_t bytes)
{
	static uint8_t	 out[VT_CHUNK], in[VT_CHUNK];
	struct pollfd	 pfd;
	uint64_t	 sstate = VT_SEED, rstate = VT_SEED;
	uint64_t	 sent = 0, got = 0;
	size_t		 off = 0, len = 0, n;
	ssize_t		 r;
	double		 t0 = vt_now(), dt;
	int		 rc;

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		vt_fail("fcntl");
	while (got < bytes) {
		if (off == len && sent < bytes) {
			n = bytes - sent < sizeof(out) ?
			    (size_t)(bytes - sent) : sizeof(out);
			vt_gen(&sstate, out, n);
			off = 0;
			len = n;
		}
		pfd.fd = fd;
		pfd.events = POLLIN | (off < len ? POLLOUT : 0);
		rc = poll(&pfd, 1, VT_STALL_MS);
		if (rc == -1 && errno == EINTR)
			continue;
		if (rc == -1)
			vt_fail("poll");
		if (rc == 0) {
			errno = ETIMEDOUT;
			vt_fail("nothing moved for %d ms: sent %llu, echoed "
			    "%llu of %llu bytes", VT_STALL_MS,
			    (unsigned long long)sent,
			    (unsigned long long)got,
			    (unsigned long long)bytes);
		}
		if (off < len && (pfd.revents & (POLLOUT | POLLERR))) {
			r = send(fd, out + off, len - off, MSG_NOSIGNAL);
			if (r == -1 && errno != EAGAIN && errno != EINTR)
				vt_fail("send failed: sent %llu, echoed %llu "
				    "of %llu bytes", (unsigned long long)sent,
				    (unsigned long long)got,
				    (unsigned long long)bytes);
			if (r > 0) {
				off += (size_t)r;
				sent += (uint64_t)r;
				if (sent == bytes && off == len &&
				    shutdown(fd, SHUT_WR) == -1)
					vt_fail("shutdown");
			}
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			r = recv(fd, in, sizeof(in), 0);
			if (r == -1 && errno != EAGAIN && errno != EINTR)
				vt_fail("recv failed: sent %llu, echoed %llu "
				    "of %llu bytes", (unsigned long long)sent,
				    (unsigned long long)got,
				    (unsigned long long)bytes);
			if (r == 0) {
				errno = 0;
				vt_fail("EOF from the peer: sent %llu, "
				    "echoed %llu of %llu bytes",
				    (unsigned long long)sent,
				    (unsigned long long)got,
				    (unsigned long long)bytes);
			}
			if (r > 0) {
				vt_check(&rstate, in, (size_t)r, got);
				got += (uint64_t)r;
			}
		}
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == -1)
		vt_fail("fcntl");
	if ((r = recv(fd, in, sizeof(in), 0)) != 0)
		vt_fail("no EOF after the echo of %llu bytes (%zd)",
		    (unsigned long long)bytes, r);
	close(fd);
	dt = vt_now() - t0;
	printf("VSOCK-OK %s %llu bytes echoed in order in %.2fs "
	    "(%.1f MB/s)\n", vt_mode, (unsigned long long)bytes, dt,
	    dt > 0 ? (double)bytes / dt / 1e6 : 0.0);
}

/* host-echo: stop at hold k (after `total` bytes) until PATH.go<k>
 * exists; 120 s at most. */
static void
vt_hold(const char *path, unsigned k, uint64_t total)
{
	char	gate[PATH_MAX];
	double	t0 = vt_now();

	printf("VSOCK-PROGRESS %llu\n", (unsigned long long)total);
	snprintf(gate, sizeof(gate), "%s.go%u", path, k);
	while (access(gate, F_OK) == -1) {
		if (vt_now() - t0 > 120) {
			errno = 0;
			vt_fail("no %s within 120 s (hold %u at %llu bytes)",
			    gate, k, (unsigned long long)total);
		}
		usleep(10000);
	}
}

/*
 * host-echo: echo one connection on a unix listener, checking that the
 * bytes are the stream in order, at most `rate` bytes/s (a pause after
 * each read, so the transfer lasts long enough for the VM to be paused
 * in its middle), printing the bytes echoed every VT_PROGRESS.
 */
static void
vt_host_echo(const char *path, uint64_t bytes, uint64_t rate,
    unsigned holds)
{
	static uint8_t	 buf[VT_CHUNK];
	uint64_t	 state = VT_SEED, total = 0, next = VT_PROGRESS;
	unsigned	 k = 1;
	ssize_t		 n, w;
	size_t		 off;
	double		 t0, dt;
	int		 fd;

	fd = vt_accept_one(AF_UNIX, SOCK_STREAM, path, 0);
	printf("VSOCK-PROGRESS 0\n");
	t0 = vt_now();
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			vt_fail("read after %llu bytes",
			    (unsigned long long)total);
		if (n == 0)
			break;
		vt_check(&state, buf, (size_t)n, total);
		for (off = 0; off < (size_t)n; off += (size_t)w) {
			w = send(fd, buf + off, (size_t)n - off,
			    MSG_NOSIGNAL);
			if (w == -1 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0)
				vt_fail("write after %llu bytes echoed",
				    (unsigned long long)(total + off));
		}
		total += (uint64_t)n;
		if (total >= next || total == bytes) {
			printf("VSOCK-PROGRESS %llu\n",
			    (unsigned long long)total);
			while (next <= total)
				next += VT_PROGRESS;
		}
		if (rate > 0)
			usleep((useconds_t)((uint64_t)n * 1000000 / rate));
		for (; k <= holds && total >= k * bytes / (holds + 1); k++)
			vt_hold(path, k, total);
	}
	dt = vt_now() - t0;
	if (total != bytes) {
		errno = 0;
		vt_fail("EOF after %llu of %llu bytes",
		    (unsigned long long)total, (unsigned long long)bytes);
	}
	if (shutdown(fd, SHUT_WR) == -1)
		vt_fail("shutdown");
	close(fd);
	printf("VSOCK-OK %s %llu bytes echoed in order in %.2fs\n", vt_mode,
	    (unsigned long long)total, dt);
}

/* host-send: connect to the hybrid socket with CONNECT until "OK". */
static int
vt_host_connect(const char *uds, unsigned port)
{
	struct sockaddr_un	 sun;
	char			 line[128];
	double			 t0 = vt_now();
	int			 fd;

	for (;;) {
		if (vt_now() - t0 > 90)
			vt_fail("no OK from %s within 90 s", uds);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
			vt_fail("socket");
		vt_sun(&sun, uds);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			snprintf(line, sizeof(line), "CONNECT %u\n", port);
			vt_write_all(fd, line, strlen(line));
			if (vt_line(fd, line, sizeof(line)) == 0 &&
			    strncmp(line, "OK ", 3) == 0) {
				printf("VSOCK-CONNECTED %s %s\n", vt_mode,
				    line);
				return (fd);
			}
		}
		close(fd);
		usleep(200000);
	}
}

/* seq: send messages of several sizes, expect each echoed whole. */
static void
vt_seq(unsigned cid, unsigned port)
{
	static const size_t	 sizes[] = { 1, 17, 1000, 4096, 5000, 65536,
				    100000, 3 };
	static uint8_t		 out[100000], in[200000];
	uint64_t		 state = 7;
	size_t			 i;
	ssize_t			 n;
	int			 fd;

	if ((fd = vt_vsock_connect(SOCK_SEQPACKET, cid, port)) == -1)
		vt_fail("connect seqpacket %u:%u", cid, port);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		vt_gen(&state, out, sizes[i]);
		n = send(fd, out, sizes[i], MSG_EOR);
		if (n != (ssize_t)sizes[i])
			vt_fail("send message %zu of %zu bytes", i, sizes[i]);
		n = recv(fd, in, sizeof(in), 0);
		if (n != (ssize_t)sizes[i])
			vt_fail("message %zu: got %zd bytes, sent %zu", i, n,
			    sizes[i]);
		if (memcmp(in, out, sizes[i]) != 0)
			vt_fail("message %zu: content differs", i);
	}
	close(fd);
	printf("VSOCK-OK %s %zu messages\n", vt_mode,
	    sizeof(sizes) / sizeof(sizes[0]));
}

/* host-seq-echo: echo n messages on a seqpacket unix listener. */
static void
vt_seq_echo(const char *path, unsigned n)
{
	static uint8_t	 buf[300000];
	unsigned	 i;
	ssize_t		 r;
	int		 fd;

	fd = vt_accept_one(AF_UNIX, SOCK_SEQPACKET, path, 0);
	for (i = 0; i < n; i++) {
		r = recv(fd, buf, sizeof(buf), 0);
		if (r <= 0)
			vt_fail("recv message %u", i);
		if (send(fd, buf, (size_t)r, MSG_EOR) != r)
			vt_fail("send message %u", i);
	}
	close(fd);
	printf("VSOCK-OK %s %u messages\n", vt_mode, n);
}

/* refused: a connect to a port nobody listens on fails promptly. */
static void
vt_refused(unsigned cid, unsigned port)
{
	double	 t0 = vt_now(), dt;
	int	 fd;

	fd = vt_vsock_connect(SOCK_STREAM, cid, port);
	dt = vt_now() - t0;
	if (fd != -1)
		vt_fail("connect to %u:%u succeeded", cid, port);
	if (errno != ECONNRESET && errno != ECONNREFUSED)
		vt_fail("connect failed with an unexpected error");
	if (dt > 1.0)
		vt_fail("connect took %.2f s to fail", dt);
	printf("VSOCK-OK %s in %.3f s (%s)\n", vt_mode, dt, strerror(errno));
}

/* Parse a number or fail. */
static uint64_t
vt_num(const char *s)
{
	char			*end;
	unsigned long long	 v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0')
		vt_fail("bad number '%s'", s);
	return (v);
}

/* Run the mode given on the command line. */
int
main(int argc, char **argv)
{
	int	 fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A peer gone is reported as EPIPE with the byte counts. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		fprintf(stderr, "usage: see the top of vsock-test.c\n");
		return (2);
	}
	vt_mode = argv[1];
	if (strcmp(vt_mode, "recv") == 0 && argc == 4) {
		fd = vt_accept_one(AF_VSOCK, SOCK_STREAM, NULL,
		    (unsigned)vt_num(argv[2]));
		vt_recv(fd, vt_num(argv[3]));
	} else if (strcmp(vt_mode, "send") == 0 && argc == 5) {
		fd = vt_vsock_connect(SOCK_STREAM, (unsigned)vt_num(argv[2]),
		    (unsigned)vt_num(argv[3]));
		if (fd == -1)
			vt_fail("connect");
		vt_send(fd, vt_num(argv[4]));
	} else if (strcmp(vt_mode, "refused") == 0 && argc == 4) {
		vt_refused((unsigned)vt_num(argv[2]),
		    (unsigned)vt_num(argv[3]));
	} else if (strcmp(vt_mode, "seq") == 0 && argc == 4) {
		vt_seq((unsigned)vt_num(argv[2]), (unsigned)vt_num(argv[3]));
	} else if (strcmp(vt_mode, "echo") == 0 && argc == 5) {
		fd = vt_vsock_connect(SOCK_STREAM, (unsigned)vt_num(argv[2]),
		    (unsigned)vt_num(argv[3]));
		if (fd == -1)
			vt_fail("connect");
		vt_echo(fd, vt_num(argv[4]));
	} else if (strcmp(vt_mode, "host-recv") == 0 && argc == 4) {
		fd = vt_accept_one(AF_UNIX, SOCK_STREAM, argv[2], 0);
		vt_recv(fd, vt_num(argv[3]));
	} else if (strcmp(vt_mode, "host-send") == 0 && argc == 5) {
		fd = vt_host_connect(argv[2], (unsigned)vt_num(argv[3]));
		vt_send(fd, vt_num(argv[4]));
	} else if (strcmp(vt_mode, "host-echo") == 0 &&
	    (argc == 5 || argc == 6)) {
		vt_host_echo(argv[2], vt_num(argv[3]), vt_num(argv[4]),
		    argc == 6 ? (unsigned)vt_num(argv[5]) : 0);
	} else if (strcmp(vt_mode, "host-seq-echo") == 0 && argc == 4) {
		vt_seq_echo(argv[2], (unsigned)vt_num(argv[3]));
	} else {
		fprintf(stderr, "vsock-test: bad mode or arguments\n");
		return (2);
	}
	return (0);
}
