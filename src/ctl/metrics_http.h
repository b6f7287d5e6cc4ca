/*
 * `denalid serve --metrics ADDR:PORT`: GET /metrics over HTTP/1.x on a thread
 * of its own, so no client can stall the control loop. Bounded against
 * hostile clients: a fixed number of connections (the oldest unfinished
 * request makes room for a new one), a request header cap, a deadline to send
 * the request and another to take the reply, one request per connection, and a
 * rendering reused for cache_ms so that scrape storms cost the registry lock
 * at most once per interval.
 */
#ifndef DENALI_CTL_METRICS_HTTP_H
#define DENALI_CTL_METRICS_HTTP_H

#include "backend.h"

#include <stddef.h>

struct metrics_http_config {
	unsigned max_conns;  /* 0 = 64 */
	unsigned header_max; /* bytes of request line and headers; 0 = 8192 */
	unsigned request_ms; /* the whole request must arrive within this; 0 = 5000 */
	unsigned send_ms;    /* the reply must be taken within this; 0 = 10000 */
	unsigned cache_ms;   /* a rendering is served again for this long; 0 = 1000 */
	unsigned vms_max;    /* per-VM series for at most this many VMs */
};

/* Counters of the listener itself (also exported as denali_metrics_http_*). */
struct metrics_http_stats {
	unsigned long long accepted, served, renders, timed_out, too_large, bad, evicted;
};

struct metrics_http;

/*
 * Parses ADDR:PORT (IPv4 a.b.c.d:P, [IPv6]:P or localhost:P; port 0 picks
 * one), binds and listens; call before privileges are dropped (a port below
 * 1024 needs them). be is used from the listener's thread: its stats and
 * metrics_vms must be thread-safe. 0 or -errno with err filled.
 */
int metrics_http_open(const char *addr, const struct ctl_backend *be,
		      const struct metrics_http_config *cfg, struct metrics_http **out, char *err,
		      size_t errlen);

/* The port bound (for port 0). */
int metrics_http_port(const struct metrics_http *m);

/* Starts the listener thread. 0 or -errno. */
int metrics_http_start(struct metrics_http *m);

/* A copy of the listener's counters (any thread). */
void metrics_http_stats(struct metrics_http *m, struct metrics_http_stats *out);

/* Stops the thread (if started), closes every connection, frees m. NULL is ignored. */
void metrics_http_close(struct metrics_http *m);

#endif
