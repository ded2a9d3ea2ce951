/*
 * vhostd-bench: options, the run (the device, then the baselines of the
 * same workload), latency percentiles and the report as text or JSON.
 */

#include <sys/types.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static const char bench_usage_text[] =
"usage: vhostd-bench [--json] [--pid PID] [--size BYTES] [--depth N]\n"
"           [--queues N] [--queue-size N] [--rw read|write|randread|randwrite]\n"
"           [--count N | --duration SEC] [--file IMAGE] [--no-raw]\n"
"           [--uds PATH] [--port N] [--timeout MS] --socket PATH rng|blk|vsock\n"
"       vhostd-bench --raw-only [options] rng|blk|vsock\n";

/* Print usage and exit with `status`. */
static void __attribute__((noreturn))
bench_usage(int status)
{
	fputs(bench_usage_text, status == 0 ? stdout : stderr);
	exit(status);
}

/* Print a warning to stderr with the program name. */
void
bench_warnx(const char *fmt, ...)
{
	va_list	ap;

	fputs("vhostd-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Nanoseconds on the monotonic clock. */
uint64_t
bench_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

/* Is the run over: `ops` reached the count, or the duration elapsed? */
int
bench_done(const struct bench_opts *o, uint64_t ops, uint64_t start_ns)
{
	if (o->count != 0)
		return (ops >= o->count);
	return (bench_now_ns() - start_ns >= (uint64_t)(o->duration * 1e9));
}

/* Record one latency sample. */
void
bench_lat_add(struct bench_lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 65536 : l->cap * 2;
		if ((l->ns = realloc(l->ns, l->cap * sizeof *l->ns)) == NULL)
			abort();
	}
	l->ns[l->n++] = ns;
}

/* Order two samples for qsort. */
static int
bench_lat_cmp(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/* The sample at quantile q of sorted samples (nearest rank). */
static uint64_t
bench_lat_at(const struct bench_lat *l, double q)
{
	size_t	i;

	if (l->n == 0)
		return (0);
	i = (size_t)(q * (double)l->n + 0.999999);
	if (i == 0)
		i = 1;
	if (i > l->n)
		i = l->n;
	return (l->ns[i - 1]);
}

/* Sort the samples, store p50/p99/p99.9 in `res` and free them. */
void
bench_lat_finish(struct bench_lat *l, struct bench_result *res)
{
	qsort(l->ns, l->n, sizeof *l->ns, bench_lat_cmp);
	res->p50 = bench_lat_at(l, 0.50);
	res->p99 = bench_lat_at(l, 0.99);
	res->p999 = bench_lat_at(l, 0.999);
	free(l->ns);
	l->ns = NULL;
	l->n = l->cap = 0;
}

/* Operations per second of a result. */
static double
bench_ops_s(const struct bench_result *r)
{
	return (r->elapsed_ns == 0 ? 0 : (double)r->ops * 1e9 /
	    (double)r->elapsed_ns);
}

/* MB/s (10^6 bytes) of a result. */
static double
bench_mb_s(const struct bench_result *r)
{
	return (r->elapsed_ns == 0 ? 0 : (double)r->bytes * 1e3 /
	    (double)r->elapsed_ns);
}

/* Parse a number with an optional K/M/G suffix (powers of 1024). */
static int
bench_number(const char *s, uint64_t *v)
{
	char			*end;
	unsigned long long	 n;

	errno = 0;
	n = strtoull(s, &end, 0);
	if (errno != 0 || end == s)
		return (-1);
	if (*end == 'k' || *end == 'K')
		n <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		n <<= 20, end++;
	else if (*end == 'g' || *end == 'G')
		n <<= 30, end++;
	if (*end != '\0')
		return (-1);
	*v = n;
	return (0);
}

/* Print one result line as text; `dev` (NULL for the device itself) is
 * what the ratios compare against. */
static void
bench_print_text(const struct bench_opts *o, const struct bench_result *r,
    const struct bench_result *dev)
{
	printf("%-17s %10" PRIu64 " ops %12.0f ops/s %9.1f MB/s  "
	    "p50 %8.1f p99 %8.1f p99.9 %8.1f us",
	    r->name, r->ops, bench_ops_s(r), bench_mb_s(r),
	    (double)r->p50 / 1e3, (double)r->p99 / 1e3,
	    (double)r->p999 / 1e3);
	if (dev == NULL && r->cpu_ns >= 0 && r->ops > 0)
		printf("  cpu/op %.2f us", (double)r->cpu_ns / 1e3 /
		    (double)r->ops);
	if (dev == NULL && r->errors > 0)
		printf("  errors %" PRIu64, r->errors);
	if (dev != NULL && bench_ops_s(r) > 0)
		printf("  device/raw %.2fx (p99 %.2fx)", bench_ops_s(dev) /
		    bench_ops_s(r), r->p99 ? (double)dev->p99 /
		    (double)r->p99 : 0);
	putchar('\n');
	(void)o;
}

/* Print one result as a JSON object (no newline). */
static void
bench_print_json(const struct bench_result *r, const struct bench_result *dev)
{
	printf("{\"name\":\"%s\",\"ops\":%" PRIu64 ",\"bytes\":%" PRIu64
	    ",\"elapsed_s\":%.6f,\"ops_per_s\":%.1f,\"mb_per_s\":%.3f,"
	    "\"lat_us\":{\"p50\":%.3f,\"p99\":%.3f,\"p99_9\":%.3f}",
	    r->name, r->ops, r->bytes, (double)r->elapsed_ns / 1e9,
	    bench_ops_s(r), bench_mb_s(r), (double)r->p50 / 1e3,
	    (double)r->p99 / 1e3, (double)r->p999 / 1e3);
	if (dev == NULL) {
		printf(",\"errors\":%" PRIu64, r->errors);
		if (r->cpu_ns >= 0 && r->ops > 0)
			printf(",\"cpu_us_per_op\":%.4f", (double)r->cpu_ns /
			    1e3 / (double)r->ops);
		else
			printf(",\"cpu_us_per_op\":null");
	} else if (bench_ops_s(r) > 0) {
		printf(",\"ratio\":%.4f,\"p99_ratio\":%.4f",
		    bench_ops_s(dev) / bench_ops_s(r), r->p99 ?
		    (double)dev->p99 / (double)r->p99 : 0);
	}
	putchar('}');
}

/* The run: the device (unless raw-only), then every baseline that fits
 * the workload, then the report. */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'b' },
		{ "depth", required_argument, NULL, 'd' },
		{ "queues", required_argument, NULL, 'q' },
		{ "queue-size", required_argument, NULL, 'Q' },
		{ "rw", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 't' },
		{ "pid", required_argument, NULL, 'p' },
		{ "file", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-raw", no_argument, NULL, 'R' },
		{ "raw-only", no_argument, NULL, 'O' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "uds", required_argument, NULL, 'u' },
		{ "port", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct bench_opts	 o;
	struct bench_result	 dev, raw[BENCH_MAX_RAW];
	uint64_t		 v;
	unsigned		 nraw = 0, i;
	int			 c, raw_only = 0, have_depth = 0, have_size = 0;
	int			 ret = 0, blk, vsock;
	char			*end;

	memset(&o, 0, sizeof o);
	memset(&dev, 0, sizeof dev);
	memset(raw, 0, sizeof raw);
	o.depth = 1;
	o.queues = 1;
	o.queue_size = 256;
	o.random = 1;
	o.raw = 1;
	o.duration = 5;
	o.timeout_ms = 10000;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.socket = optarg;
			break;
		case 'b':
			if (bench_number(optarg, &o.size) != 0 || o.size == 0 ||
			    o.size > (16u << 20))
				bench_usage(2);
			have_size = 1;
			break;
		case 'd':
		case 'q':
		case 'Q':
		case 'T':
			if (bench_number(optarg, &v) != 0 || v == 0 ||
			    v > 32768)
				bench_usage(2);
			if (c == 'd')
				o.depth = (unsigned)v, have_depth = 1;
			else if (c == 'q')
				o.queues = (unsigned)v;
			else if (c == 'Q')
				o.queue_size = (unsigned)v;
			else
				o.timeout_ms = (int)v * 1;
			break;
		case 'r':
			if (strcmp(optarg, "read") == 0)
				o.write = 0, o.random = 0;
			else if (strcmp(optarg, "write") == 0)
				o.write = 1, o.random = 0;
			else if (strcmp(optarg, "randread") == 0)
				o.write = 0, o.random = 1;
			else if (strcmp(optarg, "randwrite") == 0)
				o.write = 1, o.random = 1;
			else
				bench_usage(2);
			break;
		case 'n':
			if (bench_number(optarg, &o.count) != 0 || o.count == 0)
				bench_usage(2);
			break;
		case 't':
			o.duration = strtod(optarg, &end);
			if (*end != '\0' || !(o.duration > 0))
				bench_usage(2);
			break;
		case 'p':
			if (bench_number(optarg, &v) != 0 || v == 0 ||
			    v > INT32_MAX)
				bench_usage(2);
			o.pid = (pid_t)v;
			break;
		case 'f':
			o.file = optarg;
			break;
		case 'u':
			o.uds = optarg;
			break;
		case 'P':
			if (bench_number(optarg, &v) != 0 || v == 0 ||
			    v > UINT32_MAX)
				bench_usage(2);
			o.port = (unsigned)v;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'R':
			o.raw = 0;
			break;
		case 'O':
			raw_only = 1;
			break;
		case 'h':
			bench_usage(0);
		default:
			bench_usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		bench_usage(2);
	o.workload = argv[0];
	blk = strcmp(o.workload, "blk") == 0;
	vsock = strcmp(o.workload, "vsock") == 0;
	if (!blk && !vsock && strcmp(o.workload, "rng") != 0) {
		bench_warnx("unknown workload: %s", o.workload);
		bench_usage(2);
	}
	if (o.socket == NULL && !raw_only)
		bench_usage(2);
	if (!have_size)
		o.size = blk ? 4096 : vsock ? 65536 : 64;
	if (o.port == 0)
		o.port = 5000;
	if (vsock && (o.size > 65536 || o.queues != 1)) {
		bench_warnx("vsock: one stream, packets up to 64 KiB");
		return (2);
	}
	if (!have_depth)
		o.depth = 1;
	if (blk && o.size % 512 != 0) {
		bench_warnx("blk: --size must be a multiple of 512");
		return (2);
	}
	if (o.queues > 8 || o.depth * (blk ? 3 : 1) > o.queue_size ||
	    o.queue_size > 32768 || (o.queue_size & (o.queue_size - 1))) {
		bench_warnx("at most 8 queues, a power-of-two queue size and "
		    "depth x descriptors per request within it");
		return (2);
	}

	if (!raw_only && (vsock ? bench_vsock_run(&o, &dev) :
	    bench_dev_run(&o, &dev)) != 0)
		return (1);
	if (o.raw || raw_only) {
		if (blk) {
			if (o.file != NULL &&
			    bench_raw_uring(&o, &raw[nraw]) == 0)
				nraw++;
		} else if (vsock) {
			if (bench_raw_unix(&o, &raw[nraw]) == 0)
				nraw++;
		} else if (bench_raw_getrandom(&o, &raw[nraw]) == 0)
			nraw++;
		if (o.depth == 1 && o.queues == 1 && !vsock &&
		    bench_raw_pingpong(&o, &raw[nraw]) == 0)
			nraw++;
	}

	if (o.json) {
		printf("{\"workload\":\"%s\",\"size\":%" PRIu64 ",\"depth\":%u,"
		    "\"queues\":%u,\"rw\":\"%s%s\",\"pid\":%d,",
		    o.workload, o.size, o.depth, o.queues,
		    blk && o.random ? "rand" : "", o.write ? "write" : "read",
		    (int)o.pid);
		if (!raw_only) {
			printf("\"device\":");
			bench_print_json(&dev, NULL);
			putchar(',');
		}
		printf("\"raw\":[");
		for (i = 0; i < nraw; i++) {
			if (i > 0)
				putchar(',');
			bench_print_json(&raw[i], raw_only ? &raw[i] : &dev);
		}
		printf("]}\n");
	} else {
		printf("%s: %" PRIu64 " bytes, depth %u, %u queue%s, %s%s\n",
		    o.workload, o.size, o.depth, o.queues,
		    o.queues > 1 ? "s" : "", blk && o.random ? "rand" : "",
		    o.write ? "write" : "read");
		if (!raw_only)
			bench_print_text(&o, &dev, NULL);
		for (i = 0; i < nraw; i++)
			bench_print_text(&o, &raw[i], raw_only ? NULL : &dev);
	}
	if (dev.errors > 0)
		ret = 1;
	return (ret);
}
