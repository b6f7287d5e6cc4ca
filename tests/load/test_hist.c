/* test_hist.c - the latency histogram: bucket layout, relative error bound, percentiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hist.h"
#include "rng.h"

static struct hist h;

static void check_value(uint64_t v)
{
	unsigned i = hist_index(v);
	uint64_t lo, hi, mid;

	assert_true(i < HIST_BUCKETS);
	hist_bucket_range(i, &lo, &hi);
	assert_true(lo <= v && v <= hi);
	mid = lo + (hi - lo + 1) / 2;
	if (mid > hi)
		mid = hi;
	/* |reported - true| <= true / 256 */
	assert_true((mid > v ? mid - v : v - mid) * 256.0L <= (long double)v);
}

static void test_relative_error(void **state)
{
	struct rng r;

	(void)state;
	for (uint64_t v = 0; v < 100000; v++)
		check_value(v);
	rng_seed(&r, 5, 0);
	for (int i = 0; i < 1000000; i++) {
		unsigned bits = (unsigned)(rng_next(&r) % 64);
		uint64_t v = rng_next(&r) >> (63 - bits);

		check_value(v);
	}
	check_value(UINT64_MAX);
	for (int s = 0; s < 64; s++) {
		check_value(1ULL << s);
		check_value((1ULL << s) - 1);
	}
}

static void test_layout_contiguous(void **state)
{
	uint64_t prev_hi = 0, lo, hi;

	(void)state;
	hist_bucket_range(0, &lo, &hi);
	assert_int_equal(lo, 0);
	assert_int_equal(hi, 0);
	for (unsigned i = 1; i < HIST_BUCKETS; i++) {
		hist_bucket_range(i, &lo, &hi);
		assert_int_equal(lo, prev_hi + 1);
		assert_int_equal(hist_index(lo), i);
		assert_int_equal(hist_index(hi), i);
		prev_hi = hi;
	}
	assert_true(prev_hi == UINT64_MAX);
}

static void near(uint64_t got, uint64_t want)
{
	long double d = (long double)got - (long double)want;

	if (d < 0)
		d = -d;
	assert_true(d <= (long double)want / 100.0L); /* within 1% */
}

static void test_percentiles_uniform(void **state)
{
	(void)state;
	hist_reset(&h);
	/* 1..100000 us, in ns */
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(&h, v * 1000);
	assert_int_equal(h.count, 100000);
	near(hist_percentile(&h, 50), 50000000);
	near(hist_percentile(&h, 90), 90000000);
	near(hist_percentile(&h, 99), 99000000);
	near(hist_percentile(&h, 99.9), 99900000);
	assert_int_equal(hist_percentile(&h, 100), 100000000);
	assert_int_equal(hist_percentile(&h, 0), 1000);
	assert_int_equal(h.max, 100000000);
	assert_true(hist_mean(&h) > 50000499.0 && hist_mean(&h) < 50000501.0);
}

static void test_percentiles_tail(void **state)
{
	(void)state;
	hist_reset(&h);
	/* 985 fast requests and 15 stalled ones: p99 must land in the stall */
	for (int i = 0; i < 985; i++)
		hist_record(&h, 100000);
	for (int i = 0; i < 15; i++)
		hist_record(&h, 1000000000);
	near(hist_percentile(&h, 50), 100000);
	near(hist_percentile(&h, 98.5), 100000);
	near(hist_percentile(&h, 99), 1000000000);
	assert_int_equal(hist_percentile(&h, 99.9), 1000000000); /* clamped to max */
}

static void test_empty_and_merge(void **state)
{
	static struct hist a, b;

	(void)state;
	hist_reset(&a);
	hist_reset(&b);
	assert_int_equal(hist_percentile(&a, 99), 0);
	assert_true(hist_mean(&a) == 0.0);
	hist_record(&a, 10);
	hist_record(&b, 5000000);
	hist_merge(&a, &b);
	assert_int_equal(a.count, 2);
	assert_int_equal(a.min, 10);
	assert_int_equal(a.max, 5000000);
	assert_int_equal(hist_percentile(&a, 50), 10);
	near(hist_percentile(&a, 51), 5000000);
}

static void cdf_check(uint64_t value, uint64_t count, double cum, void *arg)
{
	double *last = arg;

	assert_true(count > 0);
	assert_true(cum > last[0] && cum <= 1.0);
	assert_true((double)value >= last[1]);
	last[0] = cum;
	last[1] = (double)value;
}

static void test_foreach_cdf(void **state)
{
	double last[2] = {0, 0};

	(void)state;
	hist_reset(&h);
	for (uint64_t v = 1; v <= 5000; v += 7)
		hist_record(&h, v * v);
	hist_foreach(&h, cdf_check, last);
	assert_true(last[0] == 1.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_relative_error),	cmocka_unit_test(test_layout_contiguous),
	    cmocka_unit_test(test_percentiles_uniform), cmocka_unit_test(test_percentiles_tail),
	    cmocka_unit_test(test_empty_and_merge),	cmocka_unit_test(test_foreach_cdf),
	};

	return cmocka_run_group_tests_name("load_hist", tests, NULL, NULL);
}
