/*
 * The machine's own limits, measured in the same run as the device so
 * every figure is also a ratio: getrandom(2) for rng, an eventfd
 * ping-pong between two processes for one-deep round trips, io_uring
 * with O_DIRECT on the same image for blk (one thread per queue), and
 * a unix-socket stream between two processes for vsock, and the
 * back-end's CPU time read from /proc.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* One io_uring thread of the blk baseline. */
struct bench_raw_uring {
	const struct bench_opts	*o;
	int			 fd;
	uint64_t		 sectors;
	unsigned		 index;
	struct bench_lat	 lat;
	uint64_t		 ops;
	uint64_t		 errors;
	uint64_t		 start;
	int			 failed;
};

/* Sum of the CPU time of every thread of `pid` (schedstat, ns); -1. */
int64_t
bench_raw_cpu_ns(pid_t pid)
{
	char		 path[320], line[128];
	struct dirent	*de;
	DIR		*dir;
	FILE		*f;
	int64_t		 sum = 0;
	unsigned long long v;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return (-1);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%s/schedstat",
		    (int)pid, de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;	/* the thread just exited */
		if (fgets(line, sizeof line, f) != NULL &&
		    sscanf(line, "%llu", &v) == 1)
			sum += (int64_t)v;
		fclose(f);
	}
	closedir(dir);
	return (sum);
}

/* getrandom(2) calls of the request size, as fast as they go. */
int
bench_raw_getrandom(const struct bench_opts *o, struct bench_result *res)
{
	struct bench_lat lat = { NULL, 0, 0 };
	uint8_t		*buf;
	uint64_t	 start, t0, t1, ops = 0;
	size_t		 off;
	ssize_t		 n;

	snprintf(res->name, sizeof res->name, "getrandom");
	res->cpu_ns = -1;
	if ((buf = malloc(o->size)) == NULL)
		abort();
	start = bench_now_ns();
	while (!bench_done(o, ops, start)) {
		t0 = bench_now_ns();
		for (off = 0; off < o->size; off += (size_t)n) {
			n = getrandom(buf + off, o->size - off, 0);
			if (n <= 0 && errno != EINTR) {
				bench_warnx("getrandom: %s", strerror(errno));
				free(buf);
				return (-1);
			}
			if (n < 0)
				n = 0;
		}
		t1 = bench_now_ns();
		bench_lat_add(&lat, t1 - t0);
		ops++;
	}
	res->elapsed_ns = bench_now_ns() - start;
	res->ops = ops;
	res->bytes = ops * o->size;
	bench_lat_finish(&lat, res);
	free(buf);
	return (0);
}

/* Round trips of an eventfd ping-pong between this process and a
 * child: the least a one-deep kick and interrupt can cost. */
int
bench_raw_pingpong(const struct bench_opts *o, struct bench_result *res)
{
	struct bench_lat lat = { NULL, 0, 0 };
	uint64_t	 v = 1, start, t0, ops = 0;
	pid_t		 pid;
	int		 ping, pong, status;

	snprintf(res->name, sizeof res->name, "eventfd-pingpong");
	res->cpu_ns = -1;
	if ((ping = eventfd(0, EFD_CLOEXEC)) == -1 ||
	    (pong = eventfd(0, EFD_CLOEXEC)) == -1) {
		bench_warnx("eventfd: %s", strerror(errno));
		return (-1);
	}
	if ((pid = fork()) == -1) {
		bench_warnx("fork: %s", strerror(errno));
		return (-1);
	}
	if (pid == 0) {
		for (;;) {
			if (read(ping, &v, sizeof v) != (ssize_t)sizeof v)
				_exit(1);
			if (v > 1)	/* the stop word */
				_exit(0);
			if (write(pong, &v, sizeof v) != (ssize_t)sizeof v)
				_exit(1);
		}
	}
	start = bench_now_ns();
	while (!bench_done(o, ops, start)) {
		t0 = bench_now_ns();
		v = 1;
		if (write(ping, &v, sizeof v) != (ssize_t)sizeof v ||
		    read(pong, &v, sizeof v) != (ssize_t)sizeof v)
			break;
		bench_lat_add(&lat, bench_now_ns() - t0);
		ops++;
	}
	res->elapsed_ns = bench_now_ns() - start;
	v = 2;
	if (write(ping, &v, sizeof v) != (ssize_t)sizeof v)
		kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(ping);
	close(pong);
	res->ops = ops;
	res->bytes = 0;
	bench_lat_finish(&lat, res);
	return (0);
}

/* Queue one read or write of slot `i` on the ring. */
static void
bench_raw_uring_prep(struct bench_raw_uring *t, struct io_uring *ring,
    uint8_t *bufs, unsigned i, uint64_t *rng, uint64_t *cursor,
    uint64_t *posted)
{
	const struct bench_opts	*o = t->o;
	struct io_uring_sqe	*sqe = io_uring_get_sqe(ring);
	uint64_t		 per = o->size / 512, span = t->sectors / per;
	uint64_t		 sector;

	if (o->random) {
		*rng ^= *rng << 13;
		*rng ^= *rng >> 7;
		*rng ^= *rng << 17;
		sector = (*rng % span) * per;
	} else {
		sector = *cursor;
		*cursor += per;
		if (*cursor + per > t->sectors)
			*cursor = 0;
	}
	if (o->write)
		io_uring_prep_write(sqe, t->fd, bufs + i * o->size,
		    (unsigned)o->size, sector * 512);
	else
		io_uring_prep_read(sqe, t->fd, bufs + i * o->size,
		    (unsigned)o->size, sector * 512);
	posted[i] = bench_now_ns();
	io_uring_sqe_set_data64(sqe, i);
}

/* One baseline thread: `depth` requests in flight on its own ring. */
static void *
bench_raw_uring_main(void *arg)
{
	struct bench_raw_uring	*t = arg;
	const struct bench_opts	*o = t->o;
	struct io_uring		 ring;
	struct io_uring_cqe	*cqe;
	uint8_t			*bufs = NULL;
	uint64_t		*posted, rng, cursor, submitted = 0;
	unsigned		 i, inflight = 0;
	int			 stop = 0;

	posted = calloc(o->depth, sizeof *posted);
	if (posted == NULL || posix_memalign((void **)&bufs, 4096,
	    o->depth * o->size) != 0)
		abort();
	memset(bufs, 0x5a, o->depth * o->size);
	if (io_uring_queue_init(o->depth, &ring, 0) != 0) {
		t->failed = 1;
		free(bufs);
		free(posted);
		return (NULL);
	}
	rng = 0x9e3779b97f4a7c15ULL * (t->index + 1);
	cursor = t->sectors / o->queues * t->index / (o->size / 512) *
	    (o->size / 512);
	for (i = 0; i < o->depth; i++) {
		if (o->count != 0 && submitted >= o->count)
			break;
		bench_raw_uring_prep(t, &ring, bufs, i, &rng, &cursor, posted);
		submitted++;
		inflight++;
	}
	io_uring_submit(&ring);
	while (inflight > 0) {
		if (io_uring_wait_cqe(&ring, &cqe) != 0)
			break;
		i = (unsigned)io_uring_cqe_get_data64(cqe);
		if (cqe->res != (int)o->size)
			t->errors++;
		io_uring_cqe_seen(&ring, cqe);
		bench_lat_add(&t->lat, bench_now_ns() - posted[i]);
		t->ops++;
		inflight--;
		if (!stop && o->count == 0 && bench_done(o, 0, t->start))
			stop = 1;
		if (!stop && (o->count == 0 || submitted < o->count)) {
			bench_raw_uring_prep(t, &ring, bufs, i, &rng, &cursor,
			    posted);
			submitted++;
			inflight++;
			io_uring_submit(&ring);
		}
	}
	io_uring_queue_exit(&ring);
	free(bufs);
	free(posted);
	return (NULL);
}

/* io_uring with O_DIRECT on the image: one thread and ring per queue,
 * `depth` in flight on each, the same request size and pattern. */
int
bench_raw_uring(const struct bench_opts *o, struct bench_result *res)
{
	struct bench_raw_uring	 t[16];
	pthread_t		 th[16];
	struct bench_lat	 all = { NULL, 0, 0 };
	struct bench_opts	 each = *o;
	uint64_t		 start;
	off_t			 size;
	unsigned		 i, n = o->queues;
	size_t			 k;
	int			 fd, ret = 0;

	snprintf(res->name, sizeof res->name, "io_uring-odirect");
	res->cpu_ns = -1;
	if (o->file == NULL)
		return (-1);
	if (n > 16)
		n = 16;
	if ((fd = open(o->file, (o->write ? O_RDWR : O_RDONLY) | O_DIRECT |
	    O_CLOEXEC)) == -1) {
		/* tmpfs has no O_DIRECT: buffered, as a back-end falls back. */
		fd = open(o->file, (o->write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	}
	if (fd == -1 || (size = lseek(fd, 0, SEEK_END)) <= 0) {
		bench_warnx("%s: %s", o->file, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	/* Each thread counts its own requests; count is per run. */
	if (o->count != 0)
		each.count = (o->count + n - 1) / n;
	start = bench_now_ns();
	for (i = 0; i < n; i++) {
		memset(&t[i], 0, sizeof t[i]);
		t[i].o = &each;
		t[i].fd = fd;
		t[i].sectors = (uint64_t)size / 512;
		t[i].index = i;
		t[i].start = start;
		if (pthread_create(&th[i], NULL, bench_raw_uring_main,
		    &t[i]) != 0)
			abort();
	}
	for (i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		if (t[i].failed)
			ret = -1;
		res->ops += t[i].ops;
		res->errors += t[i].errors;
		for (k = 0; k < t[i].lat.n; k++)
			bench_lat_add(&all, t[i].lat.ns[k]);
		free(t[i].lat.ns);
	}
	res->elapsed_ns = bench_now_ns() - start;
	res->bytes = res->ops * o->size;
	bench_lat_finish(&all, res);
	close(fd);
	if (ret == -1)
		bench_warnx("io_uring_queue_init failed");
	return (ret);
}

/* A unix-socket stream from a child process, in writes of the request
 * size: what a vsock stream is measured against.  Ops are reads. */
int
bench_raw_unix(const struct bench_opts *o, struct bench_result *res)
{
	struct bench_lat lat = { NULL, 0, 0 };
	uint8_t		*buf;
	uint64_t	 start, last, now, ops = 0, bytes = 0;
	ssize_t		 n;
	pid_t		 pid;
	int		 sv[2], status;

	snprintf(res->name, sizeof res->name, "unix-stream");
	res->cpu_ns = -1;
	if ((buf = malloc(o->size)) == NULL)
		abort();
	memset(buf, 0x5a, o->size);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
	    (pid = fork()) == -1) {
		bench_warnx("socketpair/fork: %s", strerror(errno));
		free(buf);
		return (-1);
	}
	if (pid == 0) {
		close(sv[0]);
		while (write(sv[1], buf, o->size) > 0)
			;
		_exit(0);
	}
	close(sv[1]);
	start = last = bench_now_ns();
	while (!bench_done(o, ops, start)) {
		n = read(sv[0], buf, o->size);
		if (n <= 0)
			break;
		now = bench_now_ns();
		bench_lat_add(&lat, now - last);
		last = now;
		bytes += (uint64_t)n;
		ops++;
	}
	res->elapsed_ns = bench_now_ns() - start;
	close(sv[0]);
	waitpid(pid, &status, 0);
	res->ops = ops;
	res->bytes = bytes;
	bench_lat_finish(&lat, res);
	free(buf);
	return (0);
}
