/*
 * vhostd-fe: the test frontend as a command.  Connects to a vhost-user
 * socket as a VMM would and reads entropy (a benchmark), prints what the
 * back-end offers, or sends one raw message and prints the reply.
 */

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe/fe.h"

struct vhostd_fe_opts {
	const char	*socket;
	int		 timeout_ms;
	unsigned	 queue_size;
	uint64_t	 bytes;
	uint64_t	 chunk;
	unsigned	 depth;
	unsigned	 segs;
	int		 indirect;
	const char	*out;
	int		 have_flags;
	uint32_t	 flags;
	int		 have_size;
	uint32_t	 size;
	int		 wait_ms;
	int		 negotiate;
};

static const char vhostd_fe_usage_text[] =
"usage: vhostd-fe --socket PATH [--timeout MS] [--queue-size N] COMMAND ...\n"
"\n"
"Commands:\n"
"  rng --bytes N [--chunk BYTES] [--depth N] [--segs N] [--indirect]\n"
"      [--out FILE]\n"
"      Negotiate, set up queue 0 and read N bytes of entropy in requests of\n"
"      --chunk bytes (default 64), keeping --depth requests in flight\n"
"      (default: half the queue), each request split into --segs\n"
"      descriptors (default 1), optionally in an indirect table.  Prints\n"
"      one summary line: requests, bytes, elapsed_ms, bytes_per_s,\n"
"      requests_per_s, short (replies shorter than asked), calls\n"
"      (interrupts).  --out writes the bytes to FILE ('-' = stdout).\n"
"      N and BYTES accept K, M, G suffixes (powers of 1024).\n"
"  blk --bytes N [--chunk BYTES] [--depth N]\n"
"      Read N bytes from a blk device (vhostd --module=blk) in requests of\n"
"      --chunk bytes (default 4096) at consecutive sectors, --depth in\n"
"      flight (default 32).  Prints the same summary line as rng.\n"
"  probe\n"
"      Print the features, protocol features, queue count and memory\n"
"      slots the back-end offers.\n"
"  raw REQ [HEX] [--flags F] [--size S] [--wait MS] [--negotiate]\n"
"      Send one message with request REQ (a number or a name such as\n"
"      GET_FEATURES) and payload HEX (hex digits, spaces ignored).  The\n"
"      header flags default to version 1 (0x1); --size makes the header\n"
"      claim S bytes whatever the payload.  Prints the reply, or that the\n"
"      connection was closed, or that nothing came within --wait MS\n"
"      (default 1000).  --negotiate first does SET_OWNER and the feature\n"
"      negotiation (with REPLY_ACK when offered), so NEED_REPLY (0x8 in\n"
"      --flags) gets an ack.\n"
"\n"
"Options:\n"
"  --socket PATH     the vhost-user socket (required)\n"
"  --timeout MS      reply and completion timeout (default 5000)\n"
"  --queue-size N    ring size for rng (default 256)\n"
"  -h, --help        this text\n"
"Environment: VHOSTD_FE_PACKED=1 drives packed rings (VIRTIO_F_RING_PACKED).\n"
"\n"
"Exit status: 0 on success, 1 on failure, 2 on a usage error.\n";

/* Print usage and exit with `status`. */
static void
vhostd_fe_usage(int status)
{
	fputs(vhostd_fe_usage_text, status == 0 ? stdout : stderr);
	exit(status);
}

/* Parse a number with an optional K/M/G suffix; -1 on error. */
static int
vhostd_fe_number(const char *s, uint64_t *v)
{
	char			*end;
	unsigned long long	 n;

	errno = 0;
	n = strtoull(s, &end, 0);
	if (errno != 0 || end == s)
		return (-1);
	switch (*end) {
	case 'k': case 'K':
		n <<= 10;
		end++;
		break;
	case 'm': case 'M':
		n <<= 20;
		end++;
		break;
	case 'g': case 'G':
		n <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end != '\0')
		return (-1);
	*v = n;
	return (0);
}

/* Parse a request number or name; -1 on error. */
static int
vhostd_fe_request(const char *s, uint32_t *req)
{
	uint64_t	v;
	uint32_t	i;
	const char	*name;

	if (vhostd_fe_number(s, &v) == 0 && v <= UINT32_MAX) {
		*req = (uint32_t)v;
		return (0);
	}
	if (strncmp(s, "VHOST_USER_", 11) == 0)
		s += 11;
	for (i = 0; i < VHOST_USER_MAX; i++) {
		name = fe_request_name(i);
		if (strcasecmp(name, s) == 0) {
			*req = i;
			return (0);
		}
	}
	return (-1);
}

/* Decode hex digits (spaces and colons ignored); -1 on error. */
static int
vhostd_fe_hex(const char *s, uint8_t *buf, size_t cap, size_t *len)
{
	int	hi = -1, v;

	*len = 0;
	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == ':' || *s == '\t')
			continue;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
		else
			return (-1);
		if (hi == -1) {
			hi = v;
			continue;
		}
		if (*len == cap)
			return (-1);
		buf[(*len)++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	return (hi == -1 ? 0 : -1);
}

/* Print feature bits as a list of numbers. */
static void
vhostd_fe_bits(const char *what, uint64_t v)
{
	int	b;

	printf("%s: 0x%016" PRIx64 " (bits", what, v);
	for (b = 0; b < 64; b++) {
		if (v & (1ull << b))
			printf(" %d", b);
	}
	printf(")\n");
}

/* The probe command. */
static int
vhostd_fe_probe(const struct vhostd_fe_opts *o)
{
	struct fe	*fe;
	uint64_t	 f, pf, v;
	int		 ret = 1;

	if ((fe = fe_new(o->socket, NULL, 0)) == NULL) {
		fprintf(stderr, "vhostd-fe: %s\n", fe_error());
		return (1);
	}
	fe->timeout_ms = o->timeout_ms;
	if (fe_get_features(fe, &f) != 0)
		goto fail;
	vhostd_fe_bits("features", f);
	if (f & FE_BIT(VHOST_USER_F_PROTOCOL_FEATURES)) {
		if (fe_get_protocol_features(fe, &pf) != 0)
			goto fail;
		vhostd_fe_bits("protocol features", pf);
		if (fe_set_protocol_features(fe, pf & FE_WANT_PROTOCOL) != 0)
			goto fail;
		if (pf & FE_BIT(VHOST_USER_PROTOCOL_F_MQ)) {
			if (fe_get_queue_num(fe, &v) != 0)
				goto fail;
			printf("queues: %" PRIu64 "\n", v);
		}
		if (pf & FE_BIT(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS)) {
			if (fe_get_max_mem_slots(fe, &v) != 0)
				goto fail;
			printf("max memory slots: %" PRIu64 "\n", v);
		}
	}
	ret = 0;
	goto out;
fail:
	fprintf(stderr, "vhostd-fe: %s\n", fe_error());
out:
	fe_free(fe);
	return (ret);
}

/* Write all of buf to fd. */
static int
vhostd_fe_write_all(int fd, const uint8_t *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/* The blk command: 4 KiB reads (by default) at queue depth 32. */
static int
vhostd_fe_blk(const struct vhostd_fe_opts *o)
{
	struct fe_rng_stats	 st;
	struct fe		*fe;
	uint64_t		 capacity = 0, count;
	uint32_t		 got = 0, bs;
	unsigned		 depth = o->depth ? o->depth : 32;
	double			 secs;
	int			 ret = 1;

	/* --chunk defaults to 64 for rng; a blk request is 4 KiB then. */
	bs = o->chunk == 64 ? 4096 : (uint32_t)o->chunk;
	if (o->bytes == 0 || bs % 512 != 0) {
		fprintf(stderr, "vhostd-fe: blk needs --bytes and a --chunk "
		    "multiple of 512\n");
		return (2);
	}
	count = o->bytes / bs;
	if ((fe = fe_new(o->socket, NULL, 0)) == NULL) {
		fprintf(stderr, "vhostd-fe: %s\n", fe_error());
		return (1);
	}
	fe->timeout_ms = o->timeout_ms;
	if (fe_start(fe, o->queue_size) != 0 || fe_get_config(fe, 0,
	    sizeof capacity, &capacity, &got) != 0 || got != sizeof capacity) {
		fprintf(stderr, "vhostd-fe: setup: %s\n", fe_error());
		goto out;
	}
	if (fe_blk_read(fe, 0, count, bs, depth, capacity, &st) != 0) {
		fprintf(stderr, "vhostd-fe: after %" PRIu64 " requests: %s\n",
		    st.requests, fe_error());
		goto out;
	}
	secs = (double)st.elapsed_ns / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	printf("requests=%" PRIu64 " bytes=%" PRIu64 " elapsed_ms=%.3f "
	    "bytes_per_s=%.0f requests_per_s=%.0f calls=%" PRIu64
	    " chunk=%u depth=%u ring=%s\n", st.requests, st.bytes,
	    secs * 1e3, (double)st.bytes / secs, (double)st.requests / secs,
	    st.calls, bs, depth, fe->packed ? "packed" : "split");
	ret = 0;
out:
	fe_free(fe);
	return (ret);
}

/* The rng command. */
static int
vhostd_fe_rng(const struct vhostd_fe_opts *o)
{
	struct fe_region_spec	 spec;
	struct fe_rng_stats	 st;
	struct fe		*fe;
	uint8_t			*buf = NULL;
	unsigned		 depth = o->depth;
	double			 secs;
	int			 fd, ret = 1;

	if (o->bytes == 0) {
		fprintf(stderr, "vhostd-fe: rng needs --bytes\n");
		return (2);
	}
	if (depth == 0)
		depth = o->queue_size / 2 ? o->queue_size / 2 : 1;
	spec.gpa = 0;
	spec.offset = 0;
	spec.size = (o->chunk + 64) * depth + (uint64_t)o->queue_size *
	    (FE_MAX_INDIRECT * 16 + 64) + (4u << 20);
	spec.size = (spec.size + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
	if ((fe = fe_new(o->socket, &spec, 1)) == NULL) {
		fprintf(stderr, "vhostd-fe: %s\n", fe_error());
		return (1);
	}
	fe->timeout_ms = o->timeout_ms;
	if (o->out != NULL && (buf = malloc(o->bytes)) == NULL) {
		fprintf(stderr, "vhostd-fe: out of memory\n");
		goto out;
	}
	if (fe_start(fe, o->queue_size) != 0) {
		fprintf(stderr, "vhostd-fe: setup: %s\n", fe_error());
		goto out;
	}
	if (fe_rng_read(fe, 0, buf, o->bytes, o->chunk, depth, o->segs,
	    o->indirect, &st) != 0) {
		fprintf(stderr, "vhostd-fe: after %" PRIu64 " bytes: %s\n",
		    st.bytes, fe_error());
		goto out;
	}
	secs = (double)st.elapsed_ns / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	printf("requests=%" PRIu64 " bytes=%" PRIu64 " elapsed_ms=%.3f "
	    "bytes_per_s=%.0f requests_per_s=%.0f short=%" PRIu64
	    " calls=%" PRIu64 " chunk=%" PRIu64 " depth=%u segs=%u%s ring=%s\n",
	    st.requests, st.bytes, secs * 1e3, (double)st.bytes / secs,
	    (double)st.requests / secs, st.short_replies, st.calls, o->chunk,
	    depth, o->segs, o->indirect ? " indirect" : "",
	    fe->packed ? "packed" : "split");
	if (o->out != NULL) {
		if (strcmp(o->out, "-") == 0)
			fd = STDOUT_FILENO;
		else if ((fd = open(o->out, O_WRONLY | O_CREAT | O_TRUNC,
		    0644)) == -1) {
			fprintf(stderr, "vhostd-fe: %s: %s\n", o->out,
			    strerror(errno));
			goto out;
		}
		if (vhostd_fe_write_all(fd, buf, st.bytes) == -1) {
			fprintf(stderr, "vhostd-fe: write: %s\n",
			    strerror(errno));
			if (fd != STDOUT_FILENO)
				close(fd);
			goto out;
		}
		if (fd != STDOUT_FILENO)
			close(fd);
	}
	ret = 0;
out:
	free(buf);
	fe_free(fe);
	return (ret);
}

/* The raw command. */
static int
vhostd_fe_raw(const struct vhostd_fe_opts *o, int argc, char **argv)
{
	uint8_t		 payload[VHOST_USER_MAX_PAYLOAD * 2];
	struct fe_msg	 m;
	struct fe	*fe;
	size_t		 len = 0, i;
	uint32_t	 req;
	int		 fd, r;

	if (argc < 1 || argc > 2)
		vhostd_fe_usage(2);
	if (vhostd_fe_request(argv[0], &req) == -1) {
		fprintf(stderr, "vhostd-fe: bad request '%s'\n", argv[0]);
		return (2);
	}
	if (argc == 2 && vhostd_fe_hex(argv[1], payload, sizeof payload,
	    &len) == -1) {
		fprintf(stderr, "vhostd-fe: bad hex payload\n");
		return (2);
	}
	if ((fe = fe_new(o->socket, NULL, 0)) == NULL) {
		fprintf(stderr, "vhostd-fe: %s\n", fe_error());
		return (1);
	}
	fe->timeout_ms = o->timeout_ms;
	if (o->negotiate && fe_negotiate(fe, FE_WANT_FEATURES,
	    FE_WANT_PROTOCOL) != 0) {
		fprintf(stderr, "vhostd-fe: negotiate: %s\n", fe_error());
		fe_free(fe);
		return (1);
	}
	fd = fe->fd;
	if (fe_sock_send(fd, req, o->have_flags ? o->flags :
	    VHOST_USER_VERSION, o->have_size ? o->size : (uint32_t)len,
	    payload, len, NULL, 0) == -1) {
		fprintf(stderr, "vhostd-fe: %s\n", fe_error());
		fe_free(fe);
		return (1);
	}
	printf("sent: request %u (%s) size %zu\n", req, fe_request_name(req),
	    len);
	r = fe_sock_recv(fd, &m, o->wait_ms);
	if (r == 0)
		printf("connection closed by the back-end\n");
	else if (r == -1 && fe_sock_wait_closed(fd, 0))
		printf("connection closed by the back-end\n");
	else if (r == -1)
		printf("no reply (%s)\n", fe_error());
	else {
		printf("reply: request %u (%s) flags 0x%x size %u fds %d\n",
		    m.hdr.request, fe_request_name(m.hdr.request),
		    m.hdr.flags, m.hdr.size, m.nfds);
		printf("payload:");
		for (i = 0; i < m.hdr.size; i++)
			printf("%s%02x", i % 16 == 0 ? "\n  " : " ",
			    m.payload[i]);
		printf("\n");
		if (m.hdr.size == 8)
			printf("u64: %" PRIu64 " (0x%" PRIx64 ")\n",
			    fe_msg_u64(&m), fe_msg_u64(&m));
		fe_msg_close_fds(&m);
	}
	fe_free(fe);
	return (0);
}

/* Parse the options and run one command. */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "queue-size", required_argument, NULL, 'q' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "depth", required_argument, NULL, 'd' },
		{ "segs", required_argument, NULL, 'S' },
		{ "indirect", no_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' },
		{ "flags", required_argument, NULL, 'f' },
		{ "size", required_argument, NULL, 'z' },
		{ "wait", required_argument, NULL, 'w' },
		{ "negotiate", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct vhostd_fe_opts	 o;
	uint64_t		 v;
	int			 ch;
	const char		*cmd;

	memset(&o, 0, sizeof o);
	o.timeout_ms = FE_TIMEOUT_MS;
	o.queue_size = 256;
	o.chunk = 64;
	o.segs = 1;
	o.wait_ms = 1000;
	/* '+' would stop at the command; options may follow it too. */
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'h')
			vhostd_fe_usage(0);
		if (ch == 's') {
			o.socket = optarg;
			continue;
		}
		if (ch == 'n') {
			o.negotiate = 1;
			continue;
		}
		if (ch == 'i') {
			o.indirect = 1;
			continue;
		}
		if (ch == 'o') {
			o.out = optarg;
			continue;
		}
		if (ch == '?' || vhostd_fe_number(optarg, &v) == -1) {
			if (ch != '?')
				fprintf(stderr, "vhostd-fe: bad number '%s'\n",
				    optarg);
			vhostd_fe_usage(2);
		}
		switch (ch) {
		case 't':
			o.timeout_ms = (int)(v > 3600000 ? 3600000 : v);
			break;
		case 'q':
			if (v == 0 || v > 32768 || (v & (v - 1)) != 0) {
				fprintf(stderr, "vhostd-fe: bad queue size\n");
				return (2);
			}
			o.queue_size = (unsigned)v;
			break;
		case 'b':
			o.bytes = v;
			break;
		case 'c':
			if (v == 0 || v > (1u << 30)) {
				fprintf(stderr, "vhostd-fe: bad chunk\n");
				return (2);
			}
			o.chunk = v;
			break;
		case 'd':
			o.depth = (unsigned)(v > 32768 ? 32768 : v);
			break;
		case 'S':
			if (v == 0 || v > FE_MAX_INDIRECT) {
				fprintf(stderr, "vhostd-fe: --segs must be 1..%d"
				    "\n", FE_MAX_INDIRECT);
				return (2);
			}
			o.segs = (unsigned)v;
			break;
		case 'f':
			o.have_flags = 1;
			o.flags = (uint32_t)v;
			break;
		case 'z':
			o.have_size = 1;
			o.size = (uint32_t)v;
			break;
		case 'w':
			o.wait_ms = (int)(v > 3600000 ? 3600000 : v);
			break;
		default:
			vhostd_fe_usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || o.socket == NULL)
		vhostd_fe_usage(2);
	cmd = argv[0];
	if (strcmp(cmd, "rng") == 0 && argc == 1)
		return (vhostd_fe_rng(&o));
	if (strcmp(cmd, "blk") == 0 && argc == 1)
		return (vhostd_fe_blk(&o));
	if (strcmp(cmd, "probe") == 0 && argc == 1)
		return (vhostd_fe_probe(&o));
	if (strcmp(cmd, "raw") == 0)
		return (vhostd_fe_raw(&o, argc - 1, argv + 1));
	vhostd_fe_usage(2);
	return (2);
}
