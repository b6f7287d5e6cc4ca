#include "lateness.h"

void lateness_merge(struct lateness *to, const struct lateness *from)
{
	to->count += __atomic_load_n(&from->count, __ATOMIC_RELAXED);
	to->sum_ns += __atomic_load_n(&from->sum_ns, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < LATE_BUCKETS; i++)
		to->bucket[i] += __atomic_load_n(&from->bucket[i], __ATOMIC_RELAXED);
}

uint64_t lateness_quantile_us(const struct lateness *l, double q)
{
	uint64_t total = 0, seen = 0, rank;

	for (unsigned i = 0; i < LATE_BUCKETS; i++)
		total += l->bucket[i];
	if (!total)
		return 0;
	/* The smallest rank r with r >= q * total (1-based). */
	rank = (uint64_t)(q * (double)total);
	if ((double)rank < q * (double)total)
		rank++;
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < LATE_BUCKETS - 1; i++) {
		seen += l->bucket[i];
		if (seen >= rank)
			return LATE_BUCKET_LE_US(i);
	}
	return UINT64_MAX;
}
