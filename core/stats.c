/*
 * What the control socket reports about devices: the list, one device's
 * state, and the counters of its queues (stats.h) and of its module (the
 * SDK's stats callback), as text for people, JSON for programs, or
 * Prometheus' text exposition format.  Main thread, except the module
 * callback, which runs on the device's worker 0.
 */

#include <sys/types.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include <vhostd/vhostd.h>

#include "device.h"
#include "module.h"
#include "stats.h"
#include "vring.h"
#include "worker.h"
#include "xmalloc.h"

/* Module counters reported at most per device (the rest are dropped). */
#define STATS_MODULE_MAX	4096

/* One module counter. */
struct stats_counter {
	char		*object;
	char		*name;
	uint64_t	 value;
};

/* Where a module's stats callback puts its counters. */
struct vhd_stats_sink {
	struct device		*dev;
	struct stats_counter	*c;
	unsigned		 n;
	unsigned		 dropped;
};

/* The counter names of a queue, in output order. */
static const char *const stats_queue_names[] = {
	"kicks", "calls", "chains", "bytes_in", "bytes_out", "errors",
	"inflight",
};

/* What each queue counter means (Prometheus HELP). */
static const char *const stats_queue_help[] = {
	"Kick eventfd wakeups of the queue.",
	"Interrupts sent to the guest (call eventfd writes).",
	"Descriptor chains popped.",
	"Bytes of device-readable buffers popped (guest to device).",
	"Bytes the device wrote (used lengths, device to guest).",
	"Ring errors that broke the device.",
	"Chains popped and not yet pushed.",
};

/* api->stats_put: record one module counter.  Worker (inside stats). */
void
stats_sink_put(struct vhd_stats_sink *sink, const char *object,
    const char *name, uint64_t value)
{
	struct stats_counter	*c;

	if (sink == NULL || name == NULL)
		return;
	if (sink->n >= STATS_MODULE_MAX) {
		sink->dropped++;
		return;
	}
	sink->c = xreallocarray(sink->c, sink->n + 1, sizeof *sink->c);
	c = &sink->c[sink->n++];
	c->object = xstrdup(object != NULL ? object : "");
	c->name = xstrdup(name);
	c->value = value;
}

/* Run the module's stats callback.  Worker 0 of the device. */
static void
stats_module_cb(void *arg)
{
	struct vhd_stats_sink	*sink = arg;
	struct device		*dev = sink->dev;

	dev->ops->stats(device_to_vhd(dev), sink);
}

/* Collect the module's counters into `sink` (empty when it has none or
 * its worker does not answer): the callback runs on the worker of the
 * device's first queue.  Main thread. */
static void
stats_module_collect(struct device *dev, struct vhd_stats_sink *sink)
{
	struct worker	*w;
	unsigned	 wi;

	memset(sink, 0, sizeof *sink);
	sink->dev = dev;
	if (dev->ops->stats == NULL || dev->nworkers == 0 ||
	    dev->vrings == NULL || device_stuck(dev))
		return;
	wi = dev->vrings[0].worker_idx;
	if (wi >= dev->nworkers || (w = dev->workers[wi]) == NULL)
		return;
	/* A module worker that does not answer in time is marked stuck
	 * (and so its device); the sink is then left alone, as the
	 * callback may still be writing it. */
	if (worker_post(w, WCMD_CALL, NULL, stats_module_cb, sink, 1) ==
	    -1) {
		sink->c = NULL;
		sink->n = 0;
	}
}

/* Free what a sink holds. */
static void
stats_module_free(struct vhd_stats_sink *sink)
{
	unsigned	 i;

	for (i = 0; i < sink->n; i++) {
		free(sink->c[i].object);
		free(sink->c[i].name);
	}
	free(sink->c);
}

/* Append a JSON string literal for `s`. */
void
stats_json_string(struct evbuffer *b, const char *s)
{
	const unsigned char	*p;

	evbuffer_add(b, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			evbuffer_add_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			evbuffer_add_printf(b, "\\u%04x", *p);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add(b, "\"", 1);
}

/* Append a Prometheus label value (backslash, quote and newline
 * escaped). */
static void
stats_prom_label(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			evbuffer_add_printf(b, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, s, 1);
	}
}

/* Append a Prometheus metric name part: [a-zA-Z0-9_] kept, the rest '_'. */
static void
stats_prom_name(struct evbuffer *b, const char *s)
{
	char	 c;

	for (; *s != '\0'; s++) {
		c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_'))
			c = '_';
		evbuffer_add(b, &c, 1);
	}
}

/* The device's state in one word.  Main thread. */
static const char *
stats_state(struct device *dev)
{
	unsigned	 i;

	if (atomic_load(&dev->broken))
		return ("broken");
	if (dev->conn == NULL)
		return ("waiting");
	for (i = 0; dev->vrings != NULL && i < dev->info.num_queues; i++) {
		if (dev->vrings[i].started)
			return ("running");
	}
	return ("connected");
}

/* Copy the broken reason ("" when not broken).  Main thread. */
static void
stats_reason(struct device *dev, char *buf, size_t size)
{
	buf[0] = '\0';
	if (!atomic_load(&dev->broken))
		return;
	pthread_mutex_lock(&dev->err_lock);
	snprintf(buf, size, "%s", dev->broken_reason);
	pthread_mutex_unlock(&dev->err_lock);
}

/* The module name of a device ("-" for an ops-only test device). */
static const char *
stats_module(struct device *dev)
{
	return (dev->mod != NULL ? dev->mod->name : "-");
}

/* The name of the worker serving queue q. */
static const char *
stats_worker(struct device *dev, unsigned q)
{
	unsigned	 w = dev->vrings[q].worker_idx;

	if (w < dev->nworkers && dev->workers[w] != NULL)
		return (worker_name(dev->workers[w]));
	return ("-");
}

/* One device in `vhostctl list`.  Main thread. */
void
stats_list_device(struct evbuffer *b, struct device *dev,
    enum stats_format fmt, int first)
{
	switch (fmt) {
	case STATS_JSON:
		evbuffer_add_printf(b, "%s{\"name\":", first ? "" : ",");
		stats_json_string(b, dev->name);
		evbuffer_add_printf(b, ",\"module\":");
		stats_json_string(b, stats_module(dev));
		evbuffer_add_printf(b, ",\"socket\":");
		stats_json_string(b, dev->socket_path);
		evbuffer_add_printf(b, ",\"connected\":%s,\"state\":\"%s\"}",
		    dev->conn != NULL ? "true" : "false", stats_state(dev));
		break;
	case STATS_TEXT:
	case STATS_PROMETHEUS:
		evbuffer_add_printf(b, "%-16s %-10s %-10s %s\n", dev->name,
		    stats_module(dev), stats_state(dev), dev->socket_path);
		break;
	}
}

/* One device in `vhostctl show DEVICE`.  Main thread. */
void
stats_show_device(struct evbuffer *b, struct device *dev,
    enum stats_format fmt)
{
	char		 reason[256];
	unsigned	 q, w;
	uint64_t	 acked = atomic_load(&dev->acked_features);

	stats_reason(dev, reason, sizeof reason);
	if (fmt == STATS_JSON) {
		evbuffer_add_printf(b, "{\"name\":");
		stats_json_string(b, dev->name);
		evbuffer_add_printf(b, ",\"module\":");
		stats_json_string(b, stats_module(dev));
		evbuffer_add_printf(b, ",\"socket\":");
		stats_json_string(b, dev->socket_path);
		evbuffer_add_printf(b, ",\"connected\":%s,\"state\":\"%s\","
		    "\"broken_reason\":", dev->conn != NULL ? "true" : "false",
		    stats_state(dev));
		if (reason[0] != '\0')
			stats_json_string(b, reason);
		else
			evbuffer_add_printf(b, "null");
		evbuffer_add_printf(b, ",\"features\":\"0x%016llx\","
		    "\"acked_features\":\"0x%016llx\","
		    "\"protocol_features\":\"0x%016llx\","
		    "\"acked_protocol_features\":\"0x%016llx\","
		    "\"pooled\":%s,\"workers\":[",
		    (unsigned long long)dev->features,
		    (unsigned long long)acked,
		    (unsigned long long)dev->protocol_features,
		    (unsigned long long)dev->acked_protocol_features,
		    dev->pooled ? "true" : "false");
		for (w = 0; w < dev->nworkers; w++) {
			evbuffer_add_printf(b, "%s", w == 0 ? "" : ",");
			stats_json_string(b, dev->workers[w] != NULL ?
			    worker_name(dev->workers[w]) : "-");
		}
		evbuffer_add_printf(b, "],\"queues\":[");
		for (q = 0; q < dev->info.num_queues; q++) {
			evbuffer_add_printf(b, "%s{\"index\":%u,\"size\":%u,"
			    "\"enabled\":%s,\"started\":%s,\"worker\":",
			    q == 0 ? "" : ",", q, dev->vrings[q].num,
			    dev->vrings[q].enabled ? "true" : "false",
			    dev->vrings[q].started ? "true" : "false");
			stats_json_string(b, stats_worker(dev, q));
			evbuffer_add_printf(b, "}");
		}
		evbuffer_add_printf(b, "]}\n");
		return;
	}
	evbuffer_add_printf(b, "device %s\n  module: %s\n  socket: %s\n"
	    "  frontend: %s\n  state: %s\n", dev->name, stats_module(dev),
	    dev->socket_path, dev->conn != NULL ? "connected" :
	    "not connected", stats_state(dev));
	if (reason[0] != '\0')
		evbuffer_add_printf(b, "  broken: %s\n", reason);
	evbuffer_add_printf(b, "  features: offered 0x%016llx, acked "
	    "0x%016llx\n  protocol features: offered 0x%016llx, acked "
	    "0x%016llx\n  workers:", (unsigned long long)dev->features,
	    (unsigned long long)acked,
	    (unsigned long long)dev->protocol_features,
	    (unsigned long long)dev->acked_protocol_features);
	for (w = 0; w < dev->nworkers; w++)
		evbuffer_add_printf(b, " %s", dev->workers[w] != NULL ?
		    worker_name(dev->workers[w]) : "-");
	evbuffer_add_printf(b, "%s\n", dev->pooled ? " (shared pool)" : "");
	for (q = 0; q < dev->info.num_queues; q++)
		evbuffer_add_printf(b, "  queue %u: size %u, %s, %s, worker "
		    "%s\n", q, dev->vrings[q].num, dev->vrings[q].enabled ?
		    "enabled" : "disabled", dev->vrings[q].started ?
		    "started" : "stopped", stats_worker(dev, q));
}

/* The counters of queue q, in stats_queue_names order. */
static void
stats_queue_values(struct device *dev, unsigned q, uint64_t *v)
{
	struct vring_stats	*s = &dev->vrings[q].stats;

	v[0] = STATS_GET(s->kicks);
	v[1] = STATS_GET(s->calls);
	v[2] = STATS_GET(s->chains);
	v[3] = STATS_GET(s->bytes_in);
	v[4] = STATS_GET(s->bytes_out);
	v[5] = STATS_GET(s->errors);
	v[6] = STATS_GET(s->inflight);
}

/* The counters of one device.  Main thread. */
void
stats_device(struct evbuffer *b, struct device *dev, enum stats_format fmt,
    int first)
{
	struct vhd_stats_sink	 sink;
	char			 reason[256];
	uint64_t		 v[nitems(stats_queue_names)];
	unsigned		 q, i;
	size_t			 k;

	stats_reason(dev, reason, sizeof reason);
	stats_module_collect(dev, &sink);
	switch (fmt) {
	case STATS_JSON:
		evbuffer_add_printf(b, "%s{\"name\":", first ? "" : ",");
		stats_json_string(b, dev->name);
		evbuffer_add_printf(b, ",\"state\":\"%s\",\"connected\":%s,"
		    "\"broken_reason\":", stats_state(dev),
		    dev->conn != NULL ? "true" : "false");
		if (reason[0] != '\0')
			stats_json_string(b, reason);
		else
			evbuffer_add_printf(b, "null");
		evbuffer_add_printf(b, ",\"queues\":[");
		for (q = 0; q < dev->info.num_queues; q++) {
			stats_queue_values(dev, q, v);
			evbuffer_add_printf(b, "%s{\"index\":%u", q == 0 ? "" :
			    ",", q);
			for (k = 0; k < nitems(v); k++)
				evbuffer_add_printf(b, ",\"%s\":%llu",
				    stats_queue_names[k],
				    (unsigned long long)v[k]);
			evbuffer_add_printf(b, "}");
		}
		evbuffer_add_printf(b, "],\"module\":[");
		for (i = 0; i < sink.n; i++) {
			evbuffer_add_printf(b, "%s{\"object\":", i == 0 ? "" :
			    ",");
			stats_json_string(b, sink.c[i].object);
			evbuffer_add_printf(b, ",\"name\":");
			stats_json_string(b, sink.c[i].name);
			evbuffer_add_printf(b, ",\"value\":%llu}",
			    (unsigned long long)sink.c[i].value);
		}
		evbuffer_add_printf(b, "]}");
		break;
	case STATS_PROMETHEUS:
		/* One family at a time over every device: stats_prometheus. */
		break;
	case STATS_TEXT:
		evbuffer_add_printf(b, "%s (%s)%s%s\n", dev->name,
		    stats_state(dev), reason[0] != '\0' ? ": " : "", reason);
		for (q = 0; q < dev->info.num_queues; q++) {
			stats_queue_values(dev, q, v);
			evbuffer_add_printf(b, "  queue %u:", q);
			for (k = 0; k < nitems(v); k++)
				evbuffer_add_printf(b, " %s %llu",
				    stats_queue_names[k],
				    (unsigned long long)v[k]);
			evbuffer_add_printf(b, "\n");
		}
		for (i = 0; i < sink.n; i++)
			evbuffer_add_printf(b, "  %s%s%s %llu\n",
			    sink.c[i].object, sink.c[i].object[0] != '\0' ?
			    ": " : "", sink.c[i].name,
			    (unsigned long long)sink.c[i].value);
		break;
	}
	stats_module_free(&sink);
}

/* Does an earlier sink hold module counter (module, name)? */
static int
stats_prom_seen(struct device **devs, struct vhd_stats_sink *sinks,
    unsigned d, unsigned i)
{
	const char	*mod = stats_module(devs[d]);
	const char	*name = sinks[d].c[i].name;
	unsigned	 e, j;

	for (e = 0; e <= d; e++) {
		if (strcmp(stats_module(devs[e]), mod) != 0)
			continue;
		for (j = 0; j < (e == d ? i : sinks[e].n); j++) {
			if (strcmp(sinks[e].c[j].name, name) == 0)
				return (1);
		}
	}
	return (0);
}

/*
 * Every device's counters in Prometheus' text format, each metric family
 * in one group (HELP, TYPE, then a line per device and queue), as the
 * format requires.  Main thread.
 */
void
stats_prometheus(struct evbuffer *b, struct device **devs, unsigned n)
{
	struct vhd_stats_sink	*sinks;
	uint64_t		 v[nitems(stats_queue_names)];
	char			 reason[256];
	unsigned		 d, q, i, e, j;
	size_t			 k;

	sinks = xcalloc(n > 0 ? n : 1, sizeof *sinks);
	for (d = 0; d < n; d++)
		stats_module_collect(devs[d], &sinks[d]);

	evbuffer_add_printf(b, "# HELP vhostd_device_connected Whether a "
	    "frontend is connected.\n# TYPE vhostd_device_connected gauge\n");
	for (d = 0; d < n; d++) {
		evbuffer_add_printf(b, "vhostd_device_connected{device=\"");
		stats_prom_label(b, devs[d]->name);
		evbuffer_add_printf(b, "\"} %d\n", devs[d]->conn != NULL);
	}
	evbuffer_add_printf(b, "# HELP vhostd_device_broken Whether the "
	    "device is broken until its frontend resets it.\n"
	    "# TYPE vhostd_device_broken gauge\n");
	for (d = 0; d < n; d++) {
		stats_reason(devs[d], reason, sizeof reason);
		evbuffer_add_printf(b, "vhostd_device_broken{device=\"");
		stats_prom_label(b, devs[d]->name);
		evbuffer_add_printf(b, "\"} %d\n", reason[0] != '\0');
	}
	for (k = 0; k < nitems(stats_queue_names); k++) {
		evbuffer_add_printf(b, "# HELP vhostd_queue_%s%s %s\n"
		    "# TYPE vhostd_queue_%s%s %s\n", stats_queue_names[k],
		    k == 6 ? "" : "_total", stats_queue_help[k],
		    stats_queue_names[k], k == 6 ? "" : "_total",
		    k == 6 ? "gauge" : "counter");
		for (d = 0; d < n; d++) {
			for (q = 0; q < devs[d]->info.num_queues; q++) {
				stats_queue_values(devs[d], q, v);
				evbuffer_add_printf(b, "vhostd_queue_%s%s{"
				    "device=\"", stats_queue_names[k],
				    k == 6 ? "" : "_total");
				stats_prom_label(b, devs[d]->name);
				evbuffer_add_printf(b, "\",queue=\"%u\"} "
				    "%llu\n", q, (unsigned long long)v[k]);
			}
		}
	}
	/* Module counters: one family per (module, name), first seen
	 * order. */
	for (d = 0; d < n; d++) {
		for (i = 0; i < sinks[d].n; i++) {
			if (stats_prom_seen(devs, sinks, d, i))
				continue;
			evbuffer_add_printf(b, "# TYPE vhostd_module_");
			stats_prom_name(b, stats_module(devs[d]));
			evbuffer_add_printf(b, "_");
			stats_prom_name(b, sinks[d].c[i].name);
			evbuffer_add_printf(b, " untyped\n");
			for (e = d; e < n; e++) {
				if (strcmp(stats_module(devs[e]),
				    stats_module(devs[d])) != 0)
					continue;
				for (j = 0; j < sinks[e].n; j++) {
					if (strcmp(sinks[e].c[j].name,
					    sinks[d].c[i].name) != 0)
						continue;
					evbuffer_add_printf(b, "vhostd_module_");
					stats_prom_name(b, stats_module(devs[e]));
					evbuffer_add_printf(b, "_");
					stats_prom_name(b, sinks[e].c[j].name);
					evbuffer_add_printf(b, "{device=\"");
					stats_prom_label(b, devs[e]->name);
					evbuffer_add_printf(b, "\",object=\"");
					stats_prom_label(b,
					    sinks[e].c[j].object);
					evbuffer_add_printf(b, "\"} %llu\n",
					    (unsigned long long)
					    sinks[e].c[j].value);
				}
			}
		}
	}
	for (d = 0; d < n; d++)
		stats_module_free(&sinks[d]);
	free(sinks);
}
