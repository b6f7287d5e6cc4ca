/* zipf.h - seeded, exact Zipf(alpha) sampler over ranks 1..n.
 *
 * P(k) = k^-alpha / H(n, alpha). Two exact methods: a precomputed CDF with binary search
 * (n up to ZIPF_CDF_MAX, O(log n) per sample, 8 bytes per rank), and Hoermann-Derflinger
 * rejection-inversion (any n, O(1) expected, no table). ZIPF_AUTO picks the table when it fits.
 */
#ifndef DENALI_LOAD_ZIPF_H
#define DENALI_LOAD_ZIPF_H

#include <stdint.h>

#include "rng.h"

#define ZIPF_CDF_MAX   (4u * 1024 * 1024)
#define ZIPF_ALPHA_MAX 10.0

enum zipf_method {
	ZIPF_AUTO = 0,
	ZIPF_CDF,
	ZIPF_REJECTION,
};

struct zipf {
	uint64_t n;
	double alpha;
	enum zipf_method method;
	double *cdf; /* ZIPF_CDF: cdf[k - 1] = P(X <= k), cdf[n - 1] == 1.0 */
	double h_x1; /* ZIPF_REJECTION: H(1.5) - h(1) */
	double h_n;  /* ZIPF_REJECTION: H(n + 0.5) */
	double s;    /* ZIPF_REJECTION: squeeze bound */
};

/* Prepare a sampler for ranks 1..n (n >= 1) with exponent 0 <= alpha <= ZIPF_ALPHA_MAX.
 * Returns 0, -EINVAL for bad parameters, -E2BIG if ZIPF_CDF is forced past ZIPF_CDF_MAX,
 * -ENOMEM. */
int zipf_init(struct zipf *z, uint64_t n, double alpha, enum zipf_method method);

/* Release the table, if any. Safe on a zeroed or already freed sampler. */
void zipf_free(struct zipf *z);

/* Draw one rank in [1, n]. Deterministic given the rng state. */
uint64_t zipf_sample(const struct zipf *z, struct rng *r);

/* Exact normalising constant H(n, alpha) = sum_{k=1..n} k^-alpha (O(n), for tests/reports). */
double zipf_norm(uint64_t n, double alpha);

/* Exact P(X = k) given norm = zipf_norm(n, alpha). */
double zipf_pmf(uint64_t k, double alpha, double norm);

#endif
