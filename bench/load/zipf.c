/* zipf.c - exact Zipf sampling by CDF table or rejection-inversion. */
#include "zipf.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* log1p(t) / t, continuous at 0. */
static double log1p_over(double t)
{
	if (fabs(t) > 1e-8)
		return log1p(t) / t;
	return 1.0 - t * (0.5 - t / 3.0);
}

/* expm1(t) / t, continuous at 0. */
static double expm1_over(double t)
{
	if (fabs(t) > 1e-8)
		return expm1(t) / t;
	return 1.0 + t * (0.5 + t / 6.0);
}

/* h(x) = x^-alpha, the hat density. */
static double hat(double x, double alpha)
{
	return exp(-alpha * log(x));
}

/* H(x) = integral of h from 1 to x = (x^(1-alpha) - 1) / (1 - alpha), or log(x) for alpha 1. */
static double hat_int(double x, double alpha)
{
	double lx = log(x);

	return expm1_over((1.0 - alpha) * lx) * lx;
}

/* Inverse of hat_int. */
static double hat_int_inv(double y, double alpha)
{
	double t = (1.0 - alpha) * y;

	if (t < -1.0) /* rounding at the far end of the range */
		t = -1.0;
	return exp(log1p_over(t) * y);
}

double zipf_norm(uint64_t n, double alpha)
{
	long double sum = 0.0L;

	/* Smallest terms first keeps the rounding error at a few ulps. */
	for (uint64_t k = n; k >= 1; k--)
		sum += powl((long double)k, -(long double)alpha);
	return (double)sum;
}

double zipf_pmf(uint64_t k, double alpha, double norm)
{
	return pow((double)k, -alpha) / norm;
}

static int cdf_build(struct zipf *z)
{
	long double total = 0.0L, run = 0.0L;

	z->cdf = malloc(z->n * sizeof(*z->cdf));
	if (!z->cdf)
		return -ENOMEM;
	for (uint64_t k = z->n; k >= 1; k--)
		total += powl((long double)k, -(long double)z->alpha);
	for (uint64_t k = 1; k <= z->n; k++) {
		run += powl((long double)k, -(long double)z->alpha);
		z->cdf[k - 1] = (double)(run / total);
	}
	z->cdf[z->n - 1] = 1.0;
	return 0;
}

int zipf_init(struct zipf *z, uint64_t n, double alpha, enum zipf_method method)
{
	z->cdf = NULL;
	if (n < 1 || !(alpha >= 0.0 && alpha <= ZIPF_ALPHA_MAX))
		return -EINVAL;
	if (method == ZIPF_AUTO)
		method = n <= ZIPF_CDF_MAX ? ZIPF_CDF : ZIPF_REJECTION;
	if (method == ZIPF_CDF && n > ZIPF_CDF_MAX)
		return -E2BIG;
	if (method != ZIPF_CDF && method != ZIPF_REJECTION)
		return -EINVAL;
	z->n = n;
	z->alpha = alpha;
	z->method = method;
	if (method == ZIPF_CDF)
		return cdf_build(z);
	z->h_x1 = hat_int(1.5, alpha) - 1.0;
	z->h_n = hat_int((double)n + 0.5, alpha);
	z->s = 2.0 - hat_int_inv(hat_int(2.5, alpha) - hat(2.0, alpha), alpha);
	return 0;
}

void zipf_free(struct zipf *z)
{
	free(z->cdf);
	z->cdf = NULL;
}

static uint64_t sample_cdf(const struct zipf *z, struct rng *r)
{
	double u = rng_double(r);
	uint64_t lo = 0, hi = z->n - 1;

	/* Smallest index whose cumulative probability exceeds u. */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (z->cdf[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo + 1;
}

static uint64_t sample_rejection(const struct zipf *z, struct rng *r)
{
	for (;;) {
		double u = z->h_n + rng_double(r) * (z->h_x1 - z->h_n);
		double x = hat_int_inv(u, z->alpha);
		double kd = floor(x + 0.5);
		uint64_t k;

		if (kd < 1.0)
			kd = 1.0;
		else if (kd > (double)z->n)
			kd = (double)z->n;
		k = (uint64_t)kd;
		/* Accept inside the squeeze, else test against the exact mass of k. */
		if (kd - x <= z->s || u >= hat_int(kd + 0.5, z->alpha) - hat(kd, z->alpha))
			return k;
	}
}

uint64_t zipf_sample(const struct zipf *z, struct rng *r)
{
	if (z->method == ZIPF_CDF)
		return sample_cdf(z, r);
	return sample_rejection(z, r);
}
