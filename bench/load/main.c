/* main.c - denali-load: Zipf-popularity, open-loop HTTP load generator.
 *
 * Exit codes: 0 the run completed (failed requests are counted in the report, never fatal),
 * 1 the generator itself failed (memory, epoll, an output file), 2 bad arguments.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "args.h"
#include "report.h"
#include "run.h"
#include "sweep.h"
#include "target.h"

/* Every connection is a descriptor: lift the soft limit to the hard one, and cap the
 * connections to what it allows rather than failing later with EMFILE. */
static void fit_fd_limit(struct load_config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && cfg->max_conns + 64 > rl.rlim_cur) {
		uint32_t cap = rl.rlim_cur > 128 ? (uint32_t)(rl.rlim_cur - 64) : 64;

		fprintf(stderr,
			"denali-load: --max-conns %u exceeds the descriptor limit %llu; using %u\n",
			cfg->max_conns, (unsigned long long)rl.rlim_cur, cap);
		cfg->max_conns = cap;
		if (cfg->concurrency > cap)
			cfg->concurrency = cap;
	}
}

static int outputs(const struct load_config *cfg, const struct target_set *ts,
		   const struct run_result *res)
{
	int rc = 0;

	if (cfg->hits_path && report_hits(cfg->hits_path, ts, res))
		rc = 1;
	if (cfg->cdf_path && report_cdf(cfg->cdf_path, res))
		rc = 1;
	if (cfg->tsv_path && report_tsv(cfg->tsv_path, cfg->label, res))
		rc = 1;
	return rc;
}

static int print_json(json_t *obj)
{
	char *line = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(10));

	if (!line) {
		fprintf(stderr, "denali-load: out of memory for the JSON line\n");
		return 1;
	}
	printf("%s\n", line);
	free(line);
	return 0;
}

static int sweep_main(const struct load_config *cfg, const struct target_set *ts, json_t *obj)
{
	struct sweep_result *sr = calloc(1, sizeof(*sr));
	json_t *trials;
	char err[256], slo[64];
	int rc;

	if (!sr) {
		fprintf(stderr, "denali-load: out of memory\n");
		return 1;
	}
	rc = sweep_run(cfg, ts, sr, cfg->quiet ? NULL : stdout, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "denali-load: %s\n", err);
		run_result_free(&sr->best);
		free(sr);
		return 1;
	}
	snprintf(slo, sizeof(slo), "p%g<%gms", cfg->slo_pct, (double)cfg->slo_ns / 1e6);
	if (!cfg->quiet) {
		if (sr->found)
			printf("sweep: highest rate meeting %s with <= %g failed: %.1f req/s\n",
			       slo, cfg->slo_errors, sr->best.rate);
		else
			printf("sweep: no rate from %.1f req/s meets %s\n", cfg->sweep_lo, slo);
		report_human(stdout, cfg, &sr->best);
	}
	trials = json_array();
	for (int i = 0; i < sr->ntrials; i++)
		json_array_append_new(
		    trials,
		    json_pack("{s:f,s:f,s:f,s:I,s:i,s:i,s:b}", "rate", sr->trials[i].rate,
			      "throughput", sr->trials[i].throughput, "pct_ms",
			      sr->trials[i].pct_ms, "failures", (json_int_t)sr->trials[i].failures,
			      "runs", sr->trials[i].runs, "passes", sr->trials[i].passes, "pass",
			      sr->trials[i].pass));
	json_object_set_new(obj, "sweep", json_true());
	json_object_set_new(obj, "slo", json_string(slo));
	json_object_set_new(obj, "sweep_runs", json_integer(cfg->sweep_runs));
	json_object_set_new(obj, "best_rate", json_real(sr->found ? sr->best.rate : 0.0));
	json_object_set_new(obj, "trials", trials);
	rc = report_json_fill(obj, cfg, &sr->best) ? 1 : 0;
	rc |= outputs(cfg, ts, &sr->best);
	rc |= print_json(obj);
	run_result_free(&sr->best);
	free(sr);
	return rc;
}

static int single_main(const struct load_config *cfg, const struct target_set *ts, json_t *obj)
{
	struct run_result *res = malloc(sizeof(*res));
	char err[256];
	int rc;

	if (!res) {
		fprintf(stderr, "denali-load: out of memory\n");
		return 1;
	}
	rc = run_once(cfg, ts, cfg->rate, res, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "denali-load: %s\n", err);
		run_result_free(res);
		free(res);
		return 1;
	}
	if (!cfg->quiet)
		report_human(stdout, cfg, res);
	rc = report_json_fill(obj, cfg, res) ? 1 : 0;
	rc |= outputs(cfg, ts, res);
	rc |= print_json(obj);
	run_result_free(res);
	free(res);
	return rc;
}

int main(int argc, char **argv)
{
	static struct load_config cfg;
	struct target_set ts;
	char err[512];
	json_t *obj;
	int rc;

	rc = args_parse(argc, argv, &cfg, err, sizeof(err));
	if (rc == 1) {
		args_usage(stdout);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "denali-load: %s\n(try denali-load --help)\n", err);
		return 2;
	}
	rc = target_set_build(&ts, &cfg, err, sizeof(err));
	if (rc == -ENOMEM) {
		fprintf(stderr, "denali-load: %s\n", err);
		return 1;
	}
	if (rc) {
		fprintf(stderr, "denali-load: %s\n(try denali-load --help)\n", err);
		return 2;
	}
	fit_fd_limit(&cfg);
	obj = json_object();
	if (!obj) {
		target_set_free(&ts);
		return 1;
	}
	json_object_set_new(obj, "tool", json_string("denali-load"));
	if (cfg.label)
		json_object_set_new(obj, "label", json_string(cfg.label));
	fflush(stdout);
	rc = cfg.sweep ? sweep_main(&cfg, &ts, obj) : single_main(&cfg, &ts, obj);
	json_decref(obj);
	target_set_free(&ts);
	return rc;
}
