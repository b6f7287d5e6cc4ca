/* sweep.h - find the highest offered rate at which a latency objective still holds.
 *
 * Doubles the rate from LO until a trial fails the objective (or HI passes), then bisects
 * between the last pass and the first failure until they are within --sweep-tol. A run passes
 * when its pNN latency (from intended send times) is under the bound and at most --slo-errors
 * of its requests failed. Each rate (a trial) takes up to --sweep-runs runs and passes when
 * most of them pass; it stops as soon as the majority is decided. With one run per rate, as
 * before, a single run disturbed by the host (a shared machine's scheduling) decides the
 * bracket alone.
 */
#ifndef DENALI_LOAD_SWEEP_H
#define DENALI_LOAD_SWEEP_H

#include <stddef.h>
#include <stdio.h>

#include "run.h"

#define SWEEP_TRIALS_MAX 24

struct load_config;
struct target_set;

struct sweep_trial {
	double rate;
	double throughput; /* the median of its runs */
	double pct_ms;	   /* latency at the objective's percentile: the median of its runs */
	unsigned long long failures; /* over all its runs */
	int runs, passes;
	int pass; /* most of cfg->sweep_runs passed */
};

struct sweep_result {
	struct sweep_trial trials[SWEEP_TRIALS_MAX];
	int ntrials;
	int found;		/* some trial passed */
	struct run_result best; /* the highest passing trial (or the first one if none passed) */
};

/* Does res meet the configured objective? */
int sweep_pass(const struct load_config *cfg, const struct run_result *res);

/* One run at `rate` into res (zeroed by the caller's runner as run_once does). 0 or -errno. */
typedef int (*sweep_runner_fn)(void *ctx, double rate, struct run_result *res, char *err,
			       size_t errlen);

/* The sweep over any runner (tests drive it with a scripted one). */
int sweep_run_with(const struct load_config *cfg, sweep_runner_fn run, void *ctx,
		   struct sweep_result *sr, FILE *progress, char *err, size_t errlen);

/* Run the sweep; progress lines go to progress (may be NULL). 0 or -errno with err filled.
 * sr->best must be released with run_result_free(). */
int sweep_run(const struct load_config *cfg, const struct target_set *ts, struct sweep_result *sr,
	      FILE *progress, char *err, size_t errlen);

#endif
