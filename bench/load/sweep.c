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

static double median(double *v, int n)
{
	for (int i = 1; i < n; i++) /* insertion sort: n <= 15 */
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One trial at `rate`: up to cfg->sweep_runs runs, until most of them passed or most can no
 * longer pass. When the trial passes and its rate is the best so far, one of its passing runs
 * becomes sr->best; the very first run is kept there while nothing has passed. 1 pass, 0 fail,
 * -errno. */
static int trial(const struct load_config *cfg, sweep_runner_fn run, void *ctx,
		 struct sweep_result *sr, double rate, FILE *progress, char *err, size_t errlen)
{
	struct sweep_trial *t = &sr->trials[sr->ntrials++];
	int k = cfg->sweep_runs ? (int)cfg->sweep_runs : 1, need = k / 2 + 1, have = 0;
	double tput[16], pct[16];
	struct run_result cand; /* a passing run, or the first one */

	memset(t, 0, sizeof(*t));
	memset(&cand, 0, sizeof(cand));
	t->rate = rate;
	while (t->passes < need && t->runs - t->passes <= k - need) {
		struct run_result res;
		int rc = run(ctx, rate, &res, err, errlen), pass;

		if (rc) {
			run_result_free(&res);
			run_result_free(&cand);
			return rc;
		}
		pass = sweep_pass(cfg, &res);
		tput[t->runs] = res.throughput;
		pct[t->runs] = (double)hist_percentile(&res.lat, cfg->slo_pct) / 1e6;
		t->failures += run_result_failures(&res);
		if (progress)
			fprintf(progress,
				"sweep: %9.1f req/s -> %9.1f req/s, p%g %.3f ms, %llu failed: %s"
				" (run %d of at most %d)\n",
				rate, res.throughput, cfg->slo_pct, pct[t->runs],
				(unsigned long long)run_result_failures(&res),
				pass ? "pass" : "FAIL", t->runs + 1, k);
		t->runs++;
		if (!have || (pass && t->passes == 0)) {
			run_result_free(&cand); /* NULL-safe */
			cand = res;
			have = 1;
		} else {
			run_result_free(&res);
		}
		t->passes += pass;
	}
	t->throughput = median(tput, t->runs);
	t->pct_ms = median(pct, t->runs);
	t->pass = t->passes >= need;
	if ((t->pass && (!sr->found || rate > sr->best.rate)) || sr->ntrials == 1) {
		run_result_free(&sr->best);
		sr->best = cand;
		sr->found |= t->pass;
	} else {
		run_result_free(&cand);
	}
	return t->pass;
}

int sweep_run_with(const struct load_config *cfg, sweep_runner_fn run, void *ctx,
		   struct sweep_result *sr, FILE *progress, char *err, size_t errlen)
{
	double pass = 0, failr = 0, rate = cfg->sweep_lo;
	int rc;

	memset(sr, 0, sizeof(*sr));
	/* grow: lo, 2lo, 4lo, ... hi */
	for (;;) {
		rc = trial(cfg, run, ctx, sr, rate, progress, err, errlen);
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
		rc = trial(cfg, run, ctx, sr, rate, progress, err, errlen);
		if (rc < 0)
			return rc;
		if (rc)
			pass = rate;
		else
			failr = rate;
	}
	return 0;
}

struct real_runner {
	const struct load_config *cfg;
	const struct target_set *ts;
};

static int real_run(void *ctx, double rate, struct run_result *res, char *err, size_t errlen)
{
	struct real_runner *r = ctx;

	return run_once(r->cfg, r->ts, rate, res, err, errlen);
}

int sweep_run(const struct load_config *cfg, const struct target_set *ts, struct sweep_result *sr,
	      FILE *progress, char *err, size_t errlen)
{
	struct real_runner r = {cfg, ts};

	return sweep_run_with(cfg, real_run, &r, sr, progress, err, errlen);
}
