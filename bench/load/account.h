/* account.h - what a run's figures count. A request belongs to the measured window when its
 * intended send time (open loop: its place in the arrival schedule; closed loop: when it was
 * sent) lies in [w0, w1); everything else is warm-up (or the tail after the window) and
 * enters no measured figure, whenever its response arrives. So a backlog of warm-up requests
 * answered inside the window adds nothing, and what was sustained can never exceed what was
 * offered.
 */
#ifndef DENALI_LOAD_ACCOUNT_H
#define DENALI_LOAD_ACCOUNT_H

#include <stdint.h>

#include "run.h"

enum fail_kind {
	F_TIMEOUT,
	F_REFUSED,
	F_CONNECT,
	F_IO,
	F_DROPPED,
};

struct account {
	struct run_result *res;
	uint64_t w0, w1; /* the measured window, ns */
	int open;	 /* open loop: a timed-out request enters the latencies at its age */
};

/* 1 if a request intended at t is measured. */
int account_measured(const struct account *a, uint64_t t);

/* A new request, intended at `intended`, for target `target`. */
void account_sent(const struct account *a, uint64_t intended, uint32_t target);

/* A full response with HTTP status, at now, to a request intended at `intended` whose
 * latency counts from base (the intended time in open loop, the send in closed loop). */
void account_done(const struct account *a, uint64_t intended, uint64_t base, uint64_t now,
		  int status);

/* A request that failed at now. */
void account_failed(const struct account *a, uint64_t intended, uint64_t now, enum fail_kind kind);

/*
 * After the run: targets_used (targets with a measured request), offered (measured requests
 * per second of the window) and throughput: measured responses over the time the servers
 * took for them, from the first such response to the last, and never less than the window.
 * The time before the first is spent on warm-up requests; a run past the peak, whose last
 * responses come after the window, is divided by the longer time it took.
 */
void account_finish(const struct account *a);

#endif
