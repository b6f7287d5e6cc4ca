/* sweep.c - rate sweep against a latency objective. */
#include "sweep.h"

#include <stdio.h>
#include <string.h>

#include "args.h"

int sweep_pass(const struct load_config *cfg, const struct run_result *res)
{
	if (res->completed == 0)
		return 0;
	if (hist_percentile(&res->lat, cfg->slo_pct) > cfg->slo_ns)
		return 0;
	return (double)run_result_failures(res) <= cfg->slo_errors * (double)res->scheduled;
}

/* One trial at `rate`; keeps the result in sr->best if it is the best pass so far. */
static int trial(const struct load_config *cfg, const struct target_set *ts,
		 struct sweep_result *sr, double rate, FILE *progress, char *err, size_t errlen)
{
	struct sweep_trial *t = &sr->trials[sr->ntrials++];
	struct run_result res;
	int rc = run_once(cfg, ts, rate, &res, err, errlen);

	if (rc) {
		run_result_free(&res);
		return rc;
	}
	t->rate = rate;
	t->throughput = res.throughput;
	t->pct_ms = (double)hist_percentile(&res.lat, cfg->slo_pct) / 1e6;
	t->failures = run_result_failures(&res);
	t->pass = sweep_pass(cfg, &res);
	if (progress)
		fprintf(progress,
			"sweep: %9.1f req/s -> %9.1f req/s, p%g %.3f ms, %llu failed: %s\n", rate,
			t->throughput, cfg->slo_pct, t->pct_ms, t->failures,
			t->pass ? "pass" : "FAIL");
	if ((t->pass && (!sr->found || rate > sr->best.rate)) || sr->ntrials == 1) {
		run_result_free(&sr->best); /* NULL-safe */
		sr->best = res;
		sr->found |= t->pass;
		return t->pass;
	}
	run_result_free(&res);
	return t->pass;
}

int sweep_run(const struct load_config *cfg, const struct target_set *ts, struct sweep_result *sr,
	      FILE *progress, char *err, size_t errlen)
{
	double pass = 0, failr = 0, rate = cfg->sweep_lo;
	int rc;

	memset(sr, 0, sizeof(*sr));
	/* grow: lo, 2lo, 4lo, ... hi */
	for (;;) {
		rc = trial(cfg, ts, sr, rate, progress, err, errlen);
		if (rc < 0)
			return rc;
		if (!rc) {
			failr = rate;
			break;
		}
		pass = rate;
		if (rate >= cfg->sweep_hi || sr->ntrials == SWEEP_TRIALS_MAX)
			return 0;
		rate = rate * 2 < cfg->sweep_hi ? rate * 2 : cfg->sweep_hi;
	}
	if (pass == 0) /* even LO fails */
		return 0;
	/* bisect between the last pass and the first failure */
	while ((failr - pass) / pass > cfg->sweep_tol && sr->ntrials < SWEEP_TRIALS_MAX) {
		rate = (pass + failr) / 2;
		rc = trial(cfg, ts, sr, rate, progress, err, errlen);
		if (rc < 0)
			return rc;
		if (rc)
			pass = rate;
		else
			failr = rate;
	}
	return 0;
}
