/* sweep.h - find the highest offered rate at which a latency objective still holds.
 *
 * Doubles the rate from LO until a trial fails the objective (or HI passes), then bisects
 * between the last pass and the first failure until they are within --sweep-tol. A trial passes
 * when its pNN latency (from intended send times) is under the bound and at most --slo-errors
 * of its requests failed.
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
	double throughput;
	double pct_ms; /* latency at the objective's percentile */
	unsigned long long failures;
	int pass;
};

struct sweep_result {
	struct sweep_trial trials[SWEEP_TRIALS_MAX];
	int ntrials;
	int found;		/* some trial passed */
	struct run_result best; /* the highest passing trial (or the first one if none passed) */
};

/* Does res meet the configured objective? */
int sweep_pass(const struct load_config *cfg, const struct run_result *res);

/* Run the sweep; progress lines go to progress (may be NULL). 0 or -errno with err filled.
 * sr->best must be released with run_result_free(). */
int sweep_run(const struct load_config *cfg, const struct target_set *ts, struct sweep_result *sr,
	      FILE *progress, char *err, size_t errlen);

#endif
