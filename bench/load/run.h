/* run.h - one measured run of the load generator against a target set.
 *
 * Single-threaded: one epoll loop owns every connection, the arrival schedule and the counters.
 * Open loop: request i is due at its intended time t_i (constant or Poisson spacing) and its
 * latency is measured from t_i, so time spent queued behind a stalled server or a busy
 * connection is counted (no coordinated omission). Closed loop keeps a fixed number of requests
 * outstanding and measures from the actual send, as wrk does; it exists for comparison.
 */
#ifndef DENALI_LOAD_RUN_H
#define DENALI_LOAD_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

struct load_config;
struct target_set;

struct run_result {
	double rate;		 /* offered requests/s (open loop), 0 for closed loop */
	double duration_s;	 /* measured window */
	uint64_t scheduled;	 /* requests due in the measured window */
	uint64_t completed;	 /* full responses, any status, to requests due in the window */
	uint64_t done_in_window; /* full responses of any request that arrived inside the window
				    (warm-up ones included: not a measured figure) */
	uint64_t first_done, last_done; /* ns: the first and last of the `completed` responses */
	uint64_t ok;			/* 2xx and 3xx */
	uint64_t http_errors;		/* 4xx and 5xx */
	uint64_t timeouts;		/* no full response within --timeout of the intended send */
	uint64_t refused;		/* connect() refused */
	uint64_t conn_errors;	  /* other connect failures (unreachable, out of sockets, ...) */
	uint64_t io_errors;	  /* resets, truncated or malformed responses */
	uint64_t dropped;	  /* could not even be queued (--max-pending) */
	uint64_t retries;	  /* re-sent once after a keep-alive close raced the request */
	uint64_t warmup_failures; /* any failure of a warm-up request (reported, not judged) */
	uint64_t bytes_in;
	uint64_t conns_opened;
	uint32_t conns_peak;	  /* most connections open at once */
	uint32_t per_target_peak; /* most connections to one target at once */
	uint64_t targets_used;	  /* targets that received a measured request */
	uint64_t targets_touched; /* targets that received any request, warm-up included */
	double offered;		  /* scheduled / duration_s: what was offered in the window */
	double throughput;	  /* completed / throughput_span_s: what the servers sustained */
	double throughput_span_s; /* last_done - first_done, at least duration_s (account.h) */
	double cpu_s;		  /* user + system CPU of the generator during the run */
	double wall_s;
	size_t ntargets;
	uint64_t *hits;	 /* per target: measured requests sent */
	struct hist lat; /* ns; timed-out requests enter at their age when abandoned (open loop) */
};

/* Failed requests of any kind. */
uint64_t run_result_failures(const struct run_result *res);

/* Run once at `rate` (ignored in closed loop). Returns 0, or -errno on a failure of the
 * generator itself (epoll, memory) with err filled; failures of requests are only counted.
 * res must be released with run_result_free() whatever the return. */
int run_once(const struct load_config *cfg, const struct target_set *ts, double rate,
	     struct run_result *res, char *err, size_t errlen);

/* Release the per-target counters. */
void run_result_free(struct run_result *res);

#endif
