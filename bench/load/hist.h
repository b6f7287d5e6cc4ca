/* hist.h - log-linear latency histogram with bounded relative error.
 *
 * Values (nanoseconds, any uint64_t) below 2^HIST_SUB_BITS are kept exactly; above, each power
 * of two is cut into 2^(HIST_SUB_BITS - 1) equal buckets, so a bucket is at most 1/128 of its
 * lower bound wide. A value is reported as its bucket's midpoint: relative error <= 1/256 (0.4%).
 * Count, sum, min and max are exact. Fixed size (~60 KiB), no allocation on record.
 */
#ifndef DENALI_LOAD_HIST_H
#define DENALI_LOAD_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 8
#define HIST_HALF     (1u << (HIST_SUB_BITS - 1))
#define HIST_BUCKETS  ((64 - HIST_SUB_BITS + 1) * HIST_HALF + HIST_HALF)

struct hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	long double sum;
	uint64_t buckets[HIST_BUCKETS];
};

/* Empty the histogram. */
void hist_reset(struct hist *h);

/* Record one value. */
void hist_record(struct hist *h, uint64_t v);

/* Add every sample of src into dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/* Bucket index of a value, and the bucket's [lo, hi] inclusive value range. */
unsigned hist_index(uint64_t v);
void hist_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi);

/* Value at percentile pct (0..100): the smallest recorded value v such that at least pct% of
 * samples are <= v, reported as its bucket midpoint clamped to [min, max]. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double pct);

/* Arithmetic mean, 0 when empty. */
double hist_mean(const struct hist *h);

/* Call fn for each non-empty bucket in increasing order with its midpoint value, its count and
 * the cumulative fraction of samples at or below it (for CDF plots). */
void hist_foreach(const struct hist *h,
		  void (*fn)(uint64_t value, uint64_t count, double cum, void *arg), void *arg);

#endif
