/*
 * sleeper N M: sleeps N times M ms; after each sleep prints how late it woke
 * up relative to its deadline, in microseconds.
 */
#include <denali/libos.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1;
	long m = argc > 2 ? atol(argv[2]) : 10;

	if (m < 0)
		m = 0;
	for (long i = 0; i < n; i++) {
		uint64_t deadline = dn_now_ns() + (uint64_t)m * 1000000u;
		dn_sleep_until(deadline);
		uint64_t late = dn_now_ns() - deadline;
		printf("slept %ld ms late %lu us\n", m, (unsigned long)(late / 1000u));
	}
	return 0;
}
