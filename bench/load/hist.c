/* hist.c - log-linear histogram. */
#include "hist.h"

#include <string.h>

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < (1u << HIST_SUB_BITS))
		return (unsigned)v;
	msb = 63 - (unsigned)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS + 1;
	/* (v >> shift) keeps the top HIST_SUB_BITS bits: in [HIST_HALF, 2 * HIST_HALF). */
	return shift * HIST_HALF + (unsigned)(v >> shift);
}

void hist_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi)
{
	unsigned shift, m;

	if (idx < (1u << HIST_SUB_BITS)) {
		*lo = *hi = idx;
		return;
	}
	shift = idx / HIST_HALF - 1;
	m = idx - shift * HIST_HALF;
	*lo = (uint64_t)m << shift;
	*hi = *lo + ((1ULL << shift) - 1);
}

void hist_record(struct hist *h, uint64_t v)
{
	h->buckets[hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

static uint64_t midpoint(const struct hist *h, unsigned idx)
{
	uint64_t lo, hi, mid;

	hist_bucket_range(idx, &lo, &hi);
	mid = lo + (hi - lo + 1) / 2;
	if (mid > hi)
		mid = hi;
	if (mid < h->min)
		mid = h->min;
	if (mid > h->max)
		mid = h->max;
	return mid;
}

uint64_t hist_percentile(const struct hist *h, double pct)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	if (pct >= 100.0)
		return h->max;
	if (pct <= 0.0)
		return h->min;
	/* rank = ceil(pct/100 * count), at least 1 */
	rank = (uint64_t)((long double)pct / 100.0L * h->count);
	if ((long double)rank < (long double)pct / 100.0L * h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			return midpoint(h, i);
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->count ? (double)(h->sum / h->count) : 0.0;
}

void hist_foreach(const struct hist *h,
		  void (*fn)(uint64_t value, uint64_t count, double cum, void *arg), void *arg)
{
	uint64_t seen = 0;

	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		if (!h->buckets[i])
			continue;
		seen += h->buckets[i];
		fn(midpoint(h, i), h->buckets[i], (double)seen / (double)h->count, arg);
	}
}
