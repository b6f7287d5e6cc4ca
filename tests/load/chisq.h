/* chisq.h - chi-square helpers shared by the load-generator tests. */
#ifndef DENALI_TEST_CHISQ_H
#define DENALI_TEST_CHISQ_H

#include <math.h>

/* Upper critical value of chi-square with df degrees of freedom at p = 0.001
 * (Wilson-Hilferty; within ~1% for df >= 10). */
static inline double chisq_crit_001(double df)
{
	double z = 3.090232, a = 2.0 / (9.0 * df), t = 1.0 - a + z * sqrt(a);

	return df * t * t * t;
}

#endif
