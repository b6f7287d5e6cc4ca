/*
 * Wake-up lateness: how long after its idle() deadline a VM got the CPU
 * back. A fixed log2 histogram of plain counters, written by one worker
 * thread (no locks, no atomics on the hot path) and read by others, which
 * may see a sample half-added but never a counter that goes down.
 */
#ifndef DENALI_SCHED_LATENESS_H
#define DENALI_SCHED_LATENESS_H

#include <stdint.h>

/* Bucket i counts samples below LATE_BUCKET_LE_US(i) us (i < LATE_BUCKETS - 1),
 * the last one everything longer: 8 us, 16 us, ... 2.1 s (8 << 18 us), +Inf. */
#define LATE_BUCKETS	     20
#define LATE_BUCKET_LE_US(i) (8ull << (i))

struct lateness {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t bucket[LATE_BUCKETS]; /* not cumulative */
};

/* Adds one sample of late_ns. */
static inline void lateness_add(struct lateness *l, uint64_t late_ns)
{
	uint64_t us8 = late_ns / 8000; /* in units of the first bound */
	unsigned i = us8 ? 64 - (unsigned)__builtin_clzll(us8) : 0;

	if (i > LATE_BUCKETS - 1)
		i = LATE_BUCKETS - 1;
	l->count++;
	l->sum_ns += late_ns;
	l->bucket[i]++;
}

/* to += from, read with relaxed loads (from may be written meanwhile). */
void lateness_merge(struct lateness *to, const struct lateness *from);

/*
 * The q-quantile (0 < q <= 1) in us: the upper bound of the bucket that holds
 * it, so the true value is at most this (and above the previous bound). 0
 * without samples; UINT64_MAX when it lies in the +Inf bucket.
 */
uint64_t lateness_quantile_us(const struct lateness *l, double q);

#endif
