/*
 * spin: burns CPU for argv[1] ms (default 100) by the vregs clock, then prints how much of
 * that time it was on the CPU by its own clock and the longest time it was off it: a jump of
 * the clock between two reads longer than GAP_NS is time another VM (or the host) had the CPU.
 * With "cpu" as argv[2] it burns argv[1] ms of its own time on the CPU instead, so that how
 * long it runs does not depend on how loaded the host is.
 */
#include <denali/libos.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GAP_NS 200000u

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 100;
	if (ms < 0)
		ms = 0;
	uint64_t start = dn_now_ns(), last = start, on_cpu = 0, longest_gap = 0;
	uint64_t end = start + (uint64_t)ms * 1000000u;
	int by_cpu = argc > 2 && !strcmp(argv[2], "cpu");
	volatile uint64_t sink = 0;

	for (;;) {
		uint64_t now = dn_now_ns();

		if (now - last < GAP_NS)
			on_cpu += now - last;
		else if (now - last > longest_gap)
			longest_gap = now - last;
		last = now;
		if (by_cpu ? on_cpu >= (uint64_t)ms * 1000000u : now >= end)
			break;
		for (int i = 0; i < 1000; i++)
			sink += (uint64_t)i;
	}
	printf("spun %ld ms, on cpu %lu ms, longest off %lu ms\n", ms,
	       (unsigned long)(on_cpu / 1000000u), (unsigned long)(longest_gap / 1000000u));
	return 0;
}
