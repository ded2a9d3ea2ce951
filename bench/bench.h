/*
 * vhostd-bench: plays the VMM and the guest driver against any vhost-user
 * back-end (through the frontend library in fe/) and measures the same
 * workload on the machine's own limits in the same run, so each figure
 * comes with a ratio.  This header is shared by bench.c (options and
 * reports), bench_dev.c (the device workloads) and bench_raw.c (the
 * baselines).
 */

#ifndef VHOSTD_BENCH_H
#define VHOSTD_BENCH_H

#include <sys/types.h>

#include <stdint.h>

#define BENCH_MAX_RAW	4

struct bench_opts {
	const char	*socket;
	const char	*workload;	/* "rng", "blk", "vsock" */
	uint64_t	 size;		/* bytes per request */
	unsigned	 depth;		/* requests in flight per queue */
	unsigned	 queues;
	unsigned	 queue_size;
	int		 write;		/* blk: writes instead of reads */
	int		 random;	/* blk: random offsets */
	uint64_t	 count;		/* requests; 0: run for duration */
	double		 duration;	/* seconds */
	pid_t		 pid;		/* back-end, for CPU time; 0: none */
	const char	*file;		/* blk: the image, for raw io_uring */
	const char	*uds;		/* vsock: the device's hybrid socket */
	unsigned	 port;		/* vsock: the stream's port */
	int		 json;
	int		 raw;		/* measure the baselines */
	int		 timeout_ms;
};

/* A latency sample set (nanoseconds). */
struct bench_lat {
	uint64_t	*ns;
	size_t		 n, cap;
};

/* One measured line: the device or a baseline. */
struct bench_result {
	char		 name[64];
	uint64_t	 ops;
	uint64_t	 bytes;
	uint64_t	 elapsed_ns;
	uint64_t	 p50, p99, p999;	/* ns; 0 when not sampled */
	int64_t		 cpu_ns;		/* back-end CPU, -1 unknown */
	uint64_t	 errors;		/* bad status, short replies */
};

/* bench.c */
uint64_t bench_now_ns(void);
int	 bench_done(const struct bench_opts *, uint64_t ops,
	    uint64_t start_ns);
void	 bench_lat_add(struct bench_lat *, uint64_t ns);
void	 bench_lat_finish(struct bench_lat *, struct bench_result *);
void	 bench_warnx(const char *, ...)
	    __attribute__((format(printf, 1, 2)));

/* bench_dev.c */
int	 bench_dev_run(const struct bench_opts *, struct bench_result *);

/* bench_vsock.c */
int	 bench_vsock_run(const struct bench_opts *, struct bench_result *);

/* bench_raw.c */
int	 bench_raw_getrandom(const struct bench_opts *, struct bench_result *);
int	 bench_raw_pingpong(const struct bench_opts *, struct bench_result *);
int	 bench_raw_uring(const struct bench_opts *, struct bench_result *);
int	 bench_raw_unix(const struct bench_opts *, struct bench_result *);
int64_t	 bench_raw_cpu_ns(pid_t);

#endif /* VHOSTD_BENCH_H */
