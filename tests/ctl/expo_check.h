/* A checker for the Prometheus text exposition format (0.0.4) as the tests read it: every
 * line parses, every sample belongs to a family declared with # TYPE before it, families are
 * contiguous, no series appears twice, counters are named *_total and are not negative,
 * histogram buckets are cumulative and end in +Inf == _count. */
#ifndef DENALI_TESTS_EXPO_CHECK_H
#define DENALI_TESTS_EXPO_CHECK_H

#include <stddef.h>

struct expo_series {
	char *key; /* name{labels as written} */
	char *family;
	int monotonic; /* a counter, or a histogram/summary _bucket, _sum, _count */
	double value;
};

struct expo {
	struct expo_series *s;
	size_t n;
	int sorted;    /* by key, once parsed */
	char err[512]; /* the first problem, "" if none */
};

/* Parses text (len bytes); 0 if it is valid, -1 with e->err set otherwise. e is filled
 * either way (free it with expo_free). */
int expo_parse(const char *text, size_t len, struct expo *e);

/* The value of the series with this key (name{labels} exactly as rendered), or NAN. */
double expo_value(const struct expo *e, const char *key);

/* 0 if every monotonic series of a that is in b has b's value >= a's; -1 with err set. */
int expo_monotonic(const struct expo *a, const struct expo *b, char *err, size_t errlen);

void expo_free(struct expo *e);

#endif
