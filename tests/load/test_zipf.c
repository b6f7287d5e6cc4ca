/* test_zipf.c - the Zipf sampler: exact distribution (chi-square at fixed seeds), both methods,
 * large N, determinism, parameter checks. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "chisq.h"
#include "zipf.h"

/* Chi-square of `samples` draws binned as: ranks 1..16 alone, then doubling ranges. */
static double chisq_binned(const struct zipf *z, uint64_t seed, unsigned samples, unsigned *nbins)
{
	uint64_t edges[80];
	/* Each bin's mass k^-alpha summed once; their total is the normalisation (the bins cover
	 * 1..n), so n terms are computed once, not twice (zipf_norm's long-double pass is the
	 * slow one: this test took 5.1 s of CPU, 1.1 s now). */
	long double mass[80] = {0}, total = 0.0L;
	double expect[80] = {0}, stat = 0;
	unsigned long long count[80] = {0};
	unsigned nb = 0;
	struct rng r;

	for (uint64_t lo = 1; lo <= z->n && nb < 79;) {
		uint64_t hi = lo <= 16 ? lo : lo * 2 - 1;

		if (hi > z->n)
			hi = z->n;
		edges[nb] = hi;
		for (uint64_t k = hi; k >= lo; k--) /* smallest terms first */
			mass[nb] += pow((double)k, -z->alpha);
		total += mass[nb];
		nb++;
		lo = hi + 1;
	}
	for (unsigned b = 0; b < nb; b++)
		expect[b] = (double)(mass[b] / total);
	/* fold thin tail bins into their neighbour */
	while (nb > 2 && expect[nb - 1] * samples < 20.0) {
		expect[nb - 2] += expect[nb - 1];
		edges[nb - 2] = edges[nb - 1];
		nb--;
	}
	rng_seed(&r, seed, 7);
	for (unsigned i = 0; i < samples; i++) {
		uint64_t k = zipf_sample(z, &r);
		unsigned b = 0;

		assert_true(k >= 1 && k <= z->n);
		while (k > edges[b])
			b++;
		count[b]++;
	}
	for (unsigned b = 0; b < nb; b++) {
		double e = expect[b] * samples, d = (double)count[b] - e;

		assert_true(e > 5.0); /* the chi-square approximation needs it */
		stat += d * d / e;
	}
	*nbins = nb;
	return stat;
}

static void test_small_n_chisq(void **state)
{
	struct zipf z;
	unsigned samples = 200000, n = 100;
	unsigned long long count[100] = {0};
	double norm = zipf_norm(n, 1.0), stat = 0;
	struct rng r;

	(void)state;
	assert_int_equal(zipf_init(&z, n, 1.0, ZIPF_AUTO), 0);
	assert_int_equal(z.method, ZIPF_CDF);
	rng_seed(&r, 42, 7);
	for (unsigned i = 0; i < samples; i++)
		count[zipf_sample(&z, &r) - 1]++;
	for (unsigned k = 1; k <= n; k++) {
		double e = samples * zipf_pmf(k, 1.0, norm), d = (double)count[k - 1] - e;

		stat += d * d / e;
	}
	print_message("zipf n=100 alpha=1 seed=42: chi-square %.1f (df 99, crit %.1f)\n", stat,
		      chisq_crit_001(99));
	assert_true(stat < chisq_crit_001(99));
	zipf_free(&z);
}

static void check_method(uint64_t n, double alpha, enum zipf_method m)
{
	struct zipf z;
	unsigned nb;
	double stat;

	assert_int_equal(zipf_init(&z, n, alpha, m), 0);
	assert_int_equal(z.method, m);
	stat = chisq_binned(&z, 1234, 400000, &nb);
	print_message("zipf n=%llu alpha=%.2f %s: chi-square %.1f (df %u, crit %.1f)\n",
		      (unsigned long long)n, alpha, m == ZIPF_CDF ? "cdf" : "rejection", stat,
		      nb - 1, chisq_crit_001(nb - 1));
	assert_true(stat < chisq_crit_001(nb - 1));
	zipf_free(&z);
}

static void test_large_n_cdf(void **state)
{
	(void)state;
	check_method(1000000, 0.99, ZIPF_CDF);
	check_method(1000000, 1.0, ZIPF_CDF);
}

static void test_large_n_rejection(void **state)
{
	(void)state;
	check_method(1000000, 0.99, ZIPF_REJECTION);
	check_method(1000000, 1.0, ZIPF_REJECTION);
	check_method(1000000, 0.5, ZIPF_REJECTION);
	check_method(1000000, 1.8, ZIPF_REJECTION);
	check_method(10000000, 1.2, ZIPF_REJECTION);
	check_method(1000, 0.0, ZIPF_REJECTION);
}

static void test_single_target(void **state)
{
	struct zipf a, b;
	struct rng r;

	(void)state;
	assert_int_equal(zipf_init(&a, 1, 1.0, ZIPF_CDF), 0);
	assert_int_equal(zipf_init(&b, 1, 1.0, ZIPF_REJECTION), 0);
	rng_seed(&r, 3, 0);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(zipf_sample(&a, &r), 1);
		assert_int_equal(zipf_sample(&b, &r), 1);
	}
	zipf_free(&a);
	zipf_free(&b);
}

static void test_cdf_table_exact(void **state)
{
	struct zipf z;
	uint64_t n = 1000000;
	double norm = zipf_norm(n, 1.0);

	(void)state;
	assert_int_equal(zipf_init(&z, n, 1.0, ZIPF_CDF), 0);
	assert_true(fabs(z.cdf[0] - 1.0 / norm) < 1e-15);
	assert_true(fabs(z.cdf[1] - 1.5 / norm) < 1e-15);
	assert_true(z.cdf[n - 1] == 1.0);
	for (uint64_t k = 1; k < n; k++)
		assert_true(z.cdf[k] >= z.cdf[k - 1]);
	/* the last rank keeps its own (tiny) mass */
	assert_true(fabs((1.0 - z.cdf[n - 2]) - 1.0 / (n * norm)) < 1e-15);
	zipf_free(&z);
}

static void test_deterministic(void **state)
{
	struct zipf z;
	struct rng a, b, c;
	int differ = 0;

	(void)state;
	assert_int_equal(zipf_init(&z, 5000, 1.1, ZIPF_AUTO), 0);
	rng_seed(&a, 9, 1);
	rng_seed(&b, 9, 1);
	rng_seed(&c, 10, 1);
	for (int i = 0; i < 10000; i++) {
		uint64_t x = zipf_sample(&z, &a);

		assert_int_equal(x, zipf_sample(&z, &b));
		differ |= x != zipf_sample(&z, &c);
	}
	assert_true(differ);
	zipf_free(&z);
}

static void test_bad_params(void **state)
{
	struct zipf z;

	(void)state;
	assert_int_equal(zipf_init(&z, 0, 1.0, ZIPF_AUTO), -EINVAL);
	assert_int_equal(zipf_init(&z, 10, -0.1, ZIPF_AUTO), -EINVAL);
	assert_int_equal(zipf_init(&z, 10, NAN, ZIPF_AUTO), -EINVAL);
	assert_int_equal(zipf_init(&z, 10, 11.0, ZIPF_AUTO), -EINVAL);
	assert_int_equal(zipf_init(&z, ZIPF_CDF_MAX + 1ULL, 1.0, ZIPF_CDF), -E2BIG);
	assert_int_equal(zipf_init(&z, ZIPF_CDF_MAX + 1ULL, 1.0, ZIPF_AUTO), 0);
	assert_int_equal(z.method, ZIPF_REJECTION);
	zipf_free(&z);
	zipf_free(&z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_small_n_chisq),     cmocka_unit_test(test_large_n_cdf),
	    cmocka_unit_test(test_large_n_rejection), cmocka_unit_test(test_cdf_table_exact),
	    cmocka_unit_test(test_deterministic),     cmocka_unit_test(test_bad_params),
	    cmocka_unit_test(test_single_target),
	};

	return cmocka_run_group_tests_name("load_zipf", tests, NULL, NULL);
}
