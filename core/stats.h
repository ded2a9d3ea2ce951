/*
 * Per-queue counters (kicks, calls, chains, bytes, errors, in flight),
 * kept in each struct vring and collected for the control socket
 * (control.c) by stats.c.
 *
 * Cost on the data path.  A ring's counters are written only by the thread
 * that owns the ring (its worker while started, the main thread while
 * stopped: vring.h), so they need no lock and no atomic read-modify-write.
 * They are declared _Atomic only so the main thread may read them while
 * the worker writes: STATS_ADD is a relaxed load, an add and a relaxed
 * store, which on x86-64 (and arm64) compiles to the very instructions a
 * plain `x += n` does (mov/add/mov, no lock prefix, no fence), and the
 * reader's relaxed 64-bit load is never torn.  A reader may see one
 * counter a few events ahead of another; nothing orders them, and nothing
 * needs to.
 */

#ifndef VHOSTD_STATS_H
#define VHOSTD_STATS_H

#include <stdatomic.h>
#include <stdint.h>

struct device;
struct evbuffer;
struct vhd_stats_sink;

struct vring_stats {
	_Atomic uint64_t	 kicks;		/* kick eventfd wakeups */
	_Atomic uint64_t	 calls;		/* call eventfd writes */
	_Atomic uint64_t	 chains;	/* chains popped */
	_Atomic uint64_t	 bytes_in;	/* guest to device (readable) */
	_Atomic uint64_t	 bytes_out;	/* device to guest (used len) */
	_Atomic uint64_t	 errors;	/* ring errors (device broken) */
	_Atomic uint64_t	 inflight;	/* popped, not pushed */
};

/* Add to a counter of a ring this thread owns: no lock, no atomic RMW. */
#define STATS_ADD(field, n)						\
	atomic_store_explicit(&(field),					\
	    atomic_load_explicit(&(field), memory_order_relaxed) + (n),	\
	    memory_order_relaxed)
/* Set a counter of a ring this thread owns. */
#define STATS_SET(field, v)						\
	atomic_store_explicit(&(field), (v), memory_order_relaxed)
/* Read a counter from any thread. */
#define STATS_GET(field)						\
	atomic_load_explicit(&(field), memory_order_relaxed)

/* Output formats of stats_device and friends. */
enum stats_format {
	STATS_TEXT,
	STATS_JSON,
	STATS_PROMETHEUS,
};

/* Append a JSON string literal for `s` (quoted, escaped). */
void	 stats_json_string(struct evbuffer *, const char *s);
/*
 * Append one device's description (list line, show block) or its
 * counters in `fmt`.  `first` tells JSON output whether a comma is
 * needed.  Main thread.
 */
void	 stats_list_device(struct evbuffer *, struct device *,
	    enum stats_format, int first);
void	 stats_show_device(struct evbuffer *, struct device *,
	    enum stats_format);
void	 stats_device(struct evbuffer *, struct device *, enum stats_format,
	    int first);
/* api->stats_put: record one module counter in the sink.  Worker. */
void	 stats_sink_put(struct vhd_stats_sink *, const char *object,
	    const char *name, uint64_t value);

/* Every device's counters in Prometheus' text format.  Main thread. */
void	 stats_prometheus(struct evbuffer *, struct device **devs,
	    unsigned n);

#endif /* VHOSTD_STATS_H */
