/* test_sweep.c - the rate sweep's decisions (bench/load/sweep.h) with a scripted runner: the
 * latency of each run at each rate is the script's, so which rates pass, how many runs each
 * takes and which run is kept as the best are checked without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "args.h"
#include "sweep.h"

#define MS 1000000ULL

/* The server of the script: p99 ms at a rate is cap_ms below `knee` req/s and 500 ms above;
 * runs listed in `bad` (by their number, from 1) are a disturbed host's: 500 ms whatever the
 * rate. */
struct script {
	double knee;
	int bad[8], nbad;
	int calls;
};

static int scripted(void *ctx, double rate, struct run_result *res, char *err, size_t errlen)
{
	struct script *s = ctx;
	uint64_t lat = rate <= s->knee ? 5 * MS : 500 * MS;

	(void)err;
	(void)errlen;
	s->calls++;
	for (int i = 0; i < s->nbad; i++)
		if (s->bad[i] == s->calls)
			lat = 500 * MS;
	memset(res, 0, sizeof(*res));
	hist_reset(&res->lat);
	res->rate = rate;
	res->scheduled = res->completed = res->ok = 100;
	res->throughput = rate;
	res->hits = calloc(1, sizeof(*res->hits)); /* owned, freed by run_result_free */
	for (int i = 0; i < 100; i++)
		hist_record(&res->lat, lat);
	return 0;
}

static struct load_config config(unsigned runs)
{
	struct load_config cfg;

	args_defaults(&cfg);
	cfg.sweep = 1;
	cfg.sweep_lo = 1000;
	cfg.sweep_hi = 16000;
	cfg.sweep_tol = 0.05;
	cfg.slo_ns = 50 * MS;
	cfg.sweep_runs = runs;
	return cfg;
}

/* One run per rate: a clean host finds the knee (within the tolerance). */
static void test_one_run_finds_knee(void **state)
{
	struct load_config cfg = config(1);
	struct script s = {.knee = 5000};
	struct sweep_result *sr = calloc(1, sizeof(*sr));

	(void)state;
	assert_int_equal(sweep_run_with(&cfg, scripted, &s, sr, NULL, NULL, 0), 0);
	assert_true(sr->found);
	assert_true(sr->best.rate <= 5000 && sr->best.rate >= 5000 / 1.06);
	for (int i = 0; i < sr->ntrials; i++)
		assert_int_equal(sr->trials[i].runs, 1);
	run_result_free(&sr->best);
	free(sr);
}

/* One run per rate: a single disturbed run at 2,000 req/s ends the growth there, and the
 * best is far below the knee. Three runs per rate: the same disturbed run is outvoted. */
static void test_majority_outvotes_one_bad_run(void **state)
{
	struct load_config one = config(1), three = config(3);
	struct script s1 = {.knee = 5000, .bad = {2}, .nbad = 1};
	struct script s3 = {.knee = 5000, .bad = {3}, .nbad = 1}; /* run 1 of 2,000 req/s */
	struct sweep_result *sr = calloc(1, sizeof(*sr));

	(void)state;
	assert_int_equal(sweep_run_with(&one, scripted, &s1, sr, NULL, NULL, 0), 0);
	assert_true(sr->best.rate < 2000);
	run_result_free(&sr->best);
	memset(sr, 0, sizeof(*sr));

	assert_int_equal(sweep_run_with(&three, scripted, &s3, sr, NULL, NULL, 0), 0);
	assert_true(sr->found);
	assert_true(sr->best.rate <= 5000 && sr->best.rate >= 5000 / 1.06);
	/* 1,000: two passes decide it; 2,000: a failure, then two passes. */
	assert_true(sr->trials[0].rate == 1000 && sr->trials[0].runs == 2);
	assert_true(sr->trials[1].rate == 2000 && sr->trials[1].runs == 3);
	assert_int_equal(sr->trials[1].passes, 2);
	assert_true(sr->trials[1].pass);
	assert_true(sr->trials[1].pct_ms < 50); /* the median of 500, 5, 5 */
	/* The best kept is a passing run of the best rate. */
	assert_true(hist_percentile(&sr->best.lat, 99) <= 50 * MS);
	run_result_free(&sr->best);
	free(sr);
}

/* A clean host: every rate is decided in two runs, passes below the knee, fails above. */
static void test_unanimous_in_two(void **state)
{
	struct load_config cfg = config(3);
	struct script s = {.knee = 1500};
	struct sweep_result *sr = calloc(1, sizeof(*sr));

	(void)state;
	assert_int_equal(sweep_run_with(&cfg, scripted, &s, sr, NULL, NULL, 0), 0);
	assert_true(sr->found);
	assert_true(sr->best.rate <= 1500);
	for (int i = 0; i < sr->ntrials; i++) {
		assert_true(sr->trials[i].runs == 2); /* unanimous either way: decided in two */
		assert_int_equal(sr->trials[i].pass, sr->trials[i].rate <= 1500);
	}
	run_result_free(&sr->best);
	free(sr);
}

/* Nothing passes: not found, the first run is kept (for its report), every rate tried once. */
static void test_nothing_passes(void **state)
{
	struct load_config cfg = config(3);
	struct script s = {.knee = 10};
	struct sweep_result *sr = calloc(1, sizeof(*sr));

	(void)state;
	assert_int_equal(sweep_run_with(&cfg, scripted, &s, sr, NULL, NULL, 0), 0);
	assert_false(sr->found);
	assert_int_equal(sr->ntrials, 1);
	assert_true(sr->best.rate == 1000);
	assert_int_equal(s.calls, 2);
	run_result_free(&sr->best);
	free(sr);
}

/* A rate that passes once in three fails, and its passing run is not kept as the best. */
static void test_one_good_run_is_not_enough(void **state)
{
	struct load_config cfg = config(3);
	/* knee 8,000; runs 6 and 7 (the second and third at 4,000) are disturbed. */
	struct script s = {.knee = 8000, .bad = {6, 7}, .nbad = 2};
	struct sweep_result *sr = calloc(1, sizeof(*sr));

	(void)state;
	assert_int_equal(sweep_run_with(&cfg, scripted, &s, sr, NULL, NULL, 0), 0);
	assert_true(sr->trials[2].rate == 4000 && !sr->trials[2].pass);
	assert_int_equal(sr->trials[2].runs, 3);
	assert_int_equal(sr->trials[2].passes, 1);
	assert_true(sr->found && sr->best.rate < 4000);
	run_result_free(&sr->best);
	free(sr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_run_finds_knee),
	    cmocka_unit_test(test_majority_outvotes_one_bad_run),
	    cmocka_unit_test(test_unanimous_in_two),
	    cmocka_unit_test(test_nothing_passes),
	    cmocka_unit_test(test_one_good_run_is_not_enough),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
